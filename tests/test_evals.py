"""The scenario evals: the dataset's coverage, the whole suite on the playbook, and broken agents caught by name."""

from __future__ import annotations

import ast
import io
import json
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from rich.console import Console

from agent.playbook.model import Playbook, ToolStep
from agent.playbook.voice import ShopVoice
from evals.dataset import SCENARIOS, check_yaml_text
from evals.evaluators import LoadHandled, has_fact, values_match
from evals.runner import EvalOptions, main, pass_hat_k, run_eval, succeeded
from evals.suite import load_dataset

# Cases that fail because the playbook answers wrongly. They stay in the dataset (and make `lumen eval` exit 1)
# until the playbook is fixed; delete an entry when its case passes.
CASE_KEYS = {"name", "scenario", "passed", "repeats", "passes", "failures", "model_requests", "tokens", "latency_s"}


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def failures_of(data: dict[str, Any], name: str) -> list[str]:
    case = next(c for c in data["cases"] if c["name"] == name)
    return case["failures"]


def assert_report_shape(data: dict[str, Any], model: str) -> None:
    assert data["model"] == model
    assert 0 <= data["pass_rate"] <= 1
    assert data["cases"], "no cases in the report"
    for case in data["cases"]:
        assert set(case) >= CASE_KEYS, case
        assert case["scenario"] in SCENARIOS
        assert isinstance(case["passed"], bool)
        assert case["repeats"] >= 1 and 0 <= case["passes"] <= case["repeats"]
        assert all(isinstance(f, str) and f for f in case["failures"])
        assert case["passed"] == (not case["failures"])
        assert case["model_requests"] >= 0 and case["tokens"] >= 0 and case["latency_s"] > 0


# --- the dataset -------------------------------------------------------------------------------------------------


def test_every_scenario_has_at_least_three_cases() -> None:
    dataset = load_dataset()
    counts = Counter(case.metadata.scenario for case in dataset.cases if case.metadata)
    assert set(counts) == set(SCENARIOS)
    assert {s: n for s, n in counts.items() if n < 3} == {}
    assert len({case.name for case in dataset.cases}) == len(dataset.cases)
    # Not everything is the demo store.
    stores = Counter(case.inputs.store for case in dataset.cases)
    assert stores["tests/data/second-store.json"] >= 10


def test_high_traffic_cases_run_crowds_against_a_small_bucket() -> None:
    dataset = load_dataset()
    crowds = [case for case in dataset.cases if case.metadata and case.metadata.scenario == "high-traffic"]
    assert len(crowds) >= 3
    for case in crowds:
        load = case.inputs.load
        assert load is not None and load.conversations >= 50
        assert load.bucket_size <= 200
        assert any(isinstance(e, LoadHandled) for e in case.evaluators)


def test_an_unquoted_order_number_is_caught_before_yaml_eats_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quote this text"):
        check_yaml_text("    turns:\n      - where is #1042 please\n", tmp_path / "cases.yaml")
    check_yaml_text('    turns:\n      - "where is #1042 please"\n      - ToolTrajectory  # a comment\n', Path("x"))


def test_argument_and_fact_matching() -> None:
    assert values_match("order_number", "#1042", "1042")
    assert values_match("order_number", "1042", "order #1042")
    assert values_match("order_number", 1042, "#1042")
    assert values_match("email", "Maya.Patel@Example.com", "maya.patel@example.com ")
    assert not values_match("email", "maya@example.com", "maya.patel@example.com")
    assert values_match("order_number", None, None) and not values_match("order_number", None, "1042")
    assert values_match("result", {"status": "verified"}, {"status": "verified", "order": {}})
    assert values_match("reason", ["delivered_not_received", "other"], "other")
    assert has_fact("Tracking: 1Z999AA10123456784.", "1z999aa10123456784")
    assert has_fact("delivered on Tuesday,  February 24", "february 24")
    assert has_fact("I can’t confirm that", ["can't confirm", "cannot confirm"])
    assert has_fact("eta March 3", r"re:March \d")


def test_pass_hat_k() -> None:
    assert pass_hat_k(3, 3, 3) == 1
    assert pass_hat_k(2, 3, 1) == pytest.approx(2 / 3)
    assert pass_hat_k(2, 3, 2) == pytest.approx(1 / 3)
    assert pass_hat_k(2, 3, 3) == 0
    assert succeeded({"pass_rate": 0.9, "cases": [{"passed": False}]}, 0.85)
    assert not succeeded({"pass_rate": 0.9, "cases": [{"passed": False}]}, None)


# --- the whole suite on the playbook -----------------------------------------------------------------------------


async def test_whole_suite_passes_with_the_playbook(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    data = await run_eval(EvalOptions(report=path, progress=False), console=quiet())
    assert json.loads(path.read_text(encoding="utf-8")) == data
    assert_report_shape(data, "playbook")
    assert len(data["cases"]) == len(load_dataset().cases)
    failed = {c["name"]: c["failures"] for c in data["cases"] if not c["passed"]}
    assert failed == {}
    assert data["pass_rate"] == 1.0
    for case in data["cases"]:
        if case["scenario"] == "high-traffic":
            load = case["load"]
            assert load["conversations"] >= 50
            assert load["throttled"] + load["client_waits"] > 0, "the rate limit never engaged"
            # The report's own arithmetic, not a speed: percentiles in order, one latency per conversation. How
            # fast is measured by `make bench`; no test bounds a duration (a loaded machine must not fail the suite).
            assert 0 < load["p50_s"] <= load["p95_s"] <= load["max_s"]
            assert len(load["latencies_s"]) == load["conversations"] and max(load["latencies_s"]) == load["max_s"]
    assert set(data["scenarios"]) == set(SCENARIOS)


def test_lumen_eval_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "r.json"
    assert main(["--case", "platform-amazon", "--case", "verify-wrong-*", "--repeat", "2", "--report", str(path)]) == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [c["name"] for c in data["cases"]] == ["platform-amazon", "verify-wrong-email", "verify-wrong-postal-code"]
    assert all(c["repeats"] == 2 and c["pass_hat_k"] == {"1": 1.0, "2": 1.0} for c in data["cases"])
    out = capsys.readouterr().out
    assert "pass^2" in out and "other-platform" in out and "verification" in out
    # The demo store's cases against another store fail; --min-pass-rate decides the exit code.
    args = ["--case", "split-1042-guided", "--store", "tests/data/second-store.json", "--no-progress"]
    assert main(args) == 1
    assert main([*args, "--min-pass-rate", "0"]) == 0
    assert main(["--case", "no-such-case"]) == 2


# --- broken agents ---------------------------------------------------------------------------------------------

ETA = " It should be arriving tomorrow, March 1."


def invents_an_eta(voice: ShopVoice) -> FunctionModel:
    """The playbook, but every answer with tracking ends with a delivery date no tool gave."""
    playbook = Playbook(voice)

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        step = playbook.next_step(messages)
        if isinstance(step, ToolStep):
            return ModelResponse(parts=[ToolCallPart(step.name, step.args)])
        return ModelResponse(parts=[TextPart(step.text + (ETA if "tracking" in step.text else ""))])

    return FunctionModel(respond, model_name="invents-an-eta")


LEAKED = "1Z999AA10123456784"  # order #1031's tracking number: Maya Patel's parcel


def skips_verification(voice: ShopVoice) -> FunctionModel:
    """Goes straight to list_fulfillments with any number the shopper typed, then makes up an answer."""

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        if any(isinstance(p, ToolReturnPart) for p in last.parts):
            return ModelResponse(parts=[TextPart(f"Your order is on its way with UPS, tracking {LEAKED}.")])
        number = re.search(r"\b\d{4}\b", " ".join(str(getattr(p, "content", "")) for p in last.parts))
        if number:
            return ModelResponse(parts=[ToolCallPart("list_fulfillments", {"order_number": number.group()})])
        return ModelResponse(parts=[TextPart("What's your order number?")])

    return FunctionModel(respond, model_name="skips-verification")


async def test_an_invented_eta_is_caught_even_when_the_guard_hides_it() -> None:
    cases = ["intl-1065-three-weeks", "split-1042-guided", "verify-number-without-email", "platform-amazon"]
    data = await run_eval(EvalOptions(model=invents_an_eta, cases=cases, progress=False), console=quiet())
    assert_report_shape(data, "invents_an_eta")
    passed = {c["name"] for c in data["cases"] if c["passed"]}
    assert passed == {"verify-number-without-email", "platform-amazon"}
    # The agent's grounding guard kept the invented date from the shopper, but the model did write it.
    (split,) = failures_of(data, "split-1042-guided")  # the guard's fallback reply is right, so only this
    assert split.startswith("Grounded: turn 3: the model wrote date 3/1 with no source (the grounding guard rejected")
    assert split.endswith("'It should be arriving tomorrow, March 1.'")  # "tomorrow" is Feb 28, the USPS estimate
    intl = failures_of(data, "intl-1065-three-weeks")
    grounded = next(r for r in intl if r.startswith("Grounded: "))
    assert "turn 1: the model wrote date 3/1, delivery 'tomorrow' with no source" in grounded


async def test_an_invented_eta_without_the_guard_fails_grounding_and_forbidden_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("agent.core._problems", lambda ctx, reply: [])
    cases = ["intl-1065-three-weeks", "verify-number-without-email"]
    data = await run_eval(EvalOptions(model=invents_an_eta, cases=cases, progress=False), console=quiet())
    reasons = failures_of(data, "intl-1065-three-weeks")
    grounded = next(r for r in reasons if r.startswith("Grounded: "))
    assert "turn 1 reply states date 3/1, delivery 'tomorrow' that nothing backs" in grounded
    forbidden = next(r for r in reasons if r.startswith("ForbiddenContent: "))
    assert "'arriving tomorrow'" in forbidden
    assert failures_of(data, "verify-number-without-email") == []


async def test_skipping_verification_is_caught_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.core._problems", lambda ctx, reply: [])  # as if the grounding guard had a bug
    cases = ["verify-number-without-email", "split-1042-guided", "platform-amazon"]
    data = await run_eval(EvalOptions(model=skips_verification, cases=cases, progress=False), console=quiet())
    assert not any(c["passed"] for c in data["cases"] if c["name"] != "platform-amazon")

    reasons = failures_of(data, "verify-number-without-email")
    trajectory = next(r for r in reasons if r.startswith("ToolTrajectory: "))
    assert "forbidden call list_fulfillments(order_number='1042') -> not_verified [turn 1]" in trajectory
    assert "named an order this conversation had not verified with find_order" in trajectory
    leak = next(r for r in reasons if r.startswith("VerificationRespected: "))
    assert f"turn 1 reply reveals the tracking number '{LEAKED}' of order 1031" in leak
    grounded = next(r for r in reasons if r.startswith("Grounded: "))
    assert f"tracking number {LEAKED}" in grounded

    split = failures_of(data, "split-1042-guided")
    assert any(r.startswith("ToolTrajectory: expected find_order(order_number='1042'") for r in split)
    assert any(r.startswith("VerificationRespected: ") and "turn 2 reply" in r for r in split)
    assert any(r.startswith("RequiredFacts: ") and "9400111899223197428490" in r for r in split)


async def test_the_optional_tone_judge_scores_without_deciding() -> None:
    transcripts: list[str] = []

    def judge(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        transcripts.append(str(messages[-1].parts[-1].content))  # type: ignore[union-attr]
        verdict = {"reason": "Warm, short and specific.", "pass": False, "score": 0.75}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, verdict)])

    options = EvalOptions(cases=["platform-amazon"], judge=FunctionModel(judge), progress=False)
    data = await run_eval(options, console=quiet())
    (case,) = data["cases"]
    assert case["passed"] and case["tone"] == 0.75  # a score for comparing models, never a failure
    assert "Shopper: Where is my Amazon order?" in transcripts[0] and "Assistant: I can only look up" in transcripts[0]


# --- the house's import direction ----------------------------------------------------------------------------------
# Read from the source (AST), not by importing: an import inside a function counts, so a cycle cannot hide in one.

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "tools", "shopify", "storage", "outbox", "sync", "evals", "bench", "prompts")
MODULES = ("server", "cli", "config")
LOWER = {"tools", "shopify", "storage", "outbox", "prompts"}
# The rooms each room may import, besides itself: server.py -> agent/ -> tools/ -> shopify/, storage/, outbox/; the
# order mirror (sync/) sits beside outbox/: agent/ (and what stands above it) builds it, and it reads shopify/ and
# storage/ only. No lower room imports it.
ALLOWED: dict[str, set[str]] = {
    "cli": {"server", "agent", "config", "evals", *LOWER},
    "server": {"agent", "config", *LOWER},
    "bench": {"agent", "config", "evals", "sync", *LOWER},
    "evals": {"agent", "config", *LOWER},
    "agent": {"config", "sync", *LOWER},
    "tools": LOWER - {"tools"},
    "sync": {"shopify", "storage"},
    "outbox": {"storage", "shopify", "prompts"},
    "storage": {"shopify"},
    "shopify": {"storage"},
    "config": {"shopify"},
    "prompts": set(),
}


# Violations that other helpers' branches are removing now (issue 8); delete an entry when its import is gone.
def first_party_modules() -> dict[str, Path]:
    found = {name: ROOT / f"{name}.py" for name in MODULES}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import below `node` (in functions too), and whether it only runs for a type checker."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, type_only
        checking = isinstance(child, ast.If) and _is_type_checking(child)
        yield from _walk(child, type_only or checking)


def imports_of(name: str, path: Path, known: dict[str, Path]) -> dict[str, bool]:
    """The first-party modules `name` imports, each with True when only a type checker sees the import."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: dict[str, bool] = {}
    for node, type_only in _walk(ast.parse(path.read_text(encoding="utf-8")), False):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        for target in targets:
            if target.split(".")[0] in ALLOWED and target != name:
                found[target] = found.get(target, True) and type_only
    return found


def import_graph() -> dict[str, dict[str, bool]]:
    known = first_party_modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component: list[str] = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def import_violations() -> list[str]:
    graph = import_graph()
    runtime = {name: {t for t, type_only in targets.items() if not type_only} for name, targets in graph.items()}
    rooms: dict[str, set[str]] = {}
    for name, needs in runtime.items():
        rooms.setdefault(name.split(".")[0], set()).update(t.split(".")[0] for t in needs)
    found = [f"module cycle: {' <-> '.join(c)}" for c in cycles(runtime)]
    found += [f"room cycle: {' <-> '.join(c)}" for c in cycles({r: t - {r} for r, t in rooms.items()})]
    for name, targets in sorted(graph.items()):
        room = name.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != room and other not in ALLOWED[room]:
                allowed = ", ".join(sorted(ALLOWED[room])) or "nothing"
                found.append(f"{name} imports {target} ({room}/ may import only {allowed})")
    return found


def test_the_import_graph_reader_finds_cycles_and_function_local_imports() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
    graph = import_graph()
    assert graph["evals.runner"]["evals.suite"] is False
    assert "evals.runner" in graph["cli"]  # imported inside a function, still counted


def test_imports_follow_the_house_direction_without_cycles() -> None:
    violations = import_violations()
    assert not violations, "imports against the house's direction:\n  " + "\n  ".join(violations)


def test_the_order_mirror_room_is_read_by_agent_and_reads_only_shopify_and_storage() -> None:
    assert ALLOWED["sync"] == {"shopify", "storage"}
    assert not [room for room in LOWER if "sync" in ALLOWED[room]]
    assert "sync.mirror" in import_graph()["agent.connect"]


def test_the_evals_room_reads_cases_without_evaluators() -> None:
    graph = import_graph()
    assert not [t for t in graph["evals.dataset"] if t.startswith("evals.")]
    assert "evals.task" not in graph["evals.evaluators"] and "evals.evaluators" not in graph["evals.task"]
