"""The rules for positional arguments, flags, headers, markup, prose, split strings, other
connection strings, whole files and table columns, and the fail-safe: what they catch
(one example per class; tests/data/secret_corpus.py has hundreds) and the everyday text that
looks like it and must pass untouched."""
from __future__ import annotations

import pytest

from aider_hooks.redact import find_secrets, redact_text


@pytest.mark.parametrize(("text", "path", "expected"), [
    ('smtp.login(user, "Falcon2911_xc")', "mail.py", 'smtp.login(user, "[REDACTED:positional-credential]")'),
    ("mysqldump -uroot -pS3cr3tPw shop", "backup.sh", "mysqldump -uroot -p[REDACTED:flag-credential] shop"),
    ('curl -H "PRIVATE-TOKEN: abcdef123456" https://x', "gl.sh",
     'curl -H "PRIVATE-TOKEN: [REDACTED:header-credential]" https://x'),
    ('<c user="a" password="Pw1234567"/>', "c.xml", '<c user="a" password="[REDACTED:xml-credential]"/>'),
    ('{"key": "apiKey", "value": "k3yV4lue99"}', "env.json",
     '{"key": "apiKey", "value": "[REDACTED:name-value-credential]"}'),
    ("// the staging password is Tiger1915_3l6", "a.js", "// the staging password is [REDACTED:prose-credential]"),
    ('k = "Zq8Lm2Xp4Rt6Vw9Y" + "b1Nc3Ke5Tu7Ha0Jd"', "k.py",
     'k = "[REDACTED:split-secret]" + "[REDACTED:split-secret]"'),
    ('dsn = "host=db user=app password=Pw1234567 sslmode=require"', "db.py",
     'dsn = "host=db user=app password=[REDACTED:connection-string-password] sslmode=require"'),
    ("0123456789abcdef0123456789abcdef", "config/master.key", "[REDACTED:secret-file]"),
    ("email,password\nbob@x.io,Winter2023!", "users.csv", "email,password\nbob@x.io,[REDACTED:csv-credential]"),
    ('init("Zq8Lm2Xp4Rt6Vw9Yb1Nc")', "boot.ts", 'init("[REDACTED:random-value]")'),
])
def test_one_example_of_each_class(text: str, path: str, expected: str) -> None:
    assert redact_text(text, path=path)[0] == expected


@pytest.mark.parametrize(("text", "path"), [
    ("docker run -p 8080:80 nginx", "run.sh"),
    ("mkdir -p build/output && cp -p a b", "build.sh"),
    ("ssh -p 2222 deploy@host", "deploy.sh"),
    ('parser.add_argument("-p", "--port", type=int)', "cli.py"),
    ("zip -r dist.zip dist/", "pack.sh"),
    ("curl -u $USER:$TOKEN https://x", "ci.sh"),
    ('headers = {"Content-Type": "application/json", "Accept": "text/html"}', "api.py"),
    ("Cache-Control: no-cache", "req.http"),
    ('<input type="password" name="password" value="" autocomplete="off">', "login.html"),
    ('<add key="Theme" value="dark"/>', "Web.config"),
    ('<string name="app_name">Acme</string>', "strings.xml"),
    ("- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef: {name: db, key: password}", "k8s.yaml"),
    ('variable "region" {\n  default = "eu-west-1"\n}', "vars.tf"),
    ('connect("localhost", 5432)', "db.py"),
    ("smtp.login(user, password)", "mail.py"),
    ('msg = "Hello, " + "world"', "greet.py"),
    ("# see the docs / faq for details", "app.py"),
    ("ratio = total / count2", "stats.py"),
    ("if password is None:\n    return", "auth.py"),
    ("export LANG=de_DE.utf-8", "env.sh"),
    ("name,email\nbob,bob@example.com", "people.csv"),
    ('VERSION = "2.31.0-rc1+build.20240611"', "version.py"),
    ('ID = "550e8400-e29b-41d4-a716-446655440000"', "ids.py"),
    ('logger = logging.getLogger("aider_hooks.engine.RequestRunner")', "log.py"),
    ('url = "https://example.com/docs/setup-guide-2024/index.html"', "links.py"),
    ('check_password_hash(stored, "secret")', "auth.py"),
])
def test_lookalikes_pass_untouched(text: str, path: str) -> None:
    assert redact_text(text, path=path) == (text, 0)


@pytest.mark.parametrize("path", ["src/secrets_manager.py", "config/master.key", ".vault_pass",
                                  "tests/test_password_reset.py", "docs/api_token.md"])
def test_a_file_name_alone_is_not_a_secret(path: str) -> None:
    # The engine withholds a hunk whose path holds a secret; a whole-file rule must not
    # take the name for its content.
    assert find_secrets(path, path=path) == []
