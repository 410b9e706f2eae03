"""Conversations: each chat's messages and state, the numbers the admin page shows about them, and the lease that
lets one turn at a time run on a conversation, whichever worker or host serves it."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import BaseModel

from storage.contacts import Contact, ContactStore
from storage.database import Prepared, UTCDateTime
from storage.schema import conversation_locks, conversations, escalations, settings

log = logging.getLogger("lumen.storage")

# A turn holds its conversation's lease for this long and renews it every TURN_RENEW_S while it runs, so a worker
# that dies mid-turn blocks that conversation for at most TURN_LEASE.
TURN_LEASE = timedelta(seconds=30)
TURN_RENEW_S = 10.0
# A turn that finds the lease taken (the same shopper's earlier message, served by another worker) asks again after
# these waits: quickly at first, since most turns take a second or two, then every quarter second.
TURN_POLL_FIRST_S = 0.02
TURN_POLL_MAX_S = 0.25


# The statements of a turn are built once, with bind parameters for what varies (see `Engine._statement`).
_SELECT_CONVERSATION = sa.select(conversations).where(conversations.c.id == sa.bindparam("p_id"))
_RELEASE = sa.delete(conversation_locks).where(
    conversation_locks.c.conversation_id == sa.bindparam("p_id"),
    conversation_locks.c.holder == sa.bindparam("p_holder"),
)
# What a save writes, besides customer_id (written only when given: None keeps the stored one).
_SAVED = (
    "id",
    "created_at",
    "updated_at",
    "messages_json",
    "state_json",
    "verified_lookups",
    "escalated",
    "model",
    "message_count",
)


def _settings_alone(keys: tuple[str, ...]) -> Callable[[], sa.Select[Any]]:
    """The settings of `_settings_read` without a conversation beside them."""
    return lambda: sa.select(*_settings_read(keys))


def _settings_read(keys: tuple[str, ...]) -> list[sa.Label[Any]]:
    """Each setting's JSON text as a column `setting_<i>` (NULL when unset), its key bound as `p_key<i>`."""
    return [
        sa.select(settings.c.value_json)
        .where(settings.c.key == sa.bindparam(f"p_key{i}"))
        .scalar_subquery()
        .label(f"setting_{i}")
        for i in range(len(keys))
    ]


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


def _created_row(id: str, now: datetime) -> ConversationRow:
    """The row `_build_create` inserts, as it reads back: the columns it leaves to their defaults (as in the schema)
    and its time in UTC, stored to the microsecond as a datetime holds it."""
    at = now.astimezone(UTC)
    return ConversationRow.model_construct(
        id=id,
        created_at=at,
        updated_at=at,
        messages_json="[]",
        state_json="{}",
        customer_id=None,
        verified_lookups=0,
        escalated=False,
        model=None,
        message_count=0,
    )


class Cancellable(Protocol):
    def cancel(self) -> None: ...


def _call_later(delay_s: float, callback: Callable[[], None]) -> Cancellable:
    return asyncio.get_running_loop().call_later(delay_s, callback)


@dataclass(frozen=True)
class RenewalTimers:
    """How a turn's lease renewal is timed: `later` starts the first renewal after a delay (a timer: most turns end
    before it, and a timer costs less than a task started and cancelled every turn), `pause` waits between the next.
    The event loop's by default; a test gives its own, to fire renewals by hand without time passing."""

    later: Callable[[float, Callable[[], None]], Cancellable] = _call_later
    pause: Callable[[float], Awaitable[None]] = asyncio.sleep


@dataclass
class TurnLease:
    """A held turn on one conversation (`ConversationStore.conversation_turn`), with what was read as it was taken:
    the conversation (None if there is none), and the settings asked for (key -> JSON text, absent if unset)."""

    id: str
    holder: str
    row: ConversationRow | None = None
    settings: dict[str, str] = field(default_factory=dict)
    released: bool = False  # given back with the turn's save (`save_turn`)
    # Renewing starts only when a turn outlives TURN_RENEW_S (most end well before): a timer until then, which costs
    # less than a task started, cancelled and awaited every turn.
    renewal_timer: Cancellable | None = None
    renewal: asyncio.Task[None] | None = None

    def stop_renewing(self) -> asyncio.Task[None] | None:
        """No renewal from now on; the renewal task under way, if any, cancelled (await it before giving the lease
        back)."""
        if self.renewal_timer is not None:
            self.renewal_timer.cancel()
            self.renewal_timer = None
        renewal, self.renewal = self.renewal, None
        if renewal is not None:
            renewal.cancel()
        return renewal


class ConversationStore(ContactStore):
    renewal_timers = RenewalTimers()  # (an instance's own, in tests)

    async def create_conversation(self, id: str) -> ConversationRow:
        """A new empty conversation; an existing one with that id is returned untouched."""
        async with self.writing() as tx:
            await tx.run(*self._create_statement(id))
            row = (
                await tx.run(self.prepared("select_conversation", lambda: _SELECT_CONVERSATION), {"p_id": id})
            ).first()
        return ConversationRow.model_validate(row)

    def _create_statement(self, id: str) -> tuple[Prepared, dict[str, Any]]:
        return self.prepared("create_conversation", self._build_create), {"p_id": id, "p_now": self.clock()}

    def _build_create(self) -> sa.Insert:
        now = sa.bindparam("p_now", type_=UTCDateTime)
        return (
            self.insert(conversations)
            .values(id=sa.bindparam("p_id"), created_at=now, updated_at=now, messages_json="[]", state_json="{}")
            .on_conflict_do_nothing(index_elements=[conversations.c.id])
        )

    async def get_conversation(self, id: str) -> ConversationRow | None:
        async with self.read() as conn:
            row = (await conn.execute(_SELECT_CONVERSATION, {"p_id": id})).mappings().first()
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
        stmt = self._save_statement(
            id,
            messages_json=messages_json,
            state_json=state_json,
            verified_lookups=verified_lookups,
            escalated=escalated,
            model=model,
            customer_id=customer_id,
        )
        async with self.writing() as tx:
            await tx.run(*stmt)

    async def save_turn(
        self,
        lease: TurnLease,
        *,
        contacts: Iterable[Contact],
        messages_json: bytes | str,
        state_json: str,
        verified_lookups: int,
        escalated: bool,
        model: str | None,
        customer_id: str | None = None,
        message_count: int | None = None,
    ) -> None:
        """End a turn in one transaction: record its contacts (before the conversation: a conversation is never
        stored without what redaction finds it by), save the conversation as `save_conversation` does, and give the
        lease back. A lease given back already (a second save of one turn) is left alone."""
        # No renewal may run after the lease is given back: it would take the lease again for TURN_LEASE.
        if (renewal := lease.stop_renewing()) is not None:
            await asyncio.gather(renewal, return_exceptions=True)
        save = self._save_statement(
            lease.id,
            messages_json=messages_json,
            state_json=state_json,
            verified_lookups=verified_lookups,
            escalated=escalated,
            model=model,
            customer_id=customer_id,
            message_count=message_count,
        )
        async with self.writing() as tx:
            await self._remember_contacts(tx, lease.id, contacts)
            await tx.run(*save)
            if not lease.released:
                await tx.run(self._release(), {"p_id": lease.id, "p_holder": lease.holder})
        lease.released = True

    def _save_statement(
        self,
        id: str,
        *,
        messages_json: bytes | str,
        state_json: str,
        verified_lookups: int,
        escalated: bool,
        model: str | None,
        customer_id: str | None,
        message_count: int | None = None,
    ) -> tuple[Prepared, dict[str, Any]]:
        """The upsert of one conversation; `message_count` given saves parsing the messages to count them."""
        if isinstance(messages_json, bytes):
            messages_json = messages_json.decode("utf-8")
        if message_count is None:
            messages = json.loads(messages_json)
            if not isinstance(messages, list):
                raise ValueError("messages_json must be a JSON array of messages")
            message_count = len(messages)
        now = self.clock()
        values: dict[str, Any] = {
            "p_id": id,
            "p_created_at": now,
            "p_updated_at": now,
            "p_messages_json": messages_json,
            "p_state_json": state_json,
            "p_verified_lookups": verified_lookups,
            "p_escalated": escalated,
            "p_model": model,
            "p_message_count": message_count,
        }
        if customer_id is None:  # the stored one is kept
            return self.prepared("save_conversation", self._build_save), values
        values["p_customer_id"] = customer_id
        return self.prepared("save_conversation_customer", self._build_save_with_customer), values

    def _build_save(self, columns: tuple[str, ...] = _SAVED) -> sa.Insert:
        """INSERT ... ON CONFLICT (id) DO UPDATE SET every column but id and created_at; values as p_<column>."""
        stmt = self.insert(conversations).values({name: sa.bindparam(f"p_{name}") for name in columns})
        kept = ("id", "created_at")
        return stmt.on_conflict_do_update(
            index_elements=[conversations.c.id],
            set_={name: stmt.excluded[name] for name in columns if name not in kept},
        )

    def _build_save_with_customer(self) -> sa.Insert:
        return self._build_save((*_SAVED, "customer_id"))

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
    async def conversation_turn(
        self, id: str, *, create: bool = False, read_settings: Collection[str] = ()
    ) -> AsyncIterator[TurnLease]:
        """Hold conversation `id`'s lease for the block: other callers, in any process on this database, wait.

        The transaction that takes the lease also reads the conversation (creating it first, empty, if `create`)
        and the settings named, so a turn starts with one transaction; `save_turn` ends it with another.
        """
        lease = TurnLease(id, secrets.token_urlsafe(12))
        delay = TURN_POLL_FIRST_S
        while not await self._start_turn(lease, create=create, read_settings=read_settings):
            await asyncio.sleep(delay)
            delay = min(delay * 2, TURN_POLL_MAX_S)
        lease.renewal_timer = self.renewal_timers.later(TURN_RENEW_S, lambda: self._start_renewing(lease))
        try:
            yield lease
        finally:
            lease.stop_renewing()
            if not lease.released:
                # Even when the turn is cancelled (the client went away): a lease left behind would hold the next
                # turn up for TURN_LEASE.
                await asyncio.shield(self.release_turn(id, lease.holder))

    async def _start_turn(self, lease: TurnLease, *, create: bool, read_settings: Collection[str]) -> bool:
        """Take the lease and, if it was free, read what the turn starts from; False (nothing read) while taken."""
        keys = tuple(read_settings)
        # The settings come back with the conversation, one scalar subquery each: one statement fewer a turn.
        params: dict[str, Any] = {f"p_key{i}": key for i, key in enumerate(keys)}
        async with self.writing() as tx:
            if (await tx.run(*self._claim_statement(lease.id, lease.holder, TURN_LEASE))).rowcount != 1:
                return False
            row: dict[str, Any] | None = None
            new: ConversationRow | None = None
            if create:
                # The settings come back from the INSERT (nothing if the id was taken: then it is read as any other).
                values = self._create_statement(lease.id)[1]
                params |= values
                created = self.prepared(f"create_conversation_settings:{len(keys)}", self._create_reading(keys))
                if (row := (await tx.run(created, params)).first()) is not None:
                    new = _created_row(lease.id, values["p_now"])
            if row is None:
                selected = self.prepared(f"select_conversation:{len(keys)}", self._select_reading(keys))
                row = (await tx.run(selected, params | {"p_id": lease.id})).first()
            if row is None and keys:  # no conversation to read them beside
                row = (
                    await tx.run(self.prepared(f"select_settings:{len(keys)}", _settings_alone(keys)), params)
                ).first()
        if new is None and row is not None and "id" in row:
            new = ConversationRow.model_validate(row)
        lease.row = new
        if row is not None:
            lease.settings = {key: row[f"setting_{i}"] for i, key in enumerate(keys) if row[f"setting_{i}"] is not None}
        return True

    def _create_reading(self, keys: tuple[str, ...]) -> Callable[[], sa.Insert]:
        # Only the settings: the new row is known (`_created_row`), and reading it back cost more than the INSERT.
        return lambda: self._build_create().returning(conversations.c.id, *_settings_read(keys))

    @staticmethod
    def _select_reading(keys: tuple[str, ...]) -> Callable[[], sa.Select[Any]]:
        return lambda: sa.select(conversations, *_settings_read(keys)).where(conversations.c.id == sa.bindparam("p_id"))

    async def claim_turn(self, id: str, holder: str, *, lease: timedelta = TURN_LEASE) -> bool:
        """Take (or, for its holder, renew) the lease in one atomic statement; False while someone else holds it."""
        async with self.writing() as tx:
            return (await tx.run(*self._claim_statement(id, holder, lease))).rowcount == 1

    def _claim_statement(self, id: str, holder: str, lease: timedelta) -> tuple[Prepared, dict[str, Any]]:
        now = self.clock()
        params = {"p_id": id, "p_holder": holder, "p_expires": now + lease, "p_now": now}
        return self.prepared("claim_turn", self._build_claim), params

    def _build_claim(self) -> sa.Insert:
        """Take the lease if it is free or expired, or renew it for its holder; a row changed means it is held."""
        holder: sa.BindParameter[str] = sa.bindparam("p_holder")
        values = {"holder": holder, "expires_at": sa.bindparam("p_expires", type_=UTCDateTime)}
        locks = conversation_locks.c
        return (
            self.insert(conversation_locks)
            .values(conversation_id=sa.bindparam("p_id"), **values)
            .on_conflict_do_update(
                index_elements=[locks.conversation_id],
                set_=values,
                where=sa.or_(locks.holder == holder, locks.expires_at <= sa.bindparam("p_now", type_=UTCDateTime)),
            )
        )

    async def release_turn(self, id: str, holder: str) -> None:
        """Give the lease back; a lease that expired and was taken over is the new holder's and stays."""
        async with self.writing() as tx:
            await tx.run(self._release(), {"p_id": id, "p_holder": holder})

    def _release(self) -> Prepared:
        return self.prepared("release_turn", lambda: _RELEASE)

    def _start_renewing(self, lease: TurnLease) -> None:
        """A turn has held its lease for TURN_RENEW_S: renew it now and every TURN_RENEW_S until the turn ends."""
        lease.renewal_timer = None
        lease.renewal = asyncio.create_task(self._renew_turn(lease.id, lease.holder), name=f"lease:{lease.id}")

    async def _renew_turn(self, id: str, holder: str) -> None:
        while True:
            try:
                await self.claim_turn(id, holder)
            except Exception:  # a database hiccup: the lease runs on, and the next renewal tries again
                log.warning("could not renew the lease on conversation %s", id, exc_info=True)
            await self.renewal_timers.pause(TURN_RENEW_S)
