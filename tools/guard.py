"""Rationing guesses: failed order lookups counted by what they aimed at, across every conversation.

A per-conversation limit only catches typos; an attacker just opens a new chat. Counting failures in the database,
by order, postal code and client address, makes guessing a postal code or walking order numbers slow for everyone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from shopify.names import normalize_email, normalize_postal_code, order_key
from storage import Database


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class AttemptGuard:
    db: Database
    window: timedelta = timedelta(hours=1)
    # Failures allowed per target ("order-postal:1234", "postal:97214", ...) and per client address within the window.
    per_target: int = 10
    per_client: int = 30
    clock: Callable[[], datetime] = field(default=_utcnow)

    def _limit(self, key: str) -> int:
        return self.per_client if key.startswith("ip:") else self.per_target

    async def blocked(self, keys: list[str]) -> bool:
        counts = await self.db.count_attempts(keys, since=self.clock() - self.window)
        return any(count >= self._limit(key) for key, count in counts.items())

    async def spend(self, keys: list[str]) -> None:
        """Count one failed attempt against every key."""
        await self.db.record_attempts(keys)


def lookup_keys(
    *,
    number: str | None = None,
    email: str | None = None,
    postal_code: str | None = None,
    client_ip: str | None = None,
) -> list[str]:
    """What a failed lookup counts against.

    A postal code is short enough to guess, an email is not: postal-code failures count against the order (or the
    email, when the number is lost) and against the code itself (one code tried on many orders), so guessing is
    slow while the owner can still prove the order with its email. Every failure counts against the client address.
    """
    keys = []
    if postal_code:
        keys.append(f"postal:{normalize_postal_code(postal_code)}")
        if number:
            keys.append(f"order-postal:{order_key(number)}")
        if email:
            keys.append(f"email-postal:{normalize_email(email)}")
    if client_ip:
        keys.append(f"ip:{client_ip}")
    return keys
