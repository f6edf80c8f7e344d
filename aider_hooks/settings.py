"""Settings: flags > environment > ``[tool.aider-review]`` / ``.aider-review.toml`` > defaults.

A ``.env`` file at the repository root is read too, below the real environment (a variable
already set in the environment wins). Keys in files may be written ``fail-on`` or ``fail_on``.
An unknown key or a value of the wrong type is a ``ConfigError`` (exit 2) naming the file.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from aider_hooks.errors import ConfigError

FORMATS = ("text", "json", "sarif", "github", "markdown")
FAIL_ON = ("error", "warning", "info", "never")
DEFAULT_MODEL = "gpt-4o-mini"
# Placeholder sent as the API key to a local server configured by base URL alone: the SDK
# insists on a key and servers such as Ollama or llama.cpp ignore it.
NO_KEY = "no-key-configured"


@dataclass(frozen=True)
class Settings:
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
    context_lines: int = 3  # extra lines from the staged file around each hunk
    max_hunk_lines: int = 200  # larger hunks are split into parts
    batch_tokens: int = 2500  # small hunks of one file share a request up to this estimate
    max_file_bytes: int = 1_000_000  # an added file larger than this is a built-in finding
    builtin_checks: bool = True
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
    # True when OPENAI_API_KEY from the environment was not used because the base URL came
    # from a file in the repository (see ``load_settings``); explains a 401 to the user.
    key_withheld: bool = False

    @property
    def model_configured(self) -> bool:
        """True when an API key or a base URL is set; otherwise only built-in checks run."""
        return bool(self.api_key or self.base_url)

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
_FILE_FORBIDDEN = {"api_key", "key_withheld"}
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
    for path in _config_files(repo_root, config_file):
        file_values = read_config_file(path)
        values.update(file_values)
        if "base_url" in file_values:
            url_from_repository = _inside(path, repo_root)
    for var, name in ENVIRONMENT.items():
        if environ.get(var):
            values[name] = environ[var]
            if name == "base_url":
                url_from_repository = var in from_repository
    if flags and flags.get("base_url") is not None:
        url_from_repository = False
    values.update({k: v for k, v in (flags or {}).items() if v is not None})
    if values.get("output") == STDOUT:  # `-o -`, as most tools spell standard output
        del values["output"]
    if (url_from_repository and values.get("api_key")
            and "OPENAI_API_KEY" not in from_repository):
        del values["api_key"]
        values["key_withheld"] = True
    return _build(values, origin="settings")


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
    if name in ("base_url", "api_key", "output", "cache_path"):
        kind = str
    if name == "prices":
        return _convert_prices(value, origin)
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


def _validate(settings: Settings, origin: str) -> None:
    checks = [
        (settings.format in FORMATS, f"format must be one of {', '.join(FORMATS)}"),
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
