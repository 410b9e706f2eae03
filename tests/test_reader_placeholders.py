"""`with_placeholders` skips the passes a text cannot match; on random texts it gives what every pass gives."""

from __future__ import annotations

import random
import re

from agent.playbook.acts import _PLACEHOLDERS, APOSTROPHES, _carrier_names, with_placeholders

# Pieces of dates, weekdays (whole, cut, in odd cases, with the letters a case-blind pattern folds), money, order
# names, emails and postcodes, so random texts hold every mix of what the passes need and lack.
_PIECES = (
    *("monday", "MONDAY", "Tuesdays", "wednes", "day", "DAY", "dAy", "d", "ay", "y", "fri", "FRİDAY", "ſunday"),
    *("sat", "urday", "thurs", "today", "days", "Sunday's", "weekday", "mon", "sun"),
    *("may", "ſep", "Dec", "of", "5th", "3rd", "12/03", "3.4.2026", "2026-11-27", "1", "12", "123", "12345678"),
    *("$", "€", "5", "dollars", "#", "TM10001", "AB-123", "@", "jo@example.com", "www.", "http://", "SW1A 1AA"),
    *(" ", " ", " ", ",", ".", "'", "’", "\t", "\n", "İ", "ı", "\u212a", "é", "x", "DHL", "ups"),
)


def _plain(text: str) -> str:
    """`with_placeholders` with no pass skipped: every pattern over every text."""
    text = _carrier_names().pattern.sub(" xcarrierx ", text.translate(APOSTROPHES))
    for token, pattern in _PLACEHOLDERS:
        text = pattern.sub(f" {token} ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def test_random_texts_get_every_passs_placeholders() -> None:
    rng = random.Random(17)
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 10)))
        assert with_placeholders(text) == _plain(text), text


def test_a_weekday_is_a_date_however_it_is_written() -> None:
    for text in ("on Monday", "on MONDAY", "FRİDAY 5", "ſundays", "see you tuesday!", "Wednesday's fine"):
        assert "xdatex" in with_placeholders(text), text
    assert with_placeholders("today, 5 days") == _plain("today, 5 days")
