"""Writing an answer about one order from tool results only, through the templates in `prompts/replies.toml`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache

from babel import Locale
from babel.dates import format_datetime, format_skeleton, match_skeleton
from babel.numbers import format_currency, format_decimal

from agent import prompts
from agent.persona import Persona
from agent.playbook.understand import (
    ASPECT_ANSWER,
    POLICY_TOPICS,
    Intent,
    PolicyQuestion,
    places_named,
    policy_question,
    statuses_as_shown,
    statuses_opening,
)
from agent.playbook.voice import ShopVoice
from agent.prompts import Replies
from shopify.names import NameFormat
from shopify.shop_locale import babel_locale
from tools.find_order import FindOrderResult
from tools.list_fulfillments import FulfillmentsResult
from tools.views import Item, OrderOverview, Package, ScanEvent, When

STALE_AFTER_DAYS = 5
# The number inside the example order name Lumen shows when it asks for one.
EXAMPLE_ORDER_NUMBER = 1234
# Display statuses that say a package reached the shopper even where Shopify records no delivery time.
_ARRIVED = frozenset(("DELIVERED", "PICKED_UP"))
# A sentence ending on an abbreviation ("9:00 a.m.", "Northwind Co.", "Acme Inc.") takes no second full stop;
# an ellipsis ("...") is left alone.
# Where a reply's sentences meet: a line break, or the space after a sentence's end (kept, to put back as it was).
_SENTENCE_BREAK = re.compile(r"(\s*\n\s*|(?<=[.!?])[ \t]+)")
_DOUBLE_STOP = re.compile(r"(?<=\w\.)\.(?!\.)")
_INTERNATIONAL_HINTS = re.compile(r"origin country|export|international|customs|import|abroad|border", re.IGNORECASE)
_CONTEXT_TOPICS = {
    "unshipped": ("ship", "pre-order", "preorder", "backorder", "dispatch", "process", "made to order", "handmade"),
    "delivered_not_received": ("deliver", "lost", "stolen", "missing", "claim", "porch", "neighbo"),
    "in_transit": ("transit", "carrier", "delay", "international", "customs"),
    "cancelled": ("cancel", "refund"),
    "pickup": ("pickup", "pick up", "pick-up", "collect", "opening hours", "open"),
}


# A package's states in which it waits for the shopper to fetch it: the carrier's words say where.
_WAITS_FOR_SHOPPER = frozenset({"ATTEMPTED_DELIVERY", "READY_FOR_PICKUP"})


class LocaleReplies(Replies):
    """The templates in one tone, with the words that change between countries (`{postcode_word}`) filled in from
    `prompts/locale.toml` for the shop's locale: "postcode" in the UK, "ZIP code" in the US; and the example order
    number (`{order_example}`) written the way the shop writes its order names ("AB-1234", "#1234-IE")."""

    def __init__(self, tone: str, locale: str, name_format: NameFormat | None = None) -> None:
        super().__init__(tone)
        self.words = locale_words(locale) | {"order_example": order_example(name_format)}

    def say(self, key: str, **fields: object) -> str:
        # A time the locale writes "3:00 p.m." ends a template's sentence with one full stop, not two.
        return one_full_stop(super().say(key, **(self.words | fields)))


# Capital letters said with a vowel sound first ("an REI order", "an H&M order", but "a QVC order").
_VOWEL_SOUND_LETTERS = frozenset("AEFHILMNORSX")


def indefinite_article(name: str) -> str:
    """ "a" or "an" before a shop's name as it is said: by its first vowel for a word ("an Amazon order"), by the
    sound of its first letter's name for initials ("an REI order", "a QVC order")."""
    if not name:
        return "a"
    first = name.split()[0]
    initials = len(re.sub(r"[^A-Za-z]", "", first)) > 1 and first.isupper()  # "REI", "H&M", not "Etsy"
    if initials:
        return "an" if name[0] in _VOWEL_SOUND_LETTERS else "a"
    return "an" if name[0].lower() in "aeiou" else "a"


# The same days come up in answer after answer (every order shipped or due that day): each is written once.
@lru_cache(maxsize=4096)
def _date_said(iso: str, written: str, this_year: int, locale: str) -> str:
    """A day as an answer says it: without the year when it is this year ("Tuesday, February 24"), else as the tool
    wrote it (`written`)."""
    local = datetime.fromisoformat(iso)
    if local.year != this_year:
        return written
    return format_datetime(local, _weekday_month_day(locale), locale=babel_locale(locale))


def one_full_stop(text: str) -> str:
    """The text with one full stop where an abbreviation ends a sentence: "Co.." -> "Co.", "a.m.." -> "a.m."."""
    return _DOUBLE_STOP.sub("", text)


def order_example(name_format: NameFormat | None) -> str:
    """An order number as the shopper will see it in their confirmation email: the shop's prefix and suffix round a
    made-up number ("#1234" when the shop's format is unknown), so a shop of "AB-3301" names never says "like #1234"."""
    if name_format is None or not (name_format.prefix or name_format.suffix):
        return f"#{EXAMPLE_ORDER_NUMBER}"
    return f"{name_format.prefix}{EXAMPLE_ORDER_NUMBER}{name_format.suffix}"


@cache
def locale_words(locale: str) -> dict[str, str]:
    """Each word in `prompts/locale.toml` as the shop's country says it (the table's `default` elsewhere)."""
    territory = Locale.parse(locale).territory or ""
    words = prompts.toml("locale.toml")["words"]
    return {name: str(table.get(territory, table["default"])) for name, table in words.items()}


@dataclass
class HandOver:
    """A carrier's event saying it passed the parcel to another carrier for the last leg."""

    carrier: str  # the carrier it was handed to
    by: str | None  # the carrier that handed it over, when Shopify names one
    tracking: str | None  # the new carrier's number (with its link when Shopify has it)
    happened: When


_STOP_CARRIER = re.compile(
    r"\s+(?:for|in|at|on|with|via|who|which|to|and|as|from|under|tracking|number|no)\b|[,.;:()\[\]\-–—/]",
    re.IGNORECASE,
)
_NOT_A_NAME = re.compile(r"^(?:the|a|local|partner|carrier|courier|delivery|postal|service|agent)\s+", re.IGNORECASE)
_TRACKING_TOKEN = re.compile(r"\b(?=(?:[A-Z]*\d){6})[A-Z0-9]{8,}\b")


@dataclass
class Answer:
    text: str
    offer: str | None = None  # the escalation reason offered to the shopper, if any
    closing: str = ""  # a last sentence (an offer of help) that stays last whatever is added before it
    topic: str | None = None  # the request or problem the offer is about, for the team's summary

    def full(self) -> str:
        return f"{self.text} {self.closing}".strip() if self.closing else self.text


# Statuses of a parcel that has left with the carrier: each is (or was) "in transit" too, as the grounding guard
# reads them ("what does in transit mean?" of a delayed parcel is about its own journey).
_ON_ITS_WAY = frozenset(
    {"CARRIER_PICKED_UP", "OUT_FOR_DELIVERY", "ATTEMPTED_DELIVERY", "DELAYED", "DELIVERED", "NOT_DELIVERED", "FAILURE"}
)


class Composer:
    """Writes replies for one shop on one day, in its voice (`ShopVoice`: persona, name, today, locale)."""

    def __init__(self, voice: ShopVoice) -> None:
        self.voice = voice
        self.r: Replies = LocaleReplies(voice.persona.tone, voice.locale, voice.name_format)

    # The voice's parts by name (`deadline.py` and the model read them too); the voice stays their one source.
    @property
    def persona(self) -> Persona:
        return self.voice.persona

    @property
    def shop_name(self) -> str:
        return self.voice.shop_name

    @property
    def today(self) -> date:
        return self.voice.today

    @property
    def locale(self) -> str:
        return self.voice.locale

    # --- small formatting helpers -----------------------------------------------------------------------------
    def date(self, moment: When) -> str:
        return _date_said(moment.iso, moment.date, self.today.year, self.locale)

    def short_date(self, moment: When) -> str:
        # "February 26" without the weekday or year, for update lines inside a list.
        return format_skeleton("MMMMd", datetime.fromisoformat(moment.iso), locale=babel_locale(self.locale))

    def date_time(self, moment: When) -> str:
        return f"{self.date(moment)} at {moment.time}"

    @staticmethod
    def items(items: list[Item]) -> str:
        return ", ".join(f"{i.name} ×{i.quantity}" if i.quantity > 1 else i.name for i in items)

    def in_brackets(self, items: list[Item]) -> str:
        """' (Blue T-Shirt ×2)' after an order number, or nothing when the data lists no items."""
        listed = self.items(items)
        return f" ({listed})" if listed else ""

    def money(self, amount: str | None, currency: str | None) -> str:
        """'1500.00' JPY -> '¥1,500'; '1234.5' EUR -> '€1,234.50' (en_US): CLDR's symbol and decimals."""
        if amount is None:
            return ""
        try:
            value = Decimal(amount)
        except InvalidOperation:
            return f"{amount} {currency or ''}".strip()
        if not currency:
            return format_decimal(value, format="#,##0.00", locale=babel_locale(self.locale))
        return format_currency(value, currency.upper(), locale=babel_locale(self.locale))

    def carrier(self, package: Package) -> str | None:
        """The package's carrier, or "2 carriers" when its tracking numbers belong to different ones."""
        carriers = {t.carrier for t in package.tracking if t.carrier}
        if len(carriers) > 1:
            return self.r.say("phrases.several_carriers", n=len(carriers))
        return package.carrier

    def tracking(self, package: Package) -> str:
        # Name each number's carrier when a package's numbers belong to different carriers.
        carriers = {t.carrier for t in package.tracking}
        parts = []
        for t in package.tracking:
            text = f"{t.number} ({t.url})" if t.url else t.number
            if len(carriers) > 1 and t.carrier:
                # "UPS: 1Z..." (a colon, so a carrier's code before a number never reads as an amount: "UPS 1")
                text = f"{t.carrier}: {text}"
            parts.append(text)
        return f" {self.r.say('phrases.and')} ".join(parts)

    def days_ago(self, days: int) -> str:
        if days <= 0:
            return self.r.say("phrases.today")
        return self.r.say("phrases.days_one") if days == 1 else self.r.say("phrases.days_many", n=days)

    def status_words(self, code: str) -> str:
        return self.r.say(f"status.{code}") if self.r.has(f"status.{code}") else self.r.say("status.OTHER")

    def return_words(self, code: str) -> str:
        key = f"returns.{code}"
        return self.r.say(key) if self.r.has(key) else self.r.say("returns.OTHER")

    def _pickup(self, order: OrderOverview, package: Package | None, result: FulfillmentsResult) -> Answer:
        facts = {"order_number": order.order_number, "items": self.in_brackets(order.items)}
        if package is None:
            return Answer(self.r.say("order.pickup_preparing", **facts), "shipping_date_request")
        where = f" at {package.pickup_location}" if package.pickup_location else ""
        if package.status in ("PICKED_UP", "DELIVERED") or package.delivered:
            when = package.delivered or (package.latest_event.happened if package.latest_event else package.fulfilled)
            return Answer(self.r.say("order.picked_up", **facts, date=self.date_time(when)), "delivered_not_received")
        if package.status == "READY_FOR_PICKUP":
            since = package.latest_event.happened if package.latest_event else package.fulfilled
            text = self.r.say("order.ready_for_pickup", **facts, where=where, date=self.date_time(since))
            return Answer(self.join(text, self.context_for("pickup")))
        return Answer(self.r.say("order.pickup_preparing", **facts), "shipping_date_request")

    def status_sentence(self, code: str) -> str:
        key = f"status_sentence.{code}"
        return self.r.say(key) if self.r.has(key) else self.r.say("status_sentence.OTHER")

    def context_for(self, topic: str) -> str:
        """The merchant's persona sentences that speak to this situation, verbatim."""
        if not self.persona.context:
            return ""
        sentences = re.split(r"(?<=[.!?])\s+|\n+", self.persona.context)
        keys = _CONTEXT_TOPICS.get(topic, ())
        picked = [s.strip() for s in sentences if s.strip() and any(k in s.lower() for k in keys)]
        return " ".join(picked)

    @staticmethod
    def join(*sentences: str) -> str:
        return " ".join(s for s in sentences if s)

    # --- answers ---------------------------------------------------------------------------------------------
    def order_answer(
        self, order: OrderOverview, result: FulfillmentsResult, intent: Intent, *, where: bool = False
    ) -> Answer:
        """The order's status; with `where` (asked where it is right now), each package's newest carrier update and
        its place, though an estimate is known."""
        if result.cancelled:
            if intent.asks_why:
                # Never the reason (the shop's business), but the facts the shopper can have: when, and the money.
                text = self.r.say(
                    "order.cancel_reason_unknown",
                    order_number=order.order_number,
                    date=self.date(result.cancelled),
                    refund=self._refund_phrase(result) or self.r.say("order.no_refund_recorded"),
                )
                return Answer(text, offer="cancellation_details")
            return self._cancelled(order, result, asks_money=intent.refund_request or intent.focus == "refund")
        packages = result.packages
        if not packages and (
            result.delivery_method == "NONE" or order.fulfillment_status == "FULFILLMENT_NOT_REQUIRED"
        ):
            # Gift cards and digital goods: nothing ships, so there is nothing to track.
            return Answer(
                self.r.say("order.digital", order_number=order.order_number, items=self.in_brackets(order.items)),
                "other",
            )
        if result.delivery_method == "PICK_UP" and len(packages) <= 1 and not result.unshipped_items:
            return self._pickup(order, packages[0] if packages else None, result)
        answer = (
            self._unshipped(order, result)
            if not packages
            else self._one_package(order, packages[0], intent)
            if len(packages) == 1 and not result.unshipped_items
            else self._several(order, result, intent, where=where)
        )
        if order.return_status:
            answer.text = self.join(
                answer.text, self.r.say("order.return", status=self.return_words(order.return_status))
            )
        if result.refunds and not result.cancelled:
            refund = result.refunds[-1]
            amount = self.money(refund.amount, refund.currency)
            if amount:
                answer.text = self.join(
                    answer.text, self.r.say("order.refunded", amount=amount, date=self.date(refund.date))
                )
        answer.text = answer.full()
        answer.closing = ""
        return answer

    def _cancelled(self, order: OrderOverview, result: FulfillmentsResult, *, asks_money: bool = False) -> Answer:
        assert result.cancelled is not None
        if asks_money and not result.refunds:
            # "I haven't had my money back": say plainly that no refund is recorded, and who can look into it.
            when = self.date(result.cancelled)
            text = self.r.say("order.cancelled_no_refund", order_number=order.order_number, date=when)
            return Answer(text, offer="cancellation_details", topic="refund_request")
        text = self.r.say(
            "order.cancelled",
            order_number=order.order_number,
            date=self.date(result.cancelled),
            refund=self._refund_phrase(result),
        )
        return Answer(self.join(text, self.context_for("cancelled")), offer="cancellation_details")

    def _refund_phrase(self, result: FulfillmentsResult) -> str:
        """', and a refund of €59.00 was issued the same day' after a cancellation, or nothing when none is recorded."""
        assert result.cancelled is not None
        if not result.refunds:
            return ""
        first = result.refunds[0]
        amount = self.money(first.amount, first.currency)
        if amount and first.date.date == result.cancelled.date:
            return self.r.say("order.refund_same_day", amount=amount)
        if amount:
            return self.r.say("order.refund_on", amount=amount, date=self.date(first.date))
        return ""

    def _scheduled_sentence(self, result: FulfillmentsResult) -> str | None:
        """ "It's scheduled to be fulfilled on or after Monday, 14 December": the day scheduled work waits for."""
        day = next((p.fulfill_at for p in result.pending if p.state == "scheduled" and p.fulfill_at), None)
        return self.r.say("order.scheduled", date=self.date(day)) if day is not None else None

    def _pending_sentences(self, result: FulfillmentsResult) -> list[str]:
        sentences = []
        scheduled = self._scheduled_sentence(result)
        if scheduled:
            sentences.append(scheduled)
        if any(p.state == "on_hold" for p in result.pending) and result.packages:
            sentences.append(self.r.say("order.on_hold"))
        return sentences

    def _unshipped(self, order: OrderOverview, result: FulfillmentsResult) -> Answer:
        held = any(p.state == "on_hold" for p in result.pending)
        due = next((p.deliver_by for p in result.pending if p.deliver_by), None)
        if result.delivery_method == "LOCAL" and due is not None and not held and not self._passed(due):
            # A local delivery comes with the shop's own window: its latest time is the estimate the shopper has.
            text = self.r.say(
                "order.local_due",
                order_number=order.order_number,
                items=self.in_brackets(order.items),
                date=self.date(due),
            )
            return Answer(text)
        key = "order.unshipped_on_hold" if held else "order.unshipped"
        text = self.r.say(key, order_number=order.order_number, items=self.in_brackets(order.items))
        return Answer(
            self.join(
                text, *self._pending_sentences(result), self.context_for("unshipped"), self.r.say("order.ask_ship_date")
            ),
            offer="shipping_date_request",
        )

    @staticmethod
    def delivery_note(package: Package) -> str:
        """The carrier's words on the delivery event when they say more than "delivered" (where the parcel was left,
        who signed): "" otherwise."""
        last = package.latest_event
        if last is None or last.status not in ("DELIVERED", "PICKED_UP") or not last.message:
            return ""
        message = last.message.strip()
        return "" if message.lower().rstrip(".") == "delivered" else message

    def _delivered(self, order: OrderOverview, package: Package, intent: Intent) -> Answer:
        assert package.delivered is not None
        # A parcel collected from a post office or locker ends with a pickup, not a delivery: its note says where.
        last = package.latest_event
        event = last if last and last.status in ("DELIVERED", "PICKED_UP") else None
        place = f" in {event.city}" if event and event.city else ""
        note = ""
        if event and event.message and event.message.strip().lower() not in ("delivered", "delivered."):
            note = f', with the note "{event.message.strip()}"'
        facts = {
            "order_number": order.order_number,
            "items": self.in_brackets(package.items or order.items),
            "delivered": self.date_time(package.delivered),
            "place": place,
            "note": note,
            "carrier": self.carrier(package) or "",
            "tracking": self.tracking(package),
        }
        if intent.not_received:
            key = "order.dnr" if package.carrier and package.tracking else "order.dnr_no_carrier"
            return Answer(
                self.join(self.r.say(key, **facts), self.context_for("delivered_not_received")),
                "delivered_not_received",
            )
        if package.carrier and package.tracking:
            text = self.r.say("order.delivered", **facts)
        else:
            text = self.r.say("order.delivered_no_carrier", **facts)
            if package.tracking:
                text = self.join(text, self.r.say("order.tracking_sentence", tracking=facts["tracking"]))
        # "If it hasn't reached you, let me know": a "yes" to that is a yes to the support team.
        return Answer(text, "delivered_not_received", closing=self.r.say("order.delivered_followup"))

    def _one_package(self, order: OrderOverview, package: Package, intent: Intent) -> Answer:
        # A lone package is the order: when Shopify lists no items for it, the order's items are what it holds.
        facts = {"order_number": order.order_number, "items": self.in_brackets(package.items or order.items)}
        collection = None if intent.not_received else self._collection(package, facts)
        if collection is not None:
            return collection
        if package.delivered:
            return self._delivered(order, package, intent)
        event = package.latest_event
        problem = package.status in ("ATTEMPTED_DELIVERY", "FAILURE", "NOT_DELIVERED") or (
            event is not None and event.status in ("ATTEMPTED_DELIVERY", "FAILURE")
        )
        if not package.tracking and (
            event is not None or package.status not in ("FULFILLED", "MARKED_AS_FULFILLED", "OTHER")
        ):
            # Local delivery and couriers without tracking numbers still report how it is going.
            text = self.r.say(
                "order.moving_untracked",
                **facts,
                status=self.status_sentence(package.status),
            )
            offer = "delayed_or_stuck" if problem else None
            return Answer(
                self.join(
                    text.strip(), self._latest_sentence(package), self.r.say("order.problem_offer") if problem else ""
                ),
                offer,
            )
        if not package.tracking:
            text = self.r.say(
                "order.no_tracking",
                **facts,
                fulfilled=self.date(package.fulfilled),
                by=self.fulfilled_at(package),
            )
            return Answer(text, offer="missing_tracking")
        carrier = self.carrier(package) or self.r.say("focus.the_carrier")
        trouble = self._trouble(package)
        if trouble:
            return self._trouble_answer(order, package, trouble, carrier)
        stale = event is not None and event.days_ago >= STALE_AFTER_DAYS
        if package.status in ("LABEL_PURCHASED", "LABEL_PRINTED") and (
            event is None or event.status.startswith("LABEL")
        ):
            days = (self.today - date.fromisoformat(package.fulfilled.iso[:10])).days
            text = self.r.say(
                "order.label_only",
                **facts,
                date=self.date(package.fulfilled),
                carrier=carrier,
                tracking=self.tracking(package),
            )
            waiting = days >= 3
            # A label unscanned for as long as tracking counts as stale has already not moved: the team is offered
            # now, as a question, not "if it doesn't move soon".
            offer = "order.label_stuck" if days >= STALE_AFTER_DAYS else "order.label_waiting"
            return Answer(
                self.join(text, self.r.say(offer, days=self.days_ago(days)) if waiting else ""),
                "delayed_or_stuck" if waiting else None,
            )
        if package.status == "DELAYED" or (event and event.status == "DELAYED"):
            status = self.r.say("phrases.on_its_way", carrier=carrier, tracking=self.tracking(package))
            delay = (
                _upper_first(
                    self.r.say(
                        "phrases.delayed_sentence",
                        carrier=carrier,
                        message=event.message or "",
                        date=self.date(event.happened),
                    )
                )
                if event
                else ""
            )
            eta = self._eta_sentence(package)
            text = self.r.say(
                "order.single",
                order_number=order.order_number,
                items=self.in_brackets(package.items),
                status_sentence=status,
            )
            return Answer(
                self.join(text, delay, eta, self.context_for("in_transit"), self.r.say("order.delayed_offer")),
                "delayed_or_stuck",
            )
        if stale and event is not None:
            status = self.r.say("phrases.on_its_way", carrier=carrier, tracking=self.tracking(package))
            text = self.r.say(
                "order.single",
                order_number=order.order_number,
                items=self.in_brackets(package.items),
                status_sentence=status,
            )
            latest = self._latest_sentence(package)
            eta = self._eta_sentence(package, offer=False) if package.estimated_delivery else ""
            international = bool(event.message and _INTERNATIONAL_HINTS.search(event.message))
            handover = self.handover(package)
            # After a hand-over, the carrier that has the parcel now is the one whose site may show more.
            advice = self.r.say(
                "order.stale" if international else "order.stale_domestic",
                carrier=handover.carrier if handover else carrier,
            )
            return Answer(
                self.join(
                    text,
                    latest,
                    self._handover_sentence(handover, package if latest else None),
                    eta,
                    self.context_for("in_transit"),
                    advice,
                ),
                "delayed_or_stuck",
            )
        text = self.r.say(
            "order.moving",
            **facts,
            status=self.status_sentence(package.status),
            carrier=carrier,
            tracking=self.tracking(package),
        )
        latest = self._latest_sentence(package) if event and event.message else ""
        handed = self._handover_sentence(self.handover(package), package if latest else None)
        # An unknown or plain "shipped" state has no sentence of its own.
        return Answer(self.join(text.strip(), self._eta_sentence(package), latest, handed))

    def _collection(self, package: Package, facts: dict[str, str]) -> Answer | None:
        """A parcel waiting at, or collected from, a post office or pickup point: said so, in the carrier's own
        words (which name the place and any collect-by), never "on its way" or "delivered"."""
        event = package.latest_event
        states = ("READY_FOR_PICKUP", "PICKED_UP")
        state = event.status if event and event.status in states else package.status
        if state not in states:
            return None
        said = ""
        if event and event.message:
            key = "phrases.carrier_update_reads" if package.carrier else "phrases.update_reads"
            said = self.r.say(key, carrier=package.carrier or "", message=event.message.strip().rstrip("."))
        tracking = self.r.say("phrases.tracking_after", tracking=self.tracking(package)) if package.tracking else ""
        if state == "PICKED_UP":
            moment = package.delivered or (event.happened if event else package.fulfilled)
            text = self.r.say("order.collected", **facts, date=self.date_time(moment), said=said, tracking=tracking)
            return Answer(self.join(text, self.r.say("order.collected_followup")), "delivered_not_received")
        since = event.happened if event and event.status == state else package.fulfilled
        place = f" in {event.city}" if event and event.city else ""
        text = self.r.say(
            "order.waiting_for_collection",
            **facts,
            place=place,
            date=self.date_time(since),
            said=said,
            tracking=tracking,
        )
        return Answer(text)

    def handover(self, package: Package) -> HandOver | None:
        """The newest event in which the carrier hands the parcel to another carrier, named in the carrier's words
        ("Handed over to USPS for delivery..."), with the new carrier's tracking where Shopify or the event has it."""
        phrases: list[str] = prompts.toml("replies.toml")["event_words"]["handed_over"]
        events = [e for e in (package.latest_event, *package.earlier_events) if e and e.message]
        for event in events:
            message = event.message or ""
            lowered = message.lower()
            found = next((lowered.index(p) + len(p) for p in phrases if p in lowered), None)
            if found is None or event.status == "DELIVERED":
                continue
            name = _STOP_CARRIER.split(message[found:].strip(), maxsplit=1)[0].strip()
            while _NOT_A_NAME.match(name):
                name = _NOT_A_NAME.sub("", name, count=1)
            if not name or name == name.lower() or len(name.split()) > 4:
                continue  # "handed to the destination post office" names no carrier
            own = [t for t in package.tracking if t.carrier and _same_carrier(t.carrier, name)]
            others = [t.carrier for t in package.tracking if t.carrier and not _same_carrier(t.carrier, name)]
            tracking = self.tracking(package.model_copy(update={"tracking": own[:1]})) if own else None
            if tracking is None:
                known = {t.number for t in package.tracking}
                number = next((n for n in _TRACKING_TOKEN.findall(message) if n not in known), None)
                tracking = number
            return HandOver(carrier=name, by=others[0] if others else None, tracking=tracking, happened=event.happened)
        return None

    def _handover_sentence(self, handover: HandOver | None, package: Package | None = None) -> str:
        if handover is None:
            return ""
        if package is not None and _is_latest(handover, package):
            # The latest update quoted is this hand-over, with its date: only the new carrier's tracking is news.
            if not handover.tracking or any(t.number in handover.tracking for t in package.tracking):
                return ""  # no number, or one the package's tracking already gives
            return self.r.say("order.handover_tracking_only", carrier=handover.carrier, tracking=handover.tracking)
        tracking = (
            self.r.say("phrases.handover_tracking", carrier=handover.carrier, tracking=handover.tracking)
            if handover.tracking
            else ""
        )
        key = "order.handed_over" if handover.by else "order.handed_over_no_from"
        return self.r.say(
            key, by=handover.by or "", carrier=handover.carrier, date=self.date(handover.happened), tracking=tracking
        )

    def _trouble(self, package: Package) -> str | None:
        """A return to sender, damage or a failed delivery, from the event's status or the carrier's own words."""
        event = package.latest_event
        message = (event.message or "").lower() if event else ""
        words: dict[str, list[str]] = prompts.toml("replies.toml")["event_words"]
        for kind in ("returned", "damaged"):
            if any(w in message for w in words[kind]):
                return kind
        statuses = ("ATTEMPTED_DELIVERY", "FAILURE", "NOT_DELIVERED")
        if package.status in statuses or (event is not None and event.status in statuses):
            return "attempted" if "ATTEMPTED_DELIVERY" in (package.status, event and event.status) else "failure"
        return None

    def _trouble_answer(self, order: OrderOverview, package: Package, trouble: str, carrier: str) -> Answer:
        """Said plainly, with the carrier's own words and the team offered: never "on its way"."""
        text = self.r.say(
            "order.trouble",
            order_number=order.order_number,
            items=self.in_brackets(package.items or order.items),
            carrier=carrier,
            tracking=self.tracking(package),
        )
        said = self.r.say(f"trouble.{trouble}", carrier=carrier)
        # The team reads what happened: a parcel going back to the shop or damaged is no delay (the escalate tool's
        # reasons are fixed, so the summary, chosen by topic, says it).
        return Answer(
            self.join(text, said, self._latest_sentence(package), self.r.say("order.problem_offer")),
            "other" if trouble in ("returned", "damaged") else "delayed_or_stuck",
            topic=f"trouble_{trouble}",
        )

    def _eta_sentence(self, package: Package, *, offer: bool = True) -> str:
        if package.estimated_delivery:
            if self._passed(package.estimated_delivery):
                passed = self.r.say("order.eta_passed", date=self.date(package.estimated_delivery))
                return self.join(passed, self.r.say("order.eta_passed_offer") if offer else "")
            return self.r.say("order.eta_sentence", date=self.date(package.estimated_delivery))
        return self.r.say("order.no_eta")

    def _passed(self, moment: When) -> bool:
        return date.fromisoformat(moment.iso[:10]) < self.today

    def _latest_sentence(self, package: Package) -> str:
        event = package.latest_event
        if event is None or not event.message:
            return ""
        place = event.city or event.country or ""
        fields = {
            "message": event.message,
            "place": place,
            "date": self.date(event.happened),
            "days": self.days_ago(event.days_ago),
        }
        if event.days_ago <= 0:
            return self.r.say("phrases.latest_sentence_today", **fields, in_place=f" in {place}" if place else "")
        key = "phrases.latest_sentence" if place else "phrases.latest_sentence_noplace"
        return self.r.say(key, **fields)

    def fulfilled_at(self, package: Package) -> str:
        """' by ShipBob' (the service that fulfilled it), ' from <location>' (where an untracked shipment was
        fulfilled, when no service is named), or nothing."""
        if package.fulfilled_by:
            return self.r.say("fulfilled_at.by", name=package.fulfilled_by)
        if package.shipped_from:
            return self.r.say("fulfilled_at.from", place=package.shipped_from)
        return ""

    def _package_details(self, package: Package, *, with_latest: bool = True, where: bool = False) -> str:
        """'shipped via USPS, tracking 9400..., in transit, estimated delivery Saturday, February 28'; with `where`
        ("and where's the teapot right now?") the carrier's latest update and its place too, though an estimate is
        known: the update is where the parcel was last seen."""
        tracking = self.tracking(package)
        parts = []
        if package.carrier and tracking:
            parts.append(self.r.say("phrases.shipped_via", carrier=self.carrier(package), tracking=tracking))
        elif tracking:
            parts.append(self.r.say("phrases.shipped_no_carrier", tracking=tracking))
        elif package.fulfilled_by:
            parts.append(
                self.r.say("phrases.fulfilled_untracked", by=package.fulfilled_by, date=self.date(package.fulfilled))
            )
        elif package.shipped_from:
            date = self.date(package.fulfilled)
            parts.append(self.r.say("fulfilled_at.untracked_from", place=package.shipped_from, date=date))
        if package.delivered:
            parts.append(self.r.say("phrases.delivered_on", date=self.date_time(package.delivered)))
            note = self.delivery_note(package)
            if note:
                # Where the carrier left it ("Left at front porch"), as the one-package answer quotes it.
                parts.append(self.r.say("phrases.delivered_note", note=note))
        else:
            parts.append(self.status_words(package.status))
            if package.estimated_delivery:
                parts.append(self.r.say("phrases.eta", date=self.date(package.estimated_delivery)))
        text = ", ".join(parts)
        event = package.latest_event
        if (
            with_latest
            and event
            and event.message
            and not package.delivered
            and (where or not package.estimated_delivery)
        ):
            place = event.city or (event.country or "" if where else "")
            key = "phrases.last_update_place" if place else "phrases.last_update"
            update = self.r.say(
                key, event=_lower_first(event.message), place=place, date=self.short_date(event.happened)
            )
            text = f"{text} ({update})"
        return text

    def _several(self, order: OrderOverview, result: FulfillmentsResult, intent: Intent, *, where: bool) -> Answer:
        packages = result.packages
        intro_key = "order.split_intro" if not result.unshipped_items else "order.partial_intro"
        lines = [self.r.say(intro_key, order_number=order.order_number, count=len(packages))]
        for package in packages:
            # A package whose items Shopify did not list says nothing about them, rather than guess.
            items = f"{self.items(package.items)}, " if package.items else ""
            lines.append(
                self.r.say(
                    "order.package_line",
                    number=package.package_number,
                    items=items,
                    details=self._package_details(package, where=where),
                )
                + "."
            )
        if result.unshipped_items:
            lines.append(self.r.say("order.not_shipped_line", items=self.items(result.unshipped_items)) + ".")
        tail = self._pending_sentences(result)
        offer = None
        if intent.not_received and any(p.delivered for p in packages):
            tail.append(self.r.say("order.dnr_offer"))
            offer = "delivered_not_received"
        elif result.unshipped_items:
            context = self.context_for("unshipped")
            if context:
                tail.append(context)
        text = "\n".join(lines)
        if tail:
            text = f"{text}\n{' '.join(tail)}"
        return Answer(text, offer)

    # --- requests Lumen can't do, problems with what arrived, what a status means --------------------------------
    def request_answer(self, order: OrderOverview, result: FulfillmentsResult, request: str) -> Answer | None:
        """What Lumen can't do about this request, and an offer of the team; None when the data answers it."""
        if request == "missing_tracking":
            return None  # the order's answer shows the tracking Shopify has, or offers to ask for it
        if request == "refund_request" and result.refunds:
            return self._refund_answer(order, result)
        if request in ("return_request", "refund_request") and order.return_status:
            # A return on the order answers both "did my return go through?" and "where's my refund?".
            return self._return_answer(order, result)
        key = "cancel_request" if request == "cancel_request" else f"request.{request}"
        return Answer(self.r.say(key, order_number=order.order_number), offer="other", topic=request)

    def tracking_not_working(self, order: OrderOverview, result: FulfillmentsResult, *, shown: bool) -> Answer | None:
        """ "The tracking link just gives me an error" about an order whose every package has tracking: its carrier
        and numbers as Shopify has them (after the whole status on a first look), and the team offered to check them
        with the carrier. None when a package has none (the order's answer offers to ask for it)."""
        if not result.packages or not all(p.tracking for p in result.packages) or result.cancelled:
            return None
        if shown:
            single = len(result.packages) == 1
            status = " ".join(self._carrier_line(p, single=single) for p in result.packages)
        else:
            status = self.without_offers(self.order_answer(order, result, Intent()).text)
        line = self.r.say("request.tracking_not_working")
        return Answer(self.join(status, line), offer="other", topic="tracking_not_working")

    def in_trouble(self, result: FulfillmentsResult) -> bool:
        """Whether the carrier reports trouble with a package of this order (returned, damaged, a failed or attempted
        delivery): a shopper asking for something else about the order hears it too, since it may change what they
        want."""
        return any(self._trouble(p) is not None for p in result.packages if not p.delivered)

    def returning_to_sender(self, result: FulfillmentsResult) -> bool:
        """Whether the carrier is sending a package of this order back to the shop (nothing delivered)."""
        return not any(p.delivered for p in result.packages) and any(
            self._trouble(p) == "returned" for p in result.packages
        )

    @staticmethod
    def arrived_items(order: OrderOverview, result: FulfillmentsResult) -> list[Item]:
        """The items of the packages marked delivered (what can have arrived damaged or wrong); the order's items when
        no delivered package lists its own."""
        items = [i for p in result.packages if p.delivered or p.status in _ARRIVED for i in p.items]
        return items or order.items

    def problem_heard(self, order: OrderOverview, result: FulfillmentsResult, problem: str) -> str | None:
        """The sorry for a problem with what arrived, said before the answer to a request made beside it ("the lamp
        came smashed, refund me"); None when nothing of the order has arrived (nothing to be sorry about yet)."""
        if not any(p.delivered or p.status in _ARRIVED for p in result.packages):
            return None
        items = self.in_brackets(self.arrived_items(order, result))
        return self.r.say(f"problem_heard.{problem}", order_number=order.order_number, items=items)

    def problem_answer(
        self, order: OrderOverview, result: FulfillmentsResult, problem: str, intent: Intent, *, shown: bool = False
    ) -> Answer:
        """Sorry, what Lumen can't do about it, and the team offered; for a missing item, what is still on its way.
        Asked beside where the rest of the order is ("the mug came cracked, where's the other parcel?"), what is
        still on its way is said first. `shown`: the order's status was just given, so it is not given again."""
        arrived = any(p.delivered or p.status in _ARRIVED for p in result.packages)
        named = any(_mentions(i.name, intent.item_words) for i in order.items)
        # "It came but won't charge": a fault with what arrived, said as one (the team's topic stays the damage).
        said = "faulty_item" if problem == "damaged_item" and intent.focus == "fault" else problem
        if problem == "missing_item" and not arrived and not named:
            # "My parcel is missing" about an order nothing of which has arrived: where the order is, is the answer.
            # One of its items said to be missing from a box the shopper has ("only one chalk in the box") is a box
            # in hand though the tracking lags: that takes the team (below), as damage or a wrong item does.
            return self.order_answer(order, result, intent)
        if not arrived:
            # "It arrived damaged" about an order nothing of which is delivered: never said back as if it arrived.
            # Where the order really is, then the team offered in case something did reach the shopper.
            # Just after the status ("it came but doesn't turn on"): not the status again, only what Lumen can't see.
            line = self.r.say(f"problem.{said}_undelivered", order_number=order.order_number)
            shown = shown and problem != "missing_item"  # what hasn't shipped yet may be what is missing
            status = "" if shown else self.without_offers(self.order_answer(order, result, intent).text)
            return Answer(self.join(status, line) if status else line, offer="other", topic=problem)
        several = len(result.packages) > 1 or bool(result.unshipped_items)
        if problem == "missing_item" and several and (result.unshipped_items or not all_delivered(result)):
            # Part of the order hasn't arrived or shipped yet: that is the answer, with the team there if it's more.
            answer = self.order_answer(order, result, intent)
            text = self.join(answer.text, self.r.say("problem.missing_item_partial"))
            return Answer(text, offer="other", topic=problem)
        if problem == "missing_item" and result.packages and not named:
            # "It never came" about a delivered order: the delivery facts, and the team to look into it.
            return self.order_answer(order, result, intent.plus(frozenset({"delivered_not_received"})))
        items = self.in_brackets(self.arrived_items(order, result))
        text = self.r.say(f"problem.{said}", order_number=order.order_number, items=items)
        if intent.has("where_is_order") and several and (result.unshipped_items or not all_delivered(result)):
            status = self.without_offers(self.order_answer(order, result, intent).text)
            text = f"{status}\n{text}" if "\n" in status else self.join(status, text)  # a list stays a list
        return Answer(text, offer="other", topic=problem)

    def status_meanings(self, codes: Sequence[str]) -> Answer:
        """What each status means; a status whose reason only the shop knows (a hold) ends with the team offered."""
        known = [c for c in codes if self.r.has(f"meaning.{c}")]
        if not known:
            return Answer(self.r.say("meaning.OTHER"), offer="other", topic="status_meaning")
        text = self.join(*(self.r.say(f"meaning.{c}") for c in known))
        team = prompts.toml("replies.toml")["meaning_team"]
        if any(c in team["statuses"] for c in known):
            return Answer(self.join(text, self.r.say("meaning_team.text")), offer="other", topic="status_meaning")
        return Answer(text)

    def term_meanings(self, terms: Sequence[str]) -> Answer:
        """What delivery terms mean (`prompts/terms.toml`), with no order to look at."""
        table = prompts.toml("terms.toml")
        return Answer(self.join(*(table[t]["text"] for t in terms if t in table)))

    def _term_answer(self, result: FulfillmentsResult, intent: Intent) -> Answer | None:
        """ "What does authority to leave mean?" about this order: what the term means, and the carrier's update that
        uses it; a phrase Lumen has no meaning for but the carrier wrote is quoted as the carrier's own words, and the
        team offered to ask the carrier. None when neither is known (the statuses' meanings answer then)."""
        table = prompts.toml("terms.toml")
        explained = [table[t]["text"] for t in intent.terms if t in table]
        wanted = [n for t in intent.terms for n in table[t]["names"]]
        if intent.asked:
            wanted.append(intent.asked)
        seen = self._event_using(result, wanted)
        if not explained and seen is None:
            return None
        sentences = list(explained)
        if seen is not None:
            package, event = seen
            carrier = self.carrier(package) or self.r.say("focus.the_carrier")
            place = event.city or event.country or ""
            key = "meaning_term.seen" if explained else "meaning_term.carriers_words"
            sentences.append(
                self.r.say(
                    key,
                    carrier=carrier,
                    message=(event.message or "").strip(),
                    date=self.date(event.happened),
                    in_place=f" in {place}" if place else "",
                )
            )
            if not explained:
                # The carrier's words name no term, but the update carries a status: what that status means.
                if self.r.has(f"meaning.{event.status}"):
                    sentences.append(self.r.say(f"meaning.{event.status}"))
                sentences.append(self.r.say("meaning_term.ask_team", carrier=carrier))
                return Answer(self.join(*sentences), offer="other", topic="status_meaning")
        return Answer(self.join(*sentences))

    @staticmethod
    def _event_using(result: FulfillmentsResult, phrases: Sequence[str]) -> tuple[Package, ScanEvent] | None:
        """The newest carrier update of this order whose words include one of `phrases` (any case)."""
        lowered = [" ".join(re.findall(r"\w+", p.lower())) for p in phrases if p.strip()]
        for package in result.packages:
            for event in [e for e in (package.latest_event, *package.earlier_events) if e and e.message]:
                words = " " + " ".join(re.findall(r"\w+", (event.message or "").lower())) + " "
                if any(p and f" {p} " in words for p in lowered):
                    return package, event
        return None

    def meaning_answer(
        self, order: OrderOverview, result: FulfillmentsResult, named: Sequence[str], intent: Intent | None = None
    ) -> Answer:
        """What the statuses the shopper asks about mean, or, when none is named, the statuses of this order."""
        term = self._term_answer(result, intent) if intent is not None and not named else None
        if term is not None:
            return term
        shown = list(dict.fromkeys(p.status for p in result.packages))
        codes = list(statuses_as_shown(named, shown)) or shown
        unseen = self.statuses_unseen(order, result, named)
        codes = [c for c in codes if c not in unseen] or shown
        if not codes:
            codes = [order.fulfillment_status or "OTHER"]
        meaning = self.status_meanings(codes)
        scheduled = self._scheduled_sentence(result) if "SCHEDULED" in codes else None
        if scheduled:
            # "Scheduled means what?": a later date, and which one: the meaning of this order's status is its day.
            meaning.text = self.join(meaning.text, scheduled)
        if unseen:
            # "It says collected, does that mean it's delivered?": never what a status the order doesn't have means
            # (it would read as the order's), but that it doesn't show it, and what the status it has means.
            words = dict(intent.status_words) if intent is not None else {}
            said = " or ".join(f'"{words.get(c, c.replace("_", " ").lower())}"' for c in unseen)
            meaning.text = self.join(self.r.say("meaning_unseen.text", statuses=said), meaning.text)
        if intent is not None and intent.not_received and any(p.delivered for p in result.packages):
            # "it says delivered, what does that mean when nothing is here?": the meaning, then that Lumen can't see
            # where the parcel is, and the team, as for any delivered parcel the shopper hasn't got.
            meaning.text = self.join(meaning.text, self.r.say("order.dnr_offer"))
            meaning.offer, meaning.topic = "delivered_not_received", "delivered_not_received"
        return meaning

    @staticmethod
    def statuses_unseen(order: OrderOverview, result: FulfillmentsResult, named: Sequence[str]) -> list[str]:
        """The statuses a shopper names (read as the order shows them) that the order has nowhere: no package, carrier
        update, preparation step or order status is one, and no carrier update opens with its words."""
        shown = list(dict.fromkeys(p.status for p in result.packages))
        events = [e for p in result.packages for e in (p.latest_event, *p.earlier_events) if e is not None]
        had = {*shown, *(e.status for e in events), *(w.state.upper() for w in result.pending)}
        had |= {order.fulfillment_status or "", *(c for e in events for c in statuses_opening(e.message or ""))}
        if had & _ON_ITS_WAY:
            had.add("IN_TRANSIT")  # a parcel delayed, out for delivery or delivered is (or was) in transit
        return [c for c in statuses_as_shown(named, shown) if c not in had]

    def without_offers(self, text: str) -> str:
        """The text without its sentences offering the support team (the shopper asked not to be passed on)."""
        markers = [m.lower() for m in prompts.toml("replies.toml")["handoff"]["markers"]]
        # Each sentence with the space or line break after it, so what is kept keeps the reply's lines (a list of
        # packages stays a list); a sentence taken out leaves the stronger of the two breaks round it.
        pieces = _SENTENCE_BREAK.split(text)
        kept, pending = "", ""
        for sentence, gap in zip(pieces[::2], [*pieces[1::2], ""], strict=True):
            if any(m in sentence.lower() for m in markers):
                pending = gap if "\n" in gap and "\n" not in pending else pending
                continue
            kept += (pending if kept else "") + sentence
            pending = gap
        return kept or text

    # --- follow-ups: one question about an order already shown ---------------------------------------------------
    def _topic_answer(self, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer | None:
        """A follow-up about one topic of an order already shown: its refund, a return, what happens next, where to
        collect it."""
        if intent.focus == "refund":
            return self._refund_answer(order, result)
        if intent.focus == "return":
            return self._return_answer(order, result)
        if intent.focus == "next":
            return self._next_answer(order, result, intent)
        if intent.focus == "disputed":
            return self._disputed_answer(order, result, intent)
        return self._collect_answer(result)

    def focused_answer(
        self, order: OrderOverview, result: FulfillmentsResult, intent: Intent, *, where: bool = False
    ) -> Answer | None:
        """A short answer to "which carrier?", "when will it arrive?", "what about the teapot?", "my refund?"; `where`
        when the shopper asks where a parcel is now ("and where's the teapot right now?")."""
        why = self._why_asked(order, result, intent) if intent.asks_why else None
        if why is not None:
            return why
        if intent.not_received or intent.asks_why or intent.cancel_request:
            return None
        if intent.focus in ("refund", "return", "next", "collect", "disputed"):
            return self._topic_answer(order, result, intent)
        if result.delivery_method == "PICK_UP":
            return None  # the pickup answer already says where and since when
        package = self._package_named(result, intent.item_words, intent.ordinal)
        unshipped = [
            i for i in result.unshipped_items if intent.focus == "rest" or _mentions(i.name, intent.item_words)
        ]
        if unshipped and package is None:
            text = self.r.say("focus.item_unshipped", items=self.items(unshipped), order_number=order.order_number)
            return Answer(
                self.join(text, *self._pending_sentences(result), self.r.say("order.ask_ship_date")),
                offer="shipping_date_request",
            )
        if result.cancelled or not result.packages:
            return None
        coming = self._coming_answer(result, where) if intent.focus == "rest" and package is None else None
        if coming is not None:
            return coming
        packages = [package] if package else result.packages
        if package and intent.focus in (None, "carrier", "eta"):
            # One package named ("the second parcel", "the UPS one", "and the cap, when's that coming?"): all about
            # that one, its carrier, tracking and estimate together.
            details = self._package_details(package, where=where)
            items = self.in_brackets(package.items)
            return Answer(self.r.say("focus.package", number=package.package_number, items=items, details=details))
        if where and intent.focus is None and len(packages) > 1:
            # "Where are they now?" of a split order: each package, with where its carrier last saw it.
            lines = [self._package_where(p) for p in packages]
            if result.unshipped_items:
                lines.append(self.r.say("order.not_shipped_line", items=self.items(result.unshipped_items)) + ".")
            return Answer("\n".join(lines))
        if intent.focus == "carrier":
            lines = [self._carrier_line(p, single=len(result.packages) == 1) for p in packages]
            return Answer("\n".join(lines))
        if intent.focus == "eta":
            lines = [self._eta_line(p, single=len(result.packages) == 1) for p in packages]
            return Answer("\n".join(lines))
        return None

    def _why_asked(self, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer | None:
        """ "Why?" about an order just shown: a cancellation's or a hold's reason isn't in the data; a parcel on its
        way, its carrier's latest words. None when the why is another answer's (a parcel not received)."""
        if result.cancelled:
            return self._cancel_reason_answer(order, result, intent)
        if any(p.state == "on_hold" for p in result.pending):
            # "Why is it on hold?": the hold's reason is the shop's, never in what Lumen may say; the team can tell.
            text = self.r.say("order.hold_reason_only", order_number=order.order_number)
            return Answer(text, offer="other", topic="status_meaning")
        if not intent.not_received and not intent.cancel_request:
            return self._why_answer(result)
        return None

    def _coming_answer(self, result: FulfillmentsResult, where: bool) -> Answer | None:
        """ "Thanks but where is the other one" of a split order some of which came: the packages not come yet (one
        said in full, several a line each). None when all or none of them came."""
        coming = [p for p in result.packages if not (p.delivered or p.status in _ARRIVED)]
        if not 0 < len(coming) < len(result.packages):
            return None
        if len(coming) > 1:
            return Answer("\n".join(self._package_where(p) for p in coming))
        details = self._package_details(coming[0], where=where)
        items = self.in_brackets(coming[0].items)
        return Answer(self.r.say("focus.package", number=coming[0].package_number, items=items, details=details))

    def _package_where(self, package: Package) -> str:
        """One line of a split order's answer, with where its carrier last saw the package."""
        items = f"{self.items(package.items)}, " if package.items else ""
        details = self._package_details(package, where=True)
        return self.r.say("order.package_line", number=package.package_number, items=items, details=details) + "."

    def collection_answer(self, result: FulfillmentsResult) -> Answer | None:
        """ "Where do I pick it up from?" about a package that waits for the shopper (a card left after a missed
        delivery, held for collection): the carrier's own latest words are what says where, so they are said again
        as the answer (not "nothing has changed"), the team offered as before. None when no package waits so."""
        waiting = [
            p
            for p in result.packages
            if not p.delivered
            and p.latest_event
            and p.latest_event.message
            and (p.status in _WAITS_FOR_SHOPPER or p.latest_event.status in _WAITS_FOR_SHOPPER)
        ]
        if not waiting:
            return None
        lines = []
        for package in waiting:
            lines.append(self.r.say("focus.collect", **self._carrier_words(package)))
        lines.append(self.r.say("focus.collect_more"))
        return Answer(" ".join(lines), offer="delayed_or_stuck", topic="delayed_or_stuck")

    def who_answer(self, result: FulfillmentsResult) -> Answer | None:
        """ "Who is that?" after a status: who the data says has each package (its pickup point, or its carrier and
        tracking), and the carrier's own words where it waits to be collected; nothing else. None with no package."""
        if not result.packages:
            return None
        lines = []
        for package in result.packages:
            if package.pickup_location:
                lines.append(self.r.say("focus.collect_at", place=package.pickup_location))
                continue
            lines.append(self._carrier_line(package, single=len(result.packages) == 1))
            event = package.latest_event
            waits = package.status in _WAITS_FOR_SHOPPER or (event is not None and event.status in _WAITS_FOR_SHOPPER)
            if waits and not package.delivered and event is not None and event.message:
                lines.append(self.r.say("focus.collect", **self._carrier_words(package)))
        return Answer(" ".join(lines))

    def whom_to_ask_answer(self, result: FulfillmentsResult) -> Answer | None:
        """ "Should I ask the courier or you?": who has each package and its tracking, then that the carrier's own
        tracking may show more, and the team if nothing changes. None without a tracked package."""
        named = (self.carrier(p) for p in result.packages if p.tracking)
        carriers = list(dict.fromkeys(c for c in named if c))
        who = self.who_answer(result)
        if who is None or not carriers:
            return None
        text = self.r.say("whom_to_ask.text", carrier=" or ".join(carriers))
        return Answer(self.join(who.text, text), offer="other", topic="whom_to_ask")

    def latest_updates(self, result: FulfillmentsResult, key: str, *, arrived: bool = False) -> list[str]:
        """Each package not delivered yet (or any, `arrived`) with its latest carrier update, said in the reply `key`
        (its carrier, words, date and place); [] when none has one."""
        return [
            self.r.say(key, **self._carrier_words(p))
            for p in result.packages
            if (arrived or not (p.delivered or p.status in _ARRIVED)) and p.latest_event and p.latest_event.message
        ]

    def latest_again(self, result: FulfillmentsResult) -> str:
        """A question the status just given can't answer further ("which neighbor?", "is it lost?"): each package's
        latest carrier words again, and that they are all Lumen sees; "" when no package has any."""
        lines = [
            self.r.say("nothing_more.latest", **self._carrier_words(p))
            for p in result.packages
            if p.latest_event and p.latest_event.message
        ]
        return self.join(*lines, self.r.say("nothing_more.only")) if lines else ""

    def _carrier_words(self, package: Package) -> dict[str, str]:
        """The fields of a reply that repeats a package's latest carrier update: who said it, its words, when and
        where, and the full stop its words may lack."""
        event = package.latest_event
        assert event is not None and event.message is not None
        place = event.city or event.country or ""
        message = event.message.strip()
        return {
            "carrier": self.carrier(package) or self.r.say("focus.the_carrier"),
            "message": message,
            "date": self.date(event.happened),
            "in_place": f" in {place}" if place else "",
            "stop": "" if message[-1:] in ".!?" else ".",
        }

    def _why_answer(self, result: FulfillmentsResult) -> Answer | None:
        """ "Why's it late?" about a package on its way: the carrier's own latest words are all Lumen knows of why, so
        they are said again as the answer (not "nothing has changed"), with the estimate and the team offered."""
        moving = [p for p in result.packages if not p.delivered and p.latest_event and p.latest_event.message]
        if not moving:
            return None
        lines = []
        for package in moving:
            said = self.r.say("focus.why", **self._carrier_words(package))
            lines.append(self.join(said, self._eta_sentence(package, offer=False)))
        lines.append(self.r.say("focus.why_more"))
        return Answer(" ".join(lines), offer="delayed_or_stuck", topic="delayed_or_stuck")

    def _collect_answer(self, result: FulfillmentsResult) -> Answer | None:
        """ "Where do I pick it up?": each package's pickup point, or the carrier's latest words where it says where
        the package waits (a post office, an access point); None when neither is known."""
        lines = []
        for package in result.packages:
            if package.pickup_location:
                lines.append(self.r.say("focus.collect_at", place=package.pickup_location))
            elif package.latest_event is not None and package.latest_event.message:
                lines.append(self.r.say("focus.collect", **self._carrier_words(package)))
        return Answer(" ".join(lines)) if lines and not result.cancelled else None

    def _next_answer(self, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer | None:
        """ "What happens now, will they try again?" about packages not yet delivered: each carrier's own latest words
        (an attempted delivery's "a second attempt will be made...") and its estimate, then the order's own offer."""
        moving = [p for p in result.packages if not p.delivered and p.latest_event and p.latest_event.message]
        if not moving or result.cancelled:
            return None
        lines = []
        for package in moving:
            said = self.r.say("focus.next", **self._carrier_words(package))
            lines.append(self.join(said, self._eta_sentence(package, offer=False)))
        whole = self.order_answer(order, result, intent)
        if whole.offer is None:
            return Answer(" ".join(lines))
        lines.append(self.r.say("focus.why_more"))
        return Answer(" ".join(lines), offer=whole.offer, topic=whole.topic)

    def _disputed_answer(self, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer | None:
        """ "I was home all day though" just after a carrier's event: each carrier's own latest words, said as what it
        recorded (Lumen never knows who is right), and the team offered to take it up. About a delivered order the
        shopper says what the carrier recorded did not happen: the delivered-not-received answer. None when no
        carrier wrote anything."""
        if result.cancelled:
            return None
        recorded = [p for p in result.packages if not p.delivered and p.latest_event and p.latest_event.message]
        if not recorded:
            if not any(p.delivered for p in result.packages):
                return None
            return self.order_answer(order, result, intent.plus(frozenset({"delivered_not_received"})))
        lines = [self.r.say("focus.disputed", **self._carrier_words(p)) for p in recorded]
        carrier = self.carrier(recorded[0]) or self.r.say("focus.the_carrier")
        lines.append(self.r.say("focus.disputed_more", carrier=carrier))
        return Answer(" ".join(lines), offer="other", topic="disputed_event")

    def _package_named(
        self, result: FulfillmentsResult, words: Sequence[str], ordinal: int | None = None
    ) -> Package | None:
        if ordinal is not None and len(result.packages) > 1:
            index = ordinal - 1 if ordinal > 0 else len(result.packages) - 1
            if 0 <= index < len(result.packages):
                return result.packages[index]
        for package in result.packages:
            if any(_mentions(item.name, words) for item in package.items):
                return package
        # "The UPS one": the one package whose carrier the shopper names.
        by_carrier = [p for p in result.packages if _names_carrier(self.carrier(p), words)]
        return by_carrier[0] if len(by_carrier) == 1 and len(result.packages) > 1 else None

    def _carrier_line(self, package: Package, *, single: bool) -> str:
        handover = self.handover(package)
        if handover is not None:
            # "Which company will deliver it?": the one it was handed to, then the first carrier's own tracking.
            subject = (
                self.r.say("focus.it")
                if single
                else self.r.say(
                    "focus.package_subject", number=package.package_number, items=self.in_brackets(package.items)
                )
            )
            tracking = (
                self.r.say("phrases.handover_tracking", carrier=handover.carrier, tracking=handover.tracking)
                if handover.tracking
                else ""
            )
            own = [t for t in package.tracking if not (t.carrier and _same_carrier(t.carrier, handover.carrier))]
            first = self.tracking(package.model_copy(update={"tracking": own})) if own else ""
            key = "focus.handed_over" if handover.by else "focus.handed_over_no_from"
            line = self.r.say(
                key,
                subject=subject,
                by=handover.by or "",
                carrier=handover.carrier,
                date=self.date(handover.happened),
                tracking=tracking,
            )
            return self.join(line, self.r.say("focus.first_tracking", tracking=first) if first else "")
        if not package.tracking:
            return self.r.say("focus.no_tracking", number=package.package_number, by=self.fulfilled_at(package))
        key = "focus.carrier_one" if single else "focus.carrier_line"
        return self.r.say(
            key,
            number=package.package_number,
            items=self.in_brackets(package.items),
            carrier=self.carrier(package) or self.r.say("focus.the_carrier"),
            tracking=self.tracking(package),
        )

    def _eta_line(self, package: Package, *, single: bool) -> str:
        if package.delivered:
            when = self.r.say("phrases.delivered_on", date=self.date_time(package.delivered))
        elif package.estimated_delivery:
            # An estimate already passed is said as passed, as in the full answer, never as still to come.
            key = "focus.eta_passed" if self._passed(package.estimated_delivery) else "focus.eta"
            when = self.r.say(key, date=self.date(package.estimated_delivery))
        else:
            when = self.r.say("focus.no_eta")
            event = package.latest_event
            if event and event.message:
                when += self.r.say("focus.latest", message=event.message, date=self.short_date(event.happened))
        key = "focus.when_one" if single else "focus.when_line"
        line = _upper_first(
            self.r.say(key, number=package.package_number, items=self.in_brackets(package.items), when=when)
        )
        return self.join(self.status_sentence(package.status), line) if single and not package.delivered else line

    def _return_answer(self, order: OrderOverview, result: FulfillmentsResult) -> Answer:
        if not order.return_status:
            return Answer(self.r.say("focus.no_return", order_number=order.order_number), offer="other")
        text = self.r.say(
            "focus.return", order_number=order.order_number, status=self.return_words(order.return_status)
        )
        refunds = self._refund_answer(order, result).text if result.refunds else self.r.say("focus.no_refund_yet")
        return Answer(self.join(text, refunds, self.r.say("focus.return_offer")), offer="other")

    def _cancel_reason_answer(self, order: OrderOverview, result: FulfillmentsResult, intent: Intent) -> Answer:
        """ "Why was it cancelled?" after the cancellation's facts: only that its reason isn't in the data; and the
        money, when that is asked too ("how come it got cancelled, and is my money coming back?"): the refunds
        recorded, or none, before the team is offered (once)."""
        text = self.r.say("order.cancel_reason_only", order_number=order.order_number)
        if intent.focus == "refund":
            text = self.join(self.without_offers(self._refund_answer(order, result).text), text)
        return Answer(text, offer="cancellation_details")

    def _refund_answer(self, order: OrderOverview, result: FulfillmentsResult) -> Answer:
        if not result.refunds:
            return Answer(self.r.say("focus.no_refund", order_number=order.order_number), offer="other")
        lines = [
            self.r.say(
                "focus.refund",
                amount=self.money(r.amount, r.currency),
                date=self.date(r.date),
                order_number=order.order_number,
            )
            for r in result.refunds
        ]
        return Answer(" ".join(lines))

    def policy_answer(self, question: str) -> Answer:
        """A question about the shop's policies: the merchant's own sentences that speak to it, quoted, or that
        Lumen has no such information, with the team offered."""
        asked = policy_question(question)
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", self.persona.context) if s.strip()]
        quoted = [s for s in sentences if _answers_policy(s, asked)][:3]
        if not quoted:
            return Answer(self.r.say("policy.unknown"), offer="other", topic="policy_question")
        return Answer(self.r.say("policy.answer", shop_name=self.shop_name, quote=" ".join(quoted)))

    def customer_orders(self, result: FindOrderResult) -> str:
        if not result.orders:
            return self.r.say("customer_orders.none")
        lines = [self.r.say("customer_orders.intro")]
        for overview in result.orders:
            code = overview.fulfillment_status
            status_key = f"order_status.{code}" if self.r.has(f"order_status.{code}") else "order_status.OTHER"
            status = self.r.say("customer_orders.cancelled") if overview.cancelled else self.r.say(status_key)
            lines.append(
                self.r.say(
                    "customer_orders.line",
                    order_number=overview.order_number,
                    items=self.in_brackets(overview.items),
                    placed=self.date(overview.placed),
                    status=status,
                )
            )
        lines.append(self.r.say("customer_orders.ask"))
        return "\n".join(lines)


def _answers_policy(sentence: str, asked: PolicyQuestion) -> bool:
    """Whether one of the merchant's sentences speaks to the question: its topic, and any aspect asked of it (how
    long, how much, where) in the sentence's own terms (days, an amount, a country)."""
    lowered = sentence.lower()
    # A sentence is about the topic it names first: "Returns are accepted within 30 days of delivery" is about
    # returns, though it names delivery too.
    first = {lowered.find(stem): topic for topic, stems in POLICY_TOPICS.items() for stem in stems if stem in lowered}
    if not first or first[min(first)] not in asked.topics:
        return False
    if not asked.aspects:
        return True
    for aspect in asked.aspects:
        if ASPECT_ANSWER[aspect].search(sentence) or (aspect == "place" and places_named(sentence)):
            return True
    return False


def _names_carrier(carrier: str | None, words: Sequence[str]) -> bool:
    """Does the message name this carrier ("the UPS one", "the royal mail parcel")?"""
    return bool(carrier) and any(w in words for w in re.findall(r"\w{3,}", (carrier or "").lower()))


def _same_carrier(a: str, b: str) -> bool:
    """ "DHL Express" and "DHL", "USPS" and "usps": one carrier."""
    x, y = a.lower().strip(), b.lower().strip()
    return x == y or x.startswith(y + " ") or y.startswith(x + " ")


def all_delivered(result: FulfillmentsResult) -> bool:
    return all(p.delivered for p in result.packages)


def _mentions(name: str, words: Sequence[str]) -> bool:
    """Does the shopper's message name this item ("the teapot" -> "Kyusu Teapot")?"""
    name_words = set(re.findall(r"\w+", name.lower()))
    return any(w in name_words or (len(w) > 3 and w.rstrip("s") in name_words) for w in words)


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text and not text[:2].isupper() else text


@cache
def _weekday_month_day(locale: str) -> str:
    """The locale's pattern for a weekday, month and day without the year ("EEEE, MMMM d" in en_US).

    CLDR's closest skeleton has the short weekday ("Tue"); CLDR says to widen the matched pattern's fields to the
    requested width, which Babel's `format_skeleton` does not do, so the weekday is widened here.
    """
    skeletons = Locale.parse(locale).datetime_skeletons
    pattern = str(skeletons[match_skeleton("MMMMEEEEd", skeletons) or "MMMMEd"])
    return re.sub(r"E+", "EEEE", pattern)


def _is_latest(handover: HandOver | None, package: Package) -> bool:
    """Whether a hand-over to another carrier is the package's latest update: quoted as that, with its date, it is not
    told again as a hand-over on the same date (only the new carrier's tracking is added)."""
    event = package.latest_event
    return handover is not None and event is not None and handover.happened == event.happened
