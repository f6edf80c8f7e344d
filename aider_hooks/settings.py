"""Settings: flags > environment > ``[tool.aider-review]`` / ``.aider-review.toml`` > defaults.

A ``.env`` file at the repository root is read too, below the real environment (a variable
already set in the environment wins). Keys in files may be written ``fail-on`` or ``fail_on``.
An unknown key or a value of the wrong type is a ``ConfigError`` (exit 2) naming the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from collections.abc import Mapping

from aider_hooks.errors import ConfigError

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FAIL_ON = ("error", "warning", "info", "never")
COMMIT_STYLES = ("plain", "conventional")
SEVERITY_LEVELS = ("error", "warning", "info")
DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
# Security-sensitive paths: reviewed first when a budget cuts the run, and by `strong-model`.
DEFAULT_STRONG_PATHS = ("**/auth/**", "**/*auth*.py", "**/*crypto*", "**/*secret*",
                        "**/payments/**", "**/*.sql")
# Tasks `task-models` may name (a task that does not run simply never reads its entry).
TASK_NAMES = ("review", "explain", "fix", "verify", "describe", "commit-msg", "generate")
# API-key variables of providers, and the only hosts a repository-configured chain link may
# send each one to (docs/configuration.md, "Key withholding").
PROVIDER_KEY_HOSTS: dict[str, tuple[str, ...]] = {
    "OPENAI_API_KEY": ("api.openai.com",),
    "AZURE_OPENAI_API_KEY": (".openai.azure.com",),
    "ANTHROPIC_API_KEY": ("api.anthropic.com",),
    "GEMINI_API_KEY": ("generativelanguage.googleapis.com",),
    "GOOGLE_API_KEY": ("generativelanguage.googleapis.com",),
    "OPENROUTER_API_KEY": ("openrouter.ai",),
    "GROQ_API_KEY": ("api.groq.com",),
}
# Placeholder sent as the API key to a local server configured by base URL alone: the SDK
# insists on a key and servers such as Ollama or llama.cpp ignore it.
NO_KEY = "no-key-configured"


@dataclass(frozen=True)
class ModelLink:
    """One link of the model chain (``models = [...]``): a model at one endpoint.

    ``api_key`` is resolved by ``load_settings`` from ``api_key_env`` (or ``OPENAI_API_KEY``)
    under the key-withholding rule; ``from_repository`` says the link was configured by a file
    the repository controls.
    """

    model: str
    base_url: str | None = None
    api_key_env: str | None = None
    json_mode: bool | None = None  # None: the run's `json-mode`
    context_window: int = 0  # tokens; 0 = unknown
    prices: tuple[float, float] | None = None  # USD per million (prompt, completion) tokens
    name: str = ""
    api_key: str | None = field(default=None, repr=False, compare=False)
    key_withheld: bool = False
    from_repository: bool = False

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def configured(self) -> bool:
        return bool(self.api_key or self.base_url)


@dataclass(frozen=True)
class Settings:
    """Every knob of a run, merged from defaults, config files, the environment and flags."""
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)  # never printed
    format: str = "text"
    output: str | None = None
    fail_on: str = "error"
    concurrency: int = 4
    cache: bool = True
    cache_path: str | None = None
    offline: bool = False
    dry_run: bool = False
    strict: bool = False
    quiet: bool = False
    verbose: bool = False
    # What to review.
    include: tuple[str, ...] = ()  # globs; empty means everything not excluded
    # globs, after the built-in lock/generated/vendored skips; "!glob" takes paths back in
    exclude: tuple[str, ...] = ()
    context_lines: int = 0  # extra lines from the staged file around each hunk (git has 3)
    max_hunk_lines: int = 200  # larger hunks are split into parts
    batch_tokens: int = 2500  # small hunks of one file share a request up to this estimate
    max_file_bytes: int = 1_000_000  # an added file larger than this is a built-in finding
    builtin_checks: bool = True
    # "-name" turns that check off (a built-in one or an installed plugin's), e.g. "-large-file"
    checks: tuple[str, ...] = ()
    redact: bool = True
    # Whole files (the hook under `pre-commit run --all-files` / `--files`, nothing staged)
    # go to the model too, not only to the built-in checks: every file is a request.
    review_all_files: bool = False
    # The model and the network.
    json_mode: bool = True  # send response_format=json_object; off for servers that reject it
    temperature: float = 0.0
    max_tokens: int = 2048
    timeout: float = 60.0  # seconds per request
    max_attempts: int = 4  # per request, first try included
    deadline: float = 300.0  # seconds for all model work in one run
    backoff_base: float = 1.0  # first retry wait in seconds (tests make it small)
    backoff_max: float = 30.0
    # Cost estimate for the PR summary: USD per million tokens, keyed by model name.
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    # The model chain (docs/configuration.md "Model chain"); empty: a chain of one, `model`.
    models: tuple[ModelLink, ...] = ()
    task_models: Mapping[str, str] = field(default_factory=dict)  # task -> model or link name
    strong_model: str | None = None  # review requests of sensitive or large hunks go there
    strong_paths: tuple[str, ...] = DEFAULT_STRONG_PATHS
    strong_lines: int = 100  # hunks with more changed lines than this are "large"
    # Run budgets, checked on estimates before anything is sent; 0 = no limit.
    max_run_tokens: int = 0
    max_run_cost: float = 0.0
    max_requests: int = 0
    # Names of the settings the user set (any layer): `batch-tokens` follows the chain's
    # context window only when it is not among them.
    explicit: tuple[str, ...] = ()
    # Commit messages (``commit-msg``) and the prose of ``describe``.
    commit_style: str = "plain"  # or "conventional": "type(scope): subject"
    language: str = "English"  # the language the model writes in
    # Which findings are reported (docs/teaching.md).
    min_severity: str = "info"  # findings below it are not reported at all
    min_confidence: float = 0.0  # a finding without a confidence counts as 1.0
    max_findings: int = 0  # per run, most severe and most confident first; 0: no limit
    # Project guidance besides the repository's instruction files.
    instructions: str = ""
    path_instructions: Mapping[str, str] = field(default_factory=dict)  # glob -> text
    verify: bool = False  # ask verify-model to keep or drop each model finding
    verify_model: str = ""  # empty: the review model
    # Keep each review request's (redacted) messages in the cache, for `finetune export`.
    keep_requests: bool = True
    # True when OPENAI_API_KEY from the environment was not used because the base URL came
    # from a file in the repository (see ``load_settings``); explains a 401 to the user.
    key_withheld: bool = False

    @property
    def model_configured(self) -> bool:
        """True when an API key or a base URL is set; otherwise only built-in checks run."""
        if self.models:
            return any(link.configured for link in self.models)
        return bool(self.api_key or self.base_url)

    def chain(self) -> tuple[ModelLink, ...]:
        """The links to try, in order: ``models`` (those with a key or a base URL), or a chain
        of one made of ``model``, ``base-url`` and the API key."""
        if self.models:
            usable = tuple(link for link in self.models if link.configured)
            return usable or self.models[:1]
        return (ModelLink(model=self.model, base_url=self.base_url, api_key=self.api_key,
                          key_withheld=self.key_withheld),)

    def for_link(self, link: ModelLink) -> Settings:
        """These settings as one link's backend sees them (its model, endpoint, key)."""
        return replace(self, model=link.model, base_url=link.base_url, api_key=link.api_key,
                       json_mode=self.json_mode if link.json_mode is None else link.json_mode,
                       key_withheld=link.key_withheld, models=())

    @property
    def effective_api_key(self) -> str:
        return self.api_key or NO_KEY


STDOUT = "-"  # an ``output`` of "-" means standard output

# Environment variables, and the setting each one feeds.
ENVIRONMENT = {
    "OPENAI_API_KEY": "api_key",
    "OPENAI_BASE_URL": "base_url",
    "AIDER_REVIEW_MODEL": "model",
    "AIDER_REVIEW_CACHE": "cache_path",
}

# Keys a config file may not set: secrets belong in the environment, not in a committed file.
_FILE_FORBIDDEN = {"api_key", "key_withheld", "explicit"}
_FIELDS = {f.name: f for f in fields(Settings)}


def load_settings(
    repo_root: Path | None,
    flags: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge every layer into one ``Settings``. ``flags`` holds only options the user gave.

    Your API key never goes to an endpoint a repository chose: when the base URL comes from
    the repository (its ``pyproject.toml``, ``.aider-review.toml``, ``.env``, or a ``--config``
    file inside the work tree) and the key from your own environment, the key is withheld
    (``key_withheld``), so running the tool in a cloned repository, or the bot on a pull
    request that edits the config, cannot send your key to their server. To use that endpoint
    with your key, set ``OPENAI_BASE_URL`` yourself or pass ``--base-url``. A key that comes
    from the repository's ``.env`` itself goes with it.
    """
    environ = dict(os.environ if environ is None else environ)
    from_repository: set[str] = set()  # environment variables that the .env file supplied
    if repo_root is not None:
        for key, value in read_dotenv(repo_root / ".env").items():
            if not environ.get(key):
                environ[key] = value
                from_repository.add(key)

    values: dict[str, Any] = {}
    url_from_repository = False
    models_from_repository = False
    for path in _config_files(repo_root, config_file):
        file_values = read_config_file(path)
        values.update(file_values)
        if "base_url" in file_values:
            url_from_repository = _inside(path, repo_root)
        if "models" in file_values:
            models_from_repository = _inside(path, repo_root)
    for var, name in ENVIRONMENT.items():
        if environ.get(var):
            values[name] = environ[var]
            if name == "base_url":
                url_from_repository = var in from_repository
    if flags and flags.get("base_url") is not None:
        url_from_repository = False
    if flags and (flags.get("model") is not None or flags.get("base_url") is not None):
        values.pop("models", None)  # --model / --base-url: a chain of one, as asked
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    if values.get("output") == STDOUT:  # `-o -`, as most tools spell standard output
        del values["output"]
    if (url_from_repository and values.get("api_key")
            and "OPENAI_API_KEY" not in from_repository):
        del values["api_key"]
        values["key_withheld"] = True
    if "models" in values:
        values["models"] = [
            _with_key(link, environ, from_repository=models_from_repository,
                      env_from_repository=from_repository)
            for link in _convert_models(values["models"], "settings")]
    values["explicit"] = tuple(sorted(name for name in values if name in _FIELDS))
    return _build(values, origin="settings")


def _with_key(link: ModelLink, environ: Mapping[str, str], *, from_repository: bool,
              env_from_repository: set[str]) -> ModelLink:
    """``link`` with its API key, under the key-withholding rule of docs/configuration.md.

    A link of your own configuration gets the variable it names (``OPENAI_API_KEY`` when it
    names none). A link that the repository configured (a pull request can edit it) gets:
    the variable it names when that variable came from the repository's own ``.env``, or when
    its endpoint is the provider that variable belongs to (``PROVIDER_KEY_HOSTS``, over
    https); ``OPENAI_API_KEY`` when it names none and has no base URL (OpenAI itself); else no
    key, so it can never aim one of your keys (nor any other secret in your environment, e.g.
    ``GITHUB_TOKEN``) at a server of its choosing.
    """
    var = link.api_key_env or DEFAULT_KEY_ENV
    value = environ.get(var) or None
    if value is None:
        return replace(link, from_repository=from_repository)
    allowed = (not from_repository or var in env_from_repository
               or (link.api_key_env is None and not link.base_url)
               or _provider_endpoint(var, link.base_url))
    if allowed:
        return replace(link, api_key=value, from_repository=from_repository)
    return replace(link, key_withheld=True, from_repository=from_repository)


def _provider_endpoint(var: str, base_url: str | None) -> bool:
    """Whether ``base_url`` is the https endpoint of the provider that issues ``var``."""
    hosts = PROVIDER_KEY_HOSTS.get(var)
    if not hosts:
        return False
    if not base_url:
        return var == DEFAULT_KEY_ENV
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if parts.scheme != "https" or parts.username or parts.password:
        return False
    return any(host == h.lstrip(".") or (h.startswith(".") and host.endswith(h))
               for h in hosts)


def _inside(path: Path, repo_root: Path | None) -> bool:
    """Whether ``path`` is repository content (which a pull request or a clone can change)."""
    if repo_root is None:
        return False
    try:
        path.resolve().relative_to(repo_root.resolve())
    except (OSError, ValueError):
        return False
    return True


def _config_files(repo_root: Path | None, explicit: Path | None) -> list[Path]:
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return [explicit]
    if repo_root is None:
        return []
    return [p for p in (repo_root / "pyproject.toml", repo_root / ".aider-review.toml") if p.is_file()]


def read_config_file(path: Path) -> dict[str, Any]:
    """The aider-review table of a TOML file, keys normalized to field names and type-checked."""
    import tomllib  # only when a config file exists: it is not free to import

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: cannot read TOML: {err}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: [tool] must be a table")
    # [tool.aider_review] is the spelling Python users type by habit; take it rather than
    # silently ignore every setting in it.
    ours = next((name for name in ("aider-review", "aider_review") if name in tool), None)
    if ours is not None:
        table = tool[ours]
    else:
        table = {} if path.name == "pyproject.toml" else data
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.aider-review] must be a table")
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        name = raw_key.replace("-", "_")
        if name not in _FIELDS or name in _FILE_FORBIDDEN:
            hint = " (put secrets in the environment)" if name in _FILE_FORBIDDEN else _closest_key(name)
            raise ConfigError(f"{path}: unknown key {raw_key!r} in [tool.aider-review]{hint}")
        values[name] = value
    _build(values, origin=str(path))  # type-check now, so the error names this file
    for name in ("cache_path", "output"):  # relative to the file, not to where git ran
        value = values.get(name)
        if isinstance(value, str) and value != STDOUT and not Path(value).expanduser().is_absolute():
            values[name] = str(path.parent / value)
    return values


def _closest_key(name: str) -> str:
    """"; did you mean 'exclude'?" for a misspelt key, else nothing."""
    import difflib

    known = [key for key in _FIELDS if key not in _FILE_FORBIDDEN]
    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {match[0].replace('_', '-')!r}?" if match else ""


def read_dotenv(path: Path) -> dict[str, str]:
    """``KEY=value`` pairs of a ``.env`` file. The file may belong to another tool and be in
    any encoding (UTF-16 from PowerShell, latin-1): it is decoded leniently, never an error."""
    if not path.is_file():
        return {}
    import io

    from dotenv import dotenv_values  # lazily: importing python-dotenv costs ~40 ms

    try:
        data = path.read_bytes()
    except OSError:
        return {}
    values = dotenv_values(stream=io.StringIO(_decode_leniently(data)))
    return {k: v for k, v in values.items() if v is not None}


def _decode_leniently(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _build(values: Mapping[str, Any], *, origin: str) -> Settings:
    converted = {name: _convert(name, value, origin) for name, value in values.items()}
    settings = replace(Settings(), **converted)
    _validate(settings, origin)
    return settings


def _convert(name: str, value: Any, origin: str) -> Any:
    default = getattr(Settings(), name)
    kind = type(default)
    if name in ("base_url", "api_key", "output", "cache_path", "strong_model"):
        kind = str
    if name == "prices":
        return _convert_prices(value, origin)
    if name == "models":
        return tuple(_convert_models(value, origin))
    if name == "task_models":
        return _convert_task_models(value, origin)
    if name == "explicit":
        return tuple(value)
    if name == "path_instructions":
        return _convert_path_instructions(value, origin)
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise ValueError
        if kind is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if kind is int:
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind is str:
            if not isinstance(value, str):
                raise ValueError
            return value
    except (TypeError, ValueError):
        pass
    expected = {bool: "true or false", tuple: "a list of strings", int: "an integer",
                float: "a number", str: "a string"}.get(kind, kind.__name__)
    raise ConfigError(f"{origin}: {name.replace('_', '-')} must be {expected}, got {value!r}")


def _convert_prices(value: Any, origin: str) -> dict[str, tuple[float, float]]:
    """``prices = {"gpt-4o-mini" = [0.15, 0.60]}``: USD per million prompt, completion tokens."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{origin}: prices must be a table of model = [input, output]")
    prices: dict[str, tuple[float, float]] = {}
    for model, pair in value.items():
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in pair)):
            raise ConfigError(f"{origin}: prices.{model} must be [input, output] USD per 1M tokens")
        prices[str(model)] = (float(pair[0]), float(pair[1]))
    return prices


_LINK_KEYS = {"model", "base_url", "api_key_env", "json_mode", "context_window", "prices",
              "name"}


def _convert_models(value: Any, origin: str) -> list[ModelLink]:
    """``models = [{model = "...", base-url = "...", ...}, ...]``; links already built pass."""
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{origin}: models must be a list of tables "
                          '(e.g. [{ model = "gpt-4o-mini" }])')
    links: list[ModelLink] = []
    for number, item in enumerate(value, 1):
        if isinstance(item, ModelLink):
            links.append(item)
            continue
        where = f"{origin}: models[{number}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a table such as {{ model = \"gpt-4o-mini\" }}")
        entry = {str(k).replace("-", "_"): v for k, v in item.items()}
        unknown = sorted(set(entry) - _LINK_KEYS)
        if unknown:
            hint = (" (put secrets in the environment and name the variable with api-key-env)"
                    if any("key" in k and k != "api_key_env" for k in unknown) else "")
            raise ConfigError(f"{where}: unknown key {unknown[0].replace('_', '-')!r}{hint}")
        model = entry.get("model")
        if not isinstance(model, str) or not model.strip():
            raise ConfigError(f"{where}: model must be a non-empty string")
        for key in ("base_url", "api_key_env", "name"):
            if key in entry and not isinstance(entry[key], str):
                raise ConfigError(f"{where}: {key.replace('_', '-')} must be a string")
        if "json_mode" in entry and not isinstance(entry["json_mode"], bool):
            raise ConfigError(f"{where}: json-mode must be true or false")
        window = entry.get("context_window", 0)
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ConfigError(f"{where}: context-window must be a whole number of tokens")
        prices = entry.get("prices")
        if prices is not None:
            if isinstance(prices, Mapping):
                prices = [prices.get("input"), prices.get("output")]
            if (not isinstance(prices, (list, tuple)) or len(prices) != 2 or not all(
                    isinstance(p, (int, float)) and not isinstance(p, bool) for p in prices)):
                raise ConfigError(f"{where}: prices must be [input, output] USD per 1M tokens")
            prices = (float(prices[0]), float(prices[1]))
        links.append(ModelLink(model=model, base_url=entry.get("base_url") or None,
                               api_key_env=entry.get("api_key_env") or None,
                               json_mode=entry.get("json_mode"), context_window=window,
                               prices=prices, name=entry.get("name", "")))
    labels = [link.label for link in links]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{origin}: two links of models share a name; give one a `name`")
    return links


def _convert_task_models(value: Any, origin: str) -> dict[str, str]:
    """``task-models = { explain = "gpt-4o-mini" }``: task name -> model or link name."""
    if not isinstance(value, Mapping) or not all(isinstance(v, str) and v.strip()
                                                 for v in value.values()):
        raise ConfigError(f"{origin}: task-models must be a table of task = \"model\"")
    unknown = sorted(set(value) - set(TASK_NAMES))
    if unknown:
        raise ConfigError(f"{origin}: task-models: unknown task {unknown[0]!r}; use one of "
                          f"{', '.join(TASK_NAMES)}")
    return {str(k): str(v) for k, v in value.items()}


def _convert_path_instructions(value: Any, origin: str) -> dict[str, str]:
    """``path-instructions = {"**/*.sql" = "..."}``: glob(s) -> guidance for those files."""
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"{origin}: path-instructions must be a table of \"glob\" = \"text\"")
    return {str(k): str(v) for k, v in value.items()}


def _validate(settings: Settings, origin: str) -> None:
    if settings.format != "text":
        from aider_hooks.reporters import format_names, is_format  # built-in or a plugin's

        if not is_format(settings.format):
            raise ConfigError(f"{origin}: format must be one of {', '.join(format_names())}")
    checks = [
        (settings.fail_on in FAIL_ON, f"fail-on must be one of {', '.join(FAIL_ON)}"),
        (1 <= settings.concurrency <= 64, "concurrency must be between 1 and 64"),
        (settings.max_attempts >= 1, "max-attempts must be at least 1"),
        (settings.timeout > 0, "timeout must be positive"),
        (settings.deadline > 0, "deadline must be positive"),
        (settings.max_hunk_lines >= 10, "max-hunk-lines must be at least 10"),
        (settings.context_lines >= 0, "context-lines must not be negative"),
        (settings.batch_tokens >= 100, "batch-tokens must be at least 100"),
        (settings.max_file_bytes >= 0, "max-file-bytes must not be negative (0 turns the "
                                       "check off)"),
        (settings.max_tokens >= 1, "max-tokens must be at least 1"),
        (settings.temperature >= 0, "temperature must not be negative"),
        (settings.backoff_base >= 0, "backoff-base must not be negative"),
        (settings.backoff_max >= 0, "backoff-max must not be negative"),
        (bool(settings.model.strip()), "model must not be empty"),
        (all(c.startswith("-") and c[1:].strip() for c in settings.checks),
         "checks entries turn a check off by name: write them \"-name\", e.g. \"-large-file\""),
        (settings.strong_lines >= 1, "strong-lines must be at least 1"),
        (settings.max_run_tokens >= 0, "max-run-tokens must not be negative"),
        (settings.max_run_cost >= 0, "max-run-cost must not be negative"),
        (settings.max_requests >= 0, "max-requests must not be negative"),
        (settings.commit_style in COMMIT_STYLES,
         f"commit-style must be one of {', '.join(COMMIT_STYLES)}"),
        (bool(settings.language.strip()) and "\n" not in settings.language
         and len(settings.language) <= 40, "language must be a name such as \"English\""),
        (settings.min_severity in SEVERITY_LEVELS,
         f"min-severity must be one of {', '.join(SEVERITY_LEVELS)}"),
        (0.0 <= settings.min_confidence <= 1.0, "min-confidence must be between 0 and 1"),
        (settings.max_findings >= 0, "max-findings must not be negative (0: no limit)"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{origin}: {message}")
    if settings.base_url is not None and not _is_http_url(settings.base_url):
        # Said now, in one line, rather than as a failure of every hunk.
        where = "" if origin == "settings" else f"{origin}: "
        raise ConfigError(f"{where}the model base URL {_shown_url(settings.base_url)} is not an "
                          "http(s) URL: set --base-url / OPENAI_BASE_URL / base-url to one such "
                          "as http://localhost:11434/v1")


def _is_http_url(url: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. a bad port or IPv6 literal
        return False


def _shown_url(url: str) -> str:
    """The URL without a user:password part or a query, which could hold a secret."""
    return repr(url.split("?")[0].split("@")[-1][:80])
