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
from agent.calendar_words import MONTH_PATTERN

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
_YEAR_CONTEXT = re.compile(rf"\b(?:in|since|from|of|year|back|early|late|{MONTH_PATTERN})\s*$", re.IGNORECASE)
# An order name with a store suffix, standing alone: "2001-A", "1001-b".
_SUFFIXED_ORDER = re.compile(r"(?<![\w@.-])#?\s*(\d{3,10}\s?-\s?[A-Za-z0-9]{1,3})(?![\w@-])")
# Postcodes that carry letters (Canada, UK, Netherlands) are recognisable even without the word "postcode".
_LETTERED_POSTAL = re.compile(
    r"(?<![\w@])("
    r"[A-Za-z]\d[A-Za-z][ \-]?\d[A-Za-z]\d"  # Canada
    r"|[A-Za-z]{1,2}\d[A-Za-z\d]?\s\d[A-Za-z]{2}"  # UK
    r"|\d{4}\s?[A-Z]{2}(?<!OK)"  # Netherlands, in capitals: "1234 ok" is not a postcode
    r")(?![\w@])"
)
_POSTAL_KEYWORD = re.compile(
    r"\b(?:zip|zipcode|postal|postcode|post code|postal code|zip code)\b\s*(?:code)?\s*(?:is|:|=)?\s*"
    r"([A-Za-z0-9][A-Za-z0-9\-]*(?:\s+[A-Za-z0-9][A-Za-z0-9\-]*)?)",
    re.IGNORECASE,
)
_POSTAL_SHAPE = re.compile(
    r"^(?:\d{4,6}(?:-\d{4})?"  # US ZIP(+4), most of Europe, Australia
    r"|[A-Za-z]\d[A-Za-z][ \-]?\d[A-Za-z]\d"  # Canada
    r"|[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}"  # UK
    r"|\d{4}\s?[A-Za-z]{2}"  # Netherlands
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
    text = text.replace("〒", " ")
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

    if not details.postal_code:
        lettered = _LETTERED_POSTAL.search(rest)
        if lettered and not _NAMED_ORDER.fullmatch(lettered.group(1)):
            details.postal_code = lettered.group(1)
            rest = rest.replace(lettered.group(0), " ")

    suffixed = _SUFFIXED_ORDER.findall(rest)
    if suffixed:
        details.order_number = re.sub(r"\s", "", suffixed[-1])
        return details

    prefixed = [m.group(1) for m in _PREFIXED_NUMBER.finditer(rest) if re.search(r"\d", m.group(1))]
    if prefixed:
        details.order_number = prefixed[-1]
        return details

    stripped = rest.strip(" .!?,;:\n\t")
    if awaiting == "order_number" and not stripped.isdigit() and _POSTAL_SHAPE.match(stripped):
        details.postal_code = stripped
        return details
    if awaiting == "retry" and not details.email and _POSTAL_SHAPE.match(stripped) and not stripped.isdigit():
        details.postal_code = stripped
        return details

    named = [m for m in _NAMED_ORDER.findall(rest) if not _POSTAL_SHAPE.match(m)]
    if named:
        details.order_number = named[-1]
        return details

    correcting = any(w in _CORRECTION for w in _words(rest))
    if (
        awaiting == "factor"
        and not correcting
        and not details.email
        and not details.postal_code
        and _POSTAL_SHAPE.match(stripped)
    ):
        # We asked for the email or postal code: a bare code-shaped answer is the postal code.
        details.postal_code = stripped
        return details

    # "I ordered in 2025" or "since March 2025" names a year, not an order.
    bare = [b for b in _BARE_NUMBER.findall(rest) if not _YEAR_CONTEXT.search(rest.split(b, 1)[0])]
    if len(bare) == 1 and (awaiting != "factor" or correcting):
        details.order_number = bare[0]
    return details


@dataclass
class Intent:
    greeting: bool = False
    thanks: bool = False
    accept: bool = False  # a plain yes to an offer ("yes please", "sure"), nothing else in the message
    acknowledge: bool = False  # "ok", "cool", "got it": heard, nothing asked
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
    lost_number: bool = False  # "I lost my order number"
    refund_request: bool = False  # "can I get a refund?"
    ordinal: int | None = None  # "the second one", "the last package" (-1)
    focus: str | None = None  # a follow-up about one thing: "carrier", "eta", "refund", "items"
    item_words: list[str] = field(default_factory=list)

    @property
    def small_talk_only(self) -> bool:
        return (self.greeting or self.thanks or self.goodbye) and not (
            self.order_related or self.human or self.platform
        )


_GREETINGS = ("hi", "hello", "hey", "hiya", "howdy", "greetings", "yo", "hola", "morning", "evening", "afternoon")
_THANKS = ("thanks", "thank", "thx", "ty", "cheers", "appreciate", "appreciated", "tysm", "thnx", "thanx")
_YES = ("yes", "yeah", "yep", "yup", "sure", "please", "pls", "plz", "absolutely", "definitely", "y", "ya", "yea")
_OKAY = ("ok", "okay", "k", "kk", "okk", "alright", "cool", "great", "fine", "perfect", "noted", "understood", "got")
# Words that may stand around a yes without adding a request of their own ("yes please, that would be great").
_FILLER = (
    "please", "that", "would", "be", "great", "thanks", "thank", "you", "go", "ahead", "do", "it", "sounds", "good",
    "why", "not", "thing", "of", "course", "lovely", "ok", "okay", "sure", "yes", "a", "the", "so", "much", "very",
    "them", "me", "connect", "pass", "on", "send", "that'd", "i'd", "like", "love", "want", "id", "this", "they",
    "can", "let", "know", "is", "fine", "cool", "alright", "great", "perfect", "got", "noted", "understood", "y",
    "yeah", "yep", "yup", "ya", "yea", "pls", "plz", "absolutely", "definitely", "tysm", "thx", "ty", "cheers", "k",
    # the offered action itself: "yes please look into it", "sure, ask them", "yes, connect me with someone"
    "look", "into", "check", "ask", "help", "contact", "reach", "out", "team", "support", "someone", "person",
    "human", "forward", "for", "with", "to", "and", "get", "in", "touch", "email", "escalate", "up", "follow",
)  # fmt: skip
_ACCEPT_PHRASES = ("go ahead", "do it", "that would be great", "that'd be great", "please do", "sounds good")
_DECLINE_WORDS = ("no", "nope", "nah", "n", "nevermind")
_DECLINE_FILLER = (
    "no", "nope", "nah", "n", "thanks", "thank", "you", "not", "now", "i'm", "im", "i", "am", "good", "that's",
    "thats", "ok", "okay", "fine", "it's", "its", "all", "right", "don't", "dont", "bother", "need", "needed",
    "never", "mind", "nevermind", "i'll", "ill", "will", "wait", "thx", "ty", "it", "is", "later", "maybe",
)  # fmt: skip
# "someone" alone is not a request ("someone stole it"); "talk to someone" is, through the phrases below.
_HUMAN_WORDS = ("human", "person", "agent", "representative", "rep", "operator", "manager")
_HUMAN_PHRASES = (
    "real person", "customer service", "customer support", "support team", "talk to", "speak to", "speak with",
    "talk with", "contact support", "live chat", "call me", "email me", "escalate", "check with the team",
    "ask the team", "ask your team", "your team", "the team",
)  # fmt: skip
_NO_HUMAN = ("no need for", "don't need a", "dont need a", "do not need a", "no human", "not a human", "without a")
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
    "don't have my", "dont have my", "haven't got", "stole", "stolen", "took it", "taken", "never came",
)  # fmt: skip
_LOST_NUMBER = (
    "lost my order number", "lost the order number", "lost my number", "lost the number", "lost my order #",
    "can't find my order number", "cant find my order number", "don't have my order number",
    "dont have my order number", "don't know my order number", "dont know my order number", "forgot my order number",
    "no order number", "don't have the order number", "dont have the order number", "without the order number",
)  # fmt: skip
_CANCEL = ("cancel", "cancelled", "canceled", "cancellation", "refund", "refunded", "refunds", "money back")
_SHIP_WHEN = ("preorder", "pre-order", "backorder", "backordered", "dispatch", "dispatched", "ship", "ships")
_ORDER_WORDS = (
    "order", "orders", "package", "parcel", "shipment", "shipping", "delivery", "delivered", "deliver", "track",
    "tracking", "shipped", "ship", "arrive", "arrived", "status", "where", "wismo", "refund", "cancel", "cancelled",
    "canceled", "stuck", "late", "delayed", "eta", "received", "box", "item", "items", "purchase", "bought", "sent",
    "stuff", "things", "carrier", "courier", "gift",
)  # fmt: skip
_OTHER_TOPICS = (
    "address", "return", "returns", "exchange", "size", "sizing", "discount", "coupon", "promo", "price", "stock",
    "restock", "warranty", "invoice", "password", "account", "subscription", "recommend", "product", "change",
    "modify", "wholesale", "job", "colour", "color", "policy", "unsubscribe", "mean", "means",
)  # fmt: skip
_CORRECTION = ("meant", "sorry", "wrong", "actually", "instead", "typo", "oops", "mistake")
_FOCUS = {
    # A return question may mention the refund; the return answer covers both.
    "return": ("return", "returned", "returns", "returning"),
    "refund": ("refund", "refunded", "refunds", "money", "back"),
    "carrier": (
        "carrier",
        "courier",
        "company",
        "tracking",
        "track",
        "trackin",
        "ups",
        "usps",
        "fedex",
        "dhl",
        "number",
    ),
    "eta": ("when", "arrive", "arrival", "eta", "deliver", "delivery", "long", "soon", "get", "expect", "expected"),
}
# Words too common to name an item of the order.
_STOP = frozenset(
    re.findall(
        r"\w+",
        "the a an my is it where when what which how was has have did does do of for to in on at and or with from "
        "this that your you me i about still yet any are be been being can could would should will just please one "
        "thanks other second first third last package parcel order item items box shipped ship arrive arrived "
        "delivered delivery tracking track number carrier courier",
    )
)


def _without_emails(text: str) -> str:
    # An address like sales.rep@example.com or otto@target.de says nothing about what the shopper wants.
    return EMAIL.sub(" ", text)


def _is_only(words: list[str], vocabulary: tuple[str, ...]) -> bool:
    return bool(words) and all(w in vocabulary for w in words)


def detect_intent(text: str) -> Intent:
    text = _without_emails(text)
    words = _words(text)
    lowered = " ".join(words)
    intent = Intent()
    intent.greeting = bool(words) and (words[0] in _GREETINGS or _has_phrase(text, ("good morning", "good evening")))
    intent.thanks = any(w in _THANKS for w in words) or _has_phrase(text, ("thank you",))
    intent.decline = _is_only(words, _DECLINE_FILLER) and (
        any(w in _DECLINE_WORDS for w in words) or _has_phrase(text, ("not now", "never mind", "don't bother"))
    )
    plain_yes = _is_only(words, _FILLER) and not intent.decline
    intent.accept = plain_yes and (any(w in _YES for w in words) or _has_phrase(text, _ACCEPT_PHRASES))
    intent.acknowledge = plain_yes and not intent.accept and any(w in _OKAY for w in words)
    intent.human = (any(w in _HUMAN_WORDS for w in words) or _has_phrase(text, _HUMAN_PHRASES)) and not _has_phrase(
        text, _NO_HUMAN
    )
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
    intent.asks_why = any(w in ("why", "reason", "reasons") for w in words) or _has_phrase(text, ("how come",))
    intent.lost_number = _has_phrase(text, _LOST_NUMBER)
    if intent.lost_number:
        intent.not_received = False
    intent.refund_request = (
        any(w in ("refund", "refunded") for w in words)
        and any(w in ("can", "want", "need", "like", "request", "get", "give", "please", "i'd", "id") for w in words)
        and not _has_phrase(text, ("how much", "did i get", "was refunded", "got back", "get back"))
    )
    ordinals = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": -1}
    intent.ordinal = next((ordinals[w] for w in words if w in ordinals), None)
    for name, keys in _FOCUS.items():
        if any(w in keys for w in words):
            intent.focus = name
            break
    if intent.focus == "return" and not any(w in ("policy", "policies", "how", "can", "want") for w in words):
        # "Did you get my return?" is about an order; "what's your return policy?" is not.
        intent.order_related, intent.other_topic = True, False
    intent.item_words = [w for w in words if len(w) > 2 and w not in _STOP and not w.isdigit()]
    for platform in prompts.platforms():
        found = re.search(rf"(?<![\w]){re.escape(platform)}(?![\w])", text, re.IGNORECASE)
        # "I ordered from you, not from Amazon" is about this store.
        if found and not re.search(r"\b(?:not|n't|instead of)\b[\w\s]{0,12}$", text[: found.start()], re.IGNORECASE):
            intent.platform = platform
            break
    return intent
