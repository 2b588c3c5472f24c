"""Hooks on numpy file I/O: `load`, `loadtxt`, `genfromtxt`, `save`, `savez`, `savez_compressed`, `savetxt`.

An array keeps its per-column provenance (when it came from a tracked frame) into the file's schema.
"""

from __future__ import annotations

from typing import Any

from openlineage_pandas.hooks._io import columns_of, merged_lineage, record_read, record_write
from openlineage_pandas.hooks._patching import HookedCall, Instrumentor
from openlineage_pandas.provenance.registry import lineage_table

READERS = {"load": "npy", "loadtxt": "text", "genfromtxt": "text"}


def _reader(name: str, file_format: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        fmt = "npz" if type(result).__name__ == "NpzFile" else file_format
        if fmt == "npz":
            # NpzFile loads members lazily; its schema is the member names, no array is read by us.
            from openlineage_pandas.naming import dataset_for_target
            from openlineage_pandas.run import DatasetRecord, OperationEntry, current_run

            run, ref = current_run(), dataset_for_target(call.target)
            if run is not None and ref is not None:
                run.record_input(DatasetRecord(ref, [(k, "ndarray") for k in result.files], fmt,
                                               operation=f"numpy.{name}"))
                run.record_operation(OperationEntry(f"numpy.{name}", None, None, None, list(result.files), []))
            return
        record_read(f"numpy.{name}", call.target, result, fmt)

    return record


def _save(call: HookedCall, result: Any) -> None:
    arr = call.argument(1, "arr")
    record_write("numpy.save", call.target, arr, "npy")


def _savetxt(call: HookedCall, result: Any) -> None:
    record_write("numpy.savetxt", call.target, call.argument(1, "X"), "text")


def _savez(name: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        parts: dict[Any, Any] = {f"arr_{i}": a for i, a in enumerate(call.args[1:])}
        parts.update({k: v for k, v in call.kwargs.items() if k not in ("file", "allow_pickle")})
        columns = [(key, getattr(value, "dtype", "object")) for key, value in parts.items()]
        record_write(f"numpy.{name}", call.target, None, "npz", lineage=merged_lineage(parts), columns=columns)

    return record


class NumpyIOInstrumentor(Instrumentor):
    """numpy file readers and writers."""

    name = "numpy-io"
    module = "numpy"

    def _instrument(self) -> None:
        import numpy as np

        for reader, fmt in READERS.items():
            self.patch(np, reader, _reader(reader, fmt), label=f"numpy.{reader}")
        self.patch(np, "save", _save, label="numpy.save")
        self.patch(np, "savetxt", _savetxt, label="numpy.savetxt")
        self.patch(np, "savez", _savez("savez"), label="numpy.savez")
        self.patch(np, "savez_compressed", _savez("savez_compressed"), label="numpy.savez_compressed")


__all__ = ["NumpyIOInstrumentor", "columns_of", "lineage_table"]
