"""`OrderSync`: fills the order mirror and keeps it fresh, in the background, on one worker at a time.

- **Backfill**: every order updated in the last `sync_days` days, from a Shopify bulk operation (`exporter`, by default
  `shopify.bulk.export_orders`), written in chunks. Bulk rows carry no carrier events (`events_complete` false).
- **Webhooks**: `accept` takes a change's payload without waiting on anything (the webhook is answered at once, as
  Shopify asks), and the applier writes what it says into the mirrored copy straight away (`apply_webhook`,
  `sync.changes`), so the next lookup answers with it. A carrier event (`fulfillment_events/create`) is whole in its
  payload and needs nothing more; other topics, and orders the mirror does not hold yet, queue a confirming read for
  what their payload cannot say (a hold placed on a fulfillment order, the fulfillment orders' new states, estimates).
- **Confirming reads, batched** (`request_confirm`, `confirm_pending`): `confirm_window_s` (15 s) after the first is
  queued, every order queued by then is read in one bulk operation (`confirmer`, by default
  `shopify.bulk.confirm_orders`: `id:1 OR id:2 ...`, `CONFIRM_BATCH` to an operation). Its cost is the mutation and a
  few polls, about 13 points however many orders it holds, where a read by id costs about 17 points an order: on a
  Black Friday the changed orders no longer cost more than the conversations. A bulk row has no carrier events and no
  per-package items, so the copy's are kept for each package it held (a package on its way with none marks the copy
  as lacking events, for a lookup to wish for). What a payload cannot say thus reaches the mirror within the window
  plus the operation (about 20 s; an operation is given up after `CONFIRM_MAX_WAIT_S`, and cancelled so that it does
  not hold one of the app's bulk slots). When the operation is
  refused (the app's bulk queries all taken: Shopify runs five at a time since 2026-01, and a backfill may hold one),
  fails or times out, its orders are read by id instead; an order it did not return (not in Shopify's search index yet,
  or gone) is read by id as well. A payload applied to an order while its operation runs (on this worker, or written
  by another since the operation began) keeps that order for the next batch: the operation may have read Shopify
  before that change, and its answer must not write over it.
- **Stamps**: a payload changes the copy's order, and an `orders/*` payload its `updatedAt` too (so a late, older
  payload changes nothing), but not the row's stamp (`MirroredOrder.updated_at`), which stays the `updatedAt` of the
  version last read whole (backfill, confirmation, read by id). So a copy is never taken for a version it has not
  seen: reconciliation leaves alone what was confirmed (its stamp is Shopify's), and reads whatever a payload changed
  but no read ever confirmed (a worker that stopped with its batch).
- **Refresh**: `request_refresh` queues an order, and the queue is drained after a short pause so a burst of webhooks
  about one order costs one read by id (`reader`, by default `ShopifyAdmin.order_by_id`): for payloads that cannot be
  applied, late webhooks (`MirroredSource.refresh`), and confirmations that fell back. A read that finds nothing
  deletes the mirrored copy. Refreshes go first, always.
- **Carrier events on lookup** (optional): a looked-up order held without its packages' events (a backfilled copy)
  is queued by `request_events`; its events and items are read (`events_reader`, by default
  `ShopifyAdmin.order_events_node`, a fraction of a whole order's cost) only when no refresh waits, the bucket is
  above `EVENTS_HIGH_WATER` of its size, and these reads stay within `EVENTS_SHARE` of the bucket's restore rate: they
  are a nicety, and must never crowd out a refresh or a shopper's live lookup.
- **Reconciliation**: every `reconcile_s`, which orders Shopify changed since the last sync and when (`stamps`, by
  default `ShopifyAdmin.order_stamps_updated_since`, about a point an order), then those the mirror holds an older
  copy of (or none) are read as confirmations are, in bulk (by id where that fails), but for those whose confirming
  read this worker has queued or is running: a dropped webhook is healed within one period, an order a webhook's
  confirmation already brought up to date costs nothing more, and the many orders carrier events changed (their
  payloads say nothing of the order's `updatedAt`) cost one bulk operation together rather than a read each. A
  carrier event whose webhook was lost is healed as the package's status (a bulk row has no events); the copy is then
  marked as lacking events, so a lookup wishes for them. (Another worker's queued confirmations are not seen here:
  such an order may be read twice.)

- **Older shapes** (`refill_shapes`, after each reconciliation): copies stored before Lumen read a field it reads now
  (`storage.orders.MIRROR_SHAPE`: the original total) are read again as confirmations are, `REFILL_PER_ROUND` a
  round, most recently changed first, only while the bucket is at least `EVENTS_HIGH_WATER` full: under the lease
  (one worker of all the hosts), paced, never a burst at startup. A lookup reads live only the old copies whose
  answer needs what they lack (`sync.mirror`).
- **Resets**: every record a backfill or reconciliation makes is of the generation of the state it began from
  (`storage.orders.OrderStore.update_order_sync`): after shop/redact or a reinstall meanwhile it records nothing, and
  the next round backfills anew at once.
- **Stopping**: cancelled while a bulk operation runs (the server stopping), the operation is cancelled on Shopify
  first (`shopify.bulk`), so the next start finds the app's bulk slot free.
- **Killed mid-backfill**: a worker killed outright cannot cancel its operation, so the backfill records the
  operation's id in the mirror's state as soon as Shopify starts it (`_Operation`), and the next backfill offers it to
  the exporter: adopted (its result, as of when the first backfill began) if it began within `ADOPT_MAX_AGE` and is a
  backfill of the same fields and window, else cancelled before a new one starts (`shopify.bulk.export_orders`).
  Killed before it recorded the id, the next backfill is refused a slot: OPERATION_IN_PROGRESS names the operation,
  and LIMIT_REACHED has the app's running bulk queries listed to find it; either way it is adopted or cancelled alike.

Backfill and reconciliation run under a lease in the database (`order_sync`), so of several workers (or hosts) one
does them at a time; each worker drains the refreshes and confirmations its own webhooks queued. The state every
worker reports (off, backfilling, live, counts, last sync) is in the database too. Nothing here runs in a shopper's
turn: lookups read the table (`sync.mirror`), and the Shopify client used here is a separate one from the shoppers',
so a background read waiting on the rate limit never holds a shopper's lookup in its queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import statistics
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from shopify import bulk
from shopify.client import ShopifyAdmin
from shopify.domain import Fulfillment, Order, parse_fulfillment, parse_order
from shopify.names import order_key
from shopify.webhooks import ORDER_GID, event_change, fulfillment_change, order_change
from storage import Database, MirroredOrder
from storage.orders import MIRROR_SHAPE, UPSERT_CHUNK, OrderSyncRecord, SyncState
from sync.changes import apply_event, apply_fulfillment, apply_order
from sync.writes import Change, write_changes

log = logging.getLogger("lumen.sync")


class Exporter(Protocol):
    """Every order updated since a time (`shopify.bulk.export_orders`): `resume` names the operation an earlier
    backfill left, `on_start` is told of the operation read from (an exporter that runs none ignores both)."""

    def __call__(
        self, since: datetime, *, resume: bulk.Resume | None = None, on_start: bulk.OnStart | None = None
    ) -> AsyncIterator[dict[str, Any]]: ...


Reader = Callable[[str], Awaitable[Order | None]]
Confirmer = Callable[[list[str]], Awaitable[list[dict[str, Any]]]]
Stamps = Callable[[datetime], Awaitable[list[tuple[str, datetime]]]]
EventsReader = Callable[[str], Awaitable[dict[str, Any] | None]]
BucketLevel = Callable[[], tuple[float, float] | None]

DEFAULT_SYNC_DAYS = 90
DEFAULT_RECONCILE_S = 300.0
# Webhooks about one order come in bursts: wait this long after the first before reading, so the burst costs one read.
REFRESH_DELAY_S = 0.5
# Optional reads (carrier events on lookup) run only while the bucket holds at least this share of its size, and spend
# on average at most this share of what it restores: the rest is for refreshes and shoppers' live lookups. The share
# is each worker's (they pace themselves apart): with two workers 4%, about one events read every 3 s on a Standard
# plan (100 points/s), on a Black Friday of 1,000 conversations a minute about 0.25 points a conversation. Wishes
# come from every lookup of a parcel in transit, far more than any share serves; the answer never waits for one (it
# is made from the package's own fields), so a larger share buys little.
EVENTS_HIGH_WATER = 0.5
EVENTS_SHARE = 0.02
# What an events read is expected to cost (one package, a few events and items), to pace them before Shopify says.
EVENTS_READ_POINTS = 12.0
# Orders waiting for an optional events read, at most: past this the oldest wish is dropped (asked again on lookup).
MAX_EVENTS_QUEUE = 500
# Confirming reads wait this long after the first is queued, then go together in one bulk operation: on a busy day the
# webhooks of this window cost one mutation and its polls (about 13 points) where reads by id cost ~17 points each.
CONFIRM_WINDOW_S = 15.0
# Orders one confirming bulk operation asks for, at most (its search is `id:1 OR id:2 ...`); more go in another.
CONFIRM_BATCH = 100
# Copies of an older shape (`storage.orders.MIRROR_SHAPE`: stored before Lumen read a field it reads now) re-read by
# one reconciliation round, at most, as confirmations are (`CONFIRM_BATCH` to a bulk operation, about 13 points each),
# and only while the bucket is at least `EVENTS_HIGH_WATER` full: 300 copies every `reconcile_s` (five minutes) is
# 3,600 an hour, for under 40 points a round, so an upgrade never spends the bucket at startup.
REFILL_PER_ROUND = 3 * 100
# A confirming bulk operation is polled this often, and given up on (its orders read by id instead) after this long.
CONFIRM_POLL_S = 2.0
CONFIRM_MAX_WAIT_S = 60.0
# The lease outlives a worker that died mid-backfill by at most this; its holder renews it every third of it.
LEASE_TTL = timedelta(minutes=2)
# Reconciliation asks for changes since the last sync minus this: Shopify's clock and ours may disagree a little,
# and an order changed while the last one ran must not fall between two.
RECONCILE_OVERLAP = timedelta(minutes=2)
# How often a running bulk operation is asked how it is doing (Shopify's guidance: every few seconds).
BULK_POLL_S = 2.0
# `ShopifyAdmin.order_stamps_updated_since` returns at most this many orders a call; a full page means ask again.
RECONCILE_PAGE = 250
# A backfill's bulk operation left behind by a worker killed mid-backfill (recorded in `order_sync`) is adopted by the
# next backfill if it began within this, else cancelled: an export is given up after an hour anyway
# (`shopify.bulk.export_orders`' max_wait_s), so an older one is stuck or its result stale.
ADOPT_MAX_AGE = timedelta(hours=1)
# After a failed round (Shopify unreachable, the lease held elsewhere), the background loop looks again this soon.
RETRY_S = 30.0
MAX_ERROR_CHARS = 300
# Refreshes read at once, at most: a burst of webhooks is read in a few round trips, not one after another.
REFRESH_CONCURRENCY = 4
# With events reads waiting for room in the bucket and nothing else to do, the drainer looks again this often.
EVENTS_RETRY_S = 1.0
_STAMP = TypeAdapter(datetime)
APPLY_LAGS_KEPT = 1000
# Webhook payloads waiting to be applied, at most (a payload is a whole order's JSON: a storm of them grew memory
# without end). Past it a payload is not kept but its order is re-read (one entry in the refresh set, one read however
# many payloads), or reconciled soon when it names no order. Counted in the status (`coalesced`), never dropped
# silently.
MAX_PAYLOADS = 2000


def _unset(value: object) -> bool:
    return value is None or value == 0


class OrderSyncStatus(BaseModel):
    """The mirror as /healthz and /admin show it: state, orders held and the last sync, then what applies (a field
    that is empty or zero is left out, so an "off" mirror reads `{"state": "off", "orders": 0, "last_sync": null}`)."""

    state: SyncState = "off"
    orders: int = 0
    last_sync: datetime | None = None
    backfill_started_at: datetime | None = Field(None, exclude_if=_unset)
    backfill_finished_at: datetime | None = Field(None, exclude_if=_unset)
    backfilled: int = Field(0, exclude_if=_unset)
    reconciled: int = Field(0, exclude_if=_unset)
    # This worker's: copies of an older shape read again (`refill_shapes`).
    refilled: int = Field(0, exclude_if=_unset)
    # This worker's: refreshes read since it started, and refreshes waiting to be read.
    refreshed: int = Field(0, exclude_if=_unset)
    pending_refreshes: int = Field(0, exclude_if=_unset)
    # This worker's: orders confirmed in batches (bulk operations), those waiting, and those read by id instead.
    confirmed: int = Field(0, exclude_if=_unset)
    pending_confirms: int = Field(0, exclude_if=_unset)
    confirm_fallbacks: int = Field(0, exclude_if=_unset)
    # This worker's: webhooks applied from their payload, optional events reads done, and waiting.
    applied: int = Field(0, exclude_if=_unset)
    # Seconds from a webhook's arrival to its payload in the mirror, median and worst of this worker's recent ones.
    apply_lag_p50_s: float | None = Field(None, exclude_if=lambda value: value is None)
    apply_lag_max_s: float | None = Field(None, exclude_if=lambda value: value is None)
    events_read: int = Field(0, exclude_if=_unset)
    pending_events: int = Field(0, exclude_if=_unset)
    # This worker's: payloads past `max_payloads` taken as a re-read of their order (or a reconciliation) instead.
    coalesced: int = Field(0, exclude_if=_unset)
    last_error: str | None = Field(None, exclude_if=_unset)


class Applied(BaseModel):
    """What `apply_webhook` did: the orders it changed from the payload, those it queued a read by id of, and those it
    queued for the next batched confirming read."""

    applied: list[str] = Field(default_factory=list)
    refreshed: list[str] = Field(default_factory=list)
    confirming: list[str] = Field(default_factory=list)


class BackfillResult(BaseModel):
    orders: int
    skipped: int
    started_at: datetime
    finished_at: datetime
    # False when the mirror's state was reset while it ran (a reinstall, shop/redact): its outcome was not recorded,
    # and the mirror is still to be backfilled.
    recorded: bool = True


def _default_exporter(admin: ShopifyAdmin) -> Exporter:
    def export(
        since: datetime, *, resume: bulk.Resume | None = None, on_start: bulk.OnStart | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        return bulk.export_orders(admin, since, poll_s=BULK_POLL_S, resume=resume, on_start=on_start)

    return export


def _default_confirmer(admin: ShopifyAdmin) -> Confirmer:
    async def confirm(order_ids: list[str]) -> list[dict[str, Any]]:
        return await bulk.confirm_orders(admin, order_ids, poll_s=CONFIRM_POLL_S, max_wait_s=CONFIRM_MAX_WAIT_S)

    return confirm


class OrderSync:
    def __init__(
        self,
        db: Database,
        admin: ShopifyAdmin,
        *,
        exporter: Exporter | None = None,
        reader: Reader | None = None,
        stamps: Stamps | None = None,
        events_reader: EventsReader | None = None,
        confirmer: Confirmer | None = None,
        bucket_level: BucketLevel | None = None,
        sync_days: int = DEFAULT_SYNC_DAYS,
        reconcile_s: float = DEFAULT_RECONCILE_S,
        refresh_delay_s: float = REFRESH_DELAY_S,
        confirm_window_s: float | None = None,
        lease_ttl: timedelta = LEASE_TTL,
        lease_pause: Callable[[float], Awaitable[None]] = asyncio.sleep,
        owns_admin: bool = False,
        holder: str | None = None,
        max_payloads: int = MAX_PAYLOADS,
    ) -> None:
        self.db = db
        self.admin = admin
        self.exporter = exporter or _default_exporter(admin)
        self.reader: Reader = reader or admin.order_by_id
        self.stamps: Stamps = stamps or admin.order_stamps_updated_since
        self.events_reader: EventsReader = events_reader or admin.order_events_node
        self.confirmer: Confirmer = confirmer or _default_confirmer(admin)
        self.confirm_window_s = CONFIRM_WINDOW_S if confirm_window_s is None else confirm_window_s
        self.bucket_level: BucketLevel = bucket_level or admin.bucket_level
        self.sync_days = sync_days
        self.reconcile_s = reconcile_s
        self.refresh_delay_s = refresh_delay_s
        self.lease_ttl = lease_ttl
        self._lease_pause = lease_pause  # the wait between renewals of the lease (a test's own, to drive it by hand)
        self.holder = holder or secrets.token_urlsafe(12)
        self._owns_admin = owns_admin
        self.max_payloads = max_payloads
        self.coalesced = 0
        self._pending: set[str] = set()
        # Webhooks accepted, not applied yet, with when they came (the event loop's clock).
        self._payloads: deque[tuple[str, Any, list[str], float]] = deque()
        self._apply_lags: deque[float] = deque(maxlen=APPLY_LAGS_KEPT)
        self._payload_ready = asyncio.Event()
        self._applying = asyncio.Lock()
        self._reading: set[str] = set()  # order ids being read by id right now
        # Orders waiting for their confirming read, oldest first, and since when (loop time) the oldest has waited.
        self._confirm: dict[str, None] = {}
        self._confirm_since = 0.0
        self._confirming: set[str] = set()  # in a confirming bulk operation right now
        self._touched: set[str] = set()  # of those, the ones a payload changed meanwhile (on this worker)
        self._confirm_ready = asyncio.Event()
        self._events: dict[str, None] = {}  # orders wanting an events read, oldest wish first
        self._events_paced_until = 0.0  # loop time before which the next events read would spend over its share
        self._wake = asyncio.Event()
        self._reconcile_now = asyncio.Event()
        self.refreshed = 0
        self.applied = 0
        self.events_read = 0
        self.reads = 0  # reads by id sent to Shopify (refreshes), for tests and the bench
        self.confirmed = 0  # orders confirmed by a bulk operation
        self.confirm_operations = 0  # confirming bulk operations that delivered
        self.confirm_fallbacks = 0  # orders read by id instead (the bulk operation failed, or did not return them)
        self.refilled = 0  # copies of an older shape confirmed again (`refill_shapes`)

    async def aclose(self) -> None:
        if self._owns_admin:
            await self.admin.aclose()

    # --- status ----------------------------------------------------------------------------------------------------
    async def status(self) -> OrderSyncStatus:
        record = await self.db.order_sync_state()
        return OrderSyncStatus(
            state=record.state,
            orders=await self.db.count_mirrored_orders(),
            last_sync=record.last_sync_at,
            backfill_started_at=record.backfill_started_at,
            backfill_finished_at=record.backfill_finished_at,
            backfilled=record.backfilled,
            reconciled=record.reconciled,
            refilled=self.refilled,
            refreshed=self.refreshed,
            pending_refreshes=len(self._pending) + len(self._payloads),
            confirmed=self.confirmed,
            pending_confirms=len(self._confirm) + len(self._confirming),
            confirm_fallbacks=self.confirm_fallbacks,
            applied=self.applied,
            apply_lag_p50_s=_round(statistics.median(self._apply_lags)) if self._apply_lags else None,
            apply_lag_max_s=_round(max(self._apply_lags)) if self._apply_lags else None,
            events_read=self.events_read,
            pending_events=len(self._events),
            coalesced=self.coalesced,
            last_error=record.last_error,
        )

    # --- refreshes -------------------------------------------------------------------------------------------------
    def request_refresh(self, ref: str | None) -> None:
        """Queue a re-read of one order (its GID or name); None: reconcile soon (the order is unknown). Coalesced: an
        order queued twice before the queue is drained is read once."""
        if ref is None:
            self._reconcile_now.set()
            return
        ref = ref.strip()
        if ref:
            # A set of ids: however many webhooks, at most one entry an order (a storm is bounded by the store).
            self._pending.add(ref)
            self._wake.set()

    @property
    def pending(self) -> frozenset[str]:
        return frozenset(self._pending)

    def request_events(self, order_id: str) -> None:
        """Wish for a held order's carrier events (optional: see the module's docstring)."""
        if order_id in self._events or order_id in self._pending:
            return
        self._events[order_id] = None
        while len(self._events) > MAX_EVENTS_QUEUE:
            self._events.pop(next(iter(self._events)))
        self._wake.set()

    @property
    def pending_events(self) -> frozenset[str]:
        return frozenset(self._events)

    async def drain(self) -> int:
        """Apply the payloads accepted so far, read every order queued (a few at a time), then what optional events
        reads the bucket allows; how many refreshes were sent."""
        # Only those already here: payloads keep coming on a busy day, and the refreshes must not wait for all of them.
        await self.apply_pending(limit=len(self._payloads))
        refs, self._pending = self._pending, set()
        ids = sorted(await self._order_ids(refs))
        room = asyncio.Semaphore(REFRESH_CONCURRENCY)

        async def refresh(order_id: str) -> None:
            self._events.pop(order_id, None)  # a whole read brings the events too
            async with room:
                try:
                    await self.refresh(order_id)
                except Exception as exc:  # Shopify unreachable or throttled: reconciliation catches up later
                    log.warning("refresh of a mirrored order failed: %s", exc)

        await asyncio.gather(*(refresh(order_id) for order_id in ids))
        await self._read_events()
        return len(ids)

    async def refresh(self, order_id: str) -> Order | None:
        """Read one order by id now and store it (or delete it, if Shopify no longer shows it)."""
        self.reads += 1
        self._reading.add(order_id)
        try:
            # The copy held before the read: the read is written only over it (another worker may change the order
            # meanwhile: a payload applied after Shopify answered must not be written over by this older answer).
            seen = await self.db.mirrored_order(order_id)
            order = await self.reader(order_id)
            if order is None:
                await self.db.delete_mirrored_orders(ids=[order_id])
            else:
                await self._store([order], events_complete=True, seen={order_id: seen})
        finally:
            # Only once stored: a carrier event applied between the read and its write must still queue a re-read.
            self._reading.discard(order_id)
        self.refreshed += 1
        return order

    # --- webhooks applied from their payload -----------------------------------------------------------------------
    def accept(self, topic: str, payload: Any, refs: Sequence[str]) -> None:
        """Take a webhook's payload to apply straight away, in the background (`run`; `apply_pending` in tests). Past
        `max_payloads` waiting, the payload is not kept: its order is re-read instead (a read brings whatever the
        payload said), or reconciled when the payload names none."""
        if len(self._payloads) >= self.max_payloads:
            self.coalesced += 1
            named: list[str | None] = [ref for ref in refs if ref.startswith(ORDER_GID)] or list(refs)
            for ref in named or [None]:
                self.request_refresh(ref)
            return
        self._payloads.append((topic, payload, list(refs), asyncio.get_running_loop().time()))
        self._payload_ready.set()

    @property
    def pending_payloads(self) -> int:
        return len(self._payloads)

    def forget(self, ref: str | None) -> None:
        """A redacted order (None: every order, shop/redact): drop its payloads, re-reads, confirmations and events
        reads waiting here, so this worker does not spend a read on it. (A write that gets through anyway is refused
        by the redaction's tombstone in `storage.orders`, on every worker.)"""
        if ref is None:
            self._payloads.clear()
            self._pending.clear()
            self._events.clear()
            self._confirm.clear()
            return
        kept = [item for item in self._payloads if ref not in item[2]]
        self._payloads.clear()
        self._payloads.extend(kept)
        self._pending.discard(ref)
        self._events.pop(ref, None)
        self._confirm.pop(ref, None)

    async def apply_pending(self, limit: int | None = None) -> list[Applied]:
        """Apply the payloads accepted so far (at most `limit`), in the order they came, in one batch: each order
        named is read once, every payload about it applied in turn, and every changed copy written in one go (on a
        busy database, one write rather than one a webhook). What each payload did."""
        async with self._applying:  # the applier and a drain never read-modify-write one order at once
            return await self._apply_pending(limit)

    async def _apply_pending(self, limit: int | None) -> list[Applied]:
        batch: list[tuple[str, Any, list[str], float]] = []
        while self._payloads and (limit is None or len(batch) < limit):
            batch.append(self._payloads.popleft())
        if not batch:
            return []
        try:
            done = await self._apply_batch([(topic, payload, refs) for topic, payload, refs, _came in batch])
        except Exception as exc:  # the database is unreachable: re-read the orders instead
            log.warning("applying %d webhooks to the order mirror failed: %s", len(batch), exc)
            for _topic, _payload, refs, _came in batch:
                for ref in refs:
                    self.request_refresh(ref)
            return [Applied(refreshed=refs) for _topic, _payload, refs, _came in batch]
        now = asyncio.get_running_loop().time()
        self._apply_lags.extend(now - came for *_rest, came in batch)
        return done

    async def apply_webhook(self, topic: str, payload: Any, refs: Sequence[str]) -> Applied:
        """One payload applied now (`apply_pending` applies many at once)."""
        (done,) = await self._apply_batch([(topic, payload, list(refs))])
        return done

    async def _apply_batch(self, batch: Sequence[tuple[str, Any, list[str]]]) -> list[Applied]:
        """Write what each payload says into the mirrored copy; queue a re-read for what it cannot say (every topic
        but a carrier event), or for an order it could not be applied to."""
        held: dict[str, MirroredOrder | None] = {}  # by the reference read
        copies: dict[str, MirroredOrder] = {}  # by order id: what each changed order was made from
        changed: dict[str, Order] = {}
        steps: dict[str, list[tuple[str, Any]]] = {}  # by order id: the payloads applied to it, in order
        done: list[Applied] = []
        for topic, payload, refs in batch:
            order_id = next((ref for ref in refs if ref.startswith(ORDER_GID)), None)
            if order_id is not None and order_id not in held:
                held[order_id] = await self.db.mirrored_order(order_id)
            copy = held.get(order_id) if order_id is not None else None
            order = changed.get(copy.order.id, copy.order) if copy is not None else None
            new = _applied(order, topic, payload) if order is not None else None
            if copy is None and order_id is not None and topic != "orders/delete":
                # Not held (a new order): the next batch brings it whole; a lookup before that reads it live.
                self.request_confirm(order_id)
                done.append(Applied(confirming=[order_id]))
                continue
            if copy is None or order is None or new is None:
                for ref in refs:
                    self.request_refresh(ref)
                done.append(Applied(refreshed=list(refs)))
                continue
            copies.setdefault(order.id, copy)
            changed[order.id] = new
            steps.setdefault(order.id, []).append((topic, payload))
            if order.id in self._confirming:
                self._touched.add(order.id)  # the bulk operation may have read Shopify before this change
            if order.id in self._reading:
                # A read by id under way may have left Shopify before this change and would write over it: read again.
                self.request_refresh(order.id)
                done.append(Applied(applied=[order.id], refreshed=[order.id]))
            elif topic != "fulfillment_events/create":
                self.request_confirm(order.id)  # what the payload cannot say, in the next batch
                done.append(Applied(applied=[order.id], confirming=[order.id]))
            else:
                done.append(Applied(applied=[order.id]))
        if changed:
            # Compare-and-swap: a change another worker wrote in between is kept, and these payloads applied on top.
            made = {oid: Change(copies[oid], order, steps[oid]) for oid, order in changed.items()}
            for order_id in await write_changes(self.db, made, _applied):
                self.request_refresh(order_id)
            self.applied += sum(bool(d.applied) for d in done)
        return done

    # --- confirming reads, batched --------------------------------------------------------------------------------
    def request_confirm(self, order_id: str) -> None:
        """Queue an order for the next confirming bulk operation (at most `confirm_window_s` after the oldest wish)."""
        if not self._confirm:
            self._confirm_since = asyncio.get_running_loop().time()
        self._confirm[order_id] = None
        self._confirm_ready.set()

    @property
    def pending_confirms(self) -> frozenset[str]:
        return frozenset(self._confirm)

    async def confirm_pending(self) -> int:
        """Confirm every order queued so far, `CONFIRM_BATCH` to a bulk operation; how many were confirmed (the rest
        were queued for a read by id, or for the next batch)."""
        order_ids, self._confirm = list(self._confirm), {}
        confirmed = 0
        for start in range(0, len(order_ids), CONFIRM_BATCH):
            confirmed += await self._confirm_batch(order_ids[start : start + CONFIRM_BATCH]) or 0
        return confirmed

    async def _confirm_batch(self, order_ids: list[str], *, fallback: bool = True) -> int | None:
        """One bulk operation for these orders, each merged into its copy (`_confirmed`) unless a payload changed the
        copy meanwhile (then it waits for the next batch: the operation may have read Shopify before that change).
        How many were written; when the operation fails, each order is read by id instead (0), or without
        `fallback` nothing is (None)."""
        before = {order_id: await self._synced_at(order_id) for order_id in order_ids}
        self._confirming.update(order_ids)
        try:
            try:
                nodes = await self.confirmer(order_ids)
            except Exception as exc:  # busy, failed, too slow, Shopify unreachable: each order is read by id instead
                if not fallback:
                    log.info("confirming %d mirrored orders in bulk failed (%s)", len(order_ids), exc)
                    return None
                log.info("confirming %d mirrored orders in bulk failed (%s); reading them by id", len(order_ids), exc)
                self.confirm_fallbacks += len(order_ids)
                for order_id in order_ids:
                    self.request_refresh(order_id)
                return 0
            self.confirm_operations += 1
            found = {order.id: order for node in nodes if (order := _parsed(node)) is not None}
            confirmed = await self._merge_confirmed(order_ids, found, before)
            async with self._applying:  # no payload is applied here between the last check and the write
                return await self._store_confirmed(confirmed)
        finally:
            # Only now: a payload applied up to the write must count as one the operation may not have seen.
            self._confirming.difference_update(order_ids)
            self._touched.difference_update(order_ids)

    async def _merge_confirmed(
        self, order_ids: list[str], found: dict[str, Order], before: dict[str, datetime | None]
    ) -> list[tuple[Order, bool, MirroredOrder | None]]:
        """Each confirmed order merged into its copy (`_confirmed`), whether its events are complete, and the copy it
        was merged into (the write is a compare-and-swap over it); an order
        Shopify did not return is queued for a read by id, one written since the operation began for the next batch."""
        confirmed: list[tuple[Order, bool, MirroredOrder | None]] = []
        for order_id in order_ids:
            order = found.get(order_id)
            if order is None:  # deleted, hidden, or not in Shopify's search index yet: the read by id says
                self.confirm_fallbacks += 1
                self.request_refresh(order_id)
                continue
            held = await self.db.mirrored_order(order_id)
            # Written since the operation began (by a payload, here or on another worker): the operation may have
            # read Shopify before that change, so the order waits for the next batch.
            if (held.synced_at if held else None) != before[order_id] or _older(order, held):
                self.request_confirm(order_id)
                continue
            confirmed.append((*_confirmed(held, order), held))
        return confirmed

    async def _store_confirmed(self, confirmed: list[tuple[Order, bool, MirroredOrder | None]]) -> int:
        """Write the confirmed orders but those a payload changed on this worker since they were merged; each by
        compare-and-swap over the copy it was merged into, so another worker's payload written meanwhile is kept."""
        kept = [entry for entry in confirmed if entry[0].id not in self._touched]
        for order, _complete, _held in confirmed:
            if order.id in self._touched:
                self.request_confirm(order.id)
        written = 0
        for complete in (True, False):
            group = [(order, held) for order, events, held in kept if events is complete]
            if group:
                seen = {order.id: held for order, held in group}
                written += await self._store([order for order, _held in group], events_complete=complete, seen=seen)
        self.confirmed += written
        return written

    async def _synced_at(self, order_id: str) -> datetime | None:
        held = await self.db.mirrored_order(order_id)
        return held.synced_at if held is not None else None

    async def _confirm_forever(self) -> None:
        """Confirm in batches: `confirm_window_s` after the oldest wish, everything queued by then goes together."""
        loop = asyncio.get_running_loop()
        while True:
            await self._confirm_ready.wait()
            await asyncio.sleep(max(0.0, self._confirm_since + self.confirm_window_s - loop.time()))
            self._confirm_ready.clear()
            try:
                await self.confirm_pending()
            except Exception:  # the database is unreachable: reconciliation catches up (the stamps are older)
                log.exception("confirming mirrored orders failed")

    # --- optional: carrier events on lookup ------------------------------------------------------------------------
    async def _read_events(self) -> None:
        """Events reads while no refresh waits and the bucket allows (`EVENTS_HIGH_WATER`, `EVENTS_SHARE`)."""
        loop = asyncio.get_running_loop()
        while self._events and not self._pending and self._room_for_events(loop.time()):
            order_id = next(iter(self._events))
            self._events.pop(order_id)
            try:
                await self.read_events(order_id)
            except Exception as exc:  # optional: the next lookup wishes again
                log.info("events read of a mirrored order failed: %s", exc)

    def _room_for_events(self, now: float) -> bool:
        if now < self._events_paced_until:
            return False
        level = self.bucket_level()
        return level is None or level[0] >= EVENTS_HIGH_WATER * level[1]

    def _pace_events(self) -> None:
        level = self.bucket_level()
        # Restore rate is not reported by bucket_level; Shopify's buckets hold 20 seconds of it (shopify.md, 3.1).
        restore = level[1] / 20 if level else 100.0
        loop = asyncio.get_running_loop()
        self._events_paced_until = loop.time() + EVENTS_READ_POINTS / (EVENTS_SHARE * restore)

    async def read_events(self, order_id: str) -> bool:
        """Read a held order's packages' events and items and store them into the copy; when the order changed
        since the copy, or a page was not enough, read it whole instead. Whether anything was read."""
        if order_id in self._confirm or order_id in self._confirming:
            return False  # its confirmation comes first (a lookup after it wishes again)
        held = await self.db.mirrored_order(order_id)
        if held is None or held.events_complete or _unconfirmed(held):
            return False  # a payload moved the copy past its stamp: its confirmation (lost?) or reconciliation first
        self._pace_events()
        node = await self.events_reader(order_id)
        self.events_read += 1
        merged = _with_events(held, node) if node is not None else None
        if merged is None:
            self.request_refresh(order_id)  # changed, or more than a page: the whole order, as a refresh
            return True
        # Made from `held`: over it only, and of its shape (the events read brings no other field).
        await self._store([merged], events_complete=True, seen={order_id: held}, shape=held.shape)
        return True

    async def _order_ids(self, refs: set[str]) -> set[str]:
        """GIDs as they are; names become the ids of the mirrored orders with that name (a name nobody mirrored
        needs no refresh: its first lookup reads it live)."""
        ids = {ref for ref in refs if ref.startswith(ORDER_GID)}
        names = [key for ref in refs - ids if (key := order_key(ref))]
        if names:
            ids.update(await self.db.mirrored_order_ids(names))
        return ids

    async def store_live(self, orders: Sequence[Order]) -> None:
        """Orders a live lookup just read (whole, with their events): kept, so the next lookup is answered here."""
        await self._store(orders, events_complete=True)

    async def _store(
        self,
        orders: Sequence[Order],
        *,
        events_complete: bool,
        seen: dict[str, MirroredOrder | None] | None = None,
        shape: int = MIRROR_SHAPE,
    ) -> int:
        """Keep orders read from Shopify (a redacted one is refused in storage). With `seen` (the copies held before
        they were read), compare-and-swap: an order written meanwhile by another worker is not written over but read
        again (it may hold a change this read predates); one deleted or refused meanwhile stays so."""
        now = self.db.clock()
        if seen is None:
            return await self.db.upsert_mirrored_orders(
                [MirroredOrder(o, o.updated_at or now, events_complete, synced_at=now) for o in orders]
            )
        copies = [
            MirroredOrder(
                o, o.updated_at or now, events_complete, synced_at=now, version=_version(seen.get(o.id)), shape=shape
            )
            for o in orders
        ]
        written = await self.db.swap_mirrored_orders(copies)
        for order in orders:
            if order.id not in written and await self.db.mirrored_order(order.id) is not None:
                self.request_refresh(order.id)
        return len(written)

    # --- backfill and reconciliation -------------------------------------------------------------------------------
    async def backfill(self) -> BackfillResult | None:
        """Mirror every order updated in the last `sync_days` days; None if another worker holds the lease."""
        async with self._lease() as held:
            if not held:
                return None
            return await self._backfill()

    async def _backfill(self) -> BackfillResult:
        started = self.db.clock()
        before = await self.db.order_sync_state()
        # Every record below is of this generation only: a reset while the backfill runs (a reinstall clears the
        # shop's tombstone and asks for a new backfill; shop/redact empties the mirror) must not be written over by
        # this backfill's older outcome (its time would tell reconciliation the mirror is complete from `started`).
        generation = before.generation
        await self._record(
            generation=generation, state="backfilling", backfill_started_at=started, backfilled=0, last_error=None
        )
        written = skipped = 0
        chunk: list[MirroredOrder] = []
        operation = _Operation(self, before, started)
        try:
            since = started - timedelta(days=self.sync_days)
            async for node in self.exporter(since, resume=operation.resume(), on_start=operation.started):
                mirrored = _from_node(node, started)
                if mirrored is None:
                    skipped += 1
                    continue
                chunk.append(mirrored)
                if len(chunk) >= UPSERT_CHUNK:
                    written += await self._write_chunk(chunk, written, generation)
                    chunk = []
            written += await self._write_chunk(chunk, written, generation)
        except Exception as exc:
            # The rows written so far stay (they answer lookups); the state goes back to what it was. An operation
            # that failed, was cancelled or cannot be read is forgotten; one that may still run (Shopify unreachable)
            # stays recorded, for the next backfill to adopt or cancel.
            state = "live" if before.state == "live" else "off"
            ended = _forget_operation() if isinstance(exc, bulk.BulkExportFailed) else {}
            await self._record(generation=generation, state=state, last_error=_error(exc), **ended)
            raise
        finished = self.db.clock()
        # Changes after the result's time reach the mirror by webhook, or by the next reconciliation (which starts
        # there): `started`, or when the backfill that started an adopted operation began.
        recorded = await self._record(
            generation=generation,
            state="live",
            last_sync_at=operation.as_of,
            backfill_finished_at=finished,
            backfilled=written,
            **_forget_operation(),
        )
        if recorded:
            log.info("order mirror: backfilled %d orders (%d unreadable skipped)", written, skipped)
        else:
            log.info("order mirror: reset while %d orders were backfilled: backfilling anew", written)
        return BackfillResult(
            orders=written, skipped=skipped, started_at=started, finished_at=finished, recorded=recorded
        )

    async def _write_chunk(self, chunk: list[MirroredOrder], before: int, generation: int) -> int:
        if not chunk:
            return 0
        await self.db.upsert_mirrored_orders(chunk)
        await self._record(generation=generation, backfilled=before + len(chunk))
        return len(chunk)

    async def reconcile(self) -> int | None:
        """Mirror what Shopify changed since the last sync; how many orders; None if another worker holds the lease
        or the mirror was never backfilled (then there is no "since")."""
        async with self._lease() as held:
            if not held:
                return None
            record = await self.db.order_sync_state()
            if record.last_sync_at is None:
                return None
            started = self.db.clock()
            count = await self._changes_since(record.last_sync_at - RECONCILE_OVERLAP)
            # Of this generation only: after a reset meanwhile, the mirror is to be backfilled, not reconciled.
            await self._record(
                generation=record.generation,
                state="live",
                last_sync_at=started,
                reconciled=record.reconciled + count,
                last_error=None,
            )
            await self.refill_shapes()
            return count

    async def refill_shapes(self, limit: int | None = None) -> int:
        """Read again, as confirmations are (in bulk, by id where that fails), up to `limit` copies of an older shape
        than `MIRROR_SHAPE` (stored before Lumen read a field it reads now: the original total), most recently
        changed first; none while the bucket is under `EVENTS_HIGH_WATER` full. Run by reconciliation, under the
        lease: one worker of all the hosts at a time, a bounded batch a round. How many were confirmed."""
        level = self.bucket_level()
        if level is not None and level[0] < EVENTS_HIGH_WATER * level[1]:
            return 0
        wanted = REFILL_PER_ROUND if limit is None else limit
        busy = self._confirm.keys() | self._confirming
        stale = [i for i in await self.db.stale_mirrored_order_ids(wanted) if i not in busy]
        confirmed = 0
        for start in range(0, len(stale), CONFIRM_BATCH):
            # No reads by id when the operation fails (a failure is not paid for with a read an order): next round.
            done = await self._confirm_batch(stale[start : start + CONFIRM_BATCH], fallback=False)
            if done is None:
                break
            confirmed += done
        self.refilled += confirmed
        if stale:
            log.info("order mirror: %d of %d copies of an older shape read again", confirmed, len(stale))
        return confirmed

    async def _changes_since(self, since: datetime) -> int:
        """Bring up to date every order Shopify changed after `since`, a page of stamps at a time (a page ends at
        `RECONCILE_PAGE`; the next starts from the newest change it held, a second back so orders changed in the same
        second are not skipped): each is read whole, like a lookup reads it, only if the mirror's copy is older (or
        missing). How many orders changed."""
        seen: set[str] = set()
        while True:
            page = await self.stamps(since)
            new = [(order_id, stamp) for order_id, stamp in page if order_id not in seen]
            stale = []
            for order_id, stamp in new:
                if order_id in self._confirm or order_id in self._confirming:
                    continue  # a webhook's payload is in the copy and its confirming read is on its way
                held = await self.db.mirrored_order(order_id)
                if held is None or held.updated_at < stamp:
                    stale.append(order_id)
            # Read as confirmations are, in bulk: most are orders a carrier event changed (applied from its payload,
            # which says nothing of the order's own updatedAt), and the rest cost no more together.
            for start in range(0, len(stale), CONFIRM_BATCH):
                await self._confirm_batch(stale[start : start + CONFIRM_BATCH])
            seen.update(order_id for order_id, _stamp in new)
            if len(page) < RECONCILE_PAGE or not new:
                return len(seen)
            since = max(stamp for _id, stamp in page) - timedelta(seconds=1)

    async def _record(self, *, generation: int | None = None, **values: Any) -> bool:
        return await self.db.update_order_sync(holder=self.holder, generation=generation, **values)

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[bool]:
        """Hold the mirror's lease for the block (renewed while it runs); yields False if another worker has it."""
        if not await self.db.claim_order_sync(self.holder, ttl=self.lease_ttl):
            yield False
            return
        renewal = asyncio.create_task(self._renew(), name="order-sync-lease")
        try:
            yield True
        finally:
            renewal.cancel()
            await asyncio.shield(self.db.release_order_sync(self.holder))

    async def _renew(self) -> None:
        while True:
            await self._lease_pause(self.lease_ttl.total_seconds() / 3)
            try:
                await self.db.claim_order_sync(self.holder, ttl=self.lease_ttl)
            except Exception:  # a database hiccup: the lease runs on, and the next renewal tries again
                log.warning("could not renew the order mirror's lease", exc_info=True)

    # --- the background loop ---------------------------------------------------------------------------------------
    async def run(self) -> None:
        """Backfill if the mirror was never filled, then reconcile every `reconcile_s` and drain refreshes as they
        are queued, until cancelled (the server's lifespan)."""
        drainer = asyncio.create_task(self._drain_forever(), name="order-sync-refresh")
        applier = asyncio.create_task(self._apply_forever(), name="order-sync-apply")
        confirmer = asyncio.create_task(self._confirm_forever(), name="order-sync-confirm")
        tasks = {drainer, applier, confirmer}
        try:
            while True:
                wait = await self._round()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._reconcile_now.wait()
                self._reconcile_now.clear()
        finally:
            # Not awaited directly: their CancelledError is not this task's. Cancelled again while they run: a timeout
            # expiring with the cancellation swallows it on Python 3.11, and a stopping server must not wait forever.
            while not all(task.done() for task in tasks):
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks, timeout=0.5)

    async def _round(self) -> float:
        """One round of upkeep; the seconds until the next."""
        retry = min(RETRY_S, self.reconcile_s)
        try:
            record = await self.db.order_sync_state()
            if record.last_sync_at is None:
                result = await self.backfill()
                if result is None:
                    return retry
                return self.reconcile_s if result.recorded else 0.0  # reset while it ran: again, now
            elapsed = (self.db.clock() - record.last_sync_at).total_seconds()
            if elapsed < self.reconcile_s and not self._reconcile_now.is_set():
                return self.reconcile_s - elapsed
            return self.reconcile_s if await self.reconcile() is not None else retry
        except Exception as exc:
            log.warning("order mirror upkeep failed: %s", exc)
            with contextlib.suppress(Exception):
                await self.db.update_order_sync(last_error=_error(exc))
            return retry

    async def _apply_forever(self) -> None:
        """Payloads are applied as they come, without the refreshes' pause: nothing is read from Shopify here."""
        while True:
            await self._payload_ready.wait()
            self._payload_ready.clear()
            await self.apply_pending()

    async def _drain_forever(self) -> None:
        while True:
            if self._events and not self._pending:
                # Events reads wait for room in the bucket: look again soon, or at once when a refresh is queued.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(EVENTS_RETRY_S):
                        await self._wake.wait()
            else:
                await self._wake.wait()
            if self._pending:
                # A burst of webhooks about one order lands in the queue before it is read.
                await asyncio.sleep(self.refresh_delay_s)
            self._wake.clear()
            try:
                await self.drain()
            except Exception:  # the database is unreachable: the queue was taken; reconciliation catches up
                log.exception("draining order refreshes failed")


class _Operation:
    """One backfill's bulk operation, as the mirror's state records it: the one an earlier backfill left behind is
    offered to the exporter (`resume`: adopted if it began within `ADOPT_MAX_AGE`, else cancelled), and the one read
    from is recorded as soon as it is known (`started`), with the time its result is as of (`as_of`)."""

    def __init__(self, sync: OrderSync, before: OrderSyncRecord, started: datetime) -> None:
        self.sync, self.before, self.started_at = sync, before, started
        self.as_of = started

    def resume(self) -> bulk.Resume | None:
        left, at = self.before.bulk_operation_id, self.before.bulk_operation_at
        if left is None:
            return None
        return bulk.Resume(left, adopt=at is not None and self.started_at - at <= ADOPT_MAX_AGE)

    async def started(self, operation: bulk.BulkOperation, adopted: bool) -> None:
        if adopted and operation.id == self.before.bulk_operation_id and self.before.bulk_operation_at is not None:
            self.as_of = self.before.bulk_operation_at  # recorded when the backfill that started it began
        elif adopted:
            # Named by Shopify's refusal to start another: as of when Shopify created it, if that was earlier.
            self.as_of = min(self.started_at, operation.created_at or self.started_at)
        await self.sync._record(
            generation=self.before.generation, bulk_operation_id=operation.id, bulk_operation_at=self.as_of
        )


def _forget_operation() -> dict[str, Any]:
    return {"bulk_operation_id": None, "bulk_operation_at": None}


def _from_node(node: dict[str, Any], read_at: datetime) -> MirroredOrder | None:
    """A backfilled order node as the mirror keeps it; None for a node Lumen cannot read (logged, never fatal)."""
    try:
        order = parse_order(node)
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        log.warning("order mirror: skipped an order node that cannot be read: %s", exc)
        return None
    # A bulk export marks its nodes as lacking carrier events (`shopify.bulk.events_complete`).
    return MirroredOrder(order, order.updated_at or read_at, bulk.events_complete(node), synced_at=read_at)


def _applied(order: Order, topic: str, payload: Any) -> Order | None:
    """The order as the webhook's payload says it is now; None when the payload cannot be applied to it."""
    if topic == "fulfillment_events/create":
        event = event_change(payload)
        return apply_event(order, event) if event is not None else None
    if topic in ("fulfillments/create", "fulfillments/update"):
        package = fulfillment_change(payload)
        return apply_fulfillment(order, package) if package is not None else None
    if topic.startswith("orders/") and topic != "orders/delete":
        state = order_change(payload)
        return apply_order(order, state) if state is not None else None
    return None


def _parsed(node: dict[str, Any]) -> Order | None:
    try:
        return parse_order(node)
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        log.warning("order mirror: a confirmed order node cannot be read: %s", exc)
        return None


# Package display statuses that are also carrier events' statuses (Shopify's FulfillmentDisplayStatus and
# FulfillmentEventStatus): when a package's is one of these, its newest event should say the same.
_SCANNED = frozenset(
    {"IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "ATTEMPTED_DELIVERY", "DELAYED", "FAILURE", "CARRIER_PICKED_UP",
     "PICKED_UP", "READY_FOR_PICKUP"}
)  # fmt: skip


def _unconfirmed(held: MirroredOrder) -> bool:
    """Whether an `orders/*` payload moved the copy past the version last read whole (its stamp)."""
    return held.order.updated_at is not None and held.order.updated_at > held.updated_at


def _older(order: Order, held: MirroredOrder | None) -> bool:
    """Whether Shopify's answer is older than what the copy already says (an orders/* payload moved its updatedAt)."""
    ours = held.order.updated_at if held is not None else None
    return ours is not None and order.updated_at is not None and order.updated_at < ours


def _lacks_events(package: Fulfillment) -> bool:
    """A package on its way with no carrier event held (as `sync.mirror` wishes events for), or one whose status, as
    Shopify now says it, is a carrier's scan the events held do not end with (its webhook was lost)."""
    if not package.events:
        return package.status == "SUCCESS" and package.delivered_at is None and package.display_status != "DELIVERED"
    newest = max(package.events, key=lambda e: e.happened_at)
    return package.display_status in _SCANNED and package.display_status != newest.status


def _confirmed(held: MirroredOrder | None, order: Order) -> tuple[Order, bool]:
    """A confirmed order (a bulk row: no carrier events, no per-package items) with the events and items its copy held
    for each package, and whether its events are complete: as the copy's were, unless a package on its way has none
    (a package new since the last whole read): then a lookup may wish for them (`request_events`)."""
    packages = {p.id: p for p in held.order.fulfillments if p.id} if held is not None else {}
    merged = []
    for package in order.fulfillments:
        kept = packages.get(package.id or "")
        if kept is not None:
            package = package.model_copy(update={"events": kept.events, "items": package.items or kept.items})
        merged.append(package)
    complete = (held is None or held.events_complete) and not any(_lacks_events(p) for p in merged)
    return order.model_copy(update={"fulfillments": merged}), complete


def _with_events(held: MirroredOrder, node: dict[str, Any]) -> Order | None:
    """The held order with the events and items of `node` (`ORDER_EVENTS_QUERY`); None when the order changed since
    the copy (its updatedAt), a package is missing, or a page did not hold everything."""
    order = held.order
    try:
        stamp = _STAMP.validate_python(node.get("updatedAt"))
    except ValidationError:
        return None
    listed = [f for f in node.get("fulfillments") or [] if isinstance(f, dict)]
    count = (node.get("fulfillmentsCount") or {}).get("count")
    if stamp != order.updated_at or not isinstance(count, int) or count > len(listed):
        return None
    read = {}
    for raw in listed:
        items = raw.get("fulfillmentLineItems") or {}
        if (items.get("pageInfo") or {}).get("hasNextPage") or not isinstance(raw.get("id"), str):
            return None
        read[raw["id"]] = parse_fulfillment(raw)
    packages = []
    for package in order.fulfillments:
        found = read.get(package.id or "")
        if found is None:
            return None
        packages.append(package.model_copy(update={"events": found.events, "items": found.items or package.items}))
    return order.model_copy(update={"fulfillments": packages})


def _version(held: MirroredOrder | None) -> int | None:
    return held.version if held is not None else None


def _round(seconds: float) -> float:
    return round(seconds, 3)


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
