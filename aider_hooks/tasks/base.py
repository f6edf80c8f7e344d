"""What a task is: the data the engine and the CLI need, so neither compares task names.

A task (review, explain, fix, ...) is one module under ``tasks/`` defining ``TASK``, plus one
line in ``tasks.REGISTRY``. Everything that differs between tasks is a field here: the
instructions the model gets, whether hunks of several files share a request, whether the
answer streams to the user, what the answer becomes, and what the CLI does with the result.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from aider_hooks.finding import Finding
    from aider_hooks.hunk import Hunk

# What the command line makes of a run: a findings report (exit 1 at --fail-on), a patch
# (exit 1 when there is one), or text that was already streamed to the user.
Output = Literal["report", "patch", "text"]


@dataclass
class TaskAnswer:
    """What one model answer became: findings (anchored to the request's hunks) or text."""

    findings: list[Finding] = field(default_factory=list)
    dropped: int = 0  # findings that anchored nowhere in the request's hunks
    text: str = ""


# Reads one answer for the hunks of its request; raises errors.InvalidAnswer when unusable.
AnswerReader = Callable[[str, Sequence["Hunk"]], TaskAnswer]


@dataclass(frozen=True)
class Task:
    """What the model is asked (review, explain, fix, ...): its prompts and its answer reader."""
    name: str
    instructions: str  # the system message
    user_intro: str  # before the untrusted block
    user_outro: str  # after it
    read_answer: AnswerReader
    output: Output = "report"
    mix_files: bool = True  # hunks of several files may share one request
    streams: bool = False  # the answer is shown as it arrives, one request at a time
    runs_checks: bool = False  # built-in and plugin checks run with it (no model needed)
    needs_model: bool = True  # without a configured model the command refuses to run
    routes_to_strong_model: bool = False  # strong-paths / strong-lines hunks go to strong-model
    repair_note: str = ""  # added to the repair request after an unusable answer
    # Part of the cache key of tasks with their own runner (tasks/runner.py): bump it when
    # the instructions or the rendering of that task change.
    prompt_version: str = ""
