"""Column-lineage rules for numpy arrays and scikit-learn estimators, as pure functions over FrameLineage.

No numpy or sklearn import: hooks pass shapes, labels and feature names in, and get FrameLineage back.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openlineage_pandas.provenance.model import (
    CONDITIONAL,
    CONDITIONAL_T,
    DIRECT,
    EMPTY_ORIGINS,
    FILTER,
    IDENTITY_T,
    INDIRECT,
    TRANSFORMATION,
    TRANSFORMATION_T,
    FrameLineage,
    Origins,
    SourceField,
    Transform,
    apply_transform,
    as_influence,
    field_name,
    merge_origins,
)

OriginsDict = dict[SourceField, frozenset[Transform]]
# A column mapping by name: output column -> {input column -> the ways it feeds that output}.
ColumnMap = dict[str, dict[str, frozenset[Transform]]]

# A model's predictions are computed from every feature it was given: the model mixes them.
PREDICTION_T = Transform(DIRECT, TRANSFORMATION, description="model output computed from all features")
# Fitting conditions the model's decision function on the training data without copying values into outputs.
TRAINED_ON_TARGET_T = Transform(INDIRECT, CONDITIONAL, description="learned from the training target at fit")
TRAINED_ON_FEATURES_T = Transform(INDIRECT, CONDITIONAL, description="learned from the training features at fit")
STRATIFY_T = Transform(INDIRECT, FILTER, description="train_test_split rows stratified on this column")
MIXED_T = Transform(DIRECT, TRANSFORMATION, description="transformer output computed from all its inputs")

NOTE_VIEW = "over-approximated: view of a tracked array whose columns could not be resolved"


# ---------------------------------------------------------------------------------------------- arrays
@dataclass(frozen=True, slots=True)
class ArrayArg:
    """One argument of a numpy call as the rules see it: its lineage (None = untracked) and its shape.

    A pandas Series is 1-D with one lineage column; a DataFrame is 2-D like an array.
    """

    lineage: FrameLineage | None
    shape: tuple[int, ...]

    @property
    def width(self) -> int:
        """Number of lineage columns this argument is laid out in (1 for scalars and 1-D arrays)."""
        return self.shape[1] if len(self.shape) == 2 else 1

    def aligned(self) -> bool:
        """Whether the lineage columns line up one-to-one with the array's columns."""
        return self.lineage is not None and len(self.lineage.columns) == self.width and len(self.shape) <= 2


def _columns(arg: ArrayArg, width: int) -> tuple[list[Origins], bool]:
    """Origins per output column of an argument broadcast to `width` columns; True if over-approximated.

    Broadcasting repeats a single column (1-D against 2-D, or an (n, 1) array), so a one-column lineage
    applies to every output column; an argument laid out like the output maps positionally; anything else
    (3-D and higher, mismatched widths) feeds every output column with all of its sources.
    """
    lin = arg.lineage
    if lin is None:
        return [EMPTY_ORIGINS] * width, False
    if arg.aligned() and arg.width == width:
        return list(lin.columns.values()), False
    if len(lin.columns) == 1:
        only = next(iter(lin.columns.values()))
        return [only] * width, False
    every = lin.all_origins()
    return [every] * width, True


def output_width(shape: tuple[int, ...]) -> int:
    """How many lineage columns an array of `shape` carries: its columns when 2-D, else one."""
    return shape[1] if len(shape) == 2 else 1


def _labels_for(shape: tuple[int, ...], candidates: Sequence[ArrayArg]) -> list[Hashable]:
    """Column labels for a result: those of the first tracked argument laid out like it, else positions."""
    width = output_width(shape)
    for arg in candidates:
        if arg.lineage is not None and arg.aligned() and arg.width == width and len(arg.shape) == len(shape):
            return list(arg.lineage.columns)
    if len(shape) == 2:
        return list(range(width))
    for arg in candidates:
        if arg.lineage is not None and len(arg.lineage.columns) == 1:
            return list(arg.lineage.columns)
    return ["value"]


def _notes(args: Iterable[ArrayArg], extra: Iterable[str] = ()) -> tuple[str, ...]:
    notes: list[str] = []
    for arg in args:
        if arg.lineage is not None:
            notes.extend(arg.lineage.notes)
    notes.extend(extra)
    return tuple(dict.fromkeys(notes))


def _dataset(args: Iterable[ArrayArg]) -> OriginsDict:
    return merge_origins(*(a.lineage.dataset for a in args if a.lineage is not None))


def conditional_lineage(operation: str, conditions: Sequence[ArrayArg], values: Sequence[ArrayArg],
                        shape: tuple[int, ...]) -> FrameLineage:
    """`np.where(cond, x, y)` / `np.select(conds, choices, default)`: each output column copies one of the
    value columns (DIRECT IDENTITY, keeping their history) and is chosen by the conditions (INDIRECT
    CONDITIONAL), column by column after broadcasting."""
    width = output_width(shape)
    labels = _labels_for(shape, values)
    approximated = False
    value_cols: list[list[Origins]] = []
    cond_cols: list[list[Origins]] = []
    for arg in values:
        cols, approx = _columns(arg, width)
        value_cols.append(cols)
        approximated |= approx
    for arg in conditions:
        cols, approx = _columns(arg, width)
        cond_cols.append(cols)
        approximated |= approx
    columns: dict[Hashable, OriginsDict] = {}
    for j, label in enumerate(labels):
        parts: list[Origins] = [apply_transform(cols[j], IDENTITY_T) for cols in value_cols]
        parts.extend(as_influence(cols[j], CONDITIONAL_T) for cols in cond_cols)
        columns[label] = merge_origins(*parts)
    extra = [f"over-approximated: {operation} broadcast mismatched columns"] if approximated else []
    return FrameLineage(columns, _dataset([*conditions, *values]), _notes([*conditions, *values], extra))


def elementwise_lineage(operation: str, args: Sequence[ArrayArg], shape: tuple[int, ...],
                        step: Transform) -> FrameLineage:
    """An element-wise function of its arguments (`np.clip`, `np.round`, ...): column j from column j of
    every argument, through `step`."""
    width = output_width(shape)
    labels = _labels_for(shape, args)
    approximated = False
    per_arg: list[list[Origins]] = []
    for arg in args:
        cols, approx = _columns(arg, width)
        per_arg.append(cols)
        approximated |= approx
    columns = {label: merge_origins(*(apply_transform(cols[j], step) for cols in per_arg))
               for j, label in enumerate(labels)}
    extra = [f"over-approximated: {operation} broadcast mismatched columns"] if approximated else []
    return FrameLineage(columns, _dataset(args), _notes(args, extra))


def dedupe_labels(labels: Iterable[Hashable]) -> list[Hashable]:
    """Make labels unique the way pandas does for repeated CSV headers: a, a.1, a.2 ..."""
    seen: set[Hashable] = set()
    out: list[Hashable] = []
    for label in labels:
        candidate, n = label, 0
        while candidate in seen:
            n += 1
            candidate = f"{field_name(label)}.{n}"
        seen.add(candidate)
        out.append(candidate)
    return out


def column_concat_lineage(operation: str, parts: Sequence[ArrayArg]) -> FrameLineage:
    """Columns placed side by side (`np.column_stack`, `np.hstack`/`np.concatenate(axis=1)` of 2-D arrays):
    the result's columns are the parts' columns in order, each an IDENTITY copy."""
    labels: list[Hashable] = []
    origins: list[Origins] = []
    approximated = False
    for arg in parts:
        width = arg.width
        cols, approx = _columns(arg, width)
        approximated |= approx
        if arg.lineage is not None and arg.aligned():
            names: list[Hashable] = list(arg.lineage.columns)
        else:
            names = [len(labels) + i for i in range(width)]
        labels.extend(names)
        origins.extend(cols)
    unique = dedupe_labels(labels)
    columns = {label: dict(o) for label, o in zip(unique, origins, strict=True)}
    extra = [f"over-approximated: {operation} of an array with unaligned columns"] if approximated else []
    return FrameLineage(columns, _dataset(parts), _notes(parts, extra))


def row_concat_lineage(operation: str, parts: Sequence[ArrayArg], shape: tuple[int, ...]) -> FrameLineage:
    """Rows appended (`np.vstack`, `np.concatenate(axis=0)`, `np.stack` of 1-D arrays, ...): output column j
    holds column j of every part, each an IDENTITY copy; 1-D parts laid out as rows feed every column."""
    width = output_width(shape)
    labels = _labels_for(shape, parts)
    approximated = False
    per_part: list[list[Origins]] = []
    for arg in parts:
        cols: list[Origins]
        if arg.lineage is not None and len(arg.shape) == 1 and len(shape) == 2:
            cols = [arg.lineage.all_origins()] * width  # a 1-D part became a row: it spans every column
        else:
            cols, approx = _columns(arg, width)
            approximated |= approx
        per_part.append(cols)
    columns = {label: merge_origins(*(cols[j] for cols in per_part)) for j, label in enumerate(labels)}
    extra = [f"over-approximated: {operation} of arrays with unaligned columns"] if approximated else []
    return FrameLineage(columns, _dataset(parts), _notes(parts, extra))


def whole_array_lineage(operation: str, parts: Sequence[ArrayArg], shape: tuple[int, ...]) -> FrameLineage:
    """Fallback for layouts with no column structure (3-D results, flattening): every output column gets
    every source as an IDENTITY copy, since values move but are not changed."""
    width = output_width(shape)
    every = merge_origins(*(a.lineage.all_origins() for a in parts if a.lineage is not None))
    labels = list(range(width)) if len(shape) == 2 else ["value"]
    note = f"over-approximated: {operation} mixes the columns of its inputs"
    return FrameLineage({label: dict(every) for label in labels}, _dataset(parts), _notes(parts, [note]))


def view_columns(base_shape: tuple[int, ...], base_strides: tuple[int, ...], base_address: int,
                 view_shape: tuple[int, ...], view_strides: tuple[int, ...], view_address: int) -> list[int] | None:
    """Which columns of a 2-D base array a view (`arr[:, j]`, `arr[2:, 1:3]`) shows, from strides alone.

    Slicing an ndarray cannot be intercepted (it is a C type), but a view keeps a pointer into its base, so
    the column offset can be solved from addresses: offset = i * s0 + j * s1. None when the view does not
    step over the base's columns in a way we can solve (transposes, reshapes, fancy strides).
    """
    if len(base_shape) != 2 or len(base_strides) != 2:
        return None
    rows, cols = base_shape
    s0, s1 = base_strides
    offset = view_address - base_address
    if s0 <= 0 or s1 <= 0 or offset < 0 or rows == 0 or cols == 0:
        return None
    if s0 >= s1 * cols:  # row-major layout: a row is contiguous-ish, columns step by s1
        row, rest = divmod(offset, s0)
        col, remainder = divmod(rest, s1)
    elif s1 >= s0 * rows:  # column-major layout (pandas blocks): a column is contiguous
        col, rest = divmod(offset, s1)
        row, remainder = divmod(rest, s0)
    else:
        return None
    if remainder or row >= rows or col >= cols:
        return None
    if len(view_shape) == 1:  # one column picked, walking down the rows
        return [col] if _walks_rows(row, view_shape[0], view_strides[0], s0, rows) else None
    if len(view_shape) == 2:
        vs0, vs1 = view_strides
        if not _walks_rows(row, view_shape[0], vs0, s0, rows):
            return None
        if view_shape[1] == 1:
            return [col]
        if vs1 <= 0 or vs1 % s1 != 0:
            return None
        step = vs1 // s1
        picked = [col + k * step for k in range(view_shape[1])]
        return picked if picked[-1] < cols else None
    return None


def _walks_rows(row: int, length: int, stride: int, row_stride: int, rows: int) -> bool:
    """Whether `length` elements from `row` with `stride` stay within one column of the base."""
    if length <= 1:
        return True
    if stride <= 0 or stride % row_stride:
        return False
    return row + (length - 1) * (stride // row_stride) < rows


def view_lineage(base: FrameLineage, picked: list[int] | None, view_ndim: int) -> FrameLineage:
    """Lineage of a view of a tracked 2-D array: the picked columns, or all of them when unresolved."""
    labels = list(base.columns)
    if picked is None:
        every = base.all_origins()
        width_labels: list[Hashable] = ["value"] if view_ndim != 2 else [0]
        lin = FrameLineage({label: dict(every) for label in width_labels}, dict(base.dataset), base.notes)
        return lin.with_note(NOTE_VIEW)
    columns = {labels[j]: dict(base.columns[labels[j]]) for j in picked}
    return FrameLineage(columns, dict(base.dataset), base.notes)


# ---------------------------------------------------------------------------------------------- estimators
@dataclass(slots=True)
class EstimatorLineage:
    """What a fitted estimator was learned from: ordered features and target, each with their origins."""

    estimator_class: str
    features: FrameLineage
    target: FrameLineage | None = None
    target_dtypes: list[tuple[Hashable, Any]] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [field_name(label) for label in self.features.columns]

    @property
    def target_names(self) -> list[str]:
        return [field_name(label) for label in self.target.columns] if self.target is not None else []


def fit_lineage(estimator_class: str, features: FrameLineage, target: FrameLineage | None,
                target_dtypes: list[tuple[Hashable, Any]] | None = None,
                previous: EstimatorLineage | None = None) -> EstimatorLineage:
    """The side-table entry for a fitted estimator; `previous` is merged in for `partial_fit`."""
    if previous is not None:
        features = _merge_frames(previous.features, features)
        if previous.target is not None:
            target = previous.target if target is None else _merge_frames(previous.target, target)
        target_dtypes = target_dtypes or previous.target_dtypes
    return EstimatorLineage(estimator_class, features, target, list(target_dtypes or []))


def _merge_frames(old: FrameLineage, new: FrameLineage) -> FrameLineage:
    columns: dict[Hashable, OriginsDict] = {label: dict(o) for label, o in old.columns.items()}
    for label, origins in new.columns.items():
        columns[label] = merge_origins(columns.get(label, EMPTY_ORIGINS), origins)
    return FrameLineage(columns, merge_origins(old.dataset, new.dataset),
                        tuple(dict.fromkeys([*old.notes, *new.notes])))


def _training_influence(est: EstimatorLineage, exclude: Origins) -> OriginsDict:
    """Training features and target as INDIRECT influences, skipping sources already feeding the output."""
    parts: list[Origins] = []
    if est.target is not None:
        parts.append(as_influence(est.target.all_origins(), TRAINED_ON_TARGET_T))
    features = {s: ts for s, ts in est.features.all_origins().items() if s not in exclude}
    parts.append(as_influence(features, TRAINED_ON_FEATURES_T))
    return merge_origins(*parts)


def _training_dataset(est: EstimatorLineage) -> list[Origins]:
    parts: list[Origins] = [est.features.dataset]
    if est.target is not None:
        parts.append(est.target.dataset)
    return parts


def _training_notes(est: EstimatorLineage) -> list[str]:
    notes = list(est.features.notes)
    if est.target is not None:
        notes.extend(est.target.notes)
    return notes


def prediction_lineage(operation: str, est: EstimatorLineage | None, inputs: FrameLineage | None,
                       labels: Sequence[Hashable]) -> FrameLineage:
    """`predict`/`predict_proba`/`decision_function`: every output column is a DIRECT TRANSFORMATION of
    all the input features (a model mixes them) and is INDIRECTLY influenced by the training target
    (and by training features that are not among the inputs)."""
    direct: OriginsDict = apply_transform(inputs.all_origins(), PREDICTION_T) if inputs is not None else {}
    parts: list[Origins] = [direct]
    dataset: list[Origins] = [inputs.dataset] if inputs is not None else []
    notes: list[str] = list(inputs.notes) if inputs is not None else []
    if est is not None:
        parts.append(_training_influence(est, direct))
        dataset.extend(_training_dataset(est))
        notes.extend(_training_notes(est))
    if inputs is None:
        notes.append(f"{operation}: input features had no provenance; only the training data is linked")
    if est is None:
        notes.append(f"{operation}: estimator was fitted without provenance")
    origins = merge_origins(*parts)
    return FrameLineage({label: dict(origins) for label in labels}, merge_origins(*dataset),
                        tuple(dict.fromkeys(notes)))


def infer_column_map(input_names: Sequence[str], output_names: Sequence[str],
                     step: Transform = TRANSFORMATION_T) -> tuple[ColumnMap, list[str]]:
    """How a fitted transformer maps named inputs to named outputs, from `get_feature_names_out` alone.

    An output named like an input comes from it (scalers, imputers, selectors); `city_A` comes from `city`
    (one-hot and other encoders: the longest input name followed by `_`); `missingindicator_age` from `age`;
    `a^2` and `a b` from a and b (polynomial features). Outputs matching no input (`pca0`, ...) are computed
    from all inputs. Returns the map and the outputs that needed that fallback.
    """
    inputs = [str(n) for n in input_names]
    known = set(inputs)
    by_length = sorted(inputs, key=len, reverse=True)
    single = frozenset({step})
    mixed = frozenset({MIXED_T})
    colmap: ColumnMap = {}
    unmatched: list[str] = []
    for out in (str(n) for n in output_names):
        sources = _match_output(out, known, by_length)
        if sources:
            colmap[out] = {name: single for name in sources}
        else:
            colmap[out] = {name: mixed for name in inputs}
            unmatched.append(out)
    return colmap, unmatched


def _match_output(out: str, known: set[str], by_length: list[str]) -> list[str]:
    if out in known:
        return [out]
    for name in by_length:  # longest first, so `total_rooms_x` matches `total_rooms` and not `total`
        if out.startswith(name + "_") or out.endswith("_" + name):
            return [name]
    tokens = [t.split("^", 1)[0] for t in out.split(" ")]
    if len(tokens) > 1 or "^" in out:
        matched = [t for t in tokens if t in known]
        if matched and len(matched) == len(tokens):
            return list(dict.fromkeys(matched))
    return []


def identity_column_map(input_names: Sequence[str], output_names: Sequence[str] | None = None) -> ColumnMap:
    """Columns passed through unchanged, positionally (ColumnTransformer 'passthrough', selectors)."""
    outs = input_names if output_names is None else output_names
    ident = frozenset({IDENTITY_T})
    return {str(o): {str(i): ident} for i, o in zip(input_names, outs, strict=False)}


def mixed_column_map(input_names: Sequence[str], output_names: Sequence[str]) -> ColumnMap:
    mixed = frozenset({MIXED_T})
    return {str(o): {str(i): mixed for i in input_names} for o in output_names}


def compose_column_maps(first: ColumnMap, second: ColumnMap) -> ColumnMap:
    """`second` applied after `first` (Pipeline steps), chaining transformation types."""
    out: ColumnMap = {}
    for name, mids in second.items():
        acc: dict[str, set[Transform]] = {}
        for mid, later in mids.items():
            for src, earlier in first.get(mid, {}).items():
                bucket = acc.setdefault(src, set())
                bucket.update(e.then(t) for e in earlier for t in later)
        out[name] = {src: frozenset(ts) for src, ts in acc.items()}
    return out


def invert_column_map(colmap: ColumnMap) -> ColumnMap:
    """`inverse_transform`: each original column is recomputed from the outputs it fed."""
    out: ColumnMap = {}
    for name, sources in colmap.items():
        for src, transforms in sources.items():
            out.setdefault(src, {})[name] = transforms
    return out


def apply_column_map(colmap: ColumnMap, inputs: Mapping[str, Origins], dataset: Origins = EMPTY_ORIGINS,
                     notes: Iterable[str] = (), est: EstimatorLineage | None = None,
                     labels: Sequence[Hashable] | None = None) -> FrameLineage:
    """Lineage of a transformer's output from the lineage of its named inputs.

    With `est`, what the transformer learned at fit (a different training set, a target) is added as INDIRECT
    influence, column by column through the same map; sources already feeding a column are not repeated.
    """
    columns: dict[Hashable, OriginsDict] = {}
    names = list(colmap)
    out_labels = list(labels) if labels is not None and len(labels) == len(names) else names
    training = {field_name(k): v for k, v in est.features.columns.items()} if est is not None else {}
    target = as_influence(est.target.all_origins(), TRAINED_ON_TARGET_T) if est and est.target else {}
    for label, name in zip(out_labels, names, strict=True):
        sources = colmap[name]
        parts = [apply_transform(inputs.get(src, EMPTY_ORIGINS), t) for src, ts in sources.items() for t in ts]
        direct = parts[0] if len(parts) == 1 else merge_origins(*parts)
        extra: list[Origins] = [target] if target else []
        if training:  # usually fitted on the same columns it transforms: then nothing is added
            fitted = {s: ts for src in sources if src in training for s, ts in training[src].items()
                      if s not in direct}
            if fitted:
                extra.append(as_influence(fitted, TRAINED_ON_FEATURES_T))
        columns[label] = merge_origins(direct, *extra) if extra else direct
    all_dataset: list[Origins] = [dataset]
    all_notes = list(notes)
    if est is not None:
        all_dataset.extend(_training_dataset(est))
        all_notes.extend(_training_notes(est))
    return FrameLineage(columns, merge_origins(*all_dataset), tuple(dict.fromkeys(all_notes)))


def positional_inputs(lineage: FrameLineage | None, names: Sequence[str]) -> tuple[dict[str, Origins], bool]:
    """Origins of each named estimator input, matching lineage columns by position (arrays) or by name
    (frames); True when the lineage did not line up and every input got every source."""
    if lineage is None:
        return {}, False
    labels = list(lineage.columns)
    by_name = {field_name(label): lineage.columns[label] for label in labels}
    if all(n in by_name for n in names):
        return {n: by_name[n] for n in names}, False
    if len(labels) == len(names):
        return {n: lineage.columns[label] for n, label in zip(names, labels, strict=True)}, False
    every = lineage.all_origins()
    return {n: every for n in names}, True


def model_dataset_lineage(est: EstimatorLineage, output_names: Sequence[str],
                          colmap: ColumnMap | None) -> FrameLineage:
    """Column lineage of a fitted model written to a file (joblib/pickle).

    The model dataset's fields are its outputs: predictions named after the target (or the transformer's
    output features). Each field is a DIRECT TRANSFORMATION of the features it is computed from and is
    INDIRECTLY conditioned on the training target. The facet's dataset-level entries name every training
    feature and target column (INDIRECT CONDITIONAL: the model's parameters were learned from them).
    """
    inputs = {field_name(label): origins for label, origins in est.features.columns.items()}
    if colmap is None:
        step = frozenset({PREDICTION_T})
        colmap = {name: {src: step for src in inputs} for name in output_names}
    columns: dict[Hashable, OriginsDict] = {}
    target = as_influence(est.target.all_origins(), TRAINED_ON_TARGET_T) if est.target is not None else {}
    for name in output_names:
        parts = [apply_transform(inputs.get(src, EMPTY_ORIGINS), t)
                 for src, ts in colmap.get(name, {}).items() for t in ts]
        columns[name] = merge_origins(*parts, target)
    dataset = merge_origins(as_influence(est.features.all_origins(), TRAINED_ON_FEATURES_T), target,
                            *_training_dataset(est))
    return FrameLineage(columns, dataset, tuple(dict.fromkeys(_training_notes(est))))


def split_lineage(lineage: FrameLineage, stratify: FrameLineage | None) -> FrameLineage:
    """One part returned by `train_test_split`: rows are sampled without looking at any value, so every
    column keeps its lineage unchanged; `stratify=` makes the sampling depend on that column (INDIRECT FILTER)."""
    if stratify is None:
        return lineage.copy()
    return lineage.with_influence(stratify.all_origins(), STRATIFY_T)


# ---------------------------------------------------------------------------------------------- parameters
_MAX_PARAM_TEXT = 200
_MAX_PARAMS = 200


def json_safe_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyper-parameters that are plain JSON scalars (no arrays, estimators, callables or data values).

    numpy scalars are converted to Python, non-finite floats and long strings are left out: Marquez refuses
    NaN/Infinity and a long string is more likely data than a setting.
    """
    out: dict[str, Any] = {}
    for key in sorted(params):
        if len(out) >= _MAX_PARAMS:
            break
        value = params[key]
        item = getattr(value, "item", None)
        if callable(item) and type(value).__module__ == "numpy" and getattr(value, "ndim", 1) == 0:
            value = item()
        if value is None or isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int):
            out[key] = int(value)
        elif isinstance(value, float):
            if math.isfinite(value):
                out[key] = float(value)
        elif isinstance(value, str) and len(value) <= _MAX_PARAM_TEXT:
            out[key] = value
    return out
