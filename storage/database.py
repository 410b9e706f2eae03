"""Lumen's storage: conversations, merchant settings, escalations and seen webhooks.

SQLAlchemy 2 async Core (no ORM), so `LUMEN_DATABASE_URL` can move from the default SQLite file to a server
database without code changes. Every timestamp goes in and comes out timezone-aware UTC.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 5000


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite keeps no offset, so it stores naive UTC and gets UTC back."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: Lumen stores timezone-aware UTC only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("messages_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("state_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("customer_id", sa.Text, nullable=True),
    sa.Column("verified_lookups", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("model", sa.Text, nullable=True),
    # Kept at save time so listing conversations never parses their messages.
    sa.Column("message_count", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Index("ix_conversations_updated_at", "updated_at"),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value_json", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("order_name", sa.Text, nullable=True),
    # The order name normalised ('#1234' and '1234' are one order), '' without an order: the idempotency key.
    sa.Column("order_key", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("shopper_email", sa.Text, nullable=True),
    sa.Column("transcript", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("email_status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("last_attempt_at", UTCDateTime, nullable=True),
    # When the outbox may (re)try: backoff after a failure, or a lease while one worker is sending.
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("conversation_id", "order_key", name="uq_escalations_conversation_order"),
    sa.Index("ix_escalations_status", "email_status"),
    sa.Index("ix_escalations_created_at", "created_at"),
)

# Failed order lookups and other rationed actions, by what they aimed at ("order:1234", "email:...", "ip:...").
# Counted across conversations, so starting a new chat does not reset the count.
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_attempts_key_at", "key", "at"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
)


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


def normalize_database_url(url: str) -> URL:
    """Plain driver names become their async drivers: sqlite -> aiosqlite, postgresql -> asyncpg."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        driver = parsed.get_driver_name() if "+" in parsed.drivername else ""
        return parsed.set(drivername=f"postgresql+{driver if driver in ('asyncpg', 'psycopg') else 'asyncpg'}")
    return parsed


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def _dialect_insert(dialect_name: str) -> Callable[..., Any]:
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise NotImplementedError(f"upserts are not implemented for {dialect_name}")
    return insert


class Database:
    """One engine, one set of tables; `await connect()` before use and `await close()` at shutdown."""

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow, echo: bool = False) -> None:
        self.url = normalize_database_url(url)
        self.clock = clock
        self._memory = _is_sqlite_memory(self.url)
        kwargs: dict[str, Any] = {"echo": echo}
        if self._memory:
            # One shared connection holds the whole in-memory database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif self.url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.url.get_backend_name() == "sqlite":
            event.listen(self.engine.sync_engine, "connect", self._sqlite_pragmas)
        # A single shared in-memory connection has one transaction state: serialise its users.
        self._memory_lock = asyncio.Lock() if self._memory else None
        self._insert = _dialect_insert(self.engine.dialect.name)

    def _sqlite_pragmas(self, dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not self._memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    async def connect(self) -> None:
        """Create any missing table (no migrations: existing tables are left as they are)."""
        async with self.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction: committed when the block ends, rolled back if it raises."""
        if self._memory_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._memory_lock, self.engine.begin() as conn:
            yield conn

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has `on_conflict_do_nothing` / `on_conflict_do_update`."""
        return self._insert(table)

    # --- conversations ---------------------------------------------------------------------------------------

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
        async with self.begin() as conn:
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
        async with self.begin() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [ConversationSummary.model_validate(dict(row)) for row in rows]

    async def count_conversations(self) -> int:
        async with self.begin() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(conversations))).scalar_one()

    # --- settings --------------------------------------------------------------------------------------------

    async def get_setting(self, key: str) -> dict[str, Any] | None:
        async with self.begin() as conn:
            value = (await conn.execute(sa.select(settings.c.value_json).where(settings.c.key == key))).scalar()
        return json.loads(value) if value is not None else None

    async def put_setting(self, key: str, value: dict[str, Any]) -> None:
        values = {"value_json": json.dumps(value), "updated_at": self.clock()}
        stmt = self.insert(settings).values(key=key, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[settings.c.key], set_=values)
        async with self.begin() as conn:
            await conn.execute(stmt)

    # --- webhooks --------------------------------------------------------------------------------------------

    async def remember_webhook(self, event_id: str, topic: str) -> bool:
        """Record a webhook delivery; False if this event id was seen before (Shopify retries deliveries)."""
        stmt = (
            self.insert(webhook_events)
            .values(event_id=event_id, topic=topic, received_at=self.clock())
            .on_conflict_do_nothing(index_elements=[webhook_events.c.event_id])
        )
        async with self.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    # --- rationed attempts ------------------------------------------------------------------------------------

    async def record_attempts(self, keys: list[str]) -> None:
        if not keys:
            return
        now = self.clock()
        async with self.begin() as conn:
            await conn.execute(sa.insert(attempts), [{"key": key, "at": now} for key in keys])
            # Rows a day old are outside every window: drop them here, on the rare failed attempt, not on every check.
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - timedelta(days=1)))

    async def count_attempts(self, keys: list[str], *, since: datetime) -> dict[str, int]:
        if not keys:
            return {}
        stmt = (
            sa.select(attempts.c.key, sa.func.count())
            .where(attempts.c.key.in_(keys), attempts.c.at >= since)
            .group_by(attempts.c.key)
        )
        async with self.begin() as conn:
            counted = {key: count for key, count in (await conn.execute(stmt)).all()}
        return {key: int(counted.get(key, 0)) for key in keys}

    # --- privacy -----------------------------------------------------------------------------------------------

    async def redact(self, needles: list[str]) -> dict[str, int]:
        """Delete the conversations and escalations that mention any of `needles` (an email, order names).

        For Shopify's customers/redact webhook: what Lumen kept about a customer goes when the merchant is asked to.
        """
        needles = [n for n in (n.strip() for n in needles) if len(n) >= 3]
        if not needles:
            return {"conversations": 0, "escalations": 0}
        in_conversation = sa.or_(
            *[conversations.c.messages_json.contains(n, autoescape=True) for n in needles],
            *[conversations.c.state_json.contains(n, autoescape=True) for n in needles],
        )
        in_escalation = sa.or_(
            *[escalations.c.transcript.contains(n, autoescape=True) for n in needles],
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

    # --- numbers for the admin page --------------------------------------------------------------------------

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
        async with self.begin() as conn:
            total, lookups, escalated_count = (await conn.execute(conv_stmt)).one()
            escalation_count = (await conn.execute(esc_stmt)).scalar_one()
        return {
            "conversations": int(total),
            "verified_lookups": int(lookups),
            "escalations": int(escalation_count),
            "conversations_escalated": int(escalated_count),
            "answered_without_human": (total - escalated_count) / total if total else 1.0,
        }
