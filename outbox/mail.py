"""The escalation email: where it goes (SMTP URL, `MailSettings`), what it says (`build_email`), and sending it.

Addresses are checked by libraries, not by hand: the shopper's reply address by pydantic's `NameEmail`
(email-validator), the sender by the same RFC 5322 parser that then writes the From header.
"""

from __future__ import annotations

import email.policy
import unicodedata
from dataclasses import dataclass
from email.headerregistry import Address, AddressHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Annotated
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, BaseModel, NameEmail, TypeAdapter, ValidationError

from outbox.transcript import email_transcript, quoted
from storage.escalations import Escalation

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_SMTP_URL_HINT = "SMTP URL must look like smtp://user:pass@host:port or smtps://..."
_MAILBOX_HINT = "must be one email address, optionally with a name: 'Shop <help@shop.example>'"


def _has_control_characters(value: str) -> bool:
    """Control characters and line or paragraph separators (U+2028, U+2029, NEL...): a mail reader may break a line
    at any of them, so none belongs in a header."""
    return any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value)


# --- SMTP URL ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool | None = None
    validate_certs: bool = True


def _start_tls(scheme: str, query: dict[str, str]) -> bool | None:
    if scheme != "smtp" or "starttls" not in query:
        return None
    if query["starttls"] in _TRUE:
        return True
    if query["starttls"] in _FALSE:
        return False
    return None


def parse_smtp_url(url: str) -> SmtpTarget:
    """`smtp://user:pass@host:port` or `smtps://...` (implicit TLS). User and password are percent-decoded.

    smtp:// upgrades with STARTTLS when the server offers it; `?starttls=1` insists on it (fails without it),
    `?starttls=0` never upgrades. `?verify=0` accepts a self-signed certificate. ValueError if it is not one.
    """
    if _has_control_characters(url):
        raise ValueError("SMTP URL must not contain control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(_SMTP_URL_HINT)
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    start_tls = _start_tls(scheme, query)
    use_tls = scheme == "smtps"
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("SMTP URL has an invalid port") from exc
    if port is None:
        port = 465 if use_tls else 587 if start_tls else 25
    if not 0 < port < 65536:
        raise ValueError("SMTP URL needs a port between 1 and 65535, e.g. smtp://user:pass@mail.example:587")
    return SmtpTarget(
        hostname=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        use_tls=use_tls,
        start_tls=start_tls,
        validate_certs=query.get("verify", "1") not in _FALSE,
    )


def check_smtp_url(value: str | None) -> str | None:
    """A pydantic validator: an SMTP URL `parse_smtp_url` accepts, kept as written; empty means none."""
    if not value:
        return None
    parse_smtp_url(value)
    return value


# --- addresses -----------------------------------------------------------------------------------------------------

_HEADERS = HeaderRegistry()
_NAME_EMAIL = TypeAdapter(NameEmail)


def parse_mailbox(value: str) -> Address:
    """One mailbox, optionally named ('Shop <help@shop.example>'), as the email library reads a From header.

    Not pydantic's `NameEmail`: email-validator refuses any domain that cannot be reached from the internet, and
    the sender is often exactly that (the default `lumen@localhost`, a relay on `mail.test`).
    """
    if _has_control_characters(value):
        raise ValueError(_MAILBOX_HINT)
    header = _HEADERS("From", value)
    addresses = header.addresses if isinstance(header, AddressHeader) else ()
    if header.defects or len(addresses) != 1 or not addresses[0].username or not addresses[0].domain:
        raise ValueError(_MAILBOX_HINT)
    return addresses[0]


def check_mail_from(value: str) -> str:
    """A pydantic validator for the sender address: one mailbox (see `parse_mailbox`), kept as written."""
    parse_mailbox(value)
    return value


@dataclass(frozen=True)
class ReplyTo:
    """The shopper's address as a Reply-To header: `address`, or None and why not (`needs_smtputf8`)."""

    address: str | None
    needs_smtputf8: bool = False


def reply_to(value: str | None, *, smtputf8: bool) -> ReplyTo:
    """The shopper's address for Reply-To, if what they gave is one deliverable address.

    An international domain goes out in its ASCII form (punycode). A non-ASCII local part (`jürgen@müller.de`) has
    none: it can only be written with SMTPUTF8, so it is used only when the mail server offers SMTPUTF8.
    """
    if not value:
        return ReplyTo(None)
    try:
        parsed = validate_email(_NAME_EMAIL.validate_python(value).email, check_deliverability=False)
    except (ValidationError, EmailNotValidError):
        return ReplyTo(None)
    if parsed.ascii_email:
        return ReplyTo(parsed.ascii_email)
    return ReplyTo(parsed.normalized) if smtputf8 else ReplyTo(None, needs_smtputf8=True)


def reply_address(value: str | None, *, smtputf8: bool = False) -> str | None:
    """The shopper's address for Reply-To, or None if it cannot be one (see `reply_to`)."""
    return reply_to(value, smtputf8=smtputf8).address


SmtpUrl = Annotated[str | None, AfterValidator(check_smtp_url)]
MailFrom = Annotated[str, AfterValidator(check_mail_from)]


class MailSettings(BaseModel):
    smtp_url: SmtpUrl = None
    escalation_email: str | None = None
    mail_from: MailFrom = "lumen@localhost"
    shop_name: str = "our store"

    @property
    def configured(self) -> bool:
        return bool(self.smtp_url and self.recipients)

    @property
    def recipients(self) -> list[str]:
        return [a.strip() for a in (self.escalation_email or "").split(",") if a.strip()]


# --- the message ---------------------------------------------------------------------------------------------------


def _one_line(text: str, limit: int = 200) -> str:
    """Header-safe: no CR/LF (header injection), collapsed whitespace, bounded length."""
    return " ".join(text.split())[:limit]


def _reply_hint(reply: ReplyTo) -> str:
    if reply.address:
        return " (reply to this email to answer them)"
    if reply.needs_smtputf8:
        return (
            " (not set as Reply-To: this mail server does not accept international addresses (SMTPUTF8);"
            " write to the address yourself)"
        )
    return ""


def _body(escalation: Escalation, mail: MailSettings, reply: ReplyTo) -> str:
    lines = [
        f"A shopper at {mail.shop_name} needs a person.",
        "",
        f"Reference:     {escalation.id}",
        f"Reason:        {_one_line(escalation.reason)}",
        f"Order:         {_one_line(escalation.order_name or 'no order')}",
        f"Shopper email: {_one_line(escalation.shopper_email or 'not given', 320)}{_reply_hint(reply)}",
        f"Created:       {escalation.created_at.isoformat()}",
        "",
        "Summary",
        "-------",
        # Written by the model, which a shopper can talk into quoting anything: quoted like the transcript.
        quoted(escalation.summary.strip()),
        "",
        "Transcript",
        "----------",
        "Each message: who wrote it and when, then their words, every line marked with |.",
        "",
        email_transcript(escalation.transcript),
        "",
    ]
    return "\n".join(lines)


def build_email(escalation: Escalation, mail: MailSettings, *, smtputf8: bool = False) -> EmailMessage:
    """The email for the support team. `smtputf8`: the mail server takes non-ASCII addresses (RFC 6531)."""
    subject = f"[Lumen] {escalation.id}: {_one_line(escalation.reason, 80)}"
    if escalation.order_name:
        subject += f" — order {_one_line(escalation.order_name, 40)}"
    reply = reply_to(escalation.shopper_email, smtputf8=smtputf8)
    sender = parse_mailbox(mail.mail_from)

    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = formataddr((_one_line(sender.display_name or f"Lumen for {mail.shop_name}", 80), sender.addr_spec))
    msg["To"] = ", ".join(mail.recipients)
    if reply.address:
        msg["Reply-To"] = reply.address
    msg["Date"] = format_datetime(escalation.created_at)
    # Stable across retries, so a mail system that sees a retry as a duplicate can drop it.
    msg["Message-ID"] = f"<{escalation.id}.{int(escalation.created_at.timestamp())}@{sender.domain}>"
    msg["X-Lumen-Escalation"] = escalation.id
    # No conversation id here: whoever holds it could go on reading the conversation's orders in the widget.
    msg.set_content(_body(escalation, mail, reply))
    return msg


def _needs_smtputf8(message: EmailMessage) -> bool:
    """An address (not a display name: those are encoded words in plain ASCII) has non-ASCII characters."""
    headers = [message[name] for name in ("From", "To", "Reply-To") if message[name] is not None]
    return any(not address.addr_spec.isascii() for header in headers for address in header.addresses)


async def send_email(escalation: Escalation, mail: MailSettings, *, timeout_s: float) -> None:
    """Connect, ask the server whether it takes SMTPUTF8, and send the email written for what it takes."""
    target = parse_smtp_url(mail.smtp_url or "")
    client = aiosmtplib.SMTP(
        hostname=target.hostname,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.use_tls,
        start_tls=target.start_tls,
        validate_certs=target.validate_certs,
        timeout=timeout_s,
    )
    async with client:
        if client.is_ehlo_or_helo_needed:
            await client.ehlo()
        message = build_email(escalation, mail, smtputf8=client.supports_extension("smtputf8"))
        if not _needs_smtputf8(message):
            await client.send_message(message)
            return
        # aiosmtplib decides on SMTPUTF8 from the envelope alone; a UTF-8 Reply-To needs the whole message written so.
        sender = parse_mailbox(mail.mail_from).addr_spec
        raw = message.as_bytes(policy=email.policy.SMTPUTF8)
        await client.sendmail(sender, mail.recipients, raw, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
