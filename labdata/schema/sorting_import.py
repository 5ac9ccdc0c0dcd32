"""``SpikeSorting.add_kilosort``: register a Kilosort/phy output folder as a sorting of a recorded probe.

The folder is read and checked first (:func:`~labdata.converters.kilosort.read_kilosort`, against
the probe's ``ProbeConfiguration`` channels, gain and the ``ProbeSetting`` sampling rate); a
refused folder writes nothing. Then the folder's files (but the raw ``.bin``/``.dat``/``.hdf5``)
are stored in the analysis storage with their upload intents recorded, and ONE transaction
inserts the parameter set (when new), the SpikeSorting row, its Unit and Waveforms rows, the
files' AnalysisFile rows and their SpikeSorting.IntermediateFiles links. If that transaction
fails, the stored files are deleted again: no row and no object is left.

Labels. ``cluster_group.tsv`` (phy's curation; Kilosort 2.5 writes it with a ``KSLabel``
header) and ``cluster_KSLabel.tsv`` are kept as files and summarised in ``additional_params``
(JSON)::

    {"importer": "kilosort", "sampling_rate": 32000.0, "waveform_units": "uV", "position_source": "pc_features",
     "labels": {"group": {"file": "<AnalysisFile path of cluster_group.tsv>", "counts": {"good": 3, "mua": 10},
                          "units": {"good": [9, 10, 11], "mua": [0, 1, ...]}},
                "KSLabel": {...}}}

``units`` (unit ids by label, queryable with DuckDB's JSON functions), then ``counts``, are left out
of a source when the JSON would not fit the column's 2000 characters; ``kilosort_labels()`` then
reads the kept file. Units a file does not label are in no list.

Examples
--------
>>> key = dict(subject_name="S1", session_name="20240101_120000", dataset_name="ephys", probe_num=0)
>>> SpikeSorting().add_kilosort("/data/S1/kilosort4", key, algorithm_name="kilosort4")   # doctest: +SKIP
>>> (SpikeSorting & key).kilosort_labels()["group"][9]                                  # doctest: +SKIP
'good'
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labdata.converters.kilosort import KilosortSorting, read_kilosort
from labdata.converters.kilosort.checks import RATE_TOLERANCE
from labdata.converters.kilosort.files import parse_labels
from labdata.core.errors import CatalogError, DuplicateError, FileConflictError, QueryError, SortingFormatError
from labdata.schema.analysis_upload import (
    StagedFiles,
    discard_staged,
    register_staged,
    registered_at,
    stage_analysis_files,
)
from labdata.schema.sorting_params import find_parameter_set, next_parameter_set, parameters_json

__all__ = ["LABEL_FILES", "KEPT_OUT_SUFFIXES", "SortingImportMethods", "sorting_params"]

SETTING_KEYS = ("subject_name", "session_name", "dataset_name", "probe_num")
KEPT_OUT_SUFFIXES = (".bin", ".dat", ".hdf5")  # raw data, as the original's --keep-files
LABEL_FILES = {"group": "cluster_group.tsv", "KSLabel": "cluster_KSLabel.tsv"}
PARAMS_LIMIT = 2000  # SpikeSorting.additional_params is varchar(2000)


@dataclass(frozen=True)
class _Probe:
    """What the lake says about the probe a sorting is imported for."""

    setting: dict[str, Any]
    sampling_rate: float
    gain: float | None
    channels: np.ndarray


@dataclass(frozen=True)
class _ParameterSet:
    algorithm_name: str
    parameters_dict: str
    parameter_description: str | None


class SortingImportMethods:
    """Mixed into SpikeSorting: import a sorting made outside the lake."""

    def add_kilosort(self, folder: str | Path, key: dict[str, Any], *, algorithm_name: str = "kilosort",
                     parameters: dict[str, Any] | None = None, parameter_description: str | None = None,
                     algorithm_version: str | None = None, sampling_rate: float | None = None,
                     sorting_datetime: dt.datetime | None = None, keep_files: bool = True,
                     progress: bool = True, waveforms: str = "templates") -> dict[str, Any]:
        """Register the Kilosort/phy folder ``folder`` as a sorting of the probe ``key`` names.

        Parameters
        ----------
        folder : path
            The sorter's output folder.
        key : dict
            subject_name, session_name, dataset_name, probe_num of an EphysRecording.ProbeSetting.
        algorithm_name, parameters, parameter_description
            The SpikeSortingParams set: found by exact algorithm name and parameters (JSON, keys
            sorted), else added with the next number.
        algorithm_version : str, optional
        sampling_rate : float, optional
            Hz, for a folder without params.py (default: the ProbeSetting's rate).
        sorting_datetime : datetime, optional
            Default: when spike_times.npy was written (UTC).
        keep_files : bool
            Store the folder's files (but .bin/.dat/.hdf5) as SpikeSorting.IntermediateFiles.
        progress : bool
            Show the upload progress bar.
        waveforms : {'templates', 'recording'}
            Median waveforms from the unwhitened templates (in the import's transaction), or then
            recomputed from the raw recording in the lake (:meth:`extract_waveforms`).

        Returns
        -------
        dict
            ``key`` (the SpikeSorting key), ``n_units``, ``n_spikes``, ``files`` (AnalysisFile keys),
            ``labels`` (source -> unit id -> label).

        Raises
        ------
        SortingFormatError
            The folder is incomplete, corrupt, inconsistent, or does not fit the probe.
        QueryError
            ``key`` names no ProbeSetting.
        DuplicateError
            This probe already has a sorting with this parameter set.
        FileConflictError
            AnalysisFile already holds files at the paths this sorting's files would take.
        """
        if waveforms not in ("templates", "recording"):
            raise QueryError(f"waveforms={waveforms!r}.", hint="Use waveforms='templates' or 'recording'.")
        tables = _Tables(self)
        probe = tables.probe(key)
        sorting = read_kilosort(folder, sampling_rate=probe.sampling_rate if sampling_rate is None else sampling_rate,
                                gain=probe.gain, probe_channels=probe.channels)
        _check_rate(sorting, probe)
        parameter_set = _ParameterSet(algorithm_name, parameters_json(parameters),
                                      parameter_description)
        sorting_key = dict(probe.setting, parameter_set_num=tables.parameter_set_num(parameter_set))
        tables.refuse_existing(sorting_key)
        sources = kept_files(sorting.folder) if keep_files else []
        paths = tables.analysis.generate_filepaths(sources, _files_dataset(sorting_key, algorithm_name))
        tables.refuse_registered(paths)
        row = sorting_row(sorting, sorting_key, algorithm_version, sorting_datetime,
                          {source.name: path for source, path in zip(sources, paths, strict=True)})
        try:
            staged = stage_analysis_files(tables.analysis, sources, paths, progress=progress) if sources else None
            tables.context.lake.run(lambda: tables.register(sorting, row, parameter_set, staged))
        except BaseException:
            if sources:
                discard_staged(tables.analysis, [(type(tables.analysis).storage, path) for path in paths])
            raise
        if waveforms == "recording":
            (tables.table("SpikeSorting") & sorting_key).extract_waveforms()
        return dict(key=sorting_key, n_units=sorting.n_units, n_spikes=sorting.n_spikes,
                    files=staged.keys if staged else [], labels=unit_labels(sorting))

    def kilosort_labels(self) -> dict[str, dict[int, str]]:
        """The labels of the one selected sorting: source (``group``, ``KSLabel``) -> unit id -> label.

        Only units of the sorting; {} for a sorting ``add_kilosort`` did not import.
        """
        tables = _Tables(self)
        key, text = self.fetch1("KEY"), self.fetch1("additional_params")  # type: ignore[attr-defined]
        try:
            summary = json.loads(text) if text else {}
        except ValueError:
            summary = {}
        if not isinstance(summary, dict) or summary.get("importer") != "kilosort":
            return {}
        units = set((tables.table("SpikeSorting.Unit") & key).fetch("unit_id").tolist())
        return {source: {u: label for u, label in sorted(tables.labels_of(found).items()) if u in units}
                for source, found in summary["labels"].items()}


    def count_kilosort_labels(self, source: str = "group", replace: bool = False) -> dict[str, Any]:
        """Put the one selected sorting's Kilosort/phy labels into UnitCount, under the manual criteria
        ``manual_kilosort_<source>`` (``good`` → single unit, ``noise`` → noise, else multi unit).

        Needs the sorting's UnitMetrics (``UnitMetrics.populate(key)``); returns the count's summary.
        """
        labels = self.kilosort_labels()
        if source not in labels:
            raise QueryError(f"The sorting has no {source!r} labels (it has {sorted(labels) or 'none'}).",
                             hint="Pick source='group' (cluster_group.tsv) or 'KSLabel' (cluster_KSLabel.tsv).")
        counts = _Tables(self).table("UnitCount")
        key = self.fetch1("KEY")  # type: ignore[attr-defined]
        return dict(counts.add_labels(key, f"manual_kilosort_{source.lower()}", labels[source], replace=replace))


class _Tables:
    """The tables an import reads and writes, in the lake and project of the table it was called on."""

    def __init__(self, table: Any) -> None:
        self.origin, self.context = table, table.context
        self.analysis = self.table("AnalysisFile")

    def table(self, name: str) -> Any:
        return self.origin._sibling_named(name)

    def probe(self, key: dict[str, Any]) -> _Probe:
        setting = {name: key[name] for name in SETTING_KEYS if name in key}
        if len(setting) < len(SETTING_KEYS):
            raise QueryError(f"The key {key!r} does not name a probe of a recording.",
                             hint=f"Give {', '.join(SETTING_KEYS)}.")
        rows = (self.table("EphysRecording.ProbeSetting") * self.table("ProbeConfiguration") & setting).fetch(
            "sampling_rate", "probe_gain", "channel_idx", as_dict=True)
        if len(rows) != 1:
            raise QueryError(f"No EphysRecording.ProbeSetting matches {setting}.",
                             hint="Register the recording first (labdata upload with the ephys rule), or check "
                                  "the names and probe_num (labdata sessions -a SUBJECT).")
        gain = float(rows[0]["probe_gain"])
        return _Probe(setting, float(rows[0]["sampling_rate"]), gain if np.isfinite(gain) and gain > 0 else None,
                      np.asarray(rows[0]["channel_idx"]).reshape(-1))

    def parameter_set_num(self, wanted: _ParameterSet) -> int:
        """The number of the set with this algorithm and parameters, else the next free one."""
        sets = self.table("SpikeSortingParams")
        found = find_parameter_set(sets, wanted.algorithm_name, wanted.parameters_dict)
        return found if found is not None else next_parameter_set(sets)

    def labels_of(self, summary: dict[str, Any]) -> dict[int, str]:
        """Unit id -> label of one source of ``additional_params``: its ``units``, else its kept file."""
        if "units" in summary:
            return {int(u): label for label, units in summary["units"].items() for u in units}
        path = (self.analysis & {"file_path": summary["file"]}).get(progress=False)[0]
        return parse_labels(Path(path).read_text(encoding="utf-8"), summary["file"])

    def refuse_existing(self, sorting_key: dict[str, Any]) -> None:
        if self.table("SpikeSorting") & sorting_key:
            raise DuplicateError(f"The sorting {sorting_key} exists already.",
                                 hint="Delete it first ((SpikeSorting & key).delete()), or import with other "
                                      "parameters (another parameter set).")

    def refuse_registered(self, paths: list[str]) -> None:
        if paths and registered_at(self.analysis, paths):
            raise FileConflictError(f"AnalysisFile already holds files where this sorting's files go, e.g. "
                                    f"{paths[0]!r}.", hint="Delete those rows ((AnalysisFile & {'file_path': ...})"
                                    ".delete()) or import with another parameter set.")

    def register(self, sorting: KilosortSorting, row: dict[str, Any], parameter_set: _ParameterSet,
                 staged: StagedFiles | None) -> None:
        """Insert every row of the import (runs inside the import's one transaction)."""
        number = row["parameter_set_num"]
        if number != self.parameter_set_num(parameter_set):
            raise CatalogError(f"Another process added parameter set {number} while this import ran.",
                               hint="Run the import again.")
        sets = self.table("SpikeSortingParams")
        if not sets & {"parameter_set_num": number}:
            sets.insert1(dict(parameter_set_num=number, **vars(parameter_set)))
        self.table("SpikeSorting").insert1(row)
        key = {name: row[name] for name in (*SETTING_KEYS, "parameter_set_num")}
        self.table("SpikeSorting.Unit").insert(unit_rows(sorting, key))
        self.table("SpikeSorting.Waveforms").insert(waveform_rows(sorting, key))
        if staged is not None:
            register_staged(self.analysis, staged)
            self.table("SpikeSorting.IntermediateFiles").insert([dict(key, **file) for file in staged.keys])


def _check_rate(sorting: KilosortSorting, probe: _Probe) -> None:
    if abs(sorting.sampling_rate - probe.sampling_rate) > RATE_TOLERANCE * probe.sampling_rate:
        raise SortingFormatError(f"The sorting in {sorting.folder} is at {sorting.sampling_rate} Hz but the probe "
                                 f"{probe.setting} was recorded at {probe.sampling_rate} Hz.",
                                 hint="Import the sorting for the recording and probe it was made from.")


def kept_files(folder: Path) -> list[Path]:
    """The files of ``folder`` kept with a sorting: not hidden, not raw data, not in sub-folders."""
    return sorted(path for path in folder.iterdir()
                  if path.is_file() and not path.name.startswith(".") and path.suffix not in KEPT_OUT_SUFFIXES)


def _files_dataset(sorting_key: dict[str, Any], algorithm_name: str) -> dict[str, str]:
    """Where the kept files go: ``<dataset>/spike_sorting/imec<probe>/<set>/<algorithm>`` (AnalysisFile paths)."""
    folder = (f"{sorting_key['dataset_name']}/spike_sorting/imec{sorting_key['probe_num']}/"
              f"{sorting_key['parameter_set_num']}/{algorithm_name}")
    return dict(subject_name=sorting_key["subject_name"], session_name=sorting_key["session_name"],
                dataset_name=folder)


def sorting_row(sorting: KilosortSorting, key: dict[str, Any], algorithm_version: str | None,
                sorting_datetime: dt.datetime | None, kept: dict[str, str]) -> dict[str, Any]:
    """The SpikeSorting row of ``sorting`` (``kept``: AnalysisFile path of each kept file, by name)."""
    when = sorting_datetime or dt.datetime.fromtimestamp((sorting.folder / "spike_times.npy").stat().st_mtime,
                                                         dt.UTC).replace(tzinfo=None, microsecond=0)
    return dict(key, algorithm_version=algorithm_version, sorting_datetime=when,
                n_pre_samples=sorting.n_pre_samples, n_sorted_units=sorting.n_units,
                n_detected_spikes=sorting.n_spikes, sorting_channel_indices=sorting.channel_map,
                sorting_channel_coords=sorting.channel_positions, additional_params=sorting_params(sorting, kept))


def unit_rows(sorting: KilosortSorting, key: dict[str, Any]) -> list[dict[str, Any]]:
    """One SpikeSorting.Unit row per unit (unit_id = cluster id)."""
    return [dict(key, unit_id=unit.unit_id, spike_times=unit.spike_times, spike_amplitudes=unit.amplitudes,
                 spike_positions=unit.positions) for unit in sorting.units()]


def waveform_rows(sorting: KilosortSorting, key: dict[str, Any]) -> list[dict[str, Any]]:
    """One SpikeSorting.Waveforms row per unit (no noise estimate: templates have none)."""
    return [dict(key, unit_id=int(unit_id), waveform_median=waveform.median, waveform_channels=waveform.channels,
                 waveform_ptp=waveform.ptp, waveform_noise=None)
            for unit_id, waveform in zip(sorting.unit_ids, sorting.waveforms, strict=True)]


def unit_labels(sorting: KilosortSorting) -> dict[str, dict[int, str]]:
    """Source -> unit id -> label, for the units of the sorting that each label file names."""
    units = {int(u) for u in sorting.unit_ids}
    found = {"group": sorting.group_labels, "KSLabel": sorting.kilosort_labels}
    return {source: {u: label for u, label in sorted(labels.items()) if u in units}
            for source, labels in found.items() if labels}


def sorting_params(sorting: KilosortSorting, kept: dict[str, str]) -> str:
    """The ``additional_params`` JSON (see the module docstring), within the column's 2000 characters.

    ``kept`` gives the AnalysisFile path of each kept file, by name (empty when no file is kept).
    """
    labels: dict[str, Any] = {}
    for source, by_unit in unit_labels(sorting).items():
        units: dict[str, list[int]] = {}
        for unit, label in by_unit.items():
            units.setdefault(label, []).append(unit)
        labels[source] = {"file": kept.get(LABEL_FILES[source]), "counts": {k: len(v) for k, v in units.items()},
                          "units": units}
    summary = {"importer": "kilosort", "sampling_rate": sorting.sampling_rate,
               "waveform_units": sorting.waveform_units, "position_source": sorting.position_source,
               "labels": labels}
    for field in ("units", "counts"):  # what is left out when the JSON is too long, in this order
        for source in sorted(labels, key=lambda s: -len(json.dumps(labels[s][field]))):
            if len(json.dumps(summary)) <= PARAMS_LIMIT:
                return json.dumps(summary)
            if labels[source]["file"] is None:
                raise SortingFormatError(f"The labels of {LABEL_FILES[source]} do not fit in additional_params.",
                                         hint="Import with the files kept (keep_files=True) so that the labels are.")
            del labels[source][field]
    return json.dumps(summary)
