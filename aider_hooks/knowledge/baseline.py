"""``.aider-review/baseline.json``: fingerprints of findings accepted as they are today.

Written only by ``aider-review baseline`` (atomically); a later review does not report a
finding whose fingerprint is in it. A file that is not ours (another tool's baseline) is a
warning in a review and is never overwritten.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from aider_hooks.finding import Finding
from aider_hooks.knowledge import BASELINE_FILE
from aider_hooks.knowledge.files import KnowledgeError, KnowledgeReader, atomic_write, decode_text

TOOL = "aider-review"
VERSION = 1


def read_baseline(reader: KnowledgeReader) -> set[str]:
    """The fingerprints in the baseline (empty when there is none); ``KnowledgeError`` when
    the file is damaged or not an aider-review baseline."""
    data = reader.read(BASELINE_FILE)
    if data is None:
        return set()
    return parse_baseline(decode_text(data, reader.label(BASELINE_FILE)),
                          reader.label(BASELINE_FILE))


def parse_baseline(text: str, where: str) -> set[str]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise KnowledgeError(where, f"not JSON: {err.msg}", err.lineno) from None
    if not isinstance(document, dict) or document.get("tool") != TOOL:
        raise KnowledgeError(where, 'not an aider-review baseline (no "tool": "aider-review")',
                             1)
    if document.get("version") != VERSION:
        raise KnowledgeError(where, f"baseline version {document.get('version')!r} is not "
                                    f"{VERSION}", 1)
    items = document.get("findings")
    if not isinstance(items, list):
        raise KnowledgeError(where, '"findings" is not a list', 1)
    fingerprints: set[str] = set()
    for number, item in enumerate(items, 1):
        fingerprint = item.get("fingerprint") if isinstance(item, dict) else None
        if not isinstance(fingerprint, str) or not fingerprint:
            raise KnowledgeError(where, f'finding {number} has no "fingerprint"', 1)
        fingerprints.add(fingerprint)
    return fingerprints


def write_baseline(root: Path, findings: Iterable[Finding]) -> Path:
    """Replace the baseline with ``findings`` (atomically); refuses to overwrite a file that
    is not an aider-review baseline."""
    path = root / BASELINE_FILE
    if path.exists():
        try:
            parse_baseline(decode_text(path.read_bytes(), BASELINE_FILE), BASELINE_FILE)
        except KnowledgeError as err:
            if "not JSON" in err.problem or "not an aider-review" in err.problem \
                    or "not UTF-8" in err.problem or "binary" in err.problem:
                raise KnowledgeError(BASELINE_FILE, f"{err.problem}; not overwritten: move it "
                                                    "away first", err.line) from None
        except OSError as err:
            raise KnowledgeError(BASELINE_FILE, f"cannot read: {err.strerror}") from None
    unique = {f.with_fingerprint().fingerprint: f for f in findings}
    entries = [{"fingerprint": fp, "path": f.path, "line": f.line, "severity": f.severity,
                "category": f.category, "message": f.message}
               for fp, f in sorted(unique.items(), key=lambda kv: (kv[1].path, kv[1].line, kv[0]))]
    document = {"tool": TOOL, "version": VERSION,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "findings": entries}
    atomic_write(path, (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode())
    return path
