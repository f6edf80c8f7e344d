"""What the command line writes: reports to a file or standard output, streamed answers, and
the one rule that turns a report into an exit code."""
from __future__ import annotations

import sys
from pathlib import Path

from aider_hooks.errors import EXIT_FINDINGS, EXIT_MODEL_UNAVAILABLE, EXIT_OK, InputError

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TextIO

    from aider_hooks.report import Report
    from aider_hooks.settings import Settings
    from aider_hooks.tasks.prompts import PromptRequest


def exit_code(report: Report, *, fail_on: str, strict: bool) -> int:
    """3 when the model could not be reached and --strict was given; else 1 when a finding is
    at or above ``fail_on``; else 0 (exit codes in docs/cli.md)."""
    from aider_hooks.finding import at_or_above

    if report.model_unavailable and strict:
        return EXIT_MODEL_UNAVAILABLE
    return EXIT_FINDINGS if at_or_above(report.findings, fail_on) else EXIT_OK


def write_report(settings: Settings, text: str, *, patch: bool = False) -> None:
    """The report to --output, or to standard output.

    A patch is written as the bytes of the files it changes (undecodable bytes travel as
    surrogates and go back out unchanged), or ``git apply`` would not find its context lines.
    Other reports escape what they cannot encode, as standard output does.
    """
    write_report_pieces(settings, (text,), patch=patch)


def write_report_pieces(settings: Settings, pieces: Iterable[str], *,
                        patch: bool = False) -> None:
    """``write_report`` of the text the pieces make together, written a piece at a time: a
    --dry-run of a huge change never holds its whole output (and an encoded copy) at once."""
    errors = "surrogateescape" if patch else "backslashreplace"
    if settings.output:
        try:
            with open(settings.output, "wb") as file:
                for piece in pieces:
                    file.write(piece.encode("utf-8", errors=errors))
        except OSError as err:
            raise InputError(f"cannot write {settings.output}: {err.strerror}") from None
        return
    out: TextIO = sys.stdout
    out.flush()
    buffer = getattr(out, "buffer", None)
    for piece in pieces:
        data = piece.encode("utf-8", errors=errors)
        if buffer is None:  # a text-only stream put in place of sys.stdout by an embedding
            out.write(data.decode("utf-8", errors="replace"))
        else:
            buffer.write(data)
    if buffer is not None:
        buffer.flush()


def notice(settings: Settings, message: str) -> None:
    """One line on stderr, unless -q; our own key never appears in it."""
    if not settings.quiet:
        from aider_hooks.masking import mask_secrets
        from aider_hooks.reporters import printable

        print(f"aider-review: {mask_secrets(printable(message), [settings.api_key])}",
              file=sys.stderr)


def print_or_apply_patch(settings: Settings, root: Path, patch: str, *, apply: bool,
                         what: str) -> int:
    """``fix`` and ``generate``: print the patch (exit 1: changes are available) or, with
    --apply, write it to the work tree after ``git apply --check``, with a backup and the
    command that undoes it (exit 0). The index is never touched."""
    if not apply:
        write_report(settings, patch, patch=True)
        return EXIT_FINDINGS
    import shlex

    from aider_hooks.tasks.patches import apply_patch

    backup = apply_patch(root, patch)
    # `git -C root`: from a subdirectory, a plain `git apply -R` skips files outside it.
    undo = shlex.join(["git", "-C", str(root), "apply", "-R", str(backup / "fix.patch")])
    notice(settings, f"applied {what} to the work tree (the index is untouched); "
                     f"to undo: {undo}")
    return EXIT_OK


class StreamedAnswers:
    """Prints a streaming task's answers as they arrive, each under a header naming its hunks.

    Model text is shown with control characters escaped (colours, cursor moves, OSC 52
    clipboard writes), so an answer only ever becomes text on the terminal.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._current: PromptRequest | None = None

    def text(self, request: PromptRequest, piece: str) -> None:
        from aider_hooks.reporters import printable

        if self._current is not request:  # the header only once there is something under it
            self._current = request
            self.out.write(_answer_header(request))
        self.out.write(printable(piece))
        self.out.flush()

    def done(self, request: PromptRequest) -> None:
        if self._current is request:
            self.out.write("\n")
            self.out.flush()
            self._current = None


def _answer_header(request: PromptRequest) -> str:
    """Which hunks the answer that follows is about, e.g. "== app.py: lines 3-9, 40-41 =="."""
    from aider_hooks.reporters import printable

    spans = ", ".join(f"{h.first_line}-{h.last_line}" for h in request.hunks)
    return f"\n== {printable(request.path)}: lines {spans} ==\n"
