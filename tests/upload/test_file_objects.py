"""File.delete and AnalysisFile.upload_files keep rows and stored objects together, also when killed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lab import Lab, md5
from test_faults import FAULTS, kill_points, put_in_process

from labdata.core.errors import FileConflictError
from labdata.schema import AnalysisFile, Dataset, File
from labdata.schema.file_objects import finish_object_deletions, pending_uploads
from labdata.stores import open_store
from shared_data import SHARED_DATA

RECORDING = SHARED_DATA / "spikeglx" / "neuroconv-gin" / "Noise4Sam_g0"
SORTING = SHARED_DATA / "kilosort" / "neuroconv-gin-phy_example_0"
DATASET = dict(subject_name="S1", session_name="20240101_120000", dataset_name="spike_sorting/imec0/1")


def uploaded_lab(root: Path, s3_server, name: str) -> tuple[Lab, dict[str, Path]]:
    """A lab with a put recording whose files are stored and registered (File, Dataset.DataFiles)."""
    bucket = f"objects-{name}"
    s3_server.client().create_bucket(Bucket=bucket)
    lab = Lab(root / name, s3_server.endpoint, bucket)
    lab.prefs["server"].set("storage.analysis", {**lab.prefs["server"]["storage"]["data"], "folder": "analysis"})
    lab.prefs["server"].save()
    folder, files = lab.rig_recording(RECORDING)
    store = open_store(lab.prefs["server"], "data")
    with lab.context("server"):
        put_in_process(lab, folder)  # the lake's rows for the dataset; the files go straight to the bucket
        sent = {path: store.put(source, path) for path, source in files.items()}
        File.insert([dict(file_path=path, storage="data", file_datetime="2024-01-01", file_size=float(s.size),
                          file_md5=s.md5) for path, s in sent.items()])  # one commit, not one per file
        Dataset.DataFiles.insert([dict(subject_name="S1", session_name="20240101_120000", dataset_name="ephys",
                                       file_path=p, storage="data") for p in files])
    return lab, files


def copied_lab(template: tuple[Lab, dict[str, Path]], root: Path, name: str) -> tuple[Lab, dict[str, Path]]:
    """A copy of a lab from :func:`uploaded_lab` (catalog, folders, preferences and objects)."""
    lab, files = template
    copy = lab.copy(root / name, f"objects-{name}")
    return copy, {path: copy.root / file.relative_to(lab.root) for path, file in files.items()}


def in_step(lab: Lab) -> None:
    """Every File row has its object, and every object its row."""
    store = open_store(lab.prefs["server"], "data")
    assert store.list() == sorted(lab.registered())


def test_delete_removes_rows_their_dependents_and_objects(tmp_path, s3_server) -> None:
    lab, files = uploaded_lab(tmp_path, s3_server, "delete")
    victim = sorted(files)[0]
    with lab.context("server"):
        counts = (File & {"file_path": victim}).delete()
        assert counts == {"lab.file": 1, "lab_data.dataset__data_files": 1}
        assert not Dataset.DataFiles & {"file_path": victim}
    in_step(lab)
    assert victim not in open_store(lab.prefs["server"], "data").list()


def test_sigkill_during_delete_then_any_later_call_finishes_it(tmp_path, s3_server) -> None:
    code = ("import labdata; from labdata.schema import File; labdata.connect(); "
            "(File & 'file_path LIKE \"%imec0%\"').delete()")
    template = uploaded_lab(tmp_path, s3_server, "delete-template")
    probe, _ = copied_lab(template, tmp_path, "delete-count")
    env = {**probe.env("server"), "LABDATA_KILL_AT": "0", "LABDATA_KILL_COUNT": str(tmp_path / "n")}
    assert subprocess.run([sys.executable, str(FAULTS), "-c", code], env=env, timeout=300).returncode == 0
    points = kill_points(int((tmp_path / "n").read_text()), 4)
    assert len(points) == 4
    for point in points:
        lab, files = copied_lab(template, tmp_path, f"delete-{point}")
        env = {**lab.env("server"), "LABDATA_KILL_AT": str(point)}
        killed = subprocess.run([sys.executable, str(FAULTS), "-c", code], env=env, timeout=300)
        assert killed.returncode == -9, point
        with lab.context("server"):
            finish_object_deletions()
        in_step(lab)
        survivors = set(lab.registered())
        assert survivors in (set(files), {p for p in files if "imec0" not in p}), point


def test_upload_files_stores_outputs_under_their_dataset_and_replaces_with_force(tmp_path, s3_server) -> None:
    lab, _ = uploaded_lab(tmp_path, s3_server, "analysis")
    outputs = sorted(SORTING.glob("*.npy"))[:3]
    with lab.context("server"):
        rows = AnalysisFile.upload_files(outputs, DATASET, progress=False)
        expected = [f"S1/20240101_120000/spike_sorting/imec0/1/{p.name}" for p in outputs]
        assert rows == [{"file_path": p, "storage": "analysis"} for p in expected]
        stored = {r["file_path"]: r for r in AnalysisFile.fetch(as_dict=True)}
        assert {p: stored[p]["file_md5"] for p in expected} == {
            e: md5(o) for e, o in zip(expected, outputs, strict=True)}
        with pytest.raises(FileConflictError, match="registered already"):
            AnalysisFile.upload_files(outputs[:1], DATASET, force=False, progress=False)
        replacement = tmp_path / outputs[0].name
        replacement.write_bytes(b"new bytes")
        AnalysisFile.upload_files([replacement], DATASET, progress=False)
        assert (AnalysisFile & {"file_path": expected[0]}).fetch1("file_md5") == md5(replacement)
        assert pending_uploads() == []
    analysis = open_store(lab.prefs["server"], "analysis")
    assert analysis.list() == expected
    target = tmp_path / "back"
    analysis.get(expected[0], target)
    assert target.read_bytes() == b"new bytes"


def test_sigkill_during_upload_files_leaves_every_object_findable(tmp_path, s3_server) -> None:
    outputs = [str(p) for p in sorted(SORTING.glob("*.npy"))[:3]]
    code = ("import labdata; from labdata.schema import AnalysisFile; labdata.connect(); "
            f"AnalysisFile.upload_files({outputs!r}, {DATASET!r}, progress=False)")
    template = uploaded_lab(tmp_path, s3_server, "files-template")
    probe, _ = copied_lab(template, tmp_path, "files-count")
    env = {**probe.env("server"), "LABDATA_KILL_AT": "0", "LABDATA_KILL_COUNT": str(tmp_path / "n")}
    assert subprocess.run([sys.executable, str(FAULTS), "-c", code], env=env, timeout=300).returncode == 0
    for point in kill_points(int((tmp_path / "n").read_text()), 4):
        lab, _ = copied_lab(template, tmp_path, f"files-{point}")
        env = {**lab.env("server"), "LABDATA_KILL_AT": str(point)}
        assert subprocess.run([sys.executable, str(FAULTS), "-c", code], env=env, timeout=300).returncode == -9
        analysis = open_store(lab.prefs["server"], "analysis")
        with lab.context("server"):
            named = set(AnalysisFile.fetch("file_path")) | {p for _, p in pending_uploads()}
        assert set(analysis.list()) <= named, point  # no object that nothing names
        again = subprocess.run([sys.executable, "-c", code], env=lab.env("server"), timeout=300)
        assert again.returncode == 0, point
        with lab.context("server"):
            assert pending_uploads() == [] and sorted(AnalysisFile.fetch("file_path")) == analysis.list()
