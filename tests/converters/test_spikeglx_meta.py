"""SpikeGLX ``.meta`` parsing and channel maps, on every real meta of the shared data.

The geometry is validated against probeinterface (installed for tests only): for every meta
probeinterface can read, our sites (every saved probe channel) equal its contacts, and our
connected channels are those sites minus the on-shank reference channels SpikeGLX marks unused
(probeinterface keeps them).
"""

from __future__ import annotations

import doctest
import importlib
import json
import random
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from labdata.converters.spikeglx.catalogue import PROBE_PARTS, default_part_for_imro_type
from labdata.converters.spikeglx.meta import (
    ChannelMap,
    SpikeGLXMeta,
    parse_file_name,
    parse_meta,
    read_meta,
)
from labdata.core.errors import RecordingFormatError
from shared_data import SHARED_DATA

SPIKEGLX = SHARED_DATA / "spikeglx"
META_FILES = sorted(SPIKEGLX.rglob("*.meta"))
META_IDS = [str(path.relative_to(SPIKEGLX)) for path in META_FILES]
NEUROCONV = SPIKEGLX / "neuroconv-gin"
NOISE4SAM_AP = NEUROCONV / "Noise4Sam_g0/Noise4Sam_g0_imec0/Noise4Sam_g0_t0.imec0.ap.meta"
NOISE4SAM_NIDQ = NEUROCONV / "Noise4Sam_g0/Noise4Sam_g0_t0.nidq.meta"
DIGITAL_NIDQ = NEUROCONV / "DigitalChannelTest_g0/DigitalChannelTest_g0_t0.nidq.meta"
WHILE_ACQUIRING = (SPIKEGLX / "ibl-neuropixel"
                   / "sampleNP2.4_4shanks_while_acquiring_incomplete.ap.meta")
CATGT_FOLDER = NEUROCONV / "multi_trigger_multi_gate/CatGT/CatGT-A/catgt_5-19-2022-CI0_g0"
CATGT_AP = CATGT_FOLDER / "5-19-2022-CI0_g0_imec1/5-19-2022-CI0_g0_tcat.imec1.ap.meta"
NPX_NO_INFO = NEUROCONV / "multi_probe_multi_dock_multi_shank_filename_without_info"

pytestmark = pytest.mark.skipif(not META_FILES, reason=f"no SpikeGLX metas under {SPIKEGLX}")


@cache
def text_of(path: Path) -> str:
    return path.read_bytes().decode()


def uv(range_max: float, max_int: int, gain: float) -> float:
    return 1e6 * range_max / max_int / gain


# ---------------------------------------------------------------- every meta


@pytest.mark.parametrize("path", META_FILES, ids=META_IDS)
def test_every_meta_parses_with_consistent_fields(path: Path) -> None:
    meta = read_meta(path)
    assert meta.stream in ("imec", "nidq", "obx")
    assert meta.file_name.stream in (None, meta.stream)
    assert meta.sampling_rate > 0
    n = meta.n_saved_channels
    assert len(meta.saved_channel_subset) == len(meta.column_kinds) == len(meta.uv_per_bit()) == n
    assert np.all(meta.uv_per_bit() > 0)
    if meta.file_name.band is not None:
        assert meta.band == meta.file_name.band
    if meta.file_size_bytes is not None:
        assert meta.n_samples_expected == meta.file_size_bytes // (2 * n)
    if meta.stream == "imec":
        check_imec_invariants(meta)
    else:
        check_daq_invariants(meta)


def check_imec_invariants(meta: SpikeGLXMeta) -> None:
    sites, channels = meta.sites, meta.channels
    assert meta.band in ("ap", "lf", "ap+lf")
    assert len(sites) == len(meta.connected) == len(meta.ap_uv_per_bit) == len(meta.lf_uv_per_bit)
    assert np.all(meta.ap_uv_per_bit > 0) and np.all(meta.lf_uv_per_bit > 0)
    assert np.array_equal(channels.saved_index, sites.saved_index[meta.connected])
    assert channels.coords.shape == (len(channels), 2) and np.all(np.isfinite(channels.coords))
    assert len(channels) == len(channels.shank) > 0
    assert np.all(np.diff(channels.saved_index) > 0), "channels are in saved order"
    kinds = meta.column_kinds[channels.saved_index]
    assert set(kinds) == ({"LF"} if meta.band == "lf" else {"AP"})
    assert meta.n_shanks >= 1 and np.all((channels.shank >= 0) & (channels.shank < meta.n_shanks))
    assert meta.probe_type is not None and meta.probe_type.isdigit()
    if meta.sync_channel is not None:
        assert meta.column_kinds[meta.sync_channel] == "SY"
        assert meta.uv_per_bit()[meta.sync_channel] == 1.0
    assert meta.analog_channels.size == meta.digital_channels.size == 0


def check_daq_invariants(meta: SpikeGLXMeta) -> None:
    assert meta.band is None and len(meta.channels) == 0 and meta.n_shanks == 0
    assert meta.probe_serial is None and meta.probe_type is None
    assert len(meta.analog_channels) == len(meta.analog_uv_per_bit)
    assert not set(meta.analog_channels) & set(meta.digital_channels)
    assert set(meta.column_kinds[meta.analog_channels]) <= {"MN", "MA", "XA"}
    assert set(meta.column_kinds[meta.digital_channels]) <= {"XD"}


# ---------------------------------------------------------------- against probeinterface


def read_with_probeinterface(path: Path):  # noqa: ANN201 - a probeinterface Probe
    import probeinterface

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return probeinterface.read_spikeglx(path)
    except Exception as error:  # noqa: BLE001 - any failure of probeinterface means "skip"
        pytest.skip(f"probeinterface cannot read {path.relative_to(SPIKEGLX)}: "
                    f"{type(error).__name__}: {error}")


@pytest.mark.parametrize("path", META_FILES, ids=META_IDS)
def test_geometry_matches_probeinterface(path: Path) -> None:
    probe = read_with_probeinterface(path)
    meta = read_meta(path)
    order = np.argsort(probe.device_channel_indices)
    assert len(meta.sites) == probe.get_contact_count()
    assert np.allclose(meta.sites.coords, probe.contact_positions[order], rtol=0, atol=1e-6)
    shank_ids = probe.shank_ids[order] if probe.shank_ids is not None else None
    if shank_ids is not None and all(shank_ids != ""):
        assert np.array_equal(meta.sites.shank, shank_ids.astype(int))
    # probeinterface keeps the on-shank reference channels; SpikeGLX marks them unused.
    readout = meta.saved_channel_subset[meta.sites.saved_index] % 384
    disconnected = set(readout[~meta.connected].tolist())
    assert disconnected <= set(reference_channels(meta)), disconnected
    assert len(meta.channels) == probe.get_contact_count() - len(disconnected)


def reference_channels(meta: SpikeGLXMeta) -> tuple[int, ...]:
    if "imProbeOpt" in meta.raw:  # Phase 3A
        return (36, 75, 112, 151, 188, 227, 264, 303, 340, 379)
    return {"0": (191,), "1030": (191,), "21": (127,), "24": (127,)}.get(meta.imro_type, ())


IMEC_WITH_MAPS = [path for path in META_FILES if "~imroTbl" in text_of(path)
                  and ("~snsGeomMap" in text_of(path) or "~snsShankMap" in text_of(path))]


@pytest.mark.parametrize("path", IMEC_WITH_MAPS,
                         ids=[str(p.relative_to(SPIKEGLX)) for p in IMEC_WITH_MAPS])
def test_imro_layout_agrees_with_geom_and_shank_maps(path: Path) -> None:
    """Dropping snsGeomMap/snsShankMap gives the same sites, shanks and connected flags."""
    text = text_of(path)
    without_maps = "\n".join(line for line in text.splitlines()
                             if not line.startswith(("~snsGeomMap", "~snsShankMap")))
    meta, from_imro = read_meta(path), parse_meta(without_maps, path.name)
    assert np.allclose(meta.sites.coords, from_imro.sites.coords, rtol=0, atol=1e-6)
    assert np.array_equal(meta.sites.shank, from_imro.sites.shank)
    assert np.array_equal(meta.connected, from_imro.connected)


LF_WITH_AP = [path for path in META_FILES if path.name.endswith(".lf.meta")
              and path.with_name(path.name.replace(".lf.meta", ".ap.meta")).exists()]


@pytest.mark.parametrize("path", LF_WITH_AP, ids=[str(p.relative_to(SPIKEGLX)) for p in LF_WITH_AP])
def test_lf_meta_maps_like_its_ap_meta(path: Path) -> None:
    """probeinterface cannot read LF metas; their map must equal the (validated) AP one."""
    lf = read_meta(path)
    ap = read_meta(path.with_name(path.name.replace(".lf.meta", ".ap.meta")))
    assert lf.band == "lf" and lf.channels == ap.channels and lf.n_shanks == ap.n_shanks
    assert np.array_equal(lf.ap_uv_per_bit, ap.ap_uv_per_bit)
    assert np.array_equal(lf.uv_per_bit()[lf.channels.saved_index], lf.lf_uv_per_bit[lf.connected])


def test_garbage_part_number_meta_matches_probeinterface_once_repaired(tmp_path: Path) -> None:
    """probeinterface cannot read toy_data.ap.meta ('????' part number); with NP1000 it can."""
    original = SPIKEGLX / "bombcell/toy_data.ap.meta"
    text = text_of(original)
    garbage = next(line for line in text.splitlines() if line.startswith("imDatPrb_pn="))
    repaired = tmp_path / original.name
    repaired.write_bytes(text.replace(garbage, "imDatPrb_pn=NP1000").encode())
    probe = read_with_probeinterface(repaired)
    meta = read_meta(original)
    assert np.allclose(meta.sites.coords, probe.contact_positions, rtol=0, atol=1e-6)


def test_catalogue_matches_probeinterface_probe_table() -> None:
    import probeinterface

    table_path = Path(probeinterface.__file__).parent / "resources/neuropixels_probe_features.json"
    table = json.loads(table_path.read_text())
    probes = table["neuropixels_probes"]
    assert set(PROBE_PARTS) == set(probes)
    for part_number, spec in probes.items():
        layout = PROBE_PARTS[part_number].layout
        expected = (int(spec["num_shanks"]), int(spec["cols_per_shank"]),
                    int(spec["rows_per_shank"]), float(spec["electrode_pitch_horz_um"]),
                    float(spec["electrode_pitch_vert_um"]),
                    float(spec["even_row_horz_offset_left_edge_to_leftmost_electrode_center_um"]),
                    float(spec["odd_row_horz_offset_left_edge_to_leftmost_electrode_center_um"]),
                    float(spec["shank_pitch_um"]))
        ours = (layout.shanks, layout.columns, layout.rows, layout.x_pitch, layout.y_pitch,
                layout.even_row_x0, layout.odd_row_x0, layout.shank_pitch)
        assert ours == expected, part_number
        gains = spec["ap_gain_list"].split(",")
        assert PROBE_PARTS[part_number].fixed_gain == (float(gains[0]) if len(gains) == 1 else None)
        reference = int(spec["on_shank_ref_chan"])
        assert PROBE_PARTS[part_number].reference_channel == (None if reference < 0 else reference)
    for imro_type, part_number in table["z_imro_format_type_to_part_number"].items():
        assert default_part_for_imro_type(imro_type) == part_number


# ---------------------------------------------------------------- specific files


def test_noise4sam_imec0_ap_is_np1_with_gain_500() -> None:
    meta = read_meta(NOISE4SAM_AP)
    assert (meta.stream, meta.band, meta.probe_type) == ("imec", "ap", "0")
    assert meta.probe_part_number == "PRB_1_4_0480_1" and meta.probe_serial == "18194809281"
    assert meta.n_saved_channels == 385 and meta.sync_channel == 384
    assert np.all(meta.ap_uv_per_bit == 2.34375) and len(meta.ap_uv_per_bit) == 384
    assert np.all(meta.lf_uv_per_bit == uv(0.6, 512, 125))
    assert len(meta.channels) == 383 and 191 not in meta.channels.saved_index
    assert meta.channels.coords[:3].tolist() == [[16.0, 0.0], [48.0, 0.0], [0.0, 20.0]]
    assert (meta.probe_slot, meta.probe_port, meta.probe_dock) == (2, 2, None)
    assert meta.file_name.run == "Noise4Sam" and meta.file_name.probe_index == 0
    assert meta.file_create_time.isoformat() == "2020-11-03T10:35:10"
    assert meta.app_version == "20190327" and meta.file_time_secs == pytest.approx(5.26516666)


def test_noise4sam_lf_shares_the_ap_channel_map() -> None:
    ap = read_meta(NOISE4SAM_AP)
    lf = read_meta(NOISE4SAM_AP.with_name("Noise4Sam_g0_t0.imec0.lf.meta"))
    assert lf.band == "lf" and lf.sampling_rate == 2500
    assert np.array_equal(lf.channels.coords, ap.channels.coords)
    assert np.all(lf.uv_per_bit()[:384] == uv(0.6, 512, 125))


def test_digital_channel_test_nidq_has_one_digital_column() -> None:
    meta = read_meta(DIGITAL_NIDQ)
    assert (meta.stream, meta.band, meta.sampling_rate, meta.n_saved_channels) == (
        "nidq", None, 2500.0, 1)
    assert meta.digital_channels.tolist() == [0] and meta.analog_channels.size == 0
    assert meta.digital_line_numbers == list(range(8))
    assert meta.uv_per_bit().tolist() == [1.0] and meta.sync_channel is None
    assert meta.n_samples_expected == DIGITAL_NIDQ.with_suffix(".bin").stat().st_size // 2


def test_noise4sam_nidq_has_eight_analog_and_one_digital_column() -> None:
    meta = read_meta(NOISE4SAM_NIDQ)
    assert meta.analog_channels.tolist() == list(range(8))
    assert meta.digital_channels.tolist() == [8]
    assert np.all(meta.analog_uv_per_bit == uv(2, 32768, 1))
    assert meta.sampling_rate == pytest.approx(11574.074074)
    assert meta.n_samples_expected == NOISE4SAM_NIDQ.with_suffix(".bin").stat().st_size // 18


def test_meta_written_while_acquiring_has_no_size_or_sha1() -> None:
    meta = read_meta(WHILE_ACQUIRING)
    assert meta.file_size_bytes is None and meta.file_sha1 is None
    assert meta.n_samples_expected is None and meta.file_time_secs is None
    assert (meta.probe_type, meta.n_shanks, len(meta.channels)) == ("24", 4, 383)


def test_catgt_output_has_trigger_cat_and_sha1_zero() -> None:
    meta = read_meta(CATGT_AP)
    name = meta.file_name
    assert (name.run, name.gate, name.trigger, name.probe_index, name.band) == (
        "5-19-2022-CI0", 0, "cat", 1, "ap")
    assert meta.file_sha1 == "0"


@pytest.mark.parametrize("probe_folder", ["probe_1", "probe_2", "probe_3"])
def test_npx_names_without_run_gate_or_trigger(probe_folder: str) -> None:
    meta = read_meta(NPX_NO_INFO / probe_folder / "npx.imec.ap.meta")
    name = meta.file_name
    assert (name.run, name.gate, name.trigger, name.stream, name.probe_index, name.band) == (
        "npx", None, None, "imec", 0, "ap")
    assert meta.n_shanks == 4 and meta.probe_part_number == "NP2010"
    assert np.all(meta.ap_uv_per_bit == uv(0.5, 8192, 80))


CRLF_FILES = [path for path in META_FILES if "\r\n" in text_of(path)]


@pytest.mark.parametrize("path", CRLF_FILES[:5], ids=[p.name for p in CRLF_FILES[:5]])
def test_crlf_meta_equals_its_lf_normalised_text(path: Path) -> None:
    text = text_of(path)
    assert "\r\n" in text
    assert read_meta(path) == parse_meta(text.replace("\r\n", "\n"), path.name)


def test_pre_imec_2015_ni_meta_without_type_this() -> None:
    meta = read_meta(SPIKEGLX / "ironclust/sample.meta")
    assert "typeThis" not in meta.raw and meta.stream == "nidq"
    assert meta.app_version is None and meta.file_name.stream is None
    assert (meta.sampling_rate, meta.n_saved_channels) == (25000.0, 130)
    assert meta.column_kinds.tolist() == ["MN"] * 128 + ["MA"] * 2
    assert meta.saved_channel_subset[-2:].tolist() == [227, 230]
    assert np.all(meta.analog_uv_per_bit[:128] == uv(2, 32768, 200))
    assert np.all(meta.analog_uv_per_bit[128:] == uv(2, 32768, 1))
    assert meta.digital_channels.size == 0 and meta.digital_line_numbers == []
    assert isinstance(meta.raw["snsChanMap"], list)  # written without "~" in 2015
    assert meta.file_create_time.isoformat() == "2015-08-28T20:12:35"


def test_2016_combined_ap_lf_imec_meta_maps_the_ap_channels() -> None:
    meta = read_meta(SPIKEGLX / "ironclust/sample3.meta")
    assert (meta.stream, meta.band, meta.n_saved_channels) == ("imec", "ap+lf", 769)
    assert (meta.probe_serial, meta.probe_type, meta.probe_part_number) == (
        "503970844", "0", None)
    assert len(meta.sites) == 384 and len(meta.channels) == 374  # 10 Phase 3A references
    assert meta.channels.saved_index.max() < 384 and meta.sync_channel == 768
    gains = meta.uv_per_bit()
    assert np.all(gains[:768] == uv(0.6, 512, 2500)) and gains[768] == 1.0


def test_phase3a_option4_has_276_channels_and_7_references() -> None:
    meta = read_meta(SPIKEGLX / "ibl-neuropixel/sample3A_376_channels.ap.meta")
    assert (len(meta.sites), len(meta.channels), meta.sync_channel) == (276, 269, 276)


def test_quad_base_saves_four_sync_words() -> None:
    meta = read_meta(SPIKEGLX / "ibl-neuropixel/sampleNP2QB.imec.ap.meta")
    assert meta.sync_channels.tolist() == [1536, 1537, 1538, 1539] and meta.sync_channel == 1536
    assert len(meta.channels) == 1536 and set(meta.channels.shank) == {0, 1, 2, 3}
    assert np.all(meta.ap_uv_per_bit == uv(0.62, 2048, 100))


def test_garbage_part_number_falls_back_to_the_imro_type() -> None:
    meta = read_meta(SPIKEGLX / "bombcell/toy_data.ap.meta")
    assert meta.raw["imDatPrb_pn"].startswith("????") and meta.probe_part_number is None
    assert meta.probe_serial == "17131310491" and len(meta.channels) == 383
    noise4sam = read_meta(NOISE4SAM_AP)
    assert np.array_equal(meta.channels.coords, noise4sam.channels.coords)


def test_np_ultra_recorded_as_type_0_uses_the_ultra_layout() -> None:
    meta = read_meta(NEUROCONV / "np_ultra_stub/p5_g0/p5_g0_imec0/p5_g0_t0.imec0.ap.meta")
    assert (meta.probe_type, meta.probe_part_number) == ("0", "NP1100")
    assert meta.sites.coords[:3].tolist() == [[0.0, 0.0], [6.0, 0.0], [12.0, 0.0]]


def test_subset_saved_channels_are_absent() -> None:
    meta = read_meta(SPIKEGLX / "probeinterface/NP2_2013_subset_channels.imec0.ap.meta")
    assert meta.n_saved_channels == 121 and len(meta.channels) == 120
    assert meta.saved_channel_subset[35:37].tolist() == [35, 72]
    assert meta.channels.saved_index.tolist() == list(range(120)) and meta.sync_channel == 120


def test_onebox_meta() -> None:
    chan_map = "".join(f"(XA{i};{i}:{i})" for i in range(12)) + "(XD0;12:12)(SY0;13:13)"
    text = "\n".join([
        "typeThis=obx", "obSampRate=30303.030303", "nSavedChans=14", "acqXaDwSy=12,1,1",
        "snsXaDwSy=12,1,1", "snsSaveChanSubset=all", "obAiRangeMax=5", "obAiRangeMin=-5",
        "obMaxInt=32768", f"~snsChanMap=(12,1,1){chan_map}"])
    meta = parse_meta(text, "run_g0_t0.obx0.obx.meta")
    assert (meta.stream, meta.band, meta.file_name.stream, meta.file_name.obx_index) == (
        "obx", None, "obx", 0)
    assert meta.analog_channels.tolist() == list(range(12))
    assert np.all(meta.analog_uv_per_bit == uv(5, 32768, 1))
    assert meta.digital_channels.tolist() == [12] and meta.sync_channel == 13
    assert meta.uv_per_bit()[12:].tolist() == [1.0, 1.0] and len(meta.channels) == 0


def test_parse_meta_without_a_name_reads_the_band_from_the_channels() -> None:
    meta = parse_meta(text_of(NOISE4SAM_AP))
    assert meta.name == "" and meta.band == "ap" and meta.file_name.run == ""
    assert meta == parse_meta(text_of(NOISE4SAM_AP), "")


def test_channel_map_is_the_public_type() -> None:
    meta = read_meta(NOISE4SAM_AP)
    assert isinstance(meta.channels, ChannelMap)
    assert meta.channels == meta.sites.select(meta.connected) != meta.sites
    assert meta.channels.saved_index.dtype.kind == "i" and meta.channels.shank.dtype.kind == "i"


# ---------------------------------------------------------------- bad input


NAME = NOISE4SAM_AP.name



def assert_format_error(text: str, key: str, name: str = NAME) -> RecordingFormatError:
    with pytest.raises(RecordingFormatError) as caught:
        parse_meta(text, name)
    error = caught.value
    assert key in str(error) and error.hint
    return error


def replace_line(text: str, key: str, new_line: str | None) -> str:
    lines = [line for line in text.splitlines() if not line.startswith(f"{key}=")]
    return "\n".join(lines + ([new_line] if new_line else []))


@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.9, 0.999])
def test_truncated_meta_is_rejected(fraction: float) -> None:
    text = text_of(NOISE4SAM_AP)
    truncated = text[: int(len(text) * fraction)]
    error = assert_format_error(truncated, "")
    assert NAME in str(error) and "damaged" in error.hint


@pytest.mark.parametrize("garbage", ["this is not a meta line", "\x00\x00\x00\x00", "=5",
                                     "bad key=1", "~imroTbl=(0,384)(0 0 0 5"])
def test_meta_with_garbage_lines_is_rejected(garbage: str) -> None:
    assert_format_error(text_of(NOISE4SAM_AP) + "\n" + garbage + "\n", "")


def test_empty_meta_is_rejected() -> None:
    assert_format_error("", "no key=value lines")
    assert_format_error("\r\n\r\n", "no key=value lines")


@pytest.mark.parametrize("line", [None, "nSavedChans=", "nSavedChans=abc", "nSavedChans=0"])
def test_missing_or_bad_n_saved_chans_is_rejected(line: str | None) -> None:
    assert_format_error(replace_line(text_of(NOISE4SAM_AP), "nSavedChans", line), "nSavedChans")


def test_imro_entry_count_disagreeing_with_header_is_rejected() -> None:
    text = text_of(NOISE4SAM_AP)
    imro = next(line for line in text.splitlines() if line.startswith("~imroTbl="))
    shortened = imro[: imro.rindex("(")]
    text = replace_line(text, "~imroTbl", shortened)
    error = assert_format_error(text, "imroTbl")
    assert "383 entries but its header says 384" in str(error)


@pytest.mark.parametrize(("key", "line"), [
    ("snsSaveChanSubset", "snsSaveChanSubset=0:383"),
    ("snsSaveChanSubset", "snsSaveChanSubset=0:200,768,1000"),
    ("snsSaveChanSubset", "snsSaveChanSubset=0:383,7x"),
    ("snsSaveChanSubset", "snsSaveChanSubset=384:0,768"),
    ("nSavedChans", "snsSaveChanSubset=all"),
    ("snsApLfSy", "snsApLfSy=383,0,2"),
    ("acqApLfSy", "acqApLfSy=384,384"),
])
def test_channel_lists_inconsistent_with_n_saved_chans_are_rejected(key: str, line: str) -> None:
    line_key = line.split("=")[0]
    assert_format_error(replace_line(text_of(NOISE4SAM_AP), line_key, line), key)


def test_nidq_channel_map_inconsistent_with_n_saved_chans_is_rejected() -> None:
    text = replace_line(text_of(NOISE4SAM_NIDQ), "nSavedChans", "nSavedChans=10")
    assert_format_error(text, "nSavedChans", NOISE4SAM_NIDQ.name)
    text = text_of(NOISE4SAM_NIDQ)
    for key in ("acqMnMaXaDw", "snsMnMaXaDw", "niMNChans1", "niMAChans1", "niXAChans1",
                "niXDChans1"):
        text = replace_line(text, key, None)
    assert parse_meta(text, NOISE4SAM_NIDQ.name).analog_channels.size == 8  # from snsChanMap
    short_map = replace_line(text, "~snsChanMap", "~snsChanMap=(0,0,32,4,1)(XA0;0:0)")
    error = assert_format_error(short_map, "nSavedChans", NOISE4SAM_NIDQ.name)
    assert "snsChanMap says 5 channels" in str(error)
    bad_map = replace_line(text, "~snsChanMap", "~snsChanMap=(0,0,32,8)(XA0;0:0)")
    assert_format_error(bad_map, "acqMnMaXaDw", NOISE4SAM_NIDQ.name)


@pytest.mark.parametrize(("key", "line"), [
    ("typeThis", "typeThis=scope"),
    ("imSampRate", "imSampRate=fast"),
    ("imSampRate", "imSampRate=0"),
    ("imSampRate", "imSampRate=nan"),
    ("imAiRangeMax", None),
    ("imroTbl", None),
    ("imroTbl", "~imroTbl=(9999,384)"),
    ("fileCreateTime", "fileCreateTime=yesterday"),
    ("fileSizeBytes", "fileSizeBytes=-5"),
    ("snsShankMap", "~snsShankMap=(1,2,480)(0:0:0:1)"),
])
def test_bad_values_are_rejected_with_the_key_named(key: str, line: str | None) -> None:
    line_key = line.split("=")[0] if line else key.lstrip("~")
    if line is None and key == "imroTbl":
        line_key = "~imroTbl"
    assert_format_error(replace_line(text_of(NOISE4SAM_AP), line_key, line), key)


def test_duplicated_key_is_rejected() -> None:
    assert_format_error(text_of(NOISE4SAM_AP) + "\nnSavedChans=385\n", "appears twice")


def test_lf_meta_named_as_ap_is_rejected() -> None:
    lf_text = text_of(NOISE4SAM_AP.with_name("Noise4Sam_g0_t0.imec0.lf.meta"))
    error = assert_format_error(lf_text, "snsSaveChanSubset", "Noise4Sam_g0_t0.imec0.ap.meta")
    assert "says .ap." in str(error)


@pytest.mark.parametrize("name", ["../../etc/passwd.meta", "C:\\data\\x.imec0.ap.meta",
                                  "run\n_g0_t0.imec0.ap.meta", "a\x00b.meta", "x" * 300 + ".meta",
                                  "..", "_g0_t0.imec0.ap.meta"])
def test_hostile_file_names_are_rejected(name: str) -> None:
    with pytest.raises(RecordingFormatError) as caught:
        parse_meta(text_of(NOISE4SAM_AP), name)
    assert caught.value.hint
    with pytest.raises(RecordingFormatError):
        parse_file_name(name)


def test_read_meta_rejects_a_bin_passed_as_meta(tmp_path: Path) -> None:
    fake = tmp_path / "Run_g0_t0.imec0.ap.meta"
    fake.write_bytes(bytes(range(256)) * 100)
    with pytest.raises(RecordingFormatError, match="is not key=value"):
        read_meta(fake)


def test_random_damage_raises_only_recording_format_error() -> None:
    rng = random.Random(20240611)
    lines = text_of(NOISE4SAM_NIDQ).splitlines() + text_of(NOISE4SAM_AP).splitlines()[:30]
    for _ in range(300):
        damaged = list(lines)
        for _ in range(rng.randint(1, 4)):
            index = rng.randrange(len(damaged))
            line = damaged[index]
            cut = rng.randrange(len(line) + 1)
            damaged[index] = rng.choice([line[:cut], line[cut:], line[:cut] + "(" + line[cut:],
                                         line.replace("=", "==", 1), line + ",-1"])
        try:
            parse_meta("\n".join(damaged), NOISE4SAM_NIDQ.name)
        except RecordingFormatError as error:
            assert error.hint


# ---------------------------------------------------------------- docs and layering


@pytest.mark.parametrize("module", ["_fields", "naming", "catalogue", "imro", "columns",
                                    "geometry", "gains", "meta"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"labdata.converters.spikeglx.{module}"))
    assert result.attempted > 0 and result.failed == 0


def test_meta_parser_does_not_import_probeinterface() -> None:
    code = ("import sys, labdata.converters.spikeglx.meta; "
            "bad = {'probeinterface', 'spikeinterface', 'neo'} & set(sys.modules); "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
