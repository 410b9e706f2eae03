"""Webhooks the fake Shopify sends when a test changes an order: Shopify's REST payload shapes, signed like Shopify
signs them (base64 HMAC-SHA256 of the raw body with the app's client secret), with Shopify's delivery headers.

The signature is computed here on its own (not with `shopify.signatures`), so a test that verifies it with Lumen's
verifier checks Lumen against an independent reading of Shopify's rule.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

# The order topics Lumen subscribes to, and the package topics (whose payloads carry a numeric `order_id`).
ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/cancelled"})
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
EVENT_TOPICS = frozenset({"fulfillment_events/create"})
TOPICS = ORDER_TOPICS | FULFILLMENT_TOPICS | EVENT_TOPICS


@dataclass
class Delivery:
    """One webhook the fake built: its ids, topic, raw body and headers, and the HTTP status its target answered
    (None: not sent, because `deliver=False` dropped it or no target was set)."""

    webhook_id: str
    topic: str
    body: bytes
    headers: dict[str, str]
    status: int | None = None
    error: str | None = None

    @property
    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookSender:
    """Builds, signs and posts webhooks; `target` is where they go (`FakeShopify.webhook_target`)."""

    secret: str
    shop_domain: str
    api_version: str
    target: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def build(self, topic: str, order: dict[str, Any], triggered_at: datetime) -> Delivery:
        if topic not in TOPICS:
            raise ValueError(f"the fake sends no {topic!r} webhooks; it knows {sorted(TOPICS)}")
        body = json.dumps(payload_for(topic, order), separators=(",", ":")).encode()
        webhook_id = str(uuid.uuid4())
        digest = hmac.new(self.secret.encode(), body, hashlib.sha256).digest()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.shop_domain,
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Webhook-Id": webhook_id,
            "X-Shopify-Event-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": _rest_time(triggered_at, millis=True),
        }
        delivery = Delivery(webhook_id, topic, body, headers)
        self.deliveries.append(delivery)
        return delivery

    async def send(self, delivery: Delivery) -> None:
        if self.target is None:
            return
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(self.target, content=delivery.body, headers=delivery.headers)
        except httpx.HTTPError as exc:  # Shopify would retry later; the test sees what happened
            delivery.error = f"{type(exc).__name__}: {exc}"
            return
        delivery.status = response.status_code

    def send_sync(self, delivery: Delivery) -> None:
        if self.target is None:
            return
        try:
            response = httpx.post(self.target, content=delivery.body, headers=delivery.headers, timeout=5)
        except httpx.HTTPError as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
            return
        delivery.status = response.status_code


# --- REST payloads (what Shopify posts: snake_case, numeric ids, `admin_graphql_api_id` beside them) ---------------


def numeric(gid: Any) -> int:
    """The number at the end of a GID; a stable number for ids that have none (hand-written test stores)."""
    tail = str(gid or "").rsplit("/", 1)[-1]
    return int(tail) if tail.isascii() and tail.isdigit() else zlib.crc32(str(gid).encode())


def _rest_time(moment: datetime, *, millis: bool = False) -> str:
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _snake(value: Any) -> str | None:
    return str(value).lower() if value else None


def _nodes(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    if isinstance(value, dict):
        if "nodes" in value:
            return [v for v in value["nodes"] or [] if isinstance(v, dict)]
        return [e["node"] for e in value.get("edges") or [] if isinstance(e, dict) and isinstance(e.get("node"), dict)]
    return []


_REST_FULFILLMENT_STATUS = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial", "RESTOCKED": "restocked"}


def order_payload(order: dict[str, Any]) -> dict[str, Any]:
    customer = order.get("customer") or {}
    total = ((order.get("currentTotalPriceSet") or {}).get("shopMoney")) or {}
    digits = "".join(c for c in str(order.get("name") or "") if c.isdigit())
    return {
        "id": numeric(order.get("id")),
        "admin_graphql_api_id": order.get("id"),
        "name": order.get("name"),
        "order_number": int(digits) if digits else None,
        "email": order.get("email"),
        "created_at": order.get("createdAt"),
        "updated_at": order.get("updatedAt"),
        "processed_at": order.get("processedAt"),
        "cancelled_at": order.get("cancelledAt"),
        "cancel_reason": _snake(order.get("cancelReason")),
        "closed_at": order.get("closedAt"),
        "financial_status": _snake(order.get("displayFinancialStatus")),
        "fulfillment_status": _REST_FULFILLMENT_STATUS.get(str(order.get("displayFulfillmentStatus"))),
        "current_total_price": total.get("amount"),
        "currency": total.get("currencyCode"),
        "customer": (
            {"id": numeric(customer.get("id")), "admin_graphql_api_id": customer.get("id")} if customer else None
        ),
        "line_items": [
            {"name": li.get("name"), "quantity": li.get("quantity"), "sku": li.get("sku")}
            for li in _nodes(order.get("lineItems"))
        ],
        "fulfillments": [fulfillment_payload(order, f) for f in _nodes(order.get("fulfillments"))],
        "refunds": [refund_payload(order, r, i) for i, r in enumerate(_nodes(order.get("refunds")), start=1)],
    }


def refund_payload(order: dict[str, Any], refund: dict[str, Any], index: int) -> dict[str, Any]:
    """A REST refund: no total of its own, but the transactions that moved the money."""
    money = ((refund.get("totalRefundedSet") or {}).get("shopMoney")) or {}
    number = numeric(order.get("id")) * 100 + index
    return {
        "id": number,
        "admin_graphql_api_id": f"gid://shopify/Refund/{number}",
        "order_id": numeric(order.get("id")),
        "created_at": refund.get("createdAt"),
        "processed_at": refund.get("createdAt"),
        "transactions": [
            {
                "id": number,
                "kind": "refund",
                "status": "success",
                "amount": money.get("amount"),
                "currency": money.get("currencyCode"),
            }
        ]
        if money
        else [],
    }


def fulfillment_line_items(order: dict[str, Any], fulfillment: dict[str, Any]) -> list[dict[str, Any]]:
    """The package's lines as Shopify's REST fulfillment has them: the order line's fields, this package's quantity,
    and what of the line may still be fulfilled (`fulfillable_quantity`)."""
    lines = {li.get("name"): li for li in _nodes(order.get("lineItems"))}
    found = []
    for index, shipped in enumerate(_nodes(fulfillment.get("fulfillmentLineItems")), start=1):
        name = (shipped.get("lineItem") or {}).get("name")
        line = lines.get(name) or {}
        remaining = line.get("unfulfilledQuantity")
        number = numeric(fulfillment.get("id")) * 100 + index
        found.append(
            {
                "id": number,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{number}",
                "name": name,
                "title": name,
                "sku": line.get("sku"),
                "quantity": shipped.get("quantity"),
                "fulfillable_quantity": remaining if isinstance(remaining, int) else 0,
                "fulfillment_status": "fulfilled" if not remaining else "partial",
                "requires_shipping": True,
            }
        )
    return found


def fulfillment_payload(order: dict[str, Any], fulfillment: dict[str, Any]) -> dict[str, Any]:
    tracking = [t for t in fulfillment.get("trackingInfo") or [] if isinstance(t, dict)]
    first = tracking[0] if tracking else {}
    return {
        "id": numeric(fulfillment.get("id")),
        "admin_graphql_api_id": fulfillment.get("id"),
        "order_id": numeric(order.get("id")),
        "name": fulfillment.get("name"),
        "status": _snake(fulfillment.get("status")),
        "shipment_status": _snake(fulfillment.get("displayStatus")),
        "created_at": fulfillment.get("createdAt"),
        "updated_at": order.get("updatedAt"),
        "tracking_company": first.get("company"),
        "tracking_number": first.get("number"),
        "tracking_numbers": [t.get("number") for t in tracking],
        "tracking_url": first.get("url"),
        "tracking_urls": [t.get("url") for t in tracking],
        "service": "manual",
        "location_id": None,
        "line_items": fulfillment_line_items(order, fulfillment),
    }


def event_payload(order: dict[str, Any], fulfillment: dict[str, Any]) -> dict[str, Any]:
    events = sorted(_nodes(fulfillment.get("events")), key=lambda e: str(e.get("happenedAt") or ""))
    newest = events[-1] if events else {}
    fulfillment_number = numeric(fulfillment.get("id"))
    event_number = fulfillment_number * 1000 + len(events)
    return {
        "id": event_number,
        "admin_graphql_api_id": f"gid://shopify/FulfillmentEvent/{event_number}",
        "fulfillment_id": fulfillment_number,
        "order_id": numeric(order.get("id")),
        "status": _snake(newest.get("status")),
        "message": newest.get("message"),
        "happened_at": newest.get("happenedAt"),
        "city": newest.get("city"),
        "province": newest.get("province"),
        "country": newest.get("country"),
        "zip": None,
        "address1": None,
        "latitude": None,
        "longitude": None,
        "estimated_delivery_at": fulfillment.get("estimatedDeliveryAt"),
        "created_at": order.get("updatedAt"),
        "updated_at": order.get("updatedAt"),
    }


def payload_for(topic: str, order: dict[str, Any]) -> dict[str, Any]:
    """The body Shopify posts for `topic` about `order` (package topics: its most recent package)."""
    if topic in ORDER_TOPICS:
        return order_payload(order)
    packages = _nodes(order.get("fulfillments"))
    if not packages:
        raise ValueError(f"{topic} needs a fulfillment, and order {order.get('name')} has none")
    if topic in FULFILLMENT_TOPICS:
        return fulfillment_payload(order, packages[-1])
    return event_payload(order, packages[-1])
