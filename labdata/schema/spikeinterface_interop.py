"""SpikeInterface interop: lake recordings and sortings open as SpikeInterface objects, and sortings come back.

``(EphysRecording.ProbeSetting & key).to_spikeinterface(band="ap")`` is a SpikeInterface
recording over the probe's compressed recording in the lake
(:class:`~labdata.converters.spikeinterface.ZarrZipRecording`): ``get_traces`` reads only
the chunks a window covers; the channels are those of the probe's ProbeConfiguration
(``channel_idx``, the sync channel left out), with ``channel_ids`` their columns in the
file, microvolts per bit from the file (else ``probe_gain``) and the probeinterface probe
of ``channel_coords`` / ``channel_shank``.

``(SpikeSorting & key).to_spikeinterface()`` is a ``NumpySorting`` of the units (spike
trains in samples of the probe's clock), with per-unit properties ``amplitude`` (median
spike amplitude) and ``depth`` (median y position, um) where the units have them.

``SpikeSorting.add_from_spikeinterface(sorting, key)`` registers a SpikeInterface sorting
of one probe: its parameter set (found by algorithm name and parameters, else added),
the SpikeSorting row and one Unit row per unit, in one transaction.

Every method reads and writes the lake and project of the table it is called on.

Examples
--------
>>> recording = (EphysRecording.ProbeSetting & key).to_spikeinterface()          # doctest: +SKIP
>>> sorting = spikeinterface.sorters.run_sorter("kilosort4", recording)           # doctest: +SKIP
>>> SpikeSorting.add_from_spikeinterface(sorting, key)                          # doctest: +SKIP
>>> (SpikeSorting & key).to_spikeinterface()                                     # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from labdata.core.errors import DataError, DuplicateError, QueryError
from labdata.schema.sorting_params import find_parameter_set, next_parameter_set, parameters_json

if TYPE_CHECKING:
    from spikeinterface.core import BaseRecording, BaseSorting, NumpySorting, SortingAnalyzer

    from labdata.converters.spikeinterface import ZarrZipRecording

__all__ = ["ProbeSettingInteropMethods", "SpikeSortingInteropMethods"]

#: relative difference allowed between a sorting's sampling frequency and the probe's
RATE_TOLERANCE = 1e-7


class ProbeSettingInteropMethods:
    """Mixed into EphysRecording.ProbeSetting: the probe's recording as a SpikeInterface recording."""

    _sibling_named: Callable[[str], Any]  # the Table method (these are mixed into tables)

    def to_spikeinterface(self, band: str = "ap", *, download: bool = False) -> ZarrZipRecording:
        """A SpikeInterface recording of this probe's ``band`` data, read lazily from the lake.

        Parameters
        ----------
        band : {'ap', 'lf'}
            Which recording. The LF file is taken to have the AP file's channel columns.
        download : bool
            Fetch the file into ``local_paths`` first (otherwise a local copy is read when
            there is one, else the storage by byte ranges).

        Returns
        -------
        ZarrZipRecording
            One segment; channel ids are the channels' columns in the file; gains to uV and
            a probeinterface probe attached. It pickles (``n_jobs > 1``), and dumps to JSON
            when read from a local path.
        """
        from labdata.converters.spikeinterface import ZarrZipRecording, probe_from_channel_map

        setting = _one_row(self, "probe of a recording", "EphysRecording.ProbeSetting & key")
        configuration = (self._sibling_named("ProbeConfiguration") & _key_of(setting, "probe_id", "configuration_id")
                         ).fetch1()
        probe_type = (self._sibling_named("Probe") & dict(probe_id=setting["probe_id"])).fetch1("probe_type")
        rate = float(setting["sampling_rate"]) if band == "ap" else None
        source = self.recording_source(band, download=download)  # type: ignore[attr-defined]
        columns = np.asarray(configuration["channel_idx"], dtype=np.int64).tolist()
        recording = ZarrZipRecording(source, channel_columns=columns, sampling_frequency=rate)
        if not recording.has_scaleable_traces() and band == "ap":
            recording.set_channel_gains(float(configuration["probe_gain"]))
            recording.set_channel_offsets(0.0)
        recording.set_probe(probe_from_channel_map(np.asarray(configuration["channel_coords"]),
                                                   np.asarray(configuration["channel_shank"]), probe_type,
                                                   recording.spikeglx_meta.get("imDatPrb_pn")))
        return recording


class SpikeSortingInteropMethods:
    """Mixed into SpikeSorting: a sorting as a SpikeInterface sorting, and a SpikeInterface sorting into the lake."""

    _sibling_named: Callable[[str], Any]  # the Table method (these are mixed into tables)

    def to_spikeinterface(self) -> NumpySorting:
        """This sorting's units as a SpikeInterface sorting (unit ids = unit_id, spike trains in samples).

        Units with spike amplitudes get the property ``amplitude`` (their median), units with
        spike positions ``depth`` (median y, um); the others NaN.
        """
        from labdata.converters.spikeinterface import sorting_from_units

        key = _key_of(_one_row(self, "sorting", "SpikeSorting & key"), *self._sibling_named("SpikeSorting").primary_key)
        rate = (self._sibling_named("EphysRecording.ProbeSetting") & key).fetch1("sampling_rate")
        units = (self._sibling_named("SpikeSorting.Unit") & key).fetch(
            "unit_id", "spike_times", "spike_amplitudes", "spike_positions", as_dict=True, order_by="unit_id")
        return sorting_from_units([u["unit_id"] for u in units], [u["spike_times"] for u in units], float(rate),
                                  _unit_properties(units))

    def add_from_spikeinterface(self, sorting: BaseSorting, key: Mapping[str, Any], *,
                                algorithm_name: str | None = None, parameters: Mapping[str, Any] | None = None,
                                recording: BaseRecording | None = None, analyzer: SortingAnalyzer | None = None,
                                parameter_description: str | None = None) -> dict[str, Any]:
        """Register a SpikeInterface sorting of the probe ``key`` selects: parameter set, SpikeSorting and Unit rows.

        Parameters
        ----------
        sorting : BaseSorting
            One segment, integer unit ids, spike times in samples of the probe's clock (its
            sampling frequency must be the probe's).
        key : mapping
            The EphysRecording.ProbeSetting (subject_name, session_name, dataset_name, probe_num).
        algorithm_name : str, optional
            Default ``si_<sorter>`` from the sorting's ``sorting_info`` (``run_sorter`` output).
        parameters : mapping, optional
            The parameters that identify the set. Default: those in ``sorting_info``, else ``{}``.
            The set is the existing one with this algorithm and the same parameters (as sorted
            JSON), else a new one numbered after the largest.
        recording : BaseRecording, optional
            The recording that was sorted (default: the analyzer's, else the sorting's):
            its channel ids and locations become ``sorting_channel_indices`` / ``_coords``.
        analyzer : SortingAnalyzer, optional
            Of this sorting: its ``spike_amplitudes`` and ``spike_locations`` extensions, when
            computed, fill each unit's ``spike_amplitudes`` and ``spike_positions`` (else NULL).
        parameter_description : str, optional
            Description of a new parameter set.

        Returns
        -------
        dict
            The SpikeSorting key.

        Raises
        ------
        QueryError
            ``key`` does not select one probe of a recording.
        DataError
            The sorting does not fit the probe (rate, segments, unit ids, spike times).
        DuplicateError
            The probe already has a sorting with this parameter set.
        """
        from labdata.converters.spikeinterface import single_segment

        setting = self._probe_setting(key)
        single_segment(sorting)
        _check_rate(float(sorting.get_sampling_frequency()), float(setting.pop("sampling_rate")))
        units = _unit_rows(sorting, analyzer)
        name, text = _parameter_set_of(sorting, algorithm_name, parameters)
        recording = recording if recording is not None else _recording_of(sorting, analyzer)
        row = dict(setting, **_sorting_info(sorting), **_channels_of(recording), n_sorted_units=len(units),
                   n_detected_spikes=int(sum(len(u["spike_times"]) for u in units)))
        description = parameter_description or "a SpikeInterface sorting imported with add_from_spikeinterface"
        return self.context.lake.run(  # type: ignore[attr-defined]
            lambda: self._register(row, units, dict(algorithm_name=name, parameters_dict=text,
                                                    parameter_description=description)))

    def _probe_setting(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """The ProbeSetting key (and sampling_rate) of ``key``, which must name every attribute of that key."""
        settings = self._sibling_named("EphysRecording.ProbeSetting")
        missing = [name for name in settings.primary_key if name not in key]
        if missing:
            raise QueryError(f"The key lacks {', '.join(missing)}: it must select one probe of a recording.",
                             hint="Pass the EphysRecording.ProbeSetting key: subject_name, session_name, "
                                  "dataset_name, probe_num.")
        rows = (settings & {name: key[name] for name in settings.primary_key}).fetch(
            *settings.primary_key, "sampling_rate", as_dict=True)
        if len(rows) != 1:
            raise QueryError(f"No probe of a recording matches {dict(key)}.",
                             hint="Register the recording first (labdata upload, or "
                                  "EphysRecording.add_spikeglx_recording), or correct the key.")
        return dict(rows[0])

    def _register(self, row: dict[str, Any], units: list[dict[str, Any]], parameter_set: dict[str, Any]
                  ) -> dict[str, Any]:
        """Within the caller's transaction: the parameter set (found or added), the sorting and its units."""
        number = _parameter_set_number(self._sibling_named("SpikeSortingParams"), parameter_set)
        sortings = self._sibling_named("SpikeSorting")
        sorting_key = dict(_key_of(row, *sortings.primary_key, missing_ok=True), parameter_set_num=number)
        if sortings & sorting_key:
            raise DuplicateError(f"This probe already has a sorting with parameter set {number} ({sorting_key}).",
                                 hint="Delete it first ((SpikeSorting & key).delete()) or import with other "
                                      "parameters.")
        sortings.insert1(dict(row, parameter_set_num=number))
        self._sibling_named("SpikeSorting.Unit").insert([dict(sorting_key, **unit) for unit in units])
        return sorting_key



def _parameter_set_number(sets: Any, wanted: dict[str, Any]) -> int:
    """The number of the set with ``wanted``'s algorithm and parameters JSON, inserting it (max + 1) when new."""
    found = find_parameter_set(sets, wanted["algorithm_name"], wanted["parameters_dict"])
    if found is not None:
        return found
    number = next_parameter_set(sets)
    sets.insert1(dict(wanted, parameter_set_num=number))
    return number


def _parameter_set_of(sorting: BaseSorting, algorithm_name: str | None, parameters: Mapping[str, Any] | None
                      ) -> tuple[str, str]:
    """(algorithm name, parameters JSON), defaulting to the sorter and parameters ``run_sorter`` recorded."""
    info = sorting.sorting_info or {}
    sorter = (info.get("log") or {}).get("sorter_name")
    if algorithm_name is None and sorter is None:
        raise DataError("The sorting does not say which sorter made it.",
                        hint="Pass algorithm_name=, e.g. 'si_kilosort4'.")
    name = algorithm_name if algorithm_name is not None else f"si_{sorter}"
    return name, parameters_json(parameters if parameters is not None else (info.get("params") or {}))


def _sorting_info(sorting: BaseSorting) -> dict[str, Any]:
    """algorithm_version and sorting_datetime from ``run_sorter``'s log (now when there is none)."""
    log = (sorting.sorting_info or {}).get("log") or {}
    when = dt.datetime.now().replace(microsecond=0)
    if isinstance(log.get("datetime"), str):
        with contextlib.suppress(ValueError):  # a log of another form: the time of the import
            when = dt.datetime.fromisoformat(log["datetime"]).replace(microsecond=0)
    version = log.get("sorter_version")
    return dict(algorithm_version=None if version is None else str(version)[:56], sorting_datetime=when)


def _check_rate(sorting_rate: float, probe_rate: float) -> None:
    if abs(sorting_rate - probe_rate) > RATE_TOLERANCE * probe_rate:
        raise DataError(f"The sorting's sampling frequency ({sorting_rate:g} Hz) is not the probe's "
                        f"({probe_rate:.6f} Hz): its spike times are samples of another clock.",
                        hint="Import the sorting of this probe's recording, e.g. one sorted from "
                             "(EphysRecording.ProbeSetting & key).to_spikeinterface().")


def _unit_rows(sorting: BaseSorting, analyzer: SortingAnalyzer | None) -> list[dict[str, Any]]:
    """unit_id, spike_times (uint64) and, from the analyzer, spike_amplitudes and spike_positions per unit."""
    from labdata.converters.spikeinterface import checked_spike_train, unit_number

    numbers = [unit_number(unit) for unit in sorting.unit_ids]
    if len(set(numbers)) != len(numbers):
        raise DataError("Two units of the sorting have the same number.",
                        hint="Rename the units first, e.g. sorting.rename_units(np.arange(sorting.get_num_units())).")
    segment = sorting.segments[0]  # as the sorting holds them: BaseSorting's own accessor casts to int64
    rows = [dict(unit_id=number, spike_times=checked_spike_train(
                unit, segment.get_unit_spike_train(unit_id=unit, start_frame=None, end_frame=None)))
            for unit, number in zip(sorting.unit_ids, numbers, strict=True)]
    amplitudes, positions = _analyzer_features(analyzer, sorting, rows)
    for unit, row in zip(sorting.unit_ids, rows, strict=True):
        row["spike_amplitudes"] = None if amplitudes is None else np.asarray(amplitudes[unit], dtype=np.float32)
        row["spike_positions"] = None if positions is None else positions[unit]
    return rows


def _analyzer_features(analyzer: SortingAnalyzer | None, sorting: BaseSorting, rows: list[dict[str, Any]]
                       ) -> tuple[dict[Any, np.ndarray] | None, dict[Any, np.ndarray] | None]:
    """Spike amplitudes and (x, y) positions per unit from the analyzer's extensions (None when not computed)."""
    if analyzer is None:
        return None, None
    counts = {unit: len(row["spike_times"]) for unit, row in zip(sorting.unit_ids, rows, strict=True)}
    theirs = {unit: len(analyzer.sorting.get_unit_spike_train(unit)) for unit in analyzer.sorting.unit_ids}
    if theirs != counts:
        raise DataError("The analyzer's sorting is not this sorting (other units or spike counts).",
                        hint="Pass the SortingAnalyzer created from this sorting.")
    amplitudes = positions = None
    if analyzer.has_extension("spike_amplitudes"):
        amplitudes = analyzer.get_extension("spike_amplitudes").get_data(outputs="by_unit", concatenated=True)
    if analyzer.has_extension("spike_locations"):
        found = analyzer.get_extension("spike_locations").get_data(outputs="by_unit", concatenated=True)
        positions = {unit: np.column_stack([values["x"], values["y"]]).astype(np.float32)
                     for unit, values in found.items()}
    return amplitudes, positions


def _recording_of(sorting: BaseSorting, analyzer: SortingAnalyzer | None) -> BaseRecording | None:
    if analyzer is not None and analyzer.has_recording():
        return analyzer.recording
    return sorting._recording if sorting.has_recording() else None


def _channels_of(recording: BaseRecording | None) -> dict[str, Any]:
    """sorting_channel_indices (integer channel ids, else positions) and sorting_channel_coords of ``recording``."""
    if recording is None:
        return {}
    ids = recording.channel_ids
    try:
        indices = np.asarray([int(channel) for channel in ids], dtype=np.int64)
    except (TypeError, ValueError):
        indices = np.arange(len(ids), dtype=np.int64)
    coords = np.asarray(recording.get_channel_locations(), dtype=np.float64) if recording.has_probe() else None
    return dict(sorting_channel_indices=indices, sorting_channel_coords=coords)


def _unit_properties(units: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Per-unit ``amplitude`` and ``depth`` (medians) when some unit has amplitudes or positions."""
    properties = {}
    if any(u["spike_amplitudes"] is not None for u in units):
        properties["amplitude"] = np.array([_median(u["spike_amplitudes"]) for u in units])
    if any(u["spike_positions"] is not None for u in units):
        properties["depth"] = np.array([_median(None if u["spike_positions"] is None else
                                                np.asarray(u["spike_positions"]).reshape(-1, 2)[:, 1])
                                        for u in units])
    return properties


def _median(values: Any) -> float:
    return float("nan") if values is None or not np.size(values) else float(np.median(values))


def _one_row(table: Any, what: str, example: str) -> dict[str, Any]:
    rows = table.fetch(as_dict=True, limit=2)
    if len(rows) != 1:
        raise QueryError(f"This query selects {'no' if not rows else 'more than one'} {what}; it needs one.",
                         hint=f"Restrict it to one, e.g. ({example}).to_spikeinterface().")
    return dict(rows[0])


def _key_of(row: Mapping[str, Any], *names: str, missing_ok: bool = False) -> dict[str, Any]:
    return {name: row[name] for name in names if not missing_ok or name in row}
