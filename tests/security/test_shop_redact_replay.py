"""Round 8: an old shop/redact, validly signed, replayed after the shop uninstalled and reinstalled the app, must not
erase the new install's data (SQLite and PostgreSQL; Lumen talks to the fake Shopify over loopback).

Before: privacy topics are done again on every delivery (a customer's erasure is owed however late it comes), and a
shop/redact body never changes (shop id and domain), so the captured body replayed after the reinstall deleted every
conversation, escalation and attempt, and tombstoned the shop's orders. Now every shop/redact (since round 9 the
first a database sees too: tests/security/test_shop_redact_rule.py) is done only when Shopify no longer lets the app
read the shop: Shopify
sends it 48 hours after an uninstall, and an uninstall revokes the app's tokens at once, so while the token works the
delivery is stale and is acknowledged and ignored. When Shopify cannot be asked, the answer is 503 and nothing is
deleted: Shopify delivers it again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

import server
from config import Settings
from evals.fakes.shopify_admin import CLIENT_ID, CLIENT_SECRET, FakeShopify
from shopify import auth as shopify_auth
from shopify.auth import AccessToken, AuthorizationCodeToken, MemoryTokenStore, OAuthApp
from shopify.client import ShopifyAdmin
from shopify.source import OrderSourceUnavailable
from shopify.store_file import DEMO_STORE
from storage import Database
from tests.server_helpers import webhook_headers
from tests.test_connect import Clock, app_settings, callback, install

TRACKING_1042 = "9400111899223197428490"
SHOP_REDACT_DELAY_S = 48 * 3600  # Shopify sends shop/redact 48 hours after an uninstall


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """One clock for the fake Shopify and for Lumen's token providers, so moving it expires Lumen's token too."""
    shared = Clock()
    monkeypatch.setattr(shopify_auth, "_utcnow", lambda: datetime.fromtimestamp(shared.t, UTC))
    return shared


@pytest.fixture
def shopify(clock: Clock) -> Iterator[FakeShopify]:
    with FakeShopify(DEMO_STORE, now=clock) as fake:
        yield fake


def shop_redact(fake: FakeShopify) -> tuple[bytes, dict[str, str]]:
    """Shopify's shop/redact for the fake's shop, signed with the app's secret: the body an attacker captures."""
    body = json.dumps({"shop_id": 954889, "shop_domain": fake.shop_domain}).encode()
    return body, webhook_headers(body, "shop/redact", "evt-shop-redact") | {"X-Shopify-Shop-Domain": fake.shop_domain}


def earlier(headers: dict[str, str]) -> dict[str, str]:
    """The same body as an earlier delivery of Shopify's own (each webhook Shopify sends has ids of its own)."""
    return headers | {"X-Shopify-Webhook-Id": "wh-earlier", "X-Shopify-Event-Id": "evt-earlier"}


def uninstall(fake: FakeShopify) -> None:
    """What an uninstall does to the app's access: every token and refresh token stops working at once."""
    fake.revoke_tokens()
    fake.oauth.refresh_tokens.clear()


def conversations(settings: Settings) -> int:
    async def count() -> int:
        async with Database(settings.lumen_database_url) as db:
            return await db.count_conversations()

    return asyncio.run(count())


def chat(client: TestClient, message: str) -> dict[str, Any]:
    response = client.post("/api/chat", json={"message": message})
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_replayed_shop_redact_after_a_reinstall_erases_nothing(
    tmp_path: Path, shopify: FakeShopify, database_url: str
) -> None:
    settings = app_settings(tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False)
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        assert TRACKING_1042 in chat(client, "where is order #1042? jordan.lee@example.com")["reply"]
        # The merchant uninstalls; 48 hours later Shopify asks for the shop's data to go, and it goes.
        uninstall(shopify)
        erased = client.post("/webhooks/shopify", content=body, headers=headers)
        assert erased.status_code == 200 and erased.json()["deleted"] == "all", erased.text
    assert conversations(settings) == 0

    # The merchant installs the app again; shoppers talk to Lumen again.
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        assert TRACKING_1042 in chat(client, "where is order #1042? jordan.lee@example.com")["reply"]
        # The captured body, replayed as it was, and under new delivery ids.
        replayed = client.post("/webhooks/shopify", content=body, headers=headers)
        fresh_ids = headers | {"X-Shopify-Webhook-Id": "w-new", "X-Shopify-Event-Id": "evt-new"}
        replayed_anew = client.post("/webhooks/shopify", content=body, headers=fresh_ids)
        for response in (replayed, replayed_anew):
            assert response.status_code == 200, response.text
            assert response.json()["ignored"] is True and "deleted" not in response.json()
        assert conversations(settings) == 1
        # The new install's orders are still readable (no shop tombstone came back with the replay).
        assert TRACKING_1042 in chat(client, "where is order #1042? jordan.lee@example.com")["reply"]


def test_shop_redact_waits_while_shopify_cannot_say(tmp_path: Path, shopify: FakeShopify, database_url: str) -> None:
    """After a first shop/redact, Shopify down when the next one comes: 503 (Shopify delivers it again) and nothing
    deleted; once Shopify answers, and refuses the uninstalled app, the erasure is done."""
    settings = app_settings(
        tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False, shopify_max_wait_s=0.2
    )
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        uninstall(shopify)
        assert client.post("/webhooks/shopify", content=body, headers=earlier(headers)).json()["deleted"] == "all"
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        chat(client, "where is order #1042? jordan.lee@example.com")
        shopify.fail_next(1000, status=503)  # more than one delivery's retries use
        deferred = client.post("/webhooks/shopify", content=body, headers=headers)
        assert deferred.status_code == 503 and isinstance(deferred.json()["detail"], str)
        assert conversations(settings) == 1
        with shopify._state:  # Shopify answers again, and the app was uninstalled meanwhile
            shopify._failures.clear()
        uninstall(shopify)
        done = client.post("/webhooks/shopify", content=body, headers=headers)
        assert done.status_code == 200 and done.json()["deleted"] == "all", done.text
    assert conversations(settings) == 0


def first_shop_redact(settings: Settings, shopify: FakeShopify) -> None:
    """Install, uninstall and Shopify's own shop/redact: from now on every shop/redact asks Shopify."""
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        uninstall(shopify)
        assert client.post("/webhooks/shopify", content=body, headers=earlier(headers)).json()["deleted"] == "all"


def test_shop_redact_48_hours_after_an_uninstall_is_done_though_the_token_has_expired(
    tmp_path: Path, shopify: FakeShopify, clock: Clock, database_url: str
) -> None:
    """Before: 48 hours after the uninstall Lumen's token had expired, so it asked for a new one before any query,
    Shopify refused the revoked refresh token, and that refusal was read as "Shopify cannot say": 503 for ever and
    nothing erased. A refused renewal is an answer: the app has no access, and the erasure is done."""
    settings = app_settings(tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False)
    body, headers = shop_redact(shopify)
    first_shop_redact(settings, shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        assert TRACKING_1042 in chat(client, "where is order #1042? jordan.lee@example.com")["reply"]
        uninstall(shopify)
        clock.t += SHOP_REDACT_DELAY_S  # Lumen's token is long past its expiry: it must be renewed first
        grants = len(shopify.grants)
        done = client.post("/webhooks/shopify", content=body, headers=headers)
        assert done.status_code == 200 and done.json()["deleted"] == "all", done.text
        assert len(shopify.grants) == grants  # the renewal was refused: no token was issued
    assert conversations(settings) == 0


def test_shop_redact_waits_while_the_token_endpoint_fails(
    tmp_path: Path, shopify: FakeShopify, clock: Clock, database_url: str
) -> None:
    """A 5xx from the token endpoint is Shopify failing, not refusing: 503 (delivered again) and nothing deleted."""
    settings = app_settings(tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False)
    body, headers = shop_redact(shopify)
    first_shop_redact(settings, shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        chat(client, "where is order #1042? jordan.lee@example.com")
        clock.t += SHOP_REDACT_DELAY_S  # the token must be renewed, and the token endpoint errs
        shopify.fail_token_endpoint(1000, status=503)
        deferred = client.post("/webhooks/shopify", content=body, headers=headers)
        assert deferred.status_code == 503 and isinstance(deferred.json()["detail"], str)
        assert conversations(settings) == 1
        # Shopify answers again, and the app was uninstalled meanwhile: the erasure is done.
        shopify.fail_token_endpoint(0)
        uninstall(shopify)
        done = client.post("/webhooks/shopify", content=body, headers=headers)
        assert done.status_code == 200 and done.json()["deleted"] == "all", done.text
    assert conversations(settings) == 0


async def test_no_token_or_an_expired_refresh_token_means_no_access_and_an_unreachable_one_means_no_answer(
    shopify: FakeShopify, clock: Clock
) -> None:
    """Nothing Shopify was asked, yet an answer: without a token, or with a refresh token past its expiry, the app
    cannot read the shop. The token endpoint unreachable is no answer at all."""
    store = MemoryTokenStore()
    app = OAuthApp(CLIENT_ID, SecretStr(CLIENT_SECRET), shop_url=shopify.base_url)
    tokens = AuthorizationCodeToken(app, shopify.shop_domain, store=store)
    async with ShopifyAdmin(shopify.url, tokens) as admin:
        assert await admin.app_installed() is False  # no token stored
        past = datetime.fromtimestamp(clock.t, UTC) - timedelta(days=1)
        expired = AccessToken(
            access_token=SecretStr("shpat_old"),
            expires_at=past,
            refresh_token=SecretStr("shprt_old"),
            refresh_expires_at=past,
        )
        await store.save(shopify.shop_domain, expired)
        assert await admin.app_installed() is False  # the refresh token has expired
        await store.save(shopify.shop_domain, expired.model_copy(update={"refresh_expires_at": None}))
    unreachable = OAuthApp(CLIENT_ID, SecretStr(CLIENT_SECRET), shop_url="http://127.0.0.1:9")
    tokens = AuthorizationCodeToken(unreachable, shopify.shop_domain, store=store)
    async with ShopifyAdmin(shopify.url, tokens) as admin:
        with pytest.raises(OrderSourceUnavailable):
            await admin.app_installed()
