"""A time of day written from the short pattern's fields (`tools.views._at_minute`) is what Babel writes for the
moment: at every minute of the day in the locales the shops and tests use, and in every locale Babel knows at each
hour and at each minute."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from babel.dates import format_time
from babel.localedata import locale_identifiers

from shopify.shop_locale import babel_locale
from tools import views

USED = ["en", "en_US", "en_GB", "en_CA", "en_AU", "en_NZ", "en_IE", "en_ZA", "en_KE", "en_IN", "en_SG", "en_MY"]
USED += ["fr_CA", "fr_FR", "de_DE", "ja_JP", "ko_KR", "ar_EG"]


def _babel(hour: int, minute: int, locale: str) -> str:
    moment = datetime(2026, 11, 27, hour, minute, 41, 5, tzinfo=UTC)
    return format_time(moment, "short", locale=babel_locale(locale)).replace("\u202f", " ")


@pytest.mark.parametrize("locale", USED)
def test_every_minute_of_the_day_is_written_as_babel_writes_it(locale: str) -> None:
    assert views._minute_pattern(locale)
    for hour in range(24):
        for minute in range(60):
            assert views._at_minute(hour, minute, locale) == _babel(hour, minute, locale), (hour, minute)


def test_each_hour_and_each_minute_is_written_as_babel_writes_it_in_every_locale() -> None:
    rng = random.Random(27)
    locales = [locale for locale in locale_identifiers() if views._minute_pattern(locale)]
    assert len(locales) >= 1000
    for locale in locales:
        moments = [(hour, rng.randrange(60)) for hour in range(24)] + [(rng.randrange(24), m) for m in range(60)]
        for hour, minute in moments:
            assert views._at_minute(hour, minute, locale) == _babel(hour, minute, locale), (locale, hour, minute)
