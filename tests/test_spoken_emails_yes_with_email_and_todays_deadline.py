"""Shopper messages Lumen misread on a shop it had never seen, each kind on an invented shop (Tidewater Kayak Supply,
Portland, en-US, America/Los_Angeles; no eval store), in several wordings:

- an email address said aloud or typed by voice ("name dot surname at example dot org"): read as the address, and
  it proves the order as the typed one does; words round an "at" that are no address ("ordered at shop dot com",
  "delivered at 5.30") are left alone;
- a yes to the team's offer with the reply-to email in the same message ("yep, get them on it - li.wei@..."): the
  hand-off is made, to that address;
- a greeting in another language ("buenas noches!", "goedemorgen"): a greeting and the ask for an order number,
  never the team offered;
- "will it come this weekend?" asked on a Sunday about a split order: the package already delivered is shown with
  its carrier and tracking number, and the day is "today" (the shop's own Sunday, though it is Monday in UTC), never
  "before <today's date>".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import detect_intent, spoken_emails_typed
from shopify.names import email_in_text
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store


def _package(status: str, carrier: str, number: str, item: str, event: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return build.package(item, carrier, number, status=status, events=[event], created_at="2026-12-14T18:00:00Z",
                         in_transit_at="2026-12-15T01:00:00Z", **extra)  # fmt: skip


def _order(number: str, email: str, zip_code: str, items: list[str], packages: list[dict[str, Any]]) -> dict[str, Any]:
    return build.order(f"TK-{number}", email=email, zip_code=zip_code, items=items, packages=packages, amount="189.00",
                       ordered_at="2026-12-12T17:00:00Z")  # fmt: skip


_OUT = build.event("OUT_FOR_DELIVERY", "2026-12-20T16:10:00Z", "Out for delivery", "Portland")
_LEFT = build.event("DELIVERED", "2026-12-17T21:40:00Z", "Delivered, left at side door", "Portland")
_MOVING = build.event("IN_TRANSIT", "2026-12-20T11:00:00Z", "Arrived at regional hub", "Sacramento")

STORE: dict[str, Any] = build.store(
    build.shop("Tidewater Kayak Supply", "America/Los_Angeles", "USD", locale="en-US", prefix="TK-"),
    [
        _order("8101", "rosa.almeida@example.org", "97214", ["Spray Skirt"],
               [_package("OUT_FOR_DELIVERY", "USPS", "9400111899561234810101", "Spray Skirt", _OUT)]),
        _order("8102", "dana_k@example.com", "97035", ["Touring Paddle", "Dry Bag 20L"], [
            _package("DELIVERED", "USPS", "9400111899561234810201", "Dry Bag 20L", _LEFT,
                     deliveredAt="2026-12-17T21:40:00Z"),
            _package("IN_TRANSIT", "OnTrac", "D10011234810202", "Touring Paddle", _MOVING,
                     estimatedDeliveryAt="2026-12-22T20:00:00Z"),
        ]),
        _order("8103", "li.wei@example.net", "98101", ["Bilge Pump"], []),
    ],
    # Sunday 20 December, 10 PM in Portland: already Monday 21 December in UTC.
    as_of="2026-12-21T06:00:00Z",
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "tidewater-store.json", STORE)


# --- an email said aloud ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "typed"),
    [
        ("order TK-8101 email rosa dot almeida at example dot org, where is it", "rosa.almeida@example.org"),
        ("my e-mail is Rosa.Almeida at Example DOT org", "Rosa.Almeida@Example.org"),
        ("8101 rosa.almeida at example.org pls", "rosa.almeida@example.org"),
        ("its dana underscore k at example dot com", "dana_k@example.com"),
        ("8103 - li dot wei at example period net", "li.wei@example.net"),
        ("reply to sam dash lee at mail dot co dot uk thanks", "sam-lee@mail.co.uk"),
    ],
)
def test_an_email_said_aloud_is_read_as_typed(message: str, typed: str) -> None:
    assert typed in spoken_emails_typed(message)


@pytest.mark.parametrize(
    "message",
    [
        "I ordered at shop dot com last week",
        "it was delivered at 5.30 pm",
        "the parcel is at the post office",
        "tracking says it arrived at depot, where now?",
        "is it at my neighbour's?",
    ],
)
def test_words_round_an_at_that_are_no_address_are_left_alone(message: str) -> None:
    assert spoken_emails_typed(message) == message


def test_an_address_is_in_the_text_typed_or_said_and_never_only_in_part() -> None:
    assert email_in_text("rosa.almeida@example.org", "it's ROSA.ALMEIDA@example.org")
    assert email_in_text("rosa.almeida@example.org", "email rosa dot almeida at example dot org")
    assert email_in_text("rosa.almeida@example.org", "rosa punto almeida arroba example punto org")
    assert not email_in_text("rosa.almeida@example.org", "rosa almeida")
    assert not email_in_text("ana@example.org", "ana wrote to us about the example order")
    assert not email_in_text("rosa.almeida@example.org", "almeida dot rosa at example dot org")
    assert not email_in_text("rosa.almeida@example.org", "carla.almeida@example.org")


@pytest.mark.parametrize(
    "message",
    [
        "hi, order 8101 email rosa dot almeida at example dot org - where is it?",
        "TK-8101 my email is rosa dot almeida at example dot org",
        "where is my spray skirt, 8101, rosa.almeida at example dot org",
    ],
)
async def test_an_order_is_proved_by_an_email_said_aloud(store: Path, message: str) -> None:
    (turn,) = await _turns(store, message)
    assert "9400111899561234810101" in turn.reply
    assert "out for delivery" in turn.reply.lower()


async def test_an_email_said_aloud_that_is_not_the_orders_proves_nothing(store: Path) -> None:
    (turn,) = await _turns(store, "8101 email carla dot almeida at example dot org where is it")
    assert "9400111899561234810101" not in turn.reply


# --- a yes to the team with the reply-to email -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    [
        "sure thing, reply to li.wei@example.net",
        "yep, get them on it - li.wei@example.net",
    ],
)
async def test_a_yes_to_the_team_with_an_email_hands_over(store: Path, answer: str) -> None:
    first, second = await _turns(store, "8103 98101 when will it be sent?", answer)
    assert "support team" in first.reply and first.escalation is None
    assert second.escalation is not None and second.escalation.status == "created"
    assert second.escalation.reply_to == "li.wei@example.net"


@pytest.mark.parametrize("message", ["yeah do that. li.wei@example.net", "sure thing, reply to li.wei@example.net"])
def test_an_email_beside_a_yes_leaves_the_yes_sure(message: str) -> None:
    assert "accept" in detect_intent(message).sure


# --- a greeting in another language ----------------------------------------------------------------------------------
@pytest.mark.parametrize("message", ["buenas noches!", "goedemorgen", "buenos días a todos", "boa tarde, tudo bem?"])
async def test_a_greeting_in_another_language_is_a_greeting(store: Path, message: str) -> None:
    (turn,) = await _turns(store, message)
    assert "order number" in turn.reply
    assert "support team" not in turn.reply and turn.escalation is None


# --- a split order against a day that is today -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "8102 dana_k@example.com, I need it by this weekend",
        "need the paddle for the lake this weekend - 8102 dana_k@example.com",
        "TK-8102 dana_k@example.com can it come before the weekend",
    ],
)
async def test_a_split_order_against_today_names_each_package_and_today(store: Path, message: str) -> None:
    (turn,) = await _turns(store, message)
    # The delivered package with its carrier and number, the other with its own.
    assert "9400111899561234810201" in turn.reply and "USPS" in turn.reply
    assert "D10011234810202" in turn.reply
    # Sunday 20 December is the shop's today (Monday in UTC): said as today, never as a date before which to arrive.
    assert "today" in turn.reply
    assert "December 20" not in turn.reply and "December 21" not in turn.reply
