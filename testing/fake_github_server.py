"""A stand-in for the GitHub REST API: a real HTTP server on 127.0.0.1, strict like GitHub.

It serves pull requests (JSON, and their diff for ``Accept: application/vnd.github.diff``),
lists review and issue comments with ``Link`` pagination (a small page size, so pagination is
exercised), accepts reviews, pending reviews, comment edits, replies in review threads and
edits of a pull request's body, lists reactions on review comments, and stores all of it for
tests to inspect. Like GitHub it answers:
- 401 for an unknown token, 403 for a read-only token on any write;
- 422 for a review whose comment is on a line outside the PR's diff (computed from the diff it
  serves: RIGHT-side lines of each hunk, ranges within one hunk), or with a body over 65,536
  characters, without saying which comment is wrong;
- whatever a test scripts: e.g. 403/429 with ``retry-after`` for rate limits.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

WRITE_TOKEN = "test-write-token-0c7d1e-never-print-me"
READ_ONLY_TOKEN = "test-read-token-5b2a9f-never-print-me"
BOT_LOGIN = "github-actions[bot]"
Answer = tuple[int, dict[str, str], Any]  # status, headers, JSON body (or bytes)
MAX_BODY = 65_536
BAD_LINE = ("Pull request review thread line must be part of the diff and Pull request review "
            "thread start line must be part of the same hunk as the line.")


def right_side_hunks(diff: str) -> dict[str, list[set[int]]]:
    """For each file of a unified diff: one set of RIGHT-side line numbers per hunk."""
    files: dict[str, list[set[int]]] = {}
    path: str | None = None
    hunk: set[int] | None = None
    new_line = old_left = new_left = 0
    for line in diff.splitlines():
        if hunk is not None and (old_left > 0 or new_left > 0):
            if line.startswith("\\"):
                continue
            kind = line[:1] or " "
            if kind in (" ", "+"):
                hunk.add(new_line)
                new_line += 1
                new_left -= 1
            if kind in (" ", "-"):
                old_left -= 1
            continue
        hunk = None
        if line.startswith("+++ "):
            target = line[4:].split("\t")[0]
            path = None if target == "/dev/null" else target.removeprefix("b/")
        elif line.startswith("@@") and path is not None:
            match = re.match(r"@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", line)
            if match:
                old_left = int(match.group(1) or 1)
                new_line = int(match.group(2))
                new_left = int(match.group(3) or 1)
                hunk = set()
                files.setdefault(path, []).append(hunk)
    return files


@dataclass
class FakePull:
    number: int
    base_sha: str
    head_sha: str
    diffs: dict[str, str | bytes]  # head sha -> diff served for it
    head_repo: str
    base_repo: str
    state: str = "open"
    body: str | None = None  # the description; GitHub sends null for an empty one

    def to_json(self, api_url: str) -> dict[str, Any]:
        return {
            "number": self.number, "state": self.state, "body": self.body,
            "url": f"{api_url}/repos/{self.base_repo}/pulls/{self.number}",
            "head": {"sha": self.head_sha, "ref": "feature", "repo": {"full_name": self.head_repo}},
            "base": {"sha": self.base_sha, "ref": "main", "repo": {"full_name": self.base_repo}},
        }


@dataclass
class Scripted:
    """A canned answer for the next matching request(s), e.g. a rate limit."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    method: str | None = None
    path_contains: str | None = None
    times: int = 1

    def matches(self, method: str, path: str) -> bool:
        return ((self.method is None or self.method == method)
                and (self.path_contains is None or self.path_contains in path))


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    accept: str
    body: Any
    status: int = 0


class FakeGitHub:
    """Use as a context manager; ``api_url`` is the root to give the client."""

    def __init__(self, repo: str = "octo/demo", *, page_size: int = 2) -> None:
        self.repo = repo
        self.page_size = page_size
        self.tokens = {WRITE_TOKEN: "write", READ_ONLY_TOKEN: "read"}
        self.pulls: dict[int, FakePull] = {}
        self.review_comments: list[dict[str, Any]] = []
        self.reviews: list[dict[str, Any]] = []
        self.issue_comments: list[dict[str, Any]] = []
        self.reactions: dict[int, list[dict[str, Any]]] = {}  # review comment id -> reactions
        self.requests: list[Recorded] = []
        self.scripted: list[Scripted] = []
        self.edits: list[tuple[str, int]] = []  # ("review_comment" | "issue_comment", id)
        # Who the token acts as. None: the workflow's GITHUB_TOKEN (writes as BOT_LOGIN, and
        # GET /user is a 403). A login: a personal token of that user (GET /user answers).
        self.viewer_login: str | None = None
        self._next_id = 1000
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def actions_environment(self, number: int, folder: Path,
                            token: str = WRITE_TOKEN) -> dict[str, str]:
        """What a `pull_request` workflow run on PR ``number`` sees: the event file it writes
        into ``folder``, the token, the repository and this server as the API."""
        event = folder / "event.json"
        event.write_text(json.dumps({"number": number,
                                     "pull_request": self.pulls[number].to_json(self.api_url)}))
        return {"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": self.repo,
                "GITHUB_API_URL": self.api_url, "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_EVENT_PATH": str(event)}

    # Lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's naming
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def do_PATCH(self) -> None:  # noqa: N802
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:  # noqa: N802
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}"

    # Test set-up ----------------------------------------------------------------------------

    def add_pull(self, number: int, *, base_sha: str, head_sha: str, diff: str | bytes,
                 head_repo: str | None = None) -> FakePull:
        pull = FakePull(number, base_sha, head_sha, {head_sha: diff},
                        head_repo=head_repo or self.repo, base_repo=self.repo)
        self.pulls[number] = pull
        return pull

    def push(self, number: int, *, head_sha: str, diff: str | bytes) -> None:
        """A new head for the pull request, as after ``git push``. ``diff`` as bytes is served
        as it is, as GitHub serves a diff of files in any encoding."""
        pull = self.pulls[number]
        pull.head_sha = head_sha
        pull.diffs[head_sha] = diff

    def script(self, status: int, *, headers: dict[str, str] | None = None,
               body: dict[str, Any] | None = None, method: str | None = None,
               path_contains: str | None = None, times: int = 1) -> None:
        self.scripted.append(Scripted(status, headers or {}, body or {"message": "scripted"},
                                      method, path_contains, times))

    def seed_review_comment(self, number: int, *, body: str, path: str = "app.py",
                            line: int = 1, user: str = BOT_LOGIN, in_reply_to: int | None = None,
                            association: str = "NONE") -> dict[str, Any]:
        if in_reply_to is not None:
            parent = next(c for c in self.review_comments if c["id"] == in_reply_to)
            path, line = parent["path"], parent["line"]
        comment = self._review_comment(number, {"body": body, "path": path, "line": line},
                                       self.pulls[number].head_sha, review_id=0, user=user)
        comment["in_reply_to_id"] = in_reply_to
        comment["author_association"] = association
        self.review_comments.append(comment)
        return comment

    def seed_issue_comment(self, number: int, *, body: str, user: str = "someone",
                           association: str = "NONE") -> dict[str, Any]:
        comment = self._issue_comment(number, body, user)
        comment["author_association"] = association
        self.issue_comments.append(comment)
        return comment

    def seed_reaction(self, comment_id: int, content: str, user: str = "someone") -> None:
        """A reaction (``+1``, ``-1``, ``heart`` ...) on a review comment."""
        if content not in _REACTIONS:
            raise ValueError(f"GitHub has no reaction {content!r}")
        self.reactions.setdefault(comment_id, []).append(
            {"id": self._new_id(), "content": content, "user": _user(user)})

    # Inspection -------------------------------------------------------------------------------

    def submitted_reviews(self) -> list[dict[str, Any]]:
        return [r for r in self.reviews if r["state"] != "PENDING"]

    def comments_of(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.review_comments if c["pull_number"] == number]

    def writes(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    # Dispatch ---------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        record = Recorded(method, url.path, query, handler.headers.get("Accept", ""), body)
        with self._lock:
            self.requests.append(record)
            status, headers, payload = self._answer(handler, method, url.path, query, body)
        record.status = status
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if "Content-Type" not in headers:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, handler: BaseHTTPRequestHandler, method: str, path: str,
                query: dict[str, str], body: Any) -> Answer:
        for canned in self.scripted:
            if canned.matches(method, path):
                canned.times -= 1
                if canned.times <= 0:
                    self.scripted.remove(canned)
                return canned.status, canned.headers, canned.body
        auth = handler.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        access = self.tokens.get(token)
        if access is None:
            return 401, {}, {"message": "Bad credentials"}
        if method != "GET" and access != "write":
            return 403, {}, {"message": "Resource not accessible by integration"}
        return self._route(method, path, query, body, handler.headers.get("Accept", ""))

    def _route(self, method: str, path: str, query: dict[str, str], body: Any,
               accept: str) -> Answer:
        if path == "/user" and method == "GET":
            if self.viewer_login is None:  # the workflow's GITHUB_TOKEN: an app installation
                return 403, {}, {"message": "Resource not accessible by integration"}
            return 200, {}, _user(self.viewer_login)
        prefix = f"/repos/{self.repo}"
        if not path.startswith(prefix + "/"):
            return 404, {}, {"message": "Not Found"}
        rest = path[len(prefix):]
        routes: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", r"/pulls/(\d+)", self._get_pull),
            ("GET", r"/pulls/(\d+)/comments", self._list_review_comments),
            ("POST", r"/pulls/(\d+)/reviews", self._create_review),
            ("GET", r"/pulls/(\d+)/reviews", self._list_reviews),
            ("DELETE", r"/pulls/(\d+)/reviews/(\d+)", self._delete_review),
            ("PATCH", r"/pulls/comments/(\d+)", self._edit_review_comment),
            ("PATCH", r"/pulls/(\d+)", self._edit_pull),
            ("POST", r"/pulls/(\d+)/comments/(\d+)/replies", self._reply),
            ("GET", r"/pulls/comments/(\d+)/reactions", self._list_reactions),
            ("GET", r"/issues/(\d+)/comments", self._list_issue_comments),
            ("POST", r"/issues/(\d+)/comments", self._create_issue_comment),
            ("PATCH", r"/issues/comments/(\d+)", self._edit_issue_comment),
        ]
        for verb, pattern, action in routes:
            match = re.fullmatch(pattern, rest)
            if verb == method and match:
                return action(*(int(g) for g in match.groups()), query=query, body=body,
                              accept=accept, path=path)
        return 404, {}, {"message": "Not Found"}

    # Endpoints --------------------------------------------------------------------------------

    def _get_pull(self, number: int, **kw: Any) -> Answer:
        pull = self.pulls.get(number)
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        if "diff" in kw["accept"]:
            return 200, {"Content-Type": "text/plain; charset=utf-8"}, \
                _diff_bytes(pull.diffs[pull.head_sha])
        return 200, {}, pull.to_json(self.api_url)

    def _list_review_comments(self, number: int, **kw: Any) -> Answer:
        if number not in self.pulls:
            return 404, {}, {"message": "Not Found"}
        items = [c for c in self.review_comments if c["pull_number"] == number]
        return self._page(items, kw["query"], kw["path"])

    def _list_issue_comments(self, number: int, **kw: Any) -> Answer:
        items = [c for c in self.issue_comments if c["issue_number"] == number]
        return self._page(items, kw["query"], kw["path"])

    def _create_review(self, number: int, **kw: Any) -> Answer:
        pull = self.pulls.get(number)
        body = kw["body"] or {}
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        commit = body.get("commit_id") or pull.head_sha
        if commit not in pull.diffs:
            return 422, {}, {"message": "Unprocessable Entity",
                             "errors": ["No commit found for SHA"]}
        event = body.get("event")
        if event is None and any(r["state"] == "PENDING" and r["pull_number"] == number
                                 for r in self.reviews):
            return 422, {}, {"message": "Unprocessable Entity",
                             "errors": ["User can only have one pending review per pull request"]}
        if len(body.get("body") or "") > MAX_BODY:
            return 422, {}, {"message": "Validation Failed", "errors": ["body is too long"]}
        hunks = right_side_hunks(_diff_bytes(pull.diffs[commit]).decode("utf-8", "replace"))
        for comment in body.get("comments") or []:
            problem = _comment_problem(comment, hunks)
            if problem:
                return 422, {}, {"message": "Unprocessable Entity", "errors": [problem]}
        review: dict[str, Any] = {"id": self._new_id(), "pull_number": number,
                                  "body": body.get("body") or "",
                  "commit_id": commit, "state": "PENDING" if event is None else "COMMENTED",
                  "user": _user(self.acting_login)}
        self.reviews.append(review)
        if event is not None:
            for comment in body.get("comments") or []:
                self.review_comments.append(
                    self._review_comment(number, comment, commit, review["id"],
                                         self.acting_login))
        return 200, {}, review

    def _list_reviews(self, number: int, **kw: Any) -> Answer:
        # GitHub lists a user's own PENDING review to that user only; here every token is
        # the one user that wrote them.
        items = [r for r in self.reviews if r["pull_number"] == number]
        return self._page(items, kw["query"], kw["path"])

    def _delete_review(self, number: int, review_id: int, **kw: Any) -> Answer:
        for review in self.reviews:
            if review["id"] == review_id and review["pull_number"] == number:
                if review["state"] != "PENDING":
                    return 422, {}, {"message": "Can not delete a non-pending pull request review"}
                self.reviews.remove(review)
                return 200, {}, review
        return 404, {}, {"message": "Not Found"}

    def _edit_review_comment(self, comment_id: int, **kw: Any) -> Answer:
        return self._edit(self.review_comments, "review_comment", comment_id, kw["body"])

    def _edit_pull(self, number: int, **kw: Any) -> Answer:
        pull = self.pulls.get(number)
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        body = kw["body"]
        if not isinstance(body, dict) or not body or set(body) - {"title", "body", "state",
                                                                 "base",
                                                                 "maintainer_can_modify"}:
            return 422, {}, {"message": "Validation Failed", "errors": ["invalid fields"]}
        text = body.get("body")
        if text is not None:
            if not isinstance(text, str) or len(text) > MAX_BODY:
                return 422, {}, {"message": "Validation Failed", "errors": ["body is invalid"]}
            pull.body = text
            self.edits.append(("pull", number))
        return 200, {}, pull.to_json(self.api_url)

    def _reply(self, number: int, comment_id: int, **kw: Any) -> Answer:
        """GitHub: a reply to a top-level review comment (replies to replies are not allowed)."""
        text = (kw["body"] or {}).get("body") or ""
        parent = next((c for c in self.review_comments
                       if c["id"] == comment_id and c["pull_number"] == number), None)
        if parent is None:
            return 404, {}, {"message": "Not Found"}
        if parent.get("in_reply_to_id"):
            return 422, {}, {"message": "Validation Failed",
                             "errors": ["in_reply_to cannot be a reply"]}
        if not text or len(text) > MAX_BODY:
            return 422, {}, {"message": "Validation Failed", "errors": ["body is invalid"]}
        comment = self._review_comment(number, {"body": text, "path": parent["path"],
                                                "line": parent["line"]},
                                       parent["commit_id"], review_id=0, user=self.acting_login)
        comment["in_reply_to_id"] = comment_id
        self.review_comments.append(comment)
        return 201, {}, comment

    def _list_reactions(self, comment_id: int, **kw: Any) -> Answer:
        if not any(c["id"] == comment_id for c in self.review_comments):
            return 404, {}, {"message": "Not Found"}
        return self._page(self.reactions.get(comment_id, []), kw["query"], kw["path"])

    def _create_issue_comment(self, number: int, **kw: Any) -> Answer:
        text = (kw["body"] or {}).get("body") or ""
        if not text or len(text) > MAX_BODY:
            return 422, {}, {"message": "Validation Failed", "errors": ["body is invalid"]}
        comment = self._issue_comment(number, text, self.acting_login)
        self.issue_comments.append(comment)
        return 201, {}, comment

    def _edit_issue_comment(self, comment_id: int, **kw: Any) -> Answer:
        return self._edit(self.issue_comments, "issue_comment", comment_id, kw["body"])

    def _edit(self, store: list[dict[str, Any]], kind: str, comment_id: int,
              body: Any) -> Answer:
        text = (body or {}).get("body") or ""
        for comment in store:
            if comment["id"] == comment_id:
                if comment["user"]["login"] != self.acting_login:
                    return 403, {}, {"message": "Resource not accessible by integration"}
                if not text or len(text) > MAX_BODY:
                    return 422, {}, {"message": "Validation Failed", "errors": ["body is invalid"]}
                comment["body"] = text
                self.edits.append((kind, comment_id))
                return 200, {}, comment
        return 404, {}, {"message": "Not Found"}

    # Helpers ----------------------------------------------------------------------------------

    def _page(self, items: list[dict[str, Any]], query: dict[str, str],
              path: str) -> Answer:
        size = min(int(query.get("per_page", 30)), self.page_size)
        page = int(query.get("page", 1))
        last = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size: page * size]
        links = []
        base = f"{self.api_url}{path}"
        if page < last:
            links.append(f'<{base}?per_page={size}&page={page + 1}>; rel="next"')
            links.append(f'<{base}?per_page={size}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{base}?per_page={size}&page=1>; rel="first"')
            links.append(f'<{base}?per_page={size}&page={page - 1}>; rel="prev"')
        return 200, ({"Link": ", ".join(links)} if links else {}), chunk

    def _review_comment(self, number: int, comment: dict[str, Any], commit: str,
                        review_id: int, user: str) -> dict[str, Any]:
        return {"id": self._new_id(), "pull_number": number, "pull_request_review_id": review_id,
                "body": comment.get("body") or "", "path": comment.get("path"),
                "line": comment.get("line"), "start_line": comment.get("start_line"),
                "side": comment.get("side") or "RIGHT",
                "start_side": comment.get("start_side"), "commit_id": commit,
                "original_commit_id": commit, "user": _user(user),
                "in_reply_to_id": None, "author_association": "NONE",
                "created_at": "2026-01-01T00:00:00Z"}

    def _issue_comment(self, number: int, body: str, user: str) -> dict[str, Any]:
        return {"id": self._new_id(), "issue_number": number, "body": body,
                "user": _user(user)}

    @property
    def acting_login(self) -> str:
        return self.viewer_login or BOT_LOGIN

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


_REACTIONS = frozenset({"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"})


def _diff_bytes(diff: str | bytes) -> bytes:
    return diff if isinstance(diff, bytes) else diff.encode()


def _user(login: str) -> dict[str, str]:
    """A user object as GitHub shows it on a comment: bots are of type "Bot"."""
    return {"login": login, "type": "Bot" if login.endswith("[bot]") else "User"}


def _comment_problem(comment: dict[str, Any], hunks: dict[str, list[set[int]]]) -> str | None:
    """What GitHub would object to in one review comment, or None."""
    path = comment.get("path")
    if path not in hunks:
        return "Path could not be resolved"
    if len(comment.get("body") or "") > MAX_BODY:
        return "body is too long (maximum is 65536 characters)"
    if comment.get("side", "RIGHT") != "RIGHT" or comment.get("start_side", "RIGHT") != "RIGHT":
        return "only RIGHT-side comments are modelled by this fake"
    line = comment.get("line")
    start = comment.get("start_line")
    for hunk in hunks[path]:
        if line in hunk:
            if start is None or (isinstance(start, int) and start < line and start in hunk):
                return None
    return BAD_LINE
