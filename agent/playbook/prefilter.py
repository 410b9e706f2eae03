"""A pre-check for the playbook's word-list patterns: the literal words one of which any match must contain, read off
the pattern itself, so a message holding none of them is skipped without running the regex.

Most messages hold no word of most lists, and a pattern bounded by `(?<![\\w'])` and read case-blind gives `re` no
literal to skip ahead on: it tries every position. A substring test of the message, folded once, is far cheaper. The
result is the pattern's own by construction: a needle is a run of literal characters the pattern must match in a row,
so a match puts that run, folded, into the folded message; where no needle is there, there is no match.
"""

from __future__ import annotations

import re
import re._constants as _c  # `re`'s own parser: the pattern as `re` reads it
import re._parser as _parser
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

# The characters other than A-Z that a case-blind `re` matches to an ASCII letter: the long s (s), the dotless i and
# the capital I with a dot (i), the Kelvin sign (k; `str.lower` folds it already). `str.lower` turns the dotted
# capital I into two characters, so it is mapped first. The test of this module checks every code point against `re`.
_RE_FOLDS = str.maketrans({"ſ": "s", "ı": "i", "İ": "i", "K": "k"})


_NOT_WORD = re.compile(r"[^\w']")


@lru_cache(maxsize=256)  # one message is read by many patterns in a row
def folded(text: str) -> str:
    """`text` as the pre-check compares it: a space before it, each character that is neither a word character nor
    an apostrophe a space (so " word" in it says a word starts there, as `(?<![\\w'])` does), each character that a
    case-blind `re` matches to an ASCII character that character in lower case."""
    return " " + _NOT_WORD.sub(" ", text).translate(_RE_FOLDS).lower()


_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT))
_Needles = frozenset[str] | None  # None: the pattern requires no literal text (it may match without any)


def _best(candidates: list[frozenset[str]]) -> _Needles:
    """The most telling set of needles of a sequence: the longest shortest needle, then the fewest."""
    if not candidates:
        return None
    return max(candidates, key=lambda needles: (min(map(len, needles)), -len(needles)))


def _literal(op: Any, av: Any) -> str | None:
    """The character a parsed item matches as the pre-check compares it, if it is one ASCII literal."""
    if op is _c.LITERAL and av < 128:
        return " " if _NOT_WORD.match(chr(av)) else chr(av).lower()
    return None


def _word_start(op: Any, av: Any) -> bool:
    """Whether a parsed item is a look-behind for no word character and no apostrophe (`(?<![\\w'])`, or one
    refusing more characters): what follows starts a word, a space before it in the folded text."""
    if op is not _c.ASSERT_NOT or av[0] != -1 or len(av[1]) != 1:
        return False
    kind, members = av[1][0]
    return kind is _c.IN and (_c.CATEGORY, _c.CATEGORY_WORD) in members and (_c.LITERAL, ord("'")) in members


def _needles(items: Any, lead: str = "") -> _Needles:
    """The needles of a parsed sequence: one of them is in the folded text of any match of it. `lead` is the folded
    text known to stand just before the sequence (" " where a word starts, the literal characters before a group
    whose branches `re` took a common start out of: "s(?:hip|end)")."""
    candidates: list[frozenset[str]] = []
    run = lead
    for op, av in items:
        char = _literal(op, av)
        if char is not None:
            run += char
            continue
        if run.strip():
            candidates.append(frozenset((run,)))
        if _word_start(op, av):
            run = " "
            continue
        inner = _inner_needles(op, av, run)
        if inner is not None:
            candidates.append(inner)
        run = ""
    if run.strip():
        candidates.append(frozenset((run,)))
    return _best(candidates)


def _inner_needles(op: Any, av: Any, lead: str) -> _Needles:
    """The needles of one parsed item that is not a literal character (None where it requires no text), `lead` the
    folded text just before it."""
    if op is _c.SUBPATTERN:
        return _needles(av[3], lead)
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return _needles(av, lead)
    if op in _REPEATS and av[0] >= 1:
        return _needles(av[2], lead)  # its first time through starts just after `lead`
    if op is _c.BRANCH:
        union: set[str] = set()
        for branch in av[1]:
            needles = _needles(branch, lead)
            if needles is None:
                return None  # one way through needs no literal: the whole alternation needs none
            union |= needles
        return frozenset(union)
    return None  # a class, any character, a lookaround, a back reference...: no literal text required


def _fewest(needles: frozenset[str]) -> tuple[str, ...]:
    """The needles without those holding another one: where the longer is in a text, so is the shorter."""
    kept = sorted(needles, key=lambda n: (len(n), n))  # shortest first, then in a fixed order
    return tuple(n for i, n in enumerate(kept) if not any(shorter in n for shorter in kept[:i]))


def needles(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """The literal runs (folded) one of which any match of `pattern` holds, or None where it needs none."""
    found = _needles(_parser.parse(pattern.pattern, pattern.flags))
    return None if found is None else _fewest(found)


class Prefiltered:
    """A compiled pattern whose searches skip a text holding none of its needles (`needles`): the same results as
    the pattern's, by construction. Only the methods the playbook uses."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        # Under re.ASCII a non-ASCII letter is no word character to the pattern but is one to `folded`, so a word
        # start after it would be missed: such a pattern is always searched (none is prefiltered today).
        self.needles = None if pattern.flags & re.ASCII else needles(pattern)

    def may_match(self, text: str) -> bool:
        """False only where the pattern cannot match `text`."""
        if self.needles is None:
            return True
        low = folded(text)
        for needle in self.needles:  # noqa: SIM110 (a plain loop: `any` over a generator costs twice as much here)
            if needle in low:
                return True
        return False

    def search(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text) if self.may_match(text) else None

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self.may_match(text) else iter(())

    def findall(self, text: str) -> list[Any]:
        return self.pattern.findall(text) if self.may_match(text) else []

    def sub(self, repl: str | Callable[[re.Match[str]], str], text: str) -> str:
        return self.pattern.sub(repl, text) if self.may_match(text) else text


def prefiltered(pattern: str, flags: int = 0) -> Prefiltered:
    """`re.compile(pattern, flags)` with the pre-check."""
    return Prefiltered(re.compile(pattern, flags))
