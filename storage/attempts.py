"""Rationed attempts (failed order lookups and the like), counted by what they aimed at across conversations.

`reserve_attempts` is the one way to spend an attempt: in one transaction it takes the keys' locks, counts their
attempts in the window, and records one more only if every key has room. Reservations on a key therefore happen one
after another, on one worker or many: a hundred simultaneous ones on a key with room for ten get exactly ten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Engine
from storage.schema import attempts

# No limit looks further back than this: older rows are deleted (a key's own as it is reserved, all of them at most
# every PRUNE_EVERY per process, so the rows of keys never tried again go too).
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
        async with self.begin() as conn:
            return await _count(conn, dict.fromkeys(keys, since))

    async def reserve_attempts(self, allowances: Mapping[str, Allowance]) -> list[int] | None:
        """Spend one attempt on every key if each has room in its window: the new rows' ids; None (nothing spent)
        when any key is used up. Settle the reservation with `settle_attempts` once its outcome is known."""
        if not allowances:
            return []
        keys = sorted(allowances)  # every transaction takes the keys' locks in one order: no deadlock
        now = self.clock()
        await self._prune(now)
        async with self.begin() as conn:
            await self._lock(conn, keys)
            counts = await _count(conn, {key: now - allowances[key].window for key in keys})
            if any(counts[key] >= allowances[key].limit for key in keys):
                return None
            return await self._insert_attempts(conn, keys, now)

    async def _prune(self, now: datetime) -> None:
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        async with self.begin() as conn:
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - KEPT_FOR))

    async def settle_attempts(self, ids: list[int], *, spent: bool) -> None:
        """End a reservation: a spent attempt counts from now on, one not spent (a proof that held) is taken back.

        Either way it is one statement on the same rows, so settling costs the same whatever the outcome.
        """
        if not ids:
            return
        rows = attempts.c.id.in_(ids)
        stmt = sa.update(attempts).where(rows).values(at=self.clock()) if spent else sa.delete(attempts).where(rows)
        async with self.begin() as conn:
            await conn.execute(stmt)

    async def _lock(self, conn: AsyncConnection, keys: list[str]) -> None:
        """Hold the keys until this transaction ends, and drop their rows older than any window.

        PostgreSQL: a transaction-scoped advisory lock per key, which the next reserver of the key waits for; its
        count then sees this transaction's attempt. SQLite allows one writer at a time, and the DELETE makes this
        transaction that writer before it counts anything.
        """
        if conn.dialect.name == "postgresql":
            for key in sorted(keys, key=_lock_id):
                await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_id(key))))
        stale = self.clock() - KEPT_FOR
        await conn.execute(sa.delete(attempts).where(attempts.c.key.in_(keys), attempts.c.at < stale))

    @staticmethod
    async def _insert_attempts(conn: AsyncConnection, keys: list[str], now: datetime) -> list[int]:
        inserted = await conn.execute(
            sa.insert(attempts).values([{"key": key, "at": now} for key in keys]).returning(attempts.c.id)
        )
        return [int(i) for i in inserted.scalars().all()]


async def _count(conn: AsyncConnection, starts: Mapping[str, datetime]) -> dict[str, int]:
    """Attempts per key since its start."""
    in_window = sa.or_(*[sa.and_(attempts.c.key == key, attempts.c.at >= start) for key, start in starts.items()])
    stmt = sa.select(attempts.c.key, sa.func.count()).where(in_window).group_by(attempts.c.key)
    counted = {key: count for key, count in (await conn.execute(stmt)).all()}
    return {key: int(counted.get(key, 0)) for key in starts}
