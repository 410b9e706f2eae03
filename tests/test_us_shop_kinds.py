"""Kinds of shopper message and carrier state an invented US shop meets (Ridgeline Paddle Works, Bend, Oregon; en-US,
order names "RP-5101"): the example order number in the shop's own format; a retailer named by its initials as where
the shopper bought; the carrier's delivery note inside a split-shipment answer; one package of a split order that
never came; an item missing from a box the shopper holds while tracking lags; a label never scanned for days; a
refund demanded in a run-on line about lateness; a deadline asked about a parcel out for delivery; short answers to an
offer in pictures and sounds. Several wordings each; no eval store's messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.compose import indefinite_article, order_example
from agent.playbook.understand import _exact_acts, detect_intent, foreign_shop, offer_answer
from agent.service import Lumen
from config import Settings
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import write_store

EMAIL = "rowan@example.com"
TODAY = "2026-12-07T18:00:00Z"  # Monday, December 7, 2026, 10:00 in Bend


def _package(carrier: str, number: str, item: str, quantity: int = 1, **extra: Any) -> dict[str, Any]:
    return (
        build.package(
            [(item, quantity)], carrier, number, created_at="2026-12-01T17:00:00Z", in_transit_at="2026-12-01T23:00:00Z"
        )
        | extra
    )


_event = build.event


def _order(name: str, items: list[tuple[str, int]], packages: list[dict[str, Any]]) -> dict[str, Any]:
    return build.order(
        name,
        email=EMAIL,
        zip_code="97701",
        items=items,
        packages=packages,
        amount="149.00",
        id_prefix="88",
        ordered_at="2026-11-29T17:00:00Z",
        shipped=True,
    )


_SIDE_DOOR = _event("DELIVERED", "2026-12-04T22:15:00Z", "Delivered - Left at side door", "Bend")
STORE: dict[str, Any] = {
    "asOf": TODAY,
    "shop": {"name": "Ridgeline Paddle Works", "ianaTimezone": "America/Los_Angeles", "currencyCode": "USD",
             "locale": "en-US", "orderNumberFormatPrefix": "RP-", "orderNumberFormatSuffix": ""},
    "orders": [
        # Two packages: the UPS one delivered with a note of where it was left, the FedEx one on its way.
        _order("RP-5101", [("Carbon Touring Paddle", 1), ("Spray Skirt", 1)], [
            _package("UPS", "1Z5101RPW0000001", "Carbon Touring Paddle", displayStatus="DELIVERED",
                     deliveredAt="2026-12-04T22:15:00Z", events={"nodes": [_SIDE_DOOR]}),
            _package("FedEx", "775101000002", "Spray Skirt", estimatedDeliveryAt="2026-12-09T20:00:00Z"),
        ]),
        # One parcel in transit, nothing delivered by the data.
        _order("RP-5102", [("Roll-Top Dry Bag 20L", 2), ("Coiled Paddle Leash", 1)], [
            _package("UPS", "1Z5102RPW0000003", "Roll-Top Dry Bag 20L", quantity=2,
                     estimatedDeliveryAt="2026-12-10T20:00:00Z",
                     events={"nodes": [_event("IN_TRANSIT", "2026-12-05T08:00:00Z", "Departed facility", "Reno")]}),
        ]),
        # A label made nine days ago and never scanned.
        _order("RP-5103", [("Neoprene Paddling Gloves", 1)], [
            _package("USPS", "9300151030000004", "Neoprene Paddling Gloves", displayStatus="LABEL_PRINTED",
                     createdAt="2026-11-28T17:00:00Z", inTransitAt=None),
        ]),
        # Delayed by the carrier, with a new estimate.
        _order("RP-5104", [("Kayak Deck Bag", 1)], [
            _package("UPS", "1Z5104RPW0000005", "Kayak Deck Bag", displayStatus="DELAYED",
                     estimatedDeliveryAt="2026-12-10T20:00:00Z",
                     events={"nodes": [_event("DELAYED", "2026-12-06T15:00:00Z",
                                              "Snowstorm has delayed delivery", "Boise")]}),
        ]),
        # Out for delivery this morning, estimated today.
        _order("RP-5105", [("Insulated Paddling Jacket", 1)], [
            _package("USPS", "9400151050000006", "Insulated Paddling Jacket", displayStatus="OUT_FOR_DELIVERY",
                     estimatedDeliveryAt="2026-12-07T23:00:00Z",
                     events={"nodes": [_event("OUT_FOR_DELIVERY", "2026-12-07T15:10:00Z", "Out for Delivery",
                                              "Bend")]}),
        ]),
    ],
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "ridgeline-store.json", STORE)


class Talked:
    def __init__(self) -> None:
        self.replies: list[str] = []
        self.tools: list[list[str]] = []


async def talk(store: Path, *messages: str) -> Talked:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=store)
    talked, session, seen = Talked(), None, 0
    try:
        for message in messages:
            turn = await lumen.chat(message, session)
            session = turn.session_id
            talked.replies.append(turn.reply)
            transcript = await lumen.transcript(session)
            assert transcript is not None
            calls = [
                p["tool_name"] for m in transcript["messages"] for p in m["parts"] if p["part_kind"] == "tool-call"
            ]
            talked.tools.append(calls[seen:])
            seen = len(calls)
        return talked
    finally:
        await lumen.close()


def asks_about_the_team(reply: str) -> bool:
    return "support team" in reply and reply.rstrip().endswith("?")


# --- the example order number follows the shop's order names ---------------------------------------------------


@pytest.mark.parametrize(
    ("name_format", "example"),
    [
        (NameFormat("RP-", ""), "RP-1234"),
        (NameFormat("#", "-OR"), "#1234-OR"),
        (NameFormat("", "TX"), "1234TX"),
        (NameFormat("#", ""), "#1234"),
        (NameFormat("", ""), "#1234"),  # no format known: the common Shopify form
        (None, "#1234"),
    ],
)
def test_the_example_order_number_is_written_the_shops_way(name_format: NameFormat | None, example: str) -> None:
    assert order_example(name_format) == example


@pytest.mark.parametrize("opening", ["where is my order", "hi, has my stuff shipped?", "tracking pls"])
async def test_asking_for_the_number_shows_the_shops_format(store: Path, opening: str) -> None:
    reply = (await talk(store, opening)).replies[0]
    assert "RP-1234" in reply and "#1234" not in reply


# --- a retailer named by its initials as where the shopper bought ----------------------------------------------

OWN = ("Ridgeline Paddle Works", "Lumen", "ridgeline-paddle.myshopify.com")


@pytest.mark.parametrize(
    ("message", "shop"),
    [
        ("i ordered a drysuit from NRS last week where is it", "NRS"),
        ("I bought the pump at MEC, has it shipped?", "MEC"),
        ("purchased a life vest through QVC on friday, tracking?", "QVC"),
        ("hey I ordered from JCP two weeks ago and nothing yet", "JCP"),
    ],
)
def test_a_retailer_named_by_its_initials_is_another_shop(message: str, shop: str) -> None:
    assert foreign_shop(message, OWN) == shop


@pytest.mark.parametrize(
    "message",
    [
        "I ordered it from you via UPS last week",  # a carrier, not where it was bought
        "I ORDERED FROM BEND LAST WEEK",  # a whole message in capitals: the capitals tell nothing
        "ordered from the USA, where is it",  # a country
        "ordered from CA on monday",  # two letters: as often a state as a shop
        "I ordered from RPW, where is it",  # this shop's own initials
        "I wish I knew where my order is",  # issue 12's probes: shop names used as words
        "this is Otto, where is my parcel",
        "my target delivery date was yesterday",
    ],
)
def test_capitals_that_name_no_other_shop(message: str) -> None:
    assert foreign_shop(message, OWN) is None


@pytest.mark.parametrize(
    "message",
    [
        "ordered from NYC",
        "ordered from NSW",
        "ordered from PEI",
        "I ordered it from WORK",
        "I ordered from ASAP",
        "ordered from the US",
        "bought it from UK",
    ],
)
def test_a_region_code_or_a_word_in_capitals_is_no_other_shop(message: str) -> None:
    # States, provinces, cities and countries written as codes, and words in capitals, are not a retailer's initials.
    assert foreign_shop(message, OWN) is None


def test_initials_that_are_no_place_or_word_still_name_another_shop() -> None:
    assert foreign_shop("I bought a harness from REI, where is it?", OWN) == "REI"


@pytest.mark.parametrize("message", ["I wish I knew where my order is", "my target delivery date was yesterday"])
def test_brand_names_used_as_words_read_as_no_other_platform(message: str) -> None:
    assert not detect_intent(message).other_platform


@pytest.mark.parametrize(
    ("name", "article"),
    [
        ("REI", "an"),
        ("NRS", "an"),
        ("QVC", "a"),
        ("MEC", "an"),
        ("Amazon", "an"),
        ("Etsy", "an"),
        ("Target", "a"),
        ("H&M", "an"),
    ],
)
def test_the_article_follows_how_the_name_is_said(name: str, article: str) -> None:
    assert indefinite_article(name) == article


@pytest.mark.parametrize(
    "message", ["i ordered a drysuit from NRS last week where is it", "bought a pump at MEC, where's my package?"]
)
async def test_another_retailers_order_gets_the_other_platform_answer(store: Path, message: str) -> None:
    talked = await talk(store, message)
    shop = foreign_shop(message, OWN)
    assert (
        shop is not None and f"an {shop} order" in talked.replies[0] and "Ridgeline Paddle Works" in talked.replies[0]
    )
    assert talked.tools[0] == []


# --- the carrier's note of where it left a package, inside a split-shipment answer ------------------------------


@pytest.mark.parametrize(
    "message", [f"RP-5101 {EMAIL}", f"RP-5101 {EMAIL} which box got left at the door?", f"{EMAIL} rp5101 status"]
)
async def test_a_split_answer_quotes_where_the_carrier_left_a_package(store: Path, message: str) -> None:
    reply = (await talk(store, message)).replies[0]
    assert "Left at side door" in reply
    line = next(line for line in reply.splitlines() if "Carbon Touring Paddle" in line)
    assert "side door" in line  # beside the package it was said of, not the other one
    assert "side door" not in next(line for line in reply.splitlines() if "Spray Skirt" in line)


# --- one package of a split order never came: the team is offered, and a yes hands it over ----------------------


@pytest.mark.parametrize(
    "message",
    [
        f"the ups box for RP-5101 never showed up, {EMAIL}",
        f"RP-5101 {EMAIL} the paddle never came",
        f"RP-5101 {EMAIL}. UPS one didn't arrive",
        f"{EMAIL} RP-5101 package 1 never turned up!!",
    ],
)
async def test_a_package_of_a_split_order_that_never_came_offers_the_team(store: Path, message: str) -> None:
    talked = await talk(store, message, "uh huh do that")
    assert "1Z5101RPW0000001" in talked.replies[0] and "side door" in talked.replies[0]
    assert asks_about_the_team(talked.replies[0])
    assert talked.tools[1] == ["escalate"]


@pytest.mark.parametrize(
    ("message", "not_received"),
    [
        ("the box never showed up", True),
        ("my parcel didn't arrive", True),
        ("it never came", True),
        ("package 2 did not turn up", True),
        ("it didn't come with the leash", False),  # an item missing from what came
        ("has it arrived?", False),
        ("if it doesn't arrive by friday I'll call", False),
    ],
)
def test_a_parcel_said_never_to_have_come(message: str, not_received: bool) -> None:
    assert ("delivered_not_received" in _exact_acts(message)) is not_received


@pytest.mark.parametrize(
    "message",
    [
        "my confirmation email never came",
        "the refund never came through",
        "the shipping notification never arrived",
        "I didn't make it to the post office before it closed",
        "the tracking number never came",
        "it didn't make it in time for the party",
    ],
)
def test_a_message_or_the_shopper_never_coming_is_no_missing_parcel(message: str) -> None:
    assert "delivered_not_received" not in _exact_acts(message)


# --- an item missing from a box in hand while tracking shows nothing delivered -----------------------------------


@pytest.mark.parametrize(
    "message",
    [
        f"RP-5102 {EMAIL} only one dry bag in the box??",
        f"RP-5102 {EMAIL} the paddle leash is missing from my package",
        f"{EMAIL} RP-5102 box came but no paddle leash inside",
    ],
)
async def test_an_item_missing_from_the_box_offers_the_team(store: Path, message: str) -> None:
    reply = (await talk(store, message)).replies[0]
    assert "1Z5102RPW0000003" in reply  # where the order is by the data, still said
    assert asks_about_the_team(reply)


async def test_a_parcel_called_missing_is_answered_with_where_it_is(store: Path) -> None:
    reply = (await talk(store, f"RP-5102 {EMAIL} my package is missing")).replies[0]
    assert "1Z5102RPW0000003" in reply and "December 10" in reply


# --- short answers to an offer: pictures, repeated words, sounds -------------------------------------------------


@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("👍👍", "yes"),
        ("👍🏾", "yes"),
        ("🤙", "yes"),
        ("💯", "yes"),
        ("🙆‍♀️", "yes"),
        ("uh huh", "yes"),
        ("mhm", "yes"),
        ("yes yes", "yes"),
        ("thumbs up", "yes"),
        ("🙅‍♂️", "no"),
        ("🙅‍♀️ thanks", "no"),
        ("🚫", "no"),
        ("no no", "no"),
        ("thumbs down", "no"),
        ("huh?", None),
    ],
)
def test_short_answers_in_pictures_and_sounds(message: str, answer: str | None) -> None:
    assert offer_answer(message) == answer


@pytest.mark.parametrize("complaint", ["tracking stuck forever", "why hasnt this moved", "any update??"])
@pytest.mark.parametrize("yes", ["👍", "👍👍", "🤙", "mhm"])
async def test_a_label_never_scanned_offers_the_team_and_a_picture_yes_takes_it(
    store: Path, complaint: str, yes: str
) -> None:
    talked = await talk(store, f"RP-5103 {EMAIL} {complaint}", yes)
    assert "9 days ago" in talked.replies[0] and asks_about_the_team(talked.replies[0])
    assert talked.tools[1] == ["escalate"]


@pytest.mark.parametrize("no", ["👎", "🙅‍♀️", "nah 🚫"])
async def test_a_picture_no_declines(store: Path, no: str) -> None:
    talked = await talk(store, f"RP-5103 {EMAIL} tracking stuck", no)
    assert talked.tools[1] == [] and "support team" not in talked.replies[1]


# --- a refund demanded in a run-on line about lateness: the delay and new estimate come first ---------------------


@pytest.mark.parametrize(
    "message",
    [
        f"RP-5104 {EMAIL} its late just refund me",
        f"{EMAIL} RP-5104 the deck bag is late pls refund",
        f"RP-5104 {EMAIL} still not here so i want a refund",
    ],
)
async def test_a_refund_beside_lateness_keeps_the_delay_and_estimate(store: Path, message: str) -> None:
    reply = (await talk(store, message)).replies[0]
    assert "Snowstorm has delayed delivery" in reply and "December 10" in reply
    assert "refund" in reply and asks_about_the_team(reply)
    assert reply.find("Snowstorm") < reply.find("refund")


# --- a deadline asked about a parcel out for delivery --------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        f"RP-5105 {EMAIL} gonna make it before xmas right?",
        f"RP-5105 {EMAIL} I need it by friday, will it make it?",
        f"{EMAIL} RP-5105 will it be here by december 20th",
    ],
)
async def test_a_deadline_answer_says_the_parcel_is_out_for_delivery(store: Path, message: str) -> None:
    reply = (await talk(store, message)).replies[0]
    assert "out for delivery" in reply.lower() and "December 7" in reply
