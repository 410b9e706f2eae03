"""Admission: a worker runs at most `LUMEN_MAX_TURNS` turns at once and the rest wait their turn, so a burst is
answered in arrival order instead of every turn slowing down together until all of them miss the shopper's patience."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

from agent.service import LLM_TURNS, PLAYBOOK_TURNS, Lumen, max_turns
from shopify import FixtureStore
from shopify.domain import Order
from shopify.store_file import DEMO_STORE
from tests.server_helpers import make_settings

GATE_S = 0.2  # how long a lookup holds on when fewer than `limit + 1` lookups run beside it


class GatedStore(FixtureStore):
    """Counts the lookups running at once. Each waits until one more than the limit are running (which only happens
    if admission is broken) or a short while has passed, so that without admission the burst piles up here."""

    def __init__(self, path: Path, limit: int) -> None:
        super().__init__(path)
        self.limit = limit
        self.running = 0
        self.most = 0
        self.overrun = asyncio.Event()

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        self.running += 1
        self.most = max(self.most, self.running)
        if self.running > self.limit:
            self.overrun.set()
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.overrun.wait(), GATE_S)
            return await super().orders_by_name(name, email=email)
        finally:
            self.running -= 1


async def test_a_burst_runs_at_most_the_limit_at_once_and_every_shopper_is_answered(tmp_path: Path) -> None:
    demo = json.loads(Path(DEMO_STORE).read_text())
    orders = [o for o in demo["orders"] if o.get("email")][:6]
    settings = make_settings(tmp_path, lumen_max_turns=2)
    store = GatedStore(Path(DEMO_STORE), limit=2)
    lumen = await Lumen.create(settings, source=store)
    try:
        turns = await asyncio.gather(
            *(
                lumen.chat(f"where is order {o['name']}? {o['email']}", client_ip=f"198.51.100.{i}")
                for i, o in enumerate(orders)
            )
        )
    finally:
        await lumen.close()
    assert store.most <= 2, f"{store.most} lookups ran at once with LUMEN_MAX_TURNS=2"
    for order, turn in zip(orders, turns, strict=True):
        assert order["name"].lstrip("#") in turn.reply


def test_the_default_limit_follows_the_model(tmp_path: Path) -> None:
    assert max_turns(make_settings(tmp_path)) == PLAYBOOK_TURNS
    assert max_turns(make_settings(tmp_path, lumen_model="openai:gpt-4.1-mini")) == LLM_TURNS
    assert max_turns(make_settings(tmp_path, lumen_max_turns=3)) == 3


async def test_turns_piling_onto_one_conversation_hold_no_slot_another_shopper_needs(tmp_path: Path) -> None:
    """Five messages at once on one conversation run one after another; while they wait for their turn they hold no
    slot, so another shopper's turn runs beside the first of them rather than after the fifth."""
    lumen = await Lumen.create(make_settings(tmp_path, lumen_max_turns=2))
    finished: list[str] = []

    async def say(label: str, message: str, session_id: str | None) -> None:
        await lumen.chat(message, session_id, client_ip="198.51.100.7" if session_id else "198.51.100.8")
        finished.append(label)

    try:
        first = await lumen.chat("hi", client_ip="198.51.100.7")
        await asyncio.gather(
            *(say(f"same-{i}", "where is my order?", first.session_id) for i in range(5)),
            say("other", "hello", None),
        )
    finally:
        await lumen.close()
    assert len(finished) == 6
    assert finished.index("other") < finished.index("same-4"), finished
