"""Lumen's storage: the engine (`storage.database`), the tables (`storage.schema`) and one module per record.

`Database` is all of them on one engine: `Database(url)`, `await db.connect()`, then `db.get_conversation(...)`,
`db.insert_escalation(...)` and so on.
"""

from __future__ import annotations

from storage import migrations
from storage.attempts import AttemptStore
from storage.conversations import ConversationRow, ConversationStore, ConversationSummary
from storage.database import is_memory_url, normalize_database_url, utcnow
from storage.escalations import Escalation, EscalationRequest, EscalationStore, new_escalation_id
from storage.orders import MirroredOrder, OrderStore, OrderSyncRecord
from storage.privacy import PrivacyStore
from storage.schema import metadata
from storage.settings import SettingStore
from storage.webhooks import WebhookStore


class Database(ConversationStore, SettingStore, EscalationStore, AttemptStore, WebhookStore, PrivacyStore, OrderStore):
    """One engine, one set of tables; `await connect()` before use and `await close()` at shutdown."""

    metadata = metadata

    async def connect(self) -> None:
        """Bring the database to the newest schema (`storage.migrations`), in one write transaction."""
        async with self.begin() as conn:
            if await conn.run_sync(migrations.at_head):
                return
            async with migrations.exclusive():
                await conn.run_sync(migrations.upgrade)


__all__ = [
    "ConversationRow",
    "ConversationSummary",
    "Database",
    "Escalation",
    "EscalationRequest",
    "MirroredOrder",
    "OrderSyncRecord",
    "is_memory_url",
    "new_escalation_id",
    "normalize_database_url",
    "utcnow",
]
