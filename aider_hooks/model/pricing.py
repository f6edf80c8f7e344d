"""The estimated cost line of the PR summary, so nobody pays for reviews they cannot see.

Prices are USD per million tokens, (prompt, completion). ``prices`` in the config wins; the
built-in table holds OpenAI list prices (mid-2025) and is used only when the requests go to
OpenAI itself: a local server or another provider with a same-named model costs something else.
"""
from __future__ import annotations

from collections.abc import Mapping

OPENAI_LIST_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}


def price_for(model: str, prices: Mapping[str, tuple[float, float]],
              base_url: str | None) -> tuple[float, float] | None:
    """(prompt, completion) USD per 1M tokens for ``model``, or None when unknown."""
    for name in (model, model.rsplit("/", 1)[-1]):
        if name in prices:
            return prices[name]
    if base_url is None or "api.openai.com" in base_url:
        return OPENAI_LIST_PRICES.get(model)
    return None


def estimate_cost(model: str | None, prompt_tokens: int, completion_tokens: int, *,
                  prices: Mapping[str, tuple[float, float]], base_url: str | None) -> str:
    """The cost line of the summary: ``$0.0123``, or why it is not known."""
    if model is None:
        return "$0 (no model used)"
    price = price_for(model, prices, base_url)
    if price is None:
        return "unknown (add the model to `prices` in the config)"
    cost = (prompt_tokens * price[0] + completion_tokens * price[1]) / 1_000_000
    return f"${cost:.4f}" if cost < 1 else f"${cost:.2f}"
