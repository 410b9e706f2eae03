"""The order mirror: Lumen's own copy of the orders it may be asked about (`sync.mirror.MirroredSource` answers
lookups from it; `sync.service.OrderSync` fills it and keeps it fresh). It imports `shopify/` and `storage/` only;
`agent/` builds and runs it."""

from __future__ import annotations

from sync.mirror import MirroredSource
from sync.service import Applied, BackfillResult, OrderSync, OrderSyncStatus

__all__ = ["Applied", "BackfillResult", "MirroredSource", "OrderSync", "OrderSyncStatus"]
