"""``aider-review baseline [SOURCE]``: review, then accept what was found.

Writes the fingerprints of the run's findings to ``.aider-review/baseline.json`` (atomically;
a file that is not an aider-review baseline is never overwritten). The baseline holds every
finding of the run that no ignore comment, feedback or verification took out, at every
severity and confidence, and those the old baseline already hid. Later reviews do not report
them (``stats.suppressed``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aider_hooks.errors import EXIT_MODEL_UNAVAILABLE, EXIT_OK, InputError

PROG = "aider-review"


def run(args: argparse.Namespace) -> int:
    from aider_hooks.cli.options import settings_from_args
    from aider_hooks.cli.review import _diff_source, _repo_root
    from aider_hooks.diff.source import load_diff
    from aider_hooks.engine import review_diff
    from aider_hooks.knowledge.baseline import write_baseline
    from aider_hooks.knowledge.session import REASON_BASELINE, THRESHOLDS
    from aider_hooks.tasks import get_task

    cwd = Path.cwd()
    source = _diff_source(args)
    root = _repo_root(source, cwd)
    if root is None:
        raise InputError("baseline needs a git repository: .aider-review/baseline.json is "
                         "written at its root")
    settings = settings_from_args(args, root)
    diff = load_diff(source, cwd=cwd, paths=args.paths, root=root)
    try:
        result = review_diff(diff, settings, paths=list(diff.paths), task=get_task("review"))
    finally:
        diff.close()
    report = result.report
    if not settings.quiet:
        for notice in report.notices:
            print(f"{PROG}: {notice}", file=sys.stderr)
    if report.model_unavailable:
        print(f"{PROG}: baseline not written: the model could not be reached, so the run's "
              "findings are incomplete", file=sys.stderr)
        return EXIT_MODEL_UNAVAILABLE
    accepted = list(report.findings) + [f for f, why in result.not_reported
                                        if why == REASON_BASELINE or why in THRESHOLDS]
    path = write_baseline(root, accepted)
    count = len({f.with_fingerprint().fingerprint for f in accepted})
    print(f"wrote {count} finding(s) to {path.relative_to(root)}")
    return EXIT_OK
