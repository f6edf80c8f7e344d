"""Model requests sent from a process of their own, on another core.

On a large change one process is bound by the interpreter lock: parsing, redaction and
prompt building keep it busy while the request threads wait for their answers, and the SDK's
own work for each request (building, sending, reading and validating it: ~1.5 ms here) waits
for the lock too. For such a run the engine gives each link of the chain a ``ChildBackend``:
its requests are sent by one child (``python -P -m aider_hooks.model.child_backend``, a
fresh interpreter of this package, never a fork) that holds the real backend of every link
(``backend.open_backend``: the same retries, breaker and deadline). The cache, reading the
answers, repair requests and the fallback chain stay in the parent; what reaches the child
was redacted there like every text that leaves the machine.

When: a review whose diff names ``MIN_FILES`` files or more (``ENV_VAR`` forces it on or
off). The CLI starts the child while git is still writing the diff (``early_start.py``), before
the settings say whether a request will be sent at all, and ends it when none will be; other
callers of the engine start it once the diff is read (``start_for``).

Frames (``child_process.py``): to the child ``("header", concurrency)``, then
``("link", ...)`` once per link before its first request, and
``("ask", id, label, messages, json_mode)``; back ``("answer", id, completion, requests)``,
``("error", id, error type, message, requests)`` for a ``ModelError`` (raised in the parent as
it was raised there) and ``("trouble", id, text)`` for anything else. ``requests`` counts the
link's HTTP requests so far; ``("link", label, settings, seconds, seconds left)`` gives the
deadline's length and what is left of it. At the end of its input the child leaves at once:
the parent is done, or went away without a word (killed), and nothing more may be sent.

Any trouble with the child (it cannot start, dies, garbles a frame, fails a request in an
unexpected way) means it is given up and the parent sends the requests it did not answer
itself, with its own backend of the link and no more than ``--concurrency`` at once: a
request in flight there when it failed is sent again. When the run ends the child while
requests still wait (the run is being abandoned), they fail; none is sent again. The child gets the parent's whole
environment: it is the part of the run that talks to the endpoint (proxies, certificates).
"""
from __future__ import annotations

import os
import sys
import threading

from aider_hooks import child_process
from aider_hooks.errors import ModelError, ModelUnavailable
from aider_hooks.model.early_start import ENV_VAR, MIN_FILES, EarlyStart, wanted, will_send

__all__ = ["ENV_VAR", "MIN_FILES", "MODULE", "ChildBackend", "EarlyStart", "SendingChild",
           "main", "start_for", "wanted", "will_send"]

# Not ``typing.TYPE_CHECKING``: the CLI imports this module as it reads a large diff, on a path
# that has not needed typing so far; mypy treats any TYPE_CHECKING constant alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable, Sequence
    from typing import IO

    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.model.backend import ChatBackend, Completion, Deadline, Messages
    from aider_hooks.settings import Settings

MODULE = "aider_hooks.model.child_backend"


def start_for(diff: LoadedDiff, settings: Settings, *, streams: bool) -> SendingChild | None:
    """The child for a review of ``diff`` that will send requests (``will_send``), started
    at once so that its start-up (the SDK's import) overlaps this process's work before
    the first request; None otherwise. The caller closes it."""
    if not will_send(diff, settings, streams=streams):
        return None
    child = SendingChild(settings.concurrency)
    child.start()
    return child


class ChildGone(Exception):
    """The child cannot answer this request (it never started, died or misbehaved)."""


class ChildClosed(ModelUnavailable):
    """The run ended the child (it is being abandoned) while this request waited."""

    def __init__(self) -> None:
        super().__init__("the review stopped before the model answered")


class _Waiting:
    """A request sent to the child, until its answer (or error) comes."""

    __slots__ = ("label", "event", "completion", "error")

    def __init__(self, label: str) -> None:
        self.label = label
        self.event = threading.Event()
        self.completion: Completion | None = None
        self.error: ModelError | None = None


class SendingChild:
    """The parent's end of the child: started at the first request, shared by every link
    and thread of the run; ``close`` ends it."""

    def __init__(self, concurrency: int | None, command: Sequence[str] | None = None) -> None:
        self._concurrency = concurrency  # None until ``configure``: no request before that
        self._told_concurrency = False
        self._command = tuple(command) if command else child_process.child_command(MODULE)
        self._write_lock = threading.Lock()  # starting the child, and every frame to it
        self._lock = threading.Lock()  # the requests waiting for their answer
        self._child: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._broken = False
        self._links: set[str] = set()
        self._waiting: dict[int, _Waiting] = {}
        self._last_id = 0
        self._requests: dict[str, int] = {}
        self._gone = False  # set under _lock once no answer can come any more
        self._closed = False  # the run ended it: nothing is sent from this process instead
        # What this process may send itself once the child is gone: --concurrency, as the
        # child did (the run's pool holds twice as many threads for the child's sake).
        self._fallback_slots = threading.Semaphore(max(1, concurrency or 1))

    def requests(self, label: str) -> int:
        with self._lock:
            return self._requests.get(label, 0)

    @property
    def fallback_slots(self) -> threading.Semaphore:
        """Held by each request sent from this process instead of the child."""
        return self._fallback_slots

    def ask(self, label: str, settings: Settings, deadline: Deadline, messages: Messages,
            json_mode: bool | None) -> Completion:
        """The child's answer; raises the ``ModelError`` the link's backend raised there,
        or ``ChildGone``."""
        waiting = _Waiting(label)
        with self._write_lock:
            if self._closed:
                raise ChildClosed()
            if not self._running() or not self._told_concurrency:
                raise ChildGone
            with self._lock:
                if self._gone:  # the reader gave up just now: nobody would wake this one
                    raise ChildGone
                self._last_id += 1
                ask_id = self._last_id
                self._waiting[ask_id] = waiting
            if label not in self._links:
                self._links.add(label)
                # The deadline's length too: its error message names it, as in process.
                self._write(("link", label, settings, deadline.seconds, deadline.remaining()))
            self._write(("ask", ask_id, label, [dict(m) for m in messages], json_mode))
        waiting.event.wait()
        if waiting.error is not None:
            raise waiting.error
        if waiting.completion is None:
            if self._closed:
                raise ChildClosed()
            raise ChildGone
        return waiting.completion

    def start(self) -> None:
        """Start the child now, ahead of the first request: its start-up (the SDK's import)
        then overlaps the parent's parsing and prompt building."""
        with self._write_lock:
            self._running()

    def configure(self, concurrency: int) -> None:
        """The requests the child may have in flight at once, for a child started without."""
        with self._write_lock:
            self._concurrency = concurrency
            self._fallback_slots = threading.Semaphore(max(1, concurrency))
            if self._child is not None:
                self._tell_concurrency()

    def close(self) -> None:
        """End the child. The run calls it once every request has its answer: nothing of
        value is left there, so it is killed rather than waited for (the interpreter's
        exit would add tens of milliseconds to every large run)."""
        self._closed = True  # a request still waiting fails; none is sent again from here
        with self._write_lock:
            child, self._child = self._child, None
            self._broken = True  # no request after this one goes to a child
        if child is None:
            self._wake_all()
            return
        child_process.reap(child, kill=True)
        if child.stdin is not None:
            child_process.close_quietly(child.stdin)
        if self._reader is not None:
            self._reader.join()

    def _running(self) -> bool:
        """The child, started now if this is the first request (write lock held)."""
        if self._broken:
            return False
        if self._child is not None:
            return True
        try:
            self._child = child_process.start(self._command,
                                              child_process.with_this_package(os.environ))
        except (OSError, ValueError):
            self._broken = True
            return False
        assert self._child.stdout is not None
        self._reader = threading.Thread(target=self._read_answers, args=(self._child.stdout,),
                                        name="aider-review-model-read", daemon=True)
        self._reader.start()
        self._tell_concurrency()
        return not self._broken

    def _tell_concurrency(self) -> None:
        """The header frame, once the concurrency is known (write lock held)."""
        if self._concurrency is not None and not self._told_concurrency:
            self._told_concurrency = True
            self._write(("header", self._concurrency))

    def _write(self, frame: object) -> None:
        """One frame to the child (write lock held); on failure the child is given up."""
        child = self._child
        if self._broken or child is None or child.stdin is None:
            return
        try:
            child_process.write_frame(child.stdin, frame)
        except Exception:  # noqa: BLE001 - the child went away, or a value would not pickle
            self._give_up(child)

    def _read_answers(self, pipe: IO[bytes]) -> None:
        try:
            for frame in child_process.frames(pipe):
                if not self._answered(frame):
                    break
        except Exception:  # noqa: BLE001 - a garbled or cut frame: the parent sends the rest
            pass
        child = self._child
        if child is not None:
            self._give_up(child)
        self._wake_all()

    def _answered(self, frame: tuple[object, ...]) -> bool:
        """Hand one answer frame to its waiting request; False for a frame that is none."""
        kind = frame[0]
        if kind not in ("answer", "error", "trouble") or not isinstance(frame[1], int):
            return False
        if kind == "trouble":
            return False  # a fault of ours there: the child is given up, this process sends
        with self._lock:
            waiting = self._waiting.get(frame[1])
            if waiting is None:
                return False
            if kind == "answer":
                waiting.completion = frame[2]  # type: ignore[assignment]
            else:
                error_type, message = frame[2], frame[3]
                if not (isinstance(error_type, type) and issubclass(error_type, ModelError)):
                    return False  # still waiting: woken by the reader's _wake_all
                waiting.error = error_type(message)
            del self._waiting[frame[1]]
            count = frame[-1]
            if isinstance(count, int):
                known = self._requests.get(waiting.label, 0)
                self._requests[waiting.label] = max(count, known)
        waiting.event.set()
        return True

    def _give_up(self, child: subprocess.Popen[bytes]) -> None:
        """No more requests to this child, and none of its answers are waited for: a child
        that garbles may still be running, and would stop reading once its pipe is full."""
        self._broken = True
        try:
            child.kill()
        except OSError:
            pass
        self._wake_all()

    def _wake_all(self) -> None:
        with self._lock:
            self._gone = True
            waiting, self._waiting = list(self._waiting.values()), {}
        for item in waiting:
            item.event.set()  # no completion, no error: ChildGone


class ChildBackend:
    """The ``ChatBackend`` of one link whose requests the child sends; the link's own backend
    in this process sends those the child cannot (and streams: a streamed answer is shown as
    it arrives, in this process)."""

    def __init__(self, child: SendingChild, label: str, settings: Settings,
                 deadline: Deadline,
                 open_local: Callable[[Settings, Deadline], ChatBackend]) -> None:
        self.requests = 0
        self._child = child
        self._label = label
        self._settings = settings
        self._deadline = deadline
        self._open_local = open_local
        self._local: ChatBackend | None = None
        self._lock = threading.Lock()

    def complete(self, messages: Messages, *, json_mode: bool | None = None) -> Completion:
        try:
            return self._child.ask(self._label, self._settings, self._deadline, messages,
                                   json_mode)
        except ChildGone:
            with self._child.fallback_slots:
                return self._local_backend().complete(messages, json_mode=json_mode)
        finally:
            self._count()

    def stream(self, messages: Messages, on_text: Callable[[str], None]) -> Completion:
        try:
            return self._local_backend().stream(messages, on_text)
        finally:
            self._count()

    def close(self) -> None:
        if self._local is not None:
            self._local.close()

    def _local_backend(self) -> ChatBackend:
        with self._lock:
            if self._local is None:
                self._local = self._open_local(self._settings, self._deadline)
            return self._local

    def _count(self) -> None:
        """Both counts only grow: the largest total seen is the latest, whichever thread
        saw it first."""
        with self._lock:
            local = self._local
            total = self._child.requests(self._label) + (local.requests if local else 0)
            self.requests = max(self.requests, total)


def main() -> int:
    """The child: send each request it is given with its link's backend (module doc)."""
    import signal
    from concurrent.futures import ThreadPoolExecutor

    from aider_hooks.model.backend import Deadline, open_backend

    # Ctrl-C reaches the whole process group: the parent decides, the child ends with its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from aider_hooks.model.sdk_import import import_openai

    import_openai()  # first: the parent may still be reading the diff, or its settings
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    incoming = child_process.frames(source)
    header = next(incoming, None)
    if header is None or header[0] != "header":
        return 2
    backends: dict[str, ChatBackend] = {}
    write_lock = threading.Lock()

    def answer(ask_id: int, label: str, messages: Messages, json_mode: bool | None) -> None:
        backend = backends[label]
        reply: tuple[object, ...]
        try:
            completion = backend.complete(messages, json_mode=json_mode)
            reply = ("answer", ask_id, completion, backend.requests)
        except ModelError as err:
            reply = ("error", ask_id, type(err), str(err), backend.requests)
        except Exception as err:  # noqa: BLE001 - the parent sends it itself
            reply = ("trouble", ask_id, f"{type(err).__name__}: {err}")
        with write_lock:
            child_process.write_frame(sink, reply)

    pool = ThreadPoolExecutor(max_workers=max(1, header[1]),
                              thread_name_prefix="aider-review-child")
    try:
        for frame in incoming:
            if frame[0] == "link":
                backends[frame[1]] = open_backend(frame[2], Deadline(frame[3], frame[4]))
            elif frame[0] == "ask":
                pool.submit(answer, *frame[1:])
    finally:
        # The end of the input: the parent is done with every answer, or went away (killed,
        # with no cleanup of its own). Either way nothing more is sent: leave at once,
        # without waiting for the requests in flight or starting the queued ones.
        os._exit(0)
    return 0  # not reached

if __name__ == "__main__":
    sys.exit(main())
