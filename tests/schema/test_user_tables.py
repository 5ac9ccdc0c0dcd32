"""A lab's own tables: a plugin module declares them with ``dj.Schema``; they persist and populate.

The plugin is a real module written to a temporary folder, with the line
``from labdata.schema import dj`` where DataJoint code has ``import datajoint as dj``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from labdata.catalog import Manual
from labdata.catalog.declare.registry import TableRegistry
from labdata.core.errors import DefinitionError, MissingParentError
from labdata.schema import Session, Subject, dj

PLUGIN = '''
from labdata.schema import dj

schema = dj.Schema("extras", locals())


@schema
class Foo(dj.Manual):
    definition = """
    # a measurement of a session
    -> Session
    foo_id : int
    ---
    value = null : float
    """


@schema
class Scale(dj.Lookup):
    definition = """
    scale_name : varchar(16)
    ---
    factor : float
    """
    contents = [("double", 2.0), ("triple", 3.0)]


@schema
class FooScaled(dj.Computed):
    definition = """
    -> Foo
    -> Scale
    ---
    scaled = null : float
    """

    class Sample(dj.Part):
        definition = """
        -> master
        sample : int
        ---
        sample_value : float
        """

    def make(self, key):
        value = (Foo & key).fetch1("value")
        factor = (Scale & key).fetch1("factor")
        self.insert1(dict(key, scaled=value * factor))
        self.Sample.insert([dict(key, sample=i, sample_value=value * factor + i) for i in range(3)])
'''

WORKER = """
import json, sys
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["folder"])
import importlib
from labdata.catalog import Context, Lake, use
plugin = importlib.import_module(spec["module"])
lake = Lake(spec["kind"], spec["root"], dsn=spec["dsn"], metadata_schema=spec["metadata_schema"])
with use(Context(lake, "test_project")):
    print(len(plugin.FooScaled.populate().made))
"""


def write_module(folder: Path, text: str = PLUGIN) -> str:
    """Write ``text`` as a module with a fresh name in ``folder``; return the name."""
    name = f"lab_plugin_{uuid.uuid4().hex[:8]}"
    (folder / f"{name}.py").write_text(text)
    return name


@pytest.fixture
def plugin(tmp_path, monkeypatch, people, subject_row):
    """The plugin module, imported, with a subject, a session and two Foo rows."""
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module(write_module(tmp_path))
    Subject.insert1(subject_row("JC178"))
    Session.insert1(dict(subject_name="JC178", session_name="s1", session_datetime="2024-01-01 10:00"))
    module.Foo.insert([dict(subject_name="JC178", session_name="s1", foo_id=i, value=float(i + 1))
                       for i in range(2)])
    return module


def test_plugin_tables_persist_and_populate_in_a_new_process(plugin, lakes, tmp_path) -> None:
    assert plugin.schema.catalog_schema() == "test_project_extras"
    assert plugin.schema.list_tables() == ["foo", "foo_scaled", "foo_scaled__sample", "scale"]
    assert sorted(plugin.Scale.fetch("scale_name")) == ["double", "triple"], "Lookup contents inserted"
    with pytest.raises(MissingParentError, match="Session"):
        plugin.Foo.insert1(dict(subject_name="JC178", session_name="nope", foo_id=1))
    assert plugin.FooScaled.progress() == (4, 4), "key_source: the join of Foo and Scale"
    spec = {"folder": str(tmp_path), "module": plugin.__name__, "kind": lakes.kind, "root": str(lakes.root),
            "dsn": lakes.dsn, "metadata_schema": lakes.metadata_schema}
    done = subprocess.run([sys.executable, "-c", WORKER, json.dumps(spec)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-1] == "4"
    rows = plugin.FooScaled.fetch(as_dict=True, order_by="KEY")
    assert [(r["foo_id"], r["scale_name"], r["scaled"]) for r in rows] == [
        (0, "double", 2.0), (0, "triple", 3.0), (1, "double", 4.0), (1, "triple", 6.0)]
    assert len(plugin.FooScaled.Sample()) == 12
    assert (plugin.FooScaled.Sample & {"foo_id": 1, "scale_name": "triple"}).fetch("sample_value").tolist() == \
        [6.0, 7.0, 8.0]
    (plugin.Foo & {"foo_id": 0}).delete()
    assert len(plugin.FooScaled()) == 2 and len(plugin.FooScaled.Sample()) == 6, "delete cascades to parts"
    deleted = (Session & {"session_name": "s1"}).delete()
    assert deleted["test_project_extras.foo_scaled__sample"] == 6, deleted
    assert len(plugin.Foo()) == 0 and len(plugin.FooScaled()) == 0, "labdata's tables cascade into the lab's own"
    assert len(plugin.Scale()) == 2


def test_declaring_again_is_idempotent_and_a_change_names_the_difference(plugin, tmp_path) -> None:
    again = plugin.schema(type("Foo", (dj.Manual,), {"definition": plugin.Foo.definition,
                                                     "__module__": plugin.__name__}))
    assert len(again()) == 2, "the same table, rows kept"
    changed = """
    -> Session
    foo_id : int
    trial : int
    ---
    value = null : double
    note = "" : varchar(32)
    """
    with pytest.raises(DefinitionError) as raised:
        plugin.schema(type("Foo", (dj.Manual,), {"definition": changed, "__module__": plugin.__name__}))
    message = str(raised.value)
    for expected in ("attribute added: trial", "attribute added: note",
                     "attribute retyped: value float null -> double null",
                     ("primary key changed: (subject_name, session_name, foo_id) -> "
                      "(subject_name, session_name, foo_id, trial)")):
        assert expected in message
    assert plugin.schema.registry.get("Foo").definition == plugin.Foo.definition, "the lake's table kept"
    assert len(plugin.Foo()) == 2
    # a module declaring the schema afresh (as a new process would) checks against the lake on first use
    other = importlib.import_module(write_module(tmp_path, PLUGIN.replace("value = null : float", "value : int")))
    with pytest.raises(DefinitionError, match="attribute retyped: value float null -> int"):
        len(other.Foo())


def test_a_table_declared_after_the_schema_was_used_is_created(plugin) -> None:
    late = type("Late", (dj.Manual,), {"__module__": plugin.__name__, "definition": """
        -> Foo
        late_id : int
        unique index (late_id)
        """})
    plugin.schema(late)
    assert "late" in plugin.schema.list_tables()
    late.insert1(dict(subject_name="JC178", session_name="s1", foo_id=0, late_id=7))
    assert late.fetch1("late_id") == 7


def test_a_plain_registry_creates_tables_declared_after_first_use(context) -> None:
    registry = TableRegistry()
    first = registry.group("data")(type("FirstThing", (Manual,), {"definition": "thing_id : int"}))
    first.insert1({"thing_id": 1})
    second = registry.group("data")(type("SecondThing", (Manual,), {"definition": "-> FirstThing"}))
    second.insert1({"thing_id": 1})
    assert len(second()) == 1


def test_the_datajoint_names(plugin) -> None:
    assert all(name in dj.__all__ for name in ("Manual", "Lookup", "Imported", "Computed", "Part", "Schema"))
    assert issubclass(dj.errors.DuplicateError, dj.DataJointError)
    with pytest.raises(dj.errors.DuplicateError):
        plugin.Foo.insert1(dict(subject_name="JC178", session_name="s1", foo_id=0))
    assert plugin.Foo.fetch(dj.key, order_by="KEY")[0]["foo_id"] == 0
    assert len(dj.U("scale_name") & plugin.Scale) == 2
    limit = dj.config["display.limit"]
    dj.config["display.limit"] = 1
    try:
        assert "2 rows (showing 1)" in repr(plugin.Foo())
    finally:
        dj.config["display.limit"] = limit
    dj.config["database.host"] = "ignored"  # DataJoint scripts set connection keys: accepted
    assert len(plugin.schema.jobs) == 0
    plugin.FooScaled.populate(reserve_jobs=True)
    assert len(plugin.schema.jobs) == 0, "made keys leave no job rows"
    with pytest.raises(dj.DataJointError, match="own schema groups"):
        dj.Schema("computed")
    plugin.schema.drop(force=True)
    assert plugin.schema.list_tables() == ["foo", "foo_scaled", "foo_scaled__sample", "scale"], \
        "used again after drop: created again"
    assert len(plugin.Foo()) == 0 and len(plugin.Scale()) == 2


def test_import_reads_nothing() -> None:
    code = ("import labdata.schema.dj as dj; s = dj.Schema('extras')\n"
            "@s\nclass Foo(dj.Manual):\n    definition = '-> Session\\nfoo_id : int'\n"
            "print(Foo.table_schema().primary_key)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={"LABDATA_PATH": "/nonexistent/labdata", "PATH": "/usr/bin",
                               "PYTHONPATH": str(Path(__file__).parents[2])})
    assert done.returncode == 0, done.stderr[-2000:]
    assert textwrap.dedent(done.stdout).strip() == "('subject_name', 'session_name', 'foo_id')"
