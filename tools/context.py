"""What every tool receives: the order source, this conversation's verified state, and the escalation service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from shopify.domain import Shop
from shopify.names import order_name_matches
from shopify.source import OrderSource
from shopify.webhooks import as_customer_gid

if TYPE_CHECKING:
    from outbox.service import EscalationService
    from tools.guard import AttemptGuard

MAX_FAILED_LOOKUPS = 5
VerificationFactor = Literal["email", "postal_code"]


class SessionState(BaseModel):
    """Per-conversation state, stored with the conversation. Authorization reads this, never the model's words."""

    verified_orders: list[str] = Field(default_factory=list, description="Order names the shopper has proved.")
    # Names need not be unique in Shopify: the id of the order that was proved is what later calls may read.
    verified_ids: dict[str, str] = Field(default_factory=dict, description="Order name -> the proved order's id.")
    order_emails: dict[str, str] = Field(
        default_factory=dict, description="Order name -> the order's email, kept only when the shopper proved it."
    )
    customer_id: str | None = Field(None, description="A logged-in customer verified by a signed app-proxy request.")
    failed_lookups: int = 0
    escalations: list[str] = Field(default_factory=list)
    proofs_after: datetime | None = Field(
        None,
        description=(
            "Shopper messages sent at or before this instant (their pydantic-ai timestamps) prove nothing: the proof "
            "epoch began after them, when the conversation sat idle too long or the logged-in customer changed."
        ),
    )

    def verify(self, order_name: str, order_id: str, email: str | None) -> None:
        """Remember a proved order; `email` only when the shopper proved it (typed it, or is logged in as its owner).

        An order proved by postal code alone keeps its email to itself, so nothing can echo it back to the shopper.
        """
        if order_name not in self.verified_orders:
            self.verified_orders.append(order_name)
        self.verified_ids[order_name] = order_id
        if email:
            self.order_emails[order_name] = email

    def forget_orders(self) -> None:
        self.verified_orders.clear()
        self.verified_ids.clear()
        self.order_emails.clear()

    def new_proof_epoch(self, after: datetime | None) -> None:
        """Forget every proof, and every detail typed up to `after` (the last shopper message so far): from here
        on the shopper proves an order again in a new message, and nothing replayed from history counts."""
        self.forget_orders()
        if after is not None:
            self.proofs_after = after

    def proved_name(self, number: str | None) -> str | None:
        """The proved order a shopper's normalised number refers to ('1234' -> '#1234'), if any."""
        return next((n for n in self.verified_orders if number and order_name_matches(n, number)), None)


@dataclass(frozen=True)
class Caller:
    """Who is asking, as far as the server can tell: what per-client limits count against (see tools.guard)."""

    client_ip: str | None = None
    # The shop whose storefront forwarded a signed app-proxy request: such a request has no usable client address.
    proxy_shop: str | None = None
    customer_id: str | None = None

    def __post_init__(self) -> None:
        # Callers pass the app proxy's numeric id or the GraphQL id; orders carry the GraphQL id, so one form here.
        object.__setattr__(self, "customer_id", as_customer_gid(self.customer_id))


@dataclass
class ToolContext:
    source: OrderSource
    session: SessionState
    conversation_id: str
    escalations: EscalationService | None = None
    # The shop, read once per turn by the caller; tools fall back to the source when it is not given.
    shop: Shop | None = None
    guard: AttemptGuard | None = None
    client_ip: str | None = None
    proxy_shop: str | None = None
    # One lookup at a time per conversation: parallel tool calls must not outrun the attempt counters.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    verification_factors: frozenset[VerificationFactor] = field(
        default_factory=lambda: frozenset({"email", "postal_code"})
    )

    @property
    def caller(self) -> Caller:
        return Caller(client_ip=self.client_ip, proxy_shop=self.proxy_shop, customer_id=self.session.customer_id)
