"""The model chain, end to end: two real fake model servers on 127.0.0.1, the installed CLI.

A first link that answers 503, 401, ``insufficient_quota``, garbage or nothing at all hands
its requests to the second link, costs a bounded number of requests (its breaker opens), and
every finding says the second link answered. A chain whose links all fail is today's
unreachable model. Budgets cut the least important hunks; task models and the strong model
route requests (the servers record the ``model`` of each); a server that reports a cut prompt
gets one warning with the fix.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aider_hooks.settings import load_settings
from testing.fake_model_server import FakeModelServer
from testing.cli import TEST_KEY, run_cli
from testing.reliability_support import (
    FAST_SETTINGS,
    assert_clean_exit,
    assert_every_hunk_accounted,
    json_report,
    stage_bug_files,
)
from testing.repos import git, stage


@pytest.fixture
def first() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@pytest.fixture
def second() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


def toml(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)


def chain_config(path: Path, links: list[dict[str, Any]], **extra: Any) -> Path:
    """A configuration file (outside the repository: the user's own) with ``models``."""
    values = {**FAST_SETTINGS, "timeout": 0.5, "concurrency": 1, "batch-tokens": 100,
              **{k.replace("_", "-"): v for k, v in extra.items()}}
    lines = ["[tool.aider-review]", f"models = {toml(links)}"]
    lines += [f"{key} = {toml(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def review(repo: Path, config: Path, tmp_path: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    result = run_cli("--config", str(config), "--format", "json", "--no-cache", *args, cwd=repo,
                     env={"OPENAI_API_KEY": TEST_KEY,
                          "AIDER_REVIEW_CACHE": str(tmp_path / "cache.sqlite3")})
    assert_clean_exit(result, 0, 1, 3)
    report = json_report(result)
    assert_every_hunk_accounted(report)
    return result, report


QUOTA = {"status": 429, "code": "insufficient_quota", "message": "You exceeded your quota."}


@pytest.mark.parametrize(("fault", "most"), [
    (503, 12),  # retried, then three soft failures in a row open the breaker
    (401, 1),  # a refused key: the breaker opens at once
    (QUOTA, 1),  # not a rate limit: never retried nor waited for
    ("garbage", 12),
    ({"kind": "slow", "seconds": 3}, 3),  # hung: three timeouts in a row and it is skipped
], ids=["503", "401", "insufficient_quota", "garbage", "hanging"])
def test_a_failing_first_link_hands_every_request_to_the_second(
        git_repo: Path, tmp_path: Path, first: FakeModelServer, second: FakeModelServer,
        fault: Any, most: int) -> None:
    stage_bug_files(git_repo, files=4)
    first.script = [fault] * 100
    config = chain_config(tmp_path / "chain.toml", [
        {"model": "primary", "base-url": first.base_url},
        {"model": "fallback", "base-url": second.base_url, "json-mode": False},
    ])

    result, report = review(git_repo, config, tmp_path)

    assert result.returncode == 1  # the BUG findings, from the second link
    bugs = [f for f in report["findings"] if f["source"] == "model"]
    assert len(bugs) == 4 and {f["model"] for f in bugs} == {"fallback"}
    assert report["stats"]["reviewed"] == 4 and report["failed"] == []
    assert 1 <= len(first.requests) <= most, len(first.requests)
    assert {r["model"] for r in second.requests} == {"fallback"}
    assert all("response_format" not in r for r in second.requests)  # the link's json-mode
    assert "model primary failed" in result.stderr and "asked fallback" in result.stderr
    assert result.stderr.count("model primary failed") == 1  # said once, not per request
    used = {link["model"]: link for link in report["models"]}
    assert used["fallback"]["hunks"] == 4 and used["primary"]["hunks"] == 0
    assert report["model"] == "primary"  # the model the run asked first


def test_invalid_answers_after_the_repair_request_move_to_the_next_link(
        git_repo: Path, tmp_path: Path, first: FakeModelServer, second: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=2)
    first.script = ["invalid_json"] * 100
    config = chain_config(tmp_path / "chain.toml", [
        {"model": "primary", "base-url": first.base_url},
        {"model": "fallback", "base-url": second.base_url},
    ])
    _, report = review(git_repo, config, tmp_path)
    assert {f["model"] for f in report["findings"] if f["source"] == "model"} == {"fallback"}
    assert len(first.requests) == 4  # each request and its repair request, then the next link
    assert report["stats"]["reviewed"] == 2


def test_every_link_failing_is_an_unreachable_model(
        git_repo: Path, tmp_path: Path, first: FakeModelServer, second: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=2)
    first.script = [401] * 100
    second.script = [QUOTA] * 100
    config = chain_config(tmp_path / "chain.toml", [
        {"model": "primary", "base-url": first.base_url},
        {"model": "fallback", "base-url": second.base_url},
    ])
    result, report = review(git_repo, config, tmp_path)
    assert result.returncode == 0  # never blocks a commit
    assert report["stats"]["failed"] == 2 and report["findings"] == []
    assert "no model of the chain could be reached" in result.stderr
    assert len(first.requests) == 1 and len(second.requests) == 1

    strict, _ = review(git_repo, config, tmp_path, "--strict")
    assert strict.returncode == 3


def test_a_chain_of_one_is_todays_single_model(git_repo: Path, tmp_path: Path,
                                               first: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=2)
    result = run_cli("--format", "json", "--no-cache", cwd=git_repo,
                     env={"OPENAI_BASE_URL": first.base_url, "OPENAI_API_KEY": TEST_KEY,
                          "AIDER_REVIEW_MODEL": "solo"})
    report = json_report(result)
    assert report["model"] == "solo"
    assert {f["model"] for f in report["findings"] if f["source"] == "model"} == {"solo"}
    assert [link["model"] for link in report["models"]] == ["solo"]
    assert first.requests[0].headers["authorization"] == f"Bearer {TEST_KEY}"


def test_the_model_flag_replaces_the_chain(git_repo: Path, tmp_path: Path,
                                           first: FakeModelServer,
                                           second: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=1)
    config = chain_config(tmp_path / "chain.toml", [{"model": "a", "base-url": first.base_url}])
    review(git_repo, config, tmp_path, "--model", "flagged", "--base-url", second.base_url)
    assert first.requests == [] and {r["model"] for r in second.requests} == {"flagged"}


def test_the_cache_is_kept_per_link(git_repo: Path, tmp_path: Path, first: FakeModelServer,
                                    second: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=2)
    links = [{"model": "primary", "base-url": first.base_url},
             {"model": "fallback", "base-url": second.base_url}]
    config = chain_config(tmp_path / "chain.toml", links)
    env = {"OPENAI_API_KEY": TEST_KEY, "AIDER_REVIEW_CACHE": str(tmp_path / "cache.sqlite3")}
    first.script = [503] * 100
    json_report(run_cli("--config", str(config), "--format", "json", cwd=git_repo, env=env))
    second_sent = len(second.requests)
    first.script = []
    # The first link is back: its own cache entry is missing, so it is asked; nothing is
    # reused as if "primary" had said what "fallback" said...
    report = json_report(run_cli("--config", str(config), "--format", "json", cwd=git_repo,
                                 env=env))
    assert report["stats"]["cached"] == 2  # ...except that any link's answer serves first
    assert {f["model"] for f in report["findings"] if f["source"] == "model"} == {"fallback"}
    assert len(second.requests) == second_sent


# --- budgets -------------------------------------------------------------------------------


def stage_mixed(repo: Path) -> None:
    """Hunks of every importance: auth code, plain source, a test, docs, a re-indent."""
    files = {"src/auth/login.py": 30, "src/app.py": 30, "tests/test_app.py": 30,
             "docs/guide.md": 30, "src/style.py": 30}
    for path, count in files.items():
        stage(repo, path, "".join(f"value_{i} = {i}\n" for i in range(count)))
    git(repo, "commit", "-qm", "base")
    stage(repo, "src/auth/login.py", "".join(
        f"value_{i} = {i}  # BUG auth\n" if 10 <= i < 16 else f"value_{i} = {i}\n"
        for i in range(30)))
    stage(repo, "src/app.py", "".join(
        f"value_{i} = {i}  # BUG app\n" if 10 <= i < 13 else f"value_{i} = {i}\n"
        for i in range(30)))
    stage(repo, "tests/test_app.py", "".join(
        f"value_{i} = {i}  # BUG test\n" if 10 <= i < 20 else f"value_{i} = {i}\n"
        for i in range(30)))
    stage(repo, "docs/guide.md", "".join(
        f"value_{i} = {i}  # BUG doc\n" if 10 <= i < 20 else f"value_{i} = {i}\n"
        for i in range(30)))
    stage(repo, "src/style.py", "".join(
        f"value_{i}  =  {i}\n" if 10 <= i < 20 else f"value_{i} = {i}\n" for i in range(30)))


def test_the_budget_reviews_the_most_important_hunks_first(
        git_repo: Path, tmp_path: Path, first: FakeModelServer) -> None:
    stage_mixed(git_repo)
    links = [{"model": "m", "base-url": first.base_url}]
    dry = run_cli("--config", str(chain_config(tmp_path / "c.toml", links)), "--dry-run",
                  cwd=git_repo, env={"OPENAI_API_KEY": TEST_KEY})
    assert dry.returncode == 0, dry.stderr
    assert "request(s)" in dry.stdout and "over the budget" not in dry.stdout
    first_line = dry.stdout.splitlines()[0]
    estimate = int(first_line.split("~")[1].split()[0].replace(",", ""))
    per_request = estimate // 5 + 512  # five requests; the answer allowance of max-tokens
    # Room for two requests and a half: auth and app are reviewed, the rest are not.
    config = chain_config(tmp_path / "chain.toml", links,
                          max_run_tokens=int(per_request * 2.5))

    result, report = review(git_repo, config, tmp_path)

    reviewed = {f["path"] for f in report["findings"] if f["source"] == "model"}
    assert reviewed == {"src/auth/login.py", "src/app.py"}
    cut = {f["path"] for f in report["failed"]}
    assert cut == {"tests/test_app.py", "docs/guide.md", "src/style.py"}
    assert all("over the run budget" in f["reason"] for f in report["failed"])
    assert report["stats"]["not_reviewed_budget"] == 3
    assert result.stderr.count("not reviewed: over the run budget") == 1
    assert len(first.requests) == 2

    # By request count: the auth hunk alone.
    config = chain_config(tmp_path / "chain.toml", links, max_requests=1)
    _, report = review(git_repo, config, tmp_path)
    assert {f["path"] for f in report["findings"] if f["source"] == "model"} == {
        "src/auth/login.py"}

    # By cost, from the link's prices: none fits a budget of a millionth of a dollar.
    priced = [{"model": "m", "base-url": first.base_url, "prices": [1000.0, 1000.0]}]
    config = chain_config(tmp_path / "chain.toml", priced, max_run_cost=0.000001)
    _, report = review(git_repo, config, tmp_path)
    assert report["stats"]["not_reviewed_budget"] == 5

    # Without a budget: everything, and the cost of the run from the prices.
    config = chain_config(tmp_path / "chain.toml", priced)
    _, report = review(git_repo, config, tmp_path)
    assert "not_reviewed_budget" not in report["stats"]
    stats = report["stats"]
    assert stats["cost_usd"] == pytest.approx(
        (stats["prompt_tokens"] + stats["completion_tokens"]) * 1000 / 1_000_000)


def test_dry_run_shows_the_model_and_estimate_of_each_request_and_the_budget_cut(
        git_repo: Path, tmp_path: Path, first: FakeModelServer) -> None:
    stage_mixed(git_repo)
    config = chain_config(tmp_path / "chain.toml", [
        {"model": "cheap", "base-url": first.base_url, "prices": [0.1, 0.4]},
        {"model": "strong", "base-url": first.base_url, "prices": [2.0, 8.0]},
    ], strong_model="strong", max_requests=4)
    result = run_cli("--config", str(config), "--dry-run", cwd=git_repo,
                     env={"OPENAI_API_KEY": TEST_KEY})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert first.requests == []
    headers = [line for line in out.splitlines() if line.startswith("=== request")]
    auth = next(line for line in headers if "src/auth/login.py" in line)
    assert "model strong" in auth
    assert all("model cheap" in line for line in headers if "auth" not in line)
    assert "estimate for model cheap" in out and "estimate for model strong" in out
    assert "$" in out
    assert sum("NOT SENT: over the budget" in line for line in headers) == 1
    assert "whitespace" not in auth


# --- routing -------------------------------------------------------------------------------


def test_task_models_and_the_strong_model_pick_the_model_of_each_request(
        git_repo: Path, tmp_path: Path, first: FakeModelServer) -> None:
    stage_mixed(git_repo)
    config = chain_config(tmp_path / "chain.toml", [
        {"model": "everyday", "base-url": first.base_url},
    ], task_models={"explain": "explainer", "review": "reviewer"},
        strong_model="careful", strong_lines=8)

    review(git_repo, config, tmp_path)
    by_model: dict[str, set[str]] = {}
    for request in first.requests:
        text = request["messages"][1]["content"]
        paths = {line[len("### File: "):] for line in text.splitlines()
                 if line.startswith("### File: ")}
        by_model.setdefault(request["model"], set()).update(paths)
    # auth: a strong path; tests and docs: 10 changed lines > 8; the rest: the review model.
    assert by_model == {"careful": {"src/auth/login.py", "tests/test_app.py", "docs/guide.md",
                                    "src/style.py"},
                        "reviewer": {"src/app.py"}}, by_model

    first.requests.clear()
    result = run_cli("explain", "--config", str(config), "--no-cache", cwd=git_repo,
                     env={"OPENAI_API_KEY": TEST_KEY})
    assert result.returncode == 0, result.stderr
    assert {r["model"] for r in first.requests} == {"explainer"}


# --- context windows ------------------------------------------------------------------------


def test_a_server_that_cut_the_prompt_gets_one_warning_with_the_fix(
        git_repo: Path, tmp_path: Path, first: FakeModelServer) -> None:
    lines = [f"value_{i} = compute_something_long_{i}(argument_{i}, other_{i})  # BUG {i}\n"
             for i in range(150)]
    stage(git_repo, "big.py", "".join(lines))
    stage(git_repo, "big2.py", "".join(lines))
    first.reported_prompt_tokens = 900  # what a 2048-token Ollama kept of the prompt
    config = chain_config(tmp_path / "chain.toml", [
        {"model": "qwen2.5-coder:7b", "base-url": first.base_url}])
    result, report = review(git_repo, config, tmp_path)
    assert result.stderr.count("OLLAMA_CONTEXT_LENGTH") == 1, result.stderr
    assert "cut the prompt" in result.stderr and "context-window" in result.stderr

    first.reported_prompt_tokens = None  # an honest server: no warning
    result, _ = review(git_repo, config, tmp_path)
    assert "OLLAMA_CONTEXT_LENGTH" not in result.stderr


def test_requests_follow_the_smallest_context_window_of_the_chain(tmp_path: Path) -> None:
    from aider_hooks.model.routing import BATCH_TOKENS_CAP, Route, batch_budget

    def budget(text: str) -> int:
        (tmp_path / "c.toml").write_text("[tool.aider-review]\n" + text)
        settings = load_settings(None, {}, config_file=tmp_path / "c.toml", environ={})
        return batch_budget(settings, Route(settings.chain()))

    small = 'models = [{ model = "a" }, { model = "b", base-url = "http://l/v1", context-window = 8192 }]\n'
    assert budget(small) == 8192 - 2048 - 1024
    assert budget('models = [{ model = "a", context-window = 1000000 }]\n') == BATCH_TOKENS_CAP
    assert budget('models = [{ model = "a" }]\n') == 2500  # no window known: as before
    assert budget(small + "batch-tokens = 700\n") == 700  # set explicitly: it wins
    # OpenAI's own models on OpenAI's endpoint: their windows are known, requests are bigger
    # (the fixed instructions are then a small part of each prompt).
    assert budget('models = [{ model = "gpt-4o-mini" }]\n') == BATCH_TOKENS_CAP
    assert budget('model = "gpt-4.1"\n') == BATCH_TOKENS_CAP
    # The same name elsewhere may be anything (a proxy, a local model): unknown.
    assert budget('models = [{ model = "gpt-4o-mini", base-url = "http://l/v1" }]\n') == 2500
    assert budget('model = "gpt-4o-mini"\nbase-url = "http://localhost:11434/v1"\n') == 2500
    assert budget('models = [{ model = "gpt-4" }]\n') == 2500  # an 8k model: not in the table


# --- keys per link --------------------------------------------------------------------------

USER_ENV = {"OPENAI_API_KEY": "sk-user-openai", "GROQ_API_KEY": "gsk-user-groq",
            "GITHUB_TOKEN": "ghp-user-token", "CORP_KEY": "corp-user-key"}


@pytest.mark.parametrize(("link", "sent"), [
    ('{ model = "m" }', "sk-user-openai"),  # OpenAI itself
    ('{ model = "m", base-url = "https://evil.example/v1" }', None),
    ('{ model = "m", base-url = "https://evil.example/v1", api-key-env = "OPENAI_API_KEY" }',
     None),
    ('{ model = "m", base-url = "https://evil.example/v1", api-key-env = "GITHUB_TOKEN" }',
     None),
    ('{ model = "m", api-key-env = "GITHUB_TOKEN" }', None),  # not even to OpenAI
    ('{ model = "m", base-url = "https://api.groq.com/openai/v1", api-key-env = "GROQ_API_KEY" }',
     "gsk-user-groq"),  # a provider's key to that provider's own endpoint
    ('{ model = "m", base-url = "http://api.groq.com/openai/v1", api-key-env = "GROQ_API_KEY" }',
     None),  # ...over https only
    ('{ model = "m", base-url = "https://api.groq.com.evil.example/v1", '
     'api-key-env = "GROQ_API_KEY" }', None),
    ('{ model = "m", base-url = "https://corp.example/v1", api-key-env = "CORP_KEY" }', None),
    ('{ model = "m", base-url = "https://corp.example/v1", api-key-env = "REPO_KEY" }',
     "repo-own-key"),  # the repository's own .env key goes with its own URL
])
def test_a_repository_chain_never_aims_your_keys_at_a_server_of_its_choosing(
        tmp_path: Path, link: str, sent: str | None) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".env").write_text("REPO_KEY=repo-own-key\n")
    (repo / ".aider-review.toml").write_text(f"[tool.aider-review]\nmodels = [{link}]\n")
    settings = load_settings(repo, {}, environ=USER_ENV)
    [resolved] = settings.models
    assert resolved.api_key == sent
    assert resolved.from_repository
    if sent is None and "base-url" in link:
        assert resolved.key_withheld


def test_your_own_chain_gets_the_variables_it_names(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    config = tmp_path / "mine.toml"  # outside the work tree: yours
    config.write_text('[tool.aider-review]\nmodels = [{ model = "m", base-url = '
                      '"https://corp.example/v1", api-key-env = "CORP_KEY" }, '
                      '{ model = "local", base-url = "http://localhost:11434/v1" }]\n')
    settings = load_settings(repo, {}, config_file=config, environ=USER_ENV)
    corp, local = settings.models
    assert corp.api_key == "corp-user-key" and not corp.from_repository
    assert local.api_key == "sk-user-openai"  # as today for a base URL you chose


def test_a_link_may_not_hold_a_key_and_bad_links_are_one_line_errors(tmp_path: Path) -> None:
    from aider_hooks.errors import ConfigError

    for text, needle in [
        ('models = [{ model = "m", api-key = "sk-x" }]', "put secrets in the environment"),
        ('models = [{ base-url = "http://x/v1" }]', "model must be a non-empty string"),
        ('models = "gpt-4o"', "models must be a list of tables"),
        ('models = [{ model = "m", context-window = "big" }]', "context-window"),
        ('models = [{ model = "m" }, { model = "m" }]', "share a name"),
        ('task-models = { reviw = "m" }', "unknown task 'reviw'"),
    ]:
        (tmp_path / ".aider-review.toml").write_text(f"[tool.aider-review]\n{text}\n")
        with pytest.raises(ConfigError, match=needle):
            load_settings(tmp_path, {}, environ={})


def test_the_repository_chain_sends_no_key_to_its_loopback_server(
        git_repo: Path, tmp_path: Path, first: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=1)
    (git_repo / ".aider-review.toml").write_text(
        f'[tool.aider-review]\nmodels = [{{ model = "m", base-url = "{first.base_url}", '
        f'api-key-env = "OPENAI_API_KEY" }}]\n')
    result = run_cli("--format", "json", "--no-cache", cwd=git_repo,
                     env={"OPENAI_API_KEY": TEST_KEY})
    json_report(result)
    assert first.requests and all(TEST_KEY not in r.headers.get("authorization", "")
                                  for r in first.requests)


def test_the_pull_request_summary_says_what_the_budget_left_out_and_who_answered() -> None:
    from aider_hooks.pr.comments import SummaryFacts, summary_body
    from aider_hooks.report import FailedHunk, LinkUsage, Report

    report = Report(model="primary")
    report.stats.hunks, report.stats.reviewed, report.stats.failed = 5, 3, 2
    report.stats.not_reviewed_budget, report.stats.cost_usd = 2, 0.0123
    report.failed = [FailedHunk("docs/a.md", 1, 3, "not reviewed: over the run budget "
                                                   "(max-run-tokens = 100)")] * 2
    report.links = [LinkUsage("primary", "primary", "x", hunks=0),
                    LinkUsage("fallback", "fallback", "y", hunks=3)]
    body = summary_body(SummaryFacts(report=report, head_sha="a" * 40, new_inline=0,
                                     already_inline=0, resolved=0, not_inline=[],
                                     cost="unknown", diff_origin="the local checkout"))
    assert "| Not reviewed (over the run budget) | 2 hunks, listed below |" in body
    assert "| Failed hunks | 0 |" in body
    assert "`fallback` 3 hunks" in body and "$0.0123" in body


def test_a_file_over_max_file_bytes_is_never_sent(git_repo: Path, tmp_path: Path,
                                                  first: FakeModelServer) -> None:
    stage_bug_files(git_repo, files=1)
    stage(git_repo, "big.py", "x = 1  # BUG\n" * 200)  # 2,600 bytes
    config = chain_config(tmp_path / "chain.toml", [{"model": "m", "base-url": first.base_url}],
                          max_file_bytes=1000)
    _, report = review(git_repo, config, tmp_path)
    assert [f["path"] for f in report["failed"]] == ["big.py"]
    assert "max-file-bytes" in report["failed"][0]["reason"]
    assert all("big.py" not in r["messages"][1]["content"] for r in first.requests)
    assert {f["path"] for f in report["findings"] if f["source"] == "model"} == {
        "pkg/mod_000.py"}
