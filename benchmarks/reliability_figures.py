"""The figures of RELIABILITY.md, measured: run the reliability suites and total what they saw.

    python benchmarks/reliability_figures.py            # prints a Markdown table
    python benchmarks/reliability_figures.py --json     # the raw totals

Each suite records what it injected and what came out (``testing.reliability_support.
record_figure``) into a file named by ``AIDER_REVIEW_FIGURES``; this script sets it, runs
pytest on those suites, and adds the records up. Nothing here is estimated: a figure that no
test recorded is not printed. Exits 1 when a test failed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("tests/test_faults.py", "tests/test_data_safety.py", "tests/test_secrets_e2e.py",
          "tests/test_prompt_injection.py", "tests/test_hostile_inputs.py",
          "tests/test_properties.py", "tests/test_cache_load.py")


def run_suites(figures: Path) -> tuple[int, str]:
    env = dict(os.environ, AIDER_REVIEW_FIGURES=str(figures))
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             *SUITES], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=False)
    summary = (result.stdout.strip().splitlines() or ["(no pytest output)"])[-1]
    return result.returncode, summary


def load(figures: Path) -> dict[str, list[dict[str, Any]]]:
    by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if figures.exists():
        for line in figures.read_text().splitlines():
            record = json.loads(line)
            by_name[record.pop("name")].append(record)
    return by_name


def total(records: list[dict[str, Any]], key: str) -> int:
    return sum(int(r.get(key, 0)) for r in records)


def totals(by_name: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    storm = (by_name.get("storm") or [{}])[-1]
    every_kind = (by_name.get("storm-all-kinds") or [{}])[-1]
    fault_runs = [r for name, rs in by_name.items() if name not in ("storm", "storm-all-kinds")
                  and "hunks" in (rs[0] if rs else {}) and "faults" in rs[0] for r in rs]
    secrets = by_name.get("secrets-to-model", [])
    corpus = by_name.get("corpus-to-model", [])
    hostile = by_name.get("hostile-input", [])
    return {
        "storm": storm,
        "storm_all_kinds": every_kind,
        "fault_scenarios": {"runs": len(fault_runs), "faults": total(fault_runs, "faults"),
                            "hunks": total(fault_runs, "hunks"),
                            "reviewed": total(fault_runs, "reviewed"),
                            "failed": total(fault_runs, "failed")},
        "deadline": (by_name.get("deadline-held") or [{}])[-1],
        "outside_the_diff": {
            "sent": total(by_name.get("outside-the-diff", []), "findings_sent")
            + total(by_name.get("outside-findings", []), "sent"),
            "dropped": total(by_name.get("outside-the-diff", []), "dropped")
            + total(by_name.get("outside-findings", []), "dropped"),
            "applied_or_posted": total(by_name.get("outside-findings", []), "applied")
            + total(by_name.get("outside-the-diff", []), "posted_outside")},
        "secrets": {"corpus": max((r["secrets"] for r in secrets), default=0),
                    "kinds": max((r["kinds"] for r in secrets), default=0),
                    "runs": len(secrets), "requests_searched": total(secrets, "requests"),
                    "leaked": total(secrets, "leaked")},
        "corpus": {"records": max((r["records"] for r in corpus), default=0),
                   "secrets": max((r["secrets"] for r in corpus), default=0),
                   "formats": max((r["formats"] for r in corpus), default=0),
                   "runs": len(corpus), "requests_searched": total(corpus, "requests"),
                   "leaked": total(corpus, "leaked")},
        "credentials": {"runs": len(by_name.get("key-echo", [])),
                        "leaked": total(by_name.get("key-echo", []), "leaked")},
        "injection": {"runs": len(by_name.get("injection-contained", [])),
                      "requests": total(by_name.get("injection-contained", []), "requests"),
                      "escaped": total(by_name.get("injection-contained", []), "escaped"),
                      "output_runs": len(by_name.get("model-output-text", [])),
                      "commands_planted": total(by_name.get("model-output-text", []),
                                                "commands_planted"),
                      "executed": total(by_name.get("model-output-text", []), "executed")},
        "data_safety": {"read_only_runs": len(by_name.get("read-only-command", [])),
                        "changed": total(by_name.get("read-only-command", []), "changed"),
                        "apply_undo_exact": total(by_name.get("fix-apply-undo", []),
                                                  "restored_exactly"),
                        "apply_refused_changed": total(by_name.get("fix-apply-refused", []),
                                                       "changed")},
        "hostile": {"runs": len(hostile),
                    "outcomes": dict(Counter(r["outcome"] for r in hostile)),
                    "exits": dict(Counter(str(r["exit"]) for r in hostile)),
                    "big_file_lines": max((r["lines"] for r in by_name.get("big-file", [])),
                                          default=0),
                    "many_files": max((r["files"] for r in by_name.get("many-files", [])),
                                      default=0)},
        "properties": {"diffs": len(by_name.get("property-parse", [])),
                       "hunks": total(by_name.get("property-parse", []), "hunks"),
                       "findings": total(by_name.get("property-anchor", []), "findings"),
                       "anchored": total(by_name.get("property-anchor", []), "anchored"),
                       "any_text": len(by_name.get("property-any-text", [])),
                       "any_bytes": len(by_name.get("property-any-bytes", []))},
        "cache": {"processes": max((r["processes"] for r in by_name.get("cache-shared", [])),
                                   default=0),
                  "locked": total(by_name.get("cache-shared", []), "locked"),
                  "damaged_cases": len(by_name.get("cache-damaged", [])),
                  "crashed": total(by_name.get("cache-damaged", []), "crashed")},
    }


def markdown(t: dict[str, Any], pytest_summary: str) -> str:
    s, a, f = t["storm"], t["storm_all_kinds"], t["fault_scenarios"]
    rows = [
        ("Storm (30% 429, 10% 500, 5% slow, 5% garbage)",
         f"{s.get('faults')} faults {s.get('by_kind')}, {s.get('requests')} requests; "
         f"{s.get('reviewed')}/{s.get('hunks')} hunks reviewed, {s.get('failed')} failed, "
         f"{s.get('seconds')} s"),
        ("Storm of every fault kind",
         f"{a.get('faults')} faults {a.get('by_kind')}; {a.get('reviewed')} reviewed + "
         f"{a.get('failed')} failed = {a.get('hunks')} hunks, {a.get('seconds')} s"),
        ("Single-fault scenarios",
         f"{f['runs']} runs, {f['faults']} faults; {f['reviewed']} reviewed + {f['failed']} "
         f"failed of {f['hunks']} hunks (silently dropped: {f['hunks'] - f['reviewed'] - f['failed']})"),
        ("Total deadline (every answer hangs)",
         f"deadline {t['deadline'].get('deadline')} s: engine stopped after "
         f"{t['deadline'].get('elapsed')} s ({t['deadline'].get('wall')} s with start-up), "
         f"{t['deadline'].get('failed')}/{t['deadline'].get('hunks')} hunks listed failed"),
        ("Findings outside the diff",
         f"{t['outside_the_diff']['sent']} sent, {t['outside_the_diff']['dropped']} dropped, "
         f"{t['outside_the_diff']['applied_or_posted']} posted or applied"),
        ("Secrets to the model",
         f"{t['secrets']['corpus']} fake secrets of {t['secrets']['kinds']} kinds x "
         f"{t['secrets']['runs']} commands, {t['secrets']['requests_searched']} requests "
         f"searched, {t['secrets']['leaked']} leaked"),
        ("Secrets in many formats to the model",
         f"{t['corpus']['records']} records ({t['corpus']['secrets']} distinct fake secrets, "
         f"{t['corpus']['formats']} formats) x {t['corpus']['runs']} commands, "
         f"{t['corpus']['requests_searched']} requests searched, {t['corpus']['leaked']} leaked"),
        ("API key echoed by a 401",
         f"{t['credentials']['runs']} runs, {t['credentials']['leaked']} leaked"),
        ("Prompt injection",
         f"{t['injection']['runs']} commands, {t['injection']['requests']} requests, "
         f"{t['injection']['escaped']} escaped the block; {t['injection']['commands_planted']} "
         f"shell commands planted in {t['injection']['output_runs']} runs, "
         f"{t['injection']['executed']} executed"),
        ("Read-only commands",
         f"{t['data_safety']['read_only_runs']} runs, {t['data_safety']['changed']} changed "
         f"the index or work tree; fix --apply undone exactly "
         f"{t['data_safety']['apply_undo_exact']}x; refused patch changed "
         f"{t['data_safety']['apply_refused_changed']} files"),
        ("Hostile inputs",
         f"{t['hostile']['runs']} CLI runs {t['hostile']['outcomes']}, exit codes "
         f"{t['hostile']['exits']}; {t['hostile']['big_file_lines']}-line file, "
         f"{t['hostile']['many_files']} files"),
        ("Property tests",
         f"{t['properties']['diffs']} generated diffs ({t['properties']['hunks']} hunks), "
         f"{t['properties']['findings']} findings ({t['properties']['anchored']} anchored), "
         f"{t['properties']['any_text']} arbitrary texts, {t['properties']['any_bytes']} "
         "arbitrary byte strings"),
        ("Cache under load and damage",
         f"{t['cache']['processes']} processes on one file, {t['cache']['locked']} 'locked'; "
         f"{t['cache']['damaged_cases']} damaged files, {t['cache']['crashed']} crashes"),
    ]
    lines = ["| Promise | Measured |", "| --- | --- |"]
    lines += [f"| {promise} | {figure} |" for promise, figure in rows]
    lines.append("")
    lines.append(f"pytest: {pytest_summary}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the raw totals as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        figures = Path(folder) / "figures.jsonl"
        code, summary = run_suites(figures)
        result = totals(load(figures))
    print(json.dumps(result, indent=2) if args.json else markdown(result, summary))
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
