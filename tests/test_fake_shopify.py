"""The fake Shopify Admin GraphQL server, spoken to over a real loopback socket with plain httpx."""

from __future__ import annotations

from typing import Any

import httpx
from inline_snapshot import snapshot

from evals.fakes.shopify_admin import FakeShopify, Term, parse_query, parse_search, requested_cost
from shopify.client import ORDERS_QUERY, SHOP_QUERY
from shopify.store_file import DEMO_STORE
from tests.fixtures import TOKEN


def post(
    fake: FakeShopify, query: str, variables: dict[str, Any] | None = None, *, token: str = TOKEN
) -> httpx.Response:
    body = {"query": query, "variables": variables or {}}
    return httpx.post(fake.url, json=body, headers={"X-Shopify-Access-Token": token}, timeout=5)


def names(response: httpx.Response) -> list[str]:
    return [node["name"] for node in response.json()["data"]["orders"]["nodes"]]


def test_url_is_the_versioned_graphql_endpoint(fake: FakeShopify) -> None:
    assert fake.url == f"http://127.0.0.1:{fake.port}/admin/api/2026-10/graphql.json"
    assert fake.port > 0


def test_wrong_token_is_401_like_shopify(fake: FakeShopify) -> None:
    response = post(fake, SHOP_QUERY, token="shpat_wrong")
    assert response.status_code == 401
    assert response.json() == snapshot(
        {"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}
    )
    assert fake.received == []  # refused before anything was looked at


def test_only_post_on_the_graphql_path(fake: FakeShopify) -> None:
    assert httpx.get(fake.url, headers={"X-Shopify-Access-Token": TOKEN}).status_code == 405
    other = fake.url.replace("graphql.json", "orders.json")
    assert httpx.post(other, json={}, headers={"X-Shopify-Access-Token": TOKEN}).status_code == 404


def test_shop_query_answers_only_selected_fields_with_cost(fake: FakeShopify) -> None:
    body = post(fake, "{ shop { name currencyCode } }").json()
    assert body["data"] == snapshot({"shop": {"name": "Harbor & Pine", "currencyCode": "USD"}})
    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1
    assert cost["actualQueryCost"] == 1
    assert cost["throttleStatus"]["maximumAvailable"] == 2000.0
    assert cost["throttleStatus"]["restoreRate"] == 100.0
    assert 1990 <= cost["throttleStatus"]["currentlyAvailable"] <= 2000


def test_name_and_email_search(fake: FakeShopify) -> None:
    assert names(post(fake, ORDERS_QUERY, {"q": 'name:"#1042" email:"Jordan.LEE@example.com"'})) == ["#1042"]
    assert names(post(fake, ORDERS_QUERY, {"q": "name:1042"})) == ["#1042"]  # without the '#'
    assert names(post(fake, ORDERS_QUERY, {"q": 'name:"#1042" email:"someone@else.com"'})) == []


def test_customer_search_is_newest_first_and_limited_by_first(fake: FakeShopify) -> None:
    assert names(post(fake, ORDERS_QUERY, {"q": "customer_id:7002"})) == ["#1042", "#1050"]
    everything = names(post(fake, ORDERS_QUERY, {"q": ""}))
    assert everything == ["#1099", "#1089", "#1094", "#1042", "#1093"]  # five newest by processedAt


def test_or_and_wildcards_widen_results_so_injection_would_show(fake: FakeShopify) -> None:
    # What a client that pasted a shopper's text into the search string would send: the fake must widen like Shopify.
    assert len(names(post(fake, ORDERS_QUERY, {"q": 'email:"x" OR name:*'}))) == 5
    # The same text as one escaped, quoted value stays a single literal term.
    assert names(post(fake, ORDERS_QUERY, {"q": r'email:"x\" OR name\:*"'})) == []


def test_search_syntax() -> None:
    assert parse_search(r'name:"#1042" email:"x\" OR name\:*" -customer_id:7 NOT id:3 OR name:10*') == snapshot(
        [
            [
                Term(field="name", value="#1042"),
                Term(field="email", value='x" OR name:*'),
                Term(field="customer_id", value="7", negated=True),
                Term(field="id", value="3", negated=True),
            ],
            [Term(field="name", value="10", prefix=True)],
        ]
    )


def test_nested_lists_follow_first_and_shopify_shapes(fake: FakeShopify) -> None:
    query = """query ($q: String!) { orders(first: 1, query: $q) { nodes {
        name tags
        lineItems(first: 1) { nodes { name } }
        fulfillments(first: 1) {
            name trackingInfo(first: 1) { number } events(first: 2, reverse: true) { nodes { status } }
        }
        refunds(first: 1) { createdAt }
    } } }"""
    order = post(fake, query, {"q": "name:1031"}).json()["data"]["orders"]["nodes"][0]
    assert order == snapshot(
        {
            "name": "#1031",
            "tags": [],
            "lineItems": {"nodes": [{"name": "Wool Throw Blanket"}]},
            "fulfillments": [
                {
                    "name": "#1031-F1",
                    "trackingInfo": [{"number": "1Z999AA10123456784"}],
                    "events": {"nodes": [{"status": "DELIVERED"}, {"status": "OUT_FOR_DELIVERY"}]},
                }
            ],
            "refunds": [],
        }
    )


def test_lumens_orders_query_cost_is_calculated_like_shopify() -> None:
    assert requested_cost(parse_query(ORDERS_QUERY, {"q": "name:1"})) == snapshot(867)
    assert (
        requested_cost(
            parse_query("{ products(first: 10) { nodes { title variants(first: 5) { nodes { price } } } } }")
        )
        == 82
    )


def test_actual_cost_is_refunded(fake: FakeShopify) -> None:
    cost = post(fake, ORDERS_QUERY, {"q": "name:1042"}).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 867
    assert 0 < cost["actualQueryCost"] < 867
    assert cost["throttleStatus"]["currentlyAvailable"] >= 2000 - cost["actualQueryCost"] - 1


def test_throttled_when_the_bucket_cannot_hold_the_query() -> None:
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=50, restore_rate=1, query_cost=40) as fake:
        first = post(fake, ORDERS_QUERY, {"q": "name:1042"}).json()
        second = post(fake, ORDERS_QUERY, {"q": "name:1042"})
        assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 10
        assert second.status_code == 200
        body = second.json()
        assert "data" not in body
        assert body["errors"] == snapshot(
            [
                {
                    "message": "Throttled",
                    "extensions": {"code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"},
                }
            ]
        )
        assert body["extensions"]["cost"]["requestedQueryCost"] == 40
        assert body["extensions"]["cost"]["actualQueryCost"] is None
        assert fake.requests == 2
        assert fake.throttled == 1


def test_single_query_over_1000_points_is_refused(fake: FakeShopify) -> None:
    body = post(fake, "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { name } } } } }").json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_injected_failures_come_first_then_data(fake: FakeShopify) -> None:
    fake.fail_next(1, status=503)
    fake.fail_next(1, status=429, retry_after=1.5)
    first, second, third = (post(fake, SHOP_QUERY) for _ in range(3))
    assert first.status_code == 503
    assert (second.status_code, second.headers["Retry-After"]) == (429, "1.5")
    assert third.json()["data"]["shop"]["name"] == "Harbor & Pine"
    assert (fake.requests, fake.failures_served, fake.throttled) == (3, 2, 1)


def test_unknown_root_field_is_a_graphql_error(fake: FakeShopify) -> None:
    body = post(fake, "{ customers(first: 1) { nodes { id } } }").json()
    assert body["errors"][0]["message"] == "Field 'customers' doesn't exist on type 'QueryRoot'"


def test_records_what_it_received(fake: FakeShopify) -> None:
    post(fake, ORDERS_QUERY, {"q": 'name:"#1042"'})
    assert fake.searches() == ['name:"#1042"']
    assert fake.received[0]["query"] == ORDERS_QUERY
