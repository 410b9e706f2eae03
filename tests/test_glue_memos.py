"""The glue's memos write and record exactly what the work they save would have: dates and times written once per
day and minute, contacts read with the strings that cannot hold one skipped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time

from tools import views

LOCALES = ["en_US", "en_AU", "en_GB", "en_IN", "en_NZ", "de_DE", "fr_FR", "ja_JP", "ko_KR", "zh_Hant_TW", "ar_EG"]
ZONES = ["America/New_York", "Australia/Perth", "Europe/London", "Asia/Kolkata", "Pacific/Chatham", "UTC"]


def _babel(moment: datetime, timezone: str, locale: str) -> tuple[str, str, str]:
    """What `views._written` wrote before its memos: Babel asked for every moment."""
    local = moment.astimezone(ZoneInfo(timezone))
    return (
        local.isoformat(),
        format_date(local, "full", locale=locale),
        format_time(local, "short", locale=locale).replace("\u202f", " "),
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_moments_are_written_as_babel_writes_each(locale: str) -> None:
    rng = random.Random(locale)
    start = datetime(2025, 10, 20, tzinfo=UTC)  # across a change of summer time in both hemispheres
    moments = [start + timedelta(seconds=rng.randrange(0, 200 * 86400)) for _ in range(400)]
    moments += [m.replace(second=rng.randrange(60), microsecond=rng.randrange(10**6)) for m in moments[:100]]
    views._written.cache_clear()
    views._MINUTES.clear()
    for moment in moments:
        timezone = rng.choice(ZONES)
        assert views._written(moment, timezone, locale) == _babel(moment, timezone, locale), (moment, timezone)


def test_a_short_time_that_reads_more_than_the_minute_is_written_per_moment() -> None:
    assert views._minute_pattern("en_US") and views._minute_pattern("de_DE")
    assert not views._minute_pattern("zh_Hant_TW")  # 'Bh:mm': a day period, by Babel's own rules
