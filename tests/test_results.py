"""results.py: check results kept by blob id, and texts the secret scan found clean, from one
run to the next, in the response cache file (table check_results).

Real git repositories, the real SQLite file, the installed command; a check's runs are counted
by a check of the built-in shape whose function counts its calls.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pytest

from aider_hooks import redact
from aider_hooks.checks.context import CheckContext
from aider_hooks.checks.registry import Check, builtin_checks, run_checks
from aider_hooks.diff.parse import parse_diff
from aider_hooks.diff.source import DiffSource, load_diff
from aider_hooks.finding import Finding
from aider_hooks.hunk import Hunk
from aider_hooks.results import CLEAN, ResultMemo, blob_id, code_version, open_result_memo
from aider_hooks.settings import Settings
from testing.cli import run_cli
from testing.repos import git, stage

FAKE_AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key id


class CountingCheck:
    """A check of the built-in shape: one finding on each file's first added line; counts the
    files it looked at."""

    def __init__(self) -> None:
        self.files: list[str] = []

    def __call__(self, ctx: CheckContext) -> Iterable[Finding]:
        for file in ctx.files:
            self.files.append(file.path)
            blob = ctx.read_new_file(file.path) or b""
            line, text = file.hunks[0].added_lines()[0]
            yield ctx.finding(path=file.path, line=line, severity="info", category="counted",
                              message=f"{len(blob)} bytes, limit {ctx.options['max_file_bytes']}",
                              code=text)


def _check(counter: CountingCheck) -> Check:
    return Check("counted", counter, options=("max_file_bytes",), per_file=True)


def _run(repo: Path, cache: Path, checks: list[Check], settings: Settings | None = None,
         ) -> list[Finding]:
    settings = settings or Settings(cache_path=str(cache))
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    memo = _memo(settings)
    try:
        hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
        run = run_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings,
                         checks=checks, memo=memo)
    finally:
        memo.close()
        loaded.close()
    assert run.notices == []
    return run.findings


@pytest.fixture
def repo(git_repo: Path) -> Path:
    for name in ("a.py", "b.py"):
        (git_repo / name).write_text("x = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    stage(git_repo, "a.py", "x = 1\ny = 2\n")
    stage(git_repo, "b.py", "x = 1\nz = 3\n")
    return git_repo


def _memo(settings: Settings) -> ResultMemo:
    memo = open_result_memo(settings)
    assert memo is not None
    return memo


def _rows(cache: Path) -> dict[str, str]:
    with sqlite3.connect(cache) as conn:
        return dict(conn.execute("SELECT key, value FROM check_results"))


def test_an_unchanged_blob_is_not_checked_again(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    counter = CountingCheck()
    first = _run(repo, cache, [_check(counter)])
    assert counter.files == ["a.py", "b.py"]
    assert len(_rows(cache)) == 2

    second = _run(repo, cache, [_check(counter)])
    assert counter.files == ["a.py", "b.py"]  # not run again
    assert second == first


def test_a_changed_blob_is_checked_again_and_only_that_file(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    counter = CountingCheck()
    _run(repo, cache, [_check(counter)])
    stage(repo, "b.py", "x = 1\nz = 4\n")

    findings = _run(repo, cache, [_check(counter)])
    assert counter.files == ["a.py", "b.py", "b.py"]
    assert [(f.path, f.code) for f in findings] == [("a.py", "y = 2"), ("b.py", "z = 4")]


def test_a_changed_option_runs_the_check_again(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    counter = CountingCheck()
    _run(repo, cache, [_check(counter)])
    settings = Settings(cache_path=str(cache), max_file_bytes=1234)

    findings = _run(repo, cache, [_check(counter)], settings)
    assert counter.files == ["a.py", "b.py"] * 2
    assert all(f.message.endswith("limit 1234") for f in findings)


def test_a_check_of_another_name_or_a_plugin_is_never_answered_from_memory(
        repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    counter = CountingCheck()
    _run(repo, cache, [_check(counter)])
    renamed = replace(_check(counter), name="counted-2")
    plugin = replace(_check(counter), source="plugin:counted", label="plugin check 'counted'")

    _run(repo, cache, [renamed])
    _run(repo, cache, [plugin])
    _run(repo, cache, [plugin])
    assert counter.files == ["a.py", "b.py"] * 4  # the plugin ran on both of its runs


def test_a_check_that_raises_keeps_nothing(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"

    def failing(ctx: CheckContext) -> Iterable[Finding]:
        if ctx.files[0].path == "b.py":
            raise ValueError("bug")
        return []

    settings = Settings(cache_path=str(cache))
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    memo = _memo(settings)
    hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
    run = run_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings,
                     checks=[Check("failing", failing, per_file=True)], memo=memo)
    memo.close()
    loaded.close()
    assert run.findings == [] and run.notices == ["check 'failing' failed: ValueError: bug"]
    assert _rows(cache) == {}


def test_the_key_is_the_git_blob_id(repo: Path) -> None:
    staged = git(repo, "rev-parse", ":a.py").strip()
    assert blob_id((repo / "a.py").read_bytes()) == staged
    assert blob_id(None) == "-"
    assert code_version() == code_version()


# --- the installed command, no model configured ------------------------------------------


SYNTAX_ERROR_FILE = "def f(:\n    pass\n"


@pytest.fixture
def broken(git_repo: Path) -> Path:
    (git_repo / "ok.py").write_text("x = 1\n")
    git(git_repo, "add", "ok.py")
    git(git_repo, "commit", "-qm", "base")
    stage(git_repo, "ok.py", "x = 1\n" + SYNTAX_ERROR_FILE)
    return git_repo


def _review(repo: Path, cache: Path, *args: str) -> list[dict[str, object]]:
    done = run_cli("--format", "json", "--fail-on", "never", *args, cwd=repo,
                   env={"AIDER_REVIEW_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr
    findings: list[dict[str, object]] = json.loads(done.stdout)["findings"]
    return findings


def test_without_a_model_the_syntax_result_comes_from_the_cache_by_blob_id(
        broken: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    first = _review(broken, cache)
    assert [f["category"] for f in first] == ["syntax-error"]

    # Doctor the remembered result: the next run reports it, so it did not compile again.
    rows = _rows(cache)
    doctored = {key: value.replace("Python syntax error", "REMEMBERED syntax error")
                for key, value in rows.items() if "syntax error" in value}
    assert len(doctored) == 1
    with sqlite3.connect(cache) as conn:
        conn.executemany("UPDATE check_results SET value = ? WHERE key = ?",
                         [(v, k) for k, v in doctored.items()])
        # The whole run is remembered too (cli/run_memo.py): forget it, to reach the checks.
        conn.execute("DELETE FROM run_reports")
    assert str(_review(broken, cache)[0]["message"]).startswith("REMEMBERED")

    # Another blob (the fix staged) is compiled: no finding.
    stage(broken, "ok.py", "x = 1\ndef f():\n    pass\n")
    assert _review(broken, cache) == []
    # Back to the first blob: the doctored result again.
    stage(broken, "ok.py", "x = 1\n" + SYNTAX_ERROR_FILE)
    assert str(_review(broken, cache)[0]["message"]).startswith("REMEMBERED")


def test_no_cache_neither_reads_nor_writes_results(broken: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    _review(broken, cache)
    with sqlite3.connect(cache) as conn:
        conn.execute("UPDATE check_results SET value = '[]'")
    assert [f["category"] for f in _review(broken, cache, "--no-cache")] == ["syntax-error"]
    other = tmp_path / "other.sqlite3"
    _review(broken, other, "--no-cache")
    assert not other.exists()


def test_cache_clear_removes_the_check_results(broken: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache.sqlite3"
    _review(broken, cache)
    assert _rows(cache)
    done = run_cli("cache", "clear", cwd=broken, env={"AIDER_REVIEW_CACHE": str(cache)})
    assert done.returncode == 0, done.stderr
    assert _rows(cache) == {}


# --- redaction ---------------------------------------------------------------------------


def _hunks(repo: Path) -> list[Hunk]:
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    try:
        return parse_diff(loaded.text, settings=Settings(),
                          read_new_file=loaded.read_new_file).hunks
    finally:
        loaded.close()


def test_only_clean_hunks_are_remembered_and_a_secret_is_redacted_on_every_run(
        repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stage(repo, "b.py", f'x = 1\nz = "{FAKE_AWS_KEY}"\n')
    hunks = _hunks(repo)
    scanned: list[str] = []
    real = redact.redact_hunk

    def counting(hunk: Hunk) -> tuple[Hunk, int]:
        scanned.append(hunk.path)
        return real(hunk)

    monkeypatch.setattr(redact, "redact_hunk", counting)
    settings = Settings(cache_path=str(tmp_path / "cache.sqlite3"))
    for _ in range(2):
        memo = _memo(settings)
        done = redact.redact_hunks(hunks, memo=memo)
        memo.close()
        assert [count for _, count in done] == [0, 1]
        assert FAKE_AWS_KEY not in done[1][0].lines[-1].text
        assert done[0][0] is hunks[0]
    assert scanned == ["a.py", "b.py", "b.py"]  # a.py was known clean on the second run
    assert list(_rows(tmp_path / "cache.sqlite3").values()) == [CLEAN]


def test_a_secret_in_a_file_name_is_never_remembered(tmp_path: Path) -> None:
    settings = Settings(cache_path=str(tmp_path / "cache.sqlite3"))
    secret_name = f"keys/{FAKE_AWS_KEY}.txt"
    for _ in range(2):
        memo = _memo(settings)
        assert redact.names_with_secrets(["src/app.py", secret_name], memo=memo) == {secret_name}
        memo.close()
    assert len(_rows(tmp_path / "cache.sqlite3")) == 1


def test_the_builtin_checks_are_all_kept_per_file() -> None:
    assert all(check.per_file for check in builtin_checks().values())


def test_an_installed_package_is_stamped_by_its_install_record(tmp_path: Path) -> None:
    # A normal install: pip's RECORD stands for the files, so a reinstall (a new RECORD)
    # changes the stamp and nothing else has to be read on every run.
    from aider_hooks.results import package_stamp

    package = tmp_path / "site-packages" / "aider_hooks"
    package.mkdir(parents=True)
    (package / "engine.py").write_text("A = 1\n")
    record = tmp_path / "site-packages" / "aider_hooks-9.9.dist-info" / "RECORD"
    record.parent.mkdir()
    record.write_text("aider_hooks/engine.py,sha256=x,6\n")
    first = package_stamp(str(package), "9.9")
    assert package_stamp(str(package), "9.9") == first
    record.unlink()
    record.write_text("aider_hooks/engine.py,sha256=y,7\n")  # reinstalled
    assert package_stamp(str(package), "9.9") != first


def test_a_source_checkout_is_stamped_by_its_modules(tmp_path: Path) -> None:
    # No install record beside the package (a checkout, an editable install): an edited
    # module must change the stamp, or a remembered run of the old code would be replayed.
    import os

    from aider_hooks.results import package_stamp

    package = tmp_path / "aider_hooks"
    package.mkdir()
    module = package / "engine.py"
    module.write_text("A = 1\n")
    first = package_stamp(str(package), "9.9")
    module.write_text("A = 22\n")
    os.utime(module, ns=(1, 2))
    assert package_stamp(str(package), "9.9") != first


def test_many_new_results_are_on_disk_before_the_run_ends_and_all_after_it(
        tmp_path: Path) -> None:
    from aider_hooks import results
    from aider_hooks.model.cache import ResponseCache

    path = tmp_path / "cache.sqlite3"
    memo = ResultMemo(ResponseCache(path))
    count = results.WRITE_EVERY + 10
    for n in range(count):
        memo.put(f"key-{n}", f"value-{n}")
    # Every result is seen at once, whether waiting, being written or written.
    assert all(memo.get(f"key-{n}") == f"value-{n}" for n in range(count))
    # The first batch was handed to a writer thread: on disk while the run goes on.
    reader = ResponseCache(path)
    deadline = time.monotonic() + 10
    while len(reader.results([f"key-{n}" for n in range(count)])) < results.WRITE_EVERY \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(reader.results([f"key-{n}" for n in range(count)])) == results.WRITE_EVERY

    memo.close()

    assert reader.results([f"key-{n}" for n in range(count)]) == {
        f"key-{n}": f"value-{n}" for n in range(count)}
    reader.close()
