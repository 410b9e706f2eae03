"""How shoppers anywhere write, checked on an invented shop: two orders with an email each in one message, a
marketplace's name used in passing, yes words of American English (and a yes after a no), a follow-up about which
package already came, and a product or policy question asked beside an order's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.playbook.understand import emails_by_order, offer_answer, other_order_asked, second_thoughts
from tests.test_understanding import talk

BASE = Path(__file__).parent / "data" / "fourth-store.json"
# The invented shop's orders (renamed from the base store's), their shoppers and what each order holds.
OUT = ("WF-3003", "pat.quill@example.org")  # out for delivery: Raised Cedar Bed 4x8
ALL_CAME = ("WF-3005", "nell.arden@example.org")  # delivered: Copper Watering Can among three items
THREE = ("WF-3008", "zed.orrin@example.org")  # three packages: seeds delivered March 13, one in transit, one labelled
TRIED = ("WF-3010", "hal.vesper@example.org")  # a delivery attempted
MOVING = ("WF-3012", "lee.marsh@example.org")  # in transit: Cold Frame Mini Greenhouse
CAME = ("WF-3016", "gus.penrose@example.org")  # delivered: Self-Watering Planter
RENAMED = {"#2003": OUT, "#2005": ALL_CAME, "#2008": THREE, "#2010": TRIED, "#2012": MOVING, "#2016": CAME}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = json.loads(BASE.read_text(encoding="utf-8"))
    raw["shop"] |= {"name": "Wrenfield Yard & Garden", "contactEmail": "help@wrenfield.example"}
    for order in raw["orders"]:
        if order["name"] in RENAMED:
            order["name"], order["email"] = f"#{RENAMED[order['name']][0]}", RENAMED[order["name"]][1]
    path = tmp_path_factory.mktemp("wrenfield") / "store.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def finds(calls: list[tuple[str, dict[str, object]]]) -> dict[str, object]:
    """Each order looked up (by its digits) and the email it was looked up with."""
    return {str(a["order_number"])[-4:]: a.get("email") for n, a in calls if n == "find_order"}


# --- two orders, each with its own email -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        f"can you check {OUT[0]} ({OUT[1]}) and my husband's {MOVING[0]} ({MOVING[1]})",
        f"{OUT[1]} is for 3003 and {MOVING[1]} for 3012, where are they both?",
        f"orders {OUT[0]} {OUT[1]} + {MOVING[0]} {MOVING[1]} pls",
        f"Hi, mine is {OUT[0]}, email {OUT[1]}; my mum's is {MOVING[0]}, email {MOVING[1]}. Where are they?",
    ],
)
async def test_two_orders_with_an_email_each_are_each_proved_with_their_own(shop: Path, message: str) -> None:
    chat = await talk(message, store=shop)
    assert finds(chat.calls[0]) == {"3003": OUT[1], "3012": MOVING[1]}
    assert "Raised Cedar Bed" in chat.replies[0] and "Cold Frame Mini Greenhouse" in chat.replies[0]


def test_emails_pair_with_orders_only_when_there_is_one_each() -> None:
    assert emails_by_order("AB-100 a@x.io and AB-200 b@y.io", ["AB-100", "AB-200"]) == {
        "AB-100": "a@x.io",
        "AB-200": "b@y.io",
    }
    assert emails_by_order("orders AB-100 and AB-200, a@x.io", ["AB-100", "AB-200"]) == {}
    assert emails_by_order("AB-100 a@x.io", ["AB-100"]) == {}


# --- a marketplace named in passing is no order of theirs --------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        f"honestly I just amazon everything normally, but I tried you guys. {MOVING[0]} {MOVING[1]} where is it",
        f"my ebay stuff came days ago but {MOVING[0]} {MOVING[1]} still hasn't, why",
        f"My Etsy parcel turned up fine, yours is late. {MOVING[0]} {MOVING[1]}",
        f"should've just walmart'd it lol. {MOVING[0]} {MOVING[1]}",
    ],
)
async def test_a_marketplace_named_in_passing_beside_our_order_is_not_sent_away(shop: Path, message: str) -> None:
    [reply] = (await talk(message, store=shop)).replies
    assert "Cold Frame Mini Greenhouse" in reply
    assert "check with" not in reply.lower()


async def test_another_marketplaces_order_the_shopper_has_is_still_sent_there(shop: Path) -> None:
    [reply] = (await talk(f"two orders, one from Temu and one from you, {MOVING[0]} {MOVING[1]}", store=shop)).replies
    assert "Temu" in reply and "Cold Frame Mini Greenhouse" in reply


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("got two orders, one from AliExpress and one from you", True),
        ("my ebay order hasn't arrived either", True),
        ("i have an etsy order too", True),
        ("I usually just amazon everything", False),
        ("my amazon order came days ago but yours hasn't", False),
        ("amazon would've had it here in a day", False),
    ],
)
def test_another_marketplaces_order_is_asked_about_only_when_it_is_the_shoppers_and_not_come(
    message: str, asked: bool
) -> None:
    assert other_order_asked(message) is asked


# --- yes words, and a yes after a no ------------------------------------------------------------------------------
@pytest.mark.parametrize("yes", ["bet", "yes ma'am, thank you kindly", "you bet", "sure thing 👍", "yessir", "fo sho"])
async def test_american_yes_words_take_up_an_offer(shop: Path, yes: str) -> None:
    complaint = f"the box came but the watering can wasn't in it. {ALL_CAME[0]} {ALL_CAME[1]}"
    chat = await talk(complaint, yes, store=shop)
    assert "support team" in chat.replies[0]
    assert chat.tools(1) == ["escalate"]


@pytest.mark.parametrize("yes", ["yes ma'am, thank you kindly", "bet"])
async def test_a_yes_with_thanks_takes_up_an_offer_made_in_passing(shop: Path, yes: str) -> None:
    chat = await talk(f"{TRIED[0]} {TRIED[1]} where's my bonsai kit", yes, store=shop)
    assert "support team" in chat.replies[0]
    assert chat.tools(1) == ["escalate"]


async def test_thanks_alone_after_an_offer_is_no_yes(shop: Path) -> None:
    chat = await talk(f"{TRIED[0]} {TRIED[1]} where's my bonsai kit", "thank you kindly", store=shop)
    assert chat.escalations() == []


@pytest.mark.parametrize(
    "again",
    [
        "actually wait yeah, have someone look into it",
        "hmm on second thought, yes please",
        "actually yes please pass it on",
        "oh wait, can a person look into it for me",
    ],
)
async def test_a_changed_mind_after_a_no_takes_up_the_declined_offer(shop: Path, again: str) -> None:
    chat = await talk(f"{CAME[0]} {CAME[1]} where is it", "nah", again, store=shop)
    assert chat.tools(1) == []
    assert chat.tools(2) == ["escalate"]
    assert chat.escalations()[0]["order_number"] == f"#{CAME[0]}"


@pytest.mark.parametrize("after", ["ok thanks", "actually never mind, all good", "cool, bye"])
async def test_a_no_stays_a_no_without_a_changed_mind(shop: Path, after: str) -> None:
    chat = await talk(f"{CAME[0]} {CAME[1]} where is it", "no thanks", after, store=shop)
    assert chat.escalations() == []


def test_second_thoughts_need_a_firm_yes() -> None:
    assert second_thoughts("actually wait yeah, have someone look into it")
    assert not second_thoughts("actually it came this morning")
    assert not second_thoughts("actually never mind")
    assert offer_answer("yes ma'am, thank you kindly") == "yes"
    assert offer_answer("thank you kindly") is None


# --- which package already came -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "follow_up", ["which one already came", "which package was delivered?", "so what's arrived so far", "which came"]
)
async def test_which_package_came_names_the_delivered_one(shop: Path, follow_up: str) -> None:
    chat = await talk(f"{THREE[0]} {THREE[1]}", follow_up, store=shop)
    reply = chat.replies[1]
    assert "Seeds" in reply and "March 13" in reply
    assert "Nothing has changed" not in reply


# --- a product or policy question beside the order's --------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        f"where's {MOVING[0]} {MOVING[1]} & do y'all have the planter in green?",
        f"{MOVING[0]} {MOVING[1]} where is it, also is the trowel dishwasher safe?",
        f"Could you tell me where {MOVING[0]} is ({MOVING[1]})? And do you sell gift cards?",
    ],
)
async def test_a_product_question_beside_an_order_is_answered_too(shop: Path, message: str) -> None:
    [reply] = (await talk(message, store=shop)).replies
    assert "Cold Frame Mini Greenhouse" in reply
    assert "For anything else, I can connect you with our support team" in reply


async def test_a_plain_status_question_gets_no_side_answer(shop: Path) -> None:
    [reply] = (await talk(f"where is {MOVING[0]}? {MOVING[1]} thanks", store=shop)).replies
    assert "Cold Frame Mini Greenhouse" in reply and "For anything else" not in reply
