"""``aider-review generate TASK [PATH...]``: the model edits the named files (or creates new
ones) as TASK asks; the result is one unified diff, applied to the work tree with ``--apply``.

What may be written: the named files, and new files inside the repository. Never a path with
``..``, an absolute path, a path through a symlink, a file inside ``.git``, or an existing file
that was not named (``--context`` files are read-only). The model's edits are checked in
memory first (tasks/generate.py); with any problem nothing is written or printed but the
problems (exit 2). ``--apply`` is ``fix --apply``: work tree only, ``git apply --check``, a
backup, and the command that undoes it.

Each run is kept in ``<git dir>/aider-review/last-generation.json`` (task, summary, patch,
paths); ``--continue`` shows it to the model, redacted and cut to size.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aider_hooks.errors import (EXIT_MODEL_UNAVAILABLE, EXIT_OK, ConfigError,
                                InputError)

if TYPE_CHECKING:
    from aider_hooks.settings import Settings
    from aider_hooks.tasks.generate import EditResult, Generation

PROG = "aider-review"
# The files, the task and the previous generation, in estimated tokens: a larger request is
# refused before anything is sent (name fewer files).
MAX_CONTEXT_TOKENS = 60_000
# --continue: how much of the previous generation goes along.
MAX_PREVIOUS_PATCH_CHARS = 16_000
MAX_PREVIOUS_TEXT_CHARS = 2_000
STATE_FILE = "last-generation.json"


class GenerationRefused(InputError):
    """The model's edits cannot be used (no match, several matches, a forbidden path, code
    that does not compile): nothing was written."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aider_hooks.cli.options import add_common_options

    parser.add_argument("task_text", metavar="TASK",
                        help="what to do, in words (quote it), e.g. \"add a --verbose flag\"")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="files the model may edit (or create); it may also create new "
                             "files")
    parser.add_argument("--context", dest="context_paths", action="append", default=[],
                        metavar="PATH",
                        help="a file the model reads but may not edit (repeatable)")
    parser.add_argument("--apply", action="store_true",
                        help="apply the patch to the work tree (never the index)")
    parser.add_argument("--continue", dest="continue_last", action="store_true",
                        help="show the model the previous generation (task, summary, patch); "
                             "without PATH, edit the files it named or changed")
    add_common_options(parser)


def run(args: argparse.Namespace) -> int:
    from aider_hooks.cli.options import settings_from_args
    from aider_hooks.diff.git import find_repo_root
    from aider_hooks.diff.source import repo_relative_paths

    cwd = Path.cwd()
    root = find_repo_root(cwd)
    settings = settings_from_args(args, root)
    if not settings.model_configured and not settings.dry_run:
        raise ConfigError("`generate` needs a model: set OPENAI_API_KEY, or OPENAI_BASE_URL "
                          "for a local server (e.g. http://localhost:11434/v1 for Ollama)")
    if not args.task_text.strip():
        raise InputError("the task is empty: say what to do, e.g. "
                         "aider-review generate \"add a --verbose flag\" src/cli.py")
    previous = load_previous(root) if args.continue_last else None
    named = list(dict.fromkeys(repo_relative_paths(args.paths, cwd=cwd, root=root)))
    if not named and previous is not None:
        named = [p for p in previous.get("paths", []) if isinstance(p, str)]
    context = [p for p in dict.fromkeys(repo_relative_paths(args.context_paths, cwd=cwd,
                                                            root=root)) if p not in named]
    for path in named:
        reason = _unsafe(root, path)
        if reason:
            raise InputError(f"{path}: {reason}")
    files = {path: _read(root, path, must_exist=False) for path in named}
    context_files = {path: _read(root, path, must_exist=True) for path in context}
    crlf = {path for path, text in files.items() if text is not None and "\r\n" in text}
    files = {path: (text.replace("\r\n", "\n") if text is not None else None)
             for path, text in files.items()}

    messages, redacted = build_messages(args.task_text, files, context_files, previous,
                                        settings)
    from aider_hooks.tasks.prompts import estimate_tokens

    size = sum(estimate_tokens(m["content"]) for m in messages)
    if settings.dry_run:
        from aider_hooks.cli.output import write_report
        from aider_hooks.tasks.runner import Question, format_dry_run

        write_report(settings, format_dry_run([Question("generate", messages)], redacted))
        return EXIT_OK
    if size > MAX_CONTEXT_TOKENS:
        raise InputError(f"the files come to ~{size:,} tokens, over the limit of "
                         f"{MAX_CONTEXT_TOKENS:,}: name fewer or smaller files")

    check = _path_checker(root, set(named), set(context))
    outcome = _ask(settings, messages, files, check)
    if outcome is None:
        return EXIT_MODEL_UNAVAILABLE if settings.strict else EXIT_OK
    generation, result = outcome
    from aider_hooks.tasks.generate import build_diff

    changed = {path: (_crlf(before) if path in crlf else before,
                      after.replace("\n", "\r\n") if path in crlf else after)
               for path, (before, after) in result.changed.items()}
    patch = build_diff(changed)
    save_previous(root, args.task_text, generation.summary, patch,
                  list(dict.fromkeys([*named, *sorted(changed)])))
    if generation.summary:
        _notice(settings, f"generate: {generation.summary}")
    if not patch:
        _notice(settings, "generate: no changes")
        return EXIT_OK
    from aider_hooks.cli.output import print_or_apply_patch

    return print_or_apply_patch(settings, root, patch, apply=args.apply,
                                what="the generated changes")


def _crlf(text: str | None) -> str | None:
    return text.replace("\n", "\r\n") if text is not None else None


def _ask(settings: Settings, messages: tuple[dict[str, str], ...],
         files: Mapping[str, str | None],
         check: Callable[[str], str | None]) -> tuple[Generation, EditResult] | None:
    """The generation and its edits applied in memory; None (after one line on stderr) when
    the model could not be reached. Unusable edits, after one repair request, raise
    ``GenerationRefused``."""
    from aider_hooks.errors import InvalidAnswer, ModelError, ModelUnavailable
    from aider_hooks.tasks import generate
    from aider_hooks.tasks.runner import TaskRunner, one_line

    def usable(text: str) -> tuple[Generation, EditResult]:
        generation = generate.parse_generation(text)
        result = generate.apply_edits(generation.edits, files, check)
        if result.problems:
            raise InvalidAnswer("; ".join(result.problems))
        return generation, result

    progress = _progress(settings)
    with TaskRunner(settings, generate.TASK) as runner:
        try:
            return runner.ask(messages, usable, json_mode=True, on_text=progress)
        except ModelUnavailable as err:
            _notice(settings, f"generate: {one_line(str(err))}; nothing was generated",
                    force=True)
            return None
        except InvalidAnswer as err:
            raise GenerationRefused(f"the model's edits were refused, nothing was written: "
                                    f"{' '.join(str(err).split())[:2000]}") from None
        except ModelError as err:
            raise InputError(f"the model could not answer: {one_line(str(err))}") from None
        finally:
            if progress is not None:
                sys.stderr.write("\r\033[K")
                sys.stderr.flush()
            for warning in runner.warnings:
                _notice(settings, warning)


def build_messages(task_text: str, files: Mapping[str, str | None],
                   context_files: Mapping[str, str | None], previous: Mapping[str, Any] | None,
                   settings: Settings) -> tuple[tuple[dict[str, str], ...], int]:
    """The request: the task (redacted) before the untrusted block; the files and the
    previous generation (redacted) inside it. Returns the messages and the secrets redacted."""
    from aider_hooks.tasks import generate
    from aider_hooks.tasks.prompts import visible_text
    from aider_hooks.tasks.runner import messages_for, redact

    redacted = 0
    parts: list[str] = []

    def add_file(path: str, text: str | None, kind: str) -> None:
        nonlocal redacted
        shown = visible_text(path)
        if text is None:
            parts.append(f"### File: {shown} ({kind}, new: it does not exist yet)")
            return
        clean, count = redact(text, settings, path=path)
        redacted += count
        lines = clean.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        parts.append(f"### File: {shown} ({kind}, {len(lines)} lines)")
        parts.extend(visible_text(line) for line in lines)

    for path, text in files.items():
        add_file(path, text, "editable")
    for path, text in context_files.items():
        add_file(path, text, "context, read-only")
    if previous is not None:
        task, n1 = redact(_cut(str(previous.get("task", "")), MAX_PREVIOUS_TEXT_CHARS), settings)
        summary, n2 = redact(_cut(str(previous.get("summary", "")), MAX_PREVIOUS_TEXT_CHARS),
                             settings)
        patch, n3 = redact(_cut(str(previous.get("patch", "")), MAX_PREVIOUS_PATCH_CHARS),
                           settings)
        redacted += n1 + n2 + n3
        parts.append("### Previous generation (its patch may or may not have been applied; "
                     "the files above are as they are now)")
        parts.append(f"### Previous task: {visible_text(' '.join(task.split()))}")
        parts.append(f"### Previous summary: {visible_text(' '.join(summary.split()))}")
        patch_lines = patch.split("\n")
        parts.append(f"### Previous patch ({len(patch_lines)} lines)")
        parts.extend(visible_text(line) for line in patch_lines)
    task_clean, count = redact(task_text.strip(), settings)
    redacted += count
    intro = f"{generate.TASK.user_intro}\n\nTask: {task_clean}"
    body = "\n".join(parts) if parts else "(no files: create what the task needs)"
    return messages_for(generate.TASK, body, intro=intro), redacted


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "\n[... cut here ...]"


# ---------------------------------------------------------------------------------------------
# Paths


def _unsafe(root: Path, path: str) -> str | None:
    """Why ``path`` (repository-relative) may not be read or written, or None."""
    if not path or "\0" in path or "\n" in path:
        return "not a usable file name"
    if path.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", path) or "\\" in path:
        return "an absolute path; only paths inside the repository may be written"
    parts = path.split("/")
    if ".." in parts:
        return "leads outside the repository (..)"
    if any(part in ("", ".") for part in parts):
        return "not a plain relative path"
    if any(part.lower() == ".git" for part in parts):
        return "inside the .git directory"
    current = root
    for part in parts:
        current = current / part
        if current.is_symlink():
            return "is a symlink or goes through one; only regular files may be written"
    real_root = os.path.realpath(root)
    real = os.path.realpath(root / path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        return "leads outside the repository"
    if (root / path).is_dir():
        return "is a directory"
    return None


def _path_checker(root: Path, named: set[str],
                  context: set[str]) -> Callable[[str], str | None]:
    def check(path: str) -> str | None:
        reason = _unsafe(root, path)
        if reason is not None:
            return reason
        if path in named:
            return None
        if path in context:
            return "a --context file, which is read-only"
        if (root / path).exists():
            return "an existing file that was not named on the command line"
        return None

    return check


def _read(root: Path, path: str, *, must_exist: bool) -> str | None:
    full = root / path
    if not full.exists():
        if must_exist:
            raise InputError(f"{path}: no such file")
        return None
    if not full.is_file():
        raise InputError(f"{path}: not a regular file")
    real_root = os.path.realpath(root)
    if not os.path.realpath(full).startswith(real_root.rstrip(os.sep) + os.sep):
        raise InputError(f"{path}: leads outside the repository")
    try:
        data = full.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    if b"\0" in data[:8000]:
        raise InputError(f"{path}: a binary file cannot be edited or used as context")
    return data.decode("utf-8", errors="surrogateescape")


# ---------------------------------------------------------------------------------------------
# The previous generation


def _state_path(root: Path) -> Path:
    from aider_hooks.diff.git import git_dir

    return git_dir(root) / "aider-review" / STATE_FILE


def load_previous(root: Path) -> dict[str, Any]:
    path = _state_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="surrogateescape"))
    except FileNotFoundError:
        raise InputError("--continue: there is no previous generation in this repository "
                         "yet") from None
    except (OSError, ValueError) as err:
        raise InputError(f"--continue: cannot read {path}: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"--continue: {path} does not hold a generation")
    return data


def save_previous(root: Path, task: str, summary: str, patch: str, paths: list[str]) -> None:
    """Keep this generation for ``--continue`` (private: file contents are in the patch)."""
    path = _state_path(root)
    record = {"version": 1, "task": task, "summary": summary, "patch": patch, "paths": paths,
              "created_at": time.time()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as file:
            json.dump(record, file)
        os.replace(temporary, path)
    except OSError as err:
        print(f"{PROG}: could not keep the generation for --continue: {err}", file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Output


def _progress(settings: Settings) -> Callable[[str], None] | None:
    """On a terminal: how much of the answer has arrived, on one stderr line."""
    if settings.quiet or not sys.stderr.isatty():
        return None
    received = 0

    def show(piece: str) -> None:
        nonlocal received
        received += len(piece)
        sys.stderr.write(f"\r{PROG}: generating... {received:,} characters received")
        sys.stderr.flush()

    return show


def _notice(settings: Settings, message: str, *, force: bool = False) -> None:
    if settings.quiet and not force:
        return
    from aider_hooks.masking import mask_secrets
    from aider_hooks.reporters import printable

    print(f"{PROG}: {mask_secrets(printable(message), [settings.api_key])}", file=sys.stderr)
