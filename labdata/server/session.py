"""One client connection of the facade: its login, its cursor, and each statement it sends.

DuckDB work runs off the event loop (``asyncio.to_thread``) on the session's own cursor of the read-only
attach, so clients do not wait for each other; results stream in batches; a statement that runs past the
facade's ``query_timeout`` is interrupted; errors reach the client as MySQL errors with MySQL's numbers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
from mysql_mimic import ResultColumn, Session
from mysql_mimic import errors as mimic_errors
from mysql_mimic.auth import AbstractClearPasswordAuthPlugin, IdentityProvider, User
from mysql_mimic.errors import ErrorCode, MysqlError
from mysql_mimic.types import ColumnType
from sqlglot import exp

from labdata.core.errors import AccessDeniedError, DuplicateError, IntegrityError, LabdataError, MissingParentError
from labdata.server.accounts import account_grants
from labdata.server.admin_views import FacadeError, check_kill, processlist, recent_errors
from labdata.server.catalog_info import info_schema, show_create_table
from labdata.server.client_statements import ARROW_MARKER, CLIENT_MARKER, arrow_batches, as_mysql_names
from labdata.server.facade import SessionRecord
from labdata.server.grants import SELECT, Grants
from labdata.server.statements import FacadeStatementError, Plan, plan
from labdata.server.writes import apply_write

if TYPE_CHECKING:
    from mysql_mimic.connection import Connection

    from labdata.server.facade import Facade

__all__ = ["FacadeIdentity", "FacadeSession"]

T = TypeVar("T")
BATCH_ROWS = 2048
ARROW_BATCH_ROWS = 65536
MAX_STATEMENT_BYTES = 8 * 1024 * 1024  # reported as max_allowed_packet; MySQL's 1153 beyond
_COLUMN_TYPES = {"VARCHAR": ColumnType.VARCHAR, "BIGINT": ColumnType.LONGLONG, "INTEGER": ColumnType.LONG,
                 "SMALLINT": ColumnType.SHORT, "TINYINT": ColumnType.TINY, "UTINYINT": ColumnType.SHORT,
                 "USMALLINT": ColumnType.LONG, "UINTEGER": ColumnType.LONGLONG, "DOUBLE": ColumnType.DOUBLE,
                 "FLOAT": ColumnType.FLOAT, "BOOLEAN": ColumnType.TINY, "DATE": ColumnType.DATE,
                 "TIMESTAMP": ColumnType.DATETIME, "TIMESTAMP WITH TIME ZONE": ColumnType.TIMESTAMP,
                 "TIME": ColumnType.TIME, "BLOB": ColumnType.BLOB, "HUGEINT": ColumnType.NEWDECIMAL,
                 "UUID": ColumnType.VARCHAR}
_SQL_STATES = {1153: b"08S01", 1044: b"42000", 1049: b"42000", 1062: b"23000", 1136: b"21S01", 1142: b"42000",
               1146: b"42S02", 1305: b"42000", 1451: b"23000", 1452: b"23000", 3024: b"HY000", 1036: b"HY000",
               1366: b"HY000"}


class _ClearPassword(AbstractClearPasswordAuthPlugin):
    """``mysql_clear_password``: the client sends the password (use TLS off the lab's network), checked against
    the account's salted hash."""

    name = "mysql_clear_password"

    def __init__(self, facade: Facade) -> None:
        self.facade = facade

    async def check(self, username: str, password: str) -> str | None:
        grants = await asyncio.to_thread(self.facade.authenticate, username, password)
        return username if grants is not None else None


class FacadeIdentity(IdentityProvider):
    """Accounts from the lake; an unknown name fails like a wrong password (MySQL's 1045), revealing nothing."""

    def __init__(self, facade: Facade) -> None:
        self.plugin = _ClearPassword(facade)

    def get_plugins(self) -> Sequence[Any]:
        return [self.plugin]

    async def get_user(self, username: str) -> User | None:
        return User(name=username, auth_plugin=self.plugin.name)


def _mysql_error(error: BaseException) -> MysqlError:
    """The MySQL error a client gets for ``error`` (MySQL's numbers; the labdata hint appended)."""
    if isinstance(error, MysqlError):
        return error
    code = {AccessDeniedError: 1142, DuplicateError: 1062, MissingParentError: 1452, IntegrityError: 1451}
    number = getattr(error, "code", None) or next((n for kind, n in code.items() if isinstance(error, kind)), None)
    if number is None:
        number = 1366 if isinstance(error, LabdataError) else ErrorCode.UNKNOWN_ERROR
    if isinstance(error, AccessDeniedError) and "to database" in str(error).split("\n")[0]:
        number = 1044
    return MysqlError(str(error).replace("\nhint: ", " (hint: ") + (")" if "\nhint: " in str(error) else ""),
                      code=number)


def register_sql_states() -> None:
    """Teach mysql-mimic the SQLSTATE of the MySQL errors the facade sends (it knows a few)."""
    mimic_errors.SQLSTATES.update(_SQL_STATES)


class FacadeSession(Session):
    """A connection's state: account, current database, cursor; answers SHOW CREATE TABLE itself."""

    def __init__(self, facade: Facade) -> None:
        super().__init__()
        self.facade = facade
        self.grants: Grants | None = None
        self.cursor: duckdb.DuckDBPyConnection | None = None
        self.replica_cursor: duckdb.DuckDBPyConnection | None = None
        self._affected = 0
        self.middlewares.insert(0, self._show_create_middleware)
        self.variables.set("max_allowed_packet", MAX_STATEMENT_BYTES)

    async def init(self, connection: Connection) -> None:
        await super().init(connection)
        self.grants = await asyncio.to_thread(self._grants)
        self.cursor = self.facade.reader.open_cursor()
        self.replica_cursor = self.facade.lake.open_cursor()
        plain_ok = connection.ok

        def ok(**kwargs: Any) -> bytes:  # a write's OK packet carries the rows it changed
            affected, self._affected = self._affected, 0
            return plain_ok(**({"affected_rows": affected} | kwargs)) if affected else plain_ok(**kwargs)

        connection.ok = ok
        self.facade.sessions[connection.connection_id] = SessionRecord(connection.connection_id, self.username or "")

    def _grants(self) -> Grants:
        grants = account_grants(self.facade.lake, self.username or "")
        if grants is None:
            raise MysqlError(f"Access denied for user {self.username}", code=ErrorCode.ACCESS_DENIED_ERROR)
        return grants

    async def close(self) -> None:
        if self._connection is not None:
            self.facade.sessions.pop(self._connection.connection_id, None)
        for cursor in (self.cursor, self.replica_cursor):
            if cursor is not None:
                cursor.close()
        await super().close()

    async def schema(self) -> Any:
        described = await asyncio.to_thread(self.facade.described, self._account())
        return info_schema(described.values())

    def _account(self) -> Grants:
        if self.grants is None:
            raise MysqlError("Not logged in", code=ErrorCode.ACCESS_DENIED_ERROR)
        return self.grants

    async def _show_create_middleware(self, q: Any) -> Any:
        expression = q.expression
        shown = expression.name.upper() if isinstance(expression, exp.Show) else ""
        if shown == "PROCESSLIST":
            return processlist(self.facade.sessions.values(), self._account())
        if shown == "ERRORS":
            return recent_errors(self.facade.errors, self._account())
        if isinstance(expression, exp.Kill):
            check_kill(expression.this.name, self.facade.sessions, self._account())
            return await q.next()
        if shown != "CREATE TABLE":
            return await q.next()
        database = expression.text("db") or self.database
        if not database:
            raise MysqlError("No database selected", code=ErrorCode.NO_DB_ERROR)
        name = expression.text("target") or expression.this.name
        described = await asyncio.to_thread(self.facade.described, self._account())
        info = described.get((database.lower(), name.lower()))
        if info is None:
            raise MysqlError(f"Table '{database}.{name}' doesn't exist", code=1146)
        return [(info.name, show_create_table(info))], ["Table", "Create Table"]

    async def handle_query(self, sql: str, attrs: dict[str, str]) -> Any:
        if len(sql) > MAX_STATEMENT_BYTES:
            too_large = MysqlError(f"Got a packet bigger than 'max_allowed_packet' bytes ({MAX_STATEMENT_BYTES})",
                                   code=1153)
            self._keep(sql, too_large)
            raise too_large
        record = self.facade.sessions.get(self.connection.connection_id)
        if record is not None:
            record.statement, record.started = sql, time.time()
        try:
            if sql.startswith((ARROW_MARKER, CLIENT_MARKER)):
                return await self._reported(sql, self._client_statement(sql))
            return await super().handle_query(sql, attrs)
        finally:
            if record is not None:
                record.statement = record.started = None

    async def query(self, expression: exp.Expr, sql: str, attrs: dict[str, str]) -> Any:
        return await self._reported(sql, self._run(expression, sql))

    async def _reported(self, sql: str, work: Any) -> Any:
        """Await ``work``; an error is kept for the admin (``SHOW ERRORS``) and sent as a MySQL error."""
        try:
            return await work
        except BaseException as error:
            sent = _mysql_error(error)
            self._keep(sql, sent)
            raise sent from error

    def _keep(self, sql: str, error: MysqlError) -> None:
        """Keep ``error`` among the facade's recent errors (``SHOW ERRORS`` for an admin)."""
        self.facade.errors.append(FacadeError(time.time(), self.username or "", sql[:500], int(error.code),
                                              str(error.msg)[:500]))

    async def _client_statement(self, sql: str) -> Any:
        """A labdata client's statement (remote mode), checked like any other; a query is answered as Arrow IPC."""
        query = sql.startswith(ARROW_MARKER)
        expression = as_mysql_names(sql.removeprefix(ARROW_MARKER).removeprefix(CLIENT_MARKER),
                                    self.facade.lab_name, writes=not query)
        if not query:
            return await self._run(expression, sql)
        checked = await self._checked(expression)
        _, reader = await self._select(checked, lambda result: result.to_arrow_reader(ARROW_BATCH_ROWS))
        return arrow_batches(reader)

    async def _checked(self, expression: exp.Expr) -> Plan:
        grants, facade = self._account(), self.facade
        state = facade.fresh_state()
        if state is None:
            state = await asyncio.to_thread(facade.state)
        return plan(expression, grants, self.database, facade.lab_name, state.schemas, state.projects,
                    lambda schema: state.tables.get(schema, frozenset()), facade.reader.alias)

    async def _run(self, expression: exp.Expr, sql: str) -> Any:
        facade = self.facade
        checked = await self._checked(expression)
        if checked.action != SELECT:
            assert checked.target is not None
            table = facade.table_for(checked.target)
            try:
                affected = await asyncio.to_thread(self._write, checked, table, sql)
            finally:
                facade.forget_state()
            self._affected = affected
            return None
        result, first = await self._select(checked, lambda result: result.fetchmany(BATCH_ROWS))
        return _streamed(result, first)

    async def _select(self, checked: Plan, then: Callable[[duckdb.DuckDBPyConnection], T]
                      ) -> tuple[duckdb.DuckDBPyConnection, T]:
        """Run a checked read and ``then(result)`` (its first rows) in one hop off the event loop, on the session's
        cursor or, when the replica answers, the replica's; within the query timeout."""
        facade = self.facade

        def run() -> tuple[duckdb.DuckDBPyConnection, T]:
            catalog = facade.read_catalog(checked.reads)
            cursor = self.cursor
            if catalog is not None:  # the replica answers: same names, its catalog
                for table in checked.expression.find_all(exp.Table):
                    if table.catalog == facade.reader.alias:
                        table.set("catalog", exp.to_identifier(catalog))
                cursor = self.replica_cursor
            assert cursor is not None
            result = cursor.execute(checked.expression.sql(dialect="duckdb"))
            return result, then(result)

        return await self._timed(run)

    def _write(self, checked: Any, table: Any, sql: str) -> int:
        """Carry out a checked write, its commit noted with the account and the statement (see ``labdata history``)."""
        grants, facade = self._account(), self.facade
        with facade.lake.noting(grants.account, f"facade: {' '.join(sql.split())}"):
            return apply_write(checked, table, self._read, grants, facade.state().projects, facade.lab_name,
                               encoded=sql.startswith(CLIENT_MARKER))

    def _read(self, sql: str) -> duckdb.DuckDBPyConnection:
        assert self.cursor is not None
        return self.cursor.execute(sql)

    async def _timed(self, work: Callable[[], T]) -> T:
        timeout = self.facade.query_timeout
        handle = asyncio.get_running_loop().call_later(timeout, self._interrupt) if timeout else None
        try:
            return await asyncio.to_thread(work)
        except duckdb.InterruptException as error:
            raise FacadeStatementError(f"Query execution was interrupted, maximum statement execution time "
                                       f"({timeout} s) exceeded", 3024) from error
        except duckdb.Error as error:
            raise FacadeStatementError(f"The query failed: {str(error).splitlines()[0]}", 1064) from error
        finally:
            if handle is not None:
                handle.cancel()

    def _interrupt(self) -> None:
        for cursor in (self.cursor, self.replica_cursor):
            if cursor is not None:
                cursor.interrupt()


def _streamed(result: duckdb.DuckDBPyConnection, first: list[Any]) -> tuple[AsyncIterator[Sequence[Any]], list[Any]]:
    """The rows of ``result`` (``first``, fetched with the query, then batches off the event loop) with their MySQL
    column types; a first batch shorter than ``BATCH_ROWS`` was the whole result."""
    columns: list[Any] = []
    for name, type_code, *_ in result.description or []:
        kind = _COLUMN_TYPES.get(str(type_code).upper())
        if kind is None and str(type_code).upper().startswith("DECIMAL"):
            kind = ColumnType.NEWDECIMAL
        columns.append(ResultColumn(name=name, type=kind) if kind is not None else name)

    async def rows() -> AsyncIterator[Sequence[Any]]:
        batch = first
        while batch:
            for row in batch:
                yield row
            if len(batch) < BATCH_ROWS:
                return
            batch = await asyncio.to_thread(result.fetchmany, BATCH_ROWS)

    return rows(), columns
