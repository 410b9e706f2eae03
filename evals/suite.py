"""The suite: the scenario dataset bound to Lumen's evaluators.

`evals/dataset.py` reads cases and knows no evaluator; `evals/evaluators.py` scores runs and knows no YAML. This is
the one place that puts them together, so that a cases file may name any of `CUSTOM_EVALUATORS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evals.dataset import LumenDataset, read_dataset
from evals.evaluators import CUSTOM_EVALUATORS


def load_dataset(paths: Sequence[Path | str] | None = None) -> LumenDataset:
    """The cases of one or more YAML files (default: evals/cases.yaml) as one dataset, with Lumen's evaluators."""
    return read_dataset(paths, CUSTOM_EVALUATORS)
