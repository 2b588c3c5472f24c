"""The compiled fast recorders against the Python closures they are built from (their specification).

Collected only where the compiled hot path is loaded (tests/hooks/conftest.py)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from openlineage_pandas.hooks import _lazy, _patching, pandas_ops
from openlineage_pandas.provenance.registry import ATTRIBUTE

COMMON, HANDED_OVER = False, True


def _check_hooked_method(owner: type, attribute: str, kind: str, call_args: tuple[Any, ...],
                         kwargs: dict[str, Any], handed_over: bool) -> None:
    """The compiled recorder installed on `owner.attribute` against its Python fallback, on one call."""
    hooked = owner.__dict__[attribute]
    installed = hooked.wrapper.fast
    assert type(installed) is _patching.speedups.FastRecorder and installed.kind == kind
    with _patching.suspended():
        results = hooked.original(*call_args, **kwargs), hooked.original(*call_args, **kwargs)
    _check_same_recording(installed, call_args, kwargs, *results, handed_over=handed_over)


def _same(compiled: Any, python: Any) -> bool:
    """Equal, element for element; each result's own column axis compares by its labels."""
    if isinstance(compiled, pd.Index):
        return isinstance(python, pd.Index) and list(compiled) == list(python)
    if isinstance(compiled, tuple):
        return isinstance(python, tuple) and len(compiled) == len(python) and all(
            _same(a, b) for a, b in zip(compiled, python, strict=True))
    return compiled is python or bool(compiled == python)


def _check_same_recording(installed: Any, call_args: tuple[Any, ...], kwargs: dict[str, Any], by_compiled: Any,
                          by_python: Any, handed_over: bool) -> None:
    """A copy of the compiled recorder `installed`, spying on its fallback, records on `by_compiled` what the
    Python fallback records on `by_python` (the same call's result, made twice), handing over only when said."""
    handed: list[Any] = []

    def spy(*call: Any) -> bool:
        handed.append(call)
        return bool(installed.fallback(*call))

    compiled = _patching.speedups.FastRecorder(installed.kind, installed.label, spy, original=installed.original,
                                               rule=installed.rule, logged=installed.logged)
    assert compiled(call_args, dict(kwargs), by_compiled) == installed.fallback(call_args, dict(kwargs), by_python)
    assert bool(handed) is handed_over
    stored = [getattr(result, "__dict__", {}).get(ATTRIBUTE) for result in (by_compiled, by_python)]
    assert (stored[0] is None) is (stored[1] is None)
    if stored[1] is None:
        return
    (gen_c, thunk_c), (gen_p, thunk_p) = stored
    assert gen_c == gen_p
    assert type(thunk_c) is type(thunk_p) and thunk_c.value is None and thunk_p.value is None
    assert (thunk_c.name, thunk_c.fn, thunk_c.depth) == (thunk_p.name, thunk_p.fn, thunk_p.depth)
    assert _same(thunk_c.token, thunk_p.token) and _same(thunk_c.args, thunk_p.args)
    assert _same(thunk_c.labels, thunk_p.labels)
    assert list(thunk_c.force().columns.items()) == list(thunk_p.force().columns.items())




@pytest.mark.parametrize(("method", "args", "kwargs", "handed_over"), [
    ("rename", (), {"columns": {"a": "n"}}, COMMON),
    ("fillna", (0,), {}, COMMON),
    ("fillna", ({"a": 0.5},), {}, COMMON),
    ("sort_values", (["a", "b"],), {"ascending": False}, COMMON),
    ("astype", ({"a": "float64"},), {}, COMMON),
    ("astype", (), {"dtype": {"a": float}}, COMMON),
    ("drop_duplicates", (), {"subset": ("b",)}, COMMON),
    ("dropna", (), {}, COMMON),
    ("query", ("a > 1",), {}, COMMON),
    ("rename", (), {"columns": str.upper}, HANDED_OVER),  # not plain: the compiled recorder hands it to the Python one
    ("astype", ({"a": "float64", "b": pd.StringDtype()},), {}, HANDED_OVER),
])
def test_the_compiled_deferring_recorder_records_what_the_python_one_does(
        tracking: Any, tmp_path: Path, method: str, args: tuple[Any, ...], kwargs: dict[str, Any],
        handed_over: bool) -> None:
    tracking.enable()
    pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", "y"]}).to_csv(tmp_path / "in.csv", index=False)
    frame = pd.read_csv(tmp_path / "in.csv")
    pandas_ops.lineage_for(frame)  # keyed by its labels, as after any first operation on it
    _check_hooked_method(pd.DataFrame, method, "deferring", (frame, *args), kwargs, handed_over)


def test_the_compiled_deferring_recorder_leaves_untracked_and_inplace_calls_alone(tracking: Any) -> None:
    tracking.enable()
    compiled = pd.DataFrame.__dict__["fillna"].wrapper.fast
    untracked = pd.DataFrame({"a": [1.0, None]})
    with _patching.suspended():
        result = untracked.fillna(0)
    assert compiled((untracked, 0), {}, result) is True  # nothing to record
    assert compiled((untracked, 0), {"inplace": True}, None) is False
    assert compiled((untracked, 0), {}, untracked) is False


@pytest.fixture
def orders(tracking: Any, tmp_path: Path) -> pd.DataFrame:
    tracking.enable()
    pd.DataFrame({"a": [1.0, None, 3.0], "b": ["x", "y", "y"], "c": [1, 2, 3]}).to_csv(tmp_path / "in.csv",
                                                                                    index=False)
    frame = pd.read_csv(tmp_path / "in.csv")
    pandas_ops.lineage_for(frame)
    return frame


@pytest.mark.parametrize(("key", "handed_over"), [
    ("a", COMMON), (["a", "b"], COMMON), ("tracked mask", COMMON), ("untracked mask", COMMON),
    (slice(0, 2), COMMON), (pd.Index(["a", "b"]), COMMON), ("stale labels", HANDED_OVER),
])
def test_the_compiled_frame_getitem_recorder_records_what_the_python_one_does(orders: pd.DataFrame, key: Any,
                                                                             handed_over: bool) -> None:
    special = key if isinstance(key, str) else None
    if special == "tracked mask":
        key = orders["a"] > 1
    elif special == "untracked mask":
        key = pd.Series([True, False, True])
    elif special == "stale labels":
        orders.columns = ["A", "B", "C"]  # relabelled behind the tracker's back: the fallback realigns
        key = "A"
    _check_hooked_method(pd.DataFrame, "__getitem__", "frame_getitem", (orders, key), {}, handed_over)


@pytest.mark.parametrize(("right", "handed_over"), [
    (1, COMMON), (np.float64(2.0), COMMON), (np.int64(2), COMMON), ("tracked", COMMON), ("untracked", COMMON),
    ("per-label reduction alive", HANDED_OVER),
])
def test_the_compiled_series_operator_recorder_records_what_the_python_one_does(orders: pd.DataFrame, right: Any,
                                                                               handed_over: bool) -> None:
    left = orders["a"]
    keep_alive = None
    if right == "tracked":
        right = orders["c"]
    elif right == "untracked":
        right = pd.Series([1.0, 2.0, 3.0])
    elif right == "per-label reduction alive":
        keep_alive = orders[["a", "c"]].sum()
        right = 1
    _check_hooked_method(pd.Series, "__add__", "series_binary", (left, right), {}, handed_over)
    del keep_alive


def test_an_untracked_frame_gets_nothing_from_the_compiled_getitem(tracking: Any) -> None:
    tracking.enable()
    untracked = pd.DataFrame({"a": [1, 2]})
    installed = pd.DataFrame.__dict__["__getitem__"].wrapper.fast
    with _patching.suspended():
        result = untracked["a"]
    assert installed((untracked, "a"), {}, result) is False
    assert ATTRIBUTE not in result.__dict__


@pytest.mark.parametrize(("parts", "kwargs", "handed_over"), [
    ("tracked, tracked", {}, COMMON),
    ("tracked, untracked", {"ignore_index": True}, COMMON),
    ("untracked, None, untracked", {}, COMMON),
    ("tracked, tracked", {"axis": 0, "sort": False}, COMMON),
    ("tracked, tracked", {"axis": "index"}, COMMON),
    ("tracked, tracked", {"axis": 1}, HANDED_OVER),
    ("tracked, series", {}, COMMON),
    ("deep chain, tracked", {}, COMMON),
])
def test_the_compiled_concat_recorder_records_what_the_python_one_does(orders: pd.DataFrame, parts: str,
                                                                      kwargs: dict[str, Any],
                                                                      handed_over: bool) -> None:
    deep = orders
    for _ in range(3):
        deep = deep.fillna(0)
    pool = {"tracked": orders, "untracked": pd.DataFrame({"a": [9.0], "b": ["z"], "c": [9]}), "None": None,
            "series": orders["a"], "deep chain": deep}
    objs = [pool[name] for name in parts.split(", ")]
    installed = pd.concat.fast  # the compiled wrapper itself (it also lists a one-shot iterator)
    assert installed.kind == "concat_rows"
    with _patching.suspended():
        results = pd.concat.__openlineage_pandas_original__(objs, **kwargs), \
            pd.concat.__openlineage_pandas_original__(objs, **kwargs)
    _check_same_recording(installed, (objs,), kwargs, *results, handed_over=handed_over)


def test_a_hooked_import_runs_the_module_as_deep_as_a_plain_import(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The post-import hook calls the loader through ThenCall (C): no frame of ours under the module's code, so its
    calls cross CPython's frame-stack chunk boundaries where an untracked import's would."""
    source = "from openlineage_pandas.hooks._speedups import frame_stack_room\nROOM = frame_stack_room()\n"
    for name in ("olp_room_plain", "olp_room_hooked"):
        (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    fired: list[str] = []
    _lazy.when_imported("olp_room_hooked", lambda module: fired.append(module.__name__))
    try:
        rooms = [importlib.import_module(name).ROOM for name in ("olp_room_plain", "olp_room_hooked")]
    finally:
        for name in ("olp_room_plain", "olp_room_hooked"):
            sys.modules.pop(name, None)
    assert fired == ["olp_room_hooked"]
    assert rooms[0] == rooms[1]


def test_then_call_returns_the_first_result_and_stops_on_its_error() -> None:
    seen: list[tuple[object, ...]] = []
    chained = _patching.speedups.ThenCall(lambda *a, **k: ("first", a, k), lambda *a, **k: seen.append((a, k)))
    assert chained(1, b=2) == ("first", (1,), {"b": 2})
    assert seen == [((1,), {"b": 2})]

    def fail(*_: object) -> None:
        raise KeyError("first failed")

    with pytest.raises(KeyError):
        _patching.speedups.ThenCall(fail, seen.append)(3)
    assert len(seen) == 1


def test_the_compiled_log_writes_to_the_innermost_job_and_only_counts_past_the_bound(
        tracking: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openlineage_pandas
    from openlineage_pandas import run

    monkeypatch.setenv("OPENLINEAGE_PANDAS_OPLOG_MAX_ENTRIES", "2")
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1.0, None], "b": [1, 2]}).to_csv(src, index=False)
    tracking.enable()
    frame = pd.read_csv(src)
    frame.rename(columns={"a": "x"})  # the script run's log is now full
    outer = run.process_run()
    assert outer is not None and outer.oplog.full
    with openlineage_pandas.job("inner") as inner:
        for _ in range(5):
            frame.dropna()
    assert inner is not None and [e.operation for e in inner.oplog.entries] == ["DataFrame.dropna"] * 2
    assert inner.oplog.total == 5
    assert [e.operation for e in outer.oplog.entries] == ["pandas.read_csv", "DataFrame.rename"]
    frame.dropna()
    assert outer.oplog.total == 3


def test_the_compiled_tracked_entry_answers_as_its_specification(tracking: Any, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    pd.DataFrame({"a": [1.0, None], "b": [1, 2]}).to_csv(src, index=False)
    tracking.enable()
    read = pd.read_csv(src)
    derived = read.dropna()
    relabelled = read.rename(columns={"b": "c"})
    relabelled.columns = ["x", "y"]  # behind our back: the spec realigns through lineage_for
    frames = {"read": read, "derived": derived, "relabelled": relabelled, "series": read["a"],
              "untracked": pd.DataFrame({"z": [1]})}
    for name, frame in frames.items():
        compiled = _patching.speedups.tracked_entry(frame)
        expected = pandas_ops._tracked_entry_spec(frame)
        assert type(compiled) is type(expected), name
        if expected is None:
            continue
        forced = [v.force() if hasattr(v, "force") else v for v in (compiled, expected)]
        assert list(forced[0].columns.items()) == list(forced[1].columns.items()), name
    assert pandas_ops._tracked_entry is _patching.speedups.tracked_entry
