"""Kinds of shopper message an invented US shop meets (Kestrel Lantern Co., Lincoln, Nebraska; en-US; order names
with a letter prefix and a letter suffix and no separator, "KL4401NE"; no eval store), in several wordings:

- the reply that asks for the order number gives the shop's own example ("looks like KL1234NE"): an example of the
  format, not an order nor a tracking number, so the grounding guard lets it through whatever the shop's letters;
- "order 4402 - I can't open that inbox": a spaced dash between the number and a sentence is punctuation, so the
  number is 4402, never "4402-I";
- a word for the carrier passed through Lumen ("can you ask the driver to leave it behind the shed?", "let UPS know
  to ring the bell"): Lumen can't, says so and offers the team, never "nothing has changed".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, UserPromptPart

from agent.grounding import evidence, ungrounded
from agent.playbook.compose import order_example
from agent.playbook.service_change import service_change_asked
from agent.playbook.understand import extract_details
from agent.service import ChatTurn, Lumen
from config import Settings
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import write_store

EMAIL = "wren.ostrander@example.com"
ZIP = "68508"
TODAY = "2026-12-09T16:00:00Z"  # Wednesday, December 9, 2026, 10:00 in Lincoln


def _package(status: str, number: str, item: str, event: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return (
        build.package(
            item,
            "UPS",
            number,
            status=status,
            events=[event],
            created_at="2026-12-03T15:00:00Z",
            in_transit_at="2026-12-03T22:00:00Z",
        )
        | extra
    )


def _order(name: str, item: str, package: dict[str, Any]) -> dict[str, Any]:
    return build.order(
        name,
        email=EMAIL,
        zip_code=ZIP,
        items=item,
        packages=[package],
        amount="86.00",
        ordered_at="2026-12-01T15:00:00Z",
        id=f"gid://shopify/Order/77{name[2:6]}",
    )


STORE: dict[str, Any] = {
    "asOf": TODAY,
    "shop": {"name": "Kestrel Lantern Co.", "ianaTimezone": "America/Chicago", "currencyCode": "USD",
             "locale": "en-US", "orderNumberFormatPrefix": "KL", "orderNumberFormatSuffix": "NE"},
    "orders": [
        # On its way with UPS, an estimate on Friday.
        _order("KL4401NE", "Brass Storm Lantern", _package(
            "IN_TRANSIT", "1Z44010KL0000001", "Brass Storm Lantern",
            {"status": "IN_TRANSIT", "happenedAt": "2026-12-08T09:00:00Z", "message": "Arrived at facility",
             "city": "Omaha"},
            estimatedDeliveryAt="2026-12-11T22:00:00Z")),
        # Delivered, left at the back door.
        _order("KL4402NE", "Copper Wick Trimmer", _package(
            "DELIVERED", "1Z44020KL0000002", "Copper Wick Trimmer",
            {"status": "DELIVERED", "happenedAt": "2026-12-07T20:30:00Z", "message": "Delivered - Left at back door",
             "city": "Lincoln"},
            deliveredAt="2026-12-07T20:30:00Z")),
    ],
}  # fmt: skip
FORMAT = NameFormat("KL", "NE")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "kestrel-store.json", STORE)


async def _turns(store: Path, *messages: str) -> list[ChatTurn]:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=store)
    turns: list[ChatTurn] = []
    try:
        for message in messages:
            turns.append(await lumen.chat(message, turns[-1].session_id if turns else None))
        return turns
    finally:
        await lumen.close()


# --- the shop's own example order name is no invented order -----------------------------------------------------


@pytest.mark.parametrize(
    "name_format",
    [NameFormat("KL", "NE"), NameFormat("SHOP", ""), NameFormat("", "WEST"), NameFormat("QRS", "-IE")],
)
def test_the_shops_example_name_is_backed_however_it_is_written(name_format: NameFormat) -> None:
    # Eight letters and digits or more read as a tracking number: only the example the instructions teach backs it.
    example = order_example(name_format)
    messages: list[ModelMessage] = [ModelRequest(parts=[UserPromptPart("where's my order")])]
    reply = f"What's your order number? It's in your order confirmation email and looks like {example}."
    assert ungrounded(reply, evidence(messages, example=example)) == []
    assert ungrounded(f"Your order {example} has shipped.", evidence(messages)) != []  # no example, no backing


@pytest.mark.parametrize(
    "opening",
    ["hey there, where's my package", "tracking?", "has my lantern shipped yet", "any news on my order pls"],
)
async def test_asking_for_the_number_shows_the_shops_example(store: Path, opening: str) -> None:
    turn = (await _turns(store, opening))[0]
    assert "order number" in turn.reply and "KL1234NE" in turn.reply, turn.reply
    assert "support team" not in turn.reply


@pytest.mark.parametrize(
    "opening",
    [f"hello, this is {EMAIL}, where's my lantern?", f"{EMAIL} - has it shipped?", f"it's {EMAIL} any update"],
)
async def test_an_email_first_gets_the_number_asked_with_the_example(store: Path, opening: str) -> None:
    turn = (await _turns(store, opening))[0]
    assert "order number" in turn.reply and "KL1234NE" in turn.reply, turn.reply
    assert "support team" not in turn.reply


async def test_a_greeting_then_a_question_asks_for_the_number(store: Path) -> None:
    turns = await _turns(store, "hiya", "where's my stuff", "KL4401NE", ZIP)
    assert "KL1234NE" in turns[1].reply and "support team" not in turns[1].reply
    assert "December 11" in turns[3].reply


# --- a spaced dash, then a sentence: punctuation, not a name's suffix ----------------------------------------------


@pytest.mark.parametrize(
    ("message", "number"),
    [
        ("order 4402 - I can't open that inbox anymore", "4402"),
        ("4402 - I lost the password to that email", "4402"),
        ("#4402 - A friend ordered it for me", "4402"),
        ("it's 4402 - I think it came monday", "4402"),
        ("KL 4402 - I don't use that address now", "KL-4402"),
    ],
)
@pytest.mark.parametrize("name_format", [FORMAT, None, NameFormat("#", "")])
def test_a_sentence_after_a_spaced_dash_is_no_suffix(message: str, number: str, name_format: NameFormat | None) -> None:
    if number.startswith("KL") and name_format is not None and name_format != FORMAT:
        number = "4402"  # letters no part of this shop's names
    assert extract_details(message, "order_number", "US", name_format).order_number == number


@pytest.mark.parametrize(
    ("message", "number"),
    [("2001 - A", "2001-A"), ("2001-A please", "2001-A"), ("2001 - B 97701", "2001-B"), ("2001-B", "2001-B")],
)
def test_a_letter_suffix_standing_as_a_name_still_is_one(message: str, number: str) -> None:
    assert extract_details(message, "order_number", "US", None).order_number == number


@pytest.mark.parametrize(
    "opening",
    ["order 4402 - I can't get into that email anymore", "4402 - I lost access to my old email account"],
)
async def test_no_email_then_the_zip_finds_the_order(store: Path, opening: str) -> None:
    turns = await _turns(store, opening, ZIP)
    assert "4402-I" not in turns[0].reply and "4402-I" not in turns[1].reply
    assert "KL4402NE" in turns[1].reply and "back door" in turns[1].reply, turns[1].reply


# --- a word for the carrier: Lumen can't pass it on, the team can -------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "can you ask the driver to leave it behind the shed?",
        "please let UPS know to ring the bell",
        "could u have the delivery guy leave it with the lady next door",
        "tell the courier not to leave it on the steps",
        "is it possible for it to be left in the garage?",
        "could you add delivery instructions for the parcel",
        "any chance the UPS man could put it inside the screen door",
    ],
)
def test_a_word_for_the_carrier_is_heard(message: str) -> None:
    assert service_change_asked(message) == "delivery_instruction"


@pytest.mark.parametrize(
    "message",
    [
        "could you ask the carrier where it is?",
        "did the driver leave it by the shed?",
        "ups left it at the back door",
        "will they leave it on the porch if nobody's home?",
        "should I call the courier myself?",
        "can you tell me when the driver gets here",
        "can you put it on hold for me",
        "I already told the driver to use the side gate",
        "where is my order",
    ],
)
def test_a_question_about_the_carrier_or_a_past_word_asks_no_message(message: str) -> None:
    assert service_change_asked(message) in (None, "hold_order")


@pytest.mark.parametrize(
    "follow_up",
    [
        "can you tell the driver to leave it behind the shed?",
        "please have UPS knock loudly, the bell is broken",
        "could the parcel be left with my neighbor at 14?",
    ],
)
async def test_a_word_for_the_carrier_after_the_status_gets_the_team(store: Path, follow_up: str) -> None:
    turns = await _turns(store, f"KL4401NE {ZIP}", follow_up)
    reply = turns[1].reply
    assert "Nothing has changed" not in reply
    assert "support team" in reply and reply.rstrip().endswith("?"), reply
    assert turns[1].escalation is None


@pytest.mark.parametrize(
    "opening",
    ["hello, could you ask the courier to leave it behind the shed?", "can you overnight my order?"],
)
async def test_a_change_asked_before_the_order_is_proved_is_answered_once_it_is(store: Path, opening: str) -> None:
    turns = await _turns(store, opening, "KL4401NE", ZIP)
    reply = turns[2].reply
    assert "December 11" in reply and "I can't" in reply, reply
    assert "support team" in reply and reply.rstrip().endswith("?")
    assert turns[2].escalation is None
