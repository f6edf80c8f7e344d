"""Reading knowledge files from the work tree or from one git revision, and writing atomically."""
from __future__ import annotations

import os
from pathlib import Path

from aider_hooks.errors import InputError

# A knowledge file larger than this is not read at all (a warning in a review): instructions,
# a baseline or a feedback log of this size is a mistake, not guidance.
MAX_FILE_BYTES = 1_000_000


class KnowledgeError(InputError):
    """A knowledge file that cannot be used; ``str(err)`` is ``FILE[:LINE]: problem``."""

    def __init__(self, where: str, problem: str, line: int | None = None) -> None:
        self.where = where
        self.line = line
        self.problem = problem
        at = f"{where}:{line}" if line is not None else where
        super().__init__(f"{at}: {problem}")


class KnowledgeReader:
    """Reads repository files for the reviewer's knowledge: from the work tree, or, with
    ``rev``, from that commit (``git show REV:path``), so a pull request cannot rewrite the
    instructions, baseline or feedback it is reviewed with."""

    def __init__(self, root: Path | None, rev: str | None = None) -> None:
        self.root = root
        self.rev = rev

    def label(self, path: str) -> str:
        return f"{self.rev[:12]}:{path}" if self.rev else path

    def read(self, path: str) -> bytes | None:
        """The file's bytes; None when it does not exist; ``KnowledgeError`` when too large."""
        if self.root is None:
            return None
        if self.rev is None:
            file = self.root / path
            try:
                if not file.is_file():
                    return None
                if file.stat().st_size > MAX_FILE_BYTES:
                    raise KnowledgeError(self.label(path), f"larger than {MAX_FILE_BYTES:,} bytes;"
                                                           " not read")
                return file.read_bytes()
            except OSError as err:
                raise KnowledgeError(self.label(path),
                                     f"cannot read: {err.strerror or err}") from None
        size = self._git("cat-file", "-s", f"{self.rev}:{path}")
        if size is None:
            return None
        if int(size.strip() or b"0") > MAX_FILE_BYTES:
            raise KnowledgeError(self.label(path), f"larger than {MAX_FILE_BYTES:,} bytes; "
                                                   "not read")
        return self._git("cat-file", "blob", f"{self.rev}:{path}")

    def list(self, directory: str, suffix: str) -> list[str]:
        """Repository paths of the files directly in ``directory`` whose names end in ``suffix``,
        sorted."""
        if self.root is None:
            return []
        if self.rev is None:
            folder = self.root / directory
            try:
                names = [p.name for p in folder.iterdir() if p.is_file()]
            except OSError:
                return []
        else:
            out = self._git("ls-tree", "--name-only", "-z", f"{self.rev}:{directory}")
            if out is None:
                return []
            names = [os.fsdecode(n) for n in out.split(b"\0") if n]
        return sorted(f"{directory}/{name}" for name in names if name.endswith(suffix))

    def _git(self, *args: str) -> bytes | None:
        from aider_hooks.diff.git import git_env

        assert self.root is not None
        if self.rev is not None and self.rev.startswith("-"):
            return None
        import subprocess  # only for a revision's files (the pull-request bot)

        try:
            result = subprocess.run(["git", *args], cwd=self.root, env=git_env(),
                                    capture_output=True, stdin=subprocess.DEVNULL, check=False)
        except OSError:
            return None
        return result.stdout if result.returncode == 0 else None


def decode_text(data: bytes, where: str) -> str:
    """UTF-8 text (a BOM is dropped); ``KnowledgeError`` for a binary or non-UTF-8 file."""
    if b"\0" in data[:8192]:
        raise KnowledgeError(where, "a binary file, not text; not read")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise KnowledgeError(where, "not UTF-8 text; not read", line) from None


def atomic_write(path: Path, data: bytes, *, mode: int | None = None,
                 durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place: a reader
    sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = _new_private_file(path)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        elif path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _new_private_file(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, mode 0600, opened for writing (what ``tempfile.mkstemp``
    makes, without importing tempfile on every review: it pulls in shutil, random and the
    compression modules)."""
    for _ in range(100):
        name = str(path.parent / f".{path.name}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                           | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0),
                           0o600), name
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def append_line(path: Path, line: str) -> None:
    """Append one line with one ``write`` on an ``O_APPEND`` descriptor: concurrent appenders
    never interleave within a line, and the existing lines are never rewritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    needs_newline = False
    try:
        with open(path, "rb") as existing:
            existing.seek(0, os.SEEK_END)
            if existing.tell():
                existing.seek(-1, os.SEEK_END)
                needs_newline = existing.read(1) != b"\n"
    except FileNotFoundError:
        pass
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (b"\n" if needs_newline else b"") + data)
    finally:
        os.close(fd)
