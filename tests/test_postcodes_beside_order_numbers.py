"""Shops whose postcodes and order numbers are both four digits (Australia, New Zealand, Denmark, ...): "5201 2480" is
an order and its postcode, one rationed guess, never two orders; the shop's locale (so its country) comes from its
address, time zone or currency when nothing says it; a US shop's "1234 90210" and two orders with their own emails
keep reading as before; a logged-in customer asking which orders they have, in any wording, gets them listed.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.own_orders import own_orders_asked
from agent.playbook.understand import extract_details, order_numbers
from agent.service import Lumen
from config import Settings
from shopify.domain import parse_shop
from shopify.names import NameFormat
from shopify.shop_locale import shop_locale
from shopify.store_file import FixtureStore
from tests.test_order_name_shape import _order
from tests.test_understanding import Conversation, talk

CUSTOMER = "gid://shopify/Customer/4455012"


# --- the shop's locale when nothing says it -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"ianaTimezone": "Australia/Brisbane", "currencyCode": "AUD"}, "en_AU"),
        ({"ianaTimezone": "UTC", "currencyCode": "AUD"}, "en_AU"),  # the currency when the zone says nothing
        ({"ianaTimezone": "Pacific/Auckland", "currencyCode": "NZD"}, "en_NZ"),
        ({"ianaTimezone": "Europe/London", "currencyCode": "GBP"}, "en_GB"),
        ({"ianaTimezone": "Europe/Dublin", "currencyCode": "EUR"}, "en_IE"),
        ({"ianaTimezone": "America/Toronto", "currencyCode": "CAD"}, "en_CA"),
        ({"ianaTimezone": "America/Chicago", "currencyCode": "USD"}, "en_US"),
        ({"ianaTimezone": "Europe/Paris", "currencyCode": "EUR"}, "en_US"),  # no English-speaking clue: as before
        ({}, "en_US"),
        # The shop's address is surer than its zone or currency (a Danish shop selling in euros from UTC servers).
        ({"shopAddress": {"countryCodeV2": "DK"}, "ianaTimezone": "UTC", "currencyCode": "EUR"}, "en_DK"),
        ({"billingAddress": {"countryCodeV2": "NZ"}, "currencyCode": "USD"}, "en_NZ"),
        ({"shopAddress": {"countryCodeV2": "ZZ"}, "currencyCode": "CAD"}, "en_CA"),  # no such country: the next clue
        # A locale the shop gives always wins.
        ({"locale": "fr-CA", "ianaTimezone": "Australia/Perth"}, "fr_CA"),
        ({"primaryLocale": "en-GB", "currencyCode": "AUD"}, "en_GB"),
    ],
)
def test_a_shop_without_a_locale_speaks_the_english_of_its_country(node: dict[str, Any], expected: str) -> None:
    assert shop_locale(node) == expected
    assert parse_shop({"name": "Q", **node}).locale == expected


# --- an invented Australian shop -------------------------------------------------------------------------------------
def write_shop(
    tmp_path: Path,
    *,
    prefix: str,
    zone: str,
    currency: str,
    orders: list[tuple[int, str, str]],
    address_country: str | None = None,
) -> Path:
    """A shop 'Banksia Swim Supply' with no locale in its file, its names `prefix` + number, and `orders` as
    (number, postcode, country): the first shipped (in transit), the rest not; every order is the logged-in
    customer's, checkout email 'kit.marlow@example.net'."""
    shop: dict[str, Any] = {"name": "Banksia Swim Supply", "myshopifyDomain": "banksia-swim.myshopify.com",
                            "ianaTimezone": zone, "currencyCode": currency, "contactEmail": "hi@banksia.example",
                            "orderNumberFormatPrefix": prefix, "orderNumberFormatSuffix": ""}  # fmt: skip
    if address_country:
        shop["shopAddress"] = {"countryCodeV2": address_country}
    nodes = []
    for i, (number, postcode, country) in enumerate(orders):
        items = ["Reef Kickboard"] if i == 0 else [f"Tide Goggles No. {i}"]
        node = _order(f"{prefix}{number}", number, "kit.marlow@example.net", postcode, country, items, i == 0)
        node["customer"] = {"id": CUSTOMER, "email": "kit.marlow@example.net"}
        nodes.append(node)
    path = tmp_path / "banksia.json"
    path.write_text(json.dumps({"shop": shop, "asOf": "2026-09-14T12:00:00Z", "orders": nodes}), encoding="utf-8")
    return path


AU_ORDERS = [(5201, "2480", "AU"), (5202, "0812", "AU"), (5203, "4000", "AU")]


@pytest.fixture
def au_shop(tmp_path: Path) -> Path:
    return write_shop(tmp_path, prefix="#KB", zone="Australia/Brisbane", currency="AUD", orders=AU_ORDERS)


async def test_the_australian_shop_file_reads_as_en_au(au_shop: Path) -> None:
    assert (await FixtureStore(au_shop).shop()).locale == "en_AU"


KB = NameFormat("#KB", "")


@pytest.mark.parametrize(
    ("message", "order", "postcode"),
    [
        ("5201 2480", "5201", "2480"),
        ("5201 2480 says it's coming but when", "5201", "2480"),
        ("any news on 5202?? 0812", "5202", "0812"),  # a leading zero, the postcode after a question
        ("still waiting, 5203, 4000", "5203", "4000"),
        ("ordered 3/9, 5201 2480 still nothing", "5201", "2480"),  # a day-first date is no number of either
        ("5201 2480 kit.marlow@example.net", "5201", "2480"),  # one email: still the order and its postcode
    ],
)
@pytest.mark.parametrize("country", ["AU", "NZ", "DK"])
def test_a_four_digit_number_after_the_order_is_its_postcode_where_postcodes_have_four_digits(
    message: str, order: str, postcode: str, country: str
) -> None:
    details = extract_details(message, None, country, KB)
    assert (details.order_number, details.postal_code) == (order, postcode)
    assert order_numbers(message, details.postal_code, KB) == [order]  # one order, not "orders 5201, 2480"


@pytest.mark.parametrize(
    "message",
    [
        "orders 5201 and 5202 kit.marlow@example.net",  # joined as several: two orders, one email
        "mine is 5201 kit.marlow@example.net and my sister's is 5202 jo.marlow@example.net",  # each its own email
    ],
)
@pytest.mark.parametrize("country", ["AU", "US"])
def test_two_orders_named_as_two_stay_two(message: str, country: str) -> None:
    details = extract_details(message, None, country, KB)
    assert details.postal_code is None
    assert order_numbers(message, details.postal_code, KB) == ["5201", "5202"]


@pytest.mark.parametrize(
    ("message", "order", "postcode"),
    [("1234 90210", "1234", "90210"), ("where's 1234? 90210", "1234", "90210"), ("90210 1234", "1234", "90210")],
)
def test_a_us_shop_reads_an_order_and_its_zip_as_before(message: str, order: str, postcode: str) -> None:
    details = extract_details(message, None, "US", NameFormat("#", ""))
    assert (details.order_number, details.postal_code) == (order, postcode)


def test_in_a_us_shop_two_four_digit_numbers_are_no_order_and_zip() -> None:
    # No US ZIP has four digits: neither number is the other's postcode there.
    details = extract_details("1234 5678", None, "US", NameFormat("#", ""))
    assert details.postal_code is None
    assert order_numbers("1234 5678", None, NameFormat("#", "")) == ["1234", "5678"]


# --- whole conversations ---------------------------------------------------------------------------------------------
def _find_calls(conversation: Conversation, turn: int) -> list[dict[str, Any]]:
    return [args for name, args in conversation.calls[turn] if name == "find_order"]


async def test_order_then_postcode_proves_the_order_in_one_lookup(au_shop: Path) -> None:
    said = await talk("5201 2480 says it's on the way but when", store=au_shop)
    assert _find_calls(said, 0) == [{"order_number": "5201", "postal_code": "2480"}]
    assert "Reef Kickboard" in said.replies[0] and "UPS" in said.replies[0]
    assert "2480" not in said.replies[0].replace("#KB5201", "")  # no "orders 5201, 2480"


async def test_postcode_then_order_proves_the_order_the_shop_has(au_shop: Path) -> None:
    # Which number is the order only the shop's orders tell: the one that names no order is tried as the postcode.
    said = await talk("2480 5201 where is it", store=au_shop)
    assert "Reef Kickboard" in said.replies[0] and "UPS" in said.replies[0]


async def test_a_wrong_postcode_read_either_way_is_one_failed_attempt_that_names_no_order(au_shop: Path) -> None:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=au_shop)
    try:
        swapped = await lumen.chat("2999 5201 where is it")
        straight = await lumen.chat("5201 2999 where is it")
        unknown = await lumen.chat("7777 2999 where is it")
    finally:
        await lumen.close()
    for turn in (swapped, straight, unknown):
        assert "Reef Kickboard" not in turn.reply and "UPS" not in turn.reply
    # The miss never says which number was an order: the reply names the number as it was read, as for any order.
    assert "5201" not in swapped.reply
    assert "postcode" in straight.reply and "ZIP" not in straight.reply  # an en-AU shop's word for it
    assert swapped.reply.replace("2999", "N") == unknown.reply.replace("7777", "N")


async def test_the_postcode_first_reading_is_rationed_like_any_guess(au_shop: Path) -> None:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=au_shop)
    try:
        # Five wrong postcodes, typed before the order: each a failed attempt of this conversation.
        session = None
        for code in ("2991", "2992", "2993", "2994", "2995"):
            session = (await lumen.chat(f"{code} 5201", session)).session_id
        right = await lumen.chat("2480 5201", session)
    finally:
        await lumen.close()
    assert "Reef Kickboard" not in right.reply and "UPS" not in right.reply


async def test_dont_pass_me_on_keeps_the_order_and_postcode(au_shop: Path) -> None:
    said = await talk("5201 2480 don't pass me on to anyone, just tell me where it is", store=au_shop)
    assert _find_calls(said, 0) == [{"order_number": "5201", "postal_code": "2480"}]
    assert "Reef Kickboard" in said.replies[0]
    assert "escalate" not in said.all_tools() and "support team" not in said.replies[0]


async def test_a_danish_like_shop_from_its_address(tmp_path: Path) -> None:
    """No locale, euros, servers in UTC: the shop's address says Denmark, whose postcodes have four digits."""
    store = write_shop(
        tmp_path, prefix="#", zone="UTC", currency="EUR", orders=[(4410, "8000", "DK")], address_country="DK"
    )
    assert (await FixtureStore(store).shop()).locale == "en_DK"
    said = await talk("4410 8000 hvor er den? where is it", store=store)
    assert _find_calls(said, 0) == [{"order_number": "4410", "postal_code": "8000"}]
    assert "Reef Kickboard" in said.replies[0]


# --- a logged-in customer asking which orders they have --------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    ["what orders have i got on the go", "which orders do I have open?", "can you list all my orders pls"],
)
async def test_a_logged_in_customer_asking_for_their_orders_gets_them(au_shop: Path, message: str) -> None:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=au_shop)
    try:
        turn = await lumen.chat(message, customer_id=CUSTOMER)
    finally:
        await lumen.close()
    assert all(f"KB{number}" in turn.reply for number, _, _ in AU_ORDERS)


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("what orders have we got going", True),
        ("show me my orders", True),
        ("any orders i've placed still coming?", True),
        ("do orders I place over $50 ship free?", False),  # a policy question that mentions the shopper's orders
        ("how long do my orders take to ship?", False),
        ("what orders ship free", False),
    ],
)
def test_asking_which_orders_one_has_is_told_from_a_policy_question(message: str, asked: bool) -> None:
    assert own_orders_asked(message) is asked
