"""``aider-review commit-msg [MSG_FILE [SOURCE [SHA]]]``: git's prepare-commit-msg hook.

With MSG_FILE (as git, or pre-commit, runs it) the message goes into that file, above what git
put there, but only when git left nothing to keep: the file holds only comments and blank lines
and SOURCE is empty or ``template``. A message given with ``-m``/``-F`` (SOURCE ``message``),
a merge, a squash or an amend/``-c`` (``commit``) leaves the file untouched. This mode never
blocks a commit: whatever goes wrong (no model, the model unreachable, a bad setting, a bug)
is one line on stderr, the file stays as git left it, and the exit code is 0.

Without MSG_FILE the message is printed (or written to ``--output``); errors then have the
usual exit codes (docs/cli.md).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aider_hooks.errors import EXIT_MODEL_UNAVAILABLE, EXIT_OK, ConfigError

if TYPE_CHECKING:
    from aider_hooks.hunk import Hunk
    from aider_hooks.settings import Settings
    from aider_hooks.tasks.runner import Question

PROG = "aider-review"
# SOURCE values after which git's file holds no message of the user's to keep.
WRITES_FOR = ("", "template")
# A change larger than this (estimated tokens of the rendered diff) is summarised: the file
# list with line counts first, then as many hunks as still fit.
MAX_DIFF_TOKENS = 6000
# Comment characters git may choose with core.commentChar=auto.
_AUTO_COMMENT_CHARS = "#;@!$%^&|:"
_SCISSORS = "------------------------ >8 ------------------------"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aider_hooks.cli.options import add_common_options

    parser.add_argument("msg_file", nargs="?", metavar="MSG_FILE",
                        help="the commit message file git passes to the hook; without it the "
                             "message is printed")
    parser.add_argument("source", nargs="?", metavar="SOURCE",
                        help="git's message source: empty, template, message, merge, squash or "
                             "commit (under pre-commit: $PRE_COMMIT_COMMIT_MSG_SOURCE)")
    parser.add_argument("sha", nargs="?", metavar="SHA",
                        help="the commit of an amend or -c (ignored)")
    add_common_options(parser)


def run(args: argparse.Namespace) -> int:
    if args.msg_file is None:
        return _print_message(args)
    try:
        return _fill_message_file(args)
    except KeyboardInterrupt:
        raise
    except Exception as err:  # noqa: BLE001 - a hook that writes a message never blocks a commit
        from aider_hooks.masking import mask_secrets

        detail = " ".join(str(err).split())[:300] or type(err).__name__
        print(f"{PROG}: commit-msg: {mask_secrets(detail)}; the commit message was left as it "
              "is", file=sys.stderr)
        return EXIT_OK


def _fill_message_file(args: argparse.Namespace) -> int:
    source = args.source if args.source is not None else os.environ.get(
        "PRE_COMMIT_COMMIT_MSG_SOURCE", "")
    if source not in WRITES_FOR:
        return EXIT_OK  # -m, -F, merge, squash, amend: the message is the user's
    path = Path(args.msg_file)
    original = path.read_bytes().decode("utf-8", errors="surrogateescape")
    from aider_hooks.diff.git import find_repo_root, has_staged_changes

    root = find_repo_root(Path.cwd())
    if not only_comments(original, comment_chars(root)):
        return EXIT_OK  # a message is already there (e.g. a template with text)
    if not has_staged_changes(root):
        return EXIT_OK  # --allow-empty: nothing to describe
    settings = _settings(args, root)
    if not settings.model_configured and not settings.dry_run:
        _say(settings, "commit-msg: no model configured (set OPENAI_API_KEY, or OPENAI_BASE_URL "
                       "for a local server); the commit message was left as it is", force=True)
        return EXIT_OK
    message, _ = _generate(settings, root)
    if message is None:
        return EXIT_OK  # a dry run printed the request, or the model could not be reached
    text = message + ("\n" + original.lstrip("\n") if original.strip() else "")
    path.write_bytes(text.encode("utf-8", errors="surrogateescape"))
    return EXIT_OK


def _print_message(args: argparse.Namespace) -> int:
    from aider_hooks.cli.output import write_report
    from aider_hooks.diff.git import find_repo_root, has_staged_changes

    root = find_repo_root(Path.cwd())
    settings = _settings(args, root)
    if not settings.model_configured and not settings.dry_run:
        raise ConfigError("`commit-msg` needs a model: set OPENAI_API_KEY, or OPENAI_BASE_URL "
                          "for a local server (e.g. http://localhost:11434/v1 for Ollama)")
    if not has_staged_changes(root):
        _say(settings, "commit-msg: nothing staged")
        return EXIT_OK
    message, unavailable = _generate(settings, root)
    if message is not None:
        write_report(settings, message)
    if unavailable and settings.strict:
        return EXIT_MODEL_UNAVAILABLE
    return EXIT_OK


def _settings(args: argparse.Namespace, root: Path) -> Settings:
    from aider_hooks.cli.options import settings_from_args

    return settings_from_args(args, root)


def _generate(settings: Settings, root: Path) -> tuple[str | None, bool]:
    """The message, or None (after one stderr line, or a printed dry run); and whether the
    model could not be reached."""
    from aider_hooks.errors import ModelError, ModelUnavailable
    from aider_hooks.tasks import commit_msg
    from aider_hooks.tasks.runner import TaskRunner, format_dry_run, one_line

    question, redacted = build_question(settings, root)
    if settings.dry_run:
        from aider_hooks.cli.output import write_report

        write_report(settings, format_dry_run([question], redacted))
        return None, False
    with TaskRunner(settings, commit_msg.TASK) as runner:
        try:
            message = runner.ask(question.messages,
                                 lambda text: commit_msg.read_commit_message(
                                     text, settings.commit_style),
                                 json_mode=False)
        except ModelUnavailable as err:
            _say(settings, f"commit-msg: {one_line(str(err))}; no message was written",
                 force=True)
            return None, True
        except ModelError as err:
            _say(settings, f"commit-msg: {one_line(str(err))}; no message was written",
                 force=True)
            return None, False
        finally:
            for warning in runner.warnings:
                _say(settings, warning)
    return message, False


def build_question(settings: Settings, root: Path) -> tuple[Question, int]:
    """The request for the staged diff (redacted, cut to size) and how many secrets were
    redacted."""
    from aider_hooks.diff.parse import parse_diff
    from aider_hooks.diff.source import DiffSource, load_diff
    from aider_hooks.tasks import commit_msg
    from aider_hooks.tasks.prompts import estimate_tokens, render_block_body
    from aider_hooks.tasks.runner import Question, messages_for, redact, redact_hunks

    diff = load_diff(DiffSource("staged"), cwd=root, root=root)
    try:
        hunk_set = parse_diff(diff.text, settings=settings, read_new_file=diff.read_new_file)
    finally:
        diff.close()
    hunks, redacted, _left_out = redact_hunks(list(hunk_set.hunks), settings)
    body = render_block_body(hunks)
    if estimate_tokens(body) > MAX_DIFF_TOKENS or not hunks:
        stat, count = redact(staged_stat(root), settings)
        redacted += count
        summary = ("### Summary of the staged change (git diff --cached --stat)\n"
                   + "\n".join(f"    {line}" for line in stat.splitlines()))
        budget = MAX_DIFF_TOKENS - estimate_tokens(summary)
        shown: list[Hunk] = []
        for hunk in hunks:
            cost = estimate_tokens(render_block_body([hunk])) + 10
            if cost > budget:
                break
            shown.append(hunk)
            budget -= cost
        body = summary
        if shown:
            body += ("\n### The first hunks of the change\n"
                     + render_block_body(shown))
    instructions = commit_msg.instructions(settings.commit_style, settings.language)
    return Question("commit message", messages_for(commit_msg.TASK, body,
                                                   instructions=instructions)), redacted


def staged_stat(root: Path) -> str:
    """``git diff --cached --stat``: every staged file with its counts of changed lines."""
    import subprocess

    from aider_hooks.diff.git import git_env

    result = subprocess.run(["git", "diff", "--cached", "--stat=200,150", "--no-color",
                             "--no-ext-diff"], cwd=root, env=git_env(), capture_output=True,
                            check=False)
    return result.stdout.decode("utf-8", errors="replace").rstrip()


def comment_chars(root: Path) -> str:
    """The characters that start a comment line in git's message file."""
    import subprocess

    from aider_hooks.diff.git import git_env

    values = []
    for key in ("core.commentString", "core.commentChar"):
        result = subprocess.run(["git", "config", "--get", key], cwd=root, env=git_env(),
                                capture_output=True, check=False)
        values.append(result.stdout.decode("utf-8", errors="replace").strip())
    value = values[0] or values[1]
    if value == "auto":
        return _AUTO_COMMENT_CHARS
    return value[:1] if value else "#"


def only_comments(text: str, chars: str = "#") -> bool:
    """True when ``text`` holds nothing but comment lines and blank lines (up to git's
    scissors line, below which ``commit -v`` puts the diff)."""
    for line in text.split("\n"):
        stripped = line.strip()
        if _SCISSORS in stripped and stripped[:1] in chars:
            return True
        if stripped and line[:1] not in chars:
            return False
    return True


def _say(settings: Settings, message: str, *, force: bool = False) -> None:
    if settings.quiet and not force:
        return
    from aider_hooks.masking import mask_secrets

    print(f"{PROG}: {mask_secrets(message, [settings.api_key])}", file=sys.stderr)
