"""Four things a shopper says of an order that Lumen once misheard:

- "refund 4102 now": a number right after a word asking for an order's money back is the order, not an amount
  (unless something marks it as money, or another number is the order);
- "picked it up at the post office, the boots were in it but no laces": a parcel collected and opened with an item
  not in it is a missing item (the team offered), not a question of where the parcel is;
- "can you confirm it's actually in the mailbox?": Lumen sees only the carrier's record, says what it is and that it
  can't confirm where the package physically is, and offers the team;
- "and where's the reel right now?" about one package of a split order: where its carrier last saw it, though an
  estimate is known.

Two stores built here (a Montana fly shop with `#LF` names, en-US; a Yorkshire tea room's shop with plain names,
en-GB; neither is an eval store), each sentence in several voices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.physical_check import physical_check_asked
from agent.playbook.understand import extract_details
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import replies, write_store


def _event(status: str, when: str, message: str, city: str | None, country: str) -> dict[str, Any]:
    return build.event(status, when, message, city, country=country)


def _package(carrier: str, number: str, items: list[str], status: str, events: list[dict[str, Any]], **extra: Any):
    return build.package(items, carrier, number, status=status, events=events) | extra


def _order(
    name: str, email: str, zip_code: str, country: str, currency: str, packages: list[dict[str, Any]], *unshipped: str
):
    items = [line["lineItem"]["name"] for p in packages for line in p["fulfillmentLineItems"]["nodes"]]
    return build.order(
        name,
        email=email,
        zip_code=zip_code,
        country=country,
        items=items,
        waiting=unshipped,
        packages=packages,
        amount="180.00",
        currency=currency,
        id_prefix="91",
        shipped=True,
    )


def _delivered(carrier: str, number: str, items: list[str], when: str, note: str, city: str, country: str):
    event = _event("DELIVERED", when, note, city, country)
    return _package(carrier, number, items, "DELIVERED", [event], deliveredAt=when)


def _moving(carrier: str, number: str, items: list[str], eta: str, message: str, city: str, country: str):
    events = [
        _event("IN_TRANSIT", "2026-12-01T10:00:00Z", "Departed shipping partner facility", None, country),
        _event("IN_TRANSIT", "2026-12-05T16:00:00Z", message, city, country),
    ]
    return _package(carrier, number, items, "IN_TRANSIT", events, estimatedDeliveryAt=eta)


def _waiting(carrier: str, number: str, items: list[str], message: str, city: str, country: str):
    event = _event("READY_FOR_PICKUP", "2026-12-05T15:00:00Z", message, city, country)
    return _package(carrier, number, items, "READY_FOR_PICKUP", [event])


# Larkspur Fly & Field, Bozeman (en-US, USD, `#LF4101` names), today Monday, December 7, 2026.
US_STORE: dict[str, Any] = {
    "asOf": "2026-12-07T18:00:00Z",
    "shop": {"name": "Larkspur Fly & Field", "ianaTimezone": "America/Denver", "currencyCode": "USD",
             "locale": "en-US", "orderNumberFormatPrefix": "#LF", "orderNumberFormatSuffix": ""},
    "orders": [
        _order("#LF4101", "reese@example.com", "59715", "US", "USD", [
            _delivered("UPS", "1Z41010000", ["Wading Boots"], "2026-12-03T21:10:00Z", "Left at side door",
                       "Bozeman", "US")]),
        _order("#LF4102", "reese@example.com", "59715", "US", "USD", [
            _delivered("USPS", "9400141020000", ["Waders"], "2026-12-02T19:00:00Z", "Delivered, in mailbox",
                       "Bozeman", "US"),
            _moving("FedEx", "770041020002", ["Click-Pawl Reel"], "2026-12-10T20:00:00Z",
                    "Arrived at FedEx hub", "Billings", "US")]),
        _order("#LF4103", "reese@example.com", "59715", "US", "USD", [
            _waiting("USPS", "9400141030000", ["Wading Boots", "Boot Laces"],
                     "Available for pickup at Post Office", "Bozeman", "US")]),
        _order("#LF4104", "reese@example.com", "59715", "US", "USD", [
            _moving("FedEx", "770041040001", ["Fly Vest"], "2026-12-09T20:00:00Z", "On FedEx vehicle",
                    "Livingston", "US")]),
        _order("#LF4105", "reese@example.com", "59715", "US", "USD", [
            _delivered("USPS", "9400141050000", ["Tippet Spools"], "2026-12-02T19:00:00Z", "Delivered, in mailbox",
                       "Bozeman", "US"),
            _moving("FedEx", "770041050002", ["Net"], "2026-12-10T20:00:00Z", "Arrived at FedEx hub",
                    "Billings", "US")], "Rod Tube"),
    ],
}  # fmt: skip

# Dalesway Tea Room shop, Settle (en-GB, GBP, `#8801` names), the same Monday.
GB_STORE: dict[str, Any] = {
    "asOf": "2026-12-07T12:00:00Z",
    "shop": {"name": "Dalesway Tea Room", "ianaTimezone": "Europe/London", "currencyCode": "GBP", "locale": "en-GB"},
    "orders": [
        _order("#8801", "ffion@example.co.uk", "BD24 9AA", "GB", "GBP", [
            _delivered("Royal Mail", "RM880100001GB", ["Brown Betty Teapot"], "2026-12-04T11:30:00Z",
                       "Delivered to safe place: shed", "Settle", "GB")]),
        _order("#8802", "ffion@example.co.uk", "BD24 9AA", "GB", "GBP", [
            _delivered("Evri", "H01HYA0088020001", ["Tea Caddy"], "2026-12-03T10:00:00Z", "Delivered to porch",
                       "Settle", "GB"),
            _moving("DPD", "15508802000002", ["Cake Stand"], "2026-12-09T12:00:00Z", "Arrived at hub",
                    "Hinckley", "GB")]),
        _order("#8803", "ffion@example.co.uk", "BD24 9AA", "GB", "GBP", [
            _waiting("Royal Mail", "RM880300001GB", ["Scone Tin", "Tea Towels"],
                     "Item ready for collection at Customer Service Point", "Skipton", "GB")]),
    ],
}  # fmt: skip


@pytest.fixture
def us_store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "us-store.json", US_STORE)


@pytest.fixture
def gb_store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "gb-store.json", GB_STORE)


def offers_the_team(reply: str) -> bool:
    return "support team" in reply and reply.rstrip().endswith("?")


# --- "refund 4102 now": the order to refund ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "fmt", "country", "order"),
    [
        ("refund 4102 now pls, wrong size", NameFormat("#LF", ""), "US", "4102"),
        ("Please refund 4102, it came far too late", NameFormat("#LF", ""), "US", "4102"),
        ("REFUND 4102 IMMEDIATELY", NameFormat("#LF", ""), "US", "4102"),
        ("can you refund 8801? the teapot lid doesn't fit", None, "GB", "8801"),
        ("just refund 8801 and we're done", None, "GB", "8801"),
        # Marked as money, or beside another order: still an amount.
        ("refund 120 dollars on 4102", NameFormat("#LF", ""), "US", "4102"),
        ("refund $120 please", NameFormat("#LF", ""), "US", None),
        ("i want a refund of 1200", None, "GB", None),
        ("they refunded 1250 on #8801", None, "GB", "8801"),
    ],
)
def test_a_number_right_after_refund_is_the_order(message: str, fmt: NameFormat | None, country: str, order: str):
    assert extract_details(message, None, country, fmt).order_number == order


@pytest.mark.parametrize(
    ("store", "message", "looked_up"),
    [
        ("us", "refund 4101 today reese@example.com, the boots rub", "4101"),
        ("gb", "Refund 8801 now ffion@example.co.uk - the lid is the wrong size", "8801"),
    ],
)
async def test_refund_with_the_number_after_it_looks_the_order_up_and_offers_the_team(
    store: str, message: str, looked_up: str, us_store: Path, gb_store: Path
) -> None:
    reply = (await replies(us_store if store == "us" else gb_store, message))[0]
    assert "order number?" not in reply.lower()
    assert looked_up in reply and offers_the_team(reply)


# --- a parcel collected and opened, an item not in it -------------------------------------------------------------
@pytest.mark.parametrize(
    ("store", "message"),
    [
        ("us", "picked the box up at the post office, boots are in it but no laces. LF4103 reese@example.com"),
        ("us", "got it from the PO today and the laces aren't in there, just the boots #4103 reese@example.com"),
        (
            "gb",
            "collected my parcel from the customer service point, scone tin's there but no tea towels. "
            "8803 ffion@example.co.uk",
        ),
        ("gb", "fetched it from the depot in Skipton, only the tin inside, tea towels missing 8803 BD24 9AA"),
    ],
)
async def test_an_item_missing_from_a_collected_parcel_is_offered_to_the_team(
    store: str, message: str, us_store: Path, gb_store: Path
) -> None:
    reply = (await replies(us_store if store == "us" else gb_store, message))[0]
    assert offers_the_team(reply), reply
    assert "missing" in reply.lower()


# --- "can you confirm it's actually in the mailbox?" -----------------------------------------------------------------
CANT_CONFIRM = "I can't confirm where the package physically is"


@pytest.mark.parametrize(
    "message",
    [
        "can you confirm it's actually in the mailbox?",
        "is it really at my side door??",
        "did they definitely leave it at the door or not",
        "Could you please verify that it was truly delivered.",
        "where is it physically?",
    ],
)
def test_a_question_of_where_the_parcel_physically_is_is_read(message: str) -> None:
    assert physical_check_asked(message)


@pytest.mark.parametrize(
    "message",
    [
        "can you check if it's really coming today",
        "can you confirm my order shipped?",
        "it's actually late",
        "I physically went to the post office and it wasn't there",
        "can I pick it up in person?",
        "where is my order",
    ],
)
def test_other_questions_are_no_physical_check(message: str) -> None:
    assert not physical_check_asked(message)


@pytest.mark.parametrize(
    ("store", "turns", "carrier_note"),
    [
        ("us", ["LF4101 reese@example.com can you confirm it's actually at the side door?"], "Left at side door"),
        ("us", ["4101 reese@example.com", "ok but is it really there, like for sure?"], "Left at side door"),
        ("gb", ["8801 ffion@example.co.uk", "are you sure it's definitely in the shed?"], "safe place: shed"),
    ],
)
async def test_lumen_says_it_cannot_confirm_where_the_parcel_physically_is(
    store: str, turns: list[str], carrier_note: str, us_store: Path, gb_store: Path
) -> None:
    reply = (await replies(us_store if store == "us" else gb_store, *turns))[-1]
    assert carrier_note in reply and CANT_CONFIRM in reply
    assert reply.count("physically") == 1
    assert "support team" in reply and reply.index(CANT_CONFIRM) < reply.index("support team")


async def test_it_is_said_once_beside_a_parcel_not_received(us_store: Path) -> None:
    reply = (await replies(us_store, "4101 reese@example.com never got it, can you confirm it's really there?"))[0]
    assert reply.count("physically") == 1 and offers_the_team(reply)


async def test_a_plain_status_question_and_a_parcel_on_its_way_say_nothing_of_it(us_store: Path) -> None:
    delivered, moving = (
        await replies(us_store, "4101 reese@example.com where is it?"),
        await replies(us_store, "4104 reese@example.com can you confirm it's actually on the truck?"),
    )
    assert "physically" not in delivered[0] and "physically" not in moving[0]


# --- "and where's the reel right now?" ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("store", "turns", "place"),
    [
        ("us", ["LF4102 reese@example.com", "and where's the reel exactly right now"], "Billings"),
        ("us", ["4102 59715", "where is the second package at the moment?"], "Billings"),
        ("us", ["4102 reese@example.com", "where are they now"], "Billings"),
        ("gb", ["8802 ffion@example.co.uk", "where's the cake stand now please"], "Hinckley"),
    ],
)
async def test_where_a_package_is_now_says_where_its_carrier_last_saw_it(
    store: str, turns: list[str], place: str, us_store: Path, gb_store: Path
) -> None:
    first, last = await replies(us_store if store == "us" else gb_store, *turns)
    assert place not in first
    assert place in last and "last update" in last


async def test_when_a_package_comes_keeps_its_short_answer(us_store: Path) -> None:
    _, last = await replies(us_store, "4102 reese@example.com", "when will the reel come?")
    assert "Billings" not in last and "December 10" in last


async def test_where_they_are_now_still_says_what_has_not_shipped(us_store: Path) -> None:
    _, last = await replies(us_store, "4105 reese@example.com", "where are they now")
    assert "Rod Tube" in last
