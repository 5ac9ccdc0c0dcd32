"""Merging units of a sorting and reverting the merge; units with their waveforms (dense or not)."""

from __future__ import annotations

import numpy as np
import pytest
from test_spike_arrays import fill_parents, lake_context, unit_rows  # noqa: F401 - the fixture is used

from labdata.core.errors import LabdataError
from labdata.schema import SpikeSorting


def _waveforms(sorting: dict, rows: list[dict]) -> list[dict]:
    rng = np.random.default_rng(2)
    return [sorting | dict(unit_id=r["unit_id"], waveform_median=rng.normal(0, 10, (90, 4)).astype(np.float32),
                           waveform_channels=np.array([3, 4, 5, 6], np.int16),
                           waveform_ptp=rng.uniform(5, 50, 384).astype(np.float32), waveform_noise=2.0)
            for r in rows]


@pytest.fixture
def sorted_units(lake_context):  # noqa: F811 - the fixture of test_spike_arrays
    sortings = fill_parents(probes=1)
    rows = [r for r in unit_rows(sortings[:1]) if r["unit_id"] != 3]
    SpikeSorting.Unit.insert(rows)
    SpikeSorting.Waveforms.insert(_waveforms(sortings[0], rows))
    return sortings[0], {r["unit_id"]: r for r in rows}


def test_merge_joins_units_in_time_order_and_revert_restores_them(sorted_units) -> None:
    sorting, rows = sorted_units
    stored = {w["unit_id"]: w["waveform_median"] for w in (SpikeSorting.Waveforms & sorting).fetch(as_dict=True)}
    merged_key = (SpikeSorting.Unit & sorting & "unit_id IN (2, 5)").merge()
    assert merged_key["unit_id"] == 2
    assert sorted((SpikeSorting.Unit & sorting).fetch("unit_id").tolist()) == [0, 1, 2, 4, 6]
    unit = (SpikeSorting.Unit & merged_key).fetch1()
    expected = np.sort(np.concatenate([rows[2]["spike_times"], rows[5]["spike_times"]]), kind="stable")
    assert np.array_equal(unit["spike_times"], expected)
    order = np.argsort(np.concatenate([rows[2]["spike_times"], rows[5]["spike_times"]]), kind="stable")
    amps = np.concatenate([rows[2]["spike_amplitudes"], rows[5]["spike_amplitudes"]])[order]
    assert np.array_equal(unit["spike_amplitudes"], amps)
    waveform = (SpikeSorting.Waveforms & merged_key).fetch1("waveform_median")
    n2, n5 = rows[2]["spike_times"].size, rows[5]["spike_times"].size
    assert np.allclose(waveform, (n2 * stored[2] + n5 * stored[5]) / (n2 + n5), atol=1e-4)
    assert len(SpikeSorting.MergedUnit & sorting) == 2
    restored = (SpikeSorting.MergedUnit & sorting).revert()
    assert sorted(r["unit_id"] for r in restored) == [2, 5]
    back = {u["unit_id"]: u for u in (SpikeSorting.Unit & sorting).fetch(as_dict=True)}
    assert sorted(back) == [0, 1, 2, 4, 5, 6] and len(SpikeSorting.MergedUnit()) == 0
    for unit_id in (2, 5):
        assert np.array_equal(back[unit_id]["spike_times"], rows[unit_id]["spike_times"])
        assert np.array_equal(back[unit_id]["spike_positions"], rows[unit_id]["spike_positions"])


def test_merge_refuses_a_single_unit_or_two_sortings(sorted_units, lake_context) -> None:  # noqa: F811
    sorting, _ = sorted_units
    with pytest.raises(LabdataError, match="two or more"):
        (SpikeSorting.Unit & sorting & "unit_id = 2").merge()
    with pytest.raises(LabdataError, match="two or more"):
        (SpikeSorting.Unit & sorting & "unit_id IN (1, 2)").merge(target_unit_id=4)
    assert len(SpikeSorting.Unit & sorting) == 6 and len(SpikeSorting.MergedUnit()) == 0


def test_units_with_waveforms_dense_and_sparse(sorted_units) -> None:
    sorting, rows = sorted_units
    dense = (SpikeSorting.Unit & sorting).get_units_with_waveforms()
    assert len(dense) == 6 and dense[0]["waveform_median"].shape == (90, 384)
    assert not dense[0]["waveform_median"][:, :3].any() and dense[0]["waveform_median"][:, 3:7].any()
    noisy = (SpikeSorting.Unit & sorting).get_units_with_waveforms(fill="ptp")
    again = (SpikeSorting.Unit & sorting).get_units_with_waveforms(fill="ptp")
    assert noisy[0]["waveform_median"][:, 0].any()
    assert np.array_equal(noisy[0]["waveform_median"], again[0]["waveform_median"]), "seeded by the unit's key"
    sparse = (SpikeSorting.Unit & sorting).get_units_with_waveforms(dense=False)
    assert sparse[0]["waveform_median"].shape == (90, 4)
    assert np.array_equal(sparse[0]["spike_times"], rows[0]["spike_times"] / 30000.0)
