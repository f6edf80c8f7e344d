"""The installed ``aider-review`` command, run as a user runs it, and the environment that
points it at the fake model server.

``run_cli`` is the one way tests start the command: a subprocess of the console script next to
this interpreter, the test's environment plus ``env``, optional bytes on stdin, a timeout.
Output is decoded leniently (it may hold any bytes a hostile input put there); a test that
needs the exact bytes (a patch in a file's own encoding) passes ``binary=True``.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Literal, overload

from testing.fake_model_server import FakeModelServer

EXE = Path(sys.executable).parent / "aider-review"
TEST_KEY = "sk-test-reliability-key-5f4e3d2c1b0a"


@overload
def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            stdin: bytes | None = None, timeout: float = 120,
            binary: Literal[False] = False) -> subprocess.CompletedProcess[str]: ...


@overload
def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            stdin: bytes | None = None, timeout: float = 120,
            binary: Literal[True]) -> subprocess.CompletedProcess[bytes]: ...


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            stdin: bytes | None = None, timeout: float = 120,
            binary: bool = False) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """Run ``aider-review *args`` in ``cwd``; ``env`` is added to the test's environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    result = subprocess.run([str(EXE), *args], cwd=cwd, env=full_env, input=stdin,
                            capture_output=True, check=False, timeout=timeout)
    if binary:
        return result
    return subprocess.CompletedProcess(
        result.args, result.returncode,
        result.stdout.decode("utf-8", errors="replace"),
        result.stderr.decode("utf-8", errors="replace"),
    )


def model_env(server: FakeModelServer, cache: Path, **extra: str) -> dict[str, str]:
    """Variables that send the command to ``server`` with a test key, caching in ``cache``."""
    return {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": TEST_KEY,
            "AIDER_REVIEW_CACHE": str(cache), **extra}
