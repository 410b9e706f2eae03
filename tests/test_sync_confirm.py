"""The order mirror's confirming reads, batched (`OrderSync.confirm_pending`): what webhooks' payloads cannot say
reaches the mirror with one bulk operation for every order changed in a window; a payload applied while it runs is not
written over; a busy or failed bulk operation falls back to reads by id; reconciliation does not read again an order
whose confirmation is on its way or done, and still heals a dropped webhook. Also what `sync.changes` does with a
failed package and a late, older order payload.

Everything is driven by explicit calls (apply, confirm, drain, reconcile): nothing sleeps or times anything. The
fixtures are tests/mirror_harness.py's (SQLite and the PostgreSQL the suite starts).
"""
# ruff: noqa: F811

from __future__ import annotations

import copy
import dataclasses
from datetime import timedelta
from typing import Any

import pytest

import sync.service
from evals.fakes.shopify_admin import FakeShopify
from shopify.bulk import BulkBusy
from shopify.domain import parse_order
from shopify.source import parse_now
from shopify.store_file import DEMO_STORE, FixtureStore
from shopify.webhooks import fulfillment_change, order_change
from storage import Database
from sync import MirroredSource
from sync.changes import apply_fulfillment, apply_order
from tests.fixtures import Clock
from tests.mirror_harness import (  # noqa: F401
    JORDAN_1042,
    ORDER_1065,
    ORDER_1088,
    TRACKING,
    change,
    db,
    deliver_later,
    demo_server,
    mirror,
    store,
    upstream_of,
)

HOLD = {"reason": "AWAITING_PAYMENT"}


def place_hold(node: dict[str, Any]) -> None:
    """The merchant holds the order's fulfillment order: nothing of it is in an orders/updated payload."""
    for fulfillment_order in node["fulfillmentOrders"]["nodes"]:
        fulfillment_order.update(status="ON_HOLD", fulfillmentHolds=[HOLD])


async def test_every_order_changed_in_a_window_is_confirmed_by_one_bulk_operation(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await change(store, ORDER_1088, "ship", "fulfillments/create")
    await deliver_later(db, mirror, store)
    await change(store, JORDAN_1042, "cancel", "orders/cancelled")
    await deliver_later(db, mirror, store)
    await change(store, ORDER_1065, "deliver", "fulfillment_events/create")  # whole in its payload: no confirmation
    await deliver_later(db, mirror, store)
    done = await mirror.sync.apply_pending()
    assert [d.confirming for d in done] == [[ORDER_1088], [JORDAN_1042], []]
    assert mirror.sync.pending_confirms == {ORDER_1088, JORDAN_1042} and mirror.sync.pending == frozenset()
    assert await mirror.sync.confirm_pending() == 2
    assert [sorted(batch) for batch in upstream.confirms] == [sorted([ORDER_1088, JORDAN_1042])]
    assert upstream.reads == [] and mirror.sync.pending_confirms == frozenset()
    for order_id in (ORDER_1088, JORDAN_1042):
        held = await db.mirrored_order(order_id)
        assert held is not None and held.updated_at == parse_now(store.order(order_id)["updatedAt"])
    status = await mirror.sync.status()
    assert status.confirmed == 2 and status.pending_confirms == 0 and status.confirm_fallbacks == 0


async def test_more_orders_than_a_batch_holds_go_in_several_operations(
    mirror: MirroredSource, store: FakeShopify, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sync.service, "CONFIRM_BATCH", 2)
    await mirror.sync.backfill()
    changed = [ORDER_1088, JORDAN_1042, ORDER_1065]
    for order_id in changed:
        await store.change_order(order_id, place_hold, "orders/updated", deliver=False)
        await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    assert await mirror.sync.confirm_pending() == 3
    assert upstream_of(mirror).confirms == [changed[:2], changed[2:]]


async def test_a_hold_the_payload_cannot_show_arrives_with_the_confirmation(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    await store.change_order(ORDER_1088, place_hold, "orders/updated", deliver=False)
    await deliver_later(db, mirror, store)
    (done,) = await mirror.sync.apply_pending()
    assert done.applied == [ORDER_1088] and done.confirming == [ORDER_1088]
    (order,) = await mirror.orders_by_name("1088")
    assert [fo.status for fo in order.fulfillment_orders] == ["OPEN"]  # the payload could not say
    assert await mirror.sync.confirm_pending() == 1
    (order,) = await mirror.orders_by_name("1088")
    assert [fo.status for fo in order.fulfillment_orders] == ["ON_HOLD"]
    assert [h.reason for fo in order.fulfillment_orders for h in fo.holds] == [HOLD["reason"]]


async def test_a_payload_applied_while_the_bulk_operation_runs_is_not_written_over(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    sync = mirror.sync
    upstream = upstream_of(mirror)
    await store.change_order(ORDER_1065, lambda _node: None, "orders/updated", deliver=False)
    await deliver_later(db, mirror, store)
    await sync.apply_pending()
    real = sync.confirmer

    async def carrier_scans_meanwhile(order_ids: list[str]) -> list[dict[str, Any]]:
        nodes = await real(order_ids)  # Shopify's answer, read before the carrier's scan ...
        await change(store, ORDER_1065, "deliver", "fulfillment_events/create")
        await deliver_later(db, mirror, store)
        await sync.apply_pending()  # ... which is applied before the answer is stored
        return nodes

    sync.confirmer = carrier_scans_meanwhile
    assert await sync.confirm_pending() == 0
    (order,) = await mirror.orders_by_name("1065")
    assert order.fulfillments[0].display_status == "DELIVERED"  # kept, not undone by the older answer
    assert sync.pending_confirms == {ORDER_1065}  # confirmed in the next batch instead
    sync.confirmer = real
    assert await sync.confirm_pending() == 1
    (order,) = await mirror.orders_by_name("1065")
    (package,) = order.fulfillments
    assert package.display_status == "DELIVERED" and package.events[0].status == "DELIVERED"  # its events kept
    assert len(upstream.confirms) == 2 and upstream.reads == []


async def test_a_confirmation_never_writes_over_another_workers_payload_written_after_its_merge(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    """The merge checked the copy; another worker's payload lands before the write: the compare-and-swap keeps it."""
    await mirror.sync.backfill()
    sync = mirror.sync
    await store.change_order(ORDER_1065, place_hold, "orders/updated", deliver=False)
    await deliver_later(db, mirror, store)
    await sync.apply_pending()
    merge = sync._merge_confirmed

    async def another_worker_writes_after_the_merge(*args: Any) -> Any:
        merged = await merge(*args)
        held = await db.mirrored_order(ORDER_1065)
        assert held is not None
        packages = [p.model_copy(update={"display_status": "DELIVERED"}) for p in held.order.fulfillments]
        other = held.order.model_copy(update={"fulfillments": packages})
        assert await db.swap_mirrored_orders([dataclasses.replace(held, order=other)]) == {ORDER_1065}
        return merged

    sync._merge_confirmed = another_worker_writes_after_the_merge  # type: ignore[method-assign]
    assert await sync.confirm_pending() == 0
    (order,) = await mirror.orders_by_name("1065")
    assert [p.display_status for p in order.fulfillments] == ["DELIVERED"]  # the other worker's write stands
    assert ORDER_1065 in sync.pending  # and the order is read again, on top of it


@pytest.mark.parametrize("failure", [BulkBusy("LIMIT_REACHED", "all taken"), RuntimeError("Shopify unreachable")])
async def test_a_busy_or_failed_bulk_operation_falls_back_to_reads_by_id(
    mirror: MirroredSource, store: FakeShopify, db: Database, failure: Exception
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await store.change_order(ORDER_1088, place_hold, "orders/updated", deliver=False)
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    upstream.confirm_error = failure
    assert await mirror.sync.confirm_pending() == 0
    assert mirror.sync.pending == {ORDER_1088} and mirror.sync.pending_confirms == frozenset()
    assert await mirror.sync.drain() == 1
    assert upstream.reads == [ORDER_1088]
    (order,) = await mirror.orders_by_name("1088")
    assert [fo.status for fo in order.fulfillment_orders] == ["ON_HOLD"]
    assert (await mirror.sync.status()).confirm_fallbacks == 1


async def test_an_order_the_bulk_operation_did_not_return_is_read_by_id(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await store.change_order(ORDER_1088, place_hold, "orders/updated", deliver=False)
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()

    async def not_in_the_search_index_yet(order_ids: list[str]) -> list[dict[str, Any]]:
        upstream.confirms.append(order_ids)
        return []

    mirror.sync.confirmer = not_in_the_search_index_yet
    assert await mirror.sync.confirm_pending() == 0
    assert mirror.sync.pending == {ORDER_1088}
    await mirror.sync.drain()
    assert upstream.reads == [ORDER_1088]


async def test_reconciliation_leaves_orders_whose_confirmation_is_on_its_way_or_done(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    clock.advance(minutes=10)
    await store.change_order(ORDER_1088, place_hold, "orders/updated", deliver=False)
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    # Waiting for its batch: reconciliation sees the change and leaves it to the confirmation.
    assert await mirror.sync.reconcile() == 1
    assert upstream.reads == []
    await mirror.sync.confirm_pending()
    # Confirmed: the copy's stamp is Shopify's, so the next reconciliation reads nothing either ...
    clock.advance(minutes=10)
    assert await mirror.sync.reconcile() == 1
    assert upstream.reads == []
    # ... while a change whose webhook was lost is still healed.
    await store.change_order(JORDAN_1042, place_hold, "orders/updated", deliver=False)
    clock.advance(minutes=10)
    await mirror.sync.reconcile()
    assert upstream.confirms[-1] == [JORDAN_1042] and upstream.reads == []
    (order,) = await mirror.orders_by_name("1042")
    assert {fo.status for fo in order.fulfillment_orders} == {"ON_HOLD"}


async def test_a_copy_changed_by_a_payload_keeps_the_stamp_of_the_version_last_read(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    """The payload moves the copy's own updatedAt but not the stamp of the version last read whole: should its
    confirmation never come (the worker stops), reconciliation still reads the order."""
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    backfilled = await db.mirrored_order(ORDER_1088)
    assert backfilled is not None
    clock.advance(minutes=10)
    await change(store, ORDER_1088, "cancel", "orders/cancelled")
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    held = await db.mirrored_order(ORDER_1088)
    assert held is not None and held.order.cancelled_at is not None
    assert held.updated_at == backfilled.updated_at
    assert held.order.updated_at == parse_now(store.order(ORDER_1088)["updatedAt"])
    mirror.sync._confirm.clear()  # the confirmation is lost with its worker
    await mirror.sync.reconcile()
    assert upstream.confirms == [[ORDER_1088]]
    held = await db.mirrored_order(ORDER_1088)
    assert held is not None and held.updated_at == parse_now(store.order(ORDER_1088)["updatedAt"])


async def test_reconciliation_reads_orders_carrier_events_changed_in_one_bulk_operation(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    """Carrier events are applied from their payloads, which say nothing of the order's updatedAt: reconciliation
    finds those orders changed and reads them all in one bulk operation, not one by one; a lost carrier event comes
    back as the package's status, and the copy then wishes for the events it lacks."""
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await mirror.sync.refresh(JORDAN_1042)  # read whole: its carrier events held
    read = await db.mirrored_order(JORDAN_1042)
    assert read is not None and read.events_complete and read.order.fulfillments[0].events
    upstream.reads.clear()
    clock.advance(minutes=10)
    await change(store, ORDER_1065, "deliver", "fulfillment_events/create")  # its webhook came ...
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    await change(store, JORDAN_1042, "deliver", "fulfillment_events/create")  # ... this one's was lost
    assert await mirror.sync.reconcile() == 2
    assert [sorted(batch) for batch in upstream.confirms] == [sorted([ORDER_1065, JORDAN_1042])]
    assert upstream.reads == []
    for name in ("1065", "1042"):
        (order,) = await mirror.orders_by_name(name)
        assert order.fulfillments[0].display_status == "DELIVERED"
    kept = await db.mirrored_order(ORDER_1065)
    healed = await db.mirrored_order(JORDAN_1042)
    assert kept is not None and kept.order.fulfillments[0].events[0].status == "DELIVERED"
    # The DELIVERED scan itself is not in a bulk row: the copy says its events are incomplete, and keeps the others.
    assert healed is not None and not healed.events_complete
    assert healed.order.fulfillments[0].events == read.order.fulfillments[0].events


async def test_no_events_read_runs_on_a_copy_a_payload_changed_before_its_confirmation(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await store.change_order(JORDAN_1042, place_hold, "orders/updated", deliver=False)  # in transit, no events held
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    assert await mirror.sync.read_events(JORDAN_1042) is False  # waiting for its confirmation
    saved, mirror.sync._confirm = mirror.sync._confirm, {}
    assert await mirror.sync.read_events(JORDAN_1042) is False  # its confirmation lost: the stamp says unconfirmed
    mirror.sync._confirm = saved
    assert upstream.event_reads == [] and upstream.reads == []
    await mirror.sync.confirm_pending()
    assert await mirror.sync.read_events(JORDAN_1042) is True
    held = await db.mirrored_order(JORDAN_1042)
    assert held is not None and held.events_complete and held.order.fulfillments[0].events
    assert {fo.status for fo in held.order.fulfillment_orders} == {"ON_HOLD"}


async def test_a_shipped_order_asked_about_before_its_confirmation_costs_no_read_by_id(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    await change(store, ORDER_1088, "ship", "fulfillments/create")
    await deliver_later(db, mirror, store)
    await mirror.sync.apply_pending()
    (order,) = await mirror.orders_by_name("1088")  # the shopper asks at once: the new package, no events yet
    assert [t.number for f in order.fulfillments for t in f.tracking] == [TRACKING["number"]]
    assert mirror.sync.pending_events == {ORDER_1088}
    await mirror.sync.drain()  # the events wish waits for the confirmation rather than read the changed order whole
    assert upstream.reads == [] and upstream.event_reads == []
    await mirror.sync.confirm_pending()
    await mirror.orders_by_name("1088")
    await mirror.sync.drain()
    assert upstream.reads == [] and upstream.event_reads == [ORDER_1088]


# --- sync.changes ----------------------------------------------------------------------------------------------------


def demo_order(name: str) -> Any:
    return parse_order(copy.deepcopy(next(o for o in FixtureStore(DEMO_STORE).raw["orders"] if o["name"] == name)))


def package_payload(status: str) -> dict[str, Any]:
    """A fulfillments/create payload for a package the copy does not hold, carrying every line of #1088."""
    order = demo_order("#1088")
    lines = [{"name": li.name, "sku": li.sku, "quantity": li.quantity, "fulfillable_quantity": 0}
             for li in order.line_items]  # fmt: skip
    return {"id": 9001, "order_id": 5001088, "status": status, "created_at": "2026-02-27T15:00:00Z",
            "tracking_number": "1ZFAILED", "tracking_company": "UPS", "line_items": lines}  # fmt: skip


@pytest.mark.parametrize("status", ["cancelled", "failure", "error"])
def test_a_failed_package_the_copy_does_not_hold_ships_nothing(status: str) -> None:
    order = demo_order("#1088")
    assert order.fulfillment_status == "UNFULFILLED" and any(li.unfulfilled_quantity for li in order.line_items)
    change_ = fulfillment_change(package_payload(status))
    assert change_ is not None
    after = apply_fulfillment(order, change_)
    assert [p.status for p in after.fulfillments] == [status.upper()]  # listed as the payload says ...
    assert after.line_items == order.line_items  # ... but nothing shipped
    assert after.fulfillment_status == order.fulfillment_status
    assert after.fulfillment_orders == order.fulfillment_orders


def test_a_successful_package_the_copy_does_not_hold_ships_its_lines() -> None:
    order = demo_order("#1088")
    change_ = fulfillment_change(package_payload("success"))
    assert change_ is not None
    after = apply_fulfillment(order, change_)
    assert all(li.unfulfilled_quantity == 0 for li in after.line_items) and after.fulfillment_status == "FULFILLED"


def order_payload(updated_at: str, cancelled_at: str | None) -> dict[str, Any]:
    return {"id": 5001088, "updated_at": updated_at, "cancelled_at": cancelled_at, "cancel_reason": None,
            "closed_at": None, "financial_status": "paid", "fulfillment_status": None}  # fmt: skip


def test_an_order_payload_moves_the_copy_s_updated_at_and_a_late_older_one_changes_nothing() -> None:
    order = demo_order("#1088")
    newer = order_change(order_payload("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"))
    older = order_change(order_payload("2026-12-01T09:00:00Z", None))  # sent first, delivered last
    assert newer is not None and older is not None
    cancelled = apply_order(order, newer)
    assert cancelled is not None and cancelled.cancelled_at is not None
    assert cancelled.updated_at == newer.updated_at
    late = apply_order(cancelled, older)
    assert late == cancelled  # not undone


async def test_a_late_older_order_payload_does_not_undo_a_newer_one_in_the_mirror(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    before = copy.deepcopy(store.order(ORDER_1088))
    await change(store, ORDER_1088, "cancel", "orders/cancelled")
    newer = copy.deepcopy(store.deliveries[-1].payload)
    earlier = (parse_now(newer["updated_at"]) - timedelta(minutes=1)).isoformat()
    older = newer | {"updated_at": earlier, "cancelled_at": before["cancelledAt"], "cancel_reason": None}
    mirror.accept_webhook("orders/cancelled", newer, [ORDER_1088])
    mirror.accept_webhook("orders/updated", older, [ORDER_1088])
    await mirror.sync.apply_pending()
    (order,) = await mirror.orders_by_name("1088")
    assert order.cancelled_at is not None and order.cancel_reason == "CUSTOMER"
    assert order.updated_at == parse_now(newer["updated_at"])
