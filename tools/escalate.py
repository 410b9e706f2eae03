"""`escalate`: hand the conversation to the merchant's support team, durably and once per order."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, EmailStr, Field, TypeAdapter, ValidationError
from pydantic_ai import RunContext

from outbox import EscalationRequest
from outbox.transcript import transcript_messages
from shopify.names import normalize_order_number
from tools.context import ToolContext
from tools.guard import Reservation

EscalationReason = Literal[
    "delivered_not_received",
    "shopper_asked_for_human",
    "cancellation_details",
    "cancellation_request",
    "missing_tracking",
    "delayed_or_stuck",
    "shipping_date_request",
    "order_data_unavailable",
    "other",
]

_EMAIL = TypeAdapter(EmailStr)
# Anyone can type any address: the team should know this one was not checked against an order.
_UNCHECKED = "\n(The shopper typed this contact address in the chat; it was not checked against an order.)"


class EscalationResult(BaseModel):
    status: Literal["created", "already_created", "need_contact_email", "not_verified", "unavailable"] = Field(
        description=(
            "created / already_created: the support team has the case; tell the shopper who will reply and where. "
            "need_contact_email: ask the shopper for an email address the team can reply to, then call again. "
            "not_verified: the order was not verified in this conversation; escalate without the order number or "
            "verify it first. unavailable: the hand-off could not be recorded; apologise."
        )
    )
    reference: str | None = Field(None, description="The case reference to give the shopper.")
    reply_to: str | None = Field(None, description="The email address the support team will reply to.")


async def escalate(
    ctx: RunContext[ToolContext],
    reason: EscalationReason,
    summary: str,
    order_number: str | None = None,
    shopper_email: str | None = None,
) -> EscalationResult:
    """Hand this conversation to the store's human support team, who reply by email.

    Call it only when the shopper asks for a person or accepts your offer of one. It sends the team the
    transcript, so the shopper does not have to repeat themselves. Calling it twice for the same order is harmless.

    Args:
        reason: Why a human is needed.
        summary: One or two sentences for the support team: what the shopper needs and what you already told them.
        order_number: The order this is about, if the shopper verified one in this conversation.
        shopper_email: An email address for the reply, when no verified order provides one.
    """
    deps = ctx.deps
    session = deps.session
    order_name: str | None = None
    if order_number:
        number = normalize_order_number(order_number)
        order_name = session.proved_name(number)
        if order_name is None:
            return EscalationResult(status="not_verified")
    email = session.order_emails.get(order_name) if order_name else None
    typed = False
    if email is None and shopper_email:
        try:
            email = str(_EMAIL.validate_python(shopper_email.strip()))
            typed = True
        except ValidationError:
            email = None
    if email is None:
        return EscalationResult(status="need_contact_email")
    if deps.escalations is None:
        return EscalationResult(status="unavailable")
    # Hand-offs cost the merchant's team time: one client gets a handful an hour, however many chats it opens.
    reservation = await _reserve_handoff(deps)
    if reservation is None:
        return EscalationResult(status="unavailable")
    request = EscalationRequest(
        conversation_id=deps.conversation_id,
        order_name=order_name,
        reason=reason,
        summary=(summary.strip()[:2000] + (_UNCHECKED if typed else "")),
        shopper_email=email,
        transcript=transcript_messages(ctx.messages),
    )
    try:
        record, created = await deps.escalations.escalate(request)
    except Exception:
        await reservation.settle(spent=False)
        raise
    # Only a hand-off actually created is spent; one already made gives its attempt back.
    await reservation.settle(spent=created)
    if record.id not in session.escalations:
        session.escalations.append(record.id)
    return EscalationResult(
        status="created" if created else "already_created", reference=record.id, reply_to=record.shopper_email
    )


async def _reserve_handoff(deps: ToolContext) -> Reservation | None:
    """One hand-off reserved against the caller, before it is created; None when the caller is out of them."""
    if deps.guard is None:
        return Reservation()
    return await deps.guard.reserve(deps.guard.handoff_keys(deps.caller))
