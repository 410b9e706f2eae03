"""Two readings, each on invented shops (a British, a Canadian, an Irish, a Dutch, an Australian and a US one), in
several wordings:

- a postcode with letters and digits typed with spaces in odd places ("bs 3 4rt", "b3h4 r2", "A 94 K2P7"): read
  after a label ("post code", "postal code", "eircode", "zip") in any spacing, and alone when each space falls where
  the country puts its own or where letters change to digits, the country's own among them; words never read as one
  ("a 10 pack", "it's 3101 my bad", "order 3101 is 2 days late");
- a status the shopper names that the order has nowhere ("it says collected by courier, does that mean it's been
  delivered?"): never what that status means (it would read as the order's), but that the order doesn't show it,
  what the order's own status means and where it stands, with the carrier's estimate; a carrier's own wording asked
  about is answered with what the status of that update means.

Every shop, order, customer, postcode and product here is invented for these tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import extract_details, order_numbers
from shopify.names import NameFormat
from tests import store_builders as build
from tests.server_helpers import replies, turns, write_store

TT = NameFormat("#TT-", "")


# --- postcodes typed with spaces in odd places ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "country", "postcode"),
    [
        # After a label, in any spacing.
        ("#TT-3101 , post code BS 3 4RT. when will it come", "GB", "BS34RT"),
        ("3101 postcode: b s3 4rt thanks", "GB", "BS34RT"),
        ("order 3101 zip is bs3 4 rt", "GB", "BS34RT"),
        ("3101 postcode m 14 6 lt", "GB", "M146LT"),
        ("3101 post code E C1A 1 BB", "GB", "EC1A1BB"),
        ("3101 postal code b3h4 r2", "CA", "B3H4R2"),
        ("postal code is K 1 A 0 B 1, order 3101", "CA", "K1A0B1"),
        ("eircode a94 k2 p7 order 3101", "IE", "A94K2P7"),
        ("3101 eircode D 08 X 2 85", "IE", "D08X285"),
        ("3101 postcode 1012 a b", "NL", "1012AB"),
        # Alone: each space where the country puts its own, or where letters change to digits.
        ("3101 BS 3 4RT", "GB", "BS34RT"),
        ("3101 bs 3 4rt whens it coming", "GB", "BS34RT"),
        ("where is 3101, sw 1a 2bq", "GB", "SW1A2BQ"),
        ("3101 SW1A 2 BQ", "GB", "SW1A2BQ"),
        ("3101 B3H 4 R2", "CA", "B3H4R2"),
        ("b 3h 4r2 order 3101 please", "CA", "B3H4R2"),
        ("3101 A 94 K2P7", "IE", "A94K2P7"),
        ("3101 a94 k2 p7", "IE", "A94K2P7"),
    ],
)
def test_a_postcode_typed_with_odd_spaces_is_read(message: str, country: str, postcode: str) -> None:
    details = extract_details(message, None, country, TT)
    assert details.order_number is not None and details.order_number.endswith("3101")
    assert details.postal_code is not None
    assert details.postal_code.replace(" ", "").upper() == postcode
    assert order_numbers(message, details.postal_code, TT) == [details.order_number]


@pytest.mark.parametrize(
    ("message", "country"),
    [
        ("3101 I ordered a 10 pack", "IE"),  # an Eircode's last four hold a digit
        ("oh hang on it's 3101 my bad", "IE"),  # no piece runs over the country's own space ("S31 01MY")
        ("order 3101 is 2 days late", "GB"),
        ("3101 ab 12 cd", "GB"),  # a space between two digits or two letters is no pause a typist makes
        ("3101 is it here yet", "CA"),
    ],
)
def test_words_and_times_are_no_postcode(message: str, country: str) -> None:
    details = extract_details(message, None, country, TT)
    assert details.postal_code is None
    assert details.order_number is not None and details.order_number.endswith("3101")


def test_the_shops_own_letters_stay_its_order_name() -> None:
    # Spaced as a Dutch postcode usually is, a number and the shop's letters are its order's name.
    assert extract_details("order 6512 ZQ please", None, "NL", NameFormat("#", "ZQ")).order_number == "6512-ZQ"


# --- an invented British shop --------------------------------------------------------------------------------------
def _package(status: str, item: str, carrier: str, number: str, message: str, **extra: Any) -> dict[str, Any]:
    happened = build.event(status, "2026-12-02T16:00:00Z", message, "Bristol")
    return (
        build.package(
            item,
            carrier,
            number,
            status=status,
            events=[happened],
            created_at="2026-12-01T08:00:00Z",
            in_transit_at=None,
            eta="2026-12-05T12:00:00Z",
        )
        | extra
    )


def _order(number: str, email: str, postcode: str, item: str, packages: list[dict[str, Any]]) -> dict[str, Any]:
    return build.order(
        f"#TT-{number}",
        email=email,
        zip_code=postcode,
        country="GB",
        items=item,
        packages=packages,
        amount="30.00",
        currency="GBP",
        id_prefix="61",
        ordered_at="2026-11-30T10:00:00Z",
    )


STORE: dict[str, Any] = {
    "asOf": "2026-12-03T12:00:00Z",
    "shop": {"name": "Thimble & Thread", "ianaTimezone": "Europe/London", "currencyCode": "GBP", "locale": "en-GB",
             "orderNumberFormatPrefix": "#TT-", "orderNumberFormatSuffix": "", "contactEmail": "hi@thimble.example"},
    "orders": [
        _order("3101", "nell@example.org", "BS3 4RT", "Linen Pincushion",
               [_package("CARRIER_PICKED_UP", "Linen Pincushion", "Evri", "H01ABC0000123456",
                         "Parcel collected by courier")]),
        _order("3104", "cal@example.org", "EH6 7DB", "Tape Measure",
               [_package("IN_TRANSIT", "Tape Measure", "Royal Mail", "AB987654321GB", "Item received at mail centre",
                         inTransitAt="2026-12-02T05:00:00Z", estimatedDeliveryAt="2026-12-04T12:00:00Z")]),
        _order("3106", "ro@example.org", "CF10 2AB", "Quilting Ruler",
               [_package("LABEL_PURCHASED", "Quilting Ruler", "Parcelforce", "PF0001112223",
                         "Sender has printed a label, we haven't got the parcel yet", estimatedDeliveryAt=None)]),
        _order("3105", "dot@example.org", "BT9 5AB", "Embroidery Hoop", []),
    ],
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "thimble-store.json", STORE)


@pytest.mark.parametrize(
    "message",
    ["#TT-3101 , post code BS 3 4RT. when will it come", "3101 bs 3 4rt where is it", "tt-3101 postcode b s 3 4 r t"],
)
async def test_an_odd_spaced_postcode_proves_the_order(store: Path, message: str) -> None:
    [said] = await turns(store, message)
    assert "Linen Pincushion" in said.reply and "Evri" in said.reply, said.reply


@pytest.mark.parametrize(
    "question",
    [
        "it says parcel collected by courier, does that mean it's been delivered?",
        "does collected mean delivered?",
        "so 'collected' means it's delivered yeah?",
    ],
)
async def test_a_status_the_order_does_not_have_is_never_explained(store: Path, question: str) -> None:
    first, second = await replies(store, "3101 BS3 4RT", question)
    assert "Evri" in first
    assert '"Delivered" means' not in second and "has been delivered" not in second and "was delivered" not in second
    assert 'doesn\'t show "delivered"' in second
    # What its own status means, and where it stands with the carrier's estimate.
    assert '"Picked up by the carrier" means' in second and "Evri" in second and "5 December" in second
    assert "I can help with order status" not in second


async def test_two_statuses_named_only_the_one_the_order_has_is_explained(store: Path) -> None:
    _, second = await replies(store, "3104 EH6 7DB", "it says in transit, does that mean it's out for delivery?")
    assert '"In transit" means' in second and '"Out for delivery"' not in second
    assert 'doesn\'t show "out for delivery"' in second and "4 December" in second


async def test_a_status_the_order_has_is_explained_as_before(store: Path) -> None:
    _, second = await replies(store, "3104 EH6 7DB", "what does in transit mean?")
    assert second.startswith('"In transit" means') and "doesn't show" not in second


async def test_a_carriers_own_words_are_answered_with_their_status(store: Path) -> None:
    _, second = await replies(store, "3106 CF10 2AB", "what does 'sender has printed a label' mean")
    assert "Parcelforce's own wording" in second and "Sender has printed a label" in second
    assert '"Label purchased" means a shipping label was created' in second


async def test_in_transit_is_had_by_a_parcel_the_carrier_has(store: Path) -> None:
    # Picked up by the carrier, the parcel is on its journey: "in transit" is its own, explained as it was.
    _, second = await replies(store, "3101 BS3 4RT", "what does in transit mean?")
    assert second.startswith('"In transit" means') and "doesn't show" not in second
