"""A lab's own table in the ``user`` schema of each project, for the facade tests (imported by the server)."""

from __future__ import annotations

from labdata.schema import dj

schema = dj.Schema("user", locals())


@schema
class LabNote(dj.Manual):
    definition = """
    # a note of the lab's own
    note_id : int
    ---
    note_text : varchar(200)
    """
