"""Values assigned to secret-looking names: ``DB_PASSWORD=x``, ``"client_secret": "x"``,
``apiKey: x``, ``<password>x</password>``, and YAML block scalars under such names."""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, is_reference, key_material, mixed
from aider_hooks.redact.names import SECRET_NAME, SUFFIX, keyword_starts_word, secret_name_kind


# Run on the lower-cased text. A hit is a keyword that ends a name, maybe with a format
# suffix ("_b64", "2"), followed by what can start an assignment: ":", "=", "!=", the ">" of
# an XML tag, or a Go type before "=". One pattern per keyword, each starting with a literal
# (faster than one alternation) and each of bounded length, so a scan stays linear.
_KEYWORD_HITS = tuple(
    re.compile(rf"{keyword}{SUFFIX}(?=[\"'`]?\]?[ \t]*[:=!>]|[ \t]+[a-z_][\w.]{{0,40}}[ \t]*=)")
    for keyword in ("pass(?:word|wd|phrase)?", "pwd", "secret", "token", "key", "credentials?",
                    "auth", "key[_.-]?base",
                    # Rarer endings share one pattern: each pattern costs ~0.4 ms to compile.
                    "(?:salt|pepper|pat|nonce|seed)"))
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-$@")
_MAX_NAME = 128
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
_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_REGEX_SYNTAX = ("\\w", "\\d", "\\s", "\\b", "\\.", "\\/", "[^", "(?", "]+", "]*", "]{", ".*", ".+")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_MAX_XML_VALUE = 1024
# Just before a name, these say it is inside a string: a connection string's ";", a URL
# query's "?" and "&". The value there is a literal, whatever the file type.
_IN_A_STRING = (";", "?", "&")
_CONNECTION_BARE = re.compile(r"[^\s;&#\"'`]{1,1024}")  # ends at the next field or the quote


def _is_number(value: str) -> bool:
    return value.lstrip("+-").replace("_", "").replace(".", "", 1).isdigit()


def _normalized(text: str) -> str:
    return "".join(c for c in text.lower() if c.isalnum())


def assignments(text: str, lowered: str, mode: str) -> list[SecretMatch]:
    """``lowered``: ``common.lower_same_length(text)``, which the caller has already."""
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
    keyword = SECRET_NAME.search(name.lower())
    strong = keyword is not None and keyword_starts_word(name, keyword.start("kw"),
                                                         keyword.group("kw"))
    kw = keyword.group("kw") if keyword is not None and strong else "key"
    if not strong and secret_name_kind(name) != "key":
        return None, end  # a key or salt name holds a secret only when its value is key material
    if text[start - 2:start] == "${":
        return None, end  # ${TOKEN:-default} names a variable
    opener = _char_before(text, start)
    if opener == "<":
        xml = _xml_value(text, end)
        if xml is not None and not strong and not key_material(text[xml.start:xml.end]):
            xml = None
        return xml, end
    tail = _ASSIGNMENT_TAIL.match(text, end)
    if tail is None:
        return None, end
    sep = tail.group("sep")
    if sep == ":" and not tail.group("close") and (
            mode == "python" or opener not in _KEY_OPENERS or text[end] != ":"):
        return None, end  # prose ("Enter your password: ", "pass :data:`x`"), Python annotations
    if (opener and opener in "\"'`" and not tail.group("close")
            and tail.group("quote") == opener and tail.start("quote") == tail.end("sep")):
        return None, end  # the end of a string: 'Credential=' + key (not JSON's "k":"v")
    if opener in _IN_A_STRING:
        mode = "connection"  # Server=db;Password=x, ?api_key=x&: a literal inside a string
    triple = _triple_quoted(text, tail)
    if triple is not None:
        value, value_start, scanned = triple
    elif tail.group("quote") is not None:
        value, value_start, scanned = tail.group("quoted"), tail.start("quoted"), tail.end()
        prefix = tail.group("prefix").lower()
        if ("f" in prefix and "{" in value) or ("r" in prefix and any(
                syntax in value for syntax in _REGEX_SYNTAX)):
            return None, scanned  # an f-string template; a regular expression
    else:
        value_start = tail.start("bare")
        if sep == ":" and mode in ("config", "unknown") and text[value_start] in "|>" and strong:
            block = _block_scalar(text, start, value_start)
            if block is not None:
                return SecretMatch("secret-assignment", *block), block[1]
        bare, scanned = _bare_value(text, value_start, mode)
        if bare is None:
            return None, scanned
        value = bare
    if sep in _COMPARISONS and (tail.group("quote") is None or kw == "token"):
        return None, scanned  # lexers compare tokens all the time
    if (is_reference(value) or _PATH_VALUE.fullmatch(value) or _HEX_COLOUR.fullmatch(value)
            or _normalized(value) in (_normalized(name), _normalized(kw))
            or (kw == "pwd" and value.startswith(("/", "~/", "./", "../")))):
        return None, scanned
    if not strong and not key_material(value):
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


def _triple_quoted(text: str, tail: re.Match[str]) -> tuple[str, int, int] | None:
    """``password = \"\"\"x\"\"\"`` (Python, TOML): the value, where it starts, and the end
    of the assignment; None for anything else (the tail then read an empty string)."""
    quote = tail.group("quote")
    if quote is None or tail.group("quoted") or text[tail.end():tail.end() + 1] != quote:
        return None
    start = tail.end() + 1
    close = text.find(quote * 3, start, start + 8192)
    if close == -1 or "\n" in text[start:close]:
        return None
    return text[start:close], start, close + 3


def _assignment_kind(name: str, value: str) -> str:
    lowered = name.lower()
    if (len(value) == 40 and set(value) <= _BASE64_CHARS and "secret" in lowered
            and ("aws" in lowered or "access" in lowered)):
        return "aws-secret-access-key"
    return "secret-assignment"


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
    if close == -1 or "\n" in text[end + 1:close] or is_reference(text[end + 1:close]):
        return None
    return SecretMatch("secret-assignment", end + 1, close)


_STATEMENT_END = re.compile(r"[ \t]*(?:;[ \t]*)?(?:(?:#|//)[^\n]*)?(?:\n|$)")
_NAMEISH = ("pass", "pwd", "secret", "token", "key", "cred", "auth", "word", "user", "name")


def _literal_word(text: str, value: str, end: int) -> bool:
    """``password = hunter2`` in code: an unquoted word that is most likely a literal, not a
    variable: it mixes letters and digits, is not snake_case or a dotted name, says nothing of
    a secret itself (``password = new_password``, ``token = pw_token2``), is used nowhere else
    in the text, and ends the statement (not ``f(password=pw1)``)."""
    if not mixed(value) or "_" in value or "." in value or not value[0].isalpha():
        return False
    lowered = value.lower()
    if any(word in lowered for word in _NAMEISH) or text.count(value) > 1:
        return False
    return _STATEMENT_END.match(text, end) is not None


def _bare_value(text: str, pos: int, mode: str) -> tuple[str | None, int]:
    """The literal unquoted value at ``pos`` (None for an expression or a reference), and the
    end of what was read."""
    if mode == "connection":
        raw = _CONNECTION_BARE.match(text, pos)
        value = raw.group() if raw else ""
        return (value or None), pos + len(value)
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
        if mode in ("code", "python") and _literal_word(text, value, scanned):
            return value, scanned
        if mode in ("code", "python") or not mixed(value) or "." in value:
            return None, scanned
    return value, scanned
