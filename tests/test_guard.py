"""Guessing is rationed across conversations, and a proof is tied to who gave it and to the very order proved."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.core import lumen_agent
from agent.service import Lumen
from config import Settings
from shopify import FixtureStore
from storage import Database
from tests.fixtures import Clock
from tools.guard import WARNED_KEPT, AttemptGuard


@pytest.fixture
async def lumen() -> AsyncIterator[Lumen]:
    service = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None))
    yield service
    await service.close()


async def test_new_conversations_do_not_reset_the_count_of_wrong_guesses(lumen: Lumen) -> None:
    replies = []
    for zip_code in range(10000, 10015):  # fifteen fresh conversations, one guess each
        replies.append((await lumen.chat(f"where is order #1042? zip code {zip_code}")).reply)
    assert "couldn't match those details" in replies[-1]
    # Even the right postal code is refused for that order now, and the refusal reads the same...
    right = await lumen.chat("where is order #1042? zip code 78704")
    assert "9400111899223197428490" not in right.reply and "couldn't match those details" in right.reply
    # ...while its owner can still prove it with the email, which nobody can guess.
    owner = await lumen.chat("where is order #1042? jordan.lee@example.com")
    assert "9400111899223197428490" in owner.reply
    # Other orders are unaffected.
    other = await lumen.chat("where is order #1031? maya.patel@example.com")
    assert "1Z999AA10123456784" in other.reply


async def test_one_address_cannot_walk_through_order_numbers(lumen: Lumen) -> None:
    for number in range(2000, 2031):
        await lumen.chat(f"order {number} zip {number + 40000}", client_ip="203.0.113.9")
    blocked = await lumen.chat("where is order #1031? maya.patel@example.com", client_ip="203.0.113.9")
    assert "couldn't match those details" in blocked.reply
    elsewhere = await lumen.chat("where is order #1031? maya.patel@example.com", client_ip="198.51.100.7")
    assert "1Z999AA10123456784" in elsewhere.reply


async def test_wrong_emails_do_not_lock_an_order_for_its_owner(lumen: Lumen) -> None:
    for n in range(20):
        await lumen.chat(f"order 1042 someone{n}@example.com")
    turns = await asyncio.gather(*(lumen.chat("order 1042 jordan.lee@example.com") for _ in range(30)))
    assert all("789104567123" in t.reply for t in turns)


async def test_parallel_tool_calls_cannot_outrun_the_limit(lumen: Lumen) -> None:
    guesses = [ToolCallPart("find_order", {"order_number": "1042", "postal_code": str(70000 + n)}) for n in range(30)]
    guesses.append(ToolCallPart("find_order", {"order_number": "1042", "postal_code": "78704"}))

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if len(messages) == 1:
            return ModelResponse(parts=guesses)
        return ModelResponse(parts=[TextPart("done")])

    typed = " ".join(str(70000 + n) for n in range(30)) + " 78704"
    with lumen_agent.override(model=FunctionModel(model)):
        turn = await lumen.chat(f"order 1042, one of these zips: {typed}")
    transcript = await lumen.transcript(turn.session_id)
    assert transcript is not None
    statuses = [
        p["content"]["status"] for m in transcript["messages"] for p in m["parts"] if p["part_kind"] == "tool-return"
    ]
    assert statuses.count("not_found") == 5 and "verified" not in statuses


async def test_a_proof_ends_when_the_logged_in_customer_changes(lumen: Lumen) -> None:
    mine = await lumen.chat("where is my order", customer_id="gid://shopify/Customer/7002")
    assert "#1042" in mine.reply and "#1050" in mine.reply
    stranger = await lumen.chat("order 1050 please", mine.session_id)
    assert "Trail Water Bottle" not in stranger.reply and "9400111899223100012345" not in stranger.reply


class TwinStore(FixtureStore):
    """A store where two orders share a name (Shopify allows it): the proof must stick to the one proved."""

    def __init__(self, tmp: Path) -> None:
        raw = json.loads(FixtureStore().path.read_text())
        twin = json.loads(json.dumps(next(o for o in raw["orders"] if o["name"] == "#1042")))
        twin["id"] = "gid://shopify/Order/999"
        twin["email"] = "attacker@example.com"
        twin["processedAt"] = twin["createdAt"] = "2026-01-01T00:00:00Z"
        for fulfillment in twin["fulfillments"]:
            for tracking in fulfillment["trackingInfo"]:
                tracking["number"] = "ATTACKER" + tracking["number"][-6:]
                tracking["url"] = None
        raw["orders"].append(twin)
        path = tmp / "twins.json"
        path.write_text(json.dumps(raw))
        super().__init__(path)


async def test_a_proof_belongs_to_the_order_proved_not_its_name(tmp_path: Path) -> None:
    lumen = await Lumen.create(
        Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), source=TwinStore(tmp_path)
    )
    try:
        turn = await lumen.chat("order 1042 attacker@example.com")
        assert "ATTACKER" in turn.reply
        assert "9400111899223197428490" not in turn.reply and "789104567123" not in turn.reply
        again = await lumen.chat("which carrier?", turn.session_id)
        assert "9400111899223197428490" not in again.reply and "789104567123" not in again.reply
    finally:
        await lumen.close()


async def test_one_address_gets_a_handful_of_hand_offs(lumen: Lumen) -> None:
    references = []
    for n in range(12):
        turn = await lumen.chat(f"I want to talk to a person, my email is p{n}@example.com", client_ip="203.0.113.5")
        references.append(turn.escalation)
    assert sum(1 for r in references if r is not None) == 10
    elsewhere = await lumen.chat("I want to talk to a person, my email is q@example.com", client_ip="198.51.100.2")
    assert elsewhere.escalation is not None


async def test_a_client_that_hangs_up_mid_answer_still_spent_its_guess(lumen: Lumen) -> None:
    events = lumen.chat_stream("where is order #1042? zip code 11111")
    session = await anext(events)
    first_words = await anext(events)
    while first_words["type"] == "status":  # "Looking up your order…" comes before the answer's words
        first_words = await anext(events)
    assert first_words["type"] == "delta"
    await events.aclose()  # the shopper saw "I wasn't..." and left before the turn was stored
    row = await lumen.db.get_conversation(session["session_id"])
    assert row is not None and json.loads(row.state_json)["failed_lookups"] == 1


# --- the log's once-an-hour note per guessed-at order (`AttemptGuard.first_refusal`) ----------------------------------


async def test_a_refused_orders_warning_is_given_once_a_window_and_its_memory_is_bounded(
    db: Database, clock: Clock
) -> None:
    guard = AttemptGuard(db)
    window = guard.limits.per_order_proofs.window
    assert guard.first_refusal(["order-proofs:a"]) is True
    assert guard.first_refusal(["order-proofs:a"]) is False  # within the hour: not again
    clock.advance(seconds=window.total_seconds())
    assert guard.first_refusal(["order-proofs:a"]) is True  # a new hour: again (and "a" is now the newest)
    # A flood of other orders at once, twice the bound: the memory stays bounded ...
    flood = [f"order-proofs:{n}" for n in range(2 * WARNED_KEPT)]
    assert all(guard.first_refusal([key]) for key in flood[: WARNED_KEPT - 1])
    assert guard.first_refusal(["order-proofs:a"]) is False  # the oldest live one, still remembered at the bound
    assert all(guard.first_refusal([key]) for key in flood[WARNED_KEPT - 1 :])
    assert len(guard._warned) == WARNED_KEPT
    # ... the most recent are remembered (no second line for any of them) ...
    assert not any(guard.first_refusal([key]) for key in flood[-WARNED_KEPT:])
    # ... and one forgotten early is warned of again: a line more, never one missed.
    assert guard.first_refusal(["order-proofs:a"]) is True
    assert len(guard._warned) == WARNED_KEPT
