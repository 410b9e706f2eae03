"""Escalations: a shopper's case handed to the merchant's support team, stored first and emailed from an outbox.

An escalation is written to the database before any email is attempted, so a down mail server never loses one.
Delivery then happens once right away and, if that fails (or mail is not configured yet), from `deliver_pending`,
which the server runs in a loop with exponential backoff between attempts. The SQL is in `storage.escalations`,
the email in `outbox.mail`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from outbox.mail import MailSettings, build_email, send_email
from shopify.names import order_key
from storage import Database
from storage.escalations import Escalation, EscalationRequest

log = logging.getLogger("lumen.escalations")

MailSource = MailSettings | Callable[[], Awaitable[MailSettings]]


def default_backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly."""
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


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
        key = order_key(req.order_name)
        stored = await self.db.insert_escalation(req, order_key=key)
        if stored is None:
            existing = await self.db.find_escalation(req.conversation_id, key)
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
        sent = 0
        for esc in await self.db.due_escalations(self.clock(), max_attempts=max_attempts):
            if await self._deliver(esc, mail, max_attempts=max_attempts):
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
        return await self.db.list_escalations(limit=limit, offset=offset)

    async def get(self, id: str) -> Escalation | None:
        return await self.db.get_escalation(id)

    async def _deliver(self, esc: Escalation, mail: MailSettings, *, max_attempts: int) -> bool:
        """Claim the escalation and email it. True if this call sent it."""
        if not mail.configured:
            await self.db.mark_escalation_not_configured(esc.id)
            return False
        now = self.clock()
        if not await self.db.claim_escalation(esc, now, until=now + self.lease, max_attempts=max_attempts):
            return False
        attempts = esc.attempts + 1
        try:
            await send_email(build_email(esc, mail), mail.smtp_url or "", timeout_s=self.send_timeout_s)
        except Exception as exc:
            log.warning("escalation %s: email attempt %d failed: %s", esc.id, attempts, _error_text(exc))
            retry_at = self.clock() + self.backoff(attempts)
            await self.db.mark_escalation_failed(esc.id, _error_text(exc), retry_at=retry_at)
            return False
        await self.db.mark_escalation_sent(esc.id, self.clock())
        return True
