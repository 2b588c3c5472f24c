"""enable()/disable() are idempotent and fully reversible; job() scopes nest; OPENLINEAGE_DISABLED turns all off."""

from __future__ import annotations

import pickle
import sys

import joblib
import numpy as np
import pandas as pd
import pytest

import openlineage_pandas
from openlineage_pandas.config import ConfigError

WATCHED = {
    pd: ["read_csv", "read_table", "read_parquet", "read_json", "read_excel", "read_pickle", "read_feather",
         "to_pickle"],
    pd.DataFrame: ["to_csv", "to_parquet", "to_json", "to_excel", "to_pickle", "to_feather"],
    pd.Series: ["to_csv", "to_json", "to_excel", "to_pickle"],
    np: ["load", "loadtxt", "genfromtxt", "save", "savez", "savez_compressed", "savetxt"],
    pickle: ["load", "dump"],
    joblib: ["load", "dump"],
}


def _snapshot() -> dict[tuple[int, str], object]:
    snap = {}
    for owner, names in WATCHED.items():
        for name in names:
            snap[(id(owner), name)] = owner.__dict__.get(name, "<inherited>") if isinstance(owner, type) \
                else getattr(owner, name)
    # every public attribute of the main classes, to catch patches beyond the I/O list
    for cls in (pd.DataFrame, pd.Series):
        for name, value in list(vars(cls).items()):
            snap[(id(cls), name)] = value
    return snap


def test_enable_disable_round_trip_restores_every_original_object(tracking):
    before = _snapshot()
    meta_path_before = list(sys.meta_path)
    tracking.enable()
    tracking.enable()  # idempotent
    assert openlineage_pandas.is_enabled()
    assert pd.read_csv is not before[(id(pd), "read_csv")]
    assert pickle.dump is not before[(id(pickle), "dump")]
    tracking.disable()
    tracking.disable()  # idempotent
    after = _snapshot()
    changed = [key for key in before if before[key] is not after.get(key)]
    assert not changed
    assert set(after) == set(before)
    assert sys.meta_path == meta_path_before
    assert not openlineage_pandas.is_enabled()


def test_disabled_by_openlineage_disabled(tracking, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    original = pd.read_csv
    assert openlineage_pandas.enable() is False
    assert pd.read_csv is original
    with openlineage_pandas.job("nothing") as run:
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "x.csv")
    assert run is None
    assert tracking.events() == []


def test_invalid_setting_names_the_variable_and_accepted_values(tracking, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_PANDAS_COLUMN_LINEAGE", "maybe")
    with pytest.raises(ConfigError, match=r"OPENLINEAGE_PANDAS_COLUMN_LINEAGE='maybe'.*accepted values: true"):
        openlineage_pandas.enable()
    assert not openlineage_pandas.is_enabled()


def test_lifecycle_start_running_complete_with_full_datasets_every_time(tracking, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    frame.to_csv(tmp_path / "one.csv", index=False)
    frame.to_parquet(tmp_path / "two.parquet")
    tracking.disable()
    frame.to_csv(tmp_path / "after.csv")  # nothing after the terminal event
    events = tracking.events()
    assert [e["eventType"] for e in events] == ["START", "RUNNING", "RUNNING", "COMPLETE"]
    assert len({e["run"]["runId"] for e in events}) == 1
    assert events[0]["run"]["runId"][14] == "7"  # UUIDv7
    assert [len(e["outputs"]) for e in events] == [0, 1, 2, 2]
    assert all(len(e["inputs"]) == 1 for e in events[1:])
    engine = events[-1]["run"]["facets"]["processing_engine"]
    assert engine["name"] == "pandas" and engine["version"] == pd.__version__
    assert events[-1]["job"]["facets"]["jobType"]["processingType"] == "BATCH"
    tracking.check()


def test_nested_jobs_are_child_runs_with_parent_facets(tracking, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(src, index=False)
    tracking.enable()
    outer_frame = pd.read_csv(src)
    with openlineage_pandas.job("outer") as outer, openlineage_pandas.job("inner") as inner:
        outer_frame.to_csv(tmp_path / "inner.csv", index=False)
    tracking.disable()
    events = tracking.events()
    by_job: dict[str, list[dict]] = {}
    for e in events:
        by_job.setdefault(e["job"]["name"], []).append(e)
    inner_events = by_job["inner"]
    assert [e["eventType"] for e in inner_events] == ["START", "RUNNING", "COMPLETE"]
    parent = inner_events[-1]["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == outer.run_id and parent["job"]["name"] == "outer"
    assert parent["root"]["run"]["runId"] == outer.parent.run_id
    # the source read outside the scope is declared in the inner run so Marquez keeps the column lineage
    assert [i["name"] for i in inner_events[-1]["inputs"]] == [str(src)]
    assert inner.finished and outer.finished
    tracking.check()


def test_job_scope_fails_on_exception_and_reraises(tracking):
    tracking.enable()
    with pytest.raises(ZeroDivisionError), openlineage_pandas.job("boom"):
        1 / 0  # noqa: B018
    tracking.disable()
    boom = [e for e in tracking.events() if e["job"]["name"] == "boom"]
    assert [e["eventType"] for e in boom] == ["START", "FAIL"]
    error = boom[-1]["run"]["facets"]["errorMessage"]
    assert "ZeroDivisionError" in error["message"] and "Traceback" in error["stackTrace"]


def test_operation_log_is_bounded_and_keeps_the_count(tracking, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_PANDAS_OPLOG_MAX_ENTRIES", "3")
    tracking.enable()
    for i in range(5):
        pd.DataFrame({"a": [i]}).to_csv(tmp_path / f"f{i}.csv")
    tracking.disable()
    log = tracking.last()["run"]["facets"]["pandas_operationLog"]
    assert len(log["operations"]) == 3 and log["totalOperations"] == 5 and log["truncated"] is True


def test_tracking_never_keeps_frames_alive(tracking, tmp_path):
    import gc
    import weakref

    from openlineage_pandas.provenance.registry import tracked_object_count

    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    ref = weakref.ref(frame)
    assert tracked_object_count() >= 1
    del frame
    gc.collect()
    assert ref() is None
    assert tracked_object_count() == 0
    tracking.disable()


def test_no_bookkeeping_in_attrs(tracking, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 2]}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    frame.to_parquet(tmp_path / "out.parquet")
    tracking.disable()
    assert frame.attrs == {}
    assert pd.read_parquet(tmp_path / "out.parquet").attrs == {}


def test_operations_past_the_bound_are_counted_without_entries(tracking, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_PANDAS_OPLOG_MAX_ENTRIES", "2")
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1, 2, None]}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    for _ in range(5):
        frame = frame.dropna()
    frame.to_csv(tmp_path / "out.csv", index=False)
    tracking.disable()
    log = tracking.last()["run"]["facets"]["pandas_operationLog"]
    assert [op["operation"] for op in log["operations"]] == ["pandas.read_csv", "DataFrame.dropna"]
    assert log["totalOperations"] == 7 and log["truncated"] is True
