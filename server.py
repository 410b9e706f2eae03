"""Lumen's web server, HTTP only: the chat API and its event stream, the widget and pages, the Shopify app proxy
and webhooks, and the merchant's admin API. Routes validate the request, call the service (`agent.service.Lumen`)
and shape the response; Shopify's signatures are checked by `shopify.signatures`, webhook bodies read by
`shopify.webhooks`.

`create_app()` builds the app; nothing happens at import. `lumen serve` runs it with uvicorn.

Who may call what:
- `/api/chat*`: anyone (it is the storefront widget's API). A shopper proves an order is theirs inside the
  conversation; these routes never accept a customer id.
- `/proxy/api/chat*`: requests forwarded by a Shopify app proxy, signed by Shopify. Only after the signature and
  timestamp check does a `logged_in_customer_id` reach the agent.
- `/webhooks/shopify`: Shopify's webhooks, HMAC-checked over the raw body before anything is parsed.
- `/api/admin/*`: the merchant, with `Authorization: Bearer $LUMEN_ADMIN_TOKEN`. No token configured: closed.
"""

from __future__ import annotations

import asyncio
import html
import ipaddress
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

import serving
from agent.connect import Connection, InstallNotConfigured
from agent.masking import mask_smtp_url
from agent.persona import Persona, PersonaUpdate
from agent.service import (
    SESSION_ID,
    EscalationInfo,
    Health,
    Lumen,
    MerchantSettings,
    MerchantSettingsUpdate,
    OrderSyncStatus,
    Stats,
    TooManyConversations,
    UnknownSession,
)
from agent.webhooks import ANOTHER_SHOP, RedactionDeferred, WebhookOutcome
from config import Settings
from outbox import Escalation, EscalationBusy
from shopify.auth import InvalidOAuthRequest, ShopifyAuthError
from shopify.signatures import InvalidCustomerId, ShopifySignatureError, verify_proxy_query, verify_webhook
from shopify.webhooks import WebhookBodyError, parse_webhook
from storage import ConversationSummary

log = logging.getLogger("lumen.server")

STATIC = Path(__file__).resolve().parent / "static"
MAX_MESSAGE_CHARS = 2000
MAX_BODY_BYTES = 1024 * 1024  # webhooks carry whole orders; everything else is far smaller
MAX_CHAT_BODY_BYTES = 32 * 1024
OUTBOX_INTERVAL_S = 30.0
RETENTION_INTERVAL_S = 3600.0  # old conversations are deleted within an hour of passing the retention period
MAX_PAGE_SIZE = 500
MAX_PAGE_OFFSET = 10**9
SERVER_ERROR = "Something went wrong on our side. Please try again."
TOO_MANY_CONVERSATIONS = "Too many new conversations from here. Please continue an open one or try again later."

CHAT_PATHS = ("/api/chat", "/proxy/api/chat")  # where MAX_CHAT_BODY_BYTES applies (the chat and proxy routers)

# Widget and demo-page routes the storefront may call from another origin (no cookies involved).
PUBLIC_CORS_PATHS = frozenset({"/api/chat", "/api/chat/stream"})


# --- request and response models --------------------------------------------------------------------------------------

ShopperMessage = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS)]


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: ShopperMessage = Field(description="What the shopper typed (1 to 2000 characters).")
    session_id: str | None = Field(None, description="The id from a previous answer; null starts a conversation.")

    @field_validator("session_id")
    @classmethod
    def _well_formed(cls, value: str | None) -> str | None:
        if value is not None and not SESSION_ID.fullmatch(value):
            raise ValueError("not a session id issued by this server; send null to start a new conversation")
        return value


class ChatOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str
    reply: str
    escalation: EscalationInfo | None = None


# --- small helpers ----------------------------------------------------------------------------------------------------


def masked_settings(settings: MerchantSettings) -> MerchantSettings:
    return settings.model_copy(update={"smtp_url": mask_smtp_url(settings.smtp_url)})


def body_too_large(limit: int | None) -> str:
    return f"The request body is too large (the limit is {limit} bytes)." if limit else "The request body is too large."


def _error_text(errors: list[Any]) -> str:
    """One readable sentence from pydantic's errors, e.g. 'message: String should have at most 2000 characters'."""
    parts = []
    for error in errors:
        if error.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        loc = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "header")]
        msg = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
        parts.append(f"{'.'.join(loc)}: {msg}" if loc else msg)
    return "; ".join(parts) or "The request is not valid."


def _plain_errors(errors: list[Any]) -> list[dict[str, Any]]:
    # No `input` or `ctx`: the caller knows what they sent, and ctx can hold objects that are not JSON.
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")} for e in errors]


class PublicCORS:
    """CORS for the chat API only, so the widget works when its script is loaded on another origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app, allow_origins=["*"], allow_methods=["POST"], allow_headers=["content-type"], max_age=600
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PUBLIC_CORS_PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def body_limit(path: str) -> int:
    """The request body limit at `path`, as the routers set it (`max_body_size`): chat turns are small, webhooks carry
    whole orders."""
    return MAX_CHAT_BODY_BYTES if path.startswith(CHAT_PATHS) else MAX_BODY_BYTES


class DeclaredLength:
    """Checks the Content-Length header before anything reads the body; Starlette's body limit counts the bytes.

    Starlette reads the header with int(), which also takes '+16', '1_6' and '١٦' and gives up on more than 4300
    digits, and it answers a declared length over a limit in plain text. Here both are a JSON 4xx: 400 for a header
    that is not ASCII digits, 413 for a length over the limit at that path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"] if scope["type"] == "http" else []
        length = next((value for key, value in headers if key == b"content-length"), None)
        if length is None:
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope["path"])
        if not (length.isascii() and length.isdigit()):
            await JSONResponse({"detail": "Invalid Content-Length."}, status_code=400)(scope, receive, send)
        elif len(length) > 18 or int(length) > limit:  # 18 digits: int() takes them, and no limit is longer
            await JSONResponse({"detail": body_too_large(limit)}, status_code=413)(scope, receive, send)
        else:
            await self.app(scope, receive, send)


# --- dependencies -----------------------------------------------------------------------------------------------------

UNSTORABLE_TEXT = "The request contains a character that cannot be stored (NUL or an unpaired surrogate)."
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


async def storable_text(request: Request) -> None:
    """Refuses a JSON body with a NUL or a lone surrogate in any string: no database stores the first (PostgreSQL
    refuses it: a 500) and no encoder writes the second. FastAPI's own parser (json.loads) lets both through."""
    body = await request.body()  # cached: the route reads the same bytes
    if not body:
        return
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the route's validation answers that
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and _UNSTORABLE.search(item):
            raise HTTPException(422, UNSTORABLE_TEXT)
        if isinstance(item, dict):
            stack.extend([*item.keys(), *item.values()])
        elif isinstance(item, list):
            stack.extend(item)


def get_lumen(request: Request) -> Lumen:
    return request.app.state.lumen


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


LumenDep = Annotated[Lumen, Depends(get_lumen)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
_bearer = HTTPBearer(auto_error=False, description="LUMEN_ADMIN_TOKEN")


BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_admin(settings: SettingsDep, credentials: BearerDep) -> None:
    """The merchant API: `Authorization: Bearer $LUMEN_ADMIN_TOKEN`. Without a configured token it stays closed."""
    if not settings.lumen_admin_token or not settings.lumen_admin_token.get_secret_value():
        raise HTTPException(403, "The admin API is disabled: set LUMEN_ADMIN_TOKEN to enable it.")
    if not is_admin(settings, credentials):
        raise HTTPException(401, "A valid admin token is required.", headers={"WWW-Authenticate": "Bearer"})


def is_admin(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> bool:
    token = settings.lumen_admin_token.get_secret_value() if settings.lumen_admin_token else ""
    given = credentials.credentials if credentials else ""
    return bool(token) and secrets.compare_digest(given.encode(), token.encode())


def client_ip(request: Request) -> str | None:
    """The address the request came from, as the ASGI server saw it; None when unknown.

    Forwarded headers (X-Forwarded-For, Forwarded) are never read here: any client can send them, and the address is
    what failed lookups are rationed by. Behind a reverse proxy, run uvicorn with `--proxy-headers
    --forwarded-allow-ips=<the proxy's addresses>`, and uvicorn rewrites `request.client` for requests from those
    addresses only (`uvicorn.run`, as in `lumen serve`, already trusts 127.0.0.1 and ::1, or the addresses in
    $FORWARDED_ALLOW_IPS). Never `--forwarded-allow-ips='*'` on a server the internet reaches directly: every client
    could then pick the address its attempts count against. The app proxy is another matter: see `proxied_shopper`.
    """
    return (request.client.host or None) if request.client else None


ClientIP = Annotated[str | None, Depends(client_ip)]


def proxied_shopper(request: Request, hops: int = 1) -> str | None:
    """The shopper's address on a signed app-proxy request: the one Shopify wrote in X-Forwarded-For, when the header
    has the form Shopify documents with `hops` proxies writing it; None otherwise.

    Shopify documents one address, the client's (`hops` 1). Each reverse proxy of the merchant's in front of Lumen
    that appends its peer's address (nginx's `$proxy_add_x_forwarded_for`) adds one after it: with `hops` set to the
    proxies that write the header, Shopify included (`LUMEN_PROXY_HOPS`), the shopper's address is `hops` places from
    the right, in a list of exactly that many (several header lines read as one list, in order).

    Read only after the signature is checked: a signed query is minted by Shopify for this one request (the shopper
    never sees it, and it is refused after `lumen_proxy_max_age_s`), so its header is the one Shopify sent. A header of
    any other form (more addresses than proxies, fewer, not an address) may carry a value the shopper chose; then the
    request counts against its conversation and the shop's anonymous allowance, as if no address had come. Why not
    take the address `hops` from the right of a longer list, as many servers do: if Shopify appends to a header the
    shopper sent, that would be safe as well, but a merchant's proxy left out of the count would then name Shopify's
    own address for every guest (sharing one per-address allowance), silently; refused, it is logged
    (`_note_no_client`), and the count can be put right.
    """
    values = request.headers.getlist("x-forwarded-for")
    entries = [entry.strip() for value in values for entry in value.split(",")]
    if len(entries) != hops:
        return None
    try:
        # Every entry must be an address, not only the shopper's: "1.2.3.4, junk" is no header a proxy wrote.
        address, *_ = [ipaddress.ip_address(entry) for entry in entries]
    except ValueError:
        return None
    if address.is_unspecified or address.is_multicast:
        return None
    return str(address)


def _note_no_client(request: Request, hops: int) -> None:
    """Warn once per process that signed proxy requests name no usable shopper address: every anonymous shopper's
    guesses then share the shop's allowance, which is what a merchant's reverse proxy left out of LUMEN_PROXY_HOPS
    does to every request. Once: a shopper can send such requests at will, and the log must not fill with them."""
    if getattr(request.app.state, "warned_no_proxy_client", False):
        return
    request.app.state.warned_no_proxy_client = True
    entries = sum(len(value.split(",")) for value in request.headers.getlist("x-forwarded-for"))
    log.warning(
        "app proxy: a signed request named no usable shopper address (X-Forwarded-For held %d entries where %d "
        "proxies write it: LUMEN_PROXY_HOPS); anonymous shoppers without one share the shop's allowance. If a reverse "
        "proxy of yours appends to X-Forwarded-For, set LUMEN_PROXY_HOPS to it plus one for Shopify. Said once.",
        entries,
        hops,
    )


@dataclass(frozen=True)
class Asker:
    """Who sent a chat turn, as far as this server can tell: what Lumen's per-client limits count against."""

    client_ip: str | None = None
    # A signed app-proxy request's shop: the peer is Shopify, whose addresses every shopper shares, so such a turn is
    # counted against its logged-in customer, else the address Shopify forwarded (`proxied_shopper`), else the shop.
    proxy_shop: str | None = None
    customer_id: str | None = None


def proxy_asker(request: Request, settings: SettingsDep, lumen: LumenDep) -> Asker:
    """Checks Shopify's app-proxy signature and timestamp; returns the shop and the logged-in customer's id, if any."""
    keys = settings.app_secrets  # the secret, and the one before it during a rotation
    if not keys:
        raise HTTPException(401, "The app proxy is not configured: set LUMEN_SHOPIFY_API_SECRET.")
    try:
        signed = verify_proxy_query(
            request.url.query, keys, now=request.app.state.clock(), max_age_s=settings.lumen_proxy_max_age_s
        )
    except ShopifySignatureError as exc:
        raise HTTPException(401, str(exc)) from None
    if not lumen.serves_shop(signed.shop):
        raise HTTPException(403, ANOTHER_SHOP)
    try:
        customer_id = signed.customer_gid()
    except InvalidCustomerId as exc:
        raise HTTPException(400, str(exc)) from None
    # A logged-in customer counts as themselves; an anonymous shopper against their own address, so that one shopper
    # cannot use up every guest's allowance.
    address = None
    if not customer_id:
        address = proxied_shopper(request, settings.lumen_proxy_hops)
        if address is None:
            _note_no_client(request, settings.lumen_proxy_hops)
    return Asker(client_ip=address, proxy_shop=signed.shop, customer_id=customer_id)


ProxyAsker = Annotated[Asker, Depends(proxy_asker)]


# --- chat -------------------------------------------------------------------------------------------------------------

_storable = [Depends(storable_text)]
chat = APIRouter(prefix="/api", tags=["chat"], max_body_size=MAX_CHAT_BODY_BYTES, dependencies=_storable)
proxy = APIRouter(prefix="/proxy", tags=["app proxy"], max_body_size=MAX_CHAT_BODY_BYTES, dependencies=_storable)


@dataclass
class StartedStream:
    """A streamed turn whose session has been checked: its first event, and the rest to come."""

    first: dict[str, Any]
    rest: AsyncGenerator[dict[str, Any], None]


async def _chat_turn(lumen: Lumen, body: ChatIn, who: Asker) -> ChatOut:
    try:
        turn = await lumen.chat(
            body.message,
            body.session_id,
            customer_id=who.customer_id,
            client_ip=who.client_ip,
            proxy_shop=who.proxy_shop,
        )
    except UnknownSession as exc:
        raise _session_error(body.session_id) from exc
    except TooManyConversations as exc:
        raise HTTPException(429, TOO_MANY_CONVERSATIONS) from exc
    return ChatOut(session_id=turn.session_id, reply=turn.reply, escalation=turn.escalation)


@asynccontextmanager
async def _start_stream(lumen: Lumen, body: ChatIn, who: Asker) -> AsyncIterator[StartedStream]:
    """The turn is started in a dependency, before the response: an unknown session is a 4xx, not a broken stream."""
    events = lumen.chat_stream(
        body.message,
        body.session_id,
        customer_id=who.customer_id,
        client_ip=who.client_ip,
        proxy_shop=who.proxy_shop,
    )
    try:
        try:
            first = await anext(events)
        except UnknownSession as exc:
            raise _session_error(body.session_id) from exc
        except TooManyConversations as exc:
            raise HTTPException(429, TOO_MANY_CONVERSATIONS) from exc
        yield StartedStream(first, events)
    finally:
        with anyio.CancelScope(shield=True):  # a client that hangs up must not leave the turn half-closed
            await events.aclose()


async def public_stream(body: ChatIn, lumen: LumenDep, ip: ClientIP) -> AsyncIterator[StartedStream]:
    async with _start_stream(lumen, body, Asker(client_ip=ip)) as started:
        yield started


async def proxy_stream(body: ChatIn, lumen: LumenDep, who: ProxyAsker) -> AsyncIterator[StartedStream]:
    async with _start_stream(lumen, body, who) as started:
        yield started


async def _server_sent(stream: StartedStream) -> AsyncIterator[ServerSentEvent]:
    """`session`, `status`es and `delta`s, then `done` (what POST /api/chat returns); `error` if the turn breaks."""
    try:
        yield _event(stream.first)
        async for event in stream.rest:
            yield _event(event)
    except Exception:
        log.exception("chat stream failed")
        yield ServerSentEvent(event="error", data={"detail": SERVER_ERROR})


def _event(event: dict[str, Any]) -> ServerSentEvent:
    kind = event.get("type", "message")
    if kind == "done":
        done = ChatOut.model_validate({key: event.get(key) for key in ChatOut.model_fields})
        return ServerSentEvent(event="done", data=done)
    return ServerSentEvent(event=kind, data={k: v for k, v in event.items() if k != "type"})


@chat.post("/chat", response_model=ChatOut)
async def post_chat(body: ChatIn, lumen: LumenDep, ip: ClientIP) -> ChatOut:
    """One shopper message, one answer. Omit `session_id` (or send null) to start a conversation."""
    return await _chat_turn(lumen, body, Asker(client_ip=ip))


@chat.post("/chat/stream", response_class=EventSourceResponse)
async def post_chat_stream(
    stream: Annotated[StartedStream, Depends(public_stream)],
) -> AsyncIterator[ServerSentEvent]:
    """Server-sent events: `session` ({session_id}), `status` ({text}) while a lookup runs, `delta` ({text}) as the
    answer is written, then `done` (what POST /api/chat returns)."""
    async for event in _server_sent(stream):
        yield event


@proxy.post("/api/chat", response_model=ChatOut)
async def proxy_chat(body: ChatIn, lumen: LumenDep, who: ProxyAsker) -> ChatOut:
    """POST /api/chat through the Shopify app proxy: a signed, logged-in customer's orders need no verification."""
    return await _chat_turn(lumen, body, who)


@proxy.post("/api/chat/stream", response_class=EventSourceResponse)
async def proxy_chat_stream(
    stream: Annotated[StartedStream, Depends(proxy_stream)],
) -> AsyncIterator[ServerSentEvent]:
    async for event in _server_sent(stream):
        yield event


# --- webhooks ---------------------------------------------------------------------------------------------------------

webhooks = APIRouter(tags=["shopify"])


@webhooks.post("/webhooks/shopify", response_model=WebhookOutcome, response_model_exclude_none=True)
async def shopify_webhook(request: Request, lumen: LumenDep, settings: SettingsDep) -> WebhookOutcome:
    """Order and fulfillment changes drop what Lumen cached about that order; Shopify's privacy webhooks delete what
    Lumen kept about a customer (customers/redact) or the shop (shop/redact). Verified before anything is parsed."""
    body = await request.body()
    try:
        # The secret, and the one before it during a rotation: Shopify signs with either while it switches over.
        verify_webhook(body, request.headers.get("x-shopify-hmac-sha256", ""), settings.app_secrets)
        delivery = parse_webhook(request.headers, body)
    except ShopifySignatureError as exc:
        raise HTTPException(401, str(exc)) from None
    except WebhookBodyError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        return await lumen.handle_webhook(delivery)
    except RedactionDeferred as exc:
        raise HTTPException(503, str(exc)) from None


# --- the Shopify install (authorization code grant) -------------------------------------------------------------

auth = APIRouter(prefix="/auth", tags=["shopify"])
_T = TypeVar("_T")


@auth.get("/install", response_class=RedirectResponse, status_code=302)
async def auth_install(request: Request, lumen: LumenDep) -> RedirectResponse:
    """Where Shopify opens the app (`shop`, `hmac`, `timestamp`, `host`): on to Shopify's consent screen."""
    url = await _oauth(lumen.begin_install(request.query_params.multi_items()))
    return RedirectResponse(url, status_code=302)


@auth.get("/callback", response_class=RedirectResponse, status_code=302)
async def auth_callback(request: Request, lumen: LumenDep) -> RedirectResponse:
    """Shopify's way back: checked (HMAC, single-use state, shop), the code exchanged, then /admin."""
    await _oauth(lumen.complete_install(request.query_params.multi_items()))
    return RedirectResponse("/admin", status_code=302)


async def _oauth(call: Awaitable[_T]) -> _T:
    try:
        return await call
    except InstallNotConfigured as exc:
        raise HTTPException(503, str(exc)) from None
    except InvalidOAuthRequest as exc:
        raise HTTPException(400, str(exc)) from None
    except ShopifyAuthError as exc:  # Shopify refused the code exchange: the merchant starts again
        log.warning("Shopify install failed: %s", exc)
        raise HTTPException(502, str(exc)) from None


# --- the merchant API -------------------------------------------------------------------------------------------------

admin = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_admin), *_storable])

# Bounded so a database never sees a number it cannot bind (SQLite's integers stop at 2**63 - 1).
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"1 to {MAX_PAGE_SIZE}.")]
PageOffset = Annotated[int, Query(ge=0, le=MAX_PAGE_OFFSET, description=f"0 to {MAX_PAGE_OFFSET}.")]


@admin.get("/persona", response_model=Persona)
async def get_persona(lumen: LumenDep) -> Persona:
    return await lumen.persona()


@admin.put("/persona", response_model=Persona)
async def put_persona(update: PersonaUpdate, lumen: LumenDep) -> Persona:
    """A partial update: omitted fields keep their value."""
    try:
        return await lumen.update_persona(update)
    except ValueError as exc:  # the merged persona is validated again (e.g. a name of spaces)
        raise _unprocessable(exc) from None


@admin.get("/settings", response_model=MerchantSettings)
async def get_merchant_settings(lumen: LumenDep) -> MerchantSettings:
    """The SMTP password is masked."""
    return masked_settings(await lumen.merchant_settings())


@admin.put("/settings", response_model=MerchantSettings)
async def put_merchant_settings(update: MerchantSettingsUpdate, lumen: LumenDep) -> MerchantSettings:
    """A partial update. Sending the masked SMTP URL back keeps the stored password."""
    try:
        return masked_settings(await lumen.update_merchant_settings(update))
    except ValueError as exc:
        raise _unprocessable(exc) from None


@admin.get("/escalations", response_model=list[Escalation])
async def list_escalations(lumen: LumenDep, limit: PageLimit = 100, offset: PageOffset = 0) -> list[Escalation]:
    """Newest first."""
    return await lumen.list_escalations(limit=limit, offset=offset)


# Letters, digits and dashes (ESC-7K2P9Q): nothing else reaches the database.
EscalationId = Annotated[str, PathParam(max_length=100, pattern=r"^[A-Za-z0-9-]+$")]


@admin.post("/escalations/{escalation_id}/resend", response_model=Escalation)
async def resend_escalation(escalation_id: EscalationId, lumen: LumenDep) -> Escalation:
    """Email it now, whatever its state (again, if it was sent or cancelled). 409 while it is being sent."""
    return _found(await _busy_is_409(lumen.resend_escalation(escalation_id)))


@admin.post("/escalations/{escalation_id}/cancel", response_model=Escalation)
async def cancel_escalation(escalation_id: EscalationId, lumen: LumenDep) -> Escalation:
    """Never email it. 409 if it is already sent or being sent right now."""
    return _found(await _busy_is_409(lumen.cancel_escalation(escalation_id)))


async def _busy_is_409(call: Awaitable[Escalation | None]) -> Escalation | None:
    try:
        return await call
    except EscalationBusy as exc:
        raise HTTPException(409, str(exc)) from None


def _found(escalation: Escalation | None) -> Escalation:
    if escalation is None:
        raise HTTPException(404, "No escalation with that id.")
    return escalation


@admin.get("/conversations", response_model=list[ConversationSummary])
async def list_conversations(
    lumen: LumenDep, limit: PageLimit = 50, offset: PageOffset = 0
) -> list[ConversationSummary]:
    """Most recently active first."""
    return await lumen.list_conversations(limit=limit, offset=offset)


@admin.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, lumen: LumenDep) -> dict[str, Any]:
    """Every message of one conversation, tool calls and their results included."""
    # Only ids this server issues are looked up: anything else (a NUL, say) is no conversation, on every database.
    transcript = await lumen.transcript(conversation_id) if SESSION_ID.fullmatch(conversation_id) else None
    if transcript is None:
        raise HTTPException(404, "No conversation with that id.")
    return transcript


@admin.get("/connection", response_model=Connection)
async def get_connection(lumen: LumenDep) -> Connection:
    """The Shopify connection, asked afresh: shop, granted and missing scopes, token expiry, last call, errors."""
    return await lumen.check_connection()


@admin.get("/order-sync", response_model=OrderSyncStatus)
async def get_order_sync(lumen: LumenDep) -> OrderSyncStatus:
    """The order mirror: off, backfilling or live, the orders it holds, the last sync and what it is doing."""
    return await lumen.order_sync_status()


@admin.get("/stats", response_model=Stats)
async def get_stats(lumen: LumenDep) -> Stats:
    """Conversations, verified lookups, escalations and the share answered without a human."""
    return await lumen.stats()


# --- health and pages -------------------------------------------------------------------------------------------------

pages = APIRouter()
WIDGET_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


class PublicOrderSync(BaseModel):
    state: str = Field(description="off, backfilling or live.")
    last_sync: datetime | None = None


class PublicHealth(BaseModel):
    """What anyone may read of /healthz. The connection's and the mirror's counters and times move with single
    lookups (a name Shopify did not find, a number the mirror lacked and Shopify was asked for, an order read live
    and kept): a guesser reading them before and after one wrong guess learned whether the order exists."""

    status: str
    store: str | None
    model: str
    order_sync: PublicOrderSync


@pages.get("/healthz", response_model=None, tags=["ops"], responses={200: {"model": Health}})
async def healthz(lumen: LumenDep, settings: SettingsDep, credentials: BearerDep) -> Health | PublicHealth:
    """Up or degraded, the store and the model; with the admin token, the Shopify connection and the order mirror's
    counters too (as /api/admin/connection and /api/admin/order-sync give them)."""
    health = await lumen.health()
    if is_admin(settings, credentials):
        return health
    sync = PublicOrderSync(state=health.order_sync.state, last_sync=health.order_sync.last_sync)
    return PublicHealth(status=health.status, store=health.store, model=health.model, order_sync=sync)


@pages.get("/", response_class=HTMLResponse, include_in_schema=False)
async def storefront(lumen: LumenDep) -> HTMLResponse:
    """The demo storefront: the shop's name (escaped) in a static page that loads the widget."""
    shop_name = await lumen.shop_name() or "Your store"
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(page.replace("{{shop_name}}", html.escape(shop_name)), headers=_page_headers())


@pages.get("/admin", include_in_schema=False)
async def admin_page() -> FileResponse:
    return FileResponse(STATIC / "admin.html", media_type="text/html", headers=_page_headers())


@pages.get("/widget.js", include_in_schema=False)
@pages.get("/proxy/widget.js", include_in_schema=False)
async def widget_js() -> FileResponse:
    """Also at /proxy/widget.js: on a storefront, /apps/lumen/widget.js, and the widget finds its API beside it."""
    return FileResponse(STATIC / "widget.js", media_type="text/javascript", headers=WIDGET_HEADERS)


# --- the app ----------------------------------------------------------------------------------------------------------


SHUTDOWN_GRACE_S = 5.0  # how long a stopping server waits for one background task before going on without it


async def _stopped(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait for it, cancelling again while it runs: a task that swallowed one
    cancellation (a timeout expiring at the same moment does, on Python 3.11) must not keep the server from stopping.
    After the grace period it is left behind, logged."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHUTDOWN_GRACE_S
    while not task.done() and loop.time() < deadline:
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    if not task.done():
        log.warning("background task %s did not stop within %.0f s", task.get_name(), SHUTDOWN_GRACE_S)
    elif not task.cancelled() and task.exception() is not None:
        log.error("background task %s failed", task.get_name(), exc_info=task.exception())


def create_app(
    settings: Settings | None = None,
    *,
    store: Path | None = None,
    lumen: Lumen | None = None,
    freeze_heap: bool = False,
) -> FastAPI:
    """The whole server. With `lumen`, that service is used (and left open); otherwise one is created and closed.
    `freeze_heap`: a `lumen serve` worker's app, the only one in its process (`serving.freeze_startup_heap`)."""
    if settings is None:
        settings = lumen.settings if lumen is not None else Settings()
    config = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = lumen if lumen is not None else await Lumen.create(config, store=store)
        app.state.lumen = service
        if freeze_heap:
            serving.freeze_startup_heap()
        outbox = asyncio.create_task(service.run_outbox(interval_s=OUTBOX_INTERVAL_S), name="outbox")
        retention = asyncio.create_task(service.run_retention(interval_s=RETENTION_INTERVAL_S), name="retention")
        # The order mirror's backfill, refreshes and reconciliation: in the background, never before the first request.
        order_sync = asyncio.create_task(service.run_sync(), name="order-sync")
        try:
            yield
        finally:
            for task in (outbox, retention, order_sync):
                await _stopped(task)
            if lumen is None:
                await service.close()

    app = FastAPI(
        title="Lumen",
        summary="'Where is my order?' answers for Shopify stores",
        lifespan=lifespan,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = config
    app.state.clock = time.time  # seconds since the epoch; tests replace it to check app-proxy timestamps
    _install_error_handlers(app)
    app.add_middleware(DeclaredLength)
    app.add_middleware(PublicCORS)
    # Starlette's body limit per route: MAX_BODY_BYTES unless the router sets less (chat, proxy). Not app-wide: that
    # one would answer a declared length over it in plain text, even after DeclaredLength answered in JSON.
    for router in (chat, proxy, webhooks, auth, admin, pages):
        app.include_router(router, max_body_size=MAX_BODY_BYTES)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _session_error(session_id: str | None) -> HTTPException:
    if session_id is not None and SESSION_ID.fullmatch(session_id):
        return HTTPException(404, "Unknown session: start a new conversation (send session_id null).")
    return HTTPException(422, "session_id: not a session id issued by this server.")


def _unprocessable(exc: ValueError) -> HTTPException:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return HTTPException(422, _error_text(errors()))
    return HTTPException(422, str(exc))


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON with a `detail`; nothing a client sends shows them a stack trace."""

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
        return JSONResponse({"detail": _error_text(errors), "errors": _plain_errors(errors)}, status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        detail = exc.detail
        if exc.status_code == 413:  # Starlette's body limit says only "Content Too Large"
            detail = body_too_large(request.scope.get(MAX_BODY_SIZE_SCOPE_KEY))
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
        # A shopper closing the tab (or Shopify giving up on a webhook) mid-request is no server error: nobody is
        # left to read the answer, and logging it as unhandled drowned real errors in a Black Friday run.
        log.info("client disconnected during %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "The client disconnected before the request was read."}, status_code=400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": SERVER_ERROR}, status_code=500)


__all__ = ["ChatIn", "ChatOut", "create_app"]
