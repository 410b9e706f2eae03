"""The order mirror (sync/): backfill, lookups from the table with the live client's exact matching, a miss asked live
and stored, refreshes from webhooks (coalesced), reconciliation after a dropped webhook, redaction, the shared lease,
concurrency, and migration 0004.

Every test that touches the database runs on SQLite and on the PostgreSQL the suite starts (`database_url`). Shopify
is the fake Admin API over loopback: lookups that miss the mirror go through the real `ShopifyAdmin`. The mirror's
upstream (the bulk export, reads by id, changes since) is `Upstream` (tests/mirror_harness.py), which reads the same fake store, so the
tests count exactly what the mirror asked for.
"""
# ruff: noqa: F811

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import sync.service
from agent.service import Lumen
from agent.webhooks import handle_webhook
from evals.fakes.shopify_admin import ALL_SCOPES, FakeShopify
from shopify.domain import Order, parse_order
from shopify.names import normalize_order_number
from storage import Database, MirroredOrder, migrations
from storage.schema import mirrored_orders
from sync import MirroredSource
from tests.fixtures import T0, TOKEN, Clock

# The mirror's harness: its fixtures (imported, they are this module's and override the suite-wide `db` and
# `demo_server`: hence F811 off here) and helpers.
from tests.mirror_harness import (  # noqa: F401
    JORDAN_1042,
    Upstream,
    change_fields,
    db,
    delivery,
    demo_server,
    live_client,
    make_sync,
    mirror,
    store,
    two_workers,
    upstream_of,
)
from tests.server_helpers import make_settings

CONCURRENT = 200


def ids(orders: list[Order]) -> list[str]:
    return [o.id for o in orders]


# --- backfill and lookups ------------------------------------------------------------------------------------------


async def test_a_backfill_fills_the_mirror_and_lookups_then_cost_no_shopify_request(
    mirror: MirroredSource, store: FakeShopify, clock: Clock
) -> None:
    result = await mirror.sync.backfill()
    assert result is not None and result.orders == len(store.orders) == 12
    assert upstream_of(mirror).exports == [T0 - timedelta(days=90)]
    status = await mirror.sync.status()
    assert (status.state, status.orders, status.last_sync, status.backfilled) == ("live", 12, T0, 12)
    await mirror.shop()  # the shop and its order-name format: learned once per process
    sent = store.requests
    for node in store.orders:
        email = node["email"]
        assert ids(await mirror.orders_by_name(node["name"].lstrip("#"))) == [node["id"]]
        assert ids(await mirror.orders_by_name(node["name"], email=email.upper())) == [node["id"]]
        assert node["id"] in ids(await mirror.orders_by_email(f"  {email.upper()} "))
        assert node["id"] in ids(await mirror.orders_by_customer(node["customer"]["id"]))
    assert store.requests == sent


async def test_the_mirror_answers_exactly_what_the_live_client_answers(
    mirror: MirroredSource, store: FakeShopify
) -> None:
    """The same candidates, the same exact comparisons, the same order and the same caps as a live query."""
    await mirror.sync.backfill()
    live = live_client(store)
    try:
        for node in store.orders:
            number, email, customer = node["name"].lstrip("#"), node["email"], node["customer"]["id"]
            for lookup in (
                lambda s, n=number: s.orders_by_name(n),
                lambda s, n=number, e=email: s.orders_by_name(n, email=e),
                lambda s, e=email: s.orders_by_email(e),
                lambda s, e=email: s.orders_by_email(e, limit=1),
                lambda s, c=customer: s.orders_by_customer(c),
                lambda s, c=customer: s.orders_by_customer(c.rsplit("/", 1)[-1], limit=2),
            ):
                assert ids(await lookup(mirror)) == ids(await lookup(live))
    finally:
        await live.aclose()


async def test_a_wrong_email_finds_nothing_in_the_mirror_as_it_does_live(
    mirror: MirroredSource, store: FakeShopify
) -> None:
    await mirror.sync.backfill()
    for email in ("maya.patel@example.com", "jordan.lee@example.co", "jordan.lee@example.com.evil", "", " "):
        assert await mirror.orders_by_name("1042", email=email or "x") == []
    assert await mirror.orders_by_email("jordan.lee@example") == []
    assert await mirror.orders_by_email(" ") == []
    assert await mirror.orders_by_customer("gid://shopify/Customer/700") == []
    assert await mirror.orders_by_customer("not a customer") == []
    assert await mirror.orders_by_name("#") == []


async def test_a_wrong_email_reads_exactly_like_a_missing_order_in_a_conversation(
    mirror: MirroredSource, db: Database, tmp_path: Path
) -> None:
    await mirror.sync.backfill()
    lumen = Lumen(make_settings(tmp_path), mirror, db)
    wrong_email = await lumen.chat("where is order 1042? sam.rivera@example.com")
    missing = await lumen.chat("where is order 1043? sam.rivera@example.com")
    right = await lumen.chat("where is order 1042? jordan.lee@example.com")
    assert wrong_email.reply.replace("1042", "N") == missing.reply.replace("1043", "N")
    assert "1042" in right.reply and right.reply.replace("1042", "N") != wrong_email.reply.replace("1042", "N")


async def test_a_proof_by_postcode_costs_no_shopify_query_once_the_mirror_holds_the_order(
    mirror: MirroredSource, store: FakeShopify, db: Database, tmp_path: Path
) -> None:
    """An order number and a numeric postcode may be typed either way round, so `find_order` also reads the other
    way, even when the first reading found the order (equal work, found or not). That read is answered from the
    mirror: a postcode that names no order must not cost a live query every time a shopper proves an order."""
    await mirror.sync.backfill()
    await mirror.shop()
    lumen = Lumen(make_settings(tmp_path), mirror, db)
    sent = store.requests
    for message, name in (
        ("where is order 1042? zip 78704", "#1042"),
        ("1050 78704", "#1050"),
        ("#1089, 80205", "#1089"),
    ):
        assert f"order {name}" in (await lumen.chat(message)).reply  # proved and shown
    assert store.requests == sent
    # A number the mirror does not hold is still asked live, both ways round.
    missing = await lumen.chat("where is order 1043? zip 78704")
    assert "1043" in missing.reply and store.requests > sent


async def test_without_read_all_orders_the_mirror_shows_no_order_older_than_60_days(
    db: Database, store: FakeShopify
) -> None:
    old = change_fields(store, "#1077", T0, createdAt="2025-11-01T10:00:00Z", processedAt="2025-11-01T10:00:00Z")
    mirror = MirroredSource(live_client(store), db, make_sync(db, store, Upstream(store)))
    try:
        await mirror.sync.backfill()
        assert ids(await mirror.orders_by_name("1077")) == [old["id"]]
        store.grant_scopes(ALL_SCOPES - {"read_all_orders"})
        await mirror.check()  # the client learns what the shop granted now
        assert await mirror.orders_by_name("1077") == []
        assert [o.name for o in await mirror.orders_by_email("ana.souza@example.com")] == ["#1094"]
    finally:
        await mirror.aclose()


async def test_a_miss_is_asked_live_and_stored(mirror: MirroredSource, store: FakeShopify, db: Database) -> None:
    assert await db.count_mirrored_orders() == 0
    await mirror.shop()
    sent = store.requests
    found = await mirror.orders_by_name("1042")
    assert ids(found) == [JORDAN_1042] and store.requests > sent
    stored = await db.mirrored_order(JORDAN_1042)
    assert stored is not None and stored.events_complete and stored.order.fulfillments[0].events
    sent = store.requests
    assert ids(await mirror.orders_by_name("1042", email="jordan.lee@example.com")) == [JORDAN_1042]
    assert store.requests == sent
    # A number that exists nowhere is asked live every time, and nothing is stored.
    assert await mirror.orders_by_name("999999") == []
    assert store.requests > sent and await db.count_mirrored_orders() == 1


async def test_a_backfill_is_written_in_chunks_and_an_older_copy_never_replaces_a_newer_one(
    db: Database, clock: Clock
) -> None:
    node = {"id": "gid://shopify/Order/1", "name": "#1", "createdAt": T0.isoformat(), "email": "a@example.com"}
    orders = [parse_order(node | {"id": f"gid://shopify/Order/{n}", "name": f"#{n}"}) for n in range(1, 451)]
    assert await db.upsert_mirrored_orders([MirroredOrder(o, T0, False) for o in orders], chunk=200) == 450
    assert await db.count_mirrored_orders() == 450
    newer = parse_order(node | {"displayFulfillmentStatus": "FULFILLED"})
    older = parse_order(node | {"displayFulfillmentStatus": "UNFULFILLED"})
    await db.upsert_mirrored_orders([MirroredOrder(newer, T0 + timedelta(minutes=5), True)])
    await db.upsert_mirrored_orders([MirroredOrder(older, T0 + timedelta(minutes=1), False)])
    held = await db.mirrored_order("gid://shopify/Order/1")
    assert held is not None and held.order.fulfillment_status == "FULFILLED" and held.events_complete
    # A copy as new as the held one without events (a backfill row) leaves the held one with its events.
    await db.upsert_mirrored_orders([MirroredOrder(older, T0 + timedelta(minutes=5), False)])
    held = await db.mirrored_order("gid://shopify/Order/1")
    assert held is not None and held.order.fulfillment_status == "FULFILLED"


# --- refreshes, reconciliation, events -----------------------------------------------------------------------------


async def test_webhooks_refresh_their_order_and_twenty_about_one_order_cost_one_read(
    mirror: MirroredSource, store: FakeShopify, db: Database, clock: Clock
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    change_fields(store, "#1042", T0 + timedelta(minutes=1), displayFulfillmentStatus="ON_HOLD")
    payloads = [
        ("orders/updated", {"id": 5001042, "admin_graphql_api_id": JORDAN_1042, "name": "#1042"}),
        ("fulfillments/update", {"id": 1, "order_id": 5001042}),
        ("fulfillment_events/create", {"id": 9, "fulfillment_id": 1, "order_id": 5001042}),
    ]
    for n in range(20):
        topic, payload = payloads[n % 3]
        outcome = await handle_webhook(
            db, mirror, serves_shop=lambda _: True, delivery=delivery(topic, payload, f"e{n}", T0), now=T0
        )
        assert outcome.invalidated
    # Until the refresh is read, the copy held keeps answering.
    assert [o.fulfillment_status for o in await mirror.orders_by_name("1042")] == ["FULFILLED"]
    assert await mirror.sync.drain() == 1
    assert upstream.reads == [JORDAN_1042]
    assert [o.fulfillment_status for o in await mirror.orders_by_name("1042")] == ["ON_HOLD"]
    held = await db.mirrored_order(JORDAN_1042)
    assert held is not None and held.events_complete


async def test_a_late_webhook_leaves_the_cache_alone_but_still_refreshes_the_mirror(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    change_fields(store, "#1031", T0 + timedelta(minutes=1), displayFulfillmentStatus="RESTOCKED")
    payload = {"id": 5001031, "admin_graphql_api_id": "gid://shopify/Order/5001031", "name": "#1031"}
    late = delivery("orders/updated", payload, "late-1", T0 - timedelta(hours=2))
    outcome = await handle_webhook(db, mirror, serves_shop=lambda _: True, delivery=late, now=T0)
    assert outcome.ignored and outcome.invalidated is None and outcome.refreshed == ["gid://shopify/Order/5001031"]
    await mirror.sync.drain()
    assert [o.fulfillment_status for o in await mirror.orders_by_name("1031")] == ["RESTOCKED"]


async def test_an_order_shopify_no_longer_shows_leaves_the_mirror(
    mirror: MirroredSource, store: FakeShopify, db: Database
) -> None:
    await mirror.sync.backfill()
    store.orders[:] = [o for o in store.orders if o["name"] != "#1099"]
    mirror.invalidate("#1099")  # by name: the mirror knows its id
    await mirror.sync.drain()
    assert await db.mirrored_order("gid://shopify/Order/5001099") is None
    assert await db.count_mirrored_orders() == 11


async def test_reconciliation_heals_a_dropped_webhook(mirror: MirroredSource, store: FakeShopify, clock: Clock) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    clock.advance(minutes=10)
    change_fields(store, "#1088", T0 + timedelta(minutes=3), displayFulfillmentStatus="FULFILLED")  # no webhook came
    assert [o.fulfillment_status for o in await mirror.orders_by_name("1088")] == ["UNFULFILLED"]
    assert await mirror.sync.reconcile() == 1
    assert upstream.changes_since == [T0 - timedelta(minutes=2)]  # since the last sync, with an overlap
    assert [o.fulfillment_status for o in await mirror.orders_by_name("1088")] == ["FULFILLED"]
    status = await mirror.sync.status()
    assert (status.state, status.last_sync, status.reconciled) == ("live", T0 + timedelta(minutes=10), 1)


async def test_reconciliation_reads_only_orders_the_mirror_holds_an_older_copy_of(
    mirror: MirroredSource, store: FakeShopify, clock: Clock
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    clock.advance(minutes=10)
    change_fields(store, "#1088", T0 + timedelta(minutes=3), displayFulfillmentStatus="FULFILLED")  # its webhook came
    mirror.invalidate("gid://shopify/Order/5001088")
    await mirror.sync.drain()
    change_fields(
        store, "#1089", T0 + timedelta(minutes=4), displayFulfillmentStatus="UNFULFILLED"
    )  # its webhook was lost
    upstream.reads.clear()
    assert await mirror.sync.reconcile() == 2  # two orders changed ...
    # ... one of them is read (in bulk, as confirmations are): the other is current
    assert upstream.confirms == [["gid://shopify/Order/5001089"]] and upstream.reads == []
    assert [o.fulfillment_status for o in await mirror.orders_by_name("1089")] == ["UNFULFILLED"]


async def test_reconciliation_reads_every_page_of_changes(
    mirror: MirroredSource, store: FakeShopify, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    upstream.page = 2
    monkeypatch.setattr(sync.service, "RECONCILE_PAGE", 2)
    names = ["#1031", "#1042", "#1050", "#1088", "#1089"]
    for minute, name in enumerate(names, start=1):
        change_fields(store, name, T0 + timedelta(minutes=minute), displayFinancialStatus="REFUNDED")
    clock.advance(minutes=10)
    assert await mirror.sync.reconcile() == 5
    assert len(upstream.changes_since) >= 3  # five changes, two a page (each page overlaps the last by a second)
    for name in names:
        assert [o.financial_status for o in await mirror.orders_by_name(name)] == ["REFUNDED"]


async def test_a_shipped_order_held_without_its_events_is_read_again_in_the_background(
    mirror: MirroredSource, db: Database
) -> None:
    await mirror.sync.backfill()
    upstream = upstream_of(mirror)
    (order,) = await mirror.orders_by_name("1042")  # in transit: its carrier events did not come with the backfill
    assert order.fulfillments and not any(f.events for f in order.fulfillments)
    (delivered,) = await mirror.orders_by_name("1031")  # delivered: its own fields say all there is
    assert delivered.fulfillments[0].delivered_at is not None
    # An optional events read, not a refresh: nothing is read yet.
    assert mirror.sync.pending_events == {JORDAN_1042} and mirror.sync.pending == frozenset()
    assert upstream.reads == [] and upstream.event_reads == []
    await mirror.sync.drain()
    assert upstream.event_reads == [JORDAN_1042] and upstream.reads == []  # events only, not the whole order
    (order,) = await mirror.orders_by_name("1042")
    assert any(f.events for f in order.fulfillments)
    assert [i.name for f in order.fulfillments for i in f.items]  # the packages' items came with them
    held = await db.mirrored_order(JORDAN_1042)
    assert held is not None and held.events_complete
    await mirror.orders_by_name("1042")
    assert mirror.sync.pending_events == frozenset() and mirror.sync.pending == frozenset()


# --- privacy -------------------------------------------------------------------------------------------------------


async def test_customers_redact_deletes_their_mirrored_orders_and_shop_redact_deletes_all(
    mirror: MirroredSource, db: Database, store: FakeShopify
) -> None:
    await mirror.sync.backfill()
    payload = {
        "customer": {"id": 7002, "email": "Jordan.Lee@example.com"},
        "orders_to_redact": [5001031],
    }
    outcome = await handle_webhook(
        db, mirror, serves_shop=lambda _: True, delivery=delivery("customers/redact", payload, "r1", T0), now=T0
    )
    assert outcome.deleted is not None and outcome.deleted != "all" and outcome.deleted.orders == 3
    assert mirror.sync.pending == frozenset()  # a redacted order is not read straight back
    async with db.read() as conn:
        names = set((await conn.execute(sa.select(mirrored_orders.c.name))).scalars())
    assert "#1042" not in names and "#1050" not in names and "#1031" not in names and len(names) == 9
    store.revoke_tokens()  # shop/redact follows an uninstall, which revokes the app's token (it is asked first)
    await handle_webhook(db, mirror, serves_shop=lambda _: True, delivery=delivery("shop/redact", {}, "r2", T0), now=T0)
    assert await db.count_mirrored_orders() == 0
    assert (await mirror.sync.status()).state == "off"


# --- workers and concurrency ---------------------------------------------------------------------------------------


async def test_two_workers_on_one_database_share_one_backfill_lease(
    database_url: str, store: FakeShopify, clock: Clock
) -> None:
    upstreams = (Upstream(store), Upstream(store))
    upstreams[0].gate = asyncio.Event()
    async with two_workers(database_url, store, clock, upstreams) as (_, _, first, second):
        running = asyncio.create_task(first.backfill())
        await upstreams[0].started.wait()
        assert (await second.status()).state == "backfilling"
        assert await second.backfill() is None and await second.reconcile() is None
        upstreams[0].gate.set()
        result = await running
        assert result is not None and result.orders == 12 and upstreams[1].exports == []
        status = await second.status()  # every worker reports the same state, from the database
        assert (status.state, status.orders) == ("live", 12)
        # The lease was given back: the other worker reconciles next.
        assert await second.reconcile() == 0


async def test_a_lease_left_by_a_worker_that_died_is_taken_over_once_it_runs_out(
    db: Database, store: FakeShopify, clock: Clock
) -> None:
    assert await db.claim_order_sync("dead worker", ttl=timedelta(minutes=2))
    sync = make_sync(db, store, Upstream(store))
    try:
        assert await sync.backfill() is None
        clock.advance(minutes=3)
        result = await sync.backfill()
        assert result is not None and result.orders == 12
    finally:
        await sync.aclose()


async def test_a_backfill_longer_than_its_lease_renews_it_so_no_other_worker_takes_over(
    database_url: str, store: FakeShopify, clock: Clock
) -> None:
    """The lease's renewal, fired by hand (no time passes but the test's clock): a worker still backfilling past its
    first lease keeps it, and another worker does not start a second backfill."""
    pauses: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def pause(delay_s: float) -> None:
        woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        pauses.put_nowait((delay_s, woken))
        await woken

    ttl = sync.service.LEASE_TTL
    upstreams = (Upstream(store), Upstream(store))
    upstreams[0].gate = asyncio.Event()
    async with two_workers(database_url, store, clock, upstreams, lease_pause=pause) as (_, _, first, second):
        running = asyncio.create_task(first.backfill())
        await upstreams[0].started.wait()
        for _ in range(2):
            delay, wake = await pauses.get()
            assert delay == ttl.total_seconds() / 3
            clock.advance(seconds=delay)
            wake.set_result(None)  # renewed now, for a whole lease from here
        await pauses.get()  # (the second renewal is written)
        clock.advance(seconds=ttl.total_seconds() - 1)  # past both earlier leases
        assert await second.backfill() is None and upstreams[1].exports == []
        upstreams[0].gate.set()
        result = await running
        assert result is not None and result.orders == 12
        assert await second.reconcile() == 0  # given back as the backfill ended


async def test_200_concurrent_lookups_while_refreshes_write_all_answer(
    mirror: MirroredSource, store: FakeShopify
) -> None:
    await mirror.sync.backfill()
    await mirror.shop()
    nodes = store.orders
    sent = store.requests

    async def lookup(n: int) -> tuple[str, list[str]]:
        node = nodes[n % len(nodes)]
        kind = n % 3
        if kind == 0:
            return node["id"], ids(await mirror.orders_by_name(node["name"]))
        if kind == 1:
            return node["id"], ids(await mirror.orders_by_email(node["email"]))
        return node["id"], ids(await mirror.orders_by_customer(node["customer"]["id"]))

    for node in nodes:
        mirror.invalidate(node["id"])
    results = await asyncio.gather(mirror.sync.drain(), *(lookup(n) for n in range(CONCURRENT)))
    assert results[0] == len(nodes)
    answers = results[1:]
    assert len(answers) == CONCURRENT and all(wanted in found for wanted, found in answers)  # type: ignore[operator]
    assert store.requests == sent


# --- the schema ----------------------------------------------------------------------------------------------------


async def test_migration_0004_adds_the_mirror_to_an_existing_database(database_url: str, clock: Clock) -> None:
    old = Database(database_url, clock=clock)
    async with old.begin() as conn:
        await conn.run_sync(lambda sync: migrations.command.upgrade(migrations.config(sync), "0003"))
    await old.create_conversation("c-before")
    await old.close()
    async with Database(database_url, clock=clock) as database:
        async with database.read() as conn:
            assert await conn.run_sync(migrations.current) == migrations.head()
        assert await database.get_conversation("c-before") is not None
        order = parse_order({"id": "gid://shopify/Order/1", "name": "#1001", "createdAt": T0.isoformat()})
        await database.upsert_mirrored_orders([MirroredOrder(order, T0, False)])
        assert [m.order.name for m in await database.mirrored_orders_named(["1001"])] == ["#1001"]
        assert (await database.order_sync_state()).state == "off"


# --- the service ---------------------------------------------------------------------------------------------------


async def test_the_service_runs_the_sync_in_the_background_and_reports_it(
    mirror: MirroredSource, db: Database, tmp_path: Path
) -> None:
    lumen = Lumen(make_settings(tmp_path), mirror, db)
    assert (await lumen.health()).order_sync.state == "off"
    task = asyncio.create_task(lumen.run_sync())
    try:
        # The first round backfills; the health answer meanwhile is never held up by it.
        await _until(lambda: upstream_of(mirror).exports != [])
        for _ in range(3000):  # a deadline for a loaded machine, not a timing assertion
            if (await lumen.health()).order_sync.state == "live":
                break
            await asyncio.sleep(0.01)
        health = await lumen.health()
        assert (health.order_sync.state, health.order_sync.orders) == ("live", 12)
        assert health.model_dump(mode="json")["order_sync"]["last_sync"] == T0.isoformat().replace("+00:00", "Z")
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def test_lumen_sync_without_shopify_says_the_mirror_is_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import main

    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("LUMEN_DATABASE_URL", f"sqlite:///{tmp_path / 'lumen.db'}")
    for name in ("SHOPIFY_SHOP", "SHOPIFY_ACCESS_TOKEN", "SHOPIFY_SHOP_URL", "SHOPIFY_API_URL", "SHOPIFY_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    assert main(["sync"]) == 2
    assert "order mirror is off" in capsys.readouterr().err


def test_lumen_sync_backfills_now_and_prints_the_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], store: FakeShopify
) -> None:
    import sync.service
    from cli import main

    upstream = Upstream(store)
    monkeypatch.setattr(sync.service, "_default_exporter", lambda admin: upstream.export)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LUMEN_DATABASE_URL", f"sqlite:///{tmp_path / 'lumen.db'}")
    monkeypatch.setenv("SHOPIFY_SHOP_URL", store.base_url)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("LUMEN_SYNC_DAYS", "30")
    assert main(["sync"]) == 0
    out = capsys.readouterr().out
    assert "backfilled 12 orders" in out and "the mirror holds 12 orders; state live" in out
    assert len(upstream.exports) == 1


async def test_sync_orders_without_a_mirror_says_so(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    lumen = await Lumen.create(settings)
    try:
        with pytest.raises(ValueError, match="mirror is off"):
            await lumen.sync_orders()
        assert (await lumen.health()).order_sync.model_dump(mode="json") == {
            "state": "off",
            "orders": 0,
            "last_sync": None,
        }
    finally:
        await lumen.close()


async def test_the_service_stops_its_sync_even_when_stopped_while_switching_sources(
    mirror: MirroredSource, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server stops while the sync of a replaced source is still winding down: the stop is not swallowed."""
    stopping, release = asyncio.Event(), asyncio.Event()

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopping.set()
            await asyncio.shield(release.wait())
            raise

    monkeypatch.setattr(mirror.sync, "run", slow_to_stop)
    lumen = Lumen(make_settings(tmp_path), mirror, db)
    task = asyncio.create_task(lumen.run_sync())
    await asyncio.sleep(0)
    lumen._source_changed.set()  # as an install does
    await stopping.wait()
    task.cancel()
    release.set()
    done, _ = await asyncio.wait({task}, timeout=30)  # a deadline, not a timing check: without the fix it never ends
    assert task in done and task.cancelled()


async def test_names_written_any_way_match_as_live_on_a_store_with_prefixed_names(db: Database) -> None:
    """Another store: names like 'BOG-5101-IE', typed with spaces, dashes and case set aside, or not at all."""
    stranger = Path(__file__).resolve().parents[1] / "evals" / "stranger" / "bogcotton-store.json"
    with FakeShopify(stranger, token=TOKEN, bucket_size=1_000_000, restore_rate=1_000_000) as fake:
        mirror = MirroredSource(live_client(fake), db, make_sync(db, fake, Upstream(fake)))
        live = live_client(fake)
        try:
            assert (await mirror.sync.backfill()) is not None
            for typed in ("BOG-5101-IE", "bog-5102-ie", "#BOG-5103-IE", "BOG5101IE", "bog 5101 ie", "5101", "BOG-5101"):
                number = normalize_order_number(typed) or typed
                assert ids(await mirror.orders_by_name(number)) == ids(await live.orders_by_name(number)), typed
            assert [o.name for o in await mirror.orders_by_name("bog-5101-ie")] == ["BOG-5101-IE"]
        finally:
            await live.aclose()
            await mirror.aclose()
