"""`MirroredSource`: an `OrderSource` that answers lookups from the order mirror (storage `mirrored_orders`), and from
the live `ShopifyAdmin` when the mirror has no match.

It matches exactly as the live client does: the same candidate names in the shop's order-name format
(`shopify.client.order_name_candidates`), the same exact comparisons (`shopify.names`, `Order.has_email`), newest
first, and never more orders than one live query returns (two per name, five per email or customer). Without
`read_all_orders` Shopify shows no order older than 60 days, and neither does the mirror. A wrong email reads like a
missing order because nothing here decides that: `find_order` does, on what this returns, as it does on the live
client's answer.

A miss is asked live and what comes back is stored. So a number nobody mirrored costs a Shopify query where a
mirrored one costs none: which order numbers exist becomes measurable by timing, where the live client made found
and not found cost the same. Order numbers are sequential (the newest one is on every receipt), and every guess is
rationed by the attempt guard, so this is accepted for the mirror's gain: a Black Friday answered without Shopify.

`accept_webhook` (a webhook said the order changed) has what the payload says written into the mirrored copy straight
away, and a re-read queued for what it cannot say; `invalidate(ref)` queues the re-read alone. The copy held keeps
answering until a re-read replaces it. A looked-up order that has shipped but not arrived, held without its carrier
events (a backfilled copy), is queued for an events read, which is optional: it runs when the bucket has room to
spare (see `sync.service`). This answer comes from the package's own fields (status, tracking, estimated and
delivered times), a later one has its events. Reads run in the background on their own client, so the shopper never
waits on Shopify's rate limit for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from shopify.client import ConnectionStatus, ShopifyAdmin, order_name_candidates
from shopify.domain import Order, Shop
from shopify.names import order_key, order_name_matches
from shopify.source import OrderSourceError
from storage import Database, MirroredOrder
from storage.orders import MIRROR_SHAPE
from sync.service import OrderSync

# What one live query returns at most: two orders per name searched, five per email or customer (shopify.client).
PER_NAME = 2
PER_LIST = 5
# Without `read_all_orders`, Shopify shows only orders created in the last 60 days.
OLDER_ORDERS_HIDDEN_AFTER = timedelta(days=60)


def _newest_first(orders: Iterable[Order]) -> list[Order]:
    return sorted(orders, key=lambda o: o.processed_at or o.created_at, reverse=True)


def _in_transit_without_events(order: Order) -> bool:
    return any(
        f.status == "SUCCESS" and f.delivered_at is None and f.display_status != "DELIVERED" and not f.events
        for f in order.fulfillments
    )


class MirroredSource:
    """Lookups from the mirror, misses from `live` (and stored); `sync` keeps the mirror fresh."""

    def __init__(self, live: ShopifyAdmin, db: Database, sync: OrderSync, *, events_on_lookup: bool = True) -> None:
        self.live = live
        self.db = db
        self.sync = sync
        self.events_on_lookup = events_on_lookup

    # --- what the connection shows (agent.connect) -----------------------------------------------------------------
    @property
    def status(self) -> ConnectionStatus:
        return self.live.status

    async def check(self) -> ConnectionStatus:
        return await self.live.check()

    async def aclose(self) -> None:
        await self.live.aclose()
        await self.sync.aclose()

    # --- OrderSource -----------------------------------------------------------------------------------------------
    async def shop(self) -> Shop:
        return await self.live.shop()

    def now(self) -> datetime:
        return self.live.now()

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        number = order_key(name)
        if not number:
            return []
        # The shop's order-name format (one query, once per process): which names the shopper's number may mean.
        await self.live.shop()
        candidates = order_name_candidates(number, *self._name_format())
        held = await self.db.mirrored_orders_named([order_key(c) for c in candidates])
        found: dict[str, Order] = {}
        for candidate in candidates:
            matching = [
                m.order
                for m in held
                # The name as Shopify's search finds it (written as the candidate, '#' and case aside), then the live
                # client's own check: an unusual spelling is asked live rather than answered with more than live would.
                if order_key(m.order.name) == order_key(candidate)
                and order_name_matches(m.order.name, candidate.lstrip("#"))
                and (email is None or m.order.has_email(email, checkout_only=True))
            ]
            for order in self._visible(_newest_first(matching))[:PER_NAME]:
                found.setdefault(order.id, order)
        if held_only:
            return _newest_first(found.values())  # no live query for a name the mirror does not hold
        return await self._held_or_live(
            held, _newest_first(found.values()), lambda: self.live.orders_by_name(name, email=email)
        )

    async def orders_by_email(self, email: str, *, limit: int = 5) -> list[Order]:
        if not email.strip():
            return []
        await self.live.shop()  # the granted scopes (the 60-day rule)
        held = await self.db.mirrored_orders_by_email(email)
        mine = [m.order for m in held if m.order.has_email(email, checkout_only=True)]
        found = self._visible(_newest_first(mine))[: min(limit, PER_LIST)]
        return await self._held_or_live(held, found, lambda: self.live.orders_by_email(email, limit=limit))

    async def orders_by_customer(self, customer_id: str, *, limit: int = 5) -> list[Order]:
        gid = _customer_gid(customer_id)
        if gid is None or limit <= 0:
            return []  # not a Shopify customer id: the live client would not ask either
        await self.live.shop()  # the granted scopes
        granted = self.live.status.granted_scopes
        if granted is not None and "read_customers" not in granted:
            return []  # as the live client: without it no order says whose it is
        held = await self.db.mirrored_orders_of_customer(gid)
        numeric = gid.rsplit("/", 1)[-1]
        mine = [m.order for m in held if m.order.customer_id and m.order.customer_id.rsplit("/", 1)[-1] == numeric]
        found = self._visible(_newest_first(mine))[: min(limit, PER_LIST)]
        return await self._held_or_live(held, found, lambda: self.live.orders_by_customer(customer_id, limit=limit))

    def accept_webhook(self, topic: str, payload: Any, refs: list[str]) -> None:
        """A webhook about these orders (`refs`, from `shopify.webhooks.order_refs`): the live client's cache forgets
        them, and the mirrored copy takes what the payload says straight away, in the background (nothing here waits:
        Shopify wants its answer within seconds); what the payload cannot say is re-read soon after."""
        for ref in refs:
            self.live.invalidate(ref)
        self.sync.accept(topic, payload, refs)

    def invalidate(self, order_ref: str | None = None) -> None:
        """The order changed (a webhook): the live client's cache forgets it, and the mirror re-reads it soon; with
        no reference, the mirror reconciles soon."""
        self.live.invalidate(order_ref)
        self.sync.request_refresh(order_ref)

    def forget(self, order_ref: str | None) -> None:
        """Redaction (None: shop/redact): drop the live client's cached copy, and the payloads and re-reads queued for
        the order; re-read nothing. The mirrored rows were deleted, and their tombstones keep any write from bringing
        them back (`storage.orders`). A later lookup of the order is still answered live, and not stored."""
        self.live.invalidate(order_ref)
        self.sync.forget(order_ref)

    def refresh(self, order_ref: str | None) -> None:
        """Re-read the order soon, whatever the cache (a late webhook: the copy may still be stale)."""
        self.sync.request_refresh(order_ref)

    # --- helpers ---------------------------------------------------------------------------------------------------
    async def _held_or_live(
        self, held: list[MirroredOrder], found: list[Order], lookup: Callable[[], Awaitable[list[Order]]]
    ) -> list[Order]:
        """The copies found, or a live lookup (kept) when there are none; also when a copy found lacks what its
        answer may need (`_short_of`): then, should Shopify fail to answer or find nothing (its search index may lag),
        the copies answer as they are."""
        if found and _short_of(held, found):
            with contextlib.suppress(OrderSourceError):
                if live := await self._live(lookup()):
                    return live
        if found:
            self._want_events(held, {o.id: o for o in found})
            return found
        return await self._live(lookup())

    async def _live(self, lookup: Awaitable[list[Order]]) -> list[Order]:
        orders = await lookup
        if orders:
            await self.sync.store_live(orders)
        return orders

    def _name_format(self) -> tuple[str, str]:
        # The live client learned the shop's `orderNumberFormatPrefix`/`Suffix` with the shop (shopify.client).
        prefix, suffix = getattr(self.live, "_name_format", ("#", ""))
        return str(prefix), str(suffix)

    def _visible(self, orders: list[Order]) -> list[Order]:
        """What the live client could see: without `read_all_orders`, nothing created over 60 days ago."""
        if self.live.status.older_orders_visible is not False:
            return orders
        cutoff = self.now() - OLDER_ORDERS_HIDDEN_AFTER
        return [o for o in orders if o.created_at >= cutoff]

    def _want_events(self, held: list[MirroredOrder], answered: dict[str, Order]) -> None:
        """Queue a background re-read of answered orders held without carrier events that are on their way."""
        if not self.events_on_lookup:
            return
        for mirrored in held:
            order = mirrored.order
            if order.id in answered and not mirrored.events_complete and _in_transit_without_events(order):
                self.sync.request_events(order.id)


def _short_of(held: list[MirroredOrder], found: list[Order]) -> bool:
    """Whether a copy found is of an older shape (`MIRROR_SHAPE`) and lacks what a reply may read: a copy of shape 0
    lacks the order's original total, which only a refund's answer reads ("X of your Y was refunded"). Such a copy is
    read live, once (the answer is kept, of the current shape); other old copies answer as they are until
    reconciliation reads them again (`OrderSync.refill_shapes`), so an upgrade costs Shopify only the refunded
    orders shoppers ask about. A later shape says here what its older copies lack."""
    answered = {o.id for o in found}
    return any(m.shape < MIRROR_SHAPE and m.order.refunds for m in held if m.order.id in answered)


def _customer_gid(customer_id: str) -> str | None:
    """The customer GID for a GID or a numeric id, as the live client accepts them; None for anything else."""
    text = customer_id.strip()
    numeric = text.removeprefix("gid://shopify/Customer/")
    return f"gid://shopify/Customer/{numeric}" if numeric.isascii() and numeric.isdigit() else None
