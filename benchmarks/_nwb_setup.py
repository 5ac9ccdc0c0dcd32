"""The lake of ``nwb_export.py``: a synthetic SpikeGLX recording put and uploaded, and a Kilosort folder imported.

:func:`build_lake` makes, in a new folder, the demo's lake (``labdata.schema.demo.run_demo``: subjects with
sex, birth date and strain, sessions with an experimenter, which DANDI requires), writes a synthetic NP1.0
recording (:func:`~labdata.converters.spikeglx.synthetic.write_recording`, AP only, probe clock not drifting)
on a "rig" folder, puts it and uploads it with the ``ephys`` rule as the demo does, writes a Kilosort/phy
folder of the recording's simulated units (:func:`write_kilosort_folder`) and imports it with
``SpikeSorting.add_kilosort``. NeuroConv reads the same ``.ap.bin`` and the same folder.

Not a script, used by ``nwb_export.py``.
"""

from __future__ import annotations

import dataclasses
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labdata.catalog import use
from labdata.catalog.engine.context import current_context
from labdata.converters.spikeglx.synthetic import AP_RATE, N_CHANNELS, write_recording
from labdata.core.config import Preferences

__all__ = ["PROJECT", "SESSION", "SUBJECT", "BuiltLake", "build_lake", "write_kilosort_folder"]

PROJECT, SUBJECT, SESSION, DATASET = "demo", "JC178", "20240304_103000", "ephys_g0"
_TEMPLATE_SAMPLES, _SPIKE_AT = 82, 41  # Kilosort's templates: the spike 41 samples before the end


@dataclass(frozen=True)
class BuiltLake:
    """What the export sides read: the lake (and its server preferences), the raw run folder, the sorting."""

    root: Path
    preferences: Path
    run_folder: Path
    kilosort: Path
    seconds: dict[str, float]
    n_units: int
    n_spikes: int


def build_lake(root: Path, duration: float) -> BuiltLake:
    """The demo lake in ``root`` (new) with a ``duration`` s recording of JC178's session and its sorting."""
    from labdata.schema.demo import run_demo

    built: list[BuiltLake] = []
    run_demo(root, project=PROJECT, then=lambda path: built.append(_fill(Path(path), duration)))
    return built[0]


def _fill(root: Path, duration: float) -> BuiltLake:
    from labdata.schema.ephys import SpikeSorting
    from labdata.upload.put import put
    from labdata.upload.server import process_upload_jobs

    rig, server = _preferences(root, "rig"), _preferences(root, "server")
    folder = Path(rig.local_paths[0]) / SUBJECT / SESSION / DATASET
    seconds = {}
    started = time.perf_counter()
    truth = write_recording(folder / "bench_g0", run="bench", duration=duration, drift_ppm=0.0, with_nidq=False)
    seconds["write the SpikeGLX recording"] = time.perf_counter() - started
    context = current_context()
    started = time.perf_counter()
    with use(dataclasses.replace(context, preferences=rig)):
        put([folder], rule="ephys", subject_name=SUBJECT, session_name=SESSION, dataset_name=DATASET,
            dataset_type="ephys", progress=False)
    with use(dataclasses.replace(context, preferences=server)):
        failed = [o for o in process_upload_jobs(progress=False) if o.status != "COMPLETED"]
        if failed:
            raise RuntimeError(f"the upload failed: {failed[0].log}")
        seconds["put + upload (ephys rule: compress, verify)"] = time.perf_counter() - started
        kilosort = write_kilosort_folder(root / "kilosort", truth.spike_trains, truth.unit_channels,
                                         next(f for f in truth.files if f.name.endswith(".ap.bin")).name)
        started = time.perf_counter()
        imported = SpikeSorting().add_kilosort(kilosort, dict(subject_name=SUBJECT, session_name=SESSION,
                                                              dataset_name=DATASET, probe_num=0), progress=False)
        seconds["SpikeSorting.add_kilosort"] = time.perf_counter() - started
    return BuiltLake(root, root / "server_preferences.json", truth.files[0].parent, kilosort, seconds,
                     int(imported["n_units"]), int(imported["n_spikes"]))


def _preferences(root: Path, name: str) -> Preferences:
    """The demo's rig and server preferences: everything (lake, folders, storage) inside ``root``."""
    prefs = Preferences.load(root / f"{name}_preferences.json")
    prefs.set("lake_path", str(root))
    prefs.set("database.project", PROJECT)
    prefs.set("local_paths", [str(root / name)])
    prefs.set("upload_path", str(root / "server"))  # as the demo: the server's own folder
    prefs.set("upload_host", socket.gethostname())
    for storage in ("data", "analysis"):
        prefs.set(f"storage.{storage}", {"protocol": "local", "folder": str(root / "storage" / storage)})
        (root / "storage" / storage).mkdir(parents=True, exist_ok=True)
    (root / name).mkdir(parents=True, exist_ok=True)
    prefs.save()
    return prefs


def write_kilosort_folder(folder: Path, trains: dict[int, np.ndarray], channels: dict[int, int], dat_name: str,
                          rate: float = AP_RATE) -> Path:
    """A Kilosort 2.5-style folder of the simulated units: one template per unit over 8 channels from its first.

    The spikes are the ground truth (onset + 12 samples, the trough of the synthetic waveform); the whitening
    is the identity; every unit is labelled ``good``.
    """
    folder.mkdir(parents=True)
    units = sorted(u for u, train in trains.items() if len(train))
    times = np.concatenate([trains[u].astype(np.uint64) + 12 for u in units])
    clusters = np.concatenate([np.full(len(trains[u]), index, dtype=np.int32) for index, u in enumerate(units)])
    order = np.argsort(times, kind="stable")
    t = np.arange(_TEMPLATE_SAMPLES) - _SPIKE_AT
    shape = (-np.exp(-(t / 3.0) ** 2) + 0.35 * np.exp(-((t - 10) / 6.0) ** 2)).astype(np.float32)
    templates = np.zeros((len(units), _TEMPLATE_SAMPLES, N_CHANNELS), dtype=np.float32)
    for index, unit in enumerate(units):
        spread = np.exp(-np.abs(np.arange(8) - 3.5) / 2.0).astype(np.float32)
        templates[index, :, channels[unit]:channels[unit] + 8] = shape[:, None] * spread[None, :]
    arrays = {"spike_times": times[order], "spike_clusters": clusters[order], "spike_templates": clusters[order],
              "amplitudes": np.full(len(times), 30.0, dtype=np.float32), "templates": templates,
              "whitening_mat_inv": np.eye(N_CHANNELS, dtype=np.float32),
              "channel_map": np.arange(N_CHANNELS, dtype=np.int32),
              "channel_positions": np.column_stack([np.tile([43.0, 11.0, 59.0, 27.0], N_CHANNELS // 4),
                                                    20.0 * (np.arange(N_CHANNELS) // 2)])}
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    (folder / "params.py").write_text(f"dat_path = '{dat_name}'\nn_channels_dat = {N_CHANNELS + 1}\n"
                                      f"dtype = 'int16'\noffset = 0\nsample_rate = {rate!r}\nhp_filtered = False\n")
    labels = "".join(f"{index}\tgood\n" for index in range(len(units)))
    (folder / "cluster_group.tsv").write_text("cluster_id\tgroup\n" + labels)
    (folder / "cluster_KSLabel.tsv").write_text("cluster_id\tKSLabel\n" + labels)
    return folder
