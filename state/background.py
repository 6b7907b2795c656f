"""How a background event handler ends, whatever happens inside it: an error a user can act on
is shown in its words, a bug is logged in full and shown by its kind, and the busy flag always
drops, so no spinner runs forever."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import reflex as rx

log = logging.getLogger(__name__)


@asynccontextmanager
async def reported(state: rx.State, *, busy: str, error: str, what: str,
                   user_errors: tuple[type[Exception], ...], prefix: str = "") -> AsyncIterator[None]:
    """Wraps the handler's work; `busy` and `error` name the state's flag and message vars,
    `what` names the work for the bug message ("Drafting" -> "Drafting failed (KeyError).")."""
    try:
        yield
    except user_errors as exc:
        async with state:
            setattr(state, error, f"{prefix}{exc}")
    except Exception as exc:
        log.exception("%s failed", what)
        async with state:
            setattr(state, error, f"{what} failed ({type(exc).__name__}).")
    finally:
        async with state:
            setattr(state, busy, False)
