"""The order mirror's safety: a redacted order never comes back (tombstones), two workers applying payloads to one
order lose neither change (compare-and-swap), a webhook storm costs bounded memory (coalesced to re-reads), and
migration 0005 upgrades an existing database in place.

Every test that touches the database runs on SQLite and on the PostgreSQL the suite starts (`database_url`). Nothing
here sleeps or times anything: interleavings are forced by running one worker's step inside another's.
"""
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa

from agent.webhooks import handle_webhook
from evals.fakes.shopify_admin import FakeShopify
from shopify.domain import parse_order
from storage import Database, MirroredOrder, migrations
from storage.orders import MIRROR_SHAPE, TOMBSTONE_LOCK, email_digest
from storage.schema import mirrored_orders
from sync import MirroredSource
from sync.service import OrderSync
from sync.writes import SWAP_TRIES
from tests.fixtures import T0, Clock

# The mirror's harness: fixtures and helpers (imported fixtures are this module's too: hence F811 off here).
from tests.mirror_harness import (  # noqa: F401
    JORDAN_1042,
    ORDER_1065,
    Upstream,
    change_fields,
    db,
    delivered_and_earlier,
    delivery,
    demo_server,
    make_sync,
    mirror,
    store,
    two_workers,
    upstream_of,
)

JORDAN = "gid://shopify/Customer/7002"
JORDAN_1050 = "gid://shopify/Order/5001050"
ORDER_1031 = "gid://shopify/Order/5001031"  # someone else's order, named in the redaction
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REDACTED = (JORDAN_1042, JORDAN_1050, ORDER_1031)
REDACT_JORDAN = {"customer": {"id": 7002, "email": "Jordan.Lee@example.com"}, "orders_to_redact": [5001031]}


def order(number: int, *, created: str = "2026-02-01T10:00:00Z", **fields: Any) -> MirroredOrder:
    node = {"id": f"gid://shopify/Order/{number}", "name": f"#{number}", "createdAt": created} | fields
    return MirroredOrder(parse_order(node), T0, True)


async def redact(
    db: Database, source: MirroredSource, payload: dict[str, Any], event: str = "r1", *, shop: FakeShopify | None = None
) -> None:
    """customers/redact with `payload`, else shop/redact, which follows an uninstall (Lumen asks Shopify first): the
    app's token is revoked for it and restored after (so the tests can go on reading Shopify, as a reinstall would)."""
    topic = "customers/redact" if payload else "shop/redact"
    webhook = delivery(topic, payload, event, T0)
    if topic == "shop/redact":
        assert shop is not None
        shop.revoke_tokens()
    try:
        outcome = await handle_webhook(db, source, serves_shop=lambda _: True, delivery=webhook, now=T0)
    finally:
        if shop is not None:
            shop.restore_static_token()
    assert outcome.deleted is not None


async def held_ids(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(mirrored_orders.c.id))).scalars())


# --- privacy: a redacted order never comes back ------------------------------------------------------------------


async def test_no_write_path_brings_a_redacted_customers_orders_back(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    await mirror.sync.backfill()
    sync = mirror.sync
    # Work about Jordan's order already queued on this worker when the redaction comes: it is dropped.
    sync.accept("orders/updated", {"id": 5001042, "admin_graphql_api_id": JORDAN_1042}, [JORDAN_1042, "#1042"])
    sync.request_refresh(JORDAN_1050)
    await redact(db, mirror, REDACT_JORDAN)
    assert sync.pending_payloads == 0 and sync.pending == frozenset()
    assert await held_ids(db) & set(REDACTED) == set()
    # A late webhook, applied and then re-read.
    change_fields(store, "#1042", T0 + timedelta(minutes=1), displayFulfillmentStatus="ON_HOLD")
    late = delivery("orders/updated", {"id": 5001042, "admin_graphql_api_id": JORDAN_1042}, "late", T0)
    await handle_webhook(db, mirror, serves_shop=lambda _: True, delivery=late, now=T0)
    await sync.apply_pending()
    await sync.drain()
    # A re-read asked for directly, a reconciliation that sees the change, a whole new backfill.
    assert await sync.refresh(JORDAN_1050) is not None  # Shopify still has it ...
    clock.advance(minutes=10)
    assert await sync.reconcile() == 1
    assert (await sync.backfill()) is not None
    assert await held_ids(db) & set(REDACTED) == set()  # ... and the mirror does not
    assert len(await held_ids(db)) == len(store.orders) - len(REDACTED)


async def test_a_live_lookup_of_a_redacted_order_answers_the_shopper_and_stores_nothing(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.orders_by_name("1042")  # a lookup before: held
    assert JORDAN_1042 in await held_ids(db)
    await redact(db, mirror, REDACT_JORDAN)
    sent = store.requests
    found = await mirror.orders_by_name("1042", email="jordan.lee@example.com")
    assert [o.id for o in found] == [JORDAN_1042] and store.requests > sent  # answered, from Shopify
    assert {o.id for o in await mirror.orders_by_customer(JORDAN)} == {JORDAN_1050, JORDAN_1042}
    assert await held_ids(db) == set()


async def test_a_payload_applied_as_the_redaction_lands_is_not_written(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    """The applier read the copy before the redaction and writes after it: the write is refused (and nothing reads
    the order back)."""
    await mirror.sync.backfill()
    delivered, _earlier = await delivered_and_earlier(store)
    swap = db.swap_mirrored_orders
    redacted: list[list[str]] = []

    async def redaction_in_between(orders: Sequence[MirroredOrder]) -> set[str]:
        redacted.append(await db.redact_mirrored_orders(ids=[ORDER_1065]))
        return await swap(orders)

    db.swap_mirrored_orders = redaction_in_between  # type: ignore[method-assign]
    mirror.sync.accept("fulfillment_events/create", delivered, [ORDER_1065])
    (done,) = await mirror.sync.apply_pending()
    assert redacted == [[ORDER_1065]] and done.applied == [ORDER_1065]
    assert await db.mirrored_order(ORDER_1065) is None and mirror.sync.pending == frozenset()


async def test_tombstones_refuse_what_existed_at_the_redaction_and_keep_no_address(db: Database) -> None:
    before = {"created": "2026-02-01T10:00:00Z"}
    after = {"created": (T0 + timedelta(days=1)).isoformat()}
    customer = {"customer": {"id": "gid://shopify/Customer/9"}}
    await db.upsert_mirrored_orders([order(1, **before, **customer), order(2, **before, email="Pat@Example.com")])
    gone = await db.redact_mirrored_orders(
        ids=["gid://shopify/Order/3"], emails=[" pat@example.com"], customer_ids=["gid://shopify/Customer/9"]
    )
    assert gone == ["gid://shopify/Order/1", "gid://shopify/Order/2"]
    stones = await db.mirror_tombstones()
    assert {(kind, key) for kind, key, _at in stones} == {
        ("order", "gid://shopify/Order/1"),
        ("order", "gid://shopify/Order/2"),
        ("order", "gid://shopify/Order/3"),
        ("customer", "gid://shopify/Customer/9"),
        ("email", email_digest("pat@example.com")),
    }
    assert not any("@" in key for _kind, key, _at in stones)
    refused = [
        order(1, **before),  # a redacted order, by id
        order(3, **after),  # named in the redaction: refused whenever it was created
        order(4, **before, **customer),  # the customer's, created before
        order(5, **before, email="PAT@example.com"),  # the email's, created before
    ]
    assert await db.upsert_mirrored_orders(refused) == 0
    # The customer came back and ordered again: that order is theirs to have mirrored.
    assert await db.upsert_mirrored_orders([order(6, **after, **customer), order(7, **after, email="pat@example.com")])
    assert await held_ids(db) == {"gid://shopify/Order/6", "gid://shopify/Order/7"}


async def test_a_kept_order_that_becomes_a_redacted_customers_is_dropped_not_read_again(db: Database) -> None:
    """Mirrored under another email, then given the redacted one: the refused write deletes the row, so no caller
    takes the refusal for a lost race and reads the order again and again, and nothing redacted is kept."""
    before = {"created": "2026-02-01T10:00:00Z"}
    await db.upsert_mirrored_orders([order(8, **before, email="other@example.com")])
    await db.redact_mirrored_orders(ids=[], emails=["pat@example.com"], customer_ids=[])
    held = await db.mirrored_order("gid://shopify/Order/8")
    assert held is not None
    changed = order(8, **before, email="pat@example.com")
    assert await db.swap_mirrored_orders([dataclasses.replace(changed, version=held.version)]) == set()
    assert await db.mirrored_order("gid://shopify/Order/8") is None


async def test_shop_redact_refuses_every_order_that_existed_then(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    await mirror.sync.backfill()
    mirror.sync.request_refresh(JORDAN_1042)
    await redact(db, mirror, {}, shop=store)
    assert await held_ids(db) == set() and mirror.sync.pending == frozenset()
    clock.advance(minutes=1)
    assert await mirror.sync.backfill() is not None
    assert await held_ids(db) == set()
    assert await db.upsert_mirrored_orders([order(8, created=(T0 + timedelta(days=2)).isoformat())]) == 1


async def test_a_reinstall_after_shop_redact_mirrors_the_shop_again_but_never_a_redacted_customer(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    """shop/redact means the shop's data goes; a new install is a new consent, so the shop's orders may be mirrored
    again. A customer's own redaction is not the merchant's to undo: their orders stay refused."""
    await mirror.sync.backfill()
    await redact(db, mirror, REDACT_JORDAN, "r1")
    clock.advance(minutes=1)
    await redact(db, mirror, {}, "r2", shop=store)
    redacted_at = clock()
    assert await mirror.sync.backfill() is not None and await held_ids(db) == set()
    assert await db.reinstate_shop(redacted_at) is False  # an install no later than the redaction undoes nothing
    clock.advance(days=3)
    assert await db.reinstate_shop(clock()) is True  # the install
    assert (await db.order_sync_state()).last_sync_at is None  # so the next round backfills anew
    kinds = {kind for kind, _key, _at in await db.mirror_tombstones()}
    assert "shop" not in kinds and {"customer", "email", "order"} <= kinds
    assert await mirror.sync.backfill() is not None
    assert await held_ids(db) == {o["id"] for o in store.orders} - set(REDACTED)
    assert await db.reinstate_shop(clock()) is False  # nothing left to clear


# --- two workers, one order: compare-and-swap ---------------------------------------------------------------------


async def test_two_workers_applying_payloads_to_one_order_lose_neither_change(
    database_url: str, store: FakeShopify, clock: Clock
) -> None:
    upstreams = (Upstream(store), Upstream(store))
    async with two_workers(database_url, store, clock, upstreams) as (first_db, _, first, second):
        await first.backfill()
        inserted = await first_db.mirrored_order(ORDER_1065)
        assert inserted is not None
        delivered, earlier = await delivered_and_earlier(store)
        first.accept("fulfillment_events/create", delivered, [ORDER_1065])
        second.accept("fulfillment_events/create", earlier, [ORDER_1065])
        swap = first_db.swap_mirrored_orders
        raced: list[int] = []

        async def second_writes_first(orders: Sequence[MirroredOrder]) -> set[str]:
            # The first worker has read the copy and applied its payload; the second reads the same copy and writes.
            if not raced:
                raced.append(len(await second.apply_pending()))
            return await swap(orders)

        first_db.swap_mirrored_orders = second_writes_first  # type: ignore[method-assign]
        (done,) = await first.apply_pending()
        assert raced == [1] and done.applied == [ORDER_1065]
        held = await first_db.mirrored_order(ORDER_1065)
        assert held is not None
        stamps = {e.happened_at.isoformat() for e in held.order.fulfillments[0].events}
        assert {"2026-02-27T08:00:00+00:00", delivered["happened_at"].replace("Z", "+00:00")} <= stamps
        assert held.order.fulfillments[0].display_status == "DELIVERED"
        # Inserted by the backfill; the second worker wrote the next version, the first the one after.
        assert held.version == inserted.version + 2
        assert first.pending == frozenset() and second.pending == frozenset()


async def test_a_reread_never_writes_over_a_payload_another_worker_applied_meanwhile(
    database_url: str, store: FakeShopify, clock: Clock
) -> None:
    upstreams = (Upstream(store), Upstream(store))
    async with two_workers(database_url, store, clock, upstreams) as (first_db, _, first, second):
        await first.backfill()
        before = await first.reader(ORDER_1065)  # Shopify's answer, from before the carrier event
        delivered, _earlier = await delivered_and_earlier(store)

        async def event_applied_elsewhere_while_reading(order_id: str) -> Any:
            second.accept("fulfillment_events/create", delivered, [ORDER_1065])
            await second.apply_pending()
            return before

        first.reader = event_applied_elsewhere_while_reading  # type: ignore[method-assign]
        await first.refresh(ORDER_1065)
        held = await first_db.mirrored_order(ORDER_1065)
        assert held is not None and held.order.fulfillments[0].display_status == "DELIVERED"
        assert first.pending == {ORDER_1065}  # read again: the next read has the event from Shopify


async def test_an_order_that_keeps_losing_the_race_is_read_again_instead(mirror: MirroredSource, db: Database) -> None:
    await mirror.sync.backfill()
    delivered, _earlier = await delivered_and_earlier(upstream_of(mirror).fake)
    tries: list[int] = []

    async def always_lost(orders: Sequence[MirroredOrder]) -> set[str]:
        tries.append(len(orders))
        return set()

    db.swap_mirrored_orders = always_lost  # type: ignore[method-assign]
    mirror.sync.accept("fulfillment_events/create", delivered, [ORDER_1065])
    await mirror.sync.apply_pending()
    assert tries == [1] * SWAP_TRIES and mirror.sync.pending == {ORDER_1065}


async def test_a_swap_writes_only_over_the_version_read_and_never_inserts(db: Database) -> None:
    await db.upsert_mirrored_orders([order(1)])
    held = await db.mirrored_order("gid://shopify/Order/1")
    assert held is not None and held.version == (T0 - EPOCH) // timedelta(microseconds=1)  # a new row: the time
    changed = copy.copy(held.order).model_copy(update={"fulfillment_status": "FULFILLED"})
    stale = MirroredOrder(changed, held.updated_at, True, version=held.version + 1)
    assert await db.swap_mirrored_orders([stale]) == set()
    current = MirroredOrder(changed, held.updated_at, True, version=held.version)
    assert await db.swap_mirrored_orders([current]) == {"gid://shopify/Order/1"}
    assert await db.swap_mirrored_orders([current]) == set()  # the version moved on
    after = await db.mirrored_order("gid://shopify/Order/1")
    assert after is not None and after.version == held.version + 1 and after.order.fulfillment_status == "FULFILLED"
    missing = MirroredOrder(order(2).order, T0, True, version=0)
    assert await db.swap_mirrored_orders([missing]) == set() and await db.mirrored_order(missing.order.id) is None


async def test_a_stale_swap_never_matches_the_next_row_of_a_deleted_order(db: Database, clock: Clock) -> None:
    """A worker holding version N of an order's row must lose its compare-and-swap once that row was deleted and the
    order mirrored again: the new row's versions never repeat the old row's (they used to start at 0 again)."""
    gid = "gid://shopify/Order/1"
    for path in ("upsert", "swap"):  # a new row by a blind write (backfill, live lookup) or by a swap over no row
        await db.upsert_mirrored_orders([order(1)])
        stale = await db.mirrored_order(gid)  # what one worker read, about to write a payload over it ...
        assert stale is not None
        await db.delete_mirrored_orders(ids=[gid])  # ... meanwhile Shopify said it was gone (or it was refused) ...
        clock.advance(seconds=1)
        if path == "upsert":
            assert await db.upsert_mirrored_orders([order(1)]) == 1  # ... and it came back
        else:
            assert await db.swap_mirrored_orders([order(1)]) == {gid}
        again = await db.mirrored_order(gid)
        assert again is not None and again.version > stale.version
        payload = stale.order.model_copy(update={"fulfillment_status": "FULFILLED"})
        assert await db.swap_mirrored_orders([dataclasses.replace(stale, order=payload)]) == set()  # it lost
        kept = await db.mirrored_order(gid)
        assert kept is not None and kept.version == again.version and kept.order.fulfillment_status != "FULFILLED"
        await db.delete_mirrored_orders(ids=[gid])


# --- a webhook storm: bounded ---------------------------------------------------------------------------------------


async def test_past_the_bound_payloads_become_one_reread_each_and_the_status_says_so(
    db: Database, store: FakeShopify
) -> None:
    upstream = Upstream(store)
    sync: OrderSync = make_sync(db, store, upstream, max_payloads=3)
    try:
        await sync.backfill()
        nodes = store.orders[:6]
        for node in nodes:
            sync.accept("orders/updated", {"id": 1, "admin_graphql_api_id": node["id"]}, [node["id"], node["name"]])
        sync.accept("orders/updated", {}, [])  # names no order: a reconciliation, soon
        assert sync.pending_payloads == 3
        assert sync.pending == {node["id"] for node in nodes[3:]}  # by id, not by name too
        status = await sync.status()
        assert status.coalesced == 4 and status.pending_refreshes == 3 + 3
        assert sync._reconcile_now.is_set()
        # The payloads kept name no order state (nothing to apply): each is read too, one read an order.
        await sync.drain()
        assert sync.pending_payloads == 0 and sorted(upstream.reads) == sorted(n["id"] for n in nodes)
    finally:
        await sync.aclose()


# --- the schema -----------------------------------------------------------------------------------------------------


async def test_migration_0005_upgrades_an_existing_mirror_in_place(database_url: str, clock: Clock) -> None:
    old = Database(database_url, clock=clock)
    async with old.begin() as conn:
        await conn.run_sync(lambda sync: migrations.command.upgrade(migrations.config(sync), "0004"))
        row = {
            "id": "gid://shopify/Order/1",
            "name": "#1",
            "name_key": "1",
            "email": "a@example.com",
            "updated_at": T0,
            "synced_at": T0,
            "order_json": order(1).order.model_dump_json(),
            "events_complete": True,
        }
        await conn.execute(sa.insert(mirrored_orders).values(row))  # the columns 0004 has
    await old.close()
    async with Database(database_url, clock=clock) as database:
        async with database.read() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head()
        held = await database.mirrored_order("gid://shopify/Order/1")
        assert held is not None and held.version == 0 and held.order.name == "#1"
        assert held.shape == MIRROR_SHAPE  # its JSON carries every field read now (0007)
        assert await database.redact_mirrored_orders(ids=["gid://shopify/Order/1"]) == ["gid://shopify/Order/1"]
        assert await database.upsert_mirrored_orders([order(1)]) == 0


# --- PostgreSQL: a write never slips between a redaction's check and its commit -----------------------------------


async def test_on_postgresql_a_write_waits_for_a_redaction_under_way_and_is_refused(database_url: str) -> None:
    """READ COMMITTED would let a writer check the tombstones before a redaction commits and write after it: writers
    hold the tombstone lock shared, redaction holds it exclusively."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's writers take turns (BEGIN IMMEDIATE): no write runs beside a redaction")
    postgres_url = database_url  # emptied for this test
    async with Database(postgres_url) as database:
        await database.upsert_mirrored_orders([order(2)])  # another order: the table is in use
        redactor = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            redaction = redactor.transaction()
            await redaction.start()
            await redactor.execute("SELECT pg_advisory_xact_lock($1)", TOMBSTONE_LOCK)
            await redactor.execute(
                "INSERT INTO mirror_tombstones (kind, key, redacted_at) VALUES ('order', $1, now())",
                "gid://shopify/Order/1",
            )
            write = asyncio.create_task(database.upsert_mirrored_orders([order(1)]))
            # Until the write is seen waiting for the lock (or, without the lock, has written already).
            while not write.done() and not await redactor.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ):
                await asyncio.sleep(0.01)
            await redaction.commit()
            assert await write == 0
        finally:
            await redactor.close()
        assert await database.mirrored_order("gid://shopify/Order/1") is None
