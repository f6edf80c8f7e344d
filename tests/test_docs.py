"""The documentation is self-contained and says what the code does.

- No document in the repository points at the team's internal design file: users never see it.
- Relative links between the documents lead to files and headings that exist.
- ``docs/cli.md`` documents every option, command and choice of the real argparse parser, and
  nothing else.
- ``docs/configuration.md`` lists exactly the keys a configuration file accepts, with the
  defaults, flags and environment variables the code uses.

Every list here is derived from the parser and the settings module, never written out, so a
new option or key fails a test until it is documented.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import pkgutil
import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CLI_DOC = DOCS / "cli.md"
CONFIG_DOC = DOCS / "configuration.md"
REFERENCE_PAGES = ("README.md", "cli.md", "configuration.md", "json-output.md",
                   "answer-formats.md")

# ---------------------------------------------------------------------------------------------
# No pointer to the internal design file

# Files users read besides docs/**/*.md and every other Markdown file of the repository.
NAMED_DOCUMENTS = ("README.md", "ARCHITECTURE.md", "RELIABILITY.md", "action.yml",
                   "pyproject.toml", ".pre-commit-hooks.yaml", "LICENSE")
FORBIDDEN = (
    (re.compile(re.escape("../shared")), "../shared"),
    (re.compile(re.escape("DESIGN.md")), "DESIGN.md"),
    (re.compile(r"\bDESIGN\s*§"), "DESIGN §"),
)
# Not documents: version control, environments, caches, build output.
_SKIP_DIRS = {"build", "dist", "node_modules", "__pycache__"}


def documents() -> list[Path]:
    found = {ROOT / name for name in NAMED_DOCUMENTS if (ROOT / name).is_file()}
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in _SKIP_DIRS
                   and not d.endswith(".egg-info")]
        found.update(Path(folder) / name for name in files if name.endswith(".md"))
    return sorted(found)


def test_the_reference_pages_exist() -> None:
    missing = [name for name in REFERENCE_PAGES if not (DOCS / name).is_file()]
    assert not missing, f"docs/ lacks {missing}"
    assert (ROOT / "LICENSE").is_file()


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_document_points_at_the_internal_design_file(path: Path) -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {shown!r} in {line.strip()!r}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        for pattern, shown in FORBIDDEN
        if pattern.search(line)
    ]
    assert not hits, "users never see the design file; link docs/ instead:\n" + "\n".join(hits)


def test_the_scan_covers_the_documents_it_should() -> None:
    scanned = {p.relative_to(ROOT).as_posix() for p in documents()}
    assert {"README.md", "action.yml", "pyproject.toml"} <= scanned
    assert {f"docs/{name}" for name in REFERENCE_PAGES} <= scanned


# ---------------------------------------------------------------------------------------------
# Links

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces -> '-'."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return {github_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*)$", text, re.MULTILINE)}


@pytest.mark.parametrize("path", [p for p in documents() if p.suffix == ".md"],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_somewhere(path: Path) -> None:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no such heading")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


# ---------------------------------------------------------------------------------------------
# docs/cli.md and the parser

# An option at the start of an inline code span: `--model NAME`, `-o -`, `--diff -`.
_DOCUMENTED_OPTION = re.compile(r"`(-{1,2}[A-Za-z][A-Za-z0-9-]*)")


def build_parser() -> argparse.ArgumentParser:
    """The real parser: ``build_parser()`` of the module that the ``aider-review`` script of
    pyproject.toml runs (so the test follows the command line when the package moves)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entry = project["scripts"]["aider-review"]  # "package.module:main"
    for name in (entry.partition(":")[0], "aider_hooks.cli"):
        factory = getattr(importlib.import_module(name), "build_parser", None)
        if callable(factory):
            parser = factory()
            assert isinstance(parser, argparse.ArgumentParser)
            return parser
    raise AssertionError(f"no build_parser() next to the aider-review entry point {entry}")


def commands() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """("aider-review", the root parser), then ("aider-review review", its parser), ..."""
    stack: list[tuple[str, argparse.ArgumentParser]] = [("aider-review", build_parser())]
    while stack:
        name, parser = stack.pop(0)
        yield name, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub_name, sub in action.choices.items():
                    stack.append((f"{name} {sub_name}", sub))


def parser_options() -> dict[str, set[str]]:
    """Every option string of every command -> the commands that take it."""
    options: dict[str, set[str]] = {}
    for name, parser in commands():
        for action in parser._actions:
            for option in action.option_strings:
                options.setdefault(option, set()).add(name)
    return options


def cli_text() -> str:
    return CLI_DOC.read_text(encoding="utf-8")


def test_the_parser_walk_finds_the_commands() -> None:
    names = [name for name, _ in commands()]
    assert len(names) > 2 and "aider-review review" in names  # the walk is not vacuous


def test_every_documented_option_exists() -> None:
    real = parser_options()
    documented = set(_DOCUMENTED_OPTION.findall(cli_text()))
    unknown = sorted(documented - set(real))
    assert not unknown, f"docs/cli.md documents options the parser does not have: {unknown}"


def test_every_option_is_documented() -> None:
    documented = set(_DOCUMENTED_OPTION.findall(cli_text()))
    missing = {option: sorted(where) for option, where in parser_options().items()
               if option not in documented}
    assert not missing, f"options missing from docs/cli.md (option: commands): {missing}"


def test_every_command_and_choice_is_documented() -> None:
    text = cli_text()
    missing = []
    for name, parser in commands():
        if name != "aider-review" and f"`{name}" not in text:
            missing.append(f"command `{name}`")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or not action.choices:
                continue
            for choice in action.choices:
                if action.option_strings:  # --format json: the value, in a code span
                    wanted = f"`{choice}`"
                else:  # cache stats: the whole command line
                    wanted = f"`{name} {choice}"
                if wanted not in text:
                    missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}"
                                   f" choice {choice!r}")
    assert not missing, "docs/cli.md does not document: " + "; ".join(missing)


# ---------------------------------------------------------------------------------------------
# docs/configuration.md and the settings module


def settings_module() -> ModuleType:
    """The module that defines ``Settings`` and ``load_settings``, wherever it lives."""
    try:
        module = importlib.import_module("aider_hooks.settings")
    except ModuleNotFoundError:
        module = None
    if module is not None and hasattr(module, "Settings") and hasattr(module, "load_settings"):
        return module
    import aider_hooks

    for info in pkgutil.walk_packages(aider_hooks.__path__, "aider_hooks."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # importing it would run the command line
        try:
            candidate = importlib.import_module(info.name)
        except Exception:  # noqa: BLE001 - a module that needs something absent is not it
            continue
        settings = getattr(candidate, "Settings", None)
        if (settings is not None and hasattr(candidate, "load_settings")
                and getattr(settings, "__module__", None) == candidate.__name__):
            return candidate
    raise AssertionError("no module of aider_hooks defines Settings and load_settings")


def toml_value(value: Any) -> str:
    """``value`` written as TOML; ``None`` (no default) as a string placeholder."""
    if value is None:
        return '"placeholder"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def plain(value: Any) -> Any:
    """A default as TOML reads it back: tuples as lists, mappings as dicts."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def accepted_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Keys (dashed) that a configuration file accepts -> the ``Settings`` field they set.

    Found by behaviour: each field of ``Settings`` is written, with its default, into a
    config file alone, and kept unless loading that file says "unknown key" (as it does for
    secrets, which only the environment may hold).
    """
    module = settings_module()
    folder = tmp_path_factory.mktemp("keys")
    defaults = module.Settings()
    keys: dict[str, str] = {}
    for field in dataclasses.fields(module.Settings):
        key = field.name.replace("_", "-")
        config = folder / f"{key}.toml"
        # A base URL must be an http(s) URL; any other value is refused, not unknown.
        value = ('"http://localhost:11434/v1"' if field.name == "base_url"
                 else toml_value(getattr(defaults, field.name)))
        config.write_text(f"[tool.aider-review]\n{key} = {value}\n", encoding="utf-8")
        try:
            module.load_settings(folder, config_file=config, environ={})
        except Exception as err:  # noqa: BLE001 - ConfigError, wherever it is defined
            if "unknown key" in str(err):
                continue
            raise
        keys[key] = field.name
    assert len(keys) > 10, f"too few keys found; is the probe broken? {sorted(keys)}"
    return keys


def markdown_tables(text: str) -> Iterator[list[list[str]]]:
    """Each table of ``text`` as rows of stripped cells, header first, no separator row."""
    rows: list[list[str]] = []
    for line in [*_FENCE.sub("", text).splitlines(), ""]:
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            yield rows
            rows = []


def documented_keys() -> dict[str, dict[str, str]]:
    """The rows of the tables whose first column is "Key": key -> {column: cell}."""
    keys: dict[str, dict[str, str]] = {}
    for table in markdown_tables(CONFIG_DOC.read_text(encoding="utf-8")):
        header = [cell.lower() for cell in table[0]]
        if header[0] != "key":
            continue
        for row in table[1:]:
            names = re.findall(r"`([^`]+)`", row[0])
            assert len(names) == 1, f"one key per row in docs/configuration.md: {row[0]!r}"
            assert names[0] not in keys, f"{names[0]} is listed twice"
            keys[names[0]] = dict(zip(header, row))
    assert keys, "docs/configuration.md has no table whose first column is Key"
    return keys


def test_every_documented_key_is_accepted(accepted_keys: dict[str, str]) -> None:
    unknown = sorted(set(documented_keys()) - set(accepted_keys))
    assert not unknown, f"docs/configuration.md lists keys the code rejects: {unknown}"


def test_every_accepted_key_is_documented(accepted_keys: dict[str, str]) -> None:
    missing = sorted(set(accepted_keys) - set(documented_keys()))
    assert not missing, f"keys missing from docs/configuration.md: {missing}"


def test_documented_defaults_are_the_real_ones(accepted_keys: dict[str, str]) -> None:
    defaults = settings_module().Settings()
    wrong = []
    for key, row in documented_keys().items():
        if key not in accepted_keys:
            continue  # reported by test_every_documented_key_is_accepted
        real = getattr(defaults, accepted_keys[key])
        cell = row.get("default", "")
        written = re.fullmatch(r"`([^`]+)`", cell)
        if real is None:
            if written:
                wrong.append(f"{key}: no default in the code, {cell} in the docs")
            continue
        if not written:
            wrong.append(f"{key}: default {toml_value(real)} is not written as `TOML` ({cell!r})")
            continue
        shown = tomllib.loads(f"v = {written.group(1)}")["v"]
        if shown != plain(real) or isinstance(shown, bool) != isinstance(real, bool):
            wrong.append(f"{key}: docs say {written.group(1)}, the code {toml_value(real)}")
    assert not wrong, "docs/configuration.md defaults: " + "; ".join(wrong)


def option_destinations() -> dict[str, str]:
    """Every option string of every command -> the argparse destination it sets."""
    destinations: dict[str, str] = {}
    for _, parser in commands():
        for action in parser._actions:
            for option in action.option_strings:
                destinations[option] = action.dest
    return destinations


def test_documented_flags_set_their_key(accepted_keys: dict[str, str]) -> None:
    """The Flag column names exactly the options whose destination is that setting (the CLI
    passes options to the settings by destination name)."""
    destinations = option_destinations()
    fields = {field: key for key, field in accepted_keys.items()}
    problems = []
    for key, row in documented_keys().items():
        listed = set(re.findall(r"`(-{1,2}[A-Za-z][A-Za-z0-9-]*)", row.get("flag", "")))
        field = accepted_keys.get(key)
        real = {option for option, dest in destinations.items() if dest == field}
        if listed != real:
            problems.append(f"{key}: docs {sorted(listed)}, parser {sorted(real)}")
    unlisted = sorted({option for option, dest in destinations.items()
                       if dest in fields and fields[dest] not in documented_keys()})
    assert not problems and not unlisted, (
        "Flag column of docs/configuration.md: " + "; ".join(problems)
        + (f"; options of undocumented keys: {unlisted}" if unlisted else ""))


def test_documented_environment_variables_set_their_key(accepted_keys: dict[str, str]) -> None:
    module = settings_module()
    environment: Mapping[str, str] | None = getattr(module, "ENVIRONMENT", None)
    if environment is None:
        pytest.skip("the settings module no longer has an ENVIRONMENT table")
    fields = {field: key for key, field in accepted_keys.items()}
    text = CONFIG_DOC.read_text(encoding="utf-8")
    problems = []
    for key, row in documented_keys().items():
        listed = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", row.get("environment", "")))
        real = {var for var, field in environment.items() if fields.get(field) == key}
        if listed != real:
            problems.append(f"{key}: docs {sorted(listed)}, code {sorted(real)}")
    for var, field in environment.items():  # e.g. OPENAI_API_KEY: no key, but documented
        if f"`{var}`" not in text:
            problems.append(f"{var} (sets {field}) is not mentioned")
    assert not problems, "Environment column of docs/configuration.md: " + "; ".join(problems)
