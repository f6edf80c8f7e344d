"""The pull-request bot, for any code host: ``bot`` (one run, host-neutral), ``comments``
(bodies and markers), ``host`` (the ``PullRequestHost`` seam and the registry of hosts), and
one package per host (``github/``).
"""
from __future__ import annotations

# New inline comments per run; the rest go to the summary, so a PR is never flooded. Here, not
# in bot.py, because the CLI's parser needs it and must not import the bot to get it.
DEFAULT_MAX_COMMENTS = 30
