"""Hooks on pandas SQL I/O: `read_sql`, `read_sql_query`, `read_sql_table` and `DataFrame/Series.to_sql`.

Connections may be SQLAlchemy engines/connections, URL strings, sqlite3 or other DB-API connections.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Hashable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from openlineage_pandas.hooks._io import columns_of, lineage_of, record_write, shape2, with_known_columns
from openlineage_pandas.hooks._patching import HookedCall, Instrumentor
from openlineage_pandas.provenance.model import FrameLineage, field_name
from openlineage_pandas.provenance.registry import lineage_table
from openlineage_pandas.run import DatasetRecord, OperationEntry, current_run

if TYPE_CHECKING:
    from openlineage_pandas.provenance import sql_lineage as S


def _sql() -> ModuleType:
    """provenance.sql_lineage, loaded by the first SQL call rather than by enable() (importing it takes ~4 ms)."""
    from openlineage_pandas.provenance import sql_lineage

    return sql_lineage

_TABLE_NAME = re.compile(r'\s*(?:[A-Za-z_][\w$]*|"[^"]+"|`[^`]+`)(?:\.(?:[A-Za-z_][\w$]*|"[^"]+"|`[^`]+`))*\s*')
UNKNOWN_DTYPE = "unknown"


def database_info_for(con: Any) -> S.DatabaseInfo:
    """Where a pandas `con` points: SQLAlchemy URL string, Engine, Connection, sqlite3 or DB-API connection.

    Reads the URL's host, port and database only; user names and passwords never leave the URL object.
    """
    if isinstance(con, str):
        return _sql().database_info_from_url(con)
    url = getattr(con, "url", None)
    if url is None:
        url = getattr(getattr(con, "engine", None), "url", None)
    if url is not None and hasattr(url, "drivername"):
        return _sql().database_info_from_url(url)
    if type(con).__module__.split(".", 1)[0] == "sqlite3":
        return _sqlite_info(con)
    return _sql().database_info_from_dbapi(con)


def _sqlite_info(con: Any) -> S.DatabaseInfo:
    # sqlite3.Connection does not expose its file; this read-only pragma lists main and attached files.
    try:
        rows = con.execute("PRAGMA database_list").fetchall()
    except Exception:  # closed connection or a foreign row factory: name it as in-memory, and say so
        rows = []
    return _sql().database_info_for_sqlite(rows)


def _is_sqlalchemy(con: Any) -> bool:
    return isinstance(con, str) or hasattr(con, "url") or hasattr(getattr(con, "engine", None), "url")


def sql_text(sql: Any, con: Any) -> str:
    """The SQL text of a string, SQLAlchemy `text()` clause or selectable (compiled for the connection)."""
    if isinstance(sql, str):
        return sql
    text = getattr(sql, "text", None)
    if isinstance(text, str):
        return text
    compile_ = getattr(sql, "compile", None)
    if callable(compile_):
        engine = getattr(con, "engine", con)
        try:
            return str(compile_(dialect=getattr(engine, "dialect", None)))
        except Exception:  # compiling for this dialect failed: the generic form still names the tables
            return str(sql)
    return str(sql)


def _labels(result: Any) -> tuple[list[Hashable], list[Hashable], dict[str, Any]]:
    pd = sys.modules.get("pandas")
    if pd is None or not isinstance(result, pd.DataFrame):
        return [], [], {}
    dtypes = {field_name(c): d for c, d in zip(result.columns, result.dtypes, strict=False)}
    index_names = [n for n in result.index.names if n is not None]
    if index_names and len(result.index.names) == 1:
        dtypes[field_name(index_names[0])] = result.index.dtype
    return list(result.columns), index_names, dtypes


def _declare_inputs(ql: S.QueryLineage, dtypes: dict[str, Any], operation: str, rows: int | None) -> None:
    """Input tables of a query, with the columns it used (a table read twice keeps the union of columns)."""
    run = current_run()
    if run is None:
        return
    single = len(ql.inputs) == 1
    for ref, fields in ql.inputs.items():
        columns: list[tuple[Hashable, Any]] = [(f, dtypes.get(f, UNKNOWN_DTYPE)) for f in fields]
        run.record_input(DatasetRecord(ref, with_known_columns(run, ref, columns), None, rows if single else None,
                                       None, operation=operation))


def _record_query(operation: str, result: Any, ql: S.QueryLineage, whole_table: bool) -> None:
    run = current_run()
    if run is None:
        return
    labels, _, dtypes = _labels(result)
    pd = sys.modules.get("pandas")
    is_frame = pd is not None and isinstance(result, pd.DataFrame)
    # a query's result rows say nothing about its tables' sizes; a whole-table read does
    _declare_inputs(ql, dtypes, operation, len(result) if is_frame and whole_table else None)
    if is_frame:
        lineage_table.set(result, ql.lineage)
    approximated = not ql.parsed or any(n.startswith("over-approximated") for n in ql.notes)
    run.record_operation(OperationEntry(operation, None, shape2(result) if is_frame else None, None,
                                        [field_name(c) for c in labels][:50], [], approximated=approximated))


def _reader(name: str) -> Any:
    operation = f"pandas.{name}"

    def record(call: HookedCall, result: Any) -> None:
        sql = call.argument(0, "sql")
        con = call.argument(1, "con")
        info = database_info_for(con)
        labels, index_labels, _ = _labels(result)
        if name == "read_sql" and isinstance(sql, str) and _TABLE_NAME.fullmatch(sql) and _is_sqlalchemy(con):
            # pandas reads a whole table when read_sql is given a bare table name over SQLAlchemy
            ql = _sql().table_lineage(info, sql.strip(), None, labels, index_labels)
            _record_query(operation, result, ql, whole_table=True)
            return
        ql = _sql().query_lineage(sql_text(sql, con), info, labels, index_labels)
        _record_query(operation, result, ql, whole_table=False)

    return record


def _read_table(call: HookedCall, result: Any) -> None:
    info = database_info_for(call.argument(1, "con"))
    labels, index_labels, _ = _labels(result)
    ql = _sql().table_lineage(info, str(call.argument(0, "table_name")), call.argument(2, "schema"), labels,
                         index_labels)
    _record_query("pandas.read_sql_table", result, ql, whole_table=call.argument(6, "columns") is None)


def _index_columns(obj: Any, index: bool, index_label: Any) -> list[tuple[Hashable, Any]]:
    """The columns pandas writes for the index: `index_label`, else the level names, else 'index'/'level_i'."""
    if not index:
        return []
    idx = obj.index
    levels = getattr(idx, "nlevels", 1)
    if index_label is not None:
        labels = [index_label] if isinstance(index_label, str) or levels == 1 else list(index_label)
    elif levels == 1:
        labels = [idx.name if idx.name is not None else "index"]
    else:
        labels = [n if n is not None else f"level_{i}" for i, n in enumerate(idx.names)]
    dtypes = [idx.dtype] if levels == 1 else list(getattr(idx, "dtypes", [UNKNOWN_DTYPE] * levels))
    return list(zip(labels, dtypes, strict=False))


def _writer(owner: str) -> Any:
    operation = f"{owner}.to_sql"

    def record(call: HookedCall, result: Any) -> None:
        obj = call.receiver
        name = call.argument(1, "name")
        info = database_info_for(call.argument(2, "con"))
        # pandas 2.2 still accepts these positionally (deprecated); 3.x makes them keyword-only
        schema = call.argument(3, "schema")
        ref = _sql().table_dataset(info, str(name), schema)
        index_cols = _index_columns(obj, call.argument(5, "index", True), call.argument(6, "index_label"))
        columns = [*index_cols, *columns_of(obj)]
        lineage = lineage_of(obj)
        if lineage is not None and index_cols:
            # index levels that came from columns (set_index) keep their lineage as written columns
            level_names = list(getattr(obj.index, "names", []))
            extra = {label: dict(lineage.index.get(level, {}))
                     for (label, _), level in zip(index_cols, level_names, strict=False) if lineage.index.get(level)}
            if extra:
                lineage = FrameLineage({**extra, **lineage.columns}, lineage.dataset, lineage.notes, lineage.index)
        record_write(operation, ref, obj, None, lineage=lineage, columns=columns)

    return record


class SqlInstrumentor(Instrumentor):
    """pandas SQL readers and writers (openlineage-sql is imported on the first query, never before)."""

    name = "sql"
    module = "pandas"

    def _instrument(self) -> None:
        import pandas as pd

        self.patch(pd, "read_sql", _reader("read_sql"), label="pandas.read_sql")
        self.patch(pd, "read_sql_query", _reader("read_sql_query"), label="pandas.read_sql_query")
        self.patch(pd, "read_sql_table", _read_table, label="pandas.read_sql_table")
        for cls in (pd.DataFrame, pd.Series):
            self.patch(cls, "to_sql", _writer(cls.__name__), label=f"{cls.__name__}.to_sql")


__all__ = ["SqlInstrumentor", "database_info_for", "sql_text"]
