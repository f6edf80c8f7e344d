"""A corpus of fake secrets in many formats and placements, for the redaction tests.

``SECRET_CORPUS``: records of (format, path, text, secrets). ``format`` names the shape or
placement (``vendor:digitalocean``, ``positional:smtp-login``, ``flag:sshpass``...), ``path``
is the file the text would live in, ``text`` is the line(s) holding the secret, and
``secrets`` are the exact substrings that must not leave the machine.

Formats come from what public secret scanners cover (vendor token shapes) and from the
placements an audit found leaking: positional arguments, short flags, headers, XML, JSON
name/value objects, notebooks, comments and prose, split strings, other connection-string
dialects, whole-file secrets known by their path, credential CSV columns, Terraform variable
defaults, unquoted values in code.

Every value is fake: drawn from a seeded random source (``random.Random(7331)``) or written
by hand. Vendor prefixes are assembled from pieces (``"dop" + "_v1_"``), so this source holds
no complete token shape for a push-protection scanner to block; the texts exist only at run
time.
"""
from __future__ import annotations

import base64
import json
import random
import string
import uuid
from dataclasses import dataclass

_rng = random.Random(7331)

UPPER = string.ascii_uppercase
LOWER = string.ascii_lowercase
DIGITS = string.digits
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = UPPER + DIGITS
LOWER_DIGITS = LOWER + DIGITS
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"
# A password alphabet: what generators and people put in passwords.
PW = ALNUM + "!#%*+-.?@^_~"


@dataclass(frozen=True)
class SecretRecord:
    format: str  # the shape or placement, e.g. "vendor:doppler" or "flag:sshpass"
    path: str  # the file the text would live in
    text: str  # the text holding the secret(s)
    secrets: tuple[str, ...]  # the exact substrings that must not leave


def r(n: int, alphabet: str = ALNUM) -> str:
    """Random text; mixed upper case, lower case and digits when the alphabet has them."""
    while True:
        value = "".join(_rng.choice(alphabet) for _ in range(n))
        needs = [set(alphabet) & set(group) for group in (UPPER, LOWER, DIGITS)]
        if n < 8 or all(not need or set(value) & need for need in needs):
            return value


def hexs(n: int) -> str:
    return r(n, HEX)


def password() -> str:
    """A human-made password: a word, digits and a symbol."""
    word = _rng.choice(["Summer", "Winter", "Falcon", "Orchid", "Tiger", "Maple", "Cobalt",
                        "Harbor", "Quartz", "Nebula", "Velvet", "Copper", "Saffron"])
    return f"{word}{_rng.randrange(10, 9999)}{_rng.choice('!#%*?@^.-_')}{r(3, LOWER_DIGITS)}"


def fake_uuid() -> str:
    return str(uuid.UUID(int=_rng.getrandbits(128), version=4))


def b64(data_len: int) -> str:
    return base64.b64encode(_rng.randbytes(data_len)).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


_records: list[SecretRecord] = []


def add(fmt: str, path: str, template: str, *secrets: str) -> None:
    """``template`` holds ``{S}`` (one secret) or ``{S0}``, ``{S1}``... (several)."""
    text = template
    if len(secrets) == 1:
        text = text.replace("{S}", secrets[0])
    for i, secret in enumerate(secrets):
        text = text.replace("{S%d}" % i, secret)
    assert all(secret in text for secret in secrets), (fmt, template)
    _records.append(SecretRecord(fmt, path, text, tuple(secrets)))


# --- Vendor token shapes --------------------------------------------------------------------
# Each token in a neutral place (a name that says nothing) and again in a second file kind,
# so that the shape, not the name, must catch it.

def _vendor_tokens() -> list[tuple[str, str]]:
    return [
        ("age-secret-key", "AGE-SECRET" + "-KEY-1" + r(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")),
        ("mapbox-secret-token", "sk" + ".eyJ1IjoiYWNtZSIsImEiOiJ" + r(20, B64URL) + "." + r(22, B64URL)),
        ("shippo", "shippo" + "_live_" + hexs(40)),
        ("shippo-test", "shippo" + "_test_" + hexs(40)),
        ("brevo", "xkey" + "sib-" + hexs(64) + "-" + r(16)),
        ("postman", "PM" + "AK-" + hexs(24) + "-" + hexs(34)),
        ("databricks", "da" + "pi" + hexs(32)),
        ("doppler", "dp" + ".pt." + r(43)),
        ("doppler-service", "dp" + ".st.prd." + r(40)),
        ("pulumi", "pu" + "l-" + hexs(40)),
        ("linear", "lin" + "_api_" + r(40)),
        ("notion", "sec" + "ret_" + r(43)),
        ("notion-ntn", "nt" + "n_" + r(46)),
        ("atlassian", "ATA" + "TT3xFfGF0" + r(180, B64URL) + "=" + hexs(8).upper()),
        ("bitbucket-app-password", "AT" + "BB" + r(32)),
        ("vault-service-token", "hv" + "s." + r(90, B64URL)),
        ("vault-batch-token", "hv" + "b." + r(120, B64URL)),
        ("terraform-cloud", r(14) + ".atlas" + "v1." + r(67)),
        ("sentry-org-token", "sntr" + "ys_" + "eyJpYXQiOjE3MDAwMDAwMDB9" + r(40, B64URL)),
        ("sentry-user-token", "sntr" + "yu_" + hexs(64)),
        ("newrelic-user-key", "NR" + "AK-" + r(27, UPPER_DIGITS)),
        ("newrelic-insert-key", "NR" + "II-" + r(32, B64URL)),
        ("shopify-access-token", "shp" + "at_" + hexs(32)),
        ("shopify-shared-secret", "shp" + "ss_" + hexs(32)),
        ("mailgun", "ke" + "y-" + hexs(32)),
        ("dockerhub-pat", "dckr" + "_pat_" + r(27, B64URL)),
        ("grafana-service-account", "gl" + "sa_" + r(32) + "_" + hexs(8)),
        ("grafana-cloud", "gl" + "c_" + r(80, B64)),
        ("digitalocean", "do" + "p_v1_" + hexs(64)),
        ("digitalocean-oauth", "do" + "o_v1_" + hexs(64)),
        ("supabase", "sb" + "p_" + hexs(40)),
        ("figma", "fi" + "gd_" + r(40, B64URL)),
        ("sonarqube", "sq" + "p_" + hexs(40)),
        ("buildkite", "bk" + "ua_" + hexs(40)),
        ("planetscale", "pscale" + "_tkn_" + r(43)),
        ("planetscale-password", "pscale" + "_pw_" + r(43)),
        ("langsmith", "lsv2" + "_pt_" + hexs(32) + "_" + hexs(10)),
        ("groq", "gs" + "k_" + r(52)),
        ("replicate", "r" + "8_" + r(37)),
        ("perplexity", "pp" + "lx-" + r(48)),
        ("xai", "xa" + "i-" + r(80)),
        ("netlify", "nf" + "p_" + r(36)),
        ("rubygems", "ruby" + "gems_" + hexs(48)),
        ("alibaba-access-key", "LT" + "AI" + r(20)),
        ("tencent-secret-id", "AK" + "ID" + r(32)),
        ("contentful", "CF" + "PAT-" + r(43, B64URL)),
        ("flutterwave", "FLW" + "SECK_TEST-" + hexs(32) + "-X"),
        ("google-oauth-access-token", "ya" + "29." + r(120, B64URL)),
        ("google-refresh-token", "1/" + "/0" + r(60, B64URL)),
        ("nuget", "oy" + "2" + r(43, LOWER_DIGITS)),
        ("jfrog", "AK" + "Cp" + r(69)),
        ("twilio-api-key", "S" + "K" + hexs(32)),
        ("gitlab-runner-token", "gl" + "rt-" + r(20, B64URL)),
        ("gitlab-deploy-token", "gl" + "dt-" + r(20, B64URL)),
        ("gitlab-runner-registration", "GR1348" + "941" + r(20, B64URL)),
        ("azure-ad-client-secret", r(3) + "8Q" + "~" + r(34, ALNUM + "_~.-")),
        ("heroku-new", "HR" + "KU-" + r(60, B64URL)),
        ("openai-admin-key", "sk" + "-admin-" + r(64, B64URL)),
        ("deepseek", "sk" + "-" + hexs(32)),
        ("discord-bot-token", "M" + r(23) + "." + r(6, B64URL) + "." + r(27, B64URL)),
        ("twitter-bearer", "A" * 22 + r(18) + "%2F" + r(30) + "%3D" + r(50)),
        ("square-access-token", "EA" + "AA" + r(60, B64URL)),
        ("square-oauth-secret", "sq0" + "csp-" + r(43, B64URL)),
        ("braintree", "access_token" + "$production$" + r(16, LOWER_DIGITS) + "$" + hexs(32)),
        ("pinecone", "pc" + "sk_" + r(5) + "_" + r(60)),
        ("pubnub-secret", "sec" + "-c-" + r(48, B64)),
        ("adafruit", "ai" + "o_" + r(28)),
        ("clojars", "CLO" + "JARS_" + hexs(60)),
        ("dynatrace", "dt0" + "c01." + r(24, UPPER_DIGITS) + "." + r(64, UPPER_DIGITS)),
        ("flyio", "fo" + "1_" + r(43, B64URL)),
        ("render", "rn" + "d_" + r(32)),
        ("octopus", "AP" + "I-" + r(26, UPPER_DIGITS)),
        ("scaleway", "SC" + "W" + r(17, UPPER_DIGITS)),
        ("yandex", "AQ" + "VN" + r(35, B64URL)),
        ("huggingface-org", "api" + "_org_" + r(34)),
        ("firebase-fcm", "AAAA" + r(7, B64URL) + ":APA9" + "1b" + r(134, B64URL)),
        ("cloudflare-origin-ca", "v1" + ".0-" + hexs(24) + "-" + hexs(146)),
        ("launchdarkly-sdk", "sd" + "k-" + fake_uuid()),
        ("slack-app-token", "xa" + "pp-1-A" + r(10, UPPER_DIGITS) + "-" + r(13, DIGITS) + "-" + hexs(64)),
        ("stripe-restricted-test", "rk" + "_test_" + r(99)),
        ("openai-project-key", "sk" + "-proj-" + r(48, B64URL)),
        ("github-fine-grained", "github" + "_pat_" + r(22) + "_" + r(59)),
        ("gitlab-pat", "gl" + "pat-" + r(20, B64URL)),
        ("sendgrid", "S" + "G." + r(22, B64URL) + "." + r(43, B64URL)),
        ("npm", "np" + "m_" + r(36)),
        ("pypi", "pypi" + "-AgEIcHlwaS5vcmc" + r(70, B64URL)),
        ("huggingface", "h" + "f_" + r(34)),
        ("anthropic", "sk" + "-ant-api03-" + r(93, B64URL) + "AA"),
        ("aws-access-key", "AK" + "IA" + r(16, UPPER_DIGITS)),
        ("google-api-key", "AI" + "za" + r(35, B64URL)),
        ("slack-bot-token", "xo" + "xb-" + r(12, DIGITS) + "-" + r(12, DIGITS) + "-" + r(24)),
        ("stripe-live", "sk" + "_live_" + r(99)),
        ("github-classic", "gh" + "p_" + r(36)),
    ]


_NEUTRAL_PLACES = [
    ("{fmt}.py", 'DEFAULTS = {{"endpoint": "https://api.example.com", "value": "{{S}}"}}'),
    ("config/{fmt}.yaml", "service:\n  name: upstream\n  value: {{S}}\n"),
    ("src/{fmt}.ts", "export const settings = ['upstream', \"{{S}}\"];"),
    (".env.{fmt}", "UPSTREAM_{n}={{S}}"),
    ("docs/{fmt}.md", "Run the job with `{{S}}` in place."),
    ("{fmt}.json", '{{"service": "upstream", "value": "{{S}}"}}'),
    ("cmd/{fmt}.go", 'var cfg = Config{{Name: "upstream", Value: "{{S}}"}}'),
    ("scripts/{fmt}.sh", "deploy --target prod --with {{S}}"),
]


def _vendors() -> None:
    for number, (name, token) in enumerate(_vendor_tokens()):
        for place in (number % len(_NEUTRAL_PLACES), (number + 3) % len(_NEUTRAL_PLACES)):
            path, template = _NEUTRAL_PLACES[place]
            add(f"vendor:{name}", path.format(fmt=name), template.format(fmt=name, n=number),
                token)
    # Webhook URLs and signed URLs: the signature or path part is the secret.
    teams = f"{fake_uuid()}@{fake_uuid()}/IncomingWebhook/{hexs(32)}/{fake_uuid()}"
    add("webhook:teams", "alerts/teams.py",
        'TEAMS = "https://acme.webhook.office.com/webhook' + 'b2/{S}"', teams)
    teams2 = f"{fake_uuid()}@{fake_uuid()}/IncomingWebhook/{hexs(32)}/{fake_uuid()}/{r(40, B64URL)}"
    add("webhook:teams-v2", "ops/notify.yaml",
        "notify:\n  url: https://acme.webhook.office.com/webhook" + "b2/{S}\n", teams2)
    slack = f"T{r(10, UPPER_DIGITS)}/B{r(10, UPPER_DIGITS)}/{r(24)}"
    add("webhook:slack", "ci/notify.sh", "curl -X POST https://hooks.slack" + ".com/services/{S} -d @msg.json", slack)
    discord = f"{r(18, DIGITS)}/{r(68, B64URL)}"
    add("webhook:discord", "bot/config.js",
        "module.exports = { hook: 'https://discordapp.com/api/webhooks/{S}' };", discord)
    sig = r(43, B64URL)
    add("signed-url:logic-app", "workflows/trigger.json",
        '{"url": "https://prod-27.westeurope.logic.azure.com:443/workflows/' + hexs(32)
        + '/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun'
        '&sv=1.0&sig={S}"}', sig)
    sas = r(40, ALNUM) + "%2B" + r(6) + "%3D"
    add("signed-url:azure-sas", "upload.py",
        'BLOB = "https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o'
        '&sp=rwl&se=2026-01-01T00:00:00Z&spr=https&sig={S}"', sas)
    sas2 = r(43, B64) + "="
    add("signed-url:azure-sas-connection", "appsettings.json",
        '{"Queue": "QueueEndpoint=https://acme.queue.core.windows.net/;SharedAccessSignature='
        'sv=2022-11-02&ss=q&srt=sco&sp=rl&se=2026-01-01T00:00:00Z&sig={S}"}', sas2)


# --- Credentials passed positionally ---------------------------------------------------------

def _positional() -> None:
    p = password
    add("positional:csharp-network-credential", "src/Mailer.cs",
        'var creds = new NetworkCredential(user, "{S}");', p())
    add("positional:csharp-network-credential-domain", "src/Share.cs",
        'client.Credentials = new NetworkCredential("svc_backup", "{S}", "ACME");', p())
    add("positional:python-smtp-login", "mailer.py", 'server.login("alerts@acme.io", "{S}")', p())
    add("positional:python-smtp-login-variable-user", "notify.py", "smtp.login(user, '{S}')", p())
    add("positional:python-ftp-login", "sync/ftp.py", 'ftp.login("uploader", "{S}")', p())
    add("positional:python-imap-login", "inbox.py", "mail.login(ADDRESS, \"{S}\")", p())
    add("positional:oracle-connect", "etl/oracle.py",
        'conn = oracledb.connect("scott", "{S}", "db.acme.io/orclpdb1")', p())
    add("positional:pymysql-connect", "db.py", 'db = pymysql.connect("db.internal", "app", "{S}", "shop")', p())
    add("positional:requests-auth-tuple", "client.py",
        'r = requests.get(URL, auth=("api", "{S}"), timeout=10)', r(32, HEX))
    add("positional:requests-basic-auth", "hooks.py", 'auth = HTTPBasicAuth("deploy", "{S}")', p())
    add("positional:httpx-auth-tuple", "api.py", "client = httpx.Client(auth=('admin', '{S}'))", p())
    add("positional:paramiko-auth-password", "ssh.py", 'transport.auth_password("root", "{S}")', p())
    add("positional:jdbc-get-connection", "src/main/java/Repo.java",
        'Connection c = DriverManager.getConnection(url, "app", "{S}");', p())
    add("positional:java-password-authentication", "src/main/java/Mail.java",
        'return new PasswordAuthentication("noreply@acme.io", "{S}".toCharArray());', p())
    add("positional:go-smtp-plain-auth", "mail/send.go",
        'auth := smtp.PlainAuth("", "bot@acme.io", "{S}", "smtp.acme.io")', p())
    add("positional:php-pdo", "src/Db.php", "$pdo = new PDO($dsn, 'root', '{S}');", p())
    add("positional:php-mysqli-connect", "legacy/db.php",
        "$link = mysqli_connect('localhost', 'shop', '{S}', 'shop');", p())
    add("positional:perl-dbi", "scripts/report.pl",
        'my $dbh = DBI->connect($dsn, "report", "{S}", { RaiseError => 1 });', p())
    add("positional:ruby-smtp", "lib/mailer.rb",
        "Net::SMTP.start('smtp.acme.io', 587, 'acme.io', 'bot', '{S}', :login)", p())
    add("positional:keyring-set-password", "setup_keys.py",
        'keyring.set_password("acme-api", "deploy", "{S}")', p())
    add("positional:twilio-client-python", "sms.py",
        'client = Client("AC' + hexs(32) + '", "{S}")', hexs(32))
    add("positional:twilio-client-node", "src/sms.js",
        "const client = new Twilio(accountSid, '{S}');", hexs(32))
    add("positional:twilio-client-ruby", "app/sms.rb",
        "client = Twilio::REST::Client.new(account_sid, '{S}')", hexs(32))
    add("positional:tweepy-oauth", "bot/twitter.py",
        'auth = tweepy.OAuthHandler("{S0}", "{S1}")', r(25), r(50))
    add("positional:aws-basic-credentials-java", "src/main/java/S3.java",
        'AWSCredentials c = new BasicAWSCredentials("AK' + 'IA' + r(16, UPPER_DIGITS) + '", "{S}");',
        r(40, B64))
    add("positional:aws-static-credentials-go", "storage/s3.go",
        'creds := credentials.NewStaticCredentials(keyID, "{S}", "")', r(40, B64))
    add("positional:minio-static-v4", "storage/minio.go",
        'Creds: credentials.NewStaticV4("minioadmin", "{S}", ""),', p())
    add("positional:azure-shared-key-credential", "src/Blob.cs",
        'var cred = new StorageSharedKeyCredential("acmestore", "{S}");', b64(64))
    add("positional:oauth-client-constructor", "src/auth.ts",
        'const oauth = new OAuthClient("web-app", "{S}");', r(28))
    add("positional:sdk-client-id-secret", "billing/paypal.py",
        'api = PayPalClient("AZ' + r(20) + '", "{S}")', r(40, B64URL))
    add("positional:powershell-securestring", "deploy/setup.ps1",
        '$pw = ConvertTo-SecureString "{S}" -AsPlainText -Force', p())
    add("positional:powershell-securestring-named", "deploy/join.ps1",
        "$secure = ConvertTo-SecureString -String '{S}' -AsPlainText -Force", p())
    add("positional:powershell-pscredential", "deploy/creds.ps1",
        '$cred = New-Object System.Management.Automation.PSCredential("acme\\svc", '
        '(ConvertTo-SecureString "{S}" -AsPlainText -Force))', p())
    add("positional:php-define-password", "wp-config.php", "define('DB_PASSWORD', '{S}');", p())
    add("positional:php-define-api-key", "config/app.php", 'define("MAILCHIMP_KEY", "{S}");', r(32, HEX))
    wp = [r(64, ALNUM + "!#%()*+,-.:;<=>?@[]^_{|}~") for _ in range(4)]
    add("positional:wordpress-salts", "wp-config.php",
        "define('AUTH_KEY',         '{S0}');\ndefine('SECURE_AUTH_KEY',  '{S1}');\n"
        "define('LOGGED_IN_SALT',   '{S2}');\ndefine('NONCE_SALT',       '{S3}');", *wp)
    add("positional:java-set-property", "src/main/java/Mail.java",
        'props.setProperty("mail.smtp.password", "{S}");', p())
    add("positional:java-system-property", "src/main/java/Tls.java",
        'System.setProperty("javax.net.ssl.keyStorePassword", "{S}");', p())
    add("positional:python-environ-setdefault", "conftest.py",
        'os.environ.setdefault("DB_PASSWORD", "{S}")', p())
    add("positional:python-putenv", "boot.py", 'os.putenv("API_TOKEN", "{S}")', r(30))
    add("positional:go-setenv", "main_test.go", 'os.Setenv("API_TOKEN", "{S}")', r(30))
    add("positional:go-header-set", "client/http.go", 'req.Header.Set("X-Api-Key", "{S}")', r(32))
    add("positional:java-request-property", "src/main/java/Gitlab.java",
        'conn.setRequestProperty("PRIVATE-TOKEN", "{S}");', "gl" + "pat-" + r(20, B64URL))
    add("positional:js-headers-append", "src/api.js", 'headers.append("X-Auth-Token", "{S}");', r(40, B64URL))
    add("positional:python-environ-key", "notebook_setup.py", 'os.environ["WEATHER_KEY"] = "{S}"', r(32, HEX))
    add("positional:python-environ-secret", "settings_dev.py",
        "os.environ['SHOP_SECRET'] = '{S}'", r(24))
    add("positional:node-process-env", "scripts/seed.js", 'process.env.MAPS_KEY = "{S}";', r(39, B64URL))
    add("positional:vault-login-token", "scripts/vault.sh", "vault login {S}", "hv" + "s." + r(24, B64URL))
    add("positional:echo-password-stdin", ".github/workflows/push.yml",
        "      - run: echo \"{S}\" | docker login -u ci --password-stdin registry.acme.io", r(36))
    add("positional:config-set", "scripts/npm-auth.sh",
        "npm config set //registry.acme.io/:_authToken {S}", r(36))
    add("positional:aws-configure-set", "bootstrap.sh",
        "aws configure set aws_secret_access_key {S}", r(40, B64))


# --- Flags -------------------------------------------------------------------------------------

def _flags() -> None:
    p = password
    add("flag:mysql-p-attached", "scripts/backup.sh", "mysqldump -u root -p{S} shop > shop.sql", r(14))
    add("flag:mysql-p-attached-quoted", "Makefile", "\tmysql -uroot -p'{S}' -e 'SHOW DATABASES'", p())
    add("flag:mysql-p-docker", "docker-compose.yml",
        '    healthcheck:\n      test: ["CMD", "mysqladmin", "ping", "-uroot", "-p{S}"]', p())
    add("flag:sshpass", "deploy.sh", "sshpass -p '{S}' ssh deploy@10.0.0.5 'sudo systemctl restart app'", p())
    add("flag:sshpass-attached", "ops/sync.sh", "sshpass -p{S} rsync -av dist/ web:/srv/", p())
    add("flag:redis-cli-a", "scripts/flush.sh", "redis-cli -h cache.internal -a {S} FLUSHALL", r(24))
    add("flag:curl-u", "scripts/release.sh", "curl -u deploy:{S} -F file=@app.zip https://repo.acme.io/upload", p())
    add("flag:curl-user-quoted", "docs/api.md", 'curl --user "admin:{S}" https://jenkins.acme.io/api/json', r(34, HEX))
    add("flag:curl-u-token-only", "README.md", "curl https://api.stripe.com/v1/charges -u {S}:",
        "sk" + "_test_" + r(24))
    add("flag:curl-u-api-token", "scripts/jira.sh",
        "curl -s -u bot@acme.io:{S} https://acme.atlassian.net/rest/api/3/myself", r(24))
    add("flag:az-login", "ci/azure.sh",
        "az login --service-principal -u " + fake_uuid() + " -p {S} --tenant " + fake_uuid(),
        r(3) + "8Q" + "~" + r(34, ALNUM + "_~.-"))
    add("flag:docker-login-p", ".gitlab-ci.yml",
        "  script:\n    - docker login -u gitlab-ci -p {S} registry.acme.io", r(20))
    add("flag:zip-P", "backup.sh", "zip -r -P {S} backup.zip data/", p())
    add("flag:7z-p", "ops/archive.bat", "7z a -p{S} -mhe=on backup.7z C:\\data", p())
    add("flag:ldapsearch-w", "scripts/ldap.sh",
        'ldapsearch -x -H ldap://ldap.acme.io -D "cn=admin,dc=acme,dc=io" -w {S} -b dc=acme,dc=io', p())
    add("flag:sqlcmd-P", "db/restore.ps1", "sqlcmd -S db01 -U sa -P '{S}' -i restore.sql", p())
    add("flag:mongosh-p", "scripts/mongo.sh", "mongosh --host db -u admin -p {S} --authenticationDatabase admin", p())
    add("flag:openssl-passout", "certs/make.sh", "openssl pkcs12 -export -in c.pem -out c.p12 -passout pass:{S}", p())
    add("flag:openssl-passin", "certs/convert.sh", "openssl rsa -in enc.key -out plain.key -passin pass:{S}", p())
    add("flag:openssl-k", "scripts/encrypt.sh", "openssl enc -aes-256-cbc -salt -k {S} -in db.sql -out db.enc", p())
    add("flag:htpasswd-b", "Dockerfile", "RUN htpasswd -b -c /etc/nginx/.htpasswd admin {S}", p())
    add("flag:smbclient-U", "backup/smb.sh", "smbclient //nas/backup -U backup%{S} -c 'put db.tar'", p())
    add("flag:net-use", "scripts/map.cmd", "net use Z: \\\\fileserver\\share {S} /user:ACME\\svc_map", p())
    add("flag:pg-password-env-inline", "scripts/dump.sh",
        "PGPASSWORD={S} pg_dump -h db -U app app > app.sql", p())
    add("flag:json-array-long", "deploy/task.json",
        '{"command": ["./server", "--db-password", "{S}", "--port", "8080"]}', p())
    add("flag:yaml-array-long", "k8s/job.yaml",
        '      args: ["--api-token", "{S}", "--verbose"]', r(32))
    add("flag:yaml-list-items", "k8s/cron.yaml",
        "        args:\n          - --secret-key\n          - {S}\n          - --once", r(40, B64URL))
    add("flag:python-argv-list", "tasks.py",
        'subprocess.run(["sshpass", "-p", "{S}", "scp", "db.sql", "backup:"], check=True)', p())
    add("flag:password-space-value", "scripts/sync.sh", "rclone sync . remote: --password {S}", p())
    add("flag:token-space-value-in-code", "tools/upload.py",
        'os.system("twine upload --password {S} dist/*")', r(30))
    add("flag:gh-secret-body", "scripts/secrets.sh", 'gh secret set NPM_TOKEN --body "{S}"', r(36))
    add("flag:kubectl-from-literal", "scripts/k8s.sh",
        "kubectl create secret generic db --from-literal=password={S}", p())
    add("flag:heroku-config-set", "scripts/heroku.sh", "heroku config:set STRIPE_SECRET={S} -a shop", r(32))
    add("flag:helm-set", "deploy/helm.sh",
        "helm upgrade app ./chart --set postgresql.auth.password={S}", p())
    add("flag:java-D-property", "run.sh",
        "java -Dspring.datasource.password={S} -jar app.jar", p())
    add("flag:powershell-param", "deploy/run.ps1",
        "./Deploy.ps1 -Environment prod -ApiKey {S}", r(32))
    add("flag:terraform-var", "ci/tf.sh", "terraform apply -var 'db_password={S}' -auto-approve", p())
    add("flag:ansible-extra-vars", "ci/ansible.sh",
        "ansible-playbook site.yml -e \"ansible_become_password={S}\"", p())


# --- Headers -----------------------------------------------------------------------------------

def _headers() -> None:
    add("header:gitlab-private-token", "scripts/gitlab.sh",
        'curl --header "PRIVATE-TOKEN: {S}" https://gitlab.acme.io/api/v4/projects', r(20, B64URL))
    add("header:circle-token", "scripts/circle.sh",
        "curl -H 'Circle-Token: {S}' https://circleci.com/api/v2/me", hexs(40))
    add("header:x-api-key-curl", "docs/usage.md",
        'curl -H "X-Api-Key: {S}" https://api.acme.io/v1/items', r(32))
    add("header:x-auth-token", "scripts/cf.sh",
        'curl -H "X-Auth-Token: {S}" https://api.acme.io/v1/zones', r(40, B64URL))
    add("header:x-vault-token", "scripts/vault-read.sh",
        'curl -H "X-Vault-Token: {S}" https://vault.acme.io/v1/secret/data/app', "hv" + "s." + r(24, B64URL))
    add("header:dd-api-key", "scripts/dd.sh",
        'curl -X POST -H "DD-API-KEY: {S}" https://api.datadoghq.com/api/v1/series', hexs(32))
    add("header:ocp-apim-subscription-key", "src/translate.py",
        "resp = requests.post(url, headers={'Ocp-Apim-Subscription-Key': '{S}'})", hexs(32))
    add("header:http-file", "requests/api.http",
        "GET https://api.acme.io/v1/me\nX-API-Key: {S}\nAccept: application/json", r(32))
    add("header:http-file-custom-token", "requests/admin.http",
        "POST https://api.acme.io/admin\nX-Admin-Token: {S}\n", r(24))
    add("header:authorization-raw", "requests/raw.http",
        "GET /v2/orders HTTP/1.1\nHost: api.acme.io\nAuthorization: {S}", r(40, B64URL))
    add("header:nginx-proxy-set-header", "nginx/site.conf",
        '    proxy_set_header X-Api-Key "{S}";', r(32))
    add("header:apache-request-header", "apache/vhost.conf",
        '    RequestHeader set X-Service-Token "{S}"', r(36))
    add("header:fetch-headers-object", "src/fetch.ts",
        "const res = await fetch(url, { headers: { 'X-Shopify-Access-Token': '{S}' } });",
        "shp" + "at_" + hexs(32))
    add("header:powershell-headers", "deploy/api.ps1",
        '$headers = @{ "X-Figma-Token" = "{S}" }', "fi" + "gd_" + r(40, B64URL))
    add("header:wget-header", "scripts/fetch.sh",
        "wget --header='X-Riot-Token: {S}' https://api.riotgames.com/x", "RGAPI-" + fake_uuid())
    add("header:httpie", "docs/httpie.md", "http GET api.acme.io/v1/me X-API-Token:{S}", r(30))


# --- XML ---------------------------------------------------------------------------------------

def _xml() -> None:
    p = password
    add("xml:password-attribute-not-first", "conf/db.xml",
        '<connection host="db.internal" user="app" password="{S}" pool="10"/>', p())
    add("xml:password-attribute-single-quotes", "conf/ldap.xml",
        "<ldap url='ldap://ldap.acme.io' bindDn='cn=admin' bindPassword='{S}'/>", p())
    add("xml:appsettings-add-key-value", "Web.config",
        '<appSettings>\n  <add key="SmtpPassword" value="{S}" />\n</appSettings>', p())
    add("xml:appsettings-api-key", "App.config", '  <add key="StripeApiKey" value="{S}"/>',
        "sk" + "_live_" + r(24))
    add("xml:nuget-cleartext-password", "NuGet.config",
        '<packageSourceCredentials>\n  <acme>\n    <add key="Username" value="ci" />\n'
        '    <add key="ClearTextPassword" value="{S}" />\n  </acme>\n</packageSourceCredentials>', r(52, LOWER_DIGITS))
    add("xml:spring-property-name-value", "src/main/resources/beans.xml",
        '<bean id="ds" class="org.apache.commons.dbcp2.BasicDataSource">\n'
        '  <property name="username" value="app"/>\n  <property name="password" value="{S}"/>\n</bean>', p())
    add("xml:param-name-value", "WEB-INF/web.xml", '<param name="apiKey" value="{S}"/>', r(32))
    add("xml:android-string-api-key", "app/src/main/res/values/strings.xml",
        '<resources>\n    <string name="app_name">Acme</string>\n    <string name="maps_api_key">{S}</string>\n</resources>', r(39, B64URL))
    add("xml:android-string-secret", "app/src/main/res/values/secrets.xml",
        '<string name="stripe_secret">{S}</string>', r(32))
    add("xml:properties-entry", "conf/app.xml", '<entry key="db.password">{S}</entry>', p())
    add("xml:tomcat-users", "conf/tomcat-users.xml",
        '<user username="admin" password="{S}" roles="manager-gui,admin-gui"/>', p())
    add("xml:tomcat-resource", "conf/context.xml",
        '<Resource name="jdbc/app" auth="Container" type="javax.sql.DataSource"\n'
        '          username="app" password="{S}" driverClassName="org.postgresql.Driver"/>', p())
    add("xml:plist-key-string", "ios/Acme/Info.plist",
        "<key>APIKey</key>\n<string>{S}</string>", r(40, B64URL))
    add("xml:maven-settings-server", "settings.xml",
        "<server>\n  <id>nexus</id>\n  <username>ci</username>\n  <password>{S}</password>\n</server>", p())
    add("xml:jenkins-secret", "jenkins/credentials.xml", "<secret>{S}</secret>", r(32))
    add("xml:element-text-random", "data/feed.xml", "<entry><id>42</id><value>{S}</value></entry>", r(28))
    add("xml:filezilla-pass", "FileZilla/sitemanager.xml",
        '<Pass encoding="base64">{S}</Pass>', b64(15))
    add("xml:connection-string-attribute", "Web.config",
        '<add name="Main" connectionString="Data Source=db;Initial Catalog=app;User ID=sa;Password={S}" />', p())


# --- JSON / YAML name-value objects, notebooks ------------------------------------------------

def _pairs() -> None:
    p = password
    add("json:postman-environment", "postman/prod.postman_environment.json",
        '{"values": [\n  {"key": "baseUrl", "value": "https://api.acme.io", "enabled": true},\n'
        '  {"key": "apiKey", "value": "{S}", "enabled": true}\n]}', r(32))
    add("json:postman-secret-type", "postman/dev.postman_environment.json",
        '{\n  "key": "token",\n  "value": "{S}",\n  "type": "secret"\n}', r(40, B64URL))
    add("json:postman-header", "postman/collection.json",
        '"header": [{"key": "X-Api-Key", "value": "{S}", "type": "text"}]', r(32))
    add("yaml:k8s-env-name-value", "k8s/deploy.yaml",
        "        env:\n          - name: DB_PASSWORD\n            value: \"{S}\"\n          - name: PORT\n            value: \"8080\"", p())
    add("yaml:k8s-env-name-value-unquoted", "k8s/worker.yaml",
        "          - name: STRIPE_SECRET_KEY\n            value: {S}", "sk" + "_live_" + r(30))
    add("json:ecs-task-environment", "ecs/task-def.json",
        '"environment": [{"name": "API_TOKEN", "value": "{S}"}, {"name": "PORT", "value": "80"}]', r(36))
    add("json:cloudformation-parameters", "cfn/params.json",
        '[{"ParameterKey": "DbPassword", "ParameterValue": "{S}"}]', p())
    add("yaml:ansible-vars-list", "group_vars/all.yml",
        "app_settings:\n  - key: mail_password\n    value: {S}", p())
    add("hcl:terraform-variable-default", "variables.tf",
        'variable "db_password" {\n  type      = string\n  default   = "{S}"\n}', p())
    add("hcl:terraform-variable-default-inline", "vars.tf",
        'variable "datadog_api_key" { default = "{S}" }', hexs(32))
    add("hcl:terraform-provider", "main.tf",
        'provider "github" {\n  owner = "acme"\n  token = "{S}"\n}', "gh" + "p_" + r(36))
    add("notebook:escaped-assignment", "analysis.ipynb",
        '   "source": [\n    "import openai\\n",\n    "openai.api_key = \\"{S}\\"\\n"\n   ]', r(40, B64URL))
    add("notebook:escaped-environ", "train.ipynb",
        '    "os.environ[\\"WANDB_KEY\\"] = \\"{S}\\"\\n",', hexs(40))
    add("notebook:escaped-dict", "explore.ipynb",
        '    "creds = {\\"user\\": \\"etl\\", \\"password\\": \\"{S}\\"}\\n",', p())
    add("notebook:escaped-call", "mail.ipynb",
        '    "server.login(\\"me@acme.io\\", \\"{S}\\")\\n",', p())
    add("notebook:output-token", "debug.ipynb",
        '      "text": [\n       "token: {S}\\n"\n      ]', r(32))
    add("json:nested-credentials", "config/services.json",
        '{"smtp": {"host": "smtp.acme.io", "user": "bot", "pass": "{S}"}}', p())
    add("json:docker-config-auth", ".docker/config.json",
        '{"auths": {"registry.acme.io": {"auth": "{S}"}}}', base64.b64encode(f"ci:{r(20)}".encode()).decode())
    add("json:composer-auth", "auth.json",
        '{"http-basic": {"repo.acme.io": {"username": "ci", "password": "{S}"}}}', p())
    add("yaml:github-actions-with", ".github/workflows/deploy.yml",
        "      - uses: acme/deploy-action@v2\n        with:\n          api-key: {S}", r(32))
    add("yaml:spring-application", "src/main/resources/application.yml",
        "spring:\n  datasource:\n    url: jdbc:postgresql://db/app\n    username: app\n    password: {S}", p())
    add("toml:poetry-http-basic", "poetry.toml",
        '[http-basic.acme]\nusername = "ci"\npassword = "{S}"', p())
    add("ini:odbc", "odbc.ini", "[app]\nDriver = PostgreSQL\nServername = db\nUsername = app\nPassword = {S}", p())
    add("properties:gradle-signing", "gradle.properties", "signing.password={S}\nossrhPassword={S}", p())
    add("python:unquoted-value", "settings_local.py", "password = {S}", "hunter2x" + r(3, DIGITS))
    add("python:unquoted-value-constant", "legacy/config.py", "DB_PASSWORD = {S}  # FIXME", "Tr0ub4dor" + r(3, DIGITS))
    add("js:unquoted-after-colon-template", "src/legacy.js", "const cfg = { token: `{S}` };", r(30))


# --- Comments and prose -------------------------------------------------------------------------

def _prose() -> None:
    p = password
    add("comment:user-slash-password", "tests/test_login.py", "# admin / {S}", p())
    add("comment:staging-password-is", "src/client.js", "// the staging password is {S}", p())
    add("comment:sql-login", "db/seed.sql", "-- login: sa / {S}", p())
    add("comment:html-test-account", "templates/login.html",
        "<!-- test account: demo@acme.io / {S} -->", p())
    add("comment:yaml-old-password", "config/db.yml", "  # old password: {S} (rotated)", p())
    add("comment:token-was", "ci/build.sh", "# TODO rotate, the token was {S}", r(32))
    add("comment:credentials-colon-pair", "README.txt", "Credentials: admin:{S}", p())
    add("comment:pwd-shorthand", "ops/notes.txt", "db01 root pwd {S}", p())
    add("comment:python-docstring", "tests/conftest.py",
        '"""Fixtures. The sandbox account is qa@acme.io, password {S}."""', p())
    add("comment:csharp-xml-doc", "src/Auth.cs", "/// <remarks>Default password is {S}.</remarks>", p())
    add("markdown:code-span-password", "docs/setup.md",
        "Log in as `admin` with the password `{S}`.", p())
    add("markdown:code-span-pair", "docs/demo.md", "Demo credentials: `demo` / `{S}`", p())
    add("markdown:api-key-is", "CONTRIBUTING.md", "The sandbox API key is `{S}`; do not share it.", r(32))
    add("markdown:table-password-column", "docs/accounts.md",
        "| Environment | User | Password |\n| --- | --- | --- |\n| staging | admin | {S0} |\n| qa | tester | {S1} |",
        p(), p())
    add("prose:wifi-password", "office/README.txt", "Guest wifi password: {S}", p())
    add("prose:passphrase-is", "keys/README.md", "The signing key passphrase is \"{S}\".", p())
    add("dockerfile:echo-netrc", "Dockerfile",
        'RUN echo "machine github.com login ci-bot password {S}" > /root/.netrc', "gh" + "p_" + r(36))
    add("dockerfile:echo-netrc-plain", "build/Dockerfile",
        "RUN echo 'machine nexus.acme.io login deploy password {S}' >> ~/.netrc", p())
    add("shell:echo-pgpass", "scripts/init.sh", "echo 'db:5432:app:app:{S}' > ~/.pgpass", p())


# --- Split strings ------------------------------------------------------------------------------

def _split() -> None:
    stripe_rest = r(40)
    add("split:plus-vendor", "src/pay.js", 'const key = "sk' + '_live_" + "{S}";', stripe_rest)
    a, b = r(20), r(20)
    add("split:plus-random", "src/Keys.java", 'String k = "{S0}" + "{S1}";', a, b)
    a, b = r(18), r(22)
    add("split:python-implicit", "keys.py", 'API = (\n    "{S0}"\n    "{S1}"\n)', a, b)
    a, b, c = r(12), r(12), r(12)
    add("split:js-join", "src/k.js", 'const token = ["{S0}", "{S1}", "{S2}"].join("");', a, b, c)
    a, b = r(16), r(16)
    add("split:python-join", "k.py", "token = ''.join(['{S0}', '{S1}'])", a, b)
    gh_rest = r(36)
    add("split:plus-github", "scripts/tag.py", 'TOKEN = "gh' + 'p_" + "{S}"', gh_rest)
    a, b = r(15), r(17)
    add("split:go-plus", "pkg/auth/key.go", 'const signingKey = "{S0}" +\n\t"{S1}"', a, b)


# --- Connection strings in other dialects ---------------------------------------------------------

def _connections() -> None:
    p = password
    add("dsn:libpq-python", "db.py",
        'conn = psycopg2.connect("host=db port=5432 dbname=app user=app password={S} sslmode=require")', p())
    add("dsn:libpq-go", "store/pg.go",
        'dsn := "host=localhost user=app password={S} dbname=app sslmode=disable"', p())
    add("dsn:libpq-quoted-value", "etl/load.py",
        "dsn = \"dbname=dw user=etl password='{S}' host=dw.internal\"", p())
    add("dsn:libpq-psql", "scripts/psql.sh", 'psql "host=db user=app password={S} sslmode=require"', p())
    add("jdbc:oracle-thin-service", "src/main/resources/db.properties",
        "db.url=jdbc:oracle:thin:scott/{S}@//db.acme.io:1521/ORCLPDB1", p())
    add("jdbc:oracle-thin-sid", "src/main/java/Ora.java",
        'String url = "jdbc:oracle:thin:app/{S}@db01:1521:ORCL";', p())
    add("cli:sqlplus", "scripts/ora.sh", "sqlplus system/{S}@//db:1521/XE @migrate.sql", p())
    add("cli:expdp", "scripts/export.sh", "expdp userid=app/{S}@ORCL schemas=APP dumpfile=app.dmp", p())
    add("dsn:go-mysql", "main.go", 'db, err := sql.Open("mysql", "app:{S}@tcp(db:3306)/shop?parseTime=true")', p())
    add("dsn:sqlserver-jdbc", "application.properties",
        "spring.datasource.url=jdbc:sqlserver://db;databaseName=app;user=sa;password={S};", p())
    add("dsn:jdbc-query-params", "config/db.conf",
        "url = \"jdbc:postgresql://db/app?user=app&password={S}&ssl=true\"", p())
    add("dsn:ado-net-pwd", "src/Db.cs", 'var cs = "Server=db;Database=app;Uid=app;Pwd={S};";', p())
    add("dsn:mongodb-srv", "server.ts", "await mongoose.connect('mongodb+srv://app:{S}@cluster0.abcde.mongodb.net/app')", p())
    add("dsn:amqp-url", ".env", "AMQP_URL=amqps://worker:{S}@mq.acme.io/vhost", p())
    add("dsn:redis-url-password-only", "config/cache.yml", "url: rediss://:{S}@cache.acme.io:6380/0", r(24))
    add("dsn:snowflake-url", "dbt/profiles.yml",
        "uri: snowflake://etl:{S}@acme-xy12345/analytics/public?warehouse=wh", p())


# --- Whole-file secrets known by path, credential CSV columns --------------------------------------

def _paths() -> None:
    add("path:rails-master-key", "config/master.key", "{S}", hexs(32))
    add("path:rails-credentials-key", "config/credentials/production.key", "{S}", hexs(32))
    add("path:ansible-vault-pass", ".vault_pass", "{S}", password())
    add("path:ansible-vault-password-file", "ansible/.vault_password", "{S}", r(24))
    add("path:docker-secret-file", "secrets/db_password.txt", "{S}", password())
    add("path:token-file", "deploy/api_token.txt", "{S}", r(40))
    body = [r(64, B64) for _ in range(3)]
    add("path:key-file-body-only", "certs/server.key", "\n".join(body), *body)
    body = [r(64, B64) for _ in range(2)]
    add("path:pem-file-body-only", "deploy/client.pem", "\n".join(body), *body)
    body = [r(70, B64) for _ in range(3)]
    add("path:id-rsa-body-only", "ops/ssh/id_ed25519", "\n".join(body), *body)
    lines = [r(64, B64) for _ in range(3)]
    add("path:putty-ppk", "keys/deploy.ppk",
        "PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: deploy\n"
        "Private-Lines: 3\n" + "\n".join(lines) + "\nPrivate-MAC: {S3}".replace("{S3}", hexs(40)), *lines)
    add("path:htpasswd", "nginx/.htpasswd", "admin:{S}", "$apr1$" + r(8) + "$" + r(22, ALNUM + "./"))
    add("path:git-credentials", ".git-credentials", "https://ci-bot:{S}@github.com", "gh" + "p_" + r(36))
    add("path:openvpn-static-key", "vpn/ta.key",
        "-----BEGIN OpenVPN Static key V1-----\n{S0}\n{S1}\n-----END OpenVPN Static key V1-----",
        hexs(32), hexs(32))
    a, b = r(40, B64), r(40, B64)
    add("csv:aws-credentials", "credentials.csv",
        "User name,Password,Access key ID,Secret access key,Console login link\n"
        "deploy,{S0},AK" + "IA" + r(16, UPPER_DIGITS) + ",{S1},https://acme.signin.aws.amazon.com/console",
        password(), a)
    add("csv:users-password-column", "fixtures/users.csv",
        "email,password,role\nalice@acme.io,{S0},admin\nbob@acme.io,{S1},viewer", password(), password())
    add("csv:quoted-token-column", "exports/integrations.csv",
        'name,"api token",created\n"billing","{S0}",2024-01-02\n"search","{S1}",2024-02-03', r(24), r(24))
    add("tsv:secret-column", "data/clients.tsv",
        "client_id\tclient_secret\tredirect\nweb\t{S}\thttps://app.acme.io/cb", r(32))


# --- Names ending in _KEY, _SECRET, _SALT with hex or base64 values ----------------------------

def _key_names() -> None:
    add("name:hex-under-key", "settings.py", 'ENCRYPTION_KEY = "{S}"', hexs(64))
    add("name:base64-under-key", "config.js", "module.exports.COOKIE_KEY = '{S}';", b64(32))
    add("name:fernet-key", ".env", "FERNET_KEY={S}", base64.urlsafe_b64encode(_rng.randbytes(32)).decode())
    add("name:hex-under-salt", "app/config.py", 'PASSWORD_SALT = "{S}"', hexs(32))
    add("name:hashids-salt", "config/app.rb", "HASHIDS_SALT = '{S}'", r(24))
    add("name:pepper", "config/initializers/devise.rb", 'config.pepper = "{S}"', hexs(128))
    add("name:laravel-app-key", ".env.production", "APP_KEY=base64:{S}", b64(32))
    add("name:datadog-app-key", "datadog.yaml", "app_key: {S}", hexs(40))
    add("name:heroku-api-key-uuid", ".env", "HEROKU_API_KEY={S}", fake_uuid())
    add("name:session-secret", "server.js", "app.use(session({ secret: '{S}' }));", r(32))
    add("name:nextauth-secret", ".env.local", "NEXTAUTH_SECRET={S}", b64(32))
    add("name:jwt-signing-key-yaml", "config/jwt.yaml", "jwt:\n  signing_key: {S}", hexs(64))
    add("name:wireguard-private-key", "wg0.conf", "[Interface]\nAddress = 10.0.0.1/24\nPrivateKey = {S}",
        b64(32))
    add("name:aes-iv-and-key", "crypto/config.go", 'var aesKey = []byte("{S}")', r(32))
    add("name:master-key-csharp", "src/Settings.cs", 'public const string MasterKey = "{S}";', b64(32))
    add("name:azure-devops-pat", "azure-pipelines.yml", "  AZURE_DEVOPS_PAT: {S}", r(52, LOWER_DIGITS))
    add("name:okta-token", "okta.yaml", "okta:\n  client:\n    token: {S}", "00" + r(40, B64URL))
    add("name:cloudflare-api-token", ".env", "CLOUDFLARE_API_TOKEN={S}", r(40, B64URL))
    add("name:twilio-auth-token", "sms_config.py", 'TWILIO_AUTH_TOKEN = "{S}"', hexs(32))
    add("name:algolia-admin-key", "search.js", "const ALGOLIA_ADMIN_KEY = '{S}';", hexs(32))


# --- The fail-safe: random-looking values where a credential could stand -------------------------

def _failsafe() -> None:
    add("failsafe:string-literal", "fixtures.py", 'SEEDS = ["{S}"]', r(20))
    add("failsafe:string-literal-24", "src/boot.ts", "init('{S}');", r(24))
    add("failsafe:yaml-value", "config/app.yml", "upstream:\n  ident: {S}", r(22))
    add("failsafe:xml-element-text", "data/config.xml", "<ident>{S}</ident>", r(20))
    add("failsafe:xml-attribute", "data/settings.xml", '<endpoint url="https://x.acme.io" ident="{S}"/>', r(21))
    add("failsafe:flag-value", "scripts/run.sh", "./agent --ident {S} --region eu", r(24))
    add("failsafe:header-value", "requests/custom.http", "GET /x\nX-Acme-Ident: {S}", r(26))
    add("failsafe:comment-after-credential-word", "src/main.go", "// key {S} works for staging", r(20))
    add("failsafe:csv-cell", "data/keys.csv", "service,key\nbilling,{S}", r(22))
    add("failsafe:ini-value", "tox.ini", "[testenv]\nsetenv =\n    ACME_IDENT = {S}", r(20))
    add("failsafe:json-array", "data/tokens.json", '["{S0}", "{S1}"]', r(20), r(20))
    add("failsafe:toml-value", "pyproject.toml", '[tool.acme]\nident = "{S}"', r(23))
    add("failsafe:hex-with-key-word-comment", "notes.md", "key: {S}", hexs(40))


def _build() -> list[SecretRecord]:
    _vendors()
    _positional()
    _flags()
    _headers()
    _xml()
    _pairs()
    _prose()
    _split()
    _connections()
    _paths()
    _key_names()
    _failsafe()
    return list(_records)


SECRET_CORPUS: list[SecretRecord] = _build()
FORMATS: set[str] = {record.format for record in SECRET_CORPUS}


def as_json() -> str:
    """The corpus as JSON (for looking at it; the tests use the records)."""
    return json.dumps([record.__dict__ for record in SECRET_CORPUS], indent=1)
