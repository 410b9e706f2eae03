"""What a webhook's payload changes in a mirrored order, applied at once (`OrderSync.apply_webhook`), so the next
lookup answers with it instead of waiting for a re-read.

- `fulfillment_events/create` carries the whole event (status, time, message, place, the new estimate): it is added
  to its package, and the package's status follows its newest event, as Shopify's does. Nothing else in the order
  changes with it, so no re-read follows.
- `fulfillments/create` and `fulfillments/update` carry the package (status, tracking, lines shipped): it is added or
  updated, and the order's lines and summary follow what the lines say. What the payload cannot say (the fulfillment
  orders' new states, the carrier's first events) comes with the confirming re-read that follows.
- `orders/*` carry the order's own state (cancelled, closed, financial and fulfillment summaries, refunds) and the
  order's `updated_at`, which the copy takes: a payload older than the copy (a late delivery, or a retry of one)
  changes nothing rather than undo a newer one. The confirming re-read follows for the rest.
- A package that failed or was cancelled (`fulfillments/*` with status cancelled, failure or error) ships nothing: it
  is listed as the payload says, but no line is marked shipped and the order's fulfillment state stays as held.

Each function returns the changed order, or None when the payload cannot be applied (the package is unknown here, or
the payload lacks what it would need): the order is then re-read instead. Applying is idempotent and does not depend
on the order deliveries arrive in: an event already held is not added twice, and a package's status only follows the
newest event it has.
"""

from __future__ import annotations

from shopify.domain import Fulfillment, LineItem, Order
from shopify.webhooks import EventChange, FulfillmentChange, OrderChange

# Fulfillment orders still waiting for something to ship: closed once every line has shipped.
_WAITING = frozenset({"OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD", "INCOMPLETE"})
# A package in one of these states carries nothing to the shopper (Shopify's FulfillmentStatus; REST's lower case).
FAILED_PACKAGE = frozenset({"CANCELLED", "FAILURE", "ERROR"})


def apply_event(order: Order, change: EventChange) -> Order | None:
    """The order with the carrier event added to its package; None if the order holds no such package."""
    packages = list(order.fulfillments)
    index = next((i for i, f in enumerate(packages) if f.id == change.fulfillment_id), None)
    if index is None:
        return None
    packages[index] = _with_event(packages[index], change)
    return order.model_copy(update={"fulfillments": packages})


def _with_event(package: Fulfillment, change: EventChange) -> Fulfillment:
    event = change.event
    held = {(e.status, e.happened_at) for e in package.events}
    events = package.events if (event.status, event.happened_at) in held else [*package.events, event]
    events = sorted(events, key=lambda e: e.happened_at, reverse=True)
    if events[0] is not event:
        return package.model_copy(update={"events": events})  # an older event, arrived late: history only
    update: dict[str, object] = {"events": events, "display_status": event.status}
    if event.status == "DELIVERED":
        update.update(delivered_at=package.delivered_at or event.happened_at, estimated_delivery_at=None)
    elif change.estimated_delivery_at is not None:
        update["estimated_delivery_at"] = change.estimated_delivery_at
    if event.status == "IN_TRANSIT" and package.in_transit_at is None:
        update["in_transit_at"] = event.happened_at
    return package.model_copy(update=update)


def apply_fulfillment(order: Order, change: FulfillmentChange) -> Order:
    """The order with the package added (or updated: its status and tracking), and its lines as the payload says."""
    new = change.fulfillment
    packages = list(order.fulfillments)
    index = next((i for i, f in enumerate(packages) if f.id == new.id), None)
    if index is None:
        packages.append(new)
        # A package that failed or was cancelled before the copy ever held it shipped nothing.
        lines = order.line_items if new.status in FAILED_PACKAGE else _shipped_lines(order.line_items, change)
    else:
        held = packages[index]
        # What the payload says of the package replaces what was held; what it cannot say (events, times) stays.
        packages[index] = held.model_copy(
            update={
                "status": new.status,
                "display_status": new.display_status or held.display_status,
                "tracking": new.tracking or held.tracking,
                "name": new.name or held.name,
                "items": held.items or new.items,
            }
        )
        lines = order.line_items  # an update ships nothing new
    update: dict[str, object] = {"fulfillments": packages, "line_items": lines}
    shipped = index is None and new.status not in FAILED_PACKAGE
    if shipped and lines and order.fulfillment_status not in ("RESTOCKED",):
        shipped_all = all(li.unfulfilled_quantity == 0 for li in lines)
        update["fulfillment_status"] = "FULFILLED" if shipped_all else "PARTIALLY_FULFILLED"
        if shipped_all:
            update["fulfillment_orders"] = [
                fo.model_copy(update={"status": "CLOSED", "holds": []}) if fo.status in _WAITING else fo
                for fo in order.fulfillment_orders
            ]
    return order.model_copy(update=update)


def _shipped_lines(lines: list[LineItem], change: FulfillmentChange) -> list[LineItem]:
    """The order's lines after this package: what may still ship, by the payload's `fulfillable_quantity` when it
    gives one, else less what the package carries. Lines are matched by SKU and name (the domain keeps no line id)."""
    result = list(lines)
    for shipped in change.lines:
        index = next(
            (i for i, li in enumerate(result) if li.name == shipped.name and li.sku == shipped.sku and li.quantity),
            None,
        )
        if index is None:
            continue
        held = result[index]
        remaining = shipped.fulfillable_quantity
        if remaining is None:
            remaining = max(held.unfulfilled_quantity - shipped.quantity, 0)
        result[index] = held.model_copy(update={"unfulfilled_quantity": max(min(remaining, held.quantity), 0)})
    return result


def apply_order(order: Order, change: OrderChange) -> Order | None:
    """The order with its own state as the payload says, and the payload's `updated_at`; the order as held if the
    payload is older than the copy (a late delivery: what it says was already overtaken)."""
    if change.updated_at is not None and order.updated_at is not None and change.updated_at < order.updated_at:
        return order
    update: dict[str, object] = {
        "updated_at": change.updated_at or order.updated_at,
        "cancelled_at": change.cancelled_at,
        "cancel_reason": change.cancel_reason,
        "closed_at": change.closed_at,
    }
    if change.financial_status:
        update["financial_status"] = change.financial_status
    if change.fulfillment_status:  # REST says only fulfilled, partial or restocked; the finer states stay as held
        update["fulfillment_status"] = change.fulfillment_status
    if change.refunds:
        update["refunds"] = list(change.refunds)
    # Validated again: Shopify's enums are open (an unknown status reads as OTHER, see shopify.domain).
    return Order.model_validate({**order.model_dump(), **update})
