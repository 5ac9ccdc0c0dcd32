"""The lake's names, Subject and Session of an NWB file (:class:`~labdata.converters.nwb.reader.NwbContents`).

Names: given ones win; else the file's ``subject_id`` and ``session_id`` (a file without a session id
is named by its start, ``YYYYMMDD_HHMMSS`` on the file's own clock); the dataset defaults to ``nwb``.
A name nothing gives is refused with a hint.

Subject fields: given ones (``subject_dob``, ``subject_sex``, ``strain_name``, ``user_name``) win over the
file's. Sex ``M``/``male`` -> ``M``, ``F``/``female`` -> ``F``, anything else (or none) ``U``. The date of birth is
the file's, else its start minus the subject's ISO-8601 age (``P90D``, ``P12W``, ``P3M``, ``P1Y``); a
file with neither needs ``subject_dob``. The strain is the file's (added under its species when new),
else ``unknown <species>`` (added); the species is found by scientific or short name, else added
(short name: ``mouse``/``rat``/``human`` for theirs, else the scientific name). The responsible member
is ``user_name``, else the file's first experimenter. An experimenter not in LabMember is added
(``first_last`` user name, inactive, joined on the session's date).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from labdata.converters.nwb.reader import NwbContents
from labdata.core.errors import MissingAttributeError
from labdata.schema.general import LabMember, Species, Strain, Subject
from labdata.schema.subjects import new_subject_row

__all__ = ["DEFAULT_DATASET", "dataset_names", "ensure_member", "new_subject", "session_row", "subject_fields"]

DEFAULT_DATASET = "nwb"
_SHORT_NAMES = {"Mus musculus": "mouse", "Rattus norvegicus": "rat", "Homo sapiens": "human"}
_AGE = re.compile(r"P(?:(?P<Y>\d+(?:\.\d+)?)Y)?(?:(?P<M>\d+(?:\.\d+)?)M)?(?:(?P<W>\d+(?:\.\d+)?)W)?"
                  r"(?:(?P<D>\d+(?:\.\d+)?)D)?(?:T.*)?")
_DAYS = {"Y": 365.25, "M": 30.44, "W": 7.0, "D": 1.0}


def dataset_names(contents: NwbContents, file_name: str, subject_name: str | None = None,
                  session_name: str | None = None, dataset_name: str | None = None) -> dict[str, str]:
    """subject_name, session_name, dataset_name of a file (see the module); MissingAttributeError when unknown."""
    subject = subject_name or (contents.subject.subject_id if contents.subject else None)
    if not subject:
        raise MissingAttributeError(f"{file_name} names no subject (it has no Subject or no subject_id).",
                                    hint="Name it: labdata put -a SUBJECT, or import_nwb(path, subject_name=...).")
    session = session_name or contents.session_id or contents.session_start_time.strftime("%Y%m%d_%H%M%S")
    return {"subject_name": subject, "session_name": session, "dataset_name": dataset_name or DEFAULT_DATASET}


def session_row(contents: NwbContents, names: Mapping[str, str]) -> dict[str, Any]:
    """The Session row: start time on this machine's clock (the lake's datetimes are the lab's local time),
    the first experimenter as ``experimenter`` (added to LabMember when new; call inside a transaction)."""
    start = contents.session_start_time
    local = start.astimezone().replace(tzinfo=None) if start.tzinfo else start
    member = ensure_member(contents.experimenters[0], local.date()) if contents.experimenters else None
    return {"subject_name": names["subject_name"], "session_name": names["session_name"],
            "session_datetime": local.replace(microsecond=0), "experimenter": member}


def subject_fields(contents: NwbContents, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The new-subject fields the file gives, ``given`` winning; adds the species, strain and member they name.

    Call inside a transaction. Fields the file cannot give are left out (``new_subject_row`` names them).
    """
    given = {k: v for k, v in (given or {}).items() if v}
    subject = contents.subject
    fields: dict[str, Any] = {"subject_sex": "U"}  # the lake's unknown
    if subject is not None:
        fields["subject_sex"] = _sex(subject.sex)
        dob = _date_of_birth(subject.date_of_birth, subject.age, contents.session_start_time)
        if dob is not None:
            fields["subject_dob"] = dob
        if subject.species and "strain_name" not in given:
            fields["strain_name"] = _strain(subject.species, subject.strain)
    if contents.experimenters and "user_name" not in given:
        fields["user_name"] = ensure_member(contents.experimenters[0], contents.session_start_time.date())
    return {**fields, **given}


def new_subject(name: str, contents: NwbContents, given: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The Subject row to insert for ``name`` (None when the lake has it); refuses missing fields with a hint."""
    if Subject & {"subject_name": name}:
        return None
    return new_subject_row(name, subject_fields(contents, given))


def _sex(value: str | None) -> str:
    text = (value or "").strip().lower()
    return {"m": "M", "male": "M", "f": "F", "female": "F"}.get(text, "U")


def _date_of_birth(dob: dt.datetime | None, age: str | None, start: dt.datetime) -> dt.date | None:
    if dob is not None:
        return dob.date()
    match = _AGE.fullmatch(age or "")
    if not age or match is None or not any(match.group(u) for u in _DAYS):
        return None
    days = sum(float(match.group(unit)) * scale for unit, scale in _DAYS.items() if match.group(unit))
    return (start - dt.timedelta(days=days)).date()


def _species(scientific: str) -> str:
    """The Species row's name for ``scientific`` (by scientific or short name), added when new."""
    for row in Species.fetch("species_name", "species_scientific_name", as_dict=True):
        if scientific.lower() in (row["species_name"].lower(), row["species_scientific_name"].lower()):
            return str(row["species_name"])
    name = _SHORT_NAMES.get(scientific, scientific)[:32]
    Species.insert1({"species_name": name, "species_scientific_name": scientific[:56],
                     "species_description": "added by an NWB import"}, skip_duplicates=True)
    return name


def _strain(species: str, strain: str | None) -> str:
    """The file's strain (added under its species when new), else ``unknown <species>``."""
    species_name = _species(species)
    name = (strain or f"unknown {species_name}")[:56]
    if not Strain & {"strain_name": name}:
        Strain.insert1({"strain_name": name, "species_name": species_name,
                        "strain_description": "added by an NWB import" + ("" if strain else " (no strain given)")})
    return name


def ensure_member(person: str, joined: dt.date) -> str:
    """The LabMember ``user_name`` of an NWB experimenter (``Last, First`` or ``First Last``), added when new."""
    if "," in person:
        last, _, first = person.partition(",")
    else:
        first, _, last = person.rpartition(" ")
    first, last = first.strip(), last.strip()
    user = re.sub(r"[^a-z0-9]+", "_", f"{first} {last}".strip().lower()).strip("_")[:32] or "nwb_experimenter"
    for row in LabMember.fetch("user_name", "first_name", "last_name", as_dict=True):
        if row["user_name"] in (person, user) or (first and (row["first_name"], row["last_name"]) == (first, last)):
            return str(row["user_name"])
    LabMember.insert1({"user_name": user, "first_name": first[:32] or None, "last_name": last[:32] or None,
                       "date_joined": joined, "is_active": False})
    return user
