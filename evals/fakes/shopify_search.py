"""Shopify's search syntax as the fake Shopify reads it: `name:"#1042" email:"a@b.c"`, ANDed terms, OR groups,
NOT / -negation, prefix*, and time comparisons (`updated_at:>'2026-12-01T09:30:00Z'`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def connection_nodes(value: Any) -> list[Any]:
    """The nodes of a connection however it is written: a list, `{"nodes": [...]}` or `{"edges": [{"node": ...}]}`."""
    if isinstance(value, list):
        return value
    if not isinstance(value, dict):
        return []
    if "nodes" in value:
        return list(value["nodes"] or [])
    return [edge.get("node") for edge in value.get("edges") or []]


# --- Shopify search syntax: `name:"#1042" email:"a@b.c"`, ANDed terms, OR groups, NOT / -negation, prefix* ---------


@dataclass(frozen=True)
class Term:
    field: str | None
    value: str
    prefix: bool = False  # `value*`: an unquoted trailing star is a prefix wildcard
    negated: bool = False


@dataclass
class _RawToken:
    text: str = ""
    quoted: bool = False  # some part was in quotes: no wildcard, no connective
    star: bool = False  # ends in an unescaped, unquoted '*'
    minus: bool = False  # starts with an unescaped, unquoted '-'


def _split_search(text: str) -> list[_RawToken]:
    """Whitespace-separated tokens, quotes removed and backslash escapes resolved."""
    tokens: list[_RawToken] = []
    buf: list[str] = []
    token: _RawToken | None = None
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace() and quote is None:
            if token is not None:
                token.text = "".join(buf)
                tokens.append(token)
            buf, token = [], None
            i += 1
            continue
        if token is None:
            token = _RawToken(minus=ch == "-")
            if token.minus:
                i += 1
                continue
        if ch == "\\" and i + 1 < len(text):
            buf.append(text[i + 1])
            token.star = False
            i += 2
            continue
        if quote is not None:
            if ch == quote:
                quote = None
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote, token.quoted = ch, True
        else:
            # The colon that ends a field name is kept as "\0" so that an escaped '\:' in a value stays a plain colon.
            buf.append("\0" if ch == ":" else ch)
            token.star = ch == "*"
        i += 1
    if token is not None:
        token.text = "".join(buf)
        tokens.append(token)
    return tokens


def parse_search(text: str) -> list[list[Term]]:
    """OR-groups of ANDed terms. Parentheses are not supported (Lumen never sends them)."""
    groups: list[list[Term]] = [[]]
    negate_next = False
    for token in _split_search(text):
        if not token.quoted and not token.minus and token.text in ("AND", "OR", "NOT"):
            if token.text == "OR":
                groups.append([])
            negate_next = token.text == "NOT"
            continue
        negated, negate_next = negate_next or token.minus, False
        field_name, sep, value = token.text.partition("\0")
        if not sep:
            field_name, value = "", token.text
        value = value.replace("\0", ":")
        prefix = token.star and not token.quoted
        if prefix:
            value = value[:-1]
        groups[-1].append(Term(field_name.lower() or None, value, prefix, negated))
    return [group for group in groups if group] or [[]]


def _trailing_number(gid: Any) -> str:
    return str(gid or "").rsplit("/", 1)[-1]


_WORD = re.compile(r"[a-z0-9]+")


def _phrase_in(actual: str, wanted: str) -> bool:
    """Shopify's tokenized match: the words of `wanted` appear, in order and adjacent, among the words of `actual`."""
    have, want = _WORD.findall(actual), _WORD.findall(wanted)
    return bool(want) and any(have[i : i + len(want)] == want for i in range(len(have) - len(want) + 1))


# Search fields that compare times: `updated_at:>'2026-12-01T09:30:00Z'`, `created_at:<=2026-11-01`.
_TIME_FIELDS = {"updated_at": "updatedAt", "created_at": "createdAt", "processed_at": "processedAt"}
_COMPARISON = re.compile(r"(>=|<=|>|<)?(.*)", re.DOTALL)


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 time or date as Shopify writes and accepts them; a date is its midnight UTC; None if unreadable."""
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _time_matches(actual: Any, condition: str) -> bool:
    match = _COMPARISON.fullmatch(condition.strip())
    operator, wanted = (match.group(1) or "", parse_time(match.group(2))) if match else ("", None)
    have = parse_time(actual) if actual else None
    if have is None or wanted is None:
        return False
    if operator == ">":
        return have > wanted
    if operator == ">=":
        return have >= wanted
    if operator == "<":
        return have < wanted
    if operator == "<=":
        return have <= wanted
    return have == wanted


def updated_at(order: dict[str, Any]) -> str:
    """When an order last changed: its `updatedAt`, or for a store file written without one, the latest time the
    order itself records (placed, cancelled, closed, a package shipped or moved, a refund)."""
    if order.get("updatedAt"):
        return str(order["updatedAt"])
    times = [order.get(k) for k in ("createdAt", "processedAt", "cancelledAt", "closedAt")]
    for package in connection_nodes(order.get("fulfillments")):
        times += [package.get(k) for k in ("createdAt", "inTransitAt", "deliveredAt")]
        times += [event.get("happenedAt") for event in connection_nodes(package.get("events"))]
    times += [refund.get("createdAt") for refund in connection_nodes(order.get("refunds"))]
    parsed = [(moment, str(text)) for text in times if text and (moment := parse_time(text)) is not None]
    return max(parsed)[1] if parsed else ""


def _term_matches(term: Term, order: dict[str, Any], *, fuzzy: bool = False) -> bool:
    def compare(actual: str | None, wanted: str) -> bool:
        if actual is None:
            return False
        if term.prefix:
            return actual.startswith(wanted)
        return actual == wanted or (fuzzy and _phrase_in(actual, wanted))

    wanted = term.value.lower()
    if term.field == "name":
        # `name:1042` finds "#1042"; `name:#1042` needs the '#' to be there (stores with prefixes don't have one).
        name = str(order.get("name") or "").lower()
        found = compare(name, wanted) or compare(name.lstrip("#"), wanted)
    elif term.field == "email":
        found = compare((order.get("email") or "").lower() or None, wanted)
    elif term.field == "customer_id":
        found = compare(_trailing_number((order.get("customer") or {}).get("id")), wanted)
    elif term.field == "id":
        found = compare(_trailing_number(order.get("id")), wanted)
    elif term.field in _TIME_FIELDS:
        found = _time_matches(order.get(_TIME_FIELDS[term.field]), term.value)
    else:
        found = False  # free text and other filters: the fake matches nothing rather than guess
    return found != term.negated


def search_orders(orders: list[dict[str, Any]], query: str | None, *, fuzzy: bool = False) -> list[dict[str, Any]]:
    """The orders a search string selects. `fuzzy` adds Shopify's tokenized near misses ("1042" finds "#1042-B")."""
    if not query or not query.strip():
        return list(orders)
    groups = parse_search(query)
    return [o for o in orders if any(all(_term_matches(t, o, fuzzy=fuzzy) for t in group) for group in groups)]
