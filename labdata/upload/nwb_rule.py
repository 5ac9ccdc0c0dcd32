"""The ``nwb`` upload rule: an existing NWB file stored as it is, with what it holds registered.

On the rig, ``labdata put -r nwb FILE.nwb`` reads the file (a file pynwb cannot open is refused there,
nothing copied or registered): subject and session names come from it unless ``-a``/``-s`` give them
(the dataset is ``nwb`` unless ``-d``), and so do a new subject's fields and the session's start and
experimenter (see :mod:`labdata.schema.nwb_subjects`).

On the upload server, ``apply`` reads the job's ``.nwb`` file again (one per job; an unreadable one fails
the job with pynwb's reason and nothing is registered) and uploads every file as it is; ``register``
inserts the rows of :func:`labdata.schema.nwb_import.register_nwb` in the transaction that registers the
files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from labdata.catalog.engine.context import current_context
from labdata.converters.nwb.reader import NwbContents, read_nwb
from labdata.core.errors import UploadError
from labdata.schema.general import Session
from labdata.schema.nwb_import import register_nwb
from labdata.schema.nwb_subjects import DEFAULT_DATASET, new_subject, session_row
from labdata.upload.rules import RuleOutput, SourceFile, UploadRule
from labdata.upload.server import storage_of

__all__ = ["NwbRule"]


class NwbRule(UploadRule):
    """One NWB file per job: uploaded as it is; subject, session, electrodes, units and events registered."""

    name: ClassVar[str] = "nwb"

    def __init__(self) -> None:
        self._contents: NwbContents | None = None
        self._file: SourceFile | None = None
        self._storage = ""

    def _read(self, files: Mapping[str, Path]) -> NwbContents:
        nwb = [path for path in files if path.lower().endswith(".nwb")]
        if len(nwb) != 1:
            raise UploadError(f"The nwb rule takes one .nwb file per put; these files hold {len(nwb)}.",
                              hint="Put each NWB file on its own (labdata put -r nwb FILE.nwb).")
        if self._contents is None:
            self._contents = read_nwb(files[nwb[0]])
        return self._contents

    def names_from(self, files: Mapping[str, Path]) -> dict[str, str]:
        """The subject and session the file names (its id, else its start), and the dataset ``nwb``."""
        contents = self._read(files)
        names = {"dataset_name": DEFAULT_DATASET,
                 "session_name": contents.session_id or contents.session_start_time.strftime("%Y%m%d_%H%M%S")}
        if contents.subject is not None and contents.subject.subject_id:
            names["subject_name"] = contents.subject.subject_id
        return names

    def parent_rows_from(self, files: Mapping[str, Path], dataset: Mapping[str, str],
                         new_subject_fields: Mapping[str, Any] | None) -> dict[str, dict[str, Any] | None]:
        """The Subject and Session rows the file gives (None where the lake has them).

        The species, strain and lab members they name are added now, in their own transaction.
        """
        contents = self._read(files)

        def rows() -> dict[str, dict[str, Any] | None]:
            session = {"subject_name": dataset["subject_name"], "session_name": dataset["session_name"]}
            return {"subject": new_subject(dataset["subject_name"], contents, new_subject_fields),
                    "session": None if Session & session else session_row(contents, dataset)}

        return current_context().lake.run(rows)

    def apply(self, job: Mapping[str, Any], sources: list[SourceFile],
              progress: Callable[[str], None]) -> RuleOutput:
        """Read the job's NWB file (an unreadable one fails the job) and upload every file as it is."""
        self._read({source.path: source.local for source in sources})
        self._file = next(s for s in sources if s.path.lower().endswith(".nwb"))
        self._storage = storage_of(dict(job))
        return RuleOutput(upload=list(sources))

    def register(self, job: Mapping[str, Any], dataset: Mapping[str, str] | None,
                 uploaded: list[SourceFile]) -> None:
        """Insert the file's rows (inside the transaction that registers the files)."""
        if dataset is None or self._contents is None or self._file is None:
            raise UploadError("The nwb rule needs a dataset and its NWB file.",
                              hint="Put the file again with labdata put -r nwb FILE.nwb.")
        register_nwb(dataset, self._contents, {"file_path": self._file.path, "storage": self._storage})
