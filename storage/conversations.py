"""Conversations: each chat's messages and state, the numbers the admin page shows about them, and the lease that
lets one turn at a time run on a conversation, whichever worker or host serves it."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from storage.database import Engine
from storage.schema import conversation_locks, conversations, escalations

log = logging.getLogger("lumen.storage")

# A turn holds its conversation's lease for this long and renews it every TURN_RENEW_S while it runs, so a worker
# that dies mid-turn blocks that conversation for at most TURN_LEASE.
TURN_LEASE = timedelta(seconds=30)
TURN_RENEW_S = 10.0
# A turn that finds the lease taken (the same shopper's earlier message, served by another worker) asks again after
# these waits: quickly at first, since most turns take a second or two, then every quarter second.
TURN_POLL_FIRST_S = 0.02
TURN_POLL_MAX_S = 0.25


class ConversationSummary(BaseModel):
    id: str
    created_at: datetime
    updated_at: datetime
    customer_id: str | None
    verified_lookups: int
    escalated: bool
    model: str | None
    message_count: int


class ConversationRow(ConversationSummary):
    messages_json: str
    state_json: str


class ConversationStore(Engine):
    async def create_conversation(self, id: str) -> ConversationRow:
        """A new empty conversation; an existing one with that id is returned untouched."""
        now = self.clock()
        stmt = (
            self.insert(conversations)
            .values(id=id, created_at=now, updated_at=now, messages_json="[]", state_json="{}")
            .on_conflict_do_nothing(index_elements=[conversations.c.id])
        )
        async with self.begin() as conn:
            await conn.execute(stmt)
            row = (await conn.execute(sa.select(conversations).where(conversations.c.id == id))).mappings().one()
        return ConversationRow.model_validate(dict(row))

    async def get_conversation(self, id: str) -> ConversationRow | None:
        async with self.read() as conn:
            row = (await conn.execute(sa.select(conversations).where(conversations.c.id == id))).mappings().first()
        return ConversationRow.model_validate(dict(row)) if row else None

    async def save_conversation(
        self,
        id: str,
        *,
        messages_json: bytes | str,
        state_json: str,
        verified_lookups: int,
        escalated: bool,
        model: str | None,
        customer_id: str | None = None,
    ) -> None:
        """Insert or update one conversation. `created_at` is kept; `customer_id=None` keeps the stored one."""
        if isinstance(messages_json, bytes):
            messages_json = messages_json.decode("utf-8")
        messages = json.loads(messages_json)
        if not isinstance(messages, list):
            raise ValueError("messages_json must be a JSON array of messages")
        now = self.clock()
        values: dict[str, Any] = {
            "updated_at": now,
            "messages_json": messages_json,
            "state_json": state_json,
            "verified_lookups": verified_lookups,
            "escalated": escalated,
            "model": model,
            "message_count": len(messages),
        }
        if customer_id is not None:
            values["customer_id"] = customer_id
        stmt = self.insert(conversations).values(id=id, created_at=now, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[conversations.c.id], set_=values)
        async with self.begin() as conn:
            await conn.execute(stmt)

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
        """Most recently active first."""
        columns = [conversations.c[name] for name in ConversationSummary.model_fields]
        stmt = (
            sa.select(*columns)
            .order_by(conversations.c.updated_at.desc(), conversations.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self.read() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [ConversationSummary.model_validate(dict(row)) for row in rows]

    async def count_conversations(self) -> int:
        async with self.read() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(conversations))).scalar_one()

    async def stats(self) -> dict[str, Any]:
        """Counts for the admin page. A conversation counts as escalated if flagged or if it has an escalation."""
        has_escalation = sa.exists().where(escalations.c.conversation_id == conversations.c.id)
        escalated = sa.or_(conversations.c.escalated, has_escalation)
        conv_stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(conversations.c.verified_lookups), 0),
            sa.func.coalesce(sa.func.sum(sa.case((escalated, 1), else_=0)), 0),
        ).select_from(conversations)
        esc_stmt = sa.select(sa.func.count()).select_from(escalations)
        async with self.read() as conn:
            total, lookups, escalated_count = (await conn.execute(conv_stmt)).one()
            escalation_count = (await conn.execute(esc_stmt)).scalar_one()
        return {
            "conversations": int(total),
            "verified_lookups": int(lookups),
            "escalations": int(escalation_count),
            "conversations_escalated": int(escalated_count),
            "answered_without_human": (total - escalated_count) / total if total else 1.0,
        }

    # --- one turn at a time ----------------------------------------------------------------------------------------
    @asynccontextmanager
    async def conversation_turn(self, id: str) -> AsyncIterator[None]:
        """Hold conversation `id`'s lease for the block: other callers, in any process on this database, wait."""
        holder = secrets.token_urlsafe(12)
        delay = TURN_POLL_FIRST_S
        while not await self.claim_turn(id, holder):
            await asyncio.sleep(delay)
            delay = min(delay * 2, TURN_POLL_MAX_S)
        renewal = asyncio.create_task(self._renew_turn(id, holder), name=f"lease:{id}")
        try:
            yield
        finally:
            renewal.cancel()
            # Even when the turn is cancelled (the client went away): a lease left behind would hold the next turn
            # up for TURN_LEASE.
            await asyncio.shield(self.release_turn(id, holder))

    async def claim_turn(self, id: str, holder: str, *, lease: timedelta = TURN_LEASE) -> bool:
        """Take (or, for its holder, renew) the lease in one atomic statement; False while someone else holds it."""
        now = self.clock()
        values = {"holder": holder, "expires_at": now + lease}
        stmt = (
            self.insert(conversation_locks)
            .values(conversation_id=id, **values)
            .on_conflict_do_update(
                index_elements=[conversation_locks.c.conversation_id],
                set_=values,
                where=sa.or_(conversation_locks.c.holder == holder, conversation_locks.c.expires_at <= now),
            )
        )
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def release_turn(self, id: str, holder: str) -> None:
        """Give the lease back; a lease that expired and was taken over is the new holder's and stays."""
        stmt = sa.delete(conversation_locks).where(
            conversation_locks.c.conversation_id == id, conversation_locks.c.holder == holder
        )
        async with self.begin() as conn:
            await conn.execute(stmt)

    async def _renew_turn(self, id: str, holder: str) -> None:
        while True:
            await asyncio.sleep(TURN_RENEW_S)
            try:
                await self.claim_turn(id, holder)
            except Exception:  # a database hiccup: the lease runs on, and the next renewal tries again
                log.warning("could not renew the lease on conversation %s", id, exc_info=True)
