"""Every order changed since a time, through one Shopify bulk operation: the order mirror's backfill.

A bulk query has no cost limit but its own rules, which shape the query: connections are written `edges { node }`; at
most five of them, nested at most two deep; none inside a list field (so nothing under `Order.fulfillments`, a plain
list: no carrier events, no per-package items); and a field the token's scopes may not read fails the whole
operation, so the query is built from the granted scopes. The operation is polled with `bulkOperation(id:)`
(`currentBulkOperation` is deprecated in 2026-07), and its JSONL result is downloaded from a signed storage link with
a client of its own that never carries the Admin token. A caller cancelled while its operation runs (the server
stopping) cancels the operation on Shopify before it goes (`bulkOperationCancel`), so the next start finds the
app's bulk slot free; an operation a killed worker left (recorded by the order mirror, or named by Shopify's refusal to
start another) is adopted when it is a backfill of the same fields and window, else cancelled (`export_orders`,
`resume`).

Each order comes out in the shape `shopify.domain.parse_order` reads (connections as `{"nodes": [...]}`), marked
`"_lumen": {"events_complete": False}`: its packages have their own fields (status, display status, tracking,
in-transit, estimated and delivered times, service, location) but no carrier events and no per-package items. A
per-order read (`ShopifyAdmin.order_node_by_id`) fills them in when a question needs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import TypeAdapter, ValidationError

from shopify.auth import ShopifyAuthError
from shopify.client import (
    COST_ESTIMATES,
    FULFILLMENT_ORDER_FIELDS,
    LINE_ITEM_FIELDS,
    ORDER_OWN_FIELDS,
    REFUND_FIELDS,
    SHIPPING_ADDRESS,
    ShopifyAdmin,
    customer_fields,
    fulfillment_own_fields,
    may_read_fulfillment_orders,
    search_time,
)
from shopify.source import OrderSourceError

log = logging.getLogger(__name__)

# Shopify shows orders older than this only to apps granted `read_all_orders`.
ORDER_WINDOW = timedelta(days=60)
EVENTS_INCOMPLETE = {"events_complete": False}

BULK_RUN_MUTATION = (
    "mutation LumenBulkOrders($query: String!, $group: Boolean!) { "
    "bulkOperationRunQuery(query: $query, groupObjects: $group) { "
    "bulkOperation { id status } userErrors { field message code } } }"
)
BULK_OPERATION_QUERY = (
    "query LumenBulkOperation($id: ID!) { bulkOperation(id: $id) { "
    "id status errorCode objectCount rootObjectCount url partialDataUrl createdAt completedAt } }"
)
# The same two documents under their own names for the mirror's confirming reads, so what they cost is told apart
# from the backfill's (the bench splits Shopify's points by operation name).
BULK_CONFIRM_MUTATION = BULK_RUN_MUTATION.replace("LumenBulkOrders", "LumenBulkConfirm")
BULK_CONFIRM_POLL = BULK_OPERATION_QUERY.replace("LumenBulkOperation", "LumenBulkConfirmPoll")
# An operation Lumen gives up on (it ran past its time) is cancelled: left running it would hold one of the app's bulk
# slots on the shop (five since 2026-01, one before) until Shopify ends it, refusing the next confirmations meanwhile.
BULK_CANCEL_MUTATION = (
    "mutation LumenBulkCancel($id: ID!) { bulkOperationCancel(id: $id) { "
    "bulkOperation { id status } userErrors { field message } } }"
)
# An operation found running or finished when a backfill starts (left by a worker killed mid-backfill, recorded in
# the mirror's state, or named by Shopify's refusal to start another): with its query, to tell whether it is a
# backfill Lumen would run now, whose result can be adopted (`export_orders`, `resume`).
BULK_ADOPT_QUERY = (
    "query LumenBulkAdopt($id: ID!) { bulkOperation(id: $id) { "
    "id status errorCode objectCount rootObjectCount url partialDataUrl createdAt completedAt query } }"
)
# The app's bulk queries running on the shop, newest first (`bulkOperations`, 2026-07: filter fields `status`, values
# lowercase, and `operation_type`, terms ANDed; sorted by CREATED_AT, newest first, by default). Asked when Shopify
# refuses a backfill for want of a slot without naming the operation that holds it (LIMIT_REACHED): one a worker
# started and was killed before recording (`order_sync`) is found this way, and adopted or cancelled. As many as the
# app may run at once (five since 2026-01), so the orphan is among them.
BULK_RUNNING_QUERY = (
    "query LumenBulkRunning($q: String!) { bulkOperations(first: 5, query: $q) { nodes { "
    "id status errorCode objectCount rootObjectCount url partialDataUrl createdAt completedAt query } } }"
)
RUNNING_SEARCH = "status:running operation_type:query"
# While a backfill waits for a slot, it looks for an orphan again this often (seconds of waiting): a worker killed
# just before this one started may have left one that only starts running (CREATED to RUNNING) meanwhile.
ORPHAN_LOOK_EVERY_S = 60.0
# A mutation costs 10 points, a bulk operation's status 1: nothing like an orders query's estimate.
for _document, _cost in ((BULK_RUN_MUTATION, 10), (BULK_OPERATION_QUERY, 1), (BULK_CONFIRM_MUTATION, 10),
                         (BULK_CONFIRM_POLL, 1), (BULK_CANCEL_MUTATION, 10), (BULK_ADOPT_QUERY, 1),
                         (BULK_RUNNING_QUERY, 7)):  # fmt: skip
    COST_ESTIMATES.setdefault(_document, _cost)
# What Shopify answers when this app already runs as many bulk queries as it may on the shop: one at a time before
# API version 2026-01 (OPERATION_IN_PROGRESS), five since (LIMIT_REACHED once they are all taken).
BUSY_CODES = frozenset({"OPERATION_IN_PROGRESS", "LIMIT_REACHED"})

_RUNNING = frozenset({"CREATED", "RUNNING", "CANCELING"})
# Shopify's refusal to start another bulk query (OPERATION_IN_PROGRESS) names the one running, by its GID.
_NAMED_OPERATION = re.compile(r"gid://shopify/BulkOperation/\d+")
# A backfill query's search (`bulk_orders_query`): the time is what differs between two backfills' queries.
_SINCE = re.compile(r"updated_at:>'([^']*)'")
_TIME = TypeAdapter(datetime)
# How long a caller cancelled mid-operation (a stopping server) waits for its `bulkOperationCancel`, at most: within
# the server's grace for a background task (server.SHUTDOWN_GRACE_S, 5 s).
STOP_CANCEL_GRACE_S = 3.0
_CONNECTIONS = {"LineItem": "lineItems", "FulfillmentOrder": "fulfillmentOrders"}


def events_complete(node: dict[str, Any]) -> bool:
    """Whether an order node's packages carry their carrier events and items: False for what a bulk export yields,
    True for what a per-order read (`ShopifyAdmin.order_node_by_id`) or a lookup returns."""
    mark = node.get("_lumen")
    return not isinstance(mark, dict) or mark.get("events_complete") is not False


class BulkExportFailed(Exception):
    """The bulk operation could not deliver the orders: Shopify's error code (ACCESS_DENIED, TIMEOUT,
    INTERNAL_SERVER_ERROR, a user-error code, or the final status such as CANCELED) and what it said."""

    def __init__(self, error_code: str, message: str, *, partial_data_url: str | None = None) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.partial_data_url = partial_data_url


class BulkBusy(BulkExportFailed):
    """Shopify ran no bulk query: this app already runs as many as it may on the shop (`BUSY_CODES`)."""

    @property
    def operation_id(self) -> str | None:
        """The operation running, when Shopify's refusal names it (OPERATION_IN_PROGRESS does)."""
        named = _NAMED_OPERATION.search(str(self))
        return named.group(0) if named else None


def bulk_orders_query(updated_since: datetime, scopes: frozenset[str] | None) -> str:
    """The query a bulk operation runs: every order updated after `updated_since`, with the fields Lumen reads that
    `scopes` may read (None: assume every scope). Three connections (orders, line items, fulfillment orders), nested
    two deep; packages with their own fields only, because `fulfillments` is a list and a connection (events, items)
    under a list is refused. `__typename` tells the two kinds of child line apart in the JSONL."""
    return _orders_bulk_query(f"updated_at:>'{search_time(updated_since)}'", scopes)


def bulk_confirm_query(order_ids: Sequence[str], scopes: frozenset[str] | None) -> str:
    """`bulk_orders_query`'s fields for these orders only (`id:1 OR id:2 ...`, Shopify's order search by numeric id):
    the order mirror's batched confirming read of orders that webhooks changed (`confirm_orders`)."""
    numbers = [number for order_id in order_ids if (number := _numeric(order_id)) is not None]
    if not numbers:
        raise ValueError("no order ids to confirm")
    return _orders_bulk_query(" OR ".join(f"id:{n}" for n in numbers), scopes)


def _numeric(order_id: str) -> str | None:
    number = order_id.rsplit("/", 1)[-1]
    return number if number.isascii() and number.isdigit() else None


def _orders_bulk_query(search: str, scopes: frozenset[str] | None) -> str:
    fulfillment_orders = (
        f"fulfillmentOrders {{ edges {{ node {{ __typename {FULFILLMENT_ORDER_FIELDS} }} }} }} "
        if may_read_fulfillment_orders(scopes)
        else ""
    )
    return (
        f"{{ orders(query: {json.dumps(search)}, sortKey: UPDATED_AT) {{ edges {{ node {{ "
        f"{ORDER_OWN_FIELDS}"
        f"{customer_fields(scopes)}"
        f"{SHIPPING_ADDRESS}"
        f"lineItems {{ edges {{ node {{ __typename {LINE_ITEM_FIELDS} }} }} }} "
        f"{fulfillment_orders}"
        f"fulfillments {{ {fulfillment_own_fields(scopes)}trackingInfo {{ company number url }} }} "
        f"refunds {{ {REFUND_FIELDS} }} "
        "} } } }"
    )


# Every document the export and the confirming reads send (their bulk queries with every field), for the schema and
# scope tests.
BULK_DOCUMENTS = (
    BULK_RUN_MUTATION,
    BULK_OPERATION_QUERY,
    BULK_CONFIRM_MUTATION,
    BULK_CONFIRM_POLL,
    BULK_CANCEL_MUTATION,
    BULK_ADOPT_QUERY,
    BULK_RUNNING_QUERY,
    bulk_orders_query(datetime(2026, 1, 1), None),
    bulk_confirm_query(["gid://shopify/Order/1", "gid://shopify/Order/2"], None),
)


@dataclass
class BulkOperation:
    """`BulkOperation` as Shopify reports it."""

    id: str
    status: str
    error_code: str | None = None
    object_count: int = 0
    root_object_count: int = 0
    url: str | None = None
    partial_data_url: str | None = None
    created_at: datetime | None = None
    query: str | None = None  # asked only when an operation is found rather than started (`BULK_ADOPT_QUERY`)

    @classmethod
    def parse(cls, node: dict[str, Any]) -> BulkOperation:
        return cls(
            id=str(node.get("id") or ""),
            status=str(node.get("status") or ""),
            error_code=node.get("errorCode"),
            object_count=int(node.get("objectCount") or 0),
            root_object_count=int(node.get("rootObjectCount") or 0),
            url=node.get("url"),
            partial_data_url=node.get("partialDataUrl"),
            created_at=_time(node.get("createdAt")),
            query=node.get("query") if isinstance(node.get("query"), str) else None,
        )


def _time(value: Any) -> datetime | None:
    try:
        return _TIME.validate_python(value) if value else None
    except ValidationError:
        return None


@dataclass(frozen=True)
class Resume:
    """A bulk operation a backfill left behind (its id, recorded in the mirror's state): `adopt` it if it is still a
    backfill Lumen would run now, else (too old to be worth waiting for or reading) only cancel it if it still runs."""

    operation_id: str
    adopt: bool = True


# Told of the operation a backfill reads from once it is known, before it is waited for: one it started (`adopted`
# False), or one left running or finished that it adopted (True). The order mirror records its id so that a worker
# killed meanwhile leaves the next one something to adopt or cancel.
OnStart = Callable[[BulkOperation, bool], Awaitable[None]]


def export_window(admin: ShopifyAdmin, updated_since: datetime) -> datetime:
    """`updated_since`, or 60 days back if that is further back than the token may see (no `read_all_orders`)."""
    granted = admin.granted_scopes
    oldest = admin.now() - ORDER_WINDOW
    if granted is not None and "read_all_orders" not in granted and updated_since < oldest:
        log.warning(
            "Shopify: backfilling orders updated since %s, not %s: without read_all_orders Shopify shows only the "
            "last 60 days of orders",
            search_time(oldest),
            search_time(updated_since),
        )
        return oldest
    return updated_since


async def export_orders(
    admin: ShopifyAdmin,
    updated_since: datetime,
    *,
    poll_s: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_wait_s: float = 3600.0,
    group_objects: bool = True,
    http: httpx.AsyncClient | None = None,
    resume: Resume | None = None,
    on_start: OnStart | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every order updated after `updated_since`, one node at a time, as `parse_order` reads them.

    A backfill's operation may outlive its worker (killed outright, it cannot cancel it). `resume` names one left
    behind: it is adopted, waited for if it still runs and read if it completed, when it is a backfill of the same
    fields from `updated_since` or earlier (`BULK_ADOPT_QUERY`); otherwise, or when `resume.adopt` is False, it is
    cancelled if it still runs (it holds one of the app's bulk slots) and a new one started. A new one refused because
    another runs adopts the one Shopify names the same way, if it can. `on_start` is told of the operation read from
    before it is waited for (see `OnStart`).

    Raises BulkExportFailed when the operation fails, is canceled, is refused, takes longer than `max_wait_s`
    (counting the waits asked of `sleep`) or its download breaks off (orders already yielded stay good), and
    OrderSourceError when Shopify cannot be reached. Bulk queries all taken (`BUSY_CODES`: another of this app's runs
    and Shopify allows no more) are waited out.
    `group_objects` asks Shopify to put each order's child lines right after it, so an order is complete, and
    yielded, as soon as the next one starts: memory stays at one order whatever the store's size. Shopify warns that
    grouping makes operations slower; without it every order is held until the file ends.
    """
    await admin.check()  # the scopes granted now, not when the client started: a denied field fails everything
    since = export_window(admin, updated_since)
    query = bulk_orders_query(since, admin.granted_scopes)
    waited = _Waited(sleep, max_wait_s)
    operation, adopted = await _backfill_operation(admin, query, since, resume, group_objects, waited, poll_s)
    if on_start is not None:
        await _tell(on_start, admin, operation, adopted)
    finished = await _finish(admin, operation, waited, poll_s)
    log.info(
        "Shopify: bulk export %s finished: %d orders, %d objects", finished.id, finished.root_object_count,
        finished.object_count,
    )  # fmt: skip
    if finished.url is None:
        return  # Shopify gives no file when nothing matched
    async for node in _orders_from(finished.url, grouped=group_objects, http=http):
        yield node


async def confirm_orders(
    admin: ShopifyAdmin,
    order_ids: Sequence[str],
    *,
    poll_s: float = 2.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_wait_s: float = 60.0,
    http: httpx.AsyncClient | None = None,
) -> list[dict[str, Any]]:
    """These orders as they are now, through one bulk operation (`bulk_confirm_query`): what `export_orders` yields,
    for a handful of orders, at the cost of the mutation and its polls however many they are. An order Shopify did
    not return is simply absent (deleted, hidden, or not in its search index yet).

    Raises BulkBusy at once when the app already runs as many bulk queries as Shopify allows (the caller falls back
    to reads by id rather than wait), BulkExportFailed as `export_orders` does (`max_wait_s` bounds the polls), and
    OrderSourceError when Shopify cannot be reached."""
    await admin.shop()  # the granted scopes, as the client last learned them: a denied field fails everything
    query = bulk_confirm_query(order_ids, admin.granted_scopes)
    waited = _Waited(sleep, max_wait_s)
    operation = await _start(admin, query, True, mutation=BULK_CONFIRM_MUTATION)
    finished = await _finish(admin, operation, waited, poll_s, poll=BULK_CONFIRM_POLL)
    if finished.url is None:
        return []
    return [node async for node in _orders_from(finished.url, grouped=True, http=http)]


async def _backfill_operation(
    admin: ShopifyAdmin,
    query: str,
    since: datetime,
    resume: Resume | None,
    group: bool,
    waited: _Waited,
    poll_s: float,
) -> tuple[BulkOperation, bool]:
    """The operation a backfill reads from, and whether it was adopted rather than started: the one left behind when
    it can be adopted, else a new one (the one left behind is cancelled). Refused because one already runs
    (`BUSY_CODES`), the one Shopify names is adopted the same way, once, if it can be; a refusal naming none
    (LIMIT_REACHED) has the app's running bulk queries listed (`_orphan`), and a backfill among them that no one
    recorded is adopted or cancelled; otherwise it is waited out (it may be anything this app runs: a confirming read
    ends within a minute, and an operation of a backfill is given up by its own worker; one whose worker was killed
    is the one left behind, recorded or found)."""
    tried: set[str] = set()
    if resume is not None:
        tried.add(resume.operation_id)
        found = await _adopt_or_cancel(admin, resume.operation_id, query, since, adopt=resume.adopt)
        if found is not None:
            return found, True
    look_at = 0.0  # the waiting (seconds) after which the running operations are listed again
    while True:
        try:
            return await _start(admin, query, group), False
        except BulkBusy as busy:
            found = await _named(admin, busy, query, since, tried)
            if found is None and waited.spent_s >= look_at:
                look_at = waited.spent_s + ORPHAN_LOOK_EVERY_S
                found = await _orphan(admin, query, since, tried)
            if found is not None:
                return found, True
            log.info("Shopify: another bulk query is running; waiting %.1fs to start the order export", poll_s)
            await waited(poll_s, "waited for another bulk query to finish")


async def _named(
    admin: ShopifyAdmin, busy: BulkBusy, query: str, since: datetime, tried: set[str]
) -> BulkOperation | None:
    """The operation a refusal names (OPERATION_IN_PROGRESS), if a backfill may read from it; asked once."""
    named = busy.operation_id
    if named is None or named in tried:
        return None
    tried.add(named)
    return await _adopt_or_cancel(admin, named, query, since, adopt=True, cancel_unusable=False)


async def _orphan(admin: ShopifyAdmin, query: str, since: datetime, tried: set[str]) -> BulkOperation | None:
    """A backfill operation running that no one recorded (its worker was killed between starting it and recording
    its id), found among the app's running bulk queries (`BULK_RUNNING_QUERY`): adopted if a backfill may read from
    it (a stuck one is then given up, and cancelled, when the export's wait runs out, as one started is), else
    cancelled, so its slot comes free. This worker holds the mirror's lease, so no live worker runs a backfill;
    operations of other shapes (confirming reads, `id:1 OR ...`, which end or are cancelled within a minute) are left
    alone."""
    data = await admin.execute(BULK_RUNNING_QUERY, {"q": RUNNING_SEARCH})
    nodes = ((data.get("bulkOperations") or {}).get("nodes")) or []
    for node in nodes:
        operation = BulkOperation.parse(node) if isinstance(node, dict) else None
        if operation is None or operation.id in tried or not _is_backfill(operation.query):
            continue
        tried.add(operation.id)
        if operation.status in ("CREATED", "RUNNING") and _same_backfill(operation.query, query, since):
            log.info("Shopify: adopting bulk operation %s, a backfill no one recorded", operation.id)
            return operation
        log.info("Shopify: cancelling bulk operation %s, a backfill no one recorded: not adoptable", operation.id)
        await cancel(admin, operation.id)
    return None


def _is_backfill(found: str | None) -> bool:
    """Whether an operation's query is a backfill's (`bulk_orders_query`: orders updated since a time)."""
    return found is not None and _SINCE.search(found) is not None


async def _adopt_or_cancel(
    admin: ShopifyAdmin, operation_id: str, query: str, since: datetime, *, adopt: bool, cancel_unusable: bool = True
) -> BulkOperation | None:
    """The operation, if a backfill may read from it: still running or completed, and a backfill of the same fields
    as `query` from `since` or earlier (its result then holds every order this one would). One that may not (or with
    `adopt` False) is cancelled if it still runs (unless `cancel_unusable` is False), and None returned; None too for
    one Shopify no longer knows."""
    node = (await admin.execute(BULK_ADOPT_QUERY, {"id": operation_id})).get("bulkOperation")
    if not isinstance(node, dict):
        return None
    operation = BulkOperation.parse(node)
    usable = operation.status in ("CREATED", "RUNNING", "COMPLETED") and _same_backfill(operation.query, query, since)
    if adopt and usable:
        log.info("Shopify: adopting bulk operation %s (%s) left by an earlier backfill", operation.id, operation.status)
        return operation
    if cancel_unusable and operation.status in ("CREATED", "RUNNING"):
        log.info("Shopify: cancelling bulk operation %s left by an earlier backfill: not adoptable", operation.id)
        await cancel(admin, operation.id)
    return None


def _same_backfill(found: str | None, query: str, since: datetime) -> bool:
    """Whether an operation's query is `query` but for its time, and that time is `since` or earlier: a confirming
    read (`id:1 OR ...`), a query of other fields (the granted scopes changed) or a shorter window is not."""
    if found is None or (named := _SINCE.search(found)) is None:
        return False
    found_since = _time(named.group(1))
    return found_since is not None and found_since <= since and _SINCE.sub("", found) == _SINCE.sub("", query)


async def _tell(on_start: OnStart, admin: ShopifyAdmin, operation: BulkOperation, adopted: bool) -> None:
    """`on_start`; when it fails (the server stopping, the database unreachable) the operation is cancelled, as one
    whose export goes is (`_finish`)."""
    try:
        await on_start(operation, adopted)
    except asyncio.CancelledError:
        await _cancel_on_the_way_out(admin, operation.id)
        raise
    except Exception:
        await cancel(admin, operation.id)
        raise


@dataclass
class _Waited:
    """The waits one export has asked for, against its limit."""

    sleep: Callable[[float], Awaitable[None]]
    limit_s: float
    spent_s: float = 0.0

    async def __call__(self, seconds: float, what: str) -> None:
        if self.spent_s + seconds > self.limit_s:
            raise BulkExportFailed("TIMEOUT", f"{what} for longer than {self.limit_s:g}s")
        self.spent_s += seconds
        await self.sleep(seconds)


async def _start(admin: ShopifyAdmin, query: str, group: bool, *, mutation: str = BULK_RUN_MUTATION) -> BulkOperation:
    """Start the bulk query; BulkBusy while this app runs as many bulk queries as Shopify allows (`BUSY_CODES`)."""
    data = await _run(admin, mutation, {"query": query, "group": group})
    payload = data.get("bulkOperationRunQuery") or {}
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
    busy = next((e for e in errors if e.get("code") in BUSY_CODES), None)
    if busy is not None:
        raise BulkBusy(str(busy.get("code")), str(busy.get("message") or "bulk queries are all taken"))
    if errors:
        first = errors[0]
        raise BulkExportFailed(str(first.get("code") or "INVALID"), str(first.get("message") or first))
    node = payload.get("bulkOperation")
    if not isinstance(node, dict) or not node.get("id"):
        raise BulkExportFailed("INVALID", "Shopify started no bulk operation")
    return BulkOperation.parse(node)


async def _finish(
    admin: ShopifyAdmin,
    operation: BulkOperation,
    waited: _Waited,
    poll_s: float,
    *,
    poll: str = BULK_OPERATION_QUERY,
) -> BulkOperation:
    """Poll `bulkOperation(id:)` until the operation is no longer running; one that runs past the time allowed is
    cancelled (`cancel`) before BulkExportFailed("TIMEOUT") is raised, and so is one whose caller is cancelled (the
    server stopping mid-backfill or mid-confirmation: `_cancel_on_the_way_out`)."""
    while operation.status in _RUNNING:
        try:
            await waited(poll_s, f"bulk operation {operation.id} ran")
            node = (await admin.execute(poll, {"id": operation.id})).get("bulkOperation")
        except BulkExportFailed:
            await cancel(admin, operation.id)
            raise
        except asyncio.CancelledError:
            await _cancel_on_the_way_out(admin, operation.id)
            raise
        if not isinstance(node, dict):
            raise BulkExportFailed("INVALID", f"Shopify no longer knows bulk operation {operation.id}")
        operation = BulkOperation.parse(node)
    if operation.status != "COMPLETED":
        code = operation.error_code or operation.status
        hint = " (a field the granted scopes may not read)" if code == "ACCESS_DENIED" else ""
        raise BulkExportFailed(
            code,
            f"bulk operation {operation.id} ended {operation.status}{hint}",
            partial_data_url=operation.partial_data_url,
        )
    return operation


async def _run(admin: ShopifyAdmin, mutation: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Send `bulkOperationRunQuery`. A caller cancelled while it is on its way (the server stopping) cannot tell
    whether Shopify started the operation: it waits for the answer (through further cancellations, within
    `STOP_CANCEL_GRACE_S`) and cancels the operation the answer names, then goes on being cancelled."""
    request = asyncio.ensure_future(admin.execute(mutation, variables))
    request.add_done_callback(_retrieved)
    try:
        return await asyncio.shield(request)
    except asyncio.CancelledError:
        deadline = asyncio.get_running_loop().time() + STOP_CANCEL_GRACE_S
        if not await _outlast(request, deadline):
            request.cancel()
        elif not request.cancelled() and request.exception() is None:
            started = (request.result().get("bulkOperationRunQuery") or {}).get("bulkOperation")
            if isinstance(started, dict) and started.get("id"):
                await _cancel_on_the_way_out(admin, str(started["id"]), deadline)
        raise


async def _cancel_on_the_way_out(admin: ShopifyAdmin, operation_id: str, deadline: float | None = None) -> None:
    """The caller was cancelled (the server is stopping) with this operation running: cancel it on Shopify, or the
    next start finds the app's bulk slot taken ("a bulk query is already running": the backfill waits it out, and
    confirmations fall back to reads by id until Shopify ends it). The request is a task of its own, waited for through
    further cancellations (a stopping server cancels its tasks again every half second) until `deadline` (loop time;
    by default `STOP_CANCEL_GRACE_S` from now, within the server's own grace); the caller's cancellation goes on
    after it."""
    request = asyncio.ensure_future(cancel(admin, operation_id))
    request.add_done_callback(_retrieved)
    if deadline is None:
        deadline = asyncio.get_running_loop().time() + STOP_CANCEL_GRACE_S
    if not await _outlast(request, deadline):
        log.warning("Shopify: bulk operation %s left running: its cancellation took too long", operation_id)
        request.cancel()


async def _outlast(task: asyncio.Future[Any], deadline: float) -> bool:
    """Wait for `task` until `deadline` (loop time), whatever cancellations this task receives meanwhile (its caller
    re-raises its own afterwards); whether it finished."""
    loop = asyncio.get_running_loop()
    while not task.done() and (left := deadline - loop.time()) > 0:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=left)
    return task.done()


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("Shopify: a bulk request failed: %s", task.exception())


async def cancel(admin: ShopifyAdmin, operation_id: str) -> bool:
    """Ask Shopify to cancel a bulk operation Lumen gave up on (`bulkOperationCancel`), so it stops holding one of
    the app's bulk slots; whether Shopify took the request (it may still be CANCELING a moment). Never raises: the
    operation was given up on already, and a cancellation that fails leaves it to end on Shopify's side."""
    try:
        data = await admin.execute(BULK_CANCEL_MUTATION, {"id": operation_id})
    except (OrderSourceError, ShopifyAuthError) as exc:  # unreachable, throttled: giving up is done all the same
        log.warning("Shopify: could not cancel bulk operation %s: %s", operation_id, exc)
        return False
    payload = data.get("bulkOperationCancel") or {}
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
    if errors:  # it ended meanwhile (completed, failed): nothing holds the slot
        log.info("Shopify: bulk operation %s not cancelled: %s", operation_id, errors[0].get("message"))
        return False
    log.info("Shopify: cancelled bulk operation %s", operation_id)
    return True


async def _orders_from(url: str, *, grouped: bool, http: httpx.AsyncClient | None) -> AsyncIterator[dict[str, Any]]:
    """Stream the JSONL and put each order back together from its `__parentId` children."""
    # A client of its own: the URL is a signed storage link, and the Admin token must never travel to it.
    client = http or httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=120.0))
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise BulkExportFailed("DOWNLOAD", f"the bulk result download answered HTTP {response.status_code}")
            assembler = _Assembler(grouped=grouped)
            async for line in response.aiter_lines():
                for node in assembler.add(line):
                    yield node
            for node in assembler.finish():
                yield node
    except httpx.HTTPError as exc:
        raise BulkExportFailed("DOWNLOAD", f"the bulk result download broke off ({type(exc).__name__})") from exc
    finally:
        if http is None:
            await client.aclose()


class _Assembler:
    """Orders from JSONL lines: a root line is an order, a line with `__parentId` a line item or fulfillment order
    of the order with that id (children always come after their parent; grouped, right after it)."""

    def __init__(self, *, grouped: bool) -> None:
        self.grouped = grouped
        self.open: dict[str, dict[str, Any]] = {}  # orders whose children may still come

    def add(self, line: str) -> list[dict[str, Any]]:
        if not line.strip():
            return []
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise BulkExportFailed("DOWNLOAD", f"a line of the bulk result is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise BulkExportFailed("DOWNLOAD", "a line of the bulk result is not an object")
        parent = obj.pop("__parentId", None)
        if parent is None:
            finished = self._close_all() if self.grouped else []
            self.open[str(obj.get("id"))] = _order_node(obj)
            return finished
        self._attach(str(parent), obj)
        return []

    def finish(self) -> list[dict[str, Any]]:
        return self._close_all()

    def _attach(self, parent: str, child: dict[str, Any]) -> None:
        order = self.open.get(parent)
        if order is None:
            # Grouped, a child after the next order means the file was not grouped after all: say so, lose nothing.
            raise BulkExportFailed("DOWNLOAD", f"the bulk result has a child of {parent} away from its order")
        kind = str(child.pop("__typename", ""))
        connection = _CONNECTIONS.get(kind)
        if connection is None:
            raise BulkExportFailed("DOWNLOAD", f"the bulk result has a child Lumen did not ask for ({kind or '?'})")
        order[connection]["nodes"].append(child)

    def _close_all(self) -> list[dict[str, Any]]:
        finished = list(self.open.values())
        self.open.clear()
        return finished


def _order_node(obj: dict[str, Any]) -> dict[str, Any]:
    """A root line as an order node: connections to fill from the child lines, and the mark saying its packages
    carry no carrier events or items."""
    return obj | {"lineItems": {"nodes": []}, "fulfillmentOrders": {"nodes": []}, "_lumen": dict(EVENTS_INCOMPLETE)}
