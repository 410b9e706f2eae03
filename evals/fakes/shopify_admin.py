"""A fake Shopify Admin GraphQL API that serves any store file over a real socket on loopback.

It is not a GraphQL engine: it understands the read queries Lumen sends (`shop { ... }` and `orders(query:) { ... }`)
well enough to answer them the way Shopify does — Shopify's search syntax for `name:`/`email:`/`customer_id:`, only the
selected fields, `first:` limits, and the calculated-cost leaky bucket with `THROTTLED` answers — so the real httpx
client, its retries and its rate limiting can be tested end to end.

    with FakeShopify("data/demo-store.json") as shop:
        client = ShopifyAdmin(shop.url, shop.token)

It also answers Shopify's OAuth token endpoint (client credentials, authorization code with expiring offline
tokens, refresh-token grant; tokens expire against the injectable `now` clock), grants a configurable set of access
scopes and denies the rest with Shopify's ACCESS_DENIED errors (the null rising to the nearest nullable parent), and
reports the shop's order-name prefix and suffix and its address's country (`shopAddress { countryCodeV2 }`, from the
store file's shop block).

For the order mirror it keeps each order's `updatedAt`, answers `order(id:)` and `updated_at:>` searches sorted by
UPDATED_AT, runs bulk operations (`bulkOperationRunQuery`, `bulkOperation(id:)`, `bulkOperationCancel`, the JSONL
behind a signed link: `evals/fakes/shopify_bulk.py`; any orders search, `id:1 OR id:2` included; up to
`bulk_query_limit` at a time for the app on the shop, whichever of its tokens started them, five as in API versions
2026-01 and later, LIMIT_REACHED past them, or
OPERATION_IN_PROGRESS when the limit is one as before 2026-01), and sends signed webhooks when a test changes an order:

    shop.webhook_target("http://127.0.0.1:8000/webhooks")
    await shop.change_order("#1001", lambda order: order.update(displayFulfillmentStatus="FULFILLED"))

(`evals/fakes/shopify_webhooks.py`; `deliver=False` drops the delivery). The store may be a file or a dict in memory.

Run it by hand with `python -m evals.fakes.shopify_admin --store data/demo-store.json --port 8787`.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from evals.fakes.loopback import LoopbackServer
from evals.fakes.shopify_bulk import (
    BULK_QUERY_LIMIT,
    MUTATION_COST,
    BulkOperation,
    BulkQueryInvalid,
    ResultStore,
    check_bulk_query,
    jsonl,
    timestamp,
)
from evals.fakes.shopify_search import (
    Term,
    connection_nodes,
    parse_search,
    parse_time,
    search_orders,
    updated_at,
)
from evals.fakes.shopify_webhooks import TOPICS, Delivery, WebhookSender
from shopify.auth import parse_scopes
from shopify.names import NameFormat, inferred_name_format
from shopify.scopes import ANY_FULFILLMENT_ORDER_SCOPE, APP_SCOPES, OPTIONAL_SCOPES

# The search syntax lives in shopify_search.py; tests and the bench read it from here.
__all__ = ["FakeShopify", "Selection", "Term", "parse_query", "parse_search", "requested_cost", "search_orders"]

API_VERSION = "2026-10"
MAX_QUERY_COST = 1000  # Shopify refuses any single query whose requested cost is above this, whatever the plan.
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMIT_DOCS = "https://shopify.dev/api/usage/rate-limits"
# Shopify's answer to a query the bucket cannot hold: HTTP 200, no data, this error.
THROTTLED_BODY: dict[str, Any] = {
    "errors": [{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMIT_DOCS}}]
}


class GraphQLError(Exception):
    """A query the fake cannot answer; it becomes a top-level `errors` entry, as Shopify reports bad queries."""

    def __init__(self, message: str, code: str = "GRAPHQL_PARSE_FAILED") -> None:
        super().__init__(message)
        self.code = code


# --- a small GraphQL reader: enough for Lumen's queries (fields, aliases, arguments, variables) --------------------


@dataclass
class Selection:
    name: str
    alias: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    children: list[Selection] = field(default_factory=list)
    line: int = 0  # where the field is written, for Shopify-shaped `locations` in errors
    column: int = 0

    @property
    def key(self) -> str:
        return self.alias or self.name

    # Cached: a parsed selection never changes, and projecting thousands of orders asks these for every field.
    @cached_property
    def is_connection(self) -> bool:
        return any(child.name in ("nodes", "edges") for child in self.children)

    @cached_property
    def page_size(self) -> int | None:
        size = self.args.get("first", self.args.get("last"))
        return size if isinstance(size, int) and not isinstance(size, bool) else None


_TOKEN = re.compile(
    r"""(?P<skip>[\s,]+|\#[^\n]*)
      | (?P<spread>\.\.\.)
      | (?P<punct>[{}()\[\]:!$=@|&])
      | (?P<string>"(?:[^"\\\n]|\\.)*")
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<name>[_A-Za-z][_0-9A-Za-z]*)""",
    re.VERBOSE,
)


def _tokenize(text: str, offsets: list[int] | None = None) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise GraphQLError(f"syntax error, unexpected character {text[pos]!r} at offset {pos}")
        kind = match.lastgroup or "skip"
        if kind != "skip":
            tokens.append((kind, match.group()))
            if offsets is not None:
                offsets.append(pos)
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, variables: dict[str, Any]) -> None:
        self.offsets: list[int] = []
        self.tokens = _tokenize(text, self.offsets)
        self.text = text
        self.pos = 0
        self.variables = variables

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise GraphQLError("syntax error, unexpected end of query")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise GraphQLError(f"syntax error, expected {expected!r} but found {token[1]!r}")
        self.pos += 1
        return token

    def name(self) -> str:
        kind, text = self.take()
        if kind != "name":
            raise GraphQLError(f"syntax error, expected a name but found {text!r}")
        return text

    operation = "query"

    def document(self) -> list[Selection]:
        if self.peek() != "{":
            operation = self.name()
            if operation not in ("query", "mutation"):
                raise GraphQLError(f"the fake answers queries and bulk operation mutations, not {operation!r}")
            self.operation = operation
            if self.peek() not in ("(", "{"):
                self.name()
            if self.peek() == "(":
                self.skip_balanced("(", ")")  # variable definitions; values arrive in `variables`
        selections = self.selection_set()
        if self.peek() is not None:
            raise GraphQLError("the fake answers one operation per request")
        return selections

    def skip_balanced(self, opening: str, closing: str) -> None:
        depth = 0
        while True:
            _, text = self.take()
            depth += (text == opening) - (text == closing)
            if depth == 0:
                return

    def selection_set(self) -> list[Selection]:
        self.take("{")
        selections: list[Selection] = []
        while self.peek() != "}":
            if self.peek() == "...":
                raise GraphQLError("fragments are not supported by the fake")
            selections.append(self.selection())
        self.take("}")
        return selections

    def selection(self) -> Selection:
        alias: str | None = None
        start = self.offsets[self.pos] if self.pos < len(self.offsets) else 0
        line = self.text.count("\n", 0, start) + 1
        column = start - self.text.rfind("\n", 0, start)
        name = self.name()
        if self.peek() == ":":
            self.take(":")
            alias, name = name, self.name()
        args: dict[str, Any] = {}
        if self.peek() == "(":
            self.take("(")
            while self.peek() != ")":
                arg = self.name()
                self.take(":")
                args[arg] = self.value()
            self.take(")")
        if self.peek() == "@":
            raise GraphQLError("directives are not supported by the fake")
        children = self.selection_set() if self.peek() == "{" else []
        return Selection(name, alias, args, children, line, column)

    def value(self) -> Any:
        kind, text = self.take()
        if text == "$":
            return self.variables.get(self.name())
        if kind == "string":
            return json.loads(text)
        if kind == "number":
            return float(text) if any(c in text for c in ".eE") else int(text)
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.value())
            self.take("]")
            return items
        if text == "{":
            obj = {}
            while self.peek() != "}":
                key = self.name()
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        if kind == "name":
            return {"true": True, "false": False, "null": None}.get(text, text)  # anything else is an enum value
        raise GraphQLError(f"syntax error, unexpected {text!r}")


def parse_query(text: str, variables: dict[str, Any] | None = None) -> list[Selection]:
    """The root selections of one query, with `$variables` already substituted into arguments."""
    return _Parser(text, variables or {}).document()


def parse_operation(text: str, variables: dict[str, Any] | None = None) -> tuple[str, list[Selection]]:
    """("query" or "mutation", the root selections)."""
    parser = _Parser(text, variables or {})
    selections = parser.document()
    return parser.operation, selections


# --- calculated query cost ----------------------------------------------------------------------------------------
# Shopify's documented rules: scalars and enums 0, objects 1, connections 2 + first × (cost of one node). This is the
# classic, conservative form of the rule: real Shopify often asks less, so a query that fits here fits there too.


def _requested(sel: Selection) -> int:
    if not sel.children or sel.name == "pageInfo":
        return 0
    inner = sum(_requested(child) for child in sel.children)
    if sel.name in ("nodes", "node"):
        return 1 + inner
    if sel.name == "edges":
        return inner
    size = sel.page_size
    if size is None:
        return 1 + inner
    if sel.is_connection:
        return 2 + size * inner
    return size * (1 + inner)  # plain lists with `first` (fulfillments, refunds, trackingInfo)


def requested_cost(selections: list[Selection]) -> int:
    """What Shopify would charge up front for these root selections (before refunding unused points)."""
    return sum(_requested(sel) for sel in selections)


def _actual(sel: Selection, value: Any) -> int:
    if not sel.children or value is None or sel.name == "pageInfo":
        return 0
    if isinstance(value, list):
        per_item = 0 if sel.name == "edges" else 1
        return sum(per_item + sum(_actual(c, item.get(c.key)) for c in sel.children) for item in value)
    inner = sum(_actual(child, value.get(child.key)) for child in sel.children)
    return 2 + inner if sel.is_connection else 1 + inner


def actual_cost(selections: list[Selection], data: dict[str, Any]) -> int:
    """The cost of what was actually returned; Shopify refunds requested minus actual to the bucket."""
    return sum(_actual(sel, data.get(sel.key)) for sel in selections)


# --- projection: answer only what was selected, the way Shopify shapes it ----------------------------------------


def _event_time(node: Any) -> str:
    return str((node or {}).get("happenedAt") or "")


# --- access scopes: what a token may read, and Shopify's ACCESS_DENIED with null rising to a nullable parent ------

ACCESS_SCOPES_DOCS = "https://shopify.dev/api/usage/access-scopes"
# Field name -> the scopes any one of which lets a token read it (Shopify: "Access denied for location field.").
FIELD_SCOPES: dict[str, frozenset[str]] = {
    "orders": frozenset({"read_orders"}),
    "order": frozenset({"read_orders"}),
    "fulfillment": frozenset({"read_orders", "read_fulfillments"}),
    "customer": frozenset({"read_customers"}),
    "location": frozenset({"read_locations"}),
    "fulfillmentOrders": ANY_FULFILLMENT_ORDER_SCOPE,
}
# Object-valued fields of the types Lumen reads that may be null; a null for any other object moves up to the nearest
# of these (GraphQL's rule). tests/test_shopify_schema.py checks this list against Shopify's schema.
NULLABLE_FIELDS = frozenset(
    {"order", "fulfillment", "customer", "defaultEmailAddress", "location", "shippingAddress", "fulfillmentsCount",
     "service", "deliveryMethod", "bulkOperationRunQuery", "bulkOperation", "bulkOperationCancel"}
)  # fmt: skip
# Every scope the fake can grant: Lumen's and the optional ones.
ALL_SCOPES = frozenset({*APP_SCOPES, *OPTIONAL_SCOPES})
ORDER_WINDOW_DAYS = 60  # orders older than this are invisible without `read_all_orders`
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _NullBubble(Exception):
    """A non-null field came out null: its parent becomes null, up to the nearest nullable field."""


def _scope_text(scopes: frozenset[str]) -> str:
    names = ", ".join(f"`{s}`" for s in sorted(scopes))
    return f"{names} access scope." if len(scopes) == 1 else f"Any of {names} access scopes."


@dataclass
class _Context:
    granted: frozenset[str] = ALL_SCOPES
    errors: list[dict[str, Any]] = field(default_factory=list)
    token: str = ""  # whose request: bulk operations belong to a token

    def allows(self, sel: Selection, path: tuple[str | int, ...]) -> bool:
        needed = FIELD_SCOPES.get(sel.name)
        if needed is None or needed & self.granted:
            return True
        required = _scope_text(needed)
        self.errors.append(
            {
                "message": f"Access denied for {sel.name} field. Required access: {required}",
                "locations": [{"line": sel.line, "column": sel.column}],
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": ACCESS_SCOPES_DOCS,
                    "requiredAccess": required,
                },
                "path": list(path),
            }
        )
        return False


def _file_country(shop: dict[str, Any]) -> str | None:
    """The shop's country as a store file may say it (an older file's `billingAddress`, or a bare `countryCode`)."""
    billing = shop.get("billingAddress")
    code = billing.get("countryCodeV2") if isinstance(billing, dict) else None
    code = code or shop.get("countryCode")
    return code if isinstance(code, str) and code else None


def project(sel: Selection, value: Any, ctx: _Context | None = None, path: tuple[str | int, ...] = ()) -> Any:
    """`value` from the store file reduced to the fields `sel` asks for, with `first:`/`after:` applied to lists."""
    ctx = ctx or _Context()
    if value is None or not sel.children:
        return value
    size = sel.page_size
    if sel.is_connection:
        every = connection_nodes(value)
        if sel.name == "events":
            # Fulfillment events are sorted by HAPPENED_AT; `reverse: true` is how a client asks for newest first.
            every = sorted(every, key=_event_time, reverse=bool(sel.args.get("reverse")))
        # Cursors are positions: `after: "4"` starts at the sixth node.
        after = sel.args.get("after")
        start = int(after) + 1 if isinstance(after, str) and after.isdigit() else 0
        nodes = every[start:]
        if size is not None:
            nodes = nodes[-size:] if "last" in sel.args else nodes[:size]
        end = start + len(nodes)
        connection = {
            "nodes": nodes,
            "edges": [{"node": node, "cursor": str(start + i)} for i, node in enumerate(nodes)],
            "pageInfo": {
                "hasNextPage": end < len(every),
                "hasPreviousPage": start > 0,
                "startCursor": str(start) if nodes else None,
                "endCursor": str(end - 1) if nodes else None,
            },
        }
        return _project_object(sel.children, connection, ctx, path)
    if isinstance(value, list):
        items = value[:size] if size is not None else value
        return [
            _project_object(sel.children, item, ctx, (*path, i)) if isinstance(item, dict) else item
            for i, item in enumerate(items)
        ]
    if isinstance(value, dict):
        return _project_object(sel.children, value, ctx, path)
    return value


def _field_value(child: Selection, obj: dict[str, Any]) -> Any:
    if child.name == "fulfillmentsCount" and "fulfillmentsCount" not in obj and "fulfillments" in obj:
        return {"count": len(obj.get("fulfillments") or []), "precision": "EXACT"}
    return obj.get(child.name)


def _project_object(
    children: list[Selection], obj: dict[str, Any], ctx: _Context | None = None, path: tuple[str | int, ...] = ()
) -> dict[str, Any]:
    ctx = ctx or _Context()
    out: dict[str, Any] = {}
    for child in children:
        child_path = (*path, child.key)
        try:
            if not ctx.allows(child, child_path):
                raise _NullBubble
            out[child.key] = project(child, _field_value(child, obj), ctx, child_path)
        except _NullBubble:
            if child.name not in NULLABLE_FIELDS:
                raise
            out[child.key] = None
    return out


# --- the leaky bucket ----------------------------------------------------------------------------------------------


class _Bucket:
    def __init__(self, size: float, restore_rate: float, clock: Callable[[], float]) -> None:
        self.size = size
        self.restore_rate = restore_rate
        self.clock = clock
        self.available = size
        self.updated = clock()

    def level(self) -> float:
        now = self.clock()
        self.available = min(self.size, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now
        return self.available

    def take(self, cost: float) -> bool:
        if cost > self.level():
            return False
        self.available -= cost
        return True

    def refund(self, points: float) -> None:
        self.available = min(self.size, self.level() + max(points, 0))

    def status(self) -> dict[str, Any]:
        # Shopify mixes floats and ints here (`"maximumAvailable": 2000.0, "currentlyAvailable": 1960`).
        return {
            "maximumAvailable": float(self.size),
            "currentlyAvailable": math.floor(self.level()),
            "restoreRate": float(self.restore_rate),
        }


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    body: Any


# --- OAuth: client credentials, authorization code, refresh-token grants ---------------------------------------

CLIENT_ID = "lumen-test-client"
CLIENT_SECRET = "shpss_test_secret"
CLIENT_CREDENTIALS_TTL = 86_399  # seconds: what Shopify's client credentials grant answers
EXPIRING_OFFLINE_TTL = 3_600  # expiring offline tokens last one hour
REFRESH_TOKEN_TTL = 7_776_000  # 90 days


@dataclass
class _Issued:
    expires_at: float | None  # None: never expires
    scopes: frozenset[str]


def _bulk_matches(operation: BulkOperation, terms: list[Term]) -> bool:
    """Whether an operation meets every term of one AND-group of a `bulkOperations(query:)` filter."""
    values = {"status": operation.status.lower(), "operation_type": "query", "id": operation.id.rsplit("/", 1)[-1]}
    for term in terms:
        if term.field not in values:
            raise GraphQLError(f"bulkOperations cannot filter on {term.field!r} in this fake", code="invalidSearch")
        if (values[term.field] == term.value.lower()) == term.negated:
            return False
    return True


def _host_param(shop: str) -> str:
    # Shopify's `host` is the base64 of the shop's admin path.
    return base64.b64encode(f"admin.shopify.com/store/{shop.split('.')[0]}".encode()).decode()


def _give_fulfillments_ids(order: dict[str, Any]) -> None:
    number = str(order.get("id") or order.get("name") or "").rsplit("/", 1)[-1].strip("#")
    for i, fulfillment in enumerate(order.get("fulfillments") or []):
        if isinstance(fulfillment, dict):
            fulfillment.setdefault("id", f"gid://shopify/Fulfillment/{number}{i + 1:02d}")


def _no_change(_: dict[str, Any]) -> None:
    return None


def _oauth_error(error: str, description: str, status: int = 400) -> tuple[int, dict[str, Any]]:
    return status, {"error": error, "error_description": description}


class _OAuth:
    """Shopify's `/admin/oauth/access_token` and the tokens it issued. Callers hold the server's state lock."""

    def __init__(self, client_id: str, client_secret: str, *, org_owned: bool, now: Callable[[], float]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.org_owned = org_owned  # False: the store is outside the app's organisation (no client credentials)
        self.now = now
        self.tokens: dict[str, _Issued] = {}
        self.refresh_tokens: dict[str, _Issued] = {}
        self.codes: dict[str, frozenset[str]] = {}
        self.grants: list[str] = []

    def timestamp(self) -> str:
        return str(int(self.now()))

    def sign(self, params: dict[str, str]) -> dict[str, str]:
        message = urlencode(sorted(params.items())).encode()
        digest = hmac.new(self.client_secret.encode(), message, hashlib.sha256).hexdigest()
        return {**params, "hmac": digest}

    def new_code(self, scopes: frozenset[str]) -> str:
        code = secrets.token_hex(16)
        self.codes[code] = scopes
        return code

    def scopes_of(self, token: str | None) -> frozenset[str] | None:
        issued = self.tokens.get(token or "")
        if issued is None or (issued.expires_at is not None and self.now() >= issued.expires_at):
            return None
        return issued.scopes

    def grant(self, form: dict[str, str], shop: str, scopes: frozenset[str]) -> tuple[int, dict[str, Any]]:
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth_error("invalid_client", "Client authentication failed.", 401)
        grant_type = form.get("grant_type")
        if grant_type == "client_credentials":
            if not self.org_owned:
                return _oauth_error("shop_not_permitted", "Client credentials cannot be performed on this shop.")
            return self._issue("client_credentials", scopes, ttl=CLIENT_CREDENTIALS_TTL)
        if grant_type == "refresh_token":
            # Single use: Shopify replaces the refresh token each time it is used.
            issued = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if issued is None or (issued.expires_at is not None and self.now() >= issued.expires_at):
                return _oauth_error("invalid_grant", "The refresh token is invalid, expired or already used.")
            return self._issue("refresh_token", issued.scopes, ttl=EXPIRING_OFFLINE_TTL, refresh=True)
        if grant_type is None and "code" in form:
            granted = self.codes.pop(form["code"], None)
            if granted is None:
                return _oauth_error("invalid_request", "The authorization code was not found or was already used")
            if form.get("expiring") == "1":
                return self._issue("authorization_code", granted, ttl=EXPIRING_OFFLINE_TTL, refresh=True)
            return self._issue("authorization_code", granted, ttl=None)
        return _oauth_error("unsupported_grant_type", f"Unsupported grant type: {grant_type}")

    def _issue(
        self, grant: str, scopes: frozenset[str], *, ttl: int | None, refresh: bool = False
    ) -> tuple[int, dict[str, Any]]:
        token = f"shpat_{secrets.token_hex(16)}"
        now = self.now()
        self.tokens[token] = _Issued(None if ttl is None else now + ttl, scopes)
        self.grants.append(grant)
        body: dict[str, Any] = {"access_token": token, "scope": ",".join(sorted(scopes))}
        if ttl is not None:
            body["expires_in"] = ttl
        if refresh:
            refresh_token = f"shprt_{secrets.token_hex(16)}"
            self.refresh_tokens[refresh_token] = _Issued(now + REFRESH_TOKEN_TTL, scopes)
            body |= {"refresh_token": refresh_token, "refresh_token_expires_in": REFRESH_TOKEN_TTL}
        return 200, body


# --- the server --------------------------------------------------------------------------------------------------


class FakeShopify(LoopbackServer):
    """A Shopify Admin GraphQL endpoint for one store file, on a uvicorn thread, with Shopify's cost-based throttling.

    `query_cost` fixes the requested (and actual) cost of every orders query; by default it is calculated from the
    query like Shopify does. `fuzzy` makes name and email terms also match tokenized near misses, as Shopify's search
    can, so that a client's own re-check can be tested. Counters (`requests`, `throttled`, `failures_served`) and
    `received` (the JSON bodies, in order) let tests check what the client really sent.
    """

    thread_name = "fake-shopify"

    def __init__(
        self,
        store_path: Path | str | dict[str, Any],
        *,
        token: str = "shpat_test",
        bucket_size: float = 2000,
        restore_rate: float = 100,
        port: int = 0,
        host: str = "127.0.0.1",
        query_cost: int | None = None,
        fuzzy: bool = False,
        api_version: str = API_VERSION,
        clock: Callable[[], float] = time.monotonic,
        scopes: frozenset[str] | set[str] = ALL_SCOPES,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        org_owned: bool = True,
        now: Callable[[], float] = time.time,
        bulk_query_limit: int = BULK_QUERY_LIMIT,
    ) -> None:
        # A store file, or a store already in memory (a benchmark's synthetic store): the fake keeps its own copy.
        # (Through JSON rather than deepcopy: several times faster for a benchmark's thousands of orders.)
        text = json.dumps(store_path) if isinstance(store_path, dict) else Path(store_path).read_text(encoding="utf-8")
        raw = json.loads(text)
        self.as_of: str | None = raw.get("asOf")  # the store file's "today", for the 60-day window
        self._now = now
        self.orders: list[dict[str, Any]] = list(raw.get("orders") or [])
        # Shopify always says the shop's order-name format (both fields are non-null strings). A store file that does
        # not is served the format most of its names are written in, else Shopify's default "#1001" ("#", no suffix).
        written = inferred_name_format(str(o.get("name") or "") for o in self.orders) or NameFormat("#", "")
        self.shop_node: dict[str, Any] = {
            "orderNumberFormatPrefix": written.prefix,
            "orderNumberFormatSuffix": written.suffix,
        } | (raw.get("shop") or {})
        # Shopify's shop always has an address (`shopAddress` is non-null); its country is the one the file gives.
        self.shop_node.setdefault("shopAddress", {"countryCodeV2": _file_country(self.shop_node)})
        for order in self.orders:
            _give_fulfillments_ids(order)
            order["updatedAt"] = updated_at(order)
        self._by_id: dict[str, dict[str, Any]] = {}
        # Copy on write: each changed order as it was loaded (by the identity of its live node), and orders added.
        self._originals: dict[int, dict[str, Any]] = {}
        self._added: set[int] = set()
        self._index()
        self.webhooks = WebhookSender(client_secret, self.shop_domain, api_version)
        self.token = token
        self.scopes = self._initial_scopes = frozenset(scopes)
        self.oauth = _OAuth(client_id, client_secret, org_owned=org_owned, now=now)
        # The static token of a legacy custom app: never expires.
        self.oauth.tokens[token] = _Issued(None, self.scopes)
        self.api_version = api_version
        self.query_cost = query_cost
        self.fuzzy = fuzzy
        self.requests = 0
        self.throttled = 0
        self.failures_served = 0
        self.received: list[dict[str, Any]] = []
        self._bucket = _Bucket(bucket_size, restore_rate, clock)
        self._failures: deque[_Failure] = deque()
        self._token_failures = 0  # token requests still to answer with `_token_failure_status`
        self._token_failure_status = 503
        self.bulk_operations: list[BulkOperation] = []
        self.bulk_query_limit = self._initial_bulk_limit = bulk_query_limit
        self._bulk_endings: deque[tuple[str, str | None]] = deque()
        self._bulk_stalls = 0  # bulk operations still to start that will stall (stay RUNNING until cancelled)
        self.results = ResultStore()
        # Handlers run on the server thread while tests read counters from theirs.
        self._state = threading.RLock()
        app = Starlette(
            routes=[
                Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
                Route("/bulk-results/{name}.jsonl", self.results.serve, methods=["GET"]),
                Route("/admin/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/admin/oauth/authorize", self._authorize, methods=["GET"]),
            ]
        )
        super().__init__(app, host=host, port=port)

    # --- lifecycle ---------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The full GraphQL endpoint, e.g. http://127.0.0.1:54321/admin/api/2026-10/graphql.json."""
        return f"{self.base_url}/admin/api/{self.api_version}/graphql.json"

    @property
    def base_url(self) -> str:
        """What SHOPIFY_SHOP_URL is set to when Lumen talks to this fake: the base of /admin/oauth and /admin/api."""
        return f"http://{self.host}:{self.port}"

    @property
    def shop_domain(self) -> str:
        return str(self.shop_node.get("myshopifyDomain") or "fake-shop.myshopify.com")

    # --- OAuth knobs -------------------------------------------------------------------------------------------

    def install_query(self, **extra: str) -> dict[str, str]:
        """The signed query Shopify opens an app's install URL with (`hmac`, `host`, `shop`, `timestamp`)."""
        params = {"host": _host_param(self.shop_domain), "shop": self.shop_domain, "timestamp": self.oauth.timestamp()}
        return self.oauth.sign(params | extra)

    def grant_scopes(self, scopes: frozenset[str] | set[str]) -> None:
        """The merchant changes what the app may read: every token issued so far now carries `scopes`."""
        with self._state:
            self.scopes = frozenset(scopes)
            for token, issued in list(self.oauth.tokens.items()):
                self.oauth.tokens[token] = _Issued(issued.expires_at, self.scopes)

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as after a secret rotation); the static one too."""
        with self._state:
            self.oauth.tokens.clear()

    def restore_static_token(self) -> None:
        """The static token works again: a test's uninstall (`revoke_tokens`) undone, the custom app installed again."""
        with self._state:
            self.oauth.tokens[self.token] = _Issued(None, self.scopes)

    @property
    def grants(self) -> list[str]:
        """The grant of every token request answered with a token, in order."""
        with self._state:
            return list(self.oauth.grants)

    # --- knobs for tests ---------------------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 503, *, retry_after: float | str | None = None, body: Any = None
    ) -> None:
        """Answer the next `n` authenticated requests with `status` (and `Retry-After`, if given) instead of data."""
        default = {"errors": "Too many requests" if status == 429 else "Service unavailable"}
        failure = _Failure(
            status, None if retry_after is None else str(retry_after), body if body is not None else default
        )
        with self._state:
            self._failures.extend([failure] * n)

    def fail_token_endpoint(self, n: int = 1, status: int = 503) -> None:
        """Answer the next `n` token requests with `status`: Shopify erring, not refusing a grant."""
        with self._state:
            self._token_failures, self._token_failure_status = n, status

    def reset(self) -> None:
        """Forget counters, recorded bodies and pending failures, restore the granted scopes, the static token and
        the orders as loaded, drop the webhook target and what was sent, and refill the bucket: a fresh server,
        reused."""
        with self._state:
            if self._originals or self._added:
                # Put back each changed order as loaded, in place, and drop the ones added since.
                self.orders = [self._originals.get(id(o), o) for o in self.orders if id(o) not in self._added]
                self._originals.clear()
                self._added.clear()
                self._index()
            self.webhooks.target = None
            self.webhooks.deliveries.clear()
            self.bulk_operations.clear()
            self.bulk_query_limit = self._initial_bulk_limit
            self._bulk_endings.clear()
            self._bulk_stalls = 0
            self.results.requests.clear()
            self.results.files.clear()
            self.scopes = self._initial_scopes
            self.oauth.tokens[self.token] = _Issued(None, self.scopes)
            self.requests = self.throttled = self.failures_served = 0
            self.received.clear()
            self._failures.clear()
            self._token_failures = 0
            self._bucket.level()
            self._bucket.available = self._bucket.size

    def drain(self, to: float = 0) -> None:
        """Empty the bucket (to `to` points), as if another part of the app had just spent it."""
        with self._state:
            self._bucket.level()
            self._bucket.available = to

    @property
    def available(self) -> float:
        with self._state:
            return self._bucket.level()

    def searches(self) -> list[str | None]:
        """The `variables.q` of every orders query received, in order."""
        with self._state:
            return [
                (body.get("variables") or {}).get("q") for body in self.received if "orders" in body.get("query", "")
            ]

    # --- bulk operations (see evals/fakes/shopify_bulk.py) -------------------------------------------------------

    def end_next_bulk(self, status: str = "FAILED", error_code: str | None = "INTERNAL_SERVER_ERROR") -> None:
        """The next bulk operation to finish ends with `status` (FAILED, CANCELED, ...) and `error_code` instead."""
        with self._state:
            self._bulk_endings.append((status, error_code))

    def stall_next_bulk(self) -> None:
        """The next bulk operation started stays RUNNING until it is cancelled (`bulkOperationCancel`)."""
        with self._state:
            self._bulk_stalls += 1

    @property
    def downloads(self) -> list[dict[str, str]]:
        """The headers of every request made for a bulk result file."""
        with self._state:
            return list(self.results.requests)

    def _run_bulk(self, sel: Selection, token: str) -> dict[str, Any]:
        """`bulkOperationRunQuery`: the payload, with `userErrors` for what Shopify would refuse."""
        query = str(sel.args.get("query") or "")

        def refused(message: str, code: str) -> dict[str, Any]:
            return {"bulkOperation": None, "userErrors": [{"field": ["query"], "message": message, "code": code}]}

        try:
            check_bulk_query(parse_query(query))
        except GraphQLError as exc:
            return refused(f"Invalid bulk query: {exc}", "INVALID")
        except BulkQueryInvalid as exc:
            return refused(str(exc), "INVALID")
        with self._state:
            self._advance_bulk()
            running = [op for op in self.bulk_operations if op.running]
            if len(running) >= self.bulk_query_limit == 1:
                message = f"A bulk query operation for this app and shop is already in progress: {running[0].id}."
                return refused(message, "OPERATION_IN_PROGRESS")
            if len(running) >= self.bulk_query_limit:
                return refused("Bulk operations limit reached. Please try again later.", "LIMIT_REACHED")
            operation = BulkOperation(
                id=f"gid://shopify/BulkOperation/{1000 + len(self.bulk_operations)}",
                token=token,
                query=query,
                group_objects=bool(sel.args.get("groupObjects", False)),
                created_at=timestamp(datetime.fromtimestamp(self._now(), UTC)),
                fail_as=self._bulk_endings.popleft() if self._bulk_endings else None,
                stalled=self._bulk_stalls > 0,
            )
            self._bulk_stalls = max(self._bulk_stalls - 1, 0)
            self.bulk_operations.append(operation)
        return {"bulkOperation": operation.node(), "userErrors": []}

    def _bulk_operation(self, operation_id: Any, token: str) -> dict[str, Any] | None:
        with self._state:
            self._advance_bulk()
            found = next((op for op in self.bulk_operations if op.id == operation_id), None)
            return found.node() if found is not None else None

    def _bulk_operations(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        """`bulkOperations(query:, sortKey:, reverse:)`: the app's operations matching the filter, newest first by
        default (CREATED_AT; COMPLETED_AT also sorts). The filter fields are the 2026-07 schema's that Lumen may use:
        `status` (canceled, canceling, completed, created, failed, running), `operation_type` (query, mutation) and
        `id`, ANDed, OR-groups as `orders` reads them; `first:` is applied by `project`."""
        groups = parse_search(str(args.get("query") or ""))
        with self._state:
            self._advance_bulk()
            found = [op.node() for op in self.bulk_operations if any(_bulk_matches(op, g) for g in groups)]
        key = {"COMPLETED_AT": "completedAt"}.get(str(args.get("sortKey") or "CREATED_AT"), "createdAt")
        # Newest first unless `reverse` (ties, as in one second, by id: the later one is newer).
        found.sort(key=lambda n: (str(n.get(key) or ""), n["id"]), reverse=not args.get("reverse"))
        return found

    def _advance_bulk(self) -> None:
        """Time passes for the app's running operations: one step each time it asks about them (a stalled one stays
        RUNNING; one being cancelled is CANCELED). They are the app's on this shop, whichever of its tokens started
        them (a renewed token sees and counts the operations of the one before, as on Shopify)."""
        for operation in self.bulk_operations:
            if operation.status == "CANCELING":
                operation.status = "CANCELED"
                operation.completed_at = timestamp(datetime.fromtimestamp(self._now(), UTC))
            elif operation.running and not (operation.stalled and operation.status == "RUNNING"):
                operation.status = "RUNNING" if operation.status == "CREATED" else "COMPLETED"
                if operation.status == "COMPLETED":
                    self._complete_bulk(operation)

    def _cancel_bulk(self, sel: Selection, token: str) -> dict[str, Any]:
        """`bulkOperationCancel`: CANCELING for a running operation of this token, else a userError."""
        operation_id = sel.args.get("id")
        with self._state:
            self._advance_bulk()
            found = next((op for op in self.bulk_operations if op.id == operation_id), None)
            if found is None:
                message = "Bulk operation does not exist"
            elif not found.running:
                message = f"A bulk operation cannot be canceled when it is {found.status.lower()}"
            else:
                found.status = "CANCELING"
                return {"bulkOperation": found.node(), "userErrors": []}
        return {"bulkOperation": found.node() if found else None, "userErrors": [{"field": ["id"], "message": message}]}

    def _complete_bulk(self, operation: BulkOperation) -> None:
        operation.completed_at = timestamp(datetime.fromtimestamp(self._now(), UTC))
        if operation.fail_as is not None:
            operation.status, operation.error_code = operation.fail_as
            return
        # The scopes the token has now: a merchant may have taken one away while the operation ran.
        ctx = _Context(self.oauth.scopes_of(operation.token) or frozenset())
        selections = parse_query(operation.query)
        data = self._resolve_all(selections, ctx)
        if ctx.errors or data is None:
            operation.status, operation.error_code = "FAILED", "ACCESS_DENIED"
            return
        content, objects, roots = jsonl(selections, data, grouped=operation.group_objects)
        operation.object_count, operation.root_object_count = objects, roots
        operation.url = self.results.put(self.base_url, content) if objects else None

    # --- orders changing, and the webhooks that say so ---------------------------------------------------------

    def webhook_target(self, url: str | None) -> None:
        """Where webhooks go from now on (None: nowhere), signed with the app's client secret like Shopify's."""
        with self._state:
            self.webhooks.target = url

    @property
    def deliveries(self) -> list[Delivery]:
        """Every webhook built so far, sent or dropped, in order."""
        with self._state:
            return list(self.webhooks.deliveries)

    def order(self, ref: str) -> dict[str, Any]:
        """The stored node of one order (by GID, numeric id or name), as it is now; KeyError if there is none."""
        with self._state:
            return copy.deepcopy(self._find(ref))

    async def change_order(
        self,
        ref: str,
        mutate: Callable[[dict[str, Any]], None],
        topic: str = "orders/updated",
        deliver: bool = True,
    ) -> str:
        """Apply `mutate` to the stored node of one order (by GID, numeric id or name), bump its `updatedAt`, and
        post `topic`'s webhook to the target, as Shopify does when a merchant or carrier changes an order.
        `deliver=False` builds the webhook but never sends it: a dropped delivery. Returns the webhook id."""
        delivery = self._change(ref, mutate, topic)
        if deliver:
            await self.webhooks.send(delivery)
        return delivery.webhook_id

    def change_order_sync(
        self,
        ref: str,
        mutate: Callable[[dict[str, Any]], None],
        topic: str = "orders/updated",
        deliver: bool = True,
    ) -> str:
        """`change_order` for callers outside an event loop."""
        delivery = self._change(ref, mutate, topic)
        if deliver:
            self.webhooks.send_sync(delivery)
        return delivery.webhook_id

    async def add_order(self, node: dict[str, Any], *, deliver: bool = True) -> str:
        """A new order (a node in the store's shape) is placed: stored, and announced with `orders/create`."""
        with self._state:
            order = copy.deepcopy(node)
            _give_fulfillments_ids(order)
            order.setdefault("updatedAt", updated_at(order))
            self._added.add(id(order))
            self.orders.append(order)
            self._by_id[str(order.get("id"))] = order
        return await self.change_order(str(order.get("id") or order.get("name")), _no_change, "orders/create",
                                       deliver=deliver)  # fmt: skip

    def _change(self, ref: str, mutate: Callable[[dict[str, Any]], None], topic: str) -> Delivery:
        if topic not in TOPICS:
            raise ValueError(f"the fake sends no {topic!r} webhooks; it knows {sorted(TOPICS)}")
        with self._state:
            order = self._find(ref)
            if id(order) not in self._added:
                self._originals.setdefault(id(order), copy.deepcopy(order))
            mutate(order)
            _give_fulfillments_ids(order)
            # Strictly later than before, even when the clock has not moved: a mirror compares these.
            before = parse_time(order.get("updatedAt")) or _EPOCH
            now = max(datetime.fromtimestamp(self._now(), UTC), before + timedelta(seconds=1))
            order["updatedAt"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")
            self._by_id[str(order.get("id"))] = order
            return self.webhooks.build(topic, copy.deepcopy(order), now)

    def _find(self, ref: str) -> dict[str, Any]:
        text = str(ref).strip()
        found = self._by_id.get(text) or self._by_id.get(f"gid://shopify/Order/{text}")
        if found is None:
            found = next((o for o in self.orders if o.get("name") == text), None)
        if found is None:
            raise KeyError(f"no order {ref!r} in the fake store")
        return found

    def _index(self) -> None:
        self._by_id = {str(o.get("id")): o for o in self.orders if o.get("id")}

    # --- the endpoint ------------------------------------------------------------------------------------------

    async def _access_token(self, request: Request) -> Response:
        # Form-encoded like Shopify's docs show, or JSON like Shopify's own libraries send.
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            parsed = json.loads(raw or b"{}")
            fields = {str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {}
        else:
            fields = dict(parse_qsl(raw.decode()))
        with self._state:
            if self._token_failures > 0:
                self._token_failures -= 1
                return JSONResponse({"errors": "Service unavailable"}, status_code=self._token_failure_status)
            status, body = self.oauth.grant(fields, self.shop_domain, self.scopes)
        return JSONResponse(body, status_code=status)

    async def _authorize(self, request: Request) -> Response:
        """The merchant approves at once: back to `redirect_uri` with a code, signed like Shopify signs it."""
        query = request.query_params
        if query.get("client_id") != self.oauth.client_id:
            return JSONResponse({"errors": "Invalid client_id"}, status_code=400)
        requested = parse_scopes(query.get("scope", ""))
        with self._state:
            code = self.oauth.new_code(frozenset(requested & self.scopes) or self.scopes)
        params = {
            "code": code,
            "host": _host_param(self.shop_domain),
            "shop": self.shop_domain,
            "state": query.get("state", ""),
            "timestamp": self.oauth.timestamp(),
        }
        location = f"{query.get('redirect_uri', '')}?{urlencode(self.oauth.sign(params))}"
        return Response(status_code=302, headers={"Location": location})

    async def _graphql(self, request: Request) -> Response:
        with self._state:
            self.requests += 1
            granted = self.oauth.scopes_of(request.headers.get("x-shopify-access-token"))
        if granted is None:
            return JSONResponse({"errors": INVALID_TOKEN}, status_code=401)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"errors": "Bad Request: body is not JSON"}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return JSONResponse({"errors": {"query": "Required parameter missing or invalid"}}, status_code=400)
        with self._state:
            self.received.append(body)
            failure = self._failures.popleft() if self._failures else None
            if failure is not None:
                self.failures_served += 1
                self.throttled += int(failure.status == 429)
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else None
            return JSONResponse(failure.body, status_code=failure.status, headers=headers)
        variables = body.get("variables")
        token = request.headers.get("x-shopify-access-token", "")
        return JSONResponse(
            self._answer(body["query"], variables if isinstance(variables, dict) else {}, granted, token)
        )

    def _answer(
        self, query: str, variables: dict[str, Any], granted: frozenset[str] = ALL_SCOPES, token: str = ""
    ) -> dict[str, Any]:
        try:
            operation, selections = parse_operation(query, variables)
        except GraphQLError as exc:
            return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
        if operation == "mutation":
            return self._mutation(selections, token)
        orders_query = any(sel.name == "orders" for sel in selections)
        cost = self.query_cost if self.query_cost is not None and orders_query else requested_cost(selections)
        if cost > MAX_QUERY_COST:
            message = f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST})."
            code = {"code": "MAX_COST_EXCEEDED", "cost": cost, "maxCost": MAX_QUERY_COST}
            return {"errors": [{"message": message, "extensions": code}]}
        with self._state:
            if not self._bucket.take(cost):
                self.throttled += 1
                return {"errors": THROTTLED_BODY["errors"], "extensions": {"cost": self._cost(cost, None)}}
        ctx = _Context(granted, token=token)
        try:
            data: dict[str, Any] | None = self._resolve_all(selections, ctx)
        except GraphQLError as exc:
            with self._state:
                self._bucket.refund(cost)
            return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}], "data": None}
        actual = cost if self.query_cost is not None and orders_query else actual_cost(selections, data or {})
        with self._state:
            self._bucket.refund(cost - actual)
            answer: dict[str, Any] = {"data": data, "extensions": {"cost": self._cost(cost, actual)}}
        # Shopify puts `errors` first, beside whatever data survived.
        return {"errors": ctx.errors} | answer if ctx.errors else answer

    def _mutation(self, selections: list[Selection], token: str) -> dict[str, Any]:
        """The mutations the fake knows, `bulkOperationRunQuery` and `bulkOperationCancel`, at Shopify's flat mutation
        cost."""
        known = {"bulkOperationRunQuery": self._run_bulk, "bulkOperationCancel": self._cancel_bulk}
        unknown = [sel.name for sel in selections if sel.name not in known]
        if unknown:
            message = f"Field '{unknown[0]}' doesn't exist on type 'Mutation'"
            return {"errors": [{"message": message, "extensions": {"code": "undefinedField"}}]}
        with self._state:
            if not self._bucket.take(MUTATION_COST):
                self.throttled += 1
                return {"errors": THROTTLED_BODY["errors"], "extensions": {"cost": self._cost(MUTATION_COST, None)}}
        ctx = _Context(ALL_SCOPES)
        data = {sel.key: project(sel, known[sel.name](sel, token), ctx, (sel.key,)) for sel in selections}
        with self._state:
            return {"data": data, "extensions": {"cost": self._cost(MUTATION_COST, MUTATION_COST)}}

    def _resolve_all(self, selections: list[Selection], ctx: _Context) -> dict[str, Any] | None:
        data: dict[str, Any] = {}
        for sel in selections:
            try:
                if not ctx.allows(sel, (sel.key,)):
                    raise _NullBubble
                data[sel.key] = self._resolve(sel, ctx)
            except _NullBubble:
                if sel.name not in NULLABLE_FIELDS:
                    return None  # a non-null root field is null: so is `data`
                data[sel.key] = None
        return data

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": self._bucket.status()}

    def _visible(self, order: dict[str, Any], ctx: _Context) -> bool:
        """Without `read_all_orders` Shopify shows only the last 60 days of orders, and says nothing of the rest."""
        if "read_all_orders" in ctx.granted:
            return True
        today = datetime.fromisoformat(self.as_of) if self.as_of else datetime.fromtimestamp(self._now(), UTC)
        created = datetime.fromisoformat(str(order.get("createdAt") or today.isoformat()))
        return created >= today - timedelta(days=ORDER_WINDOW_DAYS)

    def _resolve(self, sel: Selection, ctx: _Context) -> Any:
        path: tuple[str | int, ...] = (sel.key,)
        if sel.name == "shop":
            return project(sel, self.shop_node, ctx, path)
        if sel.name == "currentAppInstallation":
            installation = {"accessScopes": [{"handle": scope} for scope in sorted(ctx.granted)]}
            return project(sel, installation, ctx, path)
        if sel.name == "order":
            order = self._by_id.get(str(sel.args.get("id")))
            return project(sel, order if order is not None and self._visible(order, ctx) else None, ctx, path)
        if sel.name == "fulfillment":
            every = (f for o in self.orders for f in o.get("fulfillments") or [])
            return project(sel, next((f for f in every if f.get("id") == sel.args.get("id")), None), ctx, path)
        if sel.name == "orders":
            found = [
                o for o in search_orders(self.orders, sel.args.get("query"), fuzzy=self.fuzzy) if self._visible(o, ctx)
            ]
            sort_key = sel.args.get("sortKey") or "PROCESSED_AT"
            field_name = {"CREATED_AT": "createdAt", "UPDATED_AT": "updatedAt"}.get(sort_key, "processedAt")
            found.sort(
                key=lambda o: parse_time(o.get(field_name) or o.get("createdAt")) or _EPOCH,
                reverse=bool(sel.args.get("reverse")),
            )
            return project(sel, {"nodes": found}, ctx, path)
        if sel.name in ("bulkOperation", "node") and str(sel.args.get("id")).startswith("gid://shopify/BulkOperation/"):
            return project(sel, self._bulk_operation(sel.args.get("id"), ctx.token), ctx, path)
        if sel.name == "bulkOperations":
            return project(sel, {"nodes": self._bulk_operations(sel.args)}, ctx, path)
        if sel.name == "__typename":
            return "QueryRoot"
        raise GraphQLError(f"Field '{sel.name}' doesn't exist on type 'QueryRoot'", code="undefinedField")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a store file as a fake Shopify Admin GraphQL API.")
    parser.add_argument("--store", default="data/demo-store.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--token", default="shpat_test")
    parser.add_argument("--bucket-size", type=float, default=2000, help="points (Standard plan: 2000)")
    parser.add_argument("--restore-rate", type=float, default=100, help="points per second (Standard plan: 100)")
    parser.add_argument("--query-cost", type=int, default=None, help="fixed cost of an orders query")
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--client-secret", default=CLIENT_SECRET)
    parser.add_argument("--scopes", default=",".join(sorted(ALL_SCOPES)), help="granted scopes, comma-separated")
    parser.add_argument("--not-org-owned", action="store_true", help="refuse client credentials (shop_not_permitted)")
    args = parser.parse_args(argv)
    fake = FakeShopify(
        args.store,
        token=args.token,
        bucket_size=args.bucket_size,
        restore_rate=args.restore_rate,
        port=args.port,
        host=args.host,
        query_cost=args.query_cost,
        client_id=args.client_id,
        client_secret=args.client_secret,
        scopes=parse_scopes(args.scopes),
        org_owned=not args.not_org_owned,
    )
    fake.serve_until_interrupted(
        f"Fake Shopify for {args.store} at {{server.url}} (token {args.token!r}; SHOPIFY_SHOP_URL={{server.base_url}}"
        f" SHOPIFY_CLIENT_ID={args.client_id}); Ctrl-C stops it."
    )


if __name__ == "__main__":
    main()
