"""How `lumen serve` runs uvicorn: an access log without query strings, a header read timeout and a connection limit.

- Access log: uvicorn logs each request's path *with* its query string, and an app-proxy query carries the shopper's
  `logged_in_customer_id` and a signature valid for 90 s. `PathOnly` logs the path alone.
- Header read timeout: uvicorn 0.54's h11 server starts no timer when a connection opens and restarts its keep-alive
  timer on every byte, so a client that connects and sends nothing (or one header byte at a time) holds a connection
  forever. `HeaderTimeoutH11` closes a connection that has not sent a whole request line and headers within
  `HEADER_TIMEOUT_S` of opening or of its previous response.
- Connection limit: uvicorn's `limit_concurrency` answers 503 once this many connections or requests are open.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 1000
KEEP_ALIVE_S = 5  # uvicorn's default, said here so every limit is in one place


class PathOnly(logging.Filter):
    """Drops the query string from uvicorn's access log line (`'%s - "%s %s HTTP/%s" %d'`, the path third)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with `PathOnly` on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["path_only"] = {"()": PathOnly}
    config["handlers"]["access"]["filters"] = ["path_only"]
    return config


class HeaderTimeoutH11(H11Protocol):
    """uvicorn's h11 protocol, closing connections that do not send a request's headers in time (see above)."""

    header_timeout_s = HEADER_TIMEOUT_S
    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        # The request that was current when the deadline was set: a new one (self.scope) means headers arrived.
        self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow, self.scope)

    def _headers_too_slow(self, scope_then: object) -> None:
        if self.scope is scope_then and not self.transport.is_closing():
            self.transport.close()


def uvicorn_options(max_connections: int = MAX_CONNECTIONS) -> dict[str, Any]:
    """The keyword arguments `lumen serve` adds to `uvicorn.run`."""
    return {
        "http": HeaderTimeoutH11,
        "log_config": log_config(),
        "limit_concurrency": max_connections,
        "timeout_keep_alive": KEEP_ALIVE_S,
    }
