"""What Lumen answers once an order is found, where it once answered less than the data held:

- a carrier's event quoted word for word ("Left with neighbour at #12-07", a unit number as Singapore and others
  write addresses) is the data's own text, not an order number Lumen made up: the grounding guard lets it through,
  and still stops an order number no tool returned;
- a logged-in customer naming one of their orders by its item ("the clay mask order, where did they leave it?") gets
  that order's answer, even when a word of it ("mask") is in another order's item too: the order whose item they name
  more of is the one they mean;
- "what does scheduled mean?" about a scheduled order: what it means, and the day it is scheduled from;
- "so where is it right now?" about a split order with a parcel on its way: that parcel's newest carrier update and
  its place, though an estimate is known;
- "should I ask the courier or you?" after a status: the carrier (and tracking) to check with, and the team if
  nothing changes.

Two stores built here (a Penang soap maker, en-MY, MYR; a Leeds record shop, en-GB, GBP); neither is an eval store.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, ToolCallPart, ToolReturnPart, UserPromptPart

from agent.grounding import evidence, ungrounded
from tests import store_builders as build
from tests.server_helpers import replies, write_store

CUSTOMER = "gid://shopify/Customer/5550123"


def _event(status: str, when: str, message: str, city: str | None = None) -> dict[str, Any]:
    return build.event(status, when, message, city, country="MY")


def _my_order(name: str, email: str, items: list[str], packages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return build.order(
        name,
        email=email,
        zip_code="10450",
        country="MY",
        items=items,
        packages=packages,
        amount="88.00",
        currency="MYR",
        id_prefix="63",
        **extra,
    )


def _delivered(items: list[str], number: str, when: str, note: str) -> dict[str, Any]:
    return build.package(
        items,
        "Pos Malaysia",
        number,
        status="DELIVERED",
        events=[_event("DELIVERED", when, note, "George Town")],
        deliveredAt=when,
    )


_SCHEDULED = {
    "nodes": [
        {
            "status": "SCHEDULED",
            "requestStatus": "UNSUBMITTED",
            "fulfillAt": "2026-12-20T16:00:00Z",
            "fulfillmentHolds": [],
            "deliveryMethod": {"methodType": "SHIPPING"},
        }
    ]
}

# Sabun Pulau, Penang (en-MY, MYR, `SP-` names), today Monday 7 December 2026.
MY_STORE = build.store(
    build.shop("Sabun Pulau", "Asia/Kuala_Lumpur", "MYR", locale="en-MY", prefix="SP-"),
    [
        _my_order(
            "SP-7701",
            "aishah@example.my",
            ["Kaolin Clay Mask"],
            [
                _delivered(
                    ["Kaolin Clay Mask"], "EE120033441MY", "2026-12-03T04:10:00Z", "Left with neighbour at #12-07"
                ),
            ],
            customer={"id": CUSTOMER},
        ),
        _my_order(
            "SP-7702",
            "aishah@example.my",
            ["Charcoal Sheet Mask", "Goat Milk Soap"],
            [
                _delivered(
                    ["Charcoal Sheet Mask", "Goat Milk Soap"],
                    "EE120033455MY",
                    "2026-11-30T06:00:00Z",
                    "Delivered to mailbox",
                ),
            ],
            customer={"id": CUSTOMER},
            ordered_at="2026-11-20T03:00:00Z",
        ),
        _my_order(
            "SP-7703",
            "farid@example.my",
            ["Festive Soap Box"],
            [],
            displayFulfillmentStatus="SCHEDULED",
            fulfillmentOrders=_SCHEDULED,
        ),
    ],
    as_of="2026-12-07T06:00:00Z",
)


def _gb_moving(items: list[str], carrier: str, number: str, eta: str, message: str, city: str) -> dict[str, Any]:
    events = [
        build.event("IN_TRANSIT", "2026-12-03T09:00:00Z", "Parcel collected", "Leeds", country="GB"),
        build.event("IN_TRANSIT", "2026-12-06T07:40:00Z", message, city, country="GB"),
    ]
    return build.package(items, carrier, number, events=events, estimatedDeliveryAt=eta)


# Crate Diggers, Leeds (en-GB, GBP, `CD` names), today Monday 7 December 2026.
GB_STORE = build.store(
    build.shop("Crate Diggers", "Europe/London", "GBP", locale="en-GB", prefix="CD"),
    [
        build.order(
            "CD5501",
            email="ola@example.co.uk",
            zip_code="LS6 2AB",
            country="GB",
            currency="GBP",
            items=["Turntable Mat", "Vinyl Brush"],
            packages=[
                build.package(
                    ["Turntable Mat"],
                    "Royal Mail",
                    "TT998877665GB",
                    status="DELIVERED",
                    events=[build.event("DELIVERED", "2026-12-04T11:00:00Z", "Delivered", "Leeds", country="GB")],
                    deliveredAt="2026-12-04T11:00:00Z",
                ),
                _gb_moving(
                    ["Vinyl Brush"], "Evri", "H00ABC9988776655", "2026-12-09T18:00:00Z", "At the Evri hub", "Wakefield"
                ),
            ],
        ),
        build.order(
            "CD5502",
            email="ola@example.co.uk",
            zip_code="LS6 2AB",
            country="GB",
            currency="GBP",
            items=["Slipmat Pack"],
            packages=[
                _gb_moving(
                    ["Slipmat Pack"],
                    "DPD",
                    "15501234567890",
                    "2026-12-08T18:00:00Z",
                    "Arrived at the depot",
                    "Normanton",
                ),
            ],
        ),
    ],
    as_of="2026-12-07T10:00:00Z",
)


@pytest.fixture
def my_store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "my.json", MY_STORE)


@pytest.fixture
def gb_store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "gb.json", GB_STORE)


# --- a unit number quoted from the carrier ---------------------------------------------------------------------------
def _verified_with_event(note: str, *, echoed: str | None = None) -> list[ModelMessage]:
    found = {"status": "verified", "order_number": "SP-7701"}
    packages = {"status": "ok", "order_number": "SP-7701", "packages": [{"latest_event": {"message": note}}]}
    returns = [ToolReturnPart("find_order", found), ToolReturnPart("list_fulfillments", packages)]
    if echoed is not None:
        # A tool that only echoed an unproved number back: nothing in it is the data's.
        returns.append(ToolReturnPart("list_fulfillments", {"status": "not_verified", "order_number": echoed}))
    return [
        ModelRequest(parts=[UserPromptPart("where did they leave it? 7701 aishah@example.my")]),
        ModelResponse(parts=[ToolCallPart("find_order", {"order_number": "7701"})]),
        ModelRequest(parts=returns),
    ]


@pytest.mark.parametrize(
    ("note", "reply"),
    [
        ("Left with neighbour at #12-07", 'The carrier\'s note says "Left with neighbour at #12-07".'),
        ("Delivered to unit #03-118, Blk 45", "It was delivered to unit #03-118, Blk 45, says the carrier."),
        ("Handed to concierge, suite #1402", "The carrier's update: handed to concierge, suite #1402."),
        ("Dejado con el vecino del piso #4B2", 'El transportista dice: "Dejado con el vecino del piso #4B2".'),
    ],
)
def test_a_unit_number_quoted_from_a_carriers_event_is_grounded(note: str, reply: str) -> None:
    source = evidence(_verified_with_event(note))
    assert ungrounded(reply, source, today=date(2026, 12, 7)) == []


def test_an_order_number_no_tool_returned_is_still_caught_beside_a_quoted_unit() -> None:
    source = evidence(_verified_with_event("Left with neighbour at #12-07", echoed="#7790"))
    quoted = 'The note says "Left with neighbour at #12-07".'
    assert ungrounded(f"{quoted} Your order #7790 has shipped too.", source) == ["order number #7790"]
    assert ungrounded(f"{quoted} Order #12-08 is on its way.", source) == ["order number #12-08"]
    # The shopper typing a "#" proves nothing either.
    typed = evidence([ModelRequest(parts=[UserPromptPart("is it at #12-07?")])])
    assert ungrounded("It was left at #12-07.", typed) == ["order number #12-07"]


async def test_a_delivery_note_with_a_unit_number_reaches_the_shopper(my_store: Path) -> None:
    for message in ["where precisely was it left? 7701 aishah@example.my", "SP-7701 aishah@example.my dah sampai?"]:
        [reply] = await replies(my_store, message)
        assert "#12-07" in reply and "EE120033441MY" in reply, reply


# --- an order named by its item, among a logged-in customer's orders --------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "the clay mask order, where was it dropped?",
        "where did the kaolin mask end up",
        "hi, my clay mask, where is it ah?",
        "the kaolin clay one - where was it left?",
    ],
)
async def test_the_order_whose_item_is_named_most_is_the_one_meant(my_store: Path, message: str) -> None:
    [reply] = await replies(my_store, message, customer_id=CUSTOMER)
    assert "EE120033441MY" in reply and "#12-07" in reply, reply
    assert "EE120033455MY" not in reply


async def test_an_item_word_both_orders_share_still_asks_which(my_store: Path) -> None:
    [reply] = await replies(my_store, "where's my mask?", customer_id=CUSTOMER)
    assert "SP-7701" in reply and "SP-7702" in reply and "EE120033441MY" not in reply


# --- what "scheduled" means, and from when ---------------------------------------------------------------------------
@pytest.mark.parametrize("question", ["scheduled means what", "what does scheduled mean?", "what's 'scheduled'?"])
async def test_what_scheduled_means_comes_with_its_date(my_store: Path, question: str) -> None:
    _, meaning = await replies(my_store, "7703 farid@example.my", question)
    assert "Scheduled" in meaning and "21 December" in meaning, meaning


async def test_another_status_meaning_names_no_date(gb_store: Path) -> None:
    _, meaning = await replies(gb_store, "CD5502 ola@example.co.uk", "what does in transit mean")
    assert "In transit" in meaning and "scheduled" not in meaning.lower()


# --- where a parcel of a split order actually is -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "got the shipping email, so where is it right now? CD5501 ola@example.co.uk",
        "CD5501 ola@example.co.uk where's the brush right now",
        "ola@example.co.uk 5501 - whereabouts is it at the moment?",
    ],
)
async def test_where_a_split_parcel_actually_is_says_its_last_scan(gb_store: Path, message: str) -> None:
    [reply] = await replies(gb_store, message)
    assert "Wakefield" in reply and "at the evri hub" in reply.lower(), reply
    assert "9 December" in reply  # the estimate stays


async def test_when_a_split_order_comes_keeps_its_short_lines(gb_store: Path) -> None:
    [reply] = await replies(gb_store, "when will CD5501 arrive? ola@example.co.uk")
    assert "Wakefield" not in reply and "9 December" in reply


# --- whom to ask: the carrier or the shop ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    [
        "should I ask DPD or you?",
        "do I contact the courier or you guys about it?",
        "is it better to chase dpd or the shop?",
        "who should I ask about this, DPD or you?",
    ],
)
async def test_whom_to_ask_names_the_carrier_and_the_team(gb_store: Path, question: str) -> None:
    _, reply = await replies(gb_store, "CD5502 ola@example.co.uk", question)
    assert "DPD" in reply and "15501234567890" in reply, reply
    assert "support team" in reply, reply
