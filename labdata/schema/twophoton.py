"""Two-photon imaging: recordings, cell segmentation and segmentation metrics.

The module mirrors the original ``labdata/schema/twophoton.py``.
:class:`TwoPhoton` lives in the project data schema (``@data``); parameter
sets, segmentations and their metrics in the project computed schema
(``@computed``).
"""

from __future__ import annotations

from labdata.catalog import Computed, Imported, Manual, Part
from labdata.schema._registry import computed, data

__all__ = ["CellSegmentation", "CellSegmentationMetrics", "CellSegmentationParams", "TwoPhoton"]


@data
class TwoPhoton(Imported):
    """A two-photon imaging stack of a dataset (filled by the two_photon upload rule)."""

    definition = """
    -> Dataset
    ---
    n_planes : smallint
    n_channels : smallint
    n_frames : int
    width : int
    height : int
    frame_rate : double                     # Hz (the Scanbox rate divided by the number of channels)
    -> File                                 # the .zarr.zip stack
    magnification = NULL : double
    objective_angle = NULL : double
    objective = NULL : varchar(32)
    um_per_pixel = NULL : blob              # x, y
    scanning_mode = NULL : varchar(32)
    pmt_gain = NULL : blob
    imaging_software : varchar(32)          # scanbox_<version>
    -> [nullable] Atlas.Region
    """

    class Plane(Part):
        """An imaging plane of a two-photon stack."""

        definition = """
        -> master
        plane_num : smallint
        ---
        plane_depth = NULL : float
        """


@computed
class CellSegmentationParams(Manual):
    """Parameter sets of cell-segmentation algorithms."""

    definition = """
    parameter_set_num : int
    ---
    algorithm_name : varchar(64)
    parameter_description = NULL : varchar(256)
    parameters_dict : varchar(2000)         # JSON of the parameters that identify the set
    code_link = NULL : varchar(300)
    """


@computed
class CellSegmentation(Imported):
    """A cell segmentation of an imaging dataset with one parameter set."""

    definition = """
    -> Dataset
    -> CellSegmentationParams
    ---
    algorithm_version : varchar(56)
    n_rois : int
    crop_region = NULL : blob
    segmentation_datetime = NULL : datetime
    -> [nullable] AnalysisFile
    container_version = NULL : varchar(512)
    """

    class Plane(Part):
        """A segmented plane."""

        definition = """
        -> master
        plane_num : smallint
        ---
        plane_n_rois : int
        dims = NULL : blob
        """

    class MotionCorrection(Part):
        """Motion correction of a plane."""

        definition = """
        -> master.Plane
        ---
        motion_block_size = 0 : int         # 0 for rigid
        displacement : longblob
        """

    class Projection(Part):
        """Projections of a plane (mean, std, max, lcorr)."""

        definition = """
        -> master.Plane
        proj_name : varchar(16)
        ---
        proj_im : longblob
        """

    class ROI(Part):
        """A region of interest of a plane."""

        definition = """
        -> master.Plane
        roi_num : int
        ---
        roi_pixels : blob                   # flat indices into the plane dims
        roi_pixels_values = NULL : blob     # weights
        neuropil_pixels = NULL : blob
        """

    class RawTraces(Part):
        """Fluorescence of an ROI and of its neuropil."""

        definition = """
        -> master.ROI
        ---
        f_trace : longblob
        f_neuropil = NULL : longblob
        """

    class Traces(Part):
        """dF/F of an ROI."""

        definition = """
        -> master.ROI
        ---
        dff : longblob
        neuropil_coeff = NULL : float
        """

    class Deconvolved(Part):
        """Deconvolved activity of an ROI."""

        definition = """
        -> master.ROI
        ---
        deconv : longblob
        """

    class Selection(Part):
        """Whether an ROI is a cell, by automatic or manual selection."""

        definition = """
        -> master.ROI
        selection_method = 'auto' : varchar(12)  # auto or manual
        ---
        selection : smallint                # 1 cell, 0 not a cell
        likelihood = NULL : float
        """

    class LinkedDatasets(Part):
        """Datasets segmented together in a multi-session segmentation."""

        definition = """
        -> master
        linked_session_id : int
        ---
        -> Dataset.proj(linked_session_name='session_name', linked_dataset_session='dataset_name')
        """


@computed
class CellSegmentationMetrics(Computed):
    """Shape and activity metrics of a segmented ROI."""

    definition = """
    -> CellSegmentation.ROI
    ---
    x_pos = NULL : float                    # weighted centroid (px)
    y_pos = NULL : float
    npix = NULL : int
    diameter = NULL : float
    roi_skewness = NULL : float
    compactness = NULL : float
    aspect_ratio = NULL : float
    snr = NULL : float
    noise_level = NULL : float
    std = NULL : float
    trace_skewness = NULL : float
    max_dff = NULL : float
    activity_fraction = NULL : float
    event_rate = NULL : float
    neuropil_coeff = NULL : float
    correlation_neuropil = NULL : float
    """
