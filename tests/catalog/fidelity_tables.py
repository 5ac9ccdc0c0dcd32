"""Small tables for the DataJoint-fidelity tests."""

from __future__ import annotations

import os
import signal

from labdata.catalog import Computed, Manual, Part
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


@registry.group("data")
class Probe(Manual):
    """Probes."""

    definition = """
    probe : varchar(8)
    """


@registry.group("data")
class Recording(Manual):
    """Recordings with channels on probes (a part referring to another table)."""

    definition = """
    rec : int
    """

    class Channel(Part):
        """Channels of a recording."""

        definition = """
        -> master
        -> Probe
        channel : int
        """


CALLS: list[tuple[int, dict]] = []  # (animal_id, make_kwargs) of each make, for the populate tests


@registry.group("computed")
class AnimalScore(Computed):
    """A score per animal; animal 3 fails, animal 2 interrupts when asked to."""

    definition = """
    -> Animal
    ---
    score : int
    """

    def make(self, key: dict, interrupt: str = "") -> None:
        CALLS.append((key["animal_id"], {"interrupt": interrupt} if interrupt else {}))
        if key["animal_id"] == 3:
            raise ValueError("no score for 3")
        if key["animal_id"] == 2 and interrupt == "keyboard":
            raise KeyboardInterrupt
        if key["animal_id"] == 2 and interrupt == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        self.insert1(dict(key, score=10 * key["animal_id"]))
