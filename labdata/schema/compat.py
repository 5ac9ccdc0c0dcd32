"""``dj``: kept for code that imports it from here; the names live in :mod:`labdata.schema.dj`.

The original package exposed the ``datajoint`` module as ``dj`` through
``from labdata.schema import *``; :mod:`labdata.schema.dj` holds labdata's
versions of the names such code uses, ``dj.Schema`` for a lab's own tables included.
"""

from __future__ import annotations

from labdata.schema import dj

__all__ = ["dj"]
