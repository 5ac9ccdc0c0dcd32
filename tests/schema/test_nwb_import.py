"""Importing the NWB files of ../shared/data/nwb with ``import_nwb``, reading them back, and exporting one again.

One lake (a copy of the test project's template, a local ``data`` storage) imports every file of the
directory: those pynwb reads are registered with their subject, session, electrodes, units and events
(files without a subject get a name from the call); the NWB 1.0.5 file is refused with nothing registered.
A dandi session exported again with ``export_nwb(raw=False)`` passes the DANDI inspector no worse than the
original file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from pynwb import NWBHDF5IO

from labdata.catalog import Context, Lake, use
from labdata.core.config import Preferences
from labdata.core.errors import FileConflictError, MissingAttributeError, RecordingFormatError
from labdata.schema import (
    Dataset,
    DatasetEvents,
    EphysRecording,
    File,
    ProbeConfiguration,
    Session,
    SpikeSorting,
    Subject,
)
from labdata.schema.nwb_import import import_nwb
from shared_data import SHARED_DATA
from templates import copy_sqlite_lake, mark_ensured

NWB = SHARED_DATA / "nwb"
UNREADABLE = "496908818s.nwb"  # NWB 1.0.5: pynwb 2 cannot open it
FILES = sorted(NWB.rglob("*.nwb"))
DANDI = NWB / "dandi-cli" / "sub-anm369963" / "sub-anm369963_ses-20170228.nwb"
DOB = {"subject_dob": "2016-10-01"}


def file_subject(path: Path) -> str | None:
    with warnings.catch_warnings(), NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        warnings.simplefilter("ignore")
        subject = io.read().subject
        return subject.subject_id if subject is not None else None


def counts() -> tuple[int, ...]:
    return len(Subject()), len(Session()), len(Dataset()), len(File())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    root = tmp_path_factory.mktemp("nwb_import")
    copy_sqlite_lake(root / "lake", "test_project", people=True)
    lake = mark_ensured(Lake("sqlite", root / "lake"), "test_project")
    prefs = Preferences({}, path=root / "prefs.json", labdata_path=root / "labdata", environ={})
    prefs.set("local_paths", [str(root / "local")])
    (root / "data").mkdir()
    prefs.set("storage.data", {"protocol": "local", "folder": str(root / "data")})
    context = Context(lake, "test_project", prefs)
    imported = {}
    with use(context):
        for path in FILES:
            if path.name == UNREADABLE:
                continue
            given = {} if file_subject(path) else {"subject_name": f"S-{path.stem[:10]}"}
            imported[path.name] = import_nwb(path, **given, new_subject_fields={**DOB, "user_name": "couto",
                                                                                 "strain_name": "C57BL/6J"}
                                             if given else DOB)
    yield SimpleNamespace(root=root, context=context, imported=imported)
    lake.close()


@pytest.fixture(autouse=True)
def current(world: SimpleNamespace) -> Iterator[None]:
    with use(world.context):
        yield


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_every_file_pynwb_reads_is_imported_and_the_others_refused(world, path: Path) -> None:
    if path.name == UNREADABLE:
        before = counts()
        with pytest.raises(RecordingFormatError, match="Missing NWB version") as error:
            import_nwb(path, subject_name="allen")
        assert "NWB 1.x" in error.value.hint
        assert counts() == before
        assert not list((world.root / "data").rglob(UNREADABLE))
        return
    key = world.imported[path.name]
    assert Dataset & key and Session & key
    stored = (File & (Dataset.DataFiles & key)).fetch1()
    assert stored["file_path"].endswith(path.name) and stored["file_size"] == path.stat().st_size
    assert (world.root / "data" / stored["file_path"]).read_bytes() == path.read_bytes()


def test_a_file_without_a_subject_needs_a_name_and_a_second_import_changes_nothing(world) -> None:
    no_subject = NWB / "pynwb" / "1.0.2_nwbfile.nwb"
    before = counts()
    with pytest.raises(MissingAttributeError, match="names no subject"):
        import_nwb(no_subject)
    with pytest.raises(FileConflictError, match="already imported"):
        import_nwb(DANDI, new_subject_fields=DOB)
    assert counts() == before


def test_dandi_values_read_back_equal_the_file(world) -> None:
    key = world.imported[DANDI.name]
    assert key == {"subject_name": "anm369963", "session_name": "20170228_000000", "dataset_name": "nwb"}
    with NWBHDF5IO(str(DANDI), "r") as io:
        nwbfile = io.read()
        spikes = np.asarray(nwbfile.units["spike_times"][0])
        n_trials, n_electrodes = len(nwbfile.trials), len(nwbfile.electrodes)
        licks = np.asarray(nwbfile.acquisition["lick_times"].time_series["lick_left_times"].timestamps[:])
    subject = (Subject & key).fetch1()
    assert subject["subject_sex"] == "U" and subject["user_name"] == "mike_economo"
    assert (Session & key).fetch1("experimenter") == "mike_economo"
    assert (Dataset & key).fetch1("dataset_type") == "ephys"
    setting = (EphysRecording.ProbeSetting & key).fetch1()
    assert float(setting["sampling_rate"]) == 30000.0
    assert len((ProbeConfiguration & setting).fetch1("channel_coords")) == n_electrodes == 64
    times = (SpikeSorting.Unit & key).get_spike_times(warn=False)
    assert [u["unit_id"] for u in times] == [1001]
    np.testing.assert_allclose(times[0]["spike_times"], spikes, atol=0.5 / 30000)
    assert "assumed 30000 Hz" in (SpikeSorting & key).fetch1("additional_params")
    trials = (DatasetEvents.Digital & key & {"stream_name": "nwb", "event_name": "trials"}).fetch1("event_values")
    assert int(np.sum(trials == 1)) == n_trials == 178
    stamps = (DatasetEvents.Digital & key & {"event_name": "lick_left_times"}).fetch1("event_timestamps")
    np.testing.assert_array_equal(stamps, np.sort(licks))  # the file has them out of order


def test_electrode_groups_become_probes(world) -> None:
    key = world.imported["2.6.0_DynamicTableElectrodes.nwb"]
    assert key["session_name"] == "LONELYMTN001"
    settings = EphysRecording.ProbeSetting & key
    assert len(settings) == 4 and not SpikeSorting & key
    key = world.imported["2.3.2_old_electrodes_table_full.nwb"]
    coords = (ProbeConfiguration & (EphysRecording.ProbeSetting & key).proj("probe_id")).fetch1("channel_coords")
    np.testing.assert_allclose(coords, [[0.1, 0.2], [0.11, 0.21]])


def test_a_reexported_dandi_session_passes_the_inspector_as_well_as_the_original(world, tmp_path) -> None:
    from nwbinspector import inspect_nwbfile, load_config

    from labdata.schema.nwb_export import export_nwb

    def worst(path: Path) -> dict[str, int]:
        found: dict[str, int] = {}
        for message in inspect_nwbfile(nwbfile_path=str(path), config=load_config("dandi")):
            found[message.importance.name] = found.get(message.importance.name, 0) + 1
        return {k: found.get(k, 0) for k in ("CRITICAL", "BEST_PRACTICE_VIOLATION")}

    key = world.imported[DANDI.name]
    [exported] = export_nwb(Session & key, tmp_path, raw=False, progress=False)
    theirs, ours = worst(DANDI), worst(exported)
    assert ours["CRITICAL"] <= theirs["CRITICAL"]
    assert ours["BEST_PRACTICE_VIOLATION"] <= theirs["BEST_PRACTICE_VIOLATION"]
    with NWBHDF5IO(str(exported), "r") as io:
        nwbfile = io.read()
        assert len(nwbfile.units) == 1 and len(nwbfile.electrodes) == 64
        trials = nwbfile.acquisition[f"{key['dataset_name']}_nwb_trials"]  # no stop times: onsets, not intervals
        assert len(trials.timestamps) == 178 and trials.timestamps[0] == pytest.approx(302.371)
    print(f"inspector (DANDI) CRITICAL / BEST_PRACTICE_VIOLATION: original {theirs}, re-export {ours}")


def test_a_refused_new_subject_leaves_no_row_and_no_stored_object(world) -> None:
    from labdata.schema import LabMember
    from labdata.schema.file_objects import pending_uploads

    before, members = counts(), len(LabMember())
    with pytest.raises(MissingAttributeError, match="--dob"):
        import_nwb(NWB / "pynwb" / "2.6.0_DynamicTableElectrodes.nwb", subject_name="nobody")
    assert counts() == before and len(LabMember()) == members
    assert not (world.root / "data" / "nobody").exists() or not list((world.root / "data" / "nobody").rglob("*.*"))
    assert not pending_uploads()



def test_an_nwb_zarr_export_reads_back_and_is_not_imported(world, tmp_path) -> None:
    from labdata.converters.nwb.reader import read_nwb
    from labdata.schema.nwb_export import export_nwb

    [folder] = export_nwb(Session & world.imported[DANDI.name], tmp_path, raw=False, progress=False, backend="zarr")
    with pytest.raises(RecordingFormatError, match="pickled references") as error:
        read_nwb(folder)
    assert "trusted_zarr=True" in error.value.hint
    contents = read_nwb(folder, trusted_zarr=True)
    assert [len(g.rows) for g in contents.groups] == [64] and len(contents.units[0].spike_times[0]) == 1679
    with pytest.raises(RecordingFormatError, match="is a folder"):
        import_nwb(folder, dataset_name="zarr")
