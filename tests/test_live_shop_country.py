"""A live shop's locale from its country: the Admin API's shop gives no locale, so Lumen asks for the shop's address
country (`shopAddress { countryCodeV2 }`; `billingAddress` is deprecated in the 2026-07 schema) and infers the
English of that country as a store file's shop block does (`shopify.shop_locale`). The shop here is invented: in
Australia, its time zone (Asia/Singapore) and currency (USD) say nothing of it, so only its address can.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.service import Lumen
from config import Settings
from evals.fakes.shopify_admin import FakeShopify
from shopify.client import SHOP_QUERY, ShopifyAdmin
from shopify.source import parse_now
from tests.fixtures import TOKEN
from tests.test_postcodes_beside_order_numbers import AU_ORDERS, write_shop

US_MONTH_FIRST = re.compile(r"\b(?:January|February|March|April|May|June|July|August|September|October|November|"
                            r"December)\s+\d")  # fmt: skip


@pytest.fixture
def australian(tmp_path: Path) -> Iterator[FakeShopify]:
    path = write_shop(
        tmp_path, prefix="#KB", zone="Asia/Singapore", currency="USD", orders=AU_ORDERS, address_country="AU"
    )
    with FakeShopify(path, token=TOKEN) as fake:
        yield fake


def client(fake: FakeShopify) -> ShopifyAdmin:
    return ShopifyAdmin(fake.url, TOKEN, cache_ttl_s=0, now=parse_now(fake.as_of))


async def test_the_shop_query_asks_for_the_shops_country_and_the_fake_answers_it(australian: FakeShopify) -> None:
    admin = client(australian)
    try:
        data = await admin.execute(SHOP_QUERY)
    finally:
        await admin.aclose()
    assert data["shop"]["shopAddress"] == {"countryCodeV2": "AU"}


async def test_a_live_australian_shop_with_no_locale_is_answered_in_en_au(australian: FakeShopify) -> None:
    admin = client(australian)
    assert (await admin.shop()).locale == "en_AU"
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), source=admin)
    try:
        asked = await lumen.chat("where is my order #KB5201? I don't have the email I used")
        answered = await lumen.chat("postcode 2480", asked.session_id)
    finally:
        await lumen.close()
    assert "postcode" in asked.reply and "ZIP" not in asked.reply
    # The carrier's last scan, day first as Australians write it ("Saturday 12 September"), never month first.
    assert "#KB5201" in answered.reply and re.search(r"\b\d{1,2} September\b", answered.reply), answered.reply
    assert not US_MONTH_FIRST.search(answered.reply), answered.reply
