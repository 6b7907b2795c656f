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
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the map at import
import litellm  # noqa: E402

from services.db import connection_scope  # noqa: E402
from services.db.models.base import new_id, utcnow  # noqa: E402
from services.llm import budget, cache, calls, config, learned, maintenance, prompts, providers, reports  # noqa: E402
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
)

litellm.suppress_debug_info = True
litellm.drop_params = True  # a parameter one model lacks must not fail the whole chain
# litellm's loggers carry their own handler that prints records below WARNING to stdout, where
# the CLI writes machine-readable output and the app would repeat every call; warnings remain.
for _name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
    logging.getLogger(_name).setLevel(logging.WARNING)
log = logging.getLogger(__name__)

RETRYABLE = frozenset({"rate_limit", "timeout", "network", "server"})


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


@lru_cache(maxsize=256)
def map_prices(model: str) -> Prices | None:
    """Prices from litellm's bundled cost map, or None when the model is not priced there.
    A 0/0 entry of a hosted model is treated as unpriced: litellm has such gaps."""
    info = litellm.model_cost.get(model) or litellm.model_cost.get(model.split("/", 1)[-1])
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


async def _call_provider(deployment: providers.Deployment, key: str, messages: list[dict], request: LLMRequest,
                         cfg: config.GatewayConfig, on_token: Callable[[str], None] | None) -> tuple[str, Usage]:
    kwargs: dict[str, Any] = dict(model=deployment.model, messages=messages, max_tokens=request.max_tokens,
                                  timeout=cfg.timeout, num_retries=0, max_retries=0)
    if deployment.api_base:
        kwargs["api_base"] = deployment.api_base
    if key:
        kwargs["api_key"] = key
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


def _prepare(request: LLMRequest) -> _Prepared:
    cfg = config.current.get()
    deployments, keys = providers.current.get()
    usable = [d for d in deployments if providers.usable(d, keys.get(d.name, ""))]
    if request.provider:
        usable = [d for d in usable if d.name == request.provider]
    elif request.avoid_providers:
        usable = [d for d in usable if d.name not in request.avoid_providers] or usable
    now = utcnow()
    # When every provider is cooling down, trying them beats refusing outright.
    ready = [d for d in usable if not d.cooling_down(now)] or usable
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

    def dry_run(self) -> LLMResult:
        first = self.prep.chain[0] if self.prep.chain else None
        model = first.model if first else "no provider"
        tokens = estimate_prompt_tokens(self.prep.messages)
        text = (f"[dry run] No provider was called. {model} would receive {len(self.prep.messages)} message(s), "
                f"at most {tokens} tokens, with max_tokens={self.request.max_tokens}.")
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

    def succeeded(self, reservation: budget.Reservation, provider: providers.Deployment, prices: Prices, text: str,
                  usage: Usage, latency_ms: int, number: int, cache_key: str | None) -> LLMResult:
        cost = cost_nanos(usage, prices)
        with connection_scope(durable=False) as conn:
            settled = budget.settle(conn, reservation, cost)
            call_id = calls.add(conn, self.record(
                CallStatus.ok, attempt=number, provider=provider.name, model=provider.model, response=text,
                usage=usage, cost_nanos=cost, unpriced=prices.unpriced, latency_ms=latency_ms))
            if cache_key:
                cache.store(conn, cache_key=cache_key, model=provider.model, feature=self.request.feature,
                            response=calls.scrub(text), input_tokens=usage.input_tokens,
                            output_tokens=usage.output_tokens,
                            cost_nanos=cost, ttl_days=self.cfg.cache_ttl_days)
        providers.record_success(provider)
        budget.check_alerts(self.cfg, settled)
        maintenance.maybe_run_daily()
        if prices.unpriced:
            log.warning("LLM model %s has no price: charged the fallback price (%s)", provider.model,
                        format_usd(cost))
        self.attempts.append(Attempt(provider.name, provider.model, number, CallStatus.ok.value, latency_ms,
                                     cost_nanos=cost))
        shown = apply_response(self.prep.plugins, text, self.prep.context)
        return self.result(CallStatus.ok, shown, call_id, provider=provider.name, model=provider.model,
                           input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, cost_nanos=cost,
                           unpriced=prices.unpriced)

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
        return run.dry_run()
    if prep.template is not None:
        if on_token:
            on_token(prep.template.text)
        return run.from_template(prep.template)
    if not prep.chain and request.provider:
        return run.without_provider(CallStatus.offline, LLMUnavailable(
            f"Provider {request.provider!r} is not in the chain, is disabled or has no API key."))
    if not prep.chain:
        error = LLMUnavailable("No AI provider is available: add an API key in Settings (or enable a local model "
                               "with `python -m services.cli llm provider enable ollama`).")
        return run.without_provider(CallStatus.offline, error)
    if prep.hit is not None:
        if on_token:
            on_token(prep.hit.response)
        return run.from_cache(prep.hit)
    for provider in prep.chain:
        outcome = await _try_provider(run, provider, prep.cache_keys.get(provider.name), on_token)
        if outcome is not None:
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
    """Up to N attempts on one provider; None when the chain should move on."""
    cfg, request = run.cfg, run.request
    prices = prices_for(provider, cfg)
    worst = worst_case_nanos(estimate_prompt_tokens(run.prep.messages), request.max_tokens, prices)
    for number in range(1, cfg.attempts_per_provider + 1):
        try:
            reservation = _reserve(cfg, request.feature, worst)
        except budget.BudgetRefused as refusal:
            budget.on_refused(cfg, refusal)
            return run.without_provider(CallStatus.refused_budget, BudgetExceeded(str(refusal)))
        started = time.perf_counter()
        try:
            text, usage = await _call_provider(provider, run.prep.keys.get(provider.name, ""), run.prep.messages,
                                               request, cfg, on_token)
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
        return run.succeeded(reservation, provider, prices, text, usage, latency, number, cache_key)
    providers.record_failure(provider, after=cfg.cooldown_after_failures, cooldown_seconds=cfg.cooldown_seconds)
    return None


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
