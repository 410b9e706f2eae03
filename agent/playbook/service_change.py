"""Requests about how or when one order is delivered or collected that the act reader has no act for: another
shipping service or carrier ("can you just express it", "fedex it instead"), holding the order ("will you hold it
till the 20th?"), or a word passed to the carrier ("can you tell the driver to leave it at the gate?"). Lumen can do
none of them and can't see a pickup's holding time: it says so beside the order's status and offers the team
(`prompts/service_changes.toml`)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from agent import prompts
from agent.playbook.acts import negated_spans
from agent.playbook.gate import Gate
from agent.playbook.prefilter import Prefiltered, prefiltered

ServiceChange = Literal["change_shipping", "hold_order", "delivery_instruction"]


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
def _carriers() -> list[str]:
    lines = (line.strip() for line in prompts.text("carriers.txt").splitlines())
    return [c for c in lines if c and not c.startswith("#")]


@lru_cache(maxsize=1)
def _patterns() -> dict[str, Prefiltered]:
    table = prompts.toml("service_changes.toml")
    carriers = _carriers()
    shipping, hold = table["change_shipping"], table["hold_order"]
    service, objects = _phrases(shipping["service"]), _phrases(shipping["objects"])
    carrier = rf"(?:(?:{_ARTICLES}))?{_phrases(carriers)}"
    changes = (
        rf"{_phrases(shipping['service_verbs'])}\s+{objects}",
        rf"{_phrases(shipping['change_verbs'])}(?:\s+[\w']+){{0,3}}?\s+(?:{_TOWARDS})\s+(?:{_ARTICLES})?{service}",
        rf"{_phrases(shipping['send_verbs'])}\s+(?:{objects}|(?:{_read('item_openers')})(?:\s+[\w'\-]+){{1,3}}?)"
        rf"\s+(?:{_BY})?{service}",
        rf"{service}(?:\s+(?:{_read('service_nouns')}))?\s+(?:{_read('instead')})",
        rf"{_phrases(carriers)}\s+{_phrases(shipping['carrier_verb_objects'])}",
        # Another carrier asked for by name: "send it fedex instead", "can you ship it with UPS", "use DHL instead",
        # "switch it to DPD".
        rf"{_phrases(shipping['send_verbs'])}\s+(?:{objects}|(?:{_read('item_openers')})(?:\s+[\w'\-]+){{1,3}}?)"
        rf"\s+(?:{_phrases(shipping['carrier_by'])}\s+)?{carrier}",
        rf"{carrier}(?:\s+(?:{_read('service_nouns')}))?\s+(?:{_read('instead')})",
        rf"{_phrases(shipping['carrier_verbs'])}\s+{carrier}",
        rf"{_phrases(shipping['change_verbs'])}(?:\s+[\w']+){{0,3}}?\s+(?:{_TOWARDS})\s+{carrier}",
    )
    return {
        "change": _bounded("|".join(f"(?:{c})" for c in changes)),
        "asked_for": _bounded(_phrases(shipping["asked_for"])),
        "asks": _bounded(_phrases(shipping["asks"])),
        "unless": _bounded(_phrases(shipping["unless"])),
        "hold": _bounded(_phrases(hold["asks"])),
        "stay": _bounded(_phrases(hold["stay"])),
        "hold_context": _bounded(_phrases(hold["context"])),
        "delays": _bounded(_phrases(hold["delays"])),
    }


@lru_cache(maxsize=1)
def _gate() -> Gate:
    """The patterns one of which a hold or another service asked must match (`_held_or_changed`)."""
    found = _patterns()
    return Gate([found[key] for key in ("hold", "stay", "change", "asked_for")])


@lru_cache(maxsize=1)
def _instruction_gates() -> tuple[Gate, Gate, Gate]:
    found = _instruction_patterns()
    return Gate([found["asks"]]), Gate([found["relay"]]), Gate([found["relayed_to"]])


@lru_cache(maxsize=1)
def _instruction_patterns() -> dict[str, Prefiltered]:
    """The three ways of asking for a word passed to the carrier (`[delivery_instruction]`)."""
    table = prompts.toml("service_changes.toml")["delivery_instruction"]
    carrier = _phrases(_carriers())
    messenger = rf"(?:(?:the|my|your|our|a)\s+)?(?:(?:{carrier}\s+)?{_phrases(table['messengers'])}"
    messenger += rf"|{carrier}(?:\s+{_phrases(table['people'])})?)"
    relay = rf"{_phrases(table['relay_verbs'])}\s+{messenger}(?![\w'])(?!\s+{_phrases(table['asked_of'])}(?![\w']))"
    places = _phrases(table["places"])
    place = rf"{_phrases(table['place_verbs'])}\s+{_phrases(table['objects'])}\s+{places}|\bbe\s+left\s+{places}"
    them = rf"{_phrases(table['relay_verbs'])}\s+{_phrases(table['pronouns'])}\s+(?:to\s+)?{_phrases(table['to_do'])}"
    return {
        "relay": _bounded(f"{relay}|{them}"),
        # Who a relay is to, from a word of its own on (after any article, "the [UPS guy]"): no relay without one
        # (for `_instruction_gates` only).
        "relayed_to": _bounded(f"{_phrases(table['messengers'])}|{carrier}|{_phrases(table['pronouns'])}"),
        "doings": _bounded(_phrases(table["doings"])),
        "place": _bounded(place),
        "named": _bounded(_phrases(table["named"])),
        "asks": _bounded(_phrases(table["asks"])),
        "unless": _bounded(_phrases(table["unless"])),
    }


def _bounded(pattern: str) -> Prefiltered:
    """`pattern` as whole words, any case; a message holding none of its words is not searched (`prefilter.py`)."""
    return prefiltered(rf"(?<![\w'])(?:{pattern})(?![\w'])", re.IGNORECASE)


def _outside_negation(text: str) -> str:
    for start, end in negated_spans(text):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


# Asked of one message by several readers of a turn (the offer's answer, the intent, the request's spans): read once.
@lru_cache(maxsize=4096)
def service_change_asked(text: str) -> ServiceChange | None:
    """The change a message asks for, outside a negation: "can you just express it" -> change_shipping (a verb aimed
    at the service), "purolator it instead" -> change_shipping (a carrier's name as a verb), "will ye hold it?" ->
    hold_order; None otherwise ("it went express, where is it?", "my express order" name a service but ask for none;
    "how long will it stay in transit?" is no pickup)."""
    found = _patterns()
    plain = found["delays"].sub(" ", _outside_negation(text.replace("’", "'")))  # "will the snow hold it up?"
    clauses = _CLAUSE.split(plain)  # split once: both passes read the same clauses
    if _gate().may_match(plain) and (held := _held_or_changed(plain, clauses)) is not None:
        return held
    if _instruction_may_be_asked(plain) and any(_instruction_asked(clause) for clause in clauses):
        return "delivery_instruction"
    return None


def _instruction_may_be_asked(plain: str) -> bool:
    """False only where no clause of `plain` asks for a word passed to the carrier (`_instruction_asked`): that needs
    words that ask, or a relay (a relay's verb and who it is to)."""
    asks, relay, relayed_to = _instruction_gates()
    return asks.may_match(plain) or (relay.may_match(plain) and relayed_to.may_match(plain))


def _held_or_changed(plain: str, clauses: list[str]) -> ServiceChange | None:
    """A hold asked, or another service or carrier (in a clause of its own)."""
    found = _patterns()
    if found["hold"].search(plain) or (found["stay"].search(plain) and found["hold_context"].search(plain)):
        return "hold_order"
    for clause in clauses:
        if found["unless"].search(clause):
            continue  # "I paid for express, can you tell me where it is?": the service was chosen, not asked for
        if found["change"].search(clause) or (found["asked_for"].search(clause) and found["asks"].search(clause)):
            return "change_shipping"
    return None


def _instruction_asked(clause: str) -> bool:
    """Whether a clause asks Lumen to pass word to the carrier: "can you tell the driver to leave it at the gate",
    "ask UPS to ring the bell" (a relay, asked or said as an imperative), "could it be left with my neighbour" (a
    place to leave it, asked), "can you add delivery instructions" (named, asked). Not "ask the courier where it is"
    (the status is wanted), "will they leave it at the door if I'm out?" (a question about what the carrier does)."""
    found = _instruction_patterns()
    asked = found["asks"].search(clause) is not None
    relay = found["relay"].search(clause)
    if relay is not None and (asked or not clause[: relay.start()].strip()):
        return True
    if not asked or found["unless"].search(clause):
        return False
    return bool(found["place"].search(clause) or found["named"].search(clause) or found["doings"].search(clause))


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
