"""The registry of declared tables and the schema groups they belong to.

A :class:`TableRegistry` maps full class names (``"Session"``,
``"Dataset.DataFiles"``) to table classes, parses their definitions lazily
(so a module may reference tables declared later), and knows the reference
graph used by cascading deletes.

Tables are placed in one of three *groups*; the group decides the schema the
table lives in for a given project:

=========== ============================ ==========================================
group       schema name                  holds
=========== ============================ ==========================================
``lab``     ``lab``                      LabMember, Project, File, UploadJob, ...
``data``    ``<project>``                Subject, Session, Dataset, recordings, ...
``computed`` ``<project>_computed``       StreamSync, ComputeTask, sortings, ...
any other   ``<project>_<group>``        a lab's own tables (``dj.Schema("extras")``)
=========== ============================ ==========================================

A registry may have *parent* registries: names it does not declare resolve
there, so a lab's own tables can refer to the documented ones (``-> Session``).
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from labdata.catalog.declare.definition import TableSchema, parse_definition
from labdata.core.errors import UnknownTableError, did_you_mean

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context
    from labdata.catalog.tables.table import Table

__all__ = ["GROUPS", "LAB_SCHEMA", "TableRegistry", "check_group", "schema_name", "snake_case"]

GROUPS = ("lab", "data", "computed")
LAB_SCHEMA = "lab"
_GROUP_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")


def snake_case(name: str) -> str:
    """Convert a CamelCase class name to snake_case.

    Examples
    --------
    >>> snake_case("EphysRecordingNoiseStats")
    'ephys_recording_noise_stats'
    """
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def schema_name(group: str, project: str) -> str:
    """Return the catalog schema of a group for a project.

    Examples
    --------
    >>> schema_name("computed", "mice")
    'mice_computed'
    >>> schema_name("extras", "mice")
    'mice_extras'
    """
    if group == "lab":
        return LAB_SCHEMA
    return project if group == "data" else f"{project}_{group}"


def check_group(group: str) -> str:
    """Return ``group`` if it names a schema group (one of :data:`GROUPS` or a lab's own, lowercase).

    Raises
    ------
    ValueError
        On a name that is not lowercase letters, digits and '_' starting with a letter.
    """
    if group not in GROUPS and not _GROUP_NAME.fullmatch(group or ""):
        raise ValueError(f"Unknown group {group!r}; use one of {GROUPS} or a lowercase name of your own.")
    return group


class TableRegistry:
    """Declared table classes, by full class name, in declaration order."""

    def __init__(self, parents: tuple[TableRegistry, ...] = ()) -> None:
        self._classes: dict[str, type[Table]] = {}
        self._schemas: dict[str, TableSchema] = {}
        self.parents: list[TableRegistry] = []
        self.dependents: weakref.WeakSet[TableRegistry] = weakref.WeakSet()  # registries naming this a parent
        self.version = 0  # counts declarations, so that a table declared late is still created
        for parent in parents:
            self.add_parent(parent)

    def add_parent(self, parent: TableRegistry) -> None:
        """Resolve the names this registry does not declare in ``parent`` too (after earlier parents)."""
        if parent is not self and parent not in self.parents:
            self.parents.append(parent)
            parent.dependents.add(self)

    def family(self) -> list[TableRegistry]:
        """This registry and, transitively, the registries that name it a parent."""
        found: list[TableRegistry] = [self]
        for registry in found:
            found.extend(d for d in list(registry.dependents) if d not in found)
        return found

    def group(self, group: str) -> Callable[[type[Table]], type[Table]]:
        """Return a class decorator that declares a table (and its parts) in ``group``."""
        check_group(group)

        def declare(cls: type[Table]) -> type[Table]:
            self._add(cls, group, master=None)
            return cls

        return declare

    def _add(self, cls: type[Table], group: str, master: type[Table] | None) -> None:
        full_name = f"{master.__name__}.{cls.__name__}" if master is not None else cls.__name__
        cls._full_name = full_name
        cls._group = group
        cls._registry = self
        cls._master = master
        cls._sql_name = (f"{master._sql_name}__{snake_case(cls.__name__)}" if master is not None
                         else snake_case(cls.__name__))
        for stale in [n for n in self._schemas if n == full_name or n.startswith(f"{full_name}.")]:
            del self._schemas[stale]  # a class declared again is parsed again
        self._classes[full_name] = cls
        self.version += 1
        for part in cls._part_classes():
            self._add(part, group, master=cls)

    def groups(self) -> set[str]:
        """The schema groups of the tables declared here."""
        return {cls._group for cls in self._classes.values()}

    def check_declarations(self, context: Context) -> None:
        """Hook run before the tables are created in a lake: raise if they differ there (here: no check)."""

    def _owner(self, name: str) -> TableRegistry | None:
        """The registry declaring ``name``: this one, else the first parent that resolves it."""
        if name in self._classes:
            return self
        for parent in self.parents:
            owner = parent._owner(name)
            if owner is not None:
                return owner
        return None

    def __contains__(self, name: object) -> bool:
        return name in self._classes

    def __iter__(self) -> Iterator[type[Table]]:
        return iter(list(self._classes.values()))

    def __len__(self) -> int:
        return len(self._classes)

    def get(self, name: str) -> type[Table]:
        """Return the class declared under ``name``.

        Raises
        ------
        UnknownTableError
            With the closest declared name.
        """
        owner = self._owner(name)
        if owner is None:
            raise UnknownTableError(
                f"No table {name!r} is declared.{did_you_mean(name, self._classes)}",
                hint="Check the spelling; part tables are named Master.Part.",
            )
        return owner._classes[name]

    def schema(self, name: str) -> TableSchema:
        """Return the parsed declaration of ``name`` (parsed once, on first use)."""
        cached = self._schemas.get(name)
        if cached is not None:
            return cached
        owner = self._owner(name)
        if owner is not None and owner is not self:
            return owner.schema(name)
        cls = self.get(name)
        parsed = parse_definition(
            cls.definition,
            class_name=name,
            sql_name=cls._sql_name,
            tier=cls.tier,
            tier_group=cls._group,
            resolve=self.schema,
            master=cls._master._full_name if cls._master is not None else None,
        )
        self._schemas[name] = parsed
        return parsed

    def children(self, name: str) -> list[tuple[str, int]]:
        """Return ``(child name, foreign-key index)`` for every reference to ``name``."""
        found = []
        for child in self._classes:
            for index, reference in enumerate(self.schema(child).foreign_keys):
                if reference.parent == name:
                    found.append((child, index))
        return found

    def descendants(self, name: str) -> list[str]:
        """Return every table that depends on ``name``, parents before children."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(node: str) -> None:
            for child, _ in self.children(node):
                if child not in seen:
                    seen.add(child)
                    visit(child)
                    order.append(child)

        visit(name)
        return self._topological([*order])

    def _topological(self, names: list[str]) -> list[str]:
        """Sort ``names`` so that every table comes after the tables it references."""
        pending, ordered = set(names), []
        while pending:
            ready = sorted(n for n in pending
                           if not ({fk.parent for fk in self.schema(n).foreign_keys} & pending - {n}))
            if not ready:  # a cycle cannot be declared, but never loop forever
                ready = sorted(pending)
            ordered.extend(ready)
            pending -= set(ready)
        return ordered

    def declaration_order(self) -> list[str]:
        """Return every declared table, parents before children."""
        return self._topological(list(self._classes))
