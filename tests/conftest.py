"""Shared fixtures. Tests never reach a real LLM: model requests are only allowed to local test models."""

from __future__ import annotations

from pydantic_ai import models

# Shared fixtures: a clock and an in-memory database, the fake Shopify, a real SMTP server on loopback, and a
# throwaway PostgreSQL server with `database_url` over SQLite and PostgreSQL.
pytest_plugins = ["tests.fixtures", "tests.smtp_server", "tests.postgres"]

models.ALLOW_MODEL_REQUESTS = False
