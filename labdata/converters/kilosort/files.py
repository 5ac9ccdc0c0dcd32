"""The files of a Kilosort/phy folder: ``.npy`` arrays, ``params.py`` and the ``cluster_*.tsv`` label tables.

Every reader here refuses a bad file with a :class:`~labdata.core.errors.SortingFormatError` naming the
file and what is wrong with it. ``params.py`` is parsed, never executed: each ``name = literal`` line is
read with :func:`ast.literal_eval`.

Examples
--------
>>> parse_params("dat_path = 'temp_wh.dat'\\nn_channels_dat = 32\\nsample_rate = 32000.\\n", "params.py")
{'dat_path': 'temp_wh.dat', 'n_channels_dat': 32, 'sample_rate': 32000.0}
>>> parse_labels("cluster_id\\tKSLabel\\n0\\tmua\\n9\\tgood\\n", "cluster_group.tsv")
{0: 'mua', 9: 'good'}
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np

from labdata.core.errors import SortingFormatError

__all__ = ["folder_error", "load_array", "load_vector", "parse_labels", "parse_params", "read_labels",
           "read_params"]

_LOAD_ERRORS = (ValueError, OSError, EOFError, TypeError)


def folder_error(path: Path, reason: str, hint: str) -> SortingFormatError:
    """The error refusing ``path`` (a file of a sorting folder) for ``reason``."""
    return SortingFormatError(f"{path.name} in {path.parent}: {reason}", hint=hint)


def load_array(path: Path, *, mmap: bool = False) -> np.ndarray:
    """Load one ``.npy`` (memory-mapped with ``mmap``), refusing missing, truncated and pickled files."""
    if not path.is_file():
        raise folder_error(path, "the file is missing.",
                           "Point to the folder Kilosort (or phy) wrote; it holds spike_times.npy, templates.npy, ...")
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except _LOAD_ERRORS as error:
        raise folder_error(path, f"the file cannot be read as a numpy array ({error}); it is truncated or corrupt.",
                           "Copy the file again from the sorter's output folder.") from None
    if not isinstance(array, np.ndarray) or array.dtype.hasobject:
        raise folder_error(path, "the file does not hold a numeric array.",
                           "Copy the file again from the sorter's output folder.")
    return array


def load_vector(path: Path, *, mmap: bool = False) -> np.ndarray:
    """Load a ``.npy`` of one value per spike (Kilosort writes them N x 1) as a 1-d array."""
    array = load_array(path, mmap=mmap)
    if array.ndim == 2 and 1 in array.shape:
        return array.reshape(-1)
    if array.ndim != 1:
        raise folder_error(path, f"holds an array of shape {array.shape}, not one value per spike.",
                           "Copy the file again from the sorter's output folder.")
    return array


def parse_params(text: str, name: str = "params.py") -> dict[str, Any]:
    """The ``name = literal`` assignments of a phy ``params.py`` (anything else is refused, nothing executed)."""
    try:
        module = ast.parse(text, filename=name)
    except SyntaxError as error:
        raise SortingFormatError(f"{name}: line {error.lineno} is not valid Python ({error.msg}).",
                                 hint="Fix or delete params.py and give the sampling rate instead.") from None
    params: dict[str, Any] = {}
    for statement in module.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)):
            raise SortingFormatError(f"{name}: line {statement.lineno} is not a `name = value` assignment.",
                                     hint="params.py holds only assignments such as sample_rate = 30000.")
        try:
            params[statement.targets[0].id] = ast.literal_eval(statement.value)
        except ValueError:
            raise SortingFormatError(f"{name}: the value on line {statement.lineno} is not a literal.",
                                     hint="params.py holds only literal values (numbers, strings, True).") from None
    return params


def read_params(folder: Path) -> dict[str, Any]:
    """The parameters of ``folder/params.py`` ({} when there is none)."""
    path = folder / "params.py"
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise folder_error(path, f"cannot be read ({error}).", "Copy params.py again, or delete it.") from None
    return parse_params(text, str(path))


def parse_labels(text: str, name: str) -> dict[int, str]:
    """Cluster id -> label of a two-column ``cluster_*.tsv`` (``cluster_id``, then ``group``/``KSLabel``/...)."""
    lines = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    if not lines or lines[0].split("\t")[0].strip() != "cluster_id":
        raise SortingFormatError(f"{name}: the first column is not cluster_id.",
                                 hint="A phy label table starts with the header `cluster_id<TAB>group`.")
    labels: dict[int, str] = {}
    for number, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        try:
            cluster, label = int(cells[0]), cells[1].strip()
        except (ValueError, IndexError):
            raise SortingFormatError(f"{name}: line {number} ({line!r}) is not `cluster_id<TAB>label`.",
                                     hint="Fix the line in phy (or by hand) and import again.") from None
        labels[cluster] = label
    return labels


def read_labels(path: Path) -> dict[int, str] | None:
    """The labels of the ``.tsv`` at ``path`` (None when there is no such file)."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise folder_error(path, f"cannot be read ({error}).", "Copy the file again, or delete it.") from None
    return parse_labels(text, str(path))
