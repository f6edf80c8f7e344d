#!/usr/bin/env python3
"""The two package changes of the token benchmark (issue 15), as real git repositories.

    python benchmarks/packages.py --list               # build both in a temp dir, print them
    python benchmarks/packages.py --list --cache DIR   # sdists cached in DIR

Each change is the step between two released sdists from PyPI:

- attrs 22.2.0 -> 23.1.0, ``src/`` and ``tests/`` (about 1,300 changed lines);
- click 7.1.2 -> 8.0.0, the whole sdist (about 12,900 changed lines).

From both sdists, build artefacts (``*.egg-info/``, the top-level ``PKG-INFO``) and binary or
non-UTF-8 files (click ships a ``.DS_Store``) are left out: no reviewer reads them.

A repository has two branches: ``base`` (the old version) and ``head`` (the new version,
checked out, work tree clean), so ``aider-review --range base...head`` and PR-Agent's local
provider (target branch ``base``) see the same change. In ``head``, a few added lines of
Python files carry a planted ``# BUG: planted finding N`` comment (the fake model server
reports a finding on every added line containing "BUG"); their (path, line) are returned.
Added lines of the packages that contain "BUG" by themselves (``DEBUG``) are returned
apart, as ``natural_markers``: the fake model flags them too.

The sdists are fetched with ``pip download --no-deps --no-binary :all:`` into a cache
directory (``--cache``, default ``$XDG_CACHE_HOME/aider-review-bench``) the first time only.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import tokenize
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class PackageChange:
    name: str
    old: str
    new: str
    dirs: tuple[str, ...]  # top-level directories of the sdist kept; empty: all of it
    planted: int  # how many BUG markers are planted


CHANGES: dict[str, PackageChange] = {
    "attrs": PackageChange("attrs", "22.2.0", "23.1.0", ("src", "tests"), 8),
    "click": PackageChange("click", "7.1.2", "8.0.0", (), 12),
}


@dataclass(frozen=True)
class AddedLine:
    path: str
    line: int  # in the head version
    text: str


@dataclass
class PackageRepo:
    name: str
    path: Path
    base: str  # commit sha of branch "base"
    head: str  # commit sha of branch "head" (checked out)
    planted: list[tuple[str, int]]  # (path, line in head) of each planted BUG marker
    added_lines: int
    removed_lines: int
    files: int  # files of the diff (renames count once)
    natural_markers: list[tuple[str, int]] = field(default_factory=list)
    base_branch: str = "base"
    head_branch: str = "head"

    @property
    def changed_lines(self) -> int:
        return self.added_lines + self.removed_lines


PLANTED_COMMENT = "  # BUG: planted finding {n}"
_BUILD_ARTEFACTS = ("PKG-INFO",)
_GIT_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false",
               "-c", "core.autocrlf=false", "-c", "diff.noprefix=false")
_GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
                 "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
                 # fixed dates: the same shas on every run
                 "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
                 "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}


def default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aider-review-bench"


# ---------------------------------------------------------------------------------------------
# sdists


def sdist(name: str, version: str, cache: Path | None = None) -> Path:
    """The sdist of ``name==version`` in ``cache``, downloaded from PyPI when missing."""
    cache = cache or default_cache()
    for suffix in (".tar.gz", ".zip"):
        for stem in (f"{name}-{version}", f"{name.replace('-', '_')}-{version}"):
            if (cache / f"{stem}{suffix}").is_file():
                return cache / f"{stem}{suffix}"
    cache.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
         "--dest", str(cache), f"{name}=={version}"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"pip download {name}=={version} failed: {result.stderr.strip()[-500:]}")
    found = sorted(cache.glob(f"*-{version}.tar.gz")) + sorted(cache.glob(f"*-{version}.zip"))
    if not found:
        raise RuntimeError(f"pip download {name}=={version} left no sdist in {cache}")
    return found[0]


def sdist_files(archive: Path, dirs: Sequence[str]) -> dict[str, bytes]:
    """The text files of an sdist by path below its top directory, without build artefacts."""
    files: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            parts = PurePosixPath(member.name).parts[1:]  # below "name-version/"
            if not parts or not _kept(parts, dirs):
                continue
            extracted = tar.extractfile(member)
            data = extracted.read() if extracted is not None else b""
            if _is_text(data):
                files["/".join(parts)] = data
    return files


def _kept(parts: tuple[str, ...], dirs: Sequence[str]) -> bool:
    if dirs and (len(parts) < 2 or parts[0] not in dirs):
        return False
    if len(parts) == 1 and parts[0] in _BUILD_ARTEFACTS:
        return False
    return not any(part.endswith(".egg-info") for part in parts)


def _is_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Repositories


def git_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with a fixed identity and no system git config."""
    merged = dict(os.environ if env is None else env)
    merged.update(_GIT_IDENTITY)
    merged["GIT_CONFIG_NOSYSTEM"] = "1"
    return merged


def _git(repo: Path, env: Mapping[str, str], *args: str) -> str:
    result = subprocess.run(["git", *_GIT_CONFIG, *args], cwd=repo, env=dict(env),
                            capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode("utf-8", errors="replace")


def _write_tree(repo: Path, files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def build_package_repo(name: str, work: Path, env: Mapping[str, str] | None = None, *,
                       cache: Path | None = None) -> PackageRepo:
    """A git repository at ``work/name`` holding the package change ``name`` (see CHANGES)."""
    change = CHANGES[name]
    env = git_env(env)
    old = sdist_files(sdist(change.name, change.old, cache), change.dirs)
    new = sdist_files(sdist(change.name, change.new, cache), change.dirs)
    repo = work / name
    repo.mkdir(parents=True)
    _git(repo, env, "init", "-q", "-b", "base")
    _write_tree(repo, old)
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m", f"{name} {change.old}")
    base = _git(repo, env, "rev-parse", "HEAD").strip()
    _git(repo, env, "checkout", "-q", "-b", "head")
    _git(repo, env, "rm", "-rq", ".")
    unplanted = added_lines_between(repo, env, base, None, new)
    marked_new, planted = plant_markers(new, unplanted, change.planted)
    _write_tree(repo, marked_new)
    _git(repo, env, "add", "-A")
    _git(repo, env, "commit", "-q", "-m",
         f"{name} {change.new} with {len(planted)} planted BUG markers")
    head = _git(repo, env, "rev-parse", "HEAD").strip()
    planted_set = set(planted)
    natural = [(a.path, a.line) for a in unplanted
               if "BUG" in a.text and (a.path, a.line) not in planted_set]
    added, removed, files = diff_stat(repo, env, base, head)
    return PackageRepo(name, repo, base, head, planted, added, removed, files, natural)


def diff_stat(repo: Path, env: Mapping[str, str], base: str, head: str) -> tuple[int, int, int]:
    """(added lines, removed lines, files) of ``base..head`` with renames found."""
    added = removed = files = 0
    for row in _git(repo, env, "diff", "--numstat", "-M", base, head).splitlines():
        plus, minus, _ = row.split("\t", 2)
        files += 1
        if plus != "-":
            added, removed = added + int(plus), removed + int(minus)
    return added, removed, files


def added_lines(repo: PackageRepo, env: Mapping[str, str] | None = None) -> list[AddedLine]:
    """Every added line of the change, with its line number in ``head``."""
    return added_lines_between(repo.path, git_env(env), repo.base, repo.head)


def added_lines_between(repo: Path, env: Mapping[str, str], base: str, head: str | None,
                        work_files: Mapping[str, bytes] | None = None) -> list[AddedLine]:
    """Added lines of ``base..head``; with ``head`` None, of ``base`` against ``work_files``
    written to the work tree and staged (the index)."""
    if head is None:
        _write_tree(repo, work_files or {})
        _git(repo, env, "add", "-A")
        diff = _git(repo, env, "diff", "--cached", "-M", "--unified=0", "--no-color", base)
    else:
        diff = _git(repo, env, "diff", "-M", "--unified=0", "--no-color", base, head)
    return list(_parse_added(diff))


def _parse_added(diff: str) -> list[AddedLine]:
    found: list[AddedLine] = []
    path = ""
    line = 0
    for text in diff.splitlines():
        if text.startswith("+++ "):
            path = text[6:] if text.startswith("+++ b/") else ""
        elif text.startswith("@@ "):
            new_range = text.split(" ")[2]  # "+start[,count]"
            line = int(new_range[1:].split(",")[0])
        elif text.startswith("+") and path:
            found.append(AddedLine(path, line, text[1:]))
            line += 1
    return found


# ---------------------------------------------------------------------------------------------
# Planted findings


def plant_markers(files: Mapping[str, bytes], added: Sequence[AddedLine],
                  count: int) -> tuple[dict[str, bytes], list[tuple[str, int]]]:
    """``files`` with a BUG comment appended to ``count`` added lines of Python files, spread
    over as many files as possible; and the (path, line) of each marker."""
    eligible = _eligible_lines(files, added)
    chosen = _spread(eligible, count)
    marked = dict(files)
    by_path: dict[str, list[int]] = {}
    for path, line in chosen:
        by_path.setdefault(path, []).append(line)
    numbers = {spot: n for n, spot in enumerate(chosen, start=1)}
    for path, lines in by_path.items():
        text_lines = files[path].decode("utf-8").splitlines(keepends=True)
        for line in lines:
            body = text_lines[line - 1]
            ending = body[len(body.rstrip("\r\n")):]
            text_lines[line - 1] = (body.rstrip("\r\n")
                                    + PLANTED_COMMENT.format(n=numbers[(path, line)]) + ending)
        marked[path] = "".join(text_lines).encode("utf-8")
    return marked, chosen


def _eligible_lines(files: Mapping[str, bytes],
                    added: Sequence[AddedLine]) -> dict[str, list[int]]:
    """Per Python file, the added lines that end a statement (a comment there is still a
    comment, not text inside a string), hold a word (not a lone closing bracket or quote) and
    trip no rule of the fake model already."""
    wanted: dict[str, set[int]] = {}
    for item in added:
        if item.path.endswith(".py") and any(c.isalnum() for c in item.text) and not any(
                word in item.text for word in ("BUG", "TODO", "eval(", "#")):
            wanted.setdefault(item.path, set()).add(item.line)
    eligible: dict[str, list[int]] = {}
    for path, lines in sorted(wanted.items()):
        ends = _statement_ends(files[path].decode("utf-8"))
        good = sorted(lines & ends)
        if good:
            eligible[path] = good
    return eligible


def _statement_ends(source: str) -> set[int]:
    """Lines on which a logical line (a statement) ends, by Python's tokenizer."""
    ends: set[int] = set()
    comments: set[int] = set()
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.NEWLINE:
                ends.add(token.start[0])
            elif token.type == tokenize.COMMENT:
                comments.add(token.start[0])
    except (tokenize.TokenError, SyntaxError):
        return set()
    lines = source.splitlines()
    return {n for n in ends - comments if n <= len(lines) and not lines[n - 1].endswith("\\")}


def _spread(eligible: Mapping[str, list[int]], count: int) -> list[tuple[str, int]]:
    """``count`` spots, files picked evenly through the sorted list, lines evenly within a
    file when it must hold more than one."""
    paths = sorted(eligible)
    if not paths:
        return []
    picks: dict[str, int] = {}
    for i in range(count):
        path = paths[(i * len(paths)) // count] if count <= len(paths) else paths[i % len(paths)]
        picks[path] = picks.get(path, 0) + 1
    chosen: list[tuple[str, int]] = []
    for path in paths:
        lines = eligible[path]
        wanted = min(picks.get(path, 0), len(lines))
        for k in range(wanted):
            chosen.append((path, lines[((2 * k + 1) * len(lines)) // (2 * wanted)]))
    return chosen


# ---------------------------------------------------------------------------------------------


def describe(repo: PackageRepo) -> str:
    change = CHANGES[repo.name]
    kept = ", ".join(f"{d}/" for d in change.dirs) if change.dirs else "the whole sdist"
    lines = [f"{repo.name} {change.old} -> {change.new} ({kept}, without *.egg-info, PKG-INFO "
             f"and binary files): {repo.files} files, +{repo.added_lines} -{repo.removed_lines}"
             f" = {repo.changed_lines} changed lines; repo {repo.path} base {repo.base[:10]} "
             f"head {repo.head[:10]}",
             f"  planted ({len(repo.planted)}): "
             + ", ".join(f"{path}:{line}" for path, line in repo.planted)]
    if repo.natural_markers:
        lines.append("  added lines with BUG of their own: "
                     + ", ".join(f"{path}:{line}" for path, line in repo.natural_markers))
    return "\n".join(lines)


def add_package_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every package benchmark takes: which changes, where sdists and repos go."""
    parser.add_argument("--cache", type=Path, default=None,
                        help="where the sdists are kept (default ~/.cache/aider-review-bench)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this directory (must not exist) and keep it")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"of {', '.join(CHANGES)}")


def chosen_packages(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    names: list[str] = args.names or list(CHANGES)
    unknown = [name for name in names if name not in CHANGES]
    if unknown:
        parser.error(f"unknown package change {unknown[0]!r}; known: {', '.join(CHANGES)}")
    return names


@contextmanager
def work_dir(keep: Path | None, prefix: str) -> Iterator[Path]:
    """``keep`` (created, left behind), else a temp dir removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python benchmarks/packages.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--list", action="store_true",
                        help="build the changes and print them (the default, and only, action)")
    add_package_arguments(parser)
    args = parser.parse_args(argv)
    names = chosen_packages(parser, args)
    with work_dir(args.keep, "aider-review-packages-") as work:
        for name in names:
            print(describe(build_package_repo(name, work, cache=args.cache)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
