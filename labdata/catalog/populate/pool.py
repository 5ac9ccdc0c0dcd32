"""populate with ``processes > 1``: a process pool whose workers reserve keys in the job table.

Each worker process imports the table class by module and name, opens its own
handle on the same lake, and makes the keys it is given, reserving each first,
so a key is never made twice even when pools on several machines overlap.
"""

from __future__ import annotations

import importlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from labdata.catalog.engine.context import Context
from labdata.catalog.engine.lake import Lake
from labdata.catalog.populate.batches import make_keys
from labdata.catalog.populate.making import PopulateResult
from labdata.core.errors import NotAllowedError

if TYPE_CHECKING:
    from labdata.catalog.tables.table import Table

__all__ = ["populate_in_processes"]


def _lake_spec(table: Table) -> dict[str, Any]:
    lake = table.context.lake
    return {"kind": lake.kind, "root": str(lake.root), "dsn": lake.dsn, "metadata_schema": lake.metadata_schema,
            "data_path": None if lake._default_data_path else lake.data_path, "project": table.context.project,
            "data_storage": lake.data_storage}


def _table_path(table: Table) -> tuple[str, str]:
    cls = type(table)
    module, name = cls.__module__, cls.__qualname__
    if "<locals>" in name or module == "__main__":
        raise NotAllowedError(f"{name} is not importable by other processes.",
                              hint="Declare the table at the top level of an importable module, or use processes=1.")
    return module, name


def _worker(module: str, name: str, spec: dict[str, Any], keys: list[dict[str, Any]], suppress_errors: bool,
            make_kwargs: dict[str, Any] | None) -> tuple[list[dict[str, Any]], int, list[tuple[dict[str, Any], str]]]:
    cls: Any = importlib.import_module(module)
    for part in name.split("."):
        cls = getattr(cls, part)
    lake = Lake(spec["kind"], spec["root"], dsn=spec["dsn"], metadata_schema=spec["metadata_schema"],
                data_path=spec["data_path"], data_storage=spec["data_storage"])
    try:
        result = make_keys(cls(Context(lake, spec["project"])), keys, reserve_jobs=True,
                           suppress_errors=suppress_errors, display_progress=False, make_kwargs=make_kwargs)
    finally:
        lake.close()
    return result.made, result.skipped, result.errors


def populate_in_processes(table: Table, keys: list[dict[str, Any]], *, processes: int, suppress_errors: bool,
                          display_progress: bool, make_kwargs: dict[str, Any] | None) -> PopulateResult:
    """Split ``keys`` over ``processes`` workers and gather what they made."""
    module, name = _table_path(table)
    spec = _lake_spec(table)
    chunks = [keys[i::processes] for i in range(processes) if keys[i::processes]]
    result = PopulateResult()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(chunks), mp_context=context) as pool:
        futures = [pool.submit(_worker, module, name, spec, chunk, suppress_errors, make_kwargs) for chunk in chunks]
        for future in tqdm(futures, desc=f"populate {table._full_name}", disable=not display_progress):
            made, skipped, errors = future.result()
            result.made += made
            result.skipped += skipped
            result.errors += errors
    return result
