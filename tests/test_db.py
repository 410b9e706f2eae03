from __future__ import annotations

import asyncio
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import storage.database
from storage import Database, EscalationRequest, normalize_database_url
from storage.attempts import Allowance
from storage.contacts import MAX_CONTACT_CHARS, Contact
from storage.schema import escalations, settings
from tests.fixtures import T0, Clock


def _messages(n: int) -> bytes:
    return json.dumps(
        [{"kind": "request", "parts": [{"part_kind": "user-prompt", "content": f"m{i}"}]} for i in range(n)]
    ).encode()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///lumen.db", "sqlite+aiosqlite:///lumen.db"),
        ("sqlite:////var/lib/lumen/lumen.db", "sqlite+aiosqlite:////var/lib/lumen/lumen.db"),
        ("sqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("postgresql://lumen:pw@db:5432/lumen", "postgresql+asyncpg://lumen:pw@db:5432/lumen"),
        ("postgres://db/lumen", "postgresql+asyncpg://db/lumen"),
        ("postgresql+psycopg2://db/lumen", "postgresql+asyncpg://db/lumen"),
        ("postgresql+asyncpg://db/lumen", "postgresql+asyncpg://db/lumen"),
    ],
)
def test_urls_get_async_drivers(url: str, expected: str) -> None:
    assert normalize_database_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite:///:memory:"])
async def test_memory_urls_work(url: str) -> None:
    async with Database(url) as database:
        await database.create_conversation("c1")
        assert await database.count_conversations() == 1


async def test_conversation_round_trip(db: Database, clock: Clock) -> None:
    created = await db.create_conversation("c1")
    assert created.created_at == created.updated_at == T0
    assert created.messages_json == "[]"
    assert created.state_json == "{}"
    assert (created.verified_lookups, created.escalated, created.model, created.message_count) == (0, False, None, 0)

    clock.advance(minutes=5)
    await db.save_conversation(
        "c1", messages_json=_messages(3), state_json='{"verified": ["#1042"]}', verified_lookups=1,
        escalated=True, model="playbook", customer_id="gid://shopify/Customer/7",
    )  # fmt: skip
    row = await db.get_conversation("c1")
    assert row is not None
    assert row.created_at == T0
    assert row.updated_at == T0 + timedelta(minutes=5)
    assert row.updated_at.tzinfo is UTC
    assert json.loads(row.messages_json) == json.loads(_messages(3))
    assert row.state_json == '{"verified": ["#1042"]}'
    assert (row.verified_lookups, row.escalated, row.model, row.message_count) == (1, True, "playbook", 3)
    assert row.customer_id == "gid://shopify/Customer/7"

    assert await db.get_conversation("missing") is None


async def test_save_is_an_upsert_that_keeps_created_at_and_customer(db: Database, clock: Clock) -> None:
    # Saving an unknown id creates it.
    await db.save_conversation(
        "c1", messages_json="[]", state_json="{}", verified_lookups=0, escalated=False, model=None, customer_id="cust"
    )
    clock.advance(seconds=10)
    await db.save_conversation(
        "c1", messages_json=_messages(2), state_json='{"n": 2}', verified_lookups=2, escalated=False, model="m"
    )
    row = await db.get_conversation("c1")
    assert row is not None
    assert row.created_at == T0
    assert row.updated_at == T0 + timedelta(seconds=10)
    assert row.customer_id == "cust"  # not passed: kept
    assert (row.message_count, row.verified_lookups, row.state_json, row.model) == (2, 2, '{"n": 2}', "m")

    # create_conversation never resets an existing conversation.
    again = await db.create_conversation("c1")
    assert again.message_count == 2
    assert await db.count_conversations() == 1


async def test_save_rejects_messages_that_are_not_a_json_array(db: Database) -> None:
    with pytest.raises(ValueError, match="JSON array"):
        await db.save_conversation(
            "c1", messages_json='{"kind": "request"}', state_json="{}", verified_lookups=0, escalated=False, model=None
        )
    assert await db.get_conversation("c1") is None


async def test_list_conversations_most_recent_first_with_paging(db: Database, clock: Clock) -> None:
    for i in range(5):
        await db.save_conversation(
            f"c{i}", messages_json=_messages(i), state_json="{}", verified_lookups=0, escalated=False, model=None
        )
        clock.advance(minutes=1)
    # c1 becomes the most recently active.
    await db.save_conversation(
        "c1", messages_json=_messages(4), state_json="{}", verified_lookups=0, escalated=False, model=None
    )

    page = await db.list_conversations(limit=3)
    assert [(c.id, c.message_count) for c in page] == [("c1", 4), ("c4", 4), ("c3", 3)]
    rest = await db.list_conversations(limit=3, offset=3)
    assert [c.id for c in rest] == ["c2", "c0"]
    assert await db.count_conversations() == 5


async def test_settings_round_trip(db: Database) -> None:
    assert await db.get_setting("mail") is None
    await db.put_setting("mail", {"escalation_email": "ops@shop.test", "nested": {"a": [1, 2]}})
    assert await db.get_setting("mail") == {"escalation_email": "ops@shop.test", "nested": {"a": [1, 2]}}
    await db.put_setting("mail", {"escalation_email": None})
    assert await db.get_setting("mail") == {"escalation_email": None}


async def test_webhook_dedup(db: Database) -> None:
    assert await db.remember_webhook("evt-1", "orders/updated") is True
    assert await db.remember_webhook("evt-1", "orders/updated") is False
    assert await db.remember_webhook("evt-2", "fulfillments/update") is True
    assert await db.remember_webhook("evt-2", "fulfillments/update") is False


async def test_stats(db: Database) -> None:
    assert await db.stats() == {
        "conversations": 0,
        "verified_lookups": 0,
        "escalations": 0,
        "conversations_escalated": 0,
        "answered_without_human": 1.0,
    }
    for i, (lookups, escalated) in enumerate([(2, False), (1, True), (0, False), (3, False)]):
        await db.save_conversation(
            f"c{i}", messages_json="[]", state_json="{}", verified_lookups=lookups, escalated=escalated, model=None
        )
    # c2 is not flagged, but has an escalation row: it needed a human too. c1 has two (two orders).
    async with db.begin() as conn:
        for esc_id, conv, order in [("ESC-A", "c1", "#1"), ("ESC-B", "c1", "#2"), ("ESC-C", "c2", "")]:
            await conn.execute(
                sa.insert(escalations).values(
                    id=esc_id, conversation_id=conv, order_key=order, reason="r", summary="s", transcript="t",
                    created_at=T0, email_status="pending", attempts=0,
                )
            )  # fmt: skip
    assert await db.stats() == {
        "conversations": 4,
        "verified_lookups": 6,
        "escalations": 3,
        "conversations_escalated": 2,
        "answered_without_human": 0.5,
    }


async def test_file_database_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    url = f"sqlite:///{tmp_path / 'lumen.db'}"
    async with Database(url, clock=clock) as first:
        async with first.begin() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        async with first.read() as conn:
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
        await first.save_conversation(
            "c1", messages_json=_messages(2), state_json='{"k": 1}', verified_lookups=1, escalated=False, model="m"
        )
        await first.put_setting("shop", {"name": "Acme"})
        await first.remember_webhook("evt-1", "orders/updated")

    clock.advance(hours=1)
    async with Database(url, clock=clock) as second:  # connect() again on existing tables is harmless
        row = await second.get_conversation("c1")
        assert row is not None
        assert (row.created_at, row.message_count, row.state_json) == (T0, 2, '{"k": 1}')
        assert await second.get_setting("shop") == {"name": "Acme"}
        assert await second.remember_webhook("evt-1", "orders/updated") is False


async def test_a_sqlite_writer_waits_for_another_workers_write_without_stopping_the_loop(tmp_path: Path) -> None:
    """Statements run on the loop's thread: a writer that finds the file locked by another worker (here on the same
    loop) must wait on the loop, or the other worker could never commit and the wait would end in "locked"."""
    url = f"sqlite:///{tmp_path / 'lumen.db'}"
    async with Database(url) as first, Database(url) as second:
        await second.put_setting("c", 3)  # `second`'s writer has begun before (its busy_timeout stays 0 in WAL mode)
        async with first.begin() as conn:
            await conn.execute(sa.insert(settings).values(key="a", value_json="1", updated_at=T0))
            waiting = asyncio.create_task(second.put_setting("b", 2))
            for _ in range(5):
                await asyncio.sleep(0)  # `second` is waiting for the lock, and the loop runs on
            assert not waiting.done()
        await waiting
        assert (await second.get_setting("a"), await first.get_setting("b")) == (1, 2)


async def test_sqlite_waits_in_its_busy_handler_everywhere_but_a_writers_begin(tmp_path: Path) -> None:
    """A writer's BEGIN IMMEDIATE waits on the loop (busy_timeout 0); in WAL mode its statements and COMMIT never ask
    the busy handler, so the writer keeps 0 between transactions, while every other connection waits as connected:
    readers, and a writer's connection once the pool hands it to anyone else. Without WAL (in memory) a COMMIT waits
    for readers in the busy handler, so there the timeout is back as soon as the transaction has begun."""

    async def busy_timeout(conn: Any) -> int:
        return int((await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar())

    async with Database(f"sqlite:///{tmp_path / 'lumen.db'}") as db:
        for i in range(2):
            await db.put_setting(f"k{i}", i)
            async with db.begin() as conn:
                assert await busy_timeout(conn) == 0
            async with db.read() as conn:
                assert await busy_timeout(conn) == 5000
        await db._drop_writer()  # the writer's connection back in the pool: the next connection handed out
        async with db._reader.connect() as conn:
            assert await busy_timeout(conn) == 5000
        await db.put_setting("k2", 2)  # a writer again
        async with db.begin() as conn:
            assert await busy_timeout(conn) == 0
    async with Database("sqlite://") as memory:
        await memory.put_setting("k", 1)
        async with memory.begin() as conn:
            assert await busy_timeout(conn) == 5000


async def test_sqlite_checkpoints_run_in_a_thread_every_so_many_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's own checkpoint would run (and fsync) inside a commit on the loop; Lumen's runs in a thread instead."""
    monkeypatch.setattr(storage.database, "SQLITE_CHECKPOINT_EVERY", 3)
    checkpoints: list[tuple[str, bool]] = []
    checkpoint = storage.database._checkpoint

    def spy(path: str) -> None:
        checkpoints.append((path, threading.current_thread() is threading.main_thread()))
        checkpoint(path)

    monkeypatch.setattr(storage.database, "_checkpoint", spy)
    path = tmp_path / "lumen.db"
    async with Database(f"sqlite:///{path}") as db:
        async with db.read() as conn:
            assert (await conn.exec_driver_sql("PRAGMA wal_autocheckpoint")).scalar() == 0
        # `connect()` wrote once (the schema check); the second put is the third write and starts a checkpoint, the
        # last two are two of the next three.
        for i in range(4):
            await db.put_setting(f"k{i}", i)
        await db.close()  # waits for a checkpoint under way
        assert checkpoints == [(str(path), False)]
    async with Database(f"sqlite:///{path}") as again:
        assert [await again.get_setting(f"k{i}") for i in range(4)] == list(range(4))


async def test_no_checkpoint_starts_after_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write that commits while the server shuts down must not start a checkpoint thread after `close()`: it would
    open the file again after the engine was disposed, and outlive the server."""
    monkeypatch.setattr(storage.database, "SQLITE_CHECKPOINT_EVERY", 2)
    started: list[str] = []
    monkeypatch.setattr(storage.database, "_checkpoint", started.append)
    db = Database(f"sqlite:///{tmp_path / 'lumen.db'}")
    await db.connect()  # the first write: the next one crosses the count
    async with db.begin() as conn:  # a write under way when shutdown begins ...
        await conn.execute(sa.insert(settings).values(key="late", value_json="1", updated_at=T0))
        await db.close()  # ... and closed meanwhile (no checkpoint was in flight to wait for)
    # It committed after close(): nothing started, so nothing runs on after shutdown.
    if db._checkpointing is not None:
        await db._checkpointing
    assert started == []
    async with Database(f"sqlite:///{tmp_path / 'lumen.db'}") as again:
        assert await again.get_setting("late") == 1  # the write itself was kept


async def test_close_waits_for_a_checkpoint_in_flight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine is disposed only once a checkpoint under way has finished: its thread holds the file open."""
    monkeypatch.setattr(storage.database, "SQLITE_CHECKPOINT_EVERY", 2)
    release = threading.Event()
    finished: list[bool] = []

    def held(path: str) -> None:
        release.wait(timeout=30)  # until the test lets it go (the timeout only keeps a broken test from hanging)
        finished.append(True)

    monkeypatch.setattr(storage.database, "_checkpoint", held)
    db = Database(f"sqlite:///{tmp_path / 'lumen.db'}")
    await db.connect()
    await db.put_setting("a", 1)  # the second write: a checkpoint starts, and is held in its thread
    closing = asyncio.ensure_future(db.close())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not closing.done()  # waiting for the checkpoint
    release.set()
    await closing
    assert finished == [True]


async def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    async with Database(f"sqlite:///{tmp_path / 'x.db'}", clock=lambda: datetime(2026, 1, 1)) as database:
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            await database.create_conversation("c1")


# --- rationed attempts and redaction ------------------------------------------------------------------------------


async def _count_attempt_rows(db: Database) -> int:
    async with db.begin() as conn:
        return (await conn.exec_driver_sql("SELECT count(*) FROM attempts")).scalar_one()


async def test_attempts_are_counted_per_key_within_the_window(db: Database, clock: Clock) -> None:
    await db.record_attempts([])  # nothing to record: no error
    await db.record_attempts(["order:1042", "ip:198.51.100.4"])
    clock.advance(minutes=10)
    await db.record_attempts(["order:1042"])
    keys = ["order:1042", "ip:198.51.100.4", "email:nobody@example.com"]
    assert await db.count_attempts(keys, since=T0) == {
        "order:1042": 2,
        "ip:198.51.100.4": 1,
        "email:nobody@example.com": 0,
    }
    later = T0 + timedelta(minutes=5)
    assert await db.count_attempts(keys, since=later) == {
        "order:1042": 1,
        "ip:198.51.100.4": 0,
        "email:nobody@example.com": 0,
    }
    assert await db.count_attempts([], since=T0) == {}


async def test_decisions_of_one_lookup_share_a_transaction_and_stop_at_the_first_refusal(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup's two decisions (its guess's keys, then the order's wrong-proofs key) commit once, and answer as two
    `decide_attempt` calls one after the other would."""
    hour = timedelta(hours=1)
    guess, order = {"email:a": Allowance(2, hour)}, {"proofs:1042": Allowance(1, hour)}
    commits = 0
    real_commit = storage.database._commit

    def counted(raw: Any) -> None:
        nonlocal commits
        commits += 1
        real_commit(raw)

    monkeypatch.setattr(storage.database, "_commit", counted)
    assert await db.decide_attempts([guess, order], spent=True) == [True, True]
    assert commits == 1
    # The order's key is full now: the guess's key still has room, and its attempt counts.
    assert await db.decide_attempts([guess, order], spent=True) == [True, False]
    # The guess's key is full: refused first, the order's key not asked.
    assert await db.decide_attempts([guess, order], spent=True) == [False]
    assert await db.count_attempts(["email:a", "proofs:1042"], since=T0) == {"email:a": 2, "proofs:1042": 1}
    # A proof spends nothing, and is refused by what is full all the same.
    assert await db.decide_attempts([{"email:b": Allowance(2, hour)}, order], spent=False) == [True, False]
    assert await db.count_attempts(["email:b"], since=T0) == {"email:b": 0}
    assert await db.decide_attempts([{}, {}], spent=True) == [True, True]  # nothing to decide: no transaction
    assert commits == 4


async def test_recording_drops_attempts_a_day_old(db: Database, clock: Clock) -> None:
    await db.record_attempts(["order:1042", "order:1042"])
    clock.advance(hours=12)
    await db.record_attempts(["order:1042"])
    assert await _count_attempt_rows(db) == 3
    clock.advance(days=1)  # the first two are now more than a day old; the third is exactly a day old
    assert await db.count_attempts(["order:1042"], since=clock.now - timedelta(hours=1)) == {"order:1042": 0}
    assert await _count_attempt_rows(db) == 3  # counting writes nothing
    await db.record_attempts(["order:7"])
    assert await _count_attempt_rows(db) == 2


async def _escalate(db: Database, esc_id: str, conversation_id: str, **values: object) -> None:
    row = {"id": esc_id, "conversation_id": conversation_id, "order_key": esc_id, "reason": "r", "summary": "s",
           "transcript": "t", "created_at": T0, "email_status": "pending", "attempts": 0} | values  # fmt: skip
    async with db.begin() as conn:
        await conn.execute(sa.insert(escalations).values(**row))


async def _say(db: Database, conversation_id: str, text: str, state: str = "{}") -> None:
    messages = json.dumps([{"kind": "request", "parts": [{"part_kind": "user-prompt", "content": text}]}])
    await db.save_conversation(
        conversation_id, messages_json=messages, state_json=state, verified_lookups=0, escalated=False, model=None
    )


async def _ids(db: Database) -> tuple[set[str], set[str]]:
    async with db.begin() as conn:
        escalation_ids = set((await conn.execute(sa.select(escalations.c.id))).scalars())
    return {c.id for c in await db.list_conversations()}, escalation_ids


async def test_contacts_are_recorded_once_each_however_many_a_turn_has(db: Database) -> None:
    """A turn's contacts go in multi-row INSERTs (at most CONTACTS_PER_INSERT rows each): every one is recorded once,
    those recorded before are skipped, over-long ones are not kept, and other conversations' stay their own."""
    recorded: set[Contact] = set()
    for count in (0, 1, 7, 8, 9, 20, 3):
        turn: list[Contact] = [("email", f"shopper{i}@example.com") for i in range(count)]
        turn += [("order", f"gid://shopify/Order/{i}") for i in range(count // 2)]
        turn.append(("customer", "x" * (MAX_CONTACT_CHARS + 1)))
        await db.remember_contacts("c-many", turn)
        recorded |= set(turn[:-1])
        assert await db.contacts_of("c-many") == recorded
    await db.remember_contacts("c-one", [("email", "shopper1@example.com")])
    assert await db.contacts_of("c-one") == {("email", "shopper1@example.com")}
    assert await db.contacts_of("c-many") == recorded
    assert set(await db.conversations_about([("email", "shopper1@example.com")])) == {"c-many", "c-one"}


async def test_redact_deletes_by_exact_keys_and_the_escalations_of_those_conversations(db: Database) -> None:
    await _say(db, "c-maya", "order #1031 maya.patel@example.com")
    await db.remember_contacts("c-maya", [("email", "maya.patel@example.com")])
    await _say(db, "c-state", "1042 please", state='{"verified_ids": {"#1042": "gid://shopify/Order/5001042"}}')
    await db.remember_contacts("c-state", [("order", "gid://shopify/Order/5001042")])
    await _say(db, "c-other", "order #1050 jordan.lee@example.com")
    await db.remember_contacts(
        "c-other", [("email", "jordan.lee@example.com"), ("order", "gid://shopify/Order/50010420")]
    )
    await _escalate(db, "ESC-1", "c-maya")  # goes with its conversation
    await _escalate(db, "ESC-2", "c-gone", shopper_email=" Maya.Patel@Example.com")  # by email, whatever its case
    await _escalate(db, "ESC-5", "c-other", shopper_email="jordan.lee@example.com", order_name="#1050")

    deleted = await db.redact([("email", "maya.patel@example.com"), ("order", "gid://shopify/Order/5001042")])
    assert deleted == {"conversations": 2, "escalations": 2}
    assert await _ids(db) == ({"c-other"}, {"ESC-5"})
    assert await db.redact([("email", "maya.patel@example.com")]) == {"conversations": 0, "escalations": 0}


async def test_redact_matches_nothing_but_whole_keys(db: Database) -> None:
    await _say(db, "c1", "order #1031 maya.patel@example.com")
    await db.remember_contacts("c1", [("email", "maya.patel@example.com")])
    await _escalate(db, "ESC-1", "c1", shopper_email="maya.patel@example.com", order_name="#1")
    for keys in ([], [("email", ""), ("email", "@")], [("email", "%@%"), ("email", "patel@example.com")]):
        assert await db.redact(keys) == {"conversations": 0, "escalations": 0}
    assert await _ids(db) == ({"c1"}, {"ESC-1"})


async def test_redact_all_forgets_conversations_escalations_and_attempts(db: Database) -> None:
    await _say(db, "c1", "order #1031 maya.patel@example.com")
    await _escalate(db, "ESC-1", "c1")
    await db.record_attempts(["order:1031"])
    await db.redact_all()
    assert await _ids(db) == (set(), set())
    assert await _count_attempt_rows(db) == 0
    assert (await db.stats())["conversations"] == 0
    await db.redact_all()  # nothing left: still fine
    await _say(db, "c2", "hello again")  # and the database is still usable
    assert await db.count_conversations() == 1


async def test_escalation_records_insert_once_per_order_and_claim_once(db: Database, clock: Clock) -> None:
    req = EscalationRequest(conversation_id="c1", order_name="#1042", reason="other", summary="s")
    first = await db.insert_escalation(req, order_key="1042")
    assert first is not None and first.email_status == "pending" and first.attempts == 0
    assert await db.insert_escalation(req, order_key="1042") is None  # the same conversation and order: once
    assert await db.find_escalation("c1", "1042") == first
    assert await db.get_escalation(first.id) == first

    now = clock()
    assert [e.id for e in await db.due_escalations(now)] == [first.id]
    lease = now + timedelta(minutes=5)
    assert await db.claim_escalation(first, now, until=lease)
    # A second worker that read the row before the claim matches nothing: one worker sends.
    assert not await db.claim_escalation(first, now, until=lease)
    assert await db.due_escalations(now) == []  # leased

    await db.mark_escalation_failed(first.id, 1, "SMTPError: down", retry_at=now + timedelta(seconds=30))
    failed = await db.get_escalation(first.id)
    assert failed is not None and (failed.email_status, failed.attempts, failed.last_error) == (
        "failed",
        1,
        "SMTPError: down",
    )
    clock.advance(seconds=30)
    [due] = await db.due_escalations(clock())
    assert due.id == first.id
    assert await db.claim_escalation(due, clock(), until=clock() + timedelta(minutes=5))

    await db.mark_escalation_sent(first.id, 2, clock())
    sent = await db.get_escalation(first.id)
    assert sent is not None and (sent.email_status, sent.sent_at, sent.last_error) == ("sent", clock(), None)
    assert await db.due_escalations(clock()) == []
    assert [e.id for e in await db.list_escalations()] == [first.id]
