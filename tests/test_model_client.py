"""The model client against a real HTTP server through the real openai SDK."""
from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from aider_hooks.errors import ModelAuthError, ModelRequestError, ModelUnavailable
from aider_hooks.model.backend import Completion, Deadline
from aider_hooks.model.openai_backend import OpenAIBackend as ModelClient
from aider_hooks.settings import Settings
from testing.fake_model_server import FakeModelServer, closed_port_url, fake_token_count

KEY = "sk-proj-TopSecretTestKey0123456789abcdefXYZ"
DIFF = "### File: app.py\n@@ 1-2 @@\n+x = eval(s)  # BUG\n y = 1"
MESSAGES = [{"role": "system", "content": "You review code."}, {"role": "user", "content": DIFF}]
EXPLAIN = [{"role": "system", "content": "You explain code changes."}, {"role": "user", "content": DIFF}]


def settings_for(server: FakeModelServer | None, **overrides: Any) -> Settings:
    base = Settings(base_url=server.base_url if server else None, api_key=KEY, backoff_base=0.01,
                    backoff_max=0.02, timeout=10.0, max_attempts=4)
    return replace(base, **overrides)


def expected_prompt_tokens(messages: list[dict[str, str]]) -> int:
    return sum(fake_token_count(m["content"]) for m in messages)


# Answers ------------------------------------------------------------------------------------


def test_complete_returns_text_tokens_and_sends_settings(model_server: FakeModelServer) -> None:
    client = ModelClient(settings_for(model_server, model="local-coder", temperature=0.2, max_tokens=321))

    completion = client.complete(MESSAGES)

    assert '"message": "Bug marker found"' in completion.text
    assert completion.prompt_tokens == expected_prompt_tokens(MESSAGES)
    assert completion.completion_tokens == fake_token_count(completion.text)
    assert completion.attempts == 1 and client.requests == 1
    sent = model_server.requests[0]
    assert sent["model"] == "local-coder"
    assert sent["messages"] == MESSAGES
    assert sent["temperature"] == 0.2
    assert sent["max_tokens"] == 321  # what OpenAI-compatible servers understand
    assert sent["response_format"] == {"type": "json_object"}
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_json_mode_can_be_turned_off(model_server: FakeModelServer) -> None:
    ModelClient(settings_for(model_server)).complete(MESSAGES, json_mode=False)
    ModelClient(settings_for(model_server, json_mode=False)).complete(MESSAGES)

    assert all("response_format" not in r for r in model_server.requests)


def test_stream_passes_text_as_it_arrives(model_server: FakeModelServer) -> None:
    model_server.stream_chunk_delay = 0.02
    arrivals: list[tuple[float, str]] = []
    client = ModelClient(settings_for(model_server))

    completion = client.stream(EXPLAIN, lambda text: arrivals.append((time.monotonic(), text)))
    finished = time.monotonic()

    assert completion.text.startswith("This change")
    assert "".join(text for _, text in arrivals) == completion.text
    assert len(arrivals) > 1 and finished - arrivals[0][0] >= 0.02  # not all at the end
    assert completion.prompt_tokens == expected_prompt_tokens(EXPLAIN)
    assert completion.completion_tokens == fake_token_count(completion.text)
    sent = model_server.requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert "response_format" not in sent


def test_callback_errors_reach_the_caller_unchanged(model_server: FakeModelServer) -> None:
    def broken_pipe(text: str) -> None:
        raise BrokenPipeError("stdout closed")

    with pytest.raises(BrokenPipeError):
        ModelClient(settings_for(model_server)).stream(EXPLAIN, broken_pipe)
    assert len(model_server.requests) == 1


# Retries ------------------------------------------------------------------------------------


def test_retry_after_header_is_honoured_not_the_long_backoff(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 429, "retry_after": 0.3}]
    client = ModelClient(settings_for(model_server, backoff_base=20.0, backoff_max=20.0))

    start = time.monotonic()
    completion = client.complete(MESSAGES)
    waited = time.monotonic() - start

    assert completion.attempts == 2
    assert 0.3 <= waited < 3.0


def test_retry_after_ms_header_is_honoured(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 429, "retry_after_ms": 200}, {"status": 429, "retry_after_ms": 200}]
    client = ModelClient(settings_for(model_server, backoff_base=20.0, backoff_max=20.0))

    start = time.monotonic()
    assert client.complete(MESSAGES).attempts == 3
    assert 0.4 <= time.monotonic() - start < 3.0


def test_server_errors_then_success(model_server: FakeModelServer) -> None:
    model_server.script = [500, 502, "reset"]
    client = ModelClient(settings_for(model_server))

    completion = client.complete(MESSAGES)

    assert completion.attempts == 4 and client.requests == 4
    assert '"findings"' in completion.text


def test_garbage_answer_is_retried(model_server: FakeModelServer) -> None:
    model_server.script = ["garbage"]
    assert ModelClient(settings_for(model_server)).complete(MESSAGES).attempts == 2


def test_gives_up_after_max_attempts(model_server: FakeModelServer) -> None:
    model_server.script = [503, 503, 503]
    client = ModelClient(settings_for(model_server, max_attempts=2))

    with pytest.raises(ModelUnavailable, match=r"failed \(503\).*try again later"):
        client.complete(MESSAGES)
    assert client.requests == 2


def test_bad_request_is_not_retried(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 400, "message": "messages must not be empty"}]
    client = ModelClient(settings_for(model_server))

    with pytest.raises(ModelRequestError, match="rejected the request \\(400\\): messages must not be empty"):
        client.complete(MESSAGES)
    assert client.requests == 1
    assert client.complete(MESSAGES).text  # one bad request does not stop the client


def test_timeout_is_reported_with_the_setting(model_server: FakeModelServer) -> None:
    model_server.script = [{"kind": "slow", "seconds": 3}] * 2
    client = ModelClient(settings_for(model_server, timeout=0.2, max_attempts=2))

    start = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"did not answer within 0.2 s; raise `timeout`"):
        client.complete(MESSAGES)
    assert time.monotonic() - start < 2.0
    # An endpoint that never answered anything: its first timeout stops the run, no retry.
    assert client.requests == 1


def test_a_timeout_after_an_answer_is_retried(model_server: FakeModelServer) -> None:
    client = ModelClient(settings_for(model_server, timeout=0.5, max_attempts=2))
    assert client.complete(MESSAGES).text  # the endpoint is alive
    model_server.script = [{"kind": "slow", "seconds": 2}]  # one slow answer, then normal
    assert client.complete(MESSAGES).text
    assert client.requests == 3


def test_connection_refused_fails_fast() -> None:
    client = ModelClient(replace(settings_for(None), base_url=closed_port_url(), backoff_base=10.0,
                                 max_attempts=6))

    start = time.monotonic()
    with pytest.raises(ModelUnavailable, match="cannot connect to the model endpoint http://127.0.0.1:"):
        client.complete(MESSAGES)
    assert time.monotonic() - start < 2.0
    assert client.requests == 2


def test_unusable_base_url_says_how_to_fix_it() -> None:
    client = ModelClient(replace(settings_for(None), base_url="localhost:11434"))
    with pytest.raises(ModelUnavailable, match="OPENAI_BASE_URL to an http"):
        client.complete(MESSAGES)


def test_401_is_an_auth_error_without_the_key(model_server: FakeModelServer) -> None:
    model_server.api_key = "sk-the-right-one"
    client = ModelClient(settings_for(model_server))

    with pytest.raises(ModelAuthError) as err:
        client.complete(MESSAGES)

    assert str(err.value) == "the model endpoint refused the API key (401); check OPENAI_API_KEY"
    assert KEY not in str(err.value) and KEY not in repr(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert client.requests == 1  # not retried


# Parameters the endpoint rejects -----------------------------------------------------------


def test_response_format_rejected_then_dropped_for_good(model_server: FakeModelServer) -> None:
    model_server.answer_json_mode_400 = True
    client = ModelClient(settings_for(model_server))

    first = client.complete(MESSAGES)
    second = client.complete(MESSAGES)

    assert '"findings"' in first.text and first.attempts == 2
    assert second.attempts == 1
    assert [("response_format" in r) for r in model_server.requests] == [True, False, False]


def test_token_limit_parameter_is_switched_when_rejected(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 400, "message": "Unsupported parameter: 'max_tokens' is not "
                            "supported with this model. Use 'max_completion_tokens' instead."}]
    client = ModelClient(settings_for(model_server, max_tokens=99))

    assert client.complete(MESSAGES).attempts == 2
    client.complete(MESSAGES)

    assert model_server.requests[0]["max_tokens"] == 99
    assert model_server.requests[1]["max_completion_tokens"] == 99
    assert "max_tokens" not in model_server.requests[2]


# Streams that break -------------------------------------------------------------------------


def test_stream_cut_before_any_text_is_retried(model_server: FakeModelServer) -> None:
    model_server.script = [{"kind": "stream_cut", "after": 0}, {"kind": "stream_cut", "after": 0, "abrupt": True}]
    shown: list[str] = []

    completion = ModelClient(settings_for(model_server)).stream(EXPLAIN, shown.append)

    assert completion.attempts == 3
    assert "".join(shown) == completion.text  # shown exactly once


@pytest.mark.parametrize("abrupt", [False, True])
def test_stream_cut_after_text_is_a_request_error(model_server: FakeModelServer, abrupt: bool) -> None:
    model_server.script = [{"kind": "stream_cut", "after": 2, "abrupt": abrupt}]
    shown: list[str] = []
    client = ModelClient(settings_for(model_server))

    with pytest.raises(ModelRequestError, match="broke off midway"):
        client.stream(EXPLAIN, shown.append)

    assert shown and client.requests == 1  # not retried: the text would be shown twice
    assert client.stream(EXPLAIN, lambda _: None).text  # the endpoint is not considered down


# Deadline and circuit breaker ---------------------------------------------------------------


def test_deadline_bounds_a_slow_answer(model_server: FakeModelServer) -> None:
    model_server.script = [{"kind": "slow", "seconds": 5}]
    client = ModelClient(settings_for(model_server, timeout=60.0), Deadline(0.5))

    start = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"within the 0.5 s allowed for model work"):
        client.complete(MESSAGES)
    assert time.monotonic() - start < 1.5

    with pytest.raises(ModelUnavailable, match="deadline"):
        client.complete(MESSAGES)
    assert client.requests == 1


def test_no_retry_sleeps_past_the_deadline(model_server: FakeModelServer) -> None:
    model_server.script = [503, 503]
    client = ModelClient(settings_for(model_server, backoff_base=5.0, backoff_max=5.0), Deadline(2.0))

    start = time.monotonic()
    with pytest.raises(ModelUnavailable, match="503"):
        client.complete(MESSAGES)
    assert time.monotonic() - start < 1.0 and client.requests == 1


def test_breaker_trips_on_auth_error_for_every_thread(model_server: FakeModelServer) -> None:
    model_server.api_key = "sk-the-right-one"
    client = ModelClient(settings_for(model_server))
    with pytest.raises(ModelAuthError):
        client.complete(MESSAGES)

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: _error_of(client), range(8)))

    assert all(isinstance(e, ModelAuthError) and "OPENAI_API_KEY" in str(e) for e in outcomes)
    assert client.requests == 1 and len(model_server.requests) == 1


def test_calls_waiting_to_retry_stop_when_the_breaker_opens(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 503, "retry_after": 0.6}, 401]
    client = ModelClient(settings_for(model_server))
    with ThreadPoolExecutor(max_workers=1) as pool:
        waiting = pool.submit(_error_of, client)  # gets the 503, then waits 0.6 s
        time.sleep(0.2)
        assert isinstance(_error_of(client), ModelAuthError)  # gets the 401: breaker opens

        assert isinstance(waiting.result(), ModelAuthError)
    assert client.requests == 2


def test_breaker_trips_after_repeated_exhausted_retries(model_server: FakeModelServer) -> None:
    model_server.fault_rates = {"503": 1.0}
    client = ModelClient(settings_for(model_server, max_attempts=2))

    for _ in range(3):
        with pytest.raises(ModelUnavailable):
            client.complete(MESSAGES)
    assert client.requests == 6
    with pytest.raises(ModelUnavailable, match="503"):
        client.complete(MESSAGES)
    assert client.requests == 6  # failed fast


def test_a_success_resets_the_soft_failure_count(model_server: FakeModelServer) -> None:
    model_server.script = [503, 503, 503, 503]  # two calls of two attempts each fail
    client = ModelClient(settings_for(model_server, max_attempts=2))
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            client.complete(MESSAGES)
    client.complete(MESSAGES)
    model_server.script = [503, 503, 503, 503]
    for _ in range(2):
        with pytest.raises(ModelUnavailable):
            client.complete(MESSAGES)

    assert client.complete(MESSAGES).text  # still trying: never three failures in a row


def test_not_found_trips_the_breaker(model_server: FakeModelServer) -> None:
    model_server.script = [404]
    client = ModelClient(settings_for(model_server, model="no-such-model"))

    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="404 for model 'no-such-model'.*--model"):
            client.complete(MESSAGES)
    assert client.requests == 1


# Concurrency -------------------------------------------------------------------------------


def test_many_threads_share_one_client_through_a_fault_storm() -> None:
    with FakeModelServer(latency=0.01, seed=3) as server:
        server.fault_rates = {"429": 0.15, "500": 0.1, "reset": 0.05, "garbage": 0.05}
        client = ModelClient(settings_for(server, max_attempts=10, backoff_base=0.001,
                                          backoff_max=0.01))

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: client.complete(MESSAGES), range(48)))

        assert all(isinstance(r, Completion) and '"findings"' in r.text for r in results)
        assert client.requests == len(server.requests) == sum(r.attempts for r in results)
        assert client.requests > 48  # faults happened and were retried
        assert 1 < server.peak_in_flight <= 8
        assert sum(r.prompt_tokens for r in results) == 48 * expected_prompt_tokens(MESSAGES)
        assert server.errors == []


def test_importing_and_building_the_client_does_not_import_openai() -> None:
    code = ("import sys; from aider_hooks.model.openai_backend import OpenAIBackend as ModelClient; "
            "from aider_hooks.settings import Settings; ModelClient(Settings()); "
            "print(sorted(m for m in ('openai', 'tenacity', 'httpx2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _error_of(client: ModelClient) -> BaseException | None:
    try:
        client.complete(MESSAGES)
    except Exception as err:
        return err
    return None


