"""The database engine under Lumen's storage: connections, transactions, timestamps and the dialect's INSERT.

SQLAlchemy 2 async Core (no ORM), so `LUMEN_DATABASE_URL` can move from the default SQLite file to a server
database without code changes. Every timestamp goes in and comes out timezone-aware UTC. The tables are in
`storage.schema`; what is stored, record by record, is in the modules beside this one.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, closing, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, NamedTuple, Self

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool, StaticPool
from sqlalchemy.util import await_

from storage.logs import hide_data_in_logs

# How long a SQLite writer waits for another process's write transaction before "database is locked". Inside one
# process writers queue on a lock instead (see `Engine.begin`), so only one connection per worker ever waits here.
SQLITE_BUSY_TIMEOUT_MS = 5000
# A writer that still finds the file locked begins again, up to this many busy timeouts in all: a worker whose own
# writers follow each other closely can keep another worker's writer out past one timeout; nothing has run before
# BEGIN, so beginning again is always safe.
SQLITE_BEGIN_TRIES = 6
# A writer that finds another process writing asks again after these waits (see `_InlineSQLite.begin_immediate`):
# quickly at first, since write transactions take well under a millisecond.
SQLITE_POLL_FIRST_S = 0.001
SQLITE_POLL_MAX_S = 0.02
# A worker moves its SQLite WAL into the database file (a checkpoint, with its fsyncs) in a thread after this many
# write transactions, instead of SQLite doing it inside whichever commit crosses 1,000 pages, on the event loop.
SQLITE_CHECKPOINT_EVERY = 200
# Set on a connection that only reads: on SQLite it opens no transaction (see `_sqlite_begin`) and skips the writer
# lock.
READ_ONLY = "lumen_read_only"
# PostgreSQL connections per worker: SQLAlchemy's default (5 + 10 overflow, 30 s wait) answered a Black Friday burst
# with "QueuePool limit ... reached" and an HTTP 500. Transactions are short, so a turn that finds every connection busy
# waits its turn (latency, not an error). The pool keeps as many idle connections as a busy worker uses at once (its
# admitted turns, webhooks, the mirror): an overflow connection is closed as soon as it is given back, so a pool
# smaller than the usual load opened and closed a connection every few turns (a server process forked, asyncpg's
# type introspection run again) on a machine already short of CPU. 2 workers x 40 stay under PostgreSQL's default
# max_connections of 100; connections are opened only when needed, so an idle worker holds few. These are defaults:
# `Engine(pool_size=, max_overflow=)` takes the configured ones (LUMEN_DB_POOL_SIZE, LUMEN_DB_MAX_OVERFLOW), and
# `lumen serve` fits workers x (pool + overflow) under the server's max_connections (see `connection_limit`).
PG_POOL_SIZE = 30
PG_MAX_OVERFLOW = 10
PG_POOL_TIMEOUT_S = 300
# How long `connection_limit` waits for the server before giving up on the check.
PG_CHECK_TIMEOUT_S = 5.0


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


# SQLite's DATETIME text (SQLAlchemy's default storage format for it), which `_sqlite_utc_text` writes.
_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def _sqlite_utc_text(value: datetime | None) -> str | None:
    """`UTCDateTime`'s bind on SQLite in one step: `process_bind_param` and then SQLAlchemy's DATETIME text, which
    SQLAlchemy runs as two processors and a dict per value (a turn binds some fifteen times)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Lumen stores timezone-aware UTC only")
    utc = value.astimezone(UTC)
    return "%04d-%02d-%02d %02d:%02d:%02d.%06d" % (  # noqa: UP031 - the storage format's own %-formatting
        utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, utc.microsecond
    )  # fmt: skip


def _bind_processor(bind_type: Any, dialect: sa.Dialect) -> _Processor:
    """The bind processor SQLAlchemy would use for a parameter; `UTCDateTime`'s on SQLite is `_sqlite_utc_text`, the
    same text in one step, while SQLite's DATETIME keeps its default storage format."""
    impl = bind_type.dialect_impl(dialect)
    if type(bind_type) is UTCDateTime and getattr(impl.impl, "_storage_format", None) == _SQLITE_DATETIME:
        return _sqlite_utc_text
    processor: _Processor = impl.bind_processor(dialect)
    return processor


def normalize_database_url(url: str) -> URL:
    """Plain driver names become async dialects: sqlite -> aiosqlite (its driver run inline, see `_InlineSQLite`),
    postgresql -> asyncpg."""
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


def is_memory_url(url: str) -> bool:
    """True for a database that lives in one process's memory (and so cannot be shared by several workers)."""
    return _is_sqlite_memory(make_url(url))


@dataclass(frozen=True)
class ConnectionLimit:
    """What a PostgreSQL server allows: `max_connections`, less the slots kept for superusers (and, from
    PostgreSQL 16, for roles with pg_use_reserved_connections)."""

    max_connections: int
    reserved: int

    @property
    def available(self) -> int:
        return max(self.max_connections - self.reserved, 0)


async def connection_limit(url: str, *, timeout_s: float = PG_CHECK_TIMEOUT_S) -> ConnectionLimit | None:
    """The server's connection limit (`max_connections`, as SHOW max_connections says, and the reserved slots), on
    one connection opened and closed here; None for SQLite, which has no server."""
    parsed = normalize_database_url(url)
    if parsed.get_backend_name() != "postgresql":
        return None
    engine = create_async_engine(parsed, poolclass=NullPool, connect_args={"timeout": timeout_s})
    try:
        async with engine.connect() as conn:
            settings = await conn.execute(
                sa.text(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
                )
            )
            values = {name: int(setting) for name, setting in settings}
    finally:
        await engine.dispose()
    reserved = values.get("superuser_reserved_connections", 0) + values.get("reserved_connections", 0)
    return ConnectionLimit(values["max_connections"], reserved)


# --- SQLite on the event loop's own thread ------------------------------------------------------------------------
# aiosqlite runs every call on a thread of its own: each cursor, execute, fetch, close, commit and rollback is a trip
# there and back (a queue put, a thread wake-up, a callback through the loop's self-pipe). A turn made some 45 of them:
# about a third of its CPU, and on a loaded machine each trip also waits twice for a core, while this worker's write
# lock is held. SQLite statements on indexed rows take microseconds and, in WAL mode with synchronous=NORMAL, a commit
# writes to the WAL without an fsync; so Lumen runs them inline, on the loop's thread, behind the interface SQLAlchemy's
# aiosqlite dialect expects. What could block the loop is kept off it: a writer that finds another process writing
# waits with `asyncio.sleep` (see `_InlineSQLite.begin_immediate`), not in SQLite's busy handler; checkpoints, the only
# fsyncs, run in a thread (see `Engine._after_write`).


class _InlineCursor:
    """aiosqlite's Cursor over a sqlite3 cursor, on the calling thread."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = ()) -> Self:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Any) -> Self:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class _InlineSQLite:
    """aiosqlite's Connection over a sqlite3 connection, on the calling thread (the event loop's)."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn: sqlite3.Connection | None = connection
        # Whether the file is in WAL mode (`Engine._sqlite_connect` asks), and whether busy_timeout is 0 now (see
        # `no_busy_wait`).
        self.wal = False
        self._busy_off = False

    @property
    def _connection(self) -> sqlite3.Connection | None:  # what SQLAlchemy's dialect checks before commit/rollback
        return self._conn

    @property
    def raw(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("Connection closed")  # as aiosqlite says it
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def cursor(self) -> _InlineCursor:
        return _InlineCursor(self.raw.cursor())

    async def execute(self, sql: str, parameters: Any = ()) -> _InlineCursor:
        return await self.cursor().execute(sql, parameters)

    async def commit(self) -> None:
        self.raw.commit()

    async def rollback(self) -> None:
        self.raw.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self.raw.create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        connection, self._conn = self._conn, None
        if connection is not None:
            connection.close()

    def begin_immediate(self) -> None:
        """BEGIN IMMEDIATE, waiting on the loop (not in SQLite's busy handler, which would stop it) while another
        process writes; "database is locked" once SQLITE_BUSY_TIMEOUT_MS have passed."""
        raw = self.raw
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000
        delay = SQLITE_POLL_FIRST_S
        self.no_busy_wait()
        try:
            while not _try_begin(raw, locked_ok=loop.time() < deadline):
                await_(asyncio.sleep(delay))
                delay = min(delay * 2, SQLITE_POLL_MAX_S)
        finally:
            self.began()

    def no_busy_wait(self) -> None:
        """busy_timeout=0 before BEGIN IMMEDIATE: a writer that finds the file locked waits on the loop instead."""
        if not self._busy_off:
            self.raw.execute("PRAGMA busy_timeout=0")
            self._busy_off = True

    def busy_wait(self) -> None:
        """busy_timeout=SQLITE_BUSY_TIMEOUT_MS again, for whatever is not a writer's BEGIN IMMEDIATE."""
        if self._busy_off:
            self.raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            self._busy_off = False

    def began(self) -> None:
        """After BEGIN IMMEDIATE (taken or not). In WAL mode busy_timeout stays 0 on the writer: SQLite consults its
        busy handler only as a transaction begins (a read snapshot, or the write lock; BEGIN IMMEDIATE takes both),
        never for the statements and the COMMIT of a write transaction it began, which in WAL mode wait for no reader;
        so setting it back after each BEGIN (and to 0 before the next) changed nothing but cost two statements a
        transaction. A connection given to anyone else gets it back as the pool hands it out (`_sqlite_checkout`).
        Without WAL (an in-memory database, or a file system that refused it) a COMMIT waits for readers in the
        busy handler: set back at once, as always."""
        if not self.wal:
            self.busy_wait()


def _try_begin(raw: sqlite3.Connection, *, locked_ok: bool) -> bool:
    """BEGIN IMMEDIATE once: False if another process holds the write lock and waiting longer is `locked_ok`."""
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "database is locked" not in str(exc) or not locked_ok:
            raise
        return False
    return True


def _sqlite_checkout(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Every connection the pool hands out waits SQLITE_BUSY_TIMEOUT_MS in SQLite's busy handler, as connected: a
    writer's busy_timeout=0 (see `_InlineSQLite.began`) never reaches a reader. A no-op unless the connection was a
    writer's (a held writer given back, at shutdown)."""
    driver = record.driver_connection
    if isinstance(driver, _InlineSQLite):
        driver.busy_wait()


def _checkpoint(path: str) -> None:
    """Copy what the WAL holds into the database file, without waiting for anyone (a thread's work: it fsyncs)."""
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _sqlite_begin(conn: sa.Connection) -> None:
    """Every SQLite transaction opens here. A writer's is BEGIN IMMEDIATE: SQLite's write lock from the start (waiting
    on the loop, see `_InlineSQLite.begin_immediate`, while another process holds it). A reader's is none at all: each
    of its statements reads a snapshot of its own (autocommit), which takes no lock."""
    if conn.get_execution_options().get(READ_ONLY):
        return
    driver = conn.connection.driver_connection
    if not isinstance(driver, _InlineSQLite):  # pragma: no cover - Lumen's SQLite connections are all inline
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    try:
        driver.begin_immediate()
    except sqlite3.Error as exc:  # as SQLAlchemy would have raised it
        raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc


def _dialect_insert(dialect_name: str) -> Callable[[sa.Table], Any]:
    """The INSERT with `on_conflict_do_nothing` / `on_conflict_do_update`, which plain `sa.insert` lacks."""
    if dialect_name == "sqlite":
        return sqlite.insert
    if dialect_name == "postgresql":
        return postgresql.insert
    raise NotImplementedError(f"upserts are not implemented for {dialect_name}")  # pragma: no cover


# --- a turn's statements, compiled once ---------------------------------------------------------------------------
# A turn's handful of statements cost more in SQLAlchemy's execution machinery (a greenlet per execute, the execution
# context, result set-up, its begin and commit events) than SQLite took to run them: about 85% of the database's CPU
# per turn, the driver 15%. So the hot statements (`Engine.prepared`) are still written in SQLAlchemy, and compiled by
# it once for the dialect, bind and result processors included; on SQLite `Engine.writing` and `Engine.reading` run
# them on the sqlite3 connection itself, in the same transactions under the same write lock (BEGIN IMMEDIATE, one
# writer per worker, waiting on the loop) as `Engine.begin`, so what several workers rely on is unchanged. On
# PostgreSQL they go through SQLAlchemy as before: one code path in the record modules, two ways to execute.


class Fetched(NamedTuple):
    """What a statement gave back: its rows (values as SQLAlchemy would give them), their column names, and how many
    rows it changed."""

    rows: list[tuple[Any, ...]]
    keys: tuple[str, ...]
    rowcount: int

    def first(self) -> dict[str, Any] | None:
        return dict(zip(self.keys, self.rows[0], strict=True)) if self.rows else None

    def scalars(self) -> list[Any]:
        return [row[0] for row in self.rows]


_Processor = Callable[[Any], Any] | None


class Prepared:
    """A statement built once with bind parameters, and for SQLite compiled once: its SQL, the order of its
    parameters with their bind processors, and its result columns with their result processors."""

    __slots__ = ("_binds", "_processed", "_results", "keys", "sql", "statement")

    def __init__(self, statement: Any, dialect: sa.Dialect) -> None:
        self.statement = statement
        self.keys: tuple[str, ...] = tuple(statement.exported_columns.keys())  # none for a plain write
        self.sql = ""
        self._binds: list[tuple[str, Any, _Processor]] = []  # (name, fixed value or _REQUIRED, processor)
        self._results: list[_Processor] = []
        self._processed = False  # whether any result column has a processor
        if dialect.name != "sqlite":
            return
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            if bind.expanding:
                raise NotImplementedError(f"{name}: an expanding parameter is compiled anew for each use")
            fixed = _REQUIRED if bind.required else bind.effective_value
            self._binds.append((name, fixed, _bind_processor(bind.type, dialect)))
        self._results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None)
            for column in (statement.exported_columns if self.keys else ())
        ]
        self._processed = any(self._results)

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        """SQLite's positional parameters, processed as SQLAlchemy would."""
        values = []
        for name, fixed, process in self._binds:
            value = params[name] if fixed is _REQUIRED else fixed
            try:
                values.append(process(value) if process is not None else value)
            except Exception as exc:  # as SQLAlchemy raises a value its type refuses (a naive datetime)
                message = f"({type(exc).__module__}.{type(exc).__name__}) {exc}"
                raise sa.exc.StatementError(message, self.sql, None, exc, hide_parameters=True) from exc
        return values

    def rows(self, fetched: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self._processed:
            return fetched
        processors = self._results
        return [
            tuple(value if process is None else process(value) for value, process in zip(row, processors, strict=True))
            for row in fetched
        ]


_REQUIRED = object()


class Statements:
    """Runs prepared statements in one transaction (`Engine.writing`) or read (`Engine.reading`)."""

    dialect_name: str

    async def run(self, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Fetched:
        raise NotImplementedError


class _AlchemyStatements(Statements):
    """Through SQLAlchemy, on a connection it manages (PostgreSQL)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.dialect_name = conn.dialect.name

    async def run(self, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Fetched:
        result = await self._conn.execute(prepared.statement, dict(params or {}))
        if not result.returns_rows:
            return Fetched([], (), result.rowcount)
        return Fetched([tuple(row) for row in result.all()], tuple(result.keys()), result.rowcount)


class _SQLiteStatements(Statements):
    """On the sqlite3 connection itself, on the event loop's thread (see `Prepared`).

    What SQLAlchemy tells of each statement it runs is told of these too, so whatever counts, times or logs statements
    sees them on both backends alike (tests/test_storage_prepared.py): its `before_cursor_execute` and
    `after_cursor_execute` listeners hear of each (with no execution context: there is none), and its engine log
    (`echo`, or the `sqlalchemy.engine` logger at INFO) shows each statement, its parameters hidden as the engine's
    are. Its transaction events (`begin`, `commit`, `rollback`) are not fired: the transaction is this module's own
    (`_begin_writing`, `_commit`), and the one listener Lumen has on `begin`, `_sqlite_begin`, is what
    `_begin_writing` does."""

    dialect_name = "sqlite"

    def __init__(self, raw: sqlite3.Connection, conn: AsyncConnection) -> None:
        self._raw = raw
        self._conn = conn
        engine = conn.sync_engine
        # Read once a transaction (SQLAlchemy reads it once a connection): the logger's level, or the engine's echo.
        self._logger = engine.logger if engine.logger.isEnabledFor(logging.INFO) else None
        # The engine's dispatcher is its own for good (its listener collections are what gets swapped), and the
        # connection is this transaction's: both read once, not twice a statement.
        self._dispatch = engine.dispatch
        self._sync = conn.sync_connection

    def _before(self, sql: str, parameters: Any, *, many: bool) -> None:
        if self._logger is not None:
            self._logger.info(sql)
            self._logger.info("[prepared, on sqlite3] [SQL parameters hidden due to hide_parameters=True]")
        # Looked up each time: SQLAlchemy swaps in a new listener collection when one is added.
        listeners = self._dispatch.before_cursor_execute
        if listeners:
            listeners(self._sync, None, sql, parameters, None, many)

    def _after(self, cursor: sqlite3.Cursor, sql: str, parameters: Any, *, many: bool) -> None:
        listeners = self._dispatch.after_cursor_execute
        if listeners:
            listeners(self._sync, cursor, sql, parameters, None, many)

    async def run(self, prepared: Prepared, params: Mapping[str, Any] | None = None) -> Fetched:
        try:
            parameters = prepared.parameters(params or {})
            self._before(prepared.sql, parameters, many=False)
            cursor = self._raw.execute(prepared.sql, parameters)
            try:
                self._after(cursor, prepared.sql, parameters, many=False)
                fetched = cursor.fetchall() if prepared.keys else []
                return Fetched(prepared.rows(fetched), prepared.keys, cursor.rowcount)
            finally:
                cursor.close()
        except sqlite3.Error as exc:
            raise _wrapped(prepared.sql, exc) from exc


def _wrapped(sql: str, exc: sqlite3.Error) -> BaseException:
    """A sqlite3 error as SQLAlchemy raises it (OperationalError, IntegrityError, ...), its parameters hidden."""
    return sa.exc.DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True)


async def _begin_writing(inline: _InlineSQLite) -> None:
    """BEGIN IMMEDIATE as `_InlineSQLite.begin_immediate` takes it, waiting on the loop while another process writes,
    for as long as `Engine.begin` would (SQLITE_BEGIN_TRIES busy timeouts)."""
    raw = inline.raw
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000 * SQLITE_BEGIN_TRIES
    delay = SQLITE_POLL_FIRST_S
    try:
        inline.no_busy_wait()
        try:
            while not _try_begin(raw, locked_ok=loop.time() < deadline):
                await asyncio.sleep(delay)
                delay = min(delay * 2, SQLITE_POLL_MAX_S)
        finally:
            inline.began()
    except sqlite3.Error as exc:
        raise _wrapped("BEGIN IMMEDIATE", exc) from exc


def _commit(raw: sqlite3.Connection) -> None:
    try:
        raw.commit()
    except sqlite3.Error as exc:
        raise _wrapped("COMMIT", exc) from exc


def _busy(exc: sa.exc.DBAPIError) -> bool:
    """Whether SQLite said busy (SQLITE_BUSY or one of its extended codes): the statement may be tried again."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF == sqlite3.SQLITE_BUSY


def _driver(conn: AsyncConnection) -> sqlite3.Connection:
    """The sqlite3 connection under a checked-out SQLAlchemy connection (no await: it is checked out already)."""
    return _inline(conn).raw


def _inline(conn: AsyncConnection) -> _InlineSQLite:
    """The inline driver connection under a checked-out SQLAlchemy connection."""
    driver = conn.sync_connection.connection.driver_connection if conn.sync_connection else None
    if not isinstance(driver, _InlineSQLite):  # pragma: no cover - Lumen's SQLite connections are all inline
        raise TypeError(f"not an inline SQLite connection: {driver!r}")
    return driver


class Engine:
    """One engine and its transactions; `await connect()` before use and `await close()` at shutdown.

    The record modules (`storage.conversations`, `storage.escalations`, ...) extend this class with their queries;
    `storage.Database` puts them together and names the tables `connect()` creates.
    """

    metadata: ClassVar[sa.MetaData] = sa.MetaData()

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        echo: bool = False,
        pool_size: int = PG_POOL_SIZE,
        max_overflow: int = PG_MAX_OVERFLOW,
    ) -> None:
        self.url = normalize_database_url(url)
        self.clock = clock
        self._memory = _is_sqlite_memory(self.url)
        # No SQL parameters in logs or error messages: they are what shoppers wrote (see storage.logs).
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        hide_data_in_logs()
        self._sqlite_path: str | None = None  # the file, for checkpoints
        if self.url.get_backend_name() == "sqlite":
            # Inline (see `_InlineSQLite`); one shared connection holds the whole of an in-memory database.
            kwargs["async_creator"] = self._sqlite_inline
            if self._memory:
                kwargs["poolclass"] = StaticPool
        else:
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=PG_POOL_TIMEOUT_S)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        if self._sqlite:
            event.listen(self.engine.sync_engine, "connect", self._sqlite_connect)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
            event.listen(self.engine.sync_engine, "checkout", _sqlite_checkout)
        # SQLite has one writer at a time per file. Writers of one process queue here, in order, rather than in
        # SQLite's busy handler, which polls and can starve a connection past busy_timeout under load. A single
        # shared in-memory connection has one transaction state, so there readers queue here too.
        self._write_lock = asyncio.Lock() if self._sqlite else None
        # A SQLite file's writers share one connection (see `_on_writer`); an in-memory database's one connection is
        # the pool's (StaticPool), shared with its readers.
        self._holds_writer = self._sqlite and not self._memory
        self._writer: AsyncConnection | None = None
        # A SQLite file's readers share one held connection too (see `_on_reader`), and how many reads are on it.
        self._held_reader: AsyncConnection | None = None
        self._reading: dict[AsyncConnection, int] = {}
        self._insert = _dialect_insert(self.engine.dialect.name)
        # Readers' connections carry READ_ONLY from the start: setting it on each connection cost a trip through
        # SQLAlchemy's greenlet per read.
        self._reader = self.engine.execution_options(**{READ_ONLY: True})
        self._prepared: dict[str, Prepared] = {}  # see `prepared`
        self._writes = 0  # committed SQLite write transactions since the last checkpoint
        self._checkpointing: asyncio.Future[None] | None = None
        # Set by `close()`: a write that commits after it (one under way at shutdown) starts no checkpoint, which
        # would open the file again in a thread after the engine was disposed and outlive the server.
        self._closed = False

    async def _sqlite_inline(self) -> _InlineSQLite:
        args, options = self.engine.dialect.create_connect_args(self.url)
        # SQLAlchemy's recipe for SQLite transactions: the driver emits no BEGIN of its own (it would BEGIN DEFERRED
        # lazily before the first write); `_sqlite_begin` emits the right one when SQLAlchemy begins.
        options.update(isolation_level=None, check_same_thread=False, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        connect: Callable[..., sqlite3.Connection] = sqlite3.connect  # options as SQLAlchemy's dialect reads the URL
        connection = connect(*args, **options)
        if not self._memory:
            self._sqlite_path = str(args[0])
        return _InlineSQLite(connection)

    def _sqlite_connect(self, dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not self._memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                mode = cursor.fetchone()
                driver = record.driver_connection
                if isinstance(driver, _InlineSQLite):  # (the mode SQLite took: a file system may refuse WAL)
                    driver.wal = mode is not None and str(mode[0]).lower() == "wal"
                cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA wal_autocheckpoint=0")  # `_after_write` checkpoints, off the event loop
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    def _after_write(self) -> None:
        """Count a committed write; every SQLITE_CHECKPOINT_EVERY, checkpoint the WAL in a thread (one at a time)."""
        self._writes += 1
        if self._closed or self._sqlite_path is None or self._writes < SQLITE_CHECKPOINT_EVERY:
            return
        if self._checkpointing is not None and not self._checkpointing.done():
            return
        self._writes = 0
        self._checkpointing = asyncio.ensure_future(asyncio.to_thread(_checkpoint, self._sqlite_path))

    async def connect(self) -> None:
        """Ready the database for use; `storage.Database` brings its schema up to date here."""

    async def close(self) -> None:
        self._closed = True  # first: no checkpoint starts from here on (see `_after_write`)
        if self._checkpointing is not None:
            # A checkpoint under way finishes first; one that failed is left to SQLite, which checkpoints as the
            # last connection to the file closes.
            await asyncio.gather(self._checkpointing, return_exceptions=True)
        if self._write_lock is not None and not self._write_lock.locked():
            await self._drop_writer()  # (a write under way gives its connection back as it ends: `_on_writer`)
        await self._drop_reader()
        await self.engine.dispose()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a write transaction: committed when the block ends, rolled back if it raises.

        On SQLite it is BEGIN IMMEDIATE, taken after this process's other writers: the write lock is held from the
        start, so a transaction that reads and then writes never meets another writer's commit in between (which
        SQLite answers with "database is locked" at once, without waiting). Keep these blocks short and never nest
        them: the lock is not re-entrant.
        """
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock:
            async with self._sqlite_transaction() as conn:
                yield conn
            self._after_write()

    @asynccontextmanager
    async def _sqlite_transaction(self) -> AsyncIterator[AsyncConnection]:
        """`engine.begin()`, beginning again while another process keeps the file locked (see SQLITE_BEGIN_TRIES)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SQLITE_BUSY_TIMEOUT_MS / 1000 * (SQLITE_BEGIN_TRIES - 1)
        while True:
            transaction = self._on_writer() if self._holds_writer else self.engine.begin()
            try:
                conn = await transaction.__aenter__()
            except sa.exc.OperationalError as exc:
                if "database is locked" not in str(exc) or loop.time() >= deadline:
                    raise
                continue
            break
        try:
            yield conn
        except BaseException as exc:
            if not await transaction.__aexit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            await transaction.__aexit__(None, None, None)

    @asynccontextmanager
    async def _on_writer(self) -> AsyncIterator[AsyncConnection]:
        """A transaction on the connection this worker's SQLite writers share, one at a time (they queue on the write
        lock): a connection taken from the pool and given back for each transaction (its checkout, and the rollback
        that resets it on return) cost as much CPU as a turn's statements together. One the driver or SQLAlchemy
        gave up on (invalidated) is replaced."""
        conn = await self._held_writer()
        try:
            async with conn.begin():
                yield conn
        finally:
            if self._closed:  # shut down meanwhile
                await self._drop_writer()

    async def _held_writer(self) -> AsyncConnection:
        """The connection this worker's SQLite writers share; one the driver or SQLAlchemy gave up on is replaced."""
        conn = self._writer
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                await conn.close()
            conn = self._writer = await self.engine.connect()
        return conn

    async def _drop_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection that only reads; it must not write. On SQLite each statement sees the database as of its own
        start and no lock is taken (WAL readers never wait for writers); on PostgreSQL it is a plain transaction."""
        if self._holds_writer:
            async with self._on_reader() as conn:
                yield conn
            return
        # A single shared in-memory connection has one state: its readers queue with its writers.
        queue = self._write_lock if self._memory and self._write_lock else nullcontext()
        async with queue, self._reader.connect() as conn:
            if self._sqlite:
                # No BEGIN to end: the connection goes back to the pool, which ends whatever the driver began.
                yield conn
                return
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _on_reader(self) -> AsyncIterator[AsyncConnection]:
        """The connection this worker's SQLite file readers share: a reader's connection taken from the pool and
        given back for each read (its checkout, and the rollback that resets it on return) cost more CPU than the
        read. Sharing is safe: a reader opens no transaction (see `_sqlite_begin`), so each statement reads a
        snapshot of its own whoever else reads on the connection, and the driver runs each statement whole on the
        event loop's thread (see `_InlineSQLite`). After a read that fails, the connection is given back to the pool
        (which resets it) once no read is on it, and the next read takes another."""
        conn = self._held_reader
        if conn is None or conn.closed or conn.invalidated:
            if conn is not None:
                await self._drop_reader()
            conn = self._held_reader = await self._reader.connect()
        self._reading[conn] = self._reading.get(conn, 0) + 1
        failed = False
        try:
            yield conn
        except BaseException:
            failed = True
            raise
        finally:
            self._reading[conn] -= 1
            if (failed or self._closed) and self._held_reader is conn:
                self._held_reader = None
            if self._held_reader is not conn and not self._reading[conn]:
                del self._reading[conn]
                await conn.close()

    async def _drop_reader(self) -> None:
        """Give the held reader back, unless a read is on it (that read gives it back as it ends)."""
        reader, self._held_reader = self._held_reader, None
        if reader is not None and not self._reading.get(reader):
            self._reading.pop(reader, None)
            await reader.close()

    def prepared(self, name: str, build: Callable[[], Any]) -> Prepared:
        """The statement `name`, built on first use (with bind parameters for what varies), compiled and kept: run
        it in `writing` or `reading`. Built anew each time, a statement cost more to build and for SQLAlchemy to find
        its compiled form (a walk of the whole statement) than SQLite took to run it."""
        prepared = self._prepared.get(name)
        if prepared is None:
            prepared = self._prepared[name] = Prepared(build(), self.engine.dialect)
        return prepared

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[Statements]:
        """`begin`'s write transaction, for prepared statements: on SQLite run on the sqlite3 connection itself (see
        `Prepared`), under the same write lock and BEGIN IMMEDIATE; committed when the block ends, rolled back if it
        raises. Never nested, never inside `begin`."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield _AlchemyStatements(conn)
            return
        async with self._write_lock:
            async with self._sqlite_connection() as (inline, conn):
                raw = inline.raw
                await _begin_writing(inline)
                try:
                    yield _SQLiteStatements(raw, conn)
                    _commit(raw)
                except BaseException:
                    raw.rollback()  # (one that fails, fails the connection: see `_sqlite_connection`)
                    raise
            self._after_write()

    @asynccontextmanager
    async def _sqlite_connection(self) -> AsyncIterator[tuple[_InlineSQLite, AsyncConnection]]:
        """The sqlite3 connection writers use (inline), with SQLAlchemy's over it: the held writer (a file), or the
        one in-memory connection."""
        if not self._holds_writer:
            async with self.engine.connect() as conn:
                yield _inline(conn), conn
            return
        conn = await self._held_writer()
        try:
            yield _inline(conn), conn
        except sqlite3.Error:  # the connection itself failed (a rollback that could not be made): take another
            await conn.invalidate()
            raise
        finally:
            if self._closed:  # shut down meanwhile
                await self._drop_writer()

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Statements]:
        """`read`, for prepared statements (see `Prepared`): on SQLite each statement reads a snapshot of its own."""
        async with self.read() as conn:
            yield _SQLiteStatements(_driver(conn), conn) if self._sqlite else _AlchemyStatements(conn)

    async def read_one(self, prepared: Prepared, params: Mapping[str, Any]) -> Fetched:
        """One prepared read, as `reading` runs it: on SQLite a snapshot of its own. On a SQLite file it runs on the
        writers' connection while no transaction is open there, where it reads the same committed rows: a connection
        that starts a read after another connection wrote drops its page cache, so on the readers' connection the
        read after a turn's write cost twice the CPU (0.30 against 0.14 ms in a turn). It runs whole without a pause
        (inline), so no writer begins on the connection meanwhile."""
        writer = self._idle_writer()
        if writer is not None:
            try:
                return await _SQLiteStatements(_inline(writer).raw, writer).run(prepared, params)
            except sa.exc.OperationalError as exc:
                # The writers' connection waits in no busy handler (see `_InlineSQLite.began`): a read that finds
                # the file busy (another process recovering it) is made again where readers wait.
                if not _busy(exc):
                    raise
        async with self.reading() as tx:
            return await tx.run(prepared, params)

    def _idle_writer(self) -> AsyncConnection | None:
        """The connection this worker's SQLite file writers share, if it is open and in no transaction."""
        conn = self._writer
        if conn is None or conn.closed or conn.invalidated or self._closed:
            return None
        return None if _inline(conn).raw.in_transaction else conn

    def insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has `on_conflict_do_nothing` / `on_conflict_do_update`."""
        return self._insert(table)
