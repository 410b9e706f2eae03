"""The order as Lumen understands it, parsed from Shopify Admin GraphQL order nodes.

These are internal models: they hold everything Shopify sends, including fields a shopper must never see
(cancel reason, address, tags). The tools decide what leaves; see `tools/views.py`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field, field_validator

from shopify.names import NameFormat, normalize_email, normalize_postal_code
from shopify.shop_locale import DEFAULT_LOCALE, cldr_locale, shop_locale


def _open_enum(values: Any) -> BeforeValidator:
    # Shopify adds enum values between versions and tells clients to treat enums as open-ended,
    # so an unknown value becomes "OTHER" instead of failing the whole order.
    allowed = frozenset(get_args(values))

    def coerce(value: Any) -> Any:
        if value is None:
            return None
        text = str(value).upper()
        return text if text in allowed else "OTHER"

    return BeforeValidator(coerce)


# Each Shopify enum is written once, as a Literal; `_open_enum` derives the allowed values from it.
OrderFulfillmentStatusName = Literal[
    "UNFULFILLED", "PARTIALLY_FULFILLED", "FULFILLED", "RESTOCKED", "PENDING_FULFILLMENT", "OPEN", "IN_PROGRESS",
    "ON_HOLD", "SCHEDULED", "REQUEST_DECLINED", "FULFILLMENT_NOT_REQUIRED", "OTHER",
]  # fmt: skip
FinancialStatusName = Literal[
    "PENDING", "AUTHORIZED", "PARTIALLY_PAID", "PAID", "PARTIALLY_REFUNDED", "REFUNDED", "VOIDED", "EXPIRED", "OTHER",
]  # fmt: skip
ReturnStatusName = Literal[
    "RETURN_REQUESTED", "IN_PROGRESS", "INSPECTION_COMPLETE", "RETURNED", "RETURN_FAILED", "NO_RETURN", "OTHER"
]
FulfillmentOrderStatusName = Literal[
    "OPEN", "IN_PROGRESS", "SCHEDULED", "ON_HOLD", "INCOMPLETE", "CANCELLED", "CLOSED", "OTHER"
]  # fmt: skip
DisplayStatusName = Literal[
    "ATTEMPTED_DELIVERY", "CANCELED", "CONFIRMED", "DELAYED", "DELIVERED", "FAILURE", "FULFILLED", "CARRIER_PICKED_UP",
    "IN_TRANSIT", "LABEL_PRINTED", "LABEL_PURCHASED", "LABEL_VOIDED", "MARKED_AS_FULFILLED", "NOT_DELIVERED",
    "OUT_FOR_DELIVERY", "READY_FOR_PICKUP", "PICKED_UP", "SUBMITTED", "OTHER",
]  # fmt: skip
EventStatusName = Literal[
    "LABEL_PURCHASED", "LABEL_PRINTED", "READY_FOR_PICKUP", "CONFIRMED", "IN_TRANSIT", "OUT_FOR_DELIVERY",
    "ATTEMPTED_DELIVERY", "DELAYED", "DELIVERED", "FAILURE", "CARRIER_PICKED_UP", "PICKED_UP", "OTHER",
]  # fmt: skip
ShipmentStatusName = Literal["SUCCESS", "CANCELLED", "ERROR", "FAILURE", "PENDING", "OPEN", "OTHER"]
HoldReasonName = Literal[
    "AWAITING_PAYMENT", "HIGH_RISK_OF_FRAUD", "INCORRECT_ADDRESS", "INVENTORY_OUT_OF_STOCK", "UNKNOWN_DELIVERY_DATE",
    "ONLINE_STORE_POST_PURCHASE_CROSS_SELL", "AWAITING_RETURN_ITEMS", "OTHER",
]  # fmt: skip

OrderFulfillmentStatus = Annotated[OrderFulfillmentStatusName, _open_enum(OrderFulfillmentStatusName)]
FinancialStatus = Annotated[FinancialStatusName | None, _open_enum(FinancialStatusName)]
ReturnStatus = Annotated[ReturnStatusName | None, _open_enum(ReturnStatusName)]
FulfillmentOrderStatus = Annotated[FulfillmentOrderStatusName, _open_enum(FulfillmentOrderStatusName)]
DisplayStatus = Annotated[DisplayStatusName | None, _open_enum(DisplayStatusName)]
EventStatus = Annotated[EventStatusName, _open_enum(EventStatusName)]
ShipmentStatus = Annotated[ShipmentStatusName, _open_enum(ShipmentStatusName)]
HoldReason = Annotated[HoldReasonName, _open_enum(HoldReasonName)]


class Money(BaseModel):
    amount: Decimal
    currency: str


class Shop(BaseModel):
    name: str
    domain: str = ""
    timezone: str = "UTC"
    currency: str = "USD"
    contact_email: str | None = None
    # A CLDR locale id (en_US, fr_CA): how dates and amounts are written for this shop's shoppers.
    locale: str = "en_US"
    # The shop's order-name format (Shopify's `orderNumberFormatPrefix`/`Suffix`: '#' and '' for '#1001'); None
    # when nothing says it (an old store file whose names are too mixed to show one).
    order_number_prefix: str | None = None
    order_number_suffix: str | None = None

    @property
    def name_format(self) -> NameFormat | None:
        """How the shop writes its order names, when known: the playbook reads typed order numbers by it."""
        if self.order_number_prefix is None and self.order_number_suffix is None:
            return None
        return NameFormat(self.order_number_prefix or "", self.order_number_suffix or "")

    @field_validator("locale", mode="before")
    @classmethod
    def _cldr_locale(cls, value: Any) -> str:
        return _locale(value)


class LineItem(BaseModel):
    name: str
    quantity: int
    sku: str | None = None
    unfulfilled_quantity: int = 0


class FulfillmentHold(BaseModel):
    reason: HoldReason
    # reasonNotes are merchant-internal and deliberately not parsed.


class FulfillmentOrder(BaseModel):
    status: FulfillmentOrderStatus
    request_status: str | None = None
    fulfill_at: datetime | None = None
    holds: list[FulfillmentHold] = Field(default_factory=list)
    delivery_method: str | None = None
    max_delivery_at: datetime | None = None


class TrackingInfo(BaseModel):
    company: str | None = None
    number: str | None = None
    url: str | None = None


class FulfillmentEvent(BaseModel):
    status: EventStatus
    happened_at: datetime
    message: str | None = None
    city: str | None = None
    province: str | None = None
    country: str | None = None


class ShippedItem(BaseModel):
    name: str
    quantity: int


class Fulfillment(BaseModel):
    # Shopify's GID, when the query asked for it: which package a `fulfillment_events/create` webhook is about.
    id: str | None = None
    name: str | None = None
    status: ShipmentStatus = "SUCCESS"
    display_status: DisplayStatus = None
    created_at: datetime
    in_transit_at: datetime | None = None
    delivered_at: datetime | None = None
    estimated_delivery_at: datetime | None = None
    service_name: str | None = None
    location_name: str | None = None
    tracking: list[TrackingInfo] = Field(default_factory=list)
    items: list[ShippedItem] = Field(default_factory=list)
    events: list[FulfillmentEvent] = Field(default_factory=list, description="Newest first.")


class Refund(BaseModel):
    created_at: datetime
    amount: Money | None = None


class Order(BaseModel):
    id: str
    name: str
    email: str | None = None
    created_at: datetime
    processed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None  # merchant-only: never leaves the tools
    closed_at: datetime | None = None
    # Shopify's updatedAt, when the query asked for it: which of two copies of an order is newer (the order mirror).
    updated_at: datetime | None = None
    financial_status: FinancialStatus = None
    fulfillment_status: OrderFulfillmentStatus = "UNFULFILLED"
    return_status: ReturnStatus = None
    total: Money | None = None  # Shopify's current total: after refunded or removed items (0.00 once all are gone)
    original_total: Money | None = None  # the total when the order was placed, before any refund (`totalPriceSet`)
    customer_id: str | None = None
    customer_email: str | None = None
    shipping_zip: str | None = None
    shipping_country: str | None = None
    line_items: list[LineItem] = Field(default_factory=list)
    fulfillment_orders: list[FulfillmentOrder] = Field(default_factory=list)
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list)

    def has_email(self, email: str, *, checkout_only: bool = False) -> bool:
        """Whether `email` is this order's checkout email or (unless `checkout_only`) its customer's email."""
        wanted = normalize_email(email)
        owned = (self.email,) if checkout_only else (self.email, self.customer_email)
        return any(e and normalize_email(e) == wanted for e in owned)

    def has_postal_code(self, postal_code: str) -> bool:
        """Whether `postal_code` is this order's shipping postal code, spacing, dashes and case aside."""
        if not self.shipping_zip:
            return False
        have, given = normalize_postal_code(self.shipping_zip), normalize_postal_code(postal_code)
        if have == given:
            return True
        # A US ZIP+4 against the plain five-digit ZIP, and only that: elsewhere a shortened code is a different code.
        us = (self.shipping_country or "").upper() == "US"
        return us and have.isdigit() and given.isdigit() and {len(have), len(given)} == {5, 9} and have[:5] == given[:5]


# --- parsing Shopify Admin GraphQL shapes -------------------------------------------------------------------------


def _nodes(value: Any) -> list[dict[str, Any]]:
    """Connections come as `{nodes: [...]}` or `{edges: [{node}]}`; plain lists (fulfillments, refunds) as lists."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    if "nodes" in value:
        return value["nodes"] or []
    return [edge["node"] for edge in value.get("edges") or []]


def _money(value: dict[str, Any] | None) -> Money | None:
    shop_money = (value or {}).get("shopMoney")
    if not shop_money:
        return None
    return Money(amount=Decimal(str(shop_money["amount"])), currency=shop_money["currencyCode"])


def _customer_email(customer: dict[str, Any] | None) -> str | None:
    if not customer:
        return None
    default = customer.get("defaultEmailAddress") or {}
    return default.get("emailAddress") or customer.get("email")


def parse_fulfillment(node: dict[str, Any]) -> Fulfillment:
    events = [
        FulfillmentEvent(
            status=e.get("status") or "OTHER",
            happened_at=e["happenedAt"],
            message=e.get("message"),
            city=e.get("city"),
            province=e.get("province"),
            country=e.get("country"),
        )
        for e in _nodes(node.get("events"))
        if e.get("happenedAt")
    ]
    events.sort(key=lambda e: e.happened_at, reverse=True)
    return Fulfillment(
        id=node.get("id"),
        name=node.get("name"),
        status=node.get("status") or "SUCCESS",
        display_status=node.get("displayStatus"),
        created_at=node["createdAt"],
        in_transit_at=node.get("inTransitAt"),
        delivered_at=node.get("deliveredAt"),
        estimated_delivery_at=node.get("estimatedDeliveryAt"),
        service_name=(node.get("service") or {}).get("serviceName"),
        location_name=(node.get("location") or {}).get("name"),
        tracking=[TrackingInfo(**t) for t in node.get("trackingInfo") or []],
        items=[
            ShippedItem(name=(li.get("lineItem") or {}).get("name") or "item", quantity=li.get("quantity") or 0)
            for li in _nodes(node.get("fulfillmentLineItems"))
        ],
        events=events,
    )


def parse_order(node: dict[str, Any]) -> Order:
    """Build an `Order` from one Shopify Admin GraphQL order node (the shape of `data/demo-store.json`)."""
    customer = node.get("customer") or {}
    address = node.get("shippingAddress") or {}
    return Order(
        id=node.get("id") or node["name"],
        name=node["name"],
        email=node.get("email"),
        created_at=node["createdAt"],
        processed_at=node.get("processedAt"),
        cancelled_at=node.get("cancelledAt"),
        cancel_reason=node.get("cancelReason"),
        closed_at=node.get("closedAt"),
        updated_at=node.get("updatedAt"),
        financial_status=node.get("displayFinancialStatus"),
        fulfillment_status=node.get("displayFulfillmentStatus") or "UNFULFILLED",
        return_status=node.get("returnStatus"),
        total=_money(node.get("currentTotalPriceSet") or node.get("totalPriceSet")),
        original_total=_money(node.get("totalPriceSet")),
        customer_id=customer.get("id"),
        customer_email=_customer_email(customer),
        shipping_zip=address.get("zip"),
        shipping_country=address.get("countryCodeV2") or address.get("countryCode"),
        line_items=[
            LineItem(
                name=li.get("name") or li.get("title") or "item",
                quantity=li.get("quantity") or 0,
                sku=li.get("sku"),
                unfulfilled_quantity=li.get("unfulfilledQuantity") or 0,
            )
            for li in _nodes(node.get("lineItems"))
        ],
        fulfillment_orders=[
            FulfillmentOrder(
                status=fo.get("status") or "OTHER",
                request_status=fo.get("requestStatus"),
                fulfill_at=fo.get("fulfillAt"),
                holds=[FulfillmentHold(reason=h.get("reason") or "OTHER") for h in fo.get("fulfillmentHolds") or []],
                delivery_method=(fo.get("deliveryMethod") or {}).get("methodType"),
                max_delivery_at=(fo.get("deliveryMethod") or {}).get("maxDeliveryDateTime"),
            )
            for fo in _nodes(node.get("fulfillmentOrders"))
        ],
        fulfillments=[parse_fulfillment(f) for f in _nodes(node.get("fulfillments"))],
        refunds=[
            Refund(created_at=r["createdAt"], amount=_money(r.get("totalRefundedSet")))
            for r in _nodes(node.get("refunds"))
            if r.get("createdAt")
        ],
    )


def parse_shop(node: dict[str, Any]) -> Shop:
    return Shop(
        name=node.get("name") or "our store",
        domain=node.get("myshopifyDomain") or "",
        timezone=node.get("ianaTimezone") or "UTC",
        currency=node.get("currencyCode") or "USD",
        contact_email=node.get("contactEmail"),
        locale=shop_locale(node),
        order_number_prefix=_text_or_none(node.get("orderNumberFormatPrefix")),
        order_number_suffix=_text_or_none(node.get("orderNumberFormatSuffix")),
    )


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _locale(value: Any) -> str:
    """Shopify writes locales as BCP 47 ('en', 'pt-BR'); Babel wants CLDR ids. Unknown or missing: en_US."""
    return cldr_locale(value) or DEFAULT_LOCALE
