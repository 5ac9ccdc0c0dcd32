"""Tables for the compute tests: importable by worker processes (``-i cheap_tables``)."""

from __future__ import annotations

import os
import sys
import time
import uuid

from labdata.catalog import Computed, Manual
from labdata.catalog.declare.registry import TableRegistry

registry = TableRegistry()
SLEEP_VARIABLE = "LABDATA_TEST_MAKE_SECONDS"


@registry.group("data")
class Item(Manual):
    """A number to square."""

    definition = """
    item_id : int
    ---
    value : int
    """


@registry.group("data")
class MakeCall(Manual):
    """One row per committed make (inserted in make's transaction), to count how often each key was made."""

    definition = """
    call_id : char(32)
    ---
    item_id : int
    pid : int
    """


@registry.group("computed")
class Square(Computed):
    """The square of an item; make waits ``$LABDATA_TEST_MAKE_SECONDS`` first (a slow analysis)."""

    definition = """
    -> Item
    ---
    square : bigint
    """

    def make(self, key: dict) -> None:
        time.sleep(float(os.environ.get(SLEEP_VARIABLE, "0")))
        value = (Item(self.context) & key).fetch1("value")
        MakeCall(self.context).insert1(dict(call_id=uuid.uuid4().hex, item_id=key["item_id"], pid=os.getpid()))
        self.insert1(dict(key, square=value * value))


@registry.group("computed")
class Origin(Computed):
    """Where an item's make ran: the Python installation and whether inside a labdata container."""

    definition = """
    -> Item
    ---
    python_prefix : varchar(255)
    in_container : tinyint
    """

    def make(self, key: dict) -> None:
        self.insert1(dict(key, python_prefix=sys.prefix, in_container=int(os.environ.get("LABDATA_CONTAINER") == "1")))
