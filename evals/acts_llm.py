"""Scoring an LLM's choices on the shopper corpus: what the real agent did with each held-out message.

With an LLM configured (`lumen eval --model openai:... --acts-llm [--acts-sample N]`), every message of the held-out
slice (or a deterministic sample of it) is sent as the first turn of a fresh conversation to the real agent
(`agent.core.lumen_agent`, its instructions, tools and grounding guard) on the demo store. What the agent did is
reduced to one action:

- `lookup`: it called `find_order` with an order number, or `list_fulfillments`;
- `escalate`: it called `escalate` (the hand-off to the team);
- `reply`: it answered without looking anything up (asked for the order number or email, which the agent may do by
  calling `find_order` with no number, said what it can't do, small talk).

Each act says which actions are right for a first message (`expected_actions`): an order question with an order
number and an email or postcode is looked up; without them Lumen asks for them; "please don't escalate", another
marketplace, a question about a status, a policy, thanks, text that gives Lumen orders, ... never call a tool; a
request for a person may be escalated or answered by asking for the order first (never looked up silently).
The report is per-act agreement: the share of messages carrying the act whose action was one of the right ones.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ToolCallPart
from pydantic_ai.models import Model

from agent.core import lumen_agent, run_instructions
from agent.deps import Deps
from agent.playbook.acts import ACTS, Act
from agent.playbook.understand import extract_details
from evals.corpus import Utterance
from shopify import FixtureStore
from tools.context import SessionState

Action = Literal["lookup", "escalate", "reply", "error"]

# Acts about an order Lumen can look up: with the details, a lookup; without them, ask (a reply).
_ORDER_ACTS: frozenset[str] = frozenset(
    (
        "where_is_order", "give_details", "delivered_not_received", "ship_when", "package_followup",
        "missing_tracking", "damaged_item", "wrong_item", "missing_item", "cancel_request", "change_address",
        "refund_request", "return_request", "replacement", "lost_number", "no_email_access",
    )
)  # fmt: skip
# Acts that never need a tool on a first message.
_NO_TOOL: frozenset[str] = frozenset(ACTS) - _ORDER_ACTS - {"ask_human"}


def expected_actions(acts: Sequence[str], text: str) -> frozenset[Action]:
    """The actions that are right for a first message carrying these acts."""
    details = extract_details(text, None)
    verifiable = bool(details.order_number and (details.email or details.postal_code))
    right: set[Action] = set()
    if any(a in _ORDER_ACTS for a in acts):
        # With the number alone a lookup is fine too: find_order says what else it needs.
        right |= {"lookup"} if verifiable else {"reply", "lookup"} if details.order_number else {"reply"}
    if "ask_human" in acts:
        right |= {"escalate", "reply"}
    if any(a in _NO_TOOL for a in acts) and not right:
        right.add("reply")
    return frozenset(right)


def action_of(messages: Sequence[ModelMessage]) -> Action:
    calls = [p for m in messages for p in m.parts if isinstance(p, ToolCallPart)]
    called = {c.tool_name for c in calls}
    if "escalate" in called:
        return "escalate"
    # find_order with no order number is how the agent asks for one (the tool says what it needs): a reply.
    looked_up = any(c.tool_name == "find_order" and c.args_as_dict().get("order_number") for c in calls)
    if looked_up or "list_fulfillments" in called:
        return "lookup"
    return "reply"


class LlmActScore(BaseModel):
    act: Act
    support: int
    agreement: float  # share of the act's messages whose action was a right one


class LlmChoice(BaseModel):
    text: str
    acts: tuple[str, ...]
    action: Action
    expected: tuple[Action, ...]

    @property
    def agrees(self) -> bool:
        return self.action in self.expected


class LlmActReport(BaseModel):
    model: str
    messages: int
    agreement: float
    per_act: tuple[LlmActScore, ...]
    choices: tuple[LlmChoice, ...]


def sample(messages: Sequence[Utterance], size: int | None) -> list[Utterance]:
    """A deterministic sample (by a hash of each text), so two runs with the same N score the same messages."""
    if size is None or size >= len(messages):
        return list(messages)
    return sorted(messages, key=lambda u: hashlib.sha256(u.text.encode()).hexdigest())[:size]


async def _choice(model: Model, message: Utterance, limit: asyncio.Semaphore) -> LlmChoice:
    expected = tuple(sorted(expected_actions(message.acts, message.text)))
    source = FixtureStore()
    deps = Deps(
        source=source, session=SessionState(), conversation_id="acts-llm", shop=await source.shop(), now=source.now()
    )
    async with limit:
        try:
            result = await lumen_agent.run(message.text, deps=deps, model=model, instructions=run_instructions(deps))
        except Exception:  # a provider error is a wrong choice for that message, not the end of the report
            return LlmChoice(text=message.text, acts=message.acts, action="error", expected=expected)
    return LlmChoice(text=message.text, acts=message.acts, action=action_of(result.all_messages()), expected=expected)


async def score_llm(model: Model, messages: Sequence[Utterance], name: str, concurrency: int = 4) -> LlmActReport:
    limit = asyncio.Semaphore(max(1, concurrency))
    choices = await asyncio.gather(*(_choice(model, m, limit) for m in messages))
    by_act: dict[str, list[bool]] = defaultdict(list)
    for choice in choices:
        for act in choice.acts:
            by_act[act].append(choice.agrees)
    per_act = tuple(
        LlmActScore(act=act, support=len(by_act[act]), agreement=sum(by_act[act]) / len(by_act[act]))
        for act in ACTS
        if by_act[act]
    )
    return LlmActReport(
        model=name,
        messages=len(choices),
        agreement=sum(c.agrees for c in choices) / max(len(choices), 1),
        per_act=per_act,
        choices=tuple(choices),
    )


def format_llm_report(report: LlmActReport, target: float = 0.95) -> str:
    lines = [
        f"\nLLM choices on the held-out slice ({report.model}): {report.messages} messages, "
        f"agreement {report.agreement:.1%}",
        f"  {'act':<24} {'n':>4} {'agree':>6}",
    ]
    for a in report.per_act:
        flag = "" if a.agreement >= target else "  <"
        lines.append(f"  {a.act:<24} {a.support:>4} {a.agreement:>6.1%}{flag}")
    wrong = [c for c in report.choices if not c.agrees][:10]
    if wrong:
        lines.append("  first disagreements:")
        lines.extend(
            f"    {c.text!r} ({', '.join(c.acts)}): {c.action}, expected {'/'.join(c.expected)}" for c in wrong
        )
    return "\n".join(lines)
