"""Order names with punctuation in the shop's prefix or suffix ('AB.5101', 'X/5101', 'ZZ_5101-Q', 'A1-5101',
'QF 5101', '#5101/AU'): Shopify lets a shop write any of these (`orderNumberFormatPrefix`/`Suffix`). Read from what
shoppers type however they spell the punctuation, kept whole by the one normalisation (`shopify/names.py`), so an
order verified under such a name is listed, handed off and looked up again (in a store file, live and in the mirror);
and the other readings the same shop showed: a postcode beside such a name, "5101 / 2600 - any news?", a logged-in
"what happened to the cancelled one" after a greeting, and "where do I pick it up from?" after a card was left.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.grounding import _unknown_orders
from agent.playbook.own_orders import order_named_by_state
from agent.playbook.understand import extract_details, order_numbers
from agent.service import Lumen
from config import Settings
from evals.fakes.shopify_admin import ALL_SCOPES, FakeShopify
from shopify.client import ShopifyAdmin, order_name_candidates
from shopify.names import (
    NameFormat,
    formatted_order_name,
    matching_order_names,
    names_in_text,
    normalize_order_number,
    order_name_matches,
)
from shopify.source import parse_now
from storage import Database
from sync import MirroredSource, OrderSync
from tests import store_builders as build
from tests.mirror_harness import Upstream

# (prefix, suffix) as a shop may set them: a dot, a slash, an underscore and a suffix, a digit inside the prefix, a
# space, punctuation in the suffix only.
FORMATS = [("AB.", ""), ("X/", ""), ("ZZ_", "-Q"), ("A1-", ""), ("QF ", ""), ("#", "/AU")]
EMAIL = "rowan.pike@example.com.au"
CUSTOMER = "gid://shopify/Customer/90017"
AS_OF = "2026-10-20T00:00:00Z"


def _name(fmt: tuple[str, str], number: int) -> str:
    return f"{fmt[0]}{number}{fmt[1]}"


def _typed(fmt: tuple[str, str], number: int) -> list[str]:
    """Ways a shopper types a name: as written, lower case, the punctuation as a space, a dash or nothing, digits."""
    prefix, suffix = fmt
    letters = re.sub(r"[^A-Za-z0-9]", "", prefix)
    tail = re.sub(r"[^A-Za-z0-9]", "", suffix)
    ways = [_name(fmt, number), _name(fmt, number).lower(), str(number)]
    if letters:
        ways += [f"{letters} {number}", f"{letters.lower()}-{number}", f"{letters.lower()}{number}"]
    if tail:
        ways += [f"{number} {tail}", f"{number}{tail.lower()}"]
    return ways


# --- a store whose names carry punctuation -------------------------------------------------------------------------
def _event(status: str, message: str, city: str) -> dict[str, Any]:
    return build.event(status, "2026-10-19T02:00:00Z", message, city)


def _fulfilment(name: str, number: int, status: str, message: str, item: str) -> dict[str, Any]:
    return build.package(
        item,
        "Australia Post",
        f"KP{number}0001AU",
        status=status,
        events=[_event(status, message, "Millbrook")],
        created_at="2026-10-14T01:00:00Z",
        in_transit_at="2026-10-14T05:00:00Z",
        name=f"{name}-F1",
    )


def _order(name: str, number: int, item: str, **extra: Any) -> dict[str, Any]:
    """Shipped, its packages given as `fulfillments=`."""
    return build.order(
        name,
        email=EMAIL,
        zip_code="2612",
        country="AU",
        items=item,
        amount="72.50",
        currency="AUD",
        original_total=False,
        ordered_at="2026-10-12T01:00:00Z",
        shipped=True,
        id=f"gid://shopify/Order/88{number}",
        customer={"id": CUSTOMER},
        shippingAddress={"city": "Millbrook", "zip": "2612", "countryCodeV2": "AU"},
        **extra,
    )


def write_store(tmp_path: Path, fmt: tuple[str, str]) -> Path:
    """Kestrel Outfitters (en-AU): 5101 in transit, 5102 a missed delivery with a card left, 5103 cancelled."""
    first, second, third = (_name(fmt, n) for n in (5101, 5102, 5103))
    orders = [
        _order(first, 5101, "Trail Lantern",
               fulfillments=[_fulfilment(first, 5101, "IN_TRANSIT", "In transit to delivery centre", "Trail Lantern")]),
        _order(second, 5102, "Folding Camp Stool",
               fulfillments=[_fulfilment(second, 5102, "ATTEMPTED_DELIVERY",
                                         "Card left. Collect from Millbrook Post Office after 3pm",
                                         "Folding Camp Stool")]),
        _order(third, 5103, "Billy Can Set", displayFulfillmentStatus="UNFULFILLED",
               cancelledAt="2026-10-13T01:00:00Z", displayFinancialStatus="REFUNDED",
               fulfillmentOrders={"nodes": []},
               refunds=[build.refund("2026-10-13T02:00:00Z", "72.50", "AUD")]),
    ]  # fmt: skip
    shop = build.shop("Kestrel Outfitters", "Australia/Sydney", "AUD", locale="en-AU",
                      orderNumberFormatPrefix=fmt[0], orderNumberFormatSuffix=fmt[1])  # fmt: skip
    path = tmp_path / "kestrel.json"
    path.write_text(json.dumps(build.store(shop, orders, as_of=AS_OF)), encoding="utf-8")
    return path


async def converse(store: Path, *turns: str, customer_id: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """The replies, and each turn's tool calls as (name, args, result)."""
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=store)
    try:
        replies: list[str] = []
        calls: list[list[Any]] = []
        session, seen = None, 0
        for message in turns:
            turn = await lumen.chat(message, session, customer_id=customer_id)
            session = turn.session_id
            replies.append(turn.reply)
            transcript = await lumen.transcript(session)
            assert transcript is not None
            parts = [p for m in transcript["messages"] for p in m["parts"]]
            results = {p["tool_call_id"]: p["content"] for p in parts if p["part_kind"] == "tool-return"}
            made = [(p["tool_name"], p["args"], results.get(p["tool_call_id"])) for p in parts
                    if p["part_kind"] == "tool-call"]  # fmt: skip
            calls.append(made[seen:])
            seen = len(made)
        return replies, calls
    finally:
        await lumen.close()


# --- the one normalisation -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_way_of_typing_a_punctuated_name_finds_it_and_only_it(fmt: tuple[str, str]) -> None:
    names = [_name(fmt, n) for n in (5101, 5102, 51010)]
    for typed in _typed(fmt, 5101):
        number = normalize_order_number(typed)
        assert number is not None, typed
        assert matching_order_names(number, names, prefix=fmt[0], suffix=fmt[1]) == [names[0]], typed
        # In the shop's format (bare digits too: a one-letter suffix alone tells orders apart, '#4410-B' from '#4410').
        written = formatted_order_name(number, *fmt)
        assert written == names[0], typed
        assert order_name_matches(names[0], written) and not order_name_matches(names[1], written), typed
        assert order_name_candidates(number, *fmt) == [names[0]], typed


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("AB.5101", "AB.5101"),
        ("order no. ab.5101", "AB.5101"),
        ("x / 5101", "X/5101"),
        ("ZZ_55-Q", "ZZ_55-Q"),
        ("REF-5101", "REF-5101"),  # a prefix that is also a word for "number", joined to it: kept
        ("ref: 5101", "5101"),
        ("#5101/AU", "5101/AU"),
        ("5101 please", None),
    ],
)
def test_the_names_punctuation_is_kept_and_the_words_round_it_go(typed: str, kept: str | None) -> None:
    assert normalize_order_number(typed) == kept


def test_a_prefix_ending_in_a_digit_keeps_its_number_apart() -> None:
    for typed in ("A1-5101", "a1 5101", "A15101", "5101"):
        assert formatted_order_name(typed, "A1-", "") == "A1-5101", typed
    assert matching_order_names("A15101", ["A1-5101", "A1-15101"], prefix="A1-", suffix="") == ["A1-5101"]


def test_another_shops_letters_or_digits_never_match() -> None:
    names = ["AB.5101"]
    for typed in ("CD.5101", "AB.5102", "ABC.5101", "5101-X"):
        assert matching_order_names(typed, names, prefix="AB.", suffix="") == [], typed


@pytest.mark.parametrize(
    ("message", "fmt", "found"),
    [
        ("hi, ab.5101 and my postcode is 2612", ("AB.", ""), ["AB.5101"]),
        ("AB 5101 / ab-5102, Ab5103", ("AB.", ""), ["AB.5101", "AB.5102", "AB.5103"]),
        ("x 77 and X/5101", ("X/", ""), ["X/5101"]),  # a short number needs the name's own punctuation
        ("zz 5101 q, ZZ_55-Q", ("ZZ_", "-Q"), ["ZZ_5101-Q", "ZZ_55-Q"]),
        ("where's 5101 au", ("#", "/AU"), ["#5101/AU"]),
        ("a1 5101 and A15102", ("A1-", ""), ["A1-5101", "A1-5102"]),
        ("mail me at ab.5101@example.com", ("AB.", ""), []),
        ("ab5101-b and AB.5102/2", ("AB.", ""), []),  # more of a name after it: another name, read as typed
        ("where is 5101", ("#", ""), []),  # a shop of plain numbers: nothing to read by
    ],
)
def test_names_in_a_message_are_read_by_the_shops_format(message: str, fmt: tuple[str, str], found: list[str]) -> None:
    assert [n.name for n in names_in_text(message, *fmt)] == found


# --- reading the shopper: the name, and the postcode beside it ---------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "ab.5101 postcode 2612",
        "2612 is my postcode and the order is AB-5101",
        "my postcode's 2612, AB.5101",
        "AB 5101 2612",
        "ab5101 pc 2612 cheers",
    ],
)
def test_a_postcode_beside_a_punctuated_name_is_the_postcode(message: str) -> None:
    fmt = NameFormat("AB.", "")
    details = extract_details(message, None, "AU", fmt)
    assert (details.order_number, details.postal_code) == ("AB.5101", "2612")
    assert order_numbers(message, details.postal_code, fmt) == ["AB.5101"]


@pytest.mark.parametrize(
    "message",
    [
        "5101 / 2612 - any chance it comes before the weekend?",
        "5101 2612 - any news",
        "5101, 2612 - what's going on",
    ],
)
def test_a_word_after_a_dash_is_no_suffix_so_the_number_before_it_is_the_postcode(message: str) -> None:
    fmt = NameFormat("AB.", "")
    details = extract_details(message, None, "AU", fmt)
    assert (details.order_number, details.postal_code) == ("5101", "2612")
    assert order_numbers(message, details.postal_code, fmt) == ["5101"]


def test_the_shops_own_suffix_after_a_dash_is_still_one() -> None:
    details = extract_details("5101 - ab 2612", None, "AU", NameFormat("#", "-AB"))
    assert details.order_number is not None and details.order_number.upper().endswith("AB")
    assert details.postal_code == "2612"


# --- a conversation on a store file ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
async def test_an_order_proved_by_its_digits_is_shown_under_its_punctuated_name(
    tmp_path: Path, fmt: tuple[str, str]
) -> None:
    replies, calls = await converse(write_store(tmp_path, fmt), "order 5101, postcode 2612")
    # The verified result carries the order's packages: no list_fulfillments needed.
    [(name, _, result)] = calls[0]
    assert (name, result["status"], result["fulfillments"]["status"]) == ("find_order", "verified", "ok")
    assert "Trail Lantern" in replies[0] and "KP51010001AU" in replies[0] and "can't reach" not in replies[0]


@pytest.mark.parametrize("fmt", FORMATS)
async def test_a_punctuated_name_typed_is_proved_handed_off_and_looked_up_again(
    tmp_path: Path, fmt: tuple[str, str]
) -> None:
    typed = _typed(fmt, 5101)[1]  # lower case, the shop's own punctuation
    replies, calls = await converse(
        write_store(tmp_path, fmt),
        f"hey where's {typed}? {EMAIL}",
        "can I talk to a person about it please",
        f"and {typed} again, any update?",
    )
    name = _name(fmt, 5101)
    assert [(n, r["status"], r["fulfillments"]["status"]) for n, _, r in calls[0]] == [("find_order", "verified", "ok")]
    assert "KP51010001AU" in replies[0]
    [(tool, args, result)] = calls[1]
    assert (tool, args.get("order_number"), result["status"]) == ("escalate", name, "created")
    assert EMAIL in replies[1]
    statuses = {n: r["status"] for n, _, r in calls[2]}
    # The name given back is looked up again (a tool reads it), and no tool refuses it.
    assert statuses and set(statuses.values()) <= {"verified", "ok"}, statuses
    assert "can't reach" not in replies[2] and "order number" not in replies[2].lower()


@pytest.mark.parametrize("fmt", [("AB.", ""), ("ZZ_", "-Q")])
def test_grounding_knows_a_returned_punctuated_name_however_the_reply_writes_it(fmt: tuple[str, str]) -> None:
    name, other = _name(fmt, 5101), _name(fmt, 5102)
    known = frozenset({name})
    assert _unknown_orders(f"Your order {name} is on its way.", known) == []
    assert _unknown_orders(f"Order #{name}.", known) == []
    assert _unknown_orders(f"Your order {other} is on its way.", known) == [f"order number {other}"]


# --- live and mirrored --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
async def test_the_live_client_finds_a_punctuated_name_typed_any_way(tmp_path: Path, fmt: tuple[str, str]) -> None:
    with FakeShopify(write_store(tmp_path, fmt)) as fake:
        async with ShopifyAdmin(fake.url, fake.token, cache_ttl_s=0) as client:
            for typed in _typed(fmt, 5101):
                found = await client.orders_by_name(normalize_order_number(typed) or typed)
                assert [o.name for o in found] == [_name(fmt, 5101)], typed
            assert await client.orders_by_name(_name(fmt, 5101), email="someone.else@example.com") == []


@pytest.mark.parametrize("fmt", FORMATS)
async def test_the_mirror_answers_a_punctuated_name_without_asking_shopify(
    tmp_path: Path, fmt: tuple[str, str]
) -> None:
    with FakeShopify(write_store(tmp_path, fmt)) as fake:
        fake.grant_scopes(ALL_SCOPES)
        db = Database("sqlite:///:memory:")
        await db.connect()
        upstream = Upstream(fake)

        def client() -> ShopifyAdmin:
            return ShopifyAdmin(fake.url, fake.token, cache_ttl_s=0, now=parse_now(fake.as_of))

        sync = OrderSync(
            db, client(), exporter=upstream.export, reader=upstream.read, stamps=upstream.stamps,
            events_reader=upstream.read_events, confirmer=upstream.confirm, bucket_level=upstream.bucket_level,
            owns_admin=True,
        )  # fmt: skip
        mirror = MirroredSource(client(), db, sync)
        try:
            await sync.backfill()
            await mirror.shop()
            sent = fake.requests
            for typed in _typed(fmt, 5101):
                found = await mirror.orders_by_name(normalize_order_number(typed) or typed, email=EMAIL)
                assert [o.name for o in found] == [_name(fmt, 5101)], typed
            assert fake.requests == sent  # every one answered from the mirror
        finally:
            await mirror.aclose()
            await db.close()


# --- the other readings the same shop showed -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "hiya, what happened to the cancelled one",
        "hey, which one got cancelled",
        "morning! whats the story with my order that was cancelled",
    ],
)
async def test_a_logged_in_shopper_names_the_cancelled_order_after_a_greeting(tmp_path: Path, message: str) -> None:
    assert order_named_by_state(message)
    replies, _ = await converse(write_store(tmp_path, ("AB.", "")), message, customer_id="90017")
    assert "AB.5103" in replies[0] and "cancelled" in replies[0] and "72.50" in replies[0]


@pytest.mark.parametrize(
    "message", ["what's your cancellation policy", "hi there", "what does in transit mean", "cancelled my gym lol"]
)
def test_no_order_is_named_by_a_state_without_pointing_at_one(message: str) -> None:
    assert not order_named_by_state(message)


@pytest.mark.parametrize(
    "question", ["where do i pick it up from then", "so where do I collect it?", "where's it waiting for me"]
)
async def test_where_to_collect_a_carded_parcel_is_the_carriers_own_words(tmp_path: Path, question: str) -> None:
    replies, _ = await converse(write_store(tmp_path, ("X/", "")), "5102 2612", question)
    assert "Millbrook Post Office" in replies[1] and "Nothing has changed" not in replies[1]


async def test_a_where_question_about_a_parcel_on_its_way_is_not_a_collection(tmp_path: Path) -> None:
    replies, _ = await converse(write_store(tmp_path, ("X/", "")), "5101 2612", "where do i pick it up from")
    assert "Collect" not in replies[1]


async def test_a_hold_asked_with_a_day_is_the_hold_not_a_deadline(tmp_path: Path) -> None:
    replies, _ = await converse(
        write_store(tmp_path, ("AB.", "")), f"AB.5101 {EMAIL} can you hold it at the depot, I'm away till friday"
    )
    assert "held" in replies[0] and "team" in replies[0] and replies[0].rstrip().endswith("?")


@pytest.mark.parametrize("typed", ["5.5", "12.5kg", "1/2", "2026/11/30", "30.11.2026", "1001/2"])
def test_a_decimal_fraction_or_date_is_no_order_name(typed: str) -> None:
    # A dot or slash between runs of digits alone is a number or a date, never a shop's name: passed as an order
    # number (by an LLM, or read from a message) it would cost the shopper a lookup and a counted attempt.
    assert normalize_order_number(typed) is None


@pytest.mark.parametrize("typed", ["TSV.8101", "x/123", "A1.1001", "8101.AU"])
def test_a_dot_or_slash_beside_letters_stays_a_name(typed: str) -> None:
    assert normalize_order_number(typed) == typed.upper()


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ("I bought a 1000 piece puzzle, where is it", []),
        ("a 2500 gram bag never came", []),
        ("where is A/1000", ["A/1000"]),
        ("a1000 please", ["A/1000"]),
        ("order A 1000", ["A/1000"]),
    ],
)
def test_a_lone_lowercase_letter_before_a_space_is_a_word(message: str, found: list[str]) -> None:
    assert [n.name for n in names_in_text(message, "A/", "")] == found
