"""``aider-review cache stats|clear|path``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aider_hooks.errors import EXIT_OK

if TYPE_CHECKING:
    from aider_hooks.model.cache import ResponseCache


def cache_file(explicit: str | None, cwd: Path | None = None, *,
               config: str | None = None) -> Path:
    """The file a review run here would use: --cache, AIDER_REVIEW_CACHE (also from the
    repository's .env), the ``cache-path`` of ``config`` (--config) or of the repository's
    settings, the user's cache directory."""
    from aider_hooks.model.cache import default_cache_path
    from aider_hooks.errors import InputError
    from aider_hooks.diff.git import find_repo_root
    from aider_hooks.settings import load_settings

    try:
        root: Path | None = find_repo_root(cwd or Path.cwd())
    except InputError:
        root = None  # outside a repository: the environment and the default
    chosen = load_settings(root, {"cache_path": explicit},
                           config_file=Path(config) if config else None).cache_path
    return Path(chosen) if chosen else default_cache_path()


def run_cache_command(args: argparse.Namespace) -> int:
    path = cache_file(args.cache_path, config=getattr(args, "config", None))
    if args.action == "path":
        print(path)
    elif not path.exists():  # nothing to open: do not create a cache just to report on it
        print(f"cache is empty: {path}" if args.action == "clear"
              else f"path: {path}\nentries: 0\nbytes: 0")
    elif args.action == "clear":
        with _open(path) as cache:
            removed = cache.clear()
        print(f"removed {removed} cached answer(s) from {path}")
    else:
        with _open(path) as cache:
            stats = cache.stats()
        for key, value in stats.items():
            if key not in ("hits", "misses"):  # per-process counters: always 0 here
                print(f"{key}: {value}")
    return EXIT_OK


def _open(path: Path) -> ResponseCache:
    from aider_hooks.model.cache import ResponseCache

    return ResponseCache(path, on_warning=_warn)


def _warn(message: str) -> None:
    print(f"aider-review: warning: {message}", file=sys.stderr)
