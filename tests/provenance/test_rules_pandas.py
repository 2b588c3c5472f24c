"""Ground truth for the pure pandas lineage rules: each family lists every expected (output column <- input
dataset:column, type, subtype) edge, with no pandas and no patching involved."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from openlineage_pandas.provenance import rules_pandas as R
from openlineage_pandas.provenance.model import (
    CONDITIONAL,
    FILTER,
    GROUP_BY,
    IDENTITY_T,
    SORT,
    FrameLineage,
    SourceField,
    Transform,
    source_lineage,
)

ORDERS = ["id", "store", "qty", "price", "cat"]
STORES = ["store", "region"]

Edge = tuple[Hashable, str, str, str, str]


def orders() -> FrameLineage:
    return source_lineage("file", "orders", ORDERS)


def stores() -> FrameLineage:
    return source_lineage("file", "stores", STORES)


def edges(lin: FrameLineage) -> set[Edge]:
    return {(out, src.name, src.field, t.type, t.subtype)
            for out, origins in lin.columns.items() for src, ts in origins.items() for t in ts}


def dataset_edges(lin: FrameLineage) -> set[tuple[str, str, str, str]]:
    return {(src.name, src.field, t.type, t.subtype) for src, ts in lin.dataset.items() for t in ts}


def ident(out: Hashable, dataset: str = "orders", field: str | None = None) -> Edge:
    return (out, dataset, out if field is None else field, "DIRECT", "IDENTITY")  # type: ignore[return-value]


def direct(out: Hashable, field: str, subtype: str, dataset: str = "orders") -> Edge:
    return (out, dataset, field, "DIRECT", subtype)


def indirect(field: str, subtype: str, dataset: str = "orders") -> tuple[str, str, str, str]:
    return (dataset, field, "INDIRECT", subtype)


# ---------------------------------------------------------------------------------------------- selection
def test_column_selection_is_identity_and_keeps_only_selected_columns():
    result = R.keep(orders(), ["qty", "id"])
    assert list(result.columns) == ["qty", "id"]
    assert edges(result) == {ident("qty"), ident("id")}
    assert dataset_edges(result) == set()


def test_boolean_filter_adds_filter_influence_from_the_mask_sources_only():
    lin = orders()
    mask = R.chain(lin.columns["price"], R.TRANSFORM)  # df["price"] > 50
    result = R.filter_rows(lin, ORDERS, mask, "boolean mask")
    assert edges(result) == {ident(c) for c in ORDERS}
    assert dataset_edges(result) == {indirect("price", FILTER)}


def test_query_expression_names_backticks_and_locals():
    expr = R.parse_expression("price > 50 and `qty` < @limit or cat == 'a'")
    assert expr.names() == {"price", "qty", "cat"}
    lin = orders()
    result = R.filter_rows(lin, ORDERS, R.expression_origins(lin, expr.names(), IDENTITY_T), "query")
    assert dataset_edges(result) == {indirect("price", FILTER), indirect("qty", FILTER), indirect("cat", FILTER)}


def test_query_with_a_spaced_backtick_name_maps_back_to_the_label():
    expr = R.parse_expression("`unit price` * 2 > qty")
    assert expr.names() == {"unit price", "qty"}


def test_eval_assignments_chain_in_order():
    expr = R.parse_expression("rev = price * qty\nrev2 = rev + 1")
    result = R.eval_assign(orders(), expr, [*ORDERS, "rev", "rev2"])
    want = {direct(out, f, "TRANSFORMATION") for out in ("rev", "rev2") for f in ("price", "qty")}
    assert edges(result) - {ident(c) for c in ORDERS} == want


def test_unparsable_expression_falls_back_to_identifiers():
    assert {"price", "qty"} <= R.parse_expression("price >> qty <<<").names()


def test_sort_key_is_a_sort_influence():
    lin = orders()
    result = R.filter_rows(lin, ORDERS, R.merge(lin.columns["store"], lin.columns["qty"]), "sort_values",
                           subtype=SORT)
    assert dataset_edges(result) == {indirect("store", SORT), indirect("qty", SORT)}
    assert edges(result) == {ident(c) for c in ORDERS}


# ---------------------------------------------------------------------------------------------- cleaning
def test_fill_only_touches_the_filled_columns_and_brings_the_fill_source():
    lin = orders()
    other = R.chain(lin.columns["qty"], R.TRANSFORM)
    result = R.keep(lin, ORDERS, step=R.TRANSFORM, only=["price"], extra={"price": other})
    assert edges(result) == ({ident(c) for c in ORDERS if c != "price"}
                             | {direct("price", "price", "TRANSFORMATION"), direct("price", "qty", "TRANSFORMATION")})


def test_conditional_update_keeps_old_values_adds_new_and_condition():
    lin = orders()
    result = R.conditional_update(lin, ["price"], lin.columns["id"], lin.columns["qty"], ORDERS, "loc")
    assert edges(result) >= {ident("price"), direct("price", "id", "IDENTITY"),
                             ("price", "orders", "qty", "INDIRECT", CONDITIONAL)}
    assert ("qty", "orders", "qty", "INDIRECT", CONDITIONAL) not in edges(result)


def test_cast_is_a_described_transformation():
    result = R.keep(orders(), ORDERS, step=R.CAST, only=["qty"])
    [transform] = next(iter(result.columns["qty"].values()))
    assert (transform.subtype, transform.description) == ("TRANSFORMATION", "astype: type cast")
    assert result.columns["id"] == orders().columns["id"]


# ---------------------------------------------------------------------------------------------- joins
def test_merge_on_key_coalesces_key_suffixes_clashes_and_joins_on_both_sides():
    left = source_lineage("file", "orders", ["store", "qty", "name"])
    right = source_lineage("file", "stores", ["store", "qty", "region"])
    result = R.merge_frames(left, right, ["store", "qty_x", "name", "qty_y", "region"],
                            left_labels=list(left.columns), right_labels=list(right.columns),
                            left_keys=left.columns["store"], right_keys=right.columns["store"],
                            coalesced=["store"], suffixes=("_x", "_y"))
    assert edges(result) == {
        ident("store"), ident("store", "stores"), ident("qty_x", field="qty"), ident("name"),
        ident("qty_y", "stores", "qty"), ident("region", "stores")}
    assert dataset_edges(result) == {indirect("store", "JOIN"), indirect("store", "JOIN", "stores")}
    assert not result.notes


def test_merge_left_on_right_on_keeps_both_key_columns():
    left = source_lineage("file", "orders", ["sid", "qty"])
    right = source_lineage("file", "stores", ["store", "region"])
    result = R.merge_frames(left, right, ["sid", "qty", "store", "region"], left_labels=["sid", "qty"],
                            right_labels=["store", "region"], left_keys=left.columns["sid"],
                            right_keys=right.columns["store"], coalesced=[], suffixes=("_x", "_y"))
    assert edges(result) == {ident("sid"), ident("qty"), ident("store", "stores"), ident("region", "stores")}
    assert dataset_edges(result) == {indirect("sid", "JOIN"), indirect("store", "JOIN", "stores")}


def test_merge_output_column_that_cannot_be_placed_is_over_approximated_and_noted():
    left, right = orders(), stores()
    result = R.merge_frames(left, right, ["mystery"], left_labels=ORDERS, right_labels=STORES,
                            left_keys={}, right_keys={}, coalesced=[], suffixes=("_x", "_y"))
    kinds = {(e[3], e[4]) for e in edges(result)}
    assert kinds == {("INDIRECT", CONDITIONAL)}
    assert {e[2] for e in edges(result)} == set(ORDERS) | set(STORES)
    assert result.notes


def test_concat_rows_unions_same_named_columns_and_columns_concat_is_positional():
    a, b = orders(), source_lineage("file", "more", ORDERS)
    rows = R.concat_rows([a, b], ["id", "qty"])
    assert edges(rows) == {ident("id"), ident("id", "more"), ident("qty"), ident("qty", "more")}
    cols = R.concat_columns([(a, ["id"]), (stores(), STORES)], ["id", "store", "region"])
    assert edges(cols) == {ident("id"), ident("store", "stores"), ident("region", "stores")}


# ---------------------------------------------------------------------------------------------- grouping
def group(**kwargs: object) -> R.GroupSpec:
    lin = orders()
    return R.GroupSpec(lin, (("store", lin.columns["store"]),), ("store",), **kwargs)  # type: ignore[arg-type]


def test_named_aggregation_maps_each_output_to_its_column_with_masking_for_counts():
    spec = group(as_index=False)
    sources = {"total": (["qty"], R.aggregation_step("sum")), "n": (["id"], R.aggregation_step("count"))}
    result = R.group_reduce(spec, ["store", "total", "n"], sources=sources)
    assert edges(result) == {ident("store"), ("store", "orders", "store", "INDIRECT", GROUP_BY),
                             direct("total", "qty", "AGGREGATION"), direct("n", "id", "AGGREGATION")}
    masked = {t.masking for t in next(iter(result.columns["n"].values()))}
    assert masked == {True}
    assert dataset_edges(result) == {indirect("store", GROUP_BY)}
    assert result.index == {}


def test_group_reduce_with_keys_in_index_round_trips_through_reset_index():
    result = R.group_reduce(group(), ["qty", "price"])
    assert edges(result) == {direct("qty", "qty", "AGGREGATION"), direct("price", "price", "AGGREGATION")}
    assert list(result.index) == ["store"]
    back = R.reset_index(result, ["store", "qty", "price"], 1, False)
    assert ident("store") in edges(back) and back.index == {}


def test_dict_and_list_aggregation_labels_resolve_through_tuple_parts():
    result = R.group_reduce(group(), [("qty", "sum"), ("qty", "mean"), ("price", "max")])
    assert edges(result) == {direct(("qty", "sum"), "qty", "AGGREGATION"),
                             direct(("qty", "mean"), "qty", "AGGREGATION"),
                             direct(("price", "max"), "price", "AGGREGATION")}


def test_size_counts_rows_per_key_masked():
    result = R.group_reduce(group(), [], step=R.aggregation_step("size"), series_name="size",
                            result_is_series=True, from_keys=True)
    [(src, ts)] = result.columns["size"].items()
    assert src.field == "store" and {(t.subtype, t.masking) for t in ts} == {("AGGREGATION", True)}


def test_group_transform_is_a_window_partitioned_by_the_keys():
    spec = group().selected(["qty"], True)
    result = R.group_window(spec, ["qty"], R.AGGREGATE, "groupby.transform", True, "qty")
    assert edges(result) == {direct("qty", "qty", "AGGREGATION"), ("qty", "orders", "store", "INDIRECT", "WINDOW")}
    assert dataset_edges(result) == set()


def test_group_filter_filters_on_traced_columns_and_keys():
    result = R.group_filter(group(), ORDERS, orders().columns["qty"])
    assert dataset_edges(result) == {indirect("qty", FILTER), indirect("store", FILTER)}


def test_group_apply_reducing_to_one_value_aggregates_what_the_function_reads():
    result = R.group_apply(group(), [], ["qty", "price"], same_rows=False, result_is_series=True,
                           series_name=None)
    assert edges(result) == {direct(None, "qty", "AGGREGATION"), direct(None, "price", "AGGREGATION")}
    assert list(result.index) == ["store"]


def test_pivot_table_values_aggregated_and_keys_group():
    lin = orders()
    result = R.pivot(lin, ["a", "b"], index_keys=[("store", lin.columns["store"])],
                     column_keys=lin.columns["cat"], values=["qty"], step=R.AGGREGATE, description="pivot_table")
    assert edges(result) == {direct("a", "qty", "AGGREGATION"), direct("b", "qty", "AGGREGATION")}
    assert dataset_edges(result) == {indirect("store", GROUP_BY), indirect("cat", GROUP_BY)}
    assert list(result.index) == ["store"]


def test_pivot_table_multiple_values_picks_the_value_in_each_label():
    lin = orders()
    result = R.pivot(lin, [("qty", "a"), ("price", "a")], index_keys=[], column_keys={}, values=["qty", "price"],
                     step=R.AGGREGATE, description="pivot_table")
    assert edges(result) == {direct(("qty", "a"), "qty", "AGGREGATION"),
                             direct(("price", "a"), "price", "AGGREGATION")}


# ---------------------------------------------------------------------------------------------- reshaping
def test_melt_value_and_variable_columns():
    result = R.melt(orders(), ["id", "variable", "value"], id_vars=["id"], value_vars=["qty", "price"],
                    var_name="variable", value_name="value")
    assert edges(result) == {ident("id"), direct("value", "qty", "IDENTITY"), direct("value", "price", "IDENTITY"),
                             direct("variable", "qty", "TRANSFORMATION"),
                             direct("variable", "price", "TRANSFORMATION")}


def test_get_dummies_maps_each_indicator_to_its_prefix_source():
    lin = source_lineage("file", "orders", ["id", "cat", "category"])
    result = R.dummies(lin, ["id", "cat_a", "category_x", "category_y"], ["cat", "category"],
                       {"cat": "cat", "category": "category"}, "_")
    assert edges(result) == {ident("id"), direct("cat_a", "cat", "TRANSFORMATION"),
                             direct("category_x", "category", "TRANSFORMATION"),
                             direct("category_y", "category", "TRANSFORMATION")}


def test_stack_unstack_and_explode():
    lin = orders()
    stacked = R.stack(R.keep(lin, ["qty", "price"]), [], True, None)
    assert edges(stacked) == {direct(None, "qty", "IDENTITY"), direct(None, "price", "IDENTITY")}
    grouped = R.group_reduce(R.GroupSpec(lin, (("store", lin.columns["store"]), ("cat", lin.columns["cat"])),
                                         ("store", "cat"), True, ("qty",), True), [], series_name="qty",
                             result_is_series=True)
    wide = R.unstack(grouped, ["a", "b"], "cat", True)
    assert edges(wide) == {direct("a", "qty", "AGGREGATION"), direct("b", "qty", "AGGREGATION")}
    assert list(wide.index) == ["store"]
    assert indirect("cat", GROUP_BY) in dataset_edges(wide)
    exploded = R.explode(lin, ORDERS, ["cat"])
    assert direct("cat", "cat", "TRANSFORMATION") in edges(exploded) and ident("id") in edges(exploded)


def test_transpose_is_recorded_as_an_approximation():
    result = R.transpose(R.keep(orders(), ["qty", "price"]), [0, 1])
    assert edges(result) == {direct(i, f, "IDENTITY") for i in (0, 1) for f in ("qty", "price")}
    assert any("transpose" in n for n in result.notes)


def test_set_index_then_reset_index_round_trips_lineage():
    lin = orders()
    indexed = R.set_index(lin, [("id", lin.columns["id"])], ["store", "qty", "price", "cat"], append=False)
    assert "id" not in indexed.columns and list(indexed.index) == ["id"]
    back = R.reset_index(indexed, ORDERS, 1, False)
    assert edges(back) == edges(lin) and back.index == {}


def test_positional_relabel():
    result = R.positional(orders(), ORDERS, [c.upper() for c in ORDERS])
    assert edges(result) == {ident(c.upper(), field=c) for c in ORDERS}


# ---------------------------------------------------------------------------------------------- operators & windows
def test_series_arithmetic_unions_operands_as_transformation():
    lin = orders()
    price = R.column(lin, "price")
    qty = R.column(lin, "qty")
    result = R.elementwise(price, qty, [None], R.TRANSFORM, left_frame=False, right_frame=False)
    assert edges(result) == {direct(None, "price", "TRANSFORMATION"), direct(None, "qty", "TRANSFORMATION")}


def test_frame_arithmetic_aligns_by_label_and_broadcasts_a_series():
    lin = orders()
    frame = R.keep(lin, ["qty", "price"])
    by_label = R.elementwise(frame, frame, ["qty", "price"], R.TRANSFORM, left_frame=True, right_frame=True)
    assert edges(by_label) == {direct("qty", "qty", "TRANSFORMATION"), direct("price", "price", "TRANSFORMATION")}
    broadcast = R.elementwise(frame, R.column(lin, "id"), ["qty"], R.TRANSFORM, left_frame=True, right_frame=False)
    assert edges(broadcast) == {direct("qty", "qty", "TRANSFORMATION"), direct("qty", "id", "TRANSFORMATION")}


def test_rolling_window_aggregates_the_column_and_windows_on_the_ordering_column():
    lin = orders()
    spec = R.WindowSpec(lin, "rolling", lin.columns["id"], (), ("qty",), ("id",))
    result = R.window_reduce(spec, ["qty"], R.AGGREGATE, "rolling.mean")
    assert edges(result) == {direct("qty", "qty", "AGGREGATION"), ("qty", "orders", "id", "INDIRECT", "WINDOW")}


def test_sequential_ops_window_on_an_index_with_lineage():
    lin = orders()
    indexed = R.set_index(lin, [("id", lin.columns["id"])], ["qty"], append=False)
    result = R.sequential(indexed, ["qty"], R.AGGREGATE, "cumsum")
    assert edges(result) == {direct("qty", "qty", "AGGREGATION"), ("qty", "orders", "id", "INDIRECT", "WINDOW")}
    plain = R.sequential(lin, ["qty"], R.TRANSFORM, "shift")
    assert edges(plain) == {direct("qty", "qty", "TRANSFORMATION")}


def test_reductions_aggregate_every_column_into_one_value():
    result = R.reduce_frame(R.keep(orders(), ["qty", "price"]), None, R.AGGREGATE)
    assert edges(result) == {direct(None, "qty", "AGGREGATION"), direct(None, "price", "AGGREGATION")}


# ---------------------------------------------------------------------------------------------- composition
def test_chain_composes_by_sparks_rules():
    lin = orders()
    twice = R.chain(R.chain(lin.columns["qty"], R.TRANSFORM), R.AGGREGATE)
    assert {t.subtype for ts in twice.values() for t in ts} == {"AGGREGATION"}
    masked = R.chain(R.chain(lin.columns["qty"], R.aggregation_step("count")), R.TRANSFORM)
    assert {(t.subtype, t.masking) for ts in masked.values() for t in ts} == {("AGGREGATION", True)}


def test_value_influences_from_another_frame_travel_with_the_assigned_column():
    lin = orders()
    filtered_other = R.filter_rows(stores(), STORES, stores().columns["region"], "mask")
    value = R.column(filtered_other, "store")
    result = R.set_column(lin, "store2", R.values_of(value), value=value)
    assert ("store2", "stores", "region", "INDIRECT", FILTER) in edges(result)
    assert dataset_edges(result) == set()


@pytest.mark.parametrize(("func", "masked"), [("count", True), ("nunique", True), ("size", True), ("sum", False),
                                              (len, True), ("mean", False)])
def test_aggregation_step_masks_counting_functions(func: object, masked: bool):
    step = R.aggregation_step(func)
    assert (step.subtype, step.masking) == ("AGGREGATION", masked)


def test_shared_transforms_are_interned():
    assert R.transform("DIRECT", "TRANSFORMATION") is R.TRANSFORM
    assert R.influence(FILTER, "x") is R.influence(FILTER, "x")
    assert isinstance(R.influence(FILTER), Transform)


def test_resolve_handles_multiindex_labels():
    lin = source_lineage("file", "wide", [("a", "x"), ("a", "y"), ("b", "x")])
    fields = {src.field for src in R.resolve(lin, "a")}
    assert fields == {"a.x", "a.y"}
    assert {src.field for src in R.resolve(lin, ("b", "x"))} == {"b.x"}
    assert R.resolve(lin, "zzz") == {}


def test_sources_are_hashable_and_picklable_with_a_fresh_hash():
    import pickle

    src = SourceField("file", "/a", "b")
    clone = pickle.loads(pickle.dumps(src))
    assert clone == src and hash(clone) == hash(src) and {src: 1}[clone] == 1
