"""How a worker process (a pool process, a SLURM job, a Dask worker) reopens the submitter's lake.

The runners start ``labdata task <id>`` with :func:`worker_environment`: the preference file of the
submitting context and, in ``LABDATA_TASK_LAKE``, the lake's settings as JSON (a catalog DSN that equals the
preferences' own is left out, so that a password kept encrypted in the preferences is never written into a
job script). :func:`context_from_environment` is the worker's side.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from labdata.catalog.engine.context import Context
from labdata.catalog.engine.lake import Lake

if TYPE_CHECKING:
    from labdata.core.config import Preferences

__all__ = ["LAKE_VARIABLE", "context_from_environment", "lake_spec", "worker_environment"]

LAKE_VARIABLE = "LABDATA_TASK_LAKE"


def lake_spec(context: Context) -> dict[str, Any]:
    """The settings that reopen ``context``'s lake and project in another process."""
    lake = context.lake
    spec = {"kind": lake.kind, "root": str(lake.root), "dsn": lake.dsn, "metadata_schema": lake.metadata_schema,
            "data_path": None if lake._default_data_path else lake.data_path, "project": context.project}
    preferences = context.preferences
    if preferences is not None and lake.kind == "postgres" and preferences.catalog.dsn == lake.dsn:
        spec["dsn"] = None  # read from the preferences by the worker
    return spec


def worker_environment(context: Context, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a worker of ``context``: ``base`` (default this process') plus the lake and preferences."""
    environment = dict(os.environ if base is None else base)
    environment[LAKE_VARIABLE] = json.dumps(lake_spec(context))
    if context.preferences is not None:
        environment["LABDATA_PREFERENCES"] = str(context.preferences.path)
    environment["LABDATA_DATABASE_PROJECT"] = context.project
    return environment


def context_from_environment(preferences: Preferences) -> Context | None:
    """The context a runner handed this worker in ``LABDATA_TASK_LAKE``; None when there is none."""
    text = os.environ.get(LAKE_VARIABLE)
    if not text:
        return None
    spec = json.loads(text)
    dsn = spec["dsn"] if spec["dsn"] is not None or spec["kind"] != "postgres" else preferences.catalog.dsn
    lake = Lake(spec["kind"], spec["root"], dsn=dsn, metadata_schema=spec["metadata_schema"],
                data_path=spec["data_path"], data_storage=preferences.storage_of(spec["data_path"] or ""))
    return Context(lake, spec["project"], preferences)
