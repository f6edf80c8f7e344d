"""finding.py: fingerprints survive moves; duplicates fold, the same code in two places does not."""
from __future__ import annotations

from aider_hooks.finding import Finding, deduplicate


def finding(line: int, *, severity: str = "warning", code: str = "data = eval(input())",
            message: str = "eval of input") -> Finding:
    return Finding(path="app.py", line=line, end_line=line, severity=severity,
                   category="security", message=message, code=code)


def test_two_findings_on_one_line_fold_into_the_most_severe() -> None:
    kept = deduplicate([finding(6, message="risky"), finding(6, severity="error", message="bad")])
    assert [(f.line, f.severity) for f in kept] == [(6, "error")]


def test_the_same_code_on_two_lines_keeps_both_with_fingerprints_of_their_own() -> None:
    kept = deduplicate([finding(20), finding(6)])
    assert [f.line for f in kept] == [6, 20]
    assert kept[0].fingerprint == finding(6).with_fingerprint().fingerprint  # the first as ever
    assert kept[1].fingerprint != kept[0].fingerprint
    # Moving both lines keeps both fingerprints, so the PR bot posts neither again.
    moved = deduplicate([finding(9), finding(23)])
    assert [f.fingerprint for f in moved] == [f.fingerprint for f in kept]


def test_a_fingerprint_ignores_the_line_number_and_the_wording() -> None:
    one = finding(6).with_fingerprint().fingerprint
    assert finding(60, message="do not eval").with_fingerprint().fingerprint == one
    assert finding(6, code="data  =  eval(input())").with_fingerprint().fingerprint == one
    assert finding(6, code="x = eval(input())").with_fingerprint().fingerprint != one


def test_a_relabelled_finding_keeps_its_fingerprint_but_a_different_kind_does_not() -> None:
    def fingerprint(category: str) -> str:
        return Finding(path="app.py", line=6, end_line=6, severity="warning", category=category,
                       message="m", code="data = eval(input())").with_fingerprint().fingerprint

    assert fingerprint("bug") == fingerprint("Correctness") == fingerprint("logic error")
    assert fingerprint("security") == fingerprint("vulnerability")
    assert fingerprint("bug") != fingerprint("security") != fingerprint("style")
    assert fingerprint("license") == fingerprint("License ")  # unknown words: case and spaces
