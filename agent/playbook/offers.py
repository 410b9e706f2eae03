"""Several offers open at once: a reply about several orders, each with something for the team ("#4410 came broken,
and can I cancel #4412?"), offers the team for each. A yes takes every one up.

One escalation per order, each with its own reason and summary, rather than one naming both: the team's cases are
kept per conversation and order (the outbox deduplicates on that pair, `/admin` lists them so), a damaged parcel and a
cancellation go to different hands and are closed at different times, and "did you pass on #4412?" is answered from
that order's own reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from babel.lists import format_list

from tools.escalate import EscalationResult

# An offer Lumen made: (its reason for the team, the request or problem it is about, the order).
Offer = tuple[str, str | None, str]


class Handed(NamedTuple):
    """One hand-off this turn made: the order it is about ('' for none), its reference and the reply address."""

    order: str
    reference: str
    reply_to: str


def handed_over(calls: Iterable[tuple[Mapping[str, Any], Any]]) -> list[Handed]:
    """The hand-offs made by a turn's escalate calls (their arguments and results), in the order they were made."""
    made: list[Handed] = []
    for args, result in calls:
        if result is None:
            continue
        outcome = EscalationResult.model_validate(result)
        if outcome.status in ("created", "already_created") and outcome.reference:
            made.append(Handed(str(args.get("order_number") or ""), outcome.reference, outcome.reply_to or ""))
    return made


def offer_left(more: Sequence[Offer], handed: Iterable[str]) -> Offer | None:
    """The next offer a yes took up that no hand-off has answered yet (none already made for its order)."""
    done = set(handed)
    return next((offer for offer in more if offer[2] not in done), None)


def cases_said(made: Sequence[Handed], case: str, locale: str) -> str:
    """Each order's reference in one list, in the shop's language: "ESC-1 for order #4410 and ESC-2 for order #4412".
    `case` is the template of one ("{reference} for order {order_number}")."""
    parts = [case.format(reference=h.reference, order_number=h.order) for h in made]
    return format_list(parts, locale=locale)
