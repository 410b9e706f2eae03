"""Round 7's attack on a running Lumen, over HTTP: what an attacker found, each test failing against the code before
its fix. Shopify signs a webhook's body only (never its topic or shop headers), and signs with the previous secret for
a while after a rotation; a signed value may be any size."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

import server
import sync.service
from config import Settings
from evals.fakes.shopify_admin import ALL_SCOPES, FakeShopify
from shopify.auth import OAuthApp
from shopify.store_file import DEMO_STORE
from tests.fixtures import TOKEN
from tests.mirror_harness import Upstream
from tests.server_helpers import ADMIN, API_SECRET, make_settings, served, signed_query, webhook_headers

NOW = 1_790_000_000  # the app-proxy clock in these tests (seconds since the epoch)
PREVIOUS_SECRET = "shpss_the_secret_before_the_rotation"
SHOP = "an-invented-shop.myshopify.com"


def first_order() -> dict[str, Any]:
    """The store's first order, read from the store file (no test names a store's orders)."""
    orders: list[dict[str, Any]] = json.loads(DEMO_STORE.read_text(encoding="utf-8"))["orders"]
    return orders[0]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path, shopify_client_secret_previous=PREVIOUS_SECRET)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with served(settings, float(NOW)) as c:  # a float, as time.time() is
        yield c


def post_webhook(client: TestClient, body: bytes, topic: str, event_id: str, secret: str = API_SECRET) -> Any:
    headers = webhook_headers(body, topic, event_id, secret=secret) | {"X-Shopify-Shop-Domain": SHOP}
    return client.post("/webhooks/shopify", content=body, headers=headers)


def conversations(client: TestClient) -> int:
    response = client.get("/api/admin/conversations", headers=ADMIN)
    assert response.status_code == 200, response.text
    return len(response.json())


def proved_conversation(client: TestClient) -> None:
    """A shopper proves the store's first order: a conversation recorded as about that order's customer."""
    order = first_order()
    message = f"where is order {order['name']}? {order['email']}"
    response = client.post("/api/chat", json={"message": message})
    assert response.status_code == 200, response.text


def rest_order_body() -> dict[str, Any]:
    """The first order as an orders/* webhook carries it (REST shape: a top-level id, the customer inside)."""
    order = first_order()
    numeric = int(order["id"].rsplit("/", 1)[1])
    customer = int(order["customer"]["id"].rsplit("/", 1)[1])
    return {
        "id": numeric,
        "admin_graphql_api_id": order["id"],
        "name": order["name"],
        "email": order["email"],
        "customer": {"id": customer, "email": order["email"]},
        "updated_at": "2026-12-06T20:00:00Z",
    }


# --- a captured signed body sent again under a privacy topic ----------------------------------------------------

REPLAYS = [
    ("orders/updated", "shop/redact"),  # any order's body erased the whole shop
    ("orders/updated", "customers/redact"),  # an order's body erased its customer
    ("customers/data_request", "customers/redact"),  # a request to see data erased it
    ("customers/redact", "shop/redact"),  # one customer's erasure erased everyone
]


def captured_body(topic: str) -> dict[str, Any]:
    if topic == "orders/updated":
        return rest_order_body()
    order = first_order()
    numeric = int(order["customer"]["id"].rsplit("/", 1)[1])
    payload: dict[str, Any] = {"shop_id": 1, "shop_domain": SHOP, "customer": {"id": numeric, "email": "x@example.com"}}
    if topic == "customers/data_request":
        return payload | {"orders_requested": [], "data_request": {"id": 1}}
    return payload | {"orders_to_redact": []}  # a customer with no conversation here


@pytest.mark.parametrize(("genuine", "forged"), REPLAYS)
def test_a_signed_body_replayed_under_a_redaction_topic_deletes_nothing(
    client: TestClient, genuine: str, forged: str
) -> None:
    proved_conversation(client)
    body = json.dumps(captured_body(genuine)).encode()
    assert post_webhook(client, body, genuine, "evt-genuine").status_code == 200
    assert conversations(client) == 1
    # The attacker never had the secret: the same signed bytes, new ids, another topic.
    replayed = post_webhook(client, body, forged, "evt-replayed")
    assert replayed.status_code == 400
    assert forged in replayed.json()["detail"]
    assert conversations(client) == 1


def test_genuine_redactions_still_delete(client: TestClient) -> None:
    proved_conversation(client)
    order = first_order()
    customer = {"id": int(order["customer"]["id"].rsplit("/", 1)[1]), "email": order["email"]}
    redact = {"shop_id": 1, "shop_domain": SHOP, "customer": customer, "orders_to_redact": []}
    response = post_webhook(client, json.dumps(redact).encode(), "customers/redact", "evt-1")
    assert response.status_code == 200 and response.json()["deleted"]["conversations"] == 1
    proved_conversation(client)
    response = post_webhook(client, json.dumps({"shop_id": 1, "shop_domain": SHOP}).encode(), "shop/redact", "evt-2")
    assert response.status_code == 200 and response.json()["deleted"] == "all"
    assert conversations(client) == 0


# --- a secret rotation: Shopify signs with the previous secret for a while ----------------------------------------


def test_a_webhook_signed_with_the_previous_secret_is_genuine(client: TestClient) -> None:
    body = json.dumps(rest_order_body()).encode()
    assert post_webhook(client, body, "orders/updated", "evt-old", secret=PREVIOUS_SECRET).status_code == 200
    refused = post_webhook(client, body, "orders/updated", "evt-other", secret="another-apps-secret")
    assert refused.status_code == 401


def test_an_app_proxy_request_signed_with_the_previous_secret_is_genuine(client: TestClient) -> None:
    params = {"shop": SHOP, "timestamp": str(NOW), "logged_in_customer_id": ""}
    for secret, status in ((PREVIOUS_SECRET, 200), (API_SECRET, 200), ("another-apps-secret", 401)):
        response = client.post(f"/proxy/api/chat?{signed_query(params, secret)}", json={"message": "hello"})
        assert response.status_code == status, response.text


# --- signed numbers of any size -----------------------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["9" * 400, "-" + "9" * 400])
def test_a_signed_app_proxy_timestamp_no_clock_reaches_is_a_401(client: TestClient, timestamp: str) -> None:
    query = signed_query({"shop": SHOP, "timestamp": timestamp, "logged_in_customer_id": ""})
    response = client.post(f"/proxy/api/chat?{query}", json={"message": "hello"})
    assert response.status_code == 401
    assert response.json() == {"detail": "Missing or invalid app proxy timestamp."}


@pytest.mark.parametrize("timestamp", ["9" * 30, "-" + "9" * 30])
def test_a_signed_install_timestamp_no_clock_reaches_is_a_400(tmp_path: Path, timestamp: str) -> None:
    settings = make_settings(
        tmp_path,
        shopify_client_id="an-invented-client-id",
        lumen_public_url="https://lumen.example.com",
        lumen_secret_key="a passphrase that is long enough to derive a key from",
    )
    signed = OAuthApp("an-invented-client-id", API_SECRET).sign({"shop": SHOP, "timestamp": timestamp})
    with TestClient(server.create_app(settings)) as client:
        response = client.get(f"/auth/install?{urlencode(signed)}", follow_redirects=False)
    assert response.status_code == 400
    assert "timestamp" in response.json()["detail"]


# --- /healthz is public: nothing on it may move with one shopper's guess ----------------------------------------


def guess(client: TestClient, number: str) -> None:
    """One wrong guess: a real number or a made-up one with an email that is not the order's (one client each)."""
    response = client.post("/api/chat", json={"message": f"where is order {number}? someone.else@example.net"})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("mirror", [False, True])
def test_public_healthz_reads_the_same_after_guessing_a_real_or_a_made_up_order(tmp_path: Path, mirror: bool) -> None:
    """The reply to a wrong email reads like a missing order; /healthz said which it was (the connection's counter
    of names not found while older orders are hidden; the mirror falling back to Shopify for a number it lacks)."""
    real = first_order()["name"].lstrip("#")
    made_up = str(int(real) + 900_000)  # digits no order has
    without_all_orders = ALL_SCOPES - {"read_all_orders"}  # optional: many shops never grant it
    with FakeShopify(DEMO_STORE, token=TOKEN, scopes=without_all_orders) as fake:
        if mirror:
            exporter = Upstream(fake).export
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sync.service, "_default_exporter", lambda admin: exporter)
                readings = healthz_around_guesses(tmp_path, fake, mirror, [real, made_up])
        else:
            readings = healthz_around_guesses(tmp_path, fake, mirror, [real, made_up])
    before, after_real, after_made_up = readings
    assert after_real == before and after_made_up == before


def healthz_around_guesses(tmp_path: Path, fake: FakeShopify, mirror: bool, numbers: list[str]) -> list[Any]:
    settings = make_settings(
        tmp_path, shopify_shop_url=fake.base_url, shopify_access_token=TOKEN, lumen_order_mirror=mirror
    )
    with TestClient(server.create_app(settings)) as client:
        if mirror:
            wait_until_live(client)
        guess(client, numbers[0])  # the first lookup learns the shop and its scopes: not part of what is compared
        readings = [client.get("/healthz").json()]
        for number in numbers:
            guess(client, number)
            readings.append(client.get("/healthz").json())
        merchant = client.get("/healthz", headers=ADMIN).json()  # the merchant still sees it all
    assert merchant["connection"]["status"]["not_found_old_orders_hidden"] == 1
    return readings


def wait_until_live(client: TestClient) -> None:
    for _ in range(600):  # the backfill runs in the background; a bound, not a timing check
        if client.get("/healthz", headers=ADMIN).json()["order_sync"]["state"] == "live":
            return
        time.sleep(0.05)
    raise AssertionError("the backfill never finished")


def test_a_redaction_naming_an_address_longer_than_any_email_is_no_server_error(client: TestClient) -> None:
    proved_conversation(client)
    customer = {"id": 1, "email": "someone@" + "x" * 60_000 + ".example"}  # longer than SQLite's LIKE allows
    payload = {"shop_id": 1, "shop_domain": SHOP, "customer": customer, "orders_to_redact": []}
    response = post_webhook(client, json.dumps(payload).encode(), "customers/redact", "evt-long")
    assert response.status_code == 200, response.text
    assert response.json()["deleted"]["conversations"] == 0
    assert conversations(client) == 1
