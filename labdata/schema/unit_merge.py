"""Merging units of a sorting (and reverting merges), and units with their waveforms.

``(SpikeSorting.Unit & keys).merge()`` joins two or more units of one sorting into the lowest
(or ``target_unit_id``): spikes, positions and amplitudes concatenated in time order, the
spike-count-weighted average median waveform; the originals go to ``SpikeSorting.MergedUnit``,
all in one transaction; then the sorting's UnitMetrics and UnitCount are made again.
``(SpikeSorting.MergedUnit & key).revert()`` puts the original units back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from labdata.core.errors import IntegrityError, QueryError

__all__ = ["MergedUnitReverting", "UnitMerging", "dense_waveform"]

_SORTING_KEY = ("subject_name", "session_name", "dataset_name", "probe_num", "parameter_set_num")
_ARRAYS = ("spike_times", "spike_amplitudes", "spike_positions")
_WAVEFORM = ("waveform_median", "waveform_channels", "waveform_ptp", "waveform_noise")
#: tables whose rows of a unit are made again after a merge (the rest must not reference merged units)
_REMADE = ("SpikeSorting.Waveforms", "UnitMetrics", "UnitCount.Unit", "SpikeSorting.MergedUnit")



class UnitMerging:
    """Mixed into ``SpikeSorting.Unit``: merge units; read units with their waveforms."""

    def merge(self, target_unit_id: int | None = None, recompute_metrics: bool = True) -> dict[str, Any]:
        """Merge the selected units (two or more, of one sorting) into one; returns the new unit's key."""
        table: Any = self
        units = table.fetch(as_dict=True, order_by="KEY")
        sorting = _one_sorting(units)
        ids = [int(u["unit_id"]) for u in units]
        target = min(ids) if target_unit_id is None else int(target_unit_id)
        if len(units) < 2 or target not in ids:
            raise QueryError(f"merge needs two or more units of one sorting, the target among them (units {ids}, "
                             f"target {target}).", hint="Restrict SpikeSorting.Unit to the units to merge.")
        _refuse_referenced(table)
        stored = (table._sibling_named("SpikeSorting.Waveforms") & table).fetch(as_dict=True)
        waveforms = {int(w["unit_id"]): w for w in stored}
        merged = dict(sorting, unit_id=target, **_merged_arrays(units))
        now = dt.datetime.now().replace(microsecond=0)
        archived = [dict(sorting, merged_unit_id=target, source_unit_id=int(u["unit_id"]), merge_datetime=now,
                         **{k: u[k] for k in _ARRAYS}, **_waveform_of(waveforms.get(int(u["unit_id"]))))
                    for u in units]
        with table.context.lake.transaction():
            table._sibling_named("SpikeSorting.MergedUnit").insert(archived)
            _remove_units(table, [dict(sorting, unit_id=i) for i in ids])
            table._sibling_named("SpikeSorting.Unit").insert1(merged)
            waveform = _merged_waveform([waveforms.get(i) for i in ids], [u["spike_times"].size for u in units])
            if waveform is not None:
                table._sibling_named("SpikeSorting.Waveforms").insert1(dict(sorting, unit_id=target, **waveform))
        if recompute_metrics:
            remake_metrics(table, sorting)
        return dict(sorting, unit_id=target)

    def get_units_with_waveforms(self, return_seconds: bool = True, interp_method: str = "cubic-spline",
                                 extra_keys: Sequence[str] = (), dense: bool = True, fill: str = "zeros",
                                 synced: bool = False) -> list[dict[str, Any]]:
        """:meth:`get_spike_times` of the units with a waveform, with the Waveforms columns.

        Parameters
        ----------
        dense : bool
            Expand each median to every channel (``waveform_ptp`` gives the count).
        fill : {'zeros', 'ptp'}
            What the channels without a stored median get: zeros, or smoothed noise scaled to
            each channel's peak-to-peak (seeded by the unit's key, so it is the same every time).
        """
        table: Any = self
        with_waveforms = table & table._sibling_named("SpikeSorting.Waveforms").proj()
        units = with_waveforms.get_spike_times(return_seconds=return_seconds, interp_method=interp_method,
                                               extra_keys=extra_keys, synced=synced)
        shapes = {_key(w): w for w in (table._sibling_named("SpikeSorting.Waveforms") & table).fetch(as_dict=True)}
        out = []
        for unit in units:
            waveform = {k: shapes[_key(unit)][k] for k in _WAVEFORM}
            if dense:
                waveform["waveform_median"] = dense_waveform(waveform, fill=fill, seed=_key(unit))
            out.append(unit | waveform)
        return out


class MergedUnitReverting:
    """Mixed into ``SpikeSorting.MergedUnit``: undo whole merges."""

    def revert(self, recompute_metrics: bool = True) -> list[dict[str, Any]]:
        """Put back the original units of every merge in the selection; returns their keys."""
        table: Any = self
        merges = {tuple(r[k] for k in (*_SORTING_KEY, "merged_unit_id")) for r in table.fetch("KEY")}
        restored = []
        for merge in sorted(merges, key=str):
            sorting = dict(zip(_SORTING_KEY, merge[:-1], strict=True))
            rows = (table._sibling_named("SpikeSorting.MergedUnit") & sorting & {"merged_unit_id": merge[-1]}).fetch(
                as_dict=True)
            with table.context.lake.transaction():
                _remove_units(table, [dict(sorting, unit_id=merge[-1])])
                units = [dict(sorting, unit_id=r["source_unit_id"], **{k: r[k] for k in _ARRAYS}) for r in rows]
                table._sibling_named("SpikeSorting.Unit").insert(units)
                shapes = [dict(sorting, unit_id=r["source_unit_id"], **{k: r[k] for k in _WAVEFORM})
                          for r in rows if r["waveform_median"] is not None]
                if shapes:
                    table._sibling_named("SpikeSorting.Waveforms").insert(shapes)
                archived = table._sibling_named("SpikeSorting.MergedUnit")
                (archived & sorting & {"merged_unit_id": merge[-1]}).delete_quick()
            restored += [dict(sorting, unit_id=r["source_unit_id"]) for r in rows]
            if recompute_metrics:
                remake_metrics(table, sorting)
        return restored


def remake_metrics(table: Any, sorting: dict[str, Any]) -> None:
    """Make the sorting's UnitMetrics and UnitCount again (those already there are replaced)."""
    metrics, counts = table._sibling_named("UnitMetrics"), table._sibling_named("UnitCount")
    with table.context.lake.transaction():
        (counts.Unit & sorting).delete_quick()
        (counts & sorting).delete_quick()
        (metrics & sorting).delete_quick()
    for made in (metrics, counts):
        if callable(getattr(made, "make", None)):
            made.populate(sorting)


def _one_sorting(units: list[dict[str, Any]]) -> dict[str, Any]:
    sortings = {tuple(u[k] for k in _SORTING_KEY) for u in units}
    if len(sortings) != 1:
        raise QueryError(f"merge needs units of one sorting; the selection spans {len(sortings)}.",
                         hint="Restrict SpikeSorting.Unit to one sorting's units.")
    return dict(zip(_SORTING_KEY, sortings.pop(), strict=True))


def _refuse_referenced(table: Any) -> None:
    """Refuse a merge of units that tables other than those made again reference."""
    registry = table._registry
    for name in registry.descendants(table._full_name):
        if name in _REMADE or name == table._full_name:
            continue
        if len(table._sibling_named(name) & table):
            raise IntegrityError(f"{name} references the units to merge.",
                                 hint=f"Delete those {name} rows first, or merge other units.")


def _remove_units(table: Any, keys: list[dict[str, Any]]) -> None:
    for name in ("UnitCount.Unit", "UnitMetrics", "SpikeSorting.Waveforms", "SpikeSorting.Unit"):
        (table._sibling_named(name) & keys).delete_quick()


def _merged_arrays(units: list[dict[str, Any]]) -> dict[str, Any]:
    times = np.concatenate([np.asarray(u["spike_times"]) for u in units])
    order = np.argsort(times, kind="stable")
    merged: dict[str, Any] = {"spike_times": times[order]}
    for name in ("spike_amplitudes", "spike_positions"):
        parts = [u[name] for u in units]
        merged[name] = None if any(p is None for p in parts) else np.concatenate(parts)[order]
    return merged


def _waveform_of(row: dict[str, Any] | None) -> dict[str, Any]:
    return {k: (None if row is None else row[k]) for k in _WAVEFORM}


def _merged_waveform(rows: list[dict[str, Any] | None], counts: list[int]) -> dict[str, Any] | None:
    """Spike-count-weighted average of the medians (on the channels they share the layout of)."""
    present = [(r, n) for r, n in zip(rows, counts, strict=True) if r is not None and r["waveform_median"] is not None]
    if not present:
        return None
    shape = np.shape(present[0][0]["waveform_median"])
    same = [(r, n) for r, n in present if np.shape(r["waveform_median"]) == shape
            and np.array_equal(r["waveform_channels"], present[0][0]["waveform_channels"])]
    weights = np.array([max(n, 1) for _, n in same], dtype=np.float64)
    median = np.tensordot(weights / weights.sum(), np.stack([r["waveform_median"] for r, _ in same]), axes=1)
    ptps = [r["waveform_ptp"] for r, _ in same]
    ptp = None if any(p is None for p in ptps) else np.max(np.stack(ptps), axis=0)
    noises = [r["waveform_noise"] for r, _ in same if r["waveform_noise"] is not None]
    return {"waveform_median": median.astype(np.float32), "waveform_channels": present[0][0]["waveform_channels"],
            "waveform_ptp": ptp, "waveform_noise": float(np.mean(noises)) if noises else None}


def dense_waveform(waveform: dict[str, Any], *, fill: str = "zeros", seed: Any = 0) -> np.ndarray:
    """The median on every channel (samples × channels); channels without one get zeros or noise."""
    median = np.asarray(waveform["waveform_median"], dtype=np.float32)
    channels = waveform.get("waveform_channels")
    if channels is None:
        return median
    ptp = waveform.get("waveform_ptp")
    n_channels = len(ptp) if ptp is not None else int(np.max(channels)) + 1
    dense = np.zeros((median.shape[0], n_channels), dtype=np.float32)
    if fill == "ptp" and ptp is not None:
        digest = hashlib.sha256(repr(seed).encode()).digest()
        noise = np.random.default_rng(int.from_bytes(digest[:8], "little")).normal(size=dense.shape)
        noise = np.apply_along_axis(lambda x: np.convolve(x, np.ones(5) / 5, mode="same"), 0, noise)
        dense = (noise / (np.ptp(noise, axis=0) + 1e-12) * np.asarray(ptp, dtype=np.float64)).astype(np.float32)
    elif fill not in ("zeros", "ptp"):
        raise QueryError(f"fill={fill!r} is not a fill.", hint="Use fill='zeros' or fill='ptp'.")
    dense[:, np.asarray(channels, dtype=int)] = median
    return dense


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(row[k] for k in (*_SORTING_KEY, "unit_id"))
