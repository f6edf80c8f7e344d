"""The options shared by review, explain, fix and github, and how they become ``Settings``."""
from __future__ import annotations

import argparse
from pathlib import Path

from aider_hooks.errors import InputError
from aider_hooks.settings import FAIL_ON, Settings, load_settings

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Options of docs/cli.md. Defaults are None so that unset flags fall through to files."""
    group = parser.add_argument_group("model and output")
    group.add_argument("--model", help="model name (env AIDER_REVIEW_MODEL; default gpt-4o-mini)")
    group.add_argument("--base-url", dest="base_url",
                       help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 for Ollama "
                            "(env OPENAI_BASE_URL)")
    group.add_argument("--format", type=format_name,
                       help="output format: text (the default), json, sarif, github, markdown, "
                            "codequality, or an installed plugin's (see `aider-review plugins`)")
    group.add_argument("--output", "-o", help="write the report to this file instead of stdout")
    group.add_argument("--fail-on", dest="fail_on", choices=FAIL_ON,
                       help="exit 1 when a finding is at or above this severity (default error)")
    group.add_argument("--concurrency", type=positive_int, help="requests in flight (default 4)")
    group.add_argument("--no-cache", dest="cache", action="store_const", const=False,
                       help="neither read nor write the response cache")
    group.add_argument("--cache", dest="cache_path", metavar="FILE",
                       help="response cache file (env AIDER_REVIEW_CACHE)")
    group.add_argument("--offline", action="store_const", const=True,
                       help="built-in checks only; never contact a model")
    group.add_argument("--dry-run", dest="dry_run", action="store_const", const=True,
                       help="print what would be sent, with token estimates, and send nothing")
    group.add_argument("--strict", action="store_const", const=True,
                       help="exit 3 when the model cannot be reached")
    group.add_argument("--config", metavar="FILE",
                       help="settings file (default: [tool.aider-review] in pyproject.toml "
                            "or .aider-review.toml at the repository root)")
    group.add_argument("--no-json-mode", dest="json_mode", action="store_const", const=False,
                       help="do not send response_format (for local servers that reject it)")
    group.add_argument("-q", "--quiet", action="store_const", const=True,
                       help="print findings only, no notices")
    group.add_argument("-v", "--verbose", action="store_const", const=True,
                       help="explain what is happening on stderr")


def format_name(text: str) -> str:
    """argparse type: a reporter's name. Installed plugins are looked for only when the name
    is not a built-in one."""
    from aider_hooks.reporters import format_names, is_format

    if not is_format(text):
        known = ", ".join(format_names())
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {known})")
    return text


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1, with a readable error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


_FLAG_NAMES = ("model", "base_url", "format", "output", "fail_on", "concurrency", "cache",
               "cache_path", "offline", "dry_run", "strict", "json_mode", "quiet", "verbose")


def settings_from_args(args: argparse.Namespace, repo_root: Path | None) -> Settings:
    """Flags > environment > config file > defaults (see settings.load_settings)."""
    flags: dict[str, Any] = {name: getattr(args, name, None) for name in _FLAG_NAMES}
    config = getattr(args, "config", None)
    settings = load_settings(repo_root, flags, config_file=Path(config) if config else None)
    from aider_hooks.masking import remember_secret  # the key may come from a .env file

    remember_secret(settings.api_key)
    if settings.output and not Path(settings.output).parent.is_dir():
        # Say so now, not after the model was paid for the review.
        raise InputError(f"cannot write {settings.output}: no such directory "
                         f"{Path(settings.output).parent}")
    return settings
