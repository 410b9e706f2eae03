"""Round 9: shop/redact is done only once Shopify no longer lets the app read the shop, on every delivery, the first a
fresh database sees included; a delivery decided once is not asked about again; and a stored token Lumen cannot
decrypt is not taken for an uninstall.

Shopify sends shop/redact 48 hours after a merchant uninstalls the app, and an uninstall revokes the app's token at
once; the body (the shop's id and domain) never changes and only the body is signed. Before: a database that had never
done a shop/redact obeyed the first one without asking (a body captured from an earlier install, or from another
Lumen serving the shop, erased a shop that still used Lumen), and a token that could not be decrypted (a changed
LUMEN_SECRET_KEY) read as "access revoked", so the shop was erased. SQLite and PostgreSQL; Lumen talks to the fake
Shopify over loopback.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import agent.webhooks
import server
from agent.service import Lumen
from config import Settings
from evals.fakes.shopify_admin import FakeShopify
from shopify import auth as shopify_auth
from shopify.store_file import DEMO_STORE
from tests.security.test_shop_redact_replay import TRACKING_1042, chat, conversations, shop_redact, uninstall
from tests.server_helpers import ADMIN, make_settings
from tests.test_connect import Clock, app_settings, callback, install

OTHER_SECRET_KEY = "another-lumen-secret-key-of-at-least-32-characters"
NONE_PENDING = {"pending": 0, "oldest": None, "reason": None}


@pytest.fixture
def shopify(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeShopify]:
    """The fake Shopify and Lumen's token providers on one clock (as in test_shop_redact_replay)."""
    clock = Clock()
    monkeypatch.setattr(shopify_auth, "_utcnow", lambda: datetime.fromtimestamp(clock.t, UTC))
    with FakeShopify(DEMO_STORE, now=clock) as fake:
        yield fake


def installed_then_key_changed(tmp_path: Path, shopify: FakeShopify, database_url: str) -> tuple[Settings, Settings]:
    """Lumen installed on the shop and talked to; then its settings, and the same with LUMEN_SECRET_KEY changed (the
    stored token cannot be decrypted with it)."""
    settings = app_settings(tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        chat(client, "where is order #1042? jordan.lee@example.com")
    key = type(settings.lumen_secret_key)(OTHER_SECRET_KEY)
    return settings, settings.model_copy(update={"lumen_secret_key": key})


def test_a_fresh_database_asks_shopify_before_the_first_shop_redact(
    tmp_path: Path, shopify: FakeShopify, database_url: str
) -> None:
    """Before: nothing was asked of the first shop/redact a database saw, and the installed shop lost everything."""
    settings = app_settings(tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False)
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        assert TRACKING_1042 in chat(client, "where is order #1042? jordan.lee@example.com")["reply"]
        stale = client.post("/webhooks/shopify", content=body, headers=headers)
        assert stale.status_code == 200, stale.text
        assert stale.json()["ignored"] is True and "deleted" not in stale.json()
        assert conversations(settings) == 1
        # Uninstalled, Shopify's own delivery (a webhook of its own) is done.
        uninstall(shopify)
        fresh = headers | {"X-Shopify-Webhook-Id": "wh-after-uninstall", "X-Shopify-Event-Id": "evt-after"}
        done = client.post("/webhooks/shopify", content=body, headers=fresh)
        assert done.status_code == 200 and done.json()["deleted"] == "all", done.text
    assert conversations(settings) == 0


def test_a_decided_delivery_is_not_asked_about_again(tmp_path: Path, shopify: FakeShopify, database_url: str) -> None:
    """The same webhook id again (Shopify's retry, or a replay) is answered as decided, at no Shopify query; a new id
    costs one small query, and is decided on Shopify's answer then."""
    settings = app_settings(tmp_path, shopify, lumen_database_url=database_url, lumen_order_mirror=False)
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(settings)) as client:
        assert callback(client, install(client, shopify)).status_code == 302
        chat(client, "where is order #1042? jordan.lee@example.com")
        before = shopify.requests
        assert client.post("/webhooks/shopify", content=body, headers=headers).json()["ignored"] is True
        asked = shopify.requests - before
        assert asked >= 1  # Shopify was asked
        for _ in range(5):
            again = client.post("/webhooks/shopify", content=body, headers=headers)
            assert again.status_code == 200 and again.json()["ignored"] is True and again.json()["duplicate"] is True
        assert shopify.requests - before == asked  # and never again
        # Even after an uninstall, that delivery stays decided (a replay of a stale body erases nothing) ...
        uninstall(shopify)
        assert "deleted" not in client.post("/webhooks/shopify", content=body, headers=headers).json()
        assert conversations(settings) == 1
        # ... while Shopify's own, new delivery is asked about, and done.
        fresh = headers | {"X-Shopify-Webhook-Id": "wh-genuine", "X-Shopify-Event-Id": "evt-genuine"}
        assert client.post("/webhooks/shopify", content=body, headers=fresh).json()["deleted"] == "all"
    assert conversations(settings) == 0


def test_an_undecryptable_token_is_no_uninstall(
    tmp_path: Path, shopify: FakeShopify, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """LUMEN_SECRET_KEY changed since the token was stored: Lumen cannot ask Shopify, which is not Shopify saying
    the app lost access. Before: read as a revocation, and the installed shop was erased. Now 503 (Shopify delivers
    it again), nothing deleted, and an error in the log saying what to fix."""
    settings, rotated = installed_then_key_changed(tmp_path, shopify, database_url)
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(rotated)) as client, caplog.at_level(logging.ERROR, logger="lumen"):
        deferred = client.post("/webhooks/shopify", content=body, headers=headers)
        assert deferred.status_code == 503, deferred.text
    assert conversations(settings) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and "shop/redact" in r.getMessage()]
    assert errors and all("LUMEN_SECRET_KEY" in e for e in errors), errors


def test_a_shop_redact_lumen_could_not_judge_is_shown_and_done_once_the_key_is_back(
    tmp_path: Path, shopify: FakeShopify, database_url: str
) -> None:
    """Before: a shop/redact deferred for an undecryptable token left only a log line, and once Shopify stopped
    delivering it again (after a few hours) it was lost: the merchant never learned that the shop's data stayed. Now it
    is kept as pending, shown on /healthz (to the merchant) and the admin page, tried again every retention round, and
    carried out once the key is restored."""
    settings, rotated = installed_then_key_changed(tmp_path, shopify, database_url)
    body, headers = shop_redact(shopify)
    uninstall(shopify)
    with TestClient(server.create_app(rotated)) as client:
        assert client.get("/api/admin/stats", headers=ADMIN).json()["privacy_requests"] == NONE_PENDING
        for _ in range(2):  # Shopify's delivery and its retry: one request
            assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 503
        shown = client.get("/healthz", headers=ADMIN).json()["privacy_requests"]
        assert (shown["pending"], shown["reason"]) == (1, "token_unreadable") and shown["oldest"]
        assert client.get("/api/admin/stats", headers=ADMIN).json()["privacy_requests"] == shown
        assert "privacy_requests" not in client.get("/healthz").json()  # the merchant's, not anyone's
        lumen: Lumen = client.app.state.lumen  # type: ignore[attr-defined]
        assert client.portal.call(lumen.retry_privacy_requests) is None  # the key is still wrong: still pending
        assert client.get("/healthz", headers=ADMIN).json()["privacy_requests"] == shown
    assert conversations(settings) == 1

    # Days later (Shopify delivers it no more), the merchant restores the key and restarts Lumen.
    with TestClient(server.create_app(settings)) as client:
        lumen = client.app.state.lumen  # type: ignore[attr-defined]
        # The retention loop's round (its first runs as the server starts: it may have done it already).
        outcome = client.portal.call(lumen.retry_privacy_requests)
        assert outcome is None or outcome.deleted == "all"
        assert client.get("/healthz", headers=ADMIN).json()["privacy_requests"] == NONE_PENDING
        # Decided: the same delivery again is answered as decided, without asking Shopify.
        again = client.post("/webhooks/shopify", content=body, headers=headers).json()
        assert again["duplicate"] is True and again["ignored"] is True
    assert conversations(settings) == 0


def test_a_pending_shop_redact_is_dropped_when_shopify_says_the_app_is_installed(
    tmp_path: Path, shopify: FakeShopify, database_url: str
) -> None:
    """The key is wrong and the merchant installs the app again (a new token, readable): the pending request asks
    Shopify, which still lets the app read the shop, so it is stale and nothing is erased."""
    settings, rotated = installed_then_key_changed(tmp_path, shopify, database_url)
    body, headers = shop_redact(shopify)
    with TestClient(server.create_app(rotated)) as client:
        assert client.post("/webhooks/shopify", content=body, headers=headers).status_code == 503
        assert client.get("/healthz", headers=ADMIN).json()["privacy_requests"]["pending"] == 1
        assert callback(client, install(client, shopify)).status_code == 302  # stored with the key in use now
        lumen: Lumen = client.app.state.lumen  # type: ignore[attr-defined]
        outcome = client.portal.call(lumen.retry_privacy_requests)
        assert outcome is None or outcome.ignored is True  # (None: the start's round judged it first)
        assert client.get("/healthz", headers=ADMIN).json()["privacy_requests"] == NONE_PENDING
    assert conversations(settings) == 1


async def test_every_retention_round_tries_the_pending_privacy_requests_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a round whose purge failed (a database hiccup): the retry is the only way a request Shopify no longer
    delivers gets done."""
    tried: list[object] = []

    async def retry(db: object, source: object) -> None:
        tried.append(source)

    async def purge_fails() -> int:
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(agent.webhooks, "retry_shop_redact", retry)
    lumen = await Lumen.create(make_settings(tmp_path))
    try:
        await lumen._retention_round(3600)
        monkeypatch.setattr(lumen, "apply_retention", purge_fails)
        await lumen._retention_round(3600)
    finally:
        await lumen.close()
    assert tried == [lumen.source, lumen.source]
