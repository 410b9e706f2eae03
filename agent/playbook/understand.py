"""Reading a shopper's message without an LLM: the details it carries and what the shopper wants.

Nothing here knows a store: order numbers, emails and postal codes are recognised by shape, intents by words,
with some tolerance for typos.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Literal

from agent import prompts

# What Lumen just asked for; "retry" follows a failed lookup (a new number, email or postcode may come).
Awaiting = Literal["order_number", "factor", "retry", "contact_email", "escalation_offer", "which_order"] | None

EMAIL = re.compile(r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PREFIXED_NUMBER = re.compile(
    r"(?:#\s*|\border\b\s*(?:no\.?|nr\.?|num(?:ber)?|#|id|ref)?\s*(?:is|was|=|:)?\s*#?\s*)"
    r"([A-Za-z]{0,4}[\-_]?\d[\dA-Za-z\-]{1,14})\b",
    re.IGNORECASE,
)
# A store-prefixed order name standing alone: "FF-2101", "EN1001" (at least three digits, so not a postcode).
_NAMED_ORDER = re.compile(r"(?<![\w@.-])([A-Za-z]{1,4}-?\d{3,10}(?:-[A-Za-z0-9]{1,3})?)(?![\w@-])")
_BARE_NUMBER = re.compile(r"(?<![\w$€£.,/:])(\d{3,12})(?![\w%.,/:]|\s*(?:days?|weeks?|months?|hours?|dollars?)\b)")
_POSTAL_KEYWORD = re.compile(
    r"\b(?:zip|zipcode|postal|postcode|post code|postal code|zip code)\b\s*(?:code)?\s*(?:is|:|=)?\s*"
    r"([A-Za-z0-9][A-Za-z0-9\-]*(?:\s+[A-Za-z0-9][A-Za-z0-9\-]*)?)",
    re.IGNORECASE,
)
_POSTAL_SHAPE = re.compile(
    r"^(?:\d{4,6}(?:-\d{4})?"  # US ZIP(+4), most of Europe, Australia
    r"|[A-Za-z]\d[A-Za-z][ \-]?\d[A-Za-z]\d"  # Canada
    r"|[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}"  # UK
    r"|\d{3}[ \-]?\d{2,4})$"  # Sweden, Japan, ...
)


@dataclass
class Details:
    order_number: str | None = None
    email: str | None = None
    postal_code: str | None = None


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))


def _similar(word: str, target: str) -> bool:
    if word == target:
        return True
    if len(target) < 5 or abs(len(word) - len(target)) > 2:
        return False
    return SequenceMatcher(None, word, target).ratio() >= 0.84


def _has_any(words: list[str], targets: tuple[str, ...]) -> bool:
    return any(_similar(w, t) for w in words for t in targets)


def _has_phrase(text: str, phrases: tuple[str, ...]) -> bool:
    lowered = " " + " ".join(_words(text)) + " "
    return any(f" {p} " in lowered for p in phrases)


def extract_details(text: str, awaiting: Awaiting) -> Details:
    """The order number, email and postal code in one message; `awaiting` says what we just asked for."""
    details = Details()
    emails = EMAIL.findall(text)
    if emails:
        details.email = emails[-1].strip(".")
    rest = EMAIL.sub(" ", text)

    postal = _POSTAL_KEYWORD.search(rest)
    if postal:
        # The code is one or two tokens after the keyword ("97214", "EH1 1YZ"); more words may follow it.
        tokens = postal.group(1).split()
        for size in (2, 1):
            candidate = " ".join(tokens[:size])
            if len(tokens) >= size and _POSTAL_SHAPE.match(candidate):
                details.postal_code = candidate
                rest = rest.replace(postal.group(0), " " + " ".join(tokens[size:]) + " ")
                break

    prefixed = [m.group(1) for m in _PREFIXED_NUMBER.finditer(rest) if re.search(r"\d", m.group(1))]
    if prefixed:
        details.order_number = prefixed[-1]
        return details

    stripped = rest.strip(" .!?,;:\n\t")
    if awaiting == "retry" and not details.email and _POSTAL_SHAPE.match(stripped) and not stripped.isdigit():
        details.postal_code = stripped
        return details

    named = [m for m in _NAMED_ORDER.findall(rest) if not _POSTAL_SHAPE.match(m)]
    if named and awaiting != "factor":
        details.order_number = named[-1]
        return details

    if awaiting == "factor" and not details.email and not details.postal_code and _POSTAL_SHAPE.match(stripped):
        # We asked for the email or postal code: a bare code-shaped answer is the postal code.
        details.postal_code = stripped
        return details

    bare = _BARE_NUMBER.findall(rest)
    if awaiting != "order_number":
        # "I ordered in 2025" names a year, not an order; when we asked for the number, it is the number.
        bare = [b for b in bare if not (len(b) == 4 and 1990 <= int(b) <= 2039)]
    if len(bare) == 1 and awaiting != "factor":
        details.order_number = bare[0]
    return details


@dataclass
class Intent:
    greeting: bool = False
    thanks: bool = False
    accept: bool = False
    decline: bool = False
    human: bool = False
    not_received: bool = False
    cancel: bool = False
    ship_when: bool = False
    order_related: bool = False
    platform: str | None = None
    other_topic: bool = False
    goodbye: bool = False
    cancel_request: bool = False
    asks_why: bool = False
    flags: list[str] = field(default_factory=list)

    @property
    def small_talk_only(self) -> bool:
        return (self.greeting or self.thanks or self.goodbye) and not (
            self.order_related or self.human or self.platform
        )


_GREETINGS = ("hi", "hello", "hey", "hiya", "howdy", "greetings", "yo", "hola", "morning", "evening", "afternoon")
_THANKS = ("thanks", "thank", "thx", "ty", "cheers", "appreciate", "appreciated", "tysm", "thnx", "thanx")
_ACCEPT_WORDS = ("yes", "yeah", "yep", "yup", "sure", "ok", "okay", "please", "absolutely", "definitely", "y", "ya")
_ACCEPT_PHRASES = ("go ahead", "do it", "that would be great", "that'd be great", "please do", "sounds good", "why not")
_DECLINE_WORDS = ("no", "nope", "nah", "n")
_DECLINE_PHRASES = (
    "no thanks", "no thank you", "not now", "i'm good", "im good", "i am good", "that's ok", "thats ok",
    "don't", "dont", "do not", "not needed", "never mind", "nevermind", "i'll wait", "ill wait", "i will wait",
)  # fmt: skip
_HUMAN_WORDS = ("human", "person", "agent", "representative", "rep", "operator", "someone", "somebody", "manager")
_HUMAN_PHRASES = (
    "real person", "customer service", "customer support", "support team", "talk to", "speak to", "speak with",
    "talk with", "contact support", "live chat", "call me", "email me", "escalate",
)  # fmt: skip
_NEGATIONS = (
    "never", "not", "didn't", "didnt", "haven't", "havent", "hasn't", "hasnt", "no", "cant", "can't", "wasn't",
    "don't", "dont", "nothing",
)  # fmt: skip
_RECEIPT = (
    "received", "receive", "recieved", "got", "get", "arrived", "arrive", "came", "come", "showed", "turned",
    "here", "there", "porch", "door", "doorstep", "mailbox",
)  # fmt: skip
_MISSING = (
    "missing", "stolen", "lost", "nowhere", "wasn't there", "not there", "not here", "isn't here", "no package",
    "no parcel", "nothing here", "nothing on", "nothing at", "don't have it", "dont have it", "do not have it",
    "don't have my", "dont have my", "haven't got",
)  # fmt: skip
_CANCEL = ("cancel", "cancelled", "canceled", "cancellation", "refund", "refunded", "refunds", "money back")
_SHIP_WHEN = ("preorder", "pre-order", "backorder", "backordered", "dispatch", "dispatched", "ship", "ships")
_ORDER_WORDS = (
    "order", "orders", "package", "parcel", "shipment", "shipping", "delivery", "delivered", "deliver", "track",
    "tracking", "shipped", "ship", "arrive", "arrived", "status", "where", "wismo", "refund", "cancel", "cancelled",
    "canceled", "stuck", "late", "delayed", "eta", "received", "box", "item", "items", "purchase", "bought", "sent",
)  # fmt: skip

_OTHER_TOPICS = (
    "address", "return", "returns", "exchange", "size", "sizing", "discount", "coupon", "promo", "price", "stock",
    "restock", "warranty", "invoice", "password", "account", "subscription", "recommend", "product", "change",
    "modify", "wholesale", "job", "gift", "colour", "color", "policy", "unsubscribe",
)  # fmt: skip


def detect_intent(text: str) -> Intent:
    words = _words(text)
    lowered = " ".join(words)
    intent = Intent()
    intent.greeting = bool(words) and (words[0] in _GREETINGS or _has_phrase(text, ("good morning", "good evening")))
    intent.thanks = any(w in _THANKS for w in words) or _has_phrase(text, ("thank you",))
    intent.decline = (bool(words) and words[0] in _DECLINE_WORDS) or _has_phrase(text, _DECLINE_PHRASES)
    intent.accept = not intent.decline and (
        (bool(words) and words[0] in _ACCEPT_WORDS) or _has_phrase(text, _ACCEPT_PHRASES)
    )
    intent.human = _has_any(words, _HUMAN_WORDS) or _has_phrase(text, _HUMAN_PHRASES)
    negated = any(w in _NEGATIONS for w in words)
    intent.not_received = (
        (negated and _has_any(words, _RECEIPT)) or _has_phrase(text, _MISSING) or "where's it" in lowered
    )
    intent.not_received = intent.not_received and not _has_phrase(text, ("not shipped", "hasn't shipped", "not sent"))
    intent.cancel = _has_any(words, _CANCEL) or _has_phrase(text, ("what happened",))
    intent.ship_when = _has_any(words, _SHIP_WHEN) and _has_phrase(text, ("when", "how long", "pre order", "preorder"))
    intent.ship_when = intent.ship_when or _has_any(words, ("preorder", "backorder", "backordered"))
    intent.ship_when = intent.ship_when or "pre-order" in text.lower()
    intent.order_related = _has_any(words, _ORDER_WORDS) or intent.not_received or intent.cancel or intent.ship_when
    intent.other_topic = _has_any(words, _OTHER_TOPICS) and not (intent.not_received or intent.cancel)
    intent.goodbye = any(w in ("bye", "goodbye", "cya", "later") for w in words) or _has_phrase(
        text, ("see you", "that's all", "thats all", "that is all", "all good")
    )
    intent.cancel_request = any(w in ("cancel", "stop") for w in words)
    intent.asks_why = any(w in ("why", "reason", "reasons", "how come") for w in words)
    for platform in prompts.platforms():
        if re.search(rf"(?<![\w]){re.escape(platform)}(?![\w])", text, re.IGNORECASE):
            intent.platform = platform
            break
    return intent
