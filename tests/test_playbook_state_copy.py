"""The playbook's cheap State copy (`_changed`) against `dataclasses.replace`: the same State, field for field, for
any fields changed, so every reply and stored state stays as it was."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from agent.playbook.model import State, _changed

# Values of each kind a State field holds, to draw from (what they mean doesn't matter to a copy).
_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    "",
    "4410",
    "factor",
    frozenset({"cancel_request"}),
    frozenset(),
    (),
    ("a", "b"),
    (("4410", "Boots", "2024-03-01T10:00:00Z"),),
    {"4410": ("ESC-1", "a@b.c")},
    {},
)


def _random_state(rng: random.Random) -> State:
    return State(**{f.name: rng.choice(_VALUES) for f in dataclasses.fields(State) if rng.random() < 0.5})


def test_state_stays_a_plain_dataclass() -> None:
    """What makes the copy `replace`'s equal: every field set by `__init__` from its keyword, nothing run after."""
    assert not hasattr(State, "__post_init__")
    assert not hasattr(State, "__slots__")
    assert all(f.init and f._field_type is dataclasses._FIELD for f in dataclasses.fields(State))  # type: ignore[attr-defined]


def test_changed_equals_replace_over_all_fields() -> None:
    rng = random.Random(16)
    names = [f.name for f in dataclasses.fields(State)]
    for _ in range(3000):
        state = _random_state(rng)
        changes = {name: rng.choice(_VALUES) for name in rng.sample(names, rng.randint(0, len(names)))}
        copied, replaced = _changed(state, **changes), dataclasses.replace(state, **changes)
        assert type(copied) is State
        assert copied == replaced
        assert vars(copied) == vars(replaced)
        assert list(vars(copied)) == list(vars(replaced))  # same attributes, in the same order
        assert copied is not state
        assert all(getattr(copied, n) is getattr(replaced, n) for n in names)  # the same objects, not copies


def test_changed_leaves_the_original() -> None:
    state = State(order_number="4410", concerns=frozenset({"ship_when"}))
    before = dataclasses.replace(state)
    copied = _changed(state, order_number="5510", awaiting="factor")
    copied.email = "a@b.c"
    assert state == before
    assert (copied.order_number, copied.awaiting, state.email) == ("5510", "factor", None)


def test_changed_refuses_what_is_no_field() -> None:
    with pytest.raises(TypeError):
        _changed(State(), order="4410")
    with pytest.raises(TypeError):
        dataclasses.replace(State(), order="4410")  # type: ignore[call-arg]
