"""Alembic's entry point, run by `storage.migrations` on the connection it is given (never a URL of its own): the
caller owns the transaction, so an upgrade at startup and a revision made from the command line work the same way."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext

from storage.database import UTCDateTime
from storage.schema import metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Revisions spell Lumen's UTC datetime as the column type it stores, so a revision never imports the app."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through storage.migrations (Database.connect() does), not the alembic command")
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite alters a table by copying it: batch operations do that there and plain ALTERs elsewhere.
    render_as_batch=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
