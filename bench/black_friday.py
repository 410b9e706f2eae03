"""Black Friday: `lumen serve` under open-loop load from shoppers, on a Standard-plan Shopify (issue 10, item 5).

What runs, all on this machine over real sockets:
- a synthetic store of 5,000 orders (bench/synthetic_store.py) in the fake Shopify Admin API, at Standard-plan
  limits (2,000-point bucket, 100 points/s), in a process of its own (bench/fake_process.py);
- Lumen as a merchant runs it: `lumen serve --workers 2`, configured from the environment with the app's client
  credentials, SQLite by default (`--postgres`: a throwaway PostgreSQL server, started as the tests start theirs);
- shoppers arriving open-loop (Poisson, or `--arrivals fixed`) at `--rate` conversations a minute for `--duration`
  seconds, each about a different order, each from an address of its own (X-Forwarded-For, as behind a proxy),
  two turns each: the order number and email, then a follow-up. They use the widget's streaming API
  (POST /api/chat/stream, server-sent events); a turn's latency is from the request to the `done` event;
- 5% of the store's orders changed during the run by the fake, with a signed webhook each; `--probes` of them
  (shipped with a new tracking number) are asked about again and again until the new tracking number is in a
  reply: the seconds from the webhook to that reply.

Then it prints the figures, asserts nothing and exits 0. docs/benchmarks.md says how to read each one.

    .venv/bin/python bench/black_friday.py [--quick] [--rate 1000] [--duration 66] [--postgres] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a plain script from a checkout

import httpx  # noqa: E402

from bench import agent_ratio  # noqa: E402
from bench.fake_process import Change, Counters, FakeProcess  # noqa: E402
from bench.proc import cpu_seconds  # noqa: E402
from bench.synthetic_store import CARRIERS, build_store, kind_of  # noqa: E402

ADMIN_TOKEN = "black-friday-bench-admin-token"
MERCHANT = {"Authorization": f"Bearer {ADMIN_TOKEN}"}  # /healthz shows the mirror's counters to the merchant only
SECRET_KEY = "black friday bench: a throwaway key long enough to derive one from"
START_TIMEOUT_S = 90
MIRROR_OFF_S = 20  # a mirror that has not begun its backfill this long after start-up is taken to be off
# Replies made from these prompts/replies.toml entries answer nobody's question: the order system was not reached,
# the turn broke, or the hand-off failed.
FAILURE_REPLIES = (("unavailable", None), ("turn_failed", "text"), ("escalation_failed", "text"))
FIRST_MESSAGES = (
    "Hi, where is my order {ref}? My email is {email}",
    "order {ref} {email}",
    "{email} here, has {ref} shipped yet?",
    "Can you check on {ref} for me? I used {email} at checkout.",
    "Hello! Any news on order {ref}? Email: {email}",
)
REFERENCES = ("{name}", "{bare}", "{digits}", "{dashed}", "order number {bare}")
FOLLOW_UPS = (
    "When will it arrive?",
    "Which carrier is it with?",
    "Can I get the tracking number?",
    "Thanks! Will it make it before the weekend?",
    "ok thanks",
)
CHANGE_MIX = (("ship", 0.6), ("deliver", 0.3), ("cancel", 0.1))
# Lumen's Shopify operations (shopify/client.py, shopify/bulk.py) by what caused them: a conversation's lookup (a live
# search when the mirror missed, the shop, carrier events read for a looked-up order), a change (the confirming read
# of orders webhooks named: batched in a bulk operation and its polls, or a re-read by id), or the mirror's own upkeep
# (reconciliation, a bulk export). Follow-up pages of a large order (LumenLineItems, LumenFulfillment...) can come
# from either side and are counted apart.
ASKED_BY_CONVERSATIONS = ("LumenOrders", "LumenOrderByName", "LumenShop", "LumenOrderEvents")
CONFIRMED_IN_BULK = ("LumenBulkConfirm", "LumenBulkConfirmPoll")
CAUSED_BY_CHANGES = ("LumenOrder", *CONFIRMED_IN_BULK)
UPKEEP = ("LumenOrdersUpdated", "LumenBulkOrders", "LumenBulkOperation")


@dataclass
class Options:
    orders: int = 5000
    seed: int = 7
    rate: float = 1000.0  # conversations a minute
    duration: float = 66.0
    arrivals: str = "poisson"
    workers: int = 2
    postgres: bool = False
    changed: float = 0.05
    probes: int = 20
    probe_interval: float = 1.0
    probe_timeout: float = 30.0
    think: float = 2.0
    request_timeout: float = 60.0
    ratio_runs: int = 200
    profile: bool = False
    keep: bool = False


# --- what one turn and one conversation came to -----------------------------------------------------------------------


@dataclass
class Turn:
    latency: float = 0.0
    first_event: float = 0.0
    status: int = 0
    error: str = ""
    reply: str = ""
    session_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class Conversation:
    node: dict[str, Any]
    first: str
    follow_up: str
    address: str
    turns: list[Turn] = field(default_factory=list)
    verdict: str = ""  # "answered" or why not


def _sse_events(lines: list[str]) -> Iterator[tuple[str, Any]]:
    event, data = "message", list[str]()
    for line in [*lines, ""]:
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


async def chat_turn(
    client: httpx.AsyncClient, message: str, session_id: str | None, address: str, timeout: float
) -> Turn:
    """One turn over the widget's stream: latency to `done`, and to the first event (the `session` event). A turn
    that takes longer than `timeout` in all is abandoned (httpx's own timeouts are per read, and a stream reads
    often)."""
    turn = Turn()
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await _stream_turn(client, {"message": message, "session_id": session_id}, address, turn, started)
    except TimeoutError:
        turn.error = f"no answer within {timeout:g}s"
    except httpx.HTTPError as exc:
        turn.error = type(exc).__name__
    return _timed(turn, started)


async def _stream_turn(
    client: httpx.AsyncClient, body: dict[str, Any], address: str, turn: Turn, started: float
) -> None:
    headers = {"Accept": "text/event-stream", "X-Forwarded-For": address}
    async with client.stream("POST", "/api/chat/stream", json=body, headers=headers) as response:
        turn.status = response.status_code
        if response.status_code != 200:
            await response.aread()
            turn.error = f"HTTP {response.status_code}"
            return
        lines: list[str] = []
        async for line in response.aiter_lines():
            if not turn.first_event:
                turn.first_event = time.monotonic() - started
            lines.append(line)
    _read_stream(turn, lines)


def _timed(turn: Turn, started: float) -> Turn:
    turn.latency = time.monotonic() - started
    return turn


def _read_stream(turn: Turn, lines: list[str]) -> None:
    done = False
    for event, data in _sse_events(lines):
        if event == "session":
            turn.session_id = data.get("session_id", "")
        elif event == "done":
            turn.reply, turn.session_id, done = data.get("reply", ""), data.get("session_id", turn.session_id), True
        elif event == "error":
            turn.error = "stream error event"
    if not done and not turn.error:
        turn.error = "stream ended without done"


# --- the plan: who arrives when, which orders change when -------------------------------------------------------------


def arrival_times(options: Options, rng: random.Random) -> list[float]:
    per_second = options.rate / 60
    if options.arrivals == "fixed":
        return [i / per_second for i in range(int(options.duration * per_second))]
    times, t = [], rng.expovariate(per_second)
    while t < options.duration:
        times.append(t)
        t += rng.expovariate(per_second)
    return times


def reference(node: dict[str, Any], style: str) -> str:
    name = node["name"]
    bare = name.lstrip("#")
    digits = re.sub(r"\D", "", bare)
    letters = re.sub(r"[^A-Za-z]", "", bare)
    return style.format(name=name, bare=bare, digits=digits, dashed=f"{letters.lower()}-{digits}")


def plan_conversations(store: dict[str, Any], count: int, rng: random.Random) -> list[Conversation]:
    nodes = rng.sample(store["orders"], min(count, len(store["orders"])))
    conversations = []
    for i, node in enumerate(nodes):
        first = rng.choice(FIRST_MESSAGES).format(ref=reference(node, rng.choice(REFERENCES)), email=node["email"])
        address = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        conversations.append(Conversation(node, first, rng.choice(FOLLOW_UPS), address))
    return conversations


def plan_changes(store: dict[str, Any], options: Options, rng: random.Random) -> list[tuple[float, Change]]:
    """5% of the store's orders (by default), changed at times spread evenly over the run."""
    by_kind: dict[str, list[dict[str, Any]]] = {"ship": [], "deliver": [], "cancel": []}
    for node in store["orders"]:
        kind = kind_of(node)
        if kind in ("unfulfilled", "on_hold", "scheduled"):
            by_kind["ship"].append(node)
            by_kind["cancel"].append(node)
        elif kind in ("in_transit", "out_for_delivery", "delayed"):
            by_kind["deliver"].append(node)
    count = round(options.changed * len(store["orders"]))
    at = (datetime.fromisoformat(store["asOf"]) - timedelta(minutes=5)).isoformat()
    used: set[str] = set()
    changes: list[tuple[float, Change]] = []
    for i in range(count):
        kind = rng.choices([k for k, _ in CHANGE_MIX], [w for _, w in CHANGE_MIX])[0]
        node = next(n for n in rng.sample(by_kind[kind], len(by_kind[kind])) if n["id"] not in used)
        used.add(node["id"])
        carrier = rng.choice(CARRIERS[node["shippingAddress"]["countryCodeV2"]])
        number = f"BF{carrier.number(rng)}"
        tracking = {"company": carrier.company, "number": number, "url": carrier.url.format(n=number)}
        changes.append((options.duration * (i + 0.5) / max(count, 1), Change(kind, node["id"], tracking, at)))
    return changes


# --- the run ----------------------------------------------------------------------------------------------------------


@dataclass
class Probe:
    node: dict[str, Any]
    tracking: str
    sent: float = 0.0
    seen_after: float | None = None
    asked: int = 0
    error: str = ""


@dataclass
class Run:
    conversations: list[Conversation]
    probes: list[Probe]
    probe_turns: list[Turn] = field(default_factory=list)
    webhook_errors: list[str] = field(default_factory=list)
    changes: int = 0
    started: float = 0.0
    ended: float = 0.0


async def converse(client: httpx.AsyncClient, conversation: Conversation, opt: Options) -> None:
    first = await chat_turn(client, conversation.first, None, conversation.address, opt.request_timeout)
    conversation.turns.append(first)
    if not first.ok or not first.session_id:
        return
    await asyncio.sleep(opt.think)
    follow_up = conversation.follow_up
    conversation.turns.append(
        await chat_turn(client, follow_up, first.session_id, conversation.address, opt.request_timeout)
    )


async def probe(
    client: httpx.AsyncClient, fake: FakeProcess, change: Change, found: Probe, run: Run, opt: Options
) -> None:
    """Change the order, then ask about it until its new tracking number is in a reply (or time runs out)."""
    found.sent, error = await fake.change(change)
    if error:  # Lumen did not take the webhook: the change may still show (a later read, a reconciliation)
        found.error = error
        run.webhook_errors.append(error)
    message = f"Where is my order {found.node['name']}? My email is {found.node['email']}"
    while time.monotonic() - found.sent < opt.probe_timeout:
        found.asked += 1
        address = f"172.16.{len(run.probe_turns) % 250}.{found.asked % 250 + 1}"
        turn = await chat_turn(client, message, None, address, opt.request_timeout)
        run.probe_turns.append(turn)
        if found.tracking in turn.reply:
            found.seen_after = time.monotonic() - found.sent
            return
        await asyncio.sleep(opt.probe_interval)


async def change_only(fake: FakeProcess, change: Change, run: Run) -> None:
    _sent, error = await fake.change(change)
    if error:
        run.webhook_errors.append(error)


async def at(moment: float, work: Any) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))
    await work


def _pick_probes(changes: list[tuple[float, Change]], count: int) -> set[int]:
    ships = [i for i, (_t, change) in enumerate(changes) if change.kind == "ship"]
    step = max(1, len(ships) // max(count, 1))
    return set(ships[::step][:count])


async def drive(client: httpx.AsyncClient, fake: FakeProcess, store: dict[str, Any], opt: Options) -> Run:
    rng = random.Random(opt.seed)
    times = arrival_times(opt, rng)
    conversations = plan_conversations(store, len(times), rng)
    changes = plan_changes(store, opt, rng)
    by_id = {node["id"]: node for node in store["orders"]}
    probed = _pick_probes(changes, opt.probes)
    run = Run(conversations, [], changes=len(changes))
    run.started = start = time.monotonic() + 0.5
    work = [at(start + t, converse(client, c, opt)) for t, c in zip(times, conversations, strict=False)]
    for i, (t, change) in enumerate(changes):
        if i in probed:
            found = Probe(by_id[change.order_id], change.tracking["number"])
            run.probes.append(found)
            work.append(at(start + t, probe(client, fake, change, found, run, opt)))
        else:
            work.append(at(start + t, change_only(fake, change, run)))
    await asyncio.gather(*work)
    run.ended = time.monotonic()
    return run


# --- was each shopper answered? ---------------------------------------------------------------------------------------


def failure_patterns() -> list[re.Pattern[str]]:
    """The replies that answer nobody, as patterns made from prompts/replies.toml ({placeholders} match anything)."""
    replies = tomllib.loads((ROOT / "prompts" / "replies.toml").read_text(encoding="utf-8"))
    patterns = []
    for section, key in FAILURE_REPLIES:
        texts = replies.get(section, {})
        for name, text in texts.items():
            if key is None or name == key:
                parts = re.split(r"\{[a-z_]+\}", text)
                patterns.append(re.compile(".*?".join(re.escape(p) for p in parts)))
    return patterns


def turn_tool_results(transcript: dict[str, Any]) -> list[list[tuple[str, str, str]]]:
    """Per shopper turn, the (tool, status, order_number) of every tool result, in order."""
    turns: list[list[tuple[str, str, str]]] = []
    for message in transcript.get("messages") or []:
        for part in message.get("parts") or []:
            kind = part.get("part_kind")
            if kind == "user-prompt":
                turns.append([])
            elif kind == "tool-return" and turns:
                content = part.get("content") if isinstance(part.get("content"), dict) else {}
                status = str(content.get("status") or "")
                turns[-1].append((str(part.get("tool_name")), status, str(content.get("order_number") or "")))
    return turns


def verdict(conversation: Conversation, transcript: dict[str, Any] | None, failures: list[re.Pattern[str]]) -> str:
    """'answered', or why not: the first turn must show a verified lookup of this order and mention it; no turn may
    fail over HTTP, come back as a failure reply, or see the order system unavailable."""
    if len(conversation.turns) < 2 or not all(t.ok for t in conversation.turns):
        return "http error" if any(not t.ok for t in conversation.turns) else "no follow-up"
    if any(p.search(t.reply) for t in conversation.turns for p in failures):
        return "try again later"
    if transcript is None:
        return "no transcript"
    results = turn_tool_results(transcript)
    if any(status == "unavailable" for turn in results for _tool, status, _n in turn):
        return "order system unavailable"
    wanted = conversation.node["name"].lstrip("#").upper()
    first = results[0] if results else []
    if not any(t == "find_order" and s == "verified" and n.lstrip("#").upper() == wanted for t, s, n in first):
        statuses = ",".join(sorted({s for _t, s, _n in first})) or "no lookup"
        return f"not verified ({statuses})"
    if re.sub(r"\D", "", wanted) not in conversation.turns[0].reply:
        return "reply does not name the order"
    return "answered"


async def read_transcript(client: httpx.AsyncClient, session: str, tries: int = 3) -> dict[str, Any] | None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for attempt in range(tries):
        try:
            response = await client.get(f"/api/admin/conversations/{session}", headers=headers)
        except httpx.TransportError:
            await asyncio.sleep(0.2 * (attempt + 1))
            continue
        if response.status_code == 200:
            transcript: dict[str, Any] = response.json()
            return transcript
    return None


async def judge(client: httpx.AsyncClient, conversations: list[Conversation]) -> None:
    failures = failure_patterns()
    gate = asyncio.Semaphore(8)

    async def one(conversation: Conversation) -> None:
        session = conversation.turns[0].session_id if conversation.turns else ""
        transcript = None
        if session:
            async with gate:
                transcript = await read_transcript(client, session)
        conversation.verdict = verdict(conversation, transcript, failures)

    await asyncio.gather(*(one(c) for c in conversations))


# --- Lumen, as a merchant starts it -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lumen_command() -> list[str]:
    script = Path(sys.executable).parent / "lumen"
    return [str(script)] if script.exists() else [sys.executable, "-c", "import cli, sys; sys.exit(cli.main())"]


def lumen_env(fake: FakeProcess, database_url: str, port: int, as_of: str) -> dict[str, str]:
    assert fake.info is not None
    # Nothing of the caller's own Lumen or Shopify configuration leaks in; the cwd has no .env either.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUMEN_", "SHOPIFY_", "OPENAI_"))}
    env.update(
        SHOPIFY_SHOP=fake.info.shop_domain,
        SHOPIFY_CLIENT_ID=fake.info.client_id,
        SHOPIFY_CLIENT_SECRET=fake.info.client_secret,
        SHOPIFY_SHOP_URL=fake.info.base_url,
        LUMEN_DATABASE_URL=database_url,
        LUMEN_ADMIN_TOKEN=ADMIN_TOKEN,
        LUMEN_SECRET_KEY=SECRET_KEY,
        LUMEN_PUBLIC_URL=f"http://127.0.0.1:{port}",
        LUMEN_NOW=as_of,
        LUMEN_MODEL="playbook",
        LUMEN_HOST="127.0.0.1",
        LUMEN_PORT=str(port),
    )
    return env


@contextlib.contextmanager
def lumen_server(workdir: Path, env: dict[str, str], workers: int) -> Iterator[subprocess.Popen[bytes]]:
    log = (workdir / "lumen.log").open("wb")
    command = [*lumen_command(), "serve", "--workers", str(workers)]
    process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)  # uvicorn's graceful stop, workers included
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def wait_healthy(client: httpx.AsyncClient, process: subprocess.Popen[bytes], log: Path) -> dict[str, Any]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lumen serve exited ({process.returncode}):\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            response = await client.get("/healthz", headers=MERCHANT)
            if response.status_code == 200:
                health: dict[str, Any] = response.json()
                return health
        await asyncio.sleep(0.25)
    raise RuntimeError(f"lumen serve did not answer /healthz in {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


async def wait_mirror(client: httpx.AsyncClient, health: dict[str, Any], timeout: float) -> dict[str, Any]:
    """When Lumen keeps an order mirror (issue 10), wait until it is live before shoppers arrive. A mirror reads "off"
    until its first backfill starts: "off" is taken for no mirror only once it has stayed so for `MIRROR_OFF_S`."""
    started = time.monotonic()
    while "order_sync" in health:
        sync = health["order_sync"] or {}
        elapsed = time.monotonic() - started
        if sync.get("state") == "live" or elapsed > timeout:
            break
        if sync.get("state") == "off" and not sync.get("orders") and elapsed > MIRROR_OFF_S:
            break
        await asyncio.sleep(0.5)
        health = (await client.get("/healthz", headers=MERCHANT)).json()  # the mirror's counts are the merchant's
    return health


# --- PostgreSQL, as the tests start it --------------------------------------------------------------------------------


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary directory (tests/postgres.py's Cluster), its URL, and gone afterwards."""
    import pwd

    from tests.postgres import DATABASE, ROLE, SERVER_USER, Cluster, find_bin_dir

    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise SystemExit("--postgres needs PostgreSQL's server programs: `make postgres` installs them")
    as_user = SERVER_USER if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="lumen-bench-pg-"))
    if as_user:
        account = pwd.getpwnam(as_user)
        os.chown(root, account.pw_uid, account.pw_gid)
    cluster = Cluster(bin_dir=bin_dir, root=root, as_user=as_user)
    try:
        cluster.init()
        cluster.start()
        cluster.run("createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", ROLE, DATABASE)
        yield cluster.url(DATABASE)
    finally:
        with contextlib.suppress(RuntimeError):
            if (cluster.data / "postmaster.pid").exists():
                cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- figures ----------------------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> str:
    """The q-quantile in seconds, as text ('-' when there is nothing to measure)."""
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]:.2f}s"


@dataclass
class Usage:
    counters: Counters
    lumen_cpu: float
    fake_cpu: float
    bench_cpu: float


def bench_cpu() -> float:
    times = os.times()
    return times.user + times.system


def print_figures(run: Run, before: Usage, after: Usage, health: dict[str, Any], opt: Options) -> None:
    conversations = run.conversations
    turns = [t for c in conversations for t in c.turns]
    all_turns = turns + run.probe_turns
    verdicts = Counter(c.verdict for c in conversations)
    answered = verdicts["answered"]
    errors = Counter(t.error for t in all_turns if t.error)
    wall = run.ended - run.started
    cores = os.cpu_count() or 1
    points = after.counters.points - before.counters.points
    asked = len(conversations) + sum(p.asked for p in run.probes)
    lumen_cpu = after.lumen_cpu - before.lumen_cpu
    # A turn abandoned at the timeout took at least that long: it counts, or a collapse would show no latency at all.
    abandoned = sum(t.error.startswith("no answer") for t in turns)
    latencies = [t.latency for t in turns if t.ok or t.error.startswith("no answer")]
    print("Black Friday")
    print(f"  conversations:                 {len(conversations)} ({len(turns)} turns) in {wall:.1f}s; "
          f"offered {opt.rate:g}/min, {opt.arrivals} arrivals; plus {len(run.probe_turns)} probe turns")  # fmt: skip
    print(f"  answered:                      {answered}/{len(conversations)} = {_share(answered, len(conversations))}")
    for why, n in verdicts.most_common():
        if why != "answered":
            print(f"    not answered, {why}: {n}")
    print(f"  HTTP errors:                   {sum(errors.values())} of {len(all_turns)} turns  {dict(errors) or ''}")
    print(f"  turn latency p50/p95/p99:      {pct(latencies, 0.5)} / {pct(latencies, 0.95)} / "
          f"{pct(latencies, 0.99)} (max {pct(latencies, 1)}"
          f"{f'; {abandoned} abandoned at {opt.request_timeout:g}s count as that' if abandoned else ''})")  # fmt: skip
    first_events = [t.first_event for t in turns if t.ok and t.first_event]
    print(f"  first stream event p50/p95:    {pct(first_events, 0.5)} / {pct(first_events, 0.95)}")
    print(f"  Shopify points/conversation:   {points / max(asked, 1):.1f} ({points:.0f} points, {asked} lookups asked "
          f"for; {after.counters.queries - before.counters.queries} queries, "
          f"{after.counters.throttled - before.counters.throttled} throttled)")  # fmt: skip
    print_points_by_cause(before.counters, after.counters, asked, run.changes)
    done = sum(t.ok for t in all_turns)
    print(f"    by query:                    {_by_kind(before.counters, after.counters)}")
    print(f"  turns/s per core:              {done / wall / cores:.1f} ({done} turns answered in {wall:.1f}s on "
          f"{cores} cores); Lumen used {lumen_cpu:.1f} CPU-s: {done / max(lumen_cpu, 1e-9):.1f} answered turns per "
          f"CPU-second")  # fmt: skip
    print(f"  CPU seconds in the run:        Lumen {lumen_cpu:.1f}, fake Shopify {after.fake_cpu - before.fake_cpu:.1f}"
          f", load generator {after.bench_cpu - before.bench_cpu:.1f}")  # fmt: skip
    print_probes(run, opt, health)
    print(f"  before shoppers arrived:       {before.counters.points:.0f} Shopify points in {before.counters.queries} "
          f"queries (start-up, and the mirror's backfill if any)")  # fmt: skip
    sync = health.get("order_sync")
    print(f"  order mirror:                  {json.dumps(sync) if sync else 'none (Lumen asks Shopify per lookup)'}")


def _spent(before: Counters, after: Counters, names: tuple[str, ...] | None) -> tuple[float, float]:
    """Queries and points of these operations in the window (None: every operation not in a named group)."""
    named = set(ASKED_BY_CONVERSATIONS + CAUSED_BY_CHANGES + UPKEEP)
    queries = points = 0.0
    for name, (n, spent) in after.by_operation.items():
        if (name in names) if names is not None else (name not in named):
            was = before.by_operation.get(name, [0, 0])
            queries, points = queries + n - was[0], points + spent - was[1]
    return queries, points


def print_points_by_cause(before: Counters, after: Counters, conversations: int, changes: int) -> None:
    """The points split by what caused them: the conversations themselves, and the orders that changed."""
    asked_q, asked_p = _spent(before, after, ASKED_BY_CONVERSATIONS)
    events_q, events_p = _spent(before, after, ("LumenOrderEvents",))
    changed_q, changed_p = _spent(before, after, CAUSED_BY_CHANGES)
    upkeep_q, upkeep_p = _spent(before, after, UPKEEP)
    other_q, other_p = _spent(before, after, None)
    per = asked_p / max(conversations, 1)
    print(f"    asked by conversations:      {per:.2f}/conversation ({asked_p:.0f} points in {asked_q:.0f} queries; "
          f"of them carrier events read on lookup: {events_q:.0f} queries, {events_p:.0f} points)")  # fmt: skip
    bulk_q, bulk_p = _spent(before, after, CONFIRMED_IN_BULK)
    print(f"    caused by changed orders:    {changed_p / max(changes, 1):.2f}/webhook ({changed_p:.0f} points in "
          f"{changed_q:.0f} queries, for {changes} orders changed by webhook: {bulk_p:.0f} points in {bulk_q:.0f} "
          f"confirming bulk operations and polls, {changed_p - bulk_p:.0f} in {changed_q - bulk_q:.0f} re-reads "
          f"by id)")  # fmt: skip
    print(f"    mirror upkeep, other:        {upkeep_p:.0f} points in {upkeep_q:.0f} queries (reconciliation, bulk); "
          f"{other_p:.0f} points in {other_q:.0f} follow-up pages")  # fmt: skip


def _by_kind(before: Counters, after: Counters) -> str:
    """Queries and points per root field during the window, most points first."""
    spent = {
        kind: (n - before.by_kind.get(kind, [0, 0])[0], points - before.by_kind.get(kind, [0, 0])[1])
        for kind, (n, points) in after.by_kind.items()
    }
    shown = sorted(((k, v) for k, v in spent.items() if v[0]), key=lambda item: -item[1][1])
    return ", ".join(f"{kind} {n:.0f} queries/{points:.0f} points" for kind, (n, points) in shown) or "none"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def print_probes(run: Run, opt: Options, health: dict[str, Any]) -> None:
    seen = [p.seen_after for p in run.probes if p.seen_after is not None]
    print(f"  webhook -> reply:              p50 {pct(seen, 0.5)}, max {pct(seen, 1)}; "
          f"seen {len(seen)}/{len(run.probes)} probed orders within {opt.probe_timeout:g}s "
          f"({sum(p.asked for p in run.probes)} asks)")  # fmt: skip
    sync = health.get("order_sync") or {}
    if "apply_lag_p50_s" in sync:
        p50, worst = sync["apply_lag_p50_s"], sync["apply_lag_max_s"]
        print(f"    of which webhook -> mirror:  p50 {p50:.2f}s, max {worst:.2f}s "
              f"(from Lumen taking a webhook to its payload in the mirror; one worker's, of "
              f"{sync.get('applied', 0)} applied); the rest is the probe's own turn")  # fmt: skip
    print(f"  webhooks sent:                 {run.changes} orders changed, {len(run.webhook_errors)} deliveries failed"
          f"{' (' + run.webhook_errors[0] + ')' if run.webhook_errors else ''}")  # fmt: skip


def print_machine(label: str) -> None:
    load = os.getloadavg()
    print(f"  machine ({label}):{' ' * (20 - len(label))}{os.cpu_count()} cores, load average "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}")  # fmt: skip


# --- main -------------------------------------------------------------------------------------------------------------


async def usage(fake: FakeProcess, server: subprocess.Popen[bytes]) -> Usage:
    return Usage(await fake.counters(), cpu_seconds(server.pid), fake.cpu_seconds(), bench_cpu())


async def load_test(opt: Options, store: dict[str, Any], workdir: Path, database_url: str) -> None:
    store_path = workdir / "store.json"
    store_path.write_text(json.dumps(store), encoding="utf-8")
    fake = FakeProcess(str(store_path), bucket_size=2000, restore_rate=100, log_path=str(workdir / "shopify.log"))
    fake.start()
    port = free_port()
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends them: a request sent on a connection the
    # server is closing would fail on the client's side and be counted against Lumen.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=200, keepalive_expiry=2.0)
    timeout = httpx.Timeout(opt.request_timeout, connect=10)
    try:
        with lumen_server(workdir, lumen_env(fake, database_url, port, store["asOf"]), opt.workers) as server:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout) as client:
                fake.set_webhook_target(f"{base}/webhooks/shopify")
                started = time.monotonic()
                health = await wait_mirror(client, await wait_healthy(client, server, workdir / "lumen.log"), 120)
                print(f"  lumen serve:                   {opt.workers} workers, up (and mirror ready, if any) in "
                      f"{time.monotonic() - started:.1f}s; database {database_url.split(':')[0]}")  # fmt: skip
                before = await usage(fake, server)
                run = await drive(client, fake, store, opt)
                after = await usage(fake, server)
                judged = time.monotonic()
                await judge(client, run.conversations)
                health = (await client.get("/healthz", headers=MERCHANT)).json()
        print_figures(run, before, after, health, opt)
        print(f"  (transcripts read and judged in {time.monotonic() - judged:.1f}s)")
    finally:
        fake.stop()


async def main(opt: Options) -> None:
    print_machine("before")
    store = build_store(opt.orders, opt.seed)
    workdir = Path(tempfile.mkdtemp(prefix="lumen-black-friday-"))
    try:
        if opt.postgres:
            with throwaway_postgres() as url:
                await load_test(opt, store, workdir, url)
        else:
            await load_test(opt, store, workdir, f"sqlite:///{workdir / 'lumen.db'}")
        print_machine("after the load")
        if opt.ratio_runs > 0:  # `--ratio-runs 0` skips the in-process comparison
            print("Lumen's turn vs a bare pydantic-ai agent (in this process, after the load)")
            ratio = await agent_ratio.measure(store, opt.ratio_runs, profile=opt.profile, workdir=workdir)
            print("\n".join(agent_ratio.report(ratio)))
            if ratio.profile:
                print(ratio.profile)
    finally:
        if opt.keep:
            print(f"  kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--quick", action="store_true", help="20 s of load, 5 probes, 50 ratio runs: a smoke run")
    add("--orders", type=int, default=5000, help="orders in the synthetic store (default 5000)")
    add("--seed", type=int, default=7)
    add("--rate", type=float, default=1000, help="conversations a minute (default 1000)")
    add("--duration", type=float, default=66, help="seconds of arrivals (default 66: about 1,100 conversations)")
    add("--arrivals", choices=("poisson", "fixed"), default="poisson")
    add("--workers", type=int, default=2, help="lumen serve --workers (default 2)")
    add("--postgres", action="store_true", help="a throwaway PostgreSQL server instead of a SQLite file")
    add("--changed", type=float, default=0.05, help="share of the store's orders changed by webhooks (default 0.05)")
    add("--probes", type=int, default=20, help="changed orders asked about until the change shows (default 20)")
    add("--probe-interval", type=float, default=1.0)
    add("--probe-timeout", type=float, default=30.0)
    add("--think", type=float, default=2.0, help="seconds a shopper takes before the follow-up (default 2)")
    add("--request-timeout", type=float, default=60.0)
    add("--ratio-runs", type=int, default=200, help="in-process Lumen turns and bare agent runs, each (default 200)")
    add("--profile", action="store_true", help="cProfile the in-process Lumen turns and print the top costs")
    add("--keep", action="store_true", help="keep the working directory (store, database, server log)")
    args = parser.parse_args(argv)
    options = Options(**{k: v for k, v in vars(args).items() if k != "quick"})
    if args.quick:
        options.duration = min(options.duration, 20)
        options.probes, options.ratio_runs = min(options.probes, 5), min(options.ratio_runs, 50)
    return options


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
