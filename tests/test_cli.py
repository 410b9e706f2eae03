"""The `lumen` command, as a merchant or developer types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# A hang guard, not a timing: a fresh process trains the playbook's reader before its first answer: one `lumen chat`
# took 81 s on a loaded 2-core machine, past the 60 s allowed before.
CLI_TIMEOUT_S = 600


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LUMEN_", "SHOPIFY_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=CLI_TIMEOUT_S,
    )


def test_lumen_chat_answers_with_both_packages() -> None:
    done = run_cli("chat", stdin="where is order 1042? jordan.lee@example.com\n")
    assert done.returncode == 0, done.stderr
    assert "Lumen for Harbor & Pine" in done.stdout
    assert "9400111899223197428490" in done.stdout and "789104567123" in done.stdout


def test_lumen_chat_on_another_store_file() -> None:
    done = run_cli("chat", "--store", "tests/data/second-store.json", stdin="FF-2107\nchloe.tremblay@example.ca\n")
    assert done.returncode == 0, done.stderr
    assert "Fjord & Fell" in done.stdout and "7023210039414604" in done.stdout


def test_unknown_arguments_are_refused() -> None:
    done = run_cli("chat", "--bogus")
    assert done.returncode == 2 and "unrecognized arguments" in done.stderr
