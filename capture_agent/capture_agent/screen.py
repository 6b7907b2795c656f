"""Screen frames: the only home of ``mss``.

Each tick asks the privacy rules about the focused window first, so an excluded window is
never grabbed. A frame is sent only when a small grayscale thumbnail differs enough from
the one of the last frame SENT (not the last one grabbed: slow drift still adds up to a
new frame), so an idle screen costs one grab and a thumbnail per tick and no bytes.
"""

from __future__ import annotations

import io
from typing import Literal

import mss
from PIL import Image, ImageChops

from capture_agent.privacy import Privacy
from capture_agent.protocol import MAX_FRAME_WIDTH, WindowInfo
from capture_agent.sources import CaptureError, Emit, IsPaused, Ticker, never_paused, now
from capture_agent.window import WindowProbe

MIN_FPS, MAX_FPS = 0.2, 5.0
MAX_FRAME_HEIGHT = 4000  # protocol.FrameEvent's limit
THUMB_WIDTH = 160  # one thumbnail pixel per 8x8 screen pixels at 1280 px
PIXEL_DELTA = 16  # grey levels: below this a thumbnail pixel counts as unchanged (JPEG noise, cursor blink)
ImageFormat = Literal["jpeg", "webp"]


class ScreenSource:
    """Grabs one monitor (mss numbering: 1 is the first, 0 all of them together) at
    ``fps`` frames per second, clamped to 0.2..5. ``change_threshold`` is the fraction of
    thumbnail pixels that must change for a new frame (0.002: a line of typed text)."""

    def __init__(
        self,
        emit: Emit,
        privacy: Privacy,
        probe: WindowProbe,
        *,
        monitor: int = 1,
        fps: float = 1.0,
        max_width: int = 1280,
        image_format: ImageFormat = "jpeg",
        quality: int = 70,
        change_threshold: float = 0.002,
        is_paused: IsPaused = never_paused,
    ) -> None:
        if not 0 <= monitor <= 16:
            raise ValueError(f"monitor must be 0 (all) or 1..16, not {monitor}")
        if not 16 <= max_width <= MAX_FRAME_WIDTH:
            raise ValueError(f"max_width must be between 16 and {MAX_FRAME_WIDTH} pixels, not {max_width}")
        if image_format not in ("jpeg", "webp"):
            raise ValueError(f"image_format must be 'jpeg' or 'webp', not {image_format!r}")
        if not 1 <= quality <= 100:
            raise ValueError(f"quality must be 1..100, not {quality}")
        if not 0.0 <= change_threshold < 1.0:
            raise ValueError(f"change_threshold must be a fraction in [0, 1), not {change_threshold}")
        self._emit = emit
        self._privacy = privacy
        self._probe = probe
        self._is_paused = is_paused
        self.monitor = monitor
        self.fps = min(MAX_FPS, max(MIN_FPS, fps))
        self.max_width = max_width
        self.image_format: ImageFormat = image_format
        self.quality = quality
        self.change_threshold = change_threshold
        self._screen: mss.MSS | None = None
        self._last_sent: Image.Image | None = None
        self._last_window: WindowInfo | None = None
        self._ticker = Ticker("screen capture", 1.0 / self.fps, self.tick)

    def start(self) -> None:
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()
        if self._screen is not None:
            self._screen.close()
            self._screen = None

    @property
    def failure(self) -> CaptureError | None:
        """Why the capture thread stopped on its own, if it did."""
        return self._ticker.failure

    def tick(self) -> bool:
        """One capture step; True when it emitted a frame."""
        if self._is_paused():
            return False
        window = self._probe.focused()
        if self._privacy.excludes(window):
            self._last_window = None  # announce the next allowed window even if it is the previous one
            return False
        if window != self._last_window and (window.app or window.title):
            self._emit({"type": "window", "at": now(), "window": window.model_dump()})
        self._last_window = window
        at = now()
        image = self._grab()
        if self._probe.focused() != window:  # the focus moved during the grab, maybe to an excluded window
            return False
        thumbnail = _thumbnail(image)
        if self._last_sent is not None and changed_fraction(self._last_sent, thumbnail) < self.change_threshold:
            return False
        frame = _fit(image, self.max_width)
        self._emit({
            "type": "frame", "at": at, "monitor": self.monitor, "width": frame.width, "height": frame.height,
            "format": self.image_format, "data": _encode(frame, self.image_format, self.quality),
            "window": window.model_dump(),
        })
        self._last_sent = thumbnail
        return True

    def _grab(self) -> Image.Image:
        try:
            if self._screen is None:
                self._screen = mss.MSS()
            monitors = self._screen.monitors
            if self.monitor >= len(monitors):
                raise CaptureError(f"Monitor {self.monitor} does not exist: this screen has {len(monitors) - 1} "
                                   f"(choose 1..{len(monitors) - 1}, or 0 for all of them).")
            shot = self._screen.grab(monitors[self.monitor])
        except mss.ScreenShotError as exc:
            raise CaptureError(f"Cannot grab the screen ({exc}); is this an X11 session with DISPLAY set?") from exc
        return Image.frombytes("RGB", shot.size, shot.raw, "raw", "BGRX")  # raw: .bgra would copy 4 MB first


def _thumbnail(image: Image.Image) -> Image.Image:
    return image.reduce(max(1, image.width // THUMB_WIDTH)).convert("L")


def changed_fraction(before: Image.Image, after: Image.Image) -> float:
    """The fraction of thumbnail pixels whose grey level moved by more than PIXEL_DELTA;
    1.0 when the sizes differ (the monitor was resized)."""
    if before.size != after.size:
        return 1.0
    moved = ImageChops.difference(before, after).point([0] * (PIXEL_DELTA + 1) + [255] * (255 - PIXEL_DELTA))
    return moved.histogram()[255] / (after.width * after.height)


def _fit(image: Image.Image, max_width: int) -> Image.Image:
    """Downscale to at most max_width wide (and the protocol's height), keeping the aspect."""
    scale = min(1.0, max_width / image.width, MAX_FRAME_HEIGHT / image.height)
    if scale == 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _encode(image: Image.Image, image_format: ImageFormat, quality: int) -> bytes:
    out = io.BytesIO()
    if image_format == "webp":
        image.save(out, "WEBP", quality=quality, method=0)  # method 0: fastest; CPU matters more than bytes
    else:
        image.save(out, "JPEG", quality=quality)
    return out.getvalue()
