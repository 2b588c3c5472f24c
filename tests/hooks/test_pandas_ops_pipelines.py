"""Pipelines, in-place mutation, the operation log, memory and reversibility of the pandas operation hooks.

Multi-step scripts must compose by Spark's rules; untracked frames cost nothing and log nothing; provenance
never outlives the objects it describes; `disable()` restores pandas exactly.
"""

from __future__ import annotations

import gc
import inspect
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import lineage_edges, outputs_of

from openlineage_pandas.provenance.registry import lineage_table, tracked_object_count

pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword", "ignore:.*inplace.*:DeprecationWarning")

ORDERS = pd.DataFrame({
    "id": [1, 2, 3, 4, 5, 6],
    "store": [1, 1, 2, 2, 3, 3],
    "qty": [1, 2, 3, 4, 5, 6],
    "price": [1.5, np.nan, 3.0, 4.0, 5.0, 6.5],
    "cat": list("abcabc"),
})
STORES = pd.DataFrame({"store": [1, 2, 3], "region": ["n", "s", "e"]})


def inputs(tmp_path: Path) -> tuple[Path, Path]:
    orders, stores = tmp_path / "orders.csv", tmp_path / "stores.csv"
    ORDERS.to_csv(orders, index=False)
    STORES.to_csv(stores, index=False)
    return orders, stores


def edges_of(final: dict[str, Any], out: Path, names: dict[str, str]) -> set[tuple[str, ...]]:
    return {(o, names.get(n, n), f, t, s) for o, n, f, t, s in lineage_edges(outputs_of(final)[str(out)])}


def dataset_of(final: dict[str, Any], out: Path, names: dict[str, str]) -> set[tuple[str, ...]]:
    facet = outputs_of(final)[str(out)]["facets"]["columnLineage"]
    return {(names.get(i["name"], i["name"]), i["field"], t["type"], t["subtype"])
            for i in facet.get("dataset") or [] for t in i["transformations"]}


def pipeline(orders: pd.DataFrame, stores: pd.DataFrame) -> pd.DataFrame:
    clean = orders.dropna(subset=["price"])
    clean = clean[clean["qty"] > 1]
    clean = clean.assign(revenue=lambda d: d["price"] * d["qty"])
    per_store = clean.groupby("store", as_index=False).agg(total=("revenue", "sum"), orders=("id", "count"))
    return per_store.merge(stores, on="store", how="left").sort_values("total")


def test_chained_pipeline_composes_every_step(tracking, tmp_path):
    orders_path, stores_path = inputs(tmp_path)
    expected = pipeline(pd.read_csv(orders_path), pd.read_csv(stores_path))
    tracking.enable()
    result = pipeline(pd.read_csv(orders_path), pd.read_csv(stores_path))
    out = tmp_path / "report.csv"
    result.to_csv(out, index=False)
    tracking.disable()
    pd.testing.assert_frame_equal(result, expected)
    tracking.check()
    names = {str(orders_path): "orders", str(stores_path): "stores"}
    final = tracking.last()
    assert edges_of(final, out, names) == {
        ("store", "orders", "store", "DIRECT", "IDENTITY"), ("store", "orders", "store", "INDIRECT", "GROUP_BY"),
        ("store", "stores", "store", "DIRECT", "IDENTITY"),
        ("total", "orders", "price", "DIRECT", "AGGREGATION"), ("total", "orders", "qty", "DIRECT", "AGGREGATION"),
        ("orders", "orders", "id", "DIRECT", "AGGREGATION"),
        ("region", "stores", "region", "DIRECT", "IDENTITY"),
    }
    assert dataset_of(final, out, names) == {
        ("orders", "price", "INDIRECT", "FILTER"), ("orders", "qty", "INDIRECT", "FILTER"),
        ("orders", "store", "INDIRECT", "GROUP_BY"), ("orders", "store", "INDIRECT", "JOIN"),
        ("stores", "store", "INDIRECT", "JOIN"),
        # the sort key is `total`, itself computed from price and qty
        ("orders", "price", "INDIRECT", "SORT"), ("orders", "qty", "INDIRECT", "SORT"),
    }
    count = outputs_of(final)[str(out)]["facets"]["columnLineage"]["fields"]["orders"]["inputFields"][0]
    assert count["transformations"][0]["masking"] is True


def test_in_place_mutations_update_the_receivers_lineage(tracking, tmp_path):
    orders_path, _ = inputs(tmp_path)
    tracking.enable()
    df = pd.read_csv(orders_path)
    df.dropna(subset=["price"], inplace=True)
    df.rename(columns={"qty": "quantity"}, inplace=True)
    df["revenue"] = df["price"] * df["quantity"]
    df.loc[df["cat"] == "a", "revenue"] = 0.0
    df.insert(0, "store_copy", df["store"])
    moved = df.pop("store")
    df["store_again"] = moved
    del df["cat"]
    df.set_index("id", inplace=True)
    df.reset_index(inplace=True)
    df.fillna({"price": 0.0}, inplace=True)
    out = tmp_path / "out.csv"
    df.to_csv(out, index=False)
    tracking.disable()
    tracking.check()
    names = {str(orders_path): "orders"}
    final = tracking.last()
    assert edges_of(final, out, names) == {
        ("id", "orders", "id", "DIRECT", "IDENTITY"),
        ("store_copy", "orders", "store", "DIRECT", "IDENTITY"),
        ("quantity", "orders", "qty", "DIRECT", "IDENTITY"),
        ("price", "orders", "price", "DIRECT", "TRANSFORMATION"),
        ("revenue", "orders", "price", "DIRECT", "TRANSFORMATION"),
        ("revenue", "orders", "qty", "DIRECT", "TRANSFORMATION"),
        ("revenue", "orders", "cat", "INDIRECT", "CONDITIONAL"),
        ("store_again", "orders", "store", "DIRECT", "IDENTITY"),
    }
    assert dataset_of(final, out, names) == {("orders", "price", "INDIRECT", "FILTER")}


def test_relabelling_by_attribute_assignment_is_followed(tracking, tmp_path):
    orders_path, _ = inputs(tmp_path)
    tracking.enable()
    df = pd.read_csv(orders_path)[["id", "qty"]]
    df.columns = ["ID", "QTY"]
    series = df["QTY"] * 2
    series.name = "double"  # renamed without a method call
    out, out_series = tmp_path / "out.csv", tmp_path / "series.csv"
    df.to_csv(out, index=False)
    series.to_csv(out_series, index=False)
    tracking.disable()
    tracking.check()
    names = {str(orders_path): "orders"}
    final = tracking.last()
    assert edges_of(final, out, names) == {("ID", "orders", "id", "DIRECT", "IDENTITY"),
                                           ("QTY", "orders", "qty", "DIRECT", "IDENTITY")}
    assert edges_of(final, out_series, names) == {("double", "orders", "qty", "DIRECT", "TRANSFORMATION")}


def test_two_inputs_feed_one_output_through_concat_and_setitem(tracking, tmp_path):
    orders_path, stores_path = inputs(tmp_path)
    tracking.enable()
    orders, stores = pd.read_csv(orders_path), pd.read_csv(stores_path)
    both = pd.concat([orders[["store"]], stores[["store"]]], ignore_index=True)
    both["region"] = both["store"].map(stores.set_index("store")["region"])
    out = tmp_path / "out.csv"
    both.to_csv(out, index=False)
    tracking.disable()
    tracking.check()
    names = {str(orders_path): "orders", str(stores_path): "stores"}
    assert edges_of(tracking.last(), out, names) == {
        ("store", "orders", "store", "DIRECT", "IDENTITY"), ("store", "stores", "store", "DIRECT", "IDENTITY"),
        ("region", "orders", "store", "DIRECT", "TRANSFORMATION"),
        ("region", "stores", "store", "DIRECT", "TRANSFORMATION"),
        ("region", "stores", "region", "DIRECT", "TRANSFORMATION"),
    }


def test_operation_log_records_shapes_rows_removed_and_columns(tracking, tmp_path):
    orders_path, _ = inputs(tmp_path)
    tracking.enable()
    df = pd.read_csv(orders_path)
    small = df.dropna().drop(columns=["cat"]).assign(double=lambda d: d.qty * 2)
    small.to_csv(tmp_path / "out.csv", index=False)
    tracking.disable()
    ops = {op["operation"]: op for op in tracking.last()["run"]["facets"]["pandas_operationLog"]["operations"]}
    assert ops["DataFrame.dropna"]["shapeBefore"] == [6, 5] and ops["DataFrame.dropna"]["shapeAfter"] == [5, 5]
    assert ops["DataFrame.dropna"]["rowsRemoved"] == 1
    assert ops["DataFrame.drop"]["columnsRemoved"] == ["cat"]
    assert ops["DataFrame.assign"]["columnsAdded"] == ["double"]
    assert not any(op.get("approximated") for op in ops.values())


def test_untracked_frames_get_no_lineage_and_no_log_entries(tracking, tmp_path):
    tracking.enable()
    df = ORDERS.copy()
    result = df.dropna().groupby("store").agg(total=("qty", "sum")).reset_index().merge(STORES, on="store")
    masked = df[df.qty > 2]
    tracking.disable()
    assert lineage_table.get(result) is None and lineage_table.get(masked) is None
    log = tracking.last()["run"]["facets"].get("pandas_operationLog", {})
    assert not any(op["operation"].startswith(("DataFrame", "groupby")) for op in log.get("operations", []))


SCENARIOS = {
    "getattr": lambda d, s: d.price,
    "loc row": lambda d, s: d.loc[2],
    "iat/at reads": lambda d, s: pd.Series([d.at[1, "qty"], d.iat[0, 0]]),
    "xs": lambda d, s: d.set_index(["store", "id"]).xs(1, level="store"),
    "eval": lambda d, s: d.eval("qty * price"),
    "eval assign": lambda d, s: d.eval("rev = qty * price"),
    "duplicated": lambda d, s: d.duplicated(["store"]),
    "ffill": lambda d, s: d.ffill(),
    "round abs": lambda d, s: d[["qty", "price"]].round(1).abs(),
    "isna": lambda d, s: d.isna(),
    "convert_dtypes": lambda d, s: d.convert_dtypes(),
    "merge_asof": lambda d, s: pd.merge_asof(d.sort_values("store"), s, on="store"),
    "pd.pivot_table": lambda d, s: pd.pivot_table(d, index="store", values="qty", aggfunc="mean"),
    "pivot": lambda d, s: d.pivot(index="id", columns="cat", values="qty"),
    "crosstab": lambda d, s: pd.crosstab(d.store, d.cat),
    "describe": lambda d, s: d.describe(),
    "corr": lambda d, s: d[["qty", "price"]].corr(),
    "agg list": lambda d, s: d[["qty", "price"]].agg(["sum", "mean"]),
    "gb dict agg": lambda d, s: d.groupby("store").agg({"qty": ["sum", "max"], "price": "mean"}),
    "gb describe": lambda d, s: d.groupby("store")["qty"].describe(),
    "gb nunique": lambda d, s: d.groupby("store").cat.nunique(),
    "gb cumcount": lambda d, s: d.groupby("store").cumcount(),
    "gb head": lambda d, s: d.groupby("store").head(1),
    "gb value_counts": lambda d, s: d.groupby("store")["cat"].value_counts(),
    "gb ewm": lambda d, s: d.groupby("store")["qty"].expanding().mean(),
    "resample": lambda d, s: d.assign(t=pd.date_range("2024", periods=6, freq="D")).resample("2D", on="t")["qty"]
    .sum(),
    "ewm": lambda d, s: d[["qty"]].ewm(span=2).mean(),
    "rank pct_change diff": lambda d, s: d[["qty"]].rank().pct_change().diff(),
    "str split expand": lambda d, s: d.cat.str.cat(d.cat, sep="-").str.split("-", expand=True),
    "dt props": lambda d, s: pd.Series(pd.date_range("2024", periods=6)).dt.strftime("%Y"),
    "series ops": lambda d, s: (-d.qty).between(-4, -1) | ~(d.price > 2),
    "flex ops": lambda d, s: d[["qty"]].add(d[["qty"]]).rsub(1).gt(0),
    "to_frame reset": lambda d, s: d.qty.to_frame().reset_index(),
    "series reset_index": lambda d, s: d.set_index("id").qty.reset_index(),
    "squeeze": lambda d, s: d[["qty"]].squeeze(),
    "DataFrame(df)": lambda d, s: pd.DataFrame(d, columns=["qty", "id"]),
    "from_dict": lambda d, s: pd.DataFrame.from_dict({"q": d.qty}),
    "Series(array)": lambda d, s: pd.Series(d.qty.to_numpy(), name="q"),
    "list of series": lambda d, s: pd.DataFrame([d.qty, d.id]),
    "asarray": lambda d, s: np.asarray(d[["qty", "price"]]),
    "T": lambda d, s: d.T,
    "combine_first": lambda d, s: d.price.combine_first(d.qty),
    "case_when or where": lambda d, s: d.qty.where(d.qty > 2, -1),
    "filter/reindex": lambda d, s: d.filter(like="q").reindex(columns=["qty", "zz"]),
    "apply axis 0": lambda d, s: d[["qty", "price"]].apply(lambda c: c - c.mean()),
    "transform dict": lambda d, s: d[["qty", "price"]].transform({"qty": "abs"}),
    "map frame": lambda d, s: d[["cat"]].map(str.upper),
    "unique": lambda d, s: d.cat.unique(),
    "wide_to_long": lambda d, s: pd.wide_to_long(d.rename(columns={"qty": "v1", "price": "v2"}), "v", i="id", j="n"),
}


def test_every_tracked_operation_returns_exactly_what_pandas_returns(tracking, tmp_path):
    orders_path, stores_path = inputs(tmp_path)
    expected = {name: op(pd.read_csv(orders_path), pd.read_csv(stores_path)) for name, op in SCENARIOS.items()}
    tracking.enable()
    orders, stores = pd.read_csv(orders_path), pd.read_csv(stores_path)
    results = {name: op(orders, stores) for name, op in SCENARIOS.items()}
    tracking.disable()
    untracked_lineage = []
    for name, got in results.items():
        want = expected[name]
        if isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want, obj=name)
        elif isinstance(want, pd.Series):
            pd.testing.assert_series_equal(got, want, obj=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
        if lineage_table.get(got) is None and name not in ("iat/at reads", "dt props"):
            untracked_lineage.append(name)
    assert untracked_lineage == []
    pd.testing.assert_frame_equal(orders, pd.read_csv(orders_path))  # inputs never mutated


def test_provenance_does_not_accumulate(tracking, tmp_path):
    from openlineage_pandas.hooks import pandas_ops

    orders_path, _ = inputs(tmp_path)
    tracking.enable()
    df = pd.read_csv(orders_path)
    gc.collect()
    baseline = tracked_object_count()
    for _ in range(300):
        frame = df[df.qty > 1].assign(r=lambda d: d.qty * 2)
        frame.groupby("store").qty.rolling(2).sum()
        frame.groupby("store")["r"].sum().reset_index()
        frame = frame.dropna()
    del frame
    gc.collect()
    assert tracked_object_count() <= baseline + 5
    assert len(pandas_ops._groups) <= 5 and len(pandas_ops._windows) <= 5
    tracking.disable()


def test_disable_restores_every_patched_attribute_exactly(tracking):
    import pandas.core.strings.accessor as strings

    originals = {
        "dropna": pd.DataFrame.__dict__["dropna"], "getitem": pd.DataFrame.__dict__["__getitem__"],
        "values": pd.DataFrame.__dict__["values"], "T": pd.DataFrame.__dict__["T"], "concat": pd.concat,
        "upper": strings.StringMethods.__dict__["upper"], "init": pd.DataFrame.__dict__["__init__"],
    }
    tracking.enable()
    assert pd.DataFrame.__dict__["dropna"] is not originals["dropna"]
    assert pd.DataFrame.__dict__["values"] is not originals["values"]
    assert pd.concat is not originals["concat"]
    tracking.disable()
    restored = {
        "dropna": pd.DataFrame.__dict__["dropna"], "getitem": pd.DataFrame.__dict__["__getitem__"],
        "values": pd.DataFrame.__dict__["values"], "T": pd.DataFrame.__dict__["T"], "concat": pd.concat,
        "upper": strings.StringMethods.__dict__["upper"], "init": pd.DataFrame.__dict__["__init__"],
    }
    assert all(restored[k] is originals[k] for k in originals), [k for k in originals if restored[k] is not originals[k]]
    assert "__add__" not in pd.Series.__dict__  # inherited attributes are removed again, not left as copies


def test_hooked_methods_keep_their_signatures_and_call_forms(tracking, tmp_path):
    orders_path, _ = inputs(tmp_path)
    signature = inspect.signature(pd.DataFrame.merge)
    tracking.enable()
    assert inspect.signature(pd.DataFrame.merge) == signature
    df = pd.read_csv(orders_path)
    by_keyword = pd.concat(objs=[df, df], axis=0, ignore_index=True)
    positional = df.sort_values("qty", ascending=False)
    tracking.disable()
    assert len(by_keyword) == 12 and positional.qty.iloc[0] == 6
    assert lineage_table.get(by_keyword) is not None


def _warning_statements(path: Path) -> list[tuple[str, str, int]]:
    """Statements pandas warns about, from user code; returns (category, file, line) of every warning."""
    import warnings

    seen: list[tuple[str, str, int]] = []
    statements = [
        lambda df: df["qty"].__setitem__(0, 0),  # via the method: no chained-assignment syntax
        lambda df: df.merge(df.assign(store=df.store + 0.5), on="store"),  # int/float keys (find_stack_level)
        lambda df: df.dropna(inplace=True),  # a fixed stack level in pandas 3.1
        lambda df: df.assign(price=df.price.astype(object)).fillna(0),
    ]
    for statement in statements:
        df = pd.read_csv(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            statement(df)
        seen.extend((w.category.__name__, Path(w.filename).name, w.lineno) for w in caught)
    for chained in ("setitem", "fillna", "update"):
        df = pd.read_csv(path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if chained == "setitem":
                df["qty"][0] = 0
            elif chained == "fillna":
                df["price"].fillna(0, inplace=True)
            else:
                df["qty"].update(pd.Series([9]))
        seen.extend((w.category.__name__, Path(w.filename).name, w.lineno) for w in caught)
    return seen


def test_warnings_are_the_same_as_untracked_and_name_the_users_line(tracking, tmp_path):
    orders_path, _ = inputs(tmp_path)
    untracked = _warning_statements(orders_path)
    tracking.enable()
    tracked = _warning_statements(orders_path)
    tracking.disable()
    from openlineage_pandas.hooks.pandas_ops import _chained_checks

    assert all(filename == Path(__file__).name for _, filename, _ in tracked)
    assert [w for w in tracked if w not in untracked] == []
    missing = [w for w in untracked if w not in tracked]
    if _chained_checks() is not None:  # pandas 3: chained assignment is detected under tracking too
        assert tracked == untracked
    else:  # pandas 2.2: its FutureWarning about chained assignment on a temporary is the documented loss
        assert missing and {category for category, _, _ in missing} == {"FutureWarning"}


def test_index_levels_written_by_a_writer_are_described_with_their_lineage(tracking, tmp_path):
    from support import lineage_edges, outputs_of, schema_names

    orders_path, _ = inputs(tmp_path)
    tracking.enable()
    totals = pd.read_csv(orders_path).groupby(["store", "cat"])[["qty"]].sum()
    totals.to_csv(tmp_path / "totals.csv")
    tracking.disable()
    out = outputs_of(tracking.last())[str(tmp_path / "totals.csv")]
    assert schema_names(out) == ["store", "cat", "qty"]
    edges = lineage_edges(out)
    assert {(field, subtype) for o, _, field, _, subtype in edges if o == "cat"} >= {("cat", "IDENTITY"),
                                                                                    ("cat", "GROUP_BY")}
    assert {field for o, _, field, _, _ in edges if o == "store"} >= {"store"}
    tracking.check()
