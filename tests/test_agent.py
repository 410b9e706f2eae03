"""The agent with scripted models: tool calls and arguments, history across turns, fallback, grounding guard."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from inline_snapshot import snapshot
from pydantic_ai import Agent, RunContext
from pydantic_ai.exceptions import ModelAPIError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_core import to_jsonable_python

from agent.core import UninstructedRun, build_agent, instructions_for, lumen_agent, run_instructions
from agent.grounding import evidence, ungrounded
from agent.persona import PersonaUpdate
from agent.service import Lumen
from config import Settings
from shopify import FixtureStore, OrderSourceUnavailable
from shopify.domain import Order, Shop


@pytest.fixture
async def lumen() -> AsyncIterator[Lumen]:
    service = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None))
    yield service
    await service.close()


@dataclass
class Script:
    """A scripted LLM: plays its responses in order and records what it was sent."""

    responses: list[ModelResponse]
    seen: list[list[ModelMessage]] = field(default_factory=list)

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.seen.append(list(messages))
        return self.responses.pop(0)


def call(name: str, **args) -> ModelResponse:
    return ModelResponse(parts=[ToolCallPart(name, args)])


def text(content: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(content)])


def tool_returns(messages: list[ModelMessage]) -> list[tuple[str, dict]]:
    return [
        (part.tool_name, part.model_response_object())
        for m in messages
        if isinstance(m, ModelRequest)
        for part in m.parts
        if isinstance(part, ToolReturnPart)
    ]


async def test_scripted_llm_calls_the_tools_in_order_with_arguments(lumen: Lumen) -> None:
    script = Script(
        [
            call("find_order", order_number="#1042", email="jordan.lee@example.com"),
            call("list_fulfillments", order_number="#1042"),
            text("Your order #1042 is in 2 packages: 9400111899223197428490 and 789104567123."),
        ]
    )
    with lumen_agent.override(model=FunctionModel(script)):
        turn = await lumen.chat("where is order 1042? jordan.lee@example.com")
    assert turn.reply == "Your order #1042 is in 2 packages: 9400111899223197428490 and 789104567123."
    transcript = await lumen.transcript(turn.session_id)
    assert transcript is not None
    returns = [
        (p["tool_name"], p["content"]["status"])
        for m in transcript["messages"]
        for p in m["parts"]
        if p["part_kind"] == "tool-return"
    ]
    assert returns == [("find_order", "verified"), ("list_fulfillments", "ok")]


async def test_history_is_kept_on_the_server_across_turns(lumen: Lumen) -> None:
    script = Script(
        [
            text("What's your order number?"),
            call("find_order", order_number="1088", email="sam.rivera@example.com"),
            text("Your order #1088 is confirmed and being prepared."),
        ]
    )
    with lumen_agent.override(model=FunctionModel(script)):
        first = await lumen.chat("where is my order")
        second = await lumen.chat("1088 sam.rivera@example.com", first.session_id)
    assert second.session_id == first.session_id
    # The second turn's first request carried the first turn: the client only sent its new message.
    prompts = [
        p.content
        for m in script.seen[1]
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, UserPromptPart)
    ]
    assert prompts == ["where is my order", "1088 sam.rivera@example.com"]


async def test_verification_state_survives_a_reload(lumen: Lumen) -> None:
    turn = await lumen.chat("order 1042 jordan.lee@example.com")
    with lumen_agent.override(
        model=FunctionModel(Script([call("list_fulfillments", order_number="1042"), text("ok")]))
    ):
        await lumen.chat("and the shoes?", turn.session_id)
    transcript = await lumen.transcript(turn.session_id)
    assert transcript is not None
    statuses = [
        p["content"]["status"] for m in transcript["messages"] for p in m["parts"] if p["part_kind"] == "tool-return"
    ]
    assert statuses[-1] == "ok"  # list_fulfillments allowed: the verification was stored with the conversation


async def test_llm_failure_falls_back_to_the_playbook(lumen: Lumen) -> None:
    calls = 0

    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        nonlocal calls
        calls += 1
        raise ModelAPIError("broken-llm", "provider is down")

    lumen.models.name = "openai:gpt-test"
    lumen.models._llm = FunctionModel(broken)
    turn = await lumen.chat("where is order 1042? jordan.lee@example.com")
    assert calls >= 1
    assert turn.model == "playbook"
    assert "9400111899223197428490" in turn.reply and "789104567123" in turn.reply


async def test_grounding_guard_asks_for_a_retry_then_accepts_a_grounded_reply(lumen: Lumen) -> None:
    script = Script(
        [
            call("find_order", order_number="1042", email="jordan.lee@example.com"),
            call("list_fulfillments", order_number="1042"),
            text("Package 1 arrives March 3, tracking 1Z999AA10199999999."),
            text("Package 1 is in transit with USPS, tracking 9400111899223197428490, estimated February 28."),
        ]
    )
    with lumen_agent.override(model=FunctionModel(script)):
        turn = await lumen.chat("where is order 1042? jordan.lee@example.com")
    assert turn.reply == "Package 1 is in transit with USPS, tracking 9400111899223197428490, estimated February 28."
    # The model was told exactly what it invented (a wire model reads the feedback as a user message).
    last_request = script.seen[-1][-1]
    assert isinstance(last_request, ModelRequest)
    feedback = " ".join(str(getattr(p, "content", "")) for p in last_request.parts)
    assert "tracking number 1Z999AA10199999999" in feedback
    assert "date 3/3" in feedback


async def test_grounding_guard_replaces_a_reply_that_stays_invented(lumen: Lumen) -> None:
    invented = "It will arrive tomorrow, February 28th, tracking 1Z999AA10199999999."
    script = Script(
        [
            call("find_order", order_number="1065", email="lukas.schmidt@example.de"),
            call("list_fulfillments", order_number="1065"),
            text(invented),
            text(invented),
        ]
    )
    with lumen_agent.override(model=FunctionModel(script)):
        turn = await lumen.chat("where is 1065 lukas.schmidt@example.de")
    assert "1Z999AA10199999999" not in turn.reply and "tomorrow" not in turn.reply
    assert "GM2951173225174494" in turn.reply  # the safe reply is written from the tool results


class DownSource(FixtureStore):
    async def orders_by_name(self, name: str, *, email: str | None = None, held_only: bool = False) -> list[Order]:
        raise OrderSourceUnavailable("shopify is down")


async def test_order_data_unreachable_gets_a_polite_answer_and_an_offer() -> None:
    settings = Settings(lumen_database_url="sqlite:///:memory:", _env_file=None)
    lumen = await Lumen.create(settings, source=DownSource())
    try:
        turn = await lumen.chat("where is order 1042? jordan.lee@example.com")
        assert "can't reach our order system" in turn.reply
        assert "support team" in turn.reply
        follow = await lumen.chat("yes please", turn.session_id)
        assert follow.escalation is not None and follow.escalation.reply_to == "jordan.lee@example.com"
    finally:
        await lumen.close()


async def test_persona_reaches_the_instructions_and_the_playbook(lumen: Lumen) -> None:
    await lumen.update_persona(
        PersonaUpdate(assistant_name="Pip", context="Pre-orders typically ship within 4-6 weeks.")
    )
    seen: list[str] = []

    def spy(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info.instructions or "")
        return text("hello")

    with lumen_agent.override(model=FunctionModel(spy)):
        await lumen.chat("hi")
    assert "You are Pip, the order-status assistant of Harbor & Pine" in seen[0]
    assert "Pre-orders typically ship within 4-6 weeks." in seen[0]
    assert "Today is Friday, February 27, 2026 (America/New_York)" in seen[0]
    greeting = await lumen.chat("hello")
    assert greeting.reply.startswith("Hi! I'm Pip")
    preorder = await lumen.chat("when will my pre-order ship? 1088 sam.rivera@example.com")
    assert "Pre-orders typically ship within 4-6 weeks." in preorder.reply


def test_instructions_are_assembled_from_prompts() -> None:
    from agent.deps import Deps
    from tools.context import SessionState

    store = FixtureStore()
    deps = Deps(
        source=store,
        session=SessionState(),
        conversation_id="c",
        shop=Shop(name="Test Shop", timezone="Europe/London"),
        now=store.now(),
    )
    rendered = instructions_for(deps)
    for heading in ("# Who you are", "# Verification", "# How to answer each situation"):
        assert heading in rendered
    assert "Today is Friday, February 27, 2026 (Europe/London)" in rendered
    assert "{" not in rendered.replace("{}", "")  # every placeholder filled


_VOLATILE = re.compile(r'"(timestamp|run_id|conversation_id|tool_call_id)": "[^"]*"')


@pytest.mark.parametrize(
    ("timezone", "locale", "context"),
    [
        ("America/New_York", "en-US", ""),
        ("Europe/London", "en-GB", "  Pre-orders ship in 3 weeks.\n\n"),
        ("Australia/Perth", "en-AU", "\n\tClosed on public holidays \n"),
        ("Asia/Kolkata", "en-IN", " "),
    ],
)
async def test_the_runs_instructions_are_what_an_instructions_function_on_the_agent_gave(
    timezone: str, locale: str, context: str
) -> None:
    """`run_instructions` (passed to every run) makes the requests the agent's old `@agent.instructions` function
    made: the same instruction parts (text, dynamic, unnamed) on every model request, the same messages."""
    from agent.deps import Deps
    from agent.persona import Persona
    from tools.context import SessionState

    store = FixtureStore()
    shop = Shop(name="Test Shop", timezone=timezone, locale=locale)
    persona = Persona(assistant_name="Wren", tone="professional", context=context)
    with_function = build_agent()

    @with_function.instructions
    async def _instructions(ctx: RunContext[Deps]) -> str:
        return instructions_for(ctx.deps)

    def deps() -> Deps:
        return Deps(
            source=store, session=SessionState(), conversation_id="c", shop=shop, now=store.now(), persona=persona
        )

    async def requests_of(agent: Agent[Deps, str], **options: Any) -> list[tuple[object, ...]]:
        seen: list[tuple[object, ...]] = []

        def spy(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            # Without what differs from run to run (ids, clocks): `_VOLATILE`.
            bare = [_VOLATILE.sub("", json.dumps(m, default=str)) for m in to_jsonable_python(messages)]
            seen.append((info.instructions, info.model_request_parameters.instruction_parts, bare))
            if len(messages) == 1:
                return call("find_order", order_number="#1042", email="jordan.lee@example.com")
            return text("Here is what I found.")

        await agent.run("where is 1042?", model=FunctionModel(spy), **options)
        return seen

    turn = deps()
    ours = await requests_of(lumen_agent, deps=turn, instructions=run_instructions(turn))
    theirs = await requests_of(with_function, deps=deps())
    assert len(ours) == 2 and ours == theirs
    assert ours[0][0] == instructions_for(turn) == instructions_for(turn).strip()


async def test_a_run_without_the_instructions_is_refused() -> None:
    """The agent has no instructions of its own: a caller that forgot `run_instructions` gets an error, never a reply
    written without Lumen's rules."""
    from agent.deps import Deps
    from tools.context import SessionState

    store = FixtureStore()
    turn = Deps(source=store, session=SessionState(), conversation_id="c", shop=Shop(name="Test Shop"), now=store.now())

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return text("Hello! How can I help?")

    with pytest.raises(UninstructedRun):
        await lumen_agent.run("hi", model=FunctionModel(model), deps=turn)
    result = await lumen_agent.run("hi", model=FunctionModel(model), deps=turn, instructions=run_instructions(turn))
    assert result.output == "Hello! How can I help?"


@pytest.mark.parametrize(
    ("reply", "problems"),
    [
        ("Tracking 9400111899223197428490, estimated Saturday, February 28.", []),
        ("Tracking 9400111899223197428499.", ["tracking number 9400111899223197428499"]),
        ("It should arrive on March 2.", ["date 3/2"]),
        ("It should arrive by Monday.", ["day Monday"]),
        ("A refund of $64.00 was issued.", []),
        ("A refund of $65.00 was issued.", ["amount 65.00"]),
        ("See https://evil.example/track", ["link https://evil.example/track"]),
        ("Your order #2000 shipped.", ["order number #2000"]),
        ("It arrives tomorrow.", ["delivery 'tomorrow'"]),
        (
            "Tracking 9400111899223197428499 in lowercase: 1z999aa10199999999.",
            ["tracking number 9400111899223197428499", "tracking number 1Z999AA10199999999"],
        ),
        ("Tracking 9400 1118 9922 3197 4284 99.", ["tracking number 9400 1118 9922 3197 4284 99"]),
        ("Tracking 9400 1118 9922 3197 4284 90.", []),
        ("A refund of 99 USD, or USD 98.00, or 97,00 €.", ["amount 99", "amount 98.00", "amount 97,00"]),
        ("A refund of 64,00 €.", []),
        ("It arrives 03.03.2026, on the 4th.", ["date 03.03.", "date the 4th"]),
        ("See https://tools.usps.com)@evil.example/login", ["link https://tools.usps.com)@evil.example/login"]),
        ("Track it at (https://tools.usps.com/go?n=9400111899223197428490).", []),
    ],
)
def test_ungrounded_finds_invented_facts(reply: str, problems: list[str]) -> None:
    source = json.dumps(
        {
            "order_number": "#1042",
            "tracking": "9400111899223197428490",
            "estimated_delivery": {"iso": "2026-02-28T15:00:00-05:00", "date": "Saturday, February 28, 2026"},
            "refund": "64.00",
            "url": "https://tools.usps.com/go?n=9400111899223197428490",
        }
    )
    assert ungrounded(reply, source, today=date(2026, 2, 26)) == problems


async def test_a_rejected_playbook_reply_is_retried_not_crashed(lumen: Lumen, monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.core as core

    original = core._problems
    rejected: list[str] = []

    def reject_first(ctx, reply: str) -> list[str]:
        if not rejected:
            rejected.append(reply)
            return ["date 3/1"]
        return original(ctx, reply)

    monkeypatch.setattr(core, "_problems", reject_first)
    turn = await lumen.chat("where is order 1042 jordan.lee@example.com")
    assert rejected and turn.model == "playbook"
    assert "9400111899223197428490" in turn.reply and "something went wrong" not in turn.reply


def test_slashes_quoted_from_the_data_are_grounded() -> None:
    source = json.dumps({"message": "Consignment delayed, new delivery attempt 12/03", "item": "Hojicha 1/2 lb Tin"})
    assert (
        ungrounded('The carrier says "Consignment delayed, new delivery attempt 12/03" (Hojicha 1/2 lb Tin).', source)
        == []
    )
    assert ungrounded("It arrives 12/04.", source) == ["date 12/4"]


SCENARIO_TURNS = {
    "delivered-not-received": [
        "It says delivered but I never got my package. #1031 maya.patel@example.com",
        "yes please",
    ],
    "split-shipment": ["where is my order", "1042", "jordan.lee@example.com"],
    "pre-order": ["When will my pre-order ship? 1088 sam.rivera@example.com"],
    "international": ["It's been 3 weeks, order 1065, zip 10115"],
    "wrong-order-number": ["Check order 9999", "jordan.lee@example.com"],
    "other-platform": ["Where is my Amazon order?"],
    "cancelled": ["What happened to my order? 1055 priya.nair@example.com"],
    "3pl": ["Where is my package? #1093 chris.okafor@example.com"],
    "human": ["can I talk to a person?", "pat@example.com"],
}


@pytest.mark.parametrize("scenario", SCENARIO_TURNS)
async def test_tool_calls_and_arguments_for_each_scenario(lumen: Lumen, scenario: str) -> None:
    """Which tools the agent calls, with which arguments, turn by turn (the playbook model drives it)."""
    session = None
    for message in SCENARIO_TURNS[scenario]:
        session = (await lumen.chat(message, session)).session_id
    transcript = await lumen.transcript(session or "")
    assert transcript is not None
    calls = [
        (p["tool_name"], {k: v for k, v in p["args"].items() if k != "summary"})
        for m in transcript["messages"]
        for p in m["parts"]
        if p["part_kind"] == "tool-call"
    ]
    assert calls == EXPECTED_CALLS[scenario]


EXPECTED_CALLS = {
    "delivered-not-received": snapshot(
        [
            ("find_order", {"order_number": "1031", "email": "maya.patel@example.com"}),
            (
                "escalate",
                {
                    "reason": "delivered_not_received",
                    "order_number": "#1031",
                    "shopper_email": "maya.patel@example.com",
                },
            ),
        ]
    ),
    "split-shipment": snapshot(
        [
            ("find_order", {}),
            ("find_order", {"order_number": "1042"}),
            ("find_order", {"order_number": "1042", "email": "jordan.lee@example.com"}),
        ]
    ),
    "pre-order": snapshot([("find_order", {"order_number": "1088", "email": "sam.rivera@example.com"})]),
    "international": snapshot([("find_order", {"order_number": "1065", "postal_code": "10115"})]),
    "wrong-order-number": snapshot(
        [
            ("find_order", {"order_number": "9999"}),
            ("find_order", {"order_number": "9999", "email": "jordan.lee@example.com"}),
        ]
    ),
    "other-platform": snapshot([]),
    "cancelled": snapshot([("find_order", {"order_number": "1055", "email": "priya.nair@example.com"})]),
    "3pl": snapshot([("find_order", {"order_number": "1093", "email": "chris.okafor@example.com"})]),
    "human": snapshot([("escalate", {"reason": "shopper_asked_for_human", "shopper_email": "pat@example.com"})]),
}


# --- what the guard catches besides tracking numbers, links and dates ---------------------------------------------

GUARD_SOURCE = json.dumps(
    {
        "status": "ok",
        "order_number": "#1042",
        "refunds": [{"amount": "64.00", "currency": "USD"}],
        "packages": [
            {
                "status": "IN_TRANSIT",
                "tracking": [{"number": "9400111899223197428490"}],
                "delivered": None,
                "estimated_delivery": {"iso": "2026-02-28T15:00:00-05:00", "date": "Saturday, February 28, 2026"},
                "latest_event": {"status": "IN_TRANSIT", "message": "Departed USPS facility", "days_ago": 3},
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("reply", "problems"),
    [
        # amounts without a currency symbol
        ("A refund of 65.00 was issued.", ["amount 65.00"]),
        ("You were refunded 65.", ["amount 65"]),
        ("That's 65 dollars back.", ["amount 65"]),
        ("A refund of 64.00 was issued.", []),
        ("A refund of 64 was issued, for 2 items.", []),
        ("The last scan was at 14.30 on 03.03.2026.", ["date 03.03."]),
        # order numbers the tools never returned
        ("Your order 2000 has shipped.", ["order number 2000"]),
        ("Order #9400 has shipped.", ["order number #9400"]),  # digits of a tracking number are no order
        ("Your order #1042 and order 1042 are one order; package #1 is in transit.", []),
        # package states no package or event has
        ("Good news: it was delivered.", ["status 'delivered'"]),
        ("It's out for delivery today.", ["status 'out for delivery'"]),
        ("The carrier attempted delivery.", ["status 'attempted delivery'"]),
        ("It's ready for pickup.", ["status 'ready for pickup'"]),
        ("The carrier reports a delay.", ["status 'delayed'"]),
        ("It's in transit; it hasn't been delivered yet.", []),
        ("Once it's out for delivery, USPS will text you.", []),
        ('"Delivered" means the carrier reported delivery.', []),
        ("It should be delivered by Saturday, February 28.", []),
        # delivery windows nobody gave
        ("It usually arrives within 3-5 business days.", ["delivery window 'within 3-5 business days'"]),
        ("It will be with you in 2 days.", ["delivery window 'in 2 days'"]),
        ("Expect it in a few days.", ["delivery window 'in a few days'"]),
        ("The latest update was 3 days ago.", []),
        ("Please try again in a few minutes.", []),
    ],
)
def test_the_guard_catches_amounts_orders_statuses_and_windows(reply: str, problems: list[str]) -> None:
    assert ungrounded(reply, GUARD_SOURCE, today=date(2026, 2, 26)) == problems


def test_states_and_windows_the_data_or_the_persona_give_pass() -> None:
    delivered = json.dumps(
        {"packages": [{"status": "DELIVERED", "delivered": {"date": "Thursday, February 26, 2026"}}]}
    )
    assert ungrounded("It was delivered on Thursday, February 26.", delivered) == []
    event = json.dumps({"latest_event": {"status": "IN_TRANSIT", "message": "Out for delivery"}})
    assert ungrounded("It's out for delivery.", event) == []  # the carrier's own message says so
    persona = "Pre-orders typically ship within 4-6 weeks."
    assert ungrounded("Pre-orders ship within 4-6 weeks.", persona) == []
    assert ungrounded("Pre-orders ship within 2-3 weeks.", persona) == ["delivery window 'within 2-3 weeks'"]


def test_an_order_number_counts_only_when_a_tool_returned_it() -> None:
    """The shopper typing a number proves nothing; a tool's answer, or the instructions' example, does."""
    messages: list[ModelMessage] = [
        ModelRequest(
            parts=[UserPromptPart("where are orders 1042 and 1050? jordan.lee@example.com")],
            instructions="It looks like #1234.",
        ),
        ModelResponse(parts=[ToolCallPart("find_order", {"order_number": "1042"})]),
        ModelRequest(
            parts=[
                ToolReturnPart("find_order", {"status": "verified", "order_number": "#1042"}),
                ToolReturnPart("list_fulfillments", {"status": "not_verified", "order_number": "#1077"}),
            ]
        ),
    ]
    source = evidence(messages)
    assert ungrounded("Your order #1042 has shipped. Order numbers look like #1234.", source) == []
    assert ungrounded("Your order #1050 has shipped too.", source) == ["order number #1050"]
    assert ungrounded("Order 1077 has shipped.", source) == ["order number 1077"]  # echoed unchecked


def test_a_carrier_before_its_tracking_number_is_not_an_amount() -> None:
    # "UPS 1Z..." once read as 1 unit of a currency "UPS": only ISO 4217 codes make an amount.
    source = '{"carrier": "UPS", "tracking": "1Z999AA10123456784", "refund": "64.00", "currency": "USD"}'
    assert ungrounded("UPS: 1Z999AA10123456784, or UPS 1Z999AA10123456784.", source) == []
    assert ungrounded("A refund of USD 64.00.", source) == []
    assert ungrounded("A refund of USD 65.00.", source) == ["amount 65.00"]
