"""Methods of the file registries (File, AnalysisFile): find, check and fetch the stored files.

``(File & key).get()`` returns local paths for the selected files: each is looked
for under every folder of ``local_paths`` first, and only the missing ones are
downloaded, in parallel with one progress bar, to ``local_paths[0]/<file_path>``,
their MD5 checked against the File row before they appear under that name.

Examples
--------
>>> paths = (File & (Dataset.DataFiles & key)).get()                   # doctest: +SKIP
>>> found, missing = (File & key).check_if_files_local()               # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from labdata.core.errors import QueryError
from labdata.stores import open_store, safe_path
from labdata.stores.parallel import transfer_all

__all__ = ["AnalysisFileMethods", "FileMethods"]

class FileMethods:
    """Mixed into File and AnalysisFile (tables with ``file_path``, ``storage``, ``file_size``, ``file_md5``)."""

    def _rows(self) -> list[dict[str, Any]]:
        rows = self.fetch("file_path", "storage", "file_size", "file_md5", as_dict=True)  # type: ignore[attr-defined]
        if not rows:
            raise QueryError("No files are selected.", hint="Restrict the table to the files you want, e.g. "
                             "File & (Dataset.DataFiles & key).")
        return rows

    def _local_paths(self, local_paths: Sequence[str | Path] | None) -> list[Path]:
        paths = local_paths if local_paths is not None else self.context.prefs().local_paths  # type: ignore[attr-defined]
        if not paths:
            raise QueryError("No local_paths are configured.", hint="Set local_paths in the preferences.")
        return [Path(p).expanduser().absolute() for p in paths]

    def check_if_files_local(self, local_paths: Sequence[str | Path] | None = None) -> tuple[list[Path], list[str]]:
        """Return (local copies found, file paths found nowhere) for the selected files, searching every local path."""
        roots = self._local_paths(local_paths)
        found, missing = [], []
        for row in self._rows():
            copy = _find(row["file_path"], roots)
            if copy is None:
                missing.append(row["file_path"])
            else:
                found.append(copy)
        return found, missing

    def check_if_files_archived(self, *, restore: bool = False, suppress_error: bool = False) -> bool:
        """Whether any selected file is in an S3 archive tier.

        Raises :class:`~labdata.core.errors.FilesArchivedError` (after requesting restores when
        ``restore``) unless ``suppress_error``; returns False when every file can be read now.
        """
        from labdata.core.errors import FilesArchivedError

        archived = False
        for storage, rows in _by_storage(self._rows()).items():
            store = open_store(self.context.prefs(), storage)  # type: ignore[attr-defined]
            try:
                store.check_available([r["file_path"] for r in rows], restore=restore)
            except FilesArchivedError:
                if not suppress_error:
                    raise
                archived = True
        return archived

    def delete(self, *, dry_run: bool = False, safemode: bool | None = None, force_parts: bool = True,
               force_masters: bool = False) -> dict[str, int]:
        """Delete the selected rows (cascading, as :meth:`Query.delete`) and their stored objects.

        A file leaves the datasets that list it (``Dataset.DataFiles``, a part table): deleting
        files cascades into those parts without their masters (``force_parts=True`` by default,
        where DataJoint 0.14 would refuse).

        The objects are deleted after the rows' transaction commits, from intents recorded in
        it, so no crash leaves a row without its object or an object no record names
        (:mod:`labdata.schema.file_objects`).

        Raises
        ------
        StorageError
            An object could not be deleted; it stays recorded and a later call deletes it.
        """
        parent_delete = functools.partial(super().delete, safemode=safemode,  # type: ignore[misc]
                                          force_parts=force_parts, force_masters=force_masters)
        if dry_run:
            return parent_delete(dry_run=True)
        from labdata.schema.file_objects import delete_files

        return delete_files(self, parent_delete)

    def get(self, local_paths: Sequence[str | Path] | None = None, *, check_if_archived: bool = True,
            restore: bool = False, download: bool = True, progress: bool = True) -> list[Path]:
        """Local paths of the selected files (in the order of the rows), downloading the missing ones.

        Parameters
        ----------
        local_paths : list of path, optional
            Folders searched for local copies (default: the ``local_paths`` preference);
            downloads go to the first.
        check_if_archived : bool
            Check every missing file's archive tier before downloading any.
        restore : bool
            Request the restore of archived files (the call still raises until they are restored).
        download : bool
            Download missing files; if False they are left out of the result.
        progress : bool
            Show a progress bar of the bytes downloaded.
        """
        roots = self._local_paths(local_paths)
        rows = self._rows()
        local = {row["file_path"]: _find(row["file_path"], roots) for row in rows}
        missing = [row for row in rows if local[row["file_path"]] is None]
        if missing and download:
            for storage, group in _by_storage(missing).items():
                store = open_store(self.context.prefs(), storage)  # type: ignore[attr-defined]
                if check_if_archived:
                    store.check_available([r["file_path"] for r in group], restore=restore)
                local.update(_download(store, group, roots[0], progress))
        return [path for row in rows if (path := local[row["file_path"]]) is not None]


def _find(file_path: str, roots: list[Path]) -> Path | None:
    relative = safe_path(file_path)
    for root in roots:
        candidate = root / relative
        if candidate.is_file():
            return candidate
    return None


def _by_storage(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["storage"], []).append(row)
    return groups


def _download(store: Any, rows: list[dict[str, Any]], root: Path, progress: bool) -> dict[str, Path]:
    transfers = [functools.partial(_get_one, store, r, root) for r in rows]
    paths = transfer_all(transfers, total=int(sum(r["file_size"] or 0 for r in rows)), desc=f"get from {store.name}",
                         progress=progress)
    return {r["file_path"]: path for r, path in zip(rows, paths, strict=True)}


def _get_one(store: Any, row: dict[str, Any], root: Path, tick: Any) -> Path:
    size = int(row["file_size"]) if row["file_size"] is not None else None
    return store.get(row["file_path"], root / safe_path(row["file_path"]), md5=row["file_md5"], size=size,
                     progress=tick)


class AnalysisFileMethods(FileMethods):
    """Mixed into AnalysisFile: store analysis outputs under their dataset's folder and register them."""

    def generate_filepaths(self, src: Sequence[str | Path], dataset: dict[str, Any]) -> list[str]:
        """Storage paths of ``src``: ``[<project>/]<subject>/<session>/<dataset>/<basename>``.

        The project folder is left out for the default project (no project active).
        """
        from labdata.catalog.engine.context import DEFAULT_PROJECT

        missing = [n for n in ("subject_name", "session_name", "dataset_name") if not dataset.get(n)]
        if missing:
            raise QueryError(f"The dataset {dataset!r} lacks {', '.join(missing)}.",
                             hint="Pass a dict with subject_name, session_name and dataset_name.")
        project = self.context.project  # type: ignore[attr-defined]
        prefix = "" if project == DEFAULT_PROJECT else f"{project}/"
        folder = f"{prefix}{dataset['subject_name']}/{dataset['session_name']}/{dataset['dataset_name']}"
        return [safe_path(f"{folder}/{Path(p).name}") for p in src]

    def upload_files(self, src: Sequence[str | Path], dataset: dict[str, Any], *, force: bool = True,
                     progress: bool = True) -> list[dict[str, str]]:
        """Store local files as analysis outputs of ``dataset`` and insert their rows.

        Parameters
        ----------
        src : list of path
            Local files.
        dataset : dict
            Has ``subject_name``, ``session_name`` and ``dataset_name`` (which may contain ``/``).
        force : bool
            Replace rows (and objects) already at the same paths; otherwise raise.
        progress : bool
            Show a progress bar of the bytes sent.

        Returns
        -------
        list of dict
            ``{"file_path", "storage"}`` of each file, in the order of ``src``.

        Raises
        ------
        FileConflictError
            A path is registered already and ``force`` is False.
        """
        from labdata.schema.analysis_upload import upload_analysis_files

        return upload_analysis_files(self, [Path(p) for p in src], self.generate_filepaths(src, dataset),
                                     force=force, progress=progress)
