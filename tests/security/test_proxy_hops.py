"""Round 9: a merchant's own reverse proxy in front of Lumen, appending to X-Forwarded-For on the app proxy.

Before: only a header of exactly one address named an anonymous proxied shopper, so a merchant whose nginx appends its
peer (`$proxy_add_x_forwarded_for`: "<shopper>, <Shopify>") had every guest in the shop's shared allowance, silently:
one guest guessing locked every guest out. Now `LUMEN_PROXY_HOPS` says how many proxies write the header, Shopify
included (1 by default: Shopify documents one address, the client's), the shopper's address is the one that many
places from the right in a list of exactly that many, and a signed request that names no usable address is logged,
once per process, saying which setting to look at.

SQLite and PostgreSQL (`database_url`); each burst is sent at once (`asyncio.gather`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

import server
from agent.service import Lumen
from shopify import FixtureStore
from storage import Database
from tests.fixtures import Clock
from tests.security.test_limits import BURST, PROXY_NOW, TRACKING_1042, answered, proxied
from tests.server_helpers import app_over, make_settings
from tools.guard import Limits

SHOPIFY_EGRESS = "198.18.0.7"  # the address the merchant's proxy sees: Shopify's, shared by every shopper
MERCHANT_PROXY = ("10.0.0.2", 443)  # the merchant's nginx, Lumen's peer
ATTACKER = "203.0.113.66"
GUEST = "198.51.100.23"

Client = Callable[[int], AsyncIterator[httpx.AsyncClient]]


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, clock=Clock())
    await database.connect()
    yield database
    await database.close()


def app_for(store: Database, tmp_path: Path, hops: int) -> server.FastAPI:
    lumen = Lumen(make_settings(tmp_path, lumen_proxy_hops=hops), FixtureStore(), store)
    app = app_over(lumen, PROXY_NOW)
    return app


def http_for(app: server.FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=MERCHANT_PROXY)
    return httpx.AsyncClient(transport=transport, base_url="http://lumen.test")


async def via_merchant_proxy(http: httpx.AsyncClient, message: str, shopper: str) -> httpx.Response:
    """An anonymous shopper's message through Shopify's app proxy and then the merchant's nginx, which appends the
    address it saw (Shopify's) to the header Shopify wrote."""
    headers = {"x-forwarded-for": f"{shopper}, {SHOPIFY_EGRESS}"}
    return await http.post(proxied(), json={"message": message}, headers=headers)


async def test_behind_a_merchants_proxy_one_guest_cannot_lock_out_the_others(store: Database, tmp_path: Path) -> None:
    """Before: "<shopper>, <Shopify>" named nobody, so the attacker's guesses used up the shop's 200 and the guest's
    right postcode was refused. With LUMEN_PROXY_HOPS=2 the attacker runs out of their own allowance only."""
    async with http_for(app_for(store, tmp_path, hops=2)) as http:
        messages = [f"order {2000 + n} zip {10000 + n}" for n in range(3 * BURST)]
        responses = await asyncio.gather(*(via_merchant_proxy(http, m, ATTACKER) for m in messages))
        limits = Limits()
        new_conversations = limits.conversations_per_client.limit
        assert Counter(r.status_code for r in responses) == {200: new_conversations, 429: 3 * BURST - new_conversations}
        wrong = limits.per_client.limit
        assert await answered(store) == {"not_found": wrong, "too_many_attempts": new_conversations - wrong}
        guest = await via_merchant_proxy(http, "where is order #1042? zip 78704", GUEST)
        assert guest.status_code == 200 and TRACKING_1042 in guest.json()["reply"]


def _request(*lines: str) -> Request:
    headers = [(b"x-forwarded-for", line.encode()) for line in lines]
    return Request({"type": "http", "method": "POST", "path": "/proxy/api/chat", "headers": headers})


@pytest.mark.parametrize(
    ("lines", "hops", "address"),
    [
        ((f"{GUEST}, {SHOPIFY_EGRESS}",), 2, GUEST),
        ((GUEST, SHOPIFY_EGRESS), 2, GUEST),  # two header lines read as one list, in order
        ((f" 2001:db8::7 ,{SHOPIFY_EGRESS}",), 2, "2001:db8::7"),
        ((f"{GUEST}, 10.0.0.9, {SHOPIFY_EGRESS}",), 3, GUEST),
        ((GUEST,), 2, None),  # fewer addresses than proxies: the count is wrong, nobody is named
        ((f"10.1.2.3, {GUEST}, {SHOPIFY_EGRESS}",), 2, None),  # a shopper's own header in front
        ((f"unknown, {SHOPIFY_EGRESS}",), 2, None),
        ((f"{GUEST}, {SHOPIFY_EGRESS}",), 1, None),  # the default: Shopify's one address, nothing else
        ((GUEST,), 1, GUEST),
        ((f"{GUEST}, junk",), 2, None),  # the shopper's entry an address, the proxy's not: no proxy wrote that
    ],
    ids=["two", "two-lines", "ipv6", "three", "too-few", "too-many", "word", "uncounted-proxy", "shopify-only", "junk"],
)
def test_the_shopper_is_the_address_the_hops_count_names(
    lines: tuple[str, ...], hops: int, address: str | None
) -> None:
    assert server.proxied_shopper(_request(*lines), hops) == address


async def test_requests_naming_no_shopper_are_logged_once(
    store: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: nothing told the merchant that every guest shared the shop's allowance. Now the first signed
    anonymous request naming no usable address is logged (which setting, never an address), and only the first: a
    shopper can send such requests at will."""
    async with http_for(app_for(store, tmp_path, hops=1)) as http:
        with caplog.at_level(logging.WARNING, logger="lumen"):
            for shopper in (GUEST, ATTACKER, GUEST):
                assert (await via_merchant_proxy(http, "hi", shopper)).status_code == 200
            # A request that names its shopper is not the problem, nor is a logged-in customer's.
            await http.post(proxied(), json={"message": "hi"}, headers={"x-forwarded-for": GUEST})
            await http.post(proxied("7001"), json={"message": "hi"}, headers={"x-forwarded-for": f"{GUEST}, x"})
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "X-Forwarded-For" in r.msg]
    assert len(warnings) == 1, warnings
    assert "LUMEN_PROXY_HOPS" in warnings[0]
    assert not [w for w in warnings if GUEST in w or ATTACKER in w or SHOPIFY_EGRESS in w]


async def test_a_request_naming_its_shopper_logs_nothing(
    store: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with http_for(app_for(store, tmp_path, hops=2)) as http:
        with caplog.at_level(logging.WARNING, logger="lumen"):
            assert (await via_merchant_proxy(http, "hi", GUEST)).status_code == 200
    assert not [r for r in caplog.records if "X-Forwarded-For" in str(r.msg)]
