"""Hooks on pandas readers (`read_csv`, `read_parquet`, ...) and writers (`DataFrame.to_*`, `Series.to_*`).

Every call form pandas accepts keeps working: positional, keyword (`path=`, `io=`, `path_or_buf=`) and **kwargs.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from openlineage_pandas.hooks._io import record_read, record_write
from openlineage_pandas.hooks._patching import HookedCall, Instrumentor

READERS: dict[str, str] = {
    "read_csv": "csv",
    "read_table": "text",
    "read_parquet": "parquet",
    "read_json": "json",
    "read_excel": "excel",
    "read_pickle": "pickle",
    "read_feather": "feather",
}

WRITERS: dict[str, str] = {
    "to_csv": "csv",
    "to_parquet": "parquet",
    "to_json": "json",
    "to_excel": "excel",
    "to_pickle": "pickle",
    "to_feather": "feather",
}


def _reader(name: str, file_format: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        if type(result).__name__ in ("TextFileReader", "JsonReader"):
            # chunked reading: the file is an input; its schema is unknown until consumed
            record_read(f"pandas.{name}", call.target, None, file_format)
            return
        record_read(f"pandas.{name}", call.target, result, file_format)

    return record


def _writer(owner_name: str, name: str, file_format: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        target = call.target
        if target is None:  # e.g. df.to_csv() returning a string: no dataset
            return
        # to_csv/to_excel/to_json/to_parquet write named index levels as columns unless index=False
        writes_index = call.kwargs.get("index", True) is not False and name not in ("to_pickle", "to_feather")
        record_write(f"{owner_name}.{name}", target, call.receiver, file_format, include_index=writes_index)

    return record


def _module_writer(name: str, file_format: str) -> Any:
    def record(call: HookedCall, result: Any) -> None:
        # pandas.to_pickle(obj, filepath_or_buffer, ...)
        record_write(f"pandas.{name}", call.argument(1, "filepath_or_buffer"), call.argument(0, "obj"),
                     file_format)

    return record


class PandasIOInstrumentor(Instrumentor):
    """pandas file readers and writers."""

    name = "pandas-io"
    module = "pandas"

    def _instrument(self) -> None:
        import pandas as pd

        self.instrument_module(pd)

    def instrument_module(self, pd: ModuleType) -> None:
        for reader, fmt in READERS.items():
            self.patch(pd, reader, _reader(reader, fmt), label=f"pandas.{reader}")
        self.patch(pd, "to_pickle", _module_writer("to_pickle", "pickle"), label="pandas.to_pickle")
        for cls in (pd.DataFrame, pd.Series):
            for writer, fmt in WRITERS.items():
                if hasattr(cls, writer):
                    self.patch(cls, writer, _writer(cls.__name__, writer, fmt), label=f"{cls.__name__}.{writer}")
