"""The statements the facade runs: one read or one INSERT / UPDATE / DELETE, every table checked against grants.

:func:`plan` takes a statement parsed in MySQL's dialect (mysql-mimic hands it over after answering SHOW,
SET, USE and ``information_schema`` itself), resolves each table to a lake schema through the MySQL database
it names (or the session's current one), checks the account's privilege on it (SELECT for every table read,
INSERT / UPDATE / DELETE for a write's target), and rewrites the names to the lake's. Anything else is refused
with MySQL's error: table functions and DuckDB's file and catalog functions (``read_csv``, ``glob``,
``ducklake_*``), DDL, and statements the facade does not support.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from sqlglot import exp

from labdata.core.errors import AccessDeniedError, QueryError
from labdata.server.grants import DELETE, INSERT, SELECT, UPDATE, Grants, schema_of

__all__ = ["FacadeStatementError", "Plan", "TableRef", "plan"]

_WRITES: dict[type[exp.Expr], str] = {exp.Insert: INSERT, exp.Update: UPDATE, exp.Delete: DELETE}
_FORBIDDEN_PREFIXES = ("read_", "parquet_", "ducklake_", "iceberg_", "delta_", "duckdb_", "pragma_", "sqlite_",
                       "postgres_", "mysql_", "json_execute", "arrow_scan", "pandas_scan")
_FORBIDDEN = frozenset({"glob", "query", "query_table", "sniff_csv", "getenv", "load_extension", "current_setting",
                        "set_config", "which_secret", "checkpoint", "force_checkpoint", "readcsv", "readparquet",
                        "import_database", "export_database", "copy_database", "range", "generate_series",
                        "unnest", "summary", "repeat"})


class FacadeStatementError(QueryError):
    """A statement the facade does not run; ``code`` is the MySQL error number clients receive."""

    def __init__(self, message: str, code: int, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


@dataclass(frozen=True)
class TableRef:
    """A table a statement names: its MySQL database, the lake schema shown as it, and its name."""

    database: str
    schema: str
    name: str


@dataclass
class Plan:
    """A checked statement: what it does, its target (writes), the tables it reads, and its lake SQL."""

    action: str
    expression: exp.Expr
    target: TableRef | None = None
    reads: list[TableRef] = field(default_factory=list)


def _function_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _refuse_functions(expression: exp.Expr) -> None:
    for node in expression.find_all(exp.Func):
        name = _function_name(node)
        if name in _FORBIDDEN or name.startswith(_FORBIDDEN_PREFIXES):
            raise FacadeStatementError(f"FUNCTION {name} does not exist or is not allowed here", 1305,
                                       hint="The facade reads tables of the lake only.")


def _action(expression: exp.Expr) -> str:
    if isinstance(expression, exp.Select | exp.SetOperation | exp.Subquery):
        return SELECT
    for kind, action in _WRITES.items():
        if isinstance(expression, kind):
            return action
    text = expression.sql(dialect="mysql")[:60]
    raise FacadeStatementError(f"This statement is not supported by the labdata facade: {text}", 1235,
                               hint="SELECT, INSERT, UPDATE, DELETE, SHOW, DESCRIBE and USE are.")


def plan(expression: exp.Expr, grants: Grants, database: str | None, lab_name: str, schemas: Collection[str],
         projects: Collection[str], tables_of: Callable[[str], Collection[str]], alias: str) -> Plan:
    """Check ``expression`` against ``grants`` and rewrite its table names to the lake's (``alias.schema.table``).

    Raises
    ------
    FacadeStatementError
        With MySQL's error number: 1046 no database selected, 1049 unknown database, 1146 no such table,
        1235 not supported, 1305 a forbidden function.
    AccessDeniedError
        The account lacks the privilege (MySQL's 1142).
    """
    action = _action(expression)
    _refuse_functions(expression)
    target_node = expression.this if action in (INSERT, UPDATE, DELETE) else None
    if isinstance(target_node, exp.Schema):  # INSERT INTO t (a, b)
        target_node = target_node.this
    ctes = {cte.alias_or_name.lower() for cte in expression.find_all(exp.CTE)}
    result = Plan(action, expression)
    for table in list(expression.find_all(exp.Table)):
        if not table.db and table.name.lower() in ctes:
            continue
        ref = _resolve(table, database, lab_name, schemas, tables_of, grants, projects)
        needed = action if table is target_node else SELECT
        if needed not in grants.privileges(ref.schema, projects):
            raise AccessDeniedError(f"{needed} command denied to user '{grants.account}'@'%' for table "
                                    f"`{ref.database}`.`{ref.name}`",
                                    hint="Ask an admin for a grant on the project (labdata account grant).")
        if table is target_node:
            result.target = ref
        else:
            result.reads.append(ref)
        table.set("catalog", exp.to_identifier(alias))
        table.set("db", exp.to_identifier(ref.schema))
        table.set("this", exp.to_identifier(ref.name))
    return result


def _resolve(table: exp.Table, database: str | None, lab_name: str, schemas: Collection[str],
             tables_of: Callable[[str], Collection[str]], grants: Grants, projects: Collection[str]) -> TableRef:
    """The table a name refers to; a database the account has no grant on is denied whether it exists or not."""
    if not isinstance(table.this, exp.Identifier) or table.catalog:
        raise FacadeStatementError(f"Only tables of the lake can be read here, not {table.sql(dialect='mysql')}",
                                   1235, hint="Name a table as `database`.`table`.")
    name = table.db or database
    if not name:
        raise FacadeStatementError("No database selected", 1046, hint="USE a database or name it: `db`.`table`.")
    schema = schema_of(name, lab_name)
    if schema is None or not grants.privileges(schema, projects):
        raise AccessDeniedError(f"Access denied for user '{grants.account}'@'%' to database '{name}'",
                                hint="SHOW DATABASES lists the databases you may use.")
    if schema not in schemas:
        raise FacadeStatementError(f"Unknown database '{name}'", 1049, hint="SHOW DATABASES lists yours.")
    table_name = table.name.lower()
    if table_name not in tables_of(schema):
        raise FacadeStatementError(f"Table '{name}.{table.name}' doesn't exist", 1146,
                                   hint=f"SHOW TABLES FROM `{name}` lists its tables.")
    return TableRef(name, schema, table_name)
