"""One store per configured storage: an S3 bucket (through s3fs) or a local folder.

A storage is configured under ``storage.<name>`` in the preferences::

    "storage": {"data": {"protocol": "s3", "endpoint": "https://s3.us-west-2.amazonaws.com",
                         "bucket": "lab-data", "folder": "", "access_key": "...", "secret_key": "..."}}

Paths in a store are relative, with forward slashes (``SUBJECT/SESSION/DATASET/file.bin``);
a path that is absolute or climbs out with ``..`` is refused before anything is sent.

Examples
--------
>>> store = open_store(prefs, "data")                                    # doctest: +SKIP
>>> sent = store.put(Path("/data/S1/20240101_120000/ephys/a.bin"), "S1/20240101_120000/ephys/a.bin")
>>> store.get("S1/20240101_120000/ephys/a.bin", Path("/tmp/a.bin"), md5=sent.md5)   # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from labdata.stores.base import Store
from labdata.stores.local import LocalStore
from labdata.stores.s3 import S3Store
from labdata.stores.settings import StorageSettings, safe_path

__all__ = ["Store", "StorageSettings", "open_store", "safe_path", "store_for"]

_BACKENDS: dict[str, type[Store]] = {"s3": S3Store, "local": LocalStore}


def store_for(settings: StorageSettings) -> Store:
    """The store of ``settings``: an :class:`~labdata.stores.s3.S3Store` or a
    :class:`~labdata.stores.local.LocalStore`, by its protocol."""
    return _BACKENDS[settings.protocol](settings)


def open_store(prefs: Any, name: str) -> Store:
    """The store of ``storage.<name>`` in ``prefs``."""
    return store_for(StorageSettings.from_prefs(prefs, name))
