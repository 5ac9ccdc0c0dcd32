"""Acceptance: put on a rig, upload on the server, get on an analyst's machine, with real files."""

from __future__ import annotations

from lab import NEW_SUBJECT, SESSION, md5

from labdata.stores import open_store
from shared_data import SHARED_DATA

RECORDING = SHARED_DATA / "spikeglx" / "neuroconv-gin" / "Noise4Sam_g0"


def test_put_upload_get_round_trip_of_a_real_recording(lab) -> None:
    folder, files = lab.rig_recording(RECORDING)
    put = lab.run("rig", "put", str(folder), "-t", "ephys", *NEW_SUBJECT)
    assert put.returncode == 0, put.stderr
    assert f"queued job 1: {len(files)} files of S1/{SESSION}/ephys" in put.stdout
    assert [j["job_status"] for j in lab.jobs()] == ["ON SERVER"]

    upload = lab.run("server", "upload")
    assert upload.returncode == 0, upload.stderr + upload.stdout
    assert f"job 1: COMPLETED UPLOADED {len(files)}" in upload.stdout
    registered = lab.registered()
    assert sorted(registered) == sorted(files)
    for path, source in files.items():
        assert registered[path]["file_size"] == source.stat().st_size
        assert registered[path]["file_md5"] == md5(source)
    store = open_store(lab.prefs["analyst"], "data")
    assert store.list() == sorted(files)  # every object has its row and every row its object

    get = lab.run("analyst", "get", "-a", "S1", "-d", "ephys")
    assert get.returncode == 0, get.stderr
    for path, source in files.items():
        assert (lab.folders["analyst"] / path).read_bytes() == source.read_bytes()
    sessions = lab.run("analyst", "sessions", "-a", "S1", "--include-size")
    text = " ".join(sessions.stdout.replace("│", " ").split())
    total = sum(p.stat().st_size for p in files.values())
    assert f"ephys - ephys {len(files)} {total / 1e6:.1f} MB" in text, text


def test_putting_and_uploading_again_changes_nothing(lab) -> None:
    folder, _ = lab.rig_recording(RECORDING)
    assert lab.run("rig", "put", str(folder), *NEW_SUBJECT).returncode == 0
    again = lab.run("rig", "put", str(folder))
    assert again.returncode == 0 and "already queued: job 1" in again.stdout, again.stderr
    assert lab.run("server", "upload").returncode == 0
    snapshot = lab.registered()
    assert "no upload jobs waiting" in lab.run("server", "upload").stdout
    after = lab.run("rig", "put", str(folder))
    assert after.returncode == 0 and "already queued: job 1" in after.stdout
    assert lab.registered() == snapshot and len(lab.jobs()) == 1


def test_files_deleted_from_the_lake_can_be_put_again(lab) -> None:
    folder, files = lab.rig_recording(RECORDING)
    assert lab.run("rig", "put", str(folder), *NEW_SUBJECT).returncode == 0
    assert lab.run("server", "upload").returncode == 0
    with lab.context("server"):
        from labdata.schema import File

        (File & 'file_path LIKE "S1/%"').delete()
    assert not lab.registered() and open_store(lab.prefs["server"], "data").list() == []
    again = lab.run("rig", "put", str(folder))
    assert again.returncode == 0 and "queued job 2" in again.stdout, again.stdout + again.stderr
    assert "job 2: COMPLETED" in lab.run("server", "upload").stdout
    assert sorted(lab.registered()) == sorted(files) == open_store(lab.prefs["server"], "data").list()
