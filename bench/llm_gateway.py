"""What the gateway adds to a call: 1,000 calls through `gateway.acomplete` against the same
1,000 calls through `litellm.acompletion` directly, both to a zero-latency local fake, in one
run, interleaved in blocks so drift on a noisy machine hits both sides alike. Also the
latency of a cache hit. Targets: overhead p50 < 3 ms, cache hit p50 < 2 ms.

    .venv/bin/python -m bench.llm_gateway [--calls 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench.common import fresh, machine, on_postgres, percentiles, write
from tests.fakes.llm_providers import FakeLLMServer

BLOCK = 100
WARM_UP = 50


async def _timed(make_call) -> float:
    started = time.perf_counter()
    await make_call()
    return time.perf_counter() - started


async def _measure_async(fake: FakeLLMServer, calls: int) -> dict:
    from services.llm import gateway, prompts  # first: it makes litellm use its bundled cost map
    from services.llm.types import LLMRequest

    litellm = gateway.litellm

    system = prompts.render("general", "complete", {"text": ""}).system
    api_base = fake.api_base("openai")

    def direct(text: str):
        # On the gateway's loop, as the gateway's own calls are, so both sides pay the same
        # hand-over between threads and litellm's per-loop logging worker never moves.
        messages = [{"role": "system", "content": system}, {"role": "user", "content": text}]
        return asyncio.wrap_future(gateway.on_gateway_loop(litellm.acompletion(
            model="openai/gpt-4o", messages=messages, api_base=api_base, api_key="bench-key", max_tokens=256,
            num_retries=0, max_retries=0)))

    def through_gateway(text: str):
        return gateway.acomplete(LLMRequest(feature="bench", template="general/complete", variables={"text": text},
                                            max_tokens=256))

    for n in range(WARM_UP):
        await direct(f"warm up {n}")
        await through_gateway(f"warm up {n}")
    direct_times, gateway_times = [], []
    for block in range(0, calls, BLOCK):
        # Distinct prompts: every gateway call misses the cache and pays for the lookup.
        for n in range(block, min(block + BLOCK, calls)):
            direct_times.append(await _timed(lambda n=n: direct(f"question number {n}")))
        for n in range(block, min(block + BLOCK, calls)):
            gateway_times.append(await _timed(lambda n=n: through_gateway(f"question number {n}")))
    hits = [await _timed(lambda: through_gateway("question number 0")) for _ in range(calls)]
    direct_p, gateway_p, hit_p = percentiles(direct_times), percentiles(gateway_times), percentiles(hits)
    return {
        "calls": calls,
        "direct": direct_p,
        "gateway": gateway_p,
        "overhead_median_ms": round(gateway_p["median_ms"] - direct_p["median_ms"], 3),
        "overhead_p95_ms": round(gateway_p["p95_ms"] - direct_p["p95_ms"], 3),
        "cache_hit": hit_p,
        "provider_requests": fake.count("gpt-4o"),
    }


def measure(database_url: str | None, calls: int) -> dict:
    from services.llm import providers

    fresh(database_url)
    with FakeLLMServer() as fake:
        for deployment in providers.chain():
            providers.remove(deployment.name)
        providers.add(name="openai", model="openai/gpt-4o", api_base=fake.api_base("openai"), api_key="bench-key")
        result = asyncio.run(_measure_async(fake, calls))
    result["targets_met"] = {
        "overhead_median_below_3ms": result["overhead_median_ms"] < 3,
        "cache_hit_median_below_2ms": result["cache_hit"]["median_ms"] < 2,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    write("llm_gateway", {
        "machine": machine(),
        "sqlite": measure(None, args.calls),
        "postgresql": on_postgres(lambda url: measure(url, args.calls)),
    })


if __name__ == "__main__":
    main()
