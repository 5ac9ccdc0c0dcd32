"""What the facade says about tables: MySQL column types, keys, ``information_schema`` and ``SHOW CREATE TABLE``.

The lake's columns come from DuckDB (what exists); their declared MySQL types, primary keys and references
from labdata's declarations (documented tables) or the declarations the lake recorded for a lab's own
tables, so that ``DESCRIBE``, ``information_schema.columns`` and ``SHOW CREATE TABLE`` (which SQLAlchemy's
reflection parses) read like the original's MySQL tables.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mysql_mimic.schema import Column, InfoSchema, info_schema_tables

from labdata.catalog.declare.registry import schema_name
from labdata.catalog.ops.declarations import recorded_declarations
from labdata.server.grants import database_of

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema
    from labdata.catalog.engine.lake import Lake

__all__ = ["ColumnInfo", "TableInfo", "describe_keys", "describe_lake", "info_schema", "mysql_type",
           "show_create_table"]

_DUCKDB_TO_MYSQL = {"VARCHAR": "text", "INTEGER": "int", "BIGINT": "bigint", "SMALLINT": "smallint",
                    "TINYINT": "tinyint", "UTINYINT": "tinyint unsigned", "USMALLINT": "smallint unsigned",
                    "UINTEGER": "int unsigned", "UBIGINT": "bigint unsigned", "HUGEINT": "decimal(38,0)",
                    "DOUBLE": "double", "FLOAT": "float", "BOOLEAN": "tinyint(1)", "DATE": "date",
                    "TIMESTAMP": "datetime(6)", "TIMESTAMP WITH TIME ZONE": "timestamp", "TIME": "time",
                    "BLOB": "longblob", "UUID": "char(36)"}
_DECLARED = re.compile(r"^(?P<base>[a-z]+(?:\s+unsigned)?(?:\([^)]*\))?(?:\s+unsigned)?)")


def mysql_type(duckdb_type: str, declared: str | None = None) -> str:
    """The MySQL type shown for a column: its declared type where MySQL has it, else one for the DuckDB type.

    Examples
    --------
    >>> mysql_type("VARCHAR", "varchar(32)"), mysql_type("BLOB", "longblob@raw"), mysql_type("DECIMAL(6,2)")
    ('varchar(32)', 'longblob', 'decimal(6,2)')
    """
    if declared:
        text = declared.strip().lower()
        if text.startswith(("enum", "decimal", "varchar", "char")):
            return text.split("@")[0]
        match = _DECLARED.match(text.split("@")[0])
        if match and not text.startswith(("uuid", "attach", "filepath")):
            return {"bool": "tinyint(1)", "boolean": "tinyint(1)"}.get(match["base"], match["base"])
    upper = duckdb_type.upper()
    if upper.startswith("DECIMAL"):
        return upper.lower()
    if upper.endswith("[]") or upper.startswith(("STRUCT", "MAP")):
        return "json"
    return _DUCKDB_TO_MYSQL.get(upper, "text")


@dataclass(frozen=True)
class ColumnInfo:
    """One column as MySQL clients see it."""

    name: str
    type: str
    nullable: bool
    in_key: bool = False
    default: str | None = None


@dataclass(frozen=True)
class TableInfo:
    """One table as MySQL clients see it: database, name, columns and references."""

    database: str
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    references: tuple[tuple[tuple[str, ...], str, str, tuple[str, ...]], ...] = field(default=())

    @property
    def primary_key(self) -> tuple[str, ...]:
        """The primary-key columns, in order."""
        return tuple(c.name for c in self.columns if c.in_key)


def _declared_tables(registry: Any, projects: Iterable[str]) -> dict[tuple[str, str], TableSchema]:
    """Documented tables by (lake schema, table name), for each project (lab-wide ones once)."""
    found: dict[tuple[str, str], TableSchema] = {}
    for cls in registry:
        table = cls.table_schema()
        for project in projects:
            found[(schema_name(table.tier_group, project), table.sql_name)] = table
    return found


def describe_keys(lake: Lake, projects: Iterable[str], registry: Any) -> dict[tuple[str, str], tuple[str, ...]]:
    """The primary key of each declared table, by (lake schema, table): documented tables and the lab's own."""
    keys = {place: table.primary_key for place, table in _declared_tables(registry, projects).items()}
    for place, declaration in recorded_declarations(lake).items():
        keys.setdefault(place, tuple(declaration.get("primary_key", ())))
    return keys


def _column(name: str, duckdb_type: str, nullable: bool, declared: TableSchema | None,
            recorded: Mapping[str, Any] | None) -> ColumnInfo:
    if declared is not None and name in declared.names:
        attribute = declared[name]
        default = None if attribute.default is None or not attribute.has_default else str(attribute.default)
        return ColumnInfo(name, mysql_type(duckdb_type, attribute.type.text), attribute.nullable, attribute.in_key,
                          default if attribute.default is not None and not attribute.nullable else None)
    if recorded is not None:
        text = recorded.get("attributes", {}).get(name, "")
        return ColumnInfo(name, mysql_type(duckdb_type, text.split(" ")[0] or None), " null" in text or nullable,
                          name in recorded.get("primary_key", ()))
    return ColumnInfo(name, mysql_type(duckdb_type), nullable)


def describe_lake(lake: Lake, schemas: Iterable[str], lab_name: str, registry: Any,
                  projects: Iterable[str]) -> dict[tuple[str, str], TableInfo]:
    """Every table of ``schemas`` in ``lake``, keyed by (MySQL database, table), in one catalog read."""
    wanted, projects = list(schemas), list(projects)
    if not wanted:
        return {}
    marks = ", ".join("?" * len(wanted))
    rows = lake.execute(
        "SELECT schema_name, table_name, column_name, data_type, is_nullable FROM duckdb_columns() "
        f"WHERE database_name = ? AND schema_name IN ({marks}) ORDER BY schema_name, table_name, column_index",
        [lake.alias, *wanted]).fetchall()
    declared, recorded = _declared_tables(registry, projects), recorded_declarations(lake)
    columns: dict[tuple[str, str], list[ColumnInfo]] = {}
    for schema, table, name, duckdb_type, nullable in rows:
        columns.setdefault((schema, table), []).append(
            _column(name, duckdb_type, nullable, declared.get((schema, table)), recorded.get((schema, table))))
    return {(database_of(schema, lab_name), table): TableInfo(
                database_of(schema, lab_name), schema, table, tuple(cols),
                _references(declared.get((schema, table)), registry, schema, lab_name))
            for (schema, table), cols in columns.items()}


def _references(table: TableSchema | None, registry: Any, schema: str,
                lab_name: str) -> tuple[tuple[tuple[str, ...], str, str, tuple[str, ...]], ...]:
    if table is None:
        return ()
    project = schema.removesuffix("_computed") if table.tier_group == "computed" else schema
    found = []
    for reference in table.foreign_keys:
        if reference.parent not in registry:
            continue
        parent = registry.schema(reference.parent)
        found.append((tuple(child for child, _ in reference.attribute_map),
                      database_of(schema_name(parent.tier_group, project), lab_name), parent.sql_name,
                      tuple(parent_name for _, parent_name in reference.attribute_map)))
    return tuple(found)


def info_schema(tables: Iterable[TableInfo]) -> InfoSchema:
    """``information_schema`` tables (schemata, tables, columns with their keys) for mysql-mimic's executor."""
    listed = list(tables)
    columns = [Column(name=c.name, type=c.type, table=t.name, is_nullable=c.nullable, default=c.default,
                      schema=t.database) for t in listed for c in t.columns]
    data = info_schema_tables(columns)
    keys = {(t.database, t.name, c.name) for t in listed for c in t.columns if c.in_key}
    table = data["information_schema"]["columns"]
    rows = [(*row[:16], "PRI" if (row[1], row[2], row[3]) in keys else "", *row[17:]) for row in table.rows]
    table.rows.clear()
    table.rows.extend(rows)
    return InfoSchema(data)


def show_create_table(table: TableInfo) -> str:
    """A MySQL ``CREATE TABLE`` statement for ``table`` (columns, primary key, foreign keys), as MySQL prints it."""
    lines = []
    for column in table.columns:
        null = " DEFAULT NULL" if column.nullable else " NOT NULL"
        default = f" DEFAULT '{column.default}'" if column.default is not None and not column.nullable else ""
        lines.append(f"  `{column.name}` {column.type}{null}{default}")
    if table.primary_key:
        lines.append(f"  PRIMARY KEY ({', '.join(f'`{k}`' for k in table.primary_key)})")
    for number, (columns, database, parent, parent_columns) in enumerate(table.references, start=1):
        lines.append(f"  CONSTRAINT `{table.name}_ibfk_{number}` FOREIGN KEY ({', '.join(f'`{c}`' for c in columns)})"
                     f" REFERENCES `{database}`.`{parent}` ({', '.join(f'`{c}`' for c in parent_columns)})")
    body = ",\n".join(lines)
    return f"CREATE TABLE `{table.name}` (\n{body}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
