"""Which number in a shopper's message is the order, which the ZIP code and which an amount of money.

A number is an order number when it looks like the order names beside it or is offered as one ("order 1234",
"#1234"); a ZIP code typed beside an order name is the ZIP even when other numbers or words surround it; an amount
("$1240 back", "a refund of 1240") is money, though it has as many digits as an order name. Conversations run on the
demo store (US ZIP codes, names like #1031).
"""

from __future__ import annotations

import pytest

from agent.playbook import understand
from agent.playbook.understand import Awaiting, extract_details
from tests.test_understanding import talk


@pytest.mark.parametrize(
    ("message", "awaiting", "order", "postcode"),
    [
        # A ZIP+4 typed without its dash, after the word "zip" or on its own when asked for it.
        ("any news on AB 2210? zip code is 972141234", None, "AB-2210", "972141234"),
        ("972141234", "factor", None, "972141234"),
        # The ZIP beside the order name, whatever else the message says ("and", counts of days and things).
        ("ZX7788 60614 shipped 4 weeks ago and still nothing", None, "ZX7788", "60614"),
        ("my 2 lamps and 1 shade never came ZX7788 60614", None, "ZX7788", "60614"),
        # A military address's "state" and ZIP, and a state after the town's comma, are no order name.
        ("order ZX7788 going to FPO AP 96349 when will it get there", None, "ZX7788", "96349"),
        ("ZX7788, ships to Portland, OR 97214-1234", None, "ZX7788", "97214-1234"),
        # Amounts are money, not an order.
        ("they only refunded 1200 dollars on 1055", None, "1055", None),
        ("i got 1250 back for 1055, where is the rest", None, "1055", None),
        ("a refund of 312 came for 1055, out of the 1480 I paid", None, "1055", None),
    ],
)
def test_each_number_is_read_for_what_it_is(
    message: str, awaiting: Awaiting, order: str | None, postcode: str | None
) -> None:
    details = extract_details(message, awaiting)
    assert (details.order_number, details.postal_code) == (order, postcode)


@pytest.mark.parametrize(
    ("message", "orders", "postcode"),
    [
        ("ZX7788 60614", ["ZX7788"], "60614"),  # a five-digit number beside a four-digit name is the ZIP
        # An amount as long as the name beside it, and code-shaped: neither a second order nor the postcode.
        ("got 1250 back on ZX7788 only", ["ZX7788"], None),
        ("a refund of 1312 on 1055 and 1056", ["1055", "1056"], None),  # joined orders stay two, the amount drops out
        ("orders ZX7788 and 7790", ["ZX7788", "7790"], None),  # the second typed without its letters
        ("#1234 & #5678", ["1234", "5678"], None),
    ],
)
def test_only_numbers_that_look_like_orders_are_orders(message: str, orders: list[str], postcode: str | None) -> None:
    postal = extract_details(message, None).postal_code
    assert postal == postcode
    assert understand.order_numbers(message, postal) == orders


@pytest.mark.parametrize(
    "turns",
    [
        ["#1031 my zip is 972140000 where is it"],  # ZIP+4 without its dash against the order's five-digit ZIP
        ["1031 97214 it was supposed to be here 2 days ago and it's not"],
        ["where is 1031", "97214 thanks, 3 days late already"],
    ],
)
async def test_an_order_is_proved_by_a_zip_among_other_numbers(turns: list[str]) -> None:
    talked = await talk(*turns)
    assert talked.packages_read(len(turns) - 1)
    assert "email" not in talked.replies[-1].lower()


async def test_an_amount_is_never_looked_up_as_an_order() -> None:
    talked = await talk("i only got 1240 back on 1055, priya.nair@example.com")
    looked_up = [args.get("order_number") for turn in talked.calls for name, args in turn if name == "find_order"]
    assert looked_up and all((n or "").lstrip("#") != "1240" for n in looked_up)
    assert "1240" not in talked.replies[-1] and "1055" in talked.replies[-1]


async def test_a_zip_with_a_military_state_proves_the_order() -> None:
    # The demo store ships #1031 to 97214; after "APO AE" those digits are the ZIP, the letters no order prefix.
    talked = await talk("order 1031, APO AE 97214, how long to get there")
    assert talked.packages_read(0) == ["#1031"]
    assert all(args.get("order_number") != "AE-97214" for turn in talked.calls for _, args in turn)
