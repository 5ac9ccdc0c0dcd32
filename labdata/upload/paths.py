"""From the paths a user puts to the names of a dataset: relative paths, ``path_rules`` and session dates.

Every put file is named by its path relative to ``local_paths[0]`` (forward
slashes), which becomes its ``file_path`` in the lake. ``path_rules`` (default
``"{subject_name}/{session_name}/{dataset_name}"``) reads subject, session and
dataset names from the leading folders of that path; a field named twice spans
several folders, joined with ``/``. ``path_rules_session_date`` names the field
holding the session's date and its ``strptime`` format (trailing text tolerated).

Examples
--------
>>> parse_path_rules("JC178/20240101_120000/ephys/imec0/a.ap.bin", "{subject_name}/{session_name}/{dataset_name}")
{'subject_name': 'JC178', 'session_name': '20240101_120000', 'dataset_name': 'ephys'}
>>> session_date({"session_name": "20240101_120000_a"}, ["session_name", "%Y%m%d_%H%M%S"])
datetime.datetime(2024, 1, 1, 12, 0)
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from labdata.core.errors import UploadError

__all__ = ["parse_path_rules", "relative_files", "session_date", "session_datetime"]

_FIELD = re.compile(r"\{(\w+)\}")


def relative_files(paths: Iterable[str | Path], root: Path) -> dict[str, Path]:
    """Every file named or found under a named folder, keyed by its path relative to ``root``, sorted.

    Raises
    ------
    UploadError
        A path is outside ``root`` (``../`` included), does not exist, or names no file.
    PermissionError
        A file cannot be read.
    """
    root = Path(root).expanduser().absolute()
    found: dict[str, Path] = {}
    for given in paths:
        path = Path(os.path.normpath(Path(given).expanduser().absolute()))
        if not path.is_relative_to(root):
            raise UploadError(f"{str(given)!r} is not under the first local path {str(root)!r}.",
                              hint="Put files from inside local_paths[0]; their path relative to it becomes "
                                   "their name in the lake (e.g. SUBJECT/SESSION/DATASET/file).")
        if not path.exists():
            raise UploadError(f"{str(given)!r} does not exist.", hint="Check the path and try again.")
        for file in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            _check_readable(file)
            found[file.relative_to(root).as_posix()] = file
    if not found:
        raise UploadError("No files to put.", hint="Name files, or folders that hold files.")
    return dict(sorted(found.items()))


def _check_readable(file: Path) -> None:
    if not os.access(file, os.R_OK):
        raise PermissionError(f"{str(file)!r} cannot be read by this user; nothing was copied or registered.")


def parse_path_rules(relative_path: str, rule: str) -> dict[str, str]:
    """The names ``rule`` reads from the leading folders of ``relative_path`` ({} if it does not match).

    Each ``{field}`` matches one folder name (or part of one); a field named several
    times collects those folders joined with ``/``.
    """
    folders = relative_path.split("/")[:-1]
    segments = rule.strip("/").split("/")
    if len(folders) < len(segments):
        return {}
    names: dict[str, list[str]] = {}
    for segment, folder in zip(segments, folders, strict=False):
        fields = _FIELD.findall(segment)
        pattern = "".join(f"(?P<f{i}>.+?)" if i % 2 else re.escape(text)
                          for i, text in enumerate(_FIELD.split(segment)))
        match = re.fullmatch(pattern, folder)
        if match is None:
            return {}
        for index, field in enumerate(fields):
            names.setdefault(field, []).append(match.group(f"f{2 * index + 1}"))
    return {field: "/".join(values) for field, values in names.items()}


def session_date(names: dict[str, str], rule: Sequence[str]) -> dt.datetime | None:
    """The session's date read from the field named in ``path_rules_session_date`` (None if it does not parse)."""
    if len(rule) != 2 or rule[0] not in names:
        return None
    field, form = rule
    text = names[field]
    for end in range(len(text), 0, -1):  # trailing characters are tolerated
        try:
            return dt.datetime.strptime(text[:end], form)
        except ValueError:
            continue
    return None


def session_datetime(dataset: dict[str, str], rule: Sequence[str]) -> dt.datetime:
    """The date of a new session, read as :func:`session_date` does.

    Raises
    ------
    UploadError
        The date cannot be read; the hint says how sessions should be named.
    """
    when = session_date(dataset, rule)
    if when is None:
        field, form = rule if len(rule) == 2 else ("session_name", "?")
        raise UploadError(f"Session {dataset['session_name']!r} is new and its date cannot be read from its "
                          f"{field} with the format {form!r} (path_rules_session_date).",
                          hint="Name sessions by their start (e.g. 20240131_142501) or set path_rules_session_date.")
    return when
