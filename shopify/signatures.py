"""Shopify's request signatures: the app proxy's signed query string and the webhooks' HMAC header.

Both are HMAC-SHA256 with the app's API secret, compared in constant time. A failed check raises one of the typed
errors below, whose message is what the caller may tell the client; the server maps each to an HTTP status.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from shopify.webhooks import customer_gid, numeric_id


class ShopifySignatureError(Exception):
    """A request claims to come from Shopify but its signature (or signed timestamp) does not hold."""

    message = "Invalid signature."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


class MissingProxySignature(ShopifySignatureError):
    message = "Missing app proxy signature."


class InvalidProxySignature(ShopifySignatureError):
    message = "Invalid app proxy signature."


class RepeatedProxyParameter(ShopifySignatureError):
    message = "A signed app proxy parameter was given more than once."


class InvalidProxyTimestamp(ShopifySignatureError):
    message = "Missing or invalid app proxy timestamp."


class ExpiredProxyRequest(ShopifySignatureError):
    message = "The app proxy request has expired."


class InvalidWebhookSignature(ShopifySignatureError):
    message = "Invalid webhook signature."


class InvalidCustomerId(ValueError):
    """A signed app-proxy request whose `logged_in_customer_id` is not a numeric Shopify id."""

    def __init__(self) -> None:
        super().__init__("Invalid logged_in_customer_id.")


@dataclass(frozen=True)
class ProxyRequest:
    """What a verified app-proxy query says: the shop, when it was signed and who is logged in (empty: a guest)."""

    shop: str
    timestamp: int
    logged_in_customer_id: str

    def customer_gid(self) -> str | None:
        """The logged-in customer as a GraphQL id; None for a guest. Raises InvalidCustomerId for anything else."""
        customer = self.logged_in_customer_id.strip()
        if not customer:
            return None
        if numeric_id(customer) is None:  # ASCII digits only: str.isdigit() also takes '²' and '١'
            raise InvalidCustomerId()
        return customer_gid(customer)


# --- the app proxy ----------------------------------------------------------------------------------------------------


# The parameters a proxied request is trusted by: each may appear once.
SIGNED_PROXY_PARAMETERS = ("shop", "timestamp", "signature", "logged_in_customer_id")


def proxy_signature(query: Iterable[tuple[str, str]], secret: str) -> str:
    """Shopify's app proxy signature: hex HMAC-SHA256 of the sorted `key=value` params, concatenated, no separator.

    Repeated keys are joined with ','; `signature` itself is left out.
    """
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        if key != "signature":
            grouped.setdefault(key, []).append(value)
    message = "".join(sorted(f"{key}={','.join(values)}" for key, values in grouped.items()))
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def verify_proxy_query(query_string: str, secret: str | Sequence[str], *, now: float, max_age_s: float) -> ProxyRequest:
    """Checks an app-proxy query string's signature, then that it was signed within `max_age_s` of `now`.

    `secret` may be several: the app's secret and, during a rotation, the one before it (Shopify signs with either).
    """
    query = parse_qsl(query_string, keep_blank_values=True)
    signatures = [value for key, value in query if key == "signature"]
    if not signatures or not signatures[0]:
        raise MissingProxySignature()
    # Shopify signs a repeated key as one comma-joined value, but Lumen reads one copy: `shop=a&shop=b` would be
    # signed as "a,b" and read as "b". None of the parameters Lumen trusts is ever repeated by Shopify.
    keys = [key for key, _ in query]
    if any(keys.count(key) > 1 for key in SIGNED_PROXY_PARAMETERS):
        raise RepeatedProxyParameter()
    given = signatures[0].lower().encode()
    if not any(hmac.compare_digest(proxy_signature(query, key).encode(), given) for key in _keys(secret)):
        raise InvalidProxySignature()
    params = dict(query)
    try:
        timestamp = int(params.get("timestamp", ""))
        expired = abs(now - timestamp) > max_age_s
    except (ValueError, OverflowError):  # OverflowError: an int no float can stand beside (`now` is one)
        raise InvalidProxyTimestamp() from None
    if expired:
        raise ExpiredProxyRequest()
    return ProxyRequest(
        shop=params.get("shop", ""), timestamp=timestamp, logged_in_customer_id=params.get("logged_in_customer_id", "")
    )


# --- webhooks ---------------------------------------------------------------------------------------------------------


def webhook_hmac(body: bytes, secret: str) -> str:
    """Shopify's webhook signature: base64 HMAC-SHA256 of the raw request body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify_webhook(body: bytes, given_hmac: str, secret: str | Sequence[str]) -> None:
    """Checks `X-Shopify-Hmac-Sha256` over the raw body with the secret (or any of the secrets, as during a
    rotation); without a secret nothing is genuine."""
    keys = _keys(secret)
    if not keys or not given_hmac:
        raise InvalidWebhookSignature()
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a header may carry anything.
    given = given_hmac.encode()
    if not any(hmac.compare_digest(webhook_hmac(body, key).encode(), given) for key in keys):
        raise InvalidWebhookSignature()


def _keys(secret: str | Sequence[str]) -> list[str]:
    """The non-empty secrets a signature may be made with."""
    return [key for key in ([secret] if isinstance(secret, str) else secret) if key]
