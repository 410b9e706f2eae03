"""How many order lookups ShopifyAdmin gets through Shopify's rate limit when many shoppers ask at once.

Starts the fake Shopify server with Standard-plan numbers (bucket 2,000 points, 100 points/s), fires N concurrent
lookups through one ShopifyAdmin with its cache off, and prints throughput, latency and how the rate limit was met.
Lookups that would keep a shopper waiting past `--max-wait` fail with OrderSourceThrottled: on a Standard plan that
is the expected outcome for part of a 200-shopper burst, and the figure worth watching.

    .venv/bin/python bench/shopify_throughput.py [-n 200] [--restore-rate 100] [--bucket-size 2000] [--max-wait 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

from evals.fakes.shopify_admin import FakeShopify, parse_query, requested_cost  # noqa: E402
from shopify.client import NAME_QUERY, ShopifyAdmin  # noqa: E402
from shopify.source import OrderSourceError  # noqa: E402
from shopify.store_file import DEMO_STORE, FixtureStore  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(args: argparse.Namespace) -> None:
    store = FixtureStore(args.store)
    # Every lookup is a real shopper's question: an existing order number with its email.
    questions = [(node["name"].lstrip("#"), node["email"]) for node in store.raw["orders"] if node.get("email")]
    latencies: list[float] = []
    failures: Counter[str] = Counter()

    async with FakeShopify(args.store, bucket_size=args.bucket_size, restore_rate=args.restore_rate) as fake:
        async with ShopifyAdmin(fake.url, fake.token, cache_ttl_s=0, max_wait_s=args.max_wait) as client:

            async def lookup(i: int) -> None:
                number, email = questions[i % len(questions)]
                started = time.perf_counter()
                try:
                    found = await client.orders_by_name(number, email=email)
                except OrderSourceError as exc:
                    failures[type(exc).__name__] += 1
                    return
                if len(found) != 1:
                    failures["wrong answer"] += 1
                    return
                latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(lookup(i) for i in range(args.n)))
            elapsed = time.perf_counter() - started
            stats = client.stats
        served = len(latencies)
        print(f"ShopifyAdmin vs fake Shopify: bucket {args.bucket_size:g} points, restore {args.restore_rate:g}/s")
        print(f"  lookup requested cost:         {requested_cost(parse_query(NAME_QUERY, {'q': ''}))} points")
        print(f"  concurrent lookups:            {args.n} (cache off, max wait {args.max_wait:g}s)")
        print(f"  total time:                    {elapsed:.2f}s")
        print(f"  served:                        {served}  ({served / elapsed:.1f} lookups/s)")
        print(f"  failed:                        {sum(failures.values())}  {dict(failures) or ''}")
        print(f"  latency p50 / p95 / max:       {percentile(latencies, 0.5):.3f}s / {percentile(latencies, 0.95):.3f}s"
              f" / {max(latencies, default=float('nan')):.3f}s")  # fmt: skip
        print(f"  HTTP requests sent:            {stats.requests} (server saw {fake.requests})")
        print(f"  THROTTLED/429 responses:       {fake.throttled}")
        print(f"  retries:                       {stats.retries}")
        print(f"  proactive waits:               {stats.proactive_waits} (slept {stats.waited_s:.2f}s in total)")
        print(f"  bucket left:                   {fake.available:.0f} points")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="concurrent lookups (default 200)")
    parser.add_argument("--store", type=Path, default=DEMO_STORE)
    parser.add_argument("--bucket-size", type=float, default=2000, help="Standard plan: 2000 points")
    parser.add_argument("--restore-rate", type=float, default=100, help="Standard plan: 100 points/s")
    parser.add_argument("--max-wait", type=float, default=8.0, help="longest a shopper waits (LUMEN default 8 s)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
