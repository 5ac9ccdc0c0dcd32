"""labdata's documented tables, under the seeds' import path ``labdata.schema``.

``from labdata.schema import *`` gives every table class of the original
system, declared in modules that mirror the original ones (imported in this
order): :mod:`~labdata.schema.general`, :mod:`~labdata.schema.procedures`,
:mod:`~labdata.schema.ephys`, :mod:`~labdata.schema.twophoton`,
:mod:`~labdata.schema.onephoton`, :mod:`~labdata.schema.tasks`,
:mod:`~labdata.schema.video` and :mod:`~labdata.schema.histology`; plus
``registry``, the :class:`~labdata.catalog.declare.registry.TableRegistry` that holds
them all.

Importing this package reads no configuration and opens no catalog: which
lake and project a table uses is decided when it is used.
"""

from __future__ import annotations

from labdata.schema._registry import registry
from labdata.schema import dj
from labdata.schema.projects import load_project_schema
from labdata.schema.general import (
    DEFAULT_ANALYSIS_STORAGE,
    DEFAULT_RAW_STORAGE,
    AnalysisFile,
    ComputeTask,
    Dataset,
    DatasetEvents,
    DatasetType,
    File,
    LabMember,
    Note,
    ProcessedFile,
    Project,
    Session,
    Setup,
    SetupLocation,
    Species,
    Strain,
    StreamSync,
    Subject,
    UploadJob,
)
from labdata.schema.procedures import (
    Death,
    Procedure,
    ProcedureType,
    WaterRestriction,
    Watering,
    Weighing,
)
from labdata.schema.ephys import (
    EphysRecording,
    EphysRecordingNoiseStats,
    Probe,
    ProbeBrainRegion,
    ProbeConfiguration,
    ProbeExtraction,
    ProbeInsertion,
    SpikeSorting,
    SpikeSortingParams,
    UnitCount,
    UnitCountCriteria,
    UnitMetrics,
)
from labdata.schema.twophoton import (
    CellSegmentation,
    CellSegmentationMetrics,
    CellSegmentationParams,
    TwoPhoton,
)
from labdata.schema.onephoton import Miniscope, Widefield
from labdata.schema.tasks import DecisionTask
from labdata.schema.video import (
    DatasetVideo,
    PoseEstimation,
    PoseEstimationLabelSet,
    PoseEstimationModel,
)
from labdata.schema.histology import (
    Atlas,
    FixedBrain,
    FixedBrainTransform,
    FixedBrainTransformAnnotation,
    FixedBrainTransformParameters,
)

__all__ = [
    # general.py: lab-wide
    "LabMember",
    "Project",
    "File",
    "AnalysisFile",
    "ProcessedFile",
    "Species",
    "Strain",
    "SetupLocation",
    "Setup",
    "UploadJob",
    # general.py: project data and computed
    "Subject",
    "Note",
    "Session",
    "DatasetType",
    "Dataset",
    "DatasetEvents",
    "StreamSync",
    "ComputeTask",
    # procedures.py
    "Weighing",
    "ProcedureType",
    "Procedure",
    "Watering",
    "WaterRestriction",
    "Death",
    # ephys.py
    "Probe",
    "ProbeInsertion",
    "ProbeExtraction",
    "ProbeConfiguration",
    "EphysRecording",
    "EphysRecordingNoiseStats",
    "SpikeSortingParams",
    "SpikeSorting",
    "UnitMetrics",
    "UnitCountCriteria",
    "UnitCount",
    "ProbeBrainRegion",
    # twophoton.py
    "TwoPhoton",
    "CellSegmentationParams",
    "CellSegmentation",
    "CellSegmentationMetrics",
    # onephoton.py
    "Widefield",
    "Miniscope",
    # tasks.py
    "DecisionTask",
    # video.py
    "DatasetVideo",
    "PoseEstimationLabelSet",
    "PoseEstimationModel",
    "PoseEstimation",
    # histology.py
    "Atlas",
    "FixedBrain",
    "FixedBrainTransformParameters",
    "FixedBrainTransform",
    "FixedBrainTransformAnnotation",
    # constants and the registry
    "DEFAULT_RAW_STORAGE",
    "DEFAULT_ANALYSIS_STORAGE",
    "registry",
    "load_project_schema",
    "dj",
]
