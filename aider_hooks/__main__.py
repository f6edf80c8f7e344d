from __future__ import annotations

from aider_hooks.cli.main import main

raise SystemExit(main())
