"""Queries: DataJoint's algebra over an immutable expression tree.

``Session & key``, ``Session - key``, ``Session * Dataset``, ``q.proj(...)``,
``Subject.aggr(Session, n='count(*)')``, ``U('a') & q``, ``a + b``. Every
operator returns a new :class:`Query`; nothing runs until rows are fetched,
counted or deleted. The tree is compiled by :mod:`labdata.catalog.compiler`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labdata.catalog.expr import Aggregate, Join, Node, Project, Restrict, Source, Union, Universal
from labdata.core.errors import QueryError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

    from labdata.catalog.context import Context
    from labdata.catalog.expr import Heading
    from labdata.catalog.replica import TableRef

__all__ = ["U", "Query", "as_query"]


def instance_of_table(value: Any) -> Any:
    """A table class becomes its instance (it restricts, joins and aggregates like it); anything else is kept."""
    return value() if isinstance(value, type) and hasattr(value, "table_schema") else value


def table_ref(table: Any) -> TableRef:
    """Where a bound table is read from: schema, name and primary key."""
    from labdata.catalog.replica import TableRef

    schema = table.table_schema()
    return TableRef(table.context.schema_for(schema.tier_group), schema.sql_name, schema.primary_key)


def as_query(value: Any) -> Query:
    """Return ``value`` as a query (a table class becomes its instance)."""
    value = instance_of_table(value)
    if not isinstance(value, Query):
        raise QueryError(f"Expected a table or a query, got {type(value).__name__}.",
                         hint="Join and aggregate tables or queries, e.g. Session * Dataset.")
    return value


def _restriction_nodes(restriction: Any) -> list[Node]:
    """The query nodes inside a restriction (a query, a table class, or lists and ``Not`` of them)."""
    from labdata.catalog.restrict import Not

    restriction = instance_of_table(restriction)
    if isinstance(restriction, Query):
        return [restriction.node]
    if isinstance(restriction, Not):
        return _restriction_nodes(restriction.restriction)
    if isinstance(restriction, (list, tuple)):
        return [node for item in restriction for node in _restriction_nodes(item)]
    return []


class Query:
    """A relation: a table, or an expression of tables; see the module docstring."""

    def __init__(self, node: Node) -> None:
        self._node = node

    # ---- the tree ---------------------------------------------------------
    @property
    def node(self) -> Node:
        """The expression node this query stands for."""
        return self._node

    @property
    def heading(self) -> Heading:
        """Attribute names, primary key and kinds of the rows this query returns."""
        return self.node.heading

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Names of the primary-key attributes."""
        return self.heading.primary_key

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Names of every attribute."""
        return self.heading.names

    def _sources(self) -> list[Any]:
        """The tables this query reads (found once: the tree never changes)."""
        found = self.__dict__.get("_source_tables")
        if found is None:
            found = self.__dict__["_source_tables"] = self._find_sources()
        return found

    def _find_sources(self) -> list[Any]:
        found, stack = [], [self.node]
        while stack:
            node = stack.pop()
            if isinstance(node, Source):
                found.append(node.table)
            stack.extend(getattr(node, name) for name in ("child", "left", "right", "group", "source")
                         if isinstance(getattr(node, name, None), Node))
            stack.extend(_restriction_nodes(getattr(node, "restriction", None)))
        return found

    @property
    def context(self) -> Context:
        """The lake and project of the (first) table the query reads."""
        sources = self._sources()
        if not sources:
            raise QueryError("This query reads no table.", hint="Start from a table.")
        return sources[-1].context

    def _ensure(self) -> Context:
        from labdata.catalog.ddl import ensure_schemas

        for table in self._sources():
            ensure_schemas(table.context, table._registry)
        return self.context

    # ---- operators ------------------------------------------------------------
    def __and__(self, restriction: Any) -> Query:
        return Query(Restrict(self.node, restriction, False))

    def __sub__(self, restriction: Any) -> Query:
        return Query(Restrict(self.node, restriction, True))

    def restrict(self, restriction: Any) -> Query:
        """Same as ``self & restriction``."""
        return self & restriction

    def __mul__(self, other: Any) -> Query:
        return Query(Join(self.node, as_query(other).node))

    def __rmul__(self, other: Any) -> Query:
        return Query(Join(as_query(other).node, self.node))

    def join(self, other: Any) -> Query:
        """Same as ``self * other``: the natural join on shared attribute names."""
        return self * other

    def __add__(self, other: Any) -> Query:
        return Query(Union(self.node, as_query(other).node))

    def proj(self, *attributes: str, **named: str) -> Query:
        """Keep (``'a'``), drop (``'-a'``), keep all (``...``), rename (``new='old'``) or
        compute (``new='expression'``) attributes; the primary key is always kept."""
        heading = self.heading
        keep_all = Ellipsis in attributes
        names = [a for a in attributes if a is not Ellipsis]
        drops = {a[1:] for a in names if a.startswith("-")}
        kept = [a for a in names if not a.startswith("-")]
        heading.require([*kept, *drops], "The projected query")
        if drops & set(heading.primary_key):
            raise QueryError(f"Cannot drop primary-key attributes {sorted(drops & set(heading.primary_key))}.",
                             hint="Rename them instead: proj(new_name='old_name').")
        if keep_all or (drops and not kept):
            kept = [n for n in heading.secondary if n not in drops]
        renames = tuple((new, old) for new, old in named.items() if old in heading)
        computed = tuple((new, text) for new, text in named.items() if text not in heading)
        return Query(Project(self.node, tuple(kept), renames, computed))

    def aggr(self, other: Any, *attributes: str, keep_all_rows: bool = False, **computed: str) -> Query:
        """For each row, aggregate the matching rows of ``other``: ``n='count(*)'``, ``m='max(x)'``.

        As in DataJoint 0.14, rows without a match are dropped unless ``keep_all_rows``.
        """
        if not computed:
            raise QueryError("aggr needs at least one computed attribute, e.g. n='count(*)'.")
        self.heading.require(list(attributes), "The aggregating query")
        return Query(Aggregate(self.node, as_query(other).node, tuple(computed.items()), keep_all_rows,
                               tuple(attributes)))

    # ---- compiling and running ----------------------------------------------------
    def compile(self, columns: tuple[str, ...] | None = None, *,
                catalog: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return the DuckDB SQL and the named parameters of this query.

        ``catalog`` names the attached database the tables are read from (default: the lake).
        """
        from labdata.catalog.compiler import compile_sql

        if columns is not None:
            self.heading.require(columns, "The query")
        return compile_sql(self.node, columns, catalog=catalog)

    def _table_refs(self) -> list[TableRef]:
        refs = {}
        for table in self._sources():
            ref = table_ref(table)
            refs[ref.place] = ref
        return list(refs.values())

    def read_catalog(self) -> str:
        """The attached database this query reads now: the read replica (its copies brought up to date) or the lake."""
        return self._ensure().lake.read_catalog(self._table_refs())

    def execute(self, columns: tuple[str, ...] | None = None,
                wrap: Callable[[str], str] | None = None, *, catalog: str | None = None) -> duckdb.DuckDBPyConnection:
        """Run this query (only ``columns``, if given) and return the DuckDB result.

        ``wrap`` turns the query's SQL into the statement to run (``SELECT count(*) FROM (...)``).
        Outside a write transaction the rows come from the lake's read replica;
        ``catalog`` is what :meth:`read_catalog` returned, if the caller asked already.
        """
        lake = self._ensure().lake
        sql, params = self.compile(columns, catalog=catalog or lake.read_catalog(self._table_refs()))
        return lake.execute(wrap(sql) if wrap else sql, params)

    def rows_in_process(self, catalog: str) -> pa.Table | None:
        """Every attribute of the rows, answered from the replica's key indexes, or ``None`` if DuckDB must run it.

        See :mod:`labdata.catalog.lookup`; ``catalog`` is what :meth:`read_catalog` returned.
        """
        replica = self.context.lake.replica
        if replica is None or catalog != replica.alias:
            return None
        from labdata.catalog.lookup import evaluate

        return evaluate(self.node, lambda source, max_rows: replica.key_index(table_ref(source.table), max_rows))

    @property
    def sql(self) -> str:
        """The DuckDB SQL of this query (parameters as ``$p1``, ...)."""
        return self.compile()[0]

    def to_arrow(self, *attributes: str) -> pa.Table:
        """Return the rows as a pyarrow Table (blob attributes still serialised)."""
        return self.execute(tuple(attributes) or None).to_arrow_table()

    def to_pandas(self, *attributes: str) -> pd.DataFrame:
        """Return the rows as a DataFrame indexed by the primary key, blobs as numpy arrays."""
        return self.fetch(*attributes, format="frame") if not attributes else \
            self.proj(*attributes).fetch(format="frame")

    def fetch(self, *attributes: str, as_dict: bool = False, format: str | None = None,
              order_by: str | list[str] | None = "KEY", limit: int | None = None,
              offset: int | None = None) -> Any:
        """Fetch rows: a record array (default), dicts, a DataFrame, or arrays of named attributes.

        Parameters
        ----------
        *attributes : str
            Attributes to return, as one array each; ``'KEY'`` returns primary keys as dicts.
        as_dict : bool
            Return a list of dicts.
        format : {None, 'array', 'frame'}
            ``'frame'`` returns a pandas DataFrame indexed by the primary key.
        order_by, limit, offset
            Ordering (``'attr'``, ``'attr DESC'``, ``'KEY'``) and paging. Rows come in
            primary-key order by default, as from MySQL, so code that indexes the
            result keeps working; ``order_by=None`` skips the sort.
        """
        from labdata.catalog.fetch import fetch_rows

        return fetch_rows(self, attributes, as_dict=as_dict, format=format, order_by=order_by,
                          limit=limit, offset=offset)

    def fetch1(self, *attributes: str) -> Any:
        """Fetch exactly one row: a dict, one value, or a tuple of values."""
        from labdata.catalog.fetch import fetch_one

        return fetch_one(self, attributes)

    def head(self, limit: int = 25, **kwargs: Any) -> Any:
        """The first rows (ordered by primary key) as dicts."""
        return self.fetch(as_dict=True, order_by="KEY", limit=limit, **kwargs)

    def keys(self) -> list[dict[str, Any]]:
        """Primary keys of the rows, as dicts."""
        return self.fetch("KEY")

    def __len__(self) -> int:
        # every node yields distinct rows (projections keep the key, aggregates group by it,
        # U and unions are DISTINCT), so a plain count is exact
        return int(self.execute(self.primary_key or None, "SELECT count(*) FROM ({})".format).fetchone()[0])

    def __bool__(self) -> bool:
        return bool(self.execute(self.primary_key or None, "SELECT EXISTS ({})".format).fetchone()[0])

    def __iter__(self):
        return iter(self.fetch(as_dict=True))

    def __contains__(self, item: Any) -> bool:
        return bool(self & item)

    def __repr__(self) -> str:
        from labdata.catalog.preview import text_preview

        return text_preview(self)

    def _repr_html_(self) -> str:
        from labdata.catalog.preview import html_preview

        return html_preview(self)

    def describe(self) -> str:
        """The attributes of this query, one per line, primary key first."""
        from labdata.catalog.preview import describe

        return describe(self)

    # ---- deleting ------------------------------------------------------------------
    def delete(self, *, dry_run: bool = False) -> dict[str, int]:
        """Delete these rows of one table and every row that depends on them, in one transaction.

        Returns
        -------
        dict
            Rows deleted (or that would be, with ``dry_run``) per ``schema.table``.
        """
        from labdata.catalog.delete import cascade_delete

        return cascade_delete(self, dry_run=dry_run)

    def table_of_restriction(self) -> Any:
        """The table a chain of restrictions starts from (None for joins, projections, ...)."""
        node = self.node
        while isinstance(node, Restrict):
            node = node.child
        return node.table if isinstance(node, Source) else None


class U:
    """DataJoint's universal set: ``U('a', 'b') & q`` (distinct combinations),
    ``U('a').aggr(q, n='count(*)')`` (grouped by a), ``U().aggr(q, n='count(*)')`` (totals)."""

    def __init__(self, *attributes: str) -> None:
        self.attributes = attributes

    def __and__(self, query: Any) -> Query:
        return Query(Restrict(Universal(self.attributes), as_query(query), False))

    def aggr(self, query: Any, **computed: str) -> Query:
        """Aggregate ``query`` grouped by this set's attributes (no attributes: one row of totals)."""
        if not computed:
            raise QueryError("aggr needs at least one computed attribute, e.g. n='count(*)'.")
        return Query(Aggregate(Universal(self.attributes), as_query(query).node, tuple(computed.items())))

    def __repr__(self) -> str:
        return f"U({', '.join(map(repr, self.attributes))})"
