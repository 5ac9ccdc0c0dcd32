"""What every store does, whatever holds its files: the interface, and the archive-tier checks built on it."""

from __future__ import annotations

import abc
import builtins
from pathlib import Path
from typing import Any

from labdata.core.errors import FilesArchivedError
from labdata.stores.settings import StorageSettings
from labdata.stores.transfer import Progress, Sent

__all__ = ["Store", "archived_error"]


class Store(abc.ABC):
    """Files of one storage: put, get, check, list and delete them (one subclass per backend).

    Parameters
    ----------
    settings : StorageSettings
        The storage.
    """

    scheme = ""

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.scheme}{self.root}>"

    @property
    def name(self) -> str:
        """The storage's name."""
        return self.settings.name

    @property
    @abc.abstractmethod
    def root(self) -> str:
        """Where paths start."""
        raise NotImplementedError

    @abc.abstractmethod
    def key(self, path: str) -> str:
        """Where a storage path is held by the backend (object key, file path)."""
        raise NotImplementedError

    @abc.abstractmethod
    def open(self, path: str) -> Any:
        """A read-only binary file of ``path`` that fetches byte ranges as they are read (seekable)."""
        raise NotImplementedError

    @abc.abstractmethod
    def put(self, source: Path, path: str, *, progress: Progress = None, md5: str | None = None) -> Sent:
        """Store the local file ``source`` at ``path``; return its size and the MD5 of the bytes sent.

        Raises
        ------
        ChecksumMismatchError
            ``md5`` is given and the bytes read differ from it (nothing is stored).
        """
        raise NotImplementedError

    @abc.abstractmethod
    def get(self, path: str, destination: Path, *, md5: str | None = None, size: int | None = None,
            progress: Progress = None) -> Path:
        """Download ``path`` to ``destination``, checking its MD5 when one is given; return ``destination``.

        ``size`` (bytes, as File records it) saves a request where the backend would ask for it.

        Raises
        ------
        ChecksumMismatchError
            The bytes differ from ``md5`` (``destination`` is left as it was).
        FilesArchivedError
            The object is in an archive tier and not restored.
        """
        raise NotImplementedError

    @abc.abstractmethod
    def exists(self, path: str) -> bool:
        """Whether an object or file is stored at ``path``."""
        raise NotImplementedError

    @abc.abstractmethod
    def size(self, path: str) -> int:
        """Bytes stored at ``path``."""
        raise NotImplementedError

    @abc.abstractmethod
    def list(self, prefix: str = "") -> builtins.list[str]:
        """Storage paths under ``prefix`` (relative to the storage's root), sorted."""
        raise NotImplementedError

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete what is stored at ``path`` (every version, where kept); a missing one is fine."""
        raise NotImplementedError

    # ---- archive tiers -------------------------------------------------------------------
    def archive_status(self, paths: builtins.list[str]) -> dict[str, str]:
        """Per path: ``"available"``, ``"archived"`` (GLACIER, DEEP_ARCHIVE) or ``"restoring"``."""
        return dict.fromkeys(paths, "available")

    def request_restore(self, paths: builtins.list[str], *, days: int = 7) -> builtins.list[str]:
        """Ask for archived objects to be restored for ``days`` days; return the paths a restore was requested for."""
        return []

    def check_available(self, paths: builtins.list[str], *, restore: bool = False) -> None:
        """Raise :class:`FilesArchivedError` if any path must be restored first (requesting it if ``restore``)."""
        status = self.archive_status(paths)
        waiting = {p: s for p, s in status.items() if s != "available"}
        if waiting:
            raise archived_error(waiting, self.request_restore(list(waiting)) if restore else [])


def archived_error(status: dict[str, str], requested: builtins.list[str]) -> FilesArchivedError:
    """The error for paths that must be restored first, saying which restores were requested and what to do."""
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
