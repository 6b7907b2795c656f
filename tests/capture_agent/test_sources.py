"""The thread that drives the screen and key sources."""

from __future__ import annotations

import logging

from capture_agent.sources import CaptureError, Ticker
from tests.capture_agent.conftest import wait_for


def test_a_ticker_retries_after_an_error_and_logs_a_run_of_failures_once(caplog):
    outcomes = [ValueError("flaky"), ValueError("flaky"), None, ValueError("again"), None]
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        if len(calls) <= len(outcomes) and outcomes[len(calls) - 1] is not None:
            raise outcomes[len(calls) - 1]

    ticker = Ticker("test ticker", 0.01, step)
    with caplog.at_level(logging.ERROR, logger="capture_agent.sources"):
        ticker.start()
        wait_for(lambda: len(calls) > len(outcomes))
        ticker.stop()
    assert [r.getMessage() for r in caplog.records] == ["test ticker: a capture step failed; retrying every tick"] * 2
    assert ticker.failure is None


def test_a_capture_error_stops_the_ticker_and_is_kept(caplog):
    calls: list[int] = []

    def step() -> None:
        calls.append(1)
        raise CaptureError("Monitor 3 does not exist")

    ticker = Ticker("screen capture", 0.01, step)
    ticker.start()
    failure = wait_for(lambda: ticker.failure)
    ticker.stop()
    assert str(failure) == "Monitor 3 does not exist" and calls == [1]
    assert "screen capture stopped: Monitor 3 does not exist" in caplog.text
    ticker.start()  # a new start clears the old failure and tries again
    wait_for(lambda: len(calls) == 2)
    ticker.stop()
