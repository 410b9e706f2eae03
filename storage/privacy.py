"""Forgetting: Shopify's customers/redact and shop/redact webhooks, and the merchant's retention period, end here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from storage.contacts import Contact, ContactStore
from storage.schema import attempts, conversation_contacts, conversations, escalations

# Rows per IN list: far below SQLite's and asyncpg's bound-parameter limits (32766 / 32767).
ID_BATCH = 1000
FINISHED = ("sent", "cancelled")  # escalations the outbox is done with
# Rows per write transaction when purging (retention, shop/redact): a few milliseconds of work, so a worker's turns
# wait at most that long behind a purge of any size.
PURGE_CHUNK = 500


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
        for start in range(0, max(len(gone), len(emails)), ID_BATCH):
            # One short write transaction a batch (see `forget_before`); each deletes whole conversations.
            async with self.begin() as conn:
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
        about them. A hand-off is never lost to it: escalations go only once sent (or cancelled by the merchant).

        In chunks of `PURGE_CHUNK` rows, each its own short write transaction: on SQLite the statements run on the event
        loop's thread (`storage.database._InlineSQLite`), so one transaction deleting a year of conversations would
        stall every turn of the worker (and hold the write lock) until it ended."""
        c, chunk = conversations.c, PURGE_CHUNK
        deleted = 0
        while True:
            async with self.begin() as conn:
                old = sa.select(c.id).where(c.updated_at < cutoff).limit(chunk).scalar_subquery()
                # The cutoff is checked again in the DELETE: a conversation touched since it was picked stays.
                gone = await conn.execute(
                    sa.delete(conversations).where(c.id.in_(old), c.updated_at < cutoff).returning(c.id)
                )
                ids = list(gone.scalars())
                if ids:
                    contacts = conversation_contacts.c
                    await conn.execute(sa.delete(conversation_contacts).where(contacts.conversation_id.in_(ids)))
            deleted += len(ids)
            if len(ids) < chunk:
                break
        done = escalations.c.email_status.in_(FINISHED)
        await self._delete_chunked(
            escalations, escalations.c.id, sa.and_(done, escalations.c.created_at < cutoff), PURGE_CHUNK
        )
        return deleted

    async def redact_all(self) -> None:
        """For Shopify's shop/redact webhook: forget every conversation, escalation and attempt, `PURGE_CHUNK` rows to a
        short write transaction (see `forget_before`), each table until none is left."""
        await self._delete_chunked(conversations, conversations.c.id, sa.true(), PURGE_CHUNK)
        await self._delete_chunked(
            conversation_contacts, conversation_contacts.c.conversation_id, sa.true(), PURGE_CHUNK
        )
        await self._delete_chunked(escalations, escalations.c.id, sa.true(), PURGE_CHUNK)
        await self._delete_chunked(attempts, attempts.c.id, sa.true(), PURGE_CHUNK)

    async def _delete_chunked(
        self, table: sa.Table, key: sa.ColumnElement[Any], where: sa.ColumnElement[bool], chunk: int
    ) -> int:
        """Delete the rows of `table` matching `where`, `chunk` keys at a time, one write transaction each, until a
        chunk finds fewer (then none was left when it ran). Rows deleted."""
        deleted = 0
        while True:
            async with self.begin() as conn:
                picked = sa.select(key).where(where).distinct().limit(chunk).scalar_subquery()
                count = int((await conn.execute(sa.delete(table).where(key.in_(picked), where))).rowcount)
            deleted += count
            # A chunk of contacts may be more rows than keys, never fewer: fewer than `chunk` means none are left.
            if count < chunk:
                return deleted
