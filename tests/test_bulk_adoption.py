"""A backfill's bulk operation outlives a worker killed mid-backfill: the next worker finds it and adopts or cancels it.

The operation's id is recorded in the mirror's state (`order_sync`) as soon as Shopify starts it. A worker killed
outright cannot cancel it, and it holds one of the app's bulk slots (the only one before API 2026-01, as the fake is
told here: `bulk_query_limit = 1`, so a new `bulkOperationRunQuery` would be refused with OPERATION_IN_PROGRESS). The
next worker to take the mirror's lease polls it with `bulkOperation(id:)`: recent, it adopts its result (downloaded
without the Admin token) as of the time the first backfill began; too old, it cancels it (`bulkOperationCancel`) and
starts afresh. A run refused because one is running adopts the one Shopify names the same way. The fake Shopify runs
every operation over real sockets, on SQLite and on the PostgreSQL the suite starts. Killing is a worker that never
polls again (its polls wait for ever) while its lease runs out on the test's clock.
"""

# ruff: noqa: F811
# The mirror's harness: fixtures and helpers (imported fixtures are this module's too: hence F811 off here).
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from evals.fakes.shopify_admin import CLIENT_ID, CLIENT_SECRET, FakeShopify
from shopify import bulk
from shopify.client import ShopifyAdmin
from storage import Database
from sync import OrderSync
from sync.service import ADOPT_MAX_AGE, LEASE_TTL
from tests.fixtures import TOKEN, Clock
from tests.mirror_harness import Upstream, db, demo_server, live_client, store  # noqa: F401

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


class Polls:
    """The bulk polls of one worker: each is counted, and with `stuck` waits for ever (a worker killed outright
    polls no more), setting `polling` first."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.stuck = stuck
        self.polling = asyncio.Event()
        self.count = 0

    async def __call__(self, _seconds: float) -> None:
        self.count += 1
        self.polling.set()
        if self.stuck:
            await asyncio.Event().wait()
        await asyncio.sleep(0)


def worker(db: Database, fake: FakeShopify, polls: Polls, *, records: bool = True) -> OrderSync:
    """A worker whose backfill is a real bulk operation on the fake; without `records` it never learns the id
    (killed between Shopify's answer and the write of its id)."""
    admin = live_client(fake)
    upstream = Upstream(fake)

    def export(
        since: datetime, *, resume: bulk.Resume | None = None, on_start: bulk.OnStart | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        told = on_start if records else None
        return bulk.export_orders(admin, since, poll_s=1.0, sleep=polls, resume=resume, on_start=told)

    return OrderSync(
        db,
        admin,
        exporter=export,
        reader=upstream.read,
        stamps=upstream.stamps,
        events_reader=upstream.read_events,
        confirmer=upstream.confirm,
        bucket_level=upstream.bucket_level,
        sync_days=3650,  # the demo store's orders are months older than the test's clock
        owns_admin=True,
    )


def sent(fake: FakeShopify, field: str) -> list[dict[str, Any]]:
    return [body.get("variables") or {} for body in fake.received if f"{field}(" in body["query"]]


@contextlib.asynccontextmanager
async def killed_mid_backfill(db: Database, fake: FakeShopify, *, records: bool = True) -> AsyncIterator[str]:
    """A worker whose backfill started its operation and then polled no more, as if killed; the operation's id. Its
    task is left hanging, cancelled only once the test is done (a cancelled export cancels its operation: a killed
    worker cannot)."""
    polls = Polls(stuck=True)
    first = worker(db, fake, polls, records=records)
    task = asyncio.create_task(first.backfill())
    try:
        await polls.polling.wait()  # Shopify started it (and, with `records`, its id was written) before the poll
        (operation,) = fake.bulk_operations
        yield operation.id
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await first.aclose()


async def next_worker_backfills(db: Database, fake: FakeShopify, clock: Clock, after: timedelta) -> OrderSync:
    """`after` later (past the killed worker's lease), another worker backfills."""
    clock.advance(seconds=after.total_seconds())
    second = worker(db, fake, Polls())
    result = await second.backfill()
    assert result is not None and result.recorded  # it took the lease the killed worker held
    return second


async def test_a_backfill_records_its_operation_while_it_runs_and_forgets_it_when_done(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    seen: list[tuple[str | None, datetime | None]] = []
    polls = Polls()
    sync_ = worker(db, store, polls)

    async def poll(seconds: float) -> None:
        state = await db.order_sync_state()
        seen.append((state.bulk_operation_id, state.bulk_operation_at))
        await Polls.__call__(polls, seconds)

    sync_.exporter = _with_sleep(sync_, poll)
    try:
        result = await sync_.backfill()
    finally:
        await sync_.aclose()
    assert result is not None and result.orders == len(store.orders)
    (operation,) = store.bulk_operations
    assert seen and set(seen) == {(operation.id, clock())}  # recorded before the first poll, with the backfill's start
    state = await db.order_sync_state()
    assert (state.bulk_operation_id, state.bulk_operation_at, state.last_sync_at) == (None, None, clock())


def _with_sleep(sync_: OrderSync, sleep: Any) -> Any:
    admin = sync_.admin

    def export(
        since: datetime, *, resume: bulk.Resume | None = None, on_start: bulk.OnStart | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        return bulk.export_orders(admin, since, poll_s=1.0, sleep=sleep, resume=resume, on_start=on_start)

    return export


async def test_the_next_worker_adopts_the_operation_a_killed_worker_left_running(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    store.bulk_query_limit = 1  # one slot: a new run would be refused while the orphan runs
    started = clock()
    async with killed_mid_backfill(db, store) as orphan:
        assert (await db.order_sync_state()).bulk_operation_id == orphan
        second = await next_worker_backfills(db, store, clock, LEASE_TTL + timedelta(seconds=1))
        await second.aclose()
        assert sent(store, "bulkOperation") and sent(store, "bulkOperation")[-1] == {"id": orphan}
    # One operation in all: the orphan's result was read, no second one was started (none refused either).
    assert len(sent(store, "bulkOperationRunQuery")) == 1 and [op.id for op in store.bulk_operations] == [orphan]
    assert store.bulk_operations[0].status == "COMPLETED"
    assert await db.count_mirrored_orders() == len(store.orders)
    (download,) = store.downloads
    assert "x-shopify-access-token" not in download and TOKEN not in " ".join(download.values())
    state = await db.order_sync_state()
    # As of when the killed worker's backfill began: what changed since is for reconciliation to bring.
    assert (state.state, state.last_sync_at, state.bulk_operation_id) == ("live", started, None)


async def test_the_next_worker_adopts_a_completed_operation_without_running_another(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    started = clock()
    async with killed_mid_backfill(db, store) as orphan:
        admin = live_client(store)
        try:  # time passes on Shopify: the orphan completes with nobody polling it (the fake steps on each request)
            while store.bulk_operations[0].status != "COMPLETED":
                await admin.execute(bulk.BULK_OPERATION_QUERY, {"id": orphan})
        finally:
            await admin.aclose()
        second = await next_worker_backfills(db, store, clock, LEASE_TTL + timedelta(minutes=5))
        await second.aclose()
    assert len(sent(store, "bulkOperationRunQuery")) == 1 and len(store.downloads) == 1
    assert await db.count_mirrored_orders() == len(store.orders)
    assert (await db.order_sync_state()).last_sync_at == started


async def test_an_operation_left_too_long_ago_is_cancelled_and_the_backfill_starts_afresh(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    store.bulk_query_limit = 1
    store.stall_next_bulk()  # the orphan is stuck: it would hold the only slot until Shopify ends it
    async with killed_mid_backfill(db, store) as orphan:
        second = await next_worker_backfills(db, store, clock, ADOPT_MAX_AGE + timedelta(minutes=1))
        await second.aclose()
        assert sent(store, "bulkOperationCancel")[0] == {"id": orphan}
    first, fresh = store.bulk_operations
    assert first.id == orphan and first.status in ("CANCELING", "CANCELED") and fresh.status == "COMPLETED"
    assert await db.count_mirrored_orders() == len(store.orders)
    state = await db.order_sync_state()
    assert (state.last_sync_at, state.bulk_operation_id) == (clock(), None)  # as of the fresh backfill


async def test_an_operation_of_other_fields_is_not_adopted_but_cancelled(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    """The merchant took a scope away since: the orphan's query asks for fields the new one does not (its result
    would not be what a backfill now reads), so it is cancelled rather than adopted."""
    store.bulk_query_limit = 1
    store.stall_next_bulk()
    async with killed_mid_backfill(db, store) as orphan:
        store.grant_scopes(store.scopes - {"read_customers"})
        second = await next_worker_backfills(db, store, clock, LEASE_TTL + timedelta(seconds=1))
        await second.aclose()
        assert sent(store, "bulkOperationCancel")[0] == {"id": orphan}
    assert len(store.bulk_operations) == 2 and store.bulk_operations[1].status == "COMPLETED"
    assert (await db.order_sync_state()).last_sync_at == clock()


async def test_a_run_refused_because_an_unrecorded_operation_runs_adopts_the_one_shopify_names(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    """Killed between Shopify's answer and the write of the id: nothing is recorded, and the next run is refused
    (OPERATION_IN_PROGRESS names the operation running); that one is adopted as a recorded one is."""
    store.bulk_query_limit = 1
    async with killed_mid_backfill(db, store, records=False) as orphan:
        assert (await db.order_sync_state()).bulk_operation_id is None
        second = await next_worker_backfills(db, store, clock, LEASE_TTL + timedelta(seconds=1))
        await second.aclose()
    assert len(sent(store, "bulkOperationRunQuery")) == 2  # the orphan's, and the refused one
    assert [op.id for op in store.bulk_operations] == [orphan] and store.bulk_operations[0].status == "COMPLETED"
    assert await db.count_mirrored_orders() == len(store.orders)
    state = await db.order_sync_state()
    assert state.last_sync_at is not None and state.last_sync_at <= clock() and state.bulk_operation_id is None


async def test_a_refusal_naming_a_confirming_read_is_waited_out_not_adopted(
    admin: ShopifyAdmin, store: FakeShopify
) -> None:
    """What Shopify names may be any of the app's operations: a confirming read (`id:1 OR ...`) is no backfill."""
    store.bulk_query_limit = 1
    order_id = store.orders[0]["id"]
    query = bulk.bulk_confirm_query([order_id], None)
    await admin.execute(bulk.BULK_CONFIRM_MUTATION, {"query": query, "group": True})
    polls = Polls()
    nodes = [node async for node in bulk.export_orders(admin, LONG_AGO, poll_s=1.0, sleep=polls)]
    assert len(nodes) == len(store.orders)
    confirming, backfill = store.bulk_operations
    assert confirming.status == "COMPLETED" and backfill.status == "COMPLETED"
    assert sent(store, "bulkOperationCancel") == []


@pytest.fixture
async def admin(store: FakeShopify) -> AsyncIterator[ShopifyAdmin]:
    client = live_client(store)
    yield client
    await client.aclose()


async def test_the_fake_holds_one_bulk_query_for_the_app_whichever_of_its_tokens_started_it(
    admin: ShopifyAdmin, store: FakeShopify
) -> None:
    """Shopify's limit is the app's on the shop: a worker that renewed its token meanwhile is refused as any other,
    in the Admin schema's shape (a BulkOperationUserError naming the one running), and can poll and cancel it."""
    store.bulk_query_limit = 1
    store.stall_next_bulk()  # it runs on while the test looks at it
    query = bulk.bulk_orders_query(LONG_AGO, None)
    started = await admin.execute(bulk.BULK_RUN_MUTATION, {"query": query, "group": True})
    orphan = started["bulkOperationRunQuery"]["bulkOperation"]["id"]
    form = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    async with httpx.AsyncClient() as http:
        renewed = (await http.post(f"{store.base_url}/admin/oauth/access_token", data=form)).json()["access_token"]
    assert renewed != TOKEN
    other = ShopifyAdmin(store.url, renewed, cache_ttl_s=0)
    try:
        refused = (await other.execute(bulk.BULK_RUN_MUTATION, {"query": query, "group": True}))[
            "bulkOperationRunQuery"
        ]
        assert refused == {
            "bulkOperation": None,
            "userErrors": [
                {
                    "field": ["query"],
                    "message": f"A bulk query operation for this app and shop is already in progress: {orphan}.",
                    "code": "OPERATION_IN_PROGRESS",
                }
            ],
        }
        assert (await other.execute(bulk.BULK_OPERATION_QUERY, {"id": orphan}))["bulkOperation"]["id"] == orphan
        assert await bulk.cancel(other, orphan)
    finally:
        await other.aclose()


async def test_a_reset_forgets_the_operation_so_a_reinstall_does_not_adopt_the_previous_installs(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    """shop/redact (and a reinstall after it) resets the mirror: an operation started for the install being reset
    must not be adopted, however recent, by the next install's first backfill."""
    async with killed_mid_backfill(db, store) as orphan:
        assert (await db.order_sync_state()).bulk_operation_id == orphan
        await db.forget_mirrored_orders()
        state = await db.order_sync_state()
        assert (state.state, state.bulk_operation_id, state.bulk_operation_at) == ("off", None, None)
        assert await db.reinstate_shop(clock() + timedelta(seconds=1))
        state = await db.order_sync_state()
        assert (state.bulk_operation_id, state.bulk_operation_at) == (None, None)


# --- an orphan no one recorded, when Shopify's refusal names none (LIMIT_REACHED, API 2026-01 on) ------------------


class Unsticks(Polls):
    """A worker's bulk polls that, on the first, let Shopify finish the stuck operations `unstick` names (time passing
    on Shopify while the worker waits), and give up after `limit` (a test that would wait for ever fails instead)."""

    def __init__(self, fake: FakeShopify, unstick: set[str], limit: int = 50) -> None:
        super().__init__()
        self.fake, self.unstick, self.limit = fake, unstick, limit

    async def __call__(self, seconds: float) -> None:
        with self.fake._state:
            for operation in self.fake.bulk_operations:
                if operation.id in self.unstick:
                    operation.stalled = False
        assert self.count < self.limit, "the backfill waited out the app's bulk slots"
        await super().__call__(seconds)


@contextlib.asynccontextmanager
async def all_slots_taken_by_an_unrecorded_orphan(db: Database, fake: FakeShopify) -> AsyncIterator[None]:
    """Two slots (as if five: the refusal is LIMIT_REACHED, naming no operation): a confirming read of another
    worker's, stuck, and a backfill whose worker was killed before recording its id, stuck too (`killed_mid_backfill`
    with a confirming read already running)."""
    fake.bulk_query_limit = 2
    admin = live_client(fake)
    try:
        fake.stall_next_bulk()
        query = bulk.bulk_confirm_query([fake.orders[0]["id"]], None)
        await admin.execute(bulk.BULK_CONFIRM_MUTATION, {"query": query, "group": True})
    finally:
        await admin.aclose()
    fake.stall_next_bulk()
    polls = Polls(stuck=True)
    first = worker(db, fake, polls, records=False)
    task = asyncio.create_task(first.backfill())
    try:
        await polls.polling.wait()
        assert len(fake.bulk_operations) == 2
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await first.aclose()


async def test_an_unrecorded_orphan_holding_the_last_slot_is_found_and_adopted(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    """Before: LIMIT_REACHED names no operation, so the orphan was never found: the backfill waited until some slot
    came free, and then ran a second export of the same orders (or, with the orphan stuck, gave up after an hour).
    Now the app's running bulk queries are listed (`bulkOperations(query: "status:running ...")`), the backfill
    among them is adopted, and the other worker's confirming read is left alone."""
    async with all_slots_taken_by_an_unrecorded_orphan(db, store):
        confirming, orphan = store.bulk_operations
        assert (await db.order_sync_state()).bulk_operation_id is None
        clock.advance(seconds=(LEASE_TTL + timedelta(seconds=1)).total_seconds())
        second = worker(db, store, Unsticks(store, {orphan.id}))
        try:
            result = await second.backfill()
        finally:
            await second.aclose()
        assert result is not None and result.recorded
        assert sent(store, "bulkOperationCancel") == []  # (the killed worker's task, ended below, cancels)
    assert [op.id for op in store.bulk_operations] == [confirming.id, orphan.id]  # no second export started
    assert orphan.status == "COMPLETED" and confirming.status == "RUNNING"
    assert sent(store, "bulkOperations") == [{"q": bulk.RUNNING_SEARCH}]
    assert await db.count_mirrored_orders() == len(store.orders)
    state = await db.order_sync_state()
    assert state.last_sync_at is not None and state.last_sync_at <= clock() and state.bulk_operation_id is None


async def test_an_unrecorded_orphan_of_other_fields_is_found_and_cancelled(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    """The merchant took a scope away since the orphan started: its result is not what a backfill now reads, so it is
    cancelled, its slot comes free and a fresh export runs. Before: both stuck operations held their slots, and the
    backfill waited until it gave up."""
    async with all_slots_taken_by_an_unrecorded_orphan(db, store):
        confirming, orphan = store.bulk_operations
        store.grant_scopes(store.scopes - {"read_customers"})
        clock.advance(seconds=(LEASE_TTL + timedelta(seconds=1)).total_seconds())
        second = worker(db, store, Unsticks(store, set()))
        try:
            result = await second.backfill()
        finally:
            await second.aclose()
        assert result is not None and result.recorded
        assert sent(store, "bulkOperationCancel") == [{"id": orphan.id}]
    _, _, fresh = store.bulk_operations
    assert orphan.status == "CANCELED" and confirming.status == "RUNNING" and fresh.status == "COMPLETED"
    assert (await db.order_sync_state()).last_sync_at == clock()


async def test_the_fake_lists_the_apps_bulk_operations_in_shopifys_shape(
    admin: ShopifyAdmin, store: FakeShopify
) -> None:
    """`bulkOperations(first:, query:)` as the 2026-07 schema has it: the app's operations, newest first, filtered
    by `status` and `operation_type` (lowercase values); what `shopify.bulk` sends is what is answered."""
    store.stall_next_bulk()
    query = bulk.bulk_orders_query(LONG_AGO, None)
    stuck = (await admin.execute(bulk.BULK_RUN_MUTATION, {"query": query, "group": True}))["bulkOperationRunQuery"]
    done = (await admin.execute(bulk.BULK_RUN_MUTATION, {"query": query, "group": True}))["bulkOperationRunQuery"]
    while store.bulk_operations[1].status != "COMPLETED":
        await admin.execute(bulk.BULK_OPERATION_QUERY, {"id": done["bulkOperation"]["id"]})
    running = await admin.execute(bulk.BULK_RUNNING_QUERY, {"q": bulk.RUNNING_SEARCH})
    (node,) = running["bulkOperations"]["nodes"]
    assert node["id"] == stuck["bulkOperation"]["id"] and node["status"] == "RUNNING" and node["query"] == query
    listing = "query { bulkOperations(first: 5) { nodes { id status } } }"
    newest_first = (await admin.execute(listing))["bulkOperations"]["nodes"]
    assert [n["id"] for n in newest_first] == [op.id for op in reversed(store.bulk_operations)]
    completed = 'query { bulkOperations(first: 5, query: "status:completed") { nodes { id } } }'
    assert (await admin.execute(completed))["bulkOperations"]["nodes"] == [{"id": done["bulkOperation"]["id"]}]
