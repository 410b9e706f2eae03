"""Escalation records: a shopper's case for the merchant's team, and the outbox's state for emailing it.

Every statement on the escalations table is here; `outbox.service` decides when to call them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import RowMapping

from storage.database import Engine
from storage.schema import escalations

EmailStatus = Literal["pending", "sent", "failed", "not_configured"]
RETRYABLE: tuple[EmailStatus, ...] = ("pending", "failed", "not_configured")

# No 0/O, 1/I/L or U: references are read aloud and typed from emails.
_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_LENGTH = 6
_ID_DRAWS = 5


class EscalationRequest(BaseModel):
    conversation_id: str
    order_name: str | None = None
    reason: str
    summary: str
    shopper_email: str | None = None
    transcript: str


class Escalation(BaseModel):
    id: str
    conversation_id: str
    order_name: str | None
    reason: str
    summary: str
    shopper_email: str | None
    transcript: str
    created_at: datetime
    email_status: EmailStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None = None


def new_escalation_id() -> str:
    return "ESC-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def _escalation(row: RowMapping | Mapping[str, Any]) -> Escalation:
    return Escalation.model_validate({name: row.get(name) for name in Escalation.model_fields})


def _due(now: datetime, max_attempts: int) -> sa.ColumnElement[bool]:
    return sa.and_(
        escalations.c.email_status.in_(RETRYABLE),
        escalations.c.attempts < max_attempts,
        sa.or_(escalations.c.next_attempt_at.is_(None), escalations.c.next_attempt_at <= now),
    )


class EscalationStore(Engine):
    async def insert_escalation(self, req: EscalationRequest, *, order_key: str) -> Escalation | None:
        """Insert with a fresh id; None if this conversation already escalated the order with this key."""
        for _ in range(_ID_DRAWS):
            values: dict[str, Any] = {
                **req.model_dump(),
                "id": new_escalation_id(),
                "order_key": order_key,
                "created_at": self.clock(),
                "email_status": "pending",
                "attempts": 0,
            }
            try:
                async with self.begin() as conn:
                    await conn.execute(sa.insert(escalations).values(values))
            except sa.exc.IntegrityError:
                if await self.find_escalation(req.conversation_id, order_key) is not None:
                    return None
                continue  # the random id collided with another escalation's: draw again
            return _escalation(values)
        raise RuntimeError("could not allocate a unique escalation id")

    async def find_escalation(self, conversation_id: str, order_key: str) -> Escalation | None:
        stmt = sa.select(escalations).where(
            escalations.c.conversation_id == conversation_id, escalations.c.order_key == order_key
        )
        async with self.begin() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return _escalation(row) if row else None

    async def get_escalation(self, id: str) -> Escalation | None:
        async with self.begin() as conn:
            row = (await conn.execute(sa.select(escalations).where(escalations.c.id == id))).mappings().first()
        return _escalation(row) if row else None

    async def list_escalations(self, limit: int = 100, offset: int = 0) -> list[Escalation]:
        """Newest first."""
        stmt = (
            sa.select(escalations)
            .order_by(escalations.c.created_at.desc(), escalations.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self.begin() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_escalation(row) for row in rows]

    async def due_escalations(self, now: datetime, *, max_attempts: int) -> list[Escalation]:
        """The escalations the outbox should email now, oldest first."""
        stmt = (
            sa.select(escalations).where(_due(now, max_attempts)).order_by(escalations.c.created_at, escalations.c.id)
        )
        async with self.begin() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_escalation(row) for row in rows]

    async def claim_escalation(self, esc: Escalation, now: datetime, *, until: datetime, max_attempts: int) -> bool:
        """Count one more attempt and lease the row to this worker until `until`. False if it is not due any more."""
        claim = (
            sa.update(escalations)
            # `attempts` as read: if another worker claimed it in between, this matches nothing.
            .where(escalations.c.id == esc.id, escalations.c.attempts == esc.attempts, _due(now, max_attempts))
            .values(attempts=esc.attempts + 1, last_attempt_at=now, next_attempt_at=until)
        )
        async with self.begin() as conn:
            return (await conn.execute(claim)).rowcount == 1

    async def mark_escalation_not_configured(self, id: str) -> None:
        await self._update_escalation(id, email_status="not_configured", next_attempt_at=None)

    async def mark_escalation_failed(self, id: str, error: str, *, retry_at: datetime) -> None:
        await self._update_escalation(id, email_status="failed", last_error=error, next_attempt_at=retry_at)

    async def mark_escalation_sent(self, id: str, at: datetime) -> None:
        await self._update_escalation(id, email_status="sent", sent_at=at, last_error=None, next_attempt_at=None)

    async def _update_escalation(self, id: str, **values: Any) -> None:
        async with self.begin() as conn:
            await conn.execute(sa.update(escalations).where(escalations.c.id == id).values(**values))
