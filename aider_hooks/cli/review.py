"""``aider-review review|explain|fix``: pick the diff, run the engine, print, choose the exit code.

Exit codes (docs/cli.md): 0 nothing at or above --fail-on; 1 findings at or above it (for
``fix`` without --apply: fixes are available); 2 usage, configuration or input error; 3 the
model could not be reached and --strict was given. Without --strict an unreachable model never
blocks a commit: one line on stderr, and the cache and built-in checks decide.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from aider_hooks.cli.output import exit_code, write_report, write_report_pieces
from aider_hooks.errors import EXIT_MODEL_UNAVAILABLE, EXIT_OK, ConfigError, InputError

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TextIO

    from contextlib import AbstractContextManager

    from aider_hooks.diff.source import DiffSource, LoadedDiff
    from aider_hooks.engine import ReviewResult
    from aider_hooks.model.child_backend import SendingChild
    from aider_hooks.model.early_start import EarlyStart
    from aider_hooks.report import Report
    from aider_hooks.settings import Settings
    from aider_hooks.tasks.base import Task

PROG = "aider-review"
REMEMBERED_TASK = "review"  # the one task whose runs are remembered (cli/run_memo.py)


def run_review_command(args: argparse.Namespace) -> int:
    # A large diff's model requests go out from a child process, started while git is still
    # writing the diff (model/child_backend.py); ended here if the run ends before it is used.
    from aider_hooks.model.early_start import EarlyStart

    # --dry-run and --offline send nothing: no child (settings files may say so too, known
    # later: such a child is ended as soon as they are read).
    sends_nothing = getattr(args, "dry_run", None) or getattr(args, "offline", None)
    early = EarlyStart(enabled=not sends_nothing)
    try:
        return _review_command(args, early)
    finally:
        early.claim_none()


def _review_command(args: argparse.Namespace, early: EarlyStart) -> int:
    cwd = Path.cwd()
    source = _diff_source(args)
    root = _repo_root(source, cwd)
    hook = bool(getattr(args, "hook", False))
    if hook and root is not None:
        source = hook_source(root, cwd, args.paths)
    staged: bytes | None = None  # the staged diff, when it was read to see if there is one
    if source.kind == "staged" and root is not None:
        from aider_hooks.diff import git

        # The common case on `git commit --allow-empty` etc.: cost nothing. Unless a report was
        # asked for on the command line: a JSON reader or an --output file gets an empty one.
        # Without PATHs the diff itself answers (one git process, not two, for a review).
        wants_report = args.output is not None or args.format not in (None, "text")
        if not args.paths:
            staged = git.staged_diff(root, on_output=early.watch)
        if not wants_report and not (staged if staged is not None
                                     else git.has_staged_changes(root)):
            if args.verbose and not args.quiet:
                _say_nothing_staged()
            return EXIT_OK

    from aider_hooks.cli.options import settings_from_args
    from aider_hooks.diff.source import load_diff
    from aider_hooks.tasks import get_task

    settings = settings_from_args(args, root)
    # `review` (no model needed, a report printed) may replay a remembered run, so its task
    # module and the prompts it imports load only when the review really runs.
    task = get_task(args.task) if args.task != REMEMBERED_TASK else None
    if task is not None and task.needs_model and not settings.model_configured \
            and not settings.dry_run:
        raise ConfigError(f"`{task.name}` needs a model: set OPENAI_API_KEY, or OPENAI_BASE_URL "
                          "for a local server (e.g. http://localhost:11434/v1 for Ollama)")
    if task is not None and task.output != "report":
        settings = _plain_text_only(task, args, settings)
    diff = load_diff(source, cwd=cwd, paths=args.paths, root=root,  # paths: repo-relative
                     staged=staged, on_output=early.watch)
    sending = early.claim(diff, settings, streams=task is not None and task.streams)
    memo = None
    try:
        if task is None:
            from aider_hooks.cli.run_memo import open_run_memo

            started = time.monotonic()
            memo = open_run_memo(args, source, settings, diff)
            remembered = memo.recall() if memo is not None else None
            if remembered is not None and diff.root is not None:
                return _replay(remembered, settings, diff.root, hook, started)
            task = get_task(args.task)
        result = _run_task(diff, settings, list(diff.paths), task, sending)
        if memo is not None:
            memo.remember(result.report)
        if settings.dry_run:
            write_report_pieces(settings, dry_run_pieces(result, settings))
            return EXIT_OK
        _print_notices(result.report, settings)
        if task.output != "report":
            _print_failed(result, settings)  # no report is printed: say which hunks failed
        if task.output == "patch":
            return _finish_fix(args, diff, result, settings, root or cwd)
    finally:
        if sending is not None:
            sending.close()
        diff.close()
    if task.output == "report":
        _print_report(result.report, settings, hook)
    return exit_code(result.report, fail_on=settings.fail_on if task.output == "report" else "never",
                     strict=settings.strict)


def _replay(report: Report, settings: Settings, root: Path, hook: bool, started: float) -> int:
    """Print a remembered run's report as the run would (cli/run_memo.py), redoing its one
    side effect: the last findings that `aider-review feedback` looks up."""
    from aider_hooks.knowledge.last_findings import record_last_findings

    record_last_findings(root, report.findings, report.notices.append)
    report.stats.elapsed_s = time.monotonic() - started
    _print_notices(report, settings, remembered=True)
    _print_report(report, settings, hook)
    return exit_code(report, fail_on=settings.fail_on, strict=settings.strict)


def _print_report(report: Report, settings: Settings, hook: bool) -> None:
    from aider_hooks.reporters import render

    if settings.format == "text" and settings.quiet:
        from aider_hooks.reporters.text import render_text
        from aider_hooks.reporters.view import ReportView

        # -q: findings (and failed hunks) only, no summary line; nothing when clean.
        text = render_text(ReportView.of(report), color=_use_color(settings), summary=False)
        if text or settings.output:
            write_report(settings, text)
    elif not (hook and settings.format == "text" and not report.findings
              and not report.failed and not settings.output):
        write_report(settings, render(report, settings.format, color=_use_color(settings),
                                      warn=lambda line: _notice(settings, line)))


def _diff_source(args: argparse.Namespace) -> DiffSource:
    from aider_hooks.diff.source import DiffSource

    # `is not None`: an empty `--range "$UNSET"` is an error, not a silent staged review.
    if args.rev_range is not None:
        return DiffSource("range", args.rev_range)
    if args.diff_file is not None:
        return DiffSource("stdin" if args.diff_file == "-" else "file", args.diff_file)
    if getattr(args, "worktree", False):
        return DiffSource("worktree", None)
    return DiffSource("staged", None)


def hook_source(root: Path, cwd: Path, paths: list[str]) -> DiffSource:
    """What a pre-commit hook reviews, from what pre-commit tells it (``--hook``):

    1. ``PRE_COMMIT_FROM_REF`` and ``PRE_COMMIT_TO_REF`` set (``pre-commit run --from-ref A
       --to-ref B``, and every pre-push run): the range ``A...B``, the changes on B since it
       forked from A, as pre-commit itself computes the files it passes; ``A..B`` when the two
       share no history (pre-commit falls back the same way).
    2. No file named, or every named file staged (a commit: pre-commit passes the staged
       files): the staged changes.
    3. Otherwise (``--all-files``, ``--files``: pre-commit names files that are not staged):
       the named files' whole work-tree content, as if each were added.
    """
    from aider_hooks.diff import git
    from aider_hooks.diff.source import DiffSource, repo_relative_paths

    left = os.environ.get("PRE_COMMIT_FROM_REF") or os.environ.get("PRE_COMMIT_ORIGIN")
    right = os.environ.get("PRE_COMMIT_TO_REF") or os.environ.get("PRE_COMMIT_SOURCE")
    if left and right:
        joint = "..." if git.merge_base_exists(root, left, right) else ".."
        return DiffSource("range", f"{left}{joint}{right}")
    if not paths:
        return DiffSource("staged", None)
    staged = git.staged_paths(root)
    named = repo_relative_paths(paths, cwd=cwd, root=root)
    if staged and all(path in staged for path in named):
        return DiffSource("staged", None)
    return DiffSource("files", None)


def _say_nothing_staged() -> None:
    print(f"{PROG}: nothing staged: nothing to review. Review unstaged changes with "
          "--worktree, commits with --range main...HEAD, or a saved diff with --diff FILE",
          file=sys.stderr)


def _repo_root(source: DiffSource, cwd: Path) -> Path | None:
    from aider_hooks.diff.git import find_repo_root

    if source.kind in ("staged", "range", "worktree"):
        return find_repo_root(cwd)
    try:
        return find_repo_root(cwd)
    except InputError:
        return None  # a diff file can be reviewed anywhere


def _run_task(diff: LoadedDiff, settings: Settings, paths: list[str], task: Task,
              sending_child: SendingChild | None) -> ReviewResult:
    from aider_hooks.cli.output import StreamedAnswers
    from aider_hooks.engine import review_diff

    # No progress line for a streaming task: its answers stream to the same terminal.
    progress = _progress_printer(settings) if not task.streams else None
    with _stream_target(settings, task) as stream_to:
        listener = StreamedAnswers(stream_to) if stream_to is not None else None
        return review_diff(diff, settings, paths=paths, task=task, listener=listener,
                           progress=progress, sending_child=sending_child)


def _stream_target(settings: Settings, task: Task) -> AbstractContextManager[TextIO | None]:
    """Where a streaming task writes: --output (a dry run prints prompts instead), else stdout."""
    from contextlib import nullcontext

    if not task.streams:
        return nullcontext(None)
    if not settings.output or settings.dry_run:
        return nullcontext(sys.stdout)
    try:
        return open(settings.output, "w", encoding="utf-8", errors="backslashreplace")
    except OSError as err:
        raise InputError(f"cannot write {settings.output}: {err.strerror}") from None


def _finish_fix(args: argparse.Namespace, diff: LoadedDiff, result: ReviewResult,
                settings: Settings, root: Path) -> int:
    from aider_hooks.cli.output import print_or_apply_patch
    from aider_hooks.diff.git import is_safe_repo_path
    from aider_hooks.tasks.patches import build_patch

    def read_file(path: str) -> bytes | None:
        data = diff.read_new_file(path)
        # A diff file is untrusted: "../x" must not pull a file from outside the repository.
        if data is None and is_safe_repo_path(path) and (root / path).is_file():
            data = (root / path).read_bytes()
        return data

    patch = build_patch(result.report.findings, read_file)
    if result.report.model_unavailable and settings.strict:
        return EXIT_MODEL_UNAVAILABLE
    if not patch:
        stats = result.report.stats
        if not stats.failed:
            _notice(settings, "no fixes to suggest")
        elif stats.reviewed:
            # Never "no fixes" about hunks the model did not see.
            _notice(settings, f"no fixes to suggest for the {stats.reviewed} hunk(s) the model "
                              f"saw; {stats.failed} hunk(s) failed (see above)")
        else:
            _notice(settings, f"no fixes: the model saw none of the {stats.failed} hunk(s)")
        return EXIT_OK
    return print_or_apply_patch(settings, root, patch, apply=args.apply, what="the fixes")


def format_dry_run(result: ReviewResult, settings: Settings | None = None) -> str:
    return "".join(dry_run_pieces(result, settings))


def dry_run_pieces(result: ReviewResult, settings: Settings | None = None) -> Iterator[str]:
    """The --dry-run output a request at a time (``write_report_pieces``): the whole output of
    a huge change is several times the diff, and never needs to be in memory at once."""
    from aider_hooks.tasks.prompts import visible_text  # a path may hold a newline

    requests = result.requests
    total = sum(r.estimated_tokens for r in requests)
    lines = [f"{PROG} --dry-run: {len(requests)} request(s), ~{total:,} prompt tokens "
             f"({result.report.stats.redacted} secret(s) redacted); nothing was sent."]
    if settings is not None and result.routes:
        from aider_hooks.model.routing import dry_run_estimates

        lines.extend(dry_run_estimates(result.requests, result.routes, result.over_budget,
                                       settings))
    yield "".join(f"{line}\n" for line in lines)
    cut = set(result.over_budget)
    for number, request in enumerate(requests, 1):
        model = f", model {result.routes[number - 1].label}" if result.routes else ""
        skipped = " NOT SENT: over the budget" if number - 1 in cut else ""
        yield (f"=== request {number}/{len(requests)}: {visible_text(request.path)} "
               f"({len(request.hunks)} hunk(s), ~{request.estimated_tokens:,} tokens"
               f"{model}){skipped} ===\n")
        for message in request.messages:
            yield f"--- {message['role']} ---\n"
            yield message["content"]
            yield "\n"


def _print_notices(report: Report, settings: Settings, *, remembered: bool = False) -> None:
    for notice in report.notices:
        _notice(settings, notice)
    if settings.verbose:
        _notice(settings, _what_happened(report, settings)
                + ("; a remembered run, replayed" if remembered else ""))


def _what_happened(report: Report, settings: Settings) -> str:
    """The -v line: where the review went and what it cost."""
    from aider_hooks.model.retry import endpoint_label

    stats = report.stats
    if settings.model_configured and not settings.offline:
        # Configured, even when nothing was left to send (all cached, skipped, or no hunk).
        model = f"model {settings.model} at {endpoint_label(settings.base_url)}"
        if report.model is None:
            model += " (nothing sent)" if not stats.hunks else " (not asked: built-in checks only)"
    elif settings.offline:
        model = "offline (built-in checks only)"
    else:
        model = "no model (built-in checks only)"
    return (f"{model}; {stats.files} file(s), {stats.hunks} hunk(s): {stats.reviewed} reviewed "
            f"({stats.cached} from the cache), {stats.failed} failed, {stats.skipped} skipped; "
            f"{stats.requests} request(s), {stats.prompt_tokens}+{stats.completion_tokens} "
            f"tokens; {stats.redacted} secret(s) redacted; {stats.dropped_unanchored} finding(s) "
            f"dropped as off the diff; {stats.elapsed_s:.2f} s")


def _print_failed(result: ReviewResult, settings: Settings) -> None:
    """One stderr line per hunk the model could not handle, even with -q: it is a result.

    The reason is said once: an unreachable model's long message is already the one notice
    line (unless -q hid it), so each hunk then only says that it was not seen."""
    from aider_hooks.masking import mask_secrets
    from aider_hooks.reporters import location, printable

    said = set() if settings.quiet else {" ".join(n.split())[:300] for n in result.report.notices}
    for hunk in result.report.failed:
        where = printable(location(hunk.path, hunk.line, hunk.end_line)).replace("\n", "\\n")
        if hunk.reason in said:
            reason = "not seen by the model (see above)"
        else:
            reason = mask_secrets(hunk.reason, [settings.api_key])
        print(f"{PROG}: {where}: failed: {reason}", file=sys.stderr)


def _plain_text_only(task: Task, args: argparse.Namespace, settings: Settings) -> Settings:
    """explain writes plain text and fix a unified diff: neither is a report, so a report
    format is refused rather than written as prose into, say, a SARIF file. A format from a
    config file (meant for review) is ignored, unless an output file would get the text."""
    from dataclasses import replace

    if settings.format == "text":
        return settings
    what = "plain text" if task.output != "patch" else "a unified diff"
    if args.format is not None or settings.output:
        raise InputError(f"`{task.name}` writes {what}, not {settings.format}: --format is "
                         f"for review (drop --format, or set format = \"text\")")
    return replace(settings, format="text")


def _notice(settings: Settings, message: str) -> None:
    if not settings.quiet:
        from aider_hooks.masking import mask_secrets

        print(f"{PROG}: {mask_secrets(message, [settings.api_key])}", file=sys.stderr)


def _use_color(settings: Settings) -> bool:
    return (settings.format == "text" and not settings.output and sys.stdout.isatty()
            and "NO_COLOR" not in os.environ)


def _progress_printer(settings: Settings):  # type: ignore[no-untyped-def]
    """A callback drawing `n/total` on a TTY's stderr for runs with many requests, else None."""
    if settings.quiet or not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        if total < 4:
            return
        end = "\r\033[K" if done == total else ""
        sys.stderr.write(f"\r{PROG}: {done}/{total} requests{end}")
        sys.stderr.flush()

    return show
