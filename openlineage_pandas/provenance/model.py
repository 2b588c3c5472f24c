"""The column-lineage algebra: origins of columns, OpenLineage transformation types and how they compose.

Pure data and functions: no pandas import, no patching, so every rule can be unit-tested with plain values.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

DIRECT = "DIRECT"
INDIRECT = "INDIRECT"

IDENTITY = "IDENTITY"
TRANSFORMATION = "TRANSFORMATION"
AGGREGATION = "AGGREGATION"
FILTER = "FILTER"
JOIN = "JOIN"
GROUP_BY = "GROUP_BY"
SORT = "SORT"
WINDOW = "WINDOW"
CONDITIONAL = "CONDITIONAL"

DIRECT_SUBTYPES = (IDENTITY, TRANSFORMATION, AGGREGATION)
INDIRECT_SUBTYPES = (FILTER, JOIN, GROUP_BY, SORT, WINDOW, CONDITIONAL)
_DIRECT_STRENGTH = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}


class _TransformFields(NamedTuple):
    type: str
    subtype: str
    masking: bool = False
    description: str | None = None


class Transform(_TransformFields):
    """How an input field influences a value: OpenLineage's (type, subtype, masking) triple.

    An immutable named tuple: hashing and equality run in C, which matters because transforms are hashed on
    every set and dict operation of the per-operation hot path."""

    __slots__ = ()

    def __new__(cls, type: str, subtype: str, masking: bool = False,
                description: str | None = None) -> Transform:
        if type == DIRECT and subtype not in DIRECT_SUBTYPES:
            raise ValueError(f"DIRECT subtype must be one of {DIRECT_SUBTYPES}, got {subtype!r}")
        if type == INDIRECT and subtype not in INDIRECT_SUBTYPES:
            raise ValueError(f"INDIRECT subtype must be one of {INDIRECT_SUBTYPES}, got {subtype!r}")
        if type not in (DIRECT, INDIRECT):
            raise ValueError(f"transformation type must be DIRECT or INDIRECT, got {type!r}")
        return super().__new__(cls, type, subtype, masking, description)

    def __getnewargs__(self) -> tuple[str, str, bool, str | None]:
        return (self.type, self.subtype, self.masking, self.description)

    @property
    def is_direct(self) -> bool:
        return self.type == DIRECT

    def then(self, later: Transform) -> Transform:
        """This transform followed by `later` (Spark's chain rule).

        INDIRECT wins over DIRECT; among DIRECT the strongest wins (AGGREGATION > TRANSFORMATION > IDENTITY);
        between two INDIRECT the later one describes the outermost effect; masking carries through.
        """
        masking = self.masking or later.masking
        if self.type == INDIRECT and later.type == DIRECT:
            winner = self
        elif later.type == INDIRECT:
            winner = later
        else:
            winner = self if _DIRECT_STRENGTH[self.subtype] > _DIRECT_STRENGTH[later.subtype] else later
        if winner.masking == masking:
            return winner
        return Transform(winner.type, winner.subtype, masking, winner.description)


# Canonical instances, shared so equal transforms are the same object (cheap hashing, small memory).
IDENTITY_T = Transform(DIRECT, IDENTITY)
TRANSFORMATION_T = Transform(DIRECT, TRANSFORMATION)
AGGREGATION_T = Transform(DIRECT, AGGREGATION)
MASKED_TRANSFORMATION_T = Transform(DIRECT, TRANSFORMATION, masking=True)
MASKED_AGGREGATION_T = Transform(DIRECT, AGGREGATION, masking=True)
FILTER_T = Transform(INDIRECT, FILTER)
JOIN_T = Transform(INDIRECT, JOIN)
GROUP_BY_T = Transform(INDIRECT, GROUP_BY)
SORT_T = Transform(INDIRECT, SORT)
WINDOW_T = Transform(INDIRECT, WINDOW)
CONDITIONAL_T = Transform(INDIRECT, CONDITIONAL)


class SourceField(NamedTuple):
    """A column of an input dataset, as OpenLineage names it.

    A named tuple: it keys every origins dict, so its hash and equality run in C."""

    namespace: str
    name: str
    field: str


# For one value (a column): which source fields feed it, and every distinct way each one does.
Origins = Mapping[SourceField, frozenset[Transform]]

EMPTY_ORIGINS: Origins = {}


def merge_origins(*many: Origins) -> dict[SourceField, frozenset[Transform]]:
    """Union of several origin maps (a value computed from several inputs)."""
    merged: dict[SourceField, frozenset[Transform]] = {}
    total = 0
    for origins in many:
        merged.update(origins)
        total += len(origins)
    if total == len(merged):  # no source in two inputs (the common case): the C-level updates were enough
        return merged
    merged.clear()
    for origins in many:
        for src, transforms in origins.items():
            prior = merged.get(src)
            if prior is None:
                merged[src] = transforms
            elif prior is not transforms and prior != transforms:
                merged[src] = prior | transforms
    return merged


def apply_transform(origins: Origins, step: Transform) -> dict[SourceField, frozenset[Transform]]:
    """Origins of a value obtained by applying `step` to a value with `origins`."""
    if step is IDENTITY_T:
        return dict(origins)
    return {src: frozenset(t.then(step) for t in ts) for src, ts in origins.items()}


def as_influence(origins: Origins, step: Transform) -> dict[SourceField, frozenset[Transform]]:
    """Origins of an INDIRECT influence: the sources of a filter mask, join key, sort key, etc.

    The influence's own history is replaced by `step` (an INDIRECT influence is what it is, whatever
    computed the key), keeping masking.
    """
    plain = frozenset({step})
    if _UNMASKED.issuperset(origins.values()):  # no masking anywhere (the usual case): one C-level call
        return dict.fromkeys(origins, plain)
    masked_set: frozenset[Transform] | None = None
    out: dict[SourceField, frozenset[Transform]] = {}
    for src, ts in origins.items():
        masked = _MASKED.get(ts)
        if masked is None:
            masked = any(t.masking for t in ts)
            if len(_MASKED) > 4096:
                _MASKED.clear()
                _UNMASKED.clear()
            _MASKED[ts] = masked
            if not masked:
                _UNMASKED.add(ts)
        if masked:
            if masked_set is None:
                masked_set = frozenset({Transform(step.type, step.subtype, True, step.description)})
            out[src] = masked_set
        else:
            out[src] = plain
    return out


# Whether a transform set involves masking, memoised (sets are shared and their hash is cached).
_MASKED: dict[frozenset[Transform], bool] = {}
_UNMASKED: set[frozenset[Transform]] = set()


@dataclass(slots=True)
class FrameLineage:
    """Provenance of one tracked object (DataFrame, Series or ndarray).

    `columns` maps each column label to its origins, in column order. `dataset` holds frame-wide INDIRECT
    influences (filters, join/sort/group keys) that affect every row. `notes` records over-approximations
    so the emitted facet can say so. `index` maps each index level name to its origins, so a column moved
    into the index (set_index, groupby keys) comes back with its lineage (reset_index). `token` is opaque to
    this module: hooks store the object's column axis there to notice relabelling they did not see
    (`df.columns = [...]`); it takes no part in equality.
    """

    columns: dict[Hashable, dict[SourceField, frozenset[Transform]]] = field(default_factory=dict)
    dataset: dict[SourceField, frozenset[Transform]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    index: dict[Hashable, dict[SourceField, frozenset[Transform]]] = field(default_factory=dict)
    token: object = field(default=None, compare=False, repr=False)

    def copy(self) -> FrameLineage:
        return FrameLineage(dict(self.columns), dict(self.dataset), self.notes, dict(self.index))

    def origins_of(self, label: Hashable) -> Origins:
        return self.columns.get(label, EMPTY_ORIGINS)

    def all_origins(self) -> dict[SourceField, frozenset[Transform]]:
        """Every source that feeds any column (used when an operation mixes all columns)."""
        return merge_origins(*self.columns.values())

    def with_influence(self, origins: Origins, step: Transform) -> FrameLineage:
        """A copy with an extra frame-wide INDIRECT influence."""
        return FrameLineage(dict(self.columns), merge_origins(self.dataset, as_influence(origins, step)), self.notes,
                            dict(self.index))

    def with_note(self, note: str) -> FrameLineage:
        if note in self.notes:
            return self
        return FrameLineage(self.columns, self.dataset, (*self.notes, note), self.index)


def source_lineage(namespace: str, name: str, labels: Iterable[Hashable]) -> FrameLineage:
    """Lineage of a frame just read from a dataset: every column is the IDENTITY of its namesake."""
    ident = frozenset({IDENTITY_T})
    return FrameLineage({label: {SourceField(namespace, name, field_name(label)): ident} for label in labels})


def field_name(label: Hashable) -> str:
    """The schema field name for a column label: strings as-is, tuples (MultiIndex) joined with '.'."""
    if isinstance(label, str):
        return label
    if isinstance(label, tuple):
        return ".".join(field_name(part) for part in label)
    return str(label)


def over_approximate(inputs: Iterable[FrameLineage], labels: Iterable[Hashable], operation: str) -> FrameLineage:
    """Lineage for an operation we do not understand: every output column depends on every input column,
    as INDIRECT, and the note names the operation. Lineage is never dropped silently."""
    sources: list[Origins] = []
    dataset: list[Origins] = []
    notes: list[str] = []
    for lin in inputs:
        sources.append(lin.all_origins())
        sources.extend(lin.index.values())
        dataset.append(lin.dataset)
        notes.extend(lin.notes)
    combined = merge_origins(*sources)
    step = Transform(INDIRECT, CONDITIONAL, description=f"over-approximated: {operation}")
    per_column = as_influence(combined, step)
    note = f"over-approximated: {operation}"
    return FrameLineage(
        {label: dict(per_column) for label in labels},
        merge_origins(*dataset),
        tuple(dict.fromkeys([*notes, note])),
    )
