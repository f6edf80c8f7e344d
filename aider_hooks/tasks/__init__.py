"""Tasks: what the model is asked to do with a diff. One module per task, one line here.

The table names each task's module and its one-line help, so the command line can build its
subcommands without importing the task modules (which hold the prompts): nothing of them is
loaded on the nothing-staged path.
"""
from __future__ import annotations

import importlib

from aider_hooks.errors import UsageError

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from aider_hooks.tasks.base import Task


class TaskEntry:
    """One row of the table (a plain class: a NamedTuple would load typing on every run)."""

    __slots__ = ("module", "help", "applies_patch", "command")

    def __init__(self, module: str, help: str, applies_patch: bool = False,
                 command: str = "") -> None:
        self.module = module
        self.help = help
        self.applies_patch = applies_patch  # the command takes --apply
        # A task with arguments of its own: the module (under cli/) defining
        # ``add_arguments(parser)`` and ``run(args)``. Imported only when its command runs (or
        # for the full parser, e.g. --help): the no-op review path loads none of them.
        self.command = command


REGISTRY: dict[str, TaskEntry] = {
    "review": TaskEntry("aider_hooks.tasks.review",
                        "review a diff and report findings (the default)"),
    "explain": TaskEntry("aider_hooks.tasks.explain",
                         "stream a plain-language explanation of each hunk"),
    "fix": TaskEntry("aider_hooks.tasks.fix",
                     "turn the review's suggestions into a patch (--apply writes it)",
                     applies_patch=True),
    "commit-msg": TaskEntry("aider_hooks.tasks.commit_msg",
                            "write a commit message from the staged diff (a prepare-commit-msg "
                            "hook)", command="aider_hooks.cli.commit_msg"),
    "describe": TaskEntry("aider_hooks.tasks.describe",
                          "describe a change: title, summary and a walkthrough per file",
                          command="aider_hooks.cli.describe"),
    "generate": TaskEntry("aider_hooks.tasks.generate",
                          "edit or create files as a task asks, shown as one patch "
                          "(--apply writes it)", command="aider_hooks.cli.generate"),
}


def get_task(name: str) -> Task:
    """The task called ``name``; a usage error naming the known ones otherwise."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise UsageError(f"unknown task {name!r}; use one of: {', '.join(REGISTRY)}")
    task: Task = importlib.import_module(entry.module).TASK
    return task
