"""``labdata build-container`` and ``labdata run-container``: analysis images (Apptainer ``.sif`` or Podman).

``labdata build-container labdata-base [--runtime podman]`` builds ``containers/Containerfile.base`` (or
``labdata-base.def`` with Apptainer); ``labdata run-container labdata-base -- task 12`` runs
``labdata task 12`` in it with the lake's folders mounted (see :mod:`labdata.compute.containers`).
"""

from __future__ import annotations

import sys

import click

from labdata.cli.errors import reports_errors
from labdata.cli.options import lake_options, open_context
from labdata.compute.container_build import build_image
from labdata.compute.containers import RUNTIMES, run_in_container
from labdata.core.config import Preferences

__all__ = ["build_container", "run_container"]

_RUNTIME = click.option("--runtime", type=click.Choice(RUNTIMES), default=None,
                        help="Container runtime (default: the first of apptainer, singularity, podman, docker here).")
_TAG = click.option("--tag", default="latest", show_default=True, help="Image tag (Podman/Docker images only).")


@click.command("build-container")
@click.argument("names", nargs=-1, required=True)
@_RUNTIME
@_TAG
@click.option("--definitions", type=click.Path(file_okay=False), default=None,
              help="Folder of the definitions (default: ./containers, else the source checkout's containers/).")
@reports_errors
def build_container(names: tuple[str, ...], runtime: str | None, tag: str, definitions: str | None) -> None:
    """Build the images of containers NAMES (labdata-base, labdata-spikeinterface, ...).

    \b
    Apptainer: <compute.containers.local>/<name>.sif from containers/<name>.def.
    Podman:    localhost/<name>:<tag> from containers/Containerfile.<name without labdata->; the FROM
               image is made from Debian packages first (containers/build-base-image.sh) when missing.
    """
    preferences = Preferences.load()
    for name in names:
        build_image(preferences, name, runtime, folder=definitions, tag=tag, echo=click.echo)


@click.command("run-container", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@_RUNTIME
@_TAG
@click.option("--bind", "binds", multiple=True, type=click.Path(file_okay=False, exists=True),
              help="Another host folder to mount at its own path (repeatable).")
@click.option("--cuda", is_flag=True, help="Give the container the GPUs.")
@lake_options
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@reports_errors
def run_container(name: str, runtime: str | None, tag: str, binds: tuple[str, ...], cuda: bool,
                  lake_path: str | None, project: str | None, args: tuple[str, ...]) -> None:
    """Run `labdata ARGS` inside container NAME, against the lake (its folders mounted at the same paths).

    \b
    EXAMPLES
        labdata run-container labdata-base -- task 12
        labdata run-container labdata-base --runtime podman -- subjects
    """
    context = open_context(lake_path, project)
    labdata_args = list(args[1:] if args[:1] == ("--",) else args) or ["--help"]
    sys.exit(run_in_container(context, name, labdata_args, runtime=runtime, tag=tag, binds=binds, gpus=cuda,
                              interactive=sys.stdin.isatty() and sys.stdout.isatty()))
