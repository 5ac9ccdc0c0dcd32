"""Small tables for the DataJoint-fidelity tests."""

from __future__ import annotations

from labdata.catalog import Manual, Part
from labdata.catalog.declare.registry import TableRegistry

registry = TableRegistry()


@registry.group("data")
class Animal(Manual):
    """Animals with values of many types."""

    definition = """
    animal_id : int
    ---
    sex = "U" : enum('M', 'F', 'U')
    weight = NULL : float
    height = NULL : double
    info = NULL : blob
    """


@registry.group("data")
class Visit(Manual):
    """Visits of an animal."""

    definition = """
    -> Animal
    visit : int
    ---
    weight = NULL : float
    note = "" : varchar(32)
    """

    class Sample(Part):
        """Samples taken at a visit."""

        definition = """
        -> master
        sample : int
        ---
        amount = NULL : double
        """
