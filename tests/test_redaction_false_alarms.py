"""The false-alarm benchmark's measuring function, on a local diff (the benchmark itself,
benchmarks/redaction_false_alarms.py, downloads release archives; tests use no network)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "redaction_false_alarms", ROOT / "benchmarks" / "redaction_false_alarms.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


DIFF = '''\
diff --git a/src/app/client.py b/src/app/client.py
index 1111111..2222222 100644
--- a/src/app/client.py
+++ b/src/app/client.py
@@ -1,4 +1,8 @@
 import os
-TIMEOUT = 10
+TIMEOUT = 30
+RETRIES = 3
+
+def connect(user, password=None):
+    return Session(user=user, password=password or os.environ["APP_PASSWORD"])
 
 def close():
     pass
@@ -20,2 +24,3 @@ def helper():
     x = 1
+    api_key = "Zq8Lm2Xp4Rt6Vw9Yb1Nc3Ke5"
     return x
diff --git a/docs/usage.md b/docs/usage.md
new file mode 100644
--- /dev/null
+++ b/docs/usage.md
@@ -0,0 +1,3 @@
+# Usage
+
+Set `APP_PASSWORD` and run `app --verbose`; see https://example.com/docs/setup-guide-2024.
diff --git a/old.txt b/old.txt
deleted file mode 100644
--- a/old.txt
+++ /dev/null
@@ -1 +0,0 @@
-password = hunter2
'''


def test_added_lines_are_grouped_by_file_and_run() -> None:
    blocks = list(benchmark().added_blocks(DIFF))

    assert [(path, len(lines)) for path, lines in blocks] == [
        ("src/app/client.py", 5), ("src/app/client.py", 1), ("docs/usage.md", 3)]


def test_the_share_of_altered_lines_is_measured_on_a_local_diff() -> None:
    figures = benchmark().measure_diff(DIFF, keep_examples=5)

    assert (figures.files, figures.lines) == (2, 9)
    assert figures.altered == 1  # only the api_key line; the removed file does not count
    assert figures.redactions == 1
    assert figures.private_keys == 0 and figures.names_flagged == 0
    assert abs(figures.rate - 1 / 9) < 1e-9
    (path, before, after), = figures.examples
    assert path == "src/app/client.py" and "Zq8Lm2" in before and "[REDACTED:" in after
