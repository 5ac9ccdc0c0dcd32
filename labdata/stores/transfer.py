"""Streaming transfers that compute the MD5 of the bytes as they pass (never in a second pass).

Uploads read the source once, in order, hashing each block; on S3 a large file
goes up as a multipart upload whose parts are sent by a pool of threads, each
with its own connection of botocore's (blocking) client. s3fs's client sends
every request from one event loop, 64 KiB at a time in turn: on moto that cost
the server ~15% more CPU per part and the upload ~25% of its throughput against
boto3's TransferManager (benchmarks/transfer.py), so uploads take the blocking
client and everything else stays on s3fs. A file
sent in one request is checked against the ETag S3 returns (its MD5); parts are
not MD5-hashed a second time (on a 2-core machine that halved multipart
throughput) but carry a CRC32 that the storage checks, and a multipart object is
verified against the whole file's MD5 when it is downloaded.
Downloads fetch byte ranges in parallel and write and hash them in order into a
temporary file next to the destination, which replaces the destination only
when the MD5 matches the expected one: a crash leaves at most a
``*.labdata-part`` file, never a truncated file under the real name.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labdata.core.digest import file_digest
from labdata.core.errors import ChecksumMismatchError, StorageError

__all__ = ["PARTIAL_SUFFIX", "PART_SIZE", "Sent", "copy_file", "md5_of", "download_s3", "partial_name", "upload_s3"]

#: bytes per multipart part and per ranged GET (S3 needs >= 5 MiB parts)
PART_SIZE = 8 * 1024 * 1024
#: files up to this size go in one request
SINGLE_REQUEST = PART_SIZE
#: parts in flight at once
CONCURRENCY = 10
PARTIAL_SUFFIX = ".labdata-part"
#: each part of a multipart upload carries its CRC32, which the storage checks when the part
#: arrives (a part damaged in transit is refused before the upload completes); the whole
#: file's MD5 is still ours. As boto3's TransferManager does, this also spares the storage
#: from checksumming the whole object itself (moto copies every part to do so)
PART_CHECKSUM = "CRC32"

Progress = Callable[[int], Any] | None


@dataclass(frozen=True)
class Sent:
    """A finished transfer: the bytes moved and their MD5 (hex)."""

    size: int
    md5: str


def partial_name(destination: Path) -> Path:
    """The temporary file a download writes before it is verified."""
    return destination.with_name(f"{destination.name}.{uuid.uuid4().hex[:8]}{PARTIAL_SUFFIX}")


class _NoDigest:
    """Stands in for an MD5 when a transfer is timed without checksums (benchmarks/transfer.py)."""

    def update(self, block: bytes) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


def _digest(checksum: bool) -> Any:
    return hashlib.md5(usedforsecurity=False) if checksum else _NoDigest()


def _tick(progress: Progress, count: int) -> None:
    if progress is not None:
        progress(count)


def md5_of(path: Path) -> str:
    """The MD5 (hex) of a local file, read in large blocks."""
    return file_digest(path, "md5")


def copy_file(source: Path, destination: Path, *, progress: Progress = None, expected_md5: str | None = None) -> Sent:
    """Copy a local file (times preserved) through a temporary name, hashing on the way."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_name(destination)
    digest, size = hashlib.md5(usedforsecurity=False), 0
    try:
        with open(source, "rb") as reader, open(temporary, "wb") as writer:
            while block := reader.read(PART_SIZE):
                digest.update(block)
                writer.write(block)
                size += len(block)
                _tick(progress, len(block))
        _check(digest.hexdigest(), expected_md5, str(source))
        shutil.copystat(source, temporary)
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return Sent(size, digest.hexdigest())


def _check(actual: str, expected: str | None, what: str) -> None:
    if expected is not None and actual != expected:
        raise ChecksumMismatchError(
            f"{what} has MD5 {actual}, but {expected} was recorded for it: the bytes changed or were corrupted.",
            hint="Do not use this copy. Fetch the file again; if the stored object itself is corrupt, "
                 "re-upload it from the rig's copy and tell your admin.")


def upload_s3(client: Any, bucket: str, key: str, source: Path, *, progress: Progress = None,
              checksum: bool = True, expected_md5: str | None = None) -> Sent:
    """Upload ``source`` to ``bucket/key`` with the botocore S3 ``client``; the MD5 is of the bytes read once.

    With ``expected_md5``, bytes that hash otherwise are never stored: a single request is
    not sent and a multipart upload is aborted instead of completed.
    ``checksum=False`` skips every MD5 (only to measure what they cost).
    """
    size = os.path.getsize(source)
    if size <= SINGLE_REQUEST:
        data = source.read_bytes()
        digest = _digest(checksum)
        digest.update(data)
        md5 = digest.hexdigest()
        _check(md5, expected_md5, str(source))
        reply = client.put_object(Bucket=bucket, Key=key, Body=data)
        if checksum:
            _check_etag(reply, md5, key)
        _tick(progress, len(data))
        return Sent(len(data), md5)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=PART_CHECKSUM)["UploadId"]
    try:
        parts, md5 = _send_parts(client, bucket, key, upload_id, source, progress, checksum)
        _check(md5, expected_md5, str(source))
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": parts})
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return Sent(size, md5)


def _send_parts(client: Any, bucket: str, key: str, upload_id: str, source: Path,
                progress: Progress, checksum: bool) -> tuple[list[dict[str, Any]], str]:
    def send(number: int, block: bytes) -> dict[str, Any]:
        reply = client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=block,
                                   ChecksumAlgorithm=PART_CHECKSUM)
        _tick(progress, len(block))
        part = {"PartNumber": number, "ETag": reply["ETag"]}
        checksum = reply.get(f"Checksum{PART_CHECKSUM}")  # a storage without checksums returns none
        return part if checksum is None else part | {f"Checksum{PART_CHECKSUM}": checksum}

    digest = _digest(checksum)
    in_flight: collections.deque[Future] = collections.deque()
    parts = []
    with ThreadPoolExecutor(CONCURRENCY) as pool, open(source, "rb") as reader:
        number = 0
        while block := reader.read(PART_SIZE):
            number += 1
            in_flight.append(pool.submit(send, number, block))
            digest.update(block)  # while the part is on its way (before: the first parts waited for their MD5)
            if len(in_flight) >= 2 * CONCURRENCY:  # bound the memory held by queued parts
                parts.append(in_flight.popleft().result())
        parts.extend(future.result() for future in in_flight)
    return parts, digest.hexdigest()


def _check_etag(reply: dict[str, Any], md5: str, what: str) -> None:
    etag = str(reply.get("ETag", "")).strip('"')
    if etag and "-" not in etag and etag != md5:
        raise StorageError(f"The storage stored {what} with ETag {etag}, not the MD5 {md5} of the bytes sent.",
                           hint="Run the upload again; the storage corrupted the transfer.")


def download_s3(fs: Any, bucket: str, key: str, destination: Path, *, size: int, expected_md5: str | None,
                progress: Progress = None, checksum: bool = True) -> Sent:
    """Download ``bucket/key`` (``size`` bytes) to ``destination``, verified against ``expected_md5``.

    ``checksum=False`` skips the MD5 (only to measure what it costs).
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_name(destination)
    digest = _digest(checksum)
    path = f"{bucket}/{key}"
    try:
        with ThreadPoolExecutor(CONCURRENCY) as pool, open(temporary, "wb") as writer:
            in_flight: collections.deque[Future] = collections.deque()
            for start in range(0, size, PART_SIZE):
                in_flight.append(pool.submit(fs.cat_file, path, start=start, end=min(start + PART_SIZE, size)))
                if len(in_flight) >= 2 * CONCURRENCY:
                    _write(in_flight.popleft().result(), writer, digest, progress)
            while in_flight:
                _write(in_flight.popleft().result(), writer, digest, progress)
        if temporary.stat().st_size != size:
            raise StorageError(f"The object {key!r} ended after {temporary.stat().st_size} of {size} bytes.",
                               hint="Run the command again; the connection was cut.")
        if checksum:
            _check(digest.hexdigest(), expected_md5, f"The object {key!r}")
        os.replace(temporary, destination)
    finally:
        temporary.unlink(missing_ok=True)
    return Sent(size, digest.hexdigest())


def _write(block: bytes, writer: Any, digest: Any, progress: Progress) -> None:
    writer.write(block)
    digest.update(block)
    _tick(progress, len(block))
