"""The scenario dataset: a pydantic-evals `Dataset` of shopper conversations, loaded from YAML.

A case is one conversation (or, for `high-traffic`, a crowd of them) against one store file. What the conversation
must show lives in the case's `metadata.expect`; the evaluators in `evals/evaluators.py` read it. This module knows
the case schema and the YAML, not the evaluators: `evals/suite.py` binds the two. See docs/evals.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_evals import Dataset
from pydantic_evals.evaluators import Evaluator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CASES_FILE = Path(__file__).resolve().parent / "cases.yaml"
DEMO_STORE = PROJECT_ROOT / "data" / "demo-store.json"

# The nine documented scenarios (docs: lumen-common-scenarios), plus the two every scenario leans on.
Scenario = Literal[
    "delivered-not-received",
    "split-shipment",
    "pre-order",
    "international",
    "wrong-order-number",
    "other-platform",
    "cancelled",
    "high-traffic",
    "3pl",
    "verification",
    "escalation",
]
SCENARIOS: tuple[str, ...] = get_args(Scenario)
EscalationState = Literal["offered", "created", "none", "not_created"]
# A fact is text the reply must contain (case-insensitive); "re:<pattern>" is a regular expression (case-sensitive
# unless the pattern says (?i)); a list is "any one of these".
Fact = str | list[str]


class _Strict(BaseModel):
    # YAML reads `1042` or a numeric tracking number as an int; in a case they are always text.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class Persona(_Strict):
    """The merchant's persona for the case (fields left out keep Lumen's defaults)."""

    assistant_name: str | None = None
    tone: Literal["friendly", "professional", "concise"] | None = None
    context: str | None = None


class ToolCall(_Strict):
    """A tool call to look for. `args` and `result` match a subset: only the keys given are compared.

    Order numbers compare without '#', case or surrounding words ('#1042' == '1042' == 'order 1042'), emails and
    other strings case-insensitively; `null` means the argument must be absent or empty.
    """

    tool: Literal["find_order", "list_fulfillments", "escalate"]
    args: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    turn: int | None = Field(None, description="1-based shopper turn (negative counts from the end); any if unset.")

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        text = f"{self.tool}({args})"
        if self.result:
            text += " -> " + ", ".join(f"{k}={v!r}" for k, v in self.result.items())
        if self.turn is not None:
            text += f" in turn {self.turn}"
        return text


class TurnCheck(_Strict):
    """What one of Lumen's replies must (and must not) say."""

    turn: int = Field(-1, description="1-based shopper turn whose reply is checked; -1 (the default) is the last.")
    facts: list[Fact] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)
    escalation: EscalationState | None = Field(
        None,
        description=(
            "offered: the reply offers the support team (and nothing was escalated yet in this turn); "
            "created: `escalate` returned `created` in this turn; none: neither; "
            "not_created: nothing has been escalated in the conversation so far."
        ),
    )


class Expect(TurnCheck):
    """A conversation's expectations: the checks of its last turn (or `turn`), plus tools and other turns."""

    tools: list[ToolCall] = Field(default_factory=list, description="Calls that must happen.")
    forbidden_tools: list[ToolCall] = Field(default_factory=list, description="Calls that must not happen.")
    never: list[str] = Field(default_factory=list, description="Text no reply of the conversation may contain.")
    turns: list[TurnCheck] = Field(default_factory=list, description="Checks of other turns' replies.")

    def turn_checks(self) -> list[TurnCheck]:
        main = TurnCheck(turn=self.turn, facts=self.facts, forbidden=self.forbidden, escalation=self.escalation)
        return [main, *self.turns]


class LoadTemplate(_Strict):
    """One kind of conversation in a high-traffic crowd, with what each copy of it must show."""

    turns: list[str] = Field(min_length=1)
    expect: Expect = Field(default_factory=Expect)


class Load(_Strict):
    """Many conversations at once against the fake Shopify server, through the real Shopify client."""

    conversations: int = Field(50, ge=1, description="How many conversations run at the same time.")
    workers: int = Field(1, ge=1, description="Lumen instances (server processes) sharing the store's rate limit.")
    bucket_size: float = Field(200, gt=0, description="Shopify's leaky bucket, in cost points.")
    restore_rate: float = Field(100, gt=0, description="Points restored per second.")
    query_cost: int | None = Field(None, ge=1, description="Fixed cost of an orders query (default: calculated).")
    cache_ttl_s: float = Field(0, ge=0, description="The client's order cache; 0 sends every lookup to Shopify.")
    # Generous, not the product's 8 s: a lookup's budget is wall-clock time, and with 50+ conversations in one event
    # loop a loaded machine spends it on the other conversations' reading and replying (a starved run used 5.7 s of
    # 8 s with the client's own waits at 2 s), so a case would fail for the machine's speed. The 8 s budget itself is
    # tested on bucket time in tests/test_shopify_client.py; no case asserts a latency.
    max_wait_s: float = Field(120.0, gt=0, description="The longest a shopper may wait on the rate limit.")
    start_points: float | None = Field(
        None,
        ge=0,
        description="Points left in the bucket when the crowd arrives (default: full), e.g. after a sync job.",
    )
    throttled_first: int = Field(
        0,
        ge=0,
        description=(
            "Shopify answers THROTTLED to the crowd's first N queries (another app holds the bucket), so the rate "
            "limit is engaged however fast or slow the machine running the case is."
        ),
    )
    mix: list[LoadTemplate] = Field(min_length=1, description="Conversation templates, used round-robin.")


class CaseInputs(_Strict):
    """What a case runs: the shopper's turns (or a crowd of conversations) against a store."""

    store: str | None = Field(None, description="A store file; default data/demo-store.json (or --store).")
    persona: Persona | None = None
    customer_id: str | None = Field(None, description="A logged-in customer (as a signed app-proxy request says).")
    turns: list[str] = Field(default_factory=list, description="The shopper's messages, one conversation.")
    load: Load | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> CaseInputs:
        if bool(self.turns) == bool(self.load):
            raise ValueError("a case has either `turns` (one conversation) or `load` (many), not both or neither")
        return self


class CaseMetadata(_Strict):
    scenario: Scenario
    note: str | None = Field(None, description="Why this case exists, for whoever reads a failure.")
    expect: Expect = Field(default_factory=Expect)

    @field_validator("scenario", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        if value not in SCENARIOS:
            raise ValueError(f"unknown scenario {value!r}; one of: {', '.join(SCENARIOS)}")
        return value


# Cases carry no `expected_output`: what a conversation must show is richer than one value, so it is metadata.
LumenDataset = Dataset[CaseInputs, Any, CaseMetadata]


# In YAML, " #" starts a comment even in the middle of an unquoted message: `- where is #1042` reads as
# "where is". Comments here are written "# like this"; "#1042" right after a space means a lost order number.
_LEAD = re.compile(r"^\s*(?:-\s+)?(?:[\w-]+:\s+)?")


def check_yaml_text(text: str, path: Path) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        value = _LEAD.sub("", line, count=1)
        if value[:1] in ('"', "'", "[", "{", "|", ">", "#", ""):
            continue
        if re.search(r"\s#[A-Za-z0-9]", value):
            raise ValueError(f"{path}:{number}: quote this text, YAML reads ' #...' as a comment: {line.strip()}")


def read_dataset(
    paths: Sequence[Path | str] | None, evaluator_types: Sequence[type[Evaluator[Any, Any, Any]]]
) -> LumenDataset:
    """The cases of one or more YAML files as one dataset; `evaluator_types` are the evaluators the YAML may name.

    The first file that lists dataset-level evaluators gives them to every case; with none, the built-in ones apply.
    """
    files = [Path(p) for p in (paths or [CASES_FILE])]
    for path in files:
        check_yaml_text(path.read_text(encoding="utf-8"), path)
    types = list(evaluator_types)
    datasets = [LumenDataset.from_file(path, custom_evaluator_types=types) for path in files]
    evaluators = next((ds.evaluators for ds in datasets if ds.evaluators), None)
    if evaluators is None:
        # A merchant's own cases file may list no evaluators: it gets the built-in checks.
        evaluators = LumenDataset.from_file(CASES_FILE, custom_evaluator_types=types).evaluators
    cases = [case for ds in datasets for case in ds.cases]
    return LumenDataset(name=datasets[0].name, cases=cases, evaluators=evaluators)


def select_cases(dataset: LumenDataset, patterns: Iterable[str]) -> LumenDataset:
    """Only the cases whose name or scenario matches one of the shell-style patterns (`split-*`, `*1042*`)."""
    wanted = [p for p in patterns if p]
    if not wanted:
        return dataset
    picked = [
        case
        for case in dataset.cases
        if any(
            fnmatchcase(case.name or "", p) or (case.metadata is not None and fnmatchcase(case.metadata.scenario, p))
            for p in wanted
        )
    ]
    return LumenDataset(name=dataset.name, cases=picked, evaluators=dataset.evaluators)


def resolve_store(store: str | None, default: Path, cases_dir: Path | None = None) -> Path:
    """A case's store file: relative paths are tried against the working directory, then the project root."""
    if store is None:
        return default
    path = Path(store)
    if path.is_absolute():
        return path
    for base in (Path.cwd(), PROJECT_ROOT, cases_dir):
        if base is not None and (base / path).exists():
            return (base / path).resolve()
    return (PROJECT_ROOT / path).resolve()
