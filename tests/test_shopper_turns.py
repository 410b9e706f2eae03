"""Shoppers' turns the playbook once misread: a yes that goes on to ask for the team, a carrier's return to sender
quoted by the shopper, a complaint the reader only guessed, "I don't have it" on a delivered order, an exchange,
the Confirmed state, and a hand-off made before any order was proved.

Conversations run on the demo store (and copies of it with one order changed); each test checks Lumen's tool calls
and the facts a reply must or must never carry, not one phrasing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.playbook import understand
from tests.test_understanding import DEMO, MAYA, offers_the_team, talk

DEVON = "devon.wright@example.com"  # #1061: FedEx, delayed by weather, not delivered


def _demo_with(tmp_path: Path, name: str, event: dict[str, str], display: str) -> Path:
    """The demo store with one more carrier event on order `name`'s first fulfillment."""
    store = json.loads(DEMO.read_text())
    order = next(o for o in store["orders"] if o["name"] == name)
    fulfillment = order["fulfillments"][0]
    fulfillment["displayStatus"] = display
    fulfillment["events"]["nodes"].insert(0, event)
    path = tmp_path / "store.json"
    path.write_text(json.dumps(store))
    return path


async def test_a_yes_that_asks_for_the_team_takes_a_soft_offer() -> None:
    # #1061's delay answer ends with a soft offer ("if you'd like, I can ask our support team...").
    talked = await talk(f"1061 {DEVON} any update?", "yep, ask the team to chase it")
    assert "support team" in talked.replies[0] and not talked.replies[0].rstrip().endswith("?")
    assert talked.tools(1) == ["escalate"]
    assert talked.escalations()[0]["order_number"] == "#1061"


@pytest.mark.parametrize("after", ["yes it turned up, cheers", "ok cool", "yep got it thanks"])
async def test_a_yes_that_says_something_else_takes_no_soft_offer(after: str) -> None:
    talked = await talk(f"1061 {DEVON} any update?", after)
    assert "escalate" not in talked.all_tools()


async def test_a_carriers_return_to_sender_is_said_plainly_not_taken_as_a_return_request(tmp_path: Path) -> None:
    store = _demo_with(
        tmp_path,
        "#1061",
        {
            "status": "FAILURE",
            "happenedAt": "2026-02-27T09:00:00Z",
            "message": "Returned to sender: no such street",
            "city": "Buffalo",
            "province": "New York",
            "country": "United States",
        },
        "FAILURE",
    )
    talked = await talk(f"#1061 {DEVON} the fedex site says return to sender, what?", store=store)
    reply = talked.replies[0]
    assert "returned to the sender" in reply and "FedEx" in reply
    assert "can't start a return" not in reply
    assert "support team" in reply


async def test_a_complaint_only_guessed_answers_the_order_instead() -> None:
    # A friend asking after a parcel on its way, in words the reader cannot place: no apology for a wrong item.
    intent = understand.detect_intent("a friend sent me something from your shop, i dont know their email")
    assert not intent.has("wrong_item", "damaged_item")
    talked = await talk("a friend sent me something from your shop, order 1061, i dont know their email", "14201")
    assert "wrong item" not in talked.replies[-1] and "damaged" not in talked.replies[-1]
    assert "FedEx" in talked.replies[-1]


@pytest.mark.parametrize("words", ["we never got the parcel", "still don't have it", "i havent received it"])
async def test_not_having_a_delivered_parcel_is_delivered_not_received(words: str) -> None:
    talked = await talk(f"#1031 {MAYA} {words}")
    reply = talked.replies[0]
    assert "UPS" in reply and "physically" in reply  # the delivery facts, and what Lumen can't confirm
    assert offers_the_team(reply)


@pytest.mark.parametrize(
    ("message", "exchange"),
    [
        ("could i exchange it for a bigger size", True),
        ("wanna switch this for the blue one", True),
        ("need a different size please", True),
        ("i don't want to swap it for anything, just tell me where it is", False),
        ("i don't have my order number", False),
    ],
)
def test_an_exchange_is_read_as_one(message: str, exchange: bool) -> None:
    intent = understand.detect_intent(message)
    assert intent.has("replacement") is exchange
    assert not intent.has("delivered_not_received")


async def test_an_exchange_is_offered_to_the_team_not_answered_with_the_status() -> None:
    talked = await talk(f"#1031 {MAYA} can I trade it for a medium instead?", "yes please")
    reply = talked.replies[0]
    assert "exchange" in reply and offers_the_team(reply)
    assert talked.tools(1) == ["escalate"]


async def test_confirmed_is_not_said_as_handed_over(tmp_path: Path) -> None:
    store = _demo_with(
        tmp_path,
        "#1061",
        {
            "status": "CONFIRMED",
            "happenedAt": "2026-02-28T09:00:00Z",
            "message": "Shipment information sent to FedEx",
            "city": "",
            "province": "",
            "country": "",
        },
        "CONFIRMED",
    )
    talked = await talk(f"#1061 {DEVON}", "what does confirmed mean?", store=store)
    for reply in talked.replies:
        assert "handed over" not in reply
    assert "scanned" in talked.replies[1]


async def test_a_hand_off_before_any_proof_keeps_the_order_number_typed() -> None:
    talked = await talk("order 1061 is a mess, get me a human", DEVON)
    escalations = talked.escalations()
    assert escalations
    assert "1061" in escalations[-1]["summary"] and "verified" in escalations[-1]["summary"]
