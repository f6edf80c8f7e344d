"""Every error the user can be told about, in one place.

Low-level failures are translated into one of these where they happen, with the fix in the
message. The CLI (``cli.py``) is the only place that turns them into a one-line message and an
exit code; nothing else prints a traceback.
"""
from __future__ import annotations

# Exit codes, as documented in README.md and docs/cli.md.
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_MODEL_UNAVAILABLE = 3


class AiderReviewError(Exception):
    """Base class: something the user must know about. ``str(err)`` is the one-line message."""

    exit_code = EXIT_USAGE


class UsageError(AiderReviewError):
    """Wrong flags or arguments."""


class ConfigError(AiderReviewError):
    """A configuration file or environment value is invalid (unknown key, wrong type)."""


class InputError(AiderReviewError):
    """The input cannot be reviewed: not a git repository, unknown revision, unreadable diff."""


class GitError(InputError):
    """A git command failed; the message says which and why."""


class ModelError(AiderReviewError):
    """The model could not give an answer for one request."""

    exit_code = EXIT_MODEL_UNAVAILABLE


class ModelUnavailable(ModelError):
    """The model cannot be reached at all (connection refused, DNS, 5xx after retries, deadline).

    Without ``--strict`` this never blocks a commit: the run reports it on stderr and carries on
    with the cache and the built-in checks.
    """


class ModelAuthError(ModelUnavailable):
    """The endpoint refused our credentials (401/403). Same policy as unreachable."""


class ModelRequestError(ModelError):
    """The endpoint rejected this particular request (400, 404, 422): the hunk is reported failed."""


class InvalidAnswer(ModelError):
    """The model's answer is not the JSON object the prompt asked for."""


class GitHubError(AiderReviewError):
    """The GitHub REST API refused or failed a request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitLabError(AiderReviewError):
    """The GitLab REST API refused or failed a request."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class HostPermissionError(AiderReviewError):
    """The pull-request host refused this token a write: it may only read (a fork's pull
    request), or the comment is not (or no longer) one it may edit. Any host raises it, so the
    bot falls back to reporting elsewhere without knowing the host's status codes."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
