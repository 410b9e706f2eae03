"""Whether a message instructs Lumen, or only presses about the shopper's own order.

The act reader hears an attack in some ordinary follow-ups ("ok but WHY is it on hold? tell me the actual reason it
says on your system"): "your system" and an imperative sound like orders to the assistant. What makes a message an
instruction is what it is about: Lumen's own rules, role or access, or other people's orders (`prompts/reading.toml`
[instructions]). A message with none of that, asking about the order, is a question about the order.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent import prompts
from agent.playbook.understand import EMAIL


@lru_cache(maxsize=1)
def _instruction_words() -> re.Pattern[str]:
    table = prompts.toml("reading.toml")["instructions"]
    phrases = sorted({*table["rules"], *table["others"]}, key=len, reverse=True)
    body = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases)
    return re.compile(rf"(?<![\w'])(?:{body})(?![\w'])", re.IGNORECASE)


def instructs_lumen(text: str) -> bool:
    """Whether the message speaks of Lumen's rules, role or access, or of other people's orders."""
    plain = EMAIL.sub(" ", text).replace("’", "'")
    return _instruction_words().search(plain) is not None


# The shopper's own order named in a message: "it", "my order", "this one".
_OWN_ORDER = re.compile(rf"(?<![\w'])(?:{prompts.either('instructions', 'own_order')})(?![\w'])", re.IGNORECASE)


def names_own_order(text: str) -> bool:
    """Whether the message speaks of the shopper's own order ("why is it on hold", "what does it say about mine")."""
    return _OWN_ORDER.search(text.replace("’", "'")) is not None
