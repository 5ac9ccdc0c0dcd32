"""The demo's ephys part: a synthetic SpikeGLX recording put on a "rig", uploaded with the ``ephys`` rule.

The rig and the upload server are two preference files inside the demo folder; the
storage is a local folder (``<demo>/storage``), so nothing outside the demo folder is
read or written. After the upload the recording is synchronised: a StreamSync row
says that bit 6 of the probe's sync word and line 0 of the NI-DAQ carry the same
1 Hz pulse, and ``fetch_synced`` returns the NI-DAQ's trial pulses and the probe's
pulses on the NI-DAQ clock. The recording's simulated units then become a sorting with
waveforms, metrics and unit counts (:mod:`labdata.upload.sorting_demo`).
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labdata.catalog.engine.context import current_context, use
from labdata.converters.spikeglx.synthetic import write_recording
from labdata.core.config import Preferences
from labdata.core.errors import UploadError
from labdata.upload.sorting_demo import run_sorting_demo

__all__ = ["EphysDemo", "run_ephys_demo"]

SUBJECT, SESSION, DATASET = "JC178", "20240304_103000", "ephys_g0"


@dataclass(frozen=True)
class EphysDemo:
    """What the ephys demo shows: the recording, its probe configuration and synced events."""

    recording: pd.DataFrame
    probes: pd.DataFrame
    events: pd.DataFrame
    units: pd.DataFrame
    nwb: tuple[Path, str] | None = None


def run_ephys_demo(root: Path, duration: float = 4.0) -> EphysDemo:
    """Write, put, upload and synchronise a ``duration`` s NP1.0 + NI-DAQ recording in the current project.

    ``root`` is the demo's folder: the rig's and the server's folders, their preference
    files and the storage are made inside it.
    """
    from labdata.upload.put import put
    from labdata.upload.server import process_upload_jobs

    rig, server = _prefs(root, "rig"), _prefs(root, "server")
    folder = Path(rig.local_paths[0]) / SUBJECT / SESSION / DATASET
    truth = write_recording(folder / "demo_g0", duration=duration, drift_ppm=20.0)
    context = current_context()
    with use(dataclasses.replace(context, preferences=rig)):
        put([folder], rule="ephys", subject_name=SUBJECT, session_name=SESSION, dataset_name=DATASET,
            dataset_type="ephys", progress=False)
    with use(dataclasses.replace(context, preferences=server)):
        outcomes = process_upload_jobs(progress=False)
    failed = [o for o in outcomes if o.status != "COMPLETED"]
    if failed:
        raise UploadError(f"The demo's upload job failed: {failed[0].log}", hint="Report this as a bug.")
    shown = _show()
    with use(dataclasses.replace(context, preferences=server)):
        units = run_sorting_demo(dict(subject_name=SUBJECT, session_name=SESSION, dataset_name=DATASET),
                                 truth.spike_trains)
        nwb = _export(root)
    return dataclasses.replace(shown, units=units, nwb=nwb)


def _export(root: Path) -> tuple[Path, str]:
    """The demo session as a DANDI-organised NWB file under ``<demo>/nwb``, and the inspector's summary."""
    from labdata.converters.nwb import inspection_summary
    from labdata.schema.general import Session
    from labdata.schema.nwb_export import export_nwb

    path = export_nwb(Session & dict(subject_name=SUBJECT, session_name=SESSION), root / "nwb", progress=False)[0]
    return path, inspection_summary(path)


def _prefs(root: Path, name: str) -> Preferences:
    prefs = Preferences.load(root / f"{name}_preferences.json")
    prefs.set("lake_path", str(root))  # the demo's preference files reach the demo lake, not ~/labdata's
    prefs.set("database.project", current_context().project)
    prefs.set("local_paths", [str(root / name)])
    prefs.set("upload_path", str(root / "server"))
    prefs.set("upload_host", socket.gethostname())
    prefs.set("storage.data", {"protocol": "local", "folder": str(root / "storage")})
    (root / name).mkdir(parents=True, exist_ok=True)
    prefs.save()
    return prefs


def _show() -> EphysDemo:
    from labdata.schema.ephys import EphysRecording, ProbeConfiguration
    from labdata.schema.general import DatasetEvents, StreamSync

    key = dict(subject_name=SUBJECT, session_name=SESSION, dataset_name=DATASET)
    StreamSync.insert1(dict(key, stream_name="imec0", event_name="6", clock_dataset=DATASET,
                            clock_stream="nidq", clock_stream_event="0"), skip_duplicates=True)
    recording = (EphysRecording & key).proj("n_probes", "recording_duration", "recording_software").fetch(
        format="frame").reset_index(drop=True)
    probes = (EphysRecording.ProbeSetting * ProbeConfiguration & key).proj(
        "probe_id", "configuration_id", "probe_n_channels", "probe_gain", "sampling_rate").fetch(format="frame")
    events = pd.DataFrame([_event_row(e) for e in (DatasetEvents.Digital & key).fetch_synced()])
    probes = probes.reset_index()[["probe_num", "probe_id", "configuration_id", "probe_n_channels", "probe_gain",
                                   "sampling_rate"]]
    return EphysDemo(recording, probes, events, pd.DataFrame())


def _event_row(event: dict[str, Any]) -> dict[str, Any]:
    stamps, values = np.asarray(event["event_timestamps"]), np.asarray(event["event_values"])
    onsets = stamps[values == 1]
    return {"stream": event["stream_name"], "line": event["event_name"], "onsets": len(onsets),
            "first onsets (s, NI-DAQ clock)": ", ".join(f"{t:.5f}" for t in onsets[:3])}
