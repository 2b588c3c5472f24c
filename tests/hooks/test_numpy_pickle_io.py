"""numpy, pickle and joblib file functions become datasets in every call form, results unchanged."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from support import inputs_of, outputs_of, schema_names


def test_numpy_save_and_load_forms(tracking, tmp_path):
    arr = np.arange(12.0).reshape(4, 3)
    tracking.enable()
    np.save(tmp_path / "a.npy", arr)
    np.save(file=str(tmp_path / "b.npy"), arr=arr)
    with open(tmp_path / "c.npy", "wb") as handle:
        np.save(handle, arr)
    np.savetxt(tmp_path / "t.txt", arr)
    np.savez(tmp_path / "z.npz", arr, labels=np.array(["x", "y", "z", "w"]))
    np.savez_compressed(file=tmp_path / "zc.npz", features=arr)
    loaded = [np.load(tmp_path / "a.npy"), np.load(file=tmp_path / "b.npy"), np.loadtxt(tmp_path / "t.txt"),
              np.genfromtxt(tmp_path / "t.txt")]
    with np.load(tmp_path / "z.npz") as npz:
        members = sorted(npz.files)
    tracking.disable()
    for value in loaded:
        np.testing.assert_array_equal(value, arr)
    assert members == ["arr_0", "labels"]
    final = tracking.last()
    outs, ins = outputs_of(final), inputs_of(final)
    for name in ("a.npy", "b.npy", "c.npy", "t.txt", "z.npz", "zc.npz"):
        assert str(tmp_path / name) in outs, name
    assert schema_names(outs[str(tmp_path / "a.npy")]) == ["0", "1", "2"]
    assert schema_names(outs[str(tmp_path / "z.npz")]) == ["arr_0", "labels"]
    assert outs[str(tmp_path / "zc.npz")]["facets"]["storage"]["fileFormat"] == "npz"
    assert sorted(schema_names(ins[str(tmp_path / "z.npz")])) == ["arr_0", "labels"]
    assert {str(tmp_path / n) for n in ("a.npy", "b.npy", "t.txt", "z.npz")} <= set(ins)
    tracking.check()


def test_array_from_a_tracked_frame_keeps_column_names(tracking, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0]}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    np.save(tmp_path / "xy.npy", frame.to_numpy())
    tracking.disable()
    out = outputs_of(tracking.last())[str(tmp_path / "xy.npy")]
    # with in-memory provenance the array carries the frame's column names; without it, positions
    assert schema_names(out) in (["x", "y"], ["0", "1"])
    tracking.check()


@pytest.mark.parametrize("library", ["pickle", "joblib"])
def test_pickle_and_joblib_dump_and_load(tracking, tmp_path, library):
    frame = pd.DataFrame({"a": [1, 2], "b": ["u", "v"]})
    path = tmp_path / f"obj.{library}"
    tracking.enable()
    if library == "pickle":
        with open(path, "wb") as handle:
            pickle.dump(frame, handle)
        with open(path, "rb") as handle:
            back = pickle.load(handle)
        pickle.loads(pickle.dumps(frame))  # bytes, not files: not datasets
    else:
        joblib.dump(value=frame, filename=path)
        back = joblib.load(path)
    tracking.disable()
    pd.testing.assert_frame_equal(back, frame)
    final = tracking.last()
    out, inp = outputs_of(final)[str(path)], inputs_of(final)[str(path)]
    assert schema_names(out) == ["a", "b"] and schema_names(inp) == ["a", "b"]
    assert out["facets"]["storage"]["fileFormat"] == library
    assert len(final["outputs"]) == 1 and len(final["inputs"]) == 1
    tracking.check()
