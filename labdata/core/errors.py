"""The one exception hierarchy of labdata.

Every error labdata raises derives from :class:`LabdataError`. Each carries a
``hint``: the next step for the user, printed by the CLI on its own line.
Where a builtin fits, the error inherits it too, so generic handlers still work.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AccessDeniedError",
    "AccountError",
    "CatalogError",
    "ChecksumMismatchError",
    "ConfigError",
    "DataError",
    "DefinitionError",
    "DuplicateError",
    "ExtensionMissingError",
    "FilesArchivedError",
    "IntegrityError",
    "LabdataError",
    "LabdataWarning",
    "MissingAttributeError",
    "MissingParentError",
    "NotAllowedError",
    "QueryError",
    "SQLWriteError",
    "SecretError",
    "StorageAccessError",
    "StorageError",
    "StorageUnavailableError",
    "TransactionConflictError",
    "UnknownAttributeError",
    "UnknownProjectError",
    "UnknownTableError",
    "ValueTooLongError",
    "WrongTypeError",
    "UploadError",
    "UnknownRuleError",
    "FileConflictError",
    "RecordingFormatError",
    "SortingFormatError",
    "SyncError",
    "ComputeError",
    "UnknownAnalysisError",
    "AnalysisOptionError",
    "UnknownTargetError",
    "NothingToRunError",
    "AlreadySubmittedError",
    "TaskStateError",
    "ContainerError",
    "did_you_mean",
]


class LabdataError(Exception):
    """Base class of every error labdata raises.

    Parameters
    ----------
    message : str
        What failed, with the offending value.
    hint : str, optional
        The next step for the user.
    """

    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        text = super().__str__()
        return f"{text}\nhint: {self.hint}" if self.hint else text


class LabdataWarning(UserWarning):
    """Base class of labdata warnings."""


class ConfigError(LabdataError, ValueError):
    """The preference file or an environment variable is malformed."""


class SecretError(ConfigError):
    """A stored secret cannot be decrypted (wrong or missing key file)."""


class CatalogError(LabdataError):
    """The catalog cannot be opened, attached or written."""


class ExtensionMissingError(CatalogError, ImportError):
    """A DuckDB extension wheel is not installed."""


class TransactionConflictError(CatalogError):
    """A write kept conflicting with concurrent writers after every retry."""

    default_hint = "Another process is writing heavily; try again, or raise `max_retries`."


class UnknownTableError(CatalogError, LookupError):
    """A table name does not exist in the declarations."""


class UnknownProjectError(CatalogError, LookupError):
    """A read names a project the lake does not have (reads never create one)."""


class DefinitionError(CatalogError, ValueError):
    """A table's definition differs from the table the catalog holds."""


class DataError(LabdataError, ValueError):
    """Rows given to insert or update do not fit the table."""


class UnknownAttributeError(DataError):
    """A row names an attribute the table does not have."""


class MissingAttributeError(DataError):
    """A row lacks a required attribute."""


class WrongTypeError(DataError, TypeError):
    """A value cannot be converted to its attribute's type."""


class ValueTooLongError(DataError):
    """A string is longer than its varchar attribute allows."""


class IntegrityError(DataError):
    """A write would break a key or a reference."""


class DuplicateError(IntegrityError):
    """A primary key already exists."""

    default_hint = "Pass skip_duplicates=True to keep the existing rows, or replace=True to overwrite them."


class MissingParentError(IntegrityError):
    """A foreign key points to a parent row that does not exist."""


class NotAllowedError(LabdataError, PermissionError):
    """The operation is not allowed on this table (e.g. a direct insert into a computed table)."""


class SQLWriteError(NotAllowedError):
    """Plain SQL would change rows or the connection: rows change through the Python API only."""


class QueryError(LabdataError, ValueError):
    """A query or restriction is malformed."""


class StorageError(LabdataError):
    """A storage (S3 bucket or local folder) could not do what was asked."""


class StorageAccessError(StorageError, PermissionError):
    """The storage refused the credentials or the operation."""


class StorageUnavailableError(StorageError, ConnectionError):
    """The storage endpoint cannot be reached."""


class ChecksumMismatchError(StorageError):
    """Bytes read back differ from the MD5 checksum recorded for them."""


class FilesArchivedError(StorageError):
    """Objects are in an archive tier (GLACIER, DEEP_ARCHIVE) and must be restored before reading.

    Parameters
    ----------
    message : str
        What is archived.
    status : dict
        Per path: ``"archived"``, ``"restoring"`` or ``"available"``.
    requested : list of str
        Paths whose restore this call requested.
    """

    def __init__(self, message: str, *, status: dict[str, str], requested: list[str],
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status, self.requested = status, requested


class UploadError(LabdataError):
    """A ``labdata put`` or ``labdata upload`` cannot go on (bad paths, rules, missing settings)."""


class UnknownRuleError(UploadError, LookupError):
    """No upload rule has this name."""


class FileConflictError(IntegrityError):
    """A path is already registered (or queued) with other content."""


class RecordingFormatError(DataError):
    """A file written by acquisition software is malformed, truncated or disagrees with its metadata."""


class SortingFormatError(DataError):
    """A spike sorter's output folder lacks a file, holds a corrupt one, or its files disagree (with each other
    or with the probe they are imported for)."""


class SyncError(DataError):
    """Two streams' sync pulses cannot be matched (missing events, counts that disagree)."""


class ComputeError(LabdataError):
    """An analysis cannot be queued or run (unknown analysis or target, bad options, a task in the wrong state)."""


class UnknownAnalysisError(ComputeError, LookupError):
    """No analysis has this name (built-in or in the ``compute.analysis`` preference)."""


class AnalysisOptionError(ComputeError, ValueError):
    """An analysis option is unknown, missing or of the wrong type."""


class UnknownTargetError(ComputeError, LookupError):
    """The compute target is not one labdata knows, or its scheduler is not reachable from here."""


class NothingToRunError(ComputeError):
    """The selection holds no dataset (or probe) the analysis works on."""


class AlreadySubmittedError(ComputeError):
    """Tasks with the same command and parameters are queued or done already."""


class TaskStateError(ComputeError):
    """A task is not in a state that allows this (taken by another worker, finished, unknown id)."""


class ContainerError(ComputeError):
    """A container cannot be built or run (no runtime, no definition file, a failed build, a missing image)."""


class AccountError(LabdataError):
    """A facade account cannot be created or changed (a bad or reserved name, an unknown account or project)."""


class AccessDeniedError(NotAllowedError):
    """The account has no grant for this statement on this database (the facade's MySQL error 1142 / 1044)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" suffix for the closest candidate, or "".

    Examples
    --------
    >>> did_you_mean("subjet_name", ["subject_name", "session_name"])
    " Did you mean 'subject_name'?"
    """
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
