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

_URL_CREDENTIALS = re.compile(r"://([^\s:/?#@'\"<>]*):([^\s/@'\"<>]+)@")


# Words that stand for a password in documentation: https://user:pass@proxy:8080.
_PLACEHOLDER_PASSWORDS = frozenset(("pass", "password", "passwd", "pwd", "pw", "secret", "token"))


def url_passwords(text: str) -> list[SecretMatch]:
    return [SecretMatch("password-in-url", m.start(2), m.end(2))
            for m in _URL_CREDENTIALS.finditer(text)
            if not is_reference(m.group(2)) and m.group(2).lower() not in _PLACEHOLDER_PASSWORDS]


# --- More vendor token shapes ------------------------------------------------------------------
# Shapes from what public scanners document (gitleaks rules, trufflehog detectors): a literal
# prefix, then parts of a fixed alphabet and length. They are written as data and matched in
# Python, not as regexes: 60 more patterns would cost ~3 ms of import time (compiling), and
# they are only tried where one of their literals occurs (``str.find``, C speed), inside the
# whitespace-separated words of 16+ characters that the caller found once for this rule,
# the high-entropy rule and the fail-safe.
_HEX = frozenset("0123456789abcdef")
_HEX_ANY = frozenset("0123456789abcdefABCDEF")
_AN = frozenset(_ALNUM)
_UD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_LD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_W = frozenset(_WORD)  # letters, digits, "_"
_WD = frozenset(_TOKEN)  # and "-"
_WDE = _WD | {"="}
_B64S = _AN | set("+/")
_Part = str | tuple[frozenset[str], int, int]  # a literal, or (alphabet, least, most)
_INF = 10_000
# (kind, the literal that finds it, how far before that literal it starts, its parts)
_VENDOR_SHAPES: tuple[tuple[str, str, int, tuple[_Part, ...]], ...] = (
    ("age-secret-key", "AGE-SECRET-KEY-1", 0, ("AGE-SECRET-KEY-1", (_UD, 58, 58))),
    ("mapbox-token", "sk.eyJ", 0, ("sk.eyJ", (_WD, 10, _INF), ".", (_WD, 16, _INF))),
    *(("shippo-token", f"shippo_{m}_", 0, (f"shippo_{m}_", (_HEX, 40, 40))) for m in ("live", "test")),
    ("brevo-key", "xkeysib-", 0, ("xkeysib-", (_HEX, 64, 64), "-", (_AN, 16, 16))),
    ("postman-key", "PMAK-", 0, ("PMAK-", (_HEX, 24, 24), "-", (_HEX, 34, 34))),
    ("databricks-token", "dapi", 0, ("dapi", (_HEX, 32, 32))),
    *(("doppler-token", f"dp.{t}.", 0, (f"dp.{t}.", (_AN | {"."}, 40, _INF)))
      for t in ("pt", "st", "ct", "sa", "scim", "audit")),
    ("pulumi-token", "pul-", 0, ("pul-", (_HEX, 40, 40))),
    *(("linear-key", f"lin_{t}_", 0, (f"lin_{t}_", (_AN, 40, 40))) for t in ("api", "oauth")),
    ("notion-token", "secret_", 0, ("secret_", (_AN, 43, 43))),
    ("notion-token", "ntn_", 0, ("ntn_", (_AN, 40, _INF))),
    *(("atlassian-token", p, 0, (p, (_WDE, n, _INF)))
      for p, n in (("ATATT3", 100), ("ATCTT3", 100), ("ATBB", 28))),
    *(("vault-token", f"hv{t}.", 0, (f"hv{t}.", (_WD, 24, _INF))) for t in "sbr"),
    ("terraform-token", ".atlasv1.", 14, ((_AN, 14, 14), ".atlasv1.", (_WDE, 60, _INF))),
    *(("sentry-token", f"sntry{t}_", 0, (f"sntry{t}_", (_WD | set("+/=."), 40, _INF))) for t in "su"),
    *(("newrelic-key", f"NR{t}-", 0, (f"NR{t}-", (_WD, 20, _INF))) for t in ("AK", "II", "JS", "RA", "AA")),
    *(("shopify-token", f"shp{t}_", 0, (f"shp{t}_", (_HEX_ANY, 32, 32))) for t in ("at", "ca", "pa", "ss")),
    ("mailgun-key", "key-", 0, ("key-", (_HEX, 32, 32))),
    *(("docker-token", f"dckr_{t}_", 0, (f"dckr_{t}_", (_WD, 20, _INF))) for t in ("pat", "oat")),
    ("grafana-token", "glsa_", 0, ("glsa_", (_AN, 32, 32), "_", (_HEX, 8, 8))),
    ("grafana-token", "glc_", 0, ("glc_", (_B64S, 32, _INF))),
    *(("digitalocean-token", f"do{t}_v1_", 0, (f"do{t}_v1_", (_HEX, 64, 64))) for t in "opr"),
    ("supabase-key", "sbp_", 0, ("sbp_", (_HEX, 40, 40))),
    ("supabase-key", "sb_secret_", 0, ("sb_secret_", (_WD, 20, _INF))),
    *(("figma-token", f"fig{t}_", 0, (f"fig{t}_", (_WD, 40, _INF))) for t in "dor"),
    *(("sonar-token", f"sq{t}_", 0, (f"sq{t}_", (_HEX, 40, 40))) for t in "pua"),
    ("buildkite-token", "bkua_", 0, ("bkua_", (_HEX, 40, 40))),
    *(("planetscale-token", f"pscale_{t}_", 0, (f"pscale_{t}_", (_WD | set("=."), 32, _INF)))
      for t in ("tkn", "pw", "oauth")),
    *(("langsmith-key", f"lsv2_{t}_", 0, (f"lsv2_{t}_", (_HEX, 32, 32), "_", (_HEX, 10, 10)))
      for t in ("pt", "sk")),
    ("groq-key", "gsk_", 0, ("gsk_", (_AN, 48, _INF))),
    ("replicate-token", "r8_", 0, ("r8_", (_AN, 37, 37))),
    ("perplexity-key", "pplx-", 0, ("pplx-", (_AN, 40, _INF))),
    ("xai-key", "xai-", 0, ("xai-", (_AN, 60, _INF))),
    *(("netlify-token", f"nf{t}_", 0, (f"nf{t}_", (_AN, 32, _INF))) for t in "pcou"),
    ("rubygems-key", "rubygems_", 0, ("rubygems_", (_HEX, 48, 48))),
    ("alibaba-key", "LTAI", 0, ("LTAI", (_AN, 12, 20))),
    ("tencent-key", "AKID", 0, ("AKID", (_AN, 32, 32))),
    ("contentful-token", "CFPAT-", 0, ("CFPAT-", (_WD, 43, 43))),
    *(("flutterwave-key", p, 0, (p, (_HEX, 32, 32), "-X")) for p in ("FLWSECK-", "FLWSECK_TEST-")),
    ("google-oauth-token", "ya29.", 0, ("ya29.", (_WD, 30, _INF))),
    ("google-oauth-token", "1//0", 0, ("1//0", (_WD, 40, _INF))),
    ("nuget-key", "oy2", 0, ("oy2", (_LD, 43, 43))),
    ("jfrog-token", "AKCp", 0, ("AKCp", (_AN, 69, 69))),
    ("twilio-key", "SK", 0, ("SK", (_HEX_ANY, 32, 32))),
    ("gitlab-token", "GR1348941", 0, ("GR1348941", (_WD, 20, 20))),
    *(("gitlab-token", f"gl{t}-", 0, (f"gl{t}-", (_WD, 20, _INF)))
      for t in ("ft", "imt", "agent", "cbt", "oas", "ffct")),
    ("azure-client-secret", "Q~", 4, ((_W | set("~."), 3, 3), (frozenset("0123456789"), 1, 1), "Q~",
                                       (_WD | set("~."), 31, 34))),
    ("heroku-key", "HRKU-", 0, ("HRKU-", (_WD, 58, _INF))),
    ("deepseek-key", "sk-", 0, ("sk-", (_HEX, 32, 32))),
    ("twitter-token", "A" * 22, 0, ("A" * 22, (_AN | {"%"}, 30, _INF))),
    ("braintree-token", "access_token$production$", 0,
     ("access_token$production$", (_LD, 16, 16), "$", (_HEX, 32, 32))),
    ("pinecone-key", "pcsk_", 0, ("pcsk_", (_W, 40, _INF))),
    ("pubnub-secret", "sec-c-", 0, ("sec-c-", (_B64S | {"="}, 40, _INF))),
    ("clojars-token", "CLOJARS_", 0, ("CLOJARS_", (_LD, 60, 60))),
    ("dynatrace-token", "dt0c01.", 0, ("dt0c01.", (_UD, 24, 24), ".", (_UD, 64, 64))),
    ("octopus-key", "API-", 0, ("API-", (_UD, 26, 26))),
    ("scaleway-key", "SCW", 0, ("SCW", (_UD, 17, 17))),
    ("yandex-key", "AQVN", 0, ("AQVN", (_WD, 35, 38))),
    ("yandex-key", "YC", 0, ("YC", (_WD, 38, 38))),
    ("huggingface-token", "api_org_", 0, ("api_org_", (_AN, 34, 34))),
    ("firebase-key", ":APA91b", 11, ("AAAA", (_WD, 7, 7), ":APA91b", (_WD, 100, _INF))),
    ("cloudflare-key", "v1.0-", 0, ("v1.0-", (_HEX, 24, 24), "-", (_HEX, 146, 146))),
    *((kind, f"{p}-", 0, (f"{p}-", (_HEX, 8, 8), "-", (_HEX, 4, 4), "-", (_HEX, 4, 4), "-",
                          (_HEX, 4, 4), "-", (_HEX, 12, 12)))
      for kind, p in (("launchdarkly-key", "sdk"), ("launchdarkly-key", "api"),
                      ("launchdarkly-key", "mob"), ("riot-key", "RGAPI"))),
    ("square-token", "EAAA", 0, ("EAAA", (_WD, 60, 60))),
    *(("square-token", f"sq0{t}-", 0, (f"sq0{t}-", (_WD, 22, 43))) for t in ("atp", "csp")),
    ("adafruit-key", "aio_", 0, ("aio_", (_AN, 28, 28))),
    ("fly-token", "fo1_", 0, ("fo1_", (_WD, 43, 43))),
    ("render-key", "rnd_", 0, ("rnd_", (_AN, 32, 32))),
    ("facebook-token", "EAA", 0, ("EAA", (_AN, 90, _INF))),
)
_BOUNDARY = frozenset(_ALNUM)


_SHAPES_BY_LITERAL: dict[str, list[tuple[str, str, int, tuple[_Part, ...]]]] = {}
for _shape in _VENDOR_SHAPES:
    _SHAPES_BY_LITERAL.setdefault(_shape[1], []).append(_shape)


_LITERALS_BY_HEAD: dict[str, list[str]] = {}
for _literal in _SHAPES_BY_LITERAL:
    _LITERALS_BY_HEAD.setdefault(_literal[:2], []).append(_literal)


def vendor_tokens(text: str, words: list[tuple[int, int]]) -> list[SecretMatch]:
    """Vendor tokens inside ``words`` (start, end of each whitespace-separated word of 16+
    characters); a token must not run on from a letter or digit on either side."""
    found: list[SecretMatch] = []
    if not words:
        return found
    # Which literals occur at all: one "in" each over the long words only (C speed).
    joined = "\0".join(text[start:end] for start, end in words)
    present = [literal for head, literals in _LITERALS_BY_HEAD.items() if head in joined
               for literal in literals if literal in joined]
    if not present:
        return found
    for start, end in words:
        candidates = []
        for literal in present:
            at = text.find(literal, start, end)
            while at != -1:
                for kind, _, back, parts in _SHAPES_BY_LITERAL[literal]:
                    if at - back >= start:
                        candidates.append((at - back, kind, parts))
                at = text.find(literal, at + 1, end)
        done = start
        for at, kind, parts in sorted(candidates, key=lambda c: c[0]):
            if at < done:
                continue
            stop = _match_parts(text, at, end, parts)
            if stop == -1 or (at > 0 and text[at - 1] in _BOUNDARY) or \
                    (stop < len(text) and text[stop] in _BOUNDARY):
                continue
            found.append(SecretMatch(kind, at, stop))
            done = stop
    return found


def _match_parts(text: str, pos: int, end: int, parts: tuple[_Part, ...]) -> int:
    """Where ``parts`` matching from ``pos`` end (each alphabet part takes as many as it
    may), or -1."""
    for part in parts:
        if isinstance(part, str):
            if not text.startswith(part, pos, end):
                return -1
            pos += len(part)
            continue
        alphabet, least, most = part
        stop = pos
        limit = min(end, pos + most)
        while stop < limit and text[stop] in alphabet:
            stop += 1
        if stop - pos < least:
            return -1
        pos = stop
    return pos


# Webhook URLs whose path is the credential, and signed URLs (Azure SAS, Logic Apps, Power
# Automate): the ``sig=`` parameter is the signature that grants access.
_WEBHOOK_PATHS = re.compile(r"\.office\.com/webhook(?:b2)?/([^\s\"'<>`]{20,})")
_SIGNATURE = re.compile(r"[?&;]sig=([A-Za-z0-9%+/_=-]{16,})")


def signed_urls(text: str) -> list[SecretMatch]:
    found = []
    if ".office.com/webhook" in text:
        found += [SecretMatch("teams-webhook", m.start(1), m.end(1))
                  for m in _WEBHOOK_PATHS.finditer(text)]
    if "sig=" in text:
        found += [SecretMatch("url-signature", m.start(1), m.end(1))
                  for m in _SIGNATURE.finditer(text)]
    return found
