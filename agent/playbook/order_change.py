"""Changes to an order that the act reader has no act for and Lumen can't make: the order brought sooner ("can you
make it come faster?", "get my parcel here sooner please") and items added to it, taken off it or swapped for another
kind ("can I add one more mug to it?", "can i get it in blue instead"). Lumen says it can't, beside the order's
status, and offers the team; the words are in `prompts/reading.toml` [order_change]. Another shipping service or a
hold is `service_change.py`'s."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from agent import prompts
from agent.playbook.acts import negated_spans
from agent.playbook.gate import Gate
from agent.playbook.prefilter import Prefiltered, prefiltered

OrderChange = Literal["deliver_sooner", "change_items"]

# One clause of a message: punctuation or a joining word ends it ("where is it and also can I add a mug to it?").
_CLAUSE = re.compile(r"[.,;!?\n]+|\b(?:and|but|also|plus)\b", re.IGNORECASE)
_WORDS_BETWEEN = r"(?:\s+[\w'\-]+)"
# The order named by its number or name where a word for it would stand: "can you make [#4410] come faster?",
# "speed up [AB-7310]" (a run with a digit, as any shop writes its names).
_ORDER_NAMED = r"(?:#\s*)?[A-Za-z]{0,4}[#\-_./]?\d[\w\-]*"


def _phrases(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)) + ")"


@lru_cache(maxsize=1)
def _patterns() -> dict[str, Prefiltered]:
    # Through `prompts.words`, as every reading list is read: a missing or empty list fails at once.
    words = {key: _phrases(prompts.words("order_change", key)) for key in prompts.toml("reading.toml")["order_change"]}
    words["objects"] = f"(?:{words['objects']}|{_ORDER_NAMED})"
    sooner = rf"{words['hasten']}\s+{words['objects']}{_WORDS_BETWEEN}{{0,3}}?\s+{words['sooner']}"
    sooner += rf"|{words['hurry']}\s+{words['objects']}"
    sooner += rf"|{words['hurry_parted']}\s+{words['objects']}\s+{words['hurry_particle']}"
    added = rf"{words['add']}{_WORDS_BETWEEN}{{1,5}}?\s+{words['add_to']}\s+{words['objects']}"
    removed = rf"{words['remove']}{_WORDS_BETWEEN}{{1,5}}?\s+{words['remove_from']}\s+{words['objects']}"
    swapped = rf"{words['swap']}\s+{words['objects']}\s+in\s+(?:(?:a|an|the)\s+)?(?:[\w'\-]+\s+)?{words['kinds']}"
    swapped += rf"|{words['other']}\s+{words['variants']}|{words['swap']}\s+(?:the|its|their)\s+{words['variants']}"
    return {
        "deliver_sooner": _bounded(sooner),
        "change_items": _bounded(f"{added}|{removed}|{swapped}"),
        "asks": _bounded(words["asks"]),
        "unless": _bounded(words["unless"]),
    }


@lru_cache(maxsize=1)
def _gate() -> Gate:
    """The two changes' patterns, one of which a change asked must match."""
    found = _patterns()
    return Gate([found["deliver_sooner"], found["change_items"]])


def _bounded(pattern: str) -> Prefiltered:
    """`pattern` as whole words, any case; a message holding none of its words is not searched (`prefilter.py`)."""
    return prefiltered(rf"(?<![\w'])(?:{pattern})(?![\w'])", re.IGNORECASE)


def order_change_asked(text: str) -> OrderChange | None:
    """The change a message asks for in a clause of its own, outside a negation: "can you make my order come
    faster?" -> deliver_sooner, "can i add one more mug to it?" -> change_items. A clause asks only with words that
    ask ("can you", "please") or opening with the change's own verb ("send it sooner!"); "amazon would get it to me
    faster" and "it'll come sooner or later" ask nothing."""
    plain = text.replace("’", "'")
    for start, end in negated_spans(plain):
        plain = plain[:start] + " " * (end - start) + plain[end:]
    if not _gate().may_match(plain):
        return None  # no word either change starts with, in the message or any clause of it
    found = _patterns()
    for clause in _CLAUSE.split(plain):
        clause = clause.strip()
        if not clause or found["unless"].search(clause):
            continue
        for change in ("deliver_sooner", "change_items"):
            asked = found[change].search(clause)
            if asked is not None and (asked.start() == 0 or found["asks"].search(clause)):
                return change
    return None
