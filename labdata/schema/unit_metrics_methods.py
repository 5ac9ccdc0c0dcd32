"""UnitMetrics: every unit of a sorting computed in one ``make`` (reference §1.11).

``UnitMetrics.key_source`` is ``SpikeSorting``, one key per sorting (DataJoint allows a key
source coarser than the primary key): ``make(key)`` fetches the sorting's spikes, waveforms
and channels once, computes the 30 columns of all its units with :mod:`labdata.metrics.unit_metrics`
(vectorised over units), and inserts one row per unit. ``populate`` runs each ``make`` in one
transaction, so a sorting has all its rows or none, and a sorting is "done" once it has rows.
``UnitMetrics.populate(restriction)`` restricts the sortings (``unit_id`` in a restriction is
ignored: the whole sorting is computed).

Inputs, all from the lake and project of the table the method is called on: spike times in the
probe clock (samples / ProbeSetting.sampling_rate; StreamSync is ignored on purpose, so metrics
do not change when a sync is added), spike amplitudes and positions (y = depth),
``EphysRecording.recording_duration``, the ``SpikeSorting.Waveforms`` rows, the sorting's
channel indices and coordinates and ``n_pre_samples``, the configuration's channel map and
shanks, and the unscaled MAD of ``SpikeSorting.Segment`` number 1.

Examples
--------
>>> UnitMetrics.populate(dict(subject_name="JC178"))                    # doctest: +SKIP
>>> rows = UnitMetrics().compute(sorting_key)  # the rows, not inserted   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from labdata.core.errors import QueryError

if TYPE_CHECKING:
    from labdata.metrics.unit_metrics import ProbeChannels, UnitWaveforms

__all__ = ["SiblingTables", "UnitMetricsMethods"]


class SiblingTables:
    """Reach another declared table by name, in the lake and project of this one (no import of its module)."""

    def _table(self, name: str) -> Any:
        return self._sibling_named(name)  # type: ignore[attr-defined]

    def _sorting_key(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """The SpikeSorting primary key within ``key``."""
        names = self._registry.schema("SpikeSorting").primary_key  # type: ignore[attr-defined]
        missing = [n for n in names if n not in key]
        if missing:
            raise QueryError(f"{dict(key)} does not name one sorting: {missing} missing.",
                             hint="Give the SpikeSorting key: subject, session, dataset, probe_num, parameter_set_num.")
        return {n: key[n] for n in names}


class UnitMetricsMethods(SiblingTables):
    """Mixed into UnitMetrics."""

    @property
    def key_source(self) -> Any:
        """One key per sorting: ``make`` inserts the rows of all its units."""
        return self._table("SpikeSorting").proj()

    def make(self, key: Mapping[str, Any]) -> None:
        """Compute and insert the metrics of every unit of the sorting ``key`` (``populate`` calls this)."""
        sorting = self._sorting_key(key)
        rows = [dict(sorting, **row) for row in self.compute(sorting)]
        if rows:
            self.insert(rows)  # type: ignore[attr-defined]

    def compute(self, key: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The metric rows (``unit_id`` and the 30 columns) of every unit of the sorting ``key``, not inserted."""
        from labdata.metrics.unit_metrics import SortingSpikes, unit_metrics  # scipy, on first use

        sorting = self._sorting_key(key)
        units = self._table("SpikeSorting.Unit") & sorting
        unit_ids, times, amplitudes, positions = units.fetch("unit_id", "spike_times", "spike_amplitudes",
                                                             "spike_positions")
        if not len(unit_ids):
            return []
        rate, duration = self._clock(sorting)
        spikes = SortingSpikes.from_units(list(times), rate, duration, amplitudes=list(amplitudes),
                                          positions=list(positions))
        waveforms, channels = self._waveforms(sorting, [int(u) for u in unit_ids])
        return unit_metrics(spikes, [int(u) for u in unit_ids], waveforms, channels)

    def _clock(self, sorting: dict[str, Any]) -> tuple[float, float]:
        """The probe's sampling rate and the recording duration."""
        rate = (self._table("EphysRecording.ProbeSetting") & sorting).fetch1("sampling_rate")
        duration = (self._table("EphysRecording") & sorting).fetch1("recording_duration")
        return float(rate), float(duration)

    def _waveforms(self, sorting: dict[str, Any], unit_ids: list[int]
                   ) -> tuple[UnitWaveforms | None, ProbeChannels | None]:
        """The stored median waveforms of the sorting's units, and its channels (None without waveforms)."""
        from labdata.metrics.unit_metrics import UnitWaveforms

        stored = (self._table("SpikeSorting.Waveforms") & sorting).fetch(
            "unit_id", "waveform_median", "waveform_channels", "waveform_ptp", "waveform_noise", as_dict=True)
        if not stored:
            return None, None
        n_pre, channel_indices, coords = (self._table("SpikeSorting") & sorting).fetch1(
            "n_pre_samples", "sorting_channel_indices", "sorting_channel_coords")
        position = {unit: i for i, unit in enumerate(unit_ids)}
        medians = [np.asarray(row["waveform_median"]) for row in stored]
        waveforms = UnitWaveforms(
            [position[int(row["unit_id"])] for row in stored], medians,
            [row["waveform_channels"] for row in stored], [row["waveform_ptp"] for row in stored],
            [np.nan if row["waveform_noise"] is None else float(row["waveform_noise"]) for row in stored],
            int(n_pre) if n_pre is not None else len(medians[0]) // 2)
        return waveforms, self._channels(sorting, channel_indices, coords)

    def _channels(self, sorting: dict[str, Any], channel_indices: Any, coords: Any) -> ProbeChannels:
        """The sorting's channels: positions, shanks (through the configuration's channel map) and noise."""
        from labdata.metrics.unit_metrics import ProbeChannels, sorting_channel_shanks

        setting = (self._table("EphysRecording.ProbeSetting") & sorting).proj("probe_id", "configuration_id")
        channel_idx, channel_shank, channel_coords = (self._table("ProbeConfiguration") & setting).fetch1(
            "channel_idx", "channel_shank", "channel_coords")
        if coords is None:
            coords = np.asarray(channel_coords)
            if channel_indices is not None:
                lookup = {int(c): i for i, c in enumerate(np.asarray(channel_idx).ravel())}
                coords = coords[[lookup[int(c)] for c in np.asarray(channel_indices).ravel()]]
        segments = (self._table("SpikeSorting.Segment") & sorting & {"segment_num": 1}).fetch("channel_mad")
        mad = segments[0] if len(segments) and segments[0] is not None else None
        return ProbeChannels(np.asarray(coords, dtype=np.float64),
                             sorting_channel_shanks(channel_indices, channel_idx, channel_shank), mad)
