"""The worker loop of populate: keys reserved, made and committed in batches.

A catalog commit costs milliseconds (a DuckLake snapshot written to SQLite or PostgreSQL), and reading
inside a write transaction bypasses the read replica, so a cheap ``make`` made and committed key by key
spends most of its time on the catalog. The loop therefore works in batches: it reserves a batch of keys
in one transaction (with ``reserve_jobs``), runs each key's ``make`` with its inserts deferred (reads see
the latest committed snapshot, inserts are checked at once and buffered, see
:mod:`labdata.catalog.engine.deferred`), and commits the rows of the whole batch, with the release of
its reservations and the reservation of the next batch, in one transaction. The batch grows (1, 32, 1,024)
while makes are quick and stays at one key for slow ones, so long makes are spread over workers as before.

What each key sees is what DataJoint promises: its rows commit together or not at all, a key already
made by another worker is skipped, a failed make is recorded and leaves nothing. A make that needs its own
transaction (it reads what it wrote, or deletes or updates) is made again alone, in one; so are the keys of
a batch whose commit is refused, so that the refusal lands on the key that caused it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from labdata.catalog.engine.context import use
from labdata.catalog.engine.deferred import DeferredWrites, NeedsTransaction
from labdata.catalog.engine.keeper import catalog_kept_open
from labdata.catalog.ops.ddl import ensure_schemas
from labdata.catalog.ops.insert import making, write_deferred
from labdata.catalog.populate.jobs import JobTable, error_message, job_registry, key_hash
from labdata.catalog.populate.making import SIGTERM_MESSAGE, PopulateResult
from labdata.core.errors import LabdataError, TransactionConflictError

if TYPE_CHECKING:
    from labdata.catalog.tables.table import Table

__all__ = ["BatchSizer", "fair_share", "make_keys"]

logger = logging.getLogger(__name__)

MAX_BATCH = 1024
GROWTH = 32  # how much larger a batch may be than the last (its makes' time is known only for that many keys)
MAX_WINDOW = 4096
BATCH_SECONDS = 0.25
#: after this many makes in a row needed their own transaction, the rest are made alone at once
ALONE_AFTER = 3


@dataclass
class BatchSizer:
    """How many keys the next batch takes: grows ``GROWTH``-fold while a batch's makes take under ``BATCH_SECONDS``.

    Examples
    --------
    >>> sizer = BatchSizer()
    >>> sizer.update(keys=1, seconds=0.001); sizer.size
    32
    >>> sizer.update(keys=2, seconds=2.0); sizer.size
    1
    """

    size: int = 1

    def update(self, keys: int, seconds: float) -> None:
        """Size the next batch after ``keys`` were made in ``seconds``."""
        if keys:
            fits = int(BATCH_SECONDS * keys / seconds) if seconds > 0 else MAX_BATCH
            self.size = max(1, min(self.size * GROWTH, fits, MAX_BATCH))


def fair_share(size: int, remaining: int, seconds_per_key: float, commit_seconds: float) -> int:
    """``size``, or half the ``remaining`` keys if fewer, while making those would take longer than two commits.

    Workers that reserve keys share them: a worker that reserved every key left would make them alone while the
    others wait. Halving costs a worker alone one more commit, so it stops once the makes are cheaper than that.

    Examples
    --------
    >>> fair_share(1024, remaining=967, seconds_per_key=0.0003, commit_seconds=0.05)
    484
    >>> fair_share(1024, remaining=300, seconds_per_key=0.0003, commit_seconds=0.05)
    1024
    """
    if remaining * seconds_per_key > 2 * commit_seconds:
        return max(1, min(size, -(-remaining // 2)))
    return size


def make_keys(table: Table, keys: list[dict[str, Any]], *, reserve_jobs: bool, suppress_errors: bool,
              display_progress: bool, make_kwargs: dict[str, Any] | None,
              return_exception_objects: bool = False, stopped: threading.Event | None = None) -> PopulateResult:
    """Make each key (the worker loop, also used by each process of a pool), in batches.

    As in DataJoint 0.14, an interrupted make (KeyboardInterrupt, SystemExit from SIGTERM)
    is recorded in the job table like a failed one; SystemExit is always raised again. ``stopped`` (from
    :func:`~labdata.catalog.populate.making.sigterm_exits`) makes any failure after SIGTERM a SystemExit.
    """
    jobs = None
    if reserve_jobs:
        ensure_schemas(table.context, job_registry)
        jobs = JobTable(str(table._full_name), table.context)
    worker = _Worker(table, jobs, make_kwargs or {}, suppress_errors, return_exception_objects, stopped)
    # workers that reserve keys share the catalog with others: keep its SQLite file open (see engine.keeper)
    keeper = catalog_kept_open(table.context.lake) if jobs is not None else contextlib.nullcontext()
    with keeper, tqdm(total=len(keys), desc=f"populate {table._full_name}", disable=not display_progress) as bar:
        planner = _Planner(keys, jobs, worker, bar)
        batch = planner.reserve_next()
        while batch:
            following = planner.after(batch)
            batch = planner.advance(following, worker.make_batch(batch, following))
    return worker.result


@dataclass(frozen=True)
class _Reservation:
    """The next batch and where the key list stands after it (applied only once its transaction committed)."""

    keys: list[dict[str, Any]]
    position: int
    window: int
    passed_over: int


@dataclass
class _Planner:
    """Which keys the next batch takes: a window of the key list, its free keys reserved (with ``reserve_jobs``)."""

    keys: list[dict[str, Any]]
    jobs: JobTable | None
    worker: _Worker
    bar: Any
    sizer: BatchSizer = field(default_factory=BatchSizer)
    position: int = 0
    window: int = 1

    def reserve_next(self) -> list[dict[str, Any]]:
        """Reserve the next batch in its own transaction; empty when no key is left."""
        started = time.perf_counter()
        reservation = self._reserve(self.sizer.size)
        self.worker.commit_seconds = time.perf_counter() - started
        return self._apply(reservation)

    def _reserve(self, size: int) -> _Reservation:
        """Reserve up to ``size`` keys from the current position, passing over held ones; changes no state, so that a
        transaction retried after a conflict reserves the same way again."""
        position, window, passed_over = self.position, self.window, 0
        while position < len(self.keys):
            chunk = self.keys[position:position + max(window, size)]
            reserved, consumed = self.jobs.reserve_many(chunk, size, self.worker.present) if self.jobs is not None \
                else (chunk[:size], min(len(chunk), size))
            position, passed_over = position + consumed, passed_over + consumed - len(reserved)
            # keys other workers hold are passed over in windows that double, not one reservation at a time
            window = size if reserved else min(2 * max(window, size), MAX_WINDOW)
            if reserved:
                return _Reservation(reserved, position, window, passed_over)
        return _Reservation([], position, window, passed_over)

    def _apply(self, reservation: _Reservation) -> list[dict[str, Any]]:
        self.bar.update(reservation.position - self.position)
        self.position, self.window = reservation.position, reservation.window
        self.worker.result.skipped += reservation.passed_over
        return reservation.keys

    def after(self, batch: list[dict[str, Any]]) -> _NextBatch:
        """What reserves the batch after ``batch``, sized by the time its makes took."""
        return _NextBatch(self, len(batch), self.worker.making_seconds)

    def advance(self, following: _NextBatch, reservation: _Reservation | None) -> list[dict[str, Any]]:
        """Take the batch reserved in the last commit's transaction, or reserve it now; return its keys."""
        self.sizer.size = following.size()
        return self._apply(reservation) if reservation is not None else self.reserve_next()


@dataclass
class _NextBatch:
    """Reserves the next batch from inside a commit's transaction (the same way again if the transaction is retried)."""

    planner: _Planner
    made: int
    started: float
    _size: int | None = None

    def size(self) -> int:
        """The next batch's size, from the time the last batch's makes took (fixed at the first call)."""
        if self._size is None:
            planner, seconds = self.planner, self.planner.worker.making_seconds - self.started
            sizer = BatchSizer(planner.sizer.size)
            sizer.update(self.made, seconds)
            self._size = fair_share(sizer.size, len(planner.keys) - planner.position,
                                    seconds / max(self.made, 1), planner.worker.commit_seconds)
        return self._size

    def __call__(self) -> _Reservation:
        return self.planner._reserve(self.size())


@dataclass
class _Worker:
    """One populate worker: what it makes keys with, and what it made."""

    table: Any  # an AutoPopulate: a Table with make()
    jobs: JobTable | None
    make_kwargs: dict[str, Any]
    suppress_errors: bool
    return_exception_objects: bool
    stopped: threading.Event | None
    result: PopulateResult = field(default_factory=PopulateResult)
    alone_streak: int = 0  # makes in a row that needed their own transaction
    making_seconds: float = 0.0  # spent in make() (the batch's size follows it; commits cost the same at any size)
    commit_seconds: float = 0.0  # the last write transaction, waiting for other writers included

    def make_batch(self, keys: list[dict[str, Any]], reserve_next: Callable[[], Any]) -> Any:
        """Make ``keys`` (reserved), commit the deferred ones together, with ``reserve_next()`` in the same transaction.

        Returns what ``reserve_next()`` returned, or None when there was nothing to commit (or the commit was refused).
        """
        buffer, deferred, index = DeferredWrites(), [], -1
        try:
            for index, key in enumerate(keys):
                failure = self._make_deferred(index, key, buffer) if self.alone_streak < ALONE_AFTER else \
                    NeedsTransaction()
                self.alone_streak = self.alone_streak + 1 if isinstance(failure, NeedsTransaction) else 0
                if failure is None:
                    deferred.append(index)
                elif isinstance(failure, NeedsTransaction):
                    self._make_alone(key)
                else:
                    if not self._interrupted(failure):
                        self._commit(keys, deferred, buffer)  # keys made before the failure are kept
                        deferred, buffer = [], DeferredWrites()
                    self._fail(key, failure)
            return self._commit(keys, deferred, buffer, reserve_next)
        except BaseException:
            with contextlib.suppress(Exception):  # a worker stopping gives its unmade keys back
                if self.jobs is not None:
                    self.jobs.release_many([keys[i] for i in deferred] + keys[index + 1:])
            raise

    def _interrupted(self, failure: BaseException) -> bool:
        """Whether the worker is being stopped (Ctrl-C, SIGTERM), rather than a make having failed."""
        return isinstance(failure, KeyboardInterrupt | SystemExit) or bool(self.stopped and self.stopped.is_set())

    def _make_deferred(self, index: int, key: dict[str, Any], buffer: DeferredWrites) -> BaseException | None:
        """Run make(key) with its inserts buffered; the exception it ended with, if any."""
        mark = buffer.begin(index)
        lake, started = self.table.context.lake, time.perf_counter()
        try:
            with lake.deferring(buffer), making(type(self.table)), use(self.table.context):
                self.table.make(dict(key), **self.make_kwargs)
        except (KeyboardInterrupt, SystemExit, Exception, NeedsTransaction) as error:
            self.making_seconds += time.perf_counter() - started
            needs_transaction = buffer.poisoned
            buffer.discard_from(mark)
            return NeedsTransaction() if needs_transaction and not self._interrupted(error) else error
        self.making_seconds += time.perf_counter() - started
        if buffer.poisoned:  # the make swallowed the signal: its reads may have missed its own rows
            buffer.discard_from(mark)
            return NeedsTransaction()
        return None

    def _commit(self, keys: list[dict[str, Any]], deferred: list[int], buffer: DeferredWrites,
                then: Callable[[], Any] | None = None) -> Any:
        """Write the deferred keys' rows and release their reservations in one transaction, with ``then()`` last.

        Keys found made meanwhile (by a worker that did not reserve) are skipped. If the commit is refused
        (a duplicate, a parent deleted meanwhile), each key is made again alone, to find the one at fault.
        Returns what ``then()`` returned, or None when it was not called.
        """
        if not deferred:
            return None
        made_keys = [keys[i] for i in deferred]

        def work() -> tuple[list[int], Any]:
            # reserved keys are made by no other worker that reserves; one that does not is caught by the insert's
            # duplicate check, which refuses the batch, and each key is then made (or found made) alone
            present = self.present(made_keys) if self.jobs is None else set()
            fresh = [i for i in deferred if key_hash(keys[i]) not in present]
            write_deferred(buffer.writes_of(fresh))
            if self.jobs is not None:
                self.jobs.release_many(made_keys)
            return fresh, then() if then is not None else None

        started = time.perf_counter()
        try:
            fresh, following = self.table.context.lake.run(work)
            self.commit_seconds = time.perf_counter() - started
        except TransactionConflictError:
            raise
        except LabdataError as refused:
            logger.info("A batch of %d keys was refused (%s); making them one by one", len(made_keys), refused)
            for key in made_keys:
                self._make_alone(key)
            return None
        for i in deferred:
            if i in fresh:
                self.result.made.append(keys[i])
            else:
                self.result.skipped += 1
        return following

    def present(self, keys: list[dict[str, Any]]) -> set[str]:
        """The hashes of ``keys`` that the table has rows of (inside the caller's transaction)."""
        names = list(keys[0])
        rows = (self.table.proj() & keys).fetch(*names, as_dict=True)
        return {key_hash({name: row[name] for name in names}) for row in rows}

    def _make_alone(self, key: dict[str, Any]) -> None:
        """Make one key in its own transaction (a make that cannot be deferred)."""
        started = time.perf_counter()
        try:
            made = _make_one(self.table, key, self.make_kwargs, self.jobs)
        except (KeyboardInterrupt, SystemExit, Exception) as error:
            self._fail(key, error)
            return
        finally:
            self.making_seconds += time.perf_counter() - started
        if made:
            self.result.made.append(key)
        else:
            self.result.skipped += 1

    def _fail(self, key: dict[str, Any], error: BaseException) -> None:
        """Record a failed make; raise it again unless errors are suppressed (SystemExit always)."""
        if self.stopped is not None and self.stopped.is_set() and not isinstance(error, SystemExit):
            error = SystemExit(SIGTERM_MESSAGE)  # DuckDB's "Query interrupted" after SIGTERM
        if self.jobs is not None:
            self.jobs.error(key, error)
        if isinstance(error, SystemExit) or not self.suppress_errors:
            raise error
        logger.warning("make(%s) failed: %s", key, error)
        self.result.errors.append((key, error if self.return_exception_objects else error_message(error)))


def _make_one(table: Any, key: dict[str, Any], make_kwargs: dict[str, Any], jobs: JobTable | None) -> bool:
    """Run make(key) in one retried transaction; False if another worker made the key meanwhile.

    The key's reservation (``jobs``) is released in the same transaction: one commit per key instead of two,
    and a worker killed after the make leaves no reservation of a made key behind.
    """
    lake, master = table.context.lake, type(table)

    def work() -> bool:
        made = not table & key
        if made:
            with making(master), use(table.context):  # tables named inside make use the same lake and project
                table.make(dict(key), **make_kwargs)
        if jobs is not None:
            jobs.complete(key)
        return made

    return lake.run(work)
