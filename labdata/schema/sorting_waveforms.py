"""``SpikeSorting.extract_waveforms``: the Waveforms of a sorting's units from the raw recording in the lake.

The recording of the sorted probe is read through ``EphysRecording.ProbeSetting.open`` (a local
copy, or ranges of the compressed file in its storage) on the channels of the probe
configuration, block by block (:func:`labdata.converters.raw_waveforms.median_waveforms`); the
sorting's Waveforms rows are replaced in one transaction.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labdata.converters.raw_waveforms import median_waveforms
from labdata.core.errors import QueryError

__all__ = ["SortingWaveforms"]

_DEFAULT_PRE, _SNIPPET = 30, 90



class SortingWaveforms:
    """Mixed into ``SpikeSorting``."""

    def extract_waveforms(self, max_spikes: int = 1000, seed: int = 0) -> int:
        """Compute the median waveform of every unit of the selected sortings from their raw recordings.

        Parameters
        ----------
        max_spikes : int
            Spikes per unit (half from each half of the recording).
        seed : int
            Seed of the choice of spikes.

        Returns
        -------
        int
            The number of Waveforms rows written.
        """
        table: Any = self
        written = 0
        for sorting in table.fetch(as_dict=True):
            written += _extract(table, sorting, max_spikes, seed)
        return written


def _extract(table: Any, sorting: dict[str, Any], max_spikes: int, seed: int) -> int:
    key = {k: sorting[k] for k in table.primary_key}
    setting = table._sibling_named("EphysRecording.ProbeSetting") & key
    configuration = (table._sibling_named("ProbeConfiguration") & setting.proj("probe_id", "configuration_id")).fetch1()
    units = (table._sibling_named("SpikeSorting.Unit") & key).get_spike_times(return_seconds=False)
    if not units:
        raise QueryError(f"The sorting {key} has no units.", hint="Insert its SpikeSorting.Unit rows first.")
    reader = setting.open()
    channels = np.asarray(configuration["channel_idx"], dtype=int)
    n_pre = int(sorting.get("n_pre_samples") or _DEFAULT_PRE)
    waveforms = median_waveforms(lambda a, b: reader.get_samples(a, b, channels=channels), len(reader),
                                 [u["spike_times"] for u in units], channel_positions=configuration["channel_coords"],
                                 gain=float(configuration["probe_gain"]), n_pre=n_pre,
                                 n_post=max(_SNIPPET - n_pre, 1), max_spikes=max_spikes, seed=seed)
    rows = [dict(key, unit_id=u["unit_id"], waveform_median=w.median, waveform_channels=w.channels,
                 waveform_ptp=w.ptp, waveform_noise=None if w.noise is None or np.isnan(w.noise) else w.noise)
            for u, w in zip(units, waveforms, strict=True)]
    return int(table._sibling_named("SpikeSorting.Waveforms").insert(rows, replace=True))
