"""What shoppers say just after Lumen showed an order's status, on an invented shop (Lantern Row Lighting, Duluth,
en-US; no eval store), each kind in several wordings of this file's own:

- a fault with an item that came ("it came but doesn't turn on"): said as a fault with the team offered, never the
  delivery status again, never said back as if the tracking showed it delivered;
- something of the order Lumen can't do: a receipt or invoice, its packing, collecting it themselves; items added or
  words for the carrier (`order_change.py`, `service_change.py`) heard after a status too ("can they leave it with my
  neighbour?" takes nothing back);
- the shopper disputing the carrier's event ("i was home all day though"): what the carrier recorded, not who is
  right, and the team offered;
- a broken tracking link: the carrier and number from the data, and the team;
- "is it coming today?": out for delivery with the carrier, the carrier's estimate, or no promise of a day;
- "what does your system say about it?": the status;
- what the data never holds (the weather, the driver, a signature, where it is left): said so;
- money and a street's kind typed in a shop's own letters ("120 us dollars" beside '.US' names, "22 beach st 6160"
  beside 'ST.' names): no order name.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.dates_said import Deadline, deadline_named
from agent.playbook.after_status import fault_named, records_asked, tracking_broken
from agent.playbook.cannot_do import cannot_do_asked, disputes_event
from agent.playbook.service_change import service_change_asked
from agent.playbook.understand import extract_details, offer_answer, order_numbers
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store


def _package(status: str, item: str, carrier: str, number: str, message: str, **extra: Any) -> dict[str, Any]:
    happened = build.event(status, "2026-12-07T13:10:00Z", message, "Superior")
    return build.package(item, carrier, number, status=status, events=[happened], **extra)


def _order(number: str, email: str, item: str, packages: list[dict[str, Any]]) -> dict[str, Any]:
    return build.order(f"#{number}", email=email, zip_code="55802", items=item, packages=packages, amount="89.00")


MOVING = "1Z999AA10198765432"
ATTEMPT = "Customer not available. Delivery will be reattempted next business day"
EXCEPTION = "Delivery exception: address could not be accessed"
OUT = "9400111899223344556677"
STORE: dict[str, Any] = {
    "asOf": "2026-12-07T15:00:00Z",
    "shop": {"name": "Lantern Row Lighting", "ianaTimezone": "America/Chicago", "currencyCode": "USD",
             "locale": "en-US", "orderNumberFormatPrefix": "#", "orderNumberFormatSuffix": ""},
    "orders": [
        _order("3101", "ivy@example.com", "Brass Desk Lamp",
               [_package("IN_TRANSIT", "Brass Desk Lamp", "UPS", MOVING, "Arrived at facility")]),
        _order("3102", "jo@example.com", "Paper Pendant Shade",
               [_package("ATTEMPTED_DELIVERY", "Paper Pendant Shade", "FedEx", "771234567890", ATTEMPT)]),
        _order("3103", "kit@example.com", "Rechargeable Lantern",
               [_package("DELIVERED", "Rechargeable Lantern", "UPS", "1Z999AA10198765441", "Delivered, side door",
                         deliveredAt="2026-12-05T18:00:00Z")]),
        _order("3104", "lu@example.com", "Linen Floor Lamp",
               [_package("OUT_FOR_DELIVERY", "Linen Floor Lamp", "USPS", OUT, "Out for delivery")]),
        _order("3105", "mo@example.com", "Copper Wall Sconce",
               [_package("IN_TRANSIT", "Copper Wall Sconce", "UPS", "1Z999AA10198765450", "Departed facility",
                         estimatedDeliveryAt="2026-12-09T20:00:00Z")]),
        _order("3106", "ned@example.com", "Glass Globe Shade",
               [_package("FAILURE", "Glass Globe Shade", "FedEx", "771234567999", EXCEPTION)]),
    ],
}  # fmt: skip
OFF_TOPIC = "I can help with order status"
PROOF = {
    "3101": "3101 ivy@example.com",
    "3102": "3102 jo@example.com",
    "3103": "3103 kit@example.com",
    "3104": "3104 lu@example.com",
    "3105": "3105 mo@example.com",
    "3106": "3106 ned@example.com",
}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "lantern-row-store.json", STORE)


async def _after_status(store: Path, order: str, *messages: str) -> list[str]:
    """The replies to `messages` said just after the order's status was shown."""
    shown, *said = await _turns(store, PROOF[order], *messages)
    assert f"#{order}" in shown.reply
    return [turn.reply for turn in said]


def _offers_the_team(reply: str) -> bool:
    return "support team" in reply and reply.rstrip().endswith("?")


# --- a fault with what came -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "complaint",
    [
        "it came but doesn't turn on",
        "arrived fine but won't charge",
        "it got here today and won't switch on",
        "it's here now but the lamp is dead",
        "came yesterday, the bulb doesn't even light up",
    ],
)
async def test_a_fault_after_a_parcel_on_its_way_was_shown_is_the_teams(store: Path, complaint: str) -> None:
    [answer] = await _after_status(store, "3101", complaint)
    assert MOVING not in answer and "Arrived at facility" not in answer  # not the status again
    assert "shows as delivered yet" in answer and "isn't working" in answer
    assert "has been delivered" not in answer
    assert _offers_the_team(answer)


@pytest.mark.parametrize(
    "complaint", ["it came but doesn't turn on", "arrived fine but won't charge", "got it, the lantern is dead"]
)
async def test_a_fault_with_a_delivered_order_is_said_as_a_fault(store: Path, complaint: str) -> None:
    [answer] = await _after_status(store, "3103", complaint)
    assert answer.startswith("I'm sorry something in order #3103") and "isn't working" in answer
    assert "Delivered, side door" not in answer and "arrived damaged" not in answer
    assert _offers_the_team(answer)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("arrived fine but won't charge", True),
        ("the screen is dead", True),
        ("it doesn't even turn on", True),
        ("the tracking link doesn't work", False),
        ("that day doesn't work for me", False),
        ("where is it now?", False),
    ],
)
def test_a_fault_is_read_from_its_words(text: str, fault: bool) -> None:
    assert fault_named(text) is fault


# --- something of the order Lumen can't do ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("I just wanted the receipt", "can't send receipts or invoices"),
        ("can you send me the invoice", "can't send receipts or invoices"),
        ("where do I get a receipt for this?", "can't send receipts or invoices"),
        ("could I have an invoice for work", "can't send receipts or invoices"),
        ("it's a gift, can you make sure there's no price in the box?", "packed"),
        ("could you add a gift note saying happy birthday", "packed"),
        ("is there a gift receipt in it?", "packed"),
        ("can I pick it up myself?", "collect order #3101 yourself"),
        ("could I collect it from the depot instead", "collect order #3101 yourself"),
    ],
)
async def test_what_lumen_cant_do_is_said_and_the_team_offered(store: Path, question: str, says: str) -> None:
    [answer] = await _after_status(store, "3101", question)
    assert says in answer
    assert MOVING not in answer  # not the status again
    assert OFF_TOPIC not in answer and _offers_the_team(answer)


async def test_a_receipt_points_to_the_confirmation_email(store: Path) -> None:
    [answer] = await _after_status(store, "3103", "I just wanted the receipt")
    assert "confirmation email" in answer and "#3103" in answer


async def test_the_team_offered_for_a_receipt_is_handed_the_request(store: Path) -> None:
    *_, handed = await _turns(store, PROOF["3101"], "I just wanted the receipt", "yes please")
    assert handed.escalation is not None


async def test_a_receipt_asked_with_the_order_gets_the_status_first(store: Path) -> None:
    [answer] = [t.reply for t in await _turns(store, "can you send me the invoice for 3101? ivy@example.com")]
    assert MOVING in answer and "can't send receipts or invoices" in answer


@pytest.mark.parametrize(
    ("question", "says"),
    [
        ("could I still pop in a second lamp with it", "can't add items"),
        ("is it too late to include one more shade in the same box?", "can't add items"),
        ("can they leave it with my neighbour at number 9?", "delivery instructions"),
        ("please leave it at the side gate", "delivery instructions"),
    ],
)
async def test_a_change_after_a_status_is_main_changes_answer(store: Path, question: str, says: str) -> None:
    [answer] = await _after_status(store, "3101", question)
    assert says in answer and _offers_the_team(answer)
    assert "Thanks for stopping by" not in answer  # "leave it" with a place takes nothing back


@pytest.mark.parametrize(
    "text", ["I don't need a receipt", "thanks, that's all", "where is it now?", "where can I pick it up?"]
)
def test_nothing_is_asked_without_a_document_packing_or_collecting(text: str) -> None:
    assert cannot_do_asked(text) is None or text.startswith("where can")


def test_words_of_leaving_it_somewhere_take_nothing_back() -> None:
    assert offer_answer("leave it") == "no"
    assert offer_answer("nah leave it") == "no"
    assert offer_answer("did they leave it with someone?") is None
    assert offer_answer("can they leave it at my neighbours") is None


# --- the carrier's event disputed -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "dispute",
    [
        "i was home all day though",
        "nobody even knocked",
        "we were in the whole time, they never came to the door",
        "that's not true, I was in",
        "my neighbour saw the van drive past",
    ],
)
@pytest.mark.parametrize(("order", "event"), [("3102", ATTEMPT), ("3106", EXCEPTION)])
async def test_a_disputed_attempt_is_what_the_carrier_recorded(
    store: Path, dispute: str, order: str, event: str
) -> None:
    turns = await _turns(store, PROOF[order], dispute)
    answer = turns[-1]
    assert event in answer.reply and "only see what the carrier recorded" in answer.reply
    assert "FedEx" in answer.reply and OFF_TOPIC not in answer.reply and _offers_the_team(answer.reply)
    assert answer.escalation is None  # the team is offered, not sent for


async def test_a_delivered_order_disputed_is_not_received(store: Path) -> None:
    [answer] = await _after_status(store, "3103", "i was home all day though")
    assert "delivered" in answer and "can't confirm" in answer and _offers_the_team(answer)


@pytest.mark.parametrize(("text", "disputes"), [("i was home all day", True), ("where is it", False)])
def test_a_dispute_is_read_from_its_words(text: str, disputes: bool) -> None:
    assert disputes_event(text) is disputes


# --- a broken tracking link -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("order", "complaint", "number", "carrier"),
    [
        ("3101", "the tracking link just spins", MOVING, "UPS"),
        ("3101", "tracking link gives me an error", MOVING, "UPS"),
        ("3104", "the tracking page won't open", OUT, "USPS"),
        ("3104", "your link is broken", OUT, "USPS"),
    ],
)
async def test_a_tracking_link_that_fails_gives_the_number_and_the_team(
    store: Path, order: str, complaint: str, number: str, carrier: str
) -> None:
    [answer] = await _after_status(store, order, complaint)
    assert number in answer and carrier in answer and "check it with the carrier" in answer
    assert _offers_the_team(answer)


def test_a_broken_link_is_read_from_its_words() -> None:
    assert tracking_broken("the tracking number says not found")
    assert not tracking_broken("where is the tracking number?")
    assert not tracking_broken("the lamp is broken")


# --- "is it coming today?" --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question", ["is it coming today?", "will it be here today", "will I get it today", "will it be delivered today?"]
)
async def test_today_asked_of_a_parcel_out_for_delivery_is_what_the_carrier_says(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "3104", question)
    assert "out for delivery with USPS" in answer
    assert "can't promise delivery by" not in answer and "Great!" not in answer


async def test_today_asked_with_the_order_is_the_same(store: Path) -> None:
    [answer] = [t.reply for t in await _turns(store, "is 3104 coming today? lu@example.com")]
    assert "out for delivery with USPS" in answer


@pytest.mark.parametrize("question", ["is it coming today?", "will I get it today"])
async def test_today_asked_of_a_parcel_with_an_estimate_is_the_estimate(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "3105", question)
    assert "estimates delivery on Wednesday, December 9" in answer


@pytest.mark.parametrize("question", ["is it coming today?", "will it be here tomorrow?"])
async def test_today_asked_without_an_estimate_promises_no_day(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "3101", question)
    assert "no estimated delivery date" in answer and "can't promise" in answer


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("is it coming today?", date(2026, 12, 7)),
        ("will I get it tomorrow", date(2026, 12, 8)),
        ("will it be here tonight", date(2026, 12, 7)),
        ("it was meant to come today", None),
        ("I ordered it today", None),
        ("got it today but it's broken", None),
    ],
)
def test_a_day_asked_of_the_arrival_is_read_as_the_day_needed(text: str, day: date | None) -> None:
    expected = Deadline(day, strict=False) if day else None
    assert deadline_named(text, date(2026, 12, 7)) == expected


# --- "what does your system say?" -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question", ["what does your system say about it", "what does your system show", "what's it showing on your end?"]
)
async def test_what_the_system_says_is_the_status(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "3104", question)
    assert OFF_TOPIC not in answer
    assert "Nothing has changed since my last message" in answer  # the status just given, said as still the latest


async def test_what_the_system_says_asked_first_is_the_status(store: Path) -> None:
    replies = [t.reply for t in await _turns(store, "what does your system say about my order?", PROOF["3104"])]
    assert "out for delivery" in replies[-1]


def test_the_system_asked_is_read_from_its_words() -> None:
    assert records_asked("what does your system say about it")
    assert not records_asked("does your shop sell bulbs?")


# --- what the data never holds ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("order", "question", "says"),
    [
        ("3101", "is the snow going to hold it up?", "how the weather affects"),
        ("3101", "will the storm delay it", "how the weather affects"),
        ("3104", "what's the driver's name?", "who is delivering it"),
        ("3104", "which van is it coming in?", "who is delivering it"),
        ("3101", "will I need to sign for it?", "ask for a signature"),
        ("3104", "what if I'm not home, will they leave it outside?", "where the carrier will leave it"),
    ],
)
async def test_what_the_data_never_holds_is_said_plainly(store: Path, order: str, question: str, says: str) -> None:
    [answer] = await _after_status(store, order, question)
    assert says in answer and OFF_TOPIC not in answer
    assert "held" not in answer and "return" not in answer  # no hold asked ("hold it up"), no return ("sign")


def test_holding_it_up_is_a_delay_not_a_hold() -> None:
    assert service_change_asked("is the snow going to hold it up?") is None
    assert service_change_asked("can you hold it for me till friday") == "hold_order"


# --- questions the reading already got right stay right ---------------------------------------------------------
async def test_the_courier_why_and_a_gift_day_stay_answered(store: Path) -> None:
    courier, why = await _after_status(store, "3101", "who is the courier", "why is it taking so long")
    assert "UPS" in courier and MOVING in courier
    assert "Arrived at facility" in why and "support team" in why
    [gift] = await _after_status(store, "3105", "it's for a birthday on wednesday, will it make it?")
    assert "estimates delivery on Wednesday, December 9" in gift and "can't promise" in gift
    [shop] = await _after_status(store, "3101", "do you have a shop I can visit?")
    assert OFF_TOPIC in shop


# --- money and a street's kind in a shop's own letters ----------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "found"),
    [
        ("it cost 120 us dollars", []),
        ("i paid 120 us", []),
        ("$120 us for a lamp and it's late", []),
        ("a refund of 120 us dollars for 4410.US", ["#4410.US"]),
        ("where is 4410 us", ["#4410.US"]),
        ("4410.us please", ["#4410.US"]),
    ],
)
def test_money_in_a_suffix_shops_letters_is_no_order(message: str, found: list[str]) -> None:
    fmt = NameFormat("#", ".US")
    assert order_numbers(message, None, fmt) == found
    assert extract_details(message, None, "US", fmt).order_number == (found[-1] if found else None)


@pytest.mark.parametrize(
    ("message", "name"),
    [
        ("my address is 22 beach st 6160", None),
        ("it should go to 4/17 Old Mill St. 2000", None),
        ("deliver to 9a harbour view st 3000", None),
        ("where is ST.1234", "ST.1234"),
        ("st.1234 please", "ST.1234"),
        ("order ST 1234", "ST.1234"),
        ("st 1234", "ST.1234"),
    ],
)
def test_a_streets_kind_is_no_prefix(message: str, name: str | None) -> None:
    details = extract_details(message, None, "AU", NameFormat("ST.", ""))
    assert (details.order_number if details.order_number and details.order_number.startswith("ST") else None) == name
