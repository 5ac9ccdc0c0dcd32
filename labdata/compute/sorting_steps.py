"""The steps of a ``spikeinterface`` sorting task: preprocessing, the sorter, and the features of the units.

:func:`preprocess` chains SpikeInterface's lazy preprocessing on the lake's recording (bandpass,
phase shift, common reference, motion correction per shank); :func:`sort` writes it once to an
int16 binary folder in the scratch folder and runs the sorter on that copy with the sorter's own
preprocessing turned off (:data:`OWN_PREPROCESSING_OFF`); :func:`unit_features` computes each
spike's amplitude and position (a sparse SortingAnalyzer in memory). :func:`sorter_problem` says
why a sorter cannot run here (not installed, or Kilosort 4 without a CUDA GPU).
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from labdata.core.errors import ComputeError

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting, SortingAnalyzer

__all__ = ["GPU_SORTERS", "INSTALL_HINTS", "OWN_PREPROCESSING_OFF", "SORTERS", "curate", "motion_problem",
           "preprocess", "sort", "sorter_problem", "unit_features"]

#: the sorters ``-m/--sorter`` accepts (reference §5.5)
SORTERS = ("kilosort4", "mountainsort5", "spykingcircus2", "tridesclous2", "lupin", "simple", "herdingspikes")
#: sorters that need a CUDA GPU (their tasks ask the scheduler for one)
GPU_SORTERS = frozenset({"kilosort4"})
#: SpikeInterface's motion presets that estimate motion with DREDGE, which needs torch
TORCH_MOTION_PRESETS = frozenset({"dredge", "dredge_fast", "rigid_fast"})
#: how to install each sorter where the task runs
INSTALL_HINTS = {
    "kilosort4": "pip install kilosort==4.* and a CUDA build of torch, on a machine with an NVIDIA GPU",
    "mountainsort5": "pip install mountainsort5",
    "herdingspikes": "pip install herdingspikes",
    "lupin": "pip install 'labdata[sorting]' torch",
}
DEFAULT_INSTALL_HINT = "pip install 'labdata[sorting]' (numba, scikit-learn, hdbscan)"
#: sorter parameters that turn off the sorter's own preprocessing (the task's replaces it)
OWN_PREPROCESSING_OFF: dict[str, dict[str, Any]] = {
    "kilosort4": {"do_CAR": False},
    "mountainsort5": {"filter": False},
    "herdingspikes": {"filter": False},
    "tridesclous2": {"apply_preprocessing": False},
    "spykingcircus2": {"apply_preprocessing": False},
    "lupin": {"apply_preprocessing": False},
    "simple": {"apply_preprocessing": False},
}

Log = Callable[[str], None]


def sorter_problem(sorter: str) -> str | None:
    """Why ``sorter`` cannot run in this Python (not installed, no CUDA GPU for Kilosort 4); None when it can."""
    from spikeinterface.sorters import sorter_dict

    if not sorter_dict[sorter].is_installed():
        return f"the sorter {sorter!r} is not installed here ({INSTALL_HINTS.get(sorter, DEFAULT_INSTALL_HINT)})"
    if sorter in GPU_SORTERS and not _cuda_available():
        return f"{sorter} needs a CUDA GPU and torch finds none here"
    return None


def motion_problem(preset: str) -> str | None:
    """Why the motion-correction ``preset`` cannot run here (the DREDGE presets need torch); None when it can."""
    if preset in TORCH_MOTION_PRESETS and importlib.util.find_spec("torch") is None:
        return f"the motion correction {preset!r} (DREDGE) needs torch (pip install torch)"
    return None


def _cuda_available() -> bool:
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


def preprocess(recording: BaseRecording, parameters: Mapping[str, Any], log: Log) -> BaseRecording:
    """Bandpass, phase shift, common reference and motion correction as ``parameters`` ask (all lazy)."""
    import spikeinterface.preprocessing as spre

    nyquist = recording.get_sampling_frequency() / 2
    if parameters["high_pass"] >= nyquist:
        raise ComputeError(f"The bandpass' upper edge ({parameters['high_pass']:g} Hz) is not below the "
                           f"recording's Nyquist frequency ({nyquist:g} Hz).",
                           hint=f"Pass -i/--high-pass below {nyquist:g}, e.g. -i 6000.")
    recording = spre.bandpass_filter(recording, freq_min=float(parameters["low_pass"]),
                                     freq_max=float(parameters["high_pass"]))
    log(f"bandpass {parameters['low_pass']:g}-{parameters['high_pass']:g} Hz")
    if parameters["phase_shift"]:
        shifts = sample_shifts(recording)
        if shifts is None:
            log("phase shift skipped: the recording's .meta gives no ADC sample shifts")
        else:
            recording.set_property("inter_sample_shift", shifts)
            recording = spre.phase_shift(recording)
            log(f"phase shift: ADC sample shifts of {len(shifts)} channels (up to {float(shifts.max()):.3f} sample)")
    reference = parameters["common_reference"]
    if reference != "none":
        operator = reference.removeprefix("global_")
        recording = spre.common_reference(recording, reference="global", operator=operator)
        log(f"common reference: global {operator}")
    if parameters["motion"] != "none":
        recording = _correct_motion(recording, parameters["motion"], log)
    return recording


def sample_shifts(recording: BaseRecording) -> np.ndarray | None:
    """Each channel's ADC sample shift, from the ``inter_sample_shift`` property or the SpikeGLX ``.meta``.

    The ``.meta`` the lake's recording keeps is read with probeinterface (which knows each
    Neuropixels part's ADC order); None when neither gives them.
    """
    if "inter_sample_shift" in recording.get_property_keys():
        return np.asarray(recording.get_property("inter_sample_shift"), dtype=np.float64)
    meta = _spikeglx_meta(recording)
    if not meta:
        return None
    import tempfile

    from probeinterface import read_spikeglx
    from spikeinterface.extractors.neuropixels_utils import get_neuropixels_sample_shifts_from_probe

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(folder) / "recording.ap.meta"
        path.write_text(_meta_text(meta))
        probe = read_spikeglx(path)
        shifts = get_neuropixels_sample_shifts_from_probe(probe)
    if shifts is None:
        return None
    by_column = dict(zip(np.asarray(probe.device_channel_indices).tolist(), np.asarray(shifts).tolist(), strict=True))
    columns = [int(channel) for channel in recording.channel_ids]
    return None if any(c not in by_column for c in columns) else np.asarray([by_column[c] for c in columns])


def _spikeglx_meta(recording: BaseRecording) -> dict[str, Any]:
    """The ``.meta`` of the lake recording under the preprocessing chain (empty when there is none)."""
    found: Any = recording
    while found is not None and not hasattr(found, "spikeglx_meta"):
        parents = found.get_parent() if hasattr(found, "get_parent") else None
        found = parents
    return dict(getattr(found, "spikeglx_meta", {}) or {})


def _meta_text(meta: Mapping[str, Any]) -> str:
    """``.meta`` text of the parsed fields (tables as ``~key=(entry)(entry)...``)."""
    lines = [f"~{key}=" + "".join(f"({entry})" for entry in value) if isinstance(value, list | tuple)
             else f"{key}={value}" for key, value in meta.items()]
    return "\n".join(lines) + "\n"


def _correct_motion(recording: BaseRecording, preset: str, log: Log) -> BaseRecording:
    """SpikeInterface's ``correct_motion`` with ``preset``, on each shank on its own."""
    import spikeinterface.preprocessing as spre
    from spikeinterface.core import aggregate_channels

    groups = recording.get_channel_groups()
    if len(np.unique(groups)) == 1:
        log(f"motion correction: {preset}")
        return spre.correct_motion(recording, preset=preset)
    shanks = recording.split_by("group")
    log(f"motion correction: {preset} on each of {len(shanks)} shanks")
    corrected = aggregate_channels([spre.correct_motion(part, preset=preset) for part in shanks.values()])
    return corrected.channel_slice(list(recording.channel_ids))


def sort(recording: BaseRecording, sorter: str, sorter_params: Mapping[str, Any], motion: str, scratch: Path,
         name: str, log: Log) -> tuple[BaseSorting, BaseRecording]:
    """Write ``recording`` to ``scratch/<name>`` (int16) and run ``sorter`` on it; (sorting, the copy sorted)."""
    from spikeinterface.sorters import get_default_sorter_params, run_sorter

    saved = recording.save(folder=scratch / name, format="binary", dtype="int16", overwrite=True)
    log(f"preprocessed recording written to {scratch / name} ({saved.get_num_channels()} channels, "
        f"{saved.get_total_duration():.1f} s)")
    defaults = get_default_sorter_params(sorter)
    params = {k: v for k, v in OWN_PREPROCESSING_OFF.get(sorter, {}).items() if k in defaults}
    if sorter == "kilosort4" and "do_correction" in defaults:
        params["do_correction"] = motion == "none"  # Kilosort 4 corrects drift itself unless the task did
    params.update(sorter_params)
    log(f"running {sorter} with {params}")
    sorting = run_sorter(sorter, saved, folder=scratch / f"{sorter}_output", remove_existing_folder=True,
                         verbose=False, raise_error=True, **params)
    log(f"{sorter} found {sorting.get_num_units()} units")
    return sorting, saved


def curate(sorting: BaseSorting, remove_cross_unit_duplicates: bool, log: Log) -> BaseSorting:
    """Spikes of a unit within 0.3 ms of its previous one removed; with ``remove_cross_unit_duplicates``,
    units whose spikes are mostly another unit's removed too (SpikeInterface's ``remove_redundant_units``)."""
    from spikeinterface.curation import remove_duplicated_spikes, remove_redundant_units

    sorting = remove_duplicated_spikes(sorting, censored_period_ms=0.3)
    if remove_cross_unit_duplicates:
        count = sorting.get_num_units()
        sorting = remove_redundant_units(sorting, align=False, duplicate_threshold=0.8, remove_strategy="max_spikes")
        log(f"{count - sorting.get_num_units()} redundant unit(s) removed")
    return sorting


def unit_features(sorting: BaseSorting, recording: BaseRecording, log: Log) -> SortingAnalyzer:
    """A sparse in-memory SortingAnalyzer of ``sorting`` with each spike's amplitude and position."""
    from spikeinterface.core import create_sorting_analyzer

    analyzer = create_sorting_analyzer(sorting, recording, format="memory", sparse=True)
    analyzer.compute(["random_spikes", "templates", "spike_amplitudes", "spike_locations"])
    log("spike amplitudes and positions computed")
    return analyzer
