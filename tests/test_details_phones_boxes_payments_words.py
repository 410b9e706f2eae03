"""Details a shopper types in shapes Lumen's readers did not know, on invented shops (no eval store):

- a postcode with its country's letters before it, as letters from abroad are addressed ("S519640" in Singapore,
  "D-10115" in Germany), and an order name typed with one separator more than the shop writes ("PT-5512-SG");
- a postcode typed in two groups ("00 200" for Kenya's 00200) or after a post-office box's number and a dash ("P.O.
  Box 8810-00200": box 8810, postcode 00200);
- an amount named by how it was paid, with no currency mark ("sent 2900 via M-Pesa"), and the payment's reference
  beside it: neither is an order;
- a phone number in a signature ("(312) 555-0188", "+254 722 111 333", "07700 900456"): neither a postcode nor an
  order;
- an order number said in words ("seven seven oh two", "sita nne sifuri moja"), read as digits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import extract_details, order_numbers, spoken_numbers_typed
from agent.service import ChatTurn
from shopify.names import NameFormat, fits_postal_code, matching_order_names
from shopify.names import normalize_postal_code as normalize
from tests import store_builders as build
from tests.server_helpers import turns, write_store

KE_FORMAT = NameFormat("", "-W")  # "7702-W": a Nairobi shop's names
SG_FORMAT = NameFormat("PT-", "SG")  # "PT-5512SG": a Singapore shop's names
US_FORMAT = NameFormat("BRK", "")  # "BRK5510": a Chicago shop's names


# --- a postcode with its country's letters, a name with a separator more ----------------------------------------


@pytest.mark.parametrize(
    ("message", "country", "name_format", "order", "postcode"),
    [
        ("where is my parcel 5512 S519640", "SG", SG_FORMAT, "5512", "519640"),
        ("PT-5512-SG S-519640 refund where?", "SG", SG_FORMAT, "PT-5512-SG", "519640"),
        ("order 5512, s519640 pls check", "SG", SG_FORMAT, "5512", "519640"),
        ("Bestellung 4410, D-10115 Berlin", "DE", NameFormat("#", ""), "4410", "10115"),
        ("commande 4410 CH-8001 Zürich", "CH", NameFormat("#", ""), "4410", "8001"),
    ],
)
def test_a_postcode_after_its_countrys_letters_is_the_postcode(
    message: str, country: str, name_format: NameFormat, order: str, postcode: str
) -> None:
    details = extract_details(message, None, country, name_format)
    assert (details.order_number, details.postal_code) == (order, postcode)


def test_the_shops_own_letters_before_digits_stay_an_order_name() -> None:
    # A shop whose names start with "S": "S4278" is its order, no Singapore postcode with a letter before it.
    details = extract_details("where is S427890", None, "SG", NameFormat("S", ""))
    assert details.postal_code is None


@pytest.mark.parametrize("typed", ["PT-5512-SG", "pt 5512 sg", "PT5512-SG", "pt-5512sg"])
def test_a_name_typed_with_another_separator_is_the_shops_name(typed: str) -> None:
    assert matching_order_names(typed, ["PT-5512SG", "PT-5513SG"], prefix="PT-", suffix="SG") == ["PT-5512SG"]


# --- a postcode in two groups, or after a P.O. box -------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "country", "order", "postcode"),
    [
        ("order 7702-W, postal code 00 200", "KE", "7702-W", "00200"),
        ("7702-w 40 100", "KE", "7702-w", "40100"),
        ("habari, 7702-W 80 100 iko wapi", "KE", "7702-W", "80100"),
        ("Hi, order 7702-W. Deliveries go to P.O. Box 8810-00200 Westlands", "KE", "7702-W", "00200"),
        ("7702-W po box 41-80100 Mombasa", "KE", "7702-W", "80100"),
        ("oda 7702-W, S.L.P. 3301-14111 Dar", "TZ", "7702-W", "14111"),
    ],
)
def test_a_postcode_in_groups_or_after_a_box_is_the_postcode(
    message: str, country: str, order: str, postcode: str
) -> None:
    details = extract_details(message, None, country, KE_FORMAT)
    assert (details.order_number, details.postal_code) == (order, postcode)
    assert len(order_numbers(message, details.postal_code, KE_FORMAT)) == 1  # no group of the code is an order


@pytest.mark.parametrize(("code", "country"), [("00100", "KE"), ("14111", "TZ"), ("100001", "NG")])
def test_east_and_west_african_postcodes_are_known(code: str, country: str) -> None:
    assert fits_postal_code(code, country) is True
    assert fits_postal_code(code + "1", country) is False


# --- an amount paid by a named means, and its reference ---------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "orders"),
    [
        ("nimetuma 2900 kwa M-Pesa QK71XZ93LM, order 7702-W imefika wapi?", ["7702-W"]),
        ("I sent 2900 by Airtel Money yesterday for 7702-W", ["7702-W"]),
        ("paid 2900 via mpesa, order 7702-W cancelled, where is my money", ["7702-W"]),
        ("j'ai envoyé 4500 par Orange Money pour la commande 7702-W", ["7702-W"]),
        ("transferred 2900 through PayPal ref 8UX92341KD for 7702-W", ["7702-W"]),
        ("mandei 1800 com pix, pedido 7702-W", ["7702-W"]),
    ],
)
def test_an_amount_named_by_its_means_of_paying_is_no_order(message: str, orders: list[str]) -> None:
    details = extract_details(message, None, "KE", KE_FORMAT)
    assert details.order_number == orders[0]
    # One order, by its digits (the amount is none of them), whether or not its suffix is kept.
    assert [re.sub(r"\D", "", n) for n in order_numbers(message, details.postal_code, KE_FORMAT)] == ["7702"]


def test_an_amount_and_a_postcode_beside_an_order_each_read_for_what_they_are() -> None:
    details = extract_details("nililipa 2900 na M-Pesa QK71XZ93LM, 7702-W 00200 pesa iko wapi", None, "KE", KE_FORMAT)
    assert (details.order_number, details.postal_code) == ("7702-W", "00200")


def test_an_order_said_with_its_means_of_paying_is_still_the_order() -> None:
    # "order 7702 via PayPal": the word "order" names it; the means says how the order was paid.
    assert extract_details("order 7702 via PayPal, where is it", None, "KE", NameFormat("#", "")).order_number == "7702"


# --- a phone number in a signature ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "country", "order", "email"),
    [
        ("Hello, where is my dutch oven, order BRK5510.\nDana Ruiz\n(312) 555-0188", "US", "BRK5510", None),
        ("dana.ruiz@example.com\nDana Ruiz\n(312) 555-0188", "US", None, "dana.ruiz@example.com"),
        ("BRK5510 thanks - Dana, 312-555-0188", "US", "BRK5510", None),
        ("dana.ruiz@example.com\nsent from my phone\n+1 312 555 0188", "US", None, "dana.ruiz@example.com"),
        ("order BRK5510, call me on 07700 900456 if needed", "GB", "BRK5510", None),
        ("BRK5510 pls\nMwangi\n+254 722 111 333", "KE", "BRK5510", None),
        ("dana.ruiz@example.com\ntel: 555 0188", "US", None, "dana.ruiz@example.com"),
    ],
)
def test_a_phone_number_is_neither_postcode_nor_order(
    message: str, country: str, order: str | None, email: str
) -> None:
    details = extract_details(message, None, country, US_FORMAT)
    assert (details.order_number, details.postal_code, details.email) == (order, None, email)
    assert order_numbers(message, None, US_FORMAT) == ([order] if order else [])


def test_numbers_that_are_no_phone_stay_an_order_and_a_postcode() -> None:
    # Two groups that are an order and a postcode, and an Indian order with a spaced PIN, are read as before.
    assert extract_details("6607 3810", None, "NZ", NameFormat("#", "")).order_number == "6607"
    details = extract_details("1701 560 034", None, "IN", NameFormat("#", ""))
    assert (details.order_number, details.postal_code) == ("1701", "560034")


@pytest.mark.parametrize(
    ("message", "country", "numbers"),
    [
        ("02139 40517", "US", {"02139", "40517"}),  # a Massachusetts ZIP and a five-digit order
        ("where is it? 07030 118842", "US", {"07030", "118842"}),  # a New Jersey ZIP and a six-digit order
        ("M5V 3L9, order 0123 456789", "CA", {"0123", "M5V3L9"}),  # no Canadian number starts with 0 either
        ("00200 41023", "KE", {"00200", "41023"}),  # "00" is the international prefix: a Nairobi postcode
    ],
)
def test_a_postcode_with_a_leading_zero_and_an_order_are_no_trunk_phone(
    message: str, country: str, numbers: set[str]
) -> None:
    """Ten or eleven digits after a "0" are a national phone number only where national numbers start with a trunk
    "0" and not with "00": "07700 900456" in Britain and "0412 345678" in Australia are phones, "02139 40517" in the
    US a ZIP and an order."""
    details = extract_details(message, None, country, NameFormat("#", ""))
    assert {details.order_number, normalize(details.postal_code)} == numbers
    for phone, where in (("07700 900456", "GB"), ("0412 345678", "AU"), ("0722 111333", "KE")):
        assert extract_details(phone, None, where, NameFormat("#", "")).order_number is None


# --- an order number said in words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("said", "typed"),
    [
        ("order number seven seven oh two, email a@example.com", "order number 7702, email a@example.com"),
        ("it's five five one two", "it's 5512"),
        ("number is double seven zero two", "number is 7702"),
        ("mi pedido es siete siete cero dos", "mi pedido es 7702"),
        ("oda yangu ni saba saba sifuri mbili", "oda yangu ni 7702"),
        ("commande sept sept zéro deux", "commande 7702"),
        ("Seven-Seven-Oh-Two please", "7702 please"),
    ],
)
def test_a_number_said_in_words_is_read_as_digits(said: str, typed: str) -> None:
    assert spoken_numbers_typed(said) == typed


@pytest.mark.parametrize(
    "text",
    ["it is one of the two I bought", "oh no, one more thing", "the one one day late", "oh one two", "double one"],
)
def test_words_that_are_no_number_stay_words(text: str) -> None:
    assert spoken_numbers_typed(text) == text


# --- conversations on invented shops ----------------------------------------------------------------------------

NAIROBI = build.store(
    build.shop(
        "Jua Kali Kitchens",
        "Africa/Nairobi",
        "KES",
        locale="en-KE",
        orderNumberFormatPrefix="",
        orderNumberFormatSuffix="-W",
    ),
    [
        build.order(
            "7702-W",
            email="wanjiru@example.co.ke",
            zip_code="00200",
            country="KE",
            items="Jiko Charcoal Stove",
            currency="KES",
            amount="2900.00",
            packages=[
                build.package(
                    "Jiko Charcoal Stove",
                    "G4S",
                    "GKE77020011",
                    status="DELIVERED",
                    events=[build.event("DELIVERED", "2026-12-02T09:00:00Z", "Delivered to reception", "Nairobi")],
                    deliveredAt="2026-12-02T09:00:00Z",
                )
            ],
        ),
    ],
    as_of="2026-12-05T08:00:00Z",
)

CHICAGO = build.store(
    build.shop(
        "Brick Oven Supply", "America/Chicago", "USD", locale="en-US", orderNumberFormatPrefix="BRK",
        orderNumberFormatSuffix="",
    ),
    [
        build.order(
            "BRK5510",
            email="dana.ruiz@example.com",
            zip_code="60614",
            items="Cast Iron Dutch Oven",
            packages=[
                build.package(
                    "Cast Iron Dutch Oven",
                    "USPS",
                    "9400111202555510551055",
                    status="IN_TRANSIT",
                    events=[build.event("IN_TRANSIT", "2026-12-04T09:00:00Z", "Arrived at USPS facility", "Chicago")],
                )
            ],
        ),
    ],
    as_of="2026-12-05T16:00:00Z",
)  # fmt: skip


async def _turns(path: Path, store: dict[str, Any], *messages: str) -> list[ChatTurn]:
    return await turns(write_store(path, store), *messages)


@pytest.mark.parametrize(
    "message",
    [
        "order 7702-W postal code 00 200",
        "7702-w 00 200 iko wapi?",
        "Hello, order 7702-W. P.O. Box 8810-00200 Westlands",
        "nililipa 2900 na M-Pesa QK71XZ93LM, order 7702-W 00200, imefika?",
    ],
)
async def test_a_nairobi_order_is_proved_by_its_postcode_however_written(tmp_path: Path, message: str) -> None:
    turn = (await _turns(tmp_path / "nairobi.json", NAIROBI, message))[0]
    assert "GKE77020011" in turn.reply and "reception" in turn.reply, turn.reply
    assert "2900" not in turn.reply.replace("2,900", "")


async def test_a_signature_phone_is_no_detail_of_the_order(tmp_path: Path) -> None:
    turns = await _turns(
        tmp_path / "chicago.json",
        CHICAGO,
        "Good morning. Where is my dutch oven, order BRK5510?\nDana Ruiz\n(312) 555-0188",
        "dana.ruiz@example.com\nDana Ruiz\n(312) 555-0188",
    )
    assert "email" in turns[0].reply.lower() and "555" not in turns[0].reply, turns[0].reply
    assert "9400111202555510551055" in turns[1].reply, turns[1].reply


@pytest.mark.parametrize(
    "message",
    ["order number five five one oh, email dana.ruiz@example.com", "dana.ruiz@example.com it's five five one zero"],
)
async def test_an_order_number_said_in_words_finds_the_order(tmp_path: Path, message: str) -> None:
    turn = (await _turns(tmp_path / "chicago.json", CHICAGO, message))[0]
    assert "9400111202555510551055" in turn.reply, turn.reply
