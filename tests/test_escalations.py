from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from inline_snapshot import snapshot

import outbox.service as escalations_module
import storage.escalations as escalation_records
from outbox import (
    Escalation,
    EscalationRequest,
    EscalationService,
    MailSettings,
    SmtpTarget,
    TranscriptMessage,
    build_email,
    check_mail_from,
    check_smtp_url,
    parse_smtp_url,
    reply_address,
)
from storage import Database
from storage.schema import escalations as escalation_table
from tests.fixtures import T0, Clock
from tests.smtp_server import SmtpSink

OPS = "ops@acme.test"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


@pytest.fixture
def closed_port() -> Iterator[socket.socket]:
    """A port nothing listens on (bound, not listening: connections are refused). Close it to free the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


def mail(url: str | None, to: str | None = OPS) -> MailSettings:
    return MailSettings(smtp_url=url, escalation_email=to, mail_from="lumen@acme.test", shop_name="Acme Outdoor")


TRANSCRIPT = [
    TranscriptMessage(speaker="shopper", at=T0, text="where is my order 1042?"),
    TranscriptMessage(speaker="lumen", at=T0 + timedelta(seconds=2), text="It was delivered on November 18."),
    TranscriptMessage(speaker="shopper", at=T0 + timedelta(minutes=1), text="it is not here.\n\nI want a person"),
]


def request(conversation_id: str = "conv-1", order_name: str | None = "#1042", **overrides: str | None):
    values: dict[str, object] = {
        "conversation_id": conversation_id,
        "order_name": order_name,
        "reason": "delivered_not_received",
        "summary": "Tracking says delivered on Nov 18; the parcel is not there. Neighbours checked.",
        "shopper_email": "ann@example.com",
        "transcript": TRANSCRIPT,
        **overrides,
    }
    return EscalationRequest.model_validate(values)


async def escalate_and_send(service: EscalationService, req: EscalationRequest) -> tuple[Escalation, bool]:
    """Escalate, wait for the background send, and return the record as it is then."""
    record, created = await service.escalate(req)
    await service.drain()
    return (await service.get(record.id)) or record, created


# --- SMTP URLs ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:2525", SmtpTarget("127.0.0.1", 2525)),
        ("smtp://mail.acme.test", SmtpTarget("mail.acme.test", 25)),
        (
            "smtp://apikey:s3cr%40t%2F@smtp.acme.test:587",
            SmtpTarget("smtp.acme.test", 587, username="apikey", password="s3cr@t/"),
        ),
        ("smtp://u%40acme.test:pw@h?starttls=1", SmtpTarget("h", 587, "u@acme.test", "pw", start_tls=True)),
        ("smtp://h:2525?starttls=0", SmtpTarget("h", 2525, start_tls=False)),
        ("smtps://u:pw@smtp.acme.test", SmtpTarget("smtp.acme.test", 465, "u", "pw", use_tls=True)),
        ("smtps://h:4650?verify=0", SmtpTarget("h", 4650, use_tls=True, validate_certs=False)),
    ],
)
def test_parse_smtp_url(url: str, expected: SmtpTarget) -> None:
    assert parse_smtp_url(url) == expected


@pytest.mark.parametrize("url", ["http://h:25", "smtp://", "h:25", "smtp://h:notaport"])
def test_parse_smtp_url_rejects_nonsense(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP URL"):
        parse_smtp_url(url)


@pytest.mark.parametrize("url", ["smtp://h:0", "smtp://h:25\r\nx", "smtp://\u0000"])
def test_parse_smtp_url_rejects_what_no_server_listens_on(url: str) -> None:
    with pytest.raises(ValueError, match="SMTP URL"):
        parse_smtp_url(url)


def test_check_smtp_url_keeps_the_url_as_written_and_empty_means_none() -> None:
    assert check_smtp_url("smtp://u%40x:pw@h:2525") == "smtp://u%40x:pw@h:2525"
    assert check_smtp_url("") is None
    assert check_smtp_url(None) is None


# --- addresses ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sender", ["lumen@localhost", "lumen@acme.test", "Support <s@a.test>", '"Acme, Inc." <help@acme.example>']
)
def test_mail_from_accepts_one_mailbox_on_any_domain(sender: str) -> None:
    assert check_mail_from(sender) == sender


@pytest.mark.parametrize(
    "sender",
    [
        "not an address",
        "a@b.com\r\nBcc: x@evil.example",
        "a@b.example, c@d.example",
        "a@b.example; c@d.example",
        "Team: a@b.example, c@d.example;",
        "<>",
        "@b.example",
        # Line and paragraph separators a mail reader may break a header at.
        "a@b.example\u2028Bcc: x@evil.example",
        "a@b.example\u2029",
        "a@b.example\x85",
        "Shop\x0b <a@b.example>",
    ],
)
def test_mail_from_rejects_anything_but_one_mailbox(sender: str) -> None:
    with pytest.raises(ValueError, match="one email address"):
        check_mail_from(sender)


@pytest.mark.parametrize(
    ("given", "reply_to"),
    [
        ("ann@example.com", "ann@example.com"),
        ("Ann Lee <ann@example.com>", "ann@example.com"),
        ("ann@example.com\r\nBcc: thief@evil.example", None),
        ("ann at example dot com", None),
        ("ann@müller.de", "ann@xn--mller-kva.de"),  # an international domain has an ASCII form
        ("jürgen@müller.de", None),  # a non-ASCII local part has none: only with SMTPUTF8 (see test_handoff)
        ("", None),
        (None, None),
    ],
)
def test_reply_address_is_one_deliverable_address_or_none(given: str | None, reply_to: str | None) -> None:
    assert reply_address(given) == reply_to


# --- delivery ---------------------------------------------------------------------------------------------------


async def test_escalation_is_stored_and_emailed_with_transcript(
    db: Database, smtp: SmtpSink, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(escalation_records, "new_escalation_id", lambda: "ESC-7K2P9Q")
    service = EscalationService(db, mail(smtp.url))

    stored, created = await service.escalate(request())
    assert (created, stored.id, stored.email_status) == (True, "ESC-7K2P9Q", "pending")  # stored; sent in background
    await service.drain()
    record = await service.get("ESC-7K2P9Q")

    assert record is not None
    assert (record.email_status, record.attempts, record.last_error, record.sent_at) == ("sent", 1, None, T0)
    assert record.transcript == TRANSCRIPT

    [received] = smtp.received
    assert received.mail_from == "lumen@acme.test"
    assert received.rcpt_tos == [OPS]
    msg = received.message
    assert msg["Subject"] == "[Lumen] ESC-7K2P9Q: delivered_not_received — order #1042"
    assert msg["To"] == OPS
    assert msg["From"] == "Lumen for Acme Outdoor <lumen@acme.test>"
    assert msg["Reply-To"] == "ann@example.com"
    assert msg["X-Lumen-Escalation"] == "ESC-7K2P9Q"
    assert msg["Message-ID"] == "<ESC-7K2P9Q.1795167000@acme.test>"
    assert msg.get_content().replace("\r\n", "\n") == snapshot("""\
A shopper at Acme Outdoor needs a person.

Reference:     ESC-7K2P9Q
Reason:        delivered_not_received
Order:         #1042
Shopper email: ann@example.com (reply to this email to answer them)
Created:       2026-11-20T09:30:00+00:00

Summary
-------
  | Tracking says delivered on Nov 18; the parcel is not there. Neighbours checked.

Transcript
----------
Each message: who wrote it and when, then their words, every line marked with |.

Shopper · 2026-11-20 09:30:00 UTC
  | where is my order 1042?

Lumen · 2026-11-20 09:30:02 UTC
  | It was delivered on November 18.

Shopper · 2026-11-20 09:31:00 UTC
  | it is not here.
  |
  | I want a person
""")


async def test_several_recipients_and_smtp_login(db: Database) -> None:
    with SmtpSink(credentials={"lumen@acme.test": "p@ss/word"}) as sink:
        url = f"smtp://lumen%40acme.test:p%40ss%2Fword@127.0.0.1:{sink.port}"
        service = EscalationService(db, mail(url, to=f"{OPS}, support@acme.test"))
        record, _ = await escalate_and_send(service, request())
        assert record.email_status == "sent"
        [received] = sink.received
    assert received.login == "lumen@acme.test"
    assert received.rcpt_tos == [OPS, "support@acme.test"]


async def test_wrong_smtp_password_is_recorded_not_raised(db: Database) -> None:
    with SmtpSink(credentials={"lumen": "right"}) as sink:
        service = EscalationService(db, mail(f"smtp://lumen:wrong@127.0.0.1:{sink.port}"))
        record, created = await escalate_and_send(service, request())
        assert sink.messages == []
    assert created is True
    assert record.email_status == "failed"
    assert record.last_error is not None
    assert record.last_error.startswith("SMTPAuthenticationError")


async def test_no_order_and_no_shopper_email(db: Database, smtp: SmtpSink) -> None:
    service = EscalationService(db, mail(smtp.url))
    record, _ = await escalate_and_send(
        service, request(order_name=None, shopper_email=None, reason="shopper_asked_for_human")
    )
    [msg] = smtp.messages
    assert msg["Subject"] == f"[Lumen] {record.id}: shopper_asked_for_human"
    assert msg["Reply-To"] is None
    body = msg.get_content()
    assert "Order:         no order" in body
    assert "Shopper email: not given" in body


async def test_shopper_text_cannot_inject_headers(db: Database, smtp: SmtpSink) -> None:
    service = EscalationService(db, mail(smtp.url))
    record, _ = await escalate_and_send(
        service,
        request(shopper_email="ann@example.com\r\nBcc: thief@evil.test", reason="other\r\nBcc: thief@evil.test"),
    )
    assert record.email_status == "sent"
    [received] = smtp.received
    assert received.rcpt_tos == [OPS]
    assert received.message["Bcc"] is None
    assert received.message["Reply-To"] is None  # not a usable address; the text is still in the body
    assert received.message["Subject"] == f"[Lumen] {record.id}: other Bcc: thief@evil.test — order #1042"


async def test_a_non_ascii_shop_name_needs_no_smtputf8(db: Database, smtp: SmtpSink) -> None:
    settings = MailSettings(smtp_url=smtp.url, escalation_email=OPS, mail_from="lumen@acme.test", shop_name="Café Zoë")
    record, _ = await escalate_and_send(EscalationService(db, settings), request())
    assert record.email_status == "sent"
    [msg] = smtp.messages
    assert msg["From"] == "Lumen for Café Zoë <lumen@acme.test>"
    assert msg["Reply-To"] == "ann@example.com"


# --- idempotency -------------------------------------------------------------------------------------------------


async def test_one_escalation_per_conversation_and_order(db: Database, smtp: SmtpSink) -> None:
    service = EscalationService(db, mail(smtp.url))
    first, created = await escalate_and_send(service, request())
    assert created is True

    again, created = await escalate_and_send(service, request(order_name="1042", summary="asked again"))
    assert created is False
    assert again == first  # the stored record, untouched

    other_order, created = await service.escalate(request(order_name="#1043"))
    assert created is True
    other_conversation, created = await service.escalate(request(conversation_id="conv-2"))
    assert created is True
    no_order, created = await service.escalate(request(order_name=None))
    assert created is True
    no_order_again, created = await service.escalate(request(order_name=None))
    assert (no_order_again.id, created) == (no_order.id, False)
    await service.drain()

    ids = {first.id, other_order.id, other_conversation.id, no_order.id}
    assert len(ids) == 4
    assert sorted(m["X-Lumen-Escalation"] for m in smtp.messages) == sorted(ids)


async def test_concurrent_duplicates_store_and_send_once(tmp_path: Path, smtp: SmtpSink, clock: Clock) -> None:
    async with Database(f"sqlite:///{tmp_path / 'lumen.db'}", clock=clock) as database:
        service = EscalationService(database, mail(smtp.url))
        results = await asyncio.gather(*(service.escalate(request()) for _ in range(5)))
        await service.drain()
    assert sorted(created for _, created in results) == [False, False, False, False, True]
    assert len({record.id for record, _ in results}) == 1
    assert len(smtp.messages) == 1


# --- the outbox --------------------------------------------------------------------------------------------------


async def test_smtp_down_then_up_sends_exactly_once(db: Database, clock: Clock, closed_port: socket.socket) -> None:
    port = closed_port.getsockname()[1]
    service = EscalationService(db, mail(f"smtp://127.0.0.1:{port}"))

    record, created = await escalate_and_send(service, request())
    assert created is True
    assert (record.email_status, record.attempts, record.sent_at) == ("failed", 1, None)
    assert record.last_error is not None
    assert record.last_error.startswith("SMTPConnectError")
    assert record.next_attempt_at == T0 + timedelta(seconds=30)
    assert [e.id for e in await service.list_escalations()] == [record.id]  # stored despite the failure

    # Still down, but not due yet: the outbox does not hammer the server.
    assert await service.deliver_pending() == 0
    assert (await service.get(record.id)).attempts == 1  # type: ignore[union-attr]

    closed_port.close()
    with SmtpSink(port=port) as sink:
        clock.advance(seconds=30)
        assert await service.deliver_pending() == 1
        assert await service.deliver_pending() == 0
        clock.advance(hours=5)
        assert await service.deliver_pending() == 0
        [msg] = sink.messages
    assert msg["X-Lumen-Escalation"] == record.id
    sent = await service.get(record.id)
    assert sent is not None
    assert (sent.email_status, sent.attempts, sent.last_error, sent.next_attempt_at) == ("sent", 2, None, None)
    assert sent.sent_at == T0 + timedelta(seconds=30)


async def test_backoff_doubles_up_to_an_hour_and_never_gives_up(
    db: Database, clock: Clock, closed_port: socket.socket
) -> None:
    service = EscalationService(db, mail(f"smtp://127.0.0.1:{closed_port.getsockname()[1]}"))
    record, _ = await escalate_and_send(service, request())
    waits = []
    for _ in range(11):
        current = await service.get(record.id)
        assert current is not None and current.next_attempt_at is not None
        waits.append(current.next_attempt_at - clock.now)
        clock.advance(seconds=(current.next_attempt_at - clock.now).total_seconds())
        assert await service.deliver_pending() == 0
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600)]
    current = await service.get(record.id)
    assert current is not None
    assert (current.attempts, current.email_status, current.next_attempt_at) == (
        12,
        "failed",
        clock.now + timedelta(hours=1),
    )


async def test_not_configured_then_configured(db: Database, smtp: SmtpSink) -> None:
    settings = mail(None, to=None)

    async def current_settings() -> MailSettings:  # what the server does: read the merchant's settings each time
        return settings

    service = EscalationService(db, current_settings)
    record, created = await service.escalate(request())
    assert created is True
    assert (record.email_status, record.attempts, record.last_error) == ("not_configured", 0, None)
    assert await service.deliver_pending() == 0

    settings = mail(smtp.url, to=None)  # half-configured is still not configured
    assert await service.deliver_pending() == 0
    assert (await service.get(record.id)).email_status == "not_configured"  # type: ignore[union-attr]

    settings = mail(smtp.url)
    assert await service.deliver_pending() == 1
    assert await service.deliver_pending() == 0
    [msg] = smtp.messages
    assert msg["X-Lumen-Escalation"] == record.id
    assert (await service.get(record.id)).email_status == "sent"  # type: ignore[union-attr]


async def test_broken_settings_source_never_loses_the_escalation(db: Database, smtp: SmtpSink) -> None:
    broken = True

    async def current_settings() -> MailSettings:
        if broken:
            raise RuntimeError("settings table unreadable")
        return mail(smtp.url)

    service = EscalationService(db, current_settings)
    record, created = await escalate_and_send(service, request())
    assert (created, record.email_status, record.attempts) == (True, "pending", 0)

    broken = False
    assert await service.deliver_pending() == 1
    assert len(smtp.messages) == 1


async def test_a_send_interrupted_midway_is_retried_after_the_lease(
    db: Database, smtp: SmtpSink, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_send = escalations_module.send_email

    async def cancelled_send(*args: object, **kwargs: object) -> None:
        raise asyncio.CancelledError  # the server shut down (or the process died) while sending

    monkeypatch.setattr(escalations_module, "send_email", cancelled_send)
    service = EscalationService(db, mail(smtp.url))
    record, created = await escalate_and_send(service, request())
    assert created is True
    assert (record.email_status, record.attempts, record.next_attempt_at) == ("sending", 1, T0 + timedelta(minutes=5))

    monkeypatch.setattr(escalations_module, "send_email", real_send)
    assert await service.deliver_pending() == 0  # another worker may still be sending it
    clock.advance(minutes=5)
    assert await service.deliver_pending() == 1
    assert len(smtp.messages) == 1


async def test_a_send_longer_than_its_lease_renews_it_so_no_other_worker_sends_it_too(
    db: Database, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease's renewal, fired by hand (no time passes but the test's clock): a mail server slower than the lease
    does not make a second worker send the same email while the first is still sending it."""
    started, finish = asyncio.Event(), asyncio.Event()
    sent: list[str] = []

    async def slow_send(escalation: Escalation, *_: object, **__: object) -> None:
        if not started.is_set():  # the first send hangs until the test lets it finish
            started.set()
            await finish.wait()
        sent.append(escalation.id)

    pauses: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def pause(delay_s: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pauses.put_nowait((delay_s, woken))
        await woken

    monkeypatch.setattr(escalations_module, "send_email", slow_send)
    settings = mail("smtp://127.0.0.1:2525")
    first = EscalationService(db, settings, lease_pause=pause)
    second = EscalationService(db, settings)  # another worker's outbox
    record, _ = await first.escalate(request())
    await started.wait()
    for _ in range(2):
        delay, wake = await pauses.get()
        assert delay == first.lease.total_seconds() / 3
        clock.advance(seconds=delay)
        wake.set_result(None)  # renewed now, for a whole lease from here
    _delay, wake = await pauses.get()  # (the second renewal is written)
    clock.advance(seconds=first.lease.total_seconds() - 1)  # past both earlier leases
    assert await second.deliver_pending() == 0  # still the first worker's
    finish.set()
    await first.drain()
    assert wake.cancelled()  # no renewal once the send is over
    assert sent == [record.id]
    done = await first.get(record.id)
    assert done is not None and (done.email_status, done.attempts) == ("sent", 1)
    assert await second.deliver_pending() == 0


async def test_closing_lets_a_send_under_way_finish(db: Database, smtp: SmtpSink) -> None:
    """A terminal chat's loop runs only between turns: what it escalated last goes out when it closes."""
    service = EscalationService(db, mail(smtp.url))
    record, _ = await service.escalate(request())
    await service.aclose(grace_s=service.send_timeout_s)
    assert [m["X-Lumen-Escalation"] for m in smtp.messages] == [record.id]
    assert (await service.get(record.id)).email_status == "sent"  # type: ignore[union-attr]


async def test_concurrent_outbox_rounds_send_once(
    tmp_path: Path, clock: Clock, closed_port: socket.socket, smtp: SmtpSink
) -> None:
    settings = mail(f"smtp://127.0.0.1:{closed_port.getsockname()[1]}")

    async def current_settings() -> MailSettings:
        return settings

    async with Database(f"sqlite:///{tmp_path / 'lumen.db'}", clock=clock) as database:
        service = EscalationService(database, current_settings)
        for i in range(3):
            await service.escalate(request(conversation_id=f"conv-{i}"))
        await service.drain()
        settings = mail(smtp.url)
        clock.advance(minutes=1)
        assert sum(await asyncio.gather(*(service.deliver_pending() for _ in range(4)))) == 3
        stored = [e.id for e in await service.list_escalations()]
    assert sorted(m["X-Lumen-Escalation"] for m in smtp.messages) == sorted(stored)
    assert len(smtp.messages) == 3


async def test_run_outbox_keeps_going_after_errors_and_stops_when_cancelled(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = EscalationService(db, mail(None))
    calls = 0
    third_round = asyncio.Event()

    async def deliver_pending() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database briefly unavailable")
        if calls == 3:
            third_round.set()
        return 1

    monkeypatch.setattr(service, "deliver_pending", deliver_pending)
    task = asyncio.create_task(service.run_outbox(interval_s=0))
    await asyncio.wait_for(third_round.wait(), timeout=60)  # a hang guard: the rounds run back to back
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls >= 3


# --- listing and restarts ----------------------------------------------------------------------------------------


async def test_list_newest_first_and_get(db: Database, clock: Clock) -> None:
    service = EscalationService(db, mail(None))
    ids = []
    for i in range(3):
        record, _ = await service.escalate(request(conversation_id=f"conv-{i}"))
        ids.append(record.id)
        clock.advance(minutes=1)
    assert [e.id for e in await service.list_escalations()] == ids[::-1]
    assert [e.id for e in await service.list_escalations(limit=2)] == [ids[2], ids[1]]
    fetched = await service.get(ids[0])
    assert fetched is not None
    assert (fetched.conversation_id, fetched.order_name, fetched.created_at) == ("conv-0", "#1042", T0)
    assert fetched.created_at.tzinfo is UTC
    assert await service.get("ESC-NOPE00") is None


async def test_restart_keeps_escalations_and_delivers_them_later(tmp_path: Path, clock: Clock, smtp: SmtpSink) -> None:
    url = f"sqlite:///{tmp_path / 'lumen.db'}"
    async with Database(url, clock=clock) as first:
        record, _ = await EscalationService(first, mail(None)).escalate(request())

    async with Database(url, clock=clock) as second:
        service = EscalationService(second, mail(smtp.url))
        assert await service.list_escalations() == [record]
        again, created = await service.escalate(request())  # still idempotent after a restart
        assert (again.id, created) == (record.id, False)
        assert await service.deliver_pending() == 1
        assert (await service.get(record.id)).email_status == "sent"  # type: ignore[union-attr]
        assert await second.stats() == {
            "conversations": 0,
            "verified_lookups": 0,
            "escalations": 1,
            "conversations_escalated": 0,
            "answered_without_human": 1.0,
        }
    assert len(smtp.messages) == 1


async def test_a_plain_text_transcript_from_an_earlier_version_is_one_unattributed_block(
    db: Database, smtp: SmtpSink
) -> None:
    """Rows written before transcripts were structured keep their text, and none of it is read as Lumen's."""
    record = await db.insert_escalation(request(), order_key="1042")
    assert record is not None
    async with db.begin() as conn:
        await conn.execute(
            sa.update(escalation_table)
            .where(escalation_table.c.id == record.id)
            .values(transcript="Shopper: where is it?\nLumen: It was delivered.")
        )
    stored = await db.get_escalation(record.id)
    assert stored is not None
    assert [(m.speaker, m.text) for m in stored.transcript] == [
        ("unattributed", "Shopper: where is it?\nLumen: It was delivered.")
    ]
    body = build_email(stored, mail(smtp.url)).get_content()
    assert "\n  | Lumen: It was delivered.\n" in body
    assert "\nLumen" not in body


def test_mail_from_keeps_its_display_name() -> None:
    escalation = Escalation(
        id="ESC-7K2P9Q", conversation_id="c", order_name="#1", reason="other", summary="s", shopper_email=None,
        transcript=[], created_at=T0, email_status="pending", attempts=0, last_error=None, sent_at=None,
    )  # fmt: skip
    msg = build_email(
        escalation, MailSettings(smtp_url="smtp://h", escalation_email=OPS, mail_from="Support <s@a.test>")
    )
    assert msg["From"] == "Support <s@a.test>"
    assert msg["Message-ID"] == "<ESC-7K2P9Q.1795167000@a.test>"
