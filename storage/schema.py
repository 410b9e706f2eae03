"""Every table Lumen keeps, on one `metadata`. A change here needs a migration beside it (`storage/migrations`):
`Database.connect()` upgrades every database to the newest revision."""

from __future__ import annotations

import sqlalchemy as sa

from storage.database import UTCDateTime

metadata = sa.MetaData()

conversations = sa.Table(
    "conversations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("messages_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("state_json", sa.Text, nullable=False, server_default="{}"),
    sa.Column("customer_id", sa.Text, nullable=True),
    sa.Column("verified_lookups", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("escalated", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("model", sa.Text, nullable=True),
    # Kept at save time so listing conversations never parses their messages.
    sa.Column("message_count", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Index("ix_conversations_updated_at", "updated_at"),
)

settings = sa.Table(
    "settings",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value_json", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

escalations = sa.Table(
    "escalations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("conversation_id", sa.Text, nullable=False),
    sa.Column("order_name", sa.Text, nullable=True),
    # The order name normalised ('#1234' and '1234' are one order), '' without an order: the idempotency key.
    sa.Column("order_key", sa.Text, nullable=False, server_default=""),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("shopper_email", sa.Text, nullable=True),
    sa.Column("transcript", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("email_status", sa.Text, nullable=False, server_default="pending"),
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("last_attempt_at", UTCDateTime, nullable=True),
    # When the outbox may (re)try: backoff after a failure, or a lease while one worker is sending.
    sa.Column("next_attempt_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("conversation_id", "order_key", name="uq_escalations_conversation_order"),
    sa.Index("ix_escalations_status", "email_status"),
    sa.Index("ix_escalations_created_at", "created_at"),
)

# Failed order lookups and other rationed actions, by what they aimed at ("order:1234", "email:...", "ip:...").
# Counted across conversations, so starting a new chat does not reset the count.
attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Index("ix_attempts_key_at", "key", "at"),
)

webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("topic", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    # The retention loop deletes deliveries older than the dedupe window by this (`storage.webhooks`).
    sa.Index("ix_webhook_events_received_at", "received_at"),
)

# What each conversation is about, in exact normalised form: the emails the shopper typed or proved, the logged-in
# customer and the orders it proved or read. customers/redact deletes by these keys, never by searching text.
# kind "indexed" (value "") marks a conversation whose contacts were recorded, so older ones can be told apart.
conversation_contacts = sa.Table(
    "conversation_contacts",
    metadata,
    sa.Column("conversation_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Index("ix_conversation_contacts_kind_value", "kind", "value"),
)

# Who is running a turn of a conversation now, across every worker and host on this database: a row is a lease, taken
# by an atomic insert-or-take-over-if-expired and deleted when the turn ends. The holder renews it while the turn
# runs, so a lease outlives a turn only when its worker died, and then for at most one lease period.
conversation_locks = sa.Table(
    "conversation_locks",
    metadata,
    sa.Column("conversation_id", sa.Text, primary_key=True),
    sa.Column("holder", sa.Text, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

# The order mirror (sync/): the orders Lumen may be asked about, so a lookup reads this table instead of Shopify.
# `order_json` is the parsed order (shopify.domain.Order as JSON); the other columns are the keys lookups search by,
# normalised with shopify.names exactly as the live client compares them. `events_complete` is false for rows from a
# bulk backfill, which cannot carry carrier events (a connection inside a list field); a read by id fills them in.
mirrored_orders = sa.Table(
    "mirrored_orders",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_key", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("customer_id", sa.Text, nullable=True),
    sa.Column("postal_key", sa.Text, nullable=True),
    # Shopify's updatedAt of the copy held: an older copy never replaces a newer one.
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("synced_at", UTCDateTime, nullable=False),
    sa.Column("order_json", sa.Text, nullable=False),
    sa.Column("events_complete", sa.Boolean, nullable=False, server_default=sa.false()),
    # Bumped by every write: a read-modify-write (a webhook's payload applied to the copy) writes only if the copy is
    # still the one it read (`storage.orders.OrderStore.swap_mirrored_orders`), so two workers never lose a change.
    # A new row starts from the time in microseconds (64 bits; SQLite's INTEGER is), so an order deleted and mirrored
    # again never repeats a version of its previous row.
    sa.Column(
        "version", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False, server_default=sa.text("0")
    ),
    # Which fields the copy carries (`storage.orders.MIRROR_SHAPE`): an older shape is re-read by reconciliation.
    sa.Column("shape", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Index("ix_mirrored_orders_name_key", "name_key"),
    sa.Index("ix_mirrored_orders_email", "email"),
    sa.Index("ix_mirrored_orders_customer_id", "customer_id"),
    sa.Index("ix_mirrored_orders_shape", "shape"),
)

# What customers/redact and shop/redact took out of the mirror, so that nothing brings it back (a late webhook, a read
# under way, a reconciliation, a live lookup's copy): ids only, never an order. `kind` is "order" (an order GID,
# refused for good), "customer" (a customer GID) or "email" (the SHA-256 of the normalised email: no address is kept),
# whose orders created at or before `redacted_at` are refused, or "shop" (key "*", shop/redact: every order created
# at or before it). See `storage.orders` for why they are kept for good.
mirror_tombstones = sa.Table(
    "mirror_tombstones",
    metadata,
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("redacted_at", UTCDateTime, nullable=False),
)

# The mirror's state, one row per mirror (key "orders"), shared by every worker: what /healthz reports, the time the
# mirror is known complete up to (reconciliation asks Shopify for what changed since), and the lease that lets one
# worker at a time backfill or reconcile (taken by an atomic insert-or-take-over-if-expired, renewed while it works).
order_sync = sa.Table(
    "order_sync",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False, server_default="off"),
    sa.Column("last_sync_at", UTCDateTime, nullable=True),
    sa.Column("backfill_started_at", UTCDateTime, nullable=True),
    sa.Column("backfill_finished_at", UTCDateTime, nullable=True),
    sa.Column("backfilled", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("reconciled", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("lease_holder", sa.Text, nullable=True),
    sa.Column("lease_expires_at", UTCDateTime, nullable=True),
    # Bumped by every reset of the state (a reinstall, shop/redact): a backfill or reconciliation that began before
    # one records nothing over it (`storage.orders.OrderStore.update_order_sync`).
    sa.Column("generation", sa.Integer, nullable=False, server_default="0"),
    # The backfill's Shopify bulk operation while it runs, and when that backfill began: a worker killed mid-backfill
    # leaves it running on Shopify, and the next holder of the lease adopts its result or cancels it (`sync.service`).
    sa.Column("bulk_operation_id", sa.Text, nullable=True),
    sa.Column("bulk_operation_at", UTCDateTime, nullable=True),
)
