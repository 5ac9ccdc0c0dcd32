"""Two small tables for the algebra property tests."""

from __future__ import annotations

from labdata.catalog import Manual
from labdata.catalog.declare.registry import TableRegistry

registry = TableRegistry()


@registry.group("data")
class Alpha(Manual):
    """Rows with nullable values."""

    definition = """
    a_id : int
    ---
    x = NULL : int
    g = NULL : varchar(8)
    """


@registry.group("data")
class Beta(Manual):
    """Rows referring to Alpha."""

    definition = """
    -> Alpha
    b_id : int
    ---
    y = NULL : double
    g = NULL : varchar(8)
    """
