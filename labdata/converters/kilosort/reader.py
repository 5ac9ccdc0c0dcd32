"""Read a Kilosort (or phy-curated) output folder into a :class:`KilosortSorting`.

The folder needs ``spike_times.npy``, ``spike_clusters.npy`` or ``spike_templates.npy`` (phy
writes the first when it curates; Kilosort writes both the same), ``amplitudes.npy``,
``templates.npy``, ``whitening_mat_inv.npy`` (or ``whitening_mat.npy``, inverted),
``channel_map.npy`` and ``channel_positions.npy``. ``params.py`` gives the sampling rate (or the
caller does), ``pc_features.npy`` with ``pc_feature_ind.npy`` the spike positions (else the
template centres: :mod:`~labdata.converters.kilosort.positions`), ``cluster_group.tsv`` and
``cluster_KSLabel.tsv`` the labels. Large per-spike files are memory-mapped; everything is
computed with whole-array numpy operations.

Examples
--------
>>> sorting = read_kilosort("kilosort/neuroconv-gin-phy_example_0", gain=0.195)   # doctest: +SKIP
>>> sorting.n_units, sorting.n_spikes, sorting.sampling_rate                       # doctest: +SKIP
(13, 788, 32000.0)
>>> for unit in sorting.units(): print(unit.unit_id, len(unit.spike_times))          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labdata.converters.kilosort.checks import (
    check_channels,
    check_ids,
    check_lengths,
    check_probe_channels,
    check_rate,
    check_spike_times,
)
from labdata.converters.kilosort.files import folder_error, load_array, load_vector, read_labels, read_params
from labdata.converters.kilosort.positions import pc_feature_positions, template_centres
from labdata.converters.kilosort.waveforms import (
    UnitWaveform,
    group_medians,
    template_weights,
    unit_waveforms,
    unwhitened_templates,
)

__all__ = ["KilosortSorting", "UnitSpikes", "read_kilosort"]

_SPIKE_AT_FROM_END = 41  # Kilosort puts the spike time 41 samples before a template's end (82: 41, 61: 20)


@dataclass(frozen=True, eq=False)
class UnitSpikes:
    """The spikes of one unit, in time order."""

    unit_id: int
    spike_times: np.ndarray
    amplitudes: np.ndarray
    positions: np.ndarray


@dataclass(frozen=True, eq=False)
class KilosortSorting:
    """A Kilosort/phy sorting as read from its folder.

    Attributes
    ----------
    folder : Path
    sampling_rate : float
        Hz (params.py ``sample_rate``, else the caller's).
    channel_map : ndarray
        int64 (C): the sorted channels, numbered as in the sorted data file.
    channel_positions : ndarray
        float64 (C x 2), µm.
    n_pre_samples : int
        Samples of a waveform before the spike time.
    unit_ids : ndarray
        int64 (U): the cluster ids that have spikes, ascending.
    spike_times : ndarray
        uint64 (N): samples, in time order.
    spike_clusters, spike_templates : ndarray
        int64 (N): the cluster and the template of each spike.
    amplitudes : ndarray
        float32 (N): template amplitudes.
    spike_positions : ndarray
        float32 (N x 2), µm.
    position_source : str
        ``"pc_features"`` or ``"templates"`` (see :mod:`~labdata.converters.kilosort.positions`).
    waveforms : list of UnitWaveform
        One per unit, in ``unit_ids`` order.
    waveform_units : str
        ``"uV"`` when a gain was given, else ``"file units"``.
    group_labels, kilosort_labels : dict
        cluster id -> label of ``cluster_group.tsv`` (phy's curation; Kilosort 2.5 writes it with a
        ``KSLabel`` header) and ``cluster_KSLabel.tsv``, as in the files ({} without the file).
    params : dict
        The assignments of params.py.
    spike_order, unit_offsets : ndarray
        Spikes grouped by unit: unit ``i``'s spikes are ``spike_order[unit_offsets[i]:unit_offsets[i+1]]``.
    """

    folder: Path
    sampling_rate: float
    channel_map: np.ndarray
    channel_positions: np.ndarray
    n_pre_samples: int
    unit_ids: np.ndarray
    spike_times: np.ndarray
    spike_clusters: np.ndarray
    spike_templates: np.ndarray
    amplitudes: np.ndarray
    spike_positions: np.ndarray
    position_source: str
    waveforms: list[UnitWaveform]
    waveform_units: str
    group_labels: dict[int, str]
    kilosort_labels: dict[int, str]
    params: dict[str, Any]
    spike_order: np.ndarray
    unit_offsets: np.ndarray

    @property
    def n_channels(self) -> int:
        """Number of sorted channels."""
        return len(self.channel_map)

    @property
    def n_spikes(self) -> int:
        """Number of spikes."""
        return len(self.spike_times)

    @property
    def n_units(self) -> int:
        """Number of units with spikes."""
        return len(self.unit_ids)

    def units(self) -> Iterator[UnitSpikes]:
        """Each unit's spikes (times, amplitudes, positions), in time order, in ``unit_ids`` order."""
        times, amplitudes, positions = (values[self.spike_order] for values in
                                        (self.spike_times, self.amplitudes, self.spike_positions))
        for index, unit_id in enumerate(self.unit_ids):
            spikes = slice(self.unit_offsets[index], self.unit_offsets[index + 1])
            yield UnitSpikes(int(unit_id), times[spikes], amplitudes[spikes], positions[spikes])


@dataclass(frozen=True, eq=False)
class _Spikes:
    times: np.ndarray
    clusters: np.ndarray
    templates: np.ndarray
    amplitudes: np.ndarray


@dataclass(frozen=True, eq=False)
class _Templates:
    unwhitened: np.ndarray
    channel_map: np.ndarray
    channel_positions: np.ndarray


def read_kilosort(folder: str | Path, *, sampling_rate: float | None = None, gain: float | None = None,
                  probe_channels: np.ndarray | None = None) -> KilosortSorting:
    """Read and check a Kilosort/phy folder.

    Parameters
    ----------
    folder : path
        The sorter's output folder.
    sampling_rate : float, optional
        Hz; needed when the folder has no params.py, refused when it disagrees with params.py.
    gain : float, optional
        µV per unit of the sorted data file: the waveforms are in µV with it, in file units without.
    probe_channels : array, optional
        The channels of the probe configuration (``ProbeConfiguration.channel_idx``): a channel map
        naming others, or more channels than it has, is refused.

    Raises
    ------
    SortingFormatError
        A file is missing, truncated or corrupt, or the files disagree (see :mod:`.checks`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise folder_error(folder, "is not a folder.", "Give the folder Kilosort or phy wrote.")
    params = read_params(folder)
    rate = check_rate(_number(params, "sample_rate", folder), sampling_rate, folder)
    labels = [read_labels(folder / name) or {} for name in ("cluster_group.tsv", "cluster_KSLabel.tsv")]
    spikes = _read_spikes(folder)
    templates = _read_templates(folder, spikes)
    n_channels_dat = _number(params, "n_channels_dat", folder)
    check_probe_channels(templates.channel_map, probe_channels, folder / "channel_map.npy",
                         None if n_channels_dat is None else int(n_channels_dat))
    return _assemble(folder, rate, params, spikes, templates, gain, labels)


def _number(params: dict[str, Any], name: str, folder: Path) -> float | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise folder_error(folder / "params.py", f"{name} = {value!r} is not a number.", "Fix params.py.")
    return float(value)


def _read_spikes(folder: Path) -> _Spikes:
    times = load_vector(folder / "spike_times.npy", mmap=True)
    check_spike_times(times, folder / "spike_times.npy")
    clusters_path, templates_path = folder / "spike_clusters.npy", folder / "spike_templates.npy"
    found = [load_vector(path, mmap=True) if path.is_file() else None for path in (clusters_path, templates_path)]
    clusters = found[0] if found[0] is not None else found[1]
    templates = found[1] if found[1] is not None else found[0]
    if clusters is None or templates is None:
        raise folder_error(clusters_path, "the file is missing, and so is spike_templates.npy.",
                           "Copy spike_clusters.npy (or spike_templates.npy) from the sorter's output folder.")
    amplitudes = load_vector(folder / "amplitudes.npy", mmap=True)
    check_lengths(len(times), [(clusters_path, len(clusters)), (templates_path, len(templates)),
                               (folder / "amplitudes.npy", len(amplitudes))])
    check_ids(clusters, clusters_path if found[0] is not None else templates_path, 0, "cluster")
    if not np.all(np.isfinite(amplitudes)):
        raise folder_error(folder / "amplitudes.npy", "holds values that are not finite (NaN or infinite).",
                           "Copy amplitudes.npy again from the sorter's output folder.")
    return _Spikes(np.asarray(times, dtype=np.uint64), np.asarray(clusters, dtype=np.int64),
                   np.asarray(templates, dtype=np.int64), np.asarray(amplitudes, dtype=np.float32))


def _read_templates(folder: Path, spikes: _Spikes) -> _Templates:
    templates = load_array(folder / "templates.npy")
    if templates.ndim != 3:
        raise folder_error(folder / "templates.npy", f"has shape {templates.shape}, not templates x samples x "
                           "channels.", "Copy templates.npy again from the sorter's output folder.")
    n_templates, _, n_channels = templates.shape
    if (folder / "spike_templates.npy").is_file():
        check_ids(spikes.templates, folder / "spike_templates.npy", n_templates, "template")
    else:  # no curation: the clusters are Kilosort's templates
        check_ids(spikes.clusters, folder / "spike_clusters.npy", n_templates, "cluster")
    whitening_inv = _whitening_inverse(folder)
    channel_map = load_vector(folder / "channel_map.npy")
    positions = load_array(folder / "channel_positions.npy")
    check_channels(folder, n_channels, {"channel_map.npy": channel_map.shape,
                                        "channel_positions.npy": positions.shape,
                                        "whitening_mat_inv.npy": whitening_inv.shape})
    return _Templates(unwhitened_templates(templates, whitening_inv), np.asarray(channel_map, dtype=np.int64),
                      np.asarray(positions, dtype=np.float64))


def _whitening_inverse(folder: Path) -> np.ndarray:
    """``whitening_mat_inv.npy``, else the inverse of ``whitening_mat.npy``."""
    inverse, forward = folder / "whitening_mat_inv.npy", folder / "whitening_mat.npy"
    if inverse.is_file() or not forward.is_file():
        return np.asarray(load_array(inverse), dtype=np.float64)
    matrix = np.asarray(load_array(forward), dtype=np.float64)
    try:
        return np.linalg.inv(matrix)
    except (np.linalg.LinAlgError, ValueError) as error:
        raise folder_error(forward, f"cannot be inverted ({error}).",
                           "Copy whitening_mat_inv.npy from the sorter's output folder.") from None


def _pc_positions(folder: Path, spikes: _Spikes, templates: _Templates, centres: np.ndarray) -> np.ndarray | None:
    """Spike positions from pc_features.npy (None when the folder has none)."""
    features_path, index_path = folder / "pc_features.npy", folder / "pc_feature_ind.npy"
    if not features_path.is_file():
        return None
    features = load_array(features_path, mmap=True)
    feature_ind = load_array(index_path)
    if features.ndim != 3 or len(features) != len(spikes.times):
        raise folder_error(features_path, f"has shape {features.shape}, not {len(spikes.times)} spikes x PCs x "
                           "channels.", "Copy pc_features.npy again, or delete it (positions then come from the "
                           "templates).")
    n_channels = len(templates.channel_map)
    if (feature_ind.shape != (len(centres), features.shape[2]) or not np.issubdtype(feature_ind.dtype, np.integer)
            or (feature_ind.size and (feature_ind.min() < 0 or feature_ind.max() >= n_channels))):
        raise folder_error(index_path, f"has shape {feature_ind.shape} (expected {(len(centres), features.shape[2])}) "
                           f"or names channels outside 0 to {n_channels - 1}.",
                           "Copy pc_feature_ind.npy again from the sorter's output folder.")
    return pc_feature_positions(features, np.asarray(feature_ind, dtype=np.int64), spikes.templates,
                                templates.channel_positions, centres)


def _group_by_unit(clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(spike order grouping units, unit ids, each unit's first position in that order and the end, unit of each
    spike as an index into the ids), from one stable sort: spikes keep their time order within a unit."""
    order = np.argsort(clusters, kind="stable")
    ordered = clusters[order]
    boundary = np.ones(len(ordered), dtype=bool)
    boundary[1:] = ordered[1:] != ordered[:-1]
    starts = np.flatnonzero(boundary)
    offsets = np.concatenate([starts, [len(ordered)]])
    unit_index = np.empty(len(clusters), dtype=np.int64)
    unit_index[order] = np.repeat(np.arange(len(starts)), np.diff(offsets))
    return order, ordered[starts], offsets, unit_index


def _assemble(folder: Path, rate: float, params: dict[str, Any], spikes: _Spikes, templates: _Templates,
              gain: float | None, labels: list[dict[int, str]]) -> KilosortSorting:
    order, unit_ids, offsets, unit_index = _group_by_unit(spikes.clusters)
    n_templates = len(templates.unwhitened)
    centres = template_centres(np.ptp(templates.unwhitened, axis=1), templates.channel_positions)
    positions = _pc_positions(folder, spikes, templates, centres)
    weights = template_weights(unit_index, spikes.templates, len(unit_ids), n_templates)
    waveforms = unit_waveforms(templates.unwhitened, weights,
                               group_medians(spikes.amplitudes[order], offsets),
                               templates.channel_positions, 1.0 if gain is None else float(gain))
    return KilosortSorting(
        folder=folder, sampling_rate=rate, channel_map=templates.channel_map,
        channel_positions=templates.channel_positions,
        n_pre_samples=max(templates.unwhitened.shape[1] - _SPIKE_AT_FROM_END, 0), unit_ids=unit_ids.astype(np.int64),
        spike_times=spikes.times, spike_clusters=spikes.clusters, spike_templates=spikes.templates,
        amplitudes=spikes.amplitudes,
        spike_positions=centres[spikes.templates].astype(np.float32) if positions is None else positions,
        position_source="templates" if positions is None else "pc_features", waveforms=waveforms,
        waveform_units="file units" if gain is None else "uV",
        group_labels=labels[0], kilosort_labels=labels[1], params=params, spike_order=order, unit_offsets=offsets)
