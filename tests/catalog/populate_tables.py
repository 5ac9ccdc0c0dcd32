"""Tables for the populate tests (importable, so worker processes can make them)."""

from __future__ import annotations

import os
import uuid

from labdata.catalog import Computed, Manual, Part
from labdata.catalog.declare.registry import TableRegistry

registry = TableRegistry()


@registry.group("data")
class Item(Manual):
    """Something to compute from."""

    definition = """
    item_id : int
    ---
    value : int
    """


@registry.group("data")
class MakeAudit(Manual):
    """One row per call of make, to count calls."""

    definition = """
    call_id : char(32)
    ---
    item_id : int
    pid : int
    """


@registry.group("computed")
class ItemSquare(Computed):
    """The square of an item's value, with its digits as parts."""

    definition = """
    -> Item
    ---
    square : bigint
    """

    class Digit(Part):
        definition = """
        -> master
        position : int
        ---
        digit : tinyint
        """

    def make(self, key: dict) -> None:
        value = (Item & key).fetch1("value")
        if value < 0:
            raise ValueError(f"negative value {value}")
        square = value * value
        MakeAudit.insert1(dict(call_id=uuid.uuid4().hex, item_id=key["item_id"], pid=os.getpid()))
        self.insert1(dict(key, square=square))
        self.Digit.insert([dict(key, position=i, digit=int(d)) for i, d in enumerate(str(square))])
