"""An S3 bucket as a store: gets, listings and deletes through s3fs, uploads through botocore's client.

Uploads take botocore's blocking client, one connection per part-sending thread
(see :mod:`labdata.stores.transfer`); everything else goes through s3fs. Objects
in an archive tier (GLACIER, DEEP_ARCHIVE, Intelligent-Tiering's archive tiers)
are reported and can be restored.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

from labdata.core.errors import ConfigError
from labdata.core.storage import CLIENT_CONFIG as _CLIENT_CONFIG
from labdata.stores.base import Store, archived_error
from labdata.stores.errors import translated
from labdata.stores.settings import StorageSettings, safe_path
from labdata.stores.transfer import CONCURRENCY, Progress, Sent, download_s3, upload_s3

__all__ = ["S3Store"]

_ARCHIVE_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}
_ARCHIVE_TIERS = {"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"}  # Intelligent-Tiering


class S3Store(Store):
    """Objects under ``bucket/folder`` of an S3 endpoint.

    Parameters
    ----------
    settings : StorageSettings
        ``protocol`` ``s3``, with bucket, folder, endpoint and keys.
    """

    scheme = "s3://"

    def __init__(self, settings: StorageSettings) -> None:
        if not settings.bucket:
            raise ConfigError(f"storage.{settings.name} has no bucket.", hint=f"Set storage.{settings.name}.bucket.")
        super().__init__(settings)
        self._fs: Any = None
        self._client: Any = None

    @property
    def root(self) -> str:
        """``bucket/folder``."""
        s = self.settings
        return f"{s.bucket}/{s.folder.strip('/')}".rstrip("/")

    @property
    def fs(self) -> Any:
        """The s3fs filesystem (made on first use)."""
        if self._fs is None:
            self._fs = self.settings.filesystem()[0]
        return self._fs

    @property
    def client(self) -> Any:
        """botocore's blocking S3 client, which uploads take (made on first use; see :mod:`.transfer`)."""
        if self._client is None:
            import botocore.session
            from botocore.config import Config

            s = self.settings
            config = Config(max_pool_connections=CONCURRENCY, **_CLIENT_CONFIG)
            self._client = botocore.session.get_session().create_client(
                "s3", endpoint_url=s.endpoint_url, aws_access_key_id=s.access_key,
                aws_secret_access_key=s.secret_key, config=config)
        return self._client

    def key(self, path: str) -> str:
        """The object key of a storage path."""
        path = safe_path(path)
        folder = self.settings.folder.strip("/")
        return f"{folder}/{path}" if folder else path

    def open(self, path: str) -> Any:
        """The object, read by byte ranges as the file is read."""
        key = self.key(path)
        with translated(self.name, path, "read"):
            return self.fs.open(f"{self.settings.bucket}/{key}", "rb")

    def put(self, source: Path, path: str, *, progress: Progress = None, md5: str | None = None) -> Sent:
        """Upload ``source`` in parts (see :meth:`Store.put`)."""
        key = self.key(path)
        with translated(self.name, path, "upload"):
            return upload_s3(self.client, self.settings.bucket, key, Path(source), progress=progress, expected_md5=md5)

    def get(self, path: str, destination: Path, *, md5: str | None = None, size: int | None = None,
            progress: Progress = None) -> Path:
        """Download ``path`` in ranges (see :meth:`Store.get`); without ``size`` a HEAD asks for it and the
        archive state, which is otherwise asked for only if the download fails."""
        key = self.key(path)
        destination = Path(destination)
        with translated(self.name, path, "download"):
            try:
                download_s3(self.fs, self.settings.bucket, key, destination,
                            size=int(size) if size is not None else self._available_size(path, key),
                            expected_md5=md5, progress=progress)
            except OSError:
                if size is not None:  # an archived object refuses GETs: say so rather than "access denied"
                    self._available_size(path, key)
                raise
        return destination

    def _available_size(self, path: str, key: str) -> int:
        """The object's size; raises FilesArchivedError if it must be restored first."""
        info = self._head(key)
        state = _archive_state(info)
        if state != "available":
            raise archived_error({path: state}, [])
        return int(info["ContentLength"])

    def exists(self, path: str) -> bool:
        """Whether an object is stored at ``path``."""
        key = self.key(path)
        with translated(self.name, path, "check"):
            try:
                self._head(key)
            except FileNotFoundError:
                return False
            return True

    def size(self, path: str) -> int:
        """Bytes stored at ``path``."""
        key = self.key(path)
        with translated(self.name, path, "check"):
            return int(self._head(key)["ContentLength"])

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Objects under ``prefix``."""
        with translated(self.name, prefix or "/", "list"):
            root = self.root
            base = f"{root}/{safe_path(prefix)}" if prefix else root
            self.fs.invalidate_cache()
            return sorted(p[len(root) + 1:] for p in self.fs.find(base))

    def delete(self, path: str) -> None:
        """Delete every version of the object at ``path`` (a versioned bucket keeps them); a missing one is fine."""
        key = self.key(path)
        with translated(self.name, path, "delete"):
            bucket = self.settings.bucket
            listing = self.fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key)
            versions = [v for kind in ("Versions", "DeleteMarkers") for v in listing.get(kind, []) if v["Key"] == key]
            for version in versions:
                self.fs.call_s3("delete_object", Bucket=bucket, Key=key, VersionId=version["VersionId"])
            if not versions:
                self.fs.call_s3("delete_object", Bucket=bucket, Key=key)
            self.fs.invalidate_cache()

    def archive_status(self, paths: builtins.list[str]) -> dict[str, str]:
        """Per path: ``"available"``, ``"archived"`` (GLACIER, DEEP_ARCHIVE) or ``"restoring"``."""
        status = {}
        for path in paths:
            with translated(self.name, path, "check"):
                status[path] = _archive_state(self._head(self.key(path)))
        return status

    def request_restore(self, paths: builtins.list[str], *, days: int = 7) -> builtins.list[str]:
        """Ask S3 to restore archived objects for ``days`` days; return the paths a restore was requested for."""
        requested = []
        for path, state in self.archive_status(paths).items():
            if state == "archived":
                with translated(self.name, path, "restore"):
                    self.fs.call_s3("restore_object", Bucket=self.settings.bucket, Key=self.key(path),
                                    RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": "Standard"}})
                requested.append(path)
        return requested

    def _head(self, key: str) -> dict[str, Any]:
        return self.fs.call_s3("head_object", Bucket=self.settings.bucket, Key=key)


def _archive_state(info: dict[str, Any]) -> str:
    archived = info.get("StorageClass") in _ARCHIVE_CLASSES or info.get("ArchiveStatus") in _ARCHIVE_TIERS
    if not archived:
        return "available"
    restore = info.get("Restore") or ""
    if 'ongoing-request="false"' in restore:
        return "available"
    return "restoring" if 'ongoing-request="true"' in restore else "archived"
