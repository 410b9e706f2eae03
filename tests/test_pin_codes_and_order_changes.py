"""A shop in a country whose postal code has its own name and is typed in two groups (India's six-digit "PIN code",
typed "600 028" or labelled "pin", "pincode"), marketplaces of that country, and changes to an order Lumen has no act
for (brought sooner, an item added or taken off) asked beside a status question.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.order_change import order_change_asked
from agent.playbook.understand import extract_details, order_numbers
from shopify.names import NameFormat
from shopify.store_file import FixtureStore
from tests.test_postcodes_beside_order_numbers import write_shop
from tests.test_understanding import Conversation, offers_the_team, talk

KS = NameFormat("#KS-", "")
ORDERS = [(4301, "600028", "IN"), (4302, "110017", "IN")]


@pytest.fixture
def in_shop(tmp_path: Path) -> Path:
    """An Indian shop (its address, rupees, Kolkata time): 4301 in transit with UPS, due 18 September (a Friday;
    "now" is Monday 14 September), 4302 not shipped."""
    path = write_shop(tmp_path, prefix="#KS-", zone="Asia/Kolkata", currency="INR", orders=ORDERS, address_country="IN")
    text = path.read_text(encoding="utf-8").replace(
        '"estimatedDeliveryAt": null', '"estimatedDeliveryAt": "2026-09-18T10:00:00Z"'
    )
    path.write_text(text, encoding="utf-8")
    return path


def _find_calls(conversation: Conversation, turn: int) -> list[dict[str, Any]]:
    return [args for name, args in conversation.calls[turn] if name == "find_order"]


async def test_the_shop_reads_as_en_in(in_shop: Path) -> None:
    assert (await FixtureStore(in_shop).shop()).locale == "en_IN"


# --- the PIN code, labelled or typed in two groups -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "order", "postcode"),
    [
        ("order KS 4301, pin code 600 028", "KS-4301", "600028"),
        ("ks-4301 pincode 600 028 any update?", "ks-4301", "600028"),
        ("status of 4301 please. my PIN is 600028", "4301", "600028"),
        ("hello\norder number 4301\npin 600 028\nthanks", "4301", "600028"),
        ("4302 / 110 017 dispatched yet?", "4302", "110017"),  # unlabelled, after a slash
        ("4302 110 017 dispatched yet?", "4302", "110017"),  # unlabelled, after the order's number
        ("KS4301 600 028 where is it", "KS4301", "600028"),
        ("Pin: 110017, order 4302", "4302", "110017"),  # the PIN first
    ],
)
def test_a_pin_code_is_read_labelled_or_in_two_groups(message: str, order: str, postcode: str) -> None:
    details = extract_details(message, None, "IN", KS)
    assert (details.order_number, details.postal_code) == (order, postcode)
    assert len(order_numbers(message, details.postal_code, KS)) == 1  # no "orders 4302, 110, 017"


@pytest.mark.parametrize(
    "message",
    [
        "lost my order number, pin 110017 and email kit.marlow@example.net",
        "PIN is 600028",
        "sorry wrong email. my pincode is 600 028",
    ],
)
def test_a_labelled_pin_is_never_an_order_number(message: str) -> None:
    for awaiting in (None, "retry", "factor"):
        details = extract_details(message, awaiting, "IN", KS)  # type: ignore[arg-type]
        assert details.order_number is None
        assert details.postal_code in ("110017", "600028")


@pytest.mark.parametrize(
    ("message", "country"),
    [
        ("149 051 234 is the number on the slip", "IN"),  # a run of short groups: a phone or tracking number
        ("the locker pin 4821 didn't open", "AU"),  # "pin" names no postcode where the country calls it otherwise
        ("the locker pin 482913 didn't open", "US"),
        ("4302 110 017", "AU"),  # joined, no postcode of this country
        ("sent 120 4 times", "AU"),  # "1204" is one, but no code is typed so
    ],
)
def test_other_numbers_stay_what_they_were(message: str, country: str) -> None:
    assert extract_details(message, None, country, KS).postal_code is None


async def test_an_order_and_its_spaced_pin_prove_the_order(in_shop: Path) -> None:
    said = await talk("KS 4301 pin code 600 028 shipped or not", store=in_shop)
    assert _find_calls(said, 0) == [{"order_number": "KS-4301", "postal_code": "600028"}]
    assert "Reef Kickboard" in said.replies[0] and "UPS" in said.replies[0]


async def test_an_unlabelled_spaced_pin_beside_the_number_proves_it(in_shop: Path) -> None:
    said = await talk("4302 / 110 017 when will it be dispatched", store=in_shop)
    assert _find_calls(said, 0) == [{"order_number": "4302", "postal_code": "110017"}]
    assert "Tide Goggles No. 1" in said.replies[0]
    assert "110" not in said.replies[0].replace("110017", "")  # no "orders 4302, 110, 017"


async def test_email_and_pin_prove_an_order_without_its_number(in_shop: Path) -> None:
    said = await talk("i don't have the order number. kit.marlow@example.net pin 600028", store=in_shop)
    assert {"email": "kit.marlow@example.net", "postal_code": "600028"} in _find_calls(said, 0)
    assert "Reef Kickboard" in said.replies[0]


async def test_a_pin_after_a_wrong_email_proves_the_order_already_named(in_shop: Path) -> None:
    said = await talk("order 4301 email someone.else@example.net", "oops old email. pincode is 600028", store=in_shop)
    assert "Reef Kickboard" not in said.replies[0]
    (call,) = _find_calls(said, 1)
    assert (call["order_number"], call["postal_code"]) == ("4301", "600028")
    assert "Reef Kickboard" in said.replies[1]


# --- marketplaces of the shop's country ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "platform"),
    [("my myntra order still not delivered", "Myntra"), ("snapdeal order not came yet", "Snapdeal")],
)
async def test_an_indian_marketplace_is_another_platform(in_shop: Path, message: str, platform: str) -> None:
    said = await talk(message, store=in_shop)
    assert platform in said.replies[0] and "only look up orders" in said.replies[0]
    assert said.all_tools() == []


# --- a change Lumen can't make, beside the status --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "change"),
    [
        ("can you make my order come faster?", "deliver_sooner"),
        ("please get the parcel here sooner", "deliver_sooner"),
        ("send it earlier!!", "deliver_sooner"),
        ("could you speed up my order", "deliver_sooner"),
        ("can you speed it up", "deliver_sooner"),  # the verb parted by its object
        ("any chance you could hurry my order along?", "deliver_sooner"),
        ("it sped up once it left the depot", None),
        ("is it possible to add a second teapot to my order", "change_items"),
        ("pls remove the spoon rest from the order", "change_items"),
        ("where is it, also can i put one more mug in it?", "change_items"),
        ("amazon would get it to me faster", None),  # no request
        ("it'll come sooner or later i guess", None),
        ("it came sooner than the last one", None),
        ("i don't want to add anything to it", None),  # under a negation
        ("can i add my flat number to the address", None),  # the address, not the order's items
        ("where is my order", None),
    ],
)
def test_a_change_to_the_order_is_heard(message: str, change: str | None) -> None:
    assert order_change_asked(message) == change


async def test_a_faster_delivery_beside_a_deadline_gets_both_answers(in_shop: Path) -> None:
    said = await talk("could you get order 4301 here sooner? pin 600028, need it by wednesday", store=in_shop)
    reply = said.replies[0]
    assert "Reef Kickboard" in reply and "18 September" in reply  # the estimate, against the day needed
    assert "sooner" in reply and offers_the_team(reply)
    assert "escalate" not in said.all_tools()


async def test_an_item_added_beside_a_status_question_gets_both_answers(in_shop: Path) -> None:
    said = await talk("where is 4301 and can i add another kickboard to it? kit.marlow@example.net", store=in_shop)
    reply = said.replies[0]
    assert "UPS" in reply and "Reef Kickboard" in reply
    assert "add items" in reply and offers_the_team(reply)
    accepted = await talk(
        "where is 4301 and can i add another kickboard to it? kit.marlow@example.net", "yes please", store=in_shop
    )
    assert len(accepted.escalations()) == 1
