"""Hooks on scikit-learn: fit/predict/transform of every estimator class, `train_test_split`, and model files.

Each method is wrapped on the class that defines it once that class is complete (see docs/operations-ml-sql.md).
"""

from __future__ import annotations

import copy
import functools
import inspect
import sys
import threading
import types
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from openlineage_pandas.hooks import _lazy
from openlineage_pandas.hooks._io import name_matched_lineage, shape2
from openlineage_pandas.hooks._patching import HookedCall, Instrumentor, make_wrapper
from openlineage_pandas.hooks.numpy_ops import array_lineage, register_array
from openlineage_pandas.hooks.pickle_io import OBJECT_DESCRIBERS
from openlineage_pandas.provenance import rules_ml as R
from openlineage_pandas.provenance.model import EMPTY_ORIGINS, FrameLineage, field_name, over_approximate
from openlineage_pandas.provenance.registry import WeakSideTable, lineage_table
from openlineage_pandas.run import FacetSpec, OperationEntry, current_run
from openlineage_pandas.safety import report_failure

FIT_METHODS = ("fit", "partial_fit")
TRANSFORM_METHODS = ("transform", "fit_transform")
PREDICT_METHODS = ("predict", "fit_predict", "predict_proba", "predict_log_proba", "decision_function")
METHODS = (*FIT_METHODS, *TRANSFORM_METHODS, *PREDICT_METHODS, "inverse_transform")
MODEL_FACET_KEY = "pandas_model"

# Fitted estimator -> what it learned from. Weak: a collected estimator leaves nothing behind.
estimator_table: WeakSideTable[R.EstimatorLineage] = WeakSideTable()

_MISSING = object()


# ---------------------------------------------------------------------------------------------- inputs
@dataclass(slots=True)
class _Input:
    """An X or y argument as lineage sees it: ordered column labels and, when known, their origins."""

    lineage: FrameLineage | None
    labels: list[Hashable]
    obj: Any

    @property
    def dtypes(self) -> list[tuple[Hashable, Any]]:
        # computed on demand: DataFrame.dtypes builds a Series, and only targets and fallbacks need it
        dtypes = getattr(self.obj, "dtypes", None)
        if dtypes is not None and hasattr(dtypes, "__len__") and len(dtypes) == len(self.labels):
            return list(zip(self.labels, dtypes, strict=False))
        dtype = getattr(self.obj, "dtype", "float64")
        return [(label, dtype) for label in self.labels]

    def frame(self) -> FrameLineage:
        """Lineage with exactly `labels` as columns (positional when the array's labels differ)."""
        if self.lineage is None:
            return FrameLineage({label: {} for label in self.labels})
        inputs, misaligned = R.positional_inputs(self.lineage, [field_name(lb) for lb in self.labels])
        columns = {label: dict(inputs.get(field_name(label), EMPTY_ORIGINS)) for label in self.labels}
        lin = FrameLineage(columns, dict(self.lineage.dataset), self.lineage.notes)
        return lin.with_note("over-approximated: estimator input columns did not line up") if misaligned else lin


def _describe_input(obj: Any, default_prefix: str) -> _Input | None:
    if obj is None:
        return None
    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    lin = array_lineage(obj)
    shape = tuple(getattr(obj, "shape", ()) or ())
    if pd is not None and isinstance(obj, pd.DataFrame):
        labels = list(obj.columns)
        if lin is None:  # no in-memory provenance: fall back to same-named input columns, and say so
            lin = name_matched_lineage([(label, None) for label in labels])
        return _Input(lin, labels, obj)
    if pd is not None and isinstance(obj, pd.Series):
        label = obj.name if obj.name is not None else default_prefix
        if lin is None:
            lin = name_matched_lineage([(label, None)])
        return _Input(lin, [label], obj)
    if np is not None and isinstance(obj, np.ndarray):
        width = shape[1] if len(shape) == 2 else 1
        if lin is not None and len(lin.columns) == width and len(shape) <= 2:
            labels = list(lin.columns)
        elif len(shape) == 2:
            labels = [f"{default_prefix}{i}" for i in range(width)]
        else:
            labels = [default_prefix if default_prefix == "y" else f"{default_prefix}0"]
        return _Input(lin, labels, obj)
    lin = lineage_table.get(obj)  # sparse matrices and other array-likes tracked by us
    if lin is not None:
        return _Input(lin, list(lin.columns), None)
    return None


def _feature_names(est: Any, given: _Input | None) -> list[str]:
    """The names sklearn itself uses for the estimator's inputs: `feature_names_in_` when it was fitted on a
    DataFrame, else our labels (array columns keep their source names through to_numpy)."""
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        return [str(n) for n in names]
    if given is not None:
        labels = [field_name(label) for label in given.labels]
        if len(set(labels)) == len(labels):
            return labels
        return [f"x{i}" for i in range(len(labels))]
    est_lin = estimator_table.get(est)
    return est_lin.feature_names if est_lin is not None else []


# ---------------------------------------------------------------------------------------------- column maps
def column_map(est: Any, input_names: Sequence[str]) -> tuple[list[str], R.ColumnMap, list[str]] | None:
    """(output names, output -> inputs map, notes) for a fitted transformer, Pipeline or ColumnTransformer;
    None when the estimator cannot name its outputs (then the caller over-approximates)."""
    if hasattr(est, "transformers_") and hasattr(est, "output_indices_"):
        return _column_transformer_map(est, input_names)
    if hasattr(est, "steps") and isinstance(getattr(est, "steps", None), list):
        return _pipeline_map(est, input_names)
    if hasattr(est, "transformer_list") and isinstance(getattr(est, "transformer_list", None), list):
        return _feature_union_map(est, input_names)
    names_in = getattr(est, "feature_names_in_", None)
    inputs = [str(n) for n in names_in] if names_in is not None else [str(n) for n in input_names]
    if type(est).__name__ == "FunctionTransformer" and getattr(est, "func", True) is None:
        return inputs, R.identity_column_map(inputs), []  # no function: values pass through (remainder too)
    getter = getattr(est, "get_feature_names_out", None)
    if getter is None:
        return None
    try:
        outputs = [str(n) for n in (getter() if names_in is not None else getter(inputs))]
    except Exception:  # not fitted, or no name mapping for this estimator
        return None
    if hasattr(est, "get_support"):  # feature selectors keep values unchanged
        return outputs, R.identity_column_map(outputs), []
    colmap, unmatched = R.infer_column_map(inputs, outputs)
    notes = [f"{type(est).__name__}: outputs {unmatched[:5]} computed from all inputs"] if unmatched else []
    return outputs, colmap, notes


def _pipeline_map(pipe: Any, input_names: Sequence[str]) -> tuple[list[str], R.ColumnMap, list[str]] | None:
    names_in = getattr(pipe, "feature_names_in_", None)
    names = [str(n) for n in names_in] if names_in is not None else [str(n) for n in input_names]
    colmap = R.identity_column_map(names)
    notes: list[str] = []
    steps = [s for _, s in pipe.steps if s is not None and s != "passthrough"]
    for i, step in enumerate(steps):
        if i == len(steps) - 1 and not hasattr(step, "transform"):
            break  # the final predictor: its outputs are predictions, not mapped features
        mapped = column_map(step, names)
        if mapped is None:
            return None
        names, step_map, step_notes = mapped
        colmap = R.compose_column_maps(colmap, step_map)
        notes.extend(step_notes)
    return names, colmap, notes


def _rename(mapped: tuple[list[str], R.ColumnMap, list[str]], new_names: Sequence[str]) -> R.ColumnMap:
    outputs, colmap, _ = mapped
    return {new: colmap[old] for old, new in zip(outputs, new_names, strict=True)}


def _column_transformer_map(ct: Any, input_names: Sequence[str]
                            ) -> tuple[list[str], R.ColumnMap, list[str]] | None:
    names_in = getattr(ct, "feature_names_in_", None)
    inputs = [str(n) for n in names_in] if names_in is not None else [str(n) for n in input_names]
    try:
        outputs = [str(n) for n in (ct.get_feature_names_out() if names_in is not None
                                    else ct.get_feature_names_out(inputs))]
    except Exception:
        return None
    indices = getattr(ct, "_transformer_to_input_indices", None) or {}
    colmap: R.ColumnMap = {}
    notes: list[str] = []
    for name, trans, columns in ct.transformers_:
        if isinstance(trans, str) and trans == "drop":
            continue
        positions = indices.get(name)
        sub_in = [inputs[i] for i in positions] if positions is not None else _resolve_columns(columns, inputs)
        out_slice = ct.output_indices_.get(name)
        sub_out = outputs[out_slice] if out_slice is not None else []
        if not sub_out:
            continue
        if isinstance(trans, str) and trans == "passthrough":
            colmap.update(R.identity_column_map(sub_in, sub_out))
            continue
        mapped = column_map(trans, sub_in)
        if mapped is None or len(mapped[0]) != len(sub_out):
            colmap.update(R.mixed_column_map(sub_in, sub_out))
            notes.append(f"ColumnTransformer step {name!r}: outputs computed from all its inputs")
            continue
        colmap.update(_rename(mapped, sub_out))
        notes.extend(mapped[2])
    return outputs, {o: colmap.get(o, {}) for o in outputs}, notes


def _feature_union_map(union: Any, input_names: Sequence[str]) -> tuple[list[str], R.ColumnMap, list[str]] | None:
    try:
        outputs = [str(n) for n in union.get_feature_names_out(list(input_names))]
    except Exception:
        return None
    colmap: R.ColumnMap = {}
    notes: list[str] = []
    position = 0
    for _name, trans in union.transformer_list:
        if trans is None or (isinstance(trans, str) and trans == "drop"):
            continue
        if isinstance(trans, str):  # "passthrough"
            mapped: tuple[list[str], R.ColumnMap, list[str]] | None = (
                list(input_names), R.identity_column_map(input_names), [])
        else:
            mapped = column_map(trans, input_names)
        if mapped is None:
            return None
        width = len(mapped[0])
        colmap.update(_rename(mapped, outputs[position:position + width]))
        notes.extend(mapped[2])
        position += width
    return (outputs, colmap, notes) if position == len(outputs) else None


def _resolve_columns(spec: Any, inputs: list[str]) -> list[str]:
    """A ColumnTransformer column selection (names, positions or a boolean mask) as input names."""
    if isinstance(spec, (str, int)):
        spec = [spec]
    if isinstance(spec, slice):
        return inputs[spec]
    try:
        items = list(spec)
    except TypeError:
        return list(inputs)
    if items and all(isinstance(i, bool) for i in items):
        return [n for n, keep in zip(inputs, items, strict=False) if keep]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, int) and -len(inputs) <= item < len(inputs):
            out.append(inputs[item])
    return out


# ---------------------------------------------------------------------------------------------- recording
def _class_name(est: Any) -> str:
    return type(est).__name__


def _log(operation: str, before: Any, after: Any, lineage: FrameLineage | None,
         inherited: tuple[str, ...] = ()) -> None:
    run = current_run()
    if run is None:
        return
    fresh = [n for n in (lineage.notes if lineage is not None else ()) if n not in inherited]
    run.record_operation(OperationEntry(operation, shape2(before), shape2(after), None, [], [],
                                        approximated=bool(fresh)))


def _record_fit(est: Any, x_in: _Input | None, y: Any, partial: bool) -> R.EstimatorLineage:
    y_in = _describe_input(y, "y")
    features = x_in.frame() if x_in is not None else FrameLineage()
    target = y_in.frame() if y_in is not None else None
    previous = estimator_table.get(est) if partial else None
    est_lin = R.fit_lineage(f"{type(est).__module__}.{type(est).__qualname__}", features, target,
                            y_in.dtypes if y_in is not None else None, previous)
    estimator_table.set(est, est_lin)
    return est_lin


def _notes_of(x_in: _Input | None) -> tuple[str, ...]:
    return x_in.lineage.notes if x_in is not None and x_in.lineage is not None else ()


def _fit_recorder(func: Any, partial: bool) -> Callable[[HookedCall, Any], None]:
    def record(call: HookedCall, result: Any) -> None:
        est = call.receiver
        x_in = _describe_input(call.target, "x")
        est_lin = _record_fit(est, x_in, _y_argument(call, func), partial)
        _log(f"sklearn.{_class_name(est)}.{call.name.rsplit('.', 1)[-1]}", call.target, None, est_lin.features,
             _notes_of(x_in))

    return record


def _set_lineage(result: Any, lineage: FrameLineage) -> None:
    for part in result if isinstance(result, list) else [result]:  # multi-output predict_proba: a list
        register_array(part, lineage)


def _result_width(result: Any) -> int:
    shape = getattr(result, "shape", ())
    return int(shape[1]) if isinstance(shape, tuple) and len(shape) == 2 else 1


def _transform_recorder(method: str, func: Any) -> Callable[[HookedCall, Any], None]:
    def record(call: HookedCall, result: Any) -> None:
        est = call.receiver
        X = call.target
        x_in = _describe_input(X, "x")
        if method == "fit_transform":
            _record_fit(est, x_in, _y_argument(call, func), partial=False)
        if result is X or result is None:
            return
        operation = f"sklearn.{_class_name(est)}.{method}"
        lineage = transform_lineage(est, x_in, result, operation)
        if lineage is None:
            return
        _set_lineage(result, lineage)
        _log(operation, X, result, lineage, _notes_of(x_in))

    return record


def transform_lineage(est: Any, x_in: _Input | None, result: Any, operation: str) -> FrameLineage | None:
    """Output lineage of `transform`: per column where the transformer names its outputs, else all inputs."""
    est_lin = estimator_table.get(est)
    names = _feature_names(est, x_in)
    width = _result_width(result)
    mapped = column_map(est, names) if names else None
    x_lin = x_in.lineage if x_in is not None else None
    if mapped is None or len(mapped[0]) != width:
        sources = [lin for lin in (x_lin, est_lin.features if est_lin else None) if lin is not None]
        if not sources:
            return None
        pd = sys.modules.get("pandas")
        labels = list(result.columns) if pd is not None and isinstance(result, pd.DataFrame) \
            else (list(range(width)) if width > 1 or len(getattr(result, "shape", ())) == 2 else ["value"])
        return over_approximate(sources, labels, operation)
    outputs, colmap, notes = mapped
    inputs, misaligned = R.positional_inputs(x_lin, names)
    if misaligned:
        notes = [*notes, f"over-approximated: {operation} input columns did not line up"]
    pd = sys.modules.get("pandas")
    labels = list(result.columns) if pd is not None and isinstance(result, pd.DataFrame) else outputs
    base_notes = list(x_lin.notes) if x_lin is not None else []
    return R.apply_column_map(colmap, inputs, x_lin.dataset if x_lin is not None else EMPTY_ORIGINS,
                              [*base_notes, *notes], est_lin, labels)


def _inverse_recorder(call: HookedCall, result: Any) -> None:
    est = call.receiver
    X = call.target
    if result is X or result is None:
        return
    est_lin = estimator_table.get(est)
    originals = est_lin.feature_names if est_lin is not None else _feature_names(est, None)
    mapped = column_map(est, originals) if originals else None
    x_in = _describe_input(X, "x")
    x_lin = x_in.lineage if x_in is not None else None
    operation = f"sklearn.{_class_name(est)}.inverse_transform"
    if mapped is None or len(originals) != _result_width(result) or x_lin is None:
        if x_lin is None:
            return
        lineage = over_approximate([x_lin], originals or ["value"], operation)
    else:
        outputs, colmap, notes = mapped
        inputs, _ = R.positional_inputs(x_lin, outputs)
        lineage = R.apply_column_map(R.invert_column_map(colmap), inputs, x_lin.dataset, [*x_lin.notes, *notes],
                                     None, originals)
    _set_lineage(result, lineage)
    _log(operation, X, result, lineage, x_lin.notes)


def _prediction_labels(est: Any, est_lin: R.EstimatorLineage | None, method: str, result: Any) -> list[Hashable]:
    shape = getattr(result, "shape", None)
    width = _result_width(result)
    targets = est_lin.target_names if est_lin is not None else []
    if method in ("predict", "fit_predict"):
        if width == len(targets) and targets:
            return list(targets)
        if isinstance(shape, tuple) and len(shape) == 2:
            return [f"prediction_{i}" for i in range(width)]
        return ["prediction"]
    classes = getattr(est, "classes_", None)
    if isinstance(shape, tuple) and len(shape) == 2:
        if classes is not None and getattr(classes, "ndim", 1) == 1 and len(classes) == width:
            return [f"{method}_{field_name(c.item() if hasattr(c, 'item') else c)}" for c in classes]
        return [f"{method}_{i}" for i in range(width)]
    return [method]


def _predict_recorder(method: str, func: Any) -> Callable[[HookedCall, Any], None]:
    def record(call: HookedCall, result: Any) -> None:
        est = call.receiver
        X = call.target
        x_in = _describe_input(X, "x")
        if method == "fit_predict":
            _record_fit(est, x_in, _y_argument(call, func), partial=False)
        est_lin = estimator_table.get(est)
        if est_lin is None:
            est_lin = _untracked_estimator_lineage(est)
        x_lin = x_in.lineage if x_in is not None else None  # a model mixes all inputs: no alignment needed
        if x_lin is None and est_lin is None:
            return
        operation = f"sklearn.{_class_name(est)}.{method}"
        sample = result[0] if isinstance(result, list) and result else result
        labels = _prediction_labels(est, est_lin, method, sample)
        lineage = R.prediction_lineage(operation, est_lin, x_lin, labels)
        _set_lineage(result, lineage)
        _log(operation, X, sample, lineage, x_lin.notes if x_lin is not None else ())

    return record


def _untracked_estimator_lineage(est: Any) -> R.EstimatorLineage | None:
    """An estimator fitted before tracking (or loaded from a file): link its features by name, saying so."""
    names = getattr(est, "feature_names_in_", None)
    if names is None:
        return None
    matched = name_matched_lineage([(str(n), None) for n in names])
    if matched is None:
        return None
    features = FrameLineage({str(n): dict(matched.columns.get(str(n), {})) for n in names}, {}, matched.notes)
    return R.EstimatorLineage(f"{type(est).__module__}.{type(est).__qualname__}", features)


def _split_recorder(call: HookedCall, result: Any) -> None:
    if not isinstance(result, list) or len(result) != 2 * len(call.args):
        return
    stratify_arg = call.kwargs.get("stratify")
    stratify = _describe_input(stratify_arg, "y") if stratify_arg is not None else None
    stratify_lin = stratify.lineage if stratify is not None else None
    logged = False
    for i, arr in enumerate(call.args):
        lin = array_lineage(arr)
        if lin is None:
            continue
        part_lin = R.split_lineage(lin, stratify_lin)
        for part in result[2 * i:2 * i + 2]:
            register_array(part, part_lin)
        if not logged:
            _log("sklearn.train_test_split", arr, result[2 * i], part_lin, lin.notes)
            logged = True


# ---------------------------------------------------------------------------------------------- model files
def describe_model(obj: Any) -> tuple[FrameLineage | None, list[tuple[Hashable, Any]], dict[str, Any]] | None:
    """For pickle/joblib dumps of a fitted estimator: the model dataset's schema, lineage and model facet.

    Fields are the model's outputs (predictions named after the target; a transformer's output features);
    see `rules_ml.model_dataset_lineage` for the lineage and docs/operations-ml-sql.md for the rationale.
    """
    base = sys.modules.get("sklearn.base")
    if base is None or not isinstance(obj, base.BaseEstimator):
        return None
    est_lin = estimator_table.get(obj) or _untracked_estimator_lineage(obj)
    try:
        params = R.json_safe_params(obj.get_params(deep=True))
    except Exception:  # a third-party estimator with a broken get_params must not stop the dump
        params = {}
    features = est_lin.feature_names if est_lin is not None else \
        [str(n) for n in getattr(obj, "feature_names_in_", [])]
    targets = est_lin.target_names if est_lin is not None else []
    facet = FacetSpec("model", {"modelClass": f"{type(obj).__module__}.{type(obj).__qualname__}",
                                "hyperParameters": params, "featureNames": features, "targetNames": targets})
    facets: dict[str, Any] = {MODEL_FACET_KEY: facet}
    if est_lin is None:
        return None, [], facets
    colmap: R.ColumnMap | None = None
    columns: list[tuple[Hashable, Any]] = []
    if _has(obj, "predict"):
        columns = [(field_name(label), dtype) for label, dtype in est_lin.target_dtypes] or \
            [("prediction", "float64")]
    elif _has(obj, "transform"):
        mapped = column_map(obj, features)
        if mapped is not None:
            colmap = mapped[1]
            columns = [(name, "float64") for name in mapped[0]]
    lineage = R.model_dataset_lineage(est_lin, [field_name(c) for c, _ in columns], colmap)
    return lineage, columns, facets


def _has(obj: Any, method: str) -> bool:
    try:
        return callable(getattr(obj, method, None))
    except Exception:  # available_if checks may raise on odd estimators
        return False


# ---------------------------------------------------------------------------------------------- patching
def _y_argument(call: HookedCall, func: Any) -> Any:
    """The `y` a fit/transform/predict call was given, positionally or by its keyword."""
    name = _param_name(func, 2)
    return call.argument(2, name) if name else None


@functools.lru_cache(maxsize=2048)
def _param_name(func: Any, position: int) -> str | None:
    """A positional parameter's name: `inspect.signature` runs on the method's first call, not when ~150
    estimator methods are patched at import."""
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return positional[position] if len(positional) > position else None


def _recorder_for(name: str, func: Any) -> Callable[[HookedCall, Any], None]:
    if name in FIT_METHODS:
        return _fit_recorder(func, partial=name == "partial_fit")
    if name in TRANSFORM_METHODS:
        return _transform_recorder(name, func)
    if name in PREDICT_METHODS:
        return _predict_recorder(name, func)
    return _inverse_recorder


class _ClassState(threading.local):
    depth: int = 0


class SklearnInstrumentor(Instrumentor):
    """Every estimator class (sklearn's and any BaseEstimator subclass), `train_test_split`, model dumps.

    Classes are patched when `sklearn.base` is instrumented (those already defined) and, for classes defined
    later, right after their creation completes, from the outermost `__init_subclass__` of the class's MRO:
    sklearn's own `__init_subclass__` (set_output) rewraps `transform` after calling super, so patching any
    earlier would wrap the wrong function and restore the wrong one.
    """

    name = "sklearn"
    module = "sklearn"

    def __init__(self) -> None:
        super().__init__()
        self._custom: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, original or _MISSING, ours)
        self._seen: weakref.WeakSet[type] = weakref.WeakSet()
        self._class_state = _ClassState()
        self._live = False

    @property
    def is_instrumented(self) -> bool:
        return self._live or super().is_instrumented

    def _instrument(self) -> None:
        self._live = True
        if describe_model not in OBJECT_DESCRIBERS:
            OBJECT_DESCRIBERS.append(describe_model)
        _lazy.when_imported("sklearn.base", self._guarded(self._instrument_base))
        _lazy.when_imported("sklearn.model_selection", self._guarded(self._instrument_model_selection))

    def _guarded(self, fn: Callable[[types.ModuleType], None]) -> Callable[[types.ModuleType], None]:
        def run(module: types.ModuleType) -> None:
            with self._lock:
                if not self._live:
                    return
                try:
                    fn(module)
                except Exception as exc:
                    report_failure(f"instrumenting {module.__name__}", exc)

        return run

    def uninstrument(self) -> None:
        with self._lock:
            self._live = False
            while self._custom:
                owner, attribute, original, ours = self._custom.pop()
                if owner.__dict__.get(attribute) is not ours:
                    continue  # replaced since by someone else: theirs wins
                if original is _MISSING:
                    delattr(owner, attribute)
                else:
                    setattr(owner, attribute, original)
            self._seen = weakref.WeakSet()
            while describe_model in OBJECT_DESCRIBERS:
                OBJECT_DESCRIBERS.remove(describe_model)
            super().uninstrument()

    # ------------------------------------------------------------------ model_selection
    def _instrument_model_selection(self, module: types.ModuleType) -> None:
        self.patch(module, "train_test_split", _split_recorder, label="sklearn.train_test_split")
        split = sys.modules.get("sklearn.model_selection._split")
        if split is not None:
            self.patch(split, "train_test_split", _split_recorder, label="sklearn.train_test_split")

    # ------------------------------------------------------------------ estimator classes
    def _instrument_base(self, module: types.ModuleType) -> None:
        base = module.BaseEstimator
        self._hook_class_creation(module, base)
        stack = [base]
        visited: set[type] = set()
        while stack:  # every estimator class defined so far, user classes included
            cls = stack.pop()
            for sub in type.__subclasses__(cls):
                if sub not in visited:
                    visited.add(sub)
                    stack.append(sub)
                    self._patch_class(sub)

    def _hook_class_creation(self, module: types.ModuleType, base: type) -> None:
        roots = [base, *(v for v in vars(module).values() if isinstance(v, type) and v.__name__.endswith("Mixin"))]
        owners: dict[type, None] = {}
        for root in roots:
            for klass in root.__mro__:
                if klass is not object and "__init_subclass__" in klass.__dict__:
                    owners[klass] = None
        for owner in owners or {base: None}:
            self._hook_init_subclass(owner, base)

    def _hook_init_subclass(self, owner: type, base: type) -> None:
        found = owner.__dict__.get("__init_subclass__", _MISSING)
        original: Callable[..., Any]
        if found is _MISSING:
            def original(cls: type, **kwargs: Any) -> None:
                super(owner, cls).__init_subclass__(**kwargs)  # type: ignore[arg-type, misc]
        else:
            original = found.__func__ if isinstance(found, classmethod) else found
        state = self._class_state
        instrumentor = self

        def __init_subclass__(cls: type, **kwargs: Any) -> None:
            # Own depth counter, not the hook guard: classes created inside a hooked call (joblib.load
            # importing sklearn modules) must be patched too.
            state.depth += 1
            try:
                original(cls, **kwargs)
            finally:
                state.depth -= 1
            if state.depth == 0 and issubclass(cls, base):
                instrumentor._on_new_class(cls)

        hook: Any = classmethod(__init_subclass__)
        owner.__init_subclass__ = hook  # type: ignore[assignment]
        self._custom.append((owner, "__init_subclass__", found, hook))

    def _on_new_class(self, cls: type) -> None:
        try:
            with self._lock:
                if self._live:
                    self._patch_class(cls)
        except Exception as exc:
            report_failure("instrumenting an estimator class", exc)

    def _patch_class(self, cls: type) -> None:
        for klass in cls.__mro__:
            if klass is object or klass in self._seen:
                continue
            self._seen.add(klass)
            for name in METHODS:
                if name in klass.__dict__:
                    self._patch_method(klass, name)

    def _patch_method(self, klass: type, name: str) -> None:
        raw = klass.__dict__[name]
        label = f"{klass.__name__}.{name}"
        if isinstance(raw, types.FunctionType):
            if getattr(raw, "__openlineage_pandas_original__", None) is None:
                self.patch(klass, name, _recorder_for(name, raw), label=label)
            return
        fn = getattr(raw, "fn", None)
        if isinstance(fn, types.FunctionType) and hasattr(type(raw), "__get__") and hasattr(raw, "check"):
            # sklearn's available_if descriptor (Pipeline.predict, SVC.predict_proba, ...): wrap the function
            # inside it and keep the descriptor, so hasattr(estimator, "predict_proba") keeps its meaning.
            replacement = copy.copy(raw)
            replacement.fn = make_wrapper(label, fn, _recorder_for(name, fn), self._is_active, method=True)
            replacement.__wrapped__ = replacement.fn
            setattr(klass, name, replacement)
            self._custom.append((klass, name, raw, replacement))


__all__ = ["SklearnInstrumentor", "column_map", "describe_model", "estimator_table", "transform_lineage"]
