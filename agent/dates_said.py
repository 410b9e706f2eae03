"""The day a shopper says they need an order by: "will it be here by Christmas", "before the 20th?", "in time for my
daughter's birthday on Friday", "need it by next weekend", "by dec 24??".

Read in the shop's locale (a US shopper writes 12/20, a British one 20/12) against the store's today, with the words
in `prompts/deadlines.toml`. Used by the playbook (to answer from the order data) and by the grounding guard (a date
the shopper named is one a reply may repeat). A date that can't be read is no deadline: the order's status is
answered as it stands.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache, lru_cache
from typing import Any

from babel import Locale
from babel.dates import get_date_format, get_day_names

from agent import prompts
from agent.calendar_words import MONTH_PATTERN, MONTHS

# A date named with its month and a day that is already past by up to this many days was a date gone by (an
# order "due Nov 30" asked about on 6 December), not the same day next year.
_PAST_GRACE_DAYS = 90


@dataclass(frozen=True)
class Deadline:
    day: date
    strict: bool  # "before the 20th": arriving on the 20th is not in time


@cache
def _words() -> dict[str, Any]:
    return prompts.toml("deadlines.toml")


def _alternation(phrases: list[str] | tuple[str, ...]) -> str:
    return "|".join(re.escape(p) for p in sorted(phrases, key=len, reverse=True))


def _weekday_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_day_names(width, locale="en").items():
            names[name.lower().rstrip(".")] = number
    # Shortenings shoppers type that CLDR does not list.
    names.update({"tues": 1, "weds": 2, "thur": 3, "thurs": 3})
    return names


_WEEKDAYS = _weekday_names()


@cache
def _patterns() -> dict[str, re.Pattern[str]]:
    words = _words()
    holidays = [n for h in words["holidays"].values() for n in h["names"]]
    # A weekday's short form ("sat", "sun", "wed") is an everyday word too ("a sat nav"): only at a phrase's end.
    wide = [w for w in _WEEKDAYS if len(w) > 5]
    short = [w for w in _WEEKDAYS if len(w) <= 5]
    weekday = rf"{_alternation(wide)}|(?:{_alternation(short)})(?=\s*(?:[?!.,;]|$))"
    rel = _alternation(words["next_week"] + ["this", "coming", "the"])
    edge = _alternation(words["period_end"] + words["period_start"])
    unit = _alternation(words["week"] + words["month"] + words["day"])
    return {
        "cue": re.compile(rf"(?<![\w'])(?:{_alternation(words['cues'])})(?![\w'])"),
        "past": re.compile(rf"(?<![\w'])(?:{_alternation(words['past'])})(?![\w'])"),
        "holiday": re.compile(rf"(?<![\w'])({_alternation(holidays)})(?![\w'])"),
        "iso": re.compile(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"),
        "numeric": re.compile(r"(?<![\w/.])(\d{1,2})[/.](\d{1,2})(?:[/.](\d{4}|\d{2}))?(?![\w/]|\.\d)"),
        "month_day": re.compile(rf"\b({MONTH_PATTERN})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?\b"),
        "day_month": re.compile(
            rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_PATTERN})\b(?:\.?,?\s+(\d{{4}}))?"
        ),
        # "the 2nd parcel" is a position, not a day.
        "ordinal": re.compile(
            rf"\b(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)\b(?!\s+(?:{_alternation(words['not_days'])})\b)"
        ),
        "weekday": re.compile(rf"(?<![\w'])(?:({rel})\s+)?({weekday})(?![\w'])"),
        "weekend": re.compile(rf"(?<![\w'])(?:({rel})\s+)?(?:{_alternation(words['weekend'])})(?![\w'])"),
        # "the end of the week", "early next week", "the start of next month".
        "period": re.compile(rf"(?<![\w'])({edge})\s+(?:({rel})\s+)?({unit})(?![\w'])"),
        # "the end of January", "the start of March".
        "month_edge": re.compile(rf"(?<![\w'])({edge})\s+({MONTH_PATTERN})\.?(?![\w'])"),
        "today": re.compile(rf"(?<![\w'])(?:{_alternation(words['today'])})(?![\w'])"),
        # "is it coming today?", "will I get it tomorrow": a word of arriving, up to `arrive_reach` words, the day.
        "arrive_on": re.compile(
            rf"(?<![\w'])(?:{_alternation(words['arrive'])})(?:\s+[\w']+){{0,{int(words['arrive_reach'])}}}?\s+"
            rf"(?:({_alternation(words['today'])})|{_alternation(words['tomorrow'])})(?![\w'])"
        ),
        "tomorrow": re.compile(rf"(?<![\w'])(?:{_alternation(words['tomorrow'])})(?![\w'])"),
        # "tmrw?", "today?", "monday?", "on friday?": a clause that is nothing but a day, asked.
        "day_alone": re.compile(
            rf"(?:(?:{_alternation(words['cues'] + ['on'])})\s+)?(?:(?:{rel})\s+)?"
            rf"(?:{_alternation(words['today'] + words['tomorrow'] + list(_WEEKDAYS))})\s*\?+"
        ),
        # A carrier status named in words ("out for delivery", "ready for pickup"): a cue inside one is its word.
        "status": re.compile(rf"(?<![\w'])(?:{_alternation(_status_names())})(?![\w'])"),
    }


def _status_names() -> list[str]:
    table = prompts.toml("replies.toml")["status_names"]
    return [name.lower() for names in table.values() for name in names]


@cache
def _month_first(locale: str) -> bool:
    """Whether the locale writes a short date month first (en_US 'M/d/yy') rather than day first (en_GB 'dd/MM/y')."""
    pattern = get_date_format("short", locale=locale).pattern
    return pattern.find("M") < pattern.find("d")


def _valid(year: int, month: int, day: int) -> date | None:
    if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
        return date(year, month, day)
    return None


def _ahead(month: int, day: int, today: date, year: int | None = None) -> date | None:
    """The day with this month and day that a shopper means: in the year named, else this year's when it is still
    to come, next year's when this year's is long past, none when it passed only lately."""
    if year is not None:
        named = _valid(year, month, day)
        return named if named and named >= today else None
    this_year = _valid(today.year, month, day) or _valid(today.year + 1, month, day)
    if this_year is None or this_year >= today:
        return this_year
    if (today - this_year).days <= _PAST_GRACE_DAYS:
        return None
    return _valid(today.year + 1, month, day)


def _year(text: str | None) -> int | None:
    if not text:
        return None
    return int(text) + 2000 if len(text) == 2 else int(text)


def _nth_weekday(year: int, rule: str) -> date:
    nth, weekday, month = rule.split()
    first = date(year, int(month), 1)
    offset = (_WEEKDAYS[weekday] - first.weekday()) % 7
    return first + timedelta(days=offset + 7 * (int(nth) - 1))


def easter_sunday(year: int) -> date:
    """Easter Sunday in the Gregorian calendar: the anonymous Gregorian computus (Meeus, Astronomical Algorithms,
    ch. 8), exact for every Gregorian year. dateutil's `easter()` computes the same, but is no dependency here."""
    golden = year % 19
    century, year_of_century = divmod(year, 100)
    leap_centuries, century_rest = divmod(century, 4)
    moon_correction = (century - (century + 8) // 25 + 1) // 3
    epact = (19 * golden + century - leap_centuries - moon_correction + 15) % 30
    leap_years, year_rest = divmod(year_of_century, 4)
    weekday = (32 + 2 * century_rest + 2 * leap_years - epact - year_rest) % 7
    shift = (golden + 11 * epact + 22 * weekday) // 451
    month, day = divmod(epact + weekday - 7 * shift + 114, 31)
    return date(year, month, day + 1)


def _holiday(name: str, today: date, territory: str) -> date | None:
    for holiday in _words()["holidays"].values():
        if name not in holiday["names"]:
            continue
        if "easter" in holiday:
            offset = timedelta(days=int(holiday["easter"]))
            this_year = easter_sunday(today.year) + offset
            return this_year if this_year >= today else easter_sunday(today.year + 1) + offset
        if "date" in holiday:
            month, day = map(int, holiday["date"].split("-"))
            found = _valid(today.year, month, day)
            return found if found and found >= today else _valid(today.year + 1, month, day)
        rule = holiday["rule"].get(territory) or holiday["rule"].get("default")
        if rule is None:
            return None  # a day this shop's country keeps on another date (or not at all): not guessed
        found = _nth_weekday(today.year, rule)
        return found if found >= today else _nth_weekday(today.year + 1, rule)
    return None


def _weekday(relative: str | None, weekday: int, today: date) -> date:
    plain = today + timedelta(days=(weekday - today.weekday()) % 7)
    if relative in _words()["next_week"] and plain.isocalendar()[1] == today.isocalendar()[1]:
        return plain + timedelta(days=7)  # "next Friday" said on a Monday: the Friday of the week after
    return plain


def _weekend(relative: str | None, today: date) -> date:
    if relative in _words()["next_week"]:
        # The weekend of the week after this one (on a Sunday, this weekend is today: the next one starts Saturday).
        return today + timedelta(days=6) if today.weekday() == 6 else today + timedelta(days=12 - today.weekday())
    return today if today.weekday() >= 5 else today + timedelta(days=5 - today.weekday())


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _period(edge: str, relative: str | None, unit: str, today: date) -> date | None:
    """ "The end of the week" (its Friday: see `prompts/deadlines.toml`), "early next week" (its Monday), "the end of
    the month" (its last day), "the start of next month" (its 1st), "the end of the day" (today); a start already
    gone by is no deadline."""
    words = _words()
    following = relative in words["next_week"]
    end = edge in words["period_end"]
    if unit in words["day"]:
        return today if end and not following else None
    if unit in words["week"]:
        if end:
            return _weekday(relative, 4, today)  # the coming Friday, or next week's, as "by (next) Friday" reads
        monday = today - timedelta(days=today.weekday())
        start = monday + timedelta(days=7) if following else monday
        return start if start >= today else None
    year, month = (today.year + today.month // 12, today.month % 12 + 1) if following else (today.year, today.month)
    if end:
        return _month_end(year, month)
    start = date(year, month, 1)
    return start if start >= today else None


def _month_edge(edge: str, month: int, today: date) -> date | None:
    """ "The end of January": its last day; "the start of March": its 1st; this year's while still to come."""
    if edge in _words()["period_end"]:
        end = _month_end(today.year, month)
        return end if end >= today else _month_end(today.year + 1, month)
    return _ahead(month, 1, today)


def _numeric(first: int, second: int, year: int | None, today: date, month_first: bool) -> date | None:
    readings = [(first, second), (second, first)] if month_first else [(second, first), (first, second)]
    for month, day in readings:
        if _valid(year or today.year, month, day) is not None:
            return _ahead(month, day, today, year)
    return None


def _ordinal(day: int, today: date) -> date | None:
    """ "The 20th": this month's when still to come, else next month's."""
    this_month = _valid(today.year, today.month, day)
    if this_month is not None and this_month >= today:
        return this_month
    following = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    return _valid(following.year, following.month, day)


@cache
def _territory(locale: str) -> str:
    return Locale.parse(locale).territory or ""


def _first_date(window: str, today: date, locale: str) -> tuple[int, date] | None:
    """The first date named in `window` (the words after a cue), resolved against today."""
    p = _patterns()
    territory = _territory(locale)
    found: list[tuple[int, date | None]] = []

    def add(match: re.Match[str] | None, day: date | None) -> None:
        if match is not None:
            found.append((match.start(), day))

    if m := p["holiday"].search(window):
        add(m, _holiday(m.group(1), today, territory))
    if m := p["iso"].search(window):
        add(m, _ahead(int(m.group(2)), int(m.group(3)), today, int(m.group(1))))
    if m := p["numeric"].search(window):
        add(m, _numeric(int(m.group(1)), int(m.group(2)), _year(m.group(3)), today, _month_first(locale)))
    if m := p["month_day"].search(window):
        add(m, _ahead(MONTHS[m.group(1).rstrip(".")], int(m.group(2)), today, _year(m.group(3))))
    if m := p["day_month"].search(window):
        add(m, _ahead(MONTHS[m.group(2).rstrip(".")], int(m.group(1)), today, _year(m.group(3))))
    if not found and (m := p["ordinal"].search(window)):
        add(m, _ordinal(int(m.group(1)), today))
    found += _relative_days(window, today)
    readable = [(start, day) for start, day in found if day is not None]
    return min(readable, key=lambda f: f[0]) if readable else None


def _relative_days(window: str, today: date) -> list[tuple[int, date | None]]:
    """The days `window` names relative to today ("next friday", "the weekend", "the end of the month", "tmrw"),
    each with where it starts."""
    p = _patterns()
    found: list[tuple[int, date | None]] = []
    if m := p["weekday"].search(window):
        found.append((m.start(), _weekday(m.group(1), _WEEKDAYS[m.group(2)], today)))
    if m := p["weekend"].search(window):
        found.append((m.start(), _weekend(m.group(1), today)))
    if m := p["period"].search(window):
        found.append((m.start(), _period(m.group(1), m.group(2), m.group(3), today)))
    if m := p["month_edge"].search(window):
        found.append((m.start(), _month_edge(m.group(1), MONTHS[m.group(2).rstrip(".")], today)))
    if m := p["tomorrow"].search(window):
        found.append((m.start(), today + timedelta(days=1)))
    if m := p["today"].search(window):
        found.append((m.start(), today))
    return found


def _plain(text: str) -> str:
    text = re.sub(r"\S+@\S+", " ", text.lower().replace("’", "'").replace("‘", "'"))
    return re.sub(r"\s+", " ", text)


# Every model request replays the conversation, so each message is read many times: read it once.
@lru_cache(maxsize=4096)
def deadlines_named(text: str, today: date, locale: str = "en_US") -> tuple[Deadline, ...]:
    """Every day the shopper names as one the order is needed by, still to come after a cue ("by", "before", "in time
    for"), and not as a promise already past ("it was supposed to come by the 3rd")."""
    plain = _plain(text)
    p = _patterns()
    words = _words()
    named: list[Deadline] = []
    # "out for delivery - so it comes today?": the "for" of a status's name is no cue, whatever day follows.
    statuses = [range(m.start(), m.end()) for m in p["status"].finditer(plain)]
    for cue in p["cue"].finditer(plain):
        if any(cue.start() in status for status in statuses):
            continue
        window = " ".join(plain[cue.end() :].split()[: int(words["reach"])])
        before = " ".join(plain[: cue.start()].split()[-8:])
        if p["past"].search(before):
            continue
        found = _first_date(window, today, locale)
        if found is not None:
            # The cue nearest the date says how it is meant: "hoping for it before New Year's Eve" is "before".
            nearest = [c.group(0) for c in p["cue"].finditer(window[: found[0]])] or [cue.group(0)]
            named.append(Deadline(found[1], strict=nearest[-1] in words["strict"]))
    return tuple(named) or _arrival_day(plain, today)


def arrival_day_asked(text: str) -> bool:
    """Whether the message asks about the order arriving on a day right after a word of arriving ("will it be
    delivered today?", "is it coming tomorrow"), not as a promise past ("it was meant to come today")."""
    return _arrival_asked(_plain(text)) is not None


def _arrival_asked(plain: str) -> re.Match[str] | None:
    p = _patterns()
    for asked in p["arrive_on"].finditer(plain):
        if not p["past"].search(" ".join(plain[: asked.start()].split()[-8:])):
            return asked
    return None


def _arrival_day(plain: str, today: date) -> tuple[Deadline, ...]:
    """ "Is it coming today?", "will I get it tomorrow?": the day asked about with no cue, read like "by today"."""
    asked = _arrival_asked(plain)
    if asked is None:
        return _day_asked_alone(plain, today)
    return (Deadline(today if asked.group(1) else today + timedelta(days=1), strict=False),)


def _day_asked_alone(plain: str, today: date) -> tuple[Deadline, ...]:
    """ "k. tmrw?", "thanks. monday?", "today?": a clause that is only a day and a question mark asks whether the order
    comes then, as "will it come tomorrow?" does (the words before it, a closing or a nod, end their own clause)."""
    for clause in re.split(r"[.!,;:\n]+", plain):
        if _patterns()["day_alone"].fullmatch(clause.strip()):
            days = sorted((start, day) for start, day in _relative_days(clause, today) if day is not None)
            if days:
                return (Deadline(days[0][1], strict=False),)
    return ()


def deadline_named(text: str, today: date, locale: str = "en_US") -> Deadline | None:
    """The day the shopper needs the order by: the first one named. Not the earliest: a later cue is as often a day
    that is no deadline ("by the 20th, not before the 10th as I'm away")."""
    named = deadlines_named(text, today, locale)
    return named[0] if named else None


def deadline_days(text: str, today: date) -> set[date]:
    """Every day a message may name as a deadline, read either way round (month or day first): what a reply may
    repeat of the shopper's own words."""
    days = {d.day for locale in ("en_US", "en_GB") for d in deadlines_named(text, today, locale)}
    return days


@cache
def _holiday_as_day() -> re.Pattern[str]:
    # After a cue ("by Christmas", "in time for Mother's Day") or "on" ("on Boxing Day"): a day, not a greeting
    # ("Merry Christmas").
    words = _words()
    holidays = [n for h in words["holidays"].values() for n in h["names"]]
    cues = _alternation([*words["cues"], "on"])
    return re.compile(rf"(?<![\w'])(?:{cues})\s+(?:the\s+)?({_alternation(holidays)})(?![\w'])", re.IGNORECASE)


def holidays_named(text: str, today: date | None) -> list[tuple[tuple[int, int], str, frozenset[date]]]:
    """Each holiday `text` names as a day ("arrives by Christmas"): where its name is, the name, and the days it may
    next fall on (every country's rule: a reply's country is not known; none without today)."""
    found = []
    for match in _holiday_as_day().finditer(text.replace("’", "'")):
        name = _holiday_name(match.group(1))
        days = frozenset() if today is None else _holiday_days(name, today)
        found.append((match.span(1), name, days))
    return found


def _holiday_name(said: str) -> str:
    """The name as the words file writes it, of a name the case-blind pattern found: `str.lower` keeps a letter the
    pattern folds ("chriſtmas", with a long s), and a name so written is no key of the file."""
    names = [n for h in _words()["holidays"].values() for n in h["names"]]
    lowered = said.lower()
    if lowered in names:
        return lowered
    return next((n for n in names if re.fullmatch(re.escape(n), said, re.IGNORECASE)), lowered)


def _holiday_days(name: str, today: date) -> frozenset[date]:
    holiday = next((h for h in _words()["holidays"].values() if name in h["names"]), None)
    if holiday is None:
        return frozenset()
    territories = list(holiday.get("rule", {})) or [""]
    return frozenset(d for t in territories if (d := _holiday(name, today, t)) is not None)
