"""The response cache: model answers kept in SQLite, keyed by a hash of what produced them.

What is stored, per entry: the sha256 key, the raw answer text, its token usage and two times
(created, last used). Never an API key or token. For review requests, unless the setting
``keep-requests`` is off, also the messages that were sent (redacted before they were built)
and the fingerprints of the findings the answer gave, so ``aider-review finetune export`` can
join feedback to them (``keep_request``/``reviewed_requests``); they go with their answer.

Several processes share one file (pre-commit runs hooks in parallel, CI jobs restore the same
file): WAL journal, a long busy timeout and ``BEGIN IMMEDIATE`` for every write, so nobody sees
"database is locked". While a review has several requests in flight, their answers are
written behind (``write_behind``): one thread writes whatever is waiting in one transaction,
and ``close()`` writes the rest, also when the run is interrupted. A new file is built under a temporary name and linked into place, so no
process ever opens a half-made one. Any trouble with the cache is a warning, never a failed
review: a damaged file is replaced once, a file that cannot be opened turns the cache off.
A file that is neither empty, nor SQLite, nor named ``*.sqlite3``/``*.sqlite``/``*.db`` is
never replaced (``--cache pyproject.toml`` is a slip, not a damaged cache).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")
    # ("answer", key, answer, size) or ("request", key, task, messages JSON, findings, size)
    _PendingWrite = tuple[Any, ...]

CACHE_DIR_NAME = "aider-review"
CACHE_FILE_NAME = "responses.sqlite3"
DEFAULT_MAX_BYTES = 200_000_000
# Bump when the key material changes shape, so old entries simply stop matching.
KEY_FORMAT = 1
# Waiting this long for another process's write is better than a miss; it is never reached in
# practice (a write holds the lock for milliseconds).
BUSY_TIMEOUT_S = 30.0
# Eviction goes below the cap by this fraction, so a full cache does not evict on every put.
_EVICT_TO_FRACTION = 0.9
# A check result's "last used" time is written only when the stored one is older than this:
# a warm run reads its results without taking the write lock.
TOUCH_AFTER_S = 3600.0
# Check results are small (a key and a short JSON list); past this many rows the least
# recently used go.
MAX_CHECK_RESULTS = 200_000
# Remembered run reports: one per (repository, staged change, settings) recently reviewed;
# past this many rows, or for a report larger than the byte cap, the least recently used go
# (or the report is not kept).
MAX_RUN_REPORTS = 500
MAX_RUN_REPORT_BYTES = 2_000_000
_ROW_OVERHEAD_BYTES = 64
_DEFAULT_ENDPOINT = "https://api.openai.com/v1"

# SQLite primary result codes (extended codes keep them in the low byte).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26

# Append-only: entry N brings a file from ``PRAGMA user_version`` N to N + 1. Never edit a
# released entry; add a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE answers (
               key TEXT PRIMARY KEY,
               size INTEGER NOT NULL,
               last_used REAL NOT NULL,
               created_at REAL NOT NULL,
               prompt_tokens INTEGER NOT NULL,
               completion_tokens INTEGER NOT NULL,
               text TEXT NOT NULL)""",
        "CREATE INDEX answers_by_last_used ON answers (last_used)",
        # Running totals kept by triggers: the size check on every put stays O(1) and is right
        # whichever process wrote.
        """CREATE TABLE totals (
               id INTEGER PRIMARY KEY CHECK (id = 0),
               entries INTEGER NOT NULL,
               bytes INTEGER NOT NULL)""",
        "INSERT INTO totals (id, entries, bytes) VALUES (0, 0, 0)",
        """CREATE TRIGGER answers_added AFTER INSERT ON answers BEGIN
               UPDATE totals SET entries = entries + 1, bytes = bytes + new.size;
           END""",
        """CREATE TRIGGER answers_removed AFTER DELETE ON answers BEGIN
               UPDATE totals SET entries = entries - 1, bytes = bytes - old.size;
           END""",
        """CREATE TRIGGER answers_resized AFTER UPDATE OF size ON answers BEGIN
               UPDATE totals SET bytes = bytes - old.size + new.size;
           END""",
    ),
    (
        # 2: what was sent for each review answer, and its findings' fingerprints.
        """CREATE TABLE requests (
               key TEXT PRIMARY KEY,
               task TEXT NOT NULL,
               messages TEXT NOT NULL,
               created_at REAL NOT NULL)""",
        """CREATE TABLE request_findings (
               fingerprint TEXT NOT NULL,
               key TEXT NOT NULL,
               finding TEXT NOT NULL,
               PRIMARY KEY (fingerprint, key))""",
        "CREATE INDEX request_findings_by_key ON request_findings (key)",
        """CREATE TRIGGER answers_removed_requests AFTER DELETE ON answers BEGIN
               DELETE FROM requests WHERE key = old.key;
               DELETE FROM request_findings WHERE key = old.key;
           END""",
    ),
    (
        # 3: results of the built-in checks and of the secret scan, by a key that hashes
        # everything they depend on (aider_hooks/results.py); never a file's content.
        """CREATE TABLE check_results (
               key TEXT PRIMARY KEY,
               value TEXT NOT NULL,
               last_used REAL NOT NULL)""",
        "CREATE INDEX check_results_by_last_used ON check_results (last_used)",
    ),
    (
        # 4: reports of whole runs that took every answer from the cache, by a key that hashes
        # every input of the run (cli/run_memo.py). A report stands for the answers it was
        # made of: when any answer leaves the cache (evicted, cleared), every report goes.
        """CREATE TABLE run_reports (
               key TEXT PRIMARY KEY,
               value TEXT NOT NULL,
               last_used REAL NOT NULL)""",
        """CREATE TRIGGER answers_removed_run_reports AFTER DELETE ON answers BEGIN
               DELETE FROM run_reports;
           END""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class ReviewedRequest:
    """A review request kept for fine-tuning: the messages sent, the answer, and its findings
    as ``(fingerprint, finding as the model's JSON)``."""

    key: str
    task: str
    messages: list[dict[str, str]]
    answer: str
    findings: list[tuple[str, dict[str, Any]]]
    created_at: float


@dataclass(frozen=True)
class CachedAnswer:
    """A model's raw answer to one request, with its token usage and when it was made."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    created_at: float = 0.0  # seconds since the epoch


# Only files that can be ours are ever replaced: ``--cache pyproject.toml`` (a slip for
# ``--config``) must not cost the user that file.
_SQLITE_HEADER = b"SQLite format 3\x00"
_CACHE_SUFFIXES = (".sqlite3", ".sqlite", ".db")


def _may_replace(path: Path) -> bool:
    """Whether a file we cannot read as a cache may be deleted and started afresh: it is empty,
    it is an SQLite file, or its name says it is a database."""
    if path.suffix.lower() in _CACHE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except OSError:
        return False
    return head in (b"", _SQLITE_HEADER)


def default_cache_path() -> Path:
    """``<user cache dir>/aider-review/responses.sqlite3``; ``--cache``/``AIDER_REVIEW_CACHE``
    (``settings.cache_path``) replace it, resolved by the caller."""
    from platformdirs import user_cache_dir  # lazily: not needed when nothing is reviewed

    return Path(user_cache_dir(CACHE_DIR_NAME, appauthor=False)) / CACHE_FILE_NAME


def cache_key(
    model: str,
    task: str,
    prompt_version: str | int,
    messages: Sequence[Mapping[str, Any]],
    *,
    base_url: str | None = None,
) -> str:
    """sha256 of a canonical JSON of everything that shapes the answer.

    The endpoint is part of it: a model of the same name on another server (a local
    quantization, a proxy) can answer differently. Only scheme, host, port and path of the base
    URL count (no user info, query or fragment, which could hold credentials), and the default
    OpenAI endpoint counts the same as none.
    """
    material = {
        "format": KEY_FORMAT,
        "model": model,
        "task": task,
        "prompt_version": prompt_version,
        "endpoint": endpoint_identity(base_url),
        "messages": [dict(message) for message in messages],
    }
    # ensure_ascii: text decoded with surrogateescape still hashes instead of failing.
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    import hashlib  # not at start-up: a replayed run (cli/run_memo.py) never needs OpenSSL

    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def endpoint_identity(base_url: str | None) -> str | None:
    """The part of a base URL that says which server answers, or None for the default one."""
    if not base_url or not base_url.strip():
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(base_url.strip())
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a malformed port: still keep keys apart from the default endpoint
        port = ":?"
    identity = f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}"
    identity += parts.path.rstrip("/")
    return None if identity == _DEFAULT_ENDPOINT else identity


class ResponseCache:
    """Model answers by key. Safe for several threads and several processes at once.

    ``max_bytes`` caps the stored answers (text plus a small per-entry overhead); over it, the
    least recently used entries go. The file keeps the freed pages for reuse until ``clear()``.
    Warnings (damaged file replaced, cache off) go to ``on_warning`` and to ``self.warnings``;
    each is one line naming the file, and none stops the review.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.max_bytes = max_bytes
        self.warnings: list[str] = []
        self.hits = 0
        self.misses = 0
        self._on_warning = on_warning
        self._lock = threading.Lock()  # one connection, shared by the engine's worker threads
        self._replaced_damaged_file = False
        self._warned_busy = False
        self._conn: sqlite3.Connection | None = None
        self._used: dict[str, float] = {}  # answers read, by key: when (see get)
        # Write-behind (write_behind()): answers and kept requests waiting for the writer.
        self._behind: threading.Condition | None = None
        self._pending: list[_PendingWrite] = []
        self._pending_answers: dict[str, CachedAnswer] = {}
        self._writer: threading.Thread | None = None
        self._stopping = False
        self._conn = self._open()

    @property
    def enabled(self) -> bool:
        """False when the file could not be opened: every get misses, every put is dropped."""
        return self._conn is not None

    def write_behind(self) -> None:
        """From now until ``close()``, ``put`` and ``keep_request`` return at once and one
        thread writes what they were given, everything waiting in one transaction. For many
        threads answering at once (the engine's pool): two write transactions per answer,
        each waiting for the others, cost a 2,000-file review a second. ``get`` sees the
        answers not written yet."""
        with self._lock:
            if self._behind is not None or self._conn is None:
                return
            self._behind = threading.Condition()
            self._writer = threading.Thread(target=self._write_pending, daemon=True,
                                            name="aider-review-cache-writer")
            self._writer.start()

    def get(self, key: str) -> CachedAnswer | None:
        if self._behind is not None:
            with self._behind:
                waiting = self._pending_answers.get(key)
            if waiting is not None:
                with self._lock:
                    self.hits += 1
                return waiting

        def read(conn: sqlite3.Connection) -> CachedAnswer | None:
            found = _read_entry(conn, key)
            if found is not None:
                # Written with the next write or at close(): a warm run of many hits then
                # takes the write lock once, not once per answer.
                self._used[key] = time.time()
            return found

        answer = self._run(read, None)
        with self._lock:
            if answer is None:
                self.misses += 1
            else:
                self.hits += 1
        return answer

    def put(self, key: str, answer: CachedAnswer) -> None:
        try:
            size = len(key) + len(answer.text.encode("utf-8")) + _ROW_OVERHEAD_BYTES
        except UnicodeEncodeError:  # lone surrogates: SQLite cannot store it; not worth a warning
            return
        if not self._queued(("answer", key, answer, size)):
            self._run(lambda conn: self._write_batch(conn, [("answer", key, answer, size)]),
                      None)

    def keep_request(self, key: str, task: str, messages: Sequence[Mapping[str, str]],
                     findings: Sequence[Any]) -> None:
        """Keep what was sent for the answer under ``key`` (already stored by ``put``) and the
        fingerprints of its findings; they count in the cache size and go with the answer."""
        try:
            payload = json.dumps([dict(m) for m in messages], ensure_ascii=False)
            items = [(f.with_fingerprint().fingerprint, json.dumps(_finding_json(f)))
                     for f in findings]
            size = len(key) + _ROW_OVERHEAD_BYTES + len(payload.encode("utf-8")) + sum(
                len(i[1]) for i in items)
        except UnicodeEncodeError:
            return
        write: _PendingWrite = ("request", key, task, payload, items, size)
        if not self._queued(write):
            self._run(lambda conn: self._write_batch(conn, [write]), None)

    def results(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored check results (``check_results``) of those ``keys`` that have one."""
        return self._run(lambda conn: _read_results(conn, list(keys)), {})

    def put_results(self, items: Mapping[str, str]) -> None:
        """Store check results by key (one transaction; the oldest go past the row cap)."""
        if items:
            self._run(lambda conn: self._write_results(conn, dict(items)), None)

    def put_run_report(self, key: str, value: str) -> None:
        """Remember a run's report (the least recently used go past ``MAX_RUN_REPORTS``);
        cli/run_memo.py reads them."""
        if len(value) <= MAX_RUN_REPORT_BYTES:
            self._run(lambda conn: _write_run_report(conn, key, value), None)

    def reviewed_requests(self, fingerprints: Sequence[str]) -> list[ReviewedRequest]:
        """The kept requests that produced a finding with one of ``fingerprints``."""
        return self._run(lambda conn: _read_requests(conn, list(fingerprints)), [])

    def stats(self) -> dict[str, Any]:
        """What ``aider-review cache stats`` prints: entries, bytes on disk, hits/misses so far."""
        entries, data_bytes = self._run(_read_totals, (0, 0))
        return {
            "path": str(self.path),
            "enabled": self.enabled,
            "entries": entries,
            "bytes": _bytes_on_disk(self.path),
            "data_bytes": data_bytes,
            "max_bytes": self.max_bytes,
            "hits": self.hits,
            "misses": self.misses,
        }

    def clear(self) -> int:
        """Remove every entry (answers, kept requests, check results and run reports) and give the space
        back to the file system; returns how many answers there were."""
        removed = self._run(_delete_all, 0)
        self._run(_compact, None)
        return removed

    def close(self) -> None:
        if self._behind is not None and self._writer is not None:
            with self._behind:
                self._stopping = True
                self._behind.notify()
            self._writer.join()  # what is waiting is written first
        with self._lock:
            if self._conn is not None:
                try:
                    self._write_used(self._conn)
                except sqlite3.Error:
                    pass  # only "last used" times: never worth a warning at the end of a run
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- opening ------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection | None:
        try:
            _make_private_directory(self.path.parent)
            if not self.path.exists():
                _install_new_database(self.path)
            return _connect(self.path)
        except sqlite3.DatabaseError as err:
            if _is_damage(err):
                return self._replace_damaged_file(_describe(err))
            self._turn_off(_describe(err))
            return None
        except _NewerSchema:
            self._turn_off("it was written by a newer aider-review")
            return None
        except OSError as err:
            self._turn_off(_describe(err))
            return None

    def _replace_damaged_file(self, problem: str) -> sqlite3.Connection | None:
        """Delete the damaged file and start an empty one, once per run, with one warning."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._replaced_damaged_file:
            self._turn_off(f"it is damaged again ({problem})")
            return None
        if not _may_replace(self.path):
            self._turn_off(f"it is not a cache file ({problem}), so it was left as it is")
            return None
        self._replaced_damaged_file = True
        try:
            # A stale -wal would be replayed onto the new file: it goes first.
            for suffix in ("-wal", "-shm", ""):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            _install_new_database(self.path)
            conn = _connect(self.path)
        except (OSError, sqlite3.Error, _NewerSchema) as err:
            self._turn_off(f"it is damaged ({problem}) and could not be replaced: "
                           f"{_describe(err)}")
            return None
        self._warn(f"response cache {self.path} was damaged ({problem}); started a new one")
        return conn

    def _turn_off(self, reason: str) -> None:
        self._warn(f"response cache {self.path} cannot be used ({reason}); caching is off for "
                   "this run (--cache FILE or AIDER_REVIEW_CACHE picks another file)")

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        if self._on_warning is not None:
            self._on_warning(message)

    # -- running statements -------------------------------------------------------------------

    def _run(self, operation: Callable[[sqlite3.Connection], _T], fallback: _T) -> _T:
        """Run one operation; any database trouble becomes a warning and ``fallback``."""
        with self._lock:
            if self._conn is None:
                return fallback
            try:
                return operation(self._conn)
            except sqlite3.DatabaseError as err:
                if _is_damage(err):
                    self._conn = self._replace_damaged_file(_describe(err))
                elif _is_busy(err):
                    if not self._warned_busy:
                        self._warned_busy = True
                        self._warn(f"response cache {self.path} stayed locked by another process "
                                   f"for {BUSY_TIMEOUT_S:.0f} s; skipped it for this request")
                else:
                    self._conn.close()
                    self._conn = None
                    self._turn_off(_describe(err))
                return fallback

    def _write_used(self, conn: sqlite3.Connection) -> None:
        """Write the "last used" times of the answers read since the last write."""
        if not self._used:
            return
        used, self._used = self._used, {}
        try:
            with _write_transaction(conn):
                conn.executemany("UPDATE answers SET last_used = ? WHERE key = ?",
                                 [(when, key) for key, when in used.items()])
        except sqlite3.OperationalError as err:
            if not _is_busy(err):  # a hit stays a hit when only the LRU time could not be written
                raise

    def _write_results(self, conn: sqlite3.Connection, items: dict[str, str]) -> None:
        self._write_used(conn)
        _write_results(conn, items)

    def _queued(self, write: _PendingWrite) -> bool:
        """Hand ``write`` to the writer thread; False when there is none (write it now)."""
        if self._behind is None:
            return False
        with self._behind:
            if self._stopping:
                return False
            self._pending.append(write)
            if write[0] == "answer":
                self._pending_answers[write[1]] = write[2]
            self._behind.notify()
        return True

    def _write_pending(self) -> None:
        """The writer thread: whatever is waiting, in one transaction, until close()."""
        assert self._behind is not None
        while True:
            with self._behind:
                while not self._pending and not self._stopping:
                    self._behind.wait()
                batch, self._pending = self._pending, []
                if not batch:
                    return  # stopping, and nothing left
            self._run(lambda conn: self._write_batch(conn, batch), None)
            with self._behind:
                for write in batch:
                    if write[0] == "answer" and self._pending_answers.get(write[1]) is write[2]:
                        del self._pending_answers[write[1]]

    def _write_batch(self, conn: sqlite3.Connection, batch: list[_PendingWrite]) -> None:
        """Answers and kept requests, in order, in one transaction; then the size cap."""
        self._write_used(conn)
        with _write_transaction(conn):
            for write in batch:
                if write[0] == "answer":
                    _insert_answer(conn, *write[1:])
                else:
                    _insert_request(conn, *write[1:])
            _evict_least_recently_used(conn, self.max_bytes)


def _insert_answer(conn: sqlite3.Connection, key: str, answer: CachedAnswer, size: int) -> None:
    conn.execute(
        """INSERT INTO answers (key, size, last_used, created_at, prompt_tokens,
                                completion_tokens, text)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (key) DO UPDATE SET
               size = excluded.size, last_used = excluded.last_used,
               created_at = excluded.created_at, prompt_tokens = excluded.prompt_tokens,
               completion_tokens = excluded.completion_tokens, text = excluded.text""",
        (key, size, time.time(), answer.created_at, answer.prompt_tokens,
         answer.completion_tokens, answer.text),
    )


def _insert_request(conn: sqlite3.Connection, key: str, task: str, payload: str,
                    items: list[tuple[str, str]], size: int) -> None:
    """What was sent for the answer under ``key``; nothing when that answer is not stored."""
    if conn.execute("SELECT 1 FROM answers WHERE key = ?", (key,)).fetchone() is None:
        return
    conn.execute("INSERT OR REPLACE INTO requests (key, task, messages, created_at) "
                 "VALUES (?, ?, ?, ?)", (key, task, payload, time.time()))
    conn.execute("DELETE FROM request_findings WHERE key = ?", (key,))
    conn.executemany("INSERT OR REPLACE INTO request_findings (fingerprint, key, finding)"
                     " VALUES (?, ?, ?)", [(fp, key, item) for fp, item in items])
    conn.execute("UPDATE answers SET size = ? + length(CAST(text AS BLOB)) WHERE key = ?",
                 (size, key))


def _finding_json(finding: Any) -> dict[str, Any]:
    """A finding as the review answer format writes it (docs/answer-formats.md)."""
    return {"path": finding.path, "line": finding.line, "end_line": finding.end_line,
            "code": finding.code, "severity": finding.severity, "category": finding.category,
            "message": finding.message, "suggestion": finding.suggestion,
            "confidence": finding.confidence}


def _read_requests(conn: sqlite3.Connection, fingerprints: list[str]) -> list[ReviewedRequest]:
    keys: list[str] = []
    for start in range(0, len(fingerprints), 500):
        chunk = fingerprints[start:start + 500]
        marks = ",".join("?" * len(chunk))
        keys.extend(row[0] for row in conn.execute(
            f"SELECT DISTINCT key FROM request_findings WHERE fingerprint IN ({marks})", chunk))
    found: list[ReviewedRequest] = []
    for key in dict.fromkeys(keys):
        row = conn.execute(
            "SELECT r.task, r.messages, r.created_at, a.text FROM requests r JOIN answers a "
            "ON a.key = r.key WHERE r.key = ?", (key,)).fetchone()
        if row is None:
            continue
        items = [(fp, json.loads(item)) for fp, item in conn.execute(
            "SELECT fingerprint, finding FROM request_findings WHERE key = ? ORDER BY rowid",
            (key,))]
        found.append(ReviewedRequest(key, row[0], json.loads(row[1]), row[3], items, row[2]))
    found.sort(key=lambda r: (r.created_at, r.key))
    return found


class _NewerSchema(Exception):
    """The file's schema version is above ours: a newer aider-review wrote it."""


def _make_private_directory(directory: Path) -> None:
    """Create missing directories with mode 0700; existing ones are left as they are."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # another process made it meanwhile
            pass


def _install_new_database(path: Path) -> None:
    """Build an empty cache under a temporary name and link it into place.

    Linking never overwrites: when another process got there first, its file is used. SQLite
    gives the -wal and -shm files the mode of the database file, so all three are 0600.
    """
    import tempfile  # only when a new file is made

    try:
        fd, temporary_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new",
                                              dir=path.parent)
    except OSError as err:  # name the directory, not our temporary file
        raise OSError(err.errno, err.strerror, str(path.parent)) from None
    os.close(fd)  # mkstemp made it 0600
    temporary = Path(temporary_name)
    try:
        conn = sqlite3.connect(temporary, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # stored in the file: every opener gets WAL
            _migrate(conn)
        finally:
            conn.close()
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(temporary, path)
    finally:
        for suffix in ("-wal", "-shm", ""):
            Path(f"{temporary}{suffix}").unlink(missing_ok=True)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                           check_same_thread=False)
    try:
        # Read first: a file that is not an SQLite database fails here, before its mode is
        # touched (`--cache README.md` must leave README.md exactly as it was).
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
        _restrict_permissions(path)
        if journal != "wal":
            conn.execute("PRAGMA journal_mode=WAL")  # a file from elsewhere, or an empty one
        conn.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable enough for a cache
        _migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def _restrict_permissions(path: Path) -> None:
    """Keep the cache 0600 even when it came from elsewhere (e.g. restored by actions/cache)."""
    for suffix in ("", "-wal", "-shm"):
        try:
            file = Path(f"{path}{suffix}")
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except OSError:  # missing, or not ours: SQLite reports what matters
            pass


def _migrate(conn: sqlite3.Connection) -> None:
    version = _user_version(conn)
    if version == SCHEMA_VERSION:
        return
    if version > SCHEMA_VERSION:
        raise _NewerSchema
    with _write_transaction(conn):
        # Read again under the write lock: another process may have migrated meanwhile.
        for step in MIGRATIONS[_user_version(conn):]:
            for statement in step:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE``: take the write lock up front, where the busy timeout applies.

    A deferred transaction that reads first and then writes can fail with SQLITE_BUSY at once,
    without waiting, when another process wrote in between.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        raise
    conn.execute("COMMIT")


def _read_entry(conn: sqlite3.Connection, key: str) -> CachedAnswer | None:
    row = conn.execute(
        "SELECT text, prompt_tokens, completion_tokens, created_at FROM answers WHERE key = ?",
        (key,),
    ).fetchone()
    if row is None:
        return None
    return CachedAnswer(text=row[0], prompt_tokens=row[1], completion_tokens=row[2],
                        created_at=row[3])


def _evict_least_recently_used(conn: sqlite3.Connection, max_bytes: int) -> None:
    total = int(conn.execute("SELECT bytes FROM totals").fetchone()[0])
    if total <= max_bytes:
        return
    to_free = total - int(max_bytes * _EVICT_TO_FRACTION)
    victims: list[tuple[int]] = []
    cursor = conn.execute("SELECT rowid, size FROM answers ORDER BY last_used, rowid")
    try:
        for rowid, size in cursor:
            if to_free <= 0:
                break
            victims.append((rowid,))
            to_free -= size
    finally:
        cursor.close()
    conn.executemany("DELETE FROM answers WHERE rowid = ?", victims)


def _read_totals(conn: sqlite3.Connection) -> tuple[int, int]:
    entries, data_bytes = conn.execute("SELECT entries, bytes FROM totals").fetchone()
    return int(entries), int(data_bytes)


def _delete_all(conn: sqlite3.Connection) -> int:
    with _write_transaction(conn):
        conn.execute("DELETE FROM check_results")
        conn.execute("DELETE FROM run_reports")
        return int(conn.execute("DELETE FROM answers").rowcount)


def _read_results(conn: sqlite3.Connection, keys: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    stale: list[str] = []
    now = time.time()
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for key, value, last_used in conn.execute(
                f"SELECT key, value, last_used FROM check_results WHERE key IN ({marks})", chunk):
            found[key] = value
            if last_used < now - TOUCH_AFTER_S:
                stale.append(key)
    if stale:
        try:
            with _write_transaction(conn):
                conn.executemany("UPDATE check_results SET last_used = ? WHERE key = ?",
                                 [(now, key) for key in stale])
        except sqlite3.OperationalError as err:
            if not _is_busy(err):  # a hit stays a hit when only the LRU time could not be written
                raise
    return found


def _write_results(conn: sqlite3.Connection, items: dict[str, str]) -> None:
    _put_evicting(conn, "check_results", items, MAX_CHECK_RESULTS)


def _write_run_report(conn: sqlite3.Connection, key: str, value: str) -> None:
    _put_evicting(conn, "run_reports", {key: value}, MAX_RUN_REPORTS)


def _put_evicting(conn: sqlite3.Connection, table: str, items: dict[str, str],
                  limit: int) -> None:
    """Store ``items`` in ``table`` (one of ours: key, value, last_used) in one transaction;
    past ``limit`` rows, the least recently used go, down to a fraction of it."""
    now = time.time()
    with _write_transaction(conn):
        conn.executemany(f"INSERT OR REPLACE INTO {table} (key, value, last_used) "
                         "VALUES (?, ?, ?)", [(k, v, now) for k, v in items.items()])
        count = int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        if count > limit:
            conn.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                "ORDER BY last_used, rowid LIMIT ?)",
                (count - int(limit * _EVICT_TO_FRACTION),))


def _compact(conn: sqlite3.Connection) -> None:
    """Shrink the file after ``clear()``; skipped when another process is using it."""
    try:
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.OperationalError as err:
        if not _is_busy(err):
            raise


def _bytes_on_disk(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        try:
            total += Path(f"{path}{suffix}").stat().st_size
        except OSError:
            pass
    return total


def _primary_code(err: sqlite3.Error) -> int | None:
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_damage(err: sqlite3.Error) -> bool:
    return _primary_code(err) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


def _is_busy(err: sqlite3.Error) -> bool:
    return _primary_code(err) in (_SQLITE_BUSY, _SQLITE_LOCKED)


def _describe(err: BaseException) -> str:
    """SQLite and OS messages hold paths and reasons, never secrets."""
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror.lower()}{where}"
    return str(err) or type(err).__name__
