"""The upkeep a lake needs to run for years (``labdata admin maintain``).

In order: rows inlined in the catalog database are flushed to Parquet; small adjacent files of each table are
merged; snapshots older than the retention are expired (time travel to them ends); data files that no live
snapshot references any more are deleted, as are files in the data path that the catalog never registered
(left by a writer that crashed) once they are older than a grace period; and array groups of the lake folder
(``catalog/arrays``: long blobs, spike trains) that no current row and no row changed within the retention
refers to are deleted, also only once older than the grace period.

Every step is one DuckLake call or reads a snapshot, so writers carry on meanwhile: a merge that conflicts with
a writer is retried; a file or group a writer has written but not yet committed is younger than the grace
period and stays.
"""

from __future__ import annotations

import datetime as dt
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labdata.catalog.engine.attach import retry_on_conflict
from labdata.catalog.engine.listing import GUARD_SCHEMA
from labdata.catalog.engine.metadata import metadata_table, nonempty_tables
from labdata.catalog.ops.array_groups import REF_TAG, ArrayRef

if TYPE_CHECKING:
    from labdata.catalog.engine.lake import Lake

__all__ = ["ARRAYS_FOLDER", "MaintenanceReport", "maintain"]

ARRAYS_FOLDER = "catalog/arrays"
_REF_PATTERN = REF_TAG.split(b"\x00")[0].decode() + "%"  # BLOB as VARCHAR shows the tag's NUL escaped
_REF_MAX_BYTES = 4096  # a reference is a short JSON; larger blobs are values, not references


@dataclass
class MaintenanceReport:
    """What :func:`maintain` did (or, with ``dry_run``, would do)."""

    files_before: int = 0
    files_after: int = 0
    expired_snapshots: list[int] = field(default_factory=list)
    oldest_snapshot: int | None = None
    deleted_files: list[str] = field(default_factory=list)
    orphaned_files: list[str] = field(default_factory=list)
    deleted_arrays: list[str] = field(default_factory=list)
    kept_arrays: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    def lines(self) -> list[str]:
        """The report as lines for a terminal."""
        verb = "would delete" if self.dry_run else "deleted"
        return [
            f"data files: {self.files_before} -> {self.files_after} (inlined rows flushed, small files merged)",
            f"snapshots expired: {len(self.expired_snapshots)}; the oldest one kept is {self.oldest_snapshot}",
            f"data files no live snapshot needs: {verb} {len(self.deleted_files)}",
            f"files the catalog never registered: {verb} {len(self.orphaned_files)}",
            f"array groups no row refers to: {verb} {len(self.deleted_arrays)} (kept {self.kept_arrays})",
            f"took {self.seconds:.1f} s",
        ]


def maintain(lake: Lake, *, retention: dt.timedelta, grace: dt.timedelta = dt.timedelta(hours=1),
             dry_run: bool = False) -> MaintenanceReport:
    """Flush, merge, expire, clean up (see the module docstring) and report.

    Parameters
    ----------
    lake : Lake
        A writable lake.
    retention : timedelta
        Snapshots younger than this stay (``catalog.retention_days``).
    grace : timedelta
        Files and array groups younger than this are never deleted (a writer may not have committed yet).
    dry_run : bool
        Report only; change nothing.
    """
    started, report = time.monotonic(), MaintenanceReport(dry_run=dry_run)
    now = dt.datetime.now(dt.UTC)
    report.files_before = lake.data_files()
    alias = lake.alias
    if not dry_run:
        retry_on_conflict(lake.flush_inlined_data, 300, "flush inlined rows")
        retry_on_conflict(lambda: _call(lake, f"ducklake_merge_adjacent_files('{alias}')"), 300, "merge files")
    report.expired_snapshots = _expire(lake, now - retention, dry_run=dry_run)
    report.deleted_files = _paths(_call(
        lake, f"ducklake_cleanup_old_files('{alias}', dry_run => {dry_run}, cleanup_all => true)"))
    report.orphaned_files = _paths(_call(
        lake, f"ducklake_delete_orphaned_files('{alias}', dry_run => {dry_run}, older_than => ?)", [now - grace]))
    report.files_after = lake.data_files()
    expired = set(report.expired_snapshots)  # a dry run expired none: the oldest one it would keep
    report.oldest_snapshot = min(int(row[0]) for row in lake.execute(f"SELECT snapshot_id FROM {alias}.snapshots()")
                                 .fetchall() if int(row[0]) not in expired)
    _remove_unreferenced_arrays(lake, report, now - grace, dry_run=dry_run)
    report.seconds = time.monotonic() - started
    return report


def _expire(lake: Lake, before: dt.datetime, *, dry_run: bool) -> list[int]:
    """Expire the snapshots taken before ``before`` (never the latest); return their ids.

    The versions are chosen here, comparing times in DuckDB: ``older_than`` of DuckLake 1.5.5 expired every
    snapshot but the latest on a SQLite catalog, whatever the time given.
    """
    old = [int(row[0]) for row in lake.execute(
        f"SELECT snapshot_id FROM {lake.alias}.snapshots() WHERE snapshot_time < ? AND snapshot_id < "
        f"(SELECT max(snapshot_id) FROM {lake.alias}.snapshots()) ORDER BY snapshot_id", [before]).fetchall()]
    if not old:
        return []
    versions = ", ".join(str(v) for v in old)
    _call(lake, f"ducklake_expire_snapshots('{lake.alias}', dry_run => {dry_run}, versions => [{versions}])")
    return old


def _call(lake: Lake, call: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    return list(lake.cursor().execute(f"CALL {call}", params).fetchall())


def _paths(rows: list[tuple[Any, ...]]) -> list[str]:
    return [str(row[0]) for row in rows]


def _remove_unreferenced_arrays(lake: Lake, report: MaintenanceReport, before: dt.datetime, *,
                                dry_run: bool) -> None:
    """Delete the groups under ``catalog/arrays`` that no live row refers to and that are older than ``before``."""
    folder = lake.root / ARRAYS_FOLDER
    groups = sorted(path for path in folder.rglob("*.zarr") if path.is_dir()) if folder.exists() else []
    if not groups:
        return
    referenced = referenced_groups(lake, report.oldest_snapshot or 0)
    cutoff = before.timestamp()
    for group in groups:
        relative = group.relative_to(lake.root).as_posix()
        if relative in referenced or group.stat().st_mtime > cutoff:
            report.kept_arrays += 1
            continue
        report.deleted_arrays.append(relative)
        if not dry_run:
            shutil.rmtree(group, ignore_errors=True)


def referenced_groups(lake: Lake, since: int) -> set[str]:
    """The array groups of the lake folder that rows refer to: current rows, and rows deleted or changed in
    snapshots from ``since`` on (time travel within the retention reads them)."""
    columns = lake.execute(
        "SELECT schema_name, table_name, column_name FROM duckdb_columns() "
        f"WHERE database_name = '{lake.alias}' AND data_type = 'BLOB' AND schema_name <> '{GUARD_SCHEMA}'"
    ).fetchall()
    holding, deleting = nonempty_tables(lake), _tables_deleted_from(lake, since)
    current = lake.current_snapshot()
    groups: set[str] = set()
    for schema, table, column in columns:
        parts = []
        if holding is None or (schema, table) in holding:
            parts.append(f'SELECT "{column}" AS v FROM {lake.alias}."{schema}"."{table}"')
        if (schema, table) in deleting:
            parts.append(f"SELECT \"{column}\" AS v FROM ducklake_table_changes('{lake.alias}', '{schema}', "
                         f"'{table}', {int(since)}, {current}) WHERE change_type IN ('delete', 'update_preimage')")
        if not parts:
            continue
        sql = (f"SELECT DISTINCT v FROM ({' UNION ALL '.join(parts)}) "
               f"WHERE octet_length(v) < {_REF_MAX_BYTES} AND CAST(v AS VARCHAR) LIKE ?")
        references = [bytes(row[0]) for row in lake.execute(sql, [_REF_PATTERN]).fetchall()]
        groups.update(filter(None, map(_group_of, ArrayRef.decode_many(references))))
    return groups


def _tables_deleted_from(lake: Lake, since: int) -> set[tuple[str, str]]:
    """``(schema, table)`` of the tables that snapshots from ``since`` on deleted rows from."""
    ids: set[int] = set()
    rows = lake.execute(f"SELECT changes FROM {lake.alias}.snapshots() WHERE snapshot_id >= ?", [since]).fetchall()
    for (changes,) in rows:
        for key in ("tables_deleted_from", "inlined_delete"):
            ids.update(int(table_id) for table_id in (changes or {}).get(key, []))
    if not ids:
        return set()
    listed = ", ".join(str(i) for i in sorted(ids))
    return set(lake.execute(
        f"SELECT s.schema_name, t.table_name FROM {metadata_table(lake, 'ducklake_table')} t "
        f"JOIN {metadata_table(lake, 'ducklake_schema')} s ON s.schema_id = t.schema_id "
        f"WHERE t.table_id IN ({listed}) AND t.end_snapshot IS NULL AND s.end_snapshot IS NULL").fetchall())


def _group_of(reference: ArrayRef) -> str:
    """The group path of a reference kept in the lake folder (empty for one on a storage)."""
    store = reference.store
    if reference.storage or ".zarr" not in store:
        return ""
    return store[: store.index(".zarr") + len(".zarr")]
