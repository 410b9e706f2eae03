"""Escalations: a shopper's case handed to the merchant's support team, stored first and emailed from an outbox.

An escalation is written to the database before any email is attempted, so a down mail server never loses one, and
the shopper's turn never waits on the mail server: `escalate` returns once the record is stored and sends it in the
background. Whatever does not go out then is retried by `deliver_pending`, which the server runs in a loop, with a
backoff capped at an hour, until it is sent or the merchant cancels it; the merchant can also resend one now. Every
send first leases the row (`claim_escalation`), so each email goes out once however many loops and servers run. The
SQL is in `storage.escalations`, the email in `outbox.mail`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from outbox.mail import MailSettings, send_email
from shopify.names import order_key
from storage import Database
from storage.escalations import Escalation, EscalationRequest

log = logging.getLogger("lumen.escalations")

MailSource = MailSettings | Callable[[], Awaitable[MailSettings]]
MAX_BACKOFF = timedelta(hours=1)


def default_backoff(attempts: int) -> timedelta:
    """Wait after the n-th failed attempt: 30 s, 1, 2, 4, 8, 16, 32 min, then hourly for as long as it takes."""
    if attempts > 8:  # 30 s * 2**7 is already past the cap; no ever-growing powers of two
        return MAX_BACKOFF
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}"[:500] if text else type(exc).__name__


class EscalationBusy(Exception):
    """The merchant's cancel or resend came while the email is being sent, or (cancel) after it was sent."""


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
        lease_pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self._mail = mail
        self.clock = clock or db.clock
        self.backoff = backoff
        self.send_timeout_s = send_timeout_s
        # While one worker sends, the row is leased: nobody else picks it up before the lease ends
        # (and if that worker died mid-send, the outbox tries again after it). The sender renews it every third of
        # it while the send lasts (`_send_holding`), so a send slower than the lease is not sent a second time.
        self.lease = lease
        self._lease_pause = lease_pause  # the wait between renewals (a test's own, to drive them by hand)
        # Sends started in the background; held here so they are not garbage-collected mid-send.
        self._sending: set[asyncio.Task[None]] = set()

    async def mail_settings(self) -> MailSettings:
        if isinstance(self._mail, MailSettings):
            return self._mail
        result = self._mail()
        return await result if inspect.isawaitable(result) else result

    async def escalate(self, req: EscalationRequest) -> tuple[Escalation, bool]:
        """Store the escalation and start emailing it in the background. Returns the record and whether it is new.

        The same conversation and order escalate once: a repeat returns the existing record and False. Nothing here
        waits on the mail server, and delivery problems never raise: they are recorded on the escalation.
        """
        key = order_key(req.order_name)
        stored = await self.db.insert_escalation(req, order_key=key)
        if stored is None:
            existing = await self.db.find_escalation(req.conversation_id, key)
            assert existing is not None
            return existing, False
        return await self._start_sending(stored), True

    async def deliver_pending(self) -> int:
        """One outbox round: email every escalation that is due. Returns how many were sent."""
        mail = await self.mail_settings()
        if not mail.configured:
            return 0
        sent = 0
        for esc in await self.db.due_escalations(self.clock()):
            if await self._deliver(esc, mail):
                sent += 1
        return sent

    async def run_outbox(self, interval_s: float = 30) -> None:
        """Deliver pending escalations every `interval_s` until cancelled (run it in the server's lifespan)."""
        while True:
            try:
                sent = await self.deliver_pending()
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

    async def cancel(self, id: str) -> Escalation | None:
        """The merchant's cancel: never email it. None if unknown; EscalationBusy if it is sent or being sent."""
        if not await self.db.cancel_escalation(id, self.clock()):
            current = await self.get(id)
            if current is None:
                return None
            if current.email_status != "cancelled":
                raise EscalationBusy(f"{id} is {'already sent' if current.email_status == 'sent' else 'being sent'}.")
        return await self.get(id)

    async def resend(self, id: str) -> Escalation | None:
        """The merchant's resend: email it now (again, if it was sent or cancelled), in the background.

        None if unknown; EscalationBusy if it is being sent right now.
        """
        if not await self.db.resend_escalation(id, self.clock()):
            if await self.get(id) is None:
                return None
            raise EscalationBusy(f"{id} is being sent right now.")
        current = await self.get(id)
        return await self._start_sending(current) if current is not None else None

    @property
    def sending(self) -> int:
        """How many emails are being sent in the background right now."""
        return len(self._sending)

    async def drain(self) -> None:
        """Wait for the emails being sent in the background (tests; a graceful shutdown)."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)

    async def aclose(self, *, grace_s: float = 0.0) -> None:
        """Let the background sends finish for up to `grace_s` seconds, then stop them. A send cut short keeps its
        lease, and the outbox sends it once the lease runs out."""
        if self._sending and grace_s > 0:
            await asyncio.wait(set(self._sending), timeout=grace_s)
        for task in list(self._sending):
            task.cancel()
        await self.drain()

    async def _start_sending(self, esc: Escalation) -> Escalation:
        """Email it in the background, or record at once that mail is not set up. Returns the record as it is now."""
        try:
            mail = await self.mail_settings()
        except Exception:  # the record is safe in the database; the outbox will try again
            log.exception("escalation %s: mail settings unreadable; the outbox will send it", esc.id)
            return esc
        if not mail.configured:
            await self.db.mark_escalation_not_configured(esc.id)
            return (await self.get(esc.id)) or esc
        self._send_soon(esc)
        return esc

    def _send_soon(self, esc: Escalation) -> None:
        task = asyncio.create_task(self._send_in_background(esc), name=f"email {esc.id}")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send_in_background(self, esc: Escalation) -> None:
        try:
            await self._deliver(esc, await self.mail_settings())
        except Exception:  # the record is safe in the database; the outbox will try again
            log.exception("escalation %s: delivery attempt failed unexpectedly", esc.id)

    async def _deliver(self, esc: Escalation, mail: MailSettings) -> bool:
        """Claim the escalation and email it. True if this call sent it."""
        if not mail.configured:
            await self.db.mark_escalation_not_configured(esc.id)
            return False
        now = self.clock()
        if not await self.db.claim_escalation(esc, now, until=now + self.lease):
            return False
        attempt = esc.attempts + 1
        try:
            await self._send_holding(esc, mail, attempt)
        except Exception as exc:
            log.warning("escalation %s: email attempt %d failed: %s", esc.id, attempt, _error_text(exc))
            retry_at = self.clock() + self.backoff(attempt)
            await self.db.mark_escalation_failed(esc.id, attempt, _error_text(exc), retry_at=retry_at)
            return False
        await self.db.mark_escalation_sent(esc.id, attempt, self.clock())
        return True

    async def _send_holding(self, esc: Escalation, mail: MailSettings, attempt: int) -> None:
        """Send, renewing the lease on the row until the send ends (before its outcome is written)."""
        renewal = asyncio.create_task(self._renew_lease(esc.id, attempt), name=f"lease {esc.id}")
        try:
            await send_email(esc, mail, timeout_s=self.send_timeout_s)
        finally:
            renewal.cancel()
            await asyncio.gather(renewal, return_exceptions=True)

    async def _renew_lease(self, id: str, attempt: int) -> None:
        while True:
            await self._lease_pause(self.lease.total_seconds() / 3)
            try:
                await self.db.renew_escalation(id, attempt, until=self.clock() + self.lease)
            except Exception:  # a database hiccup: the lease runs on, and the next renewal tries again
                log.warning("escalation %s: could not renew the lease on its send", id, exc_info=True)
