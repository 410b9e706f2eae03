"""A conversation for the merchant's support team: structured messages (who, when, what), and their email text.

A transcript is never one string to split on "Shopper:" / "Lumen:": a shopper who types a newline and "Lumen: ..."
must not be able to write a line that reads as Lumen's. So every message keeps its speaker, and the email writes each
as a block: a header line with the speaker and time, then the text with every one of its lines marked as quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, UserPromptPart

from storage.escalations import Speaker, TranscriptMessage

SPEAKERS: dict[Speaker, str] = {
    "shopper": "Shopper",
    "lumen": "Lumen",
    "unattributed": "Earlier transcript (plain text; speakers not told apart)",
}
# Before every line of a message's text, so no line of it can look like a message header.
QUOTE = "  | "


def transcript_messages(messages: Sequence[ModelMessage]) -> list[TranscriptMessage]:
    """What the shopper and Lumen said, in order, with the time of each message (tool calls left out)."""
    out: list[TranscriptMessage] = []
    for message in messages:
        if isinstance(message, ModelRequest):
            for request_part in message.parts:
                if isinstance(request_part, UserPromptPart) and isinstance(request_part.content, str):
                    out.append(
                        TranscriptMessage(speaker="shopper", at=request_part.timestamp, text=request_part.content)
                    )
        elif isinstance(message, ModelResponse):
            text = "\n\n".join(
                p.content.strip() for p in message.parts if isinstance(p, TextPart) and p.content.strip()
            )
            if text:
                out.append(TranscriptMessage(speaker="lumen", at=message.timestamp, text=text))
    return out


def _header(message: TranscriptMessage) -> str:
    who = SPEAKERS[message.speaker]
    return f"{who} · {message.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if message.at else who


def email_transcript(messages: Sequence[TranscriptMessage]) -> str:
    """Plain text: each message as a header line, then its text with every line quoted.

    `str.splitlines` splits on every line boundary a mail reader may honour (CR, LF, U+2028, U+2029, NEL, ...), so a
    shopper's "line" always lands behind the quote mark, under the shopper's header.
    """
    if not messages:
        return "(no messages)"
    return "\n\n".join(f"{_header(message)}\n{quoted(message.text)}" for message in messages)


def quoted(text: str) -> str:
    """Every line of `text` behind the quote mark (`str.splitlines` knows every line boundary a reader may honour)."""
    return "\n".join(f"{QUOTE}{line}".rstrip() for line in text.splitlines() or [""])
