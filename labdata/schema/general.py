"""General tables: people, projects, files, subjects, sessions, datasets and queues.

The module mirrors the original ``labdata/schema/general.py``. It declares

* the lab-wide tables (``@lab``): :class:`LabMember`, :class:`Project`,
  :class:`File`, :class:`AnalysisFile`, :class:`ProcessedFile`,
  :class:`Species`, :class:`Strain`, :class:`SetupLocation`, :class:`Setup`
  and the upload queue :class:`UploadJob`;
* the project data tables (``@data``): :class:`Subject`, :class:`Note`,
  :class:`Session`, :class:`DatasetType`, :class:`Dataset` and
  :class:`DatasetEvents`;
* the project computed tables (``@computed``): :class:`StreamSync` and the
  analysis queue :class:`ComputeTask`.

Names, keys, types, defaults and nullability are those of the original
system (labdata 0.1.25).
"""

from __future__ import annotations

from typing import ClassVar

from labdata.catalog import Imported, Lookup, Manual, Part
from labdata.schema._registry import computed, data, lab
from labdata.schema.files import AnalysisFileMethods, FileMethods
from labdata.schema.sync import DigitalMethods, StreamSyncMethods

__all__ = [
    "DEFAULT_ANALYSIS_STORAGE",
    "DEFAULT_RAW_STORAGE",
    "AnalysisFile",
    "ComputeTask",
    "Dataset",
    "DatasetEvents",
    "DatasetType",
    "File",
    "LabMember",
    "Note",
    "ProcessedFile",
    "Project",
    "Session",
    "Setup",
    "SetupLocation",
    "Species",
    "Strain",
    "StreamSync",
    "Subject",
    "UploadJob",
]

DEFAULT_RAW_STORAGE = "data"
"""Storage name of raw files (a key of the ``storage`` preferences)."""
DEFAULT_ANALYSIS_STORAGE = "analysis"
"""Storage name of analysis outputs (a key of the ``storage`` preferences)."""


# ---- lab-wide schema -------------------------------------------------------------------

@lab
class LabMember(Manual):
    """Lab personnel, past and present."""

    definition = """
    # lab personnel
    user_name : varchar(32)                 # username
    ---
    email = NULL : varchar(128)             # email address
    first_name = NULL : varchar(32)
    last_name = NULL : varchar(32)
    date_joined : date                      # when the member joined the lab
    is_active = 1 : boolean                 # active or left the lab
    """


@lab
class Project(Manual):
    """Registry of projects; each project has its own data and computed schemas."""

    definition = """
    # a project with its own data and computed schemas
    project_name : varchar(32)
    ---
    project_description : varchar(500)
    project_startdate = NULL : date
    project_enddate = NULL : date
    -> LabMember.proj(project_contact='user_name')
    """

    class User(Part):
        """Members of a project."""

        definition = """
        -> master
        -> LabMember
        """


@lab
class File(FileMethods, Manual):
    """Registry of every raw file kept in a storage."""

    storage: ClassVar[str] = DEFAULT_RAW_STORAGE
    definition = """
    # a raw file in a storage
    file_path : varchar(300)                # path relative to the storage root (forward slashes)
    storage = "data" : varchar(12)          # storage name
    ---
    file_datetime : datetime                # creation time of the source file
    file_size : double                      # bytes (double because there is no int64)
    file_md5 = NULL : varchar(32)           # md5 checksum
    """


@lab
class AnalysisFile(AnalysisFileMethods, Manual):
    """Registry of analysis outputs kept in the analysis storage (same columns as File)."""

    storage: ClassVar[str] = DEFAULT_ANALYSIS_STORAGE
    definition = """
    # an analysis output in the analysis storage
    file_path : varchar(300)                # [<project>/]<subject>/<session>/<dataset>/<basename>
    storage = "analysis" : varchar(12)      # storage name
    ---
    file_datetime : datetime                # modification time (UTC) of the uploaded file
    file_size : double                      # bytes (double because there is no int64)
    file_md5 = NULL : varchar(32)           # md5 checksum
    """


@lab
class ProcessedFile(Manual):
    """Checksums of source files that an upload rule transformed and did not upload."""

    definition = """
    # a source file replaced by the output of an upload rule
    file_path : varchar(300)                # path of the processed source file (not in a storage)
    ---
    file_datetime : datetime                # creation time
    file_size : double                      # bytes
    file_md5 = NULL : varchar(32)           # md5 checksum
    """


@lab
class Species(Lookup):
    """Species of experimental animals."""

    definition = """
    species_name : varchar(32)              # species nickname
    ---
    species_scientific_name : varchar(56)
    species_description = NULL : varchar(256)
    """


@lab
class Strain(Lookup):
    """Strains of a species."""

    definition = """
    strain_name : varchar(56)
    ---
    -> Species
    strain_description = NULL : varchar(256)
    """


@lab
class SetupLocation(Lookup):
    """Rooms that hold experimental setups."""

    definition = """
    setup_location : varchar(255)           # room
    """
    contents: ClassVar[list[tuple[str]]] = [("CHS-74100",)]


@lab
class Setup(Lookup):
    """Experimental rigs."""

    definition = """
    setup_name : varchar(54)
    ---
    -> [nullable] SetupLocation
    setup_description = NULL : varchar(512)
    """


@lab
class UploadJob(Manual):
    """Lab-wide queue of uploads waiting for the upload server."""

    definition = """
    # an upload waiting to be processed
    job_id : int auto_increment
    ---
    job_waiting = 1 : tinyint               # 1 if the job is up for grabs
    job_status = NULL : varchar(52)
    job_host = NULL : varchar(52)           # upload server that should run or ran the job
    job_rule = NULL : varchar(52)           # upload rule
    job_log = NULL : varchar(500)
    job_starttime = NULL : datetime
    job_endtime = NULL : datetime
    subject_name = NULL : varchar(20)       # plain column, not a reference
    session_name = NULL : varchar(54)       # plain column, not a reference
    dataset_name = NULL : varchar(128)      # plain column, not a reference
    upload_storage = NULL : varchar(12)     # storage to upload to
    -> [nullable] Project
    """

    class AssignedFiles(Part):
        """Source files of an upload job."""

        definition = """
        -> master
        src_path : varchar(300)             # path relative to the first local path
        ---
        src_datetime : datetime             # creation time
        src_size : double                   # bytes
        src_md5 = NULL : varchar(32)        # md5 checksum
        """


# ---- project data schema ---------------------------------------------------------------

@data
class Subject(Manual):
    """Experimental animals."""

    definition = """
    # an experimental animal
    subject_name : varchar(20)              # unique animal id
    ---
    subject_dob : date                      # date of birth
    subject_sex : enum('M','F','U')         # male, female or unknown
    -> Strain
    -> LabMember                            # responsible member
    """


@data
class Note(Manual):
    """Free-text notes attachable to datasets, procedures and deaths."""

    definition = """
    -> LabMember.proj(notetaker='user_name')
    note_datetime : datetime
    ---
    notes = '' : varchar(4000)              # free-text notes
    """

    class Image(Part):
        """Images attached to a note."""

        definition = """
        -> master
        image_id : int
        ---
        image : longblob
        caption = NULL : varchar(256)
        """

    class Attachment(Part):
        """Files attached to a note."""

        definition = """
        -> master
        -> File
        ---
        caption = NULL : varchar(256)
        """


@data
class Session(Manual):
    """Experimental sessions of a subject."""

    definition = """
    -> Subject
    session_name : varchar(54)              # typically YYYYMMDD_HHMMSS
    ---
    session_datetime : datetime
    -> [nullable] LabMember.proj(experimenter='user_name')
    """


@data
class DatasetType(Lookup):
    """Kinds of datasets (modalities)."""

    definition = """
    dataset_type : varchar(32)
    """
    contents: ClassVar[list[tuple[str]]] = [
        ("task-training",), ("task-behavior",), ("passive-spontaneous",),
        ("passive-stimulation",), ("free-behavior",), ("imaging-2p",),
        ("imaging-widefield",), ("imaging-miniscope",), ("ephys",),
        ("opto-inactivation",), ("opto-activation",), ("analysis",),
    ]


@data
class Dataset(Manual):
    """One modality or acquisition within a session."""

    definition = """
    -> Subject
    -> Session
    dataset_name : varchar(128)
    ---
    -> [nullable] DatasetType
    -> [nullable] Setup
    -> [nullable] Note
    """

    class DataFiles(Part):
        """The raw files of a dataset."""

        definition = """
        -> master
        -> File
        """


@data
class DatasetEvents(Imported):
    """One acquisition stream (clock) of a dataset."""

    definition = """
    -> Dataset
    stream_name : varchar(54)               # e.g. nidq, obx, imec0, bpod
    ---
    stream_time = NULL : longblob           # time base, e.g. for analog channels
    """

    class Digital(DigitalMethods, Part):
        """Digital events of a stream, in the stream's own clock."""

        definition = """
        -> master
        event_name : varchar(54)
        ---
        event_timestamps = NULL : longblob  # in the stream's clock (s, samples or ms)
        event_values = NULL : longblob      # value or edge (1 onset, 0 offset)
        """

    class AnalogChannel(Part):
        """Analog channels of a stream."""

        definition = """
        -> master
        channel_name : varchar(54)
        ---
        channel_values = NULL : longblob
        """


# ---- project computed schema -----------------------------------------------------------

@computed
class StreamSync(StreamSyncMethods, Manual):
    """A sync pulse on one stream matched to the same pulse on a clock stream."""

    definition = """
    # maps the timestamps of a stream onto the clock of another stream of the same session
    -> Dataset
    -> DatasetEvents.Digital
    -> DatasetEvents.Digital.proj(clock_stream='stream_name', clock_stream_event='event_name', clock_dataset='dataset_name')
    """  # noqa: E501 - a dependency is one line of the definition


@computed
class ComputeTask(Manual):
    """Per-project queue of analysis jobs."""

    definition = """
    # an analysis job
    job_id : int auto_increment
    ---
    task_waiting = 1 : tinyint              # 1 if the task is up for grabs
    task_name = NULL : varchar(52)          # analysis name, e.g. spks
    task_status = NULL : varchar(52)
    task_target = NULL : varchar(52)        # local, slurm, <remote>@<queue>, ec2-small, ...
    task_host = NULL : varchar(52)          # <host>@<slurm id>, <host>@pid<pid>, instance id
    task_cmd = NULL : varchar(2000)         # the normalized run command
    task_parameters = NULL : varchar(2000)  # JSON of the analysis parameters
    task_log = NULL : varchar(2000)
    task_starttime = NULL : datetime
    task_endtime = NULL : datetime
    -> [nullable] Dataset
    """

    class AssignedFiles(Part):
        """Files a task works on."""

        definition = """
        -> master
        -> File
        """
