"""What Shopify and the storefront talk to: the app proxy, webhooks, the widget and the pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import server
from tests.server_helpers import API_SECRET, SpySource, make_settings, signed_query, sse_events, webhook_headers
from tools.config import Settings
from tools.sources.base import OrderSourceUnavailable
from tools.sources.fixture import DEMO_STORE

NOW = 1_790_000_000  # the server's clock in these tests (seconds since the epoch)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = server.create_app(settings)
    with TestClient(app) as c:
        app.state.clock = lambda: NOW
        yield c


@pytest.fixture
def spy(client: TestClient) -> SpySource:
    lumen = client.app.state.lumen
    lumen.source = SpySource(lumen.source)
    return lumen.source


def proxy_params(customer: str = "", **extra: str) -> dict[str, str]:
    return {
        "shop": "harbor-and-pine.myshopify.com",
        "logged_in_customer_id": customer,
        "path_prefix": "/apps/lumen",
        "timestamp": str(NOW),
        **extra,
    }


# --- the app proxy ------------------------------------------------------------------------------------------------


def test_signature_matches_shopifys_documented_algorithm() -> None:
    # Sorted `key=value` pairs, repeated values joined by ',', no separator, hex HMAC-SHA256; `signature` left out.
    query = [("shop", "s.myshopify.com"), ("extra", "1"), ("extra", "2"), ("timestamp", "1"), ("signature", "x")]
    expected = signed_query([q for q in query if q[0] != "signature"]).rsplit("signature=", 1)[1]
    assert server.proxy_signature(query, API_SECRET) == expected


def test_a_signed_logged_in_customer_sees_their_orders_without_verification(client: TestClient) -> None:
    query = signed_query(proxy_params(customer="7002"))
    response = client.post(f"/proxy/api/chat?{query}", json={"message": "where is my order?"})
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert "#1042" in reply and "#1050" in reply
    assert "#1031" not in reply  # somebody else's


def test_the_signed_customer_goes_through_the_stream_too(client: TestClient) -> None:
    query = signed_query(proxy_params(customer="7002"))
    response = client.post(f"/proxy/api/chat/stream?{query}", json={"message": "where is my order?"})
    assert response.status_code == 200
    done = sse_events(response.text)[-1]
    assert done[0] == "done" and "#1042" in done[1]["reply"]


@pytest.mark.parametrize("path", ["/proxy/api/chat", "/proxy/api/chat/stream"])
def test_the_proxy_passes_the_peer_address_not_the_forwarded_one(client: TestClient, path: str) -> None:
    # Shopify forwards the shopper's address in X-Forwarded-For; only uvicorn's --forwarded-allow-ips may trust it.
    seen: list[str | None] = []
    lumen = client.app.state.lumen
    chat, stream = lumen.chat, lumen.chat_stream

    async def chat_spy(*args, **kwargs):
        seen.append(kwargs["client_ip"])
        return await chat(*args, **kwargs)

    def stream_spy(*args, **kwargs):
        seen.append(kwargs["client_ip"])
        return stream(*args, **kwargs)

    lumen.chat, lumen.chat_stream = chat_spy, stream_spy
    query = signed_query(proxy_params(customer="7002"))
    headers = {"X-Forwarded-For": "203.0.113.7"}
    response = client.post(f"{path}?{query}", json={"message": "where is my order?"}, headers=headers)
    assert response.status_code == 200
    assert seen == ["testclient"]


def test_a_signed_guest_must_verify(client: TestClient) -> None:
    query = signed_query(proxy_params(customer=""))
    response = client.post(f"/proxy/api/chat?{query}", json={"message": "where is my order?"})
    assert response.status_code == 200
    assert "order number" in response.json()["reply"]
    assert "#1042" not in response.json()["reply"]


def test_repeated_params_are_joined_with_commas(client: TestClient) -> None:
    query = signed_query([*proxy_params(customer="7002").items(), ("tag", "a"), ("tag", "b")])
    response = client.post(f"/proxy/api/chat?{query}", json={"message": "where is my order?"})
    assert response.status_code == 200


def test_the_public_api_ignores_a_customer_id_in_the_query(client: TestClient) -> None:
    response = client.post("/api/chat?logged_in_customer_id=7002", json={"message": "where is my order?"})
    assert "order number" in response.json()["reply"]
    assert "#1042" not in response.json()["reply"]


def _tampered() -> str:
    return signed_query(proxy_params(customer="7002")).replace(
        "logged_in_customer_id=7002", "logged_in_customer_id=7001"
    )


@pytest.mark.parametrize(
    "query",
    [
        pytest.param(_tampered(), id="tampered-customer"),
        pytest.param(signed_query(proxy_params(customer="7002")) + "&extra=1", id="added-param"),
        pytest.param(signed_query(proxy_params(customer="7002", timestamp=str(NOW - 91))), id="stale-timestamp"),
        pytest.param(signed_query(proxy_params(customer="7002", timestamp=str(NOW + 91))), id="future-timestamp"),
        pytest.param(signed_query(proxy_params(customer="7002", timestamp="soon")), id="bad-timestamp"),
        pytest.param(signed_query({k: v for k, v in proxy_params("7002").items() if k != "timestamp"}), id="no-ts"),
        pytest.param(signed_query(proxy_params(customer="7002"), secret="another-apps-secret"), id="wrong-secret"),
        pytest.param(signed_query(proxy_params(customer="7002")).split("&signature=")[0], id="missing-signature"),
        pytest.param(signed_query(proxy_params(customer="7002")) + "&signature=00", id="two-signatures"),
        pytest.param("", id="no-query"),
    ],
)
@pytest.mark.parametrize("path", ["/proxy/api/chat", "/proxy/api/chat/stream"])
def test_bad_proxy_signatures_are_refused(client: TestClient, spy: SpySource, path: str, query: str) -> None:
    response = client.post(f"{path}?{query}", json={"message": "where is my order?"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"]
    assert (
        client.get("/api/admin/stats", headers={"Authorization": "Bearer test-admin-token-Zq8"}).json()["conversations"]
        == 0
    )


def test_timestamps_within_the_window_are_accepted(client: TestClient) -> None:
    for skew in (-90, 0, 90):
        query = signed_query(proxy_params(timestamp=str(NOW + skew)))
        assert client.post(f"/proxy/api/chat?{query}", json={"message": "hi"}).status_code == 200


def test_the_proxy_is_closed_without_a_secret(tmp_path: Path) -> None:
    with TestClient(server.create_app(make_settings(tmp_path, lumen_shopify_api_secret=None))) as client:
        client.app.state.clock = lambda: NOW
        response = client.post(f"/proxy/api/chat?{signed_query(proxy_params())}", json={"message": "hi"})
        assert response.status_code == 401
        assert "LUMEN_SHOPIFY_API_SECRET" in response.json()["detail"]


def test_a_request_signed_for_another_shop_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shopify_shop="harbor-and-pine.myshopify.com")
    with TestClient(server.create_app(settings)) as client:
        client.app.state.clock = lambda: NOW
        ours = signed_query(proxy_params())
        assert client.post(f"/proxy/api/chat?{ours}", json={"message": "hi"}).status_code == 200
        theirs = signed_query(proxy_params(shop="someone-else.myshopify.com"))
        assert client.post(f"/proxy/api/chat?{theirs}", json={"message": "hi"}).status_code == 403


def test_the_proxy_validates_the_body_like_the_public_api(client: TestClient) -> None:
    query = signed_query(proxy_params())
    response = client.post(f"/proxy/api/chat?{query}", json={"message": "", "customer_id": "7002"})
    assert response.status_code == 422


# --- webhooks -----------------------------------------------------------------------------------------------------

ORDER_UPDATED = {
    "id": 5001042,
    "admin_graphql_api_id": "gid://shopify/Order/5001042",
    "name": "#1042",
    "email": "jordan.lee@example.com",
}


def post_webhook(client: TestClient, payload: object, topic: str, event_id: str | None = "evt-1", **kw) -> object:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = webhook_headers(body, topic, event_id, **kw)
    return client.post("/webhooks/shopify", content=body, headers=headers)


def test_a_verified_order_update_invalidates_that_order(client: TestClient, spy: SpySource) -> None:
    response = post_webhook(client, ORDER_UPDATED, "orders/updated")
    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert spy.invalidated == ["gid://shopify/Order/5001042", "#1042"]


@pytest.mark.parametrize(
    ("topic", "payload", "expected"),
    [
        ("fulfillments/create", {"id": 1, "order_id": 5001042, "name": "#1042.1"}, ["gid://shopify/Order/5001042"]),
        ("fulfillments/update", {"id": 1, "order_id": 5001042}, ["gid://shopify/Order/5001042"]),
        (
            "fulfillment_events/create",
            {"id": 9, "fulfillment_id": 1, "order_id": 5001042},
            ["gid://shopify/Order/5001042"],
        ),
        ("orders/updated", {"id": 5001031, "name": "#1031"}, ["gid://shopify/Order/5001031", "#1031"]),
        ("orders/updated", {"note": "no id at all"}, [None]),
    ],
)
def test_fulfillment_topics_invalidate_their_order(
    client: TestClient, spy: SpySource, topic: str, payload: dict, expected: list
) -> None:
    assert post_webhook(client, payload, topic).status_code == 200
    assert spy.invalidated == expected


def test_other_topics_are_acknowledged_and_ignored(client: TestClient, spy: SpySource) -> None:
    response = post_webhook(client, {"id": 1}, "products/update")
    assert response.status_code == 200 and response.json()["ignored"] is True
    assert spy.invalidated == []


def test_a_duplicate_delivery_is_processed_once(client: TestClient, spy: SpySource) -> None:
    assert "duplicate" not in post_webhook(client, ORDER_UPDATED, "orders/updated", "evt-7").json()
    again = post_webhook(client, ORDER_UPDATED, "orders/updated", "evt-7")
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert spy.invalidated == ["gid://shopify/Order/5001042", "#1042"]
    # A new event about the same order is not a duplicate.
    post_webhook(client, ORDER_UPDATED, "orders/updated", "evt-8")
    assert len(spy.invalidated) == 4


def test_the_webhook_id_is_the_fallback_dedup_key(client: TestClient, spy: SpySource) -> None:
    body = json.dumps(ORDER_UPDATED).encode()
    headers = webhook_headers(body, "orders/updated", None) | {"X-Shopify-Webhook-Id": "wh-only"}
    assert "duplicate" not in client.post("/webhooks/shopify", content=body, headers=headers).json()
    assert client.post("/webhooks/shopify", content=body, headers=headers).json()["duplicate"] is True
    assert len(spy.invalidated) == 2


def test_a_bad_hmac_is_refused_before_anything_happens(client: TestClient, spy: SpySource) -> None:
    body = json.dumps(ORDER_UPDATED).encode()
    good = webhook_headers(body, "orders/updated", "evt-1")
    cases = [
        good
        | {
            "X-Shopify-Hmac-Sha256": webhook_headers(body, "orders/updated", "evt-1", secret="nope")[
                "X-Shopify-Hmac-Sha256"
            ]
        },
        {k: v for k, v in good.items() if k != "X-Shopify-Hmac-Sha256"},
        good | {"X-Shopify-Hmac-Sha256": ""},
        good | {"X-Shopify-Hmac-Sha256": "not base64 at all ✓".encode()},
    ]
    for headers in cases:
        response = client.post("/webhooks/shopify", content=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid webhook signature."}
    # The body is what is signed: the same headers on another body fail.
    tampered = body.replace(b"#1042", b"#1031")
    assert client.post("/webhooks/shopify", content=tampered, headers=good).status_code == 401
    # Refused deliveries were not remembered: the genuine one still counts.
    assert client.post("/webhooks/shopify", content=body, headers=good).json().get("duplicate") is None
    assert spy.invalidated == ["gid://shopify/Order/5001042", "#1042"]


def test_a_signed_body_that_is_not_json_is_a_400(client: TestClient, spy: SpySource) -> None:
    response = post_webhook(client, b"{not json", "orders/updated")
    assert response.status_code == 400
    assert spy.invalidated == []


def test_webhooks_are_refused_without_a_secret(tmp_path: Path) -> None:
    with TestClient(server.create_app(make_settings(tmp_path, lumen_shopify_api_secret=None))) as client:
        assert post_webhook(client, ORDER_UPDATED, "orders/updated").status_code == 401


# --- the widget and the pages -------------------------------------------------------------------------------------


def test_the_storefront_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<h1 id="shop-name">Harbor &amp; Pine</h1>' in response.text
    assert '<script src="/widget.js" defer></script>' in response.text
    assert "{{" not in response.text
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_the_shop_name_is_escaped(tmp_path: Path) -> None:
    store = json.loads(DEMO_STORE.read_text())
    store["shop"]["name"] = '<img src=x onerror=alert(1)> & "Co"'
    path = tmp_path / "store.json"
    path.write_text(json.dumps(store))
    with TestClient(server.create_app(make_settings(tmp_path, lumen_store=path))) as client:
        page = client.get("/").text
        assert "<img src=x" not in page
        assert "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;Co&quot;" in page
        assert client.get("/healthz").json()["store"] == store["shop"]["name"]


def test_health_and_page_when_shopify_cannot_be_read(client: TestClient) -> None:
    class Down(SpySource):
        async def shop(self):
            raise OrderSourceUnavailable("Shopify answered 503")

    lumen = client.app.state.lumen
    lumen.source = Down(lumen.source)
    assert client.get("/healthz").json() == {"status": "degraded", "store": None, "model": "playbook"}
    page = client.get("/")
    assert page.status_code == 200 and "Your store" in page.text


def test_the_widget_and_static_files(client: TestClient) -> None:
    for path in ("/widget.js", "/proxy/widget.js"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert "LumenWidget" in response.text
    admin = client.get("/admin")
    assert admin.status_code == 200 and admin.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in admin.headers["content-security-policy"]
    for path in ("/static/admin.js", "/static/admin.css", "/static/site.css", "/static/site.js"):
        assert client.get(path).status_code == 200
    assert client.get("/static/../server.py").status_code == 404


def test_the_widget_never_interprets_server_text_as_html() -> None:
    source = (server.STATIC / "widget.js").read_text()
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", source)
    assert not re.search(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", (server.STATIC / "admin.js").read_text()
    )


def test_the_chat_api_allows_other_origins_and_the_admin_api_does_not(client: TestClient) -> None:
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type"}  # fmt: skip
    for path in ("/api/chat", "/api/chat/stream"):
        response = client.options(path, headers=preflight)
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "*"
    response = client.post("/api/chat", json={"message": "hi"}, headers={"Origin": "https://shop.example"})
    assert response.headers["access-control-allow-origin"] == "*"
    admin = client.options("/api/admin/stats", headers=preflight | {"Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in admin.headers


def test_no_demo_order_is_hard_coded_in_the_server() -> None:
    source = Path(server.__file__).read_text()
    store = json.loads(DEMO_STORE.read_text())
    for order in store["orders"]:
        assert order["name"].lstrip("#") not in source
        assert order["email"] not in source
