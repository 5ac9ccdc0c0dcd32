"""Remote mode: the Python API over a labdata facade, for an analyst who has a facade account only.

``labdata.connect("mysql://alice@labserver:3306", project="mice")`` opens a :class:`RemoteLake`. Queries are
compiled exactly as on a local lake and sent to the facade, which checks every table against the account's
grants and answers with Arrow (see :mod:`labdata.server.arrow_reads`); the rows land in a local in-memory
DuckDB, so everything downstream (fetch, blobs, pandas) runs unchanged. Inserts travel as ``INSERT`` statements
with their blobs already encoded and deletes as ``DELETE`` of the selected keys: the server runs them through
its own Python API, so types, keys, parents, cascades and grants are checked there, and each commit records
the account (``labdata history``). Arrays kept outside the catalog are read from the lake folder the client
is given (a shared file system), with the client's own file permissions.

A remote lake cannot declare new tables, alter or drop them, change the catalog (maintenance, snapshots),
or run SQL other than queries.
"""

from __future__ import annotations

import datetime as dt
import decimal
import getpass
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from labdata.catalog.engine.attach import connect_duckdb
from labdata.catalog.engine.lake import Lake, may_write
from labdata.catalog.engine.verified import VerifiedKeys
from labdata.core.errors import AccessDeniedError, CatalogError, NotAllowedError, QueryError

__all__ = ["ARROW_MARKER", "CLIENT_MARKER", "RemoteAddress", "RemoteLake", "sql_literal"]

T = TypeVar("T")
#: a quoted literal or identifier (kept), or a named parameter ``$name`` (replaced by its value)
_PARAMETER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$([A-Za-z_]\w*)")
ARROW_MARKER = "/*labdata:arrow*/"
CLIENT_MARKER = "/*labdata:client*/"
_DENIED = (1044, 1045, 1142, 1095)


@dataclass(frozen=True)
class RemoteAddress:
    """Where a facade listens and who logs in: parsed from ``mysql://user[:password]@host[:port]``."""

    host: str
    port: int
    user: str
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> RemoteAddress:
        """Read ``mysql://user[:password]@host[:port]``.

        Examples
        --------
        >>> RemoteAddress.parse("mysql://alice@labserver:3307")
        RemoteAddress(host='labserver', port=3307, user='alice', password=None)
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "mysql" or not parts.hostname or not parts.username:
            raise CatalogError(f"Not a facade address: {url!r}.", hint="Write it as mysql://user@host:3306.")
        password = urllib.parse.unquote(parts.password) if parts.password else None
        return cls(parts.hostname, parts.port or 3306, urllib.parse.unquote(parts.username), password)


class RemoteLake(Lake):
    """A lake read and written through a labdata facade (see the module docstring).

    Parameters
    ----------
    address : RemoteAddress
        The facade and the account.
    password : str, optional
        The account's password (default: the address's, else asked at a terminal).
    root : str or Path, optional
        The lake folder the arrays are read from (a shared file system); without it, arrays kept outside
        the catalog cannot be read.
    """

    remote = True
    kind = "mysql"

    def __init__(self, address: RemoteAddress, *, password: str | None = None,
                 root: str | Path | None = None) -> None:
        self.address = address
        self._password = password or address.password or getpass.getpass(f"Password for {address.user}: ")
        self.root = Path(root).expanduser().resolve() if root else Path.cwd()
        self.dsn = self.metadata_schema = self.data_storage = None
        self.data_path = ""
        self._default_data_path = False
        self.read_only, self.snapshot_version, self.snapshot_time = False, None, None
        self.inline_row_limit = 0
        self._local = threading.local()
        self.ensured: set[tuple[int, int, str]] = set()
        self._internal: set[tuple[str, str]] = set()
        self.verified = VerifiedKeys()
        self._lock = None
        self.replica = None
        self._connection = connect_duckdb()
        self._mysql()  # log in now: a wrong password fails here, not at the first query

    def __repr__(self) -> str:
        return f"<RemoteLake mysql://{self.address.user}@{self.address.host}:{self.address.port}>"

    def close(self) -> None:
        connection = getattr(self._local, "mysql", None)
        if connection is not None:
            connection.close()
        super().close()

    # ---- the facade connection ------------------------------------------------
    def _mysql(self) -> Any:
        """This thread's connection to the facade (pymysql), opened on first use."""
        connection = getattr(self._local, "mysql", None)
        if connection is None:
            import pymysql

            try:
                connection = pymysql.connect(host=self.address.host, port=self.address.port,
                                             user=self.address.user, password=self._password, autocommit=True,
                                             charset="utf8mb4", connect_timeout=10)
            except pymysql.MySQLError as error:
                raise _labdata_error(error, f"log in to {self!r}") from error
            self._local.mysql = connection
        return connection

    def _send(self, sql: str) -> list[tuple[Any, ...]]:
        import pymysql

        try:
            with self._mysql().cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        except pymysql.MySQLError as error:
            raise _labdata_error(error, "run a query") from error

    # ---- reading ----------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> duckdb.DuckDBPyConnection:
        """Run one query on the facade; the result is read from a local DuckDB cursor."""
        if may_write(sql) or sql.lstrip().upper().startswith("CALL"):  # CALLs change the catalog too
            raise NotAllowedError("A remote lake runs queries only; this statement changes the catalog.",
                                  hint="Insert and delete through the tables; ask an admin for the rest.")
        rows = self._send(ARROW_MARKER + with_relations(sql, params))
        result = pa.concat_tables([_read_ipc(row[0]) for row in rows]) if rows else pa.table({})
        cursor = self.cursor()
        cursor.register("labdata_remote_result", result)
        return cursor.execute("SELECT * FROM labdata_remote_result")

    def read_catalog(self, tables: Any) -> str:
        return self.alias

    def schemas(self) -> list[str]:
        return []

    def tables_of(self, schemas: list[str]) -> dict[str, list[str]]:
        return {schema: [] for schema in schemas}

    # ---- writing ----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Lake]:
        """Each write is one transaction on the server; a block of several is not atomic here."""
        yield self

    def run(self, work: Callable[[], T], *, max_retries: int = 200, timeout: float = 300.0) -> T:
        return work()

    def insert_rows(self, schema: str, table: str, rows: list[dict[str, Any]], *, skip_duplicates: bool) -> int:
        """Send ``rows`` (blobs encoded) as one INSERT; returns the rows the server wrote."""
        if not rows:
            return 0
        columns = list(rows[0])
        values = ", ".join("(" + ", ".join(sql_literal(row[c]) for c in columns) + ")" for row in rows)
        or_ignore = " OR IGNORE" if skip_duplicates else ""
        names = ", ".join(f'"{c}"' for c in columns)
        return self._write(f'{CLIENT_MARKER}INSERT{or_ignore} INTO {self.alias}."{schema}"."{table}" ({names}) '
                           f"VALUES {values}")

    def delete_keys(self, schema: str, table: str, keys: list[dict[str, Any]]) -> int:
        """Delete the rows with ``keys`` (and, on the server, everything that depends on them)."""
        if not keys:
            return 0
        match = " OR ".join("(" + " AND ".join(f'"{k}" = {sql_literal(v)}' for k, v in key.items()) + ")"
                            for key in keys)
        return self._write(f'{CLIENT_MARKER}DELETE FROM {self.alias}."{schema}"."{table}" WHERE {match}')

    def _write(self, sql: str) -> int:
        import pymysql

        try:
            with self._mysql().cursor() as cursor:
                return int(cursor.execute(sql))
        except pymysql.MySQLError as error:
            raise _labdata_error(error, sql.split(" (", 1)[0].removeprefix(CLIENT_MARKER)) from error


def _read_ipc(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(data) as reader:
        return reader.read_all()


def _labdata_error(error: Exception, doing: str) -> Exception:
    """The LabdataError for a MySQL error the facade sent (access denied, or the message it carries)."""
    code, message = (*error.args, None, "")[:2] if error.args else (None, str(error))
    if code in _DENIED:
        return AccessDeniedError(f"The facade refused to {doing}: {message}",
                                 hint="Ask an admin for a grant on the project (labdata account grant).")
    return QueryError(f"The facade could not {doing}: {message}",
                      hint="The message is the server's; check the statement or the server's log.")


def with_relations(sql: str, params: Any) -> str:
    """``sql`` with its named parameters inlined: values as literals, Arrow tables (the key lists a compiled
    query joins) as ``WITH`` tables.

    Examples
    --------
    >>> with_relations("SELECT '$p1' AS a FROM t WHERE b = $p1", {"p1": "it's"})
    "SELECT '$p1' AS a FROM t WHERE b = 'it''s'"
    """
    if not params:
        return sql
    if not isinstance(params, dict):
        raise QueryError("A remote query carries named parameters only.")

    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        if name is None:  # a quoted literal or identifier: kept as it is
            return found.group(0)
        if name not in params or isinstance(params[name], pa.Table):
            raise QueryError(f"The remote query has no value for the parameter {name!r}.")
        return sql_literal(params[name])

    sql = _PARAMETER.sub(value, sql)
    tables = [f'"{name}" AS ({_values_sql(table)})' for name, table in params.items() if isinstance(table, pa.Table)]
    if not tables:
        return sql
    if re.match(r"\s*WITH\s+RECURSIVE\b", sql, re.IGNORECASE):
        raise QueryError("A remote query cannot join key lists into a recursive query.")
    opened = re.match(r"\s*WITH\s+", sql, re.IGNORECASE)
    if opened:
        return f"WITH {', '.join(tables)}, {sql[opened.end():]}"
    return f"WITH {', '.join(tables)} {sql}"


def _values_sql(table: pa.Table) -> str:
    types = duckdb.from_arrow(table).types
    named = enumerate(zip(table.column_names, types, strict=True))
    columns = ", ".join(f'CAST(v.c{i} AS {t}) AS "{n}"' for i, (n, t) in named)
    if table.num_rows == 0:
        nulls = ", ".join(f"NULL AS c{i}" for i in range(table.num_columns))
        return f"SELECT {columns} FROM (SELECT {nulls}) AS v WHERE false"
    rows = ", ".join("(" + ", ".join(sql_literal(v) for v in row.values()) + ")" for row in table.to_pylist())
    names = ", ".join(f"c{i}" for i in range(table.num_columns))
    return f"SELECT {columns} FROM (VALUES {rows}) AS v({names})"


def sql_literal(value: Any) -> str:
    """``value`` as a DuckDB SQL literal.

    Examples
    --------
    >>> sql_literal("it's"), sql_literal(None), sql_literal(b"\\x00A"), sql_literal(dt.date(2024, 1, 2))
    ("'it''s'", 'NULL', "unhex('0041')", "'2024-01-02'")
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | decimal.Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else f"'{value}'::DOUBLE"
    if isinstance(value, bytes | bytearray | memoryview):
        return f"unhex('{bytes(value).hex()}')"
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return f"'{value.isoformat(sep=' ') if isinstance(value, dt.datetime) else value.isoformat()}'"
    if hasattr(value, "item"):  # numpy scalars
        return sql_literal(value.item())
    text = str(value).replace("'", "''")
    return f"'{text}'"
