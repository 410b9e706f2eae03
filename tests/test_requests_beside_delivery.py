"""A request Lumen can't do (a refund, a cancellation, a return, a new address) beside what the shopper says about the
parcel itself ("the lamp is late", "says delivered, nothing on the step"): on a first look at the order, the delivery
facts come first, then what Lumen can't do and the team offered. The request must not swallow the complaint.

Two stores built here (a US candle shop, en-US, and a British pottery, en-GB; neither is an eval store), with the
complaint and the request in several voices: shouting, terse, polite, slang; the item named or not.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import items_as_the_order, subject_as_the_order
from tests import store_builders as build
from tests.server_helpers import replies


def _package(carrier: str, number: str, item: str, **extra: Any) -> dict[str, Any]:
    return build.package(item, carrier, number) | extra  # `events=` here is the whole field, as Shopify gives it


def _order(name: str, email: str, currency: str, item: str, package: dict[str, Any]) -> dict[str, Any]:
    return build.order(name, email=email, zip_code="97214", currency=currency, items=item, packages=[package])


def _delayed(carrier: str, number: str, item: str, eta: str, note: str) -> dict[str, Any]:
    event = {"status": "DELAYED", "happenedAt": "2026-12-06T14:00:00Z", "message": note, "city": None}
    return _package(carrier, number, item, displayStatus="DELAYED", estimatedDeliveryAt=eta, events={"nodes": [event]})


def _delivered(carrier: str, number: str, item: str, when: str) -> dict[str, Any]:
    event = {"status": "DELIVERED", "happenedAt": when, "message": "Left at front porch", "city": "Portland"}
    return _package(carrier, number, item, displayStatus="DELIVERED", deliveredAt=when, events={"nodes": [event]})


# Fernhollow Candle Co., Portland (en-US, USD), today Monday, December 7, 2026.
US_STORE: dict[str, Any] = {
    "asOf": "2026-12-07T18:00:00Z",
    "shop": {"name": "Fernhollow Candle Co.", "ianaTimezone": "America/Los_Angeles", "currencyCode": "USD",
             "locale": "en-US"},
    "orders": [
        _order("#7201", "dana@example.com", "USD", "Cedar Pillar Candles",
               _delivered("UPS", "1Z7201XK", "Cedar Pillar Candles", "2026-12-03T21:10:00Z")),
        _order("#7202", "dana@example.com", "USD", "Brass Reading Lamp",
               _delayed("FedEx", "770072020001", "Brass Reading Lamp", "2026-12-11T20:00:00Z",
                        "Delay: mechanical problem with the truck")),
        _order("#7203", "dana@example.com", "USD", "Linen Tea Towels",
               _package("USPS", "9400172030000", "Linen Tea Towels", estimatedDeliveryAt="2026-12-09T20:00:00Z")),
    ],
}  # fmt: skip

# Brackenside Pottery, Leeds (en-GB, GBP), the same Monday.
GB_STORE: dict[str, Any] = {
    "asOf": "2026-12-07T12:00:00Z",
    "shop": {"name": "Brackenside Pottery", "ianaTimezone": "Europe/London", "currencyCode": "GBP", "locale": "en-GB"},
    "orders": [
        _order("#4401", "mia@example.co.uk", "GBP", "Speckled Stoneware Teapot",
               _delayed("DPD", "15501234567890", "Speckled Stoneware Teapot", "2026-12-10T12:00:00Z",
                        "Delayed at the depot")),
        _order("#4402", "mia@example.co.uk", "GBP", "Glazed Serving Bowl",
               _delivered("Evri", "H01HYA0044020001", "Glazed Serving Bowl", "2026-12-04T11:30:00Z")),
        _order("#4403", "mia@example.co.uk", "GBP", "Ash Glaze Mug Set",
               _package("Royal Mail", "RM440312345GB", "Ash Glaze Mug Set", displayStatus="FAILURE",
                        events={"nodes": [{"status": "FAILURE", "happenedAt": "2026-12-05T09:00:00Z",
                                           "message": "Item damaged in transit, being returned to sender",
                                           "city": "Leeds"}]})),
    ],
}  # fmt: skip


@pytest.fixture
def stores(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, store in (("us", US_STORE), ("gb", GB_STORE)):
        paths[name] = tmp_path / f"{name}-store.json"
        paths[name].write_text(json.dumps(store), encoding="utf-8")
    return paths


async def first_reply(store: Path, message: str) -> str:
    return (await replies(store, message))[0]


def _facts_then_request(reply: str, facts: list[str], request: str) -> None:
    """Every delivery fact is said, before the sentence saying what Lumen can't do; the team is offered last."""
    for fact in facts:
        assert fact in reply, (fact, reply)
    said = reply.find(request)
    assert said != -1, (request, reply)
    assert all(reply.find(fact) < said for fact in facts), reply
    assert reply.rstrip().endswith("?") and "support team" in reply[said:]
    assert not re.search(r"(?i)\bi(?:'ve| have) (?:issued|processed|refunded|cancelled)", reply)


@pytest.mark.parametrize(
    "message",
    [
        "LAMP IS LATE. 7202 dana@example.com JUST REFUND ME",
        "7202 dana@example.com the reading lamp's running late, can I get my money back instead",
        "dana@example.com #7202 it's overdue and honestly i just want a refund at this point",
    ],
)
async def test_late_parcel_and_a_refund_the_delay_and_its_new_estimate_come_first(
    stores: dict[str, Path], message: str
) -> None:
    reply = await first_reply(stores["us"], message)
    _facts_then_request(reply, ["FedEx", "mechanical problem", "December 11"], "I can't issue refunds")


@pytest.mark.parametrize(
    "message",
    [
        "7201 dana@example.com 'delivered'?? yeah right. nothing on my porch. refund me",
        "'Delivered', apparently. Not on my porch, not with the neighbours. Order 7201, dana@example.com. Refund me.",
        "7201 dana@example.com candles never showed up even tho it says delivered, can i get a refund",
    ],
)
async def test_marked_delivered_not_here_and_a_refund_the_delivery_facts_come_first(
    stores: dict[str, Path], message: str
) -> None:
    reply = await first_reply(stores["us"], message)
    _facts_then_request(reply, ["UPS", "December 3", "1Z7201XK"], "I can't issue refunds")


@pytest.mark.parametrize(
    "message",
    [
        "7202 dana@example.com ugh the lamp is late again, can you cancel it",
        "7202 dana@example.com they're late. cancel",
        "its overdue!!! just cancel the whole thing 7202 dana@example.com",
    ],
)
async def test_late_parcel_and_a_cancellation(stores: dict[str, Path], message: str) -> None:
    reply = await first_reply(stores["us"], message)
    _facts_then_request(reply, ["FedEx", "December 11"], "I can't cancel")


@pytest.mark.parametrize(
    ("store", "turns", "facts", "cannot"),
    [
        ("us", ["lamp is late, just refund me", "7202", "dana@example.com"], ["FedEx", "December 11"], "issue refunds"),
        (
            "us",
            ["delivered?? where?? NOTHING here. refund please", "its 7201 dana@example.com"],
            ["UPS", "December 3"],
            "issue refunds",
        ),
        ("gb", ["my teapot's well overdue, can I cancel", "4401, mia@example.co.uk"], ["DPD", "10 December"], "cancel"),
    ],
)
async def test_the_complaint_said_before_the_details_is_answered_once_the_order_is_proved(
    stores: dict[str, Path], store: str, turns: list[str], facts: list[str], cannot: str
) -> None:
    said = await replies(stores[store], *turns)
    assert not any(fact in reply for reply in said[:-1] for fact in facts)  # nothing told before the proof
    _facts_then_request(said[-1], facts, f"I can't {cannot}")


@pytest.mark.parametrize(
    "message",
    [
        "Hello, my teapot is rather overdue. Could I have a refund instead please? Order 4401, mia@example.co.uk",
        "4401 mia@example.co.uk teapot's late, I'd like to return it when it finally comes",
    ],
)
async def test_a_british_shopper_late_parcel_and_a_request(stores: dict[str, Path], message: str) -> None:
    reply = await first_reply(stores["gb"], message)
    request = "I can't issue refunds" if "refund" in message else "I can't start a return"
    _facts_then_request(reply, ["DPD", "10 December"], request)


async def test_a_british_shopper_marked_delivered_and_a_replacement(stores: dict[str, Path]) -> None:
    reply = await first_reply(
        stores["gb"],
        "4402 mia@example.co.uk tracking says delivered but there's nowt on the doorstep. Can you send me another one?",
    )
    _facts_then_request(reply, ["Evri", "4 December"], "I can't arrange a replacement")


@pytest.mark.parametrize(
    ("store", "message", "facts"),
    [
        ("us", "7203 dana@example.com can I cancel it please", ["USPS", "December 9"]),
        ("us", "I changed my mind, please cancel 7203. dana@example.com", ["USPS", "December 9"]),
        ("gb", "4401 mia@example.co.uk I'd like a refund please", ["DPD", "10 December"]),
    ],
)
async def test_a_request_alone_is_answered_alone(
    store: str, message: str, facts: list[str], stores: dict[str, Path]
) -> None:
    reply = await first_reply(stores[store], message)
    assert "I can't" in reply and "support team" in reply
    assert not any(fact in reply for fact in facts), reply


@pytest.mark.parametrize(
    ("text", "names", "read"),
    [
        ("boots are late", ["Peat Walking Boots"], "my order are late"),
        ("the lamp never came", ["Brass Reading Lamp"], "my order never came"),
        ("my reading lamp is late", ["Brass Reading Lamp"], "my order is late"),
        ("mugs r late", ["Enamel Mug"], "my order r late"),
        ("is the lamp late", ["Cedar Candle"], "is the lamp late"),  # no item of this order: left as written
        ("where is it", ["Brass Reading Lamp"], "where is it"),
    ],
)
def test_an_item_of_the_order_is_read_as_the_order(text: str, names: list[str], read: str) -> None:
    assert items_as_the_order(text, names) == read


@pytest.mark.parametrize(
    ("clause", "read"),
    [
        ("they're late", "my order is late"),
        ("its overdue", "my order is overdue"),
        ("It’s still not here", "my order is still not here"),
        ("it never came", "my order never came"),
        ("item is late", "item is late"),  # no pronoun
        ("itself late", "itself late"),
        ("is it late", "is it late"),  # a question: "it" is no clause's opening subject
    ],
)
def test_it_or_they_opening_a_clause_is_the_order(clause: str, read: str) -> None:
    assert subject_as_the_order(clause) == read


@pytest.mark.parametrize(
    "message",
    [
        "7201 dana@example.com the candles were delivered on thursday but I want to return them",
        "Order 7201 arrived fine, can I return it? dana@example.com",
    ],
)
async def test_a_parcel_the_shopper_has_is_never_said_to_be_missing(stores: dict[str, Path], message: str) -> None:
    reply = await first_reply(stores["us"], message)
    assert "I can't start a return" in reply
    assert "hasn't turned up" not in reply and "can't confirm where the package" not in reply


@pytest.mark.parametrize(
    ("message", "cannot"),
    [
        ("Royal Mail says my mugs got damaged and are going back to you?? can you just send new ones. 4403 "
         "mia@example.co.uk", "replacement"),
        ("4403 mia@example.co.uk tracking says something about damage, cancel it please", "cancel"),
        ("mia@example.co.uk order 4403 - just refund me", "refund"),
    ],
)  # fmt: skip
async def test_a_parcel_the_carrier_reports_damaged_is_said_before_what_lumen_cannot_do(
    stores: dict[str, Path], message: str, cannot: str
) -> None:
    # The carrier's trouble may change what the shopper wants, so a first look at the order says it even though
    # the shopper only made a request; the request's answer and the team's offer follow.
    reply = await first_reply(stores["gb"], message)
    said = reply.find(cannot)
    assert said != -1, reply
    assert "Royal Mail" in reply[:said] and "damaged" in reply[:said], reply
    assert reply.rstrip().endswith("?") and "support team" in reply[said:]
