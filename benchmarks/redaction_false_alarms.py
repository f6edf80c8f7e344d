"""How often redaction alters lines that hold no secret: the false-alarm rate on real diffs.

    python benchmarks/redaction_false_alarms.py              # prints a Markdown table
    python benchmarks/redaction_false_alarms.py --show 40    # and 40 of the altered lines
    python benchmarks/redaction_false_alarms.py --json       # the raw figures

Downloads two released versions of a few popular pure-Python packages as source archives
from the package index (``pip download --no-deps --no-binary :all:``; the only network it
uses), diffs each pair (``git diff --no-index``), runs ``redact_text`` on the added lines of
each changed file, hunk by hunk and with the file's path (as the hook does), and reports the
share of added lines that redaction altered. These releases hold no secrets (test fixtures
aside: a line that a fixture meant as a fake credential is counted as a false alarm too),
so every altered line is a cost. Changed file names are checked as well (a name that looks
like a secret withholds its hunks).

The archives are kept in ``--cache`` (default ``~/.cache/aider-hooks/sdists``), so a second
run needs no network. Not part of the test suite: ``tests/test_redaction_false_alarms.py``
runs the measuring function on a local diff.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aider_hooks.redact import find_secrets, redact_text  # noqa: E402

# (package, older release, newer release): pure-Python, widely used, a real release's worth
# of change each (code, tests, docs, config).
PAIRS = (
    ("requests", "2.31.0", "2.32.3"),
    ("attrs", "22.2.0", "23.1.0"),
    ("click", "7.1.2", "8.0.0"),
    ("flask", "2.3.3", "3.0.0"),
    ("jinja2", "3.1.2", "3.1.4"),
    ("werkzeug", "2.3.7", "3.0.0"),
    ("rich", "13.5.0", "13.7.0"),
)
DEFAULT_CACHE = Path.home() / ".cache" / "aider-hooks" / "sdists"


@dataclass
class Figures:
    files: int = 0
    lines: int = 0  # added lines
    altered: int = 0  # added lines that redaction changed
    private_keys: int = 0  # of those, lines of PEM private-key blocks (real key material)
    redactions: int = 0
    names_flagged: int = 0  # changed file names that look like secrets
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # path, line, redacted
    seconds: float = 0.0

    def add(self, other: Figures) -> None:
        self.files += other.files
        self.lines += other.lines
        self.altered += other.altered
        self.private_keys += other.private_keys
        self.redactions += other.redactions
        self.names_flagged += other.names_flagged
        self.examples += other.examples
        self.seconds += other.seconds

    @property
    def rate(self) -> float:
        return self.altered / self.lines if self.lines else 0.0

    @property
    def rate_without_keys(self) -> float:
        """Leaving out the lines of private-key blocks: test fixtures' keys are real keys."""
        return (self.altered - self.private_keys) / self.lines if self.lines else 0.0


def added_blocks(diff: str) -> Iterator[tuple[str, list[str]]]:
    """(path, added lines) for each run of added lines in a ``git diff`` (unified) text; the
    path is the new side's, without the ``b/`` prefix."""
    path = ""
    block: list[str] = []
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            if block:
                yield path, block
            block, path = [], ""
        elif line.startswith("+++ "):
            target = line[4:].strip()
            path = "" if target == "/dev/null" else target[2:] if target.startswith("b/") else target
        elif line.startswith("+") and path:
            block.append(line[1:])
        elif block:
            yield path, block
            block = []
    if block:
        yield path, block


def measure_diff(diff: str, *, keep_examples: int = 0) -> Figures:
    """Redact the added lines of ``diff`` run by run, with each file's path, and count."""
    figures = Figures()
    paths: set[str] = set()
    started = time.perf_counter()
    for path, block in added_blocks(diff):
        paths.add(path)
        text = "\n".join(block)
        redacted, count = redact_text(text, path=path)
        figures.lines += len(block)
        figures.redactions += count
        if count:
            for before, after in zip(block, redacted.split("\n")):
                if before != after:
                    figures.altered += 1
                    if "[REDACTED:private-key]" in after:
                        figures.private_keys += 1
                        continue
                    if len(figures.examples) < keep_examples:
                        figures.examples.append((path, before.strip()[:160], after.strip()[:160]))
    figures.files = len(paths)
    figures.names_flagged = sum(bool(find_secrets(p, path=p)) for p in paths)
    figures.seconds = time.perf_counter() - started
    return figures


def download(package: str, version: str, cache: Path) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    for existing in cache.glob("*"):
        if existing.name.lower().startswith(f"{package}-{version}.".lower()):
            return existing
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                    "--quiet", "-d", str(cache), f"{package}=={version}"], check=True)
    return download(package, version, cache)


def unpack(archive: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    (top,) = [p for p in into.iterdir() if p.is_dir()]
    return top


def release_diff(package: str, old: str, new: str, cache: Path) -> str:
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        old_tree = unpack(download(package, old, cache), base / "old")
        new_tree = unpack(download(package, new, cache), base / "new")
        (base / "a").symlink_to(old_tree)
        (base / "b").symlink_to(new_tree)
        result = subprocess.run(["git", "diff", "--no-index", "--no-color", "--no-ext-diff",
                                 "--unified=3", "--", "a/", "b/"], cwd=base,
                                capture_output=True, check=False)
        if result.returncode not in (0, 1):
            raise RuntimeError(result.stderr.decode(errors="replace"))
        return result.stdout.decode("utf-8", errors="replace").replace("+++ b/b/", "+++ b/")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--show", type=int, default=0, help="print this many altered lines")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows: list[tuple[str, Figures]] = []
    total = Figures()
    for package, old, new in PAIRS:
        figures = measure_diff(release_diff(package, old, new, args.cache),
                               keep_examples=args.show)
        rows.append((f"{package} {old} -> {new}", figures))
        total.add(figures)
    if args.json:
        print(json.dumps({name: {k: v for k, v in vars(f).items() if k != "examples"}
                          | {"rate": f.rate, "rate_without_keys": f.rate_without_keys}
                          for name, f in [*rows, ("total", total)]}, indent=2))
        return 0
    print("| Release diff | Files | Added lines | Altered | Rate | Altered, private-key lines aside "
          "| Rate | Names flagged |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, f in [*rows, ("**total**", total)]:
        print(f"| {name} | {f.files} | {f.lines:,} | {f.altered} | {f.rate:.2%} "
              f"| {f.altered - f.private_keys} | {f.rate_without_keys:.2%} | {f.names_flagged} |")
    print(f"\nredaction time: {total.seconds:.2f} s for {total.lines:,} lines")
    for path, before, after in total.examples[:args.show]:
        print(f"\n{path}\n  - {before}\n  + {after}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
