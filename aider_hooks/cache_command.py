"""``aider-review cache stats|clear|path``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aider_hooks.errors import EXIT_OK


def cache_file(explicit: str | None) -> Path:
    """--cache, then AIDER_REVIEW_CACHE, then the user's cache directory."""
    from aider_hooks.cache import default_cache_path

    chosen = explicit or os.environ.get("AIDER_REVIEW_CACHE")
    return Path(chosen) if chosen else default_cache_path()


def run_cache_command(args: argparse.Namespace) -> int:
    path = cache_file(args.cache_path)
    if args.action == "path":
        print(path)
        return EXIT_OK
    if args.action == "clear":
        if not path.exists():
            print(f"cache is empty: {path}")
            return EXIT_OK
        from aider_hooks.cache import ResponseCache

        cache = ResponseCache(path, on_warning=_warn)
        removed = cache.clear()
        cache.close()
        print(f"removed {removed} cached answer(s) from {path}")
        return EXIT_OK
    if not path.exists():
        print(f"path: {path}\nentries: 0\nbytes: 0")
        return EXIT_OK
    from aider_hooks.cache import ResponseCache

    cache = ResponseCache(path, on_warning=_warn)
    stats = cache.stats()
    cache.close()
    for key, value in stats.items():
        if key not in ("hits", "misses"):  # per-process counters: always 0 here
            print(f"{key}: {value}")
    return EXIT_OK


def _warn(message: str) -> None:
    print(f"aider-review: warning: {message}", file=sys.stderr)
