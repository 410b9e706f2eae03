"""A word for the carrier asked of the shop's people is a request for them, not an instruction Lumen must refuse.

"could someone chase Purolator for me?": the shopper names who should do it, the shop's team, so the hand-off is made
at once (the order is proved by email); the same words asked of Lumen ("can you chase Purolator", "ask the driver to
knock") stay a delivery instruction Lumen can't pass on, with the team offered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import store_builders as build
from tests.server_helpers import turns, write_store

STORE = build.store(
    build.shop("Quillfeather Stationers", "America/Toronto", "CAD", locale="en-CA", prefix="#QS"),
    [
        build.order(
            "#QS7101",
            email="rae@example.ca",
            zip_code="M4C 1B5",
            items="Fountain Pen",
            packages=[
                build.package(
                    "Fountain Pen",
                    "Purolator",
                    "335512345678",
                    events=[build.event("IN_TRANSIT", "2026-12-06T14:00:00Z", "Arrived at sort facility", "Toronto")],
                )
            ],
        )
    ],
    as_of="2026-12-07T15:00:00Z",
)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "store.json", STORE)


@pytest.mark.parametrize(
    "message",
    [
        "could someone chase Purolator for me please",
        "can your team chase Purolator for me?",
        "can somebody on your side chase the courier",
    ],
)
async def test_the_team_asked_to_chase_the_carrier_is_handed_off(store: Path, message: str) -> None:
    shown, asked = await turns(store, "QS7101 rae@example.ca", message)
    assert "335512345678" in shown.reply
    assert asked.escalation is not None and "rae@example.ca" in asked.reply, asked.reply


@pytest.mark.parametrize("message", ["can you chase Purolator for me?", "please ask the driver to knock loudly"])
async def test_lumen_asked_to_reach_the_carrier_offers_the_team(store: Path, message: str) -> None:
    _, asked = await turns(store, "QS7101 rae@example.ca", message)
    assert asked.escalation is None
    assert "can't contact the carrier" in asked.reply and "support team" in asked.reply, asked.reply
