"""A new conversation's row is not read back from its INSERT (`storage.conversations._created_row` builds it): it must
be the row SQLAlchemy reads back, value for value and type for type, whatever the clock says (any offset, any
microsecond), on both backends (`database_url`, tests/postgres.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from storage import Database
from tests.fixtures import Clock


def _instants(seed: int, count: int) -> list[datetime]:
    rng = random.Random(seed)
    instants = []
    for _ in range(count):
        offset = timezone(timedelta(minutes=rng.randrange(-14 * 60, 14 * 60 + 1, 15)))
        at = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(400_000_000))
        at = at.replace(microsecond=rng.choice([0, 1, 999_999, rng.randrange(1_000_000)]))
        instants.append(at.astimezone(offset))
    return instants


async def test_a_new_conversations_row_is_the_row_read_back(database: Database, clock: Clock) -> None:
    await database.put_setting("persona", {"assistant_name": "Wren"})
    for i, at in enumerate(_instants(7, 40)):
        clock.now = at
        conversation = f"new{i:03d}".ljust(22, "x")
        async with database.conversation_turn(conversation, create=True, read_settings=("persona", "gone")) as lease:
            built = lease.row
            read = await database.get_conversation(conversation)
            assert built is not None and read is not None
            assert built == read and built.model_fields_set == read.model_fields_set
            assert [type(v) for v in built.__dict__.values()] == [type(v) for v in read.__dict__.values()]
            assert built.created_at.tzinfo is read.created_at.tzinfo and built.updated_at == read.updated_at
            assert lease.settings == {"persona": '{"assistant_name": "Wren"}'}
        # An id taken already is read, not created: the row as stored.
        async with database.conversation_turn(conversation, create=True, read_settings=()) as lease:
            assert lease.row == read
