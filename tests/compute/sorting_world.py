"""A lake holding a SpikeInterface ground-truth recording as a SpikeGLX recording, for the sorting tests and
``benchmarks/sorting_task.py``.

The recording (:func:`labdata.converters.spikeglx.ground_truth.write_ground_truth`) is compressed to
``.zarr.zip`` as the ephys upload rule does, copied into the lake's local storage and registered with
:func:`~labdata.schema.ephys_methods.register_spikeglx`, the rule's own registration. The preferences are
saved to a file, so that worker processes (local, SLURM) reopen the same lake, storage and scratch folder.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labdata.catalog import Context, Lake, use
from labdata.converters.spikeglx.compression import compress_bin
from labdata.converters.spikeglx.ground_truth import GroundTruth, write_ground_truth
from labdata.converters.spikeglx.meta import read_meta
from labdata.core.config import Preferences
from labdata.schema import Dataset, File, Session, Subject, UnitCountCriteria
from labdata.schema.ephys_methods import ProbeStream, register_spikeglx
from labdata.stores import md5_of

SUBJECT, SESSION = "GT1", "20240501_120000"
DATASET = dict(subject_name=SUBJECT, session_name=SESSION, dataset_name="ephys")
PROBE = dict(DATASET, probe_num=0)
#: the lab's single-unit criteria in this lake (UnitCount classifies the sorted units with it)
SINGLE_UNITS = "firing_rate > 1 & spike_amplitude > 50"


@dataclass
class SortingWorld:
    """The lake's context and the ground truth of its recording."""

    context: Context
    truth: GroundTruth
    root: Path


def sorting_world(root: Path, lake: Lake, project: str, *, duration: float, n_channels: int = 32,
                  n_units: int = 10, seed: int = 0) -> SortingWorld:
    """Put a ``duration`` s ground-truth recording of ``n_channels`` channels in ``lake`` (people rows present)."""
    context = Context(lake, project, _preferences(root))
    truth = write_ground_truth(root / "source", duration=duration, n_channels=n_channels, n_units=n_units, seed=seed)
    with use(context):
        _register(root, truth)
    return SortingWorld(context, truth, root)


def _preferences(root: Path) -> Preferences:
    prefs = Preferences({}, path=root / "prefs.json", labdata_path=root / "labdata", environ={})
    prefs.set("local_paths", [str(root / "local")])
    prefs.set("scratch_path", str(root / "scratch"))
    (root / "data").mkdir(parents=True)
    prefs.set("storage.data", {"protocol": "local", "folder": str(root / "data")})
    prefs.save()
    return prefs


def _register(root: Path, truth: GroundTruth) -> None:
    binary, meta_path = truth.files
    meta = read_meta(meta_path)
    compress_bin(binary, meta)
    Subject.insert1(dict(subject_name=SUBJECT, subject_dob="2023-01-01", subject_sex="M", strain_name="C57BL/6J",
                         user_name="couto"))
    Session.insert1(dict(subject_name=SUBJECT, session_name=SESSION, session_datetime="2024-05-01 12:00:00"))
    Dataset.insert1(DATASET)
    stem = f"{SUBJECT}/{SESSION}/ephys/gt_g0/gt_g0_t0"
    paths = []
    for suffix in ("imec0.ap.zarr.zip", "imec0.ap.meta"):
        source, path = binary.parent / f"gt_g0_t0.{suffix}", f"{stem}.{suffix}"
        target = root / "data" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        File.insert1(dict(file_path=path, storage="data", file_datetime=dt.datetime(2024, 5, 1, 12),
                          file_size=float(target.stat().st_size), file_md5=md5_of(target)))
        paths.append(path)
    Dataset.DataFiles.insert([dict(DATASET, file_path=p, storage="data") for p in paths])
    register_spikeglx(DATASET, [ProbeStream(meta, paths, "data")], {})
    UnitCountCriteria.insert1(dict(unit_criteria_id=1, sua_criteria=SINGLE_UNITS))


def agreement(truth: GroundTruth, sorting: Any) -> Any:
    """SpikeInterface's comparison of ``sorting`` with the ground truth: accuracy, precision, recall per GT unit."""
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    comparison = compare_sorter_to_ground_truth(truth.sorting, sorting, exhaustive_gt=True)
    return comparison.get_performance()[["accuracy", "precision", "recall"]].astype(float)


def summary(performance: Any) -> str:
    """One line: units matched above 0.8 accuracy and the median accuracy, precision and recall."""
    matched = int(np.sum(performance["accuracy"] > 0.8))
    medians = performance.median()
    return (f"{matched}/{len(performance)} ground-truth units matched with accuracy > 0.8; median accuracy "
            f"{medians['accuracy']:.3f}, precision {medians['precision']:.3f}, recall {medians['recall']:.3f}")
