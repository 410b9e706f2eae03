"""Schema migrations (Alembic): `upgrade(connection)` brings any Lumen database to the newest schema.

`Database.connect()` calls it, so a new release's tables and columns arrive when Lumen starts; nothing to run by
hand. There is no alembic.ini: Lumen runs Alembic on its own connection, never from a shell, so the configuration is
built here. A new, empty database is built from `storage.schema` and stamped at head. Databases made before
migrations existed (by `metadata.create_all`, with no alembic_version table) are recognised, stamped with the first
revision (which is the schema they have) and upgraded from there.

A change to `storage/schema.py` needs a revision beside it: `python -m storage.migrations "what changed"` writes one
by comparing the schema with a database migrated to head (review it, then commit it). tests/test_migrations.py fails
while the two differ.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from storage.schema import metadata

HERE = Path(__file__).resolve().parent
# The revision equal to the schema `create_all` made before migrations: what an unversioned database is stamped with.
INITIAL = "0001"
# A table every Lumen database has had since the first release: its presence without a version marks a legacy file.
LEGACY_MARKER = "conversations"
# Any fixed number: PostgreSQL sessions that migrate at once (several workers starting) take this lock in turn.
PG_MIGRATION_LOCK = 0x4C756D656E  # "Lumen"
# Alembic runs a migration through module-wide proxies (`alembic.context`, `alembic.op`): two upgrades at once in one
# process (several databases opening together, as the evals do) would mix their connections. One at a time.
_ALEMBIC = threading.Lock()
_ALEMBIC_POLL_S = 0.005


def config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration, in code: the scripts beside this file, run on `connection` (see env.py)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def scripts() -> ScriptDirectory:
    """The revisions, read once per process: they do not change while Lumen runs."""
    return ScriptDirectory.from_config(config())


def head() -> str:
    revision = scripts().get_current_head()
    if revision is None:  # pragma: no cover - the package ships its revisions
        raise RuntimeError("no migrations found")
    return revision


@asynccontextmanager
async def exclusive() -> AsyncIterator[None]:
    """Hold this process's migration lock. Polled, not awaited in a thread: any event loop, any thread (a SQLite
    connection's, or the loop's own for asyncpg) can take it, and a cancelled waiter leaves nothing behind."""
    while not _ALEMBIC.acquire(blocking=False):
        await asyncio.sleep(_ALEMBIC_POLL_S)
    try:
        yield
    finally:
        _ALEMBIC.release()


def at_head(connection: sa.Connection) -> bool:
    return current(connection) == head()


def current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: sa.Connection) -> None:
    """Migrate to head inside the caller's transaction, holding `exclusive()`: all or nothing where the database's
    DDL is transactional, as on SQLite and PostgreSQL. Processes migrating at once (workers starting together) take
    turns: on SQLite the caller's write transaction excludes other writers; on PostgreSQL an advisory lock, held
    until the transaction ends, does."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(PG_MIGRATION_LOCK)))
    if current(connection) == head():
        return
    if not sa.inspect(connection).get_table_names():
        # A new database: built from `storage.schema` in one go and marked as at head (Alembic's recipe for building
        # a database from scratch), some ten times quicker than running every revision. The revisions build the
        # same tables: tests/test_migrations.py fails when they do not.
        metadata.create_all(connection)
        MigrationContext.configure(connection).stamp(scripts(), "head")
        return
    cfg = config(connection)
    if is_legacy(connection):
        command.stamp(cfg, INITIAL)
    command.upgrade(cfg, "head")


def is_legacy(connection: sa.Connection) -> bool:
    """A database Lumen made before migrations: its tables exist, its version table does not."""
    inspector = sa.inspect(connection)
    return inspector.has_table(LEGACY_MARKER) and not inspector.has_table("alembic_version")
