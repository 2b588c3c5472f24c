"""Hooks on `pickle.load`/`pickle.dump` and `joblib.load`/`joblib.dump`: files holding frames, arrays, models.

`dumps`/`loads` (bytes, no file) are not datasets and are left alone.
"""

from __future__ import annotations

from typing import Any

from openlineage_pandas.hooks._io import record_read, record_write
from openlineage_pandas.hooks._patching import HookedCall, Instrumentor

# Builders of extra facets/lineage for special objects (e.g. fitted estimators), registered by other hooks:
# fn(obj) -> (lineage | None, columns | None, extra_facets) or None when the object is not theirs.
OBJECT_DESCRIBERS: list[Any] = []


def _describe(obj: Any) -> tuple[Any, Any, dict[str, Any]]:
    for describer in OBJECT_DESCRIBERS:
        described = describer(obj)
        if described is not None:
            return described  # type: ignore[no-any-return]
    return None, None, {}


def _dump(label: str, file_format: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        obj = call.argument(0, "obj" if label.startswith("pickle") else "value")
        target = call.argument(1, "file" if label.startswith("pickle") else "filename")
        lineage, columns, facets = _describe(obj)
        record_write(label, target, obj, file_format, lineage=lineage, columns=columns, extra_facets=facets)

    return record


def _load(label: str, file_format: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        record_read(label, call.target, result, file_format)

    return record


class PickleInstrumentor(Instrumentor):
    """The standard library's pickle file functions."""

    name = "pickle"
    module = "pickle"

    def _instrument(self) -> None:
        import pickle

        self.patch(pickle, "dump", _dump("pickle.dump", "pickle"), label="pickle.dump")
        self.patch(pickle, "load", _load("pickle.load", "pickle"), label="pickle.load")


class JoblibInstrumentor(Instrumentor):
    """joblib's persistence functions (an optional dependency, instrumented when it is imported)."""

    name = "joblib"
    module = "joblib"

    def _instrument(self) -> None:
        import joblib

        self.patch(joblib, "dump", _dump("joblib.dump", "joblib"), label="joblib.dump")
        self.patch(joblib, "load", _load("joblib.load", "joblib"), label="joblib.load")
