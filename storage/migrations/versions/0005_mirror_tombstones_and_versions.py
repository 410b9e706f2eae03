"""The order mirror: tombstones of redacted orders and customers, and a version on each mirrored order.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mirror_tombstones",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("redacted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key"),
    )
    # A plain-string default: SQLite adds the column in place (ALTER TABLE ADD COLUMN); an expression such as
    # sa.text("0") would make Alembic copy the whole table inside one write transaction (checked on SQLite).
    with op.batch_alter_table("mirrored_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("mirrored_orders", schema=None) as batch_op:
        batch_op.drop_column("version")
    op.drop_table("mirror_tombstones")
