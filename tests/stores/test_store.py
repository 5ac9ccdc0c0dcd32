"""Stores on a real S3 endpoint (moto on 127.0.0.1) and on a local folder."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from labdata.core.errors import ChecksumMismatchError, FilesArchivedError, StorageError, StorageUnavailableError
from labdata.stores import StorageSettings, store_for
from labdata.stores.s3 import S3Store
from labdata.stores.transfer import PART_SIZE, PARTIAL_SUFFIX


def md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """``size`` bytes that do not compress, written in 8 MiB blocks."""
    rng = __import__("numpy").random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 8 << 20)
            f.write(rng.integers(0, 256, n, dtype="uint8").tobytes())
            left -= n
    return path


@pytest.fixture
def s3_store(s3_server, bucket) -> Any:
    return store_for(StorageSettings("data", "s3", bucket, "lab/raw", s3_server.endpoint, "test", "test"))


@pytest.fixture
def local_store(tmp_path) -> Any:
    return store_for(StorageSettings("data", "local", folder=str(tmp_path / "storage")))


@pytest.fixture(params=["s3", "local"])
def store(request, s3_store, local_store) -> Any:
    return s3_store if request.param == "s3" else local_store


@pytest.mark.parametrize("size", [0, 1000, 2 * PART_SIZE + 12345], ids=["empty", "small", "multipart"])
def test_put_get_round_trip_is_byte_identical(store, tmp_path, size) -> None:
    source = random_file(tmp_path / "rig" / "a.bin", size)
    sent = store.put(source, "S1/sess/ephys/a.bin")
    assert (sent.size, sent.md5) == (size, md5(source))
    assert store.exists("S1/sess/ephys/a.bin") and store.size("S1/sess/ephys/a.bin") == size
    assert store.list("S1") == ["S1/sess/ephys/a.bin"]
    back = store.get("S1/sess/ephys/a.bin", tmp_path / "analyst" / "S1" / "a.bin", md5=sent.md5)
    assert back.read_bytes() == source.read_bytes()
    store.delete("S1/sess/ephys/a.bin")
    assert not store.exists("S1/sess/ephys/a.bin") and store.list() == []


def test_the_s3_objects_sit_under_the_folder(s3_store, s3_server, bucket, tmp_path) -> None:
    s3_store.put(random_file(tmp_path / "x", 10), "S1/x")
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["lab/raw/S1/x"]


def test_a_file_above_the_multipart_threshold_of_300_mb(s3_store, tmp_path) -> None:
    source = random_file(tmp_path / "big.bin", 300 * 1024 * 1024 + 7, seed=3)
    seen = []
    sent = s3_store.put(source, "S1/big.bin", progress=seen.append)
    assert sum(seen) == source.stat().st_size and len(seen) > 10
    assert sent.md5 == md5(source)
    back = s3_store.get("S1/big.bin", tmp_path / "back.bin", md5=sent.md5)
    assert md5(back) == sent.md5
    source.unlink()
    back.unlink()


def test_each_part_of_a_multipart_upload_carries_a_crc32_the_storage_checked(s3_store, s3_server, tmp_path) -> None:
    source = random_file(tmp_path / "a.bin", 2 * PART_SIZE + 5)
    s3_store.put(source, "S1/a.bin")
    attributes = s3_server.client().get_object_attributes(
        Bucket=s3_store.settings.bucket, Key=s3_store.key("S1/a.bin"), ObjectAttributes=["Checksum"])
    assert attributes["Checksum"]["ChecksumType"] == "COMPOSITE" and attributes["Checksum"]["ChecksumCRC32"]


def test_a_corrupted_object_is_detected_and_nothing_is_written(store, s3_server, tmp_path) -> None:
    source = random_file(tmp_path / "a.bin", 5000)
    sent = store.put(source, "S1/a.bin")
    corrupt = bytearray(source.read_bytes())
    corrupt[100] ^= 0xFF
    if isinstance(store, S3Store):
        s3_server.client().put_object(Bucket=store.settings.bucket, Key=store.key("S1/a.bin"), Body=bytes(corrupt))
    else:
        Path(store.key("S1/a.bin")).write_bytes(bytes(corrupt))
    destination = tmp_path / "analyst" / "a.bin"
    with pytest.raises(ChecksumMismatchError, match="MD5"):
        store.get("S1/a.bin", destination, md5=sent.md5)
    assert not destination.exists()
    assert not [p for p in destination.parent.iterdir() if p.name.endswith(PARTIAL_SUFFIX)]


def test_archived_objects_are_reported_and_restored(s3_store, s3_server, tmp_path) -> None:
    s3_server.client().put_object(Bucket=s3_store.settings.bucket, Key=s3_store.key("S1/cold.bin"),
                                  Body=b"frozen", StorageClass="DEEP_ARCHIVE")
    s3_store.put(random_file(tmp_path / "warm", 10), "S1/warm.bin")
    assert s3_store.archive_status(["S1/cold.bin", "S1/warm.bin"]) == {"S1/cold.bin": "archived",
                                                                       "S1/warm.bin": "available"}
    with pytest.raises(FilesArchivedError, match="archive tier") as raised:
        s3_store.get("S1/cold.bin", tmp_path / "cold.bin")
    assert raised.value.status == {"S1/cold.bin": "archived"} and not (tmp_path / "cold.bin").exists()
    with pytest.raises(FilesArchivedError):  # with the size known there is no HEAD first: the GET's refusal is read
        s3_store.get("S1/cold.bin", tmp_path / "cold.bin", size=6)
    with pytest.raises(FilesArchivedError) as raised:
        s3_store.check_available(["S1/cold.bin", "S1/warm.bin"], restore=True)
    assert raised.value.requested == ["S1/cold.bin"]
    assert s3_store.archive_status(["S1/cold.bin"])["S1/cold.bin"] in ("restoring", "available")


@pytest.mark.parametrize("path", ["../etc/passwd", "S1/../../x", "/abs/x", "C:/x", ""])
def test_paths_that_leave_the_storage_are_refused(store, tmp_path, path) -> None:
    source = random_file(tmp_path / "a.bin", 10)
    with pytest.raises(StorageError, match="leaves the storage"):
        store.put(source, path)
    assert store.list() == []


def test_missing_objects_and_buckets_raise_file_not_found(store, s3_server, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nothing\.bin"):
        store.get("S1/nothing.bin", tmp_path / "x")
    missing = store_for(StorageSettings("data", "s3", "no-such-bucket", "", s3_server.endpoint, "test", "test"))
    with pytest.raises(FileNotFoundError):
        missing.put(random_file(tmp_path / "a.bin", 10), "a.bin")


def test_an_unreachable_endpoint_says_so(tmp_path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = store_for(StorageSettings("data", "s3", "b", "", f"http://127.0.0.1:{port}", "test", "test"))
    with pytest.raises(StorageUnavailableError, match="cannot be reached") as raised:
        store.put(random_file(tmp_path / "a.bin", 10), "a.bin")
    assert "storage.data.endpoint" in str(raised.value)


def test_an_unreadable_source_is_a_permission_error(store, tmp_path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    source = random_file(tmp_path / "a.bin", 10)
    source.chmod(0)
    with pytest.raises(PermissionError):
        store.put(source, "a.bin")


def test_wrong_credentials_are_an_access_error_naming_the_keys(tmp_path) -> None:
    from s3server import S3Server

    server = S3Server(env={"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # every request must carry known keys
    try:
        store = store_for(StorageSettings("data", "s3", "b", "", server.endpoint, "AKIAWRONG", "wrong"))
        with pytest.raises(PermissionError, match="refused access") as raised:
            store.put(random_file(tmp_path / "a.bin", 10), "a.bin")
        assert isinstance(raised.value, StorageError)
        assert "storage.data.secret_key" in str(raised.value)
    finally:
        server.stop()
