"""One-photon imaging: widefield and miniscope recordings.

The module mirrors the original ``labdata/schema/onephoton.py``; both tables
live in the project data schema (``@data``) and are filled by upload rules.
"""

from __future__ import annotations

from labdata.catalog import Imported, Part
from labdata.schema._registry import data

__all__ = ["Miniscope", "Widefield"]


@data
class Widefield(Imported):
    """A widefield imaging stack of a dataset (filled by the one_photon upload rule)."""

    definition = """
    -> Dataset
    ---
    n_channels : smallint
    n_frames : int
    width : int
    height : int
    frame_rate : double                     # Hz
    -> [nullable] File
    magnification = NULL : double
    objective_angle = NULL : double
    objective = NULL : varchar(32)
    um_per_pixel = NULL : blob
    imaging_software : varchar(32)          # labcams <version>
    """

    class Projection(Part):
        """Projections of a widefield stack."""

        definition = """
        -> master
        proj_name : enum('mean','std','var','max')
        ---
        proj : longblob
        """


@data
class Miniscope(Imported):
    """A miniscope imaging stack of a dataset (filled by the miniscope upload rule)."""

    definition = """
    -> Dataset
    ---
    n_channels : smallint
    n_frames : int
    width : int                             # the original rule fills the height here (swapped)
    height : int
    frame_rate : double                     # Hz
    -> File
    device = NULL : varchar(32)
    power = NULL : blob                     # LED power per channel
    lens_tuning : int                       # electrowetting lens focus
    sensor_gain = NULL : int
    um_per_pixel = NULL : blob
    -> [nullable] Atlas.Region
    """
