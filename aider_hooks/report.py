"""The result of one run: findings, hunks that failed, counters. Reporters only read this."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from aider_hooks.finding import Finding

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass
class Stats:
    """Counters of docs/json-output.md ``stats``; every field is part of the JSON contract."""

    files: int = 0
    hunks: int = 0
    reviewed: int = 0
    cached: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped_unanchored: int = 0
    redacted: int = 0
    elapsed_s: float = 0.0
    not_reviewed_budget: int = 0  # hunks left out by the run budget (also in `failed`)
    cost_usd: float | None = None  # spent in this run, when every link used has a price
    # Findings not reported (docs/teaching.md): an `aider-review: ignore` comment, the
    # baseline, or feedback that marked them wrong; dropped by verification; cut by
    # min-severity, min-confidence or max-findings.
    suppressed: int = 0
    rejected_by_verify: int = 0
    below_threshold: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["elapsed_s"] = round(self.elapsed_s, 3)
        # Added fields appear only when they apply: readers of the original keys see no change.
        if self.cost_usd is None:
            del data["cost_usd"]
        if not self.not_reviewed_budget:
            del data["not_reviewed_budget"]
        return data


@dataclass
class LinkUsage:
    """What one link of the model chain did in this run."""

    label: str
    model: str
    endpoint: str
    price: tuple[float, float] | None = None
    requests: int = 0  # HTTP requests, retries and repair requests included
    hunks: int = 0  # hunks this link's answers reviewed, from the cache included
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"model": self.label, "endpoint": self.endpoint, "requests": self.requests,
                "hunks": self.hunks, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens}


@dataclass(frozen=True)
class FailedHunk:
    """A hunk the model could not review; it is listed, never silently skipped."""

    path: str
    line: int
    end_line: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    """Everything one run found and did: what the reporters print and ``--format json`` holds."""
    task: str = "review"  # review | explain | fix
    findings: list[Finding] = field(default_factory=list)
    failed: list[FailedHunk] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    model: str | None = None  # None when no model was used (built-in checks only)
    notices: list[str] = field(default_factory=list)  # one-line messages for stderr
    model_unavailable: bool = False  # the model could not be reached during this run
    links: list[LinkUsage] = field(default_factory=list)  # the model chain, in order
    # Why the AI review did not run (no model, --offline, the model unreachable), or None. A
    # skipped AI review must never look like a clean one: the PR summary and step summary lead
    # with it, and the action exposes it as an output. Not part of the JSON document.
    ai_review_skipped: str | None = None

    def to_json(self) -> dict[str, Any]:
        """docs/json-output.md. ``failed`` and ``model`` are additions; version 1 readers ignore them."""
        return {
            "version": 1,
            "findings": [f.to_json() for f in self.findings],
            "stats": self.stats.to_json(),
            "failed": [f.to_json() for f in self.failed],
            "model": self.model,
            **({"models": [link.to_json() for link in self.links]} if self.links else {}),
        }

    def to_state(self) -> dict[str, Any]:
        """Every field, losslessly, as JSON-ready data (``from_state`` reads it back): what a
        remembered run keeps (cli/run_memo.py). Not a public document; ``to_json`` is."""
        return asdict(self)

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Report:
        """The report ``to_state`` wrote; ``ValueError`` for anything else (a field unknown to
        this version, one missing, a wrong type), so a reader can treat it as absent."""
        try:
            links = []
            for link in data["links"]:
                price = link["price"]
                links.append(_build(LinkUsage, {**link, "price": None if price is None
                                                else (float(price[0]), float(price[1]))}))
            report: Report = _build(cls, {
                **data,
                "findings": [_build(Finding, item) for item in data["findings"]],
                "failed": [_build(FailedHunk, item) for item in data["failed"]],
                "stats": _build(Stats, data["stats"]),
                "notices": [str(notice) for notice in data["notices"]],
                "links": links,
            })
        except (KeyError, TypeError, IndexError, AttributeError) as err:
            raise ValueError(f"not a saved report: {err!r}") from None
        return report


def _build(kind: type[Any], data: dict[str, Any]) -> Any:
    """``kind(**data)`` that insists on exactly the dataclass's fields."""
    names = {f.name for f in fields(kind)}
    if set(data) != names:
        raise ValueError(f"not a saved {kind.__name__}: fields {sorted(set(data) ^ names)}")
    return kind(**data)
