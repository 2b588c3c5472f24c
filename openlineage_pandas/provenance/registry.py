"""The weak side table from live objects (DataFrame, Series, ndarray, estimator) to their provenance.

Keyed by object identity with a weak reference whose callback prunes the entry, so the tracker never keeps a
user's frame alive and a new object can never inherit a dead one's lineage. Never stored in `DataFrame.attrs`.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class WeakSideTable(Generic[V]):
    """id(obj) -> (weakref(obj), value); entries vanish when the object is collected."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], V]] = {}
        self._lock = threading.Lock()

    def _make_remover(self, key: int) -> Any:
        entries = self._entries

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
            self._entries[key] = (ref, value)
        return True

    def get(self, obj: Any) -> V | None:
        entry = self._entries.get(id(obj))
        if entry is None or entry[0]() is not obj:
            return None
        return entry[1]

    def discard(self, obj: Any) -> None:
        with self._lock:
            entry = self._entries.get(id(obj))
            if entry is not None and entry[0]() is obj:
                del self._entries[id(obj)]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# The process-wide provenance table; values are provenance.model.FrameLineage (kept generic to stay pure).
lineage_table: WeakSideTable[Any] = WeakSideTable()


def tracked_object_count() -> int:
    """How many live objects carry provenance (benchmarks use this to prove nothing accumulates)."""
    return len(lineage_table)
