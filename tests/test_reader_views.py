"""The act reader's word block keeps each placeholder view's features (`_Block.by_view`): a text reads exactly as the
word vectorizer's own analyzer reads it, whether its view is new, remembered from a text with other order names,
emails, dates or money, or read again after the memo emptied."""

from __future__ import annotations

import random

import pytest

from agent.playbook.acts import _Block, shipped_model, with_placeholders
from tests.test_acts import _edge_texts

_DETAILS = [
    "#TM10196",
    "#5521",
    "AB-7310",
    "XY0042",
    "3001-A",
    "order 12345",
    "diego.okafor@inbox.example",
    "jo+1@x.co.uk",
    "1Z999AA10123456784",
    "SW1A 1AA",
    "K1A 0B1",
    "$25.99",
    "40 dollars",
    "5th of May",
    "12/03",
    "friday",
    "https://track.example/12",
    "DPD",
    "Royal Mail",
]
_FRAMES = [
    "Hi, where is my order {}? My email is {}",
    "where is my order {}",
    "where is my order {}?",
    "I don't want {} cancelled, it was {}",
    "not {} but {}",
    "pllease chek {} and {} thx",
    "{} {}",
    "my parcel {} never came, tracking {}",
    "Was it sent to {}? I paid {}",
    "wayyfair order {} / {}",
]


def _word_block() -> _Block:
    linear = shipped_model()._linear()
    assert linear is not None
    block = linear[0].blocks[0]
    assert block.by_view is not None  # the shipped word block reads by placeholder view
    return block


def _plain(block: _Block, text: str) -> list[int]:
    return [index for feature in block.analyze(text) if (index := block.vocabulary.get(feature)) is not None]


def _texts() -> list[str]:
    rng = random.Random(16)
    made = [frame.format(rng.choice(_DETAILS), rng.choice(_DETAILS)) for frame in _FRAMES for _ in range(60)]
    return _edge_texts()[::2] + made


def test_a_placeholder_view_analyzed_is_the_word_analyzers_reading() -> None:
    block = _word_block()
    assert block.by_view is not None
    view, analyze = block.by_view
    for text in _texts():
        assert view(text) == with_placeholders(text)
        assert analyze(view(text)) == block.analyze(text), text


@pytest.mark.parametrize("kept", [_Block.WORDS_KEPT, 7])
def test_the_word_blocks_features_are_its_analyzers_new_remembered_or_forgotten(kept: int) -> None:
    block = _word_block()
    texts = _texts()
    saved = _Block.WORDS_KEPT
    try:
        _Block.WORDS_KEPT = kept
        block.memo.clear()
        for _ in range(2):  # the memo empty (or emptied as it fills), then holding the views
            assert [block.features(text) for text in texts] == [_plain(block, text) for text in texts]
    finally:
        _Block.WORDS_KEPT = saved
        block.memo.clear()


def test_texts_sharing_a_view_read_as_each_reads_alone() -> None:
    """Texts whose details differ (one view) read as scikit-learn reads them, one by one and in batches."""
    import numpy as np

    model = shipped_model()
    texts = [frame.format(a, b) for frame in _FRAMES[:4] for a in _DETAILS[:6] for b in _DETAILS[6:9]]
    theirs = model._pipeline.predict_proba(texts)[:, :-1]
    _word_block().memo.clear()
    ours = np.array([[row[act] for act in row] for row in model.probabilities(texts)])
    assert np.allclose(ours, theirs, rtol=0, atol=1e-12)
    alone = [model.read_many([text])[0] for text in texts]
    assert [r for i in range(0, len(texts), 4) for r in model.read_many(texts[i : i + 4])] == alone
