"""action.yml: it parses, its inputs reach the CLI, and the docs, the action and the CLI agree."""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from aider_hooks.cli.main import build_parser
from aider_hooks.pr.github import DEFAULT_MAX_COMMENTS
from aider_hooks.cli.github import write_action_outputs
from aider_hooks.pr.github.event import COMMAND
from aider_hooks.settings import ENVIRONMENT
from testing.repos import commit_base_and_head, git
from testing.fake_github_server import WRITE_TOKEN, FakeGitHub
from testing.fake_model_server import FakeModelServer

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
DOCS = ROOT / "README.md"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PullRequestWorld = tuple[FakeGitHub, FakeModelServer, dict[str, str]]


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    return list(action["runs"]["steps"])


def review_step(action: dict[str, Any]) -> dict[str, Any]:
    [step] = [s for s in steps(action) if s.get("id") == "review"]
    return step


def test_action_is_a_composite_with_branding_and_documented_inputs(action: dict[str, Any]) -> None:
    assert action["runs"]["using"] == "composite"
    assert action["name"] and action["description"]
    assert action["branding"]["icon"] and action["branding"]["color"]
    assert set(action["inputs"]) == {"api-key", "base-url", "model", "github-token", "fail-on",
                                     "config", "cache", "max-comments", "strict", "exclude",
                                     "describe"}
    assert all(spec.get("description") for spec in action["inputs"].values())
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert action["inputs"]["cache"]["default"] == "true"
    assert set(action["outputs"]) == {"findings", "errors", "ai-review"}
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.review.outputs.{name} }}}}"


def test_installs_its_own_package_and_keeps_the_cache(action: dict[str, Any]) -> None:
    scripts = "\n".join(s.get("run", "") for s in steps(action))
    assert 'pip install --quiet --disable-pip-version-check "$GITHUB_ACTION_PATH"' in scripts
    uses = [s.get("uses", "") for s in steps(action)]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    restore = [s for s in steps(action) if s.get("uses", "").startswith("actions/cache/restore@")]
    save = [s for s in steps(action) if s.get("uses", "").startswith("actions/cache/save@")]
    assert len(restore) == 1 and len(save) == 1
    assert restore[0]["with"]["key"] == save[0]["with"]["key"]
    assert "github.run_attempt" in save[0]["with"]["key"]  # each run saves what it learnt
    # a re-run restores the previous run's cache through the key's prefix
    assert any(save[0]["with"]["key"].startswith(prefix.strip())
               for prefix in restore[0]["with"]["restore-keys"].splitlines() if prefix.strip())
    assert "always()" in save[0]["if"]  # saved even when the review fails the step
    cache_env = review_step(action)["env"]["AIDER_REVIEW_CACHE"]
    assert cache_env.startswith(restore[0]["with"]["path"] + "/")


def test_no_expression_is_interpolated_into_a_shell_script(action: dict[str, Any]) -> None:
    for step in steps(action):
        assert "${{" not in step.get("run", ""), f"script injection risk in {step.get('name')}"


def test_every_input_reaches_the_cli_through_an_environment_variable(
        action: dict[str, Any]) -> None:
    step = review_step(action)
    script = step["run"]
    cli_variables = set(ENVIRONMENT) | {"GITHUB_TOKEN"}
    carried: dict[str, str] = {}
    for variable, value in step["env"].items():
        for expression in EXPRESSION.findall(str(value)):
            if expression.startswith("inputs."):
                carried[expression.removeprefix("inputs.")] = variable
    assert set(carried) == set(action["inputs"])
    for name, variable in carried.items():
        assert variable in cli_variables or f'"${variable}"' in script, (
            f"input {name} is put in {variable}, which neither the CLI nor the script reads")


# Running the action's review step for real ------------------------------------------------


def evaluate(value: str, inputs: dict[str, str], runner_temp: Path) -> str:
    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        if expression == "runner.temp":
            return str(runner_temp)
        raise AssertionError(f"the review step uses an expression this test does not know: "
                             f"{expression}")

    return EXPRESSION.sub(one, value)


@pytest.fixture
def pull_request(git_repo: Path, tmp_path: Path) -> Iterator[PullRequestWorld]:
    base, head = commit_base_and_head(git_repo, "app.py", "import os\n",
                                      "import os\nvalue = BUG_here()\n")
    with FakeGitHub() as github, FakeModelServer() as model:
        pull = github.add_pull(3, base_sha=base, head_sha=head,
                               diff=git(git_repo, "diff", f"{base}...{head}"))
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"action": "opened", "number": 3,
                                     "pull_request": pull.to_json(github.api_url)}))
        runner_temp = tmp_path / "runner-temp"
        bin_dir = runner_temp / "aider-review-venv" / "bin"
        bin_dir.mkdir(parents=True)
        # What the install step leaves behind: aider-review in the action's virtual environment.
        script = shutil.which("aider-review", path=str(Path(sys.executable).parent))
        assert script, "aider-review is not installed in the test environment"
        (bin_dir / "aider-review").symlink_to(script)
        env = {
            "PATH": os.environ["PATH"], "HOME": os.environ["HOME"],
            "XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", ""),
            "RUNNER_TEMP": str(runner_temp), "GITHUB_REPOSITORY": github.repo,
            "GITHUB_API_URL": github.api_url, "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event), "GITHUB_OUTPUT": str(tmp_path / "output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "REPO": str(git_repo),
        }
        yield github, model, env


def run_review_step(action: dict[str, Any], inputs: dict[str, str],
                    env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    step = review_step(action)
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values["github-token"] = WRITE_TOKEN  # what ${{ github.token }} becomes on a runner
    values.update(inputs)
    runner_temp = Path(env["RUNNER_TEMP"])
    step_env = {k: evaluate(str(v), values, runner_temp) for k, v in step["env"].items()}
    return subprocess.run(["bash", "-c", step["run"]], cwd=cwd, env={**env, **step_env},
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_the_review_step_runs_the_cli_with_the_inputs(
        action: dict[str, Any], pull_request: PullRequestWorld,
        tmp_path: Path) -> None:
    github, model, env = pull_request
    inputs = {"api-key": "sk-test-action-key-1234567890", "base-url": model.base_url,
              "model": "my-model", "fail-on": "never"}

    done = run_review_step(action, inputs, env, Path(env["REPO"]))

    assert done.returncode == 0, done.stderr  # fail-on: never
    assert model.requests and model.requests[0]["model"] == "my-model"
    assert len(github.submitted_reviews()) == 1 and len(github.review_comments) == 1
    assert "findings=1" in Path(env["GITHUB_OUTPUT"]).read_text()
    assert "errors=1" in Path(env["GITHUB_OUTPUT"]).read_text()
    assert (Path(env["RUNNER_TEMP"]) / "aider-review-cache" / "responses.sqlite").exists()
    assert WRITE_TOKEN not in done.stdout + done.stderr
    assert inputs["api-key"] not in done.stdout + done.stderr


@pytest.mark.slow
def test_fail_on_config_and_cache_inputs_change_what_the_cli_does(
        action: dict[str, Any], pull_request: PullRequestWorld,
        tmp_path: Path) -> None:
    github, model, env = pull_request
    config = tmp_path / "review.toml"
    config.write_text('[tool.aider-review]\nmodel = "model-from-config"\n')
    inputs = {"api-key": "sk-test-action-key-1234567890", "base-url": model.base_url,
              "config": str(config), "cache": "false"}

    done = run_review_step(action, inputs, env, Path(env["REPO"]))

    assert done.returncode == 1, done.stderr  # fail-on: error (the default) and a BUG line
    assert model.requests[0]["model"] == "model-from-config"
    assert not (Path(env["RUNNER_TEMP"]) / "aider-review-cache").exists()


def test_a_malicious_input_is_data_not_shell(
        action: dict[str, Any], pull_request: PullRequestWorld,
        tmp_path: Path) -> None:
    github, model, env = pull_request
    marker = tmp_path / "pwned"

    done = run_review_step(action, {"config": f'x"; touch {marker}; echo "'}, env,
                           Path(env["REPO"]))

    assert done.returncode == 2  # a config file that does not exist: a usage error
    assert not marker.exists()


def test_outputs_the_action_declares_are_written_by_the_cli(tmp_path: Path) -> None:
    output = tmp_path / "output"
    write_action_outputs({"GITHUB_OUTPUT": str(output)}, findings=4, errors=1, ai_review="ran")
    written = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert written == {"findings": "4", "errors": "1", "ai-review": "ran"}
    declared = yaml.safe_load(ACTION.read_text(encoding="utf-8"))["outputs"]
    assert set(written) == set(declared)


# The documentation agrees with the action and the CLI -------------------------------------


def docs_text() -> str:
    return DOCS.read_text(encoding="utf-8")


def workflows() -> list[dict[Any, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", docs_text(), re.DOTALL)
    loaded = [yaml.safe_load(block) for block in blocks]
    # The README also shows .pre-commit-config.yaml; workflows are the blocks with jobs.
    return [w for w in loaded if isinstance(w, dict) and "jobs" in w]


def triggers_of(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    return on if isinstance(on, dict) else {}


def uses_of_this_action(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    found = []
    for job in (workflow.get("jobs") or {}).values():
        for step in job.get("steps", []):
            if str(step.get("uses", "")).startswith("aider-hooks/aider-hooks@"):
                found.append(step)
    return found


def test_the_documented_workflow_is_complete(action: dict[str, Any]) -> None:
    first = workflows()[0]
    triggers = triggers_of(first)
    assert "pull_request" in triggers
    assert first["permissions"] == {"contents": "read", "pull-requests": "write"}
    steps_used = uses_of_this_action(first)
    assert steps_used, "the first workflow must use the action"
    for workflow in workflows():
        for step in uses_of_this_action(workflow):
            assert set(step.get("with", {})) <= set(action["inputs"])


def github_parser() -> argparse.ArgumentParser:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            parser = action.choices["github"]
            assert isinstance(parser, argparse.ArgumentParser)
            return parser
    raise AssertionError("no github subcommand")


def test_docs_list_every_input_output_and_github_option(action: dict[str, Any]) -> None:
    text = docs_text()
    for name in [*action["inputs"], *action["outputs"]]:
        assert f"`{name}`" in text, f"{name} is not documented"
    github = github_parser()
    documented_elsewhere = {"-h", "--help"}
    group = next(g for g in github._action_groups if g.title == "GitHub")
    for option in group._group_actions:
        flag = max(option.option_strings, key=len)
        assert flag in documented_elsewhere or f"`{flag}" in text, f"{flag} is not documented"
    assert f"`{COMMAND}`" in text
    assert f"At most {DEFAULT_MAX_COMMENTS} new inline comments" in text


def test_docs_show_the_fork_and_comment_triggers() -> None:
    triggers: set[str] = set()
    for workflow in workflows():
        triggers.update(triggers_of(workflow))
    assert {"pull_request", "pull_request_target", "issue_comment",
            "pull_request_review_comment"} <= triggers
    for workflow in workflows():
        if "pull_request_target" in triggers_of(workflow):
            for job in workflow["jobs"].values():
                for step in job["steps"]:
                    assert "ref" not in step.get("with", {}), "never check out the PR's head"
    assert "upload-sarif" in docs_text() and "--format sarif" in docs_text()


@pytest.mark.slow
def test_the_configs_fail_on_holds_when_the_input_is_not_given(
        action: dict[str, Any], pull_request: PullRequestWorld, tmp_path: Path) -> None:
    github, model, env = pull_request
    config = tmp_path / "review.toml"
    config.write_text('[tool.aider-review]\nfail-on = "never"\n')
    inputs = {"api-key": "sk-test-action-key-1234567890", "base-url": model.base_url,
              "config": str(config)}
    done = run_review_step(action, inputs, env, Path(env["REPO"]))
    assert done.returncode == 0, done.stderr  # a BUG line, but the config says never
    assert len(github.review_comments) == 1


@pytest.mark.slow
def test_max_comments_strict_and_exclude_inputs_reach_the_cli(
        action: dict[str, Any], pull_request: PullRequestWorld, tmp_path: Path) -> None:
    github, model, env = pull_request
    inputs = {"api-key": "sk-test-action-key-1234567890", "base-url": model.base_url,
              "exclude": "docs/**, *.md\napp.py\n", "max-comments": "2", "strict": "true",
              "fail-on": "never"}
    done = run_review_step(action, inputs, env, Path(env["REPO"]))
    assert done.returncode == 0, done.stderr
    assert model.requests == []  # app.py was excluded: nothing to review
    assert "ai-review=not-needed" in Path(env["GITHUB_OUTPUT"]).read_text()


# Supply-chain hygiene: static analysis of the action and of the README's workflows --------


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]' installs it)")
    return found


def _readme_workflow_files(tmp_path: Path) -> list[Path]:
    blocks = re.findall(r"```yaml\n(.*?)```", docs_text(), re.DOTALL)
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    files = []
    for number, block in enumerate(blocks):
        loaded = yaml.safe_load(block)
        if isinstance(loaded, dict) and "jobs" in loaded:
            path = folder / f"readme-{number}.yml"
            path.write_text(block, encoding="utf-8")
            files.append(path)
    assert files
    return files


def _zizmor_high(zizmor: str, path: Path) -> list[dict[str, Any]]:
    done = subprocess.run([zizmor, "--offline", "--format", "json", str(path)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 10, 11, 12, 13, 14), done.stderr
    findings = json.loads(done.stdout or "[]")
    return [f for f in findings if f["determinations"]["severity"] == "High"]


def test_zizmor_finds_nothing_high_in_the_action() -> None:
    assert _zizmor_high(_tool("zizmor"), ACTION) == []


def test_zizmor_finds_nothing_high_in_the_readme_workflows(tmp_path: Path) -> None:
    zizmor = _tool("zizmor")
    for path in _readme_workflow_files(tmp_path):
        high = _zizmor_high(zizmor, path)
        # The documented, deliberate exceptions: the fork workflow's pull_request_target and
        # the comment-command workflows (zizmor 1.32 calls issue_comment "almost always used
        # insecurely"). Neither checks out nor runs the pull request's code, and the bot
        # reads its diff from the API as data only.
        rest = [f for f in high if f["ident"] != "dangerous-triggers"]
        assert rest == [], (path.read_text(), [f["ident"] for f in rest])
        if high:
            triggers = set(triggers_of(yaml.safe_load(path.read_text())))
            assert triggers & {"pull_request_target", "issue_comment",
                               "pull_request_review_comment"}, path.read_text()


def test_the_action_and_the_readme_workflows_match_githubs_schemas(tmp_path: Path) -> None:
    checker = _tool("check-jsonschema")
    done = subprocess.run([checker, "--builtin-schema", "vendor.github-actions", str(ACTION)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    files = [str(p) for p in _readme_workflow_files(tmp_path)]
    done = subprocess.run([checker, "--builtin-schema", "vendor.github-workflows", *files],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_action_is_pinned_by_commit_with_its_version(tmp_path: Path) -> None:
    texts = [ACTION.read_text(encoding="utf-8")] + [
        p.read_text(encoding="utf-8") for p in _readme_workflow_files(tmp_path)]
    for text in texts:
        for ref in re.findall(r"uses:\s*(\S+@\S+.*)", text):
            if ref.startswith("aider-hooks/aider-hooks@"):
                continue  # this action itself, at its documented release
            assert re.fullmatch(r"[\w./-]+@[0-9a-f]{40}\s+# v\d+(\.\d+)*.*", ref), ref
