"""Shared recording for file hooks: what a read or written object looks like as a dataset of the current run.

Costs O(columns) per call: dtypes and shape only, a stat() of local files, never a pass over the rows.
"""

from __future__ import annotations

import os
from collections.abc import Hashable
from typing import Any

from openlineage_pandas.naming import DatasetRef, dataset_for_target
from openlineage_pandas.provenance.model import (
    DIRECT,
    IDENTITY,
    FrameLineage,
    SourceField,
    Transform,
    field_name,
    merge_origins,
    source_lineage,
)
from openlineage_pandas.provenance.registry import lineage_table
from openlineage_pandas.run import DatasetRecord, OperationEntry, current_run

_MAX_ARRAY_FIELDS = 1000
NAME_MATCHED_T = Transform(DIRECT, IDENTITY, description="matched by column name: no in-memory provenance")


def _local_size(ref: DatasetRef) -> int | None:
    if ref.namespace != "file":
        return None
    try:
        return os.stat(ref.name).st_size
    except OSError:
        return None


def columns_of(obj: Any) -> list[tuple[Hashable, Any]]:
    """(label, dtype) pairs for a DataFrame, Series, ndarray, npz-like mapping, or nothing."""
    import sys

    pd = sys.modules.get("pandas")
    np = sys.modules.get("numpy")
    if pd is not None:
        if isinstance(obj, pd.DataFrame):
            return list(zip(obj.columns, obj.dtypes, strict=False))
        if isinstance(obj, pd.Series):
            return [(obj.name if obj.name is not None else "value", obj.dtype)]
    if np is not None and isinstance(obj, np.ndarray):
        lineage = lineage_table.get(obj)
        if obj.ndim == 2 and obj.shape[1] <= _MAX_ARRAY_FIELDS:
            labels = list(lineage.columns) if lineage is not None and len(lineage.columns) == obj.shape[1] \
                else list(range(obj.shape[1]))
            return [(label, obj.dtype) for label in labels]
        return [("value", obj.dtype)]
    return []


def named_index_levels(obj: Any) -> list[tuple[Hashable, Any]]:
    """(name, dtype) of a frame's or Series' named index levels: columns in files written with the index."""
    index = getattr(obj, "index", None)
    names = list(getattr(index, "names", None) or [])
    if not names or all(name is None for name in names):
        return []
    dtypes = list(index.dtypes) if len(names) > 1 else [index.dtype]  # type: ignore[union-attr]
    return [(name, dtype) for name, dtype in zip(names, dtypes, strict=False) if name is not None]


def with_index_columns(obj: Any, columns: list[tuple[Hashable, Any]], lineage: FrameLineage | None
                       ) -> tuple[list[tuple[Hashable, Any]], FrameLineage | None]:
    """Put the named index levels first, as the writer does, with their lineage from the index."""
    levels = [(name, dtype) for name, dtype in named_index_levels(obj)
              if name not in {label for label, _ in columns}]
    if not levels:
        return columns, lineage
    if lineage is not None:
        level_origins = {name: dict(lineage.index.get(name, {})) for name, _ in levels}
        lineage = FrameLineage({**level_origins, **lineage.columns}, lineage.dataset, lineage.notes,
                               lineage.index)
    return levels + columns, lineage


def row_count_of(obj: Any) -> int | None:
    shape = getattr(obj, "shape", None)
    if isinstance(shape, tuple) and shape:
        return int(shape[0])
    return None


def shape2(obj: Any) -> tuple[int, int] | None:
    shape = getattr(obj, "shape", None)
    if not isinstance(shape, tuple):
        return None
    if len(shape) == 1:
        return (int(shape[0]), 1)
    if len(shape) >= 2:
        return (int(shape[0]), int(shape[1]))
    return None


def lineage_of(obj: Any) -> FrameLineage | None:
    lineage = lineage_table.get(obj)
    if lineage is None:
        return None
    # keyed the way the writer names fields (relabelled frames, renamed or unnamed Series, 1-D arrays)
    import sys

    ops = sys.modules.get("openlineage_pandas.hooks.pandas_ops")
    return ops.aligned_lineage(obj, lineage) if ops is not None else lineage


def name_matched_lineage(columns: list[tuple[Hashable, Any]]) -> FrameLineage | None:
    """Fallback for frames with no provenance: link output columns to same-named input columns of the run,
    saying so in the transformation description (an over-approximation, never a silent drop)."""
    run = current_run()
    if run is None:
        return None
    with run._lock:
        inputs = list(run.inputs.values())
    by_field: dict[str, list[SourceField]] = {}
    for record in inputs:
        for name in record.field_names:
            by_field.setdefault(name, []).append(SourceField(record.ref.namespace, record.ref.name, name))
    matched: dict[Hashable, dict[SourceField, frozenset[Transform]]] = {}
    ident = frozenset({NAME_MATCHED_T})
    for label, _ in columns:
        sources = by_field.get(field_name(label))
        if sources:
            matched[label] = {src: ident for src in sources}
    if not matched:
        return None
    return FrameLineage(matched, notes=("name-matched lineage: object had no in-memory provenance",))


def with_known_columns(run: Any, ref: DatasetRef, columns: list[tuple[Hashable, Any]]) -> list[tuple[Hashable, Any]]:
    """`columns` plus those an earlier read of the same dataset in this run declared (e.g. another `usecols`):
    replacing the schema would make lineage already recorded from the first read unresolvable."""
    with run._lock:
        prior = run.inputs.get(ref.key)
    if prior is None:
        return columns
    known = {field_name(label) for label, _ in columns}
    return [*columns, *((label, d) for label, d in prior.columns if field_name(label) not in known)]


def record_read(operation: str, target: Any, result: Any, file_format: str | None) -> None:
    """Declare `target` as an input of the current run and give `result` source lineage."""
    run = current_run()
    if run is None:
        return
    ref = target if isinstance(target, DatasetRef) else dataset_for_target(target)  # SQL hooks name tables
    frames = list(result.values()) if isinstance(result, dict) else [result]
    columns: list[tuple[Hashable, Any]] = []
    for frame in frames:
        columns.extend(named_index_levels(frame))  # e.g. read_csv(index_col="id"): still a field of the file
        columns.extend(columns_of(frame))
    if ref is None:
        run.record_operation(OperationEntry(f"{operation}(<in-memory buffer>)", None, shape2(result), None,
                                            [], []))
        return
    rows = row_count_of(result) if not isinstance(result, dict) else None
    run.record_input(DatasetRecord(ref, with_known_columns(run, ref, columns), file_format, rows, _local_size(ref),
                                   operation=operation))
    for frame in frames:
        labels = [label for label, _ in columns_of(frame)]
        levels = [name for name, _ in named_index_levels(frame)]
        if labels or levels:
            lineage = source_lineage(ref.namespace, ref.name, labels)
            if levels:
                lineage.index.update(source_lineage(ref.namespace, ref.name, levels).columns)
            lineage_table.set(frame, lineage)
            if type(frame).__name__ == "ndarray" and getattr(frame, "base", None) is not None:
                # np.load returns a reshaped view: index it under its memory owner so slices stay tracked
                from openlineage_pandas.hooks.numpy_ops import register_array

                register_array(frame, lineage)
    run.record_operation(OperationEntry(operation, None, shape2(result), None,
                                        [field_name(c) for c, _ in columns][:50], []))


def record_write(operation: str, target: Any, obj: Any, file_format: str | None,
                 lineage: FrameLineage | None = None, columns: list[tuple[Hashable, Any]] | None = None,
                 extra_facets: dict[str, Any] | None = None, include_index: bool = False) -> None:
    """Declare `target` as an output of the current run (emits RUNNING) with schema and column lineage."""
    run = current_run()
    if run is None:
        return
    ref = target if isinstance(target, DatasetRef) else dataset_for_target(target)  # SQL hooks name tables
    if ref is None:
        run.record_operation(OperationEntry(f"{operation}(<in-memory buffer>)", shape2(obj), None, None, [], []))
        return
    cols = columns if columns is not None else columns_of(obj)
    if lineage is None:
        lineage = lineage_of(obj)
    if include_index:
        cols, lineage = with_index_columns(obj, cols, lineage)
    if lineage is None:
        lineage = name_matched_lineage(cols)
    record = DatasetRecord(ref, cols, file_format, row_count_of(obj), _local_size(ref), lineage,
                           extra_facets or {}, operation)
    run.record_operation(OperationEntry(operation, shape2(obj), None, None, [], [],
                                        approximated=bool(lineage and lineage.notes)))
    run.record_output(record)


def merged_lineage(parts: dict[Hashable, Any]) -> FrameLineage | None:
    """Lineage of a container (npz, dict of arrays) whose fields are whole tracked objects."""
    columns: dict[Hashable, dict[SourceField, frozenset[Transform]]] = {}
    dataset: list[Any] = []
    notes: list[str] = []
    for key, value in parts.items():
        lin = lineage_table.get(value)
        if lin is None:
            continue
        columns[key] = merge_origins(*lin.columns.values())
        dataset.append(lin.dataset)
        notes.extend(lin.notes)
    if not columns:
        return None
    return FrameLineage(columns, merge_origins(*dataset), tuple(dict.fromkeys(notes)))
