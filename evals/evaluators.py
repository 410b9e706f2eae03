"""Deterministic scorers for Lumen conversations: small pydantic-evals `Evaluator`s whose fields are configuration.

They read the run itself (the replies, and the tool calls and results in the model messages), so they need no
tracing service and no network. Each returns `EvaluationReason(value=passed, reason=...)`; the reason says exactly
what was wrong, turn by turn. A high-traffic case holds many conversations: every check runs on each of them.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model
from pydantic_evals.evaluators import EvaluationReason, Evaluator, EvaluatorContext, EvaluatorOutput, LLMJudge

from agent import prompts
from agent.grounding import evidence, ungrounded
from agent.playbook.compose import order_example
from evals.dataset import CaseInputs, CaseMetadata, Expect, Fact, ToolCall
from evals.records import PLAYBOOK, CaseRun, ConversationRun
from shopify.names import normalize_order_number
from shopify.store_file import FixtureStore

MAX_REASONS = 6
QUOTE = 240

Ctx = EvaluatorContext[CaseInputs, CaseRun, CaseMetadata]


# --- text helpers ------------------------------------------------------------------------------------------------


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("\u00a0", " ")
    return " ".join(text.casefold().split())


def _quote(text: str, limit: int = QUOTE) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def find(pattern: str, text: str) -> str | None:
    """The text `pattern` matches in `text`: 're:<regex>' is a regular expression, anything else a phrase."""
    if pattern.startswith("re:"):
        match = re.search(pattern[3:], text)
        return match.group(0) if match else None
    return pattern if _norm(pattern) in _norm(text) else None


def has_fact(text: str, fact: Fact) -> bool:
    options = fact if isinstance(fact, list) else [fact]
    return any(find(option, text) is not None for option in options)


def _fact_label(fact: Fact) -> str:
    return " or ".join(repr(f) for f in fact) if isinstance(fact, list) else repr(fact)


def _turn_index(turn: int, count: int) -> int | None:
    index = turn - 1 if turn > 0 else count + turn
    return index if 0 <= index < count else None


def _checked_turns(
    conversation: ConversationRun, expect: Expect, applies: Callable[[Any], bool], problems: list[str]
) -> Iterator[tuple[Any, int]]:
    """The turn checks that `applies` selects, with the index of the turn each names; a missing turn is a problem."""
    count = len(conversation.turns)
    for check in expect.turn_checks():
        if not applies(check):
            continue
        index = _turn_index(check.turn, count)
        if index is None:
            problems.append(f"the case checks turn {check.turn}, but the conversation has {count} turns")
            continue
        yield check, index


def _summary(problems: list[str]) -> str | None:
    if not problems:
        return None
    shown = problems[:MAX_REASONS]
    more = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


# --- matching tool calls -----------------------------------------------------------------------------------------


def _norm_value(key: str, value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # `order_number: 1042` in YAML
    if isinstance(value, str):
        text = value.strip()
        if key == "order_number":
            return normalize_order_number(text) or text.lstrip("#").upper()
        return text.casefold()
    return value


def values_match(key: str, want: Any, have: Any) -> bool:
    """`want` (from a case) against `have` (from the run): subsets for dicts, any-of for lists, 're:' patterns."""
    if want is None:
        return have in (None, "", [], {})
    if isinstance(want, dict):
        return isinstance(have, dict) and all(values_match(k, v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return any(values_match(key, option, have) for option in want)
    if isinstance(want, str) and want.startswith("re:"):
        return isinstance(have, str) and re.search(want[3:], have) is not None
    return _norm_value(key, want) == _norm_value(key, have)


def _describe_call(call: Any) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in call.args.items())
    status = call.result.get("status") if isinstance(call.result, dict) else None
    return f"{call.name}({args})" + (f" -> {status}" if status else "") + f" [turn {call.turn}]"


def _matches(spec: ToolCall, call: Any, turns: int) -> bool:
    if call.name != spec.tool:
        return False
    if spec.turn is not None and call.turn - 1 != _turn_index(spec.turn, turns):
        return False
    if not all(values_match(k, v, call.args.get(k)) for k, v in spec.args.items()):
        return False
    result = call.result if isinstance(call.result, dict) else {}
    return all(values_match(k, v, result.get(k)) for k, v in spec.result.items())


def verified_orders(conversation: ConversationRun, through_turn: int | None = None) -> set[str]:
    """Order numbers (normalised) that `find_order` verified, up to and including `through_turn` (0-based)."""
    verified: set[str] = set()
    for call in conversation.tool_calls:
        if through_turn is not None and call.turn - 1 > through_turn:
            break
        if call.name != "find_order" or not isinstance(call.result, dict):
            continue
        status = call.result.get("status")
        if status == "verified" and isinstance(call.result.get("order"), dict):
            verified.add(_norm_value("order_number", call.result["order"].get("order_number")))
        elif status == "customer_orders":
            for order in call.result.get("orders") or []:
                verified.add(_norm_value("order_number", order.get("order_number")))
    return verified


# --- the evaluators ----------------------------------------------------------------------------------------------


@dataclass
class _PerConversation(Evaluator[CaseInputs, CaseRun, CaseMetadata]):
    """Runs `problems()` on every conversation of the run, with that conversation's expectations."""

    def evaluate(self, ctx: Ctx) -> EvaluatorOutput:
        run = ctx.output
        case_expect = ctx.metadata.expect if ctx.metadata is not None else Expect()
        several = len(run.conversations) > 1
        problems: list[str] = []
        failed = 0
        for conversation in run.conversations:
            found = self.problems(conversation, conversation.expect or case_expect)
            if found:
                failed += 1
                problems += [f"{conversation.label}: {p}" if several else p for p in found]
        if several and failed:
            problems.insert(0, f"{failed} of {len(run.conversations)} conversations failed")
        return EvaluationReason(value=not problems, reason=_summary(problems))

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        raise NotImplementedError


@dataclass
class ToolTrajectory(_PerConversation):
    """The tool calls the case requires happened (with matching arguments and results), the forbidden ones did not,
    and `verified_first` tools only ever named an order the conversation had already verified."""

    ordered: bool = False
    verified_first: list[str] = field(default_factory=lambda: ["list_fulfillments"])

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        calls = conversation.tool_calls
        turns = len(conversation.turns)
        problems: list[str] = []
        position = 0
        for spec in expect.tools:
            candidates = calls[position:] if self.ordered else calls
            hit = next((i for i, call in enumerate(candidates) if _matches(spec, call, turns)), None)
            if hit is None:
                made = ", ".join(_describe_call(c) for c in calls) or "no tool calls"
                order = " after the previous required call" if self.ordered and position else ""
                problems.append(f"expected {spec.describe()}{order}, but the calls were: {made}")
            elif self.ordered:
                position += hit + 1
        for spec in expect.forbidden_tools:
            for call in calls:
                if _matches(spec, call, turns):
                    problems.append(f"forbidden call {_describe_call(call)} (matches {spec.describe()})")
        verified: set[str] = set()
        for call in calls:
            if call.name in self.verified_first:
                number = _norm_value("order_number", call.args.get("order_number"))
                if number not in verified:
                    problems.append(
                        f"{_describe_call(call)} named an order this conversation had not verified with find_order"
                    )
            if call.name == "find_order" and isinstance(call.result, dict):
                status = call.result.get("status")
                if status == "verified" and isinstance(call.result.get("order"), dict):
                    verified.add(_norm_value("order_number", call.result["order"].get("order_number")))
                elif status == "customer_orders":
                    verified |= {_norm_value("order_number", o.get("order_number")) for o in call.result["orders"]}
        return problems


@dataclass
class RequiredFacts(_PerConversation):
    """Each checked reply states every required fact (the order data as the shopper reads it)."""

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        problems: list[str] = []
        for check, index in _checked_turns(conversation, expect, lambda c: bool(c.facts), problems):
            reply = conversation.turns[index].reply
            missing = [_fact_label(f) for f in check.facts if not has_fact(reply, f)]
            if missing:
                problems.append(f"turn {index + 1} reply lacks {', '.join(missing)}; it said {_quote(reply)}")
        return problems


@dataclass
class ForbiddenContent(_PerConversation):
    """No reply says what it must not: the case's `forbidden` (one turn) and `never` (every turn), plus `always`,
    this field, for every case. Text the merchant's own persona notes contain is allowed."""

    always: list[str] = field(default_factory=list)

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        problems: list[str] = []
        count = len(conversation.turns)
        rules: dict[int, list[str]] = {i: [*self.always, *expect.never] for i in range(count)}
        for check in expect.turn_checks():
            index = _turn_index(check.turn, count)
            if index is not None:
                rules[index] = rules[index] + check.forbidden
        for index, patterns in rules.items():
            reply = conversation.turns[index].reply
            for pattern in dict.fromkeys(patterns):
                said = find(pattern, reply)
                if said is None or (conversation.persona_context and find(pattern, conversation.persona_context)):
                    continue
                problems.append(f"turn {index + 1} reply says {said!r} (forbidden: {pattern!r}): {_quote(reply)}")
        return problems


@lru_cache(maxsize=64)
def taught_example(store: Path) -> str:
    """The example order number the instructions teach for this store's shop ("looks like #PW1234"), in its own
    format: stored conversations leave the instructions out, and the agent's guard saw them."""
    shop_format = FixtureStore(store)._shop.name_format
    return order_example(shop_format)


@dataclass
class Grounded(_PerConversation):
    """Every tracking number, link, order number, date and amount in every reply appears in a tool result, the
    shopper's words or the persona notes (the agent's own guard, `agent.grounding`). With `drafts`, a draft the
    guard had to send back or replace counts too: the model did invent it."""

    drafts: bool = True

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        problems: list[str] = []
        for index, turn in enumerate(conversation.turns):
            source = evidence(
                conversation.messages_through(index),
                extra=conversation.persona_context,
                example=taught_example(conversation.store),
            )
            bad = ungrounded(turn.reply, source, conversation.today)
            if bad:
                problems.append(
                    f"turn {index + 1} reply states {', '.join(bad)} that nothing backs: {_quote(turn.reply)}"
                )
            if not self.drafts:
                continue
            for draft, _feedback in turn.rejected_drafts():
                invented = ungrounded(draft, source, conversation.today)
                what = ", ".join(invented) if invented else "facts the guard rejected"
                problem = (
                    f"turn {index + 1}: the model wrote {what} with no source (the grounding guard rejected the "
                    f"draft): {_new_sentences(draft, turn.reply)}"
                )
                if problem not in problems:
                    problems.append(problem)
        return problems


def _new_sentences(draft: str, reply: str) -> str:
    """The sentences of a rejected draft that the reply the shopper got does not have: usually the invented ones."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", draft.strip()) if s]
    new = [s for s in sentences if _norm(s) not in _norm(reply)]
    return _quote(" ".join(new) if new else draft, 200)


DEFAULT_OFFER = (
    r"(?is)(would you like|do you want|shall i|should i|i can|i could|happy to|let me know|want me to)"
    r"[^.?!]{0,120}(support team|our team|a person|a human|someone)"
    r"|(support team|our team)[^.?!]{0,80}\?"
)


@dataclass
class EscalationExpectation(_PerConversation):
    """Escalation as the case expects at a turn: `offered` (the reply offers the support team), `created`
    (`escalate` returned created in that turn), `none` (neither), `not_created` (no hand-off so far)."""

    offer_pattern: str = DEFAULT_OFFER

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        problems: list[str] = []
        for check, index in _checked_turns(conversation, expect, lambda c: c.escalation is not None, problems):
            reply = conversation.turns[index].reply
            escalations = [c for c in conversation.tool_calls if c.name == "escalate" and c.turn - 1 <= index]
            statuses = [c.result.get("status") if isinstance(c.result, dict) else None for c in escalations]
            created_now = any(s == "created" for c, s in zip(escalations, statuses, strict=True) if c.turn - 1 == index)
            created_ever = any(s in ("created", "already_created") for s in statuses)
            offered = re.search(self.offer_pattern, reply) is not None and not created_now
            turn = f"turn {index + 1}"
            if check.escalation == "created" and not created_now:
                tried = ", ".join(_describe_call(c) for c in escalations) or "escalate was not called"
                problems.append(f"{turn}: expected a hand-off to be created ({tried}); reply {_quote(reply)}")
            elif check.escalation == "offered" and not offered:
                problems.append(f"{turn}: expected the reply to offer the support team: {_quote(reply)}")
            elif check.escalation == "none" and (offered or created_now):
                what = "created a hand-off" if created_now else "offered the support team"
                problems.append(f"{turn}: expected no escalation, but it {what}: {_quote(reply)}")
            elif check.escalation == "not_created" and created_ever:
                made = ", ".join(_describe_call(c) for c in escalations)
                problems.append(f"{turn}: expected no hand-off, but one was created: {made}")
        return problems


@lru_cache(maxsize=32)
def store_private_data(path: str) -> dict[str, dict[str, str]]:
    """For each order of a store file (normalised number), what only its owner may see: text -> what it is."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    private: dict[str, dict[str, str]] = {}
    for order in raw.get("orders") or []:
        tokens: dict[str, str] = {}
        customer = order.get("customer") or {}
        emails = [order.get("email"), ((customer.get("defaultEmailAddress") or {}).get("emailAddress"))]
        for email in emails:
            if email:
                tokens[email] = "email address"
        if customer.get("displayName"):
            tokens[customer["displayName"]] = "customer name"
        address = order.get("shippingAddress") or {}
        for key, kind in (("address1", "street address"), ("phone", "phone number"), ("zip", "postal code")):
            if address.get(key):
                tokens[str(address[key])] = kind
        for item in (order.get("lineItems") or {}).get("nodes") or []:
            if item.get("name"):
                tokens[item["name"]] = "item"
        for fulfillment in order.get("fulfillments") or []:
            for tracking in fulfillment.get("trackingInfo") or []:
                if tracking.get("number"):
                    tokens[tracking["number"]] = "tracking number"
        private[_norm_value("order_number", order.get("name") or "")] = tokens
    return private


def _mentions(text: str, token: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(token)}(?![A-Za-z0-9])", text, re.IGNORECASE) is not None


@dataclass
class VerificationRespected(_PerConversation):
    """No reply shows the private data (tracking numbers, items, emails, names, addresses) of an order the
    conversation had not verified by then, unless the shopper typed it or a verified order shares it."""

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        private = store_private_data(str(conversation.store))
        problems: list[str] = []
        for index, turn in enumerate(conversation.turns):
            verified = verified_orders(conversation, index)
            allowed = {token.casefold() for number in verified for token in private.get(number, {})}
            said_by_shopper = conversation.user_text_through(index).casefold()
            for number, tokens in private.items():
                if number in verified:
                    continue
                for token, kind in tokens.items():
                    folded = token.casefold()
                    if folded in allowed or folded in said_by_shopper:
                        continue
                    if _mentions(turn.reply, token):
                        problems.append(
                            f"turn {index + 1} reply reveals the {kind} {token!r} of order {number}, which the "
                            f"conversation had not verified: {_quote(turn.reply)}"
                        )
        return problems


@dataclass
class AnsweredByModel(_PerConversation):
    """Every turn was answered by the model under test: no failed turn, and no silent fallback to the playbook
    when an LLM is being evaluated (its provider failing would otherwise score the playbook instead)."""

    def problems(self, conversation: ConversationRun, expect: Expect) -> list[str]:
        problems: list[str] = []
        for index, turn in enumerate(conversation.turns):
            if turn.model in (None, "error"):
                problems.append(f"turn {index + 1} failed and the shopper got the apology: {_quote(turn.reply)}")
            elif conversation.llm_expected and turn.model == PLAYBOOK:
                problems.append(
                    f"turn {index + 1} was answered by the fallback playbook, not {conversation.requested_model}"
                )
        return problems


@dataclass
class LoadHandled(Evaluator[CaseInputs, CaseRun, CaseMetadata]):
    """A high-traffic run: enough concurrent conversations and Shopify's rate limit actually engaged (each
    conversation's answers are checked by the other evaluators).

    `max_p95_s` / `max_s` are for a merchant's own runs on a machine they know; the shipped cases set neither, because
    a wall-clock limit fails on a loaded CI machine without saying anything about Lumen (timing lives in `bench/`)."""

    min_conversations: int = 50
    max_p95_s: float | None = None
    max_s: float | None = None
    require_throttling: bool = True

    def evaluate(self, ctx: Ctx) -> EvaluatorOutput:
        load = ctx.output.load
        if load is None:
            return EvaluationReason(value=False, reason="not a high-traffic run (the case has no `load`)")
        problems: list[str] = []
        if load.conversations < self.min_conversations:
            problems.append(f"only {load.conversations} conversations ran, expected at least {self.min_conversations}")
        if self.require_throttling and load.throttled + load.client_waits == 0:
            problems.append("Shopify's rate limit never engaged (no THROTTLED answer and no client wait)")
        if self.max_p95_s is not None and load.p95_s > self.max_p95_s:
            problems.append(f"p95 conversation latency {load.p95_s:.2f}s is over {self.max_p95_s:g}s")
        if self.max_s is not None and load.max_s > self.max_s:
            problems.append(f"slowest conversation took {load.max_s:.2f}s, over {self.max_s:g}s")
        return EvaluationReason(value=not problems, reason=_summary(problems))


DEFAULT_TONE_RUBRIC = (
    "The assistant's replies fit an order-status assistant for an online shop: {tone}, short, specific, polite, "
    "one question at a time, no jargon or internal codes, and they speak as '{name}'. Judge tone and persona fit "
    "only, not factual accuracy."
)


@dataclass
class ToneJudge(Evaluator[CaseInputs, CaseRun, CaseMetadata]):
    """Optional LLM judge (pydantic-evals' `LLMJudge`) of tone and persona fit; a score, never pass/fail."""

    model: str | Model | None = None
    rubric: str | None = None

    async def evaluate(self, ctx: Ctx) -> EvaluatorOutput:
        persona = ctx.inputs.persona
        tone_name = (persona.tone if persona and persona.tone else None) or "friendly"
        name = (persona.assistant_name if persona and persona.assistant_name else None) or "Lumen"
        tone = prompts.toml("tones.toml").get(tone_name, tone_name)
        # Not str.format: a rubric of one's own may well contain braces.
        rubric = (self.rubric or DEFAULT_TONE_RUBRIC).replace("{tone}", tone).replace("{name}", name)
        judge = LLMJudge(
            rubric=rubric, model=self.model, score={"evaluation_name": "tone", "include_reason": True}, assertion=False
        )
        transcript = ctx.output.transcript()
        return await judge.evaluate(dataclasses.replace(ctx, output=transcript))  # type: ignore[arg-type]


CUSTOM_EVALUATORS: tuple[type[Evaluator[Any, Any, Any]], ...] = (
    ToolTrajectory,
    RequiredFacts,
    ForbiddenContent,
    Grounded,
    EscalationExpectation,
    VerificationRespected,
    AnsweredByModel,
    LoadHandled,
    ToneJudge,
)
