"""Shopify webhook deliveries already seen, so a retried delivery is acted on once."""

from __future__ import annotations

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
