"""Reading the model's answer: take the JSON object out of it and validate docs/answer-formats.md.

Models wrap JSON in prose or ``` fences, misspell severities and put numbers in strings.
What can be understood is kept; an item that cannot be used is skipped on its own (and
counted); only an answer with no usable shape at all raises ``InvalidAnswer``, which earns
the request one repair attempt.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from aider_hooks.errors import InvalidAnswer

# A runaway answer must not flood the report.
MAX_FINDINGS_PER_ANSWER = 50
MAX_MESSAGE_CHARS = 2000
MAX_CATEGORY_CHARS = 40
# Answers are bounded by max_tokens; this bounds the work spent on one that is not.
MAX_JSON_ATTEMPTS = 200

DEFAULT_CATEGORY = "general"
DEFAULT_SEVERITY = "warning"

# Words models use for severity -> ours. Anything else (or nothing) -> "warning": visible in
# the report, but it does not block a commit under the default --fail-on error.
_SEVERITY_WORDS = {
    "error": "error", "errors": "error", "critical": "error", "high": "error",
    "blocker": "error", "fatal": "error", "severe": "error", "major": "error", "bug": "error",
    "warning": "warning", "warn": "warning", "warnings": "warning", "medium": "warning",
    "moderate": "warning",
    "info": "info", "information": "info", "informational": "info", "low": "info",
    "minor": "info", "note": "info", "notice": "info", "hint": "info", "nit": "info",
    "suggestion": "info", "trivial": "info", "style": "info",
}

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_-]*)[ \t]*\r?\n(.*?)```", re.DOTALL)
_NUMERIC = re.compile(r"\s*[Ll]?(?:ine)?\s*(\d{1,9})\s*")


@dataclass(frozen=True)
class RawFinding:
    """One finding as the model wrote it, validated but not yet anchored to a diff line.

    ``path`` is ``""`` and ``line`` is ``None`` when the model left them out; anchoring decides
    whether the finding can still be placed.
    """

    path: str
    line: int | None
    end_line: int | None
    code: str
    severity: str
    category: str
    message: str
    suggestion: str | None
    confidence: float | None = None  # 0..1 as the model gave it; None when it gave none


@dataclass(frozen=True)
class ReviewAnswer:
    """A review answer read: the usable findings, and how many items were not."""
    findings: list[RawFinding]
    skipped: int  # items that could not be used, including those beyond the cap


# ---------------------------------------------------------------------------------------------
# JSON extraction


def extract_json_object(text: str, *, prefer_key: str | None = None) -> dict[str, Any]:
    """The JSON object in ``text``: bare, in a ``` fence, or surrounded by prose.

    Tries the whole text, then fenced blocks, then every ``{`` in turn, returning the first
    balanced top-level object that parses (strings holding braces are handled by the JSON
    decoder itself). With ``prefer_key``, the first object that has that key wins over an
    earlier one that does not (prose such as "use {}" before the real answer).
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidAnswer("the answer is empty; expected a JSON object")
    found = list(_candidate_objects(text))
    if not found:
        raise InvalidAnswer("the answer holds no JSON object")
    if prefer_key is not None:
        for obj in found:
            if prefer_key in obj:
                return obj
    return found[0]


def _candidate_objects(text: str) -> list[dict[str, Any]]:
    whole = _parse_object(text.strip())
    if whole is not None:
        return [whole]
    found: list[dict[str, Any]] = []
    for match in _FENCE.finditer(text):
        obj = _parse_object(match.group(2).strip())
        if obj is not None:
            found.append(obj)
    return found + _scan_objects(text)


def _parse_object(text: str) -> dict[str, Any] | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _scan_objects(text: str) -> list[dict[str, Any]]:
    """Top-level objects found by decoding from each ``{`` that is not inside an earlier one."""
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    start = text.find("{")
    attempts = 0
    while start != -1 and attempts < MAX_JSON_ATTEMPTS:
        attempts += 1
        try:
            value, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        start = text.find("{", end)
    return found


# ---------------------------------------------------------------------------------------------
# Validation


def parse_review_answer(text: str) -> list[RawFinding]:
    """The usable findings of a review/fix answer (docs/answer-formats.md); raises ``InvalidAnswer``."""
    return read_review_answer(text).findings


def read_review_answer(text: str) -> ReviewAnswer:
    """Like ``parse_review_answer``, also counting the items that had to be skipped.

    Raises ``InvalidAnswer`` when there is no JSON object, when it has no ``findings`` list,
    or when the list has items and not one of them is usable (that is a wrong shape, worth a
    repair request, not an empty review).
    """
    data = extract_json_object(text, prefer_key="findings")
    items = data.get("findings")
    if items is None:
        raise InvalidAnswer('the JSON object has no "findings" key')
    if isinstance(items, dict):  # a single finding instead of a list of one
        items = [items]
    if not isinstance(items, list):
        raise InvalidAnswer(f'"findings" must be a list, not {type(items).__name__}')
    findings: list[RawFinding] = []
    skipped = 0
    for item in items:
        finding = _read_finding(item)
        if finding is None or len(findings) >= MAX_FINDINGS_PER_ANSWER:
            skipped += 1
        else:
            findings.append(finding)
    if items and not findings:
        raise InvalidAnswer(
            'no item of "findings" is an object with a non-empty "message" and a "line" or "code"'
        )
    return ReviewAnswer(findings, skipped)


def _read_finding(item: object) -> RawFinding | None:
    if not isinstance(item, dict):
        return None
    message = _text(item.get("message"))
    if message is None or not message.strip():
        return None
    line = _line_number(item.get("line"))
    code = _code(item.get("code"))
    if line is None and not code.strip():
        return None  # nothing to anchor on
    end_line = _line_number(item.get("end_line"))
    suggestion = _suggestion(item.get("suggestion"))
    if end_line is None or line is None:
        end_line = line
    elif end_line < line:
        # A reversed span: the suggestion's extent is unknown, so applying it could eat or
        # duplicate lines. Keep the finding on its first line, without the suggestion.
        end_line, suggestion = line, None
    return RawFinding(
        path=(_text(item.get("path")) or "").strip(),
        line=line,
        end_line=end_line,
        code=code,
        severity=normalize_severity(item.get("severity")),
        category=_category(item.get("category")),
        message=_cap(message.strip(), MAX_MESSAGE_CHARS),
        suggestion=suggestion,
        confidence=read_confidence(item.get("confidence")),
    )


def read_confidence(value: object) -> float | None:
    """A confidence in 0..1 from a number, a numeric string, or a percentage (``"85%"``, 85);
    None when there is none or it cannot be read (docs/answer-formats.md)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().rstrip("%").strip()
        try:
            number = float(text)
        except ValueError:
            return None
        if value.strip().endswith("%"):
            number /= 100
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    if number > 1:
        number = number / 100 if number <= 100 else 1.0  # "85" means 85 %
    return round(number, 3)


def normalize_severity(value: object) -> str:
    """``error`` | ``warning`` | ``info`` from what the model wrote; unknown -> ``warning``."""
    if not isinstance(value, str):
        return DEFAULT_SEVERITY
    return _SEVERITY_WORDS.get(value.strip().lower(), DEFAULT_SEVERITY)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _line_number(value: object) -> int | None:
    """A positive line number from an int, an integral float or a numeric string ("42", "L42")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and (match := _NUMERIC.fullmatch(value)):
        number = int(match.group(1))
    else:
        return None
    return number if number >= 1 else None


def _code(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, str) for part in value):
        return "\n".join(value)
    return ""


def _suggestion(value: object) -> str | None:
    if isinstance(value, list) and value and all(isinstance(part, str) for part in value):
        value = "\n".join(value)  # some models send a list of lines
    if not isinstance(value, str) or not value.strip():
        return None
    fenced = _FENCE.fullmatch(value.strip())
    if fenced:  # "```python\n...\n```": keep what is inside
        value = fenced.group(2)
    return value.rstrip("\r\n")


def _category(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        return DEFAULT_CATEGORY
    return _cap(" ".join(value.split()).lower(), MAX_CATEGORY_CHARS)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
