"""The order mirror's records: mirrored orders (the table lookups read instead of Shopify) and the mirror's shared
state and lease (`order_sync`).

Every statement on those tables is here; `sync/` decides when to call them. Orders are written by upsert, never by
delete-and-insert, and an older copy of an order never replaces a newer one (see `_newer`): a backfill chunk read
minutes ago cannot undo a webhook's refresh that landed in between. A backfill writes in chunks, one short write
transaction per chunk, so lookups and other writers (a turn saving its conversation) never queue behind a whole
backfill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from shopify.domain import Order
from shopify.names import normalize_email, normalize_postal_code, order_key
from storage.database import Engine
from storage.schema import mirrored_orders, order_sync

MIRROR_KEY = "orders"
SyncState = Literal["off", "backfilling", "live"]
# Rows per write transaction: short enough that a turn's own write waits at most a few milliseconds behind one.
UPSERT_CHUNK = 200
# Values per IN list, far below SQLite's and asyncpg's bound-parameter limits.
IN_BATCH = 500


@dataclass(frozen=True)
class MirroredOrder:
    """One order as the mirror holds it: the order, the time of the copy (Shopify's updatedAt, else when it was
    read), and whether its fulfillments carry their carrier events (a backfilled copy does not)."""

    order: Order
    updated_at: datetime
    events_complete: bool
    synced_at: datetime | None = None


class OrderSyncRecord(BaseModel):
    """The mirror's shared state, as every worker reads it."""

    state: SyncState = "off"
    last_sync_at: datetime | None = None
    backfill_started_at: datetime | None = None
    backfill_finished_at: datetime | None = None
    backfilled: int = 0
    reconciled: int = 0
    last_error: str | None = None
    lease_holder: str | None = None
    lease_expires_at: datetime | None = None


def _row(mirrored: MirroredOrder, synced_at: datetime) -> dict[str, Any]:
    order = mirrored.order
    return {
        "id": order.id,
        "name": order.name,
        "name_key": order_key(order.name),
        "email": normalize_email(order.email) if order.email else None,
        "customer_id": order.customer_id,
        "postal_key": normalize_postal_code(order.shipping_zip) if order.shipping_zip else None,
        "updated_at": mirrored.updated_at,
        "synced_at": synced_at,
        "order_json": order.model_dump_json(),
        "events_complete": mirrored.events_complete,
    }


def _mirrored(row: Any) -> MirroredOrder:
    return MirroredOrder(
        order=Order.model_validate_json(row.order_json),
        updated_at=row.updated_at,
        events_complete=bool(row.events_complete),
        synced_at=row.synced_at,
    )


def _batches(values: Sequence[str], size: int = IN_BATCH) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class OrderStore(Engine):
    # --- mirrored orders -------------------------------------------------------------------------------------------
    async def upsert_mirrored_orders(self, orders: Sequence[MirroredOrder], *, chunk: int = UPSERT_CHUNK) -> int:
        """Store these copies, one write transaction per `chunk`; a copy older than the one held is skipped (an equal
        one replaces it only if it brings carrier events the held one lacks, or both have them). Rows written."""
        written = 0
        for start in range(0, len(orders), chunk):
            rows = _dedupe([_row(o, o.synced_at or self.clock()) for o in orders[start : start + chunk]])
            stmt = self.insert(mirrored_orders).values(rows)
            excluded = stmt.excluded
            stmt = stmt.on_conflict_do_update(
                index_elements=[mirrored_orders.c.id],
                set_={name: excluded[name] for name in rows[0] if name != "id"},
                where=_newer(excluded),
            )
            async with self.begin() as conn:
                written += (await conn.execute(stmt)).rowcount
        return written

    async def mirrored_orders_named(self, name_keys: Sequence[str]) -> list[MirroredOrder]:
        """The mirrored orders whose name normalises (`shopify.names.order_key`) to one of `name_keys`."""
        return await self._select(mirrored_orders.c.name_key.in_(list(name_keys)))

    async def mirrored_orders_by_email(self, email: str) -> list[MirroredOrder]:
        """The mirrored orders placed with this checkout email (normalised before comparing)."""
        return await self._select(mirrored_orders.c.email == normalize_email(email))

    async def mirrored_orders_of_customer(self, customer_id: str) -> list[MirroredOrder]:
        return await self._select(mirrored_orders.c.customer_id == customer_id)

    async def mirrored_order(self, order_id: str) -> MirroredOrder | None:
        found = await self._select(mirrored_orders.c.id == order_id)
        return found[0] if found else None

    async def mirrored_order_ids(self, name_keys: Sequence[str]) -> list[str]:
        stmt = sa.select(mirrored_orders.c.id).where(mirrored_orders.c.name_key.in_(list(name_keys)))
        async with self.read() as conn:
            return list((await conn.execute(stmt)).scalars().all())

    async def count_mirrored_orders(self) -> int:
        async with self.read() as conn:
            return int((await conn.execute(sa.select(sa.func.count()).select_from(mirrored_orders))).scalar_one())

    async def delete_mirrored_orders(
        self, *, ids: Sequence[str] = (), emails: Sequence[str] = (), customer_ids: Sequence[str] = ()
    ) -> int:
        """Delete mirrored orders by exact id, normalised checkout email or customer id (customers/redact, or an
        order Shopify no longer has). Never by substring."""
        c = mirrored_orders.c
        keys = [(c.id, list(ids)), (c.email, [normalize_email(e) for e in emails]), (c.customer_id, list(customer_ids))]
        deleted = 0
        async with self.begin() as conn:
            for column, values in keys:
                for batch in _batches(values):
                    deleted += (await conn.execute(sa.delete(mirrored_orders).where(column.in_(batch)))).rowcount
        return deleted

    async def forget_mirrored_orders(self) -> None:
        """shop/redact: every mirrored order goes, and the mirror starts again from off."""
        async with self.begin() as conn:
            await conn.execute(sa.delete(mirrored_orders))
            await conn.execute(sa.delete(order_sync))

    async def _select(self, where: sa.ColumnElement[bool]) -> list[MirroredOrder]:
        c = mirrored_orders.c
        stmt = sa.select(c.order_json, c.updated_at, c.events_complete, c.synced_at).where(where)
        async with self.read() as conn:
            return [_mirrored(row) for row in await conn.execute(stmt)]

    # --- the mirror's state and lease ------------------------------------------------------------------------------
    async def order_sync_state(self) -> OrderSyncRecord:
        async with self.read() as conn:
            row = (await conn.execute(sa.select(order_sync).where(order_sync.c.key == MIRROR_KEY))).mappings().first()
        return OrderSyncRecord.model_validate({k: v for k, v in (row or {}).items() if k != "key"})

    async def update_order_sync(self, *, holder: str | None = None, **values: Any) -> bool:
        """Set fields of the mirror's state. With `holder`, only while that holder has the lease (a worker whose lease
        ran out and was taken over writes nothing); False when it did not."""
        stmt = self.insert(order_sync).values(key=MIRROR_KEY, **values)
        where = None if holder is None else order_sync.c.lease_holder == holder
        stmt = stmt.on_conflict_do_update(index_elements=[order_sync.c.key], set_=values, where=where)
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def claim_order_sync(self, holder: str, *, ttl: timedelta) -> bool:
        """Take (or, for its holder, renew) the mirror's lease in one atomic statement; False while another worker
        holds it. The worker with the lease is the one that backfills and reconciles."""
        now = self.clock()
        values = {"lease_holder": holder, "lease_expires_at": now + ttl}
        stmt = (
            self.insert(order_sync)
            .values(key=MIRROR_KEY, **values)
            .on_conflict_do_update(
                index_elements=[order_sync.c.key],
                set_=values,
                where=sa.or_(
                    order_sync.c.lease_holder.is_(None),
                    order_sync.c.lease_holder == holder,
                    order_sync.c.lease_expires_at <= now,
                ),
            )
        )
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def release_order_sync(self, holder: str) -> None:
        stmt = (
            sa.update(order_sync)
            .where(order_sync.c.key == MIRROR_KEY, order_sync.c.lease_holder == holder)
            .values(lease_holder=None, lease_expires_at=None)
        )
        async with self.begin() as conn:
            await conn.execute(stmt)


def _dedupe(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per id (the newest copy): one INSERT ... ON CONFLICT may not touch a row twice (PostgreSQL refuses)."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        held = best.get(row["id"])
        if held is None or (row["updated_at"], row["events_complete"]) >= (held["updated_at"], held["events_complete"]):
            best[row["id"]] = row
    return list(best.values())


def _newer(excluded: Any) -> sa.ColumnElement[bool]:
    """Whether the incoming copy (`excluded`) should replace the held one: it is newer, or as new and it has carrier
    events or the held one lacks them (a re-read of the same version is the truth as of now)."""
    held = mirrored_orders.c
    return sa.or_(
        excluded.updated_at > held.updated_at,
        sa.and_(excluded.updated_at == held.updated_at, sa.or_(excluded.events_complete, ~held.events_complete)),
    )
