"""What to do about each failure of a model request: retry or not, and what to tell the user.

``RULES`` is the one table. Its keys are exception class names (so this module does not import
openai, which costs 0.2-0.5 s), refined for a few classes by ``rule_key`` ("RateLimitError:quota"
is a 429 that waiting will not fix). ``tests/test_retry_policy.py`` fails when the installed
openai SDK exports an exception class the table does not list, so an SDK upgrade that adds one
is noticed. The tenacity retry predicate, wait and stop are built from the table.

Waits: exponential backoff with jitter (``settings.backoff_base`` doubling up to
``settings.backoff_max``), except that a ``retry-after-ms`` or ``Retry-After`` header (seconds
or an HTTP date) is honoured as given. No retry sleeps past the run's deadline or longer than
``RETRY_AFTER_LIMIT``: when the server asks for more patience than that, we stop instead.

Messages say what to do and never hold a credential: the SDK's text can echo an API key, so
everything passes through ``masking.mask_secrets`` with the configured key.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aider_hooks.errors import ModelAuthError, ModelError, ModelRequestError, ModelUnavailable
from aider_hooks.masking import mask_secrets

if TYPE_CHECKING:
    import tenacity

    from aider_hooks.settings import Settings

# Longest single wait we accept from a Retry-After header; a server asking for more is not
# coming back within a review run, so we give up rather than hold a commit hostage.
RETRY_AFTER_LIMIT = 60.0
# Connection refused / DNS failure: one quick second try (a server restarting), no more.
CONNECT_ATTEMPTS = 2
CONNECT_RETRY_WAIT = 0.25
DEFAULT_ENDPOINT = "https://api.openai.com/v1"
_MAX_DETAIL = 200


class MalformedResponse(Exception):
    """The endpoint answered 200 with something that is not a chat completion."""


class StreamIncomplete(Exception):
    """The answer stream ended before its end, and no text had been shown yet."""


class StreamBrokeOff(Exception):
    """The answer stream failed after text had been shown: retrying would repeat that text."""


class DeadlineExceeded(Exception):
    """The run's time budget for model work is used up."""


@dataclass(frozen=True)
class ErrorRule:
    """How one kind of SDK error is treated: retried or not, and the message it becomes."""
    retry: bool
    error: type[ModelError]
    # Placeholders: {status} {detail} {endpoint} {model} {timeout} {deadline} {max_tokens}
    message: str
    # Every later request would fail the same way: the client stops trying (circuit breaker).
    trips_breaker: bool = False
    # Fewer attempts than settings.max_attempts, with a short wait.
    max_attempts: int | None = None


_CONNECT = ErrorRule(
    True, ModelUnavailable,
    "cannot connect to the model endpoint {endpoint} ({detail}); check that the server is "
    "running and that --base-url / OPENAI_BASE_URL is right",
    trips_breaker=True, max_attempts=CONNECT_ATTEMPTS)
_BAD_URL = ErrorRule(
    False, ModelUnavailable,
    "the model base URL {endpoint} is not usable ({detail}); set --base-url / OPENAI_BASE_URL "
    "to an http(s) URL such as http://localhost:11434/v1",
    trips_breaker=True)
_AUTH = ErrorRule(
    False, ModelAuthError,
    "the model endpoint refused the API key (401); check OPENAI_API_KEY", trips_breaker=True)
_UNUSED = "the openai SDK failed ({detail}); please report this"  # classes chat does not raise

RULES: dict[str, ErrorRule] = {
    # -- openai SDK classes (openai 3.x) --
    "OpenAIError": ErrorRule(False, ModelRequestError, "the openai SDK failed: {detail}"),
    "APIError": ErrorRule(
        True, ModelRequestError, "the model endpoint reported an error while answering: {detail}"),
    "APIConnectionError": ErrorRule(
        True, ModelUnavailable,
        "the connection to the model endpoint {endpoint} kept breaking ({detail}); check the "
        "server or try again later"),
    "APIConnectionError:connect": _CONNECT,
    "APIConnectionError:url": _BAD_URL,
    "APITimeoutError": ErrorRule(
        True, ModelUnavailable,
        "the model endpoint {endpoint} did not answer within {timeout:g} s; raise `timeout` in "
        "the configuration or use a faster model"),
    "APITimeoutError:connect": _CONNECT,
    "APIResponseValidationError": ErrorRule(
        True, ModelRequestError,
        "the model endpoint sent a response the openai SDK could not read: {detail}"),
    "APIStatusError": ErrorRule(
        False, ModelRequestError, "the model endpoint rejected the request ({status}): {detail}"),
    "APIStatusError:retryable": ErrorRule(  # 408, 425 and 5xx without their own class
        True, ModelUnavailable, "the model endpoint failed ({status}): {detail}; try again later"),
    "BadRequestError": ErrorRule(
        False, ModelRequestError, "the model endpoint rejected the request (400): {detail}"),
    "BadRequestError:context_length": ErrorRule(
        False, ModelRequestError,
        "the request is too long for model {model} (400); lower `batch-tokens` or "
        "`max-hunk-lines` in the configuration"),
    "AuthenticationError": _AUTH,
    "OAuthError": _AUTH,
    "PermissionDeniedError": ErrorRule(
        False, ModelAuthError,
        "the model endpoint denied access (403): {detail}; check that the API key may use "
        "model {model}",
        trips_breaker=True),
    "NotFoundError": ErrorRule(  # every request would get it: the model cannot be reached
        False, ModelUnavailable,
        "the model endpoint answered 404 for model {model} ({detail}); check --model and that "
        "--base-url ends in /v1",
        trips_breaker=True),
    "ConflictError": ErrorRule(
        True, ModelRequestError, "the model endpoint reported a conflict (409): {detail}"),
    "UnprocessableEntityError": ErrorRule(
        False, ModelRequestError,
        "the model endpoint could not process the request (422): {detail}"),
    "RateLimitError": ErrorRule(
        True, ModelUnavailable,
        "the model endpoint kept rate-limiting us (429): {detail}; lower --concurrency or try "
        "again later"),
    "RateLimitError:quota": ErrorRule(
        False, ModelUnavailable,
        "the model account is out of quota (429): {detail}; check the plan and billing of the "
        "API key",
        trips_breaker=True),
    "InternalServerError": ErrorRule(
        True, ModelUnavailable, "the model endpoint failed ({status}): {detail}; try again later"),
    "LengthFinishReasonError": ErrorRule(
        False, ModelRequestError,
        "the answer was cut off at {max_tokens} tokens; raise `max-tokens` in the configuration"),
    "ContentFilterFinishReasonError": ErrorRule(
        False, ModelRequestError, "the model's content filter refused to answer this request"),
    "SubjectTokenProviderError": ErrorRule(
        False, ModelAuthError,
        "could not obtain credentials for the model endpoint ({detail}); check the configured "
        "identity provider",
        trips_breaker=True),
    "WebSocketConnectionClosedError": ErrorRule(False, ModelRequestError, _UNUSED),
    "WebSocketQueueFullError": ErrorRule(False, ModelRequestError, _UNUSED),
    # -- raised by httpx2 while the SDK client is built from a broken base URL --
    "InvalidURL": _BAD_URL,
    # -- failures model_client.py detects itself --
    "MalformedResponse": ErrorRule(  # after retries, as good as unreachable (a proxy's page)
        True, ModelUnavailable,
        "the model endpoint {endpoint} sent something that is not a chat completion "
        "({detail}); check that --base-url points at an OpenAI-compatible /v1 endpoint"),
    "StreamIncomplete": ErrorRule(
        True, ModelRequestError,
        "the answer stream from the model endpoint kept stopping before the end; try again"),
    "StreamBrokeOff": ErrorRule(
        False, ModelRequestError,
        "the answer stream from the model endpoint broke off midway ({detail}); try again"),
    "DeadlineExceeded": ErrorRule(
        False, ModelUnavailable,
        "no answer within the {deadline:g} s allowed for model work; raise `deadline` in the "
        "configuration or review fewer files",
        trips_breaker=True),
    # -- anything else: a bug or an SDK surprise; not retried, never a traceback --
    "Exception": ErrorRule(
        False, ModelRequestError, "unexpected error talking to the model endpoint: {detail}"),
}

# Exception names (httpx2) behind an APIConnectionError/APITimeoutError, by what they mean.
_CONNECT_CAUSES = frozenset({"ConnectError", "ConnectTimeout", "ProxyError"})
_URL_CAUSES = frozenset({"UnsupportedProtocol", "InvalidURL"})


# ---------------------------------------------------------------------------------------------
# Classification


def rule_key(exc: BaseException) -> str:
    """The ``RULES`` key for ``exc``: its nearest listed class, refined where it matters."""
    names = [cls.__name__ for cls in type(exc).__mro__]
    key = next((name for name in names if name in RULES), "Exception")
    refined = f"{key}:{_refinement(exc, key)}"
    return refined if refined in RULES else key


def _refinement(exc: BaseException, key: str) -> str:
    if key in ("APIConnectionError", "APITimeoutError"):
        causes = _cause_names(exc)
        if causes & _URL_CAUSES:
            return "url"
        return "connect" if causes & _CONNECT_CAUSES else ""
    status = _status(exc)
    if key == "APIStatusError" and status is not None and (status in (408, 425) or status >= 500):
        return "retryable"
    code = str(getattr(exc, "code", "") or "")
    if key == "RateLimitError" and code == "insufficient_quota":
        return "quota"
    if key == "BadRequestError" and (code == "context_length_exceeded"
                                     or "maximum context length" in str(exc).lower()):
        return "context_length"
    return ""


def _cause_names(exc: BaseException) -> set[str]:
    names: set[str] = set()
    cause = exc.__cause__ or exc.__context__
    for _ in range(5):  # a short chain; guards against cycles
        if cause is None:
            break
        names.update(cls.__name__ for cls in type(cause).__mro__)
        cause = cause.__cause__ or cause.__context__
    return names


def rule_for(exc: BaseException) -> ErrorRule:
    return RULES[rule_key(exc)]


def is_retryable(exc: BaseException) -> bool:
    """The tenacity retry predicate: the table's ``retry`` column."""
    return rule_for(exc).retry


def to_model_error(exc: BaseException, settings: Settings, *,
                   deadline_seconds: float | None = None) -> ModelError:
    """The user-facing error for ``exc``: the table's class and message, credentials masked."""
    rule = rule_for(exc)
    status = _status(exc)
    message = rule.message.format(
        status=status if status is not None else "no status",
        detail=_detail(exc),
        endpoint=endpoint_label(settings.base_url),
        model=repr(settings.model),
        timeout=settings.timeout,
        deadline=deadline_seconds if deadline_seconds is not None else settings.deadline,
        max_tokens=settings.max_tokens,
    )
    if settings.key_withheld and rule.error is ModelAuthError:
        message += ("; your OPENAI_API_KEY was not sent because the base URL comes from this "
                    "repository's configuration: set OPENAI_BASE_URL (or --base-url) yourself "
                    "to send it there")
    return rule.error(mask_secrets(message, [settings.api_key]))


def endpoint_label(base_url: str | None) -> str:
    """The base URL as shown to the user: no user, password, query or fragment."""
    if not base_url:
        return DEFAULT_ENDPOINT
    try:
        parts = urlsplit(base_url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return repr(base_url.split("?")[0].split("@")[-1][:80])
    if not parts.scheme or not host:
        return repr(base_url.split("?")[0].split("@")[-1][:80])
    return f"{parts.scheme}://{host}{port}{parts.path}"


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def _detail(exc: BaseException) -> str:
    """A short, one-line description of what went wrong, from the exception or its cause."""
    text = str(getattr(exc, "message", None) or exc)
    if _status(exc) is not None and text.startswith("Error code:"):
        text = text.partition(" - ")[2] or text  # our message already names the status
    if type(exc).__name__ in ("APIConnectionError", "APITimeoutError") and exc.__cause__:
        cause = exc.__cause__
        text = str(cause) or type(cause).__name__
    if not text:
        text = type(exc).__name__
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Waiting


def retry_after_seconds(exc: BaseException, *, now: float | None = None) -> float | None:
    """The wait a ``retry-after-ms`` or ``Retry-After`` response header asks for, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    return _http_date_wait(headers.get("retry-after"), now)


def _http_date_wait(value: str | None, now: float | None) -> float | None:
    if not value:
        return None
    import email.utils  # ~13 ms; only a Retry-After date needs it

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def backoff_seconds(attempt: int, settings: Settings) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^(attempt-1), capped."""
    ceiling = min(settings.backoff_max, settings.backoff_base * 2.0 ** min(attempt - 1, 30))
    return random.uniform(ceiling / 2, ceiling)


def wait_seconds(exc: BaseException, attempt: int, settings: Settings) -> float:
    """How long to sleep after failed attempt number ``attempt`` (1-based) before the next."""
    if rule_for(exc).max_attempts is not None:
        return min(settings.backoff_base, CONNECT_RETRY_WAIT)
    asked = retry_after_seconds(exc)
    if asked is not None:
        # A little jitter on top, so clients told the same time do not all return at once.
        return asked + random.uniform(0.0, min(asked * 0.1, 1.0))
    return backoff_seconds(attempt, settings)


def attempts_allowed(exc: BaseException, settings: Settings) -> int:
    limit = rule_for(exc).max_attempts
    return settings.max_attempts if limit is None else min(limit, settings.max_attempts)


def should_stop(exc: BaseException, attempt: int, upcoming_sleep: float, settings: Settings,
                remaining: float) -> bool:
    """True when no further attempt is worth making."""
    return (attempt >= attempts_allowed(exc, settings)
            or upcoming_sleep > RETRY_AFTER_LIMIT
            or upcoming_sleep >= remaining)


def build_retrying(settings: Settings, remaining: Callable[[], float]) -> tenacity.Retrying:
    """A tenacity ``Retrying`` that follows the table; ``remaining()`` is the deadline's rest.

    The last exception is re-raised as is (``reraise=True``); ``to_model_error`` turns it
    into the user's message.
    """
    import tenacity

    def wait(state: tenacity.RetryCallState) -> float:
        return wait_seconds(_exception(state), state.attempt_number, settings)

    def stop(state: tenacity.RetryCallState) -> bool:
        return should_stop(_exception(state), state.attempt_number, state.upcoming_sleep,
                           settings, remaining())

    return tenacity.Retrying(retry=tenacity.retry_if_exception(is_retryable), wait=wait,
                             stop=stop, reraise=True)


def _exception(state: tenacity.RetryCallState) -> BaseException:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    return error if error is not None else Exception("no exception recorded")
