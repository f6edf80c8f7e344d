"""``debugger`` (error): ``breakpoint()``, ``pdb``/``ipdb``/``pudb`` ``set_trace()`` and their
imports, IPython ``embed`` in Python files; ``debugger`` statements in JavaScript/TypeScript;
``binding.pry``/``binding.irb``/``byebug``/``debugger`` in Ruby. Text in strings and comments
on the same line does not count; in Python, neither do lines inside a multi-line string
(checked with ``tokenize`` when a line looks suspect and the new file is at hand)."""
from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from aider_hooks.checks.common import PYTHON_SUFFIXES, added_by_line, staged_source
from aider_hooks.checks.context import CheckContext
from aider_hooks.checks.registry import Check
from aider_hooks.finding import Finding

JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts", ".vue", ".svelte")
RUBY_SUFFIXES = (".rb", ".rake", ".ru", ".gemspec", ".erb")
RUBY_NAMES = ("Rakefile", "Gemfile", "Guardfile", "Capfile")

Rules = tuple[tuple[tuple["re.Pattern[str]", str], ...], "re.Pattern[str]"]


@cache
def _rules() -> dict[str, Rules]:
    """Per language: (pattern, what to call it) per leftover debugger, matched on the line
    with its strings and comments removed, and the pattern of those strings and comments.
    Compiled on first use: a run whose files' results are remembered never needs them."""
    python_debuggers = (
        (re.compile(r"(?<![\w.])(?<!def )breakpoint\s*\("), "breakpoint()"),
        (re.compile(r"(?<!def )\bset_trace\s*\("), "set_trace()"),
        (re.compile(r"\b(?:i?pdb|pudb|pdbpp)\s*\.\s*post_mortem\s*\("), "post_mortem()"),
        (re.compile(r"^\s*(?:import\s+(?:[\w.]+\s*,\s*)*(?:i?pdb|pudb|pdbpp|web_pdb|remote_pdb)\b"
                    r"|from\s+(?:i?pdb|pudb|pdbpp|web_pdb|remote_pdb)\s+import\b)"),
         "debugger import"),
        (re.compile(r"\bpu\.db\b"), "pu.db"),
        (re.compile(r"^\s*from\s+IPython\s+import\s+(?:[\w\s,]*\b)?embed\b|\bIPython\.embed\s*\("),
         "IPython embed()"),
    )
    js_debuggers = ((re.compile(r"(?<![\w$.])debugger\s*(?:;|$)"), "debugger statement"),)
    ruby_debuggers = (
        (re.compile(r"(?<![\w.])binding\.(?:pry|irb|remote_pry|pry_remote|b)\b"), "binding.pry"),
        *((re.compile(rf"(?<![\w.:@$]){word}\b(?!\s*[=:?!(\[.])"), word)
          for word in ("byebug", "debugger")),
    )
    py_string_or_comment = re.compile(
        r"""[rRbBuUfF]{0,2}(?:"(?:\\.|[^"\\])*(?:"|$)|'(?:\\.|[^'\\])*(?:'|$))|\#.*""")
    js_string_or_comment = re.compile(
        r""""(?:\\.|[^"\\])*(?:"|$)|'(?:\\.|[^'\\])*(?:'|$)|`(?:\\.|[^`\\])*(?:`|$)|//.*|/\*.*?(?:\*/|$)""")
    ruby_string_or_comment = re.compile(
        r""""(?:\\.|[^"\\])*(?:"|$)|'(?:\\.|[^'\\])*(?:'|$)|\#.*""")
    return {
        "python": (python_debuggers, py_string_or_comment),
        "javascript": (js_debuggers, js_string_or_comment),
        "ruby": (ruby_debuggers, ruby_string_or_comment),
    }


def check_debuggers(ctx: CheckContext) -> Iterator[Finding]:
    for file in ctx.files:
        language = _language(file.path)
        if language is None or not file.hunks:
            continue
        added = added_by_line(file.hunks)
        rules, strip = _rules()[language]
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
            source = staged_source(file, ctx.read_new_file)
            inside = _python_multiline_string_lines(source) if source is not None else set()
            hits = {n: name for n, name in hits.items() if n not in inside}
        for n, name in sorted(hits.items()):
            yield ctx.finding(path=file.path, line=n, severity="error", category="debugger",
                              message=f"leftover debugger ({name}): remove it before committing",
                              code=added[n])


def _language(path: str) -> str | None:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(PYTHON_SUFFIXES):
        return "python"
    if name.endswith(JS_SUFFIXES):
        return "javascript"
    if name.endswith(RUBY_SUFFIXES) or name in RUBY_NAMES:
        return "ruby"
    return None


def _looks_like_prose(text: str, language: str) -> bool:
    """Doctest prompts and the inside of block comments (``* ...``)."""
    stripped = text.lstrip()
    if language == "python":
        return stripped.startswith((">>>", "... "))
    if language == "javascript":
        return stripped.startswith(("*", "/*"))
    return stripped.startswith("=begin")


def _python_multiline_string_lines(source: bytes) -> set[int]:
    """Lines 2..n of every multi-line string (docstrings) of the new file.

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


CHECK = Check("debugger", check_debuggers, per_file=True)
