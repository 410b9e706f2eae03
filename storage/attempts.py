"""Rationed attempts (failed order lookups and the like), counted by what they aimed at across conversations."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from storage.database import Engine
from storage.schema import attempts


class AttemptStore(Engine):
    async def record_attempts(self, keys: list[str]) -> None:
        if not keys:
            return
        now = self.clock()
        async with self.begin() as conn:
            await conn.execute(sa.insert(attempts), [{"key": key, "at": now} for key in keys])
            # Rows a day old are outside every window: drop them here, on the rare failed attempt, not on every check.
            await conn.execute(sa.delete(attempts).where(attempts.c.at < now - timedelta(days=1)))

    async def count_attempts(self, keys: list[str], *, since: datetime) -> dict[str, int]:
        if not keys:
            return {}
        stmt = (
            sa.select(attempts.c.key, sa.func.count())
            .where(attempts.c.key.in_(keys), attempts.c.at >= since)
            .group_by(attempts.c.key)
        )
        async with self.begin() as conn:
            counted = {key: count for key, count in (await conn.execute(stmt)).all()}
        return {key: int(counted.get(key, 0)) for key in keys}
