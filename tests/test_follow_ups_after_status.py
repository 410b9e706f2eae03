"""What a shopper says next, read against what Lumen just said, on an invented shop (Heron Creek Pottery, Asheville,
en-US; no eval store), each kind in several wordings:

- a question after a carrier event about what happens next ("what happens now?", "will they come back?", "is there
  another attempt?"): the carrier's own latest words, never "I can only help with orders";
- a yes said as the offer's own words ("go ahead and get me the tracking number", "ok ask them for the tracking"):
  the offer is taken up; a question about the same thing ("where's the tracking?") or a no to it is not;
- "where do I pick it up?" after a status that said where it waits: the pickup point, or the carrier's words naming
  where it is held, never "nothing has changed";
- a logged-in customer choosing among their listed orders by where each stands ("the one that hasn't come", "the
  delivered one", "whichever hasn't shipped"), and by age in a choice of two ("the older one").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.follow_ups import (
    asks_what_next,
    asks_where_to_collect,
    offer_words,
    picked_by_state,
    restates_offer,
    stages_named,
)
from agent.playbook.understand import recency_named
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store


def _package(status: str, item: str, **extra: Any) -> dict[str, Any]:
    return build.package(item, status=status) | extra  # `events=` here is the whole field, as Shopify gives it


def _order(number: str, email: str, item: str, packages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return build.order(
        f"#{number}", email=email, zip_code="28801", items=item, packages=packages, id_prefix="88", **extra
    )


def _ups(number: str, status: str, message: str, **extra: Any) -> dict[str, Any]:
    event = {"status": status, "happenedAt": "2026-12-06T20:40:00Z", "message": message, "city": "Weaverville"}
    tracking = [{"company": "UPS", "number": number, "url": None}]
    return {"trackingInfo": tracking, "events": {"nodes": [event]}} | extra


def _placed(day: str) -> dict[str, Any]:
    return {"createdAt": f"{day}T15:00:00Z", "processedAt": f"{day}T15:00:00Z"}


def _customer(number: int) -> dict[str, Any]:
    return {"customer": {"id": f"gid://shopify/Customer/{number}"}}


_RETRY = "Receiver not available. We will try again on the next business day"
_DELIVERED = {"deliveredAt": "2026-12-02T18:00:00Z"}

STORE: dict[str, Any] = {
    "asOf": "2026-12-07T15:00:00Z",
    "shop": {"name": "Heron Creek Pottery", "ianaTimezone": "America/New_York", "currencyCode": "USD",
             "locale": "en-US", "orderNumberFormatPrefix": "#", "orderNumberFormatSuffix": ""},
    "orders": [
        _order("2201", "wren@example.com", "Ash Glaze Mug",
               [_package("ATTEMPTED_DELIVERY", "Ash Glaze Mug", **_ups("1Z999AA10123456784", "ATTEMPTED_DELIVERY", _RETRY))]),
        _order("2202", "otis@example.com", "Stoneware Pitcher",
               [_package("FULFILLED", "Stoneware Pitcher", inTransitAt=None,
                         service={"serviceName": "Blue Ridge Fulfillment"})]),
        # One customer's three orders: delivered, not shipped, on its way.
        _order("2203", "ada@example.com", "Celadon Bowl",
               [_package("DELIVERED", "Celadon Bowl", **_ups("1Z999AA10123456793", "DELIVERED", "Delivered, front porch"),
                         **_DELIVERED)], **_customer(5501), **_placed("2026-11-10")),
        _order("2204", "ada@example.com", "Salt Fired Vase", [], **_customer(5501), **_placed("2026-12-05")),
        _order("2205", "ada@example.com", "Tea Bowl Pair",
               [_package("IN_TRANSIT", "Tea Bowl Pair", **_ups("1Z999AA10123456808", "IN_TRANSIT", "Departed facility"))],
               **_customer(5501), **_placed("2026-11-20")),
        _order("2208", "fern@example.com", "Bud Vase",
               [_package("DELIVERED", "Bud Vase", **_DELIVERED,
                         **_ups("1Z999AA10123456826", "DELIVERED", "Held at the Hendersonville Access Point for pickup"))]),
        _order("2209", "gus@example.com", "Serving Platter",
               [_package("READY_FOR_PICKUP", "Serving Platter", inTransitAt=None,
                         location={"name": "Heron Creek studio, 12 Clingman Ave"},
                         events={"nodes": [{"status": "READY_FOR_PICKUP", "happenedAt": "2026-12-06T16:00:00Z"}]})],
               fulfillmentOrders={"nodes": [{"status": "CLOSED", "deliveryMethod": {"methodType": "PICK_UP"}}]}),
        # Another customer's two orders: delivered and not shipped.
        _order("2206", "bo@example.com", "Spoon Rest",
               [_package("DELIVERED", "Spoon Rest", **_ups("1Z999AA10123456817", "DELIVERED", "Delivered, mailbox"),
                         **_DELIVERED)], **_customer(5502), **_placed("2026-11-12")),
        _order("2207", "bo@example.com", "Butter Dish", [], **_customer(5502), **_placed("2026-12-04")),
    ],
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "heron-creek-store.json", STORE)


# --- what happens next, after a carrier event -------------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    [
        "what happens now, will they try again?",
        "ok so what now",
        "are they coming back?",
        "is there another attempt?",
        "what do i do now",
        "hmm what happens next",
    ],
)
async def test_what_happens_next_is_the_carriers_own_word(store: Path, question: str) -> None:
    shown, answer = await _turns(store, "2201 wren@example.com", question)
    assert "tried to deliver" in shown.reply
    assert "try again on the next business day" in answer.reply
    assert "I can help with order status" not in answer.reply  # not the off-topic answer
    assert answer.escalation is None


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("what happens now, do they try again?", True),
        ("will the driver come back tomorrow", True),
        ("any chance of a redelivery?", True),
        ("so what should i do now?", True),
        ("do you sell gift cards?", False),  # put to the shop
        ("what's your returns policy", False),
        ("thanks, that's all", False),
    ],
)
def test_what_next_is_read_from_its_frame_not_one_phrase(text: str, asks: bool) -> None:
    assert asks_what_next(text) is asks


async def test_a_question_to_the_shop_after_a_status_stays_off_topic(store: Path) -> None:
    _, answer = await _turns(store, "2201 wren@example.com", "do you sell gift cards?")
    assert "try again on the next business day" not in answer.reply


# --- where to collect it ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question", ["where do i pick it up?", "which access point do I collect it from", "so where's pickup"]
)
async def test_where_to_collect_is_where_the_carrier_holds_it(store: Path, question: str) -> None:
    _, answer = await _turns(store, "2208 fern@example.com", question)
    assert "Held at the Hendersonville Access Point for pickup" in answer.reply
    assert "Nothing has changed" not in answer.reply


@pytest.mark.parametrize(
    "question", ["where do I pick it up", "where do i collect it from?", "which place do i pick up from"]
)
async def test_where_to_collect_a_store_pickup_is_its_pickup_point(store: Path, question: str) -> None:
    shown, answer = await _turns(store, "2209 gus@example.com", question)
    assert "ready for pickup" in shown.reply
    assert "Heron Creek studio, 12 Clingman Ave" in answer.reply
    assert "I can help with order status" not in answer.reply


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("where do I pick it up", True),
        ("which depot do i collect from?", True),
        ("where is it", False),
        ("I don't want to pick it up, where is it?", False),
    ],
)
def test_where_to_collect_needs_a_place_and_a_collecting(text: str, asks: bool) -> None:
    assert asks_where_to_collect(text) is asks


# --- a yes said as the offer's own words -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "yes",
    [
        "ya go ahead and get me the tracking number",
        "ok ask them for the tracking",
        "please get the tracking number for me",
        "yep, I'd like the tracking number",
    ],
)
async def test_asking_for_what_the_offer_would_get_takes_it_up(store: Path, yes: str) -> None:
    offered, answer = await _turns(store, "2202 otis@example.com", yes)
    assert "get the tracking number for you?" in offered.reply
    assert answer.escalation is not None


@pytest.mark.parametrize(
    "other",
    [
        "where is the tracking number?",
        "I don't need the tracking number",
        "no thanks",
        "tracking would be nice to have had",
    ],
)
async def test_a_question_or_a_no_about_the_same_thing_takes_nothing_up(store: Path, other: str) -> None:
    _, answer = await _turns(store, "2202 otis@example.com", other)
    assert answer.escalation is None


def test_the_offer_s_words_are_what_the_team_would_do() -> None:
    words = offer_words("It shipped. Would you like me to ask our support team to get the tracking number for you?")
    assert {"tracking", "number"} <= words
    assert "like" not in words  # the offer's frame, not what it offers
    assert offer_words("Your order shipped on Monday.") == frozenset()
    assert restates_offer("sure, chase the tracking number", words)
    assert restates_offer("the tracking number", words, yes=True)  # "yes, the tracking number"
    assert not restates_offer("the tracking number was on the box", words)  # a statement, no request
    assert not restates_offer("just wondering when the tracking number comes", words)  # asks when
    assert not restates_offer("what's a tracking number?", words)
    assert not restates_offer("don't bother with the tracking number", words)
    assert not restates_offer("go ahead and get me the tracking", frozenset())


# --- a logged-in customer's pick by where an order stands ----------------------------------------------------------
@pytest.mark.parametrize(
    ("pick", "order", "said"),
    [
        ("the one that hasn't come", "#2207", "hasn't shipped"),
        ("the one thats not here yet", "#2207", "hasn't shipped"),
        ("still waiting on one of them", "#2207", "hasn't shipped"),
        ("the delivered one", "#2206", "delivered"),
        ("the one that arrived", "#2206", "delivered"),
        ("the older one", "#2206", "delivered"),
        ("the newer order", "#2207", "hasn't shipped"),
    ],
)
async def test_a_customer_picks_one_of_two_by_its_state(store: Path, pick: str, order: str, said: str) -> None:
    listed, answer = await _turns(store, "what orders have i got", pick, customer_id="5502")
    assert "#2206" in listed.reply and "#2207" in listed.reply
    assert order in answer.reply and said in answer.reply


@pytest.mark.parametrize(
    ("pick", "order"),
    [
        ("whichever hasn't shipped", "#2204"),
        ("the one still being prepared", "#2204"),
        ("the one on its way", "#2205"),
        ("the one that was delivered", "#2203"),
    ],
)
async def test_a_customer_picks_one_of_three_by_its_state(store: Path, pick: str, order: str) -> None:
    _, answer = await _turns(store, "hi what orders do i have", pick, customer_id="5501")
    assert order in answer.reply
    others = {"#2203", "#2204", "#2205"} - {order}
    assert not any(other in answer.reply for other in others)


async def test_a_state_two_orders_share_is_asked_again(store: Path) -> None:
    # Not shipped and on its way: both "not here yet", so Lumen asks which one rather than guess.
    _, answer = await _turns(store, "hi what orders do i have", "the one that's not here yet", customer_id="5501")
    assert "#2204" in answer.reply and "#2205" in answer.reply


@pytest.mark.parametrize(
    ("text", "stages"),
    [
        ("the one that hasn't come", {"unshipped", "partial", "shipped"}),
        ("the one that came", {"delivered"}),
        ("the one you haven't sent", {"unshipped"}),
        ("the cancelled one", {"cancelled"}),
        ("the blue mug", set()),
    ],
)
def test_state_words_turn_round_under_a_negation(text: str, stages: set[str]) -> None:
    assert stages_named(text) == stages


def test_a_pick_is_made_only_when_one_order_fits() -> None:
    listed = (("#1", "unshipped"), ("#2", "shipped"), ("#3", "delivered"))
    assert picked_by_state(listed, "the delivered one") == "#3"
    assert picked_by_state(listed, "the one not here yet") is None  # #1 and #2
    assert picked_by_state(listed, "the one i ordered for my mum") is None
    assert recency_named("the older one") == "oldest" and recency_named("the newer order") == "newest"
