"""Helpers shared by the reliability suites (faults, data safety, secrets, prompt injection,
hostile inputs, cache under load): build small repositories (``testing.cli`` runs the
installed ``aider-review``), count the faults the model server injected, and record the figures that
``RELIABILITY.md`` reports.

Figures: when the environment variable ``AIDER_REVIEW_FIGURES`` names a file, every
``record_figure`` call appends one JSON line to it. ``benchmarks/reliability_figures.py`` runs
the suites with it set and prints the totals; a normal test run records nothing.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from testing.repos import git
from testing.fake_model_server import FakeModelServer

FIGURES_VARIABLE = "AIDER_REVIEW_FIGURES"

# Short waits for every suite: the retry policy keeps its shape, the clock shrinks.
FAST_SETTINGS: dict[str, Any] = {
    "backoff-base": 0.01,
    "backoff-max": 0.05,
    "timeout": 2.0,
    "deadline": 30.0,
    "max-attempts": 4,
}


def write_config(repo: Path, **settings: Any) -> None:
    """``.aider-review.toml`` at the repository root; keys as in the README (``backoff-base``)."""
    values = {**FAST_SETTINGS, **{k.replace("_", "-"): v for k, v in settings.items()}}
    lines = ["[tool.aider-review]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    (repo / ".aider-review.toml").write_text("\n".join(lines) + "\n")


def stage_bug_files(repo: Path, files: int, hunks_per_file: int = 1) -> int:
    """``files`` files, each with ``hunks_per_file`` separate hunks holding one BUG line
    (the fake reviewer reports every one as an error). Returns the number of hunks."""
    for number in range(files):
        lines = [f"value_{i} = {i}\n" for i in range(1, 1 + 20 * hunks_per_file)]
        (repo / f"pkg/mod_{number:03d}.py").parent.mkdir(parents=True, exist_ok=True)
        (repo / f"pkg/mod_{number:03d}.py").write_text("".join(lines))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    for number in range(files):
        path = repo / f"pkg/mod_{number:03d}.py"
        lines = path.read_text().splitlines(keepends=True)
        for hunk in range(hunks_per_file):
            at = 10 + 20 * hunk  # 20 lines apart: never merged into one hunk
            lines[at] = f"value_{at + 1} = compute_{number}_{hunk}()  # BUG\n"
        path.write_text("".join(lines))
    git(repo, "add", "-A")
    return files * hunks_per_file


def json_report(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), f"no report on stdout; stderr: {result.stderr}"
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def assert_clean_exit(result: subprocess.CompletedProcess[str], *codes: int) -> None:
    """Exit code among ``codes`` and never a traceback, on either stream."""
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    assert result.returncode in codes, (result.returncode, result.stderr)


def assert_every_hunk_accounted(report: dict[str, Any]) -> None:
    """Never silently dropped: each hunk is reviewed or listed as failed."""
    stats = report["stats"]
    assert stats["reviewed"] + stats["failed"] == stats["hunks"], stats
    listed = sum(1 for _ in report["failed"])
    assert listed == stats["failed"], (listed, stats)


class FaultCountingServer(FakeModelServer):
    """The fake model server, also counting the faults it injected (by status or kind) and the
    arrival time of every chat request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.faults: Counter[str] = Counter()
        self.arrivals: list[float] = []
        self._count_lock = threading.Lock()

    def next_fault(self) -> dict[str, Any] | None:
        fault = super().next_fault()
        with self._count_lock:
            self.arrivals.append(time.monotonic())
            if fault is not None:
                self.faults[str(fault.get("status") or fault["kind"])] += 1
        return fault


def record_figure(name: str, **values: Any) -> None:
    """Append ``{"name": ..., **values}`` to the figures file, when one is set."""
    target = os.environ.get(FIGURES_VARIABLE)
    if not target:
        return
    with open(target, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"name": name, **values}) + "\n")
