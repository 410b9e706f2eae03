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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_exponential_jitter

from shopify.domain import Order, Shop, parse_order, parse_shop
from shopify.names import order_key, order_name_matches
from shopify.source import OrderSourceThrottled, OrderSourceUnavailable

if TYPE_CHECKING:
    from config import Settings

log = logging.getLogger(__name__)

SHOP_QUERY = "query LumenShop { shop { name myshopifyDomain ianaTimezone currencyCode contactEmail } }"

# Page sizes keep the requested cost under Shopify's 1,000-point ceiling for one query, counted the conservative
# way (connection = 2 + first x node): 852 points for five orders, 342 for two. Larger `first:` values (50 line
# items, 10 fulfillments of 50 items each) would ask for several thousand points and be refused; tests pin the figure.
_ORDERS_TEMPLATE = """\
query {name}($q: String!) {{
  orders(first: {first}, query: $q, sortKey: PROCESSED_AT, reverse: true) {{
    nodes {{
      id name email createdAt processedAt cancelledAt cancelReason closedAt
      displayFinancialStatus displayFulfillmentStatus returnStatus
      currentTotalPriceSet {{ shopMoney {{ amount currencyCode }} }}
      customer {{ id displayName defaultEmailAddress {{ emailAddress }} }}
      shippingAddress {{ city provinceCode zip countryCodeV2 }}
      lineItems(first: 25) {{ nodes {{ name quantity sku unfulfilledQuantity }} }}
      fulfillmentOrders(first: 5) {{
        nodes {{
          status requestStatus fulfillAt
          fulfillmentHolds {{ reason }}
          deliveryMethod {{ methodType maxDeliveryDateTime }}
        }}
      }}
      fulfillments(first: 3) {{
        name status displayStatus createdAt inTransitAt deliveredAt estimatedDeliveryAt
        service {{ serviceName }}
        location {{ name }}
        trackingInfo(first: 3) {{ company number url }}
        fulfillmentLineItems(first: 10) {{ nodes {{ quantity lineItem {{ name }} }} }}
        events(first: 5, reverse: true) {{ nodes {{ status happenedAt message city province country }} }}
      }}
      refunds(first: 5) {{ createdAt totalRefundedSet {{ shopMoney {{ amount currencyCode }} }} }}
    }}
  }}
}}
"""
# A customer's recent orders, and one order by name: names are meant to be unique, so two leave room for a
# duplicate while keeping the requested cost (which must fit the bucket before Shopify runs a query) low.
ORDERS_QUERY = _ORDERS_TEMPLATE.format(name="LumenOrders", first=5)
NAME_QUERY = _ORDERS_TEMPLATE.format(name="LumenOrderByName", first=2)


# Used until Shopify has told us a query's real requested cost; deliberately the pessimistic figure.
COST_ESTIMATES: dict[str, float] = {ORDERS_QUERY: 852, NAME_QUERY: 342, SHOP_QUERY: 1}
_UNKNOWN_QUERY_COST = 1000.0
EMPTY_RESULT_TTL_S = 10.0

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
        access_token: str,
        *,
        timeout_s: float = 10.0,
        max_wait_s: float = 8.0,
        now: datetime | None = None,
        client: httpx.AsyncClient | None = None,
        cache_ttl_s: float = 30.0,
        max_retries: int = 4,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = endpoint
        self._token = access_token
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
        self._cache: dict[str, _CacheEntry] = {}
        self._expected_cost: dict[str, float] = {}
        self._bucket: _Bucket | None = None
        self._in_flight = 0.0  # points reserved by requests Shopify has not answered yet
        # One lookup at a time decides whether the bucket has room, so concurrent chats queue instead of all
        # spending the same points; responses update the bucket without the lock.
        self._gate = asyncio.Lock()
        self._bucket_changed = asyncio.Event()
        self.stats = ShopifyStats()

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> ShopifyAdmin:
        if not settings.uses_shopify or settings.shopify_access_token is None:
            raise ValueError(
                "Shopify is not configured: set SHOPIFY_SHOP (or SHOPIFY_API_URL) and SHOPIFY_ACCESS_TOKEN"
            )
        options: dict[str, Any] = {
            "timeout_s": settings.shopify_timeout_s,
            "max_wait_s": settings.shopify_max_wait_s,
            "now": settings.lumen_now,
        }
        return cls(settings.shopify_endpoint, settings.shopify_access_token.get_secret_value(), **(options | kwargs))

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
            data = await self._graphql(SHOP_QUERY)
            node = data.get("shop")
            if not isinstance(node, dict):
                raise OrderSourceUnavailable("Shopify returned no shop")
            self._shop = parse_shop(node)
        return self._shop

    def now(self) -> datetime:
        return self._now or datetime.now(UTC)

    async def orders_by_name(self, name: str, *, email: str | None = None) -> list[Order]:
        number = order_key(name)
        if not number:
            return []
        # Both searches share one wait budget: `max_wait_s` is what a shopper waits, not what each query may.
        budget = _Budget(started=self._clock())
        found = self._matching(await self._orders(name_search(number, email=email), NAME_QUERY, budget), number, email)
        if not found:
            # Stores with prefixes or suffixes (EN1001, 1001-A) name orders without the '#'.
            found = self._matching(
                await self._orders(name_search(number, email=email, hash_prefix=False), NAME_QUERY, budget),
                number,
                email,
            )
        return found

    async def orders_by_email(self, email: str, *, limit: int = 5) -> list[Order]:
        if not email.strip():
            return []
        found = await self._orders(f"email:{search_value(email.strip())}", ORDERS_QUERY)
        # The search is tokenized: keep only exact matches (of the order's own email, which is what it searched).
        return _newest_first([o for o in found if o.has_email(email, checkout_only=True)])[:limit]

    async def orders_by_customer(self, customer_id: str, *, limit: int = 5) -> list[Order]:
        """The customer's newest orders; at most five, what one query fetches."""
        match = _CUSTOMER_ID.fullmatch(customer_id.strip())
        if match is None or limit <= 0:
            return []  # not a Shopify customer id: nothing could match, so don't ask
        numeric = match.group(1)
        found = await self._orders(f"customer_id:{numeric}", ORDERS_QUERY)
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

    @staticmethod
    def _matching(orders: list[Order], number: str, email: str | None) -> list[Order]:
        # Shopify's search is tokenized and order names need not be unique: only exact matches reach a shopper.
        kept = [o for o in orders if order_name_matches(o.name, number)]
        if email is not None:
            kept = [o for o in kept if o.has_email(email, checkout_only=True)]
        return _newest_first(kept)

    async def _orders(self, search: str, query: str, budget: _Budget | None = None) -> list[Order]:
        entry = self._cache.get(search)
        if entry is not None and entry.expires_at > self._clock():
            return list(entry.orders)
        data = await self._graphql(query, {"q": search}, budget)
        connection = data.get("orders")
        if not isinstance(connection, dict):
            raise OrderSourceUnavailable("Shopify returned no orders connection")
        nodes = connection.get("nodes")
        if nodes is None:
            nodes = [edge.get("node") for edge in connection.get("edges") or []]
        try:
            orders = [parse_order(node) for node in nodes if isinstance(node, dict)]
        except (ValidationError, KeyError, TypeError) as exc:
            raise OrderSourceUnavailable(f"Shopify returned an order Lumen cannot read: {exc}") from exc
        # Empty answers are cached too, briefly: otherwise a repeated question about a real order (cached) and about
        # a made-up one (asked again) would take measurably different times and tell which exists. Briefly, because a
        # just-placed order can take a moment to reach Shopify's search index.
        ttl = self._cache_ttl_s if orders else min(self._cache_ttl_s, EMPTY_RESULT_TTL_S)
        if ttl > 0:
            self._cache[search] = _CacheEntry(self._clock() + ttl, tuple(orders))
        return orders

    # --- transport, retries and the leaky bucket ----------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout_s)
        return self._client

    async def _graphql(
        self, query: str, variables: dict[str, Any] | None = None, budget: _Budget | None = None
    ) -> dict[str, Any]:
        """`data` of one query, after waiting for the bucket and retrying transient failures within `max_wait_s`."""
        budget = budget or _Budget(started=self._clock())

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
        cost = self._expected_cost.get(query, COST_ESTIMATES.get(query, _UNKNOWN_QUERY_COST))
        reserved = await self._reserve(cost, budget)
        body: dict[str, Any] = {"query": query, "variables": variables or {}}
        headers = {"X-Shopify-Access-Token": self._token, "Accept": "application/json"}
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
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in listed)
            raise OrderSourceUnavailable(f"Shopify GraphQL error: {messages[:300]}")
        data = payload.get("data")
        if not isinstance(data, dict):
            raise OrderSourceUnavailable("Shopify answered without data")
        return data

    @staticmethod
    def _refill_time(cost: dict[str, Any]) -> float:
        """Seconds until a THROTTLED query fits; 1 s (Shopify's recommended backoff) when it didn't say."""
        status = cost.get("throttleStatus") if isinstance(cost.get("throttleStatus"), dict) else {}
        requested = _number(cost.get("requestedQueryCost"))
        available = _number(status.get("currentlyAvailable"))
        rate = _number(status.get("restoreRate"))
        if requested is None or available is None or not rate:
            return 1.0
        return max(requested - available, 0.0) / rate
