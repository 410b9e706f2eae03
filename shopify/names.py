"""How shoppers and Shopify write the same thing differently: order names, emails and postal codes, normalised once.

Every comparison of an order name, an email or a postal code in Lumen goes through these functions, so '#1234',
'1234' and 'order no. 1234' are one order everywhere (lookups, proofs, escalation keys, evals).
"""

from __future__ import annotations

import re

_NUMBER_WORDS = re.compile(r"\b(?:order|orders|number|num|no|nr|ref|reference|id)\b\.?", re.IGNORECASE)


def normalize_order_number(text: str) -> str | None:
    """The order reference inside what a shopper typed: '#1234', '1234', 'order no. 1234' -> '1234'.

    Store prefixes and suffixes (EN1001, 1001-A) are kept; only the '#' and words around the number go.
    """
    cleaned = _NUMBER_WORDS.sub(" ", text).replace("#", " ").strip(" .:,;!?\t\n")
    tokens = cleaned.split()
    if len(tokens) != 1:
        return None
    token = tokens[0].upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9\-_]{0,30}", token) or not re.search(r"\d", token):
        return None
    return token


_NAME_NOISE = re.compile(r"[\s#\-_./]")
_NAME_PARTS = re.compile(r"([A-Z]*)(\d+)([A-Z]*)")


def order_name_matches(order_name: str, number: str) -> bool:
    """A Shopify order name ('#1234', 'BOG-5101-IE') against a normalised shopper number.

    The same characters once '#', spaces, dashes and case are set aside ('bog5101ie', 'FF2101' for 'FF-2101'), or
    the number without the shop's letter prefix ('2101', '5101IE') or its format suffix ('5101', 'BOG5101'): shoppers
    type it every way, and the Admin client finds the same names through the shop's order-name format
    (`order_name_candidates`).
    """
    name, typed = _NAME_NOISE.sub("", order_name.upper()), _NAME_NOISE.sub("", number.upper())
    if not typed:
        return False
    if name == typed:
        return True
    parts = _NAME_PARTS.fullmatch(name)
    if parts is None:
        return False
    prefix, digits, suffix = parts.groups()
    if typed == digits + suffix:
        return True
    # A suffix of one letter tells one order from another ('#1042-B' is not '#1042'); a longer one is the shop's
    # format ('-IE', '-UK') and may be left off like the prefix.
    return len(suffix) >= 2 and typed in (digits, prefix + digits)


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_postal_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", code).upper()


def order_key(order_name: str | None) -> str:
    """The comparable form of an order name: '#1234', '1234' and ' #1234 ' are one order; no order is ''."""
    return (order_name or "").strip().lstrip("#").strip().upper()
