"""What ``storage.<name>`` in the preferences says, and the fsspec filesystem it names.

The settings live in core (not in :mod:`labdata.stores`) because the catalog reads the Zarr
arrays its rows point to (spike trains) from a storage too, through :meth:`StorageSettings.filesystem`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from labdata.core.errors import ConfigError

__all__ = ["CLIENT_CONFIG", "StorageSettings"]

#: botocore computes and checks no checksum of its own (save the CRC32 that multipart parts declare):
#: every transfer is checked against the MD5 labdata computes while the bytes stream
_OUR_CHECKSUMS = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
#: what s3fs's client and the uploads' client are both configured with
CLIENT_CONFIG = {"retries": {"max_attempts": 3}, **_OUR_CHECKSUMS}


@dataclass(frozen=True)
class StorageSettings:
    """What ``storage.<name>`` says: protocol ``s3`` or ``local``, endpoint, bucket, folder, keys."""

    name: str
    protocol: str
    bucket: str | None = None
    folder: str = ""
    endpoint: str | None = None
    access_key: str | None = None
    secret_key: str | None = None

    @classmethod
    def from_prefs(cls, prefs: Any, name: str) -> StorageSettings:
        """Read ``storage.<name>`` (secrets decrypted) from :class:`~labdata.core.config.Preferences`."""
        entry = prefs.get(f"storage.{name}")
        if not isinstance(entry, dict):
            known = ", ".join(sorted(prefs.get("storage") or {})) or "none"
            raise ConfigError(f"There is no storage {name!r} in the preferences (configured: {known}).",
                              hint=f"Add storage.{name} with protocol, bucket/folder and keys, or pick another.")
        protocol = entry.get("protocol") or "s3"
        if protocol not in ("s3", "local"):
            raise ConfigError(f"storage.{name}.protocol is {protocol!r}.", hint="Use 's3' or 'local'.")
        return cls(name, protocol, entry.get("bucket"), entry.get("folder") or "",
                   entry.get("endpoint"), entry.get("access_key"), prefs.secret(f"storage.{name}.secret_key"))

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint as a URL (``None``: AWS's own)."""
        endpoint = self.endpoint
        if not endpoint or ("amazonaws.com" in endpoint and "://" not in endpoint):
            return None
        if "://" in endpoint:
            return endpoint
        local = endpoint.startswith(("127.", "localhost", "[::1]"))
        return f"{'http' if local else 'https'}://{endpoint}"

    def filesystem(self) -> tuple[Any, str]:
        """The fsspec filesystem of this storage and the root of its paths in it.

        Returns
        -------
        (fsspec.AbstractFileSystem, str)
            ``s3fs.S3FileSystem`` and ``bucket/folder`` for S3; the local filesystem and the
            folder's absolute path for a local storage.
        """
        if self.protocol == "local":
            from pathlib import Path

            from fsspec.implementations.local import LocalFileSystem

            if not self.folder:
                raise ConfigError(f"storage.{self.name} has no folder.", hint=f"Set storage.{self.name}.folder.")
            return LocalFileSystem(auto_mkdir=True), str(Path(self.folder).expanduser().absolute())
        import s3fs

        if not self.bucket:
            raise ConfigError(f"storage.{self.name} has no bucket.", hint=f"Set storage.{self.name}.bucket.")
        fs = s3fs.S3FileSystem(key=self.access_key, secret=self.secret_key, anon=False,
                               endpoint_url=self.endpoint_url, skip_instance_cache=True, config_kwargs=CLIENT_CONFIG)
        return fs, f"{self.bucket}/{self.folder.strip('/')}".rstrip("/")

    def target(self) -> tuple[Any, str]:
        """Where arrays of this storage are read and written: ``(None, folder)`` for a local folder
        (plain file calls, memory-mapped reads), else :meth:`filesystem`."""
        fs, root = self.filesystem()
        return (None, root) if self.protocol == "local" else (fs, root)
