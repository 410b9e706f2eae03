"""Keeping a copy of the orders fresh: one order by id, orders changed since a time, and the signed webhooks the fake
Shopify sends when a test changes an order. All over real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from evals.fakes.loopback import LoopbackServer
from evals.fakes.shopify_admin import CLIENT_SECRET, FakeShopify
from shopify.client import ShopifyAdmin, order_gid_of, search_time
from shopify.domain import parse_order
from shopify.scopes import APP_SCOPES
from shopify.signatures import InvalidWebhookSignature, verify_webhook
from shopify.store_file import DEMO_STORE, FixtureStore
from shopify.webhooks import order_refs, parse_webhook
from tests.fixtures import TOKEN

AS_OF = datetime(2026, 2, 27, 17, tzinfo=UTC)


class Receiver(LoopbackServer):
    """A webhook endpoint on loopback that keeps every raw delivery it gets."""

    thread_name = "webhook-receiver"

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        super().__init__(Starlette(routes=[Route("/webhooks", self._receive, methods=["POST"])]))

    async def _receive(self, request: Request) -> Response:
        self.got.append((dict(request.headers), await request.body()))
        return Response(status_code=200)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/webhooks"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as server:
        yield server


@pytest.fixture
async def admin(fake: FakeShopify) -> AsyncIterator[ShopifyAdmin]:
    async with ShopifyAdmin(fake.url, TOKEN, now=AS_OF) as client:
        yield client


def ship(order: dict[str, Any]) -> None:
    order["displayFulfillmentStatus"] = "FULFILLED"


# --- one order by id ------------------------------------------------------------------------------------------------


async def test_order_by_id_reads_the_whole_order_with_events(admin: ShopifyAdmin, fake: FakeShopify) -> None:
    store = FixtureStore(DEMO_STORE)
    for node in store.raw["orders"]:
        by_gid = await admin.order_by_id(node["id"])
        # The fake stamps each order with an `updatedAt` and numbers its packages (the store file has neither), which
        # `Order.updated_at` and `Fulfillment.id` read: the order as the fake holds it, whole.
        assert by_gid == parse_order(fake.order(node["id"]))
        assert by_gid is not None and by_gid.updated_at is not None
        numeric = node["id"].rsplit("/", 1)[-1]
        assert await admin.order_by_id(numeric) == by_gid  # webhooks carry numbers
    one = await admin.order_by_id("gid://shopify/Order/5001031")
    assert one is not None and one.fulfillments[0].events[0].status == "DELIVERED"
    sent = [body["query"] for body in fake.received]
    assert all("order(id: $id)" in query for query in sent if "LumenOrder(" in query)
    assert not fake.searches()  # by id: Shopify's database, not its lagging search index


async def test_order_by_id_of_an_unknown_or_malformed_id_is_none(admin: ShopifyAdmin, fake: FakeShopify) -> None:
    assert await admin.order_by_id("gid://shopify/Order/999999") is None
    before = len(fake.received)
    assert await admin.order_by_id("gid://shopify/Customer/7001") is None
    assert await admin.order_by_id("#1031") is None
    assert len(fake.received) == before  # not an order id: nothing to ask
    assert order_gid_of(5001031) == "gid://shopify/Order/5001031"
    assert order_gid_of("١٢٣") is None


async def test_order_by_id_sees_a_change_a_cached_search_would_hide(admin: ShopifyAdmin, fake: FakeShopify) -> None:
    assert [o.fulfillment_status for o in await admin.orders_by_name("1088")] == ["UNFULFILLED"]
    await fake.change_order("#1088", ship, deliver=False)
    fresh = await admin.order_by_id(fake.order("#1088")["id"])
    assert fresh is not None and fresh.fulfillment_status == "FULFILLED"
    # Reading it by id also drops the cached searches that held the old copy.
    assert [o.fulfillment_status for o in await admin.orders_by_name("1088")] == ["FULFILLED"]


async def test_order_by_id_respects_the_60_day_window(tmp_path: Any) -> None:
    store = {
        "shop": {"name": "Tiny"},
        "asOf": "2026-02-27T17:00:00Z",
        "orders": [
            {"id": "gid://shopify/Order/900", "name": "#900", "createdAt": "2025-11-20T10:00:00Z"},
            {"id": "gid://shopify/Order/1001", "name": "#1001", "createdAt": "2026-02-20T10:00:00Z"},
        ],
    }
    async with FakeShopify(store, token=TOKEN, scopes=APP_SCOPES) as shop, ShopifyAdmin(shop.url, TOKEN) as admin:
        assert await admin.order_by_id("900") is None
        found = await admin.order_by_id("1001")
        assert found is not None and found.name == "#1001"
        assert admin.granted_scopes is not None and "read_all_orders" not in admin.granted_scopes


# --- orders changed since a time ---------------------------------------------------------------------------------


async def test_orders_updated_since_pages_oldest_change_first(admin: ShopifyAdmin, fake: FakeShopify) -> None:
    everything = await admin.orders_updated_since(datetime(2000, 1, 1, tzinfo=UTC))
    assert len(everything) == len(FixtureStore(DEMO_STORE).raw["orders"])
    stamps = [fake.order(o.id)["updatedAt"] for o in everything]
    assert stamps == sorted(stamps)
    pages = [body for body in fake.received if "LumenOrdersUpdated" in body["query"]]
    assert len(pages) == 6  # two orders a page
    assert all("sortKey: UPDATED_AT" in body["query"] for body in pages)
    assert {body["variables"]["q"] for body in pages} == {"updated_at:>'2000-01-01T00:00:00Z'"}


async def test_reconciliation_finds_changes_whose_webhooks_were_dropped() -> None:
    wall = [datetime(2026, 3, 1, 9, tzinfo=UTC).timestamp()]
    async with (
        FakeShopify(DEMO_STORE, token=TOKEN, now=lambda: wall[0]) as shop,
        ShopifyAdmin(shop.url, TOKEN, now=AS_OF) as admin,
    ):
        since = datetime(2026, 3, 1, tzinfo=UTC)
        assert await admin.orders_updated_since(since) == []
        await shop.change_order("#1042", ship, deliver=False)
        wall[0] += 60
        await shop.change_order("#1031", lambda o: o.update(closedAt="2026-03-01T09:01:00Z"), deliver=False)
        changed = await admin.orders_updated_since(since)
        assert [(o.name, o.fulfillment_status) for o in changed] == [("#1042", "FULFILLED"), ("#1031", "FULFILLED")]
        assert [shop.order(o.id)["updatedAt"] for o in changed] == ["2026-03-01T09:00:00Z", "2026-03-01T09:01:00Z"]
        assert [o.name for o in await admin.orders_updated_since(since, limit=1)] == ["#1042"]
        assert [o.name for o in await admin.orders_updated_since(datetime(2026, 3, 1, 9, tzinfo=UTC))] == ["#1031"]


async def test_order_stamps_list_changed_orders_oldest_first_for_a_point_each(fake: FakeShopify) -> None:
    async with ShopifyAdmin(fake.url, TOKEN, now=AS_OF) as admin:
        stamps = await admin.order_stamps_updated_since(datetime(2000, 1, 1, tzinfo=UTC))
        whole = await admin.orders_updated_since(datetime(2000, 1, 1, tzinfo=UTC))
    assert [order_id for order_id, _at in stamps] == [o.id for o in whole]
    assert [at for _id, at in stamps] == [o.updated_at for o in whole]
    (listing,) = [body for body in fake.received if "LumenOrderStamps" in body["query"]]
    assert listing["variables"]["q"] == "updated_at:>'2000-01-01T00:00:00Z'"
    # What Shopify's cost rules charge: the listing about a point an order, the whole orders tens each.
    async with httpx.AsyncClient() as http:
        headers = {"X-Shopify-Access-Token": TOKEN}
        answer = (await http.post(fake.url, json=listing, headers=headers)).json()
    assert answer["extensions"]["cost"]["actualQueryCost"] <= 2 + len(stamps)


async def test_orders_updated_since_takes_naive_times_as_utc() -> None:
    assert search_time(datetime(2026, 12, 1, 9, 30)) == "2026-12-01T09:30:00Z"
    assert search_time(datetime(2026, 12, 1, 10, 30, tzinfo=UTC) + timedelta(hours=-1)) == "2026-12-01T09:30:00Z"


def test_updated_at_search_and_sort_in_the_fake(fake: FakeShopify) -> None:
    # Store files without `updatedAt` get the latest time the order records; changing an order bumps it.
    assert fake.order("#1031")["updatedAt"] == "2026-02-24T19:14:00Z"
    before = fake.order("#1088")["updatedAt"]
    fake.change_order_sync("#1088", ship, deliver=False)
    after = fake.order("#1088")["updatedAt"]
    assert after > before
    fake.change_order_sync("#1088", ship, deliver=False)
    assert fake.order("#1088")["updatedAt"] > after  # strictly later each time


def test_reset_restores_the_orders_as_loaded(fake: FakeShopify) -> None:
    fake.change_order_sync("#1088", ship, deliver=False)
    fake.reset()
    assert fake.order("#1088")["displayFulfillmentStatus"] == "UNFULFILLED"
    assert fake.deliveries == []


# --- webhooks ------------------------------------------------------------------------------------------------------


async def test_change_order_posts_a_signed_webhook_lumen_reads(fake: FakeShopify, receiver: Receiver) -> None:
    fake.webhook_target(receiver.url)
    webhook_id = await fake.change_order("#1088", ship)
    [(headers, body)] = receiver.got
    verify_webhook(body, headers["x-shopify-hmac-sha256"], CLIENT_SECRET)  # Lumen's verifier accepts it
    with pytest.raises(InvalidWebhookSignature):
        verify_webhook(body, headers["x-shopify-hmac-sha256"], "another-secret")
    webhook = parse_webhook(headers, body)
    assert webhook.topic == "orders/updated"
    assert webhook.webhook_id == webhook_id
    assert webhook.shop_domain == fake.shop_domain
    assert webhook.event_id and webhook.triggered_at is not None
    assert headers["x-shopify-api-version"] == fake.api_version
    order = fake.order("#1088")
    assert webhook.payload["id"] == int(order["id"].rsplit("/", 1)[-1])
    assert webhook.payload["updated_at"] == order["updatedAt"]
    assert webhook.payload["fulfillment_status"] == "fulfilled"
    assert order_refs(webhook.topic, webhook.payload) == [order["id"], "#1088"]
    assert [d.status for d in fake.deliveries] == [200]


@pytest.mark.parametrize("topic", ["fulfillments/create", "fulfillments/update", "fulfillment_events/create"])
async def test_package_webhooks_carry_a_numeric_order_id(fake: FakeShopify, receiver: Receiver, topic: str) -> None:
    fake.webhook_target(receiver.url)

    def delivered(order: dict[str, Any]) -> None:
        package = order["fulfillments"][-1]
        package["displayStatus"] = "DELIVERED"
        package["events"]["nodes"].insert(
            0, {"status": "DELIVERED", "happenedAt": "2026-03-01T12:00:00Z", "message": "Delivered"}
        )

    await fake.change_order("#1042", delivered, topic)
    [(headers, body)] = receiver.got
    verify_webhook(body, headers["x-shopify-hmac-sha256"], CLIENT_SECRET)
    webhook = parse_webhook(headers, body)
    assert webhook.topic == topic
    assert isinstance(webhook.payload["order_id"], int)
    assert order_refs(topic, webhook.payload) == [fake.order("#1042")["id"]]
    if topic == "fulfillment_events/create":
        assert (webhook.payload["status"], webhook.payload["happened_at"]) == ("delivered", "2026-03-01T12:00:00Z")
    else:
        assert webhook.payload["shipment_status"] == "delivered"


async def test_deliver_false_sends_nothing(fake: FakeShopify, receiver: Receiver) -> None:
    fake.webhook_target(receiver.url)
    await fake.change_order("#1088", ship, deliver=False)
    await asyncio.sleep(0)
    assert receiver.got == []
    [dropped] = fake.deliveries
    assert dropped.status is None and dropped.payload["name"] == "#1088"
    assert fake.order("#1088")["displayFulfillmentStatus"] == "FULFILLED"  # the change itself happened


async def test_add_order_announces_it_with_orders_create(fake: FakeShopify, receiver: Receiver) -> None:
    fake.webhook_target(receiver.url)
    node = {"id": "gid://shopify/Order/777", "name": "#1777", "createdAt": "2026-02-27T16:00:00Z"}
    await fake.add_order(node)
    [(headers, body)] = receiver.got
    assert parse_webhook(headers, body).topic == "orders/create"
    async with ShopifyAdmin(fake.url, TOKEN) as admin:
        found = await admin.order_by_id("777")
    assert found is not None and found.name == "#1777"


def test_unknown_topics_and_orders_are_refused(fake: FakeShopify) -> None:
    with pytest.raises(ValueError, match="products/update"):
        fake.change_order_sync("#1088", ship, "products/update")
    with pytest.raises(KeyError):
        fake.change_order_sync("#4242", ship)
    with pytest.raises(ValueError, match="has none"):
        fake.change_order_sync("#1088", ship, "fulfillments/create")  # an unshipped order has no package
