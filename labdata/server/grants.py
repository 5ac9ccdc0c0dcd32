"""MySQL database names of the lake's schemas, and what an account may do in each (the original's grants).

The original's MySQL server held the lab-wide database ``<name>`` and, per project ``p``, ``<name>_<p>``
(subjects, sessions, datasets), ``<name>_<p>_computed`` (sortings, metrics, tasks) and ``<name>_<p>_user``
(the lab's own tables); ``<name>`` is the ``database.name`` preference. The facade shows the lake's schemas
under those names: ``lab`` as ``<name>``, any other schema ``s`` as ``<name>_<s>``.

A member of project ``p`` gets what the original's ``labdata account`` granted:

========================== ==============================================
database                   privileges
========================== ==============================================
``<name>`` (lab-wide)      SELECT, INSERT, UPDATE (no DELETE: File rows stay)
``<name>_<p>``             SELECT, INSERT, UPDATE
``<name>_<p>_computed``    SELECT, INSERT, UPDATE, DELETE
``<name>_<p>_<group>``     all (``_user`` and the lab's other own schemas)
========================== ==============================================

An admin account has every privilege everywhere; an account without projects sees nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from labdata.catalog.declare.registry import LAB_SCHEMA

__all__ = ["ALL", "Grants", "SchemaKind", "database_of", "kind_of", "schema_of"]

SELECT, INSERT, UPDATE, DELETE = "SELECT", "INSERT", "UPDATE", "DELETE"
ALL = frozenset({SELECT, INSERT, UPDATE, DELETE})
_BY_KIND = {
    "lab": frozenset({SELECT, INSERT, UPDATE}),
    "data": frozenset({SELECT, INSERT, UPDATE}),
    "computed": ALL,
    "user": ALL,
}


def database_of(schema: str, lab_name: str) -> str:
    """The MySQL database name of the lake schema ``schema``.

    Examples
    --------
    >>> database_of("lab", "lab_data"), database_of("mice_computed", "lab_data")
    ('lab_data', 'lab_data_mice_computed')
    """
    return lab_name if schema == LAB_SCHEMA else f"{lab_name}_{schema}"


def schema_of(database: str, lab_name: str) -> str | None:
    """The lake schema shown as MySQL ``database`` (case-insensitive), or None if it names none.

    Examples
    --------
    >>> schema_of("LAB_DATA", "lab_data"), schema_of("lab_data_mice", "lab_data"), schema_of("other", "lab_data")
    ('lab', 'mice', None)
    """
    name, lab = database.lower(), lab_name.lower()
    if name == lab:
        return LAB_SCHEMA
    prefix = f"{lab}_"
    return name[len(prefix):] if name.startswith(prefix) and len(name) > len(prefix) else None


@dataclass(frozen=True)
class SchemaKind:
    """Which project a lake schema belongs to and what kind it is: lab, data, computed, user, or other."""

    project: str | None
    kind: str


def kind_of(schema: str, projects: Collection[str]) -> SchemaKind:
    """What kind of schema ``schema`` is, among the lake's ``projects``.

    Examples
    --------
    >>> kind_of("mice_user", ["mice", "rats"]), kind_of("scratch", ["mice"]).kind
    (SchemaKind(project='mice', kind='user'), 'other')
    """
    if schema == LAB_SCHEMA:
        return SchemaKind(None, "lab")
    if schema in projects:
        return SchemaKind(schema, "data")
    for project in sorted(projects, key=len, reverse=True):  # the longest project name that prefixes it
        if schema == f"{project}_computed":
            return SchemaKind(project, "computed")
        if schema.startswith(f"{project}_"):
            return SchemaKind(project, "user")
    return SchemaKind(None, "other")


@dataclass(frozen=True)
class Grants:
    """What one account may do: its projects, or everything for an admin."""

    account: str
    projects: frozenset[str]
    admin: bool = False

    def privileges(self, schema: str, projects: Collection[str]) -> frozenset[str]:
        """The privileges on lake schema ``schema`` (empty when none)."""
        if self.admin:
            return ALL
        kind = kind_of(schema, projects)
        if kind.kind == "lab":
            return _BY_KIND["lab"] if self.projects else frozenset()
        if kind.project in self.projects:
            return _BY_KIND[kind.kind]
        return frozenset()

    def visible(self, schemas: Iterable[str], projects: Collection[str]) -> list[str]:
        """The schemas on which the account has any privilege, in order."""
        return [schema for schema in schemas if self.privileges(schema, projects)]
