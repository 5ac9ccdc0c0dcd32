"""The main job on the embedded default: a lake in a fresh folder, filled through the Python API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labdata.catalog.engine.context import Context, use
from labdata.catalog.engine.lake import Lake
from labdata.catalog.engine.sqlquery import run_sql
from labdata.core.errors import ConfigError
from labdata.schema.general import Dataset, LabMember, Session, Species, Strain, Subject

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DemoResult", "run_demo"]

SUMMARY_SQL = """
SELECT s.subject_name, s.session_name, s.session_datetime, s.experimenter,
       string_agg(d.dataset_name || ' (' || coalesce(d.dataset_type, '?') || ')', ', '
                  ORDER BY d.dataset_name) AS datasets
FROM session s JOIN dataset d USING (subject_name, session_name)
GROUP BY ALL ORDER BY s.subject_name, s.session_name
"""


@dataclass(frozen=True)
class DemoResult:
    """What the demo made: where the lake is, what it holds, and the summary query."""

    path: Path
    counts: dict[str, int]
    summary: pd.DataFrame
    snapshot: int
    extra: Any = None


def run_demo(path: str | Path, *, project: str = "demo", then: Callable[[Path], Any] | None = None) -> DemoResult:
    """Create a lake in ``path`` (a new or empty folder) and fill it with example rows.

    ``then(path)``, when given, runs in the demo's project after the rows are in (the CLI
    adds the ephys upload there); what it returns is the result's ``extra``.

    Raises
    ------
    ConfigError
        When ``path`` exists and is not empty.
    """
    path = Path(path).expanduser().resolve()
    if path.exists() and any(path.iterdir()):
        raise ConfigError(f"{path} is not empty.", hint="Give labdata demo a new or empty folder.")
    lake = Lake("sqlite", path)
    context = Context(lake, project)
    with use(context):
        _fill()
        extra = then(path) if then is not None else None
        counts = {t.__name__: len(t()) for t in (LabMember, Strain, Subject, Session, Dataset)}
        summary = run_sql(context, SUMMARY_SQL)
    return DemoResult(path, counts, summary, lake.current_snapshot(), extra)


def _fill() -> None:
    LabMember.insert1(dict(user_name="couto", first_name="Joao", last_name="Couto", date_joined="2019-09-01"))
    Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"), skip_duplicates=True)
    Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"), skip_duplicates=True)
    subjects = [dict(subject_name=f"JC{n}", subject_dob=dt.date(2023, 1, n - 170), subject_sex=sex,
                     strain_name="C57BL/6J", user_name="couto")
                for n, sex in ((178, "M"), (179, "F"), (180, "F"))]
    Subject.insert(subjects)
    sessions, datasets = [], []
    for number, subject in enumerate(subjects):
        for day in range(2):
            start = dt.datetime(2024, 3, 4 + day + number, 10 + day, 30)
            session = dict(subject_name=subject["subject_name"], session_name=start.strftime("%Y%m%d_%H%M%S"))
            sessions.append(session | dict(session_datetime=start, experimenter="couto"))
            datasets.append(session | dict(dataset_name="ephys_g0", dataset_type="ephys"))
            datasets.append(session | dict(dataset_name="task", dataset_type="task-training"))
    with Session().context.lake.transaction():  # sessions and datasets land together or not at all
        Session.insert(sessions)
        Dataset.insert(datasets)
