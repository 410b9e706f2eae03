"""The Shopify connection, built from `Settings` in one place: which order source Lumen reads, with which token, and
the OAuth install that produces a token for stores outside the app's organisation.

- `SHOPIFY_ACCESS_TOKEN`: a legacy custom app's static token.
- `SHOPIFY_SHOP` + `SHOPIFY_CLIENT_ID`/`SECRET`: the client credentials grant, or, once the app was installed on that
  shop through `/auth/install`, the install's offline token (renewed with its refresh token).
- `SHOPIFY_CLIENT_ID`/`SECRET` + `LUMEN_PUBLIC_URL` + `LUMEN_SECRET_KEY` without a shop: the install decides the shop.

shopify/ never reads `Settings`: everything below passes plain values down.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from pydantic import BaseModel

from config import Settings
from shopify import FixtureStore, OrderSource
from shopify.auth import (
    AuthorizationCodeToken,
    ClientCredentialsToken,
    DatabaseStateStore,
    EncryptedTokenStore,
    InvalidOAuthRequest,
    MemoryTokenStore,
    OAuthApp,
    OAuthInstall,
    StaticToken,
    TokenCipher,
    TokenProvider,
    TokenStore,
    normalize_shop,
)
from shopify.client import ConnectionStatus, ShopifyAdmin
from shopify.scopes import APP_SCOPES
from storage import Database
from sync.mirror import MirroredSource
from sync.service import OrderSync

log = logging.getLogger("lumen.connect")

# The shop the app was last installed on through /auth/install (not a secret: its token is stored encrypted).
INSTALLED_SHOP_KEY = "shopify_installed_shop"

Query = Mapping[str, str] | Sequence[tuple[str, str]]


class InstallNotConfigured(Exception):
    """`/auth/install` needs the app's credentials, `LUMEN_PUBLIC_URL` and `LUMEN_SECRET_KEY`."""


class Connection(BaseModel):
    """What /healthz and /admin show of the Shopify connection. Never holds a token."""

    source: str  # "shopify" or "store file"
    grant: str | None = None  # "static token", "client credentials", "install (authorization code)"
    install_ready: bool = False  # whether /auth/install can run
    status: ConnectionStatus | None = None


def oauth_app(settings: Settings) -> OAuthApp | None:
    secret = settings.shopify_client_secret
    if not settings.shopify_client_id or secret is None or not secret.get_secret_value():
        return None
    return OAuthApp(
        settings.shopify_client_id,
        secret,
        previous_secret=settings.shopify_client_secret_previous,
        shop_url=settings.shopify_shop_url,
        timeout_s=settings.shopify_timeout_s,
    )


def token_store(settings: Settings, db: Database) -> TokenStore:
    """Encrypted in the database (shared by workers) with `LUMEN_SECRET_KEY`; in memory without it."""
    key = settings.lumen_secret_key
    if key is None or not key.get_secret_value():
        return MemoryTokenStore()
    return EncryptedTokenStore(db, TokenCipher(key.get_secret_value()))


def admin_client(settings: Settings, tokens: TokenProvider, shop: str | None = None) -> ShopifyAdmin:
    endpoint = settings.shopify_endpoint
    if shop is not None and not settings.shopify_api_url and not settings.shopify_shop_url:
        endpoint = f"https://{shop}/admin/api/{settings.shopify_api_version}/graphql.json"
    return ShopifyAdmin(
        endpoint,
        tokens,
        timeout_s=settings.shopify_timeout_s,
        max_wait_s=settings.shopify_max_wait_s,
        now=settings.lumen_now,
    )


def admin_from_settings(settings: Settings, *, tokens: TokenProvider | None = None) -> ShopifyAdmin:
    """The client for the configured store, without a database: `tokens` wins (e.g. an install's offline token),
    then a static SHOPIFY_ACCESS_TOKEN, then the client credentials grant (the token kept in memory)."""
    app = oauth_app(settings)
    if tokens is None and settings.shopify_access_token is not None:
        tokens = StaticToken(settings.shopify_access_token)
    if tokens is None and app is not None and settings.shopify_shop:
        tokens = ClientCredentialsToken(app, settings.shopify_shop)
    if not settings.uses_shopify or tokens is None:
        raise ValueError(
            "Shopify is not configured: set SHOPIFY_SHOP with SHOPIFY_CLIENT_ID and SHOPIFY_CLIENT_SECRET "
            "(or a legacy SHOPIFY_ACCESS_TOKEN)"
        )
    return admin_client(settings, tokens)


class ShopifyConnection:
    """Builds the order source from `Settings` and runs the OAuth install."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.app = oauth_app(settings)
        self.tokens = token_store(settings, db)
        self.grant: str | None = None

    async def source(self) -> OrderSource:
        """The configured Shopify store, or the store file when Shopify is not configured (or not installed yet)."""
        tokens = await self._tokens()
        if tokens is None:
            self.grant = None
            return FixtureStore(self.settings.lumen_store, now=self.settings.lumen_now)
        shop = getattr(tokens, "shop", None)
        shop = shop if isinstance(shop, str) else None
        live = admin_client(self.settings, tokens, shop)
        if not self.settings.lumen_order_mirror:
            return live
        return mirrored(self.settings, self.db, live, admin_client(self.settings, tokens, shop))

    async def _tokens(self) -> TokenProvider | None:
        settings = self.settings
        if settings.shopify_access_token is not None and settings.uses_shopify:
            self.grant = "static token"
            return StaticToken(settings.shopify_access_token)
        if self.app is None:
            return None
        installed = await self._installed_shop()
        shop = settings.shopify_shop or installed
        if shop is None:
            return None
        if installed == shop:
            self.grant = "install (authorization code)"
            return AuthorizationCodeToken(self.app, shop, store=self.tokens)
        self.grant = "client credentials"
        return ClientCredentialsToken(self.app, shop, store=self.tokens)

    async def _installed_shop(self) -> str | None:
        stored = await self.db.get_setting(INSTALLED_SHOP_KEY)
        shop = (stored or {}).get("shop")
        return shop if isinstance(shop, str) else None

    # --- the install (authorization code grant) ------------------------------------------------------------------

    def install(self) -> OAuthInstall:
        settings = self.settings
        if self.app is None or not settings.lumen_public_url or not isinstance(self.tokens, EncryptedTokenStore):
            raise InstallNotConfigured(
                "The Shopify install is not configured: set SHOPIFY_CLIENT_ID, SHOPIFY_CLIENT_SECRET, "
                "LUMEN_PUBLIC_URL and LUMEN_SECRET_KEY."
            )
        return OAuthInstall(
            self.app,
            scopes=APP_SCOPES,
            redirect_uri=f"{settings.lumen_public_url.rstrip('/')}/auth/callback",
            tokens=self.tokens,
            states=DatabaseStateStore(self.db),
        )

    @property
    def install_ready(self) -> bool:
        try:
            self.install()
        except InstallNotConfigured:
            return False
        return True

    async def begin_install(self, query: Query) -> str:
        """The URL of Shopify's consent screen for the shop in `query` (InvalidOAuthRequest if not genuine)."""
        install = self.install()
        if "hmac" not in _params(query):
            # Only Shopify's signed request may start an install: otherwise anyone could walk this Lumen through
            # installing on a shop of their choosing.
            raise InvalidOAuthRequest("open the install from Shopify (the Dev Dashboard or the store's admin)")
        await self._check_shop(query)
        return await install.begin(query)

    async def complete_install(self, query: Query) -> str:
        """Checks Shopify's callback, keeps the token encrypted and remembers the shop; returns the shop."""
        install = self.install()
        await self._check_shop(query)
        shop, token = await install.complete(query)
        await self.db.put_setting(INSTALLED_SHOP_KEY, {"shop": shop})
        # A new consent: after shop/redact the shop's orders may be mirrored again (customers' redactions stay).
        await self.db.reinstate_shop(self.db.clock())
        log.info("Shopify: installed on %s (token expires %s)", shop, token.expires_at or "never")
        return shop

    async def _check_shop(self, query: Query) -> None:
        """A Lumen serves one shop: `SHOPIFY_SHOP`, or the first shop installed (set SHOPIFY_SHOP to move)."""
        shop = normalize_shop(_params(query).get("shop", ""))
        ours = self.settings.shopify_shop or await self._installed_shop()
        if ours and ours.lower() != shop:
            raise InvalidOAuthRequest(f"this Lumen serves {ours}, not {shop}")


def _params(query: Query) -> dict[str, str]:
    return dict(query.items()) if isinstance(query, Mapping) else dict(query)


def mirrored(settings: Settings, db: Database, live: ShopifyAdmin, background: ShopifyAdmin) -> MirroredSource:
    """`live` behind the order mirror. The mirror's own reads (backfill, refreshes, reconciliation) go through
    `background`, a second client on the same token: a background read waiting on Shopify's rate limit then never
    holds a shopper's lookup in the live client's queue."""
    sync = OrderSync(
        db,
        background,
        sync_days=settings.lumen_sync_days,
        reconcile_s=settings.lumen_reconcile_s,
        max_payloads=settings.lumen_sync_max_queue,
        owns_admin=True,
    )
    return MirroredSource(live, db, sync)


def connection_of(source: OrderSource, grant: str | None, install_ready: bool) -> Connection:
    if isinstance(source, MirroredSource):
        source = source.live
    if isinstance(source, ShopifyAdmin):
        return Connection(source="shopify", grant=grant, install_ready=install_ready, status=source.status)
    return Connection(source="store file", install_ready=install_ready)
