"""One worker process of `tests/test_workers.py`'s test of several processes writing one SQLite file: it writes
through `Engine.writing` (prepared statements on the sqlite3 connection, BEGIN IMMEDIATE waited for on the loop) and
`Engine.begin`, and says on stdout when it is ready, when it first found another process writing, and how it ended.

    python -m tests.sqlite_writer URL NAME WRITES    (then "go" on stdin)
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys

import sqlalchemy as sa

import storage.database
from storage import Database
from storage.schema import settings

COUNTER = "counter"


def _counting_locked() -> list[int]:
    """Count the BEGINs that found the file locked by another process (printing "blocked" at the first)."""
    locked = [0]
    try_begin = storage.database._try_begin

    def counted(raw: sqlite3.Connection, *, locked_ok: bool) -> bool:
        began = try_begin(raw, locked_ok=locked_ok)
        if not began:
            locked[0] += 1
            if locked[0] == 1:
                print("blocked", flush=True)
        return began

    storage.database._try_begin = counted
    return locked


async def _increment(db: Database) -> None:
    """Read the counter and write it back plus one in one `writing` transaction: a lost update shows in the total."""
    read = db.prepared("t_read_counter", lambda: sa.select(settings.c.value_json).where(settings.c.key == COUNTER))
    write = db.prepared(
        "t_write_counter",
        lambda: sa.update(settings).where(settings.c.key == COUNTER).values(value_json=sa.bindparam("p_value")),
    )
    async with db.writing() as tx:
        current = int((await tx.run(read)).scalars()[0])
        await tx.run(write, {"p_value": str(current + 1)})


async def main(url: str, name: str, writes: int) -> None:
    async with Database(url) as db:
        locked = _counting_locked()
        print("ready", flush=True)
        sys.stdin.readline()  # "go": every process starts writing at once
        for i in range(writes):
            await _increment(db)
            assert await db.claim_turn(f"{name}-{i}", name)  # a prepared upsert, in `writing`
            if i % 10 == 0:
                await db.put_setting(f"{name}-{i}", {"i": i})  # through SQLAlchemy, in `begin`
        print(f"done {locked[0]}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
