"""A person asked for after the shopper said they wanted none: "actually, ye know what, aye get someone on it".

The shopper's earlier "no tickets, don't pass me on" holds until they ask otherwise; a later request for a person
overrides it (the dialogue's latest word counts). Such a request often opens with words of answer and second thoughts
("actually", "you know what", "aye") that drown it in the whole message's reading, so each clause is read again
without them.
"""

from __future__ import annotations

import re

from agent.playbook.acts import THRESHOLD, read_acts
from agent.playbook.understand import EMAIL, after_answer_words

_CLAUSES = re.compile(r"[?.!;,:]+|\s[-–—]\s")


def person_asked(text: str) -> bool:
    """Whether a clause of the message, read without the answer words it opens with, asks for a person ("aye get
    someone on it", "ok changed my mind, have somebody look into it"), outside a negation ("no, don't get anyone")."""
    for clause in _CLAUSES.split(EMAIL.sub(" ", text)):
        words = after_answer_words(clause)
        if len(re.findall(r"[^\W\d_]{2,}", words)) < 2:
            continue
        reading = read_acts(words)
        if reading.probabilities.get("ask_human", 0.0) >= THRESHOLD and "ask_human" not in reading.negated:
            return True
    return False
