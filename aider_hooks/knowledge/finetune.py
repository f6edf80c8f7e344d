"""Fine-tuning data: reviewed requests joined to feedback, as OpenAI chat fine-tuning JSONL.

One example per reviewed request (kept in the response cache, ``keep-requests``) that produced
a finding with feedback: ``{"messages": [system, user, assistant]}`` with the system and user
messages exactly as sent (redacted then, and redacted again here), and as the assistant
message the findings JSON holding only the findings not marked wrong.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from aider_hooks.knowledge.feedback import Feedback, wrong_fingerprints
from aider_hooks.knowledge.files import KnowledgeError

if TYPE_CHECKING:
    from aider_hooks.model.cache import ResponseCache

MIN_EXAMPLES = 10  # the fewest examples OpenAI's fine-tuning API accepts
ROLES = ("system", "user", "assistant")


def build_examples(entries: Sequence[Feedback], cache: ResponseCache) -> list[dict[str, Any]]:
    from aider_hooks.redact import redact_text

    wrong = wrong_fingerprints(entries)
    wanted = list(dict.fromkeys(e.fingerprint for e in entries))
    examples: list[dict[str, Any]] = []
    for request in cache.reviewed_requests(wanted):
        sent = [m for m in request.messages if m.get("role") in ("system", "user")]
        if [m.get("role") for m in sent] != ["system", "user"]:
            continue
        kept = [finding for fingerprint, finding in request.findings if fingerprint not in wrong]
        answer = json.dumps({"findings": kept}, ensure_ascii=False)
        messages = []
        for role, content in ((sent[0]["role"], sent[0]["content"]),
                              (sent[1]["role"], sent[1]["content"]), ("assistant", answer)):
            clean, _ = redact_text(str(content))
            messages.append({"role": role, "content": clean})
        examples.append({"messages": messages})
    return examples


def validate_lines(text: str, where: str) -> int:
    """Check a chat fine-tuning JSONL file; the number of examples, or ``KnowledgeError``
    naming the first bad line (or too few examples)."""
    count = 0
    for number, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as err:
            raise KnowledgeError(where, f"not a JSON line: {err.msg}", number) from None
        messages = item.get("messages") if isinstance(item, dict) else None
        if not isinstance(messages, list) or len(messages) < 2:
            raise KnowledgeError(where, 'each line needs "messages": a list of at least two '
                                        "messages", number)
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ROLES \
                    or not isinstance(message.get("content"), str):
                raise KnowledgeError(where, "each message needs a role (system, user or "
                                            "assistant) and a text content", number)
        if messages[-1]["role"] != "assistant":
            raise KnowledgeError(where, "the last message of an example must be the "
                                        "assistant's", number)
        count += 1
    if count < MIN_EXAMPLES:
        raise KnowledgeError(where, f"{count} example(s): OpenAI fine-tuning needs at least "
                                    f"{MIN_EXAMPLES}")
    return count


def to_jsonl(examples: Sequence[dict[str, Any]]) -> str:
    return "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in examples)
