"""Bad input to put and upload: a clear error, and nothing copied or registered."""

from __future__ import annotations

import os

import pytest
from lab import NEW_SUBJECT, SESSION, Lab

from labdata.stores import open_store
from shared_data import SHARED_DATA

RECORDING = SHARED_DATA / "kilosort" / "neuroconv-gin-phy_example_0"


def nothing_registered(lab: Lab) -> bool:
    return not lab.jobs() and not lab.registered()


def test_a_path_outside_the_first_local_path_is_refused(lab) -> None:
    outside = lab.root / "elsewhere" / "a.bin"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    sneaky = lab.folders["rig"] / "S1" / ".." / ".." / "elsewhere" / "a.bin"
    for path in (outside, sneaky):
        result = lab.run("rig", "put", str(path), "-a", "S1", "-s", SESSION, "-d", "ephys", *NEW_SUBJECT)
        assert result.returncode == 1 and "is not under the first local path" in result.stderr, result.stderr
    assert nothing_registered(lab) and not any(lab.folders["server"].iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file: an unreadable file cannot be made")
def test_an_unreadable_file_is_refused_before_anything_is_copied(lab) -> None:
    folder, files = lab.rig_recording(RECORDING)
    next(iter(files.values())).chmod(0)
    result = lab.run("rig", "put", str(folder), *NEW_SUBJECT)
    assert result.returncode == 1 and "cannot be read" in result.stderr
    assert nothing_registered(lab) and not any(lab.folders["server"].iterdir())


def test_a_missing_upload_path_is_named(lab) -> None:
    folder, _ = lab.rig_recording(RECORDING)
    for value, message in ((None, "upload_path is not set"), (str(lab.root / "unmounted"), "not a reachable folder")):
        lab.prefs["rig"].set("upload_path", value)
        lab.prefs["rig"].save()
        result = lab.run("rig", "put", str(folder), *NEW_SUBJECT)
        assert result.returncode == 1 and message in result.stderr, result.stderr
    assert nothing_registered(lab)


def test_an_unknown_rule_lists_the_known_ones(lab) -> None:
    folder, _ = lab.rig_recording(RECORDING)
    result = lab.run("rig", "put", str(folder), "-r", "nonee", *NEW_SUBJECT)
    assert result.returncode == 1
    assert "no upload rule 'nonee'" in result.stderr and "Did you mean 'none'" in result.stderr
    assert nothing_registered(lab) and not any(lab.folders["server"].iterdir())


def test_a_new_subject_needs_its_fields_and_a_new_session_a_date(lab) -> None:
    folder, _ = lab.rig_recording(RECORDING)
    result = lab.run("rig", "put", str(folder), "--sex", "F")
    assert result.returncode == 1 and "--dob, --strain, -u" in result.stderr and "C57BL/6J" in result.stderr
    undated = lab.run("rig", "put", str(folder), "-s", "pilot", *NEW_SUBJECT)
    assert undated.returncode == 1 and "date cannot be read" in undated.stderr, undated.stderr
    assert nothing_registered(lab) and not any(lab.folders["server"].iterdir())


def test_a_file_registered_with_other_content_is_refused_by_put_and_by_upload(lab) -> None:
    folder, files = lab.rig_recording(RECORDING)
    assert lab.run("rig", "put", str(folder), *NEW_SUBJECT).returncode == 0
    assert lab.run("server", "upload").returncode == 0
    before = lab.registered()
    changed = next(iter(files.values()))
    changed.write_bytes(b"edited after the upload")
    result = lab.run("rig", "put", str(folder))
    assert result.returncode == 1 and "already in the lake with other content" in result.stderr
    assert len(lab.jobs()) == 1 and lab.registered() == before

    # a job whose path another job registered in the meantime: the stored object is never replaced
    second, second_files = lab.rig_recording(RECORDING, dataset="sorting")
    assert lab.run("rig", "put", str(second)).returncode == 0
    taken = sorted(second_files)[0]
    store = open_store(lab.prefs["server"], "data")
    with lab.context("server"):
        from labdata.schema import File

        File.insert1(dict(file_path=taken, storage="data", file_datetime="2024-01-01", file_size=3.0,
                          file_md5="0" * 32))
    upload = lab.run("server", "upload")
    assert upload.returncode == 1 and "already in File with other content" in upload.stdout, upload.stdout
    job = lab.jobs()[-1]
    assert job["job_status"] == "FAILED" and "other content" in job["job_log"]
    assert set(lab.registered()) == set(before) | {taken}
    assert store.list() == sorted(before)  # nothing of the failed job stayed in the bucket
    assert all((lab.folders["server"] / p).is_file() for p in second_files)  # the job keeps its files


def test_a_failed_job_says_why_keeps_its_files_and_completes_after_a_reset(lab) -> None:
    folder, files = lab.rig_recording(RECORDING)
    assert lab.run("rig", "put", str(folder), *NEW_SUBJECT).returncode == 0
    lost = lab.folders["server"] / sorted(files)[0]
    kept = lost.read_bytes()
    lost.unlink()
    upload = lab.run("server", "upload")
    assert upload.returncode == 1 and "FILE NOT FOUND; check file transfer" in upload.stdout
    assert lab.jobs()[0]["job_status"] == "FAILED" and not lab.registered()
    assert "no upload jobs waiting" in lab.run("server", "upload").stdout  # a failed job waits for a reset
    lost.write_bytes(kept)
    retry = lab.run("server", "upload", "--reset-failed")
    assert retry.returncode == 0 and "reset 1 failed job(s): 1" in retry.stdout and "COMPLETED" in retry.stdout
    assert sorted(lab.registered()) == sorted(files)
    queue = lab.run("server", "upload", "--queue")
    assert queue.returncode == 0 and "COMPLETED: 1 job(s)" in queue.stdout


def test_wrong_storage_credentials_fail_the_job_and_register_nothing(tmp_path) -> None:
    from s3server import S3Server

    server = S3Server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "1"})  # the bucket is made, then keys are checked
    try:
        server.client().create_bucket(Bucket="lab-raw")
        lab = Lab(tmp_path, server.endpoint, "lab-raw", secret_key="wrong")
        folder, _ = lab.rig_recording(RECORDING)
        assert lab.run("rig", "put", str(folder), *NEW_SUBJECT).returncode == 0
        upload = lab.run("server", "upload")
        assert upload.returncode == 1 and "storage.data.secret_key" in upload.stdout, upload.stdout + upload.stderr
        job = lab.jobs()[0]
        assert job["job_status"] == "FAILED" and "refused access" in job["job_log"]
        assert not lab.registered()
    finally:
        server.stop()


def test_files_of_several_sessions_are_not_put_as_one_dataset(lab) -> None:
    first, _ = lab.rig_recording(RECORDING)
    other = lab.folders["rig"] / "S1" / "20240102_090000" / "ephys"
    other.mkdir(parents=True)
    (other / "b.bin").write_bytes(b"b")
    result = lab.run("rig", "put", str(first), str(other), *NEW_SUBJECT)
    assert result.returncode == 1 and "different session_names" in result.stderr, result.stderr
    assert nothing_registered(lab) and not any(lab.folders["server"].iterdir())
