"""The pull-request bot (the README's pull-request bot section): what ``aider-review github`` and ``action.yml`` run.

``api`` talks to the REST API, ``event`` reads the Actions event, ``comments`` writes the
comment bodies, ``bot`` does one run, ``command`` is its command-line edge.
"""
from __future__ import annotations

# New inline comments per run; the rest go to the summary, so a PR is never flooded. Here, not
# in bot.py, because the CLI's parser needs it and must not import the bot to get it.
DEFAULT_MAX_COMMENTS = 30
