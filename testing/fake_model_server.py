"""A real OpenAI-compatible Chat Completions server on 127.0.0.1, programmable from tests.

Every test and benchmark talks to the model through this server and the real openai SDK::

    with FakeModelServer() as server:
        settings = Settings(base_url=server.base_url, api_key="sk-test")
        server.script = [{"status": 429, "retry_after": 0.05}]   # next request: one 429
        ...
        assert server.requests[0]["model"] == "gpt-4o-mini"

What it speaks: ``POST /v1/chat/completions`` (JSON, or SSE when the body has
``"stream": true``) and ``GET /v1/models``. Answers come from ``server.reviewer``, a callable
``(request_body) -> str``. The default reviewer is rule-based and reads the review prompt
format of ``aider_hooks/tasks/prompts.py`` (``### File: PATH``, ``@@ FIRST-LAST @@``, then
one line per diff line: an optional line number, a marker ``+`` `` `` ``-`` or ``:``, the
text; it counts the ``+`` and `` `` lines from FIRST as a model would, taking a written
number where there is one, and reads ``N:`` lines as code from line N outside the diff).
On every ADDED line containing

- ``BUG``   -> severity "error",   category "bug",      message "Bug marker found";
- ``eval(`` -> severity "warning", category "security", message "eval on input",
  suggestion = the line with ``eval(`` replaced by ``ast.literal_eval(``;
- ``TODO``  -> severity "info",    category "docs",     message "TODO left in the code";
- a call ``name(a, b)`` (plain positional arguments) of a function whose one-line
  ``def name(x, y, z):`` (plain parameters; an indented def's first ``self``/``cls``
  dropped; no dunders)
  is anywhere in the same request's lines of that file, with another number of arguments ->
  severity "error", category "bug", message "NAME takes N argument(s), called with M".
  The finding needs the ``def``: without it in the request, nothing is reported.

Its answer is ``json.dumps({"findings": [...]})``. A *PR-Agent* request (its /review prompt:
a system message naming "PR-Reviewer" with its "__new hunk__" diff format) is answered in
PR-Agent's YAML review format instead, one ``key_issues_to_review`` entry per added line that
trips a rule, at the line number PR-Agent printed (plus ``line_offset``), for the side-by-side
benchmark (benchmarks/pr_agent.py). A request is an *explain* request when its
system message contains the word "explain" (case-insensitive, whole word); the default reviewer
then answers plain text starting "This change ...". Knobs of the default reviewer:
``line_offset`` (added to every reported line), ``hallucinate`` (one extra finding whose code
is not in the diff), ``wrap`` ("none" | "fence" | "prose").

Faults. ``server.script`` is a list consumed one entry per chat request, before anything else;
when it is empty, ``server.fault_rates`` (e.g. ``{"429": 0.3, "500": 0.1, "slow": 0.05}``)
draws random faults from ``server.rng`` (seeded, so storms are reproducible). An entry is a
status code (``429``, ``"503"``) or a kind name, or a dict with parameters:

- ``{"status": 429, "retry_after": 0.05, "retry_after_ms": 50, "message": ..., "code": ...}``
  (``retry_after`` may also be a string, e.g. an HTTP date; it is sent verbatim). A 401 echoes
  the bearer token it received in its message, like some proxies do: the worst case for leaks;
- ``{"kind": "slow", "seconds": 1.0}``: sleep, then answer normally;
- ``"reset"``: close the socket without any response;
- ``{"kind": "stream_cut", "after": 2, "abrupt": False}``: SSE that stops after ``after``
  content chunks without a finish_reason or ``[DONE]``; with ``abrupt`` the socket is closed
  mid-body (the HTTP layer sees a broken body). On a non-streaming request: half a body;
- ``"invalid_json"``: a normal completion whose content is prose, not JSON;
- ``"garbage"``: HTTP 200 whose body is an HTML page, not a chat completion (a broken proxy);
- ``{"kind": "huge", "size": 1_000_000}``: the normal answer followed by ``size`` characters;
- ``"fenced"``: the normal answer inside a ```json fence.

With ``honour_max_tokens``, an answer longer than the request's ``max_tokens`` /
``max_completion_tokens`` (in ``fake_token_count`` tokens) is cut there with
``finish_reason: "length"``, as real servers do (off by default: the ``huge`` fault is a
server that ignores the limit).

``reported_prompt_tokens``: when set, the ``usage.prompt_tokens`` every answer reports (a
local server that cut the prompt to its context window reports what it kept).

Verification requests (``verify = true``): a request whose system message asks for
``"verdicts"`` is answered by ``verify_answer``: each "### Finding N" is kept when one of its
marked (``>``) lines would be flagged by the rules above, and dropped otherwise, so findings a
custom ``reviewer`` invents on innocent lines are rejected when they come back to be verified.

Fine-tuning: ``POST /v1/files`` (multipart, as the SDK's ``client.files.create`` sends it)
stores the upload in ``server.files`` (id -> ``{"filename", "purpose", "content"}``);
``POST /v1/fine_tuning/jobs`` creates a job in ``server.jobs`` (id -> the job object, status
"queued"; 400 when its ``training_file`` was never uploaded); ``GET /v1/fine_tuning/jobs/ID``
returns it. Tests move a job on by editing ``server.jobs[ID]`` (e.g. ``status`` "succeeded"
and ``fine_tuned_model``). These requests are not chat requests: they are not in
``server.requests``.

Other knobs: ``latency`` (seconds from a chat request's arrival to its answer; the reviewer's
own work happens within it, as a real model's does), ``answer_json_mode_400`` (reject any
request with ``response_format`` with a 400 naming it, like some local servers),
``api_key`` (when set, other bearer tokens get a 401), ``stream_chunk_delay``.

Observations: ``requests`` (every chat request received, see ``RecordedRequest``),
``in_flight`` and ``peak_in_flight`` (concurrent chat requests), ``errors`` (bugs in the
server or in a test's reviewer; a test may assert it stays empty).

Token counts are deterministic: ``fake_token_count(text)`` per message content (prompt) and
for the answer (completion).

Standalone, for benchmarks: ``python -m testing.fake_model_server --port 0 --latency 0.2``
prints the base URL on the first line of stdout and serves until killed.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reviewer = Callable[[dict[str, Any]], str]
FaultEntry = int | str | dict[str, Any]

DEFAULT_MODEL_ID = "fake-model"
_STATUS_TEXT = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: {token}."),
    403: ("permission_denied", None, "You are not allowed to use this model."),
    404: ("invalid_request_error", "model_not_found",
          "The model `{model}` does not exist or you do not have access to it."),
    408: ("timeout", None, "Request timed out."),
    409: ("conflict", None, "Conflict, please retry."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again."),
    500: ("server_error", None, "The server had an error while processing your request."),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
_FAULT_KINDS = ("status", "slow", "reset", "stream_cut", "invalid_json", "garbage", "huge",
                "fenced")

_FILE_LINE = re.compile(r"^### File: (.*)$")
_HUNK_HEADER = re.compile(r"^@@ (\d+)-\d+ @@")
_DIFF_LINE = re.compile(r"^(\d*)([-+ :])(.*)$")
_DEF = re.compile(r"^\s*(?:async\s+)?def\s+(\w+)\s*\(([^()]*)\)\s*(?:->[^:]*)?:")
_CALL = re.compile(r"(?<![\w.])(?:\w+\.)?(\w+)\(([^()]*)\)")
_PLAIN_ARGUMENT = re.compile(r"^\s*[\w.]+\s*$")
_EXPLAIN_WORD = re.compile(r"\bexplain\b", re.IGNORECASE)
_FINDING_HEADER = re.compile(r"^### Finding (\d+)\s*$")
_FINDING_FILE = re.compile(r"^file: (.*)$")
_MARKED_LINE = re.compile(r"^\s*(\d+) > (.*)$")
# PR-Agent's review prompt: "## File: 'PATH'", then per hunk "__new hunk__" with lines
# f"{new_lineno} {+| }{text}" and an unnumbered "__old hunk__".
_PR_AGENT_FILE = re.compile(r"^## File: '(.*)'\s*$")
_PR_AGENT_LINE = re.compile(r"^(\d+) ([+ ])(.*)$")


def closed_port_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens: an unreachable model."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def fake_token_count(text: str) -> int:
    """The server's token count for ``text``: one per 4 characters, at least one."""
    return max(1, len(text) // 4)


# ---------------------------------------------------------------------------------------------
# The default, rule-based reviewer


def is_explain_request(body: dict[str, Any]) -> bool:
    """True when a system message contains the word "explain" (whole word, any case)."""
    return any(m.get("role") == "system" and _EXPLAIN_WORD.search(_content(m))
               for m in _messages(body))


def shown_lines(body: dict[str, Any]) -> Iterator[tuple[str, int | None, str, str]]:
    """``(path, line number, marker, text)`` for every line of every hunk in the user
    messages: ``+`` and `` `` lines numbered by counting, ``:`` lines by their own number,
    ``-`` lines with None."""
    for message in _messages(body):
        if message.get("role") != "user":
            continue
        path: str | None = None
        next_number: int | None = None  # None: not inside a hunk
        for line in _content(message).splitlines():
            if line.startswith("<<<"):
                path = next_number = None
                continue
            file_match = _FILE_LINE.match(line)
            if file_match:
                path, next_number = file_match.group(1), None
                continue
            header = _HUNK_HEADER.match(line)
            if header:
                next_number = int(header.group(1))
                continue
            line_match = _DIFF_LINE.match(line)
            if path is None or next_number is None or not line_match:
                continue
            written, kind, text = line_match.groups()
            if kind == ":":
                if written:
                    yield path, int(written), kind, text
            elif kind == "-":
                yield path, None, kind, text
            else:
                number = int(written) if written else next_number
                next_number = number + 1
                yield path, number, kind, text


def diff_lines(body: dict[str, Any]) -> Iterator[tuple[str, int, str, str]]:
    """``(path, new_lineno, kind, text)`` for each added or context line in the user messages."""
    for path, number, kind, text in shown_lines(body):
        if kind in "+ " and number is not None:
            yield path, number, kind, text


def rule_findings(body: dict[str, Any], *, line_offset: int = 0,
                  hallucinate: bool = False) -> list[dict[str, Any]]:
    """The findings the default reviewer reports for a request body."""
    findings: list[dict[str, Any]] = []
    seen: set[tuple[str, int, str]] = set()
    first_path: str | None = None
    signatures = _signatures(body)
    for path, lineno, kind, text in diff_lines(body):
        first_path = first_path or path
        if kind != "+":
            continue
        found = [*_line_findings(path, lineno + line_offset, text),
                 *_call_findings(path, lineno + line_offset, text, signatures.get(path, {}))]
        for finding in found:
            key = (path, finding["line"], finding["message"])
            if key not in seen:  # a repair request repeats the diff: report it once
                seen.add(key)
                findings.append(finding)
    if hallucinate:
        findings.append(_finding(first_path or "unknown.py", 1 + line_offset,
                                 "this line is not in the diff at all()", "warning", "bug",
                                 "Hallucinated finding"))
    return findings


def _signatures(body: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per file, the parameters of each function whose one-line ``def`` the request shows
    (on any line but a removed one); a name defined twice with other parameters is left out."""
    found: dict[str, dict[str, list[str] | None]] = {}
    for path, _number, kind, text in shown_lines(body):
        match = _DEF.match(text) if kind != "-" else None
        if match is None:
            continue
        params = [p.strip() for p in match.group(2).split(",") if p.strip()]
        if text[:1] in (" ", "\t") and params and params[0] in ("self", "cls"):
            params = params[1:]  # a method: called bound
        plain = all(re.fullmatch(r"\w+", p) for p in params)
        known = found.setdefault(path, {})
        name = match.group(1)
        if not plain or (name in known and known[name] != params):
            known[name] = None
        else:
            known[name] = params
    return {path: {n: p for n, p in names.items() if p is not None}
            for path, names in found.items()}


def _call_findings(path: str, line: int, text: str,
                   signatures: dict[str, list[str]]) -> list[dict[str, Any]]:
    if _DEF.match(text):
        return []
    found = []
    for match in _CALL.finditer(text):
        name, arguments = match.groups()
        params = signatures.get(name) if not name.startswith("__") else None
        if params is None:
            continue
        args = [a for a in arguments.split(",") if a.strip()]
        if not all(_PLAIN_ARGUMENT.match(a) for a in args) or len(args) == len(params):
            continue
        found.append(_finding(path, line, text, "error", "bug",
                              f"{name} takes {len(params)} argument(s), called with {len(args)}"))
    return found


def _line_findings(path: str, line: int, text: str) -> list[dict[str, Any]]:
    found = []
    if "BUG" in text:
        found.append(_finding(path, line, text, "error", "bug", "Bug marker found"))
    if "eval(" in text:
        found.append(_finding(path, line, text, "warning", "security", "eval on input",
                              suggestion=text.replace("eval(", "ast.literal_eval(")))
    if "TODO" in text:
        found.append(_finding(path, line, text, "info", "docs", "TODO left in the code"))
    return found


def _finding(path: str, line: int, code: str, severity: str, category: str, message: str,
             suggestion: str | None = None) -> dict[str, Any]:
    return {"path": path, "line": line, "end_line": line, "code": code, "severity": severity,
            "category": category, "message": message, "suggestion": suggestion}


def is_verify_request(body: dict[str, Any]) -> bool:
    """True when a system message asks for ``"verdicts"`` (aider-review's verification)."""
    return any(m.get("role") == "system" and '"verdicts"' in _content(m) for m in _messages(body))


def verify_answer(body: dict[str, Any]) -> str:
    """Keep a finding when one of its marked lines trips a rule of the default reviewer."""
    verdicts: dict[int, bool] = {}
    for message in _messages(body):
        if message.get("role") != "user":
            continue
        number: int | None = None
        path = ""
        for line in _content(message).splitlines():
            header = _FINDING_HEADER.match(line)
            if header:
                number = int(header.group(1))
                verdicts.setdefault(number, False)
                continue
            file_match = _FINDING_FILE.match(line)
            if file_match:
                path = file_match.group(1)
                continue
            marked = _MARKED_LINE.match(line)
            if number is not None and marked and _line_findings(path, 1, marked.group(2)):
                verdicts[number] = True
    return json.dumps({"verdicts": [{"id": n, "verdict": "keep" if keep else "drop",
                                     "reason": "a real problem" if keep else "not a problem"}
                                    for n, keep in sorted(verdicts.items())]})


def explain_answer(body: dict[str, Any]) -> str:
    """Plain text, one sentence per file, always starting "This change"."""
    added: dict[str, int] = {}
    for path, _lineno, kind, _text in diff_lines(body):
        added[path] = added.get(path, 0) + (kind == "+")
    if not added:
        return "This change contains no lines I can explain."
    parts = [f"{path}: {count} added line(s)" for path, count in added.items()]
    return "This change touches " + "; ".join(parts) + ". There is no obvious risk."


def is_pr_agent_request(body: dict[str, Any]) -> bool:
    """True for PR-Agent's /review request (its system prompt names "PR-Reviewer" and shows
    its "__new hunk__" diff format)."""
    return any(m.get("role") == "system" and "PR-Reviewer" in _content(m)
               and "__new hunk__" in _content(m) for m in _messages(body))


def pr_agent_diff_lines(body: dict[str, Any]) -> Iterator[tuple[str, int, str, str]]:
    """``(path, new_lineno, kind, text)`` of the numbered "__new hunk__" lines of a PR-Agent
    request's user message."""
    for message in _messages(body):
        if message.get("role") != "user":
            continue
        path: str | None = None
        in_new_hunk = False
        for line in _content(message).splitlines():
            file_match = _PR_AGENT_FILE.match(line)
            if file_match:
                path, in_new_hunk = file_match.group(1), False
            elif line.startswith(("__new hunk__", "__old hunk__", "@@ ")):
                in_new_hunk = line.startswith("__new hunk__")
            elif in_new_hunk and path is not None:
                line_match = _PR_AGENT_LINE.match(line)
                if line_match:
                    yield path, int(line_match.group(1)), line_match.group(2), line_match.group(3)


def pr_agent_answer(body: dict[str, Any], *, line_offset: int = 0) -> str:
    """A PR-Agent review in its YAML format: one key issue per added line that trips a rule
    of the default reviewer (every one of them, whatever its prompt's limit on issues)."""
    issues = []
    for path, lineno, kind, text in pr_agent_diff_lines(body):
        if kind != "+":
            continue
        for finding in _line_findings(path, lineno + line_offset, text):
            issues.append(f"    - relevant_file: |\n        {path}\n"
                          f"      issue_header: |\n        Possible Bug\n"
                          f"      issue_content: |\n        {finding['message']}\n"
                          f"      start_line: {finding['line']}\n"
                          f"      end_line: {finding['line']}\n")
    key_issues = "  key_issues_to_review:\n" + "".join(issues) if issues else \
        "  key_issues_to_review: []\n"
    return ("```yaml\nreview:\n  estimated_effort_to_review_[1-5]: |\n    3\n"
            "  relevant_tests: |\n    No\n" + key_issues
            + "  security_concerns: |\n    No\n```")


def wrap_answer(text: str, wrap: str) -> str:
    if wrap == "fence":
        return f"```json\n{text}\n```"
    if wrap == "prose":
        return f"Sure! Here is my review of the change:\n\n{text}\n\nLet me know if you need more."
    return text


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


# ---------------------------------------------------------------------------------------------
# Requests as the tests see them


class RecordedRequest(dict[str, Any]):
    """One chat request received: the JSON body (``req["messages"]``) plus ``.headers``
    (lower-case names), ``.path`` and ``.method``. ``req["headers"]``, ``req["body"]`` and
    ``req["path"]`` work too, since no chat request body has those keys."""

    def __init__(self, body: dict[str, Any], headers: dict[str, str], path: str,
                 method: str) -> None:
        super().__init__(body)
        self.headers = headers
        self.path = path
        self.method = method

    @property
    def body(self) -> dict[str, Any]:
        return dict(self)

    def __missing__(self, key: str) -> Any:
        extras = {"headers": self.headers, "body": self.body, "path": self.path,
                  "method": self.method}
        if key in extras:
            return extras[key]
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return super().get(key)
        try:
            return self.__missing__(key)
        except KeyError:
            return default


def normalize_fault(entry: FaultEntry) -> dict[str, Any]:
    """A fault entry as a dict with a ``kind`` (and ``status`` for status faults)."""
    if isinstance(entry, bool):
        raise ValueError(f"not a fault: {entry!r}")
    if isinstance(entry, int):
        return {"kind": "status", "status": entry}
    if isinstance(entry, str):
        return {"kind": "status", "status": int(entry)} if entry.isdigit() else {"kind": entry}
    fault = dict(entry)
    kind = str(fault.get("kind", "status"))
    if kind.isdigit():
        fault["status"] = int(kind)
        kind = "status"
    fault["kind"] = kind
    if kind == "status" and not isinstance(fault.get("status"), int):
        raise ValueError(f"status fault without an integer status: {entry!r}")
    if kind not in _FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; use one of {', '.join(_FAULT_KINDS)}")
    return fault


# ---------------------------------------------------------------------------------------------
# The server


class FakeModelServer:
    """See the module docstring. Attributes may be changed while the server runs."""

    def __init__(self, *, latency: float = 0.0, seed: int = 0, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.reviewer: Reviewer = self.default_reviewer
        self.line_offset = 0
        self.hallucinate = False
        self.wrap = "none"
        self.script: list[FaultEntry] = []
        self.fault_rates: dict[str, float] = {}
        self.rng = random.Random(seed)
        self.latency = latency
        self.answer_json_mode_400 = False
        self.honour_max_tokens = False
        self.api_key: str | None = None
        self.stream_chunk_delay = 0.0
        self.reported_prompt_tokens: int | None = None
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.errors: list[str] = []
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd = _HTTPServer((host, port), _Handler, self)
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}/v1"
        self._thread: threading.Thread | None = None

    # Life cycle ------------------------------------------------------------------------------

    def start(self) -> FakeModelServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="fake-model-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop every open connection; returns within a fraction of a second."""
        self._stopping.set()  # wakes handlers sleeping for latency or "slow"
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections block a handler thread
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._httpd.server_close()

    def __enter__(self) -> FakeModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Programmable behaviour --------------------------------------------------------------------

    def default_reviewer(self, body: dict[str, Any]) -> str:
        if is_verify_request(body):
            return verify_answer(body)
        if is_pr_agent_request(body):  # before "explain": PR-Agent's prompt has the word too
            return pr_agent_answer(body, line_offset=self.line_offset)
        if is_explain_request(body):
            return explain_answer(body)
        findings = rule_findings(body, line_offset=self.line_offset, hallucinate=self.hallucinate)
        return wrap_answer(json.dumps({"findings": findings}), self.wrap)

    def next_fault(self) -> dict[str, Any] | None:
        """The scripted fault for this request, else a random one from ``fault_rates``."""
        with self._lock:
            if self.script:
                return normalize_fault(self.script.pop(0))
            roll = self.rng.random()
            threshold = 0.0
            for kind, rate in self.fault_rates.items():
                threshold += rate
                if roll < threshold:
                    return normalize_fault(kind)
        return None

    # Bookkeeping used by the handler -------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _track(self, conn: socket.socket, open_: bool) -> None:
        with self._lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # benchmarks open many connections at once

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 owner: FakeModelServer) -> None:
        self.owner = owner
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)):
            return  # the client went away (timeout, test over): nothing to report
        self.owner.errors.append(f"{type(error).__name__}: {error}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real endpoint; the SDK pools connections
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stalls
    server: _HTTPServer
    _answer_at: float | None = None  # when the chat request being answered may be answered

    @property
    def owner(self) -> FakeModelServer:
        return self.server.owner

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read outcomes, not access logs

    # Routing ---------------------------------------------------------------------------------

    def do_GET(self) -> None:
        route = self.path.rstrip("/")
        for prefix in ("/v1/fine_tuning/jobs/", "/fine_tuning/jobs/"):
            if route.startswith(prefix):
                job = self.owner.jobs.get(route[len(prefix):])
                if job is None:
                    self._send_error(404, message=f"No such fine-tuning job: {route[len(prefix):]}")
                else:
                    self._send_json(200, job)
                return
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            data = [{"id": DEFAULT_MODEL_ID, "object": "model", "created": 0, "owned_by": "fake"}]
            self._send_json(200, {"object": "list", "data": data})
        else:
            self._send_error(404, message=f"Unknown path {self.path}")

    def do_POST(self) -> None:
        raw = self._read_body()
        route = self.path.rstrip("/")
        if route in ("/v1/files", "/files"):
            self._upload(raw)
            return
        if route in ("/v1/fine_tuning/jobs", "/fine_tuning/jobs"):
            self._create_job(raw)
            return
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_error(404, message=f"Unknown path {self.path}")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.owner._record(RecordedRequest(body if isinstance(body, dict) else {"_raw": raw.decode(
            "utf-8", "replace")}, headers, self.path, "POST"))
        if not isinstance(body, dict):
            self._send_error(400, message="We could not parse the JSON body of your request.")
            return
        self.owner._enter()
        try:
            self._chat(body)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as error:  # a bug in a test's reviewer: visible, not a hang
            self.owner.errors.append(f"{type(error).__name__}: {error}")
            self._send_error(500, message=f"fake server error: {type(error).__name__}: {error}")
        finally:
            self.owner._leave()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # Files and fine-tuning jobs ----------------------------------------------------------------

    def _upload(self, raw: bytes) -> None:
        from email.parser import BytesParser
        from email.policy import HTTP

        if not self._authorized():
            return
        content_type = self.headers.get("Content-Type", "")
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, Any] = {}
        filename = "upload.jsonl"
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename():
                filename = str(part.get_filename())
            fields[str(name)] = payload
        if "file" not in fields:
            self._send_error(400, message="No file in the upload.", param="file")
            return
        with self.owner._lock:
            file_id = f"file-fake{len(self.owner.files) + 1:04d}"
            purpose = fields.get("purpose", b"").decode("utf-8", "replace")
            self.owner.files[file_id] = {"filename": filename, "purpose": purpose,
                                         "content": fields["file"]}
        self._send_json(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]),
                              "created_at": int(time.time()), "filename": filename,
                              "purpose": purpose, "status": "processed"})

    def _create_job(self, raw: bytes) -> None:
        if not self._authorized():
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict) or not body.get("model") or not body.get("training_file"):
            self._send_error(400, message="model and training_file are required.")
            return
        if body["training_file"] not in self.owner.files:
            self._send_error(400, message=f"invalid training_file: {body['training_file']}",
                             param="training_file")
            return
        with self.owner._lock:
            job_id = f"ftjob-fake{len(self.owner.jobs) + 1:04d}"
            job = {"id": job_id, "object": "fine_tuning.job", "created_at": int(time.time()),
                   "error": None, "fine_tuned_model": None, "finished_at": None,
                   "hyperparameters": {"n_epochs": "auto", "batch_size": "auto",
                                       "learning_rate_multiplier": "auto"},
                   "model": body["model"], "organization_id": "org-fake", "result_files": [],
                   "seed": 0, "status": "queued", "trained_tokens": None,
                   "training_file": body["training_file"],
                   "validation_file": body.get("validation_file"),
                   "suffix": body.get("suffix")}
            self.owner.jobs[job_id] = job
        self._send_json(200, job)

    # Chat completions ------------------------------------------------------------------------

    def _chat(self, body: dict[str, Any]) -> None:
        owner = self.owner
        self._answer_at = time.monotonic() + owner.latency
        if not self._authorized():
            return
        fault = owner.next_fault()
        if fault is not None:
            self._wait_for_latency()  # a fault acts once the latency has passed, as it did
            if self._apply_fault(fault, body):
                return
        if owner.answer_json_mode_400 and body.get("response_format") is not None:
            self._send_error(400, message="'response_format' is not supported by this server",
                             param="response_format")
            return
        content = owner.reviewer(body)
        if fault is not None:
            content = self._faulty_content(fault, content)
        self._answer(body, content)

    def send_response(self, code: int, message: str | None = None) -> None:
        self._wait_for_latency()
        super().send_response(code, message)

    def _wait_for_latency(self) -> None:
        """Sleep until ``latency`` after the request arrived: the fake model's own work (the
        reviewer) happens within its latency, as a real model's does, instead of adding to it."""
        answer_at, self._answer_at = self._answer_at, None
        if answer_at is not None:
            self.owner._sleep(answer_at - time.monotonic())

    def _authorized(self) -> bool:
        expected = self.owner.api_key
        if expected is None or self._bearer() == expected:
            return True
        self._send_error(401)
        return False

    def _bearer(self) -> str:
        value = self.headers.get("Authorization", "")
        return value[7:] if value.lower().startswith("bearer ") else value

    def _apply_fault(self, fault: dict[str, Any], body: dict[str, Any]) -> bool:
        """Act on a fault that replaces the answer; False when the answer is still sent."""
        kind = fault["kind"]
        if kind == "status":
            self._send_error(int(fault["status"]), fault=fault, model=str(body.get("model")))
            return True
        if kind == "slow":
            self.owner._sleep(float(fault.get("seconds", 1.0)))
            return False
        if kind == "reset":
            self._reset()
            return True
        if kind == "garbage":
            page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
            self._send_raw(200, page, "text/html")
            return True
        if kind == "stream_cut":
            self._stream_cut(body, fault)
            return True
        return False

    @staticmethod
    def _faulty_content(fault: dict[str, Any], content: str) -> str:
        kind = fault["kind"]
        if kind == "invalid_json":
            return "I looked at the change and it seems fine to me, nothing to report."
        if kind == "huge":
            size = int(fault.get("size", 1_000_000))
            return content + "\n" + ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
        if kind == "fenced":
            return wrap_answer(content, "fence")
        return content

    # Answers ---------------------------------------------------------------------------------

    def _answer(self, body: dict[str, Any], content: str) -> None:
        finish = "stop"
        if self.owner.honour_max_tokens:
            content, finish = _within_token_limit(body, content)
        if body.get("stream"):
            options = body.get("stream_options") or {}
            self._stream(body, content, include_usage=bool(options.get("include_usage")),
                         finish=finish)
        else:
            completion = _completion(body, content, finish)
            self._report_prompt_tokens(completion["usage"])
            self._send_json(200, completion)

    def _report_prompt_tokens(self, usage: dict[str, int] | None) -> None:
        reported = self.owner.reported_prompt_tokens
        if usage is not None and reported is not None:
            usage["prompt_tokens"] = reported
            usage["total_tokens"] = reported + usage["completion_tokens"]

    def _stream(self, body: dict[str, Any], content: str, *, include_usage: bool,
                finish: str = "stop") -> None:
        self._start_sse()
        for chunk in _stream_chunks(body, content, include_usage=include_usage, finish=finish):
            self._report_prompt_tokens(chunk.get("usage"))
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
            self.owner._sleep(self.owner.stream_chunk_delay)
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")

    def _stream_cut(self, body: dict[str, Any], fault: dict[str, Any]) -> None:
        content = self.owner.reviewer(body)
        if not body.get("stream"):
            data = json.dumps(_completion(body, content)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self._reset()
            return
        self._start_sse()
        pieces = [c for c in _stream_chunks(body, content, include_usage=False)
                  if c["choices"] and c["choices"][0]["finish_reason"] is None]
        for chunk in pieces[: 1 + int(fault.get("after", 2))]:  # the role chunk, then content
            self._write_chunk(f"data: {json.dumps(chunk)}\n\n".encode())
        if fault.get("abrupt"):
            self._reset()
        else:
            self._write_chunk(b"")

    # Low-level writing -----------------------------------------------------------------------

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict[str, Any],
                   headers: Sequence[tuple[str, str]] = ()) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(self, status: int, data: bytes, content_type: str,
                  headers: Sequence[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _send_error(self, status: int, *, fault: dict[str, Any] | None = None,
                    message: str | None = None, param: str | None = None,
                    model: str = DEFAULT_MODEL_ID) -> None:
        fault = fault or {}
        kind, code, template = _STATUS_TEXT.get(status, ("server_error", None, f"Error {status}."))
        text = fault.get("message") or message or template.format(token=self._bearer(), model=model)
        error = {"message": text, "type": fault.get("type", kind), "param": param,
                 "code": fault.get("code", code)}
        headers = []
        if "retry_after" in fault:
            headers.append(("Retry-After", str(fault["retry_after"])))
        if "retry_after_ms" in fault:
            headers.append(("retry-after-ms", str(fault["retry_after_ms"])))
        self._send_json(status, {"error": error}, headers)

    def _reset(self) -> None:
        """Close the connection at once (RST), without (the rest of) a response."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _within_token_limit(body: dict[str, Any], content: str) -> tuple[str, str]:
    """As a real server does: an answer over ``max_tokens``/``max_completion_tokens`` is cut
    there and finishes with "length"."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and fake_token_count(content) > limit:
        return content[:limit * 4], "length"
    return content, "stop"


def _completion(body: dict[str, Any], content: str, finish: str = "stop") -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or DEFAULT_MODEL_ID),
        "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                     "message": {"role": "assistant", "content": content, "refusal": None}}],
        "usage": _usage(body, content),
    }


def _usage(body: dict[str, Any], content: str) -> dict[str, int]:
    prompt = sum(fake_token_count(_content(m)) for m in _messages(body))
    completion = fake_token_count(content)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _stream_chunks(body: dict[str, Any], content: str, *, include_usage: bool,
                   finish: str = "stop") -> Iterator[dict[str, Any]]:
    """The SSE chunks of a streamed answer: role, content pieces, finish, usage."""
    base = {"id": f"chatcmpl-fake-{time.monotonic_ns()}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": str(body.get("model") or DEFAULT_MODEL_ID)}
    usage_field: dict[str, Any] = {"usage": None} if include_usage else {}

    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                     "logprobs": None}], **usage_field}

    yield chunk({"role": "assistant", "content": ""}, None)
    piece_size = max(16, len(content) // 64)  # a huge answer still streams in few chunks
    for start in range(0, len(content), piece_size):
        yield chunk({"content": content[start:start + piece_size]}, None)
    yield chunk({}, finish)
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(body, content)}


# ---------------------------------------------------------------------------------------------
# Standalone


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.fake_model_server",
                                     description="Serve the fake Chat Completions model.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per chat request")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fault-rate", action="append", default=[], metavar="KIND=RATE",
                        help='random faults, e.g. 429=0.1 or slow=0.05 (repeatable)')
    parser.add_argument("--wrap", choices=("none", "fence", "prose"), default="none")
    parser.add_argument("--line-offset", type=int, default=0)
    args = parser.parse_args(argv)

    server = FakeModelServer(latency=args.latency, seed=args.seed, host=args.host, port=args.port)
    server.wrap = args.wrap
    server.line_offset = args.line_offset
    for item in args.fault_rate:
        kind, _, rate = item.partition("=")
        normalize_fault(kind)  # fail now on an unknown kind
        server.fault_rates[kind] = float(rate)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with server:
        print(server.base_url, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
