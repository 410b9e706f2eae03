"""Shared by the server tests: settings for a throwaway server, signing helpers, a spy order source."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic_ai.models import Model

import server
from agent.service import ChatTurn, Lumen
from config import Settings
from shopify.store_file import DEMO_STORE

ADMIN_TOKEN = "test-admin-token-Zq8"
API_SECRET = "shpss_test_secret"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The demo store, the playbook model, a SQLite file in tmp_path; nothing read from the environment or .env."""
    values: dict[str, Any] = {
        "lumen_store": DEMO_STORE,
        "lumen_model": "playbook",
        "lumen_database_url": f"sqlite:///{tmp_path / 'lumen.db'}",
        "lumen_admin_token": ADMIN_TOKEN,
        "lumen_shopify_api_secret": API_SECRET,
        "shopify_shop": None,
        "shopify_access_token": None,
        "shopify_api_url": None,
        "lumen_now": None,
        "lumen_smtp_url": None,
        "lumen_escalation_email": None,
        "lumen_openai_base_url": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


def signed_query(params: dict[str, str] | list[tuple[str, str]], secret: str = API_SECRET) -> str:
    """A query string signed the way Shopify's app proxy signs it (computed here independently of shopify.signatures)."""
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    grouped: dict[str, list[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{k}={','.join(v)}" for k, v in grouped.items()))
    signature = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode([*pairs, ("signature", signature)])


def webhook_headers(body: bytes, topic: str, event_id: str | None, secret: str = API_SECRET) -> dict[str, str]:
    import base64

    digest = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": digest,
        "X-Shopify-Shop-Domain": "harbor-and-pine.myshopify.com",
        "X-Shopify-API-Version": "2026-10",
        "X-Shopify-Webhook-Id": f"wh-{event_id}" if event_id else "",
    }
    if event_id:
        headers["X-Shopify-Event-Id"] = event_id
    return headers


@contextmanager
def served(settings: Settings, now: float, **client: Any) -> Iterator[TestClient]:
    """The server over `settings` in a TestClient (its lifespan run), its app-proxy clock at `now` (epoch seconds)."""
    app = server.create_app(settings)
    with TestClient(app, **client) as test_client:
        app.state.clock = lambda: now
        yield test_client


def app_over(lumen: Lumen, now: float) -> FastAPI:
    """The server over `lumen`, its app-proxy clock at `now`, its lifespan never run: no outbox sending the hand-offs
    a test creates."""
    app = server.create_app(lumen=lumen)
    app.state.lumen = lumen
    app.state.clock = lambda: now
    return app


class SpySource:
    """Wraps an order source and records `invalidate` calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.invalidated: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def invalidate(self, order_ref: str | None = None) -> None:
        self.invalidated.append(order_ref)
        self.inner.invalidate(order_ref)


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parses a text/event-stream body into (event, data) pairs."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:  # a block without data (the stream's `: ping` keep-alive comment) is no event
            events.append((name, json.loads("\n".join(data))))
    return events


async def stream_with_llm(lumen: Lumen, llm: Model, message: str) -> list[tuple[str, dict[str, Any]]]:
    """One shopper message through POST /api/chat/stream with `llm` as the merchant's LLM: the events the widget
    receives."""
    lumen.models.name = "openai:streamed-llm"
    lumen.models._llm = llm
    app = server.create_app(lumen=lumen)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as http:
            response = await http.post("/api/chat/stream", json={"message": message})
    assert response.status_code == 200
    return sse_events(response.text)


async def turns(store: Path, *messages: str, customer_id: str | None = None) -> list[ChatTurn]:
    """One conversation on a store file with the offline playbook, in-memory SQLite: each message's turn (as a
    logged-in customer, if given)."""
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=store)
    try:
        said: list[ChatTurn] = []
        session = None
        for message in messages:
            turn = await lumen.chat(message, session, customer_id=customer_id)
            said.append(turn)
            session = turn.session_id
        return said
    finally:
        await lumen.close()


async def replies(store: Path, *messages: str, customer_id: str | None = None) -> list[str]:
    """`turns`, the reply to each message."""
    return [turn.reply for turn in await turns(store, *messages, customer_id=customer_id)]


def write_store(path: Path, store: dict[str, Any]) -> Path:
    """Write an invented store file (a test's `STORE`, in the shape of `data/demo-store.json`) and return its path."""
    path.write_text(json.dumps(store), encoding="utf-8")
    return path
