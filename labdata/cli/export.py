"""``labdata export nwb``: sessions of the lake as DANDI-organised NWB files."""

from __future__ import annotations

from typing import Any

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context

__all__ = ["export"]


@click.group()
def export() -> None:
    """Export data of the lake (NWB for publication)."""


@export.command("nwb")
@click.option("-a", "--subject", required=True, help="Subject name.")
@click.option("-s", "--session", default=None, help="Session name (default: every session of the subject).")
@click.option("-d", "--dataset", default=None, help="Only sessions holding this dataset.")
@click.option("-o", "--output", default=None, type=click.Path(file_okay=False),
              help="Folder of the DANDI-organised files (sub-<subject>/...).")
@click.option("--to-storage", is_flag=True,
              help="Instead of a folder: store each file in the analysis storage as an AnalysisFile "
                   "(<subject>/<session>/nwb/...).")
@click.option("--zarr", is_flag=True, help="Write NWB-Zarr instead of HDF5.")
@click.option("--compression", default=None, metavar="gzip[:LEVEL]",
              help="HDF5: compress the raw samples with gzip (level 0-9, default 4; on every CPU). Default: none.")
@click.option("--no-raw", is_flag=True, help="Leave out the raw AP/LF samples.")
@click.option("--no-units", is_flag=True, help="Leave out the sorted units.")
@click.option("--probe-clock", is_flag=True, help="Spike and event times on each probe's clock (default: synced).")
@lake_options
@click.option("--no-progress", is_flag=True, help="Do not show progress bars.")
@reports_errors
def nwb(subject: str, session: str | None, dataset: str | None, output: str | None, to_storage: bool, zarr: bool,
        compression: str | None, no_raw: bool,
        no_units: bool, probe_clock: bool, project: str | None, lake_path: str | None, no_progress: bool) -> None:
    """Write one NWB file per selected session, and print the DANDI inspector's summary of each.

    \b
    EXAMPLE
        labdata export nwb -a JC178 -s 20240304_103000 -o ./dandiset
    """
    from labdata.catalog import use
    from labdata.converters.nwb import inspection_summary
    from labdata.core.errors import QueryError
    from labdata.schema import Dataset, Session
    from labdata.schema.nwb_export import export_nwb, export_nwb_to_storage

    if (output is None) == (not to_storage):
        raise QueryError("Give either -o FOLDER or --to-storage.", hint="e.g. -o ./dandiset")
    key = {"subject_name": subject} | ({"session_name": session} if session else {})
    with use(open_context(lake_path, project)):
        query = Session & key if dataset is None else Session & (Dataset & key & {"dataset_name": dataset}).proj()
        options: dict[str, Any] = dict(backend="zarr" if zarr else "hdf5", raw=not no_raw, units=not no_units,
                                       synced=not probe_clock, progress=not no_progress, compression=compression)
        if to_storage:
            for stored in export_nwb_to_storage(query, **options):
                click.echo(f"stored {stored['file_path']} in storage {stored['storage']} (AnalysisFile)")
            return
        files = export_nwb(query, str(output), **options)
    for path in files:
        click.echo(f"{path}: {inspection_summary(path)}")
