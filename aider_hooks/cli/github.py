"""``aider-review github``: the Actions environment in, comments and exit code out.

Reads ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY``, ``GITHUB_API_URL``, ``GITHUB_EVENT_PATH``,
``GITHUB_EVENT_NAME`` (each overridable by a flag), writes the Markdown report to
``GITHUB_STEP_SUMMARY`` and ``findings=N`` / ``errors=N`` to ``GITHUB_OUTPUT`` when they are set.

Exit codes (docs/cli.md): 0, 1 (findings at or above --fail-on), 2 (usage, GitHub refused),
3 (model unreachable with --strict). A read-only token (a fork's pull request) is not a
failure: the run reports with annotations and the step summary and exits 0 (the README's pull-request bot section).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aider_hooks.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
    InputError,
    UsageError,
)

if TYPE_CHECKING:
    from aider_hooks.pr.github.api import RetryPolicy
    from aider_hooks.pr.bot import BotOutcome
    from aider_hooks.pr.github.event import Command, Trigger
    from aider_hooks.pr.github.host import GitHubHost
    from aider_hooks.report import Report
    from aider_hooks.settings import Settings

PROG = "aider-review"
_REPO = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aider_hooks.cli.options import add_common_options, positive_int
    from aider_hooks.pr.github import DEFAULT_MAX_COMMENTS

    add_common_options(parser)
    group = parser.add_argument_group("GitHub")
    group.add_argument("--token", help="GitHub token (default: env GITHUB_TOKEN; prefer the "
                                       "variable: a flag is visible in process lists)")
    group.add_argument("--repo", metavar="OWNER/NAME",
                       help="repository (default: env GITHUB_REPOSITORY)")
    group.add_argument("--api-url", dest="api_url", metavar="URL",
                       help="REST API root (default: env GITHUB_API_URL, else "
                            "https://api.github.com)")
    group.add_argument("--event-path", dest="event_path", metavar="FILE",
                       help="event payload (default: env GITHUB_EVENT_PATH)")
    group.add_argument("--event-name", dest="event_name",
                       help="pull_request, pull_request_target or issue_comment (default: env "
                            "GITHUB_EVENT_NAME)")
    group.add_argument("--pr", type=positive_int, metavar="NUMBER",
                       help="review this pull request instead of the event's")
    group.add_argument("--max-comments", dest="max_comments", type=positive_int,
                       default=DEFAULT_MAX_COMMENTS, metavar="N",
                       help=f"new inline comments per run; the rest go to the summary "
                            f"(default {DEFAULT_MAX_COMMENTS})")
    group.add_argument("--exclude", dest="extra_exclude", action="append", default=[],
                       metavar="GLOB",
                       help="do not review files matching GLOB, besides the config's exclude "
                            "(repeatable)")
    group.add_argument("--describe", action="store_true",
                       help="also write a description of the change into the pull request's "
                            "body, between the aider-review:describe markers")
    group.add_argument("--export-feedback", dest="export_feedback", metavar="FILE",
                       help="write the feedback of the pull request's threads and reactions on "
                            "the bot's comments to FILE (.aider-review/feedback.jsonl lines); "
                            "no review")


def run(args: argparse.Namespace) -> int:
    return run_github(args)


def run_github(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """The command. ``policy``/``sleep`` let tests shorten GitHub's waits."""
    from aider_hooks.pr.bot import BotOptions, run_bot
    from aider_hooks.pr.github.api import DEFAULT_API_URL, GitHubClient, PullRequestAPI
    from aider_hooks.pr.github.host import GitHubHost

    env = os.environ if environ is None else environ
    token = args.token or env.get("GITHUB_TOKEN", "")
    if not token.strip():
        raise UsageError("no GitHub token: set GITHUB_TOKEN (the action passes its github-token "
                         "input) or pass --token")
    from aider_hooks.masking import remember_secret

    remember_secret(token)
    repo = args.repo or env.get("GITHUB_REPOSITORY", "")
    if not _REPO.fullmatch(repo):
        raise UsageError(f"no repository as OWNER/NAME (got {repo!r}): set GITHUB_REPOSITORY "
                         "or pass --repo")
    trigger = _trigger(args, env)
    quiet = bool(getattr(args, "quiet", False))
    if trigger.skip_reason:
        _say(f"nothing to do: {trigger.skip_reason}", quiet=quiet, token=token)
        write_action_outputs(env, findings=0, errors=0)
        return EXIT_OK

    cwd = Path.cwd()
    settings = _settings(args, cwd)
    if args.extra_exclude:
        from dataclasses import replace

        settings = replace(settings, exclude=(*settings.exclude, *args.extra_exclude))
    client = GitHubClient(args.api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL, token,
                          policy=policy, sleep=sleep or time.sleep)

    def log(message: str) -> None:
        _say(message, quiet=settings.quiet, token=token, api_key=settings.api_key)

    host = GitHubHost(PullRequestAPI(client, repo, trigger.number), log=log,
                      pull_request=trigger.pull_request)
    if args.export_feedback:
        return _export_feedback(host, Path(args.export_feedback), log)
    command = trigger.command
    if command is not None and command.name != "review":
        return _run_command(host, command, settings, env, log)
    # Without --output the report goes to the job log only: an unchanged diff need not be
    # reviewed again to say what the summary comment already says.
    options = BotOptions(cwd=cwd, diff_as_data_only=trigger.diff_as_data_only,
                         max_comments=args.max_comments, skip_unchanged=not settings.output)
    outcome = run_bot(host, settings, options=options, log=log)
    code = _finish(outcome, settings, env, log)
    if (args.describe and not settings.dry_run and not outcome.read_only
            and outcome.unchanged is None):
        _describe(host, settings, log)
    return code


def _run_command(host: GitHubHost, command: Command, settings: Settings,
                 env: Mapping[str, str], log: Callable[[str], None]) -> int:
    """A comment command: answered in its thread; the step's outputs say whether the model
    was asked (``ai-review``)."""
    from aider_hooks.errors import EXIT_MODEL_UNAVAILABLE
    from aider_hooks.pr.github.commands import run_command

    if settings.dry_run:
        log(f"--dry-run: /aider-review {command.name} would be answered; nothing was sent")
        write_action_outputs(env, findings=0, errors=0)
        return EXIT_OK
    outcome = run_command(host, command, settings, log=log)
    ai_review = ("skipped" if outcome.model_unavailable else
                 "ran" if outcome.model_requests else "not-needed")
    write_action_outputs(env, findings=0, errors=0, ai_review=ai_review)
    if outcome.model_unavailable and settings.strict:
        return EXIT_MODEL_UNAVAILABLE
    return EXIT_OK


def _describe(host: GitHubHost, settings: Settings, log: Callable[[str], None]) -> None:
    """``--describe``: a failure to describe is a line on stderr, never the review's result."""
    from aider_hooks.errors import HostPermissionError, ModelError
    from aider_hooks.pr.github.commands import describe_pull_request

    if not settings.model_configured:
        log("--describe: no model is configured; the description was not written")
        return
    try:
        describe_pull_request(host, settings, log)
    except (ModelError, HostPermissionError) as err:
        log(f"--describe: the description was not written: {err}")


def _export_feedback(host: GitHubHost, path: Path, log: Callable[[str], None]) -> int:
    import json

    from aider_hooks.pr.github.commands import gather_feedback

    lines = gather_feedback(host)
    text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror}") from None
    log(f"wrote {len(lines)} feedback line(s) to {path}")
    return EXIT_OK


def _finish(outcome: BotOutcome, settings: Settings, env: Mapping[str, str],
            log: Callable[[str], None]) -> int:
    from aider_hooks.cli.output import exit_code
    from aider_hooks.reporters import render

    report = outcome.report
    if outcome.unchanged is not None:
        state = outcome.unchanged
        write_step_summary(env, f"Pull request #{outcome.pull_request.number} at "
                                f"`{outcome.pull_request.head_sha[:7]}`: nothing reviewable "
                                f"changed since `{str(state.head)[:7]}`; the summary comment "
                                "stands as it is.")
        write_action_outputs(env, findings=state.total, errors=state.counts.get("error", 0),
                             ai_review="not-needed")
        return EXIT_FINDINGS if state.fails(settings.fail_on) else EXIT_OK
    if settings.dry_run:
        from aider_hooks.cli.review import format_dry_run

        _write_report(settings, format_dry_run(outcome.result))
        return EXIT_OK
    for notice in report.notices:
        log(notice)
    _write_report(settings, render(report, settings.format, warn=log))
    if outcome.read_only and not (settings.format == "github" and not settings.output):
        sys.stdout.write(render(report, "github"))
        sys.stdout.flush()
    write_step_summary(env, _step_summary(report, outcome))
    write_action_outputs(env, findings=len(report.findings),
                         errors=sum(1 for f in report.findings if f.severity == "error"),
                         ai_review=_ai_review_output(report))
    # A fork's read-only token never fails the check (only an unreachable model, with --strict).
    fail_on = "never" if outcome.read_only else settings.fail_on
    return exit_code(report, fail_on=fail_on, strict=settings.strict)


def _trigger(args: argparse.Namespace, env: Mapping[str, str]) -> Trigger:
    from aider_hooks.pr.github.event import read_event, trigger_for_number, trigger_from_event

    if args.pr:
        return trigger_for_number(args.pr)
    event_path = args.event_path or env.get("GITHUB_EVENT_PATH", "")
    if not event_path:
        raise UsageError("no event: GITHUB_EVENT_PATH is not set; run inside a GitHub Actions "
                         "pull_request workflow, or pass --event-path FILE or --pr NUMBER")
    payload = read_event(Path(event_path))
    return trigger_from_event(args.event_name or env.get("GITHUB_EVENT_NAME") or None, payload)


def _settings(args: argparse.Namespace, cwd: Path) -> Settings:
    from aider_hooks.cli.options import settings_from_args
    from aider_hooks.diff.git import find_repo_root

    try:
        root: Path | None = find_repo_root(cwd)
    except InputError:
        root = None  # e.g. pull_request_target without a checkout: defaults and environment
    return settings_from_args(args, root)


def _step_summary(report: Report, outcome: BotOutcome) -> str:
    from aider_hooks.reporters import render

    pull = outcome.pull_request
    lines = [f"Pull request #{pull.number} at `{pull.head_sha[:7]}`: "
             f"{outcome.new_comments} new inline comment(s), {outcome.already_posted} already "
             f"posted, {outcome.resolved} marked resolved."]
    if outcome.read_only:
        lines = ["> The token may not comment on this pull request (a fork's pull request gets "
                 "a read-only token), so the findings are here and in the annotations."]
    if report.ai_review_skipped:
        lines.insert(0, f"> **AI review skipped:** {report.ai_review_skipped}\n")
    return "\n".join(lines) + "\n\n" + render(report, "markdown")


def _ai_review_output(report: Report) -> str:
    if report.ai_review_skipped:
        return "skipped"
    return "ran" if report.model is not None else "not-needed"


def write_step_summary(env: Mapping[str, str], markdown: str) -> None:
    path = env.get("GITHUB_STEP_SUMMARY")
    if path:
        _append(path, markdown if markdown.endswith("\n") else markdown + "\n")


def write_action_outputs(env: Mapping[str, str], *, findings: int, errors: int,
                         ai_review: str = "not-needed") -> None:
    """``findings``, ``errors`` and ``ai-review`` (``ran``, ``skipped`` or ``not-needed``: no
    reviewable change) as step outputs (action.yml exposes them)."""
    path = env.get("GITHUB_OUTPUT")
    if path:
        _append(path, f"findings={findings}\nerrors={errors}\nai-review={ai_review}\n")


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as err:
        raise InputError(f"cannot write {path}: {err.strerror}") from None


def _write_report(settings: Settings, text: str) -> None:
    from aider_hooks.cli.output import write_report

    write_report(settings, text)


def _say(message: str, *, quiet: bool, token: str, api_key: str | None = None) -> None:
    if quiet:
        return
    from aider_hooks.masking import mask_secrets

    print(f"{PROG}: {mask_secrets(message, [token, api_key])}", file=sys.stderr)
