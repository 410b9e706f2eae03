"""Lumen as a service (`Lumen`): everything the server and the terminal chat ask of Lumen, and nothing about HTTP.

- conversations: one agent turn per shopper message (`chat`, `chat_stream`), kept on the server under a session id;
- the merchant's side: persona and settings, conversation and escalation listings, transcripts, stats;
- operations: `health`, `shop_name`, and `handle_webhook` (what a webhook does lives in `agent.webhooks`).

The server reaches nothing behind it: no route touches the database, the order source or the escalation service.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, EmailStr, Field
from pydantic_ai import AgentRunResult, AgentRunResultEvent, TextPart
from pydantic_ai.messages import (
    AgentStreamEvent,
    FunctionToolCallEvent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.usage import UsageLimits
from pydantic_core import to_jsonable_python

from agent import prompts, webhooks
from agent.connect import Connection, ShopifyConnection, connection_of
from agent.contacts import contacts_of
from agent.core import StreamGuard, lumen_agent, run_instructions
from agent.deps import Deps
from agent.masking import unmask_smtp_url
from agent.models import ModelChooser
from agent.persona import Persona, PersonaUpdate, default_persona
from agent.playbook.acts import shipped_model
from agent.playbook.voice import ShopVoice
from agent.webhooks import PendingPrivacyRequests, WebhookOutcome
from config import Settings
from outbox import Escalation, EscalationService, MailFrom, MailSettings, SmtpUrl
from shopify import FixtureStore, OrderSource
from shopify.domain import Shop
from shopify.source import OrderSourceError
from shopify.webhooks import Webhook
from storage import ConversationSummary, Database
from storage.conversations import TurnLease
from sync import BackfillResult, MirroredSource, OrderSync, OrderSyncStatus
from tools.context import Caller, SessionState
from tools.guard import AttemptGuard

log = logging.getLogger("lumen")

SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{22}$")
PERSONA_KEY = "persona"
MERCHANT_KEY = "merchant"
TURN_LIMITS = UsageLimits(request_limit=12)
# A model reads the recent part of a long conversation; the server keeps a bounded transcript. Verified orders live in
# the session state, so nothing a shopper proved is lost when old messages go.
MODEL_HISTORY_MESSAGES = 40
STORED_HISTORY_MESSAGES = 400
# Orders a shopper proved stay open to that conversation for this long after its last message.
VERIFIED_FOR = timedelta(hours=24)
DEFAULT_RETENTION_DAYS = 90


class UnknownSession(LookupError):
    """The session id is not one this server issued (or it was issued by another database)."""


class TooManyConversations(Exception):
    """This client started as many conversations as it may this hour (see tools.guard.Limits)."""


class MerchantSettings(BaseModel):
    """What a merchant changes in /admin besides the persona."""

    escalation_email: EmailStr | None = Field(None, description="Where hand-offs to the support team are emailed.")
    smtp_url: SmtpUrl = Field(None, max_length=500, description="smtp://user:pass@host:port (smtps:// for TLS).")
    mail_from: MailFrom = Field("lumen@localhost", max_length=200)
    verification_factors: list[Literal["email", "postal_code"]] = Field(
        default=["email", "postal_code"],  # pydantic copies a mutable default for each instance
        min_length=1,
        description="What, besides the order number, proves an order is the shopper's.",
    )
    retention_days: int = Field(
        DEFAULT_RETENTION_DAYS, ge=1, le=3650, description="Conversations idle this many days are deleted."
    )


def _blank_is_none(value: Any) -> Any:
    """An emptied field clears its setting: '' (or only spaces) from a form or an API client means none, like null;
    anything else is validated as a value."""
    if isinstance(value, str):
        return value.strip() or None
    return value


# Settings a merchant may take away again: blank or null clears them, with the same checks as setting them.
Clearable = BeforeValidator(_blank_is_none)


class MerchantSettingsUpdate(BaseModel):
    escalation_email: Annotated[EmailStr | None, Clearable] = None
    smtp_url: Annotated[SmtpUrl, Clearable] = Field(None, max_length=500)
    mail_from: MailFrom | None = Field(None, max_length=200)
    verification_factors: list[Literal["email", "postal_code"]] | None = Field(None, min_length=1)
    retention_days: int | None = Field(None, ge=1, le=3650)


class EscalationInfo(BaseModel):
    reference: str
    status: Literal["created", "already_created"]
    reply_to: str | None = None


class ChatTurn(BaseModel):
    session_id: str
    reply: str
    escalation: EscalationInfo | None = None
    model: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the order source (Shopify) cannot be read.")
    store: str | None
    model: str
    # Only when Lumen reads Shopify (a store file has no connection to show).
    connection: Connection | None = Field(
        None, description="The Shopify connection (never a token).", exclude_if=lambda value: value is None
    )
    order_sync: OrderSyncStatus = Field(
        default_factory=OrderSyncStatus,
        description="The order mirror: off (a store file, or LUMEN_ORDER_MIRROR off), backfilling or live.",
    )
    privacy_requests: PendingPrivacyRequests = Field(
        default_factory=PendingPrivacyRequests,
        description="Privacy requests (shop/redact) received and not carried out yet, tried again every hour.",
    )


class Stats(BaseModel):
    """Counts for the admin page. A conversation counts as escalated if flagged or if it has an escalation."""

    conversations: int
    verified_lookups: int
    escalations: int
    conversations_escalated: int
    answered_without_human: float
    # Shopify's privacy requests received and not carried out yet (the merchant may have to act: see its `reason`).
    privacy_requests: PendingPrivacyRequests = Field(default_factory=PendingPrivacyRequests)


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def _escalation_in(messages: list[ModelMessage]) -> EscalationInfo | None:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, ToolReturnPart) and part.tool_name == "escalate":
                    content = to_jsonable_python(part.content)
                    if isinstance(content, dict) and content.get("status") in ("created", "already_created"):
                        return EscalationInfo(
                            reference=content["reference"], status=content["status"], reply_to=content.get("reply_to")
                        )
    return None


def _status_of(event: AgentStreamEvent) -> str:
    """The shopper-facing line for a tool call that is starting ('' for any other event, or a tool without one)."""
    if not isinstance(event, FunctionToolCallEvent):
        return ""
    return str(prompts.toml("status.toml")["tools"].get(event.part.tool_name, ""))


def _without_instructions(message: ModelMessage) -> ModelMessage:
    """A request as stored: the instructions go (14-20 KB each, the same every turn; the agent writes them anew)."""
    if isinstance(message, ModelRequest) and message.instructions is not None:
        return replace(message, instructions=None)
    return message


def _last_prompt_at(messages: list[ModelMessage]) -> datetime | None:
    """When the shopper's last message so far was sent, by the clock that stamps messages (pydantic-ai's)."""
    stamps = [
        part.timestamp
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    ]
    return max(stamps, default=None)


def _recent(messages: list[ModelMessage], limit: int) -> list[ModelMessage]:
    """The last messages, at most `limit`, starting where a shopper's message starts (never mid tool call)."""
    if len(messages) <= limit:
        return messages
    for start in range(len(messages) - limit, len(messages)):
        message = messages[start]
        if isinstance(message, ModelRequest) and any(isinstance(p, UserPromptPart) for p in message.parts):
            return messages[start:]
    return []


@dataclass
class _Prepared:
    session_id: str
    history: list[ModelMessage]
    deps: Deps
    model: Any
    lease: TurnLease
    saved: bool = False


def _persona_of(stored: str | None) -> Persona:
    """The persona from its stored JSON (the default when unset)."""
    return Persona.model_validate_json(stored) if stored else default_persona()


PLAYBOOK_TURNS = 16  # the playbook's turns are CPU work: a few at a time keep each one short
LLM_TURNS = 256  # an LLM's turns mostly wait on the provider


def max_turns(settings: Settings) -> int:
    if settings.lumen_max_turns is not None:
        return settings.lumen_max_turns
    return PLAYBOOK_TURNS if settings.lumen_model == "playbook" else LLM_TURNS


class Lumen:
    def __init__(
        self,
        settings: Settings,
        source: OrderSource,
        db: Database,
        *,
        escalations: EscalationService | None = None,
    ) -> None:
        self.settings = settings
        self.source = source
        self.db = db
        self.escalations = escalations or EscalationService(db, self._mail_settings)
        self.guard = AttemptGuard(db)
        self.models = ModelChooser(settings)
        self.connection = ShopifyConnection(settings, db)
        self._retired: list[OrderSource] = []  # sources replaced by an install, closed with the service
        self._source_changed = asyncio.Event()  # the order mirror's loop follows the source to an installed shop
        # The in-process half of `_turn`; a lock lives only while someone holds or waits for it.
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._merchant_read: tuple[str | None, MerchantSettings] | None = None
        self._voice: tuple[tuple[Shop, str | None, date], Persona, ShopVoice] | None = None  # see `_voice_of`
        # Admission: past this many turns at once a worker shares its CPU so thinly that every turn misses its
        # shopper's patience (a Black Friday run answered 27%); queued in arrival order, turns finish one after
        # another, and webhooks and health checks, which take no slot, stay quick.
        self._slots = asyncio.Semaphore(max_turns(settings))

    @classmethod
    async def create(cls, settings: Settings, *, store: Path | None = None, source: OrderSource | None = None) -> Lumen:
        db = Database(
            settings.lumen_database_url,
            pool_size=settings.lumen_db_pool_size,
            max_overflow=settings.lumen_db_max_overflow,
        )
        await db.connect()
        connection = ShopifyConnection(settings, db)
        if source is None:
            # A store file given explicitly (`lumen chat --store`) wins over a configured Shopify store.
            source = FixtureStore(store, now=settings.lumen_now) if store else await connection.source()
        lumen = cls(settings, source, db)
        lumen.connection = connection
        # The playbook's act model is trained at first use (a second or so of CPU): here, beside the event loop, and
        # not in the first shoppers' turns, which would all wait for it.
        await asyncio.to_thread(shipped_model)
        return lumen

    async def close(self) -> None:
        # An email on its way gets the time one send may take (a terminal chat's loop only runs between turns).
        await self.escalations.aclose(grace_s=self.escalations.send_timeout_s)
        for source in (*self._retired, self.source):
            closer = getattr(source, "aclose", None)
            if closer is not None:
                await closer()
        await self.db.close()

    # --- merchant settings ---------------------------------------------------------------------------------------
    async def persona(self) -> Persona:
        stored = await self.db.get_setting(PERSONA_KEY)
        return Persona.model_validate(stored) if stored else default_persona()

    def _merchant_of(self, stored: str | None) -> MerchantSettings:
        """The merchant's settings from their stored JSON (the configured defaults when unset); the last one read is
        kept, as validating it (the email address, the SMTP URL) costs more than the rest of preparing a turn."""
        if self._merchant_read is not None and self._merchant_read[0] == stored:
            return self._merchant_read[1]
        if stored:
            merchant = MerchantSettings.model_validate_json(stored)
        else:
            merchant = MerchantSettings(
                escalation_email=self.settings.lumen_escalation_email,
                smtp_url=self.settings.lumen_smtp_url,
                mail_from=self.settings.lumen_mail_from,
            )
        self._merchant_read = (stored, merchant)
        return merchant

    async def update_persona(self, update: PersonaUpdate) -> Persona:
        persona = update.apply(await self.persona())
        await self.db.put_setting(PERSONA_KEY, persona.model_dump())
        return persona

    async def merchant_settings(self) -> MerchantSettings:
        stored = await self.db.get_setting(MERCHANT_KEY)
        if stored:
            return MerchantSettings.model_validate(stored)
        return self._merchant_of(None)

    async def update_merchant_settings(self, update: MerchantSettingsUpdate) -> MerchantSettings:
        """A partial update. Sending the masked SMTP URL back (the admin page does) keeps the stored password."""
        current = await self.merchant_settings()
        changes = update.model_dump(exclude_unset=True)
        if "smtp_url" in changes:
            changes["smtp_url"] = unmask_smtp_url(changes["smtp_url"], current.smtp_url)
        merged = current.model_dump() | changes
        settings = MerchantSettings.model_validate(merged)
        await self.db.put_setting(MERCHANT_KEY, settings.model_dump(mode="json"))
        return settings

    async def _mail_settings(self) -> MailSettings:
        merchant = await self.merchant_settings()
        shop = await self._shop()
        return MailSettings(
            smtp_url=merchant.smtp_url,
            escalation_email=str(merchant.escalation_email) if merchant.escalation_email else None,
            mail_from=merchant.mail_from,
            shop_name=shop.name,
        )

    # --- conversations -------------------------------------------------------------------------------------------
    async def _prepare(self, session_id: str | None, caller: Caller, lease: TurnLease | None) -> _Prepared:
        """The turn's history, state and dependencies, from what the lease read as it was taken."""
        row = lease.row if lease is not None else None
        if lease is None or row is None:
            raise UnknownSession(session_id)
        history: list[ModelMessage] = []
        state = SessionState()
        if session_id is not None:
            history = list(ModelMessagesTypeAdapter.validate_json(row.messages_json or "[]"))
            state = SessionState.model_validate_json(row.state_json) if row.state_json else SessionState()
            # A conversation left idle, or now used by someone else (another login, or none), proves nothing, and
            # neither does anything typed before: the shopper proves the order again in a new message.
            if self.db.clock() - row.updated_at > VERIFIED_FOR or state.customer_id != caller.customer_id:
                state.new_proof_epoch(_last_prompt_at(history))
        # Only a signed app-proxy request can say who is logged in; anything else clears it.
        state.customer_id = caller.customer_id
        shop, now = await self._shop(), self.source.now()
        persona, voice = self._voice_of(shop, lease.settings.get(PERSONA_KEY), now)
        merchant = self._merchant_of(lease.settings.get(MERCHANT_KEY))
        deps = Deps(
            source=self.source,
            session=state,
            conversation_id=lease.id,
            escalations=self.escalations,
            guard=self.guard,
            client_ip=caller.client_ip,
            proxy_shop=caller.proxy_shop,
            verification_factors=frozenset(merchant.verification_factors),
            shop=shop,
            now=now,
            persona=persona,
        )
        model = self.models.for_turn(voice)
        return _Prepared(lease.id, history, deps, model, lease)

    def _voice_of(self, shop: Shop, stored_persona: str | None, now: datetime) -> tuple[Persona, ShopVoice]:
        """The persona (from its stored JSON) and the shop's voice on the store's day (`Deps.today`): the last ones
        made while the shop, the stored persona and the day stay the same, as they do for every turn of a day. Both
        are read, never changed, by a turn."""
        today = now.astimezone(ZoneInfo(shop.timezone)).date()
        key = (shop, stored_persona, today)
        if self._voice is not None and self._voice[0] == key:
            return self._voice[1], self._voice[2]
        persona = _persona_of(stored_persona)
        voice = ShopVoice.of(shop, persona, today)
        self._voice = (key, persona, voice)
        return persona, voice

    async def _shop(self) -> Shop:
        try:
            return await self.source.shop()
        except OrderSourceError:
            return Shop(name="our store")

    @asynccontextmanager
    async def _turn(self, session_id: str | None, caller: Caller) -> AsyncIterator[TurnLease | None]:
        """One turn at a time per conversation, across every worker on this database (a lease in the database).

        Gives the lease, which holds the conversation as it was when the turn began (a new one, stored empty, when
        `session_id` is None: its id is the lease's, sent by the stream before the turn ends), or None for an id
        this server never issued. Turns of one process queue on an in-process lock first, so one of them at a time
        asks the database.
        """
        if session_id is None:
            # Each new conversation is stored: one client may start only so many an hour.
            if await self.guard.reserve(self.guard.conversation_keys(caller)) is None:
                raise TooManyConversations()
        elif not SESSION_ID.match(session_id):
            yield None  # an id `_prepare` refuses
            return
        turn_id = new_session_id() if session_id is None else session_id
        lock = self._locks.get(turn_id)
        if lock is None:
            lock = self._locks[turn_id] = asyncio.Lock()
        # The conversation's lock before a slot: requests piling onto one conversation wait without holding slots
        # that other shoppers' turns need.
        async with (
            lock,
            self._slots,
            self.db.conversation_turn(
                turn_id, create=session_id is None, read_settings=(PERSONA_KEY, MERCHANT_KEY)
            ) as lease,
        ):
            yield lease

    async def _save(self, prepared: _Prepared, messages: list[ModelMessage], model: str | None) -> None:
        """Store the turn and its contacts, and end the turn's lease: one transaction."""
        prepared.saved = True
        messages = [_without_instructions(m) for m in _recent(messages, STORED_HISTORY_MESSAGES)]
        state = prepared.deps.session
        messages_json, state_json = ModelMessagesTypeAdapter.dump_json(messages), state.model_dump_json()
        await self.db.save_turn(
            prepared.lease,
            contacts=contacts_of(messages, messages_json, state_json),
            messages_json=messages_json,
            state_json=state_json,
            verified_lookups=len(state.verified_orders),
            escalated=bool(state.escalations),
            model=model,
            customer_id=state.customer_id,
            message_count=len(messages),
        )

    def _failure_turn(self, prepared: _Prepared, message: str, exc: BaseException) -> tuple[list[ModelMessage], str]:
        # The conversation's id, never its content: the exception says what broke, the id where to look.
        log.exception("agent turn failed in conversation %s", prepared.session_id, exc_info=exc)
        reply = prompts.Replies("friendly").say("turn_failed")
        failed: list[ModelMessage] = [
            ModelRequest(parts=[UserPromptPart(message)]),
            ModelResponse(parts=[TextPart(reply)], model_name="error"),
        ]
        return [*prepared.history, *failed], reply

    async def _finish(self, prepared: _Prepared, result: AgentRunResult[str]) -> ChatTurn:
        """Store the turn and say what the shopper gets."""
        new = result.new_messages()
        model = result.response.model_name
        await self._save(prepared, [*prepared.history, *new], model)
        return ChatTurn(
            session_id=prepared.session_id, reply=result.output, escalation=_escalation_in(new), model=model
        )

    def _run_options(self, prepared: _Prepared) -> dict[str, Any]:
        return {
            "deps": prepared.deps,
            "instructions": run_instructions(prepared.deps),
            "message_history": _recent(prepared.history, MODEL_HISTORY_MESSAGES),
            "model": prepared.model,
            "model_settings": {"timeout": self.settings.lumen_model_timeout_s},
            "usage_limits": TURN_LIMITS,
        }

    async def chat(
        self,
        message: str,
        session_id: str | None = None,
        *,
        customer_id: str | None = None,
        client_ip: str | None = None,
        proxy_shop: str | None = None,
    ) -> ChatTurn:
        """One shopper message, answered. `proxy_shop`: the shop of a signed app-proxy request (no client address)."""
        caller = Caller(client_ip=client_ip, proxy_shop=proxy_shop, customer_id=customer_id)
        async with self._turn(session_id, caller) as lease:
            prepared = await self._prepare(session_id, caller, lease)
            try:
                result = await lumen_agent.run(message, **self._run_options(prepared))
            except Exception as exc:  # the shopper always gets an answer, and the turn is kept
                messages, reply = self._failure_turn(prepared, message, exc)
                await self._save(prepared, messages, "error")
                return ChatTurn(session_id=prepared.session_id, reply=reply)
            return await self._finish(prepared, result)

    async def chat_stream(
        self,
        message: str,
        session_id: str | None = None,
        *,
        customer_id: str | None = None,
        client_ip: str | None = None,
        proxy_shop: str | None = None,
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Events: {"type": "session"} first, {"type": "status", "text"} as a tool starts (what Lumen is doing),
        {"type": "delta", "text"} as text is written, then {"type": "done"}."""
        caller = Caller(client_ip=client_ip, proxy_shop=proxy_shop, customer_id=customer_id)
        async with self._turn(session_id, caller) as lease:
            prepared = await self._prepare(session_id, caller, lease)
            yield {"type": "session", "session_id": prepared.session_id}
            try:
                options = self._run_options(prepared)
                # Only text that has passed the grounding guard reaches the widget; a rejected draft never does.
                guard = StreamGuard(prepared.deps, options["message_history"], message)
                async with lumen_agent.run_stream_events(message, **options) as events:
                    async for event in events:
                        if isinstance(event, AgentRunResultEvent):
                            if rest := guard.finish(event.result.output):
                                yield {"type": "delta", "text": rest}
                            turn = await self._finish(prepared, event.result)
                            yield {"type": "done", **turn.model_dump(mode="json")}
                        elif status := _status_of(event):
                            yield {"type": "status", "text": status}
                        elif text := guard.feed(event):
                            yield {"type": "delta", "text": text}
            except Exception as exc:
                messages, reply = self._failure_turn(prepared, message, exc)
                await self._save(prepared, messages, "error")
                yield {"type": "done", **ChatTurn(session_id=prepared.session_id, reply=reply).model_dump(mode="json")}
            finally:
                if not prepared.saved:
                    # The client went away mid-turn: keep what the tools recorded (attempts, proved orders) anyway.
                    await asyncio.shield(self._save(prepared, prepared.history, "interrupted"))

    async def transcript(self, session_id: str) -> dict[str, Any] | None:
        """A conversation for the merchant: every message, tool calls and results included."""
        row = await self.db.get_conversation(session_id)
        if row is None:
            return None
        messages = ModelMessagesTypeAdapter.validate_json(row.messages_json or "[]")
        return {
            "id": row.id,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
            "escalated": row.escalated,
            "verified_lookups": row.verified_lookups,
            "model": row.model,
            "messages": to_jsonable_python(messages),
        }

    # --- the merchant's listings -----------------------------------------------------------------------------------
    async def list_conversations(self, *, limit: int = 50, offset: int = 0) -> list[ConversationSummary]:
        """Most recently active first."""
        return await self.db.list_conversations(limit=limit, offset=offset)

    async def list_escalations(self, *, limit: int = 100, offset: int = 0) -> list[Escalation]:
        """Newest first."""
        return await self.escalations.list_escalations(limit=limit, offset=offset)

    async def resend_escalation(self, id: str) -> Escalation | None:
        """Email it now (again): None if unknown; `outbox.EscalationBusy` while it is being sent."""
        return await self.escalations.resend(id)

    async def cancel_escalation(self, id: str) -> Escalation | None:
        """Never email it: None if unknown; `outbox.EscalationBusy` if it is sent or being sent."""
        return await self.escalations.cancel(id)

    async def stats(self) -> Stats:
        pending = await webhooks.pending_privacy_requests(self.db)
        return Stats.model_validate({**await self.db.stats(), "privacy_requests": pending})

    # --- operations ----------------------------------------------------------------------------------------------
    async def run_outbox(self, interval_s: float) -> None:
        """Deliver pending escalation emails every `interval_s` seconds until cancelled (the server's lifespan)."""
        await self.escalations.run_outbox(interval_s=interval_s)

    async def apply_retention(self) -> int:
        """Delete the conversations idle longer than the merchant's retention period; how many went."""
        days = (await self.merchant_settings()).retention_days
        return await self.db.forget_before(self.db.clock() - timedelta(days=days))

    async def run_retention(self, interval_s: float) -> None:
        """Apply the retention period every `interval_s` seconds until cancelled (the server's lifespan)."""
        while True:
            current = asyncio.ensure_future(self._retention_round(interval_s))
            try:
                await asyncio.shield(current)
            except asyncio.CancelledError:
                await current  # a shutdown lets the statement under way finish: the database is closed next
                raise
            await asyncio.sleep(interval_s)

    async def _retention_round(self, interval_s: float) -> None:
        try:
            await self.apply_retention()
            await self.db.prune_webhook_events()  # webhook dedupe rows past every retry (storage.webhooks)
        except Exception:  # a database hiccup: the next round tries again
            log.exception("retention round failed; trying again in %s s", interval_s)
        try:
            # A shop/redact that could not be judged when it came (the first round runs as the server starts: a
            # restored LUMEN_SECRET_KEY needs a restart, and the request is carried out then).
            await self.retry_privacy_requests()
        except Exception:
            log.exception("retrying the pending privacy requests failed; trying again in %s s", interval_s)

    async def retry_privacy_requests(self) -> WebhookOutcome | None:
        """Judge again the shop/redact deliveries that could not be judged when they came (see agent.webhooks)."""
        return await webhooks.retry_shop_redact(self.db, self.source)

    async def shop_name(self) -> str | None:
        """The shop's name; None when the order source cannot be read."""
        try:
            return (await self.source.shop()).name
        except OrderSourceError:
            return None

    async def health(self) -> Health:
        name = await self.shop_name()
        status = "ok" if name is not None else "degraded"
        connection = self.connection_info()
        shown = connection if connection.source == "shopify" else None
        return Health(
            status=status,
            store=name,
            model=self.settings.lumen_model,
            connection=shown,
            order_sync=await self.order_sync_status(),
            privacy_requests=await webhooks.pending_privacy_requests(self.db),
        )

    # --- the order mirror (sync/) ------------------------------------------------------------------------------------
    @property
    def order_sync(self) -> OrderSync | None:
        """The mirror's sync when lookups are answered from the mirror; None for a store file or the mirror off."""
        return self.source.sync if isinstance(self.source, MirroredSource) else None

    async def order_sync_status(self) -> OrderSyncStatus:
        sync = self.order_sync
        return await sync.status() if sync is not None else OrderSyncStatus()

    async def sync_orders(self) -> BackfillResult | None:
        """Backfill the mirror now (`lumen sync`); None if another worker is doing it. ValueError without a mirror."""
        sync = self.order_sync
        if sync is None:
            raise ValueError("the order mirror is off: configure Shopify (and leave LUMEN_ORDER_MIRROR on)")
        return await sync.backfill()

    async def run_sync(self) -> None:
        """Keep the order mirror filled and fresh until cancelled (the server's lifespan); idle without a mirror.
        When an install replaces the source, the new source's mirror takes over."""
        while True:
            self._source_changed.clear()
            sync = self.order_sync
            changed = asyncio.ensure_future(self._source_changed.wait())
            work = asyncio.ensure_future(sync.run()) if sync is not None else None
            tasks = {changed, *([work] if work else [])}
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in tasks:
                    task.cancel()
                # Waits for them without taking on their CancelledError: this task's own cancellation (the server
                # stopping) must not be swallowed on the way.
                await asyncio.wait(tasks)
            if work is not None and work.done() and not work.cancelled() and work.exception() is not None:
                log.error("the order mirror stopped", exc_info=work.exception())
                return

    # --- the Shopify connection (agent.connect) ----------------------------------------------------------------------
    def connection_info(self) -> Connection:
        """For the merchant: shop, scopes, token expiry, last call and errors. Never a token."""
        return connection_of(self.source, self.connection.grant, self.connection.install_ready)

    async def check_connection(self) -> Connection:
        """Ask Shopify again who we are and what we may read, then describe the connection."""
        check = getattr(self.source, "check", None)
        if check is not None:
            await check()
        return self.connection_info()

    async def begin_install(self, query: list[tuple[str, str]]) -> str:
        """Shopify's consent screen for the shop in the install request (shopify.auth.InvalidOAuthRequest if not)."""
        return await self.connection.begin_install(query)

    async def complete_install(self, query: list[tuple[str, str]]) -> str:
        """Finish the install, then answer from the installed shop at once (no restart)."""
        shop = await self.connection.complete_install(query)
        # The old source may be serving a turn right now: it is closed with the service, not here.
        self._retired.append(self.source)
        self.source = await self.connection.source()
        self._source_changed.set()
        return shop

    def serves_shop(self, shop_domain: str) -> bool:
        """False for another shop's request. One app secret can serve several shops; a Lumen configured for one
        `*.myshopify.com` shop answers that shop only."""
        ours = self.settings.shopify_shop
        if not ours or not ours.endswith(".myshopify.com"):
            return True
        return shop_domain.strip().lower() == ours.lower()

    async def handle_webhook(self, delivery: Webhook) -> WebhookOutcome:
        """A verified Shopify webhook: drop stale cached orders, or answer a privacy request (see agent.webhooks)."""
        return await webhooks.handle_webhook(
            self.db, self.source, serves_shop=self.serves_shop, delivery=delivery, now=self.db.clock()
        )
