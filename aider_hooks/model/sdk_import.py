"""Import the openai SDK without building its whole catalogue of API types first.

``import openai`` runs ``openai/types/__init__.py``, which re-exports the request and response
types of every API the SDK covers: some 400 modules and well over a thousand pydantic classes,
about half of the SDK's 0.45 s import on the 2-core machine this project is built on (the
upstream report is openai/openai-python#2819). A review uses a few dozen of them, and every
review that asks a model waits for that import before its first request can leave.

``import_openai()`` imports the SDK with each *package* under ``openai.types`` made lazy: the
package module exists at once, so its submodules import as usual, but its ``__init__`` (the
re-export list) runs only when someone asks the package for a name it does not have yet.
Every name still resolves, to the very same object; only when the work happens changes. It
halves the SDK import here (``python benchmarks/run.py`` shows the start-up before the first
request).

Why this is safe enough for a commit hook:

- only the one ``import openai`` is affected: the finder sits on ``sys.meta_path`` while that
  import runs and is removed after it, and it touches nothing but packages under
  ``openai.types``;
- a lock runs each deferred ``__init__`` once, however many threads ask at the same time;
- if the lazy import fails in any way, the half-imported SDK is discarded and imported again
  the ordinary way, so the worst case is today's cost, not an error;
- ``AIDER_REVIEW_EAGER_SDK=1`` turns it off (to rule it out when reporting a bug).

``lazy_packages(prefix)`` is the general mechanism, ``import_openai()`` its one use.
Nothing on the review path asks a lazy package for a name after the import (the suite checks
it), so the deferred ``__init__`` of ``openai.types`` itself never runs in a review.
"""
from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder
from types import ModuleType
from typing import Any

EAGER_ENV = "AIDER_REVIEW_EAGER_SDK"
SDK_PACKAGE = "openai"
LAZY_PREFIX = "openai.types"
DEFERRED_INIT_WAIT = 30.0  # seconds; a deferred __init__ takes well under one

_import_lock = threading.Lock()
_sdk: ModuleType | None = None  # set once the SDK is fully imported
# One lock for every deferred __init__: re-entrant, because an __init__ may import a module
# that asks another lazy package (or its own, for a name defined earlier) for a name.
_deferred_lock = threading.RLock()
_pending: dict[str, Loader] = {}  # lazy package name -> the loader that runs its __init__


def import_openai() -> ModuleType:
    """The ``openai`` module, imported with lazy type packages the first time it is needed.

    Thread-safe: the first caller imports, the others wait for it. (``sys.modules`` is no
    guide here: the SDK appears there as soon as its import *starts*.)
    """
    global _sdk
    if _sdk is None:
        with _import_lock:
            if _sdk is None:
                _sdk = _import_sdk()
    return _sdk


def _import_sdk() -> ModuleType:
    eager = os.environ.get(EAGER_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    if SDK_PACKAGE in sys.modules or eager:
        return importlib.import_module(SDK_PACKAGE)
    return import_with_lazy_packages(SDK_PACKAGE, LAZY_PREFIX)


def import_with_lazy_packages(package: str, lazy_prefix: str) -> ModuleType:
    """Import ``package`` with the packages under ``lazy_prefix`` lazy; else the ordinary way.

    Deferring an ``__init__`` changes the order modules run in, which a package may not
    survive; then the half-imported package is dropped and imported again eagerly.
    """
    try:
        with lazy_packages(lazy_prefix):
            return importlib.import_module(package)
    except ImportError as exc:
        if exc.name == package:  # not installed: importing again will not help
            raise
        _forget(package)
    except Exception:  # any surprise from deferring: pay for the ordinary import instead
        _forget(package)
    return importlib.import_module(package)


@contextmanager
def lazy_packages(prefix: str) -> Iterator[None]:
    """While inside, packages named ``prefix`` or ``prefix.*`` are imported lazily."""
    finder = _LazyPackageFinder(prefix)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


class LazyPackage(ModuleType):
    """A package whose ``__init__`` runs on the first lookup of a name it does not have."""

    def __getattr__(self, name: str) -> Any:
        _run_deferred_init(self)
        try:
            return self.__dict__[name]
        except KeyError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}") from None

    def __dir__(self) -> list[str]:
        _run_deferred_init(self)
        return sorted(self.__dict__)


def pending_packages() -> frozenset[str]:
    """The lazy packages whose ``__init__`` has not run yet."""
    with _deferred_lock:
        return frozenset(_pending)


def _run_deferred_init(module: ModuleType) -> None:
    # A deferred __init__ runs outside the import system's own locks, so a thread that holds
    # one of those and waits here could wait forever; give up instead (the caller sees an
    # ImportError, which a model request reports as failed rather than hanging the commit).
    # The test suite checks that no review path runs a deferred __init__ after the import.
    if not _deferred_lock.acquire(timeout=DEFERRED_INIT_WAIT):
        raise ImportError(f"gave up waiting for {module.__name__} to finish importing",
                          name=module.__name__)
    try:
        loader = _pending.pop(module.__name__, None)
        if loader is not None:
            loader.exec_module(module)
    finally:
        _deferred_lock.release()


class _DeferredInit(Loader):
    """Creates the package module now and keeps ``loader`` to run its ``__init__`` later."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        return LazyPackage(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        with _deferred_lock:
            _pending[module.__name__] = self._loader


class _LazyPackageFinder(MetaPathFinder):
    def __init__(self, prefix: str) -> None:
        self._prefix = prefix

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname != self._prefix and not fullname.startswith(self._prefix + "."):
            return None
        spec = PathFinder.find_spec(fullname, path)
        if (spec is None or spec.submodule_search_locations is None  # a plain module
                or spec.loader is None or not hasattr(spec.loader, "exec_module")):
            return spec
        spec.loader = _DeferredInit(spec.loader)
        return spec


def _forget(package: str) -> None:
    """Drop ``package`` and its submodules from ``sys.modules`` so they import afresh."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        sys.modules.pop(name, None)
    with _deferred_lock:
        for name in [n for n in _pending if n == package or n.startswith(package + ".")]:
            del _pending[name]
