"""The grounding guard: every tracking number, link, order number, date and amount in a reply must appear in this
conversation's tool results or the shopper's own words (or the merchant's persona notes)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_core import to_jsonable_python

from agent.calendar_words import MONTH_PATTERN, MONTHS, WEEKDAYS
from shopify.names import order_key

_DATE_MD = re.compile(rf"\b({MONTH_PATTERN})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.IGNORECASE)
_DATE_DM = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_PATTERN})\b", re.IGNORECASE)
_DATE_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})")
_DATE_SLASH = re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/\d{2,4})?\b")
# The same tokenizer as static/widget.js, so what is checked is exactly what becomes a link.
_URL = re.compile(r"https?://[^\s<>\"'`]+")
_TRACKING = re.compile(r"\b(?=[A-Z0-9]*\d{4})[A-Z0-9]{8,40}\b")
_ORDER_REF = re.compile(r"#[A-Za-z0-9\-]*\d[A-Za-z0-9\-]*")
_MONEY = re.compile(
    r"(?:[$€£¥₹]|CA\$|A\$|NZ\$|\b[A-Z]{3}\s)\s?(\d[\d,.]*\d|\d)"  # $64.00, € 12, USD 99.00
    r"|(\d[\d,.]*\d|\d)\s?(?:[$€£¥₹]|(?:USD|EUR|GBP|CAD|AUD|JPY|CHF|SEK|NOK|DKK|NZD|INR)\b)"  # 99,00 €, 99 USD
)
_SPACED_DIGITS = re.compile(r"\b\d{2,6}(?:[ \-]\d{2,6}){2,}\b")  # "9400 1118 9922 ..." read as one number
_DATE_DOTTED = re.compile(r"\b(\d{1,2})\.(\d{1,2})\.(?:\d{2,4})?\b")
_ORDINAL_DAY = re.compile(r"\bthe (\d{1,2})(?:st|nd|rd|th)\b", re.IGNORECASE)
_DECIMAL = re.compile(r"\d[\d,]*\.\d{2}\b")


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


def _dates(text: str) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    for month, day in _DATE_MD.findall(text):
        found.add((MONTHS[month.lower()], int(day)))
    for day, month in _DATE_DM.findall(text):
        found.add((MONTHS[month.lower()], int(day)))
    for _year, month, day in _DATE_ISO.findall(text):
        found.add((int(month), int(day)))
    return found


def evidence(messages: Sequence[ModelMessage], extra: str = "") -> str:
    """All text the reply may draw facts from: tool results, the shopper's words, persona notes."""
    chunks = [extra]
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        if message.instructions:
            # Only the example order number the instructions teach ("looks like #1234"), not their dates.
            chunks.extend(_ORDER_REF.findall(message.instructions))
        for part in message.parts:
            if isinstance(part, ToolReturnPart):
                chunks.append(json.dumps(to_jsonable_python(part.content), ensure_ascii=False))
            elif isinstance(part, UserPromptPart) and isinstance(part.content, str):
                chunks.append(part.content)
    return "\n".join(chunks)


def ungrounded(reply: str, source: str, today: date | None = None) -> list[str]:
    """The facts in `reply` that `source` does not back, as short descriptions; empty when the reply is grounded."""
    reply_wo_urls = _URL.sub(" ", reply)
    known_dates = _dates(source)
    return [
        *_unknown_links(reply, source),
        *_unknown_tracking(reply_wo_urls, source),
        *_unknown_orders(reply_wo_urls, source),
        *_unknown_amounts(reply_wo_urls, source),
        *_unknown_dates(reply_wo_urls, source, known_dates),
        *_unknown_days(reply_wo_urls, source, known_dates, today),
    ]


def _unknown_links(reply: str, source: str) -> list[str]:
    source_urls = {_trim_url(u) for u in _URL.findall(source)}
    return [f"link {url}" for url in map(_trim_url, _URL.findall(reply)) if url not in source_urls]


def _unknown_tracking(reply: str, source: str) -> list[str]:
    problems: list[str] = []
    source_upper = source.upper()
    compact_source = re.sub(r"[\s\-]", "", source_upper)
    for token in _TRACKING.findall(reply.upper()):
        if token not in source_upper and token not in compact_source:
            problems.append(f"tracking number {token}")
    for spaced in _SPACED_DIGITS.findall(reply):
        compact = re.sub(r"[\s\-]", "", spaced)
        if spaced not in source and len(compact) >= 8 and compact not in compact_source:
            problems.append(f"tracking number {spaced}")
    return problems


def _unknown_orders(reply: str, source: str) -> list[str]:
    source_upper = source.upper()
    return [f"order number {ref}" for ref in _ORDER_REF.findall(reply) if order_key(ref) not in source_upper]


def _unknown_amounts(reply: str, source: str) -> list[str]:
    # Amounts in tool results are decimal strings ("64.00"); a shopper may also name one ("$64").
    amounts_text = _DECIMAL.findall(source) + [a or b for a, b in _MONEY.findall(source)]
    known_amounts = {d for n in amounts_text if (d := _decimal(n)) is not None}
    problems: list[str] = []
    for symbol_amount, code_amount in _MONEY.findall(reply):
        value = _decimal(symbol_amount or code_amount)
        if value is not None and value not in known_amounts:
            problems.append(f"amount {symbol_amount or code_amount}")
    return problems


def _unknown_dates(reply: str, source: str, known_dates: set[tuple[int, int]]) -> list[str]:
    problems = [f"date {month}/{day}" for month, day in sorted(_dates(reply)) if (month, day) not in known_dates]
    for match in _DATE_SLASH.finditer(reply):
        first, second = int(match.group(1)), int(match.group(2))
        # Quoted as the data wrote it ("attempt 12/03", "1/2 lb") or a date the tools gave, either way round.
        if match.group(0) in source or (first, second) in known_dates or (second, first) in known_dates:
            continue
        problems.append(f"date {first}/{second}")
    for day, month in _DATE_DOTTED.findall(reply):
        if (int(month), int(day)) not in known_dates and (int(day), int(month)) not in known_dates:
            problems.append(f"date {day}.{month}.")
    known_days = {day for _, day in known_dates}
    problems += [f"date the {day}th" for day in _ORDINAL_DAY.findall(reply) if int(day) not in known_days]
    return problems


def _unknown_days(reply: str, source: str, known_dates: set[tuple[int, int]], today: date | None) -> list[str]:
    """Weekdays the source never names, and a 'tomorrow' that is not a known date."""
    reply_lower, source_lower = reply.lower(), source.lower()
    problems = [
        f"day {weekday.title()}"
        for weekday in WEEKDAYS
        if re.search(rf"\b{weekday}\b", reply_lower) and weekday not in source_lower
    ]
    if today is not None and re.search(r"\btomorrow\b", reply_lower):
        tomorrow = today + timedelta(days=1)
        if (tomorrow.month, tomorrow.day) not in known_dates and "tomorrow" not in source_lower:
            problems.append("delivery 'tomorrow'")
    return problems
