"""Merchant settings (persona, mail, verification): one JSON document per key. Also short-lived keys that must be
shared by every worker: single-use OAuth states (`take_setting`) and leases (`claim_lease`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from storage.database import Engine
from storage.schema import settings


class SettingStore(Engine):
    async def get_setting(self, key: str) -> dict[str, Any] | None:
        async with self.read() as conn:
            value = (await conn.execute(sa.select(settings.c.value_json).where(settings.c.key == key))).scalar()
        return json.loads(value) if value is not None else None

    async def put_setting(self, key: str, value: dict[str, Any]) -> None:
        values = {"value_json": json.dumps(value), "updated_at": self.clock()}
        stmt = self.insert(settings).values(key=key, **values)
        stmt = stmt.on_conflict_do_update(index_elements=[settings.c.key], set_=values)
        async with self.begin() as conn:
            await conn.execute(stmt)

    async def update_setting(
        self, key: str, change: Callable[[dict[str, Any] | None], dict[str, Any] | None]
    ) -> dict[str, Any] | None:
        """Read `key`, apply `change` and write the result (None deletes it) in one transaction with the row locked,
        so concurrent updates in any worker all land (a read then a `put_setting` loses one of two at once). The row
        is created first so there is one to lock: PostgreSQL makes a second creator wait for the first's commit, and
        SQLite's writer holds the database's write lock from BEGIN. Returns what was written."""
        placeholder = self.insert(settings).values(key=key, value_json="null", updated_at=self.clock())
        async with self.begin() as conn:
            await conn.execute(placeholder.on_conflict_do_nothing(index_elements=[settings.c.key]))
            locked = sa.select(settings.c.value_json).where(settings.c.key == key).with_for_update()
            new = change(json.loads((await conn.execute(locked)).scalar_one()))
            if new is None:
                await conn.execute(sa.delete(settings).where(settings.c.key == key))
            else:
                values = {"value_json": json.dumps(new), "updated_at": self.clock()}
                await conn.execute(sa.update(settings).where(settings.c.key == key).values(**values))
        return new

    async def take_setting(self, key: str) -> dict[str, Any] | None:
        """Read and delete `key` at once: of concurrent callers (in any worker) exactly one gets the value."""
        async with self.begin() as conn:
            value = (await conn.execute(sa.select(settings.c.value_json).where(settings.c.key == key))).scalar()
            if value is None:
                return None
            # Whoever deletes the row owns the value; a concurrent reader that lost the delete gets nothing.
            deleted = await conn.execute(sa.delete(settings).where(settings.c.key == key))
        return json.loads(value) if deleted.rowcount == 1 else None

    async def delete_settings_before(self, prefix: str, before: datetime) -> int:
        """Forget `prefix*` keys last written before `before` (OAuth states nobody came back with)."""
        stmt = sa.delete(settings).where(
            settings.c.key.startswith(prefix, autoescape=True), settings.c.updated_at < before
        )
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount

    async def claim_lease(self, key: str, holder: str, *, ttl: timedelta) -> bool:
        """Take the lease `key` for `holder` unless someone else took it less than `ttl` ago.

        One INSERT ... ON CONFLICT DO UPDATE WHERE: the database decides, so two workers never both win.
        """
        now = self.clock()
        values = {"value_json": json.dumps({"holder": holder}), "updated_at": now}
        stmt = self.insert(settings).values(key=key, **values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[settings.c.key], set_=values, where=settings.c.updated_at < now - ttl
        )
        async with self.begin() as conn:
            return (await conn.execute(stmt)).rowcount == 1

    async def release_lease(self, key: str, holder: str) -> None:
        stmt = sa.delete(settings).where(settings.c.key == key, settings.c.value_json == json.dumps({"holder": holder}))
        async with self.begin() as conn:
            await conn.execute(stmt)
