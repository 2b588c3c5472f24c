"""Hooks on numpy array functions (`where`, `select`, the stacking family, `clip`, `round`, `dot`, ...).

Ufuncs (`np.log`, `a + b`) and slicing are not patchable on ndarray; views are resolved from their base instead.
"""

from __future__ import annotations

import sys
import threading
import types
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from openlineage_pandas.hooks._io import shape2
from openlineage_pandas.hooks._patching import (
    HookedCall,
    Instrumentor,
    _guard,
    compiled_wrapper,
    make_wrapper,
    speedups,
    tracking,
)
from openlineage_pandas.provenance import rules_ml as R
from openlineage_pandas.provenance.model import (
    DIRECT,
    TRANSFORMATION,
    FrameLineage,
    Transform,
    apply_transform,
    merge_origins,
    over_approximate,
)
from openlineage_pandas.provenance.registry import WeakSideTable, lineage_table
from openlineage_pandas.run import OperationEntry, current_run

ELEMENTWISE_T = Transform(DIRECT, TRANSFORMATION)
DOT_T = Transform(DIRECT, TRANSFORMATION, description="matrix product mixes every input column")

# Tracked arrays that are views, indexed by the array that owns their memory: numpy points a view's `base`
# at the owner, not at the view it was sliced from, so `df.to_numpy()[:, 0]` is resolved through here.
_views_by_owner: WeakSideTable[list[weakref.ref[Any]]] = WeakSideTable()
_views_lock = threading.Lock()
_MAX_VIEWS_PER_OWNER = 16


def register_array(array: Any, lineage: FrameLineage) -> None:
    """Attach `lineage` to an ndarray and remember it under its memory owner, so slices of it stay tracked.

    Code that creates tracked arrays (e.g. `DataFrame.to_numpy`) should call this rather than
    `lineage_table.set` when the array may be a view of untracked memory.
    """
    np = sys.modules.get("numpy")
    if np is not None and isinstance(array, np.ndarray) and array.ndim <= 1 and len(lineage.columns) == 1 \
            and "value" not in lineage.columns:
        # writers name a 1-D array's single field "value" (hooks/_io.columns_of): key the lineage the same way
        lineage = FrameLineage({"value": next(iter(lineage.columns.values()))}, lineage.dataset, lineage.notes,
                               lineage.index)
    lineage_table.set(array, lineage)
    _remember_view(array)


def _remember_view(array: Any) -> None:
    owner = getattr(array, "base", None)
    np = sys.modules.get("numpy")
    if owner is None or np is None or not isinstance(owner, np.ndarray):
        return
    with _views_lock:
        refs = _views_by_owner.get(owner) or []
        refs = [r for r in refs if r() is not None and r() is not array][-(_MAX_VIEWS_PER_OWNER - 1):]
        try:
            refs.append(weakref.ref(array))
        except TypeError:
            return
        _views_by_owner.set(owner, refs)


def _address(array: Any) -> int:
    return int(array.__array_interface__["data"][0])


def _extent(array: Any) -> tuple[int, int]:
    """First and one-past-last byte an array's elements occupy."""
    low = high = _address(array)
    for n, stride in zip(array.shape, array.strides, strict=False):
        if n > 1:
            span = (n - 1) * stride
            low, high = (low + span, high) if span < 0 else (low, high + span)
    return low, high + array.itemsize


def _within(view: Any, base: Any) -> bool:
    v_low, v_high = _extent(view)
    b_low, b_high = _extent(base)
    return b_low <= v_low and v_high <= b_high


def _resolve_view(view: Any, base: Any, base_lin: FrameLineage) -> FrameLineage | None:
    """Lineage of `view` as a view of the tracked `base`; None when it does not lie inside `base`."""
    if not _within(view, base):
        return None
    if len(base_lin.columns) == 1:
        return base_lin  # every element of a one-column array has the same origins
    if base.ndim != 2 or len(base_lin.columns) != base.shape[1]:
        return R.view_lineage(base_lin, None, view.ndim)
    picked = R.view_columns(tuple(base.shape), tuple(base.strides), _address(base),
                            tuple(view.shape), tuple(view.strides), _address(view))
    return R.view_lineage(base_lin, picked, view.ndim)


def array_lineage(obj: Any) -> FrameLineage | None:
    """Lineage of an ndarray, Series or DataFrame argument; untracked views are resolved from their base.

    O(1): one side-table lookup, plus for a view its memory owner and the (few) tracked views of that owner.
    Column slices resolve exactly; other views of a tracked array get all its columns, with a note.
    """
    lin = lineage_table.get(obj)
    if lin is not None:
        return lin  # type: ignore[no-any-return]
    np = sys.modules.get("numpy")
    if np is None or not isinstance(obj, np.ndarray):
        return None
    owner = obj.base
    if owner is None or not isinstance(owner, np.ndarray):
        return None
    candidates = [owner, *(r() for r in _views_by_owner.get(owner) or ())]
    fallback: FrameLineage | None = None
    for candidate in candidates:
        if candidate is None:
            continue
        candidate_lin = lineage_table.get(candidate)
        if candidate_lin is None:
            continue
        resolved = _resolve_view(obj, candidate, candidate_lin)
        if resolved is None:
            continue
        if R.NOTE_VIEW not in resolved.notes or R.NOTE_VIEW in candidate_lin.notes:
            return resolved
        fallback = fallback or resolved
    return fallback


def _args(objs: Sequence[Any]) -> list[R.ArrayArg] | None:
    """The rules' view of a call's array arguments; None, cheaply, when none of them is tracked (the common
    case for numpy calls made by other libraries)."""
    lineages = [array_lineage(o) for o in objs]
    if all(lin is None for lin in lineages):
        return None
    return [R.ArrayArg(lin, _result_shape(o)) for lin, o in zip(lineages, objs, strict=True)]


def _attach(result: Any, lineage: FrameLineage, operation: str, inputs: Sequence[R.ArrayArg]) -> None:
    """Give `result` its lineage and log the operation (marked approximated when a rule over-approximated)."""
    register_array(result, lineage)
    run = current_run()
    if run is None:
        return
    before = next((a for a in inputs if a.lineage is not None), None)
    approximated = any(n.startswith("over-approximated") for n in lineage.notes)
    run.record_operation(OperationEntry(operation, _shape2(before.shape) if before else None, shape2(result),
                                        None, [], [], approximated=approximated))


def _shape2(shape: tuple[int, ...]) -> tuple[int, int] | None:
    if len(shape) == 1:
        return (int(shape[0]), 1)
    if len(shape) >= 2:
        return (int(shape[0]), int(shape[1]))
    return None


def _sequence(value: Any) -> list[Any]:
    # An ndarray given where a sequence is expected stays one part: iterating it would walk its rows.
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _result_shape(result: Any) -> tuple[int, ...]:
    shape = getattr(result, "shape", ())
    return tuple(shape) if isinstance(shape, tuple) else ()


# ---------------------------------------------------------------------------------------------- recorders
def _where(call: HookedCall, result: Any) -> None:
    if len(call.args) + len(call.kwargs) < 3:
        # where(condition) is nonzero(): positions, computed from the condition only
        args = _args([call.argument(0, "condition")])
        cond = args[0].lineage if args is not None else None
        if args is None or cond is None or not isinstance(result, tuple):
            return
        for part in result:
            _attach(part, over_approximate([cond], ["value"], "numpy.where(condition)"), "numpy.where", args)
        return
    args = _args([call.argument(0, "condition"), call.argument(1, "x"), call.argument(2, "y")])
    if args is None:
        return
    _attach(result, R.conditional_lineage("numpy.where", args[:1], args[1:], _result_shape(result)),
            "numpy.where", args)


def _select(call: HookedCall, result: Any) -> None:
    conds = _sequence(call.argument(0, "condlist"))
    choices = [*_sequence(call.argument(1, "choicelist")), call.argument(2, "default", 0)]
    args = _args([*conds, *choices])
    if args is None:
        return
    _attach(result, R.conditional_lineage("numpy.select", args[:len(conds)], args[len(conds):],
                                          _result_shape(result)), "numpy.select", args)


def _stacker(name: str) -> Callable[[HookedCall, Any], None]:
    """Stacking functions: columns side by side, rows appended, or (other layouts) the whole array."""
    operation = f"numpy.{name}"

    def record(call: HookedCall, result: Any) -> None:
        parts = _args(_sequence(call.argument(0, "tup" if name.endswith("stack") else "arrays")))
        if parts is None:
            return
        shape = _result_shape(result)
        axis = call.argument(1, "axis", 0) if name in ("concatenate", "stack") else None
        ndims = {len(p.shape) for p in parts}
        if len(shape) != 2:
            if len(shape) == 1 and ndims <= {0, 1}:
                lin = R.row_concat_lineage(operation, parts, shape)  # 1-D results: values appended
            else:
                lin = R.whole_array_lineage(operation, parts, shape)
        elif name == "column_stack" or (name == "hstack" and ndims == {2}) \
                or (name == "concatenate" and axis in (1, -1)) or (name == "stack" and axis in (1, -1)):
            lin = R.column_concat_lineage(operation, parts)
        elif name in ("vstack", "row_stack") or (name in ("concatenate", "stack") and axis == 0):
            lin = R.row_concat_lineage(operation, parts, shape)
        else:
            lin = R.whole_array_lineage(operation, parts, shape)
        if len(shape) == 2 and len(lin.columns) != shape[1]:
            lin = R.whole_array_lineage(operation, parts, shape)
        _attach(result, lin, operation, parts)

    return record


def _elementwise(name: str, arg_names: Sequence[str]) -> Callable[[HookedCall, Any], None]:
    operation = f"numpy.{name}"

    def record(call: HookedCall, result: Any) -> None:
        args = _args([call.argument(i, n) for i, n in enumerate(arg_names)])
        if args is None:
            return
        _attach(result, R.elementwise_lineage(operation, args, _result_shape(result), ELEMENTWISE_T),
                operation, args)

    return record


def _dot(call: HookedCall, result: Any) -> None:
    args = _args([call.argument(0, "a"), call.argument(1, "b")])
    if args is None:
        return
    shape = _result_shape(result)
    width = R.output_width(shape)
    tracked = [a.lineage for a in args if a.lineage is not None]
    origins = apply_transform(merge_origins(*(lin.all_origins() for lin in tracked)), DOT_T)
    labels: list[Any] = list(range(width)) if len(shape) == 2 else ["value"]
    lin = FrameLineage({label: dict(origins) for label in labels}, merge_origins(*(t.dataset for t in tracked)),
                       tuple(dict.fromkeys(n for t in tracked for n in t.notes)))
    _attach(result, lin, "numpy.dot", args)


# (function name, recorder factory)
RECORDERS: dict[str, Callable[[HookedCall, Any], None]] = {
    "where": _where,
    "select": _select,
    "column_stack": _stacker("column_stack"),
    "hstack": _stacker("hstack"),
    "vstack": _stacker("vstack"),
    "row_stack": _stacker("row_stack"),
    "concatenate": _stacker("concatenate"),
    "stack": _stacker("stack"),
    "clip": _elementwise("clip", ("a", "a_min", "a_max")),
    "round": _elementwise("round", ("a",)),
    "around": _elementwise("around", ("a",)),
    "nan_to_num": _elementwise("nan_to_num", ("x",)),
    "dot": _dot,
}


class _PyFunctionProxy:
    """Stands in for a numpy function: calls go through the recording wrapper, while equality, hashing and
    attributes are the original's, so `__array_function__` registries keyed by numpy functions (astropy,
    dask, pint) still find it, and pickle still finds it as `numpy.<name>`."""

    def __init__(self, original: Any, call: Callable[..., Any]) -> None:
        # instance attributes shadow the class's own __module__/__doc__, so no __getattribute__ is needed
        self.__dict__.update(
            __openlineage_pandas_original__=original, _call=call, __wrapped__=original,
            __module__=original.__module__, __name__=original.__name__, __qualname__=original.__qualname__,
            __doc__=original.__doc__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # numpy functions are called inside pandas all the time: those calls go straight to the original
        if _guard.depth or not tracking.on:
            return self.__openlineage_pandas_original__(*args, **kwargs)
        return self._call(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return self.__openlineage_pandas_original__ == getattr(other, "__openlineage_pandas_original__", other)

    def __hash__(self) -> int:
        return hash(self.__openlineage_pandas_original__)

    def __getattr__(self, item: str) -> Any:
        return getattr(self.__openlineage_pandas_original__, item)

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __reduce__(self) -> Any:
        return self.__openlineage_pandas_original__.__reduce__()

    def __repr__(self) -> str:
        return repr(self.__openlineage_pandas_original__)

    def __str__(self) -> str:
        return str(self.__openlineage_pandas_original__)


_PROXY_TYPES: tuple[type, ...] = (_PyFunctionProxy,) if speedups is None else (_PyFunctionProxy,
                                                                              speedups.FunctionProxy)


def _function_proxy(name: str, original: Any, recorder: Callable[[HookedCall, Any], None],
                    is_active: Any) -> Any:
    """The stand-in for numpy's `name`: compiled (one C call when pandas calls it internally) or `_PyFunctionProxy`
    over an ordinary wrapper. Both compare, hash, print and pickle as the original."""
    if speedups is None:
        return _PyFunctionProxy(original, make_wrapper(name, original, recorder, is_active))
    return compiled_wrapper(speedups.FunctionProxy, name, original, recorder, is_active)


class NumpyOpsInstrumentor(Instrumentor):
    """numpy module functions that combine or select whole arrays."""

    name = "numpy-ops"
    module = "numpy"

    def __init__(self) -> None:
        super().__init__()
        self._proxies: list[tuple[Any, str, Any]] = []

    @property
    def is_instrumented(self) -> bool:
        return bool(self._proxies) or super().is_instrumented

    def _instrument(self) -> None:
        import numpy as np

        for name, recorder in RECORDERS.items():
            original = np.__dict__.get(name)
            if original is None or isinstance(original, _PROXY_TYPES):
                continue
            setattr(np, name, _function_proxy(f"numpy.{name}", original, recorder, self._is_active))
            self._proxies.append((np, name, original))

    def uninstrument(self) -> None:
        with self._lock:
            while self._proxies:
                owner, name, original = self._proxies.pop()
                setattr(owner, name, original)
        super().uninstrument()


__all__ = ["NumpyOpsInstrumentor", "array_lineage", "register_array"]
