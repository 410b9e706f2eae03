"""The fake Shopify of the Black Friday benchmark, in a process of its own, and the order changes it makes.

The fake runs apart from the load generator so neither slows the other's clock readings through the GIL; the two
talk over a multiprocessing pipe. Changes are described by picklable `Change` values and applied in the fake's
process by `FakeShopify.change_order`, which bumps the order's `updatedAt` and posts the webhook Shopify would,
signed with the app's client secret.

Points spent are counted from the fake's own answers (`extensions.cost.actualQueryCost`), so the figure is what
Shopify would have charged, bulk operations included.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from evals.fakes.shopify_admin import FakeShopify

CHANGE_TOPICS = {"ship": "fulfillments/create", "deliver": "fulfillment_events/create", "cancel": "orders/cancelled"}


@dataclass(frozen=True)
class Change:
    """One change to one order: `ship` it with a new tracking number, mark it `deliver`ed, or `cancel` it."""

    kind: str
    order_id: str  # GID
    tracking: dict[str, str] = field(default_factory=dict)  # for `ship`: company, number, url
    at: str = ""  # the store's time of the change (ISO), so the order's own dates stay in its world

    @property
    def topic(self) -> str:
        return CHANGE_TOPICS[self.kind]


@dataclass
class Counters:
    requests: int = 0
    throttled: int = 0
    points: float = 0.0
    queries: int = 0
    webhooks: int = 0
    webhook_failures: int = 0
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    by_operation: dict[str, list[float]] = field(default_factory=dict)


class CountingShopify(FakeShopify):
    """The fake, adding up the points each answer cost (what Shopify's bucket was charged)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.points = 0.0
        self.queries = 0
        self.by_kind: dict[str, list[float]] = {}  # root field -> [queries, points]
        self.by_operation: dict[str, list[float]] = {}  # operation name (LumenOrder, ...) -> [queries, points]
        self._points_lock = threading.Lock()

    def _answer(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = super()._answer(*args, **kwargs)
        cost = ((answer.get("extensions") or {}).get("cost") or {}).get("actualQueryCost")
        query = str(args[0] if args else kwargs.get("query", ""))
        with self._points_lock:
            self.queries += 1
            self.points += float(cost or 0)
            for counted in (self.by_kind.setdefault(_root_field(query), [0, 0.0]),
                            self.by_operation.setdefault(_operation(query), [0, 0.0])):  # fmt: skip
                counted[0] += 1
                counted[1] += float(cost or 0)
        return answer


_ROOT_FIELD = re.compile(r"\{\s*(?:\w+\s*:\s*)?(\w+)")
_OPERATION = re.compile(r"^\s*(?:query|mutation)\s+(\w+)")


def _operation(query: str) -> str:
    """The operation's name (LumenOrder, LumenOrderEvents ...): which of Lumen's reads it was; '?' if unnamed."""
    found = _OPERATION.search(query)
    return found.group(1) if found else "?"


def _root_field(query: str) -> str:
    """The first root field a query asks for (orders, order, bulkOperationRunQuery, shop ...): what it was for."""
    found = _ROOT_FIELD.search(query)
    return found.group(1) if found else "?"


# --- what each change does to an order node -----------------------------------------------------------------------


def _ship(node: dict[str, Any], change: Change) -> None:
    moment = datetime.fromisoformat(change.at)
    for item in node["lineItems"]["nodes"]:
        item["unfulfilledQuantity"] = 0
    for fulfillment_order in node["fulfillmentOrders"]["nodes"]:
        fulfillment_order.update(status="CLOSED", fulfillmentHolds=[], fulfillAt=None)
    shipped = node.setdefault("fulfillments", [])
    created = (moment - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    departed = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    shipped.append(
        {
            "id": f"gid://shopify/Fulfillment/{_numeric(node['id'])}{len(shipped) + 1}",
            "name": f"{node['name']}-F{len(shipped) + 1}",
            "status": "SUCCESS",
            "displayStatus": "IN_TRANSIT",
            "createdAt": created,
            "inTransitAt": departed,
            "deliveredAt": None,
            "estimatedDeliveryAt": (moment + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "service": None,
            "location": None,
            "trackingInfo": [dict(change.tracking)],
            "fulfillmentLineItems": {"nodes": [
                {"quantity": li["quantity"], "lineItem": {"name": li["name"]}} for li in node["lineItems"]["nodes"]
            ]},
            "events": {"nodes": [
                {"status": "IN_TRANSIT", "happenedAt": departed, "message": "Departed facility"},
                {"status": "LABEL_PURCHASED", "happenedAt": created, "message": "Shipping label created"},
            ]},
        }
    )  # fmt: skip
    node["displayFulfillmentStatus"] = "FULFILLED"


def _deliver(node: dict[str, Any], change: Change) -> None:
    when = datetime.fromisoformat(change.at).strftime("%Y-%m-%dT%H:%M:%SZ")
    for fulfillment in node.get("fulfillments") or []:
        if fulfillment.get("displayStatus") in ("IN_TRANSIT", "OUT_FOR_DELIVERY", "DELAYED"):
            fulfillment.update(displayStatus="DELIVERED", deliveredAt=when, estimatedDeliveryAt=None)
            events = (fulfillment.get("events") or {}).get("nodes") or []
            events.insert(0, {"status": "DELIVERED", "happenedAt": when, "message": "Delivered"})


def _cancel(node: dict[str, Any], change: Change) -> None:
    when = datetime.fromisoformat(change.at).strftime("%Y-%m-%dT%H:%M:%SZ")
    node.update(cancelledAt=when, cancelReason="CUSTOMER", closedAt=when, displayFinancialStatus="REFUNDED")
    for fulfillment_order in node["fulfillmentOrders"]["nodes"]:
        fulfillment_order["status"] = "CANCELLED"
    node["refunds"] = [{"createdAt": when, "totalRefundedSet": node.get("currentTotalPriceSet")}]


MUTATIONS: dict[str, Callable[[dict[str, Any], Change], None]] = {"ship": _ship, "deliver": _deliver, "cancel": _cancel}


def mutation(change: Change) -> Callable[[dict[str, Any]], None]:
    return lambda node: MUTATIONS[change.kind](node, change)


def _numeric(gid: str) -> str:
    return gid.rsplit("/", 1)[-1]


# --- the process -------------------------------------------------------------------------------------------------


async def _apply(fake: CountingShopify, change: Change) -> tuple[float, str]:
    """Apply one change; returns when its webhook left (time.monotonic, the same clock in every process) and an
    error ('' if none)."""
    sent = time.monotonic()
    webhook_id = await fake.change_order(change.order_id, mutation(change), topic=change.topic)
    # The fake records what Lumen answered (Shopify waits 5 s); a refused or failed delivery is a figure to report.
    delivery = next((d for d in reversed(fake.deliveries) if d.webhook_id == webhook_id), None)
    if delivery is None or delivery.status == 200:
        return sent, ""
    first_line = ((delivery.error or f"HTTP {delivery.status}").splitlines() or [""])[0]
    return sent, first_line[:200]


async def _serve(conn: Connection, store_path: str, bucket_size: float, restore_rate: float) -> None:
    fake = CountingShopify(store_path, bucket_size=bucket_size, restore_rate=restore_rate)
    counters = Counters()
    pending: set[asyncio.Task[None]] = set()
    async with fake:
        conn.send(("ready", fake.base_url, fake.shop_domain, fake.oauth.client_id, fake.oauth.client_secret))

        async def change(request_id: int, spec: Change) -> None:
            sent, error = await _apply(fake, spec)
            counters.webhooks += 1
            counters.webhook_failures += bool(error)
            conn.send(("changed", request_id, sent, error))

        while True:
            message = await asyncio.to_thread(conn.recv)
            if message[0] == "stop":
                break
            if message[0] == "target":
                fake.webhook_target(message[1])
            elif message[0] == "stats":
                counters.requests, counters.throttled = fake.requests, fake.throttled
                counters.points, counters.queries = fake.points, fake.queries
                counters.by_kind = {k: list(v) for k, v in fake.by_kind.items()}
                counters.by_operation = {k: list(v) for k, v in fake.by_operation.items()}
                conn.send(("stats", message[1], counters))
            elif message[0] == "change":
                task = asyncio.create_task(change(message[1], message[2]))
                pending.add(task)
                task.add_done_callback(pending.discard)
        await asyncio.gather(*pending, return_exceptions=True)


def serve(conn: Connection, store_path: str, bucket_size: float, restore_rate: float, log_path: str) -> None:
    # The fake's own complaints (a client that hung up mid-request, say) go to a file beside Lumen's log, not into
    # the figures.
    logging.basicConfig(filename=log_path, level=logging.WARNING)
    asyncio.run(_serve(conn, store_path, bucket_size, restore_rate))


@dataclass
class FakeInfo:
    base_url: str
    shop_domain: str
    client_id: str
    client_secret: str


class FakeProcess:
    """The parent's handle: start the fake, send it changes, read its counters. Replies come back on a thread."""

    def __init__(self, store_path: str, *, bucket_size: float, restore_rate: float, log_path: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(
            target=serve,
            args=(child, store_path, bucket_size, restore_rate, log_path),
            name="fake-shopify",
            daemon=True,
        )
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}
        self._ids = 0
        self._send_lock = threading.Lock()
        self.info: FakeInfo | None = None

    def start(self) -> FakeInfo:
        self.process.start()
        ready = self._conn.recv()
        self.info = FakeInfo(*ready[1:])
        threading.Thread(target=self._read, name="fake-replies", daemon=True).start()
        return self.info

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                return
            loop, future = self._waiting.pop(message[1])
            loop.call_soon_threadsafe(future.set_result, message[2:])

    def _send(self, *message: Any) -> None:
        with self._send_lock:
            self._conn.send(message)

    async def _ask(self, kind: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ids += 1
        self._waiting[self._ids] = (loop, future)
        self._send(kind, self._ids, *args)
        return await future

    def set_webhook_target(self, url: str) -> None:
        self._send("target", url)

    async def change(self, spec: Change) -> tuple[float, str]:
        sent, error = await self._ask("change", spec)
        return float(sent), str(error)

    async def counters(self) -> Counters:
        (counters,) = await self._ask("stats")
        assert isinstance(counters, Counters)
        return counters

    def cpu_seconds(self) -> float:
        from bench.proc import cpu_seconds

        return cpu_seconds(self.process.pid or 0)

    def stop(self) -> None:
        if self.process.is_alive():
            self._send("stop")
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()
