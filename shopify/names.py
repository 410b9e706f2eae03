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


def order_name_matches(order_name: str, number: str) -> bool:
    """A Shopify order name ('#1234', 'FF-2101', 'BOG-5101-IE') against a normalised shopper number: the same
    characters once '#', spaces, dashes and case are set aside ('1234', 'ff2101', 'bog 5101 ie').

    A number typed without the shop's prefix ('2101' for 'FF-2101') is found by the Admin client through the shop's
    order-name format (`order_name_candidates`); a store file has no format, so there it must be typed whole.
    """
    typed = _NAME_NOISE.sub("", number.upper())
    return bool(typed) and _NAME_NOISE.sub("", order_name.upper()) == typed


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_postal_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", code).upper()


def order_key(order_name: str | None) -> str:
    """The comparable form of an order name: '#1234', '1234' and ' #1234 ' are one order; no order is ''."""
    return (order_name or "").strip().lstrip("#").strip().upper()
