"""The `Database` API on both backends Lumen supports: a SQLite file and a real PostgreSQL server (asyncpg).

Every test here runs twice through `database_url` (tests/postgres.py), each time on an empty database of its own.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import QueuePool

import outbox.service as outbox_service
import storage.attempts
from outbox.mail import MailSettings, build_email
from outbox.service import EscalationService
from storage import Database
from storage.attempts import Allowance
from storage.escalations import Escalation, EscalationRequest, TranscriptMessage
from tests.fixtures import T0, Clock
from tests.postgres import missing_server

CONCURRENT = 200


@pytest.fixture
def store(database: Database) -> Database:
    return database


def messages(*texts: str) -> str:
    return json.dumps([{"kind": "request", "text": text} for text in texts])


async def save(store: Database, id: str, *texts: str, **overrides: Any) -> None:
    values: dict[str, Any] = {
        "messages_json": messages(*texts),
        "state_json": "{}",
        "verified_lookups": 0,
        "escalated": False,
        "model": "test",
        **overrides,
    }
    await store.save_conversation(id, **values)


# --- conversations -------------------------------------------------------------------------------------------------


async def test_a_created_conversation_is_empty_and_creating_it_again_keeps_it(store: Database, clock: Clock) -> None:
    created = await store.create_conversation("c1")
    assert (created.id, created.created_at, created.messages_json, created.message_count) == ("c1", T0, "[]", 0)
    await save(store, "c1", "where is #1001?")
    clock.advance(minutes=1)
    again = await store.create_conversation("c1")
    assert (again.created_at, again.message_count) == (T0, 1)
    assert await store.get_conversation("missing") is None


async def test_saving_updates_in_place_keeping_created_at_and_customer(store: Database, clock: Clock) -> None:
    await save(store, "c1", "hi", customer_id="gid://shopify/Customer/1", verified_lookups=1)
    clock.advance(minutes=5)
    await save(store, "c1", "hi", "order #1001", escalated=True, verified_lookups=2)
    row = await store.get_conversation("c1")
    assert row is not None
    assert (row.created_at, row.updated_at) == (T0, T0 + timedelta(minutes=5))
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)
    assert (row.customer_id, row.verified_lookups, row.escalated, row.message_count) == (
        "gid://shopify/Customer/1",
        2,
        True,
        2,
    )
    assert json.loads(row.messages_json)[1]["text"] == "order #1001"


async def test_conversations_list_newest_first_and_count(store: Database, clock: Clock) -> None:
    for id in ("a", "b", "c"):
        await save(store, id, "hello")
        clock.advance(seconds=1)
    await save(store, "a", "hello", "again")  # now the most recent
    assert [c.id for c in await store.list_conversations()] == ["a", "c", "b"]
    assert [c.id for c in await store.list_conversations(limit=1, offset=1)] == ["c"]
    assert await store.count_conversations() == 3


async def test_messages_must_be_a_json_array(store: Database) -> None:
    with pytest.raises(ValueError, match="JSON array"):
        await store.save_conversation(
            "c1", messages_json=b'{"not": "a list"}', state_json="{}", verified_lookups=0, escalated=False, model=None
        )
    assert await store.count_conversations() == 0


# --- settings, webhooks, attempts ----------------------------------------------------------------------------------


async def test_settings_are_stored_and_overwritten(store: Database) -> None:
    assert await store.get_setting("shop") is None
    await store.put_setting("shop", {"domain": "acme.myshopify.com", "scopes": ["read_orders"]})
    await store.put_setting("shop", {"domain": "acme.myshopify.com", "scopes": ["read_orders", "read_fulfillments"]})
    assert await store.get_setting("shop") == {
        "domain": "acme.myshopify.com",
        "scopes": ["read_orders", "read_fulfillments"],
    }


async def test_concurrent_updates_of_one_setting_all_land(store: Database) -> None:
    """Read-change-write in one locked transaction: 50 updates at once (the shop/redact pending list, kept by several
    workers) each add their entry; none is lost to another's write. Deleting by returning None works too."""

    def adding(entry: str) -> Any:
        return lambda stored: {"entries": [*(stored or {}).get("entries", []), entry]}

    await asyncio.gather(*(store.update_setting("pending", adding(f"delivery-{i}")) for i in range(50)))
    stored = await store.get_setting("pending")
    assert stored is not None and sorted(stored["entries"]) == sorted(f"delivery-{i}" for i in range(50))
    assert await store.update_setting("pending", lambda stored: None) is None
    assert await store.get_setting("pending") is None
    assert await store.update_setting("fresh", lambda stored: {"was": stored}) == {"was": None}
    assert await store.get_setting("fresh") == {"was": None}


async def test_a_webhook_is_new_once(store: Database) -> None:
    assert await store.remember_webhook("evt-1", "orders/updated") is True
    assert await store.remember_webhook("evt-1", "orders/updated") is False
    assert await store.remember_webhook("evt-2", "orders/updated") is True


async def test_attempts_are_counted_in_their_window_and_old_ones_pruned(store: Database, clock: Clock) -> None:
    await store.record_attempts(["order:1001", "ip:203.0.113.9"])
    clock.advance(minutes=10)
    await store.record_attempts(["order:1001"])
    assert await store.count_attempts(["order:1001", "ip:203.0.113.9", "order:9"], since=T0) == {
        "order:1001": 2,
        "ip:203.0.113.9": 1,
        "order:9": 0,
    }
    assert await store.count_attempts(["order:1001"], since=T0 + timedelta(minutes=5)) == {"order:1001": 1}
    clock.advance(days=2)
    await store.record_attempts(["email:ann@example.com"])  # prunes rows older than a day
    assert await store.count_attempts(["order:1001", "email:ann@example.com"], since=T0 - timedelta(days=9)) == {
        "order:1001": 0,
        "email:ann@example.com": 1,
    }
    assert await store.count_attempts([], since=T0) == {}


# --- escalations and the outbox ------------------------------------------------------------------------------------


class RecordingMail:
    """Stands in for `send_email`: keeps every message, and fails the sends it is told to."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []
        self.failures = 0

    async def __call__(self, escalation: Escalation, mail: MailSettings, *, timeout_s: float) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionRefusedError("mail server down")
        self.sent.append(build_email(escalation, mail))


@pytest.fixture
def mail(monkeypatch: pytest.MonkeyPatch) -> RecordingMail:
    recorder = RecordingMail()
    monkeypatch.setattr(outbox_service, "send_email", recorder)
    return recorder


MAIL = MailSettings(smtp_url="smtp://mail.acme.test:2525", escalation_email="ops@acme.test", shop_name="Acme")


def escalation(
    conversation_id: str = "c1", order_name: str | None = "#1001", email: str = "ann@example.com"
) -> EscalationRequest:
    return EscalationRequest(
        conversation_id=conversation_id,
        order_name=order_name,
        reason="delivered_not_received",
        summary="Tracking says delivered; the parcel is not there.",
        shopper_email=email,
        transcript=[TranscriptMessage(speaker="shopper", text=f"where is my order {order_name}? {email}")],
    )


async def test_an_escalation_is_stored_emailed_once_and_retried_from_the_outbox(
    store: Database, clock: Clock, mail: RecordingMail
) -> None:
    service = EscalationService(store, MAIL)
    first, new = await service.escalate(escalation())
    await service.drain()  # sent in the background
    first = await service.get(first.id) or first
    assert new and first.email_status == "sent" and first.attempts == 1
    again, new_again = await service.escalate(escalation(order_name="1001"))  # the same order, written differently
    assert (again.id, new_again) == (first.id, False)
    assert [m["X-Lumen-Escalation"] for m in mail.sent] == [first.id]

    mail.failures = 1
    clock.advance(seconds=1)
    failed, _ = await service.escalate(escalation("c2"))
    await service.drain()
    failed = await service.get(failed.id) or failed
    assert (failed.email_status, failed.last_error) == ("failed", "ConnectionRefusedError: mail server down")
    assert await service.deliver_pending() == 0  # backing off
    clock.advance(minutes=1)
    assert await service.deliver_pending() == 1
    delivered = await service.get(failed.id)
    assert delivered is not None and (delivered.email_status, delivered.attempts) == ("sent", 2)
    assert [e.id for e in await service.list_escalations()] == [failed.id, first.id]


# --- privacy and numbers -------------------------------------------------------------------------------------------


async def test_redact_removes_what_is_recorded_about_the_shopper_and_nothing_else(
    store: Database, mail: RecordingMail
) -> None:
    await save(store, "ann", "my email is ann@example.com, order #1001")
    await store.remember_contacts("ann", [("email", "ann@example.com")])
    await save(store, "bob", "bob@example.com here, order #2002, cc joann@example.com")
    await store.remember_contacts("bob", [("email", "bob@example.com"), ("email", "joann@example.com")])
    service = EscalationService(store, MAIL)
    await service.escalate(escalation("ann", email="Ann@Example.com"))
    await service.escalate(escalation("bob", "#2002", "bob@example.com"))
    await service.drain()
    # Keys are normalised by the caller and matched whole: ann@example.com is not joann@example.com.
    assert await store.redact([("email", "ann@example.com")]) == {"conversations": 1, "escalations": 1}
    assert [c.id for c in await store.list_conversations()] == ["bob"]
    assert [e.conversation_id for e in await service.list_escalations()] == ["bob"]
    assert await store.redact([("email", "%"), ("email", "")]) == {"conversations": 0, "escalations": 0}


async def test_redact_all_forgets_everything_but_settings(store: Database, mail: RecordingMail) -> None:
    await save(store, "c1", "hello")
    await store.record_attempts(["order:1001"])
    service = EscalationService(store, MAIL)
    await service.escalate(escalation())
    await service.drain()
    await store.put_setting("shop", {"domain": "acme.myshopify.com"})
    await store.redact_all()
    assert await store.count_conversations() == 0
    assert await store.count_attempts(["order:1001"], since=T0) == {"order:1001": 0}
    assert await EscalationService(store, MAIL).list_escalations() == []
    assert await store.get_setting("shop") == {"domain": "acme.myshopify.com"}


async def test_stats_count_escalated_by_flag_or_by_escalation(store: Database, mail: RecordingMail) -> None:
    assert await store.stats() == {
        "conversations": 0,
        "verified_lookups": 0,
        "escalations": 0,
        "conversations_escalated": 0,
        "answered_without_human": 1.0,
    }
    await save(store, "flagged", "hi", escalated=True, verified_lookups=1)
    await save(store, "with-escalation", "hi", verified_lookups=2)
    await save(store, "answered", "hi", verified_lookups=3)
    await save(store, "answered-too", "hi")
    service = EscalationService(store, MAIL)
    await service.escalate(escalation("with-escalation"))
    await service.drain()
    assert await store.stats() == {
        "conversations": 4,
        "verified_lookups": 6,
        "escalations": 1,
        "conversations_escalated": 2,
        "answered_without_human": 0.5,
    }


# --- concurrency ---------------------------------------------------------------------------------------------------


async def test_concurrent_saves_and_attempts_all_land(store: Database) -> None:
    """As under a Black Friday load: many turns saving and many failed lookups recording, all at the same moment."""
    saves = [save(store, f"c{i % (CONCURRENT // 2)}", "where is my order?", f"#{1000 + i}") for i in range(CONCURRENT)]
    records = [store.record_attempts([f"order:{1000 + i}", "ip:203.0.113.9"]) for i in range(CONCURRENT)]
    results = await asyncio.gather(*saves, *records, return_exceptions=True)
    errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
    assert errors == []
    assert await store.count_conversations() == CONCURRENT // 2
    assert all(c.message_count == 2 for c in await store.list_conversations(limit=CONCURRENT))
    counts = await store.count_attempts(["ip:203.0.113.9", "order:1000", "order:1199"], since=T0)
    assert counts == {"ip:203.0.113.9": CONCURRENT, "order:1000": 1, "order:1199": 1}


async def test_concurrent_decisions_of_lookups_answer_no_more_guesses_than_a_key_allows(store: Database) -> None:
    """Each lookup decides its guess's keys and then the order's key in one transaction: of many at once on keys
    with room for ten, exactly ten are answered on each, and never a deadlock whatever order the keys come in."""
    hour = timedelta(hours=1)
    decisions = [
        [
            {"ip:203.0.113.9": Allowance(10, hour), f"email:{i}": Allowance(3, hour)},
            {"proofs:1001": Allowance(10, hour)},
        ]
        for i in range(CONCURRENT // 4)
    ]
    results = await asyncio.gather(*(store.decide_attempts(d, spent=True) for d in decisions), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    answered = [r for r in results if not isinstance(r, BaseException)]
    assert sum(r[0] for r in answered) == 10 and sum(r == [True, True] for r in answered) == 10
    assert all(r == [False] for r in answered if not r[0])
    assert await store.count_attempts(["ip:203.0.113.9", "proofs:1001"], since=T0) == {
        "ip:203.0.113.9": 10,
        "proofs:1001": 10,
    }


async def test_a_lookups_decisions_in_one_statement_answer_and_count_as_decided_one_by_one(
    store: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lookup's decisions (no key in two of them) are decided in one statement: the same answers, and the same
    attempts counted, as deciding them one after another, on keys empty, with room, at their limit and past it, spent
    or not, windows passing. Each scenario runs on two sets of keys alike: one by one on `a:`, together on `b:`."""
    rng = random.Random(15)
    names = [f"key{i}" for i in range(6)]
    together = storage.attempts._disjoint
    for step in range(120):
        shuffled = rng.sample(names, rng.randint(0, len(names)))
        cuts = sorted(rng.choices(range(len(shuffled) + 1), k=2))
        groups = [shuffled[: cuts[0]], shuffled[cuts[0] : cuts[1]], shuffled[cuts[1] :]][: rng.randint(1, 3)]
        limits = {name: Allowance(rng.randint(1, 3), timedelta(minutes=rng.choice([5, 30]))) for name in names}
        spent = rng.random() < 0.7
        answers = []
        for side, disjoint in (("a", lambda _: False), ("b", together)):
            monkeypatch.setattr(storage.attempts, "_disjoint", disjoint)
            decisions = [{f"{side}:{name}": limits[name] for name in group} for group in groups]
            answers.append(await store.decide_attempts(decisions, spent=spent))
        assert answers[0] == answers[1], (step, groups, spent)
        clock.advance(minutes=rng.choice([0, 1, 4]))
    counts = await store.count_attempts([f"{side}:{name}" for side in "ab" for name in names], since=T0)
    assert [counts[f"a:{name}"] for name in names] == [counts[f"b:{name}"] for name in names]
    assert sum(counts.values()) > 0


async def test_a_busy_workers_connections_are_kept_between_bursts(store: Database) -> None:
    """A worker's connections at its usual peak (its admitted turns, webhooks, the mirror: BUSY at once) stay open
    between bursts. An overflow connection is closed as soon as it is given back, so a pool smaller than that peak
    opened a new connection (a PostgreSQL server process, asyncpg's type introspection) for every few turns."""
    if store.url.get_backend_name() != "postgresql":
        pytest.skip("a SQLite file has no server connections to keep: its writers queue on one lock")
    busy = 24
    pool = store.engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    # Fail rather than wait at the barrier forever if the pool could not even hold `busy` at once.
    assert pool.size() + pool._max_overflow >= busy
    opened: list[object] = []
    sa.event.listen(store.engine.sync_engine, "connect", lambda *_: opened.append(object()))
    at_once = asyncio.Barrier(busy)

    async def transaction() -> None:
        async with store.begin() as conn:
            await at_once.wait()  # every transaction holds its connection at the same moment
            await conn.execute(sa.select(1))

    await asyncio.gather(*(transaction() for _ in range(busy)))
    first_burst = len(opened)
    await asyncio.gather(*(transaction() for _ in range(busy)))
    assert len(opened) == first_burst  # the second burst found every connection it needed already open


# --- the throwaway server itself -----------------------------------------------------------------------------------


def test_without_a_server_the_postgresql_tests_skip_locally_but_fail_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make postgres"):
        missing_server()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="on CI a missing server is an error"):
        missing_server()
