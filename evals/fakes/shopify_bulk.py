"""Bulk operations in the fake Shopify, in the shapes of the 2026-07 Admin schema.

`bulkOperationRunQuery(query:, groupObjects:)` checks the query against Shopify's bulk rules (at least one connection,
at most five, nested at most two deep, `edges { node }` rather than `nodes`, no connection inside a list field, no
top-level `node`/`nodes`) and answers `userErrors` (INVALID; LIMIT_REACHED while the app already runs
`BULK_QUERY_LIMIT` bulk queries on the shop, whichever of its tokens started them; OPERATION_IN_PROGRESS, naming the
one running, when the fake is told the limit is one, as before 2026-01). `bulkOperation(id:)` reports it going
CREATED -> RUNNING -> COMPLETED, one step each time the app asks about its
operations (a deterministic stand-in for time passing); one the fake is told to stall stays RUNNING, as a stuck
operation does. `bulkOperationCancel(id:)` answers it CANCELING, and it is CANCELED at the next step (a slot free
again); an operation that is no longer running cannot be cancelled (a userError). On completion the query is run
with the token's scopes at that moment: a field they may not read fails the whole operation (FAILED, ACCESS_DENIED), as
Shopify does. The JSONL result is served at a signed-looking storage URL that refuses (403) any request carrying
`X-Shopify-Access-Token`: a client that leaks the Admin token to the storage host fails loudly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

MAX_CONNECTIONS = 5
# Bulk query operations one app may run at a time on one shop, in API versions 2026-01 and later (one before).
BULK_QUERY_LIMIT = 5
MAX_DEPTH = 2
MUTATION_COST = 10
# Object fields that are plain lists in the schema (tests/test_shopify_schema.py checks every list field Lumen
# selects is here): a connection under one of these is refused in a bulk query.
LIST_FIELDS = frozenset({"fulfillments", "refunds", "trackingInfo", "fulfillmentHolds", "accessScopes", "userErrors"})
# The type of a connection's nodes, for `__typename` in the JSONL (the store file does not say).
NODE_TYPES = {
    "orders": "Order",
    "lineItems": "LineItem",
    "fulfillmentOrders": "FulfillmentOrder",
    "fulfillmentLineItems": "FulfillmentLineItem",
    "events": "FulfillmentEvent",
}
_PROGRESS = {"CREATED": "RUNNING", "RUNNING": "COMPLETED"}


class BulkQueryInvalid(Exception):
    """A query Shopify would not run in bulk; the message becomes a userError."""


@dataclass
class BulkOperation:
    """One bulk query operation as the fake keeps it."""

    id: str
    token: str
    query: str
    group_objects: bool
    created_at: str
    status: str = "CREATED"
    error_code: str | None = None
    object_count: int = 0
    root_object_count: int = 0
    completed_at: str | None = None
    url: str | None = None
    fail_as: tuple[str, str | None] | None = None  # (status, errorCode) to end with instead of running the query
    stalled: bool = False  # stays RUNNING until cancelled (a stuck operation)

    def node(self) -> dict[str, Any]:
        return {
            "__typename": "BulkOperation",
            "id": self.id,
            "status": self.status,
            "errorCode": self.error_code,
            "objectCount": str(self.object_count),  # UnsignedInt64 is serialised as a string
            "rootObjectCount": str(self.root_object_count),
            "fileSize": None,
            "url": self.url,
            "partialDataUrl": None,
            "query": self.query,
            "type": "QUERY",
            "createdAt": self.created_at,
            "completedAt": self.completed_at,
        }

    @property
    def running(self) -> bool:
        return self.status in _PROGRESS


def check_bulk_query(selections: list[Any]) -> None:
    """Raise BulkQueryInvalid for a query Shopify refuses to run in bulk."""
    if any(sel.name in ("node", "nodes") for sel in selections):
        raise BulkQueryInvalid("The top-level node and nodes fields can't be used in bulk queries.")
    connections: list[int] = []
    _walk(selections, depth=0, in_list=False, found=connections)
    if not connections:
        raise BulkQueryInvalid("Bulk queries must contain at least one connection.")
    if len(connections) > MAX_CONNECTIONS:
        raise BulkQueryInvalid(f"Bulk queries cannot contain more than {MAX_CONNECTIONS} connections.")
    if max(connections) > MAX_DEPTH:
        raise BulkQueryInvalid(
            f"Bulk queries cannot contain connections with a nesting depth greater than {MAX_DEPTH}."
        )


def _walk(selections: list[Any], *, depth: int, in_list: bool, found: list[int]) -> None:
    for sel in selections:
        if any(child.name == "nodes" for child in sel.children):
            raise BulkQueryInvalid(
                f"Bulk queries must select connections with edges {{ node }}, not nodes ({sel.name})."
            )
        if sel.is_connection:
            if in_list:
                raise BulkQueryInvalid(
                    "Queries that contain a connection field within a list field are not currently supported."
                )
            found.append(depth + 1)
            for edges in sel.children:
                for node in edges.children if edges.name == "edges" else []:
                    _walk(node.children, depth=depth + 1, in_list=False, found=found)
            continue
        _walk(sel.children, depth=depth, in_list=in_list or sel.name in LIST_FIELDS, found=found)


# --- JSONL: each connection node a line, children after their parent with `__parentId` ----------------------------


@dataclass
class _Lines:
    grouped: bool
    roots: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    objects: int = 0

    def emit(self, obj: dict[str, Any], parent: str | None) -> None:
        self.objects += 1
        if parent is None:
            self.roots.append(json.dumps(obj))
        else:
            # Grouped: right under the parent. Not grouped: Shopify only promises "after the parent"; the fake puts
            # every child after every root, the far end of what that promise allows.
            (self.roots if self.grouped else self.children).append(json.dumps(obj | {"__parentId": parent}))

    def text(self) -> bytes:
        return "".join(f"{line}\n" for line in [*self.roots, *self.children]).encode()


def jsonl(selections: list[Any], data: dict[str, Any], *, grouped: bool) -> tuple[bytes, int, int]:
    """The JSONL file for projected `data`, with the object and root-object counts."""
    lines = _Lines(grouped)
    roots = 0
    for sel in selections:
        for node in _edge_nodes(data.get(sel.key)):
            roots += 1
            _emit(sel, node, None, lines)
    return lines.text(), lines.objects, roots


def _edge_nodes(connection: Any) -> list[dict[str, Any]]:
    edges = connection.get("edges") if isinstance(connection, dict) else None
    return [e["node"] for e in edges or [] if isinstance(e, dict) and isinstance(e.get("node"), dict)]


def _node_selections(connection: Any) -> list[Any]:
    return [node for edges in connection.children if edges.name == "edges" for node in edges.children]


def _emit(connection: Any, node: dict[str, Any], parent: str | None, lines: _Lines) -> None:
    line: dict[str, Any] = {}
    nested: list[tuple[Any, Any]] = []
    for node_sel in _node_selections(connection):
        for child in node_sel.children:
            if child.is_connection:
                nested.append((child, node.get(child.key)))
            elif child.name == "__typename":
                line[child.key] = node.get(child.key) or NODE_TYPES.get(connection.name)
            else:
                line[child.key] = node.get(child.key)
    lines.emit(line, parent)
    for child, value in nested:
        for child_node in _edge_nodes(value):
            _emit(child, child_node, str(line.get("id") or node.get("id")), lines)


# --- the signed storage link ----------------------------------------------------------------------------------------


class ResultStore:
    """JSONL files behind signed URLs, and every request made for one (so tests can check what was sent)."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(16)
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, str]] = []

    def put(self, base_url: str, content: bytes) -> str:
        name = secrets.token_hex(8)
        self.files[name] = content
        return f"{base_url}/bulk-results/{name}.jsonl?{self._query(name)}"

    def _signature(self, name: str) -> str:
        return hmac.new(self._key, name.encode(), hashlib.sha256).hexdigest()

    def _query(self, name: str) -> str:
        return (
            "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=fake-bulk%40shopify&X-Goog-Expires=604800"
            f"&X-Goog-SignedHeaders=host&X-Goog-Signature={self._signature(name)}"
        )

    async def serve(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        name = request.path_params["name"]
        if "x-shopify-access-token" in request.headers:
            # A storage host has no business with the Admin token; refusing makes a leak impossible to miss.
            return PlainTextResponse("AccessDenied: unexpected credentials", status_code=403)
        given = request.query_params.get("X-Goog-Signature", "")
        content = self.files.get(name)
        if content is None or not hmac.compare_digest(given, self._signature(name)):
            return PlainTextResponse("SignatureDoesNotMatch", status_code=403)

        async def chunks() -> AsyncIterator[bytes]:
            # In pieces that split lines, as a real download arrives.
            for start in range(0, len(content), 4096):
                yield content[start : start + 4096]

        return StreamingResponse(chunks(), media_type="application/jsonl")


def timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
