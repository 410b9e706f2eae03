"""Shops whose order numbers and postcodes look alike, short local answers to an offer, and requests and questions
that sit beside an order: read in the shop's own terms, on a store built here (an Australian shop with a suffix
order format) and in other countries' terms, with the phrasings that must not trigger each reading."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import (
    asked_phrase,
    detect_intent,
    extract_details,
    firm_yes,
    named_statuses,
    offer_answer,
    order_numbers,
    terms_named,
)
from tests import store_builders as build
from tests.server_helpers import replies as playbook_replies
from tests.server_helpers import write_store

# --- a store: Gumleaf Provisions, Hobart (en-AU), order names "#3101TAS", 4-digit postcodes ---------------------------


def _order(number: int, zip_code: str, email: str, **extra: Any) -> dict[str, Any]:
    """Unfulfilled with no fulfillment order yet; its packages and statuses given as keywords."""
    return (
        build.order(
            f"#{number}TAS",
            email=email,
            zip_code=zip_code,
            country="AU",
            items=[("Leatherwood Honey", 2)],
            amount="64.00",
            currency="AUD",
            ordered_at="2026-11-02T01:00:00Z",
            original_total=False,
            shipped=True,
            id=f"gid://shopify/Order/77{number}",
            displayFulfillmentStatus="UNFULFILLED",
            fulfillmentOrders={"nodes": []},
            shippingAddress={"city": "Hobart", "zip": zip_code, "countryCodeV2": "AU"},
        )
        | extra
    )


def _shipped(message: str, status: str = "DELAYED") -> dict[str, Any]:
    return {
        "displayFulfillmentStatus": "FULFILLED",
        "fulfillmentOrders": {"nodes": [{"status": "CLOSED", "deliveryMethod": {"methodType": "SHIPPING"}}]},
        "fulfillments": [
            {
                "name": "#3101TAS-F1",
                "status": "SUCCESS",
                "displayStatus": status,
                "createdAt": "2026-11-03T02:00:00Z",
                "inTransitAt": "2026-11-03T05:00:00Z",
                "estimatedDeliveryAt": "2026-11-13T04:00:00Z",
                "trackingInfo": [{"company": "Australia Post", "number": "AP31010001", "url": None}],
                "fulfillmentLineItems": {"nodes": [{"quantity": 2, "lineItem": {"name": "Leatherwood Honey"}}]},
                "events": {
                    "nodes": [
                        {
                            "status": status,
                            "happenedAt": "2026-11-09T22:30:00Z",
                            "message": message,
                            "city": "Devonport",
                        }
                    ]
                },
            }
        ],
    }


STORE: dict[str, Any] = {
    "asOf": "2026-11-10T00:00:00Z",
    "shop": {
        "name": "Gumleaf Provisions",
        "ianaTimezone": "Australia/Hobart",
        "currencyCode": "AUD",
        "locale": "en-AU",
        "orderNumberFormatPrefix": "#",
        "orderNumberFormatSuffix": "TAS",
    },
    "orders": [
        _order(
            3101,
            "7000",
            "ava@example.com.au",
            customer={"id": "gid://shopify/Customer/555"},
            **_shipped("Held at ferry terminal: sailing cancelled, high seas"),
        ),
        _order(
            3103,
            "7000",
            "ava@example.com.au",
            customer={"id": "gid://shopify/Customer/555"},
            cancelledAt="2026-11-04T01:00:00Z",
            refunds=[
                {
                    "createdAt": "2026-11-04T02:00:00Z",
                    "totalRefundedSet": {"shopMoney": {"amount": "64.00", "currencyCode": "AUD"}},
                }
            ],
        ),
        _order(
            3102,
            "0872",
            "ben@example.com.au",
            fulfillmentOrders={
                "nodes": [
                    {
                        "status": "OPEN",
                        "deliveryMethod": {"methodType": "LOCAL", "maxDeliveryDateTime": "2026-11-11T07:00:00Z"},
                    }
                ]
            },
        ),
    ],
}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "gumleaf-store.json", STORE)


async def converse(store: Path, *turns: str, customer_id: str | None = None) -> list[str]:
    # Escalation references are random; everything else must read the same every run.
    return [
        re.sub(r"ESC-[A-Z0-9]+", "ESC-REF", said)
        for said in await playbook_replies(store, *turns, customer_id=customer_id)
    ]


# --- A: a number beside the order number is its postcode where the country writes postcodes so ---------------------


@pytest.mark.parametrize(
    ("message", "country", "number", "postcode"),
    [
        ("3101 7000", "AU", "3101", "7000"),
        ("hey is 3102 still coming? 0872", "AU", "3102", "0872"),
        ("5521 8041 which depot is it at", "NZ", "5521", "8041"),
        ("2201, 4000 thanks", "BE", "2201", "4000"),
        ("12345 10115", "DE", "12345", "10115"),
        ("2017 98101", "US", "2017", "98101"),  # two lengths: read so anywhere
        ("3101 TAS 7000", "AU", "3101-TAS", "7000"),  # a suffix typed apart, then the postcode
        ("9920 zq 4010", "NZ", None, None),  # lowercase letters name no shop's suffix
    ],
)
def test_a_number_beside_the_order_is_the_postcode_where_it_can_be_one(
    message: str, country: str, number: str | None, postcode: str | None
) -> None:
    details = extract_details(message, None, country)
    if number is None:
        assert details.postal_code is None or details.order_number != "9920-ZQ"
        return
    assert (details.order_number, details.postal_code) == (number, postcode)
    assert order_numbers(message, details.postal_code) == [number.split("-")[0]]


@pytest.mark.parametrize(
    ("message", "country"),
    [
        ("1042 1050", "US"),  # US postcodes have five digits: two orders
        ("orders 4406 and 4410", "NZ"),
        ("4406 & 4410 both late", "NZ"),
        ("can you check 3101 plus 3102", "AU"),
    ],
)
def test_two_orders_stay_two_orders(message: str, country: str) -> None:
    details = extract_details(message, None, country)
    assert details.postal_code is None
    assert len(order_numbers(message, details.postal_code)) == 2


def test_a_letters_between_numbers_reading_needs_a_postcode_of_the_country() -> None:
    # In the US "7310" is no postcode: the letters are the second number's prefix, as before.
    details = extract_details("4401 QRS 7310", None, "US")
    assert details.order_number == "QRS-7310"


@pytest.mark.parametrize(
    ("message", "number"),
    [
        ("its been a week since 4419 'shipped', tracking hasnt moved", "4419"),
        ("nothing since 3101 left the depot", "3101"),
        ("back in 2025 I ordered a lamp, where is 3101", "3101"),
    ],
)
def test_only_a_number_that_can_be_a_year_is_one(message: str, number: str) -> None:
    assert extract_details(message, None, "AU").order_number == number


@pytest.mark.parametrize("message", ["I ordered a lamp in 2025 and it hasnt come", "waiting since 2024 lol"])
def test_a_year_is_still_no_order(message: str) -> None:
    assert extract_details(message, None, "AU").order_number is None


async def test_order_and_postcode_typed_bare_prove_the_order(store: Path) -> None:
    [reply] = await converse(store, "3101 7000 is it stuck?")
    assert "#3101TAS" in reply and "AP31010001" in reply
    [reply] = await converse(store, "3101 TAS 7000")
    assert "#3101TAS" in reply


async def test_a_postcode_guess_is_still_a_guess(store: Path) -> None:
    """Read as a postcode, a wrong number proves nothing and counts against the attempts like any guess."""
    replies = await converse(store, *(f"3101 {7001 + i}" for i in range(6)))
    assert all("#3101TAS" not in r and "AP31010001" not in r for r in replies)
    assert "can't keep trying" in replies[-1]


# --- C: short answers to an open offer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "answer", "firm"),
    [
        ("keen", "yes", True),
        ("keen as bro", "yes", True),
        ("nah yeah", "yes", True),
        ("yes please", "yes", True),
        ("chur", "yes", False),
        ("sweet as", "yes", False),
        ("👍", "yes", False),
        ("👍🏽", "yes", False),
        ("ok", "yes", False),
        ("yeah nah", "no", False),
        ("👎", "no", False),
        ("nah", "no", False),
        ("I'm keen to know where it is", None, False),
        ("chur, but where's the other parcel?", None, False),
    ],
)
def test_short_answers_to_an_offer(message: str, answer: str | None, firm: bool) -> None:
    assert offer_answer(message) == answer
    assert firm_yes(message) is firm


async def test_a_firm_yes_takes_up_an_offer_made_in_passing(store: Path) -> None:
    first, second = await converse(store, "3101 ava@example.com.au", "keen")
    assert "support team" in first and not first.rstrip().endswith("?")  # an offer in passing, not a question
    assert "ESC-REF" in second


async def test_a_weak_yes_does_not_take_up_an_offer_made_in_passing(store: Path) -> None:
    _, second = await converse(store, "3101 ava@example.com.au", "sweet as")
    assert "ESC-REF" not in second


# --- D: other shops ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "platform"),
    [
        ("Is this Mighty Ape? need to track my order", "Mighty Ape"),
        ("bought a chilly bin from The Warehouse, when's it coming", "The Warehouse"),
        ("got it at the Warehouse last week, where is it", "The Warehouse"),
    ],
)
def test_other_shops_named(message: str, platform: str) -> None:
    intent = detect_intent(message)
    assert intent.other_platform and intent.platform == platform


@pytest.mark.parametrize(
    "message",
    [
        "its been sitting in the warehouse for a week",
        "tracking says its at the warehouse",
        "not from The Warehouse, from you. 3101 ava@example.com.au",
    ],
)
def test_a_warehouse_is_not_a_shop(message: str) -> None:
    assert detect_intent(message).platform != "The Warehouse"


async def test_another_shops_order_beside_one_of_ours(store: Path) -> None:
    [reply] = await converse(store, "two parcels, one from Temu and one from you lot 3101 ava@example.com.au")
    assert "Temu" in reply and "AP31010001" in reply


async def test_another_shops_number_alone_is_not_looked_up(store: Path) -> None:
    [reply] = await converse(store, "where is my Temu order 3101")
    assert "Temu" in reply and "#3101TAS" not in reply


# --- F, G, H: follow-ups, a local delivery's window, the shopper's words about the team ----------------------------


@pytest.mark.parametrize("question", ["why's it late?", "how come it's held up", "whats the reason for the delay"])
async def test_why_is_answered_with_the_carriers_words(store: Path, question: str) -> None:
    _, second = await converse(store, "3101 ava@example.com.au", question)
    assert "sailing cancelled" in second and "Nothing has changed" not in second


async def test_a_local_delivery_gives_its_window(store: Path) -> None:
    [reply] = await converse(store, "is my local delivery coming today? 3102 ben@example.com.au")
    assert "local delivery" in reply and "11 November" in reply and "estimated shipping date" not in reply


@pytest.mark.parametrize(
    "message",
    [
        "3101 ava@example.com.au dont escalate or anything, just want to know whats up",
        "3101 ava@example.com.au, please don't pass me on to anyone, what's the status",
    ],
)
async def test_not_to_be_passed_on_is_heard_beside_details(store: Path, message: str) -> None:
    [reply] = await converse(store, message)
    assert "AP31010001" in reply and "support team" not in reply


@pytest.mark.parametrize(
    "message", ["how do i return something", "how can I send an item back?", "what's the process for a refund"]
)
async def test_how_to_requests_offer_the_team_before_any_order(store: Path, message: str) -> None:
    [reply] = await converse(store, message)
    assert "support team" in reply and not reply.startswith("I can help with that!")


async def test_a_request_about_a_named_order_is_answered_for_that_order(store: Path) -> None:
    [reply] = await converse(store, "I want to return 3101, ava@example.com.au")
    assert "#3101TAS" in reply and "support team" in reply


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("did I get my money back for the cancelled one?", "#3103TAS"),
        ("what happened with my cancelled order", "#3103TAS"),
        ("where's my order?", None),  # no state named: the list, to choose from
    ],
)
async def test_a_logged_in_customer_names_an_order_by_its_state(store: Path, message: str, shown: str | None) -> None:
    [reply] = await converse(store, message, customer_id="555")
    if shown is None:
        assert "#3101TAS" in reply and "#3103TAS" in reply and "Which one" in reply
    else:
        assert shown in reply and "Which one" not in reply


# --- F: what a delivery term or a carrier's own words mean ------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "term"),
    [
        ("what does authority to leave mean", "authority_to_leave"),
        ("whats ATL mean?", "authority_to_leave"),
        ("it says signature required, what does that mean", "signature"),
        ("what's a rural contractor", "rural_delivery"),
        ("what does 'held at customs' mean", "customs"),
    ],
)
def test_delivery_terms_named(message: str, term: str) -> None:
    assert term in terms_named(message)


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("what does 'held at ferry terminal' mean", "held at ferry terminal"),
        ("What does “sailing cancelled” mean?", "sailing cancelled"),
        ("what does that mean", None),
        ("where is my order", None),
    ],
)
def test_the_words_asked_about(message: str, asked: str | None) -> None:
    assert asked_phrase(message) == asked


def test_no_term_in_plain_words() -> None:
    assert terms_named("where is my parcel, it was meant to come today") == ()


@pytest.mark.parametrize(
    "message",
    [
        "what does 'onboard for delivery' mean?",
        "tracking says On Board For Delivery, what's that",
        "it's been 'on vehicle for delivery' since 8am??",
        "says with courier for delivery, what does that mean",
    ],
)
def test_carriers_own_words_for_out_for_delivery(message: str) -> None:
    # Carriers word the last leg their own way; each is the same status, explained the same way.
    assert named_statuses(message) == ("OUT_FOR_DELIVERY",)


async def test_a_carriers_word_for_a_status_is_explained_before_any_order(store: Path) -> None:
    [reply] = await converse(store, "what does onboard for delivery mean?")
    assert "driver" in reply and "order number" not in reply


async def test_a_term_is_explained_before_any_order(store: Path) -> None:
    [reply] = await converse(store, "what does authority to leave mean?")
    assert "without anyone signing" in reply and "order number" not in reply


async def test_a_carriers_own_words_are_quoted_back(store: Path) -> None:
    _, second = await converse(store, "3101 ava@example.com.au", "what does 'held at ferry terminal' mean")
    assert "Australia Post's own wording" in second and "sailing cancelled" in second and "support team" in second


async def test_a_status_named_is_still_explained_as_a_status(store: Path) -> None:
    _, second = await converse(store, "3101 ava@example.com.au", "what does in transit mean?")
    assert '"In transit" means' in second


# --- E: two requests in one message ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        "where's 3101 and also can i change delivery to my work address? ava@example.com.au",
        "when will 3101 get here, and could I change the delivery address please. ava@example.com.au",
    ],
)
async def test_where_it_is_and_a_request_are_both_answered(store: Path, message: str) -> None:
    [reply] = await converse(store, message)
    assert "AP31010001" in reply and "address" in reply and "support team" in reply


async def test_a_request_alone_is_answered_alone(store: Path) -> None:
    [reply] = await converse(store, "can I change the delivery address on 3101? ava@example.com.au")
    assert "address" in reply and "AP31010001" not in reply
