"""The labelled corpus of shopper messages the playbook's act reader learns from (`shoppers.jsonl`).

Each line is one message with the dialogue acts it carries, the test store whose shoppers it was written for, and
its split. Messages are written by hand in `source/` (one file per store voice); `python -m evals.corpus.build`
turns them into `shoppers.jsonl`, adding light typo/case/emoji variants. Everything marked `heldout` (a stratified
slice of every act, and the whole `HELD_OUT_STORE`) is never trained on and was never used to write a rule. Files
named `<store>.<batch>.train.txt` (batches 17 on) hold lines written only to teach the reader the acts and
boundaries cross-validation read worst; they all go to training, so the held-out sets stay the ones measured before
them.

How messages are labelled (the acts are `agent.playbook.acts.Act`):
- Most messages carry one act; a second one only for a second request ("it arrived broken, send a new one":
  damaged_item + replacement; "cancel and refund me": cancel_request + refund_request).
- greeting, thanks, goodbye and acknowledge are labelled only on purely social messages ("thanks, bye" carries
  two); "hi, where is my order?" is where_is_order. A reader of social words inside a request adds nothing the
  playbook acts on.
- give_details only for a message that is (almost) only an order number, email or postal code; "where is 1042?" is
  where_is_order (the exact extractors in `understand.py` take the number either way).
- where_is_order: not here yet, late, stuck, "has it shipped?"; delivered_not_received: the carrier says delivered
  and the shopper has nothing; ship_when: not shipped yet (pre-order, backorder, "when will you send it?");
  package_followup: a question about one part of an order already shown (the carrier, the second parcel, the
  teapot, "the tracking number please"); missing_tracking: there is no tracking number, or it does not work.
- policy_question: a question about how the shop works in general, not a request about one order: the returns
  window or process, who pays return postage, where and how it ships, how long shipping usually takes, what it
  costs, pickup, warranty, price matching ("what's your return policy?", "do you ship to Canada?"). "I want to
  return the lamp" is return_request; "when will my order ship?" is ship_when; products, discounts, stock and
  opening hours stay out_of_scope.
- A marketplace's name used as a word ("I wish...", "my target date", "Otto here", "not from Amazon") is not
  other_platform; no_human is a request not to be passed on ("please don't escalate this").
- Finer boundaries (written down with batches 13-16):
  - "has it shipped?", "did it go out yet?" ask where the order is: where_is_order. ship_when when the shopper says
    or knows it has not gone ("still says processing/unfulfilled, when will you send it?", pre-order, backorder, the
    rest of a part-shipped order).
  - A general question about returns (the window, where to send them, who pays, how exchanges work, can sale items
    come back) is policy_question; "I want to send the boots back" or "can I exchange this for a bigger size" is
    return_request. How long a refund usually takes is policy_question; "where's my refund" is refund_request.
  - A corrected order number ("sorry, wrong number, it's 1046") is give_details, not wrong_item.
  - A yes that only confirms ("yes it arrived, thanks") is thanks; "yes, I saw that" is acknowledge; accept is a
    yes to something Lumen offered.
  - Marked delivered but stolen, or "left in a safe place / with a neighbour / in a locker" and not there:
    delivered_not_received. "Tracking hasn't moved in days" is where_is_order.
  - Products, stock, sizes, care, discounts, shop hours and general knowledge ("who won the match", "write a
    poem", "do you sell on Amazon?") are out_of_scope; a bare item name answering "which package?" is
    package_followup.
  - A damaged, wrong or missing item with a request carries both acts ("cracked, send a new one": damaged_item +
    replacement; "part missing, I want to talk to someone": missing_item + ask_human).
- The confusable pairs, one rule each (written down with batch 29, from an audit of the training rows only: rows
  whose leave-one-store-out reading disagreed with their label were checked against these rules and relabelled only
  where the label broke the rule, never because the model read them otherwise):
  - out_of_scope / policy_question: policy_question is how the shop gets an order to the shopper and takes it back:
    where and when it delivers (countries, islands, Saturdays, next day), carriers, delivery times and costs, free
    delivery thresholds, tracked or signed delivery, duties, pickup / click and collect / sending to a locker or
    depot (even "can I collect my order instead?"), returns and exchanges in general, warranties and guarantees,
    price matching. out_of_scope is everything about the goods and the rest of the business: products, sizes, care,
    stock and restocks, what a product word means, custom orders, discounts and codes, gift cards and wrapping,
    payment methods, currency, shop hours and locations, jobs, general knowledge.
  - ship_when / where_is_order: ship_when when the shopper says or knows the order has not gone yet (still
    processing / unfulfilled / awaiting dispatch, a pre-order or backorder, "you haven't sent it", "is it going out
    this week?"); where_is_order when they ask whether it has gone or where it is without knowing ("has it shipped?",
    "did it go out yet?", "my order not shipped yet?"), and for anything after it left (late, stuck, when will it
    arrive, how long the pickup point keeps it).
  - policy_question / ship_when: "how long do you usually take to send orders?" is policy_question; "when will you
    send mine?", and when pre-orders or backorders go out, is ship_when.
  - policy_question / return_request: return_request when the shopper means one of their own things ("the boots",
    "this", "it", "my order": "how do I return the tent?"); a question about returns in general or about "something",
    "an item", "a gift", sale items, or the window, cost or process is policy_question, even with "how do I".
  - policy_question / change_address: moving an order already placed to another address, flat number or post
    office / depot hold is change_address; which delivery options exist (lockers, pickup points) is policy_question.
  - status_meaning / out_of_scope: what a tracking or order status says ("exception", "label created", "awaiting
    collection") is status_meaning; what a product word means ("3-season", "ceremonial grade") is out_of_scope.
  - package_followup / out_of_scope: a bare item name, or which box an item is in / whether it comes separately, is
    package_followup (the shopper is pointing into an order); what an item is like is out_of_scope.
  - acknowledge / thanks / goodbye: a nod with thanks for information ("ok thanks for the info") is acknowledge alone;
    "ok, bye" is goodbye alone; thanks and a goodbye ("cheers, bye now") carry both.
  - cancel_request + refund_request when both are asked ("cancel it and give me my money back").
  - Relabelled with batch 34 (training-only lines that broke the package_followup / missing_tracking rule): "can you
    get me the tracking number" and "could u get me a tracking link" (harbor-us.32) asked for a number the shopper
    has not seen, not one that does not work: package_followup, as "can you give me the tracking number" is.
  Known exceptions: three split training rows ask for a replacement of a damaged item and still carry replacement
  alone; giving them damaged_item too would take that act's held-out share under the seventh the tests guard.

This module only reads data: it imports nothing from `agent/`, so the playbook may load it at run time.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Split = Literal["train", "heldout"]
CORPUS_FILE = "shoppers.jsonl"
# An Australian surf shop: its own carriers (Australia Post, StarTrack, Sendle), words and order names. Every one of
# its messages is held out, so the report says how the reader does on a store it has never seen.
HELD_OUT_STORE = "saltbush-au"


class Utterance(BaseModel):
    """One shopper message and what it does."""

    model_config = ConfigDict(frozen=True)

    text: str = Field(min_length=1)
    acts: tuple[str, ...] = Field(min_length=1, max_length=3)
    store: str
    split: Split
    # "written" by hand, or the kind of variant the builder made of a written message ("typo", "lower", "emoji").
    origin: str = "written"
    # Where it was written ("harbor-us.txt:12"); a variant keeps its message's, so the two are never split apart.
    source: str = ""


class Probe(BaseModel):
    """A message from issue 12 that the keyword reader got wrong, with the acts a right reading may give."""

    model_config = ConfigDict(frozen=True)

    text: str
    expect_any: tuple[str, ...]  # the reading's top act must be one of these
    forbid: tuple[str, ...] = ()  # and none of these may be read at all


# Kept out of the corpus verbatim (the builder refuses a source line that contains one).
PROBES: tuple[Probe, ...] = (
    Probe(text="I wish I knew where my order is", expect_any=("where_is_order",), forbid=("other_platform",)),
    Probe(text="this is Otto", expect_any=("greeting",), forbid=("other_platform",)),
    Probe(text="my target delivery date", expect_any=("where_is_order",), forbid=("other_platform",)),
    Probe(
        text="I don't want to cancel, just tell me where it is",
        expect_any=("where_is_order",),
        forbid=("cancel_request",),
    ),
    Probe(text="please don't escalate this", expect_any=("no_human",), forbid=("ask_human",)),
    Probe(
        text="the team at our front desk says nothing arrived",
        expect_any=("delivered_not_received", "where_is_order"),
        forbid=("ask_human",),
    ),
    Probe(text="it arrived damaged", expect_any=("damaged_item",)),
    Probe(text="you sent the wrong item", expect_any=("wrong_item",)),
    Probe(text="orders 1042 and 1050", expect_any=("where_is_order", "give_details")),
    Probe(text="I no longer have access to that email", expect_any=("no_email_access",)),
    Probe(text="what does in transit mean?", expect_any=("status_meaning",), forbid=("out_of_scope",)),
    Probe(text="no, I'll ask the neighbours first", expect_any=("decline",)),
    Probe(text="yes please, sort it out", expect_any=("accept",)),
    Probe(text="can you change my delivery address", expect_any=("change_address",)),
)


@lru_cache(maxsize=1)
def load_corpus() -> tuple[Utterance, ...]:
    """Every message of the shipped corpus (package data, so it is there in an installed Lumen too)."""
    lines = resources.files(__name__).joinpath(CORPUS_FILE).read_text(encoding="utf-8").splitlines()
    return tuple(Utterance.model_validate_json(line) for line in lines if line.strip())


def training_slice() -> tuple[Utterance, ...]:
    return tuple(u for u in load_corpus() if u.split == "train")


def held_out_slice() -> tuple[Utterance, ...]:
    """Held-out messages of the stores that are also trained on."""
    return tuple(u for u in load_corpus() if u.split == "heldout" and u.store != HELD_OUT_STORE)


def held_out_store() -> tuple[Utterance, ...]:
    return tuple(u for u in load_corpus() if u.store == HELD_OUT_STORE)
