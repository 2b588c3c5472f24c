"""The thunk algebra behind lazy lineage: evaluated once, chains depth-capped, failures over-approximated."""

from __future__ import annotations

import pytest

from openlineage_pandas.provenance.deferred import MAX_DEPTH, Deferred, defer, force
from openlineage_pandas.provenance.model import CONDITIONAL, INDIRECT, FrameLineage, source_lineage
from openlineage_pandas.provenance.rules_pandas import keep
from openlineage_pandas.safety import reset_warnings, set_raise_errors, warned_components

BASE = source_lineage("file", "/in.csv", ["a", "b"])


def test_a_thunk_evaluates_once_and_then_lets_go_of_its_inputs() -> None:
    calls: list[int] = []

    def rule(lin: FrameLineage, labels: list[str]) -> FrameLineage:
        calls.append(1)
        return keep(lin, labels)

    thunk = defer("op", rule, BASE, ["a"])
    assert isinstance(thunk, Deferred) and not calls
    first, second = force(thunk), force(thunk)
    assert first is second and len(calls) == 1
    assert list(first.columns) == ["a"] and first.columns["a"] == BASE.columns["a"]
    assert thunk.args is None  # the chain behind an evaluated thunk can be collected


def test_thunk_arguments_that_are_thunks_are_evaluated_first() -> None:
    inner = defer("inner", keep, BASE, ["a", "b"])
    outer = defer("outer", keep, inner, ["b"])
    assert isinstance(outer, Deferred) and outer.depth == 2
    assert list(force(outer).columns) == ["b"]
    assert isinstance(inner, Deferred) and inner.value is not None


def test_chains_never_grow_past_the_depth_cap() -> None:
    lin: Deferred | FrameLineage = BASE
    deepest = 0
    for _ in range(MAX_DEPTH * 3):
        lin = defer("step", keep, lin, ["a", "b"])
        if isinstance(lin, Deferred) and lin.value is None:
            deepest = max(deepest, lin.depth)
    assert deepest <= MAX_DEPTH
    assert force(lin) == keep(BASE, ["a", "b"])


def test_a_failing_rule_over_approximates_and_says_so_once() -> None:
    def broken(lin: FrameLineage) -> FrameLineage:
        raise RuntimeError("rule bug")

    set_raise_errors(False)
    reset_warnings()
    try:
        result = force(defer("DataFrame.broken", broken, BASE, labels=["x"]))
    finally:
        set_raise_errors(None)
    assert result is not None and list(result.columns) == ["x"]
    transforms = {t for ts in result.columns["x"].values() for t in ts}
    assert {(t.type, t.subtype) for t in transforms} == {(INDIRECT, CONDITIONAL)}
    assert set(result.columns["x"]) == set(BASE.columns["a"]) | set(BASE.columns["b"])
    assert any("over-approximated" in note for note in result.notes)
    assert "lineage rule DataFrame.broken" in warned_components()


def test_force_passes_plain_lineage_through() -> None:
    assert force(BASE) is BASE and force(None) is None


@pytest.mark.parametrize("depth", [1, MAX_DEPTH - 1])
def test_depth_counts_only_unevaluated_steps(depth: int) -> None:
    lin: Deferred | FrameLineage = BASE
    for _ in range(depth):
        lin = defer("step", keep, lin, ["a"])
    force(lin)
    after = defer("next", keep, lin, ["a"])
    assert isinstance(after, Deferred) and after.depth == 1
