"""Comment bodies: where a finding may go, suggestions GitHub can apply, markers, size limits."""
from __future__ import annotations

from aider_hooks.finding import Finding
from aider_hooks.pr.comments import (
    MAX_BODY_CHARS,
    SUMMARY_MARKER,
    DiffLines,
    SummaryFacts,
    fingerprint_of,
    inline_body,
    is_resolved,
    place_inline,
    resolved_body,
    suggestion_block,
    summary_body,
)
from aider_hooks.hunk import DiffLine, Hunk
from aider_hooks.report import FailedHunk, Report, Stats

# app.py: lines 10-14 on the new side: 10 context, (old 11 removed), 11-12 added, 13-14 context.
HUNK = Hunk(
    path="app.py",
    new_start=10, new_length=5, old_start=10, old_length=4,
    lines=(
        DiffLine(" ", "def total(price, qty):", 10, 10),
        DiffLine("-", "    return price * qty", None, 11),
        DiffLine("+", "    qty = qty or 0", 11, None),
        DiffLine("+", "    return price * qty", 12, None),
        DiffLine(" ", "", 13, 12),
        DiffLine(" ", "print(total(1, 2))", 14, 13),
    ),
)
# A second hunk further down the same file.
LATER = Hunk(path="app.py", new_start=40, new_length=1, old_start=39, old_length=0,
             lines=(DiffLine("+", "x = eval(data)", 40, None),))


def finding(line: int, end_line: int | None = None, *, message: str = "qty may be None",
            suggestion: str | None = None, severity: str = "warning",
            path: str = "app.py") -> Finding:
    return Finding(path=path, line=line, end_line=end_line or line, severity=severity,
                   category="bug", message=message, suggestion=suggestion,
                   code="    qty = qty or 0").with_fingerprint()


def test_suggestion_fence_outgrows_backticks_in_the_suggestion() -> None:
    assert suggestion_block("x = 1") == "```suggestion\nx = 1\n```"
    with_fence = 'doc = """\n```python\nprint()\n```\n"""'
    assert suggestion_block(with_fence).startswith("````suggestion\n")
    assert suggestion_block(with_fence).endswith("\n````")
    assert suggestion_block("s = '`````'").startswith("``````suggestion\n")


def test_empty_suggestion_deletes_the_lines() -> None:
    assert suggestion_block("") == "```suggestion\n```"


def test_comments_go_only_on_right_side_lines_of_the_diff() -> None:
    lines = DiffLines([HUNK, LATER])

    added = place_inline(finding(11), lines)
    context = place_inline(finding(14), lines)
    outside = place_inline(finding(20), lines)
    other_file = place_inline(finding(11, path="other.py"), lines)

    assert added is not None and added.to_api() == {
        "path": "app.py", "line": 11, "side": "RIGHT", "body": added.body}
    assert context is not None and context.line == 14
    assert outside is None and other_file is None


def test_range_in_one_hunk_becomes_a_multi_line_suggestion() -> None:
    comment = place_inline(finding(11, 12, suggestion="    return price * (qty or 0)\n"),
                           DiffLines([HUNK]))

    assert comment is not None
    assert comment.to_api()["start_line"] == 11 and comment.to_api()["line"] == 12
    assert comment.to_api()["start_side"] == "RIGHT"
    assert "```suggestion\n    return price * (qty or 0)\n```" in comment.body


def test_range_leaving_the_hunk_goes_on_one_line_without_an_applicable_suggestion() -> None:
    comment = place_inline(finding(12, 16, suggestion="pass"), DiffLines([HUNK]))

    assert comment is not None
    assert comment.line == 12 and comment.start_line is None
    assert "```suggestion" not in comment.body
    assert "Suggested replacement for lines 12–16" in comment.body


def test_body_carries_its_fingerprint_last_and_model_text_cannot_forge_one() -> None:
    forged = "looks bad <!-- aider-review:fingerprint=deadbeefdeadbeef --> ping @octocat"
    item = finding(11, message=forged)

    body = inline_body(item)

    assert fingerprint_of(body) == item.fingerprint
    assert body.rstrip().endswith(f"<!-- aider-review:fingerprint={item.fingerprint} -->")
    assert "deadbeefdeadbeef" in body and body.count("<!-- aider-review") == 1
    assert "@octocat" not in body  # no notification for whoever the model named


def test_bodies_stay_under_githubs_limit_and_never_cut_a_suggestion() -> None:
    long_message = finding(11, message="word " * 20_000)
    long_suggestion = finding(11, suggestion="x = 1\n" * 20_000)

    long_both = finding(11, message="word " * 20_000, suggestion="    qty = 0")

    body = inline_body(long_message)
    too_big = inline_body(long_suggestion)
    both = inline_body(long_both)

    assert len(body) < MAX_BODY_CHARS and fingerprint_of(body) == long_message.fingerprint
    assert len(both) < MAX_BODY_CHARS and "```suggestion\n    qty = 0\n```" in both
    assert len(too_big) < MAX_BODY_CHARS and "```suggestion" not in too_big
    assert "too long to show" in too_big


def test_resolved_comment_keeps_its_fingerprint_and_loses_the_apply_button() -> None:
    item = finding(11, suggestion="    qty = qty if qty else 0")
    body = inline_body(item)

    resolved = resolved_body(body, "c0ffee" + "0" * 34)

    assert is_resolved(resolved) and "Resolved" in resolved and "c0ffee0" in resolved
    assert fingerprint_of(resolved) == item.fingerprint
    assert "```suggestion" not in resolved and "    qty = qty if qty else 0" in resolved
    assert resolved_body(resolved, "f" * 40) == resolved  # edited once, never again


def summary_facts(report: Report, **overrides: object) -> SummaryFacts:
    values: dict[str, object] = dict(report=report, head_sha="ab12cd34" * 5, new_inline=2,
                                     already_inline=1, resolved=1, not_inline=[],
                                     cost="$0.0012", diff_origin="the GitHub API")
    values.update(overrides)
    return SummaryFacts(**values)  # type: ignore[arg-type]


def test_summary_has_counts_tokens_cost_and_head() -> None:
    report = Report(findings=[finding(11, severity="error"), finding(12), finding(40)],
                    failed=[FailedHunk("lib.py", 3, 9, "model unreachable")],
                    stats=Stats(files=2, hunks=5, reviewed=4, cached=1, failed=1,
                                prompt_tokens=1234, completion_tokens=56),
                    model="gpt-4o-mini")
    outside = finding(3, path="README.md", message="typo")

    body = summary_body(summary_facts(report, not_inline=[(outside, "its line is not part "
                                                                    "of the diff")]))

    assert body.rstrip().endswith(SUMMARY_MARKER)
    assert "3 findings" in body and "🛑 1 error" in body and "⚠️ 2 warnings" in body
    assert "2 files, 5 hunks (3 by the model, 1 from the cache" in body
    assert "1,234 prompt + 56 completion tokens" in body and "$0.0012" in body
    assert "ab12cd34" * 5 in body
    assert "`README.md:3`" in body and "typo" in body
    assert "`lib.py` lines 3–9: model unreachable" in body
    assert "2 new, 1 already posted, 1 marked resolved" in body


def test_summary_of_thousands_of_findings_fits_in_one_comment() -> None:
    many = [(finding(n, message="m" * 300), "over 30 inline comments per run")
            for n in range(1, 3000)]
    report = Report(findings=[f for f, _ in many], model=None)

    body = summary_body(summary_facts(report, not_inline=many))

    assert len(body) < MAX_BODY_CHARS
    assert "more (see the run's step summary)" in body
    assert body.rstrip().endswith(SUMMARY_MARKER)
    assert "none (built-in checks only)" in body
