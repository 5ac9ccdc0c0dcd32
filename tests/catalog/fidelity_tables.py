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


@registry.group("data")
class Typed(Manual):
    """Decimal, uuid and year attributes, a unique index and a plain index."""

    definition = """
    typed_id : smallint
    ---
    code = NULL : int
    price = NULL : decimal(8,3)
    token = NULL : uuid
    born = NULL : year
    unique index (code)
    index (price)
    """
