"""Two corpora for the redaction tests, built at import time.

``FAKE_SECRETS``: realistic but fake secrets of every kind ``aider_hooks.redact`` knows, each
embedded in a line (or a few lines) of code or config, with the kind it must be reported as
and the part that must vanish. Every token is generated from a seeded random source, and the
well-known prefixes are assembled from pieces, so this file holds no literal token that a
push-protection secret scanner would block.

``ORDINARY_CODE``: a few hundred lines of everyday Python, JavaScript, YAML, CSS, shell and
lock-file text that must come out of redaction unchanged: UUIDs, git SHAs in prose, URLs,
digests, base64 of short text, colours, identifiers, references to secrets (not secrets).
"""
from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

_rng = random.Random(20240611)

UPPER_DIGITS = string.ascii_uppercase + string.digits
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def rand(n: int, alphabet: str = ALNUM) -> str:
    """A random string that mixes upper case, lower case and digits (as real tokens do)."""
    while True:
        value = "".join(_rng.choice(alphabet) for _ in range(n))
        kinds = [any(c.isupper() for c in value), any(c.islower() for c in value),
                 any(c.isdigit() for c in value)]
        if alphabet in (HEX, UPPER_DIGITS) or n < 8 or all(kinds):
            return value


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class FakeSecret:
    kind: str  # what [REDACTED:<kind>] must say
    secret: str  # what must not survive redaction (for key blocks: the body, lines joined by \n)
    text: str  # the line(s) of code or config holding it
    path: str  # the file it would be in


# Prefixes, assembled so the source never contains a complete token shape.
AKIA, ASIA = "AK" + "IA", "AS" + "IA"
GH = "g" + "h"
SK = "s" + "k"
XOX = "xo" + "x"
AIZA = "AI" + "za"
BEGIN, END = "-----BEG" + "IN", "-----EN" + "D"
PRIVATE = "PRIV" + "ATE KEY-----"


def _pem_body(lines: int, width: int = 64) -> list[str]:
    body = [rand(width, B64) for _ in range(lines - 1)]
    return [*body, rand(width // 3, B64) + "=="]


def _pem(label: str, lines: int = 6, width: int = 64, indent: str = "",
         headers: tuple[str, ...] = ()) -> tuple[str, str]:
    body = _pem_body(lines, width)
    rows = [f"{BEGIN} {label}{PRIVATE}", *headers, *body, f"{END} {label}{PRIVATE}"]
    return "\n".join(indent + row for row in rows), "\n".join(body)


def _jwt() -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": str(_rng.randrange(10**9, 10**10)), "name": "Fake User",
                                 "iat": 1716239022}).encode())
    return f"{header}.{payload}.{rand(43, B64URL)}"


def _secrets() -> list[FakeSecret]:
    s: list[FakeSecret] = []

    def add(kind: str, secret: str, template: str, path: str) -> None:
        s.append(FakeSecret(kind, secret, template.replace("{S}", secret), path))

    # Private keys: multi-line PEM (indented in YAML, plain), encrypted, OpenSSH, PGP, and
    # the single-line form a JSON service-account file uses.
    text, body = _pem("RSA ")
    s.append(FakeSecret("private-key", body, text, "deploy/id_rsa.pem"))
    text, body = _pem("EC ", lines=3, indent="    ")
    s.append(FakeSecret("private-key", body, "tls:\n  key: |\n" + text, "k8s/tls.yaml"))
    text, body = _pem("RSA ", lines=5, headers=("Proc-Type: 4,ENCRYPTED",
                                                f"DEK-Info: AES-128-CBC,{rand(32, HEX).upper()}", ""))
    s.append(FakeSecret("private-key", body, text, "certs/server.key"))
    text, body = _pem("OPENSSH ", lines=7, width=70)
    s.append(FakeSecret("private-key", body, text, "ops/deploy_key"))
    pgp_body = _pem_body(6)
    pgp = "\n".join(["-----BEGIN PGP PRIV" + "ATE KEY BLOCK-----", "", *pgp_body,
                     "=" + rand(4, B64), "-----END PGP PRIV" + "ATE KEY BLOCK-----"])
    s.append(FakeSecret("private-key", "\n".join(pgp_body), pgp, "keys/signing.asc"))
    inline_body = _pem_body(4)
    inline = (f'  "private_key": "{BEGIN} {PRIVATE}\\n' + "\\n".join(inline_body)
              + f'\\n{END} {PRIVATE}\\n",')
    s.append(FakeSecret("private-key", "\n".join(inline_body), inline, "service-account.json"))

    # AWS.
    add("aws-access-key-id", AKIA + rand(16, UPPER_DIGITS), 'AWS_ACCESS_KEY_ID = "{S}"', "settings.py")
    add("aws-access-key-id", AKIA + rand(16, UPPER_DIGITS), "aws_access_key_id = {S}", ".aws/credentials")
    add("aws-access-key-id", ASIA + rand(16, UPPER_DIGITS), "  accessKeyId: {S}", "serverless.yml")
    add("aws-access-key-id", AKIA + rand(16, UPPER_DIGITS), "const s3 = new S3({ accessKeyId: '{S}' });",
        "src/upload.js")
    add("aws-secret-access-key", rand(40, B64), "aws_secret_access_key = {S}", ".aws/credentials")
    add("aws-secret-access-key", rand(40, B64), "AWS_SECRET_ACCESS_KEY={S}", ".env")
    add("aws-secret-access-key", rand(40, B64), '    "aws_secret_key": "{S}",', "config/prod.json")

    # GitHub, GitLab.
    for prefix in ("p_", "o_", "u_", "s_", "r_"):
        add("github-token", GH + prefix + rand(36), 'GITHUB_TOKEN = "{S}"', "scripts/release.py")
    add("github-token", GH + "p_" + rand(36), "git clone https://{S}@github.com/acme/private.git",
        "README.md")
    add("github-token", "github_" + "pat_" + rand(22) + "_" + rand(59),
        "export GH_TOKEN={S}", "ci/setup.sh")
    add("gitlab-token", "gl" + "pat-" + rand(20, B64URL), "private_token = '{S}'", "tools/sync.py")

    # OpenAI, Anthropic.
    add("openai-key", SK + "-" + rand(20) + "T3Blbk" + "FJ" + rand(20),
        'openai.api_key = "{S}"', "bot.py")
    add("openai-key", SK + "-proj-" + rand(74, B64URL) + "T3Blbk" + "FJ" + rand(74, B64URL),
        "OPENAI_API_KEY={S}", ".env.local")
    add("openai-key", SK + "-svcacct-" + rand(80, B64URL), "client = OpenAI(api_key='{S}')",
        "app/llm.py")
    add("anthropic-key", SK + "-ant-api03-" + rand(93, B64URL) + "AA",
        'const anthropic = new Anthropic({ apiKey: "{S}" });', "src/ai.ts")

    # Slack.
    add("slack-token", XOX + "b-" + f"{_rng.randrange(10**11, 10**12)}-{_rng.randrange(10**11, 10**12)}-"
        + rand(24), 'SLACK_BOT_TOKEN = "{S}"', "notify.py")
    add("slack-token", XOX + "p-" + f"{_rng.randrange(10**11, 10**12)}-{_rng.randrange(10**11, 10**12)}-"
        f"{_rng.randrange(10**11, 10**12)}-" + rand(32, HEX), "slack:\n  token: {S}", "config.yaml")
    add("slack-webhook", f"T{rand(10, UPPER_DIGITS)}/B{rand(10, UPPER_DIGITS)}/{rand(24)}",
        'WEBHOOK = "https://hooks.slack.com/services/{S}"', "alerts.py")

    # Stripe.
    add("stripe-key", SK + "_live_" + rand(99), "stripe.api_key = '{S}'", "billing/stripe.py")
    add("stripe-key", "rk" + "_live_" + rand(99), "STRIPE_RESTRICTED_KEY={S}", ".env.production")
    add("stripe-key", "pk" + "_live_" + rand(99), "const stripe = Stripe('{S}');", "public/pay.js")
    add("stripe-key", SK + "_test_" + rand(24), "Stripe.api_key = \"{S}\"", "spec/support/stripe.rb")

    # Google.
    add("google-api-key", AIZA + rand(35, B64URL), '<meta name="maps-key" content="{S}">',
        "templates/map.html")
    add("google-api-key", AIZA + rand(35, B64URL), "  apiKey: \"{S}\",", "src/firebase.js")
    add("google-client-secret", "GOC" + "SPX-" + rand(28, B64URL), '"client_secret": "{S}"',
        "client_secret.json")

    # JWTs.
    add("jwt", _jwt(), "TEST_JWT = '{S}'", "tests/fixtures.py")
    add("jwt", _jwt(), "curl -s https://api.example.com/v1/me --cookie session={S}", "docs/api.md")

    # Passwords in URLs.
    add("password-in-url", rand(16), 'DATABASE_URL = "postgres://app:{S}@db.internal:5432/app"',
        "settings.py")
    add("password-in-url", rand(12), "REDIS_URL=redis://:{S}@cache.internal:6379/0", ".env")
    add("password-in-url", rand(20), "  url: amqp://worker:{S}@rabbit:5672/%2F", "docker-compose.yml")
    add("password-in-url", rand(18), "--extra-index-url https://deploy:{S}@pypi.acme.dev/simple",
        "requirements.txt")
    add("password-in-url", rand(14), "mongoose.connect(`mongodb+srv://admin:{S}@cluster0.mongodb.net/db`)",
        "server.js")

    # Values assigned to secret-looking names, in many syntaxes.
    add("secret-assignment", "hunter2-" + rand(6), 'DB_PASSWORD = "{S}"', "settings.py")
    add("secret-assignment", "Tr0ub4dor&3", "password = '{S}'", "scripts/seed.py")
    add("secret-assignment", "s3cr3t-" + rand(5), "    db_password: {S}", "ansible/vars.yml")
    add("secret-assignment", "Summer2024!", "  password: \"{S}\"", "docker-compose.yml")
    add("secret-assignment", "correct-horse-" + rand(4), "POSTGRES_PASSWORD={S}", ".env")
    add("secret-assignment", "pa55w0rd" + rand(3), "export MYSQL_ROOT_PASSWORD='{S}'", "bin/bootstrap.sh")
    add("secret-assignment", "x9" + rand(10), "spring.datasource.password={S}",
        "src/main/resources/application.properties")
    add("secret-assignment", "iniPass" + rand(5), "password = {S}", "setup.cfg")
    add("secret-assignment", "tomlPass-" + rand(6), 'password = "{S}"', "config.toml")
    add("secret-assignment", "Jx" + rand(14), '  "password": "{S}",', "config/local.json")
    add("secret-assignment", rand(24), 'const apiKey = "{S}";', "src/client.ts")
    add("secret-assignment", rand(18), "let clientSecret: string = '{S}';", "src/auth.ts")
    add("secret-assignment", rand(20), 'apiKey := "{S}"', "cmd/main.go")
    add("secret-assignment", rand(16), 'private static final String PASSWORD = "{S}";',
        "src/main/java/Db.java")
    add("secret-assignment", rand(16), "$password = '{S}';", "wp-config.php")
    add("secret-assignment", rand(16), "  :password => '{S}',", "config/initializers/mail.rb")
    add("secret-assignment", rand(16), "<password>{S}</password>", "settings.xml")
    add("secret-assignment", rand(12), "psql --host db --password={S}", "Makefile")
    add("secret-assignment", rand(12), "ENV ADMIN_PASSWORD={S}", "Dockerfile")
    add("secret-assignment", "aHVudGVyMg==", "  password: {S}", "k8s/secret.yaml")
    add("secret-assignment", "Kw" + rand(10), 'connect(host="db", user="app", password="{S}")',
        "app/db.py")
    add("secret-assignment", "Pw" + rand(10), '    if password == "{S}":', "app/legacy_auth.py")
    add("secret-assignment", rand(32, HEX), 'MAILGUN_API_KEY = "{S}"', "mail.py")
    add("secret-assignment", rand(30), "SECRET_KEY = '{S}'", "project/settings.py")
    add("secret-assignment", rand(26), "webhook_secret: {S}", "config/hooks.yml")
    add("secret-assignment", "ct" + rand(14), "client_secret = \"{S}\"", "oauth.py")
    add("secret-assignment", "pp-" + rand(12), 'ssh_passphrase = "{S}"', "deploy.py")
    add("secret-assignment", "dbPass" + rand(6), "DB_PASS={S}", ".env.staging")
    add("secret-assignment", "Tok" + rand(20), "auth_token = '{S}'", "sync.py")
    add("secret-assignment", rand(20), 'headers = {"X-Api-Key": "{S}"}', "client.py")
    add("secret-assignment", rand(16), "Server=db;Database=app;User Id=sa;Password={S};",
        "appsettings.Development.txt")

    # High-entropy strings that no rule above names.
    add("high-entropy", rand(40, B64), 'FIXTURE_BLOB = "{S}"', "crypto/seed.py")
    add("high-entropy", rand(64, B64URL), "  fixture: {S}", "tests/data/blob.yml")
    add("high-entropy", rand(44, B64), "encoded = b'{S}'", "vault.py")

    # Other known token shapes (detect-secrets knows most of them too).
    add("npm-token", "npm" + "_" + rand(36), "//registry.npmjs.org/:_authToken={S}", ".npmrc")
    add("pypi-token", "pypi-AgEIcHlwaS5vcmc" + rand(60, B64URL), "password = {S}", ".pypirc")
    add("huggingface-token", "hf" + "_" + rand(34), 'HF_TOKEN = "{S}"', "train.py")
    add("sendgrid-key", "SG." + rand(22, B64URL) + "." + rand(43, B64URL), "sg = SendGridAPIClient('{S}')",
        "mailer.py")
    add("telegram-bot-token", f"{_rng.randrange(10**8, 10**9)}:AA" + rand(33, B64URL),
        'bot = telebot.TeleBot("{S}")', "bot/main.py")
    add("mailchimp-key", rand(32, HEX) + "-us" + str(_rng.randrange(1, 21)),
        "mailchimp.set_config({'api_key': '{S}'})",
        "newsletter.py")
    add("azure-storage-key", rand(86, B64) + "==",
        "AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={S};"
        "EndpointSuffix=core.windows.net", ".env")
    add("discord-webhook", f"{_rng.randrange(10**17, 10**18)}/{rand(68, B64URL)}",
        "DISCORD = 'https://discord.com/api/webhooks/{S}'", "alerts.py")
    add("authorization-header", base64.b64encode(f"deploy:{rand(12)}".encode()).decode(),
        "    -H 'Authorization: Basic {S}' \\", "scripts/deploy.sh")
    add("authorization-header", rand(40, B64URL), 'headers["Authorization"] = "Bearer {S}"', "api.py")

    # Passwords after a keyword and a space (SQL, .netrc, .pgpass) and YAML block scalars.
    add("secret-assignment", "Pg" + rand(10), "CREATE USER app WITH PASSWORD '{S}';",
        "db/migrations/0001_users.sql")
    add("secret-assignment", "My" + rand(10),
        "cursor.execute(\"ALTER USER 'app'@'%' IDENTIFIED BY '{S}'\")", "deploy/mysql_init.py")
    add("secret-assignment", "Or" + rand(8), "CREATE USER scott IDENTIFIED BY {S};",
        "schema/users.sql")
    add("secret-assignment", rand(14), "machine api.example.com login me@example.com password {S}",
        ".netrc")
    add("secret-assignment", "pg" + rand(12), "db.internal:5432:app:app_user:{S}", ".pgpass")
    # Compact JSON, connection strings and URL queries inside string literals, more key
    # names, triple quotes, npm/Docker "auth".
    add("secret-assignment", "Jc" + rand(10), '{"username":"admin","password":"{S}"}',
        "fixtures/login.json")
    add("secret-assignment", "Wi" + rand(10),
        '  "Default": "Server=db;Database=app;User Id=sa;Password={S};"', "appsettings.json")
    add("secret-assignment", "Od" + rand(10), 'conn = "DRIVER={{ODBC}};SERVER=db;UID=sa;PWD={S}"',
        "etl/db.py")
    add("secret-assignment", rand(24), 'URL = "https://api.example.com/v1/items?api_key={S}&page=2"',
        "client/items.py")
    add("secret-assignment", rand(128, HEX), "SECRET_KEY_BASE={S}", ".env.production")
    add("secret-assignment", rand(32, HEX), 'HMAC_KEY = "{S}"', "webhooks/verify.py")
    add("secret-assignment", "Tq" + rand(12), 'password = """{S}"""', "settings_local.py")
    add("secret-assignment", base64.b64encode(f"me:{rand(10)}".encode()).decode(),
        "//registry.npmjs.org/:_auth={S}", ".npmrc")
    add("secret-assignment", "Rq" + rand(12), "    command: redis-server --requirepass {S}",
        "docker-compose.yml")
    add("secret-assignment", "My" + rand(10), 'mysql -u root --password "{S}" -h db app',
        "scripts/restore.sh")
    lines = ["Block" + rand(12), "Scalar" + rand(12)]
    s.append(FakeSecret("secret-assignment", "\n".join(lines),
                        "db:\n  password: |\n    " + "\n    ".join(lines) + "\n  port: 5432",
                        "helm/values.yaml"))
    return s


FAKE_SECRETS: list[FakeSecret] = _secrets()


def _integrity() -> str:
    return "sha512-" + rand(86, B64) + "=="


# Everyday text that must pass through redaction untouched.
ORDINARY_CODE: dict[str, str] = {
    "app/models.py": '''\
"""Order models. See commit 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 for the migration."""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field

DEFAULT_TENANT = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
ORDER_NAMESPACE = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
API_BASE_URL = "https://api.example.com/v2/orders"
DOCS_URL = "https://docs.example.com/guides/authentication#tokens"
TOKEN_URL = "https://auth.example.com/oauth/token"
PASSWORD_MIN_LENGTH = 12
TOKEN_EXPIRY_SECONDS = 3600
MAX_TOKENS = 2048
SECRET_NAME = "prod/orders/database"
PASSWORD_FIELD = "password"
TOKEN_TYPE = "bearer"
SESSION_COOKIE = "sessionid"


@dataclass
class Customer:
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    email: str = ""
    password_hash: str = ""
    api_key_id: str | None = None

    def set_password(self, password: str) -> None:
        salt = os.urandom(16)
        self.password_hash = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1).hex()

    def check_password(self, password: str) -> bool:
        return verify_hash(self.password_hash, password)


def load_credentials() -> dict[str, str | None]:
    password = os.environ["DB_PASSWORD"]
    token = os.getenv("GITHUB_TOKEN")
    api_key = settings.get("api_key")
    secret = get_secret(SECRET_NAME)
    return {"password": password, "token": token, "api_key": api_key, "secret": secret}


def connect(user: str, password: str | None = None, *, token: str = "") -> Connection:
    password = password or read_password_file("/run/secrets/db_password")
    return Connection(user=user, password=password, token=token)


def fingerprint(data: bytes) -> str:
    # e.g. 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    return hashlib.sha256(data).hexdigest()


class TokenKind:
    NAME = "NAME"
    NUMBER = "NUMBER"
    STRING = "STRING"


def next_token(tokens: list[str], pos: int) -> str:
    token = tokens[pos]
    if token == "def":
        return "keyword"
    if token == "(":
        return "open"
    return token


def render_login_form() -> str:
    print("Enter your password: ", end="")
    label = f"Password for {os.getlogin()}: "
    return f"<input type=\\"password\\" name=\\"password\\" value=\\"\\" placeholder=\\"{label}\\">"


GREETING_B64 = "aGVsbG8gd29ybGQ="  # "hello world"
SAMPLE_B64 = "VGhlIHF1aWNrIGJyb3duIGZveCBqdW1wcyBvdmVyIHRoZSBsYXp5IGRvZw=="  # a pangram
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
LONG_NAME = "test_parse_utf8_bom_in_header_line_with_crlf_endings_2"
LOGGER_NAME = "aider_hooks.engine.RequestRunner.handle_rate_limited_response"
''',
    "app/views.py": '''\
import logging

from flask import Blueprint, abort, jsonify, request

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__, url_prefix="/api/v1/auth")


@bp.post("/login")
def login():
    payload = request.get_json(force=True)
    password = payload.get("password")
    if not password:
        abort(400, "password is required")
    token = issue_token(payload["email"], password)
    log.info("issued token=%s for %s", redact(token), payload["email"])
    return jsonify({"access_token": token, "token_type": "bearer", "expires_in": 3600})


@bp.post("/reset")
def reset_password():
    token = request.args["token"]
    new_password = request.form["new_password"]
    user = User.query.filter_by(reset_token=token).first_or_404()
    user.set_password(new_password)
    return jsonify(status="ok", user_id=str(user.id))


def authorization_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic_auth(user: str, password: str) -> str:
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode()
''',
    "src/components/LoginForm.tsx": '''\
import React, { useState } from "react";
import { useNavigate } from "react-router-dom";
import styles from "./LoginForm.module.css";

const API_URL = process.env.REACT_APP_API_URL ?? "https://api.example.com";

interface Credentials {
  email: string;
  password: string;
  apiKey?: string;
}

export function LoginForm({ onLogin }: { onLogin: (token: string) => void }) {
  const [password, setPassword] = useState("");
  const [email, setEmail] = useState("");
  const navigate = useNavigate();
  const apiKey = process.env.REACT_APP_API_KEY;
  const token = localStorage.getItem("token");

  async function submit(event: React.FormEvent) {
    event.preventDefault();
    const response = await fetch(`${API_URL}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ email, password }),
    });
    const { access_token: accessToken } = await response.json();
    onLogin(accessToken);
    navigate("/dashboard");
  }

  return (
    <form className={styles.form} onSubmit={submit}>
      <label htmlFor="password">Password</label>
      <input id="password" type="password" value={password}
             onChange={(e) => setPassword(e.target.value)} />
      <input id="email" type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      <button type="submit" data-testid="login-submit-button-primary-variant">Sign in</button>
    </form>
  );
}

const secret = config.secret;
const password2 = getPassword();
export const TOKEN_STORAGE_KEY = "auth.token";
''',
    "src/utils/color.js": '''\
export const palette = {
  primary: "#1f6feb",
  danger: "#d1242f",
  muted: "#6e7781",
  background: "rgba(13, 17, 23, 0.85)",
};

export function hexToRgb(hex) {
  const value = parseInt(hex.replace("#", ""), 16);
  return [(value >> 16) & 255, (value >> 8) & 255, value & 255];
}

// Build id: 2f1c3a9e7b5d4c2a1f0e9d8c7b6a5f4e3d2c1b0a
export const BUILD = { sha: "2f1c3a9e7b5d4c2a1f0e9d8c7b6a5f4e3d2c1b0a", date: "2024-06-11T09:30:00Z" };
export const ICON = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAYAAAAf8/9hAAAAGXRFWHRTb2Z0d2FyZQBBZG9iZSBJbWFnZVJlYWR5ccllPAAAAMlJREFUeNpi/P//PwMlgImBQjDwBrDgEpgwYQJjQkJCPMM";
const re = /^(?:[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*)@example\\.com$/;
''',
    "src/styles/main.css": '''\
:root {
  --color-primary: #1f6feb;
  --color-secondary: #8250df;
  --font-stack: -apple-system, BlinkMacSystemFont, "Segoe UI", Helvetica, Arial, sans-serif;
}

.login-form__password-input--with-visibility-toggle-button {
  border: 1px solid #d0d7de;
  background-image: url("/static/img/icons/eye-slash-outline-24.svg");
}
''',
    ".github/workflows/ci.yml": '''\
name: ci
on: [push, pull_request]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@b4ffde65f46336ab88eb53be808477a3936bae11
      - uses: actions/setup-python@0a5c61591373683505ea898e09a3ea4f39ef2b9c
        with:
          python-version: "3.12"
      - uses: docker/login-action@v3
        with:
          username: ${{ github.actor }}
          password: ${{ secrets.GITHUB_TOKEN }}
      - run: pytest -q
        env:
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
          DB_PASSWORD: ${{ secrets.DB_PASSWORD }}
''',
    "docker-compose.yml": '''\
services:
  db:
    image: postgres:16@sha256:4aea012537edfad80f98d870a36e6b90b4c09b27be7f4b4759d72db863baeebb
    environment:
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      POSTGRES_USER: app
    secrets:
      - db_password
  web:
    build: .
    environment:
      DATABASE_URL: postgres://app:${POSTGRES_PASSWORD}@db:5432/app
      SECRET_KEY_FILE: /run/secrets/django_secret_key
secrets:
  db_password:
    file: ./secrets/db_password.txt
''',
    "k8s/deployment.yaml": '''\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: orders
  labels:
    app.kubernetes.io/name: orders
spec:
  template:
    spec:
      containers:
        - name: orders
          image: ghcr.io/acme/orders@sha256:9b2a5f0c1d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: orders-db
                  key: password
            - name: API_TOKEN
              valueFrom:
                secretKeyRef: {name: orders-api, key: token}
''',
    ".env.example": '''\
# Copy to .env and fill in.
OPENAI_API_KEY=
DB_PASSWORD=<your-database-password>
SECRET_KEY=${DJANGO_SECRET_KEY}
GITHUB_TOKEN=***
DATABASE_URL=postgres://app@localhost:5432/app
TOKEN_TTL=3600
DEBUG=true
''',
    "package-lock.json": f'''\
{{
  "name": "web",
  "lockfileVersion": 3,
  "packages": {{
    "node_modules/react": {{
      "version": "18.3.1",
      "resolved": "https://registry.npmjs.org/react/-/react-18.3.1.tgz",
      "integrity": "{_integrity()}"
    }},
    "node_modules/js-tokens": {{
      "version": "4.0.0",
      "resolved": "https://registry.npmjs.org/js-tokens/-/js-tokens-4.0.0.tgz",
      "integrity": "{_integrity()}"
    }}
  }}
}}
''',
    "go.sum": f'''\
github.com/google/uuid v1.6.0 h1:{rand(43, B64)}=
github.com/google/uuid v1.6.0/go.mod h1:{rand(43, B64)}=
golang.org/x/crypto v0.0.0-20210220033124-5f55cee0dc0d h1:{rand(43, B64)}=
''',
    "templates/base.html": f'''\
<!doctype html>
<link rel="stylesheet" href="https://cdn.example.com/bootstrap.min.css"
      integrity="sha384-{rand(64, B64)}" crossorigin="anonymous">
<script src="/static/js/app.8f3a2b1c9d0e.js"></script>
<a href="https://github.com/acme/orders/commit/4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39">changes</a>
<form method="post"><input type="password" name="password" autocomplete="current-password"></form>
''',
    "scripts/deploy.sh": '''\
#!/usr/bin/env bash
set -euo pipefail
: "${DEPLOY_TOKEN:?set DEPLOY_TOKEN}"
export PGPASSWORD="$DB_PASSWORD"
curl -fsS -H "Authorization: Bearer $DEPLOY_TOKEN" https://deploy.example.com/api/releases
read -rsp "Password: " password
echo "deploying $(git rev-parse --short HEAD) to ${ENVIRONMENT:-staging}"
''',
    "docs/setup.md": '''\
# Setup

Set `OPENAI_API_KEY` in your environment, then run `aider-review --staged`.
The commit 4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39 introduced the cache; see
https://github.com/acme/orders/pull/128 and https://example.com/docs?page=2&lang=en.
Pass `--password` to be prompted for the password; never put the password in a file.
The token endpoint is https://auth.example.com/oauth/token (see RFC 6749, section 4.1).
Your API key is shown once: store it in a password manager.
Contact security@example.com with the report id 7c9e6679-7425-40de-944b-e07fc1f90ae7.
''',
    "ssh/authorized_keys": f'''\
ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rand(43, B64)} deploy@ci
ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ{rand(200, B64)} alice@laptop
''',
    "certs/ca.pem": "\n".join(
        ["-----BEGIN CERTIFICATE-----", *(rand(64, B64) for _ in range(5)), rand(20, B64) + "==",
         "-----END CERTIFICATE-----"]) + "\n",
}
