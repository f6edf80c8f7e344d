"""Tokens with a known shape (``ghp_...``, ``AKIA...``, ``sk-...``, JWTs...) and passwords in
``scheme://user:password@host`` URLs."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from aider_hooks.redact.common import (
    B64,
    B64URL,
    SecretMatch,
    has_case,
    is_reference,
    mixed,
    random_case,
)


class _Shape(NamedTuple):
    kind: str
    regex: re.Pattern[str]
    not_after: str = ""  # characters that must not come just before the match
    group: int = 0  # the part of the match that is secret
    check: Callable[[str], bool] | None = None
    # The secret also takes in ``lead[0]..lead[1]`` characters of ``lead_chars`` just before
    # the match. Each regex starts with a literal and is found as fast as ``in``: a leading
    # look-behind, character class or alternation makes a scan up to ten times slower, so
    # word boundaries and variable heads are checked here, in Python, on the few hits.
    lead_chars: str = ""
    lead: tuple[int, int] = (0, 0)


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_WORD = _ALNUM + "_"
_TOKEN = _WORD + "-"

_SHAPES: tuple[_Shape, ...] = (
    _Shape("aws-access-key-id",
           re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])"), _ALNUM),
    _Shape("github-token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,251}\b"), _WORD),
    _Shape("github-token", re.compile(r"github_pat_\w{30,255}"), _WORD),
    _Shape("gitlab-token", re.compile(rf"gl(?:pat|ptt|dt|rt|soat)-[{B64URL}]{{20,}}"), _TOKEN),
    _Shape("anthropic-key", re.compile(rf"sk-ant-[{B64URL}]{{32,}}"), _TOKEN),
    _Shape("openai-key", re.compile(rf"sk-(?!ant-)[{B64URL}]{{32,}}"), _TOKEN, check=random_case),
    _Shape("stripe-key", re.compile(r"k_(?:live|test)_[A-Za-z0-9]{16,}"), _ALNUM, check=mixed,
           lead_chars="spr", lead=(1, 1)),
    _Shape("stripe-key", re.compile(rf"whsec_[{B64}=]{{24,}}"), _ALNUM),
    _Shape("slack-token", re.compile(r"x(?:ox[abeposr]|app)-[A-Za-z0-9-]{10,}"), _ALNUM,
           check=mixed),
    _Shape("slack-webhook",
           re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/([\w/+-]{8,})"), group=1),
    _Shape("discord-webhook",
           re.compile(rf"/api/webhooks/([0-9]{{5,}}/[{B64URL}]{{20,}})"), group=1),
    _Shape("google-api-key", re.compile(rf"AIza[{B64URL}]{{35}}"), _TOKEN),
    _Shape("google-client-secret", re.compile(rf"GOCSPX-[{B64URL}]{{20,}}"), _TOKEN),
    _Shape("npm-token", re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"), _WORD,
           check=random_case),
    _Shape("pypi-token", re.compile(rf"pypi-AgE[{B64URL}]{{50,}}"), _TOKEN),
    _Shape("huggingface-token", re.compile(r"hf_[A-Za-z0-9]{30,}\b"), _WORD, check=random_case),
    _Shape("sendgrid-key", re.compile(rf"SG\.[{B64URL}]{{22}}\.[{B64URL}]{{43}}"), _TOKEN),
    _Shape("telegram-bot-token", re.compile(rf":AA[{B64URL}]{{33}}(?![{B64URL}])"), "0123456789",
           lead_chars="0123456789", lead=(8, 10)),
    _Shape("mailchimp-key", re.compile(r"-us[0-9]{1,2}(?![0-9a-z])"), _ALNUM,
           lead_chars="0123456789abcdef", lead=(32, 32)),
    *(_Shape("azure-storage-key", re.compile(rf"{name}=([{B64}]{{40,}}={{0,2}})"), group=1)
      for name in ("AccountKey", "SharedAccessKey")),
    _Shape("jwt",
           # The look-behind after the literal skips every "eyJ" inside a longer run at once.
           re.compile(rf"eyJ(?<![{B64URL}]eyJ)[{B64URL}]{{8,}}\.eyJ[{B64URL}]{{8,}}\.[{B64URL}]*"),
           _TOKEN),
    # "(B)earer" and "(A)uthorization", each case on its own: a pattern that starts with an
    # alternation or is IGNORECASE scans several times slower than one that starts with a literal.
    *(_Shape("authorization-header",
             re.compile(rf"{word}[\"']?[ \t]*[:=][ \t]*[\"']?"
                        r"(?:[Bb]asic|BASIC|[Tt]oken|TOKEN|[Dd]igest|[Aa]pi[Kk]ey)[ \t]+"
                        r"([A-Za-z0-9._~+/-]{12,}=*)"), group=1, check=has_case)
      for word in ("uthorization", "UTHORIZATION")),
    *(_Shape("authorization-header", re.compile(rf"{word}[ \t]+([A-Za-z0-9._~+/-]{{12,}}=*)"),
             group=1, check=has_case)
      for word in ("earer", "EARER")),
)


def shape_matches(text: str) -> list[SecretMatch]:
    found = []
    for shape in _SHAPES:
        for m in shape.regex.finditer(text):
            start = m.start() - _lead_length(text, m.start(), shape)
            if start > m.start() or (start > 0 and text[start - 1] in shape.not_after):
                continue
            value = m.group(shape.group)
            if shape.check is None or shape.check(value):
                found.append(SecretMatch(shape.kind, m.start(shape.group) if shape.group else start,
                                         m.end(shape.group)))
    return found


def _lead_length(text: str, pos: int, shape: _Shape) -> int:
    """How many ``lead_chars`` precede ``pos`` (at most ``lead[1]``), or -1 if too few."""
    low, high = shape.lead
    count = 0
    while count < high and pos - count > 0 and text[pos - count - 1] in shape.lead_chars:
        count += 1
    return count if count >= low else -1


# --- Passwords in URLs ----------------------------------------------------------------------

_URL_CREDENTIALS = re.compile(r"://([^\s:/?#@'\"<>]*):([^\s/?#@'\"<>]+)@")


def url_passwords(text: str) -> list[SecretMatch]:
    return [SecretMatch("password-in-url", m.start(2), m.end(2))
            for m in _URL_CREDENTIALS.finditer(text) if not is_reference(m.group(2))]
