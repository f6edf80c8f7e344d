"""What a review produces: findings anchored to ``path:line``, and their stable fingerprints."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3}
SOURCES = ("model", "builtin")

_SPACE = re.compile(r"\s+")


def normalize_code(text: str) -> str:
    """Code text with white space folded, so re-indenting a line keeps its fingerprint."""
    return _SPACE.sub(" ", text).strip()


# Models name one kind of problem in several ways from one review to the next; the fingerprint
# takes the family, so "correctness" after "bug" is not a new finding (the PR bot would
# resolve the old comment and post the same one again). The finding keeps its own word.
_CATEGORY_FAMILIES = {
    **dict.fromkeys(("bug", "bugs", "correctness", "logic", "logic-error", "logic error",
                     "error", "defect", "runtime-error", "runtime error"), "bug"),
    **dict.fromkeys(("security", "vulnerability", "injection", "secrets", "unsafe"),
                    "security"),
    **dict.fromkeys(("performance", "perf", "efficiency"), "performance"),
    **dict.fromkeys(("style", "readability", "formatting", "naming", "convention"), "style"),
    **dict.fromkeys(("maintainability", "design", "complexity", "refactor"), "maintainability"),
}


def category_family(category: str) -> str:
    """The family a model's category word belongs to (itself when not a known synonym)."""
    word = " ".join(category.strip().lower().split())
    return _CATEGORY_FAMILIES.get(word, word)


def make_fingerprint(path: str, category: str, code: str, source: str) -> str:
    """A stable id for a finding that survives line shifts.

    It hashes the file, the category's family (``category_family``) and the anchored line's
    text, not the line number and not the model's wording: after a push that moves code, or a re-review that words the
    message differently, the same problem keeps the same fingerprint, so the PR bot does not
    post it again. Two findings of one category on one line of code are treated as one
    (``deduplicate`` tells apart the same code on two lines).
    """
    import hashlib  # only when a finding is made: a replayed run's findings have theirs

    material = "\x1f".join([source, path, category_family(category), normalize_code(code)])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Finding:
    """One problem on one line (or range) of the new file, from a check or the model."""
    path: str
    line: int
    end_line: int
    severity: str  # one of SEVERITIES
    category: str
    message: str
    suggestion: str | None = None
    source: str = "model"  # one of SOURCES
    code: str = ""  # text of line ``line`` in the new file, as anchored
    fingerprint: str = ""
    model: str | None = None  # the chain link that answered (model findings); not fingerprinted
    # 0..1 as the model gave it; None when it gave none (built-in checks are certain), which
    # counts as 1.0 for ``min-confidence`` (see ``certainty``).
    confidence: float | None = None

    def with_fingerprint(self) -> Finding:
        if self.fingerprint:
            return self
        return replace(
            self, fingerprint=make_fingerprint(self.path, self.category, self.code, self.source)
        )

    @property
    def certainty(self) -> float:
        """The confidence, with a finding that carries none counted as certain (1.0)."""
        return 1.0 if self.confidence is None else self.confidence

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, 0)

    def sort_key(self) -> tuple[str, int, int, int, str]:
        return (self.path, self.line, self.end_line, -self.rank, self.message)

    def to_json(self) -> dict[str, Any]:
        """The finding as docs/json-output.md spells it."""
        data: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "severity": self.severity,
            "category": self.category,
            "message": self.message,
            "suggestion": self.suggestion,
            "source": self.source,
            "fingerprint": self.with_fingerprint().fingerprint,
            "confidence": self.confidence,
        }
        if self.model is not None:
            data["model"] = self.model
        return data


def at_or_above(findings: list[Finding], threshold: str) -> list[Finding]:
    """Findings whose severity is at or above ``threshold`` (``never`` selects none)."""
    if threshold == "never":
        return []
    floor = SEVERITY_RANK[threshold]
    return [f for f in findings if f.rank >= floor]


# The model's category families that name the problem a built-in check reports. A model
# finding on the same line as a built-in one, in one of these families, is the same problem
# (a leftover ``breakpoint()`` flagged by both): see ``merge_with_builtin``.
_BUILTIN_ALIKE = {
    "debugger": frozenset({"debugger", "debug", "debugging", "breakpoint", "leftover",
                           "leftover-debug", "bug"}),
    "conflict-marker": frozenset({"conflict-marker", "conflict", "merge-conflict",
                                  "merge conflict", "syntax", "syntax-error", "bug"}),
    "secret": frozenset({"secret", "security", "credentials", "credential",
                         "hardcoded-secret", "hardcoded secret"}),
    "syntax-error": frozenset({"syntax", "syntax-error", "syntax error", "bug"}),
}


def merge_with_builtin(findings: list[Finding]) -> list[Finding]:
    """A model finding about the problem a built-in check found on the same line is folded
    into the built-in finding, so the user reads it once.

    The built-in finding is kept: its message (deterministic, never echoing a secret), its
    category and its fingerprint (the check runs on every review, model or not, so the PR
    bot's comment does not flip when the model is down). It takes the more severe of the two
    severities, and the model's suggestion when it has none and both cover the same lines.
    """
    builtin = {(f.path, f.line): i for i, f in enumerate(findings) if f.source == "builtin"}
    if not builtin:
        return findings
    merged = list(findings)
    dropped: set[int] = set()
    for index, finding in enumerate(findings):
        if finding.source == "builtin":
            continue
        at = builtin.get((finding.path, finding.line))
        if at is None:
            continue
        kept = merged[at]
        if category_family(finding.category) not in _BUILTIN_ALIKE.get(kept.category, ()):
            continue
        changes: dict[str, Any] = {}
        if finding.rank > kept.rank:
            changes["severity"] = finding.severity
        if kept.suggestion is None and finding.suggestion is not None \
                and finding.end_line == kept.end_line:
            changes["suggestion"] = finding.suggestion
        if changes:
            merged[at] = replace(kept, **changes)
        dropped.add(index)
    return [f for i, f in enumerate(merged) if i not in dropped]


def deduplicate(findings: list[Finding]) -> list[Finding]:
    """One finding per fingerprint and line (the most severe wins), sorted by file and line;
    a model finding that repeats a built-in one is folded into it (``merge_with_builtin``).

    The same line of code in two places (``data = eval(input())`` in two functions) gives two
    findings with one fingerprint: each keeps its place, and the second and later ones, in
    line order, get a fingerprint of their own (``#2``, ``#3``...), so the PR bot posts both.
    """
    best: dict[tuple[str, int], Finding] = {}
    for finding in merge_with_builtin(findings):
        finding = finding.with_fingerprint()
        at = (finding.fingerprint, finding.line)
        kept = best.get(at)
        if kept is None or finding.rank > kept.rank:
            best[at] = finding
    import hashlib

    seen: dict[str, int] = {}
    unique = []
    for finding in sorted(best.values(), key=Finding.sort_key):
        seen[finding.fingerprint] = occurrence = seen.get(finding.fingerprint, 0) + 1
        if occurrence > 1:
            again = f"{finding.fingerprint}#{occurrence}".encode()
            finding = replace(finding, fingerprint=hashlib.sha256(again).hexdigest()[:16])
        unique.append(finding)
    return unique
