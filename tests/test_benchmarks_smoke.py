"""The benchmark harness keeps working: its smoke mode (tiny sizes, every section once) runs clean in CI.

The numbers themselves live in docs/benchmarks.md; no timing is asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys

from support import REPO, clean_env


def test_benchmark_smoke_mode_runs_every_section(tmp_path):
    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--smoke", "--no-install", "--out", str(out),
         "--cache", str(tmp_path / "cache")],
        cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "results.json").read_text())
    assert (out / "results.md").read_text().startswith("# Benchmark results")
    assert report["conditions"]["openlineage-pandas"]["available"] is True
    assert report["conditions"]["untracked"]["available"] is True
