"""The record of a run: what each case's conversation(s) said and did, turn by turn, and load figures.

`evals/task.py` writes these records and `evals/evaluators.py` reads them; neither imports the other. The records keep
every turn's reply and the model messages it produced, so the tool calls and their results are read straight from
the run: no tracing service is needed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_core import to_jsonable_python

from evals.dataset import Expect

PLAYBOOK = "playbook"
"""The `--model` name of the offline playbook (no LLM)."""


@dataclass
class ToolCallRecord:
    turn: int  # 1-based shopper turn
    name: str
    args: dict[str, Any]
    result: Any = None  # JSON-like; None when the call got no return (e.g. the turn failed)


@dataclass
class TurnRecord:
    user: str
    reply: str
    model: str | None  # the model that wrote the reply; None when the turn failed
    latency_s: float
    messages: list[ModelMessage]  # what this turn added to the conversation
    escalation: dict[str, Any] | None = None

    @property
    def requests(self) -> int:
        return sum(1 for m in self.messages if isinstance(m, ModelResponse) and m.model_name != "error")

    @property
    def tokens(self) -> int:
        return sum(
            (m.usage.input_tokens or 0) + (m.usage.output_tokens or 0)
            for m in self.messages
            if isinstance(m, ModelResponse) and m.model_name != "error"
        )

    def rejected_drafts(self) -> list[tuple[str, str]]:
        """Texts the model wrote that the agent sent back (the grounding guard), with the feedback it gave."""
        found: list[tuple[str, str]] = []
        for i, message in enumerate(self.messages):
            if not isinstance(message, ModelResponse):
                continue
            text = "".join(p.content for p in message.parts if isinstance(p, TextPart)).strip()
            if not text:
                continue
            after = self.messages[i + 1] if i + 1 < len(self.messages) else None
            retry = (
                [
                    p
                    for p in after.parts
                    if isinstance(p, RetryFeedbackPart) or (isinstance(p, RetryPromptPart) and p.tool_name is None)
                ]
                if isinstance(after, ModelRequest)
                else []
            )
            if retry:
                feedback = retry[0].content
                found.append((text, feedback if isinstance(feedback, str) else json.dumps(feedback, default=str)))
            elif after is None and text != self.reply.strip() and self.model not in (None, "error"):
                # The last draft was replaced after the retries ran out.
                found.append((text, "replaced by the agent's fallback reply"))
        return found


@dataclass
class ConversationRun:
    label: str
    store: Path
    today: date
    requested_model: str
    llm_expected: bool = False  # an LLM is under test: a turn the playbook answered is a silent fallback
    persona_context: str = ""
    turns: list[TurnRecord] = field(default_factory=list)
    expect: Expect | None = None  # a high-traffic template's expectation; None means the case's own

    @property
    def latency_s(self) -> float:
        return sum(t.latency_s for t in self.turns)

    @property
    def requests(self) -> int:
        return sum(t.requests for t in self.turns)

    @property
    def tokens(self) -> int:
        return sum(t.tokens for t in self.turns)

    def messages_through(self, turn_index: int) -> list[ModelMessage]:
        """Every message up to the end of turn `turn_index` (0-based)."""
        return [m for t in self.turns[: turn_index + 1] for m in t.messages]

    @cached_property
    def tool_calls(self) -> list[ToolCallRecord]:
        calls: list[ToolCallRecord] = []
        by_id: dict[str, ToolCallRecord] = {}
        for number, turn in enumerate(self.turns, start=1):
            for message in turn.messages:
                for part in message.parts:
                    if isinstance(part, ToolCallPart):
                        try:
                            args = part.args_as_dict()
                        except Exception:  # a model can send arguments that are not JSON
                            args = {"_raw": str(part.args)}
                        record = ToolCallRecord(number, part.tool_name, args)
                        calls.append(record)
                        by_id[part.tool_call_id] = record
                    elif isinstance(part, ToolReturnPart) and part.tool_call_id in by_id:
                        by_id[part.tool_call_id].result = to_jsonable_python(part.content)
        return calls

    def user_text_through(self, turn_index: int) -> str:
        return "\n".join(t.user for t in self.turns[: turn_index + 1])


@dataclass
class LoadStats:
    conversations: int
    workers: int
    duration_s: float
    p50_s: float
    p95_s: float
    max_s: float
    shopify_requests: int  # requests the fake Shopify served
    throttled: int  # THROTTLED answers the fake Shopify gave
    client_retries: int
    client_waits: int  # times the client held a query back until the bucket refilled
    client_waited_s: float
    latencies_s: list[float] = field(default_factory=list)  # each conversation's, in start order

    def as_dict(self) -> dict[str, Any]:
        data = {k: round(v, 3) if isinstance(v, float) else v for k, v in self.__dict__.items()}
        data["latencies_s"] = [round(v, 3) for v in self.latencies_s]
        return data


@dataclass
class CaseRun:
    """What the task returns for one case: its conversation(s) and, for high-traffic cases, load statistics."""

    conversations: list[ConversationRun]
    load: LoadStats | None = None

    @property
    def requests(self) -> int:
        return sum(c.requests for c in self.conversations)

    @property
    def tokens(self) -> int:
        return sum(c.tokens for c in self.conversations)

    def transcript(self, limit: int = 1) -> str:
        """The conversation as text, for people and for an LLM judge."""
        lines: list[str] = []
        for conversation in self.conversations[:limit]:
            for turn in conversation.turns:
                lines += [f"Shopper: {turn.user}", f"Assistant: {turn.reply}"]
        return "\n".join(lines)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
