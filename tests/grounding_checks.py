"""Writes `tests/data/grounding_checks.json.gz`: every grounding check the scenario suite and the regression sets
make when run with the playbook (`lumen eval --no-acts`), for `tests/test_grounding_equivalence.py`.

    .venv/bin/python -m tests.grounding_checks             # the suite and the regression sets named below
    .venv/bin/python -m tests.grounding_checks --time      # the guard's CPU a check on them, and the reference's

Each check is a reply, the conversation it was checked against (what the guard reads of it: each request's tool
results as JSON values, the shopper's words and the instructions, each kept once) and the store's today.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart, UserPromptPart
from pydantic_core import to_jsonable_python

import agent.grounding

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "grounding_checks.json.gz"
# The regression sets a helper may run (never the held-out ones).
SETS = ("", *map(str, (2, 3, 5, 6, 8, *range(10, 33))))


class Recorder:
    """Wraps `agent.grounding.evidence` and `ungrounded` (before anything imports them) to keep each check."""

    def __init__(self) -> None:
        self.instructions: dict[str, int] = {}
        self.conversations: dict[str, int] = {}
        self.checks: set[tuple[str, int, str | None]] = set()
        self._made: dict[int, tuple[object, int]] = {}
        self._evidence = agent.grounding.evidence
        self._ungrounded = agent.grounding.ungrounded

    def install(self) -> None:
        agent.grounding.evidence = self.evidence  # type: ignore[assignment]
        agent.grounding.ungrounded = self.ungrounded

    def evidence(
        self, messages: Sequence[ModelMessage], extra: str = "", example: str = ""
    ) -> agent.grounding.Evidence:
        made = self._evidence(messages, extra, example)
        key = json.dumps({"requests": self._requests(messages), "extra": extra, "example": example}, ensure_ascii=False)
        self._made[id(made)] = (made, self.conversations.setdefault(key, len(self.conversations)))
        return made

    def ungrounded(self, reply: str, source: str | agent.grounding.Evidence, today: date | None = None) -> list[str]:
        made = self._made.get(id(source))
        if made is not None and made[0] is source:
            self.checks.add((reply, made[1], today.isoformat() if today else None))
        return self._ungrounded(reply, source, today)

    def _requests(self, messages: Sequence[ModelMessage]) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        for message in messages:
            if not isinstance(message, ModelRequest):
                continue
            parts: list[dict[str, Any]] = []
            for part in message.parts:
                if isinstance(part, ToolReturnPart):
                    parts.append({"tool": to_jsonable_python(part.content)})
                elif isinstance(part, UserPromptPart) and isinstance(part.content, str):
                    parts.append({"said": part.content})
            index = (
                self.instructions.setdefault(message.instructions, len(self.instructions))
                if message.instructions
                else None
            )
            requests.append({"instructions": index, "parts": parts})
        return requests

    def stored(self) -> dict[str, Any]:
        """The checks (reply, conversation, today), each reply, tool result and shopper's message kept once and
        named by index."""
        checks = sorted(self.checks, key=lambda c: (c[1], c[0], c[2] or ""))
        replies = {reply: index for index, reply in enumerate(sorted({reply for reply, _, _ in checks}))}
        tools: dict[str, int] = {}
        said: dict[str, int] = {}
        conversations = []
        for key in sorted(self.conversations, key=self.conversations.__getitem__):
            conversation = json.loads(key)
            for request in conversation["requests"]:
                request["parts"] = [
                    ["tool", tools.setdefault(json.dumps(part["tool"], ensure_ascii=False), len(tools))]
                    if "tool" in part
                    else ["said", said.setdefault(part["said"], len(said))]
                    for part in request["parts"]
                ]
            conversations.append(conversation)
        return {
            "instructions": sorted(self.instructions, key=self.instructions.__getitem__),
            "tools": [json.loads(text) for text in sorted(tools, key=tools.__getitem__)],
            "said": sorted(said, key=said.__getitem__),
            "conversations": conversations,
            "replies": sorted(replies),
            "checks": [[replies[reply], index, today] for reply, index, today in checks],
        }


def timed(rounds: int = 7) -> str:
    """The CPU of a check (evidence and verdict) on the stored checks, the guard and the reference guard in turn
    (each round both, so load on the machine falls on both alike): a micro-benchmark of the guard."""
    import time

    import tests.grounding_reference as reference
    from tests.test_grounding_equivalence import _checks

    checks = _checks()
    spent: dict[str, list[float]] = {"guard": [], "reference": []}
    for _ in range(rounds):
        for name, guard in (("guard", agent.grounding), ("reference", reference)):
            started = time.process_time()
            for check in checks:
                backing = guard.evidence(check.messages, extra=check.extra, example=check.example)
                guard.ungrounded(check.reply, backing, check.today)
            spent[name].append((time.process_time() - started) / len(checks) * 1000)
    return "\n".join(
        f"{name}: {min(times):.3f} ms a check (best of {rounds}), median {sorted(times)[rounds // 2]:.3f} ms"
        for name, times in spent.items()
    )


def main(argv: list[str]) -> int:
    if argv[:1] == ["--time"]:
        print(timed())
        return 0
    recorder = Recorder()
    recorder.install()
    from evals.runner import main as eval_main  # after `install`: the runner imports the guard's functions

    runs = [["--no-acts"], *(["--cases", f"evals/stranger{n}/cases.yaml", "--no-acts"] for n in argv or SETS)]
    for run in runs:
        eval_main(run)
    with gzip.open(OUT, "wt", encoding="utf-8") as file:
        json.dump(recorder.stored(), file, ensure_ascii=False)
    print(f"{len(recorder.checks)} checks of {len(recorder.conversations)} conversations -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
