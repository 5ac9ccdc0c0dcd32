"""Aggregates of ``aggr`` evaluated on Arrow rows as DuckDB evaluates their compiled SQL.

:mod:`labdata.catalog.expr.lookup` answers ``group.aggr(source, new='f(x)')`` in-process
when every computed attribute is one of

* ``count(*)``, or ``count(x)`` (the rows whose ``x`` is not NULL), a BIGINT;
* ``min(x)`` / ``max(x)`` of an integer, date, datetime or (non-ENUM) text attribute
  (DuckDB orders an ENUM by declaration and treats NaN as the largest float, so those
  are left to it), of the attribute's own type.

The group's rows are inner-joined with the source's on their shared attributes
(NULL matches nothing), as the compiled ``GROUP BY`` does. Anything else raises
:class:`~labdata.catalog.expr.arrow_conditions.NotSupported`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from labdata.catalog.expr.arrow_conditions import NotSupported
from labdata.catalog.expr.mysql import parse_text

if TYPE_CHECKING:
    from labdata.catalog.declare.heading import Heading

__all__ = ["Aggregation", "aggregation"]

_ORDERED_KINDS = frozenset({"integer", "date", "datetime", "string"})


class Aggregation:
    """The computed attributes of one ``aggr``: ``(new name, Arrow function, source column or None)``."""

    def __init__(self, parts: list[tuple[str, str, str | None]]) -> None:
        self.parts = parts

    @property
    def columns(self) -> frozenset[str]:
        """The source attributes the parts read."""
        return frozenset(name for _, _, name in self.parts if name is not None)

    def counts_rows_only(self, key: tuple[str, ...]) -> bool:
        """Whether every part counts rows: ``count(*)`` or ``count`` of a key attribute (never NULL)."""
        return all(function == "count" and (name is None or name in key) for _, function, name in self.parts)

    def apply(self, rows: pa.Table, shared: list[str]) -> pa.Table:
        """``rows`` grouped by ``shared`` (no NULL in them), one column per part after the groups' values."""
        rows = rows.filter(_no_nulls(rows, shared)) if rows.num_rows else rows
        if not rows.num_rows:  # nothing matches; Arrow cannot aggregate some empty columns
            return pa.table({**{name: rows.column(name) for name in shared},
                             **{new: pa.array([], pa.int64() if function == "count" else rows.column(name).type)
                                for new, function, name in self.parts}})
        marker = "__labdata_rows"
        rows = rows.append_column(marker, pa.array([True] * rows.num_rows, pa.bool_()))
        specs = [(marker, "count", pc.CountOptions(mode="all")) if name is None else
                 (name, "count", pc.CountOptions(mode="only_valid")) if function == "count" else
                 (name, function, pc.ScalarAggregateOptions(skip_nulls=True)) for _, function, name in self.parts]
        grouped = rows.group_by(shared, use_threads=False).aggregate(specs)
        outputs = [f"{name or marker}_{function}" for _, function, name in self.parts]
        result = grouped.select([*shared, *outputs])
        return result.rename_columns([*shared, *(new for new, _, _ in self.parts)])


def aggregation(computed: tuple[tuple[str, str], ...], heading: Heading) -> Aggregation:
    """The aggregation of ``computed`` (new name, MySQL text) over rows of ``heading``."""
    return Aggregation([(new, *_part(parse_text(text), heading)) for new, text in computed])


def _part(node: exp.Expr, heading: Heading) -> tuple[str, str | None]:
    if isinstance(node, exp.Count):
        if isinstance(node.this, exp.Star):
            return "count", None
        return "count", _attribute(node.this, heading, None)
    if isinstance(node, exp.Min | exp.Max) and not node.expressions:
        return ("min" if isinstance(node, exp.Min) else "max"), _attribute(node.this, heading, _ORDERED_KINDS)
    raise NotSupported


def _attribute(node: exp.Expr, heading: Heading, kinds: frozenset[str] | None) -> str:
    if not isinstance(node, exp.Column) or node.table or node.name not in heading:
        raise NotSupported
    kind = heading[node.name].kind
    if kind in ("blob", "longblob") or (kinds is not None and kind not in kinds):
        raise NotSupported
    return node.name


def _no_nulls(rows: pa.Table, names: list[str]) -> pa.Array:
    mask = None
    for name in names:
        valid = pc.is_valid(rows.column(name))
        mask = valid if mask is None else pc.and_(mask, valid)
    return mask
