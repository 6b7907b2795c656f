"""Microphone chunks: the only home of ``sounddevice``.

16 kHz mono signed 16-bit blocks of 200 ms; a block whose RMS is under the silence
threshold is dropped, so a quiet room sends nothing. Window exclusions do not apply here:
the microphone hears the room whatever window is focused, so audio events carry no
window (which also keeps X queries out of the real-time callback). Pause does apply.

``sounddevice`` is imported only when the stream starts: importing it without the
PortAudio library raises OSError, and the callback must work without it (tests).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from capture_agent.protocol import AUDIO_RATE
from capture_agent.sources import CaptureError, Emit, IsPaused, never_paused, now

log = logging.getLogger(__name__)

BLOCK_SAMPLES = AUDIO_RATE // 5  # 200 ms
NO_MICROPHONE = "no microphone found; audio capture is off"


class AudioSource:
    """``silence_rms`` is in int16 units (full scale 32767): 200 is about -44 dBFS, above
    a quiet room's hiss and well below speech. ``device`` is a sounddevice device name
    or index; None means the system default input."""

    def __init__(
        self,
        emit: Emit,
        *,
        silence_rms: float = 200.0,
        device: str | int | None = None,
        is_paused: IsPaused = never_paused,
    ) -> None:
        if silence_rms < 0:
            raise ValueError(f"silence_rms must be 0 or more, not {silence_rms}")
        self._emit = emit
        self.silence_rms = silence_rms
        self.device = device
        self._is_paused = is_paused
        self._stream: Any = None
        self.overflows = 0

    def on_block(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        """sounddevice's InputStream callback: ``indata`` is (frames, channels) int16."""
        if status:
            self.overflows += 1  # input overflow: PortAudio lost samples while we were slow
        if frames == 0 or self._is_paused():
            return
        samples = np.ascontiguousarray(indata[:frames, 0], dtype="<i2")
        if rms(samples) < self.silence_rms:
            return
        self._emit({"type": "audio", "at": now(), "rate": AUDIO_RATE, "data": samples.tobytes()})

    def start(self) -> None:
        """Open the microphone; CaptureError(NO_MICROPHONE ...) when there is none."""
        if self._stream is not None:
            return
        try:
            import sounddevice
        except OSError as exc:  # the PortAudio library itself is missing
            raise CaptureError(f"{NO_MICROPHONE} (PortAudio is not installed: {exc})") from exc
        settings = {"device": self.device, "channels": 1, "dtype": "int16", "samplerate": AUDIO_RATE}
        try:
            sounddevice.check_input_settings(**settings)
            stream = sounddevice.InputStream(blocksize=BLOCK_SAMPLES, callback=self.on_block, **settings)
        except (ValueError, sounddevice.PortAudioError) as exc:
            raise CaptureError(f"{NO_MICROPHONE} ({exc})") from exc
        try:
            stream.start()
        except sounddevice.PortAudioError as exc:  # the device exists but is busy or was unplugged
            stream.close()
            raise CaptureError(f"{NO_MICROPHONE} ({exc})") from exc
        self._stream = stream

    def stop(self) -> None:
        if self._stream is None:
            return
        stream, self._stream = self._stream, None
        stream.stop()
        stream.close()
        if self.overflows:
            log.warning("Audio input overflowed %d times: some sound was lost.", self.overflows)


def rms(samples: np.ndarray) -> float:
    """Root mean square in int16 units; float64 so loud blocks cannot overflow."""
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
