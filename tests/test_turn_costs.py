"""What a turn's cost savings must leave alone: a message and its clauses read in one call of the act reader read as
each would alone, and a turn's lease reads the conversation and the settings as before, new or not."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from agent.playbook import acts
from agent.playbook.acts import ActModel, ActReading, read_acts, read_acts_together, shipped_model
from storage import Database

# Invented messages: a question with details, its clauses, a second request beside it.
MESSAGE = "Hi, where is parcel QX-40417? My email is rowan.hale@example.org and can I change the address"
CLAUSES = ["where is parcel QX-40417", "where is parcel QX-40417?", "can I change the address", "My email is"]


def test_a_message_and_its_clauses_read_together_read_as_each_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    model = shipped_model()
    alone = {text: model.read(text) for text in [MESSAGE, *CLAUSES]}
    monkeypatch.setattr(acts, "_readings", type(acts._readings)())  # nothing read yet
    batches: list[list[str]] = []
    read_many = ActModel.read_many

    def counted(self: ActModel, texts: list[str]) -> list[ActReading]:
        batches.append(list(texts))
        return read_many(self, texts)

    monkeypatch.setattr(ActModel, "read_many", counted)
    read_acts_together([MESSAGE, *CLAUSES, MESSAGE])
    assert batches == [[MESSAGE, *CLAUSES]]  # one call, each text once
    for text, reading in alone.items():
        assert read_acts(text) == reading
    assert len(batches) == 1  # every reading came from the batch
    read_acts_together([MESSAGE, "where is parcel QX-40417"])  # read already: no call at all
    assert len(batches) == 1


async def test_a_turns_lease_reads_the_conversation_and_the_settings(tmp_path: Path) -> None:
    async with Database(f"sqlite:///{tmp_path / 'lumen.db'}") as db:
        await db.put_setting("persona", {"assistant_name": "Wren"})
        conversation = "c" * 22
        async with db.conversation_turn(conversation, create=True, read_settings=("persona", "merchant")) as lease:
            assert lease.row is not None and lease.row.id == conversation and lease.row.messages_json == "[]"
            assert lease.settings == {"persona": '{"assistant_name": "Wren"}'}  # an unset setting is absent
            await db.save_turn(
                lease, contacts=[], messages_json="[]", state_json="{}", verified_lookups=2, escalated=False, model="m"
            )
        async with db.conversation_turn(conversation, read_settings=("merchant", "persona")) as lease:
            assert lease.row is not None and lease.row.verified_lookups == 2
            assert lease.settings == {"persona": '{"assistant_name": "Wren"}'}
        async with db.conversation_turn("u" * 22, read_settings=("persona",)) as lease:
            assert lease.row is None and lease.settings == {"persona": '{"assistant_name": "Wren"}'}


async def test_a_sqlite_files_reads_share_one_held_connection(tmp_path: Path) -> None:
    """Reads take no pool checkout each (it cost more than the read); a read that fails gives its connection back,
    and the next read takes another that reads as well."""
    async with Database(f"sqlite:///{tmp_path / 'lumen.db'}") as db:
        checkouts: list[object] = []
        sa.event.listen(db.engine.sync_engine, "checkout", lambda *args: checkouts.append(args[0]))
        await db.put_setting("persona", {"assistant_name": "Wren"})
        writes = len(checkouts)
        for _ in range(5):
            assert await db.get_conversation("n" * 22) is None
            async with db.read() as conn:
                assert (await conn.execute(sa.text("SELECT 1"))).scalar() == 1
        assert len(checkouts) - writes == 1  # one connection for all ten reads
        with pytest.raises(sa.exc.OperationalError):
            async with db.read() as conn:
                await conn.execute(sa.text("SELECT * FROM no_such_table"))
        async with db.read() as conn:
            assert (await conn.execute(sa.text("SELECT 2"))).scalar() == 2
        assert len(checkouts) - writes == 2  # a fresh one after the failure
