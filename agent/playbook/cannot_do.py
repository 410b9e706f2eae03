"""Two readings of what a shopper says about one order that the act reader has no act for:

- `cannot_do_asked`: something of the order Lumen can't do and the team may: how it is packed ("it's a gift, no
  price in the box please"), a document of it ("I just wanted the receipt"), or collecting it from the carrier
  themselves ("can I pick it up myself?"). Items added or taken out are `order_change.py`'s, a word for the carrier
  `service_change.py`'s;
- `disputes_event`: the shopper says a carrier's event did not happen as recorded ("i was home all day though",
  "nobody knocked"), just after it was shown: Lumen can repeat only what the carrier recorded.

The words each looks for are general English, kept in `prompts/reading.toml` ([cannot_do], [disputed_event]).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from agent import prompts
from agent.playbook.acts import APOSTROPHES, negated_spans
from agent.playbook.prefilter import Prefiltered, prefiltered

CannotDo = Literal["packing", "send_documents", "collect_myself"]


def _pattern(phrases: list[str]) -> Prefiltered:
    ranked = sorted(phrases, key=len, reverse=True)
    words = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ranked)
    # A message holding none of the words is not searched (`prefilter.py`): most hold none.
    return prefiltered(rf"(?<![\w'])(?:{words})(?![\w'])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, Prefiltered]:
    # Through `prompts.words`, as every reading list is read: a missing or empty list fails at once.
    found = {key: _pattern(prompts.words("cannot_do", key)) for key in ("packing", "documents", "collect_myself")}
    disputed = [w for key in ("there", "nobody", "untrue") for w in prompts.words("disputed_event", key)]
    found["disputed"] = _pattern(disputed)
    return found


def _outside_negation(text: str) -> str:
    for start, end in negated_spans(text):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def cannot_do_asked(text: str) -> CannotDo | None:
    """What the message asks of its order that Lumen can't do: its packing (read as typed: "no price in the box"
    asks for something too), a document of it (a receipt, an invoice) or collecting it themselves, both outside a
    negation; None otherwise ("I don't need a receipt", "where is it?")."""
    typed = text.translate(APOSTROPHES)
    plain = _outside_negation(typed)
    found = _patterns()
    if found["packing"].search(typed):
        return "packing"
    if found["documents"].search(plain):
        return "send_documents"
    if found["collect_myself"].search(plain):
        return "collect_myself"
    return None


def disputes_event(text: str) -> bool:
    """Whether the shopper says what the carrier recorded did not happen ("i was home all day though", "nobody
    knocked", "they didn't even try", "that's not true"), read as typed: the negation is what is said."""
    return _patterns()["disputed"].search(text.translate(APOSTROPHES)) is not None
