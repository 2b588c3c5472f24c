"""pandas SQL I/O over sqlite3, SQLAlchemy engines/connections and URL strings, asserted on emitted events.

SQLite is the only database here; Postgres/MySQL naming is covered at the pure level (test_sql_lineage).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from support import clean_env, inputs_of, lineage_edges, outputs_of, schema_names

from openlineage_pandas.hooks.sql import database_info_for

QUERY = ("SELECT c.city, SUM(o.amount) AS total FROM orders o JOIN customers c ON o.customer_id = c.id "
         "WHERE o.status = ? GROUP BY c.city ORDER BY c.city")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount REAL, status TEXT)")
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT, city TEXT)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)",
                    [(1, 1, 10.0, "paid"), (2, 1, 5.0, "open"), (3, 2, 7.5, "paid"), (4, 3, 1.0, "paid")])
    con.executemany("INSERT INTO customers VALUES (?, ?, ?)", [(1, "ann", "x"), (2, "bob", "y"), (3, "cy", "x")])
    con.commit()
    con.close()
    return path


def _ns(db: Path) -> str:
    return f"sqlite://{db.resolve().as_posix()}"


def _edges(event: dict[str, Any], name: str) -> set[tuple[str, str, str, str, str]]:
    return lineage_edges(outputs_of(event)[name])


def _dataset_edges(event: dict[str, Any], name: str) -> set[tuple[str, str, str]]:
    facet = outputs_of(event)[name]["facets"]["columnLineage"]
    return {(d["name"], d["field"], t["subtype"]) for d in facet.get("dataset", []) for t in d["transformations"]}


def test_sqlite3_query_to_sql_ground_truth(tracking, db):
    def work() -> pd.DataFrame:
        con = sqlite3.connect(db)
        try:
            frame = pd.read_sql(QUERY, con, params=("paid",))
            frame.to_sql("city_totals", con, if_exists="replace", index=False)
            return frame
        finally:
            con.close()

    untracked = work()
    tracking.enable()
    tracked = work()
    tracking.disable()
    pd.testing.assert_frame_equal(tracked, untracked)

    final = tracking.last()
    inputs = inputs_of(final)
    assert {(i["namespace"], i["name"]) for i in final["inputs"]} == {(_ns(db), "orders"), (_ns(db), "customers")}
    assert set(schema_names(inputs["orders"])) == {"amount", "customer_id", "status"}
    assert set(schema_names(inputs["customers"])) == {"city", "id"}
    output = outputs_of(final)["city_totals"]
    assert output["namespace"] == _ns(db)
    assert schema_names(output) == ["city", "total"]
    assert _edges(final, "city_totals") == {("city", "customers", "city", "DIRECT", "IDENTITY"),
                                            ("total", "orders", "amount", "DIRECT", "AGGREGATION")}
    assert _dataset_edges(final, "city_totals") == {
        ("orders", "customer_id", "JOIN"), ("customers", "id", "JOIN"), ("orders", "status", "FILTER"),
        ("customers", "city", "GROUP_BY"), ("customers", "city", "SORT")}
    assert output["facets"]["storage"]["storageLayer"] == "sqlite"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    tracking.check()


def test_sqlalchemy_engine_connection_and_url_string(tracking, db, tmp_path):
    url = f"sqlite:///{db}"

    def work() -> tuple[pd.DataFrame, ...]:
        engine = create_engine(url)
        try:
            table = pd.read_sql_table("customers", engine, index_col="id")
            with engine.connect() as conn:
                towns = pd.read_sql_query(text("SELECT name, city AS town FROM customers WHERE id > :i"), conn,
                                          params={"i": 1})
            whole = pd.read_sql("orders", url)  # a bare table name over SQLAlchemy reads the table
            towns.to_sql("towns", engine, if_exists="replace", index_label="row")
            table.to_sql("people", engine, if_exists="replace")
            return table, towns, whole
        finally:
            engine.dispose()

    untracked = work()
    tracking.enable()
    tracked = work()
    tracking.disable()
    for a, b in zip(tracked, untracked, strict=True):
        pd.testing.assert_frame_equal(a, b)

    final = tracking.last()
    ns = _ns(db)
    assert {o["namespace"] for o in final["outputs"]} == {ns}
    assert schema_names(outputs_of(final)["towns"]) == ["row", "name", "town"]
    assert _edges(final, "towns") == {("name", "customers", "name", "DIRECT", "IDENTITY"),
                                      ("town", "customers", "city", "DIRECT", "IDENTITY")}
    assert _dataset_edges(final, "towns") == {("customers", "id", "FILTER")}
    # read_sql_table: identity per column; the index column keeps its lineage when written back
    assert schema_names(outputs_of(final)["people"]) == ["id", "name", "city"]
    assert _edges(final, "people") == {(c, "customers", c, "DIRECT", "IDENTITY") for c in ("id", "name", "city")}
    inputs = inputs_of(final)
    assert set(schema_names(inputs["customers"])) == {"id", "name", "city"}
    assert set(schema_names(inputs["orders"])) == {"id", "customer_id", "amount", "status"}
    assert inputs["orders"]["inputFacets"]["inputStatistics"]["rowCount"] == 4
    ops = [op["operation"] for op in final["run"]["facets"]["pandas_operationLog"]["operations"]]
    assert ops[:3] == ["pandas.read_sql_table", "pandas.read_sql_query", "pandas.read_sql"]
    tracking.check()


def test_frame_from_a_file_written_to_a_table(tracking, db, tmp_path):
    csv = tmp_path / "in.csv"
    pd.DataFrame({"sku": ["a", "b"], "qty": [1, 2]}).to_csv(csv, index=False)
    tracking.enable()
    frame = pd.read_csv(csv)
    con = sqlite3.connect(db)
    frame.to_sql("stock", con, index=False)
    con.close()
    tracking.disable()
    final = tracking.last()
    assert {(i["namespace"], i["name"]) for i in final["inputs"]} == {("file", str(csv))}
    assert _edges(final, "stock") == {("sku", str(csv), "sku", "DIRECT", "IDENTITY"),
                                      ("qty", str(csv), "qty", "DIRECT", "IDENTITY")}
    tracking.check()


def test_unparseable_query_is_an_opaque_input_and_marked(tracking, db):
    tracking.enable()
    con = sqlite3.connect(db)
    info = pd.read_sql("PRAGMA table_info(orders)", con)
    info.to_sql("orders_columns", con, index=False)
    con.close()
    tracking.disable()
    final = tracking.last()
    (query_input,) = final["inputs"]
    assert query_input["namespace"] == _ns(db) and query_input["name"].startswith("query_")
    assert _edges(final, "orders_columns") == {(c, query_input["name"], c, "DIRECT", "IDENTITY")
                                               for c in info.columns}
    ops = final["run"]["facets"]["pandas_operationLog"]["operations"]
    assert [op.get("approximated", False) for op in ops if op["operation"] == "pandas.read_sql"] == [True]
    tracking.check()


def test_chunked_reads_declare_inputs_and_return_the_same_chunks(tracking, db):
    def work() -> list[pd.DataFrame]:
        con = sqlite3.connect(db)
        try:
            return list(pd.read_sql("SELECT id, amount FROM orders", con, chunksize=3))
        finally:
            con.close()

    untracked = work()
    tracking.enable()
    tracked = work()
    tracking.disable()
    assert len(tracked) == len(untracked) == 2
    for a, b in zip(tracked, untracked, strict=True):
        pd.testing.assert_frame_equal(a, b)
    run = tracking.events()[-1]
    assert {(i["name"], tuple(schema_names(i))) for i in run["inputs"]} == {("orders", ("id", "amount"))}


def test_attached_and_in_memory_sqlite_databases(tracking, tmp_path, db):
    tracking.enable()
    con = sqlite3.connect(":memory:")
    con.execute(f"ATTACH DATABASE '{db}' AS shop")
    frame = pd.read_sql("SELECT name FROM shop.customers", con)
    frame.to_sql("names", con, index=False)
    con.close()
    tracking.disable()
    final = tracking.last()
    assert {(i["namespace"], i["name"]) for i in final["inputs"]} == {(_ns(db), "customers")}
    assert {(o["namespace"], o["name"]) for o in final["outputs"]} == {("inmemory://sqlite", "names")}
    tracking.check()


def test_credentials_never_reach_dataset_names():
    info = database_info_for("postgresql+psycopg2://alice:hunter2@db.internal:5433/sales")
    assert (info.scheme, info.authority, info.database) == ("postgres", "db.internal:5433", "sales")
    assert "hunter2" not in repr(info) and "alice" not in repr(info)


def test_importing_the_core_imports_no_optional_library(tmp_path):
    code = ("import sys, openlineage_pandas, openlineage_pandas.auto, pandas, numpy; "
            "print(sorted(m for m in ('sklearn', 'sqlalchemy', 'openlineage_sql', 'joblib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True,
                         cwd=tmp_path, env=clean_env({"OPENLINEAGE_PANDAS_DIR": str(tmp_path / "store")}))
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    assert (tmp_path / "store" / "events.jsonl").exists()  # tracking really was on in that process
