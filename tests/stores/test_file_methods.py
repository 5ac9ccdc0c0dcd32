"""File.get, check_if_files_local and check_if_files_archived on a moto bucket, through the File table."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from labdata.catalog import Context, Lake, use
from labdata.core.config import Preferences
from labdata.core.errors import ChecksumMismatchError, FilesArchivedError
from labdata.schema import File
from labdata.stores import open_store
from templates import copy_sqlite_lake

FILES = {"S1/20240101_120000/ephys/a.bin": b"a" * 1000, "S1/20240101_120000/ephys/b.meta": b"nSavedChans=385\n",
         "S1/20240101_120000/ephys/c.bin": bytes(range(256)) * 5000}


@pytest.fixture
def analyst(tmp_path, s3_server, bucket):
    """A lake whose File rows point at objects in the moto bucket; the analyst's local paths are empty."""
    prefs = Preferences.load(tmp_path / "prefs.json")
    prefs.set("storage.data", {"protocol": "s3", "endpoint": s3_server.endpoint, "bucket": bucket,
                               "folder": "raw", "access_key": "test", "secret_key": "test"})
    prefs.set("local_paths", [str(tmp_path / "analyst"), str(tmp_path / "shared")])
    lake = Lake("sqlite", copy_sqlite_lake(tmp_path / "lake", "files"))
    context = Context(lake, "files", prefs)
    rig = tmp_path / "rig"
    store = open_store(prefs, "data")
    rows = []
    for path, data in FILES.items():
        (rig / path).parent.mkdir(parents=True, exist_ok=True)
        (rig / path).write_bytes(data)
        sent = store.put(rig / path, path)
        rows.append(dict(file_path=path, storage="data", file_datetime=dt.datetime(2024, 1, 1),
                         file_size=sent.size, file_md5=sent.md5))
    with use(context):
        File.insert(rows)
        yield context, tmp_path, store
    lake.close()


def test_get_downloads_only_what_no_local_path_has(analyst) -> None:
    _, root, store = analyst
    shared = root / "shared" / "S1/20240101_120000/ephys/b.meta"
    shared.parent.mkdir(parents=True)
    shared.write_bytes(FILES["S1/20240101_120000/ephys/b.meta"])
    found, missing = File.check_if_files_local()
    assert found == [shared] and sorted(missing) == ["S1/20240101_120000/ephys/a.bin", "S1/20240101_120000/ephys/c.bin"]
    paths = File.get(progress=False)
    assert [p.relative_to(root).as_posix() for p in paths] == [
        "analyst/S1/20240101_120000/ephys/a.bin", "shared/S1/20240101_120000/ephys/b.meta",
        "analyst/S1/20240101_120000/ephys/c.bin"]
    for path in paths:
        assert path.read_bytes() == FILES[path.relative_to(path.parents[3]).as_posix()]
    assert File.check_if_files_local()[1] == []
    store.delete("S1/20240101_120000/ephys/a.bin")  # a second get needs no storage
    assert (File & {"file_path": "S1/20240101_120000/ephys/a.bin"}).get(progress=False) == [paths[0]]


def test_a_corrupted_object_is_refused_by_get(analyst, s3_server) -> None:
    _, root, store = analyst
    key = store.key("S1/20240101_120000/ephys/c.bin")
    s3_server.client().put_object(Bucket=store.settings.bucket, Key=key, Body=b"x" * len(FILES[
        "S1/20240101_120000/ephys/c.bin"]))
    with pytest.raises(ChecksumMismatchError, match=hashlib.md5(b"x" * 1280000).hexdigest()):
        (File & {"file_path": "S1/20240101_120000/ephys/c.bin"}).get(progress=False)
    assert not (root / "analyst" / "S1/20240101_120000/ephys/c.bin").exists()


def test_archived_files_stop_get_before_any_download(analyst, s3_server) -> None:
    _, root, store = analyst
    key = store.key("S1/20240101_120000/ephys/a.bin")
    s3_server.client().copy_object(Bucket=store.settings.bucket, Key=key, StorageClass="GLACIER",
                                   CopySource={"Bucket": store.settings.bucket, "Key": key})
    assert File.check_if_files_archived(suppress_error=True) is True
    with pytest.raises(FilesArchivedError):
        File.get(progress=False)
    assert not (root / "analyst").exists()
    assert (File & {"file_path": "S1/20240101_120000/ephys/b.meta"}).check_if_files_archived() is False


def test_fetch_named_attributes_as_dicts_as_datajoint(analyst) -> None:
    rows = File.fetch("file_path", "file_size", as_dict=True)
    assert rows[0] == {"file_path": "S1/20240101_120000/ephys/a.bin", "file_size": 1000.0}
    assert set(File.fetch("KEY", "file_md5", as_dict=True)[0]) == {"file_path", "storage", "file_md5"}
