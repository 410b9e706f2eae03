"""How fast the playbook model answers, and how much memory a busy server needs: prints figures, asserts nothing.

.venv/bin/python bench/chat_latency.py [--conversations 200] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import tracemalloc

from agent.service import Lumen
from config import Settings

TURNS = [
    ("where is my order?", None),
    ("{name}", None),
    ("{email}", None),
]


async def conversation(lumen: Lumen, name: str, email: str, latencies: list[float]) -> None:
    session = None
    for template, _ in TURNS:
        started = time.perf_counter()
        turn = await lumen.chat(template.format(name=name, email=email), session)
        latencies.append(time.perf_counter() - started)
        session = turn.session_id


async def main(conversations: int, concurrency: int, trace_memory: bool, database_url: str) -> None:
    if trace_memory:
        tracemalloc.start()
    lumen = await Lumen.create(Settings(lumen_database_url=database_url, _env_file=None))
    raw = getattr(lumen.source, "raw", {"orders": []})["orders"]
    people = [(o["name"], o["email"]) for o in raw if o.get("email")]
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            name, email = people[i % len(people)]
            await conversation(lumen, name, email, latencies)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(conversations)))
    elapsed = time.perf_counter() - started
    current, peak = tracemalloc.get_traced_memory()
    await lumen.close()
    latencies.sort()
    print(f"conversations: {conversations} ({len(latencies)} turns), concurrency {concurrency}")
    print(f"wall time: {elapsed:.2f} s, turns/s: {len(latencies) / elapsed:.1f}")
    print(
        f"turn latency p50 {statistics.median(latencies) * 1000:.1f} ms, "
        f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"
    )
    if trace_memory:
        print(f"python heap: {current / 1e6:.1f} MB now, {peak / 1e6:.1f} MB peak (tracemalloc)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--memory", action="store_true", help="trace the Python heap (slows every turn down)")
    parser.add_argument("--database", default="sqlite:///:memory:")
    args = parser.parse_args()
    asyncio.run(main(args.conversations, args.concurrency, args.memory, args.database))
