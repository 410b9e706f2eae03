"""Round 9: the warning that an order number is being guessed at past its cap of wrong proofs is logged once per order
per window, not once per refused guess.

Before: every wrong guess the cap refused wrote a warning line, so an attacker sending thousands of guesses at one
order wrote thousands of lines into the merchant's log (and could bury anything else in it). Now one worker's guard
logs the first refusal on an order in a window, and the next only once the window has passed; another order's cap
still gets its own line. SQLite and PostgreSQL (`database_url`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter

import pytest

from storage import Database
from tests.fixtures import Clock
from tests.security.test_limits import BURST, deps_for, typed
from tools.find_order import find_order
from tools.guard import AttemptGuard, Limits

CAP_WARNING = "reached its limit of"


@pytest.fixture
def store(database: Database) -> Database:
    return database


async def guess_from_everywhere(guard: AttemptGuard, number: str, count: int, label: str) -> Counter[str]:
    """`count` wrong proofs of one order number at once, each from its own address and conversation, all through
    one worker's guard (as every turn of a worker's Lumen is)."""

    async def one(n: int) -> str:
        deps = deps_for(guard.db, f"guesser-{label}-{n}", client_ip=f"10.{n // 250}.{n % 250}.9")
        deps = dataclasses.replace(deps, guard=guard)
        email = f"guess{n}@example.net"
        return (await find_order(typed(deps, f"{number} {email}"), order_number=number, email=email)).status

    return Counter(await asyncio.gather(*(one(n) for n in range(count))))


def cap_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and CAP_WARNING in r.getMessage()]


async def test_refusals_past_an_orders_cap_are_logged_once_per_order_per_window(
    store: Database, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    guard = AttemptGuard(store)
    cap = Limits().per_order_proofs.limit
    with caplog.at_level(logging.WARNING, logger="lumen"):
        refused = await guess_from_everywhere(guard, "1042", BURST, "a")
        assert refused == {"not_found": cap, "too_many_attempts": BURST - cap}
        # BURST - cap refusals, one line (before: one line each).
        assert len(cap_warnings(caplog)) == 1
        # More refusals on the same order in the same window: nothing more.
        assert await guess_from_everywhere(guard, "1042", 20, "b") == {"too_many_attempts": 20}
        assert len(cap_warnings(caplog)) == 1
        # Another order's cap is news of its own.
        assert (await guess_from_everywhere(guard, "1031", cap + 5, "c"))["too_many_attempts"] == 5
        assert len(cap_warnings(caplog)) == 2
        # A window later the first order, guessed at again past its cap, is worth one line again.
        clock.advance(seconds=Limits().per_order_proofs.window.total_seconds() + 1)
        assert (await guess_from_everywhere(guard, "1042", cap + 5, "d"))["too_many_attempts"] >= 5
        assert len(cap_warnings(caplog)) == 3
    # Each line still names a refused conversation (so the merchant can open it), never the order.
    for line in cap_warnings(caplog):
        assert "guesser-" in line and "1042" not in line and "1031" not in line
