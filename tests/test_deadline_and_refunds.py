"""Two questions answered only from the order data: "will it arrive by <date>?" and "where's the rest of my refund?".

On two stores built here (a US stationery shop, en-US, and a British yarn shop, en-GB; neither is an eval store), with
several phrasings of each question in different voices: the shopper's day read in the shop's locale against the
store's today, each part of the order set against it (a delivery made, the carrier's estimate never promised, a date
the shop scheduled, no estimate), and the refunds recorded against the order's total with the team offered.
"""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from inline_snapshot import snapshot

from agent.dates_said import Deadline, deadline_named
from agent.grounding import Evidence, ungrounded
from agent.playbook.deadline import refund_gap_asked
from agent.service import Lumen
from config import Settings
from shopify.domain import Shop, parse_order
from tests import store_builders as build
from tools.views import OrderOverview, order_overview

MONDAY = date(2026, 12, 7)

# --- two stores ---------------------------------------------------------------------------------------------------


def _order(name: str, email: str, currency: str, **extra: Any) -> dict[str, Any]:
    """Shipped, its packages given as `fulfillments=`."""
    return build.order(
        name,
        email=email,
        zip_code="60614",
        items="Marbled Notebook",
        amount="58.00",
        currency=currency,
        id_prefix="88",
        original_total=False,
        shipped=True,
        **extra,
    )


def _package(
    carrier: str,
    number: str,
    *,
    status: str = "IN_TRANSIT",
    eta: str | None = None,
    delivered: str | None = None,
    event: tuple[str, str, str] | None = None,
) -> dict[str, Any]:
    events = [build.event(status, *event)] if event else []
    return build.package(
        "Marbled Notebook", carrier, number, status=status, events=events, eta=eta, delivered_at=delivered
    )


_UNSHIPPED = {
    "displayFulfillmentStatus": "UNFULFILLED",
    "lineItems": {"nodes": [{"name": "Brass Pen Set", "quantity": 1, "unfulfilledQuantity": 1}]},
}

# Larkspur Stationers, Chicago (en-US, USD), today Monday, December 7, 2026.
US_STORE: dict[str, Any] = {
    "asOf": "2026-12-07T16:00:00Z",
    "shop": {
        "name": "Larkspur Stationers",
        "ianaTimezone": "America/Chicago",
        "currencyCode": "USD",
        "locale": "en-US",
    },
    "orders": [
        _order(
            "#6101", "rosa@example.com", "USD", fulfillments=[_package("UPS", "1Z6101A", eta="2026-12-10T20:00:00Z")]
        ),
        _order(
            "#6102", "rosa@example.com", "USD", fulfillments=[_package("USPS", "94006102", eta="2026-12-28T20:00:00Z")]
        ),
        _order(
            "#6103",
            "rosa@example.com",
            "USD",
            fulfillments=[
                _package("FedEx", "77006103", event=("2026-12-05T14:00:00Z", "Departed FedEx hub", "Memphis"))
            ],
        ),
        _order(
            "#6104",
            "rosa@example.com",
            "USD",
            fulfillmentOrders={"nodes": [{"status": "SCHEDULED", "fulfillAt": "2027-01-04T15:00:00Z"}]},
            **_UNSHIPPED,
        ),
        _order(
            "#6105",
            "rosa@example.com",
            "USD",
            fulfillments=[_package("UPS", "1Z6105A", status="DELIVERED", delivered="2026-12-04T19:30:00Z")],
        ),
        _order("#6106", "rosa@example.com", "USD", fulfillmentOrders={"nodes": [{"status": "OPEN"}]}, **_UNSHIPPED),
        _order(
            "#6107",
            "rosa@example.com",
            "USD",
            cancelledAt="2026-12-01T17:00:00Z",
            cancelReason="FRAUD",
            displayFinancialStatus="PARTIALLY_REFUNDED",
            displayFulfillmentStatus="UNFULFILLED",
            currentTotalPriceSet=build.money("40.00", "USD"),
            totalPriceSet=build.money("160.00", "USD"),
            refunds=[build.refund("2026-12-02T18:00:00Z", "120.00", "USD")],
        ),
        _order(
            "#6108",
            "rosa@example.com",
            "USD",
            cancelledAt="2026-12-01T17:00:00Z",
            displayFinancialStatus="REFUNDED",
            displayFulfillmentStatus="UNFULFILLED",
            currentTotalPriceSet=build.money("0.00", "USD"),
            totalPriceSet=build.money("75.00", "USD"),
            refunds=[
                build.refund("2026-12-01T18:00:00Z", "50.00", "USD"),
                build.refund("2026-12-03T18:00:00Z", "25.00", "USD"),
            ],
        ),
        _order(
            "#6110",
            "rosa@example.com",
            "USD",
            displayFulfillmentStatus="PARTIALLY_FULFILLED",
            lineItems={
                "nodes": [
                    {"name": "Marbled Notebook", "quantity": 1, "unfulfilledQuantity": 0},
                    {"name": "Wax Seal Kit", "quantity": 1, "unfulfilledQuantity": 0},
                    {"name": "Brass Pen Set", "quantity": 1, "unfulfilledQuantity": 1},
                ]
            },
            fulfillmentOrders={"nodes": [{"status": "OPEN"}]},
            fulfillments=[
                _package("UPS", "1Z6110A", status="DELIVERED", delivered="2026-12-04T19:30:00Z"),
                _package("FedEx", "77006110", eta="2026-12-15T20:00:00Z")
                | {"fulfillmentLineItems": {"nodes": [{"quantity": 1, "lineItem": {"name": "Wax Seal Kit"}}]}},
            ],
        ),
    ],
}

# Thistledown Yarns, York (en-GB, GBP), the same Monday.
GB_STORE: dict[str, Any] = {
    "asOf": "2026-12-07T12:00:00Z",
    "shop": {"name": "Thistledown Yarns", "ianaTimezone": "Europe/London", "currencyCode": "GBP", "locale": "en-GB"},
    "orders": [
        _order(
            "#3301",
            "owen@example.co.uk",
            "GBP",
            shippingAddress={"zip": "YO1 7HH", "countryCodeV2": "GB"},
            fulfillments=[_package("Royal Mail", "RM330100GB", eta="2026-12-18T12:00:00Z")],
        ),
        _order(
            "#3302",
            "owen@example.co.uk",
            "GBP",
            shippingAddress={"zip": "YO1 7HH", "countryCodeV2": "GB"},
            cancelledAt="2026-12-02T10:00:00Z",
            displayFinancialStatus="PARTIALLY_REFUNDED",
            displayFulfillmentStatus="UNFULFILLED",
            currentTotalPriceSet=build.money("18.00", "GBP"),
            totalPriceSet=build.money("48.00", "GBP"),
            refunds=[build.refund("2026-12-03T10:00:00Z", "30.00", "GBP")],
        ),
        # A copy stored before the total as placed was read: only Shopify's current total, already reduced by the
        # refund. It must never be named as the order's total.
        _order(
            "#3303",
            "owen@example.co.uk",
            "GBP",
            cancelledAt="2026-12-02T10:00:00Z",
            displayFinancialStatus="PARTIALLY_REFUNDED",
            displayFulfillmentStatus="UNFULFILLED",
            currentTotalPriceSet=build.money("48.00", "GBP"),
            refunds=[build.refund("2026-12-03T10:00:00Z", "30.00", "GBP")],
        ),
    ],
}


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, store in (("us", US_STORE), ("gb", GB_STORE)):
        paths[name] = tmp_path / f"{name}-store.json"
        paths[name].write_text(json.dumps(store), encoding="utf-8")
    return paths


async def converse(store: Path, *turns: str) -> list[str]:
    replies, _ = await converse_with_escalation(store, *turns)
    return replies


async def converse_with_escalation(store: Path, *turns: str) -> tuple[list[str], Any]:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=store)
    try:
        replies, session, escalation = [], None, None
        for message in turns:
            turn = await lumen.chat(message, session)
            session = turn.session_id
            if turn.escalation is not None:
                escalation = await lumen.escalations.get(turn.escalation.reference)
            replies.append(turn.reply)
        return replies, escalation
    finally:
        await lumen.close()


# --- reading the shopper's day --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "locale", "day", "strict"),
    [
        ("will it be here by Christmas", "en_US", date(2026, 12, 25), False),
        ("any chance itll arrive b4 xmas?? by christmas i mean", "en_GB", date(2026, 12, 25), False),
        ("before the 20th?", "en_US", date(2026, 12, 20), True),
        ("need it before the 2nd", "en_GB", date(2027, 1, 2), True),  # the 2nd is past this month: next month's
        ("in time for my daughter's birthday on Friday", "en_US", date(2026, 12, 11), False),
        ("need it by next weekend", "en_AU", date(2026, 12, 19), False),
        ("need it by the weekend", "en_AU", date(2026, 12, 12), False),
        ("by dec 24??", "en_US", date(2026, 12, 24), False),
        ("will it come by 24th of December mate", "en_AU", date(2026, 12, 24), False),
        ("needed by 12/20", "en_US", date(2026, 12, 20), False),
        ("needed by 20/12", "en_GB", date(2026, 12, 20), False),
        ("needed by 12/11", "en_US", date(2026, 12, 11), False),  # month first in the US
        ("needed by 12/11", "en_GB", date(2026, 11, 12), False),  # day first in the UK: 12 November, gone by
        ("will it be here by next friday", "en_GB", date(2026, 12, 18), False),
        ("can it get here by tmrw", "en_US", date(2026, 12, 8), False),
        ("need it by sat!!", "en_AU", date(2026, 12, 12), False),
        ("hoping for it before new years eve", "en_US", date(2026, 12, 31), True),
        ("by 5 jan 2027 pls", "en_GB", date(2027, 1, 5), False),
        ("will it arrive by thanksgiving", "en_US", date(2027, 11, 25), False),
    ],
)
def test_the_day_a_shopper_needs_it_by(message: str, locale: str, day: date, strict: bool) -> None:
    read = deadline_named(message, MONDAY, locale)
    if day < MONDAY:
        assert read is None  # a day already gone by is no deadline: the status is answered as it stands
        return
    assert read == Deadline(day, strict)


@pytest.mark.parametrize(
    "message",
    [
        "where is my order",
        "it was supposed to arrive by the 3rd",  # a promise already past, not a day still to come
        "it should have been here by friday",
        "thanks by the way",
        "I've been waiting for 2 weeks",
        "what's the tracking for the 2nd parcel",  # a position, not a day
        "any update for sat nav order 4410",  # a weekday's short form is an everyday word mid-phrase
        "needed by nov 30",  # gone by a week ago
        "will it arrive by thanksgiving",  # en-GB: no such day is kept here, so none is guessed
    ],
)
def test_no_day_is_read_where_none_is_named_or_it_is_past(message: str) -> None:
    assert deadline_named(message, MONDAY, "en_GB") is None


def test_the_guard_accepts_the_shoppers_own_day_and_nothing_else() -> None:
    tools = '{"estimated_delivery": {"iso": "2026-12-10T14:00:00-06:00"}}'
    reply = "UPS estimates delivery on December 10, before December 25."
    asked = Evidence(tools + "\nwill it be here by christmas", tools, frozenset(), "will it be here by christmas")
    assert ungrounded(reply, asked, MONDAY) == []
    unasked = Evidence(tools + "\nwhere is it", tools, frozenset(), "where is it")
    assert ungrounded(reply, unasked, MONDAY) == ["date 12/25"]


# --- the answers ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "will order 6101 be here by Christmas? rosa@example.com",
        "6101 rosa@example.com any chance it arrives before xmas",
        "hey can u check 6101 will it come by dec 24?? rosa@example.com",
    ],
)
async def test_an_estimate_before_the_day_is_the_carriers_not_a_promise(stores: dict[str, Path], question: str) -> None:
    [reply] = await converse(stores["us"], question)
    assert "UPS estimates delivery on Thursday, December 10" in reply
    assert re.search(r"before December 2[45]", reply)
    assert "can't promise" in reply
    assert "within" not in reply.lower()


@pytest.mark.parametrize(
    "question",
    [
        "will 6102 arrive by christmas? rosa@example.com",
        "Order 6102, rosa@example.com. I NEED it before the 25th!!",
    ],
)
async def test_an_estimate_after_the_day_is_said_plainly(stores: dict[str, Path], question: str) -> None:
    [reply] = await converse(stores["us"], question)
    assert "USPS estimates delivery on Monday, December 28" in reply
    assert re.search(r"isn't expected to arrive (?:by|before) December 25", reply)


async def test_an_estimate_on_the_day_itself_is_not_before_it(stores: dict[str, Path]) -> None:
    [by, before] = [
        (await converse(stores["us"], f"6101 rosa@example.com will it be here {cue} the 10th?"))[0]
        for cue in ("by", "before")
    ]
    assert "the day you need it by" in by
    assert "isn't expected to arrive before December 10" in before


async def test_the_day_asked_first_is_answered_once_the_order_is_proved(stores: dict[str, Path]) -> None:
    replies = await converse(
        stores["us"], "hi, need my order in time for my daughter's birthday on Friday", "6102", "rosa@example.com"
    )
    assert "USPS estimates delivery on Monday, December 28" in replies[-1]
    assert "isn't expected to arrive by December 11" in replies[-1]


async def test_no_estimate_promises_nothing_and_says_what_the_data_does(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "6103 rosa@example.com will it make it by the 20th")
    assert "no estimated delivery date from FedEx" in reply
    assert "can't promise delivery by December 20" in reply
    assert "Departed FedEx hub" in reply and "December 5" in reply


async def test_a_scheduled_date_after_the_day_means_it_will_not_be_sent_before_it(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "will my preorder 6104 ship in time for christmas? rosa@example.com")
    assert "on or after Monday, January 4, 2027" in reply
    assert "won't be sent before December 25" in reply


async def test_unshipped_without_a_date_offers_the_spec_s_shipping_date_help(stores: dict[str, Path]) -> None:
    replies = await converse(stores["us"], "6106 rosa@example.com need it by next weekend", "yes please")
    assert "hasn't shipped yet" in replies[0] and "December 19" in replies[0]
    assert "support team" in replies[0]
    assert "ESC-" in replies[1]


async def test_a_delivered_order_says_when(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "6105 rosa@example.com will it be here before christmas")
    assert "already delivered on Friday, December 4" in reply


async def test_a_follow_up_about_a_day_after_the_status(stores: dict[str, Path]) -> None:
    replies = await converse(stores["us"], "where is 6102 rosa@example.com", "ok but will it be here by xmas?")
    assert "USPS estimates delivery on Monday, December 28" in replies[1]
    assert "isn't expected to arrive by December 25" in replies[1]


async def test_each_part_of_a_split_order_is_set_against_the_day(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "6110 rosa@example.com need ALL of it by the 20th pls")
    delivered, moving, rest = reply.split("\n")
    assert delivered.startswith("Package 1") and "already delivered on Friday, December 4" in delivered
    assert moving.startswith("Package 2 (Wax Seal Kit)") and "Tuesday, December 15, before December 20" in moving
    assert "Brass Pen Set" in rest and "can't promise delivery by December 20" in rest
    assert "support team" in rest  # the spec's offer of a shipping date, for what hasn't shipped


async def test_no_offer_when_the_shopper_asked_not_to_be_passed_on(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "6106 rosa@example.com dont pass me on, just tell me if itll come by xmas")
    assert "can't promise delivery by December 25" in reply
    assert "support team" not in reply


@pytest.mark.parametrize(
    ("question", "day"),
    [
        ("3301 owen@example.co.uk will it arrive by 20/12?", "20 December"),
        ("3301 owen@example.co.uk will it arrive by 12/20?", "20 December"),  # US order in a UK shop, read anyway
        ("3301 YO17HH need it for chrissy", "25 December"),
    ],
)
async def test_an_en_gb_shop_reads_and_writes_its_own_dates(stores: dict[str, Path], question: str, day: str) -> None:
    [reply] = await converse(stores["gb"], question)
    assert "Royal Mail estimates delivery on Friday 18 December" in reply
    assert f"before {day}" in reply
    assert "Tracking: RM330100GB" in reply  # the number to watch it by, from the data


async def test_an_unreadable_day_gets_the_status_as_it_stands(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "6102 rosa@example.com will it be here by the big game?")
    assert "estimated delivery is Monday, December 28" in reply
    assert "expected to arrive" not in reply


# --- the rest of a refund -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "6107 rosa@example.com where's the other $40?",
        "order 6107, rosa@example.com -- you only refunded part of it",
        "6107 rosa@example.com i paid 160 and got 120 back",
        "6107 rosa@example.com wheres the rest of my mony",
    ],
)
async def test_a_partial_refund_is_set_against_the_total(stores: dict[str, Path], question: str) -> None:
    replies, escalation = await converse_with_escalation(stores["us"], question, "yes please")
    assert "cancelled on Tuesday, December 1" in replies[0]
    assert "$160.00" in replies[0] and "$120.00 on Wednesday, December 2" in replies[0]
    assert "isn't recorded as refunded" in replies[0]
    assert "fraud" not in replies[0].lower()  # never the cancel reason
    assert "$40.00" not in replies[0]  # no sum the data doesn't hold
    assert escalation is not None and escalation.order_name == "#6107"
    assert "rest of a refund" in escalation.summary and "FRAUD" not in escalation.summary


async def test_a_refund_in_two_parts_that_covers_the_total_says_so(stores: dict[str, Path]) -> None:
    [reply] = await converse(stores["us"], "6108 rosa@example.com you only refunded part of it??")
    assert "$50.00 on Tuesday, December 1" in reply and "$25.00 on Thursday, December 3" in reply
    assert "come to the full total" in reply and "$75.00" in reply


@pytest.mark.parametrize(
    "question",
    ["3302 owen@example.co.uk I paid £48 and only got £30 back", "3302 YO1 7HH where's the remaining money"],
)
async def test_a_partial_refund_in_an_en_gb_shop(stores: dict[str, Path], question: str) -> None:
    [reply] = await converse(stores["gb"], question)
    assert "£48.00" in reply and "£30.00 on Thursday 3 December" in reply
    assert "isn't recorded as refunded" in reply


async def test_without_the_total_as_placed_no_total_is_named(stores: dict[str, Path]) -> None:
    """Shopify's current total drops with returns: set against the refunds it would name a wrong order total, so
    without `totalPriceSet` the refunds are listed and no total at all is said."""
    [reply] = await converse(stores["gb"], "3303 owen@example.co.uk where's the rest of my money")
    assert "£30.00 on Thursday 3 December" in reply
    assert "£48.00" not in reply and "total" not in reply


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("where's the other $40?", True),
        ("you only refunded part of it", True),
        ("I paid 160 and got 120 back", True),
        ("refund came up short by 40 quid", True),
        ("where is my refund", False),
        ("where is my order 4417", False),
    ],
)
def test_a_refund_said_to_fall_short(message: str, asked: bool) -> None:
    assert refund_gap_asked(message) is asked


def test_the_order_view_carries_what_was_paid_and_refunded() -> None:
    """What a shopper may see of money: the total paid, the total now, and each refund's amount and date; nothing
    of how it was paid."""
    shop = Shop(name="Larkspur Stationers", timezone="America/Chicago", locale="en_US")
    overview = order_overview(parse_order(US_STORE["orders"][6]), shop)
    money = overview.model_dump(include={"total", "total_paid", "currency", "refunds", "financial_status"})
    assert money == snapshot(
        {
            "financial_status": "PARTIALLY_REFUNDED",
            "refunds": [
                {
                    "date": {
                        "iso": "2026-12-02T12:00:00-06:00",
                        "date": "Wednesday, December 2, 2026",
                        "time": "12:00 PM",
                    },
                    "amount": "120.00",
                    "currency": "USD",
                }
            ],
            "total": "40.00",
            "total_paid": "160.00",
            "currency": "USD",
        }
    )
    assert list(OrderOverview.model_json_schema()["properties"]) == snapshot(
        [
            "order_number",
            "placed",
            "fulfillment_status",
            "financial_status",
            "cancelled",
            "refunds",
            "return_status",
            "total",
            "total_paid",
            "currency",
            "items",
            "package_count",
            "delivered",
        ]
    )
