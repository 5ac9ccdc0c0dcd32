"""Storage settings (``storage.<name>`` in the preferences) and the paths stores accept."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from labdata.core.errors import ConfigError, StorageError

__all__ = ["StorageSettings", "safe_path"]


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
