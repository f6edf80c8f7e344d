"""The checks of a review: built-in and plugin checks, found and run the same way.

A check is ``check(ctx) -> Iterable[Finding]`` (``ctx`` is a ``CheckContext``). The built-in
ones are ``Check`` records (``checks/<name>.py``, listed in ``plugin_finder.BUILTIN_CHECKS``);
a plugin's callable is wrapped in one. ``run_checks`` runs every enabled check: a check that
fails to load or raises costs one notice naming it, never the run.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aider_hooks.checks.context import CheckContext, ReadNewFile
from aider_hooks.errors import AiderReviewError
from aider_hooks.finding import Finding

if TYPE_CHECKING:
    from aider_hooks.diff.parse import ChangedFile, HunkSet
    from aider_hooks.plugin_finder import Plugin
    from aider_hooks.results import ResultMemo
    from aider_hooks.checks.worker import EarlyChecks, WorkerPlan
    from aider_hooks.settings import Settings

CheckFunction = Callable[[CheckContext], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A check with its name, its callable and how it is run (built-in or plugin)."""
    name: str
    run: CheckFunction
    # True when the check reads the new file's full content (compile it, measure it): a pull
    # request reviewed on the API's diff has no files, so the bot cannot tell it "fixed".
    needs_file: bool = False
    options: tuple[str, ...] = ()  # the Settings fields it reads, handed over in ctx.options
    source: str = "builtin"
    label: str = field(default="", compare=False)  # how a failure notice names it
    # True when its findings for a file depend only on that file (its diff, new blob and
    # path) and its option values: then they are kept by blob id (aider_hooks/results.py).
    # Built-in checks only; a plugin may read anything, so it always runs.
    per_file: bool = False

    def describe(self) -> str:
        return self.label or f"check {self.name!r}"


@dataclass
class CheckRun:
    """What the checks of one run found, and the notices of those that failed."""
    findings: list[Finding]
    notices: list[str]


def builtin_checks() -> dict[str, Check]:
    """The built-in checks by name (imports their modules)."""
    from aider_hooks.plugin_finder import builtin_plugins

    return {plugin.name: _as_check(plugin, plugin.load()) for plugin in builtin_plugins("check")}


def needs_file(name: str) -> bool:
    """Whether the built-in check ``name`` reads whole files (False for any other name)."""
    check = builtin_checks().get(name)
    return check is not None and check.needs_file


def run_checks(hunk_set: HunkSet, *, read_new_file: ReadNewFile, settings: Settings,
               checks: Sequence[Check] | None = None, memo: ResultMemo | None = None,
               worker: WorkerPlan | None = None, in_worker: bool = False,
               early: EarlyChecks | None = None) -> CheckRun:
    """Every enabled check (or ``checks``) on the checked files of ``hunk_set``; findings
    sorted. With ``memo``, a ``per_file`` built-in check runs only on the files whose result
    for the same blob, hunks and options is not remembered from an earlier run. With
    ``worker`` (``in_worker``: the default plan, ``worker_plan()``), enough such files go to
    a child process (checks/worker.py), or they went already as the diff was parsed
    (``early``, from ``early_checks``); the findings are the same either way."""
    if in_worker and worker is None:
        from aider_hooks.checks.worker import worker_plan  # only then: it is not light

        worker = worker_plan()
    run = CheckRun([], [])
    if checks is None:
        checks = load_checks(settings, run.notices)
    if not checks:
        if early is not None:
            early.finish()
        return run
    files = tuple(f for f in hunk_set.files if _is_checked(f, settings))
    blobs = _BlobCache(read_new_file)
    if early is None and worker is not None and len(files) >= worker.min_files:
        early = early_checks(read_new_file, settings, memo, worker)
        if early is not None:
            early.add(files)
    file_keys: dict[int, str] = {}
    done: dict[str, dict[int, list[Finding]]] = {}
    if early is not None:
        by_file = early.finish()
        file_keys = early.lookup.file_keys
        done = {name: {index: found[id(file)] for index, file in enumerate(files)
                       if id(file) in found}
                for name, found in by_file.items()}
    remembered = _Remembered(memo, files, blobs, file_keys) if memo is not None else None
    for check in checks:
        options = _option_values(check, settings)
        computed = done.get(check.name) if _is_per_file_builtin(check) else None
        try:
            if remembered is not None and _is_per_file_builtin(check):
                run.findings += remembered.findings(check, options, computed)
            elif computed is not None and len(computed) == len(files):
                run.findings += [finding for index in range(len(files))
                                 for finding in computed[index]]
            else:
                ctx = CheckContext(files=files, read_new_file=blobs, source=check.source,
                                   options=options)
                run.findings += findings_of(check, ctx)
        except Exception as err:  # noqa: BLE001 - a check's bug costs its findings, not the run
            from aider_hooks.plugin_finder import failure_line

            run.notices.append(failure_line(check.describe(), err))
    if remembered is not None:
        remembered.keep()
    run.findings.sort(key=lambda f: (*f.sort_key(), f.category))
    return run


def early_checks(read_new_file: ReadNewFile, settings: Settings, memo: ResultMemo | None,
                 plan: WorkerPlan) -> EarlyChecks | None:
    """A child process for the enabled ``per_file`` built-in checks, fed files (``add``) as
    they are parsed, for ``run_checks(early=...)``; None when no such check is enabled."""
    from functools import partial

    from aider_hooks.checks.worker import EarlyChecks

    if not settings.builtin_checks:
        return None
    turned_off = _turned_off(settings)
    chosen = [check for name, check in builtin_checks().items()
              if name not in turned_off and _is_per_file_builtin(check)]
    if not chosen:
        return None
    options = {check.name: _option_values(check, settings) for check in chosen}
    lookup = _Misses(chosen, options, memo, lambda file: _is_checked(file, settings))
    # Read with _BlobCache's rule but kept by no one: the files go to the child once, and
    # memory stays what it was.
    return EarlyChecks(options, lookup, partial(_read_or_none, read_new_file), plan)


def _is_per_file_builtin(check: Check) -> bool:
    return check.per_file and check.source == "builtin"


class _Misses:
    """For a batch of files: which checks are not remembered for each (all of them without
    a memo; none for a file the checks skip). Keeps each file's part of the result key, so
    that ``run_checks`` does not read and digest the files again."""

    def __init__(self, checks: Sequence[Check], options: Mapping[str, Mapping[str, Any]],
                 memo: ResultMemo | None, is_checked: Callable[[ChangedFile], bool]) -> None:
        self._checks = checks
        self._options = options
        self._memo = memo
        self._is_checked = is_checked
        self.file_keys: dict[int, str] = {}  # by id() of the file

    def __call__(self, files: Sequence[ChangedFile],
                 blobs: ReadNewFile) -> list[tuple[str, ...]]:
        wanted: list[list[str]] = [[] for _ in files]
        checked = [index for index, file in enumerate(files) if self._is_checked(file)]
        if self._memo is None:
            for index in checked:
                wanted[index] = [check.name for check in self._checks]
            return [tuple(names) for names in wanted]
        batch = tuple(files[index] for index in checked)
        remembered = _Remembered(self._memo, batch, blobs)
        for check in self._checks:
            for position in remembered.misses(check, self._options[check.name]):
                wanted[checked[position]].append(check.name)
        self.file_keys.update(remembered.file_keys())
        return [tuple(names) for names in wanted]


class _Remembered:
    """Per-file results of the ``per_file`` built-in checks, by a key of the check (name,
    option values, code version) and the file (path, status, git blob id, hunks)."""

    def __init__(self, memo: ResultMemo, files: tuple[ChangedFile, ...],
                 blobs: ReadNewFile, file_keys: Mapping[int, str] | None = None) -> None:
        self._memo = memo
        self._files = files
        self._blobs = blobs
        self._known_file_keys = file_keys or {}  # by id() of the file, computed earlier
        self._file_keys: list[str] | None = None
        self._new: dict[str, str] = {}
        self._looked_up: dict[tuple[str, str], tuple[list[str], dict[int, list[Finding]]]] = {}

    def misses(self, check: Check, options: Mapping[str, Any]) -> list[int]:
        """The indexes of the files whose result of ``check`` is not remembered."""
        _, known = self._lookup(check, options)
        return [index for index in range(len(self._files)) if index not in known]

    def findings(self, check: Check, options: Mapping[str, Any],
                 computed: Mapping[int, list[Finding]] | None = None) -> list[Finding]:
        """The check's findings on every file: remembered, else ``computed`` (by file index,
        from the worker), else found now; the new ones are remembered."""
        from aider_hooks.results import holds_secret

        keys, known = self._lookup(check, options)
        found: list[Finding] = []
        new: dict[str, str] = {}
        for index, (file, key) in enumerate(zip(self._files, keys)):
            remembered = known.get(index)
            if remembered is None:
                remembered = computed.get(index) if computed is not None else None
                if remembered is None:
                    ctx = CheckContext(files=(file,), read_new_file=self._blobs,
                                       source=check.source, options=options)
                    remembered = findings_of(check, ctx)
                if not holds_secret(remembered):  # a secret's text never goes into the file
                    new[key] = _findings_to_json(remembered)
            found += remembered
        self._new.update(new)  # only when the check ran on every file without raising
        return found

    def _lookup(self, check: Check, options: Mapping[str, Any]
                ) -> tuple[list[str], dict[int, list[Finding]]]:
        """The check's result key per file, and the readable remembered results by file
        index; looked up once per check and options."""
        what = repr(sorted(options.items()))
        if (check.name, what) not in self._looked_up:
            from aider_hooks.results import result_key

            keys = [result_key("check", check.name, what, file_key) for file_key in self._keys()]
            stored = self._memo.get_many(keys)
            known: dict[int, list[Finding]] = {}
            for index, key in enumerate(keys):
                findings = _findings_from_json(stored[key]) if key in stored else None
                if findings is not None:
                    known[index] = findings
            self._looked_up[(check.name, what)] = (keys, known)
        return self._looked_up[(check.name, what)]

    def keep(self) -> None:
        for key, value in self._new.items():
            self._memo.put(key, value)

    def file_keys(self) -> dict[int, str]:
        """Each file's part of the result keys, by ``id()`` of the file."""
        return {id(file): key for file, key in zip(self._files, self._keys())}

    def _keys(self) -> list[str]:
        if self._file_keys is None:
            from aider_hooks.results import blob_id

            known = self._known_file_keys
            self._file_keys = [
                known.get(id(f)) or repr((f.path, f.old_path, f.status, f.is_binary,
                                          blob_id(self._blobs(f.path)), _hunks_digest(f)))
                for f in self._files]
        return self._file_keys


def _hunks_digest(file: ChangedFile) -> str:
    """A digest of every line of the file's hunks a check can see (numbers and text)."""
    import hashlib

    digest = hashlib.sha256()
    for hunk in file.hunks:
        digest.update(repr((hunk.context_before,
                            [(ln.kind, ln.text, ln.new_lineno, ln.old_lineno) for ln in hunk.lines],
                            hunk.context_after)).encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _findings_to_json(findings: list[Finding]) -> str:
    import json
    from dataclasses import fields

    names = [f.name for f in fields(Finding)]
    return json.dumps([{name: getattr(f, name) for name in names} for f in findings])


def _findings_from_json(text: str) -> list[Finding] | None:
    """The findings a result holds, or None when it cannot be read (then the check runs)."""
    import json

    try:
        return [Finding(**item) for item in json.loads(text)]
    except (ValueError, TypeError):
        return None


def load_checks(settings: Settings, notices: list[str]) -> list[Check]:
    """The enabled checks: built-ins unless ``builtin-checks = false``, installed plugins
    unless AIDER_REVIEW_NO_PLUGINS; minus every ``-name`` of the ``checks`` setting."""
    from aider_hooks.plugin_finder import failure_line, find_plugins, plugins_disabled

    turned_off = _turned_off(settings)
    checks: list[Check] = []
    known: set[str] = set()
    for plugin in find_plugins("check"):  # built-ins first
        if plugin.name in known:
            continue  # a built-in keeps its name (turned off or not); of two plugins, the first
        known.add(plugin.name)
        if plugin.name in turned_off or (plugin.builtin and not settings.builtin_checks):
            continue
        try:
            checks.append(_as_check(plugin, plugin.load()))
        except Exception as err:  # noqa: BLE001 - ImportError and whatever its module raises
            notices.append(failure_line(plugin.label, err))
    unknown = sorted(turned_off - known)
    if unknown and not plugins_disabled():  # with plugins off, their names are unknown here
        notices.append(f"checks setting: unknown check {', '.join(map(repr, unknown))} ignored "
                       f"(known: {', '.join(sorted(known))})")
    return checks


def _turned_off(settings: Settings) -> set[str]:
    """The checks the ``checks`` setting turns off (its ``-name`` entries)."""
    return {entry[1:] for entry in settings.checks}


def _as_check(plugin: Plugin, loaded: object) -> Check:
    if plugin.builtin and isinstance(loaded, Check):
        return loaded
    if not callable(loaded):
        raise TypeError(f"{plugin.entry_point} is not callable")
    return Check(plugin.name, loaded, source=f"plugin:{plugin.name}", label=plugin.label)


def findings_of(check: Check, ctx: CheckContext) -> list[Finding]:
    findings = []
    for finding in check.run(ctx):
        if not isinstance(finding, Finding):
            raise TypeError(f"returned {type(finding).__name__}, not a Finding")
        if finding.source != check.source:  # a plugin cannot pass for a built-in or the model
            from dataclasses import replace

            finding = replace(finding, source=check.source, fingerprint="")
        findings.append(finding)
    return findings


def _is_checked(file: ChangedFile, settings: Settings) -> bool:
    """Reviewed, or binary (binary files are never reviewed) and not excluded; never deleted."""
    if file.status == "deleted":
        return False
    if file.skipped_reason is None:
        return True
    if not file.is_binary:
        return False
    from aider_hooks.diff.paths import exclusion

    return exclusion(file.path, settings) is None


class _BlobCache:
    """``read_new_file`` once per path: several checks read the same file; a read error
    means no file (the checks that need one skip the path)."""

    __slots__ = ("_read", "_blobs")

    def __init__(self, read_new_file: ReadNewFile) -> None:
        self._read = read_new_file
        self._blobs: dict[str, bytes | None] = {}

    def __call__(self, path: str) -> bytes | None:
        if path not in self._blobs:
            self._blobs[path] = _read_or_none(self._read, path)
        return self._blobs[path]


def _read_or_none(read_new_file: ReadNewFile, path: str) -> bytes | None:
    """The new file, or None when it cannot be read (the checks that need one skip it)."""
    try:
        return read_new_file(path)
    except (OSError, ValueError, AiderReviewError):
        return None


def _option_values(check: Check, settings: Settings) -> Mapping[str, Any]:
    """Only the values the check declared: a check never holds ``Settings`` (nor the key)."""
    return MappingProxyType({name: getattr(settings, name) for name in check.options})
