"""What a test can see of another process on Linux, from /proc: a run's child processes,
whether one ignores Ctrl-C, its state and its priority."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HAS_PROC = Path("/proc/self/stat").exists()


def _stat_fields(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command name (the state is the first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def children_running(parent: int, module: str) -> list[int]:
    """The pids of ``parent``'s children whose command line names ``module``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = _stat_fields(entry.name)
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):  # not a process, or gone meanwhile
            continue
        if int(fields[1]) == parent and module.encode() in command:
            found.append(int(entry.name))
    return found


def ignores_ctrl_c(pid: int) -> bool:
    """True once the child's main() runs (our children ignore SIGINT: the parent decides)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    ignored = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn"))
    return bool(int(ignored, 16) & (1 << (signal.SIGINT - 1)))


def process_state(pid: int) -> str | None:
    """The process's state letter ("Z": a zombie), or None when it is gone for good."""
    try:
        return _stat_fields(pid)[0]
    except OSError:
        return None


def niceness(pid: int) -> int:
    """The process's nice value (0 by default; higher: a lower priority)."""
    return int(_stat_fields(pid)[16])


@dataclass
class Interrupted:
    """What ``ctrl_c_while_a_child_runs`` saw: the command's exit code and standard error,
    and the pids of the children it interrupted."""

    returncode: int
    stderr: str
    children: list[int]


def ctrl_c_while_a_child_runs(command: list[str], *, cwd: Path, env: dict[str, str],
                              module: str, ready: Callable[[], bool] = lambda: True,
                              timeout: float = 20) -> Interrupted:
    """Run ``command`` in a session of its own, wait until its child running ``module`` is
    in its main() and ``ready()`` holds, then press Ctrl-C as a terminal does (SIGINT to the
    whole process group) and wait for the command to end."""
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        children: list[int] = []
        while not (children and ignores_ctrl_c(children[0]) and ready()) \
                and time.monotonic() < deadline:
            children = children_running(process.pid, module)
            time.sleep(0.01)
        assert children and ready(), f"no child running {module} (or not ready) in time"
        assert process_state(children[0]) not in (None, "Z"), "the child ended before Ctrl-C"
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Interrupted(process.returncode, err, children)
