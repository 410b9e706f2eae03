"""The order mirror's test harness, shared by tests/test_mirror*.py and tests/test_sync_confirm.py: a database on
SQLite and on the PostgreSQL the suite starts (`db`, through `database_url`), the fake Shopify over loopback with the
demo store put back after each test (`store`), the mirror over them (`mirror`: a `MirroredSource` whose `OrderSync`
reads Shopify through `Upstream`, which counts exactly what the mirror asked for), and the webhooks the fake builds,
read and handled as Lumen handles a delivery (`change`, `deliver`, `deliver_later`).

A test module takes the fixtures by importing them (`from tests.mirror_harness import db, demo_server, mirror,
store`): they then override the suite-wide `db` (in memory) and `demo_server` (rate-limited) for that module only.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest

from agent.webhooks import WebhookOutcome, handle_webhook
from bench.fake_process import Change, mutation
from evals.fakes.shopify_admin import ALL_SCOPES, FakeShopify
from shopify import bulk
from shopify.client import ShopifyAdmin
from shopify.domain import Order, parse_order
from shopify.source import parse_now
from shopify.store_file import DEMO_STORE
from shopify.webhooks import Webhook, parse_webhook
from storage import Database
from sync import Applied, MirroredSource, OrderSync
from tests.fixtures import TOKEN, Clock

JORDAN_1042 = "gid://shopify/Order/5001042"
ORDER_1088 = "gid://shopify/Order/5001088"  # unfulfilled, one fulfillment order open
ORDER_1065 = "gid://shopify/Order/5001065"  # one package in transit
AT = "2026-02-27T15:00:00+00:00"
TRACKING = {"company": "UPS", "number": "1ZBF000TEST0001", "url": "https://www.ups.com/track?tracknum=1ZBF000TEST0001"}


class Upstream:
    """What the mirror reads from Shopify besides the live lookups, served from the fake's store and counted: the bulk
    export (nodes without carrier events, as a bulk operation gives them), reads by id, and changes since a time."""

    def __init__(self, fake: FakeShopify) -> None:
        self.fake = fake
        self.exports: list[datetime] = []
        self.reads: list[str] = []
        self.event_reads: list[str] = []
        self.level: tuple[float, float] | None = None  # the bucket as the background client last saw it
        self.changes_since: list[datetime] = []
        self.confirms: list[list[str]] = []  # the orders of each confirming bulk operation
        self.confirm_error: Exception | None = None  # raised by the next confirming operation, once
        self.gate: asyncio.Event | None = None  # when set, the export waits on it after its first node
        self.started = asyncio.Event()
        self.page = 250

    async def export(
        self, since: datetime, *, resume: bulk.Resume | None = None, on_start: bulk.OnStart | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """As `shopify.bulk.export_orders` yields them, but with no bulk operation (so `resume` and `on_start` have
        nothing to do)."""
        self.exports.append(since)
        for index, node in enumerate(copy.deepcopy(self.fake.orders)):
            for fulfillment in node.get("fulfillments") or []:
                fulfillment.pop("events", None)
            yield node | {"_lumen": dict(bulk.EVENTS_INCOMPLETE)}  # marked as `shopify.bulk.export_orders` marks
            if index == 0:
                self.started.set()
                if self.gate is not None:
                    await self.gate.wait()

    async def confirm(self, order_ids: list[str]) -> list[dict[str, Any]]:
        """As `shopify.bulk.confirm_orders`: these orders as a bulk operation gives them (no carrier events, no
        per-package items), those Shopify has."""
        self.confirms.append(list(order_ids))
        await asyncio.sleep(0)
        if self.confirm_error is not None:
            error, self.confirm_error = self.confirm_error, None
            raise error
        wanted = set(order_ids)
        nodes = [copy.deepcopy(o) for o in self.fake.orders if o.get("id") in wanted]
        for node in nodes:
            for fulfillment in node.get("fulfillments") or []:
                fulfillment.pop("events", None)
                fulfillment.pop("fulfillmentLineItems", None)
        return [node | {"_lumen": dict(bulk.EVENTS_INCOMPLETE)} for node in nodes]

    async def read(self, order_id: str) -> Order | None:
        self.reads.append(order_id)
        await asyncio.sleep(0)  # a real read leaves the event loop
        node = next((o for o in self.fake.orders if o.get("id") == order_id), None)
        return parse_order(copy.deepcopy(node)) if node is not None else None

    async def read_events(self, order_id: str) -> dict[str, Any] | None:
        """As `ShopifyAdmin.order_events_node`: the packages' ids, events and items, and the order's updatedAt."""
        self.event_reads.append(order_id)
        await asyncio.sleep(0)
        node = next((o for o in self.fake.orders if o.get("id") == order_id), None)
        if node is None:
            return None
        packages = node.get("fulfillments") or []
        return {
            "id": node["id"],
            "updatedAt": node["updatedAt"],
            "fulfillmentsCount": {"count": len(packages)},
            "fulfillments": [
                {
                    "id": f["id"],
                    "createdAt": f["createdAt"],
                    "fulfillmentLineItems": copy.deepcopy(f.get("fulfillmentLineItems")) or {"nodes": []},
                    "events": copy.deepcopy(f.get("events")) or {"nodes": []},
                }
                for f in packages
            ],
        }

    def bucket_level(self) -> tuple[float, float] | None:
        return self.level

    async def stamps(self, since: datetime) -> list[tuple[str, datetime]]:
        """As `ShopifyAdmin.order_stamps_updated_since`: (id, updatedAt) of the orders changed after `since`, oldest
        change first, at most a page."""
        self.changes_since.append(since)
        changed = [(o["id"], parse_now(o["updatedAt"])) for o in self.fake.orders if o.get("updatedAt")]
        later = sorted(((i, t) for i, t in changed if t is not None and t > since), key=lambda pair: pair[1])
        return later[: self.page]


@pytest.fixture(scope="module")
def demo_server() -> Iterator[FakeShopify]:
    """The demo store on a fake whose rate limit never makes a test wait (the limit is tested in test_shopify_*)."""
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=1_000_000, restore_rate=1_000_000) as server:
        yield server


def change_fields(fake: FakeShopify, name: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """Shopify changes an order: its fields, and its updatedAt."""
    node = next(o for o in fake.orders if o["name"] == name)
    node.update(fields, updatedAt=at.isoformat())
    return node


@pytest.fixture
def store(fake: FakeShopify) -> Iterator[FakeShopify]:
    """The fake's orders as the store file has them, whatever a test changed (put back into the same objects, which
    the fake indexes by id)."""
    objects = list(fake.orders)
    saved = copy.deepcopy(objects)
    yield fake
    for node, content in zip(objects, saved, strict=True):
        node.clear()
        node.update(content)
    fake.orders[:] = objects
    fake.grant_scopes(ALL_SCOPES)


@pytest.fixture
def db(database: Database) -> Database:
    return database


def live_client(fake: FakeShopify) -> ShopifyAdmin:
    # No cache: every live lookup reaches the fake, so a lookup that sends nothing was answered by the mirror.
    return ShopifyAdmin(fake.url, TOKEN, cache_ttl_s=0, now=parse_now(fake.as_of))


def make_sync(db: Database, fake: FakeShopify, upstream: Upstream, **options: Any) -> OrderSync:
    return OrderSync(
        db,
        live_client(fake),
        exporter=upstream.export,
        reader=upstream.read,
        stamps=upstream.stamps,
        events_reader=upstream.read_events,
        confirmer=upstream.confirm,
        bucket_level=upstream.bucket_level,
        owns_admin=True,
        **options,
    )


@asynccontextmanager
async def two_workers(
    database_url: str, fake: FakeShopify, clock: Clock, upstreams: tuple[Upstream, Upstream], **first_options: Any
) -> AsyncIterator[tuple[Database, Database, OrderSync, OrderSync]]:
    """Two workers on one database, each with its own connection and sync (the first's with `first_options`): their
    databases and syncs, first's first. Every sync and database is closed after."""
    first_db, second_db = Database(database_url, clock=clock), Database(database_url, clock=clock)
    await first_db.connect()
    await second_db.connect()
    first = make_sync(first_db, fake, upstreams[0], **first_options)
    second = make_sync(second_db, fake, upstreams[1])
    try:
        yield first_db, second_db, first, second
    finally:
        for worker, database in ((first, first_db), (second, second_db)):
            await worker.aclose()
            await database.close()


@pytest.fixture
async def mirror(db: Database, store: FakeShopify) -> AsyncIterator[MirroredSource]:
    source = MirroredSource(live_client(store), db, make_sync(db, store, Upstream(store)))
    yield source
    await source.aclose()


def upstream_of(mirror: MirroredSource) -> Upstream:
    exporter = mirror.sync.exporter
    return exporter.__self__  # type: ignore[attr-defined, no-any-return]


def delivery(topic: str, payload: dict[str, Any], event: str, triggered_at: datetime) -> Webhook:
    return Webhook(topic, payload, "fake-shop.myshopify.com", event, f"wh-{event}", event, triggered_at)


async def deliver(db: Database, source: MirroredSource, fake: FakeShopify) -> Applied | WebhookOutcome:
    """The webhook the fake just built (not sent), read as Lumen reads a delivery and handled; then the mirror's
    applier runs (in a server it runs by itself): what it did, or the webhook's outcome if it queued nothing."""
    sent = fake.deliveries[-1]
    webhook = parse_webhook({k.lower(): v for k, v in sent.headers.items()}, sent.body)
    assert webhook.triggered_at is not None
    outcome = await handle_webhook(db, source, serves_shop=lambda _: True, delivery=webhook, now=webhook.triggered_at)
    if not outcome.applying:
        return outcome
    # Answered before anything was applied: nothing of the payload is in the mirror yet.
    assert source.sync.pending_payloads == 1
    (done,) = await source.sync.apply_pending()
    return done


async def deliver_later(db: Database, source: MirroredSource, fake: FakeShopify) -> None:
    """The webhook the fake just built, handled; its payload left for the applier."""
    sent = fake.deliveries[-1]
    webhook = parse_webhook({k.lower(): v for k, v in sent.headers.items()}, sent.body)
    assert webhook.triggered_at is not None
    await handle_webhook(db, source, serves_shop=lambda _: True, delivery=webhook, now=webhook.triggered_at)


async def change(fake: FakeShopify, order_id: str, kind: str, topic: str, at: str = AT) -> None:
    await fake.change_order(order_id, mutation(Change(kind, order_id, TRACKING, at)), topic, deliver=False)


async def delivered_and_earlier(fake: FakeShopify) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two carrier events of one package, as two webhooks: delivered, and an earlier out-for-delivery scan."""
    await change(fake, ORDER_1065, "deliver", "fulfillment_events/create")
    delivered = copy.deepcopy(fake.deliveries[-1].payload)
    earlier = {**delivered, "id": 77, "status": "out_for_delivery", "happened_at": "2026-02-27T08:00:00+00:00"}
    return delivered, earlier
