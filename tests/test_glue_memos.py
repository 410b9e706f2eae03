"""The glue's memos write and record exactly what the work they save would have: dates and times written once per
day and minute, contacts read with the strings that cannot hold one skipped."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date, format_time
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelRequestPart,
    ModelResponse,
    ModelResponsePart,
    RetryFeedbackPart,
    RetryInfo,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_core import PydanticSerializationError
from sqlalchemy.dialects import sqlite

from agent import contacts
from agent.core import lumen_agent
from agent.persona import PersonaUpdate
from agent.service import Lumen
from config import Settings
from storage import database
from storage.database import UTCDateTime
from tools import views

LOCALES = ["en_US", "en_AU", "en_GB", "en_IN", "en_NZ", "de_DE", "fr_FR", "ja_JP", "ko_KR", "zh_Hant_TW", "ar_EG"]
ZONES = ["America/New_York", "Australia/Perth", "Europe/London", "Asia/Kolkata", "Pacific/Chatham", "UTC"]


def _babel(moment: datetime, timezone: str, locale: str) -> tuple[str, str, str]:
    """What `views._written` wrote before its memos: Babel asked for every moment."""
    local = moment.astimezone(ZoneInfo(timezone))
    return (
        local.isoformat(),
        format_date(local, "full", locale=locale),
        format_time(local, "short", locale=locale).replace("\u202f", " "),
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_moments_are_written_as_babel_writes_each(locale: str) -> None:
    rng = random.Random(locale)
    start = datetime(2025, 10, 20, tzinfo=UTC)  # across a change of summer time in both hemispheres
    moments = [start + timedelta(seconds=rng.randrange(0, 200 * 86400)) for _ in range(400)]
    moments += [m.replace(second=rng.randrange(60), microsecond=rng.randrange(10**6)) for m in moments[:100]]
    views._written.cache_clear()
    views._MINUTES.clear()
    for moment in moments:
        timezone = rng.choice(ZONES)
        assert views._written(moment, timezone, locale) == _babel(moment, timezone, locale), (moment, timezone)


def test_a_short_time_that_reads_more_than_the_minute_is_written_per_moment() -> None:
    assert views._minute_pattern("en_US") and views._minute_pattern("de_DE")
    assert not views._minute_pattern("zh_Hant_TW")  # 'Bh:mm': a day period, by Babel's own rules


def _contacts_without_prechecks(messages_json: str, state_json: str) -> set[tuple[str, str]]:
    """`contacts_in` as it read before its pre-checks: every string searched."""
    found: set[tuple[str, str]] = set()
    for message in json.loads(messages_json):
        for part in message.get("parts", []):
            kind = part.get("part_kind")
            value = part.get("args") if kind == "tool-call" else part.get("content")
            for text in contacts._strings(value):
                if kind in ("user-prompt", "tool-call"):
                    found |= {("email", e) for e in contacts.emails_in(text)}
                elif kind == "tool-return":
                    found |= {("order", gid) for gid in contacts._ORDER_GID.findall(text)}
    return found | contacts._state_contacts(json.loads(state_json))


def test_contacts_are_the_ones_every_string_searched_gives() -> None:
    rng = random.Random(3)
    words = ["ann@example.com", "Ann.B+x@Example.co.uk", "gid://shopify/Order/123", "gid://shopify/Order/9x", "@", "a@b",
             "x@y.z.", "gid://shopify/Order/", "order 55", "ünï@cödé.de", "see you", "gid://shopify/Customer/7"]  # fmt: skip

    def text() -> str:
        return " ".join(rng.choice(words) for _ in range(rng.randrange(0, 4)))

    def value(depth: int = 0) -> object:
        if depth > 2 or rng.random() < 0.4:
            return text()
        if rng.random() < 0.5:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {text() or "k": value(depth + 1) for _ in range(rng.randrange(3))}

    for _ in range(300):
        parts = [
            {"part_kind": "user-prompt", "content": text()},
            {"part_kind": "tool-call", "args": value()},
            {"part_kind": "tool-return", "content": value()},
            {"part_kind": "text", "content": text()},
        ]
        messages = json.dumps([{"parts": rng.sample(parts, k=rng.randrange(1, 5))}])
        state = json.dumps({"customer_id": None, "verified_ids": {}, "order_emails": {}})
        assert contacts.contacts_in(messages, state) == _contacts_without_prechecks(messages, state)


def test_utc_datetimes_are_bound_on_sqlite_as_sqlalchemy_binds_them() -> None:
    dialect = sqlite.dialect()
    sqlalchemy_way = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert sqlalchemy_way is not None and database._bind_processor(UTCDateTime(), dialect) is not sqlalchemy_way
    rng = random.Random(5)
    zones = [UTC, ZoneInfo("Australia/Perth"), ZoneInfo("America/St_Johns"), timezone(timedelta(hours=-3, minutes=-7))]
    for _ in range(2000):
        moment = datetime(1, 1, 2, tzinfo=UTC) + timedelta(microseconds=rng.randrange(3 * 10**17))
        if rng.random() < 0.2:
            moment = moment.replace(microsecond=0)
        local = moment.astimezone(rng.choice(zones))
        assert database._sqlite_utc_text(local) == sqlalchemy_way(local)
    assert database._sqlite_utc_text(None) is sqlalchemy_way(None) is None
    naive = datetime(2026, 12, 7, 9, 30)
    with pytest.raises(ValueError) as theirs:
        sqlalchemy_way(naive)
    with pytest.raises(ValueError) as ours:
        database._sqlite_utc_text(naive)
    assert str(ours.value) == str(theirs.value)


async def test_a_persona_changed_between_turns_is_the_next_turns() -> None:
    """The persona and voice kept from one turn to the next (`Lumen._voice_of`) give way to a changed persona."""
    lumen = await Lumen.create(Settings(lumen_database_url="sqlite:///:memory:", _env_file=None))
    try:
        seen: list[str] = []

        def spy(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            seen.append(info.instructions or "")
            return ModelResponse(parts=[TextPart("hello")])

        await lumen.chat("hi")
        first_voice = lumen.models._playbook
        await lumen.update_persona(PersonaUpdate(assistant_name="Pip"))
        await lumen.chat("hi again")
        assert first_voice is not None and lumen.models._playbook is not None
        assert first_voice[0].persona.assistant_name != "Pip"
        assert lumen.models._playbook[0].persona.assistant_name == "Pip"
        with lumen_agent.override(model=FunctionModel(spy)):
            await lumen.chat("and again")
        assert "You are Pip," in seen[0]
    finally:
        await lumen.close()


def test_contacts_of_messages_in_hand_are_the_ones_their_json_gives() -> None:
    """`contacts_of` reads the messages themselves where it can, `contacts_in` their JSON: the same contacts for
    every shape of part (a prompt in pieces, arguments as text, dates and tuples inside arguments, GIDs, escapes)."""
    rng = random.Random(11)
    words = ["ann@example.com", "Ann.B+x@Example.co.uk", "gid://shopify/Order/123", "@", "a@b", "x@y.z.", "see",
             "ünï@cödé.de", "gid://shopify/Customer/7", "back\\slash", "a/b", "\u0007bell", "order 55"]  # fmt: skip

    # Half the conversations without what sends the reading to the JSON (a GID's prefix, an escaped character).
    plain = [w for w in words if "gid:" not in w and "\u0007" not in w]
    pool = words

    def text() -> str:
        return " ".join(rng.choice(pool) for _ in range(rng.randrange(0, 4)))

    def value(depth: int = 0) -> object:
        roll = rng.random()
        if depth > 2 or roll < 0.4:
            return rng.choice([text(), text(), 7, 2.5, None, True])
        if roll < 0.45:
            return rng.choice([datetime(2026, 12, 7, tzinfo=UTC), (text(), text()), {text()}])
        if roll < 0.7:
            return [value(depth + 1) for _ in range(rng.randrange(3))]
        return {text() or "k": value(depth + 1) for _ in range(rng.randrange(3))}

    def args() -> object:
        return rng.choice(
            [{"q": value()}, json.dumps({"email": text()}), None, {"order_number": text(), "email": text()}]
        )

    def request_part() -> ModelRequestPart:
        return rng.choice(
            [
                UserPromptPart(text()),
                UserPromptPart([text(), text()]),
                ToolReturnPart("find_order", value(), tool_call_id="t"),
                RetryFeedbackPart(text(), retry=RetryInfo(cause="model_retry")),
            ]
        )

    def response_part() -> ModelResponsePart:
        return rng.choice([TextPart(text()), ToolCallPart("find_order", args(), tool_call_id="t")])  # type: ignore[arg-type]

    read_in_hand = 0
    for _ in range(600):
        pool = rng.choice([words, plain])
        messages: list[ModelMessage] = []
        for _ in range(rng.randrange(1, 5)):
            messages.append(ModelRequest(parts=[request_part() for _ in range(rng.randrange(1, 3))]))
            messages.append(ModelResponse(parts=[response_part() for _ in range(rng.randrange(1, 3))]))
        try:
            messages_json = ModelMessagesTypeAdapter.dump_json(messages)
        except PydanticSerializationError:
            continue  # a value pydantic cannot write is never stored
        state = json.dumps({"customer_id": None, "verified_ids": {"#1": "gid://shopify/Order/1"}, "order_emails": {}})
        assert contacts.contacts_of(messages, messages_json, state) == contacts.contacts_in(messages_json, state)
        read_in_hand += contacts._contacts_in_hand(messages, messages_json) is not None
    assert read_in_hand > 150  # the messages themselves were read, not only their JSON
