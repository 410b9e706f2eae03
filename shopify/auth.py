"""Admin API access tokens: where they come from, when they are renewed, and how they are kept.

Three sources, one interface (`TokenProvider`):

- `StaticToken`: a `shpat_...` token from a legacy custom app (`SHOPIFY_ACCESS_TOKEN`); it cannot be renewed.
- `ClientCredentialsToken`: the client credentials grant, for stores in the app developer's own organisation. Tokens
  last about 24 hours; a new one is simply asked for again.
- `AuthorizationCodeToken`: the offline token an install through `OAuthApp` (the authorization code grant) produced.
  Lumen asks for an *expiring* offline token (one hour, with a refresh token) and renews it with the refresh-token
  grant; a non-expiring offline token is accepted too.

Renewal happens a little before expiry and once after a 401, and concurrent requests share ONE renewal: a lock per
provider, and `refresh(stale=...)` renews only if the token the caller saw fail is still the current one. Tokens are
kept through a `TokenStore` (memory here; the database later, encrypted with `TokenCipher`), never logged and never
in a repr: every secret is a `SecretStr`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, SecretStr

from shopify.scopes import with_implied

log = logging.getLogger(__name__)

# Refresh this long before a token's announced expiry, so a request never leaves with a token about to lapse.
REFRESH_MARGIN = timedelta(minutes=5)
# How old a signed install or callback request may be (Shopify's `timestamp`, Unix seconds).
MAX_REQUEST_AGE = timedelta(hours=1)
STATE_TTL = timedelta(minutes=10)
# One worker renews a shop's token at a time (a row in the settings table); a lease older than this was abandoned.
RENEWAL_LEASE_TTL = timedelta(seconds=30)
RENEWAL_POLL_S = 0.05

_MYSHOPIFY_HOST = re.compile(r"[a-z0-9][a-z0-9\-]*\.myshopify\.com")


# --- errors -----------------------------------------------------------------------------------------------------


class ShopifyAuthError(Exception):
    """Lumen could not get or renew an Admin API token. `str()` is written for the merchant; it holds no secret."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ShopNotPermitted(ShopifyAuthError):
    """The client credentials grant was refused: the store is outside the app developer's organisation."""


class ReauthorizationRequired(ShopifyAuthError):
    """The token can no longer be renewed without the merchant: install the app again."""


class TokenEndpointUnavailable(ShopifyAuthError):
    """The token endpoint answered neither a token nor a refusal (a 5xx, a throttle, ...): Shopify said nothing about
    whether the app may still have access, so this must not be read as a revocation."""


class TokenUnreadable(ShopifyAuthError):
    """A stored token that cannot be decrypted with LUMEN_SECRET_KEY (the key changed since the token was stored, or
    the database is another Lumen's): Lumen's own fault, never a word from Shopify about the app's access, so it must
    not be read as a revocation (a shop/redact would then erase a shop that still uses Lumen)."""


class InvalidOAuthRequest(ShopifyAuthError):
    """An install or callback request that is not provably from Shopify (HMAC, state, shop or timestamp)."""


# --- shops and URLs ------------------------------------------------------------------------------------------------


def normalize_shop(shop: str) -> str:
    """`X.myshopify.com` from what a merchant or Shopify wrote (`https://X.myshopify.com/`, any case), or raise.

    Only Shopify's own `*.myshopify.com` hosts are accepted: the shop name decides where Lumen sends the client
    secret and the authorization code, so it must never be a host someone else controls.
    """
    text = shop.strip().lower()
    host = urlsplit(text).hostname if "://" in text else text.rstrip("/")
    if host is None or not _MYSHOPIFY_HOST.fullmatch(host):
        raise InvalidOAuthRequest(f"{shop!r} is not a Shopify store address (expected your-store.myshopify.com)")
    return host


def shop_base_url(shop: str, shop_url: str | None = None) -> str:
    """The base of `/admin/oauth/...` and `/admin/api/...`: `SHOPIFY_SHOP_URL` when set (tests, proxies)."""
    return (shop_url or f"https://{shop}").rstrip("/")


def graphql_endpoint(shop: str, api_version: str, shop_url: str | None = None) -> str:
    return f"{shop_base_url(shop, shop_url)}/admin/api/{api_version}/graphql.json"


# --- tokens ------------------------------------------------------------------------------------------------------


def parse_scopes(value: str | Iterable[str] | None) -> frozenset[str]:
    """Shopify writes granted scopes as `"read_orders,read_customers"`; write scopes imply the read ones."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)
    return with_implied(item.strip() for item in items if item.strip())


class AccessToken(BaseModel):
    """One Admin API token and what came with it. Secrets never appear in a repr or a log line."""

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr
    scopes: frozenset[str] = frozenset()
    expires_at: datetime | None = None  # None: a non-expiring token
    refresh_token: SecretStr | None = None
    refresh_expires_at: datetime | None = None

    def expires_within(self, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
        return self.expires_at is not None and now + margin >= self.expires_at

    @classmethod
    def from_response(cls, payload: Mapping[str, Any], now: datetime) -> AccessToken:
        """Read Shopify's token response: `access_token`, `scope`, and for expiring tokens `expires_in`,
        `refresh_token`, `refresh_token_expires_in` (seconds)."""
        token = payload.get("access_token")
        if not isinstance(token, str) or not token:
            raise ShopifyAuthError("Shopify's token response held no access token")
        expires_in = payload.get("expires_in")
        refresh = payload.get("refresh_token")
        refresh_in = payload.get("refresh_token_expires_in")
        return cls(
            access_token=SecretStr(token),
            scopes=parse_scopes(payload.get("scope")),
            expires_at=now + timedelta(seconds=expires_in) if isinstance(expires_in, int | float) else None,
            refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
            refresh_expires_at=now + timedelta(seconds=refresh_in) if isinstance(refresh_in, int | float) else None,
        )


class TokenStore(Protocol):
    """Where a shop's current token lives. The database implementation keeps it encrypted with `TokenCipher`, so
    every worker sees a renewal one of them made."""

    async def load(self, shop: str) -> AccessToken | None: ...

    async def save(self, shop: str, token: AccessToken) -> None: ...


class MemoryTokenStore:
    """A `TokenStore` for one process (and tests)."""

    def __init__(self) -> None:
        self._tokens: dict[str, AccessToken] = {}

    async def load(self, shop: str) -> AccessToken | None:
        return self._tokens.get(shop)

    async def save(self, shop: str, token: AccessToken) -> None:
        self._tokens[shop] = token


class SettingsStore(Protocol):
    """A small JSON key-value store (storage's `Database.get_setting`/`put_setting` is one)."""

    async def get_setting(self, key: str) -> dict[str, Any] | None: ...

    async def put_setting(self, key: str, value: dict[str, Any]) -> None: ...


@runtime_checkable
class LeaseStore(Protocol):
    """Leases shared by every worker (storage's `Database.claim_lease`/`release_lease` is one)."""

    async def claim_lease(self, key: str, holder: str, *, ttl: timedelta) -> bool: ...

    async def release_lease(self, key: str, holder: str) -> None: ...


@runtime_checkable
class RenewalLeases(Protocol):
    """A `TokenStore` shared by workers that lets one of them at a time renew a shop's token."""

    async def claim_renewal(self, shop: str, holder: str) -> bool: ...

    async def release_renewal(self, shop: str, holder: str) -> None: ...


class EncryptedTokenStore:
    """A `TokenStore` in the database, encrypted with `TokenCipher`: every worker reads the token one of them renewed.

    tokens = EncryptedTokenStore(database, TokenCipher(settings.lumen_secret_key.get_secret_value()))
    """

    def __init__(self, settings: SettingsStore, cipher: TokenCipher, *, prefix: str = "shopify_token:") -> None:
        self._settings = settings
        self._cipher = cipher
        self._prefix = prefix

    def __repr__(self) -> str:
        return "EncryptedTokenStore(<encrypted>)"

    async def load(self, shop: str) -> AccessToken | None:
        stored = await self._settings.get_setting(self._prefix + shop)
        blob = (stored or {}).get("fernet")
        return self._cipher.decrypt(blob.encode()) if isinstance(blob, str) else None

    async def save(self, shop: str, token: AccessToken) -> None:
        # Fernet tokens are URL-safe base64 already: stored as text, readable by no one without the key.
        await self._settings.put_setting(self._prefix + shop, {"fernet": self._cipher.encrypt(token).decode()})

    async def claim_renewal(self, shop: str, holder: str) -> bool:
        """True when `holder` may renew `shop`'s token now: Shopify's refresh tokens are single-use, so two workers
        renewing at once would leave one of them holding a refused refresh token."""
        if not isinstance(self._settings, LeaseStore):
            return True
        return await self._settings.claim_lease(f"{self._prefix}renewing:{shop}", holder, ttl=RENEWAL_LEASE_TTL)

    async def release_renewal(self, shop: str, holder: str) -> None:
        if isinstance(self._settings, LeaseStore):
            await self._settings.release_lease(f"{self._prefix}renewing:{shop}", holder)


# --- encryption at rest --------------------------------------------------------------------------------------------


def fernet_key(secret_key: str) -> bytes:
    """The Fernet key for `LUMEN_SECRET_KEY`: a Fernet key as is, or one derived (HKDF-SHA256) from a passphrase of
    at least 32 characters. Anything shorter is refused: it would be guessable offline from a stolen database."""
    text = secret_key.strip()
    try:
        if len(base64.urlsafe_b64decode(text.encode())) == 32:
            return text.encode()
    except (binascii.Error, ValueError):
        pass
    if len(text) < 32:
        raise ValueError(
            "LUMEN_SECRET_KEY must be a Fernet key or at least 32 characters; "
            "generate one with: "
            'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
        )
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lumen-shopify-tokens").derive(text.encode())
    return base64.urlsafe_b64encode(derived)


class TokenCipher:
    """Encrypts tokens for the database. Older keys in `previous` still decrypt, so a key can be rotated."""

    def __init__(self, secret_key: str, previous: Sequence[str] = ()) -> None:
        self._fernet = MultiFernet([Fernet(fernet_key(key)) for key in (secret_key, *previous)])

    def __repr__(self) -> str:
        return "TokenCipher(<secret>)"

    def encrypt(self, token: AccessToken) -> bytes:
        plain = {
            "access_token": token.access_token.get_secret_value(),
            "scopes": sorted(token.scopes),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
            "refresh_token": token.refresh_token.get_secret_value() if token.refresh_token else None,
            "refresh_expires_at": token.refresh_expires_at.isoformat() if token.refresh_expires_at else None,
        }
        return self._fernet.encrypt(_StoredToken.model_validate(plain).model_dump_json().encode())

    def decrypt(self, blob: bytes) -> AccessToken:
        try:
            plain = _StoredToken.model_validate_json(self._fernet.decrypt(blob))
        except InvalidToken as exc:
            raise TokenUnreadable("the stored Shopify token cannot be decrypted with LUMEN_SECRET_KEY") from exc
        return AccessToken(
            access_token=SecretStr(plain.access_token),
            scopes=frozenset(plain.scopes),
            expires_at=plain.expires_at,
            refresh_token=SecretStr(plain.refresh_token) if plain.refresh_token else None,
            refresh_expires_at=plain.refresh_expires_at,
        )


class _StoredToken(BaseModel):
    access_token: str
    scopes: list[str]
    expires_at: datetime | None
    refresh_token: str | None
    refresh_expires_at: datetime | None

    def __repr__(self) -> str:  # never printed with its secrets, even by accident
        return "_StoredToken(<secret>)"


# --- the OAuth app: grants and signed requests ------------------------------------------------------------------


def _query_pairs(query: Mapping[str, str] | Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(query.items()) if isinstance(query, Mapping) else list(query)


class OAuthApp:
    """The app's client credentials and the OAuth requests made with them.

    `shop_url` replaces `https://{shop}` as the base of `/admin/oauth/...` (SHOPIFY_SHOP_URL, for tests and proxies).
    `previous_secret` (SHOPIFY_CLIENT_SECRET_PREVIOUS) still verifies signatures during a secret rotation.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: SecretStr | str,
        *,
        previous_secret: SecretStr | str | None = None,
        shop_url: str | None = None,
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.client_id = client_id
        self._secret = SecretStr(client_secret) if isinstance(client_secret, str) else client_secret
        self._previous = SecretStr(previous_secret) if isinstance(previous_secret, str) else previous_secret
        self.shop_url = shop_url
        self._http = http
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r})"

    def _secrets(self) -> list[bytes]:
        found = [self._secret] + ([self._previous] if self._previous is not None else [])
        return [s.get_secret_value().encode() for s in found if s.get_secret_value()]

    # --- signed requests from Shopify ----------------------------------------------------------------------

    def verify_hmac(self, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> bool:
        """Shopify's OAuth query signature: hex HMAC-SHA256 over the other parameters, sorted, form-encoded.

        A repeated parameter is refused outright: whichever copy an app reads, the other one was signed.
        """
        pairs = _query_pairs(query)
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            return False
        given = dict(pairs).get("hmac")
        if not given:
            return False
        message = urlencode(sorted((k, v) for k, v in pairs if k not in ("hmac", "signature"))).encode()
        return any(
            hmac.compare_digest(hmac.new(secret, message, hashlib.sha256).hexdigest(), given.lower())
            for secret in self._secrets()
        )

    def sign(self, params: Mapping[str, str]) -> dict[str, str]:
        """`params` with Shopify's `hmac` added, made with the current secret (for the fake and tests)."""
        message = urlencode(sorted(params.items())).encode()
        digest = hmac.new(self._secrets()[0], message, hashlib.sha256).hexdigest()
        return {**params, "hmac": digest}

    def authorize_url(self, shop: str, *, scopes: Iterable[str], redirect_uri: str, state: str) -> str:
        """Where `/auth/install` sends the merchant: Shopify's approval page for an offline token (no
        `grant_options[]=per-user`, which would ask for an online one)."""
        params = {"client_id": self.client_id, "scope": ",".join(sorted(scopes))}
        query = urlencode(params | {"redirect_uri": redirect_uri, "state": state})
        return f"{shop_base_url(normalize_shop(shop), self.shop_url)}/admin/oauth/authorize?{query}"

    # --- the token endpoint ---------------------------------------------------------------------------------

    async def client_credentials(self, shop: str, *, now: datetime) -> AccessToken:
        """A token for a store of the developer's own organisation. No `scope`: the app's configured scopes apply."""
        return await self._token_request(shop, {"grant_type": "client_credentials"}, now=now)

    async def exchange_code(self, shop: str, code: str, *, now: datetime, expiring: bool = True) -> AccessToken:
        """The authorization code from `/auth/callback` for an offline token (`expiring=1`: one hour, with a
        refresh token)."""
        fields = {"code": code} | ({"expiring": "1"} if expiring else {})
        return await self._token_request(shop, fields, now=now)

    async def refresh(self, shop: str, refresh_token: SecretStr, *, now: datetime) -> AccessToken:
        """A new expiring offline token (and a new refresh token: Shopify replaces it on every use)."""
        fields = {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        return await self._token_request(shop, fields, now=now)

    async def _token_request(self, shop: str, fields: dict[str, str], *, now: datetime) -> AccessToken:
        url = f"{shop_base_url(normalize_shop(shop), self.shop_url)}/admin/oauth/access_token"
        form = {"client_id": self.client_id, "client_secret": self._secret.get_secret_value(), **fields}
        # Without `Accept: application/json` Shopify answers a refused grant with an HTML page and no error code.
        headers = {"Accept": "application/json"}
        http = self._http or httpx.AsyncClient(timeout=self._timeout_s)
        try:
            response = await http.post(url, data=form, headers=headers, timeout=self._timeout_s)
        except httpx.HTTPError as exc:
            raise ShopifyAuthError(f"Shopify's token endpoint could not be reached ({type(exc).__name__})") from exc
        finally:
            if self._http is None:
                await http.aclose()
        payload = _json_object(response)
        if response.status_code != 200:
            raise _token_error(response.status_code, payload, fields.get("grant_type", "authorization_code"))
        return AccessToken.from_response(payload, now)


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _token_error(status: int, payload: Mapping[str, Any], grant: str) -> ShopifyAuthError:
    code = payload.get("error") if isinstance(payload.get("error"), str) else None
    detail = payload.get("error_description") if isinstance(payload.get("error_description"), str) else None
    said = f"{code}: {detail}" if code and detail else code or detail or f"HTTP {status}"
    if status not in (400, 401):
        # Shopify refuses a grant with 400 or 401; anything else (5xx above all) is Shopify failing, not refusing.
        return TokenEndpointUnavailable(f"Shopify's token endpoint failed (HTTP {status}: {said})", code=code)
    if code == "shop_not_permitted":
        return ShopNotPermitted(
            "Shopify refused the client credentials grant for this store (shop_not_permitted): it only works for "
            "stores owned by the same Shopify organization as the app. Install the app on this store through "
            "/auth/install instead, or create the app in the store's own organization.",
            code=code,
        )
    if grant == "refresh_token" or code == "invalid_grant":
        return ReauthorizationRequired(
            f"Shopify would not renew Lumen's access ({said}); install the app again through /auth/install.",
            code=code,
        )
    if code in ("invalid_client", "invalid_request") or status == 401:
        return ShopifyAuthError(
            f"Shopify refused the app credentials ({said}); check SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET.",
            code=code,
        )
    return ShopifyAuthError(f"Shopify's token endpoint refused the request ({said})", code=code)


# --- token providers ---------------------------------------------------------------------------------------------


class TokenProvider(Protocol):
    """What `ShopifyAdmin` asks for a token."""

    async def token(self) -> SecretStr:
        """A token good for the next request (renewed first if it is about to expire)."""
        ...

    async def refresh(self, stale: SecretStr) -> SecretStr:
        """A new token after `stale` got a 401; if another request already renewed it, that token."""
        ...

    @property
    def granted_scopes(self) -> frozenset[str] | None:
        """The scopes the last token response listed, or None when unknown (a static token)."""
        ...

    @property
    def expires_at(self) -> datetime | None: ...


def _utcnow() -> datetime:
    return datetime.now(UTC)


class StaticToken:
    """A token from a legacy custom app (`SHOPIFY_ACCESS_TOKEN`). It never expires and cannot be renewed."""

    def __init__(self, token: SecretStr | str) -> None:
        self._token = SecretStr(token) if isinstance(token, str) else token

    def __repr__(self) -> str:
        return "StaticToken(<secret>)"

    async def token(self) -> SecretStr:
        return self._token

    async def refresh(self, stale: SecretStr) -> SecretStr:
        raise ShopifyAuthError(
            "Shopify rejected SHOPIFY_ACCESS_TOKEN (HTTP 401); it cannot be renewed: set a current token, or "
            "SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET so Lumen gets its own."
        )

    @property
    def granted_scopes(self) -> frozenset[str] | None:
        return None

    @property
    def expires_at(self) -> datetime | None:
        return None


class _RenewingToken:
    """A token kept in a `TokenStore` and renewed before expiry or after a 401, one renewal at a time."""

    def __init__(
        self,
        app: OAuthApp,
        shop: str,
        *,
        store: TokenStore | None = None,
        now: Callable[[], datetime] | None = None,
        margin: timedelta = REFRESH_MARGIN,
    ) -> None:
        self.app = app
        self.shop = normalize_shop(shop)
        self.store: TokenStore = store if store is not None else MemoryTokenStore()
        # Looked up here, not bound at definition, so tests can move the clock of the providers the server builds.
        self._now = now or _utcnow
        self._margin = margin
        self._current: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.renewals = 0  # how many times a new token was obtained (for tests and /admin)
        self._holder = secrets.token_hex(8)  # this provider's name on the renewal lease

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shop={self.shop!r})"

    async def _obtain(self, current: AccessToken | None) -> AccessToken:
        raise NotImplementedError

    async def token(self) -> SecretStr:
        current = self._current or await self.store.load(self.shop)
        if current is not None and not current.expires_within(self._now(), self._margin):
            self._current = current
            return current.access_token
        return await self._renew(stale=current.access_token if current else None)

    async def refresh(self, stale: SecretStr) -> SecretStr:
        return await self._renew(stale=stale, forced=True)

    async def _renew(self, *, stale: SecretStr | None, forced: bool = False) -> SecretStr:
        async with self._lock:
            # Whoever held the lock before us may already have renewed it (here or, via the store, in another
            # worker): then that token is the answer, and Shopify is not asked twice.
            current = await self.store.load(self.shop) or self._current
            if self._usable(current, stale, forced):
                assert current is not None
                self._current = current
                return current.access_token
            renewed = await self._wait_for_lease(stale, forced)
            if renewed is not None:  # another worker renewed it while we waited for the lease
                self._current = renewed
                return renewed.access_token
            try:
                return await self._renew_leased(stale, forced)
            finally:
                if isinstance(self.store, RenewalLeases):
                    await self.store.release_renewal(self.shop, self._holder)

    async def _renew_leased(self, stale: SecretStr | None, forced: bool) -> SecretStr:
        current = await self.store.load(self.shop) or self._current
        if self._usable(current, stale, forced):  # renewed by the worker that held the lease before us
            assert current is not None
            self._current = current
            return current.access_token
        fresh = await self._obtain(current)
        self.renewals += 1
        await self.store.save(self.shop, fresh)
        self._current = fresh
        log.info("Shopify: new access token for %s (expires %s)", self.shop, fresh.expires_at or "never")
        return fresh.access_token

    def _usable(self, current: AccessToken | None, stale: SecretStr | None, forced: bool) -> bool:
        """A token that is not about to expire and is not the one the caller saw refused."""
        if current is None or current.expires_within(self._now(), self._margin):
            return False
        if stale is None or current.access_token.get_secret_value() != stale.get_secret_value():
            return True
        return not forced

    async def _wait_for_lease(self, stale: SecretStr | None, forced: bool) -> AccessToken | None:
        """Hold the store's renewal lease (None), or the token the worker holding it renewed meanwhile."""
        if not isinstance(self.store, RenewalLeases):
            return None
        # A lease whose holder died goes stale after RENEWAL_LEASE_TTL, and claim_renewal then takes it over.
        while not await self.store.claim_renewal(self.shop, self._holder):
            current = await self.store.load(self.shop)
            if self._usable(current, stale, forced):
                return current
            await asyncio.sleep(RENEWAL_POLL_S)
        return None

    @property
    def granted_scopes(self) -> frozenset[str] | None:
        return self._current.scopes if self._current is not None and self._current.scopes else None

    @property
    def expires_at(self) -> datetime | None:
        return self._current.expires_at if self._current is not None else None


class ClientCredentialsToken(_RenewingToken):
    """Tokens from the client credentials grant (stores of the app's own organisation), renewed by asking again."""

    async def _obtain(self, current: AccessToken | None) -> AccessToken:
        return await self.app.client_credentials(self.shop, now=self._now())


class AuthorizationCodeToken(_RenewingToken):
    """The offline token an install produced (saved in the store by `OAuthInstall.complete`), renewed with its
    refresh token. A non-expiring token is used as is; a 401 on it means the merchant must install again."""

    async def _obtain(self, current: AccessToken | None) -> AccessToken:
        if current is None:
            raise ReauthorizationRequired(
                f"Lumen has no Shopify token for {self.shop} yet: "
                f"install the app through /auth/install?shop={self.shop}"
            )
        if current.refresh_token is None:
            raise ReauthorizationRequired(
                "Shopify rejected Lumen's offline token and it has no refresh token: install the app again."
            )
        if current.refresh_expires_at is not None and self._now() >= current.refresh_expires_at:
            raise ReauthorizationRequired("Lumen's Shopify refresh token has expired: install the app again.")
        return await self.app.refresh(self.shop, current.refresh_token, now=self._now())


# --- the install flow (authorization code grant) ---------------------------------------------------------------


class StateStore(Protocol):
    """Single-use `state` values for the OAuth redirect (the database implementation shares them across workers)."""

    async def issue(self, shop: str, expires_at: datetime) -> str: ...

    async def consume(self, state: str, shop: str, now: datetime) -> bool:
        """True once for a state issued for `shop` and not yet expired; False ever after."""
        ...


class MemoryStateStore:
    def __init__(self) -> None:
        self._states: dict[str, tuple[str, datetime]] = {}

    async def issue(self, shop: str, expires_at: datetime) -> str:
        state = secrets.token_urlsafe(32)
        self._states[state] = (shop, expires_at)
        return state

    async def consume(self, state: str, shop: str, now: datetime) -> bool:
        found = self._states.pop(state, None)
        return found is not None and found[0] == shop and now < found[1]


class StateSettings(Protocol):
    """Keys every worker sees, taken at most once (storage's `Database` is one)."""

    async def put_setting(self, key: str, value: dict[str, Any]) -> None: ...

    async def take_setting(self, key: str) -> dict[str, Any] | None: ...

    async def delete_settings_before(self, prefix: str, before: datetime) -> int: ...


class DatabaseStateStore:
    """`state` values in the database: any worker can finish an install another one began, and a state is
    taken (read and deleted at once) by exactly one callback."""

    prefix = "oauth_state:"

    def __init__(self, settings: StateSettings) -> None:
        self._settings = settings

    async def issue(self, shop: str, expires_at: datetime) -> str:
        # States nobody came back with are dropped as new ones are issued.
        await self._settings.delete_settings_before(self.prefix, expires_at - 2 * STATE_TTL)
        state = secrets.token_urlsafe(32)
        await self._settings.put_setting(self.prefix + state, {"shop": shop, "expires_at": expires_at.isoformat()})
        return state

    async def consume(self, state: str, shop: str, now: datetime) -> bool:
        if len(state) > 100:
            return False
        found = await self._settings.take_setting(self.prefix + state)
        if found is None or found.get("shop") != shop:
            return False
        try:
            return now < datetime.fromisoformat(str(found.get("expires_at")))
        except ValueError:
            return False


class OAuthInstall:
    """`/auth/install` and `/auth/callback` as plain methods: the server turns their results into responses.

    install = OAuthInstall(app, scopes=APP_SCOPES, redirect_uri=f"{public_url}/auth/callback", tokens=store)
    url = await install.begin(request.query_params.multi_items())       # 302 to this URL
    shop, token = await install.complete(request.query_params.multi_items())
    """

    def __init__(
        self,
        app: OAuthApp,
        *,
        scopes: Iterable[str],
        redirect_uri: str,
        tokens: TokenStore,
        states: StateStore | None = None,
        now: Callable[[], datetime] | None = None,
        expiring: bool = True,
    ) -> None:
        self.app = app
        self.scopes = frozenset(scopes)
        self.redirect_uri = redirect_uri
        self.tokens = tokens
        self.states: StateStore = states if states is not None else MemoryStateStore()
        self._now = now or _utcnow  # looked up here so tests can move it (see _RenewingToken)
        self._expiring = expiring

    async def begin(self, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
        """The authorize URL for the shop in `query`. When Shopify opened the install (`hmac`, `timestamp`,
        `host` present) the signature and age are checked too; a bare `?shop=` from the merchant is allowed."""
        params = dict(_query_pairs(query))
        shop = normalize_shop(params.get("shop", ""))
        if "hmac" in params:
            self._check_signed(query, params)
        state = await self.states.issue(shop, self._now() + STATE_TTL)
        return self.app.authorize_url(shop, scopes=self.scopes, redirect_uri=self.redirect_uri, state=state)

    async def complete(self, query: Mapping[str, str] | Sequence[tuple[str, str]]) -> tuple[str, AccessToken]:
        """Check Shopify's callback (HMAC, single-use state, shop, age), exchange the code and keep the token."""
        params = dict(_query_pairs(query))
        shop = normalize_shop(params.get("shop", ""))
        self._check_signed(query, params)
        state = params.get("state", "")
        if not state or not await self.states.consume(state, shop, self._now()):
            raise InvalidOAuthRequest("the install link has expired or was already used; start the install again")
        code = params.get("code", "")
        if not code:
            raise InvalidOAuthRequest("Shopify's callback carried no authorization code")
        token = await self.app.exchange_code(shop, code, now=self._now(), expiring=self._expiring)
        missing = self.scopes - token.scopes
        if missing:
            log.warning("Shopify: %s granted Lumen without %s", shop, ", ".join(sorted(missing)))
        await self.tokens.save(shop, token)
        return shop, token

    def _check_signed(self, query: Mapping[str, str] | Sequence[tuple[str, str]], params: Mapping[str, str]) -> None:
        if not self.app.verify_hmac(query):
            raise InvalidOAuthRequest("the request's HMAC does not match: it did not come from Shopify")
        try:
            sent = datetime.fromtimestamp(int(params.get("timestamp", "")), UTC)
        except (ValueError, OverflowError, OSError):  # not a number, or one no clock reaches
            raise InvalidOAuthRequest("the request carries no valid timestamp") from None
        if abs(self._now() - sent) > MAX_REQUEST_AGE:
            raise InvalidOAuthRequest("the request is too old; start the install again")
