"""Procedures done to subjects: weighings, surgeries, watering, water restriction, death.

The module mirrors the original ``labdata/schema/procedures.py``; every table
lives in the project data schema (``@data``).
"""

from __future__ import annotations

from typing import ClassVar

from labdata.catalog.tables.table import Lookup, Manual
from labdata.schema._registry import data

__all__ = ["Death", "Procedure", "ProcedureType", "WaterRestriction", "Watering", "Weighing"]


@data
class Weighing(Manual):
    """Body weight of a subject."""

    definition = """
    -> Subject
    weighing_datetime : datetime
    ---
    weight : float                          # grams
    """


@data
class ProcedureType(Lookup):
    """Kinds of procedures."""

    definition = """
    procedure_type : varchar(52)
    """
    contents: ClassVar[list[tuple[str]]] = [
        ("surgery",), ("chronic implant",), ("chronic explant",), ("injection",),
        ("window implant",), ("window replacement",), ("handling",), ("training",),
        ("craniotomy",), ("euthanasia",),
    ]


@data
class Procedure(Manual):
    """A procedure done to a subject (surgery, injection, handling, ...)."""

    definition = """
    -> Subject
    -> ProcedureType
    procedure_datetime : datetime
    ---
    -> LabMember                            # who did the procedure
    procedure_metadata = NULL : longblob    # free dict, e.g. coordinates, injected virus
    -> [nullable] Weighing
    -> [nullable] Note
    """


@data
class Watering(Manual):
    """Water given to a subject."""

    definition = """
    -> Subject
    watering_datetime : datetime
    ---
    water_volume : float                    # mL (the original code says mL, its docs say microliters)
    """


@data
class WaterRestriction(Manual):
    """A period of water restriction of a subject."""

    definition = """
    -> Subject
    water_restriction_start_date : date
    ---
    -> LabMember
    water_restriction_end_date : date
    -> Weighing                             # reference weight
    """


@data
class Death(Manual):
    """Death of a subject."""

    definition = """
    -> Subject
    ---
    death_date : datetime
    -> [nullable] Note
    """
