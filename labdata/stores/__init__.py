"""Stores: the S3 buckets and local folders that hold the lake's files (see :mod:`labdata.stores.store`)."""

from labdata.stores.store import StorageSettings, Store, open_store, safe_path, store_for
from labdata.stores.transfer import Sent, md5_of

__all__ = ["Sent", "StorageSettings", "Store", "md5_of", "open_store", "safe_path", "store_for"]
