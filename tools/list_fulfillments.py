"""`list_fulfillments`: the packages of an order this conversation has verified, and what has not shipped yet."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import RunContext

from shopify.domain import Order, Shop
from shopify.names import normalize_order_number, order_key
from shopify.source import OrderSourceError
from tools.context import ToolContext
from tools.views import (
    Item,
    Package,
    PendingFulfillment,
    RefundView,
    delivery_method,
    package_view,
    pending_fulfillments,
    refund_views,
    shipped_fulfillments,
    unshipped_items,
    when,
)
from tools.views import When as WhenView


class FulfillmentsResult(BaseModel):
    status: Literal["ok", "not_verified", "unavailable"] = Field(
        description=(
            "ok: the details below are the shopper's. not_verified: call find_order with the order number and the "
            "shopper's email or postal code first. unavailable: the order system could not be reached."
        )
    )
    order_number: str | None = None
    fulfillment_status: str | None = Field(None, description="Shopify's order-level summary, e.g. PARTIALLY_FULFILLED.")
    delivery_method: str | None = Field(
        None,
        description="SHIPPING, PICK_UP (collected from a store), LOCAL (local delivery) or NONE (nothing to ship).",
    )
    cancelled: WhenView | None = Field(None, description="Set only when the order was cancelled.")
    refunds: list[RefundView] = Field(default_factory=list)
    packages: list[Package] = Field(default_factory=list, description="One entry per shipment, in shipping order.")
    unshipped_items: list[Item] = Field(default_factory=list, description="Items not in any package yet.")
    pending: list[PendingFulfillment] = Field(
        default_factory=list, description="Work the store has not fulfilled yet: open, scheduled or on hold."
    )


async def list_fulfillments(ctx: RunContext[ToolContext], order_number: str) -> FulfillmentsResult:
    """List the packages (shipments) of an order the shopper has already verified with find_order.

    A verified find_order result already carries them (its `fulfillments`): call this to read them again later.

    For each package: its items, carrier, tracking numbers and links, status, estimated delivery (only when the
    carrier gave one), delivery time, and the latest tracking event with how many days ago it happened. Also the
    items not shipped yet and whether the rest is being prepared, scheduled for a date, or on hold.

    Args:
        order_number: The verified order's number, e.g. "#1234".
    """
    deps = ctx.deps
    number = normalize_order_number(order_number)
    name = deps.session.proved_name(number)
    if name is None:
        return FulfillmentsResult(status="not_verified", order_number=order_number)
    try:
        shop = deps.shop or await deps.source.shop()
        orders = await deps.source.orders_by_name(order_key(name))
    except OrderSourceError:
        return FulfillmentsResult(status="unavailable", order_number=name)
    # The very order that was proved: another order may share its name.
    order = next((o for o in orders if o.id == deps.session.verified_ids.get(name)), None)
    if order is None:
        return FulfillmentsResult(status="unavailable", order_number=name)
    return fulfillments_of(order, shop, deps.source.now())


def fulfillments_of(order: Order, shop: Shop, now: datetime) -> FulfillmentsResult:
    """What `list_fulfillments` returns for a proved order; a verified `find_order` carries the same (its
    `fulfillments`), so a model reads the packages without a second request. Callers prove the order first."""
    method = delivery_method(order)
    return FulfillmentsResult(
        status="ok",
        order_number=order.name,
        fulfillment_status=order.fulfillment_status,
        delivery_method=method,
        cancelled=when(order.cancelled_at, shop),
        refunds=refund_views(order, shop),
        packages=[
            package_view(i, f, shop, now, pickup=method == "PICK_UP", shipped=method in (None, "SHIPPING"))
            for i, f in enumerate(shipped_fulfillments(order), start=1)
        ],
        unshipped_items=unshipped_items(order),
        pending=[] if order.cancelled_at else pending_fulfillments(order, shop),
    )
