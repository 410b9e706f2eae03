"""Forgetting: Shopify's customers/redact and shop/redact webhooks, and the merchant's retention period, end here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa

from storage.contacts import Contact, ContactStore
from storage.schema import attempts, conversation_contacts, conversations, escalations

# Rows per IN list: far below SQLite's and asyncpg's bound-parameter limits (32766 / 32767).
ID_BATCH = 1000
FINISHED = ("sent", "cancelled")  # escalations the outbox is done with


class PrivacyStore(ContactStore):
    async def redact(self, keys: Sequence[Contact], *, also: Sequence[str] = ()) -> dict[str, int]:
        """Delete the conversations recorded with any of these exact keys (normalised email, customer or order GID),
        the conversations listed in `also`, their escalations, and escalations whose shopper email is one of the keys.

        For Shopify's customers/redact webhook: what Lumen kept about a customer goes when the merchant is asked to,
        and nothing of anyone else's does (no substring matching: ann@example.com is not joann@example.com).
        """
        gone = sorted({*await self.conversations_about(keys), *also})
        emails = sorted({value for kind, value in keys if kind == "email"})
        deleted = {"conversations": 0, "escalations": 0}
        async with self.begin() as conn:
            for start in range(0, max(len(gone), len(emails)), ID_BATCH):
                ids, addresses = gone[start : start + ID_BATCH], emails[start : start + ID_BATCH]
                by_email = sa.func.lower(sa.func.trim(escalations.c.shopper_email)).in_(addresses)
                esc = await conn.execute(
                    sa.delete(escalations).where(sa.or_(escalations.c.conversation_id.in_(ids), by_email))
                )
                await conn.execute(
                    sa.delete(conversation_contacts).where(conversation_contacts.c.conversation_id.in_(ids))
                )
                conv = await conn.execute(sa.delete(conversations).where(conversations.c.id.in_(ids)))
                deleted["conversations"] += conv.rowcount
                deleted["escalations"] += esc.rowcount
        return deleted

    async def forget_before(self, cutoff: datetime) -> int:
        """The merchant's retention period: delete conversations last active before `cutoff` and what was recorded
        about them. A hand-off is never lost to it: escalations go only once sent (or cancelled by the merchant)."""
        async with self.begin() as conn:
            old = sa.select(conversations.c.id).where(conversations.c.updated_at < cutoff).scalar_subquery()
            await conn.execute(sa.delete(conversation_contacts).where(conversation_contacts.c.conversation_id.in_(old)))
            conv = await conn.execute(sa.delete(conversations).where(conversations.c.updated_at < cutoff))
            done = escalations.c.email_status.in_(FINISHED)
            delivered = sa.and_(done, escalations.c.created_at < cutoff)
            await conn.execute(sa.delete(escalations).where(delivered))
        return int(conv.rowcount)

    async def redact_all(self) -> None:
        """For Shopify's shop/redact webhook: forget every conversation, escalation and attempt."""
        async with self.begin() as conn:
            for table in (conversations, conversation_contacts, escalations, attempts):
                await conn.execute(sa.delete(table))
