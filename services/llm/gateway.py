"""The one door to every language model: the only module that imports litellm.

A request walks the provider chain. Each provider gets up to N attempts with
exponential backoff (longer when the provider says Retry-After), but only for failures
that a retry can fix; an auth or bad-request error moves on at once. Before each attempt
the worst-case cost is reserved in the database; after it the real cost is settled in the
same transaction that writes the call log.

All provider I/O runs on one private event loop in a daemon thread: litellm's async
clients stay bound to one loop, sync callers (CLI, RQ jobs) and async callers (Reflex
handlers) share connection pools, and a caller's own loop is never blocked. The short
database steps run on that loop directly: handing them to threads cost more (GIL
hand-offs with litellm's own threads) than the steps themselves. Budget atomicity does
not depend on it; it is enforced by the database across threads and processes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the map at import
import litellm  # noqa: E402
from litellm.constants import OPENAI_AUDIO_TRANSCRIPTION_PROVIDERS  # noqa: E402

from services.db import connection_scope  # noqa: E402
from services.db.models.base import new_id, utcnow  # noqa: E402
from services.llm import (  # noqa: E402
    budget,
    cache,
    calls,
    config,
    learned,
    maintenance,
    prompts,
    providers,
    reports,
    speech,
)
from services.llm.costs import Prices, Usage, cost_nanos, format_usd, worst_case_nanos  # noqa: E402
from services.llm.messages import build_messages, split_prompts  # noqa: E402
from services.llm.plugins import LLMPlugin, PluginContext, apply_prompt, apply_response, load_plugins  # noqa: E402
from services.llm.types import (  # noqa: E402
    AllProvidersFailed,
    Attempt,
    BudgetExceeded,
    CallStatus,
    LLMError,
    LLMRequest,
    LLMResult,
    LLMUnavailable,
    TranscriptionRequest,
    TranscriptionResult,
)

litellm.suppress_debug_info = True
litellm.drop_params = True  # a parameter one model lacks must not fail the whole chain
# litellm's loggers carry their own handler that prints records below WARNING to stdout, where
# the CLI writes machine-readable output and the app would repeat every call; warnings remain.
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(_name).setLevel(logging.WARNING)
log = logging.getLogger(__name__)

RETRYABLE = frozenset({"rate_limit", "timeout", "network", "server"})
# Sent to a self-hosted endpoint that needs no key: OpenAI's client refuses to call without one.
NO_KEY = "no-key"


# ---------------------------------------------------------------- the private event loop

class _LoopThread:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked RQ work horse inherits the object but not the thread.
            if self._loop is None or self._pid != os.getpid() or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                threading.Thread(target=run, name="llm-gateway", daemon=True).start()
                ready.wait()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future:
        return asyncio.run_coroutine_threadsafe(coro, self.loop())


_runner = _LoopThread()


def on_gateway_loop(coro: Coroutine[Any, Any, Any]) -> Future:
    """Runs a coroutine on the gateway's loop, where all provider I/O happens."""
    return _runner.submit(coro)


def complete(request: LLMRequest) -> LLMResult:
    """Blocking call for the CLI and background jobs."""
    return on_gateway_loop(_run(request)).result()


async def acomplete(request: LLMRequest) -> LLMResult:
    """For async callers (Reflex handlers): awaits without blocking the caller's loop."""
    return await asyncio.wrap_future(on_gateway_loop(_run(request)))


_DONE = object()


async def astream(request: LLMRequest) -> AsyncIterator[str | LLMResult]:
    """Yields text pieces as the provider produces them, then the final LLMResult.
    Retries happen only before the first piece; a cache hit arrives as one piece."""
    caller = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def emit(item: object) -> None:
        caller.call_soon_threadsafe(queue.put_nowait, item)

    future = on_gateway_loop(_run(request, on_token=emit))
    future.add_done_callback(lambda _f: emit(_DONE))
    try:
        while (item := await queue.get()) is not _DONE:
            yield item  # type: ignore[misc]
        yield future.result()
    finally:
        if not future.done():
            future.cancel()


# ---------------------------------------------------------------- pricing and tokens

_LONG_CONTEXT_RE = re.compile(r"^input_cost_per_token_above_(\d+)k_tokens$")


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _map_entry(model: str) -> dict[str, Any]:
    """The model's entry in litellm's bundled cost map, with or without its vendor prefix."""
    return litellm.model_cost.get(model) or litellm.model_cost.get(model.split("/", 1)[-1]) or {}


@lru_cache(maxsize=256)
def map_prices(model: str) -> Prices | None:
    """Prices from litellm's bundled cost map, or None when the model is not priced there.
    A 0/0 entry of a hosted model is treated as unpriced: litellm has such gaps."""
    info = _map_entry(model)
    if not info or info.get("input_cost_per_token") is None or info.get("output_cost_per_token") is None:
        return None
    local = model.startswith(providers.LOCAL_PREFIXES)
    if not local and not info["input_cost_per_token"] and not info["output_cost_per_token"]:
        return None

    def tier(suffix: str) -> Prices:
        return Prices(
            input=_dec(info[f"input_cost_per_token{suffix}"]) or Decimal(0),
            output=_dec(info.get(f"output_cost_per_token{suffix}", info["output_cost_per_token"])) or Decimal(0),
            cached_input=_dec(info.get(f"cache_read_input_token_cost{suffix}",
                                       info.get("cache_read_input_token_cost"))),
            reasoning=_dec(info.get("output_cost_per_reasoning_token")),
            source="cost map",
        )

    base = tier("")
    for key in info:
        if match := _LONG_CONTEXT_RE.match(key):
            return replace(base, long_context_threshold=int(match.group(1)) * 1000,
                           long_context=tier(f"_above_{match.group(1)}k_tokens"))
    return base


def prices_for(deployment: providers.Deployment, cfg: config.GatewayConfig) -> Prices:
    """Admin prices win, then the cost map; local models are free; anything else is
    unpriced and charged the admin's fallback price."""
    if deployment.has_admin_prices:
        return Prices.per_million(deployment.input_price, deployment.output_price,
                                  deployment.cached_input_price or None, source="admin")
    priced = map_prices(deployment.model)
    if priced is not None:
        return priced
    if deployment.is_local:
        return Prices(Decimal(0), Decimal(0), source="local")
    return cfg.fallback_prices


def estimate_prompt_tokens(messages: list[dict]) -> int:
    """An upper bound for the reservation, so that no call can cost more than it reserved.
    Tokenizers differ by vendor, but none makes more tokens than the text has UTF-8 bytes;
    a few tokens per message cover the chat framing. (Counting with tiktoken would cost more
    time than the whole rest of the gateway and still not bound other vendors' counts.)"""
    text_bytes = sum(len(json.dumps(m.get("content", ""), ensure_ascii=False).encode()) for m in messages)
    return text_bytes + 8 * len(messages)


# ---------------------------------------------------------------- provider calls

def _unwrap(exc: BaseException) -> BaseException:
    """litellm wraps some stream failures (MidStreamFallbackError) around the real one."""
    return getattr(exc, "original_exception", None) or exc


_BY_STATUS = {401: "auth", 403: "auth", 408: "timeout", 429: "rate_limit", 400: "invalid", 404: "invalid",
              413: "invalid", 422: "invalid"}


def _classify(exc: BaseException) -> str:
    """By HTTP status first: litellm's classes depend on message wording (an OpenAI-style
    401 without OpenAI's exact text arrives as BadRequestError)."""
    exc = _unwrap(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, (litellm.Timeout, asyncio.TimeoutError)):
        return "timeout"
    if isinstance(exc, litellm.APIConnectionError) or "connection error" in str(exc).lower():
        return "network"
    if isinstance(status, int):
        if status in _BY_STATUS:
            return _BY_STATUS[status]
        if status >= 500:
            return "server"
    if isinstance(exc, litellm.RateLimitError):
        return "rate_limit"
    if isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        return "auth"
    if isinstance(exc, (litellm.BadRequestError, litellm.NotFoundError, litellm.UnprocessableEntityError)):
        return "invalid"
    if isinstance(exc, (litellm.InternalServerError, litellm.ServiceUnavailableError, litellm.BadGatewayError)):
        return "server"
    return "other"


def retry_after(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait: litellm keeps the provider's headers in
    `litellm_response_headers` (its own `response` object is synthetic)."""
    headers = getattr(_unwrap(exc), "litellm_response_headers", None)
    value = headers.get("retry-after") if headers else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def backoff_delay(attempt: int, cfg: config.GatewayConfig, asked: float | None) -> float:
    """base x 2^(attempt-1) with +-20% jitter; a longer Retry-After wins; capped."""
    delay = cfg.backoff_base * (2 ** (attempt - 1)) * random.uniform(0.8, 1.2)
    if asked is not None:
        delay = max(delay, asked)
    return min(delay, cfg.max_backoff)


def _usage(raw: Any) -> Usage:
    if raw is None:
        return Usage()
    prompt_details = getattr(raw, "prompt_tokens_details", None)
    completion_details = getattr(raw, "completion_tokens_details", None)
    cached = (getattr(prompt_details, "cached_tokens", None) or getattr(raw, "cache_read_input_tokens", None) or 0)
    reasoning = getattr(completion_details, "reasoning_tokens", None) or 0
    return Usage(int(raw.prompt_tokens or 0), int(raw.completion_tokens or 0), int(cached), int(reasoning))


class _StreamBroken(Exception):
    """Failed after text was already shown: retrying would repeat it."""


@dataclass(frozen=True)
class _Answer:
    """One provider call's output and its real cost."""

    text: str
    cost_nanos: int
    unpriced: bool
    usage: Usage = Usage()


def _endpoint(deployment: providers.Deployment, key: str, cfg: config.GatewayConfig) -> dict[str, Any]:
    """The litellm arguments of every call: where, as whom, how long, and no retries of its
    own (the gateway retries, and counts each attempt)."""
    kwargs: dict[str, Any] = dict(timeout=cfg.timeout, num_retries=0, max_retries=0)
    if deployment.api_base:
        kwargs["api_base"] = deployment.api_base
    if key:
        kwargs["api_key"] = key
    elif deployment.api_base:
        kwargs["api_key"] = NO_KEY
    return kwargs


async def _call_provider(deployment: providers.Deployment, key: str, messages: list[dict], request: LLMRequest,
                         cfg: config.GatewayConfig, on_token: Callable[[str], None] | None) -> tuple[str, Usage]:
    kwargs: dict[str, Any] = dict(model=deployment.model, messages=messages, max_tokens=request.max_tokens,
                                  **_endpoint(deployment, key, cfg))
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if on_token is None:
        response = await litellm.acompletion(**kwargs)
        return response.choices[0].message.content or "", _usage(getattr(response, "usage", None))
    # Each wait is bounded here: litellm ignores the timeout for some streams (Gemini).
    stream = await asyncio.wait_for(
        litellm.acompletion(**kwargs, stream=True, stream_options={"include_usage": True}), cfg.timeout)
    chunks = stream.__aiter__()
    pieces: list[str] = []
    usage = Usage()
    try:
        while True:
            try:
                chunk = await asyncio.wait_for(chunks.__anext__(), cfg.timeout)
            except StopAsyncIteration:
                break
            if chunk.choices and (piece := chunk.choices[0].delta.content):
                pieces.append(piece)
                on_token(piece)
            if getattr(chunk, "usage", None):
                usage = _usage(chunk.usage)
    except Exception as exc:
        if pieces:
            raise _StreamBroken(f"{type(exc).__name__}: {exc}") from exc
        raise
    return "".join(pieces), usage


# ---------------------------------------------------------------- the request

@dataclass
class _Prepared:
    cfg: config.GatewayConfig
    chain: list[providers.Deployment]
    keys: dict[str, str]
    messages: list[dict]
    system_text: str
    user_text: str
    plugins: list[LLMPlugin]
    context: PluginContext
    cache_keys: dict[str, str]  # by deployment name; empty when the cache is not used
    hit: cache.Hit | None = None
    template: learned.Match | None = None


def _ready_chain(only: str = "", avoid: tuple[str, ...] = (),
                 adapt: Callable[[providers.Deployment], providers.Deployment | None] = lambda d: d,
                 ) -> tuple[config.GatewayConfig, list[providers.Deployment], dict[str, str]]:
    """The settings, the deployments a request may try in order, and the keys: `only` one, or
    not those to `avoid` unless nothing else is left; each as `adapt` makes it for this kind
    of call, or left out when `adapt` says it cannot make that call."""
    cfg = config.current.get()
    deployments, keys = providers.current.get()
    usable = [adapted for d in deployments
              if providers.usable(d, keys.get(d.name, "")) and (adapted := adapt(d)) is not None]
    if only:
        usable = [d for d in usable if d.name == only]
    elif avoid:
        usable = [d for d in usable if d.name not in avoid] or usable
    now = utcnow()
    # When every provider is cooling down, trying them beats refusing outright.
    return cfg, [d for d in usable if not d.cooling_down(now)] or usable, keys


def _prepare(request: LLMRequest) -> _Prepared:
    cfg, ready, keys = _ready_chain(request.provider, request.avoid_providers)
    template_feature, _, template_task = (request.template or f"{request.feature}/{request.task}").partition("/")
    rendered = (prompts.RenderedPrompt(*request.prompts, source="default", version=0) if request.prompts is not None else
                prompts.render(template_feature, template_task, request.variables, project=request.project))
    context = PluginContext(request.feature, request.task, request.project, request.user_id)
    plugins = load_plugins(cfg.plugins, redact_kinds=cfg.redact_kinds)
    messages = build_messages(system=rendered.system, user=rendered.user, untrusted=request.untrusted,
                              history=request.history)
    messages = apply_prompt(plugins, messages, context)
    system_text, user_text = split_prompts(messages)
    cache_keys: dict[str, str] = {}
    hit = None
    if request.use_cache and cfg.cache_allowed(request.feature) and not (request.dry_run or cfg.dry_run):
        params = {"max_tokens": request.max_tokens, "temperature": request.temperature}
        cache_keys = {d.name: cache.key(d.model, messages, params) for d in ready}
        hit = cache.lookup(list(cache_keys.values()))
    template = None
    if (request.task_text and request.use_templates and cfg.templates_allowed(request.feature)
            and not (request.dry_run or cfg.dry_run)):
        template = learned.lookup(request.feature, request.context, request.task_text,
                                  threshold=cfg.template_similarity)
    return _Prepared(cfg, ready, keys, messages, system_text, user_text, plugins, context, cache_keys, hit, template)


class _Run:
    """The state of one request as it walks the chain."""

    def __init__(self, request: LLMRequest, prep: _Prepared) -> None:
        self.request, self.prep, self.cfg = request, prep, prep.cfg
        self.request_id = new_id()
        self.started = utcnow()
        self.attempts: list[Attempt] = []
        self.last_call_id = ""  # the newest log row, for feedback on a fallback answer

    def record(self, status: CallStatus, **fields: Any) -> calls.CallRecord:
        r = self.request
        return calls.CallRecord(request_id=self.request_id, status=status.value, feature=r.feature, task=r.task,
                                project=r.project, user_id=r.user_id, system_prompt=self.prep.system_text,
                                user_prompt=self.prep.user_text, task_text=r.task_text, context=r.context, **fields)

    def result(self, status: CallStatus, text: str, call_id: str, **fields: Any) -> LLMResult:
        return LLMResult(text=text, status=status, request_id=self.request_id, call_id=call_id,
                         attempts=tuple(self.attempts), **fields)

    # -- outcomes that need no provider

    def dry_run(self, model: str, would_receive: str) -> LLMResult:
        text = f"[dry run] No provider was called. {model} would receive {would_receive}."
        call_id = calls.log(self.record(CallStatus.dry_run, model=model, response=text))
        return self.result(CallStatus.dry_run, text, call_id, model=model)

    def from_cache(self, hit: cache.Hit) -> LLMResult:
        text = apply_response(self.prep.plugins, hit.response, self.prep.context)
        with connection_scope(durable=False) as conn:
            budget.record_saving(conn, budget.month_key(utcnow()), hit.cost_nanos)  # month, then cache: as `succeeded`
            cache.count_hit(conn, hit.key)
            call_id = calls.add(conn, self.record(
                CallStatus.cache, provider="cache", model=hit.model, response=text, saved_nanos=hit.cost_nanos,
                usage=Usage(hit.input_tokens, hit.output_tokens)))
        return self.result(CallStatus.cache, text, call_id, provider="cache", model=hit.model,
                           input_tokens=hit.input_tokens, output_tokens=hit.output_tokens,
                           saved_nanos=hit.cost_nanos)

    def from_template(self, match: learned.Match) -> LLMResult:
        text = apply_response(self.prep.plugins, match.text, self.prep.context)
        with connection_scope(durable=False) as conn:
            budget.record_saving(conn, budget.month_key(utcnow()), match.saved_nanos)  # month first, as `succeeded`
            learned.count_use(conn, match.template_id, match.saved_nanos)
            call_id = calls.add(conn, self.record(
                CallStatus.template, provider="template", model=match.source_model, response=text,
                saved_nanos=match.saved_nanos, template_id=match.template_id))
        notice = (f"Answered from the learned template \u201c{learned.display_name(match.name)}\u201d "
                  f"(similarity {match.score:.2f}): "
                  f"no provider was called, {format_usd(match.saved_nanos)} saved.")
        return self.result(CallStatus.template, text, call_id, provider="template", model=match.source_model,
                           saved_nanos=match.saved_nanos, template_id=match.template_id, notice=notice)

    def offline(self, message: str) -> LLMResult:
        return self.without_provider(CallStatus.offline, LLMUnavailable(message))

    def without_provider(self, status: CallStatus, error: LLMError) -> LLMResult:
        """Budget reached or offline: the feature's own fallback when it has one, else the error."""
        fallback = self.request.fallback
        text = fallback() if fallback else ""
        call_id = calls.log(self.record(status, response=text, error_class=type(error).__name__,
                                        error_message=str(error)))
        if fallback is None:
            error.request_id = self.request_id
            raise error
        return self.result(status, text, call_id, notice=str(error))

    # -- provider attempts

    def attempt_failed(self, reservation: budget.Reservation, attempt: Attempt, provider: providers.Deployment) -> None:
        with connection_scope(durable=False) as conn:
            budget.settle(conn, reservation, 0)
            self.last_call_id = calls.add(conn, self.record(
                CallStatus.failed, attempt=attempt.number, provider=provider.name, model=provider.model,
                latency_ms=attempt.latency_ms, error_class=attempt.error_class, error_message=attempt.error))

    def succeeded(self, reservation: budget.Reservation, provider: providers.Deployment, answer: _Answer,
                  latency_ms: int, number: int, cache_key: str | None) -> LLMResult:
        text, usage, cost = answer.text, answer.usage, answer.cost_nanos
        with connection_scope(durable=False) as conn:
            settled = budget.settle(conn, reservation, cost)
            call_id = calls.add(conn, self.record(
                CallStatus.ok, attempt=number, provider=provider.name, model=provider.model, response=text,
                usage=usage, cost_nanos=cost, unpriced=answer.unpriced, latency_ms=latency_ms))
            if cache_key:
                cache.store(conn, cache_key=cache_key, model=provider.model, feature=self.request.feature,
                            response=calls.scrub(text), input_tokens=usage.input_tokens,
                            output_tokens=usage.output_tokens,
                            cost_nanos=cost, ttl_days=self.cfg.cache_ttl_days)
        providers.record_success(provider)
        budget.check_alerts(self.cfg, settled)
        maintenance.maybe_run_daily()
        if answer.unpriced:
            log.warning("LLM model %s has no price: charged the fallback price (%s)", provider.model,
                        format_usd(cost))
        self.attempts.append(Attempt(provider.name, provider.model, number, CallStatus.ok.value, latency_ms,
                                     cost_nanos=cost))
        shown = apply_response(self.prep.plugins, text, self.prep.context)
        return self.result(CallStatus.ok, shown, call_id, provider=provider.name, model=provider.model,
                           input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost_nanos=cost,
                           unpriced=answer.unpriced)

    def all_failed(self) -> LLMResult:
        last = self.attempts[-1] if self.attempts else None
        final = f"{last.error_class}: {last.error}" if last else "No provider could be tried."
        markdown = reports.render(request_id=self.request_id, feature=self.request.feature, task=self.request.task,
                                  started=self.started, attempts=self.attempts, final_error=final)
        report_id = reports.save(request_id=self.request_id, user_id=self.request.user_id,
                                 feature=self.request.feature, markdown=markdown)
        log.error("LLM request %s (%s) failed on every provider after %d attempt(s): %s", self.request_id,
                  self.request.feature, len(self.attempts), final)
        where = ("A report with the details and next steps is in your notifications."
                 if self.request.user_id is not None else
                 f"Details and next steps: `python -m services.cli llm report {report_id}`.")
        error = AllProvidersFailed(
            f"Every AI provider failed ({len(self.attempts)} attempt(s)); last error: {final}. {where}",
            request_id=self.request_id, report_id=report_id)
        if self.request.fallback is None:
            raise error
        return self.result(CallStatus.failed, self.request.fallback(), self.last_call_id, notice=str(error))


async def _run(request: LLMRequest, on_token: Callable[[str], None] | None = None) -> LLMResult:
    prep = _prepare(request)
    run = _Run(request, prep)
    cfg = prep.cfg
    if request.dry_run or cfg.dry_run:
        return run.dry_run(prep.chain[0].model if prep.chain else "no provider",
                           f"{len(prep.messages)} message(s), at most {estimate_prompt_tokens(prep.messages)} tokens, "
                           f"with max_tokens={request.max_tokens}")
    if prep.template is not None:
        if on_token:
            on_token(prep.template.text)
        return run.from_template(prep.template)
    if not prep.chain and request.provider:
        return run.offline(f"Provider {request.provider!r} is not in the chain, is disabled or has no API key.")
    if not prep.chain:
        return run.offline("No AI provider is available: add an API key in Settings (or enable a local model "
                           "with `python -m services.cli llm provider enable ollama`).")
    if prep.hit is not None:
        if on_token:
            on_token(prep.hit.response)
        return run.from_cache(prep.hit)
    return await _walk(run, lambda provider: _try_provider(run, provider, prep.cache_keys.get(provider.name),
                                                            on_token))


async def _walk(run: _Run, attempt: Callable[[providers.Deployment], Awaitable[LLMResult | None]]) -> LLMResult:
    """Each provider in turn until one answers, else the failure report."""
    for provider in run.prep.chain:
        if (outcome := await attempt(provider)) is not None:
            return outcome
    return run.all_failed()


def _reserve(cfg: config.GatewayConfig, feature: str, amount: int) -> budget.Reservation:
    """Reserves; before refusing, frees money still held by calls whose process died."""
    try:
        return budget.reserve(cfg, feature, amount)
    except budget.BudgetRefused as refusal:
        if refusal.reason == "daily_calls" or not budget.release_stale(maintenance.stale_reservation_age(cfg)):
            raise
    return budget.reserve(cfg, feature, amount)


async def _try_provider(run: _Run, provider: providers.Deployment, cache_key: str | None,
                        on_token: Callable[[str], None] | None) -> LLMResult | None:
    """A chat completion's attempts, priced by the token."""
    prices = prices_for(provider, run.cfg)
    worst = worst_case_nanos(estimate_prompt_tokens(run.prep.messages), run.request.max_tokens, prices)

    async def call() -> _Answer:
        text, usage = await _call_provider(provider, run.prep.keys.get(provider.name, ""), run.prep.messages,
                                           run.request, run.cfg, on_token)
        return _Answer(text, cost_nanos(usage, prices), prices.unpriced, usage)

    return await _attempts(run, provider, worst, call, cache_key)


async def _attempts(run: _Run, provider: providers.Deployment, worst: int, call: Callable[[], Awaitable[_Answer]],
                    cache_key: str | None = None) -> LLMResult | None:
    """Up to N attempts on one provider, each reserving `worst` first; None when the chain
    should move on."""
    cfg, request = run.cfg, run.request
    for number in range(1, cfg.attempts_per_provider + 1):
        try:
            reservation = _reserve(cfg, request.feature, worst)
        except budget.BudgetRefused as refusal:
            budget.on_refused(cfg, refusal)
            return run.without_provider(CallStatus.refused_budget, BudgetExceeded(str(refusal)))
        started = time.perf_counter()
        try:
            answer = await call()
        except Exception as exc:
            latency = int((time.perf_counter() - started) * 1000)
            kind = "other" if isinstance(exc, _StreamBroken) else _classify(exc)
            attempt = Attempt(provider.name, provider.model, number, CallStatus.failed.value, latency,
                              type(exc).__name__, str(exc)[:2000], kind)
            run.attempts.append(attempt)
            run.attempt_failed(reservation, attempt, provider)
            log.warning("LLM %s attempt %d on %s failed (%s): %s", request.feature, number, provider.name, kind,
                        type(exc).__name__)
            if isinstance(exc, _StreamBroken):
                return run.all_failed()
            if kind in RETRYABLE and number < cfg.attempts_per_provider:
                await asyncio.sleep(backoff_delay(number, cfg, retry_after(exc)))
                continue
            break
        latency = int((time.perf_counter() - started) * 1000)
        return run.succeeded(reservation, provider, answer, latency, number, cache_key)
    providers.record_failure(provider, after=cfg.cooldown_after_failures, cooldown_seconds=cfg.cooldown_seconds)
    return None


# ---------------------------------------------------------------- speech to text

def transcribe(request: TranscriptionRequest) -> TranscriptionResult:
    """Blocking, for jobs: speech to text through an OpenAI-compatible endpoint, reserved,
    retried, logged (task "transcribe") and refused like every other call."""
    result = on_gateway_loop(_transcribe(request)).result()
    return TranscriptionResult(result.text, result.status, result.cost_nanos, result.call_id, result.provider,
                               result.model)


def _for_speech(deployment: providers.Deployment, model: str) -> providers.Deployment | None:
    """The deployment with `model` in its place, named as litellm routes it to the same
    endpoint; None when that endpoint has no OpenAI-style /audio/transcriptions."""
    try:
        vendor = litellm.get_llm_provider(deployment.model, api_base=deployment.api_base or None)[1]
    except litellm.BadRequestError:
        return None
    if vendor not in OPENAI_AUDIO_TRANSCRIPTION_PROVIDERS:
        return None
    return replace(deployment, model=model if model.startswith(f"{vendor}/") else f"{vendor}/{model}")


async def _transcribe(request: TranscriptionRequest) -> LLMResult:
    cfg, chain, keys = _ready_chain(request.provider, adapt=lambda d: _for_speech(d, request.model))
    audio = speech.describe(request)
    prep = _Prepared(cfg, chain, keys, messages=[], system_text="", user_text=audio, plugins=[],
                     context=PluginContext(request.feature, "transcribe", user_id=request.user_id), cache_keys={})
    run = _Run(LLMRequest(feature=request.feature, task="transcribe", user_id=request.user_id), prep)
    if request.dry_run or cfg.dry_run:
        return run.dry_run(chain[0].model if chain else request.model, audio)
    if not chain and request.provider:
        return run.offline(f"Provider {request.provider!r} cannot transcribe speech: it is not in the chain, is "
                           "disabled, has no API key, or its endpoint is not OpenAI-compatible.")
    if not chain:
        return run.offline("No provider can transcribe speech: add an OpenAI-compatible one (OpenAI, Groq, a "
                           "self-hosted Whisper server) to the provider chain.")
    return await _walk(run, lambda provider: _try_transcription(run, provider, request))


async def _try_transcription(run: _Run, provider: providers.Deployment,
                             request: TranscriptionRequest) -> LLMResult | None:
    """A transcription's attempts, priced by the second of audio."""
    price = speech.audio_price(
        admin_per_minute=request.usd_per_minute, map_per_second=_map_entry(provider.model).get("input_cost_per_second"),
        self_hosted=provider.is_local or bool(provider.api_base and not provider.key_ref),
        fallback=run.cfg.fallback_prices)

    async def call() -> _Answer:
        kwargs = dict(model=provider.model, file=("speech.wav", request.audio, "audio/wav"), response_format="json",
                      **_endpoint(provider, run.prep.keys.get(provider.name, ""), run.cfg))
        if request.language:
            kwargs["language"] = request.language
        response = await litellm.atranscription(**kwargs)
        # OpenAI reports the seconds it billed; other servers may not.
        usage = getattr(response, "usage", None)
        billed = usage.seconds if getattr(usage, "type", "") == "duration" else request.seconds
        return _Answer(response.text or "", price.charge(billed), price.unpriced)

    return await _attempts(run, provider, price.charge(request.seconds), call)


# ---------------------------------------------------------------- provider checks

@dataclass(frozen=True)
class ProviderCheck:
    name: str
    model: str
    ok: bool
    latency_ms: int
    error: str


def test_providers(user_id: int | None = None) -> list[ProviderCheck]:
    """One tiny call to every enabled provider, with a single attempt each. The calls are
    budgeted and logged like any other (feature "provider_test")."""
    loaded = config.load()
    cfg = replace(loaded, attempts_per_provider=1, timeout=min(loaded.timeout, 30))
    deployments = [d for d in providers.chain() if d.enabled]
    messages = [{"role": "user", "content": "Reply with the single word OK."}]
    prep = _Prepared(cfg, deployments, providers.keys_for(deployments), messages, "", messages[0]["content"], [],
                     PluginContext("provider_test"), {})

    async def check(provider: providers.Deployment) -> ProviderCheck:
        run = _Run(LLMRequest(feature="provider_test", task="ping", user_id=user_id, max_tokens=5), prep)
        started = time.perf_counter()
        try:
            outcome = await _try_provider(run, provider, None, None)
        except LLMError as exc:
            outcome, error = None, str(exc)
        else:
            error = "" if outcome else f"{run.attempts[-1].error_class}: {run.attempts[-1].error[:300]}"
        latency_ms = int((time.perf_counter() - started) * 1000)
        return ProviderCheck(provider.name, provider.model, outcome is not None, latency_ms,
                             calls.scrub(error))

    async def run_all() -> list[ProviderCheck]:
        return list(await asyncio.gather(*(check(d) for d in deployments)))

    return on_gateway_loop(run_all()).result()
