"""Lumen's turn against a bare pydantic-ai agent run, in one process: what Lumen adds around the framework.

The bare run is the least a tool-using agent can do: an `Agent` whose FunctionModel makes two model requests (the
first calls `find_order`, the second writes the answer from its result) and one tool call over an in-memory dict.
Lumen's turn is `Lumen.chat` with the playbook model over the same synthetic store, held in memory and indexed by
order name like the bare agent's dict (a plain store file scans every order per lookup: 40 ms at 5,000 orders,
which would measure the file, not Lumen), a SQLite file database, a new conversation each time. Runs alternate
(Lumen, bare, Lumen, ...) so load on the machine falls on both alike. `--profile` adds a cProfile of Lumen's turns
and prints where their time goes; `--split` (without `--profile`) adds the CPU of a turn by component (see `CpuSplit`).

    .venv/bin/python bench/agent_ratio.py [--runs 200] [--profile | --split]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import inspect
import io
import json
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

from pydantic_ai import Agent, RunContext  # noqa: E402
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402

import agent.core  # noqa: E402
import agent.service  # noqa: E402
from agent.playbook.acts import ActModel  # noqa: E402
from agent.playbook.model import PlaybookModel  # noqa: E402
from agent.service import Lumen  # noqa: E402
from bench.synthetic_store import build_store  # noqa: E402
from config import Settings  # noqa: E402
from serving import freeze_startup_heap  # noqa: E402
from shopify.domain import Order  # noqa: E402
from shopify.names import order_key  # noqa: E402
from shopify.store_file import FixtureStore  # noqa: E402
from storage import Database  # noqa: E402

WARMUP = 5
_NUMBER = re.compile(r"#?([A-Z]*\d{3,})", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def _bare_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """First request: call find_order with what the shopper typed. Second: answer from the tool's result."""
    returned = [p for m in messages for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)]
    if returned:
        found = returned[-1].content
        if not isinstance(found, dict) or not found:
            return ModelResponse(parts=[TextPart("I couldn't find that order.")])
        return ModelResponse(parts=[TextPart(f"Your order {found['name']} is {found['status'].lower()}.")])
    prompt = str(getattr(messages[-1].parts[-1], "content", ""))
    number, email = _NUMBER.search(prompt), _EMAIL.search(prompt)
    args = {"order_number": number.group(1) if number else "", "email": email.group(0) if email else ""}
    return ModelResponse(parts=[ToolCallPart("find_order", args)])


def _shaped_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """Lumen's shape of turn for a shipped order: find_order, whose verified result carries the packages, then the
    answer from them."""
    returned = [p for m in messages for p in getattr(m, "parts", []) if isinstance(p, ToolReturnPart)]
    found = returned[0].content if returned else None
    if not isinstance(found, dict) or not found or "fulfillments" not in found:
        return _bare_model(messages, info)
    packages = found["fulfillments"] or []
    return ModelResponse(parts=[TextPart(f"Your order {found['name']} is in {len(packages)} package(s).")])


class ModelWork:
    """The CPU a model's own function takes (`time.thread_time`, the thread it runs in), summed until read."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def take(self) -> float:
        taken, self.seconds = self.seconds, 0.0
        return taken

    def timed(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.thread_time() - started

        return run


BARE_MODEL_WORK = ModelWork()


async def _bare_model_async(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return _bare_model(messages, info)


def bare_agent(*, lumen_shape: bool = False, async_model: bool = False) -> Agent[dict[str, dict[str, Any]], str]:
    """The bare run; `lumen_shape`: the same two model requests and one tool call, the tool's result carrying the
    order's packages as Lumen's find_order does.

    The model is a plain function, as pydantic-ai's own FunctionModel examples write it, which pydantic-ai calls in a
    worker thread; `async_model`: an async one instead, called on the event loop as an LLM client is (and as Lumen's
    playbook model is), which spares the bare run the two thread switches a turn (see `_cpu_lines`)."""
    if async_model:
        model = FunctionModel(_bare_model_async)
    else:
        model = FunctionModel(BARE_MODEL_WORK.timed(_shaped_model if lumen_shape else _bare_model))
    agent: Agent[dict[str, dict[str, Any]], str] = Agent(model, deps_type=dict)

    @agent.tool
    async def find_order(ctx: RunContext[dict[str, dict[str, Any]]], order_number: str, email: str) -> dict[str, Any]:
        """Look an order up by number, checking the email."""
        node = ctx.deps.get(order_number.lstrip("#").upper())
        if node is None or node.get("email") != email:
            return {}
        found = {"name": node["name"], "status": node["displayFulfillmentStatus"]}
        return found | {"fulfillments": node.get("fulfillments")} if lumen_shape else found

    return agent


class IndexedStore(FixtureStore):
    """A store file whose orders are found by name in a dict, as the bare agent finds them."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self._by_key: dict[str, list[Order]] = {}
        for order in self._orders:
            self._by_key.setdefault(order_key(order.name), []).append(order)

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        found = self._by_key.get(name.upper(), [])
        return [o for o in found if o.has_email(email, checkout_only=True)] if email is not None else list(found)


class CpuSplit:
    """The CPU of Lumen's turns by component: each component's functions are wrapped for the measurement, and each
    call's process CPU time (`time.process_time`) is charged to its component, less the time of the wrapped calls
    it makes (a tool's database statements are the database's). What no wrapper claims is the framework and the
    glue around it. Turns run one at a time, so no other turn's work lands inside a call. The wrappers themselves
    cost a little, so the turn measures slightly slower than without `--split`.
    """

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}
        self._stack: list[list[Any]] = []  # [component, started, CPU of the wrapped calls inside]
        self._undo: list[Callable[[], None]] = []

    def _enter(self, component: str) -> None:
        self._stack.append([component, time.process_time(), 0.0])

    def _leave(self) -> None:
        component, started, inner = self._stack.pop()
        took = time.process_time() - started
        self.totals[component] = self.totals.get(component, 0.0) + took - inner
        if self._stack:
            self._stack[-1][2] += took

    def _wrap(self, owner: Any, name: str, component: str) -> None:
        original = inspect.getattr_static(owner, name)
        own = name in vars(owner)  # not inherited: put back afterwards (an inherited one is just removed)
        function = original.__func__ if isinstance(original, staticmethod | classmethod) else original
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
                self._enter(component)
                try:
                    return await function(*args, **kwargs)
                finally:
                    self._leave()

            wrapped: Any = wrapped_async
        else:

            @functools.wraps(function)
            def wrapped_sync(*args: Any, **kwargs: Any) -> Any:
                self._enter(component)
                try:
                    return function(*args, **kwargs)
                finally:
                    self._leave()

            wrapped = wrapped_sync
        setattr(owner, name, wrapped)
        self._undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    @contextmanager
    def installed(self) -> Iterator[CpuSplit]:
        """The wrappers, for the block; the functions as they were afterwards."""
        self._wrap(ActModel, "read_many", "act reader")
        # `_step`, not `_respond`: a playbook model made before the wrappers (the chooser keeps one per voice) holds
        # its `_respond` bound already, but looks `_step` up at every request.
        self._wrap(PlaybookModel, "_step", "playbook steps (besides the act reader)")
        self._wrap(agent.core, "_problems", "grounding guard")
        self._wrap(agent.core, "safe_reply", "grounding guard")
        self._wrap(agent.service, "contacts_of", "history JSON and contacts")
        coroutines = {
            name
            for klass in Database.__mro__
            for name, value in vars(klass).items()
            if inspect.iscoroutinefunction(value) and not name.startswith("__")
        }
        # Not the lease's renewal: it sleeps in a task of its own for the whole turn.
        for name in sorted(coroutines - {"_renew_turn"}):
            self._wrap(Database, name, "database")
        for toolset in agent.core.lumen_agent.toolsets:
            for tool in getattr(toolset, "tools", {}).values():
                self._wrap(tool.function_schema, "function", "tools (besides the database)")
        try:
            yield self
        finally:
            for undo in reversed(self._undo):
                undo()
            self._undo.clear()

    def lines(self, turns: int, turn_cpu_s: float) -> list[str]:
        claimed = sum(self.totals.values())
        rows = sorted(self.totals.items(), key=lambda row: -row[1])
        rows.append(("pydantic-ai and the glue around it (the rest)", max(turn_cpu_s - claimed, 0.0)))
        return [f"    {seconds / turns * 1000:6.2f} ms  {component}" for component, seconds in rows]


@dataclass
class Ratio:
    runs: int
    lumen_s: list[float]
    bare_s: list[float]
    profile: str = ""
    # CPU seconds of the process (every thread) per run: steadier than wall time on a machine others load.
    lumen_cpu_s: list[float] = field(default_factory=list)
    bare_cpu_s: list[float] = field(default_factory=list)
    shaped_cpu_s: list[float] = field(default_factory=list)  # the bare agent in Lumen's shape (its packages returned)
    async_cpu_s: list[float] = field(default_factory=list)  # the bare run with an async model function
    # Each model's own work per run (CPU of the thread it runs in): the playbook's reading and writing in Lumen's
    # turn, the bare model's regex in the bare run. What a request to an LLM would replace in both.
    lumen_model_s: list[float] = field(default_factory=list)
    bare_model_s: list[float] = field(default_factory=list)
    split: list[str] = field(default_factory=list)  # `--split`: a turn's CPU by component

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.lumen_s) / statistics.median(self.bare_s)

    @property
    def mean_ratio(self) -> float:
        return statistics.fmean(self.lumen_s) / statistics.fmean(self.bare_s)


def question(node: dict[str, Any]) -> str:
    return f"Hi, where is my order {node['name']}? My email is {node['email']}"


async def measure(
    store: dict[str, Any], runs: int, *, profile: bool = False, workdir: Path | None = None, split: bool = False
) -> Ratio:
    """`runs` Lumen turns and `runs` bare agent runs, alternating, each about a different order."""
    with tempfile.TemporaryDirectory(prefix="lumen-ratio-", dir=workdir) as tmp:
        store_path = Path(tmp) / "store.json"
        store_path.write_text(json.dumps(store), encoding="utf-8")
        settings = Settings(
            _env_file=None,
            lumen_store=store_path,
            lumen_database_url=f"sqlite:///{Path(tmp) / 'ratio.db'}",
            lumen_now=store["asOf"],
            lumen_model="playbook",
            shopify_shop=None,
            shopify_access_token=None,
        )
        lumen = await Lumen.create(settings, source=IndexedStore(store_path, now=settings.lumen_now))
        # This process as a `lumen serve` worker is once started: what startup built is out of the collector's sight.
        # Otherwise a full collection (some 0.5 s with this store in memory, one every few hundred turns) falls by
        # luck into one run or the other and moves the means by a few tenths of the ratio.
        freeze_startup_heap()
        try:
            return await _alternate(lumen, store["orders"], runs, profile, split)
        finally:
            await lumen.close()


async def _alternate(lumen: Lumen, orders: list[dict[str, Any]], runs: int, profile: bool, split: bool) -> Ratio:
    agents = (bare_agent(), bare_agent(lumen_shape=True), bare_agent(async_model=True))
    by_number = {node["name"].lstrip("#").upper(): node for node in orders}
    profiler = cProfile.Profile() if profile else None
    splitter = CpuSplit() if split and not profile else None
    ratio = Ratio(runs, [], [])
    with ExitStack() as measuring:
        measuring.enter_context(_playbook_timed())
        for i in range(WARMUP + runs):
            if splitter is not None and i == WARMUP:
                # Installed once for the measured runs; the bare agents call none of the wrapped functions.
                measuring.enter_context(splitter.installed())
            await _one_run(lumen, agents, orders[(i * 7919) % len(orders)], by_number, profiler, ratio, i)
    ratio.profile = _top(profiler) if profiler is not None else ""
    if splitter is not None:
        ratio.split = splitter.lines(runs, sum(ratio.lumen_cpu_s))
    return ratio


PLAYBOOK_WORK = ModelWork()


@contextmanager
def _playbook_timed() -> Iterator[None]:
    """The playbook model's steps timed (`PLAYBOOK_WORK`) for the block: its reading of the conversation and its
    reply, act reader included. `_step` is looked up at every request, so a model made before is timed too."""
    original = PlaybookModel._step
    PlaybookModel._step = PLAYBOOK_WORK.timed(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        PlaybookModel._step = original  # type: ignore[method-assign]


async def _one_run(
    lumen: Lumen,
    agents: tuple[Agent[dict[str, dict[str, Any]], str], ...],
    node: dict[str, Any],
    by_number: dict[str, dict[str, Any]],
    profiler: cProfile.Profile | None,
    ratio: Ratio,
    i: int,
) -> None:
    """Lumen's turn, then the bare run, the bare run in Lumen's shape and the bare run with an async model, about
    one order; run `i` counts after the warm-up."""
    agent, shaped, async_bare = agents
    PLAYBOOK_WORK.take(), BARE_MODEL_WORK.take()
    started, cpu = time.perf_counter(), time.process_time()
    if profiler is not None and i >= WARMUP:
        profiler.enable()
    await lumen.chat(question(node), None)
    if profiler is not None:
        profiler.disable()
    lumen_took, lumen_cpu = time.perf_counter() - started, time.process_time() - cpu
    lumen_model = PLAYBOOK_WORK.take()
    started, cpu = time.perf_counter(), time.process_time()
    await agent.run(question(node), deps=by_number)
    bare_took, bare_cpu = time.perf_counter() - started, time.process_time() - cpu
    bare_model = BARE_MODEL_WORK.take()
    cpu = time.process_time()
    await shaped.run(question(node), deps=by_number)
    shaped_cpu = time.process_time() - cpu
    cpu = time.process_time()
    await async_bare.run(question(node), deps=by_number)
    async_cpu = time.process_time() - cpu
    if i >= WARMUP:
        ratio.lumen_model_s.append(lumen_model)
        ratio.bare_model_s.append(bare_model)
        ratio.lumen_s.append(lumen_took)
        ratio.bare_s.append(bare_took)
        ratio.lumen_cpu_s.append(lumen_cpu)
        ratio.bare_cpu_s.append(bare_cpu)
        ratio.shaped_cpu_s.append(shaped_cpu)
        ratio.async_cpu_s.append(async_cpu)


def _top(profiler: cProfile.Profile, limit: int = 30) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def report(ratio: Ratio) -> list[str]:
    ms = 1000
    return [
        f"  Lumen.chat turn (in process):  median {statistics.median(ratio.lumen_s) * ms:.1f} ms, "
        f"mean {statistics.fmean(ratio.lumen_s) * ms:.1f} ms ({ratio.runs} runs)",
        f"  bare pydantic-ai agent run:    median {statistics.median(ratio.bare_s) * ms:.2f} ms, "
        f"mean {statistics.fmean(ratio.bare_s) * ms:.2f} ms (2 model requests, 1 tool call)",
        f"  Lumen / bare:                  {ratio.median_ratio:.1f}x (medians), {ratio.mean_ratio:.1f}x (means)",
        *_cpu_lines(ratio),
    ]


def _cpu_lines(ratio: Ratio) -> list[str]:
    """The same in CPU time, and the bare agent in Lumen's shape: what the framework alone costs for Lumen's turn."""
    if not (ratio.lumen_cpu_s and ratio.bare_cpu_s and ratio.shaped_cpu_s):
        return []
    runs = (ratio.lumen_cpu_s, ratio.bare_cpu_s, ratio.shaped_cpu_s)
    lumen, bare, shaped = (statistics.fmean(s) * 1000 for s in runs)
    own = [statistics.fmean(s) * 1000 for s in (ratio.lumen_model_s, ratio.bare_model_s) if s]
    less_models = (
        [
            f"  less each model's own work:    Lumen {lumen - own[0]:.1f} ms, bare {bare - own[1]:.2f} ms: "
            f"{(lumen - own[0]) / (bare - own[1]):.1f}x (the playbook model's reading and writing, {own[0]:.1f} ms, "
            f"and the bare model's, {own[1]:.2f} ms: what a request to an LLM would take instead)"
        ]
        if len(own) == 2
        else []
    )
    return [
        f"  CPU per run (mean):            Lumen {lumen:.1f} ms, bare {bare:.2f} ms: {lumen / bare:.1f}x",
        *less_models,
        f"  bare run in Lumen's shape:     {shaped:.2f} ms CPU, {shaped / bare:.2f}x the bare run "
        "(2 model requests, 1 tool call returning the packages too: the framework's share of Lumen's turn)",
        *_async_line(ratio, lumen),
        *(["  Lumen's turn, CPU by component (mean; wrappers installed, so a little slower):"] if ratio.split else []),
        *ratio.split,
    ]


def _async_line(ratio: Ratio, lumen_ms: float) -> list[str]:
    """The bare run with an async model function: the same run without pydantic-ai's worker thread for a plain
    function (Lumen's playbook is async for that reason). The target is read against the bare run above."""
    if not ratio.async_cpu_s:
        return []
    bare = statistics.fmean(ratio.async_cpu_s) * 1000
    return [
        f"  bare run, async model function: {bare:.2f} ms CPU; Lumen / it: {lumen_ms / bare:.1f}x "
        "(no worker thread for the model: the least a bare run can cost)"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile Lumen's turns and print the top costs")
    parser.add_argument("--split", action="store_true", help="Lumen's turn CPU by component (not with --profile)")
    args = parser.parse_args()
    store = build_store(args.orders, args.seed)
    ratio = asyncio.run(measure(store, args.runs, profile=args.profile, split=args.split))
    print("\n".join(report(ratio)))
    if ratio.profile:
        print(ratio.profile)


if __name__ == "__main__":
    main()
