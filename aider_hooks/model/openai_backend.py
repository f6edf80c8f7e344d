"""The openai SDK backend: chat messages to an OpenAI-compatible endpoint, with retries, a
deadline and a breaker.

One ``OpenAIBackend`` serves a whole run and is shared by the worker threads. It builds the
openai SDK client on first use (importing openai only then), turns the SDK's own retries off
and retries with tenacity per ``retry_policy.RULES`` instead, and raises nothing but
``errors.ModelUnavailable`` / ``ModelAuthError`` / ``ModelRequestError``.

What a user notices:

- Parameters an endpoint rejects are dropped once and remembered for the rest of the run:
  a 400 that mentions ``response_format`` (local servers without JSON mode), ``stream_options``
  or ``temperature`` resends the request without it; one that mentions the token-limit
  parameter switches between ``max_completion_tokens`` (what api.openai.com wants) and
  ``max_tokens`` (what most compatible servers understand).
- No attempt starts after the ``Deadline``, no retry sleeps past it, and each request's
  timeout is ``min(settings.timeout, time left)``.
- Circuit breaker: after an error that every later request would repeat (connection refused,
  DNS failure, bad base URL, 401/403, 404, out of quota, deadline) or after
  ``SOFT_FAILURES_TO_TRIP`` calls in a row that ran out of retries on 429/5xx/timeouts, or
  after attempts in a row (any thread) got no answer at all (a hung server: see
  ``_note_timeout``), every later call on this client fails at once with the same error, in
  every thread; calls that were waiting to retry stop before their next attempt.
- ``stream``: a stream that stops before its end (no finish_reason) or fails is retried while
  no text has been passed to ``on_text``. Once text was shown, retrying would show it twice,
  so the failure is raised as ``ModelRequestError`` (the request failed; the endpoint is up, so
  the breaker is not touched).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from aider_hooks.errors import ModelError, ModelUnavailable
from aider_hooks.model.backend import Completion, Deadline, Messages
from aider_hooks.model.retry import (
    DeadlineExceeded,
    MalformedResponse,
    StreamBrokeOff,
    StreamIncomplete,
    build_retrying,
    rule_for,
    rule_key,
    to_model_error,
)
from aider_hooks.model.sdk_import import import_openai
from aider_hooks.settings import Settings

# Calls in a row that exhausted their retries on a "soft" failure (429, 5xx, timeouts) before
# the endpoint is considered down; one success resets the count. Soft failures do not trip at
# once: a busy endpoint that fails one request in twenty should not end the whole review.
SOFT_FAILURES_TO_TRIP = 3
# Attempts in a row, in any thread, that got no answer within the timeout before an endpoint
# that HAS answered in this run is taken for hung (and never fewer than a wave of requests in
# flight + 1). Any answer (even an error) resets the count. An endpoint that has not answered
# once is taken for hung at its first timeout: a whole `timeout` without a byte is already
# the user's patience for the run (docs/cli.md: a hung endpoint costs about one timeout).
TIMEOUTS_TO_TRIP = 3
# A host that drops packets would otherwise hold each attempt for the whole request timeout.
CONNECT_TIMEOUT = 5.0
# Parameters dropped when a 400 names them; the token-limit parameter is switched instead.
_DROPPABLE = ("response_format", "stream_options", "temperature")
_TOKEN_PARAMS = ("max_completion_tokens", "max_tokens")
# Resends of one request for rejected parameters: each droppable one, a token-parameter switch,
# and a couple of answers meant for requests built before another thread's switch.
_MAX_RESENDS = len(_DROPPABLE) + 3

class _CallbackFailed(Exception):
    """``on_text`` raised: the caller's exception, passed through untouched."""

    def __init__(self, original: Exception) -> None:
        super().__init__(str(original))
        self.original = original


class _BreakerOpen(Exception):
    """Another thread found the endpoint down while this call was retrying."""


class _AttemptCount:
    def __init__(self) -> None:
        self.value = 0


class OpenAIBackend:
    """The ``ChatBackend`` of the official openai SDK. Thread-safe, one per run; ``requests`` counts every HTTP request made."""

    def __init__(self, settings: Settings, deadline: Deadline | None = None) -> None:
        self.settings = settings
        self.deadline = deadline if deadline is not None else Deadline(settings.deadline)
        self.requests = 0
        self._lock = threading.Lock()
        self._sdk: Any = None
        self._tripped: ModelError | None = None
        self._soft_failures = 0
        self._timeouts_in_a_row = 0
        self._answered = False
        self._dropped: set[str] = set()
        self._switched: set[str] = set()
        self._token_param = _TOKEN_PARAMS[0] if _is_openai(settings.base_url) else _TOKEN_PARAMS[1]

    # Public ------------------------------------------------------------------------------

    def complete(self, messages: Messages, *, json_mode: bool | None = None) -> Completion:
        """The model's whole answer to ``messages``."""
        use_json = self.settings.json_mode if json_mode is None else json_mode
        return self._call(lambda count: self._complete_once(messages, use_json, count))

    def stream(self, messages: Messages, on_text: Callable[[str], None]) -> Completion:
        """The answer, passing each piece of text to ``on_text`` as it arrives."""
        return self._call(lambda count: self._stream_once(messages, on_text, count))

    def close(self) -> None:
        with self._lock:
            if self._sdk is not None:
                self._sdk.close()
                self._sdk = None

    # Retries, errors and the breaker -----------------------------------------------------------

    def _call(self, attempt: Callable[[_AttemptCount], Completion]) -> Completion:
        self._fail_fast_if_tripped()
        count = _AttemptCount()
        retrying = build_retrying(self.settings, self.deadline.remaining)
        try:
            completion: Completion = retrying(attempt, count)
        except _CallbackFailed as failure:
            raise failure.original from None
        except _BreakerOpen:
            self._fail_fast_if_tripped()
            raise  # not reached: the breaker is open
        except Exception as exc:  # every failure becomes one of our Model* errors
            cause = self._real_cause(exc)
            error = to_model_error(cause, self.settings, deadline_seconds=self.deadline.seconds)
            self._record_failure(cause, error)
            raise error from None  # no chained SDK exception: its text may hold the key
        with self._lock:
            self._soft_failures = 0
        return replace(completion, attempts=count.value)

    def _real_cause(self, exc: Exception) -> Exception:
        if self.deadline.expired() and rule_for(exc).error is ModelUnavailable:
            return DeadlineExceeded()  # we ran out of time, not of retries: say so
        return exc

    def _record_failure(self, exc: Exception, error: ModelError) -> None:
        trips = rule_for(exc).trips_breaker
        with self._lock:
            if not trips and isinstance(error, ModelUnavailable):
                self._soft_failures += 1
                trips = self._soft_failures >= SOFT_FAILURES_TO_TRIP
            if trips and self._tripped is None:
                self._tripped = error

    def _fail_fast_if_tripped(self) -> None:
        with self._lock:
            tripped = self._tripped
        if tripped is not None:
            raise type(tripped)(str(tripped))  # a fresh instance per thread, same message

    # One attempt -------------------------------------------------------------------------------

    def _complete_once(self, messages: Messages, json_mode: bool,
                       count: _AttemptCount) -> Completion:
        openai = import_openai()
        from openai.types.chat.chat_completion import ChatCompletion

        response = self._create(count, messages, json_mode=json_mode, stream=False)
        if not isinstance(response, ChatCompletion):
            raise MalformedResponse(_describe_non_completion(response))
        try:
            choice = response.choices[0]
            finish, text, refusal = (choice.finish_reason, choice.message.content,
                                     choice.message.refusal)
            usage = response.usage
            tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
        except (AttributeError, IndexError, TypeError) as exc:  # the SDK does not validate
            raise MalformedResponse(f"an incomplete chat completion ({_short(exc)})") from exc
        if finish == "length":
            raise openai.LengthFinishReasonError(completion=response)
        if finish == "content_filter" or (text is None and refusal):
            raise openai.ContentFilterFinishReasonError(completion=response)
        return Completion(text=text or "", prompt_tokens=tokens[0], completion_tokens=tokens[1],
                          attempts=0)

    def _stream_once(self, messages: Messages, on_text: Callable[[str], None],
                     count: _AttemptCount) -> Completion:
        stream = self._create(count, messages, json_mode=False, stream=True)
        if isinstance(stream, str) or not hasattr(stream, "__iter__"):
            raise MalformedResponse(_describe_non_completion(stream))
        parts: list[str] = []
        finish: str | None = None
        usage: Any = None
        chunks = 0
        try:
            for chunk in stream:
                chunks += 1
                if self.deadline.expired():  # a trickling stream must not outlive the run
                    raise DeadlineExceeded()
                for choice in chunk.choices or ():
                    piece = choice.delta.content if choice.delta is not None else None
                    if piece:
                        parts.append(piece)
                        _emit(on_text, piece)
                    finish = choice.finish_reason or finish
                usage = chunk.usage or usage
        except _CallbackFailed:
            raise
        except DeadlineExceeded:
            if parts:
                raise StreamBrokeOff("the deadline for model work passed while the answer "
                                     "was arriving") from None
            raise
        except Exception as exc:
            if parts:
                raise StreamBrokeOff(_short(exc)) from exc
            if isinstance(exc, (ValueError, AttributeError, TypeError)):  # not chunks we know
                raise MalformedResponse(_short(exc)) from exc
            raise
        finally:
            stream.close()
        if chunks == 0:
            raise MalformedResponse("no server-sent events: the endpoint may not stream")
        if finish is None:
            if parts:
                raise StreamBrokeOff("the stream ended before the answer was complete")
            raise StreamIncomplete()
        return Completion(text="".join(parts),
                          prompt_tokens=usage.prompt_tokens if usage else 0,
                          completion_tokens=usage.completion_tokens if usage else 0,
                          attempts=0, truncated=finish == "length")

    def _create(self, count: _AttemptCount, messages: Messages, *, json_mode: bool,
                stream: bool) -> Any:
        """One request, resent at once without each parameter the endpoint says it rejects."""
        for resend in range(_MAX_RESENDS + 1):
            params = self._params(messages, json_mode=json_mode, stream=stream)
            try:
                return self._send(count, params)
            except Exception as exc:
                if resend == _MAX_RESENDS or not self._drop_rejected_parameter(exc, params):
                    raise
        raise AssertionError("unreachable")  # the last attempt returned or raised

    def _params(self, messages: Messages, *, json_mode: bool, stream: bool) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.settings.model,
            "messages": [dict(m) for m in messages],
            "temperature": self.settings.temperature,
            self._token_param: self.settings.max_tokens,
        }
        if json_mode:
            params["response_format"] = {"type": "json_object"}
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return {k: v for k, v in params.items() if k not in self._dropped}

    def _drop_rejected_parameter(self, exc: Exception, params: Mapping[str, Any]) -> bool:
        """Remember a parameter a 400/422 names and return True, or False when none applies."""
        if getattr(exc, "status_code", None) not in (400, 422):
            return False
        text = f"{exc} {getattr(exc, 'param', '')}".lower()
        # Requests run in parallel: one built before another thread dropped (or switched) the
        # parameter is resent as well, or every request in flight at the time would fail.
        with self._lock:
            for name in _DROPPABLE:
                if name in params and name in text:
                    self._dropped.add(name)
                    return True
            sent = next((p for p in _TOKEN_PARAMS if p in params), None)
            # "Unsupported parameter: 'max_tokens'; use 'max_completion_tokens' instead" names
            # both: the rejected one is named first.
            named = [p for p in _TOKEN_PARAMS if p in text]
            rejected = min(named, key=text.find) if named else None
            if sent is None or rejected is None:
                return False
            if rejected != sent:
                # About the parameter this run already switched away from (an answer meant for
                # a request built before the switch): resend; otherwise it is not ours to fix.
                return rejected in self._switched
            if sent != self._token_param:
                return True  # another thread has switched already
            if sent in self._switched:
                return False  # switch each way at most once: no ping-pong
            self._switched.add(sent)
            self._token_param = _TOKEN_PARAMS[1 - _TOKEN_PARAMS.index(sent)]
            return True

    def _send(self, count: _AttemptCount, params: dict[str, Any]) -> Any:
        if self._tripped is not None:
            raise _BreakerOpen()
        remaining = self.deadline.remaining()
        if remaining <= 0:
            raise DeadlineExceeded()
        sdk = self._sdk_client()
        openai = import_openai()
        seconds = min(self.settings.timeout, remaining)
        timeout = openai.Timeout(seconds, connect=min(CONNECT_TIMEOUT, seconds))
        with self._lock:
            self.requests += 1
        count.value += 1
        try:
            if params.get("stream"):
                response = sdk.chat.completions.create(**params, timeout=timeout)
            else:
                # The documented way to post a body as it is: ``create`` first walks every
                # message through the SDK's typed-dict transform, which returns these plain
                # string messages unchanged and was a third of the SDK's CPU per request.
                from openai.types.chat.chat_completion import ChatCompletion

                response = sdk.post("/chat/completions", cast_to=ChatCompletion, body=params,
                                    options={"timeout": timeout})
        except ValueError as exc:  # a 200 whose JSON body is broken or not a completion
            self._note_answer()
            raise MalformedResponse(_short(exc)) from exc
        except Exception as exc:
            if rule_key(exc) == "APITimeoutError":
                if self._note_timeout(exc):
                    raise _BreakerOpen() from None  # no backoff sleep before giving up
            else:
                self._note_answer()
            raise
        self._note_answer()
        return response

    def _note_timeout(self, exc: Exception) -> bool:
        """An endpoint that takes connections and never answers: once enough attempts in a
        row (across all threads) time out, every request stops, so a hung server costs about
        one timeout (two if it hangs midway), not max_attempts of them per request.
        Returns whether the breaker is open now (then the call gives up at once).

        Enough: one while the endpoint has not answered once in this run (it accepts
        connections and never says a word: a retry would only wait another whole timeout);
        after it has answered, more than a whole wave of requests in flight, so that a few
        slow answers among good ones (a busy server) never stop the review."""
        with self._lock:
            self._timeouts_in_a_row += 1
            needed = 1
            if self._answered:
                needed = max(TIMEOUTS_TO_TRIP, self.settings.concurrency + 1)
            if self._timeouts_in_a_row >= needed and self._tripped is None:
                # Cut short by the run's deadline rather than `timeout`: say which.
                self._tripped = to_model_error(self._real_cause(exc), self.settings,
                                               deadline_seconds=self.deadline.seconds)
            return self._tripped is not None

    def _note_answer(self) -> None:
        """Any HTTP answer, an error status included: the endpoint is alive."""
        with self._lock:
            self._timeouts_in_a_row = 0
            self._answered = True

    def _sdk_client(self) -> Any:
        with self._lock:
            if self._sdk is None:
                openai = import_openai()
                self._sdk = openai.OpenAI(
                    base_url=self.settings.base_url,
                    api_key=self.settings.effective_api_key,
                    timeout=min(self.settings.timeout, max(self.deadline.remaining(), 0.001)),
                    max_retries=0,  # tenacity retries, per retry_policy.RULES
                )
                # Import the chat resource here, in one thread, rather than in every worker
                # at once on its first request.
                self._sdk.chat.completions  # noqa: B018 - the lookup is the point
            return self._sdk


def _emit(on_text: Callable[[str], None], piece: str) -> None:
    try:
        on_text(piece)
    except Exception as exc:
        raise _CallbackFailed(exc) from exc


def _is_openai(base_url: str | None) -> bool:
    if not base_url:
        return True
    try:
        host = urlsplit(base_url).hostname or ""
    except ValueError:
        return False
    return host == "openai.com" or host.endswith(".openai.com")


def _describe_non_completion(response: object) -> str:
    if isinstance(response, str):
        start = " ".join(response.split())[:40]
        return f"a text body starting {start!r}" if start else "an empty body"
    return f"a {type(response).__name__}"


def _short(exc: BaseException) -> str:
    cause = exc.__cause__
    text = str(cause or exc) or type(cause or exc).__name__
    return " ".join(text.split())[:120]
