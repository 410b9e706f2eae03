"""The grounding guard, made faster, gives every verdict it gave before: `agent.grounding` against the guard as it
was (`tests/grounding_reference.py`), on every check the scenario suite and the regression sets made when run with
the playbook (`tests/data/grounding_checks.json.gz`: each reply, the conversation it was checked against and the
store's today), and on those replies with one fact changed: a digit (an order, tracking number, amount or date), a
date moved a day, a weekday, a status. A change that no tool result or shopper's word backs must be caught.

The stored conversations keep what the guard reads of them: each request's tool results (as JSON values), the
shopper's words and the instructions. Regenerate them with `tests/grounding_checks.py` (see there) when the suite or
the playbook's replies change; the comparison itself needs no regeneration.
"""

from __future__ import annotations

import gzip
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from babel.numbers import list_currencies
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart

import agent.grounding as new
import tests.grounding_reference as old
from agent import prompts
from agent.calendar_words import MONTHS, WEEKDAYS
from agent.dates_said import holidays_named

CHECKS = Path(__file__).parent / "data" / "grounding_checks.json.gz"


@dataclass(frozen=True, eq=False)  # one per stored check: the evidence of each is built once (`_old_evidence`)
class Check:
    reply: str
    messages: list[ModelMessage]
    extra: str
    example: str
    today: date | None


@cache
def _stored() -> dict[str, Any]:
    with gzip.open(CHECKS, "rt", encoding="utf-8") as file:
        stored: dict[str, Any] = json.load(file)
    return stored


def _messages(requests: list[dict[str, Any]], stored: dict[str, Any]) -> list[ModelMessage]:
    messages: list[ModelMessage] = []
    for request in requests:
        parts: list[Any] = [
            ToolReturnPart(tool_name="tool", content=stored["tools"][index], tool_call_id="call")
            if kind == "tool"
            else UserPromptPart(stored["said"][index])
            for kind, index in request["parts"]
        ]
        index = request["instructions"]
        instructions = None if index is None else stored["instructions"][index]
        messages.append(ModelRequest(parts=parts, instructions=instructions))
    return messages


@cache
def _checks() -> tuple[Check, ...]:
    stored = _stored()
    conversations = [(_messages(c["requests"], stored), c["extra"], c["example"]) for c in stored["conversations"]]
    return tuple(
        Check(stored["replies"][reply], *conversations[index], date.fromisoformat(today) if today else None)
        for reply, index, today in stored["checks"]
    )


def test_the_stored_checks_are_many_and_varied() -> None:
    """Enough checks, with every kind of fact the guard reads, that the same verdicts on them mean something."""
    checks = _checks()
    replies = {check.reply for check in checks}
    assert len(checks) >= 5000 and len(replies) >= 1500
    assert sum(bool(old._TRACKING.search(old._URL.sub(" ", r).upper())) for r in replies) >= 300
    assert sum(bool(list(old._reply_amounts(r))) for r in replies) >= 50
    assert sum(bool(_MONTH_DAY.search(r) or _DAY_MONTH.search(r)) for r in replies) >= 500
    assert sum(bool(re.search(r"#\w", r)) for r in replies) >= 500


@cache
def _old_evidence(check: Check) -> old.Evidence:
    return old.evidence(check.messages, extra=check.extra, example=check.example)


@cache
def _new_evidence(check: Check) -> new.Evidence:
    return new.evidence(check.messages, extra=check.extra, example=check.example)


def test_evidence_is_the_same() -> None:
    for check in _checks():
        assert vars(_new_evidence(check)) == vars(_old_evidence(check)), check.reply


def test_every_stored_reply_gets_the_same_verdict() -> None:
    for check in _checks():
        verdict = new.ungrounded(check.reply, _new_evidence(check), check.today)
        assert verdict == old.ungrounded(check.reply, _old_evidence(check), check.today), check.reply


# --- replies with one fact changed ---------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_MONTH_WORDS = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH_DAY = re.compile(rf"\b({_MONTH_WORDS})\.?\s+(\d{{1,2}})\b", re.IGNORECASE)
_DAY_MONTH = re.compile(rf"\b(\d{{1,2}})\s+({_MONTH_WORDS})\b", re.IGNORECASE)
_STATUSES = ("delivered", "out for delivery", "in transit", "ready for pickup", "delayed", "returned to sender")


@dataclass(frozen=True)
class Changed:
    reply: str
    caught: bool  # what changed is backed by nothing: the guard must flag the reply


def _with_digit_changed(reply: str, backing: old.Evidence) -> Iterator[Changed]:
    """Each number's last digit moved by one (the first four numbers of a reply)."""
    for match in list(_DIGITS.finditer(reply))[:4]:
        digit = (int(match.group(0)[-1]) + 1) % 10
        changed = reply[: match.end() - 1] + str(digit) + reply[match.end() :]
        yield Changed(changed, caught=_invents_a_number(reply, changed, backing))


def _invents_a_number(reply: str, changed: str, backing: old.Evidence) -> bool:
    """Whether the change made a tracking number or an amount that the evidence has nowhere: one the guard must
    catch (read with the reference guard's own patterns)."""
    before, after = old._URL.sub(" ", reply), old._URL.sub(" ", changed)
    upper = backing.text.upper()
    compact = re.sub(r"[\s\-]", "", upper)
    tokens = set(old._TRACKING.findall(after.upper())) - set(old._TRACKING.findall(before.upper()))
    if any(token not in upper and token not in compact for token in tokens):
        return True
    amounts = {v for _, v in old._reply_amounts(after) if v is not None}
    amounts -= {v for _, v in old._reply_amounts(before) if v is not None}
    return any(amount not in backing.amounts for amount in amounts)


def _with_date_moved(reply: str, backing: old.Evidence, today: date | None) -> Iterator[Changed]:
    """A "November 27" or "27 November" moved to a day of its month that neither the data nor the shopper names."""
    known = old._dates(backing.text) | old._shopper_dates(backing.said, today)
    for pattern, month_group, day_group in ((_MONTH_DAY, 1, 2), (_DAY_MONTH, 2, 1)):
        for match in pattern.finditer(reply):
            month, day = MONTHS[match.group(month_group).lower()], int(match.group(day_group))
            moves = (d for d in (day + 1, day - 1, day + 2, day - 2) if 1 <= d <= 28 and (month, d) not in known)
            moved = next(moves, None)
            if moved is not None:
                start, end = match.span(day_group)
                yield Changed(reply[:start] + str(moved) + reply[end:], caught=True)


def _with_weekday_swapped(reply: str) -> Iterator[Changed]:
    """Each weekday named (the first time) as the next one."""
    for index, weekday in enumerate(WEEKDAYS):
        match = re.search(rf"\b{weekday}\b", reply, re.IGNORECASE)
        if match is not None:
            other = WEEKDAYS[(index + 1) % 7].title()
            yield Changed(reply[: match.start()] + other + reply[match.end() :], caught=False)


def _changed(check: Check, index: int) -> Iterator[Changed]:
    backing = _old_evidence(check)
    yield from _with_digit_changed(check.reply, backing)
    yield from _with_date_moved(check.reply, backing, check.today)
    yield from _with_weekday_swapped(check.reply)
    yield Changed(f"{check.reply} Your package is {_STATUSES[index % len(_STATUSES)]}.", caught=False)


@cache
def _changed_verdicts() -> tuple[tuple[Changed, list[str], list[str]], ...]:
    """Each changed reply with the reference guard's verdict and the guard's. Each distinct reply is changed once,
    against its first conversation: replies repeat across the suite's conversations."""
    seen: set[str] = set()
    verdicts: list[tuple[Changed, list[str], list[str]]] = []
    for check in _checks():
        if check.reply in seen:
            continue
        seen.add(check.reply)
        for changed in _changed(check, len(seen)):
            before = old.ungrounded(changed.reply, _old_evidence(check), check.today)
            verdicts.append((changed, before, new.ungrounded(changed.reply, _new_evidence(check), check.today)))
    return tuple(verdicts)


def test_replies_with_a_fact_changed_get_the_same_verdict() -> None:
    verdicts = _changed_verdicts()
    assert len(verdicts) >= 5000
    assert sum(bool(before) for _, before, _ in verdicts) >= 1000  # many a change is caught
    for changed, before, after in verdicts:
        assert after == before, changed.reply


def test_a_changed_fact_nothing_backs_is_caught() -> None:
    """A reply's date moved to a day of its month that no tool result and no shopper named, a tracking number or an
    amount with a digit changed that the evidence has nowhere: each is flagged."""
    caught = [(changed, after) for changed, _, after in _changed_verdicts() if changed.caught]
    assert len(caught) >= 500
    for changed, after in caught:
        assert after, changed.reply


# --- the readings the guard's speed rests on ---------------------------------------------------------------------

_PIECES = (
    *("November", "nov", "Nov.", "NOV", "sept", "Sept.", "ſept", "december", "Dec", "may", "Mayday", "of", "the"),
    *("th", "st", "5th", "2nd", "20th", "1", "12", "27", "123", "2026", "-", "-20", "2026-11-20", "2026-11-2026-01-01"),
    *(" ", "  ", "\n", "\t", "\u00a0", "\u2003", ",", ".", '"', ":", "#", "x", "/", "3.4."),
    *("İ", "ı", "é", "×", "\u212a"),
)


def test_dates_read_in_any_text_are_the_same() -> None:
    """Random texts of date-like pieces (month words in every case, ordinals, "of", ISO dates run together, spaces
    beyond ASCII, the characters a case-blind pattern folds into ASCII): the same dates, at the same places."""
    rng = random.Random(14)
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 14)))
        for first in (True, False):
            read = [(m.span(), month, day) for m, month, day in new._month_dates(text, month_first=first)]
            assert read == [(m.span(), month, day) for m, month, day in old._month_dates(text, month_first=first)]
        assert new._dates(text) == old._dates(text), text
        assert list(new._iso_dates(text)) == old._DATE_ISO.findall(text), text


def _random_result(rng: random.Random, depth: int = 0) -> object:
    keys = ("order_number", "status", 'x"order_number', "order_number\\", "note", "orders")
    values = ("#1", "A#2", "not_verified", "ok", 'x\\"y', "\\", '#"q', "plain", "#05-14 at #3", 1, None)
    roll = rng.random()
    if depth > 3 or roll < 0.4:
        return rng.choice(values)
    if roll < 0.7:
        return {rng.choice(keys): _random_result(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return [_random_result(rng, depth + 1) for _ in range(rng.randint(0, 3))]


def test_orders_and_quotes_read_from_any_result_are_the_same() -> None:
    """Random tool results (order numbers anywhere, echoed-back results, "#"s in words and in keys, quotes and
    backslashes in keys and values): the same order numbers and quoted "#"s, walked or read from their JSON."""
    rng = random.Random(14)
    read_from_json = 0
    for _ in range(20_000):
        result = _random_result(rng)
        orders, quoted = set(old._returned_orders(result)), set(old._quoted_refs(result))
        walked: tuple[set[str], set[str]] = (set(), set())
        new._read_result(result, *walked)
        assert walked == (orders, quoted), result
        written: set[str] = set()
        if new._read_orders_written(json.dumps(result, ensure_ascii=False), written):
            read_from_json += 1
            assert (written, set()) == (orders, quoted), result
    assert read_from_json >= 5_000


def test_the_folds_are_every_character_a_case_blind_letter_matches() -> None:
    """`agent.grounding._folded` makes these ASCII letters: every character beyond ASCII that a case-blind pattern's
    ASCII letter matches, or that lower-cases to one."""
    letters = re.compile(r"[a-z]", re.IGNORECASE)
    folding = {
        chr(code)
        for code in range(0x80, 0x110000)
        if letters.fullmatch(chr(code)) or any(c.isascii() and c.isalpha() for c in chr(code).lower())
    }
    assert folding == {"İ", "ı", "ſ", "\u212a"}  # the last the Kelvin sign
    assert all(new._folded(c).isascii() and new._folded(c).isalpha() for c in folding)


def test_a_reply_naming_a_holiday_is_looked_at() -> None:
    """`_may_name_a_holiday` passes every reply in which `holidays_named` finds one: each name in every case, with
    a curly apostrophe, with an "s" written as a long s, in the stored replies too."""
    names = {n for h in prompts.toml("deadlines.toml")["holidays"].values() for n in h["names"]}
    replies = [
        f"It should arrive {cue} {written}."
        for name in names
        for cue in ("by", "on", "before")
        for written in (name, name.upper(), name.title(), name.replace("'", "’"), name.replace("s", "ſ"))
    ]
    replies += [check.reply for check in _checks()]
    named = [reply for reply in replies if holidays_named(reply, date(2026, 12, 7))]
    assert len(named) >= 500
    assert all(new._may_name_a_holiday(reply) for reply in named)


def test_a_holiday_written_with_letters_the_pattern_folds_falls_on_its_days() -> None:
    """The case-blind pattern finds "chriſtmas" (a long s) and "CHRISTMAS" alike: both are Christmas, with its
    day, so the guard weighs a promise made by either (the long s used to raise)."""
    today = date(2026, 12, 7)
    plain = holidays_named("It will arrive by Christmas.", today)
    for written in ("chriſtmas", "CHRISTMAS", "Chriſtmas"):
        found = holidays_named(f"It will arrive by {written}.", today)
        assert [(name, days) for _, name, days in found] == [(name, days) for _, name, days in plain]
    assert plain and plain[0][2] == {date(2026, 12, 25)}


def test_currency_codes_are_three_capitals() -> None:
    """What `_MONEY`'s look-before (`agent.grounding._may_match`) takes a code to be."""
    assert all(len(code) == 3 and code.isascii() and code.isupper() for code in list_currencies())


def test_order_numbers_written_are_found_with_the_key_first() -> None:
    """`_ORDER_NUMBER_WRITTEN` looks behind the key for a backslash instead of before it: the same matches as the
    look-behind first, on strings made of the key, backslashes, quotes and "#"s in every order."""
    first = re.compile(r'(?<!\\)"order_number": "((?:[^"\\]|\\.)*)"')
    pieces = ['"order_number": "', "\\", '"', "#", "a", " ", ':"', '\\"order_number": "x"', '"order_number": "\\"']
    rng = random.Random(15)
    for _ in range(50_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        ours, theirs = new._ORDER_NUMBER_WRITTEN.finditer(text), first.finditer(text)
        assert [(m.span(), m.groups()) for m in ours] == [(m.span(), m.groups()) for m in theirs], text


def test_a_reply_with_a_window_holds_a_unit_after_whitespace() -> None:
    """`unknown_windows` scans a reply for `_WINDOW` only when `_UNIT_AFTER_SPACE` finds a unit after whitespace:
    every reply the window pattern matches in, made of window words, units, spaces and folded letters, has one."""
    words = ["within", "in", "3", "3-5", "a few", "business", "working", "days", "Days", "WEEK", "wee\u212a", "hours"]
    words += ["ago", "next", "up to", "about", "2 to 4", "\n", "  ", "\t", "takes", "another", "one", " ", "Friday"]
    rng = random.Random(16)
    for _ in range(50_000):
        joint = " " if rng.random() < 0.5 else ""
        reply = joint.join(rng.choice(words) for _ in range(rng.randint(0, 8)))
        if new._WINDOW.search(reply):
            assert new._UNIT_AFTER_SPACE.search(reply), reply


def test_weekdays_are_found_where_the_boundary_first_found_them() -> None:
    """`_WEEKDAY_WORDS` and `_SHORT_WEEKDAYS` put the word first and the boundary behind it (`_word_start`): the same
    matches as the reference's patterns, in random texts of weekday words, their short forms and what may stand
    before or after them (letters, digits, "_", letters beyond ASCII, spaces, marks, months), and in the stored
    replies and tool results."""
    pieces = [*WEEKDAYS, *(w.title() for w in WEEKDAYS), "Mon", "Tue", "Tues", "Wed", "Weds", "Thu", "Thur", "Thurs"]
    pieces += ["Fri", "Sat", "Sun", "s", "x", "X", "_", "1", "27", "é", "ß", "\u00a0", " ", "  ", "\n", ".", ",", "?"]
    pieces += [")", "-", "Dec", "Sept", "Nov", "day", "Sunday's", "on"]
    rng = random.Random(17)
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 10))) for _ in range(30_000)]
    texts += sorted({check.reply for check in _checks()} | {_old_evidence(check).tools for check in _checks()[:300]})
    for index, weekday in enumerate(WEEKDAYS):
        word, short = re.compile(rf"\b{weekday}\b"), old._SHORT_WEEKDAYS[index]
        for text in texts:
            lower = text.lower()
            assert _spans(new._WEEKDAY_WORDS[index], lower) == _spans(word, lower), text
            assert _spans(new._SHORT_WEEKDAYS[index], text) == _spans(short, text), text


def _spans(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    return [match.span() for match in pattern.finditer(text)]
