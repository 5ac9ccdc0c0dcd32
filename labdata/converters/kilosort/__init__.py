"""Kilosort and phy output folders: read, check, and turn into units, spikes and waveforms.

:func:`read_kilosort` returns a :class:`KilosortSorting` (plain numpy arrays); the schema's
``SpikeSorting.add_kilosort`` registers it in the lake.
"""

from labdata.converters.kilosort.reader import KilosortSorting, UnitSpikes, read_kilosort
from labdata.converters.kilosort.waveforms import UnitWaveform

__all__ = ["KilosortSorting", "UnitSpikes", "UnitWaveform", "read_kilosort"]
