"""`openlineage-pandas summary` prints the latest (or a named) run: datasets, numbered operations, files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from support import clean_env, read_events

BIN = Path(sys.executable).parent / "openlineage-pandas"

SCRIPT = """
    import pandas as pd
    pd.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"]}).to_csv("in.csv", index=False)
    df = pd.read_csv("in.csv")
    df.to_parquet("out.parquet")
"""


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(cwd / "store")})
    return subprocess.run([str(BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_summary_of_latest_and_named_run(tmp_path):
    (tmp_path / "job_one.py").write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "job_two.py").write_text("print('nothing to track')\n")
    assert _run(["run", "job_one.py"], tmp_path).returncode == 0
    assert _run(["run", "job_two.py"], tmp_path).returncode == 0

    latest = _run(["summary"], tmp_path)
    assert latest.returncode == 0 and "job default/job_two" in latest.stdout

    first_run = read_events(tmp_path / "store" / "events.jsonl")[0]["run"]["runId"]
    named = _run(["summary", first_run[:13]], tmp_path)
    out = named.stdout
    assert named.returncode == 0, named.stderr
    assert "job default/job_one  state COMPLETE" in out
    assert f"file:{tmp_path / 'in.csv'}  (csv, 2 columns, 3 rows" in out
    assert f"file:{tmp_path / 'out.parquet'}  (parquet, 2 columns, 3 rows" in out
    assert "1. DataFrame.to_csv" in out and "2. pandas.read_csv" in out and "3. DataFrame.to_parquet" in out
    assert f"{tmp_path / 'out.parquet'}  =>  dataset file / {tmp_path / 'out.parquet'}" in out
    assert "a <- in.csv:a [IDENTITY]" in out


def test_summary_without_events_explains(tmp_path):
    result = _run(["summary"], tmp_path)
    assert result.returncode == 1 and "No events" in result.stderr
    assert _run(["summary", "ffff"], tmp_path).returncode == 1


def test_summary_with_a_bad_setting_names_it_instead_of_a_traceback(tmp_path):
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": "  "})
    result = subprocess.run([str(BIN), "summary"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "OPENLINEAGE_PANDAS_DIR" in result.stderr and "Traceback" not in result.stderr
