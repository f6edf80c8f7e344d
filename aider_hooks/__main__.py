from __future__ import annotations

from aider_hooks.cli import main

raise SystemExit(main())
