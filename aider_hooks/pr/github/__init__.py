"""The pull-request bot on GitHub (the README's pull-request bot section): what ``aider-review github`` and
``action.yml`` run.

``api`` talks to the REST API, ``event`` reads the Actions event, ``host`` is the
``PullRequestHost`` the bot (``pr/bot.py``) runs on; ``cli/github.py`` is the command-line edge.
"""
from __future__ import annotations

from aider_hooks.pr import DEFAULT_MAX_COMMENTS as DEFAULT_MAX_COMMENTS
