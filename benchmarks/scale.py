"""The "scale" row of the benchmark (issue 15, target 5): a large change reviewed cold.

2,000 changed files with 5 one-line hunks each (10,000 hunks), the model 50 ms away, 8
requests in flight, an empty cache. The run should take little more than the longer of two
floors: the model's ideal time (every request answered in waves of 8) and the time the same
run spends with ``--dry-run`` (reading, parsing, redacting and building every prompt, nothing
sent). Reaching it needs requests to leave as soon as their prompt is built and the built-in
checks to run while requests are in flight.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import resource

    from benchmarks.run import Bench, Row

SCALE_FILES = 2_000
SCALE_HUNKS_PER_FILE = 5
SCALE_LATENCY = 0.05
SCALE_CONCURRENCY = 8
SCALE_WALL_SHARE = 1.25  # wall <= this x max(ideal, dry-run)
SCALE_PEAK_MB = 150


def bench_scale(bench: Bench) -> list[Row]:
    from benchmarks.run import Row, make_repo, spaced_changes

    before, after, _ = spaced_changes(SCALE_FILES, SCALE_HUNKS_PER_FILE)
    repo = make_repo(bench, "scale", before, after)
    hunks = SCALE_FILES * SCALE_HUNKS_PER_FILE

    bench.timed([*bench.tool, "--dry-run", "-q"], repo)  # warm the OS file cache
    dry_started = time.perf_counter()
    dry = subprocess.Popen([*bench.tool, "--dry-run", "-q"], cwd=repo, env=bench.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, dry_status, dry_usage = os.wait4(dry.pid, 0)
    dry_wall = time.perf_counter() - dry_started
    if os.waitstatus_to_exitcode(dry_status) != 0:
        raise SystemExit(f"scale --dry-run exited {os.waitstatus_to_exitcode(dry_status)}")

    arrivals: list[float] = []  # when each request reached the server (it answers 50 ms on)
    reviewer = bench.server.reviewer

    def timed_reviewer(body: dict[str, Any]) -> str:
        arrivals.append(time.perf_counter())
        return reviewer(body)

    bench.server.reviewer = timed_reviewer
    bench.server.latency = SCALE_LATENCY
    bench.server.peak_in_flight = 0
    env = dict(bench.env, AIDER_REVIEW_CACHE=str(bench.work / "scale.sqlite3"))
    args = ["--format", "json", "-q", "--fail-on", "never",
            "--concurrency", str(SCALE_CONCURRENCY)]
    sent = len(bench.server.requests)
    report_path = bench.work / "scale-report.json"
    try:
        started = time.perf_counter()
        with report_path.open("wb") as out:
            child = subprocess.Popen([*bench.tool, *args], cwd=repo, env=env, stdout=out,
                                     stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
    finally:
        bench.server.reviewer = reviewer
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not arrivals:
        raise SystemExit(f"scale run exited {code}")
    stats = json.loads(report_path.read_text())["stats"]
    requests = len(bench.server.requests) - sent
    del bench.server.requests[sent:]  # 10,000 hunks of prompts: not kept for later rows
    peak_mb = usage.ru_maxrss / 1024
    ideal = math.ceil(requests / SCALE_CONCURRENCY) * SCALE_LATENCY
    floor = max(ideal, dry_wall)
    first = min(arrivals) - started
    last = max(arrivals) - started
    ok_wall = wall <= SCALE_WALL_SHARE * floor
    reviewed = stats["reviewed"] == hunks and not stats["failed"]
    sending = _sending_alone(bench, repo, args, requests)
    return [
        Row(f"scale: {SCALE_FILES:,} files / {hunks:,} hunks, {SCALE_LATENCY * 1000:.0f} ms, "
            f"--concurrency {SCALE_CONCURRENCY}: wall vs max(ideal, --dry-run)",
            f"{wall / floor:.2f}x ({wall:.2f} s; ideal {ideal:.2f} s, dry-run "
            f"{dry_wall:.2f} s)", f"<= {SCALE_WALL_SHARE}x", ok_wall and reviewed),
        Row("scale: requests made, hunks reviewed",
            f"{requests}, {stats['reviewed']:,}/{hunks:,}", "all reviewed", reviewed),
        Row("scale: peak memory (max RSS)",
            f"{peak_mb:.0f} MB (dry-run {dry_usage.ru_maxrss / 1024:.0f} MB)",
            f"<= {SCALE_PEAK_MB} MB", peak_mb <= SCALE_PEAK_MB),
        # The tool is one process whose threads share one interpreter lock: its CPU time,
        # not the cores, bounds the wall time once the model's latency is hidden.
        Row("scale: CPU seconds of the run; of the --dry-run",
            f"{_cpu(usage):.2f} s; {_cpu(dry_usage):.2f} s", "", None),
        Row("scale: start-up until the first request; until the last",
            f"{first:.2f} s; {last:.2f} s (peak in flight {bench.server.peak_in_flight})", "",
            None),
        # What the transport alone costs on this machine: the SDK's work per request and the
        # fake server's, with every prompt built before the first leaves and no checks.
        Row("scale: the same requests sent with nothing else to do (planned first, no "
            "checks): first to last answer",
            f"{sending:.2f} s ({sending / ideal:.2f}x ideal)", "", None),
    ]


def _sending_alone(bench: Bench, repo: Path, args: list[str], expected: int) -> float:
    """Seconds from the first request's arrival to the last answer, when a run budget makes
    the tool plan every request before it sends one, and the built-in checks are off."""
    config = bench.work / "scale-sending.toml"
    config.write_text("builtin-checks = false\nmax-requests = 1000000\n")
    env = dict(bench.env, AIDER_REVIEW_CACHE=str(bench.work / "scale-sending.sqlite3"))
    reviewer = bench.server.reviewer
    answered: list[float] = []

    def timed_reviewer(body: dict[str, Any]) -> str:
        answered.append(time.perf_counter() + SCALE_LATENCY)  # when the answer leaves
        return reviewer(body)

    bench.server.reviewer = timed_reviewer
    sent = len(bench.server.requests)
    try:
        done = subprocess.run([*bench.tool, *args, "--config", str(config)], cwd=repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    finally:
        bench.server.reviewer = reviewer
        del bench.server.requests[sent:]
    if done.returncode != 0 or len(answered) != expected:
        raise SystemExit(f"scale sending-alone run exited {done.returncode} after "
                         f"{len(answered)} of {expected} requests")
    return max(answered) - (min(answered) - SCALE_LATENCY)


def _cpu(usage: resource.struct_rusage) -> float:
    return float(usage.ru_utime + usage.ru_stime)
