"""The last review's findings, kept under the git directory for ``aider-review feedback``
(knowledge/feedback.py looks fingerprints up in them). A module of its own: every review
writes the file, a replayed one too (cli/run_memo.py), without loading the feedback log's
reader.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from aider_hooks.knowledge import LAST_FINDINGS_FILE
from aider_hooks.knowledge.files import KnowledgeError, atomic_write

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from aider_hooks.finding import Finding


def last_findings_path(root: Path) -> Path:
    from aider_hooks.diff.git import git_dir

    return git_dir(root) / LAST_FINDINGS_FILE


def record_last_findings(root: Path, findings: Sequence[Finding],
                         warn: Callable[[str], None]) -> None:
    """Keep the reported findings for ``aider-review feedback`` (never fails a review)."""
    try:
        path = last_findings_path(root)
        items = [{**f.to_json(), "code": f.code} for f in findings]
        document = {"version": 1, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "findings": items}
        # Not worth an fsync: the next review writes it again.
        atomic_write(path, json.dumps(document, indent=1).encode(), mode=0o600, durable=False)
    except (OSError, KnowledgeError, ValueError) as err:
        warn(f"could not keep this run's findings for `aider-review feedback`: {err}")
    except Exception as err:  # noqa: BLE001 - a GitError etc.: never fail the review
        warn(f"could not keep this run's findings for `aider-review feedback`: {err}")
