"""PEM private-key blocks, whole or cut by the hunk's edge; certificates and public keys are
returned as exempt ranges (their bodies are not secret)."""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator

from aider_hooks.redact.common import B64, SecretMatch


_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40}?)-----")
_PEM_END = re.compile(r"-----END ([A-Z0-9 ]{1,40}?)-----")
_PEM_WINDOW = 20_000  # a 4096-bit RSA key is ~3.3 kB; PGP private key blocks ~7 kB
# Key material after a BEGIN (or before an END) on the marker's own line: JSON "\n" escapes.
_PEM_SAME_LINE = re.compile(rf"(?:\\[nr]|[{B64}=])*")
_PEM_BEFORE_END = re.compile(rf"[ \t\"'`]*(?:\\[nr]|[{B64}=])+")
# One body line: base64 (16+ characters), maybe quoted, indented or with "\n" escapes, or a
# header such as "Proc-Type: 4,ENCRYPTED". The last line of a body may be short.
_PEM_BODY_LINE = re.compile(
    rf"[ \t\"'`+,]*(?:(?:\\[nr])*[{B64}]{{16,}}={{0,2}}(?:\\[nr])*"
    rf"|(?:Proc-Type|DEK-Info|Comment|Version|Hash):.*)[ \t\"'`+,;\\]*")
_PEM_LAST_LINE = re.compile(rf"[ \t\"'`+,]*(?:\\[nr])*[{B64}]+={{0,2}}(?:\\[nr])*[ \t\"'`+,;\\]*")
_PEM_FULL_WIDTH = 60  # body lines are 64 (PEM) or 70 (OpenSSH) characters wide


def pem_blocks(text: str) -> tuple[list[SecretMatch], list[tuple[int, int]]]:
    """Private-key blocks (secrets) and public blocks (certificates, public keys: exempt)."""
    begins = list(_PEM_BEGIN.finditer(text))
    ends = list(_PEM_END.finditer(text))
    end_starts = [m.start() for m in ends]
    secrets: list[SecretMatch] = []
    exempt: list[tuple[int, int]] = []
    pos = 0
    for index, begin in enumerate(begins):
        if begin.start() < pos:
            continue  # inside the previous block
        next_begin = begins[index + 1].start() if index + 1 < len(begins) else len(text)
        at = bisect_right(end_starts, begin.end() - 1)
        end = ends[at] if at < len(ends) else None
        if end is not None and end.start() < min(next_begin, begin.end() + _PEM_WINDOW):
            pos = end.end()
        else:
            pos = _body_forward(text, begin.end())
        if "PRIVATE KEY" in begin.group(1):
            secrets.append(SecretMatch("private-key", begin.start(), pos))
        else:
            exempt.append((begin.start(), pos))
    # An END before any BEGIN: the text (a hunk) starts inside a key.
    first_begin = begins[0].start() if begins else len(text)
    if ends and ends[0].start() < first_begin and "PRIVATE KEY" in ends[0].group(1):
        secrets.append(SecretMatch("private-key", _body_backward(text, ends[0].start()),
                                   ends[0].end()))
    return secrets, exempt


def _body_forward(text: str, pos: int) -> int:
    """End of the key body that starts at ``pos`` (rest of the marker's line, then body lines)."""
    same_line = _PEM_SAME_LINE.match(text, pos)
    stop = same_line.end() if same_line else pos
    full_width = False
    for start, end in _following_lines(text, stop):
        if _PEM_BODY_LINE.fullmatch(text, start, end):
            stop, full_width = end, end - start >= _PEM_FULL_WIDTH
            continue
        if full_width and _PEM_LAST_LINE.fullmatch(text, start, end):
            stop = end
        break
    return stop


def _body_backward(text: str, pos: int) -> int:
    """Start of the key body that ends at ``pos`` (an END marker whose BEGIN is not in the text)."""
    line_start = text.rfind("\n", 0, pos) + 1
    start = line_start if _PEM_BEFORE_END.fullmatch(text, line_start, pos) else pos
    pattern = _PEM_LAST_LINE  # the line just before END may be a short last line
    while line_start > 0:
        prev_start = text.rfind("\n", 0, line_start - 1) + 1
        if not pattern.fullmatch(text, prev_start, line_start - 1):
            break
        start = line_start = prev_start
        pattern = _PEM_BODY_LINE
    return start


def _following_lines(text: str, pos: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each line after the one holding ``pos``."""
    newline = text.find("\n", pos)
    while newline != -1:
        start = newline + 1
        newline = text.find("\n", start)
        yield start, (len(text) if newline == -1 else newline)
