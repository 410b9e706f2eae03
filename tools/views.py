"""What a shopper may see of an order: the only shapes that leave the tools.

No street address, phone, payment details, cancel reason, tags, notes or hold reasons are carried here, so no
model (LLM or playbook) can repeat them. Times are given in the store's time zone.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from functools import lru_cache
from typing import Literal, overload
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import DateTimeFormat, format_date, format_time, get_time_format
from pydantic import BaseModel, Field

from shopify.domain import Fulfillment, FulfillmentEvent, Order, Shop
from shopify.shop_locale import babel_locale


class When(BaseModel):
    """A moment in the store's time zone, pre-formatted so nobody has to do date arithmetic."""

    iso: str = Field(description="ISO 8601 with the store's UTC offset.")
    date: str = Field(description="e.g. 'Tuesday, February 24, 2026'.")
    time: str = Field(description="e.g. '2:14 PM'.")


# CLDR puts a narrow no-break space (U+202F) before AM/PM; shoppers' replies, logs and snapshots use a plain space,
# and some chat clients and terminals render U+202F as a box.
_NARROW_SPACE = "\u202f"


@overload
def when(moment: datetime, shop: Shop) -> When: ...
@overload
def when(moment: None, shop: Shop) -> None: ...
@overload
def when(moment: datetime | None, shop: Shop) -> When | None: ...
def when(moment: datetime | None, shop: Shop) -> When | None:
    """`moment` in the shop's time zone, written the way its locale writes dates and times."""
    if moment is None:
        return None
    iso, day, time = _written(moment, shop.timezone, shop.locale)
    return When(iso=iso, date=day, time=time)


# A turn writes the same moments more than once (the order's, then its packages'; each request of a conversation).
@lru_cache(maxsize=1024)
def _written(moment: datetime, timezone: str, locale: str) -> tuple[str, str, str]:
    local = moment.astimezone(ZoneInfo(timezone))
    return local.isoformat(), _day(local.date(), locale), _clock(local, locale)


# Babel's formatting is most of a moment's cost, and an order's moments (placed, fulfilled, shipped, scanned) fall on
# a shop's few recent days and at its minutes of the day, which its other orders share: each is written once per
# locale. Bounded: days for a few years of a few locales, every minute of a day for a few locales.
@lru_cache(maxsize=4096)
def _day(day: date, locale: str) -> str:
    # The same as formatting the moment itself: Babel's `format_date` formats the date of a datetime it is given.
    return format_date(day, "full", locale=babel_locale(locale))


def _clock(local: datetime, locale: str) -> str:
    """The moment's time of day in the locale's short format: written once per minute of the day and locale when the
    format reads nothing else (see `_minute_pattern`), so every moment at that minute is written the same."""
    if not _minute_pattern(locale):
        return _time_of(local, locale)
    key = (local.hour, local.minute, locale)
    written = _MINUTES.get(key)
    if written is None:
        if len(_MINUTES) >= _MINUTES_KEPT:
            _MINUTES.clear()
        written = _MINUTES[key] = _at_minute(local.hour, local.minute, locale)
    return written


_MINUTES: dict[tuple[int, int, str], str] = {}
_MINUTES_KEPT = 24 * 60 * 8  # every minute of a day in a few locales


# Pattern fields that read nothing of a time but its hour and minute (hours 1-12, 0-23, 0-11, 1-24; minutes; AM/PM).
_HOUR_AND_MINUTE = frozenset("hHKkma")


@lru_cache(maxsize=64)
def _minute_pattern(locale: str) -> bool:
    """Whether the locale's short time reads only the hour and minute ('h:mm a', 'HH:mm'); a pattern with a day
    period ('B'), seconds or a zone is written for each moment."""
    pattern = get_time_format("short", locale=babel_locale(locale))
    fields = re.findall(r"%\((\w+)\)s", str(pattern.format))  # the pattern as Babel parsed it: "%(h)s:%(mm)s %(a)s"
    return bool(fields) and all(field[0] in _HOUR_AND_MINUTE for field in fields)


def _at_minute(hour: int, minute: int, locale: str) -> str:
    """What `_time_of` writes at this minute of the day, for a locale whose short time reads only the hour and minute:
    Babel's pattern filled with its fields (`_clock_fields`), as Babel fills it (`format % DateTimeFormat`)."""
    pattern, hours, minutes = _clock_fields(locale)
    return (pattern % (hours[hour] | minutes[minute])).replace(_NARROW_SPACE, " ")


# A field of such a pattern reads the minute ('m') or else only the hour ('h', 'H', 'K', 'k', 'a': Babel's
# `DateTimeFormat`): each is written by Babel once per hour or per minute of a locale, not once per minute of the day
# (a Babel call each, 20 us; a turn's new moments fall on minutes not yet written).
@lru_cache(maxsize=64)
def _clock_fields(locale: str) -> tuple[str, tuple[dict[str, str], ...], tuple[dict[str, str], ...]]:
    """The locale's short time pattern (`%(h)s:%(mm)s %(a)s`), its hour fields at each hour and its minute fields at
    each minute."""
    babel = babel_locale(locale)
    pattern = str(get_time_format("short", locale=babel).format)
    fields = re.findall(r"%\((\w+)\)s", pattern)
    by_hour = [field for field in fields if field[0] != "m"]
    by_minute = [field for field in fields if field[0] == "m"]
    hours = tuple(_fields(time(hour), babel, by_hour) for hour in range(24))
    minutes = tuple(_fields(time(0, minute), babel, by_minute) for minute in range(60))
    return pattern, hours, minutes


def _fields(moment: time, babel: Locale, names: list[str]) -> dict[str, str]:
    written = DateTimeFormat(moment, babel)
    return {name: written[name] for name in names}


def _time_of(local: datetime, locale: str) -> str:
    return format_time(local, "short", locale=babel_locale(locale)).replace(_NARROW_SPACE, " ")


class Item(BaseModel):
    name: str
    quantity: int


class RefundView(BaseModel):
    date: When
    amount: str | None = Field(None, description="Decimal amount, e.g. '64.00'.")
    currency: str | None = None


class OrderOverview(BaseModel):
    """An order the shopper has proved is theirs."""

    order_number: str = Field(description="The order's name as the store shows it, e.g. '#1234'.")
    placed: When
    fulfillment_status: str = Field(description="Shopify's summary, e.g. FULFILLED, PARTIALLY_FULFILLED, UNFULFILLED.")
    financial_status: str | None = Field(None, description="e.g. PAID, REFUNDED, PARTIALLY_REFUNDED.")
    cancelled: When | None = Field(None, description="Set only when the order was cancelled.")
    refunds: list[RefundView] = Field(default_factory=list, description="Refunds Shopify has recorded, if any.")
    return_status: str | None = None
    total: str | None = Field(None, description="The order's total now, after any refunded or removed items.")
    total_paid: str | None = Field(
        None, description="The order's total when it was placed, before any refund: what the shopper was charged."
    )
    currency: str | None = None
    items: list[Item]
    package_count: int = Field(description="How many shipments (packages) exist so far.")
    delivered: bool = Field(
        False, description="True once the whole order shipped and the carrier reported every package delivered."
    )


class TrackingNumber(BaseModel):
    number: str
    url: str | None = None
    carrier: str | None = Field(None, description="The carrier of this number, when Shopify names one.")


class ScanEvent(BaseModel):
    status: str = Field(description="Carrier event code, e.g. IN_TRANSIT, DELIVERED.")
    message: str | None = None
    happened: When
    days_ago: int = Field(description="Whole days between the event and now.")
    city: str | None = None
    country: str | None = None


class Package(BaseModel):
    package_number: int = Field(description="1-based position among this order's packages.")
    items: list[Item]
    carrier: str | None = None
    tracking: list[TrackingNumber] = Field(default_factory=list, description="Empty when no tracking was shared.")
    status: str = Field(description="Shopify's display status, e.g. IN_TRANSIT, DELIVERED, DELAYED, FULFILLED.")
    fulfilled: When = Field(description="When the package was fulfilled (label or hand-off).")
    shipped: When | None = Field(None, description="When the carrier first reported it in transit.")
    estimated_delivery: When | None = Field(None, description="Only the carrier's estimate; never guess one.")
    delivered: When | None = Field(None, description="When the carrier reported delivery (not a proof of receipt).")
    fulfilled_by: str | None = Field(None, description="The fulfillment service (3PL), e.g. ShipBob, when one did it.")
    pickup_location: str | None = Field(None, description="For local pickup: the store location to collect it from.")
    shipped_from: str | None = Field(
        None, description="For a shipment with no tracking and no named service: the location it was fulfilled at."
    )
    latest_event: ScanEvent | None = None
    earlier_events: list[ScanEvent] = Field(
        default_factory=list, description="The carrier's earlier events, newest first (a hand-over to another carrier)."
    )


class PendingFulfillment(BaseModel):
    state: Literal["open", "in_progress", "scheduled", "on_hold", "incomplete"] = Field(
        description="open/in_progress: being prepared; scheduled: waits for `fulfill_at`; on_hold: paused by the store."
    )
    fulfill_at: When | None = Field(None, description="For scheduled work: when it becomes ready to fulfil.")
    deliver_by: When | None = Field(
        None, description="For local delivery: the latest time the shop's delivery window promises it by."
    )


def _days_between(earlier: datetime, now: datetime, tz: str) -> int:
    zone = ZoneInfo(tz)
    return (now.astimezone(zone).date() - earlier.astimezone(zone).date()).days


def order_overview(order: Order, shop: Shop) -> OrderOverview:
    placed = when(order.processed_at or order.created_at, shop)
    return OrderOverview(
        order_number=order.name,
        placed=placed,
        fulfillment_status=order.fulfillment_status,
        financial_status=order.financial_status,
        cancelled=when(order.cancelled_at, shop),
        refunds=refund_views(order, shop),
        return_status=None if order.return_status in (None, "NO_RETURN") else order.return_status,
        total=f"{order.total.amount:.2f}" if order.total else None,
        total_paid=f"{order.original_total.amount:.2f}" if order.original_total else None,
        currency=money.currency if (money := order.total or order.original_total) else None,
        items=[Item(name=li.name, quantity=li.quantity) for li in order.line_items],
        package_count=len(shipped_fulfillments(order)),
        delivered=_all_delivered(order),
    )


def _all_delivered(order: Order) -> bool:
    """Whether the carrier reported every package of a fully shipped order delivered: what lets a customer pick "the
    one that came" from a list of their orders (the order's own summary says only FULFILLED)."""
    packages = shipped_fulfillments(order)
    if order.fulfillment_status != "FULFILLED" or not packages:
        return False
    return all(f.delivered_at is not None or f.display_status == "DELIVERED" for f in packages)


def refund_views(order: Order, shop: Shop) -> list[RefundView]:
    views = []
    for refund in order.refunds:
        date = when(refund.created_at, shop)
        assert date is not None
        views.append(
            RefundView(
                date=date,
                amount=f"{refund.amount.amount:.2f}" if refund.amount else None,
                currency=refund.amount.currency if refund.amount else None,
            )
        )
    return views


def shipped_fulfillments(order: Order) -> list[Fulfillment]:
    # Cancelled or failed fulfillments are not packages on their way to the shopper.
    return [f for f in order.fulfillments if f.status not in ("CANCELLED", "ERROR", "FAILURE")]


def delivery_method(order: Order) -> str | None:
    """How the order reaches the shopper: SHIPPING, PICK_UP, LOCAL, NONE (digital), as its fulfillment orders say."""
    methods = [fo.delivery_method for fo in order.fulfillment_orders if fo.delivery_method]
    return methods[0] if methods else None


def package_view(
    number: int, fulfillment: Fulfillment, shop: Shop, now: datetime, *, pickup: bool = False, shipped: bool = True
) -> Package:
    latest = fulfillment.events[0] if fulfillment.events else None
    carrier = next((t.company for t in fulfillment.tracking if t.company), None)
    fulfilled = when(fulfillment.created_at, shop)
    status = fulfillment.display_status or ("DELIVERED" if fulfillment.delivered_at else "FULFILLED")
    service = fulfillment.service_name if fulfillment.service_name not in (None, "Manual") else None
    return Package(
        package_number=number,
        items=[Item(name=i.name, quantity=i.quantity) for i in fulfillment.items],
        carrier=carrier,
        tracking=[
            TrackingNumber(number=t.number, url=t.url, carrier=t.company) for t in fulfillment.tracking if t.number
        ],
        status=status,
        fulfilled=fulfilled,
        shipped=when(fulfillment.in_transit_at, shop),
        estimated_delivery=when(fulfillment.estimated_delivery_at, shop) if status != "DELIVERED" else None,
        delivered=when(fulfillment.delivered_at, shop),
        fulfilled_by=service,
        # A pickup location is where the shopper goes; for shipments the location is the merchant's warehouse.
        pickup_location=fulfillment.location_name if pickup else None,
        # A shipment with nothing else to go on (no tracking, no service named): where it was fulfilled at is all
        # there is to find it by, whether the shop's own warehouse or a 3PL known only as its location.
        shipped_from=(
            fulfillment.location_name
            if shipped and not pickup and service is None and not any(t.number for t in fulfillment.tracking)
            else None
        ),
        latest_event=scan_event(latest, shop, now) if latest else None,
        earlier_events=[scan_event(e, shop, now) for e in fulfillment.events[1:]],
    )


def scan_event(event: FulfillmentEvent, shop: Shop, now: datetime) -> ScanEvent:
    return ScanEvent(
        status=event.status,
        message=event.message,
        happened=when(event.happened_at, shop),
        days_ago=_days_between(event.happened_at, now, shop.timezone),
        city=event.city,
        country=event.country,
    )


_PENDING_STATES: dict[str, Literal["open", "in_progress", "scheduled", "on_hold", "incomplete"]] = {
    "OPEN": "open",
    "IN_PROGRESS": "in_progress",
    "SCHEDULED": "scheduled",
    "ON_HOLD": "on_hold",
    "INCOMPLETE": "incomplete",
}


def pending_fulfillments(order: Order, shop: Shop) -> list[PendingFulfillment]:
    pending = []
    for fo in order.fulfillment_orders:
        state = _PENDING_STATES.get(fo.status)
        if state is None:
            continue
        # A hold's reason (e.g. HIGH_RISK_OF_FRAUD) is the merchant's business, so only the state leaves.
        # A local delivery's window is the shop's own promise (Shopify's maxDeliveryDateTime); a carrier's is not
        # passed on here, the carrier's estimate is.
        deliver_by = when(fo.max_delivery_at, shop) if fo.delivery_method == "LOCAL" else None
        pending.append(
            PendingFulfillment(
                state=state,
                fulfill_at=when(fo.fulfill_at, shop) if state == "scheduled" else None,
                deliver_by=deliver_by,
            )
        )
    return pending


def unshipped_items(order: Order) -> list[Item]:
    if order.cancelled_at:
        return []
    return [Item(name=li.name, quantity=li.unfulfilled_quantity) for li in order.line_items if li.unfulfilled_quantity]
