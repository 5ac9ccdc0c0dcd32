"""Shared fixtures: lakes on a SQLite catalog and on PostgreSQL, and a project context.

PostgreSQL tests are marked ``postgres`` and skip when 127.0.0.1:5432 is not
reachable, unless ``LABDATA_REQUIRE_SERVICES=1`` (set by CI), where they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from labdata.catalog import Context, Lake, use
from templates import clone_pg_lake, copy_sqlite_lake, insert_people, mark_ensured

PG_DSN = "dbname=test host=127.0.0.1 port=5432 user=postgres"


def postgres_reachable() -> bool:
    """Whether the PostgreSQL test server accepts connections."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    """Skip (or, in CI, fail) when PostgreSQL is not reachable."""
    if postgres_reachable():
        return
    reason = "PostgreSQL is not reachable on 127.0.0.1:5432 (start it to run the postgres tests)"
    if os.environ.get("LABDATA_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def drop_pg_schema(name: str) -> None:
    """Drop a PostgreSQL schema holding a test lake's DuckLake metadata."""
    from labdata.catalog.engine.attach import connect_duckdb, extension_path

    connection = connect_duckdb()
    connection.execute(f"LOAD '{extension_path('postgres_scanner')}'")
    connection.execute(f"ATTACH '{PG_DSN}' AS pgadmin (TYPE postgres)")
    connection.execute(f"CALL postgres_execute('pgadmin', 'SET lock_timeout = ''20s''; "
                       f"DROP SCHEMA IF EXISTS {name} CASCADE')")
    connection.close()


@pytest.fixture(autouse=True)
def private_labdata_folder(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Never read or write the user's ~/labdata: every test gets its own folder and default context."""
    from labdata.catalog.engine.context import default_contexts

    folder = tmp_path_factory.mktemp("labdata_home")
    monkeypatch.setenv("LABDATA_PATH", str(folder / "labdata"))
    monkeypatch.setenv("HOME", str(folder))
    for name in ("LABDATA_DATABASE_PROJECT", "LABDATA_PREFERENCES", "LABDATA_LAKE_PATH", "LABDATA_CATALOG_KIND",
                 "LABDATA_CATALOG_DSN", "LABDATA_CATALOG_DATA_PATH", "LABDATA_OVERRIDE_DATAPATH"):
        monkeypatch.delenv(name, raising=False)
    yield folder
    default_contexts.reset()


class LakeFactory:
    """Opens lakes of one kind sharing one catalog (several handles = several clients)."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root = kind, root
        self.metadata_schema = f"ld_test_{uuid.uuid4().hex[:10]}" if kind == "postgres" else None
        self.opened: list[Lake] = []
        self.has_people = False

    @property
    def dsn(self) -> str | None:
        return PG_DSN if self.kind == "postgres" else None

    def seed(self, *, people: bool = False) -> None:
        """Make the (not yet opened) lake a copy of a template with the tables of ``test_project``.

        A SQLite lake's folder is copied, a PostgreSQL lake's metadata schema cloned; with
        ``people``, the template also holds the rows of the ``people`` fixture.
        """
        assert not self.opened, "seed a lake before opening it"
        self.has_people = people
        if self.kind == "sqlite":
            copy_sqlite_lake(self.root, "test_project", people=people)
        else:
            clone_pg_lake(PG_DSN, self.metadata_schema, self.root, "test_project", people=people)

    def open(self, **kwargs: object) -> Lake:
        lake = Lake(self.kind, self.root, dsn=self.dsn, metadata_schema=self.metadata_schema, **kwargs)
        self.opened.append(lake)
        return lake

    def close(self) -> None:
        for lake in self.opened:
            lake.close()
        if self.metadata_schema:
            drop_pg_schema(self.metadata_schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def lakes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LakeFactory]:
    """A factory of lake handles, once with a SQLite catalog and once with PostgreSQL."""
    if request.param == "postgres":
        require_postgres()
    factory = LakeFactory(request.param, tmp_path / "lake")
    yield factory
    factory.close()


@pytest.fixture
def lake(request: pytest.FixtureRequest, lakes: LakeFactory) -> Lake:
    """One open lake (SQLite and PostgreSQL catalogs).

    A test of the ``context`` fixture gets a copy of a lake made once per run (a SQLite lake's
    folder, or a PostgreSQL lake's metadata schema), with the project's tables (and, for
    ``people``, its rows) already created: see ``templates.py``.
    """
    if not lakes.opened and "context" in request.fixturenames:
        lakes.seed(people="people" in request.fixturenames)
        return mark_ensured(lakes.open(), "test_project")
    return lakes.open()


@pytest.fixture
def sqlite_lake(tmp_path: Path) -> Iterator[Lake]:
    """An embedded lake (SQLite catalog) only."""
    lake = Lake("sqlite", tmp_path / "lake")
    yield lake
    lake.close()


@pytest.fixture
def context(lake: Lake) -> Iterator[Context]:
    """The project ``test_project`` of ``lake``, current for the test."""
    context = Context(lake, "test_project")
    with use(context):
        yield context


@pytest.fixture
def people(context: Context, lakes: LakeFactory) -> Context:
    """A context with a lab member, a species and a strain inserted (copied in with the lake)."""
    if not lakes.has_people:
        insert_people()
    return context


@pytest.fixture
def subject_row():
    """Build a valid Subject row: ``subject_row("JC178", subject_sex="F")``."""

    def build(name: str = "JC178", **extra: object) -> dict[str, object]:
        return dict(subject_name=name, subject_dob="2023-01-01", subject_sex="M",
                    strain_name="C57BL/6J", user_name="couto") | extra

    return build


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """A moto S3 server on 127.0.0.1, in its own process, for the whole run."""
    from s3server import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server) -> str:
    """A new, empty bucket on the moto server."""
    name = f"labdata-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


#: the modules that take longest (seconds of one worker, measured with --durations=0 on 2 CPUs), run first so
#: that ``--dist loadfile`` does not leave one of them for the end while the other workers idle
SLOW_MODULES = ("catalog/test_concurrency.py", "upload/test_file_objects.py", "test_benchmarks.py",
                "upload/test_faults.py", "catalog/test_populate_batches.py", "upload/test_ephys_rule.py",
                "cli/test_demo.py", "catalog/test_lookup.py", "schema/test_sorting_crashes.py",
                "schema/test_nwb_real_export.py", "schema/test_spike_arrays.py", "catalog/test_replica.py",
                "compute/test_queue.py", "catalog/test_insert.py", "catalog/test_populate.py", "cli/test_sql.py",
                "schema/test_unit_merge.py", "stores/test_store.py", "upload/test_round_trip.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the slowest modules first (a stable sort: the order inside each module is kept)."""
    rank = {name: position for position, name in enumerate(SLOW_MODULES)}

    def position(item: pytest.Item) -> int:
        relative = item.path.as_posix().split("/tests/", 1)[-1]
        return rank.get(relative, len(SLOW_MODULES))

    items.sort(key=position)
