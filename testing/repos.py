"""Real git repositories for tests and benchmarks: run git, stage and commit files, snapshot a
tree."""
from __future__ import annotations

import subprocess
from pathlib import Path

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}

def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    """Run git in ``cwd`` and return its stdout; fail the test loudly if git fails."""
    result = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", errors="replace")


def stage(repo: Path, path: str, text: str | bytes) -> None:
    """Write ``path`` (text as UTF-8) and ``git add`` it."""
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text, encoding="utf-8")
    git(repo, "add", "--", path)


def commit(repo: Path, path: str, text: str) -> None:
    """``stage`` it, then commit it alone."""
    stage(repo, path, text)
    git(repo, "commit", "-qm", f"add {path}")


def commit_base_and_head(repo: Path, path: str, base_text: str, head_text: str) -> tuple[str, str]:
    """Two commits of one file, as a pull request's base and head; returns their shas."""
    (repo / path).write_text(base_text)
    git(repo, "add", path)
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / path).write_text(head_text)
    git(repo, "commit", "-qam", "head")
    return base, git(repo, "rev-parse", "HEAD").strip()


def snapshot_repo(repo: Path) -> tuple[bytes, dict[str, bytes]]:
    """The index file's bytes and every work-tree file's bytes, to prove nothing changed."""
    index = (repo / ".git" / "index").read_bytes() if (repo / ".git" / "index").exists() else b""
    files = {}
    for path in sorted(repo.rglob("*")):
        if ".git" in path.relative_to(repo).parts or not path.is_file():
            continue
        files[str(path.relative_to(repo))] = path.read_bytes()
    return index, files
