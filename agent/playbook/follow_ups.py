"""Readings of a shopper's next message that depend on what Lumen just said (the dialogue, not the words
alone):

- `picked_by_state`: a logged-in customer choosing among their listed orders by where each one stands ("the one
  that's not here yet", "the delivered one", "whichever hasn't shipped");
- `restates_offer`: a yes to an open offer said as the offer's own words ("go ahead and get me the tracking",
  "ask them to arrange another delivery"): the shopper asks for what the team would get them;
- `asks_what_next`: a question just after an order's status about what happens next ("what now?", "do they try
  again?", "will they come back?"), which the act reader, hearing no order word, takes for something off topic;
- `asks_where_to_collect`: "where do I pick it up?" after a status that said it waits somewhere: the place, not
  "nothing has changed";
- `asks_after_answering`: "ok when now?" just after an order's status: a question about it, not a closing.

The words each reading looks for are general English, kept in `prompts/reading.toml` ([order_state], [what_next],
[offer_restated], [questions], [clauses], [to_the_shop]).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Literal

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from agent import prompts
from agent.playbook.acts import negated_spans
from agent.playbook.prefilter import Prefiltered, prefiltered
from agent.playbook.understand import after_answer_words
from tools.views import OrderOverview

Stage = Literal["cancelled", "unshipped", "partial", "shipped", "delivered"]

# What each state word names, said plainly and said turned round by a negation ("hasn't shipped", "not here yet").
_NAMES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "arrived": (frozenset({"delivered"}), frozenset({"unshipped", "partial", "shipped"})),
    "waiting": (frozenset({"unshipped", "partial", "shipped"}), frozenset({"delivered"})),
    "shipped": (frozenset({"shipped", "partial", "delivered"}), frozenset({"unshipped"})),
    "moving": (frozenset({"shipped", "partial"}), frozenset({"unshipped", "delivered"})),
    "unshipped": (frozenset({"unshipped"}), frozenset({"shipped", "partial", "delivered"})),
    "cancelled": (frozenset({"cancelled"}), frozenset({"unshipped", "partial", "shipped", "delivered"})),
}


def stage(order: OrderOverview) -> Stage:
    """Where a listed order stands, from its overview: Shopify's fulfillment summary, its cancellation, and whether
    every package was reported delivered."""
    if order.cancelled:
        return "cancelled"
    if order.delivered:
        return "delivered"
    if order.fulfillment_status == "FULFILLED":
        return "shipped"
    if order.fulfillment_status == "PARTIALLY_FULFILLED":
        return "partial"
    return "unshipped"


def stages(orders: Iterable[OrderOverview]) -> tuple[tuple[str, str], ...]:
    """Each listed order's number and stage, kept beside the choices while Lumen asks which one."""
    return tuple((o.order_number, stage(o)) for o in orders)


@lru_cache(maxsize=1)
def _state_patterns() -> dict[str, re.Pattern[str]]:
    table: dict[str, list[str]] = prompts.toml("reading.toml")["order_state"]
    patterns = {}
    for name, phrases in table.items():
        alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(phrases, key=len, reverse=True))
        patterns[name] = re.compile(rf"(?<![\w'’])(?:{alternatives})(?![\w'’])", re.IGNORECASE)
    return patterns


def stages_named(text: str) -> frozenset[str]:
    """The stages a message's state words allow: every word read, each turned round under a negation; the stages all
    of them allow (none when the message names no state, or names states that contradict each other)."""
    negated = negated_spans(text)
    allowed: frozenset[str] | None = None
    for name, pattern in _state_patterns().items():
        for found in pattern.finditer(text):
            plain, turned = _NAMES[name]
            under = any(start <= found.start() < end for start, end in negated)
            # "the one that's still coming" is no negation; "not here yet" is one (`negated_spans`).
            stages_here = turned if under else plain
            allowed = stages_here if allowed is None else allowed & stages_here
    return allowed or frozenset()


def picked_by_state(listed: Sequence[tuple[str, str]], text: str) -> str | None:
    """The one listed order in a state the message names, or None when none or several are."""
    named = stages_named(text)
    picked = [number for number, where in listed if where in named]
    return picked[0] if len(picked) == 1 else None


# --- a yes said as the offer's own words ------------------------------------------------------------------------
_WORD = re.compile(r"[a-z]+")
_QUESTION_OPENING = re.compile(
    rf"^\W*(?:\w+\W+)?(?:{prompts.either('questions', 'openings')})\b",
    re.IGNORECASE,
)
_ASKS_ANYWHERE = re.compile(rf"\b(?:{prompts.either('questions', 'asking')})\b", re.IGNORECASE)
_CLAUSE = re.compile(rf"[?.!;,]+|\b(?:{prompts.either('clauses', 'joiners')})\b", re.IGNORECASE)


def asks_question(text: str) -> bool:
    """Whether a message asks something ("which neighbor??", "is it lost", "so who has it"), not only nods or waits."""
    return "?" in text or bool(_QUESTION_OPENING.match(text) or _ASKS_ANYWHERE.search(text))


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if len(w) > 2 and w not in ENGLISH_STOP_WORDS)


def offer_words(reply: str) -> frozenset[str]:
    """What an offer says the team would do, as content words: the words after the hand-off's marker ("our support
    team") in the last sentence of the reply that holds one ("...to get the tracking number for you?" -> tracking,
    number). Empty when the reply makes no such offer."""
    markers: list[str] = prompts.toml("replies.toml")["handoff"]["markers"]
    sentences = re.split(r"(?<=[.!?])\s+", reply.strip())
    for sentence in reversed(sentences):
        lowered = sentence.lower()
        found = [lowered.find(m) + len(m) for m in markers if m in lowered]
        if found:
            return _content_words(lowered[max(found) :])
    return frozenset()


@lru_cache(maxsize=1)
def _request_frames() -> re.Pattern[str]:
    phrases: list[str] = prompts.toml("reading.toml")["offer_restated"]["frames"]
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<![\w'’])(?:{alternatives})(?![\w'’])", re.IGNORECASE)


def restates_offer(text: str, offered: frozenset[str], *, yes: bool = False) -> bool:
    """Whether a message asks for what the open offer would get ("go ahead and get me the tracking #" after an offer
    "to get the tracking number for you"): it names what the team would do, outside a negation, as a request (a
    request's frame, or a word of yes: `yes`), and asks nothing (no clause opens as a question: "where is the
    tracking?" asks about it, it doesn't take the offer up)."""
    if not offered or any(_QUESTION_OPENING.match(clause) for clause in _CLAUSE.split(text) if clause.strip()):
        return False
    if not (yes or _request_frames().search(text.replace("’", "'"))) or (not yes and _ASKS_ANYWHERE.search(text)):
        # "Just wondering when the next delivery is" asks when, it doesn't take the offer up.
        return False
    negated = negated_spans(text)
    for found in _WORD.finditer(text.lower()):
        if found.group(0) in offered and not any(start <= found.start() < end for start, end in negated):
            return True
    return False


# --- what happens next ----------------------------------------------------------------------------------------
def _phrases_pattern(phrases: list[str]) -> Prefiltered:
    """The phrases as whole words, any case, longest first. Read of every clause of an answer: one holding none of
    the words is not searched (`prefilter.py`)."""
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(phrases, key=len, reverse=True))
    return prefiltered(rf"(?<![\w'’])(?:{alternatives})(?![\w'’])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _what_next() -> tuple[Prefiltered, Prefiltered, Prefiltered]:
    table: dict[str, list[str]] = prompts.toml("reading.toml")["what_next"]
    return _phrases_pattern(table["refer"]), _phrases_pattern(table["asks"]), _phrases_pattern(table["retry"])


_TO_THE_SHOP = re.compile(rf"\b(?:{prompts.either('to_the_shop', 'you')})\b", re.IGNORECASE)


def asks_what_next(text: str) -> bool:
    """Whether a message asks what happens next with the parcel just talked about ("what happens now, do they try
    again?", "so will they come back?", "what do I do now"): a question's frame and a word pointing back at the
    parcel, its carrier or the moment, or a try at delivering again named ("is there another attempt?"); not a
    question put to the shop ("do you sell gift cards now?")."""
    text = text.replace("’", "'")
    if _TO_THE_SHOP.search(text):
        return False
    refer, asks, retry = _what_next()
    return bool(retry.search(text) or (refer.search(text) and asks.search(text)))


_WHERE = re.compile(rf"\b(?:{prompts.either('questions', 'place')})\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def _collect() -> Prefiltered:
    return _phrases_pattern(prompts.toml("reading.toml")["what_next"]["collect"])


def asks_where_to_collect(text: str) -> bool:
    """Whether a message asks where to collect the parcel ("where do I pick it up?", "which depot do I collect it
    from?"): a place asked for ("where", "which") and a word of collecting, outside a negation."""
    found = _collect().search(text)
    if found is None or not _WHERE.search(text):
        return False
    return not any(start <= found.start() < end for start, end in negated_spans(text))


# --- a question after an "ok" ---------------------------------------------------------------------------------
def asks_after_answering(text: str) -> bool:
    """Whether a message that opens with words of answer ("ok", "cheers", "righto", `prompts/answers.toml`) goes on to
    ask something ("ok when now?", "okay so when will it get here", "cheers, where's it at now?"): a clause of it, its
    opening words of answer taken off, opens as a question. The reader hears the "ok" and takes the whole message for
    a closing."""
    for clause in _CLAUSE.split(text):
        rest = after_answer_words(clause)
        if clause.strip() and (_QUESTION_OPENING.match(clause) or (rest and _QUESTION_OPENING.match(rest))):
            return True
    return False
