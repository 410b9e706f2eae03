"""A weekday in a reply stands for a date: the one written after it ("Friday, November 27"), or else the one it names
from the store's today ("arrives Friday": the coming one; "the label was created on Friday": the last one). The guard
accepts it only when the data gives that date on that weekday, not because the weekday's name appears somewhere in
the tool results. A weekday the data names other than as a date's day (a carrier's "Arriving Friday", the merchant's
"we ship on Mondays") may be named as before.

Invented data: today is Saturday 28 November 2026; the label was bought on Friday 27 November.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from agent.grounding import Evidence, ungrounded

SATURDAY = date(2026, 11, 28)
LABEL_FRIDAY = {"iso": "2026-11-27T02:59:08-05:00", "date": "Friday, November 27, 2026", "time": "2:59 AM"}
NEXT_FRIDAY = {"iso": "2026-12-04T12:00:00-05:00", "date": "Friday, December 4, 2026", "time": "12:00 PM"}
SATURDAY_SCAN = {"iso": "2026-11-28T09:10:00-05:00", "date": "Saturday, November 28, 2026", "time": "9:10 AM"}


def _tools(**package: object) -> str:
    return json.dumps({"status": "ok", "packages": [{"status": "LABEL_PURCHASED", **package}]})


def _backing(tools: str, said: str = "where is my parcel?", notes: str = "") -> Evidence:
    data = f"{notes}\n{tools}" if notes else tools
    return Evidence(f"{data}\n{said}", data, frozenset(), said)


@pytest.mark.parametrize(
    "reply",
    [
        "It arrives Friday.",
        "Good news: it will be with you on Friday!",
        "It arrives on Friday, November 28.",  # the data's November 28 is a Saturday
        "It's expected Friday 4 December.",  # a date the data does not give
    ],
)
def test_a_weekday_standing_for_no_date_of_the_data_is_flagged(reply: str) -> None:
    """The data's Friday was the label date, last Friday: no Friday ahead is known."""
    tools = _tools(fulfilled=LABEL_FRIDAY, latest_event={"status": "IN_TRANSIT", "happened": SATURDAY_SCAN})
    assert "day Friday" in ungrounded(reply, _backing(tools), SATURDAY)


@pytest.mark.parametrize(
    "reply",
    [
        "The shipping label was created on Friday, November 27.",
        "The shipping label was created on Friday 27 November.",
        "The label was bought last Friday.",
        "The label was created on Friday.",
    ],
)
def test_a_weekday_standing_for_a_date_of_the_data_passes(reply: str) -> None:
    tools = _tools(fulfilled=LABEL_FRIDAY)
    assert ungrounded(reply, _backing(tools), SATURDAY) == []


def test_the_coming_weekday_passes_when_the_data_gives_that_date() -> None:
    tools = _tools(fulfilled=LABEL_FRIDAY, estimated_delivery=NEXT_FRIDAY)
    assert ungrounded("UPS estimates it arrives Friday.", _backing(tools), SATURDAY) == []
    assert ungrounded("UPS estimates delivery on Friday, December 4.", _backing(tools), SATURDAY) == []


def test_a_weekday_the_data_names_in_words_passes_anywhere() -> None:
    """A carrier's own message and the merchant's notes are taken at their word, as before."""
    carrier = _tools(fulfilled=LABEL_FRIDAY, latest_event={"status": "IN_TRANSIT", "message": "Arriving Friday"})
    assert ungrounded("The carrier says it's arriving Friday.", _backing(carrier), SATURDAY) == []
    notes = "We ship orders on Mondays and Thursdays."
    assert ungrounded("We ship on Monday.", _backing(_tools(), notes=notes), SATURDAY) == []


def test_a_weekday_the_shopper_named_is_said_back_only_as_theirs() -> None:
    tools = _tools(fulfilled=LABEL_FRIDAY)
    said = "will it come by friday?"
    assert ungrounded("I can't promise it will arrive by Friday.", _backing(tools, said), SATURDAY) == []
    assert "day Friday" in ungrounded("It will arrive by Friday.", _backing(tools, said), SATURDAY)


@pytest.mark.parametrize("reply", ["It should arrive Fri.", "Expected Fri, Dec 4.", "It'll be with you by Fri!"])
def test_a_short_weekday_is_checked_like_a_whole_one(reply: str) -> None:
    tools = _tools(fulfilled=LABEL_FRIDAY, latest_event={"status": "IN_TRANSIT", "happened": SATURDAY_SCAN})
    assert "day Friday" in ungrounded(reply, _backing(tools), SATURDAY)


@pytest.mark.parametrize(
    "reply",
    [
        "The label was created on Fri, Nov 27.",
        "It sat at the depot overnight and was scanned this morning.",  # 'sat', no day
        "Keep it out of the sun when it comes.",
    ],
)
def test_short_weekdays_that_stand_for_a_date_of_the_data_or_for_no_day_pass(reply: str) -> None:
    tools = _tools(fulfilled=LABEL_FRIDAY, latest_event={"status": "IN_TRANSIT", "happened": SATURDAY_SCAN})
    assert ungrounded(reply, _backing(tools), SATURDAY) == []


@pytest.mark.parametrize(
    ("reply", "item"),
    [
        ("Your Long Sleeve Sun Shirt is on its way.", "Long Sleeve Sun Shirt"),
        ("Your Sun, Sand & Sea Towel has shipped.", "Sun, Sand & Sea Towel"),
        ("The Sat Nav Mount arrived Saturday, November 28.", "Sat Nav Mount"),
    ],
)
def test_a_short_weekday_inside_a_product_name_is_no_day(reply: str, item: str) -> None:
    tools = _tools(
        fulfilled=LABEL_FRIDAY, items=[item], latest_event={"status": "IN_TRANSIT", "happened": SATURDAY_SCAN}
    )
    assert ungrounded(reply, _backing(tools), SATURDAY) == []
