"""The order mirror's running bulk operation, and an index to prune webhook deliveries by age.

Revision ID: 0008
Revises: 0007

- `order_sync.bulk_operation_id` / `order_sync.bulk_operation_at`: the backfill's Shopify bulk operation while it
  runs, and when the backfill that started it began. A worker killed mid-backfill leaves its operation running on
  Shopify (it holds one of the app's bulk slots until Shopify ends it, and before API 2026-01 the only one); the next
  worker to take the lease finds it here and adopts its result or cancels it (`sync.service`), rather than knowing
  nothing of it.
- `ix_webhook_events_received_at`: the retention loop deletes deliveries older than the dedupe window
  (`storage.webhooks`) a chunk at a time, by `received_at`: without the index each chunk would scan the table.

Nullable columns with no default, so SQLite adds them in place (ALTER TABLE ADD COLUMN, no table copy).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_sync", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bulk_operation_id", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("bulk_operation_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_received_at", table_name="webhook_events")
    with op.batch_alter_table("order_sync", schema=None) as batch_op:
        batch_op.drop_column("bulk_operation_at")
        batch_op.drop_column("bulk_operation_id")
