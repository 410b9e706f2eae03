"""What shoppers say just after Lumen showed an order's status that the playbook misread, on an invented shop
(Thimble Lane Haberdashery, Norwich, en-GB; no eval store), each kind in several wordings of this file's own:

- what a status word the shopper names means for them ("is 'label printed' bad?", "why does it say exception"):
  the status's meaning, in the shopper's word; for a status of trouble the carrier's latest words and the team;
- another carrier asked for ("send it fedex instead"), after an offer of the team too: a change of carrier Lumen
  can't make, never an address change or a replacement;
- a word for the driver ("tell them to ring the bell"): a delivery instruction Lumen can't pass on;
- the item in another colour or size ("can i get it in blue instead"): a change of items Lumen can't make;
- "who is that?": the carrier or pickup point the data names, nothing invented;
- someone else took it in ("I didn't collect it, my wife did"): acknowledged, never a dispute nor the team; "I never
  collected it" still is one;
- "and the other one?" of a split order: the part not come yet;
- what the data never holds (strikes, holidays, a photo, which locker) said so; the tracking said not to move or to
  read otherwise in the carrier's app: the latest update and the team; "check with the carrier for me": Lumen can't.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store
from tests.test_after_status_probes import _offers_the_team

_WHEN = "2026-12-04T10:20:00Z"


_PACKED = "2026-12-01T09:00:00Z"


def _package(status: str, item: str, carrier: str, number: str, message: str, **extra: Any) -> dict[str, Any]:
    happened = build.event(status, _WHEN, message, "Norwich")
    return build.package(item, carrier, number, status=status, events=[happened], created_at=_PACKED,
                         in_transit_at="2026-12-01T17:00:00Z", **extra)  # fmt: skip


def _order(number: str, email: str, items: build.Items, packages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return build.order(f"#{number}", email=email, zip_code="NR2 4AB", country="GB", items=items, packages=packages,
                       amount="42.00", currency="GBP", id_prefix="66", ordered_at="2026-11-29T11:00:00Z", **extra)  # fmt: skip


_DELIVERED = {"deliveredAt": _WHEN}
# 7208's fulfillment order as first written (closed, though an item waits): nothing reads it, the store stays the same.
_CLOSED = {"nodes": [{"status": "CLOSED", "deliveryMethod": {"methodType": "SHIPPING"}}]}
MOVING = "RM552233445GB"
SECOND = "RM552233459GB"
STORE: dict[str, Any] = build.store(
    build.shop("Thimble Lane Haberdashery", "Europe/London", "GBP", locale="en-GB", prefix="#"),
    [
        _order("7201", "pip@example.com", "Linen Thread Set",
               [_package("IN_TRANSIT", "Linen Thread Set", "Royal Mail", MOVING, "Item in transit")]),
        _order("7202", "rue@example.com", "Button Tin",
               [_package("LABEL_PRINTED", "Button Tin", "DPD", "15502233445566", "Label printed", inTransitAt=None)]),
        _order("7203", "sol@example.com", "Velvet Ribbon",
               [_package("FAILURE", "Velvet Ribbon", "DPD", "15502233445577", "Exception: parcel damaged in transit")]),
        _order("7204", "tam@example.com", "Quilting Hoop",
               [_package("DELAYED", "Quilting Hoop", "Evri", "H02XYZ1234567890", "Delayed: running late")]),
        _order("7205", "uma@example.com", "Pin Cushion",
               [_package("PICKED_UP", "Pin Cushion", "Royal Mail", "RM552233462GB",
                         "Collected from Post Office Magdalen Street", **_DELIVERED)]),
        _order("7206", "viv@example.com", "Embroidery Kit",
               [_package("DELIVERED", "Embroidery Kit", "Evri", "H02XYZ1234567891", "Delivered, handed to resident",
                         **_DELIVERED)]),
        _order("7207", "wes@example.com", ["Fabric Scissors", "Tape Measure"],
               [_package("DELIVERED", "Fabric Scissors", "Royal Mail", "RM552233476GB", "Delivered", **_DELIVERED),
                _package("IN_TRANSIT", "Tape Measure", "Royal Mail", SECOND, "Item in transit")]),
        _order("7208", "xan@example.com", "Sewing Box",
               [_package("DELIVERED", "Sewing Box", "DPD", "15502233445588", "Delivered, front door", **_DELIVERED)],
               waiting="Pattern Paper", fulfillmentOrders=_CLOSED),
        _order("7209", "yas@example.com", "Knitting Needles",
               [_package("READY_FOR_PICKUP", "Knitting Needles", "Evri", "H02XYZ1234567892",
                         "Ready for collection at Evri ParcelShop, Unthank Road")]),
        _order("7210", "zed@example.com", "Cotton Reels",
               [build.package("Cotton Reels", status="READY_FOR_PICKUP", created_at=_PACKED, in_transit_at=None,
                              events=[{"status": "READY_FOR_PICKUP", "happenedAt": _WHEN}],
                              location={"name": "Thimble Lane shop, 3 Elm Hill"})],
               method="PICK_UP"),
        _order("7211", "abe@example.com", "Bias Binding",
               [_package("DELIVERED", "Bias Binding", "DPD", "15502233445599", "Delivered to parcel locker",
                         **_DELIVERED)]),
    ],
    as_of="2026-12-07T12:00:00Z",
)  # fmt: skip
PROOF = {o["name"][1:]: f"{o['name'][1:]} {o['email']}" for o in STORE["orders"]}
OFF_TOPIC = "I can help with order status"


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "thimble-lane-store.json", STORE)


async def _after_status(store: Path, order: str, *messages: str) -> list[str]:
    """The replies to `messages` said just after the order's status was shown."""
    shown, *said = await _turns(store, PROOF[order], *messages)
    assert f"#{order}" in shown.reply
    return [turn.reply for turn in said]


# --- what a status the shopper names means for them ------------------------------------------------------------
@pytest.mark.parametrize(
    "question", ["is 'label printed' bad?", "is label printed normal?", "should i be worried it says label printed"]
)
async def test_a_worry_about_a_quiet_status_hears_what_it_means(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7202", question)
    assert answer.startswith('"Label printed" means a shipping label was created')
    assert OFF_TOPIC not in answer


@pytest.mark.parametrize(
    "question",
    ["why does it say exception", "is the exception something to worry about?", "exception?? is that bad"],
)
async def test_a_worry_about_a_status_of_trouble_hears_its_meaning_the_carriers_words_and_the_team(
    store: Path, question: str
) -> None:
    [answer] = await _after_status(store, "7203", question)
    assert answer.startswith('"Exception" means a problem was reported with the delivery')
    assert '"Exception: parcel damaged in transit"' in answer and "DPD" in answer
    assert "hasn't turned up" not in answer and OFF_TOPIC not in answer
    assert "support team" in answer


@pytest.mark.parametrize("question", ["should I worry that it says delayed?", "is delayed bad", "delayed - concerned?"])
async def test_should_i_worry_about_a_delay(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7204", question)
    assert answer.startswith('"Delayed" means the package is running later than planned')
    assert '"Delayed: running late"' in answer and "support team" in answer


async def test_is_it_delayed_still_asks_where_it_is(store: Path) -> None:
    [answer] = await _after_status(store, "7204", "is it delayed?")
    assert "means" not in answer and "Delayed: running late" in answer


# --- another carrier, a word for the driver, another colour ----------------------------------------------------
_CARRIER_CHANGE = "I can't change the shipping service or carrier of an order myself"


@pytest.mark.parametrize(
    "ask", ["send it fedex instead", "can you ship it with UPS", "could you use DHL instead", "switch it to DPD pls"]
)
async def test_another_carrier_asked_is_a_change_of_carrier(store: Path, ask: str) -> None:
    [answer] = await _after_status(store, "7201", ask)
    assert _CARRIER_CHANGE in answer and "#7201" in answer
    assert "address" not in answer and "replacement" not in answer
    assert _offers_the_team(answer)


@pytest.mark.parametrize("ask", ["send it fedex instead", "ok but can u use royal mail instead"])
async def test_another_carrier_asked_after_the_team_was_offered(store: Path, ask: str) -> None:
    shown, said = await _turns(store, PROOF["7203"], ask)
    assert "support team" in shown.reply  # the exception's status offers the team in passing
    assert _CARRIER_CHANGE in said.reply and "address" not in said.reply


@pytest.mark.parametrize("ask", ["send it fedex instead", "can you ship it with UPS then"])
async def test_another_carrier_asked_when_the_team_was_offered_as_a_question(store: Path, ask: str) -> None:
    offered, said = await _after_status(store, "7201", "the tracking hasn't moved in a week", ask)
    assert _offers_the_team(offered)
    assert _CARRIER_CHANGE in said and "address" not in said and _offers_the_team(said)


async def test_which_carrier_did_you_send_it_with_asks_no_change(store: Path) -> None:
    [answer] = await _after_status(store, "7201", "did you send it with royal mail?")
    assert _CARRIER_CHANGE not in answer and "Royal Mail" in answer


@pytest.mark.parametrize(
    "ask",
    [
        "tell them to ring the bell",
        "can you have him leave it round the back",
        "please ask them to knock loudly",
        "could they ring the doorbell when they come",
        "can you check with royal mail for me?",
    ],
)
async def test_a_word_for_the_driver_is_a_delivery_instruction(store: Path, ask: str) -> None:
    [answer] = await _after_status(store, "7201", ask)
    assert "I can't contact the carrier or pass on delivery instructions myself" in answer
    assert _offers_the_team(answer)


@pytest.mark.parametrize(
    "ask", ["can i get it in blue instead", "could you send it in a large instead", "can I change the size"]
)
async def test_another_colour_or_size_is_a_change_of_items(store: Path, ask: str) -> None:
    [answer] = await _after_status(store, "7201", ask)
    assert (
        "I can't add items to an order, take them off it or swap them for others myself" in answer and "#7201" in answer
    )
    assert OFF_TOPIC not in answer and _offers_the_team(answer)


# --- "who is that?" ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("question", ["who is that?", "who are they", "sorry who's royal mail?"])
async def test_who_is_that_is_the_carrier_of_the_data(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7201", question)
    assert answer == f"It's with Royal Mail, tracking {MOVING}."


async def test_who_is_that_of_a_parcel_at_a_pickup_point_says_the_carriers_words(store: Path) -> None:
    [answer] = await _after_status(store, "7209", "who is that?")
    assert answer.startswith("It's with Evri, tracking H02XYZ1234567892.")
    assert '"Ready for collection at Evri ParcelShop, Unthank Road"' in answer and OFF_TOPIC not in answer


async def test_who_is_that_of_a_store_pickup_is_the_pickup_point(store: Path) -> None:
    [answer] = await _after_status(store, "7210", "who's that?")
    assert answer == "You can collect it at Thimble Lane shop, 3 Elm Hill."


async def test_when_and_who_are_both_answered(store: Path) -> None:
    [answer] = await _after_status(store, "7201", "when will it arrive and who is delivering it?")
    assert answer.startswith(f"It's with Royal Mail, tracking {MOVING}.")
    assert "hasn't shared an estimated delivery date" in answer


# --- someone else took it in -------------------------------------------------------------------------------------
_THANKS = "Thanks for letting me know. Is there anything else I can help you with for order #{}?"


@pytest.mark.parametrize(
    ("order", "said"),
    [
        ("7205", "I didn't collect it, my wife did"),
        ("7205", "oh it was my husband who picked it up"),
        ("7206", "my neighbour took it in"),
        ("7206", "ah it was signed for by my flatmate"),
        ("7206", "next door has it, sorted"),
    ],
)
async def test_someone_else_took_it_in_is_acknowledged_not_disputed(store: Path, order: str, said: str) -> None:
    [answer] = await _after_status(store, order, said)
    assert answer == _THANKS.format(order)


@pytest.mark.parametrize("said", ["I never collected it", "I didn't collect it"])
async def test_never_collected_is_still_a_dispute(store: Path, said: str) -> None:
    [answer] = await _after_status(store, "7205", said)
    assert "Thanks for letting me know" not in answer and "support team" in answer


# --- the other part of a split order ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    ["thanks but where is the other one", "and the other parcel?", "what about the rest?", "the other box?"],
)
async def test_the_other_one_of_a_split_order_is_the_part_not_come_yet(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7207", question)
    assert answer.startswith("Package 2 (Tape Measure)") and SECOND in answer
    assert "Fabric Scissors" not in answer


@pytest.mark.parametrize("question", ["where is the other one", "what about the rest?", "and the rest of my order?"])
async def test_the_other_one_not_shipped_yet_says_so(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7208", question)
    assert answer.startswith("Pattern Paper from order #7208 hasn't shipped yet")


# --- what the data never holds, the tracking itself --------------------------------------------------------------
_DISRUPTION = "I can't see how strikes, holidays or busy periods affect the carrier's deliveries"


@pytest.mark.parametrize(
    "question",
    ["is there a strike on? will that affect it", "will the bank holiday slow it down?", "will the holidays delay it"],
)
async def test_strikes_and_holidays_are_not_in_the_data(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7201", question)
    assert _DISRUPTION in answer and OFF_TOPIC not in answer and MOVING in answer


async def test_a_shoppers_own_holiday_is_no_carriers_holiday(store: Path) -> None:
    [answer] = await _after_status(store, "7201", "I'm going on holiday tomorrow, where is it")
    assert _DISRUPTION not in answer


@pytest.mark.parametrize("question", ["will I have to pay customs fees on it?", "is the weather holding it up?"])
async def test_what_the_data_never_holds_is_not_called_off_topic(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7201", question)
    assert "I can't see" in answer and OFF_TOPIC not in answer


@pytest.mark.parametrize("question", ["can I get a photo of the delivery", "did they take a picture?"])
async def test_a_photo_of_the_delivery_is_not_in_the_data(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7206", question)
    assert "I can't see photos or proof of delivery" in answer and "Nothing has changed" not in answer


@pytest.mark.parametrize("question", ["it says delivered to a locker but which one", "what's the locker code?"])
async def test_which_locker_is_not_in_the_data_and_no_dispute(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7211", question)
    assert "I can't see which locker it's in or any code to open it" in answer
    assert "hasn't turned up" not in answer


@pytest.mark.parametrize(
    "said", ["the tracking hasn't moved in a week", "no updates since friday??", "it's been stuck at the same place"]
)
async def test_tracking_said_not_to_move_gives_the_latest_update_and_the_team(store: Path, said: str) -> None:
    [answer] = await _after_status(store, "7201", said)
    assert answer.startswith('The latest update I can see from Royal Mail is from Friday 4 December in Norwich: "Item')
    assert _offers_the_team(answer) and "It's with Royal Mail, tracking" not in answer


@pytest.mark.parametrize(
    ("order", "said"),
    [("7201", "the royal mail app says something else"), ("7206", "the website says different")],
)
async def test_another_source_reading_otherwise(store: Path, order: str, said: str) -> None:
    [answer] = await _after_status(store, order, said)
    assert "The latest update I can see from" in answer
    assert "the carrier's own app or site may have a newer update" in answer and _offers_the_team(answer)


@pytest.mark.parametrize("question", ["is it coming back to you?", "will it be returned to sender?"])
async def test_whether_it_goes_back_is_what_happens_next_not_a_refund(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7203", question)
    assert answer.startswith("All I can see of what happens next is what DPD says in its latest update")
    assert "refund" not in answer


async def test_which_neighbour_is_not_in_the_data_and_no_dispute(store: Path) -> None:
    [answer] = await _after_status(store, "7206", "they left it with my neighbour but I don't know which one")
    assert "I can't see which neighbour or door it was left at" in answer and "hasn't turned up" not in answer


async def test_being_home_for_it_is_the_carriers_to_say(store: Path) -> None:
    [answer] = await _after_status(store, "7201", "do I need to be home for it?")
    assert "I can't see whether the carrier will ask for a signature" in answer


async def test_a_meaning_and_when_are_both_answered(store: Path) -> None:
    [answer] = await _after_status(store, "7201", "what does 'in transit' mean and when will it get here?")
    assert answer.startswith('"In transit" means the package is on its way')
    assert "hasn't shared an estimated delivery date" in answer


@pytest.mark.parametrize(("order", "said"), [("7204", "the courier was late"), ("7201", "royal mail is late again")])
async def test_the_carrier_said_to_be_late_hears_why_not_a_refund(store: Path, order: str, said: str) -> None:
    [answer] = await _after_status(store, order, said)
    assert answer.startswith("All I know about why is what") and "refund" not in answer


@pytest.mark.parametrize("question", ["how many days left", "how many more days?"])
async def test_how_many_days_left_is_about_the_order(store: Path, question: str) -> None:
    [answer] = await _after_status(store, "7201", question)
    assert OFF_TOPIC not in answer and '"Item in transit"' in answer


async def test_a_refund_asked_surely_beside_a_late_courier_stands(store: Path) -> None:
    [answer] = await _after_status(store, "7204", "the courier is late again, I want a refund")
    assert "I can't issue refunds" in answer


async def test_thanks_for_the_rest_having_come_asks_nothing(store: Path) -> None:
    [answer] = await _after_status(store, "7207", "thanks, the rest arrived today")
    assert "Package 2" not in answer and SECOND not in answer


async def test_the_other_number_of_one_parcel_is_no_other_parcel(store: Path) -> None:
    [answer] = await _after_status(
        store, "7201", "the royal mail number doesnt work on their site, whats the other one"
    )
    assert "Nothing has changed" not in answer and MOVING in answer
