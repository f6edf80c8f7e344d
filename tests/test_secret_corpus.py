"""The corpus of fake secrets in many formats (tests/data/secret_corpus.py): none survives
redaction, not even an 8-character piece; detect-secrets finds nothing in it that we miss;
and no input makes redaction slow."""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from aider_hooks.redact import find_secrets, redact_text
from tests.data.secret_corpus import FORMATS, SECRET_CORPUS, SecretRecord

_MARKER = re.compile(r"\[REDACTED:[\w-]+\]")


def fragments(secret: str, size: int = 8) -> list[str]:
    """Every piece of ``size`` characters of each line of the secret (the whole line if shorter)."""
    pieces = []
    for line in secret.split("\n"):
        if len(line) <= size:
            pieces.append(line)
        else:
            pieces += [line[i:i + size] for i in range(len(line) - size + 1)]
    return [p for p in pieces if p.strip()]


def surviving(record: SecretRecord, redacted: str) -> list[str]:
    """Pieces of the record's secrets still in ``redacted`` (markers aside: a marker may name
    a vendor whose name is also the token's prefix; so may the record's path)."""
    shown = _MARKER.sub("\0", redacted)
    public = record.path + "\0" + record.format  # "rubygems" in src/rubygems.ts is no leak
    return [piece for secret in record.secrets for piece in fragments(secret)
            if piece in shown and piece not in public]


def test_the_corpus_is_large_and_varied() -> None:
    assert len(SECRET_CORPUS) >= 300
    assert len(FORMATS) >= 150
    kinds_of_file = {Path(r.path).suffix or Path(r.path).name for r in SECRET_CORPUS}
    assert len(kinds_of_file) >= 40
    families = {f.split(":", 1)[0] for f in FORMATS}
    assert {"vendor", "positional", "flag", "header", "xml", "json", "yaml", "notebook",
            "comment", "markdown", "split", "dsn", "jdbc", "path", "csv", "name", "hcl",
            "python", "failsafe", "webhook", "signed-url"} <= families


@pytest.mark.parametrize("record", SECRET_CORPUS, ids=lambda r: f"{r.format}:{r.path}")
def test_no_secret_of_the_corpus_survives_redaction(record: SecretRecord) -> None:
    redacted, count = redact_text(record.text, path=record.path)

    assert count >= 1
    for secret in record.secrets:
        assert secret not in redacted
    assert surviving(record, redacted) == []
    assert redacted.count("\n") == record.text.count("\n"), "redaction must keep every line"


def test_the_corpus_holds_300_distinct_secrets_in_distinct_records() -> None:
    # A vendor token is placed twice (two kinds of file), so count distinct secrets too.
    assert len({s for r in SECRET_CORPUS for s in r.secrets}) >= 300
    assert len({(r.path, r.text) for r in SECRET_CORPUS}) == len(SECRET_CORPUS)


def test_detect_secrets_finds_nothing_in_the_corpus_that_we_miss(tmp_path: Path) -> None:
    """detect-secrets as a second opinion, run as its users run it (whole files, default
    plugins and filters): every secret it reports must be gone after our redaction."""
    pytest.importorskip("detect_secrets")
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    flagged, missed = 0, []
    with default_settings():
        for number, record in enumerate(SECRET_CORPUS):
            file = tmp_path / str(number) / record.path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(record.text + "\n", encoding="utf-8")
            redacted_lines = redact_text(record.text, path=record.path)[0].split("\n")
            for found in scan_file(str(file)):
                flagged += 1
                line = redacted_lines[found.line_number - 1]
                if found.secret_value and found.secret_value in line:
                    missed.append((found.type, record.format, line))
    assert flagged >= 150, "the oracle should have plenty to say about this corpus"
    assert missed == []


# Hostile inputs: one 100 kB line each, built to make a careless pattern backtrack.
PATHOLOGICAL = {
    "one character": "a" * 100_000,
    "one long token": "Ab3" * 33_334,
    "password=": "password=" * 11_112,
    "repeated key words": "api key is " * 9_091,
    "quotes and plus": '"ab" + ' * 14_286,
    "open quotes": '"' * 100_000,
    "xml attributes": "<a b='c' " * 11_112,
    "unclosed tag": "<a" + " b='c'" * 16_666,
    "flags": "mysql -p -p -p " * 6_667,
    "curl users": "curl -u a:b " * 8_334,
    "headers": "X-Api-Key: " * 9_091,
    "slashes": "admin / " * 12_500,
    "commas in a call": "login(" + '"a", ' * 19_999,
    "dsn pairs": "host=a user=b " * 7_143,
    "name fields": '{"key": "api_key", ' * 5_264,
    "machine lines": "machine a login b " * 5_556,
    "table bars": "|" * 100_000,
    "escaped quotes": '\\"' * 50_000,
    "dots": "a." * 50_000,
    "base64 with a few breaks": ("QUJD" * 200 + "\\n") * 125,
    "vendor prefixes": "sk-ghp_dapixoxb-" * 6_250,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_a_pathological_100_kb_line_is_redacted_in_well_under_a_second(name: str) -> None:
    text = PATHOLOGICAL[name]
    assert len(text) >= 99_000
    for path in (None, "x.py", "x.csv", "README.md"):
        started = time.perf_counter()
        find_secrets(text, path=path)
        assert time.perf_counter() - started < 0.75, (name, path)


def test_redaction_of_the_whole_corpus_is_fast() -> None:
    started = time.perf_counter()
    for record in SECRET_CORPUS:
        redact_text(record.text, path=record.path)
    assert time.perf_counter() - started < 2.0
