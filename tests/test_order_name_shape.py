"""The shop's order-name format reaches the playbook (Shopify's `orderNumberFormatPrefix`/`Suffix`, from the shop
query, the store file, or the names a store holds), years are told from order numbers only by a real date, and a
status question beside a request Lumen can't do gets both: the status from the data, the request offered to the team.

Every shop, order, customer and product here is invented for these tests.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import extract_details, order_numbers
from evals.fakes.shopify_admin import FakeShopify
from shopify.client import ShopifyAdmin
from shopify.domain import parse_shop
from shopify.names import NameFormat, inferred_name_format
from shopify.store_file import FixtureStore
from tests.test_understanding import Conversation
from tests.test_understanding import talk as talk_on

PLAIN = NameFormat("#", "")
AS_OF = "2026-09-14T12:00:00Z"


# --- a small invented store ------------------------------------------------------------------------------------------
def _order(name: str, number: int, email: str, zip_code: str, country: str, items: list[str], shipped: bool) -> dict:
    placed = "2026-09-08T09:30:00Z"
    fulfillment_order = {
        "status": "CLOSED" if shipped else "OPEN",
        "requestStatus": "UNSUBMITTED",
        "fulfillAt": None,
        "fulfillmentHolds": [],
        "deliveryMethod": {"methodType": "SHIPPING", "maxDeliveryDateTime": None},
    }
    fulfillments: list[dict[str, Any]] = []
    if shipped:
        fulfillments.append(
            {
                "name": f"{name}-F1",
                "status": "SUCCESS",
                "displayStatus": "IN_TRANSIT",
                "createdAt": "2026-09-09T10:00:00Z",
                "inTransitAt": "2026-09-10T08:00:00Z",
                "deliveredAt": None,
                "estimatedDeliveryAt": None,
                "service": None,
                "location": None,
                "trackingInfo": [
                    {"company": "UPS", "number": f"1Z4F7K2E{number:010d}", "url": "https://www.ups.com/track"}
                ],
                "fulfillmentLineItems": {"nodes": [{"quantity": 1, "lineItem": {"name": i}} for i in items]},
                "events": {
                    "nodes": [
                        {"status": "IN_TRANSIT", "happenedAt": "2026-09-11T21:45:00Z", "message": "In transit",
                         "city": "Louisville", "province": None, "country": None},
                    ]
                },
            }
        )  # fmt: skip
    return {
        "id": f"gid://shopify/Order/{number}",
        "name": name,
        "email": email,
        "createdAt": placed,
        "processedAt": placed,
        "cancelledAt": None,
        "cancelReason": None,
        "closedAt": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED" if shipped else "UNFULFILLED",
        "returnStatus": "NO_RETURN",
        "tags": [],
        "currentTotalPriceSet": {"shopMoney": {"amount": "58.00", "currencyCode": "USD"}},
        "customer": None,
        "shippingAddress": {"city": "Springfield", "provinceCode": None, "zip": zip_code, "countryCodeV2": country},
        "lineItems": {
            "nodes": [
                {"name": i, "quantity": 1, "sku": None, "unfulfilledQuantity": 0 if shipped else 1} for i in items
            ]
        },
        "fulfillmentOrders": {"nodes": [fulfillment_order]},
        "fulfillments": fulfillments,
        "refunds": [],
    }


def write_store(
    tmp_path: Path,
    *,
    prefix: str = "#",
    suffix: str = "",
    locale: str = "en-US",
    country: str = "US",
    zip_code: str = "73301",
    say_format: bool = False,
) -> Path:
    """A shop named 'Quillfern Paper Goods' whose orders are written `prefix` + number + `suffix`: 3101 (shipped,
    in transit with UPS) and 3102 (not shipped), both for wren.hollis@example.net at `zip_code`; the file says its
    format only when `say_format` (older files never did)."""
    shop: dict[str, Any] = {"name": "Quillfern Paper Goods", "myshopifyDomain": "quillfern.myshopify.com",
                            "ianaTimezone": "America/Chicago", "currencyCode": "USD", "locale": locale}  # fmt: skip
    if say_format:
        shop |= {"orderNumberFormatPrefix": prefix, "orderNumberFormatSuffix": suffix}
    email = "wren.hollis@example.net"
    orders = [
        _order(f"{prefix}3101{suffix}", 3101, email, zip_code, country, ["Marbled Notebook", "Speckled Mug"], True),
        _order(f"{prefix}3102{suffix}", 3102, email, zip_code, country, ["Brass Pen Nib Set"], False),
    ]
    path = tmp_path / "quillfern.json"
    path.write_text(json.dumps({"shop": shop, "asOf": AS_OF, "orders": orders}), encoding="utf-8")
    return path


async def talk(store: Path, *turns: str) -> Conversation:
    return await talk_on(*turns, store=store)


# --- the format, where it comes from ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["#3101", "#3102", "#3188"], NameFormat("#", "")),
        (["#3101MRL", "#3102MRL"], NameFormat("#", "MRL")),
        (["KLM-0051-NZ", "KLM-0052-NZ", "KLM-0053-NZ", "KLM-0053-NZ-2"], NameFormat("KLM-", "-NZ")),
        (["#QF880", "#QF881", "#QF882", "QF883-B"], NameFormat("#QF", "")),  # one odd name in four: still the format
        (["#880", "QF881", "881-X", "Z-882"], None),  # no clear majority
        ([], None),
    ],
)
def test_a_stores_format_is_the_one_most_of_its_names_are_written_in(
    names: list[str], expected: NameFormat | None
) -> None:
    assert inferred_name_format(names) == expected


def test_the_shop_reads_shopifys_format_fields() -> None:
    shop = parse_shop({"name": "Q", "orderNumberFormatPrefix": "#QF", "orderNumberFormatSuffix": "-US"})
    assert shop.name_format == NameFormat("#QF", "-US")
    assert shop.name_format.letters == {"QF", "US"}
    assert parse_shop({"name": "Q"}).name_format is None  # nothing says: unknown, not a guess


async def test_a_store_file_says_its_format_or_its_names_do(tmp_path: Path) -> None:
    said = await FixtureStore(write_store(tmp_path, prefix="QF-", suffix="-X", say_format=True)).shop()
    assert (said.order_number_prefix, said.order_number_suffix) == ("QF-", "-X")
    # An older file without the fields still loads, and its names give the format.
    inferred = await FixtureStore(write_store(tmp_path, prefix="#", suffix="MRL")).shop()
    assert inferred.name_format == NameFormat("#", "MRL")


async def test_a_stated_format_wins_over_the_names(tmp_path: Path) -> None:
    path = write_store(tmp_path, prefix="#", suffix="MRL")
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["shop"] |= {"orderNumberFormatPrefix": "#", "orderNumberFormatSuffix": ""}  # the shop changed its format
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert (await FixtureStore(path).shop()).name_format == PLAIN


@pytest.mark.parametrize(("prefix", "suffix"), [("#", ""), ("#", "MRL"), ("QF-", "-US")])
async def test_the_fake_serves_the_format_as_shopify_does_and_the_client_reads_it(
    tmp_path: Path, prefix: str, suffix: str
) -> None:
    """Both fields are non-null strings in Shopify's schema; a file that does not say them is served its names'."""
    with FakeShopify(write_store(tmp_path, prefix=prefix, suffix=suffix)) as fake:
        async with ShopifyAdmin(fake.url, fake.token) as client:
            shop = await client.shop()
            found = await client.orders_by_name("3101")
    assert shop.name_format == NameFormat(prefix, suffix)
    assert [o.name for o in found] == [f"{prefix}3101{suffix}"]


# --- reading what shoppers type by the shop's format -----------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    [
        "where is order 2786 TX 73301",
        "my order 2786 MN 55401 hasn't come",
        "hi it's 2786, CO 84101, where's my stuff",
        "order #2786 shipping to Austin TX 73301?",
    ],
)
def test_a_state_after_the_number_is_no_suffix_in_a_shop_of_plain_numbers(message: str) -> None:
    details = extract_details(message, None, "US", PLAIN)
    assert details.order_number is not None and details.order_number.lstrip("#") == "2786"
    assert details.postal_code is not None and details.postal_code.isdigit() and details.postal_code != "2786"
    assert order_numbers(message, details.postal_code, PLAIN) == [details.order_number]


@pytest.mark.parametrize(
    ("message", "fmt", "country", "order"),
    [
        ("where is #3101MRL", NameFormat("#", "MRL"), "AU", "3101MRL"),
        ("3101mrl hasn't arrived", NameFormat("#", "MRL"), "AU", "3101mrl"),
        ("5301-KRW any news?", NameFormat("#", "KRW"), "NZ", "5301-KRW"),
        ("5301 KRW 0814", NameFormat("#", "KRW"), "NZ", "5301-KRW"),
        ("order 6512 ZQ please", NameFormat("#", "ZQ"), "NL", "6512-ZQ"),
        ("QRS 8316 IE where is it", NameFormat("QRS-", "-IE"), "IE", "QRS-8316-IE"),
        ("VX 0042 hasn't shipped", NameFormat("#VX-", ""), "US", "VX-0042"),
    ],
)
def test_the_shops_own_letters_are_still_read_as_its_names(
    message: str, fmt: NameFormat, country: str, order: str
) -> None:
    assert extract_details(message, None, country, fmt).order_number == order


@pytest.mark.parametrize("message", ["qf 6218", "#6218", "where's QF6218?", "order no 6218 thanks"])
def test_a_prefix_shops_numbers_read_with_or_without_its_letters(message: str) -> None:
    number = extract_details(message, None, "GB", NameFormat("#QF", "")).order_number
    assert number is not None and number.upper().replace("-", "").removeprefix("QF") == "6218"


def test_letters_that_are_not_the_shops_own_are_no_part_of_a_name() -> None:
    # A two-letter word after the number in a shop whose names end in "MRL" is no suffix...
    assert extract_details("3101 GA 30301", None, "US", NameFormat("#", "MRL")).order_number == "3101"
    # ...but where nothing says the format, the letters are kept for the lookup to weigh, as before.
    assert extract_details("where is order 2786 TX 73301", None, "US").order_number == "2786-TX"


@pytest.mark.parametrize(
    ("message", "country", "order", "postcode"),
    [
        ("73301 2786", "US", "2786", "73301"),  # only the first can be a US ZIP
        ("2786 73301", "US", "2786", "73301"),
        ("2683 30301", "US", "2683", "30301"),
        ("6607 3810", "NZ", "6607", "3810"),  # same shape both: the order Lumen asks for them in
    ],
)
def test_of_two_numbers_the_one_the_shops_country_cannot_write_as_a_postcode_is_the_order(
    message: str, country: str, order: str, postcode: str
) -> None:
    details = extract_details(message, None, country, PLAIN)
    assert (details.order_number, details.postal_code) == (order, postcode)


async def test_a_plain_number_shop_answers_the_order_typed_with_its_state(tmp_path: Path) -> None:
    talked = await talk(write_store(tmp_path), "where is order 3101 TX 73301")
    [find] = [args for name, args in talked.calls[0] if name == "find_order"]
    assert find["order_number"].lstrip("#") == "3101" and find.get("postal_code") == "73301"
    assert "1Z4F7K2E0000003101" in talked.replies[0]


async def test_a_suffix_shop_answers_its_suffixed_name(tmp_path: Path) -> None:
    store = write_store(tmp_path, suffix="MRL", locale="en-AU", country="AU", zip_code="7250")
    talked = await talk(store, "3101 MRL 7250 where is it?")
    assert "1Z4F7K2E0000003101" in talked.replies[0], talked.replies


# --- years and order numbers -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "order"),
    [
        ("my order 2019 from last week", "2019"),
        ("order 2024 of mine, where is it", "2024"),
        ("status of 2019 please", "2019"),
        ("any news of 2024??", "2024"),
        ("the parcel from 2019 still hasn't come", "2019"),
        ("hey what's happening with the delivery of 2031", "2031"),
        ("from 2019, wren.hollis@example.net", "2019"),
    ],
)
def test_an_order_number_shaped_like_a_year_stays_an_order_number(message: str, order: str) -> None:
    assert extract_details(message, None, "US", PLAIN).order_number == order
    assert order_numbers(message) == [order]


@pytest.mark.parametrize(
    ("message", "order"),
    [
        ("I ordered in 2019 and never had a problem till now", None),
        ("been a customer since March 2021", None),
        ("back in 2020 you were faster. where is 3101", "3101"),
        ("order from 2024 never arrived, 3101", "3101"),
        ("order #3101 from 2024", "3101"),
        ("a regular of 2019 here, 3101 is late", "3101"),
        ("shopping with you from 2019 onwards, 3101 please", "3101"),
    ],
)
def test_a_year_needs_a_real_date_or_another_order_beside_it(message: str, order: str | None) -> None:
    assert extract_details(message, None, "US", PLAIN).order_number == order
    assert order_numbers(message) == ([order] if order else [])


async def test_an_order_typed_like_a_year_is_looked_up(tmp_path: Path) -> None:
    store = write_store(tmp_path)
    raw = json.loads(store.read_text(encoding="utf-8"))
    raw["orders"][0]["name"] = "#2019"
    store.write_text(json.dumps(raw), encoding="utf-8")
    talked = await talk(store, "any news of my order 2019 from last week? zip 73301")
    assert talked.tools(0) == ["find_order"] and len(talked.packages_read(0)) == 1
    assert "1Z4F7K2E0000003101" in talked.replies[0]


# --- a status question beside a request Lumen can't do ---------------------------------------------------------------
def _offers_team(reply: str) -> bool:
    return "team" in reply and reply.rstrip().endswith("?")


@pytest.mark.parametrize(
    ("message", "request_words"),
    [
        ("3102 wren.hollis@example.net has it shipped, and can I change the delivery address to my office?", "address"),
        ("has 3102 been sent yet? also i need to change the address. wren.hollis@example.net", "address"),
        ("#3102 wren.hollis@example.net, is it on its way yet and could you cancel it", "cancel"),
        ("wren.hollis@example.net 3102 did it go out yet? I'd like to cancel it please", "cancel"),
    ],
)
async def test_not_shipped_yet_and_a_request_both_answered(tmp_path: Path, message: str, request_words: str) -> None:
    talked = await talk(write_store(tmp_path), message)
    reply = talked.replies[0]
    assert talked.tools(0) == ["find_order"] and len(talked.packages_read(0)) == 1
    assert "Brass Pen Nib Set" in reply and "shipped" in reply  # the status, from the data
    assert request_words in reply.lower() and _offers_team(reply)  # the request offered, never claimed done
    assert not talked.escalations()
    assert not re.search(r"(?i)\bI(?:'ve| have) (?:changed|updated|cancell?ed)\b", reply)


@pytest.mark.parametrize(
    ("message", "request_words"),
    [
        ("tracking for 3101 please and can I get the postage refunded as it's late? 73301", "refund"),
        ("where is it and also I want to return the mug, 3101 zip 73301", "return"),
        ("3101 73301 whats the tracking number, and can i send the notebook back", "return"),
        ("hi!! where's my parcel 3101 (73301) and can I swap the mug for a different colour", "replace"),
    ],
)
async def test_tracking_and_a_request_both_answered(tmp_path: Path, message: str, request_words: str) -> None:
    talked = await talk(write_store(tmp_path), message)
    reply = talked.replies[0]
    assert talked.tools(0) == ["find_order"] and len(talked.packages_read(0)) == 1
    assert "1Z4F7K2E0000003101" in reply  # the tracking, from the data
    assert request_words in reply.lower() and _offers_team(reply)
    assert not talked.escalations()
    assert not re.search(
        r"(?i)\b(?:I(?:'ve| have) (?:refunded|returned|replaced))|refund (?:has been|is) issued", reply
    )


@pytest.mark.parametrize(
    "follow_up",
    [
        "ok has it shipped yet, and can I change the delivery address?",
        "so is it sent yet? and i need it to go to my work address instead",
        "right, has it gone out, but also can I cancel it",
    ],
)
async def test_a_status_question_beside_a_request_is_answered_about_an_order_already_shown(
    tmp_path: Path, follow_up: str
) -> None:
    talked = await talk(write_store(tmp_path), "3102 wren.hollis@example.net", follow_up)
    reply = talked.replies[1]
    assert "hasn't shipped" in reply and _offers_team(reply)
    assert not talked.escalations()


async def test_a_request_alone_about_an_order_shown_is_not_answered_with_its_status_again(tmp_path: Path) -> None:
    talked = await talk(write_store(tmp_path), "3102 wren.hollis@example.net", "can I cancel it please")
    assert "hasn't shipped" not in talked.replies[1] and _offers_team(talked.replies[1])
