"""The lab deployment end to end: a PostgreSQL catalog with its Parquet data on S3 (moto), used by separate
processes (rig, upload server, analyst, the facade), then ``labdata admin maintain``."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from lab import NEW_SUBJECT, SESSION, copy_tree

from labdata.catalog import Context, Lake, use
from labdata.core.config import Preferences
from labdata.schema import (
    Dataset,
    EphysRecording,
    File,
    LabMember,
    Probe,
    ProbeConfiguration,
    Session,
    Species,
    SpikeSorting,
    SpikeSortingParams,
    Strain,
    Subject,
)
from shared_data import SHARED_DATA

RECORDING = SHARED_DATA / "spikeglx" / "neuroconv-gin" / "Noise4Sam_g0"
PHY_FOLDER = SHARED_DATA / "kilosort" / "neuroconv-gin-phy_example_0"
PHY = dict(subject_name="S1", session_name="20230306_120000", dataset_name="phy")
PG = dict(host="127.0.0.1", port="5432", user="postgres")


def _unavailable(reason: str) -> None:
    if os.environ.get("LABDATA_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _psql(sql: str) -> None:
    psql = shutil.which("psql")
    if psql is None:
        _unavailable("psql is not installed: the deployment test creates a PostgreSQL database with it")
    try:
        socket.create_connection((PG["host"], int(PG["port"])), timeout=1).close()
    except OSError:
        _unavailable("PostgreSQL is not reachable on 127.0.0.1:5432 (start it to run the deployment test)")
    subprocess.run([str(psql), "-h", PG["host"], "-p", PG["port"], "-U", PG["user"], "-d", "test", "-q", "-c", sql],
                   check=True, capture_output=True, timeout=60)


@pytest.fixture
def database() -> Iterator[str]:
    """A PostgreSQL database of its own (the lab's catalog), dropped afterwards."""
    name = f"ld_deploy_{uuid.uuid4().hex[:10]}"
    _psql(f"CREATE DATABASE {name}")
    yield name
    _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _preferences(root: Path, database: str, endpoint: str, bucket: str) -> dict[str, Path]:
    """Preference files of the rig, the upload server and the analyst: one catalog, one bucket."""
    storage = {"protocol": "s3", "endpoint": endpoint.removeprefix("http://"), "bucket": bucket,
               "access_key": "test", "secret_key": "test"}
    files = {}
    for name in ("rig", "server", "analyst"):
        folder = root / name
        folder.mkdir(parents=True)
        prefs = Preferences.load(root / f"{name}.json")
        prefs.set("lake_path", str(root / "lake"))
        prefs.set("local_paths", [str(folder)])
        prefs.set("database.project", "mice")
        prefs.set("catalog.kind", "postgres")
        prefs.set("catalog.dsn", f"dbname={database} host={PG['host']} port={PG['port']} user={PG['user']}")
        prefs.set("catalog.data_path", f"s3://{bucket}/catalog/")
        prefs.set("storage.data", storage | {"folder": "raw"})
        prefs.set("storage.analysis", storage | {"folder": "analysis"})
        if name == "rig":
            prefs.set("upload_path", str(root / "server"))
            prefs.set("upload_host", socket.gethostname())
        prefs.save()
        files[name] = root / f"{name}.json"
    return files


def _labdata(prefs: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """``labdata ARGS`` in a process of its own, with the preference file of one machine."""
    result = subprocess.run([sys.executable, "-m", "labdata.cli", *args], capture_output=True, text=True,
                            timeout=timeout, env={**os.environ, "LABDATA_PREFERENCES": str(prefs)})
    assert result.returncode == 0, f"labdata {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def _open(prefs: Path) -> Context:
    preferences = Preferences.load(prefs)
    return Context(Lake.from_settings(preferences.catalog), "mice", preferences)


def _seed(context: Context) -> None:
    """The lab's people, and the rows a sorting import of the phy example needs (its 32-channel probe)."""
    with use(context):
        LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"))
        Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"))
        Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"))
        Subject.insert1(dict(subject_name="S1", subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                             user_name="couto"))
        Session.insert1(dict(subject_name="S1", session_name=PHY["session_name"],
                             session_datetime="2023-03-06 12:00:00"))
        Dataset.insert1(dict(PHY, dataset_type="ephys"))
        Probe.insert1(dict(probe_id="phy32", probe_type="0", probe_n_shanks=1, probe_recording_channels=32))
        ProbeConfiguration.insert1(dict(probe_id="phy32", configuration_id=1, probe_n_channels=32, probe_gain=0.195,
                                        channel_idx=np.arange(32), channel_shank=np.zeros(32, dtype=int),
                                        channel_coords=np.load(PHY_FOLDER / "channel_positions.npy")))
        EphysRecording.insert1(dict(PHY, n_probes=1, recording_duration=60.0, recording_software="spikeglx"),
                               allow_direct_insert=True)
        EphysRecording.ProbeSetting.insert1(dict(PHY, probe_num=0, probe_id="phy32", configuration_id=1,
                                                 sampling_rate=32000.0), allow_direct_insert=True)
        # rows whose data file only snapshots before the retention will need: maintain deletes it
        SpikeSortingParams.insert([dict(parameter_set_num=100 + i, algorithm_name="old", parameters_dict="{}")
                                   for i in range(600)])
        (SpikeSortingParams & "parameter_set_num >= 100").delete(safemode=False)


def _keys(s3, bucket: str, prefix: str) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {item["Key"] for page in pages for item in page.get("Contents", ())}


def _serve(prefs: Path, log: Path) -> tuple[subprocess.Popen, int]:
    """``labdata serve --port 0`` in a process of its own; the port it says it listens on."""
    with log.open("w") as stream:
        server = subprocess.Popen([sys.executable, "-m", "labdata.cli", "serve", "--port", "0"], text=True,
                                  stdout=stream, stderr=stream, env={**os.environ, "LABDATA_PREFERENCES": str(prefs)})
    deadline = time.monotonic() + 120
    while (found := re.search(r"on [\d.]+:(\d+)", log.read_text())) is None:
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return server, int(found.group(1))


def test_a_lab_on_postgresql_and_s3_from_rig_to_facade_then_maintained(tmp_path, s3_server, bucket,
                                                                         database) -> None:
    prefs = _preferences(tmp_path, database, s3_server.endpoint, bucket)
    s3 = s3_server.client()
    context = _open(prefs["server"])
    _seed(context)
    old_files = _keys(s3, bucket, "catalog/mice_computed/spike_sorting_params/")
    assert old_files, "600 rows make a Parquet file on S3"
    before_cut = context.lake.current_snapshot()
    context.lake.close()
    time.sleep(1.5)
    cut = dt.datetime.now(dt.UTC)
    time.sleep(1.5)

    folder = tmp_path / "rig" / "S1" / SESSION / "ephys"
    files = copy_tree(RECORDING, folder)
    _labdata(prefs["rig"], "put", str(folder), "-t", "ephys", *NEW_SUBJECT, "--no-progress")
    upload = _labdata(prefs["server"], "upload", "--no-progress")
    assert "COMPLETED" in upload.stdout, upload.stdout
    counted = _labdata(prefs["analyst"], "sql", "SELECT count(*) AS n FROM file WHERE file_path LIKE 'S1/%'")
    assert str(len(files)) in counted.stdout
    imported = _labdata(prefs["analyst"], "sorting-import", str(PHY_FOLDER), "-a", "S1", "-s", PHY["session_name"],
                        "-d", "phy", "--probe", "0", "--no-progress")
    assert "imported 13 units, 788 spikes" in imported.stdout
    inside = _open(prefs["analyst"])
    inside_snapshot = inside.lake.current_snapshot()
    inside.lake.close()

    password = _labdata(prefs["server"], "account", "add", "alice", "-p", "mice").stdout.split()[-1]
    server, port = _serve(prefs["server"], tmp_path / "serve.log")
    try:
        import pymysql

        with pymysql.connect(host="127.0.0.1", port=port, user="alice", password=password) as connection, \
                connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM lab_data_mice_computed.spike_sorting__unit")
            assert cursor.fetchone()[0] == 13
            cursor.execute("SELECT count(*) FROM lab_data.file")
            assert cursor.fetchone()[0] >= len(files)
    finally:
        server.terminate()
        server.wait(timeout=60)

    days = (dt.datetime.now(dt.UTC) - cut).total_seconds() / 86400
    report = _labdata(prefs["server"], "admin", "maintain", "--retention-days", f"{days:.8f}", "--grace-hours", "0")
    print(report.stdout)
    assert not (old_files & _keys(s3, bucket, "catalog/")), "the file only expired snapshots needed is gone"
    assert "data files no live snapshot needs: deleted 0" not in report.stdout

    after = _open(prefs["analyst"])
    with use(after):
        assert sorted(File.fetch("file_path").tolist()) == sorted(f"S1/{SESSION}/ephys/{p}" for p in files)
        units = (SpikeSorting.Unit & PHY).get_spike_times()
        assert len(units) == 13 and sum(len(u["spike_times"]) for u in units) == 788
        assert len(SpikeSortingParams & "parameter_set_num >= 100") == 0
    with after.lake.at(version=inside_snapshot) as then, use(Context(then, "mice")):
        assert len(SpikeSorting.Unit & PHY) == 13, "a snapshot inside the retention still opens"
    with pytest.raises(Exception, match="snapshot"):
        after.lake.at(version=before_cut)
    after.lake.close()
