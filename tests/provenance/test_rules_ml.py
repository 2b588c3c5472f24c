"""Pure rules for numpy arrays and scikit-learn estimators: expected (output column <- source, type) edges.

No hooks here: FrameLineage values in, FrameLineage out, so every rule is checked on its own.
"""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
import pytest

from openlineage_pandas.provenance import rules_ml as R
from openlineage_pandas.provenance.model import (
    AGGREGATION_T,
    IDENTITY_T,
    FrameLineage,
    SourceField,
    Transform,
    source_lineage,
)

NS = "file"


def src(name: str, field: str) -> SourceField:
    return SourceField(NS, name, field)


def edges(lin: FrameLineage) -> set[tuple[Hashable, str, str, str, str]]:
    """(output column, input dataset, input field, type, subtype) for every column edge."""
    return {(label, s.name, s.field, t.type, t.subtype)
            for label, origins in lin.columns.items() for s, ts in origins.items() for t in ts}


def dataset_edges(lin: FrameLineage) -> set[tuple[str, str, str, str]]:
    return {(s.name, s.field, t.type, t.subtype) for s, ts in lin.dataset.items() for t in ts}


def frame(name: str, labels: list[str], shape: tuple[int, ...] | None = None) -> R.ArrayArg:
    lin = source_lineage(NS, name, labels)
    return R.ArrayArg(lin, shape if shape is not None else (5, len(labels)))


def test_where_copies_values_and_is_conditioned_column_by_column():
    cond = frame("c", ["flag"], (5,))
    x = frame("x", ["a", "b"])
    y = frame("y", ["p", "q"])
    lin = R.conditional_lineage("numpy.where", [cond], [x, y], (5, 2))
    assert list(lin.columns) == ["a", "b"]  # labels of the first value argument laid out like the result
    assert edges(lin) == {
        ("a", "x", "a", "DIRECT", "IDENTITY"), ("a", "y", "p", "DIRECT", "IDENTITY"),
        ("a", "c", "flag", "INDIRECT", "CONDITIONAL"),
        ("b", "x", "b", "DIRECT", "IDENTITY"), ("b", "y", "q", "DIRECT", "IDENTITY"),
        ("b", "c", "flag", "INDIRECT", "CONDITIONAL"),
    }
    assert lin.notes == ()


def test_select_with_scalar_default_and_untracked_choice():
    conds = [frame("t", ["age"], (5,)), frame("t", ["income"], (5,))]
    choices = [frame("t", ["low"], (5,)), R.ArrayArg(None, (5,)), R.ArrayArg(None, ())]
    lin = R.conditional_lineage("numpy.select", conds, choices, (5,))
    assert edges(lin) == {
        ("low", "t", "low", "DIRECT", "IDENTITY"),
        ("low", "t", "age", "INDIRECT", "CONDITIONAL"),
        ("low", "t", "income", "INDIRECT", "CONDITIONAL"),
    }


def test_broadcast_mismatch_over_approximates_and_says_so():
    x = frame("x", ["a", "b", "c"])  # three columns against a two-column result
    lin = R.conditional_lineage("numpy.where", [R.ArrayArg(None, ())], [x, frame("y", ["p", "q"])], (5, 2))
    assert {e for e in edges(lin) if e[1] == "x"} == {
        (label, "x", f, "DIRECT", "IDENTITY") for label in ("p", "q") for f in ("a", "b", "c")}
    assert any("over-approximated" in n for n in lin.notes)


def test_elementwise_keeps_stronger_history():
    agg = FrameLineage({"total": {src("t", "amount"): frozenset({AGGREGATION_T})}})
    lin = R.elementwise_lineage("numpy.clip", [R.ArrayArg(agg, (5,)), R.ArrayArg(None, ())], (5,),
                                Transform("DIRECT", "TRANSFORMATION"))
    assert edges(lin) == {("total", "t", "amount", "DIRECT", "AGGREGATION")}


def test_column_stack_concatenates_columns_and_dedupes_labels():
    parts = [frame("x", ["a", "b"]), frame("y", ["a"], (5,)), R.ArrayArg(None, (5,))]
    lin = R.column_concat_lineage("numpy.column_stack", parts)
    assert list(lin.columns) == ["a", "b", "a.1", 3]
    assert edges(lin) == {("a", "x", "a", "DIRECT", "IDENTITY"), ("b", "x", "b", "DIRECT", "IDENTITY"),
                          ("a.1", "y", "a", "DIRECT", "IDENTITY")}
    assert lin.columns[3] == {}


def test_row_concat_aligns_columns_and_spreads_1d_rows():
    stacked = R.row_concat_lineage("numpy.vstack", [frame("x", ["a", "b"]), frame("y", ["p", "q"])], (10, 2))
    assert edges(stacked) == {("a", "x", "a", "DIRECT", "IDENTITY"), ("a", "y", "p", "DIRECT", "IDENTITY"),
                              ("b", "x", "b", "DIRECT", "IDENTITY"), ("b", "y", "q", "DIRECT", "IDENTITY")}
    rows = R.row_concat_lineage("numpy.vstack", [frame("x", ["a"], (3,)), frame("y", ["p"], (3,))], (2, 3))
    assert list(rows.columns) == [0, 1, 2]
    assert {e[1:3] for e in edges(rows) if e[0] == 2} == {("x", "a"), ("y", "p")}


def test_whole_array_fallback_names_the_operation():
    lin = R.whole_array_lineage("numpy.stack", [frame("x", ["a", "b"])], (2, 5, 2))
    assert list(lin.columns) == ["value"]
    assert {e[2] for e in edges(lin)} == {"a", "b"}
    assert lin.notes == ("over-approximated: numpy.stack mixes the columns of its inputs",)


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize(("index", "expected"), [
    ((slice(None), 1), [1]),
    ((slice(2, None), 3), [3]),
    ((slice(None, None, 2), 0), [0]),
    ((slice(None), slice(1, 4)), [1, 2, 3]),
    ((slice(None), slice(0, 4, 2)), [0, 2]),
    ((slice(1, 3), slice(2, 3)), [2]),
])
def test_view_columns_are_solved_from_strides(order, index, expected):
    base = np.zeros((6, 4), order=order)
    view = base[index]
    assert view.base is base
    picked = R.view_columns(base.shape, base.strides, base.__array_interface__["data"][0],
                            view.shape, view.strides, view.__array_interface__["data"][0])
    assert picked == expected


@pytest.mark.parametrize("order", ["C", "F"])
def test_views_that_cross_columns_are_not_resolved(order):
    base = np.zeros((6, 4), order=order)
    address = base.__array_interface__["data"][0]
    for view in (base[2], base.T, base[:, ::-1]):
        picked = R.view_columns(base.shape, base.strides, address, view.shape, view.strides,
                                view.__array_interface__["data"][0])
        assert picked is None, view.strides


def test_view_lineage_picks_columns_or_over_approximates():
    base = source_lineage(NS, "t", ["a", "b", "c"])
    assert list(R.view_lineage(base, [2], 1).columns) == ["c"]
    every = R.view_lineage(base, None, 1)
    assert {e[2] for e in edges(every)} == {"a", "b", "c"}
    assert R.NOTE_VIEW in every.notes


def test_infer_column_map_by_names():
    colmap, unmatched = R.infer_column_map(
        ["total", "total_rooms", "city", "age", "a", "b"],
        ["total_rooms", "city_A", "city_nan", "missingindicator_age", "a^2", "a b", "total_rooms_1", "pca0"])
    sources = {out: set(ins) for out, ins in colmap.items()}
    assert sources["total_rooms"] == {"total_rooms"}
    assert sources["city_A"] == {"city"}
    assert sources["city_nan"] == {"city"}
    assert sources["missingindicator_age"] == {"age"}
    assert sources["a^2"] == {"a"}
    assert sources["a b"] == {"a", "b"}
    assert sources["total_rooms_1"] == {"total_rooms"}  # the longest input name wins over 'total'
    assert sources["pca0"] == {"total", "total_rooms", "city", "age", "a", "b"}
    assert unmatched == ["pca0"]
    assert colmap["pca0"]["a"] == frozenset({R.MIXED_T})


def test_compose_and_invert_column_maps():
    select = R.identity_column_map(["a", "b"])
    scale = {"a": {"a": frozenset({Transform("DIRECT", "TRANSFORMATION")})},
             "b": {"b": frozenset({Transform("DIRECT", "TRANSFORMATION")})}}
    mix = R.mixed_column_map(["a", "b"], ["pc0"])
    chained = R.compose_column_maps(R.compose_column_maps(select, scale), mix)
    assert {(o, i, t.subtype) for o, ins in chained.items() for i, ts in ins.items() for t in ts} == {
        ("pc0", "a", "TRANSFORMATION"), ("pc0", "b", "TRANSFORMATION")}
    onehot = {"city_A": {"city": frozenset({IDENTITY_T})}, "city_B": {"city": frozenset({IDENTITY_T})}}
    assert set(R.invert_column_map(onehot)["city"]) == {"city_A", "city_B"}


def test_apply_column_map_adds_training_influence_only_for_new_sources():
    colmap = R.infer_column_map(["a", "b"], ["a", "b"])[0]
    train = R.fit_lineage("S", source_lineage(NS, "train", ["a", "b"]), None)
    same = R.apply_column_map(colmap, {"a": {src("train", "a"): frozenset({IDENTITY_T})}}, est=train,
                              labels=["a", "b"])
    assert edges(same) == {("a", "train", "a", "DIRECT", "TRANSFORMATION"),
                           ("b", "train", "b", "INDIRECT", "CONDITIONAL")}


def test_prediction_is_transformation_of_inputs_and_learned_from_target():
    est = R.fit_lineage("Ridge", source_lineage(NS, "train", ["a", "b"]), source_lineage(NS, "y", ["price"]),
                        [("price", "float64")])
    test_inputs = source_lineage(NS, "test", ["a", "b"])
    lin = R.prediction_lineage("predict", est, test_inputs, ["price"])
    assert edges(lin) == {
        ("price", "test", "a", "DIRECT", "TRANSFORMATION"), ("price", "test", "b", "DIRECT", "TRANSFORMATION"),
        ("price", "y", "price", "INDIRECT", "CONDITIONAL"),
        ("price", "train", "a", "INDIRECT", "CONDITIONAL"), ("price", "train", "b", "INDIRECT", "CONDITIONAL"),
    }
    same = R.prediction_lineage("predict", est, source_lineage(NS, "train", ["a", "b"]), ["price"])
    assert ("price", "train", "a", "INDIRECT", "CONDITIONAL") not in edges(same)
    untracked = R.prediction_lineage("predict", est, None, ["price"])
    assert {e[3] for e in edges(untracked)} == {"INDIRECT"}
    assert any("no provenance" in n for n in untracked.notes)


def test_partial_fit_merges_batches():
    first = R.fit_lineage("SGD", source_lineage(NS, "b1", ["a"]), source_lineage(NS, "b1", ["y"]))
    both = R.fit_lineage("SGD", source_lineage(NS, "b2", ["a"]), None, previous=first)
    assert {s.name for s in both.features.columns["a"]} == {"b1", "b2"}
    assert both.target_names == ["y"]


def test_model_dataset_fields_and_dataset_entries():
    filtered = source_lineage(NS, "train", ["a", "b"]).with_influence({src("train", "ok"): frozenset({IDENTITY_T})},
                                                                       Transform("INDIRECT", "FILTER"))
    est = R.fit_lineage("Ridge", filtered, source_lineage(NS, "train", ["price"]), [("price", "float64")])
    lin = R.model_dataset_lineage(est, ["price"], None)
    assert edges(lin) == {("price", "train", "a", "DIRECT", "TRANSFORMATION"),
                          ("price", "train", "b", "DIRECT", "TRANSFORMATION"),
                          ("price", "train", "price", "INDIRECT", "CONDITIONAL")}
    assert dataset_edges(lin) == {("train", "a", "INDIRECT", "CONDITIONAL"), ("train", "b", "INDIRECT", "CONDITIONAL"),
                                  ("train", "price", "INDIRECT", "CONDITIONAL"), ("train", "ok", "INDIRECT", "FILTER")}


def test_split_keeps_lineage_and_stratify_is_a_filter():
    lin = source_lineage(NS, "t", ["a", "b"])
    assert R.split_lineage(lin, None) == lin
    strat = R.split_lineage(lin, source_lineage(NS, "t", ["label"]))
    assert edges(strat) == edges(lin)
    assert dataset_edges(strat) == {("t", "label", "INDIRECT", "FILTER")}


def test_positional_inputs_by_name_then_position():
    lin = source_lineage(NS, "t", ["a", "b"])
    by_name, _ = R.positional_inputs(lin, ["b", "a"])
    assert next(iter(by_name["b"])).field == "b"
    by_position, misaligned = R.positional_inputs(lin, ["x0", "x1"])
    assert next(iter(by_position["x1"])).field == "b" and not misaligned
    every, misaligned = R.positional_inputs(lin, ["x0", "x1", "x2"])
    assert misaligned and {s.field for s in every["x2"]} == {"a", "b"}


def test_json_safe_params_keeps_scalars_only():
    params = {"alpha": np.float64(0.5), "n": np.int64(3), "flag": np.bool_(True), "name": "auto", "none": None,
              "nan": float("nan"), "inf": np.inf, "array": np.arange(3), "est": object(), "long": "x" * 500,
              "list": [1, 2]}
    safe = R.json_safe_params(params)
    assert safe == {"alpha": 0.5, "flag": True, "n": 3, "name": "auto", "none": None}
    assert type(safe["alpha"]) is float and type(safe["n"]) is int and type(safe["flag"]) is bool
