"""One review run: diff -> hunks -> (built-in checks) -> redact -> prompts -> cache/model -> findings.

The engine never prints and never exits; it returns a ``ReviewResult`` and leaves presentation
and exit codes to the CLI, which passes callbacks for progress and for streamed answers.
Nothing here depends on which task runs: a ``Task`` (``tasks/``) carries every difference. Model failures never escape as exceptions: a hunk the model could not
review is listed in ``report.failed`` and an unreachable model sets ``report.model_unavailable``.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from aider_hooks.errors import InvalidAnswer, ModelError, ModelUnavailable
from aider_hooks.finding import Finding, deduplicate
from aider_hooks.hunk import Hunk
from aider_hooks.report import FailedHunk, LinkUsage, Report, Stats

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from aider_hooks.checks.registry import CheckRun
    from aider_hooks.checks.worker import EarlyChecks
    from aider_hooks.diff.parse import ChangedFile, DiffParse, HunkSet
    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.knowledge.session import Knowledge
    from aider_hooks.model.backend import ChatBackend, Completion, Deadline
    from aider_hooks.model.cache import ResponseCache
    from aider_hooks.model.child_backend import SendingChild
    from aider_hooks.model.routing import Route
    from aider_hooks.results import ResultMemo
    from aider_hooks.settings import ModelLink, Settings
    from aider_hooks.tasks.base import Task, TaskAnswer
    from aider_hooks.tasks.prompts import PromptRequest

NO_MODEL_NOTICE = (
    "no model configured: ran the built-in checks only. For AI review set OPENAI_API_KEY "
    "(OpenAI), or OPENAI_BASE_URL for a local server (Ollama: http://localhost:11434/v1, "
    "vLLM, llama.cpp)."
)

# Where the bot says why its AI review was skipped: what to set, in a CI job's terms.
NO_MODEL_SKIP = ("no model is configured: set the OPENAI_API_KEY secret (or a base-url for an "
                 "OpenAI-compatible server) to have the change reviewed by a model")

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
    """What ``review_diff`` gives back: the report, and the hunks and requests behind it."""
    report: Report
    hunks: list[Hunk]  # the hunks that were up for review (after filters), original text
    # What was (or, with --dry-run, would be) sent. After a run that asked the model the
    # messages are dropped (``messages`` is empty): thousands of prompts are not kept for
    # nothing; the hunks and the estimate stay.
    requests: list[PromptRequest] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)  # the links each request goes to
    over_budget: list[int] = field(default_factory=list)  # requests the run budget cut
    # Findings the repository's knowledge kept out of the report, each with the reason
    # (knowledge/session.py: suppressed, baseline, marked wrong, verification, thresholds).
    not_reported: list[tuple[Finding, str]] = field(default_factory=list)


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
    link: str | None = None  # the chain link that answered


def review_diff(
    diff: LoadedDiff,
    settings: Settings,
    *,
    paths: Sequence[str] = (),
    task: Task | None = None,
    listener: AnswerListener | None = None,
    progress: ProgressCallback | None = None,
    knowledge_rev: str | None = None,
    sending_child: SendingChild | None = None,
) -> ReviewResult:
    """Run ``task`` (default: review) on ``diff`` and return everything the reporters need.

    The repository's instructions, baseline and feedback (docs/teaching.md) are read from the
    work tree, or, with ``knowledge_rev``, from that commit only (the pull-request bot passes
    the base commit, so a pull request cannot rewrite what it is reviewed with).
    ``sending_child``: the caller's, started earlier (``child_backend.start_for``); without
    one, a large review starts its own here.
    """
    from aider_hooks.model.child_backend import start_for

    if task is None:
        from aider_hooks.tasks import get_task

        task = get_task("review")
    own_child = None
    if sending_child is None:
        own_child = sending_child = start_for(diff, settings, streams=task.streams)
    try:
        return _review(diff, settings, paths=paths, task=task, listener=listener,
                       progress=progress, knowledge_rev=knowledge_rev,
                       sending_child=sending_child)
    finally:
        if own_child is not None:
            own_child.close()


def _review(diff: LoadedDiff, settings: Settings, *, paths: Sequence[str], task: Task,
            listener: AnswerListener | None, progress: ProgressCallback | None,
            knowledge_rev: str | None, sending_child: SendingChild | None) -> ReviewResult:
    from aider_hooks.diff.parse import DiffParse

    started = time.monotonic()
    # Check results and clean texts from earlier runs (aider_hooks/results.py).
    memo = _open_memo(settings)
    read_new_file = _ReadOnce(diff.read_new_file)
    parse = DiffParse(diff.text, settings=settings, read_new_file=read_new_file, paths=paths)
    if not diff.from_git or diff.whole_files:
        # Parsed whole before anything is sent: a diff from a file or stdin that turns out
        # malformed half-way fails before it cost a request. git's own diffs are parsed as
        # their hunks are planned, so the first requests leave while the rest is parsed.
        parse.finish()
    report = Report(task=task.name)
    stats = report.stats
    hunks = parse.hunks  # grows as the diff is parsed; complete once _parsed() has run
    if paths and not parse.has_files():
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
    # the time (compiling every changed Python file dominates a large dry run). The checks
    # run while the first requests are with the model when there are any (else here, at
    # the end); their notices keep this place among the others.
    checks = (_Checks(read_new_file, settings, memo, diff.changed_file_count())
              if task.runs_checks and not settings.dry_run else None)
    checks_notices_at = len(report.notices)

    result = ReviewResult(report=report, hunks=hunks)
    any_hunks = parse.has_hunks()
    knowledge = _open_knowledge(diff, settings, knowledge_rev, report) if any_hunks else None
    use_model = not settings.offline and (settings.model_configured or settings.dry_run)
    whole_files_to_model = not diff.whole_files or settings.review_all_files
    if diff.whole_files and any_hunks:
        report.notices.append(_whole_files_notice(len({h.path for h in hunks}),
                                                  use_model and whole_files_to_model, settings))
    if any_hunks and use_model and whole_files_to_model:
        planned = _plan_requests(_parsed_hunks(parse, stats, checks), settings, task, report,
                                 read_new_file, knowledge, memo)
        if settings.dry_run:
            from aider_hooks.model.routing import within_budget

            result.requests, result.routes = _unzip(planned)
            _, result.over_budget = within_budget(result.requests, result.routes,
                                                  range(len(result.requests)), settings)
        else:
            from aider_hooks.model.routing import task_route

            report.model = task_route(settings, task.name).label  # the model asked first
            findings.extend(_run_requests(result, planned, settings, task, report,
                                          listener=listener, progress=progress,
                                          checks=checks, sending_child=sending_child))
    elif (any_hunks and not settings.offline and not settings.model_configured
          and whole_files_to_model):
        report.notices.append(NO_MODEL_NOTICE)
        report.ai_review_skipped = NO_MODEL_SKIP
    elif any_hunks and settings.offline:
        report.ai_review_skipped = "the run was --offline: built-in checks only"
    _parsed(parse, stats, checks)  # when nothing was planned, or planning stopped early

    if checks is not None:
        checked = checks.result()
        findings[:0] = checked.findings
        report.notices[checks_notices_at:checks_notices_at] = checked.notices
    if memo is not None:  # after the checks, which write to it from their thread
        memo.close()
        report.notices.extend(w for w in memo.warnings if w not in report.notices)
    report.findings = deduplicate(findings)
    if knowledge is not None and not settings.dry_run:
        report.findings = _screen(knowledge, read_new_file, hunks, settings, report,
                                  verify=use_model and bool(result.requests))
        result.not_reported = knowledge.not_reported
    stats.elapsed_s = time.monotonic() - started
    if task.output == "report" and not settings.dry_run and diff.root is not None:
        from aider_hooks.knowledge.feedback import record_last_findings

        record_last_findings(diff.root, report.findings, report.notices.append)
    return result


def _parsed_hunks(parse: DiffParse, stats: Stats, checks: _Checks | None) -> Iterator[Hunk]:
    """The hunks to review as the diff is parsed; once all are, counted and handed to the
    checks."""
    handed = 0
    for hunk in parse.iter_hunks():
        if checks is not None and len(parse.files) > handed:
            handed = len(parse.files)
            checks.more(parse.files)  # complete files, for the checks' child to start on
        yield hunk
    _parsed(parse, stats, checks)


def _parsed(parse: DiffParse, stats: Stats, checks: _Checks | None) -> None:
    """Parse the rest of the diff (if any), count it, and hand it to the checks."""
    hunk_set = parse.finish()
    stats.files = len({h.path for h in hunk_set.hunks})
    stats.hunks = len(hunk_set.hunks)
    stats.skipped = hunk_set.skipped_hunks
    if checks is not None:
        checks.parsed(hunk_set)


def _whole_files_notice(files: int, with_model: bool, settings: Settings) -> str:
    """The one line that says what a whole-files run (nothing staged, files named) did."""
    what = f"{files} whole file(s) (nothing staged)"
    if with_model:
        return f"reviewed {what} with the built-in checks and the model (review-all-files)"
    if not settings.review_all_files and settings.model_configured and not settings.offline:
        return (f"checked {what} with the built-in checks only; set review-all-files = true "
                "to have the model review them too (one request per file)")
    return f"checked {what} with the built-in checks only"


def _open_knowledge(diff: LoadedDiff, settings: Settings, rev: str | None,
                    report: Report) -> Knowledge:
    from aider_hooks.knowledge.session import open_knowledge

    return open_knowledge(diff.root, settings, rev=rev, warn=report.notices.append)


class _Checks:
    """The built-in (and plugin) checks of one run, on a thread of their own once the first
    request is with the model and the whole diff is parsed: compiling thousands of files
    then overlaps the model's latency instead of delaying the first request. Without a
    request in flight they run on the caller's thread when their result is wanted. Every
    method is called on the planner's thread; ``_run`` starts only once the diff is parsed."""

    def __init__(self, read_new_file: Callable[[str], bytes | None], settings: Settings,
                 memo: ResultMemo | None, changed_files: int) -> None:
        self._hunk_set: HunkSet | None = None  # given by parsed(), once the diff is parsed
        self._changed_files = changed_files  # how many the diff names (before any filter)
        self._read = read_new_file
        self._settings = settings
        self._memo = memo  # thread-safe: one locked SQLite connection, puts kept in a dict
        self._thread: threading.Thread | None = None
        self._wanted = False  # start() came before parsed()
        self._outcome: CheckRun | BaseException | None = None
        self._overlapped = False  # True once requests are in flight (start)
        self._early: EarlyChecks | None = None  # the child checking files as they are parsed
        self._parsed_files: list[ChangedFile] = []  # the parser's growing list (more())
        self._handed = 0  # how many of them went to ``_early``

    def more(self, files: list[ChangedFile]) -> None:
        """The files parsed so far (a growing list): handed to the checks' child, if any."""
        self._parsed_files = files
        self._hand_over()

    def _hand_over(self) -> None:
        if self._early is not None and len(self._parsed_files) > self._handed:
            self._early.add(self._parsed_files[self._handed:])
            self._handed = len(self._parsed_files)

    def parsed(self, hunk_set: HunkSet) -> None:
        if self._hunk_set is not None:
            return
        self._hunk_set = hunk_set
        if self._wanted:
            self.start()

    def start(self) -> None:
        """Run the checks on a thread: now, or once the diff is parsed."""
        self._wanted = True
        if self._hunk_set is None:
            self._start_early()
        if self._hunk_set is not None and self._thread is None and self._outcome is None:
            # A daemon: Ctrl-C must not wait for the checks of a run that is being abandoned.
            # With requests in flight, many files' checks are worth a process of their own.
            self._overlapped = True
            self._thread = threading.Thread(target=self._run, name="aider-review-checks",
                                            daemon=True)
            self._thread.start()

    def _start_early(self) -> None:
        """Requests are in flight before the diff is parsed: the checks' child (if the change
        is large enough) starts on the files parsed so far, and on the others as they come."""
        from aider_hooks.checks.registry import early_checks
        from aider_hooks.checks.worker import worker_plan

        plan = worker_plan()
        # A change naming fewer files than the child needs never gets one: no feeder thread,
        # no look-ups made twice for a small hook run.
        if (self._early is None and plan is not None
                and self._changed_files >= plan.min_files):
            self._early = early_checks(self._read, self._settings, self._memo, plan)
            self._hand_over()

    def result(self) -> CheckRun:
        if self._thread is None:
            self._run()
        else:
            self._thread.join()
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            raise outcome  # a bug, not a check's failure: run_checks reports those itself
        assert outcome is not None
        return outcome

    def _run(self) -> None:
        from aider_hooks.checks.registry import run_checks

        assert self._hunk_set is not None, "checks run once the diff is parsed"
        try:
            self._outcome = run_checks(self._hunk_set, read_new_file=self._read,
                                       settings=self._settings, memo=self._memo,
                                       in_worker=self._overlapped, early=self._early)
        except BaseException as err:  # noqa: BLE001 - handed to result(), on the caller's thread
            self._outcome = err


class _ReadOnce:
    """``read_new_file`` once per path for the whole run: the parser (enclosing functions),
    the checks, the file-size limit and the screening all read the same files, and each read
    is a round trip to ``git cat-file``. Kept up to a byte budget, so a huge change does not
    hold every file in memory; past it, files are read again as before. A read that raises
    is not kept: each caller handles the error as it always did."""

    BUDGET = 32 * 1024 * 1024

    def __init__(self, read: Callable[[str], bytes | None]) -> None:
        self._read = read
        self._kept: dict[str, bytes | None] = {}
        self._bytes = 0
        self._lock = threading.Lock()  # the checks read on their own thread (``_Checks``)

    def __call__(self, path: str) -> bytes | None:
        with self._lock:
            try:
                return self._kept[path]
            except KeyError:
                pass
            data = self._read(path)
            size = len(data) if data is not None else 0
            if self._bytes + size <= self.BUDGET:
                self._kept[path] = data
                self._bytes += size
            return data


def _screen(knowledge: Knowledge, read_new_file: Callable[[str], bytes | None],
            hunks: list[Hunk], settings: Settings, report: Report, *,
            verify: bool) -> list[Finding]:
    """The findings to report: suppressions, baseline, feedback, verification, thresholds."""
    from aider_hooks.knowledge.suppress import file_lines_reader

    def diff_lines(path: str) -> dict[int, str]:
        return {n: t for h in hunks if h.path == path for n, t in h.new_side}

    lines_of = file_lines_reader(read_new_file, diff_lines)
    verifier = None
    if verify and settings.verify:
        from aider_hooks.knowledge.verify import Verifier

        verifier = Verifier(settings, lines_of, report)
    return knowledge.screen(report.findings, report, settings, lines_of=lines_of,
                            verify=verifier)


def _plan_requests(hunks: Iterable[Hunk], settings: Settings, task: Task, report: Report,
                   read_new_file: Callable[[str], bytes | None], knowledge: Knowledge | None,
                   memo: ResultMemo | None = None,
                   ) -> Iterator[tuple[PromptRequest, Route]]:
    """Redact, then pack hunks into prompt requests, each with the route of links it goes to
    and its project guidance; each yielded as soon as it is complete, so that it can be sent
    while the rest are built (with a strong model or a run budget, hunks are grouped first).
    Hunks not sent (too large, a secret in the file name) go to ``report.failed`` in hunk
    order when the iteration ends. ``memo`` skips the secret scan of texts an earlier run
    found clean."""
    from aider_hooks.model import routing
    from aider_hooks.tasks.prompts import iter_requests

    not_sent: list[FailedHunk] = []
    sendable = _redacted(_within_file_size(hunks, settings, read_new_file, not_sent),
                         settings, report, not_sent, memo)
    route = routing.task_route(settings, task.name)
    strong = routing.strong_route(settings, route) if task.routes_to_strong_model else None
    by_tier = routing.has_budget(settings)
    groups: list[tuple[Route, Iterable[Hunk]]] = [(route, sendable)]
    if strong is not None or by_tier:
        # Separate groups, so that one request never mixes a strong-model hunk with another,
        # nor (under a budget) hunks of different importance.
        grouped: dict[tuple[int, int], list[Hunk]] = {}
        for hunk in sendable:
            strong_hunk = strong is not None and routing.needs_strong_model(hunk, settings)
            level = routing.tier(hunk, settings) if by_tier else 0
            grouped.setdefault((0 if strong_hunk else 1, level), []).append(hunk)
        groups = [(strong if kind == 0 and strong is not None else route, members)
                  for (kind, _level), members in sorted(grouped.items())]
    guided = False
    for chosen, members in groups:
        budget = routing.batch_budget(settings, chosen)
        for request in iter_requests(task, members, batch_tokens=budget):
            if knowledge is not None:
                (with_guidance,) = knowledge.guide([request])
                guided = guided or with_guidance is not request
                request = with_guidance
            yield request, chosen
    report.stats.failed += len(not_sent)
    report.failed.extend(sorted(not_sent, key=lambda f: f.reason == SECRET_PATH_REASON))
    if knowledge is not None:
        _note_guidance(knowledge, guided, report)


def _note_guidance(knowledge: Knowledge, guided: bool, report: Report) -> None:
    """Count the secrets redacted in the project guidance, and say when it had to be cut."""
    from aider_hooks.knowledge.instructions import MAX_GUIDANCE_TOKENS

    if guided:
        report.stats.redacted += knowledge.guidance.redacted
    if knowledge.guidance.cut_requests:
        report.notices.append(
            f"project guidance is over {MAX_GUIDANCE_TOKENS:,} tokens: it was cut in "
            f"{knowledge.guidance.cut_requests} request(s); shorten the instruction files "
            "(`aider-review config` lists them)")


# Hunks redacted (and looked up among the texts known clean) together; see ``_redacted``.
# The first batch is small, so that the first request leaves after a few files are parsed.
REDACT_BATCH = 256
FIRST_REDACT_BATCH = 16


def _redacted(hunks: Iterable[Hunk], settings: Settings, report: Report,
              not_sent: list[FailedHunk], memo: ResultMemo | None) -> Iterator[Hunk]:
    """``hunks`` with secrets redacted (counted in the report), in batches growing from
    ``FIRST_REDACT_BATCH`` to ``REDACT_BATCH`` hunks: one look-up in ``memo`` per batch, not
    per hunk or file (on a 2,000-file change, one per file cost seconds), and a first batch
    small enough that the first request leaves after a few files are parsed."""
    if not settings.redact:
        yield from hunks
        return
    from itertools import islice

    from aider_hooks.redact import names_with_secrets, redact_hunks

    pending = iter(hunks)
    size = FIRST_REDACT_BATCH
    while group := list(islice(pending, size)):
        size = min(size * 2, REDACT_BATCH)
        # A file *name* that holds a secret cannot be redacted without losing the path the
        # model's findings are anchored by, so such a hunk is not sent at all.
        secret_names = names_with_secrets(
            (p for hunk in group for p in (hunk.path, hunk.old_path) if p), memo=memo)
        sendable: list[Hunk] = []
        for hunk in group:
            if hunk.path in secret_names or hunk.old_path in secret_names:
                report.stats.redacted += 1
                not_sent.append(FailedHunk(hunk.path, hunk.first_line, hunk.last_line,
                                           SECRET_PATH_REASON))
            else:
                sendable.append(hunk)
        for clean, count in redact_hunks(sendable, memo=memo):
            report.stats.redacted += count
            yield clean


def _within_file_size(hunks: Iterable[Hunk], settings: Settings,
                      read_new_file: Callable[[str], bytes | None],
                      not_sent: list[FailedHunk]) -> Iterator[Hunk]:
    """Hunks of files over `max-file-bytes` are never sent to the model; they are listed as
    failed with the reason (the built-in `large-file` check reports an added one)."""
    limit = settings.max_file_bytes
    if limit <= 0:
        yield from hunks
        return
    sizes: dict[str, int] = {}
    for hunk in hunks:
        if hunk.path not in sizes:
            data = read_new_file(hunk.path)
            sizes[hunk.path] = len(data) if data is not None else 0
        if sizes[hunk.path] > limit:
            not_sent.append(FailedHunk(
                hunk.path, hunk.first_line, hunk.last_line,
                f"not sent to the model: the file is over max-file-bytes ({limit:,} bytes)"))
            continue
        yield hunk


def _without_messages(request: PromptRequest) -> PromptRequest:
    return replace(request, messages=())


def _unzip(planned: Iterable[tuple[PromptRequest, Route]],
           ) -> tuple[list[PromptRequest], list[Route]]:
    requests: list[PromptRequest] = []
    routes: list[Route] = []
    for request, route in planned:
        requests.append(request)
        routes.append(route)
    return requests, routes


def _run_requests(
    result: ReviewResult,
    planned: Iterable[tuple[PromptRequest, Route]],
    settings: Settings,
    task: Task,
    report: Report,
    *,
    listener: AnswerListener | None,
    progress: ProgressCallback | None,
    checks: _Checks | None,
    sending_child: SendingChild | None,
) -> list[Finding]:
    """Answer every request from the cache or the model; record failures, never raise.

    Requests leave as they are built, and the checks start with the first one sent; except
    under a run budget (which request goes depends on all of them: they are planned first)
    and for a streaming task (its answers are shown one after the other, in order)."""
    from aider_hooks.model.routing import has_budget

    runner = _RequestRunner(settings, task, listener=listener, sending_child=sending_child)
    start_checks = checks.start if checks is not None else None
    try:
        if runner.listener is None and not has_budget(settings):
            result.requests, result.routes, outcomes = runner.run_planned(
                planned, progress, on_first_send=start_checks)
        else:
            result.requests, result.routes = _unzip(planned)
            outcomes = runner.run_all(result.requests, result.routes, progress,
                                      on_first_send=start_checks)
            result.requests = [_without_messages(r) for r in result.requests]
    finally:
        runner.close()
    requests = result.requests
    result.over_budget = runner.over_budget
    stats = report.stats
    stats.requests = runner.requests_made()
    report.notices.extend(runner.warnings)
    report.links = runner.link_usage()
    stats.cost_usd = _run_cost(report.links)
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
        if outcome.link is not None:
            for usage in report.links:
                if usage.label == outcome.link:
                    usage.hunks += len(request.hunks)
        stats.reviewed += len(request.hunks)
        if outcome.cached:
            stats.cached += len(request.hunks)
        findings.extend(outcome.findings)
    if runner.over_budget:
        from aider_hooks.model.routing import budget_words

        cut = sum(len(requests[i].hunks) for i in runner.over_budget)
        stats.not_reviewed_budget = cut
        report.notices.append(
            f"{cut} hunk(s) not reviewed: over the run budget ({budget_words(settings)}); the "
            "most important hunks went first (see `failed`)")
    if any(o.unavailable for o in outcomes):
        report.model_unavailable = True
        reason = runner.unavailable_message or "the model could not be reached"
        report.notices.append(reason)
        report.ai_review_skipped = (
            f"the model could not be reached ({_one_line(reason)}); {stats.reviewed} of "
            f"{stats.hunks} hunk(s) came from the cache. Check the base URL and the API key")
    return findings


def _run_cost(links: list[LinkUsage]) -> float | None:
    """USD spent in this run, or None when a link that used tokens has no known price."""
    total = 0.0
    for usage in links:
        if not (usage.prompt_tokens or usage.completion_tokens):
            continue
        if usage.price is None:
            return None
        total += (usage.prompt_tokens * usage.price[0]
                  + usage.completion_tokens * usage.price[1]) / 1_000_000
    return round(total, 6)


# A server reporting fewer prompt tokens than this share of our (deliberately high) estimate
# has cut the prompt to its context window; only checked on requests above TRUNCATION_MIN.
TRUNCATION_SHARE = 0.5
TRUNCATION_MIN = 2048
# Requests built and waiting for a worker, per worker: enough that a worker never waits for
# the planner, few enough that their prompts are a small part of the run's memory.
_WAITING_PER_WORKER = 4
# The interpreter's thread switch interval while requests are in flight: 2,000 files at
# 50 ms latency ran about 8% faster with 1 ms than with the default 5 ms (2 cores, loaded).
_SWITCH_INTERVAL_S = 0.001
# Failures after which a request moves to the next link of the chain.
_NEXT_LINK = (ModelUnavailable,)  # unreachable, refused key (ModelAuthError), out of quota


class _RequestRunner:
    """Runs prompt requests through the cache and the chain of model backends, concurrently.

    Each link has its own backend (and so its own circuit breaker), made on first use; all
    share the run's deadline."""

    def __init__(self, settings: Settings, task: Task, *,
                 listener: AnswerListener | None,
                 sending_child: SendingChild | None = None) -> None:
        self.settings = settings
        self.task = task
        # Streamed text must come out in order and unmixed: such runs go one request at a time.
        self.listener = listener if task.streams else None
        self._sending_child = sending_child
        self.unavailable_message: str | None = None
        self._backends: dict[str, ChatBackend] = {}
        self._usage: dict[str, LinkUsage] = {}
        self._lock = threading.Lock()
        self._deadline: Deadline | None = None
        self._warned: set[str] = set()
        self.over_budget: list[int] = []
        self.warnings: list[str] = []
        self._switch_interval: float | None = None  # the process's, while a pool runs
        self._cache: ResponseCache | None = (
            _open_cache(settings, self.warnings.append) if settings.cache else None
        )

    def close(self) -> None:
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
            self._switch_interval = None
        if self._cache is not None:
            self._cache.close()
        for backend in self._backends.values():
            backend.close()

    def requests_made(self) -> int:
        return sum(backend.requests for backend in self._backends.values())

    def link_usage(self) -> list[LinkUsage]:
        for label, usage in self._usage.items():
            backend = self._backends.get(label)
            usage.requests = backend.requests if backend is not None else 0
        return list(self._usage.values())

    def run_planned(self, planned: Iterable[tuple[PromptRequest, Route]],
                    progress: ProgressCallback | None, *,
                    on_first_send: Callable[[], None] | None,
                    ) -> tuple[list[PromptRequest], list[Route], list[_Outcome]]:
        """Each request answered from the cache, or sent as soon as it is planned, with at
        most a few times ``concurrency`` built and waiting (the planner waits for room, so a
        huge change does not hold every prompt at once). Progress is counted once everything
        is planned (the total is known then), in request order, as ``run_all`` does."""
        requests: list[PromptRequest] = []
        routes: list[Route] = []
        pending: list[_Outcome | Future[_Outcome]] = []
        pool: ThreadPoolExecutor | None = None
        room = threading.Semaphore(self.settings.concurrency * _WAITING_PER_WORKER)
        try:
            for request, route in planned:
                self._register_links(route)
                requests.append(_without_messages(request))
                routes.append(route)
                cached = self._from_cache(request, route)
                if cached is not None:
                    pending.append(cached)
                    continue
                if pool is None:  # a fully cached run starts no pool (nor the model SDK)
                    pool = self._pool(self.settings.concurrency)
                room.acquire()
                future = pool.submit(self._ask, request, route)
                future.add_done_callback(lambda _: room.release())
                pending.append(future)
                if on_first_send is not None:
                    on_first_send()
                    on_first_send = None
            outcomes = self._collect(pending, progress)
        except BaseException:
            if pool is not None:  # Ctrl-C: leave at once (see run_all)
                pool.shutdown(wait=False, cancel_futures=True)
            raise
        if pool is not None:
            pool.shutdown(wait=True)
        return requests, routes, outcomes

    @staticmethod
    def _collect(pending: list[_Outcome | Future[_Outcome]],
                 progress: ProgressCallback | None) -> list[_Outcome]:
        total = len(pending)
        done = sum(1 for item in pending if isinstance(item, _Outcome))
        if progress and done:
            progress(done, total)
        outcomes: list[_Outcome] = []
        for item in pending:
            if isinstance(item, _Outcome):
                outcomes.append(item)
                continue
            outcomes.append(item.result())
            done += 1
            if progress:
                progress(done, total)
        return outcomes

    def _pool(self, workers: int) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        if self._switch_interval is None:
            # The planner and the checks keep the interpreter lock busy while the workers
            # wait for answers; a worker whose answer arrived waits for the lock up to this
            # interval (5 ms by default) at every step of its request. Until close().
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, _SWITCH_INTERVAL_S))
        if self._cache is not None and workers > 1:
            # The workers' answers are written by one thread, many per transaction, instead
            # of each worker waiting for the write lock twice per answer. close() flushes.
            self._cache.write_behind()
        if self._sending_child is not None:
            # The child holds `workers` requests in flight; as many more wait there, so each
            # of its senders goes on with the next request at once, never waiting for this
            # process (busy parsing) to read the answer and hand over another.
            workers *= 2
        return ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="aider-review")

    def _register_links(self, route: Route) -> None:
        """Every link a request may use, in chain order, for the report."""
        with self._lock:
            for link in route.links:
                self._link_usage(link)

    def run_all(self, requests: list[PromptRequest], routes: list[Route],
                progress: ProgressCallback | None, *,
                on_first_send: Callable[[], None] | None = None) -> list[_Outcome]:
        """Every request answered from the cache first, then the rest within the run budget,
        concurrently (one by one for a streaming task)."""
        from aider_hooks.model.routing import budget_words, within_budget

        for route in routes:
            self._register_links(route)
        total = len(requests)
        # Cached answers first, on this thread: a fully cached run starts no thread pool and
        # never builds a client (nor imports the model SDK).
        results: list[_Outcome | None] = []
        for request, route in zip(requests, routes):
            results.append(self._from_cache(request, route) if self.listener is None else None)
        missing = [i for i, outcome in enumerate(results) if outcome is None]
        if self.listener is not None:  # a streaming task reads the cache in order, below
            missing = list(range(total))
        missing, self.over_budget = within_budget(requests, routes, missing, self.settings)
        reason = f"not reviewed: over the run budget ({budget_words(self.settings)})"
        for i in self.over_budget:
            results[i] = _Outcome(failed_reason=reason)
        done = total - len(missing)
        if progress and done:
            progress(done, total)
        if self.listener is not None:
            for i in missing:
                results[i] = (self._from_cache(requests[i], routes[i])
                              or self._ask(requests[i], routes[i]))
                done += 1
                if progress:
                    progress(done, total)
        elif missing:
            pool = self._pool(min(self.settings.concurrency, len(missing)))
            try:
                futures = [pool.submit(self._ask, requests[i], routes[i]) for i in missing]
                if on_first_send is not None:
                    on_first_send()
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

    def _from_cache(self, request: PromptRequest, route: Route) -> _Outcome | None:
        """The cached answer's outcome from the first link that has one, or None when there
        is none or it is unusable."""
        if self._cache is None:
            return None
        for link in route.links:
            key = self._key(request, link)
            cached = self._cache.get(key)
            if cached is None:
                continue
            outcome = self._interpret(request, cached.text, link)
            if isinstance(outcome, str):
                continue  # unusable (e.g. written by an older prompt format): ask again
            outcome.cached = True
            if self.listener is not None:
                self.listener.text(request, cached.text)
                self.listener.done(request)
            return outcome
        return None

    def _ask(self, request: PromptRequest, route: Route) -> _Outcome:
        """The first link of ``route`` that gives a usable answer; the next one when a link is
        unreachable, refuses the key, is out of quota or answers unusably twice."""
        spent = (0, 0)
        failed: _Outcome | None = None
        for position, link in enumerate(route.links):
            try:
                outcome = self._ask_model(request, link)
            except ModelUnavailable as err:
                failed = _Outcome(failed_reason=_one_line(str(err)), unavailable=True)
            except ModelError as err:
                outcome = _Outcome(failed_reason=_one_line(str(err)))
                outcome.prompt_tokens += spent[0]
                outcome.completion_tokens += spent[1]
                return outcome  # this request itself was rejected: another link will not help
            else:
                outcome.prompt_tokens += spent[0]
                outcome.completion_tokens += spent[1]
                if outcome.failed_reason is None or position == len(route.links) - 1:
                    return outcome
                spent = (outcome.prompt_tokens, outcome.completion_tokens)
                failed = outcome
            if position < len(route.links) - 1 and failed is not None:
                self._warn_once(f"fallback:{link.label}",
                                f"model {link.label} failed ({failed.failed_reason}); "
                                f"asked {route.links[position + 1].label}, the next model of "
                                "the chain")
        assert failed is not None
        if failed.unavailable:
            self.unavailable_message = (failed.failed_reason if len(route.links) == 1 else
                                        f"no model of the chain could be reached; the last: "
                                        f"{failed.failed_reason}")
        failed.prompt_tokens, failed.completion_tokens = spent
        return failed

    def _ask_model(self, request: PromptRequest, link: ModelLink) -> _Outcome:
        """One link's answer; raises ModelError. An answer still unusable after the repair
        request is an outcome with ``failed_reason`` (the caller may try the next link)."""
        client = self._get_client(link)
        completion = self._send(client, request)
        self._record(link, completion.prompt_tokens, completion.completion_tokens)
        self._check_context(link, request, completion.prompt_tokens)
        tokens = (completion.prompt_tokens, completion.completion_tokens)
        outcome = self._interpret(request, completion.text, link)
        if isinstance(outcome, str):
            # One repair request, then the hunk is reported as failed (docs/answer-formats.md).
            from aider_hooks.tasks.prompts import repair_messages

            repaired = client.complete(repair_messages(request, completion.text, outcome))
            self._record(link, repaired.prompt_tokens, repaired.completion_tokens)
            tokens = (tokens[0] + repaired.prompt_tokens, tokens[1] + repaired.completion_tokens)
            completion = repaired
            outcome = self._interpret(request, repaired.text, link)
            if isinstance(outcome, str):
                return _Outcome(failed_reason=f"invalid answer from the model: {outcome}",
                                prompt_tokens=tokens[0], completion_tokens=tokens[1])
        outcome.prompt_tokens, outcome.completion_tokens = tokens
        # An explanation cut off at max-tokens is shown, but not kept as if it were whole.
        if self._cache is not None and not completion.truncated:
            from aider_hooks.model.cache import CachedAnswer

            key = self._key(request, link)
            self._cache.put(key, CachedAnswer(text=completion.text, prompt_tokens=tokens[0],
                                              completion_tokens=tokens[1],
                                              created_at=time.time()))
            if self.task.output == "report" and self.settings.keep_requests:
                # For `aider-review finetune export`: what was sent, joined to feedback later.
                self._cache.keep_request(key, self.task.name, request.messages,
                                         outcome.findings)
        return outcome

    def _check_context(self, link: ModelLink, request: PromptRequest, reported: int) -> None:
        """Warn once per link when the server counted far fewer prompt tokens than the request
        holds: it cut the prompt to a context window smaller than the request."""
        estimate = request.estimated_tokens
        if not reported or estimate <= TRUNCATION_MIN or reported >= estimate * TRUNCATION_SHARE:
            return
        from aider_hooks.model.retry import endpoint_label

        self._warn_once(
            f"context:{link.label}",
            f"model {link.label} at {endpoint_label(link.base_url)} reported {reported:,} prompt "
            f"tokens for a request of about {estimate:,}: the server most likely cut the prompt "
            "to a smaller context window, and the review missed part of the change. Raise the "
            "server's context length (Ollama: OLLAMA_CONTEXT_LENGTH=16384, or num_ctx in a "
            "Modelfile; llama.cpp: --ctx-size; vLLM: --max-model-len) and set `context-window` "
            "of this link in `models` to the same value")

    def _warn_once(self, key: str, message: str) -> None:
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
            self.warnings.append(message)

    def _record(self, link: ModelLink, prompt: int, completion: int) -> None:
        with self._lock:
            usage = self._link_usage(link)
            usage.prompt_tokens += prompt
            usage.completion_tokens += completion

    def _link_usage(self, link: ModelLink) -> LinkUsage:
        usage = self._usage.get(link.label)
        if usage is None:
            from aider_hooks.model.retry import endpoint_label
            from aider_hooks.model.routing import link_price

            usage = LinkUsage(label=link.label, model=link.model,
                              endpoint=endpoint_label(link.base_url),
                              price=link_price(link, self.settings))
            self._usage[link.label] = usage
        return usage

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

    def _interpret(self, request: PromptRequest, text: str,
                   link: ModelLink | None = None) -> _Outcome | str:
        """What an answer became, or, when it is not usable, the one-line reason why."""
        try:
            answer: TaskAnswer = request.task.read_answer(text, request.hunks)
        except InvalidAnswer as err:
            return _one_line(str(err))
        label = link.label if link is not None else None
        findings = answer.findings
        if label is not None:
            findings = [replace(f, model=label) if f.source == "model" else f for f in findings]
        return _Outcome(findings=findings, dropped=answer.dropped, text=answer.text, link=label)

    def _key(self, request: PromptRequest, link: ModelLink) -> str:
        from aider_hooks.model.cache import cache_key
        from aider_hooks.tasks.prompts import PROMPT_VERSION

        return cache_key(link.model, self.task.name, PROMPT_VERSION,
                         [dict(m) for m in request.messages], base_url=link.base_url)

    def _get_client(self, link: ModelLink) -> ChatBackend:
        with self._lock:
            backend = self._backends.get(link.label)
            if backend is None:
                from aider_hooks.model.backend import Deadline, open_backend

                if self._deadline is None:  # one deadline for the whole run, every link
                    self._deadline = Deadline(self.settings.deadline)
                if self._sending_child is None:
                    backend = open_backend(self.settings.for_link(link), self._deadline)
                else:
                    from aider_hooks.model.child_backend import ChildBackend

                    backend = ChildBackend(self._sending_child, link.label,
                                           self.settings.for_link(link), self._deadline,
                                           open_backend)
                self._backends[link.label] = backend
            return backend


def _open_memo(settings: Settings) -> ResultMemo | None:
    """The memo of check results and clean texts; none for a dry run (it never reads the
    results back, and a huge dry run would only fill the file)."""
    if settings.dry_run:
        return None
    from aider_hooks.results import open_result_memo

    return open_result_memo(settings)


def _open_cache(settings: Settings, on_warning: Callable[[str], None]) -> ResponseCache:
    from pathlib import Path

    from aider_hooks.model.cache import ResponseCache, default_cache_path

    path = Path(settings.cache_path) if settings.cache_path else default_cache_path()
    return ResponseCache(path, on_warning=on_warning)


def _unmerged_paths(diff_text: str) -> list[str]:
    from aider_hooks.reporters import printable

    prefix = "* Unmerged path "
    if prefix not in diff_text:
        return []  # the usual case: no list of every line of a huge diff for nothing
    return [printable(line[len(prefix):]).replace("\n", "\\n")
            for line in diff_text.splitlines() if line.startswith(prefix)]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
