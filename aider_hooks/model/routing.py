"""Which model answers which request, how large a request may be, and what a run may spend.

Pure: no I/O, no network, no SDK. The rules (docs/configuration.md, "Models"):

- **Chain.** A request goes to the first link of its route; when that link is unreachable,
  refuses the key, is out of quota, or its answer stays unusable after the repair request,
  the next link gets it. ``models = [...]`` is the chain; without it, `model` is a chain of one.
- **Task models.** ``task-models = { explain = "gpt-4o-mini" }``: that task's route starts with
  the named link (a link's `name` or `model`, or its 1-based position), the rest of the chain
  following as fallbacks. A model that is no link of the chain is asked at the first link's
  endpoint, with the whole chain behind it.
- **Strong model.** For review only: a hunk whose path matches `strong-paths`, or with more
  than `strong-lines` changed lines, goes to the route of `strong-model` (when set).
- **Budget.** Requests not answered from the cache are taken in order of importance (security-
  sensitive paths, then source, then tests and docs, then whitespace-only changes; larger
  changes first within each) while their estimates fit `max-run-tokens`, `max-run-cost` and
  `max-requests`; a request that does not fit is skipped and later, smaller ones may still fit.
"""
from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aider_hooks.hunk import Hunk
    from aider_hooks.settings import ModelLink, Settings
    from aider_hooks.tasks.prompts import PromptRequest

# Batch budget (diff tokens per request) when no link of the route gives a context window.
DEFAULT_BATCH_TOKENS = 2500
# Largest batch budget derived from a context window: attention thins out on longer prompts,
# and one failed request should not cost a whole large change.
BATCH_TOKENS_CAP = 12000
# Room kept in the context window for the instructions (about 700 estimated tokens) and the
# estimate's own error.
INSTRUCTION_ALLOWANCE = 1024
# Share of `max-tokens` counted as the answer of each request in budget estimates.
ANSWER_SHARE = 0.25

# Importance tiers, most important first.
TIER_SENSITIVE, TIER_SOURCE, TIER_TESTS_DOCS, TIER_WHITESPACE = 0, 1, 2, 3
TIER_NAMES = ("security-sensitive", "source", "tests and docs", "whitespace-only")
_DOC_SUFFIXES = (".md", ".rst", ".txt", ".adoc")
_TEST_DIRS = {"test", "tests", "testing", "spec", "specs", "__tests__"}


@dataclass(frozen=True)
class Route:
    """The links one request tries, in order."""

    links: tuple[ModelLink, ...]

    @property
    def label(self) -> str:
        return self.links[0].label


def task_route(settings: Settings, task_name: str) -> Route:
    """The route of every request of ``task_name`` (before the strong-model rule)."""
    wanted = settings.task_models.get(task_name)
    chain = settings.chain()
    return Route(_starting_with(chain, wanted) if wanted else chain)


def strong_route(settings: Settings, base: Route) -> Route | None:
    """The route of sensitive or large review hunks, or None without `strong-model`."""
    if not settings.strong_model:
        return None
    return Route(_starting_with(base.links, settings.strong_model))


def _starting_with(chain: tuple[ModelLink, ...], wanted: str) -> tuple[ModelLink, ...]:
    for index, link in enumerate(chain):
        if wanted in (link.label, link.model, str(index + 1)):
            return (link, *chain[:index], *chain[index + 1:])
    first = chain[0]
    # Another model at the first link's endpoint; its own window and price are not known.
    return (replace(first, model=wanted, name="", context_window=0, prices=None), *chain)


def is_sensitive(path: str, settings: Settings) -> bool:
    return any(glob_matches(path, pattern) for pattern in settings.strong_paths)


def glob_matches(path: str, pattern: str) -> bool:
    """``pattern`` against ``path`` (``*`` crosses ``/``; ``**/`` also matches no directory)."""
    pattern = pattern.lstrip("/")
    return fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase("./" + path, pattern)


def changed_lines(hunk: Hunk) -> int:
    return sum(1 for line in hunk.lines if line.kind in "+-")


def needs_strong_model(hunk: Hunk, settings: Settings) -> bool:
    return is_sensitive(hunk.path, settings) or changed_lines(hunk) > settings.strong_lines


def tier(hunk: Hunk, settings: Settings) -> int:
    """How important reviewing ``hunk`` is when the budget cannot cover everything."""
    if _whitespace_only(hunk):
        return TIER_WHITESPACE
    if is_sensitive(hunk.path, settings):
        return TIER_SENSITIVE
    if _is_test_or_doc(hunk.path):
        return TIER_TESTS_DOCS
    return TIER_SOURCE


def _whitespace_only(hunk: Hunk) -> bool:
    added = sorted("".join(line.text.split()) for line in hunk.lines if line.kind == "+")
    removed = sorted("".join(line.text.split()) for line in hunk.lines if line.kind == "-")
    return added == removed


def _is_test_or_doc(path: str) -> bool:
    parts = path.lower().split("/")
    name = parts[-1]
    if name.endswith(_DOC_SUFFIXES) or "docs" in parts[:-1] or "doc" in parts[:-1]:
        return True
    stem = name.rsplit(".", 1)[0]
    return (bool(_TEST_DIRS & set(parts[:-1])) or stem.startswith("test_")
            or stem.endswith(("_test", "_spec", ".test", ".spec")) or stem == "conftest")


# Context windows (tokens) of OpenAI's own current chat models, used on OpenAI's endpoint when
# no `context-window` is configured. Bigger requests there make the fixed instruction block a
# small part of the prompt (about 8% on a 100-hunk change, against 22% at the 2,500-token
# default kept for unknown endpoints, whose local models may have 4k windows).
_OPENAI_WINDOWS = (("gpt-4o", 128_000), ("gpt-4.1", 1_000_000), ("gpt-5", 400_000),
                   ("o3", 200_000), ("o4-mini", 200_000))


def known_window(link: ModelLink) -> int:
    """``link``'s context window: configured, or known for OpenAI's own models; 0 unknown."""
    if link.context_window > 0:
        return link.context_window
    if link.base_url is not None and "api.openai.com" not in link.base_url:
        return 0
    for family, window in _OPENAI_WINDOWS:
        if link.model == family or link.model.startswith(family + "-"):
            return window
    return 0


def batch_budget(settings: Settings, route: Route) -> int:
    """Diff tokens per request: `batch-tokens` when set, else what the smallest context window
    of the route (configured, or known: ``known_window``) leaves after the answer and the
    instructions (capped), else the default."""
    if "batch_tokens" in settings.explicit:
        return settings.batch_tokens
    windows = [window for window in map(known_window, route.links) if window > 0]
    if not windows:
        return settings.batch_tokens
    room = min(windows) - settings.max_tokens - INSTRUCTION_ALLOWANCE
    return max(100, min(BATCH_TOKENS_CAP, room))


def link_price(link: ModelLink, settings: Settings) -> tuple[float, float] | None:
    """(prompt, completion) USD per million tokens for ``link``, or None when unknown."""
    if link.prices is not None:
        return link.prices
    from aider_hooks.model.pricing import price_for

    return price_for(link.model, settings.prices, link.base_url)


def answer_allowance(settings: Settings) -> int:
    return math.ceil(settings.max_tokens * ANSWER_SHARE)


@dataclass(frozen=True)
class Estimate:
    """What sending some requests is expected to cost, before anything is sent."""

    requests: int = 0
    tokens: int = 0  # prompt estimates plus the answer allowance
    cost: float | None = 0.0  # USD; None when a price is unknown

    def plus(self, tokens: int, cost: float | None) -> Estimate:
        total = None if self.cost is None or cost is None else self.cost + cost
        return Estimate(self.requests + 1, self.tokens + tokens, total)


def request_estimate(request: PromptRequest, route: Route,
                     settings: Settings) -> tuple[int, float | None]:
    """(tokens, USD) of ``request`` if its route's first link answers it."""
    answer = answer_allowance(settings)
    price = link_price(route.links[0], settings)
    cost = None if price is None else (request.estimated_tokens * price[0]
                                       + answer * price[1]) / 1_000_000
    return request.estimated_tokens + answer, cost


def has_budget(settings: Settings) -> bool:
    return bool(settings.max_run_tokens or settings.max_run_cost or settings.max_requests)


def within_budget(requests: Sequence[PromptRequest], routes: Sequence[Route],
                  indexes: Sequence[int], settings: Settings) -> tuple[list[int], list[int]]:
    """(sent, cut): which of ``indexes`` fit the run's budget, most important first."""
    if not has_budget(settings):
        return list(indexes), []

    def importance(i: int) -> tuple[int, int, int]:
        hunks = requests[i].hunks
        return (min(tier(h, settings) for h in hunks),
                -sum(changed_lines(h) for h in hunks), i)

    spent = Estimate()
    sent: list[int] = []
    cut: list[int] = []
    for i in sorted(indexes, key=importance):
        tokens, cost = request_estimate(requests[i], routes[i], settings)
        after = spent.plus(tokens, cost)
        over = ((settings.max_requests and after.requests > settings.max_requests)
                or (settings.max_run_tokens and after.tokens > settings.max_run_tokens)
                or (settings.max_run_cost and after.cost is not None
                    and after.cost > settings.max_run_cost))
        if over:
            cut.append(i)
        else:
            spent = after
            sent.append(i)
    return sorted(sent), sorted(cut)


def budget_words(settings: Settings) -> str:
    """The limits in force, as the user wrote them: "max-run-tokens = 200000, ..."."""
    parts = []
    if settings.max_run_tokens:
        parts.append(f"max-run-tokens = {settings.max_run_tokens}")
    if settings.max_run_cost:
        parts.append(f"max-run-cost = {settings.max_run_cost:g}")
    if settings.max_requests:
        parts.append(f"max-requests = {settings.max_requests}")
    return ", ".join(parts)


def dry_run_estimates(requests: Sequence[PromptRequest], routes: Sequence[Route],
                      over_budget: Sequence[int], settings: Settings) -> list[str]:
    """`--dry-run` lines: the estimate per link (as if each route's first link answers),
    and what the budget would leave out."""
    per_link: dict[str, Estimate] = {}
    cut = set(over_budget)
    for index, (request, route) in enumerate(zip(requests, routes)):
        if index in cut:
            continue
        tokens, cost = request_estimate(request, route, settings)
        per_link[route.label] = per_link.get(route.label, Estimate()).plus(tokens, cost)
    lines = []
    for label, estimate in per_link.items():
        shown = "cost unknown (no prices)" if estimate.cost is None else f"~${estimate.cost:.4f}"
        lines.append(f"estimate for model {label}: {estimate.requests} request(s), "
                     f"~{estimate.tokens:,} tokens with answers, {shown}")
    if cut:
        hunks = sum(len(requests[i].hunks) for i in cut)
        lines.append(f"over the budget ({budget_words(settings)}): {len(cut)} request(s), "
                     f"{hunks} hunk(s) would not be sent")
    return lines
