"""How shoppers and Shopify write the same thing differently: order names, emails and postal codes, normalised once.

Every comparison of an order name, an email or a postal code in Lumen goes through these functions, so '#1234',
'1234' and 'order no. 1234' are one order everywhere (lookups, proofs, escalation keys, evals).

Order names are a shop's own format around Shopify's order number: `orderNumberFormatPrefix` + number +
`orderNumberFormatSuffix` ('#1001', 'AB-7310', 'QRS-7310-IE'), and shoppers type them every way ('7310', 'qrs7310',
'QRS 7310 IE'). A typed reference names an order when it is the order's name written differently (case, '#',
spaces, dashes), when it is the number in the shop's format, or when it is the order's digits with some of its own
prefix and suffix and no other order fits (`matching_order_names`). A different prefix or suffix, or other digits,
never match: the shopper's email or postcode then proves nothing about an order they did not mean.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

# Words round a number, not part of it ('order no. 1234', 'ref: 1234'); never a word joined to the number by a
# name's own punctuation, which is a shop's prefix ('REF-1234', 'ID_55' in a shop that writes its names so).
_NUMBER_WORDS = re.compile(r"\b(?:order|orders|number|num|no|nr|ref|reference|id)\b(?![\-_/])\.?", re.IGNORECASE)
# The punctuation Shopify lets a shop put in its order-name prefix and suffix ('TSV.', 'X/', 'ZZ_', '-Q'), which
# shoppers also type between the parts of a name.
_PUNCTUATION = "-_./"
# One reference: letters and digits, joined by that punctuation ('TSV.8101', 'X/123', 'ZZ_55-Q', 'A1-1001').
_TOKEN = re.compile(r"(?=.{1,32}$)[A-Z0-9]+(?:[\-_./]+[A-Z0-9]+)*")
# A name typed in pieces: 'QRS 7310 IE', 'qrs 7310', '7310 ie', 'QRS - 7324 - IE', 'a1 1001' (a short prefix, the
# number, a short suffix). A longer word after the number ('1234 please') is not part of a name.
_PIECES = re.compile(r"[A-Z][A-Z0-9]{0,5}-?\d{1,12}(?:-[A-Z0-9]{1,3})?|\d{1,12}-[A-Z0-9]{1,3}")
# What shoppers and shops put between the parts of a name: none of it tells two orders apart...
_SEPARATORS = re.compile(r"[\s#\-_./]+")
# ...except between two runs of digits, where it keeps '1001-2' from being '10012'.
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s#\-_./]+(?=\d)")


# A run of digits alone joined to more digits by a dot or slash is a decimal, a fraction or a date ('5.5', '12.5KG',
# '1/2', '2026/11/30'), never a shop's name: a prefix joined by a dot or slash has letters ('TSV.8101', 'A1.1001').
_DIGITS_ROUND_MARK = re.compile(r"(?:^|[\-_])\d+[./]+\d")


def normalize_order_number(text: str) -> str | None:
    """The order reference inside what a shopper typed: '#1234', '1234', 'order no. 1234' -> '1234'.

    Store prefixes and suffixes (EN1001, 1001-A, 'QRS 7310 IE' -> 'QRS-7310-IE', 'tsv.8101' -> 'TSV.8101') are kept
    with any punctuation Shopify allows in them; only the '#' and words around the number go.
    """
    cleaned = _NUMBER_WORDS.sub(" ", text).replace("#", " ").strip(" .:,;!?\t\n")
    # Spaces round a name's punctuation are no part of it: 'TSV . 8101', 'X / 123'.
    tokens = re.sub(r"\s*([\-_./])\s*", r"\1", cleaned.upper()).split()
    if len(tokens) > 1 and _PIECES.fullmatch("-".join(tokens)):
        tokens = ["-".join(tokens)]
    if len(tokens) != 1:
        return None
    token = tokens[0]
    if not _TOKEN.fullmatch(token) or not re.search(r"\d", token) or _DIGITS_ROUND_MARK.search(token):
        return None
    return token


def order_name_key(name: str) -> str:
    """An order name as compared: 'QRS-7310-IE', 'qrs 7310 ie' and '#QRS7310IE' are 'QRS7310IE'; '1001-2' stays."""
    upper = _BETWEEN_DIGITS.sub("-", name.upper().strip().lstrip("#").strip())
    return re.sub(r"(?<!\d)[\s#\-_./]+|[\s#\-_./]+(?!\d)", "", upper)


class NameParts(NamedTuple):
    """An order name around its number: 'QRS-7310-IE' is ('QRS', '7310', 'IE'), '#1001' is ('', '1001', '')."""

    prefix: str
    digits: str
    suffix: str


def order_name_parts(name: str) -> NameParts | None:
    """The parts of a name, its number being the longest run of digits (the first of equals); None without one."""
    key = order_name_key(name)
    runs = list(re.finditer(r"\d+", key))
    if not runs:
        return None
    core = max(runs, key=lambda m: len(m.group()))
    return NameParts(key[: core.start()], core.group(), key[core.end() :].lstrip("-"))


class NameFormat(NamedTuple):
    """A shop's order-name format around Shopify's order number: `orderNumberFormatPrefix` and
    `orderNumberFormatSuffix` ('#' and '' for '#1001', 'QRS-' and '-IE' for 'QRS-7310-IE')."""

    prefix: str
    suffix: str

    @property
    def letters(self) -> frozenset[str]:
        """The runs of letters the format writes round the number: {'QRS', 'IE'}; none for '#1001'."""
        return frozenset(re.findall(r"[A-Z]+", (self.prefix + " " + self.suffix).upper()))


# At least this share of a store's names must be written one way for that way to be taken as its format.
_FORMAT_SHARE = 0.75


def inferred_name_format(names: Iterable[str]) -> NameFormat | None:
    """The format most of a store's order names are written in ('#5301KRW', '#5302KRW' -> '#' and 'KRW'), when the
    store does not say it (a store file without Shopify's fields); None without names or without a clear majority
    (a store that changed its format, or names given by hand)."""
    counts: dict[NameFormat, int] = {}
    total = 0
    for name in names:
        runs = list(re.finditer(r"\d+", name.strip()))
        if not runs:
            continue
        core = max(runs, key=lambda m: len(m.group()))
        shape = NameFormat(name.strip()[: core.start()], name.strip()[core.end() :])
        counts[shape] = counts.get(shape, 0) + 1
        total += 1
    if not counts:
        return None
    shape, seen = max(counts.items(), key=lambda item: item[1])
    return shape if seen >= _FORMAT_SHARE * total else None


def formatted_order_name(typed: str, prefix: str, suffix: str) -> str | None:
    """What a shopper typed written in the shop's format, when it is the number with or without the format's own
    prefix and suffix: '7310', 'qrs7310', 'QRS 7310 IE' -> 'QRS-7310-IE' for `QRS-` and `-IE`. Else None."""
    key, head, tail = order_name_key(typed), order_name_key(prefix), order_name_key(suffix)
    digits = key
    # A prefix ending in a digit keeps its separator in the key ('A1-1001' for 'A1-'): it goes with the prefix.
    if head and digits.startswith(head) and not digits.isdigit():
        digits = digits[len(head) :].lstrip("-")
    if tail and digits.endswith(tail) and not digits.isdigit():
        digits = digits[: -len(tail)].rstrip("-")
    # The shop's letters typed on the other side of the number ('ZQ4410' for '#4410-ZQ', '7310QRS' for 'QRS-7310').
    if tail and tail.isalpha() and digits.startswith(tail) and not digits.isdigit():
        digits = digits[len(tail) :]
    if head and head.isalpha() and digits.endswith(head) and not digits.isdigit():
        digits = digits[: -len(head)]
    return f"{prefix}{digits}{suffix}" if digits.isdigit() else None


class NameInText(NamedTuple):
    """An order name found in a shopper's message: where it stands, and the name as the shop writes it."""

    start: int
    end: int
    name: str


# What shoppers put between the parts of a shop's name instead of its own punctuation: another mark, spaces, nothing.
_TYPED_SEPARATOR = r"(?:[ \t]*[#\-_./:][ \t]*|[ \t]*)"


@lru_cache(maxsize=64)
def _shop_name_pattern(prefix: str, suffix: str) -> re.Pattern[str] | None:
    """The shop's order names as shoppers type them: the format's letters and digits in any case, its punctuation
    as any mark, a space or nothing ('TSV.8101', 'tsv 8101', 'TSV-8101', 'tsv8101' for `TSV.`); the suffix may be
    left off after a prefix. None for a format without letters or digits round the number ('#1001')."""
    head = [re.escape(run) for run in re.findall(r"[A-Za-z0-9]+", prefix)]
    tail = [re.escape(run) for run in re.findall(r"[A-Za-z0-9]+", suffix)]
    if not head and not tail:
        return None
    number = r"(?P<digits>\d{1,12})"
    after = _TYPED_SEPARATOR + _TYPED_SEPARATOR.join(tail) if tail else ""
    if head:
        body = _TYPED_SEPARATOR.join(head) + _TYPED_SEPARATOR + number + (f"(?:{after})?" if tail else "")
    else:
        body = "#?" + number + after
    # Nothing of a name may follow: 'kt0043-b' is another name than the format's '#KT-0043' (a part, an old format).
    return re.compile(rf"(?<![A-Za-z0-9@.]){body}(?![A-Za-z0-9@]|[\-_./][A-Za-z0-9])", re.IGNORECASE)


def names_in_text(text: str, prefix: str, suffix: str) -> list[NameInText]:
    """Every order name in `text` written in the shop's format (`orderNumberFormatPrefix`/`Suffix`), however the
    shopper spelled its letters and punctuation, each as the shop writes it: 'tsv 8101' -> 'TSV.8101' for `TSV.`,
    'x123' -> 'X/123' for `X/`, 'zz 5501 q' -> 'ZZ_5501-Q' for `ZZ_` and `-Q` (but a lone lowercase letter before a
    bare space is a word of the sentence: `_word_beside`). Empty for a shop of plain numbers ('#'), whose names are
    digits alone."""
    pattern = _shop_name_pattern(prefix, suffix)
    if pattern is None:
        return []
    return [
        NameInText(m.start(), m.end(), f"{prefix}{m.group('digits')}{suffix}")
        for m in pattern.finditer(text)
        # A short number is a name only written with punctuation ('ZZ_55-Q'): 'no 5 stars' is none in a shop of 'NO.'.
        if (len(m.group("digits")) >= 3 or re.search(r"[#\-_./]", m.group())) and not _word_beside(m)
    ]


def _word_beside(found: re.Match[str]) -> bool:
    """Whether a match joins the number to a one-letter word of the sentence by a bare space: 'a 1000 piece puzzle'
    or 'i 1234' in a shop of 'A/' or 'I-' names. Typed with a mark, joined, or in capitals ('A/1000', 'a1000',
    'A 1000') it is the name. (Longer runs stay names however typed: 'zz 5101 q', '5101 au'.) Letters that end a
    street address are its street's kind, never a prefix: `_street_beside`."""
    before = found.group()[: found.start("digits") - found.start()]
    return re.fullmatch(r"[a-z][ \t]+", before) is not None or _street_beside(found)


# A house number and one to three words of a street's name, just before a match: '22 beach ', '4/17 old mill '.
_HOUSE_AND_STREET = re.compile(r"(?<![\w/])\d+[A-Za-z]?(?:/\d+[A-Za-z]?)?(?:[ \t]+[A-Za-z'’]+){1,3}[ \t]+$")


def _street_beside(found: re.Match[str]) -> bool:
    """Whether the shop's prefix letters stand where an address writes its street's kind: after a house number and
    the street's name, joined to the number after them by a bare space ('22 beach st 6160' in a shop of 'ST.' names,
    '4/17 Old Mill Rd. 2000' in one of 'RD-'): that number is the address's postcode, not an order. Joined to
    the number ('22 beach st.6160') the name stands."""
    before = found.group()[: found.start("digits") - found.start()]
    if not re.fullmatch(r"[A-Za-z]+\.?[ \t]+", before):
        return False
    return _HOUSE_AND_STREET.search(found.string[: found.start()]) is not None


def order_name_matches(order_name: str, typed: str) -> bool:
    """Whether a shopper's reference may mean this order name: the same name written differently, or its number
    with none, some or all of its own prefix and format suffix ('7310', 'qrs7310', '7310-ie' for 'QRS-7310-IE').

    One name at a time cannot tell whether another order fits too: a lookup uses `matching_order_names`.
    """
    name, ref = order_name_parts(order_name), order_name_parts(typed)
    if name is None or ref is None:
        return False
    if order_name_key(order_name) == order_name_key(typed):
        return True
    if ref.digits != name.digits:
        return False
    # A suffix of one letter or of digits tells one order from another ('#4410-B' is not '#4410'); a longer one is the
    # shop's format ('-IE', '-UK') and may be left off like the prefix.
    may_leave_suffix = len(name.suffix) >= 2 and name.suffix.isalpha()
    if ref.prefix in ("", name.prefix) and (ref.suffix == name.suffix or (ref.suffix == "" and may_leave_suffix)):
        return True
    # The name's own letters typed on the other side of the number: 'ZQ4410' or '4410 ZQ' for '#4410-ZQ',
    # 'IE 5101 BOG' for 'BOG-5101-IE'. Letters the name does not have never match.
    letters = [part for part in (ref.prefix, ref.suffix) if part]
    own = [part for part in (name.prefix, name.suffix) if part]
    if not letters or not all(part.isalpha() for part in letters) or len(letters) != len(set(letters)):
        return False
    left = [part for part in own if part not in letters]
    return set(letters) <= set(own) and all(part != name.suffix or may_leave_suffix for part in left)


def matching_order_names(
    typed: str, names: Iterable[str], *, prefix: str | None = None, suffix: str | None = None
) -> list[str]:
    """Which of `names` a shopper's reference names, most certain reading first.

    The name itself written any way, or the number in the shop's format (`prefix`/`suffix`, when the shop says):
    every order so named (names need not be unique). Else the one name, if only one, that has the reference's
    digits and keeps whatever prefix or suffix was typed: 'qrs7310' finds 'QRS-7310-IE' in a file that does not say
    the format, but '7310' finds nothing when both 'QRS-7310-IE' and 'QRS-7310-UK' exist.
    """
    names = list(names)
    wanted = {order_name_key(typed)}
    if prefix is not None or suffix is not None:
        formatted = formatted_order_name(typed, prefix or "", suffix or "")
        if formatted is not None:
            wanted.add(order_name_key(formatted))
    exact = [n for n in names if order_name_key(n) in wanted]
    if exact:
        return exact
    fitting = [n for n in names if order_name_matches(n, typed)]
    return fitting if len({order_name_key(n) for n in fitting}) == 1 else []


def normalize_email(email: str) -> str:
    return email.strip().lower()


# Between two parts of an address said aloud: marks, or at most two short words ("dot", "at", "under score", "punto").
_SPOKEN_GAP = r"(?:[^\w]*|[^\w]+(?:[^\W\d_]{1,12}[^\w]+){1,2})"


def email_in_text(email: str, text: str) -> bool:
    """Whether the shopper's text holds this email: typed ("jo.lee@example.com"), or said aloud, its letters and
    digits in order with only marks or a spoken word or two between each part ("jo dot lee at example dot com", in
    any language). A check that the address came from the shopper, not a reading of what the words mean."""
    address = normalize_email(email)
    said = text.lower()
    if address in said:
        return True
    parts = re.findall(r"[^\W_]+", address)
    if len(parts) < 3 or "@" not in address:
        return False
    pattern = r"(?<![^\W_])" + _SPOKEN_GAP.join(re.escape(p) for p in parts) + r"(?![^\W_])"
    return re.search(pattern, said) is not None


def normalize_postal_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", code).upper()


def order_key(order_name: str | None) -> str:
    """The comparable form of an order name: '#1234', '1234' and ' #1234 ' are one order; no order is ''."""
    return (order_name or "").strip().lstrip("#").strip().upper()


# Each country's postal code, as `normalize_postal_code` writes it (no spaces or dashes, capitals). For telling a
# code of the shop's own country from something else of that shape (an order name '4410 ZQ' in a Canadian shop is no
# postcode there; in a Dutch shop it is one). Countries not listed are not judged (`fits_postal_code` says None).
_POSTAL_BY_COUNTRY: dict[str, re.Pattern[str]] = {
    country: re.compile(shape)
    for country, shape in {
        "CA": r"[A-Z]\d[A-Z]\d[A-Z]\d",
        "US": r"\d{5}(?:\d{4})?",
        "GB": r"[A-Z]{1,2}\d[A-Z\d]?\d[A-Z]{2}",
        "IE": r"(?:[A-Z]\d{2}|D6W)[A-Z\d]{4}",
        "AU": r"\d{4}",
        "NZ": r"\d{4}",
        "NL": r"\d{4}[A-Z]{2}",
        "BE": r"\d{4}",
        "CH": r"\d{4}",
        "AT": r"\d{4}",
        "DK": r"\d{4}",
        "NO": r"\d{4}",
        "DE": r"\d{5}",
        "FR": r"\d{5}",
        "ES": r"\d{5}",
        "IT": r"\d{5}",
        "FI": r"\d{5}",
        "SE": r"\d{5}",
        "MX": r"\d{5}",
        "PL": r"\d{5}",
        "PT": r"\d{7}",
        "JP": r"\d{7}",
        "IN": r"\d{6}",
        "SG": r"\d{6}",
        "BR": r"\d{8}",
        "ZA": r"\d{4}",
        "PH": r"\d{4}",
        "MY": r"\d{5}",
        "KR": r"\d{5}",
        "CN": r"\d{6}",
        "IL": r"\d{7}",
        "CZ": r"\d{5}",
        "GR": r"\d{5}",
        "HU": r"\d{4}",
        "LU": r"\d{4}",
        "PR": r"\d{5}(?:\d{4})?",
        # East and West Africa: Kenya's and Tanzania's five digits ("00100", often typed "00 100"), Nigeria's six.
        "KE": r"\d{5}",
        "TZ": r"\d{5}",
        "NG": r"\d{6}",
    }.items()
}


def fits_postal_code(code: str, country: str | None) -> bool | None:
    """Whether `code` is shaped like a postal code of `country` (ISO 3166 alpha-2), in any spacing and case;
    None when the country is unknown here."""
    shape = _POSTAL_BY_COUNTRY.get((country or "").upper())
    return None if shape is None else shape.fullmatch(normalize_postal_code(code)) is not None
