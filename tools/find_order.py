"""`find_order`: look an order up and decide, in code, whether this shopper may see it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from pydantic_ai import RunContext

from shopify.domain import Shop
from shopify.names import normalize_order_number
from shopify.source import OrderSourceError
from tools.context import MAX_FAILED_LOOKUPS, ToolContext, VerificationFactor
from tools.guard import lookup_keys
from tools.views import OrderOverview, order_overview

FindStatus = Literal[
    "verified", "verification_needed", "not_found", "customer_orders", "too_many_attempts", "unavailable"
]


class FindOrderResult(BaseModel):
    status: FindStatus = Field(
        description=(
            "verified: the shopper proved the order, `order` is theirs to see. "
            "verification_needed: ask for the email used at checkout (or the shipping postal code); nothing is known "
            "about the order yet. not_found: no order matches the number with that email/postal code (the same answer "
            "whether the number or the email was wrong). customer_orders: the shopper's recent orders (logged in, or "
            "proved by email and postal code together). "
            "too_many_attempts: stop looking up orders and offer the support team. "
            "unavailable: the order system could not be reached; apologise and offer the support team."
        )
    )
    order_number: str | None = Field(None, description="The order number as understood from the shopper's input.")
    order: OrderOverview | None = None
    orders: list[OrderOverview] = Field(default_factory=list)
    accepts: list[VerificationFactor] = Field(
        default_factory=list, description="When asking the shopper for proof: what this store accepts with a number."
    )


async def find_order(
    ctx: RunContext[ToolContext],
    order_number: str | None = None,
    email: str | None = None,
    postal_code: str | None = None,
) -> FindOrderResult:
    """Look up one of this store's orders for the shopper, checking that it is theirs.

    Pass every detail the shopper has given in this conversation. An order number alone never reveals anything:
    the shopper must also give the email address used at checkout or the shipping postal code. A shopper who lost
    the number can give both the email and the postal code instead. A logged-in customer can call this with no
    arguments to get their recent orders. Only orders placed on this store exist here.

    Args:
        order_number: The order number exactly as the shopper typed it, e.g. "#1234", "1234" or "order 1234".
        email: The email address the shopper says they used at checkout.
        postal_code: The shipping ZIP or postal code the shopper gave.
    """
    deps = ctx.deps
    if "email" not in deps.verification_factors:
        email = None
    if "postal_code" not in deps.verification_factors:
        postal_code = None
    async with deps.lock:
        try:
            result = await _find(deps, order_number, email, postal_code)
        except OrderSourceError:
            return FindOrderResult(status="unavailable", order_number=order_number)
    if result.status in ("verification_needed", "not_found"):
        result.accepts = sorted(deps.verification_factors)
    return result


async def _find(
    deps: ToolContext, order_number: str | None, email: str | None, postal_code: str | None
) -> FindOrderResult:
    shop = deps.shop or await deps.source.shop()
    if not order_number:
        if deps.session.customer_id:
            return await _customer_orders(deps, deps.session.customer_id, shop)
        if not (email and postal_code):
            return FindOrderResult(status="verification_needed")
        return await _find_without_number(deps, email, postal_code, shop)
    number = normalize_order_number(order_number)
    if number is None:
        return FindOrderResult(status="not_found", order_number=order_number.strip())
    shown = f"#{number}" if number.isdigit() else number
    known = await _already_proved(deps, number, shop)
    if known is not None:
        return known
    if not (email or postal_code):
        # Deliberately no lookup: the answer must not depend on whether the order exists.
        return FindOrderResult(status="verification_needed", order_number=shown)
    return await _prove_by_number(deps, number, shown, email, postal_code, shop)


async def _customer_orders(deps: ToolContext, customer_id: str, shop: Shop) -> FindOrderResult:
    """A logged-in customer's recent orders: the login is the proof."""
    orders = await deps.source.orders_by_customer(customer_id)
    for order in orders:
        deps.session.verify(order.name, order.id, order.email or order.customer_email)
    return FindOrderResult(status="customer_orders", orders=[order_overview(o, shop) for o in orders])


async def _find_without_number(deps: ToolContext, email: str, postal_code: str, shop: Shop) -> FindOrderResult:
    """The number is lost: the email and the shipping postal code together prove the orders."""
    keys = lookup_keys(email=email, postal_code=postal_code, client_ip=deps.client_ip)
    if not await _allowed(deps, keys):
        return FindOrderResult(status="too_many_attempts")
    candidates = await deps.source.orders_by_email(email)
    orders = [o for o in candidates if o.has_email(email) and o.has_postal_code(postal_code)]
    if not orders:
        await _failed(deps, keys)
        return FindOrderResult(status="not_found")
    for order in orders:
        deps.session.verify(order.name, order.id, email)
    if len(orders) == 1:
        return FindOrderResult(status="verified", order_number=orders[0].name, order=order_overview(orders[0], shop))
    return FindOrderResult(status="customer_orders", orders=[order_overview(o, shop) for o in orders])


async def _already_proved(deps: ToolContext, number: str, shop: Shop) -> FindOrderResult | None:
    """Already proved in this conversation, or a logged-in customer's own order: no guess is being made."""
    session = deps.session
    proved = session.proved_name(number)
    proved_ids = {session.verified_ids.get(proved)} if proved else set()
    if not (proved_ids or session.customer_id):
        return None
    for order in await deps.source.orders_by_name(number):
        if order.id in proved_ids or (session.customer_id and order.customer_id == session.customer_id):
            session.verify(order.name, order.id, order.email or order.customer_email if session.customer_id else None)
            return FindOrderResult(status="verified", order_number=order.name, order=order_overview(order, shop))
    return None


async def _prove_by_number(
    deps: ToolContext, number: str, shown: str, email: str | None, postal_code: str | None, shop: Shop
) -> FindOrderResult:
    """An order number with the shopper's email or postal code: a guess, rationed by the attempt guard."""
    keys = lookup_keys(number=number, postal_code=postal_code, client_ip=deps.client_ip)
    if not await _allowed(deps, keys):
        return FindOrderResult(status="too_many_attempts", order_number=shown)
    for order in await deps.source.orders_by_name(number):
        by_email = email is not None and order.has_email(email)
        if by_email or (postal_code is not None and order.has_postal_code(postal_code)):
            # The order's email stays private unless the shopper proved it by typing it.
            deps.session.verify(order.name, order.id, email if by_email else None)
            return FindOrderResult(status="verified", order_number=order.name, order=order_overview(order, shop))
    await _failed(deps, keys)
    return FindOrderResult(status="not_found", order_number=shown)


async def _allowed(deps: ToolContext, keys: list[str]) -> bool:
    if deps.session.failed_lookups >= MAX_FAILED_LOOKUPS:
        return False
    return deps.guard is None or not await deps.guard.blocked(keys)


async def _failed(deps: ToolContext, keys: list[str]) -> None:
    """Count a wrong guess, in this conversation and across all of them, before the shopper hears the answer.

    Only failures count: shoppers looking up the same popular order at once are not guesses. Within a
    conversation, lookups run one at a time (`ToolContext.lock`), so parallel tool calls cannot outrun the count.
    """
    deps.session.failed_lookups += 1
    if deps.guard is not None:
        await deps.guard.spend(keys)
