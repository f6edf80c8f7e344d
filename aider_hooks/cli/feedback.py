"""``aider-review feedback FINGERPRINT --useful|--wrong [--note TEXT]``.

Appends one line to ``.aider-review/feedback.jsonl`` for a finding of the last review (kept
in ``.git/aider-review/last-findings.json``). A finding marked wrong is not reported again;
the note (redacted) becomes a learning in the instructions of later reviews. An unknown
fingerprint or a damaged feedback file is one line naming the file, exit 2.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from aider_hooks.errors import EXIT_OK


def run(args: argparse.Namespace) -> int:
    from aider_hooks.diff.git import find_repo_root
    from aider_hooks.knowledge import FEEDBACK_FILE
    from aider_hooks.knowledge.feedback import (
        append_feedback,
        find_last_finding,
        new_entry,
        read_feedback,
    )
    from aider_hooks.knowledge.files import KnowledgeReader

    root = find_repo_root(Path.cwd())
    _, problems = read_feedback(KnowledgeReader(root))  # a damaged log: say so, add nothing
    if problems:
        raise problems[0]
    finding = find_last_finding(root, args.fingerprint.strip())
    entry = new_entry(finding, args.verdict, args.note)
    append_feedback(root, entry)
    from aider_hooks.reporters import printable

    effect = ("it will not be reported again" if args.verdict == "wrong"
              else "thank you")
    print(f"recorded in {FEEDBACK_FILE}: {entry.fingerprint} "
          f"({printable(entry.path)}, {entry.category}) marked {args.verdict}; {effect}")
    return EXIT_OK
