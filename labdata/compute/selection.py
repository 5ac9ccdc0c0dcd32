"""The datasets a submission selects, checked against the lake with close-name hints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labdata.compute.work import Work
from labdata.core.errors import NothingToRunError, QueryError, did_you_mean
from labdata.schema import Dataset, Session, Subject

if TYPE_CHECKING:
    from labdata.catalog.engine.context import Context

__all__ = ["check_selection", "datasets_with_files"]


def check_selection(context: Context, subject: str | None, session: str | None) -> None:
    """Refuse a subject or session the lake does not hold, naming the closest one.

    Raises
    ------
    QueryError
        The subject, or the session of the subject, does not exist.
    """
    if subject is not None and not Subject(context) & {"subject_name": subject}:
        names = Subject(context).fetch("subject_name")
        raise QueryError(f"There is no subject {subject!r}.{did_you_mean(subject, names)}",
                         hint="List the subjects with `labdata subjects`.")
    if session is not None:
        sessions = Session(context) & ({"subject_name": subject} if subject else {})
        if not sessions & {"session_name": session}:
            names = sessions.fetch("session_name")
            raise QueryError(f"There is no session {session!r}{f' of {subject!r}' if subject else ''}."
                             f"{did_you_mean(session, names)}",
                             hint=f"List them with `labdata sessions{f' -a {subject}' if subject else ''}`.")


def _restriction(subject: str | None, session: str | None) -> dict[str, str]:
    key = {"subject_name": subject, "session_name": session}
    return {name: value for name, value in key.items() if value}


def datasets_with_files(context: Context, subject: str | None, session: str | None,
                        file_filters: Sequence[str]) -> list[Work]:
    """One :class:`~labdata.compute.analysis.Work` per dataset of the selection that has files matching
    ``file_filters`` (every dataset when there are no filters).

    Raises
    ------
    NothingToRunError
        No dataset of the selection has such files.
    """
    datasets = (Dataset(context) & _restriction(subject, session)).fetch("KEY", order_by=None)
    files: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in (Dataset.DataFiles(context) & _restriction(subject, session)).fetch(as_dict=True, order_by=None):
        if not file_filters or any(f in row["file_path"] for f in file_filters):
            key = (row["subject_name"], row["session_name"], row["dataset_name"])
            files.setdefault(key, []).append({"file_path": row["file_path"], "storage": row["storage"]})
    work = [Work(dataset=dict(d), files=files.get((d["subject_name"], d["session_name"], d["dataset_name"]), []))
            for d in sorted(datasets, key=lambda d: tuple(d.values()))]
    work = [w for w in work if w.files or not file_filters]
    if not work:
        raise NothingToRunError(f"No dataset of {_restriction(subject, session) or 'the lake'} has files matching "
                                f"{list(file_filters)}.", hint="Check the subject and session, and that the "
                                "recording was uploaded (labdata sessions -a SUBJECT --include-size).")
    return work
