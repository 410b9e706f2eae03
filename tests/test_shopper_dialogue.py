"""General capabilities found missing on a blind store (evals/stranger2), each checked here in other words and on
other stores: order names typed with the shop's letters anywhere, a second request in one message, the state of an
open offer (any yes, any no, an impatient "hello?"), and replies that read cleanly after an abbreviation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.playbook import model, understand
from agent.playbook.acts import ACTS, ActReading
from agent.playbook.compose import one_full_stop
from agent.playbook.understand import extract_details, offer_answer
from shopify.names import fits_postal_code, matching_order_names, order_name_matches
from tests.test_playbook import OLIVER, SECOND, as_customer
from tests.test_understanding import ANA, DEMO, store_with_event, talk

JORDAN = "jordan.lee@example.com"  # #1042 on the demo store: two packages in transit


def renamed_store(tmp_path: Path, suffix: str, *, locale: str | None = None, shop_name: str | None = None) -> Path:
    """The demo store with every order named the way a suffix shop names them: '#1042' -> '#1042-XY'."""
    raw = json.loads(DEMO.read_text(encoding="utf-8"))
    for order in raw["orders"]:
        order["name"] = f"{order['name']}-{suffix}"
    if locale:
        raw["shop"]["locale"] = locale
    if shop_name:
        raw["shop"]["name"] = shop_name
    path = tmp_path / "store.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


# --- order names: the shop's letters in any position, spacing and case --------------------------------------------
@pytest.mark.parametrize(
    ("name", "typed", "same"),
    [
        ("#5530-KT", "KT5530", True),  # the suffix typed in front
        ("#5530-KT", "kt 5530", True),
        ("#5530-KT", "5530kt", True),
        ("#5530-KT", "5530 KT", True),
        ("ZB-880-QL", "QL880", True),  # one of two affixes, on the other side
        ("ZB-880-QL", "ql 880 zb", True),  # both, swapped
        ("#5530-KT", "QX5530", False),  # letters the name does not have
        ("#5530-KT", "KTKT5530", False),
        ("#77-B", "77", False),  # a one-letter suffix tells orders apart: never left off
        ("#77-B", "b77", True),
    ],
)
def test_the_shops_letters_match_on_either_side_of_the_number(name: str, typed: str, same: bool) -> None:
    assert order_name_matches(name, typed) is same


def test_letters_on_the_wrong_side_are_put_right_in_the_shops_format() -> None:
    names = ["#5530-KT", "#5531-KT"]
    assert matching_order_names("KT5530", names, prefix="#", suffix="-KT") == ["#5530-KT"]
    assert matching_order_names("KT 5531", names) == ["#5531-KT"]


@pytest.mark.parametrize(
    ("message", "country", "order", "postcode"),
    [
        ("hey it's 5530kt, where is it", None, "5530kt", None),  # glued suffix, lower case
        ("order no. 5530 KT thanks", None, "5530-KT", None),  # "order" says what the code is
        ("5530 KT please, mail p@q.io", "AU", "5530-KT", None),  # no Australian postcode looks so
        ("5530 KT please, mail p@q.io", "NL", None, "5530 KT"),  # a Dutch shop's postcode stays a postcode
        ("ref 5530 KT and H3Z 2Y7", "CA", "5530-KT", "H3Z 2Y7"),  # the shop's own postcode beside it
        ("I need it by 10am, it was 1500ml", None, None, None),  # units and times are no suffix
    ],
)
def test_an_order_name_with_letters_after_its_number_is_read(
    message: str, country: str | None, order: str | None, postcode: str | None
) -> None:
    details = extract_details(message, None, country)
    assert (details.order_number, details.postal_code) == (order, postcode)


def test_postal_codes_are_judged_by_the_shops_country() -> None:
    assert fits_postal_code("h3z2y7", "CA") and fits_postal_code("1011 ab", "NL")
    assert fits_postal_code("1011 AB", "CA") is False
    assert fits_postal_code("1011 AB", None) is None
    # A South African shop's four digits are its postcode, as an Australian shop's are (no longer "not judged").
    assert fits_postal_code("8001", "ZA") and fits_postal_code("80011", "ZA") is False
    assert fits_postal_code("00907-1234", "PR") and fits_postal_code("1000", "PH")
    details = extract_details("8803 7700", None, "ZA")  # an order number, then the shop country's postcode
    assert (details.order_number, details.postal_code) == ("8803", "7700")


@pytest.mark.parametrize("typed", ["XY1042", "1042xy", "1042 XY", "Order number: 1042 XY."])
async def test_a_suffix_shops_order_is_found_however_its_letters_are_typed(tmp_path: Path, typed: str) -> None:
    store = renamed_store(tmp_path, "XY", locale="en-CA")
    talked = await talk(f"{typed} {JORDAN}", store=store)
    assert talked.tools(0) == ["find_order"] and len(talked.packages_read(0)) == 1
    assert "#1042-XY" in talked.replies[0] and "9400111899223197428490" in talked.replies[0]


# --- an open offer is a question: any wording of yes or no answers it ----------------------------------------------
@pytest.mark.parametrize(
    ("message", "answer"),
    [
        ("ja bitte", "yes"),  # German "yes please", a yes in the world's words (`answers.toml` *_languages)
        ("ja, aber wann kommt es?", None),  # more than an answer: the reader decides
        ("ja", "yes"),
        ("ya sure thanks", "yes"),
        ("please", "yes"),
        ("nope", "no"),
        ("non merci", "no"),
        ("oh forget about it, I'll just wait", "no"),
        ("hmm scratch that, all good", "no"),
        ("no it still hasn't arrived", None),
        ("yes but when will it come", None),
        ("yes please, I'll wait to hear from them", None),  # a plain yes first: the reader weighs the rest
        ("ok nvm", "no"),  # a weak yes does not outweigh taking it back
    ],
)
def test_how_a_message_answers_an_open_offer(message: str, answer: str | None) -> None:
    assert offer_answer(message) == answer


async def test_taking_a_request_back_never_escalates() -> None:
    # #1088 has not shipped; a cancellation is offered to the team, then taken back.
    talked = await talk("cancel 1088 please, sam.rivera@example.com", "oh wait never mind, that's ok")
    assert "support team" in talked.replies[0] and talked.replies[0].rstrip().endswith("?")
    assert "escalate" not in talked.all_tools()
    assert "1088" not in talked.replies[1] and "Canvas" not in talked.replies[1]  # no repeat of the status


async def test_a_yes_in_another_language_accepts_the_offer() -> None:
    talked = await talk("cancel 1088 please, sam.rivera@example.com", "ja")
    assert talked.tools(1) == ["escalate"]
    assert "ESC-" in talked.replies[1]


async def test_an_impatient_hello_after_an_answer_keeps_the_order() -> None:
    talked = await talk(f"1042 {JORDAN}", "hi???")
    assert "#1042" in talked.replies[1] and "order number?" not in talked.replies[1]
    assert talked.tools(1) == []
    # The order is still the one being talked about: a follow-up needs no details again.
    followed = await talk(f"1042 {JORDAN}", "hey?", "which carrier has the shoes?")
    assert "FedEx" in followed.replies[2] and followed.tools(2)[0] == "find_order"


async def test_a_logged_in_shopper_naming_an_item_gets_that_order() -> None:
    replies = await as_customer(SECOND, OLIVER, "any news on my hoodie?", "and the mug?")
    assert "FF-2101" in replies[0] and "FF-2113" not in replies[0] and "porch" in replies[0]
    assert "FF-2113" in replies[1] and "out for delivery" in replies[1]


# --- a second request in one message is answered too ---------------------------------------------------------------
async def test_what_a_status_means_with_the_order_details_also_gives_the_orders_state() -> None:
    talked = await talk("what does delayed mean exactly? it's FF-2112, aoife.byrne@example.ie", store=SECOND)
    reply = talked.replies[0]
    assert "later than planned" in reply  # the meaning
    assert "4829105736" in reply and "address query" in reply  # this order's own state
    assert "support team" in reply  # and the offer that state brings
    # Asked again about the order already shown, the meaning alone: no repeat of the whole status.
    again = await talk("FF-2112 aoife.byrne@example.ie", "what does delayed mean?", store=SECOND)
    assert "later than planned" in again.replies[1] and "4829105736" not in again.replies[1]


# --- another platform: named by a list, or as the shop the order was placed with -----------------------------------
@pytest.fixture
def unsure_platform_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An act reader that guesses 'another platform', unsure and with no marketplace named, for one message."""
    real = understand.read_acts

    def read(text: str) -> ActReading:
        if "it just vanished" not in text:
            return real(text)
        probabilities = {act: 0.0 for act in ACTS} | {"other_platform": 0.55}
        return ActReading.model_construct(
            text=text, acts=("other_platform",), probabilities=probabilities, negated=(), platform=None
        )

    monkeypatch.setattr(understand, "read_acts", read)
    model._read_intent.cache_clear()
    yield
    model._read_intent.cache_clear()


@pytest.mark.usefixtures("unsure_platform_reader")
async def test_an_unsure_other_platform_beside_our_order_details_is_looked_up() -> None:
    talked = await talk(f"1042 {JORDAN} it just vanished")
    assert talked.tools(0) == ["find_order"] and len(talked.packages_read(0)) == 1
    assert "check with them directly" not in talked.replies[0]


async def test_a_shop_named_as_where_the_order_was_placed_is_another_platform() -> None:
    elsewhere = await talk("hi, I ordered a kettle from Brightwater Homeware, has it shipped yet?")
    assert "Brightwater Homeware" in elsewhere.replies[0] and elsewhere.all_tools() == []
    ours = await talk(f"I ordered from Harbor & Pine, it's 1042, {JORDAN}")
    assert ours.tools(0) == ["find_order"] and len(ours.packages_read(0)) == 1
    days = await talk("I ordered it on Tuesday, where is it?")
    assert "Tuesday" not in days.replies[0] and "order number" in days.replies[0]


async def test_regional_marketplaces_are_known() -> None:
    talked = await talk("is this where i check on my argos order")
    assert "Argos" in talked.replies[0] and talked.all_tools() == []


# --- composition: one full stop after an abbreviation; the team told what happened --------------------------------
@pytest.mark.parametrize(("shop", "said"), [("Oak & Iron Ltd.", "Oak & Iron Ltd. I can"), ("Acme Inc.", "Acme Inc. I")])
async def test_a_shop_name_ending_in_a_full_stop_takes_no_second_one(tmp_path: Path, shop: str, said: str) -> None:
    store = renamed_store(tmp_path, "XY", shop_name=shop)
    reply = (await talk("hello there", store=store)).replies[0]
    assert said in reply and ".." not in reply


def test_one_full_stop_keeps_an_ellipsis() -> None:
    assert one_full_stop("ready at 4:00 p.m.. Then...") == "ready at 4:00 p.m. Then..."


async def test_a_parcel_going_back_to_the_shop_is_handed_over_as_that(tmp_path: Path) -> None:
    store = store_with_event(tmp_path, "FAILURE", "FAILURE", "Undeliverable, returned to sender")
    talked = await talk(f"where is my order 1094 {ANA}", "yes please", store=store)
    [escalation] = talked.escalations()
    assert "returned to the sender" in escalation["summary"] and "delay" not in escalation["summary"]


# --- a request or problem stated in one clause beside a status question --------------------------------------------
async def test_an_address_change_asked_beside_where_it_is_is_offered_to_the_team() -> None:
    talked = await talk(f"where's 1042 at, and could I update the delivery address? {JORDAN}")
    reply = talked.replies[0]
    assert "9400111899223197428490" in reply  # where it is
    assert "address" in reply and "support team" in reply and reply.rstrip().endswith("?")  # and the request
    assert "escalate" not in talked.all_tools()


async def test_not_wanting_an_address_change_makes_no_request() -> None:
    talked = await talk(f"where's 1042 at? I don't need to change the address, {JORDAN}")
    assert "address" not in talked.replies[0].lower()


async def test_damage_said_in_plain_words_beside_the_details_is_a_problem_not_a_status() -> None:
    talked = await talk(f"1094 {ANA} the poles arrived but one is snapped in half", store=DEMO)
    reply = talked.replies[0]
    assert "damaged" in reply and "support team" in reply and reply.rstrip().endswith("?")


def test_plain_words_of_a_problem_are_read_only_about_what_arrived() -> None:
    assert "damaged_item" in model._clause_cues("where is it, and the lid has a crack, er, is cracked")
    assert model._clause_cues("where is it? the tracking link seems broken") == frozenset()
    assert model._clause_cues("where is it, and I won't need to change the address") == frozenset()
    assert "change_address" in model._clause_cues("where is it and can you redirect it to my office address")


@pytest.mark.parametrize("said", ["that's fine with me, go ahead", "all good, send it to them", "nah go ahead"])
def test_words_that_often_mean_yes_never_decline_an_offer_on_their_own(said: str) -> None:
    from agent.playbook.understand import offer_answer

    assert offer_answer(said) != "no"


@pytest.mark.parametrize("said", ["order 1042 ETA? someone@example.com", "1042 UPS says nothing, someone@example.com"])
def test_a_three_letter_word_after_the_number_is_not_read_as_the_shops_suffix(said: str) -> None:
    from agent.playbook.understand import extract_details

    assert extract_details(said, None).order_number == "1042"
