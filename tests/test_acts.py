"""The act reader learned from the shopper corpus: the corpus's own rules, the issue-12 probes, negation, the report."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from agent.playbook.acts import (
    ACTS,
    MAX_ACTS,
    SHIPPED,
    ActModel,
    contrast_spans,
    decide,
    mark_negation,
    negated_spans,
    platform_named,
    read_acts,
    shipped_model,
    training_messages,
    word_view,
)
from evals import acts_report as acts_module
from evals.acts_llm import action_of, expected_actions, format_llm_report, sample, score_llm
from evals.acts_report import ActReport
from evals.corpus import (
    CORPUS_FILE,
    HELD_OUT_STORE,
    PROBES,
    held_out_slice,
    held_out_store,
    load_corpus,
    training_slice,
)
from evals.corpus.build import HERE, build, is_training_only


def _normal(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.fixture(scope="session")
def model() -> ActModel:
    # Trained once for the whole session (about a second), as the playbook does once per process.
    return shipped_model()


@pytest.fixture(scope="session")
def report() -> ActReport:
    return acts_module.act_report()


# --- the corpus ------------------------------------------------------------------------------------------------
def test_corpus_is_large_and_covers_every_act_in_both_splits() -> None:
    corpus = load_corpus()
    assert len(corpus) >= 1500
    assert {a for u in corpus for a in u.acts} == set(ACTS)
    trained = Counter(a for u in training_slice() for a in u.acts)
    held = Counter(a for u in held_out_slice() for a in u.acts)
    assert all(trained[a] >= 20 for a in ACTS), trained
    assert all(held[a] >= 3 for a in ACTS), held
    # Stratified: every act keeps at least a seventh of its split messages out of training (lines of training-only
    # files, `*.train.txt`, are written to teach and were never part of the split).
    split = [u for u in corpus if not is_training_only(u.source)]
    assert sum(u.split == "heldout" for u in split) / len(split) >= 0.15
    in_split = Counter(a for u in training_slice() if not is_training_only(u.source) for a in u.acts)
    assert all(held[a] / (held[a] + in_split[a]) >= 1 / 7 for a in ACTS)


def test_one_whole_store_is_held_out() -> None:
    store = held_out_store()
    assert len(store) >= 150
    assert all(u.split == "heldout" for u in store)
    assert not [u for u in training_slice() if u.store == HELD_OUT_STORE]
    assert {a for u in store for a in u.acts} == set(ACTS)


def test_nothing_held_out_is_trained_on() -> None:
    held = {_normal(u.text) for u in load_corpus() if u.split == "heldout"}
    assert not [u.text for u in training_slice() if _normal(u.text) in held]
    # A variant is never split from the message it was made from.
    splits: dict[str, set[str]] = {}
    for u in load_corpus():
        splits.setdefault(u.source, set()).add(u.split)
    assert all(len(s) == 1 for s in splits.values())


def test_the_issue_probes_are_not_in_the_corpus() -> None:
    texts = [_normal(u.text) for u in load_corpus()]
    for probe in PROBES:
        assert not [t for t in texts if _normal(probe.text) in t], probe.text


def test_the_shipped_file_is_what_the_sources_build() -> None:
    shipped = (HERE / CORPUS_FILE).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in shipped] == [m.model_dump(mode="json") for m in build()]


def test_the_corpus_speaks_in_many_voices() -> None:
    corpus = load_corpus()
    assert len({u.store for u in corpus}) >= 5
    assert Counter(u.origin for u in corpus)["written"] >= 1200
    assert sum(len(u.acts) == 2 for u in corpus) >= 40  # two requests in one message


# --- negation scope --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "scoped"),
    [
        ("please don't escalate this", ["escalate this"]),
        ("I ordered from you, not Amazon", ["Amazon"]),
        ("I don't want to cancel, just tell me where it is", ["want to cancel"]),
        ("No, I'll ask the neighbours first", []),
        ("I haven’t had my money back but I will wait", ["had my money back"]),
    ],
)
def test_negation_scope_runs_to_the_clause_end(text: str, scoped: list[str]) -> None:
    clean = text.replace("’", "'")
    assert [clean[a:b] for a, b in negated_spans(text)] == scoped


@pytest.mark.parametrize(
    ("text", "turned_down"),
    [
        ("I'd rather have a new one than a refund", ["a refund"]),
        ("would prefer a replacement over store credit, thanks", ["store credit"]),
        ("it's been more than two weeks", []),  # "than" without a preference before it turns nothing down
        ("over a week late, rather annoyed", []),
    ],
)
def test_a_preference_marks_what_it_turns_down(text: str, turned_down: list[str]) -> None:
    assert [text[a:b] for a, b in contrast_spans(text)] == turned_down
    marked = re.findall(r"[\w']+", word_view(text, concepts=False, contrast=True))
    assert all(f"neg_{w}" in marked for phrase in turned_down for w in phrase.lower().split())
    # Off by default, and nothing changes where no preference turns anything down.
    unmarked = word_view(text, concepts=False)
    assert "neg_" not in unmarked
    assert (unmarked == word_view(text, concepts=False, contrast=True)) == (not turned_down)


def test_the_word_view_marks_negated_words_and_platform_names() -> None:
    assert mark_negation("Please don't escalate this") == "please don't neg_escalate neg_this"
    assert mark_negation("where is my Amazon order") == "where is my amazon xplatformx order"
    assert mark_negation("not Amazon") == "not neg_amazon neg_xplatformx"


# --- the issue-12 probes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("probe", PROBES, ids=[p.text for p in PROBES])
def test_issue_probe(model: ActModel, probe) -> None:
    reading = model.read(probe.text)
    assert reading.top in probe.expect_any, reading.acts
    assert not reading.has(*probe.forbid), reading.acts


def test_negated_requests_are_reported_as_negated(model: ActModel) -> None:
    cancel = model.read("I don't want to cancel, just tell me where it is")
    assert "cancel_request" in cancel.negated and "cancel_request" not in cancel.acts
    escalate = model.read("please don't escalate this")
    assert "ask_human" in escalate.negated and escalate.top == "no_human"


def test_a_named_marketplace_is_given_unless_negated(model: ActModel) -> None:
    amazon = model.read("Where is my Amazon order?")
    assert amazon.top == "other_platform" and amazon.platform == "Amazon"
    ours = model.read("It's not an Amazon order, I bought it on your website. Where is it?")
    assert ours.top == "where_is_order" and ours.platform is None and not ours.has("other_platform")


@pytest.mark.parametrize("message", ["Where is my Etſy order?", "It waſ from Etſy actually, not your ſite"])
def test_a_marketplace_written_with_letters_the_pattern_folds_is_named(model: ActModel, message: str) -> None:
    # "ſ" matches "s" in the case-blind pattern of names but not under `str.lower`: the name was looked up by the
    # latter, and the reading raised StopIteration (the turn ended in the turn-failed reply).
    reading = model.read(message)
    assert reading.top == "other_platform" and reading.platform == "Etsy"
    assert platform_named("vİnted") == "Vinted" and platform_named("AMAZON") == "Amazon"


def test_two_requests_in_one_message(model: ActModel) -> None:
    reading = model.read("The mug arrived smashed, can you send me a new one?")
    assert set(reading.acts) >= {"damaged_item", "replacement"}


def test_a_reading_is_well_formed(model: ActModel) -> None:
    reading = read_acts("hi")
    assert reading == model.read("hi")  # read_acts uses the process's one model
    assert reading.acts and len(reading.acts) <= MAX_ACTS
    assert set(reading.probabilities) == set(ACTS)
    assert reading.probabilities[reading.top] == max(reading.probabilities.values())


def test_training_is_deterministic() -> None:
    # Every eighth training message: a sample with every act in it, wherever new source files sort.
    sample = [(u.text, u.acts) for u in training_slice()[::8]]
    texts = [u.text for u in held_out_slice()[:50]]
    assert ActModel.train(sample).probabilities(texts) == ActModel.train(sample).probabilities(texts)


# --- measurement -----------------------------------------------------------------------------------------------
def test_report_scores_both_held_out_sets(report: ActReport) -> None:
    slice_, store = report.slices
    assert slice_.messages == len(held_out_slice()) and store.messages == len(held_out_store())
    assert HELD_OUT_STORE in store.name
    assert report.trained_on == len(training_slice())
    for s in report.slices:
        assert {a.act for a in s.per_act} == set(ACTS)
        assert all(0.0 <= a.f1 <= 1.0 for a in s.per_act)
        # A floor under today's measurement (was 0.88/0.85 before CV-chosen features, 0.89/0.87 before the
        # training-only batches 17-25), so a worse reader fails here.
        assert s.top_act >= 0.93 and s.exact >= 0.92
    assert all(p.passed for p in report.probes)


def test_cli_prints_the_report(report: ActReport, monkeypatch, capsys) -> None:
    monkeypatch.setattr(acts_module, "act_report", lambda: report)
    assert acts_module.main(["--report"]) == 0
    out = capsys.readouterr().out
    assert "held-out slice" in out and f"held-out store ({HELD_OUT_STORE})" in out
    assert "where_is_order" in out and "issue 12 probes: 14/14" in out


# --- the development metric: leave one training store out ----------------------------------------------------
def test_cross_validation_leaves_each_training_store_out_and_never_touches_held_out(monkeypatch) -> None:
    held = {u.text for u in load_corpus() if u.split == "heldout"}
    trained_on: list[set[str]] = []
    real_train = ActModel.train.__func__  # type: ignore[attr-defined]

    def recording(cls, messages, settings=None):
        pairs = list(messages)
        trained_on.append({text for text, _ in pairs})
        return real_train(cls, pairs, settings)

    monkeypatch.setattr(ActModel, "train", classmethod(recording))
    cv = acts_module.cross_validate()
    stores = {u.store for u in training_slice()}
    assert set(cv.stores) == stores and HELD_OUT_STORE not in stores and len(stores) >= 4
    assert len(trained_on) == len(stores)
    assert all(not (texts & held) for texts in trained_on)
    # Every training message is read exactly once, by a reader that never saw its store.
    assert len(cv.gold) == len(training_slice())
    for store, texts in zip(cv.stores, trained_on, strict=True):
        assert not texts & {u.text for u in training_slice() if u.store == store}
    score = cv.score(SHIPPED.thresholds)
    assert 0.9 <= score.exact <= 1.0 and {a.act for a in score.per_act} == set(ACTS)


def test_thresholds_decide_only_second_acts_and_the_top_act_is_kept() -> None:
    probs = dict.fromkeys(ACTS, 0.0) | {"where_is_order": 0.3, "thanks": 0.25}
    assert decide(probs) == ("where_is_order",)  # below every threshold, the top act is still read
    assert decide(probs, {"thanks": 0.2}) == ("where_is_order", "thanks")
    many = dict.fromkeys(ACTS, 0.9)
    assert len(decide(many)) == MAX_ACTS
    # A message that reads as making two requests reads its second act from `second` (never above its own threshold).
    assert decide(probs, second=0.2) == ("where_is_order", "thanks")
    assert decide(probs, {"thanks": 0.1}, second=0.3) == ("where_is_order", "thanks")
    assert decide(probs, second=0.3) == ("where_is_order",)


def test_a_second_request_beside_the_first_is_read(model: ActModel) -> None:
    """The reader learns whether a message carries two acts: the second of two requests is read though its own
    classifier, pulled down by the first request's words, gives it less than its threshold."""
    text = "can you stop the mug order, and where is the teapot?"
    ((probs, second),) = model.scores([text])
    assert second is not None
    assert decide(probs, SHIPPED.thresholds, model.together) == ("where_is_order",)
    assert set(model.read(text).acts) == {"where_is_order", "cancel_request"}
    assert model.scores(["ok thanks"])[0][1] is None


# --- placeholders: what varies by store is one token --------------------------------------------------------------
@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("where is order #1042", "where is order FF-2101"),
        ("my DPD parcel hasn't come", "my USPS parcel hasn't come"),
        ("I paid $65.00", "I paid £20"),
        ("it was due on Oct 29", "it was due on 3rd of March"),
        ("my email is jo@example.com", "my email is kim.lee@shop.co.uk"),
        ("postcode M5V 3L7", "postcode SW1A 1AA"),
        ("tracking 1Z999AA10123456784", "tracking LX123456789GB"),
    ],
)
def test_store_varying_details_are_the_same_evidence(one: str, other: str) -> None:
    assert word_view(one) == word_view(other)


def test_negation_still_reaches_placeholders() -> None:
    assert word_view("not with Royal Mail") == "not neg_with neg_xcarrierx"
    assert "xplatformx" in word_view("my Amazon order")


def test_policy_questions_are_read_as_such(model: ActModel) -> None:
    # Training-store wording; a question about the policy is not a request to return.
    assert "policy_question" in ACTS
    assert model.read("what is your return policy").top == "policy_question"
    assert model.read("I want to return the lamp, it's too big").top == "return_request"


# --- an LLM's choices scored on the corpus --------------------------------------------------------------------
def test_expected_actions_follow_what_the_message_carries() -> None:
    assert expected_actions(("where_is_order",), "where is my order?") == {"reply"}
    assert expected_actions(("where_is_order",), "where is #1042? jo@example.com") == {"lookup"}
    assert expected_actions(("no_human",), "please do not pass me on") == {"reply"}
    assert expected_actions(("ask_human",), "a person please") == {"reply", "escalate"}


def _messages(*calls: tuple[str, dict]) -> list:
    from pydantic_ai.messages import ModelResponse, ToolCallPart

    return [ModelResponse(parts=[ToolCallPart(tool_name=name, args=args) for name, args in calls])]


def test_the_action_is_read_from_the_tool_calls() -> None:
    assert action_of(_messages(("find_order", {}))) == "reply"  # how the agent asks for the number
    assert action_of(_messages(("find_order", {"order_number": "1042"}))) == "lookup"
    assert action_of(_messages(("find_order", {"order_number": "1042"}), ("escalate", {"reason": "x"}))) == "escalate"
    assert action_of([]) == "reply"


async def test_an_llm_is_scored_per_act_over_the_openai_wire(monkeypatch) -> None:
    from pydantic_ai import models

    from agent.models import llm_from_settings
    from evals.fakes.openai_api import OpenAICompatServer

    monkeypatch.setattr(models, "ALLOW_MODEL_REQUESTS", True)
    messages = sample(held_out_slice(), 24)
    assert messages == sample(held_out_slice(), 24)  # the same sample every run
    async with OpenAICompatServer() as server:
        model = llm_from_settings("openai:playbook-wire", server.base_url)
        report = await score_llm(model, messages, "openai:playbook-wire")
    assert report.messages == 24 and server.requests >= 24
    assert {a.act for a in report.per_act} == {a for m in messages for a in m.acts}
    assert all(c.action in ("lookup", "escalate", "reply") for c in report.choices)  # no provider errors
    # The playbook behind the wire asks before it looks up and escalates nobody on a first message.
    assert report.agreement >= 0.9
    assert "LLM choices on the held-out slice" in format_llm_report(report)


def test_lumen_eval_takes_the_llm_scoring_options() -> None:
    from evals.runner import parse_args

    options = parse_args(["--model", "openai:playbook-wire", "--acts-llm", "--acts-sample", "30"])
    assert options.acts_llm and options.acts_sample == 30


def test_adding_lines_never_moves_a_held_out_message_into_training() -> None:
    from evals.corpus.build import assign_splits, read_pins, read_sources

    written = read_sources()
    before = {(u.store, u.text): u.split for u in assign_splits(written)}
    pins = read_pins()
    # Every recorded split is the one shipped, and the held-out store is held out whole.
    assert all(before[key] == split for key, split in pins.items() if key in before)
    assert all(split == "heldout" for (store, _), split in before.items() if store == HELD_OUT_STORE)
    extra = [
        u.model_copy(update={"text": f"{u.text} (new line {i})", "source": f"new:{i}"})
        for i, u in enumerate(written[:200])
    ]
    after = {(u.store, u.text): u.split for u in assign_splits(written + extra)}
    assert all(after[key] == split for key, split in before.items())
    # New lines are held out too, about a fifth of them.
    new = [after[(u.store, u.text)] for u in extra if u.store != HELD_OUT_STORE]
    assert 0.1 <= new.count("heldout") / len(new) <= 0.3


def test_training_only_files_go_to_training_and_leave_the_held_out_sets_as_they_were() -> None:
    from evals.corpus.build import assign_splits, read_pins, read_sources

    written = read_sources()
    assert [u for u in written if is_training_only(u.source)], "no training-only source file"
    splits = {(u.store, u.text): u.split for u in assign_splits(written)}
    assert all(splits[(u.store, u.text)] == "train" for u in written if is_training_only(u.source))
    # Without them, every other message has the split it had: they add to training and move nothing.
    rest = [u for u in written if not is_training_only(u.source)]
    assert {(u.store, u.text): u.split for u in assign_splits(rest)} == {
        key: split for key, split in splits.items() if key in {(u.store, u.text) for u in rest}
    }
    # And a pinned message keeps its pin.
    assert all(splits[key] == split for key, split in read_pins().items() if key in splits)
    # A held-out store's file is held out even when named training-only.
    held = rest[0].model_copy(update={"store": HELD_OUT_STORE, "source": f"{HELD_OUT_STORE}.9.train.txt:1"})
    assert assign_splits([held])[0].split == "heldout"


def test_the_stacked_linear_reading_is_scikit_learns_own() -> None:
    """`ActModel.probabilities` multiplies the stacked weights once instead of asking 28 estimators: the same numbers."""
    import numpy as np

    model = shipped_model()
    assert model._linear() is not None  # the shipped classifier takes the fast path
    texts = [text for text, _ in training_messages()[:300]] + ["where is #1042?", "nope", "ok 👍", ""]
    fast = np.array([[row[act] for act in ACTS] for row in model.probabilities(texts)])
    slow = model._pipeline.predict_proba(texts)
    assert slow.shape[1] == len(ACTS) + 1  # and last, whether a message carries more than one act (`two_bar`)
    assert np.allclose(fast, slow[:, : len(ACTS)], rtol=0, atol=1e-12)
    assert SHIPPED.two_bar is not None
    two = np.array([1.0 if s is not None else 0.0 for _, s in model.scores(texts)])
    assert np.array_equal(two, (slow[:, len(ACTS)] >= SHIPPED.two_bar).astype(float))


# The regression sets the reader may be checked on, named one by one so that a held-out set added later is never
# read (stranger4, 7 and 9 are held out: see the developers' guide).
REGRESSION_SETS = ("stranger", *(f"stranger{n}" for n in (2, 3, 5, 6, 8, *range(10, 33))))


def _regression_turns() -> list[str]:
    """Every shopper turn of the scenario suite and of the regression sets one may read, and each turn's pieces
    between punctuation (the playbook reads a message's clauses too)."""
    import yaml

    root = HERE.parent
    sets = [root / name / "cases.yaml" for name in REGRESSION_SETS]
    cases = [case for path in [root / "cases.yaml", *sets] for case in yaml.safe_load(path.read_text())["cases"]]
    turns = [turn for case in cases for turn in case["inputs"].get("turns", [])]
    pieces = [piece.strip() for turn in turns for piece in re.split(r"[,.;!?]", turn) if piece.strip()]
    return list(dict.fromkeys(turns + pieces))


def test_the_reader_read_block_by_block_scores_every_training_line_as_scikit_learn_does() -> None:
    """A message or a few are read with no sparse matrix built (`_Blocks`): each vectorizer's counts, weighting and
    norm times its rows of the weights, the character n-grams word by word from a memo. On every training line and
    every regression turn and its pieces, the probabilities are scikit-learn's own."""
    import numpy as np
    from scipy.special import expit

    from agent.playbook.acts import _Blocks

    model = shipped_model()
    linear = model._linear()
    assert linear is not None and isinstance(linear[0], _Blocks)  # the shipped reader is read block by block
    blocks, _, bias = linear
    texts = [text for text, _ in training_messages()] + ["where is #1042?", "not Amazon, no", "ok 👍", "", "!!"]
    texts += ["  spaced\tout\n\nwords  ", "\u2003em\u2003space", "x\x1cy", *_regression_turns()]
    theirs = model._pipeline.predict_proba(texts)
    assert blocks.blocks[1].by_word is not None  # the character block is read word by word
    blocks.blocks[1].memo.clear()
    for _ in range(2):  # the words' memo empty, then full
        assert np.allclose(expit(blocks.scores(texts) + bias), theirs, rtol=0, atol=1e-12)
    # What `read` uses for a message and its clauses is that path.
    few = np.array([[row[act] for act in ACTS] for row in model.probabilities(texts[:3])])
    # (the last column, whether a message carries more than one act, is read by `scores`, not `probabilities`)
    assert np.array_equal(few, expit(blocks.scores(texts[:3]) + bias)[:, : len(ACTS)])


def test_a_text_reads_the_same_alone_and_in_any_batch() -> None:
    """`read_acts_together` reads a message and its clauses in one call, and each must read exactly as it would
    alone (`read_acts`): every row of a batch's scores is summed from that row's entries only."""
    import numpy as np

    from agent.playbook.acts import _Block

    model = shipped_model()
    blocks = model._linear()[0]  # type: ignore[index]
    texts = [text for text, _ in training_messages()[::7]] + _regression_turns()[::5] + ["", "ok 👍"]
    alone = np.vstack([blocks.scores([text]) for text in texts])
    for size in (2, 5, 33):
        batched = np.vstack([blocks.scores(texts[i : i + size]) for i in range(0, len(texts), size)])
        assert np.array_equal(batched, alone)
    assert [model.read(text) for text in texts[:25]] == model.read_many(texts[:25])  # up to `_Blocks.FEW` texts
    # A memo emptied as it fills reads the same too.
    kept = _Block.WORDS_KEPT
    try:
        _Block.WORDS_KEPT = 5
        assert np.array_equal(np.vstack([blocks.scores(texts[i : i + 5]) for i in range(0, 200, 5)]), alone[:200])
    finally:
        _Block.WORDS_KEPT = kept


def _plain_mark_negation(text: str, contrast: bool = False) -> str:
    """`mark_negation` as written before its short cut: every word through the scope test."""
    from agent.playbook.acts import _NAME_LIKE, _WORD, APOSTROPHES, _platform_names, misspelled_platform

    text = _platform_names().pattern.sub(lambda m: f"{m.group(0)} xplatformx", text.translate(APOSTROPHES))
    text = _NAME_LIKE.sub(lambda m: f"{m.group(0)} xplatformx" if misspelled_platform(m.group(0)) else m.group(0), text)
    spans = negated_spans(text) + (contrast_spans(text) if contrast else [])

    def marked(word: re.Match[str]) -> str:
        inside = any(start <= word.start() < end for start, end in spans)
        return f"neg_{word.group(0)}" if inside else word.group(0)

    return _WORD.sub(marked, text).lower()


def _plain_placeholders(text: str) -> str:
    """`with_placeholders` as written before its short cuts: every pattern over every text."""
    from agent.playbook.acts import _PLACEHOLDERS, APOSTROPHES, _carrier_names

    text = _carrier_names().pattern.sub(" xcarrierx ", text.translate(APOSTROPHES))
    for token, pattern in _PLACEHOLDERS:
        text = pattern.sub(f" {token} ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def test_the_word_and_character_views_are_the_plain_ones() -> None:
    """The short cuts of the views (passes skipped, or cut to the branches that can match, where the text lacks
    what the rest need) give what every pass gives, on every training line and regression turn and on edge cases;
    the probabilities test above cannot see this, as scikit-learn's pipeline calls the same views."""
    from agent.playbook.acts import with_placeholders

    texts = [text for text, _ in training_messages()] + _regression_turns()
    texts += ["not Amazon", "I'd rather not", "NO WAY", "don't", "ſhein order not", "İ don't know", ""]
    texts += ["on FRİDAY", "ſundays", "see you tuesday", "$5", "5 dollars", "five dollars", "€ 20", "AUD5", "5 bucks!"]
    texts += ["jo@example.com", "jo at example.com", "www.example.com/x", "5th of may", "may 5", "1Z999AA10123456784"]
    texts += [
        "ſep 5",
        "SEP 5th",
        "12/03",
        "3.4.2026",
        "2-3 days",
        "the 3rd",
        "SW1A 1AA",
        "k1a 0b1",
        "M1 1AE",
        "A1",
        "1A",
    ]
    texts += ["WWW.X.COM", "HTTP://x.y", "see http://a.b/1234", "#12", "#x1", "AB-123", "12345678", "1234567", "x 12"]
    texts += ["order ab-1234 on 3/4", "£5 on may 3rd", "K1A 0B1 \u212a1A", "İ1A ı1A", "5 dollars 12345678901"]
    for text in texts:
        assert with_placeholders(text) == _plain_placeholders(text), text
        assert mark_negation(text) == _plain_mark_negation(text), text
        assert mark_negation(text, contrast=True) == _plain_mark_negation(text, contrast=True), text
        placeholders = with_placeholders(text)
        assert mark_negation(placeholders) == _plain_mark_negation(placeholders), text


# Pieces of dates, weekdays (whole, cut, in odd cases, with the letters a case-blind pattern folds), money, order
# names, emails and postcodes, so random texts hold every mix of what the placeholder passes need and lack.
_PIECES = (
    *("monday", "MONDAY", "Tuesdays", "wednes", "day", "DAY", "dAy", "d", "ay", "y", "fri", "FRİDAY", "ſunday"),
    *("sat", "urday", "thurs", "today", "days", "Sunday's", "weekday", "mon", "sun"),
    *("may", "ſep", "Dec", "of", "5th", "3rd", "12/03", "3.4.2026", "2026-11-27", "1", "12", "123", "12345678"),
    *("$", "€", "5", "dollars", "#", "TM10001", "AB-123", "@", "jo@example.com", "www.", "http://", "SW1A 1AA"),
    *(" ", " ", " ", ",", ".", "'", "’", "\t", "\n", "İ", "ı", "\u212a", "é", "x", "DHL", "ups"),
)


def test_random_texts_get_every_passs_placeholders() -> None:
    """`with_placeholders` skips the passes a text cannot match; on random texts it gives what every pass gives."""
    import random

    from agent.playbook.acts import with_placeholders

    rng = random.Random(17)
    for _ in range(20_000):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 10)))
        assert with_placeholders(text) == _plain_placeholders(text), text


def test_a_weekday_is_a_date_however_it_is_written() -> None:
    from agent.playbook.acts import with_placeholders

    for text in ("on Monday", "on MONDAY", "FRİDAY 5", "ſundays", "see you tuesday!", "Wednesday's fine"):
        assert "xdatex" in with_placeholders(text), text
    assert with_placeholders("today, 5 days") == _plain_placeholders("today, 5 days")


def test_the_reader_builds_scikit_learns_own_feature_matrix() -> None:
    """`ActModel.probabilities` calls the vectorizers without FeatureUnion's per-call machinery: the very same matrix."""
    import numpy as np

    from agent.playbook.acts import _features_of

    union = shipped_model()._pipeline.named_steps["features"]
    texts = [text for text, _ in training_messages()[:200]] + ["where is #1042?", "not Amazon, no", "ok 👍", ""]
    ours, theirs = _features_of(union, texts), union.transform(texts)
    assert ours.shape == theirs.shape
    assert (ours != theirs).nnz == 0
    assert np.array_equal(ours.toarray(), theirs.toarray())


def test_a_text_is_read_once_while_recent_and_afresh_by_a_new_model() -> None:
    """Readings are kept per model and text: the same text gets the same reading, a model trained anew reads afresh."""
    from agent.playbook.acts import ActModel, _read_with

    model = shipped_model()
    first = read_acts("where is my parcel, order #5521?")
    assert read_acts("where is my parcel, order #5521?") is first
    assert first == model.read("where is my parcel, order #5521?")
    other = ActModel.train(training_messages()[::8])  # every 8th line holds every act, whatever order files sort in
    assert _read_with(other, "where is my parcel, order #5521?") == other.read("where is my parcel, order #5521?")
    assert read_acts("where is my parcel, order #5521?") is first


# --- spelling: a slipped word keeps its word's evidence ------------------------------------------------------------
def test_a_word_one_slip_from_a_known_word_also_reads_as_that_word() -> None:
    from agent.playbook.acts import Speller

    speller = Speller.learn(["please cancel my order", "please cancel it", "where is my order please"] * 2)
    # Dropped, doubled, swapped and mistyped letters: the word as typed stays, the known word is added beside it.
    assert speller("pleease cancle my ordre") == "pleease please cancle cancel my ordre order"
    assert speller("Plaese") == "Plaese please"
    assert speller("cancel my order") == "cancel my order"  # known words are left alone
    assert speller("teapot") == "teapot"  # nothing known one slip away: left alone
    # Order numbers, emails and short words are never touched.
    assert speller("#1042 jo@example.com ok") == "#1042 jo@example.com ok"


def test_the_reader_reads_slipped_words_like_the_words(model: ActModel) -> None:
    assert model.settings.spelling
    for typed, meant in [
        ("I want to cancle my order", "I want to cancel my order"),
        ("it came brokne", "it came broken"),
    ]:
        assert model.read(typed).top == model.read(meant).top


# --- the training-only CV script --------------------------------------------------------------------------------
def test_cv_counts_confusions_and_keeps_split_file_lines_apart() -> None:
    from evals.corpus import Utterance
    from evals.corpus.cv import Fold, confusions, written_only

    rows = [
        Utterance(text="a", acts=("ship_when",), store="s", split="train", source="s.txt:1"),
        Utterance(text="b", acts=("cancel_request", "where_is_order"), store="s", split="train", source="s.txt:2"),
        Utterance(text="c", acts=("thanks",), store="s", split="train", source="s.34.train.txt:1"),
    ]
    read = [("where_is_order",), ("cancel_request",), ("thanks",)]
    fold = Fold(rows, read, [{} for _ in rows])  # type: ignore[arg-type]
    # A missed act against the act read instead; a dropped second act against nothing; a right reading not at all.
    assert confusions(fold) == Counter({("ship_when", "where_is_order"): 1, ("where_is_order", "-"): 1})
    assert [u.text for u in written_only(fold).rows] == ["a", "b"]


def test_word_families_skipped_by_first_word_read_the_same() -> None:
    from agent.playbook.acts import _concepts, with_concepts, with_placeholders

    def every_family(text: str) -> str:
        for token, pattern, _ in _concepts():
            text = pattern.sub(lambda m, t=token: f"{m.group(0)} {t}", text)  # type: ignore[misc]
        return text

    for u in load_corpus():
        text = with_placeholders(u.text)
        assert with_concepts(text) == every_family(text), u.text


def test_names_skip_only_texts_their_pattern_cannot_match() -> None:
    """`Names` passes over a text none of whose words begins a name: every training message, and edge cases of
    case, apostrophes and punctuation inside names, give exactly what the whole pattern gives."""
    from agent.playbook.acts import Names, training_messages

    names = Names(["DPD", "J&T Express", "An Post", "Shein", "@home", "Canada Post"])
    texts = [text for text, _ in training_messages()] + [
        "was it DPD's van?", "j&t express said so", "AN POST lost it", "ſhein order", "sent via @home",
        "canada   post", "canadapost", "dpd-uk", "my shein haul", "nothing here", "",
    ]  # fmt: skip
    mark = lambda m: f"<{m.group(0)}>"  # noqa: E731
    for text in texts:
        assert names.sub(mark, text) == names.pattern.sub(mark, text), text
        assert [m.span() for m in names.finditer(text)] == [m.span() for m in names.pattern.finditer(text)], text
    assert names.sub(mark, "was it DPD's van?") == "was it <DPD>'s van?"
    assert names.sub(mark, "ſhein order") == "<ſhein> order"  # the regex's own case folding, kept


def test_a_marketplace_one_slip_away_is_found_as_by_making_every_slip() -> None:
    """`misspelled_platform` tests the names against the word instead of making the word's every slip: the same
    name, on the words of every training line, slips of every name, and slips of those slips."""
    import random

    from agent.playbook.acts import _long_platform_names, misspelled_platform, one_slip, one_slip_apart

    names = _long_platform_names()
    rng = random.Random(0)
    words = {w.lower() for text, _ in training_messages() for w in re.findall(r"[^\W\d_]{5,}", text)}
    for name in names:
        of_name = sorted(one_slip(name))
        words |= {*rng.sample(of_name, 40), *rng.sample(sorted(one_slip(rng.choice(of_name))), 20)}
    words |= {"Wayyfair", "LZADA", "éwayfair", "waýfair"}
    for word in words:
        lowered = word.lower()
        slips = one_slip(lowered)
        assert [n for n in names if n in slips and n != lowered] == [n for n in names if one_slip_apart(lowered, n)]
        made = None if lowered in names else next((names[e] for e in sorted(slips) if e in names), None)
        assert misspelled_platform(word) == made, word


def _edge_texts() -> list[str]:
    """Training lines, regression turns and their pieces, and texts made of words the short cuts look at."""
    import random

    pieces = [
        "hi",
        "Hi,",
        "where",
        "is",
        "my",
        "order",
        "#TM10001",
        "?",
        "5th",
        "may",
        "MAY",
        "jan",
        "12/3",
        "www.",
        "http://",
        "@",
        "jo@x.co",
        "$",
        "5",
        "dollars",
        "£",
    ]
    pieces += [
        "SW1A",
        "1AA",
        "ſ",
        "İ",
        "ı",
        "K",
        "1Z999",
        "12345678",
        "wrong",
        "mix-up",
        "not",
        "what",
        "i",
        "ordered",
        "thanks",
        "ok",
        "yes",
        "no",
    ]
    pieces += [
        "g'day",
        "olá",
        "tschüss",
        "Amazon",
        "wayyfair",
        "Wayyfair",
        "pllease",
        "msising",
        "cancle",
        "broke",
        "broken",
    ]
    rng = random.Random(10)
    texts = [text for text, _ in training_messages()] + _regression_turns()
    return texts + [" ".join(rng.choice(pieces) for _ in range(rng.randint(1, 8))) for _ in range(5_000)]


def test_word_families_tried_only_at_their_first_words_read_as_every_family() -> None:
    """`with_concepts` tries a word-led family's pattern only where one of its first words begins (in an ASCII text):
    what running every family's pattern over the whole text gives."""
    from agent.playbook.acts import _concepts, with_concepts, with_placeholders

    def every_family(text: str) -> str:
        for token, pattern, _ in _concepts():
            text = pattern.sub(lambda m, t=token: f"{m.group(0)} {t}", text)  # type: ignore[misc]
        return text

    for text in _edge_texts():
        for view in (text, with_placeholders(text)):
            assert with_concepts(view) == every_family(view), text


def test_placeholder_passes_are_their_branches() -> None:
    """Each pass's pattern is its branches joined (`_BRANCHES_NEED`), so a pass cut to some of them is the pass."""
    from agent.playbook.acts import _BRANCHES_NEED, _PLACEHOLDERS

    for token, pattern in _PLACEHOLDERS:
        assert "|".join(branch for branch, _ in _BRANCHES_NEED[token]) == pattern.pattern, token


def test_the_speller_passes_over_a_text_with_no_slipped_word_as_its_substitution_does() -> None:
    from agent.playbook.acts import _SPELLED

    speller = shipped_model()._pipeline.named_steps["features"].transformer_list[0][1].preprocessor.keywords["speller"]
    for text in _edge_texts():
        assert speller(text) == _SPELLED.sub(speller._both, text), text


def test_character_n_grams_of_a_word_are_scikit_learns() -> None:
    """`_wb_ngrams` gives the list scikit-learn's `_char_wb_ngrams` gives for one word, for every n-gram range."""
    from agent.playbook.acts import _wb_ngrams

    vectorizer = shipped_model()._pipeline.named_steps["features"].transformer_list[1][1]
    assert vectorizer.analyzer == "char_wb"
    words = {word for text in _edge_texts()[::3] for word in mark_negation(text).split()}
    words |= {"a", "ab", "abc", "abcd", "👍", "x" * 40}
    original = vectorizer.ngram_range
    try:
        for low, high in [(1, 4), (1, 1), (2, 5), (3, 3), (1, 6)]:
            vectorizer.ngram_range = (low, high)
            for word in words:
                assert _wb_ngrams(word, low, high) == vectorizer._char_wb_ngrams(word), (word, low, high)
    finally:
        vectorizer.ngram_range = original
