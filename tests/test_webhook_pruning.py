"""Webhook dedupe rows (`webhook_events`) are pruned once past every retry, by the retention loop, not by a request.

Shopify retries a delivery 8 times over 4 hours (older documentation: up to 48 hours); the keys are kept a week
(`storage.webhooks.WEBHOOK_DEDUPE_RETENTION`), so a retry is recognised for as long as one can come, and the table no
longer grows without end. On SQLite and on the PostgreSQL the suite starts; time is the test's clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.service import Lumen
from storage import Database
from storage.schema import webhook_events
from tests.fixtures import Clock
from tests.server_helpers import make_settings


@pytest.fixture
def db(database: Database) -> Database:
    return database


async def kept(db: Database) -> set[str]:
    async with db.read() as conn:
        return set((await conn.execute(sa.select(webhook_events.c.event_id))).scalars())


async def test_rows_past_the_retention_go_recent_ones_stay_and_still_dedupe(db: Database, clock: Clock) -> None:
    old = [f"evt-old-{n}" for n in range(5)]
    for key in old:
        assert await db.remember_webhook_keys([key, f"webhook:{key}"], "orders/updated")
    clock.advance(days=6)
    assert await db.remember_webhook_keys(["evt-recent", "webhook:recent"], "orders/updated")
    clock.advance(days=1, minutes=1)  # the old ones a week and a minute old, the recent one a day and a minute
    # A retry of the recent delivery is still a duplicate before and after the prune.
    assert not await db.remember_webhook_keys(["evt-recent", "webhook:recent"], "orders/updated")
    assert await db.prune_webhook_events(chunk=3) == 10  # several short transactions, until none is left
    assert await kept(db) == {"evt-recent", "webhook:recent"}
    assert not await db.remember_webhook_keys(["evt-recent", "webhook:recent"], "orders/updated")
    assert not await db.remember_webhook("evt-recent", "orders/updated")
    assert await db.prune_webhook_events() == 0
    # Up to the very edge of the window a row stays.
    clock.advance(days=5, hours=23, minutes=58)  # the recent one a week less a minute old
    assert await db.prune_webhook_events() == 0 and "evt-recent" in await kept(db)


async def test_remembering_a_delivery_prunes_nothing(db: Database, clock: Clock) -> None:
    """The request path only inserts: the old rows wait for the retention loop."""
    assert await db.remember_webhook("evt-1", "orders/create")
    clock.advance(days=30)
    assert await db.remember_webhook_keys(["evt-2"], "orders/create")
    assert await kept(db) == {"evt-1", "evt-2"}


async def test_the_retention_loop_prunes_them(tmp_path: Path, clock: Clock) -> None:
    lumen = await Lumen.create(make_settings(tmp_path))
    lumen.db.clock = clock
    pruned = asyncio.Event()
    prune = lumen.db.prune_webhook_events

    async def watched(*args: object, **kwargs: object) -> int:
        count = await prune()
        pruned.set()
        return count

    lumen.db.prune_webhook_events = watched  # type: ignore[method-assign]
    assert await lumen.db.remember_webhook("evt-old", "orders/updated")
    clock.advance(days=8)
    assert await lumen.db.remember_webhook("evt-new", "orders/updated")
    loop = asyncio.create_task(lumen.run_retention(interval_s=3600))
    try:
        await pruned.wait()  # the loop's first round runs at once
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
    try:
        assert await kept(lumen.db) == {"evt-new"}
    finally:
        await lumen.close()
