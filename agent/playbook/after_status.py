"""What a shopper says just after an order's status that the act reader has no act for, or hears as something else
(the words in `prompts/reading.toml` [fault], [tracking_broken], [records_asked]; [cannot_do] and [disputed_event]
are read by `cannot_do.py`):

- a fault with an item they have ("it came but doesn't turn on", "arrived fine but won't charge"): a problem with
  what arrived, said as a fault, never the delivery status again;
- the tracking said not to work ("the tracking link gives me an error"): the carrier and number from the data, and
  the team to check them with the carrier;
- "what does your system say about it?": a status question;
- something of the order Lumen can't do (its packing, a receipt, collecting it themselves) or a carrier's event
  disputed ("i was home all day though"): what Lumen can't do or what the carrier recorded, and the team offered.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from agent import prompts
from agent.dates_said import arrival_day_asked
from agent.playbook.acts import APOSTROPHES, Act
from agent.playbook.cannot_do import cannot_do_asked, disputes_event
from agent.playbook.compose import Answer, Composer
from agent.playbook.follow_ups import asks_where_to_collect
from agent.playbook.order_change import order_change_asked
from agent.playbook.service_change import service_change_asked
from agent.playbook.understand import ITEM_PROBLEMS, REQUESTS, Intent, unseen_asked
from tools.list_fulfillments import FulfillmentsResult
from tools.views import OrderOverview

_CLAUSE = re.compile(rf"[.;!?]+|\b(?:{prompts.either('clauses', 'joiners')})\b", re.IGNORECASE)
# Requests, problems, a person or a parcel not received read surely are answered as themselves.
_SURE_STANDS: frozenset[Act] = frozenset((*REQUESTS, *ITEM_PROBLEMS, "ask_human", "delivered_not_received"))
# What the reader may hear in a message it has no act for: off topic, the shop's policy, an "ok", a follow-up.
_UNSURE: frozenset[Act] = frozenset(("out_of_scope", "policy_question", "acknowledge", "package_followup"))


def _phrases(words: list[str]) -> str:
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in sorted(words, key=len, reverse=True)) + ")"


def _bounded(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w'])(?:{pattern})(?![\w'])", re.IGNORECASE)


@lru_cache(maxsize=1)
def _patterns() -> dict[str, re.Pattern[str]]:
    # Through `prompts.words`, as every reading list is read: a missing or empty list fails at once.
    def w(section: str, key: str) -> str:
        return _phrases(prompts.words(section, key))

    not_doing = rf"{w('fault', 'not')}(?:\s+(?:even|properly|at\s+all|really))?\s+{w('fault', 'does')}(?!\s+for\b)"
    return {
        "fault": _bounded(f"{not_doing}|{w('fault', 'states')}"),
        "tracking": _bounded(w("tracking_broken", "things")),
        "broken": _bounded(w("tracking_broken", "broken")),
        "records": _bounded(w("records_asked", "records")),
        "own": _bounded(f"{w('instructions', 'own_order')}|{w('records_asked', 'verbs')}"),
        "showing": _bounded(w("records_asked", "showing")),
    }


def fault_named(text: str) -> bool:
    """Whether the message says an item doesn't work ("it came but doesn't turn on", "the screen is dead"); not a
    message about the tracking or a link ("the link doesn't work"), nor "that doesn't work for me"."""
    typed = text.translate(APOSTROPHES)
    found = _patterns()
    return found["fault"].search(typed) is not None and found["tracking"].search(typed) is None


def tracking_broken(text: str) -> bool:
    """Whether a clause of the message says the tracking doesn't work for the shopper ("the tracking link gives me an
    error", "your link is broken"); not "the tracking says delivered and the box is broken"."""
    found = _patterns()
    clauses = _CLAUSE.split(text.translate(APOSTROPHES))
    return any(found["tracking"].search(c) and found["broken"].search(c) for c in clauses)


def records_asked(text: str) -> bool:
    """Whether the message asks what Lumen's records show of the order ("what does your system say about it?",
    "what's it showing?")."""
    typed = text.translate(APOSTROPHES)
    found = _patterns()
    if found["showing"].search(typed):
        return True
    return found["records"].search(typed) is not None and found["own"].search(typed) is not None


def heard_after_status(intent: Intent, text: str) -> Intent | None:
    """What a message just after an order's status asks of that order, where the reader heard something else or
    nothing it has an act for; None when the reader's own reading stands. These readings name what is asked, so
    they win over a request, a problem or a person the reader only guessed ("can you send me the invoice" is no
    replacement, "nobody even knocked" no parcel lost); what it is sure of stands."""
    sure = intent.sure & _SURE_STANDS
    if intent.thanks or intent.goodbye:
        return None
    if tracking_broken(text) and sure <= {"missing_tracking", "damaged_item"}:  # a link is no damaged item
        return replace(intent, acts=frozenset({"package_followup"}), focus="tracking_broken")
    if fault_named(text) and sure <= {"damaged_item"}:
        # "Arrived fine but won't charge": a fault with what came, whatever else the reader guessed in it.
        fault: frozenset[Act] = frozenset({"damaged_item"})
        return replace(intent, acts=fault | intent.sure, focus="fault")
    if sure:
        return None
    if cannot_do_asked(text) and not asks_where_to_collect(text):
        # "I just wanted the receipt", "can I pick it up myself?": about this order, not off topic.
        return replace(intent, acts=frozenset({"package_followup"}), focus="cannot_do")
    if disputes_event(text):
        # "I was home all day though": what the carrier recorded, and the team to take it up.
        return replace(intent, acts=frozenset({"package_followup"}), focus="disputed")
    if service_change_asked(text) or order_change_asked(text):
        # "Can they leave it with my neighbour?" (no "leave it" taken back), "could I pop a second lamp in with it":
        # the change's own answer (`Playbook._service_change`), not what the reader guessed.
        return replace(intent, acts=frozenset({"package_followup"}))
    if arrival_day_asked(text):
        # "Will it be delivered today?" asks about a day to come, whatever the reader guessed: the day's answer.
        return replace(intent, acts=frozenset({"where_is_order"}))
    guessed = intent.acts - intent.sure  # "what if I'm not home, will they leave it outside?" is no "leave it" said
    if intent.acts <= _UNSURE | _SURE_STANDS | guessed and unseen_asked(text):
        # "Will I need to sign for it?", "is the snow going to hold it up?": what the data never holds, said so.
        return replace(intent, acts=frozenset({"package_followup"}))
    if intent.acts <= _UNSURE and records_asked(text):
        # "What does your system say about it?": the order's status.
        return replace(intent, acts=frozenset({"where_is_order"}))
    return None


def after_status_answer(
    c: Composer, order: OrderOverview, result: FulfillmentsResult, intent: Intent, said: str, *, first_look: bool
) -> Answer | None:
    """The answer to a broken tracking link or to something of the order Lumen can't do (`heard_after_status`):
    the carrier and tracking, or what Lumen can't do, and the team offered; after the order's status on a first look
    only. None for anything else."""
    if result.cancelled:
        return None
    sure = intent.sure & _SURE_STANDS
    if intent.focus == "tracking_broken" or (first_look and tracking_broken(said) and sure <= {"missing_tracking"}):
        return c.tracking_not_working(order, result, shown=not first_look)
    if sure or (intent.focus != "cannot_do" and (intent.item_problem or intent.not_received)):
        return None
    asked = cannot_do_asked(said)
    if asked is None or asks_where_to_collect(said):
        return None
    line = c.r.say(f"request.{asked}", order_number=order.order_number)
    if not first_look:
        return Answer(line, offer="other", topic=asked)
    status = c.without_offers(c.order_answer(order, result, intent).text)
    return Answer(c.join(status, line), offer="other", topic=asked)
