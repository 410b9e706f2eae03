"""Orders from other shops that no list names, read by the shape of what the shopper says: bought ON/AT/OFF/FROM a
named business after an item with capitals ("bought a Le Creuset pan at Marlow Finch"), a name of two or three words,
a number beside the named shop that is not written the way this shop writes its order names ("ordered on Bazaarly,
order BZ77120934"), and a question whether this shop is another business ("is this the same as my Pantry Sixty
order?"). The other side too: a brand used as a word, an item bought from this shop, or a number in this shop's format
beside another shop's name stay this shop's orders. Invented stores (Harrow & Loom, Manchester, "HL/5101" names; Kiondo
Lamps, Mombasa, "4101-M" names); no eval store's messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import retailer_word, shop_compared, shop_of_foreign_number
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import replies, write_store

MIRA = "mira@example.co.uk"
OWN = ("Harrow & Loom", "Lumen", "harrow-loom.myshopify.com")


def _uk_store() -> dict[str, Any]:
    royal_mail = build.package(
        "Merino Throw",
        "Royal Mail",
        "RM482913775GB",
        events=[build.event("IN_TRANSIT", "2026-12-05T09:00:00Z", "In transit", "Manchester")],
    )
    return build.store(
        build.shop("Harrow & Loom", "Europe/London", "GBP", locale="en-GB", prefix="HL/"),
        [
            build.order("HL/5101", email=MIRA, zip_code="M1 4BT", country="GB", items="Merino Throw",
                        packages=[royal_mail], currency="GBP"),
            build.order("HL/5102", email="jon@example.co.uk", zip_code="M20 2RN", country="GB",
                        items="Le Creuset Casserole 24cm", currency="GBP"),
        ],
        as_of="2026-12-07T12:00:00Z",
    )  # fmt: skip


def _ke_store() -> dict[str, Any]:
    return build.store(
        build.shop("Kiondo Lamps", "Africa/Nairobi", "KES", locale="en-KE", orderNumberFormatPrefix="",
                   orderNumberFormatSuffix="-M"),
        [build.order("4101-M", email="zawadi@example.co.ke", zip_code="80100", country="KE", items="Solar Lantern",
                     currency="KES")],
        as_of="2026-12-07T09:00:00Z",
    )  # fmt: skip


@pytest.fixture
def uk(tmp_path: Path) -> Path:
    return write_store(tmp_path / "harrow.json", _uk_store())


@pytest.fixture
def ke(tmp_path: Path) -> Path:
    return write_store(tmp_path / "kiondo.json", _ke_store())


def _theirs(reply: str, shop: str, own: str) -> bool:
    """The other shop's order answered as theirs: the shop named, only this shop's orders looked up, no email asked for
    a lookup of a number that is not ours."""
    return shop in reply and f"only look up orders placed with {own}" in reply and "checkout" not in reply


# --- the number beside the named shop is not written as ours -------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "shop"),
    [
        ("I bought a Nordic Lamp off Vinylhaus from a private seller, order 5512-0093, where is it?", "Vinylhaus"),
        ("ordered on Bazaarly last week, order BZ77120934, any news?", "Bazaarly"),
        ("Placed it through Bazaarly, ref 40021-33, has it shipped?", "Bazaarly"),
        ("ordered on bazaarly, order bz77120934 status pls", "Bazaarly"),  # all lowercase
        ("Got it at Marlow Finch in the sale, their number is MF-99120-4", "Marlow Finch"),
        ("where is my Kestrelmall order KM88231045??", "Kestrelmall"),  # the shop as the order's kind
        ("Vinylhaus order 5512-0093 never came", "Vinylhaus"),
    ],
)
async def test_a_named_shop_beside_a_number_not_in_our_format_is_that_shops_order(
    uk: Path, message: str, shop: str
) -> None:
    reply = (await replies(uk, message))[0]
    assert _theirs(reply, shop, "Harrow & Loom"), reply
    assert "HL/1234" in reply  # how our numbers look, in case it was ours after all


async def test_a_suffix_shop_reads_another_shops_number_too(ke: Path) -> None:
    reply = (await replies(ke, "Ordered on Sokoplace last week, order no SP88231045, status?"))[0]
    assert _theirs(reply, "Sokoplace", "Kiondo Lamps"), reply


@pytest.mark.parametrize(
    ("typed", "fmt", "ours"),
    [
        ("5512-0093", NameFormat("HL/", ""), False),  # two runs of digits where the shop has one
        ("BZ77120934", NameFormat("HL/", ""), False),  # other letters
        ("HL/5101", NameFormat("HL/", ""), True),
        ("5101", NameFormat("HL/", ""), True),  # the number without the prefix is still written as ours
        ("KM88231045", NameFormat("", "-M"), False),
        ("4101-M", NameFormat("", "-M"), True),
        ("1234-5678", NameFormat("#", ""), False),
        ("88231045", NameFormat("#", ""), True),  # digits alone: a shop of plain numbers may have them
    ],
)
def test_a_number_is_another_shops_only_when_not_written_as_ours(typed: str, fmt: NameFormat, ours: bool) -> None:
    shop = shop_of_foreign_number(f"ordered on Bazaarly last week, order {typed}", typed, fmt, OWN)
    assert (shop is None) is ours


def test_no_shop_named_or_no_format_known_reads_nothing() -> None:
    assert shop_of_foreign_number("order BZ77120934, where is it?", "BZ77120934", NameFormat("HL/", ""), OWN) is None
    assert shop_of_foreign_number("My order BZ77120934 is late", "BZ77120934", NameFormat("HL/", ""), OWN) is None
    assert shop_of_foreign_number("my Black Friday order 5512-0093", "5512-0093", NameFormat("HL/", ""), OWN) is None
    # A brand before "order" beside a number of ours: this shop's item, looked up.
    assert shop_of_foreign_number("my Nike order HL/5101, where is it", "HL/5101", NameFormat("HL/", ""), OWN) is None
    assert shop_of_foreign_number("ordered on Bazaarly, order BZ77120934", "BZ77120934", None, OWN) is None


# --- the shop named after an item with capitals, or in two or three words -----------------------------------------
@pytest.mark.parametrize(
    ("message", "shop"),
    [
        ("I bought a Staub casserole at Marlow Finch, could you trace it?", "Marlow Finch"),
        ("I bought the KitchenAid mixer off Vinylhaus, where is it", "Vinylhaus"),
        ("Ordered a Dyson fan from Penrose Hadley last week, any update?", "Penrose Hadley"),
        ("purchased 2 PS5 controllers via Ostrava Play, has it shipped?", "Ostrava Play"),
    ],
)
def test_the_shop_is_read_after_an_item_with_capitals(message: str, shop: str) -> None:
    assert retailer_word(message, OWN) == shop


@pytest.mark.parametrize(
    "message",
    [
        "I bought a Staub casserole at Marlow Finch, could you trace it?",
        "my aunt ordered the Nordvik blanket off Penrose Hadley, where is it",
    ],
)
async def test_another_shops_order_without_a_number_is_answered_both_ways(uk: Path, message: str) -> None:
    reply = (await replies(uk, message))[0]
    shop = retailer_word(message, OWN)
    assert shop is not None and shop in reply and "only look up orders placed with Harrow & Loom" in reply, reply


@pytest.mark.parametrize(
    "message",
    [
        "I ordered it from New York City last week, where is it",  # a city
        "bought the Merino Throw on Black Friday, where is it",  # a sale day
        "got the Le Creuset pot from Harrow & Loom, has it shipped",  # this shop
        "I bought a Staub pan at Royal Mail's counter",  # a carrier's, a possessive
    ],
)
def test_names_that_are_no_other_shop(message: str) -> None:
    assert retailer_word(message, OWN) is None


# --- "is this the same as my X order?" ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "shop"),
    [
        ("is this the same as my Pantry Sixty order?", "Pantry Sixty"),
        ("are you guys part of Brightfold Market? need to track something", "Brightfold Market"),
        ("hi, is this shop linked to Kestrel Home Goods", "Kestrel Home Goods"),
        ("r u the same company as Sokoplace??", "Sokoplace"),
    ],
)
async def test_a_shop_compared_with_this_one_is_answered_both_ways(uk: Path, message: str, shop: str) -> None:
    assert shop_compared(message, OWN) == shop
    reply = (await replies(uk, message))[0]
    assert shop in reply and "only look up orders placed with Harrow & Loom" in reply, reply


@pytest.mark.parametrize(
    "message",
    [
        "is this the same as my last order?",
        "is this the same as my Black Friday order?",
        "is this the same as my December order?",
        "is this the same as Harrow & Loom on Instagram?",  # this shop
        "IS THIS THE SAME AS MY PANTRY ORDER",  # capitals tell nothing
        "is it the same as Royal Mail tracking?",
    ],
)
def test_no_other_business_compared(message: str) -> None:
    assert shop_compared(message, OWN) is None


# --- the other side: brands as words, and this shop's orders -------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        f"where's my Le Creuset pot? HL/5101 {MIRA}",
        f"I usually buy on Bazaarly but this one's from you: HL/5101 {MIRA}",
        f"ordered the Merino Throw on Cyber Monday, 5101 {MIRA}",
        f"is this the same as my last order? HL/5101 {MIRA}",
        f"my Nike trainers came yesterday but HL/5101 hasn't, {MIRA}",
    ],
)
async def test_this_shops_order_stays_ours(uk: Path, message: str) -> None:
    reply = (await replies(uk, message))[0]
    assert "RM482913775GB" in reply and "only look up" not in reply, reply


async def test_a_number_in_our_format_beside_another_shops_name_is_looked_up(uk: Path) -> None:
    # The shop's own format: the number may be ours whatever the shopper thinks they bought it on.
    said = await replies(uk, "ordered on Bazaarly I think, order 5101", MIRA)
    assert "only look up" not in said[0] and "RM482913775GB" in said[1], said
