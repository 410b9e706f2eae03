"""Four misreadings of a shopper's plain words, each on an invented shop, in several wordings:

- a postcode (or an order number) typed digit by digit, "7 7 0 0", as it is read aloud: the number it is, so the
  order is proved; never the can't-do answer;
- "ok when now?", "righto, which courier has it?" just after an order's status: a question about that order, never
  taken for a closing because it opens with an "ok";
- "what does handed to neighbour mean", unquoted, just after a status that gave the carrier's words: the carrier's
  update that says so, never the can't-do answer;
- two questions joined by "+" or "&" ("has it shipped + can I change the address"): both answered, as with "and".

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import extract_details
from tests import store_builders as build
from tests.server_helpers import replies, write_store

EMAIL = "thandi.mokoena@example.co.za"
# The can't-do answer, which none of these messages should get.
OUT_OF_SCOPE = "For anything else"


def _package(carrier: str, number: str, item: str, status: str, event: str, when: str, **extra: Any) -> dict[str, Any]:
    return (
        build.package(
            item,
            carrier,
            number,
            status=status,
            events=[build.event(status, when, event, "Paarl")],
            created_at="2026-11-30T07:00:00Z",
            in_transit_at="2026-11-30T12:00:00Z",
        )
        | extra
    )


def _order(number: int, item: str, postcode: str, packages: list[dict[str, Any]]) -> dict[str, Any]:
    return build.order(
        f"#FB-{number}",
        email=EMAIL,
        zip_code=postcode,
        country="ZA",
        items=item,
        packages=packages,
        amount="640.00",
        currency="ZAR",
        id_prefix="71",
        ordered_at="2026-11-28T08:00:00Z",
    )


# Fynbos & Brass, Stellenbosch (en-ZA, ZAR, four-digit postcodes), today Wednesday 9 December 2026.
STORE: dict[str, Any] = {
    "asOf": "2026-12-09T14:00:00Z",
    "shop": {"name": "Fynbos & Brass", "myshopifyDomain": "fynbos-brass.myshopify.com",
             "ianaTimezone": "Africa/Johannesburg", "currencyCode": "ZAR", "locale": "en-ZA",
             "contactEmail": "hello@fynbos-brass.example", "orderNumberFormatPrefix": "#FB-",
             "orderNumberFormatSuffix": ""},
    "orders": [
        # In transit, with the carrier's estimate.
        _order(8801, "Brass Candle Snuffer", "7600", [
            _package("The Courier Guy", "TCG88010001", "Brass Candle Snuffer", "IN_TRANSIT",
                     "Processed through sort hub", "2026-12-08T09:00:00Z",
                     estimatedDeliveryAt="2026-12-11T10:00:00Z")]),
        # Delayed by the carrier, with a new estimate.
        _order(8802, "Protea Table Runner", "6001", [
            _package("Aramex", "AXZA88020002", "Protea Table Runner", "DELAYED",
                     "Delayed - N2 closed after flooding", "2026-12-08T11:00:00Z",
                     estimatedDeliveryAt="2026-12-15T10:00:00Z")]),
        # Delivered to a neighbour.
        _order(8803, "Copper Watering Can", "7700", [
            _package("PostNet", "PN88030003", "Copper Watering Can", "DELIVERED",
                     "Delivered - handed to neighbour at no. 9", "2026-12-07T13:15:00Z",
                     deliveredAt="2026-12-07T13:15:00Z")]),
        # Not shipped yet.
        _order(8804, "Rooibos Tea Caddy", "8001", []),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("fynbos") / "store.json", STORE)


# --- a number typed digit by digit ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "turns",
    [
        ("8801", "post code is 7 6 0 0"),
        ("order FB-8801 please", "7 6 0 0"),
        ("8801", "my postcode's 7 6 0 0 thanks"),
        ("where's my snuffer? order 8801", "the code is 7 6 0 0"),
        ("order number 8 8 0 1, postcode 7600",),
    ],
)
async def test_a_code_typed_digit_by_digit_is_that_code(store: Path, turns: tuple[str, ...]) -> None:
    said = await replies(store, *turns)
    last = said[-1]
    assert OUT_OF_SCOPE not in last, last
    assert "TCG88010001" in last and "The Courier Guy" in last, last


@pytest.mark.parametrize(
    ("text", "country", "postcode"),
    [
        ("zip is 9 7 2 1 4", "US", "97214"),
        ("9 7 2 1 4", "US", "97214"),
        ("pincode 5 6 0 0 3 4", "IN", "560034"),
        ("postcode 2 6 0 0", "AU", "2600"),
        ("postcode 2 6 0 0", None, "2600"),
    ],
)
def test_a_postcode_typed_digit_by_digit_is_read_whole(text: str, country: str | None, postcode: str) -> None:
    assert extract_details(text, "factor", country).postal_code == postcode


@pytest.mark.parametrize(
    "text",
    [
        "call me on 0 8 2 5 5 5 1 2 3 4",  # a phone number read out is no postcode
        "it has 2 3 4 pieces",  # three single digits are no code
        "8 8 0 1 7 6 0 0",  # eight: no number of four to six read out, but a longer run (or two run together)
    ],
)
def test_a_phone_number_or_counts_read_out_are_no_postcode(text: str) -> None:
    details = extract_details(text, "factor", "ZA")
    assert details.postal_code is None and details.order_number is None, details


# --- a question after an "ok" -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "facts"),
    [
        ("ok when now?", ["15 December"]),
        ("ok so when now", ["15 December"]),
        ("okay cool, when's it due then?", ["15 December"]),
        ("righto, when will it turn up?", ["15 December"]),
        ("ok thanks, when's it coming now?", ["15 December"]),
        ("sharp, which courier has it?", ["Aramex"]),
        ("ok why is it late?", ["flooding"]),
    ],
)
async def test_an_ok_that_asks_about_the_order_is_a_question(store: Path, question: str, facts: list[str]) -> None:
    first, last = await replies(store, f"8802 {EMAIL}", question)
    assert "15 December" in first, first
    assert all(f in last for f in facts), (facts, last)
    assert "anything else" not in last.lower(), last


@pytest.mark.parametrize("closing", ["ok cool", "okay, I'll wait then", "ok no stress, cheers"])
async def test_an_ok_that_asks_nothing_stays_a_closing(store: Path, closing: str) -> None:
    _, last = await replies(store, f"8801 {EMAIL}", closing)
    assert "TCG88010001" not in last and "11 December" not in last, last


# --- what the carrier's words mean, unquoted ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("turns", "words"),
    [
        (("8803 postcode 7700", "what does handed to neighbour mean"), "neighbour"),
        ((f"8803 {EMAIL}", "what does handed to neighbour mean?"), "neighbour"),
        (("8803", "7700", "sorry what does handed to neighbour at no 9 mean"), "neighbour"),
        ((f"8801 {EMAIL}", "what does processed through sort hub mean"), "sort hub"),
        ((f"8802 {EMAIL}", "what does N2 closed mean?"), "N2"),
    ],
)
async def test_what_the_carriers_words_mean_after_a_status(store: Path, turns: tuple[str, ...], words: str) -> None:
    last = (await replies(store, *turns))[-1]
    assert OUT_OF_SCOPE not in last, last
    assert words in last, last


# --- two questions joined by "+" or "&" -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "answered"),
    [
        (f"8804 {EMAIL} has it shipped + can i change the delivery address to my work", "I can't change"),
        (f"{EMAIL} 8804 has it shipped & can u change the delivery address", "I can't change"),
        (f"8804 {EMAIL} wheres my caddy + can you cancel it", "I can't cancel"),
        (f"8804 {EMAIL} is it on its way yet & can i cancel it", "I can't cancel"),
    ],
)
async def test_two_questions_joined_by_a_symbol_are_both_answered(store: Path, message: str, answered: str) -> None:
    (said,) = await replies(store, message)
    assert "hasn't shipped" in said, said
    assert answered in said, said
