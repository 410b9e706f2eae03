"""Escalation delivery: `EscalationService` stores each escalation, then emails it (now, or later from the outbox)."""

from __future__ import annotations

from outbox.mail import (
    MailFrom,
    MailSettings,
    SmtpTarget,
    SmtpUrl,
    build_email,
    check_mail_from,
    check_smtp_url,
    parse_smtp_url,
    reply_address,
    send_email,
)
from outbox.service import EscalationBusy, EscalationService, MailSource, default_backoff
from storage.escalations import EmailStatus, Escalation, EscalationRequest, TranscriptMessage

__all__ = [
    "EmailStatus",
    "Escalation",
    "EscalationBusy",
    "EscalationRequest",
    "EscalationService",
    "MailFrom",
    "MailSettings",
    "MailSource",
    "SmtpTarget",
    "SmtpUrl",
    "TranscriptMessage",
    "build_email",
    "check_mail_from",
    "check_smtp_url",
    "default_backoff",
    "parse_smtp_url",
    "reply_address",
    "send_email",
]
