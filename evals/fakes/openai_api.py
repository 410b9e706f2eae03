"""An OpenAI-compatible chat server on loopback that answers with the playbook: the real OpenAI client path, no key.

Lumen configured as `LUMEN_MODEL=openai:playbook-wire` with `LUMEN_OPENAI_BASE_URL=<server.base_url>` sends its
instructions, the conversation and the tool definitions over HTTP exactly as it would to OpenAI, Ollama or vLLM. The
server turns the OpenAI messages back into pydantic-ai messages, asks `Playbook.next_step` what to do, and answers with
`tool_calls` or text, streamed as server-sent events when asked (`"stream": true`), with usage numbers.

    with OpenAICompatServer() as server:
        settings = Settings(lumen_model="openai:playbook-wire", lumen_openai_base_url=server.base_url)

The playbook speaks in the shop's voice (`ShopVoice`): the assistant's name, tone and notes, the shop's name, the
store's date and the shop's locale are read back from the instructions Lumen sends (prompts/policy.md, locale.toml);
the shop's web addresses and order-name format, which the instructions don't say, come from the shop of that name
among those given to the server (`shops`; `lumen eval` gives it the shops of the stores its cases run against).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import threading
import time
import tomllib
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime
from typing import Any, Literal

from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)

from agent import prompts
from agent.persona import Persona, default_persona
from agent.playbook.model import Playbook, ToolStep
from agent.playbook.voice import ShopVoice
from evals.fakes.loopback import LoopbackServer
from shopify.domain import Shop

DEFAULT_MODEL = "playbook-wire"


# --- the request, as much of OpenAI's shape as Lumen uses ----------------------------------------------------------


class FunctionCall(BaseModel):
    name: str
    arguments: str = "{}"


class ToolCallIn(BaseModel):
    id: str
    type: str = "function"
    function: FunctionCall


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(str(part.get("text", "")) for part in self.content if part.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, tool_choice, parallel_tool_calls, ...

    model: str
    messages: list[MessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None


# --- OpenAI messages -> pydantic-ai messages ---------------------------------------------------------------------


def _json_or_text(content: str) -> Any:
    try:
        return json.loads(content)
    except ValueError:
        return content


def to_model_messages(messages: list[MessageIn]) -> tuple[str, list[ModelMessage]]:
    """The system text and the conversation as pydantic-ai messages (tool results parsed back from JSON)."""
    system: list[str] = []
    converted: list[ModelMessage] = []
    tool_names: dict[str, str] = {}
    for message in messages:
        if message.role in ("system", "developer"):
            system.append(message.text())
        elif message.role == "user":
            converted.append(ModelRequest(parts=[UserPromptPart(message.text())]))
        elif message.role == "assistant":
            parts: list[ModelResponsePart] = [TextPart(message.text())] if message.text() else []
            for call in message.tool_calls or []:
                tool_names[call.id] = call.function.name
                parts.append(ToolCallPart(call.function.name, call.function.arguments, tool_call_id=call.id))
            converted.append(ModelResponse(parts=parts))
        else:  # tool
            call_id = message.tool_call_id or ""
            part = ToolReturnPart(
                tool_names.get(call_id, "unknown"), _json_or_text(message.text()), tool_call_id=call_id
            )
            last = converted[-1] if converted else None
            if isinstance(last, ModelRequest) and all(isinstance(p, ToolReturnPart) for p in last.parts):
                last.parts = [*last.parts, part]
            else:
                converted.append(ModelRequest(parts=[part]))
    return "\n\n".join(system), converted


# --- what the playbook needs, read back from Lumen's instructions -------------------------------------------------


def _template_pattern(template: str) -> re.Pattern[str]:
    pattern, seen = "", set()
    for i, piece in enumerate(re.split(r"\{(\w+)\}", template)):
        if i % 2 == 0:
            pattern += re.escape(piece)
        elif piece in seen:
            pattern += f"(?P={piece})"
        else:
            seen.add(piece)
            pattern += f"(?P<{piece}>.*?)"
    return re.compile(pattern, re.DOTALL)


def _instruction_pattern() -> re.Pattern[str]:
    # The policy is followed by the verification rules (agent.core.instructions_for): they end the merchant's notes.
    policy = prompts.text("policy.md").rstrip()
    return _template_pattern(policy + "\n\n" + prompts.text("verification.md").strip()[:60] + "{_rest}")


_SENTENCE = re.compile(r"You are (?P<assistant_name>.+?), the order-status assistant of (?P<shop_name>.+?)\.\s+Shop")
_TODAY = re.compile(r"Today is (?P<today>\w+, (?:\w+ \d{1,2},|\d{1,2} \w+) \d{4})")
_LOCALE = re.compile(r"This shop's locale is (\w+)\.")


def _parse_today(text: str) -> date | None:
    # Month first (en_US, en_CA: "Friday, February 27, 2026") or day first (en_GB, en_AU: "Friday, 27 February 2026").
    for pattern in ("%A, %B %d, %Y", "%A, %d %B %Y"):
        try:
            return datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            continue
    return None


def context_from_instructions(system: str) -> tuple[Persona, str, date]:
    """The persona, the shop's name and today's date that produced these instructions (defaults where unreadable)."""
    fields: dict[str, str] = {}
    match = _instruction_pattern().match(system.strip())
    if match:
        fields = {k: v for k, v in match.groupdict().items() if v is not None}
    else:
        for pattern in (_SENTENCE, _TODAY):
            found = pattern.search(system)
            if found:
                fields |= found.groupdict()
    persona = default_persona()
    tones = {description.strip(): name for name, description in tomllib.loads(prompts.text("tones.toml")).items()}
    context = fields.get("persona_context", "").strip()
    persona = persona.model_copy(
        update={
            "assistant_name": fields.get("assistant_name") or persona.assistant_name,
            "tone": tones.get(fields.get("tone_description", "").strip(), persona.tone),
            "context": "" if context == "(none)" else context,
        }
    )
    today = _parse_today(fields.get("today", "")) or date.today()
    return persona, fields.get("shop_name") or "our store", today


def _by_name(shops: Iterable[Shop]) -> dict[str, Shop]:
    """The shops by name, as the instructions name them; a name two different shops share is left out, since the
    instructions could not tell which of them wrote."""
    named: dict[str, Shop] = {}
    shared: set[str] = set()
    for shop in shops:
        if named.setdefault(shop.name, shop) != shop:
            shared.add(shop.name)
    return {name: shop for name, shop in named.items() if name not in shared}


# --- OpenAI responses --------------------------------------------------------------------------------------------


def _count_words(messages: list[MessageIn]) -> int:
    # Usage figures are whitespace-separated words: close enough to compare conversations, and never zero.
    words = sum(len(m.text().split()) for m in messages)
    words += sum(len(c.function.arguments.split()) for m in messages for c in m.tool_calls or [])
    return words


class OpenAICompatServer(LoopbackServer):
    """`POST /v1/chat/completions` and `GET /v1/models` on a uvicorn thread, answered by the playbook."""

    thread_name = "openai-compat"

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        host: str = "127.0.0.1",
        port: int = 0,
        shops: Iterable[Shop] = (),
    ) -> None:
        self.model = model
        self.shops = _by_name(shops)
        self.requests = 0
        self.streamed = 0
        self.received: list[dict[str, Any]] = []  # the JSON bodies, for tests
        self._lock = threading.Lock()
        super().__init__(self._build_app(), host=host, port=port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # --- the app -------------------------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Lumen playbook over the OpenAI API", docs_url=None, redoc_url=None, openapi_url=None)

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "lumen"}],
            }

        @app.post("/v1/chat/completions", response_model=None)
        async def chat(request: ChatRequest) -> JSONResponse | StreamingResponse:
            with self._lock:
                self.requests += 1
                self.streamed += int(request.stream)
                self.received.append(request.model_dump(mode="json", exclude_none=True))
            try:
                step = self.step(request)
            except Exception as exc:  # the playbook could not read this conversation
                error = {"message": f"{type(exc).__name__}: {exc}", "type": "invalid_request_error", "code": None}
                return JSONResponse({"error": error}, status_code=400)
            usage = {"prompt_tokens": _count_words(request.messages)}
            if request.stream:
                return StreamingResponse(self._stream(request, step, usage), media_type="text/event-stream")
            return JSONResponse(self._completion(request, step, usage))

        return app

    def voice(self, system: str) -> ShopVoice:
        """The voice these instructions were written in: the persona, shop and date they say, and what they don't
        (web addresses, order-name format) from the given shop of that name, when there is one."""
        persona, shop_name, today = context_from_instructions(system)
        locale = _LOCALE.search(system)
        shop = self.shops.get(shop_name) or Shop(name=shop_name, locale=locale[1] if locale else "en_US")
        return ShopVoice.of(shop, persona, today)

    def step(self, request: ChatRequest) -> ToolStep | str:
        system, messages = to_model_messages(request.messages)
        step = Playbook(self.voice(system)).next_step(messages)
        return step if isinstance(step, ToolStep) else step.text

    @staticmethod
    def _tool_call(step: ToolStep) -> dict[str, Any]:
        arguments = json.dumps(step.args, ensure_ascii=False)
        return {
            "id": f"call_{secrets.token_hex(8)}",
            "type": "function",
            "function": {"name": step.name, "arguments": arguments},
        }

    def _completion(self, request: ChatRequest, step: ToolStep | str, usage: dict[str, int]) -> dict[str, Any]:
        if isinstance(step, ToolStep):
            message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [self._tool_call(step)]}
            finish, completion = "tool_calls", len(json.dumps(step.args).split()) + 1
        else:
            message, finish, completion = {"role": "assistant", "content": step}, "stop", len(step.split())
        return {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage | {"completion_tokens": completion, "total_tokens": usage["prompt_tokens"] + completion},
        }

    async def _stream(self, request: ChatRequest, step: ToolStep | str, usage: dict[str, int]) -> AsyncIterator[str]:
        base = {
            "id": f"chatcmpl-{secrets.token_hex(12)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": request.model,
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
            return f"data: {json.dumps(base | {'choices': [choice]}, ensure_ascii=False)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if isinstance(step, ToolStep):
            call = self._tool_call(step)
            arguments = call["function"]["arguments"]
            head = {"index": 0, "id": call["id"], "type": "function", "function": {"name": step.name, "arguments": ""}}
            yield chunk({"tool_calls": [head]})
            middle = len(arguments) // 2  # in two pieces, as real servers split them
            for piece in (arguments[:middle], arguments[middle:]):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            finish, completion = "tool_calls", len(arguments.split()) + 1
        else:
            words = step.split(" ")
            for i, word in enumerate(words):
                yield chunk({"content": word if i == 0 else " " + word})
                await asyncio.sleep(0)
            finish, completion = "stop", len(step.split())
        yield chunk({}, finish)
        if (request.stream_options or {}).get("include_usage"):
            total = usage | {"completion_tokens": completion, "total_tokens": usage["prompt_tokens"] + completion}
            yield f"data: {json.dumps(base | {'choices': [], 'usage': total})}\n\n"
        yield "data: [DONE]\n\n"

    # --- lifecycle -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the playbook model over the OpenAI chat completions API.")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    OpenAICompatServer(model=args.model, port=args.port).serve_until_interrupted(
        f"Playbook over the OpenAI API at {{server.base_url}} (model {args.model!r}); Ctrl-C stops it."
    )


if __name__ == "__main__":
    main()
