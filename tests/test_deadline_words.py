"""Deadlines said as a part of a week or a month ("by the end of the week", "before the end of the month", "by early
next week") or as a day fixed by Easter (Good Friday, Easter Sunday, Easter Monday): read in US and British shops
alike, answered with the deadline answer's own wording, and accepted by the grounding guard as the shopper's own day.

The end of a week is its Friday in both locales (a US week starts on Sunday and a British one on Monday, but both
keep a Saturday-Sunday weekend, and "by the end of the week" means before it); its start is its Monday.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from agent.dates_said import Deadline, deadline_days, deadline_named, easter_sunday
from agent.grounding import Evidence, ungrounded
from agent.service import Lumen
from config import Settings
from tests import store_builders as build

MONDAY = date(2026, 12, 7)
SATURDAY = date(2026, 12, 12)
LOCALES = ("en_US", "en_GB")


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    ("message", "today", "day", "strict"),
    [
        ("will it be here by the end of the week?", MONDAY, date(2026, 12, 11), False),
        ("need it by end of the wk pls", MONDAY, date(2026, 12, 11), False),
        ("Could it arrive by the end of this week?", MONDAY, date(2026, 12, 11), False),
        ("by the end of the week??", SATURDAY, date(2026, 12, 18), False),  # the coming Friday
        ("any chance before the end of next week", MONDAY, date(2026, 12, 18), True),
        ("hoping to have it by the weekend", MONDAY, date(2026, 12, 12), False),
        ("will it come by the weekend", SATURDAY, date(2026, 12, 12), False),  # this weekend is under way
        ("will it arrive before the end of the month", MONDAY, date(2026, 12, 31), True),
        ("needed by end of month", date(2026, 12, 31), date(2026, 12, 31), False),  # the last day is today
        ("need it by the end of next month", MONDAY, date(2027, 1, 31), False),
        ("can it get here by early next week?", MONDAY, date(2026, 12, 14), False),
        ("by the beginning of next week", date(2026, 12, 13), date(2026, 12, 14), False),  # on a Sunday: tomorrow
        ("in time for the start of next month", MONDAY, date(2027, 1, 1), False),
        ("by the end of January", MONDAY, date(2027, 1, 31), False),
        ("can it be delivered by the end of the day", MONDAY, MONDAY, False),
        ("will it be here in time for Easter", MONDAY, date(2027, 3, 28), False),
        ("need it by good friday", MONDAY, date(2027, 3, 26), False),  # not the coming Friday
        ("before Easter Monday?", MONDAY, date(2027, 3, 29), True),
        ("by easter weekend", MONDAY, date(2027, 3, 26), False),  # the weekend starts with Good Friday
        ("for easter sunday", date(2027, 3, 29), date(2028, 4, 16), False),  # this year's is gone: next year's
    ],
)
def test_parts_of_weeks_and_months_and_easter_days_are_read(
    message: str, today: date, day: date, strict: bool, locale: str
) -> None:
    assert deadline_named(message, today, locale) == Deadline(day, strict)
    assert day in deadline_days(message, today)  # what the grounding guard lets a reply repeat


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "message",
    [
        "it was supposed to come by the end of last week",  # a promise gone by
        "it should have been here by the end of the month",  # a promise, said as past
        "could it come early this week",  # this week's start is gone by
        "the end of the week is busy for me",  # no cue: no deadline
        "what's the weekly special",
    ],
)
def test_no_deadline_where_none_is_still_to_come(message: str, locale: str) -> None:
    assert deadline_named(message, date(2026, 12, 9), locale) is None


@pytest.mark.parametrize(
    ("year", "sunday"),
    [
        (2024, date(2024, 3, 31)),
        (2025, date(2025, 4, 20)),
        (2026, date(2026, 4, 5)),
        (2027, date(2027, 3, 28)),
        (2038, date(2038, 4, 25)),  # the latest date Easter can fall on
        (2285, date(2285, 3, 22)),  # the earliest
    ],
)
def test_easter_sunday_is_computed(year: int, sunday: date) -> None:
    assert easter_sunday(year) == sunday


# --- answered -------------------------------------------------------------------------------------------------------


def _store(locale: str, timezone: str, currency: str, eta: str) -> dict[str, Any]:
    """One shop, today Monday 7 December 2026, with an order whose carrier estimates `eta`."""
    item = "Walnut Chopping Board"
    package = build.package(
        item, "UPS", "1Z5150QX", eta=eta, created_at="2026-12-02T15:00:00Z", in_transit_at="2026-12-02T20:00:00Z"
    )
    order = build.order(
        "#5150",
        email="kit@example.com",
        zip_code="02139",
        items=item,
        packages=[package],
        amount="42.00",
        currency=currency,
        id_prefix="99",
        ordered_at="2026-12-01T15:00:00Z",
        original_total=False,
    )
    shop = build.shop("Millbrook Woodworks", timezone, currency, locale=locale)
    return build.store(shop, [order], as_of="2026-12-07T15:00:00Z")


async def _reply(tmp_path: Path, store: dict[str, Any], message: str) -> str:
    path = tmp_path / "store.json"
    path.write_text(json.dumps(store), encoding="utf-8")
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=path)
    try:
        return (await lumen.chat(message, None)).reply
    finally:
        await lumen.close()


US = ("en-US", "America/New_York", "USD")
GB = ("en-GB", "Europe/London", "GBP")


@pytest.mark.parametrize(
    ("shop", "message", "said"),
    [
        (US, "5150 kit@example.com will it be here by the end of the week?", "before December 11"),
        (GB, "5150 kit@example.com any chance it comes by the end of the week", "before 11 December"),
        (US, "5150 kit@example.com need it before the end of the month!", "before December 31"),
        (GB, "5150 kit@example.com in time for Easter?", "before 28 March 2027"),
    ],
)
async def test_an_estimate_before_the_day_is_answered_as_the_carriers(
    tmp_path: Path, shop: tuple[str, str, str], message: str, said: str
) -> None:
    reply = await _reply(tmp_path, _store(*shop, eta="2026-12-10T20:00:00Z"), message)
    assert "UPS estimates delivery on" in reply and said in reply
    assert "can't promise" in reply


@pytest.mark.parametrize(
    ("shop", "message", "said"),
    [
        (US, "5150 kit@example.com can it get here by early next week", "by December 14"),
        (GB, "5150 kit@example.com will it arrive by the end of the week?", "by 11 December"),
        (GB, "5150 kit@example.com hoping for it before the weekend", "before 12 December"),
    ],
)
async def test_an_estimate_after_the_day_is_said_plainly(
    tmp_path: Path, shop: tuple[str, str, str], message: str, said: str
) -> None:
    reply = await _reply(tmp_path, _store(*shop, eta="2026-12-16T20:00:00Z"), message)
    assert f"isn't expected to arrive {said}" in reply


def test_the_guard_accepts_a_day_read_from_the_end_of_the_week() -> None:
    tools = '{"estimated_delivery": {"iso": "2026-12-10T14:00:00-05:00"}}'
    reply = "UPS estimates delivery on December 10, before December 11."
    asked = "will it be here by the end of the week"
    assert ungrounded(reply, Evidence(tools + "\n" + asked, tools, frozenset(), asked), MONDAY) == []
    unasked = Evidence(tools + "\nwhere is it", tools, frozenset(), "where is it")
    assert ungrounded(reply, unasked, MONDAY) == ["date 12/11"]
