"""A local folder as a store (a lab server's disk, a mounted share, the demo's storage)."""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

from labdata.core.errors import ConfigError
from labdata.stores.base import Store
from labdata.stores.errors import translated
from labdata.stores.settings import StorageSettings, safe_path
from labdata.stores.transfer import PARTIAL_SUFFIX, Progress, Sent, copy_file

__all__ = ["LocalStore"]


class LocalStore(Store):
    """Files under one folder; copies are checked against their MD5 as they stream.

    Parameters
    ----------
    settings : StorageSettings
        ``protocol`` ``local``; ``folder`` is the root directory.
    """

    def __init__(self, settings: StorageSettings) -> None:
        if not settings.folder:
            raise ConfigError(f"storage.{settings.name} has no folder.", hint=f"Set storage.{settings.name}.folder.")
        super().__init__(settings)

    @property
    def root(self) -> str:
        """The folder's absolute path."""
        return str(Path(self.settings.folder).expanduser().absolute())

    def key(self, path: str) -> str:
        """The absolute file path of a storage path."""
        return str(Path(self.root, safe_path(path)))

    def open(self, path: str) -> Any:
        """The file, opened for reading."""
        key = self.key(path)
        with translated(self.name, path, "read"):
            return open(key, "rb")

    def put(self, source: Path, path: str, *, progress: Progress = None, md5: str | None = None) -> Sent:
        """Copy ``source`` to ``path`` (see :meth:`Store.put`)."""
        key = self.key(path)
        with translated(self.name, path, "upload"):
            return copy_file(Path(source), Path(key), progress=progress, expected_md5=md5)

    def get(self, path: str, destination: Path, *, md5: str | None = None, size: int | None = None,
            progress: Progress = None) -> Path:
        """Copy ``path`` to ``destination`` (see :meth:`Store.get`)."""
        key = self.key(path)
        destination = Path(destination)
        with translated(self.name, path, "download"):
            copy_file(Path(key), destination, progress=progress, expected_md5=md5)
        return destination

    def exists(self, path: str) -> bool:
        """Whether a file is stored at ``path``."""
        key = self.key(path)
        with translated(self.name, path, "check"):
            return os.path.isfile(key)

    def size(self, path: str) -> int:
        """Bytes stored at ``path``."""
        key = self.key(path)
        with translated(self.name, path, "check"):
            return os.path.getsize(key)

    def list(self, prefix: str = "") -> builtins.list[str]:
        """Files under ``prefix``, partial copies left out."""
        with translated(self.name, prefix or "/", "list"):
            root = self.root
            base = f"{root}/{safe_path(prefix)}" if prefix else root
            return sorted(p.relative_to(root).as_posix() for p in Path(base).rglob("*")
                          if p.is_file() and not p.name.endswith(PARTIAL_SUFFIX))

    def delete(self, path: str) -> None:
        """Delete the file at ``path``; a missing one is fine."""
        key = self.key(path)
        with translated(self.name, path, "delete"):
            Path(key).unlink(missing_ok=True)
