"""`deadline._listed` (a word of money one slip of the keyboard from a listed one) looks its slips up in an index:
the same word found as the walk over the list it replaced, on every word of the regular eval messages and on
thousands of listed words slipped once or twice, with letters, digits, apostrophes and other scripts."""

from __future__ import annotations

import random
import re
from itertools import pairwise

from agent import prompts
from agent.playbook.deadline import _listed
from tests.shopper_texts import shopper_texts

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
_TYPED = "abcdefghijklmnopqrstuvwxyz0123456789'_éßıİ"


def _one_slip_apart(word: str, other: str) -> bool:
    """The walk's test, as it was: `other` is `word` with a letter dropped, two neighbours swapped, a letter mistyped
    or added (as a lowercase letter)."""
    size = len(word)
    if len(other) == size - 1:
        i = _first_difference(word, other)
        return word[i + 1 :] == other[i:]
    if len(other) == size + 1:
        i = _first_difference(word, other)
        return other[i] in _LETTERS and other[i + 1 :] == word[i:]
    if len(other) != size:
        return False
    i = _first_difference(word, other)
    if i == size:
        return any(c in _LETTERS for c in word) or any(a == b for a, b in pairwise(word))
    if other[i] in _LETTERS and word[i + 1 :] == other[i + 1 :]:
        return True
    return i + 1 < size and word[i] == other[i + 1] and word[i + 1] == other[i] and word[i + 2 :] == other[i + 2 :]


def _first_difference(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _walked(word: str, listed: tuple[str, ...]) -> str:
    if len(word) < 4 or word in listed:
        return word
    size = len(word)
    return next((w for w in listed if len(w) >= 4 and abs(len(w) - size) <= 1 and _one_slip_apart(word, w)), word)


def _slipped(word: str, rng: random.Random) -> str:
    i = rng.randrange(len(word) + 1)
    edit = rng.randrange(4)
    if edit == 0:
        return word[:i] + word[i + 1 :]
    if edit == 1:
        return word[:i] + rng.choice(_TYPED) + word[i:]
    if edit == 2:
        return word[:i] + rng.choice(_TYPED) + word[i + 1 :]
    return word[:i] + word[i + 1 : i + 2] + word[i : i + 1] + word[i + 2 :]


def _words() -> list[str]:
    texts = shopper_texts()
    return sorted({w for text in texts for w in re.findall(r"[\w']+", text.lower().replace("’", "'"))})


def test_the_index_finds_what_the_walk_found() -> None:
    rng = random.Random(5)
    money = tuple(prompts.toml("deadlines.toml")["refund_gap"]["money"])
    # Lists with doubled letters, short words and near neighbours of each other, beside the real one.
    lists = [money, ("refund", "refunds", "pay", "paid", "moneey", "cash", "cahs", "back", "bakc"), ("aab", "abba")]
    for listed in lists:
        words = _words() + [w + "s" for w in listed]
        for _ in range(8000):
            word = rng.choice(listed)
            for _ in range(rng.randint(1, 2)):
                word = _slipped(word, rng)
            words.append(word)
        found = 0
        for word in words:
            expected = _walked(word, listed)
            assert _listed(word, listed) == expected, (word, listed)
            found += expected != word
        assert found > 1000
