"""Lazy type packages: the openai SDK imports in half the time and behaves the same.

The mechanism is tried on small packages written to a temp dir (so each test starts from a
clean ``sys.modules``), then on the real SDK in child processes: a real review through the
CLI against the local model server, with and without ``AIDER_REVIEW_EAGER_SDK=1``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aider_hooks.model.sdk_import import import_with_lazy_packages, lazy_packages, pending_packages
from testing.cli import model_env
from testing.reliability_support import stage_bug_files, write_config

ROOT = Path(__file__).resolve().parent.parent


# --- the mechanism, on packages of our own ----------------------------------------------------

def write_package(root: Path, files: dict[str, str]) -> str:
    """Write a package with a unique name under ``root``; return its name."""
    name = f"lazy_probe_{uuid.uuid4().hex[:10]}"
    for relative, text in files.items():
        target = root / name / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).replace("PKG", name))
    return name


# A package shaped like the SDK: the top level imports one leaf module of ``types`` directly;
# ``types/__init__`` re-exports everything and records that it ran.
SDK_SHAPED = {
    "__init__.py": """
        from . import log
        from .types.leaf import Thing
        from . import types
    """,
    "log.py": "RAN: list[str] = []\n",
    "types/__init__.py": """
        import time
        from PKG import log
        time.sleep(float(__import__("os").environ.get("LAZY_PROBE_SLEEP", "0")))
        log.RAN.append("types")
        from .leaf import Thing as Thing
        from .nested import Other as Other
        __all__ = ["Thing", "Other"]
    """,
    "types/leaf.py": "class Thing:\n    pass\n",
    "types/nested/__init__.py": """
        from PKG import log
        log.RAN.append("nested")
        from .deep import Other as Other
    """,
    "types/nested/deep.py": "class Other:\n    pass\n",
    "later/__init__.py": "from PKG import log\nlog.RAN.append('later')\n",
}


@pytest.fixture
def on_path(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.startswith("lazy_probe_")]:
            del sys.modules[name]


def load(on_path: Path, files: dict[str, str] = SDK_SHAPED) -> tuple[str, ModuleType]:
    name = write_package(on_path, files)
    return name, import_with_lazy_packages(name, f"{name}.types")


def test_a_lazy_package_runs_its_init_only_when_asked_for_a_name_it_lacks(on_path: Path) -> None:
    name, package = load(on_path)
    log = sys.modules[f"{name}.log"]
    assert package.Thing is sys.modules[f"{name}.types.leaf"].Thing  # the import worked
    assert log.RAN == []  # ...without running either re-export list
    assert f"{name}.types" in pending_packages()

    assert package.types.Other is sys.modules[f"{name}.types.nested.deep"].Other
    assert package.types.Thing is package.Thing  # the very same objects as an eager import
    assert log.RAN == ["types", "nested"]
    package.types.Other  # noqa: B018 - asking again runs nothing again
    assert log.RAN == ["types", "nested"]
    assert f"{name}.types" not in pending_packages()


def test_eight_threads_asking_at_once_run_the_init_once_and_all_get_the_name(
        on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZY_PROBE_SLEEP", "0.2")  # a wide window for the threads to collide
    name, package = load(on_path)
    barrier = threading.Barrier(8)
    got: list[Any] = []

    def ask() -> None:
        barrier.wait()
        got.append(package.types.Other)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert got == [sys.modules[f"{name}.types.nested.deep"].Other] * 8
    assert sys.modules[f"{name}.log"].RAN.count("types") == 1


def test_dir_star_import_and_missing_names_behave_as_for_an_eager_package(on_path: Path) -> None:
    name, package = load(on_path)
    assert {"Thing", "Other", "leaf", "nested"} <= set(dir(package.types))
    namespace: dict[str, Any] = {}
    exec(f"from {name}.types import *", namespace)  # noqa: S102 - a star import, on purpose
    assert {"Thing", "Other"} <= set(namespace)
    with pytest.raises(AttributeError, match=f"module '{name}.types' has no attribute 'Nope'"):
        package.types.Nope  # noqa: B018
    assert not hasattr(package.types, "Nope")


def test_only_the_one_import_is_affected(on_path: Path) -> None:
    before = list(sys.meta_path)
    name, package = load(on_path)
    assert sys.meta_path == before  # the finder is gone
    __import__(f"{name}.later")
    assert sys.modules[f"{name}.log"].RAN == ["later"]  # an ordinary package, imported eagerly
    with lazy_packages(f"{name}.later_not_there"):
        pass
    assert sys.meta_path == before


def test_a_package_that_needs_its_types_init_at_import_is_imported_the_ordinary_way(
        on_path: Path) -> None:
    files = dict(SDK_SHAPED)
    files["__init__.py"] = """
        from . import log
        from . import types
        if "types" not in log.RAN:
            raise RuntimeError("types/__init__ has not run")  # an order-dependent package
    """
    name, package = load(on_path, files)
    assert sys.modules[f"{name}.log"].RAN == ["types", "nested"]  # eager, once
    assert package.types.Other is sys.modules[f"{name}.types.nested.deep"].Other
    assert f"{name}.types" not in pending_packages()


def test_a_missing_package_is_still_an_import_error(on_path: Path) -> None:
    with pytest.raises(ImportError):
        import_with_lazy_packages("lazy_probe_not_installed", "lazy_probe_not_installed.types")


def test_an_error_in_a_deferred_init_reaches_whoever_asked(on_path: Path) -> None:
    files = dict(SDK_SHAPED)
    files["__init__.py"] = "from .types.nested.deep import Other\n"
    files["types/nested/__init__.py"] = "raise ValueError('broken re-export list')\n"
    name, package = load(on_path, files)
    assert package.Other is sys.modules[f"{name}.types.nested.deep"].Other
    with pytest.raises(ValueError, match="broken re-export list"):
        sys.modules[f"{name}.types.nested"].Other  # noqa: B018


# --- the real SDK, in child processes ---------------------------------------------------------

# Runs the CLI in-process and reports what the SDK import left undone and whether any
# deferred __init__ ran after the import had returned: by then worker threads send requests
# at once, and a deferred __init__ could race an import in another thread. The design says
# it never happens on a review path.
PROBE = """
import json, sys, threading
from aider_hooks.model import openai_backend as model_client
from aider_hooks.model import sdk_import
from aider_hooks.cli.main import main

imported = threading.Event()
late: list[str] = []
original_import, original_init = model_client.import_openai, sdk_import._run_deferred_init

def import_openai():
    module = original_import()
    imported.set()
    return module

def run_deferred_init(module):
    if imported.is_set() and module.__name__ in sdk_import.pending_packages():
        late.append(module.__name__)
    original_init(module)

model_client.import_openai = import_openai
sdk_import._run_deferred_init = run_deferred_init
code = main(sys.argv[1:])
sys.stdout.flush()
print(json.dumps({"code": code, "late": late, "pending": sorted(sdk_import.pending_packages()),
                  "types_modules": sum(n.startswith("openai.types") for n in sys.modules)}),
      file=sys.stderr)
"""


def probe(repo: Path, env: dict[str, str], *args: str) -> tuple[dict[str, Any], str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
    run = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=repo, env=full_env,
                         capture_output=True, text=True, timeout=120, check=False)
    facts = json.loads(run.stderr.strip().splitlines()[-1])
    assert "Traceback" not in run.stderr, run.stderr
    return facts, run.stdout


@pytest.mark.slow
def test_a_review_through_the_real_sdk_finds_the_same_without_building_the_type_catalogue(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage_bug_files(git_repo, files=6)
    write_config(git_repo, batch_tokens=100, concurrency=4)
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    lazy, lazy_report = probe(git_repo, env, "--no-cache", "--format", "json")
    eager, eager_report = probe(git_repo, {**env, "AIDER_REVIEW_EAGER_SDK": "1"},
                                "--no-cache", "--format", "json")

    assert lazy["code"] == eager["code"] == 1  # the six BUG lines are errors
    findings = [json.loads(report)["findings"] for report in (lazy_report, eager_report)]
    assert findings[0] == findings[1] and len(findings[0]) == 6
    assert "openai.types" in lazy["pending"] and eager["pending"] == []
    assert lazy["types_modules"] * 3 < eager["types_modules"]  # most of the catalogue unbuilt
    assert lazy["late"] == []


@pytest.mark.slow
def test_faults_retries_and_streaming_never_run_a_deferred_init_in_a_worker(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage_bug_files(git_repo, files=8)
    write_config(git_repo, batch_tokens=100, concurrency=8)
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    model_server.script = [{"status": 429, "retry_after": 0.01}, 500, "garbage", "invalid_json",
                           "reset", {"kind": "stream_cut", "after": 0, "abrupt": True},
                           {"status": 400, "message": "bad request"}, "fenced"]
    review, _ = probe(git_repo, env, "--no-cache", "--format", "json")
    assert review["late"] == []
    model_server.script = [{"kind": "stream_cut", "after": 0}, 503]
    explain, text = probe(git_repo, env, "explain", "--no-cache")
    assert explain["code"] == 0 and "pkg/mod_000.py" in text
    assert explain["late"] == []


@pytest.mark.slow
def test_every_name_of_the_sdk_still_resolves_after_a_lazy_import() -> None:
    names_of_types = "sorted(n for n in dir(types) if not n.startswith('_'))"
    eager = f"""
import json
import openai.types as types
print(json.dumps({names_of_types}))
"""
    lazy = f"""
import json
from aider_hooks.model.sdk_import import import_openai, pending_packages
openai = import_openai()
assert "openai.types" in pending_packages()
from openai import *  # the SDK's whole public surface
import openai.types as types
assert types.chat.ChatCompletion is types.chat.chat_completion.ChatCompletion
assert types.Batch is types.batch.Batch
print(json.dumps({names_of_types}))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    names = [json.loads(subprocess.run([sys.executable, "-c", script], env=env,
                                       capture_output=True, text=True, timeout=120,
                                       check=True).stdout)
             for script in (eager, lazy)]
    assert len(names[0]) > 100 and names[0] == names[1]
