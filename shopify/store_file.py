"""A store file in the shape of Shopify Admin GraphQL order nodes: `{"shop": {...}, "asOf": ISO, "orders": [...]}`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from shopify.domain import Order, Shop, parse_order, parse_shop
from shopify.names import inferred_name_format, matching_order_names

DEMO_STORE = Path(__file__).resolve().parents[1] / "data" / "demo-store.json"


class FixtureStore:
    """Serves orders from a JSON file; its `asOf` is the store's "now", so answers read the same every run."""

    def __init__(self, path: Path | str = DEMO_STORE, *, now: datetime | None = None) -> None:
        self.path = Path(path)
        raw = json.loads(self.path.read_text(encoding="utf-8"))
        self._shop = parse_shop(raw.get("shop") or {})
        self._orders = [parse_order(node) for node in raw.get("orders") or []]
        self._orders.sort(key=lambda o: o.processed_at or o.created_at, reverse=True)
        as_of = raw.get("asOf")
        self._now = now or (datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else None)
        # The shop's order-name format, when the file says it (Shopify always does); without it, names are matched
        # by what they have in common with what the shopper typed (`matching_order_names`).
        shop = raw.get("shop") or {}
        prefix, suffix = shop.get("orderNumberFormatPrefix"), shop.get("orderNumberFormatSuffix")
        self._name_prefix = prefix if isinstance(prefix, str) else None
        self._name_suffix = suffix if isinstance(suffix, str) else None
        if self._shop.name_format is None:
            # An older file that does not say its format: the one most of its names are written in, for reading
            # what shoppers type (lookups above still match by what names and typed numbers have in common).
            shape = inferred_name_format(o.name for o in self._orders)
            if shape is not None:
                self._shop = self._shop.model_copy(
                    update={"order_number_prefix": shape.prefix, "order_number_suffix": shape.suffix}
                )
        self.raw = raw

    async def shop(self) -> Shop:
        return self._shop

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        names = {o.name for o in self._orders}
        named = set(matching_order_names(name, names, prefix=self._name_prefix, suffix=self._name_suffix))
        found = [o for o in self._orders if o.name in named]
        if email is not None:
            # Narrower than find_order on purpose: Shopify's `email:` search matches the order's own email only.
            found = [o for o in found if o.has_email(email, checkout_only=True)]
        return found

    async def orders_by_email(self, email: str, *, limit: int = 5) -> list[Order]:
        return [o for o in self._orders if o.has_email(email, checkout_only=True)][:limit]

    async def orders_by_customer(self, customer_id: str, *, limit: int = 5) -> list[Order]:
        return [o for o in self._orders if o.customer_id == customer_id][:limit]

    def invalidate(self, order_ref: str | None = None) -> None:
        # A file has no cache to drop.
        return None
