"""A shopper asking Lumen to confirm where a delivered parcel physically is: "can you confirm it's really in the
parcel box?", "is it really on my porch?", "did they definitely leave it at reception?". Lumen sees only what the
carrier recorded, so it says what that is (the order's answer) and that it can't confirm where the package
physically is, before the answer's offer of the team. The words are in `prompts/reading.toml` [physical_check]."""

from __future__ import annotations

import re
from functools import lru_cache

from agent import prompts

# One clause, with the punctuation that ends it (a "?" says it is a question).
_CLAUSE = re.compile(r"[^.!?;\n]+[.!?;\n]*")
# A few words at most between the parts of the question ("confirm [it's] really [in] the parcel box").
_GAP = r"(?:\W+[\w'%]+){0,4}?\W+"


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    def words(key: str) -> str:
        return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in prompts.words("physical_check", key)) + ")"

    asked = rf"(?<![\w'])(?:{words('asks')}){_GAP}(?:{words('really')}){_GAP}(?:{words('where')})(?![\w'])"
    physically = rf"(?<![\w'])(?:{words('physically')})(?![\w'])"
    return re.compile(asked, re.IGNORECASE), re.compile(physically, re.IGNORECASE)


def physical_check_asked(text: str) -> bool:
    """Whether a message asks Lumen to confirm where the parcel physically is, in any clause of it."""
    asked, physically = _patterns()
    for found in _CLAUSE.finditer(text.replace("’", "'")):
        clause = found.group(0)
        if asked.search(clause) or (physically.search(clause) and "?" in clause):
            return True
    return False
