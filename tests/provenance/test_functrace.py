"""Tracing which columns a user function reads: from its source when available, from its bytecode otherwise,
and every column only as an announced fallback."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from openlineage_pandas.provenance.functrace import FRAME, ROW, clear_cache, source_available, trace_columns

COLUMNS = ["a", "b", "c", "d", "total"]
PICKED = ["c", "d"]
KEY = "d"


def helper(row):
    return row["c"] * 2


def calls_helper(r):
    return helper(r) + r.a


def with_local(r):
    column = "b"
    return r[column]


def loops_over_global(r):
    return sum(r[c] for c in PICKED)


def passes_to_unknown(r):
    return unknown_function(r)  # noqa: F821 - never called: only read


class Scorer:
    def __call__(self, row):
        return row.get("a", 0) * 2


CASES = {
    "subscript": (lambda d: d["a"] * 2, FRAME, ("a",)),
    "attributes": (lambda r: r.b + r.c, ROW, ("b", "c")),
    "get": (lambda r: r.get("c", 0), ROW, ("c",)),
    "loc with mask": (lambda d: d.loc[d.a > 0, "b"], FRAME, ("a", "b")),
    "mask then column": (lambda d: d[d.a > 1]["c"].sum(), FRAME, ("a", "c")),
    "list of columns": (lambda d: d[["a", "b"]].sum(axis=1), FRAME, ("a", "b")),
    "row loc": (lambda r: r.loc["d"] + r.at["a"], ROW, ("a", "d")),
    "closure/global label": (lambda r: r[KEY], ROW, ("d",)),
    "loop over a global list": (loops_over_global, ROW, ("c", "d")),
    "loop over literals": (lambda r: sum(r[c] for c in ("a", "b")), ROW, ("a", "b")),
    "helper function": (calls_helper, ROW, ("a", "c")),
    "local constant": (with_local, ROW, ("b",)),
    "callable object": (Scorer(), ROW, ("a",)),
    "partial": (functools.partial(lambda x, r: r.a + x, 3), ROW, ("a",)),
    "metadata only": (lambda d: len(d) + d.shape[0] + d.c, FRAME, ("c",)),
    "frame-preserving method": (lambda d: d.dropna().b.mean(), FRAME, ("b",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_traces_exactly_the_columns_read(name: str):
    func, kind, expected = CASES[name]
    trace = trace_columns(func, COLUMNS, kind)
    assert trace.complete, trace
    assert trace.columns == expected
    assert trace.note is None


@pytest.mark.parametrize("func", [lambda d: d * 2, lambda r: r.sum(), lambda d: d.values.mean(), np.log, "sum"],
                         ids=["arithmetic", "reduction", "values", "ufunc", "named"])
def test_whole_input_uses_are_exact_every_column(func: object):
    trace = trace_columns(func, COLUMNS, FRAME)
    assert trace.columns == tuple(COLUMNS)
    assert trace.complete


@pytest.mark.parametrize("func", [passes_to_unknown, lambda r, col=None: r[col]],
                         ids=["unknown callee", "parameter label"])
def test_untraceable_uses_fall_back_to_every_column_and_say_so(func: object):
    trace = trace_columns(func, COLUMNS, ROW)
    assert trace.columns == tuple(COLUMNS)
    assert not trace.complete
    assert trace.note and "every column" in trace.note


def test_two_lambdas_on_one_line_are_told_apart():
    first, second = (lambda d: d.a), (lambda d: d.b)
    assert trace_columns(first, COLUMNS).columns == ("a",)
    assert trace_columns(second, COLUMNS).columns == ("b",)


def test_identity_is_detected_for_a_bare_column_access():
    assert trace_columns(lambda d: d["b"], COLUMNS).identity == "b"
    assert trace_columns(lambda d: d.b + 1, COLUMNS).identity is None


def test_without_source_the_bytecode_names_are_used():
    func = eval("lambda r: r['a'] + r.b")  # no source file to read
    assert not source_available(func)
    trace = trace_columns(func, COLUMNS, ROW)
    assert trace.columns == ("a", "b")
    assert trace.method == "bytecode"


def test_bytecode_without_candidates_is_an_announced_fallback():
    func = eval("lambda r: helper_unknown(r)")
    trace = trace_columns(func, COLUMNS, ROW)
    assert not trace.complete and trace.columns == tuple(COLUMNS)


def test_only_available_columns_are_reported_and_the_cache_sees_new_frames():
    func = lambda d: d.a + d.zz  # noqa: E731
    assert trace_columns(func, COLUMNS).columns == ("a",)
    assert trace_columns(func, ["zz", "a"]).columns == ("zz", "a")
    clear_cache()
    assert trace_columns(func, ["a"]).columns == ("a",)


def test_global_label_is_resolved_at_call_time():
    global KEY
    func = lambda r: r[KEY]  # noqa: E731
    assert trace_columns(func, COLUMNS, ROW).columns == ("d",)
    KEY = "a"
    try:
        assert trace_columns(func, COLUMNS, ROW).columns == ("a",)
    finally:
        KEY = "d"
