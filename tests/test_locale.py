"""The shop's locale: dates, times, money and words the way its shoppers write them, on every path (the playbook's
replies, the tools' views, the grounding guard), and postcodes matched whatever their spacing and case."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.core import instructions_for
from agent.deps import Deps
from agent.grounding import ungrounded
from agent.playbook.compose import LocaleReplies
from shopify import FixtureStore
from shopify.domain import Shop
from shopify.store_file import DEMO_STORE
from tests.server_helpers import replies as conversation
from tools.context import SessionState
from tools.views import when

UK_STORE = Path(__file__).resolve().parent / "data" / "second-store.json"
US_MONTH_FIRST = re.compile(
    r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December)\s+\d"
)
TWELVE_HOUR = re.compile(r"\d\s?(?:AM|PM|a\.m\.|p\.m\.)", re.IGNORECASE)


@pytest.fixture
async def uk_shop() -> AsyncIterator[Shop]:
    yield await FixtureStore(UK_STORE).shop()


async def test_the_uk_store_is_en_gb(uk_shop: Shop) -> None:
    assert uk_shop.locale == "en_GB"
    assert (await FixtureStore(DEMO_STORE).shop()).locale == "en_US"


# --- a whole conversation in each locale --------------------------------------------------------------------------


async def test_an_en_gb_shop_says_postcode_29_october_and_a_24_hour_clock() -> None:
    lost = await conversation(
        UK_STORE,
        "hi, where's my parcel?",
        "I can't find my order number anywhere",
        "thomas.walsh@example.co.uk",
        "b11bb",  # the postcode B1 1BB, typed without its space and in lower case
    )
    assert "postcode" in lost[1] and "postcode" in lost[2]
    assert all("ZIP" not in reply and "postal code" not in reply for reply in lost)
    assert "FF-2108" in lost[3] and "2 June" in lost[3] and "£289.00" in lost[3]

    delivered = await conversation(
        UK_STORE, "It says delivered but it never came. FF-2101, postcode eh11yz", "no thanks, I'll ask the neighbours"
    )
    assert "5 June at 13:31" in delivered[0] and "Edinburgh" in delivered[0]
    for reply in [*lost, *delivered]:
        assert not US_MONTH_FIRST.search(reply) and not TWELVE_HOUR.search(reply), reply


async def test_an_en_us_shop_says_zip_code_february_26_and_a_12_hour_clock() -> None:
    lost = await conversation(
        DEMO_STORE, "where is my order?", "I lost the order number", "jordan.lee@example.com", "78704"
    )
    assert "ZIP code" in lost[1] and "ZIP code" in lost[2]
    assert all("postcode" not in reply and "postal code" not in reply for reply in lost)
    assert "#1042" in lost[3] and "placed Sunday, February 22" in lost[3]
    delivered = await conversation(
        DEMO_STORE, "It says delivered but I never got my package. #1031 maya.patel@example.com"
    )
    assert re.search(r"February \d{1,2} at \d{1,2}:\d{2} (?:AM|PM)", delivered[0]), delivered[0]
    split = await conversation(DEMO_STORE, "where is order 1042? jordan.lee@example.com")
    assert "Saturday, February 28" in split[0] and "28 February" not in split[0]


# --- the pieces, for en-GB, en-US, en-CA and en-AU through Babel ----------------------------------------------------

MOMENT = datetime(2026, 10, 29, 14, 14, tzinfo=UTC)


@pytest.mark.parametrize(
    ("locale", "timezone", "date", "time", "postcode"),
    [
        ("en-GB", "Europe/London", "Thursday, 29 October 2026", "14:14", "postcode"),
        ("en-US", "UTC", "Thursday, October 29, 2026", "2:14 PM", "ZIP code"),
        ("en-CA", "UTC", "Thursday, October 29, 2026", "2:14 p.m.", "postal code"),
        ("en-AU", "UTC", "Thursday, 29 October 2026", "2:14 pm", "postcode"),
    ],
)
def test_dates_times_and_words_follow_the_locale(
    locale: str, timezone: str, date: str, time: str, postcode: str
) -> None:
    shop = Shop(name="Shop", timezone=timezone, locale=locale)
    seen = when(MOMENT, shop)
    assert (seen.date, seen.time) == (date, time)
    asked = LocaleReplies("friendly", shop.locale).say("ask_postal")
    assert f"shipping {postcode} on the order" in asked


def test_a_locale_without_a_word_of_its_own_gets_the_neutral_one() -> None:
    assert "ZIP or postal code" in LocaleReplies("friendly", "fr_FR").say("ask_postal")
    # A template's full stop after a time written "3:00 p.m." is not doubled.
    ready = LocaleReplies("friendly", "en_CA").say(
        "order.ready_for_pickup", order_number="#1", items="", where="", date="March 18 at 3:00 p.m."
    )
    assert ready.endswith("3:00 p.m.")


def test_the_guard_reads_the_locale_date_forms() -> None:
    source = json.dumps(
        {"delivered": {"iso": "2026-06-05T13:31:00+01:00", "date": "Friday, 5 June 2026", "time": "13:31"}}
    )
    assert ungrounded("It was delivered on Friday 5 June at 13:31.", source) == []
    assert ungrounded("It was delivered on 5th June, that's 05/06.", source) == []
    assert ungrounded("It will come on 6 June.", source) == ["date 6/6"]


# --- postcodes in any spacing and case, for every country ---------------------------------------------------------


@pytest.mark.parametrize(
    ("store", "order", "typed"),
    [
        (UK_STORE, "FF-2101", "eh11yz"),
        (UK_STORE, "FF-2101", "E H 1 1 Y Z"),
        (UK_STORE, "FF-2104", "cf10-1ep"),
        (UK_STORE, "FF-2107", "k1a0b1"),  # Canada
        (UK_STORE, "FF-2112", "d02x285"),  # an Irish Eircode
        (UK_STORE, "FF-2114", " 3000 "),  # Australia
        (DEMO_STORE, "1042", "78704"),
    ],
)
async def test_a_postcode_matches_whatever_its_spacing_and_case(store: Path, order: str, typed: str) -> None:
    (found,) = await FixtureStore(store).orders_by_name(order)
    assert found.has_postal_code(typed)
    assert not found.has_postal_code(typed.strip()[:-1] or "0")


async def test_an_llm_is_told_the_locale_and_its_word(uk_shop: Shop) -> None:
    store = FixtureStore(UK_STORE)
    deps = Deps(source=store, session=SessionState(), conversation_id="c", shop=uk_shop, now=store.now())
    rendered = instructions_for(deps)
    assert "This shop's locale is en_GB." in rendered and 'call the postal code a "postcode"' in rendered
    assert re.search(r"Today is \w+, \d{1,2} \w+ 2026 \(Europe/London\)", rendered)
