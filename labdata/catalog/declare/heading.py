"""Headings: the attributes of a relation, which of them form the primary key, and their kinds.

A heading is plain data (names, kinds, declared types): the compiler, the
in-process evaluator and the fetch decoder need nothing else to know a
relation's shape, and it pickles with the query that owns it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labdata.core.errors import QueryError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.declare.definition import TableSchema

__all__ = ["Column", "Heading"]


_NO_DEFAULT = "<no default>"


@dataclass(frozen=True)
class Column:
    """One attribute of a heading: name, kind (``blob``, ``longblob``, ``float``, ...) and key membership.

    ``default`` is the declared default as DataJoint shows it (``null``, ``"U"``), None when
    there is none; ``comment`` the declared comment.
    """

    name: str
    kind: str
    in_key: bool
    type: Any = None  # the AttributeType of a table attribute, None for computed ones
    nullable: bool = True
    default: str | None = None
    comment: str = ""

    @property
    def sql_type(self) -> str:
        """The declared type (``computed`` for a computed attribute), as DataJoint's ``Attribute.type``."""
        return self.type.text if self.type is not None else "computed"

    def definition_line(self) -> str:
        """This attribute as DataJoint's heading repr shows it: ``name=default : type # comment``."""
        name = self.name if self.default is None else f"{self.name}={self.default}"
        autoincrement = " auto_increment" if getattr(self.type, "autoincrement", False) else ""
        return "%-20s : %-28s # %s" % (name, self.sql_type + autoincrement, self.comment)  # noqa: UP031


@dataclass(frozen=True)
class Heading:
    """The attributes of a relation, in order."""

    columns: tuple[Column, ...]

    @classmethod
    def of_table(cls, schema: TableSchema) -> Heading:
        """The heading of a declared table."""
        return cls(tuple(Column(a.name, a.type.kind, a.in_key, a.type, a.nullable, _shown_default(a), a.comment)
                         for a in schema.attributes))

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """Every attribute name."""
        return tuple(c.name for c in self.columns)

    @functools.cached_property
    def primary_key(self) -> tuple[str, ...]:
        """Names of the primary-key attributes."""
        return tuple(c.name for c in self.columns if c.in_key)

    @functools.cached_property
    def secondary(self) -> tuple[str, ...]:
        """Names of the other attributes."""
        return tuple(c.name for c in self.columns if not c.in_key)

    @property
    def secondary_attributes(self) -> tuple[str, ...]:
        """Same as :attr:`secondary` (DataJoint's name)."""
        return self.secondary

    @property
    def attributes(self) -> dict[str, Column]:
        """Every attribute by name, in order (DataJoint's ``heading.attributes``)."""
        return dict(self._by_name)

    def __repr__(self) -> str:
        """The attributes as DataJoint shows a heading: one definition line each, ``---`` after the key."""
        lines, in_key = [], True
        for column in self.columns:
            if in_key and not column.in_key:
                lines.append("---")
                in_key = False
            lines.append(column.definition_line())
        return "\n".join(lines) + "\n"

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    @functools.cached_property
    def _by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Column:
        return self._by_name[name]

    def require(self, names: tuple[str, ...] | list[str], what: str) -> None:
        """Raise :class:`QueryError` naming the first unknown attribute, with the closest one."""
        for name in names:
            if name not in self:
                raise QueryError(f"{what} has no attribute {name!r}.{did_you_mean(name, self.names)}",
                                 hint=f"Attributes: {', '.join(self.names)}.")


def _shown_default(attribute: Any) -> str | None:
    """A declared default as DataJoint shows it: ``null``, a quoted string, or the value."""
    if attribute.in_key or not attribute.has_default or getattr(attribute.type, "autoincrement", False):
        return None
    value = attribute.default
    if value is None:
        return "null"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
