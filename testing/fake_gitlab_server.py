"""A stand-in for GitLab's REST API v4: a real HTTP server on 127.0.0.1, strict like GitLab.

It serves one project's merge requests (``diff_refs``, ``/diffs`` and ``/changes``), lists
discussions and notes with offset pagination (``X-Next-Page``, ``X-Page``, ``X-Total``,
``Link``; a small page size, so pagination is exercised), accepts diff discussions, notes, note
edits and resolving, and stores all of it for tests to inspect. Like GitLab it answers:
- 401 without a known ``PRIVATE-TOKEN`` (or ``JOB-TOKEN``);
- 403 to a write by a read-only token (a Guest's, or the pipeline's ``CI_JOB_TOKEN``, which
  may not write notes) and to ``GET /user`` with a job token; 403 to an edit of somebody
  else's note;
- 400 for a discussion whose ``position`` is off the diff: SHAs other than the MR's
  ``diff_refs``, a path not in the diff, ``new_line`` alone on a line that is not added, or
  ``old_line``/``new_line`` that are not the same unchanged line;
- whatever a test scripts: e.g. 429 with ``Retry-After`` once.
"""
from __future__ import annotations

import json
import re
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROJECT_TOKEN = "glpat-test-project-token-3e1f-never-print-me"  # project access token (bot)
PERSONAL_TOKEN = "glpat-test-personal-token-77ab-never-print-me"  # a developer's own token
GUEST_TOKEN = "glpat-test-guest-token-91cd-never-print-me"  # Guest role: may read, not comment
JOB_TOKEN = "test-ci-job-token-4d2e-never-print-me"  # CI_JOB_TOKEN (sent as JOB-TOKEN)
Answer = tuple[int, dict[str, str], Any]
BAD_POSITION = {"message": {"line_code": ["can't be blank", "must be a valid line code"]}}
BAD_SHAS = {"message": "400 Bad request - Note {:position=>[\"is invalid\"]}"}


@dataclass(frozen=True)
class Identity:
    user: dict[str, Any]
    writes: bool
    job: bool = False


IDENTITIES = {
    PROJECT_TOKEN: Identity({"id": 501, "username": "project_42_bot_1a2b", "bot": True}, True),
    PERSONAL_TOKEN: Identity({"id": 7, "username": "alice"}, True),
    GUEST_TOKEN: Identity({"id": 8, "username": "rita"}, False),
    JOB_TOKEN: Identity({"id": 7, "username": "alice"}, False, job=True),
}
HUMAN = {"id": 99, "username": "pr-author"}


def file_diffs(diff: str) -> list[dict[str, Any]]:
    """A ``git diff`` as the items of GitLab's ``/diffs``: paths, flags, and the hunks."""
    items: list[dict[str, Any]] = []
    for chunk in re.split(r"^(?=diff --git )", diff, flags=re.MULTILINE):
        if not chunk.startswith("diff --git "):
            continue
        lines = chunk.splitlines(keepends=True)
        old = new = None
        new_file = deleted = False
        body_at = len(lines)
        for index, line in enumerate(lines):
            if line.startswith("new file mode"):
                new_file = True
            elif line.startswith("deleted file mode"):
                deleted = True
            elif line.startswith("--- "):
                old = line[4:].strip().removeprefix("a/")
            elif line.startswith("+++ "):
                new = line[4:].strip().removeprefix("b/")
            elif line.startswith("@@"):
                body_at = index
                break
        old = new if old in (None, "/dev/null") else old
        new = old if new in (None, "/dev/null") else new
        items.append({"old_path": old, "new_path": new, "new_file": new_file,
                      "deleted_file": deleted, "renamed_file": old != new,
                      "a_mode": "100644", "b_mode": "100644", "diff": "".join(lines[body_at:])})
    return items


def line_kinds(diff: str) -> dict[int, int | None]:
    """new line -> old line for an unchanged line, None for an added one."""
    kinds: dict[int, int | None] = {}
    old = new = 0
    inside = False
    for text in diff.splitlines():
        match = re.match(r"@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@", text)
        if match:
            old, new, inside = int(match.group(1)), int(match.group(2)), True
        elif inside and text.startswith("+"):
            kinds[new] = None
            new += 1
        elif inside and text.startswith("-"):
            old += 1
        elif inside and (text.startswith(" ") or text == ""):
            kinds[new] = old
            old, new = old + 1, new + 1
    return kinds


@dataclass
class FakeMergeRequest:
    iid: int
    base_sha: str
    head_sha: str
    diff: str
    state: str = "opened"

    def to_json(self, project_id: int) -> dict[str, Any]:
        return {"id": 9000 + self.iid, "iid": self.iid, "project_id": project_id,
                "state": self.state, "sha": self.head_sha,
                "diff_refs": {"base_sha": self.base_sha, "start_sha": self.base_sha,
                              "head_sha": self.head_sha}}


@dataclass
class Scripted:
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
    body: Any
    status: int = 0


class FakeGitLab:
    """Use as a context manager; ``api_url`` is the ``CI_API_V4_URL`` to give the client."""

    def __init__(self, project_id: int = 42, project_path: str = "group/demo", *,
                 page_size: int = 2) -> None:
        self.project_id = project_id
        self.project_path = project_path
        self.page_size = page_size
        self.merge_requests: dict[int, FakeMergeRequest] = {}
        self.discussions: list[dict[str, Any]] = []
        self.notes: list[dict[str, Any]] = []  # every note, also those of discussions
        self.requests: list[Recorded] = []
        self.scripted: list[Scripted] = []
        self.edits: list[int] = []  # note ids
        self.diffs_endpoint = True  # False: an old GitLab without /diffs (only /changes)
        self._next_id = 1000
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    # Lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FakeGitLab:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def do_PUT(self) -> None:  # noqa: N802
                fake._handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_port}/api/v4"

    # Set-up and inspection ----------------------------------------------------------------------

    def add_merge_request(self, iid: int, *, base_sha: str, head_sha: str,
                          diff: str) -> FakeMergeRequest:
        mr = FakeMergeRequest(iid, base_sha, head_sha, diff)
        self.merge_requests[iid] = mr
        return mr

    def push(self, iid: int, *, head_sha: str, diff: str) -> None:
        mr = self.merge_requests[iid]
        mr.head_sha, mr.diff = head_sha, diff

    def script(self, status: int, *, headers: dict[str, str] | None = None,
               body: dict[str, Any] | None = None, method: str | None = None,
               path_contains: str | None = None, times: int = 1) -> None:
        self.scripted.append(Scripted(status, headers or {}, body or {"message": "scripted"},
                                      method, path_contains, times))

    def seed_note(self, iid: int, body: str, *, author: dict[str, Any] | None = None,
                  position: dict[str, Any] | None = None) -> dict[str, Any]:
        """A note (of a diff discussion when ``position`` is given) written by someone."""
        # Like GitLab, every note is in a discussion (a general one: ``individual_note``).
        note: dict[str, Any] = self._discussion(iid, body, author or HUMAN, position)["notes"][0]
        return note

    def diff_notes(self) -> list[dict[str, Any]]:
        return [n for n in self.notes if n["position"] is not None]

    def general_notes(self) -> list[dict[str, Any]]:
        return [n for n in self.notes if n["position"] is None]

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
        record = Recorded(method, url.path, query, body)
        with self._lock:
            self.requests.append(record)
            status, headers, payload = self._answer(handler, method, url.path, query, body)
        record.status = status
        data = json.dumps(payload).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
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
        private = handler.headers.get("PRIVATE-TOKEN")
        job = handler.headers.get("JOB-TOKEN")
        identity = IDENTITIES.get(private or "") if private else None
        if identity is not None and identity.job:
            identity = None  # a job token is only good as JOB-TOKEN
        if identity is None and job:
            found = IDENTITIES.get(job)
            identity = found if found is not None and found.job else None
        if identity is None:
            return 401, {}, {"message": "401 Unauthorized"}
        if path == "/api/v4/user" and method == "GET":
            if identity.job:
                return 403, {}, {"message": "403 Forbidden"}
            return 200, {}, identity.user
        if method != "GET" and not identity.writes:
            return 403, {}, {"message": "403 Forbidden"}
        return self._route(method, path, query, body, identity)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any,
               identity: Identity) -> Answer:
        project = None
        for key in (str(self.project_id), urllib.parse.quote(self.project_path, safe="")):
            prefix = f"/api/v4/projects/{key}/merge_requests/"
            if path.startswith(prefix):
                project = path[len(prefix):]
        if project is None:
            return 404, {}, {"message": "404 Project Not Found"}
        routes: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", r"(\d+)", self._get_mr),
            ("GET", r"(\d+)/diffs", self._get_diffs),
            ("GET", r"(\d+)/changes", self._get_changes),
            ("GET", r"(\d+)/discussions", self._list_discussions),
            ("POST", r"(\d+)/discussions", self._create_discussion),
            ("PUT", r"(\d+)/discussions/([0-9a-f]+)", self._resolve_discussion),
            ("GET", r"(\d+)/notes", self._list_notes),
            ("POST", r"(\d+)/notes", self._create_note),
            ("PUT", r"(\d+)/notes/(\d+)", self._edit_note),
        ]
        for verb, pattern, action in routes:
            match = re.fullmatch(pattern, project)
            if verb == method and match:
                iid = int(match.group(1))
                if iid not in self.merge_requests:
                    return 404, {}, {"message": "404 Not found"}
                return action(self.merge_requests[iid], *match.groups()[1:], query=query,
                              body=body or {}, identity=identity, path=path)
        return 404, {}, {"message": "404 Not Found"}

    # Endpoints --------------------------------------------------------------------------------

    def _get_mr(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        return 200, {}, mr.to_json(self.project_id)

    def _get_diffs(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        if not self.diffs_endpoint:
            return 404, {}, {"error": "404 Not Found"}
        return self._page(file_diffs(mr.diff), kw["query"], kw["path"])

    def _get_changes(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        return 200, {}, {**mr.to_json(self.project_id), "changes": file_diffs(mr.diff)}

    def _list_discussions(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        items = [d for d in self.discussions if d["iid"] == mr.iid]
        return self._page(items, kw["query"], kw["path"])

    def _create_discussion(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        body = kw["body"]
        text = body.get("body")
        if not isinstance(text, str) or not text:
            return 400, {}, {"message": {"note": ["can't be blank"]}}
        position = body.get("position")
        if position is None:
            return 201, {}, self._discussion(mr.iid, text, kw["identity"].user, None)
        problem = _position_problem(position, mr)
        if problem is not None:
            return 400, {}, problem
        return 201, {}, self._discussion(mr.iid, text, kw["identity"].user, dict(position))

    def _resolve_discussion(self, mr: FakeMergeRequest, discussion_id: str, **kw: Any) -> Answer:
        resolved = kw["query"].get("resolved", kw["body"].get("resolved"))
        for discussion in self.discussions:
            if discussion["id"] == discussion_id and discussion["iid"] == mr.iid:
                first = discussion["notes"][0]
                if not first["resolvable"]:
                    return 400, {}, {"message": "400 Bad request - discussion is not resolvable"}
                for note in discussion["notes"]:
                    note["resolved"] = str(resolved).lower() == "true"
                return 200, {}, discussion
        return 404, {}, {"message": "404 Discussion Not Found"}

    def _list_notes(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        items = [n for n in self.notes if n["iid"] == mr.iid]
        return self._page(items, kw["query"], kw["path"])

    def _create_note(self, mr: FakeMergeRequest, **kw: Any) -> Answer:
        text = kw["body"].get("body")
        if not isinstance(text, str) or not text:
            return 400, {}, {"message": {"note": ["can't be blank"]}}
        discussion = self._discussion(mr.iid, text, kw["identity"].user, None)
        return 201, {}, discussion["notes"][0]

    def _edit_note(self, mr: FakeMergeRequest, note_id: str, **kw: Any) -> Answer:
        text = kw["body"].get("body")
        for note in self.notes:
            if note["id"] == int(note_id) and note["iid"] == mr.iid:
                if note["author"]["id"] != kw["identity"].user["id"]:
                    return 403, {}, {"message": "403 Forbidden"}
                if not isinstance(text, str) or not text:
                    return 400, {}, {"message": {"note": ["can't be blank"]}}
                note["body"] = text
                self.edits.append(note["id"])
                return 200, {}, note
        return 404, {}, {"message": "404 Note Not Found"}

    # Helpers ----------------------------------------------------------------------------------

    def _page(self, items: list[dict[str, Any]], query: dict[str, str], path: str) -> Answer:
        size = min(int(query.get("per_page", 20)), self.page_size)
        page = int(query.get("page", 1))
        last = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size: page * size]
        base = f"{self.api_url.removesuffix('/api/v4')}{path}"
        headers = {"X-Page": str(page), "X-Per-Page": str(size), "X-Total": str(len(items)),
                   "X-Total-Pages": str(last), "X-Next-Page": str(page + 1) if page < last else "",
                   "X-Prev-Page": str(page - 1) if page > 1 else ""}
        if page < last:
            headers["Link"] = f'<{base}?per_page={size}&page={page + 1}>; rel="next"'
        return 200, headers, chunk

    def _discussion(self, iid: int, body: str, author: dict[str, Any],
                    position: dict[str, Any] | None) -> dict[str, Any]:
        note = self._note(iid, body, author, position)
        self.notes.append(note)
        discussion = {"id": f"{self._new_id():040x}", "iid": iid,
                      "individual_note": position is None, "notes": [note]}
        self.discussions.append(discussion)
        return discussion

    def _note(self, iid: int, body: str, author: dict[str, Any],
              position: dict[str, Any] | None) -> dict[str, Any]:
        return {"id": self._new_id(), "iid": iid, "body": body, "author": dict(author),
                "system": False, "type": "DiffNote" if position else None,
                "position": position, "resolvable": position is not None, "resolved": False}

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _position_problem(position: Any, mr: FakeMergeRequest) -> dict[str, Any] | None:
    """What GitLab would object to in a diff discussion's position, or None."""
    if not isinstance(position, dict) or position.get("position_type") != "text":
        return {"message": "400 Bad request - position_type is missing or not text"}
    wanted = mr.to_json(0)["diff_refs"]
    if any(position.get(key) != wanted[key] for key in ("base_sha", "start_sha", "head_sha")):
        return BAD_SHAS
    files = {item["new_path"]: item for item in file_diffs(mr.diff)}
    item = files.get(position.get("new_path"))
    if item is None or position.get("old_path") != item["old_path"]:
        return BAD_POSITION
    kinds = line_kinds(item["diff"])
    new_line, old_line = position.get("new_line"), position.get("old_line")
    if not isinstance(new_line, int) or new_line not in kinds:
        return BAD_POSITION
    if kinds[new_line] != old_line:  # added: no old_line; unchanged: exactly its old line
        return BAD_POSITION
    return None
