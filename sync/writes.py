"""Writing a webhook's payload into the mirrored copy without losing another worker's change.

Applying a payload is read-modify-write: read the held copy, apply the payload (`sync.changes`), write. Two workers
(or the applier and a re-read) doing it to one order at once would both read the same copy, and the second write
would undo the first. So the write is a compare-and-swap (`storage.orders.OrderStore.swap_mirrored_orders`: written
only over the version read); a copy that lost is read again and every payload applied again on top of what won, up to
`SWAP_TRIES` times in all. An order that keeps losing, or that a payload no longer applies to, is left to a re-read
from Shopify (the caller queues it); an order deleted meanwhile (Shopify deleted it, or a redaction) stays deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shopify.domain import Order
from storage import Database, MirroredOrder

# Writes of one batch, in all, before an order that keeps losing the race is re-read from Shopify instead. Losing
# takes another worker writing that very order between a read and a write a few milliseconds apart: rare.
SWAP_TRIES = 5

Apply = Callable[[Order, str, Any], Order | None]


@dataclass
class Change:
    """One order's change: the copy it was made from, what it became, and the payloads that made it, in order."""

    copy: MirroredOrder
    order: Order
    steps: list[tuple[str, Any]]


async def write_changes(db: Database, changes: dict[str, Change], apply: Apply, *, tries: int = SWAP_TRIES) -> set[str]:
    """Write every change by compare-and-swap, re-applying its payloads to the row as it is after a lost race. The
    ids that could not be written from their payloads (to be re-read from Shopify)."""
    redo: set[str] = set()
    waiting = dict(changes)
    for _attempt in range(tries):
        if not waiting:
            break
        now = db.clock()
        # Stamped as the copy each was made from: any read of the order replaces it, none is taken for older.
        written = await db.swap_mirrored_orders(
            [
                # Of the copy's shape too: a payload brings no field the copy lacked.
                MirroredOrder(
                    c.order,
                    c.copy.updated_at,
                    c.copy.events_complete,
                    synced_at=now,
                    version=c.copy.version,
                    shape=c.copy.shape,
                )
                for c in waiting.values()
            ]
        )
        lost, waiting = [c for order_id, c in waiting.items() if order_id not in written], {}
        for change in lost:
            again = await _again(db, change, apply)
            if again == "re-read":
                redo.add(change.order.id)
            elif isinstance(again, Change):
                waiting[change.order.id] = again
    return redo | set(waiting)


async def _again(db: Database, change: Change, apply: Apply) -> Change | Literal["gone", "re-read"]:
    """The change made again from the row as it is now: "gone" when the row is (nothing to write), "re-read" when a
    payload no longer applies to it."""
    held = await db.mirrored_order(change.order.id)
    if held is None:
        return "gone"
    order = held.order
    for topic, payload in change.steps:
        new = apply(order, topic, payload)
        if new is None:
            return "re-read"
        order = new
    return Change(held, order, change.steps)
