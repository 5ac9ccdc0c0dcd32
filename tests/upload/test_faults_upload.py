"""Acceptance: SIGKILL during upload at many points; a re-run completes and nothing is lost.

See test_faults.py; a file of its own so that the crash tests run in parallel on two workers.
"""

from __future__ import annotations

from killing import (
    POINTS,
    assert_consistent,
    copied_lab,
    crossings,
    fresh_lab,
    kill_points,
    put_in_process,
    run_killed,
)


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
