"""Lumen's web server: the chat API and widget, the merchant's admin API and page, the Shopify app proxy and webhooks.

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
import base64
import contextlib
import hashlib
import hmac
import html
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import anyio
import pydantic_core
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.persona import Persona, PersonaUpdate
from agent.service import (
    SESSION_ID,
    EscalationInfo,
    Lumen,
    MerchantSettings,
    MerchantSettingsUpdate,
    UnknownSession,
)
from config import Settings
from outbox import Escalation, parse_smtp_url
from shopify.source import OrderSourceError
from storage import ConversationSummary

log = logging.getLogger("lumen.server")

STATIC = Path(__file__).resolve().parent / "static"
MAX_MESSAGE_CHARS = 2000
MAX_BODY_BYTES = 1024 * 1024  # webhooks carry whole orders; everything else is far smaller
MAX_CHAT_BODY_BYTES = 32 * 1024
PASSWORD_MASK = "********"
OUTBOX_INTERVAL_S = 30.0
MAX_PAGE_SIZE = 500
MAX_PAGE_OFFSET = 10**9

# Topics after which a cached order may be stale. Their payloads name the order in different fields.
INVALIDATING_TOPICS = frozenset(
    {"orders/updated", "fulfillments/create", "fulfillments/update", "fulfillment_events/create"}
)

# Shopify's mandatory privacy webhooks. Every app must answer them, whatever topics it subscribed to.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
REDACT_BATCH = 100  # needles per Database.redact call: SQLite refuses expressions deeper than 1000 terms
DATA_REQUEST_NOTE = (
    "Lumen keeps the conversations shoppers have with it and the escalations it hands to the support team. "
    "The merchant can read both in Lumen's admin page (/admin) and send the customer what concerns them; "
    "Lumen sends nothing itself."
)

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


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the order source (Shopify) cannot be read.")
    store: str | None
    model: str


# --- small helpers ----------------------------------------------------------------------------------------------------


def mask_smtp_url(url: str | None) -> str | None:
    """`smtp://user:secret@host:587` -> `smtp://user:********@host:587`: a password never leaves the server."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        has_password = parts.password is not None
    except ValueError:
        has_password = "@" in url
        parts = None
    if not has_password:
        return url
    if parts is None:
        return PASSWORD_MASK
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD_MASK}@{hostport}"))


def masked_settings(settings: MerchantSettings) -> MerchantSettings:
    return settings.model_copy(update={"smtp_url": mask_smtp_url(settings.smtp_url)})


def proxy_signature(query: list[tuple[str, str]], secret: str) -> str:
    """Shopify's app proxy signature: hex HMAC-SHA256 of the sorted `key=value` params, concatenated, no separator.

    Repeated keys are joined with ','; `signature` itself is left out.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        if key != "signature":
            grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{key}={','.join(values)}" for key, values in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def webhook_hmac(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 HMAC-SHA256 of the raw request body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _shopify_id(value: Any) -> str | None:
    """A numeric Shopify id (an int, or a string of ASCII digits) as a string; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    return text if text.isascii() and text.isdigit() else None


def _redaction_needles(payload: Any) -> list[str]:
    """What a customers/redact payload lets Lumen find: the customer's email, their id and their orders' ids.

    Ids are quoted as they appear in stored JSON, so order 12 does not also match order 123.
    """
    if not isinstance(payload, dict):
        return []
    needles: list[str] = []
    customer = payload.get("customer")
    if isinstance(customer, dict):
        email = customer.get("email")
        if isinstance(email, str) and "@" in email:
            needles.append(email.strip())
        if (customer_id := _shopify_id(customer.get("id"))) is not None:
            needles.append(f'"gid://shopify/Customer/{customer_id}"')
    orders = payload.get("orders_to_redact")
    for order in orders if isinstance(orders, list) else []:
        if (order_id := _shopify_id(order)) is not None:
            needles.append(f'"gid://shopify/Order/{order_id}"')
    return list(dict.fromkeys(needles))


def _order_refs(topic: str, payload: Any) -> list[str]:
    """The order a webhook is about, as the references `OrderSource.invalidate` understands (id or name)."""
    if not isinstance(payload, dict):
        return []
    refs: list[str] = []
    if topic.startswith("orders/"):
        gid = payload.get("admin_graphql_api_id")
        if isinstance(gid, str) and gid:
            refs.append(gid)
        elif (order_id := _shopify_id(payload.get("id"))) is not None:
            refs.append(f"gid://shopify/Order/{order_id}")
        if isinstance(payload.get("name"), str) and payload["name"]:
            refs.append(payload["name"])
    else:  # fulfillments and their tracking events point at their order
        order_id = payload.get("order_id")
        if (numeric := _shopify_id(order_id)) is not None:
            refs.append(f"gid://shopify/Order/{numeric}")
        elif isinstance(order_id, str) and order_id.startswith("gid://"):
            refs.append(order_id)
    return refs


def _sse(event: str, data: dict[str, Any]) -> bytes:
    # json.dumps escapes newlines, so every event is a single `data:` line.
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


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


# --- dependencies -----------------------------------------------------------------------------------------------------


def get_lumen(request: Request) -> Lumen:
    return request.app.state.lumen


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


LumenDep = Annotated[Lumen, Depends(get_lumen)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
_bearer = HTTPBearer(auto_error=False, description="LUMEN_ADMIN_TOKEN")


def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """The merchant API: `Authorization: Bearer $LUMEN_ADMIN_TOKEN`. Without a configured token it stays closed."""
    token = settings.lumen_admin_token.get_secret_value() if settings.lumen_admin_token else ""
    if not token:
        raise HTTPException(403, "The admin API is disabled: set LUMEN_ADMIN_TOKEN to enable it.")
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "A valid admin token is required.", headers={"WWW-Authenticate": "Bearer"})


def client_ip(request: Request) -> str | None:
    """The address the request came from, as the ASGI server saw it; None when unknown.

    Forwarded headers (X-Forwarded-For, Forwarded) are never read here: any client can send them, and the address is
    what failed lookups are rationed by. Shopify's app proxy forwards the shopper's address in X-Forwarded-For; there,
    and behind any reverse proxy, run uvicorn with `--proxy-headers --forwarded-allow-ips=<the proxy's addresses>`, and
    uvicorn rewrites `request.client` for requests from those addresses only (`uvicorn.run`, as in `lumen serve`,
    already trusts 127.0.0.1 and ::1, or the addresses in $FORWARDED_ALLOW_IPS). Never `--forwarded-allow-ips='*'` on
    a server the internet reaches directly: every client could then pick the address its attempts count against.
    """
    return (request.client.host or None) if request.client else None


ClientIP = Annotated[str | None, Depends(client_ip)]


def proxy_customer(request: Request, settings: SettingsDep) -> str | None:
    """Checks Shopify's app-proxy signature and timestamp; returns the logged-in customer's id, if any."""
    secret = settings.lumen_shopify_api_secret.get_secret_value() if settings.lumen_shopify_api_secret else ""
    if not secret:
        raise HTTPException(401, "The app proxy is not configured: set LUMEN_SHOPIFY_API_SECRET.")
    query = parse_qsl(request.url.query, keep_blank_values=True)
    signatures = [value for key, value in query if key == "signature"]
    if len(signatures) != 1 or not signatures[0]:
        raise HTTPException(401, "Missing app proxy signature.")
    expected = proxy_signature(query, secret)
    if not hmac.compare_digest(expected.encode(), signatures[0].lower().encode()):
        raise HTTPException(401, "Invalid app proxy signature.")
    params = dict(query)
    try:
        timestamp = int(params.get("timestamp", ""))
    except ValueError:
        raise HTTPException(401, "Missing or invalid app proxy timestamp.") from None
    if abs(request.app.state.clock() - timestamp) > settings.lumen_proxy_max_age_s:
        raise HTTPException(401, "The app proxy request has expired.")
    shop = params.get("shop", "")
    if settings.shopify_shop and settings.shopify_shop.endswith(".myshopify.com") and shop != settings.shopify_shop:
        raise HTTPException(403, "This Lumen serves another shop.")
    customer = params.get("logged_in_customer_id", "").strip()
    if not customer:
        return None
    if _shopify_id(customer) is None:  # ASCII digits only: str.isdigit() also takes '²' and '١'
        raise HTTPException(400, "Invalid logged_in_customer_id.")
    return f"gid://shopify/Customer/{customer}"


ProxyCustomer = Annotated[str | None, Depends(proxy_customer)]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is too large (the limit is {limit} bytes).")


class BodyLimit:
    """Refuses oversized request bodies (by Content-Length, or while a chunked body streams in) with a JSON 413."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        limit = MAX_CHAT_BODY_BYTES if path.startswith(("/api/chat", "/proxy/api/chat")) else MAX_BODY_BYTES
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        # Digits only, and few enough that int() takes them (it refuses more than 4300).
        if length is not None and (not length.isdigit() or len(length) > 18 or int(length) > limit):
            error = BodyTooLarge(limit) if length.isdigit() else HTTPException(400, "Invalid Content-Length.")
            await JSONResponse({"detail": error.detail}, status_code=error.status_code)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # reaches the HTTPException handler: a JSON 413
            return message

        await self.app(scope, limited, send)


# --- chat -------------------------------------------------------------------------------------------------------------

chat = APIRouter(prefix="/api", tags=["chat"])
proxy = APIRouter(prefix="/proxy", tags=["app proxy"])
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


async def _chat_turn(lumen: Lumen, body: ChatIn, customer_id: str | None, ip: str | None) -> ChatOut:
    try:
        turn = await lumen.chat(body.message, body.session_id, customer_id=customer_id, client_ip=ip)
    except UnknownSession as exc:
        raise _session_error(body.session_id) from exc
    return ChatOut(session_id=turn.session_id, reply=turn.reply, escalation=turn.escalation)


async def _chat_stream(lumen: Lumen, body: ChatIn, customer_id: str | None, ip: str | None) -> StreamingResponse:
    events = lumen.chat_stream(body.message, body.session_id, customer_id=customer_id, client_ip=ip)
    try:
        # The first event comes after the session is checked: a bad one is a 4xx before any byte is streamed.
        first = await anext(events)
    except UnknownSession as exc:
        raise _session_error(body.session_id) from exc

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield _frame(first)
            async for event in events:
                yield _frame(event)
        except Exception:
            log.exception("chat stream failed")
            yield _sse("error", {"detail": "Something went wrong on our side. Please try again."})
        finally:
            with anyio.CancelScope(shield=True):  # a client that hangs up must not leave the turn half-closed
                await events.aclose()

    return StreamingResponse(
        frames(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


@chat.post("/chat", response_model=ChatOut)
async def post_chat(body: ChatIn, lumen: LumenDep, ip: ClientIP) -> ChatOut:
    """One shopper message, one answer. Omit `session_id` (or send null) to start a conversation."""
    return await _chat_turn(lumen, body, None, ip)


@chat.post("/chat/stream", response_class=StreamingResponse, responses=STREAM_RESPONSE)
async def post_chat_stream(body: ChatIn, lumen: LumenDep, ip: ClientIP) -> StreamingResponse:
    """Server-sent events: `session` ({session_id}), `delta` ({text}) as the answer is written, then `done` (what
    POST /api/chat returns)."""
    return await _chat_stream(lumen, body, None, ip)


# Through the app proxy the peer is Shopify, whose addresses every shopper shares: rationing by that address would let
# a few wrong guesses lock out the whole storefront, so proxied turns are rationed by order and postal code only.
@proxy.post("/api/chat", response_model=ChatOut)
async def proxy_chat(body: ChatIn, lumen: LumenDep, customer_id: ProxyCustomer) -> ChatOut:
    """POST /api/chat through the Shopify app proxy: a signed, logged-in customer's orders need no verification."""
    return await _chat_turn(lumen, body, customer_id, None)


@proxy.post("/api/chat/stream", response_class=StreamingResponse, responses=STREAM_RESPONSE)
async def proxy_chat_stream(body: ChatIn, lumen: LumenDep, customer_id: ProxyCustomer) -> StreamingResponse:
    return await _chat_stream(lumen, body, customer_id, None)


# --- webhooks ---------------------------------------------------------------------------------------------------------

webhooks = APIRouter(tags=["shopify"])


@webhooks.post("/webhooks/shopify")
async def shopify_webhook(request: Request, lumen: LumenDep, settings: SettingsDep) -> dict[str, Any]:
    """Order and fulfillment changes drop what Lumen cached about that order; Shopify's privacy webhooks delete what
    Lumen kept about a customer (customers/redact) or the shop (shop/redact). Verified before anything is parsed."""
    secret = settings.lumen_shopify_api_secret.get_secret_value() if settings.lumen_shopify_api_secret else ""
    body = await request.body()
    given = request.headers.get("x-shopify-hmac-sha256", "")
    if not secret or not given or not hmac.compare_digest(webhook_hmac(body, secret).encode(), given.encode()):
        raise HTTPException(401, "Invalid webhook signature.")
    try:
        # Not json.loads: it raises RecursionError on deeply nested arrays and lets lone surrogates through, which
        # then cannot be encoded into the answer or the database.
        payload = pydantic_core.from_json(body)
    except ValueError:
        raise HTTPException(400, "The webhook body is not valid JSON.") from None
    topic = request.headers.get("x-shopify-topic", "").strip().lower()
    event_id = request.headers.get("x-shopify-event-id") or request.headers.get("x-shopify-webhook-id")
    first_delivery = not event_id or await lumen.db.remember_webhook(event_id[:200], topic[:100])
    if topic in PRIVACY_TOPICS:
        # Done again on a redelivery: it is idempotent, and Shopify redelivers when an earlier attempt failed, which
        # may have been after the event was remembered.
        answer = await _privacy_request(lumen, settings, request, topic, payload)
        return answer if first_delivery else answer | {"duplicate": True}
    if not first_delivery:
        return {"ok": True, "duplicate": True}
    if topic not in INVALIDATING_TOPICS:
        return {"ok": True, "ignored": True, "topic": topic}
    refs = _order_refs(topic, payload)
    if refs:
        for ref in refs:
            lumen.source.invalidate(ref)
    else:
        lumen.source.invalidate(None)  # the order is unknown: forget everything rather than serve stale data
    return {"ok": True, "topic": topic, "invalidated": refs or "all"}


async def _privacy_request(
    lumen: Lumen, settings: Settings, request: Request, topic: str, payload: Any
) -> dict[str, Any]:
    shop = payload.get("shop_domain") if isinstance(payload, dict) else None
    shop = shop if isinstance(shop, str) else request.headers.get("x-shopify-shop-domain", "")
    ours = settings.shopify_shop
    if ours and ours.endswith(".myshopify.com") and shop.strip().lower() != ours.lower():
        # One app secret can serve several shops: another shop's redaction must not touch this one's data.
        return {"ok": True, "ignored": True, "topic": topic, "reason": "This Lumen serves another shop."}
    if topic == "customers/data_request":
        return {"ok": True, "topic": topic, "note": DATA_REQUEST_NOTE}
    if topic == "shop/redact":
        await lumen.db.redact_all()
        lumen.source.invalidate(None)  # cached orders hold customers' details too
        return {"ok": True, "topic": topic, "deleted": "all"}
    needles = _redaction_needles(payload)
    deleted = {"conversations": 0, "escalations": 0}
    for start in range(0, len(needles), REDACT_BATCH):
        counts = await lumen.db.redact(needles[start : start + REDACT_BATCH])
        deleted = {key: deleted[key] + counts.get(key, 0) for key in deleted}
    for needle in needles:
        if needle.startswith('"gid://shopify/Order/'):
            lumen.source.invalidate(needle.strip('"'))
    return {"ok": True, "topic": topic, "deleted": deleted}


# --- the merchant API -------------------------------------------------------------------------------------------------

admin = APIRouter(prefix="/api/admin", tags=["admin"], dependencies=[Depends(require_admin)])

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
    if "smtp_url" in update.model_fields_set:
        current = await lumen.merchant_settings()
        new_url = (update.smtp_url or "").strip() or None
        if new_url is not None and current.smtp_url and new_url == mask_smtp_url(current.smtp_url):
            new_url = current.smtp_url
        if new_url is not None:
            try:
                parse_smtp_url(new_url)
            except ValueError as exc:
                raise HTTPException(422, f"smtp_url: {exc}") from None
        update = update.model_copy(update={"smtp_url": new_url})
    try:
        return masked_settings(await lumen.update_merchant_settings(update))
    except ValueError as exc:
        raise _unprocessable(exc) from None


@admin.get("/escalations", response_model=list[Escalation])
async def list_escalations(lumen: LumenDep, limit: PageLimit = 100, offset: PageOffset = 0) -> list[Escalation]:
    """Newest first."""
    return await lumen.escalations.list_escalations(limit=limit, offset=offset)


@admin.get("/conversations", response_model=list[ConversationSummary])
async def list_conversations(
    lumen: LumenDep, limit: PageLimit = 50, offset: PageOffset = 0
) -> list[ConversationSummary]:
    """Most recently active first."""
    return await lumen.db.list_conversations(limit=limit, offset=offset)


@admin.get("/conversations/{conversation_id}")
async def get_conversation(conversation_id: str, lumen: LumenDep) -> dict[str, Any]:
    """Every message of one conversation, tool calls and their results included."""
    transcript = await lumen.transcript(conversation_id) if len(conversation_id) <= 100 else None
    if transcript is None:
        raise HTTPException(404, "No conversation with that id.")
    return transcript


@admin.get("/stats")
async def get_stats(lumen: LumenDep) -> dict[str, Any]:
    """Conversations, verified lookups, escalations and the share answered without a human."""
    return await lumen.db.stats()


# --- health and pages -------------------------------------------------------------------------------------------------

pages = APIRouter()
WIDGET_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


@pages.get("/healthz", response_model=Health, tags=["ops"])
async def healthz(lumen: LumenDep, settings: SettingsDep) -> Health:
    try:
        shop = await lumen.source.shop()
    except OrderSourceError:
        return Health(status="degraded", store=None, model=settings.lumen_model)
    return Health(status="ok", store=shop.name, model=settings.lumen_model)


@pages.get("/", response_class=HTMLResponse, include_in_schema=False)
async def storefront(lumen: LumenDep) -> HTMLResponse:
    """The demo storefront: the shop's name (escaped) in a static page that loads the widget."""
    try:
        shop_name = (await lumen.source.shop()).name
    except OrderSourceError:
        shop_name = "Your store"
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


def create_app(settings: Settings | None = None, *, store: Path | None = None, lumen: Lumen | None = None) -> FastAPI:
    """The whole server. With `lumen`, that service is used (and left open); otherwise one is created and closed."""
    if settings is None:
        settings = lumen.settings if lumen is not None else Settings()
    config = settings

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = lumen if lumen is not None else await Lumen.create(config, store=store)
        app.state.lumen = service
        outbox = asyncio.create_task(service.escalations.run_outbox(interval_s=OUTBOX_INTERVAL_S), name="outbox")
        try:
            yield
        finally:
            outbox.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await outbox
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
    app.add_middleware(BodyLimit)
    app.add_middleware(PublicCORS)
    for router in (chat, proxy, webhooks, admin, pages):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _frame(event: dict[str, Any]) -> bytes:
    kind = event.get("type", "message")
    if kind == "done":
        out = ChatOut.model_validate({k: event.get(k) for k in ("session_id", "reply", "escalation")})
        return _sse("done", out.model_dump(mode="json"))
    return _sse(kind, {k: v for k, v in event.items() if k != "type"})


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
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "Something went wrong on our side. Please try again."}, status_code=500)


__all__ = ["ChatIn", "ChatOut", "create_app", "mask_smtp_url", "proxy_signature", "webhook_hmac"]
