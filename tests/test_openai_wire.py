"""The real OpenAI client path without a key: the playbook served over the OpenAI chat completions API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator
from datetime import date

import httpx
import pytest
from openai import AsyncOpenAI
from pydantic_ai import RunContext, models
from pydantic_ai.messages import AgentStreamEvent, PartDeltaEvent, TextPartDelta

from agent.core import instructions_for, lumen_agent, run_instructions
from agent.deps import Deps
from agent.models import llm_from_settings
from agent.persona import Persona
from evals.fakes.openai_api import OpenAICompatServer, context_from_instructions
from evals.runner import EvalOptions, run_eval
from shopify import FixtureStore
from tests.test_evals import assert_report_shape, quiet
from tools.context import SessionState
from tools.find_order import FindOrderResult

MODEL = "openai:playbook-wire"


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[OpenAICompatServer]:
    # conftest forbids model requests; these go to a loopback server that answers with the playbook.
    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    async with OpenAICompatServer() as running:
        yield running


async def demo_deps(persona: Persona | None = None) -> Deps:
    source = FixtureStore()
    deps = Deps(
        source=source, session=SessionState(), conversation_id="wire", shop=await source.shop(), now=source.now()
    )
    if persona is not None:
        deps.persona = persona
    return deps


def tool_schemas() -> list[dict[str, object]]:
    return [
        {"type": "function", "function": {"name": name, "description": "", "parameters": {"type": "object"}}}
        for name in ("find_order", "list_fulfillments", "escalate")
    ]


async def test_whole_suite_passes_over_the_openai_wire(
    server: OpenAICompatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The model's 30 s timeout is for a real provider. Here the "provider" is the playbook on a loopback thread of
    # this process, answering 50+ conversations of a load case at once: on a loaded machine one answer can take longer,
    # the turn falls back to the playbook and AnsweredByModel fails the case for the machine's speed.
    monkeypatch.setenv("LUMEN_MODEL_TIMEOUT_S", "600")
    options = EvalOptions(model=MODEL, openai_base_url=server.base_url, progress=False)
    data = await run_eval(options, console=quiet())
    assert_report_shape(data, MODEL)
    failed = {c["name"]: c["failures"] for c in data["cases"] if not c["passed"]}
    # AnsweredByModel fails any turn the fallback playbook answered, so passing cases really went over HTTP.
    assert failed == {}
    assert server.requests > 500
    assert all(c["tokens"] > 0 for c in data["cases"])  # usage numbers came back over the wire


async def test_a_tool_call_round_trips(server: OpenAICompatServer) -> None:
    client = AsyncOpenAI(base_url=server.base_url, api_key="not-needed")
    system = {"role": "system", "content": instructions_for(await demo_deps())}
    user = {"role": "user", "content": "where is order 1042? jordan.lee@example.com"}

    first = await client.chat.completions.create(model="playbook-wire", messages=[system, user], tools=tool_schemas())
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls" and first.model == "playbook-wire"
    (call,) = choice.message.tool_calls or []
    assert call.function.name == "find_order"
    assert json.loads(call.function.arguments) == {"order_number": "1042", "email": "jordan.lee@example.com"}
    assert first.usage is not None and first.usage.prompt_tokens > 100 and first.usage.completion_tokens > 0

    result = FindOrderResult(status="not_found", order_number="#1042").model_dump_json()
    history = [
        system,
        user,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": result},
    ]
    second = await client.chat.completions.create(model="playbook-wire", messages=history, tools=tool_schemas())
    answer = second.choices[0]
    assert answer.finish_reason == "stop" and not answer.message.tool_calls
    assert answer.message.content is not None
    assert "wasn't able to find an order matching #1042" in answer.message.content

    # The same two steps streamed as server-sent events, usage last.
    stream = await client.chat.completions.create(
        model="playbook-wire",
        messages=[system, user],
        tools=tool_schemas(),
        stream=True,
        stream_options={"include_usage": True},
    )
    name, arguments, finish, usage = "", "", None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for streamed in chunk.choices:
            finish = streamed.finish_reason or finish
            for delta in streamed.delta.tool_calls or []:
                name += (delta.function.name or "") if delta.function else ""
                arguments += (delta.function.arguments or "") if delta.function else ""
    assert (name, json.loads(arguments), finish) == ("find_order", json.loads(call.function.arguments), "tool_calls")
    assert usage is not None and usage.total_tokens > 0

    text_stream = await client.chat.completions.create(model="playbook-wire", messages=history, stream=True)
    streamed_text = "".join([c.choices[0].delta.content or "" async for c in text_stream if c.choices])
    assert streamed_text == answer.message.content
    assert server.streamed == 2


async def test_a_streamed_agent_run_over_the_wire(server: OpenAICompatServer) -> None:
    """pydantic-ai streams when an event handler is given: tool calls and text arrive as SSE chunks."""
    deltas: list[str] = []

    async def collect(ctx: RunContext[Deps], events: AsyncIterable[AgentStreamEvent]) -> None:
        async for event in events:
            if isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                deltas.append(event.delta.content_delta)

    model = llm_from_settings(MODEL, server.base_url)
    deps = await demo_deps()
    result = await lumen_agent.run(
        "where is order 1042? jordan.lee@example.com",
        deps=deps,
        instructions=run_instructions(deps),
        model=model,
        event_stream_handler=collect,
    )
    assert "9400111899223197428490" in result.output and "789104567123" in result.output
    assert result.response.model_name == "playbook-wire"
    tools_called = [p.tool_name for m in result.all_messages() for p in m.parts if p.part_kind == "tool-call"]
    assert tools_called == ["find_order"]  # the verified result carries the packages
    assert len(deltas) > 10 and server.streamed == 2


async def test_the_persona_shop_and_date_are_read_back_from_the_instructions() -> None:
    persona = Persona(assistant_name="Fell", tone="professional", context="Pre-orders ship in 3 weeks.\n\nNo weekends.")
    deps = await demo_deps(persona)
    assert context_from_instructions(instructions_for(deps)) == (persona, "Harbor & Pine", date(2026, 2, 27))
    default = await demo_deps()
    read, shop, _ = context_from_instructions(instructions_for(default))
    assert (read.assistant_name, read.tone, read.context, shop) == ("Lumen", "friendly", "", "Harbor & Pine")


async def test_models_endpoint_and_errors(server: OpenAICompatServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        listed = (await client.get("/models")).json()
        assert listed["data"][0]["id"] == "playbook-wire"
        bad = await client.post("/chat/completions", json={"model": "playbook-wire", "messages": []})
        assert bad.status_code == 422
        # A tool result the playbook cannot read is a client error, not a crash.
        garbled = [
            {"role": "user", "content": "order 1042 jordan.lee@example.com"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "find_order", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "not json"},
        ]
        refused = await client.post("/chat/completions", json={"model": "playbook-wire", "messages": garbled})
        assert refused.status_code == 400 and "error" in refused.json()
