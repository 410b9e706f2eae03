"""What a shopper says just after an order's status that the act reader has no act for, or hears as something else
(the words in `prompts/reading.toml` [fault], [tracking_broken], [records_asked]; [cannot_do] and [disputed_event]
are read by `cannot_do.py`):

- a fault with an item they have ("it came but doesn't turn on", "arrived fine but won't charge"): a problem with
  what arrived, said as a fault, never the delivery status again;
- the tracking said not to work ("the tracking link gives me an error"): the carrier and number from the data, and
  the team to check them with the carrier;
- "what does your system say about it?": a status question;
- something of the order Lumen can't do (its packing, a receipt, collecting it themselves) or a carrier's event
  disputed ("i was home all day though"): what Lumen can't do or what the carrier recorded, and the team offered;
- what a status the shopper names means for them ("is 'label printed' bad?", "why does it say exception"): what the
  status means ([status_worry]);
- someone else took it in ("I didn't collect it, my wife did"): acknowledged, no dispute and no team ([taken_in]);
- "who is that?": the carrier or pickup point the data names ([who_asked]);
- "should I ask the courier or you?": the carrier and tracking to check with, and the team ([whom_to_ask]);
- "and the other one?" of a split order: the part not come yet ([other_part]).
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from agent import prompts
from agent.dates_said import arrival_day_asked
from agent.playbook.acts import APOSTROPHES, Act, negated_spans
from agent.playbook.cannot_do import cannot_do_asked, disputes_event
from agent.playbook.compose import Answer, Composer
from agent.playbook.follow_ups import asks_question, asks_where_to_collect
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


# Statuses that say the parcel came: "why does it say delivered" disputes the delivery, it asks no meaning.
_ARRIVED = frozenset(("DELIVERED", "PICKED_UP"))


@lru_cache(maxsize=1)
def _probe_patterns() -> dict[str, re.Pattern[str]]:
    def w(section: str, key: str) -> str:
        return _phrases(prompts.words(section, key))

    lines = (line.strip() for line in prompts.text("carriers.txt").splitlines())
    carriers = _phrases([c for c in lines if c and not c.startswith("#")])
    taken = rf"{w('taken_in', 'people')}(?:\s+[\w']+){{0,2}}?\s+{w('taken_in', 'did')}(?!\s+not\b)"
    other = rf"{w('other_part', 'the')}\s+other\s+{w('other_part', 'parts')}|{w('other_part', 'alone')}"
    return {
        "worry": _bounded(w("status_worry", "worry")),
        "judge": _bounded(w("status_worry", "judge")),
        "judge_asks": _bounded(w("status_worry", "asks")),
        "says": _bounded(w("status_worry", "says")),
        "taken_in": _bounded(rf"{taken}|{w('taken_in', 'by')}\s+{w('taken_in', 'people')}"),
        "who": _bounded(rf"{w('who_asked', 'asks')}|{w('who_asked', 'who')}\s+(?:the\s+)?{carriers}"),
        "other_part": _bounded(other),
        "not_moving": _bounded(w("not_moving", "still")),
        "late": _bounded(w("not_moving", "late")),
        "days_left": _bounded(w("not_moving", "days_left")),
        "when": _bounded(w("who_asked", "when")),
        "going_back": _bounded(w("going_back", "back")),
        "sources": _bounded(w("source_differs", "sources")),
        "differs": _bounded(w("source_differs", "differs")),
        "whom": _bounded(rf"{w('whom_to_ask', 'asking')}\s+{w('whom_to_ask', 'verbs')}"),
        "carrier_side": _bounded(rf"{carriers}|{w('whom_to_ask', 'carrier')}"),
        "shop_side": _bounded(w("whom_to_ask", "shop")),
        "now": _bounded(w("where_now", "now")),
    }


def status_worry_asked(text: str, intent: Intent) -> bool:
    """Whether a message that names a status asks what it means for the shopper: "is 'label printed' bad?", "should I
    worry that it says delayed?", "why does it say exception" (not "why does it say delivered", a delivery disputed,
    nor "is it delayed?", a status question)."""
    if not intent.statuses or (intent.not_received and set(intent.statuses) <= _ARRIVED):
        return False
    typed = text.translate(APOSTROPHES)
    found = _probe_patterns()
    if found["worry"].search(typed):
        return True
    if any(found["judge"].search(c) and found["judge_asks"].search(c) for c in _CLAUSE.split(typed)):
        return True
    return intent.asks_why and found["says"].search(typed) is not None and not set(intent.statuses) & _ARRIVED


def taken_in_by_other(text: str) -> bool:
    """Whether the message says someone else took the parcel in or collected it ("I didn't collect it, my wife did",
    "my neighbour took it in"), outside a negation; "I never collected it" says no such thing."""
    plain = text.translate(APOSTROPHES)
    for start, end in negated_spans(plain):
        plain = plain[:start] + " " * (end - start) + plain[end:]
    return _probe_patterns()["taken_in"].search(plain) is not None


def who_asked(text: str) -> bool:
    """Whether the message asks who has the parcel ("who is that?", "who's evri?")."""
    return _probe_patterns()["who"].search(text.translate(APOSTROPHES)) is not None


# "Or" as a word: the shopper weighs two to ask ("the post office or you", "the shop or dpd?").
_OR = re.compile(r"\bor\b", re.IGNORECASE)


def whom_to_ask(text: str) -> bool:
    """Whether a clause of the message asks whom to take the parcel up with, the carrier or the shop ("should I ask
    aramex or you?", "do I contact the courier or you guys?"): asking who to turn to, and both sides named."""
    found = _probe_patterns()
    for clause in re.split(r"[.;!?]+", text.translate(APOSTROPHES)):
        asked = found["whom"].search(clause)
        if asked is None or not _OR.search(clause, asked.start()):
            continue
        if found["carrier_side"].search(clause) and found["shop_side"].search(clause, asked.end()):
            return True
    return False


def where_now_asked(text: str) -> bool:
    """Whether a message asking where the order is asks where it is at this moment ("so where is it right now?",
    "where's the brush right now"): the carrier's newest update and its place, not the status alone."""
    return _probe_patterns()["now"].search(text.translate(APOSTROPHES)) is not None


def other_part_asked(text: str) -> bool:
    """Whether the message asks about the part of the order not talked of yet ("where is the other one", "and the
    other parcel?", "what about the rest?"); "the other order" is another order."""
    return _probe_patterns()["other_part"].search(text.translate(APOSTROPHES)) is not None


def not_moving(text: str) -> bool:
    """Whether the message says the tracking hasn't moved ("the tracking hasn't moved in a week", "no updates since
    monday")."""
    return _probe_patterns()["not_moving"].search(text.translate(APOSTROPHES)) is not None


def source_differs(text: str) -> bool:
    """Whether the message says another source (the carrier's app or site, an email) shows something else ("the app
    says something else")."""
    typed = text.translate(APOSTROPHES)
    found = _probe_patterns()
    return found["sources"].search(typed) is not None and found["differs"].search(typed) is not None


# What the reader may hear in a message about the tracking itself ("the tracking hasn't moved in a week").
# A request read surely stands ("it's late, I want a refund"); one only guessed ("the courier was late" as a refund)
# does not.
_ABOUT_TRACKING: frozenset[Act] = frozenset((*_UNSURE, "where_is_order", "missing_tracking"))


# Where a parcel marked delivered was left that the data never says: which locker, which neighbour.
_LEFT_SOMEWHERE = frozenset(("locker", "neighbour"))


def _about_tracking(intent: Intent, text: str) -> Intent | None:
    """ "The tracking hasn't moved in a week", "the app says something else", "it says delivered to a locker but
    which one": about the tracking Lumen just gave, however the reader heard it (a parcel "not received" there is in
    a locker or with a neighbour the shopper can't find, no dispute)."""
    guessed = intent.acts - intent.sure
    if _LEFT_SOMEWHERE & set(unseen_asked(text)) and intent.sure <= {"delivered_not_received", "package_followup"}:
        return replace(intent, acts=frozenset({"package_followup"}), sure=frozenset())
    if not intent.acts - guessed <= _ABOUT_TRACKING:
        return None
    if source_differs(text):
        return replace(intent, acts=frozenset({"package_followup"}), focus="source_differs")
    if not_moving(text):
        return replace(intent, acts=frozenset({"package_followup"}), focus="not_moving")
    if _probe_patterns()["late"].search(text.translate(APOSTROPHES)):
        # "The courier was late": why, as far as the carrier's latest words say (the why answer), no refund asked.
        return replace(intent, acts=frozenset({"where_is_order"}), asks_why=True, focus=None)
    if intent.acts <= _UNSURE | {"where_is_order"} and _probe_patterns()["days_left"].search(text):
        # "How many days left": when it comes, from the data, though the reader heard something off topic.
        return replace(intent, acts=frozenset({"package_followup"}), focus="eta")
    return None


def _whom_asked(intent: Intent, text: str) -> Intent | None:
    """ "Do I chase Purolator or you?": whom to turn to, no person asked for yet (whatever the reader guessed of
    one): the carrier and tracking, then the team. None for anything else."""
    if not intent.sure & _SURE_STANDS <= {"ask_human"} or intent.no_human or not whom_to_ask(text):
        return None
    return replace(intent, acts=frozenset({"package_followup"}), sure=frozenset(), focus="whom_to_ask")


def _status_or_who(intent: Intent, text: str) -> Intent | None:
    """ "Is 'label printed' bad?", "should I worry that it says delayed?": what the status means. "Is it coming back
    to you?": what happens next. "Who is that?": who the data says has it (the carrier, the pickup point), and when
    it comes if that is asked too ("when will it arrive and who is delivering it?"). None for anything else."""
    if status_worry_asked(text, intent):
        return replace(intent, acts=frozenset({"status_meaning"}), focus="worry")
    when = _probe_patterns()["when"].search(text.translate(APOSTROPHES)) is not None
    if intent.acts == {"status_meaning"} and when:
        # "What does 'in transit' mean and when will it get here?": both asked, both answered.
        return replace(intent, focus="meaning_eta")
    if asks_question(text) and _probe_patterns()["going_back"].search(text.translate(APOSTROPHES)):
        # "Is it coming back to you?": what happens next, in the carrier's words; no return or refund of the shopper's.
        return replace(intent, acts=frozenset({"package_followup"}), focus="next")
    if not who_asked(text) or not intent.acts <= _UNSURE | {"where_is_order"}:
        return None
    return replace(intent, acts=frozenset({"package_followup"}), focus="who_eta" if when else "who")


def heard_after_status(intent: Intent, text: str) -> Intent | None:
    """What a message just after an order's status asks of that order, where the reader heard something else or
    nothing it has an act for; None when the reader's own reading stands. These readings name what is asked, so
    they win over a request, a problem or a person the reader only guessed ("can you send me the invoice" is no
    replacement, "nobody even knocked" no parcel lost); what it is sure of stands."""
    sure = intent.sure & _SURE_STANDS
    asked = asks_question(text) or not intent.has("thanks", "acknowledge")  # "thanks, the rest came" asks nothing
    # "The aus post number doesn't work, what's the other one": another of the carrier's numbers, no other parcel.
    asked = asked and intent.focus in (None, "rest", "eta")
    if not sure and not intent.human and asked and other_part_asked(text):
        # "Thanks but where is the other one", "and the other parcel": the part of a split order not come yet.
        return replace(intent, acts=frozenset({"package_followup"}), focus="rest")
    if intent.thanks or intent.goodbye:
        return None
    tracking = _whom_asked(intent, text) or _about_tracking(intent, text)
    if tracking is not None:
        return tracking
    if sure <= {"delivered_not_received", "missing_item"} and taken_in_by_other(text):
        # "I didn't collect it, my wife did": an explanation, never a parcel disputed.
        return replace(intent, acts=frozenset({"package_followup"}), sure=frozenset(), focus="taken_in")
    if tracking_broken(text) and sure <= {"missing_tracking", "damaged_item"}:  # a link is no damaged item
        return replace(intent, acts=frozenset({"package_followup"}), focus="tracking_broken")
    if fault_named(text) and sure <= {"damaged_item"}:
        # "Arrived fine but won't charge": a fault with what came, whatever else the reader guessed in it.
        fault: frozenset[Act] = frozenset({"damaged_item"})
        return replace(intent, acts=fault | intent.sure, focus="fault")
    if sure:
        return None
    named = _status_or_who(intent, text)
    if named is not None:
        return named
    if cannot_do_asked(text) and not asks_where_to_collect(text):
        # "I just wanted the receipt", "can I pick it up myself?": about this order, not off topic.
        return replace(intent, acts=frozenset({"package_followup"}), focus="cannot_do")
    if disputes_event(text):
        # "I was home all day though": what the carrier recorded, and the team to take it up.
        return replace(intent, acts=frozenset({"package_followup"}), focus="disputed")
    if (service_change_asked(text) or order_change_asked(text)) and not intent.human:
        # "Can they leave it with my neighbour?" (no "leave it" taken back), "could I pop a second lamp in with it":
        # the change's own answer (`Playbook._service_change`), not what the reader guessed. Asked of the team
        # ("could someone chase the courier for me?"), it is a request for them: the hand-off.
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
    if intent.focus == "taken_in":
        return Answer(c.r.say("taken_in.text", order_number=order.order_number))
    if intent.focus in ("who", "who_eta"):
        return _who_answer(c, order, result, intent)
    if intent.focus == "whom_to_ask":
        return c.whom_to_ask_answer(result)
    if intent.focus in ("worry", "meaning_eta") and not first_look:
        return _worry_answer(c, order, result, intent)
    if intent.focus in ("not_moving", "source_differs"):
        return _tracking_answer(c, result, arrived=intent.focus == "source_differs")
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


# Statuses a shopper may rightly worry about: the carrier's own words are said with what the status means, and the
# team offered.
_TROUBLE = frozenset(("DELAYED", "FAILURE", "NOT_DELIVERED", "ATTEMPTED_DELIVERY"))


def _worry_answer(c: Composer, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer:
    """ "Should I worry that it says delayed?", "why does it say exception": what the status means, in the shopper's
    own word for it; for a status of trouble, the carrier's latest words (all Lumen knows of it) and the team
    offered. "What does 'in transit' mean and when will it get here?": the meaning, then when it comes."""
    meaning = c.meaning_answer(order, result, intent.statuses, intent)
    text = meaning.text
    for code, word in intent.status_words:
        name = code.replace("_", " ").lower()
        if word.lower() != name and text.startswith(f'"{name.capitalize()}"'):
            text = f'"{word.capitalize()}"' + text[len(name) + 2 :]  # "Exception" means ..., as the shopper said it
    if intent.focus == "meaning_eta" and not meaning.offer:
        eta = c.focused_answer(order, result, replace(intent, focus="eta"))
        return Answer(c.join(text, eta.text), offer=eta.offer, topic=eta.topic) if eta else Answer(text)
    if not set(intent.statuses) & _TROUBLE or meaning.offer:
        return Answer(text, offer=meaning.offer, topic=meaning.topic)
    latest = c.latest_again(result)
    if not latest:
        return Answer(text, offer=meaning.offer, topic=meaning.topic)
    more = c.r.say("focus.why_more")
    return Answer(c.join(text, latest, more), offer="delayed_or_stuck", topic="delayed_or_stuck")


def _tracking_answer(c: Composer, result: FulfillmentsResult, *, arrived: bool) -> Answer | None:
    """ "The tracking hasn't moved in a week", "the app says something else" (`arrived`: of a delivered parcel too):
    each package's latest carrier update and its date (all Lumen sees), then the team offered to check with the
    carrier. None when no package has an update (the order's own answer says where it stands)."""
    lines = c.latest_updates(result, "not_moving.latest", arrived=arrived)
    if not lines:
        return None
    closing = c.r.say("source_differs.text" if arrived else "not_moving.more")
    return Answer(c.join(*lines, closing), offer="delayed_or_stuck", topic="delayed_or_stuck")


def _who_answer(c: Composer, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer | None:
    """ "Who is that?": who the data says has the parcel; "when will it arrive and who is delivering it?": that, then
    when it comes, each from the data."""
    who = c.who_answer(result)
    if who is None or intent.focus != "who_eta":
        return who
    eta = c.focused_answer(order, result, replace(intent, focus="eta"))
    return Answer(c.join(who.text, eta.text), offer=eta.offer, topic=eta.topic) if eta is not None else who
