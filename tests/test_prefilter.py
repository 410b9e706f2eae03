"""The playbook's pre-check of word-list patterns (`agent/playbook/prefilter.py`): a message it skips is one the
pattern cannot match, on every message we have and on case-folding oddities `re` folds."""

from __future__ import annotations

import re
import sys
from functools import cache

import pytest

from agent.playbook import cannot_do, follow_ups, order_change, own_orders, service_change, understand
from agent.playbook.prefilter import Prefiltered, folded, needles, prefiltered
from tests.shopper_texts import shopper_texts


@cache
def _messages() -> tuple[str, ...]:
    texts = shopper_texts()
    # Letters a case-blind `re` folds onto ASCII ones, and capitals: the pre-check must fold them the same way.
    odd = [
        variant
        for text in texts[::7]
        for variant in (
            text.upper(),
            text.replace("s", "ſ"),
            text.replace("k", "\u212a").replace("i", "İ"),
            text.replace("i", "ı"),
            text.replace(" ", "\t").replace("'", "’"),
        )
    ]
    return (*texts, *odd)


def _prefiltered() -> dict[str, Prefiltered]:
    """Every pre-checked pattern of the playbook's readers."""
    found: dict[str, Prefiltered] = {}
    tables = {
        "service_change": service_change._patterns() | service_change._instruction_patterns(),
        "order_change": order_change._patterns(),
        "cannot_do": cannot_do._patterns(),
        "unseen": understand._unseen_patterns(),
        "what_next": dict(zip(("refer", "asks", "retry"), follow_ups._what_next(), strict=True))
        | {"collect": follow_ups._collect()},
    }
    for table, patterns in tables.items():
        found |= {f"{table}.{key}": pattern for key, pattern in patterns.items()}
    for module in (understand, own_orders):
        found |= {f"{module.__name__}.{k}": v for k, v in vars(module).items() if isinstance(v, Prefiltered)}
    return found


def test_the_fold_is_re_s_own_on_every_code_point() -> None:
    """Each character a case-blind `re` matches to an ASCII character folds to that character (in lower case; a
    space for one that is neither a word character nor an apostrophe), so a needle is found wherever `re` matches."""
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    for code in range(32, 127):
        char = chr(code)
        expected = " " if re.match(r"[^\w']", char) else char.lower()
        for found in re.finditer(re.escape(char), everything, re.IGNORECASE):
            assert folded(found.group()) == " " + expected, (char, found.group(), hex(ord(found.group())))


@pytest.mark.parametrize("name", sorted(_prefiltered()))
def test_a_skipped_message_is_one_the_pattern_cannot_match(name: str) -> None:
    pattern = _prefiltered()[name]
    assert pattern.needles is not None, "a pattern with no needle gains nothing from the pre-check"
    skipped = 0
    for text in _messages():
        if not pattern.may_match(text):
            skipped += 1
            assert pattern.pattern.search(text) is None, (name, text)
    assert skipped > 0  # the pre-check does skip messages: the test is not vacuous


def test_the_methods_answer_as_the_pattern_does() -> None:
    pattern = prefiltered(r"(?<![\w'])(?:ship\s+it|send)(?![\w'])", re.IGNORECASE)
    for text in ("can you SHIP  it?", "resend it", "Send! send", "nothing here", "ſend it", "ſhip it"):
        compiled = pattern.pattern
        assert [m.span() for m in pattern.finditer(text)] == [m.span() for m in compiled.finditer(text)]
        assert pattern.sub("-", text) == compiled.sub("-", text)
        assert pattern.findall(text) == compiled.findall(text)
        found, again = pattern.search(text), compiled.search(text)
        assert (found and found.span()) == (again and again.span())


def test_needles_are_what_every_match_must_hold() -> None:
    # The words of a bounded list each start a word: a space before them in the folded text.
    assert needles(re.compile(r"(?<![\w'])(?:ship\s+it|send)(?![\w'])", re.I)) == (" send", " ship")
    # One way through that needs no literal text: no needle at all, every message is searched.
    assert needles(re.compile(r"(?:express|\d+)\s+please", re.I)) == ("please",)
    assert needles(re.compile(r"(?:express|)\s*", re.I)) is None
    assert needles(re.compile(r"(?:express)?\d+", re.I)) is None
    # Inside a word ("\b" lets an apostrophe stand before it): no space is claimed before it.
    assert needles(re.compile(r"\bcancell?ed\b", re.I)) == ("cancel",)
    # A longer needle holding a shorter one is left out: where it is, so is the shorter.
    assert needles(re.compile(r"(?:old|hold|fold)", re.I)) == ("old",)


def test_a_pattern_read_in_ascii_is_always_searched() -> None:
    # Under re.ASCII "é" is no word character, so " ship" starts a word in "éship" for the pattern, not for `folded`.
    pattern = prefiltered(r"(?<![\w'])ship", re.IGNORECASE | re.ASCII)
    assert pattern.needles is None and pattern.search("éship") is not None
    assert prefiltered(r"(?<![\w'])ship", re.IGNORECASE).search("éship") is None
