"""Webhooks applied to the order mirror from their payload (sync.changes, `OrderSync.apply_webhook`), the confirming
re-read that follows, the optional carrier-events reads on lookup and their place behind refreshes, and a webhook
handled while every turn slot is taken.

Payloads are the fake Shopify's, built as Shopify's REST webhooks are (numeric ids, `order_id` on package payloads,
`admin_graphql_api_id` beside them), signed, and read by Lumen's own `parse_webhook`. Every test that touches the
database runs on SQLite and on the PostgreSQL the suite starts. Nothing here sleeps or times anything.
"""
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.service import Lumen
from agent.webhooks import WebhookOutcome, handle_webhook
from evals.fakes.shopify_admin import FakeShopify
from shopify.client import ORDER_EVENTS_QUERY, ORDER_QUERY, ShopifyAdmin
from shopify.source import parse_now
from shopify.webhooks import parse_webhook
from storage import Database, MirroredOrder
from sync import Applied, MirroredSource
from sync.service import EVENTS_HIGH_WATER
from tests.fixtures import TOKEN

# The mirror's harness: the mirror over the demo store, its database, the fake put back after each test. Imported,
# the fixtures are this module's too (and each test's parameter of the same name is them: hence F811 off here).
from tests.mirror_harness import (  # noqa: F401
    AT,
    JORDAN_1042,
    ORDER_1065,
    ORDER_1088,
    TRACKING,
    change,
    db,
    deliver,
    deliver_later,
    delivered_and_earlier,
    demo_server,
    mirror,
    store,
    upstream_of,
)
from tests.server_helpers import make_settings


async def test_a_carrier_event_is_applied_from_its_payload_and_needs_no_read(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await change(store, ORDER_1065, "deliver", "fulfillment_events/create")
    payload = store.deliveries[-1].payload
    assert isinstance(payload["order_id"], int) and isinstance(payload["fulfillment_id"], int)
    done = await deliver(db, mirror, store)
    assert isinstance(done, Applied) and done.applied == [ORDER_1065] and done.refreshed == []
    # The next lookup has it, with nothing read from Shopify and nothing queued.
    (order,) = await mirror.orders_by_name("1065")
    (package,) = order.fulfillments
    assert package.display_status == "DELIVERED"
    assert package.delivered_at is not None and package.delivered_at.isoformat() == AT
    assert [e.status for e in package.events][:1] == ["DELIVERED"]
    assert mirror.sync.pending == frozenset() and upstream.reads == []
    assert (await mirror.sync.status()).applied == 1


async def test_a_redelivered_event_is_not_applied_twice_and_an_older_one_is_history_only(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    await change(store, ORDER_1065, "deliver", "fulfillment_events/create")
    delivered = store.deliveries[-1]
    await deliver(db, mirror, store)
    # Shopify retries with the same ids and body: remembered, not applied again.
    again = await deliver(db, mirror, store)
    assert isinstance(again, WebhookOutcome) and again.duplicate
    (order,) = await mirror.orders_by_name("1065")
    assert [e.status for e in order.fulfillments[0].events].count("DELIVERED") == 1
    # An earlier carrier event delivered late (a new delivery of its own) is kept, but the package stays delivered.
    late = {**delivered.payload, "id": 1, "status": "in_transit", "happened_at": "2026-02-26T09:00:00Z"}
    headers = {k.lower(): v for k, v in delivered.headers.items()} | {"x-shopify-event-id": "late"}
    webhook = parse_webhook(headers | {"x-shopify-webhook-id": "late"}, json.dumps(late).encode())
    assert webhook.triggered_at is not None
    await handle_webhook(db, mirror, serves_shop=lambda _: True, delivery=webhook, now=webhook.triggered_at)
    (done,) = await mirror.sync.apply_pending()
    assert done.applied == [ORDER_1065]
    (order,) = await mirror.orders_by_name("1065")
    package = order.fulfillments[0]
    assert package.display_status == "DELIVERED" and package.events[0].status == "DELIVERED"
    assert any(e.happened_at.isoformat() == "2026-02-26T09:00:00+00:00" for e in package.events)


async def test_a_new_package_shows_at_once_and_one_confirming_read_follows(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await change(store, ORDER_1088, "ship", "fulfillments/create")
    payload = store.deliveries[-1].payload
    assert payload["order_id"] == 5001088 and payload["tracking_number"] == TRACKING["number"]
    done = await deliver(db, mirror, store)
    assert isinstance(done, Applied) and done.applied == [ORDER_1088] and done.confirming == [ORDER_1088]
    assert done.refreshed == []
    # Before any read: the package with its tracking number, the order shipped, nothing left waiting.
    (order,) = await mirror.orders_by_name("1088")
    assert [t.number for f in order.fulfillments for t in f.tracking] == [TRACKING["number"]]
    assert order.fulfillment_status == "FULFILLED"
    assert all(li.unfulfilled_quantity == 0 for li in order.line_items)
    assert [fo.status for fo in order.fulfillment_orders] == ["CLOSED"]
    assert upstream.reads == [] and mirror.sync.pending_confirms == {ORDER_1088}
    # The same change announced again (orders/updated) coalesces into the one confirming read, a bulk operation.
    await store.change_order(ORDER_1088, lambda _node: None, "orders/updated", deliver=False)
    await deliver(db, mirror, store)
    assert mirror.sync.pending_confirms == {ORDER_1088} and mirror.sync.pending == frozenset()
    assert await mirror.sync.confirm_pending() == 1
    assert upstream.confirms == [[ORDER_1088]] and upstream.reads == []
    held = await db.mirrored_order(ORDER_1088)
    assert held is not None and held.updated_at == parse_now(store.order(ORDER_1088)["updatedAt"])
    # A bulk operation cannot carry carrier events: the new package on its way has none yet, so the copy says so,
    # and the next lookup wishes for them (an optional events read, not a whole one).
    assert not held.events_complete
    (order,) = await mirror.orders_by_name("1088")
    assert [t.number for f in order.fulfillments for t in f.tracking] == [TRACKING["number"]]
    assert mirror.sync.pending_events == {ORDER_1088}
    await mirror.sync.drain()
    assert upstream.event_reads == [ORDER_1088] and upstream.reads == []
    (order,) = await mirror.orders_by_name("1088")
    assert [e.status for f in order.fulfillments for e in f.events] == ["IN_TRANSIT", "LABEL_PURCHASED"]
    held = await db.mirrored_order(ORDER_1088)
    assert held is not None and held.events_complete


async def test_a_cancellation_shows_at_once_with_its_refund(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    await change(store, ORDER_1088, "cancel", "orders/cancelled")
    done = await deliver(db, mirror, store)
    assert isinstance(done, Applied) and done.applied == [ORDER_1088]
    (order,) = await mirror.orders_by_name("1088")
    assert order.cancelled_at is not None and order.cancelled_at.isoformat() == AT
    assert order.financial_status == "REFUNDED" and order.cancel_reason == "CUSTOMER"
    assert [(r.amount.amount if r.amount else None) for r in order.refunds] == [
        order.total.amount if order.total else None
    ]


async def test_an_event_for_a_package_the_mirror_does_not_hold_is_read_instead(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    payload = {"id": 77, "fulfillment_id": 999, "order_id": 5001065, "status": "delivered", "happened_at": AT}
    headers = {"x-shopify-topic": "fulfillment_events/create", "x-shopify-event-id": "e-unknown"}
    webhook = parse_webhook(headers, json.dumps(payload).encode())  # no triggered-at header: not a late one
    await handle_webhook(db, mirror, serves_shop=lambda _: True, delivery=webhook, now=db.clock())
    (done,) = await mirror.sync.apply_pending()
    assert done.applied == [] and done.refreshed == [ORDER_1065]
    await mirror.sync.drain()
    assert upstream.reads == [ORDER_1065]


async def test_refreshes_go_before_events_reads_and_events_wait_for_room_in_the_bucket(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await mirror.orders_by_name("1042")  # in transit, held without events: an optional events read is wished
    assert mirror.sync.pending_events == {JORDAN_1042}
    # The bucket is low (other reads, or shoppers' live lookups): the refresh is read, the events read waits.
    upstream.level = (EVENTS_HIGH_WATER * 2000 - 1, 2000)
    mirror.invalidate(ORDER_1088)
    await mirror.sync.drain()
    assert upstream.reads == [ORDER_1088] and upstream.event_reads == []
    assert mirror.sync.pending_events == {JORDAN_1042}
    # With room to spare, it is read.
    upstream.level = (2000, 2000)
    await mirror.sync.drain()
    assert upstream.event_reads == [JORDAN_1042]


async def test_an_events_read_of_an_order_changed_since_its_copy_reads_it_whole(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await mirror.orders_by_name("1042")
    await store.change_order(JORDAN_1042, lambda node: node.update(displayFinancialStatus="REFUNDED"), deliver=False)
    await mirror.sync.drain()  # the events read sees a newer updatedAt: the copy is not patched, the order is read
    assert upstream.event_reads == [JORDAN_1042] and mirror.sync.pending == {JORDAN_1042}
    await mirror.sync.drain()
    assert upstream.reads == [JORDAN_1042]
    (order,) = await mirror.orders_by_name("1042")
    assert order.financial_status == "REFUNDED" and all(f.events for f in order.fulfillments)


async def test_the_events_query_reads_what_a_whole_read_does_for_less(fake: FakeShopify) -> None:
    async with ShopifyAdmin(fake.url, TOKEN) as admin:
        node = await admin.order_events_node(JORDAN_1042)
        whole = await admin.order_by_id(JORDAN_1042)
    assert node is not None and whole is not None
    assert node["updatedAt"] == fake.order(JORDAN_1042)["updatedAt"]
    assert node["fulfillmentsCount"]["count"] == len(node["fulfillments"]) == len(whole.fulfillments)
    assert [f["id"] for f in node["fulfillments"]] == [f.id for f in whole.fulfillments]
    statuses = [[e["status"] for e in f["events"]["nodes"]] for f in node["fulfillments"]]
    assert statuses == [[e.status for e in f.events] for f in whole.fulfillments]
    # What Shopify's cost rules charge each (the fake computes them as Shopify documents them).
    costs = []
    async with httpx.AsyncClient() as http:
        for query in (ORDER_EVENTS_QUERY, ORDER_QUERY):
            body = {"query": query, "variables": {"id": JORDAN_1042}}
            answer = (await http.post(fake.url, json=body, headers={"X-Shopify-Access-Token": TOKEN})).json()
            costs.append(answer["extensions"]["cost"])
    events, whole_read = costs
    assert events["actualQueryCost"] < whole_read["actualQueryCost"]
    assert events["requestedQueryCost"] < whole_read["requestedQueryCost"]


async def test_a_webhook_is_applied_while_every_turn_slot_is_taken(
    mirror: MirroredSource, store: FakeShopify, db: Database, tmp_path: Path
) -> None:
    await mirror.sync.backfill()
    lumen = Lumen(make_settings(tmp_path), mirror, db)
    slots = lumen._slots
    taken = 0
    while not slots.locked():  # every shopper's turn slot held, as under a Black Friday queue
        await slots.acquire()
        taken += 1
    try:
        await change(store, ORDER_1088, "ship", "fulfillments/create")
        sent = store.deliveries[-1]
        webhook = parse_webhook({k.lower(): v for k, v in sent.headers.items()}, sent.body)
        # A guard against a hang, not a timing assertion: a webhook that waited for a slot would never finish.
        outcome = await asyncio.wait_for(lumen.handle_webhook(webhook), timeout=60)
        assert outcome.applying == [ORDER_1088]
        (done,) = await asyncio.wait_for(mirror.sync.apply_pending(), timeout=60)
        assert done.applied == [ORDER_1088]
        (order,) = await mirror.orders_by_name("1088")
        assert [t.number for f in order.fulfillments for t in f.tracking] == [TRACKING["number"]]
        # The confirming read needs no slot.
        assert await asyncio.wait_for(mirror.sync.confirm_pending(), timeout=60) == 1
    finally:
        for _ in range(taken):
            slots.release()


@pytest.mark.parametrize("topic", ["fulfillments/create", "orders/cancelled", "fulfillment_events/create"])
async def test_a_payload_for_an_order_the_mirror_does_not_hold_brings_it_in_the_next_batch(
    mirror: MirroredSource, store: FakeShopify, db: Database, topic: str
) -> None:
    # Nothing backfilled: nothing to apply to, so the order comes whole (but for carrier events) with the next batch.
    kind = {"fulfillments/create": "ship", "orders/cancelled": "cancel", "fulfillment_events/create": "deliver"}[topic]
    order_id = ORDER_1065 if kind == "deliver" else ORDER_1088
    await change(store, order_id, kind, topic)
    done = await deliver(db, mirror, store)
    assert isinstance(done, Applied) and done.applied == [] and done.confirming == [order_id]
    assert await db.mirrored_order(order_id) is None
    assert await mirror.sync.confirm_pending() == 1
    upstream = upstream_of(mirror)
    assert upstream.confirms == [[order_id]] and upstream.reads == []
    held = await db.mirrored_order(order_id)
    assert held is not None and held.updated_at == parse_now(store.order(order_id)["updatedAt"])


async def test_a_delivery_is_remembered_by_every_key_in_one_write(db: Database) -> None:
    assert await db.remember_webhook_keys(["evt-1", "webhook:w-1", "sha256:b-1"], "orders/updated") is True
    # A retry (same ids), or the same body replayed under new ids: seen.
    assert await db.remember_webhook_keys(["evt-1", "webhook:w-1", "sha256:b-1"], "orders/updated") is False
    assert await db.remember_webhook_keys(["evt-2", "webhook:w-2", "sha256:b-1"], "orders/updated") is False
    # Every key of that replay was remembered all the same.
    assert await db.remember_webhook("evt-2", "orders/updated") is False
    assert await db.remember_webhook_keys(["evt-3", "evt-3"], "orders/updated") is True


async def test_an_order_payload_without_the_order_state_is_not_taken_for_one(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    held = await db.mirrored_order("gid://shopify/Order/5001055")  # cancelled
    assert held is not None and held.order.cancelled_at is not None
    # A body naming the order but not its state: absent keys must not read as "not cancelled"; it is read instead.
    mirror.accept_webhook("orders/updated", {"id": 5001055, "name": "#1055"}, ["gid://shopify/Order/5001055", "#1055"])
    (done,) = await mirror.sync.apply_pending()
    assert done.applied == [] and "gid://shopify/Order/5001055" in done.refreshed
    still = await db.mirrored_order("gid://shopify/Order/5001055")
    assert still is not None and still.order.cancelled_at == held.order.cancelled_at


async def test_the_mirror_reports_how_long_payloads_waited_to_be_applied(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    assert (await mirror.sync.status()).apply_lag_max_s is None  # nothing applied: nothing to report
    await change(store, ORDER_1065, "deliver", "fulfillment_events/create")
    await deliver(db, mirror, store)
    status = await mirror.sync.status()
    assert status.applied == 1 and status.apply_lag_p50_s is not None and status.apply_lag_max_s is not None
    assert 0 <= status.apply_lag_p50_s <= status.apply_lag_max_s


async def test_a_drain_applies_the_payloads_already_there_and_then_reads(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    mirror.invalidate(ORDER_1065)
    await change(store, ORDER_1088, "ship", "fulfillments/create")
    await deliver_later(db, mirror, store)
    real = mirror.sync._apply_batch
    arrivals = []

    async def busy_day(batch: Sequence[tuple[str, object, list[str]]]) -> list[Applied]:
        # Another webhook arrives while each batch is applied (five at most, so a drain that waited for an empty
        # queue would still end, having applied them all).
        if len(arrivals) < 5:
            arrivals.append(batch[0][0])
            await change(store, ORDER_1088, "ship", "fulfillments/update")
            await deliver_later(db, mirror, store)
        return await real(batch)

    mirror.sync._apply_batch = busy_day  # type: ignore[method-assign]
    assert await mirror.sync.drain() == 1  # the refresh queued before; the new package waits for its batch
    assert upstream.reads == [ORDER_1065] and mirror.sync.pending_confirms == {ORDER_1088}
    assert mirror.sync.pending_payloads == 1  # what came during the drain waits for the applier


async def test_payloads_waiting_together_are_applied_in_order_with_one_write(
    mirror: MirroredSource, store: FakeShopify, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await mirror.sync.backfill()
    # A package ships, then its carrier scans it as delivered; and another order is delivered: three webhooks
    # waiting together.
    await change(store, ORDER_1088, "ship", "fulfillments/create")
    await deliver_later(db, mirror, store)
    await change(store, ORDER_1088, "deliver", "fulfillment_events/create", at="2026-02-28T11:00:00+00:00")
    await deliver_later(db, mirror, store)
    await change(store, ORDER_1065, "deliver", "fulfillment_events/create")
    await deliver_later(db, mirror, store)
    writes = []
    swap = db.swap_mirrored_orders  # a payload's write is a compare-and-swap (sync.writes)

    async def counted(orders: Sequence[MirroredOrder]) -> set[str]:
        writes.append(len(orders))
        return await swap(orders)

    monkeypatch.setattr(db, "swap_mirrored_orders", counted)
    done = await mirror.sync.apply_pending()
    assert [d.applied for d in done] == [[ORDER_1088], [ORDER_1088], [ORDER_1065]]
    assert writes == [2]  # one write, one row an order
    (order,) = await mirror.orders_by_name("1088")
    (package,) = order.fulfillments
    assert [t.number for t in package.tracking] == [TRACKING["number"]] and package.display_status == "DELIVERED"
    (other,) = await mirror.orders_by_name("1065")
    assert other.fulfillments[0].display_status == "DELIVERED"


async def test_an_event_applied_while_a_read_is_being_stored_queues_a_confirming_read(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    """A re-read that left Shopify before a carrier event is stored after it: the event's payload, applied in
    between, must queue one more read rather than be written over for good."""
    await mirror.sync.backfill()
    sync = mirror.sync
    before = await sync.reader(ORDER_1065)  # Shopify's copy before the carrier event
    delivered, _earlier = await delivered_and_earlier(store)

    async def read_from_before_the_event(order_id: str) -> Any:
        return before

    real_store = sync._store

    async def event_arrives_meanwhile(orders: Any, **options: Any) -> Any:
        sync.accept("fulfillment_events/create", delivered, [ORDER_1065])
        await sync.apply_pending()
        return await real_store(orders, **options)

    sync.reader = read_from_before_the_event  # type: ignore[method-assign]
    sync._store = event_arrives_meanwhile  # type: ignore[method-assign]
    await sync.refresh(ORDER_1065)
    sync._store = real_store  # type: ignore[method-assign]
    held = await db.mirrored_order(ORDER_1065)
    assert held is not None
    statuses = [e.status for e in held.order.fulfillments[0].events]
    assert "DELIVERED" in statuses or ORDER_1065 in sync.pending
