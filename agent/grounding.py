"""The grounding guard: every tracking number, link, date and amount in a reply must appear in this conversation's
tool results or the shopper's own words (or the merchant's persona notes); every order number must be one the tools
returned; every package status it asserts and every delivery window it promises must be in the data (or the notes).

The guard reads English replies; dates may be written month-first or day-first ("October 29", "29 October"), so a
reply in any English locale is read the same way.

A day only the shopper named ("will it be here by Christmas?", "by Friday", "before 20 December") is theirs, not the
data's: a reply may say it back only as theirs and never as a promise, so where it holds no negation ("I can't promise
delivery by December 25"), no word of the shopper needing or asking ("the December 25 you need it by"), no quotes, and
no frame of the playbook's own deadline answers (`[deadline]` in prompts/replies.toml), it is an invented date.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property, lru_cache

from babel.dates import get_day_names
from babel.numbers import list_currencies
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_core import to_jsonable_python

from agent import prompts
from agent.calendar_words import MONTHS, WEEKDAYS
from agent.dates_said import deadline_days, holidays_named
from shopify.names import order_key, order_name_matches

# "October 29" and "29 October": any word where the month is, then looked up in MONTHS (`_month_dates`). The same
# matches as an alternation of the month names (a month matches only as a whole word, so the word is never given
# back), at half the CPU of trying some thirty names at every position of a long tool result.
_WORD_DAY = re.compile(r"\b([A-Za-z]++)\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b", re.IGNORECASE)
_DAY_WORD = re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?([A-Za-z]+)\b", re.IGNORECASE)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})")
_DATE_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/\d{2,4})?\b")
# The same tokenizer as static/widget.js, so what is checked is exactly what becomes a link.
_URL = re.compile(r"https?://[^\s<>\"'`]+")
_TRACKING = re.compile(r"\b(?=[A-Z0-9]*\d{4})[A-Z0-9]{8,40}\b")
# "#1234", "#AB-1234", "#TSV.8101", "#X/123": a name's punctuation inside it, never a full stop ending the sentence.
_ORDER_REF = re.compile(r"#(?:[A-Za-z0-9]+[\-_./])*[A-Za-z0-9\-]*\d[A-Za-z0-9\-]*(?:[_./][A-Za-z0-9\-]+)*")
# ISO 4217 codes as CLDR knows them, so a carrier's name before a tracking number ("UPS 1Z...") is not an amount.


def _trie(words: list[str]) -> str:
    """An alternation of `words` as a prefix tree ("A(?:ED|FN)|B(?:AM|BD)"): the regex engine tries a handful of
    letters at each position instead of every word. The same matches as a plain alternation when no word is a
    prefix of another (currency codes are all three letters)."""
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[0], []).append(word[1:])
    branches = []
    for first, rests in sorted(by_first.items()):
        if rests == [""]:
            branches.append(re.escape(first))
        elif all(len(rest) == 1 for rest in rests):
            branches.append(f"{re.escape(first)}[{''.join(sorted(rests))}]")
        else:
            branches.append(f"{re.escape(first)}(?:{_trie(rests)})")
    return "|".join(branches)


_CURRENCY_CODES = _trie(sorted(list_currencies()))
_MONEY = re.compile(
    rf"(?:[$€£¥₹]|CA\$|A\$|NZ\$|\b(?:{_CURRENCY_CODES})\s)\s?(\d[\d,.]*\d|\d)"  # $64.00, € 12, USD 99.00
    rf"|(\d[\d,.]*\d|\d)\s?(?:[$€£¥₹]|(?:{_CURRENCY_CODES})\b)"  # 99,00 €, 99 USD
)
_SPACED_DIGITS = re.compile(r"\b\d{2,6}(?:[ \-]\d{2,6}){2,}\b")  # "9400 1118 9922 ..." read as one number
_DATE_DOTTED = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(?:\d{2,4})?\b")
_ORDINAL_DAY = re.compile(r"\bthe (\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
# What a match of `_DATE_DOTTED` holds, and one of `_ORDINAL_DAY` once folded (`_folded`): a plain start to look for.
_DOTTED_DAY = re.compile(r"\.\d{1,2}\.")
_THE_DIGIT = re.compile(r"the \d")
_DECIMAL = re.compile(r"\d[\d,]*\.\d{2}\b")
# An amount written without a symbol: "65.00" standing alone (not a dotted date "03.03.2026", a time "at 14.30" or a
# part of a longer number), or a number after a money word ("a refund of 65", "65 dollars").
_BARE_DECIMAL = re.compile(r"(?<![\w.,/:#-])(\d{1,3}(?:,\d{3})+|\d+)\.\d{2}(?![\w%]|[.,]\d)")
_MONEY_WORDS = re.compile(
    r"\b(?:refund(?:ed)?|total(?:led)?|charged?|paid|credit(?:ed)?|amount|cost)(?:\s+(?:of|was|is|for|by|to))?"
    r"\s+(\d[\d,.]*\d|\d)(?=\s*(?:[.,;!?)\n]|$|dollars|euros|pounds|bucks|quid|yen)(?![\d]))"
    r"|\b(\d[\d,.]*\d|\d)\s+(?:dollars|euros|pounds sterling|bucks|quid|yen)\b",
    re.IGNORECASE,
)
_TIME_BEFORE = re.compile(r"\b(?:at|by|from|until|till|before|after)\s*$", re.IGNORECASE)
# "order 1234", "order number AB-1234", "order no. 1234": an order named without its "#".
_ORDER_WORD = re.compile(
    r"\border\s+(?:number\s+|no\.?\s*|nr\.?\s*)?([A-Za-z][A-Za-z0-9]{0,5}[\-_./]?\d{3,}[A-Za-z0-9\-]*(?:[_./][A-Za-z0-9\-]+)*"
    r"|\d{3,}[A-Za-z0-9\-]*(?:[_./][A-Za-z0-9\-]+)*)\b",
    re.IGNORECASE,
)
_NOT_ORDER_BEFORE = re.compile(r"\b(?:package|parcel|shipment|item|box|number|step|line|no)\s*$", re.IGNORECASE)


# The texts of one turn's evidence, read once each (a turn checks a few replies or many streamed sentences against
# the same few texts); a handful of recent texts is all that is ever asked again.
_TEXTS_KEPT = 32

# The characters beyond ASCII that a case-blind pattern's ASCII letters match, as those letters: all there are
# (tests/test_grounding_equivalence.py asks every character).
_ASCII_FOLDS = str.maketrans({"İ": "i", "ı": "i", "ſ": "s", "\u212a": "k"})  # the last the Kelvin sign


@lru_cache(maxsize=_TEXTS_KEPT)
def _folded(text: str) -> str:
    """`text` in lower case, each character a case-blind pattern reads as an ASCII letter made that letter: where a
    case-blind pattern matches lower-case ASCII words, they are written here as they are. So a reply without a
    pattern's words is spared its scan."""
    if not text.isascii() and any(c in text for c in "İıſ\u212a"):
        text = text.translate(_ASCII_FOLDS)
    return text.lower()


def _decimal(text: str) -> Decimal | None:
    """'1,234.50' or '1.234,50' or '99,00' -> Decimal; the last separator followed by 1-2 digits is the decimal one."""
    text = text.strip(".,")
    match = re.search(r"[.,](\d{1,2})$", text)
    whole, cents = (text[: match.start()], match.group(1)) if match else (text, "0")
    try:
        return Decimal(f"{re.sub(r'[.,]', '', whole) or '0'}.{cents}")
    except InvalidOperation:
        return None


def _trim_url(url: str) -> str:
    # As the widget does: sentence punctuation at the end is not part of a link, a balanced ")" is.
    while url and url[-1] in ".,;:!?)]}*_":
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def _month_dates(text: str, *, month_first: bool) -> Iterator[tuple[re.Match[str], int, int]]:
    """Each "October 29" (`month_first`) or "29 October" in `text`: the match, its month and its day."""
    pattern, month_group, day_group = (_WORD_DAY, 1, 2) if month_first else (_DAY_WORD, 2, 1)
    starts = _month_starts(text)
    for match in pattern.finditer(text) if starts is None else _tries(text, pattern, starts, month_first):
        month = MONTHS.get(match.group(month_group).casefold())
        if month is not None:
            yield match, month, int(match.group(day_group))


def _dates(text: str) -> set[tuple[int, int]]:
    found = {(month, day) for first in (True, False) for _, month, day in _month_dates(text, month_first=first)}
    for _year, month, day in _iso_dates(text):
        found.add((int(month), int(day)))
    return found


# Every month's name and abbreviation begins with one of these three letters.
_MONTH_STEMS = tuple(sorted({name[:3] for name in MONTHS}))


@lru_cache(maxsize=_TEXTS_KEPT)
def _month_starts(text: str) -> tuple[int, ...] | None:
    """Every place a month's name may begin in `text` (and more), found by plain search, or None where that cannot
    be told: a tool result is long and names few months, so `_month_dates` need not try a regex at each of its
    characters. A month word is ASCII letters once folded; only "ſ" (long s) folds into one from outside ASCII
    ("ſept"), so without it a month word is ASCII as written, and its three first letters, in lower case, are a stem
    (non-ASCII characters become "?" one for one, so places stay put)."""
    if "ſ" in text:
        return None
    lower = text.encode("ascii", "replace").decode("ascii").lower()
    starts: list[int] = []
    for stem in _MONTH_STEMS:
        at = lower.find(stem)
        while at != -1:
            starts.append(at)
            at = lower.find(stem, at + 1)
    return tuple(starts)


def _space_before(text: str, end: int) -> int:
    """Where the run of whitespace ending at `end` begins (what `\\s` matches is what `str.isspace` says)."""
    while end > 0 and text[end - 1].isspace():
        end -= 1
    return end


def _tries(text: str, pattern: re.Pattern[str], starts: tuple[int, ...], month_first: bool) -> list[re.Match[str]]:
    """The matches of `pattern.finditer(text)` that may hold a month (the others are never read), in order, trying
    the pattern only where one may begin.

    The same matches: "October 29" begins at a boundary before a letter, and inside a match every other letter
    follows a letter or a digit; "29 October" begins at a boundary before a digit, and its second digit follows the
    first. So no match hides another: `finditer` yields one wherever the pattern matches, and each one with a month
    begins at a place tried here. "October 29" begins at its month word. "29 October" (or "29th of October") ends
    with it, after whitespace: its digits (one or two, then two letters or none) end just before that whitespace, or
    before "of" and the whitespace before it; the four places before each of those ends are tried."""
    if month_first:
        places: set[int] = set(starts)
    else:
        places = set()
        for start in starts:
            end = _space_before(text, start)
            if end == start or not text[end - 1].isalnum():
                continue  # (no digit, no "st" and no "of" ends before the whitespace)
            places.update(range(max(end - 4, 0), end))
            before_of = _space_before(text, end - 2) if end >= 2 else end
            if before_of < end - 2:
                places.update(range(max(before_of - 4, 0), before_of))
    return [match for place in sorted(places) if (match := pattern.match(text, place)) is not None]


# Where an ISO date may be in a long text: its "-MM-DD", a plain character to look for first.
_ISO_TAIL = re.compile(r"-\d\d-\d\d")


@lru_cache(maxsize=_TEXTS_KEPT)
def _iso_dates(text: str) -> tuple[tuple[str, str, str], ...]:
    """The (year, month, day) of each ISO date in `text`: the tool results' dates are read once for their days and
    once for their weekdays."""
    # `_DATE_ISO.findall`, trying the pattern only four characters before each "-MM-DD" and keeping each match that
    # begins after the last one kept, as `findall` does. No "-MM-DD" a match needs is passed over: the only one
    # the search skips begins at the second "-" of the one before ("-11-22-33"), and no date has its year there.
    found: list[tuple[str, str, str]] = []
    kept_to = 0
    for tail in _ISO_TAIL.finditer(text):
        start = tail.start() - 4
        if start >= kept_to and start >= 0 and (match := _DATE_ISO.match(text, start)) is not None:
            found.append((match.group(1), match.group(2), match.group(3)))
            kept_to = match.end()
    return tuple(found)


@dataclass(frozen=True)
class Evidence:
    """What a reply may draw facts from."""

    text: str  # tool results, the shopper's words and the persona notes: tracking, links, dates, amounts, windows
    tools: str  # the tool results (and persona notes) alone: what backs a status
    orders: frozenset[str]  # order numbers (`order_key`) the tools returned, the instructions' example, the notes
    said: str = ""  # the shopper's own words alone: a day they need the order by ("by Christmas") may be repeated
    quoted: frozenset[str] = frozenset()  # "#05-14"s written inside a tool result's own words (a carrier's event)

    # What `text` backs is read once per text (`_read_dates`, `_read_amounts`): a turn's retries and streamed
    # sentences are checked against evidence built anew from the same tool results.
    @property
    def dates(self) -> frozenset[tuple[int, int]]:
        return _read_dates(self.text)

    @property
    def data_dates(self) -> frozenset[tuple[int, int]]:
        """The dates the tool results and persona notes give: a reply may state these as facts."""
        return _read_dates(self.tools)

    def their_dates(self, today: date | None) -> frozenset[tuple[int, int]]:
        """The dates only the shopper named: typed ("December 20") or a day they need it by ("by Christmas", read
        against the store's today). A reply may say these back as theirs, never as a promise."""
        return _shopper_dates(self.said, today) - self.data_dates

    @property
    def amounts(self) -> frozenset[Decimal]:
        return _read_amounts(self.text)

    @classmethod
    def of(cls, source: str | Evidence) -> Evidence:
        """A plain text is its own tool data; its order numbers are the ones it names ("#1234", "order_number")."""
        if isinstance(source, Evidence):
            return source
        named = [*_ORDER_REF.findall(source), *re.findall(r'"order_number":\s*"([^"]+)"', source)]
        return cls(source, source, frozenset(order_key(n) for n in named))


@lru_cache(maxsize=_TEXTS_KEPT)
def _read_dates(text: str) -> frozenset[tuple[int, int]]:
    return frozenset(_dates(text))


@lru_cache(maxsize=_TEXTS_KEPT)
def _read_amounts(text: str) -> frozenset[Decimal]:
    # Amounts in tool results are decimal strings ("64.00"); a shopper may also name one ("$64").
    amounts_text = _DECIMAL.findall(text) + [a or b for a, b in _MONEY.findall(text)]
    return frozenset(d for n in amounts_text if (d := _decimal(n)) is not None)


@lru_cache(maxsize=_TEXTS_KEPT)
def _order_refs_in(text: str) -> tuple[str, ...]:
    """The "#1234"s of a text: the instructions (14-20 KB, the same every request) are read once."""
    return tuple(_ORDER_REF.findall(text))


def _read_result(content: object, orders: set[str], quoted: set[str], *, quotes: bool = True) -> None:
    """Reads a tool result once for the order numbers it returned (`orders`) and the "#..."s written inside its words
    (`quoted`), skipping what a tool only echoed back unchecked (`not_verified`).

    An order number is an "order_number" string, anywhere. A quoted one is a "#..." in any other string: a carrier's
    "Delivered to neighbour at #05-14" (a unit number, as Singapore writes addresses). A reply quoting those words
    quotes the data; only the very text is grounded, never an order it might be read as. Nothing under an
    "order_number" key is quoted (`quotes`)."""
    if isinstance(content, dict):
        if content.get("status") == "not_verified":
            return
        for key, value in content.items():
            if key == "order_number":
                if isinstance(value, str):
                    orders.add(order_key(value))
                else:
                    _read_result(value, orders, quoted, quotes=False)
            elif isinstance(value, str):  # most of a result: read here rather than in a call of its own
                if quotes and "#" in value:
                    quoted.update(_ORDER_REF.findall(value))
            else:
                _read_result(value, orders, quoted, quotes=quotes)
    elif isinstance(content, list):
        for value in content:
            _read_result(value, orders, quoted, quotes=quotes)
    elif quotes and isinstance(content, str) and "#" in content:
        quoted.update(_ORDER_REF.findall(content))


# `json.dumps(content, ensure_ascii=False)`, which builds this encoder at every call.
_JSON = json.JSONEncoder(ensure_ascii=False)
# An "order_number" key with a string value, as `json.dumps` writes it: the quote before the key has no backslash
# before it, so it is no quote escaped inside a string, and being followed by a letter, it opens a string. The key
# is written first and the backslash looked for behind it (`(?<!\\"order_number": ")`, the character before the
# key's quote): the same matches as the look-behind put first, and a pattern that begins with plain text is searched
# for as text by the regex engine instead of being tried at every character of a long result (3 us, not 45).
_ORDER_NUMBER_WRITTEN = re.compile(r'"order_number": "(?<!\\"order_number": ")((?:[^"\\]|\\.)*)"')


def _read_orders_written(written: str, orders: set[str]) -> bool:
    """`_read_result` of a tool result from its JSON (`written`), where that is plain to see: no result in it is
    one a tool only echoed back (no "not_verified" anywhere), and every "#" in it is in an order number (so no words
    quote one). Then its order numbers are the "order_number" strings as written, and nothing is quoted. False
    (nothing read) otherwise."""
    if "not_verified" in written:
        return False
    values = _ORDER_NUMBER_WRITTEN.findall(written)
    if sum(value.count("#") for value in values) != written.count("#"):
        return False
    # (A string with no backslash is as written; one with escapes is read as JSON.)
    orders.update(order_key(json.loads(f'"{value}"') if "\\" in value else value) for value in values)
    return True


def evidence(messages: Sequence[ModelMessage], extra: str = "", example: str = "") -> Evidence:
    """All text the reply may draw facts from: tool results, the shopper's words, persona notes; and `example`, the
    example order name the instructions teach in the shop's own format (`agent.playbook.compose.order_example`)."""
    # The example number the instructions teach: conversations are stored without their instructions (they are the
    # same every turn), yet every model request carried them. The shop's own example is given as it is written, with
    # or without a "#": "looks like PK1234NE" names no order and no tracking number.
    taught = [*_order_refs_in(prompts.text("verification.md")), *([example] if example else [])]
    chunks, tools, said = [extra, *taught], [extra], []
    orders = {order_key(ref) for ref in [*_ORDER_REF.findall(extra), *taught]}
    quoted: set[str] = set()
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        if message.instructions:
            # Only the example order number the instructions teach ("looks like #1234"), not their dates.
            examples = _order_refs_in(message.instructions)
            chunks.extend(examples)
            orders.update(order_key(ref) for ref in examples)
        for part in message.parts:
            if isinstance(part, ToolReturnPart):
                content = to_jsonable_python(part.content)
                chunks.append(_JSON.encode(content))
                tools.append(chunks[-1])
                if not _read_orders_written(chunks[-1], orders):
                    _read_result(content, orders, quoted)
            elif isinstance(part, UserPromptPart) and isinstance(part.content, str):
                chunks.append(part.content)
                said.append(part.content)
    return Evidence("\n".join(chunks), "\n".join(tools), frozenset(orders), "\n".join(said), frozenset(quoted))


def ungrounded(reply: str, source: str | Evidence, today: date | None = None) -> list[str]:
    """The facts in `reply` that `source` does not back, as short descriptions; empty when the reply is grounded."""
    backing = Evidence.of(source)
    text = backing.text
    reply_wo_urls = _URL.sub(" ", reply)
    days = _Days(backing, today)
    return [
        *_unknown_links(reply, text),
        *_unknown_tracking(reply_wo_urls, text),
        *_unknown_orders(reply_wo_urls, backing.orders, backing.quoted),
        *_unknown_amounts(reply_wo_urls, backing),
        *_unknown_dates(reply_wo_urls, days),
        *_unknown_days(reply_wo_urls, days, today),
        *unknown_statuses(reply_wo_urls, backing.tools),
        *unknown_windows(reply_wo_urls, text),
    ]


@lru_cache(maxsize=1024)
def _shopper_dates(said: str, today: date | None) -> frozenset[tuple[int, int]]:
    named = _dates(said)
    if today is not None:
        # "Will it be here by Christmas?": the day the shopper named, as a date ("December 25").
        named |= {(d.month, d.day) for line in said.splitlines() for d in deadline_days(line, today)}
    return frozenset(named)


def _unknown_links(reply: str, source: str) -> list[str]:
    links = [_trim_url(u) for u in _URL.findall(reply)]
    if not links:
        return []
    source_urls = _links_in(source)
    return [f"link {url}" for url in links if url not in source_urls]


@lru_cache(maxsize=_TEXTS_KEPT)
def _links_in(source: str) -> frozenset[str]:
    return frozenset(_trim_url(u) for u in _URL.findall(source))


@lru_cache(maxsize=_TEXTS_KEPT)
def _upper(source: str) -> str:
    """The source in capitals: where a reply's tracking numbers must be."""
    return source.upper()


@lru_cache(maxsize=_TEXTS_KEPT)
def _compact(source_upper: str) -> str:
    """The source in capitals without spaces and dashes: where a tracking number the data spaces out may be."""
    return re.sub(r"[\s\-]", "", source_upper)


def _unknown_tracking(reply: str, source: str) -> list[str]:
    problems: list[str] = []
    tokens, spaced_numbers = _TRACKING.findall(reply.upper()), _SPACED_DIGITS.findall(reply)
    if not (tokens or spaced_numbers):  # most replies quote no number: the source need not be read
        return problems
    # The compact source only for a number not in the source as written (a quoted number mostly is).
    source_upper = _upper(source)
    for token in tokens:
        if token not in source_upper and token not in _compact(source_upper):
            problems.append(f"tracking number {token}")
    for spaced in spaced_numbers:
        compact = re.sub(r"[\s\-]", "", spaced)
        if spaced not in source and len(compact) >= 8 and compact not in _compact(source_upper):
            problems.append(f"tracking number {spaced}")
    return problems


def _order_refs(reply: str) -> Iterator[str]:
    """Order numbers in a reply: "#1234", "order 1234", "order number AB-1234"; not "package #2"."""
    for match in _ORDER_REF.finditer(reply):
        ref = match.group(0)
        if len(re.sub(r"[^A-Za-z0-9]", "", ref)) >= 3 and not _NOT_ORDER_BEFORE.search(reply[: match.start()]):
            yield ref
    for match in _ORDER_WORD.finditer(reply):
        yield match.group(1)


def _known_order(ref: str, orders: frozenset[str]) -> bool:
    """Whether a reply's order reference is one the tools returned, written any way the name may be ('TSV-8101' or
    '8101' for 'TSV.8101'; `shopify.names.order_name_matches`)."""
    return order_key(ref) in orders or any(order_name_matches(known, ref) for known in orders)


def _unknown_orders(reply: str, orders: frozenset[str], quoted: frozenset[str] = frozenset()) -> list[str]:
    """Order numbers the tools never returned in this conversation: the shopper typing one proves nothing. A "#05-14"
    written as it is in a tool result's own words (`quoted`) is the data's, not an order named."""
    problems: list[str] = []
    for ref in _order_refs(reply):
        problem = f"order number {ref}"
        if ref not in quoted and not _known_order(ref, orders) and problem not in problems:
            problems.append(problem)
    return problems


def _reply_amounts(reply: str) -> Iterator[tuple[str, Decimal | None]]:
    """Every amount in a reply, with a currency ("$64.00", "99 USD") or without ("65.00", "a refund of 65")."""
    taken: list[tuple[int, int]] = []
    for match in _MONEY.finditer(reply) if _may_match(_MONEY, reply) else ():
        taken.append(match.span())
        number = match.group(1) or match.group(2)
        yield number, _decimal(number)
    for pattern in (_MONEY_WORDS, _BARE_DECIMAL):
        for match in pattern.finditer(reply) if _may_match(pattern, reply) else ():
            group = 0 if pattern is _BARE_DECIMAL else (1 if match.group(1) else 2)
            start, end = match.span(group)
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue
            if pattern is _BARE_DECIMAL and _TIME_BEFORE.search(reply[:start]):
                continue  # "at 14.30": a time
            taken.append((start, end))
            yield match.group(group), _decimal(match.group(group))


def _may_match(pattern: re.Pattern[str], reply: str) -> bool:
    """False where `pattern` (of `_reply_amounts`) cannot match `reply`, told by something each of its matches
    holds: most replies name no amount, and these cheap looks spare the patterns' scans."""
    if pattern is _MONEY:  # a currency sign, or a code (capitals: not case-blind) beside whitespace and a digit
        signed = any(sign in reply for sign in "$€£¥₹")
        return signed or (_CAPITALS.search(reply) is not None and any(p.search(reply) for p in _MONEY_CODE))
    if pattern is _BARE_DECIMAL:  # "65.00"
        return _DECIMALS.search(reply) is not None
    folded = _folded(reply)  # `_MONEY_WORDS` (case-blind): one of its words
    return any(word in folded for word in _MONEY_WORD_STEMS)


# (Each begins with a plain character or a range of them, which the regex engine looks for before trying the rest.)
_CAPITALS = re.compile(r"[A-Z][A-Z][A-Z]")
_MONEY_CODE = (
    re.compile(r"[A-Z][A-Z][A-Z]\s\s?\d"),
    re.compile(r"[A-Z](?<=\d[A-Z])[A-Z][A-Z]"),
    re.compile(r"[A-Z](?<=\d\s[A-Z])[A-Z][A-Z]"),
)
_DECIMALS = re.compile(r"\.\d\d")
_MONEY_WORD_STEMS: tuple[str, ...] = ("refund", "total", "charge", "paid", "credit", "amount", "cost")
_MONEY_WORD_STEMS += ("dollars", "euros", "pounds", "bucks", "quid", "yen")


def _unknown_amounts(reply: str, backing: Evidence) -> list[str]:
    stated = [(text, value) for text, value in _reply_amounts(reply) if value is not None]
    if not stated:  # most replies name no amount: the source (every tool result) need not be scanned
        return []
    return [f"amount {text}" for text, value in stated if value not in backing.amounts]


class _Days:
    """The days a reply may name: the data's as facts, the shopper's only as theirs. Read from the evidence only when
    the reply names a day (most name none)."""

    def __init__(self, backing: Evidence, today: date | None) -> None:
        self._backing = backing
        self.today = today
        self.tools = backing.tools  # the tool results and notes, as written ("attempt 12/03", "Friday")
        self.said = backing.said  # the shopper's words, as written

    @cached_property
    def data(self) -> frozenset[tuple[int, int]]:
        """(month, day) the tool results and persona notes give."""
        return self._backing.data_dates

    @cached_property
    def theirs(self) -> frozenset[tuple[int, int]]:
        """(month, day) only the shopper named."""
        return self._backing.their_dates(self.today)

    def weekday(self, index: int) -> _DataWeekday:
        return _data_weekday(self.tools, index)

    def backed(self, reply: str, span: tuple[int, int], readings: AbstractSet[tuple[int, int]]) -> bool:
        """Whether a day in the reply (each way it may be read) is the data's, or the shopper's said back as theirs."""
        if readings & self.data:
            return True
        return bool(readings & self.theirs) and _said_as_theirs(reply, *span)


def _unknown_dates(reply: str, days: _Days) -> list[str]:
    named: dict[tuple[int, int], bool] = {}
    for month_first in (True, False):
        for match, month, day in _month_dates(reply, month_first=month_first):
            key = (month, day)
            named[key] = named.get(key, True) and days.backed(reply, match.span(), {key})
    # Each pattern below is tried only where the reply holds what each of its matches does: "-", "/", ".5.", "the 2".
    for match in _DATE_ISO.finditer(reply) if "-" in reply else ():
        key = (int(match.group(2)), int(match.group(3)))
        named[key] = named.get(key, True) and days.backed(reply, match.span(), {key})
    problems = [f"date {month}/{day}" for (month, day), backed in sorted(named.items()) if not backed]
    for match in _DATE_SLASH.finditer(reply) if "/" in reply else ():
        first, second = int(match.group(1)), int(match.group(2))
        # Quoted as the data wrote it ("attempt 12/03", "1/2 lb") or a date the tools gave, either way round.
        quoted = match.group(0) in days.tools or (match.group(0) in days.said and _said_as_theirs(reply, *match.span()))
        if not (quoted or days.backed(reply, match.span(), {(first, second), (second, first)})):
            problems.append(f"date {first}/{second}")
    for match in _DATE_DOTTED.finditer(reply) if _DOTTED_DAY.search(reply) else ():
        day, month = int(match.group(1)), int(match.group(2))
        if not days.backed(reply, match.span(), {(month, day), (day, month)}):
            problems.append(f"date {match.group(1)}.{match.group(2)}.")
    for match in _ORDINAL_DAY.finditer(reply) if _THE_DIGIT.search(_folded(reply)) else ():
        # "The 20th": any month's 20th the data or the shopper gives.
        day = int(match.group(1))
        if not days.backed(reply, match.span(), {(month, day) for month in range(1, 13)}):
            problems.append(f"date the {match.group(1)}th")
    return problems


def _unknown_days(reply: str, days: _Days, today: date | None) -> list[str]:
    """Weekdays, holidays and a 'tomorrow' the data never names (or the shopper's, not said back as theirs)."""
    return [
        *_unknown_weekdays(reply, days),
        *_unknown_holidays(reply, days, today),
        *_unknown_tomorrow(reply, days, today),
    ]


def _unknown_holidays(reply: str, days: _Days, today: date | None) -> list[str]:
    """Holidays named as a day ("it'll arrive by Christmas"), not as a greeting ("Merry Christmas")."""
    tools_lower, said_lower = days.tools.lower(), days.said.lower()
    problems: list[str] = []
    for span, name, falls_on in holidays_named(reply, today) if _may_name_a_holiday(reply) else ():
        readings = {(d.month, d.day) for d in falls_on}
        if name in tools_lower or readings & days.data:
            continue
        theirs = name in said_lower or bool(readings & days.theirs)
        if not (theirs and _said_as_theirs(reply, *span)) and f"day {name.title()}" not in problems:
            problems.append(f"day {name.title()}")
    return problems


@lru_cache(maxsize=1)
def _holiday_stems() -> tuple[str, ...] | None:
    """Names of which each holiday name `holidays_named` reads holds one (the names no other name is part of), in
    lower case; None where a name is not ASCII (then `_folded` does not tell)."""
    names = {name.lower() for h in prompts.toml("deadlines.toml")["holidays"].values() for name in h["names"]}
    if not all(name.isascii() for name in names):
        return None
    return tuple(sorted(name for name in names if not any(other != name and other in name for other in names)))


def _may_name_a_holiday(reply: str) -> bool:
    """False where `holidays_named` (case-blind, reading "’" as "'") cannot find a holiday in `reply`: most replies
    name no holiday, and a plain look spares its scan."""
    stems = _holiday_stems()
    if stems is None:
        return True
    folded = _folded(reply.replace("’", "'"))
    return any(stem in folded for stem in stems)


# --- weekdays ------------------------------------------------------------------------------------------------------

# What may stand between a weekday and the date it belongs to: "Friday, November 27", "Friday 27 November",
# "Friday the 27th".
_WEEKDAY_GAP = re.compile(r",?\s*")
# Before a weekday standing alone, in its clause: words that put it in the past ("it was delivered Friday", "last
# Friday") unless the clause also looks ahead ("it was expected Friday", "it will be delivered Friday").
_PAST_CUE = re.compile(
    r"\b(?:was|were|had|did|last|delivered|shipped|dispatched|arrived|sent|left|departed|collected|picked|"
    r"scanned|came|went|got)\b",
    re.IGNORECASE,
)
_AHEAD_CUE = re.compile(
    r"\b(?:will|shall|should|would|could|may|might|expected|expect|estimated|scheduled|due|be|going|next|this|"
    r"coming|by|until|till|arrives?|arriving)\b|'ll\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _DataWeekday:
    """One weekday as the tool results (and notes) give it: the dates on it, and whether it is named other than as a
    date's day. Read for the weekdays a reply names only (most name one or none): each weekday's reading is its
    own, so reading one alone gives what reading all seven gave for it."""

    dated: frozenset[tuple[int, int]]  # (month, day) of each date on it, given with its year or with the weekday
    free: bool  # named not as a date's day: a carrier's "arriving Friday", notes' "we ship Mondays"


def _date_after(text: str, end: int) -> tuple[int | None, int] | None:
    """The (month, day) a weekday ending at `end` is the day of ("Friday, November 27"; month None for "Friday the
    27th"), or None when no date follows it."""
    gap = _WEEKDAY_GAP.match(text, end)
    at = gap.end() if gap else end
    for month_first in (True, False):
        pattern, month_group, day_group = (_WORD_DAY, 1, 2) if month_first else (_DAY_WORD, 2, 1)
        match = pattern.match(text, at)
        if match and (month := MONTHS.get(match.group(month_group).casefold())) is not None:
            return month, int(match.group(day_group))
    ordinal = _ORDINAL_DAY.match(text, at)
    return (None, int(ordinal.group(1))) if ordinal else None


@lru_cache(maxsize=_TEXTS_KEPT)
def _iso_weekdays(tools: str) -> frozenset[tuple[int, int, int]]:
    """(weekday 0-6, month, day) of each ISO date of the tool results."""
    dated: set[tuple[int, int, int]] = set()
    for year, month, day in _iso_dates(tools):
        try:
            dated.add((date(int(year), int(month), int(day)).weekday(), int(month), int(day)))
        except ValueError:
            continue
    return frozenset(dated)


@lru_cache(maxsize=_TEXTS_KEPT)
def _lower(source: str) -> str:
    return source.lower()


@lru_cache(maxsize=_TEXTS_KEPT * 2)
def _data_weekday(tools: str, index: int) -> _DataWeekday:
    dated = {(month, day) for weekday, month, day in _iso_weekdays(tools) if weekday == index}
    free = False
    lower, weekday = _lower(tools), WEEKDAYS[index]
    start = lower.find(weekday)
    while start != -1:
        named = _date_after(lower, start + len(weekday))
        if named is not None and named[0] is not None:
            dated.add((named[0], named[1]))
        elif named is None:
            free = True
        start = lower.find(weekday, start + 1)
    return _DataWeekday(frozenset(dated), free)


def _weekday_backed(reply: str, match: re.Match[str], index: int, days: _Days) -> bool:
    """Whether the weekday at `match` stands for a date the data gives on that weekday: the date written after it
    ("Friday, November 27"), or else the day it names from today ("arrives Friday": the coming one; "was delivered
    Friday": the last one). Without today, any date of the data on that weekday."""
    dated = days.weekday(index).dated
    named = _date_after(reply, match.end())
    if named is not None:
        month, day = named
        return any(d == day and month in (None, m) for m, d in dated)
    today = days.today
    if today is None:
        return bool(dated)
    boundary = _CLAUSE_START.match(reply[: match.start()])
    clause = reply[boundary.end() if boundary else 0 : match.start()]
    if _PAST_CUE.search(clause) and not _AHEAD_CUE.search(clause):
        meant = today - timedelta(days=(today.weekday() - index) % 7)
    else:
        meant = today + timedelta(days=(index - today.weekday()) % 7)
    return (meant.month, meant.day) in dated


def _unknown_weekdays(reply: str, days: _Days) -> list[str]:
    """Weekdays that stand for no date of the data (and are not the shopper's, said back as theirs). A weekday the
    data or the notes name other than as a date's day ("arriving Friday", "we ship Mondays") may be named anywhere."""
    reply_lower = reply.lower()
    problems: list[str] = []
    for index, weekday in enumerate(WEEKDAYS):
        short = _SHORT_WEEKDAYS[index]
        # A short form matches only as written (the pattern is not case-blind): not looked for in a reply without
        # what all the day's forms begin with ("Tue" of "Tue" and "Tues").
        shorts = list(short.finditer(reply)) if _WEEKDAY_STEMS[index] in reply else []
        # Most replies name no weekday: the evidence (the tool results, long) is searched only for one they name.
        if (weekday not in reply_lower and not shorts) or days.weekday(index).free:
            continue
        # A short form the data itself writes (in a product's name, a carrier's note) is the data's word, not a day.
        if shorts and short.search(days.tools):
            shorts = []
        written = [*_WEEKDAY_WORDS[index].finditer(reply_lower), *shorts]
        theirs = bool(written) and (weekday in days.said.lower() or short.search(days.said) is not None)
        for match in written:
            if _weekday_backed(reply, match, index, days) or (theirs and _said_as_theirs(reply, *match.span())):
                continue
            problems.append(f"day {weekday.title()}")
            break
    return problems


def _weekday_forms() -> tuple[tuple[str, ...], ...]:
    """Each weekday's short forms, as a reply may write them: "Fri", "Tue" and "Tues", "Thu", "Thur" and "Thurs"."""
    extra = {1: ("Tues",), 2: ("Weds",), 3: ("Thur", "Thurs")}
    names = get_day_names("abbreviated", locale="en")
    return tuple((names[day], *extra.get(day, ())) for day in range(7))


def _common_start(words: tuple[str, ...]) -> str:
    """What all `words` begin with: "Tue" of "Tue" and "Tues"."""
    start = words[0]
    for word in words[1:]:
        while not word.startswith(start):
            start = start[:-1]
    return start


def _short_weekdays() -> tuple[re.Pattern[str], ...]:
    """Each weekday's short forms as a reply may write them ("arrives Fri.", "Tues, Dec 8"): capitalised, and ending
    a sentence or followed by a date, so "it sat at the depot" or a "Long Sleeve Sun Shirt" names no day."""
    return tuple(
        re.compile(
            rf"{_word_start(stem)}(?:{'|'.join(form[len(stem) :] for form in forms)})\b"
            rf"(?=[.,!?;)]|$|\s+\d|\s+{_MONTH_SHORT}\b)"
        )
        for forms, stem in zip(_WEEKDAY_FORMS, _WEEKDAY_STEMS, strict=True)
    )


def _word_start(word: str) -> str:
    """`\\b{word}` for a word that begins with a letter, written so that the regex engine searches for the word as
    plain text instead of trying the pattern at every position (some 10 us over a reply): the word, then a look
    behind it for a word character before it (the boundary). The same matches; of `\\b(?:Tue|Tues)`, the same as
    `Tue(?:|s)` with the boundary before, tried in the same order (tests/test_grounding_equivalence.py)."""
    return rf"{word}(?<!\w{word})"


_MONTH_SHORT = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)"
_WEEKDAY_FORMS = _weekday_forms()
_WEEKDAY_STEMS = tuple(_common_start(forms) for forms in _WEEKDAY_FORMS)
_SHORT_WEEKDAYS = _short_weekdays()
_WEEKDAY_WORDS = tuple(re.compile(rf"{_word_start(weekday)}\b") for weekday in WEEKDAYS)


def _unknown_tomorrow(reply: str, days: _Days, today: date | None) -> list[str]:
    reply_lower = reply.lower()
    problems: list[str] = []
    if "tomorrow" not in reply_lower:
        return problems
    tools_lower, said_lower = days.tools.lower(), days.said.lower()
    tomorrow = today + timedelta(days=1) if today is not None else None
    if tomorrow is None or "tomorrow" in tools_lower or (tomorrow.month, tomorrow.day) in days.data:
        return problems
    # The shopper's own "tomorrow" (or the day after today, however they named it) is theirs to hear back.
    theirs = "tomorrow" in said_lower or (tomorrow.month, tomorrow.day) in days.theirs
    if any(not (theirs and _said_as_theirs(reply, *m.span())) for m in re.finditer(r"\btomorrow\b", reply_lower)):
        problems.append("delivery 'tomorrow'")
    return problems


# --- a day the shopper named, said back as theirs -----------------------------------------------------------------

# Before the day in its clause: a negated verb ("I can't promise delivery by", "it isn't expected to arrive by", "it
# won't be sent before"), an open question ("whether it'll be there by"), or the shopper needing or asking for it
# ("you need it by", "you asked about"). Not "no" or "without": "no doubt it'll be there by", "without fail by".
_NEGATION_BEFORE = re.compile(r"\b(?:not|cannot|unable|whether)\b|n't\b", re.IGNORECASE)
_THEIRS_BEFORE = re.compile(
    r"\byou(?:'ve|'d|'re)?\s+(?:\w+\s+)?(?:need|needed|asked|ask|mentioned|said|wrote|want|wanted|hoped|hoping)\b",
    re.IGNORECASE,
)
# After the day in its clause, a negated verb: "delivery by December 25 isn't guaranteed", "... can not be promised"
# (not "by December 25 if not sooner", a promise).
_NEGATION_AFTER = re.compile(
    r"n't\b|\bcannot\b|\b(?:is|are|was|can|will|would|could|may)\s+not\b|\bnever\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(r"[.;:!?,()\n\"“”]|\b(?:but|and|or|so)\b", re.IGNORECASE)
# A quoted stretch of one line: "…", “…”, ‘…’ or '…' (an apostrophe inside a word opens and closes nothing).
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|(?<!\w)['‘][^'’\n]*['’](?!\w)")


def _said_as_theirs(reply: str, start: int, end: int) -> bool:
    """Whether the day at reply[start:end] is said back as the shopper's and not promised: quoted, negated in its
    clause, named as what they need or asked about, or in one of the playbook's own deadline sentences."""
    plain = reply.replace("’", "'")  # the same length: spans stay put
    if any(q.start() < start and end < q.end() for q in _QUOTED.finditer(plain)):
        return True
    boundary = _CLAUSE_START.match(plain[:start])
    before = plain[boundary.end() if boundary else 0 : start]
    after_end = _CLAUSE_END.search(plain, end)
    after = plain[end : after_end.start() if after_end else len(plain)]
    if _NEGATION_BEFORE.search(before) or _THEIRS_BEFORE.search(before) or _NEGATION_AFTER.search(after):
        return True
    return any(m.start("day") <= start and end <= m.end("day") for f in _playbook_frames() for m in f.finditer(plain))


# A stretch of one sentence standing for a fact the playbook fills in (a carrier, a date): a full stop inside a word
# or a name ("U.S.P.S") is not a sentence's end.
_FACT = r"(?:[^\n.!?]|[.!?](?!\s))*?"


@lru_cache(maxsize=1)
def _playbook_frames() -> tuple[re.Pattern[str], ...]:
    """The sentences of the playbook's deadline answers that name the shopper's day (`{by}` in the [deadline] section
    of prompts/replies.toml), as patterns: their own words, each other fact a stretch of the same sentence, the
    shopper's day as the group `day`. "UPS estimates delivery on Thursday, December 10, before December 25." sets
    the shopper's day against the carrier's estimate (itself checked as a date of the data); it promises nothing."""
    section = prompts.toml("replies.toml")["deadline"]
    by_words = "|".join(re.escape(section[key]) for key in ("by_word", "before_word"))
    frames: list[re.Pattern[str]] = []
    # A template may be one text or one per tone.
    templates = [t for v in section.values() for t in (v.values() if isinstance(v, dict) else [v])]
    for template in templates:
        if not isinstance(template, str) or "{by}" not in template:
            continue
        sentence = next(s for s in re.split(r"(?<=[.!?])\s+", template) if "{by}" in s)
        # A fact or a mark before the first words of the frame adds nothing to it ("{subject}: {carrier} ...").
        sentence = re.sub(r"^(?:\{(?!by\})\w+\}|[^\w{])+", "", sentence)
        pattern = ""
        for piece in re.split(r"(\{\w+\})", sentence):
            if piece == "{by}":
                pattern += rf"(?P<day>{_FACT})"
            elif piece == "{by_word}":
                pattern += rf"(?:{by_words})"
            elif piece.startswith("{"):
                pattern += _FACT
            else:
                pattern += re.escape(piece)
        frames.append(re.compile(pattern, re.IGNORECASE))
    return tuple(frames)


# --- statuses and delivery windows ---------------------------------------------------------------------------------

# A package state a reply may assert, and the Shopify codes (display or event status) that back it. A later state
# backs an earlier one: a delivered parcel was in transit.
_MOVING = frozenset({"IN_TRANSIT", "CARRIER_PICKED_UP", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY", "DELAYED"})
_STATUS_CLAIMS: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = tuple(
    (name, re.compile(pattern, re.IGNORECASE), frozenset(codes))
    for name, pattern, codes in (
        ("delivered", r"\bdelivered\b", {"DELIVERED"}),
        ("out for delivery", r"\bout for delivery\b", {"OUT_FOR_DELIVERY", "DELIVERED", "ATTEMPTED_DELIVERY"}),
        (
            "attempted delivery",
            r"\b(?:attempted (?:a |to )?deliver(?:y|ed)?|delivery (?:was |has been )?attempted|delivery attempt|"
            r"missed (?:the |a |your )?delivery)\b",
            {"ATTEMPTED_DELIVERY"},
        ),
        (
            "ready for pickup",
            r"\bready (?:for (?:pickup|pick-up|collection)|to (?:be )?(?:collect|pick))",
            {"READY_FOR_PICKUP"},
        ),
        ("in transit", r"\bin transit\b", _MOVING | {"DELIVERED", "NOT_DELIVERED", "FAILURE"}),
        ("delayed", r"\b(?:delayed|reports? a delay)\b", {"DELAYED"}),
        ("returned to sender", r"\breturn(?:ed|ing)? to (?:the )?sender\b", set()),
    )
)
# Words of which each match of a state's pattern holds one (in lower case), in the order of `_STATUS_CLAIMS`.
_STATUS_WORDS = (
    ("delivered",),
    ("out for delivery",),
    ("attempt", "missed"),
    ("ready",),
    ("in transit",),
    ("delay",),
    ("sender",),
)
# Words before a state, in its clause, that make it no claim: "hasn't been delivered", "once it's out for delivery",
# "should be delivered by", "estimated to be delivered".
_NOT_A_CLAIM = re.compile(
    r"\b(?:not|never|no|once|when|whenever|until|till|if|unless|after|before|whether|will|would|should|could|can|"
    r"may|might|must|expected|estimated|scheduled|due|be|being|hope|hopefully)\b|n't\b|'ll\b",
    re.IGNORECASE,
)
_CLAUSE_START = re.compile(r".*(?:[.;:!?,()\n\"“”]|\b(?:but|and|or|so)\b)", re.IGNORECASE | re.DOTALL)
_STATUS_CODE = re.compile(r'"status":\s*"([A-Z_]+)"')
_MESSAGE = re.compile(r'"message":\s*"((?:[^"\\]|\\.)*)"')


def _data_statuses(tools: str) -> set[str]:
    codes = set(_STATUS_CODE.findall(tools))
    if re.search(r'"delivered":\s*\{', tools):
        codes.add("DELIVERED")
    if re.search(r'"shipped":\s*\{', tools):
        codes.add("IN_TRANSIT")
    return codes


def _is_claim(reply: str, start: int, end: int) -> bool:
    """A state stated as fact: not negated, hypothetical, quoted, defined ("in transit means"), or asked about."""
    before = reply[:start]
    boundary = _CLAUSE_START.match(before)
    clause = before[boundary.end() :] if boundary else before
    sentence_end = re.search(r"[.!?\n]", reply[end:])
    asked = sentence_end is not None and sentence_end.group(0) == "?"
    quoted = before.rstrip().endswith(('"', "“", "'", "‘"))
    defined = re.match(r"[\"”'’]?\s*means\b", reply[end:]) is not None
    return not (_NOT_A_CLAIM.search(clause) or asked or quoted or defined)


@lru_cache(maxsize=_TEXTS_KEPT)
def _data_states(tools: str) -> tuple[frozenset[str], str]:
    """The status codes of the tool results, and their carriers' messages as one text."""
    return frozenset(_data_statuses(tools)), " ".join(_MESSAGE.findall(tools))


def unknown_statuses(reply: str, tools: str) -> list[str]:
    """Package states the reply asserts that no package or carrier event in the tool results has."""
    problems: list[str] = []
    folded = _folded(reply)
    for (name, pattern, backing), words in zip(_STATUS_CLAIMS, _STATUS_WORDS, strict=True):
        if not any(word in folded for word in words):
            continue  # (a reply states few states: the others' patterns are not tried)
        if not any(_is_claim(reply, m.start(), m.end()) for m in pattern.finditer(reply)):
            continue  # (the tool results are read only for a state the reply asserts)
        codes, messages = _data_states(tools)
        if not (codes & backing or pattern.search(messages)):  # no status code says so, nor a carrier's message
            problems.append(f"status '{name}'")
    return problems


_WINDOW_NUMBER = r"(?:\d+(?:\s*(?:-|–|to|or)\s*\d+)?|a few|a couple(?: of)?|several|one|two|three|four|five|six|seven)"
_WINDOW = re.compile(
    rf"\b(?:within|in|takes?|taking|another|up to|around|about|approximately|roughly|next)\s+(?:the\s+next\s+)?"
    rf"(?:about\s+|around\s+|up to\s+)?({_WINDOW_NUMBER})\s+((?:business|working)\s+)?(days?|weeks?|hours?)\b"
    rf"(?!\s+ago)"
    rf"|\b(\d+\s*(?:-|–|to)\s*\d+)\s+((?:business|working)\s+)?(days?|weeks?)\b",
    re.IGNORECASE,
)
_ANY_SPAN = re.compile(
    rf"({_WINDOW_NUMBER})\s+((?:business|working)\s+)?(days?|weeks?|hours?)\b",
    re.IGNORECASE,
)


_UNIT_AFTER_SPACE = re.compile(r"\s(?:day|week|hour)", re.IGNORECASE)


def _span_key(number: str, unit: str) -> tuple[str, str]:
    return re.sub(r"\s*(?:-|–|to|or)\s*", "-", number.lower()), unit.lower().rstrip("s")


def unknown_windows(reply: str, source: str) -> list[str]:
    """Delivery windows ("within 3-5 business days", "in 2 days") that neither the data nor the persona notes give."""
    # A window's unit follows whitespace ("3-5 business days"): a reply without " day", " week" or " hour" (in the
    # pattern's own case folding) is spared the scan of `_WINDOW`, which tries its many words at every position.
    promised = list(_WINDOW.finditer(reply)) if _UNIT_AFTER_SPACE.search(reply) else []
    if not promised:  # most replies promise no window: the source need not be scanned
        return []
    known = {_span_key(m.group(1), m.group(3)) for m in _ANY_SPAN.finditer(source)}
    problems: list[str] = []
    for match in promised:
        number, unit = (match.group(1), match.group(3)) if match.group(1) else (match.group(4), match.group(6))
        if _span_key(number, unit) not in known:
            problems.append(f"delivery window '{match.group(0).strip()}'")
    return problems
