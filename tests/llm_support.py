"""Helpers for tests that drive the LLM gateway against tests/fakes/llm_providers.py."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from services.llm import providers
from services.llm.types import LLMRequest


def add_provider(fake, name: str, dialect: str, model: str, **options) -> providers.Deployment:
    """A deployment pointing at the fake; `model` is the name the fake sees."""
    options.setdefault("api_key", f"test-key-{name}-000")
    return providers.add(name=name, model=f"{dialect}/{model}", api_base=fake.api_base(dialect), **options)


def ask(text: str = "Say hello", *, feature: str = "test", **fields) -> LLMRequest:
    """A request through the general/complete template."""
    return LLMRequest(feature=feature, template="general/complete", variables={"text": text}, **fields)


def run_async(coro: Coroutine[Any, Any, Any]) -> Any:
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running
    in the main thread for the rest of the session once a browser test has run."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


FENCE = "```"
# A clean, typed, documented answer for the assistant and learning tests (quality 100).
DOWNLOADER_CODE = '''"""Download a document with a bounded number of retries."""

import time
import urllib.request


def download(url: str = "https://a.example/x", retries: int = 3) -> bytes:
    """Fetch `url`, trying up to `retries` times with a growing pause between attempts."""
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        except OSError:
            if attempt == retries:
                raise
            time.sleep(attempt)
    raise RuntimeError("retries must be at least 1")'''
DOWNLOADER_ANSWER = (f"Here is a small, dependency-free downloader.\n\n{FENCE}python\n{DOWNLOADER_CODE}\n{FENCE}\n\n"
                     "Call `download()` to fetch https://a.example/x; it gives up after 3 attempts.\n")
DOWNLOAD_TASK = "Write a Python function that downloads https://a.example/x with 3 retries"
DOWNLOAD_PARAPHRASE = "Create a python function which downloads https://b.example/y, retrying 5 times"
