"""Reporters: one ``Report``, many output formats. A format is a reporter registered by name,
``reporter(report: ReportView) -> str``: the five built-in ones (``plugin_finder.FORMATS``, each
in its own module, imported only when asked for) and those of installed plugins. The built-in
ones share the small helpers below."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from aider_hooks.errors import UsageError
from aider_hooks.finding import SEVERITIES, Finding
from aider_hooks.plugin_finder import FORMATS
from aider_hooks.report import Report, Stats

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False

if TYPE_CHECKING:
    from aider_hooks.reporters.view import ReportView

__all__ = ["FORMATS", "format_names", "is_format", "render"]

# Control characters a model (or the code it quotes) could send to rewrite a terminal or a CI
# log: everything below 0x20 but tab and newline, DEL, and the C1 range.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def render(report: Report | ReportView, fmt: str, *, color: bool = False,
           warn: Callable[[str], None] | None = None) -> str:
    """The report in the format named ``fmt`` (built-in ones end with a newline).

    ``color`` only affects the built-in ``text``; the CLI decides it from the terminal and
    ``NO_COLOR``. A plugin reporter that fails to load or raises is one ``warn`` line and the
    report comes in ``text`` instead (without ``warn``: a ``UsageError``).
    """
    from aider_hooks.plugin_finder import failure_line, find_plugin
    from aider_hooks.reporters.view import ReportView

    plugin = find_plugin("reporter", fmt)
    if plugin is None:
        raise UsageError(f"unknown output format {fmt!r}: use one of {', '.join(format_names())}")
    view = ReportView.of(report)
    if plugin.builtin:
        # The built-in table names functions of this shape (plugin_finder.BUILTIN_REPORTERS).
        reporter: Callable[..., str] = plugin.load()  # type: ignore[assignment]
        return reporter(view, color=color) if fmt == "text" else reporter(view)
    try:
        loaded: Callable[[ReportView], object] = plugin.load()  # type: ignore[assignment]
        text = loaded(view)
        if not isinstance(text, str):
            raise TypeError(f"returned {type(text).__name__}, not str")
    except Exception as err:  # noqa: BLE001 - a plugin's bug costs its format, not the run
        if warn is None:
            raise UsageError(failure_line(plugin.label, err)) from None
        warn(f"{failure_line(plugin.label, err)}; the report follows in text format")
        return render(view, "text")
    return text


def format_names() -> list[str]:
    """Every ``--format`` name: the built-in ones, then installed plugins' (discovery runs)."""
    from aider_hooks.plugin_finder import find_plugins

    names = list(FORMATS)
    names += [p.name for p in find_plugins("reporter") if p.name not in names]
    return names


def is_format(name: str) -> bool:
    """Whether ``name`` is a built-in format (no discovery) or an installed plugin's."""
    from aider_hooks.plugin_finder import find_plugin

    return name in FORMATS or find_plugin("reporter", name) is not None


def sorted_findings(report: Report | ReportView) -> list[Finding]:
    """Findings in file and line order, fingerprints filled in: every format lists them so."""
    return sorted((f.with_fingerprint() for f in report.findings), key=Finding.sort_key)


def printable(text: str) -> str:
    """``text`` with control characters shown as ``\\x1b`` instead of acting on a terminal.

    Line endings become ``\\n`` first: a CRLF from a model is a line break, not a control code.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def location(path: str, line: int, end_line: int) -> str:
    """``path:line``, or ``path:line-end_line`` for a range."""
    return f"{path}:{line}-{end_line}" if end_line > line else f"{path}:{line}"


def lines_phrase(line: int, end_line: int) -> str:
    """``line 42``, or ``lines 42-44`` for a range."""
    return f"lines {line}-{end_line}" if end_line > line else f"line {line}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def severity_counts(findings: Iterable[Finding]) -> str:
    """``1 error, 2 warnings``: only the severities present, most severe first."""
    counts = {severity: 0 for severity in SEVERITIES}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return ", ".join(_severity_phrase(severity, n) for severity, n in counts.items() if n)


def _severity_phrase(severity: str, count: int) -> str:
    return f"{count} info" if severity == "info" else plural(count, severity)


def findings_phrase(findings: list[Finding]) -> str:
    """``3 findings (1 error, 2 warnings) in 2 files``, or ``no findings``."""
    if not findings:
        return "no findings"
    files = len({f.path for f in findings})
    return (f"{plural(len(findings), 'finding')} ({severity_counts(findings)}) "
            f"in {plural(files, 'file')}")


def work_phrase(stats: Stats, model: str | None) -> str:
    """``12 hunks reviewed, 4 from cache, 1 failed``: the counters a user acts on.

    Without a model (``model`` None) the hunks were only *checked* by the built-in checks.
    """
    if model is None and not stats.hunks:
        parts = ["nothing to review"]  # not "built-in checks only": nothing was left to send
    elif model is None:
        parts = [f"{plural(stats.hunks, 'hunk')} checked (built-in checks only)"]
    else:
        parts = [f"{plural(stats.reviewed, 'hunk')} reviewed"]
    if stats.cached:
        parts.append(f"{stats.cached} from cache")
    if stats.failed:
        parts.append(f"{stats.failed} failed")
    if stats.skipped:
        parts.append(f"{stats.skipped} skipped")
    if stats.dropped_unanchored:
        parts.append(f"{stats.dropped_unanchored} unanchored dropped")
    if stats.redacted:
        parts.append(f"{plural(stats.redacted, 'secret')} redacted")
    return ", ".join(parts)
