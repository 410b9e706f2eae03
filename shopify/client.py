"""Orders from the Shopify Admin GraphQL API, kept inside Shopify's calculated-cost rate limit.

One query per lookup, the shopper's input only ever in a GraphQL variable, every result re-checked here (Shopify's
search is tokenized and fuzzy), and a shopper never left waiting on the rate limit longer than `max_wait_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from shopify.auth import ShopifyAuthError, StaticToken, TokenEndpointUnavailable, TokenProvider, TokenUnreadable
from shopify.domain import Order, Shop, parse_order, parse_shop
from shopify.names import formatted_order_name, matching_order_names, order_key, order_name_matches
from shopify.scopes import ANY_FULFILLMENT_ORDER_SCOPE, missing_scopes, with_implied
from shopify.source import OrderSourceError, OrderSourceThrottled, OrderSourceUnavailable

log = logging.getLogger(__name__)

# One request teaches the client the shop, how it names orders and which scopes it was granted. The shop's country
# (`shopAddress`: `billingAddress` is deprecated in the 2026-07 schema, in favour of it) is the surest clue to its
# locale, which the Admin API's shop does not give (`shopify.shop_locale`): a shop in Australia is answered in en_AU
# even when its time zone and currency say nothing.
SHOP_QUERY = (
    "query LumenShop { shop { name myshopifyDomain ianaTimezone currencyCode contactEmail "
    "orderNumberFormatPrefix orderNumberFormatSuffix shopAddress { countryCodeV2 } } "
    "currentAppInstallation { accessScopes { handle } } }"
)


@dataclass(frozen=True)
class _Shape:
    """Page sizes of one order query. Each `first:` multiplies the requested cost, which must stay under 1,000."""

    orders: int
    line_items: int
    fulfillment_orders: int
    fulfillments: int
    tracking: int
    fulfillment_items: int
    events: int
    refunds: int


# A customer's five recent orders, and one order by name (two leave room for a duplicate name). The first page is
# sized for the usual order, because the requested cost must fit the rate-limit bucket before Shopify runs a query
# (a larger page halves how many shoppers a store can serve at once); what does not fit is read by the follow-up
# queries below, so an order always arrives whole: every line item and every package.
_LIST_SHAPE = _Shape(5, 25, 5, 3, 3, 10, 5, 5)
_NAME_SHAPE = _Shape(2, 25, 5, 3, 3, 10, 5, 5)
# The follow-ups' page sizes (one order or one fulfillment at a time).
_PAGE = 250
_FULFILLMENT_PAGE = _Shape(1, 0, 0, 0, 10, 100, 5, 0)
# One order by id (after a webhook), and reconciliation's pages: two orders a page keep the requested cost to a name
# lookup's, so a background page never holds the bucket for long against shoppers' lookups.
_ORDER_SHAPE = _Shape(1, 25, 5, 3, 3, 10, 5, 5)
_UPDATED_SHAPE = _Shape(2, 25, 5, 3, 3, 10, 5, 5)

LINE_ITEM_FIELDS = "name quantity sku unfulfilledQuantity"
FULFILLMENT_ORDER_FIELDS = (
    "status requestStatus fulfillAt fulfillmentHolds { reason } deliveryMethod { methodType maxDeliveryDateTime }"
)
_PAGE_INFO = "pageInfo { hasNextPage endCursor }"


_MONEY = "shopMoney { amount currencyCode }"
# What an order says of itself; `updatedAt` lets a mirror tell which copy is newer.
ORDER_OWN_FIELDS = (
    "id name email createdAt updatedAt processedAt cancelledAt cancelReason closedAt "
    "displayFinancialStatus displayFulfillmentStatus returnStatus "
    f"currentTotalPriceSet {{ {_MONEY} }} totalPriceSet {{ {_MONEY} }} "
)
REFUND_FIELDS = f"createdAt totalRefundedSet {{ {_MONEY} }}"
SHIPPING_ADDRESS = "shippingAddress { zip countryCodeV2 } "


def fulfillment_own_fields(scopes: frozenset[str] | None) -> str:
    """A package's own fields: everything but its connections (items, carrier events), so a bulk query may read them
    under the `fulfillments` list too."""
    location = "location { name } " if _may_read(scopes, "read_locations") else ""
    return (
        "id name status displayStatus createdAt inTransitAt deliveredAt estimatedDeliveryAt "
        f"service {{ serviceName }} {location}"
    )


def customer_fields(scopes: frozenset[str] | None) -> str:
    """The order's customer, when `read_customers` allows it (else nothing: a denied field fails a bulk query)."""
    return "customer { id defaultEmailAddress { emailAddress } } " if _may_read(scopes, "read_customers") else ""


def may_read_fulfillment_orders(scopes: frozenset[str] | None) -> bool:
    return _may_read(scopes, *ANY_FULFILLMENT_ORDER_SCOPE)


def _fulfillment_fields(shape: _Shape, scopes: frozenset[str] | None, after: str = "") -> str:
    return (
        f"{fulfillment_own_fields(scopes)}"
        f"trackingInfo(first: {shape.tracking}) {{ company number url }} "
        f"fulfillmentLineItems(first: {shape.fulfillment_items}{after}) "
        f"{{ {_PAGE_INFO} nodes {{ quantity lineItem {{ name }} }} }} "
        f"events(first: {shape.events}, reverse: true) "
        "{ nodes { status happenedAt message city province country } }"
    )


def _may_read(scopes: frozenset[str] | None, *needed: str) -> bool:
    """Whether fields guarded by any of `needed` may be selected: unknown scopes are assumed granted."""
    return scopes is None or any(scope in scopes for scope in needed)


def order_fields(shape: _Shape, scopes: frozenset[str] | None = None) -> str:
    """One order node's selection, leaving out what the granted `scopes` may not read: a denied nullable field only
    costs an error, but a denied `fulfillmentOrders` (non-null) would null every order in the answer."""
    fulfillment_orders = (
        f"fulfillmentOrders(first: {shape.fulfillment_orders}) "
        f"{{ {_PAGE_INFO} nodes {{ {FULFILLMENT_ORDER_FIELDS} }} }} "
        if may_read_fulfillment_orders(scopes)
        else ""
    )
    return (
        f"{ORDER_OWN_FIELDS}"
        f"{customer_fields(scopes)}"
        f"{SHIPPING_ADDRESS}"
        f"lineItems(first: {shape.line_items}) {{ {_PAGE_INFO} nodes {{ {LINE_ITEM_FIELDS} }} }} "
        f"{fulfillment_orders}"
        "fulfillmentsCount { count } "
        f"fulfillments(first: {shape.fulfillments}) {{ {_fulfillment_fields(shape, scopes)} }} "
        f"refunds(first: {shape.refunds}) {{ {REFUND_FIELDS} }} "
    )


def orders_query(name: str, shape: _Shape, scopes: frozenset[str] | None = None) -> str:
    """The orders search, newest first, for the granted `scopes` (see `order_fields`)."""
    return (
        f"query {name}($q: String!) {{ "
        f"orders(first: {shape.orders}, query: $q, sortKey: PROCESSED_AT, reverse: true) {{ nodes {{ "
        f"{order_fields(shape, scopes)}"
        "} } }"
    )


def order_query(scopes: frozenset[str] | None = None) -> str:
    """One order by id, straight from the database rather than the search index (which lags behind a webhook)."""
    return f"query LumenOrder($id: ID!) {{ order(id: $id) {{ {order_fields(_ORDER_SHAPE, scopes)}}} }}"


def updated_orders_query(scopes: frozenset[str] | None = None) -> str:
    """A page of orders changed since a time, oldest change first: reconciliation after a missed webhook."""
    return (
        "query LumenOrdersUpdated($q: String!, $after: String) { "
        f"orders(first: {_UPDATED_SHAPE.orders}, after: $after, query: $q, sortKey: UPDATED_AT) "
        f"{{ {_PAGE_INFO} nodes {{ {order_fields(_UPDATED_SHAPE, scopes)}}} }} }}"
    )


# A held order's packages' carrier events and items, what a bulk export cannot give (`order_events_node`).
_EVENTS_SHAPE = _Shape(1, 0, 0, 3, 0, 10, 5, 0)
ORDER_EVENTS_QUERY = (
    "query LumenOrderEvents($id: ID!) { order(id: $id) { id updatedAt fulfillmentsCount { count } "
    f"fulfillments(first: {_EVENTS_SHAPE.fulfillments}) {{ id createdAt "
    f"fulfillmentLineItems(first: {_EVENTS_SHAPE.fulfillment_items}) "
    f"{{ {_PAGE_INFO} nodes {{ quantity lineItem {{ name }} }} }} "
    f"events(first: {_EVENTS_SHAPE.events}, reverse: true) "
    "{ nodes { status happenedAt message city province country } } } } }"
)


# Which orders changed since a time, and when: reconciliation's listing, one point an order, before it reads in full
# only those the mirror holds an older copy of (`order_stamps_updated_since`).
_STAMPS_PAGE = 250
ORDER_STAMPS_QUERY = (
    "query LumenOrderStamps($q: String!, $after: String) { "
    f"orders(first: {_STAMPS_PAGE}, after: $after, query: $q, sortKey: UPDATED_AT) "
    f"{{ {_PAGE_INFO} nodes {{ id updatedAt }} }} }}"
)


def fulfillment_query(scopes: frozenset[str] | None = None) -> str:
    """One fulfillment, whole: for orders with more packages, or packages with more items, than a page holds."""
    fields = _fulfillment_fields(_FULFILLMENT_PAGE, scopes, after=", after: $after")
    return f"query LumenFulfillment($id: ID!, $after: String) {{ fulfillment(id: $id) {{ {fields} }} }}"


ORDERS_QUERY = orders_query("LumenOrders", _LIST_SHAPE)
NAME_QUERY = orders_query("LumenOrderByName", _NAME_SHAPE)
LINE_ITEMS_QUERY = (
    "query LumenLineItems($id: ID!, $after: String) { order(id: $id) { "
    f"lineItems(first: {_PAGE}, after: $after) {{ {_PAGE_INFO} nodes {{ {LINE_ITEM_FIELDS} }} }} }} }}"
)
FULFILLMENT_ORDERS_QUERY = (
    "query LumenFulfillmentOrders($id: ID!, $after: String) { order(id: $id) { "
    f"fulfillmentOrders(first: 50, after: $after) {{ {_PAGE_INFO} nodes {{ {FULFILLMENT_ORDER_FIELDS} }} }} }} }}"
)
FULFILLMENT_IDS_QUERY = (
    f"query LumenFulfillmentIds($id: ID!) {{ order(id: $id) {{ fulfillments(first: {_PAGE}) {{ id }} }} }}"
)
FULFILLMENT_QUERY = fulfillment_query()
ORDER_QUERY = order_query()
UPDATED_ORDERS_QUERY = updated_orders_query()
# Every document Lumen sends, with every field (scope-reduced variants select a subset): validated against the schema.
# The bulk export's documents are `shopify.bulk.BULK_DOCUMENTS`.
DOCUMENTS = (SHOP_QUERY, ORDERS_QUERY, NAME_QUERY, LINE_ITEMS_QUERY, FULFILLMENT_ORDERS_QUERY, FULFILLMENT_IDS_QUERY,
             FULFILLMENT_QUERY, ORDER_QUERY, UPDATED_ORDERS_QUERY, ORDER_EVENTS_QUERY, ORDER_STAMPS_QUERY)  # fmt: skip
# The scope-shaped builder of each document that depends on the granted scopes, and its full form.
_BUILDERS: dict[str, Callable[[frozenset[str] | None], str]] = {
    "LumenOrders": lambda scopes: orders_query("LumenOrders", _LIST_SHAPE, scopes),
    "LumenOrderByName": lambda scopes: orders_query("LumenOrderByName", _NAME_SHAPE, scopes),
    "LumenFulfillment": fulfillment_query,
    "LumenOrder": order_query,
    "LumenOrdersUpdated": updated_orders_query,
}

# Used until Shopify has told us a query's real requested cost; deliberately the pessimistic figure.
COST_ESTIMATES: dict[str, float] = {
    SHOP_QUERY: 4,
    ORDERS_QUERY: 867,
    NAME_QUERY: 348,
    LINE_ITEMS_QUERY: 253,
    FULFILLMENT_ORDERS_QUERY: 153,
    FULFILLMENT_IDS_QUERY: 251,
    FULFILLMENT_QUERY: 222,
    ORDER_QUERY: 173,
    UPDATED_ORDERS_QUERY: 348,
    ORDER_EVENTS_QUERY: 92,
    ORDER_STAMPS_QUERY: 252,
}
_UNKNOWN_QUERY_COST = 1000.0
EMPTY_RESULT_TTL_S = 10.0
# Searches remembered at once; the least recently used is forgotten first, so guessing numbers cannot grow memory.
CACHE_MAX_ENTRIES = 1000

# Shopify's search syntax gives these a meaning even inside quotes; a backslash makes them literal.
_SEARCH_SPECIALS = re.compile(r'([\\"():])')
_CUSTOMER_ID = re.compile(r"(?:gid://shopify/Customer/)?(\d+)")


def search_value(value: str) -> str:
    """A value for Shopify's search syntax: quoted, with `\\ " : ( )` escaped, so it is one literal term."""
    return '"' + _SEARCH_SPECIALS.sub(r"\\\1", value) + '"'


def name_search(number: str, *, email: str | None = None, hash_prefix: bool = True) -> str:
    """`name:"#1234" email:"jane@x.com"`: the search string for one order number, optionally narrowed by email."""
    terms = [f"name:{search_value(('#' if hash_prefix else '') + number)}"]
    if email is not None:
        terms.append(f"email:{search_value(email.strip())}")
    return " ".join(terms)


def name_term(name: str, *, email: str | None = None) -> str:
    """`name:"#BW1001" email:"jane@x.com"`: the search string for one full order name."""
    terms = [f"name:{search_value(name)}"]
    if email is not None:
        terms.append(f"email:{search_value(email.strip())}")
    return " ".join(terms)


def order_name_candidates(typed: str, prefix: str = "#", suffix: str = "") -> list[str]:
    """The order names a shopper may mean, in the shop's own format (`orderNumberFormatPrefix`/`Suffix`).

    '1001', '#1001', 'bw-1001', 'BW 1001 uk' all become '#BW1001-UK' in a shop that writes `#BW` before and `-UK`
    after the number (`formatted_order_name`). What does not reduce to digits (a name from before the shop changed
    its format, 'EN1001') is searched as written, with and without a '#'.
    """
    formatted = formatted_order_name(typed, prefix, suffix)
    if formatted is not None:
        return [formatted]
    written = typed.strip().lstrip("#").strip()
    return list(dict.fromkeys([f"#{written}", written])) if written else []


class ConnectionStatus(BaseModel):
    """The Shopify connection as the merchant sees it on /admin and /healthz. Never holds a token."""

    shop: str | None = None
    granted_scopes: list[str] | None = None  # None until Shopify has said
    missing_scopes: list[str] = Field(default_factory=list)
    older_orders_visible: bool | None = None  # `read_all_orders`: without it, orders over 60 days old are absent
    token_expires_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    denied_fields: list[str] = Field(default_factory=list)  # ACCESS_DENIED paths seen, with the access required
    # Name lookups that found nothing while orders over 60 days old are invisible (no `read_all_orders`): each may
    # be an old order rather than a wrong number. For the merchant only; a shopper hears "not found" either way.
    not_found_old_orders_hidden: int = 0


def _number(value: Any) -> float | None:
    # throttleStatus values arrive as ints or floats (`1000.0`); anything else means "not reported".
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _retry_after(response: httpx.Response) -> float | None:
    # Shopify sends seconds, possibly fractional ("2.0"); the HTTP-date form is not worth parsing for a chat wait.
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _has_next(connection: dict[str, Any]) -> bool:
    return bool((connection.get("pageInfo") or {}).get("hasNextPage"))


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def _parsed(node: dict[str, Any]) -> Order:
    try:
        return parse_order(node)
    except (ValidationError, KeyError, TypeError) as exc:
        raise OrderSourceUnavailable(f"Shopify returned an order Lumen cannot read: {exc}") from exc


_ORDER_GID = re.compile(r"(?:gid://shopify/Order/)?(\d+)")


def order_gid_of(order_id: str | int) -> str | None:
    """`gid://shopify/Order/123` for a GID or a numeric id (webhook payloads carry numbers); None for anything else."""
    match = _ORDER_GID.fullmatch(str(order_id).strip())
    return f"gid://shopify/Order/{match.group(1)}" if match and match.group(1).isascii() else None


def _stamp(value: Any) -> datetime | None:
    """An `updatedAt` as a UTC-aware time; None if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def search_time(moment: datetime) -> str:
    """A time for Shopify's search syntax (`updated_at:>'2026-12-01T09:30:00Z'`), in UTC; naive means UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _newest_first(orders: list[Order]) -> list[Order]:
    return sorted(orders, key=lambda o: o.processed_at or o.created_at, reverse=True)


@dataclass
class ShopifyStats:
    """What the client did, for tests and the throughput bench."""

    requests: int = 0  # HTTP requests sent
    retries: int = 0  # attempts after a failed one
    throttled: int = 0  # THROTTLED / 429 answers received
    proactive_waits: int = 0  # times a query was held back until the bucket had refilled enough
    waited_s: float = 0.0  # seconds slept, proactively and in backoff


@dataclass
class _Bucket:
    """Shopify's last word on our leaky bucket, and when we heard it (monotonic clock)."""

    maximum: float
    available: float
    restore_rate: float
    seen_at: float


@dataclass
class _Budget:
    """How much of one lookup's `max_wait_s` is spent: real time, or the sleeps asked for if those were faked."""

    started: float
    slept: float = 0.0

    def used(self, now: float) -> float:
        return max(now - self.started, self.slept)


@dataclass
class _CacheEntry:
    expires_at: float
    orders: tuple[Order, ...]


class _Retryable(Exception):
    """A failure worth another attempt; `retry_after` is the least Shopify asked us to wait."""

    def __init__(self, message: str, *, throttled: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.throttled = throttled
        self.retry_after = retry_after


class AccessRevoked(OrderSourceUnavailable):
    """Shopify refuses the app's token and will not renew it: the app is not (or no longer) installed on the shop, or
    its credentials are wrong. Shopify revokes an app's tokens the moment it is uninstalled."""


def _access_refused(exc: BaseException | None) -> bool:
    """Whether a token failure means the app has no access: a refused grant, a refresh token that is gone or expired,
    no token at all. Not when the token endpoint was unreachable or failed (5xx): then Shopify has not said; nor when
    the stored token cannot be decrypted (a wrong LUMEN_SECRET_KEY): then Lumen cannot say."""
    if not isinstance(exc, ShopifyAuthError) or isinstance(exc, TokenEndpointUnavailable | TokenUnreadable):
        return False
    return not isinstance(exc.__cause__, httpx.HTTPError)


class _Unauthorized(Exception):
    """HTTP 401: the token is no longer good; `stale` is the one that was refused."""

    def __init__(self, stale: SecretStr) -> None:
        super().__init__("Shopify answered HTTP 401")
        self.stale = stale


_SCOPE_IN_TEXT = re.compile(r"`?((?:read|write)_[a-z_]+)`?")


class _OutOfBudget(stop_base):
    """Stop retrying when the next backoff would take the lookup past `max_wait_s`."""

    def __init__(self, budget: _Budget, max_wait_s: float, clock: Callable[[], float]) -> None:
        self.budget, self.max_wait_s, self.clock = budget, max_wait_s, clock

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.budget.used(self.clock()) + retry_state.upcoming_sleep > self.max_wait_s


class ShopifyAdmin:
    """An `OrderSource` over the Shopify Admin GraphQL API (`read_orders`, fulfillment-order and customer scopes)."""

    def __init__(
        self,
        endpoint: str,
        access_token: str | TokenProvider,
        *,
        timeout_s: float = 10.0,
        max_wait_s: float = 8.0,
        now: datetime | None = None,
        client: httpx.AsyncClient | None = None,
        cache_ttl_s: float = 30.0,
        cache_max_entries: int = CACHE_MAX_ENTRIES,
        max_retries: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        # A plain string is a static token (legacy custom apps, tests); OAuth apps pass a renewing provider.
        self._auth: TokenProvider = StaticToken(access_token) if isinstance(access_token, str) else access_token
        self._timeout_s = timeout_s
        self._max_wait_s = max_wait_s
        self._now = now
        self._client = client
        self._owns_client = client is None
        self._cache_ttl_s = cache_ttl_s
        self._max_retries = max_retries
        self._sleep = sleep
        self._clock = clock
        self._backoff = wait_exponential_jitter(multiplier=0.25, max=4.0, jitter=0.25)
        self._shop: Shop | None = None
        self._shop_lock = asyncio.Lock()
        self._name_format = ("#", "")
        # Scopes Shopify says were granted (None until it has), minus any it has since denied a field for.
        self._granted: frozenset[str] | None = None
        self._queries: dict[tuple[str, frozenset[str] | None], str] = {}
        self.status = ConnectionStatus()
        self._cache: OrderedDict[str, _CacheEntry] = OrderedDict()  # least recently used first
        self._cache_max_entries = cache_max_entries
        self._expected_cost: dict[str, float] = {}
        self._bucket: _Bucket | None = None
        self._in_flight = 0.0  # points reserved by requests Shopify has not answered yet
        # One lookup at a time decides whether the bucket has room, so concurrent chats queue instead of all
        # spending the same points; responses update the bucket without the lock.
        self._gate = asyncio.Lock()
        self._bucket_changed = asyncio.Event()
        self.stats = ShopifyStats()

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- OrderSource -------------------------------------------------------------------------------------------

    async def shop(self) -> Shop:
        if self._shop is None:
            async with self._shop_lock:  # lookups that start together ask once
                if self._shop is None:
                    await self._learn_shop()
        assert self._shop is not None
        return self._shop

    async def app_installed(self) -> bool:
        """Whether Shopify still lets this app read the shop, asked now (never from memory): False when it refuses the
        app's token and a renewed one, as it does from the moment the app is uninstalled. OrderSourceUnavailable when
        Shopify cannot say (unreachable, throttled, erroring)."""
        try:
            await self._graphql(SHOP_QUERY)
        except AccessRevoked:
            return False
        except OrderSourceUnavailable as exc:
            # An expired token is renewed before any request, so after an uninstall the refusal comes from the token
            # endpoint (or there is no token at all), not as a 401 on the query.
            if _access_refused(exc.__cause__):
                return False
            raise
        return True

    async def _learn_shop(self) -> None:
        data = await self._graphql(SHOP_QUERY)
        node = data.get("shop")
        if not isinstance(node, dict):
            raise OrderSourceUnavailable("Shopify returned no shop")
        self._name_format = (
            str(node.get("orderNumberFormatPrefix") or ""),
            str(node.get("orderNumberFormatSuffix") or ""),
        )
        installation = data.get("currentAppInstallation")
        handles = [s.get("handle") for s in (installation or {}).get("accessScopes") or [] if isinstance(s, dict)]
        if installation:
            self._set_granted(frozenset(h for h in handles if isinstance(h, str)))
        elif self._auth.granted_scopes is not None:
            self._set_granted(self._auth.granted_scopes)
        self._shop = parse_shop(node)
        self.status.shop = self._shop.domain or None

    async def check(self) -> ConnectionStatus:
        """Ask Shopify again who we are and what we may read: for /admin and /healthz."""
        self._shop = None
        with contextlib.suppress(OrderSourceError):  # recorded in `status.last_error`
            await self.shop()
        return self.status

    def _set_granted(self, scopes: frozenset[str]) -> None:
        self._granted = with_implied(scopes)
        self.status.granted_scopes = sorted(self._granted)
        self.status.missing_scopes = sorted(missing_scopes(self._granted))
        self.status.older_orders_visible = "read_all_orders" in self._granted

    def _query(self, name: str) -> str:
        """The document `name` for the scopes granted so far (built once per scope set)."""
        key = (name, self._granted)
        if key not in self._queries:
            build = _BUILDERS[name]
            built = build(self._granted)
            # A reduced query costs at most what the full one does: the full query's estimate is a safe first guess.
            COST_ESTIMATES.setdefault(built, COST_ESTIMATES[build(None)])
            self._queries[key] = built
        return self._queries[key]

    @property
    def granted_scopes(self) -> frozenset[str] | None:
        """The scopes the shop granted (write scopes counting as read), minus any since denied; None until known."""
        return self._granted

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        # `held_only` asks as usual: this client keeps no copy of its own (its cache keeps a read for seconds).
        number = order_key(name)
        if not number:
            return []
        return await self._orders_named(number, email)

    async def _orders_named(self, typed: str, email: str | None) -> list[Order]:
        await self.shop()  # the shop's order-name format, and the scopes that shape the query
        # Every search shares one wait budget: `max_wait_s` is what a shopper waits, not what each query may.
        budget = _Budget(started=self._clock())
        searched: dict[str, Order] = {}
        # Every candidate is searched, found or not: stopping at the first hit would make a real order cost fewer
        # Shopify queries (and less time) than a made-up one, telling a guesser which numbers exist.
        for candidate in order_name_candidates(typed, *self._name_format):
            query = self._query("LumenOrderByName")
            for order in await self._orders(name_term(candidate, email=email), query, budget):
                searched.setdefault(order.id, order)
        found = self._matching(list(searched.values()), typed, email)
        if not found and self._granted is not None and "read_all_orders" not in self._granted:
            self.status.not_found_old_orders_hidden += 1
        return found

    async def orders_by_email(self, email: str, *, limit: int = 5) -> list[Order]:
        if not email.strip():
            return []
        await self.shop()
        found = await self._orders(f"email:{search_value(email.strip())}", self._query("LumenOrders"))
        # The search is tokenized: keep only exact matches (of the order's own email, which is what it searched).
        return _newest_first([o for o in found if o.has_email(email, checkout_only=True)])[:limit]

    async def orders_by_customer(self, customer_id: str, *, limit: int = 5) -> list[Order]:
        """The customer's newest orders; at most five, what one query fetches."""
        match = _CUSTOMER_ID.fullmatch(customer_id.strip())
        if match is None or limit <= 0:
            return []  # not a Shopify customer id: nothing could match, so don't ask
        numeric = match.group(1)
        await self.shop()
        if not _may_read(self._granted, "read_customers"):
            # Without `read_customers` no order says whose it is, and only a checked owner may see one.
            return []
        found = await self._orders(f"customer_id:{numeric}", self._query("LumenOrders"))
        mine = [o for o in found if o.customer_id and o.customer_id.rsplit("/", 1)[-1] == numeric]
        return _newest_first(mine)[:limit]

    def invalidate(self, order_ref: str | None = None) -> None:
        if order_ref is None:
            self._cache.clear()
            return
        ref = order_ref.strip()
        number = order_key(ref)
        for key in [
            key
            for key, entry in self._cache.items()
            if any(o.id == ref or o.name == ref or order_name_matches(o.name, number) for o in entry.orders)
        ]:
            del self._cache[key]

    # --- lookups -----------------------------------------------------------------------------------------------

    def _matching(self, orders: list[Order], typed: str, email: str | None) -> list[Order]:
        # Shopify's search is tokenized and order names need not be unique: only the orders the shopper's reference
        # names reach a shopper, read the way a store file reads it.
        prefix, suffix = self._name_format
        named = set(matching_order_names(typed, {o.name for o in orders}, prefix=prefix, suffix=suffix))
        kept = [o for o in orders if o.name in named]
        if email is not None:
            kept = [o for o in kept if o.has_email(email, checkout_only=True)]
        return _newest_first(kept)

    async def _orders(self, search: str, query: str, budget: _Budget | None = None) -> list[Order]:
        entry = self._cache.get(search)
        if entry is not None and entry.expires_at > self._clock():
            self._cache.move_to_end(search)
            return list(entry.orders)
        data = await self._graphql(query, {"q": search}, budget)
        connection = data.get("orders")
        if not isinstance(connection, dict):
            raise OrderSourceUnavailable("Shopify returned no orders connection")
        nodes = connection.get("nodes")
        if nodes is None:
            nodes = [edge.get("node") for edge in connection.get("edges") or []]
        shape = _NAME_SHAPE if query.startswith("query LumenOrderByName") else _LIST_SHAPE
        nodes = [await self._whole(node, shape, budget) for node in nodes if isinstance(node, dict)]
        orders = [_parsed(node) for node in nodes]
        # Empty answers are cached too, briefly: otherwise a repeated question about a real order (cached) and about
        # a made-up one (asked again) would take measurably different times and tell which exists. Briefly, because a
        # just-placed order can take a moment to reach Shopify's search index.
        ttl = self._cache_ttl_s if orders else min(self._cache_ttl_s, EMPTY_RESULT_TTL_S)
        if ttl > 0:
            self._cache[search] = _CacheEntry(self._clock() + ttl, tuple(orders))
            self._cache.move_to_end(search)
            while len(self._cache) > self._cache_max_entries:
                self._cache.popitem(last=False)
        return orders

    # --- the order mirror: one order by id, orders changed since a time, any document -----------------------------

    async def order_node_by_id(self, order_id: str) -> dict[str, Any] | None:
        """One order node, whole (every item and package, each package's newest carrier events), in the shape
        `parse_order` reads, with `updatedAt`; None when Shopify has no such order (or hides it: older than 60 days
        without `read_all_orders`). `order_id` is a GID or a numeric id. Read from Shopify's database, not the search
        index, so it is current the moment a webhook says the order changed; cached searches holding it are dropped."""
        gid = order_gid_of(order_id)
        if gid is None:
            return None
        await self.shop()
        budget = _Budget(started=self._clock())
        node = _dig(await self._graphql(self._query("LumenOrder"), {"id": gid}, budget), "order")
        if not isinstance(node, dict):
            return None
        whole = await self._whole(node, _ORDER_SHAPE, budget)
        self.invalidate(gid)
        return whole

    async def order_events_node(self, order_id: str) -> dict[str, Any] | None:
        """A held order's packages with their ids, carrier events and items, and the order's `updatedAt` and package
        count (`ORDER_EVENTS_QUERY`): what a bulk export could not give, at a fraction of a whole order's cost.
        Nothing is paged: the caller reads the whole order instead when a page was not enough. None when Shopify has
        no such order."""
        gid = order_gid_of(order_id)
        if gid is None:
            return None
        node = _dig(await self._graphql(ORDER_EVENTS_QUERY, {"id": gid}), "order")
        return node if isinstance(node, dict) else None

    def bucket_level(self) -> tuple[float, float] | None:
        """(points the bucket should hold now, its size), from Shopify's last `throttleStatus` restored since and
        less the points of requests still unanswered; None until Shopify has answered once."""
        bucket = self._bucket
        return None if bucket is None else (self._available(bucket), bucket.maximum)

    async def order_by_id(self, order_id: str) -> Order | None:
        """`order_node_by_id`, parsed."""
        node = await self.order_node_by_id(order_id)
        return None if node is None else _parsed(node)

    async def order_nodes_updated_since(self, since: datetime, *, limit: int = 250) -> list[dict[str, Any]]:
        """Nodes of the orders changed after `since` (`updated_at:>`), oldest change first, at most `limit`: to go
        on, ask again from the last node's `updatedAt`. Pages of two orders, each page a query of its own."""
        await self.shop()
        search = f"updated_at:>'{search_time(since)}'"
        query = self._query("LumenOrdersUpdated")
        found: list[dict[str, Any]] = []
        after: str | None = None
        while len(found) < limit:
            budget = _Budget(started=self._clock())
            connection = (await self._graphql(query, {"q": search, "after": after}, budget)).get("orders")
            if not isinstance(connection, dict):
                raise OrderSourceUnavailable("Shopify returned no orders connection")
            for node in connection.get("nodes") or []:
                if isinstance(node, dict):
                    found.append(await self._whole(node, _UPDATED_SHAPE, budget))
            if not _has_next(connection):
                break
            after = (connection.get("pageInfo") or {}).get("endCursor")
        return found[:limit]

    async def order_stamps_updated_since(self, since: datetime) -> list[tuple[str, datetime]]:
        """(id, updatedAt) of the orders changed after `since`, oldest change first, one page (`_STAMPS_PAGE`): to go
        on, ask again from the last one's `updatedAt`. About one point an order, where reading it costs tens."""
        await self.shop()
        search = f"updated_at:>'{search_time(since)}'"
        connection = (await self._graphql(ORDER_STAMPS_QUERY, {"q": search, "after": None})).get("orders")
        if not isinstance(connection, dict):
            raise OrderSourceUnavailable("Shopify returned no orders connection")
        found = []
        for node in connection.get("nodes") or []:
            stamp = _stamp(node.get("updatedAt")) if isinstance(node, dict) else None
            if stamp is not None and isinstance(node.get("id"), str):
                found.append((node["id"], stamp))
        return found

    async def orders_updated_since(self, since: datetime, *, limit: int = 250) -> list[Order]:
        """`order_nodes_updated_since`, parsed: every order changed after `since`, oldest change first."""
        return [_parsed(node) for node in await self.order_nodes_updated_since(since, limit=limit)]

    async def execute(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """`data` of any document (the bulk export's mutation and polls), through the same token, retries and
        rate-limit accounting as every lookup."""
        return await self._graphql(document, variables)

    # --- whole orders: what did not fit in the first page ---------------------------------------------------------

    async def _whole(self, node: dict[str, Any], shape: _Shape, budget: _Budget | None) -> dict[str, Any]:
        """The order with every line item, fulfillment order and package, fetching what its first page left out."""
        order_id = node.get("id")
        if not isinstance(order_id, str):
            return node
        node = dict(node)
        for key, query in (("lineItems", LINE_ITEMS_QUERY), ("fulfillmentOrders", FULFILLMENT_ORDERS_QUERY)):
            connection = node.get(key)
            if isinstance(connection, dict) and _has_next(connection):
                node[key] = await self._rest_of(connection, query, {"id": order_id}, ("order", key), budget)
        node["fulfillments"] = await self._all_fulfillments(node, order_id, shape, budget)
        return node

    async def _all_fulfillments(
        self, node: dict[str, Any], order_id: str, shape: _Shape, budget: _Budget | None
    ) -> list[dict[str, Any]]:
        listed = [f for f in node.get("fulfillments") or [] if isinstance(f, dict)]
        count = (node.get("fulfillmentsCount") or {}).get("count")
        if isinstance(count, int) and count > len(listed):
            # `fulfillments` is a plain list (no cursor): learn every id, then read the missing packages one by one.
            data = await self._graphql(FULFILLMENT_IDS_QUERY, {"id": order_id}, budget)
            ids = [f.get("id") for f in _dig(data, "order", "fulfillments") or [] if isinstance(f, dict)]
            known = {f.get("id"): f for f in listed}
            listed = [known.get(fid) or {"id": fid, "trackingInfo": [None] * shape.tracking} for fid in ids]
        whole = []
        for fulfillment in listed:
            fid = fulfillment.get("id")
            if isinstance(fid, str) and len(fulfillment.get("trackingInfo") or []) >= shape.tracking:
                fulfillment = await self._fulfillment(fid, budget)  # maybe more tracking numbers than were asked
            items = fulfillment.get("fulfillmentLineItems")
            if isinstance(fid, str) and isinstance(items, dict) and _has_next(items):
                query = self._query("LumenFulfillment")
                rest = await self._rest_of(items, query, {"id": fid}, ("fulfillment", "fulfillmentLineItems"), budget)
                fulfillment = {**fulfillment, "fulfillmentLineItems": rest}
            whole.append(fulfillment)
        return whole

    async def _fulfillment(self, fulfillment_id: str, budget: _Budget | None) -> dict[str, Any]:
        query = self._query("LumenFulfillment")
        node = _dig(await self._graphql(query, {"id": fulfillment_id, "after": None}, budget), "fulfillment")
        if not isinstance(node, dict):
            raise OrderSourceUnavailable("Shopify returned no fulfillment for an order's package")
        items = node.get("fulfillmentLineItems")
        if isinstance(items, dict) and _has_next(items):
            path = ("fulfillment", "fulfillmentLineItems")
            rest = await self._rest_of(items, query, {"id": fulfillment_id}, path, budget)
            node = {**node, "fulfillmentLineItems": rest}
        return node

    async def _rest_of(
        self,
        connection: dict[str, Any],
        query: str,
        variables: dict[str, Any],
        path: tuple[str, ...],
        budget: _Budget | None,
    ) -> dict[str, Any]:
        """Every node of a connection, following `endCursor` until Shopify says there is no next page."""
        nodes = list(connection.get("nodes") or [])
        page = connection
        while _has_next(page):
            cursor = (page.get("pageInfo") or {}).get("endCursor")
            found = _dig(await self._graphql(query, {**variables, "after": cursor}, budget), *path)
            if not isinstance(found, dict):
                raise OrderSourceUnavailable(f"Shopify returned no {path[-1]} page")
            nodes.extend(found.get("nodes") or [])
            page = found
        return {"nodes": nodes, "pageInfo": {"hasNextPage": False}}

    # --- transport, retries and the leaky bucket ----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        return self._client

    async def _graphql(
        self, query: str, variables: dict[str, Any] | None = None, budget: _Budget | None = None
    ) -> dict[str, Any]:
        """`data` of one query; after a 401 the token is renewed (once, shared with concurrent requests) and the
        query sent again."""
        budget = budget or _Budget(started=self._clock())
        try:
            try:
                data = await self._graphql_once(query, variables, budget)
            except _Unauthorized as exc:
                await self._renew(exc.stale)
                try:
                    data = await self._graphql_once(query, variables, budget)
                except _Unauthorized:
                    raise AccessRevoked(
                        "Shopify answered HTTP 401 again with a renewed token: the app may have been uninstalled"
                    ) from None
        except OrderSourceError as exc:
            self.status.last_error = str(exc)
            raise
        self.status.last_success_at = datetime.now(UTC)
        self.status.token_expires_at = self._auth.expires_at
        return data

    async def _renew(self, stale: SecretStr) -> None:
        try:
            await self._auth.refresh(stale)
        except ShopifyAuthError as exc:
            if not _access_refused(exc):  # the token endpoint was not reached, or failed: Shopify said nothing
                raise OrderSourceUnavailable(f"Shopify answered HTTP 401: {exc}") from exc
            raise AccessRevoked(f"Shopify answered HTTP 401: {exc}") from exc

    async def _graphql_once(self, query: str, variables: dict[str, Any] | None, budget: _Budget) -> dict[str, Any]:
        """`data` of one query, after waiting for the bucket and retrying transient failures within `max_wait_s`."""

        async def sleep(seconds: float) -> None:
            await self._sleep_within(budget, seconds)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(_Retryable),
            wait=self._wait,
            stop=stop_any(
                stop_after_attempt(self._max_retries + 1), _OutOfBudget(budget, self._max_wait_s, self._clock)
            ),
            sleep=sleep,
            before_sleep=self._note_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(query, variables, budget)
        except _Retryable as exc:
            error = OrderSourceThrottled if exc.throttled else OrderSourceUnavailable
            spent = budget.used(self._clock())
            raise error(f"{exc} (gave up after {spent:.1f}s of the {self._max_wait_s:g}s a shopper may wait)") from exc
        raise AssertionError("tenacity neither returned nor raised")  # pragma: no cover

    def _wait(self, retry_state: RetryCallState) -> float:
        # Exponential backoff with jitter, but never shorter than what Shopify asked for (Retry-After, or the time
        # the bucket needs to refill for a THROTTLED query).
        backoff = self._backoff(retry_state)
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        hint = exc.retry_after if isinstance(exc, _Retryable) and exc.retry_after is not None else 0.0
        return max(backoff, hint)

    def _note_retry(self, retry_state: RetryCallState) -> None:
        self.stats.retries += 1
        outcome = retry_state.outcome
        log.info("Shopify: retrying in %.2fs after %s", retry_state.upcoming_sleep, outcome and outcome.exception())

    async def _sleep_within(self, budget: _Budget, seconds: float) -> None:
        budget.slept += seconds
        self.stats.waited_s += seconds
        await self._sleep(seconds)

    async def _attempt(self, query: str, variables: dict[str, Any] | None, budget: _Budget) -> dict[str, Any]:
        try:
            token = await self._auth.token()
        except ShopifyAuthError as exc:
            # For the merchant's log and /admin (status.last_error); a shopper hears only that orders are unreachable.
            log.error("Shopify: %s", exc)
            raise OrderSourceUnavailable(str(exc)) from exc
        cost = self._expected_cost.get(query, COST_ESTIMATES.get(query, _UNKNOWN_QUERY_COST))
        reserved = await self._reserve(cost, budget)
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        headers = {"X-Shopify-Access-Token": token.get_secret_value(), "Accept": "application/json"}
        try:
            self.stats.requests += 1
            response = await self._http().post(self.endpoint, json=body, headers=headers, timeout=self._timeout_s)
        except httpx.TimeoutException as exc:
            raise _Retryable(f"Shopify timed out ({type(exc).__name__})", throttled=False) from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"Shopify unreachable ({type(exc).__name__}: {exc})", throttled=False) from exc
        finally:
            self._in_flight -= reserved
            self._bucket_changed.set()
        if response.status_code == 401:
            raise _Unauthorized(token)
        return self._read(response, query)

    async def _reserve(self, cost: float, budget: _Budget) -> float:
        """Wait until the bucket should hold `cost` points, then count them as spent until Shopify answers."""
        try:
            async with asyncio.timeout(max(self._max_wait_s - budget.used(self._clock()), 0)):
                await self._gate.acquire()
        except TimeoutError:
            raise OrderSourceThrottled(
                f"queued behind other Shopify lookups for longer than the {self._max_wait_s:g}s a shopper may wait"
            ) from None
        try:
            while True:
                bucket = self._bucket
                if bucket is None:
                    if self._in_flight <= 0:
                        break  # first request: it learns the bucket's size for everyone else
                    # Let the first request report the bucket rather than send a burst blind.
                    self._bucket_changed.clear()
                    try:
                        async with asyncio.timeout(max(self._max_wait_s - budget.used(self._clock()), 0)):
                            await self._bucket_changed.wait()
                    except TimeoutError:
                        break  # that request is slow; go ahead and let Shopify be the judge
                    continue
                needed = min(cost, bucket.maximum)  # a query larger than the bucket can only be tried
                deficit = needed - self._available(bucket)
                if deficit <= 0:
                    break
                rate = bucket.restore_rate
                # Whole milliseconds, rounded up: whole seconds would over-wait on fast-refilling plans.
                wait = math.ceil(deficit / rate * 1000) / 1000 if rate > 0 else math.inf
                remaining = self._max_wait_s - budget.used(self._clock())
                self.stats.proactive_waits += 1
                if self._in_flight > 0 and remaining > 0:
                    # Requests in flight hold reserved points, and Shopify refunds most of a query's requested
                    # cost when it answers: look again at the next answer rather than sleep as if they were spent.
                    self._bucket_changed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(min(wait, remaining)):
                            await self._bucket_changed.wait()
                    continue
                if wait > remaining:
                    raise OrderSourceThrottled(
                        f"Shopify's rate limit needs {wait:.1f}s to refill, more than a shopper may wait"
                    )
                await self._sleep_within(budget, wait)
            self._in_flight += cost
            return cost
        finally:
            self._gate.release()

    def _available(self, bucket: _Bucket) -> float:
        # Shopify measured `available` before its answer reached us, so restoring from `seen_at` under-counts:
        # the safe direction. Points reserved by unanswered requests are not there to spend.
        restored = bucket.available + (self._clock() - bucket.seen_at) * bucket.restore_rate
        return min(bucket.maximum, restored) - self._in_flight

    def _observe(self, query: str, payload: dict[str, Any]) -> dict[str, Any]:
        extensions = payload.get("extensions")
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return {}
        requested = _number(cost.get("requestedQueryCost"))
        if requested is not None:
            self._expected_cost[query] = requested
        status = cost.get("throttleStatus")
        if isinstance(status, dict):
            maximum = _number(status.get("maximumAvailable"))
            available = _number(status.get("currentlyAvailable"))
            rate = _number(status.get("restoreRate"))
            if maximum is not None and available is not None and rate is not None:
                self._bucket = _Bucket(maximum, available, rate, seen_at=self._clock())
                self._bucket_changed.set()
        return cost

    def _read(self, response: httpx.Response, query: str) -> dict[str, Any]:
        status = response.status_code
        if status == 429:
            self.stats.throttled += 1
            raise _Retryable(
                "Shopify answered 429 Too Many Requests", throttled=True, retry_after=_retry_after(response)
            )
        if status >= 500:
            raise _Retryable(f"Shopify answered HTTP {status}", throttled=False, retry_after=_retry_after(response))
        if status != 200:
            # 401/403/404 and friends: a configuration problem no retry will fix. The body never holds the token.
            raise OrderSourceUnavailable(f"Shopify answered HTTP {status}: {response.text[:200]}")
        try:
            payload = response.json()
        except ValueError as exc:
            raise OrderSourceUnavailable("Shopify answered with something that is not JSON") from exc
        if not isinstance(payload, dict):
            raise OrderSourceUnavailable("Shopify answered with an unexpected JSON shape")
        cost = self._observe(query, payload)
        errors = payload.get("errors")
        if errors:
            # Shopify's GraphQL errors are a list of objects; auth-style errors can be a bare string.
            listed = errors if isinstance(errors, list) else [errors]
            codes = {(e.get("extensions") or {}).get("code") for e in listed if isinstance(e, dict)}
            if "THROTTLED" in codes:
                self.stats.throttled += 1
                raise _Retryable("Shopify throttled the query", throttled=True, retry_after=self._refill_time(cost))
            # A denied field is left out of the next query, whether or not this answer is usable.
            self._note_denied([e for e in listed if isinstance(e, dict)])
            data = payload.get("data")
            if isinstance(data, dict) and any(value is not None for value in data.values()):
                # Partial data: a denied field is null and the rest is the answer; what is missing reads as unknown.
                return data
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in listed)
            raise OrderSourceUnavailable(f"Shopify GraphQL error: {messages[:300]}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise OrderSourceUnavailable("Shopify answered without data")
        return data

    def _note_denied(self, errors: list[dict[str, Any]]) -> None:
        """Remember which fields Shopify denied and stop asking for them: the next query leaves them out."""
        revoked: set[str] = set()
        for error in errors:
            extensions = error.get("extensions") or {}
            if extensions.get("code") != "ACCESS_DENIED":
                continue
            required = str(extensions.get("requiredAccess") or error.get("message") or "")
            path = ".".join(str(p) for p in error.get("path") or [])
            log.warning("Shopify denied %s (%s)", path or "a field", required)
            entry = f"{path}: {required}" if path else required
            if entry not in self.status.denied_fields:
                self.status.denied_fields = [*self.status.denied_fields, entry][-20:]
            revoked |= set(_SCOPE_IN_TEXT.findall(required))
        if revoked and self._granted is not None and revoked & self._granted:
            self._set_granted(self._granted - revoked)

    @staticmethod
    def _refill_time(cost: dict[str, Any]) -> float:
        """Seconds until a THROTTLED query fits; 1 s (Shopify's recommended backoff) when it didn't say."""
        raw = cost.get("throttleStatus")
        status: dict[str, Any] = raw if isinstance(raw, dict) else {}
        requested = _number(cost.get("requestedQueryCost"))
        available = _number(status.get("currentlyAvailable"))
        rate = _number(status.get("restoreRate"))
        if requested is None or available is None or not rate:
            return 1.0
        return max(requested - available, 0.0) / rate
