"""Every setting Lumen reads from the environment, validated once at start-up (pydantic-settings)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopify.store_file import DEMO_STORE


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- where orders come from -------------------------------------------------------------------------------
    lumen_store: Path = Field(DEMO_STORE, description="Store file used when no Shopify credentials are set.")
    shopify_shop: str | None = Field(None, description="mystore.myshopify.com")
    shopify_access_token: SecretStr | None = None
    shopify_api_version: str = "2026-10"
    shopify_api_url: str | None = Field(None, description="Overrides the whole GraphQL endpoint URL.")
    shopify_timeout_s: float = 10.0
    shopify_max_wait_s: float = Field(8.0, description="Longest a shopper waits on Shopify's rate limit.")
    lumen_now: datetime | None = Field(None, description="Overrides the clock for any order source (ISO time).")

    # --- the model ---------------------------------------------------------------------------------------------
    lumen_model: str = Field("playbook", description="'playbook' or a pydantic-ai model name, e.g. openai:gpt-4.1-mini")
    lumen_openai_base_url: str | None = Field(None, description="Any OpenAI-compatible server (Ollama, vLLM, ...).")
    openai_api_key: SecretStr | None = Field(None, description="For openai: models; read here so .env works too.")
    lumen_model_timeout_s: float = 30.0

    # --- storage and escalation ----------------------------------------------------------------------------------
    lumen_database_url: str = "sqlite:///lumen.db"
    lumen_smtp_url: str | None = Field(None, description="smtp://user:pass@host:port, smtps:// for implicit TLS.")
    lumen_escalation_email: str | None = None
    lumen_mail_from: str = "lumen@localhost"

    # --- server --------------------------------------------------------------------------------------------------
    lumen_host: str = "127.0.0.1"
    lumen_port: int = 8000
    lumen_admin_token: SecretStr | None = None
    lumen_shopify_api_secret: SecretStr | None = None
    lumen_proxy_max_age_s: int = 90
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
    def uses_shopify(self) -> bool:
        return bool(self.shopify_access_token and (self.shopify_shop or self.shopify_api_url))

    @property
    def shopify_endpoint(self) -> str:
        if self.shopify_api_url:
            return self.shopify_api_url
        return f"https://{self.shopify_shop}/admin/api/{self.shopify_api_version}/graphql.json"


@lru_cache
def get_settings() -> Settings:
    return Settings()
