"""Settings: flags > environment > config files > defaults, and one-line errors for bad values."""
from __future__ import annotations

from pathlib import Path

import pytest

from aider_hooks.errors import ConfigError
from aider_hooks.settings import DEFAULT_MODEL, NO_KEY, Settings, load_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_any_configuration(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {}, environ={})
    assert settings == Settings()
    assert settings.model == DEFAULT_MODEL and settings.fail_on == "error"
    assert not settings.model_configured  # built-in checks only


def test_precedence_flags_over_environment_over_files(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.aider-review]\nmodel = "from-pyproject"\n'
                                       'concurrency = 2\nfail-on = "warning"\n')
    write(tmp_path / ".aider-review.toml", 'concurrency = 3\n')
    environ = {"AIDER_REVIEW_MODEL": "from-env"}
    settings = load_settings(tmp_path, {"fail_on": "info", "model": None}, environ=environ)
    assert settings.model == "from-env"  # env beats files; an unset flag (None) falls through
    assert settings.concurrency == 3  # .aider-review.toml beats pyproject.toml
    assert settings.fail_on == "info"  # the flag beats everything
    assert load_settings(tmp_path, {"model": "from-flag"}, environ=environ).model == "from-flag"


def test_dotenv_is_read_below_the_real_environment(tmp_path: Path) -> None:
    write(tmp_path / ".env", "OPENAI_BASE_URL=http://127.0.0.1:9/v1\nAIDER_REVIEW_MODEL=dotenv\n")
    settings = load_settings(tmp_path, {}, environ={"AIDER_REVIEW_MODEL": "real-env"})
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.model == "real-env"
    assert settings.model_configured and settings.effective_api_key == NO_KEY


def test_the_api_key_is_never_in_the_repr(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, {}, environ={"OPENAI_API_KEY": "sk-secret-value-123"})
    assert settings.api_key == "sk-secret-value-123"
    assert "sk-secret-value-123" not in repr(settings)


def test_kebab_and_snake_keys_and_lists(tmp_path: Path) -> None:
    write(tmp_path / ".aider-review.toml",
          '[tool.aider-review]\nmax_hunk_lines = 50\njson-mode = false\nexclude = ["docs/**"]\n'
          'prices = { "m" = [0.1, 0.2] }\n')
    settings = load_settings(tmp_path, {}, environ={})
    assert settings.max_hunk_lines == 50 and settings.json_mode is False
    assert settings.exclude == ("docs/**",)
    assert settings.prices == {"m": (0.1, 0.2)}


@pytest.mark.parametrize(("text", "needle"), [
    ('concurrency = "many"', "concurrency must be an integer"),
    ("no-such-key = 1", "unknown key 'no-such-key'"),
    ('api-key = "sk-x"', "put secrets in the environment"),
    ('fail-on = "sometimes"', "fail-on must be one of"),
    ("concurrency = 0", "concurrency must be between"),
    ("timeout = true", "timeout must be a number"),
    ('exclude = "a,b"\nstrict = "perhaps"', "strict must be true or false"),
    ('prices = { "m" = [1] }', "prices.m must be"),
    ("this is not toml", "cannot read TOML"),
])
def test_bad_config_is_a_one_line_error_naming_the_file(
        tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path / "pyproject.toml", f"[tool.aider-review]\n{text}\n"
                 if "not toml" not in text else text)
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, {}, environ={})
    message = str(caught.value)
    assert needle in message and str(path) in message
    assert "\n" not in message


def test_bad_values_from_flags_and_environment_are_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="format must be one of"):
        load_settings(tmp_path, {"format": "xml"}, environ={})
    with pytest.raises(ConfigError, match="model must not be empty"):
        load_settings(tmp_path, {"model": "  "}, environ={})


def test_explicit_config_file_replaces_the_repository_files(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.aider-review]\nmodel = "repo"\n')
    other = write(tmp_path / "ci.toml", '[tool.aider-review]\nmodel = "ci"\n')
    assert load_settings(tmp_path, {}, config_file=other, environ={}).model == "ci"
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path, {}, config_file=tmp_path / "missing.toml", environ={})


def test_pyproject_without_our_table_is_fine(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[project]\nname = "x"\n[tool.black]\nline-length = 99\n')
    assert load_settings(tmp_path, {}, environ={}) == Settings()


KEY = {"OPENAI_API_KEY": "sk-user-own-key-123"}


@pytest.mark.parametrize(("where", "flags", "env", "sent"), [
    ("toml", {}, KEY, False),  # a cloned repository cannot aim your key at its server
    ("pyproject", {}, KEY, False),
    ("dotenv", {}, KEY, False),
    ("toml", {}, {**KEY, "OPENAI_BASE_URL": "http://mine.example/v1"}, True),  # yours wins
    ("toml", {"base_url": "http://flag.example/v1"}, KEY, True),
    ("explicit-config-outside", {}, KEY, True),  # --config FILE of your own
    ("explicit-config-inside", {}, KEY, False),  # ...but inside the work tree: repo content
    ("nowhere", {}, KEY, True),  # api.openai.com
])
def test_your_key_goes_only_to_an_endpoint_you_chose(
        tmp_path: Path, where: str, flags: dict[str, str], env: dict[str, str], sent: bool) -> None:
    table = '[tool.aider-review]\nbase-url = "http://repo.example/v1"\n'
    config_file = None
    repo = tmp_path / "repo"
    repo.mkdir()
    if where == "toml":
        (repo / ".aider-review.toml").write_text(table)
    elif where == "pyproject":
        (repo / "pyproject.toml").write_text(table)
    elif where == "dotenv":
        (repo / ".env").write_text("OPENAI_BASE_URL=http://repo.example/v1\n")
    elif where.startswith("explicit-config"):
        config_file = (repo if where.endswith("inside") else tmp_path) / "ci.toml"
        config_file.write_text(table)
    settings = load_settings(repo, flags, config_file=config_file, environ=env)
    assert (settings.api_key == "sk-user-own-key-123") is sent
    assert settings.key_withheld is not sent
    assert settings.model_configured


def test_a_key_in_the_repositorys_own_env_file_goes_with_its_base_url(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("OPENAI_BASE_URL=http://local:8000/v1\nOPENAI_API_KEY=sk-local-1\n")
    settings = load_settings(tmp_path, {}, environ={})
    assert settings.api_key == "sk-local-1" and not settings.key_withheld


def test_the_underscore_table_name_is_read_and_a_tool_array_is_a_config_error(
        tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aider_review]\nfail_on = "never"\n')
    assert load_settings(tmp_path, {}, environ={}).fail_on == "never"
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / ".aider-review.toml").write_text("[[tool]]\nname = 1\n")
    with pytest.raises(ConfigError, match=r"\[tool\] must be a table"):
        load_settings(tmp_path, {}, environ={})


def test_output_dash_is_standard_output_from_a_flag_or_a_config_file(tmp_path: Path) -> None:
    assert load_settings(tmp_path, {"output": "-"}, environ={}).output is None
    (tmp_path / ".aider-review.toml").write_text('[tool.aider-review]\noutput = "-"\n')
    assert load_settings(tmp_path, {}, environ={}).output is None
    (tmp_path / ".aider-review.toml").write_text('[tool.aider-review]\noutput = "r.txt"\n')
    assert load_settings(tmp_path, {}, environ={}).output == str(tmp_path / "r.txt")
