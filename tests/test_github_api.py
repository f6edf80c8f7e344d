"""The GitHub REST client against a real HTTP server that behaves like GitHub."""
from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from aider_hooks.errors import GitHubError
from aider_hooks.pr.github.api import (
    DIFF_MEDIA,
    GitHubClient,
    PullRequestAPI,
    RetryPolicy,
    next_page_url,
)
from testing.fake_github_server import READ_ONLY_TOKEN, WRITE_TOKEN, FakeGitHub

DIFF = """diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -1,2 +1,3 @@
 import os
+x = 1
 print(os)
"""

FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, secondary_min_wait=0.5, max_wait=30.0,
                   write_interval=0.0, timeout=5.0)


class FrozenClock:
    """Wall time that moves only when we sleep, so waits are exact and instant."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(page_size=2) as server:
        server.add_pull(7, base_sha="a" * 40, head_sha="b" * 40, diff=DIFF)
        yield server


def make_client(github: FakeGitHub, clock: FrozenClock, *, token: str = WRITE_TOKEN,
                policy: RetryPolicy = FAST) -> GitHubClient:
    return GitHubClient(github.api_url, token, policy=policy, sleep=clock.sleep, clock=clock)


def test_lists_every_page_of_comments(github: FakeGitHub) -> None:
    for n in range(5):
        github.seed_issue_comment(7, body=f"comment {n}")
    api = PullRequestAPI(make_client(github, FrozenClock()), github.repo, 7)

    bodies = [c["body"] for c in api.issue_comments()]

    assert bodies == [f"comment {n}" for n in range(5)]
    assert len([r for r in github.requests if r.path.endswith("/comments")]) == 3


def test_diff_comes_in_the_diff_media_type(github: FakeGitHub) -> None:
    api = PullRequestAPI(make_client(github, FrozenClock()), github.repo, 7)

    assert api.diff() == DIFF
    assert github.requests[-1].accept == DIFF_MEDIA


def test_bad_token_is_a_clear_401_without_the_token(github: FakeGitHub) -> None:
    secret = "test-wrong-token-123456789"
    client = make_client(github, FrozenClock(), token=secret)

    with pytest.raises(GitHubError) as caught:
        PullRequestAPI(client, github.repo, 7).get()

    assert caught.value.status == 401
    assert "GITHUB_TOKEN" in str(caught.value)
    assert secret not in str(caught.value) and secret not in repr(client)


def test_read_only_token_gets_403_on_writes_only(github: FakeGitHub) -> None:
    api = PullRequestAPI(make_client(github, FrozenClock(), token=READ_ONLY_TOKEN), github.repo, 7)
    assert api.get()["number"] == 7

    with pytest.raises(GitHubError) as caught:
        api.create_issue_comment("hello")

    assert caught.value.status == 403
    assert "pull-requests: write" in str(caught.value)
    assert READ_ONLY_TOKEN not in str(caught.value)


def test_429_waits_as_long_as_retry_after_says(github: FakeGitHub) -> None:
    github.script(429, headers={"Retry-After": "7"}, body={"message": "slow down"})
    clock = FrozenClock()

    pull = PullRequestAPI(make_client(github, clock), github.repo, 7).get()

    assert pull["number"] == 7
    assert clock.sleeps == [7.0]


def test_primary_rate_limit_waits_until_the_reset_time(github: FakeGitHub) -> None:
    clock = FrozenClock()
    github.script(403, headers={"x-ratelimit-remaining": "0",
                                "x-ratelimit-reset": str(int(clock.now) + 12)},
                  body={"message": "API rate limit exceeded"})

    PullRequestAPI(make_client(github, clock), github.repo, 7).get()

    assert clock.sleeps == [13.0]  # until the reset, plus a second for rounding


def test_secondary_rate_limit_waits_the_minimum_then_longer_each_time(github: FakeGitHub) -> None:
    github.script(403, body={"message": "You have exceeded a secondary rate limit."},
                  method="POST", times=3)
    clock = FrozenClock()

    PullRequestAPI(make_client(github, clock), github.repo, 7).create_issue_comment("hi")

    assert clock.sleeps == [0.5, 1.0, 2.0]  # GitHub: a minute at least, then exponentially
    assert [c["body"] for c in github.issue_comments] == ["hi"]


def test_a_wait_longer_than_the_cap_stops_with_a_message(github: FakeGitHub) -> None:
    github.script(429, headers={"retry-after": "3600"})
    clock = FrozenClock()

    with pytest.raises(GitHubError, match="re-run the job later"):
        PullRequestAPI(make_client(github, clock), github.repo, 7).get()
    assert clock.sleeps == []


def test_gives_up_after_the_last_attempt(github: FakeGitHub) -> None:
    github.script(429, headers={"retry-after": "1"}, times=10)
    clock = FrozenClock()

    with pytest.raises(GitHubError, match="rate limit") as caught:
        PullRequestAPI(make_client(github, clock), github.repo, 7).get()
    assert caught.value.status == 429
    assert clock.sleeps == [1.0, 1.0, 1.0]  # four attempts, three waits


def test_server_errors_are_retried_for_reads_but_writes_are_not_repeated(
        github: FakeGitHub) -> None:
    github.script(502, method="GET")
    clock = FrozenClock()
    api = PullRequestAPI(make_client(github, clock), github.repo, 7)
    assert api.get()["number"] == 7
    assert clock.sleeps == [0.01]

    github.script(502, method="POST")
    with pytest.raises(GitHubError) as caught:
        api.create_issue_comment("once")
    assert caught.value.status == 502
    assert len([r for r in github.requests if r.method == "POST"]) == 1


def test_content_creating_requests_are_paced(github: FakeGitHub) -> None:
    clock = FrozenClock()
    paced = RetryPolicy(max_attempts=2, write_interval=1.0, timeout=5.0)
    api = PullRequestAPI(make_client(github, clock, policy=paced), github.repo, 7)

    api.create_issue_comment("one")
    api.get()  # reads are not paced
    api.create_issue_comment("two")
    api.create_issue_comment("three")

    assert clock.sleeps == [1.0, 1.0]


def test_token_is_never_sent_to_another_host(github: FakeGitHub) -> None:
    client = make_client(github, FrozenClock())
    with pytest.raises(GitHubError, match="refusing to send the GitHub token"):
        client.request("GET", "http://127.0.0.1:9/elsewhere")

    with FakeGitHub() as elsewhere:
        # A redirect to another origin: urllib follows it, but without our Authorization.
        github.script(302, headers={"Location": f"{elsewhere.api_url}/repos/octo/demo/pulls/7"})
        with pytest.raises(GitHubError) as caught:
            PullRequestAPI(client, github.repo, 7).get()
        assert caught.value.status == 401  # the other server saw no token
        assert len(elsewhere.requests) == 1


def test_unreachable_api_is_one_line_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FrozenClock()
    client = GitHubClient(f"http://127.0.0.1:{port}", WRITE_TOKEN, policy=FAST,
                          sleep=clock.sleep, clock=clock)

    with pytest.raises(GitHubError, match="cannot reach GitHub") as caught:
        client.get_json("/repos/octo/demo/pulls/1")
    assert "\n" not in str(caught.value) and WRITE_TOKEN not in str(caught.value)


def test_next_page_url_reads_link_headers() -> None:
    header = ('<https://api.github.com/x?page=3>; rel="next", '
              '<https://api.github.com/x?page=9>; rel="last"')
    assert next_page_url(header) == "https://api.github.com/x?page=3"
    assert next_page_url('<https://api.github.com/x?page=1>; rel="prev"') is None
    assert next_page_url("") is None


def test_empty_token_or_bad_url_is_refused() -> None:
    with pytest.raises(GitHubError, match="token is empty"):
        GitHubClient("https://api.github.com", "  ")
    with pytest.raises(GitHubError, match="not an API URL"):
        GitHubClient("api.github.com", WRITE_TOKEN)
