"""The shopper messages we have, for equivalence tests that must hold on real wording: the act reader's training
lines, then every turn of the scenario suite and of the regression sets."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from evals.corpus import training_slice

ROOT = Path(__file__).resolve().parents[1]
# The scenario suite's turns and the regression sets' (stranger4, 7 and 9 are held out: see the developers' guide).
SETS = ("", "stranger", *(f"stranger{n}" for n in (2, 3, 5, 6, 8, *range(10, 33))))


@cache
def shopper_texts() -> tuple[str, ...]:
    texts = [u.text for u in training_slice()]
    for name in SETS:
        path = ROOT / "evals" / name / "cases.yaml"
        if path.exists():
            for case in yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]:
                texts += [t for t in case["inputs"].get("turns", []) if isinstance(t, str)]
    return tuple(texts)
