"""Column lineage through real pandas operations, end to end: read files, transform, write, and assert on every
(output column <- input dataset:column, type, subtype) edge of the emitted columnLineage facet.

Each case also checks that the tracked result is identical to untracked pandas and that the events are valid
OpenLineage that Marquez would accept without dropping lineage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import lineage_edges, outputs_of

ORDERS = pd.DataFrame({
    "id": [1, 2, 3, 4, 5, 6, 7, 8],
    "store": [1, 1, 2, 2, 3, 3, 1, 2],
    "qty": [1, 2, 3, 4, 5, 6, 7, 8],
    "price": [1.5, np.nan, 3.0, 4.0, 5.0, 6.5, 7.0, 8.0],
    "cat": list("abcabcab"),
    "day": [f"2024-01-0{i}" for i in range(1, 9)],
    "tags": ["x,y", "y", "z", "x", "y,z", "x", "y", "z"],
})
STORES = pd.DataFrame({"store": [1, 2, 3], "region": ["n", "s", "e"], "qty": [10, 20, 30]})
ALL = list(ORDERS.columns)

Frames = dict[str, pd.DataFrame]


def I(out: str, field: str | None = None, dataset: str = "orders") -> tuple[str, str, str, str, str]:  # noqa: E743
    return (out, dataset, out if field is None else field, "DIRECT", "IDENTITY")


def D(out: str, field: str, subtype: str, dataset: str = "orders") -> tuple[str, str, str, str, str]:
    return (out, dataset, field, "DIRECT", subtype)


def N(out: str, field: str, subtype: str, dataset: str = "orders") -> tuple[str, str, str, str, str]:
    return (out, dataset, field, "INDIRECT", subtype)


def X(field: str, subtype: str, dataset: str = "orders") -> tuple[str, str, str, str]:
    return (dataset, field, "INDIRECT", subtype)


def same(*columns: str) -> set[tuple[str, str, str, str, str]]:
    return {I(c) for c in columns}


@dataclass
class Case:
    op: Callable[[Frames], Any]
    fields: set[tuple[str, str, str, str, str]]
    dataset: set[tuple[str, str, str, str]] = field(default_factory=set)


def _written(result: Any, path: Path) -> None:
    if isinstance(result, np.ndarray):
        np.save(path, result)
    else:
        result.to_csv(path, index=False)


def run_case(tracking: Any, tmp_path: Path, op: Callable[[Frames], Any], suffix: str = "csv"
             ) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]], dict[str, Any]]:
    """Run `op` untracked and tracked; return the output's field and dataset edges (dataset names shortened)."""
    paths = {"orders": tmp_path / "orders.csv", "stores": tmp_path / "stores.csv"}
    ORDERS.to_csv(paths["orders"], index=False)
    STORES.to_csv(paths["stores"], index=False)
    untracked = op({name: pd.read_csv(path) for name, path in paths.items()})

    tracking.enable()
    tracked = op({name: pd.read_csv(path) for name, path in paths.items()})
    out = tmp_path / f"out.{suffix}"
    _written(tracked, out)
    tracking.disable()

    assert_same(tracked, untracked)
    tracking.check()
    final = tracking.last()
    output = outputs_of(final)[str(out)]
    short = {str(path): name for name, path in paths.items()}
    fields = {(o, short.get(n, n), f, t, s) for o, n, f, t, s in lineage_edges(output)}
    facet = (output.get("facets") or {}).get("columnLineage") or {}
    dataset = {(short.get(i["name"], i["name"]), i["field"], t["type"], t["subtype"])
               for i in facet.get("dataset") or [] for t in i["transformations"]}
    return fields, dataset, final


def assert_same(tracked: Any, untracked: Any) -> None:
    if isinstance(untracked, pd.DataFrame):
        pd.testing.assert_frame_equal(tracked, untracked)
    elif isinstance(untracked, pd.Series):
        pd.testing.assert_series_equal(tracked, untracked)
    else:
        np.testing.assert_array_equal(tracked, untracked)


def _no_untraceable(r: Any) -> Any:
    return r.qty * 2


CASES: dict[str, Case] = {
    # ------------------------------------------------------------------ selection
    "select columns": Case(lambda f: f["orders"][["id", "qty"]], same("id", "qty")),
    "boolean mask": Case(lambda f: f["orders"][f["orders"]["qty"] > 3], same(*ALL), {X("qty", "FILTER")}),
    "combined mask": Case(lambda f: f["orders"][(f["orders"].qty > 2) & (f["orders"].cat == "a")],
                          same(*ALL), {X("qty", "FILTER"), X("cat", "FILTER")}),
    "loc mask and columns": Case(lambda f: f["orders"].loc[f["orders"].price > 2, ["id", "qty"]],
                                 same("id", "qty"), {X("price", "FILTER")}),
    "iloc": Case(lambda f: f["orders"].iloc[1:5, [0, 2]], same("id", "qty")),
    "callable mask": Case(lambda f: f["orders"][lambda d: d.qty > 2], same(*ALL), {X("qty", "FILTER")}),
    "query": Case(lambda f: f["orders"].query("qty > 2 and `cat` == 'a'"), same(*ALL),
                  {X("qty", "FILTER"), X("cat", "FILTER")}),
    "head and sample": Case(lambda f: f["orders"].head(6).sample(3, random_state=0), same(*ALL)),
    "nlargest": Case(lambda f: f["orders"].nlargest(3, "qty"), same(*ALL), {X("qty", "SORT")}),
    "column as series": Case(lambda f: f["orders"].price, same("price")),
    # ------------------------------------------------------------------ cleaning
    "dropna subset": Case(lambda f: f["orders"].dropna(subset=["price"]), same(*ALL), {X("price", "FILTER")}),
    "dropna all": Case(lambda f: f["orders"][["id", "price"]].dropna(), same("id", "price"),
                       {X("id", "FILTER"), X("price", "FILTER")}),
    "fillna dict": Case(lambda f: f["orders"].fillna({"price": 0.0}),
                        same(*(c for c in ALL if c != "price")) | {D("price", "price", "TRANSFORMATION")}),
    "fillna from column": Case(lambda f: f["orders"].assign(price=f["orders"].price.fillna(f["orders"].qty)),
                               same(*(c for c in ALL if c != "price"))
                               | {D("price", "price", "TRANSFORMATION"), D("price", "qty", "TRANSFORMATION")}),
    "drop_duplicates subset": Case(lambda f: f["orders"].drop_duplicates(subset=["store", "cat"]), same(*ALL),
                                   {X("store", "FILTER"), X("cat", "FILTER")}),
    "drop columns": Case(lambda f: f["orders"].drop(columns=["tags", "day"]), same("id", "store", "qty", "price",
                                                                                   "cat")),
    "replace per column": Case(lambda f: f["orders"][["id", "cat"]].replace({"cat": {"a": "A"}}),
                               {I("id"), D("cat", "cat", "TRANSFORMATION")}),
    "clip": Case(lambda f: f["orders"][["qty"]].clip(2, 5), {D("qty", "qty", "TRANSFORMATION")}),
    "where with condition": Case(lambda f: f["orders"].qty.where(f["orders"].price > 2, 0),
                                 {I("qty"), N("qty", "price", "CONDITIONAL")}),
    "mask with other column": Case(lambda f: f["orders"].qty.mask(f["orders"].cat == "a", f["orders"].id),
                                   {I("qty"), D("qty", "id", "IDENTITY"), N("qty", "cat", "CONDITIONAL")}),
    "interpolate": Case(lambda f: f["orders"][["price"]].interpolate(), {D("price", "price", "TRANSFORMATION")}),
    # ------------------------------------------------------------------ reshaping
    "merge on key": Case(lambda f: f["orders"][["id", "store", "qty"]].merge(f["stores"], on="store", how="left"),
                         {I("id"), I("store"), I("store", dataset="stores"), I("qty_x", "qty"),
                          I("region", dataset="stores"), I("qty_y", "qty", "stores")},
                         {X("store", "JOIN"), X("store", "JOIN", "stores")}),
    "merge left_on right_on": Case(
        lambda f: f["orders"][["id", "store"]].merge(f["stores"].rename(columns={"store": "sid"}),
                                                     left_on="store", right_on="sid"),
        {I("id"), I("store"), I("sid", "store", "stores"), I("region", dataset="stores"),
         I("qty", dataset="stores")}, {X("store", "JOIN"), X("store", "JOIN", "stores")}),
    "pd.merge with suffixes": Case(
        lambda f: pd.merge(f["orders"][["store", "qty"]], f["stores"], on="store", suffixes=("", "_store")),
        {I("store"), I("store", dataset="stores"), I("qty"), I("qty_store", "qty", "stores"),
         I("region", dataset="stores")}, {X("store", "JOIN"), X("store", "JOIN", "stores")}),
    "join on index": Case(
        lambda f: f["orders"][["store", "qty"]].set_index("store").join(
            f["stores"].set_index("store").add_suffix("_s")).reset_index(),
        {I("store"), I("store", dataset="stores"), I("qty"), I("qty_s", "qty", "stores"),
         I("region_s", "region", "stores")}, {X("store", "JOIN"), X("store", "JOIN", "stores")}),
    "concat rows": Case(lambda f: pd.concat([f["orders"][["id", "qty"]], f["stores"][["qty"]]], ignore_index=True),
                        {I("id"), I("qty"), I("qty", dataset="stores")}),
    "concat columns": Case(lambda f: pd.concat([f["orders"][["id"]], f["stores"][["region"]]], axis=1),
                           {I("id"), I("region", dataset="stores")}),
    "concat of a generator": Case(lambda f: pd.concat(p for p in (f["orders"][["id"]], f["orders"][["id"]])),
                                  {I("id")}),
    "pivot_table": Case(lambda f: f["orders"].pivot_table(index="store", columns="cat", values="qty",
                                                          aggfunc="sum").reset_index(),
                        {I("store"), N("store", "store", "GROUP_BY")} | {D(c, "qty", "AGGREGATION") for c in "abc"},
                        {X("store", "GROUP_BY"), X("cat", "GROUP_BY")}),
    "melt": Case(lambda f: f["orders"].melt(id_vars=["id"], value_vars=["qty", "price"]),
                 {I("id"), D("value", "qty", "IDENTITY"), D("value", "price", "IDENTITY"),
                  D("variable", "qty", "TRANSFORMATION"), D("variable", "price", "TRANSFORMATION")}),
    "stack": Case(lambda f: f["orders"][["qty", "price"]].stack().rename("v").reset_index(),
                  {D("v", "qty", "IDENTITY"), D("v", "price", "IDENTITY")}),
    "unstack": Case(lambda f: f["orders"].groupby(["store", "cat"])["qty"].sum().unstack().reset_index(),
                    {I("store"), N("store", "store", "GROUP_BY")} | {D(c, "qty", "AGGREGATION") for c in "abc"},
                    {X("store", "GROUP_BY"), X("cat", "GROUP_BY")}),
    "explode": Case(lambda f: f["orders"][["id", "tags"]].assign(tags=f["orders"].tags.str.split(",")
                                                                 ).explode("tags"),
                    {I("id"), D("tags", "tags", "TRANSFORMATION")}),
    "get_dummies": Case(lambda f: pd.get_dummies(f["orders"][["id", "cat"]], columns=["cat"]),
                        {I("id")} | {D(f"cat_{c}", "cat", "TRANSFORMATION") for c in "abc"}),
    "transpose": Case(lambda f: f["orders"][["qty", "price"]].head(2).T.rename(columns=str),
                      {D(c, f, "IDENTITY") for c in ("0", "1") for f in ("qty", "price")}),
    # ------------------------------------------------------------------ columns
    "assign lambdas": Case(lambda f: f["orders"][["qty", "price"]].assign(rev=lambda d: d.price * d.qty,
                                                                         rev2=lambda d: d["rev"] + 1),
                           same("qty", "price") | {D(o, c, "TRANSFORMATION") for o in ("rev", "rev2")
                                                   for c in ("price", "qty")}),
    "assign series and scalar": Case(lambda f: f["orders"][["qty"]].assign(q2=f["orders"].qty * 2, one=1),
                                     {I("qty"), D("q2", "qty", "TRANSFORMATION")}),
    "rename and add_prefix": Case(lambda f: f["orders"][["qty", "cat"]].rename(columns={"qty": "n"}
                                                                                ).add_prefix("o_"),
                                  {I("o_n", "qty"), I("o_cat", "cat")}),
    "astype": Case(lambda f: f["orders"][["id", "qty"]].astype({"qty": "float64"}),
                   {I("id"), D("qty", "qty", "TRANSFORMATION")}),
    "set_index and back": Case(lambda f: f["orders"][["id", "qty"]].set_index("id").reset_index(), same("id", "qty")),
    "select_dtypes": Case(lambda f: f["orders"][["id", "cat"]].select_dtypes("number"), {I("id")}),
    # ------------------------------------------------------------------ ordering
    "sort_values": Case(lambda f: f["orders"][["id", "qty"]].sort_values(["qty", "id"], ascending=False),
                        same("id", "qty"), {X("qty", "SORT"), X("id", "SORT")}),
    "sort_index": Case(lambda f: f["orders"][["id", "qty"]].set_index("id").sort_index().reset_index(),
                       same("id", "qty"), {X("id", "SORT")}),
    # ------------------------------------------------------------------ functions
    "apply axis=1 traced": Case(lambda f: f["orders"].assign(t=f["orders"].apply(lambda r: r["qty"] * r.price,
                                                                                  axis=1))[["t"]],
                                {D("t", "qty", "TRANSFORMATION"), D("t", "price", "TRANSFORMATION")}),
    "apply axis=1 helper": Case(lambda f: f["orders"][["qty", "price"]].apply(_no_untraceable, axis=1).rename("d"),
                                {D("d", "qty", "TRANSFORMATION")}),
    "series map and apply": Case(lambda f: f["orders"].cat.map({"a": 1, "b": 2}).to_frame("m").assign(
        q=f["orders"].qty.apply(lambda v: v + 1)), {D("m", "cat", "TRANSFORMATION"), D("q", "qty", "TRANSFORMATION")}),
    "pipe runs user operations": Case(lambda f: f["orders"].pipe(lambda d: d[["id", "price"]].dropna()),
                                      same("id", "price"), {X("id", "FILTER"), X("price", "FILTER")}),
    # ------------------------------------------------------------------ grouping
    "groupby named agg": Case(lambda f: f["orders"].groupby("store", as_index=False).agg(
        total=("qty", "sum"), n=("id", "count")),
        {I("store"), N("store", "store", "GROUP_BY"), D("total", "qty", "AGGREGATION"),
         D("n", "id", "AGGREGATION")}, {X("store", "GROUP_BY")}),
    "groupby sum reset_index": Case(lambda f: f["orders"].groupby("store")[["qty", "price"]].sum().reset_index(),
                                    {I("store"), N("store", "store", "GROUP_BY"), D("qty", "qty", "AGGREGATION"),
                                     D("price", "price", "AGGREGATION")},
                                    {X("store", "GROUP_BY")}),
    "groupby size": Case(lambda f: f["orders"].groupby("cat").size().rename("n").reset_index(),
                         {I("cat"), N("cat", "cat", "GROUP_BY"), D("n", "cat", "AGGREGATION")},
                         {X("cat", "GROUP_BY")}),
    "groupby transform": Case(lambda f: f["orders"][["id"]].assign(
        avg=f["orders"].groupby("store")["qty"].transform("mean")),
        {I("id"), D("avg", "qty", "AGGREGATION"), N("avg", "store", "WINDOW")}),
    "groupby apply": Case(lambda f: f["orders"].groupby("store").apply(lambda g: (g.qty * g.price).sum(),
                                                                       include_groups=False).rename("v").reset_index(),
                          {I("store"), N("store", "store", "GROUP_BY"), D("v", "qty", "AGGREGATION"),
                           D("v", "price", "AGGREGATION")},
                          {X("store", "GROUP_BY")}),
    "groupby filter": Case(lambda f: f["orders"][["id", "store", "qty"]].groupby("store").filter(
        lambda g: g.qty.sum() > 10), same("id", "store", "qty"), {X("qty", "FILTER"), X("store", "FILTER")}),
    "value_counts": Case(lambda f: f["orders"].cat.value_counts().reset_index(),
                         {I("cat"), N("cat", "cat", "GROUP_BY"), D("count", "cat", "AGGREGATION")},
                         {X("cat", "GROUP_BY")}),
    "groupby by series": Case(lambda f: f["orders"].qty.groupby(f["orders"].cat).max().reset_index(),
                              {I("cat"), N("cat", "cat", "GROUP_BY"), D("qty", "qty", "AGGREGATION")},
                              {X("cat", "GROUP_BY")}),
    # ------------------------------------------------------------------ windows
    "rolling": Case(lambda f: f["orders"][["qty"]].rolling(2).mean(), {D("qty", "qty", "AGGREGATION")}),
    "rolling on a column": Case(lambda f: f["orders"][["id", "qty"]].rolling(2, on="id").sum(),
                                {I("id"), D("qty", "qty", "AGGREGATION"), N("qty", "id", "WINDOW")}),
    "cumsum and shift": Case(lambda f: f["orders"][["qty"]].cumsum().assign(prev=f["orders"].price.shift(1)),
                             {D("qty", "qty", "AGGREGATION"), D("prev", "price", "TRANSFORMATION")}),
    "groupby rolling": Case(lambda f: f["orders"].groupby("store")["qty"].rolling(2).sum().reset_index(),
                            {I("store"), D("qty", "qty", "AGGREGATION"), N("qty", "store", "WINDOW")}),
    # ------------------------------------------------------------------ series operations
    "arithmetic": Case(lambda f: (f["orders"].qty * f["orders"].price + 1).rename("r"),
                       {D("r", "qty", "TRANSFORMATION"), D("r", "price", "TRANSFORMATION")}),
    "frame arithmetic": Case(lambda f: f["orders"][["qty", "price"]] * 2,
                             {D("qty", "qty", "TRANSFORMATION"), D("price", "price", "TRANSFORMATION")}),
    "numpy ufunc": Case(lambda f: np.log(f["orders"].qty), {D("qty", "qty", "TRANSFORMATION")}),
    "string accessor": Case(lambda f: f["orders"].cat.str.upper(), {D("cat", "cat", "TRANSFORMATION")}),
    "datetime accessor": Case(lambda f: pd.to_datetime(f["orders"].day).dt.day, {D("day", "day", "TRANSFORMATION")}),
    "category codes": Case(lambda f: f["orders"].cat.astype("category").cat.codes.rename("code"),
                           {D("code", "cat", "TRANSFORMATION")}),
    "row-wise sum": Case(lambda f: f["orders"][["qty", "price"]].sum(axis=1).rename("s"),
                         {D("s", "qty", "TRANSFORMATION"), D("s", "price", "TRANSFORMATION")}),
    "isin another file": Case(lambda f: f["orders"][["id"]][f["orders"].store.isin(f["stores"].store)],
                              {I("id")}, {X("store", "FILTER"), X("store", "FILTER", "stores")}),
    "cut": Case(lambda f: pd.cut(f["orders"].qty, 3, labels=["lo", "mid", "hi"]).rename("band"),
                {D("band", "qty", "TRANSFORMATION")}),
    # ------------------------------------------------------------------ constructors
    "frame from dict of series": Case(lambda f: pd.DataFrame({"a": f["orders"].qty, "b": f["orders"].price * 2}),
                                      {I("a", "qty"), D("b", "price", "TRANSFORMATION")}),
    "frame from array": Case(lambda f: pd.DataFrame(f["orders"][["qty", "price"]].to_numpy(), columns=["x", "y"]),
                             {I("x", "qty"), I("y", "price")}),
    # ------------------------------------------------------------------ unknown operations
    "unknown method is over-approximated": Case(
        lambda f: f["orders"][["qty", "price"]].corrwith(f["orders"][["qty", "price"]] * 2).rename("c"),
        {N("c", "qty", "CONDITIONAL"), N("c", "price", "CONDITIONAL")}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_operation_lineage(tracking, tmp_path, name):
    case = CASES[name]
    fields, dataset, _ = run_case(tracking, tmp_path, case.op)
    assert fields == case.fields
    assert dataset == case.dataset


def test_values_of_a_frame_saved_with_numpy_keep_per_column_lineage(tracking, tmp_path):
    fields, _, _ = run_case(tracking, tmp_path, lambda f: f["orders"][["qty", "price"]].values, suffix="npy")
    assert fields == {I("qty"), I("price")}


def test_fallback_for_an_untraceable_function_depends_on_every_column_and_says_so(tracking, tmp_path):
    scale = {"qty": 2}

    def opaque(row: Any) -> Any:
        return sum(row[k] * v for k, v in scale.items())  # labels come from a dict: not statically known

    _, _, final = run_case(tracking, tmp_path,
                           lambda f: f["orders"][["qty", "price"]].apply(opaque, axis=1).rename("s"))
    output = next(o for o in final["outputs"] if o["name"].endswith("out.csv"))
    inputs = output["facets"]["columnLineage"]["fields"]["s"]["inputFields"]
    assert {i["field"] for i in inputs} == {"qty", "price"}
    assert all("every column assumed" in t["description"] for i in inputs for t in i["transformations"])


def test_unknown_operation_is_logged_as_approximated(tracking, tmp_path):
    _, _, final = run_case(tracking, tmp_path, CASES["unknown method is over-approximated"].op)
    ops = final["run"]["facets"]["pandas_operationLog"]["operations"]
    [entry] = [op for op in ops if op["operation"] == "DataFrame.corrwith"]
    assert entry["approximated"] is True
    description = final["outputs"][0]["facets"]["columnLineage"]["fields"]["c"]["inputFields"][0]
    assert "over-approximated: DataFrame.corrwith" in description["transformations"][0]["description"]


def test_column_statistics_fill_and_scale_each_column_from_itself(tracking, tmp_path):
    def op(f: Frames) -> Any:
        numbers = f["orders"][["qty", "price"]]
        filled = numbers.fillna(numbers.mean())
        return (filled - filled.min()) / (filled.max() - filled.min())

    fields, dataset, _ = run_case(tracking, tmp_path, op)
    # each column from itself: its values (TRANSFORMATION) and its own statistics (AGGREGATION), never the other
    assert fields == {D(c, c, s) for c in ("qty", "price") for s in ("TRANSFORMATION", "AGGREGATION")}
    assert dataset == set()
