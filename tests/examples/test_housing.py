"""The housing example end to end under the zero-code runner: valid, Marquez-clean events, and the
same outputs as an untracked run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
from support import REPO, check_events_file_with_cli, clean_env, lineage_edges, outputs_of, read_events

EXAMPLE = REPO / "examples" / "housing"
BIN = Path(sys.executable).parent / "openlineage-pandas"


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = clean_env({"OPENLINEAGE_PANDAS_DIR": str(cwd / "store")})
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result


def test_housing_pipeline_tracked_equals_untracked_and_events_are_clean(tmp_path):
    data = tmp_path / "housing.csv"
    _run([sys.executable, str(EXAMPLE / "make_data.py"), "--rows", "3000", "--out", str(data)], tmp_path)
    plain = _run([sys.executable, str(EXAMPLE / "pipeline.py"), "--data", str(data), "--out", str(tmp_path / "plain")],
                 tmp_path)
    tracked = _run([str(BIN), "run", str(EXAMPLE / "pipeline.py"), "--data", str(data), "--out",
                    str(tmp_path / "tracked")], tmp_path)
    assert plain.stdout == tracked.stdout
    for name in ("predictions.csv", "features.parquet"):
        reader = pd.read_csv if name.endswith(".csv") else pd.read_parquet
        pd.testing.assert_frame_equal(reader(tmp_path / "plain" / name), reader(tmp_path / "tracked" / name))

    events_path = tmp_path / "store" / "events.jsonl"
    check_events_file_with_cli(events_path)
    events = read_events(events_path)
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"]
    final = events[-1]
    assert [i["name"] for i in final["inputs"]] == [str(data)]
    outs = outputs_of(final)
    assert set(outs) == {str(tmp_path / "tracked" / n) for n in ("predictions.csv", "features.parquet", "model.joblib")}
    features = outs[str(tmp_path / "tracked" / "features.parquet")]
    assert ("median_income", str(data), "median_income", "DIRECT", "IDENTITY") in lineage_edges(features)
    source = final["job"]["facets"]["sourceCodeLocation"]  # the checkout is a git repository (CI clones it)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert source["type"] == "git" and source["path"] == "examples/housing/pipeline.py"
    assert source["version"] == head and isinstance(source["dirty"], bool)
    assert "@" not in source["repoUrl"].split("//", 1)[-1].split("/", 1)[0] or source["repoUrl"].startswith("file:")
