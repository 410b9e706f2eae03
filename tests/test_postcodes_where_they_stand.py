"""A postcode read wherever the shopper puts it, in a shop whose postcodes and order numbers both have four digits:
before the order number, at the end of an address ("14 Rata Lane, Brightwater, 7022. order 6301 ..."); after it,
with the place it names ("... order 6301. we're in Greymouth 7805"); after the word "postcode" with words after it
("postcode 0610 is it here yet", never "0610 is"); after that word in any spacing ("post code 78 05"). Two orders,
each with something said of it, stay two.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import extract_details, order_numbers
from shopify.names import NameFormat
from tests.test_order_name_shape import _order
from tests.test_understanding import talk

# A shop of names like '#WH6301-K' (a prefix and a suffix), as a shopper types them bare: "6301".
WH = NameFormat("#WH", "-K")


@pytest.mark.parametrize(
    ("message", "order", "postcode"),
    [
        # Before the order number, ending an address: the town, a comma, the code alone in its clause.
        ("kia ora, 14 Rata Lane, Brightwater, 7022. order 6301 hasnt turned up", "6301", "7022"),
        ("it's Tui from RD 1 Wakefield, 7095 - order 6301, when's it coming", "6301", "7095"),
        # Placed: a word of place, the place, then the code, before or after the order.
        ("we're in Greymouth 7805, order 6301 where is it", "6301", "7805"),
        ("order 6301 for my aunt, she ordered it for me. I'm in Te Anau 9600", "6301", "9600"),
        ("any update on order 6301? we live at Mt Cook Village 7946", "6301", "7946"),
        # After the word "postcode", words after it are no part of it; a leading zero stays.
        ("6302 postcode 0610 is it here yet", "6302", "0610"),
        ("postcode 0610 is what i used, order 6302", "6302", "0610"),
        # In any spacing.
        ("6303 post code 78 05", "6303", "7805"),  # a digit code is passed on joined, as the country writes it
        ("order 6303, postcode is 7 805 thanks", "6303", "7805"),
    ],
)
@pytest.mark.parametrize("country", ["NZ", "AU", "DK"])
def test_a_postcode_is_read_wherever_it_stands(message: str, order: str, postcode: str, country: str) -> None:
    details = extract_details(message, None, country, WH)
    assert (details.order_number, details.postal_code) == (order, postcode)
    assert order_numbers(message, details.postal_code, WH) == [order]  # one order, never "orders 7022, 6301"


@pytest.mark.parametrize(
    "message",
    [
        "6301 came damaged, and 6302 I want to cancel",
        "can you cancel 6301, and 6302 arrived broken",
        "6301 is fine but the one at my work 6302 hasnt come",
        "6301 is in transit, 6302 hasn't shipped",
        "6301, also order 6302 is late",
    ],
)
def test_two_orders_each_said_something_of_stay_two(message: str) -> None:
    details = extract_details(message, None, "NZ", WH)
    assert details.postal_code is None
    assert order_numbers(message, details.postal_code, WH) == ["6301", "6302"]


@pytest.mark.parametrize(
    ("message", "country", "postcode"),
    [
        ("zip 9810 is that right, order 6301", "US", "9810"),  # no US ZIP, and no word swallowed
        ("postcode K1A 0B1 order 6301", "US", "K1A 0B1"),  # another country's code, in its shape
        ("postcode EH1 1YZ thanks, order 6301", "GB", "EH1 1YZ"),
        ("zip 30301 1234 order 6301", "US", "30301"),  # the order number after the ZIP is no ZIP+4
    ],
)
def test_after_the_word_the_code_takes_only_what_is_a_code(message: str, country: str, postcode: str) -> None:
    assert extract_details(message, None, country, WH).postal_code == postcode


# --- whole conversations, on an invented shop in New Zealand ---------------------------------------------------------
ORDERS = [(6301, "7022"), (6302, "0610"), (6303, "7805")]
EMAIL = "piripi.hone@example.net"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """'Whetū Hardware', Nelson: names '#WH6301-K'; 6301 in transit with UPS (Garden Kneeler), 6302 and 6303 not
    shipped (Hori Hori Trowel No. 1 and 2), each for its own postcode."""
    nodes: list[dict[str, Any]] = []
    for i, (number, postcode) in enumerate(ORDERS):
        items = ["Garden Kneeler"] if i == 0 else [f"Hori Hori Trowel No. {i}"]
        nodes.append(_order(f"#WH{number}-K", number, EMAIL, postcode, "NZ", items, i == 0))
    shop: dict[str, Any] = {"name": "Whetū Hardware", "myshopifyDomain": "whetu-hardware.myshopify.com",
                            "ianaTimezone": "Pacific/Auckland", "currencyCode": "NZD", "locale": "en-NZ",
                            "contactEmail": "kiaora@whetu.example", "orderNumberFormatPrefix": "#WH",
                            "orderNumberFormatSuffix": "-K"}  # fmt: skip
    path = tmp_path / "whetu.json"
    path.write_text(json.dumps({"shop": shop, "asOf": "2026-09-14T12:00:00Z", "orders": nodes}), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "message",
    [
        "hi, 14 Rata Lane, Brightwater, 7022. order 6301 - wheres my kneeler",
        "order 6301 was a gift, dont know the email. im in brightwater 7022",
        "6301 postcode 7022 is it coming",
        "6301 post code 70 22",
    ],
)
async def test_the_postcode_proves_the_order_wherever_it_stands(shop: Path, message: str) -> None:
    said = await talk(message, store=shop)
    calls = [args for name, args in said.calls[0] if name == "find_order"]
    assert calls and calls[0]["order_number"] == "6301"
    assert calls[0]["postal_code"].replace(" ", "") == "7022"
    assert "Garden Kneeler" in said.replies[0] and "UPS" in said.replies[0]
    assert "email" not in said.replies[0]


async def test_a_postcode_with_a_leading_zero_before_words_proves_its_order(shop: Path) -> None:
    said = await talk("6302 postcode 0610 is it coming", store=shop)
    calls = [args for name, args in said.calls[0] if name == "find_order"]
    assert calls == [{"order_number": "6302", "postal_code": "0610"}]
    assert "Hori Hori Trowel No. 1" in said.replies[0]
