"""Microphone chunks: the callback driven with numpy blocks, and PortAudio for real
through an ALSA file-plugin "microphone" when the library is installed."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from capture_agent import protocol
from capture_agent.audio import BLOCK_SAMPLES, NO_MICROPHONE, AudioSource, rms
from capture_agent.sources import CaptureError


def sine(amplitude: float = 8000, frequency: float = 440, samples: int = BLOCK_SAMPLES) -> np.ndarray:
    t = np.arange(samples) / protocol.AUDIO_RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.int16).reshape(-1, 1)


def feed(source: AudioSource, block: np.ndarray, status: object = None) -> None:
    source.on_block(block, len(block), None, status)


def test_speech_level_sound_becomes_one_200_ms_pcm16_chunk():
    chunks: list[dict] = []
    block = sine()
    feed(AudioSource(chunks.append), block)
    (chunk,) = chunks
    assert len(chunk["data"]) == 6400
    assert np.array_equal(np.frombuffer(chunk["data"], dtype="<i2"), block[:, 0])
    assert protocol.AudioEvent(seq=1, **chunk).duration_ms == 200


@pytest.mark.parametrize("block", [
    np.zeros((BLOCK_SAMPLES, 1), dtype=np.int16),
    np.random.default_rng(7).normal(0, 40, (BLOCK_SAMPLES, 1)).astype(np.int16),  # room hiss
    sine(amplitude=150),
    np.zeros((0, 1), dtype=np.int16),
])
def test_silence_and_low_noise_send_nothing(block):
    chunks: list[dict] = []
    feed(AudioSource(chunks.append), block)
    assert chunks == []


def test_the_silence_threshold_is_configurable():
    chunks: list[dict] = []
    quiet = sine(amplitude=150)
    feed(AudioSource(chunks.append, silence_rms=50), quiet)
    feed(AudioSource(chunks.append, silence_rms=10_000), sine(amplitude=8000))
    assert len(chunks) == 1
    with pytest.raises(ValueError):
        AudioSource(chunks.append, silence_rms=-1)


def test_nothing_is_sent_while_paused_and_overflows_are_counted():
    chunks: list[dict] = []
    paused = [True]
    source = AudioSource(chunks.append, is_paused=lambda: paused[0])
    feed(source, sine())
    assert chunks == []
    paused[0] = False
    feed(source, sine(), status="input overflow")
    assert len(chunks) == 1 and source.overflows == 1


def test_rms_of_a_full_scale_block_does_not_overflow():
    assert rms(np.full(BLOCK_SAMPLES, -32768, dtype=np.int16)) == 32768.0
    assert rms(np.zeros(0, dtype=np.int16)) == 0.0


def test_no_input_device_is_a_clear_error_not_a_crash():
    source = AudioSource(lambda chunk: None, device="no-such-microphone")
    with pytest.raises(CaptureError) as caught:
        source.start()
    assert str(caught.value).startswith(NO_MICROPHONE)
    source.stop()  # stopping what never started is harmless


@pytest.mark.skipif(ctypes.util.find_library("portaudio") is None,
                    reason="PortAudio is not installed (apt-get install libportaudio2); the direct callback tests cover "
                           "the rest")
def test_a_real_portaudio_stream_delivers_chunks_and_stops(tmp_path):
    """ALSA's file plugin reads a raw sine file as if it were a microphone; ALSA reads
    ~/.asoundrc at start-up, hence a fresh interpreter with its own HOME."""
    (tmp_path / "sine.raw").write_bytes(np.tile(sine()[:, 0], 10).astype("<i2").tobytes())
    (tmp_path / ".asoundrc").write_text(textwrap.dedent(f"""\
        pcm.synthmic {{
            type file
            slave.pcm "null"
            file "/dev/null"
            infile "{tmp_path / 'sine.raw'}"
            format "raw"
        }}
        pcm.!default {{
            type plug
            slave {{ pcm "synthmic" format S16_LE rate 16000 channels 1 }}
        }}
        """))
    script = textwrap.dedent("""\
        import time
        from capture_agent.audio import AudioSource
        chunks = []
        source = AudioSource(chunks.append)
        source.start()
        deadline = time.monotonic() + 10
        while not chunks and time.monotonic() < deadline:
            time.sleep(0.01)
        source.stop()
        print(len(chunks[0]["data"]) if chunks else 0)
        """)
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "6400", result.stderr
