"""Child processes of a run: how they start, talk and end.

A large run hands work to fresh interpreters of this very package (``python -P -m ...``,
never a fork: the parent holds a SQLite connection and threads): the built-in checks
(``checks/worker.py``) and the sending of model requests (``model/child_backend.py``). Both
talk through their standard input and output in length-prefixed pickle frames (parent and
child are the same program, over private pipes) and end at the end of their input, so a
child never outlives a parent that went away. Every child is killed and reaped by
``stop_children`` when the run is abandoned (Ctrl-C ends the CLI with ``os._exit``).
"""
from __future__ import annotations

import os
import sys
import threading

# Not ``typing.TYPE_CHECKING``: a large review imports this module before its diff is parsed,
# on a path that has not needed typing so far; mypy treats any TYPE_CHECKING constant alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Iterator, Mapping, Sequence
    from typing import IO, Any

_LENGTH_BYTES = 8  # each frame's length, big-endian, before its pickle


def child_command(module: str) -> tuple[str, ...]:
    # -P: the current directory (perhaps a checkout of this very project) must not come
    # before the parent's package on the child's path.
    return (sys.executable, "-P", "-m", module)


def with_this_package(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with this package's directory first on ``PYTHONPATH``: the child imports the
    very package the parent runs (an editable checkout, a venv, a zipapp...)."""
    package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = dict(env)
    result["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH"))
                                           if p)
    return result


def start(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The child, with pipes to its input and output, its errors to nowhere (a child's
    traceback is not the user's to read; the parent says what went wrong), tracked until
    ``reap``. Raises OSError or ValueError when it cannot start."""
    import subprocess

    child = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=dict(env))
    _keep_track(child)
    return child


_LIVE: set[subprocess.Popen[bytes]] = set()  # children not reaped yet (stop_children)
_LIVE_LOCK = threading.Lock()


def _keep_track(child: subprocess.Popen[bytes]) -> None:
    with _LIVE_LOCK:
        if not _LIVE:
            import atexit

            atexit.register(stop_children)  # a run abandoned with a child still going
        _LIVE.add(child)


def stop_children() -> None:
    """Kill and reap every child still running: the CLI calls it before ``os._exit`` on
    Ctrl-C (which skips every cleanup); where init does not reap orphans, a child left
    behind would stay a zombie."""
    with _LIVE_LOCK:
        children = list(_LIVE)
    for child in children:
        reap(child, kill=True)


def reap(child: subprocess.Popen[bytes], *, kill: bool, timeout: float = 5) -> None:
    """Wait for the child (after its end of input it is leaving), killing it when it is not
    wanted any more or takes longer than ``timeout``; forget it."""
    import subprocess

    try:
        if kill:
            child.kill()
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
    with _LIVE_LOCK:
        _LIVE.discard(child)
    if child.stdout is not None:
        close_quietly(child.stdout)


def close_quietly(pipe: IO[bytes]) -> None:
    try:
        pipe.close()
    except OSError:
        pass


def write_frame(pipe: IO[bytes], frame: object,
                dispatch_table: Mapping[type, Any] | None = None) -> None:
    """One frame, flushed. ``dispatch_table``: pickle's table, for types with a faster way."""
    import io
    import pickle

    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    if dispatch_table is not None:
        pickler.dispatch_table = dispatch_table
    pickler.dump(frame)
    data = buffer.getvalue()
    pipe.write(len(data).to_bytes(_LENGTH_BYTES, "big") + data)
    pipe.flush()


def frames(pipe: IO[bytes]) -> Iterator[Any]:
    """Each frame until the end of the stream; a frame cut short raises EOFError."""
    import pickle

    while True:
        head = pipe.read(_LENGTH_BYTES)
        if not head:
            return
        if len(head) < _LENGTH_BYTES:
            raise EOFError("frame length cut short")
        size = int.from_bytes(head, "big")
        data = pipe.read(size)
        if len(data) < size:
            raise EOFError("frame cut short")
        yield pickle.loads(data)  # noqa: S301 - our own child over a private pipe
