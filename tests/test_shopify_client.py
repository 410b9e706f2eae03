"""`ShopifyAdmin` against the fake Shopify server over a real loopback socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from inline_snapshot import snapshot
from pydantic import SecretStr

from agent.connect import admin_from_settings
from config import Settings
from evals.fakes.shopify_admin import FakeShopify, Selection, parse_query, requested_cost, search_orders
from shopify.client import (
    COST_ESTIMATES,
    DOCUMENTS,
    NAME_QUERY,
    ORDERS_QUERY,
    ShopifyAdmin,
    name_search,
    order_name_candidates,
    search_value,
)
from shopify.names import normalize_order_number
from shopify.scopes import APP_SCOPES, FULFILLMENT_ORDER_SCOPES, REQUIRED_SCOPES
from shopify.source import OrderSource, OrderSourceThrottled, OrderSourceUnavailable
from shopify.store_file import DEMO_STORE, FixtureStore
from tests.fixtures import TOKEN


class RecordingSleep:
    """Records the waits the client asks for, and sleeps only a moment so the test stays fast."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0.001)


@pytest.fixture
def sleep() -> RecordingSleep:
    return RecordingSleep()


class BucketTime(RecordingSleep):
    """One clock for the fake Shopify's bucket and the client, moved only by the waits the client asks for: the
    bucket refills exactly as much as the client waited, and a lookup's budget is spent by its waits alone, however
    long a loaded machine takes between them."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0

    async def __call__(self, seconds: float) -> None:
        self.now += seconds
        await super().__call__(seconds)

    def clock(self) -> float:
        return self.now


@pytest.fixture
async def client(fake: FakeShopify, sleep: RecordingSleep) -> AsyncIterator[ShopifyAdmin]:
    async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as admin:
        # The first lookup asks for the shop (its order-name format and granted scopes) once; tests below count
        # what the lookups themselves send.
        await admin.shop()
        fake.reset()
        yield admin


def write_store(tmp_path: Path, *orders: dict[str, Any]) -> Path:
    path = tmp_path / "store.json"
    path.write_text(json.dumps({"shop": {"name": "Tiny"}, "asOf": "2026-02-27T17:00:00Z", "orders": list(orders)}))
    return path


def order_node(name: str, **fields: Any) -> dict[str, Any]:
    return {"id": f"gid://shopify/Order/{name.strip('#')}", "name": name, "email": "a@example.com"} | {
        "createdAt": "2026-02-20T10:00:00Z",
        "processedAt": "2026-02-20T10:00:00Z",
        "displayFulfillmentStatus": "UNFULFILLED",
        **fields,
    }


# --- the query Lumen sends -----------------------------------------------------------------------------------------


def test_is_an_order_source() -> None:
    source: OrderSource = ShopifyAdmin("http://127.0.0.1:9/graphql.json", TOKEN)
    assert source.now().tzinfo is not None


def test_orders_query_stays_under_shopifys_cost_ceiling() -> None:
    cost = requested_cost(parse_query(ORDERS_QUERY, {"q": ""}))
    assert cost == snapshot(867)
    assert cost < 1000
    # The client's first guess, before Shopify reports the real figure, must not be optimistic; every document fits.
    for document in DOCUMENTS:
        cost = requested_cost(parse_query(document, {"q": "", "id": "gid://shopify/Order/1", "after": None}))
        assert COST_ESTIMATES[document] >= cost
        assert cost < 1000


def test_orders_query_page_sizes() -> None:
    # Every `first:` multiplies the requested cost; changing one should be a visible decision.
    def sizes(selections: list[Selection], prefix: str = "") -> dict[str, int]:
        found: dict[str, int] = {}
        for sel in selections:
            path = f"{prefix}{sel.name}"
            if sel.page_size is not None:
                found[path] = sel.page_size
            found |= sizes(sel.children, f"{path}.")
        return found

    assert sizes(parse_query(ORDERS_QUERY, {"q": ""})) == snapshot(
        {
            "orders": 5,
            "orders.nodes.lineItems": 25,
            "orders.nodes.fulfillmentOrders": 5,
            "orders.nodes.fulfillments": 3,
            "orders.nodes.fulfillments.trackingInfo": 3,
            "orders.nodes.fulfillments.fulfillmentLineItems": 10,
            "orders.nodes.fulfillments.events": 5,
            "orders.nodes.refunds": 5,
        }
    )


def test_search_strings_quote_and_escape_values() -> None:
    assert name_search("1042") == snapshot('name:"#1042"')
    assert name_search("EN1001", hash_prefix=False) == snapshot('name:"EN1001"')
    assert name_search("1042", email=" Jordan.Lee@example.com ") == snapshot(
        'name:"#1042" email:"Jordan.Lee@example.com"'
    )
    assert search_value('x" OR name:* (a) \\') == snapshot(r'"x\" OR name\:* \(a\) \\"')


# --- lookups -----------------------------------------------------------------------------------------------------


async def test_finds_order_by_number_and_email(client: ShopifyAdmin, fake: FakeShopify) -> None:
    orders = await client.orders_by_name("1042", email="JORDAN.LEE@example.com")
    assert [o.name for o in orders] == ["#1042"]
    order = orders[0]
    assert order.fulfillment_status == "FULFILLED"
    assert order.customer_id == "gid://shopify/Customer/7002"
    assert [f.events[0].status for f in order.fulfillments] == snapshot(["IN_TRANSIT", "IN_TRANSIT"])
    assert fake.searches() == ['name:"#1042" email:"JORDAN.LEE@example.com"']


async def test_every_demo_order_reads_the_same_as_from_the_store_file(client: ShopifyAdmin) -> None:
    # The query selects every field `parse_order` reads: through Shopify or from the file, the same Order.
    store = FixtureStore(DEMO_STORE)
    for node in store.raw["orders"]:
        number = node["name"].lstrip("#")
        live = await client.orders_by_name(number)
        # Only Shopify stamps an order's `updatedAt` and numbers its packages (the store file has neither):
        # everything else reads the same.
        assert all(o.updated_at is not None for o in live)
        assert all(f.id and f.id.startswith("gid://shopify/Fulfillment/") for o in live for f in o.fulfillments)
        unstamped = [
            o.model_copy(
                update={"updated_at": None, "fulfillments": [f.model_copy(update={"id": None}) for f in o.fulfillments]}
            )
            for o in live
        ]
        assert unstamped == await store.orders_by_name(number)


async def test_finds_order_by_number_alone(client: ShopifyAdmin) -> None:
    assert [o.name for o in await client.orders_by_name("#1042")] == ["#1042"]


async def test_wrong_email_returns_nothing(client: ShopifyAdmin, fake: FakeShopify) -> None:
    assert await client.orders_by_name("1042", email="someone@else.com") == []
    # The shop's name format is known ("#" and digits), so one search says it: no guessing at other spellings.
    assert fake.searches() == ['name:"#1042" email:"someone@else.com"']


async def test_number_is_retried_without_hash_for_prefixed_stores(tmp_path: Path, sleep: RecordingSleep) -> None:
    store = write_store(tmp_path, order_node("EN1001"), order_node("#1001"))
    with FakeShopify(store, token=TOKEN) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            assert [o.name for o in await client.orders_by_name("EN1001")] == ["EN1001"]
            assert [o.name for o in await client.orders_by_name("1001")] == ["#1001"]
        # "EN1001" is not in the shop's current format ("#" + digits): searched as written, with and without '#'.
        assert fake.searches() == ['name:"#EN1001"', 'name:"EN1001"', 'name:"#1001"']


async def test_results_are_rechecked_on_the_client(tmp_path: Path, sleep: RecordingSleep) -> None:
    # Shopify's search is tokenized: "1042" can also find "#1042-B", "a@example.com" also "a@example.com.au".
    store = write_store(
        tmp_path,
        order_node("#1042", processedAt="2026-02-20T10:00:00Z"),
        order_node("#1042-B", processedAt="2026-02-21T10:00:00Z"),
        order_node("#1043", id="gid://shopify/Order/1043-AU", email="a@example.com.au"),
    )
    with FakeShopify(store, token=TOKEN, fuzzy=True) as fake:
        # The near misses really come back from the server...
        assert [o["name"] for o in search_orders(fake.orders, 'name:"#1042"', fuzzy=True)] == ["#1042", "#1042-B"]
        assert len(search_orders(fake.orders, 'name:"#1043" email:"a@example.com"', fuzzy=True)) == 1
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            # ...and the client drops them.
            assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
            assert [o.id for o in await client.orders_by_name("1043", email="a@example.com")] == []
            fake.orders[1]["name"] = "#1042"  # order names are not unique either: both are returned, newest first
            client.invalidate()
            assert [o.id for o in await client.orders_by_name("1042")] == [
                "gid://shopify/Order/1042-B",
                "gid://shopify/Order/1042",
            ]


async def test_customer_lookup(client: ShopifyAdmin, fake: FakeShopify) -> None:
    orders = await client.orders_by_customer("gid://shopify/Customer/7002")
    assert [o.name for o in orders] == ["#1042", "#1050"]
    assert [o.name for o in await client.orders_by_customer("7002", limit=1)] == ["#1042"]
    assert fake.searches() == ["customer_id:7002"]  # the second came from the cache


async def test_customer_lookup_ignores_ids_that_are_not_shopify_customers(
    client: ShopifyAdmin, fake: FakeShopify
) -> None:
    assert await client.orders_by_customer("7002 OR name:*") == []
    assert await client.orders_by_customer("gid://shopify/Order/5001042") == []
    assert fake.requests == 0


async def test_search_is_a_variable_and_injection_cannot_widen_results(client: ShopifyAdmin, fake: FakeShopify) -> None:
    hostile = 'x" OR name:*'
    assert await client.orders_by_name("1042", email=hostile) == []
    bodies = fake.received
    assert {body["query"] for body in bodies} == {NAME_QUERY}  # the query text never carries shopper input
    assert hostile not in NAME_QUERY
    assert [body["variables"] for body in bodies] == snapshot([{"q": 'name:"#1042" email:"x\\" OR name\\:*"'}])


async def test_unknown_enum_values_parse_as_other(tmp_path: Path, sleep: RecordingSleep) -> None:
    fulfillment = {
        "name": "#7-F1",
        "status": "SUCCESS",
        "displayStatus": "TELEPORTED",
        "createdAt": "2026-02-21T10:00:00Z",
        "trackingInfo": [],
        "events": {"nodes": [{"status": "BEAMED_UP", "happenedAt": "2026-02-21T11:00:00Z"}]},
    }
    store = write_store(
        tmp_path,
        order_node("#7", displayFulfillmentStatus="HOVERING", returnStatus="NO_RETURN", fulfillments=[fulfillment]),
    )
    with FakeShopify(store, token=TOKEN) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            (order,) = await client.orders_by_name("7")
    assert order.fulfillment_status == "OTHER"
    assert order.return_status == "NO_RETURN"
    assert order.fulfillments[0].display_status == "OTHER"
    assert order.fulfillments[0].events[0].status == "OTHER"


async def test_shop_is_fetched_once(client: ShopifyAdmin, fake: FakeShopify) -> None:
    shop = await client.shop()
    assert shop.model_dump() == snapshot(
        {
            "name": "Harbor & Pine",
            "domain": "harbor-and-pine.myshopify.com",
            "timezone": "America/New_York",
            "currency": "USD",
            "contact_email": "support@harborandpine.example",
            "locale": "en_US",
            "order_number_prefix": "#",
            "order_number_suffix": "",
        }
    )
    assert await client.shop() is shop
    assert fake.requests == 0  # asked once, when the client first needed it (in the fixture)


async def test_lookups_are_cached_until_invalidated(client: ShopifyAdmin, fake: FakeShopify) -> None:
    await client.orders_by_name("1042")
    await client.orders_by_name("1042")
    await client.orders_by_customer("gid://shopify/Customer/7001")
    assert fake.requests == 2
    client.invalidate("#1042")  # drops the #1042 lookup only
    await client.orders_by_name("1042")
    await client.orders_by_customer("gid://shopify/Customer/7001")
    assert fake.requests == 3
    client.invalidate("gid://shopify/Order/5001031")  # by id: drops Maya's customer lookup
    await client.orders_by_customer("gid://shopify/Customer/7001")
    assert fake.requests == 4
    client.invalidate()
    await client.orders_by_name("1042")
    assert fake.requests == 5


async def test_the_cache_keeps_the_most_recently_used_searches_only(fake: FakeShopify, sleep: RecordingSleep) -> None:
    async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, cache_max_entries=3) as client:
        await client.shop()
        fake.reset()
        for number in ("1031", "1042", "1050"):
            await client.orders_by_name(number)
        await client.orders_by_name("1031")  # used again: now the most recent
        await asyncio.gather(*(client.orders_by_name(str(n)) for n in range(5000, 5100)))  # a guesser's burst
        assert fake.requests == 103
        sent = fake.requests
        await client.orders_by_name("1031")  # pushed out by the burst, asked again
        assert fake.requests == sent + 1
        # Which of the burst finished last is up to the scheduler; a search asked just now is remembered.
        await client.orders_by_name("1031")
        assert fake.requests == sent + 1


async def test_a_missing_order_costs_the_same_queries_as_a_found_one(tmp_path: Path, sleep: RecordingSleep) -> None:
    # "EN1001" is outside the shop's "#"-and-digits format, so it has two spellings to search: a found order must
    # not stop after the first, or counting requests (or timing them) tells which numbers exist.
    store = write_store(tmp_path, order_node("#EN1001"), order_node("#1001"))
    with FakeShopify(store, token=TOKEN) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, cache_ttl_s=0) as client:
            await client.shop()
            sent: dict[str, int] = {}
            for typed in ("EN1001", "EN9999", "1001", "9999", "#1001"):
                fake.reset()
                found = await client.orders_by_name(typed, email="a@example.com")
                assert bool(found) == ("9999" not in typed), typed
                sent[typed] = fake.requests
    assert sent["EN1001"] == sent["EN9999"] == 2
    assert sent["1001"] == sent["9999"] == sent["#1001"] == 1


async def test_cache_expires(fake: FakeShopify, sleep: RecordingSleep) -> None:
    now = [100.0]
    async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, cache_ttl_s=30, clock=lambda: now[0]) as client:
        await client.shop()
        fake.reset()
        await client.orders_by_name("1042")
        now[0] += 29
        await client.orders_by_name("1042")
        assert fake.requests == 1
        now[0] += 2
        await client.orders_by_name("1042")
        assert fake.requests == 2


def test_now_is_fixed_when_given() -> None:
    fixed = datetime(2026, 2, 27, 17, tzinfo=UTC)
    assert ShopifyAdmin("http://127.0.0.1:9/graphql.json", TOKEN, now=fixed).now() == fixed


def test_from_settings() -> None:
    settings = Settings(
        _env_file=None,
        shopify_shop="https://harbor-and-pine.myshopify.com/",
        shopify_access_token=SecretStr("shpat_live"),
        shopify_max_wait_s=3.0,
        lumen_now=datetime(2026, 2, 27, 17, tzinfo=UTC),
    )
    admin = admin_from_settings(settings)
    assert admin.endpoint == "https://harbor-and-pine.myshopify.com/admin/api/2026-07/graphql.json"
    assert admin.now() == datetime(2026, 2, 27, 17, tzinfo=UTC)
    with pytest.raises(ValueError, match="not configured"):
        admin_from_settings(Settings(_env_file=None, shopify_access_token=None))


# --- failures and retries ----------------------------------------------------------------------------------------


async def test_bad_token_is_unavailable_without_retrying(fake: FakeShopify, sleep: RecordingSleep) -> None:
    async with ShopifyAdmin(fake.url, "shpat_wrong", sleep=sleep) as client:
        with pytest.raises(OrderSourceUnavailable, match="401"):
            await client.orders_by_name("1042")
        assert "cannot be renewed" in (client.status.last_error or "")
    assert fake.requests == 1
    assert sleep.waits == []


async def test_503_then_success_is_retried(client: ShopifyAdmin, fake: FakeShopify, sleep: RecordingSleep) -> None:
    fake.fail_next(2, status=503)
    assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
    assert fake.requests == 3
    assert client.stats.retries == 2
    assert len(sleep.waits) == 2
    assert 0.25 <= sleep.waits[0] <= 0.5  # exponential backoff with jitter
    assert 0.5 <= sleep.waits[1] <= 0.75


async def test_persistent_5xx_gives_up_as_unavailable(fake: FakeShopify, sleep: RecordingSleep) -> None:
    fake.fail_next(10, status=502)
    async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, max_retries=2) as client:
        with pytest.raises(OrderSourceUnavailable, match="502"):
            await client.shop()
    assert fake.requests == 3


async def test_429_retry_after_is_honoured(client: ShopifyAdmin, fake: FakeShopify, sleep: RecordingSleep) -> None:
    fake.fail_next(1, status=429, retry_after="2.5")
    assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
    assert len(sleep.waits) == 1
    assert sleep.waits[0] == 2.5  # backoff alone would have been under half a second
    assert client.stats.throttled == 1


async def test_retry_after_beyond_max_wait_raises_throttled(fake: FakeShopify, sleep: RecordingSleep) -> None:
    fake.fail_next(1, status=429, retry_after=30)
    async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, max_wait_s=8) as client:
        with pytest.raises(OrderSourceThrottled):
            await client.orders_by_name("1042")
    assert sleep.waits == []  # no point waiting 30 s for a shopper who waits 8
    assert fake.requests == 1


async def test_connection_refused_is_unavailable(sleep: RecordingSleep) -> None:
    with FakeShopify(DEMO_STORE, token=TOKEN) as fake:
        url = fake.url
    async with ShopifyAdmin(url, TOKEN, sleep=sleep, max_retries=2) as client:
        with pytest.raises(OrderSourceUnavailable, match="unreachable"):
            await client.orders_by_name("1042")
    assert len(sleep.waits) == 2


async def test_other_graphql_errors_are_unavailable(sleep: RecordingSleep) -> None:
    with FakeShopify(DEMO_STORE, token=TOKEN, query_cost=1200) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            with pytest.raises(OrderSourceUnavailable, match="max cost"):
                await client.orders_by_name("1042")
        assert fake.requests == 2  # the shop, then the refused query


# --- the leaky bucket, for real over the socket --------------------------------------------------------------------


async def test_concurrent_lookups_share_a_tiny_bucket() -> None:
    numbers = ["1031", "1042", "1050", "1088", "1089", "1065", "1055", "1093", "1094", "1061"]
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=50, restore_rate=500, query_cost=40) as fake:
        # Real sleeps: the bucket refills in real time on the server. The lookups queue for it one by one, and a
        # lookup's budget is wall-clock time, so on a loaded machine the tenth one's 8 s could run out in the queue:
        # a generous budget, since what is checked here is the sharing, not how long a shopper may wait.
        async with ShopifyAdmin(fake.url, TOKEN, cache_ttl_s=0, max_wait_s=300) as client:
            results = await asyncio.gather(*(client.orders_by_name(n) for n in numbers))
        assert [[o.name for o in found] for found in results] == [[f"#{n}"] for n in numbers]
        # Only one query fits at a time, so the client had to hold queries back (or be throttled and retry).
        assert client.stats.proactive_waits + fake.throttled > 0
        shop_queries = sum("LumenShop" in body["query"] for body in fake.received)
        assert shop_queries == 1  # asked once, not by every lookup that started together
        assert fake.requests == shop_queries + len(numbers) + fake.throttled
        assert client.stats.throttled == fake.throttled


async def test_waits_longer_than_max_wait_raise_throttled_without_asking() -> None:
    # Bucket time, not the wall clock: on a loaded machine a second between the lookups refills the real bucket by
    # 10 points and eats the 1 s budget, so what this test checks would depend on the machine's speed.
    waits = BucketTime()
    with FakeShopify(
        DEMO_STORE, token=TOKEN, bucket_size=50, restore_rate=10, query_cost=40, clock=waits.clock
    ) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, cache_ttl_s=0, max_wait_s=1, sleep=waits, clock=waits.clock) as client:
            # The shop query left ~47 points; the first name query is assumed to need the whole bucket until
            # Shopify says what it costs, so the client waits the fraction of a second for it.
            assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
            assert 0 < sum(waits.waits) < 1
            waited = list(waits.waits)
            # Now about 10 points left, 40 needed, 10 points/s: 3 s away, more than the 1 s a shopper waits.
            with pytest.raises(OrderSourceThrottled, match="refill"):
                await client.orders_by_name("1050")
        assert waits.waits == waited  # no wait was started that could not end in time
        assert fake.requests == 2  # the shop and the first lookup: the second was never sent
        assert fake.throttled == 0


async def test_throttled_beyond_max_wait_raises_throttled(sleep: RecordingSleep) -> None:
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=50, restore_rate=1, query_cost=40) as fake:
        fake.drain()  # someone else just spent the bucket; this client has not seen it yet
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, max_wait_s=2) as client:
            with pytest.raises(OrderSourceThrottled, match="throttled"):
                await client.orders_by_name("1042")
        assert fake.throttled == 1
        assert fake.requests == 1  # the THROTTLED answer said 40 s; no point retrying within 2 s
        assert sleep.waits == []


async def test_throttled_then_retried_after_the_bucket_refills() -> None:
    waits = BucketTime()  # the bucket refills by what the client waits, however slow the machine
    with FakeShopify(
        DEMO_STORE, token=TOKEN, bucket_size=50, restore_rate=100, query_cost=40, clock=waits.clock
    ) as fake:
        # The client waits the ~0.4 s that the THROTTLED answer's throttleStatus implies, and that is enough.
        async with ShopifyAdmin(fake.url, TOKEN, sleep=waits, clock=waits.clock) as client:
            await client.shop()
            fake.reset()
            fake.drain()  # spent elsewhere after the client last heard of the bucket
            assert [o.name for o in await client.orders_by_name("1042")] == ["#1042"]
            assert client.stats.throttled == 1
            assert client.stats.retries == 1
            assert 0.4 <= sum(waits.waits) < 1  # what 40 points take to come back at 100 a second, and no more
        assert fake.throttled == 1
        assert fake.requests == 2


async def test_a_missing_order_costs_the_same_as_a_known_one_when_asked_again(
    fake: FakeShopify, sleep: RecordingSleep
) -> None:
    now = [100.0]
    async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep, cache_ttl_s=30, clock=lambda: now[0]) as client:
        await client.orders_by_name("1042")
        await client.orders_by_name("9999")
        before = fake.requests
        await client.orders_by_name("1042")
        await client.orders_by_name("9999")
        assert fake.requests == before  # both answered from the cache
        now[0] += 11  # an empty answer is kept only briefly: a new order may be on its way into the index
        await client.orders_by_name("9999")
        assert fake.requests > before


# --- scopes decide the query; partial data is still an answer ------------------------------------------------------

NO_LOCATIONS = REQUIRED_SCOPES - {"read_locations"}


def test_access_denied_has_shopifys_shape_and_the_null_stays_on_the_field(fake: FakeShopify) -> None:
    fake.grant_scopes(NO_LOCATIONS)
    answer = httpx.post(
        fake.url,
        json={"query": NAME_QUERY, "variables": {"q": 'name:"#1042"'}},
        headers={"X-Shopify-Access-Token": TOKEN},
    ).json()
    (error, *more) = answer["errors"]
    assert error == {
        "message": "Access denied for location field. Required access: `read_locations` access scope.",
        "locations": [{"line": 1, "column": error["locations"][0]["column"]}],
        "extensions": {
            "code": "ACCESS_DENIED",
            "documentation": "https://shopify.dev/api/usage/access-scopes",
            "requiredAccess": "`read_locations` access scope.",
        },
        "path": ["orders", "nodes", 0, "fulfillments", 0, "location"],
    }
    assert NAME_QUERY[error["locations"][0]["column"] - 1 :].startswith("location {")
    assert len(more) == 1  # #1042 has two packages
    order = answer["data"]["orders"]["nodes"][0]
    assert order["fulfillments"][0]["location"] is None
    assert order["fulfillments"][0]["trackingInfo"]  # the rest of the answer is there


def test_a_denied_non_null_field_nulls_everything_up_to_a_nullable_parent(fake: FakeShopify) -> None:
    fake.grant_scopes({"read_orders", "read_customers", "read_locations"})  # no fulfillment-order scope
    headers = {"X-Shopify-Access-Token": TOKEN}
    answer = httpx.post(fake.url, json={"query": NAME_QUERY, "variables": {"q": "name:1042"}}, headers=headers).json()
    # Order.fulfillmentOrders is non-null, and so is everything from the order up to the root field `orders`.
    assert answer["data"] is None
    assert answer["errors"][0]["path"] == ["orders", "nodes", 0, "fulfillmentOrders"]
    assert answer["errors"][0]["extensions"]["requiredAccess"].startswith("Any of ")
    # `order(id:)` is nullable: there the null stops.
    document = "query ($id: ID!) { order(id: $id) { name fulfillmentOrders(first: 1) { nodes { status } } } }"
    single = httpx.post(
        fake.url, json={"query": document, "variables": {"id": "gid://shopify/Order/5001042"}}, headers=headers
    )
    assert single.json()["data"] == {"order": None}


async def test_fields_of_scopes_not_granted_are_left_out_of_the_query(sleep: RecordingSleep) -> None:
    granted = APP_SCOPES - {"read_locations", "read_customers", *FULFILLMENT_ORDER_SCOPES}
    with FakeShopify(DEMO_STORE, token=TOKEN, scopes=granted) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            (order,) = await client.orders_by_name("1042")
            assert [f.location_name for f in order.fulfillments] == [None, None]
            assert order.fulfillment_orders == [] and order.customer_id is None
            assert [len(f.tracking) for f in order.fulfillments] == [1, 1]
            # Without read_customers no order says whose it is: a customer's lookup finds nothing rather than guess.
            assert await client.orders_by_customer("gid://shopify/Customer/7002") == []
            status = client.status
        sent = fake.received[-1]["query"]
        assert "location {" not in sent and "customer {" not in sent and "fulfillmentOrders" not in sent
        assert all("errors" not in body for body in fake.received)  # nothing was denied: nothing was asked for
    assert status.missing_scopes == sorted({"read_locations", "read_customers", *FULFILLMENT_ORDER_SCOPES})
    assert status.shop == "harbor-and-pine.myshopify.com"
    assert status.older_orders_visible is False


async def test_access_denied_on_a_field_answers_with_the_rest(client: ShopifyAdmin, fake: FakeShopify) -> None:
    fake.grant_scopes(NO_LOCATIONS)  # the merchant took read_locations away after the client last looked
    (order,) = await client.orders_by_name("1042")
    assert [f.location_name for f in order.fulfillments] == [None, None]  # unknown, not an error
    (from_file,) = await FixtureStore(DEMO_STORE).orders_by_name("1042")
    assert order.fulfillments[0].tracking == from_file.fulfillments[0].tracking  # the rest is answered
    a, b = (
        order.model_dump(exclude={"fulfillments", "updated_at"}),
        from_file.model_dump(exclude={"fulfillments", "updated_at"}),
    )
    assert {k: (v, b[k]) for k, v in a.items() if v != b[k]} == {}
    assert client.status.denied_fields[0].startswith("orders.nodes.0.fulfillments.0.location: `read_locations`")
    assert "read_locations" in client.status.missing_scopes
    client.invalidate()
    await client.orders_by_name("1042")
    assert "location {" not in fake.received[-1]["query"]  # learned: no longer asked for


async def test_only_a_response_without_usable_data_is_a_failure(client: ShopifyAdmin, fake: FakeShopify) -> None:
    fake.grant_scopes({"read_orders", "read_customers", "read_locations", "read_fulfillments"})
    with pytest.raises(OrderSourceUnavailable, match="Access denied for fulfillmentOrders"):
        await client.orders_by_name("1042")  # every order nulled: nothing to answer from
    # ...but the client learned the scope is gone, and the next lookup leaves fulfillment orders out.
    (order,) = await client.orders_by_name("1042")
    assert order.fulfillment_orders == []
    assert set(FULFILLMENT_ORDER_SCOPES) <= set(client.status.missing_scopes)


# --- the shop's order-name format ----------------------------------------------------------------------------------


def test_order_name_candidates_follow_the_shops_format() -> None:
    for typed in ("1001", "#1001", "bw1001", "BW-1001", "#bw 1001", "BW1001UK", "bw-1001-uk", "#BW1001-UK"):
        assert order_name_candidates(typed, "#BW", "-UK") == ["#BW1001-UK"], typed
    assert order_name_candidates("1042") == ["#1042"]
    assert order_name_candidates("1042", "", "") == ["1042"]
    # Not in the shop's format (a name from before the format changed): searched as written.
    assert order_name_candidates("EN1001") == ["#EN1001", "EN1001"]
    assert order_name_candidates("  ") == []
    for typed in ("5101", "bog5101", "BOG 5101 IE", "BOG-5101-IE", "bog - 5101 - ie", "5101ie"):
        assert order_name_candidates(typed, "BOG-", "-IE") == ["BOG-5101-IE"], typed
    # A dash between two numbers tells them apart: '1001-2' is not order 10012.
    assert order_name_candidates("1001-2") == ["#1001-2", "1001-2"]


async def test_names_with_a_prefix_and_suffix_resolve_to_the_real_name(tmp_path: Path, sleep: RecordingSleep) -> None:
    path = tmp_path / "store.json"
    shop = {"name": "BW", "orderNumberFormatPrefix": "#BW", "orderNumberFormatSuffix": "-UK"}
    orders = [order_node("#BW1001-UK"), order_node("#BW1002-UK", email="b@example.com")]
    path.write_text(json.dumps({"shop": shop, "orders": orders}))
    with FakeShopify(path, token=TOKEN) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            for typed in ("1001", "#1001", "bw1001", "BW-1001", "bw 1001 uk", "#BW1001-UK"):
                assert [o.name for o in await client.orders_by_name(typed)] == ["#BW1001-UK"], typed
            assert [o.name for o in await client.orders_by_name("1002", email="B@example.com")] == ["#BW1002-UK"]
            assert await client.orders_by_name("1002", email="a@example.com") == []
        assert set(fake.searches()) == {'name:"#BW1001-UK"', 'name:"#BW1002-UK" email:"B@example.com"',
                                        'name:"#BW1002-UK" email:"a@example.com"'}  # fmt: skip


AFFIXED = Path(__file__).resolve().parent / "data" / "affixed-store.json"


async def test_a_prefixed_and_suffixed_name_typed_any_way_is_found_live(tmp_path: Path, sleep: RecordingSleep) -> None:
    """As a shopper's details reach Shopify through find_order (normalised, then searched in the shop's format):
    every form finds BOG-5101-IE, and nothing finds another order."""
    raw = json.loads(AFFIXED.read_text())
    raw["shop"] |= {"orderNumberFormatPrefix": "BOG-", "orderNumberFormatSuffix": "-IE"}
    path = tmp_path / "store.json"
    path.write_text(json.dumps(raw))
    forms = ["5101", "#5101", "order no. 5101", "bog5101", "BOG 5101 IE", "bog-5101-ie", "BOG5101IE", "BOG - 5101 - IE"]
    with FakeShopify(path, token=TOKEN) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            for typed in forms:
                number = normalize_order_number(typed)
                assert number is not None, typed
                found = await client.orders_by_name(number, email="aoife.byrne@example.ie")
                assert [o.name for o in found] == ["BOG-5101-IE"], typed
                assert await client.orders_by_name(number, email="sean.murphy@example.ie") == [], typed
            # Every form was a search for the one name the shop's format gives, never a guess at others.
            assert {s.split(" ")[0] for s in fake.searches()} == {'name:"BOG-5101-IE"'}
            for other in ("XY-5101", "5101-UK", "51010", "BOG-5101-IE-X"):
                assert await client.orders_by_name(other) == [], other
            # Two orders share 5130: the shop's format names the IE one; the UK one by its own name.
            assert [o.name for o in await client.orders_by_name("5130")] == ["BOG-5130-IE"]
            uk = await client.orders_by_name(normalize_order_number("BOG 5130 UK") or "")
            assert [o.name for o in uk] == ["BOG-5130-UK"]


# --- whole orders --------------------------------------------------------------------------------------------------


def big_order() -> dict[str, Any]:
    """8 packages and 60 line items: package 1 holds 25 of them, package 8 has 4 tracking numbers."""
    items = [
        {"name": f"Item {i:02d}", "quantity": 1, "sku": f"SKU-{i:02d}", "unfulfilledQuantity": 0} for i in range(60)
    ]
    shipped = [items[:25], *[items[25 + 5 * p : 30 + 5 * p] for p in range(7)]]
    fulfillments = [
        {
            "name": f"#2001-F{p + 1}",
            "status": "SUCCESS",
            "displayStatus": "IN_TRANSIT",
            "createdAt": f"2026-02-2{p % 8}T10:00:00Z",
            "location": {"name": "Warehouse"},
            "trackingInfo": [{"company": "UPS", "number": f"1Z{p}{t}", "url": None} for t in range(4 if p == 7 else 1)],
            "fulfillmentLineItems": {"nodes": [{"quantity": 1, "lineItem": {"name": i["name"]}} for i in group]},
            "events": {"nodes": [{"status": "IN_TRANSIT", "happenedAt": "2026-02-21T10:00:00Z"}]},
        }
        for p, group in enumerate(shipped)
    ]
    return order_node(
        "#2001",
        customer={"id": "gid://shopify/Customer/9", "defaultEmailAddress": {"emailAddress": "a@example.com"}},
        displayFulfillmentStatus="FULFILLED",
        lineItems={"nodes": items},
        fulfillments=fulfillments,
    )


async def test_an_order_with_8_packages_and_60_items_comes_through_whole(tmp_path: Path, sleep: RecordingSleep) -> None:
    store = write_store(tmp_path, big_order())
    with FakeShopify(store, token=TOKEN) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            for order in (
                (await client.orders_by_name("2001"))[0],
                (await client.orders_by_customer("gid://shopify/Customer/9"))[0],
                (await client.orders_by_email("a@example.com"))[0],
            ):
                assert len(order.line_items) == 60
                assert [li.sku for li in order.line_items] == [f"SKU-{i:02d}" for i in range(60)]
                assert [f.name for f in order.fulfillments] == [f"#2001-F{p}" for p in range(1, 9)]
                assert [len(f.items) for f in order.fulfillments] == [25, 5, 5, 5, 5, 5, 5, 5]
                assert len(order.fulfillments[7].tracking) == 4
                assert {f.location_name for f in order.fulfillments} == {"Warehouse"}
        # Every query Lumen sent stayed under Shopify's 1,000-point ceiling.
        costs = [requested_cost(parse_query(body["query"], body["variables"])) for body in fake.received]
        assert max(costs) < 1000
        assert any("LumenFulfillment(" in body["query"] for body in fake.received)
        assert any("LumenLineItems" in body["query"] for body in fake.received)


async def test_an_old_order_is_invisible_without_read_all_orders_and_the_merchant_is_told(
    tmp_path: Path, sleep: RecordingSleep
) -> None:
    # asOf is 2026-02-27: an order from November is past Shopify's 60-day window.
    store = write_store(tmp_path, order_node("#900", createdAt="2025-11-20T10:00:00Z"), order_node("#1001"))
    with FakeShopify(store, token=TOKEN, scopes=APP_SCOPES) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            assert [o.name for o in await client.orders_by_name("1001")] == ["#1001"]
            assert await client.orders_by_name("900") == []  # to the shopper: simply not found
            assert client.status.older_orders_visible is False
            assert client.status.not_found_old_orders_hidden == 1
    with FakeShopify(store, token=TOKEN, scopes=APP_SCOPES | {"read_all_orders"}) as fake:
        async with ShopifyAdmin(fake.url, TOKEN, sleep=sleep) as client:
            assert [o.name for o in await client.orders_by_name("900")] == ["#900"]
            assert client.status.not_found_old_orders_hidden == 0
