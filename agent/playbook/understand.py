"""Reading a shopper's message without an LLM: the details it carries and what the shopper wants.

Nothing here knows a store: order numbers, emails and postal codes are recognised by shape; what the shopper wants
(the message's dialogue acts) is read by the model learned from the shopper corpus (`agent/playbook/acts.py`).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from babel import Locale
from babel.localedata import locale_identifiers

from agent import prompts
from agent.calendar_words import MONTH_PATTERN, MONTHS
from agent.playbook.acts import APOSTROPHES, THRESHOLD, Act, ActReading, negated_spans, platform_named, read_acts
from agent.playbook.prefilter import Prefiltered, prefiltered
from agent.playbook.service_change import service_change_asked, shipping_change_spans
from shopify.names import NameFormat, NameInText, fits_postal_code, formatted_order_name, names_in_text

# What Lumen just asked for; "retry" follows a failed lookup (a new number, email or postcode may come).
Awaiting = Literal["order_number", "factor", "retry", "contact_email", "escalation_offer", "which_order"] | None

EMAIL = re.compile(r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_PREFIXED_NUMBER = re.compile(
    r"(?:#\s*|\border\b\s*(?:no\.?|nr\.?|num(?:ber)?|#|id|ref)?\s*(?:is|was|=|:)?\s*#?\s*)"
    r"([A-Za-z]{0,4}[\-_]?\d[\dA-Za-z\-]{1,14})\b",
    re.IGNORECASE,
)
# A store-prefixed order name standing alone: "AB-7310", "EN1001", "QRS7310IE" (at least three digits, so not a
# postcode).
_NAMED_ORDER = re.compile(
    # At most eight digits before a glued suffix: a postal tracking number ("CE311208456IE") has nine.
    # A letter suffix without a dash needs four digits before it: "AB101XG" is a UK postcode, "QRS7310IE" an order.
    r"(?<![\w@.-])([A-Za-z]{1,4}-?(?:\d{3,10}(?:-[A-Za-z0-9]{1,3})?|\d{4,8}[A-Za-z]{1,3}))(?![\w@-])"
)
_BARE_NUMBER = re.compile(
    r"(?<![\w$€£¥.,/:])(\d{3,12})"
    rf"(?![\w%/:€£¥$]|[.,]\d|\s*(?:{prompts.either('numbers', 'units')})\b)"
)
# The currency codes shoppers type beside an amount ("USD 120", "gbp120"): letters that are never an order's prefix.
_CURRENCY_CODES = frozenset(
    ["USD", "CAD", "AUD", "NZD", "GBP", "EUR", "CHF", "JPY", "INR", "SGD", "HKD", "SEK", "NOK", "DKK", "MXN", "BRL",
     "ZAR", "CNY"]
)  # fmt: skip
# Money said in words or marks round a number make it an amount, never an order: "$120", "120 USD", "got 120 back",
# "a refund of 120", "it cost me 120", "I paid like 1200", "the total was 340". Between the money word and the number
# only words that say nothing of an order may stand ("me", "about", "a total of"); "paid for 7310" is an order paid for.
_MONEY_WORDS = prompts.either("amounts", "money") + "|" + "|".join(c.lower() for c in _CURRENCY_CODES)
_GAP_WORDS = prompts.either("amounts", "gap")
_AMOUNT_BEFORE = re.compile(
    rf"(?:[$€£¥]|\b(?:{_MONEY_WORDS})\b(?:\s+(?:{_GAP_WORDS})\b){{0,4}}:?)\s*[$€£¥]?\s*$", re.IGNORECASE
)
# A money noun may follow one word that says whose money it is: "120 us dollars", "80 canadian dollars".
_AFTER_WORDS = "|".join((prompts.either("amounts", "after"), *_CURRENCY_CODES))
_WHOSE_MONEY = r"[A-Za-z]+\s+(?:" + prompts.either("money_nouns", "nouns") + ")"
_AMOUNT_AFTER = re.compile(
    r"^\s*(?:[$€£¥]|(?:" + _AFTER_WORDS + "|" + _WHOSE_MONEY + r")\b)",
    re.IGNORECASE,
)
# "The 340 I paid", "that 1200 we spent": a number the shopper says they paid, after a word that points at it.
_POINTED_BEFORE = re.compile(rf"\b(?:{prompts.either('amounts', 'pointed')})\s*$", re.IGNORECASE)
_PAID_AFTER = re.compile(
    rf"^\s*(?:{prompts.either('amounts', 'payers')})\s+(?:(?:{prompts.either('amounts', 'payers_have')})\s+)?"
    rf"(?:{prompts.either('amounts', 'paid')})\b",
    re.IGNORECASE,
)
# How an amount was paid, named just after it with no currency mark: "4200 via M-Pesa", "3500 by EcoCash", "4200 na
# M-Pesa" (`prompts/reading.toml` [payments]). A means of paying only: "4410 with the blue lid" is still an order.
_PAYMENT_MEANS = prompts.either("payments", "means").replace("\\ ", "[\\s\\-]*")
_PAID_BY_AFTER = re.compile(
    rf"^\s*(?:{prompts.either('payments', 'by')})\s+(?:(?:my|the|your|an?)\s+)?(?:{_PAYMENT_MEANS})\b", re.IGNORECASE
)
# A payment's reference just after its means ("M-Pesa QRT5MN2B8C", "PayPal ref 8UX92341KD"): letters and digits
# mixed, as a means' receipt writes them; no order of the shop's.
_PAYMENT_REFERENCE = prefiltered(
    rf"\b(?:{_PAYMENT_MEANS})\b\W{{0,3}}(?:(?:{prompts.either('payments', 'reference')})\b\W{{0,3}})?"
    r"((?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{6,20})(?![\w@\-])",
    re.IGNORECASE,
)
# Words before a number that make it an amount or a tracking number, not a postcode: "cost 5000", "tracking 123456".
_NOT_A_CODE = prefiltered(
    rf"\b(?:{prompts.either('postcodes', 'not_before')})\W*(?:{prompts.either('postcodes', 'not_before_then')}|:)?\s*$",
    re.IGNORECASE,
)
# Words that join several orders in one message ("orders 5521 and 5530"): two numbers there are two orders.
_SEVERAL = re.compile(
    r"\borders\b|\d[\w\-]*\s*,?\s*(?:\band\b|&|\bplus\b|\bor\b|\+)\s*(?:#|\border\b\s*#?)?\s*[A-Za-z\-]*\d",
    re.IGNORECASE,
)
# Words that date a number that follows them: "in 2025", "since March 2025", "back in 2019", "the year 2024".
_YEAR_CONTEXT = prefiltered(rf"\b(?:{prompts.either('years', 'before')}|{MONTH_PATTERN})\s*$", re.IGNORECASE)
# Words after a number that date it: "from 2019 onwards", "2019 to 2021", "2024's sale".
_YEAR_AFTER = re.compile(
    rf"^(?:\s*(?:{prompts.either('years', 'after')}"
    rf"|(?:{prompts.either('years', 'to')})\s+(?:19|20)\d\d|-\s*(?:19|20)\d\d)\b"
    r"|['’]s\b)",
    re.IGNORECASE,
)
# "Of" and "from" date a number only sometimes: "a customer from 2019" is a year, "my order 2019 from last week" or
# "the status of 2019" an order. Read so, the number is a year only where the message names another order.
_MAYBE_YEAR_CONTEXT = re.compile(rf"\b(?:{prompts.either('years', 'maybe_before')})\s*$", re.IGNORECASE)
# Only a number that can be a year is one: "since 2025" is a year, "a week since 4419 shipped" an order.
_YEAR = re.compile(r"(?:19|20)\d\d")
# A store's order name typed with spaces, its letters in capitals as the shop writes them: "AB 7312", "QRS 7310 IE".
# Dashes with spaces round them too: "QRS - 7324 - IE".
_SPACED_ORDER = re.compile(r"(?<![\w@#\-])([A-Z]{2,4})(?: |\s*-\s*)(\d{3,10})(?:(?: |\s*-\s*)([A-Z]{1,3}))?(?![\w@\-])")
# Capitals between two numbers: "5301 KRW 0814" (an order name with a suffix, then a postcode; `_suffix_then_postcode`).
_LETTERS_BETWEEN = re.compile(r"(?<![\w@#\-])#?(\d{3,10})\s+([A-Z]{2,4})\s+(\d{3,10})(?![\w@\-])")
# Words a number follows in a sentence, never a shop's prefix: "WHERE IS 7310 OK" is no order name.
_NOT_PREFIXES = frozenset(prompts.words("order_names", "not_prefixes"))
# An order name with a store suffix, standing alone: "2001-A", "1001-b".
_SUFFIXED_ORDER = re.compile(r"(?<![\w@.-])#?\s*(\d{3,10}\s?-\s?[A-Za-z0-9]{1,3})(?![\w@-])")
# A store's letters after the number without a dash: glued in any case ("4410zq", "7310B"; four digits at least, so
# "10am" or "2nd" never is), or spaced as two capitals ("4410 ZQ"; three, as in "4410 ETA?" or "4410 UPS says", are
# a word, not the shop's letters).
_GLUED_SUFFIX = re.compile(r"(?<![\w@.\-#])#?(\d{4,8}[A-Za-z]{1,3})(?![\w@\-])")
_SPACED_SUFFIX = re.compile(r"(?<![\w@.\-])#?(\d{3,10}) ([A-Z]{2})(?![\w@\-])")
# Letters after a number that are a unit, a time or a word, never a shop's suffix: "1500ml", "1000 OK", "2026 IS".
_NOT_SUFFIXES = frozenset(prompts.words("order_names", "not_suffixes"))
# Words just before a code that make it the order's name, not a postcode: "Order number: 4410 ZQ", "order #4410 ZQ".
_ORDER_CUE = re.compile(
    rf"\b(?:{prompts.either('order_names', 'cue')})\b[^\w@]*"
    rf"(?:(?:{prompts.either('order_names', 'cue_labels')})\b\W*)*$",
    re.IGNORECASE,
)
# Postcodes with a shape no order number has (letters in fixed places, or a dash in a fixed place) are recognised
# anywhere in a message, in any spacing and case; verification compares them with the order's own postcode
# (`Order.has_postal_code`), so reading one permissively costs nothing but a failed comparison.
_UK_POSTAL = r"[A-Za-z]{1,2}\d[A-Za-z\d]?[ \-]?\d(?![CIKMOVcikmov])[A-Za-z]{2}"  # "SW1A 1AA", "sw1a1aa"
_SHAPED_POSTAL_ALTERNATIVES = (
    r"[A-Za-z]\d[A-Za-z][ \-]?\d[A-Za-z]\d",  # Canada: "K1A 0B1", "k1a0b1"
    _UK_POSTAL,
    # Ireland (Eircode): a routing key and four characters, at least one a digit: "D02 X285", "d02x285", "E91 AB12".
    r"(?:[A-Za-z]\d{2}|[Dd]6[Ww])\s?(?=[\dA-Za-z]{0,3}\d)[\dA-Za-z]{4}",
    # Netherlands, in capitals: "1234 ok" is not a postcode, nor the middle of an order name ("QRS 7310 IE").
    r"(?<![A-Z][\s\-])\d{4}\s?[A-Z]{2}(?<!OK)",
    r"\d{3}-\d{4}",  # Japan: "100-0001" (an order suffix is at most three characters: "2001-A")
    r"\d{5}-\d{4}",  # a US ZIP+4
)
_SHAPED_POSTAL = re.compile(r"(?<![\w@#\-])(" + "|".join(_SHAPED_POSTAL_ALTERNATIVES) + r")(?![\w@\-])")
# A US address's last line: an APO/FPO/DPO "state" (AA, AE, AP) and its ZIP ("APO AE 09012"), or a state after the
# town's comma ("Denver, CO 80302"). The ZIP is the postcode; the letters before it are no order prefix.
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
)
_ADDRESS_ZIP = re.compile(
    r"(?:\b(?i:[AFD]PO)\b[\s,]*(?i:A[AEP])|(?<=,)\s*(?:" + "|".join(_US_STATES.split()) + r"|A[AEP]))"
    r"\s+(\d{5}(?:-?\d{4})?)(?![\w@\-])"
)
# The tokens after a postcode's label that may hold the code: up to six, so a code typed with spaces anywhere ("LS 6
# 2QT", "k 1a 0b1", "L S 6 2 Q T") is all there; `_code_size_after_label` says how many of them it is.
_LABELLED_TOKENS = r"([A-Za-z0-9][A-Za-z0-9\-]*(?:\s+[A-Za-z0-9][A-Za-z0-9\-]*){0,5})"
_POSTAL_KEYWORD = re.compile(
    rf"(?:\b(?:{prompts.either('postcodes', 'labels')})\b\s*(?:code)?\s*"
    r"(?:'s|is|was|=|:)?\s*(?:is\s*)?|〒\s*)" + _LABELLED_TOKENS,
    re.IGNORECASE,
)
_POSTAL_SHAPE = re.compile(
    r"^(?:\d{4,6}(?:-\d{4})?|\d{9}"  # US ZIP(+4, with or without its dash), most of Europe, Australia
    r"|" + "|".join(_SHAPED_POSTAL_ALTERNATIVES[:3]) + r"|\d{4}\s?[A-Za-z]{2}"  # ..., Netherlands in any case
    r"|\d{3}[ \-]?\d{2,4})$"  # Sweden, Japan, ...
)


@dataclass
class Details:
    order_number: str | None = None
    email: str | None = None
    postal_code: str | None = None


def _words(text: str) -> list[str]:
    # Quotes round a word are no part of it: "what does 'attempted delivery' mean" names a status.
    found = re.findall(r"[a-z0-9']+", text.lower().replace("’", "'"))
    return [w.strip("'") for w in found if w.strip("'")]


def _take_postal_code(
    text: str, country: str | None = None, name_format: NameFormat | None = None
) -> tuple[str | None, str]:
    """The postal code a message names, and the message without it: after a keyword ("postcode", "ZIP", "〒") in
    one or two tokens ("97214", "EH1 1YZ"), else in a shape no order number has ("sw1a1aa", "D02 X285", "100-0001").
    A code that reads as an order name too ("4410 ZQ") is the order's name after "order number", or in a shop of
    a `country` whose postal codes it does not fit; a real postal code of the shop's country stays one."""
    labelled = sorted((*_POSTAL_KEYWORD.finditer(text), *_own_postal_label(country).finditer(text)), key=_start)
    for postal in labelled:
        # More words may follow the code: "my postcode is EH1 1YZ thanks".
        tokens = postal.group(1).split()
        size = _code_size_after_label(tokens, country)
        if size:
            rest = text[: postal.start()] + " " + " ".join(tokens[size:]) + " " + text[postal.end() :]
            return " ".join(tokens[:size]), rest
    later = _code_words_after_label(text, country)
    if later is not None:
        return later
    address = _ADDRESS_ZIP.search(text)
    if address:
        return address.group(1), text[: address.start()] + " " + text[address.end() :]
    spaced = _spaced_postal_code(text, country) or _boxed_postal_code(text, country)
    if spaced is not None:
        return spaced
    marked = _country_marked_postal_code(text, country, name_format)
    if marked is not None:
        return marked
    for shaped in _SHAPED_POSTAL.finditer(text):
        code = shaped.group(1)
        if _NAMED_ORDER.fullmatch(code) or _order_not_postcode(code, text[: shaped.start()], country, name_format):
            continue
        return code, text[: shaped.start()] + " " + text[shaped.end() :]
    return _odd_spaced_postal_code(text, country) or (None, text)


def _code_size_after_label(tokens: list[str], country: str | None) -> int:
    """How many of the tokens after a postcode's label ("postcode", "ZIP") are the code; 0 when none is one. First the
    fewest that make a code of the shop's country in any spacing ("70 11" in New Zealand, "EH1 1YZ" in Britain), so
    a word after it stays a word ("postcode 0632 is it coming"); else two tokens or one of any postcode's shape: where
    the shop's country is known, a code of another country ("K1A 0B1" in a US shop) has a second token of letters
    only in a shape no sentence has (not "9810 is"); where it is not, "1012 ab" may be Dutch."""
    for size in range(1, len(tokens) + 1):
        joined = "".join(tokens[:size])
        # Three tokens or more only for a code with letters ("LS 6 2QT"): digits alone are read in their groups.
        if (size < 3 or re.search(r"[A-Za-z]", joined)) and fits_postal_code(joined, country):
            return size
    known = fits_postal_code("", country) is not None
    for size in (2, 1):
        candidate = " ".join(tokens[:size])
        if len(tokens) < size or not _POSTAL_SHAPE.match(candidate):
            continue
        if size == 1 or not known or re.search(r"\d", tokens[1]) or _SHAPED_POSTAL.fullmatch(candidate):
            return size
    return 0


# A postcode's label, then one, two or three words, then a code: "try my zip then 37206", "zip code would be 4810".
_LABEL_THEN_WORDS = tuple(
    re.compile(
        rf"\b(?:{prompts.either('postcodes', 'labels')})\b((?:\s+[A-Za-z']+[,:]?){{{count}}})\s+"
        r"([A-Za-z0-9][A-Za-z0-9\-]*)(?![\w@\-])",
        re.IGNORECASE,
    )
    for count in (1, 2, 3)
)


def _code_words_after_label(text: str, country: str | None) -> tuple[str, str] | None:
    """The code after a postcode's label and up to three words that are no code ("zip then 37206", "postcode would
    be 4810"), with the message without it: only a code of the shop's own country, and not when the words between
    name an order ("zip and order 37206")."""
    for pattern in _LABEL_THEN_WORDS:
        for found in pattern.finditer(text):
            code = found.group(2)
            if re.search(r"\border\b", found.group(1), re.IGNORECASE) or not fits_postal_code(code, country):
                continue
            return code, text[: found.start(2)] + " " + text[found.end(2) :]
    return None


def _start(found: re.Match[str]) -> int:
    return found.start()


@lru_cache(maxsize=32)
def _own_postal_label(country: str | None) -> re.Pattern[str]:
    """What the shop's country calls its postal code, as Lumen asks for it there (`prompts/locale.toml`
    [words.postcode_word]: "PIN code" in India), also without its "code" and run together ("PIN", "pincode"): the
    label a shopper of that country puts before the code, followed by the code as `_POSTAL_KEYWORD` takes it. Only
    the shop's own country's word: elsewhere "pin 4821" may be a locker's or a card's."""
    words = prompts.toml("locale.toml")["words"]["postcode_word"]
    word = str(words.get((country or "").upper(), "")).lower()
    names = {w.strip() for w in word.split(" or ") if w.strip()}
    names |= {re.sub(r"\s+code$", "", n) for n in names} | {n.replace(" ", "") for n in names}
    if not names:
        return re.compile(r"(?!)")  # no country, no word of its own: the general labels only
    alternatives = "|".join(re.escape(n).replace(r"\ ", r"\s*") for n in sorted(names, key=len, reverse=True))
    return re.compile(
        rf"\b(?:{alternatives})\b\s*(?:'s|is|was|=|:|no\.?|number)?\s*(?:is\s*)?" + _LABELLED_TOKENS,
        re.IGNORECASE,
    )


# Runs of digits typed with single spaces between groups ("560 034", "1701 560 034"), standing alone.
_DIGIT_GROUPS = re.compile(r"(?<![\w@#\-/.,])\d+(?: \d+)+(?![\w@\-]|[.,]\d)")


def _spaced_postal_code(text: str, country: str | None) -> tuple[str, str] | None:
    """A postal code of the shop's country typed with a space after its first three digits, as many countries write
    theirs ("560 034" in India, "114 55" in Sweden), or after its first two as a phone's keyboard may split it ("46
    220" for a US ZIP), with no label: the two groups, joined, are a code of that country. Alone ("1704 / 411 038")
    or after an order's number of another length ("1701 560 034"); never inside a longer run of short groups ("149
    051 234", a phone or tracking number read out). The code is returned as the country writes it, without the
    space, with the message without it."""
    for run in _DIGIT_GROUPS.finditer(text):
        groups = run.group().split(" ")
        head, code = groups[:-2], groups[-2:]
        if len(head) > 1 or (head and len(head[0]) <= 3) or len(code[0]) not in (2, 3) or len(code[1]) < 2:
            continue
        if fits_postal_code("".join(code), country):
            start = run.end() - len(" ".join(code))
            return "".join(code), text[:start] + " " + text[run.end() :]
    return None


# A post-office box's number, a dash, then the postcode: "P.O. Box 3071-00606" (`prompts/reading.toml` [po_box]).
_BOX_THEN_CODE = re.compile(
    rf"(?<!\w)(?:{prompts.either('po_box', 'labels')})(?!\w)\s*(?:no\.?\s*)?\d{{1,7}}\s?[\-–]\s?(\d{{3,7}})(?![\w@\-])",
    re.IGNORECASE,
)


def _boxed_postal_code(text: str, country: str | None) -> tuple[str, str] | None:
    """The postcode written after a post-office box's number and a dash, as East African addresses write it ("P.O. Box
    3071-00606": box 3071, postcode 00606), when it can be one of the shop's country; the message without the box
    and its code (the box's number is no order either)."""
    for found in _BOX_THEN_CODE.finditer(text):
        if fits_postal_code(found.group(1), country) is not False:
            return found.group(1), text[: found.start()] + " " + text[found.end() :]
    return None


# A country's letters glued or dashed before a postcode, as letters from abroad are addressed: "S427890" (Singapore),
# "D-10115" (Germany), "CH-8001", "SG 427890".
_COUNTRY_MARKED = re.compile(r"(?<![\w@#\-./])([A-Za-z]{1,2})(?:-|(?<=[A-Z]) )?(\d{4,7})(?![\w@\-]|[.,]\d)")


def _country_marked_postal_code(text: str, country: str | None, fmt: NameFormat | None) -> tuple[str, str] | None:
    """A postcode of the shop's country with the country's letters before it: its ISO code or that code's first
    letter ("S427890" or "SG-427890" in Singapore, "D-10115" in Germany), the digits a code of that country. Only where
    the shop's name format is known and writes no such letters (else "S4278" may be a shop's order name)."""
    if not country or fmt is None or fits_postal_code("", country) is None:
        return None
    marks = {country.upper(), country.upper()[0]} - fmt.letters
    for found in _COUNTRY_MARKED.finditer(text):
        if found.group(1).upper() in marks and fits_postal_code(found.group(2), country):
            return found.group(2), text[: found.start()] + " " + text[found.end() :]
    return None


# Short pieces of letters and digits with single spaces between them ("LS 6 2QT", "k1a 0 b1"), standing alone.
_CODE_PIECES = re.compile(r"(?<![\w@#\-'’])[A-Za-z0-9]{1,4}(?: [A-Za-z0-9]{1,4}){1,6}(?![\w@\-])")


def _odd_spaced_postal_code(text: str, country: str | None) -> tuple[str, str] | None:
    """A postal code of the shop's country with letters and digits, typed with no label and spaces in odd places
    ("LS 6 2QT", "K1A 0 B1", "D08 K7 F3"): consecutive pieces that, joined, are a code of that country in a shape no
    order number has (`_SHAPED_POSTAL`, so an Eircode's last four hold a digit: "a 10 pack" is none). Each space
    falls where the country puts its own or between a letter and a digit, where a typist's thumb pauses, and the
    country's own is one of them; never inside a run of letters or of digits (that is words and numbers: "order 4417
    is 2 days late"). The code is returned as typed, with the message without it."""
    for run in _CODE_PIECES.finditer(text):
        pieces = run.group().split(" ")
        for first in range(len(pieces) - 1):
            for last in range(len(pieces), first + 1, -1):
                if _pieces_are_code(pieces[first:last], country):
                    start = run.start() + len(" ".join(pieces[:first])) + (1 if first else 0)
                    typed = " ".join(pieces[first:last])
                    return typed, text[:start] + " " + text[start + len(typed) :]
    return None


def _pieces_are_code(pieces: list[str], country: str | None) -> bool:
    code = "".join(pieces).upper()
    if not (re.search(r"[A-Z]", code) and re.search(r"\d", code)) or not fits_postal_code(code, country):
        return False
    usual = {cut for cut in range(len(code) + 1) if _SHAPED_POSTAL.fullmatch(f"{code[:cut]} {code[cut:]}".strip())}
    cuts = [sum(len(p) for p in pieces[:n]) for n in range(1, len(pieces))]
    pause = all(cut in usual or code[cut - 1].isalpha() != code[cut].isalpha() for cut in cuts)
    # Spaced as usual it is `_SHAPED_POSTAL`'s to read (or an order's name with the shop's letters: "6512 ZQ"); and
    # the country's own space is one of the typed ones, so no piece runs over it ("it's 2615 my bad" is no Eircode).
    odd = any(cut not in usual for cut in cuts)
    return bool(usual & set(cuts)) and pause and odd


def _order_not_postcode(code: str, before: str, country: str | None, name_format: NameFormat | None = None) -> bool:
    """Whether a postcode-shaped code is an order name: it reads as one ("4410 ZQ", "4410ZQ") and either carries the
    shop's own letters (when its format is known), follows the words "order number", or is no postal code of the
    shop's country."""
    if not (_SPACED_SUFFIX.fullmatch(code) or _GLUED_SUFFIX.fullmatch(code)):
        return False
    if name_format is not None and _own_letters(re.sub(r"[\d\s#]", "", code), name_format):
        return True  # the shop's own letters after a number: its order name ("4410 ZQ" in a shop of '#4410ZQ')
    if fits_postal_code(code, country):
        return False  # the shop's own country writes its postcodes so: never shadowed by an order name
    return bool(_ORDER_CUE.search(before)) or fits_postal_code(code, country) is False


# Runs of spaces, tabs and no-break spaces on one line (a line break stays: it parts one detail from the next).
_SPACES = re.compile(r"[^\S\n]+")

# A phone number, in the shapes phones are written and no order or postcode has: an international "+" and its digits
# ("+254 712 345 678"), an area code in brackets ("(847) 555-0132"), a trunk "0" and ten or eleven digits in groups
# ("07700 900123", "020 7946 0958"), or three, three and four digits in groups ("847-555-0132"). Nothing in one is an
# order or a postcode.
_PHONE = re.compile(
    r"(?<![\w@#+\-/.])(?:"
    r"\+\d{1,3}(?:[ \-.]?\(?\d{1,5}\)?){2,6}"
    r"|\(\d{2,5}\)[ \-.]?\d{2,5}(?:[ \-.]?\d{2,5}){1,2}"
    r"|0\d{2,4}(?:[ \-.]\d{2,7}){1,3}"
    r"|\d{3}[ \-.]\d{3}[ \-.]\d{4}"
    r")(?![\w@\-]|[.,]\d)"
)
# Any run of digits after a phone's label ("tel 555 0132", "mobile: 0712345678"; `prompts/reading.toml` [phones]).
_LABELLED_PHONE = prefiltered(
    rf"\b(?:{prompts.either('phones', 'labels')})\b[\s:.\-]{{0,3}}(\+?\d[\d \-.()]{{4,18}}\d)(?![\w@\-])",
    re.IGNORECASE,
)


def _payment_references_blanked(text: str) -> str:
    """The message with each payment's reference blanked ("paid 1850 kwa M-Pesa QRT5MN2B8C"): a means' receipt code."""
    return _PAYMENT_REFERENCE.sub(lambda m: m.group()[: m.start(1) - m.start()] + " " * len(m.group(1)), text)


# Countries of the North American Numbering Plan (+1): a national number never starts with "0" there.
_NO_TRUNK_ZERO = frozenset({"US", "CA", "PR", "VI", "GU", "AS", "MP", "JM", "TT", "BS", "BB", "BM", "DO"})


def _phones_blanked(text: str, country: str | None = None) -> str:
    """The message with each phone number in it blanked (spaces of its length, so positions hold): a signature's
    "(847) 555-0132" or "+254 712 345 678" is no order and no postcode. Unlabelled, a trunk "0" number counts only
    with ten or eleven digits, as national numbers have ("0632 1234" may be a postcode and an order); never where
    national numbers have no trunk "0" (the shop's `country` dials +1: "06607 30017" in a US shop is a Connecticut ZIP
    and an order), nor after "00", the international prefix ("00100 30017": a Nairobi postcode and an order). Any
    phone only with seven digits or more, at most fifteen (a longer run holds something else too)."""

    def blank(found: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", found.group())
        trunk = found.group().startswith("0")
        if not 7 <= len(digits) <= 15 or (trunk and len(digits) not in (10, 11)):
            return found.group()
        if trunk and (digits.startswith("00") or (country or "").upper() in _NO_TRUNK_ZERO):
            return found.group()
        return " " * len(found.group())

    text = _LABELLED_PHONE.sub(lambda m: m.group()[: m.start(1) - m.start()] + " " * len(m.group(1)), text)
    return _PHONE.sub(blank, text)


def extract_details(
    text: str, awaiting: Awaiting, country: str | None = None, name_format: NameFormat | None = None
) -> Details:
    """The order number, email and postal code in one message; `awaiting` says what we just asked for, `country`
    is the shop's (ISO 3166 alpha-2) and `name_format` how it writes its order names ('#' and 'KRW'), when known:
    letters typed beside a number are an order's only when they may be the shop's own."""
    details = Details()
    # Spacing is no part of a detail: "B3H  4R2" with two spaces, or a tab or a no-break space pasted between the
    # halves, is the postcode "B3H 4R2"; every reader below expects at most one space between the pieces of a code.
    text = _phones_blanked(_SPACES.sub(" ", text), country)
    emails = EMAIL.findall(text)
    if emails:
        details.email = emails[-1].strip(".")
    # Names in the shop's own format ('TSV.8101', 'x/123'), however typed, are read first and set aside, so no
    # postcode or bare number is looked for inside them.
    named, unnamed = _shop_format_names(
        _read_out_joined(_payment_references_blanked(EMAIL.sub(" ", text))), name_format
    )
    details.postal_code, rest = _take_postal_code(unnamed, country, name_format)
    rest = rest.replace("〒", " ")

    own = _emails_for_orders(text, len(emails))
    if named:
        details.order_number = named[-1].name
    else:
        _read_order_number(details, rest, awaiting, country, name_format, emails=own)
    if details.order_number and not details.postal_code and awaiting != "factor":
        details.postal_code = _postcode_beside(rest, details.order_number, emails=own, fmt=name_format)
    details.postal_code = _digits_joined(details.postal_code, country)
    return details


# A number typed digit by digit ("6 2 3 0", "9 8 1 0 3"), as it is read aloud: four to six single digits with single
# spaces between, never part of a longer run of single digits (a phone number read out).
_READ_OUT = re.compile(r"(?<![\w@#\-/.,])(?<!(?<!\d)\d )\d(?: \d){3,5}(?![\w@\-]|[.,]\d| \d)")


def _read_out_joined(text: str) -> str:
    """The message with each number typed digit by digit written as one number ("post code is 6 2 3 0" -> "post code
    is 6230"), so the readers below take it as the postcode or order number it is, as they would if typed whole."""
    return _READ_OUT.sub(lambda found: found.group().replace(" ", "").ljust(len(found.group())), text)


def _digits_joined(code: str | None, country: str | None) -> str | None:
    """A code of digits typed in groups ("560 034") as the shop's country writes it, in one run ("560034"), when it
    is one of that country's codes; any other code as typed."""
    if code and re.fullmatch(r"\d+(?:\s+\d+)+", code) and fits_postal_code(code, country):
        return re.sub(r"\s+", "", code)
    return code


def _shop_format_names(text: str, fmt: NameFormat | None) -> tuple[list[NameInText], str]:
    """The order names written in the shop's format in a message (`shopify.names.names_in_text`), and the message
    with each blanked out (spaces of its length, so positions hold)."""
    if fmt is None or not re.search(r"[^A-Za-z0-9#\-]", fmt.prefix + fmt.suffix):
        # Letters, digits, '#' and dashes round the number are read by the readers below, as they always were.
        return [], text
    # An amount typed in the shop's letters is money, never a name: "120 us dollars", "paid 120 us" beside '.US'.
    found = [n for n in names_in_text(text, fmt.prefix, fmt.suffix) if not _amount_named(text, n)]
    for name in found:
        text = text[: name.start] + " " * (name.end - name.start) + text[name.end :]
    return found, text


def _amount_named(text: str, name: NameInText) -> bool:
    """Whether a shop-format name found in a message is an amount of money (`_is_amount`): money words or marks round
    its number or round the whole name ("it cost 120 us dollars", "$120 us" in a shop of '#120.US' names)."""
    digits = re.search(r"\d+", text[name.start : name.end])
    if digits is None:
        return False
    start, end = name.start + digits.start(), name.start + digits.end()
    return _is_amount(text, start, end) or _is_amount(text, name.start, name.end)


def _emails_for_orders(text: str, count: int) -> int:
    """How many of a message's emails are each an order's own: all of them when a number stands between each two
    ("7310 a@x.com, my partner's 7324 b@y.com", "a@x.com for 1234, b@y.com for 5678"), else at most one: two emails
    side by side are one shopper's choices ("#2114 3000 jo@x.com or jo.smith@y.com"), and the numbers before them
    an order number and its postcode."""
    if count < 2:
        return count
    between = EMAIL.split(text)[1:-1]
    return count if all(re.search(r"\d", gap) for gap in between) else 1


def _read_order_number(
    details: Details,
    rest: str,
    awaiting: Awaiting,
    country: str | None = None,
    fmt: NameFormat | None = None,
    *,
    emails: int = 0,
) -> None:
    """The order number in the message (or, depending on what Lumen asked, a code-shaped answer as the postcode)."""
    if _suffix_then_postcode(details, rest, country, fmt):
        return
    spaced = _spaced_names(rest, fmt)
    if spaced:
        details.order_number = spaced[0][1]
        return
    suffixed = [m.group(1) for m in _SUFFIXED_ORDER.finditer(rest) if _suffix_of_name(rest, m, fmt)]
    if suffixed:
        details.order_number = re.sub(r"\s", "", suffixed[-1])
        return
    lettered = _lettered_suffix(rest, fmt)
    if lettered:
        details.order_number = lettered
        return

    prefixed = [m.group(1) for m in _PREFIXED_NUMBER.finditer(rest) if re.search(r"\d", m.group(1))]
    if prefixed:
        details.order_number = prefixed[-1]
        return

    stripped = rest.strip(" .!?,;:\n\t")
    if awaiting == "order_number" and not stripped.isdigit() and _POSTAL_SHAPE.match(stripped):
        details.postal_code = stripped
        return
    if awaiting == "retry" and not details.email and _POSTAL_SHAPE.match(stripped) and not stripped.isdigit():
        details.postal_code = stripped
        return

    named = [m for m in _NAMED_ORDER.findall(rest) if not _POSTAL_SHAPE.match(m) and _shop_letters(m, fmt)]
    if named:
        details.order_number = named[-1]
        return

    correcting = any(w in _CORRECTION for w in _words(rest))
    if awaiting == "factor" and not correcting and not details.email and not details.postal_code:
        # We asked for the email or postal code: a code-shaped answer ("3000", "it's 3000") is the postal code.
        shaped = [m.group(1) for m in _plain_numbers(rest) if _POSTAL_SHAPE.match(m.group(1))]
        if _POSTAL_SHAPE.match(stripped) or len(shaped) == 1:
            details.postal_code = stripped if _POSTAL_SHAPE.match(stripped) else shaped[0]
            return

    # "I ordered in 2025" names a year, "it cost me 1200" an amount: neither is an order.
    bare = [m.group(1) for m in _plain_numbers(rest)]
    if awaiting == "factor" and not correcting:
        return
    if len(bare) == 1:
        details.order_number = bare[0]
    elif len(bare) == 2 and not _names_several(rest, emails):
        # "2017 98101": an order number and its postcode, in that order (the order Lumen asks for them in), unless
        # only the first can be a postcode of the shop's country ("73301 2786" in a US shop).
        details.order_number = _order_of_two(bare[0], bare[1], country)


def _names_several(rest: str, emails: int) -> bool:
    """Whether a message names several orders, so that no number in it is another's postcode: words join them
    ("orders 5521 and 5530", "7310 & 7324"), or it gives two emails or more, one for each ("mine is 7310 a@x.com, my
    partner's 7324 b@y.com"; an order's proof is its own email, so each number there is an order)."""
    return bool(_SEVERAL.search(rest)) or emails >= 2 or _each_in_its_clause(rest)


# What ends one clause and starts another between two numbers: "2120 came broken and 2121 i want to cancel".
_JOINING = prompts.either("clauses", "between_orders")
_CLAUSE_BETWEEN = re.compile(rf"[,;.!?+&]|\b(?:{_JOINING})\b", re.IGNORECASE)
# Words just before a number that place the shopper, making it a postcode: "I'm in 3000", "delivering to 3350".
_PLACE_BEFORE = re.compile(
    rf"\b(?:{prompts.either('postcodes', 'place_before')})"
    rf"(?:\s+(?:{prompts.either('postcodes', 'place_before_then')}))?\W*$",
    re.IGNORECASE,
)  # "... I'm in 3000", "postcode is 4810", "pc: 4810"
# A place named between such a word and the number, as an address ends: "I'm in Rotorua 3010", "we're at Mt Eden,
# 1024". Up to three words of the place, none a clause's joining word nor "order" ("in transit and 2121" joins).
_PLACE_NAMED_BEFORE = re.compile(
    rf"\b(?:{prompts.either('postcodes', 'place_named_before')})"
    rf"(?:\s+(?!(?:{_JOINING}|orders?)\b)[A-Za-z][\w'’\-]*){{1,3}}(?:\s+|\s*,\s*)$",
    re.IGNORECASE,
)


def _each_in_its_clause(rest: str) -> bool:
    """Whether two bare numbers of one length each stand in a clause of its own, words and a clause break between
    them ("2120 arrived smashed and 2121 I want to cancel", "can you cancel 2121, and 2120 came broken"): two
    orders, each with what is said of it, not an order and its postcode ("2114 3000", "2114, 3000", "where's 2114?
    I'm in 3000")."""
    numbers = _plain_numbers(rest)
    if len(numbers) != 2 or len(numbers[0].group(1)) != len(numbers[1].group(1)):
        return False
    between = rest[numbers[0].end() : numbers[1].start()]
    breaks = list(_CLAUSE_BETWEEN.finditer(between))
    if not breaks or not re.search(r"[A-Za-z]{2}", between) or _first_is_a_place(rest, numbers[0], between, breaks):
        return False
    # The second number's own clause says something of it too ("... and 2121 I want to cancel"); one standing alone
    # after the first's question ("is 4422 still coming? 0110") is its postcode.
    after = _CLAUSE_BETWEEN.split(rest[numbers[1].end() :], maxsplit=1)[0]
    if _placed(between, after):
        return False
    before = re.findall(r"[A-Za-z]{2,}", between[breaks[-1].end() :])
    if len(before) == 1 and not re.search(r"[A-Za-z]{2}", after):
        # One word before it and nothing after labels the number ("?? postocde 6018"): an order only so labelled.
        return before[0].lower().startswith("order")
    return bool(before or re.search(r"[A-Za-z]{2}", after))


def _placed(before: str, after: str) -> bool:
    """Whether a number's clause places the shopper, so the number is their postcode, not an order said something of:
    a word of place just before it ("I'm in 3000", "postcode is 4810"), or a place named last in the clause ("I'm in
    Rotorua 3010"; not "the one at work 2121 hasn't come", where words after it say something of it)."""
    if _PLACE_BEFORE.search(before):
        return True
    return not re.search(r"[A-Za-z]{2}", after) and _PLACE_NAMED_BEFORE.search(before) is not None


def _first_is_a_place(rest: str, first: re.Match[str], between: str, breaks: list[re.Match[str]]) -> bool:
    """Whether the first of two numbers, each in a clause of its own, ends an address rather than naming an order:
    alone in its clause after a comma that follows words, as an address's last line is ("RD 2 Motueka, 7197. order
    9104 ..."), or placed ("I'm in Rotorua 3010, order 9104 ..."); never where a joining word ("and", "also") makes
    the second number another order."""
    if any(b.group().isalpha() for b in breaks):
        return False
    after = between[: breaks[0].start()]
    clauses = _CLAUSE_BETWEEN.split(rest[: first.start()])
    before = clauses[-1]
    if _placed(before, after):
        return True
    after_comma = len(clauses) > 1 and rest[: first.start() - len(before)].endswith(",")
    return after_comma and re.search(r"[A-Za-z]{2}", clauses[-2]) is not None and not re.search(r"\w", before + after)


def _order_of_two(first: str, second: str, country: str | None) -> str | None:
    """Which of two bare numbers side by side, with no word joining them as two orders ("orders 5521 and 5530"), is
    the order number when the other is its postcode: of two lengths ("2017 98101"), the first, unless only the first
    can be a postcode of the shop's country ("73301 2786" in a US shop); of one length, the first where the shop's
    country writes its postcodes so ("6607 3810" in a shop in New Zealand, whose orders and postcodes both have four
    digits), else neither. Read so, the other is tried as the order's postcode: one lookup, rationed like any guess."""
    if len(first) != len(second):
        only_first = fits_postal_code(first, country) and fits_postal_code(second, country) is False
        return second if only_first else first
    return first if fits_postal_code(second, country) else None


def _suffix_then_postcode(details: Details, rest: str, country: str | None, fmt: NameFormat | None = None) -> bool:
    """ "5301 KRW 0814": letters between two numbers are the first number's suffix (the shop's "#5301KRW") and the
    second number is the postcode, when it can be one in the shop's country; the same order Lumen asks for them in.
    Sets the order number and postcode it reads, and says whether it did."""
    found = _LETTERS_BETWEEN.search(rest)
    if found is None:
        return False
    number, letters, code = found.groups()
    if letters in _NOT_SUFFIXES or letters in _NOT_PREFIXES or not _POSTAL_SHAPE.match(code):
        return False
    if fmt is not None and not _own_letters(letters, fmt):
        return False  # no letters of this shop's names: "2786 TX 73301" is an order, a state and its ZIP
    if fits_postal_code(code, country) is False:
        return False  # no postcode of this shop's: "5301 QRS 7310" is a number and a prefixed order name
    details.order_number = f"{number}-{letters}"
    details.postal_code = details.postal_code or code
    return True


def _shop_letters(name: str, fmt: NameFormat | None = None) -> bool:
    """Whether the letters before an order-shaped token may be a shop's prefix: not a currency code ("USD 1200",
    "gbp120"), nor a currency's symbol glued to the amount ("K250", "rm89", "Rs1200": `_letter_currency_symbols`)
    unless the shop's own format writes those letters (a shop of 'K9-6201' names)."""
    found = re.match(r"[A-Za-z]*", name)
    letters = found.group(0).upper() if found else ""
    if letters in _CURRENCY_CODES:
        return False
    own = fmt is not None and letters in fmt.letters
    return own or letters not in {symbol.upper() for symbol in _letter_currency_symbols()}


@lru_cache(maxsize=1)
def _letter_currency_symbols() -> frozenset[str]:
    """Every currency symbol written in letters alone, as the English locales write them (Babel): 'R' (rand), 'K',
    'kr', 'RM', 'Rs', 'Rp', 'KSh', ... A shopper types one glued to an amount ("paid R450") as others type "$450"."""
    symbols: set[str] = set()
    for ident in locale_identifiers():
        if ident.split("_")[0] == "en":
            symbols.update(Locale.parse(ident).currency_symbols.values())
    return frozenset(s for s in symbols if s.isalpha() and s.isascii() and not re.fullmatch(r"[A-Z]{3}", s))


def _lettered_suffix(rest: str, fmt: NameFormat | None = None) -> str | None:
    """The last order name with a letter suffix and no dash: "4410zq", "4410 ZQ" -> "4410-ZQ"."""
    found = [
        (m.start(), f"{m.group(1)}-{m.group(2)}")
        for m in _SPACED_SUFFIX.finditer(rest)
        if m.group(2) not in _NOT_SUFFIXES and _own_letters(m.group(2), fmt)
    ]
    for m in _GLUED_SUFFIX.finditer(rest):
        letters = re.sub(r"\d", "", m.group(1)).upper()
        if letters not in _NOT_SUFFIXES and _own_letters(letters, fmt):
            found.append((m.start(), m.group(1)))
    return max(found)[1] if found else None


def _own_letters(letters: str, fmt: NameFormat | None) -> bool:
    """Whether letters typed beside an order's number may be the shop's own: any (but a currency code's) when the
    shop's format is unknown; only the letters its format writes ("KRW" for '#5301KRW', "QRS" or "IE" for
    'QRS-7310-IE'), in any case, when it is known."""
    if fmt is None:
        return True
    return letters.upper() in fmt.letters


def _own_suffix(name: str, fmt: NameFormat | None) -> bool:
    """Whether a number's dashed suffix may be the shop's: one letter or digits mark one of an order's parts
    ("2001-A", "1001-2") in any shop; two letters or more only the shop's own ("5301-KRW", not "2786-TX")."""
    suffix = re.split(r"\s?-\s?", name, maxsplit=1)[-1]
    return len(suffix) < 2 or not suffix.isalpha() or _own_letters(suffix, fmt)


# A word's contraction after the letters: "3000 - it's urgent", "2114-I'm away" are sentences, never a name's suffix.
_CONTRACTION_AFTER = re.compile(r"^['’]\w")
# A sentence going on after the letters, in small letters: "8814 - I can't open that inbox", "2114 - A friend ordered
# it". A name's suffix is followed by the end, a mark, another detail or a new sentence, never by a clause's next word.
_WORDS_GO_ON = re.compile(r"^[ \t]+[a-z][a-z'’]*\b")


def _suffix_of_name(text: str, found: re.Match[str], fmt: NameFormat | None) -> bool:
    """Whether the dashed letters after a number (`_SUFFIXED_ORDER`) are part of an order's name, not the next
    words of the sentence: the shop's own suffix (`_own_suffix`), and written as a name is, not as prose. Lowercase
    after a dash with spaces round it ("2114 3000 - it's urgent", "3000 - me again"), a contraction ("3000-it's"),
    a word that is never a suffix ("3000 - OK"), a capital after a spaced dash that a sentence goes on from ("8814 -
    I can't get in"), or, where the shop's format is unknown, capitals in a message shouted in capitals, are words:
    the numbers before them stay bare (an order and its postcode, or two orders)."""
    name = found.group(1)
    dash = re.search(r"\s?-\s?", name)
    suffix = name[dash.end() :] if dash else ""
    if _CONTRACTION_AFTER.match(text[found.end() :]) or suffix.upper() in _NOT_SUFFIXES:
        return False
    spaced = dash is not None and " " in dash.group() and suffix.isalpha()
    if spaced and fmt is not None and suffix.upper() in re.findall(r"[A-Z]+", fmt.suffix.upper()):
        return True  # the shop's own suffix letters, however typed ("5101 - ab" in a shop of "-AB" names)
    if spaced and (suffix.islower() or (fmt is None and _shouted(text))):
        return False
    if spaced and suffix.isalpha() and _sentence_goes_on(text, found.end()):
        return False  # a dash of punctuation, then a sentence: "8814 - I can't get into my email"
    return _own_suffix(name, fmt)


def _sentence_goes_on(text: str, end: int) -> bool:
    """Whether the capitals ending at text[end] start a sentence that goes on in small letters ("- I can't get in")."""
    return _WORDS_GO_ON.match(text[end:]) is not None


def _shouted(text: str) -> bool:
    """Whether a message is written in capitals ("ORDER 2114 3000 - ME AGAIN"): its capitals then say nothing."""
    letters = re.sub(r"[^A-Za-z]", "", text)
    return len(letters) >= 6 and letters.isupper()


def _spaced_names(text: str, fmt: NameFormat | None = None) -> list[tuple[int, str]]:
    """Order names typed with spaces ("QRS 7310 IE", "AB 7312"), where each starts: capitals that are neither a word
    nor a currency code and, when the shop's format is known, are its own letters ("TX 73301" in a shop of plain
    numbers is a state and a ZIP). Letters after the number that are not the shop's, or that start a sentence, are no
    part of the name."""
    found = []
    for m in _SPACED_ORDER.finditer(text):
        prefix, digits, suffix = m.groups()
        if prefix in _NOT_PREFIXES or not _shop_letters(prefix, fmt) or not _own_letters(prefix, fmt):
            continue
        between = text[m.start(2) + len(digits) : m.start(3)] if suffix else ""
        # "AB 7312 - I think it shipped", "AB 7312 I can't log in": a dash of punctuation or a one-letter word, then
        # a sentence going on: the capitals are its first word.
        sentence = (
            suffix and (("-" in between and " " in between) or len(suffix) == 1) and _sentence_goes_on(text, m.end())
        )
        parts = [prefix, digits] + ([suffix] if suffix and _own_letters(suffix, fmt) and not sentence else [])
        found.append((m.start(), "-".join(parts)))
    return found


def _is_amount(text: str, start: int, end: int) -> bool:
    """Whether the number at text[start:end] is an amount of money: money words or a currency mark say so ("got 120
    back", "a refund of 120", "it cost me 1200", "the 340 I paid"); a number typed alone never is."""
    before, after = text[:start], text[end:]
    if _AMOUNT_BEFORE.search(before) or _AMOUNT_AFTER.match(after) or _symbol_before(before):
        return True
    if _PAID_BY_AFTER.match(after) and not _ORDER_CUE.search(before):
        return True  # "I sent 3500 by EcoCash": the means of paying makes it money ("order 4410 via PayPal" stays)
    return bool(_POINTED_BEFORE.search(before) and _PAID_AFTER.match(after))


def _symbol_before(before: str) -> bool:
    """Whether a currency symbol written in letters stands just before a number, as the currency writes it ("R 450",
    "kr 120", "RM 89"): glued ("R450") the number is no bare one; spaced it is the amount."""
    word = re.search(r"(?<![\w$€£¥])([A-Za-z]+) ?$", before)
    return word is not None and word.group(1) in _letter_currency_symbols()


def _is_year(text: str, number: re.Match[str]) -> bool:
    """ "I ordered in 2025", "since March 2025", "from 2019 onwards": a year beside words that date it (a plausible
    year only, so "the lamp in 7310" is still an order)."""
    if not _YEAR.fullmatch(number.group(1)):
        return False
    return bool(_YEAR_CONTEXT.search(text[: number.start()]) or _YEAR_AFTER.match(text[number.end() :]))


def _maybe_year(text: str, number: re.Match[str]) -> bool:
    """ "From 2019", "of 2024": a plausible year after a word that dates a number only sometimes."""
    return bool(_YEAR.fullmatch(number.group(1)) and _MAYBE_YEAR_CONTEXT.search(text[: number.start()]))


def _plain_numbers(text: str) -> list[re.Match[str]]:
    """The bare numbers in a message that are neither a year, an amount of money nor a street address's house number:
    each may be an order or a code. A number only maybe dated ("the status of 2019") is a year only beside another
    number that can be the order."""
    found = [
        m
        for m in _BARE_NUMBER.finditer(text)
        if not _is_year(text, m) and not _is_amount(text, m.start(), m.end()) and not _house_number(text, m)
    ]
    if not found:
        found = [m for m in _BARE_NUMBER.finditer(text) if _order_asked_for(text, m)]
    maybe = [m for m in found if _maybe_year(text, m)]
    if not maybe:
        return found
    surely = [m for m in found if m not in maybe]
    return surely if surely or _names_another_order(text, maybe) else found


# A street's name after a house number, then its kind ("27 Birch St", "88 old mill rd."), or the kind first
# ("301 rue Notre-Dame"): `prompts/reading.toml` [addresses].
_STREET_AFTER = re.compile(
    r"\s+(?:(?:[A-Za-z][A-Za-z'’\-]*\.?\s+){1,3}"
    rf"(?:{prompts.either('addresses', 'street_kinds')})\.?(?![\w'’\-])"
    rf"|(?:{prompts.either('addresses', 'kinds_before_name')})\s+(?=[^\W\d_]))",
    re.IGNORECASE,
)
_NOT_IN_STREET = frozenset(prompts.words("addresses", "not_in_name"))


def _house_number(text: str, number: re.Match[str]) -> bool:
    """Whether a bare number starts a street address ("please send it to 27 Birch St", "88 Larch Crescent"):
    a street's name and kind follow it, no word of a sentence among them ("5208 was left on the drive"), and no word
    naming an order stands just before it ("order 5208 ...")."""
    street = _STREET_AFTER.match(text, number.end())
    if street is None or _ORDER_CUE.search(text[: number.start()]):
        return False
    return not _NOT_IN_STREET & set(_words(street.group()))


# "Refund 5530 now": a word of paying that asks for something done to an order, right before the number.
_ORDER_AS_OBJECT = prefiltered(rf"\b(?:{prompts.either('order_as_object', 'verbs')})\s*$", re.IGNORECASE)


def _order_asked_for(text: str, number: re.Match[str]) -> bool:
    """Whether a number read as money is the order a request is about ("refund 5530 now, it doesn't fit"): it
    stands right after a word asking for something done to an order, nothing marks it as money ("$", "dollars",
    "120 back") and the message names no order by another shape. Asked only when no other number can be the order."""
    if _is_year(text, number) or _AMOUNT_AFTER.match(text[number.end() :]):
        return False
    before = text[: number.start()]
    if re.search(r"[$€£¥]\s*$", before) or not _ORDER_AS_OBJECT.search(before):
        return False
    return not _names_another_order(text, [number])


def _names_another_order(text: str, numbers: list[re.Match[str]]) -> bool:
    """Whether the message names an order by a name of another shape ("#2786", "AB-7310", "5301KRW") than these
    bare numbers."""
    mine = {m.group(1) for m in numbers}
    for pattern in (_PREFIXED_NUMBER, _NAMED_ORDER, _SUFFIXED_ORDER, _GLUED_SUFFIX):
        for found in pattern.finditer(text):
            digits = re.sub(r"\D", "", found.group(1))
            if digits and digits not in mine:
                return True
    return False


# What glued before a number makes it part of an order's name, not a postcode: "RH-2610", "#2610", "AB2610".
_NAME_BEFORE = re.compile(r"(?:[A-Za-z]-?|#\s*)$")


def _named_after(rest: str, number: re.Match[str], fmt: NameFormat | None) -> bool:
    """Whether a number is written as an order's name with its suffix ("2610-KX", "2610 - KX"), not a postcode
    followed by words ("3000 - it's urgent"): the letters after it read as `_suffix_of_name` reads them."""
    found = _SUFFIXED_ORDER.match(rest, number.start())
    lettered = found is not None and re.search(r"[A-Za-z]", found.group(1)) is not None
    return found is not None and lettered and _suffix_of_name(rest, found, fmt)


def _postcode_beside(rest: str, order_number: str, *, emails: int = 0, fmt: NameFormat | None = None) -> str | None:
    """A bare code-shaped number beside the order number ("XY-0053 10001", "order 2114 3000") is the postcode;
    not where the message names several orders ("orders 5521 and 5530", or an email for each: `_names_several`),
    nor a number written as an order's name with its suffix ("2610-KX (a@x.ca) and 2611-KX (b@y.ca)")."""
    if _names_several(rest, emails):
        return None
    others = [
        m.group(1)
        for m in _plain_numbers(rest)
        if m.group(1) not in order_number
        and _POSTAL_SHAPE.match(m.group(1))
        and not _NOT_A_CODE.search(rest[: m.start()])
        and not _NAME_BEFORE.search(rest[: m.start()])
        and not _named_after(rest, m, fmt)
    ]
    return others[0] if len(others) == 1 else None


# The act reader's name for "what's your return policy?", "do you ship to Canada?": read once the reader knows it
# (agent/playbook/acts.py), handled here by name so either side can land first.
POLICY_QUESTION = "policy_question"

# Acts that are about an order (so a message carrying one is answered with the order flow).
ORDER_ACTS: frozenset[Act] = frozenset(
    (
        "where_is_order", "give_details", "delivered_not_received", "ship_when", "package_followup",
        "status_meaning", "lost_number", "no_email_access", "cancel_request", "change_address", "refund_request",
        "return_request", "replacement", "missing_tracking", "damaged_item", "wrong_item", "missing_item",
    )
)  # fmt: skip
# Requests Lumen cannot carry out itself: it says so and offers the team.
REQUESTS: tuple[Act, ...] = (
    "cancel_request", "change_address", "refund_request", "return_request", "replacement", "missing_tracking",
)  # fmt: skip
# Something wrong with what arrived: look the order up, then offer the hand-off.
ITEM_PROBLEMS: tuple[Act, ...] = ("damaged_item", "wrong_item", "missing_item")
_SMALL_TALK: frozenset[Act] = frozenset(("greeting", "thanks", "goodbye"))


@dataclass(frozen=True)
class Intent:
    """What one message does: the acts the reader found (`agent/playbook/acts.py`), plus the details that stay
    exact (which package or item it names, an ordinal, what a follow-up asks about)."""

    acts: frozenset[Act] = frozenset()
    negated: frozenset[Act] = frozenset()
    platform: str | None = None  # the marketplace named, when the message is about another platform's order
    asks_why: bool = False
    ordinal: int | None = None  # "the second one", "the last package" (-1)
    focus: str | None = None  # a follow-up about one thing: "carrier", "eta", "refund", "return"
    item_words: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()  # Shopify statuses the message names ("in transit" -> IN_TRANSIT)
    status_words: tuple[tuple[str, str], ...] = ()  # each named status with the words it was named by
    terms: tuple[str, ...] = ()  # delivery terms the message names (`prompts/terms.toml`: "authority to leave")
    asked: str | None = None  # the words a "what does X mean?" asks about, as typed
    sure: frozenset[Act] = frozenset()  # acts read with high confidence

    def has(self, *acts: Act) -> bool:
        return any(a in self.acts for a in acts)

    def plus(self, acts: frozenset[Act]) -> Intent:
        """This message read together with worries the shopper voiced earlier."""
        return replace(self, acts=self.acts | acts)

    @property
    def greeting(self) -> bool:
        return self.has("greeting")

    @property
    def thanks(self) -> bool:
        return self.has("thanks")

    @property
    def goodbye(self) -> bool:
        return self.has("goodbye")

    @property
    def accept(self) -> bool:
        return self.has("accept") and not self.has("decline")

    @property
    def acknowledge(self) -> bool:
        return self.has("acknowledge") and not self.has("decline")

    @property
    def decline(self) -> bool:
        return self.has("decline") or (self.has("no_human") and not self.has("ask_human"))

    @property
    def human(self) -> bool:
        return self.has("ask_human") and not self.has("no_human")

    @property
    def no_human(self) -> bool:
        return self.has("no_human")

    @property
    def not_received(self) -> bool:
        return self.has("delivered_not_received")

    @property
    def other_platform(self) -> bool:
        return self.has("other_platform")

    @property
    def other_topic(self) -> bool:
        return self.has("out_of_scope", "injection")

    @property
    def order_related(self) -> bool:
        return bool(self.acts & ORDER_ACTS)

    @property
    def cancel_request(self) -> bool:
        return self.has("cancel_request")

    @property
    def refund_request(self) -> bool:
        return self.has("refund_request")

    @property
    def lost_number(self) -> bool:
        return self.has("lost_number")

    @property
    def request(self) -> Act | None:
        """The first request Lumen can't do itself, if the message makes one."""
        return next((a for a in REQUESTS if a in self.acts), None)

    @property
    def item_problem(self) -> Act | None:
        return next((a for a in ITEM_PROBLEMS if a in self.acts), None)

    @property
    def policy_question(self) -> bool:
        """A question about the shop's policies ("what's your return policy?"), not a request about an order."""
        return POLICY_QUESTION in self.acts

    @property
    def small_talk_only(self) -> bool:
        return bool(self.acts) and self.acts <= _SMALL_TALK


_FOCUS = {
    # A return question may mention the refund; the return answer covers both.
    "return": ("return", "returned", "returns", "returning"),
    # "Where's the rest of it?": what of the order hasn't come yet.
    "rest": ("rest", "remaining", "remainder"),
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
    "eta": (
        "when",
        "arrive",
        "arrival",
        "eta",
        "deliver",
        "delivery",
        "long",
        "soon",
        "get",
        "expect",
        "expected",
        "come",
        "coming",
        "today",
        "tomorrow",
        "due",
        # Past arrival, asked of the packages just listed ("which one already came", "did any of it arrive"): each
        # package's delivery date or estimate says which have come and which haven't.
        "came",
        "arrived",
        "delivered",
        "landed",
        "showed",
    ),
}
_ORDINALS = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "last": -1}
_CORRECTION = tuple(prompts.words("order_names", "correction"))
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


@lru_cache(maxsize=1)
def _answer_phrases() -> dict[str, tuple[str, ...]]:
    """`prompts/answers.toml`, each phrase written as `_answer_tokens` writes a message, longest first."""
    table = prompts.toml("answers.toml")
    # Other languages' words (`yes_languages`, ...) are words of their kind; a weak yes is a yes too.
    kinds: dict[str, list[str]] = {}
    for key, phrases in table.items():
        kind = key.removesuffix("_languages")
        kinds.setdefault(kind, []).extend(phrases)
        if key == "weak_yes_languages":
            kinds.setdefault("yes", []).extend(phrases)
    return {
        kind: tuple(sorted({" ".join(_answer_tokens(p)) for p in phrases} - {""}, key=len, reverse=True))
        for kind, phrases in kinds.items()
    }


# Pictures that stand for a word in a short answer (a thumbs-up, a tick): kept as tokens of their own. Skin tones, the
# variation selector and a joined gender sign ("🙅‍♀️") only restyle the picture before them.
_PICTURE = r"[\u2600-\u27bf\u2b05-\u2b55\U0001f000-\U0001f3fa\U0001f400-\U0001faff]"
_RESTYLE = re.compile(r"[\U0001f3fb-\U0001f3ff\ufe0f]|\u200d[\u2640\u2642]?")


def _answer_tokens(text: str) -> list[str]:
    plain = _RESTYLE.sub("", text.lower().replace("’", "").replace("'", ""))
    return re.findall(rf"\w+|{_PICTURE}", plain)


# Every model request of a turn replays the conversation, so each message is asked about again: read once.
@lru_cache(maxsize=4096)
def offer_answer(text: str) -> Literal["yes", "no"] | None:
    """How a message answers an open question (an offer to pass the case on), from `prompts/answers.toml`: "no" when
    it takes the request back anywhere ("actually nvm, it's fine"), or is nothing but words of no; "yes" when it is
    nothing but words of yes ("oui please"); None when it says more than an answer (the act reader decides then)."""
    said = _answer_kinds(text)
    if said is None:
        return None
    if "withdraw" in said:
        return "no"
    if "no" in said:
        return None if "yes" in said else "no"  # "nah go ahead", "no, please do": for the reader to weigh
    return "yes" if "yes" in said else None


@lru_cache(maxsize=4096)
def firm_yes(text: str) -> bool:
    """Whether a message is a yes strong enough to take up an offer made in passing ("if you'd like, I can ask the
    team"): nothing but words of yes, one of them more than an "ok" ("keen", "yes please", not "ok" or a thumbs-up,
    which as often only say the shopper read it)."""
    said = _answer_kinds(text)
    return (
        said is not None
        and said.get("yes", set()) - set(_answer_phrases()["weak_yes"]) != set()
        and not ({"no", "withdraw"} & said.keys())
    )


def _withdrawn(padded: str, phrase: str, continued: tuple[str, ...]) -> bool:
    """Whether a withdrawal's words stand in a message as one, not as a verb's own words that go on to a place or a
    person ("leave it with my neighbour", "did they leave it outside?")."""
    for found in re.finditer(re.escape(f" {phrase} "), padded):
        after = padded[found.end() - 1 :]
        if not any(after.startswith(f" {word} ") for word in continued):
            return True
    return False


def _answer_kinds(text: str) -> dict[str, set[str]] | None:
    """The phrases of each kind (`prompts/answers.toml`) a short answer is made of, longest phrase first whatever its
    kind ("nah yeah" is a yes, "yeah nah" a no); None when the message says more than an answer. A withdrawal
    anywhere ("actually nvm, it's fine") is the whole answer unless the message opens with a plain yes."""
    if service_change_asked(text) is not None:
        # "Can you tell UPS to just leave it at the door": a request of its own, whatever words of no it borrows.
        return None
    phrases = _answer_phrases()
    padded = f" {' '.join(_answer_tokens(_without_emails(text)))} "
    continued = phrases["withdraw_continued"]
    if any(_withdrawn(padded, p, continued) for p in phrases["withdraw"]):
        # "Yes please, I'll wait to hear from them" opens with a plain yes: that one is for the reader to weigh.
        opens_yes = any(padded.startswith(f" {p} ") for p in phrases["yes"] if p not in phrases["weak_yes"])
        return None if opens_yes else {"withdraw": set()}
    said: dict[str, set[str]] = {}
    for fine in _self_fine().finditer(padded):
        # "I'm alright thanks", "we're good": the shopper says they need nothing, a no however positive its word.
        said.setdefault("no", set()).add(fine.group(0).strip())
        padded = padded.replace(fine.group(0), " " * len(fine.group(0)), 1)
    conditional = _conditional_yes(padded)
    if conditional is not None:
        # "That'd be some good, thanks": the offered help weighed as good, in the conditional: a yes.
        said["yes"] = {"that would be good"}
        padded = padded[: conditional.start()] + " " + padded[conditional.end() :]
    asked = re.search(r"(?:\?|\.\.\.|…)\W*$", text) is not None
    for phrase, kind in _ranked_answers():
        if asked and kind == "yes" and phrase in phrases["not_yes_asked"]:
            continue
        if f" {phrase} " in padded:
            said.setdefault(kind, set()).add(phrase)
            while f" {phrase} " in padded:  # said twice over ("👍👍", "yes yes"): side by side, they share a space
                padded = padded.replace(f" {phrase} ", " " * (len(phrase) + 2))
    return None if padded.strip() else said


@lru_cache(maxsize=1)
def _ranked_answers() -> tuple[tuple[str, str], ...]:
    """Every phrase of no, yes and filler with its kind, the longest in words first whatever its kind."""
    phrases = _answer_phrases()
    pairs = [(p, kind) for kind in ("no", "yes", "filler") for p in phrases[kind]]
    return tuple(sorted(pairs, key=lambda pk: -len(pk[0].split())))


@lru_cache(maxsize=1)
def _self_fine() -> re.Pattern[str]:
    """ "I'm alright thanks", "we're all good", "nah I'm sorted for now" (`prompts/answers.toml` [self_subjects],
    [self_adverbs], [self_fine], [self_for_now]), over the tokens `_answer_tokens` writes: someone saying they are fine
    as they are, a polite no to an offer. Only before the message's end, `filler` or another answer word: "I'm fine
    with that" says what they are fine with (for the reader to weigh)."""
    table = prompts.toml("answers.toml")

    def alternatives(key: str) -> str:
        words = {" ".join(_answer_tokens(w)) for w in table[key]} - {""}
        return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))

    then = alternatives("filler") + "|" + alternatives("yes") + "|" + alternatives("no")
    return re.compile(
        rf"(?<= )(?:{alternatives('self_subjects')}) (?:(?:{alternatives('self_adverbs')}) ){{0,2}}"
        rf"(?:{alternatives('self_fine')}) (?:(?:{alternatives('self_for_now')}) )?(?=(?:(?:{then}) )*$)"
    )


def _conditional_yes(padded: str) -> re.Match[str] | None:
    """The first "that'd be some good" in a message that is one: a `mild_good` word ("nice") only with "that" for
    its subject or an intensifier ("that'd be nice", "it would be really nice"), as "it would be nice" alone is as often
    a wish ("... if it came") as a yes."""
    mild = set(prompts.toml("answers.toml")["mild_good"])
    for found in _good_if_done().finditer(padded):
        if found.group("that") or found.group("more").strip() or set(found.group("good").split()) - mild:
            return found
    return None


@lru_cache(maxsize=1)
def _good_if_done() -> re.Pattern[str]:
    """ "that'd be some good", "it would be a great help", "twould be lovely" (`prompts/answers.toml` [intensifiers],
    [good] and [mild_good]), over the tokens `_answer_tokens` writes (no apostrophes): the offered help said to be
    good. Not "it will be fine" (a "no need"): the future says what will happen anyway, only the conditional weighs
    the offer; "that'll be great" is the one future that does."""
    table = prompts.toml("answers.toml")

    def alternatives(*keys: str) -> str:
        words = [w for key in keys for w in table[key]]
        return "|".join(re.escape(" ".join(_answer_tokens(w))) for w in sorted(words, key=len, reverse=True))

    that = r"thatd|thatll|that would|that d|that s gonna"
    other = r"itd|twould|(?:it|this) (?:would|d)"
    return re.compile(
        rf"(?<= )(?:(?P<that>{that})|{other}) be (?:an? )?(?P<more>(?:(?:{alternatives('intensifiers')}) ){{0,2}})"
        rf"(?:an? )?(?P<good>(?:(?:{alternatives('good', 'mild_good')}) )+)"
        r"(?:(?:help|idea|thing|stuff|of you|of ye|of yous|service) )?(?:(?:so|then|now|indeed|altogether) )?",
    )


def second_thoughts(text: str) -> bool:
    """Whether a message takes back a no just said and says yes instead ("actually wait yeah, have someone look into
    it", "hmm on second thought, yes please"): a word of second thoughts (`prompts/answers.toml`) and a firm word of
    yes; a message that withdraws again ("actually never mind") does not."""
    phrases = _answer_phrases()
    padded = f" {' '.join(_answer_tokens(_without_emails(text)))} "
    if not any(f" {p} " in padded for p in phrases["second_thoughts"]):
        return False
    if any(f" {p} " in padded for p in phrases["withdraw"] if p not in phrases["second_thoughts"]):
        return False
    return any(f" {p} " in padded for p in phrases["yes"] if p not in phrases["weak_yes"])


def after_answer_words(clause: str) -> str:
    """A clause without the words of answer it opens with ("actually, ye know what, aye get someone on it" -> "get
    someone on it"): yes, filler and second thoughts (`prompts/answers.toml`), which dilute a short request read on its
    own."""
    phrases = _answer_phrases()
    opening = sorted({*phrases["yes"], *phrases["filler"], *phrases["second_thoughts"]}, key=len, reverse=True)
    # A yes that is also a verb of asking ("can", "boleh") is an answer only alone: "can someone check it" asks.
    asking = set(phrases.get("not_yes_asked", ()))
    tokens = " ".join(_answer_tokens(_without_emails(clause)))
    stripped = True
    while stripped and tokens:
        stripped = False
        for phrase in opening:
            if tokens == phrase or (tokens.startswith(phrase + " ") and phrase.split()[-1] not in asking):
                tokens, stripped = tokens[len(phrase) :].strip(), True
                break
    return tokens


def is_correction(text: str) -> bool:
    """ "Sorry, I meant 1043", "oops wrong one": the message corrects a detail given before."""
    return any(w in _CORRECTION for w in _words(_without_emails(text)))


def _spoken(*keys: str) -> str:
    """Words of `prompts/reading.toml` [spoken_email] as an alternation; a space in one may be any run of spaces."""
    return "|".join(prompts.either("spoken_email", key).replace("\\ ", "\\s+") for key in keys)


@lru_cache(maxsize=1)
def _spoken_email() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """An email address said aloud (`prompts/reading.toml` [spoken_email]); a spoken mark; a label right before."""
    part = r"[^\W_](?:[\w'+.\-]*[^\W_])?"
    label = r"[^\W_](?:[\w\-]*[^\W_])?"
    mark = rf"\s+(?:{_spoken('dot', 'underscore', 'dash')})\s+"
    dot = rf"(?:\s+(?:{_spoken('dot')})\s+|\.)"
    address = re.compile(
        rf"(?<![\w@.'+\-])(?P<local>{part}(?:{mark}{part})*)(?P<at>\s+(?:{_spoken('at')})\s+|\s*@\s*)"
        rf"(?P<domain>{label}(?:{dot}{label})+)(?![\w@])",
        re.IGNORECASE,
    )
    labelled = re.compile(
        rf"\b(?:{_spoken('labels')})\s*(?:(?:{_spoken('label_joins')})\s*)?[:=\-]?\s*$", re.IGNORECASE
    )
    return address, re.compile(mark, re.IGNORECASE), labelled


@lru_cache(maxsize=1)
def _marks() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Each spoken mark of an address and the character it stands for."""
    return tuple(
        (re.compile(rf"\s+(?:{_spoken(key)})\s+", re.IGNORECASE), mark)
        for key, mark in (("dot", "."), ("underscore", "_"), ("dash", "-"))
    )


def _typed(spoken: str) -> str:
    """One spoken part of an address as typed: "jo dot marsh" -> "jo.marsh"."""
    for pattern, mark in _marks():
        spoken = pattern.sub(mark, spoken)
    return spoken


# Every model request splits the whole conversation into turns again, and each turn's words are read this way.
@lru_cache(maxsize=4096)
def spoken_emails_typed(text: str) -> str:
    """The message with each email address said aloud written as typed ("email jo dot marsh at example dot com"
    -> "email jo.marsh@example.com"), so every reader takes it as the address it is. Words before an "at" are an
    address only when they hold a mark or a digit ("jo dot lee at ...", "jo99 at ...") or follow a label ("my email is
    jo at ..."); "I ordered at shop dot com" is left as said. The last part of the domain is letters ("com", "uk")."""
    address, marks, labelled = _spoken_email()

    def typed(found: re.Match[str]) -> str:
        local, domain = found.group("local"), found.group("domain")
        written = f"{_typed(local)}@{_typed(domain)}"
        last = re.split(r"\.", written)[-1]
        if found.group(0) == written or not re.fullmatch(r"[^\W\d_]{2,}", last):
            return found.group(0)
        said_as_address = marks.search(local) or re.search(r"[\d._\-]", local) or found.group("at").strip() == "@"
        if not (said_as_address or labelled.search(text[: found.start()])):
            return found.group(0)
        return written

    return address.sub(typed, text)


# The keys of `prompts/reading.toml` [digits_said], in the order of the digits they name.
_DIGIT_KEYS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@lru_cache(maxsize=1)
def _digits_said() -> tuple[re.Pattern[str], dict[str, str], dict[str, int]]:
    """A run of three words of digits or more, said as a number is read out ("seven two oh nine", "three oh eight five",
    "double four two one"); each digit's word and its digit; each repeating word and how many times it says the next."""
    digit = {w.lower(): str(n) for n, key in enumerate(_DIGIT_KEYS) for w in prompts.words("digits_said", key)}
    between = {w.lower(): "0" for w in prompts.words("digits_said", "zero_between")}
    times = {w.lower(): 2 for w in prompts.words("digits_said", "double")}
    times |= {w.lower(): 3 for w in prompts.words("digits_said", "triple")}
    word = "|".join(re.escape(w) for w in sorted({*digit, *between, *times}, key=len, reverse=True))
    run = re.compile(
        rf"(?<![\w@.'’\-])(?:{word})(?:(?:[ \t]*[,\-][ \t]*|[ \t]+)(?:{word})){{2,}}(?![\w@'’])", re.IGNORECASE
    )
    return run, digit | between, times


def _said_as_digits(words: list[str]) -> str | None:
    """The digits a run of digit words says ("seven two oh nine" -> "7209"), or None where it is no number: fewer than
    three digits, fewer than two words that only name a digit (not "oh", which is also an interjection), a leading
    "oh", or a repeating word with no digit after it."""
    _, digit, times = _digits_said()
    between = {w.lower() for w in prompts.words("digits_said", "zero_between")}
    if words[0] in between or words[-1] in times:
        return None
    said, repeat = "", 1
    for word in words:
        if word in times:
            repeat = times[word]
            continue
        said, repeat = said + digit[word] * repeat, 1
    plain = sum(1 for w in words if w in digit and w not in between)
    return said if len(said) >= 3 and plain >= 2 else None


# Every model request splits the whole conversation into turns again (as for `spoken_emails_typed`).
@lru_cache(maxsize=4096)
def spoken_numbers_typed(text: str) -> str:
    """The message with each number said in words as it is read out written in digits ("order number seven two oh
    nine" -> "order number 7209", "tres ocho cero cinco" -> "3805"), so every reader takes it as the number it is, as
    `spoken_emails_typed` does for an address said aloud (`prompts/reading.toml` [digits_said])."""
    run, _, _ = _digits_said()

    def typed(found: re.Match[str]) -> str:
        words = [w.lower() for w in re.split(r"[\s,\-]+", found.group()) if w]
        return _said_as_digits(words) or found.group()

    return run.sub(typed, text)


def _without_emails(text: str) -> str:
    # An address like sales.rep@example.com or otto@target.de says nothing about what the shopper wants.
    return EMAIL.sub(" ", text)


@lru_cache(maxsize=1)
def _status_names() -> dict[str, tuple[str, ...]]:
    table = prompts.toml("replies.toml")["status_names"]
    return {code: tuple(" ".join(_words(n)) for n in names) for code, names in table.items()}


def order_numbers(text: str, postal_code: str | None = None, name_format: NameFormat | None = None) -> list[str]:
    """Every order number in a message that names several ("orders 1234 and 5678", "#1234 & #5678"); letters typed
    beside a number are read by the shop's `name_format` when known (as `extract_details` reads them)."""
    rest = _payment_references_blanked(_phones_blanked(EMAIL.sub(" ", text)))
    rest = _BOX_THEN_CODE.sub(lambda found: " " * len(found.group()), rest)  # a P.O. box's number is no order
    if postal_code:
        rest = rest.replace(postal_code, " ")
        if postal_code.isdigit():  # read from its groups ("560 034"): no group of it is another order
            rest = re.sub(r"(?<!\d)" + " ?".join(postal_code) + r"(?!\d)", " ", rest)
    # Where each starts, so names typed whole ("QRS7310IE", "QRS 7314 IE") keep their place among bare numbers.
    own, rest = _shop_format_names(rest, name_format)
    found = [(name.start, name.name) for name in own]
    found += _spaced_names(rest, name_format)
    found += [
        (m.start(), m.group(1))
        for m in _NAMED_ORDER.finditer(rest)
        if not _POSTAL_SHAPE.match(m.group(1)) and _shop_letters(m.group(1), name_format)
    ]
    found += [(m.start(), m.group(1)) for m in _PREFIXED_NUMBER.finditer(rest) if re.search(r"\d", m.group(1))]
    # A bare number is another order only when it looks like the names beside it (as many digits as "ZQ4410"):
    # beside a named order, a ZIP ("ZQ4410 60614") or an amount ("got 120 back on ZQ4412") is no second order.
    lengths = {len(re.sub(r"\D", "", n)) for _, n in found}
    found += [(m.start(), m.group(1)) for m in _plain_numbers(rest) if not lengths or len(m.group(1)) in lengths]
    numbers: list[str] = []
    for _, number in sorted(found):
        # By digits: a shop's "AB-7310" is what its shoppers also type as "7310".
        if re.sub(r"\D", "", number) not in {re.sub(r"\D", "", n) for n in numbers}:
            numbers.append(number)
    return numbers


def emails_by_order(text: str, numbers: Sequence[str]) -> dict[str, str]:
    """Each order's own email when a message names several orders and as many emails ("check 1234 (me@x.com) and my
    wife's 5678 (her@y.com)", "a@x.com for 1234, b@y.com for 5678"): paired in the order they are written. Empty when
    the counts differ (one email for every order, or emails that can't be told apart)."""
    emails = list(dict.fromkeys(m.group(0).strip(".") for m in EMAIL.finditer(text)))
    if len(numbers) < 2 or len(emails) != len(numbers):
        return {}
    blanked = EMAIL.sub(lambda m: " " * len(m.group(0)), text)
    placed = []
    for number in numbers:
        digits = re.sub(r"\D", "", number)
        found = re.search(rf"(?<!\d){digits}(?!\d)", blanked) if digits else None
        if found is None:
            return {}
        placed.append((found.start(), number))
    return {number: email for (_, number), email in zip(sorted(placed), emails, strict=True)}


def named_statuses(text: str) -> tuple[str, ...]:
    """Shopify statuses a message names in words: "what does in transit mean?" -> ("IN_TRANSIT",)."""
    return tuple(code for code, _ in status_words(text))


# Asked of one message by several readers in each model request: read once.
@lru_cache(maxsize=4096)
def status_words(text: str) -> tuple[tuple[str, str], ...]:
    """The statuses a message names, each with the words it names it by: "why does it say exception" ->
    (("FAILURE", "exception"),), so a reply can say the shopper's own word back."""
    lowered = " " + " ".join(_words(text)) + " "
    found: dict[str, str] = {}
    for code, names in _status_names().items():
        said = [name for name in names if f" {name} " in lowered]
        if said:
            found[code] = max(said, key=len)
    # "carrier picked up" names PICKED_UP too; the longer name is the one meant.
    return tuple((c, w) for c, w in found.items() if not any(c != o and c in o for o in found))


def statuses_opening(message: str) -> tuple[str, ...]:
    """The statuses a carrier's update opens with: "Delayed due to weather" -> ("DELAYED",); not "Your parcel will
    be delivered today" (a status named later in an update is often one to come)."""
    opening = " ".join(_words(message))
    return tuple(c for c, w in status_words(message) if opening.startswith(w))


def statuses_as_shown(named: Sequence[str], shown: Sequence[str]) -> tuple[str, ...]:
    """The statuses a shopper names, read against the statuses their order shows: a name that is part of the name of
    one the order shows is short for it ("picked up" of a parcel "picked up by the carrier" is that, not a collection
    from a pickup point; "shipped" of a "partially shipped" order is that), unless the order shows the named status
    itself. Other names stay as named."""
    names = _status_names()

    def short_for(code: str, other: str) -> bool:
        return any(f" {n} " in f" {o} " for n in names.get(code, ()) for o in names.get(other, ()))

    read = (code if code in shown else next((own for own in shown if short_for(code, own)), code) for code in named)
    return tuple(dict.fromkeys(read))


@lru_cache(maxsize=1)
def _terms() -> dict[str, tuple[str, ...]]:
    return {
        key: tuple(" ".join(_words(n)) for n in entry["names"]) for key, entry in prompts.toml("terms.toml").items()
    }


def terms_named(text: str) -> tuple[str, ...]:
    """Delivery terms a message names in words (`prompts/terms.toml`): "what's ATL?" -> ("authority_to_leave",)."""
    lowered = " " + " ".join(_words(text)) + " "
    return tuple(key for key, names in _terms().items() if any(f" {n} " in lowered for n in names))


_ASKED = re.compile(
    r"\bwhat(?:'s| is| does| do)\s+[\"'‘“]?(?P<a>[^\"'’”?]+?)[\"'’”]?\s+(?:mean|means|stand for)\b"
    r"|\bmeaning of\s+[\"'‘“]?(?P<b>[^\"'’”?.!]+)",
    re.IGNORECASE,
)


def asked_phrase(text: str) -> str | None:
    """The words a "what does X mean?" asks about: "what does 'with rural delivery contractor' mean" -> "with rural
    delivery contractor"; None for any other message, or a pronoun ("what does that mean")."""
    found = _ASKED.search(text.replace("’", "'"))
    if found is None:
        return None
    phrase = (found.group("a") or found.group("b") or "").strip(" \"'")
    return None if phrase.lower() in ("that", "this", "it", "that status", "this status", "the status") else phrase


SURE = 0.9
UNSURE = 0.3
# Below this a request is the reader's top act only because it must name one (every act read far from likely). At
# 0.05, not 0.1: "Refund me." beside a parcel marked delivered reads as a refund at 0.08-0.09, and is one.
FAINT = 0.05
_SAFE_GUESSES: tuple[Act, ...] = ("missing_item", "delivered_not_received", "where_is_order")


def words_only(text: str) -> str:
    """The message without its order numbers, emails and postcodes: the words that say what the shopper wants."""
    rest = EMAIL.sub(" ", text)
    for pattern in (_SHAPED_POSTAL, _SPACED_ORDER, _SUFFIXED_ORDER, _PREFIXED_NUMBER, _NAMED_ORDER, _BARE_NUMBER):
        rest = pattern.sub(" ", rest)
    return rest


def _read(text: str) -> ActReading:
    """The reader's acts; when details drown the words ("it never came. XY-0042 a@b.jp" reads as details only),
    the words are read on their own and the details kept as `give_details`."""
    reading = read_acts(text)
    if reading.top != "give_details":
        return reading
    words = words_only(text)
    if len(re.findall(r"[A-Za-z]{2,}", words)) < 3:
        return reading
    alone = read_acts(words)
    if alone.top in ("give_details", "accept", "decline", "acknowledge"):
        return reading  # "1234 please", "ok #1234": the details are the message
    acts: tuple[Act, ...] = alone.acts
    if alone.probabilities[alone.top] < UNSURE:
        # Unsure what the words want: answer the order, unless the guess is one whose answer shows the order's
        # facts anyway (a missing parcel gets the delivery facts and the team offered, a wrong guess costs little).
        acts = ("where_is_order",) if alone.top not in _SAFE_GUESSES else (alone.top,)
    acts = (*acts, "give_details") if "give_details" not in acts else acts
    return alone.model_copy(update={"text": text, "acts": acts})


def _unnamed_platform_beside_details(text: str, reading: ActReading) -> bool:
    """Another platform read without any marketplace named, less than surely, in a message that gives an order
    number or an email: the details are for an order here (a shop named in words is judged by the playbook, which
    knows this shop's name: `foreign_shop`)."""
    if reading.platform is not None or reading.probabilities.get("other_platform", 0.0) >= SURE:
        return False
    details = extract_details(text, None)
    return bool(details.order_number or details.email)


# "I ordered it from Maple Goods", "bought it via maplegoods.com", "bought a Le Creuset pan at Maple Goods", "got it
# off Maple Goods": the business (or web address) named after the words that say where an order was placed, the
# thing bought between them in any case (an item's name has capitals too). Whether it is another shop is judged by
# `foreign_shop`.
_FOREIGN_SHOP = re.compile(
    r"\b(?i:order(?:ed)?|bought|purchased|got it|placed)\s+(?:[\w'’\-]+\s+){0,4}?(?i:from|on|through|via|at|off)\s+"
    r"(?:(?:the|a)\s+)?"
    r"(?:(?P<domain>(?i:[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.[a-z]{2,12}))\b"
    r"|(?P<name>[A-Z][\w&'’\-]*(?:\.(?!\s|$))?(?:\s+(?:&\s+)?[A-Z][\w&'’.\-]*){0,3}))"
    r"(?P<after>\s+(?:website|web\s?site|site|app|online\s+store|webshop|web\s?store)\b)?",
)
# Capitalised words after "ordered on/from" that name no business: days, months, sale days, payment methods.
_NOT_A_SHOP = re.compile(
    rf"^(?:{MONTH_PATTERN}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|black friday|cyber monday|"
    r"boxing day|christmas|xmas|easter|prime day|paypal|visa|mastercard|amex|klarna|afterpay|apple pay|google pay|"
    r"shop pay|i|my|mobile|desktop|web|the|your|this|here)\b",
    re.IGNORECASE,
)
# Words too common in a shop's name to tell one shop from another ("The Tea Shop" and "The Book Shop").
_COMMON_NAME_WORDS = frozenset(prompts.words("shops", "common_name_words"))
_POSSESSIVE = re.compile(r"(?:['’]s|s['’])$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _shop_words() -> frozenset[str]:
    """`prompts/shop_words.txt`: words a business's name is made of and a town's or a person's is not."""
    lines = (line.strip() for line in prompts.text("shop_words.txt").splitlines())
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def _name_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower().replace("’", "'").replace("'s", ""))


def _squashed(text: str) -> set[str]:
    """A name written as one token, the way a web address writes it: "Maple & Moss" -> mapleandmoss, maplemoss."""
    words = [w for w in _name_words(text.replace("&", " and ")) if w not in ("www",)]
    whole = "".join(words)
    return {whole, "".join(w for w in words if w not in ("and", "the"))} - {""}


def _initials(text: str) -> set[str]:
    """ "Maple & Moss" -> {"mm", "mam"}: a shop's name as its initials, with or without the "and"."""
    words = _name_words(text.replace("&", " and "))
    core = [w for w in words if w not in ("and", "the")]
    return {"".join(w[0] for w in core), "".join(w[0] for w in words)} - {""}


def _address_label(name: str) -> str | None:
    """The first label of a web address ("www.maplegoods.co.uk" -> "maplegoods"); None for a name in words."""
    name = name.strip().lower()
    if " " in name or "." not in name:
        return None
    return name.removeprefix("www.").split(".")[0]


def is_own_shop(name: str, own: Sequence[str]) -> bool:
    """Whether `name` (as a shopper typed it) names this shop: a word of its name, its initials ("H&P"), or its web
    address ("mapleandmoss.com"); `own` holds the shop's name, the assistant's and the shop's domains."""
    return any(_names(name, mine) for mine in own if mine)


def _names(typed: str, mine: str) -> bool:
    """Whether `typed` names `mine` (a name in words, or a web address)."""
    mine_label = _address_label(mine)
    spelled = mine_label.replace("-", " ") if mine_label else mine
    words = {w for w in _name_words(spelled) if len(w) >= 3} - _COMMON_NAME_WORDS
    label = _address_label(typed)
    if label is not None:
        return bool(_squashed(label) & _squashed(spelled)) or any(w in label for w in words if len(w) >= 4)
    if set(_name_words(typed)) & words:
        return True
    letters = re.sub(r"[^a-z]", "", typed.lower())
    return bool(re.fullmatch(r"[A-Z&.\s]{2,9}", typed)) and letters in _initials(spelled)


def _named_as_business(name: str, found: re.Match[str]) -> bool:
    """Whether a name is surely a business's, not a town's or a person's: a web address, a known platform, a name
    that ends in a trade word or legal form ("Maple Goods", "Acme Ltd"), two names joined by "&" ("Crate & Barrel"),
    or a name called a website or app ("the Zara app")."""
    if found.group("domain") or found.group("after"):
        return True
    words = [w for w in _name_words(name) if w]
    if not words:
        return False
    platforms = {p.lower() for p in prompts.platforms()}
    last, trade = words[-1], _shop_words()
    if name.lower() in platforms or {last, last.removesuffix("s"), f"{last}s"} & trade:
        return True
    if _retailer_initials(name, found):
        return True
    return len(words) > 1 and bool(re.search(r"\w\s*&\s*[A-Z]", name))


# A name written as capital initials ("bought it from REI", "ordered from QVC", "got it at JCP"): that is how
# retailers and marketplaces write their names, and towns and people are not; three letters at least, as two are as
# often a state, province or country code ("ordered from CA").
_INITIALS = re.compile(r"[A-Z][A-Z&]{2,5}")


def _retailer_initials(name: str, found: re.Match[str]) -> bool:
    """Whether a name after "ordered ... from" is a retailer's initials: capitals only, in a message that is not
    written all in capitals (there capitals tell nothing), and not a carrier ("ordered it from you via UPS") or a
    country ("ordered from the USA")."""
    if not _INITIALS.fullmatch(name) or not re.search(r"[a-z]", found.string):
        return False
    return not _carrier_name(name) and not places_named(name) and name.upper() not in _capitals_no_shop()


@lru_cache(maxsize=1)
def _capitals_no_shop() -> frozenset[str]:
    """Capitals that name no shop: Babel's territory codes ("UK", "US"), `prompts/region_codes.txt` (states,
    provinces and cities: "NSW", "PEI", "NYC") and `prompts/capital_words.txt` (words: "WORK", "ASAP")."""
    codes = {str(code) for code in Locale("en").territories if str(code).isalpha()}
    for name in ("region_codes.txt", "capital_words.txt"):
        lines = (line.strip() for line in prompts.text(name).splitlines())
        codes |= {line for line in lines if line and not line.startswith("#")}
    return frozenset(c.upper() for c in codes)


@lru_cache(maxsize=1)
def _carriers() -> frozenset[str]:
    """`prompts/carriers.txt`, lower case: carriers ship an order, they are not where it was bought."""
    lines = (line.strip() for line in prompts.text("carriers.txt").splitlines())
    return frozenset(n.lower() for n in lines if n and not n.startswith("#"))


def _carrier_name(name: str) -> bool:
    return name.lower() in _carriers()


def foreign_shop(text: str, own: Sequence[str] = ()) -> str | None:
    """Another shop a message says an order was placed with ("ordered from Maple Goods" -> "Maple Goods"), if any.
    Only a name that is surely a business's (`_named_as_business`) and not this shop's (`own`: its name, the
    assistant's, its domains) is one; a town ("ordered from Leeds"), a person ("from Sarah's account"), a day, a
    month, a payment method or a country never is."""
    plain = _without_emails(text)
    for found in _FOREIGN_SHOP.finditer(plain):
        name = (found.group("domain") or found.group("name") or "").strip(".")
        if _POSSESSIVE.search(name) or _NOT_A_SHOP.match(name) or places_named(name):
            continue  # "ordered from Sarah's account": a person's; "ordered on Monday", "from France"
        if is_own_shop(name, own):
            return None
        if _negated_at(plain, found.start("name") if found.group("name") else found.start("domain")):
            continue  # "I didn't order it on Zalando", "not from Backcountry": said not to be where it came from
        if _named_as_business(name, found):
            return name
    return None


def _negated_at(text: str, position: int) -> bool:
    """Whether a negation's scope covers `position` ("I didn't order it on [Zalando]"), or "not" stands just before
    the preposition that names the place of purchase ("I ordered from you, not from Zalando")."""
    if any(start <= position < end for start, end in negated_spans(text)):
        return True
    return bool(re.search(r"\b(?:not|never|n't)\s+(?:\w+\s+){0,1}$", text[:position].replace("’", "'"), re.IGNORECASE))


# One to three capitalised words, each with lower case after its capital: "Backcountry", "Williams Sonoma".
_CAPITALISED_NAME = re.compile(r"[A-Z][a-z][\w'’\-]*(?:\s+[A-Z][a-z][\w'’\-]*){0,2}")


def retailer_word(text: str, own: Sequence[str] = ()) -> str | None:
    """Capitalised words in the place a shop is named ("I got it from Backcountry", "ordered via Quillby", "bought it
    at Williams Sonoma"): maybe another retailer, maybe a town or a person ("ordered from Leeds", "from Priya"), which
    no rule can tell apart, so the playbook answers both ways (`other_platform_maybe`). None for anything
    `foreign_shop` judges, a name that is surely no shop (a carrier, a country, a city the time zones name, a day, a
    month, this shop, the start of a day's name: "on Thanksgiving weekend"), a person said so ("from Priya, she
    said"), a name under a negation, or a message shouted in capitals (there capitals tell nothing)."""
    plain = _without_emails(text)
    if not re.search(r"[a-z]", plain):
        return None
    for found in _FOREIGN_SHOP.finditer(plain):
        name = found.group("name") or ""
        if not _CAPITALISED_NAME.fullmatch(name) or _POSSESSIVE.search(name) or _NOT_A_SHOP.match(name):
            continue
        after = plain[found.end("name") :]
        if _no_retailer(name, own) or _negated_at(plain, found.start("name")) or _PERSON_OR_DAY_AFTER.match(after):
            continue
        return name
    return _lowercase_retailer(plain, own)


# A lowercase word where a shop is named, with no article before it and nothing after it but the message's end,
# punctuation or a time or a joining word: "bought bird seed on petly last month", "got it from zooplus, where is it".
_LOWER_SHOP = re.compile(
    r"\b(?:order(?:ed)?|bought|purchased|got it|got them|placed)\s+(?:[a-z]+\s+){0,3}?(?:from|on|through|via|at|off)\s+"
    r"(?P<name>[a-z][a-z'\-]{2,})"
    rf"(?=\s*(?:$|[,.;:!?)]|(?:{prompts.either('shops', 'after_lowercase_name')})\b))",
)
_BARE_AFTER_BUYING = frozenset(prompts.words("shops", "bare_after_buying"))


def _lowercase_retailer(plain: str, own: Sequence[str]) -> str | None:
    """`retailer_word` for a name typed in lowercase (as a whole message often is): a word everyday English puts bare
    after "ordered on / from" (`bare_after_buying`: "on sale", "from home", "on tues"), a day, a month, a carrier, a
    place or this shop is none; the name is given back with its capital, as shops write theirs."""
    for found in _LOWER_SHOP.finditer(plain):
        name = found.group("name")
        if name in _BARE_AFTER_BUYING or _NOT_A_SHOP.match(name) or _no_retailer(name, own):
            continue
        if _negated_at(plain, found.start("name")) or _PERSON_OR_DAY_AFTER.match(plain[found.end("name") :]):
            continue
        return name[0].upper() + name[1:]
    return None


# After a word in the place of purchase, what makes it a person's name or a day's, not a retailer's: "from Priya,
# she said", "on Thanksgiving weekend", "at Easter time".
_PERSON_OR_DAY_AFTER = re.compile(
    rf"^\s*(?:[,;:\-]\s*)?(?:(?:and\s+)?(?:{prompts.either('shops', 'person_after')})\b"
    rf"|(?:{prompts.either('shops', 'day_after')})\b)",
    re.IGNORECASE,
)


def _no_retailer(name: str, own: Sequence[str]) -> bool:
    """Whether a name is surely no retailer: a carrier, a country, a city (or a city's words: "New York City"), a code,
    this shop."""
    if _carrier_name(name) or places_named(name) or name.upper() in _capitals_no_shop():
        return True
    words = name.lower().split()
    cities = _cities()
    towns = any(" ".join(words[i:j]) in cities for i in range(len(words)) for j in range(i + 1, len(words) + 1))
    return towns or is_own_shop(name, own)


@lru_cache(maxsize=1)
def _cities() -> frozenset[str]:
    """Cities the time zones are named after (tz database and CLDR's exemplar cities: "Denver", "Halifax"), lower
    case: a word "ordered from" names that is one of them is where the shopper is, not a shop."""
    cities = {str(v["city"]) for v in Locale("en").time_zones.values() if "city" in v}
    cities |= {zone.rsplit("/", 1)[-1].replace("_", " ") for zone in zoneinfo.available_timezones() if "/" in zone}
    return frozenset(c.lower() for c in cities)


def names_no_other_shop(text: str, own: Sequence[str] = ()) -> bool:
    """Whether the message says where the order was placed ("ordered from Leeds", "bought it from <our site>") and
    that is no other shop: the act reader's unsure "another platform", with no marketplace named, is then wrong."""
    return _FOREIGN_SHOP.search(_without_emails(text)) is not None and foreign_shop(text, own) is None


@lru_cache(maxsize=4096)  # asked on every model request of a turn, of the same message
def shop_of_foreign_number(
    text: str, order_number: str | None, name_format: NameFormat | None, own: tuple[str, ...]
) -> str | None:
    """The shop a message names as where the order was placed ("ordered on Kestrelmall, order KM88231045"), when the
    order number beside it is not written the way this shop writes its order names (other letters round it, or two
    runs of digits where the shop has one): that number is the other shop's, so the order is theirs. None when the
    shop's format is unknown, the number fits it, or no shop is named (a number of ours beside a shop's name is looked
    up: "I usually buy on X but this one's from you, 1234")."""
    if order_number is None or name_format is None:
        return None
    if formatted_order_name(order_number, name_format.prefix, name_format.suffix) is not None:
        return None
    return foreign_shop(text, own) or retailer_word(text, own) or _name_before_order(text, own)


# A business's name as what kind of order it is: "my Kestrelmall order", "the Vinylhaus order", "Bazaarly order no.":
# at the message's start or after a word that owns the order, one to three capitalised words before "order".
_NAME_BEFORE_ORDER = re.compile(
    r"(?:^|\b(?i:my|the|an?|our|this|that|his|her|their)\s+)"
    r"(?P<name>[A-Z][a-z][\w'’&\-]*(?:\s+[A-Z0-9][\w'’&\-]*){0,2})\s+(?i:orders?|purchase)\b"
)


def _name_before_order(text: str, own: Sequence[str]) -> str | None:
    """The business an order is called by ("my Kestrelmall order KM88231045"); only beside a number that is not this
    shop's (`shop_of_foreign_number`), as "my Le Creuset order" alone is as often an item of this shop's."""
    plain = _without_emails(text)
    if not re.search(r"[a-z]", plain):
        return None
    for found in _NAME_BEFORE_ORDER.finditer(plain):
        name = found.group("name")
        if _NOT_A_SHOP.match(name) or _no_retailer(name, own) or _negated_at(plain, found.start("name")):
            continue
        return name
    return None


@lru_cache(maxsize=1)
def _shop_compared() -> re.Pattern[str]:
    """ "Is this the same as my Kestrel Market order?", "are you guys part of Brightwater?": the shopper asks whether
    this shop is another business, named with its capitals after one of `[other_shop] same_as`."""
    same = _phrase_pattern(prompts.words("other_shop", "same_as"))
    this = _phrase_pattern(prompts.words("other_shop", "this_shop"))
    return re.compile(
        rf"\b(?i:is|are|r)\s+(?i:{this})\s+(?i:{same})\s+(?:(?i:my|the|a|an|our|your)\s+)?"
        r"(?P<name>[A-Z][\w'’&\-]*(?:\s+(?:&\s+)?[A-Z0-9][\w'’&\-]*){0,2})"
    )


def shop_compared(text: str, own: Sequence[str] = ()) -> str | None:
    """The business a shopper asks whether this shop is ("is this the same as my Kestrel Market order?"): theirs to
    ask if the order was placed there, ours if not, so the playbook answers both ways. None for this shop, a day or a
    month ("the same as my Black Friday order"), a carrier, a place, or a message in capitals."""
    plain = _without_emails(text)
    if not re.search(r"[a-z]", plain):
        return None
    for found in _shop_compared().finditer(plain):
        name = found.group("name")
        if _NOT_A_SHOP.match(name) or _no_retailer(name, own) or _negated_at(plain, found.start("name")):
            continue
        return name
    return None


# Exact readings of two things the act reader may not hear in a shopper's own words, each a whole construction and
# not a word list: the parcel not in the shopper's hands ("I don't have it", "we never got the box"), and an item
# swapped for another ("swap it for a L", "exchange for a bigger size"). Either can be negated ("I don't want to swap").
_NOT_RECEIVED = prefiltered(
    r"\b(?:do ?n'?t|do not|have ?n'?t|have not|never|did ?n'?t|did not|still not)\s+(?:yet\s+)?"
    rf"(?:{prompts.either('not_received', 'verbs')})\s+"
    r"(?:it|them|anything|a thing|(?:the|my|our) (?:package|parcel|box|order|delivery|stuff))\b"
    r"(?!\s*(?:number|#|no\b|confirmation|email|e-mail|id\b))",
    re.IGNORECASE,
)
# The same with the object left unsaid, as many Englishes do ("never receive leh", "still not received yet", "haven't
# got ah"): the verb ends its clause but for "yet" and sentence particles (`prompts/reading.toml` [clause_end]). Not a
# bare "not" ("<order> not received"): read so, a later "all good, found it behind the bin" re-answers the order.
_NOT_RECEIVED_UNSAID = prefiltered(
    r"\b(?:do ?n'?t|do not|have ?n'?t|have not|never|nvr|did ?n'?t|did not|still not)\s+(?:yet\s+)?"
    rf"(?:{prompts.either('not_received', 'verbs')})"
    rf"(?:\s+(?:{prompts.either('clause_end', 'particles')}))*\s*(?=[.,;:!?)\n]|$)",
    re.IGNORECASE,
)
# The parcel as the subject of its not coming: "the ups box never showed up", "my second package didn't arrive", "it
# never turned up". Not "it didn't come with the charger" (an item missing from what came), nor a question or a
# future ("hasn't it arrived?", "if it doesn't arrive by Friday"): only "never" and the past "didn't".
_CAME = r"(?:show(?:ed)?\s+up|turn(?:ed)?\s+up|arrived?|came|come|got here|get here|made it|make it)\b"
_NOT_WITH = r"(?!\s+(?:with|in|through)\b)"
_NEVER_CAME = prefiltered(
    r"\b(?:never|did ?n'?t|did not)\s+(?:(?:actually|even|ever)\s+)?" + _CAME + _NOT_WITH,
    re.IGNORECASE,
)
# Nothing as the subject of the coming: "nothing turned up", "nothing's arrived", "nothin came" (the final g dropped,
# as said). Said of a parcel marked delivered, the shopper has none of it; said of one still on its way, the order's
# answer gives where it is (a parcel not received is answered only for one the carrier marked delivered).
_NOTHING_CAME = prefiltered(
    r"\bnothin(?:g|')?(?:'s|\s+(?:has|had))?\s+(?:(?:actually|even|ever|yet)\s+)?" + _CAME + _NOT_WITH,
    re.IGNORECASE,
)
# Nobody has the parcel: "no one here has it", "nobody at home got the box", "none of us signed for it".
_NOBODY_HAS = prefiltered(
    rf"\b(?:{prompts.either('not_received', 'nobody')})\s+(?:(?:here|at\s+(?:home|the\s+\w+)|in\s+the\s+\w+)\s+)?"
    rf"(?:(?:ever|even|actually)\s+)?(?:{prompts.either('not_received', 'nobody_verbs')})\s+"
    r"(?:it|them|anything|a thing|(?:the|my|our|a|any) (?:package|parcel|box|order|delivery|stuff))\b",
    re.IGNORECASE,
)
# The shopper denies what the carrier recorded them doing: "it says picked up at the post office but I never went
# there", "we didn't sign for it". Only "never" and the past "didn't", and not "yet" ("I haven't picked it up yet" is
# a parcel waiting, not one gone).
_DENIED = prefiltered(
    r"\b(?:i|we)\s+(?:(?:have\s+|had\s+)?never|did ?n'?t|did not)\s+(?:(?:ever|even|actually)\s+)?"
    rf"(?:{prompts.either('not_received', 'denied')})\b(?!\s+yet\b)",
    re.IGNORECASE,
)
# What did not come when it is no parcel: a message about the order ("my confirmation email never came", "the refund
# never came through", "the shipping notification never arrived"), or the shopper ("I didn't make it to the post
# office"): the last words before `_NEVER_CAME` in its clause.
_SUBJECT_PRONOUN = r"\b(?:i|we|you|he|she|they)\s*$"
_NOT_THE_PARCEL = re.compile(
    r"\b(?:e-?mails?|notifications?|notices?|refunds?|confirmations?|tracking(?:\s+(?:number|link|info|code))?|texts?|"
    r"sms|messages?|receipts?|invoices?|updates?|codes?|links?|replies|reply|response|money|credit)\s*$|"
    + _SUBJECT_PRONOUN,
    re.IGNORECASE,
)
# What follows "I don't have it" / "I haven't seen it" when "it" is not the parcel, or was in hand once: a place on a
# screen or in the mail ("in my account", "in my inbox", "on the website"), a detail not to hand ("handy", "on me",
# "written down"), or a time it had ("any more", "until today").
_NOT_IN_HAND = re.compile(
    r"^\s*(?:(?:in|on|at|from)\s+(?:my|the|your|our)?\s*(?:[a-z\-]+\s+)?(?:account|inbox|e-?mails?|app|website|"
    r"site|page|portal|profile|spam|junk|folder|history|system|screen|list|records?|tracking)\b|handy\b|on me\b|"
    r"with me\b|to hand\b|written down\b|saved\b|any ?more\b|any longer\b|until\b|till\b)",
    re.IGNORECASE,
)
# "Sorry, I don't get it, what does that mean?": "get it" asked about is understanding, not a parcel.
_ASKS_MEANING = prefiltered(rf"\b(?:{prompts.either('not_received', 'meaning')})\b", re.IGNORECASE)
_EXCHANGE = prefiltered(
    r"\b(?:swap|exchange|switch|trade)\b(?:\s+(?!rates?\b)(?:it|this|that|them|these|those|one|the|my|\w+))?\s+for\b"
    r"|\b(?:different|another|bigger|smaller|larger)\s+size\b|\bsize\s+(?:up|down)\b",
    re.IGNORECASE,
)
# What a shopper may take in place of the item that is money's worth, not another item: asked for, it is a refund-type
# request ("trade it for store credit", "swap it for a gift card", "a voucher instead").
_MONEY_IN_KIND = (
    r"(?:(?:store|shop|account|site)\s+)?credit(?:\s+notes?)?|gift\s*(?:cards?|vouchers?|certificates?)|e-?gift\s*cards?|"
    r"vouchers?|refunds?|(?:my\s+)?money(?:\s+back)?|cash"
)
_FOR_MONEY = re.compile(rf"^\s*(?:(?:a|an|some|the|my)\s+)?(?:{_MONEY_IN_KIND})\b", re.IGNORECASE)
_MONEY_INSTEAD = prefiltered(rf"\b(?:{_MONEY_IN_KIND})\s+instead\b", re.IGNORECASE)
_PAYING_BEFORE = prefiltered(
    rf"\b(?:{prompts.either('exchanges', 'paying_before')})\b(?:\s+\S+){{0,2}}\s*$", re.IGNORECASE
)
_FOR_SERVICE = re.compile(
    r"^\s*(?:(?:a|an|the|some)\s+)?(?:(?:faster|quicker|express|next[\s\-]day|tracked|standard|priority|expedited|"
    r"free|cheaper)\s+)?(?:delivery|shipping|postage|courier|service)\b|^\s*nothing\b",
    re.IGNORECASE,
)
# "Swap the mug set for the blue one", "exchange these boots for a 9": the item named in a few words between the verb
# and "for" (`_EXCHANGE` takes one word there). Not across a comma or a full stop; "exchange rates for" is no item.
_SWAP_ITEM = prefiltered(r"\b(?:swap|exchange)\b(?!\s+rates?\b)(?:\s+(?!for\b)[\w'’\-]+){2,4}?\s+for\b", re.IGNORECASE)
_NEGATED_BEFORE = prefiltered(r"\b(?:do ?n'?t|do not|not|no|never|wo ?n'?t)\b[^.,;!?]*$", re.IGNORECASE)


def _not_in_hand(text: str, found: re.Match[str]) -> bool:
    """Whether a `_NOT_RECEIVED` match says the parcel is not in the shopper's hands, not that a detail is not on a
    screen or to hand ("I don't see it in my account"), that it was had once ("I don't have them any more"), or that
    the shopper doesn't understand ("I don't get it, what does that mean?")."""
    if _NOT_IN_HAND.match(text[found.end() :]):
        return False
    understanding = re.search(r"\bget\s+it\b", found.group(0), re.IGNORECASE) and _ASKS_MEANING.search(text)
    return not understanding


def _parcel_never_came(text: str, found: re.Match[str]) -> bool:
    """Whether a `_NEVER_CAME` match says the parcel, a box or an item never came ("the lamp never came", "it says
    delivered but never came"), not a message about it or the shopper (`_NOT_THE_PARCEL`), nor a parcel late, not
    lost ("it didn't make it in time")."""
    clause = re.split(r"[.,;:!?]|\b(?:but|and|so)\b", text[: found.start()])[-1]
    if _NOT_THE_PARCEL.search(clause.strip()):
        return False
    return not re.match(r"\s+(?:in\s+time|on\s+time|before)\b", text[found.end() :], re.IGNORECASE)


def _unsaid_parcel_not_received(text: str, found: re.Match[str]) -> bool:
    """Whether a `_NOT_RECEIVED_UNSAID` match leaves the parcel unsaid, not a thing named before it ("refund not
    received yet", "the email never received"), nor "get" in the sense of understanding ("I don't get, what does
    that mean?")."""
    if _ASKS_MEANING.search(text):
        return False
    clause = re.split(r"[.,;:!?]|\b(?:but|and|so)\b", text[: found.start()])[-1].strip()
    # The shopper as the subject ("we never got") names no other thing.
    return not _NOT_THE_PARCEL.search(clause) or re.search(_SUBJECT_PRONOUN, clause, re.IGNORECASE) is not None


def _exact_acts(text: str) -> set[Act]:
    """The acts `_NOT_RECEIVED` and `_EXCHANGE` find in a message."""
    found: set[Act] = set()
    if (
        any(_not_in_hand(text, m) for m in _NOT_RECEIVED.finditer(text))
        or any(_unsaid_parcel_not_received(text, m) for m in _NOT_RECEIVED_UNSAID.finditer(text))
        or any(_parcel_never_came(text, m) for m in _NEVER_CAME.finditer(text))
        or _NOTHING_CAME.search(text)
        or any(_not_in_hand(text, m) for m in _NOBODY_HAS.finditer(text))
        or _DENIED.search(text)
    ):
        found.add("delivered_not_received")
    exchange = _EXCHANGE.search(text) or _SWAP_ITEM.search(text)
    if exchange and not _NEGATED_BEFORE.search(text[: exchange.start()]):
        # "Swap it for a bigger size" asks for another item; "trade it for store credit" for money's worth; "switch it
        # for next-day delivery" for a delivery service, which is no item at all.
        after = text[exchange.end() :]
        if _FOR_MONEY.match(after):
            found.add("refund_request")
        elif not _FOR_SERVICE.match(after):
            found.add("replacement")
    instead = _MONEY_INSTEAD.search(text)
    # "Can I pay with a gift card instead?" asks how to pay, not for money back.
    if (
        instead
        and not _NEGATED_BEFORE.search(text[: instead.start()])
        and not _PAYING_BEFORE.search(text[: instead.start()])
    ):
        found.add("refund_request")
    return found


@lru_cache(maxsize=1)
def _cased_platforms() -> re.Pattern[str] | None:
    """`prompts/platforms_cased.txt` as one pattern: each name as written, its leading "The" in either case."""
    lines = (line.strip() for line in prompts.text("platforms_cased.txt").splitlines())
    names = sorted((n for n in lines if n and not n.startswith("#")), key=len, reverse=True)
    if not names:
        return None
    written = [re.escape(n).replace("The\\ ", "[Tt]he\\ ", 1) if n.startswith("The ") else re.escape(n) for n in names]
    return re.compile(r"(?<!\w)(?:" + "|".join(written) + r")(?!\w)")


def _cased_platform(text: str) -> str | None:
    """A shop whose name is ordinary words, named with its capitals outside a negation: "from The Warehouse"."""
    pattern = _cased_platforms()
    if pattern is None:
        return None
    spans = negated_spans(text)
    for found in pattern.finditer(text):
        if not any(start <= found.start() < end for start, end in spans):
            return found.group(0)[0].upper() + found.group(0)[1:]
    return None


@lru_cache(maxsize=1)
def _meaning_patterns() -> tuple[re.Pattern[str], ...]:
    """ "What's a notice card?", "what is ATL", "door tag? what's that", "what do they mean by 'exception'": a question
    about what a delivery term or a status (`prompts/terms.toml`, `replies.toml` [status_names]) is, the term its
    object. Over `_words` (lowercase, no quotes)."""
    names = {n for ns in _terms().values() for n in ns} | {n for ns in _status_names().values() for n in ns}
    term = "(?:" + "|".join(re.escape(n) for n in sorted(names - {""}, key=len, reverse=True)) + ")"
    what = r"(?:what'?s|what is|what are|what does|what do|wat'?s|what exactly is|what'?s meant by)"
    return (
        re.compile(rf"(?:^| ){what} (?:(?:a|an|the|this|that|these|those|they|you|it) )?(?:mean by )?(?:a |an |the )?"
                   rf"{term}(?: (?:mean|means|stand for|exactly|then|now))?(?: |$)(?!is |was |has |got )"),
        re.compile(rf"(?:^| ){term} (?:what'?s|what is|what does|what do) (?:that|this|it|they)(?: mean)?(?: |$)"),
        re.compile(rf"(?:^| )(?:meaning of|explain|never heard of|what on earth is) (?:a |an |the )?{term}(?: |$)"),
    )  # fmt: skip


def meaning_asked(text: str) -> bool:
    """Whether a message asks what a delivery term or status it names means ("what's a notice card?", "what is
    'exception'"): a status-meaning question, whatever else the reader hears in it."""
    said = " ".join(_words(_without_emails(text)))
    return any(p.search(said) for p in _meaning_patterns())


def _in_context(intent: Intent, reading: ActReading, text: str) -> Intent:
    """The reading checked against what the message's words do: an address mentioned without asking for a change
    is no change of address; an item swapped for another is an exchange, not a return alone; a marketplace named
    as where the order was placed is another platform's order."""
    acts = intent.acts
    if meaning_asked(text):
        # "What's a notice card?" names a carrier's word: what it means, not a question about something else.
        acts = (acts - {"out_of_scope", POLICY_QUESTION}) | {"status_meaning"}
    if "change_address" in acts and not address_change_asked(text, reading.probabilities.get("change_address", 0.0)):
        acts = (acts - {"change_address"}) or frozenset({"where_is_order"})
    if "replacement" in acts and reading.probabilities.get("replacement", 0.0) < SURE and service_change_asked(text):
        # "Send it priority mail instead", "ask UPS to redeliver": a service or a word to the carrier, no new item.
        acts = (acts - {"replacement"}) or frozenset({"where_is_order"})
    swapped = _EXCHANGE.search(text) or _SWAP_ITEM.search(text)
    if {"replacement", "return_request"} <= acts and swapped and reading.probabilities.get("return_request", 0) < SURE:
        acts = acts - {"return_request"}  # "exchange the mug for another colour": the item back for another one
    if "other_platform" not in acts:
        platform = platform_of_purchase(_without_emails(text))
        if platform is not None:
            return replace(intent, acts=acts | {"other_platform"}, platform=platform)
    return replace(intent, acts=acts)


@lru_cache(maxsize=1)
def _reading_words() -> dict[str, dict[str, list[str]]]:
    return prompts.toml("reading.toml")


def _phrase_pattern(phrases: list[str]) -> str:
    ranked = sorted(phrases, key=len, reverse=True)
    return r"(?<![\w'])(?:" + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ranked) + r")(?![\w'])"


@lru_cache(maxsize=1)
def _address_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    words = _reading_words()["address_change"]
    return (re.compile(_phrase_pattern(words["asks"]), re.IGNORECASE),
            re.compile(_phrase_pattern(words["right"]), re.IGNORECASE))  # fmt: skip


# Many readers of a message read it outside its negations: blanked once.
@lru_cache(maxsize=4096)
def _outside_negation(text: str) -> str:
    """The message with every span under a negation blanked out ("I don't [want to change it]")."""
    text = text.translate(APOSTROPHES)
    for start, end in negated_spans(text):
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def address_change_asked(text: str, probability: float) -> bool:
    """Whether a message the reader hears as a change of address (with this `probability`) asks for one: with words
    that ask for a change outside a negation ("can it go to my work instead", "I put the wrong postcode"), or, heard
    surely, unless it says the address is right ("evri says address not found, my address is fine!")."""
    asks, said_right = _address_words(text)
    return asks or (probability >= SURE and not said_right)


# Asked on every model request of a turn, of the same message, with the whole reading's probability and without one:
# the words are read once.
@lru_cache(maxsize=4096)
def _address_words(text: str) -> tuple[bool, bool]:
    """Whether a message asks for a change of address in words, and whether it says the address is right (or asks
    for another shipping service, whose words ask for no other address: then only the words ask)."""
    asks, right = _address_patterns()
    plain = _outside_negation(_without_emails(text))
    shipping = shipping_change_spans(plain)
    if shipping:
        # "Can you ship it express instead?": the words that ask for another service ask for no other address; a
        # change of address is asked only by words outside them ("ship it express, and change the address").
        for start, end in shipping:
            plain = plain[:start] + " " * (end - start) + plain[end:]
        return bool(asks.search(right.sub(" ", plain))), True
    return bool(asks.search(right.sub(" ", plain))), bool(right.search(plain))


@lru_cache(maxsize=1)
def _purchase_patterns() -> tuple[re.Pattern[str], ...]:
    words = _reading_words()["platform_purchase"]
    everyday = set(words["everyday"])
    names = sorted(prompts.platforms(), key=len, reverse=True)
    # A name that is an everyday word counts only with its capitals: "(?-i:Target)".
    name = "(?:" + "|".join(f"(?-i:{re.escape(n)})" if n in everyday else re.escape(n) for n in names) + ")"
    name = rf"(?P<name>{name})(?![\w'])"
    things = _phrase_pattern(words["things"])
    owner = r"\b(?:my|the|our|this|that|an?|his|her|their|those|these)\s+"
    bought = _phrase_pattern(words["bought"])
    through = _phrase_pattern(words["through"])
    return (
        re.compile(owner + name + r"\s+" + things, re.IGNORECASE),  # "my vinted parcel"
        re.compile(bought + r"(?:\s+[\w'\-]+){0,5}?\s+" + through + r"\s+" + name, re.IGNORECASE),  # "bought it on X"
        re.compile(r"(?<![\w'])" + name + r"\s+order\s*(?:number|no\b|#|id\b|ref)", re.IGNORECASE),  # "X order no."
    )


_GOT_NO_PURCHASE = prefiltered(
    rf"\bgot\s+(?:an?\s+|some\s+)?(?:{prompts.either('platform_purchase', 'not_bought')})s?\b", re.IGNORECASE
)


def platform_of_purchase(text: str) -> str | None:
    """The marketplace (`prompts/platforms.txt`) a message names as where its order was placed or whose parcel it is
    ("my vinted parcel", "bought it through Not On The High Street"), outside a negation ("not from Amazon"); a
    marketplace named in passing ("amazon would've had it here in a day") is none."""
    text = text.translate(APOSTROPHES)
    spans = negated_spans(text)
    for pattern in _purchase_patterns():
        for found in pattern.finditer(text):
            start = found.start("name")
            if _GOT_NO_PURCHASE.search(text[found.start() : start]):
                continue  # "got an email from Amazon": a message from it, no order placed there
            if not any(a <= start < b for a, b in spans):
                return platform_named(found.group("name"))
    return None


@lru_cache(maxsize=1)
def _other_order_patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    words = _reading_words()["platform_purchase"]
    names = sorted(prompts.platforms(), key=len, reverse=True)
    everyday = set(words["everyday"])
    name = "(?:" + "|".join(f"(?-i:{re.escape(n)})" if n in everyday else re.escape(n) for n in names) + ")"
    one_from = (
        _phrase_pattern(words["ones"])
        + r"\s+(?:(?:is|was|came|i got|i ordered)\s+)?"
        + _phrase_pattern(words["through"])
    )
    return (
        re.compile(one_from + r"\s+" + name + r"(?![\w'])", re.IGNORECASE),
        re.compile(_phrase_pattern(words["arrived"]), re.IGNORECASE),
    )


_CLAUSE_END = re.compile(r"[.;!?,]+|\bbut\b|\bthough\b|\bwhile\b|\bwhereas\b", re.IGNORECASE)


def other_order_asked(text: str) -> bool:
    """Whether a message names an order of another marketplace as the shopper's own ("my Temu parcel", "one from
    AliExpress and one from you") in a clause that doesn't say it has come: only then is it something to send them
    to the marketplace about. A marketplace's name used as a verb ("I just amazon everything"), as a comparison, or
    for an order that came ("my amazon stuff came days ago but yours hasn't") asks nothing about it."""
    one_from, arrived = _other_order_patterns()
    for clause in _CLAUSE_END.split(_without_emails(text).translate(APOSTROPHES)):
        if platform_of_purchase(clause) is None and not one_from.search(clause):
            continue
        if not arrived.search(_outside_negation(clause)):
            return True
    return False


@lru_cache(maxsize=1)
def _unseen_patterns() -> dict[str, Prefiltered]:
    # Ten lists read of every answer's message: one holding none of a list's words is not searched (`prefilter.py`).
    return {
        topic: prefiltered(_phrase_pattern(words), re.IGNORECASE) for topic, words in _reading_words()["unseen"].items()
    }


@lru_cache(maxsize=4096)  # asked of a message by the answer and by the readers of what else it asks
def unseen_asked(text: str) -> tuple[str, ...]:
    """What a message asks that the order data never holds (`prompts/reading.toml` [unseen]): "is it stuck in
    customs, do I need to pay anything?" -> ("customs",); "what time will the courier come?" -> ("time_of_day",).
    Not under a negation ("I don't care what time")."""
    plain = _outside_negation(_without_emails(text))
    return tuple(topic for topic, pattern in _unseen_patterns().items() if pattern.search(plain))


def detect_intent(text: str) -> Intent:
    reading = _read(text)
    cased = None if reading.platform else _cased_platform(_without_emails(text))
    if cased is not None:
        # The reader cannot tell "The Warehouse" from "the warehouse": the capitals say a shop is named.
        reading = reading.model_copy(update={"acts": (*reading.acts, "other_platform"), "platform": cased})
    words = _words(_without_emails(text))
    exact = _exact_acts(_without_emails(text))
    # What the exact readings found outweighs a request the reader only guessed ("trade it for a medium" is no
    # change of address).
    acts = (
        set(reading.acts) - {a for a in REQUESTS if exact and reading.probabilities.get(a, 0.0) < THRESHOLD}
    ) | exact
    guessed = {a for a in ("wrong_item", "damaged_item") if a in acts and reading.probabilities.get(a, 1.0) < UNSURE}
    if guessed:
        # A complaint read only as a guess ("someone sent me a gift, I don't know their email") is not put to the
        # shopper as one: the order is answered, and a shopper with a real complaint says it again plainly.
        acts = (acts - guessed) | {"where_is_order"}
    faint = {a for a in REQUESTS if a in acts and a not in exact and reading.probabilities.get(a, 1.0) < FAINT}
    if faint:
        # A request read only because the reader must read something, far below any bar ("popped out and when I got
        # back the parcel was gone" as a return, at 0.04): no request is put to the shopper; the order is answered.
        acts = (acts - faint) or {"where_is_order"}
    # "I don't want to cancel": a request named only under negation is not made.
    acts -= set(reading.negated) & set(REQUESTS)
    if "other_platform" in acts and _unnamed_platform_beside_details(text, reading):
        # "4417 me@example.com, never showed up": our own order's details, and no other shop named: it is our order.
        acts.discard("other_platform")
        acts.add("where_is_order")
    if POLICY_QUESTION in acts:
        # "What's your return policy?" asks about the shop, it makes no request (unless it surely makes one too).
        acts -= {a for a in REQUESTS if reading.probabilities.get(a, 0.0) < SURE}
    focus = next((name for name, keys in _FOCUS.items() if any(w in keys for w in words)), None)
    intent = Intent(
        acts=frozenset(acts),
        negated=frozenset(reading.negated),
        platform=reading.platform,
        # "why", "why's it late", "whyd it stop", "how come", "the reason".
        asks_why=any(re.fullmatch(r"why(?:'?[sd]|'re)?|reasons?", w) for w in words) or "how come" in " ".join(words),
        ordinal=next((_ORDINALS[w] for w in words if w in _ORDINALS), None),
        focus=focus,
        item_words=tuple(w for w in words if len(w) > 2 and w not in _STOP and not w.isdigit()),
        statuses=named_statuses(text),
        status_words=status_words(text),
        terms=terms_named(text),
        asked=asked_phrase(text),
        sure=frozenset(a for a in reading.acts if reading.probabilities[a] >= SURE) | _sure_beside_email(text, reading),
    )
    intent = _in_context(intent, reading, text)
    if intent.human and identity_asked(text) and "ask_human" not in _read(_IDENTITY.sub(" ", text)).acts:
        # "ok bot test. are u a real person": whether the assistant is a person, asked; a person is not.
        intent = replace(intent, acts=intent.acts - {"ask_human"}, sure=intent.sure - {"ask_human"})
    return intent


def _sure_beside_email(text: str, reading: ActReading) -> frozenset[Act]:
    """The acts read surely from the message's words once its email is set aside: an address says nothing of what the
    shopper wants, yet it drowns a short message's words ("yes go ahead, jo.king@example.org" reads as a yes less
    surely than "yes go ahead"). Only acts the whole message was read to carry."""
    words = words_beside_email(text)
    if words is None:
        return frozenset()
    alone = read_acts(words)
    return frozenset(a for a in reading.acts if alone.probabilities.get(a, 0.0) >= SURE)


def words_beside_email(text: str) -> str | None:
    """A message's words with its email set aside, when it has an email and words besides it (what
    `_sure_beside_email` reads on its own)."""
    if EMAIL.search(text) is None:
        return None
    words = _without_emails(text).strip()
    return words if re.search(r"[^\W\d_]", words) else None


_IDENTITY = re.compile(
    rf"\b(?:{prompts.either('what_i_am', 'asks')})\s+(?:(?:a|an)\s+)?(?:(?:{prompts.either('what_i_am', 'real')})\s+)?"
    rf"(?:(?:a|an)\s+)?(?:{prompts.either('what_i_am', 'kinds')})\b(?:\s+or\s+(?:(?:a|an)\s+)?\w+)?",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)  # asked on every model request of a turn, of the same message
def identity_asked(text: str) -> bool:
    """Whether a message asks what the assistant is ("are u a real person", "am I talking to a bot?", "is this an AI
    or a human"), outside a negation."""
    plain = _outside_negation(_without_emails(text))
    return _IDENTITY.search(plain) is not None


# --- which of several listed orders the shopper means ---------------------------------------------------------------
# Comparatives too, for a choice of two: "the newer one", "the older order".
_NEWEST = prefiltered(
    r"\b(?:latest|newest|newer|more recent|most recent|recent|last (?:order|one) i (?:made|placed|ordered|bought))\b"
)
_OLDEST = prefiltered(r"\b(?:oldest|older|earliest|earlier one|first (?:order|one) i (?:made|placed|ordered|bought))\b")
_POSITION = re.compile(r"^\W*(?:(?:number|no\.?|option|#)\s*)?(\d)\W*$")
_MONTH_DAY = prefiltered(rf"\b({MONTH_PATTERN})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b")
_DAY_MONTH = prefiltered(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_PATTERN})\b")
_NUMERIC_DATE = re.compile(r"(?<![\d/.\-])(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](?:\d{4}|\d{2}))?(?![\d/\-])")
_DAY_ALONE = re.compile(r"\b(?:on|from|of)\s+the\s+(\d{1,2})(?:st|nd|rd|th)\b")


def recency_named(text: str) -> Literal["newest", "oldest"] | None:
    """ "The latest one", "my most recent order" -> newest; "the oldest" -> oldest."""
    lowered = text.lower()
    if _NEWEST.search(lowered):
        return "newest"
    return "oldest" if _OLDEST.search(lowered) else None


def position_named(text: str) -> int | None:
    """A bare position answering a list: "2", "number 3", "option 1"."""
    found = _POSITION.match(text.lower())
    return int(found.group(1)) if found else None


def dates_named(text: str) -> set[tuple[int | None, int]]:
    """The (month, day) pairs a message may name: "March 16", "16th of March", "16/03" and "3/16" (whichever reads as a
    date: a UK shopper writes day first, a US shopper month first), "on the 17th" (month None)."""
    lowered = text.lower()
    found: set[tuple[int | None, int]] = set()
    found |= {(MONTHS[m.rstrip(".")], int(d)) for m, d in _MONTH_DAY.findall(lowered)}
    found |= {(MONTHS[m], int(d)) for d, m in _DAY_MONTH.findall(lowered)}
    for a, b in _NUMERIC_DATE.findall(lowered):
        first, second = int(a), int(b)
        found |= {(m, d) for m, d in ((first, second), (second, first)) if 1 <= m <= 12 and 1 <= d <= 31}
    found |= {(None, int(d)) for d in _DAY_ALONE.findall(lowered)}
    return found


def names_item(name: str, text: str) -> bool:
    """Does the message name this item ("the boots" -> "Peat Brown Walking Boots", "the mug" -> "Enamel Camp Mug")?"""
    return item_words_named(name, text) > 0


def item_words_named(name: str, text: str) -> int:
    """How many of this item's words the message names ("the spot gel" names two of "Tea Tree Spot Gel", one of
    "Cooling Aloe Gel"): of two items sharing a word, the one named more fully is the one meant."""
    name_words = {w.rstrip("s") for w in re.findall(r"[^\W\d_]{3,}", name.lower())} - _STOP
    said = {w.rstrip("s") for w in re.findall(r"[^\W\d_]{3,}", text.lower())} - _STOP
    return len(name_words & said) + sum(1 for word in said - name_words if _run_on(word, name_words))


# The most letters a shopper's word may add to an item's word and still name it, and the shortest item word that may
# be run on: "beanies" for a Beanie, "tankie" for a Tank Top; not "hatch" for a Hat (too short an item word).
_RUN_ON_LETTERS = 2
_RUN_ON_SHORTEST = 4


def _run_on(word: str, name_words: set[str]) -> bool:
    """Whether a shopper's word is an item's word with an ending of their own: the shortened, fond or plural forms
    shoppers make of a product's name ("hoodies" for a Hoodie, "tankies" for a Tank Top), which no list of a
    country's slang keeps."""
    return any(
        len(n) >= _RUN_ON_SHORTEST and word.startswith(n) and len(word) - len(n) <= _RUN_ON_LETTERS for n in name_words
    )


_ITEM_DETERMINER = r"(?:(?:the|my|our|his|her|their|these|those|this|that|ur|your)\s+)?"


def items_as_the_order(text: str, names: Sequence[str]) -> str:
    """The message with each item of the order it names written as "my order": "boots are late" about an order of
    walking boots reads "my order are late". The act reader replaces what varies by store (order names, carriers,
    emails) with one token each, but never this shop's products: a short clause naming one ("boots are late",
    "the lamp never came") reads like a question about a product, not about the order the shopper holds."""
    words = sorted(
        {w.rstrip("s") for name in names for w in re.findall(r"[^\W\d_]{3,}", name.lower())} - _STOP,
        key=len,
        reverse=True,
    )
    if not words:
        return text
    lowered = text.lower()
    if text.isascii() and all(w.isascii() for w in words) and not any(w in lowered for w in words):
        # No item word in the message, so nothing to write as "my order": the pattern, new for each order, cost more
        # to compile than the rest of the reading. (ASCII only: a case-blind match may pair other letters.)
        return text
    item = "(?:" + "|".join(re.escape(w) + r"(?:e?s)?" for w in words) + ")"
    run = re.compile(rf"\b{_ITEM_DETERMINER}{item}(?:[\s-]+{item})*\b", re.IGNORECASE)
    return run.sub("my order", text)


# "They're late", "it's overdue", "its not here": a clause that opens with "it" or "they" (and the verb run into it).
_PRONOUN_SUBJECT = re.compile(
    r"^\W*(?:it|they)(?P<verb>\s*['’]?\s*(?:s|re)\b|\s+(?:is|are)\b)?(?!['’\w])", re.IGNORECASE
)


def subject_as_the_order(clause: str) -> str:
    """A clause of a message about one order whose subject is "it" or "they", with the order named instead: "they're
    late" reads "my order is late". Said of a proved order, the pronoun can only mean the order (or its items), and
    the act reader, trained on whole messages, hears too little in "they're late" alone."""
    found = _PRONOUN_SUBJECT.match(clause)
    if found is None:
        return clause
    return "my order" + (" is" if found.group("verb") else "") + clause[found.end() :]


# --- a question about the shop's policies ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PolicyQuestion:
    """What a policy question is about: its topics ("returns", "shipping"), the aspects it asks ("time", "cost",
    "place") and the countries it names."""

    topics: frozenset[str]
    aspects: frozenset[str]
    places: frozenset[str]


# Word stems a shopper uses for each topic and aspect; a merchant's sentence speaks to a topic when it uses them too.
POLICY_TOPICS: dict[str, tuple[str, ...]] = {
    "returns": ("return", "refund", "exchang", "money back", "send back", "send it back", "swap"),
    "shipping": ("ship", "deliver", "dispatch", "postage", "posting", "courier", "send", "arrive"),
    "cancelling": ("cancel",),
}
_ASPECT_QUESTION: dict[str, re.Pattern[str]] = {
    "time": re.compile(r"\bhow (?:long|soon|fast|quick)|\bhow many (?:days|weeks)|\bwhen\b|\btime\b|\btakes?\b"),
    "cost": re.compile(r"\bhow much\b|\bcosts?\b|\bprice\b|\bfree\b|\bfees?\b|\bcharge|\bpay\b"),
    "place": re.compile(r"\binternational|\babroad\b|\boverseas\b|\bworldwide\b|\bcountr(?:y|ies)\b"),
}
# What a merchant's sentence says when it answers that aspect: a number of days, an amount, where it ships.
ASPECT_ANSWER: dict[str, re.Pattern[str]] = {
    "time": re.compile(r"\d|\bdays?\b|\bweeks?\b|\bwithin\b|\bhours?\b|\bsame day\b|\bnext day\b", re.IGNORECASE),
    "cost": re.compile(r"[£$€¥]|\bfree\b|\bcosts?\b|\bcharge|\bfees?\b|\bprice", re.IGNORECASE),
    "place": re.compile(
        r"\binternational|\bworldwide\b|\bcountr(?:y|ies)\b|\babroad\b|\boverseas\b|\beverywhere\b", re.IGNORECASE
    ),
}
_PLACE_ALIASES = {"usa": "United States", "america": "United States", "us": "United States", "uk": "United Kingdom",
                  "britain": "United Kingdom", "england": "United Kingdom", "scotland": "United Kingdom",
                  "wales": "United Kingdom", "states": "United States", "eu": "Europe", "europe": "Europe"}  # fmt: skip


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """Lower-case English country and region names (CLDR, through Babel) -> the name as written."""
    names = {name.lower(): name for code, name in Locale("en").territories.items() if code.isalpha()}
    return names | {"europe": "Europe"}


def places_named(text: str) -> frozenset[str]:
    """Countries a message names: "Canada", "the UK", "the US" (but not "us" the word)."""
    lowered = " " + " ".join(_words(text)) + " "
    found = {name for key, name in _countries().items() if f" {key} " in lowered}
    for alias, name in _PLACE_ALIASES.items():
        if f" {alias} " in lowered and (alias != "us" or re.search(r"\bUS\b|\bthe us\b", text)):
            found.add(name)
    return frozenset(found)


def policy_question(text: str) -> PolicyQuestion:
    lowered = " ".join(_words(text))
    topics = frozenset(t for t, stems in POLICY_TOPICS.items() if any(s in lowered for s in stems))
    places = places_named(text)
    aspects = {a for a, pattern in _ASPECT_QUESTION.items() if pattern.search(lowered)}
    if places:
        aspects.add("place")
    return PolicyQuestion(topics=topics, aspects=frozenset(aspects), places=places)
