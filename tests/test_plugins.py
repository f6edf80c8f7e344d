"""Plugins end to end: examples/plugin/ really pip-installed, the installed `aider-review`
run on a real repository.

pip installs into a target directory put on PYTHONPATH (a venv made from the test venv
would not see aider-hooks itself), with --no-build-isolation --no-index: no network. A
second, broken distribution is built in the test's temp dir to show what a failing plugin
costs.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testing.repos import git

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "plugin"
EXE = Path(sys.executable).parent / "aider-review"

BROKEN_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "aider-review-broken"
version = "0.1"

[project.entry-points."aider_review.checks"]
boom = "aider_review_broken:boom"
missing = "aider_review_broken.nowhere:check"
# Built-in names: the built-ins keep them, these never run.
secret = "aider_review_broken:boom"

[project.entry-points."aider_review.reporters"]
broken = "aider_review_broken:broken_report"
json = "aider_review_broken:broken_report"

[tool.setuptools]
py-modules = ["aider_review_broken"]
"""
BROKEN_MODULE = """\
def boom(ctx):
    yield from ()
    raise ValueError("the plugin's own bug")


def broken_report(report):
    raise RuntimeError("no report today")
"""


def _pip_install(source: Path, target: Path) -> None:
    # From a copy: pip builds local projects in place (build/, *.egg-info).
    copy = target.parent / f"src-{source.name}"
    shutil.copytree(source, copy)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--no-index", "--no-cache-dir",
                    "--disable-pip-version-check", "--target", str(target), str(copy)],
                   check=True, capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def site_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two install targets: the example plugin, and a broken one."""
    base = tmp_path_factory.mktemp("plugins")
    good, broken = base / "good", base / "broken"
    _pip_install(EXAMPLE, good)
    broken_src = base / "aider-review-broken"
    broken_src.mkdir()
    (broken_src / "pyproject.toml").write_text(BROKEN_PYPROJECT)
    (broken_src / "aider_review_broken.py").write_text(BROKEN_MODULE)
    _pip_install(broken_src, broken)
    return {"good": good, "broken": broken}


def run_cli(*args: str, cwd: Path, sites: list[Path],
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {}),
                "PYTHONPATH": os.pathsep.join(str(site) for site in sites)}
    return subprocess.run([str(EXE), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """A staged change with a TODO (plugin) and a leftover breakpoint (built-in)."""
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "base")
    (git_repo / "app.py").write_text("x = 1\ny = 2  # TODO: name this\nbreakpoint()\n")
    git(git_repo, "add", "app.py")
    return git_repo


def _findings(run: subprocess.CompletedProcess[str]) -> list[tuple[int, str, str]]:
    data: dict[str, Any] = json.loads(run.stdout)
    return [(f["line"], f["category"], f["source"]) for f in data["findings"]]


TODO = (2, "todo", "plugin:todo")
DEBUGGER = (3, "debugger", "builtin")


def test_an_installed_check_runs_offline_with_its_own_source(
        repo: Path, site_dirs: dict[str, Path]) -> None:
    run = run_cli("--offline", "--format", "json", cwd=repo, sites=[site_dirs["good"]])

    assert run.returncode == 1, run.stderr  # the built-in debugger finding is an error
    assert _findings(run) == [TODO, DEBUGGER]
    assert run.stderr == ""


def test_an_installed_reporter_is_a_format(repo: Path, site_dirs: dict[str, Path]) -> None:
    run = run_cli("--offline", "--format", "csv", "--fail-on", "never", cwd=repo,
                  sites=[site_dirs["good"]])
    as_json = run_cli("--offline", "--format", "json", cwd=repo, sites=[site_dirs["good"]])

    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    expected = json.loads(as_json.stdout)["findings"]
    assert [(r["line"], r["source"], r["fingerprint"]) for r in rows] == [
        (str(f["line"]), f["source"], f["fingerprint"]) for f in expected]


def test_plugins_lists_builtins_and_installed_plugins_with_their_distribution(
        tmp_path: Path, site_dirs: dict[str, Path]) -> None:
    run = run_cli("plugins", cwd=tmp_path, sites=[site_dirs["good"]])
    listed = run_cli("plugins", "--format", "json", cwd=tmp_path, sites=[site_dirs["good"]])

    assert run.returncode == 0, run.stderr
    lines = [line.split() for line in run.stdout.splitlines()]
    assert ["check", "todo", "aider-review-todo", "1.0",
            "aider_review_todo.checks:todo_check"] in lines
    assert ["reporter", "csv", "aider-review-todo", "1.0",
            "aider_review_todo.reporters:csv_report"] in lines
    assert ["check", "secret", "aider-hooks", "0.1.0",
            "aider_hooks.checks.secrets:CHECK"] in lines
    rows = json.loads(listed.stdout)
    assert {(r["kind"], r["name"], r["distribution"], r["version"], r["builtin"])
            for r in rows if not r["builtin"]} == {
        ("check", "todo", "aider-review-todo", "1.0", False),
        ("reporter", "csv", "aider-review-todo", "1.0", False)}


def test_a_plugin_check_turns_off_by_name(repo: Path, site_dirs: dict[str, Path]) -> None:
    (repo / ".aider-review.toml").write_text('checks = ["-todo"]\n')

    run = run_cli("--offline", "--format", "json", cwd=repo, sites=[site_dirs["good"]])

    assert _findings(run) == [DEBUGGER] and run.stderr == ""


def test_no_plugins_loads_none_but_the_builtins_still_run(
        repo: Path, tmp_path: Path, site_dirs: dict[str, Path]) -> None:
    env = {"AIDER_REVIEW_NO_PLUGINS": "1"}
    sites = [site_dirs["good"], site_dirs["broken"]]

    run = run_cli("--offline", "--format", "json", cwd=repo, sites=sites, env=env)
    csv_run = run_cli("--offline", "--format", "csv", cwd=repo, sites=sites, env=env)
    listed = run_cli("plugins", cwd=tmp_path, sites=sites, env=env)

    assert _findings(run) == [DEBUGGER] and run.stderr == ""
    assert csv_run.returncode == 2 and "invalid choice: 'csv'" in csv_run.stderr
    assert "todo" not in listed.stdout and "secret" in listed.stdout


def test_a_failing_plugin_is_one_line_and_the_run_goes_on(
        repo: Path, site_dirs: dict[str, Path]) -> None:
    """The broken package also names a check `secret` and a reporter `json`: the built-ins
    keep their names, so neither runs (else there would be one more line here)."""
    sites = [site_dirs["good"], site_dirs["broken"]]
    (repo / ".aider-review.toml").write_text("builtin-checks = false\n")
    no_builtins = run_cli("--offline", "--format", "json", cwd=repo, sites=sites)
    (repo / ".aider-review.toml").unlink()

    run = run_cli("--offline", "--format", "json", cwd=repo, sites=sites)

    assert run.returncode == 1  # the debugger error, as without the broken plugin
    assert _findings(run) == [TODO, DEBUGGER]
    assert sorted(run.stderr.splitlines()) == [
        "aider-review: plugin check 'boom' (aider-review-broken 0.1) failed: "
        "ValueError: the plugin's own bug",
        "aider-review: plugin check 'missing' (aider-review-broken 0.1) failed: "
        "ModuleNotFoundError: No module named 'aider_review_broken.nowhere'; "
        "'aider_review_broken' is not a package",
    ]
    assert _findings(no_builtins) == [TODO] and no_builtins.returncode == 0
    assert sorted(no_builtins.stderr.splitlines()) == sorted(run.stderr.splitlines())


def test_a_failing_reporter_is_one_line_and_the_report_comes_as_text(
        repo: Path, site_dirs: dict[str, Path]) -> None:
    (repo / ".aider-review.toml").write_text('checks = ["-boom", "-missing"]\n')

    run = run_cli("--offline", "--format", "broken", "--fail-on", "never", cwd=repo,
                  sites=[site_dirs["good"], site_dirs["broken"]])

    assert run.returncode == 0
    assert run.stderr.splitlines() == [
        "aider-review: plugin reporter 'broken' (aider-review-broken 0.1) failed: "
        "RuntimeError: no report today; the report follows in text format"]
    assert "app.py:2: info: TODO left in the change" in run.stdout
    assert "app.py:3: error: leftover debugger" in run.stdout
