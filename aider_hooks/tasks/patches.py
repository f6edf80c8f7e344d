"""``aider-review fix``: findings' suggestions -> one unified diff -> (optionally) the work tree.

The patch is built against the reviewed version of each file (the staged blob for a staged
review) and applied with ``git apply`` to the work tree only: the index is never touched. Git
locates each hunk by its context, so unrelated unstaged edits elsewhere in a file do not stop
it; when a hunk no longer fits, ``git apply --check`` refuses and nothing is written.
Before writing, every file about to change is copied to ``.git/aider-review/backups/<time>/``
together with the patch, so ``git apply -R <that patch>`` undoes the fix.
"""
from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aider_hooks.errors import InputError
from aider_hooks.finding import Finding

CONTEXT = 3


@dataclass(frozen=True)
class Replacement:
    """New lines for a range of old ones, from a model's suggested fix."""
    start: int  # first line replaced, 1-based
    end: int  # last line replaced, inclusive
    new_lines: tuple[str, ...]  # without line endings


def build_patch(findings: Sequence[Finding], read_file: Callable[[str], bytes | None]) -> str:
    """One unified diff holding every applicable suggestion, or "" when there is none.

    Suggestions that overlap an earlier one in the same file, or whose ``code`` no longer
    matches the file, are left out rather than guessed at.
    """
    by_path: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.suggestion is not None:
            by_path.setdefault(finding.path, []).append(finding)
    parts = []
    for path in sorted(by_path):
        data = read_file(path)
        if data is None:
            continue
        text = data.decode("utf-8", errors="surrogateescape")
        # Split on "\n" only: context and removed lines keep a CRLF file's "\r" (git apply
        # matches bytes), and a form feed or U+2028 inside a line does not shift line numbers.
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        replacements = _replacements(by_path[path], lines, crlf="\r\n" in text)
        if replacements:
            parts.append(_file_diff(path, lines, replacements,
                                    ends_with_newline=text.endswith("\n")))
    return "".join(parts)


def _replacements(findings: list[Finding], lines: list[str], *, crlf: bool) -> list[Replacement]:
    chosen: list[Replacement] = []
    last_end = 0
    for finding in sorted(findings, key=lambda f: (f.line, f.end_line)):
        if finding.line <= last_end or finding.end_line > len(lines):
            continue
        if finding.code and lines[finding.line - 1].strip() != finding.code.strip():
            continue
        assert finding.suggestion is not None
        new = finding.suggestion.rstrip("\n").split("\n") if finding.suggestion else []
        new = [ln.rstrip("\r") + ("\r" if crlf else "") for ln in new]
        chosen.append(Replacement(finding.line, finding.end_line, tuple(new)))
        last_end = finding.end_line
    return chosen


def _file_diff(path: str, lines: list[str], replacements: list[Replacement], *,
               ends_with_newline: bool) -> str:
    from aider_hooks.diff.headers import quote_git_path

    old, new = quote_git_path("a/" + path), quote_git_path("b/" + path)
    out = [f"diff --git {old} {new}\n", f"--- {old}\n", f"+++ {new}\n"]
    shift = 0  # new-file line offset accumulated by earlier hunks
    for group in _group(replacements):
        old_start = max(1, group[0].start - CONTEXT)
        old_end = min(len(lines), group[-1].end + CONTEXT)
        body: list[str] = []
        cursor = old_start
        new_count = 0
        for rep in group:
            for n in range(cursor, rep.start):
                body.append(" " + lines[n - 1])
                new_count += 1
            body.extend("-" + lines[n - 1] for n in range(rep.start, rep.end + 1))
            body.extend("+" + ln for ln in rep.new_lines)
            new_count += len(rep.new_lines)
            cursor = rep.end + 1
        for n in range(cursor, old_end + 1):
            body.append(" " + lines[n - 1])
            new_count += 1
        old_count = old_end - old_start + 1
        new_start = old_start + shift
        out.append(f"@@ -{old_start},{old_count} +{new_start},{new_count} @@\n")
        out.extend(_with_eof_marker(body, touches_end=old_end == len(lines),
                                    ends_with_newline=ends_with_newline))
        shift += new_count - old_count
    return "".join(out)


def _group(replacements: list[Replacement]) -> list[list[Replacement]]:
    """Replacements whose context windows touch share one hunk."""
    groups: list[list[Replacement]] = []
    for rep in replacements:
        if groups and rep.start - groups[-1][-1].end <= 2 * CONTEXT + 1:
            groups[-1].append(rep)
        else:
            groups.append([rep])
    return groups


def _with_eof_marker(body: list[str], *, touches_end: bool, ends_with_newline: bool) -> list[str]:
    """Lines with newlines; a file that lacks a final newline keeps lacking it, as git expects."""
    rendered = [line + "\n" for line in body]
    if not touches_end or ends_with_newline:
        return rendered
    marker = "\\ No newline at end of file\n"
    last = len(body) - 1
    if body[last].startswith(" "):
        rendered[last] += marker  # the old and the new file end on the same context line
        return rendered
    # The replaced lines reach the end: mark the old last line ('-') and the new one ('+').
    old_last = max(i for i, line in enumerate(body) if line.startswith("-"))
    rendered[old_last] += marker
    if body[last].startswith("+"):
        rendered[last] += marker
    return rendered


def apply_patch(root: Path, patch: str) -> Path:
    """Apply ``patch`` to the work tree of ``root`` (never the index); return the backup folder.

    Raises InputError, and writes nothing, when ``git apply --check`` refuses the patch.
    """
    check = _git_apply(root, patch, "--check")
    if check.returncode != 0:
        stderr = check.stderr.decode(errors="replace")
        refused = _refused_files(stderr, patch)
        edited = [path for path in refused if path in _unstaged_paths(root)]
        if edited:
            raise InputError(_unstaged_edits_message(edited, _patched_files(patch)))
        reason = " ".join(stderr.split())[:300]
        raise InputError(f"the fix does not apply to the work tree, nothing was changed: {reason}")
    backup = _backup(root, patch)
    done = _git_apply(root, patch)
    if done.returncode != 0:  # pragma: no cover - --check just passed
        raise InputError(f"git apply failed: {done.stderr.decode(errors='replace').strip()}")
    return backup


def _patched_files(patch: str) -> list[str]:
    from aider_hooks.diff.headers import unquote_git_path

    return [unquote_git_path(line[len("+++ "):])[len("b/"):] for line in patch.split("\n")
            if line.startswith(('+++ b/', '+++ "b/'))]


def _refused_files(stderr: str, patch: str) -> list[str]:
    """The files of the patch that ``git apply --check`` names as not fitting."""
    named = {line.split(": ", 2)[1].rsplit(":", 1)[0] for line in stderr.splitlines()
             if line.startswith("error: ") and line.count(": ") >= 2}
    return [path for path in _patched_files(patch) if path in named]


def _unstaged_paths(root: Path) -> set[str]:
    from aider_hooks.diff.git import git_env

    listing = subprocess.run(["git", "-c", "core.quotepath=false", "diff", "--name-only", "-z"],
                             cwd=root, capture_output=True, env=git_env(), check=False)
    return {name.decode("utf-8", errors="surrogateescape")
            for name in listing.stdout.split(b"\0") if name}


def _unstaged_edits_message(edited: list[str], patched: list[str]) -> str:
    """Which files stopped the fix, and two ways on: the fix was made for the staged version
    of the files, and unstaged edits there moved or changed its lines."""
    import shlex

    shown = ", ".join(edited[:5]) + (f" and {len(edited) - 5} more" if len(edited) > 5 else "")
    others = [path for path in patched if path not in edited]
    limit = (f", or fix only the other files: aider-review fix --apply {shlex.join(others)}"
             if others else "")
    return (f"the fix does not apply, nothing was changed: {shown} "
            f"{'has' if len(edited) == 1 else 'have'} unstaged edits where it goes (the fix was "
            f"made for the staged version); stage them (git add) or set them aside "
            f"(git stash --keep-index) and run it again{limit}")


def _git_apply(root: Path, patch: str, *flags: str) -> subprocess.CompletedProcess[bytes]:
    from aider_hooks.diff.git import git_env

    return subprocess.run(
        ["git", "apply", "--whitespace=nowarn", *flags, "-"],
        cwd=root, input=patch.encode("utf-8", errors="surrogateescape"),
        capture_output=True, env=git_env(), check=False,
    )


def _backup(root: Path, patch: str) -> Path:
    from aider_hooks.diff.git import git_dir

    folder = git_dir(root) / "aider-review" / "backups" / time.strftime("%Y%m%d-%H%M%S")
    suffix = 0
    while folder.exists():
        suffix += 1
        folder = folder.with_name(f"{folder.name.split('.')[0]}.{suffix}")
    folder.mkdir(parents=True)
    from aider_hooks.diff.headers import unquote_git_path

    for line in patch.split("\n"):
        if line.startswith(('+++ b/', '+++ "b/')):
            rel = unquote_git_path(line[len("+++ "):])[len("b/"):]
            source = root / rel
            if source.is_file():
                target = folder / "files" / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(source.read_bytes())
    (folder / "fix.patch").write_text(patch, encoding="utf-8", errors="surrogateescape")
    return folder
