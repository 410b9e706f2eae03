"""Two answers about one proved order, written from tool results only (`prompts/replies.toml` [deadline], [refund_gap]).

- "Will it arrive by <date>?" (the date read by `agent.dates_said`): each part of the order against that day: a
  delivery already made, the carrier's estimate (never a promise), a date the shop scheduled it for, or, with none of
  these, that Lumen can't promise a date and what the data does say.
- "Where's the rest of my refund?": the refunds recorded (amounts, dates) against the order's total, and plainly
  that the rest is not recorded as refunded; never a reason, and the team offered.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.dates import format_skeleton

from agent import prompts
from agent.dates_said import Deadline
from agent.playbook.compose import STALE_AFTER_DAYS, Answer, Composer
from shopify.shop_locale import babel_locale
from tools.list_fulfillments import FulfillmentsResult
from tools.views import OrderOverview, Package, RefundView


def _day(c: Composer, day: date) -> str:
    """The shopper's day as the shop's locale writes it: "December 24" (en_US), "24 December" (en_GB)."""
    return format_skeleton("MMMMd" if day.year == c.today.year else "yMMMMd", day, locale=babel_locale(c.locale))


def _local_date(iso: str) -> date:
    return date.fromisoformat(iso[:10])


def deadline_answer(c: Composer, order: OrderOverview, result: FulfillmentsResult, deadline: Deadline) -> Answer | None:
    """Whether each part of the order is expected by the shopper's day, from the data; None where the ordinary
    answer says it better (a cancelled order, store pickup, digital goods, a shop's own local delivery window)."""
    if result.cancelled or result.delivery_method in ("PICK_UP", "NONE", "LOCAL"):
        return None
    if not result.packages and order.fulfillment_status == "FULFILLMENT_NOT_REQUIRED":
        return None
    single = len(result.packages) <= 1 and not (result.packages and result.unshipped_items)
    if deadline.day == c.today:
        # "Before the weekend" said on a Sunday is today, the shop's own day: "by today", never "before <today's date>"
        # (nothing can come before a day that has begun).
        deadline = replace(deadline, strict=False)
    by = c.r.say("phrases.today") if deadline.day == c.today else _day(c, deadline.day)
    lines: list[str] = []
    offers: list[str] = []
    closing = ""
    for package in result.packages:
        subject = (
            c.r.say("deadline.one", order_number=order.order_number, items=c.in_brackets(package.items or order.items))
            if single
            else c.r.say("deadline.package", number=package.package_number, items=c.in_brackets(package.items))
        )
        line, offer = _package_line(c, package, subject, by, deadline)
        lines.append(line)
        if offer:
            offers.append(offer)
    if result.unshipped_items or not result.packages:
        items = result.unshipped_items if result.packages else order.items
        key = "deadline.one" if single else "deadline.rest"
        subject = c.r.say(key, order_number=order.order_number, items=c.in_brackets(items))
        line, waits = _unshipped_line(c, result, subject, by, deadline)
        lines.append(line)
        if waits:
            offers.append("shipping_date_request")
            closing = c.r.say("order.ask_ship_date")
    if offers and not closing:
        closing = c.r.say("order.eta_passed_offer")
    # Each package on its own line, as in the status answer.
    text = c.join(*lines) if single else "\n".join(lines)
    return Answer(c.join(text, closing), offer=offers[0] if offers else None)


def _package_line(c: Composer, package: Package, subject: str, by: str, deadline: Deadline) -> tuple[str, str | None]:
    """One package against the day: delivered, the carrier's estimate before or after it, or no estimate."""
    # The number to follow it by, as every status answer gives it: a shopper asking about a day wants to watch it,
    # and a package delivered is shown with its carrier and number too (one of a split order is told apart by them).
    tracked = c.r.say("order.tracking_sentence", tracking=c.tracking(package)) if package.tracking else ""
    if package.delivered:
        carrier = c.carrier(package)
        when = c.date_time(package.delivered)
        if carrier:
            return c.join(
                c.r.say("deadline.delivered_by", subject=subject, carrier=carrier, delivered=when), tracked
            ), None
        return c.join(c.r.say("deadline.delivered", subject=subject, delivered=when), tracked), None
    line, offer = _in_transit_line(c, package, subject, by, deadline)
    return c.join(line, tracked), offer


def _in_transit_line(
    c: Composer, package: Package, subject: str, by: str, deadline: Deadline
) -> tuple[str, str | None]:
    """A package not yet delivered against the day: the carrier's estimate before, on or after it, or none."""
    carrier = c.carrier(package) or c.r.say("focus.the_carrier")
    eta = package.estimated_delivery
    if eta is not None:
        eta_day = _local_date(eta.iso)
        facts = {"subject": subject, "carrier": carrier, "eta": c.date(eta), "by": by}
        if eta_day < c.today:
            return c.r.say("deadline.eta_passed", **facts), "delayed_or_stuck"
        # Where the parcel is now, when that says more than "in transit" (out for delivery today, a delivery
        # attempted, a delay reported): the strongest answer to "will it come in time?" is often not the estimate.
        now = _telling_status(c, package)
        if eta_day < deadline.day:
            return c.join(c.r.say("deadline.eta_in_time", **facts), now), None
        if eta_day == deadline.day and not deadline.strict:
            return c.join(c.r.say("deadline.eta_on_day", **facts), now), None
        word = c.r.say("deadline.before_word" if deadline.strict else "deadline.by_word")
        return c.join(c.r.say("deadline.eta_late", **facts, by_word=word), now), None
    event = package.latest_event
    stale = event is not None and event.days_ago >= STALE_AFTER_DAYS
    if event is not None and event.status == "OUT_FOR_DELIVERY":
        # "Is it coming today?" of a parcel out for delivery: that is what the carrier recorded, never a promise.
        latest = c._latest_sentence(package)
        line = c.r.say("deadline.out_for_delivery", subject=subject, carrier=carrier, latest=latest)
        return line, "delayed_or_stuck" if stale else None
    said = c.join(c.status_sentence(package.status), c._latest_sentence(package))
    line = c.join(c.r.say("deadline.no_eta", subject=subject, carrier=carrier, by=by), said)
    return line, "delayed_or_stuck" if stale else None


# Statuses that say no more than the estimate already does: a parcel moving, or not yet scanned.
_PLAIN_STATUSES = frozenset(("IN_TRANSIT", "CONFIRMED", "LABEL_PRINTED", "LABEL_PURCHASED", "SUBMITTED", "FULFILLED"))


def _telling_status(c: Composer, package: Package) -> str:
    """The package's current state as a sentence ("It's out for delivery."), when its display status or its latest
    carrier event says more than that it is on its way; "" otherwise."""
    event = package.latest_event
    latest = event.status if event is not None and event.status else None
    code = latest if latest and latest not in _PLAIN_STATUSES else package.status
    if code in _PLAIN_STATUSES or not c.r.has(f"status_sentence.{code}"):
        return ""
    # Trouble the carrier explained ("ferry crossing cancelled due to weather"): its words, not only the status.
    why = c._latest_sentence(package) if latest == code and code in _EXPLAINED_STATUSES else ""
    return c.join(c.status_sentence(code), why)


# Statuses whose carrier message usually says why or where: a delay, a failed or attempted delivery, a pickup point.
_EXPLAINED_STATUSES = frozenset(("DELAYED", "ATTEMPTED_DELIVERY", "FAILURE", "NOT_DELIVERED", "READY_FOR_PICKUP"))


def _unshipped_line(
    c: Composer, result: FulfillmentsResult, subject: str, by: str, deadline: Deadline
) -> tuple[str, bool]:
    """What has not shipped against the day: a date the shop scheduled it for, else no estimate at all. True when
    the spec's offer of an estimated shipping date belongs with it."""
    scheduled = next((p.fulfill_at for p in result.pending if p.state == "scheduled" and p.fulfill_at), None)
    held = any(p.state == "on_hold" for p in result.pending)
    if scheduled is not None:
        facts = {"subject": subject, "date": c.date(scheduled), "by": by}
        if _local_date(scheduled.iso) >= deadline.day:
            return c.r.say("deadline.scheduled_after", **facts), False
        return c.r.say("deadline.scheduled_before", **facts), True
    line = c.r.say("deadline.unshipped", subject=subject, by=by)
    return c.join(line, c.r.say("order.on_hold") if held else ""), True


# --- the rest of a refund ---------------------------------------------------------------------------------------


def _amount(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def refunded_in_full(order: OrderOverview, refunds: list[RefundView]) -> bool | None:
    """Whether the refunds recorded come to the order's total (None when the data can't say: no total as placed, or
    refunds in another currency). Only the total as placed counts: Shopify's current total drops with returns, so set
    against the refunds it would name a reduced sum as the order's total."""
    total = _amount(order.total_paid)
    amounts = [_amount(r.amount) for r in refunds if (r.currency or order.currency) == order.currency]
    if total is None or not total or None in amounts or len(amounts) != len(refunds):
        return None
    refunded = sum((a for a in amounts if a is not None), Decimal(0))
    if refunded > total:
        return None  # a total written after the refunds (Shopify's current total): it can't be compared
    return refunded == total


def refund_gap_answer(c: Composer, order: OrderOverview, result: FulfillmentsResult) -> Answer | None:
    """The refunds recorded on the order against its total, and that the rest is not recorded as refunded; None
    when no refund is recorded (the ordinary answers say that)."""
    refunds = [r for r in result.refunds if r.amount]
    if not refunds:
        return None
    listed = f" {c.r.say('phrases.and')} ".join(
        c.r.say("refund_gap.item", amount=c.money(r.amount, r.currency or order.currency), date=c.date(r.date))
        for r in refunds
    )
    cancelled = (
        c.r.say("refund_gap.cancelled", order_number=order.order_number, date=c.date(result.cancelled))
        if result.cancelled
        else ""
    )
    full = refunded_in_full(order, refunds)
    total = c.money(order.total_paid, order.currency)
    if full is None:
        text = c.r.say("refund_gap.no_total", order_number=order.order_number, refunds=listed)
    else:
        key = "refund_gap.full" if full else "refund_gap.partial"
        text = c.r.say(key, order_number=order.order_number, total=total, refunds=listed)
    return Answer(c.join(cancelled, text, c.r.say("refund_gap.offer")), offer="other", topic="refund_partial")


@lru_cache(maxsize=4096)
def refund_gap_asked(text: str) -> bool:
    """Whether a message says a refund fell short ("where's the other $40?", "you only refunded part of it", "I paid
    160 and got 120 back"): a word of money, or an amount with its currency, beside a word of part or rest. A word
    one slip of the keyboard from a listed one ("mony", "refnded") counts as that word."""
    words = prompts.toml("deadlines.toml")["refund_gap"]
    said = re.findall(r"[\w']+", text.lower().replace("’", "'"))
    plain = " " + " ".join(said + [_money_word(w) for w in said]) + " "
    money = _AMOUNT.search(text) is not None or any(f" {w} " in plain for w in words["money"])
    if not money:
        return False
    # "I paid 160 and got 120 back": two sums named beside the money say it fell short without a word of part.
    sums = {m for m in _SUM.findall(re.sub(r"\S+@\S+", " ", text))}
    return len(sums) >= 2 or any(f" {w} " in plain for w in words["part"])


@lru_cache(maxsize=4096)
def _money_word(word: str) -> str:
    """The word of money `word` is one slip from, or `word` itself: asked of every word of every new message, so
    each word is compared with the list once."""
    return _listed(word, tuple(prompts.toml("deadlines.toml")["refund_gap"]["money"]))


def _listed(word: str, listed: tuple[str, ...]) -> str:
    """The listed word `word` is one slip from, or `word` itself (short words are too easily one slip from another)."""
    if len(word) < 4 or word in listed:
        return word
    slips = _slips(listed)
    found = {*slips.get(("as_is", word), ())}
    for i in range(len(word)):
        dropped = word[:i] + word[i + 1 :]
        if dropped in listed and len(dropped) >= 4:
            found.add(dropped)
        found.update(slips.get(("mistyped", word[:i], word[i + 1 :]), ()))
    return next((w for w in listed if w in found), word)


@lru_cache(maxsize=8)
def _slips(listed: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """The words of four or more letters of `listed` by the ways a message may slip them, so a new word is compared
    with the list in a few look-ups, not a walk over it: a listed word less one of its (lowercase) letters or with two
    neighbours swapped, as it is; with one letter typed as any other character, by what stays around it. A word with
    a character more than a listed one is looked up with each character taken out (`_listed`;
    tests/test_playbook_slips.py)."""
    slips: dict[tuple[str, ...], list[str]] = {}
    for w in (w for w in listed if len(w) >= 4):
        keys: set[tuple[str, ...]] = {("as_is", w[:i] + w[i + 1 :]) for i in range(len(w)) if w[i] in _LETTERS}
        keys |= {("mistyped", w[:i], w[i + 1 :]) for i in range(len(w)) if w[i] in _LETTERS}
        keys |= {("as_is", w[:i] + w[i + 1] + w[i] + w[i + 2 :]) for i in range(len(w) - 1) if w[i] != w[i + 1]}
        for key in keys:
            slips.setdefault(key, []).append(w)
    return {key: tuple(words) for key, words in slips.items()}


_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


# "$40", "£ 12.50", "40€", "40 USD": an amount with its currency.
_SUM = re.compile(r"(?<![\w#.,/-])\d{1,5}(?:[.,]\d{2})?(?![\w/-]|[.,]\d)")
_AMOUNT = re.compile(r"[$£€]\s?\d|\d\s?(?:[$£€]|(?:usd|cad|aud|nzd|gbp|eur)\b)", re.IGNORECASE)
