"""Requests about how or when one order is delivered or collected that the act reader has no act for: another
shipping service or carrier ("can you just express it", "fedex it instead"), or holding the order ("will you hold it
till the 20th?"). Lumen can't do either and can't see a pickup's holding time: it says so beside the order's status
and offers the team (`prompts/service_changes.toml`)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from agent import prompts
from agent.playbook.acts import negated_spans

ServiceChange = Literal["change_shipping", "hold_order"]


def _phrases(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)) + ")"


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    table = prompts.toml("service_changes.toml")
    lines = (line.strip() for line in prompts.text("carriers.txt").splitlines())
    carriers = [c for c in lines if c and not c.startswith("#")]
    bound = r"(?<![\w'])", r"(?![\w'])"
    shipping = table["change_shipping"]
    return {
        "service": re.compile(bound[0] + _phrases(shipping["service"]) + bound[1], re.IGNORECASE),
        "asks": re.compile(bound[0] + _phrases(shipping["asks"]) + bound[1], re.IGNORECASE),
        "carrier_verb": re.compile(
            bound[0] + _phrases(carriers) + r"\s+" + _phrases(shipping["carrier_verb_objects"]) + bound[1],
            re.IGNORECASE,
        ),
        "unless": re.compile(bound[0] + _phrases(shipping["unless"]) + bound[1], re.IGNORECASE),
        "hold": re.compile(bound[0] + _phrases(table["hold_order"]["asks"]) + bound[1], re.IGNORECASE),
    }


def _outside_negation(text: str) -> str:
    for start, end in negated_spans(text):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def service_change_asked(text: str) -> ServiceChange | None:
    """The change a message asks for, outside a negation: "can you just express it" -> change_shipping (a service
    word and a word that asks), "purolator it instead" -> change_shipping (a carrier's name as a verb), "will ye hold
    it?" -> hold_order; None otherwise ("it went express, where is it?" names a service but asks for none)."""
    plain = _outside_negation(text.replace("’", "'"))
    found = _patterns()
    if found["hold"].search(plain):
        return "hold_order"
    for clause in _CLAUSE.split(plain):
        if found["unless"].search(clause) or not found["asks"].search(clause):
            continue  # "I paid for express, can you tell me where it is?": the service was chosen, not asked for
        if found["carrier_verb"].search(clause) or found["service"].search(clause):
            return "change_shipping"
    return None


_CLAUSE = re.compile(r"[.,;!?]+|\b(?:and|but|also)\b", re.IGNORECASE)
