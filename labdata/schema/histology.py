"""Histology: brain atlases, fixed-brain stacks and their transforms and annotations.

The module mirrors the original ``labdata/schema/histology.py``.
:class:`Atlas` and :class:`FixedBrain` live in the project data schema
(``@data``); transform parameters, transforms and annotations in the project
computed schema (``@computed``).
"""

from __future__ import annotations

from labdata.catalog import Computed, Imported, Manual, Part
from labdata.schema._registry import computed, data

__all__ = [
    "Atlas",
    "FixedBrain",
    "FixedBrainTransform",
    "FixedBrainTransformAnnotation",
    "FixedBrainTransformParameters",
]


@data
class Atlas(Manual):
    """A brain atlas."""

    definition = """
    atlas_id : varchar(12)
    ---
    atlas_description = NULL : varchar(156)
    atlas_url = NULL : varchar(156)
    atlas_citation = NULL : varchar(156)
    """

    class Region(Part):
        """A region of an atlas."""

        definition = """
        -> master
        region_acronym : varchar(12)
        ---
        region_name : varchar(256)
        region_id : int
        region_atlas_id : int
        region_level : int
        region_graph_depth = NULL : int
        region_graph_order = NULL : int
        structure_id_path : varchar(80)
        color_hex = NULL : char(8)
        """


@data
class FixedBrain(Imported):
    """A whole-brain or fixed-tissue stack, e.g. from a light-sheet (filled by the fixed_brain rule)."""

    definition = """
    -> Dataset
    ---
    -> [nullable] File
    num_channels = NULL : smallint
    width = NULL : int
    height = NULL : int
    um_per_pixel = NULL : blob
    hardware = NULL : varchar(56)
    """

    class Channel(Part):
        """A channel of a fixed-brain stack."""

        definition = """
        -> master
        channel_index : smallint
        ---
        channel_wavelength = NULL : float
        channel_description = NULL : varchar(64)
        """


@computed
class FixedBrainTransformParameters(Manual):
    """How to downsample, rotate, crop and transpose a fixed-brain stack."""

    definition = """
    -> FixedBrain
    transform_id = 0 : smallint
    ---
    downsample = NULL : blob                # [T, C, X, Y] zoom ratios
    rotate = NULL : blob                    # [Z, Y, X, flipx, flipy]
    crop = NULL : blob                      # [start, end, step] or None per dimension
    transpose = NULL : blob                 # axis order, e.g. [2, 1, 3, 0]
    cast = NULL : varchar(8)                # target dtype (not applied by the original code)
    """


@computed
class FixedBrainTransform(Computed):
    """A transformed fixed-brain stack (an OME-TIFF kept as an AnalysisFile)."""

    definition = """
    -> FixedBrain
    -> FixedBrainTransformParameters
    ---
    -> AnalysisFile                         # the transformed OME-TIFF
    um_per_pixel = NULL : blob
    shape = NULL : blob
    hemisphere = NULL : varchar(5)          # left, right or both
    """


@computed
class FixedBrainTransformAnnotation(Manual):
    """Annotations (probe tracks, injections) in a transformed fixed-brain stack."""

    definition = """
    -> FixedBrainTransform
    annotation_id : int
    ---
    annotation_name : varchar(36)
    annotation_type : varchar(36)           # e.g. probe_track, injection
    xyz : blob                              # pixel coordinates in the transformed volume
    """
