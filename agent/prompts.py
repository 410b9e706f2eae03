"""Loads the words Lumen says from `prompts/`: the LLM instructions and the playbook model's reply templates; and
the words it reads (`prompts/reading.toml`), so every word the playbook reacts to is in one file a merchant or a
translator can read."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@cache
def text(name: str) -> str:
    return (PROMPTS_DIR / name).read_text(encoding="utf-8")


@cache
def toml(name: str) -> dict[str, Any]:
    return tomllib.loads(text(name))


def words(section: str, key: str) -> list[str]:
    """One word list of `prompts/reading.toml`: `words("clauses", "joiners")`. A missing or empty list is an error
    at import, not a reading that silently never matches."""
    found = toml("reading.toml")[section][key]
    if not found or not all(isinstance(w, str) and w for w in found):
        raise ValueError(f"prompts/reading.toml [{section}] {key} must be a list of words")
    return list(found)


def either(section: str, key: str) -> str:
    """A word list of `prompts/reading.toml` as a regex alternation, each word literal and in the file's order (the
    order the code had: an earlier alternative wins where two match at one place). The caller's regex gives the
    bounds ("\\b(?:...)\\b") and the case."""
    return "|".join(re.escape(w) for w in words(section, key))


@cache
def platforms() -> tuple[str, ...]:
    lines = (line.strip() for line in text("platforms.txt").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


class Replies:
    """The playbook's templates for one tone: `replies.say("ask_email")`, `replies.say("order.dnr", **facts)`."""

    def __init__(self, tone: str) -> None:
        self.tone = tone
        self._table = toml("replies.toml")

    def template(self, key: str) -> str:
        node: Any = self._table
        for part in key.split("."):
            node = node[part]
        if isinstance(node, dict):
            node = node.get(self.tone) or node.get("friendly") or node["text"]
        return str(node)

    def say(self, key: str, **fields: Any) -> str:
        return self.template(key).format(**fields)

    def has(self, key: str) -> bool:
        try:
            self.template(key)
        except KeyError:
            return False
        return True
