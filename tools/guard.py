"""Rationing guesses, hand-offs and new conversations: counted in the database by what they aim at and who asks.

A per-conversation limit only catches typos; an attacker just opens a new chat. Counting in the database, by order,
postal code, email and client (address, logged-in customer, or the shop for app-proxy requests naming no client), makes
guessing a postal code or walking order numbers slow for everyone, on every worker at once.

A guess is looked up only if its keys have room (`used_up`, a plain read), and its outcome is told only if an
attempt could be reserved for it (`decide`, atomic in the database): of any number of simultaneous guesses on a key,
no more are answered than the key allows. A guess that proved an order gives its attempt back in the same
transaction, since only failures are rationed. Hand-offs and new conversations are reserved (`reserve`) before they
happen and settled after.
The limits and their windows are `Limits`; the README's "Privacy and limits" section says the same in words.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel

from shopify.names import normalize_email, normalize_postal_code, order_key
from storage import Database
from storage.attempts import Allowance
from tools.context import Caller

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
ORDER_PROOFS = "order-proofs"  # the kind of key every proof tried on one order number counts against


class Limits(BaseModel, frozen=True):
    """How many attempts each kind of key allows within its window."""

    # Failed order lookups: the limit is on failures; a lookup that proves the order costs nothing.
    per_conversation: Allowance = Allowance(5, DAY)
    per_client: Allowance = Allowance(30, HOUR)  # one address (IPv6: one /64) or one logged-in customer
    # App-proxy requests that name no client (no logged-in customer, no forwarded address of Shopify's form), together:
    # they can hold up only each other, never a shopper whose address Shopify forwarded.
    per_proxy_shop: Allowance = Allowance(200, HOUR)
    per_order: Allowance = Allowance(10, HOUR)  # postal codes tried on one order
    # Every proof tried on one order number (emails and postal codes together), from any client: many attackers
    # sharing one order's guesses stop here. Keyed by the number alone, so it counts the same whether or not such an
    # order exists. It refuses wrong guesses only (`find_order._decide`): anyone can fill it, so a right proof (the
    # owner's) is still answered, and past it every wrong guess reads `too_many_attempts`, order or no order.
    per_order_proofs: Allowance = Allowance(30, HOUR)
    per_postal_code: Allowance = Allowance(10, HOUR)  # one postal code tried on any order (ZIP+4 as its ZIP)
    # One email tried on order numbers or postal codes. Emails are not guessed, so this only slows a known email
    # walking order numbers; it is higher than the rest because everyone behind a shared inbox counts here.
    per_email: Allowance = Allowance(20, HOUR)
    # Hand-offs to the support team, each created one counts.
    handoffs_per_client: Allowance = Allowance(10, HOUR)
    handoffs_per_proxy_shop: Allowance = Allowance(50, HOUR)
    # New conversations, each one counts.
    conversations_per_client: Allowance = Allowance(60, HOUR)
    conversations_per_proxy_shop: Allowance = Allowance(1000, HOUR)


def client_key(caller: Caller) -> tuple[str, bool] | None:
    """The caller's key, and whether it stands for a whole shop; None for an unknown caller (the terminal chat).

    A logged-in customer (only a signed app-proxy request says so) counts as themselves; otherwise the client
    address (on the app proxy, the one Shopify forwarded: `server.proxied_shopper`); an app-proxy request with no
    usable address (the peer is Shopify) counts against its shop.
    """
    if caller.customer_id:
        return _key("customer", caller.customer_id), False
    if caller.client_ip:
        return _key("ip", address_block(caller.client_ip)), False
    if caller.proxy_shop:
        return _key("shop", caller.proxy_shop.strip().lower()), True
    return None


def address_block(address: str) -> str:
    """What one client controls: an IPv4 address, or the /64 of an IPv6 one (a single host is given a whole /64)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def postal_key(postal_code: str) -> str:
    """A postal code as it is counted: normalised, and a US ZIP+4 as its five-digit ZIP (both prove the same order)."""
    code = normalize_postal_code(postal_code)
    return code[:5] if len(code) == 9 and code.isdigit() else code


def order_proofs_key(number: str) -> str:
    """The key every proof tried on this order number counts against (whether or not such an order exists)."""
    return _key(ORDER_PROOFS, order_key(number))


def is_order_proofs_key(key: str) -> bool:
    return key.startswith(f"{ORDER_PROOFS}:")


def _key(kind: str, value: str) -> str:
    # Hashed: the attempts table then holds no email, postal code or address, only what it needs to count.
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"


@dataclass
class Reservation:
    """Attempts spent ahead of a lookup; `settle` says how the lookup went."""

    db: Database | None = None
    ids: list[int] = field(default_factory=list)

    async def settle(self, *, spent: bool) -> None:
        if self.db is not None:
            await self.db.settle_attempts(self.ids, spent=spent)


# Orders whose cap refusals were logged, remembered at most this many (the oldest forgotten first).
WARNED_KEPT = 1000


@dataclass
class AttemptGuard:
    db: Database
    limits: Limits = field(default_factory=Limits)
    # When each order-proofs key last had a refusal logged (this process): `first_refusal`.
    _warned: dict[str, datetime] = field(default_factory=dict, repr=False)

    def first_refusal(self, order_proofs: Iterable[str]) -> bool:
        """Whether a wrong guess the order's cap refused is the first on that order this window (it is then noted).

        The merchant's log says once per order per window that the order is being guessed at, not once per refused
        guess: an attacker past the cap sends as many as they like, and each line would be theirs to write. In this
        process only (a worker each): the log is per process too, and a shared record would cost every refused guess
        a database write."""
        now, window, warned = self.db.clock(), self.limits.per_order_proofs.window, self._warned
        keys = [key for key in order_proofs if now - warned.get(key, now - window) >= window]
        for key in keys:  # moved to the end: the dict stays oldest first
            warned.pop(key, None)
            warned[key] = now
        # Bounded whatever an attacker sends (order numbers need not exist, so there are as many keys as they like):
        # the oldest go first, expired ones (warned again anyway) before any live one, and a live one forgotten only
        # costs its order one more log line within the hour, never a warning missed. O(1) a call, amortised.
        while len(warned) > WARNED_KEPT:
            del warned[next(iter(warned))]
        return bool(keys)

    async def used_up(self, allowances: dict[str, Allowance]) -> bool:
        """Whether any key is out of attempts already: a cheap look before a lookup, not the decision."""
        return await self.db.used_up(allowances)

    async def decide(self, allowances: dict[str, Allowance], *, failed: bool) -> bool:
        """Whether a looked-up guess may be answered (every key had room); a failure then counts, a proof does not."""
        return await self.db.decide_attempt(allowances, spent=failed)

    async def decide_in_turn(self, decisions: list[dict[str, Allowance]], *, failed: bool) -> list[bool]:
        """`decide` for each in turn, in one transaction; the first refused ends it (see `decide_attempts`)."""
        return await self.db.decide_attempts(decisions, spent=failed)

    async def reserve(self, allowances: dict[str, Allowance]) -> Reservation | None:
        """One attempt against every key, or None (nothing spent) when any of them is used up."""
        ids = await self.db.reserve_attempts(allowances)
        return None if ids is None else Reservation(self.db, ids)

    def lookup_keys(
        self,
        *,
        conversation_id: str,
        caller: Caller,
        number: str | None = None,
        email: str | None = None,
        postal_code: str | None = None,
    ) -> dict[str, Allowance]:
        """What a lookup with these details counts against.

        A postal code is short enough to guess, an email is not: postal-code failures count against the order and
        against the code itself (one code tried on many orders), and email failures against the email (one known
        email tried on many numbers), so guessing is slow while the owner can still prove the order with what was
        not guessed. Every failure counts against the conversation and the client.
        """
        limits = self.limits
        keys = {_key("conversation", conversation_id): limits.per_conversation}
        if postal_code:
            keys[_key("postal", postal_key(postal_code))] = limits.per_postal_code
            if number:
                keys[_key("order", order_key(number))] = limits.per_order
        if email:
            keys[_key("email", normalize_email(email))] = limits.per_email
        if number:
            keys[order_proofs_key(number)] = limits.per_order_proofs
        client = client_key(caller)
        if client is not None:
            key, whole_shop = client
            keys[key] = limits.per_proxy_shop if whole_shop else limits.per_client
        return keys

    async def used_up_keys(self, allowances: dict[str, Allowance]) -> frozenset[str]:
        """The keys already out of attempts (a plain read, like `used_up`): which limit refused a guess."""
        return await self.db.used_up_keys(allowances)

    def handoff_keys(self, caller: Caller) -> dict[str, Allowance]:
        client = client_key(caller)
        if client is None:
            return {}
        key, whole_shop = client
        limits = self.limits
        return {f"handoff-{key}": limits.handoffs_per_proxy_shop if whole_shop else limits.handoffs_per_client}

    def conversation_keys(self, caller: Caller) -> dict[str, Allowance]:
        client = client_key(caller)
        if client is None:
            return {}
        key, whole_shop = client
        limits = self.limits
        return {f"new-{key}": limits.conversations_per_proxy_shop if whole_shop else limits.conversations_per_client}
