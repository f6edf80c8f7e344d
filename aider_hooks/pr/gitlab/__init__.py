"""The merge-request bot on GitLab (the README's GitLab section): what ``aider-review gitlab``
runs in a merge-request pipeline.

``api`` talks to the REST API v4, ``host`` is the ``PullRequestHost`` the bot (``pr/bot.py``)
runs on; ``cli/gitlab.py`` is the command-line edge.
"""
from __future__ import annotations
