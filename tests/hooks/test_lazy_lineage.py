"""Lazy lineage on real pandas: hot operations store a thunk, evaluated only when the lineage is needed, with the
same answer eager evaluation gives, no retained frames and no influence from arguments changed afterwards."""

from __future__ import annotations

import gc
import pickle
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
from support import lineage_edges, outputs_of

from openlineage_pandas.provenance.deferred import MAX_DEPTH, Deferred
from openlineage_pandas.provenance.registry import ATTRIBUTE, lineage_table

FRAME = pd.DataFrame({"a": [1.0, np.nan, 3.0, 4.0], "b": [1, 2, 3, 4], "c": list("wxyz")})


def _read(tmp_path: Path) -> pd.DataFrame:
    path = tmp_path / "in.csv"
    FRAME.to_csv(path, index=False)
    return pd.read_csv(path)


def _sources(lin, label):
    return {(src.field, t.type, t.subtype) for src, ts in lin.columns[label].items() for t in ts}


def _influences(lin):
    return {(src.field, t.subtype) for src, ts in lin.dataset.items() for t in ts}


def test_hot_operations_store_thunks_that_evaluate_to_the_rule(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    results = {
        "dropna": df.dropna(subset=["a"]),
        "rename": df.rename(columns={"b": "bee"}),
        "select": df[["a", "c"]],
        "column": df["b"],
        "compare": df["b"] > 2,
        "mask": df[df["b"] > 2],
        "concat": pd.concat([df, df], ignore_index=True),
        "merge": df.merge(df[["b", "c"]], on="b"),
        "assign": df.assign(ab=lambda d: d["a"] * d["b"], same=lambda d: d["c"], one=1),
    }
    for name, result in results.items():
        assert isinstance(lineage_table.peek(result), Deferred), name
    assert _influences(lineage_table.get(results["dropna"])) == {("a", "FILTER")}
    assert _sources(lineage_table.get(results["rename"]), "bee") == {("b", "DIRECT", "IDENTITY")}
    assert list(lineage_table.get(results["select"]).columns) == ["a", "c"]
    assert _sources(lineage_table.get(results["column"]), "b") == {("b", "DIRECT", "IDENTITY")}
    assert _sources(lineage_table.get(results["compare"]), "b") == {("b", "DIRECT", "TRANSFORMATION")}
    assert _influences(lineage_table.get(results["mask"])) == {("b", "FILTER")}
    assert _sources(lineage_table.get(results["concat"]), "a") == {("a", "DIRECT", "IDENTITY")}
    assert ("b", "JOIN") in _influences(lineage_table.get(results["merge"]))
    assigned = lineage_table.get(results["assign"])
    assert _sources(assigned, "ab") == {("a", "DIRECT", "TRANSFORMATION"), ("b", "DIRECT", "TRANSFORMATION")}
    assert _sources(assigned, "same") == {("c", "DIRECT", "IDENTITY")}
    assert assigned.columns["one"] == {} and list(assigned.columns) == ["a", "b", "c", "ab", "same", "one"]
    for result in results.values():  # evaluated once, then kept
        assert not isinstance(lineage_table.peek(result), Deferred)
    tracking.disable()


def test_arguments_changed_after_the_call_do_not_change_lineage(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    subset = ["a"]
    fills = {"a": 0.0}
    dropped = df.dropna(subset=subset)
    filled = df.fillna(fills)
    subset.append("c")
    fills["c"] = "?"
    assert _influences(lineage_table.get(dropped)) == {("a", "FILTER")}
    assert _sources(lineage_table.get(filled), "c") == {("c", "DIRECT", "IDENTITY")}
    assert _sources(lineage_table.get(filled), "a") == {("a", "DIRECT", "TRANSFORMATION")}
    tracking.disable()


def test_thunks_never_keep_a_frame_alive(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    middle = df.dropna()
    probe = weakref.ref(middle)
    out = middle.rename(columns={"a": "x"})[["x", "b"]]
    del middle
    gc.collect()
    assert probe() is None, "a thunk kept its input frame alive"
    assert _sources(lineage_table.get(out), "x") == {("a", "DIRECT", "IDENTITY")}
    tracking.disable()


def test_a_long_loop_keeps_chains_short_and_lineage_exact(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    for _ in range(MAX_DEPTH * 4):
        df = df.fillna(0)
        pending = lineage_table.peek(df)
        assert not isinstance(pending, Deferred) or pending.value is not None or pending.depth <= MAX_DEPTH
    assert _sources(lineage_table.get(df), "a") == {("a", "DIRECT", "TRANSFORMATION")}
    tracking.disable()


def test_relabelled_columns_after_a_deferred_step_stay_aligned(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    out = df.dropna()
    out.columns = ["A", "B", "C"]
    out.to_csv(tmp_path / "out.csv", index=False)
    tracking.disable()
    edges = lineage_edges(outputs_of(tracking.last())[str(tmp_path / "out.csv")])
    assert ("A", str(tmp_path / "in.csv"), "a", "DIRECT", "IDENTITY") in edges
    assert ("C", str(tmp_path / "in.csv"), "c", "DIRECT", "IDENTITY") in edges


def test_lineage_in_the_frame_is_never_pickled_or_copied(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path).dropna()
    assert ATTRIBUTE in df.__dict__
    tracked_bytes = pickle.dumps(df)
    restored = pickle.loads(tracked_bytes)
    assert ATTRIBUTE not in restored.__dict__
    df.__dict__.pop(ATTRIBUTE)
    assert pickle.dumps(df) == tracked_bytes  # byte-identical to the same frame untracked
    tracking.disable()


def test_the_op_log_of_deferred_steps_is_filled_in_when_the_event_is_built(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    df.dropna().rename(columns={"b": "bee"})[["a", "bee"]].to_csv(tmp_path / "out.csv", index=False)
    tracking.disable()
    ops = {op["operation"]: op for op in tracking.last()["run"]["facets"]["pandas_operationLog"]["operations"]}
    assert ops["DataFrame.rename"]["columnsAdded"] == ["bee"] and ops["DataFrame.rename"]["columnsRemoved"] == ["b"]
    assert ops["DataFrame[columns]"]["columnsRemoved"] == ["c"]
    assert ops["DataFrame.dropna"]["rowsRemoved"] == 1


def test_group_reductions_and_named_aggregations_are_deferred(tracking, tmp_path):
    tracking.enable()
    df = _read(tmp_path)
    named = df.groupby("c").agg(total=("b", "sum"), top=("a", "max"))
    series = df.groupby("c")["b"].sum()
    custom = df.groupby("c").agg(lambda v: v.max())  # a function: evaluated at once, as before
    assert isinstance(lineage_table.peek(named), Deferred) and isinstance(lineage_table.peek(series), Deferred)
    assert not isinstance(lineage_table.peek(custom), Deferred)
    total = lineage_table.get(named)
    assert _sources(total, "total") == {("b", "DIRECT", "AGGREGATION")}
    assert _sources(total, "top") == {("a", "DIRECT", "AGGREGATION")}
    assert ("c", "GROUP_BY") in _influences(total)
    assert _sources(lineage_table.get(series), "b") == {("b", "DIRECT", "AGGREGATION")}
    tracking.disable()


def test_eager_mode_evaluates_every_thunk_at_the_call(tracking, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_PANDAS_EAGER_LINEAGE", "1")
    tracking.enable()
    df = _read(tmp_path)
    out = df.dropna().rename(columns={"b": "bee"})
    pending = lineage_table.peek(out)
    assert isinstance(pending, Deferred) and pending.value is not None and pending.args is None
    assert _sources(lineage_table.get(out), "bee") == {("b", "DIRECT", "IDENTITY")}
    tracking.disable()
    monkeypatch.delenv("OPENLINEAGE_PANDAS_EAGER_LINEAGE")
    tracking.enable()
    assert isinstance(lineage_table.peek(_read(tmp_path).dropna()), Deferred)
    assert lineage_table.peek(_read(tmp_path).dropna()).value is None
    tracking.disable()


NAMES = ["b"]


def test_assign_functions_traced_late_give_the_lineage_of_tracing_at_the_call(tracking, tmp_path):
    """Functions whose trace needs only labels are traced when the thunk is evaluated; the answer must equal
    the eager rule's, including functions that read columns assigned earlier in the same call."""
    from openlineage_pandas.hooks import pandas_ops
    from openlineage_pandas.hooks._patching import HookedCall

    tracking.enable()
    df = _read(tmp_path)
    picked = "c"
    cases = {
        "subscripts": {"ab": lambda d: d["a"] * d["b"]},
        "attribute": {"twice": lambda d: d.b * 2},
        "identity": {"same": lambda d: d["c"]},
        "whole frame": {"rows": lambda d: d.sum(axis=1, numeric_only=True)},
        "earlier keyword": {"ab": lambda d: d["a"] * d["b"], "ab2": lambda d: d["ab"] + d["c"].str.len()},
        "relabel in place": {"a": lambda d: d["b"] + 1, "x": lambda d: d["a"]},
        "closure (traced at the call)": {"picked": lambda d: d[picked]},
        "global (traced at the call)": {"listed": lambda d: d[NAMES[0]] * 2},
        "constant and function": {"one": 1, "b2": lambda d: d["b"] ** 2},
    }
    for name, kwargs in cases.items():
        result = df.assign(**kwargs)
        assert isinstance(lineage_table.peek(result), Deferred), name
        late = lineage_table.get(result)
        eager = pandas_ops._r_assign(HookedCall("DataFrame.assign", (df,), kwargs, 1, pd.DataFrame.assign),
                                     lineage_table.get(df), df, result)
        assert late == eager, name
    tracking.disable()


def test_merge_recorded_from_the_arguments_equals_the_recorder(tracking, tmp_path):
    """`DataFrame.merge`'s fast path stores the thunk the general recorder would: same plain call, same lineage."""
    from openlineage_pandas.hooks import pandas_ops
    from openlineage_pandas.hooks._patching import HookedCall

    tracking.enable()
    df = _read(tmp_path)
    other = df[["b", "c"]].rename(columns={"c": "c2"})
    cases = {
        "on": ((other,), {"on": "b"}),
        "right by keyword": ((), {"right": other, "on": "b", "how": "left"}),
        "positional how": ((other, "inner"), {"on": "b"}),
        "left_on/right_on": ((other,), {"left_on": "b", "right_on": "b", "suffixes": ("_l", "_r")}),
        "indicator": ((other,), {"on": "b", "indicator": True}),
        "self": ((df,), {"on": "b"}),
    }
    for name, (args, kwargs) in cases.items():
        fast_result = df.merge(*args, **kwargs)
        fast = lineage_table.peek(fast_result)
        assert isinstance(fast, Deferred), name
        slow_result = fast_result.copy()
        lineage_table.discard(slow_result)
        call = HookedCall("DataFrame.merge", (df, *args), kwargs, 1, pd.DataFrame.merge.__wrapped__)
        right = args[0] if args else kwargs["right"]
        assert pandas_ops._defer_merge(call, df, right, slow_result, "merge", ())
        slow = lineage_table.peek(slow_result)
        fast_call, slow_call = fast.args[0], slow.args[0]
        assert (fast_call.name, fast_call.args, fast_call.kwargs) == (slow_call.name, slow_call.args,
                                                                      slow_call.kwargs), name
        assert fast_call.original is slow_call.original, name
        assert lineage_table.get(fast_result) == lineage_table.get(slow_result), name
    tracking.disable()
