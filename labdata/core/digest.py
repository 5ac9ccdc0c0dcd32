"""The digest of a local file, read once in large blocks."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_digest"]

#: bytes read at a time
BLOCK = 1 << 24


def file_digest(path: str | Path, algorithm: str = "md5") -> str:
    """The hex digest (``md5``, ``sha1``, ...) of the file at ``path``."""
    digest = hashlib.new(algorithm, usedforsecurity=False)
    with open(path, "rb") as reader:
        while block := reader.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()
