"""A deadline question naming two days is measured against the earlier one, and a deadline answer about a parcel the
carrier reported in trouble gives the carrier's own reason, not only the status (invented shop and wordings)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent.dates_said import deadline_named
from tests.test_us_shop_kinds import EMAIL, store, talk

__all__ = ["store"]  # the fixture, used by name below

TODAY = date(2026, 12, 7)  # a Monday


@pytest.mark.parametrize(
    ("message", "day"),
    [
        ("will it come before christmas? i need it for the 20th", date(2026, 12, 20)),
        ("need it by the 18th, definitely before new year", date(2026, 12, 18)),
        ("by friday ideally, by the 15th at the latest", date(2026, 12, 11)),
        ("it was meant to come by the 3rd. will it be here by christmas?", date(2026, 12, 25)),
    ],
)
def test_the_earlier_of_two_days_is_the_deadline(message: str, day: date) -> None:
    found = deadline_named(message, TODAY, "en_US")
    assert found is not None and found.day == day


@pytest.mark.parametrize(
    "message",
    [
        f"RP-5104 {EMAIL} will it get here before christmas? need it for the 19th",
        f"{EMAIL} RP-5104 gonna make it by the 20th?",
    ],
)
async def test_a_deadline_answer_about_a_delayed_parcel_gives_the_carriers_reason(store: Path, message: str) -> None:
    reply = (await talk(store, message)).replies[0]
    assert "Snowstorm has delayed delivery" in reply
    assert "December 25" not in reply  # the shopper's own, earlier day is what it is measured against
