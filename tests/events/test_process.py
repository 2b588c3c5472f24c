"""The event process: events built in the helper child equal those built in-process, the user's process never
imports openlineage-python, and a child that cannot start, dies, or gets an unpicklable snapshot loses no event."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import check_events_file, clean_env, read_events

WARNING = "the event process is not available"

SCRIPT = """
import sys
import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

frame = pd.read_csv("in.csv", parse_dates=["when"])
frame["kind"] = frame["kind"].astype("category")
frame = frame.assign(total=lambda d: d["a"] * 2 + d["b"]).dropna().query("a > 1")
frame.to_parquet("out.parquet")
model = LinearRegression().fit(frame[["a", "b"]], frame["total"])
joblib.dump(model, "model.joblib")
print("client imported:", "openlineage.client" in sys.modules)
"""


def _inputs(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1, 2, 3, 4], "b": [0.5, 1.5, np.nan, 2.0], "kind": ["x", "y", "x", "z"],
                  "when": pd.date_range("2026-01-01", periods=4, tz="UTC")}).to_csv(tmp_path / "in.csv", index=False)


def _run(tmp_path: Path, script: str, worker: str | None, *, use_run: bool = True) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.py").write_text(textwrap.dedent(script))
    extra = {"OPENLINEAGE_PANDAS_DIR": str(tmp_path / "store")}
    if worker is not None:
        extra["OPENLINEAGE_PANDAS_EVENT_WORKER"] = worker
    command = [sys.executable, "-m", "openlineage_pandas", "run", "script.py"] if use_run else \
        [sys.executable, "script.py"]
    return subprocess.run(command, cwd=tmp_path, env=clean_env(extra), capture_output=True, text=True, timeout=180)


def _comparable(event: dict[str, Any]) -> dict[str, Any]:
    """An event without what differs between two runs of the same script (ids, times, paths)."""
    text = json.dumps(event, sort_keys=True)
    event = json.loads(text)
    event.pop("eventTime")
    event["run"].pop("runId")
    return event


def test_events_from_the_event_process_equal_events_built_in_process(tmp_path: Path) -> None:
    stores = {}
    for worker in ("server", "process", "thread"):
        work = tmp_path / worker
        work.mkdir()
        _inputs(work)
        result = _run(work, SCRIPT, worker)
        assert result.returncode == 0, result.stderr
        assert "openlineage-pandas:" not in result.stderr
        check_events_file(work / "store" / "events.jsonl")
        stores[worker] = [_comparable(e) for e in read_events(work / "store" / "events.jsonl")]
    as_text = {w: json.dumps(events, sort_keys=True).replace(str(tmp_path / w), "<dir>") for w, events in stores.items()}
    assert [e["eventType"] for e in stores["process"]] == ["START", "RUNNING", "RUNNING", "COMPLETE"]
    assert as_text["server"] == as_text["process"] == as_text["thread"]
    model = [o for o in stores["process"][-1]["outputs"] if o["name"].endswith("model.joblib")]
    assert model and model[0]["facets"]["pandas_model"]["modelClass"].endswith("LinearRegression")


def test_the_users_process_never_imports_openlineage_python(tmp_path: Path) -> None:
    _inputs(tmp_path)
    result = _run(tmp_path, SCRIPT, None)  # the default
    assert result.returncode == 0, result.stderr
    assert "client imported: False" in result.stdout
    assert len(read_events(tmp_path / "store" / "events.jsonl")) == 4


@pytest.mark.parametrize("worker", ["server", "process"])
def test_a_child_that_cannot_start_leaves_events_to_this_process(worker: str, tmp_path: Path) -> None:
    _inputs(tmp_path)
    script = textwrap.dedent("""
        import sys
        sys.executable = "/nonexistent/python"
        import openlineage_pandas
        openlineage_pandas.enable()
        """) + SCRIPT
    result = _run(tmp_path, script, worker, use_run=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(WARNING) == 1, result.stderr
    assert "could not be started" in result.stderr
    check_events_file(tmp_path / "store" / "events.jsonl")
    assert len(read_events(tmp_path / "store" / "events.jsonl")) == 4


@pytest.mark.parametrize("worker", ["server", "process"])
def test_a_child_that_dies_midway_loses_no_event(worker: str, tmp_path: Path) -> None:
    _inputs(tmp_path)
    script = """
    import pandas as pd
    import openlineage_pandas
    from openlineage_pandas.events.pipeline import pipeline
    from openlineage_pandas.events.process import event_process

    openlineage_pandas.enable()
    frame = pd.read_csv("in.csv")
    pipeline.drain(30)
    assert event_process.running
    event_process._child.kill()
    frame.to_csv("out.csv", index=False)
    frame.head(2).to_csv("out2.csv", index=False)
    """
    result = _run(tmp_path, script, worker, use_run=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count(WARNING) == 1, result.stderr
    events = read_events(tmp_path / "store" / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "RUNNING", "COMPLETE"]
    assert {o["name"].rsplit("/", 1)[-1] for o in events[-1]["outputs"]} == {"out.csv", "out2.csv"}
    check_events_file(tmp_path / "store" / "events.jsonl")


def test_a_snapshot_that_does_not_pickle_is_built_in_this_process(tmp_path: Path) -> None:
    script = """
    import pandas as pd
    import openlineage_pandas

    class Label:
        def __hash__(self): return 1
        def __eq__(self, other): return isinstance(other, Label)
        def __str__(self): return "odd label"
        def __reduce__(self): raise TypeError("this label does not pickle")

    openlineage_pandas.enable()
    pd.DataFrame({Label(): [1, 2], "b": [3, 4]}).to_csv("out.csv", index=False)
    """
    result = _run(tmp_path, script, "process", use_run=False)
    assert result.returncode == 0, result.stderr
    assert WARNING not in result.stderr  # only that snapshot was built here; the child stays in use
    events = read_events(tmp_path / "store" / "events.jsonl")
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "COMPLETE"]
    fields = [f["name"] for f in events[-1]["outputs"][0]["facets"]["schema"]["fields"]]
    assert fields == ["odd label", "b"]


def test_a_portable_snapshot_builds_the_same_event(tracking: Any, tmp_path: Path) -> None:
    from openlineage.client.serde import Serde

    from openlineage_pandas import run as runs
    from openlineage_pandas.events.builder import build_run_event
    from openlineage_pandas.events.process import portable

    tracking.enable()
    frame = pd.DataFrame({"n": [1, 2], "f": [0.5, 1.0], "s": pd.array(["x", "y"], dtype="string"),
                          "c": pd.Categorical(["a", "b"]), "t": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
                          "flag": [True, False]})
    frame.to_parquet(tmp_path / "in.parquet")
    read = pd.read_parquet(tmp_path / "in.parquet")
    read.assign(extra=lambda d: d["n"] + d["f"]).to_parquet(tmp_path / "out.parquet")
    read.rename(columns={"n": ("multi", 1)}).to_csv(tmp_path / "out.csv", index=False)
    run = runs.current_run()
    assert run is not None
    snapshot = run.snapshot("COMPLETE")
    data = pickle.dumps(portable(snapshot))
    original, rebuilt = build_run_event(snapshot), build_run_event(pickle.loads(data))
    assert Serde.to_json(rebuilt) == Serde.to_json(original)
    loads = "import pickle, sys; pickle.loads(sys.stdin.buffer.read()); print(sorted({'pandas', 'numpy'} & set(sys.modules)))"
    fresh = subprocess.run([sys.executable, "-c", loads], input=data, capture_output=True, timeout=60)
    assert fresh.stdout.strip() == b"[]", fresh.stderr  # the child never imports pandas or numpy for it


@pytest.mark.parametrize("value", ["threads", "PROCESS-ish"])
def test_a_wrong_event_worker_value_names_the_variable_and_the_choices(value: str, monkeypatch: Any) -> None:
    from openlineage_pandas.config import ConfigError, Settings

    monkeypatch.setenv("OPENLINEAGE_PANDAS_EVENT_WORKER", value)
    with pytest.raises(ConfigError, match=r"OPENLINEAGE_PANDAS_EVENT_WORKER.*accepted values: server, process, thread"):
        Settings.from_env()


def test_disable_returns_after_the_event_process_wrote_every_event(tmp_path: Path) -> None:
    script = """
    import json, pathlib
    import pandas as pd
    import openlineage_pandas

    openlineage_pandas.enable()
    pd.DataFrame({"a": [1, 2]}).to_csv("out.csv", index=False)
    openlineage_pandas.disable()
    lines = pathlib.Path("store/events.jsonl").read_text().splitlines()
    print("after disable:", [json.loads(line)["eventType"] for line in lines])
    """
    result = _run(tmp_path, script, "process", use_run=False)
    assert result.returncode == 0, result.stderr
    assert "after disable: ['START', 'RUNNING', 'COMPLETE']" in result.stdout
