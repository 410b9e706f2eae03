"""The order mirror across an upgrade, a stop and a reinstall, on SQLite and on the PostgreSQL the suite starts:

- migration 0008 upgrades a database in place (the backfill's bulk operation recorded in the mirror's state, an
  index to prune remembered webhook deliveries by age);
- copies stored before Lumen read the order's original total (`totalPriceSet`) are marked of an older shape by
  migration 0007, and filled: a lookup of a refunded one reads it live once (only a refund's answer needs the total),
  and reconciliation reads the rest again in bounded batches while the bucket has room;
- a server stopping while a bulk operation runs (a backfill, a confirmation) cancels it, so the next start finds the
  app's bulk slot free (the fake Shopify over real sockets);
- a backfill or reconciliation under way when the mirror's state is reset (shop/redact, then a reinstall) records
  nothing over the reset, so the mirror is backfilled anew (driven by events, not by timing).
"""

# ruff: noqa: F811
# The mirror's harness: fixtures and helpers (imported fixtures are this module's too: hence F811 off here).
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import sync.service
from evals.fakes.shopify_admin import FakeShopify
from server import _stopped
from shopify import bulk
from shopify.client import ShopifyAdmin
from shopify.domain import Order, parse_order
from storage import Database, migrations
from storage.orders import MIRROR_SHAPE
from storage.schema import mirrored_orders, order_sync, webhook_events
from sync import MirroredSource, OrderSync
from tests.fixtures import T0, Clock
from tests.mirror_harness import (  # noqa: F401
    Upstream,
    db,
    demo_server,
    live_client,
    make_sync,
    mirror,
    store,
    upstream_of,
)


def with_original_totals(fake: FakeShopify) -> None:
    """Shopify's `totalPriceSet` on every order of the fake (the store file has none): the current total plus what
    was refunded."""
    for node in fake.orders:
        current = node["currentTotalPriceSet"]["shopMoney"]
        refunded = sum(Decimal(r["totalRefundedSet"]["shopMoney"]["amount"]) for r in node.get("refunds") or [])
        amount = Decimal(current["amount"]) + refunded
        node["totalPriceSet"] = {"shopMoney": {"amount": f"{amount:.2f}", "currencyCode": current["currencyCode"]}}


def original_total(node: dict[str, Any]) -> Decimal:
    return Decimal(node["totalPriceSet"]["shopMoney"]["amount"])


def as_stored_before_the_field(order: Order) -> str:
    """The copy's JSON as Lumen wrote it before it read `totalPriceSet`: no `original_total` key at all."""
    return order.model_copy(update={"original_total": None}).model_dump_json(exclude={"original_total"})


async def make_old(db: Database, order_id: str) -> None:
    """Turn a held copy into one stored before the field (what migration 0007 makes of such a row: shape 0)."""
    held = await db.mirrored_order(order_id)
    assert held is not None
    stmt = (
        sa.update(mirrored_orders)
        .where(mirrored_orders.c.id == order_id)
        .values(order_json=as_stored_before_the_field(held.order), shape=0)
    )
    async with db.begin() as conn:
        await conn.execute(stmt)


def orders_queries(fake: FakeShopify) -> int:
    return sum("orders(" in body["query"] for body in fake.received)


# --- 1. copies stored before the original total ---------------------------------------------------------------------


async def test_migration_0007_marks_copies_stored_before_the_original_total_as_of_an_older_shape(
    database_url: str, clock: Clock
) -> None:
    invented = {"createdAt": "2026-02-01T10:00:00Z", "currentTotalPriceSet": {"shopMoney": {"amount": "40.00",
                "currencyCode": "USD"}}, "totalPriceSet": {"shopMoney": {"amount": "52.50", "currencyCode": "USD"}}}  # fmt: skip
    before = parse_order({"id": "gid://shopify/Order/71", "name": "#71", **invented})
    since = parse_order({"id": "gid://shopify/Order/72", "name": "#72", **invented})
    old = Database(database_url, clock=clock)
    async with old.begin() as conn:
        await conn.run_sync(lambda sync: migrations.command.upgrade(migrations.config(sync), "0006"))
        common = {"updated_at": T0, "synced_at": T0, "events_complete": True, "version": 1}
        await conn.execute(
            sa.insert(mirrored_orders).values(
                [
                    {"id": before.id, "name": "#71", "name_key": "71", "order_json": as_stored_before_the_field(before)}
                    | common,
                    {"id": since.id, "name": "#72", "name_key": "72", "order_json": since.model_dump_json()} | common,
                ]
            )
        )
        await conn.execute(sa.insert(order_sync).values(key="orders", state="live", last_sync_at=T0))
    await old.close()
    async with Database(database_url, clock=clock) as database:  # upgraded in place at connect
        async with database.read() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head() == "0008"
        held_before, held_since = await database.mirrored_order(before.id), await database.mirrored_order(since.id)
        assert held_before is not None and held_since is not None
        assert (held_before.shape, held_before.order.original_total) == (0, None)
        assert held_since.shape == MIRROR_SHAPE and held_since.order.original_total == since.original_total
        assert await database.stale_mirrored_order_ids(10) == [before.id]
        state = await database.order_sync_state()
        assert (state.state, state.last_sync_at, state.generation) == ("live", T0, 0)


async def test_migration_0008_keeps_the_mirrors_state_and_the_webhook_rows_and_indexes_them_by_age(
    database_url: str, clock: Clock
) -> None:
    """An existing database at 0007 (a SQLite file, or PostgreSQL) is upgraded in place: its state and its remembered
    webhook deliveries stay, the state gains an empty record of the backfill's bulk operation, and the deliveries an
    index by age for pruning."""
    old = Database(database_url, clock=clock)
    async with old.begin() as conn:
        await conn.run_sync(lambda sync: migrations.command.upgrade(migrations.config(sync), "0007"))
        await conn.execute(sa.insert(order_sync).values(key="orders", state="live", last_sync_at=T0, generation=2))
        await conn.execute(sa.insert(webhook_events).values(event_id="evt-kept", topic="orders/paid", received_at=T0))
    await old.close()
    async with Database(database_url, clock=clock) as database:  # upgraded in place at connect
        async with database.read() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head() == "0008"
            indexes = await conn.run_sync(lambda sync: sa.inspect(sync).get_indexes("webhook_events"))
        assert {"name": "ix_webhook_events_received_at", "columns": ["received_at"]} in [
            {"name": index["name"], "columns": index["column_names"]} for index in indexes
        ]
        state = await database.order_sync_state()
        assert (state.state, state.last_sync_at, state.generation) == ("live", T0, 2)
        assert (state.bulk_operation_id, state.bulk_operation_at) == (None, None)
        await database.update_order_sync(bulk_operation_id="gid://shopify/BulkOperation/9", bulk_operation_at=T0)
        recorded = await database.order_sync_state()
        assert (recorded.bulk_operation_id, recorded.bulk_operation_at) == ("gid://shopify/BulkOperation/9", T0)
        assert not await database.remember_webhook("evt-kept", "orders/paid")  # still remembered
        clock.advance(days=8)
        assert await database.prune_webhook_events() == 1


async def test_a_lookup_of_an_old_copy_of_a_refunded_order_reads_it_live_once_and_keeps_it_whole(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    with_original_totals(store)
    await mirror.sync.backfill()
    refunded = next(o for o in store.orders if o.get("refunds") and o.get("email"))
    plain = next(o for o in store.orders if not o.get("refunds") and o.get("email"))
    for node in (refunded, plain):
        await make_old(db, node["id"])
    await mirror.shop()  # the shop's order-name format, once
    asked = orders_queries(store)
    # An old copy without a refund answers as it is: nothing it lacks is read in its answer.
    (answer,) = await mirror.orders_by_name(plain["name"], email=plain["email"])
    assert answer.id == plain["id"] and orders_queries(store) == asked
    # A refunded one is read live ("X of your Y total was refunded" needs Y), and kept whole.
    (answer,) = await mirror.orders_by_name(refunded["name"], email=refunded["email"])
    assert answer.original_total is not None and answer.original_total.amount == original_total(refunded)
    assert orders_queries(store) == asked + 1
    held = await db.mirrored_order(refunded["id"])
    assert held is not None and held.shape == MIRROR_SHAPE and held.order.original_total == answer.original_total
    # Once: from now on the mirror answers it.
    (again,) = await mirror.orders_by_email(refunded["email"])
    assert again.original_total == answer.original_total and orders_queries(store) == asked + 1


async def test_an_old_refunded_copy_still_answers_when_shopify_cannot(
    mirror: MirroredSource, store: FakeShopify, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await mirror.sync.backfill()
    refunded = next(o for o in store.orders if o.get("refunds") and o.get("email"))
    await make_old(db, refunded["id"])
    await mirror.shop()
    store.fail_next(10, status=503)
    (answer,) = await mirror.orders_by_name(refunded["name"], email=refunded["email"])
    assert answer.id == refunded["id"] and answer.refunds  # the copy, without the total it lacks
    held = await db.mirrored_order(refunded["id"])
    assert held is not None and held.shape == 0  # still to be filled
    # Nor is a shopper told their order is not found when Shopify's search does not list it (yet).
    nothing: list[Order] = []

    async def not_in_the_index(*_args: Any, **_kwargs: Any) -> list[Order]:
        return nothing

    monkeypatch.setattr(mirror.live, "orders_by_name", not_in_the_index)
    (answer,) = await mirror.orders_by_name(refunded["name"], email=refunded["email"])
    assert answer.id == refunded["id"]


async def test_reconciliation_fills_old_copies_in_bounded_batches_while_the_bucket_has_room(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_original_totals(store)
    sync, upstream = mirror.sync, upstream_of(mirror)
    await sync.backfill()
    ids = {o["id"] for o in store.orders}
    for order_id in ids:
        await make_old(db, order_id)
    monkeypatch.setattr(sync_service, "REFILL_PER_ROUND", 5)
    # The bucket under half full (shoppers' live lookups need it): nothing is read.
    upstream.level = (400.0, 1000.0)
    clock.advance(minutes=10)
    assert await sync.reconcile() is not None
    assert upstream.confirms == [] and set(await db.stale_mirrored_order_ids(100)) == ids
    upstream.level = (900.0, 1000.0)
    # With room, but the bulk operation fails: no read an order instead (that would spend the bucket), next round.
    upstream.confirm_error = bulk.BulkExportFailed("INTERNAL_SERVER_ERROR", "Shopify could not run it")
    clock.advance(minutes=10)
    assert await sync.reconcile() is not None
    assert upstream.reads == [] and sync.pending == frozenset() and len(upstream.confirms) == 1
    assert set(await db.stale_mirrored_order_ids(100)) == ids
    # Then a bounded batch a round, one bulk operation each, until none is left.
    sizes = []
    for _round in range(4):  # bounded: a refill that reads nothing must fail here, not loop
        clock.advance(minutes=10)
        before = len(upstream.confirms)
        assert await sync.reconcile() is not None
        sizes.append([len(batch) for batch in upstream.confirms[before:]])
        if not await db.stale_mirrored_order_ids(1):
            break
    assert sizes == [[5], [5], [len(ids) - 10]]
    for node in store.orders:
        held = await db.mirrored_order(node["id"])
        assert held is not None and held.shape == MIRROR_SHAPE
        assert held.order.original_total is not None and held.order.original_total.amount == original_total(node)
    # Nothing is left: the next round reads nothing.
    clock.advance(minutes=10)
    before = len(upstream.confirms)
    await sync.reconcile()
    assert upstream.confirms[before:] == [] and sync.refilled == len(ids)


async def test_a_webhook_applied_to_an_old_copy_leaves_it_old(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    """A payload brings none of the fields an old copy lacks: the copy it changes stays to be filled."""
    await mirror.sync.backfill()
    node = next(o for o in store.orders if o.get("email"))
    await make_old(db, node["id"])
    payload = {"id": 1, "admin_graphql_api_id": node["id"], "updated_at": "2026-03-01T10:00:00Z", "cancelled_at": None,
               "closed_at": "2026-03-01T10:00:00Z", "financial_status": "paid", "fulfillment_status": None}  # fmt: skip
    done = await mirror.sync.apply_webhook("orders/updated", payload, [node["id"]])
    assert done.applied == [node["id"]]
    held = await db.mirrored_order(node["id"])
    assert held is not None and held.order.closed_at is not None  # the payload is in the copy
    assert held.shape == 0 and await db.stale_mirrored_order_ids(10) == [node["id"]]


sync_service = sync.service


# --- 2. a server stopping mid-operation cancels it -----------------------------------------------------------------


class StuckPolls:
    """The operation runs on: each poll waits until the task polling is cancelled (the server stopping)."""

    def __init__(self) -> None:
        self.polling = asyncio.Event()

    async def __call__(self, _seconds: float) -> None:
        self.polling.set()
        await asyncio.Event().wait()


async def no_wait(_seconds: float) -> None:
    await asyncio.sleep(0)


def bulk_sync(db: Database, fake: FakeShopify, admin: ShopifyAdmin, polls: StuckPolls) -> OrderSync:
    """A mirror whose backfill and confirmations are real bulk operations on the fake, over its sockets."""
    upstream = Upstream(fake)

    def export(
        since: datetime, *, resume: bulk.Resume | None = None, on_start: bulk.OnStart | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        return bulk.export_orders(admin, since, poll_s=1.0, sleep=polls, resume=resume, on_start=on_start)

    async def confirm(order_ids: list[str]) -> list[dict[str, Any]]:
        return await bulk.confirm_orders(admin, order_ids, poll_s=1.0, sleep=polls)

    return OrderSync(
        db,
        admin,
        exporter=export,
        confirmer=confirm,
        reader=upstream.read,
        stamps=upstream.stamps,
        events_reader=upstream.read_events,
        bucket_level=upstream.bucket_level,
        confirm_window_s=0.0,
        owns_admin=True,
    )


@pytest.mark.parametrize("work", ["backfill", "confirmation"])
async def test_a_server_stopping_mid_operation_cancels_it_so_the_next_start_finds_the_slot_free(
    db: Database, store: FakeShopify, clock: Clock, work: str
) -> None:
    store.bulk_query_limit = 1  # one slot (API versions before 2026-01): one left running refuses the next at once
    store.stall_next_bulk()
    polls = StuckPolls()
    sync_ = bulk_sync(db, store, live_client(store), polls)
    order_id = store.orders[0]["id"]
    if work == "confirmation":
        await db.update_order_sync(state="live", last_sync_at=clock())  # backfilled: the loop only confirms
        sync_.request_confirm(order_id)
    running = asyncio.create_task(sync_.run())
    try:
        await polls.polling.wait()
        (operation,) = store.bulk_operations
        assert operation.running  # CREATED, then RUNNING: it holds the slot
        await _stopped(running)  # as the server's lifespan stops it: cancelled, and again every half second
        assert running.done()
        cancels = [body["variables"] for body in store.received if "bulkOperationCancel" in body["query"]]
        assert cancels == [{"id": operation.id}] and operation.status in ("CANCELING", "CANCELED")
    finally:
        await sync_.aclose()
    # The next start: its confirmation gets the slot at once (not "a bulk query is already running").
    admin = live_client(store)
    try:
        nodes = await bulk.confirm_orders(admin, [order_id], poll_s=1.0, sleep=no_wait)
    finally:
        await admin.aclose()
    assert [node["id"] for node in nodes] == [order_id] and operation.status == "CANCELED"


async def test_a_server_stopping_while_its_bulk_query_starts_cancels_the_operation_shopify_started(
    db: Database, store: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped with `bulkOperationRunQuery` on its way, Lumen cannot know whether Shopify started it: it waits for
    the answer, and cancels the operation the answer names."""
    store.bulk_query_limit = 1
    admin = live_client(store)
    answered, release = asyncio.Event(), asyncio.Event()
    execute = admin.execute

    async def slow_answer(document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        data = await execute(document, variables)
        if "bulkOperationRunQuery" in document:
            answered.set()  # Shopify started it; its answer is still on the way back
            await release.wait()
        return data

    monkeypatch.setattr(admin, "execute", slow_answer)
    sync_ = bulk_sync(db, store, admin, StuckPolls())  # the backfill, first thing it does
    running = asyncio.create_task(sync_.run())
    try:
        await answered.wait()
        running.cancel()  # the server stops
        release.set()
        await _stopped(running)
        (operation,) = store.bulk_operations
        cancels = [body["variables"] for body in store.received if "bulkOperationCancel" in body["query"]]
        assert cancels == [{"id": operation.id}] and operation.status in ("CANCELING", "CANCELED")
    finally:
        await sync_.aclose()


# --- 3. a reset while a backfill or a reconciliation runs ---------------------------------------------------------


async def test_a_backfill_under_way_when_the_shop_is_reinstalled_records_nothing_over_the_reset(
    mirror: MirroredSource, db: Database, clock: Clock
) -> None:
    sync_, upstream = mirror.sync, upstream_of(mirror)
    await db.forget_mirrored_orders()  # shop/redact
    upstream.gate = asyncio.Event()  # the export waits here after its first order
    running = asyncio.create_task(sync_.backfill())
    await upstream.started.wait()
    clock.advance(minutes=1)
    assert await db.reinstate_shop(clock())  # the merchant installs again: the state is reset
    upstream.gate.set()
    result = await running
    assert result is not None and result.recorded is False
    state = await db.order_sync_state()
    assert (state.state, state.last_sync_at) == ("off", None)
    # So the next round backfills anew, at once, and records it.
    assert await sync_._round() == sync_.reconcile_s
    assert len(upstream.exports) == 2
    state = await db.order_sync_state()
    assert (state.state, state.last_sync_at) == ("live", clock())


async def test_a_reconciliation_under_way_when_the_state_is_reset_records_nothing_over_it(
    mirror: MirroredSource, db: Database, clock: Clock
) -> None:
    sync_, upstream = mirror.sync, upstream_of(mirror)
    await sync_.backfill()
    asked, gate = asyncio.Event(), asyncio.Event()

    async def stamps(since: datetime) -> list[tuple[str, datetime]]:
        asked.set()
        await gate.wait()
        return await upstream.stamps(since)

    sync_.stamps = stamps
    clock.advance(minutes=10)
    running = asyncio.create_task(sync_.reconcile())
    await asked.wait()
    await db.forget_mirrored_orders()
    clock.advance(minutes=1)
    assert await db.reinstate_shop(clock())
    gate.set()
    await running
    state = await db.order_sync_state()
    assert (state.state, state.last_sync_at) == ("off", None)


async def test_the_state_is_written_only_in_the_generation_it_was_read_in(db: Database, clock: Clock) -> None:
    assert await db.update_order_sync(state="live", last_sync_at=clock())
    generation = (await db.order_sync_state()).generation
    await db.forget_mirrored_orders()
    assert not await db.update_order_sync(generation=generation, state="live", last_sync_at=clock())
    fresh = await db.order_sync_state()
    assert (fresh.state, fresh.last_sync_at, fresh.generation) == ("off", None, generation + 1)
    assert await db.update_order_sync(generation=fresh.generation, state="backfilling")
