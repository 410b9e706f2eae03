"""`find_order`: look an order up and decide, in code, whether this shopper may see it."""

from __future__ import annotations

import logging
from typing import Literal, NamedTuple

from pydantic import BaseModel, Field
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelRequest, UserPromptPart

from shopify.domain import Order, Shop
from shopify.names import email_in_text, normalize_order_number, normalize_postal_code, order_name_parts
from shopify.source import OrderSourceError
from storage.attempts import Allowance
from tools.context import MAX_FAILED_LOOKUPS, ToolContext, VerificationFactor
from tools.guard import is_order_proofs_key
from tools.list_fulfillments import FulfillmentsResult, fulfillments_of
from tools.views import OrderOverview, order_overview

log = logging.getLogger("lumen")

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
            "too_many_attempts: stop looking up orders; say they can try again later, and offer the support team. "
            "unavailable: the order system could not be reached; apologise and offer the support team."
        )
    )
    order_number: str | None = Field(None, description="The order number as understood from the shopper's input.")
    order: OrderOverview | None = None
    orders: list[OrderOverview] = Field(default_factory=list)
    accepts: list[VerificationFactor] = Field(
        default_factory=list, description="When asking the shopper for proof: what this store accepts with a number."
    )
    fulfillments: FulfillmentsResult | None = Field(
        None,
        description=(
            "When the result shows one order (verified, or customer_orders with one): its packages and what has not "
            "shipped yet, exactly as list_fulfillments returns them."
        ),
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
    arguments to get their recent orders. Only orders placed on this store exist here. A result that shows one order
    carries its packages too (`fulfillments`, as list_fulfillments returns them).

    Args:
        order_number: The order number exactly as the shopper typed it, e.g. "#1234", "1234" or "order 1234".
        email: The email address the shopper says they used at checkout.
        postal_code: The shipping ZIP or postal code the shopper gave.
    """
    deps = ctx.deps
    typed = _typed_this_epoch(ctx)
    # Only what the shopper typed since the proof epoch began proves anything: not details replayed from history.
    if "email" not in deps.verification_factors or (email and not email_in_text(email, typed)):
        email = None
    if "postal_code" not in deps.verification_factors or (
        postal_code and normalize_postal_code(postal_code) not in normalize_postal_code(typed)
    ):
        postal_code = None
    async with deps.lock:
        try:
            result = await _find(deps, order_number, email, postal_code)
        except OrderSourceError:
            return FindOrderResult(status="unavailable", order_number=order_number)
    if result.status in ("verification_needed", "not_found"):
        result.accepts = sorted(deps.verification_factors)
    return result


def _typed_this_epoch(ctx: RunContext[ToolContext]) -> str:
    """Everything the shopper wrote in this proof epoch (see `SessionState.new_proof_epoch`), one line a message."""
    after = ctx.deps.session.proofs_after
    texts = []
    for message in ctx.messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, UserPromptPart) and (after is None or part.timestamp > after):
                texts.append(part.content if isinstance(part.content, str) else " ".join(map(str, part.content)))
    return "\n".join(texts)


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
    session = deps.session
    if session.proved_name(number) or session.customer_id:
        # No guess is being made: this conversation proved the order, or a logged-in customer may own it.
        orders = await deps.source.orders_by_name(number)
        known = _already_proved(deps, number, orders, shop)
        if known is not None or not (email or postal_code):
            return known or FindOrderResult(status="verification_needed", order_number=shown)
        return await _prove_by_number(deps, number, shown, email, postal_code, shop, orders)
    if not (email or postal_code):
        # Deliberately no lookup: the answer must not depend on whether the order exists.
        return FindOrderResult(status="verification_needed", order_number=shown)
    return await _prove_by_number(deps, number, shown, email, postal_code, shop)


async def _customer_orders(deps: ToolContext, customer_id: str, shop: Shop) -> FindOrderResult:
    """A logged-in customer's recent orders: the login is the proof."""
    orders = await deps.source.orders_by_customer(customer_id)
    for order in orders:
        deps.session.verify(order.name, order.id, order.email or order.customer_email)
    return _shown(deps, "customer_orders", orders, shop)


async def _find_without_number(deps: ToolContext, email: str, postal_code: str, shop: Shop) -> FindOrderResult:
    """The number is lost: the email and the shipping postal code together prove the orders."""
    keys = _keys(deps, email=email, postal_code=postal_code)
    if not await _room(deps, keys):
        return FindOrderResult(status="too_many_attempts")
    candidates = await deps.source.orders_by_email(email)
    orders = [o for o in candidates if o.has_email(email) and o.has_postal_code(postal_code)]
    if not await _decide(deps, keys, proved=bool(orders)):
        return FindOrderResult(status="too_many_attempts")
    if not orders:
        return FindOrderResult(status="not_found")
    for order in orders:
        deps.session.verify(order.name, order.id, email)
    return _shown(deps, "verified" if len(orders) == 1 else "customer_orders", orders, shop)


def _already_proved(deps: ToolContext, number: str, orders: list[Order], shop: Shop) -> FindOrderResult | None:
    """The order this conversation proved, or a logged-in customer's own order, among those with the number."""
    session = deps.session
    proved = session.proved_name(number)
    proved_ids = {session.verified_ids.get(proved)} if proved else set()
    for order in orders:
        if order.id in proved_ids or (session.customer_id and order.customer_id == session.customer_id):
            session.verify(order.name, order.id, order.email or order.customer_email if session.customer_id else None)
            return _shown(deps, "verified", [order], shop)
    return None


async def _prove_by_number(
    deps: ToolContext,
    number: str,
    shown: str,
    email: str | None,
    postal_code: str | None,
    shop: Shop,
    orders: list[Order] | None = None,
) -> FindOrderResult:
    """An order number with the shopper's email or postal code: a guess, rationed by the attempt guard.

    Found or not, it is the same work: one look at the limits, one lookup (or the one already made), one
    reservation and its settlement.
    """
    # Counted by the order's digits: '5101', 'bog5101' and 'BOG-5101-IE' are one order to guess postcodes on.
    parts = order_name_parts(number)
    keys = _keys(deps, number=parts.digits if parts else number, email=email, postal_code=postal_code)
    if not await _room(deps, keys):
        return FindOrderResult(status="too_many_attempts", order_number=shown)
    if orders is None:
        orders = await deps.source.orders_by_name(number)
        other_way = await _read_the_other_way(deps, number, email, postal_code, orders)
        if other_way is not None:
            orders, postal_code = other_way.orders, other_way.postal_code
            keys = keys | other_way.keys  # one attempt, counted against what both readings aimed at
    match = next((o for o in orders if _proves(o, email, postal_code)), None)
    if not await _decide(deps, keys, proved=match is not None):
        return FindOrderResult(status="too_many_attempts", order_number=shown)
    if match is None:
        return FindOrderResult(status="not_found", order_number=shown)
    # The order's email stays private unless the shopper proved it by typing it.
    deps.session.verify(match.name, match.id, email if email is not None and match.has_email(email) else None)
    return _shown(deps, "verified", [match], shop)


def _shown(
    deps: ToolContext, status: Literal["verified", "customer_orders"], orders: list[Order], shop: Shop
) -> FindOrderResult:
    """The orders this conversation just proved (`session.verify`, by the caller); one order shown comes with its
    packages, so a model answers without a second request (`list_fulfillments` reads them again later)."""
    if status == "verified":
        order = orders[0]
        return FindOrderResult(
            status="verified",
            order_number=order.name,
            order=order_overview(order, shop),
            fulfillments=fulfillments_of(order, shop, deps.source.now()),
        )
    one = fulfillments_of(orders[0], shop, deps.source.now()) if len(orders) == 1 else None
    return FindOrderResult(status="customer_orders", orders=[order_overview(o, shop) for o in orders], fulfillments=one)


class _OtherWay(NamedTuple):
    """Two bare numbers read the other way round: the orders the second names, and the first as their postcode."""

    orders: list[Order]
    postal_code: str
    keys: dict[str, Allowance]


async def _read_the_other_way(
    deps: ToolContext, number: str, email: str | None, postal_code: str | None, orders: list[Order]
) -> _OtherWay | None:
    """ "2480 5201" where postcodes and order numbers both have four digits, or "6607 30017" where the order went
    abroad: which is which only the shop's orders tell. When the number given as the order names none, and both are
    bare digits, the postcode is tried as the order and the number as its postcode, within the same attempt.

    Still one guess per attempt: the first reading proved nothing (no such order), so only the second one guesses,
    and the attempt counts against both readings' order and postcode keys. A number that names an order is never
    read the other way (an order with a wrong postcode is one failed guess, not two). The caller keeps the number
    as typed in a failed answer, so a miss reads the same whichever number was an order. The other reading is read
    (and its room asked) even when the first found orders, and then dropped: a lookup costs the same work whether the
    order exists or not, so its time tells a guesser nothing (`tests/security/test_limits.py`).
    """
    if not postal_code or not number.isdigit():
        return None
    code = normalize_postal_code(postal_code)
    if not code.isdigit() or code == number:
        # Of two lengths ("2017 98101") the shape told which is which only for the shop's own country's postcodes
        # (`understand._order_of_two`): an order shipped to a neighbour with longer codes ("6322 10005" in a South
        # African shop, to Windhoek) is the other reading, which the shop's orders tell the same way.
        return None
    keys = _keys(deps, number=code, email=email, postal_code=number)
    if not await _room(deps, keys):
        return None  # the other reading's keys are used up: answered as the reading typed
    # When the first reading found the order, this read is only for equal work: from the shop's copy, so that a
    # proof by postcode never costs a Shopify query for a name that is usually no order (`sync.mirror`).
    found = await deps.source.orders_by_name(code, held_only=bool(orders))
    return _OtherWay(found, number, keys) if found and not orders else None


def _proves(order: Order, email: str | None, postal_code: str | None) -> bool:
    return (email is not None and order.has_email(email)) or (
        postal_code is not None and order.has_postal_code(postal_code)
    )


def _keys(
    deps: ToolContext, *, number: str | None = None, email: str | None = None, postal_code: str | None = None
) -> dict[str, Allowance]:
    if deps.guard is None:
        return {}
    return deps.guard.lookup_keys(
        conversation_id=deps.conversation_id, caller=deps.caller, number=number, email=email, postal_code=postal_code
    )


async def _room(deps: ToolContext, keys: dict[str, Allowance]) -> bool:
    """Whether a guess on these keys may be looked up: a plain read, so no lookup is spent on a used-up key.

    The order-proofs key is not read here: it stops wrong guesses only, and whether a guess is wrong is known only
    after the lookup (`_decide`), so a full one must not keep the owner's right proof from being looked up.
    """
    if deps.session.failed_lookups >= MAX_FAILED_LOOKUPS:
        return False
    if deps.guard is None:
        return True
    return not await deps.guard.used_up(_without_order_proofs(keys))


def _without_order_proofs(keys: dict[str, Allowance]) -> dict[str, Allowance]:
    return {key: allowance for key, allowance in keys.items() if not is_order_proofs_key(key)}


async def _decide(deps: ToolContext, keys: dict[str, Allowance], *, proved: bool) -> bool:
    """Reserve an attempt for a looked-up guess and settle it; False means refused, and the outcome is not told.

    The reservation is atomic in the database, so of any number of parallel guesses on a key (in this conversation
    or any other, on this worker or another) no more are answered than the key allows. Only failures count: a proof
    gives its attempt back at once, so shoppers proving the same popular order at once are not guesses. Deciding
    after the lookup, not before, keeps a slow lookup from holding a key's room while it runs.

    The order-proofs key is decided second, and refuses wrong guesses only: its cap is reached by anyone (one
    address guessing emails fills it), so a right proof going through it is what keeps the owner from being locked
    out of their order. A proof and a wrong guess, on an order that exists or not, run the same two decisions (the
    same statements), and past the cap a wrong guess reads `too_many_attempts` whether or not the order exists.
    """
    guard = deps.guard
    order_proofs = {key: allowance for key, allowance in keys.items() if is_order_proofs_key(key)}
    # Both decisions in one transaction, the order-proofs key's second: decided for a proof too, and its answer
    # ignored (the same statements, and a proof takes its attempt back).
    decided = [True, True]
    if guard is not None:
        decided = await guard.decide_in_turn([_without_order_proofs(keys), order_proofs], failed=not proved)
    if not decided[0]:
        return False
    order_has_room = decided[1]
    if proved:
        return True
    # Looked up and wrong: it counted against the conversation, the client and what it guessed (the first decision)
    # even when the order's cap refuses it below, so a full cap gives an attacker no free lookups.
    deps.session.failed_lookups += 1
    if guard is not None and not order_has_room:
        # The merchant's word that an order number is being guessed at from many places, once per order an hour (the
        # refusals after it are an attacker's to multiply). No order name or detail: the conversation id finds it.
        if guard.first_refusal(order_proofs):
            log.warning(
                "find_order: an order number reached its limit of %d wrong proofs an hour; a wrong guess in "
                "conversation %s was refused (its owner's right proof is still answered; further refusals on this "
                "order are not logged for an hour)",
                guard.limits.per_order_proofs.limit,
                deps.conversation_id,
            )
        return False
    return True
