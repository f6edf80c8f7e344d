"""Properties of diff -> hunks -> anchoring, over generated input (hypothesis).

- Any well-formed unified diff (files and hunks generated, then rendered as text) parses
  without an exception, into exactly the hunks it holds, with consistent line numbers; split
  hunks are consecutive pieces of the original.
- Every anchored finding sits on a new-side line of a hunk of its own file, and its span stays
  inside that hunk; what cannot be placed is dropped and counted, never moved elsewhere.
- Any text at all either parses or raises ``InputError`` (never anything else); any bytes
  decode.

Example counts are modest so the file runs in a few seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aider_hooks.tasks.anchoring import anchor_findings
from aider_hooks.tasks.answers import RawFinding
from aider_hooks.diff.source import decode_diff_bytes
from aider_hooks.errors import InputError
from aider_hooks.finding import normalize_code
from aider_hooks.hunk import Hunk
from aider_hooks.diff.parse import parse_diff
from aider_hooks.diff.paths import default_exclusion
from aider_hooks.settings import Settings
from testing.reliability_support import record_figure

pytestmark = pytest.mark.slow  # hypothesis, hundreds of generated examples per property

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NO_SPLIT = Settings(max_hunk_lines=1_000_000)

# Line text: ordinary code, plus text that looks like diff syntax once a prefix is added.
_TRICKY = st.sampled_from(["-- a/x.py", "++ b/x.py", "@@ -1 +1 @@", "diff --git a/x b/x",
                           "\\ No newline", "", " ", "\t", "    return x", "é ü 日本", "#"])
LINE_TEXT = st.one_of(_TRICKY, st.text(
    st.characters(blacklist_categories=("Cs", "Zl", "Zp"), blacklist_characters="\r\n\x0b\x0c"
                  "\x1c\x1d\x1e\x85"), max_size=30))
NAME = st.text(st.sampled_from("abcxyz019_-é日 "), min_size=1, max_size=8).map(str.strip).filter(
    lambda n: n not in ("", ".", "..") and not n.startswith("-"))


@dataclass(frozen=True)
class GenHunk:
    lines: tuple[tuple[str, str], ...]  # (kind, text)
    gap: int  # unchanged lines before this hunk, not shown

    @property
    def old_len(self) -> int:
        return sum(1 for kind, _ in self.lines if kind != "+")

    @property
    def new_len(self) -> int:
        return sum(1 for kind, _ in self.lines if kind != "-")


@dataclass(frozen=True)
class GenFile:
    path: str
    new_file: bool
    hunks: tuple[GenHunk, ...]


@st.composite
def gen_hunk(draw: st.DrawFn, *, added_only: bool) -> GenHunk:
    kinds = st.just("+") if added_only else st.sampled_from(["+", "-", " "])
    lines = draw(st.lists(st.tuples(kinds, LINE_TEXT), min_size=1, max_size=25))
    if not added_only and all(kind == " " for kind, _ in lines):
        lines[0] = ("+", lines[0][1])  # a hunk changes something
    return GenHunk(tuple(lines), draw(st.integers(1, 40)))


@st.composite
def gen_file(draw: st.DrawFn) -> GenFile:
    parts = draw(st.lists(NAME, min_size=1, max_size=3))
    path = "/".join(parts) + draw(st.sampled_from([".py", ".txt", ".js", ""]))
    assume(default_exclusion(path) is None)
    new_file = draw(st.booleans())
    count = 1 if new_file else draw(st.integers(1, 4))
    hunks = tuple(draw(gen_hunk(added_only=new_file)) for _ in range(count))
    return GenFile(path, new_file, hunks)


gen_files = st.lists(gen_file(), min_size=1, max_size=4, unique_by=lambda f: f.path)


def starts(file: GenFile) -> list[tuple[int, int]]:
    """(old_start, new_start) of each hunk: each follows the previous one after its gap."""
    result = []
    old = new = 1
    for hunk in file.hunks:
        if file.new_file:
            result.append((0, 1))
            continue
        old += hunk.gap
        new += hunk.gap
        result.append((old, new))
        old += hunk.old_len
        new += hunk.new_len
    return result


def render(files: list[GenFile]) -> str:
    out = []
    for file in files:
        out.append(f"diff --git a/{file.path} b/{file.path}")
        if file.new_file:
            out += ["new file mode 100644", "index 0000000..1111111", "--- /dev/null"]
        else:
            out += ["index 1111111..2222222 100644", f"--- a/{file.path}"]
        out.append(f"+++ b/{file.path}")
        for hunk, (old, new) in zip(file.hunks, starts(file)):
            old_start = old if hunk.old_len else max(old - 1, 0)
            new_start = new if hunk.new_len else new - 1
            out.append(f"@@ -{old_start},{hunk.old_len} +{new_start},{hunk.new_len} @@")
            out += [kind + text for kind, text in hunk.lines]
    return "\n".join(out) + "\n"


def new_side(hunk: Hunk) -> dict[int, str]:
    return {number: text for number, text in hunk.new_side}


# --- parsing -----------------------------------------------------------------------------


@SETTINGS
@given(gen_files)
def test_any_well_formed_diff_parses_into_exactly_its_hunks(files: list[GenFile]) -> None:
    hunk_set = parse_diff(render(files), settings=NO_SPLIT)
    assert [h.path for h in hunk_set.hunks] == [f.path for f in files for _ in f.hunks]
    parsed = iter(hunk_set.hunks)
    for file in files:
        for generated, (old, new) in zip(file.hunks, starts(file)):
            hunk = next(parsed)
            assert [(ln.kind, ln.text) for ln in hunk.lines] == list(generated.lines)
            assert hunk.is_new_file == file.new_file
            new_numbers = [ln.new_lineno for ln in hunk.lines if ln.kind != "-"]
            old_numbers = [ln.old_lineno for ln in hunk.lines if ln.kind != "+"]
            assert new_numbers == list(range(new, new + generated.new_len))
            assert old_numbers == list(range(old, old + generated.old_len))
            assert all(ln.new_lineno is None for ln in hunk.lines if ln.kind == "-")
            assert all(ln.old_lineno is None for ln in hunk.lines if ln.kind == "+")
            assert (hunk.new_length, hunk.old_length) == (generated.new_len, generated.old_len)
    record_figure("property-parse", files=len(files),
                  hunks=sum(len(f.hunks) for f in files))


@SETTINGS
@given(gen_files, st.integers(10, 30))
def test_split_hunks_are_consecutive_valid_pieces(files: list[GenFile], limit: int) -> None:
    whole = parse_diff(render(files), settings=NO_SPLIT).hunks
    split = parse_diff(render(files), settings=Settings(max_hunk_lines=limit)).hunks
    pieces = iter(split)
    for hunk in whole:
        joined: list[object] = []
        while len(joined) < len(hunk.lines):
            part = next(pieces)
            assert part.path == hunk.path and len(part.lines) <= limit
            numbers = [ln.new_lineno for ln in part.lines if ln.kind != "-"]
            if numbers:
                assert numbers == list(range(part.new_start, part.new_start + part.new_length))
            joined.extend(part.lines)
        assert joined == list(hunk.lines)
    assert next(pieces, None) is None


# --- anchoring ---------------------------------------------------------------------------


@st.composite
def findings_for(draw: st.DrawFn, hunks: list[Hunk]) -> list[RawFinding]:
    paths = sorted({h.path for h in hunks})
    texts = [ln.text for h in hunks for ln in h.lines]  # removed lines too: must not anchor
    top = max((h.new_start + h.new_length for h in hunks), default=1) + 5
    raw = []
    for _ in range(draw(st.integers(0, 8))):
        # Mostly real paths and real line texts, so that many findings do anchor.
        path = draw(st.one_of(st.sampled_from(paths), st.sampled_from(paths), st.just(""), NAME))
        code = draw(st.one_of(st.sampled_from(texts), st.sampled_from(texts), LINE_TEXT,
                              st.just("")))
        line = draw(st.one_of(st.none(), st.integers(1, top)))
        end = draw(st.one_of(st.none(), st.integers(1, top)))
        if line is None and not code.strip():
            code = "x"  # answers.py never yields a finding with neither
        if end is not None and line is not None and end < line:
            end = line
        raw.append(RawFinding(path=path, line=line, end_line=end if line else None, code=code,
                              severity="warning", category="bug", message="m",
                              suggestion=draw(st.one_of(st.none(), LINE_TEXT))))
    return raw


@SETTINGS
@given(st.data(), gen_files)
def test_every_anchored_finding_is_on_a_new_side_line_of_its_own_hunk(
        data: st.DataObject, files: list[GenFile]) -> None:
    hunks = parse_diff(render(files), settings=Settings(max_hunk_lines=12)).hunks
    raw = data.draw(findings_for(hunks))
    anchored, dropped = anchor_findings(raw, hunks)
    assert len(anchored) + dropped == len(raw)
    placed = 0
    for item in raw:  # one by one, to know which answer each finding came from
        result, _ = anchor_findings([item], hunks)
        for finding in result:
            placed += 1
            own = [h for h in hunks if h.path == finding.path and finding.line in new_side(h)]
            assert own, f"{finding.path}:{finding.line} is not a new-side line of its hunks"
            home = own[0]
            assert finding.line <= finding.end_line
            assert all(n in new_side(home) for n in range(finding.line, finding.end_line + 1))
            assert finding.code == new_side(home)[finding.line]
            if item.code.strip():  # placed by the text it quoted
                assert normalize_code(finding.code) in normalize_code(item.code)
            else:  # placed by number alone: only ever on an added line, the one it named
                assert finding.line == item.line
                assert any(ln.kind == "+" and ln.new_lineno == item.line
                           for ln in home.lines)
    assert placed == len(anchored)
    record_figure("property-anchor", findings=len(raw), anchored=placed, dropped=dropped)


@SETTINGS
@given(gen_files)
def test_a_finding_quoting_a_line_lands_on_that_text(files: list[GenFile]) -> None:
    hunks = parse_diff(render(files), settings=NO_SPLIT).hunks
    for hunk in hunks:
        for number, text in hunk.new_side:
            if not text.strip():
                continue
            raw = RawFinding(path=hunk.path, line=number + 3, end_line=None, code=text,
                             severity="info", category="x", message="m", suggestion=None)
            (finding,), dropped = anchor_findings([raw], hunks)
            assert dropped == 0 and finding.path == hunk.path
            assert normalize_code(finding.code) == normalize_code(text)


# --- anything at all ---------------------------------------------------------------------

_PIECES = st.sampled_from([
    "diff --git a/x b/x\n", "--- a/x\n", "+++ b/x\n", "@@ -1,2 +1,3 @@\n", "@@ -0,0 +1 @@\n",
    "+a\n", "-b\n", " c\n", "\\ No newline at end of file\n", "new file mode 100644\n",
    "deleted file mode 100644\n", "Binary files a/x and b/x differ\n", "rename from x\n",
    "rename to y\n", "--- /dev/null\n", "+++ /dev/null\n", "\r\n", "\n", "GIT binary patch\n",
    "* Unmerged path x\n", 'diff --git "a/q\\"x" "b/q\\"x"\n', "old mode 100644\n",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=12)), max_size=30))
def test_any_text_parses_or_is_an_input_error(parts: list[str]) -> None:
    try:
        parse_diff("".join(parts), settings=NO_SPLIT)
    except InputError as err:
        assert "\n" not in str(err)
    record_figure("property-any-text", inputs=1)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_decode_and_parse_or_are_an_input_error(data: bytes) -> None:
    text = decode_diff_bytes(data)
    assert "\x00" not in text
    try:
        parse_diff(text, settings=NO_SPLIT)
    except InputError:
        pass
    record_figure("property-any-bytes", inputs=1)
