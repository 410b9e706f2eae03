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


def order_name_matches(order_name: str, number: str) -> bool:
    """A Shopify order name ('#1234') against a normalised shopper number ('1234'): exact, ignoring '#' and case."""
    return order_name.lstrip("#").strip().upper() == number.upper()


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_postal_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", code).upper()


def order_key(order_name: str | None) -> str:
    """The comparable form of an order name: '#1234', '1234' and ' #1234 ' are one order; no order is ''."""
    return (order_name or "").strip().lstrip("#").strip().upper()
