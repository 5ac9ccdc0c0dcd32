"""The paths stores accept; storage settings (``storage.<name>``) are :class:`labdata.core.storage.StorageSettings`."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath

from labdata.core.errors import StorageError
from labdata.core.storage import StorageSettings

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
