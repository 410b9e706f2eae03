"""Privacy, logs and webhooks (issue 11: findings 4, 5, parts of 9 and 10). Each test failed against the code before
its fix, or guards a promise a mutation of the code broke without any test noticing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelRequest, UserPromptPart
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

import server
import serving
from agent.service import Lumen, MerchantSettingsUpdate
from agent.webhooks import redact_customer
from config import Settings
from outbox import EscalationService, MailSettings
from shopify import FixtureStore
from shopify.store_file import DEMO_STORE
from storage import Database
from storage.schema import escalations
from tests.server_helpers import (
    ADMIN,
    ADMIN_TOKEN,
    SpySource,
    app_over,
    make_settings,
    served,
    signed_query,
    sse_events,
    webhook_headers,
)
from tools.context import SessionState, ToolContext
from tools.escalate import escalate
from tools.find_order import find_order
from tools.list_fulfillments import list_fulfillments

NOW = 1_790_000_000  # the app-proxy clock in these tests (seconds since the epoch)
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # the database clock
MAYA = "It says delivered but I never got it. order #1031 maya.patel@example.com"
JORDAN = "where is order 1042? jordan.lee@example.com"
STORES = [DEMO_STORE, *sorted((Path(__file__).resolve().parents[1] / "data").glob("*-store.json"))]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with served(settings, NOW) as c:
        yield c


def say(client: TestClient, message: str, session_id: str | None = None) -> str:
    response = client.post("/api/chat", json={"message": message, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()["session_id"]


def admin_get(client: TestClient, path: str) -> Any:
    response = client.get(path, headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def conversation_ids(client: TestClient) -> set[str]:
    return {c["id"] for c in admin_get(client, "/api/admin/conversations")}


def post_webhook(client: TestClient, payload: object, topic: str, event_id: str | None = "evt-1", **headers: str):
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post("/webhooks/shopify", content=body, headers=webhook_headers(body, topic, event_id) | headers)


def customers_redact(email: str | None, customer_id: int = 9999, orders: list[int] | None = None) -> dict:
    return {
        "shop_id": 954889,
        "shop_domain": "harbor-and-pine.myshopify.com",
        "customer": {"id": customer_id, "email": email},
        "orders_to_redact": orders or [],
    }


# --- finding 4: redaction matches exact normalised keys, never substrings ----------------------------------------


def test_redacting_an_email_leaves_every_address_that_merely_contains_it(client: TestClient) -> None:
    maya = say(client, MAYA)
    say(client, "yes please", maya)  # an escalation, with maya.patel@example.com to reply to
    jordan = say(client, JORDAN)
    patel = say(client, "hi, it's patel@example.com, where is my parcel?")
    shouting = say(client, "my email is PATEL@Example.com")
    assert len(admin_get(client, "/api/admin/escalations")) == 1

    # Substrings of other people's addresses: patel@ is in maya.patel@, lee@ in jordan.lee@.
    response = post_webhook(client, customers_redact(" Patel@EXAMPLE.com "), "customers/redact", "evt-1")
    assert response.json()["deleted"] == {"conversations": 2, "escalations": 0}
    assert conversation_ids(client) == {maya, jordan}
    response = post_webhook(client, customers_redact("lee@example.com"), "customers/redact", "evt-2")
    assert response.json()["deleted"] == {"conversations": 0, "escalations": 0}
    assert conversation_ids(client) == {maya, jordan}
    assert len(admin_get(client, "/api/admin/escalations")) == 1
    assert shouting not in conversation_ids(client) and patel not in conversation_ids(client)

    # The right customer's data does go, whatever the case of the address in the request.
    response = post_webhook(client, customers_redact("MAYA.Patel@example.com"), "customers/redact", "evt-3")
    assert response.json()["deleted"] == {"conversations": 1, "escalations": 1}
    assert conversation_ids(client) == {jordan}
    assert admin_get(client, "/api/admin/escalations") == []


def test_a_customer_and_their_orders_are_found_by_whole_ids(client: TestClient) -> None:
    query = signed_query({"shop": "harbor-and-pine.myshopify.com", "logged_in_customer_id": "7002",
                          "path_prefix": "/apps/lumen", "timestamp": str(NOW)})  # fmt: skip
    assert client.post(f"/proxy/api/chat?{query}", json={"message": "where is my order?"}).status_code == 200
    maya = say(client, MAYA)  # proves order 5001031
    kept = say(client, "hello")
    near = customers_redact(None, customer_id=700, orders=[500103, 50010310])
    assert post_webhook(client, near, "customers/redact", "evt-1").json()["deleted"]["conversations"] == 0
    by_customer = customers_redact(None, customer_id=7002)
    assert post_webhook(client, by_customer, "customers/redact", "evt-2").json()["deleted"]["conversations"] == 1
    by_order = customers_redact("someone.else@example.com", customer_id=1, orders=[5001031])
    assert post_webhook(client, by_order, "customers/redact", "evt-3").json()["deleted"]["conversations"] == 1
    assert conversation_ids(client) == {kept} and maya not in conversation_ids(client)


async def _save_unindexed(db: Database, conversation_id: str, text: str) -> None:
    """A conversation as Lumen stored it before contacts were recorded."""
    messages = json.dumps([{"kind": "request", "parts": [{"part_kind": "user-prompt", "content": text}]}])
    await db.save_conversation(
        conversation_id, messages_json=messages, state_json="{}", verified_lookups=0, escalated=False, model=None
    )


async def test_conversations_stored_before_contacts_are_redacted_exactly_too(tmp_path: Path) -> None:
    async with Database(f"sqlite:///{tmp_path / 'old.db'}") as db:
        await _save_unindexed(db, "old-lee", "it's Lee@Example.com.")
        await _save_unindexed(db, "old-jordan", "jordan.lee@example.com here")
        deleted = await redact_customer(db, FixtureStore(DEMO_STORE), customers_redact("lee@example.com"))
        assert deleted.model_dump() == {"conversations": 1, "escalations": 0}
        assert [c.id for c in await db.list_conversations()] == ["old-jordan"]


# --- finding 9: a conversation stores what it needs, for as long as the merchant says -----------------------------


def test_a_conversation_is_stored_without_the_instructions(client: TestClient) -> None:
    session_id = say(client, JORDAN)
    transcript = admin_get(client, f"/api/admin/conversations/{session_id}")
    requests = [m for m in transcript["messages"] if m["kind"] == "request"]
    assert requests and all(m["instructions"] is None for m in requests)
    assert len(json.dumps(transcript)) < 10_000  # 14-20 KB when every request kept the instructions
    # The agent writes them anew each turn: the conversation goes on as before.
    response = client.post("/api/chat", json={"message": "when will it arrive?", "session_id": session_id})
    assert response.status_code == 200 and "Running Shoes" in response.json()["reply"]  # what #1042 holds


async def test_conversations_idle_past_the_retention_period_are_deleted(settings: Settings) -> None:
    lumen = await Lumen.create(settings)
    now = [T0]
    lumen.db.clock = lambda: now[0]
    try:
        assert (await lumen.merchant_settings()).retention_days == 90
        await lumen.update_merchant_settings(MerchantSettingsUpdate(retention_days=30))
        old = (await lumen.chat(JORDAN)).session_id
        now[0] = T0 + timedelta(days=29)
        recent = (await lumen.chat(MAYA)).session_id
        assert await lumen.apply_retention() == 0
        now[0] = T0 + timedelta(days=30, minutes=1)
        assert await lumen.apply_retention() == 1
        assert [c.id for c in await lumen.list_conversations()] == [recent]
        assert await lumen.db.contacts_of(old) == set()  # what was recorded about it goes too
        assert await lumen.db.contacts_of(recent) == {("email", "maya.patel@example.com"),
                                                      ("order", "gid://shopify/Order/5001031")}  # fmt: skip
    finally:
        await lumen.close()


async def test_retention_keeps_every_hand_off_the_outbox_is_not_done_with(database_url: str) -> None:
    async with Database(database_url, clock=lambda: T0) as db:
        old, recent = T0 - timedelta(days=100), T0 - timedelta(days=1)
        rows = [("ESC-SENT", "sent", old), ("ESC-CANC", "cancelled", old), ("ESC-PEND", "pending", old),
                ("ESC-FAIL", "failed", old), ("ESC-NEW", "sent", recent)]  # fmt: skip
        async with db.begin() as conn:
            for esc_id, status, created in rows:
                await conn.execute(sa.insert(escalations).values(
                    id=esc_id, conversation_id="c", order_key=esc_id, reason="r", summary="s", transcript="t",
                    created_at=created, email_status=status, attempts=0))  # fmt: skip
        await db.forget_before(T0 - timedelta(days=90))
        async with db.begin() as conn:
            left = set((await conn.execute(sa.select(escalations.c.id))).scalars())
        assert left == {"ESC-PEND", "ESC-FAIL", "ESC-NEW"}


def test_the_retention_period_is_a_merchant_setting(client: TestClient) -> None:
    assert admin_get(client, "/api/admin/settings")["retention_days"] == 90
    for bad in (0, -1, 100_000, "soon"):
        response = client.put("/api/admin/settings", json={"retention_days": bad}, headers=ADMIN)
        assert response.status_code == 422
    response = client.put("/api/admin/settings", json={"retention_days": 14}, headers=ADMIN)
    assert response.status_code == 200 and response.json()["retention_days"] == 14
    assert admin_get(client, "/api/admin/settings")["retention_days"] == 14


# --- finding 9: webhooks cannot be replayed -----------------------------------------------------------------------

ORDER_UPDATED = {"id": 5001042, "admin_graphql_api_id": "gid://shopify/Order/5001042", "name": "#1042"}


@pytest.fixture
async def lumen_app(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Lumen, SpySource]]:
    """The app over `database_url` (SQLite and PostgreSQL), called in-process, its clock at T0."""
    lumen = await Lumen.create(make_settings(tmp_path, lumen_database_url=database_url))
    lumen.db.clock = lambda: T0
    spy = SpySource(lumen.source)
    lumen.source = spy
    app = app_over(lumen, NOW)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://lumen.test") as http:
            yield http, lumen, spy
    finally:
        await lumen.close()


async def test_a_signed_body_replayed_100_times_at_once_under_new_ids_acts_once(lumen_app) -> None:
    http, _lumen, spy = lumen_app
    body = json.dumps(ORDER_UPDATED).encode()

    def replay(i: int) -> dict[str, str]:
        # Only the body is signed: a replay can carry any event id, webhook id and trigger time.
        fresh = {"X-Shopify-Webhook-Id": f"wh-{i}", "X-Shopify-Triggered-At": T0.isoformat()}
        return webhook_headers(body, "orders/updated", f"evt-{i}") | fresh

    responses = await asyncio.gather(*(http.post("/webhooks/shopify", content=body, headers=replay(i))
                                       for i in range(100)))  # fmt: skip
    assert [r.status_code for r in responses] == [200] * 100
    assert sum(1 for r in responses if not r.json().get("duplicate")) == 1
    assert spy.invalidated == ["gid://shopify/Order/5001042", "#1042"]


async def test_a_retry_under_the_same_webhook_id_is_a_duplicate(lumen_app) -> None:
    http, _lumen, spy = lumen_app
    first = json.dumps(ORDER_UPDATED).encode()
    second = json.dumps(ORDER_UPDATED | {"updated_at": "2026-12-01T12:00:00Z"}).encode()
    headers = webhook_headers(first, "orders/updated", "evt-1") | {"X-Shopify-Webhook-Id": "wh-1"}
    assert "duplicate" not in (await http.post("/webhooks/shopify", content=first, headers=headers)).json()
    retry = webhook_headers(second, "orders/updated", "evt-2") | {"X-Shopify-Webhook-Id": "wh-1"}
    assert (await http.post("/webhooks/shopify", content=second, headers=retry)).json()["duplicate"] is True
    assert len(spy.invalidated) == 2


async def test_a_stale_order_delivery_is_acknowledged_and_ignored_and_a_stale_redaction_is_done(lumen_app) -> None:
    http, lumen, spy = lumen_app
    jordan = (await lumen.chat(JORDAN)).session_id
    stale = (T0 - timedelta(minutes=6)).isoformat().replace("+00:00", "Z")
    fresh = (T0 - timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
    order = json.dumps(ORDER_UPDATED).encode()
    late = webhook_headers(order, "orders/updated", "evt-1") | {"X-Shopify-Triggered-At": stale}
    answer = (await http.post("/webhooks/shopify", content=order, headers=late)).json()
    assert answer["ignored"] is True and "minutes" in answer["reason"]
    assert spy.invalidated == []
    update = json.dumps(ORDER_UPDATED | {"note": "x"}).encode()
    on_time = webhook_headers(update, "orders/updated", "evt-2") | {"X-Shopify-Triggered-At": fresh}
    assert (await http.post("/webhooks/shopify", content=update, headers=on_time)).json()["invalidated"]
    # A customer's erasure is owed however late Shopify's retry comes (and doing it again changes nothing).
    redact = json.dumps(customers_redact("jordan.lee@example.com")).encode()
    late = webhook_headers(redact, "customers/redact", "evt-3") | {"X-Shopify-Triggered-At": stale}
    answer = (await http.post("/webhooks/shopify", content=redact, headers=late)).json()
    assert answer["deleted"] == {"conversations": 1, "escalations": 0}
    assert await lumen.db.get_conversation(jordan) is None


# --- finding 9: NUL and unpaired surrogates are a 4xx on every database ------------------------------------------


def _bad_requests(client: TestClient) -> Iterator[tuple[str, Any]]:
    session_id = say(client, "hello")
    proxy = signed_query({"shop": "harbor-and-pine.myshopify.com", "logged_in_customer_id": "",
                          "path_prefix": "/apps/lumen", "timestamp": str(NOW)})  # fmt: skip
    for text, raw in (("nul", "\\u0000"), ("surrogate", "\\ud800")):
        message = f'{{"message": "where is order 1042{raw}?", "session_id": "{session_id}"}}'.encode()
        json_headers = {"Content-Type": "application/json"}
        for path in ("/api/chat", "/api/chat/stream", f"/proxy/api/chat?{proxy}", f"/proxy/api/chat/stream?{proxy}"):
            yield f"{path.split('?')[0]} {text}", client.post(path, content=message, headers=json_headers)
        persona = f'{{"context": "we ship{raw} daily"}}'.encode()
        yield f"persona {text}", client.put("/api/admin/persona", content=persona, headers=ADMIN | json_headers)
        mail = f'{{"mail_from": "shop{raw}@example.com"}}'.encode()
        yield f"settings {text}", client.put("/api/admin/settings", content=mail, headers=ADMIN | json_headers)
    yield "conversation url", client.get("/api/admin/conversations/%00", headers=ADMIN)
    yield "conversation url", client.get(f"/api/admin/conversations/{session_id[:-1]}%00", headers=ADMIN)
    for topic in ("customers/redact", "orders/updated"):
        body = b'{"customer": {"id": 1, "email": "lee\\u0000@example.com"}, "name": "#10\\u000042"}'
        yield f"webhook {topic}", post_webhook(client, body, topic)


def test_nul_and_lone_surrogates_are_refused_on_every_database(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, lumen_database_url=database_url)
    with served(settings, NOW, raise_server_exceptions=False) as client:
        answers = {label: response.status_code for label, response in _bad_requests(client)}
        assert {label for label, status in answers.items() if not 400 <= status < 500} == set(), answers
        assert client.get("/healthz").status_code == 200
        say(client, JORDAN)  # the database is as usable as before


# --- finding 5: no PII or secrets in any log ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running(app: Any, **options: Any) -> AsyncIterator[str]:
    """`app` served by uvicorn as `lumen serve` runs it, on a free loopback port."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="debug", **(serving.uvicorn_options() | options))
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    while not srv.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.01)
    port = srv.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        await task


@dataclass
class CapturedLogs:
    records: io.StringIO

    def text(self, capsys: pytest.CaptureFixture[str], test_client_url: str) -> str:
        """Everything logged, but the test's own HTTP client's lines (it sends the signed URLs: Lumen does not)."""
        out, err = capsys.readouterr()
        lines = (self.records.getvalue() + out + err).splitlines()
        return "\n".join(
            line for line in lines if not line.startswith(f"httpx INFO HTTP Request: POST {test_client_url}")
        )


@contextlib.contextmanager
def every_logger_at_debug() -> Iterator[CapturedLogs]:
    """Every logger at DEBUG into one buffer, tracebacks included (uvicorn's own handlers write to the captured
    stdout/stderr, formatted as `lumen serve` configures them)."""
    names = ["", "sqlalchemy", "sqlalchemy.engine", "aiosqlite", "asyncpg", "lumen", "httpx", "uvicorn",
             "uvicorn.error", "uvicorn.access", "pydantic_ai"]  # fmt: skip
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).handlers[:]) for name in names}
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logging.getLogger().addHandler(handler)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield CapturedLogs(buffer)
    finally:
        for name, (level, handlers) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).handlers[:] = handlers


async def test_a_whole_scenario_logs_no_email_order_postcode_signature_or_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path)
    app = server.create_app(settings)
    app.state.clock = lambda: NOW
    proxy = signed_query({"shop": "harbor-and-pine.myshopify.com", "logged_in_customer_id": "7002",
                          "path_prefix": "/apps/lumen", "timestamp": str(NOW)})  # fmt: skip
    signature = proxy.rsplit("signature=", 1)[1]
    redact = json.dumps(customers_redact("maya.patel@example.com", customer_id=7001)).encode()
    hook = webhook_headers(redact, "customers/redact", "evt-1")
    with every_logger_at_debug() as logs:
        async with running(app, log_config=serving.log_config()) as url, httpx.AsyncClient(base_url=url) as http:
            turn = await http.post("/api/chat", json={"message": JORDAN})
            session_id = turn.json()["session_id"]
            await http.post("/api/chat", json={"message": "order #1031, zip 97214", "session_id": session_id})
            assert (await http.post(f"/proxy/api/chat?{proxy}", json={"message": "where is my order?"})).is_success
            assert (await http.post("/webhooks/shopify", content=redact, headers=hook)).is_success
            # A database write that fails: SQLite refuses every update of a conversation from now on.
            async with app.state.lumen.db.begin() as conn:
                await conn.exec_driver_sql(
                    "CREATE TRIGGER refuse BEFORE UPDATE ON conversations BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            failed = await http.post("/api/chat", json={"message": "again: #1042 jordan.lee@example.com 78704",
                                                          "session_id": session_id})  # fmt: skip
            assert failed.status_code == 500
            await http.get(f"/api/admin/conversations/{session_id}", headers=ADMIN)
        text = logs.text(capsys, url)
    assert "refused" in text and session_id in text  # the failure is logged, by conversation id
    assert '"POST /proxy/api/chat HTTP/1.1" 200' in text  # the access log is there, without its query
    secrets = ["jordan.lee@example.com", "maya.patel@example.com", "#1042", "#1031", "78704", "97214",
               signature, "logged_in_customer_id", hook["X-Shopify-Hmac-Sha256"], ADMIN_TOKEN,
               "gid://shopify/Customer/7002"]  # fmt: skip
    assert [s for s in secrets if s in text] == [], [
        line for line in text.splitlines() if any(s in line for s in secrets)
    ]


# --- finding 9: connections that send nothing are closed, and there is a limit ------------------------------------


async def _open_silent(url: str, count: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = url.removeprefix("http://").split(":")
    opened = await asyncio.gather(*(asyncio.open_connection(host, int(port)) for _ in range(count)))
    for _reader, writer in opened[: count // 2]:
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n")  # half the headers, never the rest
        await writer.drain()
    return list(opened)


async def test_connections_that_never_finish_their_headers_are_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.HeaderTimeoutH11, "header_timeout_s", 0.5)
    app = server.create_app(make_settings(tmp_path))
    async with running(app) as url, httpx.AsyncClient(base_url=url) as http:
        silent = await _open_silent(url, 100)
        # Each silent connection is closed by the server (EOF, no answer) once the header timeout passes.
        closed = await asyncio.wait_for(asyncio.gather(*(reader.read() for reader, _w in silent)), timeout=30)
        assert closed == [b""] * 100
        for _reader, writer in silent:
            writer.close()
        assert (await http.get("/healthz")).status_code == 200


async def test_past_the_connection_limit_a_request_is_turned_away(tmp_path: Path) -> None:
    app = server.create_app(make_settings(tmp_path))
    async with running(app, limit_concurrency=100) as url, httpx.AsyncClient(base_url=url) as http:
        silent = await _open_silent(url, 100)  # held open: the header timeout (10 s) is far off
        # 100 connections held: a new request gets a 503 at once rather than a place in an unbounded queue.
        assert (await http.get("/healthz")).status_code == 503
        for _reader, writer in silent:
            writer.close()


def test_lumen_serve_passes_the_limits_and_the_log_filter_to_uvicorn() -> None:
    options = serving.uvicorn_options(250)
    assert options["limit_concurrency"] == 250 and options["http"] is serving.HeaderTimeoutH11
    access = options["log_config"]["handlers"]["access"]
    assert access["filters"] == ["path_only"]
    record = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                               ("1.2.3.4:5", "POST", "/proxy/api/chat?signature=abc&x=1", "1.1", 200), None)  # fmt: skip
    serving.PathOnly().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "POST /proxy/api/chat HTTP/1.1" 200'


# --- finding 10: mutation guards -------------------------------------------------------------------------------------


def _ctx(deps: ToolContext) -> RunContext[ToolContext]:
    return RunContext(
        deps=deps, model=TestModel(), usage=RunUsage(), messages=[ModelRequest(parts=[UserPromptPart("hi")])]
    )


def _mentions(results: list[Any], value: str | None) -> bool:
    if not value:
        return False
    text = json.dumps([r.model_dump(mode="json") for r in results], ensure_ascii=False).upper()
    return re.search(rf"(?<![0-9A-Z]){re.escape(value.upper())}(?![0-9A-Z])", text) is not None


async def _tool_results(store: Path, order: dict[str, Any], typed: str, service: EscalationService) -> list[Any]:
    """Every tool on one order, the shopper having typed only `typed` ("email", "postal_code" or nothing: logged in)."""
    customer = (order.get("customer") or {}).get("id") if typed == "" else None
    deps = ToolContext(source=FixtureStore(store), session=SessionState(customer_id=customer),
                       conversation_id=f"c-{order['name']}-{typed}", escalations=service)  # fmt: skip
    ctx = _ctx(deps)
    email = order.get("email") if typed == "email" else None
    postal = (order.get("shippingAddress") or {}).get("zip") if typed == "postal_code" else None
    results: list[Any] = [await find_order(ctx, order_number=order["name"], email=email, postal_code=postal)]
    results.append(await find_order(ctx))
    results.append(await list_fulfillments(ctx, order["name"]))
    results.append(await escalate(ctx, reason="other", summary="help", order_number=order["name"]))
    return results


@pytest.mark.parametrize("store", STORES, ids=lambda p: p.stem)
async def test_no_tool_result_carries_an_email_or_postcode_the_shopper_did_not_type(store: Path) -> None:
    async with Database("sqlite:///:memory:") as db:
        service = EscalationService(db, MailSettings())
        for order in json.loads(store.read_text())["orders"]:
            email, postal = order.get("email"), (order.get("shippingAddress") or {}).get("zip")
            for typed in ("email", "postal_code", ""):
                results = await _tool_results(store, order, typed, service)
                assert results[0].status in ("verified", "customer_orders", "verification_needed"), results[0]
                assert not _mentions(results, postal if typed != "postal_code" else None), (order["name"], typed)
                # A logged-in owner may be replied to at their own address (escalate's reply_to); nothing else.
                shown = results if typed == "postal_code" else results[:3] if typed == "" else []
                assert not _mentions(shown, email), (order["name"], typed)


def test_a_stream_that_breaks_midway_ends_with_the_error_event_the_widget_handles(client: TestClient) -> None:
    widget = (server.STATIC / "widget.js").read_text()
    handled = set(re.findall(r'event === "(\w+)"', widget))
    assert {"session", "delta", "done", "error"} <= handled
    lumen = client.app.state.lumen

    async def breaks(*args: Any, **kwargs: Any):
        yield {"type": "session", "session_id": "s" * 22}
        yield {"type": "delta", "text": "Your order"}
        raise RuntimeError("the model went away")

    lumen.chat_stream = breaks
    response = client.post("/api/chat/stream", json={"message": "where is my order?"})
    events = sse_events(response.text)
    assert [name for name, _data in events] == ["session", "delta", "error"]
    assert events[-1][1]["detail"]  # JSON the widget parses, saying something
    assert {name for name, _data in events} <= handled
