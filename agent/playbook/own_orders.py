"""A shopper asking which orders they have: "what orders have I got?", "show me my orders", "which orders do I have
open?". However it is worded, it asks about the shopper's own orders, never about the shop's policies: for a
logged-in customer the answer is their recent orders (find_order's customer route), for anyone else the usual
question for the details that prove an order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from agent import prompts
from agent.playbook.acts import Act, read_acts
from agent.playbook.prefilter import prefiltered
from agent.playbook.understand import FAINT, ORDER_ACTS, UNSURE, Intent, items_as_the_order, named_statuses, names_item

# A question or request word, then "orders" owned by the one asking: "my (recent) orders", "orders (do|have) I ...",
# "orders I've placed". The question word keeps a policy question that merely mentions the shopper's orders ("do
# orders I place ship free?", "how long do my orders take to ship?") a policy question.
_ASKING = r"\b(?:what|which|show|list|see|check|any|all|view|pull up|look up|find)\b"
_OWNED = (
    r"(?:\b(?:my|our)\s+(?:\w+\s+)?orders\b"
    r"|\borders\s+(?:(?:do|did|have|has|had)\s+)?(?:i|we)\b(?:'ve|\s+have)?"
    r"(?!\s+(?:to\s+)?(?:pay|wait))"
    r"|\borders\s+(?:i've|ive|we've)\b)"
)
_OWN_ORDERS = prefiltered(_ASKING + r"[^.?!]{0,30}?" + _OWNED, re.IGNORECASE)
# "How long do my orders take", "when do my orders ship": a question about how the shop ships, not which orders.
_HOW_THE_SHOP_WORKS = prefiltered(r"\b(?:how\s+(?:long|much|do|does)|when\s+do|do\s+you|does\s+it)\b", re.IGNORECASE)


def own_orders_asked(text: str) -> bool:
    """Whether a message asks which orders the shopper has ("what orders have i got on the go", "list my orders")."""
    words = text.replace("’", "'")
    return bool(_OWN_ORDERS.search(words)) and not _HOW_THE_SHOP_WORKS.search(words)


# An order pointed at among the shopper's own: "the cancelled one", "which one got cancelled", "my order that was
# cancelled", "the one in transit". A definite word or "which" before "one"/"order", or "one"/"order" then "that".
_POINTED = prefiltered(
    r"\b(?:the|my|that|this|which)\s+(?:\w+\s+){0,2}?(?:one|order|parcel|package)\b"
    r"|\b(?:one|order)\s+(?:that|which)\b",
    re.IGNORECASE,
)
# Cancelled is a state an order is in; "cancel" or "cancellation" ask for one or about a policy.
_CANCELLED = prefiltered(r"\bcancell?ed\b", re.IGNORECASE)


def order_named_by_state(text: str) -> bool:
    """Whether a message points at one of the shopper's orders by the state it is in ("what happened to the cancelled
    one", "hey, which one got cancelled", "the one that's out for delivery"): an order question, whatever greeting
    or small talk comes with it."""
    words = text.replace("’", "'")
    return bool(_CANCELLED.search(words) or named_statuses(words)) and _POINTED.search(words) is not None


# A word of all, then within two words what it counts ("both my orders", "all of them", "each one"); or the word alone
# with at most a "please" ("both pls", "all of them please").
_ALL = prompts.either("all_orders", "all")
_EVERY_ORDER = prefiltered(
    rf"\b(?:{_ALL})\s+(?:[\w']+\s+){{0,2}}?(?:{prompts.either('all_orders', 'orders')})\b", re.IGNORECASE
)
_ALL_ALONE = prefiltered(rf"^\W*(?:{_ALL})(?:\s+(?:them|of them|please|pls|plz|thanks))*\W*$", re.IGNORECASE)


@lru_cache(maxsize=4096)  # asked on every model request of a turn, of the same message
def all_orders_asked(text: str, *, alone: bool = True) -> bool:
    """Whether a message asks about every one of the shopper's orders at once ("status of both my orders pls", "where
    are all my orders at"), not one of them; with `alone`, the word of all by itself too ("both please", answering a
    list)."""
    words = text.replace("’", "'")
    return _EVERY_ORDER.search(words) is not None or (alone and _ALL_ALONE.search(words) is not None)


# A logged-in customer may name an order by what is in it ("where are the tankies for the team?"), in words the act
# reader, which knows no shop's products, hears as a question about a product. Whether the words name one of the
# customer's own items is in the data: their orders are looked up (find_order's customer route, no details needed)
# when the reader hears an order question in the message at all, however faintly.
_ABOUT_SHOP: frozenset[Act] = frozenset(("out_of_scope", "policy_question"))


def may_name_own_item(intent: Intent, text: str, *, asks_where: bool = False) -> bool:
    """Whether a message read as off topic may still ask about an order by naming its item: no order act was read,
    nothing but a question about the shop or products was (no attack on the assistant), and it asks where something
    is (`asks_where`) or the reader gives some order question at least a faint chance ("any sign of the tent poles?";
    "do you sell gift cards?" none)."""
    if intent.order_related or not intent.acts & _ABOUT_SHOP or intent.has("injection"):
        return False
    if asks_where:
        return True
    reading = read_acts(text)
    return max(reading.probabilities.get(act, 0.0) for act in ORDER_ACTS) >= FAINT


def own_item_asked(intent: Intent, text: str, orders: Sequence[tuple[str, Sequence[str]]]) -> Intent:
    """The message about the one order of the customer's (number, item names) whose item it names, when, with that
    order's items written as "my order" (`items_as_the_order`), the act reader hears an order question in it ("where
    are the wool socks for the kids" -> "where are my order for the kids"); the reading as it was otherwise (a
    question about a product stays one: "do you have the wool socks in a bigger size?")."""
    if intent.order_related:
        return intent
    named = [items for _number, items in orders if any(names_item(item, text) for item in items)]
    if len(named) != 1:
        return intent
    reading = read_acts(items_as_the_order(text, named[0]))
    if reading.top not in ORDER_ACTS or reading.probabilities[reading.top] < UNSURE:
        return intent
    asked: frozenset[Act] = frozenset({reading.top})
    return replace(intent, acts=(intent.acts - _ABOUT_SHOP) | asked, sure=intent.sure - _ABOUT_SHOP)
