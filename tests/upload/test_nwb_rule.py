"""Acceptance of the ``nwb`` rule: a real NWB file put on a rig with no names, uploaded and registered.

The subject and session names come from the file; the NWB 1.0.5 file is refused by ``put`` on the rig,
and a job whose file turned unreadable on the server fails with pynwb's reason, nothing registered.
"""

from __future__ import annotations

import shutil

import numpy as np
from lab import md5

from shared_data import SHARED_DATA

NWB = SHARED_DATA / "nwb"
DANDI = NWB / "dandi-cli" / "sub-anm372793" / "sub-anm372793_ses-20170508.nwb"
KEY = {"subject_name": "anm372793", "session_name": "20170508_000000", "dataset_name": "nwb"}


def test_put_and_upload_register_a_dandi_file_with_names_from_the_file(lab) -> None:
    rig = lab.folders["rig"] / "incoming" / DANDI.name
    rig.parent.mkdir(parents=True)
    shutil.copyfile(DANDI, rig)
    put = lab.run("rig", "put", str(rig), "-r", "nwb", "--dob", "2016-12-01")
    assert put.returncode == 0, put.stderr
    upload = lab.run("server", "upload")
    assert "job 1: COMPLETED" in upload.stdout, upload.stdout + upload.stderr
    from labdata.schema import DatasetEvents, File, Session, SpikeSorting, Subject

    with lab.context("analyst"):
        assert (Subject & KEY).fetch1("subject_dob").isoformat() == "2016-12-01"
        assert (Session & KEY).fetch1("experimenter") == "mike_economo"
        stored = (File & {"file_path": f"incoming/{DANDI.name}"}).fetch1()
        assert stored["file_md5"] == md5(DANDI)
        [unit] = (SpikeSorting.Unit & KEY).get_spike_times(warn=False)
        trials = (DatasetEvents.Digital & KEY & {"event_name": "trials"}).fetch1("event_values")
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(DANDI), "r") as io:
        nwbfile = io.read()
        np.testing.assert_allclose(unit["spike_times"], nwbfile.units["spike_times"][0], atol=0.5 / 30000)
        assert int(np.sum(trials == 1)) == len(nwbfile.trials)


def test_put_refuses_a_file_pynwb_cannot_read_and_registers_nothing(lab) -> None:
    rig = lab.folders["rig"] / "incoming" / "496908818s.nwb"
    rig.parent.mkdir(parents=True)
    shutil.copyfile(NWB / "pynwb" / "496908818s.nwb", rig)
    put = lab.run("rig", "put", str(rig), "-r", "nwb", "-a", "allen", "-s", "20240101_120000")
    assert put.returncode != 0 and "pynwb can read" in put.stderr and "NWB 1.x" in put.stderr
    from labdata.schema import File, Session, Subject, UploadJob

    with lab.context("analyst"):
        assert not UploadJob() and not File() and not Session() and not Subject & {"subject_name": "allen"}
    assert not list(lab.folders["server"].rglob("*.nwb"))


def test_an_unreadable_file_fails_its_job_on_the_server_with_the_reason(lab) -> None:
    rig = lab.folders["rig"] / "incoming" / "496908818s.nwb"
    rig.parent.mkdir(parents=True)
    shutil.copyfile(NWB / "pynwb" / "496908818s.nwb", rig)
    put = lab.run("rig", "put", str(rig), "-a", "allen", "-s", "20240101_120000", "-d", "nwb",
                  "--dob", "2023-06-01", "--sex", "M", "--strain", "C57BL/6J", "-u", "couto")
    assert put.returncode == 0, put.stderr
    from labdata.schema import EphysRecording, File, UploadJob

    with lab.context("analyst"):  # as if put with -r nwb by a rig that could not read NWB files itself
        UploadJob.update1({"job_id": 1, "job_rule": "nwb"})
    upload = lab.run("server", "upload")
    assert "job 1: FAILED" in upload.stdout, upload.stdout + upload.stderr
    with lab.context("analyst"):
        assert "pynwb can read" in (UploadJob & {"job_id": 1}).fetch1("job_log")
        assert not File() and not EphysRecording()
