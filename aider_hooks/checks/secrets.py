"""``secret`` (error): ``redact.find_secrets`` on the new side of each hunk (a key block may
span lines). The message names the kind, never the value, and ``Finding.code`` holds the line
with the secret redacted, so no report or cache ever repeats it. A line carrying
detect-secrets' ``pragma: allowlist secret`` comment is not reported (it is still redacted
before anything is sent)."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator

from aider_hooks.checks.context import CheckContext
from aider_hooks.checks.registry import Check
from aider_hooks.finding import Finding
from aider_hooks.hunk import Hunk
from aider_hooks.redact import find_secrets, redact_text

# detect-secrets' marker for a line that holds a known, harmless value (a test fixture): the
# line is still redacted before it is sent anywhere, but it is not reported.
ALLOWLIST_PRAGMA = "pragma: allowlist secret"
# A URL password that is the word "password" is documentation ("https://user:pass@host"): it
# is redacted like any other, but it is not reported.
PLACEHOLDER_PASSWORDS = frozenset({"pass", "password", "passwd", "pwd", "pw", "secret"})
# Kinds that redaction replaces to err on the safe side, but that say too little to block a
# commit: the fail-safe's random-looking value in no credential context (an ID, a hash, test
# data) is never sent, and never reported either.
NOT_REPORTED_KINDS = frozenset({"random-value"})
MESSAGE = ("possible secret ({names}) in an added line: remove it from the change, keep it in "
           "the environment or a secret store, and revoke it if it was ever pushed")


def check_secrets(ctx: CheckContext) -> Iterator[Finding]:
    for hunk in ctx.hunks:
        yield from _hunk_secrets(ctx, hunk)


def _hunk_secrets(ctx: CheckContext, hunk: Hunk) -> Iterator[Finding]:
    numbered = [*hunk.context_before, *hunk.new_side, *hunk.context_after]
    added = {number for number, _ in hunk.added_lines()}
    by_line: dict[int, tuple[int, set[str]]] = {}
    for kind, first, last in _secrets_by_line([text for _, text in numbered], hunk.path):
        lines = [numbered[i][0] for i in range(first, last + 1)
                 if numbered[i][0] in added and ALLOWLIST_PRAGMA not in numbered[i][1]]
        if lines:
            end, kinds = by_line.get(lines[0], (lines[-1], set()))
            by_line[lines[0]] = (max(end, lines[-1]), kinds | {kind})
    texts = dict(numbered)
    for line, (end, kinds) in sorted(by_line.items()):
        yield ctx.finding(path=hunk.path, line=line, end_line=end, severity="error",
                          category="secret", message=MESSAGE.format(names=", ".join(sorted(kinds))),
                          code=redact_text(texts[line], path=hunk.path)[0])


def _secrets_by_line(lines: list[str], path: str) -> list[tuple[str, int, int]]:
    """(kind, index of first line, index of last line) of each secret in consecutive
    ``lines``, searched as one text so that a key block spanning lines is one secret."""
    text = "\n".join(lines)
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return [(m.kind, bisect_right(starts, m.start) - 1, bisect_right(starts, m.end - 1) - 1)
            for m in find_secrets(text, path=path)
            if m.kind not in NOT_REPORTED_KINDS
            and not (m.kind == "password-in-url"
                     and text[m.start:m.end].lower() in PLACEHOLDER_PASSWORDS)]


CHECK = Check("secret", check_secrets, per_file=True)
