"""SQL text to lineage and database naming, at the pure level (no database server runs here).

Postgres, MySQL and friends are named from URLs exactly as the OpenLineage naming spec and client helpers say.
"""

from __future__ import annotations

from collections.abc import Hashable

import pytest
from openlineage.client.naming.dataset import MySQL, Postgres
from sqlalchemy.engine import make_url

from openlineage_pandas.provenance import sql_lineage as S
from openlineage_pandas.provenance.model import FrameLineage

PG = S.database_info_from_url("postgresql+psycopg2://bob:s3cret@db.example.com/sales")
SQLITE = S.database_info_from_url("sqlite:////data/shop.db")


def edges(lin: FrameLineage) -> set[tuple[Hashable, str, str, str, str]]:
    return {(label, s.name, s.field, t.type, t.subtype)
            for label, origins in lin.columns.items() for s, ts in origins.items() for t in ts}


def dataset_edges(lin: FrameLineage) -> set[tuple[str, str, str]]:
    return {(s.name, s.field, t.subtype) for s, ts in lin.dataset.items() for t in ts}


# ---------------------------------------------------------------------------------------------- naming
@pytest.mark.parametrize(("url", "table", "schema", "namespace", "name"), [
    ("postgresql+psycopg2://bob:s3cret@db.example.com/sales", "orders", None,
     "postgres://db.example.com:5432", "sales.public.orders"),
    ("postgresql://bob:s3cret@db.example.com:6543/sales?options=-csearch_path%3Dmart", "orders", None,
     "postgres://db.example.com:6543", "sales.mart.orders"),
    ("postgresql://db.example.com/sales", "orders", "staging", "postgres://db.example.com:5432",
     "sales.staging.orders"),
    ("mysql+pymysql://u:pw@mysql.local/shop", "orders", None, "mysql://mysql.local:3306", "shop.orders"),
    ("mysql+pymysql://u:pw@mysql.local:3307/shop", "orders", "archive", "mysql://mysql.local:3307",
     "archive.orders"),
    ("mssql+pyodbc://u:pw@sql.local/crm", "accounts", None, "mssql://sql.local:1433", "crm.dbo.accounts"),
    ("redshift+psycopg2://u:pw@analytics.abc123.us-west-2.redshift.amazonaws.com:5439/dev", "sales", None,
     "redshift://analytics.us-west-2:5439", "dev.public.sales"),
    ("trino://u@trino.local:8080/hive/web", "events", None, "trino://trino.local:8080", "hive.web.events"),
    ("sqlite:////data/shop.db", "orders", None, "sqlite:///data/shop.db", "orders"),
    ("sqlite://", "orders", None, "inmemory://sqlite", "orders"),
    ("sqlite:///:memory:", "orders", "main", "inmemory://sqlite", "orders"),
])
def test_dataset_names_follow_the_naming_spec(url, table, schema, namespace, name):
    for given in (url, make_url(url)):  # URL strings and SQLAlchemy URL objects
        ref = S.table_dataset(S.database_info_from_url(given), table, schema)
        assert (ref.namespace, ref.name) == (namespace, name)
        assert "s3cret" not in repr(ref) and "pw@" not in repr(ref) and "bob" not in repr(ref)


def test_postgres_and_mysql_match_the_client_naming_helpers():
    ref = S.table_dataset(PG, "orders")
    helper = Postgres(host="db.example.com", port="5432", database="sales", schema="public", table="orders")
    assert (ref.namespace, ref.name) == (helper.get_namespace(), helper.get_name())
    my = S.table_dataset(S.database_info_from_url("mysql://h/shop"), "orders")
    helper_my = MySQL(host="h", port="3306", database="shop", table="orders")
    assert (my.namespace, my.name) == (helper_my.get_namespace(), helper_my.get_name())


def test_sqlite_relative_paths_are_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    info = S.database_info_from_url("sqlite:///local.db")
    assert info.namespace == f"sqlite://{(tmp_path / 'local.db').as_posix()}"


def test_sqlite_attached_databases_resolve_to_their_own_files():
    info = S.database_info_for_sqlite([(0, "main", "/data/main.db"), (2, "arch", "/data/archive.db"),
                                       (3, "mem", "")])
    assert S.table_dataset(info, "t").namespace == "sqlite:///data/main.db"
    assert S.table_dataset(info, "t", "main").name == "t"
    archived = S.table_dataset(info, "t", "arch")
    assert (archived.namespace, archived.name) == ("sqlite:///data/archive.db", "t")
    assert S.table_dataset(info, "t", "mem").namespace == "inmemory://sqlite"
    assert S.table_dataset(info, "t", "temp").namespace == "inmemory://sqlite"


class _PgInfo:
    host, port, dbname = "pg.local", 5433, "sales"


class _Psycopg2Connection:
    info = _PgInfo()


_Psycopg2Connection.__module__ = "psycopg2.extensions"


class _PyMySQLConnection:
    host, port, db, password = "mysql.local", 3306, b"shop", "s3cret"


_PyMySQLConnection.__module__ = "pymysql.connections"


def test_dbapi_connections_are_named_from_public_attributes():
    pg = S.table_dataset(S.database_info_from_dbapi(_Psycopg2Connection()), "orders")
    assert (pg.namespace, pg.name) == ("postgres://pg.local:5433", "sales.public.orders")
    my = S.table_dataset(S.database_info_from_dbapi(_PyMySQLConnection()), "orders")
    assert (my.namespace, my.name) == ("mysql://mysql.local:3306", "shop.orders")
    assert "s3cret" not in repr(S.database_info_from_dbapi(_PyMySQLConnection()))


def test_postgres_folds_unquoted_names_and_keeps_quoted_ones():
    assert S.table_dataset(PG, "Orders", quoted=False).name == "sales.public.orders"
    assert S.table_dataset(PG, "Orders", quoted=True).name == "sales.public.Orders"
    lin = S.query_lineage('SELECT Amount, "Mixed" FROM Orders', PG, ["amount", "Mixed"]).lineage
    assert edges(lin) == {("amount", "sales.public.orders", "amount", "DIRECT", "IDENTITY"),
                          ("Mixed", "sales.public.orders", "Mixed", "DIRECT", "IDENTITY")}


@pytest.mark.parametrize(("text", "expected"), [
    ("orders", (None, None, "orders")),
    ("mart.orders", (None, "mart", "orders")),
    ('sales."My Schema".orders', ("sales", "My Schema", "orders")),
])
def test_split_table_name(text, expected):
    assert S.split_table_name(text) == expected


# ---------------------------------------------------------------------------------------------- queries
CASES = [
    ("SELECT id, amount FROM orders", ["id", "amount"],
     {("id", "orders", "id", "DIRECT", "IDENTITY"), ("amount", "orders", "amount", "DIRECT", "IDENTITY")}, set()),
    ("SELECT o.amount AS paid, amount * 2 AS doubled FROM orders o", ["paid", "doubled"],
     {("paid", "orders", "amount", "DIRECT", "IDENTITY"),
      ("doubled", "orders", "amount", "DIRECT", "TRANSFORMATION")}, set()),
    ("SELECT city, SUM(amount) AS total, COUNT(*) AS n FROM orders WHERE status = 'paid' GROUP BY city "
     "ORDER BY total DESC", ["city", "total", "n"],
     {("city", "orders", "city", "DIRECT", "IDENTITY"), ("total", "orders", "amount", "DIRECT", "AGGREGATION")},
     {("orders", "status", "FILTER"), ("orders", "city", "GROUP_BY")}),
    ("SELECT CASE WHEN amount > 100 THEN 'big' ELSE label END AS size FROM orders", ["size"],
     {("size", "orders", "amount", "INDIRECT", "CONDITIONAL"), ("size", "orders", "label", "DIRECT", "TRANSFORMATION")},
     set()),
    ("SELECT SUM(amount) OVER (PARTITION BY city) AS running FROM orders", ["running"],
     {("running", "orders", "amount", "DIRECT", "AGGREGATION"), ("running", "orders", "city", "INDIRECT", "WINDOW")},
     set()),
    ("SELECT c.name, o.amount FROM orders o JOIN customers c ON o.customer_id = c.id WHERE o.amount > 1 "
     "ORDER BY c.name", ["name", "amount"],
     {("name", "customers", "name", "DIRECT", "IDENTITY"), ("amount", "orders", "amount", "DIRECT", "IDENTITY")},
     {("orders", "customer_id", "JOIN"), ("customers", "id", "JOIN"), ("orders", "amount", "FILTER"),
      ("customers", "name", "SORT")}),
    ("SELECT a FROM t UNION ALL SELECT b FROM u", ["a"],
     {("a", "t", "a", "DIRECT", "IDENTITY"), ("a", "u", "b", "DIRECT", "IDENTITY")}, set()),
    ("WITH c AS (SELECT a + 1 AS a FROM t) SELECT a FROM c", ["a"],
     {("a", "t", "a", "DIRECT", "TRANSFORMATION")}, set()),
    ("SELECT * FROM orders WHERE amount > ?", ["id", "amount"],
     {("id", "orders", "id", "DIRECT", "IDENTITY"), ("amount", "orders", "amount", "DIRECT", "IDENTITY")},
     {("orders", "amount", "FILTER")}),
    ("SELECT o.*, c.city FROM orders o JOIN customers c USING (id)", ["id", "amount", "city"],
     {("id", "orders", "id", "DIRECT", "IDENTITY"), ("amount", "orders", "amount", "DIRECT", "IDENTITY"),
      ("city", "customers", "city", "DIRECT", "IDENTITY")},
     {("orders", "id", "JOIN"), ("customers", "id", "JOIN")}),
    ("SELECT CAST(amount AS INTEGER) AS cents FROM orders WHERE status = :s AND id > %(lo)s AND x < %s", ["cents"],
     {("cents", "orders", "amount", "DIRECT", "TRANSFORMATION")},
     {("orders", "status", "FILTER"), ("orders", "id", "FILTER"), ("orders", "x", "FILTER")}),
]


@pytest.mark.parametrize(("sql", "labels", "expected", "influences"), CASES, ids=[c[0][:40] for c in CASES])
def test_query_lineage_ground_truth(sql, labels, expected, influences):
    ql = S.query_lineage(sql, SQLITE, labels)
    assert ql.parsed
    assert edges(ql.lineage) == expected
    assert dataset_edges(ql.lineage) == influences
    used = {(ref.name, f) for ref, fields in ql.inputs.items() for f in fields}
    assert {(e[1], e[2]) for e in expected} | {(i[0], i[1]) for i in influences} <= used
    assert {ref.namespace for ref in ql.inputs} == {"sqlite:///data/shop.db"}
    for origins in ql.lineage.columns.values():
        for transforms in origins.values():
            assert all("SQL text" in (t.description or "") for t in transforms)


def test_columns_without_sources_are_reported_not_invented():
    ql = S.query_lineage("SELECT COUNT(*) AS n, 1 AS one FROM orders", SQLITE, ["n", "one"])
    assert ql.lineage.columns == {"n": {}, "one": {}}
    assert [r.name for r in ql.inputs] == ["orders"]
    assert any("no source column" in n for n in ql.notes)


def test_star_over_several_tables_is_an_announced_over_approximation():
    ql = S.query_lineage("SELECT * FROM orders, customers", SQLITE, ["city"])
    assert edges(ql.lineage) == {("city", "orders", "city", "DIRECT", "IDENTITY"),
                                 ("city", "customers", "city", "DIRECT", "IDENTITY")}
    assert any("over-approximated" in n for n in ql.notes)


@pytest.mark.parametrize("sql", ["SELEC broken FROM", "PRAGMA table_info(orders)"])
def test_unparseable_sql_becomes_an_opaque_query_input(sql):
    ql = S.query_lineage(sql, SQLITE, ["cid", "name"], ["pk"])
    assert not ql.parsed
    (ref, fields), = ql.inputs.items()
    assert ref.namespace == "sqlite:///data/shop.db" and ref.name.startswith("query_")
    assert list(fields) == ["cid", "name", "pk"]
    assert edges(ql.lineage) == {("cid", ref.name, "cid", "DIRECT", "IDENTITY"),
                                 ("name", ref.name, "name", "DIRECT", "IDENTITY")}
    assert set(ql.lineage.index) == {"pk"}
    assert ql.notes and ql.notes[0].startswith("over-approximated")
    assert S.query_lineage(sql, SQLITE, ["cid"]).inputs.keys() == ql.inputs.keys()  # stable name


def test_index_columns_keep_their_lineage():
    ql = S.query_lineage("SELECT id, amount FROM orders", SQLITE, ["amount"], ["id"])
    assert {s.field for s in ql.lineage.index["id"]} == {"id"}


def test_table_lineage_is_identity_per_column():
    ql = S.table_lineage(PG, "orders", "mart", ["id", "amount"], ["pk"])
    (ref, fields), = ql.inputs.items()
    assert (ref.namespace, ref.name) == ("postgres://db.example.com:5432", "sales.mart.orders")
    assert list(fields) == ["pk", "id", "amount"]
    assert edges(ql.lineage) == {("id", "sales.mart.orders", "id", "DIRECT", "IDENTITY"),
                                 ("amount", "sales.mart.orders", "amount", "DIRECT", "IDENTITY")}
    dotted = S.table_lineage(PG, "mart.orders", None, ["id"])
    assert next(iter(dotted.inputs)).name == "sales.mart.orders"


def test_placeholders_do_not_touch_literals():
    text = "SELECT a FROM t WHERE b = %(v)s AND c = %s AND d = ? AND e = '?%s' AND j ?| k"
    assert S.normalize_placeholders(text) == \
        "SELECT a FROM t WHERE b = NULL AND c = NULL AND d = NULL AND e = '?%s' AND j ?| k"
