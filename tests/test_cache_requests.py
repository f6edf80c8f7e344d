"""The review requests kept in the response cache for fine-tuning (schema version 2)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from aider_hooks.finding import Finding
from aider_hooks.model.cache import MIGRATIONS, CachedAnswer, ResponseCache

MESSAGES = [{"role": "system", "content": "rules"}, {"role": "user", "content": "diff"}]
BUG = Finding("a.py", 3, 3, "error", "bug", "boom", code="x = 1", confidence=0.8)


def test_a_kept_request_is_found_by_its_findings_fingerprint(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite3") as cache:
        cache.put("k1", CachedAnswer("answer", 1, 2, 3.0))
        cache.keep_request("k1", "review", MESSAGES, [BUG])
        cache.keep_request("missing", "review", MESSAGES, [BUG])  # no answer: nothing kept
        found = cache.reviewed_requests([BUG.with_fingerprint().fingerprint, "other"])
        assert len(found) == 1
        kept = found[0]
        assert kept.key == "k1" and kept.messages == MESSAGES and kept.answer == "answer"
        assert kept.findings[0][1]["code"] == "x = 1" and kept.findings[0][1]["confidence"] == 0.8
        assert cache.stats()["data_bytes"] > len("k1answer") + 64  # the messages count too
        cache.clear()
        assert cache.reviewed_requests([BUG.with_fingerprint().fingerprint]) == []


def test_a_version_1_cache_is_migrated_and_keeps_its_answers(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("INSERT INTO answers VALUES ('k', 10, 0, 0, 1, 1, 'old answer')")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with ResponseCache(path) as cache:
        assert cache.get("k") == CachedAnswer("old answer", 1, 1, 0.0)
        cache.keep_request("k", "review", MESSAGES, [BUG])
        assert cache.reviewed_requests([BUG.with_fingerprint().fingerprint])
