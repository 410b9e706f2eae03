"""What Shopify and the storefront talk to: the app proxy, webhooks, the widget and the pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import server
from config import Settings
from shopify.signatures import proxy_signature
from shopify.source import OrderSourceUnavailable
from shopify.store_file import DEMO_STORE
from tests.server_helpers import (
    ADMIN,
    API_SECRET,
    SpySource,
    make_settings,
    served,
    signed_query,
    sse_events,
    webhook_headers,
)

NOW = 1_790_000_000  # the server's clock in these tests (seconds since the epoch)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with served(settings, NOW) as c:
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
    assert proxy_signature(query, API_SECRET) == expected


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
def test_the_proxy_rations_by_order_not_by_shopifys_address(client: TestClient, path: str) -> None:
    # The peer is Shopify and X-Forwarded-For can be sent by anyone: neither names the shopper.
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
    assert seen == [None]


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


@pytest.mark.parametrize(
    ("key", "extra"),
    [("logged_in_customer_id", "7001"), ("shop", "another-store.myshopify.com"), ("timestamp", str(NOW))],
)
@pytest.mark.parametrize("path", ["/proxy/api/chat", "/proxy/api/chat/stream"])
def test_a_repeated_signed_param_is_refused_though_the_signature_holds(
    client: TestClient, path: str, key: str, extra: str
) -> None:
    # Signed as "7002,7001" (Shopify's joining of repeated keys), so only the repetition itself can give it away.
    query = signed_query([*proxy_params(customer="7002").items(), (key, extra)])
    response = client.post(f"{path}?{query}", json={"message": "where is my order?"})
    assert response.status_code == 401, response.text
    assert "more than once" in response.json()["detail"]


def test_a_repeated_signature_is_refused(client: TestClient) -> None:
    query = signed_query(proxy_params(customer="7002"))
    signature = query.split("&signature=")[1]
    response = client.post(f"/proxy/api/chat?{query}&signature={signature}", json={"message": "hi"})
    assert response.status_code == 401


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
    with served(make_settings(tmp_path, lumen_shopify_api_secret=None), NOW) as client:
        response = client.post(f"/proxy/api/chat?{signed_query(proxy_params())}", json={"message": "hi"})
        assert response.status_code == 401
        assert "LUMEN_SHOPIFY_API_SECRET" in response.json()["detail"]


def test_a_request_signed_for_another_shop_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, shopify_shop="harbor-and-pine.myshopify.com")
    with served(settings, NOW) as client:
        ours = signed_query(proxy_params())
        assert client.post(f"/proxy/api/chat?{ours}", json={"message": "hi"}).status_code == 200
        theirs = signed_query(proxy_params(shop="someone-else.myshopify.com"))
        assert client.post(f"/proxy/api/chat?{theirs}", json={"message": "hi"}).status_code == 403


@pytest.mark.parametrize("customer", ["²", "١٢", "７００２", "-7002", "0x1b5a", "gid://shopify/Customer/7002"])
def test_a_signed_customer_id_must_be_ascii_digits(client: TestClient, customer: str) -> None:
    query = signed_query(proxy_params(customer=customer))
    response = client.post(f"/proxy/api/chat?{query}", json={"message": "where is my order?"})
    assert response.status_code == 400
    assert response.json() == {"detail": "Invalid logged_in_customer_id."}


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
    # A new event about the same order is not a duplicate (a real one carries the order as it is now).
    post_webhook(client, ORDER_UPDATED | {"updated_at": "2026-12-06T06:00:00Z"}, "orders/updated", "evt-8")
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


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),  # was a RecursionError, a 500
        pytest.param(b'{"id": 5001042, "name": "#10\\ud800"}', id="lone-surrogate"),  # could not be answered: a 500
        pytest.param(b'{"customer": {"email": "\\udc00@example.com"}}', id="lone-surrogate-in-a-redaction"),
        pytest.param(b'{"id": 1} trailing', id="trailing-data"),
        pytest.param(b'{"name": "\xff\xfe"}', id="not-utf-8"),
        pytest.param(b'{"id": ' + b"9" * 5000 + b"}", id="5000-digit-number"),
    ],
)
@pytest.mark.parametrize("topic", ["orders/updated", "customers/redact"])
def test_signed_bodies_that_cannot_be_read_are_a_400(
    client: TestClient, spy: SpySource, body: bytes, topic: str
) -> None:
    response = post_webhook(client, body, topic)
    assert response.status_code == 400
    assert response.json() == {"detail": "The webhook body is not valid JSON."}
    assert spy.invalidated == []


def test_webhooks_are_refused_without_a_secret(tmp_path: Path) -> None:
    with TestClient(server.create_app(make_settings(tmp_path, lumen_shopify_api_secret=None))) as client:
        assert post_webhook(client, ORDER_UPDATED, "orders/updated").status_code == 401


# --- Shopify's privacy webhooks -----------------------------------------------------------------------------------

MAYA = "It says delivered but I never got it. order #1031 maya.patel@example.com"
JORDAN = "where is order 1042? jordan.lee@example.com"


def say(client: TestClient, message: str, session_id: str | None = None) -> str:
    response = client.post("/api/chat", json={"message": message, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()["session_id"]


def escalate_for_maya(client: TestClient) -> str:
    session_id = say(client, MAYA)
    say(client, "yes please", session_id)
    assert len(admin_get(client, "/api/admin/escalations")) == 1
    return session_id


def admin_get(client: TestClient, path: str) -> object:
    response = client.get(path, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def conversation_ids(client: TestClient) -> set[str]:
    return {c["id"] for c in admin_get(client, "/api/admin/conversations")}


def customers_redact(customer: object, orders: list | None = None, **extra: object) -> dict:
    """A customers/redact payload as Shopify documents it."""
    payload = {"shop_id": 954889, "shop_domain": "harbor-and-pine.myshopify.com", "customer": customer}
    return payload | {"orders_to_redact": orders or []} | extra


def test_customers_redact_deletes_their_conversations_and_escalations(client: TestClient, spy: SpySource) -> None:
    maya = escalate_for_maya(client)
    jordan = say(client, JORDAN)
    hello = say(client, "hello")
    payload = customers_redact({"id": 7001, "email": "maya.patel@example.com", "phone": None}, [5001031])
    response = post_webhook(client, payload, "customers/redact")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "topic": "customers/redact",
        "deleted": {"conversations": 1, "escalations": 1},
    }
    assert conversation_ids(client) == {jordan, hello}
    assert admin_get(client, "/api/admin/escalations") == []
    assert client.get(f"/api/admin/conversations/{maya}", headers=ADMIN).status_code == 404
    assert spy.invalidated == ["gid://shopify/Order/5001031"]  # and the cached order goes too


def test_customers_redact_finds_a_logged_in_customer_and_their_orders_by_id(client: TestClient) -> None:
    query = signed_query(proxy_params(customer="7002"))  # a logged-in shopper: no email was ever typed
    assert client.post(f"/proxy/api/chat?{query}", json={"message": "where is my order?"}).status_code == 200
    jordan = say(client, JORDAN)  # verified #1042 (order 5001042) by email
    kept = say(client, "hello")
    # Ids are matched whole: order 500104 is not order 5001042, customer 700 is not customer 7002.
    near_misses = customers_redact({"id": 700, "email": None}, [500104, 50010420])
    assert post_webhook(client, near_misses, "customers/redact", "evt-a").json()["deleted"]["conversations"] == 0
    assert len(conversation_ids(client)) == 3

    by_customer = customers_redact({"id": 7002, "email": None})
    assert post_webhook(client, by_customer, "customers/redact", "evt-b").json()["deleted"]["conversations"] == 1
    assert conversation_ids(client) == {jordan, kept}
    by_order = customers_redact({"id": 7099, "email": "someone.else@example.com"}, ["5001042"])
    assert post_webhook(client, by_order, "customers/redact", "evt-c").json()["deleted"]["conversations"] == 1
    assert conversation_ids(client) == {kept}


def test_shop_redact_forgets_everything(client: TestClient, spy: SpySource) -> None:
    escalate_for_maya(client)
    say(client, JORDAN)
    response = post_webhook(client, {"shop_id": 954889, "shop_domain": "harbor-and-pine.myshopify.com"}, "shop/redact")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "topic": "shop/redact", "deleted": "all"}
    assert admin_get(client, "/api/admin/conversations") == []
    assert admin_get(client, "/api/admin/escalations") == []
    assert admin_get(client, "/api/admin/stats")["conversations"] == 0
    assert spy.invalidated == [None]


def test_customers_data_request_is_answered_without_deleting_or_sending(client: TestClient) -> None:
    escalate_for_maya(client)
    payload = customers_redact({"id": 7001, "email": "maya.patel@example.com"}, data_request={"id": 9999})
    response = post_webhook(client, payload, "customers/data_request")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["topic"] == "customers/data_request"
    assert "/admin" in body["note"] and "conversations" in body["note"] and "escalations" in body["note"]
    assert len(conversation_ids(client)) == 1
    assert len(admin_get(client, "/api/admin/escalations")) == 1


@pytest.mark.parametrize("topic", ["customers/redact", "shop/redact", "customers/data_request"])
def test_unsigned_privacy_webhooks_are_refused(client: TestClient, topic: str) -> None:
    escalate_for_maya(client)
    body = json.dumps(customers_redact({"id": 7001, "email": "maya.patel@example.com"}, [5001031])).encode()
    for headers in (
        {k: v for k, v in webhook_headers(body, topic, "evt-1").items() if k != "X-Shopify-Hmac-Sha256"},
        webhook_headers(body, topic, "evt-1", secret="another-apps-secret"),
    ):
        response = client.post("/webhooks/shopify", content=body, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid webhook signature."}
    assert len(conversation_ids(client)) == 1
    assert len(admin_get(client, "/api/admin/escalations")) == 1


def test_another_shops_redaction_is_acknowledged_and_ignored(tmp_path: Path) -> None:
    with TestClient(server.create_app(make_settings(tmp_path, shopify_shop="harbor-and-pine.myshopify.com"))) as client:
        escalate_for_maya(client)
        for topic, payload in [
            ("shop/redact", {"shop_id": 1, "shop_domain": "someone-else.myshopify.com"}),
            ("customers/redact", customers_redact({"email": "maya.patel@example.com"}, shop_domain="x.myshopify.com")),
        ]:
            response = post_webhook(client, payload, topic, event_id=None)
            assert response.status_code == 200 and response.json()["ignored"] is True
        assert len(conversation_ids(client)) == 1
        ours = customers_redact({"email": "maya.patel@example.com"})
        assert post_webhook(client, ours, "customers/redact").json()["deleted"]["conversations"] == 1


def test_a_redaction_that_failed_is_done_when_shopify_redelivers_it(settings: Settings) -> None:
    with TestClient(server.create_app(settings), raise_server_exceptions=False) as client:
        escalate_for_maya(client)
        db = client.app.state.lumen.db
        redact = db.redact

        async def down(needles: list[str]) -> dict[str, int]:
            raise RuntimeError("database is locked")

        db.redact = down
        payload = customers_redact({"id": 7001, "email": "maya.patel@example.com"})
        assert post_webhook(client, payload, "customers/redact", "evt-9").status_code == 500
        db.redact = redact
        # The same event again: it was remembered before it failed, yet it is not skipped as a duplicate.
        again = post_webhook(client, payload, "customers/redact", "evt-9")
        assert again.status_code == 200
        assert again.json()["deleted"] == {"conversations": 1, "escalations": 1}
        assert again.json()["duplicate"] is True
        assert conversation_ids(client) == set()


def test_a_customer_with_many_orders_is_redacted(client: TestClient) -> None:
    say(client, JORDAN)
    payload = customers_redact({"id": 7002, "email": "jordan.lee@example.com"}, list(range(4_000_000, 4_002_000)))
    response = post_webhook(client, payload, "customers/redact")
    assert response.status_code == 200
    assert response.json()["deleted"] == {"conversations": 1, "escalations": 0}


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "redact",
        None,
        {},
        {"customer": "maya.patel@example.com", "orders_to_redact": "5001031"},
        {"customer": {"id": True, "email": 42}, "orders_to_redact": [None, {"id": 1}, -5, 1.5, "١٢", "", True]},
        {"customer": {"id": "gid://shopify/Customer/7001", "email": ""}, "orders_to_redact": None},
        {"customer": {"email": "@"}, "orders_to_redact": [[]]},
    ],
)
def test_odd_redaction_payloads_delete_nothing(client: TestClient, spy: SpySource, payload: object) -> None:
    escalate_for_maya(client)
    response = post_webhook(client, payload, "customers/redact")
    assert response.status_code == 200
    assert response.json()["deleted"] == {"conversations": 0, "escalations": 0}
    assert len(conversation_ids(client)) == 1
    assert spy.invalidated == []


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
    assert client.get("/healthz").json() == {
        "status": "degraded",
        "store": None,
        "model": "playbook",
        "order_sync": {"state": "off", "last_sync": None},
    }
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
