"""Escalation records: a shopper's case for the merchant's team, and the outbox's state for emailing it.

Every statement on the escalations table is here; `outbox.service` decides when to call them.

The outbox's states (`email_status`): `pending` (due), `sending` (one worker holds a lease on it until
`next_attempt_at`), `failed` (retried at `next_attempt_at`), `not_configured` (waits for mail settings), `sent`
and `cancelled` (by the merchant). Nothing gives up on its own: an escalation leaves the outbox only when it is
sent or the merchant cancels it.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy.engine import RowMapping

from storage.database import Engine
from storage.schema import escalations

EmailStatus = Literal["pending", "sending", "sent", "failed", "not_configured", "cancelled"]
# What the outbox picks up once `next_attempt_at` has passed: a `sending` row whose lease ran out was abandoned
# mid-send (its worker died or was cancelled), so it is tried again.
IN_OUTBOX: tuple[EmailStatus, ...] = ("pending", "sending", "failed", "not_configured")

# `unattributed`: a transcript stored as plain text before transcripts were structured. Who said what in it cannot
# be told apart, so it is shown as one block under that label, never as messages of the shopper or of Lumen.
Speaker = Literal["shopper", "lumen", "unattributed"]

# No 0/O, 1/I/L or U: references are read aloud and typed from emails.
_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_LENGTH = 6
_ID_DRAWS = 5


class TranscriptMessage(BaseModel):
    """One message of a conversation, as the support team reads it: who, when, and their words as written."""

    speaker: Speaker
    at: datetime | None = None
    text: str


_TRANSCRIPT = TypeAdapter(list[TranscriptMessage])


class EscalationRequest(BaseModel):
    conversation_id: str
    order_name: str | None = None
    reason: str
    summary: str
    shopper_email: str | None = None
    transcript: list[TranscriptMessage] = Field(default_factory=list)


class Escalation(BaseModel):
    id: str
    conversation_id: str
    order_name: str | None
    reason: str
    summary: str
    shopper_email: str | None
    transcript: list[TranscriptMessage]
    created_at: datetime
    email_status: EmailStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    # The next email attempt (after a failure, or when a worker's lease on a send runs out); None when none is due.
    next_attempt_at: datetime | None = None


def new_escalation_id() -> str:
    return "ESC-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def transcript_json(messages: list[TranscriptMessage]) -> str:
    return _TRANSCRIPT.dump_json(messages).decode()


def _transcript(stored: str | None) -> list[TranscriptMessage]:
    """The stored transcript: JSON messages, or (written by an earlier version) plain text, kept as one block."""
    if not stored:
        return []
    try:
        return _TRANSCRIPT.validate_json(stored)
    except ValidationError:
        return [TranscriptMessage(speaker="unattributed", text=stored)]


def _escalation(row: RowMapping | Mapping[str, Any]) -> Escalation:
    values = {name: row.get(name) for name in Escalation.model_fields}
    values["transcript"] = _transcript(row.get("transcript"))
    return Escalation.model_validate(values)


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        escalations.c.email_status.in_(IN_OUTBOX),
        sa.or_(escalations.c.next_attempt_at.is_(None), escalations.c.next_attempt_at <= now),
    )


def _leased(now: datetime) -> sa.ColumnElement[bool]:
    """A worker is sending it right now (its lease has not run out)."""
    return sa.and_(escalations.c.email_status == "sending", escalations.c.next_attempt_at > now)


class EscalationStore(Engine):
    async def insert_escalation(self, req: EscalationRequest, *, order_key: str) -> Escalation | None:
        """Insert with a fresh id; None if this conversation already escalated the order with this key."""
        for _ in range(_ID_DRAWS):
            values: dict[str, Any] = {
                **req.model_dump(exclude={"transcript"}),
                "transcript": transcript_json(req.transcript),
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

    async def due_escalations(self, now: datetime) -> list[Escalation]:
        """The escalations the outbox should email now, oldest first."""
        stmt = sa.select(escalations).where(_due(now)).order_by(escalations.c.created_at, escalations.c.id)
        async with self.begin() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_escalation(row) for row in rows]

    async def claim_escalation(self, esc: Escalation, now: datetime, *, until: datetime) -> bool:
        """Count one more attempt and lease the row to this worker until `until`. False if it is not due any more.

        One statement: of two workers (or outbox loops, or servers) that read the same due row, one claims it.
        """
        claim = (
            sa.update(escalations)
            # `attempts` as read: if another worker claimed it in between, this matches nothing.
            .where(escalations.c.id == esc.id, escalations.c.attempts == esc.attempts, _due(now))
            .values(attempts=esc.attempts + 1, email_status="sending", last_attempt_at=now, next_attempt_at=until)
        )
        async with self.begin() as conn:
            return (await conn.execute(claim)).rowcount == 1

    async def renew_escalation(self, id: str, attempt: int, *, until: datetime) -> None:
        """The lease holder is still sending attempt `attempt`: nobody else picks the row up before `until`."""
        await self._update_escalation(id, escalations.c.attempts == attempt, next_attempt_at=until)

    async def mark_escalation_not_configured(self, id: str) -> None:
        """Mail is not set up yet: it waits in the outbox (not if the merchant cancelled it meanwhile)."""
        await self._update_escalation(
            id, sa.true(), email_status="not_configured", next_attempt_at=None, only=("pending", "not_configured")
        )

    async def mark_escalation_failed(self, id: str, attempt: int, error: str, *, retry_at: datetime) -> None:
        """The lease holder's attempt `attempt` failed: try again at `retry_at`."""
        await self._update_escalation(
            id, escalations.c.attempts == attempt, email_status="failed", last_error=error, next_attempt_at=retry_at
        )

    async def mark_escalation_sent(self, id: str, attempt: int, at: datetime) -> None:
        await self._update_escalation(
            id,
            escalations.c.attempts == attempt,
            email_status="sent",
            sent_at=at,
            last_error=None,
            next_attempt_at=None,
        )

    async def cancel_escalation(self, id: str, now: datetime) -> bool:
        """The merchant's cancel: the outbox never sends it. False if it is sent, being sent right now, or unknown."""
        stmt = (
            sa.update(escalations)
            .where(escalations.c.id == id, escalations.c.email_status != "sent", sa.not_(_leased(now)))
            .values(email_status="cancelled", next_attempt_at=None)
        )
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def resend_escalation(self, id: str, now: datetime) -> bool:
        """The merchant's resend: due now, whatever its state (sent or cancelled ones too). False if it is being sent
        right now, or unknown."""
        stmt = (
            sa.update(escalations)
            .where(escalations.c.id == id, sa.not_(_leased(now)))
            .values(email_status="pending", next_attempt_at=now)
        )
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def _update_escalation(
        self,
        id: str,
        condition: sa.ColumnElement[bool],
        *,
        only: tuple[EmailStatus, ...] = ("sending",),
        **values: Any,
    ) -> None:
        """Update one row while it is in one of the states `only`: a lease holder writes back only while it holds
        the row (a cancel or another worker's claim in between wins)."""
        stmt = (
            sa.update(escalations)
            .where(escalations.c.id == id, escalations.c.email_status.in_(only), condition)
            .values(**values)
        )
        async with self.begin() as conn:
            await conn.execute(stmt)
