"""A logged-in customer's id in either form Shopify uses: the app proxy's numeric `logged_in_customer_id` and the
Admin API's GraphQL id name the same customer, wherever the id enters Lumen (the server, `Lumen.chat`, the evals)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.service import Lumen
from config import Settings
from shopify.webhooks import as_customer_gid
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
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=FOURTH)
    try:
        listed = await lumen.chat("any news on my stuff?", customer_id=customer)
        picked = await lumen.chat("the worm castings one", listed.session_id, customer_id=customer)
    finally:
        await lumen.close()
    assert "#2011" in listed.reply and "#2014" in listed.reply
    assert "7023210039414659" in picked.reply
