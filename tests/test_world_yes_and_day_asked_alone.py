"""Short answers Lumen misread on shops it had never seen, each kind on an invented shop (Marula Lane Ceramics,
Durban; no eval store), in several wordings and languages:

- a yes to the team's offer in the words shoppers use around the world ("can can", "ndio tafadhali", "haan ji",
  "sige po", "sí, por favor", "ja graag"): the offer is taken up; their no ("hapana", "tak payah") declines it;
  "can?" (is it possible?) is no yes;
- "pls just ask ur team" (text-speak "ur"): a yes that asks for the team, and after a proof by postcode alone the email
  is asked, and the hand-off made on the turn that gives it;
- a parcel marked delivered and "never receive leh", "still not received yet" (the object left unsaid, a sentence
  particle after it): the parcel not received, with "can't confirm where the package physically is";
- "i gave the wrong flat number. yes get someone to fix it" while the team is offered: the request and the yes in one
  message hand over;
- "k. tmrw?", "thanks. monday?" after a status: the day asked about is answered from the carrier's estimate, never
  taken for a closing and never promised.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.playbook.understand import detect_intent, firm_yes, offer_answer
from tests import store_builders as build
from tests.server_helpers import turns as _turns
from tests.server_helpers import write_store

_ZIP = "4001"


def _order(number: str, email: str, item: str, packages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return build.order(f"#ML{number}", email=email, zip_code=_ZIP, country="ZA", items=item, packages=packages,
                       amount="420.00", currency="ZAR", id_prefix="51", **extra)  # fmt: skip


_DELIVERED = build.event("DELIVERED", "2026-12-03T09:30:00Z", "Delivered - left with security", "Umhlanga")
_MOVING = build.event("IN_TRANSIT", "2026-12-06T11:00:00Z", "Arrived at hub", "Pinetown")
_RETURNED = build.event("FAILURE", "2026-12-04T14:00:00Z", "Undeliverable - unit number not found", "Morningside")
_LABEL = build.event("LABEL_PRINTED", "2026-11-27T08:00:00Z", "Shipping label created")

STORE = build.store(
    build.shop("Marula Lane Ceramics", "Africa/Johannesburg", "ZAR", locale="en-ZA", prefix="#ML"),
    [
        _order("5101", "thandi@example.co.za", "Glazed Serving Bowl", [
            build.package("Glazed Serving Bowl", "The Courier Guy", "TCG51010001", status="DELIVERED",
                          events=[_DELIVERED], delivered_at="2026-12-03T09:30:00Z")]),
        _order("5102", "sipho@example.co.za", "Stoneware Mugs", [
            build.package("Stoneware Mugs", "Aramex", "AX51020002", events=[_MOVING],
                          eta="2026-12-10T15:00:00Z")]),
        _order("5103", "lerato@example.co.za", "Olive Oil Cruet", [
            build.package("Olive Oil Cruet", "The Courier Guy", "TCG51030003", status="FAILURE",
                          events=[_RETURNED])]),
        _order("5104", "nomsa@example.co.za", "Tapas Plates", [
            build.package("Tapas Plates", "PAXI", "PX51040004", status="LABEL_PRINTED", events=[_LABEL],
                          created_at="2026-11-27T08:00:00Z", in_transit_at=None)]),
    ],
    as_of="2026-12-07T10:00:00Z",
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_store(tmp_path / "marula-store.json", STORE)


# --- a yes or a no in the world's words ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    ["can can thanks", "ok can", "can lah", "boleh", "ndio tafadhali", "ndiyo", "poa, fanya hivyo", "haan ji please",
     "ji haan", "sige po", "oo", "sí, por favor", "dale", "ja graag", "gerne", "ja asseblief", "yebo", "evet lütfen",
     "はい、お願いします", "好的 谢谢", "vâng ạ", "volontiers merci"],
)  # fmt: skip
def test_a_yes_in_the_worlds_words_takes_up_an_offer(answer: str) -> None:
    assert offer_answer(answer) == "yes"
    assert firm_yes(answer)


@pytest.mark.parametrize("answer", ["sawa", "theek hai", "haya", "ok lah", "va bene"])
def test_a_nod_in_other_words_is_a_yes_to_an_offer_asked(answer: str) -> None:
    # As an "ok": a yes to an offer asked as a question, not strong enough for one made in passing.
    assert offer_answer(answer) == "yes"
    assert not firm_yes(answer)


@pytest.mark.parametrize("answer", ["hapana asante", "tak payah lah", "nahi ji", "hindi po", "nej tack", "不用了"])
def test_a_no_in_the_worlds_words_declines(answer: str) -> None:
    assert offer_answer(answer) == "no"


@pytest.mark.parametrize("answer", ["can?", "boleh?", "pode?"])
def test_can_asked_is_no_yes(answer: str) -> None:
    assert offer_answer(answer) != "yes"


@pytest.mark.parametrize("answer", ["can can", "ndio tafadhali", "sige po, salamat", "sawa"])
async def test_a_yes_in_the_worlds_words_hands_over(store: Path, answer: str) -> None:
    first, second = await _turns(store, "5104 nomsa@example.co.za", answer)
    assert "support team" in first.reply
    assert second.escalation is not None, second.reply


# --- a yes that asks for "ur team" after a proof by postcode ---------------------------------------------------------
@pytest.mark.parametrize("message", ["pls just ask ur team", "can ur staff call me pls", "get ur team to look pls"])
def test_text_speak_for_your_team_asks_for_a_person(message: str) -> None:
    assert detect_intent(message).human


async def test_a_yes_for_the_team_after_a_postcode_asks_the_email_then_hands_over(store: Path) -> None:
    first, second, third = await _turns(store, f"#ML5104 {_ZIP}", "yes pls ask ur team", "nomsa@example.co.za")
    assert "PAXI" in first.reply
    assert second.escalation is None and "email" in second.reply.lower(), second.reply
    assert third.escalation is not None, third.reply


# --- delivered, and not received with the object unsaid ------------------------------------------------------------
@pytest.mark.parametrize(
    "message", ["never receive leh", "still not received yet", "haven't got lah", "we never got, the bowl not here"]
)
async def test_a_parcel_not_received_said_without_it_gets_the_physical_caveat(store: Path, message: str) -> None:
    (turn,) = await _turns(store, f"5101 thandi@example.co.za {message}")
    assert "physically" in turn.reply, turn.reply
    assert "The Courier Guy" in turn.reply


@pytest.mark.parametrize(
    "message", ["my refund not received yet", "I don't get, what does delivered mean?", "tracking number not received"]
)
def test_something_else_not_received_is_no_parcel_not_received(message: str) -> None:
    assert not detect_intent(message).not_received


# --- a request and a yes in one message ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "message",
    ["i put the wrong unit number. yes get someone to fix it",
     "my flat number was wrong! yes please get someone to sort it"],
)  # fmt: skip
async def test_a_request_then_a_yes_for_a_person_hands_over(store: Path, message: str) -> None:
    first, second = await _turns(store, "5103 lerato@example.co.za", message)
    assert "support team" in first.reply
    assert second.escalation is not None, second.reply


# --- a day asked alone after a closing word ------------------------------------------------------------------------
@pytest.mark.parametrize(("question", "day"), [("k. tmrw?", "December 8"), ("thanks. thursday?", "December 10"),
                                                ("ok, tomorrow?", "December 8"), ("today?", "today")])  # fmt: skip
async def test_a_day_asked_alone_is_answered_from_the_estimate(store: Path, question: str, day: str) -> None:
    first, second = await _turns(store, "5102 sipho@example.co.za", question)
    assert "Aramex" in first.reply
    reply = second.reply
    assert "10 December" in reply or "December 10" in reply, reply
    assert "anything else" not in reply.lower()
    assert day in reply.replace("8 December", "December 8").replace("10 December", "December 10")
