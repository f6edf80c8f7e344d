"""``aider-review gitlab``: a merge-request pipeline's environment in, discussions and exit code
out.

Reads ``CI_API_V4_URL``, ``CI_PROJECT_ID``, ``CI_MERGE_REQUEST_IID``,
``CI_MERGE_REQUEST_DIFF_BASE_SHA`` and ``CI_COMMIT_SHA`` (``CI_MERGE_REQUEST_SOURCE_BRANCH_SHA``
first in a merged-results pipeline, whose ``CI_COMMIT_SHA`` is a merge commit), and the token
from ``AIDER_REVIEW_GITLAB_TOKEN`` or ``GITLAB_TOKEN``; flags override them.

Exit codes as for ``github`` (docs/cli.md). A token that may not write notes (403:
``CI_JOB_TOKEN``, a user without the role to comment) is not a failure: the findings go to the
job log (and the ``--format codequality`` report when asked), and the exit code is 0.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aider_hooks.errors import EXIT_OK, InputError, UsageError

if TYPE_CHECKING:
    from aider_hooks.pr.bot import BotOutcome
    from aider_hooks.pr.gitlab.api import RetryPolicy
    from aider_hooks.settings import Settings

PROG = "aider-review"
TOKEN_VARIABLES = ("AIDER_REVIEW_GITLAB_TOKEN", "GITLAB_TOKEN")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from aider_hooks.cli.options import add_common_options, positive_int
    from aider_hooks.pr import DEFAULT_MAX_COMMENTS

    add_common_options(parser)
    group = parser.add_argument_group("GitLab")
    group.add_argument("--token", help="GitLab token (default: env AIDER_REVIEW_GITLAB_TOKEN, "
                                       "else GITLAB_TOKEN; prefer the variable: a flag is "
                                       "visible in process lists)")
    group.add_argument("--project", metavar="ID",
                       help="project id or path (default: env CI_PROJECT_ID)")
    group.add_argument("--api-url", dest="api_url", metavar="URL",
                       help="REST API v4 root (default: env CI_API_V4_URL, else "
                            "https://gitlab.com/api/v4)")
    group.add_argument("--mr", type=positive_int, metavar="IID",
                       help="review this merge request (default: env CI_MERGE_REQUEST_IID)")
    group.add_argument("--max-comments", dest="max_comments", type=positive_int,
                       default=DEFAULT_MAX_COMMENTS, metavar="N",
                       help=f"new inline comments per run; the rest go to the summary "
                            f"(default {DEFAULT_MAX_COMMENTS})")


def run(args: argparse.Namespace) -> int:
    return run_gitlab(args)


def run_gitlab(
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str] | None = None,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """The command. ``policy``/``sleep`` let tests shorten GitLab's waits."""
    from aider_hooks.masking import remember_secret
    from aider_hooks.pr.bot import BotOptions, run_bot
    from aider_hooks.pr.gitlab.api import DEFAULT_API_URL, GitLabClient, MergeRequestAPI
    from aider_hooks.pr.gitlab.host import GitLabHost

    env = os.environ if environ is None else environ
    token = args.token or next((env[n] for n in TOKEN_VARIABLES if env.get(n, "").strip()), "")
    if not token.strip():
        raise UsageError("no GitLab token: set AIDER_REVIEW_GITLAB_TOKEN (a masked CI/CD "
                         "variable holding a project access token) or pass --token")
    remember_secret(token)
    project = args.project or env.get("CI_PROJECT_ID", "")
    if not project.strip():
        raise UsageError("no project: set CI_PROJECT_ID (GitLab CI does) or pass --project")
    iid = args.mr or _iid(env.get("CI_MERGE_REQUEST_IID", ""))
    if iid is None:
        raise UsageError("no merge request: CI_MERGE_REQUEST_IID is not set; run in a "
                         "merge-request pipeline (rules: if: $CI_PIPELINE_SOURCE == "
                         "\"merge_request_event\") or pass --mr IID")
    cwd = Path.cwd()
    settings = _settings(args, cwd)

    def log(message: str) -> None:
        _say(message, quiet=settings.quiet, token=token, api_key=settings.api_key)

    job_token = token == env.get("CI_JOB_TOKEN")  # sent as JOB-TOKEN, as GitLab wants it
    client = GitLabClient(args.api_url or env.get("CI_API_V4_URL") or DEFAULT_API_URL, token,
                          job_token=job_token, policy=policy, sleep=sleep or time.sleep)
    base = env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA") or None
    head = (env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA") or env.get("CI_COMMIT_SHA")) or None
    local = base is not None and head is not None and args.mr is None
    host = GitLabHost(MergeRequestAPI(client, project.strip(), iid), log=log,
                      base_sha=base if local else None, head_sha=head if local else None)
    # The pipeline runs the merge request's own code anyway: its checkout is as trusted as
    # the job, so the diff is read locally when both commits are there.
    options = BotOptions(cwd=cwd, diff_as_data_only=False, max_comments=args.max_comments)
    outcome = run_bot(host, settings, options=options, log=log)
    return _finish(outcome, settings, log)


def _finish(outcome: BotOutcome, settings: Settings, log: Callable[[str], None]) -> int:
    from aider_hooks.cli.output import exit_code, write_report
    from aider_hooks.reporters import render

    report = outcome.report
    if settings.dry_run:
        from aider_hooks.cli.review import format_dry_run

        write_report(settings, format_dry_run(outcome.result))
        return EXIT_OK
    for notice in report.notices:
        log(notice)
    write_report(settings, render(report, settings.format, warn=log))
    if outcome.read_only and (settings.format != "text" or settings.output):
        # The job log is where a read-only run's findings are read.
        sys.stdout.write(render(report, "text"))
        sys.stdout.flush()
    fail_on = "never" if outcome.read_only else settings.fail_on
    return exit_code(report, fail_on=fail_on, strict=settings.strict)


def _iid(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and int(text) > 0 else None


def _settings(args: argparse.Namespace, cwd: Path) -> Settings:
    from aider_hooks.cli.options import settings_from_args
    from aider_hooks.diff.git import find_repo_root

    try:
        root: Path | None = find_repo_root(cwd)
    except InputError:
        root = None
    return settings_from_args(args, root)


def _say(message: str, *, quiet: bool, token: str, api_key: str | None = None) -> None:
    if quiet:
        return
    from aider_hooks.masking import mask_secrets

    print(f"{PROG}: {mask_secrets(message, [token, api_key])}", file=sys.stderr)
