"""Several workers on one database: what `lumen serve --workers N` runs, tried here with several engines (and several
services) in one process, and once with real worker processes.

- writes from three workers (engines in one process, and real processes) to one SQLite file never fail ("database is
  locked") and never lose an update;
- 200 chat requests at once, served by two workers, get no 5xx, on SQLite and PostgreSQL;
- two services serving the same conversation at once run its turns one at a time and lose no message;
- a conversation's lease is taken atomically, renewed by its holder, and taken over once its holder is gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from asyncio.subprocess import PIPE
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest, UserPromptPart

import cli
import server
import serving
import storage.database
from agent.service import Lumen
from config import Settings
from storage import Database
from storage.conversations import TURN_LEASE, TURN_RENEW_S, RenewalTimers
from storage.schema import conversation_locks, settings
from tests.fixtures import Clock
from tests.server_helpers import make_settings

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 3
PROCESS_WRITES = 100  # per worker process, of each kind (a tenth of them also a write through SQLAlchemy)
COUNTER_KEY = "counter"
WRITES_PER_KIND = 250  # five kinds of write: 1,250 in all
REQUESTS = 200
SHARED_TURNS = 12
SPLIT = "where is order 1042? jordan.lee@example.com"


# --- SQLite: several writers, one file -------------------------------------------------------------------------------


async def _increment(database: Database, key: str) -> None:
    """Read a number and write it back plus one, in one transaction: the write a deferred SQLite transaction gets
    wrong (it fails with "database is locked", or, without a transaction, loses updates)."""
    async with database.begin() as conn:
        current = (await conn.execute(sa.select(settings.c.value_json).where(settings.c.key == key))).scalar_one()
        await conn.execute(
            sa.update(settings).where(settings.c.key == key).values(value_json=json.dumps(json.loads(current) + 1))
        )


async def test_three_workers_write_one_sqlite_file_at_once_without_an_error(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'lumen.db'}"
    workers = [Database(url, clock=clock) for _ in range(WORKERS)]
    for database in workers:
        await database.connect()
    await workers[0].put_setting("counter", 0)  # type: ignore[arg-type]  # a bare JSON number, for the counter
    writes: list[Awaitable[Any]] = []
    for i in range(WRITES_PER_KIND):
        database = workers[i % WORKERS]
        writes += [
            database.create_conversation(f"c{i}"),
            database.save_conversation(
                f"c{i % 50}", messages_json="[]", state_json="{}", verified_lookups=i, escalated=False, model=None
            ),
            database.record_attempts([f"order:{i}", "ip:203.0.113.9"]),
            database.remember_webhook(f"evt-{i}", "orders/updated"),
            _increment(database, "counter"),
        ]
    try:
        results = await asyncio.gather(*writes, return_exceptions=True)
        errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        assert errors == []
        reader = workers[1]
        assert await reader.get_setting("counter") == WRITES_PER_KIND  # type: ignore[comparison-overlap]
        assert await reader.count_conversations() == WRITES_PER_KIND
        counted = await reader.count_attempts(["ip:203.0.113.9"], since=clock.now)
        assert counted == {"ip:203.0.113.9": WRITES_PER_KIND}
        assert await reader.remember_webhook(f"evt-{WRITES_PER_KIND - 1}", "orders/updated") is False
    finally:
        for database in workers:
            await database.close()


async def test_sqlite_transactions_write_immediately_and_reads_defer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write transaction holds SQLite's write lock from its first statement; a read never takes it."""
    url = f"sqlite:///{tmp_path / 'lumen.db'}"
    async with Database(url) as first:
        monkeypatch.setattr(storage.database, "SQLITE_BUSY_TIMEOUT_MS", 0)  # the other worker does not wait
        async with Database(url) as second, first.begin():
            # `first` has written nothing yet, but another worker cannot start writing.
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                async with second.begin():
                    pass
            async with second.read() as conn:  # a reader is never held up
                assert (await conn.execute(sa.select(sa.func.count()).select_from(settings))).scalar_one() == 0
        async with second.begin():  # once `first` is done, it can
            pass


async def _line(stream: asyncio.StreamReader | None) -> str:
    assert stream is not None
    return (await stream.readline()).decode().strip()


async def test_worker_processes_write_one_sqlite_file_at_once_and_none_is_refused(tmp_path: Path) -> None:
    """Real processes (each its own engine, write lock and event loop), held at BEGIN by another process's write
    transaction and then writing at once through `Engine.writing` and `Engine.begin`: every write lands (no lost
    update of a counter read and written in one transaction) and none fails with "database is locked"."""
    path = tmp_path / "lumen.db"
    url = f"sqlite:///{path}"
    async with Database(url) as db:  # the schema, before the workers start
        await db.put_setting(COUNTER_KEY, 0)  # type: ignore[arg-type]  # a bare JSON number, for the counter
    command = [sys.executable, "-m", "tests.sqlite_writer", url]
    workers = [
        await asyncio.create_subprocess_exec(
            *command, f"w{n}", str(PROCESS_WRITES), cwd=ROOT, stdin=PIPE, stdout=PIPE, stderr=PIPE
        )
        for n in range(WORKERS)
    ]
    try:
        assert [await _line(w.stdout) for w in workers] == ["ready"] * WORKERS
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing as they start: each waits for it
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        assert [await _line(w.stdout) for w in workers] == ["blocked"] * WORKERS
        holder.rollback()
        holder.close()
        ended = [await w.communicate() for w in workers]
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert [(w.returncode, err.decode()) for w, (_out, err) in zip(workers, ended, strict=True)] == [(0, "")] * WORKERS
    assert all(out.decode().startswith("done ") for out, _err in ended)
    async with Database(url) as db:
        assert await db.get_setting(COUNTER_KEY) == WORKERS * PROCESS_WRITES  # type: ignore[comparison-overlap]
        async with db.read() as conn:
            leases = (await conn.execute(sa.select(sa.func.count()).select_from(conversation_locks))).scalar_one()
        assert leases == WORKERS * PROCESS_WRITES


# --- HTTP: 200 requests at once, two workers ------------------------------------------------------------------------


async def _post(app: Any, i: int, body: dict[str, Any]) -> httpx.Response:
    # A client address per request, as from many shoppers (per-address limits are not what is tried here).
    transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{i % 250 + 1}", 40000 + i))
    async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test", timeout=120) as client:
        return await client.post("/api/chat", json=body)


@pytest.fixture
async def two_workers(database_url: str, tmp_path: Path) -> AsyncIterator[list[Any]]:
    """Two apps, each with its own service and engine, on one database: two `lumen serve` workers."""
    config = make_settings(tmp_path, lumen_database_url=database_url)
    apps = [server.create_app(config) for _ in range(2)]
    async with AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        yield apps


async def test_200_requests_at_once_on_two_workers_get_no_5xx(two_workers: list[Any]) -> None:
    # Half start conversations; the other half continue 50 open ones, two messages each, one to each worker.
    opened = await asyncio.gather(*(_post(two_workers[i % 2], i, {"message": SPLIT}) for i in range(50)))
    sessions = [response.json()["session_id"] for response in opened]
    starts = [{"message": SPLIT} for _ in range(REQUESTS // 2)]
    follow_ups = [{"message": f"when will it arrive? ({n})", "session_id": s} for s in sessions for n in range(2)]
    bodies = starts + follow_ups
    responses = await asyncio.gather(*(_post(two_workers[i % 2], i, body) for i, body in enumerate(bodies)))

    statuses = [response.status_code for response in responses]
    assert [s for s in statuses if s >= 500] == []
    assert statuses == [200] * REQUESTS
    lumen: Lumen = two_workers[0].state.lumen
    assert await lumen.db.count_conversations() == len(sessions) + len(starts)
    for session_id in sessions:  # both follow-ups of every conversation were kept
        prompts = _prompts(await _messages(lumen, session_id))
        assert prompts[0] == SPLIT and sorted(prompts[1:]) == [f"when will it arrive? ({n})" for n in range(2)]


# --- one conversation, two workers ----------------------------------------------------------------------------------


async def _messages(lumen: Lumen, session_id: str) -> list[Any]:
    row = await lumen.db.get_conversation(session_id)
    assert row is not None
    return list(ModelMessagesTypeAdapter.validate_json(row.messages_json))


def _prompts(messages: list[Any]) -> list[str]:
    return [
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart) and isinstance(part.content, str)
    ]


class TurnWatch:
    """Counts the turns running at once on any of the services it watches (from reading the conversation to saving
    it), and keeps the most seen."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0

    def watch(self, lumen: Lumen) -> None:
        prepare: Callable[..., Awaitable[Any]] = lumen._prepare
        save: Callable[..., Awaitable[None]] = lumen._save

        async def prepared(*args: Any, **kwargs: Any) -> Any:
            self.running += 1
            self.most = max(self.most, self.running)
            return await prepare(*args, **kwargs)

        async def saved(*args: Any, **kwargs: Any) -> None:
            try:
                await save(*args, **kwargs)
            finally:
                self.running -= 1

        lumen._prepare = prepared  # type: ignore[method-assign]
        lumen._save = saved  # type: ignore[method-assign]


async def test_two_services_on_one_conversation_run_its_turns_one_at_a_time(database_url: str, tmp_path: Path) -> None:
    config = make_settings(tmp_path, lumen_database_url=database_url)
    services = [await Lumen.create(config), await Lumen.create(config)]
    try:
        first = await services[0].chat(SPLIT)
        watch = TurnWatch()
        for service in services:
            watch.watch(service)
        sent = [f"and the second package? ({n})" for n in range(SHARED_TURNS)]
        turns = await asyncio.gather(
            *(services[n % 2].chat(message, first.session_id) for n, message in enumerate(sent))
        )
        assert {turn.session_id for turn in turns} == {first.session_id}
        assert watch.most == 1
        prompts = _prompts(await _messages(services[1], first.session_id))
        assert prompts[0] == SPLIT and sorted(prompts[1:]) == sorted(sent)  # every message kept, once
        async with services[0].db.read() as conn:  # and every lease given back
            assert (await conn.execute(sa.select(sa.func.count()).select_from(conversation_locks))).scalar_one() == 0
    finally:
        for service in services:
            await service.close()


async def test_a_message_sent_while_a_new_conversation_streams_its_first_turn_waits_for_it(
    database_url: str, tmp_path: Path
) -> None:
    """The stream names a new conversation before its first turn ends: a quick second message, reaching another
    worker, waits for that turn."""
    config = make_settings(tmp_path, lumen_database_url=database_url)
    services = [await Lumen.create(config), await Lumen.create(config)]
    try:
        watch = TurnWatch()
        for service in services:
            watch.watch(service)
        stream = services[0].chat_stream(SPLIT)
        opened = await anext(stream)
        assert opened["type"] == "session"
        second = asyncio.create_task(services[1].chat("when will it arrive?", opened["session_id"]))
        events = [event async for event in stream]
        assert events[-1]["type"] == "done"
        await second
        assert watch.most == 1
        assert _prompts(await _messages(services[0], opened["session_id"])) == [SPLIT, "when will it arrive?"]
    finally:
        for service in services:
            await service.close()


# --- the lease --------------------------------------------------------------------------------------------------------


@pytest.fixture
def store(database: Database) -> Database:
    return database


async def test_a_lease_is_one_holders_until_it_expires(store: Database, clock: Clock) -> None:
    assert await store.claim_turn("c1", "worker-a")
    assert not await store.claim_turn("c1", "worker-b")
    assert await store.claim_turn("c2", "worker-b")  # other conversations are free
    clock.advance(seconds=TURN_LEASE.total_seconds() - 1)
    assert await store.claim_turn("c1", "worker-a")  # its holder renews it ...
    clock.advance(seconds=TURN_LEASE.total_seconds() - 1)
    assert not await store.claim_turn("c1", "worker-b")  # ... so it still holds
    clock.advance(seconds=1)
    assert await store.claim_turn("c1", "worker-b")  # a holder that stopped renewing (a dead worker) loses it
    await store.release_turn("c1", "worker-a")  # and giving back a lease it lost changes nothing
    assert not await store.claim_turn("c1", "worker-a")
    await store.release_turn("c1", "worker-b")
    assert await store.claim_turn("c1", "worker-a")


async def test_claims_at_once_give_the_lease_to_exactly_one(store: Database) -> None:
    claims = await asyncio.gather(*(store.claim_turn("c1", f"worker-{n}") for n in range(20)))
    assert claims.count(True) == 1


async def test_a_turn_after_a_dead_workers_lease_expires_goes_ahead(store: Database, clock: Clock) -> None:
    assert await store.claim_turn("c1", "dead worker")
    clock.advance(seconds=TURN_LEASE.total_seconds())
    async with store.conversation_turn("c1"):
        assert not await store.claim_turn("c1", "dead worker")
    assert await store.claim_turn("c1", "next")  # released at the end of the block


async def test_a_cancelled_turn_gives_its_lease_back(store: Database) -> None:
    entered = asyncio.Event()

    async def turn() -> None:
        async with store.conversation_turn("c1"):
            entered.set()
            await asyncio.Event().wait()  # until cancelled, as when a client goes away mid-stream

    task = asyncio.create_task(turn())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.claim_turn("c1", "next")


# --- real worker processes --------------------------------------------------------------------------------------------


def test_serve_passes_workers_to_uvicorn_and_keeps_a_memory_database_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append({"app": app, **kwargs}))
    monkeypatch.setenv("LUMEN_DATABASE_URL", "sqlite:///lumen.db")
    assert cli.main(["serve", "--workers", "3"]) == 0
    assert cli.main(["serve"]) == 0
    monkeypatch.setenv("LUMEN_DATABASE_URL", "sqlite:///:memory:")
    assert cli.main(["serve", "--workers", "3"]) == 0
    assert [(c["app"], c["factory"], c["workers"]) for c in calls] == [
        ("cli:app", True, 3),
        ("cli:app", True, os.cpu_count() or 1),
        ("cli:app", True, 1),
    ]
    with pytest.raises(SystemExit):
        cli.main(["serve", "--workers", "0"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int, body: dict[str, Any], deadline: float) -> httpx.Response:
    """The first answer from the server; while it starts (each worker migrates and opens its database) it refuses."""
    while True:
        try:
            # Each worker process trains the playbook's reader at its first answer: 81 s for one `lumen chat` on this
            # loaded 2-core machine, longer for two at once. A hang guard, not a latency check.
            return httpx.post(f"http://127.0.0.1:{port}/api/chat", json=body, timeout=600)
        except httpx.ConnectError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_lumen_serve_with_two_worker_processes_shares_conversations(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUMEN_", "SHOPIFY_", "OPENAI_"))}
    env |= {"LUMEN_DATABASE_URL": f"sqlite:///{tmp_path / 'lumen.db'}", "LUMEN_MODEL": "playbook"}
    command = [sys.executable, "-m", "cli", "serve", "--workers", "2", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # A generous start-up allowance, not a latency check: on a loaded 2-core machine two workers took 52 s.
        first = _answers(port, {"message": "where is my order?"}, time.monotonic() + 240)
        assert first.status_code == 200, first.text
        session_id = first.json()["session_id"]
        # Each request is a new connection: the parent hands it to either worker, and both know the conversation.
        replies = [
            _answers(port, {"message": m, "session_id": session_id}, 0) for m in ("1042", "jordan.lee@example.com")
        ]
        assert [r.status_code for r in replies] == [200, 200]
        assert "9400111899223197428490" in replies[-1].json()["reply"]
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=120)
    assert output.count("Started server process") == 2, output


async def test_a_workers_app_serves_the_store_serve_was_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith(("LUMEN_", "SHOPIFY_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LUMEN_DATABASE_URL", f"sqlite:///{tmp_path / 'lumen.db'}")
    monkeypatch.setenv("LUMEN_MODEL", "playbook")
    monkeypatch.setenv(cli.SERVE_STORE_ENV, str(ROOT / "tests" / "data" / "second-store.json"))
    frozen: list[bool] = []
    # Recorded, not done: frozen, this test process's objects would never be collected (`freeze_startup_heap`).
    monkeypatch.setattr(serving.gc, "freeze", lambda: frozen.append(True))
    app = cli.app()
    assert not frozen
    async with app.router.lifespan_context(app):
        # A worker's app freezes what its startup built, once, after the service is created.
        assert frozen == [True] and app.state.lumen is not None
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as client:
            assert (await client.get("/healthz")).json()["store"] == "Fjord & Fell Outdoor Co."
    assert frozen == [True]


async def test_an_app_of_the_tests_or_a_host_process_leaves_the_collector_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frozen: list[bool] = []
    monkeypatch.setattr(serving.gc, "freeze", lambda: frozen.append(True))
    settings = Settings(_env_file=None, lumen_database_url=f"sqlite:///{tmp_path / 'lumen.db'}", lumen_model="playbook")
    app = server.create_app(settings)
    async with app.router.lifespan_context(app):
        assert app.state.lumen is not None
    assert frozen == []


# --- a long turn renews its lease -------------------------------------------------------------------------------------


class HandTimers:
    """The lease's renewal timers, fired by hand (`RenewalTimers`): no time passes but the test's clock."""

    def __init__(self) -> None:
        self.started: list[tuple[float, Callable[[], None], list[bool]]] = []  # (delay, callback, [cancelled])
        self.pauses: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    def later(self, delay_s: float, callback: Callable[[], None]) -> Any:
        cancelled = [False]
        self.started.append((delay_s, callback, cancelled))

        class Handle:
            def cancel(self) -> None:
                cancelled[0] = True

        return Handle()

    async def pause(self, delay_s: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pauses.put_nowait((delay_s, woken))
        await woken

    def timers(self) -> RenewalTimers:
        return RenewalTimers(later=self.later, pause=self.pause)


async def test_a_turn_longer_than_its_lease_renews_it_so_no_other_worker_takes_it(
    store: Database, clock: Clock
) -> None:
    hand = HandTimers()
    store.renewal_timers = hand.timers()
    lease_s = TURN_LEASE.total_seconds()
    async with store.conversation_turn("c1"):  # at 0 s: held until 30 s
        [(delay, start_renewing, _cancelled)] = hand.started
        assert delay == TURN_RENEW_S
        clock.advance(seconds=TURN_RENEW_S)
        start_renewing()  # at 10 s: held until 40 s
        pause, wake = await hand.pauses.get()
        assert pause == TURN_RENEW_S
        clock.advance(seconds=lease_s + 1 - TURN_RENEW_S)
        assert not await store.claim_turn("c1", "worker-b")  # at 31 s, past the first lease
        wake.set_result(None)  # at 31 s: held until 61 s
        _pause, wake = await hand.pauses.get()
        clock.advance(seconds=lease_s - 1)
        assert not await store.claim_turn("c1", "worker-b")  # at 60 s, past the renewed lease of 10 s
    assert wake.cancelled()  # no renewal after the turn (it would take the lease again)
    assert await store.claim_turn("c1", "worker-b")  # given back as the turn ended


async def test_a_short_turn_never_starts_renewing(store: Database) -> None:
    hand = HandTimers()
    store.renewal_timers = hand.timers()
    async with store.conversation_turn("c1"):
        pass
    [(_delay, _start, cancelled)] = hand.started
    assert cancelled == [True] and hand.pauses.empty()
