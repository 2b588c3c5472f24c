"""With every internal hook, provenance and emission step made to fail, the user's pipeline still runs and
writes byte-identical outputs, with one warning per failing component."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from support import REPO, clean_env

EXAMPLE = REPO / "examples" / "housing"
BIN = Path(sys.executable).parent / "openlineage-pandas"
OUTPUTS = ("predictions.csv", "features.parquet", "model.joblib")


def _run(cmd: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(cwd / "store"), **extra})
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_pipeline_survives_every_internal_failure_with_identical_outputs(tmp_path):
    data = tmp_path / "housing.csv"
    assert _run([sys.executable, str(EXAMPLE / "make_data.py"), "--rows", "2000", "--out", str(data)],
                tmp_path).returncode == 0
    pipeline = [str(EXAMPLE / "pipeline.py"), "--data", str(data), "--out"]
    plain = _run([sys.executable, *pipeline, str(tmp_path / "plain")], tmp_path)
    faulty = _run([str(BIN), "run", *pipeline, str(tmp_path / "faulty")], tmp_path,
                  OPENLINEAGE_PANDAS_FAULT_INJECTION="true")
    assert plain.returncode == 0 and faulty.returncode == 0, faulty.stderr
    assert faulty.stdout == plain.stdout
    for name in OUTPUTS:
        assert (tmp_path / "faulty" / name).read_bytes() == (tmp_path / "plain" / name).read_bytes(), name

    warnings = re.findall(r"openlineage-pandas: (.+?) failed \(InjectedFault", faulty.stderr)
    assert warnings, faulty.stderr
    assert max(Counter(warnings).values()) == 1, Counter(warnings)  # one warning per failing component
    assert "emission" in warnings or "event building" in warnings
    assert any(w.startswith("hook ") for w in warnings)
    assert "Traceback" not in faulty.stderr
