"""Every setting Lumen reads from the environment, validated once at start-up (pydantic-settings)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopify.store_file import DEMO_STORE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- where orders come from -------------------------------------------------------------------------------
    lumen_store: Path = Field(DEMO_STORE, description="Store file used when no Shopify credentials are set.")
    shopify_shop: str | None = Field(None, description="mystore.myshopify.com")
    # A Dev Dashboard or CLI app's credentials: with them Lumen gets (and refreshes) its own Admin API token.
    shopify_client_id: str | None = None
    shopify_client_secret: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("shopify_client_secret", "lumen_shopify_api_secret"),
        description="The app's client secret; also signs webhooks and app-proxy requests.",
    )
    shopify_client_secret_previous: SecretStr | None = Field(
        None, description="The secret before a rotation, still accepted on signatures until Shopify stops using it."
    )
    # A legacy custom app's permanent token (shpat_...); new apps use the client credentials above.
    shopify_access_token: SecretStr | None = None
    # The version Lumen's queries are validated against (tests/data/shopify-admin-2026-07.graphql.gz); supported by
    # Shopify until 2027-07-01.
    shopify_api_version: str = "2026-07"
    shopify_shop_url: str | None = Field(
        None, description="Base of /admin/oauth and /admin/api; default https://{SHOPIFY_SHOP} (tests, proxies)."
    )
    shopify_api_url: str | None = Field(None, description="Overrides the whole GraphQL endpoint URL.")
    shopify_timeout_s: float = 10.0
    shopify_max_wait_s: float = Field(8.0, description="Longest a shopper waits on Shopify's rate limit.")
    lumen_now: datetime | None = Field(None, description="Overrides the clock for any order source (ISO time).")
    # --- the order mirror (sync/): Lumen's own copy of the store's orders, answering lookups without Shopify ----------
    lumen_order_mirror: bool = Field(True, description="Keep a mirror of the orders when Shopify is configured.")
    lumen_sync_days: int = Field(90, ge=1, le=3650, description="The backfill mirrors orders updated this recently.")
    lumen_reconcile_s: float = Field(
        300.0, gt=0, description="Seconds between reconciliations (what Shopify changed since the last sync)."
    )
    lumen_sync_max_queue: int = Field(
        2000,
        ge=1,
        le=1_000_000,
        description="Webhook payloads a worker keeps waiting to be applied; past it each is taken as a re-read of its "
        "order instead (a webhook storm costs bounded memory).",
    )

    # --- the model ---------------------------------------------------------------------------------------------
    lumen_model: str = Field("playbook", description="'playbook' or a pydantic-ai model name, e.g. openai:gpt-4.1-mini")
    lumen_openai_base_url: str | None = Field(None, description="Any OpenAI-compatible server (Ollama, vLLM, ...).")
    openai_api_key: SecretStr | None = Field(None, description="For openai: models; read here so .env works too.")
    lumen_model_timeout_s: float = 30.0
    lumen_max_turns: int | None = Field(
        None,
        ge=1,
        le=10_000,
        description="turns one worker runs at once; the rest wait their turn in arrival order (default: 16 with the "
        "playbook, whose turns are CPU work; 256 with an LLM, whose turns mostly wait on the provider)",
    )

    # --- storage and escalation ----------------------------------------------------------------------------------
    lumen_database_url: str = "sqlite:///lumen.db"
    # PostgreSQL connections per worker (SQLite has no pool to size): kept open once opened, and opened for a burst
    # beyond. `lumen serve` cuts them to fit the server's max_connections (serving.fit_pool, README scale-out).
    lumen_db_pool_size: int = Field(30, ge=1, le=1000, description="PostgreSQL connections a worker keeps open.")
    lumen_db_max_overflow: int = Field(10, ge=0, le=1000, description="More PostgreSQL connections for a burst.")
    lumen_smtp_url: str | None = Field(None, description="smtp://user:pass@host:port, smtps:// for implicit TLS.")
    lumen_escalation_email: str | None = None
    lumen_mail_from: str = "lumen@localhost"

    # --- server --------------------------------------------------------------------------------------------------
    lumen_host: str = "127.0.0.1"
    lumen_port: int = 8000
    lumen_admin_token: SecretStr | None = None
    lumen_public_url: str | None = Field(
        None, description="Where shoppers and Shopify reach Lumen, e.g. https://lumen.example.com (OAuth redirects)."
    )
    lumen_secret_key: SecretStr | None = Field(
        None, description="Encrypts Shopify tokens at rest (any long random string; a Fernet key is used as is)."
    )
    lumen_proxy_max_age_s: int = 90
    # Shopify documents `X-Forwarded-For: <the shopper's address>` on app-proxy requests: one proxy (Shopify) wrote
    # the header. Each reverse proxy of the merchant's in front of Lumen that appends its peer's address adds one.
    lumen_proxy_hops: int = Field(
        1,
        ge=1,
        le=10,
        description="Proxies that write X-Forwarded-For on an app-proxy request, Shopify included (server.py).",
    )
    lumen_forwarded_allow_ips: str | None = Field(
        None, description="Reverse proxies whose X-Forwarded-For names the client (uvicorn's --forwarded-allow-ips)."
    )

    @field_validator("shopify_shop")
    @classmethod
    def _bare_domain(cls, value: str | None) -> str | None:
        if not value:
            return None
        return value.removeprefix("https://").removeprefix("http://").strip("/")

    @property
    def lumen_shopify_api_secret(self) -> SecretStr | None:
        """The old name of the client secret (LUMEN_SHOPIFY_API_SECRET stays an alias of SHOPIFY_CLIENT_SECRET)."""
        return self.shopify_client_secret

    @property
    def app_secrets(self) -> tuple[str, ...]:
        """Secrets a Shopify signature may be made with: the current one, then the one before a rotation."""
        secrets = (self.shopify_client_secret, self.shopify_client_secret_previous)
        return tuple(s.get_secret_value() for s in secrets if s is not None and s.get_secret_value())

    @property
    def has_app_credentials(self) -> bool:
        return bool(self.shopify_client_id and self.shopify_client_secret)

    @property
    def uses_shopify(self) -> bool:
        where = self.shopify_shop or self.shopify_api_url or self.shopify_shop_url
        return bool(where and (self.shopify_access_token or self.has_app_credentials))

    @property
    def shop_base_url(self) -> str:
        return (self.shopify_shop_url or f"https://{self.shopify_shop}").rstrip("/")

    @property
    def shopify_endpoint(self) -> str:
        if self.shopify_api_url:
            return self.shopify_api_url
        return f"{self.shop_base_url}/admin/api/{self.shopify_api_version}/graphql.json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
