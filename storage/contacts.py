"""What a conversation is about, in exact normalised form: the keys Shopify's customers/redact names a customer by.

One row per (conversation, kind, value): kind "email" (normalised), "customer" (a customer GID) or "order" (an order
GID). The service records them whenever it saves a turn; redaction deletes by them with `=`, never by searching text,
so forgetting ann@example.com leaves joann@example.com alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Literal

import sqlalchemy as sa

from storage.database import Engine, Statements
from storage.schema import conversation_contacts, conversations

ContactKind = Literal["email", "customer", "order"]
Contact = tuple[ContactKind, str]
INDEXED: tuple[str, str] = ("indexed", "")  # marks a conversation whose contacts are recorded
MAX_CONTACT_CHARS = 320  # longer than any email (254) or GID; anything longer is not a key worth keeping
# A turn's contacts (a handful) go in one multi-row INSERT, of at most this many rows (one statement built per row
# count, so a few at most): one statement, not one per row.
CONTACTS_PER_INSERT = 8


def _matching(keys: Iterable[Contact]) -> sa.ColumnElement[bool]:
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    c = conversation_contacts.c
    return sa.or_(sa.false(), *[sa.and_(c.kind == kind, c.value.in_(values)) for kind, values in by_kind.items()])


class ContactStore(Engine):
    async def remember_contacts(self, conversation_id: str, contacts: Iterable[Contact]) -> None:
        """Add what this conversation is about (already normalised); what was recorded before is kept."""
        async with self.writing() as tx:
            await self._remember_contacts(tx, conversation_id, contacts)

    async def _remember_contacts(self, tx: Statements, conversation_id: str, contacts: Iterable[Contact]) -> None:
        """`remember_contacts` inside the caller's transaction."""
        rows = [(kind, value) for kind, value in {INDEXED, *contacts} if len(value) <= MAX_CONTACT_CHARS]
        # Statements built once per row count (a VALUES list built anew each turn was compiled anew each turn, which
        # cost more than the rest of the save). Each row is inserted or, already recorded, skipped on its own, as
        # single-row INSERTs would (the rows are distinct: a set).
        for start in range(0, len(rows), CONTACTS_PER_INSERT):
            chunk = rows[start : start + CONTACTS_PER_INSERT]
            params = {"p_conversation": conversation_id}
            for i, (kind, value) in enumerate(chunk):
                params[f"p_kind{i}"], params[f"p_value{i}"] = kind, value
            n = len(chunk)
            await tx.run(self.prepared(f"remember_contacts:{n}", partial(self._build_remember, n)), params)

    def _build_remember(self, n: int) -> sa.Insert:
        """INSERT ... VALUES of `n` rows of one conversation, each skipped if recorded already."""
        conversation: sa.BindParameter[str] = sa.bindparam("p_conversation")
        rows = [
            {"conversation_id": conversation, "kind": sa.bindparam(f"p_kind{i}"), "value": sa.bindparam(f"p_value{i}")}
            for i in range(n)
        ]
        return self.insert(conversation_contacts).values(rows).on_conflict_do_nothing()

    async def contacts_of(self, conversation_id: str) -> set[Contact]:
        c = conversation_contacts.c
        stmt = sa.select(c.kind, c.value).where(c.conversation_id == conversation_id, c.kind != INDEXED[0])
        async with self.begin() as conn:
            return {(row.kind, row.value) for row in await conn.execute(stmt)}

    async def conversations_about(self, keys: Iterable[Contact]) -> list[str]:
        """The conversations recorded with any of these exact keys."""
        stmt = sa.select(conversation_contacts.c.conversation_id).where(_matching(keys)).distinct()
        async with self.begin() as conn:
            return list((await conn.execute(stmt)).scalars().all())

    async def unindexed_conversations(self, mentioning: list[str]) -> list[tuple[str, str, str]]:
        """(id, messages_json, state_json) of conversations saved before contacts were recorded that contain any of
        `mentioning` (a coarse text filter; the caller decides exactly what they are about)."""
        indexed = sa.exists().where(
            conversation_contacts.c.conversation_id == conversations.c.id, conversation_contacts.c.kind == INDEXED[0]
        )
        text = sa.or_(
            sa.false(),
            *[conversations.c.messages_json.icontains(n, autoescape=True) for n in mentioning],
            *[conversations.c.state_json.icontains(n, autoescape=True) for n in mentioning],
        )
        stmt = sa.select(conversations.c.id, conversations.c.messages_json, conversations.c.state_json).where(
            ~indexed, text
        )
        async with self.begin() as conn:
            return [(row.id, row.messages_json, row.state_json) for row in await conn.execute(stmt)]
