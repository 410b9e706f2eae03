"""Shopify webhook deliveries already seen, so a retried delivery is acted on once; pruned once past every retry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa

from storage.database import Engine
from storage.schema import webhook_events

# How long a delivery's keys are kept. Shopify retries a delivery 8 times over 4 hours (older documentation said up to
# 48 hours); a week is well past either, so a retry is always recognised, and the table stays a week of deliveries
# instead of growing without end. A body replayed after that is not a retry: an order's payload triggered minutes ago
# or more is not applied (`agent.webhooks.MAX_WEBHOOK_AGE`: the order is re-read instead) and privacy requests are
# idempotent.
WEBHOOK_DEDUPE_RETENTION = timedelta(days=7)
# Rows deleted per write transaction: a few milliseconds each, so a turn's own write never waits behind a big prune.
PRUNE_CHUNK = 1000


class WebhookStore(Engine):
    async def remember_webhook(self, event_id: str, topic: str) -> bool:
        """Record a webhook delivery; False if this event id was seen before (Shopify retries deliveries)."""
        stmt = (
            self.insert(webhook_events)
            .values(event_id=event_id, topic=topic, received_at=self.clock())
            .on_conflict_do_nothing(index_elements=[webhook_events.c.event_id])
        )
        async with self.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == 1

    async def remember_webhook_keys(self, keys: Sequence[str], topic: str) -> bool:
        """Record every key of one delivery in one statement (one short write, where a key at a time took one write
        transaction each behind a busy server's other writers); False if any was seen before."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return True
        now = self.clock()
        stmt = (
            self.insert(webhook_events)
            .values([{"event_id": key, "topic": topic, "received_at": now} for key in unique])
            .on_conflict_do_nothing(index_elements=[webhook_events.c.event_id])
        )
        async with self.begin() as conn:
            result = await conn.execute(stmt)
        return result.rowcount == len(unique)

    async def prune_webhook_events(
        self, retention: timedelta = WEBHOOK_DEDUPE_RETENTION, *, chunk: int = PRUNE_CHUNK
    ) -> int:
        """Delete the deliveries remembered longer ago than `retention`, `chunk` rows to a short write transaction
        (by the `received_at` index), until none is left; how many went. Run by the retention loop, never by a
        request."""
        c = webhook_events.c
        cutoff = self.clock() - retention
        pruned = 0
        while True:
            picked = sa.select(c.event_id).where(c.received_at < cutoff).limit(chunk).scalar_subquery()
            async with self.begin() as conn:
                gone = (await conn.execute(sa.delete(webhook_events).where(c.event_id.in_(picked)))).rowcount
            pruned += gone
            if gone < chunk:
                return pruned
