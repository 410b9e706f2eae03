"""What every tool receives: the order source, this conversation's verified state, and the escalation service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from tools.sources.base import OrderSource

if TYPE_CHECKING:
    from tools.escalations import EscalationService

MAX_FAILED_LOOKUPS = 5
VerificationFactor = str  # "email" | "postal_code"


class SessionState(BaseModel):
    """Per-conversation state, stored with the conversation. Authorization reads this, never the model's words."""

    verified_orders: list[str] = Field(default_factory=list, description="Order names the shopper has proved.")
    order_emails: dict[str, str] = Field(default_factory=dict, description="Order name -> the order's email.")
    customer_id: str | None = Field(None, description="A logged-in customer verified by a signed app-proxy request.")
    failed_lookups: int = 0
    escalations: list[str] = Field(default_factory=list)

    def verify(self, order_name: str, email: str | None) -> None:
        if order_name not in self.verified_orders:
            self.verified_orders.append(order_name)
        if email:
            self.order_emails[order_name] = email

    def is_verified(self, order_name: str) -> bool:
        return order_name in self.verified_orders


@dataclass
class ToolContext:
    source: OrderSource
    session: SessionState
    conversation_id: str
    escalations: EscalationService | None = None
    verification_factors: frozenset[VerificationFactor] = field(
        default_factory=lambda: frozenset({"email", "postal_code"})
    )
