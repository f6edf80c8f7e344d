"""``aider-review``: the command line, and the only place errors become messages and exit codes.

argparse (stdlib) rather than click: the hook runs on every commit and click alone costs about
33 ms to import, most of the no-op budget (4x bare Python start-up). Subcommand modules are
imported only when chosen. ``review`` is the default subcommand: ``aider-review --range X``
means ``aider-review review --range X``.
"""
from __future__ import annotations

import os
import sys

from aider_hooks import __version__
from aider_hooks.errors import EXIT_USAGE, AiderReviewError

# Not ``typing.TYPE_CHECKING``: this module is imported on every commit, and the nothing-staged
# path below must not pay for typing, argparse, pathlib or the task registry (mypy treats any
# TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

PROG = "aider-review"
# Every task is a subcommand of the same shape (SOURCE, options, PATH...); then the others.
# Built on first use (module ``__getattr__`` below): it needs the task registry.
COMMANDS: tuple[str, ...]
_OTHER_HELP = {
    "github": "review a pull request and comment on it",
    "gitlab": "review a merge request and comment on it",
    "cache": "inspect or clear the response cache",
    "plugins": "list the checks and output formats, built-in and installed",
    "baseline": "accept today's findings: later runs do not report them",
    "feedback": "mark a finding of the last review useful or wrong",
    "config": "print the effective settings, where each came from, and the instruction files "
              "in use",
    "finetune": "export reviewed requests with feedback as fine-tuning data; start and follow "
                "a job",
}
_OTHER_COMMANDS = tuple(_OTHER_HELP)


def __getattr__(name: str) -> object:
    if name == "COMMANDS":
        return _commands()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _commands() -> tuple[str, ...]:
    from aider_hooks.tasks import REGISTRY as TASKS

    return (*TASKS, *_OTHER_COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    try:
        if _nothing_staged(raw):
            return 0  # EXIT_OK: what the full path answers, without output (cli/review.py)
        _import_dataclasses_without_inspect()
        args_list = command_first(raw)
        _never_fail_on_encoding()
        # Only the chosen command's own arguments are built: the others' modules stay unloaded.
        args = build_parser(only=args_list[0] if args_list else None).parse_args(args_list)
        return int(args.run(args))
    except AiderReviewError as err:
        _say(f"error: {err}")
        return err.exit_code
    except KeyboardInterrupt:
        _say("interrupted")
        if argv is None:
            # Requests still in flight would hold the exit until they time out (Python joins
            # the worker threads at exit). Ctrl-C means now: output is flushed, nothing of
            # the user's is being written (the cache commits whole transactions or none).
            sys.stdout.flush()
            sys.stderr.flush()
            _stop_children()
            os._exit(130)
        return 130
    except BrokenPipeError:  # e.g. `aider-review | head`: the reader went away, not our fault
        _silence_stdout()
        return 0
    except Exception as err:  # noqa: BLE001 - the last line of defence: log, one line, exit 2
        log = _write_crash_log(err)
        detail = " ".join(str(err).split())[:300]  # one line, whatever the exception says
        _say(f"unexpected error: {type(err).__name__}: {detail}. Details: {log}. "
             "Please report it at https://github.com/aider-hooks/aider-hooks/issues")
        return EXIT_USAGE
    finally:
        if argv is None:
            # The process ends next: spare the garbage collector its last walk over every
            # object the model SDK created (about 0.1 s after a model run). Output is still
            # flushed and atexit handlers still run.
            import gc

            gc.freeze()


# The pre-commit hook runs on every commit, most often with nothing staged for it to review
# (`git commit --allow-empty`, `--amend` of the message, pre-commit's other hooks). That answer
# must cost two git commands and as few imports as possible: no argparse, no settings, no diff
# modules but the small one that runs git (diff/spawn.py). The options are kept in step with
# aider_hooks.diff.git by tests/test_import_cost.py.
_FAST_GIT_OPTIONS = (
    "--no-optional-locks", "--literal-pathspecs", "-c", "core.quotepath=false",
    "-c", "color.ui=never", "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false",
    "-c", "diff.submodule=short",
)
# pre-commit's "run --from-ref/--to-ref" modes review a range, never the index.
_FAST_NOT_STAGED_VARIABLES = ("PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF")


def _nothing_staged(args: list[str]) -> bool:
    """True only for a plain staged review (no arguments, or ``review [--staged] [PATH...]``
    as pre-commit passes them) in a repository whose index matches HEAD: the run whose whole
    answer is exit 0 and no output. Anything else, including every error (not a repository,
    git missing), returns False and takes the full path, which says what is wrong."""
    if args and (args[0] != "review"
                 or any(arg.startswith("-") and arg != "--staged" for arg in args[1:])):
        return False
    if any(os.environ.get(name) for name in _FAST_NOT_STAGED_VARIABLES):
        return False
    from aider_hooks.diff.spawn import git_env, run_captured

    env = git_env()
    try:
        code, out, _ = run_captured(["git", *_FAST_GIT_OPTIONS, "rev-parse", "--show-toplevel"],
                                    env)
        root = os.fsdecode(out.rstrip(b"\r\n"))
        if code != 0 or not root.strip():
            return False
        code, _, _ = run_captured(["git", *_FAST_GIT_OPTIONS, "diff", "--cached", "--quiet",
                                   "--no-ext-diff", "--no-textconv"], env, cwd=root)
    except OSError:
        return False
    return code == 0


# Options of review/explain/fix that take a value (tests/test_cli.py keeps this in step with
# the parser): needed to find a command after options, as in `aider-review -v --format json fix`.
VALUE_OPTIONS = frozenset({"--range", "--diff", "--model", "--base-url", "--format", "--output",
                           "-o", "--fail-on", "--concurrency", "--cache", "--config"})


def command_first(args: list[str]) -> list[str]:
    """The arguments with the command in front: ``review`` when none is named, and a command
    named after options moved first (``aider-review -v fix`` is ``aider-review fix -v``, not a
    review of a file called "fix")."""
    commands = _commands()
    if args and (args[0] in commands or args[0] in ("-h", "--help", "--version")):
        return args
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] != "--":
        at += 2 if args[at] in VALUE_OPTIONS else 1  # "--format=json" is one token
    if at < len(args) and args[at] in commands:
        return [args[at], *args[:at], *args[at + 1:]]
    return ["review", *args]


def _one_line_errors() -> type[argparse.ArgumentParser]:
    import argparse

    class _Formatter(argparse.HelpFormatter):
        """argparse's formatter, sized as it sizes itself but without importing shutil (and
        the compression modules shutil loads, ~3 ms): argparse builds one for every
        argument it checks, on every run, not only for --help."""

        def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                     width: int | None = None) -> None:
            if width is None:
                width = _terminal_columns() - 2
            super().__init__(prog, indent_increment, max_help_position, width)

    class _OneLineErrors(argparse.ArgumentParser):
        """A usage error is one line (and exit 2), like every other error, not a usage dump."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("formatter_class", _Formatter)  # subcommands' parsers too
            super().__init__(*args, **kwargs)

        def error(self, message: str) -> NoReturn:
            self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    return _OneLineErrors


def _terminal_columns() -> int:
    """What ``shutil.get_terminal_size().columns`` answers: $COLUMNS, else the terminal's
    width, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else 80


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, only that command gets its arguments (the
    others are listed, with their help line, but are not the one parsed: building them would
    import their modules and cost a parser each on every run). With a task's name (a review,
    the usual run), only that task's parser exists: nothing else is ever parsed or printed
    then (its --help is its own; anything that is not a command is a review's PATH)."""
    import argparse

    from aider_hooks.tasks import REGISTRY as TASKS

    def wanted(name: str) -> bool:
        return only is None or only == name

    parser = _one_line_errors()(
        prog=PROG,
        description="AI code review of staged changes, revision ranges, diff files and pull "
                    "requests, on any OpenAI-compatible model.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, entry in TASKS.items():
        if only in TASKS and name != only:
            continue  # argparse's parsers cost ~0.3 ms each, most of it gettext lookups
        command = sub.add_parser(name, help=entry.help, description=entry.help)
        if not wanted(name):
            continue
        if entry.command:
            _add_own_arguments(command, entry.command, task=name)
            continue
        _add_task_arguments(command, task=name, applies_patch=entry.applies_patch)
    if only is not None and only in TASKS:
        return parser  # the usual run (a review): the other commands are not built
    github = sub.add_parser("github", help=_OTHER_HELP["github"],
                            description="Pull-request bot: what action.yml runs.")
    github.set_defaults(run=_run_github)
    if wanted("github"):
        _add_github_arguments(github)
    gitlab = sub.add_parser("gitlab", help=_OTHER_HELP["gitlab"],
                            description="Merge-request bot for GitLab CI pipelines.")
    gitlab.set_defaults(run=_run_module("gitlab"))
    if wanted("gitlab"):
        _add_gitlab_arguments(gitlab)
    cache = sub.add_parser(
        "cache", help=_OTHER_HELP["cache"],
        description="The response cache keeps the model's answers, so an unchanged hunk costs\n"
                    "no request. It acts on the file a review run from here would use.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="actions:\n"
               "  stats   print the cache file, its number of entries and its size\n"
               "  clear   delete every cached answer (the next review asks the model again)\n"
               "  path    print the cache file's path (it may not exist yet)")
    cache.add_argument("action", choices=("stats", "clear", "path"),
                       help="stats, clear or path (see below)")
    cache.add_argument("--cache", dest="cache_path", metavar="FILE",
                       help="cache file (env AIDER_REVIEW_CACHE)")
    cache.add_argument("--config", metavar="FILE",
                       help="settings file whose cache-path to use (default: the repository's)")
    cache.set_defaults(run=_run_cache)
    plugins = sub.add_parser("plugins", help=_OTHER_HELP["plugins"],
                             description="Installed plugins.")
    plugins.add_argument("--format", choices=("text", "json"), default="text",
                         help="one line per plugin (the default), or a JSON list")
    plugins.set_defaults(run=_run_plugins)
    _add_knowledge_commands(sub)
    return parser


def _add_knowledge_commands(sub: Any) -> None:
    """Teaching the reviewer (docs/teaching.md). Defined here, not in their modules, so that
    building the parser on the nothing-staged path imports nothing more."""
    from aider_hooks.cli.options import add_common_options

    baseline = sub.add_parser("baseline", help=_OTHER_HELP["baseline"],
                              description="Review SOURCE (default: staged changes) and write "
                                          "the fingerprints of its findings to "
                                          ".aider-review/baseline.json.")
    _add_task_arguments(baseline, task="review", applies_patch=False)
    baseline.set_defaults(run=_run_module("baseline"))
    feedback = sub.add_parser("feedback", help=_OTHER_HELP["feedback"])
    feedback.add_argument("fingerprint", metavar="FINGERPRINT")
    verdict = feedback.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--useful", dest="verdict", action="store_const", const="useful",
                         help="the finding was right")
    verdict.add_argument("--wrong", dest="verdict", action="store_const", const="wrong",
                         help="the finding was wrong: never report it again")
    feedback.add_argument("--note", default="", metavar="TEXT",
                          help="what the reviewer should learn (redacted)")
    feedback.set_defaults(run=_run_module("feedback"))
    config = sub.add_parser("config", help=_OTHER_HELP["config"])
    add_common_options(config)
    config.set_defaults(run=_run_module("config"))
    finetune = sub.add_parser("finetune", help=_OTHER_HELP["finetune"])
    actions = finetune.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="write OpenAI chat fine-tuning JSONL")
    export.add_argument("file", metavar="FILE")
    export.add_argument("--cache", dest="cache_path", metavar="FILE",
                        help="cache file (env AIDER_REVIEW_CACHE)")
    start = actions.add_parser("start", help="upload FILE and start a fine-tuning job")
    start.add_argument("file", metavar="FILE")
    start.add_argument("--base-model", dest="base_model", required=True, metavar="MODEL",
                       help="the model to fine-tune, e.g. gpt-4o-mini-2024-07-18")
    status = actions.add_parser("status", help="print a fine-tuning job's state")
    status.add_argument("job", metavar="JOB")
    for command in (start, status):
        command.add_argument("--base-url", dest="base_url",
                             help="OpenAI-compatible endpoint (env OPENAI_BASE_URL)")
    for command in (export, start, status):
        command.set_defaults(run=_run_module("finetune"))


def _run_module(name: str):  # type: ignore[no-untyped-def]
    """``run`` of ``aider_hooks.cli.<name>``, imported only when the command runs."""
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(importlib.import_module(f"aider_hooks.cli.{name}").run(args))

    return run


def _add_task_arguments(parser: argparse.ArgumentParser, *, task: str,
                        applies_patch: bool) -> None:
    from aider_hooks.cli.options import add_common_options

    source = parser.add_mutually_exclusive_group()
    source.add_argument("--staged", action="store_true",
                        help="review staged changes: index against HEAD (the default)")
    source.add_argument("--range", dest="rev_range", metavar="REV_RANGE",
                        help="review a revision range, e.g. main...HEAD")
    source.add_argument("--diff", dest="diff_file", metavar="FILE",
                        help="review a unified diff file; - reads standard input")
    source.add_argument("--worktree", action="store_true",
                        help="review unstaged changes: the work tree against the index")
    source.add_argument("--hook", action="store_true",
                        help="choose as a pre-commit hook must (what the hooks of "
                             ".pre-commit-hooks.yaml run): the range in PRE_COMMIT_FROM_REF/"
                             "PRE_COMMIT_TO_REF when set, else the staged changes, else (nothing "
                             "staged, files named: --all-files, --files) the named files whole")
    if applies_patch:
        parser.add_argument("--apply", action="store_true",
                            help="apply the patch to the work tree (never the index)")
    parser.add_argument("paths", nargs="*", metavar="PATH",
                        help="only review these files (pre-commit passes them)")
    add_common_options(parser)
    parser.set_defaults(run=_run_review, task=task)


def _add_own_arguments(parser: argparse.ArgumentParser, module: str, *, task: str) -> None:
    import importlib

    importlib.import_module(module).add_arguments(parser)
    parser.set_defaults(run=_run_own_command, command_module=module, task=task)


def _run_own_command(args: argparse.Namespace) -> int:
    import importlib

    return int(importlib.import_module(args.command_module).run(args))


def _add_github_arguments(parser: argparse.ArgumentParser) -> None:
    from aider_hooks.cli.github import add_arguments  # light: argparse and options only

    add_arguments(parser)


def _add_gitlab_arguments(parser: argparse.ArgumentParser) -> None:
    from aider_hooks.cli.gitlab import add_arguments  # light: argparse and options only

    add_arguments(parser)


def _run_github(args: argparse.Namespace) -> int:
    from aider_hooks.cli.github import run

    return run(args)


def _run_review(args: argparse.Namespace) -> int:
    from aider_hooks.cli.review import run_review_command

    return run_review_command(args)


def _run_plugins(args: argparse.Namespace) -> int:
    from aider_hooks.cli.plugins import run

    return run(args)


def _run_cache(args: argparse.Namespace) -> int:
    from aider_hooks.cli.cache import run_cache_command

    return run_cache_command(args)


def _say(message: str) -> None:
    from aider_hooks.masking import mask_secrets  # errors may quote SDK or HTTP text

    print(f"{PROG}: {mask_secrets(message)}", file=sys.stderr)


def _never_fail_on_encoding() -> None:
    """A terminal or pipe that cannot show a character (PYTHONIOENCODING=ascii, a cp1252
    console) gets an escape instead of a UnicodeEncodeError that would block the commit."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a stream that cannot be reconfigured: leave it
            pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass


def _import_dataclasses_without_inspect() -> None:
    """Import ``dataclasses`` without ``inspect`` (which brings ``ast``, ``dis`` and
    ``tokenize``: ~10 ms, an eighth of a replayed review here). CPython's dataclasses imports
    it only to write a docstring for a class that has none (``inspect.signature``); every
    dataclass of this package has one. So ``dataclasses`` is given a stand-in whose first use
    imports the real module, and the stand-in leaves ``sys.modules`` at once: any later
    ``import inspect`` gets the real one."""
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    from types import ModuleType

    def real_attribute(name: str) -> object:
        import importlib

        return getattr(importlib.import_module("inspect"), name)

    stand_in = ModuleType("inspect", "imports the real inspect on first use")
    stand_in.__getattr__ = real_attribute  # type: ignore[method-assign]
    sys.modules["inspect"] = stand_in
    try:
        import dataclasses  # noqa: F401  (the point: imported now, with the stand-in)
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]


def _stop_children() -> None:
    """Kill and reap the child processes this run started, if any (the checks', the model
    requests'; child_process.py): ``os._exit`` skips every cleanup. Never imported here when
    no run got that far."""
    children = sys.modules.get("aider_hooks.child_process")
    if children is not None:
        children.stop_children()


def _write_crash_log(err: BaseException) -> str:
    import tempfile
    import traceback
    from pathlib import Path

    from aider_hooks.masking import mask_secrets

    text = "".join(traceback.format_exception(err))
    try:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "aider-review"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "last-error.log"
    except OSError:
        path = Path(tempfile.gettempdir()) / "aider-review-last-error.log"
    try:
        # Private like the cache: a traceback can quote file contents and paths.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            log.write(mask_secrets(text))
    except OSError:
        return "(could not write a log)"
    return str(path)
