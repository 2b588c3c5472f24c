"""The wrapper every hook uses and the hooked-method descriptor: the compiled hot path and its pure-Python
fallback behave the same (each test runs against both)."""

from __future__ import annotations

import copy
import functools
import inspect
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from openlineage_pandas import safety
from openlineage_pandas.hooks import _patching, pandas_ops

# The process's configuration decides what can run here: with the compiled hot path loaded, both wrappers (the
# Python one then runs on the compiled guard and switch); with OPENLINEAGE_PANDAS_SPEEDUPS=false, the Python one.
IMPLEMENTATIONS = ["compiled", "python"] if _patching.speedups is not None else ["python"]


@pytest.fixture(params=IMPLEMENTATIONS)
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """`make_wrapper` builds the compiled wrapper while `_patching.speedups` is set, else the Python one."""
    if request.param == "python":
        monkeypatch.setattr(_patching, "speedups", None)
    return str(request.param)


@pytest.fixture
def switch() -> Any:
    on = _patching.TrackingSwitch()
    on.on = True
    return on


class Recorded:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, Any]] = []

    def __call__(self, call: _patching.HookedCall, result: Any) -> None:
        self.calls.append((call, result))


def add(a: int, b: int = 0, *, scale: int = 1) -> int:
    """Adds."""
    return (a + b) * scale


def test_the_call_is_recorded_with_the_users_arguments_and_result(implementation: str, switch: Any) -> None:
    recorder = Recorded()
    wrapper = _patching.make_wrapper("add", add, recorder, switch)

    assert wrapper(2, b=3, scale=10) == 50
    (call, result), = recorder.calls
    assert (call.name, call.args, call.kwargs, call.target_position, call.original) == \
        ("add", (2,), {"b": 3, "scale": 10}, 0, add)
    assert result == 50
    assert _patching._guard.depth == 0


def test_nothing_is_recorded_while_tracking_is_off_or_inside_a_hooked_call(implementation: str, switch: Any
                                                                         ) -> None:
    recorder = Recorded()
    inner = _patching.make_wrapper("inner", add, recorder, switch)
    outer = _patching.make_wrapper("outer", lambda a: inner(a, 1), recorder, switch)

    assert outer(1) == 2
    assert [call.name for call, _ in recorder.calls] == ["outer"]
    switch.on = False
    assert outer(1) == 2 and len(recorder.calls) == 1
    with _patching.suspended():
        switch.on = True
        assert inner(1, 1) == 2 and len(recorder.calls) == 1


def test_the_fast_recorder_sees_the_call_first_and_the_recorder_gets_the_rest(implementation: str, switch: Any
                                                                            ) -> None:
    recorder, fast_seen = Recorded(), []

    def fast(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
        fast_seen.append((args, kwargs, result))
        return args[0] == 1

    wrapper = _patching.make_wrapper("add", add, recorder, switch, fast=fast)
    wrapper(1, 1)
    wrapper(2, scale=2)
    assert fast_seen == [((1, 1), {}, 2), ((2,), {"scale": 2}, 4)]
    assert [(call.args, call.kwargs) for call, _ in recorder.calls] == [((2,), {"scale": 2})]


def test_a_failing_recorder_is_reported_once_and_the_result_is_returned(implementation: str, switch: Any,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "_raise_errors", False)
    safety.reset_warnings()

    def broken(call: Any, result: Any) -> None:
        raise ValueError("recorder bug")

    wrapper = _patching.make_wrapper(f"broken-{implementation}", add, broken, switch)
    assert wrapper(1, 2) == 3
    assert wrapper(1, 2) == 3
    assert f"hook broken-{implementation}" in safety.warned_components()
    assert _patching._guard.depth == 0


def test_a_fast_recorder_failure_and_an_injected_fault_are_contained_too(implementation: str, switch: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(safety, "_raise_errors", False)
    recorder = Recorded()

    def broken_fast(args: Any, kwargs: Any, result: Any) -> bool:
        raise KeyError("fast bug")

    assert _patching.make_wrapper("fast", add, recorder, switch, fast=broken_fast)(1, 2) == 3
    safety.set_fault_injection(True)
    try:
        assert _patching.make_wrapper("faulty", add, recorder, switch)(1, 2) == 3
    finally:
        safety.set_fault_injection(None)
    assert recorder.calls == []


def test_not_an_exception_propagates_from_the_recorder(implementation: str, switch: Any) -> None:
    def interrupted(call: Any, result: Any) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _patching.make_wrapper("interrupted", add, interrupted, switch)(1, 2)
    assert _patching._guard.depth == 0


def test_the_originals_exception_propagates_unchanged(implementation: str, switch: Any) -> None:
    recorder = Recorded()
    error = ZeroDivisionError("user error")

    def failing() -> None:
        raise error

    with pytest.raises(ZeroDivisionError) as raised:
        _patching.make_wrapper("failing", failing, recorder, switch)()
    assert raised.value is error and recorder.calls == []
    assert _patching._guard.depth == 0


def test_the_guard_is_per_thread(implementation: str, switch: Any) -> None:
    recorder = Recorded()
    inside, release = threading.Event(), threading.Event()

    def blocking() -> int:
        inside.set()
        release.wait(10)
        return 1

    slow = _patching.make_wrapper("slow", blocking, recorder, switch)
    quick = _patching.make_wrapper("quick", add, recorder, switch)
    worker = threading.Thread(target=slow)
    worker.start()
    inside.wait(10)
    quick(1)  # recorded: the other thread's hooked call does not raise this thread's guard
    release.set()
    worker.join(10)
    assert sorted(call.name for call, _ in recorder.calls) == ["quick", "slow"]


def test_a_wrapper_binds_and_introspects_like_the_function_it_wraps(implementation: str, switch: Any) -> None:
    recorder = Recorded()

    class Box:
        def __init__(self, value: int) -> None:
            self.value = value

        def plus(self, other: int) -> int:
            """Adds to the box."""
            return self.value + other

    original = Box.__dict__["plus"]
    Box.plus = _patching.make_wrapper("Box.plus", original, recorder, switch, method=True)  # type: ignore[method-assign]
    box = Box(1)
    assert box.plus(2) == 3 and Box.plus(box, 2) == 3
    call, _ = recorder.calls[0]
    assert call.receiver is box and call.argument(1, "other") == 2
    assert Box.plus.__name__ == "plus" and Box.plus.__doc__ == "Adds to the box."
    assert Box.plus.__wrapped__ is original
    assert str(inspect.signature(box.plus)) == "(other: 'int') -> 'int'"
    assert copy.deepcopy(Box.plus) is Box.plus
    static = staticmethod(_patching.make_wrapper("add", add, recorder, switch))
    assert static.__get__(None, Box)(1, 1) == 2


def test_the_hooked_method_is_the_original_inside_pandas_and_the_wrapper_outside() -> None:
    on = _patching.TrackingSwitch()

    def method(self: Any) -> str:
        return "original"

    def wrapper(self: Any) -> str:
        return "wrapper"

    for hooked_type in {pandas_ops._HookedMethod, pandas_ops._PyHookedMethod}:
        class Owner:
            m = hooked_type(method, wrapper, on)

        owner = Owner()
        assert owner.m() == "original" and Owner.m is method  # tracking off
        on.on = True
        assert owner.m() == "wrapper" and Owner.m is wrapper
        with _patching.suspended():
            assert owner.m() == "original"
        assert owner.m.__func__ is wrapper
        on.on = False


def _events_of(script: str, tmp_path: Path, speedups: str) -> list[dict[str, Any]]:
    store = tmp_path / f"store-{speedups}"
    env = {**os.environ, "OPENLINEAGE_PANDAS_SPEEDUPS": speedups, "OPENLINEAGE_PANDAS_DIR": str(store),
           "OPENLINEAGE_PANDAS_EVENT_WORKER": "thread"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=tmp_path, timeout=120)
    return [json.loads(line) for line in (store / "events.jsonl").read_text().splitlines()]


def test_both_hot_paths_give_the_same_events_and_the_setting_chooses(tmp_path: Path) -> None:
    script = """
import warnings
import pandas as pd
import openlineage_pandas
from openlineage_pandas.hooks import _patching
openlineage_pandas.enable()
print(type(_patching.tracking).__module__)
pd.DataFrame({"a": [1, 2, None], "b": ["x", "y", "z"]}).to_csv("in.csv", index=False)
df = pd.read_csv("in.csv")
out = df.rename(columns={"a": "n"}).dropna()
out = out[out["n"] > 1].assign(c=lambda d: d["n"] * 2)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    df.groupby("b").agg(total=("a", "sum")).fillna(0).astype({"total": "int64"})
out.merge(df, on="b").to_csv("out.csv", index=False)
"""
    compiled, python = (_events_of(script, tmp_path, value) for value in ("true", "false"))

    def lineage(events: list[dict[str, Any]]) -> list[Any]:
        return [(o["name"], o["facets"].get("columnLineage"), o["facets"].get("schema")) for e in events
                for o in e.get("outputs", [])]

    assert lineage(compiled) == lineage(python)
    assert any(facets for _, facets, _ in lineage(compiled))


@pytest.mark.parametrize(("value", "module"), [("false", "openlineage_pandas.hooks._patching"),
                                               ("true", "openlineage_pandas.hooks._speedups"),
                                               ("maybe", "openlineage_pandas.hooks._speedups")])
def test_the_setting_selects_the_hot_path_and_a_wrong_value_is_named(value: str, module: str) -> None:
    env = {**os.environ, "OPENLINEAGE_PANDAS_SPEEDUPS": value}
    proc = subprocess.run([sys.executable, "-c", "from openlineage_pandas.hooks import _patching; "
                           "print(type(_patching.tracking).__module__)"],
                          env=env, capture_output=True, text=True, check=True, timeout=60)
    assert proc.stdout.strip() == module
    if value == "maybe":
        assert "OPENLINEAGE_PANDAS_SPEEDUPS='maybe'" in proc.stderr and "accepted values" in proc.stderr


def test_functools_partial_of_a_wrapper_still_records(implementation: str, switch: Any) -> None:
    recorder = Recorded()
    partial = functools.partial(_patching.make_wrapper("add", add, recorder, switch), 1)
    assert partial(b=2) == 3 and recorder.calls[0][0].kwargs == {"b": 2}



def stack(objs: Any, sep: str = "") -> str:
    return sep.join(str(o) for o in objs)


@pytest.mark.parametrize("by_keyword", [False, True])
def test_a_one_shot_iterator_as_the_first_argument_is_listed_for_the_recording(
        implementation: str, switch: Any, by_keyword: bool) -> None:
    recorder = Recorded()
    seen: list[Any] = []

    def original(objs: Any, sep: str = "") -> str:
        seen.append(objs)
        return stack(objs, sep)

    wrapper = _patching.make_wrapper("stack", original, recorder, switch, materialize="objs")
    calls = (lambda it: wrapper(objs=it, sep="-")) if by_keyword else (lambda it: wrapper(it, sep="-"))

    assert calls(iter([1, 2, 3])) == "1-2-3"
    (call, result), = recorder.calls
    assert result == "1-2-3"
    given = call.kwargs["objs"] if by_keyword else call.args[0]
    assert given == [1, 2, 3] and seen[-1] is given  # the original and the recorder saw the same list
    for kept in ([1, 2], (1, 2)):  # lists and tuples are passed through as they are
        assert calls(kept) == "1-2" and seen[-1] is kept
    switch.on = False
    untouched = iter([4])
    assert calls(untouched) == "4" and seen[-1] is untouched  # not recording: the user's own argument
    switch.on = True

    def failing() -> Any:
        yield 1
        raise KeyError("from the user's generator")

    with pytest.raises(KeyError, match="user's generator"):  # as the original would have raised it
        calls(failing())
    assert _patching._guard.depth == 0

    many = _patching.make_wrapper("many", lambda objs, **extra: (list(objs), extra), recorder, switch,
                                  materialize="objs")
    extra = {f"k{i}": i for i in range(12)}  # more arguments than the compiled wrapper keeps on its stack
    assert many(iter("ab"), **extra) == (["a", "b"], extra)
    assert recorder.calls[-1][0].args[0] == ["a", "b"] and recorder.calls[-1][0].kwargs == extra
