"""``syntax-error`` (error): the new (staged) version of each changed Python file is compiled
(``compile(..., "exec")`` under the running interpreter, so the message names its version).

The file comes from ``read_new_file``, and is used only when every new-side line of the diff
agrees with it (a work tree that moved on since a saved diff was made proves nothing); a new
file is rebuilt from the diff when it cannot be read. A PEP 263 coding declaration is
honoured; a file that does not decode, or holds NUL bytes, or is larger than
``max-file-bytes``, is skipped. When the error's line is not an added line, the finding goes
on the nearest added line of the file and the message gives the real line number.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator

from aider_hooks.checks.common import PYTHON_SUFFIXES, added_by_line, staged_source
from aider_hooks.checks.context import CheckContext
from aider_hooks.checks.registry import Check
from aider_hooks.finding import Finding
from aider_hooks.redact import redact_text


def check_syntax(ctx: CheckContext) -> Iterator[Finding]:
    limit: int = ctx.options["max_file_bytes"]
    for file in ctx.files:
        if not file.path.endswith(PYTHON_SUFFIXES):
            continue
        added = added_by_line(file.hunks)
        if not added:
            continue
        source = staged_source(file, ctx.read_new_file)
        if source is None or (0 < limit < len(source)):
            continue
        error = _compile_error(source, file.path)
        if error is None:
            continue
        message, lineno = error
        anchor = min(added, key=lambda n: (abs(n - lineno), n))
        where = "" if anchor == lineno else f"line {lineno}, "
        version = f"Python {sys.version_info.major}.{sys.version_info.minor}"
        text = f"Python syntax error: {message} ({where}{version})"
        yield ctx.finding(path=file.path, line=anchor, severity="error", category="syntax-error",
                          message=redact_text(text)[0], code=added[anchor])


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


# needs_file: a pull request's diff from the API has no file to compile.
CHECK = Check("syntax-error", check_syntax, needs_file=True, options=("max_file_bytes",),
              per_file=True)
