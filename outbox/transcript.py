"""A conversation as plain text for the merchant's support team (escalation emails, the admin page)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart


def render_transcript(messages: Sequence[ModelMessage], *, include_tools: bool = False) -> str:
    lines: list[str] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for request_part in message.parts:
                if isinstance(request_part, UserPromptPart) and isinstance(request_part.content, str):
                    lines.append(f"Shopper: {request_part.content}")
        elif isinstance(message, ModelResponse):
            for part in message.parts:
                if isinstance(part, TextPart) and part.content.strip():
                    lines.append(f"Lumen: {part.content.strip()}")
                elif include_tools and isinstance(part, ToolCallPart):
                    lines.append(f"[tool] {part.tool_name}({part.args_as_json_str()})")
    return "\n".join(lines)
