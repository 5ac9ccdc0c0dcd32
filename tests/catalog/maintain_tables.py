"""A lab's own table of large arrays (kept outside the catalog, in ``catalog/arrays``) for the maintenance tests."""

from __future__ import annotations

from labdata.schema import dj

schema = dj.Schema("user", locals())


@schema
class Trace(dj.Manual):
    definition = """
    trace_id : int
    ---
    samples : longblob
    """
