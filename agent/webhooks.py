"""What a Shopify webhook does to Lumen: order changes drop the cached order, and Shopify's mandatory privacy topics
(customers/redact, shop/redact, customers/data_request) delete or describe what Lumen kept.

Called by `Lumen.handle_webhook` once `shopify.signatures` has verified the delivery and `shopify.webhooks` has read it.
Every delivery id is remembered, so a redelivered event is not acted on twice (privacy topics excepted, see below).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from shopify.source import OrderSource
from shopify.webhooks import ORDER_GID, redaction_targets
from shopify.webhooks import order_refs as webhook_order_refs
from storage import Database

# Topics after which a cached order may be stale. Their payloads name the order in different fields.
INVALIDATING_TOPICS = frozenset(
    {"orders/updated", "fulfillments/create", "fulfillments/update", "fulfillment_events/create"}
)
# Shopify's mandatory privacy webhooks. Every app must answer them, whatever topics it subscribed to.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
REDACT_BATCH = 100  # needles per Database.redact call: SQLite refuses expressions deeper than 1000 terms
DATA_REQUEST_NOTE = (
    "Lumen keeps the conversations shoppers have with it and the escalations it hands to the support team. "
    "The merchant can read both in Lumen's admin page (/admin) and send the customer what concerns them; "
    "Lumen sends nothing itself."
)
ANOTHER_SHOP = "This Lumen serves another shop."


class RedactionCounts(BaseModel):
    conversations: int = 0
    escalations: int = 0


class WebhookOutcome(BaseModel):
    """What Lumen did with a delivery; fields that do not apply are None (and left out of the answer to Shopify)."""

    model_config = ConfigDict(extra="forbid")

    ok: bool = True
    topic: str | None = None
    duplicate: bool | None = None
    ignored: bool | None = None
    reason: str | None = None
    note: str | None = None
    invalidated: list[str] | Literal["all"] | None = None
    deleted: RedactionCounts | Literal["all"] | None = None


async def handle_webhook(
    db: Database,
    source: OrderSource,
    *,
    serves_shop: Callable[[str], bool],
    topic: str,
    payload: Any,
    shop_domain: str,
    event_id: str | None,
) -> WebhookOutcome:
    first_delivery = not event_id or await db.remember_webhook(event_id[:200], topic[:100])
    if topic in PRIVACY_TOPICS:
        # Done again on a redelivery: it is idempotent, and Shopify redelivers when an earlier attempt failed, which
        # may have been after the event was remembered.
        outcome = await _privacy_request(db, source, serves_shop(shop_domain), topic, payload)
        return outcome if first_delivery else outcome.model_copy(update={"duplicate": True})
    if not first_delivery:
        return WebhookOutcome(duplicate=True)
    if topic not in INVALIDATING_TOPICS:
        return WebhookOutcome(ignored=True, topic=topic)
    refs = webhook_order_refs(topic, payload)
    if refs:
        for ref in refs:
            source.invalidate(ref)
    else:
        source.invalidate(None)  # the order is unknown: forget everything rather than serve stale data
    return WebhookOutcome(topic=topic, invalidated=refs or "all")


async def _privacy_request(db: Database, source: OrderSource, ours: bool, topic: str, payload: Any) -> WebhookOutcome:
    if not ours:
        # One app secret can serve several shops: another shop's redaction must not touch this one's data.
        return WebhookOutcome(ignored=True, topic=topic, reason=ANOTHER_SHOP)
    if topic == "customers/data_request":
        return WebhookOutcome(topic=topic, note=DATA_REQUEST_NOTE)
    if topic == "shop/redact":
        await db.redact_all()
        source.invalidate(None)  # cached orders hold customers' details too
        return WebhookOutcome(topic=topic, deleted="all")
    return WebhookOutcome(topic=topic, deleted=await redact_customer(db, source, payload))


async def redact_customer(db: Database, source: OrderSource, payload: Any) -> RedactionCounts:
    """customers/redact: delete the conversations and escalations that mention the customer or their orders."""
    needles = redaction_needles(payload)
    deleted = RedactionCounts()
    for start in range(0, len(needles), REDACT_BATCH):
        counts = await db.redact(needles[start : start + REDACT_BATCH])
        deleted.conversations += counts.get("conversations", 0)
        deleted.escalations += counts.get("escalations", 0)
    for needle in needles:
        if needle.startswith(f'"{ORDER_GID}'):
            source.invalidate(needle.strip('"'))
    return deleted


def redaction_needles(payload: Any) -> list[str]:
    """The strings `Database.redact` looks for. Ids are quoted as they appear in stored JSON, so order 12 does not
    also match order 123."""
    targets = redaction_targets(payload)
    needles = [targets.email] if targets.email else []
    if targets.customer_gid:
        needles.append(f'"{targets.customer_gid}"')
    needles.extend(f'"{gid}"' for gid in targets.order_gids)
    return list(dict.fromkeys(needles))
