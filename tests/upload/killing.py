"""What the SIGKILL acceptance tests share: running a command killed at a boundary crossing (``faults.py``),
choosing the points, copying a lab built once per test, and checking the lake afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lab import Lab, md5

from labdata.stores import open_store
from shared_data import SHARED_DATA

__all__ = ["FAULTS", "POINTS", "RECORDING", "assert_consistent", "copied_lab", "crossings", "fresh_lab",
           "kill_points", "put_in_process", "run_killed", "upload_in_process"]

RECORDING = SHARED_DATA / "spikeglx" / "neuroconv-gin" / "Noise4Sam_g0"
FAULTS = Path(__file__).with_name("faults.py")
#: kill points per crash test, spread from the first crossing to the last (each point copies a lab built
#: once per test, see ``Lab.copy``, and runs the command twice); five include the first and the last crossing and
#: land in each phase of a command (copy, hash, register; transfer, verify, record)
POINTS = 5


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
