"""Forgetting on request: Shopify's customers/redact and shop/redact webhooks end here."""

from __future__ import annotations

import sqlalchemy as sa

from storage.database import Engine
from storage.schema import attempts, conversations, escalations


class PrivacyStore(Engine):
    async def redact(self, needles: list[str]) -> dict[str, int]:
        """Delete the conversations and escalations that mention any of `needles` (an email, order names).

        For Shopify's customers/redact webhook: what Lumen kept about a customer goes when the merchant is asked to.
        """
        needles = [n for n in (n.strip() for n in needles) if len(n) >= 3]
        if not needles:
            return {"conversations": 0, "escalations": 0}
        # icontains, not contains: SQLite's LIKE ignores ASCII case but PostgreSQL's does not, and a redaction must
        # find "Ann@Example.com" however the shopper typed it, on either backend.
        in_conversation = sa.or_(
            *[conversations.c.messages_json.icontains(n, autoescape=True) for n in needles],
            *[conversations.c.state_json.icontains(n, autoescape=True) for n in needles],
        )
        in_escalation = sa.or_(
            *[escalations.c.transcript.icontains(n, autoescape=True) for n in needles],
            *[sa.func.lower(escalations.c.shopper_email) == n.lower() for n in needles],
            *[escalations.c.order_name == n for n in needles],
        )
        async with self.begin() as conn:
            gone = (await conn.execute(sa.select(conversations.c.id).where(in_conversation))).scalars().all()
            esc = await conn.execute(
                sa.delete(escalations).where(sa.or_(in_escalation, escalations.c.conversation_id.in_(gone)))
            )
            conv = await conn.execute(sa.delete(conversations).where(conversations.c.id.in_(gone)))
        return {"conversations": conv.rowcount, "escalations": esc.rowcount}

    async def redact_all(self) -> None:
        """For Shopify's shop/redact webhook: forget every conversation, escalation and attempt."""
        async with self.begin() as conn:
            for table in (conversations, escalations, attempts):
                await conn.execute(sa.delete(table))
