"""The agent's tools are listed at each step exactly as pydantic-ai's `FunctionToolset.get_tools` lists them
(`agent.core._list_tools_directly` skips only the per-tool copy of the run's context that no tool of Lumen's reads)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic_ai import FunctionToolset, RunContext
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import ToolsetTool

from agent.core import lumen_agent
from agent.deps import Deps
from agent.service import Lumen
from config import Settings
from tests.test_agent import SCENARIO_TURNS


@pytest.fixture
async def lumen() -> AsyncIterator[Lumen]:
    service = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None))
    yield service
    await service.close()


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, ToolsetTool[Deps]]]:
    """Every listing of a run's step, checked against pydantic-ai's own listing of the same step."""
    toolset: FunctionToolset[Deps] = lumen_agent._function_toolset
    ours = toolset.get_tools
    listings: list[dict[str, ToolsetTool[Deps]]] = []

    async def checked(ctx: RunContext[Deps]) -> dict[str, ToolsetTool[Deps]]:
        listed = await ours(ctx)
        assert listed == await FunctionToolset.get_tools(toolset, ctx)
        assert list(listed) == ["find_order", "list_fulfillments", "escalate"]
        listings.append(listed)
        return listed

    monkeypatch.setattr(toolset, "get_tools", checked)
    return listings


@pytest.mark.parametrize("scenario", SCENARIO_TURNS)
async def test_each_scenarios_steps_list_the_tools_as_pydantic_ai_does(
    lumen: Lumen, compared: list[dict[str, ToolsetTool[Deps]]], scenario: str
) -> None:
    session = None
    for message in SCENARIO_TURNS[scenario]:
        session = (await lumen.chat(message, session)).session_id
        session = (await lumen.chat("thanks, and where is it now?", session)).session_id
    assert compared


async def test_steps_after_tool_retries_list_the_tools_as_pydantic_ai_does(
    lumen: Lumen, compared: list[dict[str, ToolsetTool[Deps]]]
) -> None:
    """A tool called with arguments it refuses counts a retry in the run's context: the listing is the same."""
    responses = [
        ModelResponse(parts=[ToolCallPart("find_order", {"order_number": 1031, "nonsense": True})]),
        ModelResponse(parts=[ToolCallPart("list_fulfillments", {})]),
        ModelResponse(parts=[ToolCallPart("find_order", {"order_number": "1031", "email": "maya.patel@example.com"})]),
        ModelResponse(parts=[TextPart("Thanks.")]),
    ]

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        assert [tool.name for tool in info.function_tools] == ["find_order", "list_fulfillments", "escalate"]
        return responses.pop(0)

    lumen.models.for_turn = lambda voice: FunctionModel(model)  # type: ignore[method-assign]
    reply: Any = await lumen.chat("where is 1031? maya.patel@example.com")
    assert reply.reply == "Thanks." and not responses
    assert len(compared) == 4
