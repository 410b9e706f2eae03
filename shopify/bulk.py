"""Every order changed since a time, through one Shopify bulk operation: the order mirror's backfill.

A bulk query has no cost limit but its own rules, which shape the query: connections are written `edges { node }`; at
most five of them, nested at most two deep; none inside a list field (so nothing under `Order.fulfillments`, a plain
list: no carrier events, no per-package items); and a field the token's scopes may not read fails the whole
operation, so the query is built from the granted scopes. The operation is polled with `bulkOperation(id:)`
(`currentBulkOperation` is deprecated in 2026-07), and its JSONL result is downloaded from a signed storage link with
a client of its own that never carries the Admin token.

Each order comes out in the shape `shopify.domain.parse_order` reads (connections as `{"nodes": [...]}`), marked
`"_lumen": {"events_complete": False}`: its packages have their own fields (status, display status, tracking,
in-transit, estimated and delivered times, service, location) but no carrier events and no per-package items. A
per-order read (`ShopifyAdmin.order_node_by_id`) fills them in when a question needs them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

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
# A mutation costs 10 points, a bulk operation's status 1: nothing like an orders query's estimate.
COST_ESTIMATES.setdefault(BULK_RUN_MUTATION, 10)
COST_ESTIMATES.setdefault(BULK_OPERATION_QUERY, 1)

_RUNNING = frozenset({"CREATED", "RUNNING", "CANCELING"})
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


def bulk_orders_query(updated_since: datetime, scopes: frozenset[str] | None) -> str:
    """The query a bulk operation runs: every order updated after `updated_since`, with the fields Lumen reads that
    `scopes` may read (None: assume every scope). Three connections (orders, line items, fulfillment orders), nested
    two deep; packages with their own fields only, because `fulfillments` is a list and a connection (events, items)
    under a list is refused. `__typename` tells the two kinds of child line apart in the JSONL."""
    fulfillment_orders = (
        f"fulfillmentOrders {{ edges {{ node {{ __typename {FULFILLMENT_ORDER_FIELDS} }} }} }} "
        if may_read_fulfillment_orders(scopes)
        else ""
    )
    search = f"updated_at:>'{search_time(updated_since)}'"
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


# Every document the export sends (the bulk query with every field), for the schema and scope tests.
BULK_DOCUMENTS = (BULK_RUN_MUTATION, BULK_OPERATION_QUERY, bulk_orders_query(datetime(2026, 1, 1), None))


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
        )


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
) -> AsyncIterator[dict[str, Any]]:
    """Every order updated after `updated_since`, one node at a time, as `parse_order` reads them.

    Raises BulkExportFailed when the operation fails, is canceled, is refused, takes longer than `max_wait_s`
    (counting the waits asked of `sleep`) or its download breaks off (orders already yielded stay good), and
    OrderSourceError when Shopify cannot be reached. Another bulk query already running (OPERATION_IN_PROGRESS) is
    waited out.
    `group_objects` asks Shopify to put each order's child lines right after it, so an order is complete, and
    yielded, as soon as the next one starts: memory stays at one order whatever the store's size. Shopify warns that
    grouping makes operations slower; without it every order is held until the file ends.
    """
    await admin.check()  # the scopes granted now, not when the client started: a denied field fails everything
    since = export_window(admin, updated_since)
    query = bulk_orders_query(since, admin.granted_scopes)
    waited = _Waited(sleep, max_wait_s)
    operation = await _start(admin, query, group_objects, waited, poll_s)
    finished = await _finish(admin, operation, waited, poll_s)
    log.info(
        "Shopify: bulk export %s finished: %d orders, %d objects", finished.id, finished.root_object_count,
        finished.object_count,
    )  # fmt: skip
    if finished.url is None:
        return  # Shopify gives no file when nothing matched
    async for node in _orders_from(finished.url, grouped=group_objects, http=http):
        yield node


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


async def _start(admin: ShopifyAdmin, query: str, group: bool, waited: _Waited, poll_s: float) -> BulkOperation:
    """Start the bulk query, waiting while another bulk query of this app runs (one at a time per shop)."""
    while True:
        data = await admin.execute(BULK_RUN_MUTATION, {"query": query, "group": group})
        payload = data.get("bulkOperationRunQuery") or {}
        errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
        if any(e.get("code") == "OPERATION_IN_PROGRESS" for e in errors):
            log.info("Shopify: another bulk query is running; waiting %.1fs to start the order export", poll_s)
            await waited(poll_s, "waited for another bulk query to finish")
            continue
        if errors:
            first = errors[0]
            raise BulkExportFailed(str(first.get("code") or "INVALID"), str(first.get("message") or first))
        node = payload.get("bulkOperation")
        if not isinstance(node, dict) or not node.get("id"):
            raise BulkExportFailed("INVALID", "Shopify started no bulk operation")
        return BulkOperation.parse(node)


async def _finish(admin: ShopifyAdmin, operation: BulkOperation, waited: _Waited, poll_s: float) -> BulkOperation:
    """Poll `bulkOperation(id:)` until the operation is no longer running."""
    while operation.status in _RUNNING:
        await waited(poll_s, f"bulk operation {operation.id} ran")
        node = (await admin.execute(BULK_OPERATION_QUERY, {"id": operation.id})).get("bulkOperation")
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
