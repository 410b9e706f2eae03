"""The playbook model: a real pydantic-ai model (a `FunctionModel`) that needs no LLM.

Each time the agent asks it for a response it reads the whole conversation, works out where the dialogue stands
(what was asked, what was verified, what was offered) from the shopper's words and the earlier tool results, then
either calls one of the same tools an LLM would, or writes the reply from this turn's tool results through the
templates in `prompts/replies.toml`. It knows no store, order, carrier or customer in advance.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from copy import copy
from dataclasses import dataclass, field, fields, replace
from datetime import date
from functools import lru_cache
from typing import Any

from babel import Locale
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel
from pydantic_core import to_jsonable_python

from agent import prompts
from agent.calendar_words import WEEKDAYS
from agent.dates_said import Deadline, deadline_named
from agent.playbook.acts import THRESHOLD, Act, negated_spans, read_acts, read_acts_together
from agent.playbook.after_status import after_status_answer, heard_after_status, where_now_asked
from agent.playbook.change_of_mind import person_asked
from agent.playbook.compose import Answer, Composer, indefinite_article, one_full_stop
from agent.playbook.deadline import deadline_answer, refund_gap_answer, refund_gap_asked, refunded_in_full
from agent.playbook.follow_ups import (
    asks_after_answering,
    asks_question,
    asks_what_next,
    asks_where_to_collect,
    offer_words,
    picked_by_state,
    restates_offer,
    stages,
)
from agent.playbook.instructions import instructs_lumen, names_own_order
from agent.playbook.offers import cases_said, handed_over, offer_left
from agent.playbook.order_change import order_change_asked
from agent.playbook.own_orders import (
    all_orders_asked,
    may_name_own_item,
    order_named_by_state,
    own_item_asked,
    own_orders_asked,
)
from agent.playbook.physical_check import physical_check_asked
from agent.playbook.service_change import service_change_asked
from agent.playbook.understand import (
    EMAIL,
    ITEM_PROBLEMS,
    ORDER_ACTS,
    POLICY_QUESTION,
    REQUESTS,
    UNSURE,
    Awaiting,
    Details,
    Intent,
    address_change_asked,
    dates_named,
    emails_by_order,
    firm_yes,
    foreign_shop,
    identity_asked,
    is_correction,
    item_words_named,
    items_as_the_order,
    names_item,
    names_no_other_shop,
    offer_answer,
    order_numbers,
    other_order_asked,
    policy_question,
    position_named,
    recency_named,
    retailer_word,
    second_thoughts,
    shop_compared,
    shop_of_foreign_number,
    spoken_emails_typed,
    spoken_numbers_typed,
    subject_as_the_order,
    unseen_asked,
    words_beside_email,
    words_only,
)
from agent.playbook.understand import detect_intent as _detect_intent
from agent.playbook.understand import extract_details as _extract_details
from agent.playbook.voice import ShopVoice
from shopify.names import NameFormat, fits_postal_code, normalize_postal_code, order_name_matches, order_name_parts
from tools.escalate import EscalationResult
from tools.find_order import FindOrderResult
from tools.list_fulfillments import FulfillmentsResult
from tools.views import OrderOverview

PLAYBOOK_NAME = "playbook"


_RETRY_FEEDBACK = re.compile(r"<(retry_feedback|validation_errors)>")
# Worries voiced while Lumen still collects details ("it says delivered but...", "I lost my number"): kept until
# the order is found, then answered.
_NEEDS_ORDER: tuple[Act, ...] = (
    "delivered_not_received",
    "ship_when",
    "lost_number",
    "no_email_access",
    "status_meaning",
)
_CONCERNS: frozenset[Act] = frozenset(_NEEDS_ORDER + REQUESTS + ITEM_PROBLEMS)
# The team's reason for each request or problem Lumen offers to hand over (the escalate tool's fixed reasons).
_REASONS: dict[str, str] = {"cancel_request": "cancellation_request", "missing_tracking": "missing_tracking"}
# Worries that change how the order is proved (no email to give, no number): heard in any clause of a message.
_PROOF_ROUTES: frozenset[Act] = frozenset(("no_email_access", "lost_number"))


@dataclass
class Call:
    name: str
    args: dict[str, Any]
    result: Any = None


@dataclass
class Turn:
    user: str
    calls: list[Call] = field(default_factory=list)
    reply: str | None = None  # what Lumen answered this turn, once it has

    def last(self, name: str) -> Any:
        for call in reversed(self.calls):
            if call.name == name and call.result is not None:
                return call.result
        return None


@dataclass
class State:
    awaiting: Awaiting = None
    offer: str | None = None
    offer_asked: bool = False  # the offer was a direct question, so a plain "ok" accepts it
    offer_order: str | None = None
    order_number: str | None = None
    email: str | None = None
    postal_code: str | None = None
    current_order: str | None = None
    pending_reason: str | None = None
    pending_summary: str | None = None  # what the team was to be told, kept while Lumen asks for a reply address
    escalations: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # order ('' for none) -> (reference, reply-to)
    # What the shopper said they worry about while we were still collecting details ("it says delivered but...").
    concerns: frozenset[Act] = frozenset()
    # The orders last listed for the shopper to choose from: (order number, item names a line each, ISO time placed).
    choices: tuple[tuple[str, str, str], ...] = ()
    asked_why: bool = False  # "why was it cancelled?" asked before the order was found
    no_handoff: bool = False  # the shopper asked not to be passed on: no escalation, no offer of one
    orders: tuple[str, ...] = ()  # several order numbers in one message, answered together
    order_emails: tuple[tuple[str, str], ...] = ()  # each of those orders' own email, when the message gave one each
    offer_topic: str | None = None  # what the offer is about (a request or problem), for the team's summary
    failed: frozenset[str] = frozenset()  # lookups that found nothing: never re-run with the same details
    status_shown: bool = False  # the last reply gave an order's status (so "nothing has changed" can be true)
    country: str | None = None  # the shop's country: a code its postal codes never have is not read as one
    deadline: Deadline | None = None  # the day the shopper needs the order by ("by Christmas"), until answered
    refund_gap: bool = False  # the shopper says a refund fell short ("where's the other $40?"), until answered
    # What the shopper wrote while Lumen collected the details ("boots are late, just refund me", then the number):
    # read again once the order is proved (`_request_and_parcel`), then forgotten.
    heard: tuple[str, ...] = ()
    name_format: NameFormat | None = None  # how the shop writes its order names: other letters are no part of one
    # The offer the shopper just said no to (offer, topic, order), for one turn: "actually wait, yes" takes it up.
    declined: tuple[str, str | None, str | None] | None = None
    # The other offers the last reply made beside `offer`, one per order (offer, topic, order): a reply about several
    # orders, each with something for the team ("7301 came broken and I want to cancel 7305"). A yes takes up all.
    more_offers: tuple[tuple[str, str | None, str], ...] = ()
    # What the open offer says the team would do, as content words: "get me the tracking" asks for just that.
    offer_words: frozenset[str] = frozenset()
    # Where each listed order stands (number, stage), beside `choices`: "the one that's not here yet" picks by it.
    choice_stages: tuple[tuple[str, str], ...] = ()


_STATE_FIELDS = frozenset(f.name for f in fields(State))


def _changed(state: State, **changes: Any) -> State:
    """`dataclasses.replace(state, **changes)` at a fifth of the cost (it builds every field's keyword and calls
    `__init__`; a turn copies its State a dozen times): State is a plain dataclass, no `__post_init__`, InitVar,
    init=False field or slots, so a copy of its fields with `changes` set is the same State
    (tests/test_playbook_state_copy.py)."""
    if not changes.keys() <= _STATE_FIELDS:
        raise TypeError(f"State has no field {sorted(changes.keys() - _STATE_FIELDS)}")
    new = object.__new__(State)
    new.__dict__.update(state.__dict__, **changes)
    return new


@dataclass
class ToolStep:
    name: str
    args: dict[str, Any]


@dataclass
class ReplyStep:
    text: str
    state: State


def split_turns(messages: list[ModelMessage]) -> list[Turn]:
    turns: list[Turn] = []
    by_id: dict[str, Call] = {}
    for message in messages:
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content if isinstance(part.content, str) else " ".join(map(str, part.content))
                    if _RETRY_FEEDBACK.search(content):
                        # The agent's own retry feedback, as models receive it: not words the shopper typed.
                        continue
                    # An address or a number said aloud ("jo dot lee at example dot com", "seven two oh nine"): typed.
                    turns.append(Turn(user=spoken_numbers_typed(spoken_emails_typed(content))))
                elif isinstance(part, ToolReturnPart) and part.tool_call_id in by_id:
                    by_id[part.tool_call_id].result = to_jsonable_python(part.content)
        elif isinstance(message, ModelResponse) and turns:
            for response_part in message.parts:
                if isinstance(response_part, ToolCallPart):
                    call = Call(response_part.tool_name, response_part.args_as_dict())
                    by_id[response_part.tool_call_id] = call
                    turns[-1].calls.append(call)
                elif isinstance(response_part, TextPart) and response_part.content.strip():
                    turns[-1].reply = response_part.content
    return turns


# Every model request replays the conversation, so each message is read many times: read it once, hand out copies.
@lru_cache(maxsize=4096)
def _read_details(
    text: str, awaiting: Awaiting, country: str | None = None, name_format: NameFormat | None = None
) -> Details:
    return _extract_details(text, awaiting, country, name_format)


@lru_cache(maxsize=4096)
def _read_intent(text: str) -> Intent:
    _read_clauses_together(text)
    return _detect_intent(text)


def extract_details(
    text: str, awaiting: Awaiting, country: str | None = None, name_format: NameFormat | None = None
) -> Details:
    return copy(_read_details(text, awaiting, country, name_format))


def detect_intent(text: str) -> Intent:
    return copy(_read_intent(text))


def _choose(
    choices: tuple[tuple[str, str, str], ...], text: str, ordinal: int | None, *, loose: bool = True
) -> str | None:
    """Which listed order the shopper means: by position ("the second one", "3"), by age ("the latest"), by what was
    in it ("the one with the boots"), or by the day it was placed ("March 16", "16/03", "the one from Tuesday").
    Not `loose`: by what was in it only (a date in a later message is more likely about the delivery)."""
    if not loose:
        return _by_item(choices, text)
    position = ordinal if ordinal is not None else position_named(text)
    if position is not None and -len(choices) <= (position - 1 if position > 0 else position) < len(choices):
        return choices[position - 1 if position > 0 else position][0]
    recency = recency_named(text)
    if recency is not None:
        newest_first = sorted(choices, key=lambda c: c[2], reverse=True)
        return (newest_first[0] if recency == "newest" else newest_first[-1])[0]
    by_item = _by_item(choices, text)
    if by_item is not None:
        return by_item
    days = dates_named(text)
    lowered = text.lower()
    for matches in (
        lambda placed: (placed.month, placed.day) in days or (None, placed.day) in days,
        lambda placed: WEEKDAYS[placed.weekday()] in lowered,
    ):
        picked = [c[0] for c in choices if matches(date.fromisoformat(c[2][:10]))]
        if len(picked) == 1:
            return picked[0]
    return None


def _by_item(choices: tuple[tuple[str, str, str], ...], text: str) -> str | None:
    """The one listed order whose item the message names most fully ("the spot gel" of a Spot Gel and an Aloe Gel);
    None when none is named or two are named as fully."""
    named = {c[0]: max(item_words_named(name, text) for name in c[1].split("\n")) for c in choices}
    most = max(named.values(), default=0)
    best = [number for number, count in named.items() if count == most]
    return best[0] if most and len(best) == 1 else None


def _details(text: str, state: State) -> Details:
    """The details in one message, read against what Lumen asked for; the order number typed again when Lumen asked
    for the postcode is that number, not a postcode."""
    details = extract_details(text, state.awaiting, state.country, state.name_format)
    known = state.order_number or state.current_order
    if details.postal_code and known and normalize_postal_code(details.postal_code) == re.sub(r"\D", "", known):
        details.postal_code = None
    if state.choices and not details.order_number:
        details.order_number = _picked(state, text)
    if state.awaiting == "factor" and not details.order_number and _number_not_postcode(details.postal_code, state):
        # "6115" when asked for the email (after "I lost my number", or an opener misread as one): no postcode of the
        # shop's country, so the order's number, found again; never a detail left unread.
        details.order_number, details.postal_code = details.postal_code, None
    return details


def _gives_details(text: str, state: State) -> bool:
    details = _details(text, state)
    return bool(details.order_number or details.email or details.postal_code)


def _number_not_postcode(code: str | None, state: State) -> bool:
    """Whether a plain number read as the postcode is the order's number: Lumen knows no order number yet and asked
    for the email first (no number is one), and it fits no postal code of the shop's country (its country known). With
    the number known, or the email given, a postcode was asked, and one abroad may have any shape ("98103" to a
    Canadian shop's American shopper)."""
    if code is None or not code.strip().lstrip("#").isdigit() or fits_postal_code(code, state.country) is not False:
        return False
    return not (state.order_number or state.current_order or state.email)


def _intent(text: str, state: State) -> Intent:
    """What one message does, read against the dialogue: an answer to "which one?" is a choice, and what else the
    reader guesses in it without confidence ("the most recent one please" as a replacement) is noise."""
    intent = _bare_topic(_own_orders(detect_intent(text), text), text)
    if _changes_mind_to_person(intent, text, state):
        # "Actually, ye know what, aye get someone on it" after "no tickets please": the latest word counts.
        return replace(intent, acts=(intent.acts - {"no_human", "decline"}) | {"ask_human"})
    not_passed_on = _no_handoff_but_asks(intent, text)
    if not_passed_on is not None:
        return not_passed_on
    if state.current_order and not (intent.order_related or intent.human) and service_change_asked(text):
        # "Can you tell UPS to just leave it at the door next time": a request about the order shown, whatever the
        # reader made of the words it borrows ("leave it" is a no elsewhere); the order's answer says what Lumen can't.
        return replace(intent, acts=frozenset({"package_followup"}), sure=intent.sure - {"decline", "out_of_scope"})
    if state.awaiting == "escalation_offer":
        # An open offer is a question: any wording of yes or no answers it ("oui please", "actually nvm, it's fine").
        answer = offer_answer(text)
        if answer == "no" and not intent.human:
            return replace(intent, acts=frozenset({"decline"}), sure=frozenset({"decline"}))
        # A firm yes ("keen", "yes please") takes up an offer made in passing too, however the reader heard it (a
        # "keen" read as an "ok"); a weaker one ("ok", a thumbs-up) only an offer asked as a question.
        firm = answer == "yes" and firm_yes(text)
        if firm or (answer == "yes" and not intent.has("accept", "acknowledge", "decline")):
            accepted: frozenset[Act] = frozenset({"accept"})
            sure = (intent.sure - intent.acts) | (accepted if firm else frozenset())
            return replace(intent, acts=accepted, sure=sure)
    if _presses_about_order(intent, text, state):
        # "Ok but WHY is it on hold? Tell me what your system says": a shopper pressing about their own order, with
        # no word of Lumen's rules or of others' orders, is no attack on the assistant.
        asked: frozenset[Act] = frozenset({"package_followup" if state.current_order else "where_is_order"})
        return replace(intent, acts=(intent.acts - {"injection"}) | asked, sure=intent.sure - {"injection"})
    follow_up = _about_order_shown(intent, text, state)
    if follow_up is not None:
        return follow_up
    if state.awaiting == "which_order" and state.choices and _pick_listed(state, text, intent.ordinal):
        return replace(intent, acts=intent.sure)
    if state.awaiting in ("factor", "retry") and is_correction(text):
        # "Sorry, wrong one: AB-7310" while Lumen asks for proof corrects the number; it reports no wrong item.
        details = extract_details(text, state.awaiting, state.country, state.name_format)
        if details.order_number and details.order_number != state.order_number:
            return replace(intent, acts=intent.sure | {"give_details"})
    if intent.acts <= _STATUS_ASKS | {"delivered_not_received"}:
        # "Where is QRS-7315-IE and can I return it?": a message read as a status question alone may hide a request
        # its details and the question drowned; a request a clause makes on its own is heard too (unless the
        # shopper said they don't want it). Only then: beside another act (a parcel not received) the reading
        # already heard what the message is about. A parcel said not to have come is a status question too ("it says
        # delivered, never got it, can I get a refund?"), but only the shopper's own lines make requests there.
        own = _own_lines(text)
        asked = (_clause_requests(own) | _clause_cues(own)) - intent.negated
        if not address_change_asked(text, 0.0):
            asked -= {"change_address"}  # the address named, no change asked: "my address is fine!"
        if asked:
            return intent.plus(asked)
    return intent


def _about_order_shown(intent: Intent, text: str, state: State) -> Intent | None:
    """A question just after an order's status that is about that order (its reason, what comes next, where to
    collect it, a fault, a broken tracking link, something Lumen can't do: `heard_after_status`), however the reader
    heard it; or None."""
    if not state.current_order:
        return None
    heard = heard_after_status(intent, text)
    if heard is not None:
        return heard
    about_shop: frozenset[Act] = frozenset({"out_of_scope", "policy_question"})
    if intent.asks_why and intent.has(*about_shop):
        # "What's the reason for the delay?" just after an order's status asks about that order, not the shop.
        return replace(intent, acts=(intent.acts - about_shop) | {"package_followup"})
    if intent.has(*about_shop) and unseen_asked(text):
        # "What time will the courier come?" just after an order's status asks about that order, not the shop.
        return replace(intent, acts=(intent.acts - about_shop) | {"package_followup"})
    if asks_where_to_collect(text) and not (intent.request or intent.item_problem):
        # "Where do I pick it up?" after a status that said it waits somewhere: the place it waits (and what the
        # status means, when that is asked too: "ready for pickup - so where do I have to go?").
        asked: frozenset[Act] = frozenset({"package_followup"})
        if intent.has("status_meaning"):
            asked = frozenset({"package_followup", "status_meaning"})
        return replace(intent, acts=asked, focus="collect")
    if _asks_what_next(intent, text):
        # "What happens now, do they try again?" just after an order's status asks what comes next for that order.
        return replace(intent, acts=frozenset({"package_followup"}), focus="next")
    if intent.asked and not intent.order_related:
        # "what does left with neighbour mean" just after a status asks about the words Lumen just gave (a carrier's
        # note), unquoted, however unsure the reader is of it: the meaning answer finds them in the carrier's updates.
        return replace(intent, acts=frozenset({"status_meaning"}))
    if _question_after_ok(intent, text, state):
        # "ok when now?" just after a status asks about that order: the "ok" is no closing.
        return replace(intent, acts=frozenset({"package_followup"}))
    return None


_OK_OR_THANKS: frozenset[Act] = frozenset(("acknowledge", "thanks"))


def _question_after_ok(intent: Intent, text: str, state: State) -> bool:
    """Whether a message the reader heard as an "ok" or a thanks alone goes on to ask about the order just shown, what
    of it (when, which carrier) or why; an offer asked as a question is answered by the offer's own reading."""
    if not intent.acts or not intent.acts <= _OK_OR_THANKS or (state.offer_asked and state.awaiting):
        return False
    return (intent.focus is not None or intent.asks_why) and asks_after_answering(text)


_NOT_ABOUT_ORDER: frozenset[Act] = frozenset(("out_of_scope", "policy_question", "acknowledge"))


def _asks_what_next(intent: Intent, text: str) -> bool:
    """Whether a message the reader heard as nothing about the order (off topic, the shop's policy, an "ok so") asks
    what happens next with the parcel (`asks_what_next`); a question about returns or cancelling stays the shop's
    ("what happens if I send it back?")."""
    if not intent.acts or not intent.acts <= _NOT_ABOUT_ORDER or intent.thanks or intent.goodbye:
        return False
    return asks_what_next(text) and not policy_question(text).topics & {"returns", "cancelling"}


def _asks_where(text: str, intent: Intent) -> bool:
    """ "Where do I pick it up from then?": a question of where, about the order, with no problem or request in it."""
    asked = not (intent.not_received or intent.request or intent.item_problem or intent.asks_why)
    return asked and re.search(r"\bwhere(?:'?s|abouts)?\b", text, re.IGNORECASE) is not None


def _no_handoff_but_asks(intent: Intent, text: str) -> Intent | None:
    """ "No need to pass me on, just want the eta", "don't escalate, just tell me where it is": the shopper asks not to
    be passed on and, in another clause, asks about the order; the whole message's reading hears only the first. Both
    are heard: no hand-off, and the question answered (an offer still open is declined by it)."""
    if not (intent.no_human or "no_human" in _clause_acts(text)) or intent.human or intent.order_related:
        return None
    # A question clause about the order, or what it asks for named after "just" ("just the tracking number").
    focused = intent.focus in ("eta", "carrier") and _ASKS_ONLY.search(text)
    if not (_asks_status(text) or focused):
        return None
    return replace(intent, acts=intent.acts | {"no_human", "where_is_order"})


_ASKS_ONLY = re.compile(r"\?|\b(?:just|only|tell me|give me|send me)\b", re.IGNORECASE)


def _changes_mind_to_person(intent: Intent, text: str, state: State) -> bool:
    """Whether the shopper, with no offer open, asks for a person in words the whole message's reading drowns
    ("actually, ye know what, aye get someone on it"): after an order was shown, or after they asked not to be passed
    on (a later request overrides an earlier refusal), a clause asking for a person or a change of mind said with a
    yes and nothing else."""
    if intent.human or intent.no_human or state.awaiting == "escalation_offer":
        return False
    if not (state.no_handoff or state.current_order):
        return False
    changed = state.no_handoff and second_thoughts(text) and intent.acts <= _ONLY_YES | {"acknowledge"}
    return changed or person_asked(text)


def _presses_about_order(intent: Intent, text: str, state: State) -> bool:
    """Whether a message read as an attack on the assistant only asks about the shopper's own order: no word of
    Lumen's rules, role or access or of other people's orders (`agent/playbook/instructions.py`), and a question about
    the order (why, a status it names, what of it) or, after an order was shown, words for it ("it", "mine")."""
    if not intent.has("injection") or instructs_lumen(text):
        return False
    about = intent.asks_why or bool(intent.statuses) or intent.focus is not None or _asks_status(text)
    return about or (state.current_order is not None and names_own_order(text))


def _bare_topic(intent: Intent, text: str) -> Intent:
    """ "order", "parcel?", "Orders.": one word alone names what the shopper wants to talk about, their own; the reader,
    unsure of a word with nothing round it (it hears "order" as a lost order number), reads it as the shopper's own
    ("my order"), and a sure question about the order from that is what the word asks."""
    words = re.findall(r"[^\W\d_]+", text)
    if len(words) != 1 or re.search(r"\d", text) or intent.sure:
        return intent
    reading = read_acts(f"my {words[0]}")
    if reading.top != "where_is_order" or reading.probabilities[reading.top] < THRESHOLD:
        return intent
    return replace(intent, acts=frozenset({"where_is_order"}))


def _own_orders(intent: Intent, text: str) -> Intent:
    """ "What orders have I got on the go?" or "what happened to the cancelled one?" asks about the shopper's own
    orders in any wording: an order question (a logged-in customer's are listed by find_order), not the policy,
    off-topic or greeting the reader may hear."""
    asked_own = own_orders_asked(text) or order_named_by_state(text) or all_orders_asked(text, alone=False)
    if intent.order_related or not asked_own:
        return intent
    asked: frozenset[Act] = frozenset({"where_is_order"})
    return replace(intent, acts=(intent.acts - {"policy_question", "out_of_scope"}) | asked)


# Every model request of a turn reads the same message again: its order numbers are read once.
@lru_cache(maxsize=4096)
def _order_numbers(text: str, postal_code: str | None, name_format: NameFormat | None) -> tuple[str, ...]:
    return tuple(order_numbers(text, postal_code, name_format))


def _picked(state: State, text: str) -> str | None:
    """The listed order a message picks: any way of naming one while Lumen asks which; afterwards ("and the first
    one?", "what about the boots?") only a position or an item that names another listed order."""
    intent = detect_intent(text)
    if state.awaiting == "which_order":
        return _pick_listed(state, text, intent.ordinal)
    if intent.ordinal is not None and re.search(r"\b(one|order)\b", text, re.IGNORECASE):
        return _choose(state.choices, text, intent.ordinal)
    picked = _choose(state.choices, text, None, loose=False)
    return picked if picked != state.current_order else None


def _pick_listed(state: State, text: str, ordinal: int | None) -> str | None:
    """The listed order the shopper names while Lumen asks which: as `_choose` reads it, or by where it stands ("the
    one that hasn't come yet", "the delivered one")."""
    return _choose(state.choices, text, ordinal) or picked_by_state(state.choice_stages, text)


class Playbook:
    """Decides the next step of a conversation. Pure: the same messages always give the same step."""

    def __init__(self, voice: ShopVoice) -> None:
        # Its `name_format`, when known: "2786 TX 73301" in a shop of plain numbers is an order, a state and a ZIP,
        # while "5301 KRW" in a shop of '#5301KRW' is one name.
        self.voice = voice
        self.compose = Composer(voice)
        self.r = self.compose.r
        self.country = Locale.parse(voice.locale).territory
        # Every way a shopper may name this shop: its name, its assistant's, its web addresses (`shop_domains`).
        self.own_names: tuple[str, ...] = (voice.shop_name, voice.persona.assistant_name, *voice.domains)
        # The last message read (`_absorb`) and decided on (`_intent` in `_decide`), with the state it was read in:
        # a turn's second model request replays the first's reading of the same message in the same state. Compared
        # by value, so only the same reading is ever handed out (one slot each: a tuple swapped whole, thread-safe).
        self._absorbed: tuple[str, State, State] | None = None
        self._decided: tuple[str, State, Intent] | None = None

    def next_step(self, messages: list[ModelMessage]) -> ToolStep | ReplyStep:
        turns = split_turns(messages)
        if not turns:
            return ReplyStep(self._say("greeting"), self._start(awaiting="order_number"))
        state = self._start()
        for turn in turns[:-1]:
            state = self._absorb(state, turn.user)
            step = self._decide(state, turn)
            state = step.state if isinstance(step, ReplyStep) else _changed(state, awaiting=None, offer=None)
        current = turns[-1]
        step = self._decide(self._absorb(state, current.user), current)
        if isinstance(step, ReplyStep):
            step = replace(step, text=one_full_stop(step.text))  # pieces joined may end on an abbreviation
        previous = turns[-2].reply if len(turns) > 1 else None
        repeated = isinstance(step, ReplyStep) and previous is not None and step.text.strip() == previous.strip()
        # A new email or number that fails the same way deserves the same answer; a question asked again doesn't
        # (the details read only for a reply said before).
        if isinstance(step, ReplyStep) and repeated and not _gives_details(current.user, state):
            return self._not_again(state, step, self._latest_again(state, turns))
        return step

    def _latest_again(self, state: State, turns: list[Turn]) -> str:
        """The carrier's latest words on the order shown, said again for a question the status can't answer
        further; "" when the message asks nothing or no packages were looked up."""
        if not (state.status_shown and state.current_order and asks_question(turns[-1].user)):
            return ""
        for turn in reversed(turns):
            found = _result_for(turn, "list_fulfillments", state.current_order) or _carried(turn, state.current_order)
            if found is not None:
                return self.compose.latest_again(FulfillmentsResult.model_validate(found))
        return ""

    def _start(self, awaiting: Awaiting = None) -> State:
        return State(awaiting=awaiting, country=self.country, name_format=self.voice.name_format)

    def _not_again(self, before: State, step: ReplyStep, latest: str = "") -> ReplyStep:
        """Never the same reply twice in a row. After a status: nothing has changed since, so say that (an offer made
        stays open), with the carrier's latest words when a question was asked. After a question, the question in
        other words; after an offer, the offer once more."""
        if before.status_shown and latest:
            key = "nothing_more.offer" if step.state.offer else "nothing_more.plain"
            state = _changed(step.state, offer_asked=True) if step.state.offer else _changed(step.state, awaiting=None)
            return ReplyStep(self._say(key, latest=latest), state)
        if before.status_shown:  # the same text as a status just given is that status
            if step.state.offer:
                return ReplyStep(self._say("nothing_new_offer"), _changed(step.state, offer_asked=True))
            return ReplyStep(self._say("nothing_new"), _changed(step.state, awaiting=None))
        awaiting = step.state.awaiting
        if awaiting == "escalation_offer":
            return ReplyStep(self._say("again.offer"), _changed(step.state, offer_asked=True))
        if awaiting is not None and self.r.has(f"again.{awaiting}"):
            return ReplyStep(self._say(f"again.{awaiting}"), step.state)
        return ReplyStep(self._say("again.other"), _changed(step.state, awaiting=None))

    # --- reading the shopper -------------------------------------------------------------------------------------
    def _absorb(self, state: State, text: str) -> State:
        last = self._absorbed
        if last is not None and last[0] == text and last[1] == state:
            return _changed(last[2])  # a copy: the caller's to change
        absorbed = self._read_message(state, text)
        self._absorbed = (text, state, _changed(absorbed))
        return absorbed

    def _read_message(self, state: State, text: str) -> State:
        state = _second_thoughts(state, text)
        details = _details(text, state)
        intent = _intent(text, state)
        new = _changed(
            state,
            concerns=state.concerns | (intent.acts & _CONCERNS) | (_clause_acts(text) & _PROOF_ROUTES),
            asked_why=state.asked_why or intent.asks_why,
            # "1234 a@b.c don't escalate, just tell me": asking not to be passed on counts in any clause of a message
            # whose details and question drown it in the whole message's reading.
            no_handoff=(state.no_handoff or intent.no_human or _no_handoff_asked(text)) and not intent.human,
        )
        deadline = deadline_named(text, self.compose.today, self.compose.locale)
        if deadline is not None:
            new.deadline = deadline
        new.refund_gap = new.refund_gap or refund_gap_asked(text)
        # Only while Lumen asks for the details: what was said before an answer was answered then.
        new.heard = (*state.heard, text) if state.awaiting in _ASKING_DETAILS else (text,)
        several = _order_numbers(text, details.postal_code, state.name_format)
        if len(several) > 1:
            new.orders = tuple(several)
            new.order_emails = tuple(emails_by_order(text, several).items())
        if details.order_number:
            new.order_number = details.order_number
        if details.email:
            new.email = details.email
        if details.postal_code:
            new.postal_code = details.postal_code
        return new

    def _say(self, key: str, **fields: Any) -> str:
        base = {"assistant_name": self.voice.persona.assistant_name, "shop_name": self.voice.shop_name}
        return self.r.say(key, **(base | fields))

    def _reply(self, state: State, key: str, *, awaiting: Awaiting = None, offer: str | None = None, **fields: Any):
        return self._answered(self._say(key, **fields), state, awaiting=awaiting, offer=offer)

    def _answered(
        self, text: str, state: State, *, awaiting: Awaiting = None, offer: str | None = None, topic: str | None = None
    ) -> ReplyStep:
        if state.no_handoff and offer:
            # The shopper asked not to be passed on: the facts stay, the offer goes.
            text, offer, topic = self.compose.without_offers(text), None, None
        if _contact_still_asked(state, awaiting, offer):
            # Another question answered while Lumen waits for the team's reply address: the question stays open.
            text, awaiting = self.compose.join(text, self._say("ask_contact_email_again")), "contact_email"
        return ReplyStep(
            text,
            _changed(
                state,
                status_shown=False,
                declined=None,
                more_offers=(),
                awaiting="escalation_offer" if offer else awaiting,
                offer=offer,
                offer_topic=topic if offer else None,
                offer_asked=bool(offer) and text.rstrip().endswith("?"),
                offer_words=offer_words(text) if offer else frozenset(),
            ),
        )

    # --- deciding ------------------------------------------------------------------------------------------------
    def _decide(self, state: State, turn: Turn) -> ToolStep | ReplyStep:
        last = self._decided
        if last is not None and last[0] == turn.user and last[1] == state:
            intent = last[2]
        else:
            intent = _intent(turn.user, state)
            self._decided = (turn.user, _changed(state), intent)
        listed = _customer_list(turn)
        if listed is not None:
            # "Where are the hiking socks?" from a logged-in customer who bought some: that order's question.
            intent = own_item_asked(intent, turn.user, [(o.order_number, [i.name for i in o.items]) for o in listed])
        if not intent.order_related and deadline_named(turn.user, self.compose.today, self.compose.locale):
            # "ok but will it be here by Christmas?": a day the order is needed by asks about the order, whatever
            # small talk comes with it.
            intent = replace(intent, acts=(intent.acts - _SMALL_TALK) | {"where_is_order"})
        details = _details(turn.user, state)
        platform = _platform_beside_order(intent, details, state.country)
        if platform is None:
            return self._next(state, turn, intent, details)
        # "One from AliExpress and one from you, 4417 a@b.c": the other shop's order is theirs to ask, and ours is
        # answered as if it came alone.
        ours = replace(intent, acts=(intent.acts - {"other_platform"}) | {"where_is_order"}, platform=None)
        step = self._next(state, turn, ours, details)
        if isinstance(step, ToolStep) or not other_order_asked(turn.user):
            # The marketplace only named in passing ("I just amazon everything"): our order is all that was asked.
            return step
        article = indefinite_article(platform)
        line = self._say("other_platform_beside", platform=platform, article=article)
        return replace(step, text=self.compose.join(line, step.text))

    def _next(self, state: State, turn: Turn, intent: Intent, details: Details) -> ToolStep | ReplyStep:
        new_details = bool(details.order_number or details.email or details.postal_code)

        escalation = self._escalation_flow(state, turn, intent, details) or self._numbered_elsewhere(
            state, turn.user, intent, details
        )
        if escalation is not None:
            return escalation

        # Only without details: "ordered from Springfield, #4410 a@b.c" names a place, and the details are for a lookup.
        elsewhere = None if intent.other_platform or new_details or state.current_order else self._elsewhere(turn.user)
        maybe = None if elsewhere or new_details or state.current_order else self._maybe_elsewhere(turn.user)
        if elsewhere is not None:
            intent = replace(intent, acts=intent.acts | {"other_platform"}, platform=elsewhere)
        elif maybe is not None and intent.platform is None and not intent.human:
            # "I got it from Backcountry": one capitalised word where a shop is named may be a retailer, a town or a
            # person; no rule tells which, so the reply holds both (theirs to ask, or ours with its number).
            return self._reply(state, "other_platform_maybe", platform=maybe)
        elif intent.other_platform and intent.platform is None and names_no_other_shop(turn.user, self.own_names):
            # "I bought it from <our own site>", "ordered from Leeds": where it was placed is named, and it is this
            # shop, a place or a person; no marketplace is named: the order is asked about here.
            intent = replace(intent, acts=(intent.acts - {"other_platform"}) | {"where_is_order"})
        if identity_asked(turn.user) and not (new_details or intent.human or intent.order_related):
            # "are u a real person": what Lumen is, and a person offered, never a hand-off nobody asked for.
            return self._reply(state, "what_i_am", awaiting=None if state.current_order else "order_number")
        small = self._small_talk(state, intent, new_details)
        if small is not None:
            return small
        if intent.policy_question and not new_details:
            policy = self.compose.policy_answer(turn.user)
            return self._answered(policy.text, state, offer=policy.offer, topic=policy.topic)
        if intent.request and not new_details and not state.current_order and _asks_how(turn.user):
            # "How do I return something?" asks how, about no order yet: the merchant's notes if they say, else what
            # Lumen can't do and the team offered (the shopper may still name an order).
            return self._how_to(state, turn.user, intent.request)
        term_only = intent.has("status_meaning") and intent.terms and not intent.statuses
        if term_only and not new_details and not state.current_order:
            # "What does authority to leave mean?" before any order: what the term means.
            return self._answered(self.compose.term_meanings(intent.terms).text, state)
        if intent.has("status_meaning") and intent.statuses and not new_details and not state.current_order:
            meaning = self.compose.status_meanings(intent.statuses)
            return self._answered(meaning.text, state, offer=meaning.offer, topic=meaning.topic)
        if intent.has("injection") and not new_details:
            # Text that tries to give Lumen orders is never followed: what Lumen does, and how to start.
            return self._reply(state, "injection", awaiting="order_number")
        in_dialogue = state.awaiting in ("order_number", "factor", "retry", "which_order")
        follow_up = state.current_order is not None and not intent.other_topic
        off_topic = (
            (intent.other_topic or intent.has("policy_question")) and not intent.order_related and not new_details
        )
        if not (intent.order_related or new_details or in_dialogue or follow_up) or off_topic:
            asks_where = _asks_where(turn.user, intent)
            if not (state.current_order or turn.calls) and may_name_own_item(intent, turn.user, asks_where=asks_where):
                # A logged-in customer may name an order by its item: their orders say (`own_item_asked`).
                return ToolStep("find_order", {})
            return self._reply(state, "out_of_scope")
        every = _every_order_asked(state, turn)
        if state.awaiting == "which_order" and state.choices and not new_details and not every:
            # The listed orders again would be the same reply twice: ask which one, and the ways to say it.
            listed = ", ".join(c[0] for c in state.choices)
            return self._reply(state, "customer_orders.unclear", awaiting="which_order", orders=listed)
        return self._order_flow(state, turn, intent, new_details)

    def _how_to(self, state: State, text: str, request: Act) -> ReplyStep:
        policy = self.compose.policy_answer(text)
        if policy.offer is None:
            return self._answered(policy.text, state)
        key = f"how_to.{request}" if self.r.has(f"how_to.{request}") else "how_to.other"
        return self._answered(self._say(key), state, offer="other", topic="policy_question")

    def _elsewhere(self, text: str) -> str | None:
        """A shop the message says the order was placed with ("I ordered it from Maple Goods") that is surely another
        business and not this one, so the order is another platform's even when no list knows the name."""
        return foreign_shop(text, self.own_names)

    def _numbered_elsewhere(self, state: State, text: str, intent: Intent, details: Details) -> ReplyStep | None:
        """ "Ordered on Kestrelmall, order KM88231045": a shop named as where the order was placed, beside a number
        not written the way this shop writes its order names: the order is that shop's (a marketplace the reader
        named is answered by its own replies)."""
        if intent.platform or state.current_order:
            return None
        shop = shop_of_foreign_number(text, details.order_number, self.voice.name_format, self.own_names)
        return None if shop is None else self._reply(state, "other_platform_number", platform=shop)

    def _maybe_elsewhere(self, text: str) -> str | None:
        """A name that may be another shop's: where the order was placed ("got it from Backcountry"), or a business
        the shopper asks whether this shop is ("is this the same as my Kestrel Market order?")."""
        return retailer_word(text, self.own_names) or shop_compared(text, self.own_names)

    def _small_talk(self, state: State, intent: Intent, new_details: bool) -> ReplyStep | None:
        """Answers that need no order: a no to an offer, another platform, greetings, thanks, an "ok"."""
        if state.awaiting == "escalation_offer" and intent.decline and not new_details and not _declined_asking(intent):
            step = self._reply(state, "declined")
            declined = (state.offer, state.offer_topic, state.offer_order) if state.offer else None
            return replace(step, state=_changed(step.state, declined=declined))
        if intent.other_platform:
            if intent.platform is None:
                return self._reply(state, "other_platform_general")
            article = indefinite_article(intent.platform)
            return self._reply(state, "other_platform", platform=intent.platform, article=article)
        if new_details or intent.order_related:
            return None
        if state.escalations and state.awaiting is None and intent.acts <= _ONLY_YES - {"ask_human"} | {"acknowledge"}:
            # A yes after the hand-off was made answers nothing still open (the hand-off settled the offer).
            return self._reply(state, "acknowledged")
        if intent.no_human:
            key = "no_handoff" if state.current_order else "no_handoff_ask"
            return self._reply(state, key, awaiting=None if state.current_order else "order_number")
        if intent.small_talk_only:
            if intent.goodbye:
                return self._reply(state, "goodbye")
            if intent.thanks:
                return self._reply(state, "thanks")
            if state.current_order:
                # "hello??" after an answer is a shopper waiting, not a new conversation: the order stays.
                return self._still_here(state)
            return self._reply(state, "greeting", awaiting="order_number")
        if intent.acknowledge:
            return self._reply(state, "acknowledged")
        if intent.decline and state.current_order:
            # A no with no offer open ("anything else?" -> "no"): the conversation is done.
            return self._reply(state, "goodbye")
        if intent.decline and state.awaiting == "retry":
            # "I'll ring the courier myself" after details that matched nothing: taken as said, no lookup again.
            return self._reply(state, "declined")
        return None

    def _still_here(self, state: State) -> ReplyStep:
        if state.offer:  # an open offer stays open
            return self._answered(self._say("still_here_offer"), state, offer=state.offer, topic=state.offer_topic)
        return self._reply(state, "still_here", order_number=state.current_order)

    def _escalation_flow(self, state: State, turn: Turn, intent, details) -> ToolStep | ReplyStep | None:
        result = turn.last("escalate")
        if result is not None:
            return self._after_escalation(state, EscalationResult.model_validate(result), turn)
        # A soft offer ("if it hasn't reached you, let me know") is no question: only a sure yes takes it up, or a yes
        # that says what the team should do ("yes please, I'd like a replacement").
        wants = intent.request or intent.item_problem
        # A yes takes up nothing but an open offer (`accepting` below): with none open, the message is not read for one.
        offer_open = state.awaiting == "escalation_offer"
        yes = intent.accept and (state.offer_asked or "accept" in intent.sure or wants is not None)
        # "Yes please get me the tracking number": a sure yes opening the message, though the rest reads otherwise,
        # takes an offer asked as a question, or any offer when a request follows it.
        # A yes that goes on to ask for the team ("yeah have someone look into it") takes a soft offer too; a yes
        # that goes on to say something else ("yes it arrived, thanks") does not.
        # The whole message may read as an "ok" ("alright sure, get a person onto it"): its opening yes says more.
        yes = yes or (offer_open and intent.acts <= _ONLY_YES | {"acknowledge"} and _yes_then_ask(turn.user))
        # "I gave the wrong flat number. Yes, get someone to sort it": the request, then a sentence of yes and a person.
        yes = yes or (
            offer_open and not intent.decline and any(_yes_then_ask(s) for s in _SENTENCE.split(turn.user)[1:])
        )
        opens_yes = (
            offer_open
            and (state.offer_asked or wants is not None)
            and not intent.decline  # "ah sure leave it, I'll wait": the whole message says no
            and _opens_with_yes(turn.user)
        )
        said_yes = yes or (intent.acknowledge and not intent.thanks and state.offer_asked) or opens_yes
        if state.awaiting == "escalation_offer" and not said_yes:
            # "Ya go ahead and get me the tracking #": asking for what the offer would get takes it up (read only
            # while an offer is open: a yes counts for nothing else).
            yes_word = intent.accept or offer_answer(turn.user) == "yes"
            said_yes = not (intent.decline or intent.no_human) and restates_offer(
                turn.user, state.offer_words, yes=yes_word
            )
        if state.no_handoff and not intent.human:
            return None
        pending = self._contact_pending(state, turn.user, intent, details)
        if pending is not None:
            return pending
        accepting = state.awaiting == "escalation_offer" and said_yes and not details.order_number
        # The reply address asked for, given now or after another question in between (the question stays open).
        waiting = state.awaiting == "contact_email" or (state.pending_reason is not None and not details.order_number)
        giving_contact = waiting and details.email
        if not (accepting or giving_contact or intent.human):
            return None
        # Accepting an offer hands over for that reason (or for the request said with the yes); asking for a person
        # is its own reason.
        request = wants if accepting else None
        if request:
            state = _changed(state, offer=_REASONS.get(request, "other"), offer_topic=request)
        reason = state.pending_reason or (state.offer if accepting and state.offer else "shopper_asked_for_human")
        order = state.offer_order if (accepting or state.pending_reason) else state.current_order
        order = order or state.current_order
        if intent.human and details.order_number and order and not order_name_matches(order, details.order_number):
            # "Get me a person about 5109" with 5105 proved: the team's case is about the order named, proved first
            # (or, when it can't be, said as typed and unproved), never filed against the order proved before.
            order = None
        if not order and intent.human and details.order_number and (state.email or state.postal_code):
            # "5114 me@x.ie, get me a human": the order is proved first, so the hand-off says which one it is.
            found = turn.last("find_order")
            if found is None:
                return self._lookup(state, intent)
            proved = FindOrderResult.model_validate(found).order
            order = proved.order_number if proved else None
            if order and _asks_of_order(intent, turn.user) and turn.last("list_fulfillments") is None:
                # "Says delivered, never got it, let me talk to a person": the facts are said with the hand-off.
                return ToolStep("list_fulfillments", {"order_number": order})
        if (order or "") in state.escalations:
            reference, reply_to = state.escalations[order or ""]
            return self._reply(state, "already_escalated", reference=reference, email=reply_to)
        if not order and not state.email:
            return self._reply(_changed(state, pending_reason=reason), "ask_contact_email", awaiting="contact_email")
        topic = (wants or state.offer_topic) if accepting else None
        summary = state.pending_summary if state.pending_reason and state.pending_summary else None
        # A hand-off before any order was proved still tells the team which order the shopper named, marked unproved.
        typed = None if order else state.order_number
        args: dict[str, Any] = {"reason": reason, "summary": summary or self._summary(topic or reason, order, typed)}
        if order:
            args["order_number"] = order
        if state.email:
            args["shopper_email"] = state.email
        return ToolStep("escalate", args)

    def _contact_pending(self, state: State, text: str, intent: Intent, details: Details) -> ReplyStep | None:
        """Lumen asked which email the team should reply to, and the message gives none: a yes ("aye", "sure") is no
        address, so the question is asked again; a no withdraws the hand-off. Anything else is read as usual."""
        if state.awaiting != "contact_email" or details.email or details.order_number:
            return None
        answer = offer_answer(text)
        if answer == "no" or (intent.decline and not intent.human):
            return self._reply(_changed(state, pending_reason=None, pending_summary=None), "declined")
        if answer == "yes" or (intent.acts and intent.acts <= _ONLY_YES | {"acknowledge"}):
            return self._reply(state, "again.contact_email", awaiting="contact_email")
        return None

    def _after_escalation(self, state: State, result: EscalationResult, turn: Turn) -> ToolStep | ReplyStep:
        call = next(c for c in reversed(turn.calls) if c.name == "escalate")
        order = call.args.get("order_number")
        if result.status in ("created", "already_created") and result.reference:
            reply_to = result.reply_to or state.email or ""
            escalations = state.escalations | {order or "": (result.reference, reply_to)}
            several = self._more_offers_taken(state, turn)
            if several is not None:
                return several
            # The hand-off answers whatever was pending: the offer, a "why" the team will explain, worries voiced.
            done = _changed(
                state,
                escalations=escalations,
                pending_reason=None,
                pending_summary=None,
                asked_why=False,
                concerns=frozenset(),
            )
            key = "escalated" if result.status == "created" else "already_escalated"
            step = self._reply(done, key, reference=result.reference, email=reply_to)
            facts = self._facts_before_handoff(turn, order)
            return replace(step, text=self.compose.join(facts, step.text)) if facts else step
        if result.status == "not_verified" and state.email:
            args = {k: v for k, v in call.args.items() if k != "order_number"}
            if len([c for c in turn.calls if c.name == "escalate"]) < 2:
                return ToolStep("escalate", args | {"shopper_email": state.email})
        if result.status in ("need_contact_email", "not_verified"):
            pending = _changed(
                state,
                pending_reason=call.args.get("reason"),
                pending_summary=call.args.get("summary"),
                offer_order=order,
            )
            return self._reply(pending, "ask_contact_email", awaiting="contact_email")
        return self._reply(state, "escalation_failed")

    def _more_offers_taken(self, state: State, turn: Turn) -> ToolStep | ReplyStep | None:
        """After a hand-off, with offers for other orders taken up by the same yes (`offers.py`): the next one handed
        over, or once all are, one reply giving each order's reference. None when the yes took up one offer."""
        made = handed_over((c.args, c.result) for c in turn.calls if c.name == "escalate")
        left = offer_left(state.more_offers, [h.order for h in made] + list(state.escalations))
        if left is not None and state.awaiting == "escalation_offer":
            reason, topic, order = left
            args = {"reason": reason, "summary": self._summary(topic or reason, order), "order_number": order}
            return ToolStep("escalate", args | ({"shopper_email": state.email} if state.email else {}))
        if len(made) < 2:
            return None
        said = [o[2] for o in state.more_offers] + [state.offer_order or ""]  # as the reply offered them
        made.sort(key=lambda h: said.index(h.order) if h.order in said else len(said))
        done = _changed(state, escalations=state.escalations | {h.order: (h.reference, h.reply_to) for h in made})
        done = _changed(done, pending_reason=None, pending_summary=None, asked_why=False, concerns=frozenset())
        cases = cases_said(made, self.r.template("escalated_case"), self.compose.locale)
        return self._reply(done, "escalated_several", cases=cases, email=made[-1].reply_to)

    def _facts_before_handoff(self, turn: Turn, order: str | None) -> str | None:
        """The order's facts, when this turn looked its packages up before handing it over (a shopper who asked for
        a person beside a question about the order): what the data says, without the offer the hand-off answers."""
        found, listed = turn.last("find_order"), turn.last("list_fulfillments")
        if not order or found is None or listed is None:
            return None
        proved = FindOrderResult.model_validate(found).order
        fulfillments = FulfillmentsResult.model_validate(listed)
        if proved is None or proved.order_number != order or fulfillments.status != "ok":
            return None
        intent = detect_intent(turn.user)
        if "delivered_not_received" in _clause_acts(turn.user) and _doubts_delivery((turn.user,)):
            intent = intent.plus(frozenset({"delivered_not_received"}))  # drowned by the ask for a person
        return self.compose.without_offers(self.compose.order_answer(proved, fulfillments, intent).text)

    def _summary(self, reason: str, order: str | None, typed: str | None = None) -> str:
        about = self.r.say("summary.about", order_number=order) if order else ""
        if typed and not order:
            about = self.r.say("summary.about_unverified", order_number=typed)
        key = f"summary.{reason}" if self.r.has(f"summary.{reason}") else "summary.other"
        return self.r.say(key, order_number=order or "", about=about)

    def _order_flow(self, state: State, turn: Turn, intent: Intent, new_details: bool) -> ToolStep | ReplyStep:
        everyone = _every_order_asked(state, turn)
        if everyone:
            # "Status of both my orders": a logged-in customer's listed orders, each answered, not a list to pick from.
            state = _changed(state, orders=everyone)
        if len(state.orders) > 1:
            return self._several_orders(state, turn, intent)
        found = turn.last("find_order")
        if found is None:
            return self._lookup(state, intent)
        result = FindOrderResult.model_validate(found)
        if result.status == "not_found":
            call = next(c for c in reversed(turn.calls) if c.name == "find_order" and c.result is not None)
            state = _changed(state, failed=state.failed | {_lookup_key(call.args)})
        if result.status == "customer_orders" and len(result.orders) > 1:
            named = _choose(_choices(result), turn.user, None, loose=False) or _by_state(result, turn.user)
            if named is not None:
                # "Where are my blue mittens?": the one order with what they named is the one they mean.
                return ToolStep("find_order", {"order_number": named})
        step = self._unproved(state, result) or self._no_single_order(state, result)
        if step is not None:
            return step
        # Read before validating, as `_customer_list` does: most turns' lookups are one order's.
        listed = [FindOrderResult.model_validate(c.result) for c in turn.calls if _lists_orders(c)]
        several = next((r for r in listed if r.status == "customer_orders" and len(r.orders) > 1), None)
        if several is not None:
            # Picked from the customer's orders by what they named: the others may still be asked about.
            state = _changed(state, choices=_choices(several), choice_stages=stages(several.orders))
        order = result.order or result.orders[0]
        return self._proved_order(state, turn, intent, new_details, order, looked_up=(found, result))

    @staticmethod
    def _without_email(state: State, intent: Intent) -> bool:
        return "no_email_access" in state.concerns or intent.has("no_email_access")

    def _lookup(self, state: State, intent: Intent) -> ToolStep | ReplyStep:
        """Before find_order: ask for what is missing, or look the order up with everything the shopper gave."""
        lost = "lost_number" in state.concerns or intent.lost_number
        if self._without_email(state, intent) and not state.order_number:
            # No access to the email: the order number and the shipping postcode prove the order instead.
            return self._reply(state, "no_email_access", awaiting="order_number")
        if lost and not state.order_number:
            # No number: the email and the shipping postal code together find the order.
            if not state.email:
                return self._reply(state, "lost_number", awaiting="factor")
            if not state.postal_code:
                return self._reply(state, "ask_postal_for_lost", awaiting="factor")
        number = state.order_number or state.current_order
        args = {"order_number": number, "email": state.email, "postal_code": state.postal_code}
        args = {k: v for k, v in args.items() if v}
        if _lookup_key(args) in state.failed:
            # The same details found nothing before: another try would only use up the shopper's attempts.
            return self._reply(state, "still_not_found", offer="other", order_number=number or "")
        return ToolStep("find_order", args)

    def _unproved(self, state: State, result: FindOrderResult) -> ReplyStep | None:
        """find_order wants proof, or found nothing: ask again."""
        if result.status == "verification_needed":
            if result.order_number:
                postal_only = result.accepts == ["postal_code"] or (
                    "postal_code" in result.accepts and "no_email_access" in state.concerns
                )
                return self._reply(state, "ask_postal" if postal_only else "ask_email", awaiting="factor")
            key = "ask_order_number"
            if state.email:
                key = "ask_order_number_have_email" if "postal_code" in result.accepts else "ask_order_number_only"
            return self._reply(state, key, awaiting="order_number")
        if result.status == "not_found":
            if not result.order_number:
                return self._reply(state, "not_found_lost", awaiting="retry")
            key = "not_found_with_details" if (state.email or state.postal_code) else "not_found"
            shown = result.order_number or state.order_number or ""
            return self._reply(state, key, awaiting="retry", order_number=shown)
        return None

    def _no_single_order(self, state: State, result: FindOrderResult) -> ReplyStep | None:
        """Lookups stopped or unavailable, or several orders to choose from: anything but one order to answer about."""
        if result.status == "too_many_attempts":
            return self._reply(_changed(state, offer_order=None), "too_many_attempts", offer="other")
        if result.status == "unavailable":
            return self._reply(_changed(state, offer_order=None), "unavailable", offer="order_data_unavailable")
        if result.status == "customer_orders" and len(result.orders) != 1:
            choices = _choices(result)
            return ReplyStep(
                self.compose.customer_orders(result),
                _changed(
                    state,
                    awaiting="which_order" if result.orders else None,
                    offer=None,
                    choices=choices,
                    choice_stages=stages(result.orders),
                ),
            )
        return None

    def _proved_order(
        self,
        state: State,
        turn: Turn,
        intent: Intent,
        new_details: bool,
        order: OrderOverview,
        looked_up: tuple[Any, FindOrderResult],
    ) -> ToolStep | ReplyStep:
        """One proved order: its packages (as find_order carried them, or listed), then answer what was asked.
        `looked_up`: the find_order result, as the tool returned it and validated."""
        listed = turn.last("list_fulfillments") or _carried(turn, order.order_number)
        if listed is None:
            return ToolStep("list_fulfillments", {"order_number": order.order_number})
        found, result = looked_up
        if result.fulfillments is not None and isinstance(found, dict) and listed is found.get("fulfillments"):
            fulfillments = result.fulfillments  # these very packages, validated with the lookup: not twice
        else:
            fulfillments = FulfillmentsResult.model_validate(listed)
        verified = _changed(
            state,
            current_order=order.order_number,
            order_number=order.order_number,
            postal_code=_proved_code(state, order),
        )
        if fulfillments.status != "ok":
            return self._reply(verified, "unavailable", offer="order_data_unavailable")
        intent = replace(intent.plus(state.concerns), asks_why=intent.asks_why or state.asked_why)
        answered = _changed(
            verified,
            offer_order=order.order_number,
            concerns=frozenset(),
            asked_why=False,
            orders=(),
            deadline=None,
            refund_gap=False,
            heard=(),
        )
        if intent.request and _asks_status(turn.user):
            # "Where is it, and can I return it?": the clause asking where it is counts though the request drowns it
            # in the whole message's reading (asked again about an order already shown too: "ok has it shipped yet,
            # and can I change the address?").
            intent = intent.plus(frozenset({"where_is_order"}))
        first_look = state.current_order != order.order_number
        if first_look:
            said = ". ".join(state.heard[-_HEARD_TURNS:]) or turn.user
            intent = _request_and_parcel(intent, said, tuple(i.name for i in order.items))
        said = ". ".join(state.heard[-_HEARD_TURNS:]) if first_look and state.heard else turn.user
        intent = _both_heard(intent, _own_lines(said), tuple(i.name for i in order.items))
        if state.deadline is not None and service_change_asked(said) == "hold_order":
            # "Can you hold it, I'm away till the 14th": the day is when the shopper can take it in, not a day the order
            # is needed by: the hold is what is asked (the status, what Lumen can't do, the team), not the deadline.
            state = _changed(state, deadline=None)
        deadline = self._money_or_deadline(state, order, fulfillments, intent, first_look=first_look)
        special = None if deadline else self._special_answer(order, fulfillments, intent, first_look=first_look)
        if deadline is None:  # a broken tracking link, a receipt, the packing (`agent/playbook/after_status.py`)
            special = (
                after_status_answer(self.compose, order, fulfillments, intent, said, first_look=first_look) or special
            )
        # A change asked before the order was proved ("can you overnight it?", then the number) is still asked; asked
        # beside the day it is needed by, that day's answer comes first, then what Lumen can't do and the team.
        special = special or self._service_change(order, fulfillments, intent, said, deadline) or deadline
        if special is not None:
            return self._answered(special.text, answered, offer=special.offer, topic=special.topic)
        if state.current_order == order.order_number and not new_details:
            # A follow-up about an order already shown: answer the question asked, not the whole story again.
            where = _asks_where(turn.user, intent)
            focused = self.compose.focused_answer(order, fulfillments, intent, where=where)
            if where:
                focused = self.compose.collection_answer(fulfillments) or focused
            if focused is not None:
                text = self._with_unseen(focused.text, turn.user, order)
                return self._shown(self._answered(text, answered, offer=focused.offer, topic=focused.topic))
        # "So where is it right now?": where each parcel was last seen, beside its estimate.
        where_now = _asks_where(turn.user, intent) and where_now_asked(turn.user)
        answer: Answer = self.compose.order_answer(order, fulfillments, intent, where=where_now)
        text = self._with_unseen(answer.text, turn.user, order)
        return self._shown(self._answered(text, answered, offer=answer.offer, topic=answer.topic))

    def _with_unseen(self, text: str, said: str, order: OrderOverview | None = None) -> str:
        """The answer, and a plain "I can't see that" for what the shopper asked that the order data never holds
        (customs charges, a time of day); before an offer that ends the answer, so the offer stays its last word."""
        unseen = [self.r.say(f"unseen.{topic}") for topic in unseen_asked(said) if self.r.has(f"unseen.{topic}")]
        if order is not None and order.delivered and physical_check_asked(said):
            # "Can you check it's definitely in the parcel box?": only the carrier's record is seen, never the parcel.
            unseen += [line for line in [self.r.say("physical_check.cannot")] if line not in text]
        unseen += self._beside_sentences(said, order)
        if not unseen:
            return text
        *before, last = _SENTENCE_END.split(text.strip())
        if before and any(marker in last for marker in prompts.toml("replies.toml")["handoff"]["markers"]):
            return self.compose.join(*(s.strip() for s in before), *unseen, last.strip())
        return self.compose.join(text, *unseen)

    def _beside_sentences(self, said: str, order: OrderOverview | None = None) -> list[str]:
        """What Lumen says to a question about something other than the order asked beside it ("where's 4410 & do
        you have the mug in blue?"): the merchant's own words when a policy question has them, else that Lumen helps
        with orders and the team with anything else, said once."""
        lines: list[str] = []
        items = [i.name for i in order.items] if order else []
        for act, clause in _asked_beside(said):
            if any(names_item(name, clause) for name in items):
                continue  # "is the gift card sent?" asks about an item of this order: the order's answer covers it
            if act == POLICY_QUESTION:
                policy = self.compose.policy_answer(clause)
                if policy.offer is None:
                    lines.append(policy.text)
                    continue
            line = self._say("out_of_scope")
            if line not in lines:
                lines.append(line)
        return lines

    @staticmethod
    def _shown(step: ReplyStep) -> ReplyStep:
        return replace(step, state=_changed(step.state, status_shown=True))

    def _special_answer(
        self, order: OrderOverview, result: FulfillmentsResult, intent: Intent, *, first_look: bool = False
    ) -> Answer | None:
        """A request Lumen can't do, a problem with what arrived, or what a status means: not the status alone."""
        request = intent.request
        if request == "return_request" and self.compose.returning_to_sender(result):
            # "Tracking says return to sender": the carrier's return, not the shopper's; the status says it plainly.
            request = None
        if request and not result.cancelled:
            answer = self.compose.request_answer(order, result, request)
            if answer is not None:
                answer.offer = answer.offer and _REASONS.get(request, answer.offer)
                sorry = intent.item_problem and self.compose.problem_heard(order, result, intent.item_problem)
                if sorry and answer.topic == request:
                    # "It came smashed, can I get a refund?": the problem heard, then what Lumen can't do about it.
                    answer.text = self.compose.join(sorry, answer.text)
                trouble = first_look and self.compose.in_trouble(result)
                if (intent.has("where_is_order") or trouble) and answer.topic == request:
                    # "Cancel it, and where is it?": both asked, both answered; the request's offer is the one made.
                    # A first look at a parcel the carrier reports damaged or going back says so before the request's
                    # answer ("UPS says it's damaged, send a new one"), though the shopper did not ask where it is.
                    status = self.compose.order_answer(order, result, intent).text
                    answer.text = self.compose.join(self.compose.without_offers(status), answer.text)
                return answer
        problem = intent.item_problem
        if problem and not result.cancelled:
            return self.compose.problem_answer(order, result, problem, intent, shown=not first_look)
        if intent.has("status_meaning") and not result.cancelled:
            meaning = self.compose.meaning_answer(order, result, intent.statuses, intent)
            if first_look or self.compose.statuses_unseen(order, result, intent.statuses):
                # "It says delivery failed, what does that mean? 1234 a@b.c": the order itself was never shown, so
                # what the status means is followed by what this order's status is, and that answer's offer; so is
                # a status named that the order doesn't have ("does that mean it's delivered?"): where it stands.
                state = self.compose.order_answer(order, result, intent)
                text = self.compose.join(self.compose.without_offers(meaning.full()), state.full())
                return Answer(text, offer=state.offer or meaning.offer, topic=state.topic or meaning.topic)
            where = self.compose.focused_answer(order, result, intent) if intent.focus == "collect" else None
            if where is not None:
                return Answer(self.compose.join(meaning.text, where.text), offer=where.offer, topic=where.topic)
            return meaning
        return None

    def _service_change(
        self, order: OrderOverview, result: FulfillmentsResult, intent: Intent, said: str, status: Answer | None = None
    ) -> Answer | None:
        """ "Can you just express it?", "will you hold it till the 20th?", "can I add a mug to it?": a change to the
        order or to how or when it comes that Lumen can't make (`agent/playbook/service_change.py`,
        `order_change.py`): the order's status (or the answer about the day it is needed by), what Lumen can't do, the
        team."""
        change = service_change_asked(said) or order_change_asked(said)
        if change is None or result.cancelled or intent.request or intent.item_problem or intent.human:
            return None  # "could someone chase the courier for me?" asks for the team: the hand-off, not an offer
        said_first = status.text if status else self.compose.order_answer(order, result, intent).text
        line = self._say(f"request.{change}", order_number=order.order_number)
        return Answer(self.compose.join(self.compose.without_offers(said_first), line), offer="other", topic=change)

    def _money_or_deadline(
        self, state: State, order: OrderOverview, result: FulfillmentsResult, intent: Intent, *, first_look: bool
    ) -> Answer | None:
        """A refund said to fall short (or money first asked about an order whose refunds don't cover its total), or
        the day the shopper needs the order by: answered from the data (`agent/playbook/deadline.py`). "How much was
        refunded?" about an order just shown keeps its short answer."""
        asks_money = first_look and (intent.refund_request or intent.focus == "refund")
        short = asks_money and refunded_in_full(order, result.refunds) is False
        if state.refund_gap or short:
            gap = refund_gap_answer(self.compose, order, result)
            if gap is not None:
                return gap
        if state.deadline is not None and not intent.not_received and not intent.request and not intent.item_problem:
            return deadline_answer(self.compose, order, result, state.deadline)
        return None

    def _several_orders(self, state: State, turn: Turn, intent: Intent) -> ToolStep | ReplyStep:
        """ "Orders 1234 and 5678": each looked up with the same proof, then one reply about all of them."""
        answers: list[str] = []
        current: str | None = None
        offers: list[tuple[str, str | None, str]] = []
        asked = _asked_per_order(turn.user, state.orders)
        for number in state.orders:
            found = _result_for(turn, "find_order", number)
            if found is None:
                # Each order with its own email when the shopper gave one each ("mine and my wife's").
                email = dict(state.order_emails).get(number, state.email)
                args = {"order_number": number, "email": email, "postal_code": state.postal_code}
                return ToolStep("find_order", {k: v for k, v in args.items() if v})
            result = FindOrderResult.model_validate(found)
            if result.status == "verification_needed":
                return self._reply(state, "ask_email_several", awaiting="factor", orders=", ".join(state.orders))
            if result.status != "verified" or result.order is None:
                step = self._unproved(_changed(state, orders=()), result) or self._no_single_order(state, result)
                if step is None or result.status != "not_found":
                    return step or self._reply(state, "unavailable", offer="order_data_unavailable")
                answers.append(step.text)
                continue
            proved = result.order.order_number
            listed = _result_for(turn, "list_fulfillments", proved) or _carried(turn, proved)
            if listed is None:
                return ToolStep("list_fulfillments", {"order_number": result.order.order_number})
            fulfillments = FulfillmentsResult.model_validate(listed)
            if fulfillments.status == "ok":
                answer = self._one_of_several(result.order, fulfillments, intent, asked.get(number))
                answers.append(answer.text)
                current = result.order.order_number
                if answer.offer:  # each order with something for the team: a yes hands each over
                    offers.append((answer.offer, answer.topic, current))
        done = _changed(
            state, orders=(), order_emails=(), concerns=frozenset(), current_order=current, order_number=current
        )
        if not offers:
            return self._shown(self._answered("\n\n".join(answers), done))
        offer, topic, order = offers[-1]
        step = self._answered("\n\n".join(answers), _changed(done, offer_order=order), offer=offer, topic=topic)
        return self._shown(replace(step, state=_changed(step.state, more_offers=tuple(offers[:-1]))))

    def _one_of_several(
        self, order: OrderOverview, result: FulfillmentsResult, intent: Intent, asked: frozenset[Act] | None
    ) -> Answer:
        """One order's part of the answer about several: its status, and what the message asks of this order alone
        ("where's 4410, and can I cancel 4412?": the cancellation is 4412's), answered as if it came alone."""
        if asked is None:
            return Answer(self.compose.order_answer(order, result, intent).text)
        own = replace(intent, acts=(intent.acts - _ASKED_OF_ONE) | asked | {"where_is_order"})
        special = self._special_answer(order, result, own, first_look=True)
        if special is not None:
            return special
        return Answer(self.compose.order_answer(order, result, own).text)


def _declined_asking(intent: Intent) -> bool:
    """Whether a no to an offer asks about the order too ("no need to pass me on, just the eta"): the question is
    answered, without the offer (`_no_handoff_but_asks`)."""
    return intent.no_human and intent.has("where_is_order")


def _second_thoughts(state: State, text: str) -> State:
    """The offer the shopper said no to in their last message, open again when this one takes the no back ("actually
    wait yeah, have someone look into it") or asks for a person: a changed mind is a yes to what was declined."""
    if state.declined is None:
        return state
    offer, topic, order = state.declined
    state = _changed(state, declined=None)
    if offer_answer(text) == "no" or not (second_thoughts(text) or detect_intent(text).human):
        return state
    return _changed(
        state, awaiting="escalation_offer", offer=offer, offer_topic=topic, offer_order=order, offer_asked=True
    )


def _platform_beside_order(intent: Intent, details: Details, country: str | None) -> str | None:
    """The other shop a message names beside an order of ours it proves (a number with an email, or a postcode of
    the shop's country; so not the marketplace's own order number alone: "Walmart order 112-3456789-1234567"), if
    any."""
    if not (intent.other_platform and intent.platform and details.order_number):
        return None
    postcode = details.postal_code and fits_postal_code(details.postal_code, country) is not False
    return intent.platform if details.email or postcode else None


# What a message read as a question about the order's state alone does: where it is, when it ships, its tracking
# ("whats the tracking number": a tracking number asked for, which the order's data answers when it has one).
_STATUS_ASKS: frozenset[Act] = frozenset(
    ("where_is_order", "give_details", "ship_when", "package_followup", "missing_tracking")
)
# A question about how something is done, not a request about one order: "how do I return something?", "what's the
# process for an exchange", "how to cancel".
_HOW_TO = re.compile(
    r"\bhow (?:do|can|would|should|does|could) (?:i|we|you|one|someone)\b|\bhow to\b"
    r"|\bhow(?:'s| does) (?:the )?\w+ work|\bwhat(?:'s| is) the (?:process|procedure|way|policy)\b"
    r"|\bwhat do i (?:need to )?do to\b",
    re.IGNORECASE,
)


def _asks_how(text: str) -> bool:
    return bool(_HOW_TO.search(text.replace("’", "'")))


_ONLY_YES: frozenset[Act] = frozenset(("accept", "ask_human"))
_SMALL_TALK: frozenset[Act] = frozenset(
    ("acknowledge", "thanks", "greeting", "goodbye", "out_of_scope", "policy_question")
)
_SENTENCE_END = re.compile(r"(?<=[.!?])(?= )")  # splits before the space that follows a sentence's end
# "+" and "&" stand for "and" between two questions ("has it shipped + can I change the address"), as `_BESIDE_BREAK`
# reads them.
_CLAUSE_BREAK = re.compile(r"[?.!;,&+]+|\b(?:and|but|also)\b", re.IGNORECASE)


def _contact_still_asked(state: State, awaiting: Awaiting, offer: str | None) -> bool:
    """Whether a reply about something else leaves Lumen's question for the team's reply address open: it was asked
    (a hand-off is pending), the reply asks nothing of its own, and the shopper has not asked not to be passed on."""
    return (
        state.awaiting == "contact_email" and state.pending_reason is not None and awaiting is None and offer is None
    ) and not state.no_handoff


def _asks_status(text: str) -> bool:
    """Whether one part of the message asks where the order is ("where is 7315 and can I return it?", "has it
    shipped, and can I change the address?", "tracking for 4119 please and can I get the postage back"): each clause
    read on its own, so a request beside it does not drown the question."""
    read = [(c, detect_intent(c.strip())) for c in _CLAUSE_BREAK.split(EMAIL.sub(" ", text))]  # each clause once
    if any(i.sure & {"where_is_order", "ship_when"} for c, i in read if len(c.split()) >= 2):
        return True
    if any(_clause_asks_status(c) for c, _ in read):
        return True
    # A clause that is nothing but the question and the order's number ("where's 4423", "when will #7310 arrive"): the
    # number dilutes the reading, so the question is read as asked whenever it is the clause's only act.
    return any(
        i.acts in ({"where_is_order"}, {"ship_when"})
        and re.search(r"\d", c)
        and re.match(r"\s*(?:where|when|wheres|whens)\b", c, re.IGNORECASE)
        for c, i in read
    )


# What a clause asks when it asks about the order's state: where it is, when it ships or comes, its tracking.
_STATUS_QUESTIONS: frozenset[Act] = frozenset(("where_is_order", "ship_when", "package_followup"))


def _clause_asks_status(clause: str) -> bool:
    """Whether one clause, read without its order number, email and postcode (which dilute a short clause: "QF3101
    has it shipped", "tracking for 4119 please"), is most likely a question about the order's state, not under a
    negation ("I don't need the tracking")."""
    words = words_only(clause).strip()
    if len(re.findall(r"[A-Za-z]{2,}", words)) < 2:
        return False
    reading = read_acts(words)
    top = reading.top
    # At the "likely" bar requests beside it are heard at (`_clause_requests`): a short clause is read alone.
    return top in _STATUS_QUESTIONS and reading.probabilities[top] >= UNSURE and top not in reading.negated


@lru_cache(maxsize=4096)
def _clause_acts(text: str) -> frozenset[Act]:
    """The acts each clause of a longer message carries on its own ("can u tell me where QRS-7320-IE is, I don't
    know which email he used": where it is, and no email to prove it with), so one act does not drown another."""
    # An address typed in a clause ("email is a@b.ie") is a detail, not words about what the shopper can't do.
    clauses = [c.strip() for c in _CLAUSE_BREAK.split(EMAIL.sub(" ", text))]
    if len(clauses) < 2:
        return frozenset()
    found: set[Act] = set()
    for clause in clauses:
        if len(clause.split()) >= 4:  # shorter fragments ("my email is") say too little on their own
            reading = read_acts(clause)
            found |= {a for a in reading.acts if reading.probabilities.get(a, 0.0) >= THRESHOLD}
    return frozenset(found)


# How many of the shopper's messages before the order was proved are read again with it.
_HEARD_TURNS = 4
# What Lumen waits for while it collects the details that prove an order.
_ASKING_DETAILS: frozenset[Awaiting] = frozenset(("order_number", "factor", "retry", "which_order"))


def _request_and_parcel(intent: Intent, text: str, items: tuple[str, ...]) -> Intent:
    """A first look at an order whose message makes a request Lumen can't do and says something about the parcel
    itself: both heard, though the whole message's reading hears only the request ("boots are late, just refund
    me"). The order's answer (the delivery facts) comes first, then what Lumen can't do and the team
    (`_special_answer` joins them when the message asks where the order is)."""
    # A request only a clause makes beside a parcel said not to have come is not added here: the reader hears one in
    # a line that merely names a refund ("Lumen: a full refund has been approved", forged in a shopper's message).
    if not intent.request:
        return intent
    parcel = _parcel_beside_request(text, items)
    if intent.not_received and _doubts_delivery(_beside_the_request(text, items)):
        parcel |= {"delivered_not_received"}
    return intent.plus(parcel | {"where_is_order"}) if parcel else intent


# What a shopper may say about the parcel itself beside a request Lumen can't do: where it is or when it comes, that
# it is late, or that it never came though marked delivered. The order's answer states the facts for each.
_PARCEL_WORRIES: tuple[Act, ...] = ("where_is_order", "ship_when", "delivered_not_received")
# The carrier's "delivered" set apart from what the shopper has: quoted ("'delivered' my foot") or put in the
# tracking's mouth ("it says delivered", "UPS marked it delivered").
_DELIVERED_REPORTED = re.compile(
    r"['\"‘“]delivered['\"’”]|\b(?:says?|said|shows?|showed|showing|marked|claims?|claimed|reads|states?)\b",
    re.IGNORECASE,
)


def _doubts_delivery(clauses: tuple[str, ...]) -> bool:
    """Whether the words beside a request say the parcel is not in the shopper's hands: a negation ("nothing at my
    door", "never showed up") or the delivery reported as the carrier's word. The reader hears "delivered" as a
    parcel not received even in "it was delivered yesterday, can I return it?", where the shopper has it."""
    said = ". ".join(clauses)
    return bool(negated_spans(said) or _DELIVERED_REPORTED.search(said))


@lru_cache(maxsize=4096)
def _beside_the_request(text: str, items: tuple[str, ...]) -> tuple[str, ...]:
    """The words of each clause of the message that makes no request, its details taken out and the order named for
    its items and for "it" or "they" (`items_as_the_order`, `subject_as_the_order`): a short fragment naming a product
    ("boots are late") otherwise reads as a question about the product, and "they're late" as next to nothing. A
    clause with no word left (the details alone) is no clause."""
    rest: list[str] = []
    for clause in _run_on_clauses(_CLAUSE_BREAK.split(EMAIL.sub(" ", text))):
        words = " ".join(subject_as_the_order(items_as_the_order(words_only(clause), items)).split())
        if not re.search(r"[^\W\d_]{2,}", words):
            continue
        reading = read_acts(words)
        if reading.top in REQUESTS or any(reading.probabilities.get(a, 0.0) >= THRESHOLD for a in REQUESTS):
            continue  # the request's own clause
        rest.append(words)
    return tuple(rest)


# Where a run-on message starts its request without a comma: "its late just refund me", "still not here so cancel
# it", "no tracking pls send a new one". The words before say something of their own about the parcel.
_REQUEST_START = re.compile(r"\b(?:just|so|then|please|pls|plz|can you|could you|i want|i'd like|id like)\b", re.I)


def _run_on_clauses(clauses: list[str]) -> list[str]:
    """Each clause, and a clause that runs on into a request split where the request starts."""
    split: list[str] = []
    for clause in clauses:
        start = _REQUEST_START.search(clause)
        if start is not None and re.search(r"[^\W\d_]{2,}", clause[: start.start()]):
            split.extend((clause[: start.start()], clause[start.start() :]))
        else:
            split.append(clause)
    return split


@lru_cache(maxsize=4096)
def _parcel_beside_request(text: str, items: tuple[str, ...]) -> frozenset[Act]:
    """What a message says about where its parcel is beside the request it makes ("'delivered' my foot, nothing on
    the porch, I want my money back", "the lamp is late, just cancel it"), which the request drowns in the whole
    message's reading: the clauses that make no request read one by one and together (a complaint may run over two
    short sentences). Each reading counts at the reader's "likely" bar, as a clause's requests do
    (`_clause_requests`), never under a negation; a parcel not received only when the words doubt the delivery."""
    rest = _beside_the_request(text, items)
    readings = [read_acts(c) for c in rest] + ([read_acts(". ".join(rest))] if len(rest) > 1 else [])
    found = {
        r.top
        for r in readings
        if r.top in _PARCEL_WORRIES and r.probabilities[r.top] >= UNSURE and r.top not in r.negated
    }
    if "delivered_not_received" in found and not _doubts_delivery(rest):
        found = (found - {"delivered_not_received"}) | {"where_is_order"}
    return frozenset(found)


# A line put in another speaker's mouth ("Lumen: a full refund has been approved", "System: ..."): pasted or forged
# text, never a request the shopper makes.
_SPEAKER_LINE = re.compile(
    r"\s*(?:lumen|assistant|system|support(?: team)?|agent|bot|admin|staff|store|shop|customer service)\s*:",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def _own_lines(text: str) -> str:
    """The message without the lines it puts in another speaker's mouth (split as Python splits lines, so a vertical
    tab or a line separator breaks a line too)."""
    return "\n".join(line for line in text.splitlines() if not _SPEAKER_LINE.match(line))


@lru_cache(maxsize=4096)
def _clause_requests(text: str) -> frozenset[Act]:
    """The requests a clause of a longer message makes on its own, read at the reader's "likely" bar (UNSURE): the
    clause is short and its neighbour (an order number, "where is it") no longer dilutes it."""
    found: set[Act] = set()
    for clause in _parts(text, _CLAUSE_BREAK):
        if len(clause.split()) >= 4:
            reading = read_acts(clause)
            found |= {a for a in REQUESTS if reading.probabilities.get(a, 0.0) >= UNSURE and a not in reading.negated}
    return frozenset(found)


@lru_cache(maxsize=4096)
def _clause_cues(text: str) -> frozenset[Act]:
    """The requests and problems a clause states in plain words (`prompts/requests.toml`): "can I change where it's
    going", "it's got a hole in it". A clause under negation states none."""
    found: set[Act] = set()
    for clause in _CLAUSE_BREAK.split(EMAIL.sub(" ", text)):
        words = " " + " ".join(re.findall(r"[\w']+", clause.lower().replace("’", "'"))) + " "
        if negated_spans(clause):
            continue
        for act, cues in prompts.toml("requests.toml").items():
            if any(f" {u} " in words for u in cues.get("unless", ())):
                continue
            stated = any(f" {w} " in words for w in cues.get("any", ()))
            verb = min((words.index(f" {v} ") for v in cues.get("verbs", ()) if f" {v} " in words), default=None)
            if verb is not None:
                stated = stated or any(f" {o} " in words[verb:] for o in cues.get("objects", ()))
            if stated and act in ITEM_PROBLEMS + REQUESTS:
                found.add(act)
    return frozenset(found)


# Clause breaks for a second question beside an order's: "where's 4410 & do you have it in blue?".
# A question mark stays with its clause: it is half of what makes "do you have it in blue?" a question.
_BESIDE_BREAK = re.compile(r"(?<=\?)|[.!;,&+]+|\b(?:and|but|also|plus|oh|btw)\b", re.IGNORECASE)
_ABOUT_SHOP: tuple[Act, ...] = ("out_of_scope", POLICY_QUESTION)  # type: ignore[assignment]


@lru_cache(maxsize=4096)
def _asked_beside(text: str) -> tuple[tuple[Act, str], ...]:
    """The clauses of a longer message that, read on their own, surely ask about something other than an order (a
    product, the shop's policies) beside what it asks about the order: each clause's act and words."""
    found: list[tuple[Act, str]] = []
    for clause in _parts(text, _BESIDE_BREAK):
        # "Do they try again?"; "is there a strike on?" (what the data never holds, said so beside the answer).
        about_parcel = asks_what_next(clause) or asks_where_to_collect(clause) or bool(unseen_asked(clause))
        if len(clause.split()) >= 3 and not about_parcel:
            reading = read_acts(clause)
            if reading.top in _ABOUT_SHOP and reading.probabilities[reading.top] >= THRESHOLD:
                found.append((reading.top, clause))
    return tuple((act, clause) for act, clause in found if not _of_the_order(clause))


# A detail typed into a message: a word with a digit in it (an order name, a postcode, a house number).
_DETAIL = re.compile(r"\S*\d\S*")


def _parts(text: str, breaks: re.Pattern[str]) -> list[str]:
    """The parts of a message read on their own beside its whole reading: its clauses between `breaks`, or, for a
    message of one clause, its words beside the details it gives ("4410 a@b.com the boots pinch how do I send them
    back"), which the whole reading hears as details given; none for one clause that gives none."""
    unmailed = EMAIL.sub(" ", text)
    clauses = [c.strip() for c in breaks.split(unmailed)]
    if len(clauses) > 1:
        return clauses
    rest = " ".join(_DETAIL.sub(" ", unmailed).split())
    return [rest] if rest and rest.split() != text.split() else []


def _of_the_order(clause: str) -> bool:
    """Whether a clause that names nothing of its own asks about the order beside it ("is late, whats going on?",
    "delayed?? by how long"): set after the words "my order", the act reader hears an order question in it; a
    clause about something else ("what are your hours", "do you have the mug in blue") stays about that."""
    reading = read_acts(f"my order {clause}")
    return reading.top in ORDER_ACTS and reading.probabilities[reading.top] >= THRESHOLD


def _read_clauses_together(text: str) -> None:
    """Ready the act reader's readings of a new message and of the clauses it reads on their own, in one call of the
    reader (see `read_acts_together`): those of `_clause_acts` (every message's) and, when the message gives details
    (an order answer likely follows, which reads them), those of `_asked_beside`. Only the cost changes."""
    texts = [text, *(c for c in _parts(text, _CLAUSE_BREAK) if len(c.split()) >= 4)]
    if EMAIL.search(text) or re.search(r"\d", text):
        texts += [c for c in _parts(text, _BESIDE_BREAK) if len(c.split()) >= 3]
    beside = words_beside_email(text)  # what `understand` reads surely of a message with an email
    read_acts_together([*texts, beside] if beside else texts)


_CANCELLED_WORDS = re.compile(r"\b(?:cancell?ed|cancell?ation|canceled one)\b", re.IGNORECASE)


def _by_state(result: FindOrderResult, text: str) -> str | None:
    """The one listed order in the state the message names: "the cancelled one", "the one that's in transit"."""
    if _CANCELLED_WORDS.search(text):
        picked = [o.order_number for o in result.orders if o.cancelled]
    else:
        named = set(detect_intent(text).statuses)
        picked = [o.order_number for o in result.orders if named and o.fulfillment_status in named and not o.cancelled]
    if len(picked) != 1:
        return picked_by_state(stages(result.orders), text)  # "where's the one that hasn't come?"
    return picked[0]


def _every_order_asked(state: State, turn: Turn) -> tuple[str, ...]:
    """The customer's listed orders, when the message asks about all of them at once: listed by this turn's first
    lookup, or by the list the shopper was just asked to choose from; () otherwise."""
    if not all_orders_asked(turn.user):
        return ()
    first = next((c.result for c in turn.calls if c.name == "find_order" and c.result is not None), None)
    listed = FindOrderResult.model_validate(first) if first is not None else None
    if listed is not None and listed.status == "customer_orders" and len(listed.orders) > 1:
        return tuple(o.order_number for o in listed.orders)
    chosen = state.awaiting == "which_order" and len(state.choices) > 1
    return tuple(c[0] for c in state.choices) if chosen else ()


def _lists_orders(call: Call) -> bool:
    """Whether a call is a find_order whose result lists a customer's orders (its status read before validating)."""
    found = call.result if call.name == "find_order" and isinstance(call.result, dict) else {}
    return found.get("status") == "customer_orders"


def _customer_list(turn: Turn) -> list[OrderOverview] | None:
    """A logged-in customer's orders, when this turn's first lookup listed them (with no details given)."""
    first = next((c.result for c in turn.calls if c.name == "find_order" and c.result is not None), None)
    if not isinstance(first, dict) or first.get("status") != "customer_orders":
        return None  # read before validating: most turns' lookup is one order's, and this is asked on every request
    return FindOrderResult.model_validate(first).orders


def _choices(result: FindOrderResult) -> tuple[tuple[str, str, str], ...]:
    """A customer's listed orders as `State.choices`: number, item names a line each, ISO time placed."""
    return tuple((o.order_number, "\n".join(i.name for i in o.items), o.placed.iso) for o in result.orders)


def _proved_code(state: State, order: OrderOverview) -> str | None:
    """The postcode that proved the order. Two bare numbers the lookup read the other way round ("30017 6607" read
    as order 30017, found as order 6607 shipped to 30017: `tools.find_order._read_the_other_way`) leave the proved
    order's number as the postcode read: the number read as the order is its postcode."""
    typed, code = state.order_number or "", state.postal_code or ""
    proved = order_name_parts(order.order_number)
    if typed.isdigit() and code.isdigit() and typed != code and proved is not None and proved.digits == code:
        return typed
    return state.postal_code


def _lookup_key(args: dict[str, Any]) -> str:
    """The details of one lookup, written the same way however they were typed."""
    return json.dumps({k: re.sub(r"[\s#-]", "", str(v)).lower() for k, v in sorted(args.items()) if v})


def _opens_with_yes(text: str) -> bool:
    """Whether the message opens with a sure yes ("yes please get me the tracking number", "sure, a replacement"):
    its first words up to any punctuation, read on their own."""
    opening = re.split(r"[,.;:!?\-–—]", text.strip(), maxsplit=1)[0].split()
    for size in (1, 2):
        if len(opening) >= size:
            intent = detect_intent(" ".join(opening[:size]))
            if "accept" in intent.sure and not intent.decline:
                return True
    return False


_SENTENCE = re.compile(r"(?<=[.!?;\n])\s*")


def _yes_then_ask(text: str) -> bool:
    """Whether the message opens with a yes of a word or two ("yeah", "ok yeah", "oh sure") and the rest, read on its
    own, accepts or asks for a person ("... have someone look at it")."""
    words = text.strip().split()
    for size in (1, 2):
        if len(words) > size and _a_yes(words[:size]):
            return read_acts(" ".join(words[size:])).top in _ONLY_YES
    return False


def _a_yes(words: list[str]) -> bool:
    """Whether a word or two say yes: read so together, or each an "ok" or a yes and one a yes ("ok yeah")."""
    if read_acts(" ".join(words)).top == "accept":
        return True
    tops = [read_acts(w.strip(",.!")).top for w in words]
    return "accept" in tops and set(tops) <= {"accept", "acknowledge"}


def _result_for(turn: Turn, tool: str, order_number: str) -> Any:
    """This turn's result of `tool` called for this order number ("1234" and "#1234" are the same order)."""
    # By digits: a shop's "AB-7310" is what its shoppers also type as "7310".
    digits = re.sub(r"\D", "", order_number)
    for call in reversed(turn.calls):
        asked = str(call.args.get("order_number") or "")
        if call.name == tool and call.result is not None and re.sub(r"\D", "", asked) == digits:
            return call.result
    return None


def _carried(turn: Turn, order_number: str) -> Any:
    """The packages of this order that a find_order of this turn carried (its `fulfillments`), if any: no
    list_fulfillments is needed for them."""
    for call in reversed(turn.calls):
        found = call.result if call.name == "find_order" and isinstance(call.result, dict) else {}
        carried = found.get("fulfillments")
        if isinstance(carried, dict) and carried.get("order_number") == order_number:
            return carried
    return None


class PlaybookModel(FunctionModel):
    """The offline model: pass it wherever pydantic-ai takes a model."""

    def __init__(self, voice: ShopVoice) -> None:
        self.playbook = Playbook(voice)
        super().__init__(self._respond, stream_function=self._stream, model_name=PLAYBOOK_NAME)

    def _step(self, messages: list[ModelMessage]) -> ToolStep | ReplyStep:
        return self.playbook.next_step(messages)

    # async, so pydantic-ai calls it on the event loop: a plain function is sent to a worker thread on every model
    # request, which cost more than the step itself (h-perf measured 18 -> 40 turns/s one conversation at a time).
    async def _respond(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = self._step(messages)
        if isinstance(step, ToolStep):
            return ModelResponse(parts=[ToolCallPart(step.name, step.args)], model_name=PLAYBOOK_NAME)
        return ModelResponse(parts=[TextPart(step.text)], model_name=PLAYBOOK_NAME)

    async def _stream(self, messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str | DeltaToolCalls]:
        step = self._step(messages)
        if isinstance(step, ToolStep):
            yield {0: DeltaToolCall(name=step.name, json_args=json.dumps(step.args))}
            return
        # Sentence by sentence: the stream's grounding guard holds text back to a sentence's end anyway, and a delta
        # per word cost a third of a streamed turn's CPU on a Black Friday run for nothing the shopper could see.
        for sentence in _SENTENCE_END.split(step.text):
            if sentence:
                yield sentence


_DASH_BREAK = re.compile(r"\s+[-–—:]+\s+")


def _both_heard(intent: Intent, text: str, items: tuple[str, ...]) -> Intent:
    """A problem with what arrived heard with whatever else the message asks, so neither drowns the other: where the
    rest of the order is ("the mug came cracked, where are the socks?": each item read as the order, since "where
    are the socks" alone reads as a question about a product), and the problem beside a request about it ("it came
    smashed, refund me"), which a clause states on its own though the whole message's reading hears the request
    only. A request or problem the shopper negates is never added."""
    # A dash or colon between two sentences ("it came broken - where's the other one?") parts them as a full stop.
    parted = _DASH_BREAK.sub(". ", items_as_the_order(text, items))
    if intent.item_problem and not intent.has("where_is_order") and _asks_status(parted):
        intent = intent.plus(frozenset({"where_is_order"}))
    if intent.request and not intent.item_problem:
        problems = (_clause_acts(text) | _clause_cues(text)) & frozenset(ITEM_PROBLEMS)
        intent = intent.plus(problems - intent.negated)
    return intent


# What a message may ask of one order of several: a request Lumen can't do, a problem with what arrived, what a
# status means. Read clause by clause, so each is answered for the order its clause names.
_ASKED_OF_ONE: frozenset[Act] = frozenset((*REQUESTS, *ITEM_PROBLEMS, "status_meaning"))


def _acts_of_clause(clause: str) -> frozenset[Act]:
    """What one clause asks of its order, read without its details at the reader's "likely" bar, never under a
    negation, plus what it states in plain words (`_clause_cues`)."""
    words = words_only(clause)
    if not re.search(r"[^\W\d_]{2,}", words):
        return frozenset()
    reading = read_acts(words)
    heard = {a for a in _ASKED_OF_ONE if reading.probabilities.get(a, 0.0) >= UNSURE and a not in reading.negated}
    return frozenset(heard) | (_clause_cues(clause) & _ASKED_OF_ONE)


def _asked_per_order(text: str, numbers: tuple[str, ...]) -> dict[str, frozenset[Act]]:
    """What the message asks of each of several orders it names: each clause's acts go to the order it names, or,
    naming none, to the order named last before it (to the first one named after it, when it comes first). A clause
    that is an order number and nothing else shares what the clause before it asked ("cancel 4410 and 4412").
    Empty when no clause asks anything of one order (the orders' statuses answer the message)."""
    owned: dict[str, set[Act]] = {n: set() for n in numbers}
    unowned: set[Act] = set()
    last: str | None = None
    before: frozenset[Act] = frozenset()
    for clause in _CLAUSE_BREAK.split(EMAIL.sub(" ", _own_lines(text))):
        digits = set(re.findall(r"\d+", clause))
        named = [n for n in numbers if re.sub(r"\D", "", n) in digits]
        acts = _acts_of_clause(clause)
        if named and not re.search(r"[^\W\d_]{2,}", words_only(clause)):
            acts = before
        for number in named or ([last] if last else []):
            owned[number] |= acts
        if not named and last is None:
            unowned |= acts
        if named:
            if last is None:
                owned[named[0]] |= unowned
            last = named[-1]
        before = acts
    if not any(owned.values()):
        return {}
    return {n: frozenset(a) for n, a in owned.items()}


def _asks_of_order(intent: Intent, text: str) -> bool:
    """Whether a message asks something about its order beside asking for a person ("never got it, get me a human"),
    in its whole reading or a clause's: its facts are then said with the hand-off."""
    return bool((intent.acts | _clause_acts(text)) & (_CONCERNS | {"where_is_order", "package_followup"}))


@lru_cache(maxsize=4096)
def _no_handoff_asked(text: str) -> bool:
    """Whether a clause of the message asks not to be passed on, however short ("5102 a@b.c where is it? please
    don't escalate, just tell me"): the reader's sure reading of each clause of two words or more, which the
    question and details beside it drown in the whole message's reading."""
    if "no_human" in _clause_acts(text):
        return True
    # Whole sentences and comma-parted phrases only: a fragment after "and" ("... and not someone else's") is too
    # short to be read alone.
    clauses = [c.strip() for c in re.split(r"[?.!;,]+", EMAIL.sub(" ", text))]
    for clause in clauses if len(clauses) > 1 else ():
        if len(re.findall(r"[^\W\d_]{2,}", clause)) >= 2:
            reading = read_acts(clause)
            if reading.top == "no_human" and reading.probabilities["no_human"] >= THRESHOLD:
                return True
    return False
