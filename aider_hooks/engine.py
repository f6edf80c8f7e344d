"""One review run: diff -> hunks -> (built-in checks) -> redact -> prompts -> cache/model -> findings.

The engine never prints and never exits; it returns a ``ReviewResult`` and leaves presentation
and exit codes to the CLI, which passes callbacks for progress and for streamed answers.
Nothing here depends on which task runs: a ``Task`` (``tasks/``) carries every difference. Model failures never escape as exceptions: a hunk the model could not
review is listed in ``report.failed`` and an unreachable model sets ``report.model_unavailable``.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from aider_hooks.errors import InvalidAnswer, ModelError, ModelUnavailable
from aider_hooks.finding import Finding, deduplicate
from aider_hooks.hunk import Hunk
from aider_hooks.report import FailedHunk, Report

if TYPE_CHECKING:
    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.model.backend import ChatBackend, Completion
    from aider_hooks.model.cache import ResponseCache
    from aider_hooks.settings import Settings
    from aider_hooks.tasks.base import Task, TaskAnswer
    from aider_hooks.tasks.prompts import PromptRequest

NO_MODEL_NOTICE = (
    "no model configured: ran the built-in checks only. For AI review set OPENAI_API_KEY "
    "(OpenAI), or OPENAI_BASE_URL for a local server (Ollama: http://localhost:11434/v1, "
    "vLLM, llama.cpp)."
)

SECRET_PATH_REASON = "not sent to the model: the file name looks like it contains a secret"

ProgressCallback = Callable[[int, int], None]


class AnswerListener(Protocol):
    """Where a streaming task's answers go as they arrive (the CLI prints them)."""

    def text(self, request: PromptRequest, piece: str) -> None:
        """Part of the answer to ``request``; a cached answer comes as one piece."""

    def done(self, request: PromptRequest) -> None:
        """The answer to ``request`` is complete (or failed after some text)."""


@dataclass
class ReviewResult:
    report: Report
    hunks: list[Hunk]  # the hunks that were up for review (after filters), original text
    requests: list[PromptRequest] = field(default_factory=list)  # what was (or would be) sent


@dataclass
class _Outcome:
    """What became of one prompt request."""

    findings: list[Finding] = field(default_factory=list)
    dropped: int = 0
    cached: bool = False
    failed_reason: str | None = None
    unavailable: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    text: str = ""


def review_diff(
    diff: LoadedDiff,
    settings: Settings,
    *,
    paths: Sequence[str] = (),
    task: Task | None = None,
    listener: AnswerListener | None = None,
    progress: ProgressCallback | None = None,
) -> ReviewResult:
    """Run ``task`` (default: review) on ``diff`` and return everything the reporters need."""
    from aider_hooks.diff.parse import parse_diff

    if task is None:
        from aider_hooks.tasks import get_task

        task = get_task("review")

    started = time.monotonic()
    hunk_set = parse_diff(diff.text, settings=settings, read_new_file=diff.read_new_file,
                          paths=paths)
    report = Report(task=task.name)
    stats = report.stats
    hunks = list(hunk_set.hunks)
    stats.files = len({h.path for h in hunks})
    stats.hunks = len(hunks)
    stats.skipped = hunk_set.skipped_hunks
    if paths and not hunk_set.files:
        from aider_hooks.reporters import printable

        shown = ", ".join(printable(p) for p in list(paths)[:3])
        more = f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        report.notices.append(f"nothing to review: no change in {shown}{more}")
    unmerged = _unmerged_paths(diff.text)
    if unmerged:
        # git lists them as "* Unmerged path X" with no diff: say so rather than pass in silence.
        more = f" and {len(unmerged) - 3} more" if len(unmerged) > 3 else ""
        shown = ", ".join(unmerged[:3]) + more
        report.notices.append(f"not reviewed: unresolved merge conflict in {shown}; resolve it "
                              "and `git add` the file to have it reviewed")

    findings: list[Finding] = []
    # --dry-run prints the prompts and nothing else: findings it would discard are not worth
    # the time (compiling every changed Python file dominates a large dry run).
    if task.runs_checks and settings.builtin_checks and not settings.dry_run:
        from aider_hooks.checks.builtin import run_builtin_checks

        findings.extend(run_builtin_checks(hunk_set, read_new_file=diff.read_new_file,
                                           settings=settings))

    result = ReviewResult(report=report, hunks=hunks)
    use_model = not settings.offline and (settings.model_configured or settings.dry_run)
    whole_files_to_model = not diff.whole_files or settings.review_all_files
    if diff.whole_files and hunks:
        report.notices.append(_whole_files_notice(stats.files, use_model and whole_files_to_model,
                                                  settings))
    if hunks and use_model and whole_files_to_model:
        result.requests = _plan_requests(hunks, settings, task, report)
        if not settings.dry_run:
            report.model = settings.model
            findings.extend(_run_requests(result.requests, settings, task, report,
                                          listener=listener, progress=progress))
    elif (hunks and not settings.offline and not settings.model_configured
          and whole_files_to_model):
        report.notices.append(NO_MODEL_NOTICE)

    report.findings = deduplicate(findings)
    stats.elapsed_s = time.monotonic() - started
    return result


def _whole_files_notice(files: int, with_model: bool, settings: Settings) -> str:
    """The one line that says what a whole-files run (nothing staged, files named) did."""
    what = f"{files} whole file(s) (nothing staged)"
    if with_model:
        return f"reviewed {what} with the built-in checks and the model (review-all-files)"
    if not settings.review_all_files and settings.model_configured and not settings.offline:
        return (f"checked {what} with the built-in checks only; set review-all-files = true "
                "to have the model review them too (one request per file)")
    return f"checked {what} with the built-in checks only"


def _plan_requests(hunks: list[Hunk], settings: Settings, task: Task,
                   report: Report) -> list[PromptRequest]:
    """Redact, then pack hunks into prompt requests. Pure apart from the redaction count."""
    from aider_hooks.tasks.prompts import build_requests

    if settings.redact:
        from aider_hooks.redact import find_secrets, redact_hunk

        redacted: list[Hunk] = []
        for hunk in hunks:
            # A file *name* that holds a secret cannot be redacted without losing the path the
            # model's findings are anchored by, so such a hunk is not sent at all.
            if any(find_secrets(p, path=p) for p in (hunk.path, hunk.old_path) if p):
                report.stats.failed += 1
                report.stats.redacted += 1
                report.failed.append(FailedHunk(hunk.path, hunk.first_line, hunk.last_line,
                                                SECRET_PATH_REASON))
                continue
            clean, count = redact_hunk(hunk)
            report.stats.redacted += count
            redacted.append(clean)
        hunks = redacted
    return build_requests(task, hunks, batch_tokens=settings.batch_tokens)


def _run_requests(
    requests: list[PromptRequest],
    settings: Settings,
    task: Task,
    report: Report,
    *,
    listener: AnswerListener | None,
    progress: ProgressCallback | None,
) -> list[Finding]:
    """Answer every request from the cache or the model; record failures, never raise."""
    runner = _RequestRunner(settings, task, listener=listener)
    try:
        outcomes = runner.run_all(requests, progress)
    finally:
        runner.close()
    stats = report.stats
    stats.requests = runner.requests_made()
    report.notices.extend(runner.warnings)
    findings: list[Finding] = []
    for request, outcome in zip(requests, outcomes):
        stats.prompt_tokens += outcome.prompt_tokens
        stats.completion_tokens += outcome.completion_tokens
        stats.dropped_unanchored += outcome.dropped
        if outcome.failed_reason is not None:
            stats.failed += len(request.hunks)
            report.failed.extend(
                FailedHunk(h.path, h.first_line, h.last_line, outcome.failed_reason)
                for h in request.hunks
            )
            continue
        stats.reviewed += len(request.hunks)
        if outcome.cached:
            stats.cached += len(request.hunks)
        findings.extend(outcome.findings)
    if any(o.unavailable for o in outcomes):
        report.model_unavailable = True
        report.notices.append(runner.unavailable_message or "the model could not be reached")
    return findings


class _RequestRunner:
    """Runs prompt requests through the cache and a shared model backend, concurrently."""

    def __init__(self, settings: Settings, task: Task, *,
                 listener: AnswerListener | None) -> None:
        self.settings = settings
        self.task = task
        # Streamed text must come out in order and unmixed: such runs go one request at a time.
        self.listener = listener if task.streams else None
        self.unavailable_message: str | None = None
        self._client: ChatBackend | None = None
        self._client_lock = threading.Lock()
        self.warnings: list[str] = []
        self._cache: ResponseCache | None = (
            _open_cache(settings, self.warnings.append) if settings.cache else None
        )

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()

    def requests_made(self) -> int:
        return self._client.requests if self._client is not None else 0

    def run_all(self, requests: list[PromptRequest],
                progress: ProgressCallback | None) -> list[_Outcome]:
        total = len(requests)
        done = 0
        if self.listener is not None:
            outcomes = []
            for request in requests:
                outcomes.append(self._answer(request))
                done += 1
                if progress:
                    progress(done, total)
            return outcomes
        # Cached answers first, on this thread: a fully cached run starts no thread pool and
        # never builds a client (nor imports the model SDK).
        keys = [self._key(request) for request in requests]
        results = [self._from_cache(request, key) for request, key in zip(requests, keys)]
        missing = [i for i, outcome in enumerate(results) if outcome is None]
        done = total - len(missing)
        if progress and done:
            progress(done, total)
        if missing:
            from concurrent.futures import ThreadPoolExecutor

            workers = max(1, min(self.settings.concurrency, len(missing)))
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aider-review")
            try:
                futures = [pool.submit(self._ask, requests[i], keys[i]) for i in missing]
                for index, future in zip(missing, futures):
                    results[index] = future.result()
                    done += 1
                    if progress:
                        progress(done, total)
            except BaseException:
                # Ctrl-C: leave at once. `with ThreadPoolExecutor` would wait here for every
                # request in flight, and start the queued ones, before letting go.
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
        return [outcome for outcome in results if outcome is not None]

    # One request -----------------------------------------------------------------------

    def _answer(self, request: PromptRequest) -> _Outcome:
        key = self._key(request)
        outcome = self._from_cache(request, key)
        return outcome if outcome is not None else self._ask(request, key)

    def _from_cache(self, request: PromptRequest, key: str | None) -> _Outcome | None:
        """The cached answer's outcome, or None when there is none or it is unusable."""
        cached = self._cache.get(key) if self._cache is not None and key else None
        if cached is None:
            return None
        outcome = self._interpret(request, cached.text)
        if isinstance(outcome, str):
            return None  # unusable (e.g. written by an older prompt format): ask again
        outcome.cached = True
        if self.listener is not None:
            self.listener.text(request, cached.text)
            self.listener.done(request)
        return outcome

    def _ask(self, request: PromptRequest, key: str | None) -> _Outcome:
        try:
            return self._ask_model(request, key)
        except ModelUnavailable as err:
            self.unavailable_message = str(err)
            # The real reason (unreachable, refused key, deadline...), not one word for all.
            return _Outcome(failed_reason=_one_line(str(err)), unavailable=True)
        except ModelError as err:
            return _Outcome(failed_reason=_one_line(str(err)))

    def _ask_model(self, request: PromptRequest, key: str | None) -> _Outcome:
        client = self._get_client()
        completion = self._send(client, request)
        tokens = (completion.prompt_tokens, completion.completion_tokens)
        outcome = self._interpret(request, completion.text)
        if isinstance(outcome, str):
            # One repair request, then the hunk is reported as failed (docs/answer-formats.md).
            from aider_hooks.tasks.prompts import repair_messages

            repaired = client.complete(repair_messages(request, completion.text, outcome))
            tokens = (tokens[0] + repaired.prompt_tokens, tokens[1] + repaired.completion_tokens)
            completion = repaired
            outcome = self._interpret(request, repaired.text)
            if isinstance(outcome, str):
                return _Outcome(failed_reason=f"invalid answer from the model: {outcome}",
                                prompt_tokens=tokens[0], completion_tokens=tokens[1])
        outcome.prompt_tokens, outcome.completion_tokens = tokens
        # An explanation cut off at max-tokens is shown, but not kept as if it were whole.
        if self._cache is not None and key and not completion.truncated:
            from aider_hooks.model.cache import CachedAnswer

            self._cache.put(key, CachedAnswer(text=completion.text, prompt_tokens=tokens[0],
                                              completion_tokens=tokens[1],
                                              created_at=time.time()))
        return outcome

    def _send(self, client: ChatBackend, request: PromptRequest) -> Completion:
        messages = list(request.messages)
        listener = self.listener
        if listener is None:
            return client.complete(messages)
        started = False

        def show(text: str) -> None:
            nonlocal started
            started = True
            listener.text(request, text)

        try:
            return client.stream(messages, show)
        finally:
            if started:
                listener.done(request)

    def _interpret(self, request: PromptRequest, text: str) -> _Outcome | str:
        """What an answer became, or, when it is not usable, the one-line reason why."""
        try:
            answer: TaskAnswer = request.task.read_answer(text, request.hunks)
        except InvalidAnswer as err:
            return _one_line(str(err))
        return _Outcome(findings=answer.findings, dropped=answer.dropped, text=answer.text)

    def _key(self, request: PromptRequest) -> str | None:
        if self._cache is None:
            return None
        from aider_hooks.model.cache import cache_key
        from aider_hooks.tasks.prompts import PROMPT_VERSION

        return cache_key(self.settings.model, self.task.name, PROMPT_VERSION,
                         [dict(m) for m in request.messages], base_url=self.settings.base_url)

    def _get_client(self) -> ChatBackend:
        with self._client_lock:
            if self._client is None:
                from aider_hooks.model.backend import Deadline, open_backend

                self._client = open_backend(self.settings, Deadline(self.settings.deadline))
            return self._client


def _open_cache(settings: Settings, on_warning: Callable[[str], None]) -> ResponseCache:
    from pathlib import Path

    from aider_hooks.model.cache import ResponseCache, default_cache_path

    path = Path(settings.cache_path) if settings.cache_path else default_cache_path()
    return ResponseCache(path, on_warning=on_warning)


def _unmerged_paths(diff_text: str) -> list[str]:
    from aider_hooks.reporters import printable

    prefix = "* Unmerged path "
    return [printable(line[len(prefix):]).replace("\n", "\\n")
            for line in diff_text.splitlines() if line.startswith(prefix)]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
