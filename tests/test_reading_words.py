"""The words the playbook reads live in `prompts/reading.toml`: every list the code asks for is there and holds
words (a list renamed or emptied in the file would make a reading that never matches), and the file holds nothing
but lists of words, each section explained by a comment."""

from __future__ import annotations

import re

import pytest

from agent import prompts

# The lists the playbook's modules build their patterns from (`prompts.words`, `prompts.either`).
ASKED = {
    "questions": ("openings", "asking", "place"),
    "clauses": ("joiners", "between_orders"),
    "to_the_shop": ("you",),
    "instructions": ("rules", "others", "own_order"),
    "service_change": ("towards", "articles", "by", "service_nouns", "instead", "item_openers"),
    "order_state": ("arrived", "waiting", "shipped", "moving", "unshipped", "cancelled"),
    "what_next": ("refer", "asks", "retry", "collect"),
    "offer_restated": ("frames",),
    "address_change": ("asks", "right"),
    "platform_purchase": ("bought", "through", "things", "ones", "arrived", "everyday", "not_bought"),
    "unseen": ("customs", "time_of_day", "signature", "driver", "weather", "where_left"),
    "numbers": ("units",),
    "amounts": ("money", "gap", "after", "pointed", "payers", "payers_have", "paid"),
    "postcodes": ("not_before", "not_before_then", "labels", "place_before", "place_before_then", "place_named_before"),
    "years": ("before", "maybe_before", "after", "to"),
    "order_names": ("not_prefixes", "not_suffixes", "cue", "cue_labels", "correction"),
    "shops": ("person_after", "day_after", "common_name_words", "bare_after_buying", "after_lowercase_name"),
    "not_received": ("verbs", "meaning", "nobody", "nobody_verbs", "denied"),
    "exchanges": ("paying_before",),
    "what_i_am": ("asks", "real", "kinds"),
    "all_orders": ("all", "orders"),
    "order_change": (
        "hasten",
        "sooner",
        "hurry",
        "hurry_parted",
        "hurry_particle",
        "objects",
        "add",
        "add_to",
        "remove",
        "remove_from",
        "asks",
        "unless",
    ),
    "money_nouns": ("nouns",),
    "cannot_do": ("packing", "documents", "collect_myself"),
    "disputed_event": ("there", "nobody", "untrue"),
    "fault": ("not", "does", "states"),
    "tracking_broken": ("things", "broken"),
    "spoken_email": ("at", "dot", "underscore", "dash", "labels", "label_joins"),
    "records_asked": ("records", "verbs", "showing"),
    "order_as_object": ("verbs",),
    "addresses": ("street_kinds", "kinds_before_name", "not_in_name"),
    "whom_to_ask": ("asking", "verbs", "carrier", "shop"),
    "where_now": ("now",),
    "phones": ("labels",),
    "payments": ("by", "means", "reference"),
    "po_box": ("labels",),
    "digits_said": (
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "double",
        "triple",
        "zero_between",
    ),
    "clause_end": ("particles",),
    "other_shop": ("this_shop", "same_as"),
}


@pytest.mark.parametrize(("section", "key"), [(s, k) for s, keys in ASKED.items() for k in keys])
def test_every_list_the_code_reads_is_there_and_holds_words(section: str, key: str) -> None:
    found = prompts.words(section, key)
    assert found and all(w.strip() == w and w for w in found)
    assert len(set(found)) == len(found), f"[{section}] {key} repeats a word"


def test_an_empty_or_missing_list_is_an_error_not_a_silent_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    table = {"questions": {"openings": []}}
    monkeypatch.setattr(prompts, "toml", lambda name: table)
    with pytest.raises(ValueError, match="openings"):
        prompts.words("questions", "openings")
    with pytest.raises(KeyError):
        prompts.words("questions", "asking")


def test_either_keeps_the_files_order_and_reads_each_word_literally() -> None:
    pattern = re.compile(rf"^(?:{prompts.either('questions', 'place')})$")
    assert pattern.pattern.startswith("^(?:where|which|")
    assert all(pattern.match(w) for w in prompts.words("questions", "place"))
    assert not pattern.match("wherxs")


def test_every_section_of_the_file_is_lists_of_words_and_says_what_it_is_for() -> None:
    table = prompts.toml("reading.toml")
    source = prompts.text("reading.toml")
    for section, lists in table.items():
        header = f"[{section}]"
        before = source[: source.index(header)].rstrip("\n").splitlines()
        assert before and before[-1].startswith("#"), f"{header} has no comment saying what it is for"
        for key, words in lists.items():
            assert isinstance(words, list) and words, f"{header} {key}"
            assert all(isinstance(w, str) and w for w in words), f"{header} {key}"
