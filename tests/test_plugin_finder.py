"""Plugin discovery: the cheap scan of sys.path that spares importlib.metadata when nothing
installed declares a check or a reporter, and finds every distribution that does.

Real distributions' metadata folders in a temp dir on sys.path (what pip writes for a wheel,
what `setup.py develop` leaves in a source tree); tests/test_plugins.py installs the example
plugin with pip and runs the installed command.
"""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from aider_hooks import plugin_finder
from aider_hooks.plugin_finder import find_plugin, find_plugins

ROOT = Path(__file__).resolve().parent.parent


def _distribution(site: Path, name: str, entry_points: str | None, *,
                  suffix: str = ".dist-info") -> None:
    meta = site / f"{name}-1.0{suffix}"
    meta.mkdir(parents=True)
    header = "Metadata-Version: 2.1\n" if suffix == ".dist-info" else "Metadata-Version: 1.0\n"
    (meta / ("METADATA" if suffix == ".dist-info" else "PKG-INFO")).write_text(
        f"{header}Name: {name}\nVersion: 1.0\n")
    if entry_points is not None:
        (meta / "entry_points.txt").write_text(entry_points)
    (site / f"{name.replace('-', '_')}.py").write_text(
        "def check(ctx):\n    return []\n\ndef report(view):\n    return ''\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "site"
    folder.mkdir()
    monkeypatch.syspath_prepend(str(folder))
    plugin_finder._installed.cache_clear()
    yield folder
    plugin_finder._installed.cache_clear()


def test_a_wheel_installed_check_is_found(site: Path) -> None:
    _distribution(site, "todo-check", "[aider_review.checks]\ntodo = todo_check:check\n")
    found = [p for p in find_plugins("check") if not p.builtin]
    assert [(p.name, p.distribution, p.entry_point) for p in found] == [
        ("todo", "todo-check", "todo_check:check")]
    assert find_plugin("reporter", "todo") is None  # another group


def test_a_development_install_egg_info_reporter_is_found(site: Path) -> None:
    # `setup.py develop` (an old-style editable install) leaves NAME.egg-info in the source
    # tree, which is on sys.path.
    _distribution(site, "csv-report", "[aider_review.reporters]\ncsv = csv_report:report\n",
                  suffix=".egg-info")
    plugin = find_plugin("reporter", "csv")
    assert plugin is not None and plugin.distribution == "csv-report"
    assert callable(plugin.load())


def test_distributions_with_other_entry_points_are_no_plugins(site: Path) -> None:
    _distribution(site, "some-tool", "[console_scripts]\nsome-tool = some_tool:check\n")
    _distribution(site, "no-entry-points", None)
    assert plugin_finder._may_declare("aider_review.checks") is False
    assert all(p.builtin for p in find_plugins("check"))


def test_a_zip_on_the_path_is_searched_the_full_way(site: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    archive = site.parent / "plugins.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("zipped_check-1.0.dist-info/METADATA",
                        "Metadata-Version: 2.1\nName: zipped-check\nVersion: 1.0\n")
        zipped.writestr("zipped_check-1.0.dist-info/entry_points.txt",
                        "[aider_review.checks]\nzipped = zipped_check:check\n")
        zipped.writestr("zipped_check.py", "def check(ctx):\n    return []\n")
    monkeypatch.syspath_prepend(str(archive))
    assert plugin_finder._may_declare("aider_review.checks") is True
    assert "zipped" in {p.name for p in find_plugins("check")}


def test_with_no_plugin_installed_importlib_metadata_is_never_imported(site: Path) -> None:
    _distribution(site, "some-tool", "[console_scripts]\nsome-tool = some_tool:check\n")
    script = ("import sys\n"
              "from aider_hooks.plugin_finder import find_plugins\n"
              "names = [p.name for p in find_plugins('check') + find_plugins('reporter')]\n"
              "print(len(names), 'importlib.metadata' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("AIDER_REVIEW_NO_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    builtins = len(plugin_finder.BUILTIN_CHECKS) + len(plugin_finder.BUILTIN_REPORTERS)
    assert done.stdout.split() == [str(builtins), "False"]
