"""Escalations: a shopper's case handed to the merchant's support team, stored first and emailed from an outbox.

An escalation is written to the database before any email is attempted, so a down mail server never loses one.
Delivery then happens once right away and, if that fails (or mail is not configured yet), from `deliver_pending`,
which the server runs in a loop with exponential backoff between attempts.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import sqlalchemy as sa
from pydantic import BaseModel

from storage.database import Database, escalations

log = logging.getLogger("lumen.escalations")

EmailStatus = Literal["pending", "sent", "failed", "not_configured"]
_RETRYABLE: tuple[EmailStatus, ...] = ("pending", "failed", "not_configured")

# No 0/O, 1/I/L or U: references are read aloud and typed from emails.
_ID_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_LENGTH = 6


class EscalationRequest(BaseModel):
    conversation_id: str
    order_name: str | None = None
    reason: str
    summary: str
    shopper_email: str | None = None
    transcript: str


class Escalation(BaseModel):
    id: str
    conversation_id: str
    order_name: str | None
    reason: str
    summary: str
    shopper_email: str | None
    transcript: str
    created_at: datetime
    email_status: EmailStatus
    attempts: int
    last_error: str | None
    sent_at: datetime | None
    next_attempt_at: datetime | None = None


class MailSettings(BaseModel):
    smtp_url: str | None = None
    escalation_email: str | None = None
    mail_from: str = "lumen@localhost"
    shop_name: str = "our store"

    @property
    def configured(self) -> bool:
        return bool(self.smtp_url and self.recipients)

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in (self.escalation_email or "").split(",") if a.strip()]


MailSource = MailSettings | Callable[[], Awaitable[MailSettings]]


def new_escalation_id() -> str:
    return "ESC-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))


def order_key(order_name: str | None) -> str:
    """The idempotency key of an order: '#1234', '1234' and ' #1234 ' are the same order; no order is ''."""
    return (order_name or "").strip().lstrip("#").strip().upper()


def default_backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


# --- SMTP ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None
    validate_certs: bool = True


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:port` or `smtps://...` (implicit TLS). User and password are percent-decoded.

    smtp:// upgrades with STARTTLS when the server offers it; `?starttls=1` insists on it (fails without it),
    `?starttls=0` never upgrades. `?verify=0` accepts a self-signed certificate.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP URL must look like smtp://user:pass@host:port or smtps://...")
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    start_tls: bool | None = None
    if scheme == "smtp" and "starttls" in query:
        if query["starttls"] in _TRUE:
            start_tls = True
        elif query["starttls"] in _FALSE:
            start_tls = False
    use_tls = scheme == "smtps"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("SMTP URL has an invalid port") from exc
    if port is None:
        port = 465 if use_tls else 587 if start_tls else 25
    return SmtpTarget(
        hostname=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=use_tls,
        start_tls=start_tls,
        validate_certs=query.get("verify", "1") not in _FALSE,
    )


def _one_line(text: str, limit: int = 200) -> str:
    """Header-safe: no CR/LF (header injection), collapsed whitespace, bounded length."""
    return " ".join(text.split())[:limit]


_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+")


def _plain_address(value: str | None) -> str | None:
    if not value or "\n" in value or "\r" in value:
        return None
    _, address = parseaddr(value)
    return address if _ADDRESS.fullmatch(address) else None


def build_email(escalation: Escalation, mail: MailSettings) -> EmailMessage:
    order = escalation.order_name or "no order"
    subject = f"[Lumen] {escalation.id}: {_one_line(escalation.reason, 80)}"
    if escalation.order_name:
        subject += f" — order {_one_line(escalation.order_name, 40)}"
    shopper = _plain_address(escalation.shopper_email)
    from_name, from_address = parseaddr(mail.mail_from)
    from_address = from_address or mail.mail_from
    domain = from_address.rpartition("@")[2] or "lumen.invalid"

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = formataddr((_one_line(from_name or f"Lumen for {mail.shop_name}", 80), from_address))
    msg["To"] = ", ".join(mail.recipients)
    if shopper:
        msg["Reply-To"] = shopper
    msg["Date"] = format_datetime(escalation.created_at)
    # Stable across retries, so a mail system that sees a retry as a duplicate can drop it.
    msg["Message-ID"] = f"<{escalation.id}.{int(escalation.created_at.timestamp())}@{domain}>"
    msg["X-Lumen-Escalation"] = escalation.id
    # No conversation id here: whoever holds it could go on reading the conversation's orders in the widget.

    reply_hint = " (reply to this email to answer them)" if shopper else ""
    body = [
        f"A shopper at {mail.shop_name} needs a person.",
        "",
        f"Reference:     {escalation.id}",
        f"Reason:        {escalation.reason}",
        f"Order:         {order}",
        f"Shopper email: {escalation.shopper_email or 'not given'}{reply_hint}",
        f"Created:       {escalation.created_at.isoformat()}",
        "",
        "Summary",
        "-------",
        escalation.summary.strip(),
        "",
        "Transcript",
        "----------",
        escalation.transcript.strip(),
        "",
    ]
    msg.set_content("\n".join(body))
    return msg


async def send_email(message: EmailMessage, smtp_url: str, *, timeout_s: float) -> None:
    target = parse_smtp_url(smtp_url)
    await aiosmtplib.send(
        message,
        hostname=target.hostname,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        validate_certs=target.validate_certs,
        timeout=timeout_s,
    )


# --- the service -------------------------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


class EscalationService:
    """Records escalations and emails them to the merchant; `run_outbox` retries the ones that did not go out."""

    def __init__(
        self,
        db: Database,
        mail: MailSource,
        *,
        clock: Callable[[], datetime] | None = None,
        backoff: Callable[[int], timedelta] = default_backoff,
        send_timeout_s: float = 10.0,
        lease: timedelta = timedelta(minutes=5),
    ) -> None:
        self.db = db
        self._mail = mail
        self.clock = clock or db.clock
        self.backoff = backoff
        self.send_timeout_s = send_timeout_s
        # While one worker sends, the row is leased: nobody else picks it up before the lease ends
        # (and if that worker died mid-send, the outbox tries again after it).
        self.lease = lease

    async def mail_settings(self) -> MailSettings:
        if isinstance(self._mail, MailSettings):
            return self._mail
        result = self._mail()
        return await result if inspect.isawaitable(result) else result

    async def escalate(self, req: EscalationRequest, *, max_attempts: int = 8) -> tuple[Escalation, bool]:
        """Store the escalation, then try to email it once. Returns the record and whether it is new.

        The same conversation and order escalate once: a repeat returns the existing record and False.
        Delivery problems never raise; they are recorded on the escalation for the outbox and the admin page.
        """
        stored = await self._insert(req)
        if stored is None:
            existing = await self._find(req.conversation_id, order_key(req.order_name))
            assert existing is not None
            return existing, False
        try:
            await self._deliver(stored, await self.mail_settings(), max_attempts=max_attempts)
        except Exception:  # the record is safe in the database; the outbox will try again
            log.exception("escalation %s: delivery attempt failed unexpectedly", stored.id)
        return (await self.get(stored.id)) or stored, True

    async def deliver_pending(self, max_attempts: int = 8) -> int:
        """One outbox round: email every escalation that is due. Returns how many were sent."""
        mail = await self.mail_settings()
        if not mail.configured:
            return 0
        now = self.clock()
        stmt = (
            sa.select(escalations)
            .where(self._due(now, max_attempts))
            .order_by(escalations.c.created_at, escalations.c.id)
        )
        async with self.db.begin() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        sent = 0
        for row in rows:
            if await self._deliver(_escalation(row), mail, max_attempts=max_attempts):
                sent += 1
        return sent

    async def run_outbox(self, interval_s: float = 30, max_attempts: int = 8) -> None:
        """Deliver pending escalations every `interval_s` until cancelled (run it in the server's lifespan)."""
        while True:
            try:
                sent = await self.deliver_pending(max_attempts=max_attempts)
                if sent:
                    log.info("outbox: sent %d escalation email(s)", sent)
            except Exception:
                log.exception("outbox round failed; trying again in %s s", interval_s)
            await asyncio.sleep(interval_s)

    async def list_escalations(self, limit: int = 100, offset: int = 0) -> list[Escalation]:
        """Newest first."""
        stmt = (
            sa.select(escalations)
            .order_by(escalations.c.created_at.desc(), escalations.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        async with self.db.begin() as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [_escalation(row) for row in rows]

    async def get(self, id: str) -> Escalation | None:
        async with self.db.begin() as conn:
            row = (await conn.execute(sa.select(escalations).where(escalations.c.id == id))).mappings().first()
        return _escalation(row) if row else None

    # --- internals -----------------------------------------------------------------------------------------------

    async def _insert(self, req: EscalationRequest) -> Escalation | None:
        """Insert with a fresh id; None if this conversation already escalated this order."""
        key = order_key(req.order_name)
        for _ in range(5):
            values: dict[str, Any] = {
                **req.model_dump(),
                "id": new_escalation_id(),
                "order_key": key,
                "created_at": self.clock(),
                "email_status": "pending",
                "attempts": 0,
            }
            try:
                async with self.db.begin() as conn:
                    await conn.execute(sa.insert(escalations).values(values))
            except sa.exc.IntegrityError:
                if await self._find(req.conversation_id, key) is not None:
                    return None
                continue  # the random id collided with another escalation's: draw again
            return _escalation(values)
        raise RuntimeError("could not allocate a unique escalation id")

    async def _find(self, conversation_id: str, key: str) -> Escalation | None:
        stmt = sa.select(escalations).where(
            escalations.c.conversation_id == conversation_id, escalations.c.order_key == key
        )
        async with self.db.begin() as conn:
            row = (await conn.execute(stmt)).mappings().first()
        return _escalation(row) if row else None

    @staticmethod
    def _due(now: datetime, max_attempts: int) -> sa.ColumnElement[bool]:
        return sa.and_(
            escalations.c.email_status.in_(_RETRYABLE),
            escalations.c.attempts < max_attempts,
            sa.or_(escalations.c.next_attempt_at.is_(None), escalations.c.next_attempt_at <= now),
        )

    async def _update(self, id: str, **values: Any) -> None:
        async with self.db.begin() as conn:
            await conn.execute(sa.update(escalations).where(escalations.c.id == id).values(**values))

    async def _deliver(self, esc: Escalation, mail: MailSettings, *, max_attempts: int) -> bool:
        """Claim the escalation and email it. True if this call sent it."""
        if not mail.configured:
            await self._update(esc.id, email_status="not_configured", next_attempt_at=None)
            return False
        now = self.clock()
        claim = (
            sa.update(escalations)
            # `attempts` as read: if another worker claimed it in between, this matches nothing.
            .where(escalations.c.id == esc.id, escalations.c.attempts == esc.attempts, self._due(now, max_attempts))
            .values(attempts=esc.attempts + 1, last_attempt_at=now, next_attempt_at=now + self.lease)
        )
        async with self.db.begin() as conn:
            if (await conn.execute(claim)).rowcount != 1:
                return False
        attempts = esc.attempts + 1
        try:
            await send_email(build_email(esc, mail), mail.smtp_url or "", timeout_s=self.send_timeout_s)
        except Exception as exc:
            log.warning("escalation %s: email attempt %d failed: %s", esc.id, attempts, _error_text(exc))
            failed_at = self.clock()
            await self._update(
                esc.id,
                email_status="failed",
                last_error=_error_text(exc),
                next_attempt_at=failed_at + self.backoff(attempts),
            )
            return False
        await self._update(esc.id, email_status="sent", sent_at=self.clock(), last_error=None, next_attempt_at=None)
        return True


def _escalation(row: Any) -> Escalation:
    return Escalation.model_validate({name: row.get(name) for name in Escalation.model_fields})
