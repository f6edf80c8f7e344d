"""The built-in ``per_file`` checks in a process of their own, on another core.

On a large change with a model to ask, one process is bound by the interpreter lock: the
built-in checks (compiling every changed Python file, scanning every hunk for secrets) would
take their seconds from the thread that builds and sends requests. ``run_checks`` hands them
to one child instead: a fresh interpreter (``python -m aider_hooks.checks.worker``, never a
fork: the parent holds a SQLite connection and threads) that imports the parent's own
``aider_hooks`` and reads no settings, plugins or network; it gets each file with its new
content and sends the findings back. Any trouble (no child, a dead child, a bad frame, a
check that raised there) only means those checks run in the parent after all.

The pipes carry length-prefixed pickle frames (parent and child are the same program):
to the child ``("header", {check: {option: value}})``, ``("files", [job, ...])`` per batch,
``("end",)``; back ``("found", [(check, file index, findings), ...])`` per batch,
``("failed", check, text)`` when a check raised (it then stops running there), ``("end",)``.
The child ends at the end of its input, so it never outlives a parent that went away.
"""
from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import IO, TYPE_CHECKING, Any, Protocol

from aider_hooks.child_process import (
    child_command,
    close_quietly,
    frames,
    reap,
    start,
    with_this_package,
    write_frame,
)

if TYPE_CHECKING:
    import subprocess

    from aider_hooks.diff.parse import ChangedFile
    from aider_hooks.finding import Finding

# Measured on 2 cores: a file's checks cost the parent ~1.3 ms in process and ~0.1 ms sent
# to the child, whose start costs ~0.13 s of the other core. From 100 files the parent saves
# 0.1 s and more, and the ~50 requests of such a change hide the child's start.
MIN_FILES = 100
BATCH_FILES = 64  # files per frame: the parent's pickling is spread over the run
IDLE_S = 0.05  # fewer files than a batch are sent when no more came for this long
MODULE = "aider_hooks.checks.worker"
ENV_VAR = "AIDER_REVIEW_CHECK_WORKER"  # "off": never; "on": whenever a model is asked


@dataclass(frozen=True)
class Job:
    """One file for the child: its index in the run's checked files, the file, its new
    content as the parent read it (None: none), and the checks to run on it."""

    index: int
    file: ChangedFile
    blob: bytes | None
    checks: tuple[str, ...]


@dataclass(frozen=True)
class WorkerPlan:
    """When ``run_checks`` uses a child: at least ``min_files`` files to run checks on.
    ``command`` starts it (the default: this interpreter, see ``child_command``)."""

    min_files: int = MIN_FILES
    command: tuple[str, ...] | None = None


def worker_plan() -> WorkerPlan | None:
    """The plan for a run that asks a model (checks overlap its requests): ``ENV_VAR``
    turns the child off or on for any size; unset, it is used from ``MIN_FILES`` files."""
    choice = os.environ.get(ENV_VAR, "").strip().lower()
    if choice in ("off", "0", "no", "false"):
        return None
    if choice in ("on", "1", "yes", "true"):
        return WorkerPlan(min_files=1)
    return WorkerPlan()


@dataclass
class WorkerOutcome:
    """What the child sent: findings by check and file index; ``failed``: the checks whose
    findings are missing or incomplete (they raised there, or the child could not finish)."""

    found: dict[str, dict[int, list[Finding]]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)


class Lookup(Protocol):
    """Which checks each of a batch of files needs (not remembered): one tuple of check names
    per file; ``file_keys`` keeps each file's part of the result keys for ``run_checks``."""

    file_keys: dict[int, str]

    def __call__(self, files: Sequence[ChangedFile],
                 blobs: Callable[[str], bytes | None]) -> list[tuple[str, ...]]: ...


class EarlyChecks:
    """Files handed over as they become known (``add``, from any thread), checked in a child
    once ``plan.min_files`` of them need a check (``lookup`` tells); ``finish`` gives what
    the child found. Nothing here raises for the child's sake: what it could not do is
    missing from the result, and the parent runs it."""

    def __init__(self, options: Mapping[str, Mapping[str, Any]], lookup: Lookup,
                 read_new_file: Callable[[str], bytes | None], plan: WorkerPlan) -> None:
        import queue

        self._options = {name: dict(values) for name, values in options.items()}
        self.lookup = lookup
        self._read = read_new_file
        self._plan = plan
        self._queue: queue.SimpleQueue[list[ChangedFile] | None] = queue.SimpleQueue()
        self._files: list[ChangedFile] = []  # every file handed over, by its index
        self._held: list[Job] = []  # until there are enough to start the child
        self._sent: dict[str, set[int]] = {name: set() for name in options}
        self._child: subprocess.Popen[bytes] | None = None
        self._broken = False  # no child (it could not start, or a write failed)
        self._outcome = WorkerOutcome()
        self._finished = False  # the child's end frame came
        self._reader: threading.Thread | None = None
        self._feeder = threading.Thread(target=self._feed, name="aider-review-checks-feed",
                                        daemon=True)
        self._feeder.start()

    def add(self, files: Sequence[ChangedFile]) -> None:
        if files:
            self._queue.put(list(files))

    def finish(self) -> dict[str, dict[int, list[Finding]]]:
        """The findings by check and ``id`` of the file, for the checks the child ran on
        every file it was sent; empty when it never started."""
        self._queue.put(None)
        self._feeder.join()
        if self._child is None:
            return {}
        if self._reader is not None:
            self._reader.join()
        reap(self._child, kill=not self._finished)
        if not self._finished or self._broken:
            return {}
        outcome = self._outcome
        return {name: {id(self._files[index]): findings for index, findings in found.items()}
                for name, found in outcome.found.items()
                if name not in outcome.failed and self._sent[name] <= found.keys()}

    def _feed(self) -> None:
        """Batches of files: looked up, then held or pickled to the child; on a thread of its
        own so that the parent's share of the work is spread over the run."""
        import queue

        pending: list[ChangedFile] = []
        closing = False
        try:
            while not closing and not self._broken:
                try:
                    item = self._queue.get(timeout=IDLE_S if pending else None)
                except queue.Empty:  # the parser paused (waiting for the model, say): go on
                    item = []
                closing = item is None
                pending += item or []
                while len(pending) >= BATCH_FILES or (pending and not item):
                    batch, pending = pending[:BATCH_FILES], pending[BATCH_FILES:]
                    self._send(batch)
            if self._child is not None:
                self._write(("end",))
        except Exception:  # noqa: BLE001 - whatever it is, the parent runs the checks
            self._broken = True
        finally:
            if self._child is not None and self._child.stdin is not None:
                close_quietly(self._child.stdin)  # the child ends, and so does the reader

    def _send(self, batch: list[ChangedFile]) -> None:
        if self._broken:
            return
        try:
            # One read per file: the result key and the child see the same bytes, even when
            # a work-tree file is saved again meanwhile.
            blobs = {file.path: self._read(file.path) for file in batch}
            wanted = self.lookup(batch, blobs.__getitem__)
            jobs = []
            for file, names in zip(batch, wanted):
                self._files.append(file)
                if names:
                    jobs.append(Job(len(self._files) - 1, file, blobs[file.path], names))
        except Exception:  # noqa: BLE001 - e.g. a cache error: the parent does it all
            self._broken = True
            return
        if self._child is None:
            self._held += jobs
            if len(self._held) < self._plan.min_files:
                return
            jobs, self._held = self._held, []
            if not self._start():
                return
        for job in jobs:
            for name in job.checks:
                self._sent[name].add(job.index)
        self._write(("files", [(j.index, j.file, j.blob, j.checks) for j in jobs]))

    def _start(self) -> bool:
        try:
            child = start(self._plan.command or child_command(MODULE), child_env())
        except (OSError, ValueError):
            self._broken = True
            return False
        self._child = child
        assert child.stdout is not None
        self._reader = threading.Thread(target=self._read_answers, args=(child.stdout,),
                                        name="aider-review-checks-read", daemon=True)
        self._reader.start()
        self._write(("header", self._options))
        return True

    def _read_answers(self, pipe: IO[bytes]) -> None:
        self._finished = _collect(pipe, self._outcome)
        if not self._finished and self._child is not None:
            # A garbled stream from a child still running: nobody reads its answers now, so
            # once its pipe is full it stops reading ours, and the feeder would wait for it
            # for ever. Killed, it makes the feeder's next write fail instead.
            self._broken = True
            try:
                self._child.kill()
            except OSError:
                pass

    def _write(self, frame: object) -> None:
        assert self._child is not None and self._child.stdin is not None
        if self._broken:
            return
        try:
            _write_frame(self._child.stdin, frame)
        except Exception:  # noqa: BLE001 - the child went away, or a file would not pickle
            self._broken = True


# What a Python needs to start and find its packages; nothing else of the parent's
# environment (the API key, tokens) goes to the child, which needs none of it.
_CHILD_KEEPS = ("PATH", "HOME", "APPDATA", "SYSTEMROOT", "TMPDIR", "TEMP", "TMP", "LANG",
                "LC_ALL", "LC_CTYPE")


def child_env() -> dict[str, str]:
    return with_this_package({name: value for name, value in os.environ.items()
                              if name in _CHILD_KEEPS or name.startswith("PYTHON")})


def _collect(pipe: IO[bytes], outcome: WorkerOutcome) -> bool:
    """Read the child's frames into ``outcome``; False when the stream broke before its end
    frame."""
    try:
        for frame in frames(pipe):
            if frame[0] == "found":
                for name, index, findings in frame[1]:
                    outcome.found.setdefault(name, {})[index] = findings
            elif frame[0] == "failed":
                outcome.failed.add(frame[1])
            elif frame[0] == "end":
                return True
            else:
                return False
    except Exception:  # noqa: BLE001 - a truncated or garbled frame: the parent runs the checks
        return False
    return False


def _write_frame(pipe: IO[bytes], frame: object) -> None:
    write_frame(pipe, frame, _dispatch_table())


@cache
def _dispatch_table() -> dict[type, Any]:
    """Pickle's table with a short way for a diff line: the dataclass's own way (its fields
    looked up for every one of a change's many lines) took 4x the parent's time."""
    import copyreg

    from aider_hooks.hunk import DiffLine

    def diff_line(line: DiffLine) -> tuple[type[DiffLine], tuple[str, str, int | None, int | None]]:
        return DiffLine, (line.kind, line.text, line.new_lineno, line.old_lineno)

    table: dict[type, Any] = dict(copyreg.dispatch_table)
    table[DiffLine] = diff_line
    return table


# The checks are due at the end of the run; the requests in flight are due every few
# milliseconds. On a machine with few cores, a lower priority lets the parent and the model
# requests have a core whenever they are ready, and the checks take the time left over.
NICENESS = 10


def _yield_to_the_run() -> None:
    try:
        os.nice(NICENESS)
    except (AttributeError, OSError):  # no os.nice (Windows), or not allowed: same speed as before
        pass


def main() -> int:
    """The child: run the built-in checks on the files it is sent (see the module's doc)."""
    import signal
    from types import MappingProxyType

    from aider_hooks.checks.context import CheckContext
    from aider_hooks.checks.registry import builtin_checks, findings_of

    # Ctrl-C reaches the whole process group: the parent decides, the child ends with its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _yield_to_the_run()
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    incoming = frames(source)
    header = next(incoming, None)
    if header is None or header[0] != "header":
        return 2
    known = builtin_checks()
    options = {name: MappingProxyType(values) for name, values in header[1].items()}
    failed: set[str] = set()
    for frame in incoming:
        if frame[0] == "end":
            _write_frame(sink, ("end",))
            return 0
        found = []
        for index, file, blob, names in frame[1]:
            def read_new_file(path: str, file: ChangedFile = file,
                              blob: bytes | None = blob) -> bytes | None:
                return blob if path == file.path else None

            for name in names:
                if name in failed:
                    continue
                ctx = CheckContext(files=(file,), read_new_file=read_new_file,
                                   options=options[name])
                try:
                    found.append((name, index, findings_of(known[name], ctx)))
                except Exception as err:  # noqa: BLE001 - the parent runs it again and reports it
                    failed.add(name)
                    _write_frame(sink, ("failed", name, f"{type(err).__name__}: {err}"))
        _write_frame(sink, ("found", found))
    return 0  # the parent went away


if __name__ == "__main__":
    sys.exit(main())
