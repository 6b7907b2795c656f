"""`python -m services.cli llm ...`: the gateway from a terminal (providers, budget, calls, load tests)."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from dataclasses import asdict

from services import runtime_settings
from services.llm import calls, config, gateway, maintenance, providers, reports, usage
from services.llm.costs import format_usd
from services.llm.types import BudgetExceeded, LLMError, LLMRequest, LLMResult


def _print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))


def cmd_provider_add(args: argparse.Namespace) -> int:
    d = providers.add(name=args.name, model=args.model, api_base=args.api_base or "", api_key=args.api_key,
                      key_ref=args.key_setting or "", input_price=args.input_price or "",
                      output_price=args.output_price or "", cached_input_price=args.cached_price or "",
                      position=args.position, enabled=not args.disabled)
    print(f"Added {d.name} ({d.model}) at position {d.position}.")
    return 0


def cmd_provider_list(args: argparse.Namespace) -> int:
    chain = providers.chain()
    keys = providers.keys_for(chain)
    cfg = config.load()
    rows = []
    for d in chain:
        prices = gateway.prices_for(d, cfg)
        rows.append({
            "position": d.position, "name": d.name, "model": d.model, "api_base": d.api_base, "enabled": d.enabled,
            "usable": providers.usable(d, keys.get(d.name, "")), "key": "set" if keys.get(d.name) else "missing",
            "price_source": prices.source, "unpriced": prices.unpriced,
            "input_usd_per_mtok": str(prices.input * 1_000_000), "output_usd_per_mtok": str(prices.output * 1_000_000),
            "cooldown_until": d.cooldown_until,
        })
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'#':>2}  {'NAME':<12} {'MODEL':<32} {'STATE':<9} {'KEY':<8} PRICE (USD/1M in/out)")
    for r in rows:
        state = ("cooling" if r["cooldown_until"] else "enabled") if r["enabled"] else "disabled"
        price = f"{r['input_usd_per_mtok']}/{r['output_usd_per_mtok']} ({r['price_source']})"
        print(f"{r['position']:>2}  {r['name']:<12} {r['model']:<32} {state:<9} {r['key']:<8} {price}")
    return 0


def cmd_provider_remove(args: argparse.Namespace) -> int:
    providers.remove(args.name)
    print(f"Removed {args.name}.")
    return 0


def cmd_provider_edit(args: argparse.Namespace) -> int:
    d = providers.update(args.name, model=args.model, api_base=args.api_base, api_key=args.api_key,
                         input_price=args.input_price, output_price=args.output_price,
                         cached_input_price=args.cached_price)
    print(f"Updated {d.name} ({d.model}).")
    return 0


def cmd_provider_move(args: argparse.Namespace) -> int:
    d = providers.move(args.name, args.position)
    print(f"{d.name} is now at position {d.position}.")
    return 0


def cmd_provider_enable(args: argparse.Namespace) -> int:
    d = providers.set_enabled(args.name, args.action == "enable")
    print(f"{d.name} is {'enabled' if d.enabled else 'disabled'}.")
    return 0


def cmd_budget_set(args: argparse.Namespace) -> int:
    # Check the monthly amount before storing anything, so a bad value of either option
    # leaves both settings as they were (the daily limit is validated as it is stored).
    runtime_settings.parse_decimal(runtime_settings.spec_for("llm.monthly_budget_usd").label, args.monthly)
    if args.daily_calls is not None:
        runtime_settings.set_value("llm.daily_call_limit", str(args.daily_calls))
    runtime_settings.set_value("llm.monthly_budget_usd", args.monthly)
    cfg = config.load()
    limit = f", at most {cfg.daily_call_limit} calls a day" if cfg.daily_call_limit else ""
    print(f"Monthly budget {format_usd(cfg.monthly_budget_nanos)}{limit}.")
    return 0


def _summary(result: LLMResult) -> dict:
    return {"request_id": result.request_id, "status": result.status.value, "source": result.source,
            "provider": result.provider, "model": result.model, "cost_usd": result.cost_nanos / 1e9,
            "saved_usd": result.saved_nanos / 1e9, "unpriced": result.unpriced,
            "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
            "attempts": [asdict(a) for a in result.attempts], "notice": result.notice}


def _request(args: argparse.Namespace, text: str) -> LLMRequest:
    return LLMRequest(feature=args.feature, project=args.project or "", template="general/complete",
                      variables={"text": text}, max_tokens=args.max_tokens, use_cache=not args.no_cache,
                      dry_run=getattr(args, "dry_run", False))


def cmd_complete(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.text == "-" else args.text
    try:
        result = gateway.complete(_request(args, text))
    except LLMError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(json.dumps({"request_id": exc.request_id, "status": type(exc).__name__, "report_id": exc.report_id}))
        return 1
    print(result.text)
    print(json.dumps(_summary(result)))
    return 0


def cmd_usage(args: argparse.Namespace) -> int:
    report = usage.report()
    if args.json:
        _print_json(report)
        return 0
    print(f"{report['month']}: spent ${report['spent_usd']:.6f} of ${report['budget_usd']:.2f} "
          f"(reserved ${report['reserved_usd']:.6f}, remaining ${report['remaining_usd']:.6f}, "
          f"saved by cache ${report['saved_usd']:.6f}); alerts: {report['alerts_fired'] or 'none'}")
    for title in ("by_provider", "by_feature"):
        for key, row in sorted(report[title].items()):
            print(f"  {title[3:]:<8} {key:<24} {row['calls']:>6} calls  {format_usd(row['cost_nanos'])}")
    return 0


def cmd_calls(args: argparse.Namespace) -> int:
    rows = [c.as_json() for c in calls.recent(args.last)]
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(f"{r['created_at'][:19]}  {r['feature']:<14} {r['provider']:<10} {r['status']:<14} "
              f"{r['input_tokens']:>6}/{r['output_tokens']:<6} ${r['cost_usd']:.6f}  {r['latency_ms']} ms")
    return 0


def cmd_test(_args: argparse.Namespace) -> int:
    checks = gateway.test_providers()
    for c in checks:
        print(f"{c.name:<12} {c.model:<32} {'ok' if c.ok else 'FAILED':<6} {c.latency_ms:>6} ms  {c.error}")
    if not checks:
        print("No provider is enabled.")
    return 0 if checks and all(c.ok for c in checks) else 1


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


async def _load(args: argparse.Namespace) -> dict:
    gate = asyncio.Semaphore(args.concurrency)
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    spent = 0

    async def one(index: int) -> None:
        nonlocal spent
        async with gate:
            started = time.perf_counter()
            try:
                result = await gateway.acomplete(_request(args, f"{args.text} (#{index})"))
            except BudgetExceeded:
                outcomes["refused_budget"] += 1
                return
            except Exception as exc:  # a load test counts failures; it does not stop at the first
                outcomes["failed"] += 1
                errors[type(exc).__name__] += 1
                return
            latencies.append((time.perf_counter() - started) * 1000)
            outcomes[result.status.value] += 1
            spent += result.cost_nanos

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(args.requests)))
    return {
        "requests": args.requests, "concurrency": args.concurrency, "ok": outcomes["ok"],
        "refused_budget": outcomes["refused_budget"], "failed": outcomes["failed"] + outcomes["offline"],
        "cache": outcomes["cache"], "spent_usd": spent / 1e9, "spent_nanos": spent,
        "p50_ms": round(statistics.median(latencies), 2) if latencies else 0.0,
        "p95_ms": round(_percentile(latencies, 0.95), 2), "wall_s": round(time.perf_counter() - started, 3),
        "errors": dict(errors),
    }


def cmd_loadtest(args: argparse.Namespace) -> int:
    if args.requests < 1 or args.concurrency < 1:
        print("error: --requests and --concurrency must be at least 1", file=sys.stderr)
        return 2
    # On the gateway's own loop: works whether or not this thread already runs one.
    print(json.dumps(gateway.on_gateway_loop(_load(args)).result()))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """The CLI runs as the machine's operator, who may read every report."""
    print(reports.read(args.report_id, user_id=0, is_admin=True), end="")
    return 0


def cmd_purge(_args: argparse.Namespace) -> int:
    _print_json(maintenance.run_maintenance())
    return 0


def _request_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature", required=True, help="the feature the call is charged to")
    p.add_argument("--project", help="project (selects per-project prompt overrides)")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the response cache")
    p.add_argument("text", help="the prompt ('-' reads standard input)")


def register(groups: argparse._SubParsersAction) -> None:
    llm = groups.add_parser("llm", help="LLM gateway").add_subparsers(dest="llm_group", required=True)

    provider = llm.add_parser("provider", help="the provider chain").add_subparsers(dest="action", required=True)
    add = provider.add_parser("add", help="add a deployment")
    add.add_argument("name")
    add.add_argument("--model", required=True, help="litellm model id, e.g. gpt-4o, gemini/gemini-2.5-pro")
    add.add_argument("--api-base", help="endpoint for Ollama or any OpenAI-compatible server")
    add.add_argument("--api-key", help="stored encrypted (prefer --key-setting for shared keys)")
    add.add_argument("--key-setting", help="use the key stored in this runtime setting, e.g. openai.api_key")
    add.add_argument("--input-price", help="USD per 1M input tokens (overrides the cost map)")
    add.add_argument("--output-price", help="USD per 1M output tokens")
    add.add_argument("--cached-price", help="USD per 1M cached input tokens")
    add.add_argument("--position", type=int, help="1 = tried first (default: last)")
    add.add_argument("--disabled", action="store_true")
    add.set_defaults(func=cmd_provider_add)
    edit = provider.add_parser("edit", help="change a deployment (options not given stay as they are)")
    edit.add_argument("name")
    edit.add_argument("--model", help="litellm model id")
    edit.add_argument("--api-base", help="endpoint ('' = the vendor's default)")
    edit.add_argument("--api-key", help="a new key, stored encrypted as this provider's own")
    edit.add_argument("--input-price", help="USD per 1M input tokens ('' = from the cost map)")
    edit.add_argument("--output-price", help="USD per 1M output tokens")
    edit.add_argument("--cached-price", help="USD per 1M cached input tokens")
    edit.set_defaults(func=cmd_provider_edit)
    move = provider.add_parser("move", help="put a deployment at a position (1 = tried first)")
    move.add_argument("name")
    move.add_argument("position", type=int)
    move.set_defaults(func=cmd_provider_move)
    listing = provider.add_parser("list", help="show the chain")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=cmd_provider_list)
    for action, func, text in (("remove", cmd_provider_remove, "remove a deployment"),
                               ("enable", cmd_provider_enable, "enable (and end its cool-down)"),
                               ("disable", cmd_provider_enable, "skip it in the chain")):
        sub = provider.add_parser(action, help=text)
        sub.add_argument("name")
        sub.set_defaults(func=func)

    money = llm.add_parser("budget", help="the monthly budget").add_subparsers(dest="action", required=True)
    set_ = money.add_parser("set", help="set the monthly budget and daily call limit")
    set_.add_argument("--monthly", required=True, help="USD")
    set_.add_argument("--daily-calls", type=int, help="0 = no limit")
    set_.set_defaults(func=cmd_budget_set)

    complete = llm.add_parser("complete", help="one call through the gateway; prints the answer and a JSON line")
    _request_options(complete)
    complete.add_argument("--dry-run", action="store_true", help="do not call a provider")
    complete.set_defaults(func=cmd_complete)

    usage = llm.add_parser("usage", help="this month's spending")
    usage.add_argument("--json", action="store_true")
    usage.set_defaults(func=cmd_usage)

    recent = llm.add_parser("calls", help="the newest call log rows")
    recent.add_argument("--last", type=int, default=20)
    recent.add_argument("--json", action="store_true")
    recent.set_defaults(func=cmd_calls)

    llm.add_parser("test", help="a tiny call to each enabled provider").set_defaults(func=cmd_test)

    load = llm.add_parser("loadtest", help="many concurrent calls; prints a JSON summary")
    _request_options(load)
    load.add_argument("--requests", type=int, default=100)
    load.add_argument("--concurrency", type=int, default=10)
    load.set_defaults(func=cmd_loadtest, no_cache=True)

    report = llm.add_parser("report", help="print a failure report (markdown)")
    report.add_argument("report_id")
    report.set_defaults(func=cmd_report)

    llm.add_parser("purge", help="apply log retention, drop expired cache, free orphaned reservations").set_defaults(
        func=cmd_purge)
