"""``labdata get`` on an analyst's machine: the selection's files come from the moto bucket, checked."""

from __future__ import annotations

import datetime as dt
import os
import subprocess

import pytest
from click.testing import CliRunner

from labdata.catalog import Context, Lake, use
from labdata.cli.files import selection
from labdata.cli.main import main
from labdata.core.config import Preferences
from labdata.core.errors import QueryError
from labdata.schema import Dataset, File, Session, Subject
from labdata.stores import open_store
from templates import copy_sqlite_lake

KEY = dict(subject_name="S1", session_name="20240101_120000", dataset_name="ephys")
FILES = {"S1/20240101_120000/ephys/a.ap.bin": os.urandom(70_000), "S1/20240101_120000/ephys/a.ap.meta": b"x=1\n"}


@pytest.fixture
def analyst(tmp_path, s3_server, bucket):
    """Preferences (lake, storage on moto, empty local path) and a catalog listing two stored files."""
    prefs_file = tmp_path / "prefs.json"
    prefs = Preferences.load(prefs_file)
    prefs.set("lake_path", str(tmp_path / "lake"))
    prefs.set("local_paths", [str(tmp_path / "analyst")])
    prefs.set("storage.data", {"protocol": "s3", "endpoint": s3_server.endpoint, "bucket": bucket, "folder": "",
                               "access_key": "test", "secret_key": "test"})
    prefs.save()
    store = open_store(prefs, "data")
    copy_sqlite_lake(tmp_path / "lake", "lab_data", people=True)  # LabMember couto, Species mouse, Strain C57BL/6J
    lake = Lake("sqlite", tmp_path / "lake")
    with use(Context(lake, "lab_data", prefs)):
        Subject.insert1(dict(subject_name="S1", subject_dob="2023-06-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"))
        Session.insert1(dict(subject_name="S1", session_name=KEY["session_name"],
                             session_datetime=dt.datetime(2024, 1, 1, 12)))
        Dataset.insert1(KEY)
        for path, data in FILES.items():
            (tmp_path / "rig" / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "rig" / path).write_bytes(data)
            sent = store.put(tmp_path / "rig" / path, path)
            File.insert1(dict(file_path=path, storage="data", file_datetime=dt.datetime(2024, 1, 1),
                              file_size=sent.size, file_md5=sent.md5))
            Dataset.DataFiles.insert1(dict(KEY, file_path=path, storage="data"))
    lake.close()
    return tmp_path, {**os.environ, "LABDATA_PREFERENCES": str(prefs_file)}


def labdata(env, *args) -> subprocess.CompletedProcess:
    """``labdata ARGS`` with the preference file of ``env``, in this process (click's CliRunner).

    No command here needs a process of its own (no signal, no crash), and each ``python -m labdata.cli``
    paid for starting Python and importing labdata; the default context the command opened is closed
    after it, as at a process's exit. (``python -m labdata.cli`` itself: test_demo.py's --help test.)
    """
    from labdata.catalog.engine.context import default_contexts

    try:
        result = CliRunner().invoke(main, list(args), env={"LABDATA_PREFERENCES": env["LABDATA_PREFERENCES"]})
    finally:
        default_contexts.reset()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback, as the process would have printed
    return subprocess.CompletedProcess(["labdata", *args], result.exit_code, result.stdout, result.stderr)


def test_get_downloads_the_selection_and_prints_its_paths(analyst) -> None:
    root, env = analyst
    result = labdata(env, "get", "-a", "S1", "-d", "ephys", "--no-progress")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split()
    assert printed == [str(root / "analyst" / p) for p in sorted(FILES)]
    for path in FILES:
        assert (root / "analyst" / path).read_bytes() == FILES[path]


def test_get_without_a_selection_or_with_an_empty_one_says_what_to_do(analyst) -> None:
    root, env = analyst
    result = labdata(env, "get")
    assert result.returncode == 1 and "-a" in result.stderr
    result = labdata(env, "get", "-a", "NOBODY")
    assert result.returncode == 1 and "no files" in result.stderr
    assert not (root / "analyst").exists()


def test_selection_is_every_combination_of_the_names() -> None:
    assert selection(("A", "B"), (), ("ephys",)) == [dict(subject_name="A", dataset_name="ephys"),
                                                     dict(subject_name="B", dataset_name="ephys")]
    with pytest.raises(QueryError):
        selection((), (), ())


def test_clean_deletes_only_copies_whose_md5_matches(analyst) -> None:
    root, env = analyst
    assert labdata(env, "get", "-a", "S1", "--no-progress").returncode == 0
    local = root / "analyst"
    changed = local / "S1/20240101_120000/ephys/a.ap.meta"
    changed.write_bytes(b"x=2\n")  # edited after download: not what the lake holds
    stray = local / "S1/notes.txt"
    stray.write_text("mine")
    dry = labdata(env, "clean", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would delete S1/20240101_120000/ephys/a.ap.bin" in dry.stdout and "a.ap.meta" in dry.stderr
    assert (local / "S1/20240101_120000/ephys/a.ap.bin").exists()
    result = labdata(env, "clean", "-f", "ephys")
    assert result.returncode == 0, result.stderr
    assert "1 deleted, 1 kept (checksum mismatch), 0 not registered" in result.stdout
    assert not (local / "S1/20240101_120000/ephys/a.ap.bin").exists()
    assert changed.read_bytes() == b"x=2\n" and stray.read_text() == "mine"


def test_sessions_lists_datasets_with_file_counts_and_sizes(analyst) -> None:
    _, env = analyst
    result = labdata(env, "sessions", "-a", "S1", "--include-size")
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "S1: 1 sessions, 1 datasets" in out
    assert "20240101_120000" in out and "ephys" in out and "2 70.0 kB" in out.replace("│", "").replace("  ", " ")
    assert labdata(env, "sessions").returncode != 0  # -a is required


def test_subjects_lists_by_member_and_adds_with_the_required_fields(analyst) -> None:
    _, env = analyst
    result = labdata(env, "subjects", "--include-size")
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.replace("│", " ").split())
    assert "couto: 1 subjects" in out and "S1 M 2023-06-01 C57BL/6J 2 70.0 kB" in out
    refused = labdata(env, "subjects", "--add", "S2", "--sex", "F")
    assert refused.returncode == 1 and "--dob, --strain, -u" in refused.stderr and "C57BL/6J" in refused.stderr
    new = ["subjects", "--add", "S2", "--sex", "F", "--dob", "2024-02-01", "--strain", "C57BL/6J", "-u"]
    unknown = labdata(env, *new, "nobody")
    assert unknown.returncode == 1 and "LabMember" in unknown.stderr
    added = labdata(env, *new, "couto")
    assert added.returncode == 0, added.stderr
    listed = " ".join(labdata(env, "subjects", "-s", "F").stdout.replace("│", " ").split())
    assert "couto: 1 subjects" in listed and "S2 F 2024-02-01" in listed and "S1" not in listed
