"""Where the act reader is weak, from the TRAINING split only: `python -m evals.corpus.cv [--folds N] [--rows ACT]`.

Two cross-validations over the training lines (nothing held out is read, trained on or printed):
- leave-one-store-out (`--folds 0`, the default): each store's training lines read by a reader trained on the other
  stores' (how the reader does on a store it has never seen);
- grouped k-fold (`--folds 5`): the training lines in k folds, a written message and its variant always in the same
  fold (how the reader does on new messages of stores it knows).

It prints per-act F1, the confusions (a labelled act missed -> the act read instead, counted), and with `--rows` the
misread training lines themselves with their source line, to check against the labelling rules in `__init__.py`.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import Counter
from collections.abc import Sequence

from agent.playbook.acts import SHIPPED, Act, ActModel, ReaderSettings
from evals.acts_report import format_slice, score_acts
from evals.corpus import Utterance, training_slice
from evals.corpus.build import is_training_only


class Fold:
    """The out-of-fold readings of one cross-validation."""

    def __init__(self, rows: list[Utterance], read: list[tuple[Act, ...]], probs: list[dict[Act, float]]) -> None:
        self.rows = rows
        self.read = read
        self.probs = probs


def _group(u: Utterance, folds: int) -> int:
    return int(hashlib.sha256(u.source.encode()).hexdigest()[:8], 16) % folds


def cross_validate(settings: ReaderSettings = SHIPPED, folds: int = 0) -> Fold:
    """Out-of-fold readings of every training line: by store (`folds == 0`) or in `folds` groups by source line."""
    train = list(training_slice())
    key = (lambda u: u.store) if folds == 0 else (lambda u: str(_group(u, folds)))
    rows: list[Utterance] = []
    read: list[tuple[Act, ...]] = []
    probs: list[dict[Act, float]] = []
    for name in sorted({key(u) for u in train}):
        reader = ActModel.train(((u.text, u.acts) for u in train if key(u) != name), settings)
        left_out = [u for u in train if key(u) == name]
        readings = reader.read_many([u.text for u in left_out])
        rows.extend(left_out)
        read.extend(r.acts for r in readings)
        probs.extend(r.probabilities for r in readings)
    return Fold(rows, read, probs)


def confusions(fold: Fold) -> Counter[tuple[str, str]]:
    """(labelled act missed, act read that was not labelled) for every misread line; '-' when nothing stands in."""
    counted: Counter[tuple[str, str]] = Counter()
    for u, read in zip(fold.rows, fold.read, strict=True):
        if set(read) == set(u.acts):
            continue
        missed: list[str] = [a for a in u.acts if a not in read] or ["-"]
        extra: list[str] = [a for a in read if a not in u.acts] or ["-"]
        counted.update((m, e) for m in missed for e in extra)
    return counted


def written_only(fold: Fold) -> Fold:
    """The readings of lines from the split source files only (not `*.train.txt`): the kind of lines the held-out
    slice was drawn from, so their out-of-fold score is the nearest training-only stand-in for it."""
    keep = [i for i, u in enumerate(fold.rows) if not is_training_only(u.source)]
    return Fold([fold.rows[i] for i in keep], [fold.read[i] for i in keep], [fold.probs[i] for i in keep])


def report(fold: Fold, name: str, rows_for: Sequence[str] = (), top: int = 40) -> str:
    lines = format_slice(score_acts(fold.read, [u.acts for u in fold.rows], name))
    written = written_only(fold)
    lines.append(
        f"  lines of the split files only: {len(written.rows)}, exact "
        f"{score_acts(written.read, [u.acts for u in written.rows], name).exact:.1%}"
    )
    lines.append("\nconfusions (labelled, missed -> read instead):")
    lines.extend(f"  {n:>4}  {m:<24} -> {e}" for (m, e), n in confusions(fold).most_common(top))
    for act in rows_for:
        lines.append(f"\nmisread training lines labelled or read {act}:")
        for u, read in zip(fold.rows, fold.read, strict=True):
            if set(read) != set(u.acts) and (act in u.acts or act in read or act == "all"):
                lines.append(f"  {u.source:<28} {','.join(u.acts):<32} read {','.join(read):<32} {u.text}")
    return "\n".join(lines).lstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.corpus.cv", description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=0, help="0: leave one store out; N: N folds by source line")
    parser.add_argument("--rows", nargs="*", default=[], help="print misread training lines of these acts ('all')")
    args = parser.parse_args(argv)
    fold = cross_validate(SHIPPED, args.folds)
    name = "leave-one-store-out CV" if args.folds == 0 else f"{args.folds}-fold CV by source line"
    print(report(fold, name, args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
