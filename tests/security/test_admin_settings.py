"""Round 8: a merchant can take the escalation email and the SMTP URL away again, over HTTP, on SQLite and PostgreSQL.

Before: null cleared them, but an emptied field ('' or spaces, what a form or a script sends for "none") was refused
with 422 for the escalation email, so a merchant could not clear it that way. Now blank or null clears either one,
with the same checks as setting it; a bad value is a 4xx JSON answer and nothing stored changes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import server
from agent.service import Lumen
from tests.server_helpers import ADMIN, make_settings

ENV_EMAIL = "ops@harbor.example"
ENV_SMTP = "smtp://ops:env-secret@mail.harbor.example:587"
SET = {
    "escalation_email": "help@harbor.example",
    "smtp_url": "smtp://support:s3cret-pass@smtp.harbor.example:2525",
    "mail_from": "Harbor <bot@harbor.example>",
}
SETTINGS = "/api/admin/settings"


@asynccontextmanager
async def admin_api(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[httpx.AsyncClient, Lumen]]:
    """A started server (lifespan run) on the database, with the escalation email and SMTP URL also set in its
    environment: a cleared setting must stay cleared, not fall back to them."""
    settings = make_settings(
        tmp_path, lumen_database_url=database_url, lumen_escalation_email=ENV_EMAIL, lumen_smtp_url=ENV_SMTP
    )
    app = server.create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test", headers=ADMIN) as client:
            yield client, app.state.lumen


@pytest.mark.parametrize("cleared", [None, "", "   "], ids=["null", "empty", "spaces"])
async def test_a_merchant_can_clear_the_escalation_email_and_the_smtp_url(
    tmp_path: Path, database_url: str, cleared: str | None
) -> None:
    async with admin_api(tmp_path, database_url) as (client, lumen):
        assert (await client.put(SETTINGS, json=SET)).status_code == 200
        response = await client.put(SETTINGS, json={"escalation_email": cleared, "smtp_url": cleared})
        assert response.status_code == 200, response.text
        shown = response.json()
        assert (shown["escalation_email"], shown["smtp_url"]) == (None, None)
        assert shown["mail_from"] == SET["mail_from"]  # what was not sent stays
        assert (await client.get(SETTINGS)).json() == shown
        mail = await lumen._mail_settings()
        assert not mail.configured and mail.recipients == []
    # Restarted on the same database, with the same environment: still cleared.
    async with admin_api(tmp_path, database_url) as (client, _):
        assert (await client.get(SETTINGS)).json() == shown


async def test_each_can_be_cleared_alone(tmp_path: Path, database_url: str) -> None:
    async with admin_api(tmp_path, database_url) as (client, lumen):
        await client.put(SETTINGS, json=SET)
        assert (await client.put(SETTINGS, json={"escalation_email": ""})).json()["escalation_email"] is None
        stored = await lumen.merchant_settings()
        assert stored.smtp_url == SET["smtp_url"]  # the password too: nothing else was touched
        assert (await client.put(SETTINGS, json={"smtp_url": " "})).json()["smtp_url"] is None
        # And set again, with the same checks as the first time.
        again = await client.put(SETTINGS, json={"escalation_email": " help@harbor.example "})
        assert again.status_code == 200 and again.json()["escalation_email"] == "help@harbor.example"


@pytest.mark.parametrize(
    "body",
    [
        {"escalation_email": "not-an-email", "smtp_url": ""},  # a clear beside a bad value is not applied either
        {"escalation_email": "", "smtp_url": "http://smtp.harbor.example"},
        {"escalation_email": "help@harbor.example\r\nBcc: someone@elsewhere.example"},
        {"escalation_email": 5},
        {"escalation_email": ["help@harbor.example"]},
        {"smtp_url": "smtp://"},
        {"smtp_url": "smtp://smtp.harbor.example\u0000:25"},
        {"smtp_url": "smtp://" + "h" * 600},
        ["escalation_email", ""],
    ],
    ids=["bad-email", "bad-url", "header", "number", "list", "no-host", "nul", "long", "not-an-object"],
)
async def test_bad_settings_are_refused_and_nothing_stored_is_lost(
    tmp_path: Path, database_url: str, body: Any
) -> None:
    async with admin_api(tmp_path, database_url) as (client, lumen):
        await client.put(SETTINGS, json=SET)
        before = (await client.get(SETTINGS)).json()
        response = await client.put(SETTINGS, json=body)
        assert 400 <= response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/json")
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]
        assert (await client.get(SETTINGS)).json() == before
        stored = await lumen.merchant_settings()
        assert (stored.escalation_email, stored.smtp_url) == (SET["escalation_email"], SET["smtp_url"])
