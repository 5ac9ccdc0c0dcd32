"""UnitCountCriteria and UnitCount: classify the units of each sorting (reference §1.11).

A criteria row holds ``sua_criteria`` (a pandas expression over UnitMetrics columns, see
:mod:`labdata.metrics.unit_criteria`; the SQL spellings AND/OR/NOT work too) and an
optional ``mua_criteria``. ``UnitCount.populate()`` makes one count per sorting and computed
criteria: ``UnitCount.Unit.passes`` is 1 (single unit) where the SUA criteria holds, else 0
(multi unit), and -1 (noise) where the MUA criteria does not hold.

Criteria named ``manual_<annotator>_<descriptor>`` (made with ``UnitCountCriteria.add_manual``)
hold hand-curated labels: populate skips them; ``UnitCount.copy_passes`` seeds them from
another criteria, and ``UnitCount.refresh_summary`` recounts a summary after labels change.

Examples
--------
>>> UnitCountCriteria().insert1(dict(unit_criteria_id=1, sua_criteria="isi_contamination < 0.1"))  # doctest: +SKIP
>>> UnitCount.populate(session_key)                                                    # doctest: +SKIP
>>> curated = UnitCountCriteria.add_manual("manual_couto_strict")                      # doctest: +SKIP
>>> UnitCount.copy_passes(session_key, source_criteria_id=1, target_criteria_id=curated)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from labdata.core.errors import DataError, DuplicateError, QueryError
from labdata.schema.unit_metrics_methods import SiblingTables

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UnitCountCriteriaMethods", "UnitCountMethods"]

MANUAL_NAME = re.compile(r"manual_[A-Za-z0-9]+_\w+")
NOT_MANUAL = "sua_criteria NOT LIKE 'manual\\_%'"


class UnitCountCriteriaMethods:
    """Mixed into UnitCountCriteria."""

    def next_id(self) -> int:
        """The next free ``unit_criteria_id`` (1 for the first criteria)."""
        ids = self.fetch("unit_criteria_id")  # type: ignore[attr-defined]
        return int(max(ids, default=0)) + 1

    def add_manual(self, name: str) -> int:
        """Add a hand-curated criteria ``manual_<annotator>_<descriptor>``; return its id (an existing one's if any).

        Raises
        ------
        DataError
            When ``name`` is not of that form.
        """
        if not MANUAL_NAME.fullmatch(name):
            raise DataError(f"{name!r} is not a manual criteria name.",
                            hint="Name it manual_<annotator>_<descriptor>, e.g. manual_couto_strict.")

        def work() -> int:
            existing = (self & {"sua_criteria": name}).fetch("unit_criteria_id")  # type: ignore[operator]
            if len(existing):
                return int(existing[0])
            new = self.next_id()
            self.insert1(dict(unit_criteria_id=new, sua_criteria=name))  # type: ignore[attr-defined]
            return new

        return int(self.context.lake.run(work))  # type: ignore[attr-defined]


class UnitCountMethods(SiblingTables):
    """Mixed into UnitCount."""

    @property
    def key_source(self) -> Any:
        """Every sorting with unit metrics under every computed criteria (``manual_...`` ones are curated).

        Sortings without UnitMetrics rows wait (a count of zero units would stay stale once
        their metrics are made).
        """
        criteria = self._table("UnitCountCriteria") & NOT_MANUAL
        return (self._table("SpikeSorting") & self._table("UnitMetrics")).proj() * criteria.proj()

    def make(self, key: Mapping[str, Any]) -> None:
        """Classify the units of one sorting under one criteria and insert the count and the labels."""
        from labdata.metrics.unit_criteria import classify_units  # pandas, on first use

        sorting = self._sorting_key(key)
        criteria = {"unit_criteria_id": key["unit_criteria_id"]}
        sua, mua = (self._table("UnitCountCriteria") & criteria).fetch1("sua_criteria", "mua_criteria")
        metrics = self._metrics_frame(sorting)
        passes = classify_units(metrics, sua, mua)
        master = dict(sorting, **criteria)
        self.insert1(dict(master, **_summary(passes, len(passes))))  # type: ignore[attr-defined]
        self._table("UnitCount.Unit").insert([dict(master, unit_id=int(u), passes=int(p))
                                              for u, p in zip(metrics.unit_id, passes, strict=True)])

    def _metrics_frame(self, sorting: dict[str, Any]) -> pd.DataFrame:
        """The UnitMetrics rows of the sorting, one column per attribute (even with no rows)."""
        import pandas as pd

        table = self._table("UnitMetrics")
        rows = (table & sorting).fetch(as_dict=True)
        return pd.DataFrame(rows, columns=list(table.heading.names))

    def refresh_summary(self, key: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Recount ``all``, ``sua`` and ``mua`` of the selected counts from their unit labels.

        ``all`` is the number of units with metrics; units without a label count as multi units
        (``mua = all - sua - noise``). Returns the updated rows.
        """
        selection: Any = self if key is None else self & dict(key)  # type: ignore[operator]

        def work() -> list[dict[str, Any]]:
            updated = []
            for master in selection.fetch("KEY"):
                passes = (self._table("UnitCount.Unit") & master).fetch("passes")
                row = dict(master, **_summary(passes, self._n_units(master)))
                self.update1(row)  # type: ignore[attr-defined]
                updated.append(row)
            return updated

        return list(self.context.lake.run(work))  # type: ignore[attr-defined]

    def _n_units(self, key: Mapping[str, Any]) -> int:
        return len(self._table("UnitMetrics") & self._sorting_key(key))

    def copy_passes(self, key: Mapping[str, Any], source_criteria_id: int, target_criteria_id: int,
                    replace: bool = False) -> list[dict[str, Any]]:
        """Copy the unit labels of one criteria to another for the sortings of ``key``, in one transaction.

        Seeds a hand-curated (``manual_...``) criteria from a computed one, one count per sorting
        (probe and parameter set), with its summary. Returns the target counts made.

        Raises
        ------
        QueryError
            When the target criteria does not exist, or the source has no counts for ``key``.
        DuplicateError
            When the target has counts for one of these sortings already and ``replace`` is False.
        """
        def work() -> list[dict[str, Any]]:
            self._check_criteria(target_criteria_id)
            sources = (self & dict(key) & {"unit_criteria_id": source_criteria_id}).fetch("KEY")  # type: ignore[operator]
            if not sources:
                raise QueryError(f"No UnitCount of criteria {source_criteria_id} for {dict(key)}.",
                                 hint="Populate UnitCount for that criteria first, or check the key.")
            return [self._copy_one(source, target_criteria_id, replace) for source in sources]

        return list(self.context.lake.run(work))  # type: ignore[attr-defined]

    def add_labels(self, key: Mapping[str, Any], criteria_name: str, labels: Mapping[int, str],
                   replace: bool = False) -> dict[str, Any]:
        """Count one sorting's units by curated labels (phy's ``good``/``mua``/``noise``) under a manual criteria.

        ``good`` units pass (1), ``noise`` units are noise (-1), every other unit of the sorting
        (``mua``, unlabelled) is a multi unit (0). The sorting's units need UnitMetrics rows.
        Returns the count's summary row.
        """
        criteria_id = self._table("UnitCountCriteria").add_manual(criteria_name)
        sorting = (self._table("SpikeSorting") & dict(key)).fetch1("KEY")
        units = (self._table("UnitMetrics") & sorting).fetch("unit_id").tolist()
        if not units:
            raise QueryError(f"The sorting {sorting} has no UnitMetrics rows to label.",
                             hint="Run UnitMetrics.populate(key) first.")
        code = {"good": 1, "noise": -1}
        passes = np.array([code.get(str(labels.get(u, "")).lower(), 0) for u in units])
        target = dict(sorting, unit_criteria_id=criteria_id)

        def work() -> dict[str, Any]:
            existing = self & target  # type: ignore[operator]
            if existing and not replace:
                raise DuplicateError(f"UnitCount {target} exists already.", hint="Pass replace=True to relabel.")
            (self._table("UnitCount.Unit") & target).delete_quick()
            existing.delete_quick()
            row = dict(target, **_summary(passes, len(units)))
            self.insert1(row, allow_direct_insert=True)  # type: ignore[attr-defined]
            self._table("UnitCount.Unit").insert([dict(target, unit_id=u, passes=int(p)) for u, p in
                                                  zip(units, passes, strict=True)], allow_direct_insert=True)
            return row

        return dict(self.context.lake.run(work))  # type: ignore[attr-defined]

    def _check_criteria(self, criteria_id: int) -> None:
        if not self._table("UnitCountCriteria") & {"unit_criteria_id": criteria_id}:
            raise QueryError(f"No UnitCountCriteria {criteria_id}.",
                             hint="Create it first, e.g. UnitCountCriteria.add_manual('manual_<you>_<what>').")

    def _copy_one(self, source: dict[str, Any], target_criteria_id: int, replace: bool) -> dict[str, Any]:
        target = dict(source, unit_criteria_id=target_criteria_id)
        existing = self & target  # type: ignore[operator]
        if existing:
            if not replace:
                raise DuplicateError(f"UnitCount {target} exists already.",
                                     hint="Pass replace=True to overwrite its labels.")
            existing.delete(safemode=False)
        labels = (self._table("UnitCount.Unit") & source).fetch(as_dict=True)
        passes = np.array([row["passes"] for row in labels])
        row = dict(target, **_summary(passes, self._n_units(source)))
        self.insert1(row, allow_direct_insert=True)  # type: ignore[attr-defined]
        self._table("UnitCount.Unit").insert([dict(label, unit_criteria_id=target_criteria_id) for label in labels],
                                             allow_direct_insert=True)
        return row


def _summary(passes: np.ndarray, n_units: int) -> dict[str, int]:
    """``all``, ``sua`` and ``mua`` (unlabelled units are multi units)."""
    passes = np.asarray(passes)
    sua, noise = int(np.sum(passes == 1)), int(np.sum(passes == -1))
    return {"all": int(n_units), "sua": sua, "mua": int(n_units) - sua - noise}
