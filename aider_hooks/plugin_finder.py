"""Which checks and reporters exist: the built-in table plus installed entry points.

Modelled on flake8's ``plugins/finder.py``: one module finds plugins and hands out typed
records; the built-ins are listed in the same shape as third-party entry points and loaded
by the same code, so ``checks = ["-large-file"]`` and ``--format csv`` treat them alike.

The built-ins are a table here rather than entry points in our own ``pyproject.toml``: they
then work from a source checkout or a zipapp with no installed metadata, and a run with
``AIDER_REVIEW_NO_PLUGINS=1`` (or a review that needs only built-in names) never scans the
installed distributions. ``importlib.metadata`` is imported only when third-party plugins are
looked for and a quick scan of the ``sys.path`` folders finds a distribution whose
``entry_points.txt`` names our groups (``_may_declare``), never on the nothing-staged path
(tests/test_import_cost.py).

Plugins come only from installed distributions: no setting names a module, so nothing in a
repository (a pull request's config) can make the tool import code.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from aider_hooks import __version__

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal

    Kind = Literal["check", "reporter"]

GROUPS: dict[Kind, str] = {"check": "aider_review.checks", "reporter": "aider_review.reporters"}
DISTRIBUTION = "aider-hooks"
NO_PLUGINS_ENV = "AIDER_REVIEW_NO_PLUGINS"

# The built-in entry points, as they would be written in pyproject.toml.
BUILTIN_CHECKS = {
    "conflict-marker": "aider_hooks.checks.conflict_markers:CHECK",
    "debugger": "aider_hooks.checks.debugger:CHECK",
    "secret": "aider_hooks.checks.secrets:CHECK",
    "syntax-error": "aider_hooks.checks.syntax:CHECK",
    "large-file": "aider_hooks.checks.large_file:CHECK",
}
BUILTIN_REPORTERS = {
    "text": "aider_hooks.reporters.text:render_text",
    "json": "aider_hooks.reporters.json_format:render_json",
    "sarif": "aider_hooks.reporters.sarif:render_sarif",
    "github": "aider_hooks.reporters.github_annotations:render_github",
    "markdown": "aider_hooks.reporters.markdown:render_markdown",
    "codequality": "aider_hooks.reporters.codequality:render_codequality",
}
FORMATS = tuple(BUILTIN_REPORTERS)  # the built-in output formats, in the order --help shows
_BUILTIN: dict[Kind, dict[str, str]] = {"check": BUILTIN_CHECKS, "reporter": BUILTIN_REPORTERS}


@dataclass(frozen=True)
class Plugin:
    """One check or reporter: where it comes from and how to load it."""

    name: str
    kind: Kind
    distribution: str
    version: str
    entry_point: str  # "module:attribute", as in pyproject.toml

    @property
    def builtin(self) -> bool:
        return self.distribution == DISTRIBUTION

    @property
    def label(self) -> str:
        """How messages name it: ``check 'secret'``, ``plugin check 'todo' (my-pkg 1.0)``."""
        if self.builtin:
            return f"{self.kind} {self.name!r}"
        return f"plugin {self.kind} {self.name!r} ({self.distribution} {self.version})"

    def load(self) -> object:
        """The object the entry point names (imports its module)."""
        import importlib

        module_name, _, attribute = self.entry_point.partition(":")
        target: object = importlib.import_module(module_name.strip())
        for part in attribute.split("[", 1)[0].strip().split(".") if attribute else ():
            target = getattr(target, part)
        return target


def plugins_disabled() -> bool:
    return os.environ.get(NO_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def find_plugins(kind: Kind) -> list[Plugin]:
    """Built-ins first, then installed third-party plugins (none with NO_PLUGINS set)."""
    found = builtin_plugins(kind)
    if not plugins_disabled():
        found += _installed(kind)
    return found


def builtin_plugins(kind: Kind) -> list[Plugin]:
    return [Plugin(name, kind, DISTRIBUTION, __version__, value)
            for name, value in _BUILTIN[kind].items()]


def find_plugin(kind: Kind, name: str) -> Plugin | None:
    """The plugin of that name; a built-in wins over a third-party one of the same name, and
    a built-in name is answered without scanning the installed distributions."""
    if name in _BUILTIN[kind]:
        return Plugin(name, kind, DISTRIBUTION, __version__, _BUILTIN[kind][name])
    return next((p for p in find_plugins(kind) if p.name == name), None)


@cache
def _installed(kind: Kind) -> list[Plugin]:
    if not _may_declare(GROUPS[kind]):
        return []  # the usual case: importlib.metadata (~20 ms with its email parser) unneeded
    from importlib.metadata import entry_points

    found: list[Plugin] = []
    for entry in entry_points(group=GROUPS[kind]):
        dist = entry.dist
        name = dist.name if dist is not None else "unknown"
        if name == DISTRIBUTION:
            continue  # our own distribution declares none; never load it twice
        version = dist.version if dist is not None else "?"
        found.append(Plugin(entry.name, kind, name, version, entry.value))
    return sorted(found, key=lambda p: (p.name, p.distribution))


def _may_declare(group: str) -> bool:
    """False only when no distribution ``importlib.metadata`` can see declares an entry point
    of ``group``: no ``*.dist-info``/``*.egg-info`` folder in a ``sys.path`` directory has an
    ``entry_points.txt`` that mentions it. Anything this scan cannot vouch for (a zip on the
    path, a meta-path finder of its own that lists distributions) answers True, and the full
    ``importlib.metadata`` search runs."""
    import sys

    from importlib.machinery import PathFinder

    if any(hasattr(finder, "find_distributions") and finder is not PathFinder
           for finder in sys.meta_path):
        return True
    needle = group.encode("utf-8")
    for entry in sys.path:
        try:
            listing = os.scandir(entry or ".")
        except NotADirectoryError:
            return True  # a zip file on the path
        except OSError:
            continue  # missing: nothing to find there
        with listing:
            for item in listing:
                if not item.name.lower().endswith((".dist-info", ".egg-info")):
                    continue
                try:
                    with open(os.path.join(item.path, "entry_points.txt"), "rb") as file:
                        if needle in file.read():
                            return True
                except (FileNotFoundError, NotADirectoryError):
                    continue  # no entry points (or an old single-file egg-info)
                except OSError:
                    return True
    return False


def failure_line(label: str, err: BaseException) -> str:
    """The one line a failing plugin costs: ``plugin check 'todo' (my-pkg 1.0) failed:
    ValueError: ...`` (whatever the exception says, on one line)."""
    detail = " ".join(str(err).split())[:300]
    return f"{label} failed: {type(err).__name__}" + (f": {detail}" if detail else "")

