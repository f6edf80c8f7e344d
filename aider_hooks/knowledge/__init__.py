"""What the repository teaches the reviewer (docs/teaching.md): project guidance, suppressions,
the baseline, feedback and its learnings, verification, and fine-tuning data.

Everything here lives in ``.aider-review/`` at the repository root (committed, shared by the
team) or, for what belongs to one clone, under the git directory (``.git/aider-review/``).
Nothing in ``.aider-review/`` is written except by the command that owns the file, and always
atomically (``files.atomic_write``). A damaged file never fails a review: it is a warning and
a skipped entry; the commands that read a file on purpose (``feedback``, ``finetune``) stop
with one line naming the file and line, exit 2.

Modules are imported only by the runs that need them: nothing of this package is loaded on the
nothing-staged path.
"""
from __future__ import annotations

KNOWLEDGE_DIR = ".aider-review"
BASELINE_FILE = f"{KNOWLEDGE_DIR}/baseline.json"
FEEDBACK_FILE = f"{KNOWLEDGE_DIR}/feedback.jsonl"
INSTRUCTIONS_FILE = f"{KNOWLEDGE_DIR}/instructions.md"
# Instruction files other tools read too (knowledge/instructions.py).
WHOLE_REPOSITORY_FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md")
SCOPED_DIRECTORY = ".github/instructions"
SCOPED_SUFFIX = ".instructions.md"
# Under the git directory: the last run's findings, which `aider-review feedback` looks up.
LAST_FINDINGS_FILE = "aider-review/last-findings.json"
