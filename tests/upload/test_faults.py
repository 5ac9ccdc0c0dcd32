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
from pathlib import Path

from lab import NEW_SUBJECT, Lab, md5

from labdata.schema import UploadJob
from labdata.stores import open_store
from shared_data import SHARED_DATA

RECORDING = SHARED_DATA / "spikeglx" / "neuroconv-gin" / "Noise4Sam_g0"
FAULTS = Path(__file__).with_name("faults.py")
#: kill points per crash test, spread from the first crossing to the last (each point copies a lab built
#: once per test, see ``Lab.copy``, and runs the command twice)
POINTS = 10


def run_killed(lab: Lab, config: str, args: list[str], kill_at: int, count_file: Path | None = None) -> int:
    env = {**lab.env(config), "LABDATA_KILL_AT": str(kill_at)}
    if count_file is not None:
        env["LABDATA_KILL_COUNT"] = str(count_file)
    result = subprocess.run([sys.executable, str(FAULTS), *args, "--no-progress"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert kill_at == 0 or result.returncode == -9, (kill_at, result.returncode, result.stderr[-2000:])
    return result.returncode


def crossings(lab: Lab, config: str, args: list[str]) -> int:
    count_file = lab.root / "crossings"
    assert run_killed(lab, config, args, 0, count_file) == 0
    return int(count_file.read_text())


def kill_points(total: int, wanted: int = POINTS) -> list[int]:
    """``wanted`` crossings spread from the first to the last (all of them if there are fewer)."""
    if total <= wanted:
        return list(range(1, total + 1))
    return sorted({1 + round(i * (total - 1) / (wanted - 1)) for i in range(wanted)})


def assert_consistent(lab: Lab, files: dict[str, Path]) -> None:
    registered = lab.registered()
    store = open_store(lab.prefs["server"], "data")
    assert store.list() == sorted(registered), "an object lacks its row or a row its object"
    for path, row in registered.items():
        assert store.size(path) == row["file_size"] and row["file_md5"] == md5(files[path])
    assert sorted(registered) == sorted(files)
    jobs = lab.jobs()
    assert [j["job_status"] for j in jobs] == ["COMPLETED"], jobs


def bucket_name(name: str) -> str:
    return f"faults-{name}".lower().replace("_", "-")


def fresh_lab(tmp_path: Path, name: str, s3_server) -> tuple[Lab, Path, dict[str, Path]]:
    bucket = bucket_name(name)
    s3_server.client().create_bucket(Bucket=bucket)
    lab = Lab(tmp_path / name, s3_server.endpoint, bucket)
    folder, files = lab.rig_recording(RECORDING)
    return lab, folder, files


def copied_lab(template: tuple[Lab, Path, dict[str, Path]], tmp_path: Path, name: str
               ) -> tuple[Lab, Path, dict[str, Path]]:
    """A copy of a lab from :func:`fresh_lab` (and what the test did to it), as ``fresh_lab`` returns it."""
    lab, folder, files = template
    copy = lab.copy(tmp_path / name, bucket_name(name))
    moved = {path: copy.root / file.relative_to(lab.root) for path, file in files.items()}
    return copy, copy.root / folder.relative_to(lab.root), moved


def put_in_process(lab: Lab, folder: Path) -> None:
    from labdata.upload import put

    with lab.context("rig"):
        put([folder], new_subject=dict(subject_dob="2023-06-01", subject_sex="M", strain_name="C57BL/6J",
                                       user_name="couto"), progress=False)


def upload_in_process(lab: Lab) -> None:
    from labdata.upload import process_upload_jobs

    with lab.context("server"):
        assert [o.status for o in process_upload_jobs(progress=False)] == ["COMPLETED"]


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


def test_sigkill_during_upload_then_upload_again(tmp_path, s3_server) -> None:
    template = fresh_lab(tmp_path, "upload-template", s3_server)
    put_in_process(template[0], template[1])
    probe, _, _ = copied_lab(template, tmp_path, "upload-count")
    points = kill_points(crossings(probe, "server", ["upload"]))
    assert len(points) >= POINTS
    for point in points:
        lab, _, files = copied_lab(template, tmp_path, f"upload-{point}")  # after put_in_process
        run_killed(lab, "server", ["upload"], point)
        again = lab.run("server", "upload", process=True)
        assert again.returncode == 0, (point, again.stdout, again.stderr)
        assert_consistent(lab, files)


def test_sigkill_during_get_then_get_again(tmp_path, s3_server) -> None:
    lab, folder, files = fresh_lab(tmp_path, "get", s3_server)
    put_in_process(lab, folder)
    upload_in_process(lab)
    analyst = lab.folders["analyst"]
    args = ["get", "-a", "S1"]
    points = kill_points(crossings(lab, "analyst", args))
    assert len(points) >= POINTS
    for point in points:
        for path in sorted(analyst.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        run_killed(lab, "analyst", args, point)
        again = lab.run("analyst", *args, process=True)
        assert again.returncode == 0, (point, again.stderr)
        for path, source in files.items():
            assert (analyst / path).read_bytes() == source.read_bytes(), (point, path)
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
