"""git processes at the least start-up cost: the environment every git of ours runs with, and
one command run with its output captured.

Both the nothing-staged exit of every commit (``cli/main.py``, before anything else is
imported) and ``diff/git.py`` use it, so it imports only ``os`` and ``select``: the
subprocess module's import and fork cost ~4 ms of a review that git answers in 3.
"""
from __future__ import annotations

import os

# Not ``typing.TYPE_CHECKING``: this module is on the nothing-staged path, where importing
# typing would cost more than the git commands; mypy treats any TYPE_CHECKING constant alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import select
    from collections.abc import Callable

# Variables that name repository files; git may hand them to a hook as relative paths.
PATH_VARIABLES = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY")
# Variables that would change the diff's format behind our back.
DROPPED_VARIABLES = ("GIT_EXTERNAL_DIFF", "GIT_DIFF_OPTS", "GIT_PAGER", "GIT_TRACE")


def git_env() -> dict[str, str]:
    """The environment for every git we run: the caller's, made safe and read-only."""
    env = dict(os.environ)
    for name in PATH_VARIABLES:
        if env.get(name):
            env[name] = os.path.abspath(env[name])
    for name in DROPPED_VARIABLES:
        env.pop(name, None)
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_TERMINAL_PROMPT"] = "0"
    return env


def run_captured(command: list[str], env: dict[str, str],
                 cwd: str | os.PathLike[str] | None = None,
                 on_output: Callable[[bytes], None] | None = None) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of git ``command`` run with stdin empty, in ``cwd``.

    Where the platform has ``posix_spawn`` and ``poll``, without the subprocess module;
    ``git -C cwd`` stands in for a working directory (posix_spawn has none); every
    descriptor of ours is close-on-exec. Raises OSError (FileNotFoundError: git or ``cwd``
    missing) as subprocess would. ``on_output`` sees each piece of stdout as it arrives
    (all of it at once without posix_spawn).
    """
    import select

    spawn = getattr(os, "posix_spawnp", None)
    if spawn is None or not hasattr(select, "poll"):
        import subprocess

        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True,
                              stdin=subprocess.DEVNULL, check=False)
        if on_output is not None and done.stdout:
            on_output(done.stdout)
        return done.returncode, done.stdout, done.stderr
    argv = list(command)
    if cwd is not None:
        if not os.path.isdir(cwd):
            raise FileNotFoundError(2, "No such file or directory", os.fspath(cwd))
        argv[1:1] = ["-C", os.fspath(cwd)]
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    try:
        devnull = os.open(os.devnull, os.O_RDONLY)
        try:
            pid = spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, out_write, 1),
                (os.POSIX_SPAWN_DUP2, err_write, 2)])
        finally:
            os.close(devnull)
            os.close(out_write)
            os.close(err_write)
        try:
            output = _read_both(out_read, err_read, select.poll(), on_output)
        except BaseException:  # Ctrl-C while git runs: it goes too, as subprocess.run does
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            raise
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(out_read)
        os.close(err_read)
    return os.waitstatus_to_exitcode(status), output[out_read], output[err_read]


def _read_both(first: int, second: int, poller: select.poll,
               on_first: Callable[[bytes], None] | None = None) -> dict[int, bytes]:
    """Everything written to two pipes until both are closed, read as it comes (a full
    stderr pipe must not stall git while stdout is being read); ``on_first`` sees each
    piece of the first."""
    chunks: dict[int, list[bytes]] = {first: [], second: []}
    for fd in chunks:
        poller.register(fd, 0x001 | 0x010)  # POLLIN | POLLHUP
    open_pipes = 2
    while open_pipes:
        for fd, _ in poller.poll():
            data = os.read(fd, 1 << 16)
            if data:
                chunks[fd].append(data)
                if fd == first and on_first is not None:
                    on_first(data)
            else:
                poller.unregister(fd)
                open_pipes -= 1
    return {fd: b"".join(parts) for fd, parts in chunks.items()}
