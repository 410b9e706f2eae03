"""Lumen's GraphQL documents against Shopify's real Admin schema (2026-07, captured by live introspection), and the
scope list derived from them: a query or webhook topic that needs a scope not in the list fails here."""

from __future__ import annotations

import gzip
import re
import tomllib
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
from graphql import (
    GraphQLList,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_non_null_type,
    parse,
    validate,
    visit,
)

from evals.fakes.shopify_admin import FIELD_SCOPES, NULLABLE_FIELDS
from evals.fakes.shopify_bulk import LIST_FIELDS
from shopify.bulk import BULK_DOCUMENTS, bulk_orders_query
from shopify.client import _LIST_SHAPE as LIST_SHAPE
from shopify.client import DOCUMENTS as LOOKUP_DOCUMENTS
from shopify.client import fulfillment_query, order_query, orders_query, updated_orders_query
from shopify.scopes import (
    ANY_FULFILLMENT_ORDER_SCOPE,
    APP_SCOPES,
    COMPLIANCE_TOPICS,
    OPTIONAL_SCOPES,
    REQUIRED_SCOPES,
    TOPIC_SCOPES,
    WEBHOOK_TOPICS,
    derive_scopes,
    document_scopes,
    missing_scopes,
    topic_scope_options,
)

SCHEMA = Path(__file__).parent / "data" / "shopify-admin-2026-07.graphql.gz"
# Every document Lumen sends: the lookups' and the bulk export's.
DOCUMENTS = (*LOOKUP_DOCUMENTS, *BULK_DOCUMENTS)


@cache
def schema() -> GraphQLSchema:
    # Shopify's own schema breaks a few of graphql-core's interface-deprecation rules; the documents are still
    # validated in full against it.
    return build_schema(gzip.decompress(SCHEMA.read_bytes()).decode(), assume_valid=True)


def reduced_documents() -> list[str]:
    """The scope-shaped variants the client builds when some scopes are not granted."""
    variants = [frozenset(), frozenset({"read_orders"}), REQUIRED_SCOPES - {"read_locations"}]
    builders = [
        lambda scopes: orders_query("LumenOrders", LIST_SHAPE, scopes),
        fulfillment_query,
        order_query,
        updated_orders_query,
        lambda scopes: bulk_orders_query(datetime(2026, 1, 1, tzinfo=UTC), scopes),
    ]
    return [build(scopes) for build in builders for scopes in variants]


def fields_used(document: str) -> list[tuple[str, str, bool, str | None, bool]]:
    """(parent type, field, nullable, deprecation reason, composite) of every field the document selects."""
    type_info = TypeInfo(schema())
    found: list[tuple[str, str, bool, str | None, bool]] = []

    class Collect(Visitor):
        def enter_field(self, node: object, *_: object) -> None:
            parent, definition = type_info.get_parent_type(), type_info.get_field_def()
            assert parent is not None and definition is not None
            name = node.name.value  # type: ignore[attr-defined]
            composite = is_composite_type(get_named_type(definition.type))
            found.append(
                (parent.name, name, not is_non_null_type(definition.type), definition.deprecation_reason, composite)
            )

    visit(parse(document), TypeInfoVisitor(type_info, Collect()))
    return found


@pytest.mark.parametrize("document", [*DOCUMENTS, *reduced_documents()], ids=lambda d: d.split("(")[0][:40])
def test_every_document_is_valid_against_shopifys_schema(document: str) -> None:
    assert validate(schema(), parse(document)) == []
    deprecated = [(t, f, why) for t, f, _, why, _ in fields_used(document) if why]
    assert deprecated == []


def test_fields_lumen_no_longer_needs_are_not_fetched() -> None:
    used = {(t, f) for document in DOCUMENTS for t, f, *_ in fields_used(document)}
    assert not used & {("Customer", "displayName"), ("MailingAddress", "city"), ("MailingAddress", "provinceCode")}


def test_scope_list_is_what_the_documents_and_topics_need() -> None:
    assert derive_scopes(schema(), DOCUMENTS, [*WEBHOOK_TOPICS, *COMPLIANCE_TOPICS]) == REQUIRED_SCOPES
    # Fields only appear when their scope was granted, so no reduced document needs more than it was built for.
    assert document_scopes(schema(), orders_query("Q", LIST_SHAPE, frozenset({"read_orders"}))) == {"read_orders"}


def test_a_query_reaching_an_unclassified_type_fails_the_scope_check() -> None:
    with pytest.raises(Exception, match="classify the scope of \\['Product'"):
        document_scopes(schema(), "{ products(first: 1) { nodes { title } } }")


def test_webhook_topics_need_what_the_schema_says() -> None:
    options = topic_scope_options(schema())
    assert options["fulfillments/update"] == {"read_fulfillments", "read_marketplace_orders"}
    for topic in WEBHOOK_TOPICS:
        assert TOPIC_SCOPES[topic] in options[topic]
        assert TOPIC_SCOPES[topic] in REQUIRED_SCOPES
    with pytest.raises(ValueError, match="products/update"):
        derive_scopes(schema(), [], ["products/update"])


def test_missing_scopes_count_write_as_read() -> None:
    assert missing_scopes(APP_SCOPES) == frozenset()
    assert missing_scopes({"write_orders"} | (APP_SCOPES - {"read_orders"})) == frozenset()
    assert missing_scopes(APP_SCOPES - {"read_locations"}) == {"read_locations"}


ROOT = Path(__file__).parent.parent
_SCOPE_NAME = re.compile(r"\b(?:read|write)_[a-z_]+\b")


def test_the_app_configuration_and_the_docs_ask_for_exactly_these_scopes() -> None:
    config = tomllib.loads((ROOT / "shopify-app" / "shopify.app.toml").read_text(encoding="utf-8"))
    assert set(config["access_scopes"]["scopes"].split(",")) == APP_SCOPES
    for doc in ("README.md", "docs/install-shopify.md"):
        assert set(_SCOPE_NAME.findall((ROOT / doc).read_text(encoding="utf-8"))) == APP_SCOPES | OPTIONAL_SCOPES, doc


def test_the_fakes_nullability_and_scope_gates_match_the_schema() -> None:
    # The fake moves a denied field's null up to the nearest nullable object field: that list must be Shopify's.
    composite = {(t, f, nullable) for d in DOCUMENTS for t, f, nullable, _, is_object in fields_used(d) if is_object}
    assert {f for _, f, nullable in composite if nullable} == NULLABLE_FIELDS
    assert not {f for _, f, nullable in composite if not nullable} & NULLABLE_FIELDS
    # Its scope gates are the same knowledge as shopify/scopes.py's.
    assert FIELD_SCOPES["fulfillmentOrders"] == ANY_FULFILLMENT_ORDER_SCOPE
    assert FIELD_SCOPES["location"] == {"read_locations"} and FIELD_SCOPES["customer"] == {"read_customers"}


def test_the_fakes_list_fields_are_the_schemas() -> None:
    # The fake refuses a connection under a list field in a bulk query, as Shopify does: it must know which are lists.
    type_info = TypeInfo(schema())
    lists: set[str] = set()

    class Collect(Visitor):
        def enter_field(self, node: object, *_: object) -> None:
            definition = type_info.get_field_def()
            assert definition is not None
            if isinstance(get_nullable_type(definition.type), GraphQLList) and is_composite_type(
                get_named_type(definition.type)
            ):
                lists.add(node.name.value)  # type: ignore[attr-defined]

    for document in DOCUMENTS:
        visit(parse(document), TypeInfoVisitor(type_info, Collect()))
    assert lists - {"edges", "nodes"} == LIST_FIELDS  # a connection's own lists aside
