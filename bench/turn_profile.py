"""What one chat turn costs, in process: Lumen's turns against a bare pydantic-ai agent run, and where the time goes.

.venv/bin/python bench/turn_profile.py [--conversations 100] [--concurrency 50] [--profile] [--database URL]
.venv/bin/python bench/turn_profile.py --http http://127.0.0.1:8000 [--store FILE]   (a running `lumen serve`)

Prints figures, asserts nothing. The bare run is what issue 10 compares against: one `Agent.run` with a function
model that asks for one tool call, then answers (two model requests, one tool call), no database, no guard. Lumen's
figure is the mean time of its lookup turn (the one that calls `find_order` and answers: the same two requests and
one tool call, plus everything Lumen adds) and of all turns; both are measured in this process, one after the other,
after a warm-up (the act model is trained at first use).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import time
from dataclasses import dataclass

import httpx
from pydantic_ai import Agent, RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.service import Lumen
from config import Settings

TURNS = ("where is my order?", "{name}", "{email}")
LOOKUP_TURN = 2  # the turn that calls find_order and answers


@dataclass
class Figures:
    all_turns: list[float]
    lookup_turns: list[float]
    elapsed: float
    cpu: float  # process CPU seconds (every thread): steadier than wall time on a machine others share

    def line(self, label: str) -> str:
        turns = sorted(self.all_turns)
        p95 = turns[int(len(turns) * 0.95)]
        return (
            f"{label}: {len(turns) / self.elapsed:.1f} turns/s, turn p50 {statistics.median(turns) * 1000:.1f} ms, "
            f"p95 {p95 * 1000:.1f} ms; lookup turn mean {statistics.fmean(self.lookup_turns) * 1000:.2f} ms; "
            f"CPU {self.cpu_per_turn * 1000:.2f} ms/turn"
        )

    @property
    def cpu_per_turn(self) -> float:
        return self.cpu / len(self.all_turns)


def bare_agent() -> Agent[None, str]:
    """Two model requests and one tool call, nothing else."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1].parts[-1]
        if isinstance(last, ToolReturnPart):
            return ModelResponse(parts=[TextPart(f"Your order: {last.model_response_str()}")])
        return ModelResponse(parts=[ToolCallPart("find_order", {"order_number": "#1001", "email": "a@example.com"})])

    agent = Agent[None, str](FunctionModel(respond), output_type=str)

    @agent.tool
    async def find_order(ctx: RunContext[None], order_number: str, email: str) -> dict[str, str]:
        """Look an order up.

        Args:
            order_number: the order number.
            email: the email used at checkout.
        """
        return {"name": order_number, "email": email, "status": "in transit"}

    return agent


async def bare_runs(runs: int) -> tuple[float, float]:
    """Mean wall and CPU seconds per bare agent run."""
    agent = bare_agent()
    await agent.run("where is my order #1001? a@example.com")
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(runs):
        await agent.run("where is my order #1001? a@example.com")
    return (time.perf_counter() - started) / runs, (time.process_time() - cpu) / runs


async def lumen_runs(lumen: Lumen, conversations: int, concurrency: int) -> Figures:
    raw = getattr(lumen.source, "raw", {"orders": []})["orders"]
    people = [(o["name"], o["email"]) for o in raw if o.get("email")]
    all_turns: list[float] = []
    lookup_turns: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        name, email = people[i % len(people)]
        session = None
        async with gate:
            for n, template in enumerate(TURNS):
                started = time.perf_counter()
                turn = await lumen.chat(template.format(name=name, email=email), session)
                took = time.perf_counter() - started
                all_turns.append(took)
                if n == LOOKUP_TURN:
                    lookup_turns.append(took)
                session = turn.session_id

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(i) for i in range(conversations)))
    return Figures(all_turns, lookup_turns, time.perf_counter() - started, time.process_time() - cpu)


async def http_runs(base_url: str, store: str | None, conversations: int, concurrency: int) -> None:
    """The same conversations over HTTP; each from an address of its own (X-Forwarded-For, which `lumen serve`
    trusts from 127.0.0.1), so per-client limits stay out of the way as for many shoppers."""
    from shopify import FixtureStore

    raw = (FixtureStore(store) if store else FixtureStore()).raw["orders"]
    people = [(o["name"], o["email"]) for o in raw if o.get("email")]
    turns: list[float] = []
    errors: list[int] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(client: httpx.AsyncClient, i: int) -> None:
        name, email = people[i % len(people)]
        headers = {"X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
        session = None
        async with gate:
            for template in TURNS:
                started = time.perf_counter()
                body = {"message": template.format(name=name, email=email), "session_id": session}
                response = await client.post("/api/chat", json=body, headers=headers)
                turns.append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors.append(response.status_code)
                    return
                session = response.json()["session_id"]

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(one(client, i) for i in range(conversations)))
        elapsed = time.perf_counter() - started
    turns.sort()
    print(f"HTTP {base_url}: {conversations} conversations, {concurrency} at once, {len(turns)} turns")
    print(
        f"{len(turns) / elapsed:.1f} turns/s, turn p50 {statistics.median(turns) * 1000:.1f} ms, "
        f"p95 {turns[int(len(turns) * 0.95)] * 1000:.1f} ms, errors {len(errors)} {sorted(set(errors))}"
    )


async def main(conversations: int, concurrency: int, database: str, profile: bool) -> None:
    lumen = await Lumen.create(Settings(lumen_database_url=database, _env_file=None))
    try:
        await lumen_runs(lumen, 5, 1)  # warm-up: the act model, caches, the database's first pages
        bare, bare_cpu = await bare_runs(max(conversations, 100))
        serial = await lumen_runs(lumen, conversations, 1)
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        loaded = await lumen_runs(lumen, conversations, concurrency) if concurrency > 1 else None
        if profiler:
            profiler.disable()
    finally:
        await lumen.close()
    print(f"bare pydantic-ai run (2 model requests, 1 tool call): {bare * 1000:.2f} ms, CPU {bare_cpu * 1000:.2f} ms")
    print(serial.line("lumen, one conversation at a time"))
    print(f"ratio, lookup turn / bare run (wall): {statistics.fmean(serial.lookup_turns) / bare:.2f}x")
    print(f"ratio, mean turn / bare run (wall): {statistics.fmean(serial.all_turns) / bare:.2f}x")
    print(f"ratio, mean turn / bare run (CPU): {serial.cpu_per_turn / bare_cpu:.2f}x")
    if loaded:
        print(loaded.line(f"lumen, {concurrency} conversations at once"))
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--database", default="sqlite:///:memory:")
    parser.add_argument("--profile", action="store_true", help="cProfile the concurrent run and print the top")
    parser.add_argument("--http", help="the base URL of a running `lumen serve` to send the conversations to")
    parser.add_argument("--store", help="with --http: the store file the server serves (default: the demo store)")
    args = parser.parse_args()
    if args.http:
        asyncio.run(http_runs(args.http, args.store, args.conversations, args.concurrency))
    else:
        asyncio.run(main(args.conversations, args.concurrency, args.database, args.profile))
