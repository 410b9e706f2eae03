"""A logged-in customer's id in either form Shopify uses: the app proxy's numeric `logged_in_customer_id` and the
Admin API's GraphQL id name the same customer, wherever the id enters Lumen (the server, `Lumen.chat`, the evals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopify.webhooks import as_customer_gid
from tests.server_helpers import turns
from tools.context import Caller

FOURTH = Path(__file__).resolve().parents[1] / "tests" / "data" / "fourth-store.json"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("9001", "gid://shopify/Customer/9001"),
        (" 9001 ", "gid://shopify/Customer/9001"),
        ("gid://shopify/Customer/9001", "gid://shopify/Customer/9001"),
        ("", None),
        (None, None),
    ],
)
def test_a_caller_carries_one_form_of_customer_id(given: str | None, kept: str | None) -> None:
    assert as_customer_gid(given) == kept
    assert Caller(customer_id=given).customer_id == kept


@pytest.mark.parametrize("customer", ["9001", "gid://shopify/Customer/9001"])
async def test_a_numeric_customer_id_finds_the_customers_orders(customer: str) -> None:
    listed, picked = await turns(FOURTH, "any news on my stuff?", "the worm castings one", customer_id=customer)
    assert "#2011" in listed.reply and "#2014" in listed.reply
    assert "7023210039414659" in picked.reply
