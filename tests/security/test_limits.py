"""Issue 11, findings 1, 2, 3, 7 and 9: every limit holds under a burst of parallel requests, on SQLite and
PostgreSQL; found and not found cost the same work; proofs expire on the server.

Each burst is sent at once (`asyncio.gather`), each request in its own conversation unless the limit is the
conversation's, so nothing but the shared, atomic count in the database can stop it. Statuses are the tools' own
(`find_order`'s `not_found` means the guess was checked, `too_many_attempts` that it was refused unchecked).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelMessagesTypeAdapter, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage
from pydantic_core import to_jsonable_python

from agent.service import Lumen
from config import Settings
from outbox import EscalationService, MailSettings
from shopify import FixtureStore
from shopify.domain import Order
from storage import Database
from storage.schema import conversations
from tests.fixtures import T0, Clock
from tests.server_helpers import app_over, make_settings, signed_query
from tools.context import SessionState, ToolContext
from tools.escalate import escalate
from tools.find_order import find_order
from tools.guard import AttemptGuard

BURST = 100
SHOP = "harbor-and-pine.myshopify.com"
TRACKING_1042 = "9400111899223197428490"
PROXY_NOW = 1_790_000_000  # the server's clock for signed app-proxy requests


class CountingSource:
    """The demo store, counting what the tools ask of it."""

    def __init__(self, inner: Any | None = None) -> None:
        self.inner = inner or FixtureStore()
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        self.calls["orders_by_name"] += 1
        return await self.inner.orders_by_name(name, email=email, held_only=held_only)  # type: ignore[no-any-return]

    async def orders_by_email(self, email: str, *, limit: int = 5) -> list[Order]:
        self.calls["orders_by_email"] += 1
        return await self.inner.orders_by_email(email, limit=limit)  # type: ignore[no-any-return]

    async def orders_by_customer(self, customer_id: str, *, limit: int = 5) -> list[Order]:
        self.calls["orders_by_customer"] += 1
        return await self.inner.orders_by_customer(customer_id, limit=limit)  # type: ignore[no-any-return]

    @property
    def lookups(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def store(database: Database) -> Database:
    return database


def typed(deps: ToolContext, *texts: str) -> RunContext[ToolContext]:
    """A tool call's context after the shopper typed `texts`, one message each."""
    messages = [ModelRequest(parts=[UserPromptPart(text)]) for text in texts]
    return RunContext(deps=deps, model=TestModel(), usage=RunUsage(), messages=messages)


def deps_for(
    db: Database,
    conversation: str,
    *,
    source: Any = None,
    customer_id: str | None = None,
    escalations: EscalationService | None = None,
    **caller: str,
) -> ToolContext:
    """What a worker gives the tools for one request; `caller` is client_ip or proxy_shop."""
    return ToolContext(
        source=source or FixtureStore(),
        session=SessionState(customer_id=customer_id),
        conversation_id=conversation,
        escalations=escalations,
        guard=AttemptGuard(db),
        **caller,  # type: ignore[arg-type]
    )


async def burst(db: Database, guesses: list[dict[str, str]], **caller: str) -> Counter[str]:
    """`find_order` for every guess at once, each in a new conversation; the statuses counted."""

    async def one(n: int, guess: dict[str, str]) -> str:
        deps = deps_for(db, f"conversation-{n}", **caller)
        result = await find_order(typed(deps, " ".join(guess.values())), **guess)
        return result.status

    return Counter(await asyncio.gather(*(one(n, g) for n, g in enumerate(guesses))))


async def guess(db: Database, conversation: str, **details: str) -> str:
    deps = deps_for(db, conversation)
    return (await find_order(typed(deps, " ".join(details.values())), **details)).status


# --- wrong guesses: each key holds under a burst --------------------------------------------------------------------


async def test_postal_codes_tried_on_one_order_stop_at_ten(store: Database) -> None:
    guesses = [{"order_number": "1042", "postal_code": str(10000 + n)} for n in range(BURST)]
    assert await burst(store, guesses) == {"not_found": 10, "too_many_attempts": BURST - 10}
    # Now even the right code is refused unchecked, and the refusal says nothing about it...
    assert await guess(store, "late", order_number="1042", postal_code="78704") == "too_many_attempts"
    # ...while the owner still proves the order with its email, which nobody can guess.
    assert await guess(store, "owner", order_number="1042", email="jordan.lee@example.com") == "verified"


async def test_postal_codes_tried_on_one_order_count_once_however_its_name_is_typed(store: Database) -> None:
    """'5101', 'bog5101', 'BOG 5101 IE' all find BOG-5101-IE: typing it another way buys no more postcode guesses."""
    affixed = Path(__file__).resolve().parents[1] / "data" / "affixed-store.json"
    forms = ["5101", "#5101", "bog5101", "BOG 5101 IE", "bog-5101-ie", "5101IE"]

    async def one(n: int) -> str:
        deps = deps_for(store, f"conversation-{n}", source=FixtureStore(affixed))
        typed_number, code = forms[n % len(forms)], f"D06 X{n:03d}"
        return (await find_order(typed(deps, typed_number, code), order_number=typed_number, postal_code=code)).status

    assert Counter(await asyncio.gather(*(one(n) for n in range(BURST)))) == {
        "not_found": 10,
        "too_many_attempts": BURST - 10,
    }
    owner = deps_for(store, "owner", source=FixtureStore(affixed))
    assert (
        await find_order(typed(owner, "BOG5101IE D06 F2K7"), order_number="BOG5101IE", postal_code="D06 F2K7")
    ).status == "too_many_attempts"


@pytest.mark.parametrize("plus_four", [False, True], ids=["zip", "zip+4"])
async def test_one_postal_code_tried_on_many_orders_counts_against_the_code(store: Database, plus_four: bool) -> None:
    """Every guess aims at another order, so only the postal code itself can stop them; a US ZIP+4 is its ZIP."""
    codes = [f"78704-{n:04d}" if plus_four else "78704" for n in range(BURST)]
    guesses = [{"order_number": str(2000 + n), "postal_code": code} for n, code in enumerate(codes)]
    assert await burst(store, guesses) == {"not_found": 10, "too_many_attempts": BURST - 10}
    # The code is used up for every order, the real one included.
    assert await guess(store, "late", order_number="1042", postal_code="78704") == "too_many_attempts"
    assert await guess(store, "other", order_number="1031", postal_code="97214") == "verified"


@pytest.mark.parametrize(
    "addresses",
    [["203.0.113.9"] * BURST, [f"2001:db8:1:2:{n:x}::1" for n in range(BURST)]],
    ids=["ipv4", "ipv6-one-64"],
)
async def test_one_client_address_gets_thirty_wrong_guesses(store: Database, addresses: list[str]) -> None:
    async def one(n: int) -> str:
        deps = deps_for(store, f"conversation-{n}", client_ip=addresses[n])
        details = {"order_number": str(2000 + n), "postal_code": str(10000 + n)}
        return (await find_order(typed(deps, " ".join(details.values())), **details)).status

    statuses = Counter(await asyncio.gather(*(one(n) for n in range(BURST))))
    assert statuses == {"not_found": 30, "too_many_attempts": BURST - 30}
    neighbour = deps_for(store, "neighbour", client_ip="2001:db8:1:3::1" if ":" in addresses[0] else "198.51.100.7")
    found = await find_order(typed(neighbour, "1031 97214"), order_number="1031", postal_code="97214")
    assert found.status == "verified"


async def test_one_known_email_walks_twenty_order_numbers(store: Database) -> None:
    guesses = [{"order_number": str(3000 + n), "email": "jordan.lee@example.com"} for n in range(BURST)]
    assert await burst(store, guesses) == {"not_found": 20, "too_many_attempts": BURST - 20}


async def test_the_lost_number_route_is_rationed(store: Database) -> None:
    """Email and postal code without a number: the email (and the code, and the client) count the failures."""
    guesses = [{"email": "jordan.lee@example.com", "postal_code": str(10000 + n)} for n in range(BURST)]
    assert await burst(store, guesses) == {"not_found": 20, "too_many_attempts": BURST - 20}
    spread = [{"email": f"shopper{n}@example.com", "postal_code": "97214"} for n in range(BURST)]
    assert await burst(store, spread) == {"not_found": 10, "too_many_attempts": BURST - 10}


async def test_one_conversation_gets_five_wrong_guesses_across_workers(store: Database) -> None:
    """The same conversation on many workers at once: each loaded its own copy of the session, none has counted."""

    async def one(n: int) -> str:
        deps = deps_for(store, "one-conversation")
        details = {"order_number": str(2000 + n), "postal_code": str(10000 + n)}
        return (await find_order(typed(deps, " ".join(details.values())), **details)).status

    statuses = Counter(await asyncio.gather(*(one(n) for n in range(BURST))))
    assert statuses == {"not_found": 5, "too_many_attempts": BURST - 5}


async def test_a_logged_in_customer_gets_thirty_wrong_guesses(store: Database) -> None:
    async def one(n: int) -> str:
        deps = deps_for(store, f"conversation-{n}", customer_id="gid://shopify/Customer/7001")
        details = {"order_number": str(2000 + n), "postal_code": str(10000 + n)}
        return (await find_order(typed(deps, " ".join(details.values())), **details)).status

    statuses = Counter(await asyncio.gather(*(one(n) for n in range(BURST))))
    assert statuses == {"not_found": 30, "too_many_attempts": BURST - 30}


async def test_anonymous_app_proxy_shoppers_share_their_shops_allowance(store: Database) -> None:
    """Proxied requests carry no client address: whatever they aim at, the shop allows 200 failures an hour."""
    guesses = [{"order_number": str(2000 + n), "postal_code": str(10000 + n)} for n in range(3 * BURST)]
    assert await burst(store, guesses, proxy_shop=SHOP) == {"not_found": 200, "too_many_attempts": BURST}


async def test_a_wrong_guess_counts_for_one_hour(store: Database, clock: Clock) -> None:
    for n in range(10):
        assert await guess(store, f"c{n}", order_number="1042", postal_code=str(10000 + n)) == "not_found"
    clock.advance(minutes=59)
    assert await guess(store, "c-59", order_number="1042", postal_code="78704") == "too_many_attempts"
    clock.advance(minutes=2)
    assert await guess(store, "c-61", order_number="1042", postal_code="78704") == "verified"


async def test_a_proof_gives_its_attempt_back(store: Database) -> None:
    """Only failures count: many shoppers (or one, many times) proving orders never run into a limit."""
    for n in range(3 * BURST):
        assert await guess(store, f"c{n}", order_number="1042", postal_code="78704") == "verified"


# --- hand-offs and new conversations --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("caller", "allowed"),
    [
        ({"client_ip": "203.0.113.5"}, 10),
        ({"client_ip": "2001:db8:5::1"}, 10),
        ({"customer_id": "gid://shopify/Customer/7001"}, 10),
        ({"proxy_shop": SHOP}, 50),
    ],
    ids=["address", "ipv6", "customer", "proxy-shop"],
)
async def test_hand_offs_are_rationed_per_caller(store: Database, caller: dict[str, str], allowed: int) -> None:
    service = EscalationService(store, MailSettings())
    caller = dict(caller)  # the parameters are shared by both backends' runs
    customer = caller.pop("customer_id", None)

    async def one(n: int) -> str:
        address = caller.get("client_ip", "")
        who = {"client_ip": f"{address}{n:x}"} if address.endswith("::1") else caller  # many addresses, one /64
        deps = deps_for(store, f"c{n}", customer_id=customer, escalations=service, **who)
        email = f"p{n}@example.com"
        result = await escalate(typed(deps, f"a person please, {email}"), "shopper_asked_for_human", "s", None, email)
        return result.status

    statuses = Counter(await asyncio.gather(*(one(n) for n in range(BURST))))
    assert statuses == {"created": allowed, "unavailable": BURST - allowed}
    assert len(await service.list_escalations(limit=2 * BURST)) == allowed


async def test_new_conversations_are_rationed_per_client(store: Database) -> None:
    from agent.service import TooManyConversations

    lumen = Lumen(Settings(_env_file=None), FixtureStore(), store)
    turns = await asyncio.gather(
        *(lumen.chat("hi", client_ip="203.0.113.8") for _ in range(BURST)), return_exceptions=True
    )
    refused = [t for t in turns if isinstance(t, TooManyConversations)]
    assert (len(refused), await store.count_conversations()) == (BURST - 60, 60)
    assert (await lumen.chat("hi", client_ip="198.51.100.8")).reply


# --- through the HTTP app, the app proxy included -------------------------------------------------------------------


@pytest.fixture
async def http(store: Database, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, CountingSource]]:
    """The server over the real database, its source counting lookups; the app-proxy clock set to PROXY_NOW."""
    source = CountingSource()
    lumen = Lumen(make_settings(tmp_path), source, store)  # type: ignore[arg-type]
    app = app_over(lumen, PROXY_NOW)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.20", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as client:
        yield client, source


def proxied(customer: str = "") -> str:
    params = {
        "shop": SHOP,
        "logged_in_customer_id": customer,
        "path_prefix": "/apps/lumen",
        "timestamp": str(PROXY_NOW),
    }
    return f"/proxy/api/chat?{signed_query(params)}"


async def answered(store: Database) -> Counter[str]:
    """The statuses of every `find_order` call in every stored conversation."""
    async with store.begin() as conn:
        stored = (await conn.execute(sa.select(conversations.c.messages_json))).scalars().all()
    return Counter(
        to_jsonable_python(part.content)["status"]
        for messages in stored
        for message in ModelMessagesTypeAdapter.validate_json(messages)
        for part in message.parts
        if isinstance(part, ToolReturnPart) and part.tool_name == "find_order"
    )


async def post_all(client: httpx.AsyncClient, path: str, messages: list[str]) -> list[httpx.Response]:
    return await asyncio.gather(*(client.post(path, json={"message": m}) for m in messages))


async def test_one_address_over_http(http: tuple[httpx.AsyncClient, CountingSource], store: Database) -> None:
    client, _ = http
    responses = await post_all(client, "/api/chat", [f"order {2000 + n} zip {10000 + n}" for n in range(BURST)])
    # Sixty new conversations an hour from one address, and thirty wrong guesses answered among them.
    assert Counter(r.status_code for r in responses) == {200: 60, 429: BURST - 60}
    assert await answered(store) == {"not_found": 30, "too_many_attempts": 30}


async def test_one_known_email_through_the_app_proxy(
    http: tuple[httpx.AsyncClient, CountingSource], store: Database
) -> None:
    client, _ = http
    messages = [f"order {3000 + n} jordan.lee@example.com" for n in range(BURST)]
    responses = await post_all(client, proxied(), messages)
    assert [r.status_code for r in responses] == [200] * BURST
    assert await answered(store) == {"not_found": 20, "too_many_attempts": BURST - 20}


async def test_hand_offs_through_the_app_proxy(http: tuple[httpx.AsyncClient, CountingSource], store: Database) -> None:
    client, _ = http
    messages = [f"I want to talk to a person, my email is p{n}@example.com" for n in range(BURST)]
    responses = await post_all(client, proxied(), messages)
    assert [r.status_code for r in responses] == [200] * BURST
    assert sum(1 for r in responses if r.json()["escalation"]) == 50
    assert len(await EscalationService(store, MailSettings()).list_escalations(limit=2 * BURST)) == 50


# --- found and not found cost the same work -------------------------------------------------------------------------


async def _work(store: Database, n: int, customer_id: str | None, details: dict[str, str]) -> tuple[Counter[str], int]:
    """What one `find_order` call asked of the order source and how many SQL statements it ran."""
    source = CountingSource()
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    deps = deps_for(store, f"work-{n}", source=source, customer_id=customer_id)
    sa.event.listen(store.engine.sync_engine, "before_cursor_execute", count)
    try:
        await find_order(typed(deps, " ".join(details.values())), **details)
    finally:
        sa.event.remove(store.engine.sync_engine, "before_cursor_execute", count)
    return source.calls, statements


BY_EMAIL = [("1042", "jordan.lee@example.com"), ("1042", "maya.patel@example.com"), ("9999", "jordan.lee@example.com")]
BY_POSTAL_CODE = [("1042", "78704"), ("1042", "97214"), ("9999", "78704"), ("1042", "78704-1234")]
WITHOUT_NUMBER = [("jordan.lee@example.com", "78704"), ("jordan.lee@example.com", "97214"), ("x@example.com", "78704")]
LOGGED_IN = "gid://shopify/Customer/7001"  # not the owner of #1042: a logged-in customer guessing


@pytest.mark.parametrize(
    ("customer_id", "outcomes"),
    [
        (None, BY_EMAIL),
        (None, BY_POSTAL_CODE),
        (None, WITHOUT_NUMBER),
        (LOGGED_IN, BY_EMAIL),
        (LOGGED_IN, BY_POSTAL_CODE),
    ],
    ids=[
        "number-email",
        "number-postal-code",
        "email-postal-code",
        "logged-in-number-email",
        "logged-in-number-postal",
    ],
)
async def test_found_and_not_found_cost_the_same_work(
    store: Database, customer_id: str | None, outcomes: list[tuple[str, str]]
) -> None:
    """The same source calls and the same guard statements whether the order exists, matches, or does not."""
    await _work(store, -1, None, {"order_number": "1", "postal_code": "1"})  # the first also prunes old attempts
    work = []
    for n, (first, second) in enumerate(outcomes):
        if "@" in first:
            details = {"email": first, "postal_code": second}
        else:
            details = {"order_number": first, ("email" if "@" in second else "postal_code"): second}
        work.append(await _work(store, n, customer_id, details))
    assert all(w == work[0] for w in work), work
    assert work[0][0] and work[0][1]  # it did look, and it did count


# --- proofs expire on the server ------------------------------------------------------------------------------------


async def test_details_typed_before_the_proof_epoch_prove_nothing(store: Database) -> None:
    deps = deps_for(store, "epoch")
    old = UserPromptPart("order 1042, jordan.lee@example.com, zip 78704", timestamp=T0)
    deps.session.proofs_after = T0
    ctx = RunContext(deps=deps, model=TestModel(), usage=RunUsage(), messages=[ModelRequest(parts=[old])])
    replayed = await find_order(ctx, order_number="1042", email="jordan.lee@example.com", postal_code="78704")
    assert replayed.status == "verification_needed" and replayed.order is None
    again = UserPromptPart("it's jordan.lee@example.com", timestamp=T0 + timedelta(seconds=1))
    ctx.messages.append(ModelRequest(parts=[again]))
    assert (await find_order(ctx, order_number="1042", email="jordan.lee@example.com")).status == "verified"


async def test_a_detail_the_shopper_never_typed_proves_nothing(store: Database) -> None:
    """A model that fills in an email (from an old message, a tool result, or a guess) is not the shopper typing."""
    deps = deps_for(store, "never-typed")
    ctx = typed(deps, "where is order 1042?")
    assert (await find_order(ctx, order_number="1042", email="jordan.lee@example.com")).status == "verification_needed"


@pytest.fixture
async def lumen(store: Database) -> Lumen:
    return Lumen(Settings(_env_file=None), FixtureStore(), store)


async def test_a_proof_lasts_a_day_idle_then_the_shopper_proves_again(lumen: Lumen, clock: Clock) -> None:
    first = await lumen.chat("where is order #1042? jordan.lee@example.com")
    assert TRACKING_1042 in first.reply
    clock.advance(hours=23)
    assert TRACKING_1042 in (await lumen.chat("where is order #1042 now?", first.session_id)).reply
    clock.advance(days=30)
    stale = await lumen.chat("where is order #1042 now?", first.session_id)
    assert TRACKING_1042 not in stale.reply
    assert "jordan.lee@example.com" not in stale.reply
    again = await lumen.chat("jordan.lee@example.com", first.session_id)
    assert TRACKING_1042 in again.reply


async def test_a_proof_ends_just_after_24_hours_idle(lumen: Lumen, clock: Clock) -> None:
    first = await lumen.chat("where is order #1042? zip 78704")
    assert TRACKING_1042 in first.reply
    clock.advance(hours=24, minutes=5)
    assert TRACKING_1042 not in (await lumen.chat("and where is order #1042 now?", first.session_id)).reply


async def test_an_anonymous_proof_does_not_carry_into_a_login(lumen: Lumen) -> None:
    first = await lumen.chat("where is order #1042? jordan.lee@example.com")
    assert TRACKING_1042 in first.reply
    other = await lumen.chat("where is order #1042?", first.session_id, customer_id="gid://shopify/Customer/7001")
    assert TRACKING_1042 not in other.reply
    row = await lumen.db.get_conversation(first.session_id)
    assert row is not None and json.loads(row.state_json)["verified_orders"] == []


# --- the US-only ZIP+4 leniency, through the tool -------------------------------------------------------------------


async def test_zip_plus_four_proves_a_us_order_and_nothing_else(store: Database) -> None:
    assert await guess(store, "us", order_number="1042", postal_code="78704-1234") == "verified"
    assert await guess(store, "us-5", order_number="1042", postal_code="78704") == "verified"
    assert await guess(store, "de", order_number="1065", postal_code="10115-1234") == "not_found"
    assert await guess(store, "de-5", order_number="1065", postal_code="10115") == "verified"
