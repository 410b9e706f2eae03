"""A pre-check before a detector's several prefiltered patterns: one look at a message says whether any of them could
match it, or a clause of it, so a message holding none of their needles is answered without running each pattern's
own pre-check (each a loop over its needles, some microseconds a pattern, many patterns a detector).

Exact by construction. A match of a pattern puts one of its needles into the folded clause it was found in
(`prefilter.py`). A needle " abc..." (a word start, then three letters or digits) is then in the folded message as a
space or apostrophe followed by "abc" (a clause's first character follows a space, punctuation or a joining word, and
after a joining word ending in a letter it is no letter), so some fragment of the folded message split at spaces and
apostrophes begins with "abc", and the needle without its space is in the folded message; any other needle is in the
folded message as it is in the clause's (a clause's folded text is a space, then the folded characters of a stretch
of the message). Tested against the patterns themselves in tests/test_playbook_gate.py."""

from __future__ import annotations

from collections.abc import Iterable

from agent.playbook.prefilter import Prefiltered, folded

_KEY = 3  # letters of a word start compared with the message's fragments


class Gate:
    """Whether any of `patterns` may match a text, or a clause of it split off at punctuation or a joining word."""

    def __init__(self, patterns: Iterable[Prefiltered]) -> None:
        keyed: dict[str, set[str]] = {}
        loose: set[str] = set()
        self.always = False
        for pattern in patterns:
            if pattern.needles is None:
                self.always = True  # a pattern that needs no literal text may match anything
                continue
            for needle in pattern.needles:
                key = needle[1 : _KEY + 1]
                if needle.startswith(" ") and len(key) == _KEY and " " not in key and "'" not in key:
                    keyed.setdefault(key, set()).add(needle[1:])
                else:
                    loose.add(needle)
        # A word start's three letters -> the needles (without their space) that begin with them.
        self.keyed = {key: tuple(sorted(rests)) for key, rests in keyed.items()}
        self.loose = tuple(sorted(loose))

    def may_match(self, text: str) -> bool:
        """False only where none of the patterns can match `text` or a clause of it."""
        if self.always:
            return True
        low = folded(text)
        for key in self.keyed.keys() & {word[:_KEY] for word in low.replace("'", " ").split()}:
            if any(rest in low for rest in self.keyed[key]):
                return True
        return any(needle in low for needle in self.loose)
