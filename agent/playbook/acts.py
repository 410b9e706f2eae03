"""What a shopper's message does (its dialogue acts), learned from a labelled corpus instead of keyword lists.

`read_acts(text)` gives an `ActReading`: the acts the message carries (most have one, some two: "hi, where is my
order?"), every act's probability, the acts the message names only under negation ("not Amazon", "please don't
escalate", "I don't want to cancel"), and the marketplace named outside a negation, if any. Order numbers, emails
and postal codes are not read here: exact extractors in `understand.py` take those.

The model: TF-IDF over word 1-2-grams and character 1-4-grams (`char_wb`: typos, "pls", "cancell", emoji) feeding
one-vs-rest logistic regression, so a message may carry several acts. Negation is a feature, not a rule: the word
view rewrites each word in a negation's scope as `neg_<word>` ("please don't neg_escalate neg_this"), so "escalate"
and "don't escalate" are different evidence and the corpus teaches what each means. The scope runs from the cue
("not", "don't", "no", "never", ...) to the next punctuation or clause word ("but", "just", ...).

The word view also generalises past the stores the corpus was written for: what varies by store is one token
(order names with any prefix, emails, postcodes, tracking numbers, dates, money, carriers from the general list in
`prompts/carriers.txt`: "where's my xcarrierx parcel, order xorderx"), and a word of a family in
`prompts/concepts.txt` brings its family's token ("dented xdamagex"), so a word no training message used still
counts. A word one slip of the keyboard from a word the training lines use ("msising", "Wayyfair") brings that word
too (`Speller`). An act beside the top one is read when its probability reaches its threshold, and only beside acts the
corpus labels together with it. Every one of these choices, and the thresholds, was made by leave-one-store-out
cross-validation over the training stores (`python -m evals.acts_report --cv`), never on held-out messages.

Trained at first use, not shipped as an artifact: the corpus (`evals/corpus/shoppers.jsonl`, package data) is
small, fitting takes a few seconds, and the result is cached for the process (`shipped_model`). A pickle would be
tied to one scikit-learn version and be a binary nobody can review; training from the text means the corpus is the
single source of truth, and fixed seeds (liblinear with `random_state=0`) make every process read the same way.

Nothing held out (`split: heldout`, and the whole held-out store) is trained on, and no rule here was written
against it. `python -m evals.acts_report` prints per-act precision, recall and F1 on both held-out sets.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict

from agent import prompts
from agent.calendar_words import MONTHS, WEEKDAYS

Act = Literal[
    "where_is_order",  # where is it, when will it come, why is it late
    "give_details",  # a message that is (almost) only an order number, email or postal code
    "accept",  # yes to an offer, in any words
    "decline",  # no to an offer
    "acknowledge",  # "ok", "got it": heard, nothing asked
    "ask_human",  # a person, the team, a manager
    "no_human",  # "please don't escalate this"
    "other_platform",  # an order placed with a marketplace this store cannot see
    "cancel_request",
    "change_address",
    "refund_request",  # a refund, or money not back yet
    "return_request",
    "replacement",
    "missing_tracking",  # no tracking number, or one that does not work
    "damaged_item",
    "wrong_item",
    "missing_item",  # the parcel came without something
    "delivered_not_received",  # marked delivered, not here
    "ship_when",  # not shipped yet: pre-order, backorder, when will it go out
    "package_followup",  # about one part of an order already shown: the carrier, the second parcel, the teapot
    "status_meaning",  # "what does in transit mean?"
    "lost_number",  # no order number
    "no_email_access",  # cannot use the email the order was placed with
    "thanks",
    "greeting",
    "goodbye",
    "injection",  # text that tries to give Lumen orders or change its rules
    "out_of_scope",  # sizing, discounts, products, anything not about an order
    "policy_question",  # the shop's policies, not a request: returns window, where and how fast it ships, costs
]
ACTS: tuple[Act, ...] = get_args(Act)

# An act is read when its probability reaches its threshold (`ReaderSettings.thresholds`, else this); a message
# always gets at least its most likely act.
THRESHOLD = 0.5
MAX_ACTS = 3


class ReaderSettings(BaseModel):
    """How the reader is built. The shipped values were chosen by leave-one-store-out cross-validation over the
    training stores (`python -m evals.acts_report --cv`), never on anything held out."""

    model_config = ConfigDict(frozen=True)

    classifier: Literal["logistic", "svm", "ensemble"] = "logistic"
    C: float = 30.0  # logistic regression's inverse regularisation; the SVM uses `svm_C`
    svm_C: float = 1.0
    class_weight: Literal["balanced"] | None = None
    word_ngrams: tuple[int, int] = (1, 2)
    word_min_df: int = 1  # a word n-gram counts only when this many training messages use it
    char_ngrams: tuple[int, int] = (2, 5)
    placeholders: bool = True  # order numbers, emails, postcodes, money, dates, carriers -> one token each
    char_placeholders: bool = False  # the character view sees the placeholders too
    concepts: bool = False  # word families from prompts/concepts.txt add one token each ("dented xdamagex")
    exclusive: bool = False  # two acts never labelled together in training are never read together
    spelling: bool = False  # a word the training lines never use, one typo from a word they do, is read as that word
    contrast: bool = False  # the word view marks what a preference turns down: "rather a new one than [a refund]"
    thresholds: dict[str, float] = {}  # per act; THRESHOLD for the rest
    # A message making two requests ("cancel it, and where's the other one?") reads its second one faintly: in every
    # other act's classifier the first request's words count against it. With `two_bar`, the reader also learns
    # whether a message carries more than one act (one more column over the same features), and when that reaches
    # `two_bar` an act beside the top one is read from `two_threshold` instead of its own threshold.
    two_bar: float | None = None
    two_threshold: float = 0.1


# Curly and back-ticked apostrophes typed as the straight one every reading matches; shared by the readers here.
APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "`": "'"})
_CUE = re.compile(
    r"\b(?:not|no|never|nothing|nobody|without|instead of|rather than|do not|does not|did not|"
    r"(?:do|does|did|is|was|were|are|have|has|had|wo|ca|could|would|should|need)n'?t|cannot|can't|cant|dont|wont)\b",
    re.IGNORECASE,
)
_SCOPE_END = re.compile(
    r"[,.;:!?()\n]|\b(?:but|just|only|so|and|because|since|though|although|instead|then|i|i'm|i'll|please|pls)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[\w']+")
_SCOPE_WORDS = 6
# A preference names what the shopper turns down after "than" / "over" ("I'd rather have a new one than a refund",
# "I'd prefer a new one over a refund"): only when "rather" or "prefer" came first in the same clause, so "more than
# two weeks" and "over a week" stay as written.
_CONTRAST = re.compile(r"\b(?:rather|prefer|preferably|sooner)\b[^,.;:!?()\n]*?\b(?:than|over)\b", re.IGNORECASE)


class ActReading(BaseModel):
    """What one message does."""

    model_config = ConfigDict(frozen=True)

    text: str
    acts: tuple[Act, ...]  # most likely first; never empty
    probabilities: dict[Act, float]
    negated: tuple[Act, ...] = ()  # named only under negation: "not Amazon" -> other_platform
    platform: str | None = None  # a marketplace named outside a negation, when other_platform is read

    @property
    def top(self) -> Act:
        return self.acts[0]

    def has(self, *acts: Act) -> bool:
        return any(a in self.acts for a in acts)


# Chosen by leave-one-store-out cross-validation over the training stores (`python -m evals.acts_report --cv`),
# exact match on the out-of-fold readings: placeholders +0.8 points, C=100 and character 1-4-grams +0.7, word
# families (`concepts`) +1.2, reading only pairs of acts the corpus labels together (`exclusive`) +1.0. Class
# weights, a calibrated linear SVM, an LR+SVM ensemble (five times slower to train), word 1-3-grams and a minimum
# document frequency were no better. The thresholds are `tune_thresholds` on the out-of-fold readings; they only
# decide second and third acts (the top act is always kept). Later, on the corpus with batches 17-23: reading slipped
# words as the words they slip from (`spelling`) +0.3; C=300 and C=40 no better than 100; a multinomial (softmax)
# model choosing the top act, alone or blended with these probabilities, 0.1-0.7 worse; thresholds re-tuned +0.1.
# With batches 29-31 and the audited labels (the 5,445 training lines there before them: 93.6% -> 94.3%):
# thresholds re-tuned +0.1; C=200 +0.1 but it tipped a marketplace named in a question ("is this <shop>? need to
# track my order") to where is my order; class weights, character placeholders and C=50 were worse. A word family
# of status words ("in transit", "label created") gained 0.1 but read "what does delayed mean?" (a status it did
# not list) as where is my order, so it was left out.
# With batches 34-36 (`python -m evals.corpus.cv`, leave-one-store-out and 5-fold by source line, training lines
# only): word families for greetings, goodbyes and thanks in slang and other languages +0.4/+0.4, damage described
# without a damage word +0.3/+0.3, click and collect and size swaps +0.2/0.0, "unsent" states (awaiting dispatch,
# pre-order) 0.0/+0.1; thresholds re-tuned gained +0.06 in one CV and lost 0.05 in the other, so they stay; C=50 no
# better; a family of product-question words gained overall but lost on the split files' lines, so it was left out.
# Round 8 (branch acts8, not shipped): with training-only batches 38-40, C=200 plus `contrast` (what a preference turns
# down) gained in both CVs (leave-one-store-out 93.82% -> 93.85%, 5-fold 94.88% -> 95.04%), but the new reader
# changed three playbook tests' readings, so neither the batches nor these settings ship yet; `contrast` stays off.
# Round 11: of the training lines read wrong with the top act right, three in four carry two acts and the reader gave
# the second one (whose classifier the first request's words pull down) a probability of 0.0-0.4. Learning whether a
# message carries two acts (`two_bar`) and then reading the second from 0.1: leave-one-store-out 93.22% -> 93.4%,
# 5-fold 94.90% -> 95.1%, gaining in both on the split files' lines too (bars 0.2-0.3 and 0.05-0.1 gained alike).
# Raising the thresholds of messages that read as one request, a second act found by reading each clause alone (it
# costs a reading per clause), a weight on the character view, and training without the typo variants gained
# nothing in both; no training line carries three acts, but a cap of two changed no reading.
SHIPPED = ReaderSettings(
    C=100.0,
    char_ngrams=(1, 4),
    concepts=True,
    exclusive=True,
    spelling=True,
    contrast=False,
    two_bar=0.2,
    two_threshold=0.1,
    thresholds={
        "where_is_order": 0.55,
        "accept": 0.4,
        "ask_human": 0.2,
        "refund_request": 0.15,
        "return_request": 0.15,
        "replacement": 0.15,
        "damaged_item": 0.2,
        "wrong_item": 0.3,
        "missing_item": 0.15,
        "goodbye": 0.15,
    },
)


# --- negation scope ----------------------------------------------------------------------------------------------
def negated_spans(text: str) -> list[tuple[int, int]]:
    """Character spans under a negation: "please don't [escalate this]", "[Amazon]" in "not Amazon"."""
    return list(_negated_spans(text))


# A turn asks a score of times of the same few texts (every reader of the playbook looks for negations itself).
@lru_cache(maxsize=4096)
def _negated_spans(text: str) -> tuple[tuple[int, int], ...]:
    text = text.translate(APOSTROPHES)
    spans: list[tuple[int, int]] = []
    for cue in _CUE.finditer(text):
        end = _SCOPE_END.search(text, cue.end())
        limit = end.start() if end else len(text)
        words = list(_WORD.finditer(text, cue.end(), limit))[:_SCOPE_WORDS]
        if words:
            spans.append((words[0].start(), words[-1].end()))
    return tuple(spans)


_RUN = re.compile(r"\w+")


class Names:
    """A list of names (carriers, marketplaces) found as whole words in a text, case aside.

    Python's regex engine tries every name at every position of the text (20-35 us for a 60-character message, and a
    turn reads a handful of texts several ways). A name can only match where its first word stands as a whole word
    of the text (what precedes and follows a word in the name does in the text too), so a text none of whose words
    begins a name is passed over without running the pattern: the same matches, most texts skipped.
    """

    def __init__(self, names: Iterable[str]) -> None:
        ordered = sorted(names, key=len, reverse=True)
        self.pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in ordered) + r")(?!\w)", re.IGNORECASE)
        firsts = [_RUN.findall(n.casefold())[:1] for n in ordered]
        # A name without a word character could match anywhere: then every text is searched.
        self._firsts: frozenset[str] | None = None if [] in firsts else frozenset(f[0] for f in firsts)

    def _may_match(self, text: str) -> bool:
        return self._firsts is None or not self._firsts.isdisjoint(_RUN.findall(text.casefold()))

    def sub(self, replacement: str | Callable[[re.Match[str]], str], text: str) -> str:
        return self.pattern.sub(replacement, text) if self._may_match(text) else text

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        return self.pattern.finditer(text) if self._may_match(text) else iter(())


@lru_cache(maxsize=1)
def _platform_names() -> Names:
    return Names(prompts.platforms())


def platform_named(said: str) -> str:
    """The marketplace of `prompts/platforms.txt` that `said`, a match of a case-blind pattern of the names, is:
    compared as that pattern compared it, so a letter `re` folds to another ("Etſy", "vİnted") finds its name where
    `str.lower` would find none."""
    return next(n for n in prompts.platforms() if re.fullmatch(re.escape(n), said, re.IGNORECASE))


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NAME_LIKE = re.compile(r"(?<![\w'])[A-Za-z]{5,}(?![\w']| xplatformx)")
_MIN_NAME = 6  # shorter names are one slip from ordinary words ("catch", "match")


def one_slip(word: str) -> set[str]:
    """Every word one edit from `word`: a letter dropped, swapped with its neighbour, mistyped or added."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    edits = {a + b[1:] for a, b in splits if b}
    edits |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    edits |= {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
    return edits | {a + c + b for a, b in splits for c in _LETTERS}


@lru_cache(maxsize=4096)
def misspelled_platform(word: str) -> str | None:
    """The marketplace a word is one slip from ("Wayyfair", "Lzada"), for names of one word long enough not to be
    one slip from an ordinary word."""
    names = _long_platform_names()
    lowered = word.lower()
    if lowered in names:
        return None  # spelled right: the exact match has it
    # The first of `sorted(one_slip(lowered))` that is a name, found by testing the few names against the word
    # instead of making the word's hundreds of slips (most of a new word's reading).
    slipped = [name for name in names if one_slip_apart(lowered, name)]
    return names[min(slipped)] if slipped else None


@lru_cache(maxsize=1)
def _long_platform_names() -> dict[str, str]:
    return {n.lower(): n for n in prompts.platforms() if n.isalpha() and len(n) >= _MIN_NAME}


def one_slip_apart(word: str, other: str) -> bool:
    """Whether `other` is in `one_slip(word)`, for another word: `word` with a letter dropped, two neighbours
    swapped, a letter mistyped as one of `_LETTERS`, or one of them added."""
    if len(other) == len(word) - 1:
        return any(word[:i] + word[i + 1 :] == other for i in range(len(word)))
    if len(other) == len(word) + 1:
        return any(other[i] in _LETTERS and other[:i] + other[i + 1 :] == word for i in range(len(other)))
    if len(other) != len(word) or other == word:
        return False
    differ = [i for i, (a, b) in enumerate(zip(word, other, strict=True)) if a != b]
    if len(differ) == 1:
        return other[differ[0]] in _LETTERS
    i = differ[0]
    return differ == [i, i + 1] and word[i] == other[i + 1] and word[i + 1] == other[i]


def contrast_spans(text: str) -> list[tuple[int, int]]:
    """Character spans a preference turns down: "I'd rather have a new one than [a refund]"."""
    spans: list[tuple[int, int]] = []
    for cue in _CONTRAST.finditer(text):
        end = _SCOPE_END.search(text, cue.end())
        words = list(_WORD.finditer(text, cue.end(), end.start() if end else len(text)))[:_SCOPE_WORDS]
        if words:
            spans.append((words[0].start(), words[-1].end()))
    return spans


def _slipped_platform(word: re.Match[str]) -> str:
    return f"{word.group(0)} xplatformx" if misspelled_platform(word.group(0)) else word.group(0)


def mark_negation(text: str, contrast: bool = False) -> str:
    """The word view: lowercase, each word in a negation's scope written `neg_<word>`.

    A marketplace's name is followed by the word `xplatformx`, so "my Rakuten order" and "my Amazon order" share
    evidence; "I wish I knew" shares it too, and the corpus's brand-as-word messages teach the difference.
    """
    text = _platform_names().sub(lambda m: f"{m.group(0)} xplatformx", text.translate(APOSTROPHES))
    # Most texts name no slipped marketplace, and then the substitution gives every word back as it is.
    if any(misspelled_platform(word) for word in _NAME_LIKE.findall(text)):
        text = _NAME_LIKE.sub(_slipped_platform, text)
    spans = negated_spans(text) + (contrast_spans(text) if contrast else [])
    if not spans:  # most messages: `marked` would give every word back as it is, one call a word
        return text.lower()

    def marked(word: re.Match[str]) -> str:
        inside = any(start <= word.start() < end for start, end in spans)
        return f"neg_{word.group(0)}" if inside else word.group(0)

    return _WORD.sub(marked, text).lower()


# --- placeholders: what varies from store to store is one token ---------------------------------------------------
# "Where's my DPD parcel, order AB-7310?" and "where's my UPS box, #5521?" are the same request; written as the same
# words ("where's my xcarrierx parcel, order xorderx?") they are the same evidence, so what one store's shoppers
# teach carries to a store whose carriers, order names, currency and postcodes the corpus never saw.
_MONTHS = "|".join(sorted(MONTHS, key=len, reverse=True))
_DAYS = "|".join(WEEKDAYS)
_WEEKDAY = rf"\b(?:{_DAYS})s?\b"  # the one way of writing a date without a digit
_CURRENCY_SIGNS = "$£€¥"
_MONEY_SIGNED = rf"(?:[A-Z]{{0,3}}[{_CURRENCY_SIGNS}]\s?\d[\d,]*(?:\.\d+)?)"
_MONEY_WORDED = r"\b\d[\d,]*(?:\.\d+)?\s?(?:dollars?|bucks|quid|pounds?|euros?|yen|aud|cad|usd|gbp|eur|jpy|nzd)\b"
# A date's ways of being written, one branch each of the date pass (see `_BRANCHES_NEED`).
_DATE_BRANCHES = (
    rf"\b(?:\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?(?:{_MONTHS})\.?|(?:{_MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?)"
    r"(?:,?\s+\d{4})?\b",
    r"\b\d{1,4}[/.\-]\d{1,2}(?:[/.\-]\d{2,4})?\b",
    r"\b\d{1,2}(?:st|nd|rd|th)\b",
    _WEEKDAY,
)
_PLACEHOLDERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("xemailx", re.compile(r"[\w.%+\-']+@[\w.\-]+\.[A-Za-z]{2,}")),
    ("xlinkx", re.compile(r"\bhttps?://\S+|\bwww\.\S+", re.IGNORECASE)),
    ("xmoneyx", re.compile(rf"{_MONEY_SIGNED}|{_MONEY_WORDED}", re.IGNORECASE)),
    # A tracking number: a long run of digits and capitals (a UPS "1Z..." code, a postal "LX...GB" code, 20+ digits).
    ("xtrackingx", re.compile(r"\b(?=[A-Z0-9]*\d{8})[A-Z0-9]{10,34}\b", re.IGNORECASE)),
    ("xdatex", re.compile("|".join(_DATE_BRANCHES), re.IGNORECASE)),
    (
        "xpostcodex",
        re.compile(
            r"\b(?:[A-Z]\d[A-Z][ \-]?\d[A-Z]\d|[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2})\b",  # Canada, UK (any case)
            re.IGNORECASE,
        ),
    ),
    # An order name or number: "#5521", "AB-7310", "XY0042", "5521", "3001-A".
    ("xorderx", re.compile(r"#\s*[\w\-]*\d[\w\-]*|\b[A-Za-z]{0,4}-?\d{3,12}(?:-[A-Za-z0-9]{1,3})?\b")),
    ("xnumx", re.compile(r"\b\d+\b")),
)


@lru_cache(maxsize=1)
def _carrier_names() -> Names:
    lines = (line.strip() for line in prompts.text("carriers.txt").splitlines())
    return Names(n for n in lines if n and not n.startswith("#"))


def with_placeholders(text: str) -> str:
    """The message with what varies by store written as one token each: "order #AB-7310" -> "order xorderx"."""
    text = _carrier_names().sub(" xcarrierx ", text.translate(APOSTROPHES))
    for token, pattern in _placeholder_passes(_held(text)):
        text = pattern.sub(f" {token} ", text)
    return _BLANKS.sub(" ", text).strip()


_DIGIT_RUN = re.compile(r"\d+")
_BLANKS = re.compile(r"[ \t]+")
# What a match of some branch holds, each read with its branch's case folding: a digit, a separator and a digit
# ("12/03"); a digit and an ordinal's ending ("5th"); a letter before a digit and a digit before a letter (a postcode).
_DIGIT_SEP_DIGIT = re.compile(r"\d[/.\-]\d")
_ORDINAL_END = re.compile(r"\d(?:st|nd|rd|th)", re.IGNORECASE)
_LETTER_DIGIT = re.compile(r"[A-Z]\d", re.IGNORECASE)
_DIGIT_LETTER = re.compile(r"\d[A-Z]", re.IGNORECASE)
# Every month's name and abbreviation begins with one of these; the characters outside ASCII that a case-blind
# pattern reads as ASCII letters, as those letters ("ſep" is "sep" to the date pattern).
_MONTH_STEMS = tuple(sorted({month[:3] for month in MONTHS}))
_ASCII_FOLDS = str.maketrans({"İ": "i", "ı": "i", "ſ": "s", "\u212a": "k"})

# Each pass's branches (its pattern is them joined by "|"), each with what a text must hold for it to match anywhere.
_BRANCHES_NEED: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {
    "xemailx": ((_PLACEHOLDERS[0][1].pattern, frozenset({"@"})),),
    "xlinkx": ((r"\bhttps?://\S+", frozenset({"://"})), (r"\bwww\.\S+", frozenset({"www."}))),
    "xmoneyx": ((_MONEY_SIGNED, frozenset({"sign", "digit"})), (_MONEY_WORDED, frozenset({"digit"}))),
    "xtrackingx": ((_PLACEHOLDERS[3][1].pattern, frozenset({"8 digits"})),),
    "xdatex": tuple(
        zip(_DATE_BRANCHES, map(frozenset, ({"digit", "month"}, {"digit/digit"}, {"5th"}, {"day"})), strict=True)
    ),
    "xpostcodex": ((_PLACEHOLDERS[5][1].pattern, frozenset({"A1", "1A"})),),
    "xorderx": (
        (r"#\s*[\w\-]*\d[\w\-]*", frozenset({"#", "digit"})),
        (r"\b[A-Za-z]{0,4}-?\d{3,12}(?:-[A-Za-z0-9]{1,3})?\b", frozenset({"3 digits"})),
    ),
    "xnumx": ((_PLACEHOLDERS[7][1].pattern, frozenset({"digit"})),),
}


def _held(text: str) -> frozenset[str]:
    """What of `_BRANCHES_NEED` the text holds. No pass writes any of it (each writes a token of letters between
    spaces: no digit, "@", sign, "#", "://", "www.", month or "day", and no two characters made neighbours), so what
    the text lacks now it lacks at every pass, and a run of digits is never longer later."""
    held = {mark for mark in ("@", "://", "#") if mark in text}
    lower = text.lower()
    if "www." in lower:  # ("w" has no other case than "W")
        held.add("www.")
    if "day" in lower:  # every weekday's name ends so ("d", "a" and "y" have no case but their own either)
        held.add("day")
    longest = max(map(len, _DIGIT_RUN.findall(text)), default=0)
    if not longest:
        return frozenset(held)
    held.update(("digit", *(["3 digits"] if longest >= 3 else []), *(["8 digits"] if longest >= 8 else [])))
    if any(sign in text for sign in _CURRENCY_SIGNS):
        held.add("sign")
    folded = (text if text.isascii() else text.translate(_ASCII_FOLDS)).lower()
    if any(stem in folded for stem in _MONTH_STEMS):
        held.add("month")
    for mark, pattern in (("digit/digit", _DIGIT_SEP_DIGIT), ("5th", _ORDINAL_END), ("A1", _LETTER_DIGIT)):
        if pattern.search(text):
            held.add(mark)
    if "A1" in held and _DIGIT_LETTER.search(text):
        held.add("1A")
    return frozenset(held)


@lru_cache(maxsize=256)
def _placeholder_passes(held: frozenset[str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """`_PLACEHOLDERS` for a text that holds `held` (`_held`): a pattern none of whose branches can match such a
    text is left out (an email needs its "@", a tracking number eight digits in a row, a postcode a letter before a
    digit and a digit before a letter), and one only some of whose branches can is replaced by those branches (a
    date without a digit is a weekday's name; an order name without a "#" is a run of three digits or more), which
    match where the whole pattern does, as the other branches fail at every position. Python's regex engine tries
    every branch at every position, so this is most of a short message's placeholder passes."""
    passes = []
    for token, pattern in _PLACEHOLDERS:
        branches = [branch for branch, needs in _BRANCHES_NEED[token] if needs <= held]
        if len(branches) == len(_BRANCHES_NEED[token]):
            passes.append((token, pattern))
        elif branches:
            passes.append((token, re.compile("|".join(branches), pattern.flags)))
    return tuple(passes)


@lru_cache(maxsize=1)
def _family_phrases() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each family of `prompts/concepts.txt`: its name and its phrases, longest first."""
    families = []
    for line in prompts.text("concepts.txt").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, words = line.partition(":")
        phrases = sorted({w.strip() for w in words.split(",") if w.strip()}, key=len, reverse=True)
        families.append((name.strip(), tuple(phrases)))
    return tuple(families)


@lru_cache(maxsize=1)
def _concepts() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    """Each family: its token, its pattern, and the first word of each of its phrases (see `with_concepts`)."""
    families = []
    for name, phrases in _family_phrases():
        pattern = r"(?<![\w'])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in phrases) + r")(?![\w'])"
        firsts = frozenset(_WORD.findall(p.lower())[0] for p in phrases if _WORD.findall(p.lower()))
        families.append((f"x{name}x", re.compile(pattern, re.IGNORECASE), firsts))
    return tuple(families)


@lru_cache(maxsize=1)
def _word_led_families() -> frozenset[int]:
    """The families (places in `_concepts()`) whose every phrase begins with a word character and holds no character
    that a case-blind pattern reads as an ASCII letter ("ſ", "ı", "İ", the Kelvin sign): on an ASCII text, one of
    their matches begins only where a word of the text begins, and that word (in lower case) is its phrase's first."""
    return frozenset(
        number
        for number, (_, phrases) in enumerate(_family_phrases())
        if all(re.match(r"[\w']", p) and not any(c in p for c in "ſıİ\u212a") for p in phrases)
    )


def with_concepts(text: str) -> str:
    """Each word of a family in `prompts/concepts.txt` followed by its family's token: "dented" -> "dented xdamagex",
    so a word the corpus never used still brings its family's evidence.

    A phrase can only match where its first word stands as a whole word, so a family none of whose first words is a
    word of the message is skipped without running its pattern (most of the cost of this step): same result. The
    families a message's words begin are looked up by word (`_families_by_first_word`), and run in file order."""
    families, by_word = _concepts(), _families_by_first_word()
    found = {number for word in set(_WORD.findall(text.lower())) for number in by_word.get(word, ())}
    for number in sorted(found):
        token, pattern, firsts = families[number]
        if text.isascii() and number in _word_led_families():
            text = _family_at_words(text, token, pattern, firsts)
        else:
            text = pattern.sub(lambda m, t=token: f"{m.group(0)} {t}", text)  # type: ignore[misc]
    return text


def _family_at_words(text: str, token: str, pattern: re.Pattern[str], firsts: frozenset[str]) -> str:
    """`pattern.sub(lambda m: f"{m.group(0)} {token}", text)` for an ASCII text and a word-led family, the pattern
    tried only where a word that begins one of its phrases begins: the pattern's look-behind (no word character
    before) puts a match's start at a word's start, and the word there is the phrase's first. `sub` tries each
    place left to right and goes on after a match's end; so does this, and no other place can match."""
    pieces: list[str] = []
    done = 0
    for word in _WORD.finditer(text):
        if word.start() < done or word.group(0).lower() not in firsts:
            continue
        match = pattern.match(text, word.start())
        if match is not None:
            pieces += (text[done : match.end()], " ", token)
            done = match.end()
    return "".join([*pieces, text[done:]]) if pieces else text


@lru_cache(maxsize=1)
def _families_by_first_word() -> dict[str, tuple[int, ...]]:
    """Each first word of a family's phrases -> the families (places in `_concepts()`) with a phrase it begins."""
    index: dict[str, list[int]] = {}
    for number, (_, _, firsts) in enumerate(_concepts()):
        for word in firsts:
            index.setdefault(word, []).append(number)
    return {word: tuple(numbers) for word, numbers in index.items()}


# --- spelling: one slip of the keyboard from a word the corpus knows ----------------------------------------------
_SPELLED = re.compile(r"(?<![\w@.'/#-])[A-Za-z]{4,}(?![\w@'/-])")
_MIN_SEEN = 2  # a word is known when the training lines use it this often (a typo variant's slip is used once)
_RARE = 3  # a known word used at most this often is still read as a far more used word one edit away
_OFTENER = 20
_FIXES_KEPT = 8192


class Speller:
    """Reads "pllease", "msising", "Wayyfair" as "please", "missing", "wayfair": a word the training lines never use
    (or use once) that is one edit (a letter dropped, doubled, swapped with its neighbour or mistyped) from a word
    they use at least twice is read as that word, the most used one on a tie. Shoppers slip like this, and a slipped
    word otherwise loses the word's evidence in the word view (the character view keeps the letters as typed)."""

    def __init__(self, counts: dict[str, int]) -> None:
        self._known = {w: n for w, n in counts.items() if n >= _MIN_SEEN}
        self._fixes: dict[str, str] = {}  # a plain dict, not lru_cache: the fitted model stays picklable

    def fixed(self, word: str) -> str:
        if word not in self._fixes:
            if len(self._fixes) >= _FIXES_KEPT:
                self._fixes.clear()
            self._fixes[word] = self._fix(word)
        return self._fixes[word]

    @classmethod
    def learn(cls, texts: Iterable[str]) -> Speller:
        counts: dict[str, int] = {}
        for text in texts:
            for word in _SPELLED.findall(text.translate(APOSTROPHES)):
                counts[word.lower()] = counts.get(word.lower(), 0) + 1
        return cls(counts)

    def _fix(self, word: str) -> str:
        seen = self._known.get(word, 0)
        if seen > _RARE or (word[0] == word[-1] == "x"):  # a placeholder ("xorderx") is not a word
            return word
        found = [(self._known[e], e) for e in one_slip(word) if e in self._known and len(e) >= 4]
        best = max(found, default=(0, word))
        # A word used once or twice beside one used far more often is that word slipped ("pllease" twice, in
        # variants of one line, beside "please" hundreds of times).
        return best[1] if best[0] > seen * _OFTENER else word

    def __call__(self, text: str) -> str:
        # Most texts have no slipped word, and then `_both` gives every word back as it is (a call a word).
        if all(self.fixed(word) == word for word in map(str.lower, _SPELLED.findall(text))):
            return text
        return _SPELLED.sub(self._both, text)

    def _both(self, m: re.Match[str]) -> str:
        fixed = self.fixed(m.group(0).lower())
        return m.group(0) if fixed == m.group(0).lower() else f"{m.group(0)} {fixed}"


def word_view(
    text: str,
    placeholders: bool = True,
    concepts: bool = False,
    speller: Speller | None = None,
    contrast: bool = False,
) -> str:
    text = with_placeholders(text) if placeholders else text.translate(APOSTROPHES)
    return after_placeholders(text, concepts, speller, contrast)


def after_placeholders(
    text: str, concepts: bool = False, speller: Speller | None = None, contrast: bool = False
) -> str:
    """The word view of a text whose placeholders are written already (`with_placeholders`)."""
    if speller is not None:
        text = speller(text)
    return mark_negation(with_concepts(text) if concepts else text, contrast)


def char_view(text: str, placeholders: bool = False, contrast: bool = False) -> str:
    return lower(with_placeholders(text)) if placeholders else mark_negation(text, contrast)


def lower(text: str) -> str:
    return text.translate(APOSTROPHES).lower()


# --- the model ---------------------------------------------------------------------------------------------------
class ActModel:
    """A fitted reader. `ActModel.train(messages)`; `model.read(text)`."""

    def __init__(self, pipeline: Any, settings: ReaderSettings) -> None:
        self._pipeline = pipeline
        self.settings = settings
        self.trained_on = 0
        self.together: frozenset[frozenset[str]] | None = None  # pairs of acts labelled together in training
        self._stacked: tuple[Any, Any, Any] | Literal[False] | None = None  # see `_linear`

    @classmethod
    def train(cls, messages: Iterable[tuple[str, Sequence[str]]], settings: ReaderSettings | None = None) -> ActModel:
        import numpy as np
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import MultiLabelBinarizer

        settings = settings or SHIPPED
        pairs = list(messages)
        speller = Speller.learn(text for text, _ in pairs) if settings.spelling else None
        pipeline = Pipeline([("features", _features(settings, speller)), ("classify", _classifier(settings))])
        labels = MultiLabelBinarizer(classes=list(ACTS)).fit_transform([list(acts) for _, acts in pairs])
        if settings.two_bar is not None:  # the last column: more than one act
            labels = np.column_stack([labels, [len(set(acts)) > 1 for _, acts in pairs]])
        pipeline.fit([text for text, _ in pairs], labels)
        model = cls(pipeline, settings)
        model.trained_on = len(pairs)
        if settings.exclusive:
            model.together = labelled_together(acts for _, acts in pairs)
        return model

    def probabilities(self, texts: Sequence[str]) -> list[dict[Act, float]]:
        return [_of_acts(row) for row in self._rows(texts)]

    def scores(self, texts: Sequence[str]) -> list[tuple[dict[Act, float], float | None]]:
        """Every act's probability, and the threshold acts beside the top one are read from (None: their own)."""
        return [(_of_acts(row), self._second_threshold(row)) for row in self._rows(texts)]

    def _rows(self, texts: Sequence[str]) -> Any:
        """One row per text: every act's probability, then (with `two_bar`) that of carrying more than one act."""
        linear = self._linear()
        if linear is None:
            return self._pipeline.predict_proba(list(texts))
        from scipy.special import expit

        features, weights, bias = linear
        return expit(_scores(features, weights, list(texts)) + bias)

    def _second_threshold(self, row: Any) -> float | None:
        bar = self.settings.two_bar
        return self.settings.two_threshold if bar is not None and row[len(ACTS)] >= bar else None

    def _linear(self) -> tuple[Any, Any, Any] | None:
        """One-vs-rest logistic regression is one linear map: the features, then every act's weights stacked into
        one matrix. scikit-learn asks its 28 estimators one at a time, most of a reading's cost (5.5 ms a message
        here); one sparse product gives the same probabilities in 1.6 ms. None for the other classifiers."""
        if self._stacked is None:
            self._stacked = _stack_logistic(self._pipeline) or False
        return self._stacked or None

    def read(self, text: str) -> ActReading:
        return self.read_many([text])[0]

    def read_many(self, texts: Sequence[str]) -> list[ActReading]:
        texts = list(texts)
        # Every negated phrase of every message, read in one batch: what would it say without its negation?
        phrases = [[text.translate(APOSTROPHES)[a:b] for a, b in negated_spans(text)] for text in texts]
        flat = [p for group in phrases for p in group]
        # The messages and their phrases in one call: each row is read on its own, so the figures are the same, and
        # the call's fixed cost (most of a short message's) is paid once.
        # As Python floats at once (the same numbers): what each reading reads from them is then plain Python.
        every = self._rows([*texts, *flat]).tolist()
        named = iter(every[len(texts) :])
        readings = []
        for text, row, group in zip(texts, every[: len(texts)], phrases, strict=True):
            probs = _of_acts(row)
            acts = decide(probs, self.settings.thresholds, self.together, self._second_threshold(row))
            under_negation = {a for _ in group for a, p in _of_acts(next(named)).items() if p >= THRESHOLD}
            # Every field is made here as the type it is declared (validating them again cost a tenth of a reading).
            readings.append(
                ActReading.model_construct(
                    text=text,
                    acts=acts,
                    probabilities=probs,
                    negated=tuple(a for a in ACTS if a in under_negation and a not in acts) if under_negation else (),
                    platform=self._platform(text) if "other_platform" in acts else None,
                )
            )
        return readings

    def _platform(self, text: str) -> str | None:
        clean = text.translate(APOSTROPHES)
        spans = negated_spans(clean)
        for found in _platform_names().finditer(clean):
            if not any(start <= found.start() < end for start, end in spans):
                return platform_named(found.group(0))
        for word in _NAME_LIKE.finditer(clean):
            if not any(start <= word.start() < end for start, end in spans) and misspelled_platform(word.group(0)):
                return misspelled_platform(word.group(0))
        return None


def _of_acts(row: Any) -> dict[Act, float]:
    values = row[: len(ACTS)]
    # An array's `tolist` gives the very floats `float` would, at once; a list of floats is one already.
    return dict(zip(ACTS, values.tolist() if hasattr(values, "tolist") else map(float, values), strict=True))


def _stack_logistic(pipeline: Any) -> tuple[Any, Any, Any] | None:
    """(features, weights as features x acts, biases) when the classifier is one-vs-rest logistic regression."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    estimators = getattr(pipeline.named_steps["classify"], "estimators_", None)
    if not estimators or not all(isinstance(e, LogisticRegression) for e in estimators):
        return None
    # C order: a sparse matrix times an F-ordered (transposed) array copies the whole array on every product
    # (scipy ravels it), 0.6 ms a reading; the copy made once here gives the same numbers.
    weights = np.ascontiguousarray(np.vstack([e.coef_[0] for e in estimators]).T)
    bias = np.array([e.intercept_[0] for e in estimators])
    union = pipeline.named_steps["features"]
    return _Blocks.of(union, weights) or union, weights, bias


@dataclass(frozen=True)
class _Block:
    """One TfidfVectorizer's share of a reading, taken apart once: its analyzer, its vocabulary numbered as the rows
    of the stacked weights (this block's first row onwards), and its weighting (what `_tfidf` applies).

    A `char_wb` block (`by_word`: the text as its analyzer reads it, and its n-grams of one word) reads a text word
    by word: scikit-learn's `_char_wb_ngrams` pads each whitespace-separated word with spaces and takes its n-grams
    from that word alone, so a text's n-grams are its words' n-grams, in order. A word's known features are kept
    (`memo`, bounded like `Speller`'s fixes): a turn's texts are a message and its pieces, and shoppers share most
    of their words, so most words are read once a process. What a text counts is what the analyzer counts.

    The word block (`by_view`: `with_placeholders`, and the analyzer of what follows it in the word view) keeps a
    placeholder view's features in the memo the same way: what varies from shopper to shopper (an order name, an
    email) is one token there, so "where is my order #TM10196" and "... #TM10532" are one view, read once."""

    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]  # feature -> its row of the stacked weights
    idf: Any  # per feature of this block; ones without inverse document frequencies (a factor of 1.0 changes nothing)
    by_word: tuple[Callable[[str], str], Callable[[str], list[str]]] | None = None
    by_view: tuple[Callable[[str], str], Callable[[str], list[str]]] | None = None
    memo: dict[str, list[int]] = field(default_factory=dict, compare=False, hash=False)

    WORDS_KEPT = 16384  # words or views

    def features(self, text: str) -> list[int]:
        """The text's known features as rows of the stacked weights, each as often as the analyzer gives it (a list
        the memo may hold: not to be changed)."""
        if self.by_view is not None:
            view, analyze = self.by_view
            return self._remembered(view(text), analyze)
        known = self.vocabulary.get
        if self.by_word is None:
            return [index for feature in self.analyze(text) if (index := known(feature)) is not None]
        preprocess, ngrams = self.by_word
        found: list[int] = []
        for word in preprocess(text).split():
            found += self._remembered(word, ngrams)
        return found

    def _remembered(self, key: str, analyze: Callable[[str], list[str]]) -> list[int]:
        """The known features of `analyze(key)`, from the memo when it holds them."""
        rows = self.memo.get(key)
        if rows is None:
            known = self.vocabulary.get
            rows = [index for feature in analyze(key) if (index := known(feature)) is not None]
            if len(self.memo) >= self.WORDS_KEPT:
                self.memo.clear()
            self.memo[key] = rows
        return rows


@dataclass(frozen=True)
class _Blocks:
    """A FeatureUnion of TfidfVectorizers (the reader's features) taken apart with the stacked weights."""

    union: Any
    blocks: tuple[_Block, ...]
    weights: Any  # features x acts (every block's rows, in order), C order
    idf: Any  # every block's, in the same order
    sublinear: bool  # every block's sublinear_tf
    l2: bool  # every block's norm is l2 (else none is)

    # Up to this many texts are read block by block; a batch (the evals' thousands) as sparse matrices, which it fills.
    FEW = 32

    @classmethod
    def of(cls, union: Any, weights: Any) -> _Blocks | None:
        """None when some vectorizer is not one `_tfidf` reads its own way, or the vectorizers weigh counts
        differently from one another (then the union is read as before)."""
        import numpy as np
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizers = [vectorizer for _, vectorizer in union.transformer_list]
        if any(type(v) is not TfidfVectorizer or v.binary or v.dtype is not np.float64 for v in vectorizers):
            return None
        if len({(v.sublinear_tf, v.norm) for v in vectorizers}) != 1 or vectorizers[0].norm not in ("l2", None):
            return None
        blocks, start = [], 0
        for vectorizer in vectorizers:
            vocabulary = {feature: start + index for feature, index in vectorizer.vocabulary_.items()}
            size = len(vocabulary)
            by_word = None
            if vectorizer.analyzer == "char_wb" and vectorizer.input == "content":
                low, high = vectorizer.ngram_range
                by_word = (vectorizer.build_preprocessor(), partial(_wb_ngrams, low=low, high=high))
            idf = vectorizer.idf_ if vectorizer.use_idf else np.ones(size)
            blocks.append(_Block(vectorizer.build_analyzer(), vocabulary, idf, by_word, _by_view(vectorizer)))
            start += size
        if start != weights.shape[0]:
            return None
        idf = np.concatenate([block.idf for block in blocks])
        return cls(union, tuple(blocks), weights, idf, vectorizers[0].sublinear_tf, vectorizers[0].norm == "l2")

    def scores(self, texts: list[str]) -> Any:
        """`_features_of(self.union, texts) @ self.weights` with no sparse matrix built (scipy's construction and
        checks cost more than the arithmetic for a message or five): each text's features in each block counted
        (a group), weighted as `_tfidf` does, times their rows of the weights and summed, then divided by the group's
        norm, for all the texts in a few calls of numpy (each call costs more than its arithmetic on a few hundred
        numbers). A group's figures come from its own entries alone, in the order its text gives them, so a text
        reads the same in any batch."""
        import numpy as np

        if len(texts) > self.FEW:  # bounded memory: a row's entries times every act's weight
            return np.vstack([self.scores(texts[i : i + self.FEW]) for i in range(0, len(texts), self.FEW)])
        features: list[int] = []
        counts: list[int] = []
        starts: list[int] = []  # where each group's entries start, for the groups with any
        present: list[int] = []  # those groups, numbered `row * len(blocks) + block`
        for row, text in enumerate(texts):
            for number, block in enumerate(self.blocks):
                counted = Counter(block.features(text))
                if counted:
                    starts.append(len(features))
                    present.append(row * len(self.blocks) + number)
                    features += counted
                    counts += counted.values()
        groups = np.zeros((len(texts) * len(self.blocks), self.weights.shape[1]))
        if features:
            indices = np.fromiter(features, dtype=np.intp, count=len(features))
            values = np.fromiter(counts, dtype=np.float64, count=len(counts))
            if self.sublinear:
                np.log(values, out=values)
                values += 1.0
            values *= np.take(self.idf, indices)
            weighted = np.take(self.weights, indices, axis=0)
            weighted *= values[:, None]
            # `reduceat` adds each group's rows in turn, whatever else the batch holds.
            sums = np.add.reduceat(weighted, starts, axis=0)
            if self.l2:  # a group's values are all above zero, so is its norm
                sums /= np.sqrt(np.add.reduceat(values * values, starts))[:, None]
            groups[present] = sums
        # Each text's blocks added in order, as scikit-learn's product over the stacked blocks does.
        return groups.reshape(len(texts), len(self.blocks), -1).sum(axis=1)


def _by_view(vectorizer: Any) -> tuple[Callable[[str], str], Callable[[str], list[str]]] | None:
    """For a word vectorizer whose preprocessor is the word view with placeholders: `with_placeholders`, and its
    analyzer with `after_placeholders` as the preprocessor (the rest of the word view, then its tokens and n-grams:
    the analyzer's own steps in its order, its decoder giving a text back as it is). None for any other."""
    words = vectorizer.preprocessor
    if vectorizer.analyzer != "word" or vectorizer.input != "content" or not isinstance(words, partial):
        return None
    if words.func is not word_view or words.args or not words.keywords.get("placeholders", True):
        return None
    rest = copy.copy(vectorizer)  # only to build the analyzer; the fitted vectorizer is left as it is
    rest.preprocessor = partial(after_placeholders, **{k: v for k, v in words.keywords.items() if k != "placeholders"})
    return with_placeholders, rest.build_analyzer()


def _wb_ngrams(word: str, low: int, high: int) -> list[str]:
    """scikit-learn's `_char_wb_ngrams` of one word (a text without whitespace, as `_Block.features` splits it): the
    word padded with a space each side, its `low`- to `high`-grams in that order, and a padded word no longer than
    n given once, whole, with no longer n-grams after it. The same list, made by slicing in one comprehension per n
    instead of a Python loop a gram (a word new to the process, an order name or an email, is most of its block)."""
    padded = f" {word} "
    size = len(padded)
    grams: list[str] = []
    for n in range(low, high + 1):
        if n >= size:
            grams.append(padded)
            break
        grams += [padded[i : i + n] for i in range(size - n + 1)]
    return grams


def _features_of(union: Any, texts: list[str]) -> Any:
    """`union.transform(texts)`, the same matrix without what it costs per call: FeatureUnion's joblib dispatch,
    and scikit-learn re-validating its own sparse output (finite values, parameters) at every step, which cost more
    than reading the text. Each vectorizer still does all the work; the blocks are stacked as FeatureUnion does."""
    import scipy.sparse as sp
    import sklearn

    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        return sp.hstack([_tfidf(vectorizer, texts) for _, vectorizer in union.transformer_list]).tocsr()


def _scores(union: Any, weights: Any, texts: list[str]) -> Any:
    """`_features_of(union, texts) @ weights` without stacking the blocks: each vectorizer's block times its rows of
    the weights, summed. Stacking two small sparse matrices (scipy's checks and copies) cost more than the products.
    A union taken apart already (`_Blocks`, the shipped reader's) builds no sparse matrix at all."""
    import sklearn

    if isinstance(union, _Blocks):
        if len(texts) <= _Blocks.FEW:
            return union.scores(texts)
        union = union.union
    total: Any = 0.0
    start = 0
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        for _, vectorizer in union.transformer_list:
            block = _tfidf(vectorizer, texts)
            total = total + block @ weights[start : start + block.shape[1]]
            start += block.shape[1]
    return total


def _tfidf(vectorizer: Any, texts: list[str]) -> Any:
    """`vectorizer.transform(texts)` for a fitted TfidfVectorizer: its counts (`CountVectorizer.transform`, all the
    reading), then the weighting `TfidfTransformer.transform` applies, in its order and with its own row normaliser,
    so the numbers are the same to the last bit. What is skipped is the transformer checking, on every call, the
    count matrix the vectorizer has just built (its type, dtype and feature names: two thirds of a short message's
    reading). Anything but the settings Lumen trains with goes the plain way."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.utils.sparsefuncs_fast import inplace_csr_row_normalize_l2

    if type(vectorizer) is not TfidfVectorizer or vectorizer.binary or vectorizer.norm not in ("l2", None):
        return vectorizer.transform(texts)
    counts = CountVectorizer.transform(vectorizer, texts)
    if counts.dtype != np.float64 or counts.format != "csr":
        return vectorizer.transform(texts)
    if vectorizer.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1.0
    if vectorizer.use_idf:
        counts.data *= vectorizer.idf_[counts.indices]
    if vectorizer.norm == "l2":
        inplace_csr_row_normalize_l2(counts)
    return counts


def _features(settings: ReaderSettings, speller: Speller | None = None) -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    words = partial(
        word_view,
        placeholders=settings.placeholders,
        concepts=settings.concepts,
        speller=speller,
        contrast=settings.contrast,
    )
    chars = partial(char_view, placeholders=settings.char_placeholders, contrast=settings.contrast)
    return FeatureUnion(
        [
            (
                "words",
                TfidfVectorizer(
                    preprocessor=words,
                    ngram_range=settings.word_ngrams,
                    min_df=settings.word_min_df,
                    sublinear_tf=True,
                ),
            ),
            (
                "chars",
                TfidfVectorizer(
                    preprocessor=chars, analyzer="char_wb", ngram_range=settings.char_ngrams, sublinear_tf=True
                ),
            ),
        ]
    )


def _classifier(settings: ReaderSettings) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import VotingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    logistic = LogisticRegression(
        C=settings.C,
        solver="liblinear",
        dual=True,
        max_iter=1000,
        random_state=0,
        class_weight=settings.class_weight,
    )
    # A linear SVM gives margins, not probabilities; Platt scaling (sigmoid, 3-fold) turns them into probabilities.
    svm = CalibratedClassifierCV(
        LinearSVC(C=settings.svm_C, class_weight=settings.class_weight, random_state=0), method="sigmoid", cv=3
    )
    if settings.classifier == "logistic":
        return OneVsRestClassifier(logistic)
    if settings.classifier == "svm":
        return OneVsRestClassifier(svm)
    return OneVsRestClassifier(VotingClassifier([("logistic", logistic), ("svm", svm)], voting="soft"))


def labelled_together(labels: Iterable[Sequence[str]]) -> frozenset[frozenset[str]]:
    """Every pair of acts some training message carries together."""
    return frozenset(frozenset((a, b)) for acts in labels for a in acts for b in acts if a != b)


def decide(
    probs: dict[Act, float],
    thresholds: dict[str, float] | None = None,
    together: frozenset[frozenset[str]] | None = None,
    second: float | None = None,
) -> tuple[Act, ...]:
    """The acts read: each whose probability reaches its threshold, most likely first, at most MAX_ACTS; the most
    likely act is always kept, so a message is never read as doing nothing. With `together` (the pairs the corpus
    labels together), a second act is read only beside acts it has been seen with: the corpus never labels "where's
    my Wayfair delivery" both other_platform and where_is_order, so the reader doesn't either. With `second` (the
    message reads as making more than one request), an act beside the top one is read from `second` when that is
    lower than its own threshold."""
    thresholds = thresholds or {}
    # Most likely first, ties in ACTS's order (a stable sort keeps it, reversed or not).
    ranked = sorted(ACTS, key=probs.__getitem__, reverse=True)
    chosen: list[Act] = [ranked[0]]
    for act in ranked[1:MAX_ACTS]:
        threshold = thresholds.get(act, THRESHOLD)
        if probs[act] < (threshold if second is None else min(threshold, second)):
            continue
        if together is not None and any(frozenset((act, c)) not in together for c in chosen):
            continue
        chosen.append(act)
    return tuple(chosen)


# The corpus is data the evals own (`evals/corpus/`, package data); it is read as a file, so the product imports no
# eval code. Only `split: train` lines are read: the held-out slice and store stay unseen.
CORPUS_FILE = Path(__file__).resolve().parents[2] / "evals" / "corpus" / "shoppers.jsonl"


def training_messages(path: Path = CORPUS_FILE) -> list[tuple[str, tuple[str, ...]]]:
    lines = (json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return [(line["text"], tuple(line["acts"])) for line in lines if line["split"] == "train"]


@lru_cache(maxsize=1)
def shipped_model() -> ActModel:
    """The reader trained on the shipped corpus's training split, once per process."""
    return ActModel.train(training_messages(), SHIPPED)


def read_acts(text: str) -> ActReading:
    return _read_with(shipped_model(), text)


# A message is read several times in one turn (whole, and its clauses by more than one rule) and again on every
# model request of the turn; a model's reading is deterministic, so each text is read once while it is recent (keyed
# by the model too: a model trained anew in this process reads afresh). A plain dict in recency order, not
# lru_cache: `read_acts_together` must see what is read already and put what it reads beside it.
READINGS_KEPT = 1024
_readings: OrderedDict[tuple[ActModel, str], ActReading] = OrderedDict()
_readings_lock = threading.Lock()  # the evals read from threads too


def _read_with(model: ActModel, text: str) -> ActReading:
    with _readings_lock:
        reading = _readings.get((model, text))
        if reading is not None:
            _readings.move_to_end((model, text))
            return reading
    return _keep(model, text, model.read(text))


def read_acts_together(texts: Iterable[str]) -> None:
    """Read in one call of the reader the texts not read recently (a message and the clauses the playbook reads on
    their own), for `read_acts` to hand out. A call's fixed cost is most of a short text's reading (0.4 of 0.6 ms),
    and `read_many` reads each row on its own, so every reading is the one `read_acts` would have made alone."""
    model = shipped_model()
    with _readings_lock:
        unread = [text for text in dict.fromkeys(texts) if (model, text) not in _readings]
    if len(unread) > 1:  # a single text is read when it is asked for, as before
        for text, reading in zip(unread, model.read_many(unread), strict=True):
            _keep(model, text, reading)


def _keep(model: ActModel, text: str, reading: ActReading) -> ActReading:
    with _readings_lock:
        _readings[(model, text)] = reading
        _readings.move_to_end((model, text))
        while len(_readings) > READINGS_KEPT:
            _readings.popitem(last=False)
    return reading
