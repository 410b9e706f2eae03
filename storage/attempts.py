"""Rationed attempts (failed order lookups and the like), counted by what they aimed at across conversations.

`reserve_attempts` is the one way to spend an attempt: one INSERT records an attempt on every key only if every key
has room in its window, and reservations on a key happen one after another (see `_lock`), on one worker or many: a
hundred simultaneous ones on a key with room for ten get exactly ten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Engine, UTCDateTime
from storage.schema import attempts

# No limit looks further back than this: older rows are deleted, as failures are recorded and every PRUNE_EVERY.
KEPT_FOR = timedelta(days=1)
PRUNE_EVERY = timedelta(minutes=10)


class Allowance(NamedTuple):
    """At most `limit` attempts on a key within the last `window`."""

    limit: int
    window: timedelta


def _lock_id(key: str) -> int:
    """A key's PostgreSQL advisory lock: 64 bits of its hash (a collision only makes two keys wait for each other)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class AttemptStore(Engine):
    _pruned_at: datetime | None = None

    async def record_attempts(self, keys: list[str]) -> list[int]:
        """Count one attempt against every key, whatever the limits; the new rows' ids."""
        if not keys:
            return []
        now = self.clock()
        async with self.begin() as conn:
            ids = await self._insert_attempts(conn, keys, now)
            # Rows a day old are outside every window: drop them here, on the rare failed attempt, not on every check.
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - KEPT_FOR))
        return ids

    async def count_attempts(self, keys: list[str], *, since: datetime) -> dict[str, int]:
        if not keys:
            return {}
        async with self.read() as conn:
            return await _count(conn, dict.fromkeys(keys, since))

    async def reserve_attempts(self, allowances: Mapping[str, Allowance]) -> list[int] | None:
        """Spend one attempt on every key if each has room in its window: the new rows' ids; None (nothing spent)
        when any key is used up. Settle the reservation with `settle_attempts` once its outcome is known."""
        if not allowances:
            return []
        now = self.clock()
        await self._prune(now)
        async with self.begin() as conn:
            await _lock(conn, list(allowances))
            inserted = await conn.execute(_reserve(allowances, now))
            ids = [int(i) for i in inserted.scalars().all()]
        return ids or None

    async def decide_attempt(self, allowances: Mapping[str, Allowance], *, spent: bool) -> bool:
        """An attempt whose outcome is known: True if every key had room, and then it counts if `spent`.

        One transaction: the attempt is reserved as in `reserve_attempts`, then kept (a failure) or taken back (a
        proof) before anyone else can see it, so a proof never holds a key's room and both cost the same statements.
        """
        if not allowances:
            return True
        now = self.clock()
        await self._prune(now)
        async with self.begin() as conn:
            await _lock(conn, list(allowances))
            ids = [int(i) for i in (await conn.execute(_reserve(allowances, now))).scalars().all()]
            if ids:
                await conn.execute(_settle(ids, spent=spent, now=now))
        return bool(ids)

    async def used_up(self, allowances: Mapping[str, Allowance]) -> bool:
        """Whether any key has its limit of attempts in its window (a plain read: `reserve_attempts` decides)."""
        if not allowances:
            return False
        async with self.read() as conn:
            return bool((await conn.execute(sa.select(sa.exists(_used_up(allowances, self.clock()))))).scalar())

    async def settle_attempts(self, ids: list[int], *, spent: bool) -> None:
        """End a reservation: a spent attempt counts from now on, one not spent (a proof that held) is taken back.

        Either way it is one statement on the same rows, so settling costs the same whatever the outcome.
        """
        if not ids:
            return
        async with self.begin() as conn:
            await conn.execute(_settle(ids, spent=spent, now=self.clock()))

    async def _prune(self, now: datetime) -> None:
        """Drop every row older than any window, at most every PRUNE_EVERY (keys never tried again included)."""
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        async with self.begin() as conn:
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - KEPT_FOR))

    @staticmethod
    async def _insert_attempts(conn: AsyncConnection, keys: list[str], now: datetime) -> list[int]:
        inserted = await conn.execute(
            sa.insert(attempts).values([{"key": key, "at": now} for key in keys]).returning(attempts.c.id)
        )
        return [int(i) for i in inserted.scalars().all()]


async def _lock(conn: AsyncConnection, keys: list[str]) -> None:
    """Hold the keys until this transaction ends, so reservations on a key happen one after another.

    PostgreSQL runs concurrent statements on snapshots: a transaction-scoped advisory lock per key (taken in one
    order, so never a deadlock) makes the next reserver of a key wait, and its statement then sees this attempt.
    SQLite runs one writing statement at a time, which is all `_reserve` needs.
    """
    if conn.dialect.name == "postgresql":
        for lock_id in sorted({_lock_id(key) for key in keys}):
            await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(lock_id)))


def _reserve(allowances: Mapping[str, Allowance], now: datetime) -> sa.Insert:
    """One statement: a row per key, inserted only if no key already has its limit of attempts in its window.

    INSERT INTO attempts (key, at) SELECT k, :now FROM (SELECT :k1 UNION ALL ...) WHERE NOT EXISTS (
        SELECT key FROM attempts WHERE (key = :k1 AND at >= :since1) OR ... GROUP BY key HAVING count(*) >= limit)
    """
    keys = sorted(allowances)
    used_up = _used_up(allowances, now)
    wanted = sa.union_all(*[sa.select(sa.literal(k, sa.Text).label("key")) for k in keys]).subquery("wanted")
    rows = sa.select(wanted.c.key, sa.literal(now, UTCDateTime).label("at")).where(~sa.exists(used_up))
    return sa.insert(attempts).from_select(["key", "at"], rows).returning(attempts.c.id)


def _settle(ids: list[int], *, spent: bool, now: datetime) -> sa.Update | sa.Delete:
    """A spent attempt counts from `now`; one not spent is deleted: one statement on the same rows either way."""
    rows = attempts.c.id.in_(ids)
    return sa.update(attempts).where(rows).values(at=now) if spent else sa.delete(attempts).where(rows)


def _used_up(allowances: Mapping[str, Allowance], now: datetime) -> sa.Select[tuple[str]]:
    """The keys that already have their limit of attempts in their window."""
    keys = sorted(allowances)
    in_window = sa.or_(*[sa.and_(attempts.c.key == k, attempts.c.at >= now - allowances[k].window) for k in keys])
    limit = sa.case({k: allowances[k].limit for k in keys}, value=attempts.c.key)
    return sa.select(attempts.c.key).where(in_window).group_by(attempts.c.key).having(sa.func.count() >= limit)


async def _count(conn: AsyncConnection, starts: Mapping[str, datetime]) -> dict[str, int]:
    """Attempts per key since its start."""
    in_window = sa.or_(*[sa.and_(attempts.c.key == key, attempts.c.at >= start) for key, start in starts.items()])
    stmt = sa.select(attempts.c.key, sa.func.count()).where(in_window).group_by(attempts.c.key)
    counted = {key: count for key, count in (await conn.execute(stmt)).all()}
    return {key: int(counted.get(key, 0)) for key in starts}
