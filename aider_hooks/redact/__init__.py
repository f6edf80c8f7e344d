"""Secrets never leave the machine: find them in text and replace them by ``[REDACTED:<kind>]``.

This package is the public entry (``find_secrets``, ``redact_text``, ``redact_hunk``) and
ranks the matches; each kind of rule is a module: ``shapes`` (known token shapes, vendor
shapes, webhook and signed URLs, passwords in URLs), ``pem`` (key blocks), ``assignments``
(values of secret-looking names), ``spaced_passwords`` (SQL, ``.netrc``, ``.pgpass``),
``connection_strings`` (libpq, Oracle, Go MySQL), ``positional`` (credentials passed as
arguments), ``flags`` (command lines), ``headers``, ``markup`` (XML, name/value objects,
Terraform defaults), ``secret_paths`` (whole files known by path, credential table columns),
``prose`` (comments and prose), ``split_strings``, ``entropy`` (long random-looking
strings), ``failsafe`` (random-looking values of 16+ characters wherever they stand),
``names`` (which names name a secret) and ``common`` (what they share). The classes each
module covers are in its docstring; ``tests/data/secret_corpus.py`` has examples of each.

Why our own patterns and not ``detect-secrets``: this runs on every hunk of every commit, and
importing detect-secrets costs 120-200 ms (its plugin registry is loaded eagerly), most of the
hook's budget when little is staged; its last release is from 2024. The tests use it as an
oracle instead: every line of our corpus of fake secrets that detect-secrets flags must be
redacted by us too (and on that corpus it finds a dozen secrets detect-secrets does not).

Cost: this package needs only ``re``, ``math`` and ``bisect``; its ~130 regexes are compiled
at import (~18 ms of CPU for the compiles on a slow 2-core machine where the ~60 regexes
before the positional/flag/header/markup/prose rules took 8.8 ms; ~9 ms there was measured
on a faster one; the whole import: 27 ms against 16 ms on the slow machine). A regex that
starts with a literal (``AKIA``, ``ghp_``, ``sk-``...) is found about as fast as ``in``; a
leading look-behind, class or alternation makes a scan up to ten times slower, so the rules
led by one of several keywords find them with ``str.find`` (``common.hits``) and try their
pattern only there, word boundaries are checked in Python on the few hits, and the vendor
shapes are data matched where their prefix occurs. Every pattern is of bounded length or
consumes what it scans, so the time is linear in the text, also for hostile input (21 kinds
of 100 kB line in ``tests/test_secret_corpus.py``: each well under a second). Measured: 797
hunks of this project's code (26 lines, ~1 kB each) in ~270 ms of CPU, ~0.3 ms a hunk (~52
ms before the new rules).

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
  pass, passphrase, secret, token, credential(s), auth, secret_key_base or
  api/access/secret/private/auth/hmac/subscription/... key (``DB_PASSWORD=``,
  ``"client_secret":``, ``apiKey: ``, ``--token=``, ``<password>``, npm's ``_auth=``...),
  quoted, triple-quoted or bare; also inside a string after ``;``, ``?`` or ``&``
  (``"Server=db;Password=x"``, ``"...?api_key=x&..."``), where a bare value is a literal.
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
  An unquoted word assigned in code is a literal when it mixes letters and digits, says
  nothing of a secret itself, is used nowhere else in the text and ends the statement
  (``password = hunter2``; not ``password = new_password`` nor ``f(password=pw1)``).
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

- Then, ranked after the assignment rule: connection strings of other dialects, positional
  credentials, command lines, headers, markup and name/value objects, whole files known by
  path and credential table columns, comments and prose, split strings (each module's
  docstring says what it covers). Source escaped in a JSON string (notebooks) is read a
  second time with each ``\\"`` as a quote.
- Last, the fail-safe (``failsafe``): a random-looking value of 16+ characters wherever it
  stands, when no rule above named it.

Matches never overlap and come sorted by position. Redaction keeps the number of lines: a
match spanning lines is replaced line by line, so line numbers in prompts stay true.
"""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING

from aider_hooks.hunk import Hunk

if TYPE_CHECKING:
    from aider_hooks.redact.common import SecretMatch
    from aider_hooks.results import TextMemo

__all__ = ["SecretMatch", "file_mode", "find_secrets", "marker", "names_with_secrets", "redact_hunk",
           "redact_hunks", "redact_text"]


def __getattr__(name: str) -> object:
    # ``SecretMatch`` lives with the rules' shared helpers, whose regexes compile at import:
    # loaded on first use, like the rules (``_ranker``).
    if name == "SecretMatch":
        from aider_hooks.redact.common import SecretMatch

        return SecretMatch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


_GENERIC = ("secret-assignment", "high-entropy", "random-value")
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
    ranked = _ranked(text, path)
    if '\\"' in text:
        # Source escaped inside a JSON string (a notebook's cells): read it once more with
        # each \" as a plain quote, and map what is found back onto the text.
        from aider_hooks.redact.common import SecretMatch

        view, positions = _unescaped(text)
        for match in _ranked(view, path):
            if match.end > match.start:
                ranked.append(SecretMatch(match.kind, positions[match.start],
                                          positions[match.end - 1] + 1))
    return _resolve_overlaps(ranked)


def _unescaped(text: str) -> tuple[str, list[int]]:
    """``text`` with every ``\\"`` read as ``"``, and for each of its positions the position
    in ``text``."""
    parts = text.split('\\"')
    positions: list[int] = []
    at = 0
    for index, part in enumerate(parts):
        positions.extend(range(at, at + len(part)))
        at += len(part)
        if index < len(parts) - 1:
            positions.append(at + 1)  # the quote after the backslash
            at += 2
    return '"'.join(parts), positions


def _ranked(text: str, path: str | None) -> list[SecretMatch]:
    return _ranker()(text, path)


@cache
def _ranker() -> Callable[[str, str | None], list[SecretMatch]]:
    """The rules, imported on the first scan: their ~130 regexes compile at import, which a
    run whose every text is known clean (``redact_hunks`` with a memo) never pays for."""
    from aider_hooks.redact.ranking import ranked

    return ranked


def _resolve_overlaps(ranked: list[SecretMatch]) -> list[SecretMatch]:
    """Keep matches in rank order; a generic match that covers specific ones absorbs them."""
    from aider_hooks.redact.common import SecretMatch

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
    texts = _hunk_texts(hunk)
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
    n_before, n_lines = len(hunk.context_before), len(hunk.lines)
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


def redact_hunks(hunks: Sequence[Hunk], *, memo: TextMemo | None = None,
                 ) -> list[tuple[Hunk, int]]:
    """``redact_hunk`` of each hunk. With ``memo``, a hunk whose texts an earlier run found
    no secret in (the same path, lines, header and enclosing line, and the same rules) is
    passed on as it is without a scan; only such clean results are remembered."""
    if memo is None:
        return [redact_hunk(hunk) for hunk in hunks]
    from aider_hooks.results import CLEAN, result_key

    keys = [result_key("no-secret-in-hunk", hunk.path, repr(_hunk_texts(hunk)),
                       hunk.section_header, hunk.enclosing or "") for hunk in hunks]
    known = memo.get_many(keys)
    done: list[tuple[Hunk, int]] = []
    for hunk, key in zip(hunks, keys):
        if known.get(key) == CLEAN:
            done.append((hunk, 0))
            continue
        clean, count = redact_hunk(hunk)
        if count == 0:
            memo.put(key, CLEAN)
        done.append((clean, count))
    return done


def names_with_secrets(paths: Iterable[str], *, memo: TextMemo | None = None) -> set[str]:
    """Those of ``paths`` whose very name holds a secret (such a file cannot be sent: its
    path, which findings are anchored by, cannot be redacted). ``memo`` as in
    ``redact_hunks``."""
    names = sorted(set(paths))
    if memo is None:
        return {name for name in names if find_secrets(name, path=name)}
    from aider_hooks.results import CLEAN, result_key

    keys = [result_key("no-secret-in-name", name) for name in names]
    known = memo.get_many(keys)
    found: set[str] = set()
    for name, key in zip(names, keys):
        if known.get(key) == CLEAN:
            continue
        if find_secrets(name, path=name):
            found.add(name)
        else:
            memo.put(key, CLEAN)
    return found


def _hunk_texts(hunk: Hunk) -> list[str]:
    """Every text of the hunk that ``redact_hunk`` scans as one, in order."""
    return [*(text for _, text in hunk.context_before), *(line.text for line in hunk.lines),
            *(text for _, text in hunk.context_after)]


def _redact_each(texts: list[str], path: str) -> tuple[list[str], int]:
    out, total = [], 0
    for text in texts:
        clean, count = redact_text(text, path=path)
        out.append(clean)
        total += count
    return out, total
