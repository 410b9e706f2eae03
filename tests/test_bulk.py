"""The order mirror's backfill: one Shopify bulk operation, run against the fake Shopify over real loopback sockets."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from evals.fakes.shopify_admin import ALL_SCOPES, FakeShopify
from evals.fakes.shopify_bulk import BulkOperation as FakeBulkOperation
from shopify.bulk import (
    BULK_CANCEL_MUTATION,
    BULK_CONFIRM_MUTATION,
    BULK_CONFIRM_POLL,
    BULK_OPERATION_QUERY,
    BULK_RUN_MUTATION,
    BulkBusy,
    BulkExportFailed,
    bulk_confirm_query,
    bulk_orders_query,
    cancel,
    confirm_orders,
    events_complete,
    export_orders,
)
from shopify.client import ShopifyAdmin
from shopify.domain import Order, parse_order
from shopify.scopes import APP_SCOPES
from shopify.store_file import DEMO_STORE, FixtureStore
from tests.fixtures import TOKEN

AS_OF = datetime(2026, 2, 27, 17, tzinfo=UTC)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
DEMO_NAMES = sorted(node["name"] for node in FixtureStore(DEMO_STORE).raw["orders"])


class Sleeps:
    """Records the waits asked for and returns at once: the fake's operations move on when polled, not with time.
    `during` runs at a given wait, for things that happen while an export runs."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.during: dict[int, Callable[[], None]] = {}

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        action = self.during.get(len(self.waits))
        if action is not None:
            action()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def admin(fake: FakeShopify) -> AsyncIterator[ShopifyAdmin]:
    async with ShopifyAdmin(fake.url, TOKEN, now=AS_OF) as client:
        yield client


async def export(admin: ShopifyAdmin, since: datetime, sleeps: Sleeps, **kwargs: Any) -> list[dict[str, Any]]:
    return [node async for node in export_orders(admin, since, poll_s=0.5, sleep=sleeps, **kwargs)]


def bulk_queries(fake: FakeShopify) -> list[str]:
    return [op.query for op in fake.bulk_operations]


def without_carrier_detail(order: Order) -> Order:
    """What a bulk query can carry of an order: packages without their carrier events and per-package items."""
    packages = [f.model_copy(update={"events": [], "items": []}) for f in order.fulfillments]
    return order.model_copy(update={"fulfillments": packages})


# --- the backfill -------------------------------------------------------------------------------------------------


async def test_backfill_yields_every_order_as_the_live_query_reads_it(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    nodes = await export(admin, LONG_AGO, sleeps)
    assert sorted(node["name"] for node in nodes) == DEMO_NAMES
    for node in nodes:
        assert node["_lumen"] == {"events_complete": False} and not events_complete(node)
        live_node = await admin.order_node_by_id(node["id"])
        assert live_node is not None and events_complete(live_node)
        live = parse_order(live_node)
        assert parse_order(node) == without_carrier_detail(live)
        assert node["updatedAt"] == fake.order(node["id"])["updatedAt"]
    # Something was lost only where the bulk rules say so: the live reads do have events and items.
    live_orders = [await admin.order_by_id(node["id"]) for node in nodes]
    assert any(o is not None and any(f.events and f.items for f in o.fulfillments) for o in live_orders)


async def test_grouped_and_ungrouped_results_read_the_same(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    grouped = await export(admin, LONG_AGO, sleeps)
    ungrouped = await export(admin, LONG_AGO, sleeps, group_objects=False)
    assert sorted(grouped, key=lambda n: n["id"]) == sorted(ungrouped, key=lambda n: n["id"])
    assert [op.group_objects for op in fake.bulk_operations] == [True, False]


async def test_only_orders_updated_since_the_time_come(admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps) -> None:
    since = datetime(2026, 2, 25, tzinfo=UTC)
    expected = sorted(o["name"] for o in fake.orders if datetime.fromisoformat(o["updatedAt"]) > since)
    assert 0 < len(expected) < len(DEMO_NAMES)
    assert sorted(node["name"] for node in await export(admin, since, sleeps)) == expected
    assert "updated_at:>'2026-02-25T00:00:00Z'" in bulk_queries(fake)[0]


async def test_nothing_changed_yields_nothing(admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps) -> None:
    assert await export(admin, AS_OF, sleeps) == []
    assert fake.bulk_operations[0].status == "COMPLETED" and fake.bulk_operations[0].url is None


# --- how it talks to Shopify ---------------------------------------------------------------------------------------


async def test_polls_bulk_operation_by_id_until_completed(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    await export(admin, LONG_AGO, sleeps)
    [operation] = fake.bulk_operations
    sent = [body for body in fake.received if body["query"] in (BULK_RUN_MUTATION, BULK_OPERATION_QUERY)]
    assert [body["query"] for body in sent] == [BULK_RUN_MUTATION, BULK_OPERATION_QUERY, BULK_OPERATION_QUERY]
    assert all(body["variables"] == {"id": operation.id} for body in sent[1:])
    assert not any("currentBulkOperation" in body["query"] for body in fake.received)
    assert sleeps.waits == [0.5, 0.5]  # CREATED -> RUNNING -> COMPLETED, one poll each


async def test_the_result_download_never_carries_the_admin_token(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    assert len(await export(admin, LONG_AGO, sleeps)) == len(DEMO_NAMES)
    [download] = fake.downloads
    assert "x-shopify-access-token" not in download
    assert TOKEN not in " ".join(download.values())
    # The storage link refuses a request that carries it: the check above could not pass by accident.
    url = fake.bulk_operations[0].url
    assert url is not None
    assert httpx.get(url, headers={"X-Shopify-Access-Token": TOKEN}).status_code == 403
    assert httpx.get(url.replace("X-Goog-Signature=", "X-Goog-Signature=0")).status_code == 403
    assert httpx.get(url).status_code == 200


async def test_another_bulk_query_in_progress_is_waited_out(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    fake.bulk_query_limit = 1  # one at a time, as before API version 2026-01 (OPERATION_IN_PROGRESS)
    await admin.execute(BULK_RUN_MUTATION, {"query": bulk_orders_query(AS_OF, None), "group": True})
    nodes = await export(admin, LONG_AGO, sleeps)
    assert sorted(node["name"] for node in nodes) == DEMO_NAMES
    first, second = fake.bulk_operations
    assert first.status == "COMPLETED" and second.status == "COMPLETED"
    assert len(sleeps.waits) == 3  # one wait for the other operation, two polls for ours


async def test_an_operation_that_never_ends_is_given_up(admin: ShopifyAdmin, fake: FakeShopify) -> None:
    sleeps = Sleeps()
    with pytest.raises(BulkExportFailed) as failed:
        async for _ in export_orders(admin, LONG_AGO, poll_s=2, sleep=sleeps, max_wait_s=3):
            pass
    assert failed.value.error_code == "TIMEOUT"
    assert sleeps.waits == [2]


@pytest.mark.parametrize(("status", "code"), [("FAILED", "INTERNAL_SERVER_ERROR"), ("CANCELED", None)])
async def test_a_failed_or_canceled_operation_raises(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps, status: str, code: str | None
) -> None:
    fake.end_next_bulk(status, code)
    with pytest.raises(BulkExportFailed) as failed:
        await export(admin, LONG_AGO, sleeps)
    assert failed.value.error_code == (code or status)
    assert status in str(failed.value)
    assert fake.downloads == []


# --- scopes: a denied field fails the whole operation, so the query is built from what was granted ---------------


async def test_a_scope_taken_away_during_the_export_fails_it_clearly(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    sleeps.during[1] = lambda: fake.grant_scopes(ALL_SCOPES - {"read_locations"})
    with pytest.raises(BulkExportFailed, match="ACCESS_DENIED") as failed:
        await export(admin, LONG_AGO, sleeps)
    assert failed.value.error_code == "ACCESS_DENIED"
    assert "location { name }" in bulk_queries(fake)[0]
    # The next export asks what is granted now, and leaves the field out.
    nodes = await export(admin, LONG_AGO, sleeps)
    assert sorted(node["name"] for node in nodes) == DEMO_NAMES
    assert "location" not in bulk_queries(fake)[1]
    assert all(f.location_name is None for node in nodes for f in parse_order(node).fulfillments)


async def test_an_export_with_only_read_orders_succeeds(sleeps: Sleeps) -> None:
    async with (
        FakeShopify(DEMO_STORE, token=TOKEN, scopes={"read_orders", "read_all_orders"}) as shop,
        ShopifyAdmin(shop.url, TOKEN, now=AS_OF) as admin,
    ):
        nodes = await export(admin, LONG_AGO, sleeps)
        [query] = bulk_queries(shop)
    assert sorted(node["name"] for node in nodes) == DEMO_NAMES
    for gone in ("customer", "fulfillmentOrders", "location"):
        assert gone not in query
    orders = [parse_order(node) for node in nodes]
    assert all(o.customer_id is None and o.fulfillment_orders == [] for o in orders)
    assert any(o.line_items for o in orders)


async def test_without_read_all_orders_the_window_is_clamped_to_60_days(
    sleeps: Sleeps, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        FakeShopify(DEMO_STORE, token=TOKEN, scopes=APP_SCOPES) as shop,
        ShopifyAdmin(shop.url, TOKEN, now=AS_OF) as admin,
    ):
        with caplog.at_level(logging.WARNING, logger="shopify.bulk"):
            nodes = await export(admin, AS_OF - timedelta(days=90), sleeps)
        [query] = bulk_queries(shop)
    assert f"updated_at:>'{(AS_OF - timedelta(days=60)).strftime('%Y-%m-%dT%H:%M:%SZ')}'" in query
    assert any("read_all_orders" in record.getMessage() for record in caplog.records)
    assert sorted(node["name"] for node in nodes) == DEMO_NAMES  # every demo order is within the window


async def test_with_read_all_orders_the_window_is_kept(admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps) -> None:
    await export(admin, AS_OF - timedelta(days=90), sleeps)
    assert f"updated_at:>'{(AS_OF - timedelta(days=90)).strftime('%Y-%m-%dT%H:%M:%SZ')}'" in bulk_queries(fake)[0]


# --- reading the JSONL ----------------------------------------------------------------------------------------------


def serve(lines: list[dict[str, Any]]) -> httpx.AsyncClient:
    body = "".join(f"{json.dumps(line)}\n" for line in lines).encode()
    return httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=body)))


ORDER_A = {"id": "gid://shopify/Order/1", "name": "#1", "createdAt": "2026-02-20T10:00:00Z"}
ORDER_B = {"id": "gid://shopify/Order/2", "name": "#2", "createdAt": "2026-02-21T10:00:00Z"}
ITEM = {"__typename": "LineItem", "name": "Mug", "quantity": 2, "sku": "M", "unfulfilledQuantity": 0}


async def test_children_are_put_back_under_their_order(admin: ShopifyAdmin, sleeps: Sleeps) -> None:
    lines = [ORDER_A, ITEM | {"__parentId": ORDER_A["id"]}, ORDER_B]
    async with serve(lines) as http:
        nodes = await export(admin, LONG_AGO, sleeps, http=http)
    assert [parse_order(node).line_items[0].name for node in nodes[:1]] == ["Mug"]
    assert [n["lineItems"]["nodes"] for n in nodes] == [[{"name": "Mug", "quantity": 2, "sku": "M",
                                                          "unfulfilledQuantity": 0}], []]  # fmt: skip


async def test_a_child_away_from_its_order_in_a_grouped_file_fails_loudly(admin: ShopifyAdmin, sleeps: Sleeps) -> None:
    lines = [ORDER_A, ORDER_B, ITEM | {"__parentId": ORDER_A["id"]}]
    async with serve(lines) as http:
        with pytest.raises(BulkExportFailed, match="away from its order"):
            await export(admin, LONG_AGO, sleeps, http=http)
    async with serve(lines) as http:  # the same file, read as the ungrouped file it is
        nodes = await export(admin, LONG_AGO, sleeps, http=http, group_objects=False)
    assert [len(n["lineItems"]["nodes"]) for n in nodes] == [1, 0]


# --- the fake's bulk rules ----------------------------------------------------------------------------------------


def run(fake: FakeShopify, query: str) -> dict[str, Any]:
    body = {"query": BULK_RUN_MUTATION, "variables": {"query": query, "group": False}}
    response = httpx.post(fake.url, json=body, headers={"X-Shopify-Access-Token": TOKEN})
    payload: dict[str, Any] = response.json()["data"]["bulkOperationRunQuery"]
    return payload


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("{ orders { nodes { id } } }", "edges { node }"),
        ("{ orders { edges { node { id fulfillments { events { edges { node { status } } } } } } } }", "list field"),
        ("{ shop { name } }", "at least one connection"),
        (
            "{ orders { edges { node { id lineItems { edges { node { id "
            "variant { product { media { edges { node { id } } } } } } } } } } } }",
            "nesting depth",
        ),
        ('{ node(id: "gid://shopify/Order/1") { id } }', "top-level node"),
        ("{ orders { edges { node { id", "Invalid bulk query"),
    ],
)
def test_the_fake_refuses_what_shopify_refuses_in_bulk(fake: FakeShopify, query: str, says: str) -> None:
    payload = run(fake, query)
    assert payload["bulkOperation"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "INVALID" and error["field"] == ["query"]
    assert says in error["message"]


def test_the_fake_counts_connections(fake: FakeShopify) -> None:
    many = " ".join(f"c{i}: lineItems {{ edges {{ node {{ name }} }} }}" for i in range(5))
    payload = run(fake, f"{{ orders {{ edges {{ node {{ id {many} }} }} }} }}")
    assert "more than 5 connections" in payload["userErrors"][0]["message"]
    assert run(fake, bulk_orders_query(AS_OF, None))["userErrors"] == []  # Lumen's own query is accepted


async def test_a_download_that_breaks_off_raises_bulk_export_failed(admin: ShopifyAdmin, sleeps: Sleeps) -> None:
    def broken(_: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset")

    async with httpx.AsyncClient(transport=httpx.MockTransport(broken)) as http:
        with pytest.raises(BulkExportFailed) as failed:
            await export(admin, LONG_AGO, sleeps, http=http)
    assert failed.value.error_code == "DOWNLOAD"


async def test_the_fake_reports_operations_through_node_too(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    await export(admin, LONG_AGO, sleeps)
    [operation] = fake.bulk_operations
    body = {"query": f'{{ node(id: "{operation.id}") {{ id __typename }} }}'}
    answer = httpx.post(fake.url, json=body, headers={"X-Shopify-Access-Token": TOKEN}).json()
    assert answer["data"]["node"] == {"id": operation.id, "__typename": "BulkOperation"}
    other = {"query": '{ bulkOperation(id: "gid://shopify/BulkOperation/1") { id } }'}
    assert httpx.post(fake.url, json=other, headers={"X-Shopify-Access-Token": TOKEN}).json()["data"] == {
        "bulkOperation": None
    }


@pytest.mark.parametrize("store", ["second-store.json", "third-store.json", "fourth-store.json"])
async def test_other_stores_backfill_whole_too(store: str, sleeps: Sleeps) -> None:
    path = Path(__file__).parent / "data" / store
    raw = json.loads(path.read_text(encoding="utf-8"))
    now = datetime.fromisoformat(raw["asOf"].replace("Z", "+00:00"))
    async with FakeShopify(path, token=TOKEN) as shop, ShopifyAdmin(shop.url, TOKEN, now=now) as admin:
        nodes = await export(admin, LONG_AGO, sleeps)
        assert sorted(node["name"] for node in nodes) == sorted(order["name"] for order in raw["orders"])
        for node in nodes:
            live = await admin.order_by_id(node["id"])
            assert live is not None and parse_order(node) == without_carrier_detail(live)


# --- the mirror's confirming reads: a few orders by id, in one bulk operation -------------------------------------


def five_running(fake: FakeShopify) -> None:
    """Five bulk queries of this app just started (the fake moves each a step when the app asks about them, so five
    sent one after another would not all be running by the fifth)."""
    fake.bulk_operations.extend(
        FakeBulkOperation(f"gid://shopify/BulkOperation/{900 + i}", TOKEN, bulk_orders_query(AS_OF, None), True, "")
        for i in range(5)
    )


async def test_confirming_reads_ask_for_those_orders_by_id_in_one_operation(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    wanted = ["gid://shopify/Order/5001088", "gid://shopify/Order/5001042", "gid://shopify/Order/404"]
    nodes = await confirm_orders(admin, wanted, poll_s=0.5, sleep=sleeps)
    # Those Shopify has, whole but for carrier events and per-package items; an id it does not know is just absent.
    assert sorted(node["id"] for node in nodes) == sorted(wanted[:2])
    for node in nodes:
        assert not events_complete(node)
        live = await admin.order_by_id(node["id"])
        assert live is not None and parse_order(node) == without_carrier_detail(live)
    [operation] = fake.bulk_operations
    assert "id:5001088 OR id:5001042 OR id:404" in operation.query and operation.root_object_count == 2
    sent = [body["query"] for body in fake.received if "bulkOperation" in body["query"]]
    assert sent == [BULK_CONFIRM_MUTATION, BULK_CONFIRM_POLL, BULK_CONFIRM_POLL]


async def test_a_confirming_read_does_not_wait_when_bulk_queries_are_all_taken(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    # Five bulk queries at a time since API version 2026-01: a sixth is refused with LIMIT_REACHED ...
    five_running(fake)
    with pytest.raises(BulkBusy) as busy:
        await confirm_orders(admin, ["gid://shopify/Order/5001088"], poll_s=0.5, sleep=sleeps)
    assert busy.value.error_code == "LIMIT_REACHED" and sleeps.waits == []
    # ... and one at a time before it (OPERATION_IN_PROGRESS): the backfill waits, a confirming read does not.
    fake.reset()
    fake.bulk_query_limit = 1
    await admin.execute(BULK_RUN_MUTATION, {"query": bulk_orders_query(AS_OF, None), "group": True})
    with pytest.raises(BulkBusy) as busy:
        await confirm_orders(admin, ["gid://shopify/Order/5001088"], poll_s=0.5, sleep=sleeps)
    assert busy.value.error_code == "OPERATION_IN_PROGRESS" and sleeps.waits == []


async def test_a_backfill_waits_out_bulk_queries_all_taken(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    five_running(fake)
    nodes = await export(admin, LONG_AGO, sleeps)
    assert sorted(node["name"] for node in nodes) == DEMO_NAMES
    assert len(fake.bulk_operations) == 6 and len(sleeps.waits) == 3  # one wait for a free slot, two polls


async def test_a_stuck_confirmation_given_up_on_is_cancelled_and_frees_its_slot(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    """A confirming operation that runs past its time is cancelled (`bulkOperationCancel`): left running, it would
    hold one of the app's bulk slots and the next confirmation would be refused."""
    fake.bulk_query_limit = 1  # one slot, so a stuck operation left running refuses the next at once
    fake.stall_next_bulk()
    with pytest.raises(BulkExportFailed) as failed:
        await confirm_orders(admin, ["gid://shopify/Order/5001088"], poll_s=2, sleep=sleeps, max_wait_s=3)
    assert failed.value.error_code == "TIMEOUT"
    stuck = fake.bulk_operations[0]
    cancels = [body for body in fake.received if "bulkOperationCancel" in body["query"]]
    assert [body["query"] for body in cancels] == [BULK_CANCEL_MUTATION]
    assert cancels[0]["variables"] == {"id": stuck.id} and stuck.status == "CANCELING"
    # The next confirmation gets the slot (the cancelled one is CANCELED by then) and answers.
    nodes = await confirm_orders(admin, ["gid://shopify/Order/5001088"], poll_s=2, sleep=sleeps, max_wait_s=60)
    assert [node["id"] for node in nodes] == ["gid://shopify/Order/5001088"]
    assert stuck.status == "CANCELED"


async def test_cancelling_an_operation_that_already_ended_changes_nothing(
    admin: ShopifyAdmin, fake: FakeShopify, sleeps: Sleeps
) -> None:
    await confirm_orders(admin, ["gid://shopify/Order/5001088"], poll_s=0.5, sleep=sleeps)
    (done,) = fake.bulk_operations
    assert await cancel(admin, done.id) is False and done.status == "COMPLETED"
    assert await cancel(admin, "gid://shopify/BulkOperation/999999") is False


def test_a_confirming_query_needs_order_ids() -> None:
    with pytest.raises(ValueError):
        bulk_confirm_query(["#1001", "not-an-id"], None)
    assert '"id:1 OR id:2"' in bulk_confirm_query(["gid://shopify/Order/1", "2"], None)
