"""Running one case: fresh Lumen instances with in-memory databases, the shopper's turns, and what happened.

The result (`CaseRun`) keeps every turn's reply and the model messages it produced, so the evaluators read tool
calls and tool results straight from the run: no tracing service is needed.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    RetryFeedbackPart,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model
from pydantic_core import to_jsonable_python
from pydantic_evals.dataset import increment_eval_metric, set_eval_attribute

from agent.persona import Persona, PersonaUpdate
from agent.service import Lumen
from config import Settings
from evals.dataset import DEMO_STORE, CaseInputs, Expect, Load, resolve_store

PLAYBOOK = "playbook"
ModelFactory = Callable[[Persona, str, date], Model]
"""Builds the model for one turn from the persona, the shop's name and the store's date (as `ModelChooser` does)."""


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


class _FixedModel:
    """Stands in for `ModelChooser` when a test or a caller passes its own model factory."""

    def __init__(self, factory: ModelFactory) -> None:
        self.factory = factory

    def for_turn(self, persona: Persona, shop_name: str, today: date) -> Model:
        return self.factory(persona, shop_name, today)


@dataclass
class CaseRunner:
    """Runs cases with one model and one default store; `await runner(inputs)` is the pydantic-evals task."""

    model: str | ModelFactory = PLAYBOOK
    default_store: Path = DEMO_STORE
    openai_base_url: str | None = None

    @property
    def model_name(self) -> str:
        return self.model if isinstance(self.model, str) else getattr(self.model, "__name__", "custom")

    def settings(self) -> Settings:
        overrides: dict[str, Any] = {
            "lumen_database_url": "sqlite:///:memory:",
            "lumen_model": self.model if isinstance(self.model, str) else PLAYBOOK,
            # An eval never sends mail, talks to a real shop or uses another clock, whatever `.env` says.
            "lumen_smtp_url": None,
            "lumen_escalation_email": None,
            "shopify_shop": None,
            "shopify_access_token": None,
            "shopify_api_url": None,
            "lumen_now": None,
        }
        if self.openai_base_url:
            overrides["lumen_openai_base_url"] = self.openai_base_url
        return Settings(**overrides)

    async def __call__(self, inputs: CaseInputs) -> CaseRun:
        store = resolve_store(inputs.store, self.default_store)
        if inputs.load is not None:
            run = await self._load(inputs, inputs.load, store)
        else:
            lumen = await self._lumen(inputs, store)
            try:
                conversation = await self._converse(lumen, "conversation", store, inputs.turns, inputs.customer_id)
            finally:
                await lumen.close()
            run = CaseRun([conversation])
        increment_eval_metric("model_requests", run.requests)
        increment_eval_metric("tokens", run.tokens)
        if run.load is not None:
            set_eval_attribute("load", run.load.as_dict())
        return run

    async def _lumen(self, inputs: CaseInputs, store: Path, source: Any = None) -> Lumen:
        lumen = await Lumen.create(self.settings(), store=None if source else store, source=source)
        if not isinstance(self.model, str):
            lumen.models = _FixedModel(self.model)  # type: ignore[assignment]
        if inputs.persona is not None:
            await lumen.update_persona(PersonaUpdate(**inputs.persona.model_dump(exclude_none=True)))
        return lumen

    async def _converse(
        self,
        lumen: Lumen,
        label: str,
        store: Path,
        turns: list[str],
        customer_id: str | None,
        expect: Expect | None = None,
    ) -> ConversationRun:
        shop = await lumen.source.shop()
        today = lumen.source.now().astimezone(ZoneInfo(shop.timezone)).date()
        persona = await lumen.persona()
        llm = isinstance(self.model, str) and self.model != PLAYBOOK
        run = ConversationRun(label, store, today, self.model_name, llm, persona.context, expect=expect)
        session_id: str | None = None
        seen = 0
        for text in turns:
            started = time.perf_counter()
            turn = await lumen.chat(text, session_id, customer_id=customer_id)
            latency = time.perf_counter() - started
            session_id = turn.session_id
            row = await lumen.db.get_conversation(session_id)
            messages = list(ModelMessagesTypeAdapter.validate_json(row.messages_json if row else "[]"))
            run.turns.append(
                TurnRecord(
                    user=text,
                    reply=turn.reply,
                    model=turn.model,
                    latency_s=latency,
                    messages=messages[seen:],
                    escalation=turn.escalation.model_dump() if turn.escalation else None,
                )
            )
            seen = len(messages)
        return run

    async def _load(self, inputs: CaseInputs, load: Load, store: Path) -> CaseRun:
        from evals.fakes.shopify_admin import FakeShopify
        from shopify.client import ShopifyAdmin

        as_of = json.loads(store.read_text(encoding="utf-8")).get("asOf")
        now = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else datetime.now(UTC)
        fake = FakeShopify(
            store, bucket_size=load.bucket_size, restore_rate=load.restore_rate, query_cost=load.query_cost
        )
        async with fake:
            if load.start_points is not None:
                fake.drain(to=min(load.start_points, load.bucket_size))
            sources = [
                ShopifyAdmin(fake.url, fake.token, now=now, cache_ttl_s=load.cache_ttl_s, max_wait_s=load.max_wait_s)
                for _ in range(load.workers)
            ]
            lumens: list[Lumen] = []
            try:
                for source in sources:
                    lumens.append(await self._lumen(inputs, store, source))
                started = time.perf_counter()
                conversations = await asyncio.gather(
                    *(
                        self._converse(
                            lumens[i % load.workers],
                            f"conversation {i + 1} (template {i % len(load.mix) + 1})",
                            store,
                            load.mix[i % len(load.mix)].turns,
                            inputs.customer_id,
                            expect=load.mix[i % len(load.mix)].expect,
                        )
                        for i in range(load.conversations)
                    )
                )
                duration = time.perf_counter() - started
            finally:
                for lumen in lumens:
                    await lumen.close()
            latencies = [c.latency_s for c in conversations]
            stats = LoadStats(
                conversations=len(conversations),
                workers=load.workers,
                duration_s=duration,
                p50_s=percentile(latencies, 50),
                p95_s=percentile(latencies, 95),
                max_s=max(latencies, default=0.0),
                shopify_requests=fake.requests,
                throttled=fake.throttled,
                client_retries=sum(s.stats.retries for s in sources),
                client_waits=sum(s.stats.proactive_waits for s in sources),
                client_waited_s=sum(s.stats.waited_s for s in sources),
                latencies_s=latencies,
            )
        return CaseRun(list(conversations), stats)
