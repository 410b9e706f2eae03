"""Round 8 follow-ups of the attacker review: limits one attacker cannot turn against everyone else.

1. Anonymous app-proxy shoppers count against the address Shopify forwards (X-Forwarded-For, one address, on a signed
   request), not all against their shop: one guest guessing cannot lock every guest out. A header of any other form is
   read as no address (the shop's anonymous allowance, as before), so rotating a header buys no fresh allowance.
2. Every proof tried on one order number counts against that number, from any client and conversation: many
   attackers guessing one order stop at its cap, exactly the same for a number no order has: past it a wrong guess
   hears "try later, or the support team" (prompts/) and the merchant's log names its conversation, while the
   owner's right proof is still answered (anyone can fill the cap, so it must not lock the owner out).

SQLite and PostgreSQL (`database_url`); each burst is sent at once (`asyncio.gather`).
"""

from __future__ import annotations

import asyncio
import logging
import tomllib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

import server
from agent.service import Lumen
from shopify import FixtureStore
from storage import Database
from tests.security.test_limits import (
    BURST,
    PROXY_NOW,
    TRACKING_1042,
    _work,
    answered,
    deps_for,
    proxied,
    typed,
)
from tests.server_helpers import app_over, make_settings
from tools.find_order import find_order
from tools.guard import Limits

REPLIES = tomllib.loads((Path(__file__).resolve().parents[2] / "prompts" / "replies.toml").read_text())
SHOPIFY_PEER = ("198.18.0.1", 443)  # every proxied request comes from Shopify's own addresses
ATTACKER = "203.0.113.66"
GUEST = "198.51.100.23"
OWNER_EMAIL = "jordan.lee@example.com"  # the demo store's #1042 (tests/security/test_limits.py uses it too)


@pytest.fixture
def store(database: Database) -> Database:
    return database


@pytest.fixture
async def client(store: Database, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The server over the real database; its app-proxy clock at PROXY_NOW; every request from Shopify's address."""
    lumen = Lumen(make_settings(tmp_path), FixtureStore(), store)
    app = app_over(lumen, PROXY_NOW)
    transport = httpx.ASGITransport(app=app, client=SHOPIFY_PEER)
    async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as http:
        yield http


async def through_proxy(
    http: httpx.AsyncClient, message: str, forwarded: list[str], session_id: str | None = None
) -> httpx.Response:
    """One anonymous shopper's message as Shopify's app proxy forwards it, with these X-Forwarded-For header lines."""
    headers = [("x-forwarded-for", value) for value in forwarded]
    body = {"message": message, "session_id": session_id}
    return await http.post(proxied(), json=body, headers=headers)


# --- 1. anonymous app-proxy shoppers -------------------------------------------------------------------------------


async def test_one_anonymous_proxy_shopper_cannot_lock_out_the_shops_guests(
    client: httpx.AsyncClient, store: Database
) -> None:
    """Before: every anonymous proxied guess counted against the shop (200 an hour), so 300 from one guest left every
    other guest refused, the right postcode included. Now the attacker's address runs out, and no one else's."""
    messages = [f"order {2000 + n} zip {10000 + n}" for n in range(3 * BURST)]
    responses = await asyncio.gather(*(through_proxy(client, m, [ATTACKER]) for m in messages))
    limits = Limits()
    new_conversations = limits.conversations_per_client.limit
    assert Counter(r.status_code for r in responses) == {200: new_conversations, 429: 3 * BURST - new_conversations}
    wrong = limits.per_client.limit
    assert await answered(store) == {"not_found": wrong, "too_many_attempts": new_conversations - wrong}

    guest = await through_proxy(client, "where is order #1042? zip 78704", [GUEST])
    assert guest.status_code == 200 and TRACKING_1042 in guest.json()["reply"]
    # The attacker is still refused, in a conversation of theirs, the right postcode included: the limit is theirs.
    session = next(r.json()["session_id"] for r in responses if r.status_code == 200)
    again = await through_proxy(client, "where is order #1042? zip 78704", [ATTACKER], session)
    assert again.status_code == 200 and TRACKING_1042 not in again.json()["reply"]


def _request(headers: list[tuple[bytes, bytes]]) -> Request:
    return Request({"type": "http", "method": "POST", "path": "/proxy/api/chat", "headers": headers})


@pytest.mark.parametrize(
    ("headers", "address"),
    [
        ([(b"x-forwarded-for", b"203.0.113.66")], "203.0.113.66"),
        ([(b"x-forwarded-for", b" 2001:db8::7 ")], "2001:db8::7"),
        ([], None),
        ([(b"x-forwarded-for", b"10.1.2.3, 203.0.113.66")], None),  # a shopper's own header, Shopify's appended
        ([(b"x-forwarded-for", b"203.0.113.66"), (b"x-forwarded-for", b"10.1.2.3")], None),
        ([(b"x-forwarded-for", b"unknown")], None),
        ([(b"x-forwarded-for", b"203.0.113.66:443")], None),
        ([(b"x-forwarded-for", b"0.0.0.0")], None),
        ([(b"x-forwarded-for", b"")], None),
    ],
    ids=["ipv4", "ipv6", "none", "list", "two-headers", "word", "port", "unspecified", "empty"],
)
def test_only_the_documented_form_names_the_shopper(headers: list[tuple[bytes, bytes]], address: str | None) -> None:
    """Shopify documents `X-Forwarded-For: <the client's address>` on proxied requests; anything else may hold a value
    the shopper chose, so it names nobody."""
    assert server.proxied_shopper(_request(headers)) == address


async def test_rotating_a_malformed_forwarded_header_buys_no_fresh_allowance(
    client: httpx.AsyncClient, store: Database
) -> None:
    """A value the attacker picks anew for each request (the left part of a list) is not an address: all of them count
    against the shop's anonymous allowance together, and nobody with a proper header is affected."""
    messages = [f"order {2000 + n} zip {10000 + n}" for n in range(3 * BURST)]
    headers = [[f"10.0.{n // 250}.{n % 250 + 1}, {ATTACKER}"] for n in range(3 * BURST)]
    responses = await asyncio.gather(*(through_proxy(client, m, h) for m, h in zip(messages, headers, strict=True)))
    assert {r.status_code for r in responses} == {200}
    shop_wide = Limits().per_proxy_shop.limit
    assert await answered(store) == {"not_found": shop_wide, "too_many_attempts": 3 * BURST - shop_wide}
    guest = await through_proxy(client, "where is order #1042? zip 78704", [GUEST])
    assert TRACKING_1042 in guest.json()["reply"]


async def test_a_public_request_cannot_name_its_own_address(client: httpx.AsyncClient) -> None:
    """Only a signed proxy request's header is read: on /api/chat a forged X-Forwarded-For changes nothing."""
    for n in range(Limits().conversations_per_client.limit):
        headers = {"x-forwarded-for": f"192.0.2.{n + 1}"}
        assert (await client.post("/api/chat", json={"message": "hi"}, headers=headers)).status_code == 200
    refused = await client.post("/api/chat", json={"message": "hi"}, headers={"x-forwarded-for": "192.0.2.250"})
    assert refused.status_code == 429


# --- 2. a cap on the proofs tried on one order number ------------------------------------------------------------


async def _guess_from_everywhere(store: Database, number: str, count: int, label: str = "a") -> Counter[str]:
    """`count` wrong proofs of one order number at once, each from its own address and conversation, emails and postal
    codes mixed: no key but the order number's is shared by two of them."""

    async def one(n: int) -> str:
        # Conversation ids name no order: the log test looks for order numbers in what is logged.
        deps = deps_for(store, f"guesser-{label}-{n}", client_ip=f"10.{n // 250}.{n % 250}.9")
        proof = {"email": f"guess{n}@example.net"} if n % 2 else {"postal_code": f"{30000 + n}"}
        details = {"order_number": number, **proof}
        return (await find_order(typed(deps, " ".join(details.values())), **details)).status

    return Counter(await asyncio.gather(*(one(n) for n in range(count))))


@pytest.mark.parametrize("number", ["1042", "9999"], ids=["real-order", "no-such-order"])
async def test_many_attackers_guessing_one_order_stop_at_its_cap(store: Database, number: str) -> None:
    """Before: each address, email and postal code had room, so all 100 guesses on one order were checked."""
    cap = Limits().per_order_proofs.limit
    assert await _guess_from_everywhere(store, number, BURST) == {"not_found": cap, "too_many_attempts": BURST - cap}
    # More wrong guesses are still refused, and read the same whether or not the order exists.
    assert await _guess_from_everywhere(store, number, 5, "b") == {"too_many_attempts": 5}
    # Other orders are untouched.
    other = deps_for(store, "other", client_ip="198.51.100.41")
    found = await find_order(typed(other, "1031 97214"), order_number="1031", postal_code="97214")
    assert found.status == "verified"


async def test_the_owner_is_answered_after_others_fill_the_orders_cap(store: Database) -> None:
    """Before: a full order-proofs key refused every proof unchecked, so 30 wrong emails an hour from anyone (one
    address is enough) kept the owner out of their order for as long as they kept guessing."""
    cap = Limits().per_order_proofs.limit
    assert await _guess_from_everywhere(store, "1042", cap + 10) == {"not_found": cap, "too_many_attempts": 10}
    owner = deps_for(store, "owner", client_ip="198.51.100.40")
    proved = await find_order(typed(owner, f"1042 {OWNER_EMAIL}"), order_number="1042", email=OWNER_EMAIL)
    assert proved.status == "verified" and proved.order is not None
    # The owner's proof did not make room: wrong guesses after it are still refused.
    assert await _guess_from_everywhere(store, "1042", 5, "after") == {"too_many_attempts": 5}


async def test_past_the_cap_wrong_postal_codes_still_count_on_the_order(store: Database) -> None:
    """A guess the cap refuses still counts against what it guessed: wrong emails filling the cap do not open free
    postal-code guessing, in which a right code would be answered."""
    cap = Limits().per_order_proofs.limit
    for n in range(cap):
        deps = deps_for(store, f"emails-{n}", client_ip=f"10.9.{n}.9")
        email = f"guess{n}@example.net"
        assert (await find_order(typed(deps, f"1042 {email}"), order_number="1042", email=email)).status == "not_found"
    per_order = Limits().per_order.limit
    for n in range(per_order):
        deps = deps_for(store, f"codes-{n}", client_ip=f"10.8.{n}.9")
        code = f"{30000 + n}"
        refused = await find_order(typed(deps, f"1042 {code}"), order_number="1042", postal_code=code)
        assert refused.status == "too_many_attempts"
    # The order's postal codes are used up, the right one too; an email (not guessable) still proves it.
    late = deps_for(store, "late", client_ip="198.51.100.42")
    assert (await find_order(typed(late, "1042 78704"), order_number="1042", postal_code="78704")).status == (
        "too_many_attempts"
    )
    owner = deps_for(store, "owner", client_ip="198.51.100.40")
    proved = await find_order(typed(owner, f"1042 {OWNER_EMAIL}"), order_number="1042", email=OWNER_EMAIL)
    assert proved.status == "verified"


async def test_a_capped_real_order_and_a_capped_made_up_one_cost_the_same(store: Database) -> None:
    """No existence oracle at the cap: a wrong guess makes the same source calls and statements for both numbers,
    and so does the owner's right proof."""
    for label, number in (("real", "1042"), ("made-up", "9999")):
        await _guess_from_everywhere(store, number, BURST, label)
    real = await _work(store, 1, None, {"order_number": "1042", "email": "someone@example.net"})
    made_up = await _work(store, 2, None, {"order_number": "9999", "email": "someone@example.net"})
    owner = await _work(store, 3, None, {"order_number": "1042", "email": OWNER_EMAIL})
    assert real == made_up == owner
    assert real[0]  # looked up: only then is a wrong guess told from a right proof


async def test_a_wrong_guess_past_the_cap_is_refused_and_the_merchant_sees_it(
    client: httpx.AsyncClient, store: Database, caplog: pytest.LogCaptureFixture
) -> None:
    await _guess_from_everywhere(store, "1042", BURST)
    with caplog.at_level(logging.WARNING, logger="lumen"):
        response = await client.post("/api/chat", json={"message": "where is order #1042? guess@example.net"})
    reply = response.json()["reply"]
    assert TRACKING_1042 not in reply
    assert REPLIES["too_many_attempts"]["text"] in reply
    session = response.json()["session_id"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "lumen"]
    assert [w for w in warnings if session in w and "limit" in w], warnings
    # The log names the conversation, never the order or the shopper's details.
    assert not [w for w in warnings if "1042" in w or "guess@example.net" in w]
