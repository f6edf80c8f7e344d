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
# prefix, then a body of a fixed alphabet and length. One alternation holds them all (cheaper
# to compile than one regex per vendor), and it is only tried where one of the prefixes
# occurs (``str.find``, C speed), inside whitespace-separated words of 16+ characters that
# the caller found once for this rule, the high-entropy rule and the fail-safe. Trying an
# alternation of 60 branches at every position of the text would cost ~4 ms per 100 kB.
# name (the kind, with "_" for "-") -> (the literals it starts with, the regex)
_VENDOR_SHAPES: dict[str, tuple[tuple[str, ...], str]] = {
    "age_secret_key": (("AGE-SECRET-KEY-1",), r"AGE-SECRET-KEY-1[0-9A-Z]{58}"),
    "mapbox_token": (("sk.eyJ",), r"sk\.eyJ[\w-]{10,}\.[\w-]{16,}"),
    "shippo_token": (("shippo_",), r"shippo_(?:live|test)_[0-9a-f]{40}"),
    "brevo_key": (("xkeysib-",), r"xkeysib-[0-9a-f]{64}-[A-Za-z0-9]{16}"),
    "postman_key": (("PMAK-",), r"PMAK-[0-9a-f]{24}-[0-9a-f]{34}"),
    "databricks_token": (("dapi",), r"dapi[0-9a-f]{32}(?:-\d)?"),
    "doppler_token": (("dp.",), r"dp\.(?:pt|st|ct|sa|scim|audit)\.(?:[\w-]{1,20}\.)?[A-Za-z0-9]{40,}"),
    "pulumi_token": (("pul-",), r"pul-[0-9a-f]{40}"),
    "linear_key": (("lin_",), r"lin_(?:api|oauth)_[A-Za-z0-9]{40}"),
    "notion_token": (("secret_", "ntn_"), r"(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,})"),
    "atlassian_token": (("ATATT3", "ATBB", "ATCTT3"),
                        r"(?:ATATT3[\w=-]{100,}|ATBB[\w=.-]{28,}|ATCTT3[\w=-]{100,})"),
    "vault_token": (("hvs.", "hvb.", "hvr."), r"hv[sbr]\.[\w-]{24,}"),
    "sentry_token": (("sntrys_", "sntryu_"), r"sntry[su]_[\w+/=.-]{40,}"),
    "newrelic_key": (("NRAK-", "NRII-", "NRJS-", "NRRA-", "NRAA-"), r"NR(?:AK|II|JS|RA|AA)-[\w-]{20,}"),
    "shopify_token": (("shpat_", "shpca_", "shppa_", "shpss_"), r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}"),
    "mailgun_key": (("key-",), r"key-[0-9a-f]{32}"),
    "docker_token": (("dckr_",), r"dckr_(?:pat|oat)_[\w-]{20,}"),
    "grafana_token": (("glsa_", "glc_"), r"(?:glsa_[A-Za-z0-9]{32}_[0-9a-f]{8}|glc_[A-Za-z0-9+/]{32,}={0,2})"),
    "digitalocean_token": (("dop_v1_", "doo_v1_", "dor_v1_"), r"do[opr]_v1_[0-9a-f]{64}"),
    "supabase_key": (("sbp_", "sb_secret_"), r"(?:sbp_[0-9a-f]{40}|sb_secret_[\w-]{20,})"),
    "figma_token": (("figd_", "figo_", "figr_"), r"fig[dor]_[\w-]{40,}"),
    "sonar_token": (("sqp_", "squ_", "sqa_"), r"sq[pua]_[0-9a-f]{40}"),
    "buildkite_token": (("bkua_",), r"bkua_[0-9a-f]{40}"),
    "planetscale_token": (("pscale_",), r"pscale_(?:tkn|pw|oauth)_[\w=.-]{32,}"),
    "langsmith_key": (("lsv2_",), r"lsv2_(?:pt|sk)_[0-9a-f]{32}_[0-9a-f]{10}"),
    "groq_key": (("gsk_",), r"gsk_[A-Za-z0-9]{48,}"),
    "replicate_token": (("r8_",), r"r8_[A-Za-z0-9]{37}"),
    "perplexity_key": (("pplx-",), r"pplx-[A-Za-z0-9]{40,}"),
    "xai_key": (("xai-",), r"xai-[A-Za-z0-9]{60,}"),
    "netlify_token": (("nfp_", "nfc_", "nfo_", "nfu_"), r"nf[pcou]_[A-Za-z0-9]{32,}"),
    "rubygems_key": (("rubygems_",), r"rubygems_[0-9a-f]{48}"),
    "alibaba_key": (("LTAI",), r"LTAI[A-Za-z0-9]{12,20}"),
    "tencent_key": (("AKID",), r"AKID[A-Za-z0-9]{32}"),
    "contentful_token": (("CFPAT-",), r"CFPAT-[\w-]{43}"),
    "flutterwave_key": (("FLWSECK",), r"FLWSECK(?:_TEST)?-[0-9a-f]{32}-X"),
    "google_oauth_token": (("ya29.", "1//0"), r"(?:ya29\.[\w-]{30,}|1//0[\w-]{40,})"),
    "nuget_key": (("oy2",), r"oy2[a-z0-9]{43}"),
    "jfrog_token": (("AKCp",), r"AKCp[A-Za-z0-9]{69}"),
    "twilio_key": (("SK",), r"SK[0-9a-fA-F]{32}"),
    "gitlab_token": (("GR1348941", "glft-", "glimt-", "glagent-", "glcbt-", "gloas-", "glffct-"),
                     r"(?:GR1348941[\w-]{20}|gl(?:ft|imt|agent|cbt|oas|ffct)-[\w-]{20,})"),
    "heroku_key": (("HRKU-",), r"HRKU-[\w-]{58,}"),
    "deepseek_key": (("sk-",), r"sk-[0-9a-f]{32}"),
    "twitter_token": (("A" * 22,), r"A{22}[A-Za-z0-9%]{30,}"),
    "braintree_token": (("access_token$",), r"access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}"),
    "pinecone_key": (("pcsk_",), r"pcsk_[A-Za-z0-9_]{40,}"),
    "pubnub_secret": (("sec-c-",), r"sec-c-[A-Za-z0-9+/=]{40,}"),
    "clojars_token": (("CLOJARS_",), r"CLOJARS_[0-9a-z]{60}"),
    "dynatrace_token": (("dt0c01.",), r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    "octopus_key": (("API-",), r"API-[A-Z0-9]{26}"),
    "scaleway_key": (("SCW",), r"SCW[A-Z0-9]{17}"),
    "yandex_key": (("AQVN", "YC"), r"(?:AQVN[\w-]{35,38}|YC[\w-]{38})"),
    "huggingface_token": (("api_org_",), r"api_org_[A-Za-z0-9]{34}"),
    "firebase_key": ((":APA91b",), r"AAAA[\w-]{7}:APA91b[\w-]{100,}"),
    "cloudflare_key": (("v1.0-",), r"v1\.0-[0-9a-f]{24}-[0-9a-f]{146}"),
    "launchdarkly_key": (("sdk-", "api-", "mob-"),
                         r"(?:sdk|api|mob)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "riot_key": (("RGAPI-",), r"RGAPI-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "square_token": (("EAAA", "sq0atp-", "sq0csp-"), r"(?:EAAA[\w-]{60}|sq0(?:atp|csp)-[\w-]{22,43})"),
    "adafruit_key": (("aio_",), r"aio_[A-Za-z0-9]{28}"),
    "fly_token": (("fo1_",), r"fo1_[\w-]{43}"),
    "render_key": (("rnd_",), r"rnd_[A-Za-z0-9]{32}"),
    "facebook_token": (("EAA",), r"EAA[A-Za-z0-9]{90,}"),
    # Shapes whose fixed part is inside: found by that part, matched from a fixed offset back.
    "terraform_token": ((".atlasv1.",), r"[A-Za-z0-9]{14}\.atlasv1\.[\w=-]{60,}"),
    "azure_client_secret": (("Q~",), r"[\w~.]{3}\dQ~[\w~.-]{31,34}"),
}
# How far before its literal a shape starts (the literal is not its first character).
_VENDOR_BACK = {".atlasv1.": 14, "Q~": 4, ":APA91b": 11}
_VENDOR = re.compile("|".join(f"(?P<{name}>{regex})" for name, (_, regex) in _VENDOR_SHAPES.items()))
_VENDOR_LITERALS = tuple(sorted({p for prefixes, _ in _VENDOR_SHAPES.values() for p in prefixes}))
_BOUNDARY = frozenset(_ALNUM)


def vendor_tokens(text: str, words: list[tuple[int, int]]) -> list[SecretMatch]:
    """Vendor tokens inside ``words`` (start, end of each whitespace-separated word of 16+
    characters); a token must not run on from a letter or digit on either side."""
    found: list[SecretMatch] = []
    for start, end in words:
        done = start
        hits = sorted({at for literal in _VENDOR_LITERALS
                       for at in _occurrences(text, literal, start, end)})
        for at in hits:
            if at < done:
                continue
            m = _VENDOR.match(text, at, end)
            if m is None:
                continue
            if (m.start() > 0 and text[m.start() - 1] in _BOUNDARY) or \
                    (m.end() < len(text) and text[m.end()] in _BOUNDARY):
                continue
            found.append(SecretMatch((m.lastgroup or "vendor_token").replace("_", "-"),
                                     m.start(), m.end()))
            done = m.end()
    return found


def _occurrences(text: str, literal: str, start: int, end: int) -> list[int]:
    """Where a shape may start, for each occurrence of ``literal`` in ``text[start:end]``."""
    back = _VENDOR_BACK.get(literal, 0)
    found: list[int] = []
    at = text.find(literal, start, end)
    while at != -1 and len(found) < 10_000:
        if at - back >= start:
            found.append(at - back)
        at = text.find(literal, at + 1, end)
    return found


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
