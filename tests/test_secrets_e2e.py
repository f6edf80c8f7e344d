"""Secrets never leave the machine, end to end: the fake-secret corpus (tests/data/fake_secrets.py,
every kind of issue 4) staged in a real repository, reviewed through the installed CLI against
the model server, and every request body the server received searched for every secret.

And our own credentials never show: the API key and the GitHub token are absent from stdout,
stderr, the cache file's bytes and the crash log, even when the endpoint echoes the key back
in its error (the fake server's 401 does, like some proxies).
"""
from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.repos import commit_base_and_head, git
from tests.data.fake_secrets import FAKE_SECRETS, FakeSecret
from tests.data.secret_corpus import FORMATS, SECRET_CORPUS, SecretRecord
from testing.fake_github_server import WRITE_TOKEN, FakeGitHub
from testing.fake_model_server import FakeModelServer
from testing.cli import TEST_KEY, model_env, run_cli
from testing.reliability_support import (
    assert_clean_exit,
    record_figure,
    stage_bug_files,
    write_config,
)

pytestmark = pytest.mark.slow  # the installed command over the whole fake-secret corpus

# The kinds issue 4 names; the corpus must cover each of them.
REQUIRED_KINDS = {"private-key", "aws-access-key-id", "aws-secret-access-key", "github-token",
                  "openai-key", "anthropic-key", "slack-token", "stripe-key", "google-api-key",
                  "jwt", "password-in-url", "secret-assignment", "high-entropy"}
# GitHub: classic (ghp_), OAuth (gho_), user-to-server and app installation (ghu_, ghs_),
# refresh (ghr_) and fine-grained (github_pat_).
GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")


def secret_pieces(secret: FakeSecret) -> list[str]:
    """What must not be sent: the secret, and each line of a multi-line key body."""
    return [piece for piece in secret.secret.split("\n") if len(piece) >= 8]


def leaks(text: str, corpus: list[tuple[str, FakeSecret]]) -> list[tuple[str, str]]:
    return [(path, secret.kind) for path, secret in corpus
            if any(piece in text for piece in secret_pieces(secret))]


def sent_text(server: FakeModelServer) -> str:
    """Every byte the server was sent, as text: message contents and the raw bodies."""
    parts = []
    for request in server.requests:
        parts.append(json.dumps(request.body, ensure_ascii=False))
        for message in request.get("messages") or []:
            parts.append(str(message.get("content")))
    return "\n".join(parts)


def crash_log(home: Path) -> str:
    log = home / ".cache" / "aider-review" / "last-error.log"
    return log.read_text() if log.exists() else ""


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def stage_corpus(repo: Path) -> list[tuple[str, FakeSecret]]:
    """Each fake secret in its own file (the path its kind lives in), between ordinary lines."""
    git(repo, "config", "core.autocrlf", "false")
    (repo / "README.md").write_text("# app\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "base")
    corpus = []
    for number, secret in enumerate(FAKE_SECRETS):
        path = f"s{number:03d}/{secret.path}"
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"# settings, part {number}\n{secret.text}\nprint('ready')  # BUG\n")
        corpus.append((path, secret))
    git(repo, "add", "-A")
    write_config(repo)
    return corpus


def test_the_corpus_covers_every_kind_issue_4_names() -> None:
    kinds = {secret.kind for secret in FAKE_SECRETS}
    assert REQUIRED_KINDS <= kinds, REQUIRED_KINDS - kinds
    github = [s.secret for s in FAKE_SECRETS if s.kind == "github-token"]
    for prefix in GITHUB_PREFIXES:
        assert any(token.startswith(prefix) for token in github), prefix


@pytest.mark.parametrize("command", [["review"], ["explain"], ["fix"],
                                     ["review", "--range", "HEAD~1...HEAD"]],
                         ids=["review", "explain", "fix", "range"])
def test_no_fake_secret_reaches_the_model(git_repo: Path, server: FakeModelServer,
                                          tmp_path: Path, command: list[str]) -> None:
    corpus = stage_corpus(git_repo)
    if "--range" in command:
        git(git_repo, "commit", "-qm", "secrets")
    cache = tmp_path / "cache.sqlite3"
    # A repair round trip too: the first answer is prose, so the request is sent again.
    server.script = ["invalid_json"]
    # explain and fix write text / a diff and refuse a report format (docs/cli.md).
    fmt = ["--format", "json"] if command[0] == "review" else []
    result = run_cli(*command, *fmt, cwd=git_repo, env=model_env(server, cache))
    assert_clean_exit(result, 0, 1)
    assert len(server.requests) >= 2
    sent = sent_text(server)
    assert leaks(sent, corpus) == []
    assert "[REDACTED:" in sent
    # Not in what the user sees either (built-in secret findings name the kind, not the value),
    # nor in the cache.
    assert leaks(result.stdout + result.stderr, corpus) == []
    assert leaks(cache.read_bytes().decode("latin-1"), corpus) == []
    if command == ["review"]:
        stats = json.loads(result.stdout)["stats"]
        assert stats["redacted"] >= len(corpus)
    record_figure("secrets-to-model", command=" ".join(command), secrets=len(corpus),
                  kinds=len({s.kind for _, s in corpus}), requests=len(server.requests),
                  leaked=len(leaks(sent, corpus)))


def stage_secret_corpus(repo: Path) -> list[tuple[str, SecretRecord]]:
    """Each record of the many-format corpus as a whole new file at its own path (so a
    CSV's header and a key file's name come with it)."""
    git(repo, "config", "core.autocrlf", "false")
    (repo / "README.md").write_text("# app\n")
    git(repo, "add", "README.md")
    git(repo, "commit", "-qm", "base")
    corpus = []
    for number, record in enumerate(SECRET_CORPUS):
        path = f"c{number:03d}/{record.path}"
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(record.text + "\n")
        corpus.append((path, record))
    git(repo, "add", "-A")
    write_config(repo)
    return corpus


def cache_text_without_keys(cache: Path) -> str:
    """The cache file's bytes (as latin-1) with the tables' keys taken out. A key is a sha256
    digest: 64 hex digits, thousands of them, among which some 8-digit piece of a hex secret
    turns up by chance (the corpus has hex keys); everything else in the file is kept."""
    import sqlite3

    text = cache.read_bytes().decode("latin-1")
    with sqlite3.connect(cache) as conn:
        keys = [row[0] for table in ("answers", "check_results", "run_reports")
                for row in conn.execute(f"SELECT key FROM {table}")]  # noqa: S608 - our names
    for key in keys:
        text = text.replace(key, "")
    return text


def corpus_leaks(text: str, corpus: list[tuple[str, SecretRecord]]) -> list[tuple[str, str]]:
    """Records any of whose secrets, or any 8-character piece of one, is in ``text``; a
    piece that the corpus also holds outside every secret (``access_t``, ``producti``: the
    requests pack many files) is no leak."""
    from tests.test_secret_corpus import fragments

    public = []
    for path, record in corpus:
        outside = record.text
        for secret in sorted(record.secrets, key=len, reverse=True):
            outside = outside.replace(secret, "\0")
        public += [path, record.format, outside]
    everything_public = "\0".join(public)
    return [(path, record.format) for path, record in corpus
            if any(secret in text for secret in record.secrets)
            or any(piece in text and piece not in everything_public
                   for secret in record.secrets for piece in fragments(secret))]


# explain and fix write text and a patch only: they refuse --format json.
@pytest.mark.parametrize("command", [["review", "--format", "json"], ["explain"], ["fix"]])
def test_no_secret_of_the_many_format_corpus_reaches_the_model(
        git_repo: Path, server: FakeModelServer, tmp_path: Path, command: list[str]) -> None:
    corpus = stage_secret_corpus(git_repo)
    cache = tmp_path / "cache.sqlite3"
    result = run_cli(*command, cwd=git_repo, env=model_env(server, cache), timeout=600)
    assert_clean_exit(result, 0, 1)
    assert server.requests
    sent = sent_text(server)
    # Every file was sent (none withheld for its name), and nothing secret with it.
    assert sum(path in sent for path, _ in corpus) == len(corpus)
    assert corpus_leaks(sent, corpus) == []
    assert corpus_leaks(result.stdout + result.stderr, corpus) == []
    assert corpus_leaks(cache_text_without_keys(cache), corpus) == []
    record_figure("corpus-to-model", command=command[0], secrets=len(
        {s for _, r in corpus for s in r.secrets}), records=len(corpus), formats=len(FORMATS),
        requests=len(server.requests), leaked=len(corpus_leaks(sent, corpus)))


def test_dry_run_shows_the_placeholders_and_the_count(git_repo: Path, server: FakeModelServer,
                                                       tmp_path: Path) -> None:
    corpus = stage_secret_corpus(git_repo)
    result = run_cli("--dry-run", cwd=git_repo, env=model_env(server, tmp_path / "c.sqlite3"),
                     timeout=600)
    assert_clean_exit(result, 0)
    assert server.requests == []
    assert corpus_leaks(result.stdout, corpus) == []
    said = re.search(r"\((\d+) secret\(s\) redacted\); nothing was sent\.", result.stdout)
    assert said is not None, result.stdout[:300]
    count = int(said.group(1))
    assert count >= len(corpus)
    assert result.stdout.count("[REDACTED:") >= count  # each one shown where it was
    for kind in ("positional-credential", "flag-credential", "header-credential",
                 "xml-credential", "csv-credential", "secret-file", "random-value"):
        assert f"[REDACTED:{kind}]" in result.stdout


def test_a_secret_in_a_file_name_is_never_sent(git_repo: Path, server: FakeModelServer,
                                                tmp_path: Path) -> None:
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8"
    (git_repo / "tokens").mkdir()
    (git_repo / "tokens" / f"{token}.txt").write_text("used by the deploy job\n")
    (git_repo / "ok.py").write_text("x = 1\n")
    git(git_repo, "add", ".")
    result = run_cli("--format", "json", cwd=git_repo,
                     env=model_env(server, tmp_path / "cache.sqlite3"))
    assert_clean_exit(result, 0, 1)
    assert token not in sent_text(server)
    assert "ok.py" in sent_text(server)  # the rest of the change is still reviewed
    report = json.loads(result.stdout)
    assert [f["reason"] for f in report["failed"]] == [
        "not sent to the model: the file name looks like it contains a secret"]
    assert report["stats"]["reviewed"] + report["stats"]["failed"] == report["stats"]["hunks"]


def test_dry_run_shows_only_redacted_text(git_repo: Path, server: FakeModelServer,
                                          tmp_path: Path) -> None:
    corpus = stage_corpus(git_repo)
    result = run_cli("--dry-run", cwd=git_repo, env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 0)
    assert server.requests == []
    assert leaks(result.stdout, corpus) == []
    assert result.stdout.count("[REDACTED:") >= len(corpus)


# --- our own credentials ---------------------------------------------------------------------


@pytest.fixture
def small_repo(git_repo: Path) -> Path:
    (git_repo / "app.py").write_text("value = compute()  # BUG\n")
    git(git_repo, "add", "app.py")
    write_config(git_repo)
    return git_repo


def all_output(result: subprocess.CompletedProcess[str], cache: Path, home: Path) -> str:
    cache_bytes = cache.read_bytes().decode("latin-1") if cache.exists() else ""
    return "\n".join([result.stdout, result.stderr, cache_bytes, crash_log(home)])


@pytest.mark.parametrize("command", [
    ["review"], ["review", "--format", "json", "-v"], ["review", "--format", "sarif"],
    ["review", "--format", "github"], ["review", "--format", "markdown", "--strict"],
    ["explain"], ["fix"],
])
def test_a_401_that_echoes_the_key_never_shows_it(
        small_repo: Path, server: FakeModelServer, tmp_path: Path,
        isolated_environment: Path, command: list[str]) -> None:
    server.api_key = "sk-the-key-the-server-wants-000000"
    cache = tmp_path / "cache.sqlite3"
    result = run_cli(*command, cwd=small_repo, env=model_env(server, cache))
    assert_clean_exit(result, 0, 1, 3)
    assert server.requests, "the key was sent (in the header) and echoed back"
    assert "refused the API key" in result.stderr and "OPENAI_API_KEY" in result.stderr
    assert TEST_KEY not in all_output(result, cache, isolated_environment)
    assert TEST_KEY[8:24] not in all_output(result, cache, isolated_environment)
    record_figure("key-echo", command=" ".join(command), leaked=0)


def test_a_key_from_a_dotenv_file_with_no_known_shape_is_masked_too(
        small_repo: Path, server: FakeModelServer, tmp_path: Path,
        isolated_environment: Path) -> None:
    key = "corp-proxy-credential-7d8e9f0a1b2c3d4e"
    (small_repo / ".env").write_text(f"OPENAI_API_KEY={key}\n")
    server.api_key = "something-else-entirely-123456"
    cache = tmp_path / "cache.sqlite3"
    env = {"OPENAI_BASE_URL": server.base_url, "AIDER_REVIEW_CACHE": str(cache)}
    for command in (["review", "-v"], ["explain"], ["review", "--format", "json"]):
        result = run_cli(*command, cwd=small_repo, env=env)
        assert_clean_exit(result, 0, 1)
        assert server.requests[-1].headers["authorization"] == f"Bearer {key}"
        assert key not in all_output(result, cache, isolated_environment)


def test_credentials_in_the_base_url_are_never_printed(
        small_repo: Path, server: FakeModelServer, tmp_path: Path,
        isolated_environment: Path) -> None:
    password = "url-password-5e6f7a8b9c0d"
    url = server.base_url.replace("http://", f"http://deploy:{password}@")
    server.fault_rates = {"503": 1.0}  # an error message that names the endpoint
    cache = tmp_path / "cache.sqlite3"
    for command in (["review", "-v"], ["review", "--strict", "--format", "json"]):
        result = run_cli(*command, cwd=small_repo,
                         env={"OPENAI_BASE_URL": url, "OPENAI_API_KEY": TEST_KEY,
                              "AIDER_REVIEW_CACHE": str(cache)})
        assert_clean_exit(result, 0, 3)
        assert "503" in result.stderr
        out = all_output(result, cache, isolated_environment)
        assert password not in out and TEST_KEY not in out


def test_the_crash_log_masks_every_credential(
        isolated_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The last line of defence, called directly: no real input we know of crashes the tool,
    # so an exception that quotes every credential is handed to the crash handler.
    from aider_hooks.cli.main import _write_crash_log
    from aider_hooks.masking import remember_secret

    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    flag_token = "token-given-as-a-flag-4f3e2d1c0b"
    remember_secret(flag_token)
    error = RuntimeError(f"boom: key={TEST_KEY} token={flag_token} gh={WRITE_TOKEN} "
                         f"Authorization: Bearer {TEST_KEY}")
    try:
        raise error
    except RuntimeError as raised:
        path = Path(_write_crash_log(raised))
    text = path.read_text()
    assert "RuntimeError" in text and "boom" in text
    for credential in (TEST_KEY, flag_token):
        assert credential not in text
    assert path.stat().st_mode & 0o777 == 0o600  # private: a traceback can quote the code


# --- the PR bot: the GitHub token --------------------------------------------------------------


def run_bot(repo: Path, github: FakeGitHub, server: FakeModelServer, tmp_path: Path,
            token: str) -> tuple[subprocess.CompletedProcess[str], str]:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs.txt"
    env = {**github.actions_environment(3, tmp_path, token),
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs),
           **model_env(server, tmp_path / "cache.sqlite3")}
    result = run_cli("github", "-v", cwd=repo, env=env)
    files = "".join(p.read_text() for p in (summary, outputs) if p.exists())
    return result, files


@pytest.fixture
def pull_request(git_repo: Path) -> Iterator[tuple[Path, FakeGitHub]]:
    base, head = commit_base_and_head(git_repo, "app.py", "x = 1\n", "x = compute()  # BUG\n")
    with FakeGitHub() as github:
        github.add_pull(3, base_sha=base, head_sha=head,
                        diff=git(git_repo, "diff", f"{base}...{head}"))
        yield git_repo, github


def test_the_github_token_and_the_key_never_show_in_a_bot_run(
        pull_request: tuple[Path, FakeGitHub], server: FakeModelServer, tmp_path: Path,
        isolated_environment: Path) -> None:
    repo, github = pull_request
    server.api_key = "sk-the-key-the-server-wants-000000"  # the model refuses: 401 echo
    result, files = run_bot(repo, github, server, tmp_path, WRITE_TOKEN)
    assert_clean_exit(result, 0)
    posted = json.dumps([r.body for r in github.requests])
    everything = "\n".join([all_output(result, tmp_path / "cache.sqlite3",
                                       isolated_environment), files, posted])
    assert WRITE_TOKEN not in everything and TEST_KEY not in everything
    assert "OPENAI_API_KEY" in result.stderr


def test_a_refused_github_token_is_one_line_without_the_token(
        pull_request: tuple[Path, FakeGitHub], server: FakeModelServer, tmp_path: Path,
        isolated_environment: Path) -> None:
    repo, github = pull_request
    token = "ghp_" + "Q" * 36  # a well-formed token GitHub does not know: 401
    result, files = run_bot(repo, github, server, tmp_path, token)
    assert_clean_exit(result, 2)
    assert len(result.stderr.strip().splitlines()) == 1 and "401" in result.stderr
    everything = all_output(result, tmp_path / "cache.sqlite3", isolated_environment) + files
    assert token not in everything and TEST_KEY not in everything


def test_a_repository_cannot_aim_your_api_key_at_its_own_server(
        git_repo: Path, tmp_path: Path) -> None:
    """A cloned repository's config names the endpoint; your OPENAI_API_KEY stays home."""
    own_key = "sk-user-own-key-never-for-a-repo-4815"
    with FakeModelServer() as sniffer:
        sniffer.api_key = "sk-what-the-server-wants"  # anything else gets a 401
        stage_bug_files(git_repo, files=1)
        (git_repo / ".aider-review.toml").write_text(
            f'[tool.aider-review]\nbase-url = "{sniffer.base_url}"\n')
        env = {"OPENAI_API_KEY": own_key, "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}
        result = run_cli("--format", "json", cwd=git_repo, env=env)
        assert result.returncode in (0, 1), result.stderr  # the commit is not blocked
        headers = [json.dumps(r.headers) for r in sniffer.requests]
        assert headers and not any(own_key in h for h in headers)
        assert "OPENAI_API_KEY was not sent" in result.stderr
        assert own_key not in result.stderr + result.stdout

        # Choosing that endpoint yourself sends the key.
        trusted = run_cli("--format", "json", "--base-url", sniffer.base_url, cwd=git_repo, env=env)
        assert own_key in json.dumps(sniffer.requests[-1].headers)
        assert "was not sent" not in trusted.stderr
