"""The SpikeGLX .zarr.zip: the DeltaZigZag filter, our writer and reader, plain zarr's view of it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from labdata.converters.spikeglx.codecs import DeltaZigZag
from labdata.converters.spikeglx.compression import CHUNK_SAMPLES, compress_bin, verify_zarr_zip
from labdata.converters.spikeglx.meta import read_meta
from labdata.converters.spikeglx.reader import RawRecording
from labdata.converters.spikeglx.synthetic import write_recording
from labdata.converters.zarrzip import ZarrZipArray
from labdata.core.errors import RecordingFormatError
from shared_data import SHARED_DATA

NP_ULTRA = SHARED_DATA / "spikeglx" / "neuroconv-gin" / "np_ultra_stub" / "p5_g0" / "p5_g0_imec0"


@settings(max_examples=200, deadline=None)
@given(arrays(np.int16, st.integers(0, 5000)))
def test_delta_zigzag_round_trips_every_int16_sequence(values) -> None:
    codec = DeltaZigZag()
    encoded = codec.encode(values)
    assert encoded.dtype == np.uint16
    assert np.array_equal(codec.decode(encoded), values)


def test_delta_zigzag_maps_small_differences_of_either_sign_to_small_codes() -> None:
    values = np.array([100, 99, 101, 101, -32768, 32767], dtype=np.int16)
    # -32768 - 101 wraps to 32667 (-> 2 * 32667); 32767 - -32768 wraps to -1 (-> 1)
    assert DeltaZigZag().encode(values).tolist() == [200, 1, 4, 0, 2 * 32667, 1]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    """A 1.1 s NP1.0 recording: 12 chunks, the last one partial."""
    folder = tmp_path_factory.mktemp("synthetic")
    write_recording(folder, duration=1.1)
    return next(folder.glob("*.imec0.ap.bin"))


def source_of(bin_path: Path) -> np.ndarray:
    meta = read_meta(bin_path.with_suffix(".meta"))
    return np.fromfile(bin_path, dtype="<i2").reshape(-1, meta.n_saved_channels)


@pytest.mark.parametrize("name", ["p5_g0_t0.imec0.ap.bin", "p5_g0_t0.imec0.lf.bin"])
def test_real_files_compress_and_read_back_bit_exact_through_plain_zarr_too(name, tmp_path) -> None:
    import zarr

    source = NP_ULTRA / name
    written = compress_bin(source, read_meta(source.with_suffix(".meta")), destination=tmp_path / "x.zarr.zip")
    raw = source_of(source)
    assert (written.n_samples, written.n_channels) == raw.shape
    assert written.size < raw.nbytes / 3
    assert np.array_equal(RawRecording.open(written.path)[:], raw)
    through_zarr = zarr.open_array(store=zarr.storage.ZipStore(str(written.path), mode="r"), mode="r")
    assert np.array_equal(through_zarr[:], raw)
    assert through_zarr.attrs["source"]["name"] == name


def test_a_multi_chunk_recording_reads_back_by_any_selection(synthetic, tmp_path) -> None:
    import zarr

    written = compress_bin(synthetic, read_meta(synthetic.with_suffix(".meta")), destination=tmp_path / "s.zarr.zip")
    raw = source_of(synthetic)
    assert raw.shape[0] % CHUNK_SAMPLES  # the last chunk is padded by the writer
    lazy = RawRecording.open(written.path)
    assert np.array_equal(zarr.open_array(store=zarr.storage.ZipStore(str(written.path), mode="r"))[:], raw)
    for rows, columns in [(slice(2999, 9001), slice(None)), (slice(None), [0, 5, 384]), (slice(100, 30000, 7), 3),
                          (np.array([32000, 5, 6000]), slice(10, 20)), (31234, slice(None)), (-1, -1),
                          (slice(5, 5), slice(None))]:
        assert np.array_equal(lazy[rows, columns], raw[rows, columns]), (rows, columns)
    times, data = lazy.get_window(0.5, 0.1, channels=[1, 2], units="raw")
    assert np.array_equal(data, raw[15000:18000, [1, 2]]) and times[0] == 0.5


def test_the_same_recording_always_gives_the_same_bytes(synthetic, tmp_path) -> None:
    meta = read_meta(synthetic.with_suffix(".meta"))
    first = compress_bin(synthetic, meta, destination=tmp_path / "a.zarr.zip")
    second = compress_bin(synthetic, meta, destination=tmp_path / "b.zarr.zip")
    assert first.md5 == second.md5 and first.path.read_bytes() == second.path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr.zip", "b.zarr.zip"]  # no temporary left


def test_verification_names_the_first_sample_that_differs(synthetic, tmp_path) -> None:
    written = compress_bin(synthetic, read_meta(synthetic.with_suffix(".meta")), destination=tmp_path / "s.zarr.zip")
    raw = source_of(synthetic)
    changed = tmp_path / "changed.bin"
    raw_changed = raw.copy()
    raw_changed[7123, 200] += 1
    raw_changed.tofile(changed)
    verify_zarr_zip(synthetic, written.path, raw.shape)
    with pytest.raises(RecordingFormatError, match="differs from it at sample 6000"):
        verify_zarr_zip(changed, written.path, raw.shape)
    with pytest.raises(RecordingFormatError, match="has shape"):
        verify_zarr_zip(synthetic, written.path, (raw.shape[0] + 1, raw.shape[1]))


def test_a_damaged_zarr_zip_is_a_clear_error(synthetic, tmp_path) -> None:
    written = compress_bin(synthetic, read_meta(synthetic.with_suffix(".meta")), destination=tmp_path / "s.zarr.zip")
    truncated = tmp_path / "t.zarr.zip"
    truncated.write_bytes(written.path.read_bytes()[:-100])
    with pytest.raises(RecordingFormatError, match=r"not a readable \.zarr\.zip"):
        ZarrZipArray(truncated)
    with zipfile.ZipFile(written.path) as archive:
        offset = archive.getinfo("3.0").header_offset
    damaged = bytearray(written.path.read_bytes())
    damaged[offset:offset + 4] = b"XXXX"
    (tmp_path / "d.zarr.zip").write_bytes(bytes(damaged))
    reader = RawRecording.open(tmp_path / "d.zarr.zip")
    assert np.array_equal(reader[:CHUNK_SAMPLES], source_of(synthetic)[:CHUNK_SAMPLES])
    with pytest.raises(RecordingFormatError, match="damaged header"):
        reader[3 * CHUNK_SAMPLES]


def test_recordings_written_with_delta_alone_are_still_read(synthetic, tmp_path) -> None:
    """The layout before the zigzag (Delta + Blosc zstd), written by zarr itself, reads the same."""
    import zarr
    from numcodecs import Blosc, Delta

    raw = source_of(synthetic)
    store = zarr.storage.ZipStore(str(tmp_path / "old.zarr.zip"), mode="w")
    old = zarr.create(shape=raw.shape, chunks=(CHUNK_SAMPLES, raw.shape[1]), dtype="<i2", order="F",
                      filters=[Delta("<i2")], compressor=Blosc("zstd", 5, Blosc.BITSHUFFLE), store=store)
    old[:] = raw
    old.attrs["sampling_rate"] = 30000.0
    store.close()
    lazy = RawRecording.open(tmp_path / "old.zarr.zip")
    assert np.array_equal(lazy[1234:9999, [3, 4, 100]], raw[1234:9999, [3, 4, 100]])
    assert np.array_equal(lazy[:], raw) and lazy.sampling_rate == 30000.0
