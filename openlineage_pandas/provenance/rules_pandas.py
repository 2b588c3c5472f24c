"""Column-lineage rules for pandas operations: input FrameLineage(s), labels and arguments in, FrameLineage out.

Pure functions (no pandas import, no patching): hooks read labels and arguments off the real call and apply them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from openlineage_pandas.provenance.model import (
    AGGREGATION,
    CONDITIONAL,
    DIRECT,
    FILTER,
    GROUP_BY,
    IDENTITY_T,
    INDIRECT,
    JOIN,
    TRANSFORMATION,
    WINDOW,
    FrameLineage,
    SourceField,
    Transform,
    as_influence,
    merge_origins,
)

Label = Hashable
Origins = dict[SourceField, frozenset[Transform]]
EMPTY: Origins = {}


@lru_cache(maxsize=1024)
def transform(type_: str, subtype: str, masking: bool = False, description: str | None = None) -> Transform:
    """A shared Transform instance (equal transforms are the same object: cheap sets, small memory)."""
    return Transform(type_, subtype, masking, description)


def influence(subtype: str, description: str | None = None) -> Transform:
    return transform(INDIRECT, subtype, False, description)


TRANSFORM = transform(DIRECT, TRANSFORMATION)
AGGREGATE = transform(DIRECT, AGGREGATION)
MASKED_AGGREGATE = transform(DIRECT, AGGREGATION, True)
CAST = transform(DIRECT, TRANSFORMATION, False, "astype: type cast")

# Aggregation function names whose output hides the values (counts): OpenLineage "masking".
MASKING_FUNCTIONS = frozenset({"count", "size", "nunique", "value_counts", "len", "cumcount", "ngroup"})


# ---------------------------------------------------------------------------------------------- origins
_chain_memo: dict[tuple[frozenset[Transform], Transform], frozenset[Transform]] = {}


def chain(origins: Mapping[SourceField, frozenset[Transform]], step: Transform) -> Origins:
    """Origins after applying `step` (Spark's chain rule), memoised per distinct transform set."""
    if step is IDENTITY_T or not origins:
        return origins  # type: ignore[return-value]  # origins are never mutated in place
    out: Origins = {}
    memo = _chain_memo
    for src, ts in origins.items():
        key = (ts, step)
        composed = memo.get(key)
        if composed is None:
            composed = frozenset(t.then(step) for t in ts)
            if len(memo) > 4096:
                memo.clear()
            memo[key] = composed
        out[src] = composed
    return out


def merge(*many: Mapping[SourceField, frozenset[Transform]]) -> Origins:
    """Union of origins, reusing the single non-empty input when there is only one."""
    present = [m for m in many if m]
    if not present:
        return EMPTY
    if len(present) == 1:
        return present[0]  # type: ignore[return-value]
    return merge_origins(*present)


def union_all(columns: Iterable[Mapping[SourceField, frozenset[Transform]]]) -> Origins:
    return merge(*columns)


def as_influence_of(origins: Mapping[SourceField, frozenset[Transform]], subtype: str,
                    description: str | None = None) -> Origins:
    if not origins:
        return EMPTY
    return as_influence(origins, influence(subtype, description))


def values_of(lin: FrameLineage | None) -> Origins:
    """Every origin of a Series/array/frame's values (a Series has exactly one column)."""
    if lin is None:
        return EMPTY
    cols = lin.columns
    if len(cols) == 1:
        return next(iter(cols.values()))
    return union_all(cols.values())


def resolve(lin: FrameLineage, label: Label) -> Origins:
    """Origins of `label`: exact, else the first element of a tuple label (`("price", "sum")`), else the union of
    MultiIndex columns under a top-level label."""
    try:
        found = lin.columns.get(label)
    except TypeError:  # an unhashable label names no column
        return EMPTY
    if found is not None:
        return found
    if isinstance(label, tuple):
        for part in label:
            if _hashable(part) and part in lin.columns:
                return lin.columns[part]
        return EMPTY
    under = [o for key, o in lin.columns.items() if isinstance(key, tuple) and key and key[0] == label]
    return union_all(under)


def _hashable(label: object) -> bool:
    try:
        hash(label)
    except TypeError:
        return False
    return True


def _notes(*lins: FrameLineage | None, extra: str | None = None) -> tuple[str, ...]:
    notes: list[str] = []
    for lin in lins:
        if lin is not None and lin.notes:
            notes.extend(lin.notes)
    if extra:
        notes.append(extra)
    if not notes:
        return ()
    return tuple(dict.fromkeys(notes))


def _dataset(*parts: Mapping[SourceField, frozenset[Transform]]) -> Origins:
    present = [p for p in parts if p]
    if not present:
        return {}
    if len(present) == 1 or all(p is present[0] for p in present):
        return present[0]  # type: ignore[return-value]
    return merge_origins(*present)


def new_influences(value: FrameLineage | None, target: FrameLineage | None) -> Origins:
    """A value's frame-wide influences the target does not already carry (a filter on another frame)."""
    if value is None or not value.dataset:
        return EMPTY
    if target is None or not target.dataset:
        return value.dataset
    if value.dataset is target.dataset:
        return EMPTY
    return {src: ts for src, ts in value.dataset.items() if target.dataset.get(src) != ts}


# ---------------------------------------------------------------------------------------------- rows & columns
def keep(lin: FrameLineage, out_labels: Sequence[Label], *, step: Transform = IDENTITY_T,
         only: Iterable[Label] | None = None, extra: Mapping[Label, Origins] | None = None,
         extra_all: Origins | None = None, influence_origins: Origins | None = None,
         influence_step: Transform | None = None, index: dict[Label, Origins] | None = None,
         note: str | None = None) -> FrameLineage:
    """Columns kept by label (IDENTITY unless `step`, restricted to `only`), plus an optional frame-wide
    INDIRECT influence (filter mask, sort key, ...). The workhorse of row-wise and cleaning operations."""
    cols = lin.columns
    out: dict[Label, Origins]
    try:  # the common case: every output label is an input column
        out = {label: cols[label] for label in out_labels}
    except (KeyError, TypeError):
        out = {label: _lookup(lin, label) for label in out_labels}
    if step is not IDENTITY_T or extra or extra_all:
        only_set = None if only is None else set(only)
        for label, origins in out.items():
            if step is not IDENTITY_T and (only_set is None or label in only_set):
                origins = chain(origins, step)
            if extra_all:
                origins = merge(origins, extra_all)
            if extra and label in extra:
                origins = merge(origins, extra[label])
            out[label] = origins
    dataset = lin.dataset
    if influence_origins and influence_step is not None:
        dataset = _dataset(dataset, as_influence(influence_origins, influence_step))
    notes = lin.notes if note is None else _notes(lin, extra=note)
    return FrameLineage(out, dataset, notes, lin.index if index is None else index)


def _lookup_any(parts: Sequence[FrameLineage], label: Label) -> Origins:
    return merge(*(resolve(p, label) for p in parts))


def _lookup(lin: FrameLineage, label: Label) -> Origins:
    try:
        found = lin.columns.get(label)
    except TypeError:
        found = None
    return found if found is not None else resolve(lin, label)


def filter_rows(lin: FrameLineage, out_labels: Sequence[Label], mask: Origins, description: str,
                mask_dataset: Origins | None = None, subtype: str = FILTER) -> FrameLineage:
    """Rows selected by a condition on `mask`'s sources: every column IDENTITY, FILTER influence."""
    result = keep(lin, out_labels, influence_origins=mask, influence_step=influence(subtype, description))
    if mask_dataset:
        result.dataset = _dataset(result.dataset, mask_dataset)
    return result


def positional(lin: FrameLineage, in_labels: Sequence[Label], out_labels: Sequence[Label],
               index: dict[Label, Origins] | None = None) -> FrameLineage:
    """Same columns in the same positions under new labels (rename, add_prefix, set_axis, columns=...)."""
    if len(in_labels) != len(out_labels):
        return keep(lin, out_labels, index=index)
    cols = {out: resolve(lin, old) for old, out in zip(in_labels, out_labels, strict=True)}
    return FrameLineage(cols, lin.dataset, lin.notes, lin.index if index is None else index)


def single(origins: Origins, label: Label, dataset: Origins | None = None, notes: tuple[str, ...] = (),
           index: dict[Label, Origins] | None = None) -> FrameLineage:
    """Lineage of a Series (one column)."""
    return FrameLineage({label: origins}, dataset or {}, notes, index or {})


def column(lin: FrameLineage, label: Label, out_label: Label | None = None) -> FrameLineage:
    """`df[label]`: the Series of one column."""
    return FrameLineage({label if out_label is None else out_label: resolve(lin, label)}, lin.dataset,
                        lin.notes, lin.index)


def row_series(lin: FrameLineage, name: Label) -> FrameLineage:
    """`df.loc[row]`: a Series holding one value of every column."""
    return FrameLineage({name: union_all(lin.columns.values())}, lin.dataset, lin.notes, {})


def set_column(lin: FrameLineage, label: Label, origins: Origins, out_labels: Sequence[Label] | None = None,
               value: FrameLineage | None = None) -> FrameLineage:
    """`df[label] = value` / `assign(label=value)` / `insert`: the column's origins are the value's (plus any
    frame-wide influence of the value the target lacks, e.g. a filter applied to another frame)."""
    extra = new_influences(value, lin)
    if extra:
        origins = merge(origins, extra)
    cols = dict(lin.columns)
    cols[label] = origins
    if out_labels is not None and (len(out_labels) != len(cols) or any(k not in cols for k in out_labels)):
        cols = {k: cols.get(k, EMPTY) for k in out_labels}
    elif out_labels is not None:
        cols = {k: cols[k] for k in out_labels}
    notes = _notes(lin, value) if value is not None else lin.notes
    return FrameLineage(cols, lin.dataset, notes, lin.index)


def conditional_update(lin: FrameLineage, labels: Sequence[Label], value: Origins, condition: Origins,
                       out_labels: Sequence[Label], description: str) -> FrameLineage:
    """`df.loc[mask, "c"] = v`, `where`/`mask` in place: kept values, new values, and the condition as
    CONDITIONAL influence on each updated column."""
    cond = as_influence_of(condition, CONDITIONAL, description)
    cols = dict(lin.columns)
    for label in labels:
        cols[label] = merge(cols.get(label, EMPTY), value, cond)
    cols = {k: cols.get(k, EMPTY) for k in out_labels}
    return FrameLineage(cols, lin.dataset, lin.notes, lin.index)


def relabel_index(lin: FrameLineage, index: dict[Label, Origins]) -> FrameLineage:
    return FrameLineage(lin.columns, lin.dataset, lin.notes, index)


# ---------------------------------------------------------------------------------------------- element-wise
def elementwise(left: FrameLineage | None, right: FrameLineage | None, out_labels: Sequence[Label],
                step: Transform, *, left_frame: bool, right_frame: bool) -> FrameLineage:
    """Arithmetic, comparison, logical operators and ufuncs: each output value from the aligned operands.

    Frame op frame aligns by label; frame op Series/array broadcasts the Series to every column."""
    base = left if left is not None else right
    assert base is not None
    if not left_frame and not right_frame:  # Series op Series / scalar
        origins = merge(chain(values_of(left), step), chain(values_of(right), step))
        label = out_labels[0] if out_labels else None
        return FrameLineage({label: origins}, _dataset(*(x.dataset for x in (left, right) if x is not None)),
                            _notes(left, right), _index(left, right))
    cols: dict[Label, Origins] = {}
    left_all = None if left_frame or left is None else chain(values_of(left), step)
    right_all = None if right_frame or right is None else chain(values_of(right), step)
    for label in out_labels:
        parts = []
        if left is not None:
            parts.append(chain(resolve(left, label), step) if left_frame else left_all)
        if right is not None:
            parts.append(chain(resolve(right, label), step) if right_frame else right_all)
        cols[label] = merge(*(p for p in parts if p))
    return FrameLineage(cols, _dataset(*(x.dataset for x in (left, right) if x is not None)),
                        _notes(left, right), _index(left, right))


def _index(*lins: FrameLineage | None) -> dict[Label, Origins]:
    for lin in lins:
        if lin is not None and lin.index:
            return lin.index
    return {}


def combine_values(parts: Sequence[FrameLineage | None], label: Label, step: Transform,
                   index_from: FrameLineage | None = None) -> FrameLineage:
    """One Series computed from several inputs' values (str.cat, np.where-like combinations, map(Series))."""
    present = [p for p in parts if p is not None]
    origins = merge(*(chain(values_of(p), step) for p in present))
    base = index_from if index_from is not None else (present[0] if present else None)
    return FrameLineage({label: origins}, _dataset(*(p.dataset for p in present)), _notes(*present),
                        base.index if base is not None else {})


def to_series_of(lin: FrameLineage, labels: Sequence[Label], step: Transform, name: Label) -> FrameLineage:
    """A Series computed from several columns of one frame (row-wise sum, apply(axis=1), eval)."""
    origins = merge(*(chain(resolve(lin, label), step) for label in labels))
    return FrameLineage({name: origins}, lin.dataset, lin.notes, lin.index)


def reduce_frame(lin: FrameLineage, name: Label, step: Transform, description: str | None = None) -> FrameLineage:
    """`df.sum()` and other reductions over rows: a Series indexed by column labels whose values aggregate
    every column."""
    origins = chain(union_all(lin.columns.values()), step)
    return FrameLineage({name: origins}, lin.dataset, lin.notes, {})


def frame_from_parts(parts: Sequence[tuple[Label, Origins, FrameLineage | None]]) -> FrameLineage:
    """A frame built from labelled parts (DataFrame constructor, to_frame, concat of Series)."""
    cols: dict[Label, Origins] = {}
    lins = [p[2] for p in parts if p[2] is not None]
    for label, origins, _ in parts:
        cols[label] = merge(cols.get(label, EMPTY), origins) if label in cols else origins
    return FrameLineage(cols, _dataset(*(lin.dataset for lin in lins)), _notes(*lins), _index(*lins))


# ---------------------------------------------------------------------------------------------- index
def set_index(lin: FrameLineage, keys: Sequence[tuple[Label, Origins]], out_labels: Sequence[Label],
              append: bool) -> FrameLineage:
    """Columns (or arrays) move into the index, keeping their lineage for a later reset_index."""
    index = dict(lin.index) if append else {}
    for name, origins in keys:
        index[name] = origins
    return keep(lin, out_labels, index=index)


def reset_index(lin: FrameLineage, out_labels: Sequence[Label], moved: int, drop: bool,
                kept_levels: Sequence[Label] | None = None) -> FrameLineage:
    """Index levels come back as the first `moved` columns, in order, with the lineage they had."""
    levels = list(lin.index.items())
    cols: dict[Label, Origins] = {}
    start = 0
    if not drop:
        moved_levels = levels if kept_levels is None else [lv for lv in levels if lv[0] not in kept_levels]
        for (_, origins), label in zip(moved_levels, out_labels[:moved], strict=False):
            cols[label] = origins
        start = moved
    for label in out_labels[start:]:
        if label not in cols:
            cols[label] = resolve(lin, label)
    index = {} if kept_levels is None else {k: v for k, v in lin.index.items() if k in kept_levels}
    return FrameLineage(cols, lin.dataset, lin.notes, index)


def index_origins(lin: FrameLineage) -> Origins:
    return union_all(lin.index.values())


# ---------------------------------------------------------------------------------------------- joins
def _suffixed(label: Label, suffix: str | None) -> Label:
    if suffix is None or suffix == "":
        return label
    if isinstance(label, str):
        return label + suffix
    return f"{label}{suffix}"


def merge_frames(left: FrameLineage, right: FrameLineage, out_labels: Sequence[Label], *,
                 left_labels: Sequence[Label], right_labels: Sequence[Label], left_keys: Origins,
                 right_keys: Origins, coalesced: Sequence[Label], suffixes: tuple[str | None, str | None],
                 indicator: Label | None = None, index: dict[Label, Origins] | None = None,
                 description: str = "merge") -> FrameLineage:
    """merge/join: columns from each side (suffixes on clashing names), `on=` keys coalesced from both sides,
    JOIN influence from the keys of both sides. Output labels we cannot place are over-approximated."""
    coalesce = set(coalesced)
    overlap = (set(left_labels) & set(right_labels)) - coalesce
    expected: dict[Label, Origins] = {}
    for label in left_labels:
        if label in coalesce:
            expected[label] = merge(resolve(left, label), resolve(right, label))
        else:
            expected[_suffixed(label, suffixes[0]) if label in overlap else label] = resolve(left, label)
    for label in right_labels:
        if label in coalesce:
            continue
        name = _suffixed(label, suffixes[1]) if label in overlap else label
        expected[name] = merge(expected[name], resolve(right, label)) if name in expected else resolve(right, label)
    join_origins = merge(left_keys, right_keys)
    if indicator is not None:
        expected[indicator] = chain(join_origins, TRANSFORM)
    cols: dict[Label, Origins] = {}
    unplaced = False
    fallback: Origins | None = None
    for label in out_labels:
        origins = expected.get(label) if _hashable(label) else None
        if origins is None:
            unplaced = True
            if fallback is None:
                fallback = as_influence_of(merge(*left.columns.values(), *right.columns.values()), CONDITIONAL,
                                           f"over-approximated: {description} column")
            origins = fallback
        cols[label] = origins
    dataset = _dataset(left.dataset, right.dataset,
                       as_influence_of(join_origins, JOIN, description))
    note = f"over-approximated: {description} output columns not matched" if unplaced else None
    return FrameLineage(cols, dataset, _notes(left, right, extra=note), index or {})


def concat_rows(parts: Sequence[FrameLineage], out_labels: Sequence[Label]) -> FrameLineage:
    """Rows of several frames stacked: each column from the same-named column of every input."""
    found: dict[Label, list[Origins]] = {label: [] for label in out_labels}
    for part in parts:
        for label, origins in part.columns.items():
            bucket = found.get(label)
            if bucket is not None and origins:
                bucket.append(origins)
    cols = {label: (bucket[0] if len(bucket) == 1 else merge(*bucket)) if bucket else _lookup_any(parts, label)
            for label, bucket in found.items()}
    index: dict[Label, Origins] = {}
    for p in parts:
        for name, origins in p.index.items():
            index[name] = merge(index.get(name, EMPTY), origins)
    return FrameLineage(cols, _dataset(*(p.dataset for p in parts)), _notes(*parts), index)


def concat_series_rows(parts: Sequence[FrameLineage], name: Label) -> FrameLineage:
    """Several Series stacked into one."""
    origins = merge(*(values_of(p) for p in parts))
    return FrameLineage({name: origins}, _dataset(*(p.dataset for p in parts)), _notes(*parts),
                        _index(*parts))


def concat_columns(parts: Sequence[tuple[FrameLineage | None, Sequence[Label]]],
                   out_labels: Sequence[Label], join: str = "outer") -> FrameLineage:
    """Frames side by side: output columns map positionally to the inputs' columns; when the count differs
    (labels dropped or renamed by pandas), by name."""
    flat: list[Origins] = []
    for lin, labels in parts:
        for label in labels:
            flat.append(EMPTY if lin is None else resolve(lin, label))
    lins = [lin for lin, _ in parts if lin is not None]
    index: dict[Label, Origins] = {}
    for lin in lins:
        for name, origins in lin.index.items():
            index[name] = merge(index.get(name, EMPTY), origins)
    dataset = _dataset(*(lin.dataset for lin in lins))
    if len(flat) == len(out_labels):
        cols = dict(zip(out_labels, flat, strict=True))
    else:
        cols = {label: merge(*(resolve(lin, label) for lin in lins)) for label in out_labels}
    return FrameLineage(cols, dataset, _notes(*lins), index)


# ---------------------------------------------------------------------------------------------- grouping
@dataclass(frozen=True, slots=True)
class GroupSpec:
    """What a GroupBy/Resampler object knows: the parent's lineage, its keys and what is selected."""

    parent: FrameLineage
    keys: tuple[tuple[Label, Origins], ...]  # (name of the key in the result, its origins)
    key_columns: tuple[Label, ...] = ()  # keys that are columns of the parent (excluded from the values)
    as_index: bool = True
    selection: tuple[Label, ...] | None = None
    series: bool = False  # a SeriesGroupBy (one selected column)
    description: str = "groupby"

    def key_origins(self) -> Origins:
        return merge(*(o for _, o in self.keys))

    def value_labels(self) -> list[Label]:
        if self.selection is not None:
            return list(self.selection)
        excluded = set(self.key_columns)
        return [label for label in self.parent.columns if label not in excluded]

    def selected(self, labels: Sequence[Label], series: bool) -> GroupSpec:
        return GroupSpec(self.parent, self.keys, self.key_columns, self.as_index, tuple(labels), series,
                         self.description)


def aggregation_step(func: object) -> Transform:
    """AGGREGATION, masked for counting functions."""
    name = func if isinstance(func, str) else getattr(func, "__name__", None)
    if name in MASKING_FUNCTIONS:
        return transform(DIRECT, AGGREGATION, True, str(name))
    return AGGREGATE


def _key_column(spec: GroupSpec, origins: Origins) -> Origins:
    return merge(origins, as_influence_of(origins, GROUP_BY, spec.description))


def group_reduce(spec: GroupSpec, out_labels: Sequence[Label], *, step: Transform = AGGREGATE,
                 sources: Mapping[Label, tuple[Sequence[Label], Transform]] | None = None,
                 series_name: Label | None = None, result_is_series: bool = False,
                 from_keys: bool = False) -> FrameLineage:
    """groupby(...).agg / sum / mean / count / size / nunique / first ...: AGGREGATION of the value columns,
    GROUP_BY influence of the keys; keys in the output columns (as_index=False) are IDENTITY of the key.

    `sources` maps output labels to (input labels, transform) for named and dict aggregations; `from_keys`
    is for `size()`, which counts rows per key and reads no value column."""
    parent = spec.parent
    values = spec.value_labels()
    value_set = set(values)
    key_names = {name: origins for name, origins in spec.keys}
    key_total = spec.key_origins()
    cols: dict[Label, Origins] = {}
    note = None
    labels = list(out_labels) if not result_is_series else [series_name]
    for label in labels:
        if not result_is_series and not spec.as_index and _hashable(label) and label in key_names \
                and (sources is None or label not in sources):
            cols[label] = _key_column(spec, key_names[label])
            continue
        if sources is not None and _hashable(label) and label in sources:
            src_labels, how = sources[label]
            cols[label] = merge(*(chain(resolve(parent, s), how) for s in src_labels))
            continue
        if from_keys:
            cols[label] = chain(key_total, step)
            continue
        src = _source_label(label, value_set, values, spec.series or result_is_series)
        if src is None:
            note = f"over-approximated: {spec.description} output column"
            cols[label] = merge(*(chain(resolve(parent, v), step) for v in values))
        else:
            cols[label] = merge(*(chain(resolve(parent, s), step) for s in src))
    index = key_index(spec) if spec.as_index or result_is_series else {}
    dataset = _dataset(parent.dataset, as_influence_of(key_total, GROUP_BY, spec.description))
    return FrameLineage(cols, dataset, _notes(parent, extra=note), index)


def key_index(spec: GroupSpec) -> dict[Label, Origins]:
    """Group keys in the result's index: IDENTITY of the key plus GROUP_BY, as they come back as columns."""
    return {name: _key_column(spec, origins) for name, origins in spec.keys}


def _source_label(label: Label, value_set: set[Label], values: Sequence[Label],
                  single_source: bool) -> list[Label] | None:
    if single_source and len(values) == 1:
        return [values[0]]
    if _hashable(label) and label in value_set:
        return [label]
    if isinstance(label, tuple):
        hits = [part for part in label if _hashable(part) and part in value_set]
        if hits:
            return hits[:1]
    if len(values) == 1:
        return [values[0]]
    return None


def group_window(spec: GroupSpec, out_labels: Sequence[Label], step: Transform, description: str,
                 result_is_series: bool = False, series_name: Label | None = None) -> FrameLineage:
    """groupby(...).transform / cumsum / rank / shift / diff: each row keeps its place; the value comes from the
    same column within its group (a window partitioned by the keys: WINDOW influence of the keys)."""
    parent = spec.parent
    values = spec.value_labels()
    value_set = set(values)
    window = as_influence_of(spec.key_origins(), WINDOW, description)
    cols: dict[Label, Origins] = {}
    labels = [series_name] if result_is_series else list(out_labels)
    for label in labels:
        src = _source_label(label, value_set, values, spec.series or result_is_series)
        if src is None:
            src = values
        cols[label] = merge(*(chain(resolve(parent, s), step) for s in src), window)
    return FrameLineage(cols, parent.dataset, parent.notes, parent.index)


def group_filter(spec: GroupSpec, out_labels: Sequence[Label], condition: Origins,
                 description: str = "groupby.filter") -> FrameLineage:
    """groupby(...).filter(f): whole groups kept or dropped on a condition over the traced columns."""
    influence_origins = merge(condition, spec.key_origins())
    return keep(spec.parent, out_labels, influence_origins=influence_origins,
                influence_step=influence(FILTER, description))


def group_rows(spec: GroupSpec, out_labels: Sequence[Label], description: str) -> FrameLineage:
    """groupby(...).head / tail / nth / sample: rows picked per group (values IDENTITY, GROUP_BY keys)."""
    return keep(spec.parent, out_labels, influence_origins=spec.key_origins(),
                influence_step=influence(GROUP_BY, description))


def group_apply(spec: GroupSpec, out_labels: Sequence[Label], read: Sequence[Label], same_rows: bool,
                result_is_series: bool = False, series_name: Label | None = None) -> FrameLineage:
    """groupby(...).apply(f): `read` are the columns f was traced to read. A result with one row per input row
    is a window over the group (TRANSFORMATION + WINDOW keys); otherwise each group is reduced: an output
    column named like an input column aggregates it, any other output aggregates everything f reads."""
    parent = spec.parent
    if same_rows:
        narrowed = GroupSpec(parent, spec.keys, spec.key_columns, spec.as_index, tuple(read), spec.series,
                             spec.description)
        return group_window(narrowed, out_labels, TRANSFORM, f"{spec.description}.apply", result_is_series,
                            series_name)
    traced = merge(*(chain(resolve(parent, c), AGGREGATE) for c in read))
    key_names = dict(spec.keys)
    excluded = set(spec.key_columns)
    cols: dict[Label, Origins] = {}
    for label in ([series_name] if result_is_series else out_labels):
        if not result_is_series and not spec.as_index and _hashable(label) and label in key_names:
            cols[label] = _key_column(spec, key_names[label])
        elif not result_is_series and _hashable(label) and label in parent.columns and label not in excluded:
            cols[label] = chain(parent.columns[label], AGGREGATE)
        else:
            cols[label] = traced
    dataset = _dataset(parent.dataset, as_influence_of(spec.key_origins(), GROUP_BY, spec.description))
    return FrameLineage(cols, dataset, parent.notes, key_index(spec))


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A Rolling/Expanding/ExponentialMovingWindow object: its parent, ordering and partition keys."""

    parent: FrameLineage
    kind: str  # "rolling", "expanding", "ewm"
    order: Origins = field(default_factory=dict)  # `on=` column or the index the window runs along
    keys: tuple[tuple[Label, Origins], ...] = ()  # groupby(...).rolling partition keys
    selection: tuple[Label, ...] | None = None
    excluded: tuple[Label, ...] = ()

    def selected(self, labels: Sequence[Label]) -> WindowSpec:
        return WindowSpec(self.parent, self.kind, self.order, self.keys, tuple(labels), self.excluded)


def window_reduce(spec: WindowSpec, out_labels: Sequence[Label], step: Transform, description: str,
                  result_is_series: bool = False, series_name: Label | None = None) -> FrameLineage:
    """rolling/expanding/ewm aggregations: AGGREGATION of the same column over the window; the window's ordering
    column and partition keys are WINDOW influences of each output column."""
    parent = spec.parent
    values = list(spec.selection) if spec.selection is not None else \
        [label for label in parent.columns if label not in set(spec.excluded)]
    value_set = set(values)
    key_origins = merge(*(o for _, o in spec.keys))
    window = as_influence_of(merge(spec.order, key_origins), WINDOW, description)
    cols: dict[Label, Origins] = {}
    labels = [series_name] if result_is_series else list(out_labels)
    for label in labels:
        if not result_is_series and _hashable(label) and label in spec.excluded:
            cols[label] = resolve(parent, label)  # the `on=` column is passed through
            continue
        src = _source_label(label, value_set, values, result_is_series)
        cols[label] = merge(*(chain(resolve(parent, s), step) for s in (src or values)), window)
    index = dict(spec.keys)
    index.update(parent.index)
    return FrameLineage(cols, parent.dataset, parent.notes, index if spec.keys else parent.index)


def sequential(lin: FrameLineage, out_labels: Sequence[Label], step: Transform, description: str) -> FrameLineage:
    """cumsum / diff / shift / pct_change / rank on a frame or Series: each column from itself along the row
    order; the index (if it carries lineage, e.g. a date set as index) is the WINDOW ordering."""
    window = as_influence_of(index_origins(lin), WINDOW, description)
    return keep(lin, out_labels, step=step, extra_all=window or None)


# ---------------------------------------------------------------------------------------------- reshaping
def pivot(parent: FrameLineage, out_labels: Sequence[Label], *, index_keys: Sequence[tuple[Label, Origins]],
          column_keys: Origins, values: Sequence[Label], step: Transform, description: str) -> FrameLineage:
    """pivot / pivot_table: each output column holds one value column (found in the label's parts), the index
    and column keys group the rows (GROUP_BY)."""
    value_set = set(values)
    cols: dict[Label, Origins] = {}
    note = None
    for label in out_labels:
        src = _source_label(label, value_set, values, False)
        if src is None:
            note = f"over-approximated: {description} column not matched to one value column"
            src = list(values)
        cols[label] = merge(*(chain(resolve(parent, s), step) for s in src))
    keys = merge(*(o for _, o in index_keys), column_keys)
    dataset = _dataset(parent.dataset, as_influence_of(keys, GROUP_BY, description))
    index = {name: merge(o, as_influence_of(o, GROUP_BY, description)) for name, o in index_keys}
    return FrameLineage(cols, dataset, _notes(parent, extra=note), index)


def melt(lin: FrameLineage, out_labels: Sequence[Label], *, id_vars: Sequence[Label],
         value_vars: Sequence[Label], var_name: Label, value_name: Label) -> FrameLineage:
    """melt: id columns IDENTITY; the value column holds every melted column's values; the variable column
    names which melted column a row came from (a TRANSFORMATION of those columns, described as such)."""
    values = merge(*(resolve(lin, v) for v in value_vars))
    names_of = chain(values, transform(DIRECT, TRANSFORMATION, False, "melt: names of the melted columns"))
    cols: dict[Label, Origins] = {}
    ids = set(id_vars)
    for label in out_labels:
        if label in ids:
            cols[label] = resolve(lin, label)
        elif label == value_name:
            cols[label] = values
        elif label == var_name:
            cols[label] = names_of
        else:
            cols[label] = resolve(lin, label)
    return FrameLineage(cols, lin.dataset, lin.notes, {})


def stack(lin: FrameLineage, out_labels: Sequence[Label], series: bool, name: Label = None) -> FrameLineage:
    """stack: columns move into the rows; a Series result holds every column's values; a frame result (from
    MultiIndex columns) keeps the columns sharing the remaining label parts."""
    index = dict(lin.index)
    index.setdefault(None, {})
    if series:
        return FrameLineage({name: union_all(lin.columns.values())}, lin.dataset, lin.notes, index)
    cols: dict[Label, Origins] = {}
    for label in out_labels:
        parts = label if isinstance(label, tuple) else (label,)
        hits = [o for key, o in lin.columns.items()
                if isinstance(key, tuple) and all(p in key for p in parts)]
        cols[label] = union_all(hits) if hits else resolve(lin, label)
    return FrameLineage(cols, lin.dataset, lin.notes, index)


def unstack(lin: FrameLineage, out_labels: Sequence[Label], level: Label | int, series: bool) -> FrameLineage:
    """unstack: an index level becomes the columns. A Series' values fill every new column; a frame's column
    is the first part of each new (column, level value) label. The level's own lineage groups the layout."""
    levels = list(lin.index.items())
    moved: Origins = EMPTY
    kept = dict(lin.index)
    if levels:
        position = level if isinstance(level, int) else next(
            (i for i, (name, _) in enumerate(levels) if name == level), len(levels) - 1)
        try:
            name, moved = levels[position]
            kept.pop(name, None)
        except IndexError:
            pass
    cols: dict[Label, Origins] = {}
    values = values_of(lin) if series else None
    for label in out_labels:
        cols[label] = values if values is not None else resolve(lin, label)
    dataset = _dataset(lin.dataset, as_influence_of(moved, GROUP_BY, "unstack"))
    return FrameLineage(cols, dataset, lin.notes, kept)


def dummies(lin: FrameLineage, out_labels: Sequence[Label], encoded: Sequence[Label],
            prefixes: Mapping[Label, str], separator: str) -> FrameLineage:
    """get_dummies: each indicator column from the column it encodes (matched by its prefix), other columns
    IDENTITY. A Series input (no prefix) feeds every indicator."""
    encode = transform(DIRECT, TRANSFORMATION, False, "get_dummies: one-hot encoding")
    encoded_set = set(encoded)
    by_prefix = sorted(((f"{prefixes.get(c, c)}{separator}", c) for c in encoded), key=lambda p: -len(p[0]))
    cols: dict[Label, Origins] = {}
    note = None
    for label in out_labels:
        if _hashable(label) and label in lin.columns and label not in encoded_set:
            cols[label] = lin.columns[label]
            continue
        text = str(label)
        src = next((c for prefix, c in by_prefix if text.startswith(prefix)), None)
        if src is None and len(encoded) == 1:
            src = encoded[0]
        if src is None:
            note = "over-approximated: get_dummies column not matched to its source"
            cols[label] = chain(merge(*(resolve(lin, c) for c in encoded)), encode)
        else:
            cols[label] = chain(resolve(lin, src), encode)
    return FrameLineage(cols, lin.dataset, _notes(lin, extra=note), lin.index)


def transpose(lin: FrameLineage, out_labels: Sequence[Label]) -> FrameLineage:
    """transpose: every output column holds one value of every input column. Correct at column level but
    coarse (no cell-level placement): recorded as an approximation."""
    every = union_all(lin.columns.values())
    return FrameLineage({label: every for label in out_labels}, lin.dataset,
                        _notes(lin, extra="approximated: transpose (each column from every input column)"), {})


def explode(lin: FrameLineage, out_labels: Sequence[Label], exploded: Sequence[Label]) -> FrameLineage:
    """explode: list elements of the exploded columns (TRANSFORMATION); the other columns repeat (IDENTITY)."""
    step = transform(DIRECT, TRANSFORMATION, False, "explode: list elements")
    return keep(lin, out_labels, step=step, only=exploded)


# ---------------------------------------------------------------------------------------------- expressions
_BACKTICK = re.compile(r"`([^`]*)`")
_LOCAL = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Expression:
    """The names a query/eval string reads, per statement: [(assigned name or None, names read)]."""

    statements: tuple[tuple[str | None, frozenset[str]], ...]

    def names(self) -> frozenset[str]:
        out: set[str] = set()
        for _, names in self.statements:
            out |= names
        return frozenset(out)


@lru_cache(maxsize=512)
def parse_expression(expr: str) -> Expression:
    """Column names referenced by a pandas query/eval expression.

    Backtick-quoted names (`my col`) are mapped back to the real labels; `@local` variables are not columns.
    Multi-line eval assignments (`c = a + b`) are kept in order so later lines can read earlier results."""
    quoted: dict[str, str] = {}

    def _quote(match: re.Match[str]) -> str:
        placeholder = f"__bq_{len(quoted)}__"
        quoted[placeholder] = match.group(1)
        return placeholder

    text = _BACKTICK.sub(_quote, expr)
    text = _LOCAL.sub(lambda m: f"__local_{m.group(1)}", text)
    statements: list[tuple[str | None, frozenset[str]]] = []
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except SyntaxError:
        found = {quoted.get(n, n) for n in _IDENT.findall(text) if not n.startswith("__local_")}
        return Expression(((None, frozenset(found)),))
    for stmt in tree.body:
        target: str | None = None
        value: ast.AST = stmt
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target = quoted.get(stmt.targets[0].id, stmt.targets[0].id)
            value = stmt.value
        names = frozenset(quoted.get(node.id, node.id) for node in ast.walk(value)
                          if isinstance(node, ast.Name) and not node.id.startswith("__local_"))
        statements.append((target, names))
    return Expression(tuple(statements))


def expression_origins(lin: FrameLineage, names: Iterable[str], step: Transform = TRANSFORM) -> Origins:
    """Origins of the columns (and named index levels, or `index`) an expression reads."""
    parts: list[Origins] = []
    for name in names:
        if name in lin.columns:
            parts.append(chain(lin.columns[name], step))
        elif name in lin.index or (name == "index" and lin.index):
            parts.append(chain(lin.index.get(name) or index_origins(lin), step))
    return merge(*parts)


def eval_assign(lin: FrameLineage, expr: Expression, out_labels: Sequence[Label]) -> FrameLineage:
    """`df.eval("c = a + b")`: each assignment adds/overwrites a column computed from the names it reads."""
    current = lin
    for target, names in expr.statements:
        if target is None:
            continue
        current = set_column(current, target, expression_origins(current, names))
    return keep(current, out_labels)


__all__ = [
    "AGGREGATE",
    "CAST",
    "EMPTY",
    "MASKED_AGGREGATE",
    "TRANSFORM",
    "Expression",
    "GroupSpec",
    "WindowSpec",
    "aggregation_step",
    "as_influence_of",
    "chain",
    "column",
    "combine_values",
    "concat_columns",
    "concat_rows",
    "concat_series_rows",
    "conditional_update",
    "dummies",
    "elementwise",
    "eval_assign",
    "explode",
    "expression_origins",
    "filter_rows",
    "frame_from_parts",
    "group_apply",
    "group_filter",
    "group_reduce",
    "group_rows",
    "group_window",
    "index_origins",
    "influence",
    "keep",
    "key_index",
    "melt",
    "merge",
    "merge_frames",
    "new_influences",
    "parse_expression",
    "pivot",
    "positional",
    "reduce_frame",
    "relabel_index",
    "reset_index",
    "resolve",
    "row_series",
    "sequential",
    "set_column",
    "set_index",
    "single",
    "stack",
    "to_series_of",
    "transform",
    "transpose",
    "union_all",
    "unstack",
    "values_of",
    "window_reduce",
]
