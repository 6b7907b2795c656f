"""Streamed text into state: batched, so the browser gets one update per batch, not per token."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

FLUSH_SECONDS = 0.1


async def batched(stream: AsyncIterator[Any], seconds: float = FLUSH_SECONDS) -> AsyncIterator[tuple[str, Any]]:
    """(text, None) every `seconds` while text pieces stream in, then (rest of the text, final item):
    one state write per batch instead of one per token."""
    pending: list[str] = []
    flushed = time.monotonic()
    async for item in stream:
        if isinstance(item, str):
            pending.append(item)
            if time.monotonic() - flushed >= seconds:
                yield "".join(pending), None
                pending.clear()
                flushed = time.monotonic()
            continue
        yield "".join(pending), item
        pending.clear()
    if pending:
        yield "".join(pending), None
