"""Several days in one message: the first one named after a cue is the deadline (a later one is as often a day that
is no deadline), every one of them is the shopper's own for the guard; and a deadline answer about a parcel the
carrier reported in trouble gives the carrier's own reason, not only the status (invented shop and wordings)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from agent.dates_said import deadline_days, deadline_named
from tests.test_us_shop_kinds import EMAIL, store, talk

__all__ = ["store"]  # the fixture, used by name below

TODAY = date(2026, 12, 1)  # a Tuesday


@pytest.mark.parametrize(
    ("message", "day"),
    [
        ("need it by friday for my son's 2nd birthday", date(2026, 12, 4)),
        ("need it by the 20th, not before the 10th as i'm away", date(2026, 12, 20)),
        ("need it by the 24th. i'm away before the 10th so send it after", date(2026, 12, 24)),
        ("it was meant to come by the 3rd. will it be here by christmas?", date(2026, 12, 25)),
    ],
)
def test_the_first_day_named_is_the_deadline(message: str, day: date) -> None:
    found = deadline_named(message, TODAY, "en_US")
    assert found is not None and found.day == day


def test_every_day_named_is_the_shoppers_own() -> None:
    days = deadline_days("will it come before christmas? i need it for the 20th", TODAY)
    assert {date(2026, 12, 25), date(2026, 12, 20)} <= days


@pytest.mark.parametrize(
    "message",
    [
        f"RP-5104 {EMAIL} will it get here before christmas?",
        f"{EMAIL} RP-5104 gonna make it by the 20th?",
    ],
)
async def test_a_deadline_answer_about_a_delayed_parcel_gives_the_carriers_reason(store: Path, message: str) -> None:
    reply = (await talk(store, message)).replies[0]
    assert "Snowstorm has delayed delivery" in reply
