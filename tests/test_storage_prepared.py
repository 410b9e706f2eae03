"""A turn's prepared statements (`Engine.prepared`, run in `Engine.writing` / `Engine.reading`): on SQLite they run on
the sqlite3 connection itself, on PostgreSQL through SQLAlchemy; either way they must give back what SQLAlchemy gives
and fail as SQLAlchemy fails. Every test runs on both backends (`database_url`, tests/postgres.py)."""

from __future__ import annotations

import logging
from datetime import UTC

import pytest
import sqlalchemy as sa

from storage import Database
from storage.database import UTCDateTime
from storage.schema import conversation_locks
from tests.fixtures import T0, Clock


@pytest.fixture
def store(database: Database) -> Database:
    return database


async def test_a_turn_reads_the_conversation_and_settings_as_sqlalchemy_does(store: Database, clock: Clock) -> None:
    await store.put_setting("voice", {"tone": "warm"})
    async with store.conversation_turn("c1", create=True, read_settings=("voice", "unset")) as lease:
        assert lease.row is not None and lease.row.created_at == T0 and lease.row.created_at.tzinfo == UTC
        assert lease.settings == {"voice": '{"tone": "warm"}'}
        clock.advance(minutes=5)
        await store.save_turn(
            lease,
            contacts=[("email", "ann@example.com")],
            messages_json='[{"kind": "request"}]',
            state_json='{"k": 1}',
            verified_lookups=2,
            escalated=True,
            model="m",
            customer_id="gid://shopify/Customer/7",
        )
    async with store.conversation_turn("c1", read_settings=("voice",)) as lease:
        read = lease.row
    assert read is not None and read == await store.get_conversation("c1")  # the same row through SQLAlchemy
    assert (read.escalated, read.verified_lookups, read.message_count, read.updated_at) == (True, 2, 1, clock())
    assert await store.contacts_of("c1") == {("email", "ann@example.com")}


async def test_settings_are_read_for_a_conversation_that_does_not_exist(store: Database) -> None:
    await store.put_setting("voice", {"tone": "warm"})
    async with store.conversation_turn("nobody", read_settings=("voice",)) as lease:
        assert lease.row is None
        assert lease.settings == {"voice": '{"tone": "warm"}'}


async def test_a_failing_statement_raises_as_sqlalchemy_does_and_undoes_its_transaction(
    store: Database, clock: Clock
) -> None:
    insert = store.prepared(
        "test_insert_lock",
        lambda: sa.insert(conversation_locks).values(
            conversation_id=sa.bindparam("p_id"),
            holder=sa.bindparam("p_holder"),
            expires_at=sa.bindparam("p_expires", type_=UTCDateTime),
        ),
    )
    row = {"p_id": "c1", "p_holder": "first", "p_expires": clock()}
    with pytest.raises(sa.exc.IntegrityError):
        async with store.writing() as tx:
            await tx.run(insert, row)
            await tx.run(insert, row | {"p_holder": "second"})  # the same key again
    # Nothing of the failed transaction stayed: the lease is free, and the next transaction runs on.
    assert await store.claim_turn("c1", "third") is True
    assert await store.claim_turn("c1", "fourth") is False


async def test_what_counts_times_or_logs_statements_sees_prepared_ones_alike_on_both_backends(
    store: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLAlchemy's statement events and its engine log: on SQLite the prepared statements bypass SQLAlchemy's
    execution (`_SQLiteStatements`), and must still be heard and logged as they are on PostgreSQL, through it."""
    heard: list[tuple[str, str]] = []

    def before(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        heard.append(("before", statement))

    def after(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        heard.append(("after", statement))

    events = store.engine.sync_engine
    sa.event.listen(events, "before_cursor_execute", before)
    sa.event.listen(events, "after_cursor_execute", after)
    try:
        with caplog.at_level(logging.INFO, logger="sqlalchemy.engine.Engine"):
            assert await store.claim_turn("c1", "holder-7f3a")  # a prepared write (`writing`)
            async with store.reading() as tx:  # a prepared read
                select = store.prepared("test_select_lock", lambda: sa.select(conversation_locks.c.holder))
                assert (await tx.run(select)).scalars() == ["holder-7f3a"]
    finally:
        sa.event.remove(events, "before_cursor_execute", before)
        sa.event.remove(events, "after_cursor_execute", after)
    assert [kind for kind, _sql in heard] == ["before", "after", "before", "after"]
    assert heard[0][1] == heard[1][1] and heard[0][1].startswith("INSERT INTO conversation_locks")
    assert heard[2][1] == heard[3][1] and heard[2][1].startswith("SELECT conversation_locks.holder")
    logged = [record.getMessage() for record in caplog.records if record.name.startswith("sqlalchemy.engine")]
    assert sum(line.startswith(("INSERT INTO conversation_locks", "SELECT conversation_locks")) for line in logged) == 2
    assert sum("SQL parameters hidden" in line for line in logged) == 2
    assert not any("holder-7f3a" in line for line in logged)  # parameters never reach the log
