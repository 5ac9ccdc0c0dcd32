"""``labdata demo``: the main job on the embedded default."""

from __future__ import annotations

import tempfile

import click

from labdata.cli.errors import reports_errors
from labdata.cli.render import print_frame

__all__ = ["demo"]


@click.command()
@click.option("--path", type=click.Path(file_okay=False), default=None,
              help="Folder for the new lake (new or empty; default: a fresh temporary folder).")
@reports_errors
def demo(path: str | None) -> None:
    """Create a lake in a fresh folder, fill it through the Python API and query it.

    \b
    EXAMPLES
        labdata demo
        labdata demo --path ./my-first-lake
    """
    from labdata.schema.demo import run_demo
    from labdata.upload.demo import run_ephys_demo
    from labdata.upload.sorting_demo import DEMO_CRITERIA

    path = path or tempfile.mkdtemp(prefix="labdata-demo-")
    result = run_demo(path, then=run_ephys_demo)
    click.echo(f"Created a lake at {result.path} (SQLite catalog, snapshot {result.snapshot}).")
    click.echo("Rows: " + ", ".join(f"{name} {count}" for name, count in result.counts.items()))
    print_frame(result.summary, title="Sessions and their datasets (labdata.sql over the catalog)")
    ephys = result.extra
    click.echo("A synthetic SpikeGLX recording (NP1.0 probe + NI-DAQ, probe clock 20 ppm fast) was put on the "
               "rig folder and uploaded with the ephys rule.")
    print_frame(ephys.recording, title="EphysRecording")
    print_frame(ephys.probes, title="EphysRecording.ProbeSetting * ProbeConfiguration")
    print_frame(ephys.events, title="(DatasetEvents.Digital & key).fetch_synced(): events on the NI-DAQ clock")
    click.echo("The recording's simulated units became a sorting (SpikeSorting.add_from_spikeinterface), with "
               "waveforms cut from the lake's recording, UnitMetrics and UnitCount; "
               f"{len(ephys.units)} pass the criteria '{DEMO_CRITERIA}'.")
    print_frame(ephys.units.head(12), title="Units passing, with spike trains and metrics from one call: "
                "(SpikeSorting.Unit & passing).get_spike_times(include_metrics=True)")
    if ephys.nwb is not None:
        click.echo(f"Exported for DANDI (labdata export nwb): {ephys.nwb[0]}\n  {ephys.nwb[1]}")
    click.echo(f"Explore it: labdata subjects --path {result.path} -p demo, or with the demo's preferences: "
               f"LABDATA_PREFERENCES={result.path / 'rig_preferences.json'} labdata sql \"FROM session\"")
