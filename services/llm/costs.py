"""Exact pricing: tokens x USD-per-token in Decimal, rounded up to whole nano-dollars.

Floats would misprice sums of thousands of tiny calls; Decimal keeps every price the admin
typed (or litellm's map holds) exact, and rounding up means a call is never undercharged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

NANOS_PER_USD = 1_000_000_000
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True)
class Usage:
    """Token counts as billed. `output_tokens` includes `reasoning_tokens`;
    `input_tokens` includes `cached_tokens`."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Prices:
    """USD per token. A model may charge more above a prompt-size threshold (long context)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    reasoning: Decimal | None = None
    unpriced: bool = False
    source: str = ""  # "admin", "cost map" or "fallback"
    long_context_threshold: int = 0
    long_context: Prices | None = None

    @classmethod
    def per_million(cls, input_usd: str | Decimal, output_usd: str | Decimal, cached_usd: str | Decimal | None = None,
                    *, source: str = "admin", unpriced: bool = False) -> Prices:
        cached = Decimal(cached_usd) / _MILLION if cached_usd not in (None, "") else None
        return cls(Decimal(input_usd) / _MILLION, Decimal(output_usd) / _MILLION, cached,
                   source=source, unpriced=unpriced)

    def for_prompt(self, prompt_tokens: int) -> Prices:
        if self.long_context is not None and prompt_tokens > self.long_context_threshold > 0:
            return self.long_context
        return self

    @property
    def highest_output(self) -> Decimal:
        return max(self.output, self.reasoning or self.output)


def _ceil_nanos(usd: Decimal) -> int:
    return int((usd * NANOS_PER_USD).to_integral_value(rounding=ROUND_CEILING))


def cost_nanos(usage: Usage, prices: Prices) -> int:
    p = prices.for_prompt(usage.input_tokens)
    cached = min(usage.cached_tokens, usage.input_tokens)
    reasoning = min(usage.reasoning_tokens, usage.output_tokens)
    usd = (
        (usage.input_tokens - cached) * p.input
        + cached * (p.cached_input if p.cached_input is not None else p.input)
        + (usage.output_tokens - reasoning) * p.output
        + reasoning * (p.reasoning if p.reasoning is not None else p.output)
    )
    return _ceil_nanos(usd)


def worst_case_nanos(prompt_tokens: int, max_tokens: int, prices: Prices) -> int:
    """What a call can cost at most: no cache discount, every output token at the top price."""
    p = prices.for_prompt(prompt_tokens)
    return _ceil_nanos(prompt_tokens * p.input + max_tokens * p.highest_output)


def usd_to_nanos(usd: str | Decimal) -> int:
    return _ceil_nanos(Decimal(usd))


def format_usd(nanos: int) -> str:
    """$12.34 for sums, $0.000123 for single cheap calls: never shows a real cost as $0.00."""
    usd = Decimal(nanos) / NANOS_PER_USD
    if nanos % 10_000_000 == 0 or abs(usd) >= 1:  # whole cents, or dollars: $0.75, $12.34
        return f"${usd:,.2f}"
    digits = max(2, -math.floor(math.log10(abs(usd))) + 2)
    return f"${usd:.{min(digits, 9)}f}"
