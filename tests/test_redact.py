"""aider_hooks.redact: every kind of fake secret is hidden, ordinary code is left alone, and whatever
detect-secrets finds in the corpus we find too."""
from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from aider_hooks.hunk import DiffLine, Hunk
from aider_hooks.redact import find_secrets, redact_hunk, redact_text
from tests.data.fake_secrets import (
    AKIA,
    B64,
    BEGIN,
    END,
    FAKE_SECRETS,
    GH,
    ORDINARY_CODE,
    PRIVATE,
    FakeSecret,
    rand,
)


def _fragments(secret: str, size: int = 8) -> list[str]:
    """Every piece of ``size`` characters of each line of the secret (the whole line if shorter)."""
    pieces = []
    for line in secret.split("\n"):
        if len(line) <= size:
            pieces.append(line)
        else:
            pieces += [line[i:i + size] for i in range(len(line) - size + 1)]
    return [p for p in pieces if p.strip()]


def _ids(secret: FakeSecret) -> str:
    return f"{secret.kind}:{secret.path}"


@pytest.mark.parametrize("secret", FAKE_SECRETS, ids=_ids)
def test_every_fake_secret_is_redacted_with_its_kind(secret: FakeSecret) -> None:
    redacted, count = redact_text(secret.text, path=secret.path)

    assert f"[REDACTED:{secret.kind}]" in redacted
    assert count >= 1
    leaked = [piece for piece in _fragments(secret.secret) if piece in redacted]
    assert not leaked, f"fragments of the secret survived: {leaked[:3]}"
    assert redacted.count("\n") == secret.text.count("\n"), "redaction must keep every line"


def test_the_corpus_covers_every_kind_the_brief_names() -> None:
    kinds = {s.kind for s in FAKE_SECRETS}
    assert {"private-key", "aws-access-key-id", "aws-secret-access-key", "github-token",
            "openai-key", "anthropic-key", "slack-token", "slack-webhook", "stripe-key",
            "google-api-key", "jwt", "password-in-url", "secret-assignment",
            "high-entropy"} <= kinds


@pytest.mark.parametrize("path", sorted(ORDINARY_CODE))
def test_ordinary_code_passes_through_untouched(path: str) -> None:
    text = ORDINARY_CODE[path]

    found = find_secrets(text, path=path)

    assert [(m.kind, text[m.start:m.end]) for m in found] == []
    assert redact_text(text, path=path) == (text, 0)


def test_ordinary_code_corpus_is_a_few_hundred_lines() -> None:
    assert sum(text.count("\n") for text in ORDINARY_CODE.values()) >= 300


def test_detect_secrets_finds_nothing_in_the_corpus_that_we_miss(tmp_path: Path) -> None:
    """detect-secrets as an oracle, run the way its users run it (whole files, default
    plugins and filters): every secret it reports must be gone after our redaction."""
    pytest.importorskip("detect_secrets")
    from detect_secrets.core.scan import scan_file
    from detect_secrets.settings import default_settings

    flagged = 0
    missed = []
    with default_settings():
        for number, secret in enumerate(FAKE_SECRETS):
            file = tmp_path / str(number) / secret.path
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text(secret.text + "\n", encoding="utf-8")
            redacted_lines = redact_text(secret.text, path=secret.path)[0].split("\n")
            for found in scan_file(str(file)):
                flagged += 1
                line = redacted_lines[found.line_number - 1]
                if found.secret_value and found.secret_value in line:
                    missed.append((found.type, secret.path, line))
    assert flagged >= 60, "the oracle should have plenty to say about this corpus"
    assert missed == []


def test_matches_are_sorted_and_never_overlap() -> None:
    text = "\n".join(s.text for s in FAKE_SECRETS)

    found = find_secrets(text, path="mixed.env")

    assert found == sorted(found, key=lambda m: (m.start, m.end))
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))


def test_the_name_stays_and_only_the_value_goes() -> None:
    assert redact_text('DB_PASSWORD = "hunter2-xyz"', path="settings.py") == (
        'DB_PASSWORD = "[REDACTED:secret-assignment]"', 1)
    assert redact_text("  password: Summer2024!", path="config.yml") == (
        "  password: [REDACTED:secret-assignment]", 1)


def test_password_in_url_hides_only_the_password() -> None:
    redacted, count = redact_text("postgres://admin:s3cr3tpw@db.example.com:5432/app")

    assert redacted == "postgres://admin:[REDACTED:password-in-url]@db.example.com:5432/app"
    assert count == 1


@pytest.mark.parametrize("line", [
    'password = os.environ["DB_PASSWORD"]',
    'token = os.getenv("GITHUB_TOKEN")',
    "api_key = settings.api_key",
    "secret = get_secret(name)",
    'password = ""',
    'password = "${DB_PASSWORD}"',
    'password = "<your-password>"',
    'password = "***"',
    'password = f"{prefix}{suffix}"',
    "password = None",
    "connect(user=user, password=password)",
    'password: "{{ vault_db_password }}"',
    "url = 'postgres://app:${POSTGRES_PASSWORD}@db/app'",
    'print("Enter your password: ", end="")',
    "token_url = 'https://auth.example.com/oauth/token'",
    'PASSWORD_FIELD = "password"',
    "max_tokens = 2048",
    'if token == "def":',
    'bypass = "cache-layer"',
    "jsonnet_token = r'[^\\W\\d]\\w*'",
    "credentials = '%s:%s' % (user, password)",
    "tokens = {WRITE_TOKEN: 'write', READ_TOKEN: 'read'}",
    "def connect(password: str) -> None:",
    'token_colour = "#ffcc00"',
    "os.chdir(PWD='/tmp')",
])
def test_references_and_lookalikes_are_not_secrets(line: str) -> None:
    assert redact_text(line, path="app/settings.py") == (line, 0)


def test_documentation_placeholders_are_not_secrets() -> None:
    line = "export OPENAI_API_KEY=sk-...   # your key"
    assert redact_text(line, path="README.md") == (line, 0)


def test_a_key_in_a_javascript_object_is_an_assignment() -> None:
    assert redact_text("const db = { password: 'Kw9pQ2x7' };", path="db.ts")[0] == (
        "const db = { password: '[REDACTED:secret-assignment]' };")


def test_an_unquoted_value_is_a_variable_in_code_and_a_literal_in_config() -> None:
    # In code an unquoted word that mixes letters and digits and ends the statement is most
    # likely a literal; a variable that names a secret, a call or an attribute is not.
    assert redact_text("password = hunter2", path="app.py") == (
        "password = [REDACTED:secret-assignment]", 1)
    for reference in ("password = get_password()", "password = self.password",
                      "password = new_password", "password = pw", "password = password2",
                      "pw1 = read()\npassword = pw1", "connect(password=pw1)"):
        assert redact_text(reference, path="app.py") == (reference, 0), reference
    assert redact_text("PASSWORD=hunter2", path=".env")[0] == "PASSWORD=[REDACTED:secret-assignment]"
    assert redact_text("password: hunter", path="deploy.yaml")[0] == (
        "password: [REDACTED:secret-assignment]")
    # With no file type, a word that mixes letters and digits reads as a literal.
    assert redact_text("PASSWORD=hunter2")[0] == "PASSWORD=[REDACTED:secret-assignment]"


@pytest.mark.parametrize(("text", "path", "expected"), [
    ("ALTER ROLE app WITH PASSWORD 'Kw9pQ2x7';", "db.sql",
     "ALTER ROLE app WITH PASSWORD '[REDACTED:secret-assignment]';"),
    ("GRANT ALL ON app.* TO 'u'@'%' IDENTIFIED BY \"Kw9pQ2x7\";", "notes.txt",
     "GRANT ALL ON app.* TO 'u'@'%' IDENTIFIED BY \"[REDACTED:secret-assignment]\";"),
    ("CREATE USER scott IDENTIFIED BY tiger;", "schema.sql",
     "CREATE USER scott IDENTIFIED BY [REDACTED:secret-assignment];"),
    ('machine h login me password "two words"', "home/.netrc",
     'machine h login me password "[REDACTED:secret-assignment]"'),
    ("db:5432:*:app:pa\\:ss\n# host:port:db:user:password\n", ".pgpass",
     "db:5432:*:app:[REDACTED:secret-assignment]\n# host:port:db:user:password\n"),
    ("tls:\n  password: >-\n    first\n\n    second\n  port: 5432\nname: x", "values.yaml",
     "tls:\n  password: >-\n    [REDACTED:secret-assignment]\n\n    [REDACTED:secret-assignment]"
     "\n  port: 5432\nname: x"),
])
def test_passwords_without_an_equals_sign_are_redacted(text: str, path: str, expected: str) -> None:
    assert redact_text(text, path=path) == (expected, 1)


@pytest.mark.parametrize(("text", "path"), [
    ("# rows identified by their primary key", "models.py"),  # prose, not SQL
    ('read -sp "Enter password " PW; echo "done"', "setup.sh"),  # the quote closes prose
    ("ALTER ROLE app PASSWORD '${DB_PASSWORD}';", "migrate.sql"),  # a reference
    ("*:*:*:*:*\n", ".pgpass"),
    ("description: |\n  Set the password here.\n", "chart/values.yaml"),  # not a secret name
    ("password: |\nport: 5432", "values.yaml"),  # an empty block
])
def test_keyword_space_lookalikes_are_not_secrets(text: str, path: str) -> None:
    assert redact_text(text, path=path) == (text, 0)


@pytest.mark.parametrize(("text", "path"), [
    ('x = "user=" + user + ";password=" + pw', "db.py"),  # pieces of a string being built
    ("oauth = OAuth(app)", "app.py"),  # ends in "auth" but is no auth value
    ('TOKEN_STORAGE_KEY = "auth.token"', "store.ts"),  # the name of a storage slot
    ('primary_key = "id"', "models.py"),
    ('"auth": true', "settings.json"),
    ('password = ""', "empty.py"),
    ('query = "?page=2&sort=name"', "list.py"),
    ("psql --no-password mydb", "run.sh"),  # a flag without a value
    ("docker login --password-stdin", "ci.sh"),
    ("cmd --password $DB_PASSWORD", "run.sh"),  # a reference
    ("Pass --password to be prompted for it.", "README.md"),  # prose
    ('parser.add_argument("--password", help="your password")', "cli.py"),
])
def test_string_and_name_lookalikes_are_not_secrets(text: str, path: str) -> None:
    assert redact_text(text, path=path) == (text, 0)


def test_a_specific_token_keeps_its_kind_inside_an_assignment() -> None:
    token = GH + "p_" + rand(36)
    assert redact_text(f'GITHUB_TOKEN = "{token}"', path="ci.py")[0] == (
        'GITHUB_TOKEN = "[REDACTED:github-token]"')


def test_text_that_lowercases_to_a_longer_string_is_redacted_at_the_right_place() -> None:
    # "İ".lower() is two characters: positions must still line up with the original text.
    line = "İİİ city = 'İstanbul'; password = 'Kw9-pQ2x'"

    redacted, _ = redact_text(line, path="app.py")

    assert redacted == "İİİ city = 'İstanbul'; password = '[REDACTED:secret-assignment]'"


def test_random_tokens_without_any_known_shape_are_caught_by_entropy() -> None:
    rng = random.Random(7)
    tokens = ["".join(rng.choice(B64) for _ in range(rng.choice((32, 40, 48, 64)))) for _ in range(300)]

    caught = sum(redact_text(f"blob = '{t}'", path="data.py")[0] == "blob = '[REDACTED:high-entropy]'"
                 for t in tokens)

    assert caught >= 295  # the threshold lets ~1 in 1000 random strings through, digit-free ones too


@pytest.mark.parametrize("text", [
    "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",  # a git SHA
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # sha256 hex
    "550e8400-e29b-41d4-a716-446655440000",  # UUID
    "getUserAccountSettingsByIdentifierForTenant2",  # a long identifier
    "src/components/navigation/SideBarMenuItem2.tsx",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw==",  # base64 of prose
    "gpt-4o-mini-search-preview-2025-03-11",  # a kebab-case name with a date
    "https://en.wikipedia.org/wiki/List_of_ISO_639-1_codes",
    "https://github.com/tox-dev/python-discovery/blob/8023513d5c5fbeba5fa073ed1683327f09bfeb77/LICENSE",
])
def test_long_strings_that_are_not_secrets(text: str) -> None:
    assert find_secrets(f'value = "{text}"', path="x.py") == []


def _hunk(lines: list[tuple[str, str]], *, start: int = 10, before: tuple[str, ...] = (),
          after: tuple[str, ...] = (), header: str = "", enclosing: str | None = None) -> Hunk:
    """A hunk whose new side starts at line ``start``; ``before``/``after`` are extra context."""
    diff_lines = []
    new, old = start, start
    for kind, text in lines:
        diff_lines.append(DiffLine(kind, text, None if kind == "-" else new, None if kind == "+" else old))
        new += kind != "-"
        old += kind != "+"
    first = start - len(before)
    return Hunk(
        path="deploy/keys.yaml", lines=tuple(diff_lines), new_start=start,
        new_length=sum(k != "-" for k, _ in lines), old_start=start,
        old_length=sum(k != "+" for k, _ in lines), section_header=header, enclosing=enclosing,
        context_before=tuple((first + i, t) for i, t in enumerate(before)),
        context_after=tuple((new + i, t) for i, t in enumerate(after)))


def _everything(hunk: Hunk) -> str:
    texts = [t for _, t in hunk.context_before] + [ln.text for ln in hunk.lines]
    texts += [t for _, t in hunk.context_after] + [hunk.section_header, hunk.enclosing or ""]
    return "\n".join(texts)


def test_redact_hunk_sees_a_key_block_across_context_and_diff_lines() -> None:
    # The key's first lines are extra context before the hunk, its end is context after it;
    # one body line was replaced (removed + added).
    body = [rand(64, B64) for _ in range(5)] + [rand(20, B64) + "=="]
    hunk = _hunk([(" ", f"    {BEGIN} RSA {PRIVATE}"), ("+", "    " + body[0]), (" ", "    " + body[1]),
                  ("-", "    " + body[2]), ("+", "    " + body[3]), ("+", "    " + body[4]),
                  ("+", "    " + body[5])],
                 before=("tls:", "  key: |"), after=(f"    {END} RSA {PRIVATE}", "next: 1"))

    clean, count = redact_hunk(hunk)

    assert count == 1
    shown = _everything(clean)
    assert not [piece for line in body for piece in _fragments(line) if piece in shown]
    assert [ln.new_lineno for ln in clean.lines] == [ln.new_lineno for ln in hunk.lines]
    assert [ln.old_lineno for ln in clean.lines] == [ln.old_lineno for ln in hunk.lines]
    assert [ln.kind for ln in clean.lines] == [ln.kind for ln in hunk.lines]
    assert clean.context_before == hunk.context_before  # "tls:", "  key: |"
    assert all(ln.text == "    [REDACTED:private-key]" for ln in clean.lines)
    assert clean.context_after == ((hunk.context_after[0][0], "    [REDACTED:private-key]"),
                                   (hunk.context_after[1][0], "next: 1"))


@pytest.mark.parametrize("where", ["starts inside the key", "ends inside the key"])
def test_a_key_cut_by_the_hunk_edge_is_still_hidden(where: str) -> None:
    body = [rand(64, B64) for _ in range(3)] + [rand(12, B64) + "="]
    if where == "starts inside the key":
        lines = [("+", line) for line in body] + [("+", f"{END} OPENSSH {PRIVATE}"), (" ", "")]
    else:
        lines = [(" ", "ssh:"), ("+", f"{BEGIN} OPENSSH {PRIVATE}")] + [("+", line) for line in body]

    clean, count = redact_hunk(_hunk(lines))

    assert count == 1
    shown = _everything(clean)
    assert not [piece for line in body for piece in _fragments(line) if piece in shown]


def test_a_certificate_is_public_and_stays() -> None:
    text = ORDINARY_CODE["certs/ca.pem"]
    assert redact_text(text, path="certs/ca.pem") == (text, 0)


def test_redact_hunk_covers_header_and_enclosing_and_returns_a_new_hunk() -> None:
    key = AKIA + rand(16, string.ascii_uppercase + string.digits)
    hunk = _hunk([("+", f"KEY = '{key}'"), (" ", "x = 1")], header=f"def f(key='{key}'):",
                 enclosing=f"def f(key='{key}'):")

    clean, count = redact_hunk(hunk)

    assert count == 3
    assert key not in _everything(clean)
    assert key in _everything(hunk), "the original hunk is not modified"
    assert clean.path == hunk.path and clean.new_start == hunk.new_start


def test_a_hunk_without_secrets_comes_back_as_is() -> None:
    hunk = _hunk([("+", "total = price * qty"), (" ", "return total")], before=("def f():",))
    assert redact_hunk(hunk) == (hunk, 0)
