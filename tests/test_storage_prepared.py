"""A turn's prepared statements (`Engine.prepared`, run in `Engine.writing` / `Engine.reading`): on SQLite they run on
the sqlite3 connection itself, on PostgreSQL through SQLAlchemy; either way they must give back what SQLAlchemy gives
and fail as SQLAlchemy fails. Every test runs on both backends (`database_url`, tests/postgres.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC

import pytest
import sqlalchemy as sa

from storage import Database
from storage.database import UTCDateTime
from storage.schema import conversation_locks
from tests.fixtures import T0, Clock


@pytest.fixture
async def store(database_url: str, clock: Clock) -> AsyncIterator[Database]:
    database = Database(database_url, clock=clock)
    await database.connect()
    yield database
    await database.close()


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
