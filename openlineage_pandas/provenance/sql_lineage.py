"""SQL text to input tables and per-result-column origins (via openlineage-sql), and database dataset names.

Pure: strings and connection attributes in, DatasetRef/FrameLineage out; openlineage-sql loads on first parse.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from openlineage_pandas.naming import DatasetRef, safe_namespace
from openlineage_pandas.ol_imports import light_module
from openlineage_pandas.provenance.model import (
    AGGREGATION,
    CONDITIONAL,
    DIRECT,
    FILTER,
    GROUP_BY,
    IDENTITY,
    INDIRECT,
    JOIN,
    SORT,
    TRANSFORMATION,
    WINDOW,
    FrameLineage,
    SourceField,
    Transform,
    field_name,
    merge_origins,
)

INFERRED = "inferred from the SQL text (openlineage-sql gives no transformation types)"
OPAQUE_NOTE = "over-approximated: SQL could not be parsed; the query itself is the input dataset"


# ---------------------------------------------------------------------------------------------- naming
@dataclass(frozen=True, slots=True)
class DatabaseInfo:
    """Where a connection points, as the OpenLineage naming spec needs it (never credentials).

    `layout` is how a table is named: "db.schema.table" (Postgres, SQL Server, ...), "db.table" (MySQL,
    Hive) or "table" (file databases: SQLite, DuckDB, whose file is in the namespace).
    """

    scheme: str
    authority: str | None = None
    database: str | None = None
    default_schema: str | None = None
    dialect: str = "generic"
    layout: str = "db.schema.table"
    file_path: str | None = None
    attached: tuple[tuple[str, str], ...] = ()
    fold: str = ""

    @property
    def file_based(self) -> bool:
        return self.layout == "table"

    def namespace_for(self, path: str | None) -> str:
        if self.file_based:
            if not path:
                return f"inmemory://{self.scheme}"
            return safe_namespace(f"{self.scheme}://{Path(path).as_posix()}")
        if self.authority:
            return safe_namespace(f"{self.scheme}://{self.authority}")
        return safe_namespace(self.scheme)

    @property
    def namespace(self) -> str:
        return self.namespace_for(self.file_path)


@dataclass(frozen=True, slots=True)
class _Backend:
    scheme: str
    port: int | None
    dialect: str
    layout: str = "db.schema.table"
    default_schema: str | None = None
    fold: str = ""


# SQLAlchemy backend names (the part of the URL scheme before '+') to OpenLineage naming.
BACKENDS: dict[str, _Backend] = {
    "postgresql": _Backend("postgres", 5432, "postgres", default_schema="public", fold="lower"),
    "postgres": _Backend("postgres", 5432, "postgres", default_schema="public", fold="lower"),
    "redshift": _Backend("redshift", 5439, "redshift", default_schema="public", fold="lower"),
    "mysql": _Backend("mysql", 3306, "mysql", layout="db.table"),
    "mariadb": _Backend("mysql", 3306, "mysql", layout="db.table"),
    "mssql": _Backend("mssql", 1433, "mssql", default_schema="dbo"),
    "oracle": _Backend("oracle", 1521, "oracle", fold="upper"),
    "trino": _Backend("trino", 8080, "trino"),
    "snowflake": _Backend("snowflake", None, "snowflake", fold="upper"),
    "hive": _Backend("hive", 10000, "hive", layout="db.table"),
    "db2": _Backend("db2", 50000, "generic"),
    "ibm_db_sa": _Backend("db2", 50000, "generic"),
    "teradatasql": _Backend("teradata", 1025, "generic", layout="db.table"),
    "teradata": _Backend("teradata", 1025, "generic", layout="db.table"),
    "sqlite": _Backend("sqlite", None, "sqlite", layout="table"),
    "duckdb": _Backend("duckdb", None, "duckdb", layout="table"),
}


def _backend(name: str) -> _Backend:
    return BACKENDS.get(name.lower(), _Backend(name.lower() or "database", None, "generic"))


def _file_path(database: str | None, backend: _Backend) -> str | None:
    """Absolute path of a file database; None for in-memory ones."""
    if not database or database in (":memory:",) or database.startswith(":memory:"):
        return None
    if database.startswith("file:"):
        database = database[len("file:"):].split("?", 1)[0]
        if not database or database == ":memory:":
            return None
    return Path(os.path.abspath(database)).as_posix()


def _redshift_authority(host: str, port: int) -> str:
    """redshift://{cluster_identifier}.{region_name}:{port} from an endpoint host name."""
    parts = host.split(".")
    if len(parts) >= 4 and parts[-3:] == ["redshift", "amazonaws", "com"]:
        return f"{parts[0]}.{parts[2]}:{port}"
    return f"{host}:{port}"


def database_info(backend_name: str, host: str | None, port: int | None, database: str | None,
                  query: dict[str, Any] | None = None) -> DatabaseInfo:
    """DatabaseInfo from the parts of a connection URL (user name and password are never passed in)."""
    backend = _backend(backend_name)
    if backend.layout == "table":
        return DatabaseInfo(backend.scheme, None, None, "main", backend.dialect, backend.layout,
                            _file_path(database, backend), fold=backend.fold)
    query = query or {}
    default_schema = backend.default_schema
    db = database or None
    if backend.scheme in ("trino", "snowflake") and db and "/" in db:
        db, _, default_schema = db.partition("/")
    if backend.scheme == "postgres":
        options = str(_first(query.get("options")) or "")
        match = re.search(r"search_path\s*=\s*([A-Za-z0-9_]+)", unquote(options))
        if match:
            default_schema = match.group(1)
    if backend.scheme == "oracle" and query.get("service_name"):
        db = str(_first(query["service_name"]))
    host_name = host if host and not host.startswith("/") else "localhost"  # unix sockets: the local host
    port_number = port or backend.port
    if backend.scheme == "redshift" and port_number:
        authority = _redshift_authority(host_name, port_number)
    elif port_number:
        authority = f"{host_name}:{port_number}"
    else:
        authority = host_name
    return DatabaseInfo(backend.scheme, authority, db, default_schema, backend.dialect, backend.layout,
                        fold=backend.fold)


def _first(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def database_info_from_url(url: Any) -> DatabaseInfo:
    """From a SQLAlchemy URL object or URL string; the password is never read."""
    if not isinstance(url, str) and hasattr(url, "drivername"):
        backend = str(url.drivername).split("+", 1)[0]
        return database_info(backend, url.host, url.port, url.database, dict(url.query or {}))
    text = str(url)
    scheme, _, rest = text.partition("://")
    backend = scheme.split("+", 1)[0]
    if _backend(backend).layout == "table":
        # sqlite:///relative.db, sqlite:////absolute.db, sqlite:// (memory): the path follows the third '/'
        path = rest[1:] if rest.startswith("/") else rest
        return database_info(backend, None, None, path.split("?", 1)[0] or None)
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        port = None
    query = {k: v for k, v in parse_qs(parts.query).items()}
    return database_info(backend, parts.hostname, port, unquote(parts.path.lstrip("/")) or None, query)


def database_info_for_sqlite(database_list: Iterable[Sequence[Any]]) -> DatabaseInfo:
    """From the rows of `PRAGMA database_list` (seq, name, file): the main file and attached databases."""
    main: str | None = None
    attached: list[tuple[str, str]] = []
    for row in database_list:
        name, path = str(row[1]), str(row[2] or "")
        if name == "main":
            main = path or None
        else:
            attached.append((name, path))
    backend = _backend("sqlite")
    return DatabaseInfo("sqlite", None, None, "main", backend.dialect, backend.layout,
                        _file_path(main, backend), tuple(attached))


def database_info_from_dbapi(con: Any) -> DatabaseInfo:
    """From a DB-API connection's public attributes (psycopg, psycopg2, PyMySQL, mysql-connector); other
    drivers are named after their module, with no host."""
    module = type(con).__module__.split(".", 1)[0].lower()
    if module in ("psycopg", "psycopg2"):
        info = getattr(con, "info", None)
        if info is not None:
            return database_info("postgresql", getattr(info, "host", None), _int(getattr(info, "port", None)),
                                 getattr(info, "dbname", None))
    if module == "pymysql":
        db = getattr(con, "db", None)
        db = db.decode() if isinstance(db, bytes) else db
        return database_info("mysql", getattr(con, "host", None), _int(getattr(con, "port", None)), db)
    if module == "mysql":
        return database_info("mysql", getattr(con, "server_host", None), _int(getattr(con, "server_port", None)),
                             getattr(con, "database", None))
    return DatabaseInfo(safe_namespace(module or "database"), None, None, None, "generic")


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _fold(name: str, info: DatabaseInfo, quoted: bool) -> str:
    if quoted or not info.fold:
        return name
    return name.lower() if info.fold == "lower" else name.upper()


def table_dataset(info: DatabaseInfo, name: str, schema: str | None = None, database: str | None = None,
                  quoted: bool = True) -> DatasetRef:
    """The dataset of a table, per the OpenLineage naming spec (Postgres and MySQL through the client's
    naming helpers); SQLite/DuckDB: namespace `sqlite://{absolute file path}`, name = table."""
    table = _fold(name, info, quoted)
    schema = _fold(schema, info, quoted) if schema else None
    database = _fold(database, info, quoted) if database else None
    if info.file_based:
        path = info.file_path
        attached = dict(info.attached)
        prefix = ""
        if schema and schema.lower() == "temp":
            path = None
        elif schema and schema in attached:
            path = attached[schema] or None
        elif schema and schema.lower() != "main":
            prefix = f"{schema}."
        namespace = info.namespace_for(path)
        return DatasetRef(namespace, f"{prefix}{table}", f"{namespace}/{prefix}{table}")
    namespace = info.namespace
    if info.layout == "db.table":
        db = schema or database or info.database
        ds_name = _mysql_name(info, db, table) if info.scheme == "mysql" else ".".join(p for p in (db, table) if p)
    else:
        db = database or info.database
        sch = schema or info.default_schema
        ds_name = _postgres_name(info, db, sch, table) if info.scheme == "postgres" else \
            ".".join(p for p in (db, sch, table) if p)
    return DatasetRef(namespace, ds_name, f"{namespace}/{ds_name}")


def _postgres_name(info: DatabaseInfo, db: str | None, schema: str | None, table: str) -> str:
    host, _, port = (info.authority or "").rpartition(":")
    if db and schema and host and port:
        Postgres = light_module("naming.dataset").Postgres

        return Postgres(host=host, port=port, database=db, schema=schema, table=table).get_name()
    return ".".join(p for p in (db, schema, table) if p)


def _mysql_name(info: DatabaseInfo, db: str | None, table: str) -> str:
    host, _, port = (info.authority or "").rpartition(":")
    if db and host and port:
        MySQL = light_module("naming.dataset").MySQL

        return MySQL(host=host, port=port, database=db, table=table).get_name()
    return ".".join(p for p in (db, table) if p)


def split_table_name(text: str) -> tuple[str | None, str | None, str]:
    """'db.schema.table' / 'schema.table' / 'table' (quotes removed) as (database, schema, table)."""
    parts = [p.strip('"`[]') for p in re.findall(r'"[^"]*"|`[^`]*`|\[[^\]]*\]|[^.]+', text.strip())]
    if len(parts) >= 3:
        return parts[-3], parts[-2], parts[-1]
    if len(parts) == 2:
        return None, parts[0], parts[1]
    return None, None, parts[0] if parts else text


# ---------------------------------------------------------------------------------------------- tokens
_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>--[^\n]*|/\*.*?\*/)
  | (?P<str>'(?:[^']|'')*')
  | (?P<qid>"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])
  | (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op>::|<=|>=|<>|!=|\|\||[(),.*;=<>+\-/%?:])
  | (?P<other>.)
""", re.X | re.S)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word, qid, str, num, op, other
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "word" else self.text

    @property
    def value(self) -> str:
        if self.kind == "qid":
            return self.text[1:-1].replace('""', '"')
        return self.text

    @property
    def is_name(self) -> bool:
        return self.kind == "qid" or (self.kind == "word" and self.text.upper() not in KEYWORDS)


KEYWORDS = frozenset("""
    ALL AND ANY AS ASC BETWEEN BY CASE CAST CROSS CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP DAY DESC DISTINCT
    ELSE END ESCAPE EXCEPT EXISTS FALSE FETCH FIRST FOLLOWING FOR FROM FULL GLOB GROUP HAVING HOUR ILIKE IN INNER
    INTERSECT INTERVAL INTO IS JOIN LAST LATERAL LEFT LIKE LIMIT MINUTE MONTH NATURAL NOT NULL NULLS OFFSET ON OR
    ORDER OUTER OVER PARTITION PRECEDING QUALIFY RANGE RECURSIVE REGEXP RIGHT ROW ROWS SECOND SELECT SIMILAR SOME
    THEN TIES TO TOP TRUE UNBOUNDED UNION UNKNOWN USING VALUES WHEN WHERE WINDOW WITH YEAR CURRENT
""".split())
AGGREGATES = frozenset("""
    AVG COUNT SUM MIN MAX GROUP_CONCAT STRING_AGG ARRAY_AGG LISTAGG STDDEV STDDEV_POP STDDEV_SAMP VARIANCE
    VAR_POP VAR_SAMP MEDIAN TOTAL ANY_VALUE BOOL_AND BOOL_OR EVERY BIT_AND BIT_OR JSON_AGG JSONB_AGG
    PERCENTILE_CONT PERCENTILE_DISC MODE CORR COVAR_POP COVAR_SAMP APPROX_COUNT_DISTINCT
""".split())
_CLAUSE_END = frozenset({"FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION", "INTERSECT",
                         "EXCEPT", "WINDOW", "QUALIFY", "FETCH", "INTO", ";"})
_SET_OPS = frozenset({"UNION", "INTERSECT", "EXCEPT"})
_JOIN_WORDS = frozenset({"JOIN", "INNER", "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "LATERAL"})


def tokenize(sql: str) -> list[_Tok]:
    return [_Tok(m.lastgroup or "other", m.group()) for m in _TOKEN.finditer(sql)
            if m.lastgroup not in ("ws", "comment")]


def _matching(tokens: Sequence[_Tok], start: int) -> int:
    """Index of the ')' closing the '(' at `start` (or the last token)."""
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    return len(tokens) - 1


@dataclass(slots=True)
class _Ref:
    qualifier: tuple[str, ...]
    column: str
    quoted: bool


def _refs(tokens: Sequence[_Tok]) -> list[tuple[_Ref, str]]:
    """Column references in an expression with their role: value, condition (CASE WHEN ... THEN) or window
    (inside OVER (...)). Nested SELECTs are skipped: their columns belong to another query block."""
    out: list[tuple[_Ref, str]] = []
    roles: list[str] = []  # stack of (role) for CASE WHEN and OVER( nesting
    paren_roles: list[str | None] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        up = tok.upper
        if tok.text == "(":
            if i + 1 < n and tokens[i + 1].upper == "SELECT":
                i = _matching(tokens, i) + 1
                continue
            is_over = i > 0 and tokens[i - 1].upper == "OVER"
            paren_roles.append("window" if is_over else None)
            if is_over:
                roles.append("window")
            i += 1
            continue
        if tok.text == ")":
            if paren_roles and paren_roles.pop() == "window" and roles:
                roles.pop()
            i += 1
            continue
        if up == "WHEN":
            roles.append("condition")
        elif up == "THEN" and roles and roles[-1] == "condition":
            roles.pop()
        elif tok.is_name and not (i > 0 and tokens[i - 1].text in (".", "::", ":", "@")) \
                and not (i > 0 and tokens[i - 1].upper == "AS"):  # not a cast type or a :named parameter
            parts = [tok]
            j = i + 1
            while j + 1 < n and tokens[j].text == "." and (tokens[j + 1].kind in ("word", "qid")):
                parts.append(tokens[j + 1])
                j += 2
            if j < n and tokens[j].text == "(":  # a function call, not a column
                i = j
                continue
            if j < n and tokens[j].text == "." and j + 1 < n and tokens[j + 1].text == "*":
                i = j + 2
                continue
            role = roles[-1] if roles else "value"
            ref = _Ref(tuple(p.value for p in parts[:-1]), parts[-1].value, parts[-1].kind == "qid")
            out.append((ref, role))
            i = j
            continue
        i += 1
    return out


@dataclass(slots=True)
class _Item:
    name: str | None
    bare: bool
    star: tuple[str, ...] | None  # () for '*', (qualifier,) for 't.*'; None when not a star
    aggregate: bool
    roles: dict[str, set[str]] = field(default_factory=dict)  # column (lower) -> roles


@dataclass(slots=True)
class _Block:
    """The outermost SELECT: its items per set-operation branch, FROM aliases and row-level influences."""

    branches: list[list[_Item]]
    aliases: dict[str, tuple[str, ...]]  # alias or table name (lower) -> table name parts
    tables_in_from: list[tuple[str, ...]]
    influences: list[tuple[_Ref, Transform]]
    nested: bool


def _split(tokens: Sequence[_Tok], separator: str = ",") -> list[list[_Tok]]:
    parts: list[list[_Tok]] = [[]]
    depth = 0
    for tok in tokens:
        if tok.text == "(":
            depth += 1
        elif tok.text == ")":
            depth -= 1
        if depth == 0 and tok.text == separator:
            parts.append([])
        else:
            parts[-1].append(tok)
    return [p for p in parts if p]


def _item(tokens: list[_Tok]) -> _Item:
    alias: str | None = None
    expr = tokens
    if len(tokens) >= 3 and tokens[-2].upper == "AS":
        alias, expr = tokens[-1].value, tokens[:-2]
    elif len(tokens) >= 2 and tokens[-1].is_name and tokens[-2].text != "." and \
            (tokens[-2].kind in ("word", "qid", "str", "num") or tokens[-2].text == ")") and \
            tokens[-2].upper not in ("CASE", "WHEN", "THEN", "ELSE", "AND", "OR", "NOT", "IS", "IN", "LIKE"):
        alias, expr = tokens[-1].value, tokens[:-1]
    texts = [t.text for t in expr]
    if texts == ["*"]:
        return _Item(alias, False, (), False)
    if len(expr) >= 3 and texts[-1] == "*" and texts[-2] == ".":
        return _Item(alias, False, tuple(t.value for t in expr[:-2] if t.text != "."), False)
    bare = bool(expr) and all((t.kind in ("word", "qid")) if k % 2 == 0 else t.text == "."
                              for k, t in enumerate(expr)) and len(expr) % 2 == 1 and expr[-1].is_name
    name = alias if alias is not None else (expr[-1].value if bare else None)
    aggregate = any(t.upper in AGGREGATES and k + 1 < len(expr) and expr[k + 1].text == "("
                    for k, t in enumerate(expr))
    item = _Item(name, bare, None, aggregate)
    for ref, role in _refs(expr):
        item.roles.setdefault(ref.column.lower(), set()).add(role)
    return item


def _select_items(tokens: Sequence[_Tok], start: int) -> tuple[list[_Item], int]:
    """Items of the SELECT whose keyword is at `start`; returns them and the index where the list ended."""
    i = start + 1
    while i < len(tokens) and tokens[i].upper in ("DISTINCT", "ALL"):
        i += 1
        if i < len(tokens) and tokens[i].upper == "ON" and i + 1 < len(tokens) and tokens[i + 1].text == "(":
            i = _matching(tokens, i + 1) + 1
    if i < len(tokens) and tokens[i].upper == "TOP":
        i += 2
    depth = 0
    j = i
    while j < len(tokens):
        t = tokens[j]
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        elif depth == 0 and (t.upper in _CLAUSE_END or t.text == ";"):
            break
        j += 1
    return [_item(p) for p in _split(tokens[i:j])], j


def _clause_spans(tokens: Sequence[_Tok], start: int) -> dict[str, list[_Tok]]:
    """Depth-0 clauses after the select list, up to a set operation or the end."""
    spans: dict[str, list[_Tok]] = {}
    current: str | None = None
    depth = 0
    i = start
    while i < len(tokens):
        t = tokens[i]
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        if depth == 0 and (t.upper in _SET_OPS or t.text == ";"):
            break
        if depth == 0 and t.upper in ("FROM", "WHERE", "HAVING", "QUALIFY", "LIMIT", "OFFSET", "WINDOW"):
            current = t.upper
            spans.setdefault(current, [])
        elif depth == 0 and t.upper in ("GROUP", "ORDER") and i + 1 < len(tokens) and tokens[i + 1].upper == "BY":
            current = t.upper
            spans.setdefault(current, [])
            i += 1
        elif current is not None:
            spans[current].append(t)
        i += 1
    return spans


def _from_clause(tokens: list[_Tok]) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, ...]],
                                              list[tuple[_Ref, Transform]]]:
    """Aliases and tables of a FROM clause, and the JOIN ... ON / USING columns."""
    aliases: dict[str, tuple[str, ...]] = {}
    tables: list[tuple[str, ...]] = []
    joins: list[tuple[_Ref, Transform]] = []
    i = 0
    n = len(tokens)
    expect_table = True
    while i < n:
        t = tokens[i]
        if expect_table:
            if t.upper in _JOIN_WORDS:
                i += 1
                continue
            if t.text == "(":
                i = _matching(tokens, i) + 1
                if i < n and tokens[i].upper == "AS":
                    i += 1
                if i < n and tokens[i].is_name:
                    i += 1
                expect_table = False
                continue
            if t.kind in ("word", "qid"):
                parts = [t.value]
                j = i + 1
                while j + 1 < n and tokens[j].text == "." and tokens[j + 1].kind in ("word", "qid"):
                    parts.append(tokens[j + 1].value)
                    j += 2
                name = tuple(parts)
                tables.append(name)
                aliases[parts[-1].lower()] = name
                if j < n and tokens[j].upper == "AS":
                    j += 1
                if j < n and tokens[j].is_name:
                    aliases[tokens[j].value.lower()] = name
                    j += 1
                i = j
                expect_table = False
                continue
            i += 1
            continue
        if t.text == "," or t.upper in _JOIN_WORDS:
            expect_table = True
            i += 1
            continue
        if t.upper == "ON":
            j = i + 1
            depth = 0
            while j < n:
                if tokens[j].text == "(":
                    depth += 1
                elif tokens[j].text == ")":
                    depth -= 1
                elif depth == 0 and (tokens[j].text == "," or tokens[j].upper in _JOIN_WORDS):
                    break
                j += 1
            joins.extend((ref, Transform(INDIRECT, JOIN, description=INFERRED)) for ref, _ in _refs(tokens[i + 1:j]))
            i = j
            continue
        if t.upper == "USING" and i + 1 < n and tokens[i + 1].text == "(":
            end = _matching(tokens, i + 1)
            pair = tuple(tables[-2:])
            for ref, _ in _refs(tokens[i + 2:end]):
                for table in pair:
                    joins.append((_Ref(table, ref.column, ref.quoted), Transform(INDIRECT, JOIN, description=INFERRED)))
            i = end + 1
            continue
        i += 1
    return aliases, tables, joins


_CLAUSE_TRANSFORMS = {
    "WHERE": Transform(INDIRECT, FILTER, description=INFERRED),
    "HAVING": Transform(INDIRECT, FILTER, description=INFERRED),
    "QUALIFY": Transform(INDIRECT, FILTER, description=INFERRED),
    "GROUP": Transform(INDIRECT, GROUP_BY, description=INFERRED),
    "ORDER": Transform(INDIRECT, SORT, description=INFERRED),
}


def analyze_select(sql: str) -> _Block | None:
    """The outermost SELECT of a query, from its text: what openlineage-sql does not say (types, aliases,
    row-level influences). None when the statement has no top-level SELECT."""
    tokens = tokenize(sql)
    selects = [i for i, t in enumerate(tokens) if t.upper == "SELECT"]
    depth = 0
    top: list[int] = []
    for i, t in enumerate(tokens):
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            depth -= 1
        elif depth == 0 and t.upper == "SELECT":
            top.append(i)
        elif depth == 0 and t.text == ";":
            break
    if not top:
        return None
    branches: list[list[_Item]] = []
    aliases: dict[str, tuple[str, ...]] = {}
    tables: list[tuple[str, ...]] = []
    influences: list[tuple[_Ref, Transform]] = []
    for k, start in enumerate(top):
        items, end = _select_items(tokens, start)
        branches.append(items)
        if k:
            continue  # influences of later branches are not resolved (their aliases may differ)
        spans = _clause_spans(tokens, end)
        aliases, tables, joins = _from_clause(spans.get("FROM", []))
        influences.extend(joins)
        for clause, step in _CLAUSE_TRANSFORMS.items():
            influences.extend((ref, step) for ref, _ in _refs(spans.get(clause, [])))
    output_aliases = {it.name.lower() for it in branches[0] if it.name and not it.bare}
    influences = [(ref, step) for ref, step in influences
                  if ref.qualifier or ref.column.lower() not in output_aliases]
    return _Block(branches, aliases, tables, influences, nested=len(selects) > len(top))


# ---------------------------------------------------------------------------------------------- lineage
@dataclass(slots=True)
class QueryLineage:
    """What a query read: its input tables with the columns it uses, and the result's column lineage."""

    inputs: dict[DatasetRef, dict[str, None]]
    lineage: FrameLineage
    parsed: bool
    notes: tuple[str, ...] = ()


_PLACEHOLDERS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*")|(%\([A-Za-z0-9_]+\)s|%s|(?<![?|&])\?(?![?|&]))""")


def normalize_placeholders(sql: str) -> str:
    """pyformat, format and qmark parameter markers become NULL: every openlineage-sql dialect parses it
    where a value goes ('?' is refused by the postgres dialect), and it names no column. String literals
    and quoted names are left alone."""
    return _PLACEHOLDERS.sub(lambda m: m.group(1) or "NULL", sql)


@dataclass(frozen=True, slots=True)
class _Table:
    database: str | None
    schema: str | None
    name: str
    quoted: bool


def _parse(sql: str, dialect: str) -> Any:
    import openlineage_sql

    return openlineage_sql.parse([sql], dialect=dialect)


def _as_table(meta: Any) -> _Table:
    quote = getattr(meta, "quote_style", None)
    quoted = bool(getattr(quote, "name", None)) if quote is not None else False
    return _Table(meta.database, meta.schema, meta.name, quoted)


def _resolve(origin: Any, tables: list[_Table], block: _Block | None) -> _Table | None:
    """The input table a lineage origin names: exact, by bare name, or through a FROM alias."""
    if origin is None:
        return tables[0] if len(tables) == 1 else None
    want = _as_table(origin)
    for t in tables:
        if (t.database, t.schema, t.name) == (want.database, want.schema, want.name):
            return t
    named = [t for t in tables if t.name.lower() == want.name.lower()]
    if len(named) == 1:
        return named[0]
    if block is not None and want.schema is None:
        parts = block.aliases.get(want.name.lower())
        if parts:
            return _by_parts(parts, tables)
    return want if not tables else None


def _by_parts(parts: Sequence[str], tables: list[_Table]) -> _Table | None:
    name = parts[-1].lower()
    schema = parts[-2].lower() if len(parts) >= 2 else None
    found = [t for t in tables if t.name.lower() == name and (schema is None or (t.schema or "").lower() == schema)]
    return found[0] if len(found) == 1 else None


def _ref_table(ref: _Ref, tables: list[_Table], block: _Block) -> _Table | None:
    if not ref.qualifier:
        return tables[0] if len(tables) == 1 else None
    parts = block.aliases.get(ref.qualifier[-1].lower())
    if parts is not None and len(ref.qualifier) == 1:
        return _by_parts(parts, tables)
    return _by_parts(ref.qualifier, tables)


class _Collector:
    """Accumulates result-column origins and the input fields they use."""

    def __init__(self, info: DatabaseInfo, sql: str) -> None:
        self.info = info
        self.sql = sql
        self.inputs: dict[DatasetRef, dict[str, None]] = {}
        self.refs: dict[_Table, DatasetRef] = {}

    def dataset(self, table: _Table) -> DatasetRef:
        ref = self.refs.get(table)
        if ref is None:
            ref = table_dataset(self.info, table.name, table.schema, table.database, table.quoted)
            self.refs[table] = ref
            self.inputs.setdefault(ref, {})
        return ref

    def source(self, table: _Table, column: str, quoted: bool | None = None) -> SourceField:
        ref = self.dataset(table)
        if quoted is None:
            quoted = f'"{column}"' in self.sql or f"`{column}`" in self.sql
        name = _fold(column, self.info, quoted)
        self.inputs[ref].setdefault(name, None)
        return SourceField(ref.namespace, ref.name, name)


def _value_transform(item: _Item | None, nested: bool) -> Transform:
    if item is None:
        return Transform(DIRECT, TRANSFORMATION, description=INFERRED)
    if item.aggregate:
        return Transform(DIRECT, AGGREGATION, description=INFERRED)
    if item.bare and not nested:
        return Transform(DIRECT, IDENTITY, description=INFERRED)
    if item.bare:
        return Transform(DIRECT, TRANSFORMATION, description=f"{INFERRED}; through a subquery or CTE")
    return Transform(DIRECT, TRANSFORMATION, description=INFERRED)


_ROLE_TRANSFORMS = {
    "condition": Transform(INDIRECT, CONDITIONAL, description=INFERRED),
    "window": Transform(INDIRECT, WINDOW, description=INFERRED),
}


def query_lineage(sql: str, info: DatabaseInfo, result_labels: Sequence[Hashable],
                  index_labels: Sequence[Hashable] = ()) -> QueryLineage:
    """Lineage of a `read_sql` result: input tables from openlineage-sql, per-column origins with inferred
    transformation types, and WHERE/JOIN/GROUP BY/ORDER BY columns as dataset-level INDIRECT influences.

    If the query cannot be parsed, the query itself becomes an opaque input dataset (never a silent drop).
    """
    text = normalize_placeholders(sql)
    try:
        meta = _parse(text, info.dialect)
    except Exception as exc:  # the parser raises on some inputs instead of reporting errors
        return opaque_query_lineage(sql, info, result_labels, index_labels, f"{type(exc).__name__}: {exc}")
    tables = [_as_table(t) for t in meta.in_tables]
    if not tables:
        reason = "; ".join(str(getattr(e, "message", e)) for e in (meta.errors or [])) or "no input table found"
        return opaque_query_lineage(sql, info, result_labels, index_labels, reason)
    block = analyze_select(text)
    collector = _Collector(info, text)
    for t in tables:
        collector.dataset(t)
    notes: list[str] = []
    if meta.errors:
        notes.append("partially parsed: " + "; ".join(str(getattr(e, "message", e)) for e in meta.errors)[:300])

    items_by_name: dict[str, _Item] = {}
    later_items: dict[str, _Item] = {}
    renames: dict[str, str] = {}
    if block is not None:
        first = block.branches[0]
        for it in first:
            if it.name:
                items_by_name.setdefault(it.name.lower(), it)
        for branch in block.branches[1:]:  # UNION: the k-th item of every branch feeds the k-th column
            for k, it in enumerate(branch):
                if it.name and k < len(first) and first[k].name:
                    renames.setdefault(it.name.lower(), str(first[k].name).lower())
                    later_items.setdefault(it.name.lower(), it)
    nested = block.nested if block is not None else True

    per_name: dict[str, dict[SourceField, frozenset[Transform]]] = {}
    for cl in meta.column_lineage:
        out = str(cl.descendant.name).lower()
        if out in items_by_name or out not in renames:
            target, item = out, items_by_name.get(out)
        else:
            target, item = renames[out], later_items.get(out)
        for col in cl.lineage:
            table = _resolve(col.origin, tables, block)
            if table is None:
                continue
            src = collector.source(table, str(col.name))
            roles = (item.roles.get(str(col.name).lower()) if item is not None else None) or {"value"}
            transforms = set()
            for role in roles:
                transforms.add(_value_transform(item, nested) if role == "value" else _ROLE_TRANSFORMS[role])
            bucket = per_name.setdefault(target, {})
            bucket[src] = bucket.get(src, frozenset()) | frozenset(transforms)

    stars = [it.star for it in (block.branches[0] if block else []) if it.star is not None]
    if not result_labels and block is not None:  # chunked reads: no frame yet, the select list names it
        result_labels = [it.name for it in block.branches[0] if it.name]

    def origins_for(label: Hashable) -> dict[SourceField, frozenset[Transform]]:
        key = field_name(label).lower()
        if key in per_name:
            return per_name[key]
        if not stars:
            return {}
        candidates: list[_Table] = []
        for star in stars:
            if star:
                parts = block.aliases.get(star[-1].lower(), star) if block else star
                found = _by_parts(parts, tables)
                candidates.extend([found] if found else tables)
            else:
                candidates.extend(tables)
        candidates = list(dict.fromkeys(candidates))
        if len(candidates) == 1:
            step = Transform(DIRECT, IDENTITY if not nested else TRANSFORMATION,
                             description=f"{INFERRED}; column of SELECT *")
        else:
            step = Transform(DIRECT, IDENTITY, description="over-approximated: SELECT * over several tables, "
                                                           "the column's table is unknown")
            notes.append("over-approximated: SELECT * over several tables")
        return {collector.source(t, field_name(label)): frozenset({step}) for t in candidates}

    columns = {label: origins_for(label) for label in result_labels}
    index = {label: origins_for(label) for label in index_labels if label is not None}
    missing = [field_name(label) for label, o in columns.items() if not o]
    if missing:
        notes.append(f"no source column for {missing[:5]} (constants or COUNT(*))")
    dataset: list[dict[SourceField, frozenset[Transform]]] = []
    if block is not None:
        for ref, step in block.influences:
            table = _ref_table(ref, tables, block)
            if table is not None:
                dataset.append({collector.source(table, ref.column, ref.quoted): frozenset({step})})
    lineage = FrameLineage(columns, merge_origins(*dataset), tuple(dict.fromkeys(notes)), index)
    return QueryLineage(_in_result_order(collector.inputs, lineage), lineage, True, lineage.notes)


def _in_result_order(inputs: dict[DatasetRef, dict[str, None]], lineage: FrameLineage
                     ) -> dict[DatasetRef, dict[str, None]]:
    """Each table's fields in the order the result uses them (columns, index, then row influences)."""
    rank: dict[tuple[str, str, str], int] = {}
    for origins in (*lineage.columns.values(), *lineage.index.values(), lineage.dataset):
        for src in origins:
            rank.setdefault((src.namespace, src.name, src.field), len(rank))
    return {ref: dict.fromkeys(sorted(fields, key=lambda f: rank.get((ref.namespace, ref.name, f), len(rank))))
            for ref, fields in inputs.items()}


def opaque_query_lineage(sql: str, info: DatabaseInfo, result_labels: Sequence[Hashable],
                         index_labels: Sequence[Hashable] = (), reason: str = "") -> QueryLineage:
    """The unparseable query as its own input dataset (`query_<hash>` in the database's namespace), each
    result column an IDENTITY copy of the query's same-named column."""
    digest = hashlib.sha256(sql.encode("utf-8", "replace")).hexdigest()[:16]
    namespace = info.namespace
    ref = DatasetRef(namespace, f"query_{digest}", f"{namespace}/query_{digest}")
    step = frozenset({Transform(DIRECT, IDENTITY, description=OPAQUE_NOTE)})
    fields: dict[str, None] = {}

    def origins(label: Hashable) -> dict[SourceField, frozenset[Transform]]:
        name = field_name(label)
        fields.setdefault(name, None)
        return {SourceField(ref.namespace, ref.name, name): step}

    columns = {label: origins(label) for label in result_labels}
    index = {label: origins(label) for label in index_labels if label is not None}
    notes = (f"{OPAQUE_NOTE} ({reason[:200]})" if reason else OPAQUE_NOTE,)
    return QueryLineage({ref: fields}, FrameLineage(columns, {}, notes, index), False, notes)


def table_lineage(info: DatabaseInfo, table: str, schema: str | None, result_labels: Sequence[Hashable],
                  index_labels: Sequence[Hashable] = ()) -> QueryLineage:
    """`read_sql_table`: every result column (and index column) is an IDENTITY copy of its namesake."""
    database, parsed_schema, name = split_table_name(table) if schema is None else (None, schema, table)
    ref = table_dataset(info, name, parsed_schema, database)
    ident = frozenset({Transform(DIRECT, IDENTITY)})
    fields: dict[str, None] = {}

    def origins(label: Hashable) -> dict[SourceField, frozenset[Transform]]:
        fname = field_name(label)
        fields.setdefault(fname, None)
        return {SourceField(ref.namespace, ref.name, fname): ident}

    index = {label: origins(label) for label in index_labels if label is not None}
    columns = {label: origins(label) for label in result_labels}
    return QueryLineage({ref: fields}, FrameLineage(columns, {}, (), index), True)
