"""Speech-to-text prices. Providers bill transcription by the second of audio, not by the
token, so a call is priced from the audio's length before it is made."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from services.llm.costs import Prices, usd_to_nanos
from services.llm.types import TranscriptionRequest

SECONDS_PER_MINUTE = Decimal(60)
# OpenAI's audio models bill about 1,000 input tokens per minute of speech ($6 per 1M audio
# tokens is their $0.006 a minute): how an unpriced model is charged the per-token fallback.
FALLBACK_TOKENS_PER_MINUTE = Decimal(1000)


@dataclass(frozen=True)
class AudioPrice:
    usd_per_second: Decimal
    source: str  # "admin", "cost map", "self-hosted" or "fallback"
    unpriced: bool = False

    def charge(self, seconds: float) -> int:
        """Whole seconds, rounded up as providers round them: a call is never undercharged."""
        return usd_to_nanos(math.ceil(seconds) * self.usd_per_second)


def audio_price(*, admin_per_minute: Decimal | None, map_per_second: float | None, self_hosted: bool,
                fallback: Prices) -> AudioPrice:
    """The admin's price, then litellm's cost map, then free for a self-hosted endpoint, else
    the fallback input price, so a hosted model is never free. A 0 in the map counts as no
    price (the map has such gaps), as for chat models."""
    if admin_per_minute is not None:
        return AudioPrice(admin_per_minute / SECONDS_PER_MINUTE, "admin")
    if map_per_second:
        return AudioPrice(Decimal(str(map_per_second)), "cost map")
    if self_hosted:
        return AudioPrice(Decimal(0), "self-hosted")
    return AudioPrice(fallback.input * FALLBACK_TOKENS_PER_MINUTE / SECONDS_PER_MINUTE, "fallback", unpriced=True)


def describe(request: TranscriptionRequest) -> str:
    """What the call log keeps as the prompt: the audio itself is not stored there."""
    language = f", language {request.language}" if request.language else ""
    return f"{request.seconds:.1f} s of audio (a {len(request.audio) / 1000:.0f} kB WAV{language})"
