"""When a review's model requests are sent from a child process (``child_backend.py``), and
the start of that child while git is still writing the diff.

Kept apart from ``child_backend.py`` and free of imports: the CLI watches every git diff it
reads with ``EarlyStart``, including those of a replayed review (cli/run_memo.py), which
must not pay for the child's machinery it never uses.
"""
from __future__ import annotations

import os

# Not ``typing.TYPE_CHECKING``: see above; mypy treats any TYPE_CHECKING constant alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.model.child_backend import SendingChild
    from aider_hooks.settings import Settings

# Measured on 2 cores: the child's start (~0.3 s, with the SDK's import, which then leaves
# the review's process) is hidden behind the ~50 requests of a 100-file change.
MIN_FILES = 100
ENV_VAR = "AIDER_REVIEW_MODEL_WORKER"  # "off": never; "on": whenever requests are sent


def wanted(changed_files: int) -> bool:
    """Whether a run whose diff names ``changed_files`` files sends through a child:
    ``ENV_VAR`` turns it off or on for any size; unset, from ``MIN_FILES`` files."""
    choice = os.environ.get(ENV_VAR, "").strip().lower()
    if choice in ("off", "0", "no", "false"):
        return False
    if choice in ("on", "1", "yes", "true"):
        return True
    return changed_files >= MIN_FILES


def will_send(diff: LoadedDiff, settings: Settings, *, streams: bool) -> bool:
    """Whether a review of ``diff`` sends its requests from a child: it sends some (a model
    configured, not offline, not a dry run, not whole files kept from the model), they are
    not streamed (shown as they arrive, from the review's process), and ``wanted``."""
    to_model = not diff.whole_files or settings.review_all_files
    asks_model = (settings.model_configured and not settings.offline and not settings.dry_run
                  and to_model)
    return asks_model and not streams and wanted(diff.changed_file_count())


class EarlyStart:
    """Starts the child while git is still writing a large diff: ``watch`` sees the diff
    piece by piece and starts it once the diff names ``MIN_FILES`` files, so the child's
    start-up (~0.3 s, the SDK's import) overlaps git's own time, the settings and the first
    prompts. The run's settings are read after the diff, so this child is a guess: ``claim``
    hands it over when the run will send requests, and ends it otherwise."""

    _HEADER = b"\ndiff --git "

    def __init__(self, *, enabled: bool = True) -> None:
        self._enabled = enabled  # False: the run's flags already say it sends nothing
        self.child: SendingChild | None = None
        self._files = 0
        self._tail = b"\n"  # the end of what came so far (a diff's first line counts too)

    def watch(self, piece: bytes) -> None:
        if self.child is not None or not self._enabled:
            return
        seen = self._tail + piece
        self._files += seen.count(self._HEADER)
        # Short of one whole header: one split between two pieces is counted once.
        self._tail = seen[-(len(self._HEADER) - 1):]
        if wanted(self._files):
            from aider_hooks.model.child_backend import SendingChild

            self.child = SendingChild(None)
            self.child.start()

    def claim_none(self) -> None:
        """The run ends before it could send anything: end the child, if there is one."""
        early, self.child = self.child, None
        if early is not None:
            early.close()

    def claim(self, diff: LoadedDiff, settings: Settings, *,
              streams: bool) -> SendingChild | None:
        """The child for this run (``child_backend.start_for``'s rule), the one started
        early if there is one; the caller closes it."""
        early, self.child = self.child, None
        if early is None:
            if not will_send(diff, settings, streams=streams):
                return None  # the usual case: nothing more is imported
            from aider_hooks.model.child_backend import start_for

            return start_for(diff, settings, streams=streams)
        if will_send(diff, settings, streams=streams):
            early.configure(settings.concurrency)
            return early
        early.close()
        return None
