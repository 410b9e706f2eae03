"""Streaming tells the truth too: only text that passed the grounding guard reaches the widget, through the SSE
endpoint, and the reply the guard falls back to is itself checked."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

import agent.core as core
from agent.playbook.model import ReplyStep, State
from agent.prompts import Replies
from agent.service import Lumen
from tests.server_helpers import make_settings, stream_with_llm

ASK = "where is order 1042? jordan.lee@example.com"
INVENTED_TRACKING = "1Z999AA10199999999"
OPENING = "Your order #1042 is on its way with USPS."
INVENTED = f"{OPENING} Tracking {INVENTED_TRACKING}, and it arrives tomorrow."
GROUNDED = f"{OPENING} Tracking 9400111899223197428490, estimated delivery Saturday, February 28."
LOOKUPS: list[DeltaToolCalls] = [
    {
        0: DeltaToolCall(
            name="find_order", json_args=json.dumps({"order_number": "1042", "email": "jordan.lee@example.com"})
        )
    },
    {0: DeltaToolCall(name="list_fulfillments", json_args=json.dumps({"order_number": "#1042"}))},
]


@dataclass
class StreamedLLM:
    """An LLM that streams: the two lookups, then its drafts one after another, a few characters at a time."""

    drafts: list[str]
    requests: int = 0
    feedback: list[str] = field(default_factory=list)

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        self.requests += 1
        if self.requests <= len(LOOKUPS):
            yield LOOKUPS[self.requests - 1]
            return
        if self.requests > len(LOOKUPS) + 1:
            self.feedback.append(str(messages[-1].parts[-1]))  # what the guard told the model
        draft = self.drafts.pop(0)
        for start in range(0, len(draft), 7):
            yield draft[start : start + 7]

    def model(self) -> FunctionModel:
        def unused(messages: list[ModelMessage], info: AgentInfo) -> Any:
            raise AssertionError("the widget's turn is streamed")

        return FunctionModel(unused, stream_function=self, model_name="streamed-llm")


@pytest.fixture
async def lumen(tmp_path: Path) -> AsyncIterator[Lumen]:
    service = await Lumen.create(make_settings(tmp_path))
    yield service
    await service.close()


async def stream_turn(lumen: Lumen, llm: StreamedLLM, message: str = ASK) -> list[tuple[str, dict[str, Any]]]:
    """One shopper message through POST /api/chat/stream, with `llm` as the merchant's LLM (the playbook behind it)."""
    return await stream_with_llm(lumen, llm.model(), message)


def streamed(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for name, data in events if name == "delta")


def carries(events: list[tuple[str, dict[str, Any]]], text: str) -> bool:
    return any(text.lower() in json.dumps(data).lower() for _, data in events)


async def test_a_rejected_draft_never_reaches_the_widget(lumen: Lumen) -> None:
    llm = StreamedLLM([INVENTED, GROUNDED])
    events = await stream_turn(lumen, llm)
    assert llm.requests == 4 and "tracking number 1Z999AA10199999999" in llm.feedback[0]  # the draft was written
    assert not carries(events, INVENTED_TRACKING) and not carries(events, "tomorrow")
    done = events[-1][1]
    assert events[-1][0] == "done" and done["reply"] == GROUNDED
    # The grounded opening went out as it was written; the retry continued it, so the widget never repeats itself.
    assert streamed(events) == GROUNDED
    first_delta = next(data["text"] for name, data in events if name == "delta")
    assert first_delta == OPENING


async def test_a_retry_that_rewrites_the_opening_stops_the_stream_until_done(lumen: Lumen) -> None:
    rewritten = "Good news: order #1042 is in transit. Package 1 has tracking 9400111899223197428490."
    events = await stream_turn(lumen, StreamedLLM([INVENTED, rewritten]))
    assert not carries(events, INVENTED_TRACKING) and not carries(events, "tomorrow")
    assert streamed(events) == OPENING  # what was shown was checked; the rest comes whole, in `done`
    assert events[-1][1]["reply"] == rewritten


async def test_a_draft_invented_twice_streams_only_the_checked_safe_reply(lumen: Lumen) -> None:
    invented_first = f"It arrives tomorrow with tracking {INVENTED_TRACKING}."
    events = await stream_turn(lumen, StreamedLLM([invented_first, invented_first]))
    assert not carries(events, INVENTED_TRACKING) and not carries(events, "tomorrow")
    reply = events[-1][1]["reply"]
    assert "9400111899223197428490" in reply  # the playbook's reply from the tool results
    assert streamed(events) == reply


async def test_the_safe_reply_is_checked_by_the_guard_too(lumen: Lumen, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the playbook's reply were itself ungrounded, the shopper gets the plain hand-off offer instead."""

    class InventingPlaybook(core.Playbook):
        def next_step(self, messages: list[ModelMessage]) -> ReplyStep:
            return ReplyStep(f"Tracking {INVENTED_TRACKING}: it arrives tomorrow.", State())

    monkeypatch.setattr(core, "Playbook", InventingPlaybook)
    invented_first = f"It arrives tomorrow with tracking {INVENTED_TRACKING}."
    events = await stream_turn(lumen, StreamedLLM([invented_first, invented_first]))
    assert not carries(events, INVENTED_TRACKING) and not carries(events, "tomorrow")
    reply = events[-1][1]["reply"]
    assert reply == Replies("friendly").say("out_of_scope", shop_name="Harbor & Pine")
