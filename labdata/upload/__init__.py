"""From the rig to the lake: ``labdata put`` (rig side) and ``labdata upload`` (upload server side).

:func:`put` copies a recording to the upload server and queues an UploadJob;
:func:`process_upload_jobs` claims queued jobs, applies their upload rule, stores
the files and registers them. Rules are looked up with :func:`rule_for`.
"""

from labdata.upload.jobs import reset_failed
from labdata.upload.put import PutResult, put
from labdata.upload.rules import RuleOutput, SourceFile, UploadRule, rule_for, rule_names
from labdata.upload.server import JobOutcome, process_upload_jobs

__all__ = ["JobOutcome", "PutResult", "RuleOutput", "SourceFile", "UploadRule", "process_upload_jobs", "put",
           "reset_failed", "rule_for", "rule_names"]
