"""``aider-review config``: the effective settings, where each came from, and the project
guidance in use (instruction files and settings), as a review here would see them."""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from aider_hooks.errors import EXIT_OK, InputError


def run(args: argparse.Namespace) -> int:
    from aider_hooks.cli.options import _FLAG_NAMES, settings_from_args
    from aider_hooks.diff.git import find_repo_root

    try:
        root: Path | None = find_repo_root(Path.cwd())
    except InputError:
        root = None
    settings = settings_from_args(args, root)
    flags = {name: getattr(args, name, None) for name in _FLAG_NAMES}
    config = getattr(args, "config", None)
    origin = setting_origins(root, flags, Path(config) if config else None, os.environ)
    print(render_settings(settings, origin))
    print(render_guidance(root, settings))
    return EXIT_OK


def setting_origins(root: Path | None, flags: Mapping[str, Any], config_file: Path | None,
                    environ: Mapping[str, str]) -> dict[str, str]:
    """Field name -> where its value came from: default, a config file, the environment (or
    the repository's .env), or a flag; the layers of ``settings.load_settings``."""
    from aider_hooks.settings import ENVIRONMENT, Settings, _config_files, read_config_file, read_dotenv

    origin = {f.name: "default" for f in fields(Settings)}
    for path in _config_files(root, config_file):
        for name in read_config_file(path):
            origin[name] = f"config file {_shown(path, root)}"
    dotenv = read_dotenv(root / ".env") if root is not None else {}
    for var, name in ENVIRONMENT.items():
        if environ.get(var):
            origin[name] = f"environment {var}"
        elif dotenv.get(var):
            origin[name] = f".env {var}"
    for name, value in flags.items():
        if value is not None:
            origin[name] = "flag"
    return origin


def render_settings(settings: Any, origin: Mapping[str, str]) -> str:
    lines = ["# effective settings: value  # where it came from"]
    for field in fields(settings):
        name = field.name
        if name == "key_withheld":
            continue
        value = getattr(settings, name)
        if name == "api_key":
            if settings.key_withheld:
                shown = "(withheld: the base URL comes from the repository)"
            else:
                shown = "(set)" if value else "(not set)"
            lines.append(f"api-key = {shown}  # {origin[name]}")
            continue
        lines.append(f"{name.replace('_', '-')} = {_toml(value)}  # {origin[name]}")
    return "\n".join(lines)


def render_guidance(root: Path | None, settings: Any) -> str:
    from aider_hooks.knowledge.files import KnowledgeReader
    from aider_hooks.knowledge.instructions import MAX_GUIDANCE_TOKENS, load_instructions
    from aider_hooks.tasks.prompts import estimate_tokens

    warnings: list[str] = []
    instructions, redacted = load_instructions(
        KnowledgeReader(root), instructions=settings.instructions,
        path_instructions=settings.path_instructions, warn=warnings.append)
    lines = ["", "# project guidance in use (sent as trusted guidance with each request of "
                 "the files it applies to)"]
    if not instructions:
        lines.append("(none: add AGENTS.md, .github/instructions/*.instructions.md, "
                     ".aider-review/instructions.md or the `instructions` setting)")
    total = 0
    for item in instructions:
        tokens = estimate_tokens(item.text)
        total += tokens
        scope = f"files matching {', '.join(item.globs)}" if item.globs else "every file"
        lines.append(f"{item.source}  ({scope}; ~{tokens:,} tokens)")
    if total > MAX_GUIDANCE_TOKENS:
        lines.append(f"# over the limit of {MAX_GUIDANCE_TOKENS:,} tokens for one request: "
                     "what does not fit is cut")
    if redacted:
        lines.append(f"# {redacted} secret(s) in the guidance are redacted before sending")
    lines.extend(f"# warning: {w}" for w in warnings)
    return "\n".join(lines)


def _shown(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def _toml(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))
