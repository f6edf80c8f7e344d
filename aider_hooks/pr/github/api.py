"""A small GitHub REST client on the standard library: auth, pagination, rate limits, pacing.

No third-party HTTP stack: the bot needs a handful of JSON calls. The token lives in one
private attribute; it is sent only to the API's own origin (never on a redirect or to a
pagination link elsewhere) and is masked out of every message this module builds.

Rate limits follow GitHub's guidance
(https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api):
honour ``retry-after``; when ``x-ratelimit-remaining`` is 0 wait until ``x-ratelimit-reset``;
on a secondary limit without either header wait at least a minute, longer on each retry; and
leave about a second between content-creating requests.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aider_hooks import __version__
from aider_hooks.errors import GitHubError
from aider_hooks.pr.http import (ForeignOrigin, header_number, lower_headers,
                                 next_page_url, resolve_api_url, url_path)

DEFAULT_API_URL = "https://api.github.com"
JSON_MEDIA = "application/vnd.github+json"
DIFF_MEDIA = "application/vnd.github.diff"
API_VERSION = "2022-11-28"
PAGE_SIZE = 100
MAX_PAGES = 100  # 10,000 comments: far beyond any PR we should be reviewing

_WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_RETRY_SERVER_ERRORS = frozenset({500, 502, 503, 504})


class GitHubRateLimited(GitHubError):
    """GitHub's rate limit outlasted our waits. A 403 of this kind is no permission problem."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try. Tests make every number small."""

    max_attempts: int = 5
    backoff_base: float = 2.0  # server errors and connection failures: 2, 4, 8 ... seconds
    secondary_min_wait: float = 60.0  # GitHub: wait at least a minute on a secondary limit
    max_wait: float = 300.0  # a single wait longer than this stops the run with a message
    write_interval: float = 1.0  # between content-creating requests (POST/PATCH/PUT/DELETE)
    timeout: float = 30.0  # seconds per request


@dataclass(frozen=True)
class Response:
    """One response of the GitHub API: status, headers (lower-case names) and body."""
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise GitHubError("GitHub answered with something that is not JSON; "
                              "check --api-url / GITHUB_API_URL") from None


@dataclass
class _Attempt:
    """The outcome of one HTTP exchange: a response, or the reason it failed to happen."""

    response: Response | None = None
    network_error: str | None = None
    waits: list[float] = field(default_factory=list)


class GitHubClient:
    """JSON over HTTPS to one GitHub API origin, with one token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        parsed = urllib.parse.urlsplit(api_url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise GitHubError(f"not an API URL: {api_url!r} (expected e.g. {DEFAULT_API_URL})")
        if not token.strip():
            raise GitHubError("the GitHub token is empty: set GITHUB_TOKEN or pass --token")
        self.api_url = api_url.rstrip("/")
        self.__token = token.strip()
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._last_write: float | None = None
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    # Public calls ---------------------------------------------------------------------------

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def send_json(self, method: str, path: str, body: Mapping[str, Any]) -> Any:
        return self.request(method, path, body=body).json()

    def paginate(self, path: str, params: Mapping[str, str | int] | None = None) -> list[Any]:
        """Every item of a list endpoint, following ``Link: <...>; rel="next"`` to the end."""
        query = {"per_page": PAGE_SIZE, **(params or {})}
        items: list[Any] = []
        url: str | None = self._url(path, query)
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            response = self.request("GET", url)
            page = response.json()
            if not isinstance(page, list):
                raise GitHubError(f"GitHub answered GET {url_path(path)} with an object, "
                                  "expected a list")
            items.extend(page)
            url = next_page_url(response.headers.get("link", ""))
        raise GitHubError(f"GET {url_path(path)}: more than {MAX_PAGES} pages; giving up")

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        body: Mapping[str, Any] | None = None,
        accept: str = JSON_MEDIA,
        params: Mapping[str, str | int] | None = None,
    ) -> Response:
        """One API call with retries; raises ``GitHubError`` with a one-line, token-free message."""
        method = method.upper()
        url = self._url(path_or_url, params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        what = f"{method} {url_path(url)}"
        for attempt in range(1, self.policy.max_attempts + 1):
            if method in _WRITE_METHODS:
                self._pace_write()
            outcome = self._exchange(method, url, data, accept)
            wait = self._retry_wait(method, outcome, attempt, what)
            if wait is None:
                break
            if attempt == self.policy.max_attempts:
                break
            self._sleep(wait)
        return self._result(outcome, what)

    # One exchange -----------------------------------------------------------------------------

    def _exchange(self, method: str, url: str, data: bytes | None, accept: str) -> _Attempt:
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", accept)
        request.add_header("User-Agent", f"aider-review/{__version__}")
        request.add_header("X-GitHub-Api-Version", API_VERSION)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Unredirected: urllib copies ordinary headers onto a redirect, possibly to another host.
        request.add_unredirected_header("Authorization", f"Bearer {self.__token}")
        try:
            with self._opener.open(request, timeout=self.policy.timeout) as raw:
                return _Attempt(Response(raw.status, lower_headers(raw.headers), raw.read()))
        except urllib.error.HTTPError as err:
            with err:
                body = err.read()
            return _Attempt(Response(err.code, lower_headers(err.headers), body))
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            return _Attempt(network_error=self._mask(str(reason)))
        finally:
            if method in _WRITE_METHODS:
                self._last_write = self._clock()

    def _pace_write(self) -> None:
        if self._last_write is None or self.policy.write_interval <= 0:
            return
        remaining = self.policy.write_interval - (self._clock() - self._last_write)
        if remaining > 0:
            self._sleep(remaining)

    def _retry_wait(self, method: str, outcome: _Attempt, attempt: int, what: str) -> float | None:
        """Seconds to wait before trying again, or None when this outcome is final."""
        backoff = self.policy.backoff_base * 2.0 ** (attempt - 1)
        if outcome.network_error is not None:
            return backoff if method not in _WRITE_METHODS else None
        response = outcome.response
        assert response is not None
        if response.status in (403, 429):
            wait = rate_limit_wait(response, now=self._clock(), attempt=attempt,
                                   policy=self.policy)
            if wait is not None and wait > self.policy.max_wait:
                raise GitHubRateLimited(f"GitHub's rate limit asks to wait {wait:.0f} s before "
                                        f"{what}, longer than the {self.policy.max_wait:.0f} s "
                                        "this run waits; re-run the job later", response.status)
            return wait
        # A write that failed on the server may still have happened: never repeat it.
        if response.status in _RETRY_SERVER_ERRORS and method not in _WRITE_METHODS:
            return backoff
        return None

    def _result(self, outcome: _Attempt, what: str) -> Response:
        if outcome.network_error is not None:
            raise GitHubError(f"cannot reach GitHub at {self.api_url} ({what}): "
                              f"{outcome.network_error}")
        response = outcome.response
        assert response is not None
        if response.status < 300:
            return response
        raise self._error(response, what)

    def _error(self, response: Response, what: str) -> GitHubError:
        status = response.status
        detail = self._mask(_error_detail(response))
        if status == 401:
            return GitHubError("GitHub rejected the token (401 Bad credentials): check the "
                               "github-token input / GITHUB_TOKEN, or --token", status)
        if status == 403:
            if is_rate_limited(response):
                return GitHubRateLimited(f"GitHub rate limit still exceeded after "
                                         f"{self.policy.max_attempts} tries ({what}); re-run "
                                         "later", status)
            return GitHubError(f"GitHub refused {what} (403: {detail}); the token lacks a "
                               "permission: give the workflow `permissions: pull-requests: "
                               "write`", status)
        if status == 429:
            return GitHubRateLimited(f"GitHub rate limit still exceeded after "
                                     f"{self.policy.max_attempts} tries ({what}); re-run later",
                                     status)
        if status == 404:
            return GitHubError(f"GitHub: {what} not found (404): check the repository "
                               "(GITHUB_REPOSITORY / --repo), the pull request number, and that "
                               "the token may read them", status)
        return GitHubError(f"GitHub {what} failed ({status}: {detail})", status)

    # Helpers --------------------------------------------------------------------------------

    def _url(self, path_or_url: str, params: Mapping[str, str | int] | None = None) -> str:
        try:
            return resolve_api_url(self.api_url, path_or_url, params)
        except ForeignOrigin as err:
            raise GitHubError(f"refusing to send the GitHub token to {err.host}: it is not the API "
                              f"at {self.api_url}") from None

    def _mask(self, text: str) -> str:
        from aider_hooks.masking import mask_secrets

        return mask_secrets(text.replace(self.__token, "***"), [self.__token])


def rate_limit_wait(response: Response, *, now: float, attempt: int,
                    policy: RetryPolicy) -> float | None:
    """Seconds to wait after a 403/429, or None when it is not a rate limit (a permission error)."""
    headers = response.headers
    retry_after = header_number(headers.get("retry-after"))
    if retry_after is not None:
        return max(0.0, retry_after)
    reset = header_number(headers.get("x-ratelimit-reset"))
    if headers.get("x-ratelimit-remaining") == "0" and reset is not None:
        return max(0.0, reset - now) + 1.0  # +1: the reset time is rounded down to the second
    if is_rate_limited(response):
        # GitHub: at least a minute, then exponentially longer while it keeps refusing.
        return policy.secondary_min_wait * 2.0 ** (attempt - 1)
    return None


def is_rate_limited(response: Response) -> bool:
    if response.status == 429:
        return True
    if response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers:
        return True
    return "rate limit" in _error_detail(response).lower()


def _error_detail(response: Response) -> str:
    """GitHub's ``message`` plus the ``errors`` it lists, on one line."""
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return " ".join(response.text.split())[:200] or "no details"
    if not isinstance(data, dict):
        return "no details"
    parts = [str(data.get("message") or "no details")]
    errors = data.get("errors")
    if isinstance(errors, list):
        for item in errors:
            text = item if isinstance(item, str) else (
                item.get("message") or item.get("code") if isinstance(item, dict) else None)
            if text:
                parts.append(str(text))
    return " ".join("; ".join(parts).split())[:500]


class PullRequestAPI:
    """The endpoints of one pull request that the bot uses."""

    def __init__(self, client: GitHubClient, repo: str, number: int) -> None:
        self.client = client
        self.repo = repo
        self.number = number
        self._pulls = f"/repos/{repo}/pulls"
        self._issues = f"/repos/{repo}/issues"

    def viewer_login(self) -> str | None:
        """The login the token acts as, or None when GitHub will not say: the workflow's
        GITHUB_TOKEN (an app installation) gets a 403 from ``/user``."""
        try:
            data = self.client.get_json("/user")
        except GitHubRateLimited:
            raise
        except GitHubError as err:
            if err.status in (401, 403, 404):
                return None
            raise
        login = data.get("login") if isinstance(data, dict) else None
        return login if isinstance(login, str) and login else None

    def get(self) -> dict[str, Any]:
        data = self.client.get_json(f"{self._pulls}/{self.number}")
        if not isinstance(data, dict):
            raise GitHubError(f"GitHub answered pull request #{self.number} with no object")
        return data

    def diff(self) -> str:
        """The pull request's diff, decoded as a local ``git diff`` is (a file in cp1252 must
        read the same either way, or its findings would look new and its suggestions wrong)."""
        from aider_hooks.diff.source import decode_diff_bytes

        response = self.client.request("GET", f"{self._pulls}/{self.number}", accept=DIFF_MEDIA)
        return decode_diff_bytes(response.body)

    def review_comments(self) -> list[dict[str, Any]]:
        return [c for c in self.client.paginate(f"{self._pulls}/{self.number}/comments")
                if isinstance(c, dict)]

    def create_review(self, *, commit_id: str, body: str, comments: list[dict[str, Any]],
                      event: str | None = "COMMENT") -> dict[str, Any]:
        """``event=None`` leaves the review PENDING (invisible to others until submitted)."""
        payload: dict[str, Any] = {"commit_id": commit_id, "body": body, "comments": comments}
        if event is not None:
            payload["event"] = event
        result = self.client.send_json("POST", f"{self._pulls}/{self.number}/reviews", payload)
        return result if isinstance(result, dict) else {}

    def reviews(self) -> list[dict[str, Any]]:
        return [r for r in self.client.paginate(f"{self._pulls}/{self.number}/reviews")
                if isinstance(r, dict)]

    def delete_pending_review(self, review_id: int) -> None:
        self.client.request("DELETE", f"{self._pulls}/{self.number}/reviews/{review_id}")

    def edit_review_comment(self, comment_id: int, body: str) -> None:
        self.client.send_json("PATCH", f"{self._pulls}/comments/{comment_id}", {"body": body})

    def issue_comments(self) -> list[dict[str, Any]]:
        return [c for c in self.client.paginate(f"{self._issues}/{self.number}/comments")
                if isinstance(c, dict)]

    def create_issue_comment(self, body: str) -> dict[str, Any]:
        result = self.client.send_json("POST", f"{self._issues}/{self.number}/comments",
                                       {"body": body})
        return result if isinstance(result, dict) else {}

    def edit_issue_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        result = self.client.send_json("PATCH", f"{self._issues}/comments/{comment_id}",
                                       {"body": body})
        return result if isinstance(result, dict) else {}

    # Comment commands (pr/github/commands.py) ----------------------------------------------

    def reply_to_review_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        """A reply in the review thread that starts with ``comment_id``."""
        result = self.client.send_json(
            "POST", f"{self._pulls}/{self.number}/comments/{comment_id}/replies", {"body": body})
        return result if isinstance(result, dict) else {}

    def review_comment_reactions(self, comment_id: int) -> list[dict[str, Any]]:
        return [r for r in self.client.paginate(f"{self._pulls}/comments/{comment_id}/reactions")
                if isinstance(r, dict)]

    def edit_body(self, body: str) -> dict[str, Any]:
        """Replace the pull request's description."""
        result = self.client.send_json("PATCH", f"{self._pulls}/{self.number}", {"body": body})
        return result if isinstance(result, dict) else {}
