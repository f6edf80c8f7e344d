"""Results of pure computations kept from one run to the next: the built-in checks' findings
for a file, and "the secret scan found nothing in this text".

A result is stored under a sha256 key that hashes everything it depends on (the check's name
and option values, the file's git blob id and its hunks, the scanned text and its path) and
the version of the code that computed it (``code_version``: the package version, the Python
version, and the size and modification time of the modules the checks and the scan are made
of, so an edited or reinstalled aider-review never reads a result of other code). Values are small JSON texts in
the ``check_results`` table of the response cache file (model/cache.py); ``aider-review cache
clear`` removes them, ``--no-cache`` neither reads nor writes them. Nothing of a file's content
is stored: keys are hashes, values are findings as reported (secrets already redacted) or the
word ``clean``. Only texts the scan found *nothing* in are remembered, so a text holding a
secret is never hashed into the file and is scanned (and redacted) again on every run.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from functools import cache

from aider_hooks import __version__

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import _Hash

    from aider_hooks.finding import Finding
    from aider_hooks.model.cache import ResponseCache
    from aider_hooks.settings import Settings

# Bump when the shape of keys or values changes.
RESULTS_FORMAT = 1
CLEAN = "clean"


# The code a remembered result depends on: every module of these folders, and these modules
# (what the built-in checks and the secret scan import). Keep in step with their imports.
_RESULT_FOLDERS = ("checks", "redact")
_RESULT_MODULES = ("__init__.py", "finding.py", "hunk.py", "results.py",
                   os.path.join("diff", "source.py"))


def sha256(data: bytes = b"") -> _Hash:
    """``hashlib.sha256``, from Python's own module where there is one: importing hashlib
    loads OpenSSL first (~3 ms), which a replayed review (cli/run_memo.py) never needs
    otherwise. The digests are the same."""
    return _sha256_constructor()(data)


@cache
def _sha256_constructor() -> Callable[[bytes], _Hash]:
    import importlib

    for name in ("_sha2", "_sha256"):  # Python 3.12+, 3.11
        try:
            constructor: Callable[[bytes], _Hash] = importlib.import_module(name).sha256
            return constructor
        except (ImportError, AttributeError):
            continue
    import hashlib

    return hashlib.sha256


@cache
def code_version() -> str:
    """Which code computes the results: package and Python versions plus a digest of the
    name, size and modification time of the modules the results depend on (an editable
    install that changed a rule, or a reinstall, starts afresh)."""
    package = os.path.dirname(os.path.abspath(__file__))
    stamp = sha256()
    entries: list[tuple[str, os.stat_result]] = []
    for folder in _RESULT_FOLDERS:
        try:
            with os.scandir(os.path.join(package, folder)) as listing:
                entries += [(os.path.join(folder, e.name), e.stat()) for e in listing
                            if e.name.endswith(".py")]
        except OSError:
            entries.append((folder, os.stat_result((0,) * 10)))
    for name in _RESULT_MODULES:
        try:
            entries.append((name, os.stat(os.path.join(package, name))))
        except OSError:
            entries.append((name, os.stat_result((0,) * 10)))
    for name, info in sorted(entries, key=lambda entry: entry[0]):
        stamp.update(f"{name}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return f"{RESULTS_FORMAT}|{__version__}|{sys.version}|{stamp.hexdigest()[:24]}"


@cache
def package_version() -> str:
    """Which aider-review runs: ``code_version``'s parts for every module of the package (a
    remembered whole run depends on all of them)."""
    return package_stamp(os.path.dirname(os.path.abspath(__file__)), __version__)


def package_stamp(package: str, version: str) -> str:
    """The stamp of the package folder ``package``. Installed the usual way, pip's ``RECORD``
    of the install stands for the files (one stat: a reinstall or upgrade rewrites it); from a
    source checkout or an editable install, where files change without an install, the size
    and modification time of every module (one walk of the package's folders)."""
    record = os.path.join(os.path.dirname(package), f"aider_hooks-{version}.dist-info", "RECORD")
    try:
        info = os.stat(record)
    except OSError:
        return _walked_stamp(package, version)
    return (f"{RESULTS_FORMAT}|{version}|{sys.version}|record:{info.st_size}:"
            f"{info.st_mtime_ns}:{info.st_ino}")


def _walked_stamp(package: str, version: str) -> str:
    stamp = sha256()
    for folder, names, files in os.walk(package):
        names[:] = sorted(n for n in names if n != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                stamp.update(f"{os.path.relpath(path, package)}\0{info.st_size}\0"
                             f"{info.st_mtime_ns}\n".encode())
    return f"{RESULTS_FORMAT}|{version}|{sys.version}|{stamp.hexdigest()[:24]}"


def result_key(kind: str, *parts: str) -> str:
    """The key of one result: ``kind`` (what computed it), the code version, and ``parts``
    (everything the result depends on), unambiguously joined."""
    digest = sha256()
    for part in (kind, code_version(), *parts):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


def blob_id(data: bytes | None) -> str:
    """git's id of a blob with this content (the same sha1 ``git hash-object`` prints), or
    "-" when there is no content."""
    if data is None:
        return "-"
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def holds_secret(findings: Iterable[Finding]) -> bool:
    """Whether these findings may hold a secret's text, so that they are never remembered:
    one of the secret check's own (its line is where a secret is, redacted line by line, which
    misses what only the whole hunk shows), or one with a text (the anchored line, the
    message, the suggestion) that the secret scan would redact (a check's line is the file's
    own text, e.g. a syntax error on ``password = "..."``)."""
    findings = list(findings)
    if any(f.source == "builtin" and f.category == "secret" for f in findings):
        return True
    from aider_hooks.redact import redact_text

    return any(redact_text(text, path=finding.path)[1]
               for finding in findings
               for text in (finding.code, finding.message, finding.suggestion) if text)


if TYPE_CHECKING:  # a type only: no module imports it at run time
    from typing import Protocol

    class TextMemo(Protocol):
        """What the redaction needs of a memo (``ResultMemo``)."""

        def get_many(self, keys: Iterable[str]) -> dict[str, str]: ...

        def put(self, key: str, value: str) -> None: ...


# New results written while the run goes on, this many at a time on a thread of their own,
# rather than all at close(): a 2,000-file review's 22,000 took 0.1 s at the very end of it.
WRITE_EVERY = 4096


class ResultMemo:
    """Reads and writes results through one response cache. New results are written in
    batches of ``WRITE_EVERY`` by a thread while the run goes on, the rest by ``close()``;
    ``get`` sees them all at once. Any trouble with the file is a warning (collected in
    ``warnings``) and a memo that remembers nothing."""

    def __init__(self, cache: ResponseCache) -> None:
        import threading

        self._cache = cache
        self._new: dict[str, str] = {}
        self._writing: dict[str, str] = {}  # the batch the writer thread is storing
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()  # the planner's redaction and the checks both put
        self.warnings = cache.warnings

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        return self._cache.results(list(keys))

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._new.get(key) or self._writing.get(key)
        return value or self._cache.results([key]).get(key)

    def put(self, key: str, value: str) -> None:
        import threading

        with self._lock:
            self._new[key] = value
            if len(self._new) < WRITE_EVERY or self._writer is not None:
                return
            self._writing, self._new = self._new, {}
            self._writer = threading.Thread(target=self._write, args=(self._writing,),
                                            name="aider-review-results-writer", daemon=True)
            self._writer.start()

    def _write(self, batch: dict[str, str]) -> None:
        try:
            self._cache.put_results(batch)
        finally:
            with self._lock:
                self._writing, self._writer = {}, None

    def close(self) -> None:
        with self._lock:
            writer = self._writer
        if writer is not None:
            writer.join()
        try:
            self._cache.put_results(self._new)
        finally:
            self._new = {}
            self._cache.close()


def open_result_memo(settings: Settings, on_warning: Callable[[str], None] | None = None,
                     ) -> ResultMemo | None:
    """The memo of the cache file a review with ``settings`` uses; None with ``--no-cache``."""
    if not settings.cache:
        return None
    from pathlib import Path

    from aider_hooks.model.cache import ResponseCache, default_cache_path

    path = Path(settings.cache_path) if settings.cache_path else default_cache_path()
    return ResultMemo(ResponseCache(path, on_warning=on_warning))
