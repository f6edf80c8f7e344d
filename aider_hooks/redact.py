"""Secrets never leave the machine: find them in diff text and replace them by ``[REDACTED:<kind>]``.

Why our own patterns and not ``detect-secrets``: this runs on every hunk of every commit, and
importing detect-secrets costs 120-200 ms (its plugin registry is loaded eagerly), most of the
hook's budget when little is staged; its last release is from 2024. The tests use it as an
oracle instead: every line of our corpus of fake secrets that detect-secrets flags must be
redacted by us too (and on that corpus it finds a dozen secrets detect-secrets does not).

Cost: this module needs only ``re``, ``math`` and ``bisect``; its ~50 regexes are compiled
at import (~5 ms, the whole import with a warm ``.pyc``). Every token regex starts with a
literal (``AKIA``, ``ghp_``, ``sk-``...), which ``re`` finds about as fast as ``in``; word
boundaries that a leading look-behind would express are checked in Python on the few hits,
because a leading look-behind, class or alternation makes a scan up to ten times slower.
Every pattern is of bounded length or consumes what it scans, so the time is linear in the
text, also for hostile input (200 kB of ``password.password...`` or ``eyJeyJ...``: < 0.1 s).
Measured: 200 hunks of real Python (26 lines, ~1 kB each) in ~13 ms.

What is found, most specific first (an overlapping, less specific match is dropped, or merged
into the specific one when it covers more than it):

- PEM private-key blocks (``-----BEGIN ... PRIVATE KEY-----``), on one line (JSON ``\\n``
  escapes) or across lines; also a block cut by the hunk's edge (a BEGIN without END, an END
  without BEGIN): the base64 body lines next to the marker go with it. Certificates and public
  keys are not secret: their bodies are exempt from the high-entropy rule.
- Tokens with a known shape: AWS access key ids, GitHub, GitLab, OpenAI, Anthropic, Slack
  (tokens and webhook URLs), Stripe, Google API keys and OAuth client secrets, npm, PyPI,
  Hugging Face, SendGrid, Telegram, Mailchimp, Discord webhooks, Azure storage keys, JWTs,
  ``Authorization: Bearer/Basic`` credentials.
- ``scheme://user:password@host``: only the password is replaced (not a reference such as
  ``${DB_PASSWORD}``).
- An AWS secret access key (40 base64 characters) assigned to an aws-ish name.
- ``secret-assignment``: a value assigned to a name that *ends* in password, passwd, pwd,
  pass, passphrase, secret, token, credential(s) or api/access/secret/private/auth/... key
  (``DB_PASSWORD=``, ``"client_secret": ``, ``apiKey: ``, ``--token=``, ``<password>``...).
  The value is replaced, the name kept. Names that merely contain a keyword (``token_url``,
  ``password_field``, ``max_tokens``) are not secrets. Values that are clearly not literals
  are kept: empty strings, interpolations (``${VAR}``, ``{{ x }}``, ``%(x)s``, f-strings,
  ``"%s:%s"``), ``<placeholder>``, masks (``***``, ``xxxx``), elisions (``sk-...``), paths,
  colours, regular expressions in raw strings, the name itself (``PASSWORD = "password"``
  names a field), and, in code, unquoted values (variables, calls, ``os.environ[...]``,
  ``getenv(...)``, numbers, ``None``). In config files (``.env``, YAML, INI, shell,
  ``.properties``, Dockerfile...) an unquoted value is a literal and is redacted; where the
  file type is unknown, an unquoted word is a literal when it mixes letters and digits. In
  Python ``name: value`` is an annotation or a dict keyed by a variable, so only quoted keys
  count there. Comparisons (``password == "..."``) count, except for ``token`` (lexers compare
  tokens all the time). Placeholder words such as ``changeme`` are redacted: we cannot tell
  them from a weak real password. In YAML (and files of unknown type) a block scalar under
  a secret name (``password: |`` then deeper-indented lines) is redacted line by line.
- Passwords after a keyword and a space, where no ``=`` or ``:`` separates them: SQL
  ``PASSWORD 'x'`` and ``IDENTIFIED [WITH plugin] BY 'x'`` in any file (unquoted
  ``IDENTIFIED BY tiger`` only in ``.sql`` files: in prose "identified by" is followed by
  words); ``password x`` in ``.netrc``; the last field of each ``.pgpass`` line.
  Not caught, knowingly: an unquoted value assigned in code (``password = hunter2`` in a
  ``.py`` file names a variable, and we cannot tell it from a literal).
- High-entropy strings: a run of 32+ base64/base64url characters with a digit and a letter,
  whose Shannon entropy is at least what a random string of that length reaches 999 times in
  1000 (4.0 bits per character at 32 characters, rising to 4.75 at 64; measured on random
  base62/base64 strings: ordinary identifiers and paths stay below 4.2). Not flagged, on
  purpose: hex-only strings and UUIDs (git SHAs, checksums and digests are hex; hex secrets are
  caught by the assignment rule), strings that read as words (camelCase/snake_case
  identifiers; URL paths and kebab-case names whose parts are words, numbers or hex ids, such
  as ``org/wiki/List_of_ISO_639-1_codes``), alphabets (``ABCDEF...``), digests with an
  algorithm prefix (``sha512-``, ``sha256:``, ``h1:``), ``data:...;base64,`` payloads, SSH
  public keys, and base64 that decodes to prose (text with spaces). All told, about 1 random
  32-character token in 150 slips through (1 in 250 at 40 characters, 1 in 3000 at 64),
  mostly those without a digit; a known shape or a secret-looking name catches most real
  ones anyway.

Matches never overlap and come sorted by position. Redaction keeps the number of lines: a
match spanning lines is replaced line by line, so line numbers in prompts stay true.
"""
from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import NamedTuple

from aider_hooks.hunk import Hunk


class SecretMatch(NamedTuple):
    kind: str
    start: int
    end: int


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")


def _mixed(value: str) -> bool:
    """Random tokens mix digits and letters; words and identifiers mostly do not."""
    return _DIGIT.search(value) is not None and _LETTER.search(value) is not None


def _random_case(value: str) -> bool:
    return _mixed(value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


def _has_case(value: str) -> bool:
    return _mixed(value) or (any(c.isupper() for c in value) and any(c.islower() for c in value))


# --- Token shapes -------------------------------------------------------------------------

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


_B64 = r"A-Za-z0-9+/"
_B64URL = r"A-Za-z0-9_\-"
_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_WORD = _ALNUM + "_"
_TOKEN = _WORD + "-"

_SHAPES: tuple[_Shape, ...] = (
    _Shape("aws-access-key-id",
           re.compile(r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Z0-9])"), _ALNUM),
    _Shape("github-token", re.compile(r"gh[pousr]_[A-Za-z0-9]{30,251}\b"), _WORD),
    _Shape("github-token", re.compile(r"github_pat_\w{30,255}"), _WORD),
    _Shape("gitlab-token", re.compile(rf"gl(?:pat|ptt|dt|rt|soat)-[{_B64URL}]{{20,}}"), _TOKEN),
    _Shape("anthropic-key", re.compile(rf"sk-ant-[{_B64URL}]{{32,}}"), _TOKEN),
    _Shape("openai-key", re.compile(rf"sk-(?!ant-)[{_B64URL}]{{32,}}"), _TOKEN, check=_random_case),
    _Shape("stripe-key", re.compile(r"k_(?:live|test)_[A-Za-z0-9]{16,}"), _ALNUM, check=_mixed,
           lead_chars="spr", lead=(1, 1)),
    _Shape("stripe-key", re.compile(rf"whsec_[{_B64}=]{{24,}}"), _ALNUM),
    _Shape("slack-token", re.compile(r"x(?:ox[abeposr]|app)-[A-Za-z0-9-]{10,}"), _ALNUM,
           check=_mixed),
    _Shape("slack-webhook",
           re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/([\w/+-]{8,})"), group=1),
    _Shape("discord-webhook",
           re.compile(rf"/api/webhooks/([0-9]{{5,}}/[{_B64URL}]{{20,}})"), group=1),
    _Shape("google-api-key", re.compile(rf"AIza[{_B64URL}]{{35}}"), _TOKEN),
    _Shape("google-client-secret", re.compile(rf"GOCSPX-[{_B64URL}]{{20,}}"), _TOKEN),
    _Shape("npm-token", re.compile(r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])"), _WORD,
           check=_random_case),
    _Shape("pypi-token", re.compile(rf"pypi-AgE[{_B64URL}]{{50,}}"), _TOKEN),
    _Shape("huggingface-token", re.compile(r"hf_[A-Za-z0-9]{30,}\b"), _WORD, check=_random_case),
    _Shape("sendgrid-key", re.compile(rf"SG\.[{_B64URL}]{{22}}\.[{_B64URL}]{{43}}"), _TOKEN),
    _Shape("telegram-bot-token", re.compile(rf":AA[{_B64URL}]{{33}}(?![{_B64URL}])"), "0123456789",
           lead_chars="0123456789", lead=(8, 10)),
    _Shape("mailchimp-key", re.compile(r"-us[0-9]{1,2}(?![0-9a-z])"), _ALNUM,
           lead_chars="0123456789abcdef", lead=(32, 32)),
    *(_Shape("azure-storage-key", re.compile(rf"{name}=([{_B64}]{{40,}}={{0,2}})"), group=1)
      for name in ("AccountKey", "SharedAccessKey")),
    _Shape("jwt",
           # The look-behind after the literal skips every "eyJ" inside a longer run at once.
           re.compile(rf"eyJ(?<![{_B64URL}]eyJ)[{_B64URL}]{{8,}}\.eyJ[{_B64URL}]{{8,}}\.[{_B64URL}]*"),
           _TOKEN),
    # "(B)earer" and "(A)uthorization", each case on its own: a pattern that starts with an
    # alternation or is IGNORECASE scans several times slower than one that starts with a literal.
    *(_Shape("authorization-header",
             re.compile(rf"{word}[\"']?[ \t]*[:=][ \t]*[\"']?"
                        r"(?:[Bb]asic|BASIC|[Tt]oken|TOKEN|[Dd]igest|[Aa]pi[Kk]ey)[ \t]+"
                        r"([A-Za-z0-9._~+/-]{12,}=*)"), group=1, check=_has_case)
      for word in ("uthorization", "UTHORIZATION")),
    *(_Shape("authorization-header", re.compile(rf"{word}[ \t]+([A-Za-z0-9._~+/-]{{12,}}=*)"),
             group=1, check=_has_case)
      for word in ("earer", "EARER")),
)


def _shape_matches(text: str) -> list[SecretMatch]:
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


def _url_passwords(text: str) -> list[SecretMatch]:
    return [SecretMatch("password-in-url", m.start(2), m.end(2))
            for m in _URL_CREDENTIALS.finditer(text) if not _is_reference(m.group(2))]


# --- PEM blocks -----------------------------------------------------------------------------

_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40}?)-----")
_PEM_END = re.compile(r"-----END ([A-Z0-9 ]{1,40}?)-----")
_PEM_WINDOW = 20_000  # a 4096-bit RSA key is ~3.3 kB; PGP private key blocks ~7 kB
# Key material after a BEGIN (or before an END) on the marker's own line: JSON "\n" escapes.
_PEM_SAME_LINE = re.compile(rf"(?:\\[nr]|[{_B64}=])*")
_PEM_BEFORE_END = re.compile(rf"[ \t\"'`]*(?:\\[nr]|[{_B64}=])+")
# One body line: base64 (16+ characters), maybe quoted, indented or with "\n" escapes, or a
# header such as "Proc-Type: 4,ENCRYPTED". The last line of a body may be short.
_PEM_BODY_LINE = re.compile(
    rf"[ \t\"'`+,]*(?:(?:\\[nr])*[{_B64}]{{16,}}={{0,2}}(?:\\[nr])*"
    rf"|(?:Proc-Type|DEK-Info|Comment|Version|Hash):.*)[ \t\"'`+,;\\]*")
_PEM_LAST_LINE = re.compile(rf"[ \t\"'`+,]*(?:\\[nr])*[{_B64}]+={{0,2}}(?:\\[nr])*[ \t\"'`+,;\\]*")
_PEM_FULL_WIDTH = 60  # body lines are 64 (PEM) or 70 (OpenSSH) characters wide


def _pem_blocks(text: str) -> tuple[list[SecretMatch], list[tuple[int, int]]]:
    """Private-key blocks (secrets) and public blocks (certificates, public keys: exempt)."""
    begins = list(_PEM_BEGIN.finditer(text))
    ends = list(_PEM_END.finditer(text))
    end_starts = [m.start() for m in ends]
    secrets: list[SecretMatch] = []
    exempt: list[tuple[int, int]] = []
    pos = 0
    for index, begin in enumerate(begins):
        if begin.start() < pos:
            continue  # inside the previous block
        next_begin = begins[index + 1].start() if index + 1 < len(begins) else len(text)
        at = bisect_right(end_starts, begin.end() - 1)
        end = ends[at] if at < len(ends) else None
        if end is not None and end.start() < min(next_begin, begin.end() + _PEM_WINDOW):
            pos = end.end()
        else:
            pos = _body_forward(text, begin.end())
        if "PRIVATE KEY" in begin.group(1):
            secrets.append(SecretMatch("private-key", begin.start(), pos))
        else:
            exempt.append((begin.start(), pos))
    # An END before any BEGIN: the text (a hunk) starts inside a key.
    first_begin = begins[0].start() if begins else len(text)
    if ends and ends[0].start() < first_begin and "PRIVATE KEY" in ends[0].group(1):
        secrets.append(SecretMatch("private-key", _body_backward(text, ends[0].start()),
                                   ends[0].end()))
    return secrets, exempt


def _body_forward(text: str, pos: int) -> int:
    """End of the key body that starts at ``pos`` (rest of the marker's line, then body lines)."""
    same_line = _PEM_SAME_LINE.match(text, pos)
    stop = same_line.end() if same_line else pos
    full_width = False
    for start, end in _following_lines(text, stop):
        if _PEM_BODY_LINE.fullmatch(text, start, end):
            stop, full_width = end, end - start >= _PEM_FULL_WIDTH
            continue
        if full_width and _PEM_LAST_LINE.fullmatch(text, start, end):
            stop = end
        break
    return stop


def _body_backward(text: str, pos: int) -> int:
    """Start of the key body that ends at ``pos`` (an END marker whose BEGIN is not in the text)."""
    line_start = text.rfind("\n", 0, pos) + 1
    start = line_start if _PEM_BEFORE_END.fullmatch(text, line_start, pos) else pos
    pattern = _PEM_LAST_LINE  # the line just before END may be a short last line
    while line_start > 0:
        prev_start = text.rfind("\n", 0, line_start - 1) + 1
        if not pattern.fullmatch(text, prev_start, line_start - 1):
            break
        start = line_start = prev_start
        pattern = _PEM_BODY_LINE
    return start


def _following_lines(text: str, pos: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each line after the one holding ``pos``."""
    newline = text.find("\n", pos)
    while newline != -1:
        start = newline + 1
        newline = text.find("\n", start)
        yield start, (len(text) if newline == -1 else newline)


# --- Assignments to secret-looking names ----------------------------------------------------

# Run on the lower-cased text. A hit is a keyword that ends a name, maybe with a format
# suffix ("_b64", "2"), followed by what can start an assignment: ":", "=", "!=", the ">" of
# an XML tag, or a Go type before "=". One pattern per keyword, each starting with a literal
# (faster than one alternation) and each of bounded length, so a scan stays linear.
_SUFFIX = r"(?:[_.-]?(?:value|string|str|b64|base64|hex|raw|plaintext|plain|encrypted|enc|hash|\d{1,3}))?"
_KEYWORD_HITS = tuple(
    re.compile(rf"{keyword}{_SUFFIX}(?=[\"'`]?\]?[ \t]*[:=!>]|[ \t]+[a-z_][\w.]{{0,40}}[ \t]*=)")
    for keyword in ("pass(?:word|wd|phrase)?", "pwd", "secret", "token", "key", "credentials?"))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-$@")
_MAX_NAME = 128
# The (lower-cased) name must end with one of these keywords (and the suffix).
_SECRET_NAME = re.compile(
    r"(?P<kw>password|passwd|passphrase|pwd|pass|secret|token|credentials?|apikey"
    r"|(?:api|access|secret|private|auth|encryption|signing|master|client|account|app|service)"
    rf"[_.-]?key){_SUFFIX}$")
_ASSIGNMENT_TAIL = re.compile(
    r"""(?P<close>["'`]\]?|\])?      # end of a quoted key or a subscript: "password": / ["token"] =
        (?(close)|(?:[ \t]*:[ \t]*[A-Za-z_][\w.\[\], |]{0,60}?(?=[ \t]*=[^=>])  # Python/TS annotation
                    |[ \t]+[A-Za-z_][\w.]{0,40}(?=[ \t]*=[^=>]))?)             # Go: var pwd string =
        [ \t]*(?P<sep>:=|=>|===?|!==?|=|:(?!:))[ \t]*
        (?:(?P<prefix>[bBrRuUfF]{0,2})(?P<quote>["'`])(?P<quoted>(?:\\.|(?!(?P=quote))[^\\\n]){0,8192})(?P=quote)
          |(?P<bare>[^\s"'`]))""",
    re.X)
_COMPARISONS = ("==", "===", "!=", "!==")
_KEY_OPENERS = ("", "{", ",", "(", "[", "-")  # what may precede a "name:" that is a key
_CODE_BARE = re.compile(r"[^\s,;&)\]}\"'`]{1,1024}")  # an unquoted value in code ends at these
_CONFIG_BARE = re.compile(r"[^\n]{1,4096}")  # in a config file, at the end of the line
_CODE_REFERENCE = re.compile(r"[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*(?:[(\[].*)?")
_CONFIG_COMMENT = re.compile(r"\s[#;]|\s//")
_PATH_VALUE = re.compile(r"(?:~|\.{1,2})?/(?:[\w.@-]{1,60}/)+[\w.@-]*")
_PLACEHOLDER = re.compile(r"<[^<>]+>|\{[^{}]*\}|\$\w+|%\w+%|%[sdr]|:\w+")
_MASK_CHARS = frozenset("*•xX.?#_-:")
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_REGEX_SYNTAX = ("\\w", "\\d", "\\s", "\\b", "\\.", "\\/", "[^", "(?", "]+", "]*", "]{", ".*", ".+")
_TEMPLATE_PIECES = re.compile(r"%[-+ #0-9.]*[sdrfx]|\{[^{}]*\}")
_NON_LITERALS = frozenset(
    "none null nil true false yes no on off undefined ~ new required optional".split())
_INTERPOLATIONS = ("${", "{{", "%(", "#{", "$(", "...", "…")  # "..." elides: "sk-..."
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_MAX_XML_VALUE = 1024


def _is_reference(value: str) -> bool:
    """True for values that name a secret rather than hold one."""
    value = value.strip()
    return (not value or set(value) <= _MASK_CHARS or bool(_PLACEHOLDER.fullmatch(value))
            or any(mark in value for mark in _INTERPOLATIONS) or value.lower() in _NON_LITERALS
            or _only_templates(value))


def _only_templates(value: str) -> bool:
    """``"%s:%s"``, ``"{}@{}"``: format placeholders and punctuation."""
    rest, count = _TEMPLATE_PIECES.subn("", value)
    return count > 0 and not any(c.isalnum() for c in rest)


def _is_number(value: str) -> bool:
    return value.lstrip("+-").replace("_", "").replace(".", "", 1).isdigit()


def _normalized(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def _assignments(text: str, mode: str) -> list[SecretMatch]:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few non-ASCII letters grow when lower-cased
        lowered = "".join(c.lower() if c.isascii() else c for c in text)
    hits = sorted((hit.start(), hit.end()) for pattern in _KEYWORD_HITS
                  for hit in pattern.finditer(lowered))
    found: list[SecretMatch] = []
    done = 0  # hits before this were part of a name or value already looked at
    for hit_start, hit_end in hits:
        if hit_start < done:
            continue
        start, floor = hit_start, max(0, hit_start - _MAX_NAME)
        while start > floor and text[start - 1] in _NAME_CHARS:
            start -= 1
        match, done = _assignment_value(text, start, hit_end, mode)
        if match is not None:
            found.append(match)
    return found


def _assignment_value(text: str, start: int, end: int, mode: str) -> tuple[SecretMatch | None, int]:
    """The secret value assigned to the name ``text[start:end]``, if any, and where the
    assignment ends (hits before that need no look)."""
    name = text[start:end].strip("-.$@")
    keyword = _SECRET_NAME.search(name.lower())
    if keyword is None or not _keyword_starts_word(name, keyword.start("kw"), keyword.group("kw")):
        return None, end
    if text[start - 2:start] == "${":
        return None, end  # ${TOKEN:-default} names a variable
    opener = _char_before(text, start)
    if opener == "<":
        return _xml_value(text, end), end
    tail = _ASSIGNMENT_TAIL.match(text, end)
    if tail is None:
        return None, end
    sep = tail.group("sep")
    if sep == ":" and not tail.group("close") and (
            mode == "python" or opener not in _KEY_OPENERS or text[end] != ":"):
        return None, end  # prose ("Enter your password: ", "pass :data:`x`"), Python annotations
    if opener and opener in "\"'`" and tail.group("quote") == opener and tail.start("quote") == tail.end("sep"):
        return None, end  # the end of a string: 'Credential=' + key
    if tail.group("quote") is not None:
        value, value_start, scanned = tail.group("quoted"), tail.start("quoted"), tail.end()
        prefix = tail.group("prefix").lower()
        if ("f" in prefix and "{" in value) or ("r" in prefix and any(
                syntax in value for syntax in _REGEX_SYNTAX)):
            return None, scanned  # an f-string template; a regular expression
    else:
        value_start = tail.start("bare")
        if sep == ":" and mode in ("config", "unknown") and text[value_start] in "|>":
            block = _block_scalar(text, start, value_start)
            if block is not None:
                return SecretMatch("secret-assignment", *block), block[1]
        bare, scanned = _bare_value(text, value_start, mode)
        if bare is None:
            return None, scanned
        value = bare
    if sep in _COMPARISONS and (tail.group("quote") is None or keyword.group("kw") == "token"):
        return None, scanned  # lexers compare tokens all the time
    if (_is_reference(value) or _PATH_VALUE.fullmatch(value) or _HEX_COLOUR.fullmatch(value)
            or _normalized(value) in (_normalized(name), _normalized(keyword.group("kw")))
            or (keyword.group("kw") == "pwd" and value.startswith(("/", "~/", "./", "../")))):
        return None, scanned
    kind = _assignment_kind(name, value)
    return SecretMatch(kind, value_start, value_start + len(value)), scanned


_BLOCK_INDICATOR = re.compile(r"[|>][+-]?[1-9]?[+-]?[ \t]*(?:#[^\n]{0,1024})?(?=\n)")
_MAX_BLOCK_LINES = 500


def _block_scalar(text: str, key_start: int, indicator: int) -> tuple[int, int] | None:
    """The lines of a YAML block scalar (``password: |`` then lines indented deeper than the
    key) as (start, end), or None when ``indicator`` does not start one."""
    head = _BLOCK_INDICATOR.match(text, indicator)
    if head is None:
        return None
    key_column = key_start - (text.rfind("\n", 0, key_start) + 1)
    first = last = -1
    pos = head.end() + 1
    for _ in range(_MAX_BLOCK_LINES):
        if pos > len(text):
            break
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        line = text[pos:end]
        if line.strip():
            if len(line) - len(line.lstrip(" \t")) <= key_column:
                break
            first = pos if first == -1 else first
            last = end
        pos = end + 1
    return None if first == -1 else (first, last)


def _assignment_kind(name: str, value: str) -> str:
    lowered = name.lower()
    if (len(value) == 40 and set(value) <= _BASE64_CHARS and "secret" in lowered
            and ("aws" in lowered or "access" in lowered)):
        return "aws-secret-access-key"
    return "secret-assignment"


def _keyword_starts_word(name: str, at: int, keyword: str) -> bool:
    """``bypass``/``compass`` do not end in the keyword ``pass``; ``db_pass``/``dbPass`` do."""
    if keyword != "pass" or at == 0 or not name[at - 1].isalpha():
        return True
    return name[at].isupper() and name[at - 1].islower()  # camelCase: dbPass


def _char_before(text: str, pos: int) -> str:
    """The last character before ``pos`` on its line, spaces skipped ("" at line start)."""
    while pos > 0 and text[pos - 1] in " \t":
        pos -= 1
    return "" if pos == 0 or text[pos - 1] == "\n" else text[pos - 1]


def _xml_value(text: str, end: int) -> SecretMatch | None:
    """``<password>value</password>``."""
    if text[end:end + 1] != ">":
        return None
    close = text.find("</", end + 1, end + 1 + _MAX_XML_VALUE)
    if close == -1 or "\n" in text[end + 1:close] or _is_reference(text[end + 1:close]):
        return None
    return SecretMatch("secret-assignment", end + 1, close)


def _bare_value(text: str, pos: int, mode: str) -> tuple[str | None, int]:
    """The literal unquoted value at ``pos`` (None for an expression or a reference), and the
    end of what was read."""
    if mode == "config":
        raw = _CONFIG_BARE.match(text, pos)
        scanned = raw.end() if raw else pos
        value = _CONFIG_COMMENT.split(raw.group() if raw else "", maxsplit=1)[0].rstrip()
        if value[:1] in "|>!&*[{" or (_is_number(value) and len(value) <= 6):
            return None, scanned  # YAML block scalars, tags, anchors, collections; ports, timeouts
        return value, scanned
    raw = _CODE_BARE.match(text, pos)
    value = raw.group() if raw else ""
    scanned = pos + len(value)
    if _is_number(value) or value[:1] in "([{<!&*@$%":
        return None, scanned
    if _CODE_REFERENCE.fullmatch(value):
        # In code an identifier is a variable. Where the file type is unknown, an identifier
        # that mixes letters and digits (``hunter2``) is more likely a literal.
        if mode in ("code", "python") or not _mixed(value) or "." in value:
            return None, scanned
    return value, scanned


# --- Passwords after a keyword and a space ---------------------------------------------------
# No "=" or ":" between name and value, so the assignment rule does not see these: SQL
# (``CREATE USER app WITH PASSWORD 'x'``, ``ALTER USER app IDENTIFIED BY 'x'``, Oracle's
# unquoted ``IDENTIFIED BY tiger``) in any file, and the two password files of Unix tools:
# ``.netrc`` (``machine host login me password x``) and ``.pgpass`` (``host:port:db:user:x``).

# A quoted value that does not start with a space: ``"Enter password " PW`` quotes prose.
_QUOTED = r"""(?P<quote>['"])(?P<quoted>(?![ \t])(?:\\.|(?!(?P=quote))[^\\\n]){1,1024})(?P=quote)"""
_SQL_PASSWORD = re.compile(rf"password[ \t]+{_QUOTED}")
_IDENTIFIED_BY = rf"identified(?:[ \t]+with[ \t]+['\"\w]{{1,40}})?[ \t]+by[ \t]+(?:password[ \t]+)?"
_SQL_IDENTIFIED_BY = re.compile(rf"{_IDENTIFIED_BY}{_QUOTED}")
# Unquoted (Oracle's ``IDENTIFIED BY tiger``) only in SQL files: in prose "identified by" is
# followed by ordinary words.
_SQL_IDENTIFIED_BY_BARE = re.compile(rf"{_IDENTIFIED_BY}(?P<bare>[^\s;'\"]{{1,256}})")
_SQL_SUFFIXES = (".sql", ".pls", ".pks", ".pkb", ".ddl")
_NETRC_PASSWORD = re.compile(r'password[ \t]+(?:"(?P<quoted>[^"\n]{1,1024})"|(?P<bare>[^\s"]{1,1024}))')
_NETRC_NAMES = (".netrc", "_netrc", "netrc")
_PGPASS_NAMES = (".pgpass", "pgpass.conf")
_PGPASS_FIELD = re.compile(r"(?:\\.|[^:\\\n])*")  # one field; "\:" is an escaped colon


def _spaced_passwords(text: str, name: str) -> list[SecretMatch]:
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c.lower() if c.isascii() else c for c in text)
    if name.endswith(_NETRC_NAMES):
        patterns = [_NETRC_PASSWORD]
    else:
        patterns = [_SQL_PASSWORD, _SQL_IDENTIFIED_BY]
        if name.endswith(_SQL_SUFFIXES):
            patterns.append(_SQL_IDENTIFIED_BY_BARE)
    found = []
    for pattern in patterns:
        for hit in pattern.finditer(lowered):
            group = "quoted" if "quoted" in hit.re.groupindex and hit.group("quoted") else "bare"
            value = text[hit.start(group):hit.end(group)]
            if not _is_reference(value):
                found.append(SecretMatch("secret-assignment", hit.start(group), hit.end(group)))
    if name in _PGPASS_NAMES:
        found.extend(_pgpass_passwords(text))
    return found


def _pgpass_passwords(text: str) -> list[SecretMatch]:
    """The fifth field of each ``hostname:port:database:username:password`` line."""
    found = []
    pos = 0
    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        if not text[pos:end].lstrip().startswith("#"):
            field_start = pos
            for _ in range(4):
                field = _PGPASS_FIELD.match(text, field_start, end)
                if field is None or field.end() >= end or text[field.end()] != ":":
                    break
                field_start = field.end() + 1
            else:
                if text[field_start:end].strip() not in ("", "*"):
                    found.append(SecretMatch("secret-assignment", field_start, end))
        pos = end + 1
    return found


# --- High-entropy strings -------------------------------------------------------------------

_MIN_RUN = 32
_CANDIDATE = re.compile(rf"(?<![{_B64}_\-=])[{_B64}_\-]{{{_MIN_RUN},}}={{0,2}}")
_WORDS = re.compile(r"[A-Z]?[a-z]{3,}")
_HEX_CHARS = frozenset("0123456789abcdefABCDEF-")
_SRI_PREFIXES = ("sha1-", "sha256-", "sha384-", "sha512-")
_SEPARATORS = re.compile(r"[/_-]")
_WORD_WITH_VERSION = re.compile(r"[A-Za-z]+[0-9]{0,8}")
_READABLE_RUNS = re.compile(r"[A-Z]?[a-z]{2,}|[A-Z]{2,}|[0-9]+")
_ALPHABET_RUNS = ("abcdefg", "ABCDEFG", "0123456", "nopqrst", "NOPQRST")
# Just before a candidate: a digest's algorithm, a data URI, an SSH public key's type.
_NOT_SECRET_BEFORE = re.compile(
    r"(?:sha\d{0,3}|md5|h1)[-:]$|base64,$|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+) $")
# Entropy that a random base62/base64 string of this length reaches 999 times in 1000.
_ENTROPY_POINTS = ((32, 4.0), (40, 4.3), (64, 4.75))


def shannon_entropy(value: str) -> float:
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


def _entropy_threshold(length: int) -> float:
    (x0, y0), *rest = _ENTROPY_POINTS
    for x1, y1 in rest:
        if length <= x1:
            return y0 + (y1 - y0) * max(0, length - x0) / (x1 - x0)
        x0, y0 = x1, y1
    return y0


def _high_entropy(text: str, exempt: list[tuple[int, int]]) -> list[SecretMatch]:
    exempt_starts = [a for a, _ in exempt]  # sorted and disjoint
    found = []
    for m in _long_runs(text):
        at = bisect_right(exempt_starts, m.start()) - 1
        if at >= 0 and m.start() < exempt[at][1]:
            continue
        if (not _NOT_SECRET_BEFORE.search(text[max(0, m.start() - 24):m.start()].lower())
                and _looks_random(m.group())):
            found.append(SecretMatch("high-entropy", m.start(), m.end()))
    return found


def _long_runs(text: str) -> Iterator[re.Match[str]]:
    """Candidates, searched only inside words of 32+ characters (``str.split`` is cheap)."""
    cursor = 0
    for word in [w for w in text.split() if len(w) >= _MIN_RUN]:
        start = text.find(word, cursor)
        cursor = start + len(word)
        yield from _CANDIDATE.finditer(text, start, cursor)


def _looks_random(value: str) -> bool:
    core = value.rstrip("=")
    if not _mixed(core) or set(core) <= _HEX_CHARS or core.lower().startswith(_SRI_PREFIXES):
        return False  # words; hex digests, git SHAs, UUIDs; subresource-integrity hashes
    if sum(len(w) for w in _WORDS.findall(core)) >= 0.6 * len(core) or _reads_as_slug(core):
        return False  # camelCase or snake_case words; URL paths, kebab-case names
    if shannon_entropy(core) < _entropy_threshold(len(core)):
        return False
    if any(run in core for run in _ALPHABET_RUNS):
        return False  # "ABCDEFGHIJ...0123456789": an alphabet, not a key
    return not _decodes_to_prose(core)


def _reads_as_slug(core: str) -> bool:
    """``org/wiki/List_of_ISO_639-1_codes``, ``gpt-4o-mini-2024-07-18``: every part between
    separators is short, a number, a hex id or a word (with maybe a version number). Random
    tokens split into such parts about 1 time in 400 at 32 characters, never at 64."""
    segments = _SEPARATORS.split(core)
    return len(segments) > 1 and all(_readable_segment(s) for s in segments)


def _readable_segment(segment: str) -> bool:
    if len(segment) <= 3 or segment.isdigit() or (len(segment) >= 7 and set(segment) <= _HEX_CHARS):
        return True
    if _WORD_WITH_VERSION.fullmatch(segment) is None:
        return False
    return sum(len(run) for run in _READABLE_RUNS.findall(segment)) >= 0.75 * len(segment)


def _decodes_to_prose(value: str) -> bool:
    import base64  # rarely needed: only for strings that already look random
    import binascii

    altchars = b"-_" if ("-" in value or "_" in value) else None
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), altchars=altchars,
                                   validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return False
    return " " in decoded and decoded.isprintable()


# --- Putting it together ---------------------------------------------------------------------

_GENERIC = ("secret-assignment", "high-entropy")
_CONFIG_SUFFIXES = (".env", ".envrc", ".ini", ".cfg", ".conf", ".properties", ".yaml", ".yml",
                    ".toml", ".sh", ".bash", ".zsh", ".ksh", ".tfvars", ".npmrc", ".pypirc",
                    ".netrc", ".pgpass", ".dockerfile", ".service", ".mk")
_CONFIG_NAMES = ("dockerfile", "makefile", "gnumakefile", "procfile", "containerfile")
_CODE_SUFFIXES = (".py", ".pyi", ".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts",
                  ".rb", ".go", ".java", ".kt", ".kts", ".scala", ".cs", ".php", ".rs", ".swift",
                  ".c", ".h", ".cc", ".cpp", ".hpp", ".m", ".mm", ".lua", ".pl", ".pm", ".r",
                  ".dart", ".ex", ".exs", ".erl", ".hs", ".clj", ".groovy", ".gradle", ".tf",
                  ".hcl", ".vue", ".svelte", ".json", ".jsonc", ".json5", ".sql", ".jl", ".fs")


def file_mode(path: str | None) -> str:
    """How an unquoted assigned value is read: ``"config"`` (a literal), ``"code"`` or
    ``"python"`` (an expression; in Python ``name: value`` is an annotation or a dict keyed by a
    variable, so only quoted keys count there), or ``"unknown"``."""
    if not path:
        return "unknown"
    name = path.rsplit("/", 1)[-1].lower()
    if name.startswith(".env") or name in _CONFIG_NAMES or name.endswith(_CONFIG_SUFFIXES):
        return "config"
    if name.endswith((".py", ".pyi", ".pyw")):
        return "python"
    if name.endswith(_CODE_SUFFIXES):
        return "code"
    return "unknown"


def find_secrets(text: str, *, path: str | None = None) -> list[SecretMatch]:
    """Every secret in ``text``, non-overlapping, sorted by position.

    ``path`` (optional) tells how to read unquoted assigned values: in a config file
    ``PASSWORD=hunter2`` is a literal, in code ``password = hunter2`` names a variable.
    """
    ranked: list[SecretMatch] = []  # most specific first
    exempt: list[tuple[int, int]] = []
    if "-----" in text:
        ranked, exempt = _pem_blocks(text)
    ranked.extend(_shape_matches(text))
    if "://" in text:
        ranked.extend(_url_passwords(text))
    ranked.extend(_assignments(text, file_mode(path)))
    name = path.rsplit("/", 1)[-1].lower() if path else ""
    if "password" in text.lower() or "identified" in text.lower() or name in _PGPASS_NAMES:
        ranked.extend(_spaced_passwords(text, name))
    ranked.extend(_high_entropy(text, exempt))
    return _resolve_overlaps(ranked)


def _resolve_overlaps(ranked: list[SecretMatch]) -> list[SecretMatch]:
    """Keep matches in rank order; a generic match that covers specific ones absorbs them."""
    kept: list[SecretMatch] = []  # sorted by start, disjoint
    for match in ranked:
        at = bisect_left(kept, (match.end,), key=lambda m: (m.start,))
        first = at
        while first > 0 and kept[first - 1].end > match.start:
            first -= 1
        overlapping = kept[first:at]
        if not overlapping:
            kept.insert(at, match)
        elif match.kind in _GENERIC and match.start <= overlapping[0].start \
                and overlapping[-1].end <= match.end:
            # "password = 'ghp_... and more'": hide the rest of the value too.
            if (match.end - match.start) - sum(k.end - k.start for k in overlapping) >= 4:
                kept[first:at] = [SecretMatch(overlapping[0].kind, match.start, match.end)]
    return kept


def redact_text(text: str, *, path: str | None = None) -> tuple[str, int]:
    """``text`` with every secret replaced by ``[REDACTED:<kind>]``, and how many there were.

    The number of lines never changes: a match spanning lines is replaced on each line.
    """
    matches = find_secrets(text, path=path) if text else []
    if not matches:
        return text, 0
    parts: list[str] = []
    pos = 0
    for match in matches:
        parts.append(text[pos:match.start])
        parts.append(_replace_lines(text[match.start:match.end], marker(match.kind)))
        pos = match.end
    parts.append(text[pos:])
    return "".join(parts), len(matches)


def _replace_lines(secret: str, label: str) -> str:
    pieces = []
    for piece in secret.split("\n"):
        body = piece.lstrip(" \t")
        pieces.append(piece[:len(piece) - len(body)] + label if body.strip() else piece)
    return "\n".join(pieces)


def redact_hunk(hunk: Hunk) -> tuple[Hunk, int]:
    """A copy of ``hunk`` with secrets redacted in every line it carries; line numbers unchanged.

    The extra context, the diff lines and the trailing context are redacted as one text, in
    order, so a key block that spans lines is recognized as a whole.
    """
    before = [text for _, text in hunk.context_before]
    after = [text for _, text in hunk.context_after]
    texts = [*before, *(line.text for line in hunk.lines), *after]
    if any("\n" in t for t in texts):
        redacted, count = _redact_each(texts, hunk.path)
    else:
        joined, count = redact_text("\n".join(texts), path=hunk.path)
        redacted = joined.split("\n")
    header, header_count = redact_text(hunk.section_header, path=hunk.path)
    enclosing, enclosing_count = redact_text(hunk.enclosing or "", path=hunk.path)
    total = count + header_count + enclosing_count
    if total == 0:
        return hunk, 0
    n_before, n_lines = len(before), len(hunk.lines)
    lines = tuple(replace(line, text=text) if text != line.text else line
                  for line, text in zip(hunk.lines, redacted[n_before:n_before + n_lines]))
    return replace(
        hunk,
        lines=lines,
        context_before=tuple((n, t) for (n, _), t in zip(hunk.context_before, redacted)),
        context_after=tuple((n, t) for (n, _), t in zip(hunk.context_after,
                                                          redacted[n_before + n_lines:])),
        section_header=header,
        enclosing=enclosing if hunk.enclosing is not None else None,
        extra=dict(hunk.extra),
    ), total


def _redact_each(texts: list[str], path: str) -> tuple[list[str], int]:
    out, total = [], 0
    for text in texts:
        clean, count = redact_text(text, path=path)
        out.append(clean)
        total += count
    return out, total
