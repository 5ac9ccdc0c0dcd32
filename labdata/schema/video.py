"""Video and pose estimation: videos of datasets, label sets, models and estimated poses.

The module mirrors the original ``labdata/schema/video.py``.
:class:`DatasetVideo` lives in the project data schema (``@data``); the pose
estimation tables in the project computed schema (``@computed``).
"""

from __future__ import annotations

from typing import ClassVar

from labdata.catalog.tables.table import Manual, Part
from labdata.schema._registry import computed, data

__all__ = ["DatasetVideo", "PoseEstimation", "PoseEstimationLabelSet", "PoseEstimationModel"]


@data
class DatasetVideo(Manual):
    """A video of a dataset (inserted by plugins)."""

    formats: ClassVar[tuple[str, ...]] = (
        ".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm", ".mpg", ".mpeg", ".wmv",
    )
    definition = """
    -> Dataset
    video_name : varchar(56)                # e.g. side_cam
    ---
    frame_times = NULL : longblob
    frame_rate = NULL : float
    n_frames = NULL : float
    """

    class File(Part):
        """The video files."""

        definition = """
        -> master
        -> File
        """

    class Frame(Part):
        """Frames of a video kept in the catalog."""

        definition = """
        -> master
        frame_num : int
        ---
        frame : longblob
        """


@computed
class PoseEstimationLabelSet(Manual):
    """A set of hand-labelled video frames to train pose estimation models."""

    definition = """
    pose_label_set_num : int
    ---
    description = NULL : varchar(512)
    -> [nullable] LabMember.proj(labeler='user_name')
    """

    class Frame(Part):
        """A labelled frame."""

        definition = """
        -> master
        -> DatasetVideo
        frame_num : int
        ---
        frame : longblob
        """

    class Label(Part):
        """A keypoint placed on a labelled frame."""

        definition = """
        -> master
        -> DatasetVideo
        frame_num : int
        label_name : varchar(54)
        ---
        x : float
        y : float
        z = NULL : float
        """


@computed
class PoseEstimationModel(Manual):
    """A trained pose estimation model (the zipped model folder is an AnalysisFile)."""

    definition = """
    model_num : int
    ---
    algorithm_name : varchar(24)
    -> [nullable] AnalysisFile              # zipped model folder
    -> [nullable] PoseEstimationLabelSet
    parameters_dict = NULL : varchar(2000)
    training_datetime = NULL : datetime
    container_name = NULL : varchar(64)
    code_link = NULL : varchar(300)
    """


@computed
class PoseEstimation(Manual):
    """Keypoint positions of one label in every frame of a video, estimated by a model."""

    definition = """
    -> PoseEstimationModel
    -> DatasetVideo
    label_name : varchar(54)
    ---
    x : longblob
    y : longblob
    z = NULL : longblob
    likelihood = NULL : longblob            # one value per video frame
    """
