"""Which changed files are reviewed, judged by their path alone.

Lock, generated and vendored files are never reviewed by default (``default_exclusion``); the
``include``/``exclude`` settings narrow or widen that (``exclusion``), with globs matched by
``path_matches``. The PATH arguments of the command line keep only the files they name
(``PathFilter``). Reasons that need the diff itself (deleted, binary, symlink, submodule, no
content change) are decided in ``hunks.py``; the constants for every reason live here so
that the user sees one vocabulary.
"""
from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence

from aider_hooks.settings import Settings

# Files nobody reviews by hand. A user's ``exclude`` globs add to these (or, with ``!``,
# take paths back: see ``exclusion``).
LOCK_FILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock",
    "Cargo.lock", "uv.lock", "Pipfile.lock", "composer.lock", "Gemfile.lock", "go.sum",
    "packages.lock.json", "bun.lock",
})
LOCK_GLOBS = ("*.lock",)
GENERATED_GLOBS = ("*.min.js", "*.min.css", "*.map", "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py",
                   "*.pb.go")
GENERATED_DIRS = frozenset({"generated"})
VENDORED_DIRS = frozenset({"vendor", "third_party", "node_modules"})

# Skip reasons, as shown to the user.
SKIP_DELETED = "deleted file"
SKIP_BINARY = "binary file"
SKIP_SYMLINK = "symlink"
SKIP_SUBMODULE = "submodule"
SKIP_NO_CHANGE = "no content change"
SKIP_LOCK = "lock file"
SKIP_GENERATED = "generated file"
SKIP_VENDORED = "vendored code"
SKIP_EXCLUDED = "excluded by settings"
SKIP_NOT_INCLUDED = "not in settings include"


def exclusion(path: str, settings: Settings) -> str | None:
    """Why ``path`` is not reviewed, by the ``include``/``exclude`` settings and the built-in
    skips (lock, generated, vendored), or None.

    ``exclude`` globs apply in order after the built-in skips, and one that starts with ``!``
    takes paths back in, as in ``.gitignore``: the last glob that matches decides.
    ``exclude = ["!vendor/our-fork/"]`` reviews a vendored fork; ``["docs/", "!docs/api/"]``
    skips the docs except the API docs.
    """
    if settings.include and not any(path_matches(path, g) for g in settings.include):
        return SKIP_NOT_INCLUDED
    reason = default_exclusion(path)
    for glob in settings.exclude:
        taken_back = glob.startswith("!")
        if path_matches(path, glob[1:] if taken_back else glob):
            reason = None if taken_back else SKIP_EXCLUDED
    return reason


def default_exclusion(path: str) -> str | None:
    """Why ``path`` is never reviewed by default (lock, generated, vendored), or None."""
    parts = path.split("/")
    name, directories = parts[-1], parts[:-1]
    if name in LOCK_FILES or any(fnmatch.fnmatchcase(name, g) for g in LOCK_GLOBS):
        return SKIP_LOCK
    if any(d in VENDORED_DIRS for d in directories):
        return SKIP_VENDORED
    if any(fnmatch.fnmatchcase(name, g) for g in GENERATED_GLOBS):
        return SKIP_GENERATED
    if any(d in GENERATED_DIRS for d in directories):
        return SKIP_GENERATED
    return None


def path_matches(path: str, pattern: str) -> bool:
    """fnmatch ``pattern`` against the path, its file name, and each of its directories.

    ``*`` also crosses ``/`` (``src/*.py`` matches ``src/a/b.py``); a pattern ending in ``/``
    matches directories only (``docs/`` matches everything under any ``docs`` directory);
    a leading ``/`` or ``./`` is ignored.
    """
    pattern = pattern.strip()
    while pattern.startswith(("./", "/")):
        pattern = pattern[1:] if pattern.startswith("/") else pattern[2:]
    directory_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    if not pattern:
        return False
    parts = path.split("/")
    candidates: list[str] = []
    if not directory_only:
        candidates += [path, parts[-1]]
    for i in range(1, len(parts)):
        candidates += ["/".join(parts[:i]), parts[i - 1]]
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates)


class PathFilter:
    """The PATH arguments: exact files, or directories that contain the file."""

    def __init__(self, paths: Sequence[str]) -> None:
        cleaned = {_clean_path(p) for p in paths}
        self.everything = not paths or "" in cleaned
        self.paths = cleaned

    def __call__(self, path: str) -> bool:
        if self.everything or path in self.paths:
            return True
        parts = path.split("/")
        return any("/".join(parts[:i]) in self.paths for i in range(1, len(parts)))


def _clean_path(path: str) -> str:
    # "\\" separates directories only on Windows; on POSIX it is a character of the name.
    cleaned = path.replace("\\", "/") if os.sep == "\\" else path
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    cleaned = cleaned.rstrip("/")
    return "" if cleaned == "." else cleaned
