"""Reading units: spike times across sessions in one call, synced or not, eager or lazy.

``(SpikeSorting.Unit & restriction).get_spike_times()`` fetches the selected units of any
number of sessions, subjects and probes in one query; their arrays are read together from
each sorting's Zarr group (see :mod:`labdata.schema.spike_arrays`). With ``synced=True`` the
times of each probe are mapped onto the session's main clock through the StreamSync row of
stream ``imec<probe_num>`` (the original always tried; here it is asked for); probes without
one fall back to ``samples / sampling_rate`` with a warning. With ``lazy=True`` each unit's
times are a :class:`LazySpikes` that reads only when turned into an array.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from labdata.catalog.ops.array_groups import ArrayRef
from labdata.catalog.ops.blobs import ArrayReader
from labdata.core.errors import LabdataError, LabdataWarning, QueryError
from labdata.schema.general import StreamSync

__all__ = ["LazySpikes", "UnitReading"]

_PROBE_KEY = ("subject_name", "session_name", "dataset_name", "probe_num")
_UNIT_KEY = (*_PROBE_KEY, "parameter_set_num", "unit_id")


class LazySpikes:
    """A unit's spike times, read from the lake when used as an array (``np.asarray(lazy)``).

    Parameters
    ----------
    value : bytes
        The stored ``spike_times`` value (a reference into the sorting's group).
    reader : ArrayReader
        Reads it (shared by the units of one call, so the storages are opened once).
    transform : callable, optional
        Applied to the samples when read (to seconds, or onto the session clock).
    """

    def __init__(self, value: bytes, reader: ArrayReader, transform: Callable[[np.ndarray], np.ndarray] | None):
        self._value, self._reader, self._transform = bytes(value), reader, transform
        ref = ArrayRef.decode(self._value) if ArrayRef.is_reference(self._value) else None
        self.count = ref.count if ref is not None else None

    def __len__(self) -> int:
        return int(self.count) if self.count is not None else len(self.read())

    def __repr__(self) -> str:
        return f"LazySpikes({self.count if self.count is not None else '?'} spikes, not read)"

    def read(self) -> np.ndarray:
        """Read the spike times now."""
        samples = self._reader.read(self._value)
        return samples if self._transform is None else self._transform(samples)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        values = self.read()
        return values if dtype is None else values.astype(dtype)


class UnitReading:
    """Mixed into ``SpikeSorting.Unit``: spike times, sampling rates and waveforms of the selection."""

    def get_sampling_rates(self) -> dict[tuple[Any, ...], float]:
        """Sampling rate of each probe of the selection: ``{(subject, session, dataset, probe_num): Hz}``."""
        table: Any = self
        settings = table._sibling_named("EphysRecording.ProbeSetting") & table.proj()
        rows = settings.fetch(*_PROBE_KEY, "sampling_rate", as_dict=True)
        return {tuple(r[k] for k in _PROBE_KEY): float(r["sampling_rate"]) for r in rows}

    def get_spike_times(self, as_dict: bool = True, return_seconds: bool = True, extra_keys: Sequence[str] = (),
                        warn: bool = True, include_metrics: bool = False, interp_method: str = "cubic-spline",
                        synced: bool = False, lazy: bool = False) -> list[Any]:
        """Spike times of the selected units, for any number of sessions, in one query.

        Parameters
        ----------
        as_dict : bool
            Dicts with the unit's key, ``spike_times`` and ``extra_keys`` (else a list of arrays).
        return_seconds : bool
            Seconds (float64) instead of samples (uint64).
        extra_keys : sequence of str
            More attributes of the selection (or of UnitMetrics with ``include_metrics``) to return.
        warn : bool
            Warn when ``synced`` finds no usable StreamSync for a probe.
        include_metrics : bool
            Add every UnitMetrics column (units without metrics are left out, as a join does).
        interp_method : {'cubic-spline', 'piecewise-linear'}
            How StreamSync maps times (``synced``).
        synced : bool
            Map times onto the session's main clock (seconds) through StreamSync ``imec<probe_num>``.
        lazy : bool
            Return :class:`LazySpikes` that read when used, instead of arrays.
        """
        table: Any = self
        query, names = self._spike_query(include_metrics, extra_keys)
        raw = query.to_arrow(*names, "spike_times").sort_by([(k, "ascending") for k in _UNIT_KEY])
        reader = ArrayReader.of(table.context)
        transforms = self._transforms(raw, return_seconds or synced, synced, warn, interp_method)
        values = raw.column("spike_times").to_pylist()
        keys = raw.select(list(names)).to_pylist()
        probes = [tuple(k[n] for n in _PROBE_KEY) for k in keys]
        if lazy:
            times: list[Any] = [LazySpikes(v, reader, transforms.get(p)) for v, p in zip(values, probes, strict=True)]
        else:
            arrays = reader.read_all(values)
            times = [_apply(transforms.get(p), a) for a, p in zip(arrays, probes, strict=True)]
        if not as_dict:
            return times
        return [dict(key, spike_times=t) for key, t in zip(keys, times, strict=True)]

    def _spike_query(self, include_metrics: bool, extra_keys: Sequence[str]) -> tuple[Any, tuple[str, ...]]:
        table: Any = self
        query = table * table._sibling_named("UnitMetrics") if include_metrics else table
        metrics = tuple(n for n in query.heading.names if n not in table.heading.names) if include_metrics else ()
        names = tuple(dict.fromkeys((*_UNIT_KEY, *extra_keys, *metrics)))
        missing = [n for n in names if n not in query.heading.names]
        if missing:
            raise QueryError(f"get_spike_times: unknown extra_keys {missing}.",
                             hint=f"Pick from {', '.join(query.heading.names)}.")
        return query, names

    def _transforms(self, raw: Any, seconds: bool, synced: bool, warn: bool,
                    method: str) -> dict[tuple[Any, ...], Callable[[np.ndarray], np.ndarray]]:
        if not seconds:
            return {}
        rates = self.get_sampling_rates()
        present = {tuple(r[k] for k in _PROBE_KEY) for r in raw.select(list(_PROBE_KEY)).to_pylist()}
        out: dict[tuple[Any, ...], Callable[[np.ndarray], np.ndarray]] = {}
        for probe in present:
            mapping = self._clock_mapping(probe, warn, method) if synced else None
            out[probe] = mapping if mapping is not None else _divide_by(rates[probe])
        return out

    def _clock_mapping(self, probe: tuple[Any, ...], warn: bool,
                       method: str) -> Callable[[np.ndarray], np.ndarray] | None:
        table: Any = self
        key = dict(zip(_PROBE_KEY[:3], probe[:3], strict=True))
        rows = table._sibling(StreamSync) & key & {"stream_name": f"imec{probe[3]}"}
        try:
            if len(rows) != 1:
                raise QueryError(f"{len(rows)} StreamSync rows for imec{probe[3]}.")
            mapping: Callable[[np.ndarray], np.ndarray] = rows.apply(None, warn=warn, method=method)
            return mapping
        except LabdataError as error:
            if warn:
                warnings.warn(f"Spike times of {probe} are not synced ({error}); they are samples / sampling rate.",
                              LabdataWarning, stacklevel=3)
            return None



def _divide_by(rate: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda samples: samples / rate


def _apply(transform: Callable[[np.ndarray], np.ndarray] | None, array: Any) -> Any:
    if array is None or transform is None:
        return array
    return transform(np.asarray(array, dtype=np.float64))
