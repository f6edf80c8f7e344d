"""What the engine needs from a model: the ``ChatBackend`` protocol and its registry.

A backend sends chat messages and returns ``Completion``s; it raises nothing but
``errors.ModelUnavailable`` (the endpoint is down: never block a commit), ``ModelAuthError``
and ``ModelRequestError`` (this one request failed), so the engine never sees a provider's own
exceptions. The official openai SDK is the one built-in backend (``openai_backend.py``);
another is one module implementing the protocol plus a line in ``BACKENDS``.
"""
from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aider_hooks.settings import Settings

Messages = Sequence[Mapping[str, str]]


class Deadline:
    """A point in monotonic time after which no model request starts. ``seconds``: the
    run's whole allowance (messages name it); ``remaining``: what is left of it now, when
    that is less (a deadline handed to another process part-way)."""

    def __init__(self, seconds: float, remaining: float | None = None) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + (seconds if remaining is None else remaining)

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0


@dataclass(frozen=True)
class Completion:
    """One answer. ``attempts``: HTTP requests this call made, retries and fallbacks included.
    ``truncated``: the model stopped at the token limit (streamed answers only: a complete()
    that hits the limit raises ``ModelRequestError`` saying to raise max-tokens)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    attempts: int
    truncated: bool = False


class ChatBackend(Protocol):
    requests: int  # HTTP requests made so far, retries included (the report's stats)

    def complete(self, messages: Messages, *, json_mode: bool | None = None) -> Completion:
        """The whole answer to ``messages``."""

    def stream(self, messages: Messages, on_text: Callable[[str], None]) -> Completion:
        """The answer, passed to ``on_text`` piece by piece as it arrives."""

    def close(self) -> None:
        """Release connections; the backend is not used again."""


# name -> "module:factory"; a factory takes (settings, deadline).
BACKENDS: dict[str, str] = {
    "openai": "aider_hooks.model.openai_backend:OpenAIBackend",
}


def open_backend(settings: Settings, deadline: Deadline, *, name: str = "openai") -> ChatBackend:
    """The backend ``name`` for one run. Imports its module (and its SDK) only now."""
    module, _, factory = BACKENDS[name].partition(":")
    backend: ChatBackend = getattr(importlib.import_module(module), factory)(settings, deadline)
    return backend
