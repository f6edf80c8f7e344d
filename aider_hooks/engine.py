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
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from aider_hooks.errors import InvalidAnswer, ModelError, ModelUnavailable
from aider_hooks.finding import Finding, deduplicate
from aider_hooks.hunk import Hunk
from aider_hooks.report import FailedHunk, LinkUsage, Report

if TYPE_CHECKING:
    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.knowledge.session import Knowledge
    from aider_hooks.model.backend import ChatBackend, Completion, Deadline
    from aider_hooks.model.cache import ResponseCache
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
    report: Report
    hunks: list[Hunk]  # the hunks that were up for review (after filters), original text
    requests: list[PromptRequest] = field(default_factory=list)  # what was (or would be) sent
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
) -> ReviewResult:
    """Run ``task`` (default: review) on ``diff`` and return everything the reporters need.

    The repository's instructions, baseline and feedback (docs/teaching.md) are read from the
    work tree, or, with ``knowledge_rev``, from that commit only (the pull-request bot passes
    the base commit, so a pull request cannot rewrite what it is reviewed with).
    """
    from aider_hooks.diff.parse import parse_diff

    if task is None:
        from aider_hooks.tasks import get_task

        task = get_task("review")

    started = time.monotonic()
    # Check results and clean texts from earlier runs (aider_hooks/results.py).
    memo = _open_memo(settings)
    read_new_file = _ReadOnce(diff.read_new_file)
    hunk_set = parse_diff(diff.text, settings=settings, read_new_file=read_new_file,
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
    if task.runs_checks and not settings.dry_run:
        from aider_hooks.checks.registry import run_checks

        checked = run_checks(hunk_set, read_new_file=read_new_file, settings=settings,
                             memo=memo)
        findings.extend(checked.findings)
        report.notices.extend(checked.notices)

    result = ReviewResult(report=report, hunks=hunks)
    knowledge = _open_knowledge(diff, settings, knowledge_rev, report) if hunks else None
    use_model = not settings.offline and (settings.model_configured or settings.dry_run)
    whole_files_to_model = not diff.whole_files or settings.review_all_files
    if diff.whole_files and hunks:
        report.notices.append(_whole_files_notice(stats.files, use_model and whole_files_to_model,
                                                  settings))
    if hunks and use_model and whole_files_to_model:
        result.requests, result.routes = _plan_requests(hunks, settings, task, report,
                                                        read_new_file, memo)
        if knowledge is not None:
            result.requests = _guide(knowledge, result.requests, report)
        if settings.dry_run:
            from aider_hooks.model.routing import within_budget

            _, result.over_budget = within_budget(result.requests, result.routes,
                                                  range(len(result.requests)), settings)
        else:
            from aider_hooks.model.routing import task_route

            report.model = task_route(settings, task.name).label  # the model asked first
            findings.extend(_run_requests(result, settings, task, report,
                                          listener=listener, progress=progress))
    elif (hunks and not settings.offline and not settings.model_configured
          and whole_files_to_model):
        report.notices.append(NO_MODEL_NOTICE)
        report.ai_review_skipped = NO_MODEL_SKIP
    elif hunks and settings.offline:
        report.ai_review_skipped = "the run was --offline: built-in checks only"

    if memo is not None:
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


def _guide(knowledge: Knowledge, requests: list[PromptRequest],
           report: Report) -> list[PromptRequest]:
    """Each request with its project guidance in the system message (docs/teaching.md)."""
    from aider_hooks.knowledge.instructions import MAX_GUIDANCE_TOKENS

    guided = knowledge.guide(requests)
    if any(g is not r for g, r in zip(guided, requests)):
        report.stats.redacted += knowledge.guidance.redacted
    if knowledge.guidance.cut_requests:
        report.notices.append(
            f"project guidance is over {MAX_GUIDANCE_TOKENS:,} tokens: it was cut in "
            f"{knowledge.guidance.cut_requests} request(s); shorten the instruction files "
            "(`aider-review config` lists them)")
    return guided


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

    def __call__(self, path: str) -> bytes | None:
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


def _plan_requests(hunks: list[Hunk], settings: Settings, task: Task, report: Report,
                   read_new_file: Callable[[str], bytes | None],
                   memo: ResultMemo | None = None,
                   ) -> tuple[list[PromptRequest], list[Route]]:
    """Redact, then pack hunks into prompt requests, each with the route of links it goes to.
    Pure apart from the redaction count and the file sizes read for `max-file-bytes`."""
    from aider_hooks.model import routing
    from aider_hooks.tasks.prompts import build_requests

    hunks = _within_file_size(hunks, settings, report, read_new_file)

    if settings.redact:
        from aider_hooks.redact import names_with_secrets, redact_hunks

        # A file *name* that holds a secret cannot be redacted without losing the path the
        # model's findings are anchored by, so such a hunk is not sent at all.
        secret_names = names_with_secrets(
            (p for hunk in hunks for p in (hunk.path, hunk.old_path) if p), memo=memo)
        sendable: list[Hunk] = []
        for hunk in hunks:
            if hunk.path in secret_names or hunk.old_path in secret_names:
                report.stats.failed += 1
                report.stats.redacted += 1
                report.failed.append(FailedHunk(hunk.path, hunk.first_line, hunk.last_line,
                                                SECRET_PATH_REASON))
            else:
                sendable.append(hunk)
        redacted: list[Hunk] = []
        for clean, count in redact_hunks(sendable, memo=memo):
            report.stats.redacted += count
            redacted.append(clean)
        hunks = redacted
    route = routing.task_route(settings, task.name)
    strong = routing.strong_route(settings, route) if task.routes_to_strong_model else None
    by_tier = routing.has_budget(settings)
    if strong is None and not by_tier:  # one group: requests exactly as without a chain
        requests = build_requests(task, hunks, batch_tokens=routing.batch_budget(settings, route))
        return requests, [route] * len(requests)
    # Separate groups, so that one request never mixes a strong-model hunk with another, nor
    # (under a budget) hunks of different importance.
    groups: dict[tuple[int, int], list[Hunk]] = {}
    for hunk in hunks:
        strong_hunk = strong is not None and routing.needs_strong_model(hunk, settings)
        level = routing.tier(hunk, settings) if by_tier else 0
        groups.setdefault((0 if strong_hunk else 1, level), []).append(hunk)
    requests, routes = [], []
    for (kind, _level), members in sorted(groups.items()):
        chosen = strong if kind == 0 and strong is not None else route
        made = build_requests(task, members, batch_tokens=routing.batch_budget(settings, chosen))
        requests.extend(made)
        routes.extend([chosen] * len(made))
    return requests, routes


def _within_file_size(hunks: list[Hunk], settings: Settings, report: Report,
                      read_new_file: Callable[[str], bytes | None]) -> list[Hunk]:
    """Hunks of files over `max-file-bytes` are never sent to the model; they are listed as
    failed with the reason (the built-in `large-file` check reports an added one)."""
    limit = settings.max_file_bytes
    if limit <= 0:
        return hunks
    sizes: dict[str, int] = {}
    kept: list[Hunk] = []
    for hunk in hunks:
        if hunk.path not in sizes:
            data = read_new_file(hunk.path)
            sizes[hunk.path] = len(data) if data is not None else 0
        if sizes[hunk.path] > limit:
            report.stats.failed += 1
            report.failed.append(FailedHunk(
                hunk.path, hunk.first_line, hunk.last_line,
                f"not sent to the model: the file is over max-file-bytes ({limit:,} bytes)"))
            continue
        kept.append(hunk)
    return kept


def _run_requests(
    result: ReviewResult,
    settings: Settings,
    task: Task,
    report: Report,
    *,
    listener: AnswerListener | None,
    progress: ProgressCallback | None,
) -> list[Finding]:
    """Answer every request from the cache or the model; record failures, never raise."""
    requests = result.requests
    runner = _RequestRunner(settings, task, listener=listener)
    try:
        outcomes = runner.run_all(requests, result.routes, progress)
    finally:
        runner.close()
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
# Failures after which a request moves to the next link of the chain.
_NEXT_LINK = (ModelUnavailable,)  # unreachable, refused key (ModelAuthError), out of quota


class _RequestRunner:
    """Runs prompt requests through the cache and the chain of model backends, concurrently.

    Each link has its own backend (and so its own circuit breaker), made on first use; all
    share the run's deadline."""

    def __init__(self, settings: Settings, task: Task, *,
                 listener: AnswerListener | None) -> None:
        self.settings = settings
        self.task = task
        # Streamed text must come out in order and unmixed: such runs go one request at a time.
        self.listener = listener if task.streams else None
        self.unavailable_message: str | None = None
        self._backends: dict[str, ChatBackend] = {}
        self._usage: dict[str, LinkUsage] = {}
        self._lock = threading.Lock()
        self._deadline: Deadline | None = None
        self._warned: set[str] = set()
        self.over_budget: list[int] = []
        self.warnings: list[str] = []
        self._cache: ResponseCache | None = (
            _open_cache(settings, self.warnings.append) if settings.cache else None
        )

    def close(self) -> None:
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

    def run_all(self, requests: list[PromptRequest], routes: list[Route],
                progress: ProgressCallback | None) -> list[_Outcome]:
        from aider_hooks.model.routing import budget_words, within_budget

        for route in routes:  # every link a request may use, in chain order, for the report
            for link in route.links:
                self._link_usage(link)
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
            from concurrent.futures import ThreadPoolExecutor

            workers = max(1, min(self.settings.concurrency, len(missing)))
            pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aider-review")
            try:
                futures = [pool.submit(self._ask, requests[i], routes[i]) for i in missing]
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
                backend = open_backend(self.settings.for_link(link), self._deadline)
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
    return [printable(line[len(prefix):]).replace("\n", "\\n")
            for line in diff_text.splitlines() if line.startswith(prefix)]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
