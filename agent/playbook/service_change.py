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


def _read(key: str) -> str:
    """A word list of `prompts/reading.toml` [service_change] as an alternation."""
    return prompts.either("service_change", key)


# The little words between a verb and the service: "switch it [to] [an] express", "send it [by] courier". Each word is
# followed by a space or more, as the code had it ("an?\s+|the\s+").
_TOWARDS = _read("towards")
_ARTICLES = "|".join(re.escape(w) + r"\s+" for w in prompts.words("service_change", "articles"))
_BY = "|".join(re.escape(w) + r"\s+" for w in prompts.words("service_change", "by"))


def _phrases(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)) + ")"


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    table = prompts.toml("service_changes.toml")
    lines = (line.strip() for line in prompts.text("carriers.txt").splitlines())
    carriers = [c for c in lines if c and not c.startswith("#")]
    shipping, hold = table["change_shipping"], table["hold_order"]
    service, objects = _phrases(shipping["service"]), _phrases(shipping["objects"])
    changes = (
        rf"{_phrases(shipping['service_verbs'])}\s+{objects}",
        rf"{_phrases(shipping['change_verbs'])}(?:\s+[\w']+){{0,3}}?\s+(?:{_TOWARDS})\s+(?:{_ARTICLES})?{service}",
        rf"{_phrases(shipping['send_verbs'])}\s+{objects}\s+(?:{_BY})?{service}",
        rf"{service}(?:\s+(?:{_read('service_nouns')}))?\s+(?:{_read('instead')})",
        rf"{_phrases(carriers)}\s+{_phrases(shipping['carrier_verb_objects'])}",
    )
    return {
        "change": _bounded("|".join(f"(?:{c})" for c in changes)),
        "asked_for": _bounded(_phrases(shipping["asked_for"])),
        "asks": _bounded(_phrases(shipping["asks"])),
        "unless": _bounded(_phrases(shipping["unless"])),
        "hold": _bounded(_phrases(hold["asks"])),
        "stay": _bounded(_phrases(hold["stay"])),
        "hold_context": _bounded(_phrases(hold["context"])),
    }


def _bounded(pattern: str) -> re.Pattern[str]:
    """`pattern` as whole words, any case."""
    return re.compile(rf"(?<![\w'])(?:{pattern})(?![\w'])", re.IGNORECASE)


def _outside_negation(text: str) -> str:
    for start, end in negated_spans(text):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def service_change_asked(text: str) -> ServiceChange | None:
    """The change a message asks for, outside a negation: "can you just express it" -> change_shipping (a verb aimed
    at the service), "purolator it instead" -> change_shipping (a carrier's name as a verb), "will ye hold it?" ->
    hold_order; None otherwise ("it went express, where is it?", "my express order" name a service but ask for none;
    "how long will it stay in transit?" is no pickup)."""
    plain = _outside_negation(text.replace("’", "'"))
    found = _patterns()
    if found["hold"].search(plain) or (found["stay"].search(plain) and found["hold_context"].search(plain)):
        return "hold_order"
    for clause in _CLAUSE.split(plain):
        if found["unless"].search(clause):
            continue  # "I paid for express, can you tell me where it is?": the service was chosen, not asked for
        if found["change"].search(clause) or (found["asked_for"].search(clause) and found["asks"].search(clause)):
            return "change_shipping"
    return None


def shipping_change_spans(text: str) -> list[tuple[int, int]]:
    """Where a message asks for another shipping service or carrier ("ship it [express instead]", "[fedex it] over"):
    the spans of those words, so a reading of other requests can leave them out ("instead" there asks no new
    address, "send it" no replacement)."""
    if service_change_asked(text) != "change_shipping":
        return []
    plain = text.replace("’", "'")
    spans = []
    for found in _patterns()["change"].finditer(plain):
        after = _INSTEAD.match(plain, found.end())  # "ship it express [instead]": the service's own "instead"
        spans.append((found.start(), after.end() if after else found.end()))
    return spans


_INSTEAD = re.compile(rf"\s+(?:\w+\s+){{0,2}}?(?:{_read('instead')})\b", re.IGNORECASE)


_CLAUSE = re.compile(rf"[.,;!?]+|\b(?:{prompts.either('clauses', 'joiners')})\b", re.IGNORECASE)
