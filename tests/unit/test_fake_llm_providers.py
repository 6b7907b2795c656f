"""Real litellm over HTTP against the fake providers.

Proves the fakes speak each vendor's dialect, and pins how litellm 1.106.2 reports usage, errors,
Retry-After and timeouts for each, which gateway code relies on (several differ per dialect).
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # before the import, or litellm fetches it online

import http.client
import json
import threading
import time
from typing import Any

import litellm
import pytest
from litellm.exceptions import MidStreamFallbackError
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler

from tests.fakes.llm_providers import (
    Dialect,
    FakeLLMServer,
    error,
    hang,
    ok,
    refused_url,
)
from tests.llm_support import run_async

litellm.suppress_debug_info = True

DIALECTS: tuple[Dialect, ...] = ("openai", "anthropic", "gemini")
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the test"}]
DEFAULT_PROMPT_TOKENS = 7 + 3  # words in MESSAGES + 3
RICH = ok("Hello there, dear tester", prompt_tokens=50, completion_tokens=20, cached_tokens=30, reasoning_tokens=8)
AUTH_HEADER = {
    "openai": ("authorization", "Bearer test-key"),
    "anthropic": ("x-api-key", "test-key"),
    "gemini": ("x-goog-api-key", "test-key"),
}
PATHS = {
    "openai": ("/v1/chat/completions", "/v1/chat/completions"),
    "anthropic": ("/v1/messages", "/v1/messages"),
    "gemini": ("/v1beta/models/m:generateContent", "/v1beta/models/m:streamGenerateContent?alt=sse"),
}


@pytest.fixture(scope="module")
def fake() -> Any:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_script(fake: FakeLLMServer) -> None:
    fake.reset()


def call_kwargs(api_base: str, dialect: Dialect, model: str = "m", **extra: Any) -> dict[str, Any]:
    """No retries anywhere (litellm's own, and the OpenAI SDK's two default ones), so counts are exact."""
    kwargs = {"model": f"{dialect}/{model}", "api_base": api_base, "api_key": "test-key", "messages": MESSAGES}
    kwargs["num_retries"] = 0
    if dialect == "openai":
        kwargs["max_retries"] = 0
    return kwargs | extra


def complete(fake: FakeLLMServer, dialect: Dialect, model: str = "m", **extra: Any) -> Any:
    return litellm.completion(**call_kwargs(fake.api_base(dialect), dialect, model, **extra))


def stream_chunks(fake: FakeLLMServer, dialect: Dialect, use_async: bool, **extra: Any) -> list[Any]:
    """All chunks of a streamed answer; errors surface here (Gemini raises only once iterated)."""
    kwargs = call_kwargs(fake.api_base(dialect), dialect, stream=True, stream_options={"include_usage": True}, **extra)
    if not use_async:
        return list(litellm.completion(**kwargs))

    async def collect() -> list[Any]:
        return [chunk async for chunk in await litellm.acompletion(**kwargs)]

    return run_async(collect())


def retry_after(exc: Exception) -> str | None:
    """Where litellm keeps the provider's Retry-After: ``exc.litellm_response_headers`` (an httpx.Headers).

    ``exc.response`` is a response litellm builds itself, without the provider's headers. A Gemini
    stream wraps the error in MidStreamFallbackError; the real one is its ``original_exception``.
    """
    if isinstance(exc, MidStreamFallbackError):
        exc = exc.original_exception
    headers = getattr(exc, "litellm_response_headers", None)
    return None if headers is None else headers.get("retry-after")


def assert_rich_usage(usage: Any) -> None:
    """litellm normalises all three vendors to OpenAI's meaning: prompt includes cached, completion reasoning."""
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (50, 20, 70)
    assert usage.prompt_tokens_details.cached_tokens == 30
    assert usage.completion_tokens_details.reasoning_tokens == 8


@pytest.mark.parametrize("dialect", DIALECTS)
def test_answer_carries_text_usage_and_is_recorded(fake: FakeLLMServer, dialect: Dialect) -> None:
    fake.script("m", RICH)
    response = complete(fake, dialect)
    assert response.choices[0].message.content == "Hello there, dear tester"
    assert_rich_usage(response.usage)
    if dialect == "anthropic":
        assert response.usage.cache_read_input_tokens == 30  # litellm also keeps Anthropic's own field
    [request] = fake.requests
    assert (request.dialect, request.model, request.path, request.streamed) == (dialect, "m", PATHS[dialect][0], False)
    header, value = AUTH_HEADER[dialect]
    assert request.headers[header] == value


@pytest.mark.parametrize("dialect", DIALECTS)
def test_default_answer_is_deterministic(fake: FakeLLMServer, dialect: Dialect) -> None:
    response = complete(fake, dialect)
    usage = response.usage
    assert response.choices[0].message.content == "Answer from m"
    assert (usage.prompt_tokens, usage.completion_tokens) == (DEFAULT_PROMPT_TOKENS, 3)
    # Gemini omits zero counts, and litellm then reports None rather than 0: treat None as 0.
    zero = None if dialect == "gemini" else 0
    assert usage.prompt_tokens_details.cached_tokens == zero
    assert usage.completion_tokens_details.reasoning_tokens == zero


@pytest.mark.parametrize("dialect", DIALECTS)
def test_async_answer(fake: FakeLLMServer, dialect: Dialect) -> None:
    fake.script("m", RICH)
    response = run_async(litellm.acompletion(**call_kwargs(fake.api_base(dialect), dialect)))
    assert response.choices[0].message.content == "Hello there, dear tester"
    assert_rich_usage(response.usage)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("dialect", DIALECTS)
def test_stream_joins_to_text_and_ends_with_usage(fake: FakeLLMServer, dialect: Dialect, use_async: bool) -> None:
    fake.script("m", RICH)
    chunks = stream_chunks(fake, dialect, use_async)
    pieces = [chunk.choices[0].delta.content for chunk in chunks if chunk.choices and chunk.choices[0].delta.content]
    assert len(pieces) > 1
    assert "".join(pieces) == "Hello there, dear tester"
    assert_rich_usage(chunks[-1].usage)
    assert_rich_usage(litellm.stream_chunk_builder(chunks, messages=MESSAGES).usage)
    [request] = fake.requests
    assert (request.path, request.streamed) == (PATHS[dialect][1], True)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_rate_limit_with_and_without_retry_after(fake: FakeLLMServer, dialect: Dialect) -> None:
    fake.script("m", error(429, retry_after=7), error(429))
    with pytest.raises(litellm.RateLimitError) as with_header:
        complete(fake, dialect)
    assert retry_after(with_header.value) == "7"
    assert "retry-after" not in with_header.value.response.headers
    with pytest.raises(litellm.RateLimitError) as without_header:
        complete(fake, dialect)
    assert retry_after(without_header.value) is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_server_error_and_bad_key(fake: FakeLLMServer, dialect: Dialect) -> None:
    fake.script("m", error(500), error(401))
    with pytest.raises(litellm.InternalServerError) as server_error:
        complete(fake, dialect)
    assert server_error.value.status_code == 500
    with pytest.raises(litellm.AuthenticationError):
        complete(fake, dialect)


def test_openai_401_is_classified_by_its_wording(fake: FakeLLMServer) -> None:
    """litellm maps an OpenAI 401 to AuthenticationError only if it reads like OpenAI's own."""
    fake.script("m", error(401, message="token expired"))
    with pytest.raises(litellm.BadRequestError) as raised:
        complete(fake, "openai")
    assert raised.value.status_code == 401


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("openai", litellm.RateLimitError),
        ("anthropic", litellm.RateLimitError),
        ("gemini", MidStreamFallbackError),  # a ServiceUnavailableError, not a RateLimitError
    ],
)
def test_stream_errors(fake: FakeLLMServer, dialect: Dialect, expected: type[Exception]) -> None:
    fake.script("m", error(429, retry_after=3), error(401))
    with pytest.raises(expected) as raised:
        stream_chunks(fake, dialect, use_async=False)
    assert raised.value.status_code == 429
    assert retry_after(raised.value) == "3"
    if dialect == "gemini":
        assert isinstance(raised.value.original_exception, litellm.RateLimitError)
    with pytest.raises(litellm.AuthenticationError):
        stream_chunks(fake, dialect, use_async=True)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hang_trips_timeout(fake: FakeLLMServer, dialect: Dialect) -> None:
    fake.script("m", hang(5))
    started = time.monotonic()
    with pytest.raises(litellm.Timeout):
        complete(fake, dialect, timeout=0.5)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
def test_hang_trips_timeout_on_stream(fake: FakeLLMServer, dialect: Dialect, use_async: bool) -> None:
    fake.script("m", hang(5))
    started = time.monotonic()
    with pytest.raises(litellm.Timeout):
        stream_chunks(fake, dialect, use_async, timeout=0.5)
    assert time.monotonic() - started < 2


def test_gemini_stream_ignores_timeout_unless_given_a_client(fake: FakeLLMServer) -> None:
    """litellm's Gemini streaming drops ``timeout=`` (its default is 600 s); a client with a timeout works."""
    fake.script("m", hang(1.0))
    started = time.monotonic()
    chunks = stream_chunks(fake, "gemini", use_async=True, timeout=0.3)
    assert time.monotonic() - started >= 1.0
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Answer from m"

    async def with_client() -> None:
        client = AsyncHTTPHandler(timeout=0.3)
        try:
            kwargs = call_kwargs(fake.api_base("gemini"), "gemini", stream=True, client=client)
            async for _ in await litellm.acompletion(**kwargs):
                pass
        finally:
            await client.close()

    fake.script("m", hang(5))
    started = time.monotonic()
    with pytest.raises(litellm.Timeout):
        run_async(with_client())
    assert time.monotonic() - started < 2


def test_hang_then_answers(fake: FakeLLMServer) -> None:
    fake.script("m", hang(0.2, then=ok("late")))
    started = time.monotonic()
    assert complete(fake, "anthropic", timeout=5).choices[0].message.content == "late"
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("openai", litellm.InternalServerError),  # "Connection error."
        ("anthropic", litellm.InternalServerError),
        ("gemini", litellm.APIConnectionError),
    ],
)
def test_refused_connection(dialect: Dialect, expected: type[Exception]) -> None:
    with pytest.raises(expected):
        litellm.completion(**call_kwargs(refused_url(), dialect))


@pytest.mark.parametrize("dialect", DIALECTS)
def test_script_queue_default_counting_and_reset(fake: FakeLLMServer, dialect: Dialect) -> None:
    fake.script("a", error(500), ok("second"))
    fake.default("a", error(429))
    with pytest.raises(litellm.InternalServerError):
        complete(fake, dialect, "a")
    assert complete(fake, dialect, "a").choices[0].message.content == "second"
    for _ in range(2):
        with pytest.raises(litellm.RateLimitError):
            complete(fake, dialect, "a")
    assert complete(fake, dialect, "b").choices[0].message.content == "Answer from b"
    assert (fake.count("a"), fake.count("b"), fake.count()) == (4, 1, 5)
    times = [r.at for r in fake.requests]
    assert times == sorted(times)
    fake.reset()
    assert fake.count() == 0
    assert complete(fake, dialect, "a").choices[0].message.content == "Answer from a"


@pytest.mark.parametrize(
    ("dialect", "model"), [("openai", "gpt-4o"), ("gemini", "gemini-2.5-pro"), ("anthropic", "claude-sonnet-4-5")]
)
def test_cost_charges_cached_tokens_at_cache_read_price(fake: FakeLLMServer, dialect: Dialect, model: str) -> None:
    """Reasoning tokens have no price of their own: they are inside completion_tokens at the output price."""
    fake.script(model, RICH)
    response = complete(fake, dialect, model)
    price = litellm.model_cost[model if dialect != "gemini" else f"gemini/{model}"]
    expected = (
        (50 - 30) * price["input_cost_per_token"]
        + 30 * price["cache_read_input_token_cost"]
        + 20 * price["output_cost_per_token"]
    )
    assert litellm.completion_cost(completion_response=response) == pytest.approx(expected)


def test_keep_alive_serves_many_requests_on_one_connection(fake: FakeLLMServer) -> None:
    host, port = fake.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    started = time.monotonic()
    first_socket = None
    for i in range(200):
        body = {"model": "m", "messages": MESSAGES, "stream": i % 2 == 0}
        conn.request("POST", "/v1/chat/completions", json.dumps(body), {"Content-Type": "application/json"})
        response = conn.getresponse()
        assert response.status == 200
        response.read()
        first_socket = first_socket or conn.sock
        assert conn.sock is first_socket
    conn.request("POST", "/nowhere", "{}")
    assert conn.getresponse().status == 404
    conn.close()
    assert time.monotonic() - started < 2
    assert fake.count() == 200


def test_hang_blocks_nothing_and_stop_is_prompt() -> None:
    server = FakeLLMServer().start()
    server.script("slow", hang(30))
    outcome: list[BaseException] = []

    def slow_call() -> None:
        try:
            complete(server, "openai", "slow", timeout=30)
        except Exception as exc:  # the fake's stop() cuts the connection
            outcome.append(exc)

    waiter = threading.Thread(target=slow_call)
    waiter.start()
    deadline = time.monotonic() + 5
    while server.count("slow") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert complete(server, "openai", "quick").choices[0].message.content == "Answer from quick"
    started = time.monotonic()
    server.stop()
    waiter.join(timeout=5)
    assert time.monotonic() - started < 2
    assert not waiter.is_alive()
    assert outcome
