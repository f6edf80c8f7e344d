"""The SQLite response cache, on real files, with real concurrent processes."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aider_hooks.model.cache import (
    SCHEMA_VERSION,
    CachedAnswer,
    ResponseCache,
    cache_key,
    default_cache_path,
)

MESSAGES = [{"role": "system", "content": "You review code."},
            {"role": "user", "content": "### File: app.py\n    42 + total = price * qty"}]


def answer(text: str = '{"findings": []}') -> CachedAnswer:
    return CachedAnswer(text=text, prompt_tokens=120, completion_tokens=30,
                        created_at=1_700_000_000.0)


def key(n: int) -> str:
    return cache_key("gpt-4o-mini", "review", 1, [{"role": "user", "content": f"hunk {n}"}])


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache" / "responses.sqlite3"


def test_a_stored_answer_comes_back_and_survives_reopening(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        assert cache.get(key(1)) is None
        cache.put(key(1), answer("the answer"))
        assert cache.get(key(1)) == answer("the answer")
        assert cache.get(key(2)) is None
        stats = cache.stats()
        assert (stats["hits"], stats["misses"], stats["entries"]) == (1, 2, 1)
        assert stats["path"] == str(cache_path) and stats["bytes"] > 0
    with ResponseCache(cache_path) as reopened:
        assert reopened.get(key(1)) == answer("the answer")
        assert reopened.warnings == []


def test_putting_the_same_key_again_replaces_the_answer(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        cache.put(key(1), answer("old"))
        cache.put(key(1), answer("new"))
        assert cache.get(key(1)) == answer("new")
        assert cache.stats()["entries"] == 1


def test_files_are_private_and_the_directory_we_create_is_0700(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        cache.put(key(1), answer())
        for suffix in ("", "-wal", "-shm"):
            mode = stat.S_IMODE(Path(f"{cache_path}{suffix}").stat().st_mode)
            assert mode == 0o600, (suffix, oct(mode))
    assert stat.S_IMODE(cache_path.parent.stat().st_mode) == 0o700
    assert [p.name for p in cache_path.parent.iterdir()] == [cache_path.name]  # no temp files left


def test_a_cache_restored_with_loose_permissions_is_made_private_again(cache_path: Path) -> None:
    ResponseCache(cache_path).close()
    cache_path.chmod(0o644)
    with ResponseCache(cache_path) as cache:
        assert cache.warnings == []
    assert stat.S_IMODE(cache_path.stat().st_mode) == 0o600


def test_the_file_holds_answers_but_never_the_request_or_its_secrets(cache_path: Path) -> None:
    messages = [{"role": "user", "content": "api_key = 'sk-live-abcdefghijklmnopqrstuvwx'"}]
    with ResponseCache(cache_path) as cache:
        cache.put(cache_key("m", "review", 1, messages, base_url="https://u:pw-123@h/v1"),
                  answer("ANSWER-TEXT"))
        stored = b"".join(Path(f"{cache_path}{s}").read_bytes() for s in ("", "-wal"))
    assert b"ANSWER-TEXT" in stored
    assert b"sk-live" not in stored and b"pw-123" not in stored and b"api_key" not in stored


_WORKER = textwrap.dedent("""
    import json, sys, time
    from aider_hooks.model.cache import CachedAnswer, ResponseCache
    path, worker, start_at = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    time.sleep(max(0.0, start_at - time.time()))
    problems = []
    cache = ResponseCache(path, on_warning=problems.append)
    for n in range(40):
        cache.put(f"{worker}-{n}", CachedAnswer("x" * 2000 + str(n), 1, 2, time.time()))
        for other in range(6):
            cache.get(f"{other}-{n}")
        if cache.get(f"{worker}-{n}") is None:
            problems.append(f"lost my own entry {worker}-{n}")
    print(json.dumps({"problems": problems, "hits": cache.hits}))
    cache.close()
""")


def test_several_processes_share_one_file_without_locking_errors(cache_path: Path,
                                                                 tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    start_at = str(time.time() + 1.0)  # every worker starts at once, on a file nobody made yet
    workers = [subprocess.Popen([sys.executable, str(script), str(cache_path), str(n), start_at],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for n in range(6)]
    results = [worker.communicate(timeout=60) for worker in workers]
    for worker, (out, err) in zip(workers, results):
        assert worker.returncode == 0, err.decode()
        assert b"locked" not in err
        report = json.loads(out)
        assert report["problems"] == []
        assert report["hits"] >= 40
    with ResponseCache(cache_path) as cache:
        assert cache.stats()["entries"] == 6 * 40


def test_threads_can_share_one_cache(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        def work(n: int) -> bool:
            cache.put(key(n), answer(f"answer {n}"))
            return cache.get(key(n)) == answer(f"answer {n}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(work, range(64)))
        assert cache.warnings == []


def test_answers_written_behind_are_seen_at_once_and_all_on_disk_after_close(
        cache_path: Path) -> None:
    """The engine's pool hands its answers to one writer thread: a get() sees an answer
    before it is written, and close() writes every one, kept requests included."""
    from aider_hooks.finding import Finding

    bug = Finding("a.py", 3, 3, "error", "bug", "boom", code="x = 1")
    with ResponseCache(cache_path) as cache:
        cache.write_behind()

        def work(n: int) -> bool:
            cache.put(key(n), answer(f"answer {n}"))
            cache.keep_request(key(n), "review", MESSAGES, [bug] if n == 7 else [])
            return cache.get(key(n)) == answer(f"answer {n}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(work, range(200)))
    with ResponseCache(cache_path) as reopened:
        assert all(reopened.get(key(n)) == answer(f"answer {n}") for n in range(200))
        kept = reopened.reviewed_requests([bug.with_fingerprint().fingerprint])
        assert [r.key for r in kept] == [key(7)] and kept[0].messages == MESSAGES
        assert reopened.stats()["entries"] == 200 and reopened.warnings == []


def test_an_answer_waiting_to_be_written_does_not_wait_and_is_already_a_hit(
        cache_path: Path) -> None:
    """While another process holds the write lock, a written-behind put returns at once and
    its answer is a hit; it reaches the file when the lock is free."""
    with ResponseCache(cache_path) as cache:
        cache.write_behind()
        other = sqlite3.connect(cache_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another hook's write in progress
        started = time.monotonic()
        cache.put(key(1), answer("early"))
        assert cache.get(key(1)) == answer("early")
        assert time.monotonic() - started < 5  # not the 30 s busy timeout of a direct write
        other.execute("COMMIT")
        other.close()
    with ResponseCache(cache_path) as reopened:
        assert reopened.get(key(1)) == answer("early") and reopened.warnings == []


def test_a_garbage_file_is_replaced_with_one_warning(cache_path: Path) -> None:
    cache_path.parent.mkdir()
    cache_path.write_bytes(b"this is not a database\n" * 100)
    warnings: list[str] = []
    with ResponseCache(cache_path, on_warning=warnings.append) as cache:
        assert cache.enabled
        cache.put(key(1), answer())
        assert cache.get(key(1)) == answer()
    assert len(warnings) == 1
    assert "damaged" in warnings[0] and str(cache_path) in warnings[0]
    with ResponseCache(cache_path) as reopened:
        assert reopened.get(key(1)) == answer() and reopened.warnings == []


def test_a_truncated_file_is_replaced_with_one_warning(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        for n in range(100):
            cache.put(key(n), answer("y" * 3000))
    data = cache_path.read_bytes()
    cache_path.write_bytes(data[: len(data) // 2])
    warnings: list[str] = []
    with ResponseCache(cache_path, on_warning=warnings.append) as cache:
        assert cache.get(key(99)) is None
        cache.put(key(1), answer("fresh"))
        assert cache.get(key(1)) == answer("fresh")
    assert len(warnings) == 1 and "damaged" in warnings[0]


def test_damage_found_while_running_is_replaced_with_one_warning(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        for n in range(100):
            cache.put(key(n), answer("z" * 3000))
    warnings: list[str] = []
    with ResponseCache(cache_path, on_warning=warnings.append) as cache:
        assert warnings == []
        with open(cache_path, "r+b") as file:  # scribble over everything but the first page
            file.seek(4096)
            file.write(b"\xff" * (cache_path.stat().st_size - 4096))
        assert cache.get(key(50)) is None
        assert cache.get(key(51)) is None
        cache.put(key(1), answer("fresh"))
        assert cache.get(key(1)) == answer("fresh")
    assert len(warnings) == 1 and "damaged" in warnings[0]


def test_least_recently_used_entries_go_when_over_the_cap(cache_path: Path) -> None:
    with ResponseCache(cache_path, max_bytes=10_000) as cache:
        for n in range(5):
            cache.put(key(n), answer("a" * 1000))
            time.sleep(0.002)
        assert cache.get(key(0)) is not None  # used recently: it must outlive 1..4
        for n in range(5, 12):
            time.sleep(0.002)
            cache.put(key(n), answer("a" * 1000))
        stats = cache.stats()
        assert stats["data_bytes"] <= 10_000
        assert cache.get(key(0)) is not None
        assert cache.get(key(1)) is None
        assert cache.get(key(11)) is not None
        assert cache.warnings == []


def test_clear_removes_everything_and_reports_how_many(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        for n in range(30):
            cache.put(key(n), answer("b" * 5000))
        full = cache.stats()["bytes"]
        assert cache.clear() == 30
        stats = cache.stats()
        assert (stats["entries"], stats["data_bytes"]) == (0, 0)
        assert stats["bytes"] < full
        assert cache.get(key(3)) is None
        assert cache.clear() == 0


def test_a_cache_that_cannot_be_opened_warns_once_and_does_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    warnings: list[str] = []
    cache = ResponseCache(blocker / "responses.sqlite3", on_warning=warnings.append)
    assert not cache.enabled
    cache.put(key(1), answer())
    assert cache.get(key(1)) is None
    assert cache.stats()["entries"] == 0 and cache.clear() == 0
    cache.close()
    assert len(warnings) == 1 and "caching is off" in warnings[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to a read-only directory")
def test_a_read_only_directory_turns_the_cache_off(tmp_path: Path) -> None:
    directory = tmp_path / "ro"
    directory.mkdir(mode=0o500)
    cache = ResponseCache(directory / "responses.sqlite3")
    assert not cache.enabled and len(cache.warnings) == 1
    assert cache.get(key(1)) is None


def test_a_file_from_a_newer_version_is_left_alone(cache_path: Path) -> None:
    ResponseCache(cache_path).close()
    with sqlite3.connect(cache_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    cache = ResponseCache(cache_path)
    assert not cache.enabled and "newer aider-review" in cache.warnings[0]
    cache.close()
    with sqlite3.connect(cache_path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()


def test_an_empty_file_becomes_a_cache(cache_path: Path) -> None:
    cache_path.parent.mkdir()
    cache_path.touch()
    with ResponseCache(cache_path) as cache:
        cache.put(key(1), answer())
        assert cache.get(key(1)) == answer() and cache.warnings == []


def test_the_key_changes_with_everything_that_shapes_the_answer() -> None:
    base = cache_key("gpt-4o-mini", "review", 1, MESSAGES)
    reordered = [dict(reversed(m.items())) for m in MESSAGES]
    assert base == cache_key("gpt-4o-mini", "review", 1, reordered)
    changed_content = [MESSAGES[0], {"role": "user", "content": MESSAGES[1]["content"] + " "}]
    variants = [
        cache_key("gpt-4o", "review", 1, MESSAGES),
        cache_key("gpt-4o-mini", "explain", 1, MESSAGES),
        cache_key("gpt-4o-mini", "review", 2, MESSAGES),
        cache_key("gpt-4o-mini", "review", 1, changed_content),
        cache_key("gpt-4o-mini", "review", 1, MESSAGES[1:]),
        cache_key("gpt-4o-mini", "review", 1, MESSAGES, base_url="http://127.0.0.1:11434/v1"),
    ]
    assert len({base, *variants}) == len(variants) + 1
    assert all(len(k) == 64 for k in variants)


def test_the_key_ignores_credentials_and_spelling_of_the_endpoint() -> None:
    local = cache_key("m", "review", 1, MESSAGES, base_url="http://localhost:8080/v1")
    for spelling in ("HTTP://user:secret@LOCALHOST:8080/v1/", "http://localhost:8080/v1?token=x"):
        assert local == cache_key("m", "review", 1, MESSAGES, base_url=spelling)
    assert cache_key("m", "review", 1, MESSAGES) == cache_key(
        "m", "review", 1, MESSAGES, base_url="https://api.openai.com/v1/")


def test_the_key_accepts_text_that_is_not_valid_unicode() -> None:
    messages = [{"role": "user", "content": "caf\udce9"}]  # surrogateescape-decoded bytes
    assert len(cache_key("m", "review", 1, messages)) == 64


def test_the_default_file_is_under_the_user_cache_directory(isolated_environment: Path) -> None:
    path = default_cache_path()
    assert path.name == "responses.sqlite3" and path.parent.name == "aider-review"
    if sys.platform.startswith("linux"):
        assert path == isolated_environment / ".cache" / "aider-review" / "responses.sqlite3"


def test_a_hit_is_written_as_used_when_the_cache_closes(cache_path: Path) -> None:
    with ResponseCache(cache_path) as cache:
        cache.put(key(1), answer("kept"))
    with sqlite3.connect(cache_path) as conn:
        (stored,) = conn.execute("SELECT last_used FROM answers").fetchone()
    time.sleep(0.01)
    with ResponseCache(cache_path) as cache:
        assert cache.get(key(1)) == answer("kept")
    with sqlite3.connect(cache_path) as conn:
        (used,) = conn.execute("SELECT last_used FROM answers").fetchone()
    assert used > stored
