"""The consistency checks of a Kilosort/phy folder: each refuses the folder, naming the file and the reason.

Examples
--------
>>> from pathlib import Path
>>> check_spike_times(np.array([5, 3], dtype=np.uint64), Path("ks/spike_times.npy"))
Traceback (most recent call last):
...
labdata.core.errors.SortingFormatError: spike_times.npy in ks: the times are not sorted (spike 1 at sample 3 \
comes after sample 5).
hint: Import the folder Kilosort or phy wrote; spike_times.npy is written in time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from labdata.converters.kilosort.files import folder_error

__all__ = ["RATE_TOLERANCE", "check_channels", "check_ids", "check_lengths", "check_probe_channels",
           "check_rate", "check_spike_times"]

RATE_TOLERANCE = 1e-3  # relative: calibrated rates (30000.12) match nominal ones (30000); 32 kHz vs 30 kHz does not
_RESORT = "Import the folder Kilosort or phy wrote, or sort it again."


def check_spike_times(times: np.ndarray, path: Path) -> None:
    """Refuse times that are not integers, are negative or are not in order."""
    if not np.issubdtype(times.dtype, np.integer):
        raise folder_error(path, f"holds {times.dtype} values, not sample numbers (integers).", _RESORT)
    if np.issubdtype(times.dtype, np.signedinteger) and len(times) and times.min() < 0:
        raise folder_error(path, f"holds negative sample numbers (first: {times[np.argmax(times < 0)]}).", _RESORT)
    backwards = np.flatnonzero(times[1:] < times[:-1])
    if len(backwards):
        spike = int(backwards[0]) + 1
        raise folder_error(path, f"the times are not sorted (spike {spike} at sample {times[spike]} comes after "
                           f"sample {times[spike - 1]}).",
                           "Import the folder Kilosort or phy wrote; spike_times.npy is written in time order.")


def check_lengths(n_spikes: int, arrays: Sequence[tuple[Path, int]]) -> None:
    """Refuse per-spike files whose lengths differ from spike_times.npy's ``n_spikes``."""
    for path, length in arrays:
        if length != n_spikes:
            raise folder_error(path, f"has {length} values but spike_times.npy has {n_spikes} spikes.",
                               "The files come from different sortings or one is incomplete: copy the whole "
                               "folder again from the sorter's output.")


def check_ids(ids: np.ndarray, path: Path, n_templates: int, what: str) -> None:
    """Refuse ids that are not integers, are negative or (``n_templates`` > 0) name no template."""
    if not np.issubdtype(ids.dtype, np.integer):
        raise folder_error(path, f"holds {ids.dtype} values, not {what} ids.", _RESORT)
    if not len(ids):
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0:
        raise folder_error(path, f"holds a negative {what} id ({low}).", _RESORT)
    if n_templates and high >= n_templates:
        absent = np.unique(ids[ids >= n_templates])
        raise folder_error(path, f"names {what}s {absent[:5].tolist()} absent from templates.npy, which has "
                           f"{n_templates} templates (0 to {n_templates - 1}).",
                           "templates.npy and the spike files come from different sortings; copy the whole "
                           "folder again (a phy-curated folder also needs spike_templates.npy).")


def check_channels(folder: Path, n_channels: int, shapes: dict[str, tuple[int, ...]]) -> None:
    """Refuse channel files that disagree with templates.npy's ``n_channels``.

    ``shapes`` maps a file name to the shape its channel axes must have (``None`` entries are
    skipped); e.g. ``{"whitening_mat_inv.npy": (C, C)}``.
    """
    expected = {"channel_map.npy": (n_channels,), "channel_positions.npy": (n_channels, 2),
                "whitening_mat_inv.npy": (n_channels, n_channels)}
    for name, shape in shapes.items():
        if shape != expected[name]:
            raise folder_error(folder / name, f"has shape {shape} but templates.npy has {n_channels} channels "
                               f"(expected {expected[name]}).",
                               "The files come from different sortings; copy the whole folder again.")


def check_probe_channels(channel_map: np.ndarray, probe_channels: np.ndarray | None, path: Path,
                         n_channels_dat: int | None) -> None:
    """Refuse a channel map naming channels the recording (``n_channels_dat``) or the probe configuration lacks."""
    if n_channels_dat is not None and len(channel_map) and int(channel_map.max()) >= n_channels_dat:
        raise folder_error(path, f"names channel {int(channel_map.max())} but params.py says the sorted file has "
                           f"{n_channels_dat} channels.", "The files come from different sortings.")
    if probe_channels is None:
        return
    absent = np.setdiff1d(channel_map, probe_channels)
    if len(channel_map) > len(probe_channels) or len(absent):
        raise folder_error(path, f"has {len(channel_map)} channels, and names {len(absent)} the probe configuration "
                           f"lacks (it has {len(probe_channels)} channels), e.g. {absent[:5].tolist()}.",
                           "Import the sorting for the probe it was made from (check probe_num and the "
                           "ProbeConfiguration of that EphysRecording.ProbeSetting).")


def check_rate(from_params: float | None, given: float | None, folder: Path) -> float:
    """The sampling rate: params.py's, else the caller's; refused when neither or when they disagree."""
    if from_params is None and given is None:
        raise folder_error(folder / "params.py", "gives no sample_rate and none was given.",
                           "Pass the sampling rate of the sorted recording (e.g. sampling_rate=30000).")
    if from_params is not None and given is not None and abs(from_params - given) > RATE_TOLERANCE * given:
        raise folder_error(folder / "params.py", f"says sample_rate = {from_params} Hz but the rate given (the "
                           f"recording's) is {given} Hz.",
                           "Import the sorting for the recording (and probe) it was made from.")
    rate = float(from_params if from_params is not None else given)  # type: ignore[arg-type]
    if not rate > 0:
        raise folder_error(folder / "params.py", f"the sampling rate {rate} is not positive.",
                           "Give the sampling rate in Hz, e.g. 30000.")
    return rate
