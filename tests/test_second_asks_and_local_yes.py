"""Shopper messages Lumen misread on a shop it had never seen, each kind on an invented shop (Puffin Point Outfitters,
Twillingate, en-CA; neither an eval store), in several wordings:

- two orders in one message, each with its own email in brackets after its name ("3301-PP (a@x.ca) and 3302-PP
  (b@y.ca)"): a number written with the shop's suffix is an order, never the other's postcode; both are answered;
- a yes to an offer in regional words ("g'wan so", "go on then", "fire away") or as what the help would be ("that'd
  be some good", "it would be a great help"): the offer is taken up; "that's great, thanks" is not a yes;
- "what's a notice card?" (a carrier's word for a card left at an attempted delivery): what it means, with the
  carrier's update that uses it, never "I can only help with orders";
- "no need to pass me on, just want the eta": no hand-off, and the question answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.service_change import service_change_asked
from agent.playbook.understand import extract_details, firm_yes, meaning_asked, offer_answer, order_numbers
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store


def _package(status: str, carrier: str, number: str, item: str, event: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return build.package(item, carrier, number, status=status, events=[event], **extra)


def _order(number: str, email: str, item: str, package: dict[str, Any]) -> dict[str, Any]:
    return build.order(
        f"#{number}-PP",
        email=email,
        zip_code="A0G 4M0",
        country="CA",
        items=item,
        packages=[package],
        amount="48.00",
        currency="CAD",
        id_prefix="99",
    )


_DELIVERED = {"status": "DELIVERED", "happenedAt": "2026-12-03T19:10:00Z", "message": "Left at back porch",
              "city": "Twillingate"}  # fmt: skip
_CARDED = {"status": "ATTEMPTED_DELIVERY", "happenedAt": "2026-12-06T16:00:00Z",
           "message": "Attempted delivery, notice card left. Collect at the Post Office after 2 PM", "city": "Lewisporte"}  # fmt: skip
_MOVING = {"status": "IN_TRANSIT", "happenedAt": "2026-12-06T12:00:00Z", "message": "Departed sorting facility",
           "city": "Moncton"}  # fmt: skip

STORE: dict[str, Any] = {
    "asOf": "2026-12-07T18:00:00Z",
    "shop": {"name": "Puffin Point Outfitters", "ianaTimezone": "America/St_Johns", "currencyCode": "CAD",
             "locale": "en-CA", "orderNumberFormatPrefix": "#", "orderNumberFormatSuffix": "-PP"},
    "orders": [
        _order("3301", "maud@example.ca", "Wool Trigger Mitts",
               _package("DELIVERED", "Canpar", "D4203301", "Wool Trigger Mitts", _DELIVERED,
                        deliveredAt="2026-12-03T19:10:00Z")),
        _order("3302", "cyril@example.ca", "Sealskin Boot Liners",
               _package("ATTEMPTED_DELIVERY", "Canada Post", "7023330200001", "Sealskin Boot Liners", _CARDED)),
        _order("3303", "maud@example.ca", "Iceberg Print",
               _package("IN_TRANSIT", "Purolator", "335833030001", "Iceberg Print", _MOVING,
                        estimatedDeliveryAt="2026-12-11T20:00:00Z")),
    ],
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "puffin-store.json", STORE)


# --- two orders, each with its own email ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "3301-PP (maud@example.ca) and my brother's 3302-PP (cyril@example.ca) - where are they?",
        "status on 3301-pp maud@example.ca, also my dad's 3302-pp cyril@example.ca",
        "#3301-PP (maud@example.ca) + #3302-PP (cyril@example.ca) pls",
    ],
)
def test_a_suffixed_order_name_beside_another_is_no_postcode(message: str) -> None:
    fmt = NameFormat("#", "-PP")
    details = extract_details(message, None, "CA", fmt)
    assert details.postal_code is None
    assert [n[:4] for n in order_numbers(message, details.postal_code, fmt)] == ["3301", "3302"]


@pytest.mark.parametrize(
    "message",
    [
        "#2114 3000 jo@x.com or jo.smith@y.com not sure which",
        "2114 3000, jo@x.com / jo.smith@y.com",
        "order 2114 postcode 3000 - email jo@x.com or maybe jo.smith@y.com",
    ],
)
def test_two_emails_side_by_side_keep_the_postcode(message: str) -> None:
    # Two emails one after the other are one shopper's guesses, not an email for each of two orders.
    details = extract_details(message, None, "AU")
    assert details.order_number == "2114"
    assert details.postal_code == "3000"


@pytest.mark.parametrize(
    "message",
    [
        "3301-PP (maud@example.ca) and my brother's 3302-PP (cyril@example.ca) - where are they?",
        "status on 3301-pp maud@example.ca, also my dad's 3302-pp cyril@example.ca",
    ],
)
async def test_two_orders_each_with_its_own_email_are_both_answered(store: Path, message: str) -> None:
    reply = (await _turns(store, message))[0].reply
    assert "#3301-PP" in reply and "Canpar" in reply and "December 3" in reply
    assert "#3302-PP" in reply and "Canada Post" in reply


# --- regional and conditional yeses ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    ["g'wan so", "go on then", "aye go on", "fire away b'y", "that'd be some good, thanks me son",
     "it would be a great help, thanks", "that would be lovely", "oh that'd be deadly", "twould be grand so",
     "yeah righto", "too easy mate", "i sure would"],
)  # fmt: skip
def test_regional_and_conditional_yeses_take_up_an_offer(answer: str) -> None:
    assert offer_answer(answer) == "yes"
    assert firm_yes(answer)


@pytest.mark.parametrize(
    "answer", ["that's great, thanks", "that'd be pointless", "no, that'd be a waste of time", "go on without me"]
)
def test_praise_of_the_answer_or_a_no_is_no_yes(answer: str) -> None:
    assert not firm_yes(answer)


@pytest.mark.parametrize(
    "answer",
    ["it will be fine", "that will be fine", "this would be fine", "it would be nice", "it'll be fine thanks",
     "go on?", "go on...", "go on…"],
)  # fmt: skip
def test_a_future_a_bare_fine_or_a_go_on_asked_is_no_firm_yes(answer: str) -> None:
    # "it will be fine" means "no need"; "go on?" asks the shopper to say more.
    assert not firm_yes(answer)
    assert offer_answer(answer) != "yes"


@pytest.mark.parametrize("answer", ["that'll be great", "that'd be nice", "it would be really nice", "go on"])
def test_the_conditional_and_a_plain_go_on_still_take_up_an_offer(answer: str) -> None:
    assert firm_yes(answer)


@pytest.mark.parametrize("answer", ["g'wan so", "that'd be some good, thanks", "it would be a big help"])
async def test_a_local_yes_to_a_not_received_offer_hands_over(store: Path, answer: str) -> None:
    first, second = await _turns(store, "3301-PP maud@example.ca says delivered but nothing here", answer)
    assert "support team" in first.reply
    assert second.escalation is not None, second.reply


# --- what a carrier's word means -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    ["what's a notice card? never saw one", "whats a door tag", "door hanger? what's that", "what is a calling card"],
)
def test_asking_what_a_carriers_word_is_is_a_meaning_question(question: str) -> None:
    assert meaning_asked(question)


@pytest.mark.parametrize("question", ["what is the status, it says delivered", "whats the tracking number", "thanks!"])
def test_other_questions_ask_no_meaning(question: str) -> None:
    assert not meaning_asked(question)


@pytest.mark.parametrize("question", ["what's a notice card? I never saw any card", "whats a delivery notice card"])
async def test_a_carriers_word_is_explained_from_its_update(store: Path, question: str) -> None:
    reply = (await _turns(store, "3302-PP cyril@example.ca", question))[1].reply
    assert "Post Office" in reply and "card" in reply
    assert "For anything else" not in reply


# --- not passed on, and the question answered ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "no need to pass me on, just want the eta",
        "don't escalate this, just tell me when it's coming",
        "no need for a human, when will it get here?",
    ],
)
async def test_no_handoff_and_a_question_answers_the_question(store: Path, message: str) -> None:
    turns = await _turns(store, "3303-PP maud@example.ca", message)
    reply = turns[1].reply
    assert "December 11" in reply, reply
    assert "support team" not in reply and turns[1].escalation is None


# --- a change to how or when the order comes: can't do, said so, team offered -----------------------------------------
@pytest.mark.parametrize(
    ("message", "change"),
    [
        ("can you just fedex it instead", "change_shipping"),
        ("any chance you could overnight it?", "change_shipping"),
        ("pls upgrade to express shipping", "change_shipping"),
        ("will ye hold it for me till the 20th?", "hold_order"),
        ("how long do you keep pickup orders?", "hold_order"),
        ("i'm away, can you hang onto it til monday", "hold_order"),
    ],
)
def test_a_change_to_how_or_when_it_comes_is_heard(message: str, change: str) -> None:
    assert service_change_asked(message) == change


@pytest.mark.parametrize(
    "message", ["I paid for express shipping, can you tell me where it is?", "it went express, where is it?",
                "don't expedite it, just tell me where it is", "where's my order"]
)  # fmt: skip
def test_a_service_named_but_not_asked_for_is_no_change(message: str) -> None:
    assert service_change_asked(message) is None


@pytest.mark.parametrize(
    "message",
    [
        "could you tell me the eta on my Priority Mail package?",
        "hi, just checking on my priority mail order #1234",
        "just wondering about my express order",
        "hi can you track my xpresspost parcel 1234",
        "can u tell me if its coming overnight",
        "please confirm the next day delivery",
        "how long will it stay in transit?",
    ],
)
def test_a_service_describing_the_order_or_a_parcel_on_its_way_asks_no_change(message: str) -> None:
    # A service before a noun describes the order; "just", "please", "can you" alone ask for nothing; "how long will
    # it stay" is a hold only about a pickup.
    assert service_change_asked(message) is None


@pytest.mark.parametrize(
    ("message", "change"),
    [
        ("can you express it", "change_shipping"),
        ("could you switch it to priority mail", "change_shipping"),
        ("please send it overnight instead", "change_shipping"),
        ("can you speed it up", "change_shipping"),
        ("how long will it stay at the post office?", "hold_order"),
        ("keep it for me please", "hold_order"),
    ],
)
def test_a_verb_aimed_at_the_service_or_a_hold_in_a_pickup_is_still_heard(message: str, change: str) -> None:
    assert service_change_asked(message) == change


@pytest.mark.parametrize(
    "message",
    [
        "3303-PP maud@example.ca can you just purolator it express instead",
        "3303-PP maud@example.ca I'm away for a bit, will you hold it?",
        "maud@example.ca #3303-PP could you upgrade it to overnight please",
    ],
)
async def test_a_change_lumen_cant_make_gets_the_status_and_the_team(store: Path, message: str) -> None:
    turn = (await _turns(store, message))[0]
    assert "Purolator" in turn.reply and "December 11" in turn.reply
    assert "I can't" in turn.reply and turn.reply.rstrip().endswith("?") and "support team" in turn.reply
    assert turn.escalation is None
