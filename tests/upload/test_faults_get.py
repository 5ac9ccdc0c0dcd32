"""Acceptance: SIGKILL during get at many points; a re-run completes with byte-identical files.

See test_faults.py; a file of its own so that the crash tests run in parallel on two workers.
"""

from __future__ import annotations

from killing import (
    POINTS,
    assert_consistent,
    crossings,
    fresh_lab,
    kill_points,
    put_in_process,
    run_killed,
    upload_in_process,
)


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
