"""Anchoring: findings land on the line whose text the model quoted, or are dropped."""
from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aider_hooks.tasks.anchoring import anchor_findings
from aider_hooks.tasks.answers import RawFinding, parse_review_answer
from aider_hooks.finding import make_fingerprint
from aider_hooks.hunk import DiffLine, Hunk
from aider_hooks.tasks import get_task
from aider_hooks.tasks.prompts import build_requests
from testing.hunk_factory import make_hunk




def raw(code: str, line: int | None, *, path: str = "src/app.py", end_line: int | None = None,
        suggestion: str | None = None, category: str = "bug") -> RawFinding:
    return RawFinding(path=path, line=line, end_line=line if end_line is None else end_line,
                      code=code, severity="error", category=category,
                      message="Something is wrong here.", suggestion=suggestion)


APP = make_hunk("src/app.py", 40, [
    " def total(price, qty):",                  # 40
    "-    total = price",
    "+    total = price * qty",                 # 41
    "+    if total > LIMIT:",                   # 42
    "+        raise ValueError(total)",         # 43
    "+    return total",                        # 44
    " ",                                        # 45
], context_before=((39, "    # compute the total"),), context_after=((46, "def other():"),))


def test_line_off_by_up_to_five_still_lands_on_the_quoted_line() -> None:
    for reported in range(36, 47):
        [finding], dropped = anchor_findings([raw("    total = price * qty", reported)], [APP])
        assert (finding.line, finding.end_line, dropped) == (41, 41, 0)
        assert finding.code == "    total = price * qty"


def test_anchored_finding_is_complete() -> None:
    [finding], _ = anchor_findings([raw("return total", 47, category="bug")], [APP])
    assert (finding.path, finding.line, finding.source) == ("src/app.py", 44, "model")
    assert finding.code == "    return total"
    assert finding.fingerprint == make_fingerprint("src/app.py", "bug", "    return total", "model")


def test_white_space_differences_are_forgiven() -> None:
    for code in ("total = price * qty", "\ttotal  =  price *   qty  ", "    total = price * qty\n"):
        [finding], _ = anchor_findings([raw(code, 41)], [APP])
        assert finding.line == 41


def test_code_copied_with_the_prompt_columns_still_anchors() -> None:
    for code in ("    41 +     total = price * qty", "+    total = price * qty",
                 "`total = price * qty`"):
        [finding], _ = anchor_findings([raw(code, 30)], [APP])
        assert finding.line == 41


def test_duplicate_identical_lines_anchor_on_the_nearest() -> None:
    hunk = make_hunk("src/app.py", 1, ["+x = load()", *[" pass"] * 20, "+x = load()"])  # 1, 22
    found, _ = anchor_findings([raw("x = load()", 3), raw("x = load()", 19)], [hunk])
    assert [f.line for f in found] == [1, 22]


def test_tie_prefers_added_line_then_lower_number() -> None:
    hunk = make_hunk("src/app.py", 1, [" y = 0", " pass", "+y = 0", " pass", "+y = 0"])
    [added], _ = anchor_findings([raw("y = 0", 2)], [hunk])  # 1 (context) and 3 (added)
    assert added.line == 3
    [lower], _ = anchor_findings([raw("y = 0", 4)], [hunk])  # 3 and 5, both added
    assert lower.line == 3


def test_multi_line_code_matches_on_its_first_line_and_prefers_full_matches() -> None:
    hunk = make_hunk("src/app.py", 1,
                     ["+if ready:", "+    go()", " pass", "+if ready:", "+    stop()"])
    [finding], _ = anchor_findings([raw("\nif ready:\n    stop()", 1, end_line=2)], [hunk])
    assert (finding.line, finding.end_line) == (4, 5)


def test_hallucinated_code_is_dropped_and_counted() -> None:
    found, dropped = anchor_findings(
        [raw("    total = price + tax", 41), raw("    return total", 44)], [APP])
    assert [f.line for f in found] == [44]
    assert dropped == 1


def test_file_not_in_the_diff_is_dropped() -> None:
    found, dropped = anchor_findings([raw("    return total", 44, path="src/other.py")], [APP])
    assert (found, dropped) == ([], 1)


def test_path_spellings_models_use_are_forgiven() -> None:
    for path in ("./src/app.py", "b/src/app.py", "app.py", "/src/app.py"):
        [finding], _ = anchor_findings([raw("    return total", 44, path=path)], [APP])
        assert finding.path == "src/app.py"


def test_removed_lines_are_never_anchored() -> None:
    found, dropped = anchor_findings([raw("    total = price", 41)], [APP])
    assert (found, dropped) == ([], 1)


def test_extra_context_lines_are_never_anchored() -> None:
    found, dropped = anchor_findings(
        [raw("    # compute the total", 39), raw("def other():", 46),
         raw("", 39), raw("", 46)], [APP])
    assert (found, dropped) == ([], 4)


def test_without_code_only_an_added_line_is_accepted() -> None:
    found, dropped = anchor_findings([raw("", 43), raw("", 40), raw("", None)], [APP])
    assert [(f.line, f.code) for f in found] == [(43, "        raise ValueError(total)")]
    assert dropped == 2


def test_span_moves_with_the_anchor_and_is_clipped_to_the_hunk() -> None:
    [moved], _ = anchor_findings([raw("    if total > LIMIT:", 40, end_line=41,
                                      suggestion="    if total >= LIMIT:\n        raise X")], [APP])
    assert (moved.line, moved.end_line) == (42, 43)
    assert moved.suggestion == "    if total >= LIMIT:\n        raise X"

    [clipped], _ = anchor_findings([raw("    return total", 44, end_line=50,
                                        suggestion="    return round(total)")], [APP])
    assert (clipped.line, clipped.end_line) == (44, 45)
    assert clipped.suggestion is None  # it no longer replaces exactly the lines it was for


def test_span_never_crosses_into_another_hunk() -> None:
    first = make_hunk("src/app.py", 10, ["+a = 1", "+b = 2"])
    second = make_hunk("src/app.py", 12, ["+c = 3", "+d = 4"])
    [finding], _ = anchor_findings([raw("a = 1", 10, end_line=13)], [first, second])
    assert (finding.line, finding.end_line) == (10, 11)


def test_redacted_suggestion_is_dropped_but_the_finding_kept() -> None:
    hunk = make_hunk("src/app.py", 1, ["+API_KEY = '[REDACTED:openai-key]'"])
    [finding], dropped = anchor_findings(
        [raw("API_KEY = '[REDACTED:openai-key]'", 1,
             suggestion="API_KEY = os.environ['[REDACTED:openai-key]']")], [hunk])
    assert finding.suggestion is None and dropped == 0


def test_suggestion_equal_to_the_current_line_is_dropped() -> None:
    [finding], _ = anchor_findings([raw("    return total", 44, suggestion="    return total")],
                                   [APP])
    assert finding.suggestion is None


def test_finding_without_path_anchors_only_when_one_file_matches() -> None:
    other = make_hunk("lib/util.py", 1, ["+    return total", "+unique = 1"])
    found, dropped = anchor_findings(
        [raw("    return total", 44, path=""), raw("unique = 1", 2, path="")], [APP, other])
    assert [(f.path, f.line) for f in found] == [("lib/util.py", 2)]
    assert dropped == 1


def test_escaped_characters_as_the_prompt_showed_them_still_anchor() -> None:
    hunk = make_hunk("src/app.py", 1, ["+ok = '\u202eevil'"])
    [finding], _ = anchor_findings([raw("ok = '\\u202eevil'", 1)], [hunk])
    assert finding.code == "ok = '\u202eevil'"


def test_findings_in_a_multi_file_request_land_in_their_own_file() -> None:
    # Two files with the same line at the same number, packed into one request.
    a = make_hunk("a.py", 5, ["+value = compute()", "+return value"])
    b = make_hunk("b.py", 5, ["+value = compute()", "+return value"])
    [request] = build_requests(get_task("review"), [a, b], batch_tokens=2500)
    answer = ('{"findings": [{"path": "b.py", "line": 5, "end_line": 5, '
              '"code": "value = compute()", "severity": "warning", "category": "bug", '
              '"message": "compute() may return None.", "suggestion": null}]}')
    [finding], dropped = anchor_findings(parse_review_answer(answer), request.hunks)
    assert (finding.path, finding.line, dropped) == ("b.py", 5, 0)


def test_large_hunks_anchor_fast() -> None:
    lines = [f"+    value_{i} = compute({i})" for i in range(10_000)] + ["+}"] * 5_000
    hunk = make_hunk("big.py", 1, lines)
    findings = [raw(f"    value_{i} = compute({i})", i + 3, path="big.py")
                for i in range(0, 10_000, 200)]
    findings += [raw("}", 12_000 + i, path="big.py") for i in range(50)]

    start = time.perf_counter()
    found, dropped = anchor_findings(findings, [hunk])
    assert time.perf_counter() - start < 2.0
    assert dropped == 0
    assert [f.line for f in found[:50]] == list(range(1, 10_001, 200))


# ---------------------------------------------------------------------------------------------
# Property: whatever the hunks and the model's claims, anchoring never raises and only ever
# places findings on a new-side line of a hunk of the same file, with a span inside that hunk.

TEXTS = st.sampled_from(["", "x = 1", "  x = 1", "return x", "}", "pass", "y=2", "é\u202e"])
PATHS = st.sampled_from(["a.py", "b.py", "src/a.py"])


@st.composite
def hunks_strategy(draw: st.DrawFn) -> Hunk:
    path = draw(PATHS)
    start = draw(st.integers(min_value=1, max_value=60))
    body = draw(st.lists(st.tuples(st.sampled_from("+- "), TEXTS), min_size=0, max_size=12))
    before = draw(st.lists(TEXTS, max_size=3))
    hunk = make_hunk(path, start, [kind + text for kind, text in body])
    return Hunk(path=hunk.path, lines=hunk.lines, new_start=hunk.new_start,
                new_length=hunk.new_length,
                context_before=tuple((max(1, start - 3) + i, t) for i, t in enumerate(before)),
                context_after=((start + hunk.new_length, "x = 1"),))


@st.composite
def raw_strategy(draw: st.DrawFn) -> RawFinding:
    line = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=80)))
    end = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=90)))
    if line is not None and (end is None or end < line):
        end = line
    return RawFinding(
        path=draw(st.one_of(PATHS, st.sampled_from(["", "./a.py", "zzz.py"]))),
        line=line, end_line=end if line is not None else None,
        code=draw(st.one_of(TEXTS, TEXTS.map(lambda t: t + "\n" + "x = 1"))),
        severity="warning", category="bug", message="m",
        suggestion=draw(st.one_of(st.none(), TEXTS, st.just("[REDACTED:key]"))),
    )


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(hunks_strategy(), max_size=5), st.lists(raw_strategy(), max_size=8))
def test_anchoring_only_ever_places_findings_inside_reviewed_lines(
    hunks: list[Hunk], findings: list[RawFinding]
) -> None:
    anchored, dropped = anchor_findings(findings, hunks)

    assert len(anchored) + dropped == len(findings)
    for finding in anchored:
        homes = [h for h in hunks if h.path == finding.path
                 and (finding.line, finding.code) in h.new_side]
        assert homes, finding
        assert any(
            finding.line <= finding.end_line <= h.last_line
            and any(n == finding.end_line for n, _ in h.new_side)
            for h in homes
        ), finding
        assert not finding.suggestion or "[REDACTED:" not in finding.suggestion
