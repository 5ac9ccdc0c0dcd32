"""Every table of the original labdata is declared with its keys, attributes and types.

``EXPECTED`` is typed independently from the inventory of the original system
(``reference/labdata-original.md`` §1 and the index of tables in §11); it is
not generated from the declarations. Each entry maps a full table name to
``(group, tier, primary key, secondary attributes)``; inherited attributes are
included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import labdata.schema
from labdata.catalog.declare.definition import NO_DEFAULT
from labdata.schema import registry

# names shared by many keys
DATASET = ("subject_name", "session_name", "dataset_name")
FILE = ("file_path", "storage")
PROCEDURE = ("subject_name", "procedure_type", "procedure_datetime")
PROBE_SETTING = (*DATASET, "probe_num")
SORTING = (*PROBE_SETTING, "parameter_set_num")
UNIT = (*SORTING, "unit_id")
SEGMENTATION = (*DATASET, "parameter_set_num")
SEG_PLANE = (*SEGMENTATION, "plane_num")
ROI = (*SEG_PLANE, "roi_num")
VIDEO = (*DATASET, "video_name")
TRANSFORM = (*DATASET, "transform_id")
NOTE = ("notetaker", "note_datetime")
REGION = ("atlas_id", "region_acronym")
UNIT_METRICS = (
    "num_spikes", "depth", "position", "shank", "channel_index", "n_electrodes_spanned",
    "span_um", "firing_rate", "isi_contamination", "isi_contamination_hill",
    "n_isi_violations", "amplitude_cutoff", "presence_ratio", "depth_drift_range",
    "depth_drift_fluctuation", "depth_drift_start_to_end", "firing_range",
    "amplitude_drift", "spike_amplitude", "snr", "spike_duration", "trough_time",
    "trough_amplitude", "fw3m", "trough_gradient", "peak_gradient", "peak_time",
    "peak_amplitude", "polarity", "active_electrodes",
)
NOISE_STATS = ("channel_median", "channel_max", "channel_min", "channel_peak_to_peak", "channel_mad")

EXPECTED: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    # ---- general.py, lab-wide ----
    "LabMember": ("lab", "manual", ("user_name",),
                  ("email", "first_name", "last_name", "date_joined", "is_active")),
    "Project": ("lab", "manual", ("project_name",),
                ("project_description", "project_startdate", "project_enddate", "project_contact")),
    "Project.User": ("lab", "part", ("project_name", "user_name"), ()),
    "File": ("lab", "manual", FILE, ("file_datetime", "file_size", "file_md5")),
    "AnalysisFile": ("lab", "manual", FILE, ("file_datetime", "file_size", "file_md5")),
    "ProcessedFile": ("lab", "manual", ("file_path",), ("file_datetime", "file_size", "file_md5")),
    "Species": ("lab", "lookup", ("species_name",), ("species_scientific_name", "species_description")),
    "Strain": ("lab", "lookup", ("strain_name",), ("species_name", "strain_description")),
    "SetupLocation": ("lab", "lookup", ("setup_location",), ()),
    "Setup": ("lab", "lookup", ("setup_name",), ("setup_location", "setup_description")),
    "UploadJob": ("lab", "manual", ("job_id",),
                  ("job_waiting", "job_status", "job_host", "job_rule", "job_log", "job_starttime",
                   "job_endtime", "subject_name", "session_name", "dataset_name",
                   "upload_storage", "project_name")),
    "UploadJob.AssignedFiles": ("lab", "part", ("job_id", "src_path"),
                                ("src_datetime", "src_size", "src_md5")),
    # ---- general.py, project data ----
    "Subject": ("data", "manual", ("subject_name",),
                ("subject_dob", "subject_sex", "strain_name", "user_name")),
    "Note": ("data", "manual", NOTE, ("notes",)),
    "Note.Image": ("data", "part", (*NOTE, "image_id"), ("image", "caption")),
    "Note.Attachment": ("data", "part", (*NOTE, *FILE), ("caption",)),
    "Session": ("data", "manual", ("subject_name", "session_name"),
                ("session_datetime", "experimenter")),
    "DatasetType": ("data", "lookup", ("dataset_type",), ()),
    "Dataset": ("data", "manual", DATASET, ("dataset_type", "setup_name", *NOTE)),
    "Dataset.DataFiles": ("data", "part", (*DATASET, *FILE), ()),
    "DatasetEvents": ("data", "imported", (*DATASET, "stream_name"), ("stream_time",)),
    "DatasetEvents.Digital": ("data", "part", (*DATASET, "stream_name", "event_name"),
                              ("event_timestamps", "event_values")),
    "DatasetEvents.AnalogChannel": ("data", "part", (*DATASET, "stream_name", "channel_name"),
                                    ("channel_values",)),
    # ---- general.py, project computed ----
    "StreamSync": ("computed", "manual",
                   (*DATASET, "stream_name", "event_name",
                    "clock_dataset", "clock_stream", "clock_stream_event"), ()),
    "ComputeTask": ("computed", "manual", ("job_id",),
                    ("task_waiting", "task_name", "task_status", "task_target", "task_host",
                     "task_cmd", "task_parameters", "task_log", "task_starttime",
                     "task_endtime", *DATASET)),
    "ComputeTask.AssignedFiles": ("computed", "part", ("job_id", *FILE), ()),
    # ---- procedures.py ----
    "Weighing": ("data", "manual", ("subject_name", "weighing_datetime"), ("weight",)),
    "ProcedureType": ("data", "lookup", ("procedure_type",), ()),
    "Procedure": ("data", "manual", PROCEDURE,
                  ("user_name", "procedure_metadata", "weighing_datetime", *NOTE)),
    "Watering": ("data", "manual", ("subject_name", "watering_datetime"), ("water_volume",)),
    "WaterRestriction": ("data", "manual", ("subject_name", "water_restriction_start_date"),
                         ("user_name", "water_restriction_end_date", "weighing_datetime")),
    "Death": ("data", "manual", ("subject_name",), ("death_date", *NOTE)),
    # ---- ephys.py ----
    "Probe": ("data", "manual", ("probe_id",),
              ("probe_type", "probe_n_shanks", "probe_recording_channels")),
    "ProbeInsertion": ("data", "manual", (*PROCEDURE, "probe_id"),
                       ("insertion_ap", "insertion_ml", "insertion_depth", "insertion_el",
                        "insertion_az", "insertion_spin")),
    "ProbeExtraction": ("data", "manual", (*PROCEDURE, "probe_id"), ("extraction_successful",)),
    "ProbeConfiguration": ("data", "manual", ("probe_id", "configuration_id"),
                           ("probe_n_channels", "probe_gain", "channel_idx", "channel_shank",
                            "channel_coords")),
    "EphysRecording": ("data", "imported", DATASET,
                       ("n_probes", "recording_duration", "recording_software")),
    "EphysRecording.ProbeSetting": ("data", "part", PROBE_SETTING,
                                    ("probe_id", "configuration_id", "sampling_rate")),
    "EphysRecording.ProbeFile": ("data", "part", (*PROBE_SETTING, *FILE), ()),
    "EphysRecordingNoiseStats": ("data", "computed", PROBE_SETTING, NOISE_STATS),
    "SpikeSortingParams": ("computed", "manual", ("parameter_set_num",),
                           ("algorithm_name", "parameter_description", "parameters_dict",
                            "code_link")),
    "SpikeSorting": ("computed", "manual", SORTING,
                     ("algorithm_version", "sorting_datetime", "n_pre_samples", "n_sorted_units",
                      "n_detected_spikes", "sorting_channel_indices", "sorting_channel_coords",
                      "additional_params", "features_file", "features_storage",
                      "waveforms_file", "waveforms_storage", "container_version")),
    "SpikeSorting.Segment": ("computed", "part", (*SORTING, "segment_num"),
                             ("offset_samples", "segment", *NOISE_STATS)),
    "SpikeSorting.Unit": ("computed", "part", UNIT,
                          ("spike_times", "spike_positions", "spike_amplitudes")),
    "SpikeSorting.Waveforms": ("computed", "part", UNIT,
                               ("waveform_median", "waveform_channels", "waveform_ptp",
                                "waveform_noise")),
    "SpikeSorting.MergedUnit": ("computed", "part", (*SORTING, "merged_unit_id", "source_unit_id"),
                                ("spike_times", "spike_positions", "spike_amplitudes",
                                 "waveform_median", "waveform_channels", "waveform_ptp",
                                 "waveform_noise", "merge_datetime")),
    "SpikeSorting.IntermediateFiles": ("computed", "part", (*SORTING, *FILE), ()),
    "SpikeSorting.LinkedDatasets": ("computed", "part",
                                    (*SORTING, "linked_session_name", "linked_dataset_session"), ()),
    "SpikeSorting.Motion": ("computed", "part", (*SORTING, "motion_num"),
                            ("motion_method", "shank", "displacement", "displacement_times",
                             "displacement_depths")),
    "UnitMetrics": ("computed", "computed", UNIT, UNIT_METRICS),
    "UnitCountCriteria": ("computed", "manual", ("unit_criteria_id",),
                          ("sua_criteria", "mua_criteria")),
    "UnitCount": ("computed", "computed", (*SORTING, "unit_criteria_id"), ("all", "sua", "mua")),
    "UnitCount.Unit": ("computed", "part", (*SORTING, "unit_criteria_id", "unit_id"), ("passes",)),
    "ProbeBrainRegion": ("computed", "manual", (*PROCEDURE, "probe_id", "configuration_id", *REGION),
                         ("min_depth", "max_depth", "shanks", "electrodes")),
    # ---- twophoton.py ----
    "TwoPhoton": ("data", "imported", DATASET,
                  ("n_planes", "n_channels", "n_frames", "width", "height", "frame_rate", *FILE,
                   "magnification", "objective_angle", "objective", "um_per_pixel",
                   "scanning_mode", "pmt_gain", "imaging_software", *REGION)),
    "TwoPhoton.Plane": ("data", "part", (*DATASET, "plane_num"), ("plane_depth",)),
    "CellSegmentationParams": ("computed", "manual", ("parameter_set_num",),
                               ("algorithm_name", "parameter_description", "parameters_dict",
                                "code_link")),
    "CellSegmentation": ("computed", "imported", SEGMENTATION,
                         ("algorithm_version", "n_rois", "crop_region", "segmentation_datetime",
                          *FILE, "container_version")),
    "CellSegmentation.Plane": ("computed", "part", SEG_PLANE, ("plane_n_rois", "dims")),
    "CellSegmentation.MotionCorrection": ("computed", "part", SEG_PLANE,
                                          ("motion_block_size", "displacement")),
    "CellSegmentation.Projection": ("computed", "part", (*SEG_PLANE, "proj_name"), ("proj_im",)),
    "CellSegmentation.ROI": ("computed", "part", ROI,
                             ("roi_pixels", "roi_pixels_values", "neuropil_pixels")),
    "CellSegmentation.RawTraces": ("computed", "part", ROI, ("f_trace", "f_neuropil")),
    "CellSegmentation.Traces": ("computed", "part", ROI, ("dff", "neuropil_coeff")),
    "CellSegmentation.Deconvolved": ("computed", "part", ROI, ("deconv",)),
    "CellSegmentation.Selection": ("computed", "part", (*ROI, "selection_method"),
                                   ("selection", "likelihood")),
    "CellSegmentation.LinkedDatasets": ("computed", "part", (*SEGMENTATION, "linked_session_id"),
                                        ("linked_session_name", "linked_dataset_session")),
    "CellSegmentationMetrics": ("computed", "computed", ROI,
                                ("x_pos", "y_pos", "npix", "diameter", "roi_skewness",
                                 "compactness", "aspect_ratio", "snr", "noise_level", "std",
                                 "trace_skewness", "max_dff", "activity_fraction", "event_rate",
                                 "neuropil_coeff", "correlation_neuropil")),
    # ---- onephoton.py ----
    "Widefield": ("data", "imported", DATASET,
                  ("n_channels", "n_frames", "width", "height", "frame_rate", *FILE,
                   "magnification", "objective_angle", "objective", "um_per_pixel",
                   "imaging_software")),
    "Widefield.Projection": ("data", "part", (*DATASET, "proj_name"), ("proj",)),
    "Miniscope": ("data", "imported", DATASET,
                  ("n_channels", "n_frames", "width", "height", "frame_rate", *FILE, "device",
                   "power", "lens_tuning", "sensor_gain", "um_per_pixel", *REGION)),
    # ---- tasks.py ----
    "DecisionTask": ("computed", "imported", DATASET,
                     ("n_total_trials", "n_total_assisted", "n_total_performed",
                      "n_total_initiated", "n_total_with_choice", "n_total_rewarded",
                      "n_total_punished", "watering_datetime")),
    "DecisionTask.TrialSet": ("computed", "part", (*DATASET, "trialset_description"),
                              ("n_trials", "n_performed", "n_with_choice", "n_correct",
                               "performance_easy", "performance", "trial_num",
                               "initiation_times", "assisted", "response_values",
                               "correct_values", "intensity_values", "reaction_times",
                               "block_values")),
    # ---- video.py ----
    "DatasetVideo": ("data", "manual", VIDEO, ("frame_times", "frame_rate", "n_frames")),
    "DatasetVideo.File": ("data", "part", (*VIDEO, *FILE), ()),
    "DatasetVideo.Frame": ("data", "part", (*VIDEO, "frame_num"), ("frame",)),
    "PoseEstimationLabelSet": ("computed", "manual", ("pose_label_set_num",),
                               ("description", "labeler")),
    "PoseEstimationLabelSet.Frame": ("computed", "part", ("pose_label_set_num", *VIDEO, "frame_num"),
                                     ("frame",)),
    "PoseEstimationLabelSet.Label": ("computed", "part",
                                     ("pose_label_set_num", *VIDEO, "frame_num", "label_name"),
                                     ("x", "y", "z")),
    "PoseEstimationModel": ("computed", "manual", ("model_num",),
                            ("algorithm_name", *FILE, "pose_label_set_num", "parameters_dict",
                             "training_datetime", "container_name", "code_link")),
    "PoseEstimation": ("computed", "manual", ("model_num", *VIDEO, "label_name"),
                       ("x", "y", "z", "likelihood")),
    # ---- histology.py ----
    "Atlas": ("data", "manual", ("atlas_id",), ("atlas_description", "atlas_url", "atlas_citation")),
    "Atlas.Region": ("data", "part", REGION,
                     ("region_name", "region_id", "region_atlas_id", "region_level",
                      "region_graph_depth", "region_graph_order", "structure_id_path",
                      "color_hex")),
    "FixedBrain": ("data", "imported", DATASET,
                   (*FILE, "num_channels", "width", "height", "um_per_pixel", "hardware")),
    "FixedBrain.Channel": ("data", "part", (*DATASET, "channel_index"),
                           ("channel_wavelength", "channel_description")),
    "FixedBrainTransformParameters": ("computed", "manual", TRANSFORM,
                                      ("downsample", "rotate", "crop", "transpose", "cast")),
    "FixedBrainTransform": ("computed", "computed", TRANSFORM,
                            (*FILE, "um_per_pixel", "shape", "hemisphere")),
    "FixedBrainTransformAnnotation": ("computed", "manual", (*TRANSFORM, "annotation_id"),
                                      ("annotation_name", "annotation_type", "xyz")),
}

# the index of tables of the reference (§11): starred tables, then the others
INDEXED = """
LabMember File AnalysisFile Subject Session Dataset Dataset.DataFiles DatasetEvents
DatasetEvents.Digital StreamSync UploadJob ComputeTask Weighing Watering ProcedureType Procedure
Probe ProbeConfiguration EphysRecording EphysRecording.ProbeSetting SpikeSortingParams
SpikeSorting SpikeSorting.Unit UnitMetrics UnitCountCriteria UnitCount UnitCount.Unit TwoPhoton
CellSegmentation Widefield Widefield.Projection Miniscope FixedBrain FixedBrainTransformParameters
FixedBrainTransform FixedBrainTransformAnnotation DecisionTask DecisionTask.TrialSet DatasetVideo
PoseEstimationLabelSet PoseEstimationModel PoseEstimation
Project Project.User ProcessedFile Species Strain SetupLocation Setup Note Note.Image
Note.Attachment DatasetType DatasetEvents.AnalogChannel ComputeTask.AssignedFiles
UploadJob.AssignedFiles WaterRestriction Death ProbeInsertion ProbeExtraction
EphysRecording.ProbeFile EphysRecordingNoiseStats SpikeSorting.Segment SpikeSorting.Waveforms
SpikeSorting.MergedUnit SpikeSorting.IntermediateFiles SpikeSorting.LinkedDatasets
SpikeSorting.Motion ProbeBrainRegion TwoPhoton.Plane CellSegmentationParams
CellSegmentation.Plane CellSegmentation.MotionCorrection CellSegmentation.Projection
CellSegmentation.ROI CellSegmentation.RawTraces CellSegmentation.Traces
CellSegmentation.Deconvolved CellSegmentation.Selection CellSegmentation.LinkedDatasets
CellSegmentationMetrics Atlas Atlas.Region FixedBrain.Channel DatasetVideo.File DatasetVideo.Frame
PoseEstimationLabelSet.Frame PoseEstimationLabelSet.Label
""".split()

MODULES = {
    "general": ("LabMember", "Project", "File", "AnalysisFile", "ProcessedFile", "Species", "Strain",
                "SetupLocation", "Setup", "UploadJob", "Subject", "Note", "Session", "DatasetType",
                "Dataset", "DatasetEvents", "StreamSync", "ComputeTask"),
    "procedures": ("Weighing", "ProcedureType", "Procedure", "Watering", "WaterRestriction", "Death"),
    "ephys": ("Probe", "ProbeInsertion", "ProbeExtraction", "ProbeConfiguration", "EphysRecording",
              "EphysRecordingNoiseStats", "SpikeSortingParams", "SpikeSorting", "UnitMetrics",
              "UnitCountCriteria", "UnitCount", "ProbeBrainRegion"),
    "twophoton": ("TwoPhoton", "CellSegmentationParams", "CellSegmentation", "CellSegmentationMetrics"),
    "onephoton": ("Widefield", "Miniscope"),
    "tasks": ("DecisionTask",),
    "video": ("DatasetVideo", "PoseEstimationLabelSet", "PoseEstimationModel", "PoseEstimation"),
    "histology": ("Atlas", "FixedBrain", "FixedBrainTransformParameters", "FixedBrainTransform",
                  "FixedBrainTransformAnnotation"),
}


# ---- every table, and only those -------------------------------------------------------

def test_expected_covers_the_index_of_the_reference():
    assert len(INDEXED) == len(set(INDEXED))
    assert set(INDEXED) == set(EXPECTED)


def test_registry_declares_exactly_the_expected_tables():
    declared = {cls._full_name for cls in registry}
    assert sorted(set(EXPECTED) - declared) == [], "tables of the reference not declared"
    assert sorted(declared - set(EXPECTED)) == [], "declared tables missing from EXPECTED"
    assert len(registry) == len(EXPECTED) == 88


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_table_declaration(name):
    group, tier, primary_key, secondary = EXPECTED[name]
    schema = registry.schema(name)
    assert schema.class_name == name
    assert schema.tier_group == group
    assert schema.tier == tier
    assert set(schema.primary_key) == set(primary_key)
    assert len(schema.primary_key) == len(primary_key)
    assert set(schema.secondary) == set(secondary)
    assert len(schema.secondary) == len(secondary)


@pytest.mark.parametrize(("module", "names"), sorted(MODULES.items()))
def test_tables_live_in_the_original_modules(module, names):
    for name in names:
        cls = registry.get(name)
        assert cls.__module__ == f"labdata.schema.{module}"
        assert getattr(sys.modules[f"labdata.schema.{module}"], name) is cls


def test_star_import_gives_every_table_and_the_registry():
    namespace: dict[str, object] = {}
    exec("from labdata.schema import *", namespace)
    top_level = {name for name in EXPECTED if "." not in name}
    assert top_level <= set(namespace)
    assert namespace["registry"] is registry
    for name in top_level:
        assert namespace[name] is registry.get(name)
    assert len(labdata.schema.__all__) == len(set(labdata.schema.__all__))


def test_every_class_has_a_docstring():
    for cls in registry:
        assert (cls.__doc__ or "").strip(), cls._full_name


# ---- a sample of types, defaults and nullability -----------------------------------------

def attribute(table, name):
    return registry.schema(table)[name]


def test_file_columns():
    assert attribute("File", "file_path").type.text == "varchar(300)"
    assert attribute("File", "file_path").type.length == 300
    assert attribute("File", "file_size").type.kind == "float"
    assert attribute("File", "file_size").sql_type == "DOUBLE"
    assert attribute("File", "file_datetime").type.kind == "datetime"
    assert attribute("File", "file_md5").nullable
    assert not attribute("File", "file_size").nullable


def test_storage_defaults_in_file_keys():
    assert attribute("File", "storage").in_key
    assert attribute("File", "storage").default == "data"
    assert attribute("File", "storage").type.length == 12
    assert attribute("AnalysisFile", "storage").in_key
    assert attribute("AnalysisFile", "storage").default == "analysis"
    assert "storage" not in registry.schema("ProcessedFile")


def test_lab_member_columns():
    assert attribute("LabMember", "is_active").default is True
    assert attribute("LabMember", "is_active").type.kind == "bool"
    assert attribute("LabMember", "email").nullable
    date_joined = attribute("LabMember", "date_joined")
    assert not date_joined.nullable and date_joined.default is NO_DEFAULT
    assert date_joined.type.kind == "date"


def test_renamed_lab_member_references():
    experimenter = attribute("Session", "experimenter")
    assert experimenter.nullable and not experimenter.in_key
    assert experimenter.type.text == "varchar(32)"
    assert attribute("Note", "notetaker").in_key
    assert not attribute("Note", "notetaker").nullable
    assert not attribute("Project", "project_contact").nullable
    assert attribute("PoseEstimationLabelSet", "labeler").nullable
    references = {fk.parent: fk.attribute_map for fk in registry.schema("Session").foreign_keys}
    assert references["LabMember"] == (("experimenter", "user_name"),)


def test_subject_columns():
    sex = attribute("Subject", "subject_sex")
    assert sex.type.kind == "enum"
    assert sex.type.values == ("M", "F", "U")
    assert not sex.nullable
    assert attribute("Subject", "subject_name").type.length == 20
    assert not attribute("Subject", "strain_name").nullable


def test_queue_ids_autoincrement():
    for table in ("UploadJob", "ComputeTask"):
        job_id = attribute(table, "job_id")
        assert job_id.in_key and job_id.type.autoincrement and job_id.has_default
    # an inherited auto_increment key is a plain integer in the part table
    assert not attribute("UploadJob.AssignedFiles", "job_id").type.autoincrement
    assert attribute("UploadJob", "job_waiting").default == 1
    assert attribute("ComputeTask", "task_waiting").default == 1
    assert attribute("ComputeTask", "task_cmd").type.length == 2000
    assert attribute("UploadJob", "subject_name").nullable  # plain column, not a reference
    assert registry.schema("UploadJob").foreign_keys[0].parent == "Project"


def test_dataset_references_are_nullable():
    for name in ("dataset_type", "setup_name", "notetaker", "note_datetime"):
        assert attribute("Dataset", name).nullable
    assert attribute("Dataset", "dataset_name").type.length == 128
    for name in DATASET:
        assert attribute("ComputeTask", name).nullable


def test_blob_kinds():
    assert attribute("SpikeSorting.Unit", "spike_times").type.kind == "longblob"
    assert not attribute("SpikeSorting.Unit", "spike_times").nullable
    assert attribute("SpikeSorting.Unit", "spike_positions").nullable
    assert attribute("ProbeConfiguration", "channel_coords").type.kind == "blob"
    assert attribute("ProbeConfiguration", "channel_coords").sql_type == "BLOB"
    assert attribute("UnitMetrics", "position").type.kind == "blob"
    assert attribute("UnitMetrics", "active_electrodes").type.kind == "blob"
    assert attribute("DatasetEvents.Digital", "event_timestamps").type.kind == "longblob"
    assert attribute("Note.Image", "image").type.kind == "longblob"
    assert attribute("FixedBrainTransformAnnotation", "xyz").type.kind == "blob"


def test_numeric_types():
    assert attribute("EphysRecording.ProbeSetting", "sampling_rate").sql_type == "DECIMAL(22,14)"
    assert attribute("ProbeConfiguration", "configuration_id").type.text == "smallint"
    assert attribute("Probe", "probe_n_shanks").type.text == "tinyint"
    assert attribute("UnitMetrics", "depth").sql_type == "DOUBLE"
    assert attribute("UnitMetrics", "firing_rate").sql_type == "FLOAT"
    assert not attribute("UnitMetrics", "num_spikes").nullable
    assert all(attribute("UnitMetrics", name).nullable for name in UNIT_METRICS[1:])
    assert attribute("UnitCount", "all").type.kind == "integer"
    assert attribute("UnitCount.Unit", "passes").type.text == "tinyint"
    assert attribute("Watering", "water_volume").type.kind == "float"
    assert attribute("Weighing", "weight").type.kind == "float"


def test_key_defaults():
    assert attribute("CellSegmentation.Selection", "selection_method").in_key
    assert attribute("CellSegmentation.Selection", "selection_method").default == "auto"
    assert attribute("FixedBrainTransformParameters", "transform_id").in_key
    assert attribute("FixedBrainTransformParameters", "transform_id").default == 0
    assert attribute("CellSegmentation.MotionCorrection", "motion_block_size").default == 0
    assert attribute("ProbeInsertion", "insertion_spin").default == 0
    assert attribute("Note", "notes").default == ""


def test_other_enums_and_required_references():
    proj = attribute("Widefield.Projection", "proj_name")
    assert proj.in_key and proj.type.values == ("mean", "std", "var", "max")
    assert not attribute("TwoPhoton", "file_path").nullable  # -> File (required)
    assert attribute("Widefield", "file_path").nullable  # -> [nullable] File
    assert not attribute("Miniscope", "file_path").nullable
    assert attribute("Miniscope", "atlas_id").nullable
    assert not attribute("FixedBrainTransform", "file_path").nullable
    assert attribute("FixedBrain", "file_path").nullable
    assert not attribute("WaterRestriction", "weighing_datetime").nullable
    assert attribute("Procedure", "weighing_datetime").nullable
    assert attribute("DecisionTask", "watering_datetime").nullable
    assert not attribute("Strain", "species_name").nullable
    assert attribute("Setup", "setup_location").nullable


def test_renamed_analysis_file_references_of_spike_sorting():
    schema = registry.schema("SpikeSorting")
    maps = sorted(fk.attribute_map for fk in schema.foreign_keys if fk.parent == "AnalysisFile")
    assert maps == [
        (("features_file", "file_path"), ("features_storage", "storage")),
        (("waveforms_file", "file_path"), ("waveforms_storage", "storage")),
    ]
    for name in ("features_file", "features_storage", "waveforms_file", "waveforms_storage"):
        assert schema[name].nullable and not schema[name].in_key
    assert schema["features_file"].type.length == 300


def test_stream_sync_references():
    schema = registry.schema("StreamSync")
    maps = {fk.parent: [] for fk in schema.foreign_keys}
    for fk in schema.foreign_keys:
        maps[fk.parent].append(dict(fk.attribute_map))
    clock = maps["DatasetEvents.Digital"][1]
    assert clock == {"subject_name": "subject_name", "session_name": "session_name",
                     "clock_dataset": "dataset_name", "clock_stream": "stream_name",
                     "clock_stream_event": "event_name"}
    assert all(fk.in_key for fk in schema.foreign_keys)


def test_linked_datasets_rename_session_and_dataset():
    for table in ("SpikeSorting.LinkedDatasets", "CellSegmentation.LinkedDatasets"):
        (fk,) = [fk for fk in registry.schema(table).foreign_keys if fk.parent == "Dataset"]
        assert dict(fk.attribute_map) == {"subject_name": "subject_name",
                                          "linked_session_name": "session_name",
                                          "linked_dataset_session": "dataset_name"}


# ---- lookup contents -------------------------------------------------------------------

def _values(cls):
    return [row[0] if isinstance(row, tuple) else next(iter(row.values())) for row in cls.contents]


def test_lookup_contents():
    assert _values(registry.get("DatasetType")) == [
        "task-training", "task-behavior", "passive-spontaneous", "passive-stimulation",
        "free-behavior", "imaging-2p", "imaging-widefield", "imaging-miniscope", "ephys",
        "opto-inactivation", "opto-activation", "analysis",
    ]
    assert _values(registry.get("ProcedureType")) == [
        "surgery", "chronic implant", "chronic explant", "injection", "window implant",
        "window replacement", "handling", "training", "craniotomy", "euthanasia",
    ]
    assert _values(registry.get("SetupLocation")) == ["CHS-74100"]
    for name in ("Species", "Strain", "Setup"):
        assert list(registry.get(name).contents) == []


def test_lookup_contents_fit_their_columns():
    for name in ("DatasetType", "ProcedureType", "SetupLocation"):
        (key,) = registry.schema(name).primary_key
        column = registry.schema(name)[key]
        for value in _values(registry.get(name)):
            assert column.type.coerce(value, key) == value


# ---- order and names -------------------------------------------------------------------

def test_declaration_order_puts_parents_first():
    order = registry.declaration_order()
    assert sorted(order) == sorted(EXPECTED)
    position = {name: index for index, name in enumerate(order)}
    for name in order:
        for fk in registry.schema(name).foreign_keys:
            assert position[fk.parent] < position[name], f"{fk.parent} after {name}"
        master = registry.schema(name).master
        if master is not None:
            assert position[master] < position[name]


@pytest.mark.parametrize(("name", "sql_name"), [
    ("LabMember", "lab_member"),
    ("EphysRecordingNoiseStats", "ephys_recording_noise_stats"),
    ("SpikeSorting.Unit", "spike_sorting__unit"),
    ("Dataset.DataFiles", "dataset__data_files"),
    ("CellSegmentation.ROI", "cell_segmentation__roi"),
    ("CellSegmentation.RawTraces", "cell_segmentation__raw_traces"),
    ("UnitCount.Unit", "unit_count__unit"),
    ("TwoPhoton", "two_photon"),
    ("DatasetEvents.AnalogChannel", "dataset_events__analog_channel"),
])
def test_sql_names(name, sql_name):
    assert registry.get(name)._sql_name == sql_name
    assert registry.schema(name).sql_name == sql_name


def test_sql_names_are_unique():
    names = [registry.schema(name).sql_name for name in EXPECTED]
    assert len(names) == len(set(names))


# ---- import has no side effects --------------------------------------------------------

def test_import_reads_no_configuration(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LABDATA")}
    env.update(HOME=str(home), USERPROFILE=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               PYTHONPATH=str(Path(labdata.schema.__file__).parents[2]))
    code = "import labdata.schema as s; assert len(s.registry) == 88"
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert list(home.iterdir()) == []
