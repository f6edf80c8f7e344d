"""Real git repositories with STAGED changes of every shape, for tests of the whole pipeline.

Each ``stage_*`` function takes an empty repository (the ``git_repo`` fixture), commits the
files the change starts from, stages the change and returns a ``StagedShape``: what was staged,
and the new-file line number and text of every added line, so a test can check that hunks
land on exact lines. Several shapes also leave UNSTAGED edits in the work tree (text that
contains ``UNSTAGED``, plus lines inserted above the change so that work-tree line numbers
differ); a correct review never shows them.

``stage_all_shapes`` puts every shape except ``first_commit`` (which needs a repository with
no commit) into one repository, on top of one base commit.

    from testing.git_shapes import stage_all_shapes, stage_modified_file
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from testing.repos import git, stage

UNSTAGED = "UNSTAGED"  # every unstaged edit contains this word


@dataclass(frozen=True)
class StagedShape:
    name: str
    path: str  # the path in the new version (for a deletion, the deleted path)
    status: str  # "added" | "modified" | "renamed" | "deleted"
    added: tuple[tuple[int, str], ...] = ()  # (new-file line number, text) of each added line
    old_path: str | None = None
    reviewable: bool = True  # False: no hunk to review (deleted, binary, mode-only, symlink, lock)
    staged_text: str | None = None  # the whole staged file, when it is text
    unstaged_edit: bool = False  # the work tree holds an edit that is not staged


@dataclass(frozen=True)
class Shape:
    name: str
    base: dict[str, bytes]  # files committed before the change
    stage: Callable[[Path], StagedShape] = field(compare=False)


def _write(repo: Path, path: str, data: bytes) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _lines(text: str) -> bytes:
    return text.encode("utf-8")


def _prepare(repo: Path) -> None:
    # The same bytes on every platform: no line-ending conversion, modes tracked.
    git(repo, "config", "core.autocrlf", "false")
    git(repo, "config", "core.filemode", "true")


# --- the shapes -----------------------------------------------------------------------

NEW_FILE_TEXT = 'def greet(name):\n    return f"hello {name}"\n\n\nGREETING = greet("world")\n'


def _stage_new_file(repo: Path) -> StagedShape:
    path = "src/new_module.py"
    stage(repo, path, _lines(NEW_FILE_TEXT))
    _write(repo, path, _lines(NEW_FILE_TEXT + f"print('{UNSTAGED} new file')\n"))
    added = tuple(enumerate(NEW_FILE_TEXT.splitlines(), start=1))
    return StagedShape("new_file", path, "added", added, staged_text=NEW_FILE_TEXT,
                       unstaged_edit=True)


_HELPERS = "".join(f"\n\ndef helper_{n}():\n    return {n}\n" for n in range(1, 6))
APP_BASE = (
    '"""A small app."""\n'  # 1
    "import os\n"  # 2
    "\n"  # 3
    "\n"  # 4
    "def total(price, qty):\n"  # 5
    "    subtotal = price * qty\n"  # 6
    "    return subtotal\n"  # 7
    "\n"  # 8
    "\n"  # 9
    "class Cart:\n"  # 10
    "    def __init__(self):\n"  # 11
    "        self.items = []\n"  # 12
    "\n"  # 13
    "    def add(self, item):\n"  # 14
    "        self.items.append(item)\n"  # 15
    "\n"  # 16
    "    def count(self):\n"  # 17
    "        return len(self.items)\n"  # 18
    "\n"  # 19
    "\n"  # 20
    "def main():\n"  # 21
    "    cart = Cart()\n"  # 22
    '    cart.add("apple")\n'  # 23
    "    print(total(2, cart.count()))\n"  # 24
) + _HELPERS
APP_STAGED = APP_BASE.replace(
    "    return subtotal\n", "    tax = subtotal * 0.2\n    return subtotal + tax\n"
).replace("        return len(self.items)\n", "        return sum(1 for _ in self.items)\n")
# Where the staged version's changes are, and which def/class encloses each.
APP_ADDED = ((7, "    tax = subtotal * 0.2"), (8, "    return subtotal + tax"),
             (19, "        return sum(1 for _ in self.items)"))
APP_ENCLOSING = {7: "def total(price, qty):", 19: "def count(self):"}


def _stage_modified_file(repo: Path) -> StagedShape:
    path = "src/app.py"
    stage(repo, path, _lines(APP_STAGED))
    # Unstaged: a line inserted at the top (shifts every work-tree line number) and an edit
    # right next to the first hunk, where context lines come from.
    worktree = f"# {UNSTAGED}: inserted at the top\n" + APP_STAGED.replace(
        "        self.items = []\n", f"        self.items = ['{UNSTAGED}']\n"
    ).replace("    print(total(2, cart.count()))\n", f"    print('{UNSTAGED}')\n")
    _write(repo, path, _lines(worktree))
    return StagedShape("modified_file", path, "modified", APP_ADDED, staged_text=APP_STAGED,
                       unstaged_edit=True)


GUIDE_BASE = "".join(f"Line {n} of the guide.\n" for n in range(1, 21))
GUIDE_STAGED = GUIDE_BASE.replace("Line 10 of the guide.", "Line 10 was rewritten.")


def _stage_rename_with_edit(repo: Path) -> StagedShape:
    git(repo, "mv", "docs/guide.md", "docs/handbook.md")
    stage(repo, "docs/handbook.md", _lines(GUIDE_STAGED))
    return StagedShape("rename_with_edit", "docs/handbook.md", "renamed",
                       ((10, "Line 10 was rewritten."),), old_path="docs/guide.md",
                       staged_text=GUIDE_STAGED)


def _stage_deletion(repo: Path) -> StagedShape:
    git(repo, "rm", "-q", "--", "obsolete.txt")
    return StagedShape("deletion", "obsolete.txt", "deleted", reviewable=False)


PNG_BASE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
PNG_STAGED = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(reversed(range(256)))


def _stage_binary_file(repo: Path) -> StagedShape:
    stage(repo, "assets/logo.png", PNG_STAGED)
    return StagedShape("binary_file", "assets/logo.png", "modified", reviewable=False)


CRLF_BASE = b"one\r\ntwo\r\nthree\r\nfour\r\n"
CRLF_STAGED = b"one\r\ntwo changed\r\nthree\r\nfour\r\n"


def _stage_crlf_file(repo: Path) -> StagedShape:
    stage(repo, "windows.txt", CRLF_STAGED)
    return StagedShape("crlf_file", "windows.txt", "modified", ((2, "two changed"),),
                       staged_text=CRLF_STAGED.decode().replace("\r\n", "\n"))


LATIN1_BASE = "alpha\nbeta\ngamma\n".encode("latin-1")
LATIN1_STAGED = "alpha\nbeta\nnaïve café\ngamma\n".encode("latin-1")


def _stage_latin1_content(repo: Path) -> StagedShape:
    stage(repo, "legacy.txt", LATIN1_STAGED)
    return StagedShape("latin1_content", "legacy.txt", "modified", ((3, "naïve café"),),
                       staged_text=LATIN1_STAGED.decode("latin-1"))


NON_ASCII_PATH = "données/café.py"


def _stage_non_ascii_name(repo: Path) -> StagedShape:
    staged = "x = 1\ny = 'é'\n"
    stage(repo, NON_ASCII_PATH, _lines(staged))
    return StagedShape("non_ascii_name", NON_ASCII_PATH, "modified", ((2, "y = 'é'"),),
                       staged_text=staged)


SPACES_PATH = "my dir/my file.txt"


def _stage_path_with_spaces(repo: Path) -> StagedShape:
    staged = "a\nb\nB2\nc\n"
    stage(repo, SPACES_PATH, _lines(staged))
    _write(repo, SPACES_PATH, _lines(staged + f"{UNSTAGED}\n"))
    return StagedShape("path_with_spaces", SPACES_PATH, "modified", ((3, "B2"),),
                       staged_text=staged, unstaged_edit=True)


B_SLASH_DIR = "plan b"  # " b/" inside a path: easy to split in the wrong place


def _stage_path_with_b_slash(repo: Path) -> StagedShape:
    staged = "first\nsecond\n"
    stage(repo, f"{B_SLASH_DIR}/notes.txt", _lines(staged))
    return StagedShape("path_with_b_slash", f"{B_SLASH_DIR}/notes.txt", "modified",
                       ((2, "second"),), staged_text=staged)


def _stage_rename_with_b_slash(repo: Path) -> StagedShape:
    old, new = f"{B_SLASH_DIR}/old b/list.txt", f"{B_SLASH_DIR}/new b/list.txt"
    staged = GUIDE_BASE.replace("Line 3 of the guide.", "Line 3 moved along.")
    git(repo, "mv", "--", f"{B_SLASH_DIR}/old b", f"{B_SLASH_DIR}/new b")
    stage(repo, new, _lines(staged))
    return StagedShape("rename_with_b_slash", new, "renamed", ((3, "Line 3 moved along."),),
                       old_path=old, staged_text=staged)


QUOTED_PATH = 'odd "quoted"\tname.txt'  # git always quotes this one, even with quotepath off


def _stage_quoted_name(repo: Path) -> StagedShape:
    stage(repo, QUOTED_PATH, b"hello\n")
    return StagedShape("quoted_name", QUOTED_PATH, "added", ((1, "hello"),), staged_text="hello\n")


def _stage_mode_only(repo: Path) -> StagedShape:
    git(repo, "update-index", "--chmod=+x", "--", "scripts/run.sh")
    return StagedShape("mode_only", "scripts/run.sh", "modified", reviewable=False)


def _stage_symlink(repo: Path) -> StagedShape:
    # Through the index, so it works where the file system has no symlinks.
    blob = git(repo, "hash-object", "-w", "--stdin", input=b"src/app.py").strip()
    git(repo, "update-index", "--add", "--cacheinfo", f"120000,{blob},latest")
    return StagedShape("symlink", "latest", "added", reviewable=False)


LOCK_BASE = b'{\n  "name": "x",\n  "version": "1.0.0"\n}\n'


def _stage_lock_file(repo: Path) -> StagedShape:
    stage(repo, "package-lock.json", LOCK_BASE.replace(b"1.0.0", b"1.0.1"))
    return StagedShape("lock_file", "package-lock.json", "modified", reviewable=False)


SHAPES: tuple[Shape, ...] = (
    Shape("new_file", {}, _stage_new_file),
    Shape("modified_file", {"src/app.py": _lines(APP_BASE)}, _stage_modified_file),
    Shape("rename_with_edit", {"docs/guide.md": _lines(GUIDE_BASE)}, _stage_rename_with_edit),
    Shape("deletion", {"obsolete.txt": b"old\nstuff\n"}, _stage_deletion),
    Shape("binary_file", {"assets/logo.png": PNG_BASE}, _stage_binary_file),
    Shape("crlf_file", {"windows.txt": CRLF_BASE}, _stage_crlf_file),
    Shape("latin1_content", {"legacy.txt": LATIN1_BASE}, _stage_latin1_content),
    Shape("non_ascii_name", {NON_ASCII_PATH: b"x = 1\n"}, _stage_non_ascii_name),
    Shape("path_with_spaces", {SPACES_PATH: b"a\nb\nc\n"}, _stage_path_with_spaces),
    Shape("quoted_name", {}, _stage_quoted_name),
    Shape("path_with_b_slash", {f"{B_SLASH_DIR}/notes.txt": b"first\n"}, _stage_path_with_b_slash),
    Shape("rename_with_b_slash", {f"{B_SLASH_DIR}/old b/list.txt": _lines(GUIDE_BASE)},
          _stage_rename_with_b_slash),
    Shape("mode_only", {"scripts/run.sh": b"#!/bin/sh\necho hi\n"}, _stage_mode_only),
    Shape("symlink", {}, _stage_symlink),
    Shape("lock_file", {"package-lock.json": LOCK_BASE}, _stage_lock_file),
)
SHAPES_BY_NAME = {shape.name: shape for shape in SHAPES}


def commit_base(repo: Path, shapes: tuple[Shape, ...]) -> str:
    """One commit holding every shape's starting files; returns its id."""
    _prepare(repo)
    _write(repo, "README.md", b"# test repository\n")
    for shape in shapes:
        for path, data in shape.base.items():
            _write(repo, path, data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return git(repo, "rev-parse", "HEAD").strip()


def stage_shape(repo: Path, name: str) -> StagedShape:
    """Commit the shape's starting files, then stage its change."""
    shape = SHAPES_BY_NAME[name]
    commit_base(repo, (shape,))
    return shape.stage(repo)


def stage_all_shapes(repo: Path) -> dict[str, StagedShape]:
    """Every shape but ``first_commit``, staged together on top of one base commit."""
    commit_base(repo, SHAPES)
    return {shape.name: shape.stage(repo) for shape in SHAPES}


def stage_first_commit(repo: Path) -> StagedShape:
    """A file staged in a repository with no commit yet (no HEAD)."""
    _prepare(repo)
    text = "print('first')\nprint('commit')\n"
    stage(repo, "hello.py", _lines(text))
    _write(repo, "hello.py", _lines(text + f"print('{UNSTAGED}')\n"))
    return StagedShape("first_commit", "hello.py", "added",
                       ((1, "print('first')"), (2, "print('commit')")), staged_text=text,
                       unstaged_edit=True)


def stage_new_file(repo: Path) -> StagedShape:
    return stage_shape(repo, "new_file")


def stage_modified_file(repo: Path) -> StagedShape:
    return stage_shape(repo, "modified_file")


def stage_rename_with_edit(repo: Path) -> StagedShape:
    return stage_shape(repo, "rename_with_edit")


def stage_deletion(repo: Path) -> StagedShape:
    return stage_shape(repo, "deletion")


def stage_binary_file(repo: Path) -> StagedShape:
    return stage_shape(repo, "binary_file")


def stage_crlf_file(repo: Path) -> StagedShape:
    return stage_shape(repo, "crlf_file")


def stage_latin1_content(repo: Path) -> StagedShape:
    return stage_shape(repo, "latin1_content")


def stage_non_ascii_name(repo: Path) -> StagedShape:
    return stage_shape(repo, "non_ascii_name")


def stage_path_with_spaces(repo: Path) -> StagedShape:
    return stage_shape(repo, "path_with_spaces")


def stage_quoted_name(repo: Path) -> StagedShape:
    return stage_shape(repo, "quoted_name")


def stage_mode_only(repo: Path) -> StagedShape:
    return stage_shape(repo, "mode_only")


def stage_symlink(repo: Path) -> StagedShape:
    return stage_shape(repo, "symlink")


def stage_lock_file(repo: Path) -> StagedShape:
    return stage_shape(repo, "lock_file")


def index_digest(repo: Path) -> bytes:
    """The index file's bytes, to prove a run wrote nothing."""
    index = repo / ".git" / "index"
    return index.read_bytes() if index.exists() else b""


