"""The order mirror's records: mirrored orders (the table lookups read instead of Shopify) and the mirror's shared
state and lease (`order_sync`).

Every statement on those tables is here; `sync/` decides when to call them. Orders are written by upsert, never by
delete-and-insert, and an older copy of an order never replaces a newer one (see `_newer`): a backfill chunk read
minutes ago cannot undo a webhook's refresh that landed in between. A backfill writes in chunks, one short write
transaction per chunk, so lookups and other writers (a turn saving its conversation) never queue behind a whole
backfill.

**Redaction tombstones** (`mirror_tombstones`). After customers/redact or shop/redact, a write already under way (a
webhook's payload, a re-read, a reconciliation, a live lookup's copy, a backfill chunk) would bring the deleted order
straight back. So redaction leaves a tombstone, and every write here refuses what a tombstone names, in the same
transaction as the write: on SQLite writers take turns anyway; on PostgreSQL writers hold a shared advisory lock
(`TOMBSTONE_LOCK`) that redaction takes exclusively, so no write checks the tombstones before a redaction commits and
writes after it. Tombstones hold ids only (order and customer GIDs; an email as its SHA-256, never the address) and
are kept for good: Shopify's order stays in Shopify and may be changed, exported or looked up at any time, and each
time it must not be kept. A redacted order id is refused for ever; a customer's id or email refuses only orders created
at or before the redaction, so a customer who comes back and orders again gets a mirrored order like anyone else
(that is data they gave afresh). shop/redact refuses every order created at or before it. Lookups for a refused order
are still answered live (`sync.mirror`): the shopper asking gets their answer, and nothing is stored.

**Shapes and generations.** Each copy records its shape (`MIRROR_SHAPE`: which of the order's fields it carries);
`stale_mirrored_order_ids` lists those of an older shape for reconciliation to read again, and a copy written from a
payload keeps the shape of the copy it was made from. The mirror's state has a generation, bumped by every reset
(`reinstate_shop`, `forget_mirrored_orders`); `update_order_sync(generation=...)` writes only in that generation.

**Versions.** Every write bumps the row's `version`. A read-modify-write (a webhook's payload applied to the held
copy) writes with `swap_mirrored_orders`, which writes only if the row is still at the version it read, and says
which copies lost: the caller reads the row again and applies the payload again (`sync.writes`), so two workers (or
the applier and a re-read) changing one order never lose a change. A re-read from Shopify is written the same way,
over the copy held before it was read: one that lost is read again (`sync.service.OrderSync._store`). Blind writes
(backfill chunks, a live lookup's copy) stay upserts under the older-never-replaces-newer rule.

A version never repeats for an order id: a new row starts from the time of its write in microseconds
(`_first_version`), not from 0. An order deleted (Shopify said it was gone, a redaction, a copy a tombstone refused)
and mirrored again would otherwise count 0, 1, 2 again, and a compare-and-swap still holding version 0 of the old row
would write its stale copy over the new one. The old row's versions stay below the new row's first unless it was
written more often than once a microsecond since it began (writes are transactions: milliseconds) or the clock went
back by more than the time between the two rows (hosts on one database should keep their clocks synchronised).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel

from shopify.domain import Order
from shopify.names import normalize_email, normalize_postal_code, order_key
from storage.database import Engine
from storage.schema import mirror_tombstones, mirrored_orders, order_sync

MIRROR_KEY = "orders"
SyncState = Literal["off", "backfilling", "live"]
# Rows per write transaction: short enough that a turn's own write waits at most a few milliseconds behind one.
UPSERT_CHUNK = 200
# Values per IN list, far below SQLite's and asyncpg's bound-parameter limits.
IN_BATCH = 500
# Rows deleted per write transaction by a redaction: a few milliseconds of work (see `redact_mirrored_orders`).
PURGE_CHUNK = 500
TombstoneKind = Literal["order", "customer", "email", "shop"]
SHOP_KEY = "*"  # the one key of a "shop" tombstone
# Any fixed number, distinct from storage.migrations.PG_MIGRATION_LOCK: PostgreSQL's advisory lock that mirror writes
# hold shared and redaction holds exclusively (see the module's docstring).
TOMBSTONE_LOCK = 0x4C756D656E4D  # "LumenM"
# The shape of the copies written now: which of `shopify.domain.Order`'s fields they carry. 1: the original total
# (`totalPriceSet`, `Order.original_total`), which copies of shape 0 (written before Lumen read it) lack. Raise it
# when the order gains a field that older copies would lack: reconciliation re-reads copies of an older shape, a
# bounded batch a round (`sync.service.OrderSync.refill_shapes`), and no migration is needed (0007 set the shapes of
# the copies stored before shapes were kept).
MIRROR_SHAPE = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MirroredOrder:
    """One order as the mirror holds it: the order, the time of the copy (Shopify's updatedAt, else when it was
    read), and whether its fulfillments carry their carrier events (a backfilled copy does not)."""

    order: Order
    updated_at: datetime
    events_complete: bool
    synced_at: datetime | None = None
    # The row's version when read (None: no row then, or a copy from Shopify); `swap_mirrored_orders` writes only over
    # that version (None: only where there is still no row).
    version: int | None = None
    # Which fields the copy carries (`MIRROR_SHAPE` for an order read from Shopify now; a copy changed by a webhook's
    # payload keeps the shape of the copy it was made from).
    shape: int = MIRROR_SHAPE


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
    generation: int = 0
    # The backfill's bulk operation while it runs (a worker killed mid-backfill leaves it here), and when that
    # backfill began: the time its result is as of.
    bulk_operation_id: str | None = None
    bulk_operation_at: datetime | None = None


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
        "shape": mirrored.shape,
    }


def _mirrored(row: Any) -> MirroredOrder:
    return MirroredOrder(
        order=Order.model_validate_json(row.order_json),
        updated_at=row.updated_at,
        events_complete=bool(row.events_complete),
        synced_at=row.synced_at,
        version=row.version,
        shape=row.shape,
    )


def _batches(values: Sequence[str], size: int = IN_BATCH) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class OrderStore(Engine):
    # --- mirrored orders -------------------------------------------------------------------------------------------
    async def upsert_mirrored_orders(self, orders: Sequence[MirroredOrder], *, chunk: int = UPSERT_CHUNK) -> int:
        """Store these copies, one write transaction per `chunk`; a copy older than the one held is skipped (an equal
        one replaces it only if it brings carrier events the held one lacks, or both have them), and so is a copy a
        redaction's tombstone refuses. Rows written."""
        written = 0
        for start in range(0, len(orders), chunk):
            part = orders[start : start + chunk]
            async with self.begin() as conn:
                refused = await _refused(conn, part)
                await _drop_refused(conn, refused)
                rows = _dedupe([_row(o, o.synced_at or self.clock()) for o in part if o.order.id not in refused])
                if not rows:
                    continue
                first = _first_version(self.clock())
                stmt = self.insert(mirrored_orders).values([row | {"version": first} for row in rows])
                excluded = stmt.excluded
                stmt = stmt.on_conflict_do_update(
                    index_elements=[mirrored_orders.c.id],
                    set_={**{name: excluded[name] for name in rows[0] if name != "id"}, "version": _next_version()},
                    where=_newer(excluded),
                )
                written += (await conn.execute(stmt)).rowcount
        return written

    async def swap_mirrored_orders(self, orders: Sequence[MirroredOrder]) -> set[str]:
        """Compare-and-swap, in one write transaction: write each copy only over the row at the version it was read
        at (`MirroredOrder.version`), or, for a copy with no version (there was no row when it was read), only while
        there is still none; never over a row deleted meanwhile (it stays deleted) and never what a tombstone
        refuses. The ids written: a copy left out lost to another write and must be made again from the row as it is
        now (or was refused, or deleted: then there is no row)."""
        written: set[str] = set()
        c = mirrored_orders.c
        async with self.begin() as conn:
            refused = await _refused(conn, orders)
            await _drop_refused(conn, refused)
            for mirrored in orders:
                if mirrored.order.id in refused:
                    continue
                row = _row(mirrored, mirrored.synced_at or self.clock())
                if mirrored.version is None:
                    row["version"] = _first_version(self.clock())
                    stmt = self.insert(mirrored_orders).values(row).on_conflict_do_nothing(index_elements=[c.id])
                else:
                    stmt = (
                        sa.update(mirrored_orders)
                        .where(c.id == row.pop("id"), c.version == mirrored.version)
                        .values(**row, version=_next_version())
                    )
                if (await conn.execute(stmt)).rowcount == 1:
                    written.add(mirrored.order.id)
        return written

    async def stale_mirrored_order_ids(self, limit: int) -> list[str]:
        """Up to `limit` mirrored orders whose copy is of an older shape than `MIRROR_SHAPE` (it lacks a field Lumen
        reads now), most recently changed first: those are the likeliest to be asked about."""
        c = mirrored_orders.c
        stmt = sa.select(c.id).where(c.shape < MIRROR_SHAPE).order_by(c.updated_at.desc(), c.id).limit(limit)
        async with self.read() as conn:
            return list((await conn.execute(stmt)).scalars().all())

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

    async def redact_mirrored_orders(
        self, *, ids: Sequence[str] = (), emails: Sequence[str] = (), customer_ids: Sequence[str] = ()
    ) -> list[str]:
        """customers/redact: delete the mirrored orders with these ids, checkout emails or customer ids (exact, after
        normalising), and keep tombstones of them all (the orders deleted included) so that no write brings them
        back. The ids of the orders deleted.

        The tombstones of what was asked go first, in a transaction of their own: from its commit every write refuses
        those orders, so the deletes that follow, `PURGE_CHUNK` rows to a short transaction (on SQLite they run on the
        event loop's thread: one long one would stall the worker), never race a write that puts one back. Each chunk
        tombstones the ids it deleted in its own transaction."""
        now, chunk = self.clock(), PURGE_CHUNK
        c = mirrored_orders.c
        digests = [email_digest(e) for e in emails if normalize_email(e)]
        stones: list[tuple[TombstoneKind, str]] = [("order", i) for i in sorted(set(ids))]
        stones += [("customer", i) for i in customer_ids] + [("email", d) for d in digests]
        async with self.begin() as conn:
            await _hold_tombstones(conn, exclusive=True)
            await self._bury(conn, stones, now)
        keys = [(c.id, list(ids)), (c.email, [normalize_email(e) for e in emails]), (c.customer_id, list(customer_ids))]
        deleted: set[str] = set()
        for column, values in keys:
            for batch in _batches(values):
                while True:
                    gone = await self._delete_orders_chunk(column.in_(batch), chunk, now)
                    deleted.update(gone)
                    if len(gone) < chunk:
                        break
        return sorted(deleted)

    async def forget_mirrored_orders(self) -> None:
        """shop/redact: every mirrored order goes, the mirror starts again from off, and no order created until now
        is mirrored again (a "shop" tombstone, written first in a transaction of its own; the rows then go `PURGE_CHUNK`
        to a short transaction, see `redact_mirrored_orders`, until none is left)."""
        now = self.clock()
        async with self.begin() as conn:
            await _hold_tombstones(conn, exclusive=True)
            await self._bury(conn, [("shop", SHOP_KEY)], now)
        while len(await self._delete_orders_chunk(sa.true(), PURGE_CHUNK, None)) == PURGE_CHUNK:
            pass
        async with self.begin() as conn:
            await conn.execute(_reset_order_sync())

    async def reinstate_shop(self, installed_at: datetime) -> bool:
        """A new install of the app after shop/redact (a new consent): the shop's tombstone goes, if it is older than
        the install, so the orders created before the redaction may be mirrored again, and the mirror's state starts
        again from "never backfilled" (so the next round backfills, instead of reconciling from a backfill the
        tombstone emptied). Customers' and orders' tombstones stay: a customer's erasure was theirs to ask, and no
        merchant's install undoes it. Whether the shop's tombstone went."""
        t = mirror_tombstones.c
        stmt = sa.delete(mirror_tombstones).where(t.kind == "shop", t.key == SHOP_KEY, t.redacted_at < installed_at)
        async with self.begin() as conn:
            await _hold_tombstones(conn, exclusive=True)
            if not (await conn.execute(stmt)).rowcount:
                return False
            await conn.execute(_reset_order_sync())
            return True

    async def _delete_orders_chunk(
        self, where: sa.ColumnElement[bool], chunk: int, buried_at: datetime | None
    ) -> list[str]:
        """Delete up to `chunk` mirrored orders matching `where`, in one write transaction; with `buried_at`, leave
        an "order" tombstone of each in the same transaction. The ids deleted."""
        c = mirrored_orders.c
        async with self.begin() as conn:
            if buried_at is not None:
                await _hold_tombstones(conn, exclusive=True)  # before any row lock: writers take it first too
            picked = sa.select(c.id).where(where).limit(chunk).scalar_subquery()
            deleted = await conn.execute(sa.delete(mirrored_orders).where(c.id.in_(picked)).returning(c.id))
            gone = list(deleted.scalars())
            if gone and buried_at is not None:
                await self._bury(conn, [("order", i) for i in gone], buried_at)
        return gone

    async def mirror_tombstones(self) -> list[tuple[TombstoneKind, str, datetime]]:
        """Every tombstone: (kind, key, redacted_at)."""
        t = mirror_tombstones.c
        async with self.read() as conn:
            rows = await conn.execute(sa.select(t.kind, t.key, t.redacted_at).order_by(t.kind, t.key))
            return [(row.kind, row.key, row.redacted_at) for row in rows]

    async def _bury(self, conn: Any, stones: Sequence[tuple[TombstoneKind, str]], now: datetime) -> None:
        """Insert tombstones; one already there takes the later time (a customer redacted again refuses more)."""
        rows = [{"kind": kind, "key": key, "redacted_at": now} for kind, key in dict.fromkeys(stones)]
        for start in range(0, len(rows), IN_BATCH):
            stmt = self.insert(mirror_tombstones).values(rows[start : start + IN_BATCH])
            held = mirror_tombstones.c.redacted_at
            stmt = stmt.on_conflict_do_update(
                index_elements=[mirror_tombstones.c.kind, mirror_tombstones.c.key],
                set_={"redacted_at": stmt.excluded.redacted_at},
                where=stmt.excluded.redacted_at > held,
            )
            await conn.execute(stmt)

    async def _select(self, where: sa.ColumnElement[bool]) -> list[MirroredOrder]:
        c = mirrored_orders.c
        stmt = sa.select(c.order_json, c.updated_at, c.events_complete, c.synced_at, c.version, c.shape).where(where)
        async with self.read() as conn:
            return [_mirrored(row) for row in await conn.execute(stmt)]

    # --- the mirror's state and lease ------------------------------------------------------------------------------
    async def order_sync_state(self) -> OrderSyncRecord:
        async with self.read() as conn:
            row = (await conn.execute(sa.select(order_sync).where(order_sync.c.key == MIRROR_KEY))).mappings().first()
        return OrderSyncRecord.model_validate({k: v for k, v in (row or {}).items() if k != "key"})

    async def update_order_sync(
        self, *, holder: str | None = None, generation: int | None = None, **values: Any
    ) -> bool:
        """Set fields of the mirror's state. With `holder`, only while that holder has the lease (a worker whose lease
        ran out and was taken over writes nothing); with `generation`, only while the state is still of that
        generation (a backfill or reconciliation that began before a reset, `reinstate_shop` or
        `forget_mirrored_orders`, writes nothing over it: compare-and-set, in the one statement). False when it did
        not."""
        stmt = self.insert(order_sync).values(key=MIRROR_KEY, **values)
        c = order_sync.c
        checks = [] if holder is None else [c.lease_holder == holder]
        checks += [] if generation is None else [c.generation == generation]
        where = sa.and_(*checks) if checks else None
        stmt = stmt.on_conflict_do_update(index_elements=[c.key], set_=values, where=where)
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


def email_digest(email: str) -> str:
    """How a tombstone names an email: the SHA-256 of the normalised address (the address itself is not kept)."""
    return hashlib.sha256(normalize_email(email).encode()).hexdigest()


def _first_version(now: datetime) -> int:
    """A new row's version: the time in microseconds since 1970, above every version an earlier row of the same order
    reached (see the module's docstring). 64 bits: about 1.8e15 in 2026."""
    return (now - _EPOCH) // timedelta(microseconds=1)


def _next_version() -> sa.ColumnElement[int]:
    return mirrored_orders.c.version + 1


async def _hold_tombstones(conn: Any, *, exclusive: bool) -> None:
    """PostgreSQL: writers check the tombstones under a shared lock, redaction changes them under an exclusive one, so
    a write never checks before a redaction commits and writes after it (READ COMMITTED would allow it). SQLite's
    writers already take turns (BEGIN IMMEDIATE)."""
    if conn.dialect.name != "postgresql":
        return
    lock = sa.func.pg_advisory_xact_lock if exclusive else sa.func.pg_advisory_xact_lock_shared
    await conn.execute(sa.select(lock(TOMBSTONE_LOCK)))


async def _refused(conn: Any, orders: Sequence[MirroredOrder]) -> set[str]:
    """The ids of the copies a tombstone refuses, read in the writer's transaction (under the shared lock)."""
    if not orders:
        return set()
    await _hold_tombstones(conn, exclusive=False)
    t = mirror_tombstones.c
    ids = {m.order.id for m in orders}
    customers = {m.order.customer_id for m in orders if m.order.customer_id}
    digests = {email_digest(m.order.email) for m in orders if m.order.email}
    wanted = sa.or_(
        sa.and_(t.kind == "order", t.key.in_(sorted(ids))),
        sa.and_(t.kind == "customer", t.key.in_(sorted(customers))),
        sa.and_(t.kind == "email", t.key.in_(sorted(digests))),
        t.kind == "shop",
    )
    stones = {
        (row.kind, row.key): row.redacted_at
        for row in await conn.execute(sa.select(t.kind, t.key, t.redacted_at).where(wanted))
    }
    if not stones:
        return set()
    return {m.order.id for m in orders if _buried(m.order, stones)}


async def _drop_refused(conn: Any, refused: set[str]) -> None:
    """A copy a tombstone refuses may still have a row (an order that became a redacted customer's after the
    redaction, by a changed email): it goes too, so nothing redacted is kept and no caller takes the refusal for a lost
    race and reads the order again (forever)."""
    if refused:
        await conn.execute(sa.delete(mirrored_orders).where(mirrored_orders.c.id.in_(sorted(refused))))


def _buried(order: Order, stones: dict[tuple[str, str], datetime]) -> bool:
    if ("order", order.id) in stones:
        return True
    keys = [("shop", SHOP_KEY)]
    keys += [("customer", order.customer_id)] if order.customer_id else []
    keys += [("email", email_digest(order.email))] if order.email else []
    return any(key in stones and order.created_at <= stones[key] for key in keys)


def _newer(excluded: Any) -> sa.ColumnElement[bool]:
    """Whether the incoming copy (`excluded`) should replace the held one: it is newer, or as new and it has carrier
    events or the held one lacks them (a re-read of the same version is the truth as of now), or as new and of a
    newer shape (it carries a field the held one lacks; a carrier event it lacks is read again on lookup)."""
    held = mirrored_orders.c
    return sa.or_(
        excluded.updated_at > held.updated_at,
        sa.and_(
            excluded.updated_at == held.updated_at,
            sa.or_(excluded.events_complete, ~held.events_complete, excluded.shape > held.shape),
        ),
    )


def _reset_order_sync() -> sa.Update:
    """The mirror's state back to "never backfilled", in a new generation (so no backfill or reconciliation begun
    before writes its outcome over it). The lease columns stay: a worker holding it keeps it until it lets go. The bulk
    operation is forgotten: it was started for the install being reset, and a reinstall must not adopt its result."""
    fresh = {
        "state": "off", "last_sync_at": None, "backfill_started_at": None, "backfill_finished_at": None,
        "backfilled": 0, "reconciled": 0, "last_error": None, "bulk_operation_id": None, "bulk_operation_at": None,
    }  # fmt: skip
    c = order_sync.c
    return sa.update(order_sync).where(c.key == MIRROR_KEY).values(**fresh, generation=c.generation + 1)
