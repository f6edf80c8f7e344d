"""``.aider-review/feedback.jsonl``: one JSON line per verdict on a finding, appended by
``aider-review feedback``; and the last run's findings it looks fingerprints up in.

A line: ``fingerprint``, ``verdict`` (``useful`` or ``wrong``), ``note`` (redacted, may be
empty), ``path``, ``category``, ``code``, ``message``, ``at`` (UTC, ISO 8601). For each
fingerprint the newest line decides: a finding marked ``wrong`` is not reported again. Notes
become bounded "learnings" in the system message of later reviews, newest first.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aider_hooks.finding import Finding
from aider_hooks.knowledge import FEEDBACK_FILE
from aider_hooks.knowledge.files import (
    KnowledgeError,
    KnowledgeReader,
    append_line,
    decode_text,
)
# Re-exported: they lived here first (the engine imports them from here).
from aider_hooks.knowledge.last_findings import last_findings_path as last_findings_path
from aider_hooks.knowledge.last_findings import record_last_findings as record_last_findings

VERDICTS = ("useful", "wrong")
MAX_NOTE_CHARS = 500
MAX_LEARNINGS = 20
MAX_LEARNING_CHARS = 300
MAX_LEARNINGS_TOKENS = 1000
LEARNINGS_INTRO = (
    "Learnings from the maintainers' feedback on earlier reviews of this repository (newest "
    "first; trusted). Apply them: do not report again what they marked wrong."
)
_FIELDS = ("fingerprint", "verdict", "note", "path", "category", "code", "message", "at")


@dataclass(frozen=True)
class Feedback:
    """A reviewer's verdict on a finding (useful or wrong), by its fingerprint."""
    fingerprint: str
    verdict: str
    note: str
    path: str
    category: str
    code: str
    message: str
    at: str
    line: int = 0  # where in the file, for messages

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in _FIELDS}


def read_feedback(reader: KnowledgeReader) -> tuple[list[Feedback], list[KnowledgeError]]:
    """The usable lines of the feedback log, and one error per unusable line."""
    data = reader.read(FEEDBACK_FILE)
    if data is None:
        return [], []
    return parse_feedback(decode_text(data, reader.label(FEEDBACK_FILE)),
                          reader.label(FEEDBACK_FILE))


def parse_feedback(text: str, where: str) -> tuple[list[Feedback], list[KnowledgeError]]:
    entries: list[Feedback] = []
    problems: list[KnowledgeError] = []
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as err:
            problems.append(KnowledgeError(where, f"not a JSON line: {err.msg}", number))
            continue
        if not isinstance(item, dict):
            problems.append(KnowledgeError(where, "not a JSON object", number))
            continue
        fingerprint, verdict = item.get("fingerprint"), item.get("verdict")
        if not isinstance(fingerprint, str) or not fingerprint:
            problems.append(KnowledgeError(where, 'no "fingerprint"', number))
            continue
        if verdict not in VERDICTS:
            problems.append(KnowledgeError(where, f'"verdict" must be useful or wrong, not '
                                                  f"{verdict!r}", number))
            continue
        values = {name: item.get(name) for name in _FIELDS}
        if any(v is not None and not isinstance(v, str) for v in values.values()):
            problems.append(KnowledgeError(where, "every field must be a string", number))
            continue
        entries.append(Feedback(**{k: v or "" for k, v in values.items()}, line=number))
    return entries, problems


def wrong_fingerprints(entries: Sequence[Feedback]) -> set[str]:
    """Fingerprints whose newest verdict is ``wrong``."""
    latest: dict[str, str] = {}
    for entry in entries:  # in file order: the later line wins
        latest[entry.fingerprint] = entry.verdict
    return {fp for fp, verdict in latest.items() if verdict == "wrong"}


def learnings(entries: Sequence[Feedback]) -> list[str]:
    """One line per note, newest first, redacted, bounded in count, length and tokens."""
    from aider_hooks.redact import redact_text
    from aider_hooks.tasks.prompts import estimate_tokens, visible_text

    lines: list[str] = []
    seen: set[str] = set()
    used = 0
    ordered = sorted(enumerate(entries), key=lambda pair: (pair[1].at, pair[0]), reverse=True)
    for _, entry in ordered:
        note = " ".join(entry.note.split())
        if not note or note in seen:
            continue
        seen.add(note)
        what = "marked wrong" if entry.verdict == "wrong" else "marked useful"
        about = f"a {entry.category or 'finding'} finding in {entry.path or 'the code'}"
        text, _ = redact_text(f"- {about} was {what}: {note}", path="feedback.jsonl")
        text = visible_text(text)
        if len(text) > MAX_LEARNING_CHARS:
            text = text[:MAX_LEARNING_CHARS - 1].rstrip() + "…"
        cost = estimate_tokens(text)
        if used + cost > MAX_LEARNINGS_TOKENS:
            break
        lines.append(text)
        used += cost
        if len(lines) >= MAX_LEARNINGS:
            break
    return lines


def learnings_block(lines: Sequence[str]) -> str:
    return "\n".join([LEARNINGS_INTRO, "<<<LEARNINGS>>>", *lines, "<<<END-LEARNINGS>>>"])


def new_entry(finding: dict[str, Any], verdict: str, note: str) -> Feedback:
    """The line ``aider-review feedback`` appends for a finding of the last run."""
    from aider_hooks.redact import redact_text

    clean, _ = redact_text(" ".join(note.split())[:MAX_NOTE_CHARS], path="feedback.jsonl")
    return Feedback(
        fingerprint=str(finding.get("fingerprint", "")), verdict=verdict, note=clean,
        path=str(finding.get("path", "")), category=str(finding.get("category", "")),
        code=str(finding.get("code", "")), message=str(finding.get("message", "")),
        at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def append_feedback(root: Path, entry: Feedback) -> Path:
    path = root / FEEDBACK_FILE
    append_line(path, json.dumps(entry.to_json(), ensure_ascii=False, sort_keys=False))
    return path


# The last run's findings ---------------------------------------------------------------------


def find_last_finding(root: Path, fingerprint: str) -> dict[str, Any]:
    """The finding of the last review with this fingerprint; ``KnowledgeError`` otherwise."""
    path = last_findings_path(root)
    where = str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KnowledgeError(where, f"unknown fingerprint {fingerprint}: no review has run "
                                    "here yet (run `aider-review` first)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise KnowledgeError(where, f"cannot read the last review's findings: {err}") from None
    items = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(items, list):
        raise KnowledgeError(where, "not a record of findings")
    for item in items:
        if isinstance(item, dict) and item.get("fingerprint") == fingerprint:
            return item
    raise KnowledgeError(where, f"unknown fingerprint {fingerprint}: not among the "
                                f"{len(items)} finding(s) of the last review")
