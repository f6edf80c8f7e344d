"""checks/registry.py, checks/context.py, reporters' registry and --format: the plugin seams,
with the built-in checks and reporters as their first users (no plugin is installed here)."""
from __future__ import annotations

import gc
import json
import types
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aider_hooks.checks.registry import Check, builtin_checks, needs_file, run_checks
from aider_hooks.diff.parse import parse_diff
from aider_hooks.diff.source import DiffSource, load_diff
from aider_hooks.errors import ConfigError, UsageError
from aider_hooks.finding import Finding
from aider_hooks.plugins import CheckContext, ReportView
from aider_hooks.report import Report
from aider_hooks.reporters import FORMATS, render
from aider_hooks.settings import Settings, load_settings
from testing.repos import git

KEY = "sk-test-0123456789abcdefghijklmnopqrstuv"
BUILTIN_NAMES = ["conflict-marker", "debugger", "secret", "syntax-error", "large-file"]


def _review_checks(repo: Path, settings: Settings, checks: list[Check] | None = None,
                   ) -> tuple[list[Finding], list[str]]:
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    try:
        hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
        run = run_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings,
                         checks=checks)
    finally:
        loaded.close()
    return run.findings, run.notices


@pytest.fixture
def staged(git_repo: Path) -> Path:
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "base")
    (git_repo / "app.py").write_text("x = 1\nbreakpoint()\ny = 2  # TODO\n<<<<<<< HEAD\n")
    (git_repo / "big.txt").write_text("z\n" * 100)
    git(git_repo, "add", "app.py", "big.txt")
    return git_repo


def test_the_builtin_checks_are_registered_by_the_names_their_findings_carry() -> None:
    checks = builtin_checks()

    assert list(checks) == BUILTIN_NAMES
    assert all(name == check.name and check.source == "builtin" for name, check in checks.items())
    assert [name for name in BUILTIN_NAMES if needs_file(name)] == ["syntax-error", "large-file"]
    assert not needs_file("todo") and not needs_file("bug")


def test_checks_turn_off_by_name_and_builtin_checks_false_turns_off_all(staged: Path) -> None:
    settings = Settings(max_file_bytes=100)
    everything, notices = _review_checks(staged, settings)
    assert notices == []
    assert {f.category for f in everything} == {"debugger", "conflict-marker", "syntax-error",
                                                "large-file"}

    fewer, _ = _review_checks(staged, replace(settings, checks=("-large-file", "-debugger")))
    assert {f.category for f in fewer} == {"conflict-marker", "syntax-error"}
    assert _review_checks(staged, replace(settings, builtin_checks=False)) == ([], [])


def test_an_unknown_check_name_is_one_notice_not_an_error(staged: Path) -> None:
    findings, notices = _review_checks(staged, Settings(checks=("-no-such-check",)))

    assert findings and len(notices) == 1
    assert "unknown check 'no-such-check'" in notices[0] and "large-file" in notices[0]


def test_the_checks_setting_reads_from_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aider-review]\nchecks = ["-large-file"]\n')
    assert load_settings(tmp_path, {}, environ={}).checks == ("-large-file",)

    (tmp_path / "pyproject.toml").write_text('[tool.aider-review]\nchecks = ["large-file"]\n')
    with pytest.raises(ConfigError, match='checks entries .* "-name"'):
        load_settings(tmp_path, {}, environ={})


def test_a_check_that_raises_is_one_notice_and_the_others_still_run(staged: Path) -> None:
    def broken(ctx: CheckContext) -> Iterator[Finding]:
        yield ctx.finding(path="app.py", line=3, severity="info", category="todo", message="x")
        raise ValueError("bad\nthing")

    def todo(ctx: CheckContext) -> Iterator[Finding]:
        for hunk in ctx.hunks:
            for line, text in hunk.added_lines():
                if "TODO" in text:
                    yield ctx.finding(path=hunk.path, line=line, severity="info",
                                      category="todo", message="a TODO")

    checks = [Check("boom", broken, source="plugin:boom", label="plugin check 'boom' (x 1)"),
              Check("todo", todo, source="plugin:todo"), builtin_checks()["debugger"]]
    findings, notices = _review_checks(staged, Settings(), checks)

    assert notices == ["plugin check 'boom' (x 1) failed: ValueError: bad thing"]
    assert [(f.line, f.category, f.source, f.code) for f in findings] == [
        (2, "debugger", "builtin", "breakpoint()"), (3, "todo", "plugin:todo", "y = 2  # TODO")]


def test_a_plugin_cannot_pass_its_findings_off_as_builtin_or_return_junk(staged: Path) -> None:
    def impostor(ctx: CheckContext) -> list[Finding]:
        return [Finding("app.py", 2, 2, "error", "bug", "trust me", source="builtin")]

    def junk(ctx: CheckContext) -> list[str]:
        return ["app.py:2 bad"]

    checks = [Check("impostor", impostor, source="plugin:impostor"),
              Check("junk", junk, source="plugin:junk")]  # type: ignore[arg-type]
    findings, notices = _review_checks(staged, Settings(), checks)

    assert [f.source for f in findings] == ["plugin:impostor"]
    assert notices == ["check 'junk' failed: TypeError: returned str, not a Finding"]


def test_ctx_finding_checks_its_arguments_and_redacts_the_line_it_keeps() -> None:
    ctx = CheckContext(files=(), read_new_file=lambda path: None, source="plugin:x")
    with pytest.raises(ValueError, match="severity"):
        ctx.finding(path="a.py", line=1, severity="fatal", category="c", message="m")
    with pytest.raises(ValueError, match="line"):
        ctx.finding(path="a.py", line=0, severity="info", category="c", message="m")
    finding = ctx.finding(path="a.py", line=3, end_line=1, severity="info", category="c",
                          message="m")
    assert (finding.end_line, finding.source, finding.code) == (3, "plugin:x", "")


def _reachable(root: object, limit: int = 20000) -> Iterator[object]:
    """Objects reachable from ``root``, not entering modules, classes or a function's globals
    (those reach everything; what matters is what the context itself holds)."""
    seen: set[int] = set()
    todo: list[object] = [root]
    while todo and len(seen) < limit:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, (types.ModuleType, type)):
            continue
        seen.add(id(obj))
        yield obj
        referents = gc.get_referents(obj)
        if isinstance(obj, types.FunctionType):
            referents = [r for r in referents if r is not obj.__globals__]
        todo.extend(referents)


def test_no_api_key_and_no_settings_are_reachable_from_a_check_context(staged: Path) -> None:
    settings = Settings(api_key=KEY, base_url="http://127.0.0.1:9/v1", max_file_bytes=100)
    contexts: list[CheckContext] = []

    def spy(ctx: CheckContext) -> list[Finding]:
        contexts.append(ctx)
        return []

    checks = [Check("spy", spy, source="plugin:spy"), replace(builtin_checks()["large-file"],
                                                             run=spy)]
    _review_checks(staged, settings, checks)

    assert len(contexts) == 2 and contexts[1].options == {"max_file_bytes": 100}
    assert contexts[0].options == {} and contexts[0].hunks
    for ctx in contexts:
        objects = list(_reachable(ctx))
        assert not any(isinstance(o, Settings) for o in objects)
        assert not any(isinstance(o, str) and KEY in o for o in objects)
        with pytest.raises(TypeError):
            ctx.options["api_key"] = KEY  # type: ignore[index]


# --- reporters --------------------------------------------------------------------------------

def test_every_builtin_format_is_a_registered_reporter_and_json_is_the_view_document() -> None:
    report = Report(findings=[Finding("b.py", 2, 2, "error", "bug", "m"),
                              Finding("a.py", 1, 1, "info", "docs", "n", source="builtin")])
    view = ReportView.of(report)

    assert FORMATS == ("text", "json", "sarif", "github", "markdown", "codequality")
    assert [f.path for f in view.findings] == ["a.py", "b.py"]
    assert all(f.fingerprint for f in view.findings)
    assert json.loads(render(report, "json")) == view.to_json()
    with pytest.raises(UsageError, match="unknown output format 'csv': use one of text, json"):
        render(report, "csv")


def test_an_unknown_format_is_a_one_line_usage_error_listing_the_known_names(
        capsys: pytest.CaptureFixture[str]) -> None:
    from aider_hooks.cli.main import main

    for argv in (["--format", "csv"], ["review", "--format=nope"], ["github", "--format", "x"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and len(err.strip().splitlines()) == 1, err
        assert "invalid choice" in err and "text, json, sarif, github, markdown" in err


def test_a_format_in_the_config_file_must_be_known(tmp_path: Path) -> None:
    (tmp_path / ".aider-review.toml").write_text('format = "csv"\n')
    with pytest.raises(ConfigError, match="format must be one of text, json, sarif"):
        load_settings(tmp_path, {}, environ={})


def test_plugins_command_lists_the_builtins(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from aider_hooks.cli.main import main

    assert main(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:4] for line in lines[:2]] == [
        ["check", "conflict-marker", "aider-hooks", "0.1.0"],
        ["check", "debugger", "aider-hooks", "0.1.0"]]

    monkeypatch.setenv("AIDER_REVIEW_NO_PLUGINS", "1")
    assert main(["plugins", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    rows: list[dict[str, Any]] = json.loads(out)
    assert [(r["kind"], r["name"]) for r in rows] == (
        [("check", n) for n in BUILTIN_NAMES] + [("reporter", n) for n in FORMATS])
    assert all(r["builtin"] and r["distribution"] == "aider-hooks" for r in rows)
    assert "AIDER_REVIEW_NO_PLUGINS" in err
