"""The order mirror on the merchant page, in a real headless Chromium against a Lumen server that mirrors the fake
Shopify's demo store."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

import sync.service
from evals.fakes.shopify_admin import CLIENT_SECRET, FakeShopify
from shopify.store_file import DEMO_STORE
from tests.browser_helpers import CHROMIUM, WAIT_MS, LiveServer, launch_chromium
from tests.fixtures import TOKEN
from tests.mirror_harness import Upstream
from tests.server_helpers import ADMIN, ADMIN_TOKEN, make_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (`make browser` installs it)"),
]
DEADLINE_S = 120  # how long the backfill may take on a loaded machine before the test gives up (not a timing check)


@pytest.fixture
def page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=1_000_000, restore_rate=1_000_000) as fake:
        monkeypatch.setattr(sync.service, "_default_exporter", lambda admin: Upstream(fake).export)
        settings = make_settings(tmp_path, shopify_shop_url=fake.base_url, shopify_access_token=TOKEN)
        with LiveServer(settings) as live, sync_playwright() as playwright:
            deadline = time.monotonic() + DEADLINE_S
            while httpx.get(f"{live.url}/healthz", timeout=WAIT_MS / 1000).json()["order_sync"]["state"] != "live":
                assert time.monotonic() < deadline, "the backfill never finished"
                time.sleep(0.05)
            browser = launch_chromium(playwright)
            try:
                context = browser.new_context(base_url=live.url)
                context.set_default_timeout(WAIT_MS)
                yield context.new_page()
            finally:
                browser.close()


def test_the_admin_page_shows_the_order_mirror(page: Page) -> None:
    page.goto("/admin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#order-sync-summary")).to_contain_text("Live: lookups are answered from the mirror")
    rows = page.locator("#order-sync")
    expect(rows).to_contain_text("Orders held12")
    expect(rows).to_contain_text("Orders backfilled12")


@pytest.fixture
def confirmed_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Page]:
    """The admin page after two webhooks: one order confirmed by a bulk operation, one read by id instead (its bulk
    operation failed)."""
    monkeypatch.setattr(sync.service, "BULK_POLL_S", 0.05)  # the fake finishes a bulk operation in a few polls
    monkeypatch.setattr(sync.service, "CONFIRM_POLL_S", 0.05)
    monkeypatch.setattr(sync.service, "CONFIRM_WINDOW_S", 0.05)  # a batch of one: nothing else changes here
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=1_000_000, restore_rate=1_000_000) as fake:
        settings = make_settings(
            tmp_path,
            shopify_shop_url=fake.base_url,
            shopify_access_token=TOKEN,
            lumen_shopify_api_secret=CLIENT_SECRET,
            lumen_sync_days=3650,  # the demo store's orders are from early 2026
            lumen_now=fake.as_of,
        )
        with LiveServer(settings) as live, sync_playwright() as playwright:
            fake.webhook_target(f"{live.url}/webhooks/shopify")
            until(live, lambda s: s["state"] == "live", "the backfill")
            fake.change_order_sync("#1088", cancel, topic="orders/cancelled")
            until(live, lambda s: s.get("confirmed", 0) >= 1, "the confirmation in bulk")
            fake.end_next_bulk("FAILED", "INTERNAL_SERVER_ERROR")
            fake.change_order_sync("#1042", cancel, topic="orders/cancelled")
            until(live, lambda s: s.get("confirm_fallbacks", 0) >= 1 and s.get("refreshed", 0) >= 1, "the fallback")
            browser = launch_chromium(playwright)
            try:
                context = browser.new_context(base_url=live.url)
                context.set_default_timeout(WAIT_MS)
                yield context.new_page()
            finally:
                browser.close()


def until(live: LiveServer, condition: Callable[[dict[str, Any]], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition(httpx.get(f"{live.url}/healthz", headers=ADMIN, timeout=WAIT_MS / 1000).json()["order_sync"]):
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def cancel(node: dict[str, Any]) -> None:
    node.update(cancelledAt="2026-02-27T12:00:00Z", cancelReason="CUSTOMER", displayFinancialStatus="VOIDED")


def test_the_admin_page_shows_the_confirmation_counters_healthz_has(confirmed_page: Page) -> None:
    page = confirmed_page
    page.goto("/admin")
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    rows = page.locator("#order-sync")
    expect(rows).to_contain_text("Orders confirmed in bulk after webhooks (this worker)1")
    expect(rows).to_contain_text("Confirmations read one by one instead (this worker)1")
    expect(rows).to_contain_text("Orders re-read after webhooks (this worker)1")
