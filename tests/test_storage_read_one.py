"""`Engine.read_one`: a prepared read that, on a SQLite file, runs on the writers' connection while no transaction is
open there. It must give what a read on the readers' connection (`Engine.reading`) gives, never see a transaction
under way, and a read there that finds the file busy is made again where readers wait. Both backends
(`database_url`, tests/postgres.py)."""

from __future__ import annotations

import random
import sqlite3
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import storage.database as database
from storage import Database
from storage.attempts import Allowance, _exists_builder, _params
from tests.fixtures import Clock

KEYS = [f"key:{i}" for i in range(6)]


@pytest.fixture
def store(database: Database) -> Database:
    return database


def _random_allowances(rng: random.Random) -> dict[str, Allowance]:
    keys = rng.sample(KEYS, rng.randint(1, 4))
    return {key: Allowance(rng.randint(1, 4), timedelta(minutes=rng.choice([5, 30, 120]))) for key in keys}


async def _by_the_readers(store: Database, allowances: dict[str, Allowance]) -> bool:
    """`used_up` as it read before `read_one`: on the readers' connection."""
    used_up = store.prepared(f"attempts_used_up_exists:{len(allowances)}", _exists_builder(len(allowances)))
    async with store.reading() as tx:
        return bool((await tx.run(used_up, _params(allowances, store.clock()))).rows[0][0])


def _count_reads(store: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many reads went to the readers' connection (`Engine.reading`), from now on."""
    reads = [0]
    reading = store.reading

    def counted() -> Any:
        reads[0] += 1
        return reading()

    monkeypatch.setattr(store, "reading", counted)
    return reads


async def test_a_read_on_the_writers_connection_answers_as_the_readers_do(
    store: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261208)
    for _ in range(60):
        await store.record_attempts(rng.sample(KEYS, rng.randint(1, 3)))
        clock.advance(minutes=rng.choice([0, 1, 7, 40]))
        for _ in range(4):
            allowances = _random_allowances(rng)
            expected = await _by_the_readers(store, allowances)
            reads = _count_reads(store, monkeypatch)
            assert await store.used_up(allowances) is expected
            # A SQLite file's read ran on the (idle) writers' connection; PostgreSQL's reads are as before.
            assert reads[0] == (1 if store.engine.dialect.name == "postgresql" else 0)
            monkeypatch.undo()


async def test_a_read_never_sees_a_transaction_under_way(store: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """Made while a write transaction is open on the writers' connection, a read goes to the readers', and sees
    only what was committed."""
    allowances = {"key:0": Allowance(1, timedelta(hours=1))}
    reads = _count_reads(store, monkeypatch)
    async with store.writing() as tx:
        assert (await tx.run(*store._reserve(allowances, store.clock()))).rows  # one attempt, not yet committed
        assert await store.used_up(allowances) is False
    assert reads[0] == 1
    assert await store.used_up(allowances) is True  # committed now


async def test_a_busy_read_on_the_writers_connection_is_made_again_where_readers_wait(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writers' connection waits in no busy handler: SQLITE_BUSY there (a file being recovered) is read again on
    the readers' connection, which waits; any other error is raised as it is."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writers' connection")
    allowances = {"key:1": Allowance(1, timedelta(hours=1))}
    await store.record_attempts(["key:1"])
    writer = store._idle_writer()
    assert writer is not None
    writer_raw = database._inline(writer).raw
    run = database._SQLiteStatements.run
    failure = [sqlite3.OperationalError("database is locked")]
    failure[0].sqlite_errorcode = 261  # type: ignore[attr-defined]  # SQLITE_BUSY_RECOVERY

    async def failing(self: Any, prepared: Any, params: Any = None) -> Any:
        if self._raw is writer_raw:
            raise database._wrapped(prepared.sql, failure[0])
        return await run(self, prepared, params)

    monkeypatch.setattr(database._SQLiteStatements, "run", failing)
    reads = _count_reads(store, monkeypatch)
    assert await store.used_up(allowances) is True
    assert reads[0] == 1
    failure[0] = sqlite3.OperationalError("disk I/O error")
    failure[0].sqlite_errorcode = 10  # type: ignore[attr-defined]  # SQLITE_IOERR
    with pytest.raises(sa.exc.OperationalError, match="disk I/O error"):
        await store.used_up(allowances)
    assert reads[0] == 1
