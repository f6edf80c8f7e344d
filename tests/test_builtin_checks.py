"""checks/ (the built-in checks): each rule fires on the added line it is about, and nowhere else.

Most tests run on real staged changes in temp repositories (``load_diff`` + ``parse_diff``,
with the staged blobs as ``read_new_file``); a few build hunks directly for shapes git will
not easily produce (a saved diff whose work tree moved on, an unreadable file).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aider_hooks.checks.context import ReadNewFile
from aider_hooks.checks.registry import run_checks
from aider_hooks.diff.source import DiffSource, LoadedDiff, load_diff
from aider_hooks.finding import Finding
from aider_hooks.hunk import DiffLine, Hunk
from aider_hooks.diff.parse import ChangedFile, FileStatus, HunkSet, parse_diff
from aider_hooks.settings import Settings
from testing.repos import git
from tests.data.fake_secrets import B64, BEGIN, END, GH, PRIVATE, SK, rand

SETTINGS = Settings()


def run_builtin_checks(hunk_set: HunkSet, *, read_new_file: ReadNewFile,
                       settings: Settings) -> list[Finding]:
    """The built-in checks' findings (no plugin is installed in the test environment)."""
    run = run_checks(hunk_set, read_new_file=read_new_file, settings=settings)
    assert run.notices == []
    return run.findings


class Repo:
    """A temp repository: commit a base, stage a change, then run the built-in checks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        git(root, "config", "core.autocrlf", "false")

    def write(self, path: str, data: str | bytes) -> None:
        target = self.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)

    def commit(self, files: dict[str, str | bytes]) -> None:
        for path, data in files.items():
            self.write(path, data)
        git(self.root, "add", "-A")
        git(self.root, "commit", "-q", "-m", "base")

    def stage(self, files: dict[str, str | bytes]) -> None:
        for path, data in files.items():
            self.write(path, data)
            git(self.root, "add", "--", path)

    def check(self, settings: Settings = SETTINGS) -> list[Finding]:
        loaded = load_diff(DiffSource("staged"), cwd=self.root)
        try:
            hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
            return run_builtin_checks(hunk_set, read_new_file=loaded.read_new_file,
                                      settings=settings)
        finally:
            loaded.close()


@pytest.fixture
def repo(git_repo: Path) -> Iterator[Repo]:
    yield Repo(git_repo)


def _where(findings: list[Finding], category: str | None = None) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.category) for f in findings if category in (None, f.category)]


# --- conflict markers ------------------------------------------------------------------------

CONFLICTED = (
    "def total(price, qty):\n"
    "<<<<<<< HEAD\n"
    "    return price * qty\n"
    "=======\n"
    "    return price * (qty or 0)\n"
    ">>>>>>> feature/qty\n"
)


def test_conflict_markers_on_added_lines_are_errors(repo: Repo) -> None:
    repo.commit({"app.py": "def total(price, qty):\n    return price * qty\n"})
    repo.stage({"app.py": CONFLICTED})

    findings = [f for f in repo.check() if f.category == "conflict-marker"]

    assert [(f.line, f.severity, f.code) for f in findings] == [
        (2, "error", "<<<<<<< HEAD"), (4, "error", "======="), (6, "error", ">>>>>>> feature/qty")]
    assert all(f.source == "builtin" and f.path == "app.py" for f in findings)
    assert "conflict" in findings[0].message


def test_a_diff3_base_marker_counts_too(repo: Repo) -> None:
    repo.commit({"notes.txt": "a\n"})
    repo.stage({"notes.txt": "<<<<<<< ours\na\n||||||| base\nb\n=======\nc\n>>>>>>> theirs\n"})

    assert [f.line for f in repo.check() if f.category == "conflict-marker"] == [1, 3, 5, 7]


def test_a_markdown_heading_underline_is_not_a_conflict(repo: Repo) -> None:
    repo.commit({"README.md": "intro\n"})
    repo.stage({"README.md": "Usage\n=======\n\nintro\n"})

    assert repo.check() == []


def test_markers_already_in_the_file_are_not_reported_again(repo: Repo) -> None:
    """Only added lines count: a marker on a context line is not this change's doing."""
    repo.commit({"app.py": CONFLICTED})
    repo.stage({"app.py": CONFLICTED + "x = 1\n"})

    assert _where(repo.check(), "conflict-marker") == []


# --- debugger calls --------------------------------------------------------------------------

def test_leftover_python_debuggers_are_errors(repo: Repo) -> None:
    repo.commit({"app.py": "def f(x):\n    return x\n"})
    repo.stage({"app.py": (
        "import pdb\n"                                   # 1
        "def f(x):\n"                                    # 2
        "    breakpoint()\n"                             # 3
        "    import ipdb; ipdb.set_trace()\n"            # 4
        "    return x\n"                                 # 5
        "def g():\n"                                     # 6
        "    __import__('pudb').set_trace()\n"           # 7
        "    from IPython import embed; embed()\n"       # 8
    )})

    findings = [f for f in repo.check() if f.category == "debugger"]

    assert [(f.line, f.severity) for f in findings] == [(1, "error"), (3, "error"), (4, "error"),
                                                        (7, "error"), (8, "error")]
    assert "breakpoint()" in findings[1].message


def test_debugger_words_in_strings_comments_and_docstrings_are_fine(repo: Repo) -> None:
    repo.commit({"app.py": "x = 1\n"})
    repo.stage({"app.py": (
        "x = 1\n"
        'HELP = "call breakpoint() to stop here"\n'
        "y = 2  # never leave pdb.set_trace() in\n"
        "def f():\n"
        '    """Debugging tips.\n'
        "\n"
        "    breakpoint()\n"
        "    import pdb\n"
        "    >>> breakpoint()\n"
        '    """\n'
        "class Debugger:\n"
        "    def breakpoint(self):\n"
        "        return self.set_breakpoint()\n"
    )})

    assert _where(repo.check()) == []


def test_debugger_statements_in_javascript_and_ruby(repo: Repo) -> None:
    repo.commit({"web/app.ts": "export const x = 1;\n", "lib/job.rb": "def run\nend\n"})
    repo.stage({
        "web/app.ts": ("export const x = 1;\n"
                       "function f() {\n"
                       "  debugger;\n"                           # 3
                       "  const s = 'debugger;';  // debugger;\n"
                       "}\n"),
        "lib/job.rb": ("def run\n"
                       "  binding.pry\n"                          # 2
                       "  puts 'byebug'  # byebug\n"
                       "  byebug\n"                               # 4
                       "  debugger if ENV['DEBUG']\n"             # 5
                       "  @debugger = nil\n"
                       "end\n"),
    })

    assert _where(repo.check()) == [("lib/job.rb", 2, "debugger"), ("lib/job.rb", 4, "debugger"),
                                    ("lib/job.rb", 5, "debugger"), ("web/app.ts", 3, "debugger")]


def test_debugger_rules_only_apply_to_their_languages(repo: Repo) -> None:
    repo.commit({"docs/debugging.md": "# Debugging\n"})
    repo.stage({"docs/debugging.md": "# Debugging\n\nAdd `breakpoint()` or `debugger;`:\n\n"
                                     "    import pdb; pdb.set_trace()\n    binding.pry\n"})

    assert repo.check() == []


def test_a_removed_debugger_is_good_news_not_a_finding(repo: Repo) -> None:
    repo.commit({"app.py": "def f():\n    breakpoint()\n    return 1\n"})
    repo.stage({"app.py": "def f():\n    return 1\n"})

    assert repo.check() == []


# --- secrets ---------------------------------------------------------------------------------

def test_a_secret_on_an_added_line_is_an_error_that_never_repeats_it(repo: Repo) -> None:
    token = GH + "p_" + rand(36)
    repo.commit({"deploy.py": "import os\n"})
    repo.stage({"deploy.py": f"import os\nTOKEN = '{token}'\nDB = 'postgres://app:Pw{rand(10)}@db/app'\n"})

    findings = repo.check()

    assert [(f.line, f.severity, f.category) for f in findings] == [
        (2, "error", "secret"), (3, "error", "secret")]
    assert "github-token" in findings[0].message and "password-in-url" in findings[1].message
    assert findings[0].code == "TOKEN = '[REDACTED:github-token]'"
    for finding in findings:
        assert token not in str(finding.to_json()) and token not in finding.code


def test_a_key_block_is_one_finding_over_its_added_lines(repo: Repo) -> None:
    body = [rand(64, B64) for _ in range(3)] + [rand(20, B64) + "=="]
    key = "\n".join([f"{BEGIN} RSA {PRIVATE}", *body, f"{END} RSA {PRIVATE}"]) + "\n"
    repo.commit({"deploy/README.txt": "keys\n"})
    repo.stage({"deploy/README.txt": "keys\n", "deploy/id_rsa": key})

    findings = repo.check()

    assert [(f.path, f.line, f.end_line, f.category) for f in findings] == [
        ("deploy/id_rsa", 1, 6, "secret")]
    assert "private-key" in findings[0].message
    assert all(line not in findings[0].code for line in body)


def test_a_secret_already_in_the_file_is_not_this_changes_finding(repo: Repo) -> None:
    repo.commit({".env": f"OPENAI_API_KEY={SK}-{rand(48)}\n"})
    repo.stage({".env": (repo.root / ".env").read_text() + "DEBUG=true\n"})

    assert repo.check() == []


# --- syntax errors ---------------------------------------------------------------------------

def test_a_syntax_error_in_the_staged_file_is_found_even_when_the_work_tree_is_fixed(
        repo: Repo) -> None:
    repo.commit({"app.py": "def f(x):\n    return x\n"})
    repo.stage({"app.py": "def f(x):\n    return x\n\ndef g(:\n    return 1\n"})
    repo.write("app.py", "def f(x):\n    return x\n\ndef g():\n    return 1\n")  # unstaged fix

    findings = repo.check()

    assert [(f.line, f.severity, f.category) for f in findings] == [(4, "error", "syntax-error")]
    assert findings[0].code == "def g(:"
    assert findings[0].message.startswith("Python syntax error: ")
    assert "line 4" not in findings[0].message  # it is on that line


def test_a_broken_work_tree_does_not_matter_when_the_staged_file_is_fine(repo: Repo) -> None:
    repo.commit({"app.py": "x = 1\n"})
    repo.stage({"app.py": "x = 1\ny = 2\n"})
    repo.write("app.py", "x = 1\ny = (\n")

    assert repo.check() == []


def test_a_syntax_error_outside_the_added_lines_goes_on_the_nearest_added_line(repo: Repo) -> None:
    base = "".join(f"v{n} = {n}\n" for n in range(1, 9))
    repo.commit({"calc.py": "total = sum(\n    [1, 2],\n)\n" + base})
    # Deleting line 3 (")") breaks line 1; the only added line is far below.
    repo.stage({"calc.py": "total = sum(\n    [1, 2],\n" + base.replace("v6 = 6", "v6 = 60")})

    findings = repo.check()

    assert [(f.line, f.category) for f in findings] == [(8, "syntax-error")]
    assert "(line 1, Python 3." in findings[0].message and "never closed" in findings[0].message


def test_pep_263_encodings_are_honoured_and_undecodable_files_skipped(repo: Repo) -> None:
    latin1_ok = "# -*- coding: latin-1 -*-\nNAME = 'café'\n".encode("latin-1")
    latin1_broken = "# -*- coding: latin-1 -*-\nNAME = 'café'\nif True\n    pass\n".encode("latin-1")
    not_text = b"NAME = '\xff\xfe'\nif True\n"
    repo.commit({"a.py": b"A = 1\n", "b.py": b"B = 1\n", "c.py": b"C = 1\n"})
    repo.stage({"a.py": latin1_ok, "b.py": latin1_broken, "c.py": not_text})

    assert _where(repo.check()) == [("b.py", 3, "syntax-error")]


def test_a_new_python_file_from_a_saved_diff_is_checked_without_a_repository(tmp_path: Path) -> None:
    diff = ("diff --git a/tool.py b/tool.py\nnew file mode 100644\n--- /dev/null\n+++ b/tool.py\n"
            "@@ -0,0 +1,3 @@\n+def main():\n+    print('hi'\n+\n")
    patch = tmp_path / "change.patch"
    patch.write_text(diff)
    loaded = load_diff(DiffSource("file", str(patch)), cwd=tmp_path)

    findings = _check_loaded(loaded)

    assert [(f.path, f.line, f.category) for f in findings] == [("tool.py", 2, "syntax-error")]


def _check_loaded(loaded: LoadedDiff, settings: Settings = SETTINGS) -> list[Finding]:
    hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
    return run_builtin_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings)


def test_a_work_tree_that_moved_on_since_a_saved_diff_proves_nothing(repo: Repo) -> None:
    """With --diff FILE the new side comes from the work tree; when it no longer matches the
    diff, compiling it would report someone else's problem."""
    repo.commit({"app.py": "x = 1\n"})
    repo.write("app.py", "x = 1\ny = 2\n")
    diff = git(repo.root, "diff")
    (repo.root / "change.patch").write_text(diff)
    repo.write("app.py", "x = (\n")  # moved on, and broken

    loaded = load_diff(DiffSource("file", "change.patch"), cwd=repo.root)

    assert _check_loaded(loaded) == []


# --- large files -----------------------------------------------------------------------------

def test_a_large_new_file_is_a_warning_on_line_1(repo: Repo) -> None:
    repo.commit({"README.md": "x\n"})
    repo.stage({"data/big.csv": "id,name\n" + "1,abc\n" * 400,
                "assets/logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
                "small.txt": "ok\n"})

    findings = repo.check(replace(SETTINGS, max_file_bytes=1000))

    assert [(f.path, f.line, f.severity, f.category, f.code) for f in findings] == [
        ("assets/logo.png", 1, "warning", "large-file", ""),
        ("data/big.csv", 1, "warning", "large-file", "id,name"),
    ]
    assert "binary" in findings[0].message and "2.1 kB" in findings[0].message
    assert "limit 1.0 kB" in findings[1].message


def test_growing_an_existing_file_or_a_zero_limit_is_no_finding(repo: Repo) -> None:
    repo.commit({"data.csv": "id\n"})
    repo.stage({"data.csv": "id\n" + "1\n" * 1000, "new.csv": "id\n" + "2\n" * 1000})

    assert _where(repo.check(replace(SETTINGS, max_file_bytes=100))) == [("new.csv", 1, "large-file")]
    assert repo.check(replace(SETTINGS, max_file_bytes=0)) == []


# --- what is not checked ---------------------------------------------------------------------

def test_lock_vendored_and_excluded_files_are_not_checked(repo: Repo) -> None:
    repo.commit({"README.md": "x\n"})
    repo.stage({"package-lock.json": "<<<<<<< HEAD\n{}\n=======\n[]\n>>>>>>> main\n",
                "vendor/lib.py": "breakpoint()\n",
                "vendor/blob.bin": bytes(range(256)) * 20,
                "gen/out.py": "def (:\n"})

    settings = replace(SETTINGS, exclude=("gen/",), max_file_bytes=100)
    assert repo.check(settings) == []


def test_builtin_checks_can_be_turned_off(repo: Repo) -> None:
    repo.commit({"app.py": "x = 1\n"})
    repo.stage({"app.py": "x = 1\nbreakpoint()\n<<<<<<< HEAD\n"})

    assert repo.check(replace(SETTINGS, builtin_checks=False)) == []


def test_findings_come_sorted_by_file_and_line(repo: Repo) -> None:
    repo.commit({"b.py": "x = 1\n", "a.py": "x = 1\n"})
    repo.stage({"b.py": "breakpoint()\nx = 1\n<<<<<<< HEAD\n",
                "a.py": f"x = 1\nKEY = '{GH}p_{rand(36)}'\nbreakpoint()\n"})

    findings = repo.check()

    assert _where(findings) == [("a.py", 2, "secret"), ("a.py", 3, "debugger"),
                                ("b.py", 1, "debugger"), ("b.py", 3, "syntax-error"),
                                ("b.py", 3, "conflict-marker")]
    assert findings == repo.check()


# --- hunks built by hand ---------------------------------------------------------------------

def _file(path: str, lines: list[tuple[str, str]], *, status: FileStatus = "modified") -> ChangedFile:
    diff_lines, new, old = [], 1, 1
    for kind, text in lines:
        diff_lines.append(DiffLine(kind, text, None if kind == "-" else new, None if kind == "+" else old))
        new += kind != "-"
        old += kind != "+"
    hunk = Hunk(path=path, lines=tuple(diff_lines), new_start=1, new_length=new - 1,
                old_start=1, old_length=old - 1, is_new_file=status == "added")
    return ChangedFile(path, None, status, False, None, [hunk])


def test_checks_never_anchor_on_context_or_removed_lines() -> None:
    file = _file("app.py", [(" ", "breakpoint()"), ("-", "<<<<<<< HEAD"), ("+", "x = 1"),
                            (" ", f"TOKEN = '{GH}p_{rand(36)}'")])

    findings = run_builtin_checks(HunkSet([file], file.hunks, 0),
                                  read_new_file=lambda path: None, settings=SETTINGS)

    assert findings == []


def test_a_read_error_is_not_a_crash() -> None:
    def broken_reader(path: str) -> bytes | None:
        raise OSError("disk on fire")

    file = _file("app.py", [("+", "def f(:")], status="modified")

    assert run_builtin_checks(HunkSet([file], file.hunks, 0), read_new_file=broken_reader,
                              settings=SETTINGS) == []


def test_a_line_allowlisted_for_detect_secrets_is_not_reported(repo: Repo) -> None:
    repo.commit({"tests/conftest.py": "import os\n"})
    repo.stage({"tests/conftest.py": "import os\n"
                f"FAKE = '{GH}p_{rand(36)}'  # pragma: allowlist secret\n"
                f"REAL = '{GH}p_{rand(36)}'\n"})

    assert _where(repo.check()) == [("tests/conftest.py", 3, "secret")]


def test_a_documentation_url_password_is_hidden_from_the_model_but_not_reported(repo: Repo) -> None:
    repo.commit({"README.md": "# Proxy\n"})
    repo.stage({"README.md": "# Proxy\n\nUse `https://user:pass@proxy.example.com:3128`.\n"})

    assert repo.check() == []


def test_a_random_looking_value_is_redacted_but_does_not_block_the_commit(repo: Repo) -> None:
    """The redaction fail-safe hides a random-looking ID from the model; it is no finding."""
    repo.commit({"app.py": "import os\n"})
    repo.stage({"app.py": "import os\ntrace = lookup(\"Xk29QmZ7Lp3Vb8Nw4Rt6Yh\")\n"
                          f"TOKEN = '{GH}p_{rand(36)}'\n"})

    assert _where(repo.check(), "secret") == [("app.py", 3, "secret")]
