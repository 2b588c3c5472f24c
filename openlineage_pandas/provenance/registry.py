"""The weak side table from live objects (DataFrame, Series, ndarray, estimator) to their provenance.

Keyed by object identity with a weak reference whose callback prunes the entry, so the tracker never keeps a
user's frame alive and a new object can never inherit a dead one's lineage. Never stored in `DataFrame.attrs`.
"""

from __future__ import annotations

import gc
import threading
import weakref
from typing import Any, Generic, TypeVar

from openlineage_pandas.provenance.deferred import Deferred

V = TypeVar("V")

# The instance attribute holding an attribute-carrying object's entry.
ATTRIBUTE = "_openlineage_pandas_lineage"


class WeakSideTable(Generic[V]):
    """id(obj) -> (weakref(obj), value); entries vanish when the object is collected."""

    def __init__(self) -> None:
        # id(obj) -> (weakref, value). Public for reading only: hot paths test it for emptiness without a call.
        self.entries: dict[int, tuple[weakref.ref[Any], V]] = {}
        self._lock = threading.Lock()

    def _make_remover(self, key: int) -> Any:
        entries = self.entries

        def remove(ref: weakref.ref[Any]) -> None:
            current = entries.get(key)
            if current is not None and current[0] is ref:
                entries.pop(key, None)

        return remove

    def set(self, obj: Any, value: V) -> bool:
        """Attach `value` to `obj`; False when `obj` cannot be weakly referenced (then nothing is kept)."""
        key = id(obj)
        try:
            ref = weakref.ref(obj, self._make_remover(key))
        except TypeError:
            return False
        with self._lock:
            self.entries[key] = (ref, value)
        return True

    def get(self, obj: Any) -> V | None:
        entry = self.entries.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def discard(self, obj: Any) -> None:
        with self._lock:
            entry = self.entries.get(id(obj))
            if entry is not None and entry[0]() is obj:
                del self.entries[id(obj)]

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()


class LineageTable(WeakSideTable[Any]):
    """The provenance table: values are FrameLineage or a not-yet-evaluated `Deferred` thunk.

    Objects of the `attribute_types` (exactly DataFrame and Series, bound when pandas is imported) carry their
    entry in their own instance `__dict__`: no weak reference, no lock, and it dies with the object. pandas
    neither copies nor pickles that dict (`__getstate__` and `__finalize__` name their fields), which is why
    subclasses and other types, whose pickling may include `__dict__`, stay in the weak table.

    `get` always answers with evaluated lineage (and keeps it); `peek` hands out the thunk itself, for rules
    that only pass their input's lineage on to a new thunk."""

    def __init__(self) -> None:
        super().__init__()
        self.attribute_types: frozenset[type] = frozenset()
        self.generation = 0  # bumped by clear(): entries of an older generation are ignored

    def set(self, obj: Any, value: Any) -> bool:
        if type(obj) in self.attribute_types:
            obj.__dict__[ATTRIBUTE] = (self.generation, value)
            return True
        return super().set(obj, value)

    def peek(self, obj: Any) -> Any:
        if type(obj) in self.attribute_types:
            entry = obj.__dict__.get(ATTRIBUTE)
            if entry is None or entry[0] != self.generation:
                return None
            return entry[1]
        weak = self.entries.get(id(obj))
        if weak is None or weak[0]() is not obj:
            return None
        return weak[1]

    def get(self, obj: Any) -> Any:
        value = self.peek(obj)
        if type(value) is Deferred:
            token = value.token
            forced = value.force()
            if token is not None:
                forced.token = token
            if self.peek(obj) is value:
                self.set(obj, forced)
            return forced
        return value

    def discard(self, obj: Any) -> None:
        if type(obj) in self.attribute_types:
            obj.__dict__.pop(ATTRIBUTE, None)
            return
        super().discard(obj)

    def __len__(self) -> int:
        """Live tracked objects (scans the heap for the attribute-carrying ones: for tests and benchmarks)."""
        carried = 0
        if self.attribute_types:
            for obj in gc.get_objects():
                if type(obj) in self.attribute_types:
                    entry = obj.__dict__.get(ATTRIBUTE)
                    carried += entry is not None and entry[0] == self.generation
        return super().__len__() + carried

    def clear(self) -> None:
        self.generation += 1
        super().clear()


# The process-wide provenance table.
lineage_table = LineageTable()


def tracked_object_count() -> int:
    """How many live objects carry provenance (benchmarks use this to prove nothing accumulates)."""
    return len(lineage_table)
