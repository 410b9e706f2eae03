"""Conversation contacts: the exact keys customers/redact deletes by.

The table came to `storage.schema` while databases were still made by `metadata.create_all`, so a file made before
migrations may have it already (it is stamped with 0001 and upgraded from there): then it is left as it is.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("conversation_contacts"):
        return
    op.create_table(
        "conversation_contacts",
        sa.Column("conversation_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("conversation_id", "kind", "value"),
    )
    with op.batch_alter_table("conversation_contacts", schema=None) as batch_op:
        batch_op.create_index("ix_conversation_contacts_kind_value", ["kind", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("conversation_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_contacts_kind_value")
    op.drop_table("conversation_contacts")
