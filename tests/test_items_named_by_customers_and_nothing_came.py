"""Two readings, on an invented shop (Tidewrack Outfitters, Halifax, en-CA; no eval store), each in several wordings:

- a logged-in customer naming an order by what is in it, in words the act reader hears as a question about a product
  ("where are the sleeping bags for the scouts?"): their orders are looked up and the one with that item is
  answered; a question about the product itself ("are the sleeping bags warm enough for winter?") stays one, and a
  shopper who is not logged in is never shown an order for naming an item. Choosing from the listed orders, a word
  that runs an item's word on ("the tankies") names it;
- "nothing turned up", "nothin came", "nothing's arrived" about an order the carrier marked delivered: the parcel is
  not in the shopper's hands, so Lumen says it can only see the carrier's tracking and offers the team.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.model import detect_intent
from agent.playbook.understand import names_item
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store

_EVENT_AT = "2026-12-04T18:20:00Z"


def _package(
    status: str, item: str, quantity: int, carrier: str, number: str, message: str, **extra: Any
) -> dict[str, Any]:
    happened = build.event(status, _EVENT_AT, message, "Dartmouth")
    return build.package([(item, quantity)], carrier, number, status=status, events=[happened], **extra)


def _order(number: str, email: str, item: str, quantity: int, package: dict[str, Any], **extra: Any) -> dict[str, Any]:
    built = build.order(f"#{number}", email=email, zip_code="B3H 1A1", country="CA", items=[(item, quantity)],
                        packages=[package], amount="96.00", currency="CAD", **extra)  # fmt: skip
    del built["refunds"]  # this store's orders were first written without the field: the file stays the same
    return built


def _customer(number: int) -> dict[str, Any]:
    return {"customer": {"id": f"gid://shopify/Customer/{number}"}}


_DELIVERED = {"deliveredAt": _EVENT_AT}

STORE: dict[str, Any] = build.store(
    build.shop("Tidewrack Kites", "America/Halifax", "CAD", locale="en-CA", prefix="#"),
    [
        # One customer's three orders: six tank tops and four sleeping bags on their way, a hoodie delivered.
        _order("3301", "maeve@example.ca", "Harness Tank Top", 6,
               _package("IN_TRANSIT", "Harness Tank Top", 6, "Purolator", "PUR3301778", "Departed sort facility"),
               **_customer(7701)),
        _order("3303", "maeve@example.ca", "Scout Sleeping Bag", 4,
               _package("IN_TRANSIT", "Scout Sleeping Bag", 4, "Purolator", "PUR3303456", "Departed sort facility"),
               **_customer(7701)),
        _order("3302", "maeve@example.ca", "Club Hoodie", 1,
               _package("DELIVERED", "Club Hoodie", 1, "Canada Post", "7023981100452210",
                        "Delivered to community mailbox", **_DELIVERED),
               **_customer(7701)),
        # Delivered to a depot the shopper says nothing came to.
        _order("3304", "rory@example.ca", "Dual Line Stunt Kite", 2,
               _package("DELIVERED", "Dual Line Stunt Kite", 2, "Purolator", "PUR3304991",
                        "Delivered to Purolator Access Point - corner store", **_DELIVERED)),
        _order("3305", "rory@example.ca", "Kite Repair Tape", 1,
               _package("IN_TRANSIT", "Kite Repair Tape", 1, "Purolator", "PUR3305112", "Departed sort facility")),
    ],
    as_of="2026-12-07T15:00:00Z",
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "tidewrack-store.json", STORE)


# --- a logged-in customer names an order by its item --------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    [
        "where are the sleeping bags for the scouts",
        "where are the kids' sleeping bags",
        "wheres the sleeping bags for scout camp",
    ],
)
async def test_a_logged_in_customer_names_the_order_by_its_item(store: Path, question: str) -> None:
    (answer,) = await _turns(store, question, customer_id="7701")
    assert "#3303" in answer.reply and "PUR3303456" in answer.reply
    assert "#3301" not in answer.reply and "#3302" not in answer.reply


@pytest.mark.parametrize("question", ["where are the hoodies for the team", "where are the team hoodies"])
async def test_the_item_of_another_order_names_that_one(store: Path, question: str) -> None:
    (answer,) = await _turns(store, question, customer_id="7701")
    assert "#3302" in answer.reply and "delivered" in answer.reply
    assert "#3301" not in answer.reply and "#3303" not in answer.reply


@pytest.mark.parametrize(
    "question", ["how do i wash the sleeping bags", "are the sleeping bags warm enough for winter"]
)
async def test_a_question_about_the_product_stays_one(store: Path, question: str) -> None:
    (answer,) = await _turns(store, question, customer_id="7701")
    assert "#3303" not in answer.reply and "PUR3303456" not in answer.reply


async def test_a_shopper_not_logged_in_sees_no_order_for_naming_an_item(store: Path) -> None:
    (answer,) = await _turns(store, "where are the sleeping bags for the scouts")
    assert "#3303" not in answer.reply and "PUR3303456" not in answer.reply


@pytest.mark.parametrize("pick", ["the tankies", "the 6 tankies", "tankies for the team"])
async def test_a_word_run_on_from_an_item_picks_from_the_list(store: Path, pick: str) -> None:
    listed, answer = await _turns(store, "hi where's my stuff", pick, customer_id="7701")
    assert all(number in listed.reply for number in ("#3301", "#3302", "#3303"))
    assert "#3301" in answer.reply and "PUR3301778" in answer.reply
    assert "#3302" not in answer.reply and "#3303" not in answer.reply


@pytest.mark.parametrize(
    ("item", "said", "named"),
    [
        ("Crew Rash Guard", "the rashies", True),
        ("Harness Tank Top", "the tankie", True),
        ("Harness Tank Top", "the tanks", True),
        ("Wide Brim Hat", "the hatch", False),  # too short an item word to run on
        ("Card Holder", "the cardigan", False),  # more than an ending added
        ("Harness Tank Top", "the tarp", False),
    ],
)
def test_a_word_names_an_item_with_an_ending_of_its_own(item: str, said: str, named: bool) -> None:
    assert names_item(item, said) is named


# --- nothing came, of a parcel marked delivered ------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "3304 rory@example.ca, my husband says nothing turned up",
        "bought 2 kites for the club, 3304, rory@example.ca, coach says nothin came",
        "order 3304 rory@example.ca nothing's arrived at the office",
        "3304, rory@example.ca - nothing has showed up here",
    ],
)
async def test_nothing_came_of_a_delivered_order_is_a_parcel_not_received(store: Path, message: str) -> None:
    (answer,) = await _turns(store, message)
    assert "Access Point" in answer.reply
    assert "can only see the carrier's tracking" in answer.reply
    assert "If it hasn't reached you" not in answer.reply


async def test_nothing_came_of_an_order_on_its_way_gives_where_it_is(store: Path) -> None:
    (answer,) = await _turns(store, "3305 rory@example.ca nothing has arrived yet")
    assert "PUR3305112" in answer.reply
    assert "can only see the carrier's tracking" not in answer.reply


@pytest.mark.parametrize(
    ("text", "not_received"),
    [
        ("nothing turned up", True),
        ("nothin came", True),
        ("reception says nothing's arrived", True),
        ("nothing came with the charger", False),  # a part missing from what came
        ("nothing has come through on my email", False),
    ],
)
def test_nothing_as_what_came(text: str, not_received: bool) -> None:
    assert detect_intent(text).not_received is not_received
