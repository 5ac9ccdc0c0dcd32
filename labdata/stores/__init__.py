"""Stores: the S3 buckets and local folders that hold the lake's files (see :mod:`labdata.stores.store`)."""

from labdata.stores.store import StorageSettings, Store, open_store, safe_path
from labdata.stores.transfer import Sent

__all__ = ["Sent", "StorageSettings", "Store", "open_store", "safe_path"]
