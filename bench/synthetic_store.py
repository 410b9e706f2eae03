"""A synthetic Shopify store of any size, in the shape of data/demo-store.json (Admin GraphQL order nodes).

Deterministic from a seed: the same seed gives the same store, byte for byte. The orders span what shoppers ask about
on a busy weekend: unfulfilled, scheduled, on hold, partially fulfilled, label created, in transit with several
carriers, out for delivery, delayed, delivered, cancelled with a refund, and store pickup (preparing, ready, picked
up). Names carry the shop's own prefix ("#TM10001"), emails and postcodes look like real ones (US, Canada, UK).

    .venv/bin/python bench/synthetic_store.py --orders 5000 --seed 7 > /tmp/store.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SHOP: dict[str, Any] = {
    "name": "Tallowmere Outfitters",
    "myshopifyDomain": "tallowmere-outfitters.myshopify.com",
    "ianaTimezone": "America/New_York",
    "currencyCode": "USD",
    "contactEmail": "support@tallowmere.example",
    "orderNumberFormatPrefix": "#TM",
    "orderNumberFormatSuffix": "",
}
# Black Friday 2026, late afternoon in New York: the store's "today".
AS_OF = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)
FIRST_NUMBER = 10001
ORDER_ID_BASE = 6_100_000_000
CUSTOMER_ID_BASE = 8_200_000_000

FIRST_NAMES = (
    "Maya", "Jordan", "Priya", "Liam", "Sofia", "Noah", "Aisha", "Mateo", "Chloe", "Ethan", "Hana", "Lucas", "Zoe",
    "Omar", "Grace", "Diego", "Emma", "Kenji", "Olivia", "Samuel", "Fatima", "Isaac", "Lena", "Marcus", "Nora",
    "Rafael", "Yuki", "Amara", "Caleb", "Ingrid", "Tariq", "Elena", "Hugo", "Mei", "Declan", "Leila", "Arjun",
    "Camille", "Felix", "Sienna",
)  # fmt: skip
LAST_NAMES = (
    "Patel", "Lee", "Garcia", "Nguyen", "Smith", "Johnson", "Okafor", "Rossi", "Kim", "Müller", "Silva", "Brown",
    "Cohen", "Haddad", "O'Brien", "Tanaka", "Martin", "Kowalski", "Dubois", "Andersen", "Singh", "Wright", "Lopez",
    "Chen", "Murphy", "Ivanova", "Hughes", "Moreau", "Yilmaz", "Bianchi",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.example")
PRODUCTS = (  # name, SKU stem, price
    ("Wool Throw Blanket", "WTB", "89.00"), ("Trail Water Bottle", "TWB", "24.00"),
    ("Insulated Jacket", "IJ", "179.00"), ("Canvas Weekender Bag", "CWB", "129.00"),
    ("Summit Tent 2P", "ST2", "249.00"), ("Cedar Candle Set", "CCS", "38.00"), ("Merino Beanie", "MB", "32.00"),
    ("Hiking Poles", "HP", "74.00"), ("Camp Stove", "CS", "99.00"), ("Linen Pillow Cover", "LPC", "28.00"),
    ("Rain Shell Jacket", "RSJ", "138.00"), ("Down Sleeping Bag", "DSB", "219.00"), ("Enamel Mug", "EM", "16.00"),
    ("Trail Runners", "TR", "135.00"), ("Headlamp", "HL", "42.00"),
)  # fmt: skip


@dataclass(frozen=True)
class Place:
    city: str
    province_code: str
    province: str
    country_code: str
    country: str
    postcode: Callable[[random.Random], str]


def _us_zip(prefix: str) -> Callable[[random.Random], str]:
    return lambda rng: f"{prefix}{rng.randrange(100):02d}"


def _ca_postal(first: str) -> Callable[[random.Random], str]:
    letters = "ABCEGHJKLMNPRSTVWXYZ"
    return lambda rng: (
        f"{first}{rng.randrange(10)}{rng.choice(letters)} {rng.randrange(10)}{rng.choice(letters)}{rng.randrange(10)}"
    )


def _uk_postcode(area: str) -> Callable[[random.Random], str]:
    letters = "ABDEFGHJLNPQRSTUWXYZ"
    return lambda rng: f"{area}{rng.randrange(1, 20)} {rng.randrange(10)}{rng.choice(letters)}{rng.choice(letters)}"


PLACES = (
    Place("Portland", "OR", "Oregon", "US", "United States", _us_zip("972")),
    Place("Brooklyn", "NY", "New York", "US", "United States", _us_zip("112")),
    Place("Austin", "TX", "Texas", "US", "United States", _us_zip("787")),
    Place("Denver", "CO", "Colorado", "US", "United States", _us_zip("802")),
    Place("Chicago", "IL", "Illinois", "US", "United States", _us_zip("606")),
    Place("Seattle", "WA", "Washington", "US", "United States", _us_zip("981")),
    Place("Atlanta", "GA", "Georgia", "US", "United States", _us_zip("303")),
    Place("Boston", "MA", "Massachusetts", "US", "United States", _us_zip("021")),
    Place("Toronto", "ON", "Ontario", "CA", "Canada", _ca_postal("M")),
    Place("Vancouver", "BC", "British Columbia", "CA", "Canada", _ca_postal("V")),
    Place("Manchester", "ENG", "England", "GB", "United Kingdom", _uk_postcode("M")),
    Place("London", "ENG", "England", "GB", "United Kingdom", _uk_postcode("SW")),
)
HUBS = (("Reno", "Nevada"), ("Memphis", "Tennessee"), ("Louisville", "Kentucky"), ("Columbus", "Ohio"))


@dataclass(frozen=True)
class Carrier:
    company: str
    url: str  # the tracking page, {n} for the number
    prefix: str
    digits: int
    suffix: str = ""

    def number(self, rng: random.Random) -> str:
        return f"{self.prefix}{rng.randrange(10**self.digits):0{self.digits}d}{self.suffix}"


UPS = Carrier("UPS", "https://www.ups.com/track?tracknum={n}", "1Z84X926", 10)
CARRIERS: dict[str, tuple[Carrier, ...]] = {
    "US": (
        UPS,
        Carrier("USPS", "https://tools.usps.com/go/TrackConfirmAction?tLabels={n}", "9400", 18),
        Carrier("FedEx", "https://www.fedex.com/fedextrack/?trknbr={n}", "", 12),
        Carrier("DHL eCommerce", "https://www.dhl.com/us-en/home/tracking.html?tracking-id={n}", "GM", 16),
    ),
    "CA": (
        Carrier(
            "Canada Post", "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={n}", "", 16
        ),
        UPS,
    ),
    "GB": (
        Carrier("DHL Express", "https://www.dhl.com/gb-en/home/tracking.html?tracking-id={n}", "", 10),
        Carrier("Royal Mail", "https://www.royalmail.com/track-your-item#/tracking-results/{n}", "RM", 9, "GB"),
    ),
}

# What share of the store is in each state. Black Friday week: much unshipped, much moving.
KINDS: dict[str, int] = {
    "unfulfilled": 14, "scheduled": 3, "on_hold": 5, "partial": 8, "label_created": 5, "in_transit": 22,
    "out_for_delivery": 6, "delayed": 4, "delivered": 20, "cancelled": 5, "pickup_preparing": 3,
    "ready_for_pickup": 3, "picked_up": 2,
}  # fmt: skip
# How old an order in each state may be, in days: unshipped and moving orders are recent, delivered ones older.
MAX_AGE_DAYS: dict[str, float] = {
    "unfulfilled": 3, "on_hold": 6, "pickup_preparing": 2, "label_created": 4, "delivered": 45, "cancelled": 30,
    "picked_up": 20, "scheduled": 10,
}  # fmt: skip
HOLD_REASONS = ("INCORRECT_ADDRESS", "AWAITING_PAYMENT", "INVENTORY_OUT_OF_STOCK", "HIGH_RISK_OF_FRAUD")
CANCEL_REASONS = ("CUSTOMER", "INVENTORY", "DECLINED", "OTHER")
PICKUP_LOCATIONS = ("Tallowmere Portland", "Tallowmere Brooklyn", "Tallowmere Denver")  # the synthetic shop's own


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def order_name(number: int) -> str:
    return f"{SHOP['orderNumberFormatPrefix']}{number}{SHOP['orderNumberFormatSuffix']}"


class _Builder:
    """Builds one order node; every choice comes from the one seeded generator, so the store is reproducible."""

    def __init__(self, rng: random.Random, index: int, max_age_days: float) -> None:
        self.rng = rng
        self.index = index
        self.number = FIRST_NUMBER + index
        self.name = order_name(self.number)
        self.place = rng.choice(PLACES)
        self.created = AS_OF - timedelta(minutes=rng.randrange(10, int(max_age_days * 24 * 60)))

    def at(self, after: datetime, min_hours: float, max_hours: float) -> datetime:
        """A moment between `min_hours` and `max_hours` after `after`, never later than the store's today."""
        moment = after + timedelta(minutes=self.rng.uniform(min_hours * 60, max_hours * 60))
        return min(moment, AS_OF - timedelta(minutes=1))

    def customer(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}".lower().replace("'", "").replace("ü", "ue")
        if rng.random() < 0.5:
            local += str(rng.randrange(1, 999))
        email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
        customer = {
            "id": f"gid://shopify/Customer/{CUSTOMER_ID_BASE + self.index}",
            "firstName": first,
            "lastName": last,
            "displayName": f"{first} {last}",
            "defaultEmailAddress": {"emailAddress": email},
        }
        return email, customer

    def line_items(self, count: int) -> list[dict[str, Any]]:
        picked = self.rng.sample(PRODUCTS, count)
        return [
            {"name": name, "quantity": self.rng.choice((1, 1, 1, 2)), "sku": f"{sku}-{self.rng.randrange(1, 9)}",
             "unfulfilledQuantity": 0}
            for name, sku, _price in picked
        ]  # fmt: skip

    def tracking(self) -> dict[str, str]:
        carrier = self.rng.choice(CARRIERS[self.place.country_code])
        number = carrier.number(self.rng)
        return {"company": carrier.company, "number": number, "url": carrier.url.format(n=number)}

    def event(self, status: str, when: datetime, message: str, *, home: bool = False) -> dict[str, Any]:
        city, province = (self.place.city, self.place.province) if home else self.rng.choice(HUBS)
        country = self.place.country if home else "United States"
        return {"status": status, "happenedAt": iso(when), "message": message, "city": city, "province": province,
                "country": country}  # fmt: skip

    def shipment(self, items: list[dict[str, Any]], display: str, suffix: int = 1) -> dict[str, Any]:
        """A fulfillment in `display` state (LABEL_PURCHASED ... DELIVERED), with events newest first."""
        created = self.at(self.created, 2, 48)
        in_transit = self.at(created, 4, 30) if display != "LABEL_PURCHASED" else None
        events = [self.event("LABEL_PURCHASED", created, "Shipping label created")]
        if in_transit is not None:
            events.append(self.event("IN_TRANSIT", in_transit, "Departed facility"))
            events.append(self.event("IN_TRANSIT", self.at(in_transit, 6, 40), "Arrived at facility"))
        delivered = None
        estimated = None
        if display == "DELAYED":
            delay = self.at(in_transit or created, 20, 60)
            events.append(self.event("DELAYED", delay, "Delayed: weather conditions"))
            estimated = AS_OF + timedelta(days=self.rng.randrange(2, 6))
        elif display in ("OUT_FOR_DELIVERY", "DELIVERED"):
            out = self.at(created, 40, 96)
            events.append(self.event("OUT_FOR_DELIVERY", out, "Out for delivery", home=True))
            if display == "DELIVERED":
                delivered = self.at(out, 1, 8)
                events.append(self.event("DELIVERED", delivered, "Delivered, left at front door", home=True))
            else:
                estimated = AS_OF + timedelta(hours=self.rng.randrange(2, 8))
        elif display == "IN_TRANSIT" and self.rng.random() < 0.7:
            estimated = AS_OF + timedelta(days=self.rng.randrange(1, 7))
        events.sort(key=lambda e: e["happenedAt"], reverse=True)
        return {
            "name": f"{self.name}-F{suffix}",
            "status": "SUCCESS",
            "displayStatus": display,
            "createdAt": iso(created),
            "inTransitAt": iso(in_transit) if in_transit else None,
            "deliveredAt": iso(delivered) if delivered else None,
            "estimatedDeliveryAt": iso(estimated) if estimated else None,
            "service": None,
            "location": None,
            "trackingInfo": [self.tracking()],
            "fulfillmentLineItems": {
                "nodes": [{"quantity": li["quantity"], "lineItem": {"name": li["name"]}} for li in items]
            },
            "events": {"nodes": events},
        }


def _fulfillment_order(status: str, method: str = "SHIPPING", **extra: Any) -> dict[str, Any]:
    return {"status": status, "requestStatus": "UNSUBMITTED", "fulfillAt": None, "fulfillmentHolds": [],
            "deliveryMethod": {"methodType": method, "maxDeliveryDateTime": None}} | extra  # fmt: skip


def _unshipped(b: _Builder, node: dict[str, Any], kind: str) -> None:
    for li in node["lineItems"]["nodes"]:
        li["unfulfilledQuantity"] = li["quantity"]
    if kind == "scheduled":
        fulfill_at = AS_OF + timedelta(days=b.rng.randrange(3, 20))
        fo = _fulfillment_order("SCHEDULED", fulfillAt=iso(fulfill_at.replace(hour=13, minute=0, second=0)))
        node["displayFulfillmentStatus"] = "SCHEDULED"
    elif kind == "on_hold":
        fo = _fulfillment_order("ON_HOLD", fulfillmentHolds=[{"reason": b.rng.choice(HOLD_REASONS)}])
        node["displayFulfillmentStatus"] = "ON_HOLD"
    else:
        fo = _fulfillment_order("OPEN")
        node["displayFulfillmentStatus"] = "UNFULFILLED"
    node["fulfillmentOrders"] = {"nodes": [fo]}


def _shipped(b: _Builder, node: dict[str, Any], display: str) -> None:
    items = node["lineItems"]["nodes"]
    node["fulfillments"] = [b.shipment(items, display)]
    node["fulfillmentOrders"] = {"nodes": [_fulfillment_order("CLOSED")]}
    node["displayFulfillmentStatus"] = "FULFILLED"


def _partial(b: _Builder, node: dict[str, Any]) -> None:
    items = node["lineItems"]["nodes"]
    shipped, waiting = items[:1], items[1:]
    for li in waiting:
        li["unfulfilledQuantity"] = li["quantity"]
    node["fulfillments"] = [b.shipment(shipped, b.rng.choice(("IN_TRANSIT", "DELIVERED", "OUT_FOR_DELIVERY")))]
    node["fulfillmentOrders"] = {"nodes": [_fulfillment_order("CLOSED"), _fulfillment_order("OPEN")]}
    node["displayFulfillmentStatus"] = "PARTIALLY_FULFILLED"


def _cancelled(b: _Builder, node: dict[str, Any]) -> None:
    cancelled = b.at(b.created, 1, 30)
    node["cancelledAt"] = iso(cancelled)
    node["cancelReason"] = b.rng.choice(CANCEL_REASONS)
    node["closedAt"] = iso(cancelled)
    node["displayFinancialStatus"] = "REFUNDED"
    node["fulfillmentOrders"] = {"nodes": [_fulfillment_order("CANCELLED")]}
    refund_at = b.at(cancelled, 0.02, 30)
    node["refunds"] = [{"createdAt": iso(refund_at), "totalRefundedSet": node["currentTotalPriceSet"]}]


def _pickup(b: _Builder, node: dict[str, Any], kind: str) -> None:
    location = b.rng.choice(PICKUP_LOCATIONS)
    if kind == "pickup_preparing":
        for li in node["lineItems"]["nodes"]:
            li["unfulfilledQuantity"] = li["quantity"]
        node["fulfillmentOrders"] = {"nodes": [_fulfillment_order("OPEN", "PICK_UP")]}
        return
    ready = b.at(b.created, 2, 30)
    display = "READY_FOR_PICKUP" if kind == "ready_for_pickup" else "PICKED_UP"
    events = [b.event("READY_FOR_PICKUP", ready, "Ready for pickup", home=True)]
    if display == "PICKED_UP":
        events.insert(0, b.event("PICKED_UP", b.at(ready, 2, 48), "Picked up", home=True))
    node["fulfillments"] = [
        {
            "name": f"{b.name}-F1", "status": "SUCCESS", "displayStatus": display, "createdAt": iso(ready),
            "inTransitAt": None, "deliveredAt": events[0]["happenedAt"] if display == "PICKED_UP" else None,
            "estimatedDeliveryAt": None, "service": None, "location": {"name": location}, "trackingInfo": [],
            "fulfillmentLineItems": {"nodes": [{"quantity": li["quantity"], "lineItem": {"name": li["name"]}}
                                               for li in node["lineItems"]["nodes"]]},
            "events": {"nodes": events},
        }
    ]  # fmt: skip
    node["fulfillmentOrders"] = {"nodes": [_fulfillment_order("CLOSED", "PICK_UP")]}
    node["displayFulfillmentStatus"] = "FULFILLED"


SHIPPED_DISPLAY = {
    "label_created": "LABEL_PURCHASED", "in_transit": "IN_TRANSIT", "out_for_delivery": "OUT_FOR_DELIVERY",
    "delayed": "DELAYED", "delivered": "DELIVERED",
}  # fmt: skip


def build_order(rng: random.Random, index: int, kind: str) -> dict[str, Any]:
    """One order node of `kind` (a key of KINDS), the `index`-th of the store."""
    b = _Builder(rng, index, MAX_AGE_DAYS.get(kind, 12))
    email, customer = b.customer()
    items = b.line_items(2 if kind == "partial" else rng.choice((1, 1, 1, 2)))
    total = sum(float(next(p for n, _s, p in PRODUCTS if n == li["name"])) * li["quantity"] for li in items)
    node: dict[str, Any] = {
        "id": f"gid://shopify/Order/{ORDER_ID_BASE + index}",
        "name": b.name,
        "email": email,
        "createdAt": iso(b.created),
        "processedAt": iso(b.created),
        "updatedAt": iso(b.created),
        "cancelledAt": None,
        "cancelReason": None,
        "closedAt": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "UNFULFILLED",
        "returnStatus": "NO_RETURN",
        "tags": [],
        "currentTotalPriceSet": {"shopMoney": {"amount": f"{total:.2f}", "currencyCode": "USD"}},
        "customer": customer,
        "shippingAddress": {
            "city": b.place.city,
            "provinceCode": b.place.province_code,
            "zip": b.place.postcode(rng),
            "countryCodeV2": b.place.country_code,
        },
        "lineItems": {"nodes": items},
        "fulfillmentOrders": {"nodes": []},
        "fulfillments": [],
        "refunds": [],
    }
    if kind in ("unfulfilled", "scheduled", "on_hold"):
        _unshipped(b, node, kind)
    elif kind in SHIPPED_DISPLAY:
        _shipped(b, node, SHIPPED_DISPLAY[kind])
    elif kind == "partial":
        _partial(b, node)
    elif kind == "cancelled":
        _cancelled(b, node)
    else:
        _pickup(b, node, kind)
    latest = max([node["createdAt"], *(e["happenedAt"] for f in node["fulfillments"] for e in f["events"]["nodes"])])
    node["updatedAt"] = latest
    return node


def order_kinds(count: int, rng: random.Random) -> list[str]:
    """`count` kinds in KINDS' proportions (exactly, up to rounding), shuffled."""
    total = sum(KINDS.values())
    kinds = [kind for kind, weight in KINDS.items() for _ in range(round(count * weight / total))]
    while len(kinds) < count:
        kinds.append("in_transit")
    kinds = kinds[:count]
    rng.shuffle(kinds)
    return kinds


def build_store(orders: int = 5000, seed: int = 7) -> dict[str, Any]:
    """A store file's contents: `shop`, `asOf` and `orders` (newest order numbers last)."""
    rng = random.Random(seed)
    nodes = [build_order(rng, i, kind) for i, kind in enumerate(order_kinds(orders, rng))]
    return {"shop": dict(SHOP), "asOf": iso(AS_OF), "orders": nodes}


def kind_of(node: dict[str, Any]) -> str:
    """What state an order node is in, read back from its fields (for reports and tests)."""
    if node.get("cancelledAt"):
        return "cancelled"
    orders = node["fulfillmentOrders"]["nodes"]
    if any((fo.get("deliveryMethod") or {}).get("methodType") == "PICK_UP" for fo in orders):
        shipped = node["fulfillments"]
        return "pickup_preparing" if not shipped else f"pickup:{shipped[0]['displayStatus']}"
    status = node["displayFulfillmentStatus"]
    if status != "FULFILLED":
        return status.lower()
    return str(node["fulfillments"][0]["displayStatus"]).lower()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    json.dump(build_store(args.orders, args.seed), sys.stdout, indent=1)


if __name__ == "__main__":
    main()
