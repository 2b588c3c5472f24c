"""Hooks on in-memory pandas operations: each tracked result gets its column lineage in the weak side table.

Untracked inputs cost one dict lookup; the rules themselves live in provenance.rules_pandas (pure functions).
"""

from __future__ import annotations

import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from openlineage_pandas import run as run_module
from openlineage_pandas.hooks._patching import (
    _MISSING,
    FastRecorder,
    HookedCall,
    Instrumentor,
    TrackingSwitch,
    _guard,
    _Patch,
    make_wrapper,
    speedups,
)
from openlineage_pandas.hooks._patching import (
    hidden_from_warnings as _hidden_from_warnings,
)
from openlineage_pandas.provenance import deferred
from openlineage_pandas.provenance import rules_pandas as R
from openlineage_pandas.provenance.deferred import MAX_DEPTH, Deferred
from openlineage_pandas.provenance.functrace import (
    FRAME,
    ROW,
    label_only_analysis,
    resolve_labels,
    trace_columns,
)
from openlineage_pandas.provenance.model import (
    AGGREGATION,
    CONDITIONAL,
    DIRECT,
    FILTER,
    GROUP_BY,
    IDENTITY_T,
    SORT,
    TRANSFORMATION,
    FrameLineage,
    field_name,
    over_approximate,
)
from openlineage_pandas.provenance.registry import ATTRIBUTE, WeakSideTable, lineage_table
from openlineage_pandas.run import OperationEntry, current_run

Rule = Callable[[HookedCall, FrameLineage, Any, Any], "FrameLineage | None"]
Lineage = FrameLineage | Deferred  # what the side table holds: lineage, or a thunk that computes it on first use

# Filled by `_bind_pandas()` when pandas is imported (this module never imports pandas itself).
_DF: Any = None
_S: Any = None
_NDARRAY: Any = None
_FRAMES: tuple[type, ...] = ()
_GROUPER: Any = None
_DTYPES: tuple[type, ...] | None = None  # numpy and pandas dtype classes: plain arguments of astype
_SERIES_GROUPBY: Any = None

_get = lineage_table.get
# GroupBy/Resampler -> GroupSpec, Rolling/Expanding/EWM -> WindowSpec, CategoricalAccessor -> its Series' lineage.
_groups: WeakSideTable[R.GroupSpec] = WeakSideTable()
_windows: WeakSideTable[R.WindowSpec] = WeakSideTable()
_accessors: WeakSideTable[FrameLineage] = WeakSideTable()
# Series produced by a reduction over rows (`df.mean()`): column label of the frame -> that column's origins.
_per_label: WeakSideTable[dict[Hashable, Any]] = WeakSideTable()
# label -> {parameter name: position in call.args}, computed once per callable (never inspect per call).
_PARAMS: dict[str, dict[str, int]] = {}
_PARAM_SOURCES: dict[str, tuple[Any, bool]] = {}  # label -> (function, is a method), for `_positions_of`
_SCALARS = (int, float, str, bool, bytes, complex, type(None))


# ---------------------------------------------------------------------------------------------- lineage access
def lineage_for(obj: Any) -> FrameLineage | None:
    """The lineage of `obj`, re-aligned if its columns were relabelled behind our back (`df.columns = [...]`)."""
    lin = _get(obj)
    if lin is None:
        return None
    if _DF is not None and isinstance(obj, _DF):
        cols = obj.columns
        if lin.token is not cols:
            lin = _realign(obj, lin, cols)
    return lin


def _realign(obj: Any, lin: FrameLineage, cols: Any) -> FrameLineage:
    labels = list(cols)
    current = list(lin.columns)
    if labels == current:
        columns = lin.columns
    elif len(labels) == len(current) and len(set(labels)) == len(labels):
        # a same-length relabel is positional (`df.columns = [...]`, `df.columns = df.columns.str.lower()`)
        columns = dict(zip(labels, lin.columns.values(), strict=True))
    else:
        columns = {label: lin.columns.get(label, R.EMPTY) for label in labels}
    new = FrameLineage(columns, lin.dataset, lin.notes, lin.index, cols)
    lineage_table.set(obj, new)
    return new


def aligned_lineage(obj: Any, lin: FrameLineage | None = None) -> FrameLineage | None:
    """Lineage keyed the way writers name the fields: frame columns as they are now, a Series or 1-D array as
    its single field (`name`, or "value" when unnamed). Used by hooks/_io.py for outputs."""
    if lin is None:
        lin = _get(obj)
        if lin is None:
            return None
    if _DF is not None and isinstance(obj, _DF):
        return lineage_for(obj)
    if _S is not None and isinstance(obj, _S):
        label = obj.name if obj.name is not None else "value"
        if len(lin.columns) == 1 and label in lin.columns:
            return lin
        return FrameLineage({label: R.values_of(lin)}, lin.dataset, lin.notes, lin.index)
    if _NDARRAY is not None and isinstance(obj, _NDARRAY) and obj.ndim == 1 and "value" not in lin.columns:
        return FrameLineage({"value": R.values_of(lin)}, lin.dataset, lin.notes, lin.index)
    return lin


def _any_lineage(value: Any) -> FrameLineage | None:
    """Lineage of any argument (frames, Series, arrays, Categoricals); scalars short-circuit."""
    if isinstance(value, _SCALARS):
        return None
    if isinstance(value, _DF):
        return lineage_for(value)
    return _get(value)


def _store(obj: Any, lin: Lineage) -> None:
    if isinstance(obj, _DF):
        lin.token = obj.columns
    lineage_table.set(obj, lin)


# Column labels per Index identity. Index views (the columns of `df.dropna()`, `df[mask]`, ...) share the
# `_id` of the Index they view, so row-wise results reuse their input's labels instead of re-listing them
# (listing an Arrow-backed string Index costs several microseconds). Bounded; keys are tiny sentinels.
_label_cache: dict[int, tuple[object, list[Hashable]]] = {}
_LABEL_CACHE_MAX = 512


def _labels(obj: Any) -> list[Hashable]:
    if isinstance(obj, (_DF, _FrameShape)):
        return _column_labels(obj.columns)
    if isinstance(obj, _S):
        return [obj.name]
    return []


class _FrameShape:
    """A DataFrame as a deferred rule sees it: its column axis only (an immutable Index, O(columns) memory).

    Deferred rules run after the frame may be gone, so they receive this instead of the frame; `_labels` and
    `_is_frame` accept it like a DataFrame."""

    __slots__ = ("columns",)

    def __init__(self, columns: Any) -> None:
        self.columns = columns


def _is_frame(obj: Any) -> bool:
    return isinstance(obj, (_DF, _FrameShape))


def _column_labels(cols: Any) -> list[Hashable]:
    ident = getattr(cols, "_id", None)
    if ident is not None:
        entry = _label_cache.get(id(ident))
        if entry is not None and entry[0] is ident:
            return entry[1]
    labels = _list_labels(cols)
    if ident is not None:
        if len(_label_cache) >= _LABEL_CACHE_MAX:
            _label_cache.clear()
        _label_cache[id(ident)] = (ident, labels)
    return labels


def _list_labels(cols: Any) -> list[Hashable]:
    arrow = getattr(getattr(cols, "_data", None), "_pa_array", None)
    if arrow is not None and getattr(cols, "nlevels", 1) == 1 and not arrow.null_count:
        try:
            return arrow.to_pylist()  # type: ignore[no-any-return]  # 4x faster than iterating the Index
        except Exception:
            pass
    return list(cols)


def _blank(obj: Any) -> FrameLineage:
    return FrameLineage({label: R.EMPTY for label in _labels(obj)})


def _series_lineage(lin: FrameLineage, name: Hashable) -> FrameLineage:
    """A Series' lineage keyed by `name` (Series lineage has one column, whatever its key)."""
    if len(lin.columns) == 1 and name in lin.columns:
        return lin
    return FrameLineage({name: R.values_of(lin)}, lin.dataset, lin.notes, lin.index)


def _arg(call: HookedCall, name: str, default: Any = None) -> Any:
    kwargs = call.kwargs
    if name in kwargs:
        return kwargs[name]
    params = _PARAMS.get(call.name)
    if params is None and call.args:
        params = _positions_of(call.name)
    if params is not None:
        position = params.get(name)
        if position is not None and position < len(call.args):
            return call.args[position]
    return default


def _positions_of(label: str) -> dict[str, int] | None:
    """Parameter positions of a hooked callable, worked out on its first positional call (inspect.signature
    over ~700 hooked methods at start-up would cost ~70 ms)."""
    source = _PARAM_SOURCES.get(label)
    if source is None:
        return None
    params = _PARAMS[label] = _param_positions(*source)
    return params


def _as_list(value: Any) -> list[Any]:
    """Labels given as one label, a list/tuple or an Index (a tuple is a list of labels, as pandas reads
    `by=`/`subset=` arguments)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if not isinstance(value, _FRAMES) and type(value).__name__.endswith("Index") and hasattr(value, "tolist"):
        return list(value.tolist())
    return [value]


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _is_scalar_key(key: Any) -> bool:
    return not isinstance(key, (slice, list, tuple, set, dict)) and _hashable(key) and not callable(key) \
        and not hasattr(key, "dtype")


def _is_bool_mask(key: Any) -> bool:
    dtype = getattr(key, "dtype", None)
    if dtype is not None:
        return getattr(dtype, "kind", None) == "b"
    return isinstance(key, list) and bool(key) and type(key[0]).__name__ in ("bool", "bool_")


def _is_all(key: Any) -> bool:
    return isinstance(key, slice) and key.start is None and key.stop is None and key.step is None


# ---------------------------------------------------------------------------------------------- operation log
def _dims(obj: Any) -> tuple[int, int] | None:
    """(rows, columns) without DataFrame.shape (slow with Arrow-backed column labels)."""
    if obj is None:
        return None
    if isinstance(obj, _DF):
        return (len(obj.index), len(obj.columns))
    if isinstance(obj, _S):
        return (len(obj.index), 1)
    return None


def _log_entry(name: str, before: Any, after: Any, lin_before: Lineage | None, lin_after: Lineage,
               approximated: bool = False) -> None:
    """One operation-log entry: shapes and rows removed now (O(1)); the columns added/removed come from the two
    lineages when the event is built, so a deferred lineage stays deferred. (`_log` below: the same, compiled
    when the extension is built.)"""
    run = current_run()
    if run is None:
        return
    oplog = run.oplog
    if oplog.full:  # past the log's bound only the count is kept; a stale "not full" builds one entry more
        oplog.skip()
        return
    shape_before = _dims(before)
    shape_after = _dims(after)
    removed_rows = None
    if shape_before is not None and shape_after is not None:
        removed_rows = max(shape_before[0] - shape_after[0], 0)
    run.record_operation(OperationEntry(name, shape_before, shape_after, removed_rows, [], [], approximated,
                                        lineage_change=(lin_before, lin_after)))


# ---------------------------------------------------------------------------------------------- templates
def _op(rule: Rule, *, log: bool = True, receiver_optional: bool = False,
        always_inplace: bool = False, deferrable: bool = False) -> Callable[[HookedCall, Any], None]:
    """A recorder for a method whose result (or, with inplace=True, the receiver) is a frame or Series.

    `deferrable` rules read nothing of the frames but their column labels (`_labels`, `_is_frame`) and plain
    arguments: `_hook` gives such DataFrame methods the fast path (`_deferring_method`), which stores a thunk over
    the rule for exact DataFrames; this recorder handles every other call at once."""

    def record(call: HookedCall, result: Any) -> None:
        receiver = call.args[0]
        # pandas 3 returns `self` from some in-place methods (fillna), None from others
        inplace = always_inplace or (call.kwargs.get("inplace") is True and (result is None or result is receiver))
        # in place, the receiver has already changed: use the lineage it had before, not a re-aligned one
        lin = _get(receiver) if inplace else lineage_for(receiver)
        if lin is None and not receiver_optional:
            return
        out = receiver if inplace else result
        if not isinstance(out, _FRAMES) or (out is receiver and not inplace):
            return
        if lin is not None and isinstance(receiver, _S):
            lin = _series_lineage(lin, out.name if isinstance(out, _S) else receiver.name)
        new = rule(call, lin, receiver, out)  # type: ignore[arg-type]
        if new is None:
            return
        _store(out, new)
        if log:
            _log(call.name, None if inplace else receiver, out, lin, new)

    if deferrable:
        record.deferrable_rule = rule  # type: ignore[attr-defined]  # read by `_hook`: gets the fast wrapper
        record.logged = log  # type: ignore[attr-defined]
    return record


def _tracked_entry_spec(obj: Any) -> Any:
    """The raw side-table value (lineage or thunk) of an exact DataFrame/Series, or None. For a DataFrame whose
    column axis is not the one the entry was made for (fresh from a reader, or relabelled behind our back), the
    lineage is aligned first (`lineage_for`), so the value is always keyed by the frame's current labels.
    (`_tracked_entry` below: the same, compiled when the extension is built.)"""
    entry = obj.__dict__.get(ATTRIBUTE)
    if entry is None or entry[0] != lineage_table.generation:
        return None
    lin = entry[1]
    if type(obj) is _DF and lin.token is not obj.columns:
        return lineage_for(obj)
    return lin


def _deferring_method(label: str, original: Any, rule: Rule, logged: bool) -> FastRecorder:
    """Fast path of a deferrable DataFrame method (see `_op`): a tracked frame in, a new frame out, plain
    arguments: a thunk over the rule."""
    table = lineage_table

    def fast(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
        receiver = args[0]
        if type(result) is not _DF or type(receiver) is not _DF or result is receiver \
                or kwargs.get("inplace") is True:
            return False
        lin = _tracked_entry(receiver)
        if lin is None:
            return True  # an untracked frame: nothing to record
        cols = receiver.columns
        plain_args = _plain_args(args) if len(args) > 1 else ()
        plain_kwargs = _plain_kwargs(kwargs) if kwargs else kwargs
        depth = _depth(lin)
        if plain_args is None or plain_kwargs is None or depth >= MAX_DEPTH:
            return False
        out_cols = result.columns
        thunk = Deferred(label, _run_plain_rule, (rule, label, original, plain_args, plain_kwargs, lin, cols,
                                                  out_cols), out_cols, depth + 1)
        thunk.token = out_cols
        result.__dict__[ATTRIBUTE] = (table.generation, thunk)
        if logged:
            _log(label, receiver, result, lin, thunk)
        return True

    return _compiled("deferring", label, fast, original=original, rule=rule, logged=logged)


def _depth(lin: Lineage | None) -> int:
    return lin.depth if type(lin) is Deferred and lin.value is None else 0


def _chained_thunk(label: str, fn: Callable[..., FrameLineage], args: tuple[Any, ...], labels: Any, base: Any
                   ) -> Deferred:
    """A thunk one step behind `base`'s chain, evaluated at once when that chain is MAX_DEPTH long."""
    depth = _depth(base)
    thunk = Deferred(label, fn, args, labels, depth + 1)
    if depth >= MAX_DEPTH:
        thunk.force()
    return thunk


# The two steps every recorder ends with, compiled when the extension is built (then a recorder that is still
# Python pays no frame for them); the functions above are their specification and the fallback.
_log: Callable[[str, Any, Any, Lineage | None, Lineage], None] = (
    speedups.log_operation if speedups is not None else _log_entry)
_thunk: Callable[[str, Callable[..., FrameLineage], tuple[Any, ...], Any, Any], Deferred] = (
    speedups.chained_thunk if speedups is not None else _chained_thunk)
_tracked_entry: Callable[[Any], Any] = speedups.tracked_entry if speedups is not None else _tracked_entry_spec


def _fast_frame_getitem(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
    """`df["a"]`, `df[["a", "b"]]`, `df[mask]` on a tracked exact DataFrame, as thunks."""
    if len(args) != 2 or kwargs:
        return False
    frame, key = args
    if type(frame) is not _DF:
        return False
    lin = _tracked_entry(frame)
    if lin is None:
        return False
    kind = type(result)
    if kind is _S:
        if type(key) is not str:
            return False
        name = result.name
        result.__dict__[ATTRIBUTE] = (lineage_table.generation,
                                      _thunk("DataFrame[column]", R.column, (lin, key, name), (name,), lin))
        return True
    if kind is not _DF:
        return False
    cols = result.columns
    if type(key) is list and all(type(k) is str for k in key):
        thunk, name = _thunk("DataFrame[columns]", _keep_columns, (lin, cols), cols, lin), "DataFrame[columns]"
    elif type(key) is _S and key.dtype == bool:
        key_lin = _tracked_entry(key)
        if key_lin is None:
            return False
        thunk = _thunk("DataFrame[mask]", _filter_by_mask, (lin, cols, key_lin), cols, lin)
        name = "DataFrame[mask]"
    else:
        return False
    thunk.token = cols
    result.__dict__[ATTRIBUTE] = (lineage_table.generation, thunk)
    _log(name, frame, result, lin, thunk)
    return True


def _fast_series_binary(label: str) -> FastRecorder:
    """Series op scalar / Series op Series on exact Series, neither a per-label reduction, as a thunk."""

    def fast(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
        if len(args) != 2 or kwargs or type(result) is not _S:
            return False
        left, right = args
        per_label = _per_label.entries  # empty unless a per-label reduction is alive: skip the lookups then
        if type(left) is not _S or (per_label and _per_label.get(left) is not None):
            return False
        left_lin = _tracked_entry(left)
        if isinstance(right, _SCALARS):
            right_lin = None
        elif type(right) is _S and not (per_label and _per_label.get(right) is not None):
            right_lin = _tracked_entry(right)
        else:
            return False
        if left_lin is None and right_lin is None:
            return True
        name = result.name
        result.__dict__[ATTRIBUTE] = (lineage_table.generation, _thunk(
            label, _series_elementwise, (left_lin, right_lin, name), (name,),
            left_lin if left_lin is not None else right_lin))
        return True

    return _compiled("series_binary", label, fast)


def _compiled(kind: str, label: str, fast: FastRecorder, **details: Any) -> FastRecorder:
    """`fast` compiled for its common case when the extension is loaded (`_speedups.FastRecorder`, which hands
    every other case to `fast` itself, the specification); else `fast`."""
    if speedups is None:
        return fast
    return speedups.FastRecorder(kind, label, fast, **details)  # type: ignore[no-any-return]


def _plain_args(args: tuple[Any, ...]) -> tuple[Any, ...] | None:
    copied: list[Any] = [None]
    for value in args[1:]:
        value = _plain(value)
        if value is _MISSING:
            return None
        copied.append(value)
    return tuple(copied)


def _plain_kwargs(kwargs: dict[str, Any]) -> dict[str, Any] | None:
    copied = {}
    for key, value in kwargs.items():
        value = _plain(value)
        if value is _MISSING:
            return None
        copied[key] = value
    return copied


def _run_plain_rule(rule: Rule, label: str, original: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                    lin: FrameLineage, cols: Any, out_cols: Any) -> FrameLineage:
    return _run_rule(rule, HookedCall(label, args or (None,), kwargs, 1, original), lin, _FrameShape(cols),
                     _FrameShape(out_cols))


def _run_rule(rule: Rule, call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    new = rule(call, lin, receiver, out)
    return new if new is not None else R.keep(lin, _labels(out))


_PLAIN_TYPES = (str, int, float, bool, type(None), bytes, type)
_PLAIN_MAX = 256


def _plain(value: Any) -> Any:
    """`value` as an independent plain copy (labels, dtypes, small containers of them), or _MISSING when it
    holds anything else (frames, arrays, callables): only plain calls are deferred."""
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, (list, tuple)):
        if len(value) > _PLAIN_MAX:
            return _MISSING
        for item in value:  # a loop, not all(<generator>): this runs on every deferred call
            if not isinstance(item, _PLAIN_TYPES) and not _is_dtype(item):
                return _MISSING
        return list(value) if isinstance(value, list) else value
    if isinstance(value, dict):
        if len(value) > _PLAIN_MAX:
            return _MISSING
        for key, item in value.items():
            if not isinstance(key, _PLAIN_TYPES) or (not isinstance(item, _PLAIN_TYPES) and not _is_dtype(item)):
                return _MISSING
        return dict(value)
    if _is_dtype(value):
        return value
    return _MISSING


def _is_dtype(value: Any) -> bool:
    return _DTYPES is not None and isinstance(value, _DTYPES)


def _plain_call(call: HookedCall) -> HookedCall | None:
    """A copy of `call` without the receiver's rows, when every other argument is plain; else None."""
    args = _plain_args(call.args) if len(call.args) > 1 else (None,)
    kwargs = _plain_kwargs(call.kwargs) if call.kwargs else call.kwargs
    if args is None or kwargs is None:
        return None
    return HookedCall(call.name, args, kwargs, call.target_position, call.original)


def _keep(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    return R.keep(lin, _labels(out))


def _step(step: Any) -> Rule:
    def rule(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
        return R.keep(lin, _labels(out), step=step)

    return rule


def _generic(call: HookedCall, result: Any) -> None:
    """Any other public method of a tracked frame/Series: every output column from every input column
    (INDIRECT, described as over-approximated). Lineage is never dropped silently."""
    receiver = call.args[0]
    lin = lineage_for(receiver)
    if lin is None:
        return
    inplace = call.kwargs.get("inplace") is True and (result is None or result is receiver)
    out = receiver if inplace else result
    if (out is receiver and not inplace) or not isinstance(out, _FRAMES):
        if _NDARRAY is not None and isinstance(out, _NDARRAY):
            _store(out, over_approximate([lin], ["value"], call.name))
        return
    new = over_approximate([lin], _labels(out), call.name)
    _store(out, new)
    _log_entry(call.name, None if inplace else receiver, out, lin, new, approximated=True)


# ---------------------------------------------------------------------------------------------- selection
def _mask_lineage(key: Any, frame: Any, lin: FrameLineage | None) -> tuple[R.Origins, R.Origins, str | None]:
    """(condition origins, the condition's own frame-wide influences, note) of a row selector."""
    if callable(key) and not isinstance(key, _FRAMES):
        available = list(lin.columns) if lin is not None else _labels(frame)
        trace = trace_columns(key, available, FRAME)
        origins = R.merge(*(R.resolve(lin, c) for c in trace.columns)) if lin is not None else R.EMPTY
        return origins, R.EMPTY, trace.note
    key_lin = _any_lineage(key)
    if key_lin is None:
        return R.EMPTY, R.EMPTY, None
    return R.values_of(key_lin), key_lin.dataset, None


def _rec_frame_getitem(call: HookedCall, result: Any) -> None:
    frame, key = call.args[0], call.args[1]
    lin = lineage_for(frame)
    key_tracked = not isinstance(key, _SCALARS) and (_get(key) is not None or callable(key))
    if lin is None and not key_tracked:
        return
    if isinstance(result, _S):
        if lin is None:
            return
        # one column: not logged (a sub-expression, like `df["a"]` in `df["a"] * 2`)
        _store(result, R.column(lin, key if _hashable(key) else result.name, result.name))
        return
    if not isinstance(result, _DF):
        return
    base = lin if lin is not None else _blank(frame)
    labels = _labels(result)
    if isinstance(key, _DF):
        key_lin = lineage_for(key)
        extra = {} if key_lin is None else {
            label: R.as_influence_of(R.resolve(key_lin, label), CONDITIONAL, "boolean frame mask")
            for label in labels}
        new = R.keep(base, labels, extra=extra)
        name = "DataFrame[mask frame]"
    elif _is_bool_mask(key) or callable(key):
        origins, mask_dataset, note = _mask_lineage(key, frame, lin)
        new = R.filter_rows(base, labels, origins, "boolean mask", mask_dataset)
        if note:
            new = new.with_note(f"row filter: {note}")
        name = "DataFrame[mask]"
    elif isinstance(key, slice):
        new = R.keep(base, labels)
        name = "DataFrame[rows]"
    else:
        new = R.keep(base, labels)
        name = "DataFrame[columns]"
    _store(result, new)
    _log(name, frame, result, lin, new)


def _keep_columns(lin: FrameLineage, cols: Any) -> FrameLineage:
    return R.keep(lin, _column_labels(cols))


def _filter_by_mask(lin: FrameLineage, cols: Any, mask: FrameLineage) -> FrameLineage:
    return R.filter_rows(lin, _column_labels(cols), R.values_of(mask), "boolean mask", mask.dataset)


def _rec_series_getitem(call: HookedCall, result: Any) -> None:
    series, key = call.args[0], call.args[1]
    if not isinstance(result, _S):
        return
    lin = lineage_for(series)
    key_lin = None if isinstance(key, _SCALARS) else _any_lineage(key)
    if lin is None and key_lin is None:
        return
    base = _series_lineage(lin, result.name) if lin is not None else _blank(result)
    if key_lin is not None and _is_bool_mask(key):
        new = R.filter_rows(base, [result.name], R.values_of(key_lin), "boolean mask", key_lin.dataset)
    else:
        new = R.keep(base, [result.name])
    _store(result, new)


def _indexer_rows_influence(kind: str, rows: Any, obj: Any, lin: FrameLineage | None
                            ) -> tuple[R.Origins, R.Origins, str | None]:
    if rows is None or _is_all(rows) or isinstance(rows, slice):
        return R.EMPTY, R.EMPTY, None
    if callable(rows) or _is_bool_mask(rows):
        return _mask_lineage(rows, obj, lin)
    key_lin = _any_lineage(rows)
    if key_lin is not None:  # rows picked by a tracked array of labels
        return R.values_of(key_lin), key_lin.dataset, None
    if kind == "loc" and lin is not None and lin.index:
        return R.index_origins(lin), R.EMPTY, None  # rows picked by index labels
    return R.EMPTY, R.EMPTY, None


def _split_key(obj: Any, key: Any) -> tuple[Any, Any]:
    if isinstance(obj, _DF) and isinstance(key, tuple) and len(key) == 2:
        return key[0], key[1]
    return key, None


def _rec_indexer_getitem(call: HookedCall, result: Any) -> None:
    indexer, key = call.args[0], call.args[1]
    obj = getattr(indexer, "obj", None)
    kind = getattr(indexer, "name", "loc")
    if not isinstance(result, _FRAMES) or obj is None:
        return
    lin = lineage_for(obj)
    rows, cols = _split_key(obj, key)
    origins, mask_dataset, note = _indexer_rows_influence(kind, rows, obj, lin)
    if lin is None and not origins:
        return
    base = lin if lin is not None else _blank(obj)
    name = getattr(result, "name", None)
    if isinstance(obj, _S):
        base = _series_lineage(base, name)
        new = R.filter_rows(base, [name], origins, f".{kind}", mask_dataset)
    elif isinstance(result, _S):
        if cols is not None and _is_scalar_key(cols):
            label = result.name if kind == "iloc" else cols
            new = R.filter_rows(R.column(base, label, result.name), [result.name], origins, f".{kind}",
                                mask_dataset)
        else:  # one row: a value from each selected column
            picked = list(result.index) if len(result.index) <= 10_000 else list(base.columns)
            values = R.union_all(R.resolve(base, c) for c in picked if _hashable(c))
            new = FrameLineage({result.name: values}, R._dataset(base.dataset, R.as_influence_of(
                origins, FILTER, f".{kind}")), base.notes)
        _store(result, new)
        return
    else:
        new = R.filter_rows(base, _labels(result), origins, f".{kind}", mask_dataset)
    if note:
        new = new.with_note(f".{kind} row filter: {note}")
    _store(result, new)
    _log(f"DataFrame.{kind}[]", obj, result, lin, new)


def _rec_indexer_setitem(call: HookedCall, result: Any) -> None:
    indexer, key, value = call.args[0], call.args[1], call.args[2]
    obj = getattr(indexer, "obj", None)
    kind = getattr(indexer, "name", "loc")
    if obj is None:
        return
    lin = _get(obj)
    value_lin = _any_lineage(value)
    rows, cols = _split_key(obj, key)
    condition, _, _ = _indexer_rows_influence(kind, rows, obj, lin)
    if lin is None and value_lin is None:
        return
    base = lin if lin is not None else FrameLineage({})
    out_labels = _labels(obj)
    if isinstance(obj, _S):
        targets = out_labels
    elif cols is None or isinstance(cols, slice):
        targets = out_labels
    elif kind in ("iloc", "iat"):
        positions = cols if isinstance(cols, list) else [cols]
        targets = [out_labels[p] for p in positions if isinstance(p, int) and -len(out_labels) <= p < len(out_labels)]
    else:
        targets = [c for c in _as_list(cols)]
    value_origins = R.values_of(value_lin)
    if rows is None or _is_all(rows):  # whole columns replaced
        new = base
        for label in targets:
            new = R.set_column(new, label, value_origins, value=value_lin)
        new = R.keep(new, out_labels)
    else:
        new = R.conditional_update(base, targets, value_origins, condition, out_labels, f".{kind}[] =")
    if isinstance(obj, _S):
        new = _series_lineage(new, obj.name)
    _store(obj, new)
    _log(f"{type(obj).__name__}.{kind}[] =", None, obj, lin, new)


def _r_rows(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    return R.keep(lin, _labels(out))


def _r_nlargest(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    keys = [receiver.name] if isinstance(receiver, _S) else _as_list(_arg(call, "columns"))
    origins = R.merge(*(R.resolve(lin, k) for k in keys)) if not isinstance(receiver, _S) else R.values_of(lin)
    name = call.name.rsplit(".", 1)[-1]
    return R.filter_rows(lin, _labels(out), origins, name, subtype=SORT)


def _r_xs(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    axis = _arg(call, "axis", 0)
    if isinstance(out, _S) and axis in (1, "columns"):
        return R.column(lin, _arg(call, "key"), out.name)
    if isinstance(out, _S):
        return R.row_series(lin, out.name)
    return R.filter_rows(lin, _labels(out), R.index_origins(lin), "xs")


# ---------------------------------------------------------------------------------------------- cleaning
def _subset_origins(lin: FrameLineage, subset: Any) -> R.Origins:
    if subset is None:
        return R.union_all(lin.columns.values())
    return R.merge(*(R.resolve(lin, c) for c in _as_list(subset)))


def _r_dropna(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    labels = _labels(out)
    if isinstance(receiver, _S):
        return R.filter_rows(lin, labels, R.values_of(lin), "dropna")
    if _arg(call, "axis", 0) in (1, "columns"):
        return R.keep(lin, labels)  # columns dropped on their own values: survivors unchanged
    return R.filter_rows(lin, labels, _subset_origins(lin, _arg(call, "subset")), "dropna")


def _r_drop_duplicates(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if isinstance(receiver, _S):
        return R.filter_rows(lin, _labels(out), R.values_of(lin), "drop_duplicates")
    return R.filter_rows(lin, _labels(out), _subset_origins(lin, _arg(call, "subset")), "drop_duplicates")


def _r_duplicated(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    origins = R.values_of(lin) if isinstance(receiver, _S) else _subset_origins(lin, _arg(call, "subset"))
    return R.single(R.chain(origins, R.TRANSFORM), out.name, lin.dataset, lin.notes, lin.index)


def _r_fillna(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    value = _arg(call, "value")
    labels = _labels(out)
    if isinstance(value, Mapping) and not isinstance(value, _FRAMES):
        extra = {}
        for label, fill in value.items():
            fill_lin = _any_lineage(fill)
            if fill_lin is not None:
                extra[label] = R.chain(R.values_of(fill_lin), R.TRANSFORM)
        only = list(value) if _is_frame(receiver) else None
        return R.keep(lin, labels, step=R.TRANSFORM, only=only, extra=extra)
    fill_lin = _any_lineage(value)
    if fill_lin is None:
        return R.keep(lin, labels, step=R.TRANSFORM)
    by_label = _per_label_lineage(value, fill_lin) if isinstance(receiver, _DF) else None
    if by_label is not None:  # df.fillna(df.mean()): each column from its own statistic
        fill_lin = by_label
    if by_label is not None or (isinstance(value, _DF) and isinstance(receiver, _DF)):
        extra = {label: R.chain(R.resolve(fill_lin, label), R.TRANSFORM) for label in labels}
        return R.keep(lin, labels, step=R.TRANSFORM, extra=extra)
    return R.keep(lin, labels, step=R.TRANSFORM, extra_all=R.chain(R.values_of(fill_lin), R.TRANSFORM))


def _r_drop(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    labels = _labels(out)
    rows = _arg(call, "index") is not None or (
        _arg(call, "labels") is not None and _arg(call, "axis", 0) in (0, "index"))
    if isinstance(receiver, _S) or rows:
        return R.filter_rows(lin, labels, R.index_origins(lin), "drop rows by label")
    return R.keep(lin, labels)


def _r_replace(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    only = None
    if isinstance(receiver, _DF):
        for arg in (_arg(call, "to_replace"), _arg(call, "value")):
            if isinstance(arg, dict) and arg and all(_hashable(k) and k in lin.columns for k in arg):
                only = list(arg)
                break
    return R.keep(lin, _labels(out), step=R.TRANSFORM, only=only)


def _r_clip(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    bounds = [_any_lineage(_arg(call, "lower")), _any_lineage(_arg(call, "upper"))]
    extra = R.merge(*(R.chain(R.values_of(b), R.TRANSFORM) for b in bounds if b is not None))
    return R.keep(lin, _labels(out), step=R.TRANSFORM, extra_all=extra or None)


def _r_where(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    cond = _arg(call, "cond")
    other = _arg(call, "other")
    labels = _labels(out)
    name = call.name.rsplit(".", 1)[-1]
    extra: dict[Hashable, R.Origins] = {}
    extra_all = R.EMPTY
    note = None
    if callable(cond) and not isinstance(cond, _FRAMES):
        trace = trace_columns(cond, list(lin.columns), FRAME)
        note = trace.note
        extra_all = R.as_influence_of(R.merge(*(R.resolve(lin, c) for c in trace.columns)), CONDITIONAL, name)
    else:
        cond_lin = _any_lineage(cond)
        if cond_lin is not None and isinstance(cond, _DF):
            for label in labels:
                extra[label] = R.as_influence_of(R.resolve(cond_lin, label), CONDITIONAL, name)
        elif cond_lin is not None:
            extra_all = R.as_influence_of(R.values_of(cond_lin), CONDITIONAL, name)
    other_lin = _any_lineage(other)
    if other_lin is not None:
        if isinstance(other, _DF):
            for label in labels:
                extra[label] = R.merge(extra.get(label, R.EMPTY), R.resolve(other_lin, label))
        else:
            extra_all = R.merge(extra_all, R.values_of(other_lin))
    new = R.keep(lin, labels, extra=extra or None, extra_all=extra_all or None)
    return new.with_note(f"{name} condition: {note}") if note else new


def _r_isin(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    values_lin = _any_lineage(_arg(call, "values"))
    extra = R.chain(R.values_of(values_lin), R.TRANSFORM) if values_lin is not None else None
    return R.keep(lin, _labels(out), step=R.TRANSFORM, extra_all=extra)


def _r_astype(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    dtype = _arg(call, "dtype")
    only = list(dtype) if isinstance(dtype, Mapping) and _is_frame(receiver) else None
    return R.keep(lin, _labels(out), step=R.CAST, only=only)


# ---------------------------------------------------------------------------------------------- columns
def _traced_step(trace: Any, where: str) -> Any:
    """TRANSFORMATION, described as a fallback when the function could not be traced (every column assumed)."""
    if trace.complete:
        return R.TRANSFORM
    return R.transform(DIRECT, TRANSFORMATION, False, f"{where}: {trace.note}")


def _assign_traced(current: FrameLineage, label: Hashable, trace: Any) -> FrameLineage:
    """`assign(label=func)`: the new column from the columns `func` was traced to read."""
    if trace.identity is not None:
        origins = R.resolve(current, trace.identity)
    else:
        step = _traced_step(trace, f"assign({field_name(label)})")
        origins = R.merge(*(R.chain(R.resolve(current, c), step) for c in trace.columns))
    current = R.set_column(current, label, origins)
    if trace.note:
        current = current.with_note(f"assign({field_name(label)}): {trace.note}")
    return current


def _assign_labels(current: FrameLineage, out_labels: list[Hashable]) -> FrameLineage:
    if len(out_labels) == len(current.columns) and all(a == b for a, b in zip(out_labels, current.columns,
                                                                                strict=True)):
        return current  # assign appends or replaces in place: the labels already match
    return R.keep(current, out_labels)


def _fast_assign(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
    """`df.assign(new=lambda d: ..., const=1)` on a tracked exact DataFrame, as a thunk. A function whose trace
    needs only labels (no closure variable or global: most lambdas) is traced when the thunk is evaluated; any
    other is traced now, against the labels it will see, since its closure may change afterwards."""
    if len(args) != 1 or type(result) is not _DF or type(args[0]) is not _DF:
        return False
    receiver = args[0]
    lin = _tracked_entry(receiver)
    if lin is None:
        return False
    columns = receiver.columns
    added: list[Hashable] = []  # labels assigned by earlier keywords: later functions see them
    items: list[tuple[Hashable, Any]] = []
    for label, value in kwargs.items():
        if callable(value) and not isinstance(value, _FRAMES):
            analysis = label_only_analysis(value)
            if analysis is not None:
                items.append((label, _LabelOnlyTrace(analysis, tuple(added))))
            else:
                items.append((label, trace_columns(value, _labels_seen(columns, added), FRAME)))
        elif isinstance(value, _SCALARS):
            items.append((label, None))  # a constant column
        else:
            return False
        added.append(label)
    out_cols = result.columns
    thunk = _thunk("DataFrame.assign", _assign_thunk, (lin, tuple(items), columns, out_cols), out_cols, lin)
    thunk.token = out_cols
    result.__dict__[ATTRIBUTE] = (lineage_table.generation, thunk)
    _log("DataFrame.assign", receiver, result, lin, thunk)
    return True


class _LabelOnlyTrace(NamedTuple):
    analysis: Any  # functrace's code-level analysis
    added: tuple[Hashable, ...]  # labels assigned before this one in the same call


def _labels_seen(columns: Any, added: Sequence[Hashable]) -> list[Hashable]:
    """The labels an `assign` function sees: the receiver's, then those assigned before it in the same call."""
    available = list(_column_labels(columns))
    for label in added:
        if label not in available:
            available.append(label)
    return available


def _assign_thunk(lin: FrameLineage, items: tuple[tuple[Hashable, Any], ...], columns: Any,
                  out_cols: Any) -> FrameLineage:
    current = lin
    for label, trace in items:
        if trace is None:
            current = R.set_column(current, label, R.EMPTY, value=None)
            continue
        if type(trace) is _LabelOnlyTrace:
            trace = resolve_labels(trace.analysis, _labels_seen(columns, trace.added))
        current = _assign_traced(current, label, trace)
    return _assign_labels(current, _column_labels(out_cols))


def _r_assign(call: HookedCall, lin: FrameLineage | None, receiver: Any, out: Any) -> FrameLineage | None:
    current = lin
    for label, value in call.kwargs.items():
        if callable(value) and not isinstance(value, _FRAMES):
            if current is None:
                continue
            current = _assign_traced(current, label, trace_columns(value, list(current.columns), FRAME))
            continue
        value_lin = _any_lineage(value)
        if current is None:
            if value_lin is None:
                continue
            current = _blank(receiver)
        current = R.set_column(current, label, R.values_of(value_lin), value=value_lin)
    if current is None:
        return None
    return _assign_labels(current, _labels(out))


def _rec_frame_setitem(call: HookedCall, result: Any) -> None:
    frame, key, value = call.args[0], call.args[1], call.args[2]
    lin = _get(frame)
    value_lin = _any_lineage(value)
    key_lin = None if isinstance(key, _SCALARS) else _any_lineage(key)
    if lin is None and value_lin is None and key_lin is None:
        return
    base = lin if lin is not None else FrameLineage({})
    out_labels = _labels(frame)
    if key_lin is not None and (isinstance(key, _DF) or _is_bool_mask(key)):
        new = R.conditional_update(base, out_labels, R.values_of(value_lin), R.values_of(key_lin), out_labels,
                                   "[mask] =")
    elif isinstance(key, (list, tuple)) and not (isinstance(key, tuple) and key in base.columns):
        new = base
        if value_lin is not None and isinstance(value, _DF) and len(value.columns) == len(key):
            for label, source in zip(key, value.columns, strict=True):
                new = R.set_column(new, label, R.resolve(value_lin, source), value=value_lin)
        elif value_lin is not None and len(value_lin.columns) == len(key):
            for label, origins in zip(key, value_lin.columns.values(), strict=True):
                new = R.set_column(new, label, origins, value=value_lin)
        else:
            for label in key:
                new = R.set_column(new, label, R.values_of(value_lin), value=value_lin)
        new = R.keep(new, out_labels)
    else:
        new = R.set_column(base, key, R.values_of(value_lin), out_labels, value=value_lin)
    _store(frame, new)
    _log("DataFrame.__setitem__", None, frame, lin, new)


def _rec_series_setitem(call: HookedCall, result: Any) -> None:
    series, key, value = call.args[0], call.args[1], call.args[2]
    lin = _get(series)
    value_lin = _any_lineage(value)
    key_lin = None if isinstance(key, _SCALARS) else _any_lineage(key)
    if value_lin is None and key_lin is None:
        return  # a constant written into some rows: the Series' lineage is unchanged
    base = _series_lineage(lin, series.name) if lin is not None else _blank(series)
    new = R.conditional_update(base, [series.name], R.values_of(value_lin), R.values_of(key_lin),
                               [series.name], "[] =")
    _store(series, new)


def _rec_delitem(call: HookedCall, result: Any) -> None:
    frame = call.args[0]
    lin = _get(frame)
    if lin is None:
        return
    new = R.keep(lin, _labels(frame))
    _store(frame, new)
    _log("DataFrame.__delitem__", None, frame, lin, new)


def _rec_insert(call: HookedCall, result: Any) -> None:
    frame = call.args[0]
    lin = _get(frame)
    value = _arg(call, "value")
    value_lin = _any_lineage(value)
    if lin is None and value_lin is None:
        return
    base = lin if lin is not None else FrameLineage({})
    new = R.set_column(base, _arg(call, "column"), R.values_of(value_lin), _labels(frame), value=value_lin)
    _store(frame, new)
    _log("DataFrame.insert", None, frame, lin, new)


def _rec_pop(call: HookedCall, result: Any) -> None:
    frame = call.args[0]
    lin = _get(frame)
    if lin is None:
        return
    item = _arg(call, "item")
    if isinstance(result, _S):
        _store(result, R.column(lin, item, result.name))
    new = R.keep(lin, _labels(frame))
    _store(frame, new)
    _log("DataFrame.pop", None, frame, lin, new)


def _r_positional(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    """rename / add_prefix / add_suffix / set_axis: same positions, new labels."""
    if isinstance(receiver, _S):
        return R.keep(lin, _labels(out))
    out_labels = _labels(out)
    index = lin.index
    axis = _arg(call, "axis")
    if call.name.endswith("set_axis") and axis in (None, 0, "index"):
        return R.keep(lin, out_labels, index={})
    if call.name.endswith("rename") and _arg(call, "index") is not None and _arg(call, "columns") is None \
            and axis in (None, 0, "index") and _arg(call, "mapper") is not None:
        return R.keep(lin, out_labels)
    return R.positional(lin, list(lin.columns), out_labels, index=index)


def _key_entries(lin: FrameLineage, frame: Any, keys: Any) -> list[tuple[Hashable, R.Origins]]:
    """(name, origins) for set_index/groupby keys: column labels, index level names, Series or arrays."""
    out: list[tuple[Hashable, R.Origins]] = []
    for key in _as_list(keys):
        if isinstance(key, _S):
            key_lin = lineage_for(key)
            out.append((key.name, R.values_of(key_lin)))
        elif _GROUPER is not None and isinstance(key, _GROUPER):
            name = getattr(key, "key", None)
            level = getattr(key, "level", None)
            if name is not None:
                out.append((name, R.resolve(lin, name)))
            elif level is not None:
                out.extend(_level_entries(lin, frame, level))
            else:
                out.append((getattr(frame.index, "name", None), R.index_origins(lin)))
        elif (not isinstance(key, _SCALARS) and not _hashable(key)) or hasattr(key, "dtype"):
            key_lin = _any_lineage(key)
            out.append((getattr(key, "name", None), R.values_of(key_lin)))
        elif callable(key) or isinstance(key, Mapping):
            out.append((None, R.chain(R.index_origins(lin), R.TRANSFORM)))
        elif key in lin.columns:
            out.append((key, lin.columns[key]))
        elif key in lin.index:
            out.append((key, lin.index[key]))
        else:
            out.append((key, R.resolve(lin, key)))
    return out


def _level_entries(lin: FrameLineage, frame: Any, level: Any) -> list[tuple[Hashable, R.Origins]]:
    names = list(getattr(frame.index, "names", [None]))
    levels = list(lin.index.items())
    out: list[tuple[Hashable, R.Origins]] = []
    for item in _as_list(level):
        if isinstance(item, int) and not isinstance(item, bool) and item not in lin.index:
            if -len(names) <= item < len(names):
                name = names[item]
                origins = levels[item][1] if -len(levels) <= item < len(levels) else lin.index.get(name, R.EMPTY)
                out.append((name, origins))
        else:
            out.append((item, lin.index.get(item, R.EMPTY)))
    return out


def _r_set_index(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    keys = _key_entries(lin, receiver, _arg(call, "keys"))
    return R.set_index(lin, keys, _labels(out), bool(_arg(call, "append", False)))


def _r_reset_index(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    drop = bool(_arg(call, "drop", False))
    level = _arg(call, "level")
    out_labels = _labels(out)
    if isinstance(receiver, _S):
        if isinstance(out, _S):
            return R.keep(lin, out_labels, index={})
        values = R.values_of(lin)
        frame_lin = FrameLineage({label: R.EMPTY for label in out_labels[:-1]}, lin.dataset, lin.notes, lin.index)
        frame = R.reset_index(frame_lin, out_labels[:-1], len(out_labels) - 1, False)
        frame.columns[out_labels[-1]] = values
        return frame
    kept = None
    if level is not None:
        moved_names = [name for name, _ in _level_entries(lin, receiver, level)]
        kept = [name for name in lin.index if name not in moved_names]
        moved = len(moved_names)
    else:
        moved = max(len(out_labels) - len(lin.columns), 0)
    return R.reset_index(lin, out_labels, moved, drop, kept)


# ---------------------------------------------------------------------------------------------- ordering
def _r_sort_values(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if isinstance(receiver, _S):
        origins = R.values_of(lin)
    else:
        by = _as_list(_arg(call, "by"))
        origins = R.merge(*(lin.columns.get(b) or lin.index.get(b) or R.resolve(lin, b) for b in by))
    return R.filter_rows(lin, _labels(out), origins, "sort_values", subtype=SORT)


def _r_sort_index(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if _arg(call, "axis", 0) in (1, "columns"):
        return R.keep(lin, _labels(out))
    return R.filter_rows(lin, _labels(out), R.index_origins(lin), "sort_index", subtype=SORT)


# ---------------------------------------------------------------------------------------------- functions
def _r_apply(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    func = _arg(call, "func")
    labels = _labels(out)
    if isinstance(receiver, _S):
        return R.keep(lin, labels, step=R.TRANSFORM) if isinstance(out, _S) else \
            FrameLineage({label: R.chain(R.values_of(lin), R.TRANSFORM) for label in labels}, lin.dataset,
                         lin.notes, lin.index)
    axis = _arg(call, "axis", 0)
    if axis in (1, "columns"):
        trace = trace_columns(func, list(lin.columns), ROW)
        step = IDENTITY_T if trace.identity is not None else _traced_step(trace, "apply(axis=1)")
        origins = R.merge(*(R.chain(R.resolve(lin, c), step) for c in trace.columns))
        cols = {label: origins for label in labels}
        new = FrameLineage(cols, lin.dataset, lin.notes, lin.index)
        return new.with_note(f"apply(axis=1): {trace.note}") if trace.note else new
    if isinstance(out, _S):
        return R.reduce_frame(lin, out.name, R.AGGREGATE)
    same_rows = len(out) == len(receiver)
    return R.keep(lin, labels, step=R.TRANSFORM if same_rows else R.AGGREGATE)


def _r_transform(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    return R.keep(lin, _labels(out), step=R.TRANSFORM)


def _r_frame_agg(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    func = _arg(call, "func")
    if isinstance(receiver, _S):
        return R.keep(lin, _labels(out), step=R.aggregation_step(func))
    if _arg(call, "axis", 0) in (1, "columns"):
        return R.to_series_of(lin, list(lin.columns), R.TRANSFORM, out.name) if isinstance(out, _S) else \
            R.keep(lin, _labels(out), step=R.TRANSFORM)
    if isinstance(out, _S):
        if isinstance(func, Mapping):
            return R.to_series_of(lin, [c for c in func if c in lin.columns], R.AGGREGATE, out.name)
        _note_per_label(out, lin, R.aggregation_step(func))
        return R.reduce_frame(lin, out.name, R.aggregation_step(func))
    return R.keep(lin, _labels(out), step=R.aggregation_step(func))


def _reduce(step: Any) -> Rule:
    def rule(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage | None:
        if isinstance(receiver, _S):
            return R.keep(lin, _labels(out), step=step) if isinstance(out, _S) else None
        if isinstance(out, _S):
            if _arg(call, "axis", 0) in (1, "columns"):  # row-wise: a TRANSFORMATION of each row's values
                row_step = R.transform(DIRECT, TRANSFORMATION, step.masking, step.description)
                return R.to_series_of(lin, list(lin.columns), row_step, out.name)
            _note_per_label(out, lin, step)
            return R.reduce_frame(lin, out.name, step)
        return R.keep(lin, _labels(out), step=step)

    return rule


def _note_per_label(series: Any, lin: FrameLineage, step: Any) -> None:
    """A reduction over rows (`df.mean()`) is a Series indexed by the frame's column labels: remember each
    row's own origins, so `df.fillna(df.mean())` or `df - df.mean()` stay per column instead of mixing all."""
    _per_label.set(series, {label: R.chain(origins, step) for label, origins in lin.columns.items()})


def _combine_per_label(result: Any, left: Any, right: Any, right_lin: FrameLineage | None) -> None:
    """`df.max() - df.min()`: still one entry per column label when both sides have one (or the other side
    is a constant)."""
    left_map = _per_label.get(left)
    right_map = _per_label.get(right) if right_lin is not None else None
    if left_map is None and right_map is None:
        return
    if (right_lin is not None and right_map is None) or (left_map is None and lineage_for(left) is not None):
        return  # one side is an ordinary tracked Series: its values mix into every label
    maps = [m for m in (left_map, right_map) if m is not None]
    labels = dict.fromkeys(label for m in maps for label in m)
    _per_label.set(result, {label: R.merge(*(R.chain(m.get(label, R.EMPTY), R.TRANSFORM) for m in maps))
                            for label in labels})


def _per_label_lineage(series: Any, lin: FrameLineage) -> FrameLineage | None:
    per_label = _per_label.get(series)
    if per_label is None:
        return None
    return FrameLineage(per_label, lin.dataset, lin.notes)


def _r_corr(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    every = R.chain(R.union_all(lin.columns.values()), R.AGGREGATE)
    return FrameLineage({label: every for label in _labels(out)}, lin.dataset, lin.notes, {})


def _r_value_counts(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if isinstance(receiver, _S):
        keys = [(receiver.name, R.values_of(lin))]
    else:
        subset = _as_list(_arg(call, "subset")) or list(lin.columns)
        keys = [(c, R.resolve(lin, c)) for c in subset]
    values = R.merge(*(o for _, o in keys))
    step = R.aggregation_step("value_counts")
    dataset = R._dataset(lin.dataset, R.as_influence_of(values, GROUP_BY, "value_counts"))
    index = {name: R.merge(o, R.as_influence_of(o, GROUP_BY, "value_counts")) for name, o in keys}
    return FrameLineage({label: R.chain(values, step) for label in _labels(out)}, dataset, lin.notes, index)


def _r_eval(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage | None:
    expr = _arg(call, "expr")
    if not isinstance(expr, str):
        return None
    parsed = R.parse_expression(expr)
    if isinstance(out, _DF):
        return R.eval_assign(lin, parsed, _labels(out))
    origins = R.expression_origins(lin, parsed.names())
    return R.single(origins, out.name, lin.dataset, lin.notes, lin.index)


def _r_query(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage | None:
    expr = _arg(call, "expr")
    if not isinstance(expr, str):
        return None
    origins = R.expression_origins(lin, R.parse_expression(expr).names(), IDENTITY_T)
    return R.filter_rows(lin, _labels(out), origins, "query")


def _r_to_frame(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    return FrameLineage({label: R.values_of(lin) for label in _labels(out)}, lin.dataset, lin.notes, lin.index)


def _r_squeeze(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if isinstance(receiver, _DF) and isinstance(out, _S) and len(lin.columns) == 1:
        return R.column(lin, next(iter(lin.columns)), out.name)
    if isinstance(out, _S):
        return R.row_series(lin, out.name)
    return R.keep(lin, _labels(out))


def _r_series_map(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    mapping = _arg(call, "func", _arg(call, "arg"))
    mapping_lin = _any_lineage(mapping)
    extra = R.chain(R.values_of(mapping_lin), R.TRANSFORM) if mapping_lin is not None else None
    return R.keep(lin, _labels(out), step=R.TRANSFORM, extra_all=extra)


def _r_combine(call: HookedCall, lin: FrameLineage | None, receiver: Any, out: Any) -> FrameLineage | None:
    other = _arg(call, "other")
    other_lin = _any_lineage(other)
    if lin is None and other_lin is None:
        return None
    base = lin if lin is not None else _blank(receiver)
    labels = _labels(out)
    if other_lin is None:
        return R.keep(base, labels, step=R.TRANSFORM)
    return R.elementwise(base, other_lin, labels, R.TRANSFORM, left_frame=isinstance(receiver, _DF),
                         right_frame=isinstance(other, _DF))


def _r_between(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    bounds = [_any_lineage(_arg(call, "left")), _any_lineage(_arg(call, "right"))]
    extra = R.merge(*(R.chain(R.values_of(b), R.TRANSFORM) for b in bounds if b is not None))
    return R.keep(lin, _labels(out), step=R.TRANSFORM, extra_all=extra or None)


def _r_explode(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if isinstance(receiver, _S):
        return R.explode(lin, _labels(out), _labels(out))
    return R.explode(lin, _labels(out), _as_list(_arg(call, "column")))


def _r_transpose(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    if isinstance(receiver, _S):
        return R.keep(lin, _labels(out))
    return R.transpose(lin, _labels(out))


def _r_stack(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    return R.stack(lin, _labels(out), isinstance(out, _S), out.name if isinstance(out, _S) else None)


def _r_unstack(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
    level = _arg(call, "level", -1)
    if isinstance(level, int) and level < 0:
        level = len(lin.index) + level if lin.index else level
    return R.unstack(lin, _labels(out), level if _hashable(level) else -1, isinstance(receiver, _S))


def _frame_argument(call: HookedCall, receiver: Any, name: str, lin: FrameLineage | None
                    ) -> tuple[Any, FrameLineage | None]:
    """The frame a method (`df.melt`) or module function (`pd.melt(frame=...)`) works on, and its lineage."""
    frame = receiver if isinstance(receiver, _DF) else _arg(call, name)
    return frame, lin if lin is not None else lineage_for(frame)


def _r_melt(call: HookedCall, lin: FrameLineage | None, receiver: Any, out: Any) -> FrameLineage | None:
    _, lin = _frame_argument(call, receiver, "frame", lin)
    if lin is None:
        return None
    id_vars = _as_list(_arg(call, "id_vars"))
    value_vars = _as_list(_arg(call, "value_vars")) or [c for c in lin.columns if c not in set(id_vars)]
    value_name = _arg(call, "value_name", "value")
    out_labels = _labels(out)
    rest = [label for label in out_labels if label not in set(id_vars) and label != value_name]
    var_name = rest[0] if rest else _arg(call, "var_name", "variable")
    return R.melt(lin, out_labels, id_vars=id_vars, value_vars=value_vars, var_name=var_name,
                  value_name=value_name)


def _r_pivot(call: HookedCall, lin: FrameLineage | None, receiver: Any, out: Any) -> FrameLineage | None:
    frame, lin = _frame_argument(call, receiver, "data", lin)
    if lin is None:
        return None
    table = call.name.endswith("pivot_table")
    index = _arg(call, "index")
    columns = _arg(call, "columns")
    values = _arg(call, "values")
    index_keys = _key_entries(lin, frame, index) if index is not None and not _is_no_default(index) \
        else list(lin.index.items())
    column_keys = R.merge(*(o for _, o in _key_entries(lin, frame, columns))) if columns is not None else R.EMPTY
    used = {name for name, _ in index_keys} | set(c for c in _as_list(columns) if _hashable(c))
    value_labels = _as_list(values) if values is not None and not _is_no_default(values) else \
        [c for c in lin.columns if c not in used]
    aggfunc = _arg(call, "aggfunc", "mean") if table else None
    step = (R.aggregation_step(aggfunc) if not isinstance(aggfunc, (list, dict)) else R.AGGREGATE) \
        if table else IDENTITY_T
    return R.pivot(lin, _labels(out), index_keys=index_keys, column_keys=column_keys, values=value_labels,
                   step=step, description="pivot_table" if table else "pivot")


def _is_no_default(value: Any) -> bool:
    return type(value).__name__ == "NoDefault"


# ---------------------------------------------------------------------------------------------- joins
def _merge_keys(lin: FrameLineage, frame: Any, keys: list[Any]) -> R.Origins:
    parts = []
    for key in keys:
        if (not isinstance(key, _SCALARS) and not _hashable(key)) or hasattr(key, "dtype"):
            parts.append(R.values_of(_any_lineage(key)))
        elif key in lin.columns:
            parts.append(lin.columns[key])
        elif key in lin.index:
            parts.append(lin.index[key])
        else:
            parts.append(R.resolve(lin, key))
    return R.merge(*parts)


def _frame_view(obj: Any) -> tuple[FrameLineage | None, list[Hashable]]:
    """A Series taking part in a merge/concat behaves as a one-column frame named after it."""
    lin = lineage_for(obj)
    labels = _labels(obj)
    if isinstance(obj, _S) and lin is not None:
        lin = _series_lineage(lin, obj.name)
    return lin, labels


def _merge_rule(call: HookedCall, left: Any, right: Any, out: Any, description: str,
                extra_keys: Sequence[str] = (), lins: tuple[FrameLineage | None, FrameLineage | None] | None = None
                ) -> FrameLineage | None:
    """`lins`: the two sides' lineage when `left`/`right` are `_FrameShape`s (a deferred merge)."""
    if lins is None:
        left_lin, left_labels = _frame_view(left)
        right_lin, right_labels = _frame_view(right)
    else:
        (left_lin, right_lin), left_labels, right_labels = lins, _labels(left), _labels(right)
    if left_lin is None and right_lin is None:
        return None
    left_lin = left_lin or _blank(left)
    right_lin = right_lin or _blank(right)
    on = _as_list(_arg(call, "on"))
    left_on = _as_list(_arg(call, "left_on"))
    right_on = _as_list(_arg(call, "right_on"))
    left_index = bool(_arg(call, "left_index", False))
    right_index = bool(_arg(call, "right_index", False))
    if not on and not left_on and not right_on and not left_index and not right_index:
        right_set = set(right_labels)
        on = [c for c in left_labels if c in right_set]
    for by in extra_keys:  # merge_asof/merge_ordered `by=` keys behave like `on=`
        on = on + _as_list(_arg(call, by))
    left_on = left_on or on
    right_on = right_on or on
    left_keys = _merge_keys(left_lin, left, left_on)
    right_keys = _merge_keys(right_lin, right, right_on)
    if left_index:
        left_keys = R.merge(left_keys, R.index_origins(left_lin))
    if right_index:
        right_keys = R.merge(right_keys, R.index_origins(right_lin))
    coalesced = on or [lo for lo, ro in zip(left_on, right_on, strict=False)
                       if _hashable(lo) and _hashable(ro) and lo == ro]
    suffixes = _arg(call, "suffixes", ("_x", "_y"))
    suffixes = tuple(suffixes) if isinstance(suffixes, (list, tuple)) and len(suffixes) == 2 else ("_x", "_y")
    indicator = _arg(call, "indicator", False)
    indicator_label = "_merge" if indicator is True else (indicator if isinstance(indicator, str) else None)
    index = None
    if left_index and right_index:
        index = {name: R.merge(left_lin.index.get(name, R.EMPTY), right_lin.index.get(name, R.EMPTY))
                 for name in (*left_lin.index, *right_lin.index)}
    elif right_index and not left_index:
        index = left_lin.index
    return R.merge_frames(left_lin, right_lin, _labels(out), left_labels=left_labels, right_labels=right_labels,
                          left_keys=left_keys, right_keys=right_keys, coalesced=coalesced,
                          suffixes=suffixes, indicator=indicator_label, index=index,
                          description=description)


def _merger(description: str, extra_keys: Sequence[str] = (), method: bool = True) -> Callable[..., None]:
    def record(call: HookedCall, result: Any) -> None:
        if not isinstance(result, _DF):
            return
        left = call.args[0] if method else _arg(call, "left")
        right = _arg(call, "right")
        if _defer_merge(call, left, right, result, description, extra_keys):
            return
        new = _merge_rule(call, left, right, result, description, extra_keys)
        if new is None:
            return
        _store(result, new)
        _log(call.name, left, result, _get(left), new)

    return record


def _defer_merge(call: HookedCall, left: Any, right: Any, result: Any, description: str,
                 extra_keys: Sequence[str]) -> bool:
    """A merge of two exact DataFrames with plain arguments (labels as keys), as a thunk over both lineages."""
    if type(left) is not _DF or type(right) is not _DF or type(result) is not _DF:
        return False
    left_lin, right_lin = _tracked_entry(left), _tracked_entry(right)
    if left_lin is None and right_lin is None:
        return True  # nothing tracked
    plain = _plain_merge_call(call.name, call.args, call.kwargs, call.target_position, call.original, left, right)
    if plain is None:
        return False
    _store_merge_thunk(plain, description, extra_keys, left, right, left_lin, right_lin, result)
    return True


def _plain_merge_call(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], target_position: int,
                      original: Any, left: Any, right: Any) -> HookedCall | None:
    """The merge call without rows: both frames (and the first argument) as None, every other argument a plain
    copy; None when one is not plain."""
    plain_args: list[Any] = [None]
    for value in args[1:]:
        value = None if value is left or value is right else _plain(value)
        if value is _MISSING:
            return None
        plain_args.append(value)
    plain_kwargs = {}
    for key, value in kwargs.items():
        value = None if value is left or value is right else _plain(value)
        if value is _MISSING:
            return None
        plain_kwargs[key] = value
    return HookedCall(name, tuple(plain_args), plain_kwargs, target_position, original)


def _fast_merge(label: str, original: Any) -> FastRecorder:
    """`left.merge(right, ...)`: `_defer_merge`'s thunk straight from the arguments (no `HookedCall` to build
    and copy twice); anything else goes to the recorder."""

    def fast(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
        if type(result) is not _DF or not args:
            return False
        left = args[0]
        right = args[1] if len(args) > 1 else kwargs.get("right")
        if type(left) is not _DF or type(right) is not _DF:
            return False
        left_lin, right_lin = _tracked_entry(left), _tracked_entry(right)
        if left_lin is None and right_lin is None:
            return True  # nothing tracked
        plain = _plain_merge_call(label, args, kwargs, 1, original, left, right)
        if plain is None:
            return False
        _store_merge_thunk(plain, "merge", (), left, right, left_lin, right_lin, result)
        return True

    return fast


def _store_merge_thunk(plain: HookedCall, description: str, extra_keys: Sequence[str], left: Any, right: Any,
                       left_lin: Any, right_lin: Any, result: Any) -> None:
    out_cols = result.columns
    base = left_lin if _depth(left_lin) >= _depth(right_lin) else right_lin
    thunk = _thunk(plain.name, _merge_thunk, (plain, description, tuple(extra_keys), left.columns, right.columns,
                                              out_cols, left_lin, right_lin), out_cols, base)
    thunk.token = out_cols
    result.__dict__[ATTRIBUTE] = (lineage_table.generation, thunk)
    _log(plain.name, left, result, left_lin, thunk)


def _merge_thunk(call: HookedCall, description: str, extra_keys: tuple[str, ...], left_cols: Any, right_cols: Any,
                 out_cols: Any, left_lin: FrameLineage | None, right_lin: FrameLineage | None) -> FrameLineage:
    left, right = _FrameShape(left_cols), _FrameShape(right_cols)
    new = _merge_rule(call, left, right, _FrameShape(out_cols), description, extra_keys, (left_lin, right_lin))
    if new is None:
        raise ValueError("a deferred merge lost both sides' lineage")
    return new


def _rec_join(call: HookedCall, result: Any) -> None:
    left = call.args[0]
    other = _arg(call, "other")
    if not isinstance(result, _DF):
        return
    left_lin, left_labels = _frame_view(left)
    others = [other] if isinstance(other, _FRAMES) else list(other) if isinstance(other, (list, tuple)) else []
    views = [_frame_view(o) for o in others]
    if left_lin is None and all(v[0] is None for v in views):
        return
    left_lin = left_lin or _blank(left)
    on = _as_list(_arg(call, "on"))
    if len(views) == 1:
        right_lin = views[0][0] or _blank(others[0])
        left_keys = _merge_keys(left_lin, left, on) if on else R.index_origins(left_lin)
        suffixes = (_str_or_none(_arg(call, "lsuffix", "")), _str_or_none(_arg(call, "rsuffix", "")))
        index = left_lin.index if on else {
            name: R.merge(left_lin.index.get(name, R.EMPTY), right_lin.index.get(name, R.EMPTY))
            for name in (*left_lin.index, *right_lin.index)}
        new = R.merge_frames(left_lin, right_lin, _labels(result), left_labels=left_labels,
                             right_labels=views[0][1], left_keys=left_keys,
                             right_keys=R.index_origins(right_lin), coalesced=(), suffixes=suffixes,
                             index=index, description="join")
    else:  # a list of frames joined on the index: columns by name, JOIN on every index
        lins = [left_lin, *(v[0] or _blank(o) for v, o in zip(views, others, strict=True))]
        keys = R.merge(*(R.index_origins(lin) for lin in lins))
        cols = {label: R.merge(*(R.resolve(lin, label) for lin in lins)) for label in _labels(result)}
        new = FrameLineage(cols, R._dataset(*(lin.dataset for lin in lins), R.as_influence_of(keys, "JOIN", "join")),
                           R._notes(*lins), left_lin.index)
    _store(result, new)
    _log(call.name, left, result, _get(left), new)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _rec_concat(call: HookedCall, result: Any) -> None:
    objs = _arg(call, "objs")
    if type(objs) is not list and type(objs) is not tuple:  # the usual case first: Mapping's check is slow
        if isinstance(objs, Mapping):
            objs = list(objs.values())
        elif not isinstance(objs, (list, tuple)):
            return
    if not isinstance(result, _FRAMES):
        return
    axis = _arg(call, "axis", 0)
    if axis in (0, "index") and type(result) is _DF and \
            _defer_concat_rows(objs, result, bool(_arg(call, "ignore_index", False))):
        return
    views = [_frame_view(o) for o in objs if isinstance(o, _FRAMES)]
    if all(lin is None for lin, _ in views):
        return
    frames = [o for o in objs if isinstance(o, _FRAMES)]
    if axis in (1, "columns"):
        new = R.concat_columns([(lin, labels) for lin, labels in views], _labels(result))
    elif isinstance(result, _S):
        new = R.concat_series_rows([lin or _blank(o) for (lin, _), o in zip(views, frames, strict=True)],
                                   result.name)
    else:
        parts = []
        for (lin, _), obj in zip(views, frames, strict=True):
            part = lin or _blank(obj)
            if isinstance(obj, _S):  # a Series stacked under frames becomes the column named after it
                part = _series_lineage(part, obj.name if obj.name is not None else 0)
            parts.append(part)
        new = R.concat_rows(parts, _labels(result))
    if _arg(call, "ignore_index", False):
        new.index = {}
    _store(result, new)
    _log("pandas.concat", None, result, None, new)


def _fast_concat(args: tuple[Any, ...], kwargs: dict[str, Any], result: Any) -> bool:
    """`pd.concat([df, ...], ignore_index=...)` stacking exact DataFrames by rows, straight from the arguments
    (`_rec_concat`'s first case); anything else goes to `_rec_concat`."""
    if len(args) != 1 or type(result) is not _DF or kwargs.get("axis", 0) not in (0, "index"):
        return False
    objs = args[0]
    if type(objs) is not list and type(objs) is not tuple:
        return False
    return _defer_concat_rows(objs, result, bool(kwargs.get("ignore_index", False)))


def _defer_concat_rows(objs: Sequence[Any], result: Any, ignore_index: bool) -> bool:
    """Frames stacked by rows (exact DataFrames only), as a thunk over each part's lineage and column axis."""
    parts: list[tuple[Any, Any]] = []
    tracked = None
    for obj in objs:
        if obj is None:
            continue
        if type(obj) is not _DF:
            return False
        lin = _tracked_entry(obj)
        cols = obj.columns
        if lin is not None and (tracked is None or _depth(lin) > _depth(tracked)):
            tracked = lin  # the deepest chain decides when the thunk evaluates at once
        parts.append((lin, cols))
    if tracked is None:
        return True  # nothing tracked: nothing to record
    out_cols = result.columns
    thunk = _thunk("pandas.concat", _concat_rows, (tuple(parts), out_cols, ignore_index,
                                                    *(lin for lin, _ in parts if lin is not None)), out_cols, tracked)
    thunk.token = out_cols
    result.__dict__[ATTRIBUTE] = (lineage_table.generation, thunk)
    _log("pandas.concat", None, result, None, thunk)
    return True


def _concat_rows(parts: tuple[tuple[Any, Any], ...], out_cols: Any, ignore_index: bool,
                 *forced: FrameLineage) -> FrameLineage:
    """`forced` are the tracked parts' lineages, in order, already evaluated by the thunk."""
    evaluated = iter(forced)
    lins = [next(evaluated) if lin is not None else FrameLineage({label: R.EMPTY for label in _column_labels(cols)})
            for lin, cols in parts]
    new = R.concat_rows(lins, _column_labels(out_cols))
    if ignore_index:
        new.index = {}
    return new


# ---------------------------------------------------------------------------------------------- grouping
def _make_group_spec(lin: FrameLineage, frame: Any, by: Any, level: Any, as_index: bool,
                     description: str = "groupby") -> R.GroupSpec:
    keys: list[tuple[Hashable, R.Origins]] = []
    if by is not None:
        keys.extend(_key_entries(lin, frame, by))
    if level is not None:
        keys.extend(_level_entries(lin, frame, level))
    key_columns = tuple(k for k in _as_list(by) if isinstance(k, _SCALARS) and k is not None
                        and k in lin.columns)
    if isinstance(frame, _S):
        return R.GroupSpec(lin, tuple(keys), (), True, (frame.name,), True, description)
    return R.GroupSpec(lin, tuple(keys), key_columns, as_index, None, False, description)


def _rec_groupby(call: HookedCall, result: Any) -> None:
    frame = call.args[0]
    lin = lineage_for(frame)
    by = _arg(call, "by")
    by_tracked = isinstance(by, _S) and _get(by) is not None
    if lin is None and not by_tracked:
        return
    if lin is None:
        lin = _blank(frame)
    elif isinstance(frame, _S):
        lin = _series_lineage(lin, frame.name)
    spec = _make_group_spec(lin, frame, by, _arg(call, "level"), bool(_arg(call, "as_index", True)))
    _groups.set(result, spec)


def _group_spec(gb: Any) -> R.GroupSpec | None:
    """The spec recorded when `gb` was made, else one derived from the object (made in a way we did not see)."""
    spec = _groups.get(gb)
    if spec is not None:
        return spec
    obj = getattr(gb, "obj", None)
    lin = lineage_for(obj) if obj is not None else None
    if lin is None:
        return None
    if isinstance(obj, _S):
        lin = _series_lineage(lin, obj.name)
    spec = _make_group_spec(lin, obj, getattr(gb, "keys", None), getattr(gb, "level", None),
                            bool(getattr(gb, "as_index", True)))
    selection = getattr(gb, "_selection", None)
    if selection is not None and isinstance(obj, _DF):
        spec = spec.selected(_as_list(selection), _SERIES_GROUPBY is not None and isinstance(gb, _SERIES_GROUPBY))
    return spec


def _rec_group_getitem(call: HookedCall, result: Any) -> None:
    spec = _group_spec(call.args[0])
    if spec is None:
        return
    key = call.args[1]
    labels = _as_list(key) if isinstance(key, (list, tuple)) else [key]
    single = not isinstance(key, (list, tuple))
    if isinstance(spec, R.GroupSpec):
        _groups.set(result, spec.selected(labels, single))


def _agg_sources(spec: R.GroupSpec, func: Any, kwargs: Mapping[str, Any], out_labels: Sequence[Hashable]
                 ) -> tuple[dict[Hashable, tuple[Sequence[Hashable], Any]] | None, Any]:
    """Output label -> (input labels, transform) for named, dict and list aggregations."""
    values = spec.value_labels()
    if func is None and kwargs:
        sources: dict[Hashable, tuple[Sequence[Hashable], Any]] = {}
        for out, how in kwargs.items():
            if isinstance(how, tuple) and len(how) == 2:  # ("col", "sum") or pd.NamedAgg
                sources[out] = ([how[0]], R.aggregation_step(how[1]))
            else:  # SeriesGroupBy: total="sum"
                sources[out] = (values, R.aggregation_step(how))
        return sources, R.AGGREGATE
    if isinstance(func, Mapping):
        sources = {}
        for label in out_labels:
            column = label if _hashable(label) and label in func else (
                label[0] if isinstance(label, tuple) and label and label[0] in func else None)
            if column is None:
                continue
            how = func[column]
            if isinstance(how, (list, tuple)):
                fname = label[-1] if isinstance(label, tuple) else None
                step = next((R.aggregation_step(f) for f in how if _func_name(f) == fname), R.AGGREGATE)
            else:
                step = R.aggregation_step(how)
            sources[label] = ([column], step)
        return sources, R.AGGREGATE
    if isinstance(func, (list, tuple)):
        sources = {}
        for label in out_labels:
            fname = label[-1] if isinstance(label, tuple) else label
            column = label[0] if isinstance(label, tuple) and label[0] in set(values) else None
            src = [column] if column is not None else (values if spec.series or len(values) == 1 else None)
            if src is not None:
                sources[label] = (src, R.aggregation_step(fname))
        return sources, R.AGGREGATE
    return None, R.aggregation_step(func)


def _func_name(func: Any) -> str | None:
    return func if isinstance(func, str) else getattr(func, "__name__", None)


_GROUP_MASKED = {"count", "nunique"}
_GROUP_WINDOW_AGG = {"cumsum", "cumprod", "cummin", "cummax", "rank"}
_GROUP_WINDOW_TRANSFORM = {"shift", "diff", "pct_change", "ffill", "bfill", "fillna"}
_GROUP_ROWS = {"head", "tail", "nth", "sample", "take", "nlargest", "nsmallest", "get_group"}
_GROUP_REDUCE = {
    "sum", "mean", "median", "min", "max", "std", "var", "sem", "prod", "first", "last", "any", "all",
    "quantile", "ohlc", "describe", "idxmax", "idxmin", "skew", "kurt", "corr", "cov", "unique", "corrwith",
}


# Group methods whose rule reads only the spec, the result's labels and plain arguments: deferred when possible.
_GROUP_DEFERRABLE = frozenset(_GROUP_REDUCE | _GROUP_MASKED | {"size", "agg", "aggregate"})


def _rec_group_method(call: HookedCall, result: Any) -> None:
    gb = call.args[0]
    spec = _group_spec(gb)
    if spec is None:
        return
    name = call.name.rsplit(".", 1)[-1]
    if name in ("rolling", "expanding", "ewm"):
        _windows.set(result, _window_from_group(spec, name, call))
        return
    if name == "resample":
        _groups.set(result, spec)
        return
    if not isinstance(result, _FRAMES):
        return
    out: Any = result  # a DataFrame or Series (isinstance against the tuple would narrow it to `object`)
    if name in _GROUP_DEFERRABLE and (type(out) is _DF or type(out) is _S):
        plain = _plain_call(call)
        if plain is not None:  # reductions and named aggregations: read only labels and plain arguments
            series_out = type(out) is _S
            shape = out.name if series_out else out.columns
            thunk = _thunk(f"{spec.description}.{name}", _group_thunk, (spec, name, plain, series_out, shape),
                           (shape,) if series_out else shape, spec.parent)
            _store(result, thunk)
            _log(f"{spec.description}.{name}", None, result, spec.parent, thunk)
            return
    series_out = isinstance(out, _S)
    new = _group_result(spec, name, call, gb, _labels(out), series_out, out.name if series_out else None, out)
    if new is None:
        return
    _store(result, new)
    _log(f"{spec.description}.{name}", None, result, spec.parent, new)


def _group_thunk(spec: R.GroupSpec, name: str, call: HookedCall, series_out: bool, shape: Any) -> FrameLineage:
    labels = [shape] if series_out else _column_labels(shape)
    new = _group_result(spec, name, call, None, labels, series_out, shape if series_out else None, None)
    if new is None:
        raise ValueError(f"no deferred rule for groupby.{name}")
    return new


def _group_result(spec: R.GroupSpec, name: str, call: HookedCall, gb: Any, labels: list[Hashable],
                  series_out: bool, series_name: Hashable, result: Any) -> FrameLineage | None:
    """`gb` and `result` are None when deferred (only names in `_GROUP_DEFERRABLE` are, and they need neither)."""
    describe = f"{spec.description}.{name}"
    if name in _GROUP_REDUCE:
        return R.group_reduce(spec, labels, step=R.AGGREGATE, series_name=series_name,
                              result_is_series=series_out)
    if name in _GROUP_MASKED:
        return R.group_reduce(spec, labels, step=R.aggregation_step(name), series_name=series_name,
                              result_is_series=series_out)
    if name == "size":
        if series_out:
            return R.group_reduce(spec, labels, step=R.aggregation_step("size"), series_name=series_name,
                                  result_is_series=True, from_keys=True)
        return R.group_reduce(spec, labels, step=R.aggregation_step("size"), from_keys=True)
    if name in ("cumcount", "ngroup"):
        origins = R.chain(spec.key_origins(), R.aggregation_step(name))
        return FrameLineage({series_name: origins}, spec.parent.dataset, spec.parent.notes, spec.parent.index)
    if name in _GROUP_WINDOW_AGG:
        return R.group_window(spec, labels, R.AGGREGATE, describe, series_out, series_name)
    if name in _GROUP_WINDOW_TRANSFORM:
        return R.group_window(spec, labels, R.TRANSFORM, describe, series_out, series_name)
    if name in _GROUP_ROWS:
        return R.group_rows(spec, labels, describe)
    if name in ("agg", "aggregate"):
        func = _arg(call, "func")
        kwargs = {k: v for k, v in call.kwargs.items() if k not in ("func", "engine", "engine_kwargs")}
        sources, step = _agg_sources(spec, func, kwargs, labels)
        return R.group_reduce(spec, labels, step=step, sources=sources, series_name=series_name,
                              result_is_series=series_out)
    if name == "transform":
        func = _arg(call, "func")
        fname = _func_name(func)
        step = R.TRANSFORM if fname in _GROUP_WINDOW_TRANSFORM else R.aggregation_step(func)
        return R.group_window(spec, labels, step, describe, series_out, series_name)
    if name == "filter":
        trace = trace_columns(_arg(call, "func"), list(spec.parent.columns), FRAME) if not spec.series else None
        condition = R.values_of(spec.parent) if trace is None else R.merge(
            *(R.resolve(spec.parent, c) for c in trace.columns))
        new = R.group_filter(spec, labels, condition, describe)
        return new.with_note(f"{describe}: {trace.note}") if trace is not None and trace.note else new
    if name == "apply":
        return _group_apply(spec, call, gb, result, labels, series_name)
    if name == "value_counts":
        return _group_value_counts(spec, call, result, series_name)
    return None


def _group_apply(spec: R.GroupSpec, call: HookedCall, gb: Any, result: Any, labels: list[Hashable],
                 series_name: Hashable) -> FrameLineage:
    parent = spec.parent
    note = None
    if spec.series:
        read = spec.value_labels()
    else:
        trace = trace_columns(_arg(call, "func"), list(parent.columns), FRAME)
        read = list(trace.columns)
        note = trace.note
    obj = getattr(gb, "obj", None)
    same_rows = obj is not None and len(result) == len(obj)
    new = R.group_apply(spec, labels, read, same_rows, isinstance(result, _S), series_name)
    return new.with_note(f"{spec.description}.apply: {note}") if note else new


def _group_value_counts(spec: R.GroupSpec, call: HookedCall, result: Any, series_name: Hashable
                        ) -> FrameLineage:
    parent = spec.parent
    subset = _as_list(_arg(call, "subset")) if not spec.series else []
    counted = subset or spec.value_labels()
    values = R.merge(*(R.resolve(parent, c) for c in counted))
    step = R.aggregation_step("value_counts")
    index = R.key_index(spec)
    for label in counted:
        origins = R.resolve(parent, label)
        index[label] = R.merge(origins, R.as_influence_of(origins, GROUP_BY, f"{spec.description}.value_counts"))
    dataset = R._dataset(parent.dataset, R.as_influence_of(R.merge(spec.key_origins(), values), GROUP_BY,
                                                           f"{spec.description}.value_counts"))
    if isinstance(result, _S):
        return FrameLineage({series_name: R.chain(values, step)}, dataset, parent.notes, index)
    cols = {}
    for label in _labels(result):
        cols[label] = index[label] if label in index else R.chain(values, step)
    return FrameLineage(cols, dataset, parent.notes, {})


# ---------------------------------------------------------------------------------------------- windows
def _receiver_lineage(call: HookedCall) -> tuple[Any, FrameLineage | None]:
    """The receiver and its lineage, a Series' reduced to its one column."""
    receiver = call.args[0]
    lin = lineage_for(receiver)
    if lin is not None and isinstance(receiver, _S):
        lin = _series_lineage(lin, receiver.name)
    return receiver, lin


def _window_order(lin: FrameLineage, on: Any) -> tuple[R.Origins, tuple[Hashable, ...]]:
    if on is not None and _hashable(on) and on in lin.columns:
        return lin.columns[on], (on,)
    return R.index_origins(lin), ()


def _rec_window(call: HookedCall, result: Any) -> None:
    _, lin = _receiver_lineage(call)
    if lin is None:
        return
    kind = call.name.rsplit(".", 1)[-1]
    on = _arg(call, "on") if kind == "rolling" else None
    order, excluded = _window_order(lin, on)
    times = _arg(call, "times") if kind == "ewm" else None
    if times is not None:
        times_lin = _any_lineage(times)
        order = R.merge(order, R.values_of(times_lin) if times_lin is not None else R.resolve(lin, times))
    _windows.set(result, R.WindowSpec(lin, kind, order, (), None, excluded))


def _rec_resample(call: HookedCall, result: Any) -> None:
    receiver, lin = _receiver_lineage(call)
    if lin is None:
        return
    on = _arg(call, "on")
    level = _arg(call, "level")
    if on is not None and _hashable(on) and on in lin.columns:
        keys: tuple[tuple[Hashable, R.Origins], ...] = ((on, lin.columns[on]),)
        key_columns: tuple[Hashable, ...] = (on,)
    elif level is not None:
        keys, key_columns = tuple(_level_entries(lin, receiver, level)), ()
    else:
        keys, key_columns = ((getattr(receiver.index, "name", None), R.index_origins(lin)),), ()
    selection = (receiver.name,) if isinstance(receiver, _S) else None
    _groups.set(result, R.GroupSpec(lin, keys, key_columns, True, selection, isinstance(receiver, _S),
                                    "resample"))


def _window_from_group(spec: R.GroupSpec, kind: str, call: HookedCall) -> R.WindowSpec:
    on = _arg(call, "on") if kind == "rolling" else None
    order, excluded = _window_order(spec.parent, on)
    selection = tuple(spec.value_labels())
    return R.WindowSpec(spec.parent, kind, order, spec.keys, selection, excluded + tuple(spec.key_columns))


def _rec_window_getitem(call: HookedCall, result: Any) -> None:
    owner = call.args[0]
    key = call.args[1]
    labels = _as_list(key) if isinstance(key, (list, tuple)) else [key]
    spec = _windows.get(owner)
    if spec is not None:
        _windows.set(result, spec.selected(labels))
        return
    group = _groups.get(owner)
    if group is not None:
        _groups.set(result, group.selected(labels, not isinstance(key, (list, tuple))))


_WINDOW_MASKED = {"count", "nunique"}


def _rec_window_method(call: HookedCall, result: Any) -> None:
    spec = _windows.get(call.args[0])
    if spec is None or not isinstance(result, _FRAMES):
        return
    name = call.name.rsplit(".", 1)[-1]
    description = f"{spec.kind}.{name}"
    step = R.aggregation_step(name) if name in _WINDOW_MASKED else R.transform(DIRECT, AGGREGATION, False,
                                                                               None)
    if name in ("agg", "aggregate"):
        func = _arg(call, "func")
        step = R.aggregation_step(func) if not isinstance(func, (list, dict)) else R.AGGREGATE
    series_out = isinstance(result, _S)
    new = R.window_reduce(spec, _labels(result), step, description, series_out,
                          getattr(result, "name", None) if series_out else None)
    _store(result, new)
    _log(description, None, result, spec.parent, new)


def _r_sequential(step: Any) -> Rule:
    def rule(call: HookedCall, lin: FrameLineage, receiver: Any, out: Any) -> FrameLineage:
        return R.sequential(lin, _labels(out), step, call.name.rsplit(".", 1)[-1])

    return rule


# ---------------------------------------------------------------------------------------------- operators
def _rec_binary(call: HookedCall, result: Any) -> None:
    if not isinstance(result, _FRAMES):
        return
    left = call.args[0]
    right = call.args[1] if len(call.args) > 1 else call.kwargs.get("other")
    left_lin = lineage_for(left)
    right_lin = _any_lineage(right)
    if left_lin is None and right_lin is None:
        return
    left_frame, right_frame = isinstance(left, _DF), isinstance(right, _DF)
    if right_lin is not None and left_frame and isinstance(right, _S) and _arg(call, "axis") in (None, 1, "columns"):
        by_label = _per_label_lineage(right, right_lin)  # df - df.mean(): aligned on the column labels
        if by_label is not None:
            right_lin, right_frame = by_label, True
    new = R.elementwise(left_lin, right_lin, _labels(result), R.TRANSFORM, left_frame=left_frame,
                        right_frame=right_frame)
    _store(result, new)
    if isinstance(result, _S) and not left_frame and not right_frame:
        _combine_per_label(result, left, right, right_lin)
    if isinstance(result, _DF):
        _log(call.name, left, result, left_lin, new)


def _series_elementwise(left: FrameLineage | None, right: FrameLineage | None, name: Hashable) -> FrameLineage:
    return R.elementwise(left, right, [name], R.TRANSFORM, left_frame=False, right_frame=False)


def _rec_unary(call: HookedCall, result: Any) -> None:
    if not isinstance(result, _FRAMES):
        return
    lin = lineage_for(call.args[0])
    if lin is None:
        return
    if isinstance(result, _S):
        lin = _series_lineage(lin, result.name)
    _store(result, R.keep(lin, _labels(result), step=R.TRANSFORM))


def _rec_array_ufunc(call: HookedCall, result: Any) -> None:
    method = call.args[2] if len(call.args) > 2 else None
    if method != "__call__":
        return
    inputs = call.args[3:]
    lins = [(x, _any_lineage(x)) for x in inputs]
    tracked = [lin for _, lin in lins if lin is not None]
    if not tracked:
        return
    outputs = result if isinstance(result, tuple) else (result,)
    frames = [(x, lin) for x, lin in lins if isinstance(x, _DF) and lin is not None]
    for out in outputs:
        if isinstance(out, _DF) and frames:
            base = frames[0][1]
            others = R.merge(*(R.chain(R.values_of(lin), R.TRANSFORM) for x, lin in lins
                               if lin is not None and x is not frames[0][0]))
            _store(out, R.keep(base, _labels(out), step=R.TRANSFORM, extra_all=others or None))
        elif isinstance(out, _S):
            _store(out, R.combine_values(tracked, out.name, R.TRANSFORM))
        elif _NDARRAY is not None and isinstance(out, _NDARRAY):
            _store(out, R.combine_values(tracked, "value", R.TRANSFORM))


# ---------------------------------------------------------------------------------------------- accessors
def _accessor_lineage(accessor: Any) -> FrameLineage | None:
    """The lineage of the Series behind `.str`/`.dt`/`.cat` (the cat accessor keeps only the values: its
    Series' lineage was noted when the accessor was made)."""
    for attr in ("_orig", "_parent", "_data"):
        series = getattr(accessor, attr, None)
        if _S is not None and isinstance(series, _S):
            return lineage_for(series)
    return _accessors.get(accessor)


def _rec_accessor(call: HookedCall, result: Any) -> None:
    if not isinstance(result, _FRAMES) and not (_NDARRAY is not None and isinstance(result, _NDARRAY)):
        return
    lin = _accessor_lineage(call.args[0])
    others = [lin for lin in (_any_lineage(a) for a in (*call.args[1:], *call.kwargs.values())) if lin is not None]
    if isinstance(_arg(call, "others"), (list, tuple)):  # str.cat(others=[s1, s2])
        others.extend(x for x in (_any_lineage(o) for o in _arg(call, "others")) if x is not None)
    if lin is None and not others:
        return
    parts = [lin, *others] if lin is not None else others
    if isinstance(result, _DF):
        values = R.merge(*(R.chain(R.values_of(p), R.TRANSFORM) for p in parts))
        base = parts[0]
        _store(result, FrameLineage({label: values for label in _labels(result)}, base.dataset, base.notes,
                                    base.index))
        return
    label = result.name if isinstance(result, _S) else "value"
    _store(result, R.combine_values(parts, label, R.TRANSFORM, index_from=lin))


def _rec_categorical_accessor_init(call: HookedCall, result: Any) -> None:
    data = _arg(call, "data")
    if _S is not None and isinstance(data, _S):
        lin = lineage_for(data)
        if lin is not None:
            _accessors.set(call.args[0], lin)


# ---------------------------------------------------------------------------------------------- numpy & constructors
def _rec_to_array(call: HookedCall, result: Any) -> None:
    if _NDARRAY is None or not isinstance(result, _NDARRAY):
        return
    receiver = call.args[0]
    lin = lineage_for(receiver)
    if lin is None:
        return
    if isinstance(receiver, _S):
        new = _series_lineage(lin, receiver.name)
    else:
        new = R.keep(lin, _labels(receiver))
    _store(result, new)


def _rec_unique(call: HookedCall, result: Any) -> None:
    """Series.unique returns an ndarray or an ExtensionArray: the distinct values, as they are."""
    lin = lineage_for(call.args[0])
    if lin is None or isinstance(result, (*_SCALARS, tuple)):
        return
    values = R.values_of(lin)
    _store(result, FrameLineage({"value": values}, R._dataset(lin.dataset, R.as_influence_of(values, GROUP_BY,
                                                                                            "unique")), lin.notes))


def _frame_from_data(frame: Any, data: Any, index: Any) -> FrameLineage | None:
    labels = _labels(frame)
    new: FrameLineage | None = None
    if isinstance(data, Mapping):
        parts: dict[Hashable, FrameLineage] = {}
        for key, value in data.items():
            value_lin = _any_lineage(value)
            if value_lin is not None:
                parts[key] = value_lin
        if parts:
            lins = list(parts.values())
            cols = {label: R.values_of(parts[label]) if label in parts else R.EMPTY for label in labels}
            new = FrameLineage(cols, R._dataset(*(lin.dataset for lin in lins)), R._notes(*lins),
                               next((lin.index for lin in lins if lin.index), {}))
    elif isinstance(data, _DF):
        data_lin = lineage_for(data)
        if data_lin is not None:
            new = R.keep(data_lin, labels)
    elif isinstance(data, (list, tuple)) and data and len(data) <= 10_000 and isinstance(data[0], (*_FRAMES,
                                                                                                    _NDARRAY)):
        lins = [lin for lin in (_any_lineage(x) for x in data) if lin is not None]
        if lins:  # rows given as Series/arrays: every column holds one value of each
            every = R.union_all(R.values_of(lin) for lin in lins)
            new = FrameLineage({label: every for label in labels}, R._dataset(*(lin.dataset for lin in lins)),
                               R._notes(*lins))
    elif data is not None and not isinstance(data, _SCALARS):
        data_lin = _any_lineage(data)
        if data_lin is not None:
            ncols = getattr(data, "ndim", 1)
            if ncols == 2 and len(data_lin.columns) == len(labels):
                cols = dict(zip(labels, data_lin.columns.values(), strict=True))
            else:
                value = R.values_of(data_lin)
                cols = {label: value for label in labels}
            new = FrameLineage(cols, data_lin.dataset, data_lin.notes,
                               data_lin.index if isinstance(data, _S) else {})
    index_lin = None if index is None or isinstance(index, _SCALARS) else _any_lineage(index)
    if index_lin is not None:
        if new is None:
            new = _blank(frame)
        new.index = {getattr(index, "name", None): R.values_of(index_lin)}
    return new


def _rec_frame_init(call: HookedCall, result: Any) -> None:
    frame = call.args[0]
    data = _arg(call, "data")
    index = _arg(call, "index")
    if data is None and index is None:
        return
    new = _frame_from_data(frame, data, index)
    if new is not None:
        _store(frame, new)
        _log("pandas.DataFrame", None, frame, None, new)


def _rec_from_dict(call: HookedCall, result: Any) -> None:
    if not isinstance(result, _DF):
        return
    orient = _arg(call, "orient", "columns")
    if orient not in ("columns", None):
        return
    new = _frame_from_data(result, _arg(call, "data"), None)
    if new is not None:
        _store(result, new)
        _log("DataFrame.from_dict", None, result, None, new)


def _rec_series_init(call: HookedCall, result: Any) -> None:
    series = call.args[0]
    data = _arg(call, "data")
    if data is None or isinstance(data, _SCALARS) or isinstance(data, Mapping):
        return
    data_lin = _any_lineage(data)
    if data_lin is None:
        return
    _store(series, FrameLineage({series.name: R.values_of(data_lin)}, data_lin.dataset, data_lin.notes,
                                data_lin.index if isinstance(data, _S) else {}))


# ---------------------------------------------------------------------------------------------- module functions
def _rec_values_function(step: Any) -> Callable[[HookedCall, Any], None]:
    """pd.to_datetime / to_numeric / cut / qcut / isna ...: the result's values from the argument's values."""

    def record(call: HookedCall, result: Any) -> None:
        arg = call.args[0] if call.args else next(iter(call.kwargs.values()), None)
        lin = _any_lineage(arg)
        if lin is None:
            return
        if isinstance(result, _DF):
            _store(result, R.keep(lin, _labels(result), step=step) if isinstance(arg, _DF) else
                   FrameLineage({label: R.chain(R.values_of(lin), step) for label in _labels(result)},
                                lin.dataset, lin.notes, lin.index))
        elif isinstance(result, _S):
            _store(result, R.combine_values([lin], result.name, step))
        elif not isinstance(result, (*_SCALARS, tuple)):
            _store(result, R.combine_values([lin], "value", step))

    return record


def _rec_get_dummies(call: HookedCall, result: Any) -> None:
    data = _arg(call, "data")
    if not isinstance(result, _DF):
        return
    lin = lineage_for(data)
    if lin is None:
        return
    out_labels = _labels(result)
    if isinstance(data, _S):
        new = R.dummies(_series_lineage(lin, data.name), out_labels, [data.name], {data.name: ""}, "")
    else:
        out_set = set(out_labels)
        columns = _as_list(_arg(call, "columns"))
        encoded = columns or [c for c in lin.columns if c not in out_set]
        prefix = _arg(call, "prefix")
        if isinstance(prefix, str):
            prefixes = {c: prefix for c in encoded}
        elif isinstance(prefix, Mapping):
            prefixes = {c: str(prefix.get(c, c)) for c in encoded}
        elif isinstance(prefix, (list, tuple)) and len(prefix) == len(encoded):
            prefixes = {c: str(p) for c, p in zip(encoded, prefix, strict=True)}
        else:
            prefixes = {c: field_name(c) for c in encoded}
        separator = _arg(call, "prefix_sep", "_")
        new = R.dummies(lin, out_labels, encoded, prefixes, separator if isinstance(separator, str) else "_")
    _store(result, new)
    _log("pandas.get_dummies", data, result, lin, new)


def _rec_crosstab(call: HookedCall, result: Any) -> None:
    if not isinstance(result, _DF):
        return
    index = _as_list(_arg(call, "index"))
    columns = _as_list(_arg(call, "columns"))
    values = _arg(call, "values")
    index_lins = [(getattr(x, "name", None), _any_lineage(x)) for x in index]
    column_lins = [_any_lineage(x) for x in columns]
    values_lin = _any_lineage(values)
    every = [lin for _, lin in index_lins if lin is not None] + [lin for lin in column_lins if lin is not None]
    if not every and values_lin is None:
        return
    keys = R.merge(*(R.values_of(lin) for lin in every))
    if values_lin is not None:
        origins = R.chain(R.values_of(values_lin), R.aggregation_step(_arg(call, "aggfunc")))
    else:
        origins = R.chain(keys, R.aggregation_step("count"))
    dataset = R.as_influence_of(keys, GROUP_BY, "crosstab")
    index_map = {name: R.merge(R.values_of(lin), R.as_influence_of(R.values_of(lin), GROUP_BY, "crosstab"))
                 if lin is not None else R.EMPTY for name, lin in index_lins}
    new = FrameLineage({label: origins for label in _labels(result)}, dataset, (), index_map)
    _store(result, new)
    _log("pandas.crosstab", None, result, None, new)


def _module_frame_rule(rule: Rule, first: str) -> Callable[[HookedCall, Any], None]:
    """A module function whose first argument plays the receiver (pd.melt(frame), pd.pivot_table(data))."""

    def record(call: HookedCall, result: Any) -> None:
        if not isinstance(result, _FRAMES):
            return
        frame = _arg(call, first)
        lin = lineage_for(frame)
        if lin is None:
            return
        new = rule(call, lin, frame, result)
        if new is not None:
            _store(result, new)
            _log(call.name, frame, result, lin, new)

    return record


def _rec_module_generic(call: HookedCall, result: Any) -> None:
    if not isinstance(result, _FRAMES):
        return
    lins = [lin for lin in (_any_lineage(a) for a in (*call.args, *call.kwargs.values())) if lin is not None]
    if not lins:
        return
    new = over_approximate(lins, _labels(result), call.name)
    _store(result, new)
    _log_entry(call.name, None, result, None, new, approximated=True)


# ---------------------------------------------------------------------------------------------- rule tables
FRAME_RULES: dict[str, Rule] = {}
SERIES_RULES: dict[str, Rule] = {}


def _build_tables() -> None:
    transform_all = _step(R.TRANSFORM)
    cast = _step(R.CAST)
    aggregate_all = _step(R.AGGREGATE)
    shared: dict[str, Rule] = {
        "head": _r_rows, "tail": _r_rows, "sample": _r_rows, "take": _r_rows, "truncate": _r_rows,
        "at_time": _r_rows, "between_time": _r_rows, "first": _r_rows, "last": _r_rows, "copy": _keep,
        "nlargest": _r_nlargest, "nsmallest": _r_nlargest,
        "dropna": _r_dropna, "fillna": _r_fillna, "ffill": transform_all, "bfill": transform_all,
        "backfill": transform_all, "pad": transform_all, "interpolate": transform_all,
        "drop_duplicates": _r_drop_duplicates, "duplicated": _r_duplicated, "drop": _r_drop,
        "replace": _r_replace, "clip": _r_clip, "where": _r_where, "mask": _r_where,
        "round": transform_all, "abs": transform_all, "astype": _r_astype, "convert_dtypes": cast,
        "infer_objects": cast, "isna": transform_all, "isnull": transform_all, "notna": transform_all,
        "notnull": transform_all, "isin": _r_isin,
        "rename": _r_positional, "set_axis": _r_positional, "add_prefix": _r_positional,
        "add_suffix": _r_positional, "rename_axis": _keep, "reindex": _keep, "reindex_like": _keep,
        "filter": _keep, "droplevel": _keep, "reorder_levels": _keep, "swaplevel": _keep, "asfreq": _keep,
        "to_period": _keep, "to_timestamp": _keep, "tz_convert": _keep, "tz_localize": _keep,
        "set_flags": _keep, "reset_index": _r_reset_index,
        "sort_values": _r_sort_values, "sort_index": _r_sort_index,
        "apply": _r_apply, "transform": _r_transform, "agg": _r_frame_agg, "aggregate": _r_frame_agg,
        "map": transform_all, "combine": _r_combine, "combine_first": _r_combine,
        "cumsum": _r_sequential(R.AGGREGATE), "cumprod": _r_sequential(R.AGGREGATE),
        "cummax": _r_sequential(R.AGGREGATE), "cummin": _r_sequential(R.AGGREGATE),
        "rank": _r_sequential(R.AGGREGATE), "diff": _r_sequential(R.TRANSFORM),
        "shift": _r_sequential(R.TRANSFORM), "pct_change": _r_sequential(R.TRANSFORM),
        "sum": _reduce(R.AGGREGATE), "mean": _reduce(R.AGGREGATE), "median": _reduce(R.AGGREGATE),
        "min": _reduce(R.AGGREGATE), "max": _reduce(R.AGGREGATE), "std": _reduce(R.AGGREGATE),
        "var": _reduce(R.AGGREGATE), "sem": _reduce(R.AGGREGATE), "prod": _reduce(R.AGGREGATE),
        "product": _reduce(R.AGGREGATE), "skew": _reduce(R.AGGREGATE), "kurt": _reduce(R.AGGREGATE),
        "kurtosis": _reduce(R.AGGREGATE), "any": _reduce(R.AGGREGATE), "all": _reduce(R.AGGREGATE),
        "idxmax": _reduce(R.AGGREGATE), "idxmin": _reduce(R.AGGREGATE), "quantile": _reduce(R.AGGREGATE),
        "mode": aggregate_all, "describe": aggregate_all,
        "count": _reduce(R.aggregation_step("count")), "nunique": _reduce(R.aggregation_step("nunique")),
        "value_counts": _r_value_counts, "explode": _r_explode, "transpose": _r_transpose,
        "unstack": _r_unstack, "squeeze": _r_squeeze, "xs": _r_xs, "between": _r_between,
        "repeat": _r_rows, "update": _r_combine,
    }
    FRAME_RULES.update(shared)
    FRAME_RULES.update({
        "assign": _r_assign, "set_index": _r_set_index, "stack": _r_stack, "melt": _r_melt,
        "pivot": _r_pivot, "pivot_table": _r_pivot, "corr": _r_corr, "cov": _r_corr, "eval": _r_eval,
        "query": _r_query, "applymap": transform_all, "select_dtypes": _keep,
    })
    SERIES_RULES.update(shared)
    SERIES_RULES.update({"map": _r_series_map, "to_frame": _r_to_frame})


def _fast_recorder(owner: Any, attribute: str, label: str, original: Any,
                   recorder: Callable[[HookedCall, Any], None]) -> FastRecorder | None:
    """The fast path for the hottest methods, or None (they keep the ordinary wrapper)."""
    rule = getattr(recorder, "deferrable_rule", None)
    if rule is not None and owner is _DF:
        return _deferring_method(label, original, rule, getattr(recorder, "logged", True))
    if owner is _DF and attribute == "__getitem__":
        return _compiled("frame_getitem", label, _fast_frame_getitem)
    if owner is _DF and attribute == "assign":
        return _fast_assign
    if owner is _DF and attribute == "merge":
        return _fast_merge(label, original)
    if owner is _S and recorder is _rec_binary:
        return _fast_series_binary(label)
    return None


# Rules that read nothing of the frames but column labels and plain arguments (see `_op`): evaluated lazily.
DEFERRABLE = frozenset({
    "head", "tail", "first", "last", "copy", "nlargest", "nsmallest", "dropna", "fillna", "ffill", "bfill",
    "backfill", "pad", "interpolate", "drop_duplicates", "drop", "round", "abs", "astype", "convert_dtypes",
    "infer_objects", "isna", "isnull", "notna", "notnull", "rename", "set_axis", "add_prefix", "add_suffix",
    "rename_axis", "filter", "droplevel", "reorder_levels", "swaplevel", "select_dtypes", "sort_values", "query",
    "applymap",
})


# Methods that must stay unwrapped: `pipe` (user code inside is recorded as ordinary operations), iteration
# and conversions that return no frame, and everything other instrumentors own (`to_*` writers).
_GENERIC_SKIP = frozenset({
    "pipe", "get", "items", "iteritems", "iterrows", "itertuples", "keys", "equals", "info", "memory_usage",
    "first_valid_index", "last_valid_index", "bool", "item", "tolist", "to_list", "plot", "hist", "boxplot",
    "style", "sparse", "groupby", "rolling", "expanding", "ewm", "resample", "merge", "join", "insert", "pop",
    "to_numpy", "from_dict", "from_records", "unique", "searchsorted", "view", "ravel", "factorize", "argsort",
    "argmax", "argmin", "nbytes", "dot",
})
_BINARY = (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
    "__floordiv__", "__rfloordiv__", "__mod__", "__rmod__", "__pow__", "__rpow__", "__and__", "__rand__",
    "__or__", "__ror__", "__xor__", "__rxor__", "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__",
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "truediv", "floordiv", "mod", "pow", "radd",
    "rsub", "rmul", "rdiv", "rtruediv", "rfloordiv", "rmod", "rpow", "eq", "ne", "lt", "le", "gt", "ge",
)
_UNARY = ("__neg__", "__pos__", "__abs__", "__invert__")


@functools.lru_cache(maxsize=4096)
def _param_positions(func: Any, method: bool) -> dict[str, int]:
    """Positions of a callable's parameters in `call.args` (computed once per function, never per call)."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return {}
    out = {p.name: i for i, p in enumerate(params) if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)}
    if method and params and params[0].name not in ("self", "cls"):
        return {name: pos + 1 for name, pos in out.items()}  # a wrapped method whose signature hides self
    return out


class _PyHookedMethod:
    """The class attribute standing for a hooked method (pure-Python fallback of `_speedups.HookedMethod`).

    Called from user code while tracking is on, it is the recording wrapper. Reached from inside pandas (the
    per-thread guard is up), it is the plain original, so pandas' internal calls add no stack frame and no
    cost beyond this lookup. That also keeps pandas' warnings pointing at the user's line (`find_stack_level`
    walks pandas' own frames)."""

    __slots__ = ("bind_original", "chained", "is_active", "original", "wrapper")

    def __init__(self, original: Any, wrapper: Any, is_active: TrackingSwitch, chained: str | None = None
                 ) -> None:
        self.original = original
        self.bind_original = original.__get__
        self.wrapper = wrapper
        self.is_active = is_active
        # For mutators pandas checks for chained assignment ("setitem", "update", "inplace"), see _chained_call.
        self.chained = chained

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if _guard.depth or not self.is_active.on:
            return self.bind_original(obj, objtype)
        if self.chained is not None and obj is not None and sys.getrefcount(obj) <= _TEMPORARY_REFS:
            return functools.partial(_chained_call, self, obj)
        return self.wrapper.__get__(obj, objtype)


def _chained_call(hooked: _HookedMethod, obj: Any, *args: Any, **kwargs: Any) -> Any:
    """A mutator called on a temporary (`df["a"][m] = 0`, `df["a"].fillna(0, inplace=True)`).

    pandas warns ChainedAssignmentError by counting references to the receiver, and our wrapper holds one
    more, so pandas' own check cannot fire: it is made here, with pandas' own helpers and message, from the
    same frame position pandas uses (the user's frame is two frames up). Then the call is recorded as usual."""
    checks = _chained_checks()
    kind = hooked.chained or "inplace"
    if checks is not None and (kind != "inplace" or kwargs.get("inplace") is True):
        common, messages, error = checks
        if not common.is_local_in_caller_frame(obj) and (
                kind != "setitem" or common.is_setitem_syntax_in_caller_frame()):
            warnings.warn(messages[kind], error, stacklevel=2)
    return hooked.wrapper(obj, *args, **kwargs)


_chained_call = _hidden_from_warnings(_chained_call)  # between the user's frame and the wrapper


@functools.lru_cache(maxsize=1)
def _chained_checks() -> tuple[Any, dict[str, str], type[Warning]] | None:
    """pandas' chained-assignment helpers (pandas >= 3); None where pandas detects it differently."""
    try:
        from pandas.compat import _constants
        from pandas.core import common
        from pandas.errors import ChainedAssignmentError, cow
    except ImportError:
        return None
    if getattr(_constants, "CHAINED_WARNING_DISABLED", True) or not hasattr(common, "is_local_in_caller_frame") \
            or not hasattr(common, "is_setitem_syntax_in_caller_frame"):
        return None
    messages = {"setitem": cow._chained_assignment_msg, "update": cow._chained_assignment_method_update_msg,
                "inplace": cow._chained_assignment_method_msg}
    return common, messages, ChainedAssignmentError


class _PyRefcountProbe:
    """What `_PyHookedMethod.__get__` sees as a receiver's reference count (`_speedups.RefcountProbe` measures
    the compiled descriptor's)."""

    def __init__(self, seen: list[int], returned: Any) -> None:
        self.seen, self.returned = seen, returned

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is not None:
            self.seen.append(sys.getrefcount(obj))
        return self.returned


def _temporary_refcount(probe: Any) -> int:
    """The reference count the hooked-method descriptor sees for a temporary receiver on this Python (0 when it
    cannot be told from a named one), measured once with a `probe` descriptor in the same places."""
    seen: list[int] = []

    def ignore(*args: Any) -> None:
        return None

    class Owner:
        __setitem__ = probe(seen, ignore)
        update = probe(seen, ignore)

    def measure() -> None:
        Owner()[0] = 1
        named = Owner()
        named[0] = 1
        Owner().update(1)
        named.update(1)

    measure()
    temporary_set, named_set, temporary_call, named_call = seen
    if temporary_set == temporary_call and temporary_set < min(named_set, named_call):
        return temporary_set
    return 0


if TYPE_CHECKING or speedups is None:
    _HookedMethod = _PyHookedMethod
    _TEMPORARY_REFS = _temporary_refcount(_PyRefcountProbe)
else:
    _HookedMethod = speedups.HookedMethod
    _TEMPORARY_REFS = _temporary_refcount(speedups.RefcountProbe)
    # a mutator reached from a temporary: (hooked, obj) -> partial(_chained_call, hooked, obj), as the fallback does
    speedups.configure_chained(functools.partial(functools.partial, _chained_call), _TEMPORARY_REFS)
# Mutators pandas checks for chained assignment by counting references.
_CHAINED_MUTATORS = {
    "__setitem__": "setitem", "update": "update", **dict.fromkeys(
        ("fillna", "ffill", "bfill", "replace", "interpolate", "clip", "where", "mask"), "inplace"),
}


class _HookedProperty:
    """A hooked property (`values`, `T`, `cat.codes`): the original getter from inside pandas, the recording
    wrapper from user code; setting and deleting go to the original property."""

    __slots__ = ("is_active", "prop", "wrapper")

    def __init__(self, prop: property, wrapper: Any, is_active: TrackingSwitch) -> None:
        self.prop = prop
        self.wrapper = wrapper
        self.is_active = is_active

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self.prop
        if _guard.depth or not self.is_active.on:
            return self.prop.fget(obj)  # type: ignore[misc]
        return self.wrapper(obj)

    def __set__(self, obj: Any, value: Any) -> None:
        self.prop.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.prop.__delete__(obj)


# The property's __get__ is on the stack while the getter runs: hide it from warnings like the wrappers.
_HookedProperty.__get__ = _hidden_from_warnings(_HookedProperty.__get__)  # type: ignore[method-assign]


class PandasOpsInstrumentor(Instrumentor):
    """Column lineage through in-memory pandas operations (selection, cleaning, reshaping, grouping, ...)."""

    name = "pandas-ops"
    module = "pandas"

    def _instrument(self) -> None:
        import numpy as np
        import pandas as pd

        _bind_pandas(pd, np)
        if not FRAME_RULES:
            _build_tables()
        self._instrument_frames(pd)
        self._instrument_indexers()
        self._instrument_groupby()
        self._instrument_windows()
        self._instrument_accessors()
        self._instrument_module(pd)

    # ------------------------------------------------------------------ helpers
    def _hook(self, owner: Any, attribute: str, recorder: Callable[[HookedCall, Any], None], label: str) -> None:
        """Hook `owner.attribute`. Methods of classes get a `_HookedMethod` descriptor; module functions and
        static/class methods the base class's wrapper. Properties go through `_hook_property`."""
        raw = inspect.getattr_static(owner, attribute, _MISSING)
        if raw is _MISSING or isinstance(raw, (property, _HookedMethod, _HookedProperty)):
            return
        current = getattr(owner, attribute)
        if getattr(current, "__openlineage_pandas_original__", None) is not None:
            return  # wrapped by another instrumentor (or inherited from a class we hooked)
        if not callable(raw) and not isinstance(raw, (staticmethod, classmethod)):
            return  # e.g. a cached accessor or another descriptor: never replace it with a function
        func = raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else current
        _PARAM_SOURCES[label] = (func, isinstance(owner, type) and not isinstance(raw, staticmethod))
        if isinstance(owner, type) and not isinstance(raw, (staticmethod, classmethod)):
            fast = _fast_recorder(owner, attribute, label, current, recorder)
            if fast is not None:
                wrapper = _hidden_from_warnings(make_wrapper(label, current, recorder, self._is_active, method=True,
                                                             fast=fast))
            else:
                wrapper = _hidden_from_warnings(make_wrapper(label, current, recorder, self._is_active, method=True))
            chained = _CHAINED_MUTATORS.get(attribute) if _TEMPORARY_REFS and owner in _FRAMES else None
            hooked = _HookedMethod(current, wrapper, self._is_active, chained)
            found = owner.__dict__.get(attribute, _MISSING)
            setattr(owner, attribute, hooked)
            self._patches.append(_Patch(owner, attribute, found, hooked))
            return
        before = len(self._patches)
        self.patch(owner, attribute, recorder, label)
        if len(self._patches) == before:
            return
        patch = self._patches[-1]
        replacement = patch.replacement
        if isinstance(replacement, (staticmethod, classmethod)):
            hidden: Any = type(replacement)(_hidden_from_warnings(replacement.__func__))
        else:
            hidden = _hidden_from_warnings(replacement)
        setattr(owner, attribute, hidden)
        patch.replacement = hidden

    def _hook_property(self, owner: type, attribute: str, recorder: Callable[[HookedCall, Any], None],
                       label: str) -> None:
        """Hook a property's getter; uninstrument() restores the original property object."""
        found = owner.__dict__.get(attribute, _MISSING)
        prop = inspect.getattr_static(owner, attribute, None)
        if not isinstance(prop, property) or prop.fget is None:
            return
        getter = _hidden_from_warnings(make_wrapper(label, prop.fget, recorder, self._is_active, method=True))
        replacement = _HookedProperty(prop, getter, self._is_active)
        setattr(owner, attribute, replacement)
        self._patches.append(_Patch(owner, attribute, found, replacement))

    def _hook_materializing(self, owner: Any, attribute: str, recorder: Callable[[HookedCall, Any], None],
                            label: str, first: str, fast: FastRecorder | None = None) -> None:
        """Like _hook, but a one-shot iterator given as the first argument is turned into a list first, so
        the recorder sees the same objects pandas consumed (pandas makes that list itself anyway)."""
        current: Any = getattr(owner, attribute, _MISSING)
        if current is _MISSING or getattr(current, "__openlineage_pandas_original__", None) is not None:
            return
        found = owner.__dict__.get(attribute, _MISSING)
        _PARAM_SOURCES[label] = (current, False)
        replacement = _hidden_from_warnings(make_wrapper(label, current, recorder, self._is_active, fast=fast,
                                                         materialize=first))
        setattr(owner, attribute, replacement)
        self._patches.append(_Patch(owner, attribute, found, replacement))

    # ------------------------------------------------------------------ families
    def _instrument_frames(self, pd: Any) -> None:
        for cls, rules in ((pd.DataFrame, FRAME_RULES), (pd.Series, SERIES_RULES)):
            owner = cls.__name__
            receiver_optional = {"assign", "combine", "combine_first", "update", "melt", "pivot", "pivot_table"}
            for name, rule in rules.items():
                if hasattr(cls, name):
                    self._hook(cls, name, _op(rule, receiver_optional=name in receiver_optional,
                                              always_inplace=name == "update", deferrable=name in DEFERRABLE),
                               f"{owner}.{name}")
            for name in _BINARY:
                if hasattr(cls, name):
                    self._hook(cls, name, _rec_binary, f"{owner}.{name}")
            for name in _UNARY:
                self._hook(cls, name, _rec_unary, f"{owner}.{name}")
            self._hook(cls, "__array_ufunc__", _rec_array_ufunc, f"{owner}.__array_ufunc__")
            self._hook(cls, "__array__", _rec_to_array, f"{owner}.__array__")
            self._hook(cls, "to_numpy", _rec_to_array, f"{owner}.to_numpy")
            self._hook_property(cls, "values", _rec_to_array, f"{owner}.values")
            for name in ("groupby",):
                self._hook(cls, name, _rec_groupby, f"{owner}.{name}")
            for name in ("rolling", "expanding", "ewm"):
                self._hook(cls, name, _rec_window, f"{owner}.{name}")
            self._hook(cls, "resample", _rec_resample, f"{owner}.resample")
        frame, series = pd.DataFrame, pd.Series
        self._hook(frame, "__getitem__", _rec_frame_getitem, "DataFrame.__getitem__")
        self._hook(series, "__getitem__", _rec_series_getitem, "Series.__getitem__")
        self._hook(frame, "__setitem__", _rec_frame_setitem, "DataFrame.__setitem__")
        self._hook(series, "__setitem__", _rec_series_setitem, "Series.__setitem__")
        self._hook(frame, "__delitem__", _rec_delitem, "DataFrame.__delitem__")
        self._hook(frame, "insert", _rec_insert, "DataFrame.insert")
        self._hook(frame, "pop", _rec_pop, "DataFrame.pop")
        self._hook(frame, "merge", _merger("merge"), "DataFrame.merge")
        self._hook(frame, "join", _rec_join, "DataFrame.join")
        self._hook(frame, "__init__", _rec_frame_init, "DataFrame.__init__")
        self._hook(series, "__init__", _rec_series_init, "Series.__init__")
        self._hook(series, "unique", _rec_unique, "Series.unique")
        self._hook(frame, "from_dict", _rec_from_dict, "DataFrame.from_dict")
        self._hook_property(frame, "T", _op(_r_transpose), "DataFrame.T")
        for cls, rules in ((frame, FRAME_RULES), (series, SERIES_RULES)):
            for name in _public_methods(cls):
                if name not in rules and name not in _GENERIC_SKIP and not name.startswith("to_"):
                    self._hook(cls, name, _generic, f"{cls.__name__}.{name}")

    def _instrument_indexers(self) -> None:
        from pandas.core import indexing

        for cls, kind in ((indexing._LocIndexer, "loc"), (indexing._iLocIndexer, "iloc")):
            self._hook(cls, "__getitem__", _rec_indexer_getitem, f"DataFrame.{kind}.__getitem__")
            self._hook(cls, "__setitem__", _rec_indexer_setitem, f"DataFrame.{kind}.__setitem__")

    def _instrument_groupby(self) -> None:
        from pandas.core.groupby import generic, groupby

        global _SERIES_GROUPBY
        _SERIES_GROUPBY = generic.SeriesGroupBy
        names = (_GROUP_REDUCE | _GROUP_MASKED | _GROUP_WINDOW_AGG | _GROUP_WINDOW_TRANSFORM | _GROUP_ROWS
                 | {"size", "cumcount", "ngroup", "agg", "aggregate", "transform", "filter", "apply",
                    "value_counts", "rolling", "expanding", "ewm", "resample"})
        for cls in (generic.DataFrameGroupBy, generic.SeriesGroupBy, groupby.GroupBy, groupby.BaseGroupBy):
            for name in sorted(names):
                if name in cls.__dict__:
                    self._hook(cls, name, _rec_group_method, f"{cls.__name__}.{name}")
        self._hook(generic.DataFrameGroupBy, "__getitem__", _rec_group_getitem, "DataFrameGroupBy.__getitem__")
        try:
            from pandas.core import resample
        except ImportError:  # pragma: no cover - pandas always has it
            return
        resamplers = [c for c in vars(resample).values() if isinstance(c, type) and issubclass(c, resample.Resampler)]
        for cls in resamplers:
            for name in sorted(names | {"ffill", "bfill", "nearest", "asfreq", "interpolate"}):
                if name in cls.__dict__:
                    self._hook(cls, name, _rec_group_method, f"resample.{name}")
            self._hook(cls, "__getitem__", _rec_window_getitem, f"{cls.__name__}.__getitem__")

    def _instrument_windows(self) -> None:
        from pandas.core.window import ewm, expanding, rolling

        names = {"count", "sum", "mean", "median", "min", "max", "std", "var", "skew", "kurt", "sem",
                 "quantile", "first", "last", "rank", "nunique", "apply", "agg", "aggregate", "cov", "corr"}
        classes = [c for module in (rolling, expanding, ewm) for c in vars(module).values()
                   if isinstance(c, type) and issubclass(c, rolling.BaseWindow)]
        for cls in classes:
            for name in sorted(names):
                if name in cls.__dict__:
                    self._hook(cls, name, _rec_window_method, f"{cls.__name__}.{name}")
        for cls in classes:
            self._hook(cls, "__getitem__", _rec_window_getitem, f"{cls.__name__}.__getitem__")

    def _instrument_accessors(self) -> None:
        from pandas.core.indexes import accessors
        from pandas.core.strings.accessor import StringMethods

        try:
            from pandas.core.arrays.categorical import CategoricalAccessor
        except ImportError:  # pragma: no cover
            CategoricalAccessor = None
        for name, value in list(vars(StringMethods).items()):
            if not name.startswith("_") and inspect.isfunction(value):
                self._hook(StringMethods, name, _rec_accessor, f"Series.str.{name}")
        props = [c for c in vars(accessors).values() if isinstance(c, type) and issubclass(c, accessors.Properties)]
        arrow = getattr(accessors, "ArrowTemporalProperties", None)
        if arrow is not None:
            props.append(arrow)
        for cls in props:
            for name, value in list(vars(cls).items()):
                if (not name.startswith("_") and inspect.isfunction(value)) or name in (
                        "_delegate_property_get", "_delegate_method"):
                    self._hook(cls, name, _rec_accessor, f"Series.dt.{name}")
        if CategoricalAccessor is not None:
            self._hook(CategoricalAccessor, "__init__", _rec_categorical_accessor_init, "Series.cat")
            for name, value in list(vars(CategoricalAccessor).items()):
                if (not name.startswith("_") and inspect.isfunction(value)) or name in (
                        "_delegate_property_get", "_delegate_method"):
                    self._hook(CategoricalAccessor, name, _rec_accessor, f"Series.cat.{name}")
            self._hook_property(CategoricalAccessor, "codes", _rec_accessor, "Series.cat.codes")

    def _instrument_module(self, pd: Any) -> None:
        self._hook_materializing(pd, "concat", _rec_concat, "pandas.concat", "objs",
                                 fast=_compiled("concat_rows", "pandas.concat", _fast_concat))
        self._hook(pd, "merge", _merger("merge", method=False), "pandas.merge")
        self._hook(pd, "merge_asof", _merger("merge_asof", ("by",), method=False), "pandas.merge_asof")
        self._hook(pd, "merge_ordered", _merger("merge_ordered", method=False), "pandas.merge_ordered")
        self._hook(pd, "melt", _module_frame_rule(_r_melt, "frame"), "pandas.melt")
        self._hook(pd, "pivot", _module_frame_rule(_r_pivot, "data"), "pandas.pivot")
        self._hook(pd, "pivot_table", _module_frame_rule(_r_pivot, "data"), "pandas.pivot_table")
        self._hook(pd, "get_dummies", _rec_get_dummies, "pandas.get_dummies")
        self._hook(pd, "crosstab", _rec_crosstab, "pandas.crosstab")
        for name in ("to_datetime", "to_numeric", "to_timedelta", "cut", "qcut"):
            self._hook(pd, name, _rec_values_function(R.TRANSFORM), f"pandas.{name}")
        for name in ("isna", "isnull", "notna", "notnull"):
            self._hook(pd, name, _rec_values_function(R.TRANSFORM), f"pandas.{name}")
        self._hook(pd, "unique", _rec_values_function(R.AGGREGATE), "pandas.unique")
        for name in ("wide_to_long", "lreshape", "from_dummies"):
            self._hook(pd, name, _rec_module_generic, f"pandas.{name}")


def _public_methods(cls: type) -> list[str]:
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        raw = inspect.getattr_static(cls, name, None)
        if inspect.isfunction(raw):
            names.append(name)
    return names


def _bind_pandas(pd: Any, np: Any) -> None:
    global _DF, _S, _NDARRAY, _FRAMES, _GROUPER, _DTYPES
    _DF, _S, _NDARRAY = pd.DataFrame, pd.Series, np.ndarray
    _FRAMES = (pd.DataFrame, pd.Series)
    _GROUPER = pd.Grouper
    _DTYPES = (np.dtype, np.generic, pd.api.extensions.ExtensionDtype)
    lineage_table.attribute_types = frozenset({pd.DataFrame, pd.Series})
    if speedups is not None:
        speedups.configure_pandas({
            "DataFrame": pd.DataFrame, "Series": pd.Series, "ATTRIBUTE": ATTRIBUTE, "lineage_table": lineage_table,
            "Deferred": Deferred, "MAX_DEPTH": MAX_DEPTH, "run_plain_rule": _run_plain_rule,
            "log": _log_entry, "column": R.column, "keep_columns": _keep_columns,
            "filter_by_mask": _filter_by_mask, "series_elementwise": _series_elementwise, "concat_rows": _concat_rows,
            "per_label_entries": _per_label.entries, "deferred_globals": vars(deferred),
            "scoped_run": run_module._scoped_run, "run_globals": vars(run_module),
            "tracked_entry": _tracked_entry_spec})


__all__ = ["FRAME_RULES", "SERIES_RULES", "PandasOpsInstrumentor", "aligned_lineage",
           "lineage_for"]
