"""The order mirror: a mirrored order's version is a 64-bit integer (a new row starts from the time in microseconds,
so a deleted and re-inserted order never repeats a version of its previous row; see `storage.orders`).

Revision ID: 0006
Revises: 0005

SQLite's INTEGER already holds 64-bit values: nothing changes in the file (no table copy). PostgreSQL's INTEGER is 32
bits: the column becomes BIGINT.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "mirrored_orders", "version", type_=sa.BigInteger(), existing_type=sa.Integer(), existing_nullable=False
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Versions past 32 bits do not fit back: every row starts again from 0 (a compare-and-swap under way loses, and
    # reads the row again).
    op.execute("UPDATE mirrored_orders SET version = 0")
    op.alter_column(
        "mirrored_orders", "version", type_=sa.Integer(), existing_type=sa.BigInteger(), existing_nullable=False
    )
