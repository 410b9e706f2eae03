"""The Lumen agent: one pydantic-ai `Agent` with the three tools, instructions from `prompts/` and a grounding guard."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from babel.dates import format_date
from pydantic_ai import Agent, FunctionToolset, ModelRetry, RunContext, Tool
from pydantic_ai.messages import (
    AgentStreamEvent,
    FunctionToolResultEvent,
    InstructionPart,
    ModelMessage,
    ModelRequest,
    PartDeltaEvent,
    PartEndEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.toolsets import ToolsetTool

from agent import prompts
from agent.deps import Deps
from agent.grounding import Evidence, evidence, ungrounded
from agent.playbook.compose import locale_words, order_example
from agent.playbook.model import Playbook, ReplyStep
from agent.playbook.voice import ShopVoice
from tools.toolset import build_toolset

# One retry for an ungrounded reply; after that the shopper gets a reply built from the tool results.
OUTPUT_RETRIES = 1


def instructions_for(deps: Deps) -> str:
    persona, shop = deps.persona, deps.shop
    return _instructions_text(
        persona.assistant_name,
        persona.tone,
        persona.context,
        shop.name,
        shop.timezone,
        shop.locale,
        deps.today,
        order_example(shop.name_format),
    )


def run_instructions(deps: Deps) -> InstructionPart:
    """The instructions to pass to each run of `lumen_agent` (`instructions=`): the agent has none of its own.

    The same request as an `@agent.instructions` function returning `instructions_for(ctx.deps)`: pydantic-ai makes
    such a function's text an unnamed part marked dynamic, and so is this one (dynamic: an LLM provider's prompt
    cache point stays before it). The text depends only on the deps, which a run does not change, so it is written
    once a run here, where pydantic-ai resolved a function at every model request, inspecting its signature each
    time (0.2-0.4 ms of a turn's CPU, alternating). pydantic-ai strips such a part's text where it keeps a function's as
    returned: `instructions_for` neither starts nor ends with whitespace (tests/test_agent.py compares the two)."""
    return InstructionPart(content=instructions_for(deps), dynamic=True)


# The same for every turn of a shop on one day: written once (14-20 KB each, and Babel's date formatting).
@lru_cache(maxsize=64)
def _instructions_text(
    assistant_name: str,
    tone: str,
    context: str,
    shop_name: str,
    timezone: str,
    locale: str,
    today: date,
    example: str = "#1234",
) -> str:
    policy = prompts.text("policy.md").format(
        assistant_name=assistant_name,
        shop_name=shop_name,
        tone_description=prompts.toml("tones.toml").get(tone, ""),
        today=format_date(today, "full", locale=locale),
        timezone=timezone,
        persona_context=context or "(none)",
    )
    # The example order number the playbook gives in the shop's format: taught here, it is the LLM's example too and
    # known to the grounding guard as no invented order.
    words = prompts.toml("locale.toml")["instructions"].format(
        locale=locale, **(locale_words(locale) | {"order_example": example})
    )
    return "\n\n".join([policy, prompts.text("verification.md"), prompts.text("scenarios.md"), words])


def safe_reply(ctx: RunContext[Deps]) -> str:
    """A reply written by the playbook from this conversation's tool results, or a plain hand-off offer."""
    deps = ctx.deps
    playbook = Playbook(ShopVoice.of(deps.shop, deps.persona, deps.today))
    step = playbook.next_step(list(ctx.messages))
    if isinstance(step, ReplyStep) and not _problems(ctx, step.text):
        return step.text
    return playbook.r.say("out_of_scope", shop_name=deps.shop.name)


def _problems(ctx: RunContext[Deps], reply: str) -> list[str]:
    deps = ctx.deps
    return ungrounded(reply, _evidence(ctx.messages, deps), deps.today)


def _evidence(messages: list[ModelMessage], deps: Deps) -> Evidence:
    """What this conversation's replies may draw facts from, with the example order name the instructions teach in
    the shop's own format ("looks like PK1234NE" is an example, not an order nor a tracking number)."""
    return evidence(messages, extra=deps.persona.context, example=order_example(deps.shop.name_format))


# Where a streamed reply may be cut: after a sentence's closing punctuation and the space that follows it, or a line.
_SENTENCE_END = re.compile(r"[.!?:;](?=\s)|\n")


class StreamGuard:
    """What of a streamed turn may reach the shopper, as it is written: text that has passed the grounding guard.

    Text is held back until a sentence is complete and all of the draft up to it passes the same check the finished
    reply gets, against the same evidence (this conversation, this turn's tool results). A sentence that fails stops
    the draft: nothing of it from there on is sent. A draft the guard sent back is followed by another; that one is
    streamed only as far as it continues what the shopper already has, and otherwise the `done` event brings the
    checked reply (the retry, or the safe reply) alone.
    """

    def __init__(self, deps: Deps, history: list[ModelMessage], message: str) -> None:
        self._deps = deps
        request = ModelRequest(parts=[UserPromptPart(message)], instructions=instructions_for(deps))
        self._messages: list[ModelMessage] = [*history, request]
        self._evidence: Evidence | None = None
        self._draft = ""  # the text part being written
        self._shown = ""  # what the shopper has of this draft (or of the rejected draft it replaces)
        self._sent_any = False
        self._failed = False  # a sentence of this draft did not pass
        self._frozen = False  # what the shopper has cannot be continued truthfully: only `done` now
        self._in_draft_response = False
        self._draft_had_tools = False

    def feed(self, event: AgentStreamEvent) -> str:
        """The text of `event` that may go to the shopper now ('' for none)."""
        if isinstance(event, FunctionToolResultEvent) and isinstance(event.part, ToolReturnPart):
            self._messages.append(ModelRequest(parts=[event.part]))
            self._evidence = None
        elif isinstance(event, PartStartEvent):
            if event.index == 0:
                self._in_draft_response = False
            if isinstance(event.part, ToolCallPart) and self._in_draft_response:
                self._draft_had_tools = True  # the draft was narration before a tool call, not a reply
            elif isinstance(event.part, TextPart):
                return self._start(event.part.content)
        elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
            self._draft += event.delta.content_delta
            ends = [m.end() for m in _SENTENCE_END.finditer(self._draft)]
            return self._release(ends[-1]) if ends else ""
        elif isinstance(event, PartEndEvent) and isinstance(event.part, TextPart):
            return self._release(len(self._draft))
        return ""

    def finish(self, reply: str) -> str:
        """The rest of the final, checked reply when what the shopper has is its beginning ('' otherwise)."""
        if self._frozen or not reply.startswith(self._shown):
            return ""
        rest = reply[len(self._shown) :]
        separator = "\n\n" if rest and self._sent_any and not self._shown else ""
        self._shown = reply
        return separator + rest

    def _start(self, text: str) -> str:
        retry = bool(self._draft) and not self._draft_had_tools
        if not retry:
            # A new reply after narration and tool calls: it goes below what the shopper has.
            self._shown = ""
        self._draft, self._failed = "", False
        self._in_draft_response, self._draft_had_tools = True, False
        self._draft += text
        ends = [m.end() for m in _SENTENCE_END.finditer(self._draft)]
        return self._release(ends[-1]) if ends else ""

    def _release(self, end: int) -> str:
        candidate = self._draft[:end]
        if self._frozen or self._failed or len(candidate) <= len(self._shown):
            return ""
        if not candidate.startswith(self._shown):
            self._frozen = not self._shown.startswith(candidate)
            return ""
        if self._problems(candidate):
            self._failed = True
            return ""
        new = candidate[len(self._shown) :]
        separator = "\n\n" if self._sent_any and not self._shown else ""
        self._shown, self._sent_any = candidate, True
        return separator + new

    def _problems(self, text: str) -> list[str]:
        deps = self._deps
        if self._evidence is None:
            self._evidence = _evidence(self._messages, deps)
        return ungrounded(text, self._evidence, deps.today)


class UninstructedRun(RuntimeError):
    """A run of `lumen_agent` without `instructions=run_instructions(deps)`: a caller's mistake, refused loudly."""


def _instructed(messages: list[ModelMessage]) -> bool:
    """Whether the run's last request carried instructions. The agent has none of its own (`run_instructions`), so
    a caller that forgot them would have an LLM answer without Lumen's rules; its reply is refused instead (the
    shopper gets the turn-failed reply, the log says why), and a test or eval that forgot them fails."""
    request = next((m for m in reversed(messages) if isinstance(m, ModelRequest)), None)
    return request is not None and bool(request.instructions)


def build_agent() -> Agent[Deps, str]:
    # No model here: each turn passes its own (the playbook, or an LLM falling back to it), so no key is needed.
    agent = Agent[Deps, str](
        None,
        deps_type=Deps,
        output_type=str,
        # The tools on the agent's own function toolset, not as a second toolset beside it (empty): with two,
        # pydantic-ai asks both on every step in a task group of their own, a quarter of the framework's CPU in a
        # turn; the tools, their schemas and their retries are the same.
        tools=list(build_toolset().tools.values()),
        retries={"tools": 2, "output": OUTPUT_RETRIES},
        defer_model_check=True,
        name="lumen",
    )

    # No instructions here: every run passes `run_instructions(deps)`. Async on purpose: pydantic-ai runs a plain
    # function in a worker thread, two thread switches per request for work that takes microseconds.
    @agent.output_validator
    async def _grounded(ctx: RunContext[Deps], output: str) -> str:
        if ctx.partial_output:  # streamed text is checked sentence by sentence (`StreamGuard`), then once complete
            return output
        if not _instructed(ctx.messages):
            raise UninstructedRun("a run of lumen_agent needs instructions=run_instructions(deps)")
        problems = _problems(ctx, output)
        if not problems:
            return output
        if ctx.retry < OUTPUT_RETRIES:
            raise ModelRetry(prompts.text("grounding_retry.md").format(problems=", ".join(problems)).strip())
        return safe_reply(ctx)

    _list_tools_directly(agent)
    return agent


def _list_tools_directly(agent: Agent[Deps, str]) -> None:
    """The agent's tools listed at each step as `FunctionToolset.get_tools` lists them, without the copy of the run's
    context it makes for each tool (46 fields, some 10 us each, six a turn): that copy is read only by a tool's own
    `prepare` function, and Lumen's tools have none (a tool with one, or of another class, is listed by pydantic-ai's
    own code). The same listing, step by step: tests/test_agent_tool_listing.py."""
    toolset: FunctionToolset[Deps] = agent._function_toolset
    listed_by_pydantic_ai = toolset.get_tools

    async def get_tools(ctx: RunContext[Deps]) -> dict[str, ToolsetTool[Deps]]:
        if any(type(tool) is not Tool or tool.prepare is not None for tool in toolset.tools.values()):
            return await listed_by_pydantic_ai(ctx)
        tools: dict[str, ToolsetTool[Deps]] = {}
        for name, tool in toolset.tools.items():
            max_retries = tool.max_retries if tool.max_retries is not None else toolset.max_retries
            tool_def = tool.tool_def
            tools[tool_def.name] = toolset._tool_for(
                tool, tool_def, max_retries if max_retries is not None else ctx.max_retries, name
            )
        return tools

    toolset.get_tools = get_tools  # type: ignore[method-assign]


lumen_agent = build_agent()
