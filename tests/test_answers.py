"""Reading the model's answer: the JSON object out of prose and fences, validated leniently."""
from __future__ import annotations

import json
import time

import pytest

from aider_hooks.tasks.answers import (
    MAX_FINDINGS_PER_ANSWER,
    MAX_MESSAGE_CHARS,
    RawFinding,
    extract_json_object,
    parse_review_answer,
    read_review_answer,
)
from aider_hooks.errors import InvalidAnswer

FINDING = {"path": "src/app.py", "line": 42, "end_line": 43, "code": "    total = price * qty",
           "severity": "error", "category": "bug",
           "message": "qty can be None here; this raises TypeError.",
           "suggestion": "    total = price * (qty or 0)"}
ANSWER = json.dumps({"findings": [FINDING]})


def test_bare_answer_is_read_as_designed() -> None:
    assert parse_review_answer(ANSWER) == [
        RawFinding(path="src/app.py", line=42, end_line=43, code="    total = price * qty",
                   severity="error", category="bug",
                   message="qty can be None here; this raises TypeError.",
                   suggestion="    total = price * (qty or 0)")
    ]


@pytest.mark.parametrize("wrapped", [
    f"```json\n{ANSWER}\n```",
    f"```\n{ANSWER}\n```\n",
    f"Here is my review:\n\n```json\n{ANSWER}\n```\nLet me know if you need more.",
    f"Sure! {ANSWER} Hope this helps.",
    f"I looked at {{the diff}} and found: {ANSWER}",
])
def test_answer_wrapped_in_fences_or_prose(wrapped: str) -> None:
    assert [f.line for f in parse_review_answer(wrapped)] == [42]


def test_braces_inside_strings_do_not_confuse_extraction() -> None:
    tricky = dict(FINDING, message='use f"{name}" not "{" + name + "}"', code='x = "}{"')
    text = 'Note: the style guide says {braces}.\n' + json.dumps({"findings": [tricky]}) + "\n}"
    [finding] = parse_review_answer(text)
    assert finding.message == 'use f"{name}" not "{" + name + "}"'
    assert finding.code == 'x = "}{"'


def test_object_with_findings_wins_over_an_earlier_stray_object() -> None:
    text = 'Config used: {"strict": true}. Result: ' + ANSWER
    assert extract_json_object(text, prefer_key="findings") == json.loads(ANSWER)
    assert extract_json_object(text) == {"strict": True}


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    ("   \n", "empty"),
    ("I found no problems.", "no JSON object"),
    ("[1, 2, 3]", "no JSON object"),
    ('{"findings": [', "no JSON object"),
    ('{"result": "ok"}', 'no "findings"'),
    ('{"findings": "none"}', "must be a list"),
    ('{"findings": [1, "two", null]}', "no item"),
])
def test_unusable_answers_raise_invalid_answer(text: str, reason: str) -> None:
    with pytest.raises(InvalidAnswer, match=reason):
        parse_review_answer(text)


def test_empty_findings_list_is_a_clean_review() -> None:
    assert parse_review_answer('{"findings": []}') == []


@pytest.mark.parametrize("given, expected", [
    ("error", "error"), ("ERROR", "error"), ("Critical", "error"), ("high", "error"),
    ("warning", "warning"), ("Medium", "warning"), (" warn ", "warning"),
    ("info", "info"), ("low", "info"), ("note", "info"),
    ("catastrophic", "warning"), (None, "warning"), (3, "warning"),
])
def test_severity_is_normalised(given: object, expected: str) -> None:
    item = dict(FINDING, severity=given)
    [finding] = parse_review_answer(json.dumps({"findings": [item]}))
    assert finding.severity == expected


def test_each_unusable_item_is_skipped_alone_and_counted() -> None:
    items = [
        FINDING,
        "a string, not an object",
        dict(FINDING, message=""),  # no message
        dict(FINDING, message=None),
        dict(FINDING, line=None, code=""),  # nothing to anchor on
        dict(FINDING, line="57", end_line="L58"),  # numbers in strings are fine
        dict(FINDING, line=7.0, end_line=None),  # end_line defaults to line
        dict(FINDING, line=True),  # a bool is not a line number; the code still anchors
    ]
    answer = read_review_answer(json.dumps({"findings": items}))

    assert answer.skipped == 4
    assert [(f.line, f.end_line) for f in answer.findings] == [(42, 43), (57, 58), (7, 7),
                                                               (None, None)]


def test_reversed_span_keeps_the_finding_without_its_suggestion() -> None:
    item = dict(FINDING, line=50, end_line=45)
    [finding] = parse_review_answer(json.dumps({"findings": [item]}))
    assert (finding.line, finding.end_line, finding.suggestion) == (50, 50, None)


def test_missing_optional_fields_get_defaults() -> None:
    [finding] = parse_review_answer('{"findings": [{"line": 3, "message": "Off by one."}]}')
    assert finding == RawFinding(path="", line=3, end_line=3, code="", severity="warning",
                                 category="general", message="Off by one.", suggestion=None)


def test_suggestion_shapes_are_normalised() -> None:
    items = [
        dict(FINDING, suggestion=["    a = 1", "    b = 2"]),
        dict(FINDING, suggestion="```python\n    a = 1\n```"),
        dict(FINDING, suggestion="   "),
        dict(FINDING, suggestion=42),
    ]
    found = parse_review_answer(json.dumps({"findings": items}))
    assert [f.suggestion for f in found] == ["    a = 1\n    b = 2", "    a = 1", None, None]


def test_a_single_finding_object_instead_of_a_list_is_accepted() -> None:
    [finding] = parse_review_answer(json.dumps({"findings": FINDING}))
    assert finding.line == 42


def test_huge_answers_are_capped() -> None:
    items = [dict(FINDING, line=i + 1, message="m" * 50_000) for i in range(500)]
    answer = read_review_answer(json.dumps({"findings": items}))

    assert len(answer.findings) == MAX_FINDINGS_PER_ANSWER
    assert answer.skipped == 500 - MAX_FINDINGS_PER_ANSWER
    assert all(len(f.message) <= MAX_MESSAGE_CHARS for f in answer.findings)


def test_pathological_prose_is_rejected_quickly() -> None:
    start = time.perf_counter()
    for text in ("{" * 200_000, '{"a": ' * 50_000, "{ not json } " * 50_000):
        with pytest.raises(InvalidAnswer):
            parse_review_answer(text)
    assert time.perf_counter() - start < 5.0
