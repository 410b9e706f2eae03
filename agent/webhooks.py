"""What a Shopify webhook does to Lumen: order changes drop the cached order, and the order mirror applies the payload
straight away and re-reads what it cannot say (`sync.service.OrderSync.accept`); Shopify's mandatory privacy topics
(customers/redact, shop/redact, customers/data_request) delete or describe what Lumen kept, mirrored orders included.

Called by `Lumen.handle_webhook` once `shopify.signatures` has verified the delivery and `shopify.webhooks` has read it.
Every delivery id is remembered, so a redelivered event is not acted on twice (privacy topics excepted, see below).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent.contacts import contacts_in
from shopify.auth import TokenUnreadable
from shopify.names import normalize_email
from shopify.source import OrderSource, OrderSourceError
from shopify.webhooks import Webhook, redaction_targets
from shopify.webhooks import order_refs as webhook_order_refs
from storage import Database
from storage.contacts import Contact

log = logging.getLogger("lumen")

# Topics after which a cached or mirrored order may be stale. Their payloads name the order in different fields.
INVALIDATING_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/cancelled",
        "orders/delete",
        "fulfillments/create",
        "fulfillments/update",
        "fulfillment_events/create",
    }
)
# Shopify's mandatory privacy webhooks. Every app must answer them, whatever topics it subscribed to.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
REDACT_BATCH = 100  # needles per text filter on older conversations: SQLite refuses expressions over 1000 terms deep
DATA_REQUEST_NOTE = (
    "Lumen keeps the conversations shoppers have with it and the escalations it hands to the support team. "
    "The merchant can read both in Lumen's admin page (/admin) and send the customer what concerns them; "
    "Lumen sends nothing itself."
)
ANOTHER_SHOP = "This Lumen serves another shop."
# Order and fulfillment deliveries triggered longer ago than this are acknowledged and ignored (see handle_webhook).
MAX_WEBHOOK_AGE = timedelta(minutes=5)
STALE = "Triggered more than 5 minutes ago: cached orders expire sooner."
STILL_INSTALLED = "The app is installed on this shop: shop/redact only follows an uninstall."
DECIDED = "This delivery of shop/redact was decided already."
# When this Lumen last did a shop/redact (a setting: the redaction deletes conversations, not settings).
SHOP_REDACTED_KEY = "shop_redacted"
# The shop/redact deliveries decided (done, or ignored while the app was installed), by Shopify's webhook id, newest
# last: a delivery seen again is answered as it was, without asking Shopify again. A setting, kept to the last few.
SHOP_REDACT_DECISIONS_KEY = "shop_redact_decisions"
DECISIONS_KEPT = 50
# The shop/redact deliveries that could not be judged (Shopify unreachable, or the stored token unreadable), by webhook
# id, with when each first came: a setting, kept until one is judged (then every one is, see `_judge_shop_redact`).
# Shopify delivers a failed webhook again for a few hours only; a key restored days later must still find the request.
SHOP_REDACT_PENDING_KEY = "shop_redact_pending"
PENDING_KEPT = 50
DeferReason = Literal["token_unreadable", "shopify_unreachable"]


class RedactionDeferred(Exception):
    """shop/redact cannot be judged now (Shopify unreachable, or Lumen cannot read its own token): answered with an
    error, so Shopify delivers it again, and kept as pending (`pending_privacy_requests`) to be tried again."""

    def __init__(self, message: str, *, reason: DeferReason) -> None:
        super().__init__(message)
        self.reason: DeferReason = reason


class PendingPrivacyRequests(BaseModel):
    """Privacy requests Lumen received and could not carry out yet (shop/redact: see `RedactionDeferred`): how many
    deliveries wait, when the oldest came, and why the last try failed. Tried again every retention round."""

    pending: int = 0
    oldest: datetime | None = None
    reason: DeferReason | None = None


class RedactionCounts(BaseModel):
    conversations: int = 0
    escalations: int = 0
    # Mirrored orders (sync/): shown when there were any, so a Lumen without the mirror answers as it always did.
    orders: int = Field(0, exclude_if=lambda count: not count)


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
    applying: list[str] | None = None  # orders the order mirror changes from the payload itself, straight away
    refreshed: list[str] | Literal["all"] | None = None  # what the order mirror re-reads
    deleted: RedactionCounts | Literal["all"] | None = None


async def handle_webhook(
    db: Database, source: OrderSource, *, serves_shop: Callable[[str], bool], delivery: Webhook, now: datetime
) -> WebhookOutcome:
    topic, payload = delivery.topic, delivery.payload
    first_delivery = await _first_delivery(db, delivery)
    if topic in PRIVACY_TOPICS:
        # Done again on a redelivery or a late one: it is idempotent, Shopify redelivers when an earlier attempt failed
        # (which may have been after the event was remembered), and a customer's erasure is owed however late it comes.
        outcome = await _privacy_request(db, source, serves_shop(delivery.shop_domain), delivery)
        return outcome if first_delivery else outcome.model_copy(update={"duplicate": True})
    if not first_delivery:
        return WebhookOutcome(duplicate=True)
    if topic not in INVALIDATING_TOPICS:
        return WebhookOutcome(ignored=True, topic=topic)
    refs = webhook_order_refs(topic, payload)
    if delivery.triggered_at is not None and now - delivery.triggered_at > MAX_WEBHOOK_AGE:
        # A retry hours late (Shopify retries for up to 4 hours) or a replay: the cache it would clear has expired
        # long since (seconds), so the cache is left alone, and a replayed body cannot empty it. The order mirror
        # keeps orders for good, and this webhook may be the only word of a change: it re-reads the order, which is
        # harmless (a re-read stores the truth as it is now) and coalesced with any other re-read of that order.
        refreshed = _refresh(source, refs)
        return WebhookOutcome(ignored=True, topic=topic, reason=STALE, refreshed=refreshed)
    if not refs:
        source.invalidate(None)  # the order is unknown: forget everything rather than serve stale data
        return WebhookOutcome(topic=topic, invalidated="all")
    accept = getattr(source, "accept_webhook", None)
    if accept is None:
        for ref in refs:
            source.invalidate(ref)
        return WebhookOutcome(topic=topic, invalidated=refs)
    # The order mirror applies the payload's news straight away (the next lookup answers with it) and re-reads the
    # rest; the answer to Shopify does not wait for it.
    accept(topic, payload, refs)
    return WebhookOutcome(topic=topic, invalidated=refs, applying=refs)


def _refresh(source: OrderSource, refs: list[str]) -> list[str] | None:
    """Have the order mirror re-read these orders (the orders it names by id are enough); None without a mirror."""
    refresh = getattr(source, "refresh", None)
    if refresh is None:
        return None
    ids = [ref for ref in refs if ref.startswith("gid://")] or refs
    for ref in ids:
        refresh(ref)
    return ids or None


async def _first_delivery(db: Database, delivery: Webhook) -> bool:
    """Remembers every key of the delivery; False if any was seen before (a retry, or a replayed body)."""
    return await db.remember_webhook_keys(delivery.delivery_keys(), delivery.topic[:100])


async def _privacy_request(db: Database, source: OrderSource, ours: bool, delivery: Webhook) -> WebhookOutcome:
    topic = delivery.topic
    if not ours:
        # One app secret can serve several shops: another shop's redaction must not touch this one's data.
        return WebhookOutcome(ignored=True, topic=topic, reason=ANOTHER_SHOP)
    if topic == "customers/data_request":
        return WebhookOutcome(topic=topic, note=DATA_REQUEST_NOTE)
    if topic == "shop/redact":
        return await _shop_redact(db, source, delivery)
    return WebhookOutcome(topic=topic, deleted=await redact_customer(db, source, delivery.payload))


async def _shop_redact(db: Database, source: OrderSource, delivery: Webhook) -> WebhookOutcome:
    """shop/redact: everything goes, but only once Shopify no longer lets the app read the shop (`_still_installed`).

    Asked of every delivery, the first a database sees included: Shopify sends shop/redact 48 hours after an
    uninstall, which revokes the app's token at once, so a delivery while the token works is not Shopify's word now.
    Its body never changes (the shop's id and domain) and only the body is signed, so one captured from an earlier
    install (or another Lumen's) replays as well on a fresh database as on an old one. A delivery already decided
    (the same webhook id: Shopify's retries and a plain replay) is answered without asking Shopify again; one
    replayed under a new id costs one small query (the `shop` query). One that cannot be judged now is kept as
    pending (`retry_shop_redact`)."""
    topic, delivery_id = delivery.topic, delivery.webhook_id or delivery.event_id
    if delivery_id is not None and await _decided(db, delivery_id):
        return WebhookOutcome(ignored=True, duplicate=True, topic=topic, reason=DECIDED)
    try:
        return await _judge_shop_redact(db, source, delivery_id)
    except RedactionDeferred as exc:
        await _defer(db, exc.reason, delivery=delivery_id or "")
        raise


async def retry_shop_redact(db: Database, source: OrderSource) -> WebhookOutcome | None:
    """Judge again the shop/redact deliveries that could not be judged when they came (the retention loop's, at start
    and hourly): once the token is readable again (the key restored) or Shopify answers, they are done or dropped as
    stale. None if none waits or they still cannot be judged (they stay pending)."""
    if not await _pending(db):
        return None
    try:
        return await _judge_shop_redact(db, source, None)
    except RedactionDeferred as exc:
        await _defer(db, exc.reason)  # (why it failed this time)
        return None


async def _judge_shop_redact(db: Database, source: OrderSource, delivery_id: str | None) -> WebhookOutcome:
    """Ask Shopify, then erase everything or ignore the delivery as stale. Shopify's answer now decides this delivery
    and every pending one alike: all ask whether the app may still read the shop."""
    installed = await _still_installed(source)
    decided = [i for i in [*await _pending(db), delivery_id] if i]  # (one without an id cannot be recorded)
    if installed:
        log.warning("shop/redact ignored: Shopify still answers this app on the shop (a stale or replayed body)")
        outcome = WebhookOutcome(ignored=True, topic="shop/redact", reason=STILL_INSTALLED)
    else:
        await db.put_setting(SHOP_REDACTED_KEY, {"at": db.clock().isoformat()})
        await db.redact_all()
        await db.forget_mirrored_orders()
        _forget(source, None)  # cached orders hold customers' details too
        outcome = WebhookOutcome(topic="shop/redact", deleted="all")
    # Only once done: a delivery that failed half-way is done again when Shopify sends it again (or on a retry).
    await _record_decisions(db, decided)
    await db.take_setting(SHOP_REDACT_PENDING_KEY)
    return outcome


async def _decided(db: Database, delivery_id: str) -> bool:
    stored = await db.get_setting(SHOP_REDACT_DECISIONS_KEY) or {}
    return delivery_id[:200] in (stored.get("ids") or [])


async def _record_decisions(db: Database, delivery_ids: list[str]) -> None:
    """Remember decided deliveries (the last `DECISIONS_KEPT`), in one locked update so two at once both land."""
    if not delivery_ids:
        return
    new = list(dict.fromkeys(i[:200] for i in delivery_ids))

    def add(stored: dict[str, Any] | None) -> dict[str, Any]:
        ids = [i for i in (stored or {}).get("ids") or [] if isinstance(i, str) and i not in new]
        return {"ids": [*ids, *new][-DECISIONS_KEPT:]}

    await db.update_setting(SHOP_REDACT_DECISIONS_KEY, add)


async def _pending(db: Database) -> dict[str, str]:
    """The pending deliveries: webhook id -> when it first came (ISO 8601)."""
    return _deliveries(await db.get_setting(SHOP_REDACT_PENDING_KEY) or {})


def _deliveries(stored: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in (stored.get("deliveries") or {}).items() if isinstance(k, str) and isinstance(v, str)}


async def _defer(db: Database, reason: DeferReason, *, delivery: str | None = None) -> None:
    """Keep a delivery that could not be judged as pending, with when it first came (the oldest `PENDING_KEPT`), and
    why, in one locked update so two deliveries deferred at once are both kept. A delivery without an id is kept
    under "" (counted, never recorded as decided)."""
    first_came = db.clock().isoformat()

    def add(stored: dict[str, Any] | None) -> dict[str, Any]:
        deliveries = _deliveries(stored or {})
        if delivery is not None:
            deliveries.setdefault(delivery[:200], first_came)
        kept = dict(sorted(deliveries.items(), key=lambda item: item[1])[:PENDING_KEPT])
        return {"deliveries": kept, "reason": reason}

    await db.update_setting(SHOP_REDACT_PENDING_KEY, add)


async def pending_privacy_requests(db: Database) -> PendingPrivacyRequests:
    """What /healthz and the admin page show: privacy requests received and not carried out yet."""
    stored = await db.get_setting(SHOP_REDACT_PENDING_KEY) or {}
    firsts = [datetime.fromisoformat(at) for at in _deliveries(stored).values()]
    if not firsts:
        return PendingPrivacyRequests()
    return PendingPrivacyRequests(pending=len(firsts), oldest=min(firsts), reason=stored.get("reason"))


async def redact_customer(db: Database, source: OrderSource, payload: Any) -> RedactionCounts:
    """customers/redact: delete the conversations recorded as about this customer (their normalised email, their
    customer id, their orders' ids: exact keys, never substrings), their escalations and their mirrored orders (which
    leave tombstones: see `storage.orders`)."""
    keys = redaction_keys(payload)
    if not keys:
        return RedactionCounts()
    deleted = RedactionCounts.model_validate(await db.redact(keys, also=await _older_conversations_about(db, keys)))
    # Deleted, and tombstoned: no late webhook, re-read under way, reconciliation or live lookup brings them back.
    orders = [value for kind, value in keys if kind == "order"]
    gone = await db.redact_mirrored_orders(
        ids=orders,
        emails=[value for kind, value in keys if kind == "email"],
        customer_ids=[value for kind, value in keys if kind == "customer"],
    )
    deleted.orders = len(gone)
    for gid in dict.fromkeys([*orders, *gone]):
        _forget(source, gid)
    return deleted


async def _still_installed(source: OrderSource) -> bool:
    """Whether Shopify still lets this app read the shop; asked of every shop/redact (see `_shop_redact`).

    Shopify sends shop/redact 48 hours after an uninstall, and an uninstall revokes the app's token at once: while the
    token works, the delivery is stale. A store file has no Shopify to ask: False. RedactionDeferred when Shopify
    cannot say now (the error makes Shopify deliver it again), and when Lumen cannot ask: a stored token it cannot
    decrypt (LUMEN_SECRET_KEY changed) says nothing about the app's access, and is logged as the merchant's to fix."""
    check = getattr(getattr(source, "live", source), "app_installed", None)
    if check is None:
        return False
    try:
        return bool(await check())
    except OrderSourceError as exc:
        unreadable = isinstance(exc.__cause__, TokenUnreadable)
        if unreadable:
            log.error(
                "shop/redact not done: the stored Shopify token cannot be decrypted with LUMEN_SECRET_KEY, so Lumen "
                "cannot ask Shopify whether the app was uninstalled. Restore the key the token was stored with (or "
                "install the app again); it is kept as pending (/healthz, /admin) and tried again every hour."
            )
        raise RedactionDeferred(
            "Shopify could not be asked whether the app is still installed; shop/redact is done on a later delivery.",
            reason="token_unreadable" if unreadable else "shopify_unreachable",
        ) from exc


def _forget(source: OrderSource, order_ref: str | None) -> None:
    """Drop cached copies without re-reading them: a redacted order must not come straight back into the mirror."""
    forget = getattr(source, "forget", None)
    (forget or source.invalidate)(order_ref)


def redaction_keys(payload: Any) -> list[Contact]:
    """The exact keys a customers/redact payload names: email (normalised), customer GID, order GIDs."""
    targets = redaction_targets(payload)
    keys: list[Contact] = [("email", normalize_email(targets.email))] if targets.email else []
    if targets.customer_gid:
        keys.append(("customer", targets.customer_gid))
    keys.extend(("order", gid) for gid in targets.order_gids)
    return list(dict.fromkeys(keys))


async def _older_conversations_about(db: Database, keys: list[Contact]) -> list[str]:
    """Conversations saved before contacts were recorded: found by a coarse text filter, then read exactly."""
    wanted = set(keys)
    found: list[str] = []
    for start in range(0, len(keys), REDACT_BATCH):
        needles = [value for _kind, value in keys[start : start + REDACT_BATCH]]
        for conversation_id, messages_json, state_json in await db.unindexed_conversations(needles):
            if contacts_in(messages_json, state_json) & wanted:
                found.append(conversation_id)
    return found
