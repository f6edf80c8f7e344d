"""The fake model server behaves like an OpenAI-compatible endpoint and obeys its script."""
from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from testing.fake_model_server import FakeModelServer, fake_token_count, rule_findings

REPO_ROOT = Path(__file__).resolve().parent.parent

DIFF = "\n".join([
    "Review this change.",
    "<<<UNTRUSTED-DIFF 0123456789ab>>>",
    "### File: src/app.py",
    "@@ 10-13 @@ in def run():",
    "9:def run():",
    "     data = load()",
    "+    value = eval(data)  # TODO: validate",
    "-    value = parse(data)",
    "+    return value  # BUG off by one",
    "     # BUG in a context line is not reported",
    "### File: docs/readme.py",
    "@@ 1-1 @@",
    "+x = 1",
    "<<<END-UNTRUSTED-DIFF 0123456789ab>>>",
])
REVIEW = [{"role": "system", "content": "You review code."}, {"role": "user", "content": DIFF}]


def sdk(server: FakeModelServer, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, **kwargs)


def ask(server: FakeModelServer, messages: list[dict[str, str]] = REVIEW, **kwargs: Any) -> Any:
    return sdk(server).chat.completions.create(model="m", messages=messages, **kwargs)  # type: ignore[arg-type]


def raw_post(server: FakeModelServer, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json", "Authorization": "Bearer sk-raw"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def test_default_reviewer_reports_markers_on_added_lines_only(model_server: FakeModelServer) -> None:
    answer = json.loads(ask(model_server).choices[0].message.content)

    found = [(f["path"], f["line"], f["severity"], f["category"]) for f in answer["findings"]]
    assert found == [
        ("src/app.py", 11, "warning", "security"),
        ("src/app.py", 11, "info", "docs"),
        ("src/app.py", 12, "error", "bug"),
    ]
    eval_finding = answer["findings"][0]
    assert eval_finding["code"] == "    value = eval(data)  # TODO: validate"
    assert eval_finding["message"] == "eval on input"
    assert eval_finding["suggestion"] == "    value = ast.literal_eval(data)  # TODO: validate"
    assert answer["findings"][2]["message"] == "Bug marker found"


PR_AGENT_SYSTEM = ("You are PR-Reviewer, a language model designed to review a Git Pull Request (PR)."
                   "\n__new hunk__ ... Explain your answer.")
PR_AGENT_DIFF = "\n".join([
    "--PR Info--", "", "The PR code diff:", "======",
    "## File: 'src/app.py'", "",
    "@@ -10,3 +10,4 @@ def run():",
    "__new hunk__",
    "10       data = load()",
    "11 +     value = parse(data)  # BUG planted",
    "12       # BUG in a context line is not reported",
    "__old hunk__",
    "-     value = eval(data)  # BUG removed",
    "",
    "## File: 'docs/readme.py'",
    "@@ -0,0 +1,1 @@",
    "__new hunk__",
    "1 + x = 1  # BUG too",
    "======",
])


def test_pr_agent_requests_get_its_yaml_review(model_server: FakeModelServer) -> None:
    yaml = pytest.importorskip("yaml")
    messages = [{"role": "system", "content": PR_AGENT_SYSTEM},
                {"role": "user", "content": PR_AGENT_DIFF}]
    model_server.line_offset = 3

    content = ask(model_server, messages).choices[0].message.content

    assert content.startswith("```yaml\n") and content.endswith("\n```")
    review = yaml.safe_load(content[len("```yaml\n"):-len("```")])["review"]
    spots = [(i["relevant_file"].strip(), i["start_line"], i["end_line"])
             for i in review["key_issues_to_review"]]
    assert spots == [("src/app.py", 14, 14), ("docs/readme.py", 4, 4)]
    assert review["security_concerns"].strip() == "No"


def test_pr_agent_review_with_nothing_to_report(model_server: FakeModelServer) -> None:
    yaml = pytest.importorskip("yaml")
    messages = [{"role": "system", "content": PR_AGENT_SYSTEM},
                {"role": "user", "content": PR_AGENT_DIFF.replace("BUG", "fine")}]

    content = ask(model_server, messages).choices[0].message.content

    assert yaml.safe_load(content.strip("`").removeprefix("yaml\n"))["review"][
        "key_issues_to_review"] == []


def test_completion_has_openai_shape_and_deterministic_usage(model_server: FakeModelServer) -> None:
    completion = ask(model_server)

    assert completion.object == "chat.completion"
    assert completion.choices[0].finish_reason == "stop"
    text = completion.choices[0].message.content
    expected_prompt = sum(fake_token_count(m["content"]) for m in REVIEW)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == expected_prompt
    assert completion.usage.completion_tokens == fake_token_count(text)
    assert completion.usage.total_tokens == expected_prompt + fake_token_count(text)


def test_line_offset_hallucinate_and_wrap(model_server: FakeModelServer) -> None:
    model_server.line_offset = 5
    model_server.hallucinate = True
    model_server.wrap = "fence"
    text = ask(model_server).choices[0].message.content

    assert text.startswith("```json\n") and text.endswith("\n```")
    findings = json.loads(text[len("```json\n"):-len("\n```")])["findings"]
    assert [f["line"] for f in findings[:3]] == [16, 16, 17]
    assert findings[-1]["message"] == "Hallucinated finding"
    assert findings[-1]["code"] not in DIFF

    model_server.wrap = "prose"
    text = ask(model_server).choices[0].message.content
    assert text.startswith("Sure!") and '{"findings": [' in text


def test_explain_requests_get_plain_text(model_server: FakeModelServer) -> None:
    messages = [{"role": "system", "content": "You EXPLAIN code changes."}, REVIEW[1]]
    text = ask(model_server, messages).choices[0].message.content

    assert text.startswith("This change")
    assert "src/app.py" in text
    with pytest.raises(ValueError):
        json.loads(text)


def test_custom_reviewer_sees_the_request_body(model_server: FakeModelServer) -> None:
    seen: list[dict[str, Any]] = []

    def reviewer(body: dict[str, Any]) -> str:
        seen.append(body)
        return "custom answer"

    model_server.reviewer = reviewer

    assert ask(model_server).choices[0].message.content == "custom answer"
    assert seen[0]["messages"] == REVIEW


def test_requests_are_recorded_with_headers(model_server: FakeModelServer) -> None:
    ask(model_server, response_format={"type": "json_object"}, temperature=0)

    request = model_server.requests[0]
    assert request["model"] == "m"
    assert request["response_format"] == {"type": "json_object"}
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request["headers"]["authorization"] == "Bearer sk-test"
    assert request.get("headers") is request.headers
    assert request["body"]["messages"] == REVIEW
    assert request.path == "/v1/chat/completions"


def test_sse_stream_on_the_wire(model_server: FakeModelServer) -> None:
    body = {"model": "m", "messages": REVIEW, "stream": True,
            "stream_options": {"include_usage": True}}
    status, headers, data = raw_post(model_server, body)

    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [line[len("data: "):] for line in data.decode().split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert json.loads(text)["findings"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == fake_token_count(text)
    assert all(c["usage"] is None for c in chunks[:-1])


def test_stream_without_include_usage_sends_no_usage(model_server: FakeModelServer) -> None:
    chunks = list(ask(model_server, stream=True))

    assert chunks and all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_script_is_consumed_in_order_then_normal_answers(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 429, "retry_after": 7, "retry_after_ms": 7000}, "503", 401]

    with pytest.raises(openai.RateLimitError) as rate_limited:
        ask(model_server)
    assert rate_limited.value.response.headers["retry-after"] == "7"
    assert rate_limited.value.response.headers["retry-after-ms"] == "7000"
    assert rate_limited.value.body == {"message": "Rate limit reached for requests. Please try again.",
                                       "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    with pytest.raises(openai.InternalServerError) as unavailable:
        ask(model_server)
    assert unavailable.value.status_code == 503
    with pytest.raises(openai.AuthenticationError) as refused:
        ask(model_server)
    assert "sk-test" in str(refused.value)  # echoes the key, like some proxies: the worst case
    assert ask(model_server).choices[0].message.content.startswith('{"findings"')
    assert model_server.script == []
    assert len(model_server.requests) == 4


@pytest.mark.parametrize("status, error", [(400, openai.BadRequestError), (404, openai.NotFoundError),
                                           (500, openai.InternalServerError), (502, openai.InternalServerError)])
def test_status_faults_raise_the_sdk_error(model_server: FakeModelServer, status: int,
                                           error: type[Exception]) -> None:
    model_server.script = [status]
    with pytest.raises(error):
        ask(model_server)


def test_status_fault_with_custom_code_and_message(model_server: FakeModelServer) -> None:
    model_server.script = [{"status": 429, "code": "insufficient_quota", "message": "You exceeded your quota."}]
    with pytest.raises(openai.RateLimitError) as err:
        ask(model_server)
    assert err.value.code == "insufficient_quota"
    assert "You exceeded your quota." in str(err.value)


def test_answer_faults(model_server: FakeModelServer) -> None:
    model_server.script = ["invalid_json", "fenced", {"kind": "huge", "size": 300_000}]

    with pytest.raises(ValueError):
        json.loads(ask(model_server).choices[0].message.content)
    assert ask(model_server).choices[0].message.content.startswith("```json\n{")
    assert len(ask(model_server).choices[0].message.content) > 300_000


def test_garbage_reset_and_cut_break_the_http_exchange(model_server: FakeModelServer) -> None:
    model_server.script = ["garbage", "reset", "stream_cut"]

    status, headers, data = raw_post(model_server, {"model": "m", "messages": REVIEW})
    assert status == 200 and headers["content-type"] == "text/html" and data.startswith(b"<html>")
    with pytest.raises(openai.APIConnectionError):
        ask(model_server)
    with pytest.raises(openai.APIConnectionError):
        ask(model_server)  # half a JSON body, then the connection closes


def test_stream_cut_stops_before_finish_and_done(model_server: FakeModelServer) -> None:
    model_server.script = [{"kind": "stream_cut", "after": 2}, {"kind": "stream_cut", "abrupt": True}]

    chunks = list(ask(model_server, stream=True))
    assert len(chunks) == 3 and all(c.choices[0].finish_reason is None for c in chunks)
    with pytest.raises(openai.APIConnectionError):
        list(ask(model_server, stream=True))


def test_slow_fault_delays_the_answer(model_server: FakeModelServer) -> None:
    model_server.script = [{"kind": "slow", "seconds": 0.3}]
    start = time.monotonic()
    ask(model_server)
    assert time.monotonic() - start >= 0.3


def test_json_mode_400_names_response_format(model_server: FakeModelServer) -> None:
    model_server.answer_json_mode_400 = True

    with pytest.raises(openai.BadRequestError) as err:
        ask(model_server, response_format={"type": "json_object"})
    assert "response_format" in str(err.value)
    assert ask(model_server).choices[0].message.content  # without it: fine


def test_fault_rates_are_reproducible_with_a_seed() -> None:
    def outcomes(seed: int) -> list[str]:
        with FakeModelServer(seed=seed) as server:
            server.fault_rates = {"429": 0.3, "500": 0.2}
            client = sdk(server)
            results = []
            for _ in range(20):
                try:
                    client.chat.completions.create(model="m", messages=REVIEW)  # type: ignore[arg-type]
                    results.append("ok")
                except openai.APIStatusError as err:
                    results.append(str(err.status_code))
            return results

    first = outcomes(7)
    assert first == outcomes(7)
    assert {"ok", "429", "500"} <= set(first)


def test_counts_concurrent_requests(model_server: FakeModelServer) -> None:
    model_server.latency = 0.3
    threads = [threading.Thread(target=ask, args=(model_server,)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert model_server.peak_in_flight == 5
    # The client has its answer before the server thread counts the request as done.
    deadline = time.monotonic() + 5
    while model_server.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    assert model_server.in_flight == 0


def test_models_endpoint(model_server: FakeModelServer) -> None:
    models = sdk(model_server).models.list()
    assert [m.id for m in models] == ["fake-model"]


def test_rule_findings_helper_matches_the_answer(model_server: FakeModelServer) -> None:
    body = {"messages": REVIEW}
    assert json.loads(ask(model_server).choices[0].message.content)["findings"] == rule_findings(body)


def test_shutdown_is_fast_with_slow_requests_and_open_connections() -> None:
    server = FakeModelServer().start()
    server.script = [{"kind": "slow", "seconds": 30}]
    client = sdk(server, timeout=10)
    worker = threading.Thread(target=lambda: _swallow(client), daemon=True)
    worker.start()
    time.sleep(0.2)  # the slow request is being served

    start = time.monotonic()
    server.stop()
    assert time.monotonic() - start < 2
    worker.join(timeout=5)
    assert not worker.is_alive()


def _swallow(client: openai.OpenAI) -> None:
    try:
        client.chat.completions.create(model="m", messages=REVIEW)  # type: ignore[arg-type]
    except openai.OpenAIError:
        pass


def test_standalone_prints_base_url_and_serves() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "testing.fake_model_server", "--port", "0", "--latency", "0.01"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        answer = client.chat.completions.create(model="m", messages=REVIEW)  # type: ignore[arg-type]
        assert json.loads(answer.choices[0].message.content or "")["findings"]
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0


def test_a_call_is_reported_only_when_the_request_shows_the_def_it_disagrees_with() -> None:
    def body(*lines: str) -> dict[str, Any]:
        block = "\n".join(["### File: calc.py", *lines])
        return {"messages": [{"role": "user", "content": block}]}

    hunk = ["@@ 20-22 @@", " x = 1", "+total = scale(x)", "+other = obj.size(1)"]
    defs = ["3:def scale(value, factor):", "9:    def size(self, n):"]
    assert rule_findings(body(*hunk)) == []  # the def is not in the request: nothing to see
    [finding] = rule_findings(body(hunk[0], *defs, *hunk[1:]), line_offset=3)
    assert (finding["line"], finding["code"], finding["message"]) == (
        24, "total = scale(x)", "scale takes 2 argument(s), called with 1")
