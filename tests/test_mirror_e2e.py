"""The order mirror end to end: Lumen served on a loopback port, configured against the fake Shopify like a real
store (token, webhooks signed with the app's secret). The backfill runs a real bulk operation; a change the fake makes
to an order reaches Lumen as a signed webhook, and the next chat reply tells the new status; a change whose webhook
was dropped is healed by reconciliation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import sync.service
from evals.fakes.shopify_admin import CLIENT_SECRET, FakeShopify
from shopify.store_file import DEMO_STORE
from tests.browser_helpers import WAIT_MS, LiveServer
from tests.fixtures import TOKEN
from tests.server_helpers import ADMIN, make_settings

DEADLINE_S = 120  # how long background work may take on a loaded machine before a test gives up (no timing check)
SAM = "where is order 1088? sam.rivera@example.com"


@pytest.fixture
def fake() -> Iterator[FakeShopify]:
    with FakeShopify(DEMO_STORE, token=TOKEN, bucket_size=1_000_000, restore_rate=1_000_000) as server:
        yield server


def serve(tmp_path: Path, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch, **overrides: Any) -> LiveServer:
    monkeypatch.setattr(sync.service, "BULK_POLL_S", 0.05)  # the fake finishes a bulk operation in a few polls
    monkeypatch.setattr(sync.service, "CONFIRM_POLL_S", 0.05)
    monkeypatch.setattr(sync.service, "CONFIRM_WINDOW_S", 0.2)  # a batch of one: nothing else changes here
    settings = make_settings(
        tmp_path,
        shopify_shop_url=fake.base_url,
        shopify_access_token=TOKEN,
        lumen_shopify_api_secret=CLIENT_SECRET,
        lumen_sync_days=3650,  # the demo store's orders are from early 2026
        lumen_now=fake.as_of,
        **overrides,
    )
    return LiveServer(settings)


def until(condition: Any, what: str) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


def order_sync(live: LiveServer) -> dict[str, Any]:
    status: dict[str, Any] = httpx.get(f"{live.url}/healthz", headers=ADMIN, timeout=WAIT_MS / 1000).json()[
        "order_sync"
    ]
    return status


def cancel(node: dict[str, Any]) -> None:
    node.update(cancelledAt="2026-02-27T12:00:00Z", cancelReason="CUSTOMER", displayFinancialStatus="VOIDED")


def test_backfill_by_bulk_operation_then_a_webhook_changes_the_next_reply(
    tmp_path: Path, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(tmp_path, fake, monkeypatch) as live:
        fake.webhook_target(f"{live.url}/webhooks/shopify")
        status = until(lambda: (s := order_sync(live))["state"] == "live" and s, "the backfill")
        assert status["orders"] == status["backfilled"] == len(fake.orders) == 12
        assert len(fake.bulk_operations) == 1
        searches = len(fake.searches())
        before = live.chat(SAM)["reply"]
        assert "1088" in before and "cancel" not in before.lower()
        assert len(fake.searches()) == searches  # answered from the mirror: no orders query reached Shopify

        fake.change_order_sync("#1088", cancel, topic="orders/cancelled")
        until(lambda: order_sync(live).get("confirmed", 0) >= 1, "the confirming read after the webhook")
        after = live.chat(SAM)["reply"]
        assert "1088" in after and "cancelled" in after.lower()
        # Confirmed by a second bulk operation asking for that order by id, not by a read of it.
        confirming = fake.bulk_operations[-1]
        assert len(fake.bulk_operations) == 2 and "id:5001088" in confirming.query
        assert confirming.root_object_count == 1
        assert order_sync(live).get("refreshed", 0) == 0


def test_a_dropped_webhook_is_healed_by_reconciliation(
    tmp_path: Path, fake: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve(tmp_path, fake, monkeypatch, lumen_reconcile_s=0.5) as live:
        until(lambda: order_sync(live)["state"] == "live", "the backfill")
        assert "cancel" not in live.chat(SAM)["reply"].lower()
        fake.change_order_sync("#1088", cancel, topic="orders/cancelled", deliver=False)
        until(lambda: order_sync(live).get("reconciled", 0) >= 1, "a reconciliation that finds the change")
        assert "cancelled" in live.chat(SAM)["reply"].lower()
