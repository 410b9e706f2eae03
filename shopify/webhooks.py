"""Reading Shopify's webhooks: the delivery's headers and JSON body, which order a topic names, whom a customers/redact
payload is about, and Shopify's numeric ids.

Nothing here checks a signature (see `shopify.signatures`) or decides what Lumen does with a webhook (`agent.webhooks`).
Payloads are read defensively: a field of an unexpected type is treated as absent, never as an error.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pydantic_core

from shopify.domain import Fulfillment, FulfillmentEvent, Money, Refund, ShippedItem, TrackingInfo

ORDER_GID = "gid://shopify/Order/"
MAX_EMAIL_CHARS = 254
CUSTOMER_GID = "gid://shopify/Customer/"


class WebhookBodyError(ValueError):
    """A (verified) webhook body that is not JSON Lumen can read."""

    def __init__(self, message: str = "The webhook body is not valid JSON.") -> None:
        super().__init__(message)


class TopicMismatch(WebhookBodyError):
    """A privacy topic whose body is another topic's: the HMAC covers the body only, never the topic header."""

    def __init__(self, topic: str) -> None:
        super().__init__(f"The webhook body is not a {topic} payload.")


# What a redaction's payload never carries, per topic: order, fulfillment and event bodies all have a top-level `id`
# (privacy payloads have `shop_id`), a data request has `data_request`, a customer's payloads have `customer`. Without
# this, any one captured signed body (an order's, say) sent again under `X-Shopify-Topic: shop/redact` erased the shop,
# as privacy topics are acted on even when their body was seen before.
_NOT_IN_PAYLOAD = {
    "shop/redact": frozenset({"id", "order_id", "customer", "orders_to_redact", "orders_requested", "data_request"}),
    "customers/redact": frozenset({"id", "order_id", "orders_requested", "data_request"}),
}  # customers/data_request deletes nothing: any body may ask


@dataclass(frozen=True)
class Webhook:
    """One delivery: its topic (lower case), its parsed body, the shop it is for, its ids (for deduplication) and
    when Shopify says it was triggered (None when the header is missing or unreadable)."""

    topic: str
    payload: Any
    shop_domain: str
    event_id: str | None
    webhook_id: str | None = None
    body_sha256: str | None = None
    triggered_at: datetime | None = None

    def delivery_keys(self) -> list[str]:
        """What identifies this delivery: Shopify's event id and webhook id (the same on each retry) and the signed
        body itself. Only the body is signed: a captured body replayed under new ids is still the same body."""
        keys = [self.event_id, f"webhook:{self.webhook_id}" if self.webhook_id else None]
        keys.append(f"sha256:{self.body_sha256}" if self.body_sha256 else None)
        return [key[:200] for key in keys if key]


@dataclass(frozen=True)
class RedactionTargets:
    """What a customers/redact payload lets Lumen find: the customer's email, their id and their orders' ids."""

    email: str | None
    customer_gid: str | None
    order_gids: tuple[str, ...]


def numeric_id(value: object) -> str | None:
    """A numeric Shopify id (an int, or a string of ASCII digits) as a string; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    return text if text.isascii() and text.isdigit() else None


def order_gid(numeric: str) -> str:
    return f"{ORDER_GID}{numeric}"


def customer_gid(numeric: str) -> str:
    return f"{CUSTOMER_GID}{numeric}"


def as_customer_gid(customer: str | None) -> str | None:
    """A customer id in the one form orders carry: the app proxy's numeric `logged_in_customer_id` ('8801') becomes
    'gid://shopify/Customer/8801'; a GraphQL id, or anything else, is kept as given; blank is None."""
    text = (customer or "").strip()
    if not text:
        return None
    numeric = numeric_id(text)
    return customer_gid(numeric) if numeric is not None else text


def parse_webhook(headers: Mapping[str, str], body: bytes) -> Webhook:
    """A delivery from its headers and raw body. Raises WebhookBodyError when the body cannot be read, TopicMismatch
    when a privacy topic's body is plainly another topic's."""
    try:
        # Not json.loads: it raises RecursionError on deeply nested arrays and lets lone surrogates through, which
        # then cannot be encoded into the answer or the database.
        payload = pydantic_core.from_json(body)
    except ValueError:
        raise WebhookBodyError() from None
    if any("\x00" in text for text in _strings(payload)):
        raise WebhookBodyError()  # PostgreSQL stores no NUL in text; Shopify never sends one
    topic = headers.get("x-shopify-topic", "").strip().lower()
    if not _fits_topic(topic, payload):
        raise TopicMismatch(topic)
    shop = payload.get("shop_domain") if isinstance(payload, dict) else None
    return Webhook(
        topic=topic,
        payload=payload,
        shop_domain=shop if isinstance(shop, str) else headers.get("x-shopify-shop-domain", ""),
        event_id=headers.get("x-shopify-event-id") or None,
        webhook_id=headers.get("x-shopify-webhook-id") or None,
        body_sha256=hashlib.sha256(body).hexdigest(),
        triggered_at=_timestamp(headers.get("x-shopify-triggered-at", "")),
    )


def _fits_topic(topic: str, payload: Any) -> bool:
    """False for a redaction whose body is plainly another topic's. A customers/redact body that is no object names
    nobody (nothing is deleted); a shop/redact one deletes everything, so it must be an object."""
    if topic not in _NOT_IN_PAYLOAD:
        return True
    if not isinstance(payload, dict):
        return topic != "shop/redact"
    return _NOT_IN_PAYLOAD[topic].isdisjoint(payload)


def _timestamp(value: str) -> datetime | None:
    """An ISO 8601 time as Shopify writes it (`2026-12-06T06:00:00.123Z`); None if unreadable or without offset."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a parsed JSON value, keys included (iteratively: bodies may nest deeply)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from (key for key in item if isinstance(key, str))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def order_refs(topic: str, payload: Any) -> list[str]:
    """The order a webhook is about, as the references `OrderSource.invalidate` understands (id or name)."""
    if not isinstance(payload, dict):
        return []
    if topic.startswith("orders/"):
        return _order_payload_refs(payload)
    # Fulfillments and their tracking events point at their order.
    order_id = payload.get("order_id")
    if (numeric := numeric_id(order_id)) is not None:
        return [order_gid(numeric)]
    if isinstance(order_id, str) and order_id.startswith("gid://"):
        return [order_id]
    return []


def _order_payload_refs(payload: dict[str, Any]) -> list[str]:
    refs: list[str] = []
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid:
        refs.append(gid)
    elif (numeric := numeric_id(payload.get("id"))) is not None:
        refs.append(order_gid(numeric))
    name = payload.get("name")
    if isinstance(name, str) and name:
        refs.append(name)
    return refs


def redaction_targets(payload: Any) -> RedactionTargets:
    """Whom a customers/redact payload names; anything malformed is left out."""
    if not isinstance(payload, dict):
        return RedactionTargets(email=None, customer_gid=None, order_gids=())
    email = customer = None
    person = payload.get("customer")
    if isinstance(person, dict):
        address = person.get("email")
        # No address is longer than 254 characters (RFC 5321); a longer one is no email, and SQLite refuses to search
        # for it (a LIKE pattern over 50,000 bytes is "too complex": a 500 on every retry).
        if isinstance(address, str) and "@" in address and len(address.strip()) <= MAX_EMAIL_CHARS:
            email = address.strip()
        if (numeric := numeric_id(person.get("id"))) is not None:
            customer = customer_gid(numeric)
    orders = payload.get("orders_to_redact")
    numbers = [numeric_id(order) for order in (orders if isinstance(orders, list) else [])]
    gids = tuple(dict.fromkeys(order_gid(n) for n in numbers if n is not None))
    return RedactionTargets(email=email, customer_gid=customer, order_gids=gids)


# --- what a change's payload says, as the order mirror applies it (sync.changes) -------------------------------------

FULFILLMENT_GID = "gid://shopify/Fulfillment/"


@dataclass(frozen=True)
class EventChange:
    """A `fulfillment_events/create` payload: the carrier event, the package it belongs to (GID) and the package's
    estimate as of that event (None when the payload has none)."""

    fulfillment_id: str
    event: FulfillmentEvent
    estimated_delivery_at: datetime | None


@dataclass(frozen=True)
class ShippedLine:
    """One line of a `fulfillments/*` payload: what this package carries of an order line, and what of that line
    may still be fulfilled afterwards (None when the payload does not say)."""

    name: str
    sku: str | None
    quantity: int
    fulfillable_quantity: int | None


@dataclass(frozen=True)
class FulfillmentChange:
    """A `fulfillments/create` or `fulfillments/update` payload: the package as Shopify describes it, and its lines."""

    fulfillment: Fulfillment
    lines: tuple[ShippedLine, ...]


@dataclass(frozen=True)
class OrderChange:
    """What an `orders/*` payload says of the order's own state (REST names read into the GraphQL enums the domain
    uses); the rest of a REST order (fulfillment orders, events) is not in it."""

    updated_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    closed_at: datetime | None
    financial_status: str | None
    fulfillment_status: str | None
    refunds: tuple[Refund, ...]


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _upper(value: Any) -> str | None:
    text = _text(value)
    return text.upper() if text else None


def _gid(payload: dict[str, Any], prefix: str, key: str = "id") -> str | None:
    gid = payload.get("admin_graphql_api_id")
    if isinstance(gid, str) and gid.startswith(prefix):
        return gid
    numeric = numeric_id(payload.get(key))
    return f"{prefix}{numeric}" if numeric is not None else None


def event_change(payload: Any) -> EventChange | None:
    """A `fulfillment_events/create` payload read; None when it lacks the package, the status or the time."""
    if not isinstance(payload, dict):
        return None
    fulfillment = numeric_id(payload.get("fulfillment_id"))
    status, happened = _upper(payload.get("status")), _time(payload.get("happened_at"))
    if fulfillment is None or status is None or happened is None:
        return None
    event = FulfillmentEvent(
        status=status,
        happened_at=happened,
        message=_text(payload.get("message")),
        city=_text(payload.get("city")),
        province=_text(payload.get("province")),
        country=_text(payload.get("country")),
    )
    return EventChange(f"{FULFILLMENT_GID}{fulfillment}", event, _time(payload.get("estimated_delivery_at")))


def fulfillment_change(payload: Any) -> FulfillmentChange | None:
    """A `fulfillments/*` payload read; None when it lacks the package's id or creation time."""
    if not isinstance(payload, dict):
        return None
    gid, created = _gid(payload, FULFILLMENT_GID), _time(payload.get("created_at"))
    if gid is None or created is None:
        return None
    lines = tuple(line for item in _dicts(payload.get("line_items")) if (line := _shipped_line(item)) is not None)
    numbers = [n for n in _list(payload.get("tracking_numbers")) if isinstance(n, str) and n]
    if not numbers and (single := _text(payload.get("tracking_number"))):
        numbers = [single]
    urls = [u if isinstance(u, str) and u else None for u in _list(payload.get("tracking_urls"))]
    if not urls and (url := _text(payload.get("tracking_url"))):
        urls = [url]
    company = _text(payload.get("tracking_company"))
    tracking = [
        TrackingInfo(company=company, number=number, url=urls[i] if i < len(urls) else None)
        for i, number in enumerate(numbers)
    ]
    fulfillment = Fulfillment(
        id=gid,
        name=_text(payload.get("name")),
        status=_upper(payload.get("status")) or "SUCCESS",
        display_status=_upper(payload.get("shipment_status")),
        created_at=created,
        tracking=tracking,
        items=[ShippedItem(name=line.name, quantity=line.quantity) for line in lines],
    )
    return FulfillmentChange(fulfillment, lines)


# Keys every REST order carries (null when unset): without them a payload is not a whole order, and its absent keys
# must not read as "not cancelled" or "not closed".
_ORDER_STATE_KEYS = ("updated_at", "cancelled_at", "closed_at", "financial_status", "fulfillment_status")


def order_change(payload: Any) -> OrderChange | None:
    """An `orders/*` payload read; None when it is not a whole REST order."""
    if not isinstance(payload, dict) or any(key not in payload for key in _ORDER_STATE_KEYS):
        return None
    currency = _text(payload.get("currency"))
    refunds = tuple(r for item in _dicts(payload.get("refunds")) if (r := _refund(item, currency)) is not None)
    return OrderChange(
        updated_at=_time(payload.get("updated_at")),
        cancelled_at=_time(payload.get("cancelled_at")),
        cancel_reason=_upper(payload.get("cancel_reason")),
        closed_at=_time(payload.get("closed_at")),
        financial_status=_upper(payload.get("financial_status")),
        fulfillment_status=_REST_FULFILLMENT_STATUS.get(str(payload.get("fulfillment_status"))),
        refunds=refunds,
    )


# REST `fulfillment_status` of an order (null when nothing shipped) as GraphQL's `displayFulfillmentStatus`.
_REST_FULFILLMENT_STATUS = {"fulfilled": "FULFILLED", "partial": "PARTIALLY_FULFILLED", "restocked": "RESTOCKED"}


def _shipped_line(item: dict[str, Any]) -> ShippedLine | None:
    name = _text(item.get("name")) or _text(item.get("title"))
    quantity = item.get("quantity")
    if name is None or not isinstance(quantity, int) or isinstance(quantity, bool):
        return None
    remaining = item.get("fulfillable_quantity")
    fulfillable = remaining if isinstance(remaining, int) and not isinstance(remaining, bool) else None
    return ShippedLine(name=name, sku=_text(item.get("sku")), quantity=quantity, fulfillable_quantity=fulfillable)


def _refund(item: dict[str, Any], currency: str | None) -> Refund | None:
    """A REST refund: its time and the sum of its successful refund transactions."""
    created = _time(item.get("created_at"))
    if created is None:
        return None
    total, seen = Decimal(0), False
    for transaction in _dicts(item.get("transactions")):
        if transaction.get("kind") == "refund" and transaction.get("status") in ("success", None):
            with contextlib.suppress(ArithmeticError, ValueError, TypeError):
                total += Decimal(str(transaction.get("amount")))
                seen = True
    code = _text(currency) or _text(next(iter(_dicts(item.get("transactions"))), {}).get("currency"))
    amount = Money(amount=total, currency=code) if seen and code else None
    return Refund(created_at=created, amount=amount)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in _list(value) if isinstance(item, dict)]
