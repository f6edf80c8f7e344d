"""Every output format, on one report with each kind of finding, a suggestion and a failure."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from aider_hooks.errors import UsageError
from aider_hooks.finding import Finding
from aider_hooks.report import FailedHunk, Report, Stats
from aider_hooks.reporters import FORMATS, render

SARIF_SCHEMA = Path(__file__).parent / "data" / "sarif-schema-2.1.0.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DESIGN_STATS_KEYS = ["files", "hunks", "reviewed", "cached", "failed", "skipped", "requests",
                     "prompt_tokens", "completion_tokens", "dropped_unanchored", "redacted",
                     "elapsed_s"]
# Added since (docs/json-output.md: additive, version stays 1).
ADDED_STATS_KEYS = ["suppressed", "rejected_by_verify", "below_threshold"]

QTY_BUG = Finding("src/app.py", 42, 42, "error", "bug",
                  "qty can be None here; this raises TypeError.",
                  suggestion="    total = price * (qty or 0)", code="    total = price * qty")
CLEVER = Finding("src/app.py", 50, 52, "warning", "style",
                 "Too clever | by half\nA second line with <script>alert(1)</script>",
                 suggestion="x = 1\ny = 2", code="x, y = 1, 2")
TYPO = Finding("docs/guide, part 1:intro.md", 3, 3, "info", "docs", "Typo: 100% sure",
               source="builtin", code="teh end")
FAILED = FailedHunk("src/big.py", 10, 80, "the answer was not valid JSON after one repair")


def make_report(*findings: Finding, failed: tuple[FailedHunk, ...] = (FAILED,)) -> Report:
    return Report(
        findings=list(findings or (CLEVER, TYPO, QTY_BUG)),  # deliberately out of order
        failed=list(failed),
        stats=Stats(files=3, hunks=12, reviewed=11, cached=4, failed=len(failed), requests=5,
                    prompt_tokens=1234, completion_tokens=345, elapsed_s=2.3456),
        model="gpt-4o-mini",
    )


def test_an_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="text, json, sarif, github, markdown"):
        render(make_report(), "xml")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_ends_with_a_newline_and_has_no_colour(fmt: str) -> None:
    output = render(make_report(), fmt)
    assert output.endswith("\n")
    assert "\x1b" not in output


# -- text -----------------------------------------------------------------------------------

def test_text_lists_findings_by_file_with_suggestions_failures_and_a_summary() -> None:
    assert render(make_report(), "text") == (
        "docs/guide, part 1:intro.md:3: info: Typo: 100% sure [docs]\n"
        "\n"
        "src/app.py:42: error: qty can be None here; this raises TypeError. [bug]\n"
        "    -     total = price * qty\n"
        "    +     total = price * (qty or 0)\n"
        "src/app.py:50-52: warning: Too clever | by half [style]\n"
        "    A second line with <script>alert(1)</script>\n"
        "    suggestion: replace lines 50-52 with:\n"
        "    + x = 1\n"
        "    + y = 2\n"
        "\n"
        "src/big.py:10-80: failed: the answer was not valid JSON after one repair\n"
        "\n"
        "3 findings (1 error, 1 warning, 1 info) in 2 files; 11 hunks reviewed, 4 from cache, "
        "1 failed\n"
    )


def test_text_with_nothing_to_report_is_one_short_line() -> None:
    report = Report(stats=Stats(hunks=7, reviewed=7, cached=2), model="gpt-4o-mini")
    assert render(report, "text") == "aider-review: no findings (7 hunks reviewed, 2 from cache)\n"
    builtin_only = render(Report(stats=Stats(hunks=7)), "text")
    assert builtin_only == "aider-review: no findings (7 hunks checked (built-in checks only))\n"


def test_text_with_only_failures_still_lists_them() -> None:
    output = render(Report(failed=[FAILED], stats=Stats(hunks=1, failed=1), model="m"), "text")
    assert output == ("src/big.py:10-80: failed: the answer was not valid JSON after one repair\n"
                      "\n"
                      "no findings; 0 hunks reviewed, 1 failed\n")


def test_text_suggestion_to_delete_a_line() -> None:
    finding = Finding("a.py", 5, 5, "warning", "debug", "leftover print", suggestion="",
                      code="print(x)")
    output = render(make_report(finding, failed=()), "text")
    assert ("a.py:5: warning: leftover print [debug]\n"
            "    - print(x)\n"
            "    suggestion: delete line 5\n") in output


def test_text_colour_only_when_asked_and_the_words_stay_the_same() -> None:
    plain = render(make_report(), "text")
    coloured = render(make_report(), "text", color=True)
    assert "\x1b[" in coloured
    assert ANSI.sub("", coloured) == plain


def test_text_neutralizes_control_characters_from_the_model() -> None:
    finding = Finding("a.py", 1, 1, "error", "bug", "evil \x1b]0;pwned\x07 title\r\nnext line")
    output = render(make_report(finding, failed=()), "text")
    assert "\x1b" not in output and "\x07" not in output and "\r" not in output
    assert "a.py:1: error: evil \\x1b]0;pwned\\x07 title [bug]\n    next line\n" in output


# -- json -----------------------------------------------------------------------------------

def test_json_is_the_documented_shape_sorted_and_repeatable() -> None:
    output = render(make_report(), "json")
    data = json.loads(output)
    assert list(data)[:3] == ["version", "findings", "stats"] and data["version"] == 1
    assert list(data["stats"]) == DESIGN_STATS_KEYS + ADDED_STATS_KEYS
    assert data["stats"]["elapsed_s"] == 2.346
    assert [(f["path"], f["line"]) for f in data["findings"]] == [
        ("docs/guide, part 1:intro.md", 3), ("src/app.py", 42), ("src/app.py", 50)]
    first = data["findings"][1]
    assert first == {
        "path": "src/app.py", "line": 42, "end_line": 42, "severity": "error", "category": "bug",
        "message": "qty can be None here; this raises TypeError.",
        "suggestion": "    total = price * (qty or 0)", "source": "model",
        "fingerprint": QTY_BUG.with_fingerprint().fingerprint, "confidence": None,
    }
    assert data["failed"] == [{"path": "src/big.py", "line": 10, "end_line": 80,
                               "reason": FAILED.reason}]
    shuffled = make_report(QTY_BUG, TYPO, CLEVER)
    assert render(shuffled, "json") == output
    assert output.startswith('{\n  "version": 1,')


# -- sarif ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft4Validator(schema)


def sarif_of(report: Report, validator: jsonschema.Draft4Validator) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(render(report, "sarif"))
    errors = sorted(validator.iter_errors(log), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return log


def test_sarif_is_valid_and_carries_rules_levels_locations_and_fingerprints(
        sarif_validator: jsonschema.Draft4Validator) -> None:
    log = sarif_of(make_report(), sarif_validator)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "aider-review" and driver["version"] and driver["informationUri"]
    assert [rule["id"] for rule in driver["rules"]] == ["bug", "docs", "style"]
    results = run["results"]
    assert [(r["ruleId"], r["level"]) for r in results] == [
        ("docs", "note"), ("bug", "error"), ("style", "warning")]
    for result in results:
        assert driver["rules"][result["ruleIndex"]]["id"] == result["ruleId"]
    location = results[2]["locations"][0]["physicalLocation"]
    assert location == {"artifactLocation": {"uri": "src/app.py", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 50, "endLine": 52}}
    assert results[1]["partialFingerprints"] == {
        "aiderReview/v1": QTY_BUG.with_fingerprint().fingerprint}
    # Spaces, commas and colons in a path are percent-encoded in the URI reference.
    assert results[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "docs/guide%2C%20part%201%3Aintro.md"
    assert run["invocations"][0]["executionSuccessful"] is True
    notification = run["invocations"][0]["toolExecutionNotifications"][0]
    assert "src/big.py:10-80" in notification["message"]["text"]


def test_sarif_turns_suggestions_into_fixes(sarif_validator: jsonschema.Draft4Validator) -> None:
    results = sarif_of(make_report(), sarif_validator)["runs"][0]["results"]
    assert "fixes" not in results[0]  # the typo has no suggestion
    replacement = results[2]["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement == {"deletedRegion": {"startLine": 50, "endLine": 52},
                           "insertedContent": {"text": "x = 1\ny = 2"}}


def test_sarif_of_an_empty_run_and_of_an_unreachable_model_is_valid(
        sarif_validator: jsonschema.Draft4Validator) -> None:
    empty = sarif_of(Report(), sarif_validator)["runs"][0]
    assert empty["results"] == [] and empty["tool"]["driver"]["rules"] == []
    report = Report(model_unavailable=True, notices=["model not reachable"],
                    findings=[Finding("a.py", 1, 1, "error", "", "no category")])
    run = sarif_of(report, sarif_validator)["runs"][0]
    assert run["invocations"][0]["executionSuccessful"] is False
    assert run["results"][0]["ruleId"] == "general"


# -- github ---------------------------------------------------------------------------------

def test_github_annotations_one_command_per_finding() -> None:
    lines = render(make_report(), "github").splitlines()
    assert lines[0] == ("::notice file=docs/guide%2C part 1%3Aintro.md,line=3,endLine=3,"
                        "title=docs (aider-review)::Typo: 100%25 sure")
    assert lines[1] == ("::error file=src/app.py,line=42,endLine=42,title=bug (aider-review)::"
                        "qty can be None here; this raises TypeError.%0A%0A"
                        "Suggested replacement:%0A    total = price * (qty or 0)")
    assert lines[2].startswith("::warning file=src/app.py,line=50,endLine=52,")
    assert "Too clever | by half%0AA second line" in lines[2]
    assert lines[3] == ("::warning file=src/big.py,line=10,endLine=80,title=aider-review could "
                        "not review this hunk::the answer was not valid JSON after one repair")
    assert lines[4] == ("::notice title=aider-review::aider-review: 3 findings (1 error, "
                        "1 warning, 1 info) in 2 files; 11 hunks reviewed, 4 from cache, 1 failed")
    assert len(lines) == 5


def test_github_escaping_keeps_a_hostile_message_on_one_line() -> None:
    finding = Finding("a,b:c.py", 7, 7, "warning", "x,y:z", "50% done\r\n::error::forged\nend")
    line, summary = render(make_report(finding, failed=()), "github").splitlines()
    assert line == ("::warning file=a%2Cb%3Ac.py,line=7,endLine=7,title=x%2Cy%3Az (aider-review)"
                    "::50%25 done%0A::error::forged%0Aend")
    assert summary.startswith("::notice ")


# -- markdown -------------------------------------------------------------------------------

def table_cells(row: str) -> list[str]:
    """A GitHub-flavoured table row split on pipes that are not escaped."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_markdown_summary_has_counts_table_failures_and_stats() -> None:
    output = render(make_report(), "markdown")
    assert output.startswith("## aider-review\n\n**3 findings (1 error, 1 warning, 1 info) in 2 "
                             "files**.\n")
    rows = [line for line in output.splitlines() if line.startswith("| ")]
    assert table_cells(rows[0]) == ["Location", "Severity", "Category", "Message"]
    assert len(rows) == 5 and all(len(table_cells(row)) == 4 for row in rows)
    assert table_cells(rows[4]) == [
        "`src/app.py:50-52`", "warning", "style",
        "Too clever \\| by half<br>A second line with &lt;script>alert(1)&lt;/script>"]
    assert "### Not reviewed (1 hunk)\n\n- `src/big.py:10-80`: the answer was not valid JSON" \
        in output
    assert ("<sub>11 hunks reviewed, 4 from cache, 1 failed · 5 requests · 1,234 prompt + 345 "
            "completion tokens · 2.3 s · model gpt-4o-mini</sub>") in output


def test_markdown_escapes_pipes_in_paths_and_keeps_code_spans_intact() -> None:
    finding = Finding("weird|name.py", 1, 1, "info", "a|b", "use `x || y` instead of <b>")
    rows = [line for line in render(make_report(finding, failed=()), "markdown").splitlines()
            if line.startswith("| ")]
    assert table_cells(rows[2]) == ["`weird\\|name.py:1`", "info", "a\\|b",
                                    "use `x \\|\\| y` instead of &lt;b>"]


def test_markdown_with_no_findings_says_so() -> None:
    output = render(Report(stats=Stats(hunks=4)), "markdown")
    assert "**No findings**." in output and "| Location" not in output
    assert "built-in checks only" in output
