"""Lumen connected to a store: the OAuth install through /auth/install and /auth/callback, the client credentials
grant from nothing but SHOPIFY_SHOP + client id + secret, and the connection on /healthz and /api/admin/connection.
Lumen talks to the fake Shopify over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import server
from config import Settings
from evals.fakes.shopify_admin import CLIENT_CREDENTIALS_TTL, CLIENT_ID, CLIENT_SECRET, FakeShopify
from shopify.auth import AuthorizationCodeToken, EncryptedTokenStore, OAuthApp, TokenCipher, parse_scopes
from shopify.scopes import APP_SCOPES
from shopify.store_file import DEMO_STORE
from storage import Database
from tests.server_helpers import ADMIN, ADMIN_TOKEN, make_settings

PUBLIC_URL = "https://lumen.example.com"
SECRET_KEY = "a passphrase that is long enough to derive a key from"


class Clock:
    """The fake Shopify's clock (token expiry), moved by the tests; it starts at the real time because Lumen checks
    the install request's timestamp against its own clock."""

    def __init__(self) -> None:
        self.t = datetime.now(UTC).timestamp()

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def shopify(clock: Clock) -> Iterator[FakeShopify]:
    with FakeShopify(DEMO_STORE, now=clock) as fake:
        yield fake


def app_settings(tmp_path: Path, fake: FakeShopify, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "shopify_client_id": CLIENT_ID,
        "lumen_shopify_api_secret": CLIENT_SECRET,
        "shopify_shop_url": fake.base_url,
        "lumen_public_url": PUBLIC_URL,
        "lumen_secret_key": SECRET_KEY,
    }
    return make_settings(tmp_path, **(values | overrides))


def issued_tokens(fake: FakeShopify) -> list[str]:
    return [*fake.oauth.tokens, *fake.oauth.refresh_tokens]


def install(client: TestClient, fake: FakeShopify) -> dict[str, str]:
    """/auth/install, then Shopify's consent screen: the signed callback query Shopify sends the merchant back with."""
    started = client.get(f"/auth/install?{urlencode(fake.install_query())}", follow_redirects=False)
    assert started.status_code == 302, started.text
    approved = httpx.get(started.headers["location"], follow_redirects=False)
    assert approved.status_code == 302
    location = urlsplit(approved.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{PUBLIC_URL}/auth/callback"
    return dict(parse_qsl(location.query))


def callback(client: TestClient, query: dict[str, str] | list[tuple[str, str]]) -> Any:
    return client.get(f"/auth/callback?{urlencode(query)}", follow_redirects=False)


# --- the install ---------------------------------------------------------------------------------------------------


def test_install_asks_for_the_app_scopes_with_a_state_and_the_public_callback(
    tmp_path: Path, shopify: FakeShopify
) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        started = client.get(f"/auth/install?{urlencode(shopify.install_query())}", follow_redirects=False)
    assert started.status_code == 302
    url = urlsplit(started.headers["location"])
    query = dict(parse_qsl(url.query))
    assert f"{url.scheme}://{url.netloc}{url.path}" == f"{shopify.base_url}/admin/oauth/authorize"
    assert parse_scopes(query["scope"]) == parse_scopes(APP_SCOPES)
    assert query["redirect_uri"] == f"{PUBLIC_URL}/auth/callback"
    assert query["client_id"] == CLIENT_ID and len(query["state"]) >= 32


def test_a_full_install_stores_the_token_encrypted_and_answers_from_the_store(
    tmp_path: Path, shopify: FakeShopify
) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        assert (
            client.get("/healthz", headers=ADMIN).json().get("connection") is None
        )  # the demo store file until installed
        done = callback(client, install(client, shopify))
        assert done.status_code == 302 and done.headers["location"] == "/admin"
        assert shopify.grants == ["authorization_code"]
        turn = client.post("/api/chat", json={"message": "where is order 1042? jordan.lee@example.com"}).json()
        assert "1042" in turn["reply"]
        connection = client.get("/api/admin/connection", headers=ADMIN).json()
        health = client.get("/healthz", headers=ADMIN).json()
        everything = [
            client.get(path, headers=ADMIN).text
            for path in ("/api/admin/settings", "/api/admin/stats", "/api/admin/conversations", "/api/openapi.json")
        ]
        everything.append(client.get(f"/api/admin/conversations/{turn['session_id']}", headers=ADMIN).text)
    assert connection["source"] == "shopify" and connection["grant"] == "install (authorization code)"
    assert connection["status"]["shop"] == shopify.shop_domain
    assert connection["status"]["missing_scopes"] == []
    assert connection["status"]["token_expires_at"] is not None and connection["status"]["last_success_at"]
    assert health["connection"]["status"]["shop"] == shopify.shop_domain
    secrets = issued_tokens(shopify)
    assert secrets
    for shown in (str(connection), str(health), *everything):
        assert not [token for token in secrets if token in shown]


def test_an_install_after_shop_redact_clears_the_shops_tombstone_not_a_customers(
    tmp_path: Path, shopify: FakeShopify
) -> None:
    """A reinstall is a new consent: the order mirror may hold the shop's orders again (shop/redact had refused every
    order created before it), but a customer's redaction stays."""
    settings = app_settings(tmp_path, shopify)

    async def redacted() -> None:
        async with Database(settings.lumen_database_url) as db:
            await db.redact_mirrored_orders(customer_ids=["gid://shopify/Customer/77"])
            await db.forget_mirrored_orders()

    async def tombstones() -> set[str]:
        async with Database(settings.lumen_database_url) as db:
            return {kind for kind, _key, _at in await db.mirror_tombstones()}

    asyncio.run(redacted())
    assert asyncio.run(tombstones()) == {"customer", "shop"}
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
    assert asyncio.run(tombstones()) == {"customer"}


async def test_the_stored_token_is_encrypted(tmp_path: Path, shopify: FakeShopify) -> None:
    settings = app_settings(tmp_path, shopify)
    with TestClient(server.create_app(settings)) as client:
        callback(client, install(client, shopify))
    async with Database(settings.lumen_database_url) as db:
        raw = str(await db.get_setting(f"shopify_token:{shopify.shop_domain}"))
        stored = await EncryptedTokenStore(db, TokenCipher(SECRET_KEY)).load(shopify.shop_domain)
    assert stored is not None and stored.access_token.get_secret_value() in shopify.oauth.tokens
    assert not [token for token in issued_tokens(shopify) if token in raw]


def test_a_restarted_lumen_answers_from_the_installed_shop(tmp_path: Path, shopify: FakeShopify) -> None:
    settings = app_settings(tmp_path, shopify)
    with TestClient(server.create_app(settings)) as client:
        callback(client, install(client, shopify))
    with TestClient(server.create_app(settings)) as client:
        health = client.get("/healthz", headers=ADMIN).json()
    assert health["status"] == "ok" and health["connection"]["grant"] == "install (authorization code)"
    assert shopify.grants == ["authorization_code"]  # the stored token, not a new grant


def test_another_worker_finishes_an_install_this_one_began(tmp_path: Path, shopify: FakeShopify) -> None:
    settings = app_settings(tmp_path, shopify)
    with TestClient(server.create_app(settings)) as first:
        query = install(first, shopify)
    with TestClient(server.create_app(settings)) as second:  # same database, another process's memory
        assert callback(second, query).status_code == 302


def refused(response: Any, status: int = 400) -> str:  # TestClient's response type
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    return detail


def test_a_replayed_missing_or_unknown_state_is_refused(tmp_path: Path, shopify: FakeShopify) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        query = install(client, shopify)
        assert callback(client, query).status_code == 302
        refused(callback(client, query))  # the same state again
        fresh = install(client, shopify)
        without_state = shopify.oauth.sign({k: v for k, v in fresh.items() if k not in ("state", "hmac")})
        refused(callback(client, without_state))
        unknown = shopify.oauth.sign({k: v for k, v in fresh.items() if k != "hmac"} | {"state": "x" * 43})
        refused(callback(client, unknown))
        assert callback(client, fresh).status_code == 302  # the genuine one still works once
    assert shopify.grants == ["authorization_code", "authorization_code"]


def test_a_bad_hmac_is_refused_at_install_and_callback(tmp_path: Path, shopify: FakeShopify) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        forged = shopify.install_query() | {"hmac": "0" * 64}
        refused(client.get(f"/auth/install?{urlencode(forged)}", follow_redirects=False))
        query = install(client, shopify)
        refused(callback(client, query | {"code": "another-code"}))  # signed over the original code
        repeated = [*query.items(), ("shop", "evil.myshopify.com")]
        refused(callback(client, repeated))
    assert shopify.grants == []


@pytest.mark.parametrize("shop", ["evil.example.com", "harbor-and-pine.myshopify.com.evil.com", "", "a/b"])
def test_a_shop_that_is_not_myshopify_is_refused(tmp_path: Path, shopify: FakeShopify, shop: str) -> None:
    signer = OAuthApp(CLIENT_ID, SecretStr(CLIENT_SECRET))
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        query = signer.sign(
            {"shop": shop, "timestamp": str(int(shopify.oauth.now())), "host": "x", "state": "s", "code": "c"}
        )
        refused(client.get(f"/auth/install?{urlencode(query)}", follow_redirects=False))
        refused(callback(client, query))


def test_a_lumen_for_one_shop_installs_on_that_shop_only(tmp_path: Path, shopify: FakeShopify) -> None:
    settings = app_settings(tmp_path, shopify, shopify_shop="another-store.myshopify.com")
    with TestClient(server.create_app(settings)) as client:
        refused(client.get(f"/auth/install?{urlencode(shopify.install_query())}", follow_redirects=False))


def test_an_unsigned_install_request_is_refused(tmp_path: Path, shopify: FakeShopify) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        refused(client.get(f"/auth/install?shop={shopify.shop_domain}", follow_redirects=False))


def test_once_installed_another_shop_cannot_take_over(tmp_path: Path, shopify: FakeShopify) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        callback(client, install(client, shopify))
        other = shopify.oauth.sign(
            {"shop": "someone-else.myshopify.com", "timestamp": shopify.oauth.timestamp(), "host": "x"}
        )
        refused(client.get(f"/auth/install?{urlencode(other)}", follow_redirects=False))
        health = client.get("/healthz", headers=ADMIN).json()
    assert health["connection"]["status"]["shop"] == shopify.shop_domain


def test_the_install_needs_its_settings(tmp_path: Path, shopify: FakeShopify) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify, lumen_secret_key=None))) as client:
        detail = refused(client.get(f"/auth/install?{urlencode(shopify.install_query())}"), 503)
    assert "LUMEN_SECRET_KEY" in detail


# --- two workers, one refresh token ----------------------------------------------------------------------------


async def test_two_workers_renewing_at_once_spend_the_refresh_token_once(tmp_path: Path, shopify: FakeShopify) -> None:
    settings = app_settings(tmp_path, shopify)
    with TestClient(server.create_app(settings)) as client:
        callback(client, install(client, shopify))
    app = OAuthApp(CLIENT_ID, SecretStr(CLIENT_SECRET), shop_url=shopify.base_url)
    async with Database(settings.lumen_database_url) as db:
        # Two workers: their own provider (and lock) each, one database between them.
        workers = [
            AuthorizationCodeToken(app, shopify.shop_domain, store=EncryptedTokenStore(db, TokenCipher(SECRET_KEY)))
            for _ in range(2)
        ]
        stale = await workers[0].token()
        renewed = await asyncio.gather(*(workers[i % 2].refresh(stale) for i in range(100)))
    assert len({token.get_secret_value() for token in renewed}) == 1
    assert shopify.grants == ["authorization_code", "refresh_token"]


# --- the client credentials grant from three settings ---------------------------------------------------------


def only_credentials(tmp_path: Path, fake: FakeShopify, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "lumen_store": DEMO_STORE,
        "lumen_database_url": f"sqlite:///{tmp_path / 'lumen.db'}",
        "shopify_shop": fake.shop_domain,
        "shopify_client_id": CLIENT_ID,
        "shopify_client_secret": SecretStr(CLIENT_SECRET),
        "shopify_shop_url": fake.base_url,
    }
    return Settings(_env_file=None, **(values | overrides))


def test_shop_and_app_credentials_are_enough_and_an_expired_token_is_renewed_unnoticed(
    tmp_path: Path, shopify: FakeShopify, clock: Clock
) -> None:
    settings = only_credentials(tmp_path, shopify, lumen_admin_token=SecretStr(ADMIN_TOKEN))
    with TestClient(server.create_app(settings)) as client:
        first = client.post("/api/chat", json={"message": "where is order 1042?"}).json()
        clock.t += CLIENT_CREDENTIALS_TTL + 60  # the token expires mid-conversation
        second = client.post("/api/chat", json={"message": "jordan.lee@example.com", "session_id": first["session_id"]})
        health = client.get("/healthz", headers=ADMIN).json()
    assert second.status_code == 200 and "1042" in second.json()["reply"]
    assert shopify.grants == ["client_credentials", "client_credentials"]
    assert health["status"] == "ok" and health["connection"]["grant"] == "client credentials"


def test_shop_not_permitted_is_told_to_the_merchant_not_the_shopper(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeShopify(DEMO_STORE, org_owned=False) as fake:
        settings = only_credentials(tmp_path, fake, lumen_admin_token=SecretStr("admin-token"))
        with TestClient(server.create_app(settings)) as client:
            turn = client.post("/api/chat", json={"message": "where is order 1042? jordan.lee@example.com"}).json()
            merchant = {"Authorization": "Bearer admin-token"}
            health = client.get("/healthz", headers=merchant).json()
            connection = client.get("/api/admin/connection", headers=merchant).json()
    assert "shop_not_permitted" not in turn["reply"] and "/auth/install" not in turn["reply"]
    assert health["status"] == "degraded"
    for said in (health["connection"]["status"]["last_error"], connection["status"]["last_error"]):
        assert "shop_not_permitted" in said and "/auth/install" in said
    assert any("shop_not_permitted" in record.getMessage() for record in caplog.records)


def test_the_connection_route_is_for_the_merchant_only(tmp_path: Path, shopify: FakeShopify) -> None:
    with TestClient(server.create_app(app_settings(tmp_path, shopify))) as client:
        assert client.get("/api/admin/connection").status_code == 401
        body = client.get("/api/admin/connection", headers=ADMIN).json()
    assert body == {"source": "store file", "grant": None, "install_ready": True, "status": None}


def test_an_order_hidden_by_the_60_day_window_is_diagnosed_for_the_merchant_only(tmp_path: Path) -> None:
    old = {
        "id": "gid://shopify/Order/1001",
        "name": "#1001",
        "email": "a@example.com",
        "createdAt": "2025-10-01T10:00:00Z",
        "processedAt": "2025-10-01T10:00:00Z",
        "displayFulfillmentStatus": "FULFILLED",
    }
    store = tmp_path / "store.json"
    store.write_text(json.dumps({"shop": {"name": "Old Things"}, "asOf": "2026-02-27T17:00:00Z", "orders": [old]}))
    with FakeShopify(store, scopes=APP_SCOPES) as fake:  # no read_all_orders
        settings = only_credentials(tmp_path, fake, lumen_admin_token=SecretStr("admin-token"))
        with TestClient(server.create_app(settings)) as client:
            turn = client.post("/api/chat", json={"message": "where is order 1001? a@example.com"}).json()
            status = client.get("/api/admin/connection", headers={"Authorization": "Bearer admin-token"}).json()
    assert "60" not in turn["reply"] and "read_all_orders" not in turn["reply"] and "1001" in turn["reply"]
    assert status["status"]["older_orders_visible"] is False
    assert status["status"]["not_found_old_orders_hidden"] >= 1
    assert "read_all_orders" not in status["status"]["missing_scopes"]  # optional: asked for, never required
