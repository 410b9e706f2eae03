"""The contract every order source fulfils, and the errors the agent turns into a polite answer."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shopify.domain import Order, Shop


class OrderSourceError(Exception):
    """The order data could not be read; the agent apologises and offers a human."""


class OrderSourceUnavailable(OrderSourceError):
    """Shopify (or the store file) could not be reached or answered with an error."""


class OrderSourceThrottled(OrderSourceError):
    """Shopify kept throttling us past the wait we allow a shopper."""


class OrderSource(Protocol):
    async def shop(self) -> Shop: ...

    def now(self) -> datetime:
        """The source's idea of "now" (a store file's `asOf`, `LUMEN_NOW`, or the wall clock)."""
        ...

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        """Orders whose name matches `name` (already normalised), newest first; `email` narrows the search.

        `held_only`: answer from the copy this source keeps, never with a new Shopify query (the order mirror); a
        source that keeps no copy (the live client, a store file) answers as usual. For a read whose answer is
        dropped, made only so that a lookup costs the same work whether its order exists."""
        ...

    async def orders_by_email(self, email: str, *, limit: int = 5) -> list[Order]:
        """The most recent orders placed with this email, newest first (for shoppers who lost the number)."""
        ...

    async def orders_by_customer(self, customer_id: str, *, limit: int = 5) -> list[Order]:
        """A customer's most recent orders, newest first."""
        ...

    def invalidate(self, order_ref: str | None = None) -> None:
        """Forget cached data of one order (by id or name), or of all orders."""
        ...


def parse_now(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
