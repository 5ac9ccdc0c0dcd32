"""Acceptance: SIGKILL during put, upload and get, at many points; a re-run completes and nothing is lost.

Each case counts the boundary crossings of an undisturbed run (see ``faults.py``), then,
for at least ten points spread over them, kills a fresh run there (on a copy of a lab built
once per test: catalog, bucket, folders and preferences, see ``Lab.copy``), runs the command
again, and checks the lake: the job holds every file, every File row has its object with
the registered size, every object has its row, and downloaded files are byte-identical.
"""

from __future__ import annotations

import subprocess
import sys

from killing import (
    FAULTS,
    POINTS,
    RECORDING,
    assert_consistent,
    copied_lab,
    crossings,
    fresh_lab,
    kill_points,
    put_in_process,
    run_killed,
    upload_in_process,
)
from lab import NEW_SUBJECT, md5

from labdata.schema import UploadJob
from labdata.stores import open_store


def test_sigkill_during_put_then_put_again(tmp_path, s3_server) -> None:
    template = fresh_lab(tmp_path, "put-template", s3_server)
    probe, folder, _ = copied_lab(template, tmp_path, "put-count")
    args = ["put", str(folder), *NEW_SUBJECT]
    points = kill_points(crossings(probe, "rig", args))
    assert len(points) >= POINTS
    for point in points:
        lab, folder, files = copied_lab(template, tmp_path, f"put-{point}")
        args = ["put", str(folder), *NEW_SUBJECT]
        run_killed(lab, "rig", args, point)
        again = lab.run("rig", *args, process=True)
        assert again.returncode == 0, (point, again.stderr)
        with lab.context("server"):
            assert len(UploadJob()) == 1, point
            assigned = UploadJob.AssignedFiles.fetch("src_path", "src_md5", as_dict=True)
        assert {a["src_path"]: a["src_md5"] for a in assigned} == {p: md5(f) for p, f in files.items()}, point
        for path, source in files.items():
            assert (lab.folders["server"] / path).read_bytes() == source.read_bytes(), (point, path)
        upload_in_process(lab)
        assert_consistent(lab, files)






def test_an_object_corrupted_in_the_bucket_is_detected_by_get(lab) -> None:
    folder, files = lab.rig_recording(RECORDING)
    put_in_process(lab, folder)
    upload_in_process(lab)
    victim = sorted(files)[0]
    store = open_store(lab.prefs["server"], "data")
    data = bytearray(files[victim].read_bytes())
    data[len(data) // 2] ^= 0xFF
    store.fs.pipe_file(f"{store.settings.bucket}/{store.key(victim)}", bytes(data))
    result = lab.run("analyst", "get", "-a", "S1")
    assert result.returncode == 1 and "MD5" in result.stderr and victim.split("/")[-1] in result.stderr
    assert not (lab.folders["analyst"] / victim).exists()


def test_sigterm_during_upload_fails_the_job_cleanly_and_a_reset_completes_it(tmp_path, s3_server) -> None:
    lab, folder, files = fresh_lab(tmp_path, "sigterm", s3_server)
    put_in_process(lab, folder)
    total = crossings(lab, "server", ["upload", "--all-hosts", "--queue"])  # opens the lake: crossings before jobs
    env = {**lab.env("server"), "LABDATA_KILL_AT": str(total + 8), "LABDATA_KILL_SIGNAL": "TERM"}
    stopped = subprocess.run([sys.executable, str(FAULTS), "upload", "--no-progress"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert stopped.returncode != 0
    job = lab.jobs()[0]
    assert job["job_status"] == "FAILED" and job["job_log"].startswith("INTERRUPTED on "), job
    assert not lab.registered() and open_store(lab.prefs["server"], "data").list() == []  # what it stored is gone
    assert all((lab.folders["server"] / p).is_file() for p in files)
    retry = lab.run("server", "upload", "--reset-failed", process=True)
    assert retry.returncode == 0 and "COMPLETED" in retry.stdout, retry.stdout + retry.stderr
    assert_consistent(lab, files)
