#!/usr/bin/env python3
"""What verification (``verify = true``) does to precision and recall. Not part of the tests.

    python benchmarks/verify_precision.py

One staged change with planted real bugs and planted false alarms, reviewed by the installed
``aider-review`` against the fake model server (a real HTTP server on 127.0.0.1, no network,
no key), which is programmed as an over-eager reviewer: it reports every planted bug (lines
marked ``BUG`` or calling ``eval(``) and also invents a finding on every line planted as a
false alarm (innocent code the model "misreads"). Asked to verify, it answers as the default
fake verifier does: it keeps a finding when its marked line really has a problem, and drops
it otherwise. The run is made twice, without and with verification, each from an empty cache.

precision = reported findings on planted bugs / all reported findings;
recall = planted bugs reported / planted bugs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from testing.fake_model_server import (  # noqa: E402  (needs ROOT on sys.path)
    FakeModelServer,
    diff_lines,
    is_verify_request,
    rule_findings,
    verify_answer,
)

FILES = 8
LINES_PER_FILE = 60
BUG_EVERY = 10  # a planted bug on every 10th line
ALARM_EVERY = 7  # a planted false alarm on every 7th line that is not a bug
EXE = Path(sys.executable).parent / "aider-review"


def over_eager(body: dict[str, Any]) -> str:
    """Reports the planted bugs and invents a finding on each planted false alarm."""
    if is_verify_request(body):
        return verify_answer(body)
    found = rule_findings(body)
    for path, line, kind, text in diff_lines(body):
        if kind == "+" and "looks_odd" in text:
            found.append({"path": path, "line": line, "end_line": line, "code": text,
                          "severity": "error", "category": "bug",
                          "message": "this value may be None here", "suggestion": None,
                          "confidence": 0.8})
    return json.dumps({"findings": found})


def make_change(repo: Path) -> set[tuple[str, int]]:
    """Stage the files; the (path, line) of every planted bug."""
    bugs: set[tuple[str, int]] = set()
    for f in range(FILES):
        lines = []
        for n in range(1, LINES_PER_FILE + 1):
            if n % BUG_EVERY == 0:
                lines.append(f"value_{n} = eval(raw_{n})" if n % 20 else f"value_{n} = {n}  # BUG")
                bugs.add((f"pkg/m{f}.py", n))
            elif n % ALARM_EVERY == 0:
                lines.append(f"looks_odd_{n} = value_{n - 1} or {n}")
            else:
                lines.append(f"value_{n} = {n}")
        path = repo / "pkg" / f"m{f}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True, env=os.environ)
    return bugs


def run(repo: Path, server: FakeModelServer, cache: Path, verify: bool) -> dict[str, Any]:
    # One file per request: no answer comes near the 50-findings-per-answer cap.
    (repo / ".aider-review.toml").write_text(f"verify = {'true' if verify else 'false'}\n"
                                             "batch-tokens = 100\n")
    env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "sk-bench",
           "AIDER_REVIEW_CACHE": str(cache)}
    result = subprocess.run([str(EXE), "--format", "json", "--fail-on", "never"], cwd=repo,
                            env=env, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise SystemExit(f"aider-review failed: {result.stderr}")
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def score(report: dict[str, Any], bugs: set[tuple[str, int]]) -> tuple[float, float, int]:
    reported = {(f["path"], f["line"]) for f in report["findings"]}
    hits = len(reported & bugs)
    precision = hits / len(reported) if reported else 1.0
    return precision, hits / len(bugs), len(reported)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aider-review-verify-") as tmp:
        work = Path(tmp)
        os.environ.update({"HOME": str(work), "XDG_CACHE_HOME": str(work / ".cache"),
                           "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Bench",
                           "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "Bench",
                           "GIT_COMMITTER_EMAIL": "b@example.com"})
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AIDER_REVIEW_MODEL",
                     "AIDER_REVIEW_CACHE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            os.environ.pop(name, None)
        repo = work / "repo"
        repo.mkdir()
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        bugs = make_change(repo)
        with FakeModelServer() as server:
            server.reviewer = over_eager
            before = run(repo, server, work / "off.sqlite3", verify=False)
            chat_before = len(server.requests)
            after = run(repo, server, work / "on.sqlite3", verify=True)
            verify_requests = sum(1 for r in server.requests[chat_before:]
                                  if is_verify_request(r.body))
        p0, r0, n0 = score(before, bugs)
        p1, r1, n1 = score(after, bugs)
        print(f"{len(bugs)} planted bugs, {n0 - len(bugs)} planted false alarms reported "
              f"without verification")
        print(f"| verification | precision | recall | findings | verify requests |")
        print(f"|---|---|---|---|---|")
        print(f"| off | {p0:.2f} ({round(p0 * n0)}/{n0}) | {r0:.2f} | {n0} | 0 |")
        print(f"| on  | {p1:.2f} ({round(p1 * n1)}/{n1}) | {r1:.2f} | {n1} | {verify_requests} "
              f"(rejected_by_verify {after['stats']['rejected_by_verify']}) |")
        ok = p1 > p0 and r1 == r0
        print("PASS" if ok else "FAIL", "(precision up, recall unchanged)")
        return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
