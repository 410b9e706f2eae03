"""The Admin API access scopes Lumen needs, and why: one list, derived from what it reads and listens to.

Shopify's schema does not say which scope guards which field, so the knowledge sits in `TYPE_SCOPES` (each object
type Lumen's queries reach, and the scopes that make it fully readable) and `TOPIC_SCOPES` (each webhook topic, as
the `WebhookSubscriptionTopic` descriptions in the schema state). `derive_scopes` walks every GraphQL document over
the real schema (graphql-core) and fails on a type nobody classified, so a new field in a query cannot silently need
a scope the merchant was never asked for; a test pins `REQUIRED_SCOPES` to its result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphql import GraphQLSchema

# Fulfillment orders are split by who fulfils them; with only some of these scopes Shopify silently returns a subset.
# Lumen asks for the two an order-management app needs: the merchant's own locations and third-party services.
FULFILLMENT_ORDER_SCOPES = ("read_merchant_managed_fulfillment_orders", "read_third_party_fulfillment_orders")
# Any one of these makes `Order.fulfillmentOrders` readable at all (a non-null field: without one, the whole order
# comes back null).
ANY_FULFILLMENT_ORDER_SCOPE = frozenset(
    {*FULFILLMENT_ORDER_SCOPES, "read_assigned_fulfillment_orders", "read_marketplace_fulfillment_orders"}
)

_ORDERS = ("read_orders",)
_NONE: tuple[str, ...] = ()

# Object types reachable from Lumen's queries -> scopes it requests so that they are fully readable.
TYPE_SCOPES: dict[str, tuple[str, ...]] = {
    "QueryRoot": _NONE,
    "Mutation": _NONE,
    "BulkOperationRunQueryPayload": _NONE,  # the bulk export: its query needs what it reads, the operation nothing
    "BulkOperation": _NONE,
    "BulkOperationUserError": _NONE,
    "BulkOperationCancelPayload": _NONE,  # cancelling the app's own stuck bulk operation (`shopify.bulk.cancel`)
    "BulkOperationConnection": _NONE,  # listing the app's own running bulk operations (`shopify.bulk._orphan`)
    "UserError": _NONE,
    "Shop": _NONE,
    "ShopAddress": _NONE,  # the shop's own address, readable by any app installed on it (its country: the locale)
    "AppInstallation": _NONE,
    "AccessScope": _NONE,
    "PageInfo": _NONE,
    "Count": _NONE,
    "MoneyBag": _NONE,
    "MoneyV2": _NONE,
    "OrderConnection": _ORDERS,
    "OrderEdge": _ORDERS,
    "Order": _ORDERS,
    "MailingAddress": _ORDERS,
    "LineItemConnection": _ORDERS,
    "LineItemEdge": _ORDERS,
    "LineItem": _ORDERS,
    "Refund": _ORDERS,
    "Fulfillment": _ORDERS,
    "FulfillmentService": _ORDERS,
    "FulfillmentTrackingInfo": _ORDERS,
    "FulfillmentLineItemConnection": _ORDERS,
    "FulfillmentLineItem": _ORDERS,
    "FulfillmentEventConnection": _ORDERS,
    "FulfillmentEvent": _ORDERS,
    "Customer": ("read_customers",),
    "CustomerEmailAddress": ("read_customers",),
    "Location": ("read_locations",),
    "FulfillmentOrderConnection": FULFILLMENT_ORDER_SCOPES,
    "FulfillmentOrderEdge": FULFILLMENT_ORDER_SCOPES,
    "FulfillmentOrder": FULFILLMENT_ORDER_SCOPES,
    "FulfillmentHold": FULFILLMENT_ORDER_SCOPES,
    "DeliveryMethod": FULFILLMENT_ORDER_SCOPES,
}

# The webhooks Lumen subscribes to, to drop cached order data the moment Shopify changes it.
WEBHOOK_TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "fulfillments/create",
    "fulfillments/update",
    "fulfillment_events/create",
)
# Mandatory for every app, and guarded by no scope.
COMPLIANCE_TOPICS = ("customers/data_request", "customers/redact", "shop/redact")

# Topic -> the scope Lumen requests for it (one of those the schema's topic description accepts).
TOPIC_SCOPES: dict[str, str] = {
    "orders/create": "read_orders",
    "orders/updated": "read_orders",
    "orders/cancelled": "read_orders",
    "fulfillments/create": "read_fulfillments",
    "fulfillments/update": "read_fulfillments",
    "fulfillment_events/create": "read_fulfillments",
}

# The result of `derive_scopes` over Lumen's documents and topics; tests/test_shopify_schema.py keeps them equal.
REQUIRED_SCOPES = frozenset(
    {
        "read_orders",
        "read_customers",
        "read_locations",
        "read_fulfillments",
        "read_merchant_managed_fulfillment_orders",
        "read_third_party_fulfillment_orders",
    }
)
# The app proxy (the widget's route on the shop's own domain) is registered with this scope; no query needs it.
APP_PROXY_SCOPE = "write_app_proxy"
# Everything the app asks the merchant for: shopify-app/shopify.app.toml, the install link, the README and
# docs/install-shopify.md (tests/test_shopify_schema.py keeps them equal).
APP_SCOPES = REQUIRED_SCOPES | {APP_PROXY_SCOPE}
# Not requested by default: orders older than 60 days are invisible without it (and Shopify must approve it for
# public apps). A lookup that finds nothing may be an old order; /admin says so when this scope is missing.
OPTIONAL_SCOPES = frozenset({"read_all_orders"})


def with_implied(granted: Iterable[str]) -> frozenset[str]:
    """Granted scopes plus the read scopes their write scopes imply (`write_orders` can read orders too)."""
    have = set(granted)
    known = APP_SCOPES | OPTIONAL_SCOPES | ANY_FULFILLMENT_ORDER_SCOPE
    have |= {"read_" + s.removeprefix("write_") for s in have if s.startswith("write_")} & known
    return frozenset(have)


def missing_scopes(granted: Iterable[str]) -> frozenset[str]:
    """Scopes the app asks for that were not granted (`write_x` counts as `read_x`)."""
    return APP_SCOPES - with_implied(granted)


def document_scopes(schema: GraphQLSchema, document: str) -> frozenset[str]:
    """The scopes one GraphQL document needs: every object type it reaches, looked up in `TYPE_SCOPES`."""
    from graphql import GraphQLError, TypeInfo, TypeInfoVisitor, Visitor, get_named_type, parse, visit

    type_info = TypeInfo(schema)
    reached: set[str] = set()

    class Collect(Visitor):
        def enter_field(self, *_: object) -> None:
            field_type = type_info.get_type()
            if field_type is not None:
                reached.add(get_named_type(field_type).name)

        def enter_operation_definition(self, *_: object) -> None:
            root = type_info.get_type()
            if root is not None:
                reached.add(get_named_type(root).name)

    visit(parse(document), TypeInfoVisitor(type_info, Collect()))
    composite = {name for name in reached if name in schema.type_map and hasattr(schema.type_map[name], "fields")}
    unknown = composite - TYPE_SCOPES.keys()
    if unknown:
        raise GraphQLError(f"classify the scope of {sorted(unknown)} in shopify/scopes.py TYPE_SCOPES")
    return frozenset(scope for name in composite for scope in TYPE_SCOPES[name])


_TOPIC_NEEDS = re.compile(r"Requires (?:the `(\w+)` scope|at least one of the following scopes: ([\w, ]+))")


def topic_scope_options(schema: GraphQLSchema) -> dict[str, frozenset[str]]:
    """What the schema's `WebhookSubscriptionTopic` descriptions say each topic needs (any one of the scopes)."""
    from graphql import GraphQLEnumType

    enum = schema.type_map["WebhookSubscriptionTopic"]
    assert isinstance(enum, GraphQLEnumType)
    options: dict[str, frozenset[str]] = {}
    for value in enum.values.values():
        description = value.description or ""
        topic = re.search(r"for `([a-z_/.]+)` events", description)
        if topic is None:
            continue
        needs = _TOPIC_NEEDS.search(description)
        if needs is None:
            options[topic.group(1)] = frozenset()
        else:
            options[topic.group(1)] = frozenset(s.strip() for s in (needs.group(1) or needs.group(2)).split(","))
    return options


def derive_scopes(schema: GraphQLSchema, documents: Iterable[str], topics: Iterable[str]) -> frozenset[str]:
    """The minimal scope set for these documents and webhook topics; raises on anything unclassified."""
    scopes: set[str] = set()
    for document in documents:
        scopes |= document_scopes(schema, document)
    options = topic_scope_options(schema)
    for topic in topics:
        if topic in COMPLIANCE_TOPICS:
            continue
        chosen = TOPIC_SCOPES.get(topic)
        if chosen is None or topic not in options or (options[topic] and chosen not in options[topic]):
            accepted = sorted(options.get(topic) or [])
            raise ValueError(f"webhook topic {topic!r}: scope {chosen!r} is not one Shopify accepts {accepted}")
        scopes.add(chosen)
    return frozenset(scopes)
