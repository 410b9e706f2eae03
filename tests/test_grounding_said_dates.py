"""A day the shopper named is theirs, not the data's: the guard lets a reply say it back ("I can't promise delivery by
December 25") and never promise it ("Good news, it will arrive by December 25!"), on every path: the guard itself,
an LLM's reply (retried, then replaced), and a streamed reply (the widget never receives the promise).

Two shops built here (a British one, en-GB, and an American one, en-US; neither is an eval store), the store's today
Monday 7 December 2026: the carrier estimates Friday 18 December for one order and gives no estimate for another.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

from agent.core import lumen_agent
from agent.grounding import Evidence, evidence, ungrounded
from agent.prompts import Replies
from agent.service import Lumen
from config import Settings
from tests import store_builders as build
from tests.server_helpers import make_settings, stream_with_llm

MONDAY = date(2026, 12, 7)
EMAIL = "ines@example.co.uk"


def _order(name: str, fulfillment: dict[str, Any]) -> dict[str, Any]:
    return build.order(
        name,
        email=EMAIL,
        zip_code="BS1 4DJ",
        country="GB",
        items="Linen Apron",
        packages=[fulfillment],
        amount="36.00",
        currency="GBP",
        ordered_at="2026-11-26T10:00:00Z",
        original_total=False,
    )


def _package(number: str, eta: str | None, events: list[dict[str, Any]]) -> dict[str, Any]:
    return build.package(
        "Linen Apron",
        "Royal Mail",
        number,
        events=events,
        eta=eta,
        created_at="2026-11-30T09:00:00Z",
        in_transit_at="2026-11-30T15:00:00Z",
    )


def _store(locale: str, timezone: str) -> dict[str, Any]:
    hub = build.event("IN_TRANSIT", "2026-12-03T08:00:00Z", "Item received", "Bristol")
    orders = [
        _order("#5501", _package("RM550100GB", "2026-12-18T12:00:00Z", [])),  # estimate: Friday 18 December
        _order("#5502", _package("RM550200GB", None, [hub])),  # no estimate at all
    ]
    shop = build.shop("Fernbrook Linens", timezone, "GBP", locale=locale)
    return build.store(shop, orders, as_of="2026-12-07T12:00:00Z")


@pytest.fixture
def gb_store(tmp_path: Path) -> Path:
    path = tmp_path / "gb-store.json"
    path.write_text(json.dumps(_store("en-GB", "Europe/London")), encoding="utf-8")
    return path


@pytest.fixture
def us_store(tmp_path: Path) -> Path:
    path = tmp_path / "us-store.json"
    path.write_text(json.dumps(_store("en-US", "America/New_York")), encoding="utf-8")
    return path


# --- the guard ------------------------------------------------------------------------------------------------------

ESTIMATE = '{"estimated_delivery": {"iso": "2026-12-18T12:00:00+00:00", "date": "Friday 18 December"}}'
ESTIMATE_ISO = '{"estimated_delivery": {"iso": "2026-12-18T12:00:00+00:00"}}'


def backing(said: str, tools: str = ESTIMATE) -> Evidence:
    return Evidence(f"{tools}\n{said}", tools, frozenset(), said)


@pytest.mark.parametrize(
    ("said", "promise", "problem"),
    [
        ("will it be here by christmas?", "Good news, it will arrive by December 25!", "date 12/25"),
        ("will it be here by christmas?", "It should be with you on 25 December.", "date 12/25"),
        ("need it by the 23rd of December", "Royal Mail expects it by 23 December.", "date 12/23"),
        ("need it by 22/12 please", "It'll be there by 22/12.", "date 22/12"),
        ("any chance it comes before friday", "It arrives on Friday 11 December.", "date 12/11"),
        ("any chance it comes before friday", "Don't worry, it will be there by Friday!", "day Friday"),
        ("can it come by tomorrow?", "Yes, it will arrive tomorrow.", "delivery 'tomorrow'"),
        ("will it be here by xmas", "Good news: it will arrive in time for Christmas.", "day Christmas"),
        ("i need it before the 20th", "It'll be there by the 20th, if not sooner.", "date the 20th"),
        ("will it be here by christmas?", "No doubt it will be there by December 25.", "date 12/25"),
    ],
)
def test_a_day_only_the_shopper_named_is_never_promised(said: str, promise: str, problem: str) -> None:
    # The estimate without its weekday: a weekday the data names anywhere is one a reply may name.
    assert problem in ungrounded(promise, backing(said, ESTIMATE_ISO), MONDAY)


@pytest.mark.parametrize(
    ("said", "reply"),
    [
        ("will it be here by christmas?", "I can't promise delivery by December 25."),
        ("will it be here by christmas?", "Delivery by 25 December isn't guaranteed: there's no estimate for it."),
        ("will it be here by christmas?", "You asked about 25 December: the carrier's estimate is Friday 18 December."),
        ("will it be here by christmas?", 'You asked whether it arrives by "December 25".'),
        ("will it be here by xmas", "I can’t promise it will be there by Christmas."),
        ("any chance it comes before friday", "It isn't expected to arrive before Friday 11 December."),
        ("any chance it comes before friday", "Royal Mail won't bring it by Friday."),
        ("can it come by tomorrow?", "I can't say whether it will arrive tomorrow."),
        ("need it by 22/12 please", "So you need it by 22/12: there's no estimate yet."),
    ],
)
def test_a_day_the_shopper_named_may_be_said_back_as_theirs(said: str, reply: str) -> None:
    assert ungrounded(reply, backing(said), MONDAY) == []


@pytest.mark.parametrize("said", ["will it be here by the 18th?", "need it by 18 December", "where is it?"])
def test_a_day_the_data_gives_may_be_stated_plainly(said: str) -> None:
    """The carrier's estimate is the data's: stated as a fact, whether or not the shopper named the same day."""
    reply = "It's expected by Friday 18 December, and Royal Mail estimates it arrives on the 18th."
    assert ungrounded(reply, backing(said), MONDAY) == []


def test_a_greeting_names_no_day() -> None:
    assert ungrounded("Merry Christmas, and thanks for waiting!", backing("where is it?"), MONDAY) == []


@pytest.mark.parametrize("locale", ["en_GB", "en_US"])
@pytest.mark.parametrize("key", ["eta_in_time", "eta_late", "eta_passed", "no_eta", "scheduled_before", "unshipped"])
def test_every_deadline_answer_of_the_playbook_says_the_day_back(locale: str, key: str) -> None:
    """Each of the playbook's sentences naming the shopper's day (prompts/replies.toml [deadline]) passes, in each
    locale's own date style, with the data's dates in their places: none of them promises the shopper's day."""
    from babel.dates import format_skeleton

    replies = Replies("friendly")
    by = format_skeleton("MMMMd", date(2026, 12, 25), locale=locale)
    eta = format_skeleton("MMMMEEEEd", date(2026, 12, 18), locale=locale)
    word = replies.say("deadline.by_word")
    subject = replies.say("deadline.one", order_number="#5501", items=" (Linen Apron)")
    text = replies.say(f"deadline.{key}", subject=subject, carrier="Royal Mail", eta=eta, by=by, by_word=word, date=eta)
    tools = f'{ESTIMATE} "order_number": "#5501"'
    evidence = Evidence(f"{tools}\nby xmas?", tools, frozenset({"5501"}), "by xmas?")
    assert by in text and ungrounded(text, evidence, MONDAY) == []
    promise = f"{subject} will arrive by {by}."
    assert ungrounded(promise, evidence, MONDAY) == ["date 12/25"]


# --- an LLM's reply, whole ------------------------------------------------------------------------------------------


@dataclass
class Script:
    """A scripted LLM: its responses in order; what the guard told it (sent as the shopper's turn) is kept."""

    responses: list[ModelResponse]
    feedback: list[str] = field(default_factory=list)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        if len(messages) > 1 and isinstance(last, ModelRequest):
            self.feedback += [str(p.content) for p in last.parts if isinstance(p, UserPromptPart | RetryPromptPart)]
        return self.responses.pop(0)


def lookups(order: str) -> list[ModelResponse]:
    return [
        ModelResponse(parts=[ToolCallPart("find_order", {"order_number": order, "email": EMAIL})]),
        ModelResponse(parts=[ToolCallPart("list_fulfillments", {"order_number": order})]),
    ]


async def chat(store: Path, script: Script, message: str) -> str:
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None), store=store)
    try:
        with lumen_agent.override(model=FunctionModel(script)):
            return (await lumen.chat(message)).reply
    finally:
        await lumen.close()


GB_GROUNDED = (
    "Royal Mail estimates delivery on Friday 18 December, before 25 December. "
    "That's the carrier's estimate, so I can't promise it."
)


@pytest.mark.parametrize(
    ("store_name", "message", "promise", "problem"),
    [
        ("gb", f"5501 {EMAIL} will it be here by christmas?", "Good news, it will arrive by 25 December!", "12/25"),
        ("gb", f"5501 {EMAIL} will it arrive by 23/12?", "Yes! It arrives on 23 December.", "12/23"),
        ("us", f"5501 {EMAIL} will it be here by christmas?", "Good news, it will arrive by December 25!", "12/25"),
    ],
)
async def test_an_llm_promising_the_shoppers_day_is_sent_back_then_replaced(
    request: pytest.FixtureRequest, store_name: str, message: str, promise: str, problem: str
) -> None:
    store = request.getfixturevalue(f"{store_name}_store")
    script = Script(
        [*lookups("5501"), ModelResponse(parts=[TextPart(promise)]), ModelResponse(parts=[TextPart(promise)])]
    )
    reply = await chat(store, script, message)
    assert f"date {problem}" in script.feedback[0]  # the model was told what it invented
    assert reply != promise and "will arrive by" not in reply and "arrives on" not in reply
    assert "RM550100GB" in reply  # the playbook's answer from the tool results


async def test_an_llm_saying_the_day_back_as_the_shoppers_passes(gb_store: Path) -> None:
    script = Script([*lookups("5501"), ModelResponse(parts=[TextPart(GB_GROUNDED)])])
    reply = await chat(gb_store, script, f"5501 {EMAIL} will it be here by christmas?")
    assert reply == GB_GROUNDED and script.feedback == []


async def test_a_weekday_the_shopper_named_is_not_promised_in_a_gb_shop(gb_store: Path) -> None:
    """ "By Friday" said on a Monday is Friday 11 December; there is no estimate at all for this order."""
    honest = "Royal Mail has no estimated delivery date for it yet, so I can't promise delivery by Friday."
    script = Script([*lookups("5502"), ModelResponse(parts=[TextPart("It will be with you by Friday!")])])
    script.responses.append(ModelResponse(parts=[TextPart(honest)]))
    reply = await chat(gb_store, script, f"order 5502, {EMAIL}: will it come by Friday?")
    assert "day Friday" in script.feedback[0]
    assert reply == honest


def test_the_evidence_of_a_conversation_keeps_the_shoppers_words_apart() -> None:
    """What `evidence` reads from a conversation: the shopper's words are theirs, the tool results the data's."""
    messages: list[ModelMessage] = [
        ModelRequest(parts=[UserPromptPart("will it be here by christmas? or by 24 December")]),
        ModelRequest(parts=[ToolReturnPart("list_fulfillments", {"estimated_delivery": "2026-12-18"}, "c1")]),
    ]
    backed = evidence(messages)
    assert backed.data_dates == {(12, 18)}
    assert backed.their_dates(MONDAY) == {(12, 24), (12, 25)}


# --- a streamed reply -------------------------------------------------------------------------------------------------


@dataclass
class StreamedLLM:
    """An LLM that streams: the two lookups, then its drafts, a few characters at a time."""

    order: str
    drafts: list[str]
    requests: int = 0

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        self.requests += 1
        for chunk in self._chunks():
            yield chunk

    def _chunks(self) -> Iterator[str | DeltaToolCalls]:
        if self.requests == 1:
            yield {0: DeltaToolCall("find_order", json.dumps({"order_number": self.order, "email": EMAIL}))}
        elif self.requests == 2:
            yield {0: DeltaToolCall("list_fulfillments", json.dumps({"order_number": self.order}))}
        else:
            draft = self.drafts.pop(0)
            yield from (draft[start : start + 5] for start in range(0, len(draft), 5))

    def model(self) -> FunctionModel:
        def unused(messages: list[ModelMessage], info: AgentInfo) -> Any:
            raise AssertionError("the widget's turn is streamed")

        return FunctionModel(unused, stream_function=self, model_name="streamed-llm")


async def stream_turn(store: Path, tmp_path: Path, llm: StreamedLLM, message: str) -> list[tuple[str, dict[str, Any]]]:
    lumen = await Lumen.create(make_settings(tmp_path, lumen_store=store))
    try:
        return await stream_with_llm(lumen, llm.model(), message)
    finally:
        await lumen.close()


def streamed(events: list[tuple[str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for name, data in events if name == "delta")


async def test_a_streamed_promise_of_the_shoppers_day_never_reaches_the_widget(gb_store: Path, tmp_path: Path) -> None:
    opening = "Your order #5501 is on its way with Royal Mail."
    promise = f"{opening} It will arrive by 25 December, good news!"
    llm = StreamedLLM("5501", [promise, f"{opening} {GB_GROUNDED}"])
    events = await stream_turn(gb_store, tmp_path, llm, f"5501 {EMAIL} will it be here by christmas?")
    assert llm.requests == 4  # the promise was written, sent back, and rewritten
    assert not any("will arrive by 25 December" in json.dumps(data) for _, data in events)
    assert events[-1][0] == "done" and events[-1][1]["reply"] == f"{opening} {GB_GROUNDED}"
    assert streamed(events) == f"{opening} {GB_GROUNDED}"  # the checked opening, then the checked rest


async def test_a_streamed_weekday_promise_never_reaches_the_widget(gb_store: Path, tmp_path: Path) -> None:
    promise = "It will be with you by Friday, don't worry."
    llm = StreamedLLM("5502", [promise, promise])
    events = await stream_turn(gb_store, tmp_path, llm, f"order 5502, {EMAIL}: will it come by Friday?")
    assert not any("with you by Friday" in json.dumps(data) for _, data in events)
    reply = events[-1][1]["reply"]
    assert "RM550200GB" in reply and "can't promise delivery by 11 December" in reply  # the playbook's answer
    assert streamed(events) == reply
