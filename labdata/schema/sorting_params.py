"""Finding a spike-sorting parameter set: by exact algorithm name and parameters JSON, else max + 1.

Every importer (Kilosort folders, SpikeInterface sortings) and, later, the sorting tasks find sets
this way, so that the same algorithm and parameters always land in the same set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labdata.core.errors import DataError

__all__ = ["PARAMETERS_LENGTH", "find_parameter_set", "next_parameter_set", "parameters_json"]

PARAMETERS_LENGTH = 2000  # SpikeSortingParams.parameters_dict is varchar(2000)


def parameters_json(parameters: Mapping[str, Any] | None) -> str:
    """Parameters as the JSON a parameter set is found by: sorted keys, numpy values as plain ones."""
    text = json.dumps(dict(parameters or {}), sort_keys=True, default=_plain)
    if len(text) > PARAMETERS_LENGTH:
        raise DataError(f"The parameters are {len(text)} characters of JSON; a parameter set holds "
                        f"{PARAMETERS_LENGTH}.", hint="Pass parameters= with only those that identify the set.")
    return text


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value) if isinstance(value, Path) else repr(value)


def find_parameter_set(sets: Any, algorithm_name: str, parameters_dict: str) -> int | None:
    """The number of the set (of ``SpikeSortingParams`` rows ``sets``) with this algorithm and JSON, if any."""
    found = (sets & {"algorithm_name": algorithm_name, "parameters_dict": parameters_dict}).fetch("parameter_set_num")
    return int(min(found)) if len(found) else None


def next_parameter_set(sets: Any) -> int:
    """The number a new parameter set gets: the largest so far plus one."""
    return int(max(sets.fetch("parameter_set_num"), default=0)) + 1
