"""Queries: DataJoint's algebra over an immutable expression tree.

``Session & key``, ``Session - key``, ``Session * Dataset``, ``q.proj(...)``,
``Subject.aggr(Session, n='count(*)')``, ``U('a') & q``, ``a + b``. Every
operator returns a new :class:`Query`; nothing runs until rows are fetched,
counted or deleted. The tree is compiled by :mod:`labdata.catalog.expr.compiler`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from types import EllipsisType
from typing import TYPE_CHECKING, Any, Self, cast

import duckdb

from labdata.catalog.engine.attach import is_conflict
from labdata.catalog.engine.context import Context, current_context
from labdata.catalog.engine.replica import TableRef
from labdata.catalog.expr.compiler import compile_sql
from labdata.catalog.expr.diagnose import query_error
from labdata.catalog.expr.lookup import evaluate
from labdata.catalog.expr.nodes import (
    Aggregate,
    Join,
    Node,
    Project,
    Restrict,
    Source,
    Union,
    Universal,
    require_joinable,
    sources,
)
from labdata.catalog.expr.predicates import restricted, to_predicate
from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.ops.delete import delete_rows
from labdata.catalog.ops.drop import delete_quick
from labdata.catalog.ops.fetch import fetch_one, fetch_rows
from labdata.catalog.tables.preview import describe, html_preview, text_preview
from labdata.core.errors import QueryError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from labdata.catalog.declare.heading import Heading

__all__ = ["U", "Query", "as_query"]


def as_query(value: Any) -> Query:
    """Return ``value`` as a query (a table class becomes its instance)."""
    if isinstance(value, type) and hasattr(value, "table_schema"):
        value = value()
    if not isinstance(value, Query):
        raise QueryError(f"Expected a table or a query, got {type(value).__name__}.",
                         hint="Join and aggregate tables or queries, e.g. Session * Dataset.")
    return value


class Query:
    """A relation: a table, or an expression of tables; see the module docstring.

    A query is its expression tree (plain data) and, optionally, the context it was
    made in; without one it runs in the current context. It pickles without its
    context: ``pickle.loads`` in another process gives a query that runs on that
    process's lake.
    """

    def __init__(self, node: Node, context: Context | None = None) -> None:
        self._node = node
        self._context = context

    def __reduce__(self) -> tuple[Any, ...]:
        return Query, (self._node,)

    def __copy__(self) -> Query:
        """A shallow copy that keeps the context (pickling drops it; copying must not)."""
        copied = object.__new__(type(self))
        copied.__dict__.update(self.__dict__)
        return copied

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

    @property
    def context(self) -> Context:
        """The lake and project this query runs in: the one it was made in, else the current one."""
        return self._context or current_context()

    def using(self, context: Context) -> Query:
        """This query, run in ``context`` (e.g. after unpickling it in another process).

        Examples
        --------
        >>> query = pickle.loads(sent).using(Context(lake, "mice"))   # doctest: +SKIP
        """
        bound = copy.copy(self)
        bound._context = context
        return bound

    def _derived(self, node: Node, other: Query | None = None) -> Query:
        """A new query of ``node`` in this query's context (or ``other``'s)."""
        return Query(node, self._context or (other._context if other is not None else None))

    def _sources(self) -> list[Source]:
        """The tables this query reads (found once: the tree never changes)."""
        found = self.__dict__.get("_source_nodes")
        if found is None:
            found = self.__dict__["_source_nodes"] = sources(self.node)
        return found

    def _ensure(self) -> Context:
        """Create the schemas of every table the query reads (once per lake and project); return the context."""
        context = self.context
        for source in self._sources():
            registry = getattr(source.table_class, "_registry", None)
            if registry is not None:
                project = source.project or context.project
                ensure_schemas(context if project == context.project else Context(context.lake, project), registry)
        return context

    # ---- operators ------------------------------------------------------------
    def __and__(self, restriction: Any) -> Self:
        return self._restricted(restricted(self.node, restriction))

    def __sub__(self, restriction: Any) -> Self:
        return self._restricted(restricted(self.node, restriction, negated=True))

    def __xor__(self, restriction: Any) -> Self:
        """DataJoint's permissive restriction: ``&`` that may match on attributes secondary on both sides."""
        return self._restricted(restricted(self.node, restriction, check=False))

    def _restricted(self, node: Node) -> Self:
        """The query of ``node``, a restriction of this one (a table keeps its class: see Table)."""
        return cast("Self", self._derived(node))

    def restrict(self, restriction: Any) -> Self:
        """Same as ``self & restriction``."""
        return self._restricted(restricted(self.node, restriction))

    def __mul__(self, other: Any) -> Query:
        return self.join(other)

    def __rmul__(self, other: Any) -> Query:
        return as_query(other).join(self)

    def __matmul__(self, other: Any) -> Query:
        """DataJoint's permissive join: ``*`` that may match on attributes secondary on both sides."""
        return self.join(other, semantic_check=False)

    def join(self, other: Any, semantic_check: bool = True) -> Query:
        """The natural join on shared attribute names (``self * other``; ``self @ other`` without the check).

        Raises
        ------
        QueryError
            With ``semantic_check``, when the sides share an attribute secondary in both (as DataJoint 0.14).
        """
        if isinstance(other, U):
            return other * self
        other = as_query(other)
        if semantic_check:
            require_joinable(self.heading, other.heading)
        return self._derived(Join(self.node, other.node), other)

    def __add__(self, other: Any) -> Query:
        other = as_query(other)
        return self._derived(Union(self.node, other.node), other)

    def proj(self, *attributes: str | EllipsisType, **named: str) -> Query:
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
        return self._derived(Project(self.node, tuple(kept), renames, computed))

    def aggr(self, other: Any, *attributes: str | EllipsisType, keep_all_rows: bool = False,
             **computed: str) -> Query:
        """For each row, aggregate the matching rows of ``other``: ``n='count(*)'``, ``m='max(x)'``.

        As in DataJoint 0.14, rows without a match are dropped unless ``keep_all_rows``.
        """
        if not computed:
            raise QueryError("aggr needs at least one computed attribute, e.g. n='count(*)'.",
                             hint="Name what to compute: q.aggr(other, n='count(*)', last='max(session_datetime)').")
        # every attribute of this query with ..., as DataJoint's aggr(other, ...)
        kept = self.heading.secondary if Ellipsis in attributes else tuple(a for a in attributes if isinstance(a, str))
        self.heading.require(list(kept), "The aggregating query")
        other = as_query(other)
        require_joinable(self.heading, other.heading)
        return self._derived(Aggregate(self.node, other.node, tuple(computed.items()), keep_all_rows, kept), other)

    # ---- compiling and running ----------------------------------------------------
    def compile(self, columns: tuple[str, ...] | None = None, *, catalog: str | None = None,
                project: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return the DuckDB SQL and the named parameters of this query.

        ``catalog`` names the attached database the tables are read from and ``project``
        the project of tables not bound to one (defaults: this query's context). With
        both given no lake is needed.
        """
        if columns is not None:
            self.heading.require(columns, "The query")
        if catalog is None or project is None:
            context = self.context
            catalog, project = catalog or context.lake.alias, project or context.project
        return compile_sql(self.node, columns, catalog=catalog, project=project)

    def _table_ref(self, source: Source) -> TableRef:
        return TableRef(source.schema(self.context.project), source.sql_name, source.heading.primary_key)

    def _table_refs(self) -> list[TableRef]:
        return list({(ref := self._table_ref(source)).place: ref for source in self._sources()}.values())

    def read_catalog(self) -> str:
        """The attached database this query reads now: the read replica (its copies brought up to date) or the lake."""
        return self._ensure().lake.read_catalog(self._table_refs())

    def execute(self, columns: tuple[str, ...] | None = None,
                wrap: Callable[[str], str] | None = None, *, catalog: str | None = None) -> duckdb.DuckDBPyConnection:
        """Run this query (only ``columns``, if given) and return the DuckDB result.

        ``wrap`` turns the query's SQL into the statement to run (``SELECT count(*) FROM (...)``).
        Outside a write transaction the rows come from the lake's read replica;
        ``catalog`` is what :meth:`read_catalog` returned, if the caller asked already.

        Raises
        ------
        QueryError
            When DuckDB cannot run the query, naming the expression at fault (write
            conflicts are left to the transaction that retries them).
        """
        lake = self._ensure().lake
        sql, params = self.compile(columns, catalog=catalog or lake.read_catalog(self._table_refs()))
        try:
            return lake.execute(wrap(sql) if wrap else sql, params)
        except duckdb.Error as error:
            if is_conflict(error):
                raise
            raise query_error(error, self.node) from None

    def rows_in_process(self, catalog: str, columns: tuple[str, ...] | None = None) -> pa.Table | None:
        """The rows answered from the replica's key indexes, or ``None`` if DuckDB must run it.

        Every attribute, or at least ``columns`` if given. See :mod:`labdata.catalog.expr.lookup`;
        ``catalog`` is what :meth:`read_catalog` returned.
        """
        replica = self.context.lake.replica
        if replica is None or catalog != replica.alias:
            return None
        return evaluate(self.node, lambda source, max_rows: replica.key_index(self._table_ref(source), max_rows),
                        columns)

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
        return fetch_rows(self, attributes, as_dict=as_dict, format=format, order_by=order_by,
                          limit=limit, offset=offset)

    def fetch1(self, *attributes: str) -> Any:
        """Fetch exactly one row: a dict, one value, or a tuple of values."""
        return fetch_one(self, attributes)

    def head(self, limit: int = 25, **kwargs: Any) -> Any:
        """The first rows in primary-key order: ``fetch(order_by='KEY', limit=limit, **kwargs)``, as DataJoint."""
        return self.fetch(order_by="KEY", limit=limit, **kwargs)

    def tail(self, limit: int = 25, **kwargs: Any) -> Any:
        """The last rows, in primary-key order (``fetch`` arguments as for :meth:`head`)."""
        return self.fetch(order_by="KEY DESC", limit=limit, **kwargs)[::-1]

    def keys(self) -> list[dict[str, Any]]:
        """Primary keys of the rows, as dicts."""
        keys: list[dict[str, Any]] = self.fetch("KEY")
        return keys

    def __len__(self) -> int:
        # every node yields distinct rows (projections keep the key, aggregates group by it,
        # U and unions are DISTINCT), so a plain count is exact
        return int(self.execute(self.primary_key or None, "SELECT count(*) FROM ({})".format).fetchone()[0])  # type: ignore[index]

    def __bool__(self) -> bool:
        return bool(self.execute(self.primary_key or None, "SELECT EXISTS ({})".format).fetchone()[0])  # type: ignore[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.fetch(as_dict=True))

    def __contains__(self, item: Any) -> bool:
        return bool(self & item)

    def __repr__(self) -> str:
        return text_preview(self)

    def _repr_html_(self) -> str:
        return html_preview(self)

    def describe(self) -> str:
        """The attributes of this query, one per line, primary key first."""
        return describe(self)

    # ---- deleting ------------------------------------------------------------------
    def delete(self, *, dry_run: bool = False, safemode: bool | None = None, force_parts: bool = False,
               force_masters: bool = False) -> dict[str, int]:
        """Delete these rows of one table and every row that depends on them, in one transaction.

        Parameters
        ----------
        dry_run : bool
            Only count the rows.
        safemode : bool, optional
            Show the counts and ask to commit, at a terminal (default: ``dj.config['safemode']``).
        force_parts, force_masters : bool
            Delete part rows without their master's rows / with them, as DataJoint 0.14
            (see :mod:`labdata.catalog.ops.delete`).

        Returns
        -------
        dict
            Rows deleted (or that would be, with ``dry_run``) per ``schema.table``.
        """
        return delete_rows(self, dry_run=dry_run, safemode=safemode, force_parts=force_parts,
                           force_masters=force_masters)

    def delete_quick(self, get_count: bool = False) -> int:
        """Delete these rows of one table without cascading; return how many (DataJoint's ``delete_quick``).

        Raises IntegrityError when rows of other tables refer to them. ``get_count`` is accepted
        for DataJoint code; the count is always returned.
        """
        return delete_quick(self)

    def table_of_restriction(self) -> Any:
        """The declared table class a chain of restrictions starts from (None for joins, projections, ...)."""
        node = self.node
        while isinstance(node, Restrict):
            node = node.child
        return node.table_class if isinstance(node, Source) else None


class U:
    """DataJoint's universal set: ``U('a', 'b') & q`` (distinct combinations),
    ``U('a').aggr(q, n='count(*)')`` (grouped by a), ``U().aggr(q, n='count(*)')`` (totals),
    ``U('a') * q`` (q with ``a`` added to its primary key); ``q & U('a')`` is ``q``."""

    restricts_everything = True  # q & U(...) keeps every row of q

    def __init__(self, *attributes: str) -> None:
        self.attributes = attributes

    def __mul__(self, query: Any) -> Query:
        other = as_query(query)
        return other._derived(Join(Universal(self.attributes), other.node))

    __rmul__ = __mul__

    def join(self, query: Any) -> Query:
        """Same as ``self * query``."""
        return self.__mul__(query)

    def __and__(self, query: Any) -> Query:
        query = as_query(query)
        universal = Universal(self.attributes)
        return cast("Query", query._derived(Restrict(universal, to_predicate(query, universal.heading))))

    def aggr(self, query: Any, **computed: str) -> Query:
        """Aggregate ``query`` grouped by this set's attributes (no attributes: one row of totals)."""
        if not computed:
            raise QueryError("aggr needs at least one computed attribute, e.g. n='count(*)'.",
                             hint="Name what to compute: U('subject_name').aggr(Session, n='count(*)').")
        query = as_query(query)
        return cast("Query", query._derived(Aggregate(Universal(self.attributes), query.node,
                                                      tuple(computed.items()))))

    def __repr__(self) -> str:
        return f"U({', '.join(map(repr, self.attributes))})"
