"""``labdata lab``: add the lab-wide rows a new lab needs first (members, species, strains)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context

if TYPE_CHECKING:
    from labdata.catalog.tables.table import Table

__all__ = ["lab"]


@click.group("lab")
def lab() -> None:
    """Add the rows a new lab needs before its first subject: members, species, strains.

    \b
    EXAMPLES
        labdata lab add-member couto --first Joao --last Couto --joined 2019-09-01
        labdata lab add-species mouse "Mus musculus"
        labdata lab add-strain C57BL/6J mouse
    """


@lab.command("add-member")
@click.argument("user_name")
@click.option("--first", "first_name", default=None, help="First name.")
@click.option("--last", "last_name", default=None, help="Last name.")
@click.option("--email", default=None, help="Email address.")
@click.option("--joined", "date_joined", default=None, help="Date joined, YYYY-MM-DD (default: today).")
@lake_options
@reports_errors
def add_member(user_name: str, first_name: str | None, last_name: str | None, email: str | None,
               date_joined: str | None, lake_path: str | None, project: str | None) -> None:
    """Add a lab member (LabMember)."""
    from labdata.schema import LabMember

    row = dict(user_name=user_name, first_name=first_name, last_name=last_name, email=email,
               date_joined=date_joined or dt.date.today().isoformat())
    _insert(LabMember, row, lake_path, project)
    click.echo(f"added lab member {user_name}")


@lab.command("add-species")
@click.argument("species_name")
@click.argument("scientific_name")
@click.option("--description", default=None, help="Free text.")
@lake_options
@reports_errors
def add_species(species_name: str, scientific_name: str, description: str | None, lake_path: str | None,
                project: str | None) -> None:
    """Add a species (Species): a nickname and its scientific name."""
    from labdata.schema import Species

    row = dict(species_name=species_name, species_scientific_name=scientific_name, species_description=description)
    _insert(Species, row, lake_path, project)
    click.echo(f"added species {species_name}")


@lab.command("add-strain")
@click.argument("strain_name")
@click.argument("species_name")
@click.option("--description", default=None, help="Free text.")
@lake_options
@reports_errors
def add_strain(strain_name: str, species_name: str, description: str | None, lake_path: str | None,
               project: str | None) -> None:
    """Add a strain (Strain) of a species already added."""
    from labdata.schema import Strain

    row = dict(strain_name=strain_name, species_name=species_name, strain_description=description)
    _insert(Strain, row, lake_path, project)
    click.echo(f"added strain {strain_name}")


def _insert(table: type[Table], row: dict, lake_path: str | None, project: str | None) -> None:
    from labdata.catalog import use

    with use(open_context(lake_path, project, create=True)):
        table.insert1(row)
