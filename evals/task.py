"""Running one case: fresh Lumen instances with in-memory databases, the shopper's turns, and what happened.

The result is a `CaseRun` (evals/records.py): every turn's reply and the model messages it produced.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_ai.messages import ModelMessagesTypeAdapter
from pydantic_ai.models import Model
from pydantic_evals.dataset import increment_eval_metric, set_eval_attribute

from agent.persona import PersonaUpdate
from agent.playbook.voice import ShopVoice
from agent.service import Lumen
from config import Settings
from evals.dataset import DEMO_STORE, CaseInputs, Expect, Load, resolve_store
from evals.fakes.shopify_admin import THROTTLED_BODY, FakeShopify
from evals.records import PLAYBOOK, CaseRun, ConversationRun, LoadStats, TurnRecord, percentile
from shopify.client import ShopifyAdmin

ModelFactory = Callable[[ShopVoice], Model]
"""Builds the model for one turn from the shop's voice (as `ModelChooser` does)."""


class _FixedModel:
    """Stands in for `ModelChooser` when a test or a caller passes its own model factory."""

    def __init__(self, factory: ModelFactory) -> None:
        self.factory = factory

    def for_turn(self, voice: ShopVoice) -> Model:
        return self.factory(voice)


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
        as_of = json.loads(store.read_text(encoding="utf-8")).get("asOf")
        now = datetime.fromisoformat(as_of.replace("Z", "+00:00")) if as_of else datetime.now(UTC)
        fake = FakeShopify(
            store, bucket_size=load.bucket_size, restore_rate=load.restore_rate, query_cost=load.query_cost
        )
        async with fake:
            sources = [
                ShopifyAdmin(fake.url, fake.token, now=now, cache_ttl_s=load.cache_ttl_s, max_wait_s=load.max_wait_s)
                for _ in range(load.workers)
            ]
            lumens: list[Lumen] = []
            try:
                for source in sources:
                    lumens.append(await self._lumen(inputs, store, source))
                # The bucket is set as the crowd arrives, not before the services start: how long that takes depends
                # on the machine, and the bucket refills meanwhile.
                if load.start_points is not None:
                    fake.drain(to=min(load.start_points, load.bucket_size))
                if load.throttled_first:
                    fake.fail_next(load.throttled_first, status=200, body=THROTTLED_BODY)
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
                throttled=fake.throttled + fake.failures_served,
                client_retries=sum(s.stats.retries for s in sources),
                client_waits=sum(s.stats.proactive_waits for s in sources),
                client_waited_s=sum(s.stats.waited_s for s in sources),
                latencies_s=latencies,
            )
        return CaseRun(list(conversations), stats)
