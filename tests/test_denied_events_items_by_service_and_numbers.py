"""Three readings the merge of round 11 needed, each a construction, not a set's sentence: the shopper denying what
the carrier recorded them doing, an item of the order asked to be sent by a faster service, and "the number doesn't
work" about a tracking number. Read on their own and in a conversation on an invented Cornish shop."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.playbook.after_status import tracking_broken
from agent.playbook.service_change import service_change_asked
from agent.playbook.understand import _exact_acts
from tests.server_helpers import replies, write_store


@pytest.mark.parametrize(
    "text",
    [
        "it says picked up at the post office but i never went there",
        "tracking says collected?? we never collected it",
        "apparently signed for, i didn't sign for anything",
        "says I picked them up from the locker. I never picked them up",
        "I have never been to the post office it names",
    ],
)
def test_a_shopper_denying_what_the_carrier_recorded_has_not_got_the_parcel(text: str) -> None:
    assert "delivered_not_received" in _exact_acts(text)


@pytest.mark.parametrize(
    "text",
    [
        "I haven't picked it up yet, how long will they keep it?",
        "i didn't pick it up yet",
        "can i pick it up tomorrow",
        "I went there yesterday and got it, thanks",
    ],
)
def test_a_parcel_not_yet_collected_is_not_denied(text: str) -> None:
    assert "delivered_not_received" not in _exact_acts(text)


@pytest.mark.parametrize(
    "text",
    [
        "can u send the saffron buns by express? need them by friday",
        "could you ship my walking boots overnight",
        "please post both scarves by priority mail",
    ],
)
def test_an_item_of_the_order_sent_by_a_faster_service_is_a_shipping_change(text: str) -> None:
    assert service_change_asked(text) == "change_shipping"


@pytest.mark.parametrize("text", ["my express order, where is it?", "i paid for express and it's still not here"])
def test_a_service_named_but_not_asked_for_is_no_change(text: str) -> None:
    assert service_change_asked(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "the royal mail number doesnt work on their site",
        "that number isn't working",
        "the website says not found",
    ],
)
def test_a_number_or_site_that_does_not_work_is_the_tracking_broken(text: str) -> None:
    assert tracking_broken(text)


STORE = {
    "asOf": "2026-12-07T10:00:00Z",
    "shop": {"name": "Kernow Kitchen", "currencyCode": "GBP", "ianaTimezone": "Europe/London", "locale": "en-GB",
             "countryCode": "GB", "orderNumberFormatPrefix": "#KK", "orderNumberFormatSuffix": ""},
    "orders": [{
        "id": "gid://shopify/Order/9101", "name": "#KK9101", "email": "tamsin@example.co.uk",
        "createdAt": "2026-12-01T09:00:00Z", "displayFulfillmentStatus": "FULFILLED",
        "displayFinancialStatus": "PAID", "cancelledAt": None, "cancelReason": None,
        "shippingAddress": {"zip": "TR1 2AB", "city": "Truro", "countryCodeV2": "GB"},
        "customer": None, "lineItems": {"nodes": [{"name": "Saffron Bun Tin", "quantity": 1}]},
        "totalPriceSet": {"shopMoney": {"amount": "24.00", "currencyCode": "GBP"}}, "refunds": [],
        "fulfillmentOrders": {"nodes": []},
        "fulfillments": [{
            "id": "gid://shopify/Fulfillment/1", "status": "SUCCESS", "displayStatus": "DELIVERED",
            "createdAt": "2026-12-02T09:00:00Z", "deliveredAt": "2026-12-05T11:00:00Z",
            "estimatedDeliveryAt": None, "inTransitAt": "2026-12-02T18:00:00Z",
            "trackingInfo": [{"company": "Royal Mail", "number": "KK910100000GB", "url": None}],
            "fulfillmentLineItems": {"nodes": [{"lineItem": {"name": "Saffron Bun Tin"}, "quantity": 1}]},
            "events": {"nodes": [{"status": "DELIVERED", "happenedAt": "2026-12-05T11:00:00Z",
                                  "message": "Collected by customer from the Post Office", "city": "Truro"}]},
        }],
    }],
}  # fmt: skip


async def test_denying_the_collection_gets_what_lumen_cannot_confirm_and_the_team(tmp_path: Path) -> None:
    store = write_store(tmp_path / "kernow.json", STORE)
    (reply,) = await replies(
        store, "KK9101 tamsin@example.co.uk it says collected from the post office but I never went"
    )
    assert "KK910100000GB" in reply and "can't confirm" in reply and "support team" in reply
