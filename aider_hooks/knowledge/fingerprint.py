"""A digest of every knowledge file a review reads from the work tree (``open_knowledge``):
the instruction files, the scoped instructions folder's listing, the baseline and the
feedback log, each by its bytes, and which of them were absent.

A remembered run (cli/run_memo.py) is replayed only while this digest is unchanged, so
creating, editing or deleting any of these files makes the next review a full one. It reads
the files, not their times: an edit within one clock tick, or a checkout that restores a
time, still changes it. Keep ``_probed_files`` in step with what ``open_knowledge`` reads.
"""
from __future__ import annotations

import os
from pathlib import Path

from aider_hooks.knowledge import (
    BASELINE_FILE,
    FEEDBACK_FILE,
    INSTRUCTIONS_FILE,
    SCOPED_DIRECTORY,
    SCOPED_SUFFIX,
    WHOLE_REPOSITORY_FILES,
)
from aider_hooks.results import sha256


def fingerprint(root: Path) -> str:
    """sha256 over each probed path with its content, or a mark that it is absent."""
    digest = sha256()
    for path in _probed_files(root):
        digest.update(path.encode("utf-8", "surrogateescape") + b"\0")
        digest.update(_content_digest(root / path) + b"\n")
    return digest.hexdigest()


def _probed_files(root: Path) -> list[str]:
    """The repository paths ``open_knowledge`` reads, the scoped folder's entries included."""
    try:
        with os.scandir(root / SCOPED_DIRECTORY) as listing:
            scoped = sorted(f"{SCOPED_DIRECTORY}/{e.name}" for e in listing
                            if e.name.endswith(SCOPED_SUFFIX))
    except OSError:
        scoped = [f"{SCOPED_DIRECTORY}/ (absent)"]
    return [*WHOLE_REPOSITORY_FILES, *scoped, INSTRUCTIONS_FILE, BASELINE_FILE, FEEDBACK_FILE]


def _content_digest(file: Path) -> bytes:
    try:
        with open(file, "rb") as handle:
            return sha256(handle.read()).hexdigest().encode()
    except FileNotFoundError:
        return b"absent"
    except OSError as err:  # a folder, or unreadable: the reader warns; the kind must match
        return f"unreadable {err.errno}".encode()
