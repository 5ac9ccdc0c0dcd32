"""A new Subject row from the fields a user gives, with an error naming what is missing.

Used by ``labdata subjects --add`` and by ``labdata put`` for a subject the lake does not know yet.
"""

from __future__ import annotations

from typing import Any

from labdata.core.errors import MissingAttributeError, MissingParentError

__all__ = ["SUBJECT_OPTIONS", "new_subject_row"]

#: the fields a new subject needs, and the command-line option that gives each
SUBJECT_OPTIONS = {"subject_dob": "--dob", "subject_sex": "--sex", "strain_name": "--strain", "user_name": "-u"}


def new_subject_row(name: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The Subject row for ``name`` from ``fields`` (``subject_dob``, ``subject_sex``, ``strain_name``, ``user_name``).

    Raises
    ------
    MissingAttributeError
        A field is missing; the message names the options to give and the hint lists the known strains.
    MissingParentError
        The strain or the member is unknown.
    """
    from labdata.schema.general import LabMember, Strain

    missing = [option for field, option in SUBJECT_OPTIONS.items() if not fields.get(field)]
    strains = ", ".join(Strain.fetch("strain_name")) or "none yet: insert one into Strain first"
    if missing:
        raise MissingAttributeError(f"Subject {name!r} is not in the lake yet; adding it needs {', '.join(missing)}.",
                                    hint=f"Give --dob YYYY-MM-DD --sex M|F|U --strain STRAIN -u USER "
                                         f"(strains: {strains}).")
    if not Strain & {"strain_name": fields["strain_name"]}:
        raise MissingParentError(f"There is no strain {fields['strain_name']!r}.", hint=f"Known strains: {strains}.")
    if not LabMember & {"user_name": fields["user_name"]}:
        raise MissingParentError(f"There is no lab member {fields['user_name']!r}.",
                                 hint="Add the member to LabMember first, or check the spelling.")
    return dict(subject_name=name, **{field: fields[field] for field in SUBJECT_OPTIONS})
