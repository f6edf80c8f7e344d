"""``aider-review finetune export FILE | start FILE --base-model M | status JOB``.

``export`` joins the feedback log to the review requests kept in the response cache and writes
OpenAI chat fine-tuning JSONL (at least 10 examples, or exit 2 and nothing written).
``start`` validates the file, uploads it (``client.files.create(purpose="fine-tune")``) and
starts a job (``client.fine_tuning.jobs.create``); it prints the job id. ``status`` prints the
job's state and, once it has succeeded, the model name to put in the ``model`` setting.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from aider_hooks.errors import EXIT_OK, AiderReviewError, ConfigError, InputError, ModelUnavailable

PROG = "aider-review"


def run(args: argparse.Namespace) -> int:
    if args.action == "export":
        return export(args)
    if args.action == "start":
        return start(args)
    return status(args)


def export(args: argparse.Namespace) -> int:
    from aider_hooks.cli.cache import cache_file
    from aider_hooks.diff.git import find_repo_root
    from aider_hooks.knowledge import FEEDBACK_FILE
    from aider_hooks.knowledge.feedback import read_feedback
    from aider_hooks.knowledge.files import KnowledgeError, KnowledgeReader, atomic_write
    from aider_hooks.knowledge.finetune import MIN_EXAMPLES, build_examples, to_jsonl
    from aider_hooks.model.cache import ResponseCache

    root = find_repo_root(Path.cwd())
    entries, problems = read_feedback(KnowledgeReader(root))
    if problems:
        raise problems[0]
    if not entries:
        raise KnowledgeError(FEEDBACK_FILE, "no feedback yet: mark findings with "
                                            "`aider-review feedback FINGERPRINT --useful|--wrong`")
    path = cache_file(args.cache_path)
    if not path.exists():
        raise InputError(f"no response cache at {path}: the reviewed requests are kept there")
    with ResponseCache(path, on_warning=_warn) as cache:
        examples = build_examples(entries, cache)
    if len(examples) < MIN_EXAMPLES:
        raise KnowledgeError(FEEDBACK_FILE, f"only {len(examples)} reviewed request(s) with "
                                            f"feedback are in the cache; OpenAI fine-tuning "
                                            f"needs at least {MIN_EXAMPLES} examples (nothing "
                                            "written): review more and mark more findings")
    target = Path(args.file)
    if not target.parent.is_dir():
        raise InputError(f"cannot write {target}: no such directory {target.parent}")
    atomic_write(target, to_jsonl(examples).encode("utf-8"))
    print(f"wrote {len(examples)} example(s) to {target}")
    return EXIT_OK


def start(args: argparse.Namespace) -> int:
    path = Path(args.file)
    _validate(path)
    client = _client(args)
    with open(path, "rb") as handle:
        uploaded = _call(lambda: client.files.create(file=handle, purpose="fine-tune"))
    job = _call(lambda: client.fine_tuning.jobs.create(training_file=uploaded.id,
                                                       model=args.base_model))
    print(job.id)
    print(f"{PROG}: uploaded {path} as {uploaded.id}; follow the job with "
          f"`aider-review finetune status {job.id}`", file=sys.stderr)
    return EXIT_OK


def status(args: argparse.Namespace) -> int:
    client = _client(args)
    job = _call(lambda: client.fine_tuning.jobs.retrieve(args.job))
    print(f"status: {job.status}")
    if getattr(job, "fine_tuned_model", None):
        print(f"model: {job.fine_tuned_model}")
        print(f'# to review with it: model = "{job.fine_tuned_model}" in [tool.aider-review]')
    error = getattr(job, "error", None)
    message = getattr(error, "message", None) if error is not None else None
    if message:
        print(f"error: {' '.join(str(message).split())}")
    return EXIT_OK


def _validate(path: Path) -> None:
    from aider_hooks.knowledge.files import decode_text
    from aider_hooks.knowledge.finetune import validate_lines

    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from None
    validate_lines(decode_text(data, str(path)), str(path))


def _client(args: argparse.Namespace) -> Any:
    from aider_hooks.diff.git import find_repo_root
    from aider_hooks.masking import remember_secret
    from aider_hooks.model.sdk_import import import_openai
    from aider_hooks.settings import load_settings

    try:
        root: Path | None = find_repo_root(Path.cwd())
    except InputError:
        root = None
    settings = load_settings(root, {"base_url": args.base_url})
    remember_secret(settings.api_key)
    if not settings.model_configured:
        raise ConfigError("fine-tuning needs an endpoint: set OPENAI_API_KEY (or "
                          "OPENAI_BASE_URL / --base-url)")
    openai = import_openai()
    return openai.OpenAI(base_url=settings.base_url, api_key=settings.effective_api_key,
                         timeout=settings.timeout, max_retries=2)


def _call(request: Any) -> Any:
    """One SDK call; its failures as one-line errors (unreachable: exit 3, refused: exit 2)."""
    from aider_hooks.model.sdk_import import import_openai

    openai = import_openai()
    try:
        return request()
    except openai.APIConnectionError as err:
        raise ModelUnavailable(f"cannot reach the endpoint: {err}") from None
    except openai.APIStatusError as err:
        body = err.body if isinstance(err.body, dict) else {}
        detail = body.get("message") if isinstance(body, dict) else None
        raise AiderReviewError(f"the endpoint refused the request (HTTP {err.status_code}): "
                               f"{detail or err.message}") from None


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)
