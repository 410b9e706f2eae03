"""Kinds of shopper messages a blind set found misread (round 11), each on an invented shop (Larkspur Garden Co.,
en-US; no eval store): a postcode's label with words before the code ("try my zip then 55408") or a ZIP split by a
phone's keyboard ("53 703"); "are you a real person?" asked, not a person asked for; a logged-in customer asking
about both (all) their orders; "nobody here has it" about a delivered parcel; a question after a status that the
status can't answer further ("which neighbour?", "is it lost"); a retailer named in lowercase ("on gardenly"), and
a thing got from a marketplace beside an order of ours ("got a planter from etsy and LG-4401 from you").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import store_builders as build
from tests.server_helpers import replies, write_store

EMAIL = "june.okafor@example.com"
CUSTOMER = "gid://shopify/Customer/9004400"


def _event(status: str, when: str, message: str, city: str, country: str = "US") -> dict[str, Any]:
    return build.event(status, when, message, city, country=country)


def _package(carrier: str, number: str, item: str, status: str, events: list[dict[str, Any]], **extra: Any):
    return build.package(item, carrier, number, status=status, events=events, **extra)


def _order(number: int, item: str, zip_code: str, packages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    email, country = extra.pop("email", EMAIL), extra.pop("country", "US")
    return build.order(
        f"LG-{number}", email=email, zip_code=zip_code, country=country, items=item, packages=packages, **extra
    )


_MOVING = [_event("IN_TRANSIT", "2026-12-06T16:00:00Z", "Arrived at hub", "Memphis")]
_CUSTOMER = {"customer": {"id": CUSTOMER, "displayName": "June Okafor"}}

# Larkspur Garden Co., Minneapolis (en-US, USD), today Monday, December 7, 2026.
STORE: dict[str, Any] = {
    "asOf": "2026-12-07T18:00:00Z",
    "shop": {"name": "Larkspur Garden Co.", "ianaTimezone": "America/Chicago", "currencyCode": "USD",
             "locale": "en-US", "orderNumberFormatPrefix": "LG-", "orderNumberFormatSuffix": ""},
    "orders": [
        _order(4401, "Brass Hose Nozzle", "55408",
               [_package("FedEx", "770044010001", "Brass Hose Nozzle", "IN_TRANSIT", _MOVING,
                         estimatedDeliveryAt="2026-12-09T20:00:00Z")]),
        _order(4402, "Cedar Raised Bed", "55104",
               [_package("UPS", "1ZLG44020000002", "Cedar Raised Bed", "DELIVERED",
                         [_event("DELIVERED", "2026-12-05T19:00:00Z", "Left with neighbor at 14B", "St Paul")],
                         deliveredAt="2026-12-05T19:00:00Z")]),
        _order(4403, "Copper Plant Labels", "E2 7DJ",
               [_package("USPS", "LZ440300001US", "Copper Plant Labels", "IN_TRANSIT",
                         [_event("IN_TRANSIT", "2026-11-16T16:00:00Z", "Departed origin country", "Chicago")])],
               country="GB"),
        _order(4404, "Bulb Planter Set", "55408", [], **_CUSTOMER),
        _order(4405, "Heated Seed Mat", "55408",
               [_package("UPS", "1ZLG44050000005", "Heated Seed Mat", "IN_TRANSIT", _MOVING,
                         estimatedDeliveryAt="2026-12-10T20:00:00Z")], **_CUSTOMER),
        _order(4406, "Potting Bench", "60202",
               [_package("OnTrac", "D10044060006", "Potting Bench", "DELIVERED",
                         [_event("DELIVERED", "2026-12-04T17:00:00Z", "Delivered - received by front desk",
                                 "Evanston")],
                         deliveredAt="2026-12-04T17:00:00Z")]),
        _order(4407, "Rain Barrel", "53703",
               [_package("OnTrac", "D10044070007", "Rain Barrel", "IN_TRANSIT", _MOVING)]),
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("larkspur") / "store.json", STORE)


HANDED_OVER = "I've sent your case"
ASKS_REPLY_ADDRESS = "What email address should they reply to"


@pytest.mark.parametrize(
    "zip_turn", ["ok try my zip then 55408", "zip code would be 55408", "fine, zip instead: 55408", "my zip then 55408"]
)
async def test_a_zip_after_its_label_and_a_word_or_two_proves_the_order_under_discussion(
    store: Path, zip_turn: str
) -> None:
    said = await replies(store, "where's my hose nozzle, LG-4401", "someone@example.com", zip_turn)
    assert "770044010001" not in said[1]
    assert "FedEx" in said[2] and "770044010001" in said[2], said[2]


@pytest.mark.parametrize("message", ["4407   53 703", "#LG-4407 53 703", "lg-4407 53 703 where is it"])
async def test_a_zip_split_by_a_space_beside_the_order_number_is_the_zip(store: Path, message: str) -> None:
    [said] = await replies(store, message)
    assert "OnTrac" in said and "D10044070007" in said, said


@pytest.mark.parametrize(
    "question",
    ["are you a real person?", "r u a bot lol", "am i talking to a human or a machine", "ok test. is this an ai"],
)
async def test_asking_whether_lumen_is_a_person_asks_for_no_person(store: Path, question: str) -> None:
    first, second = await replies(store, question, f"fine. LG-4401 {EMAIL}")
    assert ASKS_REPLY_ADDRESS not in first and "automated assistant" in first, first
    assert HANDED_OVER not in second and "770044010001" in second, second


@pytest.mark.parametrize(
    "message", ["are you a bot? i want to talk to a real person", "I want a real person, not a bot"]
)
async def test_a_person_asked_for_beside_the_question_is_still_a_person_asked_for(store: Path, message: str) -> None:
    [said] = await replies(store, message)
    assert ASKS_REPLY_ADDRESS in said, said


@pytest.mark.parametrize(
    "turns",
    [
        ("status of both my orders please",),
        ("where are all my orders at",),
        ("hi, how are both of them doing?",),
        ("where's my order", "both please"),
        ("where's my order", "all of them"),
    ],
)
async def test_a_customer_asking_about_every_order_gets_each_ones_status(store: Path, turns: tuple[str, ...]) -> None:
    said = await replies(store, *turns, customer_id=CUSTOMER)
    last = said[-1]
    assert "LG-4404" in last and "hasn't shipped" in last, last
    assert "LG-4405" in last and "1ZLG44050000005" in last, last
    assert "Which" not in last


async def test_a_customer_asking_about_one_order_is_still_asked_which(store: Path) -> None:
    [said] = await replies(store, "where's my order", customer_id=CUSTOMER)
    assert "1ZLG44050000005" not in said and "Which" in said


@pytest.mark.parametrize(
    "message",
    [
        "LG-4406 60202 who took it in? nobody here has it",
        "lg-4406 60202 none of us received the package",
        "LG-4406 60202 no one at home got it, who signed",
    ],
)
async def test_nobody_having_a_delivered_parcel_is_a_parcel_not_received(store: Path, message: str) -> None:
    [said] = await replies(store, message)
    assert "OnTrac" in said and "front desk" in said
    assert "can't confirm" in said and "support team" in said, said


@pytest.mark.parametrize(
    ("turns", "facts", "limit"),
    [
        # Which neighbour: the carrier's note, and that Lumen sees no more of the neighbour than it says.
        (("LG-4402 55104", "which neighbour??"), ("UPS", "14B"), "can't see which neighbour"),
        (("LG-4402 55104", "so where exactly is it now?"), ("UPS", "14B"), "only see what the carrier reports"),
        (("lg-4403 e27dj", "is it lost"), ("USPS", "Departed origin country"), "only see what the carrier reports"),
        (
            ("lg-4403 e27dj", "has it been stolen?"),
            ("USPS", "Departed origin country"),
            "only see what the carrier reports",
        ),
    ],
)
async def test_a_question_the_status_cant_answer_further_gets_the_carriers_words(
    store: Path, turns: tuple[str, ...], facts: tuple[str, ...], limit: str
) -> None:
    first, second = await replies(store, *turns)
    assert all(f in first for f in facts)
    assert all(f in second for f in facts), second
    assert limit in second and second != first
    assert "it is lost" not in second.lower()


async def test_a_nod_after_a_status_is_not_answered_with_the_carriers_words(store: Path) -> None:
    said = await replies(store, "LG-4402 55104", "ok")
    assert "only see what the carrier reports" not in said[1]


@pytest.mark.parametrize(
    ("message", "shop"),
    [
        ("i ordered a hose on gardenly last week, whats the status", "Gardenly"),
        ("bought gloves via hortico, any update?", "Hortico"),
        ("ordered seeds from plantwise and its late", "Plantwise"),
    ],
)
async def test_a_retailer_named_in_lowercase_is_answered_as_maybe_another_shop(
    store: Path, message: str, shop: str
) -> None:
    [said] = await replies(store, message)
    assert shop in said and "only look up orders placed with Larkspur Garden Co." in said, said


@pytest.mark.parametrize(
    "message", ["i ordered it on sale last week, whats the status", "ordered from you guys on tues, where is it"]
)
async def test_everyday_words_where_a_shop_is_named_are_no_retailer(store: Path, message: str) -> None:
    [said] = await replies(store, message)
    assert "If you ordered through" not in said and "order number" in said, said


@pytest.mark.parametrize(
    ("message", "platform"),
    [
        (f"got a planter from etsy and also order LG-4401 from you guys. {EMAIL}", "Etsy"),
        (f"got some seeds from ebay, and LG-4401 from you {EMAIL} where are they", "eBay"),
    ],
)
async def test_a_thing_got_from_a_marketplace_beside_our_order_answers_both(
    store: Path, message: str, platform: str
) -> None:
    [said] = await replies(store, message)
    assert f"check with {platform}" in said and "770044010001" in said, said


async def test_an_email_got_from_a_marketplace_names_no_order_there(store: Path) -> None:
    [said] = await replies(store, f"got an email from amazon saying LG-4401 shipped, {EMAIL} where is it")
    assert "Amazon" not in said and "770044010001" in said, said
