"""Two requests in one message (issue 12): each is answered, neither drowns the other.

An invented outdoor shop (Gullrock Outfitters, en-US; no eval store) with one order of each kind a pair needs: a
split shipment with one package delivered and one on its way, a delivered order, one in transit, one whose label is
printed, a pre-order not yet shipped, and a second order in transit. Each pair is written in several voices (US, UK
and Australian English, typos, lowercase, shouting), with the order proved in the same message, earlier in the
conversation, or after the pair was said. Every reply must say the order's facts from the data and answer the other
request (what Lumen can't do and the team offered, or the second answer), never claim a request it can't do as done,
and never be the same as the reply before it.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import store_builders as build
from tests.server_helpers import replies

EMAIL = "rue@example.com"


def _package(carrier: str, number: str, items: list[str], status: str = "IN_TRANSIT", **extra: Any) -> dict[str, Any]:
    moving = None if status == "LABEL_PRINTED" else build.MOVING_AT
    return build.package(items, carrier, number, status=status, in_transit_at=moving) | extra


def _delivered(carrier: str, number: str, items: list[str], when: str) -> dict[str, Any]:
    event = build.event("DELIVERED", when, "Left at front door", "Boulder")
    return _package(carrier, number, items, "DELIVERED", deliveredAt=when, events={"nodes": [event]})


def _order(name: str, packages: list[dict[str, Any]], shipped: list[str], waiting: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return build.order(
        name,
        email=EMAIL,
        zip_code="80302",
        items=shipped,
        waiting=waiting,
        packages=packages,
        amount="80.00",
        id_prefix="88",
        shipped=bool(shipped),
    )


# Gullrock Outfitters, Boulder (en-US, USD), today Monday, December 7, 2026.
STORE: dict[str, Any] = {
    "asOf": "2026-12-07T18:00:00Z",
    "shop": {"name": "Gullrock Outfitters", "ianaTimezone": "America/Denver", "currencyCode": "USD", "locale": "en-US"},
    "orders": [
        _order("#5101", [_delivered("USPS", "9400151010001", ["Enamel Trail Mug"], "2026-12-03T21:10:00Z"),
                         _package("UPS", "1Z5101AB02", ["Merino Hiking Socks"],
                                  estimatedDeliveryAt="2026-12-09T20:00:00Z")],
               ["Enamel Trail Mug", "Merino Hiking Socks"]),
        _order("#5102", [_delivered("UPS", "1Z5102CD03", ["Camp Lantern"], "2026-12-04T19:30:00Z")], ["Camp Lantern"]),
        _order("#5103", [_package("FedEx", "770051030001", ["Down Vest"], estimatedDeliveryAt="2026-12-10T20:00:00Z")],
               ["Down Vest"]),
        _order("#5104", [_package("USPS", "9400151040004", ["Trekking Poles"], "LABEL_PRINTED")], ["Trekking Poles"]),
        _order("#5105", [], [], ["Titanium Stove"]),
        _order("#5106", [_package("DHL Express", "5106223344", ["Rain Shell"],
                                  estimatedDeliveryAt="2026-12-11T20:00:00Z")], ["Rain Shell"]),
    ],
}  # fmt: skip

# The facts each order's answer must give, from the data above.
SOCKS = ["UPS", "1Z5101AB02", "December 9"]  # #5101's package still on its way
LANTERN = ["UPS", "1Z5102CD03", "December 4"]
VEST = ["FedEx", "770051030001", "December 10"]
POLES = ["USPS", "9400151040004"]
SHELL = ["DHL Express", "5106223344", "December 11"]

# A request Lumen can't do, claimed as done.
_CLAIMED = re.compile(
    r"(?i)\bi(?:'ve| have)\s+(?:issued|processed|refunded|cancell?ed|changed|updated|arranged|sent (?:you )?a "
    r"(?:new|replacement))|\b(?:has|have) been (?:cancell?ed|refunded|updated|changed)\b|\byour refund (?:is|was) "
    r"(?:on its way|issued)"
)


@dataclass(frozen=True)
class Pair:
    """One conversation: the shopper's turns, the facts the last reply must give, and what must show the other
    request was answered (each alternative a tuple: any one of its phrases will do)."""

    turns: tuple[str, ...]
    facts: tuple[str, ...]
    answered: tuple[tuple[str, ...], ...]
    team: bool | None = True  # the last reply offers the team (or hands over); False: never names it; None: either
    absent: tuple[str, ...] = ()  # what the last reply must not say (another order's request, for example)

    @property
    def id(self) -> str:
        return " | ".join(self.turns)[:70]


def _p(turns: str | tuple[str, ...], facts: list[str], *answered: tuple[str, ...], **kw: Any) -> Pair:
    return Pair((turns,) if isinstance(turns, str) else turns, tuple(facts), answered, **kw)


DAMAGED, WRONG, MISSING = ("damaged",), ("wrong item",), ("missing",)
CANT_REFUND, CANT_REPLACE, CANT_RETURN = (
    ("I can't issue refunds",),
    ("I can't arrange a replacement",),
    ("I can't start a return",),
)
CANT_CANCEL, CANT_ADDRESS = ("I can't cancel",), ("I can't change the delivery address",)
HANDED_OVER = ("I've sent your case",)

PROBLEM_AND_THE_OTHER_PACKAGE = [
    _p(f"5101 {EMAIL} the mug arrived with a big crack in it. where is my other package?", SOCKS, DAMAGED),
    _p(f"5101 {EMAIL} mug came smashed to bits!! wheres the socks", SOCKS, DAMAGED),
    _p(f"Hiya, order 5101, {EMAIL}. The mug's arrived chipped, and where's the rest of my order?", SOCKS, DAMAGED),
    _p(f"{EMAIL} 5101 got the wrong mug, totally different one. when do the socks arrive?", SOCKS, WRONG),
    _p(f"5101 {EMAIL} box only had the mug in it, socks are missing. wheres the other parcel?", SOCKS, MISSING),
    _p(("5101", EMAIL, "the mug arrived broken - where's the second package?"), SOCKS, DAMAGED),
    _p(("mug came cracked and where r my socks??", "5101", EMAIL), SOCKS, DAMAGED),
]

PROBLEM_AND_A_REQUEST = [
    _p(f"5102 {EMAIL} lantern arrived damaged, can I get a refund", ["5102"], DAMAGED, CANT_REFUND),
    _p(f"5102 {EMAIL} lanterns broken. refund pls", ["5102"], DAMAGED, CANT_REFUND),
    _p(f"5102 {EMAIL} the lantern is smashed, I want a replacement please", ["5102"], DAMAGED, CANT_REPLACE),
    _p(f"{EMAIL} #5102 it came dented and scratched, could you swap it for a new one", ["5102"], DAMAGED,
       CANT_REPLACE),
    _p(f"G'day, lantern turned up with the glass shattered. Can I send it back? 5102 {EMAIL}", ["5102"], DAMAGED,
       CANT_RETURN),
    _p(f"5102 {EMAIL} you sent me the wrong lantern, I'd like to return it", ["5102"], WRONG, CANT_RETURN),
    _p(("5102", EMAIL, "it arrived damaged, can I have my money back?"), ["5102"], DAMAGED, CANT_REFUND),
]  # fmt: skip

WHERE_AND_A_REQUEST = [
    _p(f"5103 {EMAIL} where is my vest? also can I change the shipping address", VEST, CANT_ADDRESS),
    _p(f"{EMAIL} 5103 wheres my parcel and can u change the delivery address", VEST, CANT_ADDRESS),
    _p(f"Order 5103 ({EMAIL}): where's it at? I've moved house, I need the address changed", VEST, CANT_ADDRESS),
    _p(f"5103 {EMAIL} where is it and can you cancel it", VEST, CANT_CANCEL),
    _p(f"{EMAIL} order 5103 - where's it up to? i'd like to cancel it tbh", VEST, CANT_CANCEL),
    _p(f"WHERE IS 5103?? CANCEL IT. {EMAIL}", VEST, CANT_CANCEL),
    _p(("where's my vest, and can I cancel it?", "5103", EMAIL), VEST, CANT_CANCEL),
]

WHERE_AND_WHAT_LABEL_PRINTED_MEANS = [
    _p(f"5104 {EMAIL} where's my order, and what does label printed mean?", POLES, ("label",), team=None),
    _p(f"{EMAIL} 5104 its said label printed for days, what does that mean and where is it", POLES, ("label",),
       team=None),
    _p(f"Hi, 5104, {EMAIL}. What does 'label printed' actually mean? Where's my parcel?", POLES, ("label",),
       team=None),
]  # fmt: skip

NOT_RECEIVED_AND_A_PERSON = [
    _p(f"5102 {EMAIL} says delivered but I never got it. can I talk to a person", LANTERN, HANDED_OVER),
    _p(f"{EMAIL} 5102 tracking says delivered, nothing here. get me a real human please", LANTERN, HANDED_OVER),
    _p(f"Order 5102, {EMAIL}. It's marked as delivered but it never arrived; I'd like to speak to someone.", LANTERN,
       HANDED_OVER),
]  # fmt: skip

STATUS_AND_TRACKING = [
    _p(f"5103 {EMAIL} has it shipped? and what's the tracking number", VEST, team=False),
    _p(f"{EMAIL} 5106 where is it + tracking no. pls", SHELL, team=False),
    _p(f"Could you tell me where order 5103 is, and what's its tracking number? {EMAIL}", VEST, team=False),
    _p(("wheres 5106 at and whats the tracking", EMAIL), SHELL, team=False),
    # The status was given a turn ago: the tracking asked again is answered short, not the whole status twice.
    _p(("5106", EMAIL, "wheres it at and whats the tracking"), SHELL[:2], team=False),
]

PRE_ORDER_AND_CANCEL = [
    _p(f"5105 {EMAIL} when will my stove ship? if it's not soon just cancel it", ["hasn't shipped"], CANT_CANCEL),
    _p(f"{EMAIL} 5105 when's the pre-order going out? otherwise i want to cancel", ["hasn't shipped"], CANT_CANCEL),
    _p(f"Order 5105, {EMAIL}: when will it be dispatched? I'd rather cancel if it's weeks away.", ["hasn't shipped"],
       CANT_CANCEL),
]  # fmt: skip

TWO_ORDERS = [
    _p(f"{EMAIL} where is 5103, and can I cancel 5106?", VEST + SHELL, ("I can't cancel",), absent=("#5103 for",)),
    _p(f"hey {EMAIL} here. can i change the address on 5106? also wheres 5103", VEST + SHELL, CANT_ADDRESS,
       absent=("order #5103. Would",)),
    _p(f"{EMAIL}: 5103 - when's it arriving? and 5102 arrived broken", [*VEST, "5102"], DAMAGED),
]  # fmt: skip

THANKS_OR_GREETING_AND_A_QUESTION = [
    _p((f"5103 {EMAIL}", "thanks! and where's 5106?"), SHELL, team=False),
    _p((f"5103 {EMAIL}", "cheers, ta. can I still change the delivery address?"), ["5103"], CANT_ADDRESS),
    _p((f"5102 {EMAIL}", "thank you! it came dented though, can I get a replacement"), ["5102"], DAMAGED, CANT_REPLACE),
    _p(f"hi there, order 5103 {EMAIL}, when is it arriving?", VEST, team=False),
    _p(f"Good morning! 5106, {EMAIL} - where's my rain shell?", SHELL, team=False),
    _p(f"hey :) 5104 {EMAIL} whats happening with my poles", POLES, team=None),
]  # fmt: skip

A_QUESTION_AND_NO_HANDOFF = [
    _p(f"5102 {EMAIL} says delivered but it isn't here. please don't escalate, just tell me what tracking says",
       LANTERN, team=False),
    _p(f"{EMAIL} 5104 where is it? no need to pass me on to anyone", POLES, team=False),
    _p(f"5104 {EMAIL} dont escalate this, just where is it", POLES, team=False),
    _p(f"Where's 5101 and please don't hand me over to your team. {EMAIL}", SOCKS, team=False),
]  # fmt: skip

PAIRS: dict[str, list[Pair]] = {
    "problem + the other package": PROBLEM_AND_THE_OTHER_PACKAGE,
    "problem + a request": PROBLEM_AND_A_REQUEST,
    "where + a request": WHERE_AND_A_REQUEST,
    "where + what a status means": WHERE_AND_WHAT_LABEL_PRINTED_MEANS,
    "not received + a person": NOT_RECEIVED_AND_A_PERSON,
    "status + tracking": STATUS_AND_TRACKING,
    "pre-order + cancel": PRE_ORDER_AND_CANCEL,
    "two orders": TWO_ORDERS,
    "thanks or greeting + a question": THANKS_OR_GREETING_AND_A_QUESTION,
    "a question + no hand-off": A_QUESTION_AND_NO_HANDOFF,
}
CASES = [pytest.param(kind, pair, id=f"{kind}: {pair.id}") for kind, pairs in PAIRS.items() for pair in pairs]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gullrock") / "store.json"
    path.write_text(json.dumps(STORE), encoding="utf-8")
    return path


@pytest.mark.parametrize(("kind", "pair"), CASES)
async def test_both_requests_are_answered(store: Path, kind: str, pair: Pair) -> None:
    said = await replies(store, *pair.turns)
    last = said[-1]
    missing = [fact for fact in pair.facts if fact not in last]
    assert not missing, (missing, last)
    for phrases in pair.answered:
        assert any(p.lower() in last.lower() for p in phrases), (phrases, last)
    assert pair.team is None or ("support team" in last) is pair.team, last
    assert not _CLAIMED.search(last), last
    assert not any(a in last for a in pair.absent), last
    assert all(a.strip() != b.strip() for a, b in itertools.pairwise(said)), said


def test_every_pair_has_three_wordings_at_least() -> None:
    assert all(len(pairs) >= 3 for pairs in PAIRS.values())


async def test_the_same_pair_asked_again_is_not_answered_the_same_way(store: Path) -> None:
    message = "the mug arrived cracked, where's the other package?"
    said = await replies(store, f"5101 {EMAIL}", message, message)
    assert said[1].strip() != said[2].strip() and said[0].strip() != said[1].strip(), said


async def test_a_yes_after_two_orders_hands_over_the_one_with_the_request(store: Path) -> None:
    said = await replies(store, f"{EMAIL} where is 5103, and can I cancel 5106?", "yes please")
    assert "I've sent your case" in said[-1], said
