"""Lakes built once per test run and copied for each test that needs one.

Creating the 88 tables of :mod:`labdata.schema` in a new catalog takes 1-2 s (about 5 s
on PostgreSQL); a SQLite lake is a folder, so a test gets a copy of one made at the first
request (a few ms), and a PostgreSQL lake a clone of a template metadata schema (one
server-side statement).
A copy is the same catalog a test would have made: the tables (and the lookup
contents) of the project, created by :func:`~labdata.catalog.ops.ddl.ensure_schemas`,
and, with ``people=True``, the rows of the ``people`` fixture (a lab member, a
species and a strain).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labdata.catalog import Lake

PEOPLE = (
    ("LabMember", dict(user_name="couto", date_joined="2019-09-01")),
    ("Species", dict(species_name="mouse", species_scientific_name="Mus musculus")),
    ("Strain", dict(strain_name="C57BL/6J", species_name="mouse")),
)

_built: dict[tuple[str, bool], Path] = {}


def insert_people() -> None:
    """Insert the lab member, species and strain every fixture lab has (in the current context)."""
    import labdata.schema

    for name, row in PEOPLE:
        getattr(labdata.schema, name).insert1(row)


@functools.cache
def _templates_folder() -> Path:
    """A folder of this process for the template lakes (made once), removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="labdata-templates-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def _fill_template(lake: Lake, project: str, people: bool) -> None:
    """Create every table of ``project`` in ``lake`` (and the people rows), then close it."""
    from labdata.catalog import Context, use
    from labdata.catalog.ops.ddl import ensure_schemas
    from labdata.schema import registry

    try:
        context = Context(lake, project)
        with use(context):
            ensure_schemas(context, registry)
            if people:
                insert_people()
    finally:
        lake.close()


def _build(project: str, people: bool) -> Path:
    from labdata.catalog import Lake

    source = _templates_folder() / f"{project}-{'people' if people else 'empty'}" / "lake"
    _fill_template(Lake("sqlite", source), project, people)
    return source


def copy_sqlite_lake(destination: Path, project: str, *, people: bool = False) -> Path:
    """Make ``destination`` a SQLite lake with every table of ``project`` (and the people rows)."""
    key = (project, people)
    if key not in _built:
        _built[key] = _build(project, people)
    shutil.copytree(_built[key], destination)
    set_data_path(destination)
    return destination


def set_data_path(root: Path) -> None:
    """Record the copy's own data folder in its catalog, as creating the lake there would have.

    A lake opened with the default data path follows its folder anyway; one opened from
    preferences passes ``<lake_path>/catalog/data/`` explicitly, which must match.
    """
    import sqlite3

    database = sqlite3.connect(root / "catalog" / "catalog.sqlite")
    try:
        with database:
            database.execute("UPDATE ducklake_metadata SET value = ? WHERE key = 'data_path'",
                             [str(root.resolve() / "catalog" / "data") + "/"])
    finally:
        database.close()


def mark_ensured(lake: Lake, project: str) -> Lake:
    """Tell ``lake`` (open on a copy) that ``project``'s tables and lookup contents are there, as they are.

    ``ensure_schemas`` would find so on the first use of a table of ``labdata.schema``, after
    counting the rows of every lookup table (about 0.3 s).
    """
    from labdata.schema import registry

    lake.ensured.add((id(registry), project))  # the marker ensure_schemas sets after its check
    return lake


# ---- PostgreSQL: a template schema of DuckLake metadata, cloned per test -------------------------------
_pg_built: dict[tuple[str, bool], str] = {}


def _pg_execute(dsn: str, sql: str) -> None:
    from labdata.catalog.engine.attach import connect_duckdb, extension_path

    connection = connect_duckdb()
    try:
        connection.execute(f"LOAD '{extension_path('postgres_scanner')}'")
        connection.execute(f"ATTACH '{dsn}' AS pgadmin (TYPE postgres)")
        connection.execute("CALL postgres_execute('pgadmin', ?)", [sql])
    finally:
        connection.close()


def _build_pg(dsn: str, project: str, people: bool) -> str:
    import uuid

    from labdata.catalog import Lake

    folder = _templates_folder()
    schema = f"ld_template_{uuid.uuid4().hex[:10]}"
    atexit.register(_pg_execute, dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    _fill_template(Lake("postgres", folder / schema, dsn=dsn, metadata_schema=schema), project, people)
    assert not any((folder / schema).rglob("*.parquet")), "a template's rows are all inlined in the catalog"
    return schema


def clone_pg_lake(dsn: str, schema: str, root: Path, project: str, *, people: bool = False) -> None:
    """Make PostgreSQL schema ``schema`` a lake with every table of ``project`` (and the people rows).

    The schema is a copy of DuckLake's metadata tables in a template schema made at the first
    request (one server-side statement instead of creating 88 tables), with ``root``'s data folder.
    """
    key = (project, people)
    if key not in _pg_built:
        _pg_built[key] = _build_pg(dsn, project, people)
    template = _pg_built[key]
    data_path = (str(root.resolve() / "catalog" / "data") + "/").replace("'", "''")
    _pg_execute(dsn, f"""
        CREATE SCHEMA {schema};
        DO $$ DECLARE t record; BEGIN
          FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = '{template}' LOOP
            EXECUTE format('CREATE TABLE {schema}.%I (LIKE {template}.%I INCLUDING ALL)', t.tablename, t.tablename);
            EXECUTE format('INSERT INTO {schema}.%I SELECT * FROM {template}.%I', t.tablename, t.tablename);
          END LOOP;
        END $$;
        UPDATE {schema}.ducklake_metadata SET value = '{data_path}' WHERE key = 'data_path';
    """)
