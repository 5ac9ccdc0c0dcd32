"""``labdata sql`` (read-only, CSV/JSON/Parquet) and ``labdata views`` as a newcomer meets them: a plain DuckDB
process reads the lake, writes by SQL are refused and change nothing, and a mistyped project creates nothing."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from labdata.catalog import Context, Lake, use
from labdata.catalog.engine.attach import extension_path
from labdata.cli.main import main
from labdata.schema import Dataset, LabMember, Probe, ProbeConfiguration, Session, Species, Strain, Subject

PROJECT = "mice"
CHANNELS = np.arange(5, dtype=np.int16)
COORDS_X = np.array([0.5, -1.25, 3.0], dtype=np.float32)


@pytest.fixture(scope="module")
def lake_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake with one subject, two sessions (one without experimenter), a dataset and a probe's channel map."""
    path = tmp_path_factory.mktemp("sql") / "lake"
    lake = Lake("sqlite", path)
    with use(Context(lake, PROJECT)):
        LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"))
        Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
        Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
        Subject.insert1(dict(subject_name="S1", subject_dob="2023-06-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"))
        Session.insert([dict(subject_name="S1", session_name="s1", session_datetime=dt.datetime(2024, 1, 1, 12),
                             experimenter="couto"),
                        dict(subject_name="S1", session_name="s2", session_datetime=dt.datetime(2024, 1, 2, 12))])
        Dataset.insert1(dict(subject_name="S1", session_name="s1", dataset_name="ephys"))
        Probe.insert1(dict(probe_id="P1", probe_type="0", probe_n_shanks=1, probe_recording_channels=5))
        ProbeConfiguration.insert1(dict(probe_id="P1", configuration_id=1, probe_n_channels=5, probe_gain=2.3,
                                        channel_idx=CHANNELS, channel_shank=COORDS_X,
                                        channel_coords=np.zeros((5, 2), np.float32)))
    lake.close()
    return path


def labdata(*args: str) -> object:
    return CliRunner().invoke(main, list(args))


def state(path: Path) -> tuple[int, list[str], int, int]:
    """Snapshot id, schemas and row counts of session and dataset: what a refused write must leave alone."""
    with Lake("sqlite", path, read_only=True, replica=False) as lake:
        counts = [lake.execute(f"SELECT count(*) FROM lake.{PROJECT}.{t}").fetchone()[0]
                  for t in ("session", "dataset")]
        return lake.current_snapshot(), lake.schemas(), *counts


PLAIN_DUCKDB = r"""
import json, sys, duckdb
views_file, attach, ducklake, sqlite = sys.argv[1:5]
out = {}
for label, database, statement in (("views", views_file, None), ("attach", ":memory:", attach)):
    con = duckdb.connect(database, config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute(f"LOAD '{ducklake}'"); con.execute(f"LOAD '{sqlite}'")
    if statement is None:   # the views file carries its own ATTACH
        con.execute(con.execute("SELECT statement FROM labdata_attach").fetchone()[0])
        out["sessions"] = con.execute("SELECT session_name, experimenter FROM session ORDER BY 1").fetchall()
        out["arrays"] = con.execute(
            "SELECT v.channel_idx, v.channel_shank, v.channel_coords, npy_shape(t.channel_coords) "
            "FROM probe_configuration v, lake.mice.probe_configuration t").fetchall()
    else:                   # the README's one-line ATTACH
        con.execute(statement)
        out["attached"] = con.execute("SELECT count(*) FROM lake.mice.session").fetchone()[0]
out["labdata_imported"] = any(name == "labdata" or name.startswith("labdata.") for name in sys.modules)
print(json.dumps(out))
"""


def test_a_duckdb_process_without_labdata_reads_the_views_file_and_the_documented_attach(lake_path, tmp_path):
    views_file = tmp_path / "lab.duckdb"
    result = labdata("views", "--path", str(lake_path), "-p", PROJECT, "-o", str(views_file))
    assert result.exit_code == 0, result.output
    assert "views to" in result.output and "ATTACH" in result.output
    attach = (f"ATTACH 'ducklake:sqlite:{lake_path}/catalog/catalog.sqlite' AS lake "
              f"(DATA_PATH '{lake_path}/catalog/data/', READ_ONLY)")   # as in README.md
    run = subprocess.run([sys.executable, "-I", "-c", PLAIN_DUCKDB, str(views_file), attach,
                          extension_path("ducklake"), extension_path("sqlite_scanner")],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert not out["labdata_imported"]
    assert out["sessions"] == [["s1", "couto"], ["s2", None]]
    channels, shank, coords, shape = out["arrays"][0]
    assert channels == CHANNELS.tolist() and shank == COORDS_X.tolist()
    assert coords is None and shape == [5, 2]   # an n-D array is not a list; npy_shape says what it is
    assert out["attached"] == 2
    again = labdata("views", "--path", str(lake_path), "-p", PROJECT, "-o", str(views_file))
    assert again.exit_code == 0, again.output   # a views file is replaced, any other file is refused
    (tmp_path / "other.duckdb").write_text("not mine")
    refused = labdata("views", "--path", str(lake_path), "-p", PROJECT, "-o", str(tmp_path / "other.duckdb"))
    assert refused.exit_code == 1 and "not a labdata views file" in refused.output
    assert (tmp_path / "other.duckdb").read_text() == "not mine"


@pytest.mark.parametrize("query", [
    "DELETE FROM session",
    "INSERT INTO session VALUES ('NOBODY', 's9', NULL, NULL)",
    "SELECT 1; DELETE FROM session",
    "/* harmless */ DELETE FROM session -- really",
    "UPDATE session SET experimenter = 'x'",
    "DROP TABLE dataset",
    "CREATE TABLE copy AS SELECT * FROM session",
    "ATTACH ':memory:' AS other",
    "COPY session TO 'out.csv'",
    "SET threads = 1",
    "PRAGMA enable_profiling",
    "CALL ducklake_flush_inlined_data('lake')",
    "SELECT * FROM ducklake_flush_inlined_data('lake')",
    "LOAD '/tmp/not-an-extension.duckdb_extension'",
    "INSTALL httpfs",
])
def test_sql_refuses_writes_and_changes_nothing(lake_path, query):
    before = state(lake_path)
    result = labdata("sql", "--path", str(lake_path), "-p", PROJECT, query)
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "hint:" in result.output and "Traceback" not in result.output
    assert "Table.insert" in result.output and ".delete()" in result.output
    assert state(lake_path) == before


def test_a_delete_hidden_in_a_cte_is_refused_too(lake_path):
    before = state(lake_path)
    result = labdata("sql", "--path", str(lake_path), "-p", PROJECT,
                     "WITH gone AS (DELETE FROM session RETURNING *) SELECT * FROM gone")
    assert result.exit_code == 1 and "hint:" in result.output and "Traceback" not in result.output
    assert state(lake_path) == before


def test_write_flag_never_writes_labdatas_tables_but_allows_a_scratch_schema(lake_path):
    before = state(lake_path)
    for query in ("DELETE FROM session", "INSERT INTO lab.species VALUES ('rat', 'Rattus', NULL)", "DROP SCHEMA mice"):
        result = labdata("sql", "--write", "--path", str(lake_path), "-p", PROJECT, query)
        assert result.exit_code == 1 and "even with --write" in result.output, result.output
    assert state(lake_path) == before
    for query in ("CREATE SCHEMA scratch", "CREATE TABLE scratch.mine AS SELECT * FROM session",
                  "DROP TABLE scratch.mine", "DROP SCHEMA scratch"):
        result = labdata("sql", "--write", "--path", str(lake_path), "-p", PROJECT, query)
        assert result.exit_code == 0, result.output
    assert state(lake_path)[1:] == before[1:]


def test_python_sql_is_read_only_unless_asked(lake_path):
    import labdata as api
    from labdata.core.errors import LabdataError, SQLWriteError

    with use(Context(Lake("sqlite", lake_path), PROJECT)):
        assert api.sql("SELECT count(*) AS n FROM session")["n"][0] == 2
        with pytest.raises(SQLWriteError) as error:
            api.sql("DELETE FROM session")
        assert isinstance(error.value, LabdataError) and "delete()" in error.value.hint
        with pytest.raises(SQLWriteError):
            api.sql("DELETE FROM session", write=True)


@pytest.mark.parametrize("command", [["sql", "SELECT 1"], ["views"], ["subjects"], ["sessions", "-a", "S1"]])
def test_a_mistyped_project_is_an_error_with_did_you_mean_and_creates_nothing(lake_path, tmp_path, command):
    before = state(lake_path)
    views = ["-o", str(tmp_path / "x.duckdb")] if command == ["views"] else []
    result = labdata(*command, *views, "--path", str(lake_path), "-p", "mcie")
    assert not (tmp_path / "x.duckdb").exists()
    assert result.exit_code == 1, result.output
    assert "no project 'mcie'" in result.output and "Did you mean 'mice'?" in result.output
    assert "hint:" in result.output and "Traceback" not in result.output
    assert state(lake_path) == before and "mcie" not in before[1]


def test_a_lake_path_without_a_catalog_is_an_error_and_stays_empty(tmp_path):
    for command in (["sql", "SELECT 1"], ["subjects"], ["views"]):
        result = labdata(*command, "--path", str(tmp_path / "typo"))
        assert result.exit_code == 1 and "No lake at" in result.output, result.output
    assert not (tmp_path / "typo").exists()


def test_sql_writes_csv_json_and_parquet(lake_path, tmp_path):
    query = "SELECT session_name, experimenter FROM session ORDER BY 1"
    for suffix in ("csv", "json", "parquet"):
        result = labdata("sql", "--path", str(lake_path), "-p", PROJECT, query, "-o", str(tmp_path / f"s.{suffix}"))
        assert result.exit_code == 0, result.output
    assert (tmp_path / "s.csv").read_text().splitlines() == ["session_name,experimenter", "s1,couto", "s2,"]
    assert json.loads((tmp_path / "s.json").read_text()) == [{"session_name": "s1", "experimenter": "couto"},
                                                             {"session_name": "s2", "experimenter": None}]
    assert pq.read_table(tmp_path / "s.parquet").to_pylist()[1] == {"session_name": "s2", "experimenter": None}
    printed = labdata("sql", "--path", str(lake_path), "-p", PROJECT, query, "--format", "csv")
    assert printed.exit_code == 0 and printed.output.splitlines()[-1] == "s2,"
    table = labdata("sql", "--path", str(lake_path), "-p", PROJECT, query)
    assert "NULL" in table.output
    bad = labdata("sql", "--path", str(lake_path), "-p", PROJECT, query, "-o", str(tmp_path / "s.xlsx"))
    assert bad.exit_code == 1 and "--format" in bad.output


def test_path_reaches_the_lake_for_each_read_command(lake_path):
    for command, expected in ((["subjects"], "S1"), (["sessions", "-a", "S1"], "2 sessions"),
                              (["sql", "SELECT count(*) AS n FROM dataset"], "1")):
        result = labdata(*command, "--path", str(lake_path), "-p", PROJECT)
        assert result.exit_code == 0 and expected in result.output, result.output


def test_a_new_lab_adds_its_first_rows_from_the_command_line(tmp_path):
    path = str(tmp_path / "lab")
    for command in (["lab", "add-member", "couto", "--joined", "2019-09-01"],
                    ["lab", "add-species", "mouse", "Mus musculus"],
                    ["lab", "add-strain", "C57BL/6J", "mouse"],
                    ["subjects", "--add", "S1", "--dob", "2023-01-01", "--sex", "M", "-u", "couto",
                     "--strain", "C57BL/6J"]):
        result = labdata(*command, "--path", path, "-p", PROJECT)
        assert result.exit_code == 0, result.output
    missing = labdata("lab", "add-strain", "X", "rat", "--path", path)
    assert missing.exit_code == 1 and "hint:" in missing.output
    listed = labdata("subjects", "--path", path, "-p", PROJECT)
    assert listed.exit_code == 0 and "S1" in listed.output and "C57BL/6J" in listed.output
    assert "user_preferences.json" in labdata("--help").output
