"""Schema migrations: every database reaches the newest schema on `connect()`, files made before migrations keep their
data, and `storage/schema.py` never drifts from what the migrations build."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from storage import Database, migrations
from storage.schema import conversation_contacts, metadata
from tests.fixtures import T0, Clock

LEGACY_SCHEMA = Path(__file__).parent / "data" / "legacy-schema.sql"
WORKERS = 4


async def _drift(database: Database, target: sa.MetaData = metadata) -> list[Any]:
    """What autogenerate would write to take the migrated database to `target`: nothing, when they agree."""
    async with database.read() as conn:
        return await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), target))


async def _version(database: Database) -> str | None:
    async with database.read() as conn:
        return await conn.run_sync(migrations.current)


async def _by_the_revisions(database_url: str) -> Database:
    """A database built by running every revision (`connect()` builds a new one from schema.py in one go)."""
    database = Database(database_url)
    async with database.begin() as conn:
        await conn.run_sync(lambda sync: migrations.command.upgrade(migrations.config(sync), "head"))
    return database


async def test_the_revisions_build_the_schema_in_schema_py(database_url: str) -> None:
    database = await _by_the_revisions(database_url)
    try:
        assert await _version(database) == migrations.head()
        assert await _drift(database) == []
    finally:
        await database.close()


async def test_the_drift_check_sees_a_column_schema_py_has_and_the_revisions_do_not(database_url: str) -> None:
    ahead = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(ahead)
    ahead.tables["conversations"].append_column(sa.Column("channel", sa.Text, nullable=True))
    database = await _by_the_revisions(database_url)
    try:
        drift = await _drift(database, ahead)
    finally:
        await database.close()
    assert [(op[0], op[2], op[3].name) for op in drift] == [("add_column", "conversations", "channel")]


async def test_a_new_database_is_at_head_and_usable(database_url: str, clock: Clock) -> None:
    async with Database(database_url, clock=clock) as database:
        assert await _version(database) == migrations.head()
        assert await _drift(database) == []
        await database.create_conversation("c1")
        assert await database.count_conversations() == 1


async def test_workers_starting_together_on_a_new_database_migrate_it_once(database_url: str) -> None:
    """Each worker process runs `connect()` at startup, at the same moment: they take turns and all succeed."""
    databases = [Database(database_url) for _ in range(WORKERS)]
    try:
        await asyncio.gather(*(database.connect() for database in databases))
        assert [await _version(database) for database in databases] == [migrations.head()] * WORKERS
    finally:
        await asyncio.gather(*(database.close() for database in databases))


def _legacy_file(path: Path, *, contacts: bool = False) -> None:
    """A lumen.db as Lumen left it before migrations, with a conversation, an escalation, a setting and a webhook;
    with `contacts`, as a later `create_all` left it, with the conversation_contacts table and a row in it."""
    with sqlite3.connect(path) as conn:
        conn.executescript(LEGACY_SCHEMA.read_text())
        if contacts:
            conn.execute(str(CreateTable(conversation_contacts).compile(dialect=sqlite_dialect())))
            for index in conversation_contacts.indexes:
                conn.execute(str(CreateIndex(index).compile(dialect=sqlite_dialect())))
            conn.execute("INSERT INTO conversation_contacts VALUES ('c-old', 'email', 'ann@example.com')")
        conn.executescript(
            """
            INSERT INTO conversations (id, created_at, updated_at, messages_json, state_json, customer_id,
                                       verified_lookups, escalated, model, message_count)
            VALUES ('c-old', '2026-11-20 09:30:00.000000', '2026-11-20 09:31:00.000000', '[{"kind": "request"}]',
                    '{"k": 1}', 'gid://shopify/Customer/7', 1, 1, 'playbook', 1);
            INSERT INTO escalations (id, conversation_id, order_name, order_key, reason, summary, shopper_email,
                                     transcript, created_at, email_status, attempts)
            VALUES ('ESC-OLD234', 'c-old', '#1042', '1042', 'other', 's', 'ann@example.com', 't',
                    '2026-11-20 09:31:00.000000', 'sent', 1);
            INSERT INTO settings ("key", value_json, updated_at) VALUES ('persona', '{"name": "Lumen"}',
                                                                      '2026-11-20 09:30:00.000000');
            INSERT INTO webhook_events (event_id, topic, received_at) VALUES ('evt-1', 'orders/updated',
                                                                            '2026-11-20 09:30:00.000000');
            """
        )
    conn.close()


@pytest.mark.parametrize("contacts", [False, True], ids=["first-release", "with-contacts"])
async def test_a_file_made_before_migrations_is_upgraded_in_place_with_its_data(
    tmp_path: Path, clock: Clock, contacts: bool
) -> None:
    path = tmp_path / "lumen.db"
    _legacy_file(path, contacts=contacts)
    async with Database(f"sqlite:///{path}", clock=clock) as database:
        assert await _version(database) == migrations.head()
        assert await _drift(database) == []
        row = await database.get_conversation("c-old")
        assert row is not None
        assert (row.customer_id, row.verified_lookups, row.escalated, row.message_count, row.state_json) == (
            "gid://shopify/Customer/7",
            1,
            True,
            1,
            '{"k": 1}',
        )
        escalation = await database.get_escalation("ESC-OLD234")
        assert escalation is not None and (escalation.order_name, escalation.email_status) == ("#1042", "sent")
        assert await database.get_setting("persona") == {"name": "Lumen"}
        assert await database.remember_webhook("evt-1", "orders/updated") is False
        async with database.read() as conn:
            kept = (await conn.execute(sa.select(conversation_contacts.c.value))).scalars().all()
        assert kept == (["ann@example.com"] if contacts else [])
        # What the new revisions added works on the old file.
        async with database.conversation_turn("c-old"):
            assert not await database.claim_turn("c-old", "another worker")
    # And the next start finds it at head: nothing to do.
    async with Database(f"sqlite:///{path}", clock=clock) as again:
        assert await again.count_conversations() == 1


async def test_a_failed_upgrade_leaves_the_file_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stamp and every revision run in `connect()`'s one transaction: all of them or none."""
    path = tmp_path / "lumen.db"
    _legacy_file(path)

    def broken(connection: sa.Connection) -> None:
        migrations.command.stamp(migrations.config(connection), migrations.INITIAL)
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(migrations, "upgrade", broken)
    with pytest.raises(RuntimeError, match="disk filled up"):
        await Database(f"sqlite:///{path}").connect()
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "alembic_version" not in tables and "conversations" in tables


def test_the_first_revision_is_the_schema_create_all_made(tmp_path: Path) -> None:
    """Stamping a legacy file with the first revision is right only if that revision builds what it has."""
    legacy = tmp_path / "legacy.db"
    _legacy_file(legacy)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'initial.db'}")
    with engine.begin() as conn:
        migrations.command.upgrade(migrations.config(conn), migrations.INITIAL)
    engine.dispose()

    def schema(path: Path) -> dict[str, Any]:
        with sqlite3.connect(path) as conn:
            described = {
                name: (conn.execute(f"PRAGMA table_info('{name}')").fetchall(), sorted(conn.execute(
                    f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = '{name}'"
                ).fetchall()))
                for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if name != "alembic_version"
            }  # fmt: skip
        conn.close()
        return described

    assert schema(tmp_path / "initial.db") == schema(legacy)


async def test_connect_on_a_database_at_head_changes_nothing(database_url: str, clock: Clock) -> None:
    async with Database(database_url, clock=clock) as first:
        await first.create_conversation("c1")
    async with Database(database_url, clock=clock) as second:
        assert await _version(second) == migrations.head()
        row = await second.get_conversation("c1")
        assert row is not None and row.created_at == T0


async def test_many_databases_opening_at_once_in_one_process_all_migrate(tmp_path: Path) -> None:
    """As the evals do (a database per case, cases run at once): Alembic's module-wide state is used by one at a time."""
    urls = ["sqlite://"] * 4 + [f"sqlite:///{tmp_path / f'{n}.db'}" for n in range(4)]
    databases = [Database(url) for url in urls]
    try:
        results = await asyncio.gather(*(database.connect() for database in databases), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert [await _version(database) for database in databases] == [migrations.head()] * len(urls)
    finally:
        await asyncio.gather(*(database.close() for database in databases))
