"""Queries over one table: restriction with ``&`` and ``-``, fetching, deleting.

A :class:`Query` is immutable: operators return new queries. It is compiled
to DuckDB SQL through sqlglot with bound parameters when it is run, and it
knows the context (lake and project) of the table it starts from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp

from labdata.catalog.restrict import Params, column, condition
from labdata.core.errors import QueryError, did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from labdata.catalog.context import Context
    from labdata.catalog.declare import TableSchema
    from labdata.catalog.table import Table

__all__ = ["Query"]


class Query:
    """Rows of one table that satisfy a conjunction of restrictions."""

    def __init__(self, *, table: type[Table], restrictions: tuple[tuple[bool, Any], ...] = (),
                 source: Table | None = None) -> None:
        self._table = table
        self._restrictions = restrictions
        self._source = source if source is not None else self

    # ---- composition ------------------------------------------------------
    def _restricted(self, restriction: Any, negate: bool) -> Query:
        return Query(table=self._table, restrictions=(*self._restrictions, (negate, restriction)),
                     source=self._source)

    def __and__(self, restriction: Any) -> Query:
        return self._restricted(restriction, False)

    def __sub__(self, restriction: Any) -> Query:
        return self._restricted(restriction, True)

    def restrict(self, restriction: Any) -> Query:
        """Same as ``self & restriction``."""
        return self & restriction

    # ---- description -------------------------------------------------------
    @property
    def schema(self) -> TableSchema:
        """The declaration of the queried table."""
        return self._table.table_schema()

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Names of the attributes the query returns."""
        return self.schema.names

    @property
    def context(self) -> Context:
        """The lake and project the query runs against."""
        return self._source.context

    def _ensure(self) -> Context:
        from labdata.catalog.ddl import ensure_schemas

        context = self.context
        ensure_schemas(context, self._table._registry)
        return context

    def __repr__(self) -> str:
        return f"<query on {self._table._full_name} with {len(self._restrictions)} restriction(s)>"

    # ---- compiling ------------------------------------------------------------
    def select_expression(self, *, params: Params, columns: tuple[str, ...] | None = None,
                          depth: int = 0) -> exp.Select:
        """Return the sqlglot SELECT of this query, binding values into ``params``."""
        alias = f"t{depth}"
        schema = self.schema
        names = columns or schema.names
        source = exp.to_table(self.context.qualified(schema.tier_group, schema.sql_name), dialect="duckdb")
        select = exp.select(*(column(alias, n) for n in names)).from_(source.as_(alias))
        for negate, restriction in self._restrictions:
            clause = condition(restriction, schema, alias, params, depth)
            select = select.where(exp.not_(clause) if negate else clause)
        return select

    def compile(self, columns: tuple[str, ...] | None = None) -> tuple[str, list[Any]]:
        """Return the DuckDB SQL and the parameter values of this query."""
        params = Params()
        select = self.select_expression(params=params, columns=columns)
        return select.sql(dialect="duckdb"), params.values

    def _check_columns(self, names: tuple[str, ...]) -> None:
        for name in names:
            if name not in self.schema:
                raise QueryError(
                    f"{self._table._full_name} has no attribute {name!r}.{did_you_mean(name, self.schema.names)}",
                    hint=f"Attributes: {', '.join(self.schema.names)}.",
                )

    # ---- fetching ----------------------------------------------------------------
    def to_arrow(self, *attributes: str) -> pa.Table:
        """Return the rows as a pyarrow Table (blob columns still serialised)."""
        self._check_columns(attributes)
        context = self._ensure()
        sql, params = self.compile(tuple(attributes) or None)
        return context.lake.execute(sql, params).to_arrow_table()

    def to_pandas(self, *attributes: str) -> pd.DataFrame:
        """Return the rows as a DataFrame, blobs decoded to numpy arrays."""
        from labdata.catalog.fetch import decode_frame

        frame = self.to_arrow(*attributes).to_pandas()
        return decode_frame(frame, self.schema, self.context.lake.root)

    def fetch(self, *attributes: str, as_dict: bool = False, format: str | None = None,
              order_by: str | list[str] | None = None, limit: int | None = None,
              offset: int | None = None) -> Any:
        """Fetch rows: a record array (default), dicts, a DataFrame, or arrays of named attributes.

        Parameters
        ----------
        *attributes : str
            Attributes to return, as one array each; ``'KEY'`` returns primary keys as dicts.
        as_dict : bool
            Return a list of dicts.
        format : {None, 'array', 'frame'}
            ``'frame'`` returns a pandas DataFrame.
        order_by, limit, offset
            Ordering and paging.
        """
        from labdata.catalog.fetch import fetch_rows

        return fetch_rows(self, attributes, as_dict=as_dict, format=format, order_by=order_by,
                          limit=limit, offset=offset)

    def fetch1(self, *attributes: str) -> Any:
        """Fetch exactly one row: a dict, one value, or a tuple of values."""
        from labdata.catalog.fetch import fetch_one

        return fetch_one(self, attributes)

    def __len__(self) -> int:
        context = self._ensure()
        sql, params = self.compile(self.schema.primary_key)
        return int(context.lake.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0])

    def __bool__(self) -> bool:
        context = self._ensure()
        sql, params = self.compile(self.schema.primary_key)
        return context.lake.execute(f"SELECT EXISTS ({sql})", params).fetchone()[0]

    def __iter__(self):
        return iter(self.fetch(as_dict=True))

    def __contains__(self, item: Any) -> bool:
        return bool(self & item)

    def keys(self) -> list[dict[str, Any]]:
        """Return the primary keys of the rows as dicts."""
        return self.fetch("KEY")

    # ---- deleting ------------------------------------------------------------------
    def delete(self, *, dry_run: bool = False) -> dict[str, int]:
        """Delete these rows and every row that depends on them, in one transaction.

        Parameters
        ----------
        dry_run : bool
            Only count.

        Returns
        -------
        dict
            Rows deleted (or that would be) per table, ``schema.table`` → count.
        """
        from labdata.catalog.delete import cascade_delete

        return cascade_delete(self, dry_run=dry_run)


def record_array(frame: pd.DataFrame) -> np.recarray:
    """Convert a DataFrame to a numpy record array, keeping objects as objects."""
    return frame.to_records(index=False)
