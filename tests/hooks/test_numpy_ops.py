"""numpy array functions keep per-column lineage through the real numpy, asserted on emitted events.

Arrays come from tracked files (np.load, pd.read_pickle) so the tests need no other in-memory hook.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import lineage_edges, outputs_of, schema_names

from openlineage_pandas.hooks import numpy_ops
from openlineage_pandas.provenance.model import source_lineage
from openlineage_pandas.provenance.registry import lineage_table

X = np.arange(24, dtype="float64").reshape(6, 4)
Y = np.arange(100, 124, dtype="float64").reshape(6, 4)
FLAGS = np.array([True, False, True, True, False, False])


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {"x": tmp_path / "x.npy", "y": tmp_path / "y.npy", "flags": tmp_path / "flags.npy",
             "s": tmp_path / "s.pkl"}
    np.save(paths["x"], X)
    np.save(paths["y"], Y)
    np.save(paths["flags"], FLAGS)
    pd.Series(np.linspace(0, 1, 6), name="score").to_pickle(paths["s"])
    return paths


# Each case: a computation over the loaded arrays, and the expected edges of the saved result:
# (output field, input file stem, input field, type, subtype).
def _where(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.where(a["flags"][:, None], a["x"], a["y"])


def _select(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.select([a["flags"]], [a["x"][:, 2]], default=a["y"][:, 0])


def _column_stack(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.column_stack([a["x"][:, 1], a["y"][:, 3], a["s"]])


def _hstack(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.hstack([a["x"][:, 0:2], a["y"]])


def _concatenate_rows(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([a["x"], a["y"]])


def _vstack(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.vstack([a["x"], a["y"]])


def _stack_columns(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.stack([a["x"][:, 3], a["s"]], axis=1)


def _clip_round(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.round(np.clip(a["x"], 2, 20))


def _dot(a: dict[str, np.ndarray]) -> np.ndarray:
    return np.dot(a["x"], np.ones((4, 2)))


def _ident(field: str, stem: str, source: str) -> tuple[str, str, str, str, str]:
    return (field, stem, source, "DIRECT", "IDENTITY")


CASES = {
    "where": (_where, {e for j in range(4) for e in (
        _ident(str(j), "x", str(j)), _ident(str(j), "y", str(j)),
        (str(j), "flags", "value", "INDIRECT", "CONDITIONAL"))}),
    "select": (_select, {_ident("value", "x", "2"), _ident("value", "y", "0"),
                         ("value", "flags", "value", "INDIRECT", "CONDITIONAL")}),
    "column_stack": (_column_stack, {_ident("1", "x", "1"), _ident("3", "y", "3"), _ident("score", "s", "score")}),
    "hstack": (_hstack, {_ident("0", "x", "0"), _ident("1", "x", "1"), _ident("0.1", "y", "0"),
                         _ident("1.1", "y", "1"), _ident("2", "y", "2"), _ident("3", "y", "3")}),
    "concatenate": (_concatenate_rows, {e for j in range(4) for e in (_ident(str(j), "x", str(j)),
                                                                      _ident(str(j), "y", str(j)))}),
    "vstack": (_vstack, {e for j in range(4) for e in (_ident(str(j), "x", str(j)), _ident(str(j), "y", str(j)))}),
    "stack": (_stack_columns, {_ident("3", "x", "3"), _ident("score", "s", "score")}),
    "clip_round": (_clip_round, {(str(j), "x", str(j), "DIRECT", "TRANSFORMATION") for j in range(4)}),
    "dot": (_dot, {(str(k), "x", str(j), "DIRECT", "TRANSFORMATION") for j in range(4) for k in range(2)}),
}


def _load(files: dict[str, Path]) -> dict[str, np.ndarray]:
    return {"x": np.load(files["x"]), "y": np.load(files["y"]), "flags": np.load(files["flags"]),
            "s": pd.read_pickle(files["s"])}


@pytest.mark.parametrize("case", list(CASES))
def test_numpy_function_lineage_ground_truth(tracking, files, tmp_path, case):
    compute, expected = CASES[case]
    untracked = compute(_load(files))
    tracking.enable()
    tracked = compute(_load(files))
    out = tmp_path / "out.npy"
    np.save(out, tracked)
    tracking.disable()

    np.testing.assert_array_equal(tracked, untracked)
    final = tracking.last()
    output = outputs_of(final)[str(out)]
    stems = {str(p): p.stem for p in files.values()}
    got = {(o, stems[name], f, t, s) for o, name, f, t, s in lineage_edges(output)}
    assert got == expected
    assert set(schema_names(output)) >= {e[0] for e in expected}
    operations = [op["operation"] for op in final["run"]["facets"]["pandas_operationLog"]["operations"]]
    assert any(op.startswith("numpy.") and op not in ("numpy.load", "numpy.save") for op in operations)
    tracking.check()


def test_arrays_sliced_from_pandas_blocks_resolve_through_register_array(tracking, tmp_path):
    # to_numpy() returns a view of pandas' block, so slices of it point at the block, not at the array
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]})
    tracking.enable()
    arr = frame.to_numpy()
    assert arr.base is not None
    numpy_ops.register_array(arr, source_lineage("file", "/in.csv", ["a", "b", "c"]))
    column = arr[:, 2]
    assert column.base is not arr
    assert list(numpy_ops.array_lineage(column).columns) == ["c"]
    both = arr[:, 1:]
    assert list(numpy_ops.array_lineage(both).columns) == ["b", "c"]
    row = numpy_ops.array_lineage(arr[0])  # a row spans every column: all of them, announced
    assert {s.field for s in row.all_origins()} == {"a", "b", "c"}
    assert any("over-approximated" in n for n in row.notes)
    unrelated = np.zeros(3)
    assert numpy_ops.array_lineage(unrelated[:2]) is None
    tracking.disable()


def test_unresolvable_views_over_approximate(tracking):
    tracking.enable()
    base = np.zeros((3, 2))
    lineage_table.set(base, source_lineage("file", "/in.csv", ["a", "b"]))
    lin = numpy_ops.array_lineage(base.T)
    assert {s.field for s in lin.all_origins()} == {"a", "b"}
    assert any("over-approximated" in n for n in lin.notes)
    tracking.disable()


def test_patching_is_reversible_and_transparent(tracking):
    originals = {name: getattr(np, name) for name in numpy_ops.RECORDERS if hasattr(np, name)}
    tracking.enable()
    for name, original in originals.items():
        patched = getattr(np, name)
        assert patched is not original
        assert patched == original and hash(patched) == hash(original)  # __array_function__ registries
        assert patched.__name__ == original.__name__ and patched.__module__ == original.__module__
        assert not (patched != original) and patched != np.add
        assert repr(patched) == repr(original) and str(patched) == str(original)
        for attribute in ("_implementation", "__signature__", "__text_signature__"):  # read through
            assert getattr(patched, attribute, "absent") == getattr(original, attribute, "absent"), attribute
    holder = type("Holder", (), {"stack": np.concatenate})
    assert type(holder().stack).__name__ == "method" and holder.stack is np.concatenate  # binds like a function
    assert pickle.loads(pickle.dumps(np.concatenate)) is np.concatenate
    assert {np.where: "ok"}[originals["where"]] == "ok"
    tracking.disable()
    assert all(getattr(np, name) is original for name, original in originals.items())


def test_untracked_arguments_leave_no_trace(tracking):
    tracking.enable()
    before = len(lineage_table)
    result = np.where(FLAGS, 1.0, 0.0)
    stacked = np.column_stack([X, Y])
    assert lineage_table.get(result) is None and lineage_table.get(stacked) is None
    assert len(lineage_table) == before
    tracking.disable()
