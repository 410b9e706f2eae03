"""The detectors' one-look pre-check (`agent/playbook/gate.py`): `service_change_asked` and `order_change_asked`
answer with it as they do without it (every pattern searched), on every message we have, their odd-cased variants
and thousands of made-up messages built from the detectors' own word lists, joiners and punctuation."""

from __future__ import annotations

import random
import tomllib
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from agent.playbook import order_change, service_change
from agent.playbook.gate import Gate
from agent.playbook.prefilter import prefiltered
from tests.shopper_texts import ROOT, shopper_texts

_FILLER = [
    "it",
    "my",
    "the",
    "order",
    "where",
    "is",
    "please",
    "can",
    "you",
    "email",
    "mail",
    "me",
    "a@b.co",
    "#4410",
    "x.mail@mail.example",
    "don't",
    "not",
    "i'd",
]
_FILLER += ["'til", "and", "but", "also", "plus", "then", "to", "by", "up"]
_BREAKS = [" ", " ", " ", " ", ", ", ". ", "? ", "! ", "; ", "\n", " - ", "'", " '", "’", "  "]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


@cache
def _words() -> tuple[str, ...]:
    """Every word and phrase of the detectors' lists, and the carriers' names."""
    tables = tomllib.loads((ROOT / "prompts" / "service_changes.toml").read_text(encoding="utf-8"))
    reading = tomllib.loads((ROOT / "prompts" / "reading.toml").read_text(encoding="utf-8"))
    listed = [*_strings(tables), *_strings(reading["order_change"]), *_strings(reading["service_change"])]
    return tuple(sorted({*listed, *service_change._carriers(), *_FILLER}))


def _made_up(count: int, seed: int) -> list[str]:
    """Messages of list words run together with joiners and breaks, some cased or slipped, some glued."""
    rng = random.Random(seed)
    words, texts = _words(), []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 9)):
            word = rng.choice(words)
            roll = rng.random()
            if roll < 0.1:
                word = word.upper()
            elif roll < 0.15:
                word = "e" + word  # inside a word: no word starts there
            elif roll < 0.2:
                word = word.capitalize()
            parts += [word, rng.choice(_BREAKS)]
        texts.append("".join(parts).strip())
    return texts


@cache
def _messages() -> tuple[str, ...]:
    texts = shopper_texts()
    odd = [variant for text in texts[::5] for variant in (text.upper(), text.replace(" ", "'"), text.replace("s", "ſ"))]
    return (*texts, *odd, *_made_up(12000, 17))


@pytest.mark.parametrize("detector", [service_change.service_change_asked.__wrapped__, order_change.order_change_asked])
def test_a_detector_answers_as_without_the_gate(detector: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = _messages()
    gated = [detector(text) for text in texts]
    monkeypatch.setattr(Gate, "may_match", lambda self, text: True)
    assert [detector(text) for text in texts] == gated
    assert sum(answer is not None for answer in gated) > 300  # the made-up messages ask for changes too: not vacuous


def _gated_patterns() -> list[tuple[Gate, Any]]:
    """Each gate with its patterns, and the clauses the detector searches them in."""
    changes, instruction = service_change._patterns(), service_change._instruction_patterns()
    asks, relay, relayed_to = service_change._instruction_gates()
    clause = service_change._CLAUSE.split
    pairs = [(service_change._gate(), changes[key], clause) for key in ("hold", "stay", "change", "asked_for")]
    pairs += [(asks, instruction["asks"], clause), (relay, instruction["relay"], clause)]
    pairs += [(relayed_to, instruction["relayed_to"], clause)]
    found = order_change._patterns()
    split = order_change._CLAUSE.split
    pairs += [(order_change._gate(), found[key], split) for key in ("deliver_sooner", "change_items")]
    return pairs


def test_a_gate_shut_means_no_pattern_matches_any_clause() -> None:
    pairs = _gated_patterns()
    shut = 0
    for text in _messages():
        for gate, pattern, split in pairs:
            if gate.may_match(text):
                continue
            shut += 1
            pieces = [text, *split(text), *(piece.strip() for piece in split(text))]
            assert all(pattern.pattern.search(piece) is None for piece in pieces), (pattern.pattern.pattern, text)
    assert shut > 10000


def test_every_relay_names_who_it_is_to() -> None:
    """The relay's gate needs who the word is for: every relay match holds a match of `relayed_to`."""
    instruction = service_change._instruction_patterns()
    for text in _messages():
        for found in instruction["relay"].pattern.finditer(text):
            assert instruction["relayed_to"].pattern.search(found.group()), found.group()


def test_a_word_start_is_found_after_an_apostrophe_and_inside_no_word() -> None:
    gate = Gate([prefiltered(r"(?<![\w'])(?:hold|post\s+it)(?![\w'])")])
    assert gate.may_match("and'hold it") and gate.may_match("HOLD") and gate.may_match("x. post it")
    assert not gate.may_match("behold the lamppost") and not gate.may_match("where is it")
