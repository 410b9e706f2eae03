"""The order mirror: the shape of each mirrored copy, and a generation on the mirror's state.

Revision ID: 0007
Revises: 0006

- `mirrored_orders.shape`: which fields a stored copy carries (`storage.orders.MIRROR_SHAPE`). Copies written before
  Lumen read `totalPriceSet` (the order's original total, `Order.original_total`) lack it and are shape 0; those
  written since carry the key in their JSON (`"original_total":`, null or not: pydantic writes every field) and are
  shape 1. Shape 0 copies keep answering lookups and are re-read by reconciliation, a bounded batch a round
  (`sync.service`), not here: a migration must not call Shopify, and every worker runs it at startup.
- `order_sync.generation`: bumped by every reset of the mirror's state (a reinstall after shop/redact, shop/redact
  itself), so a backfill or reconciliation that began before a reset writes nothing of its own over it.

Plain-string defaults, so SQLite adds both columns in place (ALTER TABLE ADD COLUMN, no table copy).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("mirrored_orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shape", sa.SmallInteger(), server_default="0", nullable=False))
    # The key as pydantic writes it (no space); inside a JSON string a quote is escaped, so only a key matches.
    op.execute("UPDATE mirrored_orders SET shape = 1 WHERE order_json LIKE '%\"original_total\":%'")
    op.create_index("ix_mirrored_orders_shape", "mirrored_orders", ["shape"])
    with op.batch_alter_table("order_sync", schema=None) as batch_op:
        batch_op.add_column(sa.Column("generation", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("order_sync", schema=None) as batch_op:
        batch_op.drop_column("generation")
    op.drop_index("ix_mirrored_orders_shape", table_name="mirrored_orders")
    with op.batch_alter_table("mirrored_orders", schema=None) as batch_op:
        batch_op.drop_column("shape")
