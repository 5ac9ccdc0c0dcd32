"""``dj``: the DataJoint names the seeds' code uses, so ``dj.U('a') & q`` keeps working.

The original package exposed the ``datajoint`` module as ``dj`` through
``from labdata.schema import *``; this namespace holds labdata's versions of
the names such code uses.
"""

from __future__ import annotations

from types import SimpleNamespace

from labdata.catalog.tables.query import U
from labdata.catalog.expr.predicates import AndList, Not
from labdata.catalog import Computed, Imported, Lookup, Manual, Part
from labdata.core.errors import DuplicateError, LabdataError, MissingParentError

__all__ = ["dj"]

dj = SimpleNamespace(
    U=U, AndList=AndList, Not=Not, Manual=Manual, Lookup=Lookup, Imported=Imported, Computed=Computed,
    Part=Part, DataJointError=LabdataError,
    errors=SimpleNamespace(DuplicateError=DuplicateError, IntegrityError=MissingParentError),
)
