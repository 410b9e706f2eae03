"""Readings of a shopper's words and answers to two questions in one message, on an invented shop (Tamarack Ridge
Paddle Co., Halifax, en-CA, order names 'TR-4101'; no eval store), each kind in several wordings:

- a postcode typed with extra spaces, a tab or a no-break space between its halves is still the postcode;
- a street address's house number ("change the address to 2750 Birch Ave") is no order number: the change of address
  is offered to the team for the order already proved, and a yes hands it off;
- the "for" of a status's name ("out for delivery", "ready for pickup") is no deadline cue: "what does out for
  delivery mean, is that today?" asks what it means, not whether it comes by today;
- what a status means and where to go, asked together ("ready for pickup means what? must I go somewhere?"): the
  meaning, then where the carrier says it waits;
- why an order was cancelled and whether the money comes back, asked together: the refunds recorded (or none), and
  that the reason isn't Lumen's to see.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.dates_said import deadline_named
from agent.playbook.follow_ups import asks_where_to_collect
from agent.playbook.understand import extract_details
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store

TR = NameFormat("TR-", "")


def _package(status: str, item: str, carrier: str, number: str, message: str, **extra: Any) -> dict[str, Any]:
    happened = build.event(status, "2026-11-18T13:10:00Z", message, "Halifax")
    return build.package(item, carrier, number, status=status, events=[happened], created_at="2026-11-12T15:00:00Z",
                         in_transit_at="2026-11-12T20:00:00Z", **extra)  # fmt: skip


_ADDRESS = {"city": "Halifax", "provinceCode": "NS", "zip": "B3K 5M7", "countryCodeV2": "CA"}


def _order(number: str, email: str, item: str, packages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return build.order(f"TR-{number}", email=email, zip_code="B3K 5M7", country="CA", items=item, packages=packages,
                       amount="74.50", currency="CAD", ordered_at="2026-11-10T15:00:00Z", shippingAddress=_ADDRESS,
                       **extra)  # fmt: skip


def _cancelled(refunded: str | None) -> dict[str, Any]:
    return {
        "cancelledAt": "2026-11-13T15:30:00Z",
        "cancelReason": "INVENTORY",
        "displayFinancialStatus": "REFUNDED" if refunded else "PAID",
        "fulfillmentOrders": {"nodes": [{"status": "CANCELLED", "deliveryMethod": {"methodType": "SHIPPING"}}]},
        "refunds": [build.refund("2026-11-13T16:00:00Z", refunded, "CAD")] if refunded else [],
    }


_HELD = "Parcel held for pickup at Access Point: Lawtons Drugs, 5990 Quinpool Road"

STORE: dict[str, Any] = build.store(
    build.shop("Tamarack Ridge Paddle Co.", "America/Halifax", "CAD", locale="en-CA", prefix="TR-"),
    [
        _order("4101", "noor@example.ca", "Spruce Canoe Paddle",
               [_package("IN_TRANSIT", "Spruce Canoe Paddle", "Purolator", "335912870041", "Departed sort facility",
                         estimatedDeliveryAt="2026-11-20T20:00:00Z")]),
        _order("4102", "hugo@example.ca", "Dry Bag 20L",
               [_package("FAILURE", "Dry Bag 20L", "UPS", "1Z8V41E20391775528", "Address incomplete - unable to deliver")]),
        _order("4103", "ines@example.ca", "Spray Skirt",
               [_package("OUT_FOR_DELIVERY", "Spray Skirt", "Canpar", "D421901055731201", "On vehicle for delivery",
                         estimatedDeliveryAt="2026-11-18T21:00:00Z")]),
        _order("4104", "omar@example.ca", "Bilge Pump",
               [_package("READY_FOR_PICKUP", "Bilge Pump", "UPS", "1Z8V41E20391775537", _HELD)]),
        _order("4105", "pia@example.ca", "Kayak Deck Bag", [], **_cancelled("74.50")),
        _order("4106", "ravi@example.ca", "Paddle Leash", [], **_cancelled(None)),
    ],
    as_of="2026-11-18T19:00:00Z",
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "tamarack-ridge-store.json", STORE)


# --- a postcode typed with extra spaces ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "postcode"),
    [
        ("TR-4101  B3K  5M7", "B3K 5M7"),
        ("tr 4101 ,   b3k   5m7", "b3k 5m7"),
        ("4101\tB3K\t5M7", "B3K 5M7"),
        ("order 4101 b3k\u00a05m7 thanks", "b3k 5m7"),
    ],
)
def test_a_postcode_with_extra_spaces_between_its_halves_is_the_postcode(message: str, postcode: str) -> None:
    details = extract_details(message, None, "CA", TR)
    assert details.postal_code == postcode
    assert details.order_number is not None and details.order_number.endswith("4101")


@pytest.mark.parametrize("message", ["TR / 4101 ,  B3K  5M7", "4101   b3k  5m7"])
async def test_an_order_proved_by_a_postcode_typed_with_extra_spaces(store: Path, message: str) -> None:
    (answer,) = await _turns(store, message)
    assert "335912870041" in answer.reply
    assert "email" not in answer.reply


# --- a house number is no order number -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "can you change the address to 2750 Birch Ave",
        "please send it to 3318 Old Sambro Rd instead",
        "new address is 1190 rue Sainte-Catherine",
        "update my address: 6042 north park street",
    ],
)
def test_a_street_addresss_house_number_is_no_order_number(message: str) -> None:
    assert extract_details(message, None, "CA", TR).order_number is None


@pytest.mark.parametrize(
    ("message", "order"),
    [
        ("4102 was left on the drive", "4102"),  # a sentence about the order, no street
        ("order 4102 main st", "4102"),  # named as the order
        ("where is 4102", "4102"),
    ],
)
def test_a_number_before_words_of_a_sentence_stays_the_order(message: str, order: str) -> None:
    assert extract_details(message, None, "CA", TR).order_number == order


@pytest.mark.parametrize(
    "change", ["can you change the address to 2750 Birch Ave", "could you send it to 3318 Old Sambro Rd instead?"]
)
async def test_a_new_street_address_is_offered_to_the_team_for_the_order_proved(store: Path, change: str) -> None:
    shown, offered, done = await _turns(store, "4102 hugo@example.ca", change, "yes please")
    assert "1Z8V41E20391775528" in shown.reply
    assert "wasn't able to find" not in offered.reply and "2750" not in offered.reply.replace("TR-4102", "")
    assert "support team" in offered.reply
    assert done.escalation is not None and done.escalation.status == "created"


# --- the "for" of a status's name is no deadline cue ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "deadline"),
    [
        ("so what does out for delivery mean, is that today?", None),
        ("ready for pickup?? like tomorrow or what", None),
        ("what's on vehicle for delivery mean exactly?", None),
        ("what's on vehicle for delivery mean, today?", date(2026, 11, 18)),  # a day asked alone is asked of the order
        ("will it be out for delivery by friday?", date(2026, 11, 20)),  # a cue of its own stays one
        ("i need it for tomorrow", date(2026, 11, 19)),
    ],
)
def test_a_status_names_for_is_no_deadline_cue(text: str, deadline: date | None) -> None:
    named = deadline_named(text, date(2026, 11, 18), "en_CA")
    assert (named.day if named else None) == deadline


@pytest.mark.parametrize(
    "question", ["out for delivery means what exactly, like today?", "what's out for delivery mean, as in today?"]
)
async def test_what_out_for_delivery_means_is_no_deadline_answer(store: Path, question: str) -> None:
    _, answer = await _turns(store, "4103 ines@example.ca", question)
    assert "need it by" not in answer.reply
    assert "driver" in answer.reply


# --- what a status means, and where to go ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("so do I go somewhere for it?", True),
        ("do i have to go anywhere to get it", True),
        ("where should i go to collect", True),
        ("where did it go?", False),  # where the parcel is, not where to collect it
        ("I don't want to go anywhere, where is it", False),
    ],
)
def test_going_somewhere_asks_where_to_collect(text: str, asks: bool) -> None:
    assert asks_where_to_collect(text) is asks


@pytest.mark.parametrize(
    "question",
    [
        "what is ready for pickup? must I go somewhere?",
        "ready for pickup, what does that mean, do i have to go anywhere",
    ],
)
async def test_a_status_meaning_and_where_to_go_are_both_answered(store: Path, question: str) -> None:
    _, answer = await _turns(store, "4104 omar@example.ca", question)
    assert "Ready for pickup" in answer.reply
    assert "Lawtons Drugs, 5990 Quinpool Road" in answer.reply


# --- why cancelled, and the money ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question", ["why was it cancelled?? do i get my money back", "why did you cancel it, will I be refunded?"]
)
async def test_why_cancelled_and_the_money_both_answered(store: Path, question: str) -> None:
    _, answer = await _turns(store, "4105 pia@example.ca", question)
    assert "$74.50" in answer.reply
    assert "can't see why" in answer.reply
    assert "inventory" not in answer.reply.lower() and "stock" not in answer.reply.lower()  # never the reason


async def test_why_cancelled_and_no_refund_recorded_offers_the_team_once(store: Path) -> None:
    _, answer = await _turns(store, "4106 ravi@example.ca", "why was it cancelled? do i get my money back?")
    assert "no refund recorded" in answer.reply
    assert "can't see why" in answer.reply
    assert answer.reply.count("support team") == 1
