"""Tables whose makes do what a batch of deferred makes cannot: read their own rows, update, swallow signals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from labdata.catalog import Computed, Manual, Part
from labdata.catalog.declare.registry import TableRegistry

registry = TableRegistry()


@registry.group("data")
class Number(Manual):
    """A number to derive rows from."""

    definition = """
    number_id : int
    ---
    value : int
    """


@registry.group("data")
class Tally(Manual):
    """A counter that makes update (a write other than insert)."""

    definition = """
    tally_id : int
    ---
    count : int
    """


@registry.group("computed")
class Double(Computed):
    """Twice the value, inserted then read back to fill its part (a make that reads what it wrote)."""

    definition = """
    -> Number
    ---
    double : bigint
    """

    class Check(Part):
        definition = """
        -> master
        ---
        read_back : bigint
        """

    def make(self, key: dict) -> None:
        self.insert1(dict(key, double=2 * (Number & key).fetch1("value")))
        self.Check.insert1(dict(key, read_back=(self & key).fetch1("double")))


@registry.group("computed")
class Counted(Computed):
    """A make that also updates a counter row."""

    definition = """
    -> Number
    ---
    seen : int
    """

    def make(self, key: dict) -> None:
        count = Tally.fetch1("count") + 1
        Tally.update1(dict(tally_id=0, count=count))
        self.insert1(dict(key, seen=count))


@registry.group("computed")
class Stubborn(Computed):
    """A make that swallows every exception of a read of its own rows, BaseException included."""

    definition = """
    -> Number
    """

    class Found(Part):
        definition = """
        -> master
        ---
        found : int
        """

    def make(self, key: dict) -> None:
        self.insert1(key)
        try:
            found = len(self & key)
        except BaseException:  # noqa: BLE001 - what a careless make does
            found = -1
        self.Found.insert1(dict(key, found=found))


@registry.group("computed")
class Coded(Computed):
    """A code unique across keys: keys whose values share it collide only when a batch commits."""

    definition = """
    -> Number
    ---
    code : int
    unique index (code)
    """

    def make(self, key: dict) -> None:
        self.insert1(dict(key, code=(Number & key).fetch1("value") % 5))


OTHER_WORKER = """
import json, sys
from labdata.catalog import Context, Lake, use
from batch_tables import Raced
spec = json.loads(sys.argv[1])
lake = Lake(spec["kind"], spec["root"], dsn=spec["dsn"], metadata_schema=spec["metadata_schema"])
with use(Context(lake, spec["project"])):
    Raced.insert1(dict(number_id=1, by_other=True), allow_direct_insert=True)
"""


@registry.group("computed")
class Raced(Computed):
    """Making key 0 lets another worker, one that does not reserve keys, make key 1 meanwhile (a process)."""

    definition = """
    -> Number
    ---
    by_other : bool
    """

    def make(self, key: dict) -> None:
        if key["number_id"] == 0:
            lake = self.context.lake
            spec = dict(kind=lake.kind, root=str(lake.root), dsn=lake.dsn, metadata_schema=lake.metadata_schema,
                        project=self.context.project)
            subprocess.run([sys.executable, "-c", OTHER_WORKER, json.dumps(spec)], check=True,
                           env=dict(os.environ, PYTHONPATH=str(Path(__file__).parent)))
        self.insert1(dict(key, by_other=False))
