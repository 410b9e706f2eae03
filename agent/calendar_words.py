"""English month and weekday names as shoppers type them, built from CLDR (Babel) rather than spelled out by hand.

The grounding guard reads dates in replies ("March 3", "3rd of Mar") and the playbook tells a year from an order
number ("since 2024"); both read English, so both use these lookups.
"""

from __future__ import annotations

from babel.dates import get_day_names, get_month_names

# en_GB adds the four-letter "Sept" that British shoppers (and models) write.
_ENGLISH = ("en", "en_GB")


def _month_numbers() -> dict[str, int]:
    names: dict[str, int] = {}
    for locale in _ENGLISH:
        for width in ("wide", "abbreviated"):
            for number, name in get_month_names(width, locale=locale).items():
                names[name.lower().rstrip(".")] = number
    return names


MONTHS: dict[str, int] = _month_numbers()
"""Lower-case month name or abbreviation -> month number: 'march' and 'mar' -> 3, 'sept' -> 9."""

# Longest first, so "june" is tried before "jun" wherever the alternation order matters.
MONTH_PATTERN = "|".join(sorted(MONTHS, key=len, reverse=True))

WEEKDAYS: tuple[str, ...] = tuple(get_day_names("wide", locale="en")[day].lower() for day in range(7))
"""'monday' .. 'sunday'."""
