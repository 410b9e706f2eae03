"""Two misreadings on a shop in New Zealand, each on an invented shop, in several wordings:

- a yes or a no in te reo Māori (or the Samoan and Tongan that New Zealanders mix in) to an offer: "āe, kia ora"
  takes the offer up, "kāo" declines it; never "You're welcome";
- "what does picked up mean?" of a parcel the carrier has just collected from the shop: what the order's own status
  means (the carrier has it, it is starting its journey), never a collection from a pickup point.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import firm_yes, named_statuses, offer_answer, statuses_as_shown
from tests.test_order_name_shape import _order
from tests.test_understanding import talk

EMAIL = "mere.tawhiri@example.net"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """'Harakeke & Co', Whanganui: '#HK4401' just collected from the shop by Aramex (Woven Kete), '#HK4402' not
    shipped (Flax Coasters)."""
    collected = _order("#HK4401", 4401, EMAIL, "4500", "NZ", ["Woven Kete"], True)
    package = collected["fulfillments"][0]
    package["displayStatus"] = "CARRIER_PICKED_UP"
    package["trackingInfo"] = [{"company": "Aramex", "number": "AX44010001", "url": None}]
    package["events"]["nodes"] = [
        {"status": "CARRIER_PICKED_UP", "happenedAt": "2026-09-13T03:00:00Z", "message": "Picked up from sender",
         "city": "Whanganui", "province": None, "country": None},
    ]  # fmt: skip
    waiting = _order("#HK4402", 4402, EMAIL, "4500", "NZ", ["Flax Coasters"], False)
    shop: dict[str, Any] = {"name": "Harakeke & Co", "myshopifyDomain": "harakeke.myshopify.com",
                            "ianaTimezone": "Pacific/Auckland", "currencyCode": "NZD", "locale": "en-NZ",
                            "contactEmail": "kiaora@harakeke.example", "orderNumberFormatPrefix": "#HK",
                            "orderNumberFormatSuffix": ""}  # fmt: skip
    path = tmp_path / "harakeke.json"
    document = {"shop": shop, "asOf": "2026-09-14T12:00:00Z", "orders": [collected, waiting]}
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# --- a yes in te reo ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("answer", ["ae thanks", "Āe, kia ora", "āe mārika", "ae marika e hoa", "ioe please", "io ta"])
def test_a_yes_in_te_reo_or_a_pacific_language_takes_up_an_offer(answer: str) -> None:
    assert offer_answer(answer) == "yes"
    assert firm_yes(answer)


@pytest.mark.parametrize("answer", ["kāo", "kao thanks", "kāore, ngā mihi", "leai"])
def test_a_no_in_te_reo_or_a_pacific_language_declines_it(answer: str) -> None:
    assert offer_answer(answer) == "no"
    assert not firm_yes(answer)


@pytest.mark.parametrize("answer", ["ae thanks", "āe, kia ora"])
async def test_a_yes_in_te_reo_to_the_offer_hands_over(shop: Path, answer: str) -> None:
    said = await talk(f"please cancel #HK4402 {EMAIL}", answer, store=shop)
    assert "support team" in said.replies[0]
    assert said.escalations(), said.replies[1]
    assert "welcome" not in said.replies[1].lower()


# --- a status's meaning, as the order shows it ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("shown", "named", "read"),
    [
        (["CARRIER_PICKED_UP"], ["PICKED_UP"], ("CARRIER_PICKED_UP",)),  # "picked up" short for the carrier's
        (["PICKED_UP", "CARRIER_PICKED_UP"], ["PICKED_UP"], ("PICKED_UP",)),  # the named one shown: as named
        (["DELIVERED"], ["IN_TRANSIT"], ("IN_TRANSIT",)),  # a name of no shown status: as named
        ([], ["PICKED_UP"], ("PICKED_UP",)),
    ],
)
def test_a_named_status_is_read_as_the_one_the_order_shows(
    shown: list[str], named: list[str], read: tuple[str, ...]
) -> None:
    assert statuses_as_shown(named, shown) == read


@pytest.mark.parametrize(
    "question",
    ["wat does picked up mean, does that mean its here", "it says picked up?? what does that mean",
     "what does 'picked up' mean"],
)  # fmt: skip
async def test_picked_up_of_a_parcel_the_carrier_collected_means_the_carrier_has_it(shop: Path, question: str) -> None:
    assert named_statuses(question) == ("PICKED_UP",)
    said = await talk(f"4401 {EMAIL}", question, store=shop)
    assert "Aramex" in said.replies[0]
    reply = said.replies[1]
    assert "carrier" in reply and "journey" in reply, reply
    assert "pickup point" not in reply and "delivered" not in reply.lower()
