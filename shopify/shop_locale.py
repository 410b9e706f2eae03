"""The shop's locale when nothing says it: the English of the shop's country, read from what the shop node has.

A store file (and Lumen's own shop query) may carry no locale, yet the locale decides how dates are written, what
the postal code is called, and which country's postcodes a shopper's numbers are read against
(`Playbook.country` is the locale's territory). A shop in Perth selling in AUD is answered in en_AU, not en_US:
"Saturday, 12 December", "postcode", and a four-digit number beside an order number read as its postcode.

What is known best comes first: a locale the shop gives; the country of its address; its time zone; its currency.
Only English locales are inferred (Lumen speaks English); a country without a CLDR English locale, or no clue at
all, keeps en_US, the default before.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from babel import Locale, UnknownLocaleError

DEFAULT_LOCALE = "en_US"

# Time zones that name one English-speaking country. Zones shared by several countries (America/New_York is also
# the Bahamas', Europe/London also Guernsey's) go to the country most shops there sell from.
_ZONE_PREFIXES: tuple[tuple[str, str], ...] = (("Australia/", "AU"), ("Canada/", "CA"), ("NZ", "NZ"))
_ZONES: dict[str, str] = {
    "Pacific/Auckland": "NZ",
    "Pacific/Chatham": "NZ",
    "Antarctica/McMurdo": "NZ",
    "Europe/London": "GB",
    "Europe/Belfast": "GB",
    "GB": "GB",
    "Europe/Dublin": "IE",
    "Eire": "IE",
    **{
        f"America/{city}": "CA"
        for city in (
            "Toronto", "Vancouver", "Montreal", "Edmonton", "Winnipeg", "Halifax", "St_Johns", "Regina", "Moncton",
            "Whitehorse", "Yellowknife", "Iqaluit", "Glace_Bay", "Goose_Bay", "Dawson_Creek", "Dawson", "Swift_Current",
            "Rankin_Inlet", "Resolute", "Cambridge_Bay", "Inuvik", "Fort_Nelson", "Creston", "Atikokan",
            "Blanc-Sablon", "Nipigon", "Thunder_Bay", "Rainy_River", "Pangnirtung",
        )
    },
}  # fmt: skip
# Currencies of one English-speaking country (EUR and USD say nothing: many countries pay in them).
_CURRENCIES: dict[str, str] = {"AUD": "AU", "NZD": "NZ", "GBP": "GB", "CAD": "CA"}


def shop_locale(node: dict[str, Any]) -> str:
    """The CLDR locale of a shop node (Admin GraphQL `shop`, or a store file's `shop` block): the one it gives
    (`locale`, `primaryLocale`, BCP 47 or CLDR), else the English of its country, from its address
    (`shopAddress`/`billingAddress` `countryCodeV2`, or `countryCode`), its `ianaTimezone`, or its `currencyCode`."""
    given = cldr_locale(node.get("locale") or node.get("primaryLocale"))
    if given is not None:
        return given
    for country in (_address_country(node), _zone_country(node.get("ianaTimezone")), _currency_country(node)):
        english = _english_of(country)
        if english is not None:
            return english
    return DEFAULT_LOCALE


@lru_cache(maxsize=64)
def babel_locale(name: str) -> Locale:
    """The Babel `Locale` of a CLDR locale name, parsed once: every Babel call given the name parses it again, and
    formatting one date asks for it six times over (a turn's dates, times and money: a few dozen parses)."""
    return Locale.parse(name)


def cldr_locale(value: Any) -> str | None:
    """Shopify writes locales as BCP 47 ('en', 'pt-BR'); Babel wants CLDR ids ('pt_BR'). None when it is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return str(Locale.parse(value.strip(), sep="-" if "-" in value else "_"))
    except (ValueError, TypeError, UnknownLocaleError):
        return None


def _address_country(node: dict[str, Any]) -> str | None:
    # Shopify's `shopAddress` (and the older `billingAddress`) is where the shop trades from: the surest country.
    for field in ("shopAddress", "billingAddress"):
        address = node.get(field)
        if isinstance(address, dict):
            code = address.get("countryCodeV2") or address.get("countryCode")
            if isinstance(code, str) and code.strip():
                return code.strip().upper()
    code = node.get("countryCode")
    return code.strip().upper() if isinstance(code, str) and code.strip() else None


def _zone_country(zone: Any) -> str | None:
    if not isinstance(zone, str):
        return None
    if zone in _ZONES:
        return _ZONES[zone]
    return next((country for prefix, country in _ZONE_PREFIXES if zone.startswith(prefix)), None)


def _currency_country(node: dict[str, Any]) -> str | None:
    currency = node.get("currencyCode")
    return _CURRENCIES.get(currency.strip().upper()) if isinstance(currency, str) else None


def _english_of(country: str | None) -> str | None:
    """English as written in `country` ('AU' -> 'en_AU'), when CLDR has it."""
    if not country or not country.isalpha() or len(country) != 2:
        return None
    try:
        return str(Locale("en", country))
    except (ValueError, UnknownLocaleError):
        return None
