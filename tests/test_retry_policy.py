"""The one table of model errors: complete, retrying the right things, telling what to do."""
from __future__ import annotations

import email.utils
import inspect
import time
from typing import Any

import httpx2
import openai
import openai._exceptions
import pytest

from aider_hooks.model import retry as retry_policy
from aider_hooks.errors import ModelAuthError, ModelError, ModelRequestError, ModelUnavailable
from aider_hooks.model.retry import (
    RETRY_AFTER_LIMIT,
    RULES,
    DeadlineExceeded,
    MalformedResponse,
    StreamIncomplete,
    endpoint_label,
    is_retryable,
    retry_after_seconds,
    rule_key,
    should_stop,
    to_model_error,
    wait_seconds,
)
from aider_hooks.settings import Settings

KEY = "sk-proj-VerySecretKeyValue0123456789abcdef"
SETTINGS = Settings(base_url="http://user:pw@localhost:8080/v1?api-key=zzz", api_key=KEY,
                    backoff_base=1.0, backoff_max=8.0, max_attempts=4)
REQUEST = httpx2.Request("POST", "http://localhost:8080/v1/chat/completions")


def status_error(status: int, *, message: str = "boom", code: str | None = None,
                 headers: dict[str, str] | None = None) -> openai.APIStatusError:
    """The exception the real SDK raises for this answer: its own status-to-class mapping."""
    response = httpx2.Response(status, headers=headers or {}, request=REQUEST,
                               json={"error": {"message": message, "code": code}})
    client = openai.OpenAI(api_key="x", base_url="http://localhost:8080/v1")
    return client._make_status_error_from_response(response)


def connection_error(cause: Exception, cls: type[openai.APIConnectionError] = openai.APIConnectionError
                     ) -> openai.APIConnectionError:
    error = cls(request=REQUEST)
    error.__cause__ = cause
    return error


def exported_sdk_errors() -> set[type[BaseException]]:
    """Every exception class the openai package exports (public names and its _exceptions)."""
    candidates = [getattr(openai, name) for name in dir(openai) if not name.startswith("_")]
    candidates += [getattr(openai._exceptions, name) for name in dir(openai._exceptions)]
    return {c for c in candidates if inspect.isclass(c) and issubclass(c, openai.OpenAIError)}


def test_every_exported_sdk_error_class_is_in_the_table() -> None:
    missing = sorted(cls.__name__ for cls in exported_sdk_errors() if cls.__name__ not in RULES)
    assert missing == [], f"add these openai exception classes to retry_policy.RULES: {missing}"


def test_every_message_template_formats() -> None:
    for key, rule in RULES.items():
        text = rule.message.format(status=500, detail="d", endpoint="e", model="'m'", timeout=1.0,
                                   deadline=2.0, max_tokens=3)
        assert text and "\n" not in text, key
        assert issubclass(rule.error, ModelError)


@pytest.mark.parametrize("error, retry, model_error", [
    (status_error(429), True, ModelUnavailable),
    (status_error(500), True, ModelUnavailable),
    (status_error(503), True, ModelUnavailable),
    (status_error(408), True, ModelUnavailable),  # plain APIStatusError
    (status_error(409), True, ModelRequestError),
    (status_error(400), False, ModelRequestError),
    (status_error(401), False, ModelAuthError),
    (status_error(403), False, ModelAuthError),
    (status_error(404), False, ModelUnavailable),  # no such model or path: nothing works
    (status_error(422), False, ModelRequestError),
    (status_error(418), False, ModelRequestError),  # plain APIStatusError
    (status_error(429, code="insufficient_quota"), False, ModelUnavailable),
    (status_error(400, code="context_length_exceeded"), False, ModelRequestError),
    (connection_error(httpx2.ConnectError("refused")), True, ModelUnavailable),
    (connection_error(httpx2.ReadError("reset")), True, ModelUnavailable),
    (connection_error(httpx2.UnsupportedProtocol("no scheme")), False, ModelUnavailable),
    (openai.APITimeoutError(request=REQUEST), True, ModelUnavailable),
    (MalformedResponse("html"), True, ModelUnavailable),  # a proxy's page, retries exhausted
    (StreamIncomplete(), True, ModelRequestError),
    (DeadlineExceeded(), False, ModelUnavailable),
    (RuntimeError("surprise"), False, ModelRequestError),
])
def test_retry_decision_and_error_class(error: Exception, retry: bool,
                                        model_error: type[ModelError]) -> None:
    assert is_retryable(error) is retry
    assert type(to_model_error(error, SETTINGS)) is model_error


def test_refinements_pick_specific_rules() -> None:
    assert rule_key(status_error(429, code="insufficient_quota")) == "RateLimitError:quota"
    assert rule_key(status_error(503)) == "InternalServerError"
    assert rule_key(status_error(504, message="x")) == "InternalServerError"
    assert rule_key(connection_error(httpx2.ConnectError("x"))) == "APIConnectionError:connect"
    assert rule_key(connection_error(httpx2.ConnectTimeout("x"), openai.APITimeoutError)) == "APITimeoutError:connect"
    assert rule_key(status_error(400, message="This model's maximum context length is 8192 tokens")) \
        == "BadRequestError:context_length"


def test_401_message_says_what_to_do_and_hides_the_key() -> None:
    error = status_error(401, message=f"Incorrect API key provided: {KEY}.")
    message = str(to_model_error(error, SETTINGS))

    assert message == "the model endpoint refused the API key (401); check OPENAI_API_KEY"


def test_sdk_text_with_keys_is_masked_in_every_message() -> None:
    other_token = "sk-" + "A1b2C3d4" * 4
    for status in (400, 403, 404, 429, 500, 418):
        error = status_error(status, message=f"bad key {KEY} and {other_token}")
        message = str(to_model_error(error, SETTINGS))
        assert KEY not in message and other_token not in message, status
        assert "bad key" in message


def test_messages_name_the_endpoint_without_credentials() -> None:
    message = str(to_model_error(connection_error(httpx2.ConnectError("refused")), SETTINGS))

    assert "http://localhost:8080/v1" in message
    assert "pw" not in message and "zzz" not in message
    assert "OPENAI_BASE_URL" in message
    assert endpoint_label(None) == "https://api.openai.com/v1"


def test_messages_say_what_to_do() -> None:
    assert "--concurrency" in str(to_model_error(status_error(429), SETTINGS))
    assert "billing" in str(to_model_error(status_error(429, code="insufficient_quota"), SETTINGS))
    assert "batch-tokens" in str(to_model_error(status_error(400, code="context_length_exceeded"), SETTINGS))
    assert "--model" in str(to_model_error(status_error(404), SETTINGS))
    assert "timeout" in str(to_model_error(openai.APITimeoutError(request=REQUEST), SETTINGS))
    assert "deadline" in str(to_model_error(DeadlineExceeded(), SETTINGS))


def test_retry_after_headers() -> None:
    def after(headers: dict[str, str]) -> float | None:
        return retry_after_seconds(status_error(429, headers=headers), now=1_000_000.0)

    assert after({"retry-after-ms": "250"}) == 0.25
    assert after({"retry-after": "3"}) == 3.0
    assert after({"retry-after": "1.5", "retry-after-ms": "20"}) == 0.02  # ms wins
    assert after({"retry-after": email.utils.formatdate(1_000_042.0, usegmt=True)}) == 42.0
    assert after({"retry-after": email.utils.formatdate(999_000.0, usegmt=True)}) == 0.0  # past
    assert after({"retry-after": "soon"}) is None
    assert after({}) is None
    assert retry_after_seconds(RuntimeError("no response")) is None


def test_wait_honours_retry_after_instead_of_backoff() -> None:
    error = status_error(429, headers={"retry-after": "0.5"})
    for attempt in (1, 3):
        assert 0.5 <= wait_seconds(error, attempt, SETTINGS) <= 0.55


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    error = status_error(503)
    first = [wait_seconds(error, 1, SETTINGS) for _ in range(50)]
    third = [wait_seconds(error, 3, SETTINGS) for _ in range(50)]
    tenth = [wait_seconds(error, 10, SETTINGS) for _ in range(50)]

    assert all(0.5 <= w <= 1.0 for w in first) and len(set(first)) > 1
    assert all(2.0 <= w <= 4.0 for w in third)
    assert all(4.0 <= w <= 8.0 for w in tenth)  # backoff_max


def test_connection_refused_gets_two_quick_attempts() -> None:
    error = connection_error(httpx2.ConnectError("refused"))

    assert wait_seconds(error, 1, SETTINGS) <= 0.25
    assert not should_stop(error, 1, 0.25, SETTINGS, remaining=100)
    assert should_stop(error, 2, 0.25, SETTINGS, remaining=100)


def test_stop_rules() -> None:
    error = status_error(503)
    assert not should_stop(error, 3, 1.0, SETTINGS, remaining=100)
    assert should_stop(error, 4, 1.0, SETTINGS, remaining=100)  # max_attempts
    assert should_stop(error, 1, 5.0, SETTINGS, remaining=4.0)  # would sleep past the deadline
    assert should_stop(error, 1, RETRY_AFTER_LIMIT + 1, SETTINGS, remaining=1000)


def test_tenacity_retrying_follows_the_table() -> None:
    settings = Settings(backoff_base=0.001, backoff_max=0.002, max_attempts=3)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise status_error(503)
        return "ok"

    assert retry_policy.build_retrying(settings, lambda: 100.0)(flaky) == "ok"

    def refused() -> str:
        calls.append(1)
        raise status_error(401)

    calls.clear()
    with pytest.raises(openai.AuthenticationError):
        retry_policy.build_retrying(settings, lambda: 100.0)(refused)
    assert len(calls) == 1


def test_deadline_stops_retrying_before_the_sleep() -> None:
    settings = Settings(backoff_base=5.0, backoff_max=5.0, max_attempts=5)
    calls: list[float] = []

    def failing() -> Any:
        calls.append(time.monotonic())
        raise status_error(503)

    start = time.monotonic()
    with pytest.raises(openai.InternalServerError):
        retry_policy.build_retrying(settings, lambda: 1.0)(failing)
    assert len(calls) == 1 and time.monotonic() - start < 1.0
