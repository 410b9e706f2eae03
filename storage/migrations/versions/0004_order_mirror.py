"""The order mirror: mirrored orders and the mirror's shared state and lease.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "mirrored_orders",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("customer_id", sa.Text(), nullable=True),
        sa.Column("postal_key", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("order_json", sa.Text(), nullable=False),
        sa.Column("events_complete", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mirrored_orders", schema=None) as batch_op:
        batch_op.create_index("ix_mirrored_orders_customer_id", ["customer_id"], unique=False)
        batch_op.create_index("ix_mirrored_orders_email", ["email"], unique=False)
        batch_op.create_index("ix_mirrored_orders_name_key", ["name_key"], unique=False)
    op.create_table(
        "order_sync",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), server_default="off", nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backfill_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backfill_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backfilled", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("reconciled", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_holder", sa.Text(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("order_sync")
    with op.batch_alter_table("mirrored_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_mirrored_orders_name_key")
        batch_op.drop_index("ix_mirrored_orders_email")
        batch_op.drop_index("ix_mirrored_orders_customer_id")
    op.drop_table("mirrored_orders")
