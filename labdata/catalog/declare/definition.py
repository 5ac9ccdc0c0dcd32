"""Parse DataJoint table definitions once into a :class:`TableSchema`.

The seeds' definition syntax is kept so that users can read and write it::

    # a session of one subject
    -> Subject
    session_name : varchar(54)          # YYYYMMDD_HHMMSS
    ---
    session_datetime = NULL : datetime
    -> [nullable] LabMember.proj(experimenter='user_name')

Lines above ``---`` form the primary key; ``-> Parent`` inherits the parent's
primary key (renamed with ``.proj(new='old')``, optional with ``[nullable]``);
``name = default : type  # comment`` declares an attribute. Part tables refer to
their master with ``-> master``.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labdata.catalog.declare.heading import Heading
from labdata.catalog.declare.types import AttributeType, parse_type

__all__ = ["NO_DEFAULT", "Attribute", "ForeignKey", "TableSchema", "parse_definition"]


class _NoDefault:
    def __repr__(self) -> str:
        return "NO_DEFAULT"


NO_DEFAULT: Any = _NoDefault()

_ATTR_RE = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s*(?:=\s*(?P<default>.+?))?\s*:\s*(?P<type>[^#]+?)\s*(?:#\s*(?P<comment>.*))?$",
    re.I,
)
_INDEX_RE = re.compile(r"^(?P<unique>unique\s+)?index\s*\((?P<names>[^)]*)\)\s*(#.*)?$", re.I)
_FK_RE = re.compile(
    r"^->\s*(?:\[(?P<opts>[^\]]*)\]\s*)?(?P<ref>[A-Za-z_][\w.]*?)"
    r"(?:\.proj\((?P<proj>[^)]*)\))?\s*(?:#\s*(?P<comment>.*))?$"
)


@dataclass(frozen=True)
class Attribute:
    """One column of a table."""

    name: str
    type: AttributeType
    in_key: bool
    nullable: bool = False
    default: Any = NO_DEFAULT
    comment: str = ""

    @property
    def has_default(self) -> bool:
        """Whether an insert may omit this attribute."""
        return self.nullable or self.default is not NO_DEFAULT or self.type.autoincrement

    @property
    def sql_type(self) -> str:
        """The DuckDB column type."""
        return self.type.sql


@dataclass(frozen=True)
class ForeignKey:
    """A reference from a table to a parent's primary key.

    Attributes
    ----------
    parent : str
        Full class name of the parent (``"LabMember"``, ``"Dataset.DataFiles"``).
    attribute_map : tuple of (str, str)
        Pairs ``(child attribute, parent attribute)``.
    nullable : bool
        Whether the reference may be NULL (``-> [nullable] Parent``).
    in_key : bool
        Whether the inherited attributes are part of the child's primary key.
    """

    parent: str
    attribute_map: tuple[tuple[str, str], ...]
    nullable: bool
    in_key: bool

    @property
    def child_attributes(self) -> tuple[str, ...]:
        """The child's referencing attributes."""
        return tuple(child for child, _ in self.attribute_map)


@dataclass(frozen=True)
class TableSchema:
    """A table declaration: name, tier, attributes, primary key and references.

    Attributes
    ----------
    class_name : str
        Full class name (``"Session"``, ``"Dataset.DataFiles"``).
    sql_name : str
        Snake-case name of the table in its schema (``session``, ``dataset__data_files``).
    tier : str
        ``manual``, ``lookup``, ``imported``, ``computed`` or ``part``.
    tier_group : str
        Schema group: ``lab`` (lab-wide), ``data`` or ``computed`` (per project).
    """

    class_name: str
    sql_name: str
    tier: str
    tier_group: str
    attributes: tuple[Attribute, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    comment: str = ""
    master: str | None = None
    indexes: tuple[tuple[bool, tuple[str, ...]], ...] = field(default=(), compare=False)
    _by_name: dict[str, Attribute] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({a.name: a for a in self.attributes})

    @functools.cached_property
    def heading(self) -> Heading:
        """The query heading of the table (built once)."""
        return Heading.of_table(self)

    @property
    def primary_key(self) -> tuple[str, ...]:
        """Names of the primary-key attributes, in order."""
        return tuple(a.name for a in self.attributes if a.in_key)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of every attribute, in order."""
        return tuple(a.name for a in self.attributes)

    @property
    def secondary(self) -> tuple[str, ...]:
        """Names of the attributes outside the primary key."""
        return tuple(a.name for a in self.attributes if not a.in_key)

    def __getitem__(self, name: str) -> Attribute:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name


ParentResolver = Callable[[str], TableSchema]


def parse_definition(
    definition: str,
    *,
    class_name: str,
    sql_name: str,
    tier: str,
    tier_group: str,
    resolve: ParentResolver,
    master: str | None = None,
) -> TableSchema:
    """Parse a definition string into a :class:`TableSchema`.

    Parameters
    ----------
    definition : str
        The DataJoint-style definition.
    class_name, sql_name, tier, tier_group : str
        Identity of the table (see :class:`TableSchema`).
    resolve : callable
        Returns the schema of a referenced class by full name (``master`` is
        replaced by the master's name before the call).
    master : str, optional
        Full name of the master of a part table.

    Raises
    ------
    ValueError
        On a line that is neither an attribute, a reference, ``---`` nor a comment.
    """
    attributes: dict[str, Attribute] = {}
    foreign_keys: list[ForeignKey] = []
    indexes: list[tuple[bool, tuple[str, ...]]] = []
    comment, in_key = "", True
    for number, raw in enumerate(definition.strip().splitlines()):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            comment = comment or (line.lstrip("# ").strip() if number == 0 else "")
            continue
        if index := _INDEX_RE.match(line):  # DuckLake has no indexes: unique ones are checked on insert
            indexes.append((bool(index["unique"]), tuple(n.strip() for n in index["names"].split(",") if n.strip())))
            continue
        if re.fullmatch(r"-{3,}", line.replace(" ", "")):
            in_key = False
        elif line.startswith("->"):
            reference = _parse_reference(line, in_key, resolve, master)
            foreign_keys.append(reference)
            _add_inherited(attributes, reference, resolve(reference.parent))
        else:
            attribute = _parse_attribute(line, in_key, class_name)
            attributes[attribute.name] = attribute
    ordered = sorted(attributes.values(), key=lambda a: not a.in_key)
    for _, names in indexes:
        for name in names:
            if name not in attributes:
                raise ValueError(f"Index on {name!r}, which {class_name} does not have.")
    return TableSchema(class_name, sql_name, tier, tier_group, tuple(ordered),
                       tuple(foreign_keys), comment, master, tuple(indexes))


def _parse_reference(line: str, in_key: bool, resolve: ParentResolver, master: str | None) -> ForeignKey:
    match = _FK_RE.match(line)
    if not match:
        raise ValueError(f"Cannot parse reference {line!r}.")
    ref = match["ref"]
    if ref == "master" or ref.startswith("master."):
        if master is None:
            raise ValueError(f"{line!r} refers to a master but the table is not a part table.")
        ref = master + ref[len("master"):]
    options = {o.strip().lower() for o in (match["opts"] or "").split(",") if o.strip()}
    renames = _parse_projection(match["proj"] or "")
    parent = resolve(ref)
    mapping = tuple((renames.get(name, name), name) for name in parent.primary_key)
    return ForeignKey(ref, mapping, nullable="nullable" in options, in_key=in_key)


def _parse_projection(text: str) -> dict[str, str]:
    """Map parent attribute → child attribute from ``new='old', ...``."""
    renames: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        new, _, old = part.partition("=")
        renames[ast.literal_eval(old.strip())] = new.strip()
    return renames


def _add_inherited(attributes: dict[str, Attribute], reference: ForeignKey, parent: TableSchema) -> None:
    for child_name, parent_name in reference.attribute_map:
        if child_name in attributes:
            continue  # shared with another parent (e.g. subject_name): one column
        inherited = parent[parent_name]
        attributes[child_name] = Attribute(
            child_name,
            _without_autoincrement(inherited.type),
            in_key=reference.in_key,
            nullable=reference.nullable,
            default=None if reference.nullable else NO_DEFAULT,
            comment=inherited.comment,
        )


def _without_autoincrement(atype: AttributeType) -> AttributeType:
    if not atype.autoincrement:
        return atype
    return parse_type(atype.text.lower().replace("auto_increment", "").strip())


def _parse_attribute(line: str, in_key: bool, class_name: str) -> Attribute:
    match = _ATTR_RE.match(line)
    if not match:
        raise ValueError(f"Cannot parse the line {line!r} of {class_name}'s definition.")
    atype = parse_type(match["type"])
    default, nullable = NO_DEFAULT, False
    if match["default"] is not None:
        default = _parse_default(match["default"].strip(), atype)
        nullable = default is None
    return Attribute(match["name"], atype, in_key=in_key, nullable=nullable,
                     default=default, comment=(match["comment"] or "").strip())


def _parse_default(text: str, atype: AttributeType) -> Any:
    if text.upper() == "NULL":
        return None
    if text.upper() in ("CURRENT_TIMESTAMP", "NOW()"):
        return "CURRENT_TIMESTAMP"
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    return atype.coerce(value, "default") if not atype.is_blob else value
