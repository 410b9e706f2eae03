"""Invented stores for the playbook's tests, in the shape of `data/demo-store.json`: one builder for every test module.

Build an invented store from the inside out and write it with `tests.server_helpers.write_store`:

    from tests.store_builders import event, order, package, refund, shop, store

    STORE = store(
        shop("Lantern Row Lighting", "America/Chicago", "USD", locale="en-US", prefix="#"),
        [
            order("#3101", email="ivy@example.com", zip_code="55802", items="Brass Desk Lamp", packages=[
                package("Brass Desk Lamp", "UPS", "1Z999AA10198765432",
                        events=[event("IN_TRANSIT", "2026-12-07T13:10:00Z", "Arrived at facility", "Superior")]),
            ]),
            order("#3102", email="jo@example.com", zip_code="55802", items="Paper Pendant Shade"),  # not shipped
        ],
        as_of="2026-12-07T15:00:00Z",
    )

Each builder gives a plain dict with the defaults most tests share (a paid order placed 28 November 2026, shipped by
one fulfillment order, its packages created on the 30th) and takes keyword arguments for what tests vary; any field it
has no argument for is passed as a keyword (`order(..., customer={"id": ...})`, `package(..., service=None)`) and
replaces or adds that field. Whether an order has shipped follows from its packages (no package: unfulfilled, an open
fulfillment order, its items still to send); `waiting=` names items still to send beside shipped ones.
A test module keeps its own small wrapper (`_order`, `_package`) only for what is the same across its own store,
e.g. the shop's currency or postcode, and calls these builders for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ORDERED_AT = "2026-11-28T15:00:00Z"
PACKED_AT = "2026-11-30T15:00:00Z"
MOVING_AT = "2026-11-30T20:00:00Z"

Items = str | Sequence[str | tuple[str, int]]


def money(amount: str, currency: str = "USD") -> dict[str, Any]:
    return {"shopMoney": {"amount": amount, "currencyCode": currency}}


def event(status: str, when: str, message: str, city: str | None = None, **extra: Any) -> dict[str, Any]:
    """A carrier's tracking event (`country=`, `province=` and the like as keywords)."""
    return {"status": status, "happenedAt": when, "message": message, "city": city} | extra


def _pairs(items: Items) -> list[tuple[str, int]]:
    named = [items] if isinstance(items, str) else list(items)
    return [(item, 1) if isinstance(item, str) else item for item in named]


def package(
    items: Items,
    carrier: str | None = None,
    number: str | None = None,
    *,
    status: str = "IN_TRANSIT",
    events: Sequence[dict[str, Any]] = (),
    created_at: str = PACKED_AT,
    in_transit_at: str | None = MOVING_AT,
    eta: str | None = None,
    delivered_at: str | None = None,
    url: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A fulfillment (a package): its items, the carrier and tracking number (none: no tracking), its events."""
    tracking = [] if carrier is None and number is None else [{"company": carrier, "number": number, "url": url}]
    return {
        "status": "SUCCESS",
        "displayStatus": status,
        "createdAt": created_at,
        "inTransitAt": in_transit_at,
        "estimatedDeliveryAt": eta,
        "deliveredAt": delivered_at,
        "trackingInfo": tracking,
        "fulfillmentLineItems": {"nodes": [{"quantity": q, "lineItem": {"name": n}} for n, q in _pairs(items)]},
        "events": {"nodes": list(events)},
    } | extra


def refund(when: str, amount: str, currency: str = "USD") -> dict[str, Any]:
    return {"createdAt": when, "totalRefundedSet": money(amount, currency)}


def _progress(shipped: bool, waiting: bool) -> tuple[str, str]:
    """The order's fulfillment status and its fulfillment order's status."""
    if not shipped:
        return "UNFULFILLED", "OPEN"
    return ("PARTIALLY_FULFILLED", "OPEN") if waiting else ("FULFILLED", "CLOSED")


def order(
    name: str,
    *,
    email: str,
    zip_code: str,
    country: str = "US",
    items: Items = (),
    waiting: Items = (),
    packages: Sequence[dict[str, Any]] = (),
    amount: str = "64.00",
    currency: str = "USD",
    id_prefix: str = "77",
    ordered_at: str = ORDERED_AT,
    original_total: bool = True,
    method: str = "SHIPPING",
    refunds: Sequence[dict[str, Any]] = (),
    shipped: bool | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An order: its id is `id_prefix` and the name's digits; `items` are sent once `packages` are given (or when
    `shipped` says so: a test that adds its packages as `fulfillments=` later)."""
    shipped = bool(packages) if shipped is None else shipped
    fulfillment_status, request_status = _progress(shipped, bool(waiting))
    lines = [{"name": n, "quantity": q, "unfulfilledQuantity": 0 if shipped else q} for n, q in _pairs(items)]
    lines += [{"name": n, "quantity": q, "unfulfilledQuantity": q} for n, q in _pairs(waiting)]
    built: dict[str, Any] = {
        "id": f"gid://shopify/Order/{id_prefix}{re.sub(r'[^0-9]', '', name)}",
        "name": name,
        "email": email,
        "createdAt": ordered_at,
        "processedAt": ordered_at,
        "cancelledAt": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": fulfillment_status,
        "returnStatus": "NO_RETURN",
        "currentTotalPriceSet": money(amount, currency),
        "shippingAddress": {"zip": zip_code, "countryCodeV2": country},
        "lineItems": {"nodes": lines},
        "fulfillmentOrders": {"nodes": [{"status": request_status, "deliveryMethod": {"methodType": method}}]},
        "fulfillments": list(packages),
        "refunds": list(refunds),
    }
    if original_total:
        built["totalPriceSet"] = money(amount, currency)
    return built | extra


def shop(
    name: str, timezone: str, currency: str, *, locale: str | None = None, prefix: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A shop block; `prefix` gives Shopify's order name format (`orderNumberFormatPrefix`, an empty suffix)."""
    block: dict[str, Any] = {"name": name, "ianaTimezone": timezone, "currencyCode": currency}
    if locale is not None:
        block["locale"] = locale
    if prefix is not None:
        block |= {"orderNumberFormatPrefix": prefix, "orderNumberFormatSuffix": ""}
    return block | extra


def store(shop_block: dict[str, Any], orders: Sequence[dict[str, Any]], *, as_of: str) -> dict[str, Any]:
    """A whole store file: what `write_store` writes and `lumen chat --store` reads."""
    return {"asOf": as_of, "shop": shop_block, "orders": list(orders)}
