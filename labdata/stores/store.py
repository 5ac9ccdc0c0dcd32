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

import builtins
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from labdata.core.errors import ConfigError, FilesArchivedError, StorageError
from labdata.stores.errors import translated
from labdata.stores.transfer import CONCURRENCY, PARTIAL_SUFFIX, Progress, Sent, copy_file, download_s3, upload_s3

__all__ = ["Store", "StorageSettings", "open_store", "safe_path"]

_ARCHIVE_CLASSES = {"GLACIER", "DEEP_ARCHIVE"}
_ARCHIVE_TIERS = {"ARCHIVE_ACCESS", "DEEP_ARCHIVE_ACCESS"}  # Intelligent-Tiering


def safe_path(path: str) -> str:
    """Return ``path`` normalised (forward slashes), or raise if it is absolute or leaves its root.

    Examples
    --------
    >>> safe_path("S1/sess/ephys/a.bin")
    'S1/sess/ephys/a.bin'
    >>> safe_path("S1/../../etc/passwd")
    Traceback (most recent call last):
    ...
    labdata.core.errors.StorageError: 'S1/../../etc/passwd' leaves the storage: ...
    """
    text = str(path).replace("\\", "/")
    parts = PurePosixPath(text).parts
    if not text or text.startswith("/") or ".." in parts or (parts and ":" in parts[0]):
        raise StorageError(f"{str(path)!r} leaves the storage: paths must be relative, without '..'.",
                           hint="Give the path relative to the first of your local_paths, e.g. SUBJECT/SESSION/...")
    return posixpath.normpath(text)


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


#: botocore computes and checks no checksum of its own (save the CRC32 that multipart parts declare, see
#: transfer.PART_CHECKSUM): every transfer is checked against the MD5 we compute while the bytes stream
_OUR_CHECKSUMS = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
#: what s3fs's client and the uploads' client are both configured with
_CLIENT_CONFIG = {"retries": {"max_attempts": 3}, **_OUR_CHECKSUMS}


class Store:
    """Files of one storage: put, get, check, list and delete them.

    Parameters
    ----------
    settings : StorageSettings
        The storage. For ``local``, ``folder`` is the root directory.
    """

    def __init__(self, settings: StorageSettings) -> None:
        if settings.protocol == "s3" and not settings.bucket:
            raise ConfigError(f"storage.{settings.name} has no bucket.", hint=f"Set storage.{settings.name}.bucket.")
        if settings.protocol == "local" and not settings.folder:
            raise ConfigError(f"storage.{settings.name} has no folder.", hint=f"Set storage.{settings.name}.folder.")
        self.settings = settings
        self._fs: Any = None
        self._client: Any = None

    def __repr__(self) -> str:
        return f"<Store {self.name!r} {'s3://' if self.is_s3 else ''}{self.root}>"

    @property
    def name(self) -> str:
        """The storage's name."""
        return self.settings.name

    @property
    def root(self) -> str:
        """Where paths start: ``bucket/folder`` (S3) or the folder's absolute path (local)."""
        s = self.settings
        if self.is_s3:
            return f"{s.bucket}/{s.folder.strip('/')}".rstrip("/")
        return str(Path(s.folder).expanduser().absolute())

    @property
    def is_s3(self) -> bool:
        """Whether the storage is an S3 bucket."""
        return self.settings.protocol == "s3"

    @property
    def fs(self) -> Any:
        """The s3fs filesystem (made on first use)."""
        if self._fs is None:
            import s3fs

            s = self.settings
            self._fs = s3fs.S3FileSystem(key=s.access_key, secret=s.secret_key, anon=False,
                                         endpoint_url=s.endpoint_url, skip_instance_cache=True,
                                         config_kwargs=_CLIENT_CONFIG)
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
        """The object key (S3) or absolute file path (local) of a storage path."""
        path = safe_path(path)
        if self.is_s3:
            folder = self.settings.folder.strip("/")
            return f"{folder}/{path}" if folder else path
        return str(Path(self.root, path))

    def open(self, path: str) -> Any:
        """A read-only binary file of ``path`` that fetches byte ranges as they are read (seekable)."""
        key = self.key(path)
        with translated(self.name, path, "read"):
            if not self.is_s3:
                return open(key, "rb")  # the caller owns the file
            return self.fs.open(f"{self.settings.bucket}/{key}", "rb")

    # ---- transfers ---------------------------------------------------------------------
    def put(self, source: Path, path: str, *, progress: Progress = None, md5: str | None = None) -> Sent:
        """Store the local file ``source`` at ``path``; return its size and the MD5 of the bytes sent.

        Raises
        ------
        ChecksumMismatchError
            ``md5`` is given and the bytes read differ from it (nothing is stored).
        """
        key = self.key(path)
        with translated(self.name, path, "upload"):
            if not self.is_s3:
                return copy_file(Path(source), Path(key), progress=progress, expected_md5=md5)
            return upload_s3(self.client, self.settings.bucket, key, Path(source), progress=progress, expected_md5=md5)

    def get(self, path: str, destination: Path, *, md5: str | None = None, size: int | None = None,
            progress: Progress = None) -> Path:
        """Download ``path`` to ``destination``, checking its MD5 when one is given; return ``destination``.

        ``size`` (bytes, as File records it) saves a HEAD request: the object's size and archive
        state are then asked for only if the download fails.

        Raises
        ------
        ChecksumMismatchError
            The bytes differ from ``md5`` (``destination`` is left as it was).
        FilesArchivedError
            The object is in an archive tier and not restored.
        """
        key = self.key(path)
        destination = Path(destination)
        with translated(self.name, path, "download"):
            if not self.is_s3:
                copy_file(Path(key), destination, progress=progress, expected_md5=md5)
                return destination
            known = size is not None
            try:
                download_s3(self.fs, self.settings.bucket, key, destination,
                            size=int(size) if known else self._available_size(path, key), expected_md5=md5,
                            progress=progress)
            except OSError:
                if known:  # an archived object refuses GETs: say so rather than "access denied"
                    self._available_size(path, key)
                raise
        return destination

    def _available_size(self, path: str, key: str) -> int:
        """The object's size; raises FilesArchivedError if it must be restored first."""
        info = self._head(key)
        state = _archive_state(info)
        if state != "available":
            raise _archived({path: state}, [])
        return int(info["ContentLength"])

    # ---- inspection ----------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        """Whether an object or file is stored at ``path``."""
        key = self.key(path)
        with translated(self.name, path, "check"):
            if not self.is_s3:
                return os.path.isfile(key)
            try:
                self._head(key)
            except FileNotFoundError:
                return False
            return True

    def size(self, path: str) -> int:
        """Bytes stored at ``path``."""
        key = self.key(path)
        with translated(self.name, path, "check"):
            return os.path.getsize(key) if not self.is_s3 else int(self._head(key)["ContentLength"])

    def list(self, prefix: str = "") -> list[str]:
        """Storage paths under ``prefix`` (relative to the storage's root), sorted."""
        with translated(self.name, prefix or "/", "list"):
            root = self.root
            base = f"{root}/{safe_path(prefix)}" if prefix else root
            if not self.is_s3:
                return sorted(p.relative_to(root).as_posix() for p in Path(base).rglob("*")
                              if p.is_file() and not p.name.endswith(PARTIAL_SUFFIX))
            self.fs.invalidate_cache()
            return sorted(p[len(root) + 1:] for p in self.fs.find(base))

    def delete(self, path: str) -> None:
        """Delete the object (every version, on a versioned bucket) or file at ``path``; a missing one is fine."""
        key = self.key(path)
        with translated(self.name, path, "delete"):
            if not self.is_s3:
                Path(key).unlink(missing_ok=True)
                return
            bucket = self.settings.bucket
            listing = self.fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key)
            versions = [v for kind in ("Versions", "DeleteMarkers") for v in listing.get(kind, []) if v["Key"] == key]
            for version in versions:
                self.fs.call_s3("delete_object", Bucket=bucket, Key=key, VersionId=version["VersionId"])
            if not versions:
                self.fs.call_s3("delete_object", Bucket=bucket, Key=key)
            self.fs.invalidate_cache()

    # ---- archive tiers -------------------------------------------------------------------
    def archive_status(self, paths: builtins.list[str]) -> dict[str, str]:
        """Per path: ``"available"``, ``"archived"`` (GLACIER, DEEP_ARCHIVE) or ``"restoring"``."""
        if not self.is_s3:
            return dict.fromkeys(paths, "available")
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

    def check_available(self, paths: builtins.list[str], *, restore: bool = False) -> None:
        """Raise :class:`FilesArchivedError` if any path must be restored first (requesting it if ``restore``)."""
        status = self.archive_status(paths)
        waiting = {p: s for p, s in status.items() if s != "available"}
        if waiting:
            raise _archived(waiting, self.request_restore(list(waiting)) if restore else [])

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


def _archived(status: dict[str, str], requested: list[str]) -> FilesArchivedError:
    restoring = sorted(p for p, s in status.items() if s == "restoring")
    archived = sorted(p for p, s in status.items() if s == "archived" and p not in requested)
    parts = []
    if archived:
        parts.append(f"{len(archived)} archived (e.g. {archived[0]!r})")
    if requested:
        parts.append(f"{len(requested)} restore(s) requested now")
    if restoring:
        parts.append(f"{len(restoring)} being restored (e.g. {restoring[0]!r})")
    hint = ("Restores take hours (GLACIER) to two days (DEEP_ARCHIVE); run the command again later."
            if requested or (restoring and not archived) else
            "Request a restore (restore=True, or answer yes when asked), then try again once it is done.")
    return FilesArchivedError(f"Files are in an archive tier: {', '.join(parts)}.", status=status,
                              requested=requested, hint=hint)


def open_store(prefs: Any, name: str) -> Store:
    """The :class:`Store` of ``storage.<name>`` in ``prefs``."""
    return Store(StorageSettings.from_prefs(prefs, name))
