"""Worker processes for the concurrency and crash tests (run as ``python workers.py ...``).

Not a test module: each function is the body of one child process that opens
its own lake handle, as a second user or machine would.
"""

from __future__ import annotations

import json
import sys

from labdata.catalog import Context, Lake, use
from labdata.schema import Dataset, LabMember, Session, Species, Strain, Subject


def open_context(spec: dict) -> Context:
    """Open the lake described by ``spec`` (kind, root, dsn, metadata_schema) as project test_project."""
    lake = Lake(spec["kind"], spec["root"], dsn=spec.get("dsn"), metadata_schema=spec.get("metadata_schema"))
    return Context(lake, "test_project")


def setup(spec: dict) -> None:
    """Create the tables and the rows every worker needs."""
    with use(open_context(spec)):
        LabMember.insert1(dict(user_name="couto", date_joined="2019-09-01"), skip_duplicates=True)
        Species.insert1(dict(species_name="mouse", species_scientific_name="Mus musculus"), skip_duplicates=True)
        Strain.insert1(dict(strain_name="C57BL/6J", species_name="mouse"), skip_duplicates=True)
        Subject.insert1(dict(subject_name="JC178", subject_dob="2023-01-01", subject_sex="M",
                             strain_name="C57BL/6J", user_name="couto"), skip_duplicates=True)


def insert_sessions(spec: dict, first: int, count: int) -> None:
    """Insert sessions ``first .. first+count-1`` one by one with skip_duplicates."""
    with use(open_context(spec)):
        for number in range(first, first + count):
            Session.insert1(dict(subject_name="JC178", session_name=f"s{number:05d}",
                                 session_datetime="2024-01-01 10:00:00"), skip_duplicates=True)
    print("done", flush=True)


def insert_parameter_sets(spec: dict, first: int, count: int) -> None:
    """Insert spike-sorting parameter sets ``first .. first+count-1``, one commit each (a writer meanwhile)."""
    from labdata.schema import SpikeSortingParams

    with use(open_context(spec)):
        for number in range(first, first + count):
            SpikeSortingParams.insert1(dict(parameter_set_num=number, algorithm_name="kilosort",
                                            parameters_dict="{}"))
    print("done", flush=True)


def multi_table(spec: dict, name: str, pause: bool) -> None:
    """Insert a subject, a session and two datasets in one transaction, printing a marker after each.

    With ``pause`` the worker waits for a line on stdin after each marker, so the
    parent can kill it at that exact point.
    """
    context = open_context(spec)

    def step(marker: str) -> None:
        print(marker, flush=True)
        if pause:
            sys.stdin.readline()

    with use(context):
        step("begin")
        with context.lake.transaction():
            Subject.insert1(dict(subject_name=name, subject_dob="2023-01-01", subject_sex="F",
                                 strain_name="C57BL/6J", user_name="couto"), skip_duplicates=True)
            step("subject")
            Session.insert1(dict(subject_name=name, session_name="s1", session_datetime="2024-01-01"),
                            skip_duplicates=True)
            step("session")
            Dataset.insert([dict(subject_name=name, session_name="s1", dataset_name=d) for d in ("a", "b")],
                           skip_duplicates=True)
            step("datasets")
        step("committed")


def delete_subject(spec: dict, name: str) -> None:
    """Delete a subject (and, by cascade, its sessions and datasets)."""
    with use(open_context(spec)):
        (Subject & {"subject_name": name}).delete()


if __name__ == "__main__":
    command, spec, *args = sys.argv[1:]
    arguments = [json.loads(a) for a in args]
    {"setup": setup, "insert_sessions": insert_sessions, "multi_table": multi_table,
     "delete_subject": delete_subject, "insert_parameter_sets": insert_parameter_sets}[command](
        json.loads(spec), *arguments)


def run_pickled_query(spec: dict, project: str, pickled: bytes) -> list[dict]:
    """Unpickle a query in this (spawned) process, bind it to the lake of ``spec`` and fetch its rows."""
    import pickle

    lake = Lake(spec["kind"], spec["root"], dsn=spec.get("dsn"), metadata_schema=spec.get("metadata_schema"))
    try:
        return pickle.loads(pickled).using(Context(lake, project)).fetch(as_dict=True)
    finally:
        lake.close()
