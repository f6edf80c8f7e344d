"""aider-hooks: AI code review for staged changes, pull requests and any diff."""
from __future__ import annotations

__version__ = "0.1.0"
