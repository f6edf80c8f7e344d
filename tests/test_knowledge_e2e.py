"""Teaching the reviewer (docs/teaching.md), end to end: the installed `aider-review`, real git
repositories, the fake model server. Instructions and their scope, redaction, suppression
comments, the baseline, feedback and learnings, verification, thresholds, fine-tuning."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testing.repos import git
from testing.cli import model_env, run_cli
from testing.repos import commit as commit_file
from testing.repos import stage

# Shapes the redactor knows; none of them may ever reach the model or an export.
AGENTS_SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
NOTE_SECRET = "AKIA" + "Q3EXAMPLE7KEY9AB"


def system_messages(server: Any) -> list[str]:
    return [m["content"] for r in server.requests for m in r["messages"] if m["role"] == "system"]


def everything_sent(server: Any) -> str:
    return json.dumps([r.body for r in server.requests])


def review_json(repo: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = run_cli("--format", "json", "--fail-on", "never", *args, cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    data["_stderr"] = result.stderr
    return data


# --- instructions ----------------------------------------------------------------------------

def test_instructions_are_scoped_redacted_and_trusted(git_repo: Path, model_server: Any,
                                                      tmp_path: Path) -> None:
    commit_file(git_repo, "AGENTS.md", f"Money is rounded with Decimal.\ntoken {AGENTS_SECRET}\n")
    commit_file(git_repo, ".github/instructions/sql.instructions.md",
                '---\napplyTo: "**/*.sql"\ndescription: SQL\n---\nSQL-RULE: no SELECT *.\n')
    commit_file(git_repo, ".aider-review.toml",
                'path-instructions = { "docs/**" = "DOCS-RULE: plain words." }\n')
    env = model_env(model_server, tmp_path / "cache.sqlite3")

    stage(git_repo, "app.py", "total = price * qty\n")
    review_json(git_repo, env)
    systems = system_messages(model_server)
    assert systems and all("Money is rounded with Decimal." in s for s in systems)
    assert all("Project guidance from the repository's maintainers" in s for s in systems)
    assert not any("SQL-RULE" in s or "DOCS-RULE" in s for s in systems)  # not their files
    git(git_repo, "commit", "-qm", "app")

    model_server.requests.clear()
    stage(git_repo, "db/q.sql", "SELECT * FROM t;\n")
    review_json(git_repo, env)
    systems = system_messages(model_server)
    assert any("SQL-RULE: no SELECT *." in s for s in systems)
    assert not any("DOCS-RULE" in s for s in systems)
    # The guidance is in the system message only; the diff stays in the untrusted block.
    users = [m["content"] for r in model_server.requests for m in r["messages"]
             if m["role"] == "user"]
    assert not any("Money is rounded" in u for u in users)
    assert AGENTS_SECRET not in everything_sent(model_server)
    assert "[REDACTED:" in "".join(systems)


def test_dry_run_shows_the_guidance_and_config_lists_its_sources(git_repo: Path,
                                                                 tmp_path: Path) -> None:
    commit_file(git_repo, "CLAUDE.md", "Prefer small functions.\n")
    commit_file(git_repo, ".github/instructions/py.instructions.md",
                "---\napplyTo: '**/*.py'\n---\nPY-RULE\n")
    (git_repo / ".aider-review.toml").write_text('min-severity = "warning"\n')
    stage(git_repo, "a.py", "x = 1\n")
    dry = run_cli("--dry-run", cwd=git_repo, env={"AIDER_REVIEW_CACHE": str(tmp_path / "c")})
    assert dry.returncode == 0, dry.stderr
    assert "Prefer small functions." in dry.stdout and "PY-RULE" in dry.stdout

    config = run_cli("config", "--fail-on", "never", cwd=git_repo,
                     env={"AIDER_REVIEW_MODEL": "my-model"})
    assert config.returncode == 0, config.stderr
    out = config.stdout
    assert 'min-severity = "warning"  # config file .aider-review.toml' in out
    assert 'model = "my-model"  # environment AIDER_REVIEW_MODEL' in out
    assert 'fail-on = "never"  # flag' in out
    assert 'concurrency = 4  # default' in out
    assert "CLAUDE.md  (every file" in out
    assert ".github/instructions/py.instructions.md  (files matching **/*.py" in out


def test_damaged_instruction_files_are_warnings_never_failures(git_repo: Path, model_server: Any,
                                                               tmp_path: Path) -> None:
    commit_file(git_repo, ".github/instructions/bad.instructions.md",
                "---\napplyTo: [unclosed\n---\nBAD-RULE\n")
    (git_repo / "AGENTS.md").write_bytes(b"\x00\x01binary\xff")
    (git_repo / ".aider-review").mkdir()
    (git_repo / ".aider-review" / "instructions.md").write_text("x" * 2_000_000)
    stage(git_repo, "a.py", "value = eval(data)\n")
    report = review_json(git_repo, model_env(model_server, tmp_path / "cache.sqlite3"))
    assert report["findings"], "the review still ran"
    err = report["_stderr"]
    assert ".github/instructions/bad.instructions.md:2:" in err
    assert "AGENTS.md: a binary file" in err
    assert ".aider-review/instructions.md: larger than" in err
    assert "BAD-RULE" not in everything_sent(model_server)


def test_oversized_guidance_is_cut_with_a_note_and_a_notice(git_repo: Path, model_server: Any,
                                                            tmp_path: Path) -> None:
    commit_file(git_repo, "AGENTS.md", "".join(f"Rule {i}: keep it simple.\n" for i in range(3000)))
    stage(git_repo, "a.py", "x = 1\n")
    report = review_json(git_repo, model_env(model_server, tmp_path / "cache.sqlite3"))
    system = system_messages(model_server)[0]
    assert "[... project guidance cut here" in system and "Rule 2999" not in system
    assert "project guidance is over 4,000 tokens" in report["_stderr"]


# --- suppression, baseline, thresholds -------------------------------------------------------

def test_ignore_comments_suppress_in_any_comment_syntax(git_repo: Path, model_server: Any,
                                                        tmp_path: Path) -> None:
    stage(git_repo, "a.py", "a = eval(x)  # aider-review: ignore\n"
                            "b = eval(y)  # aider-review: ignore[docs]\n"
                            "# aider-review: ignore[security]\n"
                            "c = eval(z)\n")
    stage(git_repo, "b.js", "const d = eval(w); // aider-review: ignore[bug,security]\n"
                            "/* aider-review: ignore */\n"
                            "const e = 1; // BUG\n")
    stage(git_repo, "c.sql", "SELECT 1; -- BUG aider-review: ignore\n")
    stage(git_repo, "d.html", "<p>BUG</p> <!-- aider-review: ignore -->\n")
    report = review_json(git_repo, model_env(model_server, tmp_path / "cache.sqlite3"))
    left = {(f["path"], f["line"]) for f in report["findings"]}
    assert left == {("a.py", 2)}, report["findings"]
    assert report["stats"]["suppressed"] == 6


def test_baseline_hides_todays_findings_and_only_those(git_repo: Path, model_server: Any,
                                                       tmp_path: Path) -> None:
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    commit_file(git_repo, "a.py", "x = 1\n")
    stage(git_repo, "a.py", "x = 1\nold = eval(data)  # BUG\n")
    made = run_cli("baseline", cwd=git_repo, env=env)
    assert made.returncode == 0, made.stderr
    assert "wrote 2 finding(s) to .aider-review/baseline.json" in made.stdout
    document = json.loads((git_repo / ".aider-review" / "baseline.json").read_text())
    assert document["tool"] == "aider-review" and len(document["findings"]) == 2

    stage(git_repo, "a.py", "x = 1\nold = eval(data)  # BUG\nnew = 2  # TODO\n")
    report = review_json(git_repo, env)
    assert [f["message"] for f in report["findings"]] == ["TODO left in the code"]
    assert report["stats"]["suppressed"] == 2

    # Re-baselining keeps what the old baseline hid.
    again = run_cli("baseline", cwd=git_repo, env=env)
    assert "wrote 3 finding(s)" in again.stdout, again.stderr


def test_a_baseline_from_another_tool_is_a_warning_and_never_overwritten(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    foreign = '{"version": "2.1.0", "runs": []}\n'
    (git_repo / ".aider-review").mkdir()
    (git_repo / ".aider-review" / "baseline.json").write_text(foreign)
    stage(git_repo, "a.py", "x = 1  # BUG\n")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    report = review_json(git_repo, env)
    assert len(report["findings"]) == 1
    assert ".aider-review/baseline.json:1: not an aider-review baseline" in report["_stderr"]
    refused = run_cli("baseline", cwd=git_repo, env=env)
    assert refused.returncode == 2 and "not overwritten" in refused.stderr
    assert refused.stderr.count("\n") == 1 or "Traceback" not in refused.stderr
    assert (git_repo / ".aider-review" / "baseline.json").read_text() == foreign


def test_thresholds_severity_confidence_and_count(git_repo: Path, model_server: Any,
                                                  tmp_path: Path) -> None:
    from testing.fake_model_server import rule_findings

    def confident(body: dict[str, Any]) -> str:
        found = rule_findings(body)
        for finding in found:
            finding["confidence"] = {"bug": 0.95, "security": 0.4}.get(finding["category"], 0.7)
        return json.dumps({"findings": found})

    model_server.reviewer = confident
    stage(git_repo, "a.py", "a = 1  # BUG\nb = eval(x)\nc = 2  # TODO\nd = 3  # BUG\n")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    everything = review_json(git_repo, env)
    assert len(everything["findings"]) == 4
    assert {f["confidence"] for f in everything["findings"]} == {0.95, 0.4, 0.7}

    (git_repo / ".aider-review.toml").write_text('min-severity = "warning"\n')
    assert {f["line"] for f in review_json(git_repo, env)["findings"]} == {1, 2, 4}
    (git_repo / ".aider-review.toml").write_text("min-confidence = 0.5\n")
    report = review_json(git_repo, env)
    assert {f["line"] for f in report["findings"]} == {1, 3, 4}
    assert report["stats"]["below_threshold"] == 1
    (git_repo / ".aider-review.toml").write_text("max-findings = 2\n")
    report = review_json(git_repo, env)
    assert {f["line"] for f in report["findings"]} == {1, 4}  # the errors first
    assert report["stats"]["below_threshold"] == 2
    # The prompt asks for the confidence.
    assert '"confidence"' in system_messages(model_server)[0]


# --- verification ----------------------------------------------------------------------------

def test_verification_drops_invented_findings_and_lists_them_with_v(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    from testing.fake_model_server import diff_lines, is_verify_request, rule_findings, \
        verify_answer

    def inventive(body: dict[str, Any]) -> str:
        if is_verify_request(body):
            return verify_answer(body)
        found = rule_findings(body)
        for path, line, kind, text in diff_lines(body):
            if kind == "+" and "innocent" in text:
                found.append({"path": path, "line": line, "end_line": line, "code": text,
                              "severity": "error", "category": "bug",
                              "message": "Invented problem", "suggestion": None})
        return json.dumps({"findings": found})

    model_server.reviewer = inventive
    stage(git_repo, "a.py", "a = 1  # BUG\nb = 'innocent'\nc = 'innocent too'\n")
    (git_repo / ".aider-review.toml").write_text('verify = true\nverify-model = "checker"\n')
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    result = run_cli("--format", "json", "-v", cwd=git_repo, env=env)
    report = json.loads(result.stdout)
    assert [f["line"] for f in report["findings"]] == [1]
    assert report["stats"]["rejected_by_verify"] == 2
    assert "not reported (verification dropped it): a.py:2: Invented problem" in result.stderr
    verify_requests = [r for r in model_server.requests if is_verify_request(r.body)]
    assert len(verify_requests) == 1 and verify_requests[0]["model"] == "checker"
    # Cached: the same run again asks nothing.
    sent = len(model_server.requests)
    again = json.loads(run_cli("--format", "json", cwd=git_repo, env=env).stdout)
    assert len(model_server.requests) == sent and again["stats"]["rejected_by_verify"] == 2


# --- feedback and learnings ------------------------------------------------------------------

def test_feedback_wrong_hides_the_finding_and_the_note_becomes_a_learning(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    stage(git_repo, "tests/t.py", "value = eval('1 + 1')\nother = 2  # TODO\n")
    first = review_json(git_repo, env)
    fingerprint = next(f["fingerprint"] for f in first["findings"] if f["category"] == "security")
    note = f"eval of a literal in tests is fine; key {NOTE_SECRET}"
    marked = run_cli("feedback", fingerprint, "--wrong", "--note", note, cwd=git_repo, env=env)
    assert marked.returncode == 0, marked.stderr
    lines = (git_repo / ".aider-review" / "feedback.jsonl").read_text().splitlines()
    entry = json.loads(lines[0])
    assert list(entry) == ["fingerprint", "verdict", "note", "path", "category", "code",
                           "message", "at"]
    assert entry["fingerprint"] == fingerprint and entry["verdict"] == "wrong"
    assert entry["path"] == "tests/t.py" and entry["code"] == "value = eval('1 + 1')"
    assert NOTE_SECRET not in entry["note"] and "eval of a literal" in entry["note"]

    model_server.requests.clear()
    second = review_json(git_repo, env)
    assert [f["category"] for f in second["findings"]] == ["docs"]
    assert second["stats"]["suppressed"] == 1
    system = system_messages(model_server)[0]  # new guidance: not the cached answer
    assert "Learnings from the maintainers' feedback" in system
    assert "eval of a literal in tests is fine" in system
    assert NOTE_SECRET not in everything_sent(model_server)


def test_feedback_errors_are_one_line_exit_2_and_reviews_carry_on(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    stage(git_repo, "a.py", "x = 1  # BUG\n")
    review_json(git_repo, env)
    unknown = run_cli("feedback", "0123456789abcdef", "--useful", cwd=git_repo, env=env)
    assert unknown.returncode == 2 and "unknown fingerprint 0123456789abcdef" in unknown.stderr
    assert unknown.stderr.count("\n") == 1
    log = git_repo / ".aider-review" / "feedback.jsonl"
    log.parent.mkdir(exist_ok=True)
    good = {"fingerprint": "f" * 16, "verdict": "useful", "note": "", "path": "a.py",
            "category": "bug", "code": "x", "message": "m", "at": "2024-01-01T00:00:00Z"}
    log.write_text(json.dumps(good) + "\n{not json\n")
    before = log.read_bytes()
    report = review_json(git_repo, env)
    assert ".aider-review/feedback.jsonl:2: not a JSON line" in report["_stderr"]
    fingerprint = report["findings"][0]["fingerprint"]
    refused = run_cli("feedback", fingerprint, "--wrong", cwd=git_repo, env=env)
    assert refused.returncode == 2 and ".aider-review/feedback.jsonl:2:" in refused.stderr
    assert log.read_bytes() == before  # nothing appended to a damaged log
    export = run_cli("finetune", "export", str(tmp_path / "out.jsonl"), cwd=git_repo, env=env)
    assert export.returncode == 2 and ".aider-review/feedback.jsonl:2:" in export.stderr


# --- fine-tuning -----------------------------------------------------------------------------

def test_finetune_export_joins_feedback_to_what_was_sent(git_repo: Path, model_server: Any,
                                                         tmp_path: Path) -> None:
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    commit_file(git_repo, "AGENTS.md", f"Be brief. {AGENTS_SECRET}\n")
    wrong: set[str] = set()
    out = tmp_path / "train.jsonl"
    for i in range(11):
        stage(git_repo, f"m{i}.py", f"v{i} = eval(s)  # BUG {i}\n")
        report = review_json(git_repo, env)
        by_category = {f["category"]: f["fingerprint"] for f in report["findings"]}
        run_cli("feedback", by_category["security"], "--wrong", "--note", f"note {i}",
                cwd=git_repo, env=env)
        run_cli("feedback", by_category["bug"], "--useful", cwd=git_repo, env=env)
        wrong.add(by_category["security"])
        git(git_repo, "commit", "-qm", f"m{i}")
        if i == 2:
            few = run_cli("finetune", "export", str(out), cwd=git_repo, env=env)
            assert few.returncode == 2 and "at least 10" in few.stderr, few.stderr
            assert not out.exists()
    made = run_cli("finetune", "export", str(out), cwd=git_repo, env=env)
    assert made.returncode == 0, made.stderr
    examples = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(examples) == 11
    for example in examples:
        roles = [m["role"] for m in example["messages"]]
        assert roles == ["system", "user", "assistant"]
        assert "UNTRUSTED-DIFF" in example["messages"][1]["content"]
        answer = json.loads(example["messages"][2]["content"])
        assert [f["category"] for f in answer["findings"]] == ["bug"]  # the wrong one is out
    assert AGENTS_SECRET not in out.read_text() and "[REDACTED:" in out.read_text()
    # The user message is exactly what was sent.
    sent_users = {m["content"] for r in model_server.requests for m in r["messages"]
                  if m["role"] == "user"}
    assert all(e["messages"][1]["content"] in sent_users for e in examples)

    started = run_cli("finetune", "start", str(out), "--base-model", "gpt-4o-mini-2024-07-18",
                      cwd=git_repo, env=env)
    assert started.returncode == 0, started.stderr
    job_id = started.stdout.strip()
    job = model_server.jobs[job_id]
    assert job["model"] == "gpt-4o-mini-2024-07-18"
    upload = model_server.files[job["training_file"]]
    assert upload["purpose"] == "fine-tune" and upload["content"] == out.read_bytes()

    queued = run_cli("finetune", "status", job_id, cwd=git_repo, env=env)
    assert queued.returncode == 0 and queued.stdout.startswith("status: queued")
    job.update(status="succeeded", fine_tuned_model="ft:gpt-4o-mini:acme::abc123")
    done = run_cli("finetune", "status", job_id, cwd=git_repo, env=env)
    assert "status: succeeded" in done.stdout and "model: ft:gpt-4o-mini:acme::abc123" in done.stdout


def test_finetune_start_rejects_a_bad_file_before_uploading(git_repo: Path, model_server: Any,
                                                           tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    line = {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]}
    bad.write_text(json.dumps(line) + "\n" + json.dumps({"messages": [{"role": "robot"}]}) + "\n")
    result = run_cli("finetune", "start", str(bad), "--base-model", "m", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 2 and f"{bad}:2:" in result.stderr
    few = tmp_path / "few.jsonl"
    few.write_text(json.dumps(line) + "\n")
    result = run_cli("finetune", "start", str(few), "--base-model", "m", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 2 and "at least 10" in result.stderr
    assert not model_server.files and not model_server.jobs
