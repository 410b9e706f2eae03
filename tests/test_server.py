"""The HTTP API: chat and its stream, input validation, the merchant API, restarts, error handling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import Request
from fastapi.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import server
from agent import prompts
from agent.masking import mask_smtp_url
from agent.service import SESSION_ID, Lumen
from config import Settings
from tests.server_helpers import ADMIN, ADMIN_TOKEN, SpySource, make_settings, sse_events

SPLIT = "where is order 1042? jordan.lee@example.com"
TRACKING = ("9400111899223197428490", "789104567123")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(server.create_app(settings)) as c:
        yield c


def chat(client: TestClient, message: str, session_id: str | None = None, path: str = "/api/chat") -> dict:
    response = client.post(path, json={"message": message, "session_id": session_id})
    assert response.status_code == 200, response.text
    return response.json()


# --- chat ---------------------------------------------------------------------------------------------------------


def test_import_is_cheap_and_there_is_no_module_level_app() -> None:
    assert not hasattr(server, "app")


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert {"/api/chat", "/api/chat/stream", "/api/admin/persona", "/proxy/api/chat", "/healthz"} <= set(paths)
    assert "/" not in paths and "/widget.js" not in paths


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "store": "Harbor & Pine",
        "model": "playbook",
        "order_sync": {"state": "off", "last_sync": None},  # a store file is not mirrored; counts are the merchant's
    }


def test_chat_contract(client: TestClient) -> None:
    body = chat(client, SPLIT)
    assert set(body) == {"session_id", "reply", "escalation"}
    assert SESSION_ID.fullmatch(body["session_id"])
    assert body["escalation"] is None
    for number in TRACKING:
        assert number in body["reply"]


def test_a_conversation_continues_with_its_session_id(client: TestClient) -> None:
    first = chat(client, "where is my order?")
    assert "order number" in first["reply"]
    second = chat(client, "1042", first["session_id"])
    assert "email" in second["reply"]
    third = chat(client, "jordan.lee@example.com", first["session_id"])
    assert first["session_id"] == second["session_id"] == third["session_id"]
    assert all(number in third["reply"] for number in TRACKING)
    # The verified order is remembered: no email asked again.
    fourth = chat(client, "when will it arrive?", first["session_id"])
    assert "February 28" in fourth["reply"]
    assert "email" not in fourth["reply"]


def test_each_new_conversation_gets_its_own_session(client: TestClient) -> None:
    assert chat(client, "hello")["session_id"] != chat(client, "hello")["session_id"]


BAD_BODIES = [
    pytest.param(b"{", 400, id="malformed-json"),
    pytest.param(b"", 422, id="empty-body"),
    pytest.param(b"[]", 422, id="not-an-object"),
    pytest.param(b'"where is my order?"', 422, id="a-bare-string"),
    pytest.param(b"{}", 422, id="no-message"),
    pytest.param(b'{"message": 42}', 422, id="message-not-a-string"),
    pytest.param(b'{"message": null}', 422, id="message-null"),
    pytest.param(b'{"message": ["hi"]}', 422, id="message-a-list"),
    pytest.param(b'{"message": ""}', 422, id="empty-message"),
    pytest.param(b'{"message": "   \\n\\t "}', 422, id="blank-message"),
    pytest.param(json.dumps({"message": "x" * 2001}).encode(), 422, id="2001-chars"),
    pytest.param(b'{"message": "hi", "customer_id": "gid://shopify/Customer/7002"}', 422, id="extra-field"),
    pytest.param(b'{"message": "hi", "session_id": 5}', 422, id="session-id-not-a-string"),
    pytest.param(b'{"message": "hi", "session_id": "nope"}', 422, id="malformed-session-id"),
    pytest.param(b'{"message": "hi", "session_id": "../../etc/passwd-xxxxxxxx"}', 422, id="path-like-session-id"),
    pytest.param(b'{"message": "hi", "session_id": "AAAAAAAAAAAAAAAAAAAAAA"}', 404, id="unknown-session-id"),
    pytest.param(json.dumps({"message": "x" * 40_000}).encode(), 413, id="huge-body"),
]


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
@pytest.mark.parametrize(("body", "status"), BAD_BODIES)
def test_bad_input_is_a_4xx_with_a_detail(client: TestClient, path: str, body: bytes, status: int) -> None:
    response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert "Traceback" not in response.text


def test_a_huge_chunked_body_is_refused_while_it_streams_in(client: TestClient) -> None:
    chunks = iter([b'{"message": "', b"x" * 20_000, b"y" * 20_000, b'"}'])
    response = client.post("/api/chat", content=chunks, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["detail"].startswith("The request body is too large")


async def raw_post(app: object, path: str, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, dict]:
    """One request straight through the ASGI app, headers exactly as given (no HTTP client fixes them up)."""
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "server": ("lumen.test", 80), "client": ("192.0.2.1", 5000)}  # fmt: skip
    await app(scope, receive, send)
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


@pytest.mark.parametrize(
    ("length", "status"),
    [
        pytest.param(b"9" * 5000, 413, id="5000-digits"),  # more digits than int() converts: was a 500
        pytest.param(b"9" * 19, 413, id="19-digits"),
        pytest.param(b"+16", 400, id="signed"),
        pytest.param(b"1_6", 400, id="underscore"),
        pytest.param("١٦".encode(), 400, id="arabic-digits"),
        pytest.param(b"", 400, id="empty"),
    ],
)
@pytest.mark.parametrize("path", ["/api/chat", "/webhooks/shopify", "/api/admin/persona"])
async def test_odd_content_lengths_are_a_4xx(settings: Settings, path: str, length: bytes, status: int) -> None:
    app = server.create_app(settings)
    headers = [(b"content-type", b"application/json"), (b"content-length", length)]
    async with app.router.lifespan_context(app):
        got, answer = await raw_post(app, path, headers, b'{"message": "hi"}')
    assert got == status
    assert set(answer) == {"detail"} and isinstance(answer["detail"], str) and answer["detail"]


@pytest.mark.parametrize("path", ["/api/chat", "/webhooks/shopify", "/api/admin/persona"])
async def test_a_client_that_hangs_up_mid_body_is_no_server_error(
    settings: Settings, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A shopper closing the tab (or Shopify timing out) while the body streams in: a 4xx, and no "unhandled error"
    in the log (a Black Friday run logged hundreds)."""
    app = server.create_app(settings)
    sent: list[dict] = []
    parts = iter([{"type": "http.request", "body": b'{"mess', "more_body": True}, {"type": "http.disconnect"}])

    async def receive() -> dict:
        return next(parts, {"type": "http.disconnect"})

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"content-type", b"application/json"), (b"authorization", f"Bearer {ADMIN_TOKEN}".encode())],
             "server": ("lumen.test", 80), "client": ("192.0.2.1", 5000)}  # fmt: skip
    async with app.router.lifespan_context(app):
        await app(scope, receive, send)
    assert 400 <= sent[0]["status"] < 500
    assert "unhandled error" not in caplog.text


def test_validation_messages_are_readable(client: TestClient) -> None:
    response = client.post("/api/chat", json={"message": "x" * 2001})
    assert response.json()["detail"] == "message: String should have at most 2000 characters"
    response = client.post("/api/chat", json={"message": "hi", "session_id": "nope"})
    assert response.json()["detail"].startswith("session_id: not a session id issued by this server")


def test_exactly_2000_characters_is_accepted(client: TestClient) -> None:
    assert client.post("/api/chat", json={"message": "a" * 2000}).status_code == 200


def test_a_body_without_json_content_type_is_refused(client: TestClient) -> None:
    response = client.post("/api/chat", content=b'{"message": "hi"}')
    assert response.status_code == 422


def test_wrong_method_and_unknown_paths_are_json(client: TestClient) -> None:
    assert client.get("/api/chat").json() == {"detail": "Method Not Allowed"}
    assert client.get("/api/nothing-here").json() == {"detail": "Not Found"}


# --- the client's address -----------------------------------------------------------------------------------------


def spy_on_addresses(lumen: Lumen) -> list[str | None]:
    """Records the `client_ip` each chat and chat_stream call gets (and still runs the turn)."""
    seen: list[str | None] = []
    chat_, stream = lumen.chat, lumen.chat_stream

    async def chat_spy(*args, **kwargs):
        seen.append(kwargs["client_ip"])
        return await chat_(*args, **kwargs)

    def stream_spy(*args, **kwargs):
        seen.append(kwargs["client_ip"])
        return stream(*args, **kwargs)

    lumen.chat, lumen.chat_stream = chat_spy, stream_spy
    return seen


@pytest.mark.parametrize("path", ["/api/chat", "/api/chat/stream"])
def test_the_client_address_reaches_the_service(client: TestClient, path: str) -> None:
    seen = spy_on_addresses(client.app.state.lumen)
    assert client.post(path, json={"message": "hi"}).status_code == 200
    # A forwarded header is anyone's to send: the app itself never believes it.
    spoofed = {"X-Forwarded-For": "203.0.113.7", "Forwarded": "for=203.0.113.7", "X-Real-IP": "203.0.113.7"}
    assert client.post(path, json={"message": "hi"}, headers=spoofed).status_code == 200
    assert seen == ["testclient", "testclient"]  # TestClient's peer address


def test_an_unknown_client_address_is_none() -> None:
    assert server.client_ip(Request({"type": "http", "headers": []})) is None
    assert server.client_ip(Request({"type": "http", "headers": [], "client": ("192.0.2.1", 1)})) == "192.0.2.1"


async def test_behind_a_trusted_proxy_uvicorn_supplies_the_forwarded_address(settings: Settings) -> None:
    """The deployment documented in server.client_ip: uvicorn's proxy headers, trusting only the proxy's address."""
    lumen = await Lumen.create(settings)
    seen = spy_on_addresses(lumen)
    app = server.create_app(lumen=lumen)
    behind_proxy = ProxyHeadersMiddleware(app, trusted_hosts="127.0.0.1")
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    try:
        async with app.router.lifespan_context(app):
            for peer, expected in [("127.0.0.1", "203.0.113.7"), ("198.51.100.4", "198.51.100.4")]:
                transport = httpx.ASGITransport(app=behind_proxy, client=(peer, 5000))
                async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as http:
                    response = await http.post("/api/chat", json={"message": "hi"}, headers=forwarded)
                    assert response.status_code == 200
                assert seen.pop() == expected
    finally:
        await lumen.close()


# --- the stream ---------------------------------------------------------------------------------------------------


def test_stream_sends_session_then_deltas_then_done(client: TestClient) -> None:
    response = client.post("/api/chat/stream", json={"message": SPLIT})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "session" and names[-1] == "done"
    assert set(names[1:-1]) == {"status", "delta"} and len(names) > 3
    session_id = events[0][1]["session_id"]
    done = events[-1][1]
    assert set(done) == {"session_id", "reply", "escalation"}
    assert done["session_id"] == session_id
    assert "".join(data["text"] for name, data in events if name == "delta") == done["reply"]
    assert all(number in done["reply"] for number in TRACKING)

    # The streamed turn is part of the conversation, like any other.
    follow_up = chat(client, "when will it arrive?", session_id)
    assert "February 28" in follow_up["reply"]


def test_stream_says_what_it_is_looking_up_before_the_answer(client: TestClient) -> None:
    events = sse_events(client.post("/api/chat/stream", json={"message": SPLIT}).text)
    names = [name for name, _ in events]
    statuses = [data["text"] for name, data in events if name == "status"]
    lines = prompts.toml("status.toml")["tools"]
    # The lookup's line comes before any of the answer, and only lines from prompts/status.toml are sent.
    assert names.index("status") < names.index("delta")
    assert statuses[0] == lines["find_order"]
    assert set(statuses) <= set(lines.values())
    assert all(set(data) == {"text"} for name, data in events if name == "status")


def test_a_turn_without_a_lookup_sends_no_status(client: TestClient) -> None:
    events = sse_events(client.post("/api/chat/stream", json={"message": "hi"}).text)
    names = [name for name, _ in events]
    assert "status" not in names and names[-1] == "done"


def test_stream_and_plain_chat_give_the_same_answer(client: TestClient) -> None:
    plain = chat(client, SPLIT)["reply"]
    events = sse_events(client.post("/api/chat/stream", json={"message": SPLIT}).text)
    assert events[-1][1]["reply"] == plain


def test_stream_escalation_is_in_done(client: TestClient) -> None:
    first = chat(client, "It says delivered but I never got it. order #1031 maya.patel@example.com")
    events = sse_events(
        client.post("/api/chat/stream", json={"message": "yes please", "session_id": first["session_id"]}).text
    )
    escalation = events[-1][1]["escalation"]
    assert escalation["status"] == "created" and escalation["reference"].startswith("ESC-")


# --- the merchant API -----------------------------------------------------------------------------------------------

ADMIN_CALLS = [
    ("GET", "/api/admin/persona", None),
    ("PUT", "/api/admin/persona", {"tone": "concise"}),
    ("GET", "/api/admin/settings", None),
    ("PUT", "/api/admin/settings", {"mail_from": "x@example.com"}),
    ("GET", "/api/admin/escalations", None),
    ("GET", "/api/admin/conversations", None),
    ("GET", "/api/admin/conversations/AAAAAAAAAAAAAAAAAAAAAA", None),
    ("GET", "/api/admin/stats", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-token"),
        pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
        pytest.param({"Authorization": ADMIN["Authorization"].replace("Bearer", "Basic")}, id="wrong-scheme"),
        pytest.param({"Authorization": ADMIN["Authorization"] + "x"}, id="token-prefix"),
        pytest.param({"Authorization": "Bearer tëst".encode()}, id="non-ascii-token"),
    ],
)
def test_admin_needs_the_token(client: TestClient, method: str, path: str, body: dict | None, headers: dict) -> None:
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["detail"] == "A valid admin token is required."
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("token", [None, ""])
@pytest.mark.parametrize(("method", "path", "body"), ADMIN_CALLS)
def test_admin_is_closed_without_a_configured_token(
    tmp_path: Path, token: str | None, method: str, path: str, body: dict | None
) -> None:
    with TestClient(server.create_app(make_settings(tmp_path, lumen_admin_token=token))) as client:
        for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer None"}):
            response = client.request(method, path, json=body, headers=headers)
            assert response.status_code == 403
            assert "LUMEN_ADMIN_TOKEN" in response.json()["detail"]


def test_persona_partial_updates(client: TestClient) -> None:
    persona = client.get("/api/admin/persona", headers=ADMIN).json()
    assert set(persona) == {"assistant_name", "tone", "context"}

    updated = client.put(
        "/api/admin/persona", headers=ADMIN, json={"context": "Pre-orders typically ship within 4-6 weeks."}
    ).json()
    assert updated == persona | {"context": "Pre-orders typically ship within 4-6 weeks."}

    updated = client.put("/api/admin/persona", headers=ADMIN, json={"tone": "concise", "assistant_name": "Pip"}).json()
    assert updated == {
        "assistant_name": "Pip",
        "tone": "concise",
        "context": "Pre-orders typically ship within 4-6 weeks.",
    }
    assert client.get("/api/admin/persona", headers=ADMIN).json() == updated


@pytest.mark.parametrize(
    "body",
    [
        {"assistant_name": ""},
        {"assistant_name": "   "},
        {"assistant_name": "x" * 41},
        {"tone": "sarcastic"},
        {"context": "x" * 2001},
        {"context": 5},
    ],
)
def test_persona_validation(client: TestClient, body: dict) -> None:
    before = client.get("/api/admin/persona", headers=ADMIN).json()
    response = client.put("/api/admin/persona", headers=ADMIN, json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)
    assert client.get("/api/admin/persona", headers=ADMIN).json() == before


def test_persona_reaches_the_answers(client: TestClient) -> None:
    client.put("/api/admin/persona", headers=ADMIN, json={"context": "Pre-orders typically ship within 4-6 weeks."})
    reply = chat(client, "When will my pre-order ship? order 1088 sam.rivera@example.com")["reply"]
    assert "Pre-orders typically ship within 4-6 weeks." in reply


def test_settings_mask_the_smtp_password(client: TestClient) -> None:
    defaults = client.get("/api/admin/settings", headers=ADMIN).json()
    assert defaults == {
        "escalation_email": None,
        "smtp_url": None,
        "mail_from": "lumen@localhost",
        "verification_factors": ["email", "postal_code"],
        "retention_days": 90,
    }
    url = "smtp://support%40shop.com:hunter2-secret@mail.example.com:587"
    response = client.put(
        "/api/admin/settings",
        headers=ADMIN,
        json={"smtp_url": url, "escalation_email": "help@example.com", "verification_factors": ["email"]},
    )
    assert response.status_code == 200
    masked = "smtp://support%40shop.com:********@mail.example.com:587"
    assert response.json() == {
        "escalation_email": "help@example.com",
        "smtp_url": masked,
        "mail_from": "lumen@localhost",
        "verification_factors": ["email"],
        "retention_days": 90,
    }
    assert "hunter2" not in client.get("/api/admin/settings", headers=ADMIN).text
    lumen: Lumen = client.app.state.lumen
    assert client.portal.call(lumen.merchant_settings).smtp_url == url

    # Sending the masked URL back (the admin page does) keeps the stored password.
    client.put("/api/admin/settings", headers=ADMIN, json={"smtp_url": masked, "mail_from": "Shop <bot@example.com>"})
    stored = client.portal.call(lumen.merchant_settings)
    assert stored.smtp_url == url and stored.mail_from == "Shop <bot@example.com>"

    # null clears it.
    client.put("/api/admin/settings", headers=ADMIN, json={"smtp_url": None})
    assert client.get("/api/admin/settings", headers=ADMIN).json()["smtp_url"] is None


@pytest.mark.parametrize(
    "body",
    [
        {"escalation_email": "not-an-email"},
        {"smtp_url": "http://mail.example.com"},
        {"smtp_url": "smtp://"},
        {"verification_factors": []},
        {"verification_factors": ["shoe_size"]},
        {"mail_from": "x" * 201},
    ],
)
def test_settings_validation(client: TestClient, body: dict) -> None:
    response = client.put("/api/admin/settings", headers=ADMIN, json=body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], str)


def test_mask_smtp_url() -> None:
    assert mask_smtp_url(None) is None
    assert mask_smtp_url("smtp://mail.example.com:25") == "smtp://mail.example.com:25"
    assert mask_smtp_url("smtp://bob@mail.example.com") == "smtp://bob@mail.example.com"
    assert mask_smtp_url("smtps://bob:p%40ss@mail.example.com") == "smtps://bob:********@mail.example.com"
    assert mask_smtp_url("smtp://:pw@mail.example.com") == "smtp://:********@mail.example.com"


def test_escalations_are_listed_newest_first(client: TestClient) -> None:
    first = chat(client, "It says delivered but I never got it. order #1031 maya.patel@example.com")
    assert "support team" in first["reply"]
    done = chat(client, "yes please", first["session_id"])
    reference = done["escalation"]["reference"]
    assert done["escalation"] == {"reference": reference, "status": "created", "reply_to": "maya.patel@example.com"}
    assert reference in done["reply"]

    second = chat(client, "It says delivered but I never got it. order #1099 maya.patel@example.com")
    later = chat(client, "yes please", second["session_id"])

    listed = client.get("/api/admin/escalations", headers=ADMIN).json()
    assert [e["id"] for e in listed] == [later["escalation"]["reference"], reference]
    assert listed[1]["order_name"] == "#1031"
    assert listed[1]["conversation_id"] == first["session_id"]
    assert listed[1]["email_status"] == "not_configured"
    assert any(m["speaker"] == "shopper" and "never got it" in m["text"] for m in listed[1]["transcript"])
    assert len(client.get("/api/admin/escalations?limit=1", headers=ADMIN).json()) == 1
    assert client.get("/api/admin/escalations?limit=0", headers=ADMIN).status_code == 422


def test_conversations_and_transcripts(client: TestClient) -> None:
    first = chat(client, SPLIT)
    second = chat(client, "where is my order?")
    listed = client.get("/api/admin/conversations", headers=ADMIN).json()
    assert [c["id"] for c in listed] == [second["session_id"], first["session_id"]]
    assert listed[1]["verified_lookups"] == 1 and listed[1]["escalated"] is False
    assert listed[1]["message_count"] > 2

    page = client.get("/api/admin/conversations?limit=1&offset=1", headers=ADMIN).json()
    assert [c["id"] for c in page] == [first["session_id"]]
    for bad in ("limit=0", "limit=abc", "offset=-1", "limit=100000"):
        assert client.get(f"/api/admin/conversations?{bad}", headers=ADMIN).status_code == 422

    transcript = client.get(f"/api/admin/conversations/{first['session_id']}", headers=ADMIN).json()
    assert transcript["id"] == first["session_id"]
    parts = [part for message in transcript["messages"] for part in message["parts"]]
    calls = [p["tool_name"] for p in parts if p["part_kind"] == "tool-call"]
    assert "find_order" in calls
    found = [p["content"] for p in parts if p["part_kind"] == "tool-return" and p["tool_name"] == "find_order"]
    assert any(f["status"] == "verified" and f["fulfillments"]["packages"] for f in found)  # its packages with it
    assert parts[0] == parts[0] | {"part_kind": "user-prompt", "content": SPLIT}
    assert parts[-1]["part_kind"] == "text" and parts[-1]["content"] == first["reply"]


@pytest.mark.parametrize("path", ["/api/admin/conversations", "/api/admin/escalations"])
@pytest.mark.parametrize(
    "query",
    [
        "offset=9223372036854775808",  # one past SQLite's largest integer: was an OverflowError, a 500
        "offset=-9223372036854775809",
        "offset=1000000001",
        "offset=" + "9" * 5000,
        "limit=9223372036854775808",
        "limit=501",
        "limit=-1",
        "limit=1.5",
        "offset=1e3",
        "offset=",
    ],
)
def test_paging_values_out_of_range_are_a_422(client: TestClient, path: str, query: str) -> None:
    response = client.get(f"{path}?{query}", headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json()["detail"], str) and response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/admin/conversations", "/api/admin/escalations"])
def test_paging_at_its_bounds(client: TestClient, path: str) -> None:
    chat(client, "hello")
    assert client.get(f"{path}?limit=500&offset=0", headers=ADMIN).status_code == 200
    assert client.get(f"{path}?limit=1&offset=1000000000", headers=ADMIN).json() == []


def test_unknown_transcript_is_404(client: TestClient) -> None:
    for conversation_id in ("AAAAAAAAAAAAAAAAAAAAAA", "x" * 300, "%2E%2E"):
        response = client.get(f"/api/admin/conversations/{conversation_id}", headers=ADMIN)
        assert response.status_code == 404
        assert response.json()["detail"]


def test_stats(client: TestClient) -> None:
    assert client.get("/api/admin/stats", headers=ADMIN).json() == {
        "conversations": 0,
        "verified_lookups": 0,
        "escalations": 0,
        "conversations_escalated": 0,
        "answered_without_human": 1.0,
        "privacy_requests": {"pending": 0, "oldest": None, "reason": None},
    }
    chat(client, SPLIT)
    first = chat(client, "It says delivered but I never got it. order #1031 maya.patel@example.com")
    chat(client, "yes please", first["session_id"])
    chat(client, "Where is my Amazon order?")
    stats = client.get("/api/admin/stats", headers=ADMIN).json()
    assert stats == {
        "conversations": 3,
        "verified_lookups": 2,
        "escalations": 1,
        "conversations_escalated": 1,
        "answered_without_human": pytest.approx(2 / 3),
        "privacy_requests": {"pending": 0, "oldest": None, "reason": None},
    }


# --- restarts, lifespan, errors --------------------------------------------------------------------------------------


def test_a_restart_keeps_conversations_persona_and_escalations(settings: Settings) -> None:
    with TestClient(server.create_app(settings)) as client:
        verified = chat(client, SPLIT)
        first = chat(client, "It says delivered but I never got it. order #1031 maya.patel@example.com")
        reference = chat(client, "yes please", first["session_id"])["escalation"]["reference"]
        client.put("/api/admin/persona", headers=ADMIN, json={"assistant_name": "Pip", "context": "We ship daily."})

    with TestClient(server.create_app(settings)) as client:
        again = chat(client, "when will it arrive?", verified["session_id"])
        assert again["session_id"] == verified["session_id"]
        assert "February 28" in again["reply"] and "email" not in again["reply"]
        assert client.get("/api/admin/persona", headers=ADMIN).json()["assistant_name"] == "Pip"
        assert [e["id"] for e in client.get("/api/admin/escalations", headers=ADMIN).json()] == [reference]
        listed = {c["id"] for c in client.get("/api/admin/conversations", headers=ADMIN).json()}
        assert listed == {verified["session_id"], first["session_id"]}


def test_lifespan_runs_the_outbox_and_stops_it(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    async def fake_outbox(self, interval_s: float = 30, max_attempts: int = 8) -> None:
        seen.append("started")
        try:
            await asyncio.Event().wait()
        finally:
            seen.append("cancelled")

    monkeypatch.setattr("outbox.service.EscalationService.run_outbox", fake_outbox)
    with TestClient(server.create_app(settings)) as client:
        client.get("/healthz")
        assert seen == ["started"]
    assert seen == ["started", "cancelled"]


async def test_a_given_lumen_is_used_and_left_open(settings: Settings) -> None:
    lumen = await Lumen.create(settings)
    spy = SpySource(lumen.source)
    lumen.source = spy
    app = server.create_app(lumen=lumen)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as http:
                response = await http.post("/api/chat", json={"message": SPLIT})
                assert response.status_code == 200
                assert app.state.lumen is lumen
        # Still usable after the app stopped: whoever created it closes it.
        assert (await lumen.db.stats())["conversations"] == 1
    finally:
        await lumen.close()


def test_unexpected_errors_are_a_json_500_without_internals(settings: Settings) -> None:
    with TestClient(server.create_app(settings), raise_server_exceptions=False) as client:
        lumen = client.app.state.lumen

        async def broken(*args, **kwargs):
            raise RuntimeError("database password is hunter2")

        lumen.persona = broken
        response = client.get("/api/admin/persona", headers=ADMIN)
        assert response.status_code == 500
        assert response.json() == {"detail": "Something went wrong on our side. Please try again."}
        assert "hunter2" not in response.text


@pytest.mark.parametrize(
    "bad",
    [
        {"mail_from": "a@b.com\r\nBcc: x@evil.example"},
        {"mail_from": "not an address"},
        {"smtp_url": "smtp://\u0000"},
        {"smtp_url": "smtp://mail.example:0"},
    ],
)
def test_settings_that_would_break_mail_are_refused(client: TestClient, bad: dict) -> None:
    response = client.put("/api/admin/settings", json=bad, headers=ADMIN)
    assert response.status_code == 422 and "detail" in response.json()
