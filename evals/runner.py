"""`lumen eval`: run the scenario dataset against a model, print a table per scenario, optionally write a report.

    lumen eval [--model M] [--repeat K] [--case PATTERN] [--store FILE] [--report PATH] [--min-pass-rate X]
               [--judge MODEL] [--cases FILE] [--concurrency N] [--no-acts] [--acts-llm [--acts-sample N]]

Each case runs on a fresh Lumen with an in-memory database. A case passes when every deterministic evaluator passes
on every one of its conversations. With `--repeat K` each case runs K times and the table shows pass^k, the chance
that all k tries of a case succeed (tau-bench): for a case with c passes out of n tries, C(c, k) / C(n, k).

After the scenarios, the playbook's act reader is scored per act on the corpus's held-out slice and held-out store
(`evals/acts_report.py`; training it costs a few seconds, `--no-acts` skips it). The exit code is about the
scenario cases only.

With an LLM model, `--acts-llm` also sends the held-out slice (or `--acts-sample N` of it) to the real agent, one
fresh conversation a message, and prints per act how often what it did (look up, escalate, reply) was right
(`evals/acts_llm.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

from pydantic_ai.models import Model
from pydantic_evals.reporting import EvaluationReport, ReportCase, ReportCaseFailure
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.models import llm_from_settings
from config import Settings
from evals.acts_llm import LlmActReport, format_llm_report, sample, score_llm
from evals.acts_report import act_report, format_report
from evals.corpus import held_out_slice
from evals.dataset import CASES_FILE, DEMO_STORE, SCENARIOS, CaseInputs, LumenDataset, resolve_store, select_cases
from evals.evaluators import ToneJudge
from evals.fakes.openai_api import OpenAICompatServer
from evals.records import PLAYBOOK, CaseRun
from evals.suite import load_dataset
from evals.task import CaseRunner, ModelFactory
from shopify.domain import Shop
from shopify.store_file import FixtureStore

WIRE_MODEL = "openai:playbook-wire"


@dataclass
class EvalOptions:
    model: str | ModelFactory = PLAYBOOK
    repeat: int = 1
    cases: list[str] = field(default_factory=list)  # name or scenario patterns
    store: Path | None = None
    report: Path | None = None
    min_pass_rate: float | None = None
    judge: str | Model | None = None  # an LLM that scores tone and persona fit (never pass/fail)
    case_files: list[Path] = field(default_factory=list)
    concurrency: int = 8
    progress: bool = True
    openai_base_url: str | None = None
    # The act reader's held-out report; off by default for callers in code, on for the `lumen eval` command.
    acts: bool = False
    # With an LLM: also send the held-out slice (or a sample of N) to the real agent and score its choices per act.
    acts_llm: bool = False
    acts_sample: int | None = None


@dataclass
class _Attempt:
    passed: bool
    failures: list[str]
    conversations: int = 0
    requests: int = 0
    tokens: int = 0
    latency_s: float = 0.0
    load: dict[str, Any] | None = None
    tone: float | None = None


def pass_hat_k(passes: int, tries: int, k: int) -> float:
    """tau-bench's pass^k for one case: the chance that k tries drawn from its n all passed."""
    if k > tries:
        raise ValueError(f"pass^{k} needs at least {k} tries, not {tries}")
    return comb(passes, k) / comb(tries, k)


def _attempt(case: ReportCase[Any, Any, Any]) -> _Attempt:
    failures = [
        f"{name}: {result.reason or 'failed'}" for name, result in case.assertions.items() if result.value is not True
    ]
    failures += [f"{f.name} crashed: {f.error_message}" for f in case.evaluator_failures]
    run: CaseRun = case.output
    conversations = len(run.conversations)
    tone = case.scores.get("tone")
    return _Attempt(
        passed=not failures,
        failures=failures,
        conversations=conversations,
        requests=run.requests,
        tokens=run.tokens,
        latency_s=sum(c.latency_s for c in run.conversations),
        load=run.load.as_dict() if run.load else None,
        tone=float(tone.value) if tone is not None else None,
    )


def _crash(failure: ReportCaseFailure[Any, Any, Any]) -> _Attempt:
    return _Attempt(passed=False, failures=[f"the case could not run: {failure.error_message}"])


def build_report(
    reports: Sequence[EvaluationReport[Any, Any, Any]],
    dataset: LumenDataset,
    model: str,
    repeat: int,
    duration_s: float,
) -> dict[str, Any]:
    """The JSON report: {"model", "pass_rate", "cases": [...]}, plus pass^k and a summary per scenario."""
    attempts: dict[str, list[_Attempt]] = {case.name or "": [] for case in dataset.cases}
    for report in reports:
        for case in report.cases:
            attempts.setdefault(case.source_case_name or case.name, []).append(_attempt(case))
        for failure in report.failures:
            attempts.setdefault(failure.source_case_name or failure.name, []).append(_crash(failure))
    scenario_of = {case.name: case.metadata.scenario if case.metadata else "?" for case in dataset.cases}

    cases: list[dict[str, Any]] = []
    for name, tries in attempts.items():
        n = len(tries)
        c = sum(t.passed for t in tries)
        conversations = sum(t.conversations for t in tries) or 1
        failures: list[str] = []
        for i, attempt in enumerate(tries, start=1):
            prefix = f"[try {i}/{n}] " if n > 1 else ""
            failures += [prefix + f for f in attempt.failures]
        entry: dict[str, Any] = {
            "name": name,
            "scenario": scenario_of.get(name, "?"),
            "passed": n > 0 and c == n,
            "repeats": n,
            "passes": c,
            "failures": failures,
            # Per conversation, averaged over the tries (a high-traffic case holds many conversations).
            "model_requests": round(sum(t.requests for t in tries) / conversations, 2),
            "tokens": round(sum(t.tokens for t in tries) / conversations, 1),
            "latency_s": round(sum(t.latency_s for t in tries) / conversations, 4),
            "pass_hat_k": {str(k): round(pass_hat_k(c, n, k), 4) for k in range(1, n + 1)},
            "conversations": round(conversations / n) if n else 0,
        }
        loads = [t.load for t in tries if t.load]
        if loads:
            entry["load"] = loads[-1] if len(loads) == 1 else loads
        tones = [t.tone for t in tries if t.tone is not None]
        if tones:
            entry["tone"] = round(statistics.fmean(tones), 3)
        cases.append(entry)

    total_runs = sum(c["repeats"] for c in cases)
    pass_rate = sum(c["passes"] for c in cases) / total_runs if total_runs else 0.0
    scenarios: dict[str, Any] = {}
    for scenario in [*SCENARIOS, *sorted({c["scenario"] for c in cases} - set(SCENARIOS))]:
        members = [c for c in cases if c["scenario"] == scenario]
        if not members:
            continue
        scenarios[scenario] = {
            "cases": len(members),
            "passed": sum(c["passed"] for c in members),
            "pass_hat_k": {
                str(k): round(statistics.fmean(c["pass_hat_k"][str(k)] for c in members), 4)
                for k in range(1, repeat + 1)
                if all(str(k) in c["pass_hat_k"] for c in members)
            },
            "model_requests": round(statistics.fmean(c["model_requests"] for c in members), 2),
            "tokens": round(statistics.fmean(c["tokens"] for c in members), 1),
            "latency_s": round(statistics.fmean(c["latency_s"] for c in members), 4),
        }
        tones = [c["tone"] for c in members if "tone" in c]
        if tones:
            scenarios[scenario]["tone"] = round(statistics.fmean(tones), 3)
    return {
        "model": model,
        "pass_rate": round(pass_rate, 4),
        "cases": cases,
        "repeat": repeat,
        "pass_hat_k": {
            str(k): round(statistics.fmean(c["pass_hat_k"][str(k)] for c in cases), 4)
            for k in range(1, repeat + 1)
            if cases and all(str(k) in c["pass_hat_k"] for c in cases)
        },
        "scenarios": scenarios,
        "duration_s": round(duration_s, 2),
    }


def print_report(data: dict[str, Any], console: Console) -> None:
    repeat = data["repeat"]
    table = Table(title=f"Lumen evals: {data['model']}" + (f" (×{repeat})" if repeat > 1 else ""))
    table.add_column("Scenario")
    table.add_column("Cases", justify="right")
    table.add_column("Passed", justify="right")
    if repeat > 1:
        table.add_column(f"pass^{repeat}", justify="right")
    table.add_column("Requests/conv", justify="right")
    table.add_column("Tokens/conv", justify="right")
    table.add_column("Latency/conv", justify="right")
    judged = any("tone" in s for s in data["scenarios"].values())
    if judged:
        table.add_column("Tone (judge)", justify="right")
    for name, s in data["scenarios"].items():
        ok = s["passed"] == s["cases"]
        row = [name, str(s["cases"]), f"[{'green' if ok else 'red'}]{s['passed']}[/]"]
        if repeat > 1:
            row.append(f"{s['pass_hat_k'].get(str(repeat), 0):.2f}")
        row += [f"{s['model_requests']:.1f}", f"{s['tokens']:.0f}", f"{s['latency_s'] * 1000:.0f} ms"]
        if judged:
            row.append(f"{s['tone']:.2f}" if "tone" in s else "")
        table.add_row(*row)
    passed = sum(c["passed"] for c in data["cases"])
    footer = ["Total", str(len(data["cases"])), str(passed)]
    if repeat > 1:
        footer.append(f"{data['pass_hat_k'].get(str(repeat), 0):.2f}")
    table.add_row(*footer, "", "", "", *([""] if judged else []), end_section=True)
    console.print(table)

    loads = [c for c in data["cases"] if isinstance(c.get("load"), dict)]
    if loads:
        load_table = Table(title="High traffic (fake Shopify, real client)")
        for column in ("Case", "Convs", "Workers", "p50", "p95", "max", "Shopify reqs", "THROTTLED", "Client waits"):
            load_table.add_column(column, justify="left" if column == "Case" else "right")
        for case in loads:
            load = case["load"]
            load_table.add_row(
                case["name"],
                str(load["conversations"]),
                str(load["workers"]),
                f"{load['p50_s']:.2f}s",
                f"{load['p95_s']:.2f}s",
                f"{load['max_s']:.2f}s",
                str(load["shopify_requests"]),
                str(load["throttled"]),
                f"{load['client_waits']} ({load['client_waited_s']:.1f}s)",
            )
        console.print(load_table)

    failed = [c for c in data["cases"] if not c["passed"]]
    for case in failed:
        console.print(f"[red]✗ {case['name']}[/] ({case['scenario']}, {case['passes']}/{case['repeats']} passed)")
        for reason in case["failures"][:8]:
            console.print(f"    {reason}", markup=False, highlight=False)
    console.print(
        f"pass rate {data['pass_rate']:.1%} ({passed}/{len(data['cases'])} cases passed) in {data['duration_s']:.1f}s"
    )


def _configured_base_url(options: EvalOptions) -> str | None:
    return options.openai_base_url or Settings().lumen_openai_base_url


def _serves_wire(options: EvalOptions) -> bool:
    return options.model == WIRE_MODEL and not _configured_base_url(options)


async def _shops_of(dataset: LumenDataset, default: Path) -> list[Shop]:
    """The shop of each store the cases run against (resolved as `CaseRunner` resolves them), each file read once."""
    paths = {resolve_store(case.inputs.store, default) for case in dataset.cases}
    return [await FixtureStore(path).shop() for path in sorted(paths)]


@contextlib.contextmanager
def _wire_server(options: EvalOptions, shops: Sequence[Shop]) -> Iterator[str | None]:
    """For `openai:playbook-wire` with no base URL configured, serve the playbook over the OpenAI API for the run;
    the server knows the cases' `shops`, so its playbook reads order names by each one's format as Lumen's does."""
    if not _serves_wire(options):
        yield _configured_base_url(options)
        return
    with OpenAICompatServer(shops=shops) as server:
        yield server.base_url


def _split(dataset: LumenDataset) -> tuple[LumenDataset, LumenDataset]:
    load = [case for case in dataset.cases if case.inputs.load is not None]
    single = [case for case in dataset.cases if case.inputs.load is None]
    return (
        LumenDataset(name=dataset.name, cases=load, evaluators=dataset.evaluators),
        LumenDataset(name=dataset.name, cases=single, evaluators=dataset.evaluators),
    )


async def run_eval(options: EvalOptions, console: Console | None = None) -> dict[str, Any]:
    """Run the dataset and return the report (also written to `options.report` when set)."""
    console = console or _console()
    dataset = load_dataset(options.case_files or [CASES_FILE])
    dataset = select_cases(dataset, options.cases)
    if not dataset.cases:
        raise ValueError(f"no case matches {options.cases}")
    if options.judge:
        dataset.add_evaluator(ToneJudge(model=options.judge))
    # High-traffic cases measure latency under load, so each runs alone; the rest run side by side afterwards.
    load_cases, single_cases = _split(dataset)
    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
    reports: list[EvaluationReport[Any, Any, Any]] = []
    default_store = options.store or DEMO_STORE
    shops = await _shops_of(dataset, default_store) if _serves_wire(options) else []
    with _wire_server(options, shops) as base_url, progress if options.progress else contextlib.nullcontext():
        runner = CaseRunner(model=options.model, default_store=default_store, openai_base_url=base_url)
        bar = progress.add_task(f"lumen eval ({runner.model_name})", total=len(dataset.cases) * options.repeat)

        async def task(inputs: CaseInputs) -> CaseRun:
            try:
                return await runner(inputs)
            finally:
                progress.advance(bar)

        started = time.perf_counter()
        for part, concurrency in ((load_cases, 1), (single_cases, options.concurrency)):
            if not part.cases:
                continue
            reports.append(
                await part.evaluate(
                    task,
                    name=f"lumen ({runner.model_name})",
                    task_name=f"lumen ({runner.model_name})",
                    max_concurrency=concurrency,
                    progress=False,
                    repeat=options.repeat,
                )
            )
        duration = time.perf_counter() - started
        llm_choices = await _score_llm_choices(options, base_url)
    data = build_report(reports, dataset, runner.model_name, options.repeat, duration)
    if llm_choices is not None:
        data["acts_llm"] = llm_choices.model_dump(mode="json", exclude={"choices"})
    if options.acts:
        # Scored before the report is written, so the JSON carries it too; training takes a few seconds.
        acts = await asyncio.to_thread(act_report)
        data["acts"] = acts.model_dump(mode="json")
    if options.report:
        options.report.parent.mkdir(parents=True, exist_ok=True)
        options.report.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print_report(data, console)
    if options.acts:
        console.print(format_report(acts), highlight=False, markup=False)
    if llm_choices is not None:
        console.print(format_llm_report(llm_choices), highlight=False, markup=False)
    return data


async def _score_llm_choices(options: EvalOptions, base_url: str | None) -> LlmActReport | None:
    """The LLM's choices on the held-out slice, when asked for and the model is an LLM named by string."""
    if not options.acts_llm or not isinstance(options.model, str) or options.model == PLAYBOOK:
        return None
    key = Settings().openai_api_key
    model = llm_from_settings(options.model, base_url, key.get_secret_value() if key else None)
    messages = sample(held_out_slice(), options.acts_sample)
    return await score_llm(model, messages, options.model, concurrency=options.concurrency)


def _console() -> Console:
    # Off a terminal rich assumes 80 columns, too narrow for the tables; logs and CI have room.
    console = Console()
    return console if console.is_terminal else Console(width=120)


def succeeded(data: dict[str, Any], min_pass_rate: float | None) -> bool:
    if all(case["passed"] for case in data["cases"]):
        return True
    return min_pass_rate is not None and data["pass_rate"] >= min_pass_rate


def parse_args(argv: Sequence[str]) -> EvalOptions:
    parser = argparse.ArgumentParser(prog="lumen eval", description="Score Lumen against the scenario dataset.")
    parser.add_argument("--model", help="'playbook' or a pydantic-ai model name (default: $LUMEN_MODEL or playbook)")
    parser.add_argument("--repeat", type=int, default=1, help="run each case K times and report pass^k")
    parser.add_argument("--case", action="append", default=[], help="only cases whose name or scenario matches")
    parser.add_argument("--store", type=Path, help="store file for the cases that don't name one")
    parser.add_argument("--report", type=Path, help="write the JSON report here")
    parser.add_argument("--min-pass-rate", type=float, help="exit 0 when at least this share of tries pass (0..1)")
    parser.add_argument("--judge", metavar="MODEL", help="also score tone and persona fit with this LLM")
    parser.add_argument("--cases", action="append", type=Path, default=[], help="a cases YAML file (repeatable)")
    parser.add_argument("--concurrency", type=int, default=8, help="cases run at the same time (default 8)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-acts", action="store_true", help="skip the act reader's held-out report (saves seconds)")
    parser.add_argument(
        "--acts-llm", action="store_true", help="with an LLM model: score its choices on the corpus's held-out slice"
    )
    parser.add_argument("--acts-sample", type=int, metavar="N", help="with --acts-llm: only N held-out messages")
    args = parser.parse_args(list(argv))
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.min_pass_rate is not None and not 0 <= args.min_pass_rate <= 1:
        parser.error("--min-pass-rate is a share between 0 and 1")
    return EvalOptions(
        model=args.model or Settings().lumen_model or PLAYBOOK,
        repeat=args.repeat,
        cases=args.case,
        store=args.store,
        report=args.report,
        min_pass_rate=args.min_pass_rate,
        judge=args.judge,
        case_files=args.cases,
        concurrency=max(1, args.concurrency),
        progress=not args.no_progress,
        acts=not args.no_acts,
        acts_llm=args.acts_llm,
        acts_sample=args.acts_sample,
    )


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    try:
        data = asyncio.run(run_eval(options))
    except (ValueError, FileNotFoundError) as exc:
        print(f"lumen eval: {exc}", file=sys.stderr)
        return 2
    return 0 if succeeded(data, options.min_pass_rate) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
