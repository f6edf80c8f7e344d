"""A small GitLab REST API v4 client on the standard library: auth, pagination, rate limits.

The token is sent as ``PRIVATE-TOKEN`` (a project, group or personal access token), or as
``JOB-TOKEN`` for the pipeline's ``CI_JOB_TOKEN``, only to the API's own origin (never on a
redirect or a pagination link elsewhere), and is masked out of every message.

Pagination follows ``X-Next-Page`` (offset pagination), else ``Link: <...>; rel="next"``
(keyset pagination). Rate limits
(https://docs.gitlab.com/ee/administration/settings/user_and_ip_rate_limits.html): a 429
carries ``Retry-After`` and ``RateLimit-Reset`` (a Unix time); we wait, within a bound. A
write that failed on the server is never repeated: it may have happened.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aider_hooks import __version__
from aider_hooks.errors import GitLabError
from aider_hooks.pr.http import (ForeignOrigin, header_number, lower_headers,
                                 next_page_url, resolve_api_url, url_path)

DEFAULT_API_URL = "https://gitlab.com/api/v4"
PAGE_SIZE = 100
MAX_PAGES = 100

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RETRY_SERVER_ERRORS = frozenset({500, 502, 503, 504})


class GitLabRateLimited(GitLabError):
    """GitLab's rate limit outlasted our waits."""


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait and how often to try. Tests make every number small."""

    max_attempts: int = 5
    backoff_base: float = 2.0
    default_wait: float = 60.0  # a 429 that says nothing about when to come back
    max_wait: float = 300.0
    timeout: float = 30.0


@dataclass(frozen=True)
class Response:
    """One response of the GitLab API: status, headers (lower-case names) and body."""
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise GitLabError("GitLab answered with something that is not JSON; check "
                              "--api-url / CI_API_V4_URL (it ends in /api/v4)") from None


class GitLabClient:
    """JSON over HTTPS to one GitLab API v4 root, with one token."""

    def __init__(self, api_url: str, token: str, *, job_token: bool = False,
                 policy: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        parsed = urllib.parse.urlsplit(api_url.rstrip("/"))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise GitLabError(f"not an API URL: {api_url!r} (expected e.g. {DEFAULT_API_URL})")
        if not token.strip():
            raise GitLabError("the GitLab token is empty: set AIDER_REVIEW_GITLAB_TOKEN or "
                              "pass --token")
        self.api_url = api_url.rstrip("/")
        self.__token = token.strip()
        self._header = "JOB-TOKEN" if job_token else "PRIVATE-TOKEN"
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        return f"GitLabClient(api_url={self.api_url!r})"

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def send_json(self, method: str, path: str, body: Mapping[str, Any] | None = None,
                  params: Mapping[str, str | int] | None = None) -> Any:
        return self.request(method, path, body=body, params=params).json()

    def paginate(self, path: str, params: Mapping[str, str | int] | None = None) -> list[Any]:
        """Every item of a list endpoint, following ``X-Next-Page`` (or ``Link``) to the end."""
        query: dict[str, str | int] = {"per_page": PAGE_SIZE, **(params or {})}
        items: list[Any] = []
        url: str | None = self._url(path, query)
        for _ in range(MAX_PAGES):
            if url is None:
                return items
            response = self.request("GET", url)
            page = response.json()
            if not isinstance(page, list):
                raise GitLabError(f"GitLab answered GET {url_path(path)} with an object, "
                                  "expected a list")
            items.extend(page)
            url = self._next_page(path, query, response)
        raise GitLabError(f"GET {url_path(path)}: more than {MAX_PAGES} pages; giving up")

    def _next_page(self, path: str, query: Mapping[str, str | int],
                   response: Response) -> str | None:
        next_page = response.headers.get("x-next-page", "").strip()
        if next_page:
            if not next_page.isdigit():
                return None
            return self._url(path, {**query, "page": next_page})
        if "x-next-page" in response.headers:
            return None  # present and empty: the last page
        return next_page_url(response.headers.get("link", ""))

    def request(self, method: str, path_or_url: str, *, body: Mapping[str, Any] | None = None,
                params: Mapping[str, str | int] | None = None) -> Response:
        """One API call with retries; raises ``GitLabError`` with a one-line, token-free
        message."""
        method = method.upper()
        url = self._url(path_or_url, params)
        data = json.dumps(body).encode("utf-8") if body is not None else None
        what = f"{method} {url_path(url)}"
        for attempt in range(1, self.policy.max_attempts + 1):
            response, network_error = self._exchange(method, url, data)
            wait = self._retry_wait(method, response, network_error, attempt, what)
            if wait is None or attempt == self.policy.max_attempts:
                break
            self._sleep(wait)
        if network_error is not None:
            raise GitLabError(f"cannot reach GitLab at {self.api_url} ({what}): {network_error}")
        assert response is not None
        if response.status < 300:
            return response
        raise self._error(response, what)

    def _exchange(self, method: str, url: str,
                  data: bytes | None) -> tuple[Response | None, str | None]:
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", f"aider-review/{__version__}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        # Unredirected: urllib copies ordinary headers onto a redirect, possibly elsewhere.
        request.add_unredirected_header(self._header, self.__token)
        try:
            with self._opener.open(request, timeout=self.policy.timeout) as raw:
                return Response(raw.status, lower_headers(raw.headers), raw.read()), None
        except urllib.error.HTTPError as err:
            with err:
                payload = err.read()
            return Response(err.code, lower_headers(err.headers), payload), None
        except (urllib.error.URLError, OSError) as err:
            return None, self._mask(str(getattr(err, "reason", err)))

    def _retry_wait(self, method: str, response: Response | None, network_error: str | None,
                    attempt: int, what: str) -> float | None:
        backoff = self.policy.backoff_base * 2.0 ** (attempt - 1)
        if network_error is not None:
            return backoff if method not in _WRITE_METHODS else None
        assert response is not None
        if response.status == 429:
            wait = rate_limit_wait(response, now=self._clock(), policy=self.policy,
                                   attempt=attempt)
            if wait > self.policy.max_wait:
                raise GitLabRateLimited(f"GitLab's rate limit asks to wait {wait:.0f} s before "
                                        f"{what}, longer than the {self.policy.max_wait:.0f} s "
                                        "this run waits; re-run the job later", 429)
            return wait
        if response.status in _RETRY_SERVER_ERRORS and method not in _WRITE_METHODS:
            return backoff
        return None

    def _error(self, response: Response, what: str) -> GitLabError:
        status = response.status
        detail = self._mask(error_detail(response))
        if status == 401:
            return GitLabError("GitLab rejected the token (401 Unauthorized): check "
                               "AIDER_REVIEW_GITLAB_TOKEN / GITLAB_TOKEN, or --token", status)
        if status == 403:
            return GitLabError(f"GitLab refused {what} (403: {detail}); the token may not do "
                               "this: use a project access token with the api scope and the "
                               "Reporter role or higher", status)
        if status == 404:
            return GitLabError(f"GitLab: {what} not found (404): check the project "
                               "(CI_PROJECT_ID / --project), the merge request, and that the "
                               "token may read them", status)
        if status == 429:
            return GitLabRateLimited(f"GitLab rate limit still exceeded after "
                                     f"{self.policy.max_attempts} tries ({what}); re-run later",
                                     status)
        return GitLabError(f"GitLab {what} failed ({status}: {detail})", status)

    def _url(self, path_or_url: str, params: Mapping[str, str | int] | None = None) -> str:
        try:
            return resolve_api_url(self.api_url, path_or_url, params)
        except ForeignOrigin as err:
            raise GitLabError(f"refusing to send the GitLab token to {err.host}: it is not the API "
                              f"at {self.api_url}") from None

    def _mask(self, text: str) -> str:
        from aider_hooks.masking import mask_secrets

        return mask_secrets(text.replace(self.__token, "***"), [self.__token])


def rate_limit_wait(response: Response, *, now: float, policy: RetryPolicy,
                    attempt: int = 1) -> float:
    """Seconds to wait after a 429: ``Retry-After``, else until ``RateLimit-Reset``, else a
    minute (longer on each try)."""
    retry_after = header_number(response.headers.get("retry-after"))
    if retry_after is not None:
        return max(0.0, retry_after)
    reset = header_number(response.headers.get("ratelimit-reset"))
    if reset is not None:
        return max(0.0, reset - now) + 1.0
    return policy.default_wait * 2.0 ** (attempt - 1)


def error_detail(response: Response) -> str:
    """GitLab's ``message`` (a string, a list or an object of lists) or ``error``, on one line."""
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return " ".join(response.body.decode("utf-8", "replace").split())[:200] or "no details"
    if not isinstance(data, dict):
        return "no details"
    message = data.get("message", data.get("error"))
    if message is None:
        return "no details"
    text = message if isinstance(message, str) else json.dumps(message)
    return " ".join(text.split())[:500]


class MergeRequestAPI:
    """The endpoints of one merge request that the bot uses."""

    def __init__(self, client: GitLabClient, project: str, iid: int) -> None:
        self.client = client
        self.project = project
        self.iid = iid
        encoded = urllib.parse.quote(project, safe="")  # "group/name" or a numeric id
        self._mr = f"/projects/{encoded}/merge_requests/{iid}"

    def current_user(self) -> dict[str, Any] | None:
        """Who the token acts as; None when GitLab will not say (a job token)."""
        try:
            data = self.client.get_json("/user")
        except GitLabRateLimited:
            raise
        except GitLabError as err:
            if err.status in (401, 403, 404):
                return None
            raise
        return data if isinstance(data, dict) else None

    def get(self) -> dict[str, Any]:
        data = self.client.get_json(self._mr)
        if not isinstance(data, dict):
            raise GitLabError(f"GitLab answered merge request !{self.iid} with no object")
        return data

    def diffs(self) -> list[dict[str, Any]]:
        """The merge request's file diffs: ``/diffs`` (paginated, GitLab 15.7+), else the
        older ``/changes``."""
        try:
            items = self.client.paginate(f"{self._mr}/diffs")
        except GitLabRateLimited:
            raise
        except GitLabError as err:
            if err.status != 404:
                raise
            data = self.client.get_json(f"{self._mr}/changes")
            items = data.get("changes", []) if isinstance(data, dict) else []
        return [item for item in items if isinstance(item, dict)]

    def discussions(self) -> list[dict[str, Any]]:
        return [d for d in self.client.paginate(f"{self._mr}/discussions") if isinstance(d, dict)]

    def create_discussion(self, body: str, position: Mapping[str, Any]) -> dict[str, Any]:
        result = self.client.send_json("POST", f"{self._mr}/discussions",
                                       {"body": body, "position": dict(position)})
        return result if isinstance(result, dict) else {}

    def resolve_discussion(self, discussion_id: str) -> None:
        self.client.send_json("PUT", f"{self._mr}/discussions/{discussion_id}",
                              params={"resolved": "true"})

    def notes(self) -> list[dict[str, Any]]:
        return [n for n in self.client.paginate(f"{self._mr}/notes",
                                                {"sort": "asc", "order_by": "created_at"})
                if isinstance(n, dict)]

    def create_note(self, body: str) -> dict[str, Any]:
        result = self.client.send_json("POST", f"{self._mr}/notes", {"body": body})
        return result if isinstance(result, dict) else {}

    def edit_note(self, note_id: int, body: str) -> None:
        self.client.send_json("PUT", f"{self._mr}/notes/{note_id}", {"body": body})
