"""The three tools: verification in code, what leaves them, and their schemas (pinned for review)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from inline_snapshot import snapshot
from pydantic_ai import RunContext
from pydantic_ai.messages import ModelRequest, UserPromptPart
from pydantic_ai.models.test import TestModel
from pydantic_ai.usage import RunUsage

from outbox import EscalationService, MailSettings
from shopify import FixtureStore
from shopify.domain import Order, Shop, parse_shop
from shopify.names import matching_order_names
from storage import Database
from tools.context import MAX_FAILED_LOOKUPS, SessionState, ToolContext
from tools.escalate import escalate
from tools.find_order import FindOrderResult, find_order
from tools.list_fulfillments import list_fulfillments
from tools.toolset import build_toolset
from tools.views import When, when

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo-store.json"
SECOND = Path(__file__).resolve().parent / "data" / "second-store.json"
# Names with a prefix and a suffix ('BOG-5101-IE'); the file does not say the shop's format. BOG-5130-IE and
# BOG-5130-UK share their digits.
AFFIXED = Path(__file__).resolve().parent / "data" / "affixed-store.json"


@pytest.fixture
async def service():
    db = Database("sqlite:///:memory:")
    await db.connect()
    yield EscalationService(db, MailSettings())
    await db.close()


def ctx_for(deps: ToolContext, *prompts: str) -> RunContext[ToolContext]:
    messages = [ModelRequest(parts=[UserPromptPart(p)]) for p in prompts]
    return RunContext(deps=deps, model=TestModel(), usage=RunUsage(), messages=messages)


async def find(deps: ToolContext, **details: str) -> FindOrderResult:
    """`find_order` as a model calls it, with details the shopper typed in a message of this conversation."""
    typed = " ".join(value for value in details.values() if value)
    return await find_order(ctx_for(deps, typed), **details)


def deps_for(store: Path = DEMO, escalations: EscalationService | None = None, **session) -> ToolContext:
    return ToolContext(
        source=FixtureStore(store), session=SessionState(**session), conversation_id="c1", escalations=escalations
    )


def raw_orders(store: Path = DEMO) -> list[dict]:
    return json.loads(store.read_text())["orders"]


async def test_a_number_alone_reveals_nothing() -> None:
    deps = deps_for()
    existing = await find(deps, order_number="#1042")
    missing = await find(deps, order_number="#9999")
    assert existing.status == missing.status == "verification_needed"
    assert existing.order is None and missing.order is None
    assert deps.session.verified_orders == []


@pytest.mark.parametrize("typed", ["#1042", "1042", "order no. 1042", "Order #1042", " order number 1042 "])
async def test_number_forms_and_case_insensitive_email(typed: str) -> None:
    deps = deps_for()
    result = await find(deps, order_number=typed, email="Jordan.Lee@Example.com ")
    assert result.status == "verified"
    assert result.order is not None and result.order.order_number == "#1042"
    assert deps.session.verified_orders == ["#1042"]


async def test_wrong_email_reads_exactly_like_a_missing_order() -> None:
    deps = deps_for()
    wrong_email = await find(deps, order_number="1042", email="maya.patel@example.com")
    no_such_order = await find(deps, order_number="9999", email="maya.patel@example.com")
    assert wrong_email.status == no_such_order.status == "not_found"
    assert wrong_email.model_dump(exclude={"order_number"}) == no_such_order.model_dump(exclude={"order_number"})
    assert deps.session.verified_orders == []


# --- order names in every form, on a shop whose names have a prefix and a suffix -----------------------------------


def affixed_with_format(tmp_path: Path) -> Path:
    """The affixed store, saying its format the way Shopify does (`orderNumberFormatPrefix`/`Suffix`)."""
    raw = json.loads(AFFIXED.read_text())
    raw["shop"] |= {"orderNumberFormatPrefix": "BOG-", "orderNumberFormatSuffix": "-IE"}
    path = tmp_path / "store.json"
    path.write_text(json.dumps(raw))
    return path


NAME_FORMS = [
    ("5101", "aoife.byrne@example.ie", "BOG-5101-IE"),
    ("#5101", "aoife.byrne@example.ie", "BOG-5101-IE"),
    ("order no. 5109", "mairead.lynch@example.com", "BOG-5109-IE"),
    ("bog5101", "aoife.byrne@example.ie", "BOG-5101-IE"),
    ("BOG 5101 IE", "aoife.byrne@example.ie", "BOG-5101-IE"),
    ("bog-5101-ie", "aoife.byrne@example.ie", "BOG-5101-IE"),
    ("BOG5105IE", "roisin.walsh@example.ie", "BOG-5105-IE"),
    ("BOG - 5104 - IE", "sean.murphy@example.ie", "BOG-5104-IE"),
    ("5104-ie", "sean.murphy@example.ie", "BOG-5104-IE"),
]


@pytest.mark.parametrize("says_format", [False, True], ids=["format-unsaid", "format-said"])
@pytest.mark.parametrize(("typed", "email", "name"), NAME_FORMS)
async def test_an_order_name_typed_any_way_finds_the_order(
    tmp_path: Path, says_format: bool, typed: str, email: str, name: str
) -> None:
    deps = deps_for(affixed_with_format(tmp_path) if says_format else AFFIXED)
    result = await find(deps, order_number=typed, email=email)
    assert result.status == "verified"
    assert result.order is not None and result.order.order_number == name
    # Proved once, the order is the shopper's in any form: its digits alone, or its full name, need no email again.
    for again in (name.split("-")[1], name, typed):
        assert (await find(deps, order_number=again)).status == "verified", again
        assert (await list_fulfillments(ctx_for(deps), order_number=again)).status == "ok", again


@pytest.mark.parametrize("says_format", [False, True], ids=["format-unsaid", "format-said"])
@pytest.mark.parametrize(
    ("typed", "email"),
    [
        ("XY-5101", "aoife.byrne@example.ie"),  # another prefix is another order
        ("5101-UK", "aoife.byrne@example.ie"),  # another suffix too
        ("51010", "aoife.byrne@example.ie"),  # other digits
        ("510", "aoife.byrne@example.ie"),
        ("5101", "sean.murphy@example.ie"),  # the email still decides
    ],
)
async def test_an_order_name_never_finds_a_different_order(
    tmp_path: Path, says_format: bool, typed: str, email: str
) -> None:
    deps = deps_for(affixed_with_format(tmp_path) if says_format else AFFIXED)
    result = await find(deps, order_number=typed, email=email)
    missing = await find(deps_for(AFFIXED), order_number="9999", email=email)
    assert result.status == "not_found" and result.order is None
    assert result.model_dump(exclude={"order_number"}) == missing.model_dump(exclude={"order_number"})


async def test_digits_two_orders_share_name_neither_unless_the_shop_says_its_format(tmp_path: Path) -> None:
    """BOG-5130-IE and BOG-5130-UK: '5130' alone could be either, so without the format it proves neither."""
    for email, postcode in (("ciara.nolan@example.ie", "D08 K1W2"), ("owen.price@example.co.uk", "BT1 5GS")):
        assert (await find(deps_for(AFFIXED), order_number="5130", email=email)).status == "not_found"
        assert (await find(deps_for(AFFIXED), order_number="5130", postal_code=postcode)).status == "not_found"
    uk = await find(deps_for(AFFIXED), order_number="bog 5130 uk", postal_code="BT1 5GS")
    assert uk.order is not None and uk.order.order_number == "BOG-5130-UK"
    ie = await find(deps_for(AFFIXED), order_number="5130IE", email="ciara.nolan@example.ie")
    assert ie.order is not None and ie.order.order_number == "BOG-5130-IE"
    # The shop's format says a bare number is BOG-<number>-IE: the UK order is not it.
    said = affixed_with_format(tmp_path)
    ie = await find(deps_for(said), order_number="5130", email="ciara.nolan@example.ie")
    assert ie.order is not None and ie.order.order_number == "BOG-5130-IE"
    assert (await find(deps_for(said), order_number="5130", postal_code="BT1 5GS")).status == "not_found"


def test_a_suffix_that_tells_orders_apart_is_never_left_off() -> None:
    names = ["#1042-B", "BOG-5101-IE", "#1001-2"]
    assert matching_order_names("1042", names) == []  # '#1042-B' may be the sibling of another #1042
    assert matching_order_names("1042b", names) == ["#1042-B"]
    assert matching_order_names("1001", names) == matching_order_names("10012", names) == []
    assert matching_order_names("1001 2", names) == ["#1001-2"]
    assert matching_order_names("5101", names) == ["BOG-5101-IE"]  # '-IE' is the shop's format


async def test_postal_code_ignores_case_and_spaces() -> None:
    deps = deps_for()
    assert (await find(deps, order_number="1042", postal_code=" 78704 ")).status == "verified"
    other = deps_for()
    assert (await find(other, order_number="1042", postal_code="97214")).status == "not_found"


async def test_verified_order_is_remembered_for_later_calls() -> None:
    deps = deps_for()
    assert (await list_fulfillments(ctx_for(deps), order_number="1042")).status == "not_verified"
    await find(deps, order_number="1042", email="jordan.lee@example.com")
    again = await find(deps, order_number="#1042")
    assert again.status == "verified"
    listed = await list_fulfillments(ctx_for(deps), order_number="#1042")
    assert listed.status == "ok"
    assert [t.number for p in listed.packages for t in p.tracking] == ["9400111899223197428490", "789104567123"]


async def test_a_verified_order_carries_its_packages_and_nothing_unproved_does() -> None:
    """find_order's verified result holds what list_fulfillments returns for the order, so a model needs no second
    request; a result that shows no single proved order holds none, whether the order exists or not."""
    deps = deps_for()
    for wrong in ({"order_number": "1042"}, {"order_number": "1042", "email": "guess@example.com"}):
        assert (await find(deps, **wrong)).fulfillments is None
    assert (await find(deps, order_number="9999", email="jordan.lee@example.com")).fulfillments is None
    found = await find(deps, order_number="1042", email="jordan.lee@example.com")
    assert found.status == "verified" and found.fulfillments is not None
    assert found.fulfillments == await list_fulfillments(ctx_for(deps), order_number="#1042")
    several = await find_order(ctx_for(deps_for(customer_id="gid://shopify/Customer/7002")))
    assert several.status == "customer_orders" and len(several.orders) == 2 and several.fulfillments is None


async def test_logged_in_customer_sees_their_own_orders_only() -> None:
    deps = deps_for(customer_id="gid://shopify/Customer/7002")
    result = await find_order(ctx_for(deps))
    assert result.status == "customer_orders"
    assert [o.order_number for o in result.orders] == ["#1042", "#1050"]
    # Another customer's order, even with its number, stays hidden without its email.
    other = await find(deps, order_number="1031")
    assert other.status == "verification_needed"


async def test_too_many_failed_attempts_stop_lookups() -> None:
    deps = deps_for()
    for n in range(MAX_FAILED_LOOKUPS):
        await find(deps, order_number=str(5000 + n), email="guess@example.com")
    blocked = await find(deps, order_number="1042", email="jordan.lee@example.com")
    assert blocked.status == "too_many_attempts"
    assert blocked.order is None


async def test_verification_factors_are_configurable() -> None:
    deps = deps_for()
    deps.verification_factors = frozenset({"email"})
    assert (await find(deps, order_number="1042", postal_code="78704")).status == "verification_needed"


@pytest.mark.parametrize("store", [DEMO, SECOND], ids=["demo", "second"])
async def test_tool_results_never_carry_private_fields(store: Path) -> None:
    """No street address, phone, cancel reason, tags or hold reasons, for every order of the store."""
    forbidden: set[str] = set()
    for node in raw_orders(store):
        address = node.get("shippingAddress") or {}
        forbidden |= {v for k, v in address.items() if k in ("address1", "address2", "phone") and v}
        forbidden |= {node["cancelReason"]} if node.get("cancelReason") else set()
        forbidden |= set(node.get("tags") or [])
        for fo in (node.get("fulfillmentOrders") or {}).get("nodes", []):
            forbidden |= {h["reason"] for h in fo.get("fulfillmentHolds") or []}
    for node in raw_orders(store):
        deps = deps_for(store)
        found = await find(deps, order_number=node["name"], email=node["email"])
        assert found.status == "verified", node["name"]
        listed = await list_fulfillments(ctx_for(deps), order_number=node["name"])
        dumped = found.model_dump_json() + listed.model_dump_json()
        leaks = sorted(f for f in forbidden if f in dumped)
        assert leaks == [], f"{node['name']} leaks {leaks}"


async def test_list_fulfillments_states() -> None:
    deps = deps_for()
    await find(deps, order_number="1089", email="sam.rivera@example.com")
    scheduled = await list_fulfillments(ctx_for(deps), order_number="1089")
    assert scheduled.packages == []
    assert [(p.state, p.fulfill_at.date if p.fulfill_at else None) for p in scheduled.pending] == [
        ("scheduled", "Monday, March 16, 2026")
    ]
    await find(deps, order_number="1065", email="lukas.schmidt@example.de")
    intl = await list_fulfillments(ctx_for(deps), order_number="1065")
    event = intl.packages[0].latest_event
    assert event is not None
    assert (event.message, event.days_ago, event.happened.date) == (
        "Departed origin country",
        14,
        "Friday, February 13, 2026",
    )


async def test_escalate_needs_a_verified_order_or_a_contact(service: EscalationService) -> None:
    deps = deps_for(escalations=service)
    ctx = ctx_for(deps, "I want a human", "it's 1031, maya.patel@example.com")
    assert (await escalate(ctx, reason="shopper_asked_for_human", summary="s")).status == "need_contact_email"
    not_mine = await escalate(ctx, reason="other", summary="s", order_number="1031")
    assert not_mine.status == "not_verified"
    await find_order(ctx, order_number="1031", email="maya.patel@example.com")
    first = await escalate(ctx, reason="delivered_not_received", summary="never arrived", order_number="#1031")
    again = await escalate(ctx, reason="delivered_not_received", summary="still", order_number="1031")
    assert (first.status, first.reply_to) == ("created", "maya.patel@example.com")
    assert again.status == "already_created" and again.reference == first.reference
    stored = await service.get(first.reference or "")
    assert stored is not None and [(m.speaker, m.text) for m in stored.transcript] == [
        ("shopper", "I want a human"),
        ("shopper", "it's 1031, maya.patel@example.com"),
    ]


def test_tool_schemas() -> None:
    """What the model reads about each tool. A change here changes Lumen's behaviour: review it."""
    toolset = build_toolset()
    schemas = {
        name: {"description": tool.function_schema.description, "parameters": tool.function_schema.json_schema}
        for name, tool in toolset.tools.items()
    }
    assert schemas == snapshot(
        {
            "find_order": {
                "description": """\
Look up one of this store's orders for the shopper, checking that it is theirs.

Pass every detail the shopper has given in this conversation. An order number alone never reveals anything:
the shopper must also give the email address used at checkout or the shipping postal code. A shopper who lost
the number can give both the email and the postal code instead. A logged-in customer can call this with no
arguments to get their recent orders. Only orders placed on this store exist here. A result that shows one order
carries its packages too (`fulfillments`, as list_fulfillments returns them).\
""",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "order_number": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "default": None,
                            "description": 'The order number exactly as the shopper typed it, e.g. "#1234", "1234" or "order 1234".',
                        },
                        "email": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "default": None,
                            "description": "The email address the shopper says they used at checkout.",
                        },
                        "postal_code": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "default": None,
                            "description": "The shipping ZIP or postal code the shopper gave.",
                        },
                    },
                    "type": "object",
                },
            },
            "list_fulfillments": {
                "description": """\
List the packages (shipments) of an order the shopper has already verified with find_order.

A verified find_order result already carries them (its `fulfillments`): call this to read them again later.

For each package: its items, carrier, tracking numbers and links, status, estimated delivery (only when the
carrier gave one), delivery time, and the latest tracking event with how many days ago it happened. Also the
items not shipped yet and whether the rest is being prepared, scheduled for a date, or on hold.\
""",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "order_number": {"description": 'The verified order\'s number, e.g. "#1234".', "type": "string"}
                    },
                    "required": ["order_number"],
                    "type": "object",
                },
            },
            "escalate": {
                "description": """\
Hand this conversation to the store's human support team, who reply by email.

Call it only when the shopper asks for a person or accepts your offer of one. It sends the team the
transcript, so the shopper does not have to repeat themselves. Calling it twice for the same order is harmless.\
""",
                "parameters": {
                    "additionalProperties": False,
                    "properties": {
                        "reason": {
                            "description": "Why a human is needed.",
                            "enum": [
                                "delivered_not_received",
                                "shopper_asked_for_human",
                                "cancellation_details",
                                "cancellation_request",
                                "missing_tracking",
                                "delayed_or_stuck",
                                "shipping_date_request",
                                "order_data_unavailable",
                                "other",
                            ],
                            "type": "string",
                        },
                        "summary": {
                            "description": "One or two sentences for the support team: what the shopper needs and what you already told them.",
                            "type": "string",
                        },
                        "order_number": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "default": None,
                            "description": "The order this is about, if the shopper verified one in this conversation.",
                        },
                        "shopper_email": {
                            "anyOf": [{"type": "string"}, {"type": "null"}],
                            "default": None,
                            "description": "An email address for the reply, when no verified order provides one.",
                        },
                    },
                    "required": ["reason", "summary"],
                    "type": "object",
                },
            },
        }
    )


# --- one definition of ownership, and the shop's locale -----------------------------------------------------------


def _order(**fields: object) -> Order:
    return Order.model_validate({"id": "o1", "name": "#1", "created_at": "2026-02-24T19:14:00Z", **fields})


def test_an_order_is_owned_by_its_email_or_its_customers_unless_narrowed() -> None:
    order = _order(email="Jane@Example.com", customer_email="jane.work@example.com")
    assert order.has_email(" jane@example.COM ")
    assert order.has_email("jane.work@example.com")
    assert not order.has_email("jane.work@example.com", checkout_only=True)
    assert not order.has_email("someone@example.com")
    assert not _order().has_email("jane@example.com")


def test_zip_plus_four_is_lenient_in_the_us_only() -> None:
    us = _order(shipping_zip="78704-1234", shipping_country="US")
    assert us.has_postal_code("78704") and us.has_postal_code("787041234")
    assert not us.has_postal_code("78705")
    elsewhere = _order(shipping_zip="EH1 1YZ", shipping_country="GB")
    assert elsewhere.has_postal_code("eh11yz")
    assert not elsewhere.has_postal_code("EH1")
    assert not _order(shipping_zip="787041234", shipping_country="CA").has_postal_code("78704")


def test_unknown_enum_values_become_other() -> None:
    order = _order(financial_status="SOMETHING_NEW", fulfillment_status="fulfilled")
    assert (order.financial_status, order.fulfillment_status) == ("OTHER", "FULFILLED")


def test_the_shop_locale_comes_from_the_store_file_and_shapes_dates(tmp_path: Path) -> None:
    raw = json.loads(DEMO.read_text())
    assert parse_shop(raw["shop"]).locale == "en_US"
    french = parse_shop({**raw["shop"], "primaryLocale": "fr-CA"})
    assert (french.locale, parse_shop({"locale": "not a locale"}).locale) == ("fr_CA", "en_US")
    moment = datetime(2026, 2, 24, 19, 14, tzinfo=UTC)
    assert when(moment, Shop(name="x", timezone="America/New_York")) == When(
        iso="2026-02-24T14:14:00-05:00", date="Tuesday, February 24, 2026", time="2:14 PM"
    )
    shown = when(moment, french.model_copy(update={"timezone": "America/Montreal"}))
    assert (shown.date, shown.time) == ("mardi 24 février 2026", "14 h 14")
