"""``aider-review plugins``: every check and reporter, built-in or installed, one per line."""
from __future__ import annotations

import argparse
import json
import sys

from aider_hooks.errors import EXIT_OK


def run(args: argparse.Namespace) -> int:
    from aider_hooks.plugin_finder import NO_PLUGINS_ENV, find_plugins, plugins_disabled

    plugins = [*find_plugins("check"), *find_plugins("reporter")]
    if args.format == "json":
        rows = [{"name": p.name, "kind": p.kind, "distribution": p.distribution,
                 "version": p.version, "entry_point": p.entry_point, "builtin": p.builtin}
                for p in plugins]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        for p in plugins:
            origin = f"{p.distribution} {p.version}"
            sys.stdout.write(f"{p.kind:<9} {p.name:<16} {origin:<24} {p.entry_point}\n")
    if plugins_disabled():
        print(f"aider-review: third-party plugins are off ({NO_PLUGINS_ENV} is set)",
              file=sys.stderr)
    return EXIT_OK
