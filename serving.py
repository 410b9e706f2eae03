"""How `lumen serve` runs uvicorn: an access log without query strings, a header read timeout and a connection limit.

- Access log: uvicorn logs each request's path *with* its query string, and an app-proxy query carries the shopper's
  `logged_in_customer_id` and a signature valid for 90 s. `PathOnly` logs the path alone.
- Header read timeout: uvicorn 0.54's h11 server starts no timer when a connection opens and restarts its keep-alive
  timer on every byte, so a client that connects and sends nothing (or one header byte at a time) holds a connection
  forever. `HeaderTimeoutH11` closes a connection that has not sent a whole request line and headers within
  `HEADER_TIMEOUT_S` of opening or of its previous response.
- Connection limit: uvicorn's `limit_concurrency` answers 503 once this many connections or requests are open.
- Database pool: `fit_pool` fits the workers' PostgreSQL pools under the server's `max_connections` (see there).
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
from dataclasses import dataclass
from typing import Any

from uvicorn.config import LOGGING_CONFIG
from uvicorn.protocols.http.h11_impl import H11Protocol

HEADER_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 1000
KEEP_ALIVE_S = 5  # uvicorn's default, said here so every limit is in one place
# Connections left free on the PostgreSQL server besides its reserved ones: `lumen sync`, a migration, an operator's
# psql, a monitoring check.
PG_HEADROOM = 5
# Fewer connections than this per worker, and a worker's turns would queue on its pool rather than run: past that,
# fewer workers is the better cut.
MIN_POOL_PER_WORKER = 5


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


@dataclass(frozen=True)
class PoolPlan:
    """How many workers `lumen serve` starts and each one's PostgreSQL pool; `warning` says what was cut, and why."""

    workers: int
    pool_size: int
    max_overflow: int
    warning: str | None = None


def fit_pool(workers: int, pool_size: int, max_overflow: int, available: int) -> PoolPlan:
    """Fit `workers` x (`pool_size` + `max_overflow`) under the `available` server connections (max_connections less
    the reserved ones), keeping `PG_HEADROOM` free. Past the server's limit a busy worker's next connection is refused
    ("too many clients"), and the shopper gets an error, so it is cut here, at start-up, where it can be said: first
    each worker's pool (a worker waits for one of its own connections: latency, not an error), and only when that
    would leave a worker under `MIN_POOL_PER_WORKER`, the number of workers. This sees one host: with several hosts on
    one server, size LUMEN_DB_POOL_SIZE / LUMEN_DB_MAX_OVERFLOW for all of them (README, scale-out)."""
    wanted = pool_size + max_overflow
    budget = available - PG_HEADROOM
    if workers * wanted <= budget:
        return PoolPlan(workers, pool_size, max_overflow)
    fitted = workers
    per_worker = budget // workers
    if per_worker < MIN_POOL_PER_WORKER:
        fitted = max(budget // MIN_POOL_PER_WORKER, 1)
        per_worker = max(budget // fitted, 1)
    per_worker = min(per_worker, wanted)
    size = min(pool_size, per_worker)
    plan = PoolPlan(fitted, size, per_worker - size)
    cut = f"{fitted} workers" if fitted < workers else f"{workers} workers"
    warning = (
        f"PostgreSQL allows {available} connections to Lumen (max_connections less reserved ones); {workers} workers "
        f"x {wanted} (LUMEN_DB_POOL_SIZE {pool_size} + LUMEN_DB_MAX_OVERFLOW {max_overflow}) would need "
        f"{workers * wanted}. Starting {cut} with {plan.pool_size} + {plan.max_overflow} connections each, "
        f"{PG_HEADROOM} left free. Raise max_connections, put PgBouncer in front, or set fewer workers."
    )
    return PoolPlan(plan.workers, plan.pool_size, plan.max_overflow, warning)


def freeze_startup_heap() -> None:
    """Once a worker has started: what startup built (the act reader's tables, the prompts, SQLAlchemy's and pydantic's
    schemas, a store file) lives as long as the process, so it is moved out of the cyclic collector's sight
    (`gc.freeze`). A full collection, which comes every few hundred turns, then scans only what turns made since: on
    the demo store that is about 250,000 objects fewer and 140 ms less with the event loop stopped (every turn of the
    worker waits for it). Once per process, after a collection: frozen objects that later become cyclic garbage are
    never freed, so only `lumen serve`'s workers call it (`server.create_app(freeze_heap=True)`), never the tests'
    many apps in one process."""
    gc.collect()
    gc.freeze()
