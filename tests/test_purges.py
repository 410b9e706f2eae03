"""Purges of any size come in short write transactions: the retention period, customers/redact and shop/redact
delete in bounded chunks, each its own transaction, so a worker running SQLite on its event loop's thread is never
stalled by one long delete, and a purge still leaves nothing behind (a redaction's tombstones written first).

Every test runs on SQLite and on the PostgreSQL the suite starts (`database_url`). A chunk is made small here so a few
rows are many chunks; each write transaction is watched through `Database.begin`, with the rows of every table counted
before and after it (nothing else writes meanwhile).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import storage.orders
import storage.privacy
from shopify.domain import parse_order
from storage import Database, MirroredOrder
from storage.schema import attempts, conversation_contacts, conversations, mirror_tombstones, mirrored_orders
from tests.fixtures import T0, Clock

CHUNK = 3
ROWS = 10  # more than three chunks
TABLES = (conversations, conversation_contacts, attempts, mirrored_orders, mirror_tombstones)


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage.privacy, "PURGE_CHUNK", CHUNK, raising=False)
    monkeypatch.setattr(storage.orders, "PURGE_CHUNK", CHUNK, raising=False)


@pytest.fixture
def store(database: Database) -> Database:
    return database


async def counts(db: Database) -> dict[str, int]:
    async with db.read() as conn:
        return {
            t.name: int((await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()) for t in TABLES
        }


class Transactions:
    """Each write transaction's change in every table's row count (negative: rows deleted), in order."""

    def __init__(self, db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.changes: list[dict[str, int]] = []
        self.before: list[dict[str, int]] = []
        begin = db.begin

        @asynccontextmanager
        async def watched() -> AsyncIterator[Any]:
            before = await counts(db)
            async with begin() as conn:
                yield conn
            after = await counts(db)
            self.before.append(before)
            self.changes.append({name: after[name] - before[name] for name in before})

        monkeypatch.setattr(db, "begin", watched)

    def most_deleted(self, table: str) -> int:
        return max(-change[table] for change in self.changes)


async def conversations_at(db: Database, clock: Clock, prefix: str, count: int) -> None:
    for i in range(count):
        await db.create_conversation(f"{prefix}{i}")
        await db.remember_contacts(f"{prefix}{i}", [("email", f"{prefix}{i}@example.com")])


def order(number: int, customer: str | None = None) -> MirroredOrder:
    node: dict[str, Any] = {"id": f"gid://shopify/Order/{number}", "name": f"#{number}", "createdAt": T0.isoformat()}
    if customer is not None:
        node["customer"] = {"id": customer}
    return MirroredOrder(parse_order(node), T0, True)


async def test_the_retention_purge_deletes_in_short_transactions(
    store: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await conversations_at(store, clock, "old", ROWS)
    clock.advance(days=100)
    await conversations_at(store, clock, "new", 2)
    watch = Transactions(store, monkeypatch)
    assert await store.forget_before(clock() - timedelta(days=90)) == ROWS
    # A conversation's contacts go with it: its email and the mark that its contacts were recorded.
    assert watch.most_deleted("conversations") <= CHUNK and watch.most_deleted("conversation_contacts") <= 2 * CHUNK
    assert len([c for c in watch.changes if c["conversations"]]) >= -(-ROWS // CHUNK)
    # Nothing old is left, nothing new went.
    assert sorted(c.id for c in await store.list_conversations()) == ["new0", "new1"]
    assert (await counts(store))["conversation_contacts"] == 4


async def test_shop_redact_deletes_in_short_transactions_and_leaves_nothing(
    store: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await conversations_at(store, clock, "c", ROWS)
    await store.record_attempts([f"order:{i}" for i in range(ROWS)])
    await store.upsert_mirrored_orders([order(n) for n in range(1, ROWS + 1)])
    watch = Transactions(store, monkeypatch)
    await store.redact_all()
    await store.forget_mirrored_orders()
    for table in ("conversations", "attempts", "mirrored_orders"):
        assert watch.most_deleted(table) <= CHUNK, table
    assert watch.most_deleted("conversation_contacts") <= 2 * CHUNK  # chunked by conversation: two rows each
    left = await counts(store)
    assert {name: left[name] for name in left if name != "mirror_tombstones"} == dict.fromkeys(
        ("conversations", "conversation_contacts", "attempts", "mirrored_orders"), 0
    )
    # The shop's tombstone was in before the first order went, and refuses them all from then on.
    first = next(i for i, change in enumerate(watch.changes) if change["mirrored_orders"] < 0)
    assert watch.before[first]["mirror_tombstones"] == 1
    assert await store.upsert_mirrored_orders([order(1)]) == 0


async def test_customers_redact_deletes_in_short_transactions_tombstones_first(
    store: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = "gid://shopify/Customer/77"
    await store.upsert_mirrored_orders([order(n, customer) for n in range(1, ROWS + 1)] + [order(99)])
    watch = Transactions(store, monkeypatch)
    gone = await store.redact_mirrored_orders(customer_ids=[customer])
    assert sorted(gone) == sorted(f"gid://shopify/Order/{n}" for n in range(1, ROWS + 1))
    assert watch.most_deleted("mirrored_orders") <= CHUNK
    first = next(i for i, change in enumerate(watch.changes) if change["mirrored_orders"] < 0)
    assert watch.before[first]["mirror_tombstones"] >= 1  # the customer's, before any order went
    kinds = {(kind, key) for kind, key, _at in await store.mirror_tombstones()}
    assert ("customer", customer) in kinds and {("order", i) for i in gone} <= kinds
    assert [o.order.id for o in [await store.mirrored_order("gid://shopify/Order/99")] if o] == [
        "gid://shopify/Order/99"
    ]
    assert await store.upsert_mirrored_orders([order(1, customer)]) == 0
