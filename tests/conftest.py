"""Shared fixtures. Tests never reach a real LLM: model requests are only allowed to local test models."""

from __future__ import annotations

from pydantic_ai import models

from tests.smtp_server import smtp_server  # noqa: F401  (fixture: a real SMTP server on loopback)

models.ALLOW_MODEL_REQUESTS = False
