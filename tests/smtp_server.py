"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on an ephemeral port, keeping what it receives.

    with SmtpSink() as sink:
        ...send to sink.url...
        assert sink.messages[0]["Subject"] == "..."

or, as a fixture (`from tests.smtp_server import smtp_server` in a conftest):

    def test_mail(smtp_server: SmtpSink): ...

The server runs in its own thread (aiosmtpd's `Controller`). By the time a client's send has returned, the server
has already stored the message, so tests can assert right after sending, without waiting or polling.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None = None


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self.lock:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 Message accepted for delivery"


class _EphemeralPortController(Controller):
    """aiosmtpd pokes its own port once started; with port 0 that must be the port the OS picked."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpSink:
    """A local SMTP server collecting messages. `port=0` picks a free port; pass a port to reuse a known one.

    `credentials={"user": "password"}` makes it offer AUTH (over plain text: tests only) and check the login.
    `smtputf8=True` makes it offer SMTPUTF8 (international addresses, RFC 6531).
    """

    def __init__(self, *, port: int = 0, credentials: dict[str, str] | None = None, smtputf8: bool = False) -> None:
        self._handler = _Handler()
        self._credentials = credentials
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
        if credentials is not None:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        self._controller = _EphemeralPortController(self._handler, hostname="127.0.0.1", port=port, **kwargs)
        self._started = False

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self._credentials is not None
            and self._credentials.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        # handled=False: aiosmtpd answers 535 itself when the login is wrong.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpSink:
        self._controller.start()
        self._started = True
        return self

    def stop(self) -> None:
        if self._started:
            self._controller.stop()
            self._started = False

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._controller.port

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def received(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.received)

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]


@pytest.fixture
def smtp_server() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink
