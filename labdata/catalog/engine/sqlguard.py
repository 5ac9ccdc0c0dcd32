"""Which SQL ``labdata.sql`` runs: one reading statement, or (asked to write) a write that spares labdata's tables.

Rows of labdata's tables are written only through the Python API, which checks keys,
foreign keys and the stored objects of deleted rows; plain SQL would bypass all of it
(a ``DELETE FROM session`` leaves orphan datasets). A statement is classified twice, by
DuckDB's own parser (statement count and kind) and by sqlglot in the DuckDB dialect
(every node of the tree), and reading statements then run on a read-only attach of the
catalog, so that a write hidden from both parsers still fails.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import duckdb
import sqlglot
from sqlglot import exp

from labdata.core.errors import QueryError, SQLWriteError

__all__ = ["API_HINT", "Statement", "check_statement"]

API_HINT = ("Change rows through the Python API, which checks keys and references and cascades: "
            "Table.insert(rows), (Table & restriction).delete(); e.g. "
            "(Session & \"subject_name = 'JC178'\").delete().")
_READING_TOP = (exp.Select, exp.SetOperation, exp.Values, exp.Describe, exp.Summarize, exp.Show, exp.Subquery)
_WRITING_NODES = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter,
                  exp.TruncateTable, exp.Copy, exp.Attach, exp.Detach, exp.Set, exp.Pragma, exp.Use,
                  exp.Command, exp.Transaction, exp.Commit, exp.Rollback, exp.Install)
_WRITABLE_TARGETS = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.TruncateTable)
# DuckLake's table functions that change the catalog or its files, callable from a SELECT's FROM.
_CHANGING_FUNCTIONS = ("ducklake_flush_inlined_data", "ducklake_merge_adjacent_files", "ducklake_expire_snapshots",
                       "ducklake_cleanup_old_files", "ducklake_delete_orphaned_files", "ducklake_add_data_files",
                       "ducklake_set_option", "ducklake_set_commit_message", "ducklake_rewrite_data_files")
_MAINTENANCE_CALLS = ("ducklake_flush_inlined_data", "ducklake_merge_adjacent_files", "ducklake_expire_snapshots",
                      "ducklake_cleanup_old_files", "ducklake_rewrite_data_files")


@dataclass(frozen=True)
class Statement:
    """One checked statement: its text and whether it only reads."""

    sql: str
    reads: bool


def check_statement(query: str, *, write: bool = False, managed: Collection[str] = ()) -> Statement:
    """Classify ``query``; raise unless it is one reading statement, or ``write`` allows it.

    Parameters
    ----------
    query : str
        DuckDB SQL.
    write : bool
        Also accept a ``CALL`` of DuckLake's maintenance functions and writes whose every
        target is ``schema.table`` in a schema labdata does not manage (a scratch schema).
    managed : collection of str
        Schemas labdata manages (``lab``, each project's two schemas): never written here.

    Raises
    ------
    SQLWriteError
        For several statements, or a statement that could change anything it may not.
    QueryError
        When DuckDB cannot parse the SQL.
    """
    kinds = _duckdb_kinds(query)
    if len(kinds) != 1:
        raise SQLWriteError(f"labdata sql runs one statement at a time; this has {len(kinds)}.",
                            hint="Run the SELECTs one by one. " + API_HINT)
    tree = _sqlglot_tree(query)
    if kinds[0] == "SELECT" and (tree is None or _reads(tree)):
        return Statement(query, reads=True)
    if write and tree is not None and _allowed_write(tree, kinds[0], managed):
        return Statement(query, reads=False)
    what = kinds[0] if kinds[0] != "SELECT" else type(tree).__name__.upper() if tree is not None else kinds[0]
    if write:
        raise SQLWriteError(f"SQL does not write labdata's tables or the connection ({what} refused, even with "
                            "--write).", hint=API_HINT + " --write allows only CALL ducklake_<maintenance>(...) "
                            "and writes to schema.table in a schema of your own.")
    raise SQLWriteError(f"labdata sql only reads: this {what} statement was refused and nothing changed.",
                        hint=API_HINT)


def _duckdb_kinds(query: str) -> list[str]:
    try:
        return [statement.type.name for statement in duckdb.connect().extract_statements(query)]
    except duckdb.Error as error:
        raise QueryError(f"The SQL failed: {error}", hint="Check the syntax (DuckDB SQL).") from error


def _sqlglot_tree(query: str) -> exp.Expr | None:
    """The statement's sqlglot tree; None where sqlglot cannot parse DuckDB syntax that DuckDB accepts."""
    import logging

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # no "falling back to Command" warnings on the terminal
    try:
        trees = [tree for tree in sqlglot.parse(query, read="duckdb") if tree is not None]
    except sqlglot.errors.SqlglotError:
        return None
    if len(trees) != 1:
        raise SQLWriteError(f"labdata sql runs one statement at a time; this has {len(trees)}.", hint=API_HINT)
    return trees[0]


def _reads(tree: exp.Expr) -> bool:
    if not isinstance(tree, _READING_TOP):
        return False
    if any(isinstance(node, _WRITING_NODES) for node in tree.walk()):
        return False
    names = {_function_name(node) for node in tree.find_all(exp.Func, exp.Table)}
    return not names & set(_CHANGING_FUNCTIONS)


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Table) and isinstance(node.this, exp.Func):
        node = node.this
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else ""


def _allowed_write(tree: exp.Expr, kind: str, managed: Collection[str]) -> bool:
    if kind == "CALL":
        text = tree.sql(dialect="duckdb").lower()
        return any(text.startswith(f"call {name}(") for name in _MAINTENANCE_CALLS)
    if not isinstance(tree, _WRITABLE_TARGETS):
        return False
    blocked = {s.lower() for s in managed} | {"main", "labdata_internal"}
    target = tree.this if not isinstance(tree, exp.Drop) else tree
    tables = [target] if isinstance(target, exp.Table) else list(target.find_all(exp.Table)) \
        if isinstance(target, exp.Expression) else []
    if str(tree.args.get("kind", "")).upper() == "SCHEMA":
        schemas = [t.db or t.name for t in tables]
    else:
        schemas = [t.db for t in tables]
    return bool(schemas) and all(s and s.lower() not in blocked for s in schemas)
