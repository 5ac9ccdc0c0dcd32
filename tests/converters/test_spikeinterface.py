"""The SpikeInterface views of labdata's arrays: probes of real SpikeGLX channel maps, recordings over arrays.

The probe that :func:`probe_from_channel_map` builds from the channel map labdata parses from
a real ``.ap.meta`` (what ProbeConfiguration stores) must be the one probeinterface's own
SpikeGLX reader builds from that meta: the same contact positions, ids and shapes, for
NP1.0, NP2.0 one- and four-shank, Quad-Base, UHD and NHP probes.
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from probeinterface import read_spikeglx

from labdata.converters.spikeglx.meta import read_meta
from labdata.converters.spikeinterface import (
    DEFAULT_CONTACT_WIDTH,
    ArrayRecording,
    probe_from_channel_map,
    sorting_from_units,
)
from labdata.core.errors import DataError
from shared_data import SHARED_DATA

SPIKEGLX = SHARED_DATA / "spikeglx"
METAS = [  # (meta, the part of the probe: imDatPrb_pn, else the default of imDatPrb_type)
    ("neuroconv-gin/Noise4Sam_g0/Noise4Sam_g0_imec0/Noise4Sam_g0_t0.imec0.ap.meta", "PRB_1_4_0480_1"),
    ("ibl-neuropixel/sample3A_g0_t0.imec.ap.meta", "NP1000"),  # Phase 3A: no part number
    ("probeinterface/p2_g0_t0.imec0.ap.meta", "PRB2_1_2_0640_0"),
    ("neuroconv-gin/TEST_20210920_0_g0/TEST_20210920_0_g0_t0.imec0.ap.meta", "NP2010"),
    ("probeinterface/NP2_2013_subset_channels.imec0.ap.meta", "NP2013"),
    ("probeinterface/NP2020_sample_g0_t0.imec0.ap.meta", "NP2020"),
    ("probeinterface/NP1110_vstripe_g0_t0.imec0.ap.meta", "NP1110"),
    ("neuroconv-gin/np_ultra_stub/p5_g0/p5_g0_imec0/p5_g0_t0.imec0.ap.meta", "NP1100"),  # imDatPrb_type 0
    ("neuroconv-gin/long_nhp_stubbed/snippet_g0/snippet_g0_imec0/snippet_g0_t0.imec0.ap.meta", "NP1032"),
]


@pytest.mark.parametrize(("relative", "model"), METAS, ids=[m[1] + "-" + m[0].split("/")[-1] for m in METAS])
def test_the_probe_of_a_channel_map_is_probeinterfaces_probe_of_the_meta(relative: str, model: str) -> None:
    meta = read_meta(SPIKEGLX / relative)
    channels = meta.channels
    ours = probe_from_channel_map(channels.coords, channels.shank, meta.probe_type, meta.probe_part_number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = read_spikeglx(SPIKEGLX / relative)
    where = {tuple(np.round(p, 3)): i for i, p in enumerate(reference.contact_positions)}
    index = [where[tuple(np.round(p, 3))] for p in channels.coords]  # every channel is one of its contacts
    assert ours.model_name == model and ours.get_contact_count() == len(channels)
    assert np.array_equal(ours.contact_positions, reference.contact_positions[index])
    assert list(ours.contact_ids) == list(reference.contact_ids[index])
    widths = [p["width"] for p in reference.contact_shape_params[index]]
    assert [p["width"] for p in ours.contact_shape_params] == widths
    assert list(ours.contact_shapes) == list(reference.contact_shapes[index])
    assert np.array_equal(ours.device_channel_indices, np.arange(len(channels)))


def test_an_unknown_probe_gets_square_contacts_at_its_positions() -> None:
    coords = np.array([[0.0, 0.0], [20.0, 0.0], [5.0, 300.0]])
    probe = probe_from_channel_map(coords, np.array([0, 0, 1]), probe_type="9999", contact_ids=["a", "b", "c"])
    assert np.array_equal(probe.contact_positions, coords) and list(probe.contact_ids) == ["a", "b", "c"]
    assert {p["width"] for p in probe.contact_shape_params} == {DEFAULT_CONTACT_WIDTH}
    assert list(probe.shank_ids) == ["0", "0", "1"] and probe.probe_planar_contour is not None


def test_a_neuropixels_type_whose_sites_are_elsewhere_falls_back_to_squares() -> None:
    probe = probe_from_channel_map(np.array([[16.0, 0.0], [5.0, 7.0]]), probe_type="0")
    assert probe.model_name in (None, "") and list(probe.contact_ids) == ["0", "1"]


def test_an_array_recording_reads_its_channel_columns_and_pickles() -> None:
    data = np.arange(600 * 5, dtype=np.int16).reshape(600, 5)
    recording = ArrayRecording(data, 1000.0, channel_ids=["a", "b", "c"], channel_columns=[4, 0, 2],
                               gain_to_uV=[0.5, 1.0, 2.0])
    assert np.array_equal(recording.get_traces(start_frame=10, end_frame=20), data[10:20][:, [4, 0, 2]])
    assert np.array_equal(recording.get_traces(start_frame=0, end_frame=3, channel_ids=["c"]), data[:3, [2]])
    assert np.allclose(recording.get_traces(start_frame=0, end_frame=3, return_in_uV=True),
                       data[:3][:, [4, 0, 2]] * [0.5, 1.0, 2.0])
    copy = pickle.loads(pickle.dumps(recording))
    assert np.array_equal(copy.get_traces(), recording.get_traces()) and list(copy.channel_ids) == ["a", "b", "c"]
    assert not recording.check_serializability("json") and recording.check_serializability("pickle")


def test_channel_columns_outside_the_array_are_refused() -> None:
    with pytest.raises(DataError, match="outside") as error:
        ArrayRecording(np.zeros((10, 2), np.int16), 100.0, channel_columns=[0, 2])
    assert error.value.hint


def test_sorting_from_units_keeps_ids_trains_and_properties() -> None:
    sorting = sorting_from_units([7, 2], [np.array([5, 9], np.uint64), np.array([1])], 30000.0,
                                 {"amplitude": np.array([10.0, np.nan])})
    assert list(sorting.unit_ids) == [7, 2] and sorting.get_unit_spike_train(7).tolist() == [5, 9]
    assert sorting.get_property("amplitude")[0] == 10.0
