"""Shopify webhook deliveries already seen, so a retried delivery is acted on once."""

from __future__ import annotations

from collections.abc import Sequence

from storage.database import Engine
from storage.schema import webhook_events


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
