"""A lab's own table in the ``user`` schema of each project, for the facade tests (imported by the server)."""

from __future__ import annotations

from typing import ClassVar

import click

from labdata.compute.analysis import Analysis
from labdata.compute.task import RunningTask
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


class DeleteNote(Analysis):
    """A compute task that deletes a lab note (its commit shows the task in ``labdata history``)."""

    name = "delete-note"
    params: ClassVar[list[click.Parameter]] = [click.Option(["--note"], type=int, required=True)]
    per_dataset = False

    def compute(self, task: RunningTask) -> None:
        (LabNote(task.context) & {"note_id": task.parameters["note"]}).delete(safemode=False)
