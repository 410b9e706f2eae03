"""The database engine under Lumen's storage: connections, transactions, timestamps and the dialect's INSERT.

SQLAlchemy 2 async Core (no ORM), so `LUMEN_DATABASE_URL` can move from the default SQLite file to a server
database without code changes. Every timestamp goes in and comes out timezone-aware UTC. The tables are in
`storage.schema`; what is stored, record by record, is in the modules beside this one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage.logs import hide_data_in_logs

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


def _dialect_insert(dialect_name: str) -> Callable[[sa.Table], Any]:
    """The INSERT with `on_conflict_do_nothing` / `on_conflict_do_update`, which plain `sa.insert` lacks."""
    if dialect_name == "sqlite":
        return sqlite.insert
    if dialect_name == "postgresql":
        return postgresql.insert
    raise NotImplementedError(f"upserts are not implemented for {dialect_name}")  # pragma: no cover


class Engine:
    """One engine and its transactions; `await connect()` before use and `await close()` at shutdown.

    The record modules (`storage.conversations`, `storage.escalations`, ...) extend this class with their queries;
    `storage.Database` puts them together and names the tables `connect()` creates.
    """

    metadata: ClassVar[sa.MetaData] = sa.MetaData()

    def __init__(self, url: str, *, clock: Callable[[], datetime] = utcnow, echo: bool = False) -> None:
        self.url = normalize_database_url(url)
        self.clock = clock
        self._memory = _is_sqlite_memory(self.url)
        # No SQL parameters in logs or error messages: they are what shoppers wrote (see storage.logs).
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        hide_data_in_logs()
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
            await conn.run_sync(self.metadata.create_all)

    async def close(self) -> None:
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
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
