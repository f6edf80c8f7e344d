"""Remembered review runs: a repeat of a review whose every input is unchanged prints the
earlier report again instead of parsing, checking, redacting and asking the cache once more.

When (all must hold; anything else runs the review as usual):

- ``review`` printing a report (not explain/fix, not --dry-run) of the staged changes or of
  a ``--range``, in a git repository, with the cache on and ``verify`` off;
- the format is a built-in one and no third-party check is installed (unless
  ``AIDER_REVIEW_NO_PLUGINS`` is set): plugin checks always run, by design;
- to be stored, the run made no model request (every answer came from the cache, or no
  model was configured), no hunk failed, the model was never unavailable, the run budget
  cut nothing, no warning about the cache file or the last-findings file was given, and no
  finding's line holds a secret.

The key (sha256) hashes everything the report depends on: the code (``package_version``:
pip's install record or every module's size and time, the package and Python versions),
the resolved settings (API keys are not hashed; only whether each link has one), the parsed
command line, the working
folder, the diff's whole text (blob ids included), the knowledge files' bytes and which were
absent (``knowledge.fingerprint``), whether stdout and stderr are terminals and whether
``NO_COLOR`` or ``AIDER_REVIEW_NO_PLUGINS`` are set. A replay prints the stored report
through the same reporters, with a fresh ``elapsed_s``, writes the last-findings file that
``aider-review feedback`` reads, and exits as the run did.

Stored in the ``run_reports`` table of the response cache file; ``aider-review cache clear``
empties it, ``--no-cache`` neither reads nor writes it, and a report goes as soon as any
answer leaves the cache.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import sqlite3

    from aider_hooks.diff.source import DiffSource, LoadedDiff
    from aider_hooks.report import Report
    from aider_hooks.settings import Settings

# Bump when the key material or the stored value changes shape.
RUN_MEMO_FORMAT = 1
_SOURCES = ("staged", "range")
# Arguments that are not inputs: how the command was dispatched.
_NOT_INPUTS = ("run", "command_module")
# Notices a rerun need not repeat: trouble with the cache or the last-findings file.
_TRANSIENT_NOTICES = ("response cache ", "could not keep this run's findings")


class RunMemo:
    """The remembered report of one run's inputs in the cache file at ``path``.

    Reading goes straight to SQLite (not through ``ResponseCache``, whose module and checks a
    replay does without); any trouble is a miss, and the full run that follows opens the
    file as usual and says what is wrong with it. Writing goes through ``ResponseCache``.
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path = path
        self.key = key

    def recall(self) -> Report | None:
        """The stored report, or None (not stored, or unreadable: then the run goes on)."""
        if not self.path.is_file():
            return None  # no cache yet (connecting would make an empty file)
        import sqlite3

        try:
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error:
            return None
        try:
            value = _read_and_touch(conn, self.key)
        except sqlite3.Error:
            return None
        finally:
            conn.close()
        if value is None:
            return None
        from aider_hooks.report import Report

        try:
            return Report.from_state(json.loads(value))
        except ValueError:
            return None

    def remember(self, report: Report) -> None:
        """Keep ``report`` when a rerun would produce it again (see the module's rules)."""
        if not replayable(report):
            return
        from aider_hooks.model.cache import ResponseCache

        with ResponseCache(self.path) as cache:  # its warnings were the run's own
            cache.put_run_report(self.key, json.dumps(report.to_state()))


# As model/cache.py: wait for another process's write; refresh "last used" hourly at most.
_BUSY_TIMEOUT_S = 30.0
_TOUCH_AFTER_S = 3600.0


def _read_and_touch(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value, last_used FROM run_reports WHERE key = ?",
                       (key,)).fetchone()
    if row is None:
        return None
    now = time.time()
    if row[1] < now - _TOUCH_AFTER_S:
        try:
            conn.execute("UPDATE run_reports SET last_used = ? WHERE key = ?", (now, key))
        except sqlite3.OperationalError:
            pass  # a hit stays a hit when only the LRU time could not be written
    return str(row[0])


def open_run_memo(args: argparse.Namespace, source: DiffSource, settings: Settings,
                  diff: LoadedDiff) -> RunMemo | None:
    """The memo of a ``review`` run, or None when the run may not be remembered."""
    if not _eligible(source, settings, diff):
        return None

    if settings.cache_path:
        path = Path(settings.cache_path).expanduser()
    else:
        from aider_hooks.model.cache import default_cache_path

        path = default_cache_path()
    assert diff.root is not None
    return RunMemo(path, run_key(args, settings, diff, diff.root))


def _eligible(source: DiffSource, settings: Settings, diff: LoadedDiff) -> bool:
    from aider_hooks.plugin_finder import FORMATS, plugins_disabled

    if not (source.kind in _SOURCES
            and diff.root is not None and settings.cache and not settings.dry_run
            and not settings.verify and settings.format in FORMATS):
        return False
    if plugins_disabled():
        return True
    from aider_hooks.plugin_finder import find_plugins

    return all(plugin.builtin for plugin in find_plugins("check"))


def run_key(args: argparse.Namespace, settings: Settings, diff: LoadedDiff, root: Path) -> str:
    """sha256 of every input the report depends on (the module's docstring lists them)."""
    from aider_hooks.knowledge.fingerprint import fingerprint
    from aider_hooks.results import package_version, sha256

    parts = [
        f"run-report {RUN_MEMO_FORMAT}",
        package_version(),
        _settings_text(settings),
        _arguments_text(args),
        str(Path.cwd()), str(root), diff.label, repr(diff.paths), repr(diff.whole_files),
        fingerprint(root),
        repr((sys.stdout.isatty(), sys.stderr.isatty(), "NO_COLOR" in os.environ,
              os.environ.get("AIDER_REVIEW_NO_PLUGINS"))),
        diff.text,
    ]
    digest = sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


def _settings_text(settings: Settings) -> str:
    """The settings' repr (API keys are repr=False) and which links have a key or URL."""
    links = [(link.label, link.configured) for link in settings.chain()]
    return f"{settings!r}|{settings.model_configured}|{links!r}"


def _arguments_text(args: argparse.Namespace) -> str:
    return repr(sorted((name, repr(value)) for name, value in vars(args).items()
                       if name not in _NOT_INPUTS))


def replayable(report: Report) -> bool:
    """Whether a rerun with the same inputs would print this report: no model request, no
    failure, nothing cut, no transient warning, and no finding whose line holds a secret
    (the stored report must hold nothing the redaction would hide)."""
    stats = report.stats
    if (stats.requests or stats.failed or stats.not_reviewed_budget or report.failed
            or report.model_unavailable or any(link.requests for link in report.links)):
        return False
    if any(notice.startswith(_TRANSIENT_NOTICES) for notice in report.notices):
        return False
    from aider_hooks.results import holds_secret

    return not holds_secret(report.findings)
