"""The Lumen agent: one pydantic-ai `Agent` with the three tools, instructions from `prompts/` and a grounding guard."""

from __future__ import annotations

from babel.dates import format_date
from pydantic_ai import Agent, ModelRetry, RunContext

from agent import prompts
from agent.deps import Deps
from agent.grounding import evidence, ungrounded
from agent.playbook.model import Playbook, ReplyStep
from tools.toolset import build_toolset

# One retry for an ungrounded reply; after that the shopper gets a reply built from the tool results.
OUTPUT_RETRIES = 1


def instructions_for(deps: Deps) -> str:
    today = deps.local_now
    policy = prompts.text("policy.md").format(
        assistant_name=deps.persona.assistant_name,
        shop_name=deps.shop.name,
        tone_description=prompts.toml("tones.toml").get(deps.persona.tone, ""),
        today=format_date(today, "full", locale=deps.shop.locale),
        timezone=deps.shop.timezone,
        persona_context=deps.persona.context or "(none)",
    )
    return "\n\n".join([policy, prompts.text("verification.md"), prompts.text("scenarios.md")])


def safe_reply(ctx: RunContext[Deps]) -> str:
    """A reply written by the playbook from this conversation's tool results, or a plain hand-off offer."""
    deps = ctx.deps
    playbook = Playbook(deps.persona, deps.shop.name, deps.today, deps.shop.locale)
    step = playbook.next_step(list(ctx.messages))
    if isinstance(step, ReplyStep) and not _problems(ctx, step.text):
        return step.text
    return playbook.r.say("out_of_scope", shop_name=deps.shop.name)


def _problems(ctx: RunContext[Deps], reply: str) -> list[str]:
    deps = ctx.deps
    return ungrounded(reply, evidence(ctx.messages, extra=deps.persona.context), deps.today)


def build_agent() -> Agent[Deps, str]:
    # No model here: each turn passes its own (the playbook, or an LLM falling back to it), so no key is needed.
    agent = Agent[Deps, str](
        None,
        deps_type=Deps,
        output_type=str,
        toolsets=[build_toolset()],
        retries={"tools": 2, "output": OUTPUT_RETRIES},
        defer_model_check=True,
        name="lumen",
    )

    @agent.instructions
    def _instructions(ctx: RunContext[Deps]) -> str:
        return instructions_for(ctx.deps)

    @agent.output_validator
    def _grounded(ctx: RunContext[Deps], output: str) -> str:
        if ctx.partial_output:  # streamed text is checked once, when complete
            return output
        problems = _problems(ctx, output)
        if not problems:
            return output
        if ctx.retry < OUTPUT_RETRIES:
            raise ModelRetry(prompts.text("grounding_retry.md").format(problems=", ".join(problems)).strip())
        return safe_reply(ctx)

    return agent


lumen_agent = build_agent()
