"""Reading Shopify's webhooks: the delivery's headers and JSON body, which order a topic names, whom a customers/redact
payload is about, and Shopify's numeric ids.

Nothing here checks a signature (see `shopify.signatures`) or decides what Lumen does with a webhook (`agent.webhooks`).
Payloads are read defensively: a field of an unexpected type is treated as absent, never as an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pydantic_core

ORDER_GID = "gid://shopify/Order/"
CUSTOMER_GID = "gid://shopify/Customer/"


class WebhookBodyError(ValueError):
    """A (verified) webhook body that is not JSON Lumen can read."""

    def __init__(self) -> None:
        super().__init__("The webhook body is not valid JSON.")


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


def parse_webhook(headers: Mapping[str, str], body: bytes) -> Webhook:
    """A delivery from its headers and raw body. Raises WebhookBodyError when the body cannot be read."""
    try:
        # Not json.loads: it raises RecursionError on deeply nested arrays and lets lone surrogates through, which
        # then cannot be encoded into the answer or the database.
        payload = pydantic_core.from_json(body)
    except ValueError:
        raise WebhookBodyError() from None
    if any("\x00" in text for text in _strings(payload)):
        raise WebhookBodyError()  # PostgreSQL stores no NUL in text; Shopify never sends one
    shop = payload.get("shop_domain") if isinstance(payload, dict) else None
    return Webhook(
        topic=headers.get("x-shopify-topic", "").strip().lower(),
        payload=payload,
        shop_domain=shop if isinstance(shop, str) else headers.get("x-shopify-shop-domain", ""),
        event_id=headers.get("x-shopify-event-id") or None,
        webhook_id=headers.get("x-shopify-webhook-id") or None,
        body_sha256=hashlib.sha256(body).hexdigest(),
        triggered_at=_timestamp(headers.get("x-shopify-triggered-at", "")),
    )


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
        if isinstance(address, str) and "@" in address:
            email = address.strip()
        if (numeric := numeric_id(person.get("id"))) is not None:
            customer = customer_gid(numeric)
    orders = payload.get("orders_to_redact")
    numbers = [numeric_id(order) for order in (orders if isinstance(orders, list) else [])]
    gids = tuple(dict.fromkeys(order_gid(n) for n in numbers if n is not None))
    return RedactionTargets(email=email, customer_gid=customer, order_gids=gids)
