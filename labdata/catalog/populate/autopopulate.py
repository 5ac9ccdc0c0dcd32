"""The tiers that populate: Imported and Computed tables, whose rows ``make(key)`` writes.

``populate`` calls ``make(key)`` for every key of ``key_source`` not yet in the
table. Each ``make`` runs in one write transaction, so a master row and its parts
commit together or not at all; inserts into the table are allowed only while its
``make`` runs. With ``reserve_jobs`` a worker first reserves each key in the job
table (:mod:`labdata.catalog.populate.jobs`), so that several workers, in one
process pool or on several machines, never make the same key; failures are
recorded there with their traceback.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, ClassVar

from labdata.catalog.populate.batches import make_keys
from labdata.catalog.populate.making import PopulateResult, key_source, sigterm_exits, todo_keys
from labdata.catalog.populate.pool import populate_in_processes
from labdata.catalog.tables.table import Table
from labdata.core.errors import NotAllowedError

__all__ = ["AutoPopulate", "Computed", "Imported"]


class AutoPopulate(Table):
    """A table whose rows ``make(key)`` computes for each key of its ``key_source``."""

    def populate(self, *restrictions: Any, keys: list[dict[str, Any]] | None = None, suppress_errors: bool = False,
                 return_exception_objects: bool = False, reserve_jobs: bool = False, order: str = "original",
                 limit: int | None = None, max_calls: int | None = None, display_progress: bool = False,
                 processes: int = 1, make_kwargs: dict[str, Any] | None = None) -> PopulateResult:
        """Call ``make(key)`` for every key of ``key_source`` (restricted) not in the table yet.

        Parameters
        ----------
        *restrictions
            Restrict the key source (dicts, strings, queries, as with ``&``).
        keys : list of dict, optional
            Make these keys instead of those of the key source (keys already made are skipped).
        return_exception_objects : bool
            With ``suppress_errors``, return the exceptions instead of their messages.
        order : {'original', 'reverse', 'random'}
            The order keys are made in.
        limit : int, optional
            Consider at most this many keys of the key source.
        reserve_jobs : bool
            Reserve each key in the job table first, so that concurrent workers
            (processes or machines) never make the same key; failures are recorded.
        suppress_errors : bool
            Go on after a failed make; the failures are returned.
        max_calls : int, optional
            Make at most this many keys.
        display_progress : bool
            Show a progress bar.
        processes : int
            Make keys in this many worker processes (the table must be importable).
        make_kwargs : dict, optional
            Keyword arguments for make.

        Returns
        -------
        PopulateResult
            ``made`` keys, ``skipped`` count, ``errors`` as (key, message); also DataJoint's
            mapping: ``result["success_count"]``, ``result["error_list"]``.
        """
        if not callable(getattr(self, "make", None)):
            raise NotAllowedError(f"{self._full_name} has no make() method.", hint="Define make(self, key).")
        if keys is None:
            keys = todo_keys(self, restrictions, order=order, limit=limit)
        keys = list(keys)[: max_calls or None]
        if processes > 1 and len(keys) > 1:
            return populate_in_processes(self, keys, processes=processes, suppress_errors=suppress_errors,
                                         display_progress=display_progress, make_kwargs=make_kwargs)
        with sigterm_exits() if reserve_jobs else nullcontext() as stopped:
            return make_keys(self, keys, reserve_jobs=reserve_jobs, suppress_errors=suppress_errors,
                             display_progress=display_progress, make_kwargs=make_kwargs,
                             return_exception_objects=return_exception_objects, stopped=stopped)

    def progress(self, *restrictions: Any) -> tuple[int, int]:
        """Return (keys still to make, keys in the key source)."""
        source = key_source(self, restrictions)
        return len(source - self.proj()), len(source)


class Imported(AutoPopulate):
    """Data imported from files by rules or by ``make``; direct inserts need ``allow_direct_insert``."""

    tier: ClassVar[str] = "imported"


class Computed(AutoPopulate):
    """Data computed from other tables by ``make``; direct inserts need ``allow_direct_insert``."""

    tier: ClassVar[str] = "computed"
