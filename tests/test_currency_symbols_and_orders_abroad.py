"""A currency symbol written in letters glued to an amount ("paid R1299", "rm89", "Ksh 2500") is money, never an order
name, whatever the currency, unless the shop's own names carry those letters; and an order number with a postcode
longer than the shop's country writes (an order shipped to a neighbour) is read the other way round when the first
reading names no order.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.playbook.understand import extract_details, order_numbers
from shopify.names import NameFormat
from tests import store_builders as build
from tests.test_postcodes_beside_order_numbers import _find_calls, write_shop
from tests.test_understanding import talk

KB = NameFormat("#KB", "")


@pytest.mark.parametrize(
    ("message", "country", "order", "postcode"),
    [
        ("paid R1299 for the grinder and still nothing, 5201 8001", "ZA", "5201", "8001"),
        ("I spent r450 on it. 5201, 8001", "ZA", "5201", "8001"),  # typed in small letters
        ("R 650 and it's been two weeks 5201 8001", "ZA", "5201", "8001"),  # the symbol spaced from the amount
        ("5201 they charged me RM89 for shipping?? 50450", "MY", "5201", "50450"),
        ("over Ksh2500 for this, where is 5201", "KE", "5201", None),
        ("5201 kit.marlow@example.net - your agent promised a Rs500 voucher, add it", "IN", "5201", None),
    ],
)
def test_a_currency_symbol_in_letters_glued_to_digits_is_money(
    message: str, country: str, order: str, postcode: str | None
) -> None:
    details = extract_details(message, None, country, KB)
    assert (details.order_number, details.postal_code) == (order, postcode)
    assert order_numbers(message, details.postal_code, KB) == [order]


def test_the_shops_own_letters_stay_its_order_name() -> None:
    # A shop whose names are 'K-1042' (a letter that is also the kina's symbol) keeps its names.
    details = extract_details("K1042 zip 43214", None, "US", NameFormat("K-", ""))
    assert (details.order_number, details.postal_code) == ("K1042", "43214")


@pytest.fixture
def za_shop(tmp_path: Path) -> Path:
    # The second order went to a neighbouring country whose postcodes have five digits.
    orders = [(5201, "8001", "ZA"), (5202, "13001", "NA"), (5203, "0157", "ZA")]
    return write_shop(
        tmp_path, prefix="#KB", zone="Africa/Johannesburg", currency="ZAR", orders=orders, address_country="ZA"
    )


async def test_an_amount_in_rand_beside_the_order_and_postcode_proves_the_order(za_shop: Path) -> None:
    said = await talk("I paid R1299 for a kickboard a week ago. 5201, 8001", store=za_shop)
    assert _find_calls(said, 0) == [{"order_number": "5201", "postal_code": "8001"}]
    assert "Reef Kickboard" in said.replies[0] and "UPS" in said.replies[0]


@pytest.mark.parametrize("message", ["5202 13001", "13001 5202", "hi, 5202 13001 any news?"])
async def test_an_order_shipped_abroad_with_a_longer_postcode_is_found_either_way(za_shop: Path, message: str) -> None:
    said = await talk(message, store=za_shop)
    assert len(_find_calls(said, 0)) == 1  # one lookup, one attempt
    assert "Tide Goggles No. 1" in said.replies[0]


async def test_a_wrong_longer_postcode_finds_nothing_and_names_no_order(za_shop: Path) -> None:
    said = await talk("5202 13999", store=za_shop)
    assert "Tide Goggles" not in said.replies[0]
    assert "5202" not in said.replies[0]  # the miss reads as the number typed as the order: no hint it exists


# --- asking for the order sooner by its number, and what "delivered" means to one who hasn't got it -----------------
@pytest.mark.parametrize(
    "message",
    [
        "can you make 5201 come faster please, I move out on Saturday",
        "could u get #5201 here sooner?? kit.marlow@example.net",
        "pls speed up KB5201, it's a birthday present",
    ],
)
async def test_asking_for_an_order_named_by_its_number_to_come_sooner_offers_the_team(
    za_shop: Path, message: str
) -> None:
    turns = [message] if "@" in message else [message, "8001"]
    said = await talk(*turns, store=za_shop)
    reply = said.replies[-1]
    assert "UPS" in reply  # the status, as the data says it
    assert "support team" in reply and "sooner" in reply  # what Lumen can't do, and the team offered


def _delivered_first_order(path: Path) -> Path:
    """The shop with its first order's parcel recorded as delivered by the carrier."""
    store = json.loads(path.read_text(encoding="utf-8"))
    parcel = store["orders"][0]["fulfillments"][0]
    parcel["displayStatus"] = "DELIVERED"
    parcel["deliveredAt"] = "2026-09-12T10:15:00Z"
    parcel["events"]["nodes"].append(
        build.event("DELIVERED", "2026-09-12T10:15:00Z", "Delivered", "Cape Town", province=None, country=None)
    )
    path.write_text(json.dumps(store), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "question",
    [
        "what does delivered even mean when i haven't got it",
        "so what does 'delivered' mean? I never got it",
        "what is delivered supposed to mean when there's nothing here, i didn't receive it",
    ],
)
async def test_what_delivered_means_to_a_shopper_without_the_parcel_says_what_lumen_cannot_confirm(
    za_shop: Path, question: str
) -> None:
    said = await talk("5201 8001", question, store=_delivered_first_order(za_shop))
    assert "delivered" in said.replies[1].lower()
    assert "can't confirm" in said.replies[1] and "support team" in said.replies[1]


async def test_what_delivered_means_asked_alone_is_the_meaning_alone(za_shop: Path) -> None:
    said = await talk("5201 8001", "what does delivered mean", store=_delivered_first_order(za_shop))
    assert "can't confirm" not in said.replies[1] and "support team" not in said.replies[1]


async def test_the_postcode_kept_after_reading_the_other_way_is_the_one_that_proved_the_order(za_shop: Path) -> None:
    said = await talk("5202 13001", "ok and which items are in it?", store=za_shop)
    assert "Tide Goggles No. 1" in said.replies[0]
    later = _find_calls(said, 1)
    assert later and all(call.get("postal_code") == "13001" for call in later)
