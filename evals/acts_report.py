"""How well the playbook's act reader (`agent/playbook/acts.py`) reads shoppers it never trained on.

Per-act precision, recall and F1 (scikit-learn's) on the corpus's held-out slice and on the whole held-out store,
plus the issue-12 probes. `python -m evals.acts_report [--report] [--json] [text ...]`; `lumen eval` prints the same
report.

`--cv` is the development metric: leave-one-store-out cross-validation over the training stores' training lines
(each store read by a reader trained on the others). Every choice about the reader (features, placeholders,
classifier, C, per-act thresholds with `--cv --tune`) is made on it; the held-out figures are only reported.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from pydantic import BaseModel
from sklearn.metrics import precision_recall_fscore_support
from sklearn.preprocessing import MultiLabelBinarizer

from agent.playbook.acts import ACTS, SHIPPED, THRESHOLD, Act, ActModel, ReaderSettings, decide, read_acts
from evals.corpus import HELD_OUT_STORE, PROBES, held_out_slice, held_out_store, training_slice


class ActScore(BaseModel):
    act: Act
    support: int  # held-out messages that carry the act
    precision: float
    recall: float
    f1: float


class SliceScore(BaseModel):
    name: str
    messages: int
    exact: float  # share of messages whose whole set of acts was read right
    top_act: float  # share whose most likely act is one of theirs
    per_act: tuple[ActScore, ...]

    def below(self, target: float) -> list[ActScore]:
        return [s for s in self.per_act if s.support and s.f1 < target]


class ProbeResult(BaseModel):
    text: str
    acts: tuple[Act, ...]
    passed: bool


class ActReport(BaseModel):
    trained_on: int
    train_seconds: float
    slices: tuple[SliceScore, ...]
    probes: tuple[ProbeResult, ...]


def score(model: ActModel, messages: Sequence[tuple[str, Sequence[str]]], name: str) -> SliceScore:
    """Per-act precision, recall and F1 (scikit-learn's), plus whole-message accuracy, on labelled messages."""
    readings = model.read_many([text for text, _ in messages])
    return score_acts([r.acts for r in readings], [acts for _, acts in messages], name)


def score_acts(read: Sequence[Sequence[str]], gold: Sequence[Sequence[str]], name: str) -> SliceScore:
    """The scores of acts read (most likely first) against the labels."""
    binarizer = MultiLabelBinarizer(classes=list(ACTS))
    truth = binarizer.fit_transform([list(acts) for acts in gold])
    guess = binarizer.transform([list(acts) for acts in read])
    precision, recall, f1, support = precision_recall_fscore_support(truth, guess, average=None, zero_division=0)
    per_act = tuple(
        ActScore(act=act, support=int(n), precision=float(p), recall=float(r), f1=float(f))
        for act, p, r, f, n in zip(ACTS, precision, recall, f1, support, strict=True)
    )
    count = max(len(gold), 1)
    return SliceScore(
        name=name,
        messages=len(gold),
        exact=sum(set(r) == set(g) for r, g in zip(read, gold, strict=True)) / count,
        top_act=sum(bool(r) and r[0] in g for r, g in zip(read, gold, strict=True)) / count,
        per_act=per_act,
    )


# --- development metric: leave one training store out ------------------------------------------------------------
class CrossValidation(BaseModel):
    """Out-of-fold readings of every training message: each store's messages read by a reader trained on the other
    training stores only. Nothing held out is read or trained on, so every choice about the reader is made here."""

    stores: tuple[str, ...]
    gold: tuple[tuple[str, ...], ...]
    probabilities: tuple[dict[Act, float], ...]
    fold: tuple[int, ...]  # the store (index into `stores`) each message was read in
    together: tuple[frozenset[frozenset[str]] | None, ...]  # each fold's pairs of acts labelled together
    second: tuple[float | None, ...]  # the threshold of acts beside the top one (None: their own; see `decide`)

    def score(self, thresholds: dict[str, float] | None = None) -> SliceScore:
        read = [
            decide(p, thresholds, self.together[f], s)
            for p, f, s in zip(self.probabilities, self.fold, self.second, strict=True)
        ]
        return score_acts(read, self.gold, f"leave-one-store-out CV ({', '.join(self.stores)})")


def cross_validate(settings: ReaderSettings = SHIPPED) -> CrossValidation:
    train = training_slice()
    stores = tuple(sorted({u.store for u in train}))
    gold: list[tuple[str, ...]] = []
    probabilities: list[dict[Act, float]] = []
    folds: list[int] = []
    together: list[frozenset[frozenset[str]] | None] = []
    second: list[float | None] = []
    for index, store in enumerate(stores):
        reader = ActModel.train(((u.text, u.acts) for u in train if u.store != store), settings)
        left_out = [u for u in train if u.store == store]
        gold.extend(u.acts for u in left_out)
        scores = reader.scores([u.text for u in left_out])
        probabilities.extend(p for p, _ in scores)
        second.extend(s for _, s in scores)
        folds.extend([index] * len(left_out))
        together.append(reader.together)
    return CrossValidation(
        stores=stores,
        gold=tuple(gold),
        probabilities=tuple(probabilities),
        fold=tuple(folds),
        together=tuple(together),
        second=tuple(second),
    )


_GRID = tuple(round(0.05 * i, 2) for i in range(3, 19))


def tune_thresholds(cv: CrossValidation, rounds: int = 2) -> dict[str, float]:
    """Per-act thresholds that maximise exact-match on the out-of-fold readings, one act at a time (ties keep the
    default), a couple of rounds since acts compete for the same messages."""
    thresholds: dict[str, float] = {}
    for _ in range(rounds):
        for act in ACTS:
            best = (cv.score(thresholds).exact, thresholds.get(act, THRESHOLD))
            for t in _GRID:
                tried = cv.score({**thresholds, act: t})
                if tried.exact > best[0] + 1e-9:
                    best = (tried.exact, t)
            if best[1] != THRESHOLD:
                thresholds[act] = best[1]
    return thresholds


def probe_results(model: ActModel) -> tuple[ProbeResult, ...]:
    results = []
    for probe, reading in zip(PROBES, model.read_many([p.text for p in PROBES]), strict=True):
        passed = reading.top in probe.expect_any and not reading.has(*probe.forbid)  # type: ignore[arg-type]
        results.append(ProbeResult(text=probe.text, acts=reading.acts, passed=passed))
    return tuple(results)


def act_report() -> ActReport:
    started = time.perf_counter()
    model = ActModel.train((u.text, u.acts) for u in training_slice())
    seconds = time.perf_counter() - started
    slices = (
        score(model, [(u.text, u.acts) for u in held_out_slice()], "held-out slice"),
        score(model, [(u.text, u.acts) for u in held_out_store()], f"held-out store ({HELD_OUT_STORE})"),
    )
    return ActReport(trained_on=model.trained_on, train_seconds=seconds, slices=slices, probes=probe_results(model))


def format_slice(s: SliceScore, target: float = 0.95) -> list[str]:
    lines = [f"\n{s.name}: {s.messages} messages, exact {s.exact:.1%}, top act {s.top_act:.1%}"]
    lines.append(f"  {'act':<24} {'n':>4} {'prec':>6} {'recall':>6} {'f1':>6}")
    for a in s.per_act:
        if a.support:
            flag = "" if a.f1 >= target else "  <"
            lines.append(f"  {a.act:<24} {a.support:>4} {a.precision:>6.1%} {a.recall:>6.1%} {a.f1:>6.1%}{flag}")
    lines.append(f"  acts below {target:.0%} F1: {len(s.below(target))} of {sum(1 for a in s.per_act if a.support)}")
    return lines


def format_report(report: ActReport, target: float = 0.95) -> str:
    lines = [f"act reader: trained on {report.trained_on} messages in {report.train_seconds:.2f}s"]
    for s in report.slices:
        lines.extend(format_slice(s, target))
    passed = sum(p.passed for p in report.probes)
    lines.append(f"\nissue 12 probes: {passed}/{len(report.probes)}")
    lines.extend(f"  {'ok ' if p.passed else 'BAD'} {p.text!r} -> {', '.join(p.acts)}" for p in report.probes)
    return "\n".join(lines)


def format_cv(cv: CrossValidation, thresholds: dict[str, float] | None = None) -> str:
    """The development figures: out-of-fold scores with the shipped thresholds, and with none (all THRESHOLD)."""
    lines = format_slice(cv.score(thresholds))
    plain = cv.score({})
    lines.append(f"  with one threshold ({THRESHOLD}) for every act: exact {plain.exact:.1%}")
    return "\n".join(lines).lstrip("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evals.acts_report", description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="per-act scores on the held-out slice and store")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--cv", action="store_true", help="leave-one-store-out cross-validation over the training stores only"
    )
    parser.add_argument("--tune", action="store_true", help="with --cv: per-act thresholds chosen on the CV readings")
    parser.add_argument("text", nargs="*", help="messages to read")
    args = parser.parse_args(argv)
    if args.cv:
        cv = cross_validate(SHIPPED)
        print(format_cv(cv, SHIPPED.thresholds))
        if args.tune:
            print(f"\nthresholds chosen on these readings: {tune_thresholds(cv)}")
    if args.report or args.json:
        report = act_report()
        print(report.model_dump_json(indent=2) if args.json else format_report(report))
    for text in args.text:
        reading = read_acts(text)
        print(
            f"{text!r}: {', '.join(reading.acts)}"
            + (f" (negated: {', '.join(reading.negated)})" * bool(reading.negated))
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
