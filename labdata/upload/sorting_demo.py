"""The demo's sorting part: the simulated units of the demo recording become a sorting in the lake.

The synthetic recording knows its ground truth (each simulated unit's spikes); those trains go in
as a SpikeInterface sorting (``SpikeSorting.add_from_spikeinterface``), their median waveforms
are cut from the compressed recording in the lake (``extract_waveforms``), then UnitMetrics and
UnitCount are populated, and the units that pass the criteria are read with their spike trains
and metrics in one call (``get_spike_times(include_metrics=True)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DEMO_CRITERIA", "run_sorting_demo"]

#: what the demo counts as a single unit (a UnitCountCriteria string, pandas syntax as in the seeds)
DEMO_CRITERIA = "firing_rate > 8 & spike_amplitude > 100 & n_electrodes_spanned < 20"


def run_sorting_demo(dataset: dict[str, str], spike_trains: dict[int, np.ndarray]) -> pd.DataFrame:
    """Import the ground truth of ``dataset``'s probe 0 as a sorting, make its metrics and counts, and
    return the units passing :data:`DEMO_CRITERIA` (unit, spikes, firing rate, amplitude, depth)."""
    from spikeinterface.core import NumpySorting

    from labdata.schema.ephys import EphysRecording, SpikeSorting, UnitCount, UnitCountCriteria, UnitMetrics

    key = dict(dataset, probe_num=0)
    rate = float((EphysRecording.ProbeSetting & key).fetch1("sampling_rate"))
    trains = {unit: train.astype(np.int64) for unit, train in spike_trains.items() if len(train)}
    sorting = NumpySorting.from_unit_dict([trains], sampling_frequency=rate)
    sorting_key = SpikeSorting.add_from_spikeinterface(
        sorting, key, algorithm_name="si_ground_truth", parameters={"simulation": "labdata synthetic", "seed": 0})
    (SpikeSorting & sorting_key).extract_waveforms(max_spikes=200)
    UnitMetrics.populate(sorting_key)
    criteria = _criteria(UnitCountCriteria)
    UnitCount.populate(sorting_key, {"unit_criteria_id": criteria})
    passing = SpikeSorting.Unit & (UnitCount.Unit & sorting_key & {"unit_criteria_id": criteria, "passes": 1})
    units = passing.get_spike_times(include_metrics=True)
    return pd.DataFrame([_row(unit) for unit in units])


def _criteria(criteria: Any) -> int:
    found = (criteria & {"sua_criteria": DEMO_CRITERIA}).fetch("unit_criteria_id")
    if len(found):
        return int(found[0])
    number = int(criteria.next_id())
    criteria.insert1(dict(unit_criteria_id=number, sua_criteria=DEMO_CRITERIA))
    return number


def _row(unit: dict[str, Any]) -> dict[str, Any]:
    times = unit["spike_times"]
    return {"unit_id": unit["unit_id"], "spikes": len(times), "first spike (s)": round(float(times[0]), 4),
            "firing_rate": round(unit["firing_rate"], 2), "spike_amplitude (uV)": round(unit["spike_amplitude"], 1),
            "depth (um)": None if unit["depth"] is None else round(float(unit["depth"]), 1)}
