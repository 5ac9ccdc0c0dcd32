"""Extracellular electrophysiology: probes, recordings, spike sorting and unit metrics.

The module mirrors the original ``labdata/schema/ephys.py``. Probes,
insertions, configurations and recordings live in the project data schema
(``@data``); parameter sets, sortings, unit metrics, unit counts and probe
brain regions live in the project computed schema (``@computed``).
"""

from __future__ import annotations

from typing import ClassVar

from labdata.catalog import Computed, Imported, Manual, Part
from labdata.schema._registry import computed, data
from labdata.schema.ephys_methods import (
    EphysRecordingMethods,
    NoiseStatsMethods,
    ProbeConfigurationMethods,
    ProbeSettingMethods,
)
from labdata.schema.sorting_import import SortingImportMethods
from labdata.schema.sorting_waveforms import SortingWaveforms
from labdata.schema.spike_arrays import UnitArrays
from labdata.schema.spikeinterface_interop import ProbeSettingInteropMethods, SpikeSortingInteropMethods
from labdata.schema.unit_count_methods import UnitCountCriteriaMethods, UnitCountMethods
from labdata.schema.unit_merge import MergedUnitReverting, UnitMerging
from labdata.schema.unit_metrics_methods import UnitMetricsMethods
from labdata.schema.unit_reading import UnitReading

__all__ = [
    "EphysRecording",
    "EphysRecordingNoiseStats",
    "Probe",
    "ProbeBrainRegion",
    "ProbeConfiguration",
    "ProbeExtraction",
    "ProbeInsertion",
    "SpikeSorting",
    "SpikeSortingParams",
    "UnitCount",
    "UnitCountCriteria",
    "UnitMetrics",
]


# ---- project data schema ---------------------------------------------------------------

@data
class Probe(Manual):
    """A physical probe, by serial number, so that re-used probes are tracked."""

    definition = """
    probe_id : varchar(32)                  # serial number (SpikeGLX imDatPrb_sn)
    ---
    probe_type : varchar(12)                # SpikeGLX imDatPrb_type, e.g. 0, 21, 24, 2013
    probe_n_shanks : tinyint                # number of shanks
    probe_recording_channels : int          # number of recorded channels
    """


@data
class ProbeInsertion(Manual):
    """Stereotaxic insertion of a probe during a surgical procedure."""

    definition = """
    -> Procedure
    -> Probe
    ---
    insertion_ap : float                    # anterior-posterior distance from bregma (um)
    insertion_ml : float                    # medial-lateral distance from bregma (um)
    insertion_depth : float                 # inserted length from dura (um)
    insertion_el : float                    # elevation (degrees)
    insertion_az : float                    # azimuth (degrees)
    insertion_spin = 0 : float              # spin of the shanks (degrees)
    """


@data
class ProbeExtraction(Manual):
    """Extraction of a chronically implanted probe."""

    definition = """
    -> Procedure
    -> Probe
    ---
    extraction_successful : tinyint
    """


@data
class ProbeConfiguration(ProbeConfigurationMethods, Manual):
    """A channel map and gain of a probe (a probe with switchable sites has many)."""

    definition = """
    -> Probe
    configuration_id : smallint             # 1, 2, ... per probe
    ---
    probe_n_channels : int                  # connected recording channels
    probe_gain : float                      # uV per bit of the AP band
    channel_idx : blob                      # indices of the connected channels in the saved file
    channel_shank : blob                    # shank of each channel
    channel_coords : blob                   # N x 2 channel positions, x and y in um
    """


@data
class EphysRecording(EphysRecordingMethods, Imported):
    """An electrophysiology recording of a dataset (filled by the ephys upload rule)."""

    definition = """
    -> Dataset
    ---
    n_probes : smallint
    recording_duration : float              # seconds
    recording_software : varchar(56)        # e.g. spikeglx
    """

    class ProbeSetting(ProbeSettingInteropMethods, ProbeSettingMethods, Part):
        """One probe of a recording, with its configuration and sampling rate."""

        BANDS: ClassVar[tuple[str, ...]] = ("ap", "lf")
        definition = """
        -> master
        probe_num : smallint
        ---
        -> ProbeConfiguration
        sampling_rate : decimal(22,14)      # Hz
        """

    class ProbeFile(Part):
        """The files (.ap.cbin, .ap.ch, .ap.meta, ...) of one probe of a recording."""

        definition = """
        -> master.ProbeSetting
        -> File
        """


@data
class EphysRecordingNoiseStats(NoiseStatsMethods, Computed):
    """Per-channel noise statistics from a window at the start and one at the end of the AP file."""

    duration: ClassVar[float] = 30
    definition = """
    -> EphysRecording.ProbeSetting
    ---
    channel_median = NULL : longblob        # n_channels x 2 (head window, tail window), uV
    channel_max = NULL : longblob
    channel_min = NULL : longblob
    channel_peak_to_peak = NULL : longblob
    channel_mad = NULL : longblob           # unscaled median absolute deviation
    """


# ---- project computed schema -----------------------------------------------------------

@computed
class SpikeSortingParams(Manual):
    """Parameter sets of spike-sorting algorithms."""

    definition = """
    parameter_set_num : int
    ---
    algorithm_name : varchar(64)            # e.g. spks_kilosort4.0, si_mountainsort5
    parameter_description = NULL : varchar(256)
    parameters_dict : varchar(2000)         # JSON of the parameters that identify the set
    code_link = NULL : varchar(300)
    """


@computed
class SpikeSorting(SortingImportMethods, SpikeSortingInteropMethods, SortingWaveforms, Manual):
    """One sorting of one probe of one recording with one parameter set (``add_kilosort`` imports a Kilosort/phy
    folder, ``add_from_spikeinterface`` a SpikeInterface sorting)."""

    definition = """
    -> EphysRecording.ProbeSetting
    -> SpikeSortingParams
    ---
    algorithm_version = NULL : varchar(56)
    sorting_datetime = NULL : datetime
    n_pre_samples = NULL : smallint         # samples before the spike in waveforms
    n_sorted_units = NULL : int
    n_detected_spikes = NULL : int
    sorting_channel_indices = NULL : longblob  # channels of the sorting, numbered as in the file
    sorting_channel_coords = NULL : longblob
    additional_params = NULL : varchar(2000)
    -> [nullable] AnalysisFile.proj(features_file='file_path', features_storage='storage')
    -> [nullable] AnalysisFile.proj(waveforms_file='file_path', waveforms_storage='storage')
    container_version = NULL : varchar(512)
    """

    class Segment(Part):
        """A 2 s segment of filtered AP data with per-channel statistics."""

        definition = """
        -> master
        segment_num : int
        ---
        offset_samples : int
        segment : longblob                  # 2 s of filtered AP data (int16)
        channel_median = NULL : longblob    # uV, one per channel
        channel_mad = NULL : longblob
        channel_max = NULL : longblob
        channel_min = NULL : longblob
        channel_peak_to_peak = NULL : longblob
        """

    class Unit(UnitArrays, UnitReading, UnitMerging, Part):
        """A sorted unit (cluster) and its spikes (each sorting's arrays in one Zarr group)."""

        definition = """
        -> master
        unit_id : int                       # cluster id
        ---
        spike_times : longblob              # samples (uint64) from the start of the dataset
        spike_positions = NULL : longblob   # float32 N x 2, um
        spike_amplitudes = NULL : longblob  # float32 template amplitudes
        """

    class Waveforms(Part):
        """Median waveform of a unit on its kept channels."""

        definition = """
        -> master.Unit
        ---
        waveform_median : longblob          # uV, float32 samples x kept channels
        waveform_channels = NULL : longblob # int16 kept channels (NULL: all)
        waveform_ptp = NULL : longblob      # peak-to-peak on every channel
        waveform_noise = NULL : float       # noise of the median (uV)
        """

    class MergedUnit(MergedUnitReverting, Part):
        """The original data of units merged into another unit (so merges can be reverted)."""

        definition = """
        -> master
        merged_unit_id : int
        source_unit_id : int
        ---
        spike_times : longblob
        spike_positions = NULL : longblob
        spike_amplitudes = NULL : longblob
        waveform_median = NULL : longblob
        waveform_channels = NULL : longblob
        waveform_ptp = NULL : longblob
        waveform_noise = NULL : float
        merge_datetime : datetime
        """

    class IntermediateFiles(Part):
        """Sorter output files kept with --keep-files."""

        definition = """
        -> master
        -> AnalysisFile
        """

    class LinkedDatasets(Part):
        """Datasets sorted together in a multi-session sorting."""

        definition = """
        -> master
        -> Dataset.proj(linked_session_name='session_name', linked_dataset_session='dataset_name')
        """

    class Motion(Part):
        """Motion (drift) estimate of a sorting."""

        definition = """
        -> master
        motion_num : smallint
        ---
        motion_method : varchar(32)         # kilosort or dredge
        shank = NULL : smallint
        displacement : longblob             # time bins x depth bins, um
        displacement_times : longblob       # s from the start of the dataset
        displacement_depths = NULL : longblob
        """


@computed
class UnitMetrics(UnitMetricsMethods, Computed):
    """Quality metrics of a sorted unit (every unit of a sorting is made at once; see unit_metrics_methods)."""

    default_container: ClassVar[str] = "labdata-spks"
    definition = """
    -> SpikeSorting.Unit
    ---
    num_spikes : int
    depth = NULL : double
    position = NULL : blob
    shank = NULL : int
    channel_index = NULL : int
    n_electrodes_spanned = NULL : int
    span_um = NULL : float
    firing_rate = NULL : float
    isi_contamination = NULL : float
    isi_contamination_hill = NULL : float
    n_isi_violations = NULL : int
    amplitude_cutoff = NULL : float
    presence_ratio = NULL : float
    depth_drift_range = NULL : float
    depth_drift_fluctuation = NULL : float
    depth_drift_start_to_end = NULL : float
    firing_range = NULL : float
    amplitude_drift = NULL : float
    spike_amplitude = NULL : float
    snr = NULL : float
    spike_duration = NULL : float
    trough_time = NULL : float
    trough_amplitude = NULL : float
    fw3m = NULL : float
    trough_gradient = NULL : float
    peak_gradient = NULL : float
    peak_time = NULL : float
    peak_amplitude = NULL : float
    polarity = NULL : tinyint
    active_electrodes = NULL : blob
    """


@computed
class UnitCountCriteria(UnitCountCriteriaMethods, Manual):
    """Criteria classifying units as single units, multi units or noise."""

    definition = """
    unit_criteria_id : int
    ---
    sua_criteria : varchar(2000)            # expression on UnitMetrics columns, or manual_<annotator>_<descriptor>
    mua_criteria = NULL : varchar(2000)     # units failing it are noise (NULL: no noise class)
    """


@computed
class UnitCount(UnitCountMethods, Computed):
    """Number of single and multi units of a sorting under a criteria."""

    definition = """
    -> SpikeSorting
    -> UnitCountCriteria
    ---
    all : int
    sua : int
    mua : int
    """

    class Unit(Part):
        """Classification of each unit of the sorting."""

        definition = """
        -> master
        -> UnitMetrics
        ---
        passes : tinyint                    # 1 single unit, 0 multi unit, -1 noise
        """


@computed
class ProbeBrainRegion(Manual):
    """Brain regions crossed by a probe insertion."""

    definition = """
    -> ProbeInsertion
    -> ProbeConfiguration
    -> Atlas.Region
    ---
    min_depth = NULL : double
    max_depth = NULL : double
    shanks = NULL : blob
    electrodes = NULL : blob
    """
