"""The review that needs no model: problems a machine can be sure of, in milliseconds.

Rules (``Finding.category``), each anchored on an added line of the diff and never on a
context or removed line, so that a finding is always about the change itself:

- ``conflict-marker`` (error): a line starting with ``<<<<<<< ``, ``>>>>>>> `` or
  ``||||||| ``, or a bare ``=======`` when the same file also has one of the others (alone it is
  a Markdown/reStructuredText heading underline).
- ``debugger`` (error): ``breakpoint()``, ``pdb``/``ipdb``/``pudb`` ``set_trace()`` and their
  imports, IPython ``embed`` in Python files; ``debugger`` statements in JavaScript/TypeScript;
  ``binding.pry``/``binding.irb``/``byebug``/``debugger`` in Ruby. Text in strings and
  comments on the same line does not count; in Python, neither do lines inside a multi-line
  string (checked with ``tokenize`` when a line looks suspect and the staged file is at hand).
- ``secret`` (error): ``redact.find_secrets`` on the new side of each hunk (a key block may
  span lines). The message names the kind, never the value, and ``Finding.code`` holds the
  line with the secret redacted, so no report or cache ever repeats it. A line carrying
  detect-secrets' ``pragma: allowlist secret`` comment is not reported (it is still redacted
  before anything is sent).
- ``syntax-error`` (error): the *staged* version of each changed Python file is compiled
  (``compile(..., "exec")`` under the running interpreter, so the message names its version).
  The file comes from ``read_new_file``, and is used only when every new-side line of the diff
  agrees with it (a work tree that moved on since a saved diff was made proves nothing); a new
  file is rebuilt from the diff when it cannot be read. A PEP 263 coding declaration is
  honoured; a file that does not decode, or holds NUL bytes, is skipped. When the error's line
  is not an added line, the finding goes on the nearest added line of the file and the message
  gives the real line number.
- ``large-file`` (warning): a new file whose staged blob is larger than
  ``settings.max_file_bytes`` (0 turns the rule off), binary files included; not a copy or a
  rename of a file already in the repository (git stores that blob once). It is anchored
  on line 1 when line 1 is an added line, else on the file's first added line; a binary file
  has no lines, so its finding is path-level, on line 1 with empty ``code`` (reporters show it
  as ``path:1``; the PR bot cannot attach it to a diff line).

Files the review skips (lock, generated, vendored, excluded by settings) are not checked.
Findings come sorted by file, line and rule.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from aider_hooks.errors import AiderReviewError
from aider_hooks.finding import Finding
from aider_hooks.hunk import Hunk
from aider_hooks.redact import find_secrets, redact_text
from aider_hooks.settings import Settings

if TYPE_CHECKING:
    from aider_hooks.diff.parse import ChangedFile, HunkSet

ReadNewFile = Callable[[str], bytes | None]
# detect-secrets' marker for a line that holds a known, harmless value (a test fixture): the
# line is still redacted before it is sent anywhere, but it is not reported.
ALLOWLIST_PRAGMA = "pragma: allowlist secret"
# A URL password that is the word "password" is documentation ("https://user:pass@host"): it
# is redacted like any other, but it is not reported.
PLACEHOLDER_PASSWORDS = frozenset({"pass", "password", "passwd", "pwd", "pw", "secret"})

PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")
JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".vue", ".svelte")
RUBY_SUFFIXES = (".rb", ".rake", ".ru", ".gemspec", ".erb")
RUBY_NAMES = ("Rakefile", "Gemfile", "Guardfile", "Capfile")


def run_builtin_checks(
    hunk_set: HunkSet, *, read_new_file: ReadNewFile, settings: Settings
) -> list[Finding]:
    """Every built-in finding for the reviewed files of ``hunk_set``, sorted."""
    if not settings.builtin_checks:
        return []
    blobs = _BlobCache(read_new_file)
    findings: list[Finding] = []
    for file in hunk_set.files:
        if file.status == "deleted":
            continue
        if file.skipped_reason is None:
            findings += _line_findings(file, blobs)
            if file.path.endswith(PYTHON_SUFFIXES):
                findings += _syntax_findings(file, blobs, settings)
        if file.status == "added" and file.old_path is None and _is_checked(file, settings):
            findings += _large_file_findings(file, blobs, settings)
    return sorted(findings, key=lambda f: (*f.sort_key(), f.category))


def _is_checked(file: ChangedFile, settings: Settings) -> bool:
    """Reviewed, or binary (binary files are never reviewed) and not excluded."""
    if file.skipped_reason is None:
        return True
    if not file.is_binary:
        return False
    from aider_hooks.diff.paths import exclusion

    return exclusion(file.path, settings) is None


class _BlobCache:
    """``read_new_file`` once per path: several rules read the same file."""

    def __init__(self, read_new_file: ReadNewFile) -> None:
        self._read = read_new_file
        self._blobs: dict[str, bytes | None] = {}

    def __call__(self, path: str) -> bytes | None:
        if path not in self._blobs:
            try:
                self._blobs[path] = self._read(path)
            except (OSError, ValueError, AiderReviewError):
                self._blobs[path] = None  # no file: the rules that need it skip this path
        return self._blobs[path]


def _finding(path: str, line: int, code: str, severity: str, category: str, message: str,
             end_line: int | None = None) -> Finding:
    return Finding(path=path, line=line, end_line=end_line or line, severity=severity,
                   category=category, message=message, source="builtin", code=code)


def _added_lines(hunks: Iterable[Hunk]) -> dict[int, str]:
    return {number: text for hunk in hunks for number, text in hunk.added}


# --- rules on added lines ----------------------------------------------------------------

_CONFLICT_MARKER = re.compile(r"(?:<{7}|>{7}|\|{7})(?: |$)")
_CONFLICT_SEPARATOR = re.compile(r"={7}[ \t]*$")


def _line_findings(file: ChangedFile, blobs: _BlobCache) -> list[Finding]:
    added = _added_lines(file.hunks)
    findings = _conflict_findings(file.path, added)
    findings += _debugger_findings(file, added, blobs)
    for hunk in file.hunks:
        findings += _secret_findings(hunk)
    return findings


def _conflict_findings(path: str, added: dict[int, str]) -> list[Finding]:
    markers = [n for n, text in added.items() if _CONFLICT_MARKER.match(text)]
    if markers:
        markers += [n for n, text in added.items() if _CONFLICT_SEPARATOR.match(text)]
    return [_finding(path, n, added[n], "error", "conflict-marker",
                     "merge conflict marker left in the file: resolve the conflict and remove it")
            for n in sorted(markers)]


# One (pattern, what to call it) per leftover debugger, matched on the line with its strings
# and comments removed.
_PYTHON_DEBUGGERS = (
    (re.compile(r"(?<![\w.])(?<!def )breakpoint\s*\("), "breakpoint()"),
    (re.compile(r"(?<!def )\bset_trace\s*\("), "set_trace()"),
    (re.compile(r"\b(?:i?pdb|pudb|pdbpp)\s*\.\s*post_mortem\s*\("), "post_mortem()"),
    (re.compile(r"^\s*(?:import\s+(?:[\w.]+\s*,\s*)*(?:i?pdb|pudb|pdbpp|web_pdb|remote_pdb)\b"
                r"|from\s+(?:i?pdb|pudb|pdbpp|web_pdb|remote_pdb)\s+import\b)"), "debugger import"),
    (re.compile(r"\bpu\.db\b"), "pu.db"),
    (re.compile(r"^\s*from\s+IPython\s+import\s+(?:[\w\s,]*\b)?embed\b|\bIPython\.embed\s*\("),
     "IPython embed()"),
)
_JS_DEBUGGERS = ((re.compile(r"(?<![\w$.])debugger\s*(?:;|$)"), "debugger statement"),)
_RUBY_DEBUGGERS = (
    (re.compile(r"(?<![\w.])binding\.(?:pry|irb|remote_pry|pry_remote|b)\b"), "binding.pry"),
    *((re.compile(rf"(?<![\w.:@$]){word}\b(?!\s*[=:?!(\[.])"), word) for word in ("byebug", "debugger")),
)
_PY_STRING_OR_COMMENT = re.compile(
    r"""[rRbBuUfF]{0,2}(?:"(?:\\.|[^"\\])*(?:"|$)|'(?:\\.|[^'\\])*(?:'|$))|\#.*""")
_JS_STRING_OR_COMMENT = re.compile(
    r""""(?:\\.|[^"\\])*(?:"|$)|'(?:\\.|[^'\\])*(?:'|$)|`(?:\\.|[^`\\])*(?:`|$)|//.*|/\*.*?(?:\*/|$)""")
_RUBY_STRING_OR_COMMENT = re.compile(r""""(?:\\.|[^"\\])*(?:"|$)|'(?:\\.|[^'\\])*(?:'|$)|\#.*""")


def _language(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(PYTHON_SUFFIXES):
        return "python"
    if name.endswith(JS_SUFFIXES):
        return "javascript"
    if name.endswith(RUBY_SUFFIXES) or name in RUBY_NAMES:
        return "ruby"
    return None


def _debugger_findings(file: ChangedFile, added: dict[int, str],
                       blobs: _BlobCache) -> list[Finding]:
    language = _language(file.path)
    if language is None:
        return []
    rules, strip = {
        "python": (_PYTHON_DEBUGGERS, _PY_STRING_OR_COMMENT),
        "javascript": (_JS_DEBUGGERS, _JS_STRING_OR_COMMENT),
        "ruby": (_RUBY_DEBUGGERS, _RUBY_STRING_OR_COMMENT),
    }[language]
    hits: dict[int, str] = {}
    for number, text in added.items():
        if _looks_like_prose(text, language):
            continue
        code = strip.sub('""', text)
        for pattern, name in rules:
            if pattern.search(code):
                hits[number] = name
                break
    if hits and language == "python":
        source = _staged_source(file, blobs)
        inside = _python_multiline_string_lines(source) if source is not None else set()
        hits = {n: name for n, name in hits.items() if n not in inside}
    return [_finding(file.path, n, added[n], "error", "debugger",
                     f"leftover debugger ({name}): remove it before committing")
            for n, name in sorted(hits.items())]


def _looks_like_prose(text: str, language: str) -> bool:
    """Doctest prompts and the inside of block comments (``* ...``)."""
    stripped = text.lstrip()
    if language == "python":
        return stripped.startswith((">>>", "... "))
    if language == "javascript":
        return stripped.startswith(("*", "/*"))
    return stripped.startswith("=begin")


def _python_multiline_string_lines(source: bytes) -> set[int]:
    """Lines 2..n of every multi-line string (docstrings) of the staged file.

    Only the whole file can be tokenized reliably (a window of it may start inside a string);
    when it cannot be tokenized, nothing is excluded: a false alarm beats a missed debugger.
    """
    import io
    import tokenize

    starts = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}
    ends = {tokenize.STRING, getattr(tokenize, "FSTRING_END", tokenize.STRING)}
    inside: set[int] = set()
    opened: list[int] = []
    try:
        for token in tokenize.tokenize(io.BytesIO(source).readline):
            if token.type in starts and token.type != tokenize.STRING:
                opened.append(token.start[0])
            elif token.type in ends:
                first = token.start[0] if token.type == tokenize.STRING else opened.pop()
                inside.update(range(first + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError, IndexError):
        return set()
    return inside


def _secret_findings(hunk: Hunk) -> list[Finding]:
    numbered = [*hunk.context_before, *hunk.new_side, *hunk.context_after]
    added = {number for number, _ in hunk.added}
    by_line: dict[int, tuple[int, set[str]]] = {}
    for kind, first, last in _secrets_by_line([text for _, text in numbered], hunk.path):
        lines = [numbered[i][0] for i in range(first, last + 1)
                 if numbered[i][0] in added and ALLOWLIST_PRAGMA not in numbered[i][1]]
        if lines:
            end, kinds = by_line.get(lines[0], (lines[-1], set()))
            by_line[lines[0]] = (max(end, lines[-1]), kinds | {kind})
    texts = dict(numbered)
    findings = []
    for line, (end, kinds) in sorted(by_line.items()):
        names = ", ".join(sorted(kinds))
        findings.append(_finding(
            hunk.path, line, redact_text(texts[line], path=hunk.path)[0], "error", "secret",
            f"possible secret ({names}) in an added line: remove it from the change, keep it in "
            "the environment or a secret store, and revoke it if it was ever pushed",
            end_line=end))
    return findings


def _secrets_by_line(lines: list[str], path: str) -> list[tuple[str, int, int]]:
    """(kind, index of first line, index of last line) of each secret in consecutive
    ``lines``, searched as one text so that a key block spanning lines is one secret."""
    text = "\n".join(lines)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return [(m.kind, bisect_right(starts, m.start) - 1, bisect_right(starts, m.end - 1) - 1)
            for m in find_secrets(text, path=path)
            if not (m.kind == "password-in-url" and text[m.start:m.end].lower() in PLACEHOLDER_PASSWORDS)]


# --- rules on the staged file ------------------------------------------------------------


def _syntax_findings(file: ChangedFile, blobs: _BlobCache, settings: Settings) -> list[Finding]:
    added = _added_lines(file.hunks)
    if not added:
        return []
    source = _staged_source(file, blobs)
    if source is None or (0 < settings.max_file_bytes < len(source)):
        return []
    error = _compile_error(source, file.path)
    if error is None:
        return []
    message, lineno = error
    anchor = _nearest(added, lineno)
    where = "" if anchor == lineno else f"line {lineno}, "
    text = f"Python syntax error: {message} ({where}{_python_version()})"
    return [_finding(file.path, anchor, added[anchor], "error", "syntax-error",
                     redact_text(text)[0])]


def _python_version() -> str:
    import sys

    return f"Python {sys.version_info.major}.{sys.version_info.minor}"


def _staged_source(file: ChangedFile, blobs: _BlobCache) -> bytes | None:
    """The new file, if what ``read_new_file`` gives agrees with the diff; else, for a new
    file, the file rebuilt from the diff (which then holds all of it)."""
    blob = blobs(file.path)
    if blob is not None and _agrees_with_diff(blob, file.hunks):
        return blob
    if file.status == "added" and file.old_path is None:
        lines = [text for hunk in file.hunks for _, text in hunk.new_side]
        return ("\n".join(lines) + "\n").encode("utf-8")
    return None


def _agrees_with_diff(blob: bytes, hunks: Sequence[Hunk]) -> bool:
    from aider_hooks.diff.source import decode_file_lines

    lines = decode_file_lines(blob)
    return all(number <= len(lines) and lines[number - 1] == text
               for hunk in hunks for number, text in hunk.new_side)


def _compile_error(source: bytes, path: str) -> tuple[str, int] | None:
    """(message, line) of the first syntax error, or None (also when the file cannot be read
    as Python text at all: undecodable, NUL bytes)."""
    import io
    import tokenize
    import warnings

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        text = source.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        return None
    if "\x00" in text:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning ("invalid escape sequence") is not ours
        try:
            compile(text, path, "exec", dont_inherit=True)
        except SyntaxError as err:
            line_count = text.count("\n") + 1
            return err.msg or "invalid syntax", min(max(err.lineno or 1, 1), line_count)
        except (ValueError, RecursionError, MemoryError):
            return None
    return None


def _nearest(added: dict[int, str], line: int) -> int:
    return min(added, key=lambda n: (abs(n - line), n))


def _large_file_findings(file: ChangedFile, blobs: _BlobCache, settings: Settings) -> list[Finding]:
    limit = settings.max_file_bytes
    if limit <= 0:
        return []
    blob = blobs(file.path)
    size = len(blob) if blob is not None else _size_from_diff(file.hunks)
    if size is None or size <= limit:
        return []
    added = _added_lines(file.hunks)
    anchor = 1 if 1 in added or not added else min(added)
    kind = "binary file" if file.is_binary else "file"
    return [_finding(file.path, anchor, added.get(anchor, ""), "warning", "large-file",
                     f"new {kind} of {_human_size(size)} (limit {_human_size(limit)}): large "
                     "files bloat every clone; store it elsewhere or with Git LFS, or raise "
                     "max-file-bytes")]


def _size_from_diff(hunks: Sequence[Hunk]) -> int | None:
    """A new text file's size, from its lines in the diff (no blob to measure)."""
    if not hunks:
        return None
    return sum(len(text.encode("utf-8")) + 1 for hunk in hunks for _, text in hunk.new_side)


def _human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"
