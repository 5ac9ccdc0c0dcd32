"""Several transfers at once, on a few threads, behind one progress bar of bytes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

__all__ = ["PARALLEL_FILES", "transfer_all"]

T = TypeVar("T")

#: files moved at once (each large one is itself split into parallel parts)
PARALLEL_FILES = 4


def transfer_all(transfers: Sequence[Callable[[Callable[[int], Any]], T]], *, total: int, desc: str,
                 progress: bool = True, on_bytes: Callable[[int], Any] | None = None) -> list[T]:
    """Run each transfer (called with a function to report bytes moved) and return their results in order.

    Parameters
    ----------
    transfers : sequence of callables
        Each takes a byte counter and returns its result; the first error is raised.
    total : int
        Bytes all transfers move, for the bar.
    desc : str
        The bar's label.
    progress : bool
        Show the bar.
    on_bytes : callable, optional
        Also told of every count (e.g. to log progress).
    """
    with tqdm(total=total, unit="B", unit_scale=True, desc=desc, disable=not progress) as bar, \
            ThreadPoolExecutor(PARALLEL_FILES) as pool:
        def tick(count: int) -> None:
            bar.update(count)
            if on_bytes is not None:
                on_bytes(count)

        jobs = [pool.submit(transfer, tick) for transfer in transfers]
        return [job.result() for job in jobs]
