"""Merchant settings (persona, mail, verification): one JSON document per key."""

from __future__ import annotations

import json
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
